/* hiss-host: play a hiss model live. An fx model processes the audio input; a synth model is
 * played from MIDI (a port of the system, a virtual port, or a MIDI file played through the same
 * live path). Audio through PortAudio, MIDI through RtMidi, --record through a writer thread.
 *
 * Threads: the audio callback (dsp.c) never waits on the others; MIDI arrives through a lock-free
 * ring, recorded audio leaves through another. Ctrl-C (SIGINT, SIGTERM) is received by the main
 * thread with sigtimedwait, which also paces the status line: no signal handler, no global flag. */
#include <math.h>
#include <pa_jack.h>
#include <portaudio.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsp.h"
#include "hiss.h"
#include "hiss_synth.h"
#include "midi_in.h"
#include "midiplay.h"
#include "opts.h"
#include "recorder.h"

typedef struct host_opts {
    const char *model, *device, *input_device, *record, *midi_api, *midi_port, *midi_virtual, *midi_file;
    const char *server;
    double rate, duration, gain_db, temperature, top_p, release_max;
    long buffer, voices, seed;
    hiss_backend backend;
    hiss_rate_mode rate_mode;
    hiss_sync_mode gpu_sync;
    int list_devices, list_midi, quiet;
} host_opts;

/* The share of a buffer's period the audio callback waits for the GPU before it plays silence:
 * the rest is left for PortAudio and the other work of the callback. */
#define GPU_DEADLINE_SHARE 0.75

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hiss-host --model MODEL.safetensors [options]\n"
            "       hiss-host --list-devices | --list-midi [--midi-api API]\n"
            "Plays a hiss model live: an fx model (\"hiss.io\": \"fx\") processes the audio input, a synth\n"
            "model (\"synth\") is played from MIDI.\n"
            "  --list-devices        audio devices (PortAudio) and exit\n"
            "  --list-midi           MIDI input ports (RtMidi) and exit\n"
            "  --device N|NAME       audio device (number or part of its name); default: PortAudio's\n"
            "  --input-device N|NAME input device for an fx model, if not --device\n"
            "  --rate HZ             device rate (default: the model's)\n"
            "  --rate-mode MODE      fx at another rate: strict (refuse, default) or delta\n"
            "  --buffer FRAMES       frames per callback (default 256)\n"
            "  --backend B           cpu (default), cuda or auto (synth: the voices as one GPU batch);\n"
            "                        server (fx only): on hiss-server, one buffer of latency, never waits\n"
            "  --server PATH         --backend server: the server's socket (default: its default)\n"
            "  --gpu-sync MODE       how the callback waits for the GPU: deadline (default: at most\n"
            "                        3/4 of a buffer, then silence, counted as \"gpu late\"),\n"
            "                        pipelined (fx only: one buffer of added latency, never waits)\n"
            "                        or wait (as long as the GPU takes: xruns when it is slow)\n"
            "  --gain DB             output gain (default 0)\n"
            "  --record FILE         write the output (mono) to FILE (.wav, .flac, ...)\n"
            "  --duration SECONDS    stop after this long (default: Ctrl-C)\n"
            "  --quiet               no status line\n"
            "synth:\n"
            "  --midi-api API        alsa or jack (default: RtMidi's choice)\n"
            "  --midi-port N|NAME    MIDI input port to open\n"
            "  --midi-virtual NAME   open a virtual MIDI input port that other programs connect to\n"
            "                        (client hiss-host-midi)\n"
            "  --midi-file FILE      play a MIDI file through the live path, each event at its exact\n"
            "                        sample from the start of the stream; stops when it has played\n"
            "                        and every voice is silent (or at --duration)\n"
            "  --voices N            polyphony (default 8)\n"
            "  --temperature T       sampling temperature (default: the model's\n"
            "                        hiss.synth.temperature, else 1; 0 = most probable class)\n"
            "  --top-p P             nucleus mass (default 1 = no truncation)\n"
            "  --seed N              sampler seed (default 0)\n"
            "  --release-max SECONDS a released voice stops after this long even if not yet silent\n"
            "                        (default 10)\n");
}

static int parse_args(int argc, char **argv, host_opts *o)
{
    memset(o, 0, sizeof *o);
    o->buffer = 256;
    o->voices = 8;
    o->temperature = -1.0; /* the model's */
    o->top_p = 1.0;
    o->release_max = 10.0;
    o->backend = HISS_BACKEND_CPU;
    o->rate_mode = HISS_RATE_STRICT;
    o->gpu_sync = HISS_SYNC_DEADLINE;
    hiss_argv a = {argc, argv, 1};
    while (a.i < argc) {
        const char *v = NULL, *arg = argv[a.i];
        hiss_opt_match r;
#define STR(s, l, field)                                                                            \
    if ((r = hiss_opt(&a, s, l, &v)) != HISS_OPT_NO) {                                              \
        if (r != HISS_OPT_YES)                                                                      \
            goto missing;                                                                           \
        o->field = v;                                                                               \
        continue;                                                                                   \
    }
#define NUM(l, field, lo, hi)                                                                       \
    if ((r = hiss_opt(&a, NULL, l, &v)) != HISS_OPT_NO) {                                           \
        if (r != HISS_OPT_YES)                                                                      \
            goto missing;                                                                           \
        if (hiss_parse_double(v, &o->field) != 0 || !(o->field >= (lo) && o->field <= (hi))) {      \
            fprintf(stderr, "hiss-host: --%s %s: expected a number from %g to %g\n", l, v, (double)(lo), \
                    (double)(hi));                                                                  \
            return -1;                                                                              \
        }                                                                                           \
        continue;                                                                                   \
    }
#define INT(l, field, lo, hi)                                                                       \
    if ((r = hiss_opt(&a, NULL, l, &v)) != HISS_OPT_NO) {                                           \
        if (r != HISS_OPT_YES)                                                                      \
            goto missing;                                                                           \
        if (hiss_parse_long(v, lo, hi, &o->field) != 0) {                                           \
            fprintf(stderr, "hiss-host: --%s %s: expected an integer from %ld to %ld\n", l, v, (long)(lo), \
                    (long)(hi));                                                                    \
            return -1;                                                                              \
        }                                                                                           \
        continue;                                                                                   \
    }
#define FLAG(l, field)                                                                              \
    if ((r = hiss_opt(&a, NULL, l, NULL)) != HISS_OPT_NO) {                                         \
        if (r != HISS_OPT_YES)                                                                      \
            goto missing;                                                                           \
        o->field = 1;                                                                               \
        continue;                                                                                   \
    }
        STR("m", "model", model)
        STR(NULL, "device", device)
        STR(NULL, "input-device", input_device)
        STR(NULL, "record", record)
        STR(NULL, "midi-api", midi_api)
        STR(NULL, "midi-port", midi_port)
        STR(NULL, "midi-virtual", midi_virtual)
        STR(NULL, "midi-file", midi_file)
        STR(NULL, "server", server)
        NUM("rate", rate, 1000.0, 1536000.0)
        NUM("duration", duration, 0.0, 1e7)
        NUM("gain", gain_db, -120.0, 40.0)
        NUM("temperature", temperature, 0.0, 100.0)
        NUM("top-p", top_p, 1e-6, 1.0)
        NUM("release-max", release_max, 0.001, 3600.0)
        INT("buffer", buffer, 16, 8192)
        INT("voices", voices, 1, HISS_SYNTH_MAX_VOICES)
        INT("seed", seed, 0, 0x7FFFFFFFFFFFFFFFL)
        FLAG("list-devices", list_devices)
        FLAG("list-midi", list_midi)
        FLAG("quiet", quiet)
        if ((r = hiss_opt(&a, NULL, "backend", &v)) != HISS_OPT_NO) {
            if (r != HISS_OPT_YES)
                goto missing;
            if (!strcmp(v, "cpu"))
                o->backend = HISS_BACKEND_CPU;
            else if (!strcmp(v, "cuda"))
                o->backend = HISS_BACKEND_CUDA;
            else if (!strcmp(v, "auto"))
                o->backend = HISS_BACKEND_AUTO;
            else if (!strcmp(v, "server"))
                o->backend = HISS_BACKEND_SERVER;
            else {
                fprintf(stderr, "hiss-host: --backend %s: expected cpu, cuda, auto or server\n", v);
                return -1;
            }
            continue;
        }
        if ((r = hiss_opt(&a, NULL, "gpu-sync", &v)) != HISS_OPT_NO) {
            if (r != HISS_OPT_YES)
                goto missing;
            if (!strcmp(v, "deadline"))
                o->gpu_sync = HISS_SYNC_DEADLINE;
            else if (!strcmp(v, "pipelined"))
                o->gpu_sync = HISS_SYNC_PIPELINED;
            else if (!strcmp(v, "wait"))
                o->gpu_sync = HISS_SYNC_WAIT;
            else {
                fprintf(stderr, "hiss-host: --gpu-sync %s: expected deadline, pipelined or wait\n", v);
                return -1;
            }
            continue;
        }
        if ((r = hiss_opt(&a, NULL, "rate-mode", &v)) != HISS_OPT_NO) {
            if (r != HISS_OPT_YES)
                goto missing;
            if (!strcmp(v, "strict"))
                o->rate_mode = HISS_RATE_STRICT;
            else if (!strcmp(v, "delta"))
                o->rate_mode = HISS_RATE_DELTA;
            else {
                fprintf(stderr, "hiss-host: --rate-mode %s: expected strict or delta (resample is not "
                        "available live yet)\n", v);
                return -1;
            }
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            exit(0);
        }
        fprintf(stderr, "hiss-host: unknown argument \"%s\" (--help lists the options)\n", arg);
        return -1;
    missing:
        fprintf(stderr, "hiss-host: %s %s\n", arg, r == HISS_OPT_MISSING ? "needs a value" : "takes no value");
        return -1;
    }
#undef STR
#undef NUM
#undef INT
#undef FLAG
    if (!o->model && !o->list_devices && !o->list_midi) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static void list_devices(void)
{
    const int n = Pa_GetDeviceCount();
    printf("%d audio device%s (default output %d, default input %d)\n", n, n == 1 ? "" : "s",
           Pa_GetDefaultOutputDevice(), Pa_GetDefaultInputDevice());
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        const PaHostApiInfo *h = Pa_GetHostApiInfo(d->hostApi);
        printf("  %d: %s / %s: %d in, %d out, %.0f Hz\n", i, h ? h->name : "?", d->name, d->maxInputChannels,
               d->maxOutputChannels, d->defaultSampleRate);
    }
}

/* A device by number or by a part of "host API / name" with channels in the direction needed. */
static int find_device(const char *spec, int want_in, int want_out)
{
    const int n = Pa_GetDeviceCount();
    char *end = NULL;
    const long idx = strtol(spec, &end, 10);
    if (end && end != spec && *end == 0)
        return idx >= 0 && idx < n ? (int)idx : -1;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *d = Pa_GetDeviceInfo(i);
        const PaHostApiInfo *h = Pa_GetHostApiInfo(d->hostApi);
        char full[512];
        snprintf(full, sizeof full, "%s / %s", h ? h->name : "?", d->name);
        if (strstr(full, spec) && d->maxInputChannels >= want_in && d->maxOutputChannels >= want_out)
            return i;
    }
    return -1;
}

typedef struct host {
    host_opts o;
    int synth_mode;
    double rate;
    hiss_model *fx;
    hiss_stream *stream;
    hiss_synth_model *sm;
    hiss_synth *synth;
    hiss_midi_file mf;
    hiss_midi_player player;
    hiss_midi_in midi;
    int midi_open;
    hiss_recorder rec;
    int recording;
    hiss_host_dsp dsp;
    int out_channels;
} host;

static int pa_callback(const void *input, void *output, unsigned long frames, const PaStreamCallbackTimeInfo *ti,
                       PaStreamCallbackFlags flags, void *user)
{
    (void)ti;
    host *h = user;
    hiss_host_dsp *d = &h->dsp;
    if (flags & (paInputUnderflow | paInputOverflow | paOutputUnderflow | paOutputOverflow))
        atomic_fetch_add_explicit(&d->xruns, 1, memory_order_relaxed);
    float *const *out = output;
    const float *const *in = input;
    unsigned long done = 0;
    while (done < frames) {
        int n = (int)(frames - done < (unsigned long)d->max_block ? frames - done : (unsigned long)d->max_block);
        hiss_host_dsp_process(d, in ? in[0] + done : NULL, out[0] + done, n);
        done += (unsigned long)n;
    }
    for (int c = 1; c < h->out_channels; c++)
        memcpy(out[c], out[0], frames * sizeof(float));
    atomic_fetch_add_explicit(&d->callbacks, 1, memory_order_relaxed);
    return paContinue;
}

static int load_model(host *h)
{
    hiss_error err = {0};
    hiss_io io;
    if (hiss_synth_file_io(h->o.model, &io, &err) != HISS_OK) {
        fprintf(stderr, "hiss-host: %s\n", err.msg);
        return -1;
    }
    h->synth_mode = io == HISS_IO_SYNTH;
    if (h->synth_mode) {
        if (hiss_synth_model_load(h->o.model, &h->sm, &err) != HISS_OK) {
            fprintf(stderr, "hiss-host: %s\n", err.msg);
            return -1;
        }
        const double mr = hiss_synth_model_config(h->sm)->sample_rate;
        h->rate = h->o.rate > 0 ? h->o.rate : mr;
        if (h->rate != mr) {
            fprintf(stderr, "hiss-host: %s: a synth model runs at its own rate (%g Hz), not --rate %g\n",
                    h->o.model, mr, h->rate);
            return -1;
        }
        hiss_synth_opts so = hiss_synth_opts_default();
        so.n_voices = (int)h->o.voices;
        so.temperature = h->o.temperature < 0 ? hiss_synth_model_temperature(h->sm)
                                               : (float)h->o.temperature;
        so.top_p = (float)h->o.top_p;
        so.seed = (uint64_t)h->o.seed;
        so.release_max_s = (float)h->o.release_max;
        so.backend = h->o.backend;
        if (h->o.backend == HISS_BACKEND_SERVER) {
            fprintf(stderr, "hiss-host: --backend server runs fx models; %s is a synth model\n", h->o.model);
            return -1;
        }
        if (h->o.gpu_sync == HISS_SYNC_PIPELINED && h->o.backend != HISS_BACKEND_CPU) {
            /* each sample of a synth depends on the last: no block can be started ahead */
            fprintf(stderr, "hiss-host: --gpu-sync pipelined is for fx models; a synth on the GPU runs with "
                    "deadline or wait\n");
            return -1;
        }
        so.deadline_us = h->o.gpu_sync == HISS_SYNC_DEADLINE ? GPU_DEADLINE_SHARE * 1e6 * (double)h->o.buffer / mr : 0.0;
        if (hiss_synth_create(h->sm, &so, &h->synth, &err) != HISS_OK) {
            fprintf(stderr, "hiss-host: %s\n", err.msg);
            return -1;
        }
        return 0;
    }
    if (h->o.midi_file || h->o.midi_port || h->o.midi_virtual) {
        fprintf(stderr, "hiss-host: %s is an fx model: MIDI options do not apply\n", h->o.model);
        return -1;
    }
    if (hiss_model_load(h->o.model, &h->fx, &err) != HISS_OK) {
        fprintf(stderr, "hiss-host: %s\n", err.msg);
        return -1;
    }
    const double mr = hiss_model_config(h->fx)->sample_rate;
    h->rate = h->o.rate > 0 ? h->o.rate : mr;
    hiss_stream_opts so = hiss_stream_opts_default();
    so.n_streams = 1;
    so.max_block = (int)h->o.buffer;
    so.host_rate = h->rate;
    so.rate_mode = h->o.rate_mode;
    so.backend = h->o.backend;
    so.server = h->o.server;
    if (hiss_stream_create(h->fx, &so, &h->stream, &err) != HISS_OK) {
        fprintf(stderr, "hiss-host: %s\n", err.msg);
        return -1;
    }
    if (hiss_stream_backend(h->stream) == HISS_BACKEND_CUDA &&
        hiss_stream_set_sync(h->stream, h->o.gpu_sync, GPU_DEADLINE_SHARE * 1e6 * (double)h->o.buffer / h->rate) !=
            HISS_OK) {
        fprintf(stderr, "hiss-host: --gpu-sync: the CUDA stream refused the mode\n");
        return -1;
    }
    return 0;
}

static int setup_midi(host *h)
{
    char msg[512];
    if (h->o.midi_file) {
        if (hiss_midi_load(h->o.midi_file, &h->mf, msg, sizeof msg) != 0) {
            fprintf(stderr, "hiss-host: %s\n", msg);
            return -1;
        }
        if (hiss_midi_player_init(&h->player, &h->mf, h->rate, msg, sizeof msg) != 0) {
            fprintf(stderr, "hiss-host: %s\n", msg);
            return -1;
        }
    }
    if (h->o.midi_port || h->o.midi_virtual) {
        if (hiss_midi_in_open(&h->midi, h->o.midi_api, h->o.midi_port, h->o.midi_virtual, msg, sizeof msg) != 0) {
            fprintf(stderr, "hiss-host: %s\n", msg);
            return -1;
        }
        h->midi_open = 1;
    }
    if (!h->o.midi_file && !h->midi_open && !h->o.quiet)
        fprintf(stderr, "hiss-host: no MIDI input given (--midi-port, --midi-virtual or --midi-file): the synth "
                "will stay silent\n");
    return 0;
}

static void db_str(char *buf, size_t n, float peak)
{
    if (peak <= 1e-10f)
        snprintf(buf, n, "  -inf");
    else
        snprintf(buf, n, "%6.1f", 20.0 * log10((double)peak));
}

static void status(host *h, PaStream *pa, float peak, int tty, int final)
{
    hiss_host_dsp *d = &h->dsp;
    char pk[32];
    db_str(pk, sizeof pk, peak);
    const double secs = (double)atomic_load(&d->frames_done) / h->rate;
    char line[512];
    int o = snprintf(line, sizeof line, "%s %7.1f s  DSP %5.1f%%  xruns %llu  peak %s dBFS",
                     h->synth_mode ? "synth" : "fx", secs, 100.0 * Pa_GetStreamCpuLoad(pa),
                     (unsigned long long)atomic_load(&d->xruns), pk);
    if (h->synth_mode)
        o += snprintf(line + o, sizeof line - (size_t)o, "  voices %d/%ld", atomic_load(&d->voices), h->o.voices);
    if (h->o.backend != HISS_BACKEND_CPU)
        o += snprintf(line + o, sizeof line - (size_t)o, "  gpu late %llu",
                      (unsigned long long)atomic_load(&d->gpu_late));
    if (h->midi_open)
        o += snprintf(line + o, sizeof line - (size_t)o, "  midi %llu", (unsigned long long)atomic_load(&h->midi.received));
    if (h->recording)
        o += snprintf(line + o, sizeof line - (size_t)o, "  rec%s",
                      atomic_load(&h->rec.dropped) ? " (dropping!)" : "");
    fprintf(stderr, tty && !final ? "\r%s\033[K" : "%s\n", line);
    fflush(stderr);
}

static void cleanup(host *h)
{
    if (h->midi_open)
        hiss_midi_in_close(&h->midi);
    hiss_synth_free(h->synth);
    hiss_synth_model_free(h->sm);
    hiss_stream_free(h->stream);
    hiss_model_free(h->fx);
    hiss_midi_player_free(&h->player);
    hiss_midi_free(&h->mf);
    free(h->dsp.zeros);
}

int main(int argc, char **argv)
{
    host h;
    memset(&h, 0, sizeof h);
    if (parse_args(argc, argv, &h.o) != 0)
        return 2;
    if (h.o.list_midi) {
        int r = hiss_midi_in_list(h.o.midi_api, stdout);
        if (!h.o.list_devices)
            return r ? 1 : 0;
    }
    /* Block the stop signals before any thread exists, so every thread PortAudio, JACK and RtMidi
     * start inherits the mask and only sigtimedwait below sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    PaJack_SetClientName("hiss-host");
    PaError pe = Pa_Initialize();
    if (pe != paNoError) {
        fprintf(stderr, "hiss-host: PortAudio: %s\n", Pa_GetErrorText(pe));
        return 1;
    }
    int rc = 1;
    if (h.o.list_devices) {
        list_devices();
        Pa_Terminate();
        return 0;
    }
    PaStream *pa = NULL;
    if (load_model(&h) != 0 || (h.synth_mode && setup_midi(&h) != 0))
        goto out;

    const int want_in = h.synth_mode ? 0 : 1;
    int out_dev = h.o.device ? find_device(h.o.device, 0, 1) : Pa_GetDefaultOutputDevice();
    int in_dev = -1;
    if (want_in) {
        const char *spec = h.o.input_device ? h.o.input_device : h.o.device;
        in_dev = spec ? find_device(spec, 1, 0) : Pa_GetDefaultInputDevice();
    }
    if (out_dev < 0 || (want_in && in_dev < 0)) {
        fprintf(stderr, "hiss-host: no %s device %s%s%s (see --list-devices)\n", out_dev < 0 ? "output" : "input",
                (h.o.device || h.o.input_device) ? "matching \"" : "available",
                out_dev < 0 ? (h.o.device ? h.o.device : "") : (h.o.input_device ? h.o.input_device : h.o.device ? h.o.device : ""),
                (h.o.device || h.o.input_device) ? "\"" : "");
        goto out;
    }
    const PaDeviceInfo *odi = Pa_GetDeviceInfo(out_dev);
    h.out_channels = odi->maxOutputChannels < 2 ? odi->maxOutputChannels : 2;
    PaStreamParameters op = {out_dev, h.out_channels, paFloat32 | paNonInterleaved, odi->defaultLowOutputLatency, NULL};
    PaStreamParameters ip;
    if (want_in) {
        const PaDeviceInfo *idi = Pa_GetDeviceInfo(in_dev);
        ip = (PaStreamParameters){in_dev, 1, paFloat32 | paNonInterleaved, idi->defaultLowInputLatency, NULL};
    }

    hiss_host_dsp *d = &h.dsp;
    d->stream = h.stream;
    d->synth = h.synth;
    d->max_block = (int)h.o.buffer;
    d->zeros = calloc((size_t)d->max_block, sizeof(float));
    d->gain = (float)pow(10.0, h.o.gain_db / 20.0);
    d->midi = h.midi_open ? &h.midi : NULL;
    d->file = h.o.midi_file ? &h.player : NULL;
    if (!d->zeros) {
        fprintf(stderr, "hiss-host: out of memory\n");
        goto out;
    }
    if (h.o.record) {
        char msg[512];
        if (hiss_recorder_open(&h.rec, h.o.record, (int)lround(h.rate), 4.0, msg, sizeof msg) != 0) {
            fprintf(stderr, "hiss-host: %s\n", msg);
            goto out;
        }
        h.recording = 1;
        d->rec = &h.rec;
    }

    pe = Pa_OpenStream(&pa, want_in ? &ip : NULL, &op, h.rate, (unsigned long)h.o.buffer, paNoFlag, pa_callback, &h);
    if (pe != paNoError) {
        fprintf(stderr, "hiss-host: cannot open %s at %g Hz, %ld frames: %s\n", odi->name, h.rate, h.o.buffer,
                Pa_GetErrorText(pe));
        pa = NULL;
        goto out;
    }
    if (!h.o.quiet) {
        const PaHostApiInfo *hi = Pa_GetHostApiInfo(odi->hostApi);
        fprintf(stderr, "hiss-host: %s model %s on %s / %s, %g Hz, %ld frames, %d channel%s%s%s\n",
                h.synth_mode ? "synth" : "fx", h.o.model, hi ? hi->name : "?", odi->name, h.rate, h.o.buffer,
                h.out_channels, h.out_channels == 1 ? "" : "s", h.midi_open ? ", MIDI from " : "",
                h.midi_open ? h.midi.port_name : "");
    }
    pe = Pa_StartStream(pa);
    if (pe != paNoError) {
        fprintf(stderr, "hiss-host: cannot start the audio stream: %s\n", Pa_GetErrorText(pe));
        goto out;
    }
    const int tty = isatty(2);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double last_status = 0.0;
    float peak = 0.0f;
    const char *why = "stopped";
    for (;;) {
        struct timespec wait = {0, 50 * 1000 * 1000};
        const int sig = sigtimedwait(&stop, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            why = sig == SIGINT ? "interrupted" : "terminated";
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        const double el = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
        const double played = (double)atomic_load(&d->frames_done) / h.rate;
        if (h.o.duration > 0 && played >= h.o.duration) {
            why = "duration reached";
            break;
        }
        if (d->file && !h.o.duration && atomic_load(&d->file_done) && atomic_load(&d->voices) == 0 &&
            played >= h.mf.duration) {
            why = "MIDI file played";
            break;
        }
        if (!Pa_IsStreamActive(pa)) {
            why = "the audio stream stopped";
            break;
        }
        const float p = hiss_host_dsp_take_peak(d);
        peak = p > peak ? p : peak;
        if (!h.o.quiet && el - last_status >= (tty ? 0.1 : 1.0)) {
            status(&h, pa, peak, tty, 0);
            peak = 0.0f;
            last_status = el;
        }
    }
    Pa_StopStream(pa);
    rc = 0;
    if (!h.o.quiet) {
        const float p = hiss_host_dsp_take_peak(d);
        status(&h, pa, p > peak ? p : peak, tty, 1);
    }
    fprintf(stderr, "hiss-host: %s after %.3f s: %llu frames in %llu callbacks, %llu xruns", why,
            (double)atomic_load(&d->frames_done) / h.rate, (unsigned long long)atomic_load(&d->frames_done),
            (unsigned long long)atomic_load(&d->callbacks), (unsigned long long)atomic_load(&d->xruns));
    if (h.o.backend != HISS_BACKEND_CPU)
        fprintf(stderr, ", %llu buffers the GPU finished late (silence)", (unsigned long long)atomic_load(&d->gpu_late));
    if (h.synth_mode) {
        const hiss_synth_counters c = hiss_synth_get_counters(h.synth);
        fprintf(stderr, ", %llu notes, %llu steals", (unsigned long long)c.notes, (unsigned long long)c.steals);
    }
    if (h.midi_open)
        fprintf(stderr, ", %llu MIDI messages (%llu dropped)", (unsigned long long)atomic_load(&h.midi.received),
                (unsigned long long)atomic_load(&h.midi.dropped));
    if (h.recording)
        fprintf(stderr, ", %llu samples dropped from the recording", (unsigned long long)atomic_load(&h.rec.dropped));
    fprintf(stderr, "\n");
out:
    if (pa)
        Pa_CloseStream(pa);
    if (h.midi_open) {
        hiss_midi_in_close(&h.midi);
        h.midi_open = 0;
    }
    if (h.recording) {
        char msg[512];
        if (hiss_recorder_close(&h.rec, msg, sizeof msg) != 0) {
            fprintf(stderr, "hiss-host: %s\n", msg);
            rc = 1;
        } else if (!h.o.quiet) {
            fprintf(stderr, "hiss-host: wrote %s (%llu samples)\n", h.o.record, (unsigned long long)h.rec.written);
        }
    }
    Pa_Terminate();
    cleanup(&h);
    return rc;
}
