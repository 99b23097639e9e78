/* An effect model over a whole file at once: read every frame, run each channel through
 * hiss_render_offline in one call, mix and write. The CUDA backend's offline render is
 * time-parallel (everything but the scan runs over all samples at once), which a stream fed block
 * by block cannot use; the output is time-aligned by construction (no latency to remove). Memory:
 * two floats per input sample (the dry signal and the model's). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"

enum { READ_FRAMES = 1 << 16 };

typedef struct whole_bufs {
    float **dry, **wet; /* [ch][cap] */
    float *io;          /* interleaved, READ_FRAMES * max(in_ch, ch) */
    int ch;
    size_t cap;
} whole_bufs;

static void bufs_free(whole_bufs *b)
{
    for (int c = 0; c < b->ch; c++) {
        if (b->dry)
            free(b->dry[c]);
        if (b->wet)
            free(b->wet[c]);
    }
    free(b->dry);
    free(b->wet);
    free(b->io);
}

static int grow(whole_bufs *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : READ_FRAMES;
    while (cap < need)
        cap *= 2;
    for (int c = 0; c < b->ch; c++) {
        float *d = realloc(b->dry[c], cap * sizeof(float));
        if (!d)
            return -1;
        b->dry[c] = d;
    }
    b->cap = cap;
    return 0;
}

int render_fx_whole(SNDFILE *in, const SF_INFO *info, const hiss_model *m, const float *cond, const render_opts *o,
                    int ch, hiss_backend backend, SNDFILE *out, const volatile sig_atomic_t *stop, int *stopped,
                    whole_stats *st, char *msg, size_t n)
{
    const int in_ch = info->channels;
    whole_bufs b;
    memset(&b, 0, sizeof b);
    memset(st, 0, sizeof *st);
    *stopped = 0;
    b.ch = ch;
    b.dry = calloc((size_t)ch, sizeof *b.dry);
    b.wet = calloc((size_t)ch, sizeof *b.wet);
    b.io = malloc((size_t)READ_FRAMES * (size_t)(in_ch > ch ? in_ch : ch) * sizeof(float));
    int rc = -1;
    if (!b.dry || !b.wet || !b.io)
        goto nomem;
    /* Known lengths are allocated once; a stream of unknown length grows by doubling. */
    if (info->frames > 0 && grow(&b, (size_t)info->frames) != 0)
        goto nomem;

    /* Read, de-interleave (mixing down for --mono), non-finite samples to 0 as the stream path
     * does, so that the dry signal cannot carry them either. */
    size_t frames = 0;
    for (;;) {
        if (*stop) {
            *stopped = 1;
            rc = 0;
            goto done;
        }
        const sf_count_t got = sf_readf_float(in, b.io, READ_FRAMES);
        if (got < 0 || sf_error(in) != SF_ERR_NO_ERROR) {
            snprintf(msg, n, "%s: read error: %s", o->in_path, sf_strerror(in));
            goto done;
        }
        if (got == 0)
            break;
        if (grow(&b, frames + (size_t)got) != 0)
            goto nomem;
        for (sf_count_t i = 0; i < got; i++) {
            const float *fr = b.io + (size_t)i * (size_t)in_ch;
            float mix = 0.0f;
            for (int c = 0; c < in_ch; c++) {
                float v = fr[c];
                if (!isfinite(v)) {
                    v = 0.0f;
                    st->nonfinite++;
                }
                if (o->mono)
                    mix += v;
                else
                    b.dry[c][frames + (size_t)i] = v;
            }
            if (o->mono)
                b.dry[0][frames + (size_t)i] = mix / (float)in_ch;
        }
        frames += (size_t)got;
    }
    st->frames = frames;

    hiss_error err = {0};
    const float g_in = (float)pow(10.0, o->gain_in_db / 20.0);
    const float lim = HISS_INPUT_LIMIT;
    for (int c = 0; c < ch; c++) {
        b.wet[c] = malloc((frames ? frames : 1) * sizeof(float));
        if (!b.wet[c])
            goto nomem;
        for (size_t t = 0; t < frames; t++) {
            const float v = b.dry[c][t] * g_in;
            st->clamped += v > lim || v < -lim;
            b.wet[c][t] = v;
        }
        if (hiss_render_offline(m, b.wet[c], b.wet[c], frames, backend, cond, &err) != HISS_OK) {
            snprintf(msg, n, "%s: %s backend: %s", o->model_path, hiss_backend_name(backend), err.msg);
            goto done;
        }
        if (*stop) {
            *stopped = 1;
            rc = 0;
            goto done;
        }
    }

    const float g_out = (float)pow(10.0, o->gain_out_db / 20.0), mix = (float)o->mix;
    const float w_dry = g_out * (1.0f - mix), w_wet = g_out * mix;
    for (size_t t0 = 0; t0 < frames; t0 += READ_FRAMES) {
        const size_t len = frames - t0 < READ_FRAMES ? frames - t0 : READ_FRAMES;
        for (size_t i = 0; i < len; i++)
            for (int c = 0; c < ch; c++)
                b.io[i * (size_t)ch + (size_t)c] = w_dry * b.dry[c][t0 + i] + w_wet * b.wet[c][t0 + i];
        if (sf_writef_float(out, b.io, (sf_count_t)len) != (sf_count_t)len) {
            snprintf(msg, n, "%s: write error: %s", o->out_path, sf_strerror(out));
            goto done;
        }
        if (*stop) {
            *stopped = 1;
            rc = 0;
            goto done;
        }
    }
    rc = 0;
    goto done;
nomem:
    snprintf(msg, n, "%s: out of memory reading it whole (%lld frames x %d channels); leave out --whole and "
             "--backend cuda to stream it", o->in_path, (long long)info->frames, in_ch);
done:
    bufs_free(&b);
    return rc;
}
