/* Building a model instance on the worker: load, check, create the stream, warm it up. */
#include "inst.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* vsnprintf keeps gcc's truncation warnings quiet: messages are cut to the buffer on purpose. */
static void text(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static const char *io_name(hiss_io io)
{
    return io == HISS_IO_FX ? "fx" : io == HISS_IO_SYNTH ? "synth" : "unknown";
}

/* "hiss.cond_range": "lo:hi,lo:hi,..." one entry per conditioning input, in the order of
 * "hiss.cond"; missing entries (or a missing key) mean 0:1. */
static int parse_ranges(hp_inst *in, const char *spec, int n_cond, const char *path, char *err)
{
    for (int i = 0; i < HP_MAX_KNOBS; i++) {
        in->knob_lo[i] = 0.0f;
        in->knob_hi[i] = 1.0f;
    }
    if (!spec)
        return 0;
    const char *p = spec;
    for (int i = 0; *p && i < n_cond; i++) {
        char *end;
        double lo = strtod(p, &end);
        if (end == p || *end != ':')
            goto bad;
        p = end + 1;
        double hi = strtod(p, &end);
        if (end == p || (*end != ',' && *end != '\0') || !isfinite(lo) || !isfinite(hi) || lo == hi)
            goto bad;
        if (i < HP_MAX_KNOBS) {
            in->knob_lo[i] = (float)lo;
            in->knob_hi[i] = (float)hi;
        }
        p = *end == ',' ? end + 1 : end;
        continue;
    bad:
        text(err, HP_TEXT_MAX, "%s: metadata \"hiss.cond_range\" (\"%.200s\"): entry %d is not "
                 "LOW:HIGH with two different finite numbers", path, spec, i + 1);
        return -1;
    }
    return 0;
}

static void describe(hp_inst *in, const hp_inst_config *cfg)
{
    const hiss_config *c = hiss_model_config(in->model);
    size_t len = 0;
    char *s = in->status;
    say(s, HP_TEXT_MAX, &len, "%s: %llu parameters, trained at %g Hz", base_name(in->path),
        (unsigned long long)hiss_model_param_count(in->model), c->sample_rate);
    if (cfg->host_rate != c->sample_rate)
        say(s, HP_TEXT_MAX, &len, "; host at %g Hz: delta mode, SSM time step scaled by %.4f",
            cfg->host_rate, c->sample_rate / cfg->host_rate);
    if (in->latency > 0)
        say(s, HP_TEXT_MAX, &len, "; latency %d frames", in->latency);
    if (c->n_cond == 0) {
        say(s, HP_TEXT_MAX, &len, "; the model has no conditioning inputs: knobs 1-4 do nothing");
        return;
    }
    for (int i = 0; i < in->n_knobs; i++)
        say(s, HP_TEXT_MAX, &len, "%s knob %d = %s", i ? "," : ";", i + 1, in->knob_label[i]);
    if (in->n_knobs < HP_MAX_KNOBS) {
        say(s, HP_TEXT_MAX, &len, "; knob%s", HP_MAX_KNOBS - in->n_knobs > 1 ? "s" : "");
        for (int i = in->n_knobs; i < HP_MAX_KNOBS; i++)
            say(s, HP_TEXT_MAX, &len, "%s %d", i > in->n_knobs ? "," : "", i + 1);
        say(s, HP_TEXT_MAX, &len, " do%s nothing", HP_MAX_KNOBS - in->n_knobs > 1 ? "" : "es");
    }
    if (c->n_cond > HP_MAX_KNOBS)
        say(s, HP_TEXT_MAX, &len, "; conditioning inputs %d-%d have no knob and stay at 0",
            HP_MAX_KNOBS + 1, c->n_cond);
}

/* Run silence through the new stream so its first real block does not pay for cold caches and
 * first-touch page faults on the audio thread; then reset, so the output from the swap on is
 * exactly what the engine gives for the same input from the zero state. */
static int prewarm(hp_inst *in, const hp_inst_config *cfg)
{
    int frames = cfg->prewarm_frames;
    if (frames <= 0)
        return 0;
    int blk = cfg->max_block;
    float *buf = calloc((size_t)cfg->n_streams * 2 * (size_t)blk, sizeof(float));
    const float **ip = calloc((size_t)cfg->n_streams, sizeof *ip);
    float **op = calloc((size_t)cfg->n_streams, sizeof *op);
    if (!buf || !ip || !op) {
        free(buf);
        free(ip);
        free(op);
        return -1;
    }
    for (int k = 0; k < cfg->n_streams; k++) {
        ip[k] = buf + (size_t)k * blk;
        op[k] = buf + (size_t)(cfg->n_streams + k) * blk;
    }
    for (int done = 0; done < frames;) {
        int n = frames - done < blk ? frames - done : blk;
        hiss_stream_process(in->stream, (const float *const *)ip, (float *const *)op, n);
        done += n;
    }
    hiss_stream_reset(in->stream, -1);
    free(buf);
    free(ip);
    free(op);
    return 0;
}

hp_inst *hp_inst_create(const hp_inst_config *cfg, const char *path, char *err)
{
    err[0] = '\0';
    if (strlen(path) >= HP_PATH_MAX) {
        text(err, HP_TEXT_MAX, "model path too long (%zu bytes, at most %d): %.200s...",
                 strlen(path), HP_PATH_MAX - 1, path);
        return NULL;
    }
    hp_inst *in = calloc(1, sizeof *in);
    if (!in) {
        text(err, HP_TEXT_MAX, "%s: out of memory", path);
        return NULL;
    }
    strcpy(in->path, path);
    if (path[0] == '\0') {
        text(in->status, HP_TEXT_MAX, "no model loaded: audio passes through unchanged");
        return in;
    }
    hiss_error e = {0};
    if (hiss_model_load(path, &in->model, &e) != HISS_OK) {
        text(err, HP_TEXT_MAX, "%s", e.msg[0] ? e.msg : hiss_status_name(e.status));
        goto fail;
    }
    const hiss_config *c = hiss_model_config(in->model);
    if (c->io != cfg->io) {
        text(err, HP_TEXT_MAX, "%s: metadata \"hiss.io\" is \"%s\", this plugin runs \"%s\" models",
                 path, io_name(c->io), io_name(cfg->io));
        goto fail;
    }
    if (parse_ranges(in, hiss_model_meta(in->model, "hiss.cond_range"), c->n_cond, path, err) != 0)
        goto fail;
    in->n_knobs = c->n_cond < HP_MAX_KNOBS ? c->n_cond : HP_MAX_KNOBS;
    for (int i = 0; i < in->n_knobs; i++)
        text(in->knob_label[i], HP_LABEL_MAX, "%.60s (%g to %g)", hiss_model_cond_name(in->model, i),
                 (double)in->knob_lo[i], (double)in->knob_hi[i]);
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = cfg->n_streams;
    o.max_block = cfg->max_block;
    o.host_rate = cfg->host_rate;
    /* Delta mode: no latency, no resampler in the plugin, exact when the rates agree. */
    o.rate_mode = HISS_RATE_DELTA;
    o.backend = HISS_BACKEND_AUTO;
    if (hiss_stream_create(in->model, &o, &in->stream, &e) != HISS_OK) {
        text(err, HP_TEXT_MAX, "%s: %s", path, e.msg[0] ? e.msg : hiss_status_name(e.status));
        goto fail;
    }
    in->latency = hiss_stream_latency(in->stream);
    if (prewarm(in, cfg) != 0) {
        text(err, HP_TEXT_MAX, "%s: out of memory", path);
        goto fail;
    }
    describe(in, cfg);
    return in;
fail:
    hp_inst_free(in);
    return NULL;
}

void hp_inst_free(hp_inst *in)
{
    if (!in)
        return;
    hiss_stream_free(in->stream);
    hiss_model_free(in->model);
    free(in);
}
