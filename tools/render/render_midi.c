/* hiss-render --midi: a synth model played from a Standard MIDI File, offline, through the same
 * code as hiss-host --midi-file (the synth of hiss_synth.h, the events given at their samples by
 * tools/midi's player), so a file renders the same live and offline.
 *
 * Length: the file's end (its last end-of-track, as a sample: llround(duration * rate)), then
 * sample by sample until every event has been played and no voice sounds, or --tail seconds
 * past the end, whichever comes first. A voice is freed by the synth's own rule (silent for
 * 50 ms, or --release-max after its release), so the output stops on the sample a tail ends. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audiofile.h"
#include "hiss_synth.h"
#include "midifile.h"
#include "midiplay.h"
#include "progress.h"
#include "render.h"

enum { BLOCK = 4096 };

typedef struct midi_job {
    hiss_synth_model *model;
    hiss_synth *synth;
    hiss_midi_file mf;
    hiss_midi_player player;
    hiss_af_writer out;
    int out_open;
    float *buf;
} midi_job;

static void job_free(midi_job *j)
{
    if (j->out_open)
        hiss_af_writer_abort(&j->out);
    hiss_synth_free(j->synth);
    hiss_synth_model_free(j->model);
    hiss_midi_player_free(&j->player);
    hiss_midi_free(&j->mf);
    free(j->buf);
    memset(j, 0, sizeof *j);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(midi_job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", RENDER_PROG);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    job_free(j);
    return EXIT_RUNTIME;
}

/* Write buf[0..n) with the output gain; 0 or -1. */
static int put(midi_job *j, int n, float gain)
{
    if (gain != 1.0f)
        for (int i = 0; i < n; i++)
            j->buf[i] *= gain;
    return sf_writef_float(j->out.sf, j->buf, n) == n ? 0 : -1;
}

int render_midi(const render_opts *o, const volatile sig_atomic_t *stop)
{
    midi_job j;
    memset(&j, 0, sizeof j);
    char msg[1024];
    if (hiss_af_same_file(o->midi_path, o->out_path)) {
        fprintf(stderr, "%s: %s and %s are the same file; refusing to overwrite the input\n", RENDER_PROG,
                o->midi_path, o->out_path);
        return EXIT_USAGE;
    }

    hiss_error err = {0};
    hiss_io io = HISS_IO_FX;
    if (hiss_synth_file_io(o->model_path, &io, &err) != HISS_OK)
        return fail(&j, "%s", err.msg);
    if (io != HISS_IO_SYNTH)
        return fail(&j, "%s is an effect model (\"hiss.io\": \"fx\"), not a synth: --midi plays synth models; run "
                    "an effect model over audio with hiss-render -m %s IN OUT", o->model_path, o->model_path);
    if (o->backend == HISS_BACKEND_CUDA && !hiss_backend_available(HISS_BACKEND_CUDA))
        return fail(&j, "%s", RENDER_NO_CUDA);
    /* auto means cpu here, unlike for effect models: the GPU's logits differ from the CPU's by
     * float rounding, and one draw that falls the other way changes the rest of the note, so a
     * seed and a file give one render on every machine only on the CPU (docs/synth.md). */
    const hiss_backend backend = o->backend == HISS_BACKEND_CUDA ? HISS_BACKEND_CUDA : HISS_BACKEND_CPU;
    if (hiss_synth_model_load(o->model_path, &j.model, &err) != HISS_OK)
        return fail(&j, "%s", err.msg);
    const double rate = hiss_synth_model_config(j.model)->sample_rate;
    if (rate != floor(rate) || rate < 1.0 || rate > 1e7)
        return fail(&j, "%s: sample rate %g Hz is not a whole number of Hz, which audio files need", o->model_path,
                    rate);

    if (hiss_midi_load(o->midi_path, &j.mf, msg, sizeof msg) != 0)
        return fail(&j, "%s", msg);

    hiss_synth_opts so = hiss_synth_opts_default();
    so.n_voices = (int)o->voices;
    /* no --temperature: the one the model was made to be played at */
    so.temperature = o->temperature < 0 ? hiss_synth_model_temperature(j.model) : (float)o->temperature;
    so.top_p = (float)o->top_p;
    so.seed = (uint64_t)o->seed;
    so.release_max_s = (float)o->release_max_s;
    so.backend = backend;
    if (hiss_synth_create(j.model, &so, &j.synth, &err) != HISS_OK)
        return fail(&j, "%s", err.msg);
    if (hiss_midi_player_init(&j.player, &j.mf, rate, msg, sizeof msg) != 0)
        return fail(&j, "%s: %s", o->midi_path, msg);
    j.buf = malloc(BLOCK * sizeof(float));
    if (!j.buf)
        return fail(&j, "out of memory");

    const int major = hiss_af_major_for_path(o->out_path);
    int format = 0;
    if (hiss_af_pick_format(major, o->format, 0, 1, (int)rate, &format, msg, sizeof msg) != 0) {
        fprintf(stderr, "%s: %s: %s\n", RENDER_PROG, o->out_path, msg);
        job_free(&j);
        return o->format ? EXIT_USAGE : EXIT_RUNTIME;
    }
    SF_INFO info = {0};
    info.samplerate = (int)rate;
    info.channels = 1;
    info.format = format;
    if (hiss_af_writer_open(&j.out, o->out_path, &info, msg, sizeof msg) != 0)
        return fail(&j, "%s", msg);
    j.out_open = 1;
    /* No PEAK chunk: it carries the time of writing, and a render is to be reproducible to the byte. */
    sf_command(j.out.sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    const int sub = format & SF_FORMAT_SUBMASK;
    if (sub != SF_FORMAT_FLOAT && sub != SF_FORMAT_DOUBLE)
        sf_command(j.out.sf, SFC_SET_CLIPPING, NULL, SF_TRUE);

    const float gain = (float)pow(10.0, o->gain_out_db / 20.0);
    const uint64_t end = j.player.end;
    const uint64_t tail_max = (uint64_t)llround(o->tail_s * rate);
    hiss_progress bar;
    hiss_progress_start(&bar, (int64_t)end, rate, isatty(STDERR_FILENO) && !o->quiet);
    uint64_t done = 0;
    int werr = 0;
    hiss_fpguard fpg = hiss_fp_enter();
    /* The file, in blocks (the player cuts them at the events). */
    while (done < end && !*stop && !werr) {
        const int n = end - done < BLOCK ? (int)(end - done) : BLOCK;
        hiss_midi_player_process(&j.player, j.synth, j.buf, n);
        werr = put(&j, n, gain);
        done += (uint64_t)n;
        hiss_progress_update(&bar, (int64_t)done);
    }
    /* The tail, one sample at a time so that it ends on the sample the last voice is freed. */
    uint64_t tail = 0;
    int fill = 0;
    while (!werr && !*stop && tail < tail_max &&
           !(hiss_midi_player_done(&j.player) && hiss_synth_active_voices(j.synth) == 0)) {
        hiss_midi_player_process(&j.player, j.synth, j.buf + fill, 1);
        tail++;
        if (++fill == BLOCK) {
            werr = put(&j, fill, gain);
            fill = 0;
        }
    }
    if (!werr && fill)
        werr = put(&j, fill, gain);
    hiss_fp_leave(fpg);
    hiss_progress_end(&bar);
    if (werr)
        return fail(&j, "%s: write error: %s", o->out_path, sf_strerror(j.out.sf));
    if (*stop) {
        fprintf(stderr, "%s: interrupted by signal %d; %s not written\n", RENDER_PROG, (int)*stop, o->out_path);
        const int sig = (int)*stop;
        job_free(&j);
        return 128 + sig;
    }
    if (hiss_af_writer_commit(&j.out, msg, sizeof msg) != 0) {
        j.out_open = 0;
        return fail(&j, "%s", msg);
    }
    j.out_open = 0;
    const double elapsed = hiss_now() - bar.t0;
    if (!o->quiet) {
        const uint64_t total = done + tail;
        const double secs = (double)total / rate;
        const hiss_synth_counters c = hiss_synth_get_counters(j.synth);
        const int left = hiss_synth_active_voices(j.synth);
        char why[128];
        if (left)
            snprintf(why, sizeof why, "tail cut at %g s with %d voice%s sounding", o->tail_s, left,
                     left == 1 ? "" : "s");
        else
            snprintf(why, sizeof why, "tail %.3f s", (double)tail / rate);
        fprintf(stderr,
                "%s: %s -> %s: %llu frames (%.3f s: file %.3f s, %s) at %g Hz in %.3f s, RTF %.1fx; MIDI format %d, "
                "%d track%s, %zu events, %d tempo change%s; %llu notes, %llu steals, %d voices, seed %ld, "
                "temperature %g, top-p %g, %s backend\n",
                RENDER_PROG, o->midi_path, o->out_path, (unsigned long long)total, secs, (double)end / rate, why,
                rate, elapsed, elapsed > 0 ? secs / elapsed : 0.0, j.mf.format, j.mf.n_tracks,
                j.mf.n_tracks == 1 ? "" : "s", j.mf.n_events, j.mf.n_tempo_changes,
                j.mf.n_tempo_changes == 1 ? "" : "s", (unsigned long long)c.notes, (unsigned long long)c.steals,
                (int)o->voices, o->seed, (double)so.temperature, o->top_p, hiss_backend_name(backend));
    }
    job_free(&j);
    return 0;
}
