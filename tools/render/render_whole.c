/* An effect model over a whole file at once: read every frame, run the channels through
 * hiss_render_offline_batch in one call, mix and write. The CUDA backend's offline render is
 * time-parallel (everything but the scan runs over all samples at once), which a stream fed block
 * by block cannot use; the output is time-aligned by construction (no latency to remove). Memory:
 * two floats per input sample (the dry signal and the model's). The three steps are apart so that
 * several files can be read, rendered as one batch and written by different threads
 * (render_files.c). */
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

    /* De-interleave (mixing down for --mono), non-finite samples to 0 as the stream path does, so
     * that the dry signal cannot carry them either. */
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
        for (sf_count_t i = 0; i < got; i++) {
            const float *fr = io + (size_t)i * (size_t)in_ch;
            float mix = 0.0f;
            for (int c = 0; c < in_ch; c++) {
                float v = fr[c];
                if (!isfinite(v)) {
                    v = 0.0f;
                    f->st.nonfinite++;
                }
                if (o->mono)
                    mix += v;
                else
                    f->dry[c][frames + (size_t)i] = v;
            }
            if (o->mono)
                f->dry[0][frames + (size_t)i] = mix / (float)in_ch;
        }
        frames += (size_t)got;
    }
    f->frames = frames;
    f->st.frames = frames;

    const float g_in = (float)pow(10.0, o->gain_in_db / 20.0);
    const float lim = HISS_INPUT_LIMIT;
    for (int c = 0; c < ch; c++) {
        f->wet[c] = malloc((frames ? frames : 1) * sizeof(float));
        if (!f->wet[c])
            goto nomem;
        for (size_t t = 0; t < frames; t++) {
            const float v = f->dry[c][t] * g_in;
            f->st.clamped += v > lim || v < -lim;
            f->wet[c][t] = v;
        }
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
    const float g_out = (float)pow(10.0, o->gain_out_db / 20.0), mix = (float)o->mix;
    const float w_dry = g_out * (1.0f - mix), w_wet = g_out * mix;
    int rc = 0;
    for (size_t t0 = 0; t0 < f->frames; t0 += READ_FRAMES) {
        const size_t len = f->frames - t0 < READ_FRAMES ? f->frames - t0 : READ_FRAMES;
        for (size_t i = 0; i < len; i++)
            for (int c = 0; c < ch; c++)
                io[i * (size_t)ch + (size_t)c] = w_dry * f->dry[c][t0 + i] + w_wet * f->wet[c][t0 + i];
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

int render_fx_whole(SNDFILE *in, const SF_INFO *info, const hiss_model *m, const float *cond, const render_opts *o,
                    int ch, hiss_backend backend, SNDFILE *out, const volatile sig_atomic_t *stop, int *stopped,
                    whole_stats *st, char *msg, size_t n)
{
    whole_file f;
    int rc = whole_read(in, info, o, o->in_path, ch, &f, stop, stopped, msg, n);
    if (rc == 0 && !*stopped) {
        /* the channels are independent sequences: one batch */
        const float **ip = malloc((size_t)ch * sizeof *ip), **cp = malloc((size_t)ch * sizeof *cp);
        size_t *len = malloc((size_t)ch * sizeof *len);
        hiss_error err = {0};
        hiss_status hs = HISS_ERR_NOMEM;
        snprintf(err.msg, sizeof err.msg, "out of memory");
        for (int c = 0; ip && cp && len && c < ch; c++) {
            ip[c] = f.wet[c];
            cp[c] = cond;
            len[c] = f.frames;
        }
        if (ip && cp && len)
            hs = hiss_render_offline_batch(m, ip, f.wet, len, ch, cp, backend, &err);
        free(ip);
        free(cp);
        free(len);
        if (hs != HISS_OK) {
            snprintf(msg, n, "%s: %s backend: %s", o->model_path, hiss_backend_name(backend), err.msg);
            rc = -1;
        } else if (*stop) {
            *stopped = 1;
        } else {
            rc = whole_write(&f, o, o->out_path, out, stop, stopped, msg, n);
        }
    }
    *st = f.st;
    whole_free(&f);
    return rc;
}
