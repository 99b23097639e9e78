/* An fx instance: load, check, create the stream, warm it up; the knobs' ranges and labels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnum.h"
#include "inst.h"

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
        double lo = hiss_strtod_c(p, &end);
        if (end == p || *end != ':')
            goto bad;
        p = end + 1;
        double hi = hiss_strtod_c(p, &end);
        if (end == p || (*end != ',' && *end != '\0') || !isfinite(lo) || !isfinite(hi) || lo == hi)
            goto bad;
        if (i < HP_MAX_KNOBS) {
            in->knob_lo[i] = (float)lo;
            in->knob_hi[i] = (float)hi;
        }
        p = *end == ',' ? end + 1 : end;
        continue;
    bad:
        hp_text(err, HP_TEXT_MAX, "%s: metadata \"hiss.cond_range\" (\"%.200s\"): entry %d is not "
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
    hp_say(s, HP_TEXT_MAX, &len, "%s: %llu parameters, trained at %g Hz", hp_base_name(in->path),
           (unsigned long long)hiss_model_param_count(in->model), c->sample_rate);
    if (cfg->host_rate != c->sample_rate) {
        hp_say(s, HP_TEXT_MAX, &len, "; host at %g Hz: delta mode, SSM time step scaled by %.4f",
               cfg->host_rate, c->sample_rate / cfg->host_rate);
        in->level = HP_WARNING;
    }
    if (in->on_server)
        hp_say(s, HP_TEXT_MAX, &len, "; runs on hiss-server (%s)", cfg->server);
    if (in->latency > 0)
        hp_say(s, HP_TEXT_MAX, &len, "; latency %d frames", in->latency);
    if (c->n_cond == 0) {
        hp_say(s, HP_TEXT_MAX, &len, "; the model has no conditioning inputs: knobs 1-4 do nothing");
        return;
    }
    for (int i = 0; i < in->n_knobs; i++)
        hp_say(s, HP_TEXT_MAX, &len, "%s knob %d = %s", i ? "," : ";", i + 1, in->knob_label[i]);
    if (in->n_knobs < HP_MAX_KNOBS) {
        hp_say(s, HP_TEXT_MAX, &len, "; knob%s", HP_MAX_KNOBS - in->n_knobs > 1 ? "s" : "");
        for (int i = in->n_knobs; i < HP_MAX_KNOBS; i++)
            hp_say(s, HP_TEXT_MAX, &len, "%s %d", i > in->n_knobs ? "," : "", i + 1);
        hp_say(s, HP_TEXT_MAX, &len, " do%s nothing", HP_MAX_KNOBS - in->n_knobs > 1 ? "" : "es");
    }
    if (c->n_cond > HP_MAX_KNOBS)
        hp_say(s, HP_TEXT_MAX, &len, "; conditioning inputs %d-%d have no knob and stay at 0",
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

int hp_inst_load_fx(hp_inst *in, const hp_inst_config *cfg, char *err)
{
    const char *path = in->path;
    hiss_error e = {0};
    if (hiss_model_load(path, &in->model, &e) != HISS_OK) {
        hp_text(err, HP_TEXT_MAX, "%s", e.msg[0] ? e.msg : hiss_status_name(e.status));
        return -1;
    }
    const hiss_config *c = hiss_model_config(in->model);
    if (c->io != cfg->io) {
        hp_text(err, HP_TEXT_MAX, "%s: metadata \"hiss.io\" is \"%s\", this plugin runs \"%s\" models",
                path, hp_io_name(c->io), hp_io_name(cfg->io));
        return -1;
    }
    if (parse_ranges(in, hiss_model_meta(in->model, "hiss.cond_range"), c->n_cond, path, err) != 0)
        return -1;
    in->n_knobs = c->n_cond < HP_MAX_KNOBS ? c->n_cond : HP_MAX_KNOBS;
    for (int i = 0; i < in->n_knobs; i++)
        hp_text(in->knob_label[i], HP_LABEL_MAX, "%.60s (%g to %g)", hiss_model_cond_name(in->model, i),
                (double)in->knob_lo[i], (double)in->knob_hi[i]);
    hiss_stream_opts o = hiss_stream_opts_default();
    o.n_streams = cfg->n_streams;
    o.max_block = cfg->max_block;
    o.host_rate = cfg->host_rate;
    /* Delta mode: no latency, no resampler in the plugin, exact when the rates agree. */
    o.rate_mode = HISS_RATE_DELTA;
    char fallback[HP_TEXT_MAX] = "";
    if (cfg->server[0]) {
        o.backend = HISS_BACKEND_SERVER;
        o.server = cfg->server;
        if (hiss_stream_create(in->model, &o, &in->stream, &e) == HISS_OK)
            in->on_server = 1;
        else
            hp_text(fallback, HP_TEXT_MAX, "%s", e.msg);
    }
    if (!in->stream) {
        o.backend = HISS_BACKEND_AUTO;
        o.server = NULL;
        if (hiss_stream_create(in->model, &o, &in->stream, &e) != HISS_OK) {
            hp_text(err, HP_TEXT_MAX, "%s: %s", path, e.msg[0] ? e.msg : hiss_status_name(e.status));
            return -1;
        }
    }
    const int own = hiss_stream_latency(in->stream);
    in->latency = own > cfg->latency ? own : cfg->latency;
    if (in->latency > own) {
        in->pad_len = in->latency - own;
        in->pad = calloc((size_t)cfg->n_streams * (size_t)in->pad_len, sizeof(float));
        if (!in->pad) {
            hp_text(err, HP_TEXT_MAX, "%s: out of memory", path);
            return -1;
        }
    }
    /* Silence through a server stream warms nothing here. */
    if (!in->on_server && prewarm(in, cfg) != 0) {
        hp_text(err, HP_TEXT_MAX, "%s: out of memory", path);
        return -1;
    }
    describe(in, cfg);
    if (fallback[0]) {
        size_t len = strlen(in->status);
        hp_say(in->status, HP_TEXT_MAX, &len, "; %s: running in this process instead, delayed to the same "
               "latency", fallback);
        in->level = HP_WARNING;
    }
    return 0;
}
