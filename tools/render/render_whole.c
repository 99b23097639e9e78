/* An effect model's whole-file path, the parts that read a whole file, mix and write it
 * (render_files.c reads, renders as one batch and writes several files so), and the per-frame
 * arithmetic that the segmented path of one file (render_segments.c) shares with them, so both
 * give the same numbers to the bit. Memory of a file read whole: two floats per input sample
 * (the dry signal and the model's). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audiofile.h"
#include "render.h"

enum { READ_FRAMES = 1 << 16 };

void whole_free(whole_file *f)
{
    for (int c = 0; c < f->ch; c++) {
        if (f->dry)
            free(f->dry[c]);
        if (f->wet)
            free(f->wet[c]);
    }
    free(f->dry);
    free(f->wet);
    memset(f, 0, sizeof *f);
}

static int grow(whole_file *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : READ_FRAMES;
    while (cap < need)
        cap *= 2;
    for (int c = 0; c < f->ch; c++) {
        float *d = realloc(f->dry[c], cap * sizeof(float));
        if (!d)
            return -1;
        f->dry[c] = d;
    }
    f->cap = cap;
    return 0;
}

uint64_t whole_split(const float *io, size_t frames, int in_ch, int mono, float *const *dry, size_t at)
{
    /* non-finite samples to 0 as the stream path does, so that the dry signal cannot carry them
     * either */
    uint64_t nonfinite = 0;
    for (size_t i = 0; i < frames; i++) {
        const float *fr = io + i * (size_t)in_ch;
        float mix = 0.0f;
        for (int c = 0; c < in_ch; c++) {
            float v = fr[c];
            if (!isfinite(v)) {
                v = 0.0f;
                nonfinite++;
            }
            if (mono)
                mix += v;
            else
                dry[c][at + i] = v;
        }
        if (mono)
            dry[0][at + i] = mix / (float)in_ch;
    }
    return nonfinite;
}

uint64_t whole_gain_in(const render_opts *o, const float *dry, float *wet, size_t frames)
{
    const float g_in = (float)pow(10.0, o->gain_in_db / 20.0);
    const float lim = HISS_INPUT_LIMIT;
    uint64_t clamped = 0;
    for (size_t t = 0; t < frames; t++) {
        const float v = dry[t] * g_in;
        clamped += v > lim || v < -lim;
        wet[t] = v;
    }
    return clamped;
}

void whole_mix(const render_opts *o, float *io, size_t frames, int ch, const float *const *dry,
               const float *const *wet, size_t at)
{
    const float g_out = (float)pow(10.0, o->gain_out_db / 20.0), mix = (float)o->mix;
    const float w_dry = g_out * (1.0f - mix), w_wet = g_out * mix;
    for (size_t i = 0; i < frames; i++)
        for (int c = 0; c < ch; c++)
            io[i * (size_t)ch + (size_t)c] = w_dry * dry[c][at + i] + w_wet * wet[c][at + i];
}

int whole_read(SNDFILE *in, const SF_INFO *info, const render_opts *o, const char *in_path, int ch,
               whole_file *f, const volatile sig_atomic_t *stop, int *stopped, char *msg, size_t n)
{
    const int in_ch = info->channels;
    memset(f, 0, sizeof *f);
    *stopped = 0;
    f->ch = ch;
    f->dry = calloc((size_t)ch, sizeof *f->dry);
    f->wet = calloc((size_t)ch, sizeof *f->wet);
    float *io = malloc((size_t)READ_FRAMES * (size_t)in_ch * sizeof(float));
    int rc = -1;
    if (!f->dry || !f->wet || !io)
        goto nomem;
    /* Known lengths are allocated once; a stream of unknown length grows by doubling. */
    if (info->frames > 0 && grow(f, (size_t)info->frames) != 0)
        goto nomem;

    size_t frames = 0;
    for (;;) {
        if (*stop) {
            *stopped = 1;
            rc = 0;
            goto done;
        }
        const sf_count_t got = sf_readf_float(in, io, READ_FRAMES);
        if (got < 0 || sf_error(in) != SF_ERR_NO_ERROR) {
            snprintf(msg, n, "%s: read error: %s", in_path, sf_strerror(in));
            goto done;
        }
        if (got == 0)
            break;
        if (grow(f, frames + (size_t)got) != 0)
            goto nomem;
        f->st.nonfinite += whole_split(io, (size_t)got, in_ch, o->mono, f->dry, frames);
        frames += (size_t)got;
    }
    f->frames = frames;
    f->st.frames = frames;

    for (int c = 0; c < ch; c++) {
        f->wet[c] = malloc((frames ? frames : 1) * sizeof(float));
        if (!f->wet[c])
            goto nomem;
        f->st.clamped += whole_gain_in(o, f->dry[c], f->wet[c], frames);
    }
    rc = 0;
    goto done;
nomem:
    snprintf(msg, n, "%s: out of memory reading it whole (%lld frames x %d channels); leave out --whole and "
             "--backend cuda to stream it", in_path, (long long)info->frames, in_ch);
done:
    free(io);
    return rc;
}

int whole_open_out(hiss_af_writer *w, const char *out_path, int rate, int ch, int out_format, char *msg, size_t n)
{
    SF_INFO out_info = {0};
    out_info.samplerate = rate;
    out_info.channels = ch;
    out_info.format = out_format;
    if (hiss_af_writer_open(w, out_path, &out_info, msg, n) != 0)
        return -1;
    /* No PEAK chunk: it carries the time of writing, and a render is to be reproducible to the byte. */
    sf_command(w->sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
    const int sub = out_format & SF_FORMAT_SUBMASK;
    if (sub != SF_FORMAT_FLOAT && sub != SF_FORMAT_DOUBLE)
        sf_command(w->sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    return 0;
}

int whole_write(const whole_file *f, const render_opts *o, const char *out_path, SNDFILE *out,
                const volatile sig_atomic_t *stop, int *stopped, char *msg, size_t n)
{
    const int ch = f->ch;
    *stopped = 0;
    float *io = malloc((size_t)READ_FRAMES * (size_t)ch * sizeof(float));
    if (!io) {
        snprintf(msg, n, "%s: out of memory", out_path);
        return -1;
    }
    int rc = 0;
    for (size_t t0 = 0; t0 < f->frames; t0 += READ_FRAMES) {
        const size_t len = f->frames - t0 < READ_FRAMES ? f->frames - t0 : READ_FRAMES;
        whole_mix(o, io, len, ch, (const float *const *)f->dry, (const float *const *)f->wet, t0);
        if (sf_writef_float(out, io, (sf_count_t)len) != (sf_count_t)len) {
            snprintf(msg, n, "%s: write error: %s", out_path, sf_strerror(out));
            rc = -1;
            break;
        }
        if (*stop) {
            *stopped = 1;
            break;
        }
    }
    free(io);
    return rc;
}
