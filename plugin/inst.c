/* Building a model instance on the worker: what every kind shares (the path, the no-model
 * instance, freeing); the kinds themselves are in inst_fx.c and inst_synth.c. */
#include "inst.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hp_say(char *buf, size_t cap, size_t *len, const char *fmt, ...)
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

void hp_text(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

const char *hp_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

const char *hp_io_name(hiss_io io)
{
    return io == HISS_IO_FX ? "fx" : io == HISS_IO_SYNTH ? "synth" : "unknown";
}

hp_inst *hp_inst_create(const hp_inst_config *cfg, const hp_inst_params *params, const char *path,
                        char *err)
{
    err[0] = '\0';
    if (strlen(path) >= HP_PATH_MAX) {
        hp_text(err, HP_TEXT_MAX, "model path too long (%zu bytes, at most %d): %.200s...",
                strlen(path), HP_PATH_MAX - 1, path);
        return NULL;
    }
    hp_inst *in = calloc(1, sizeof *in);
    if (!in) {
        hp_text(err, HP_TEXT_MAX, "%s: out of memory", path);
        return NULL;
    }
    strcpy(in->path, path);
    in->params = *params;
    in->latency = cfg->latency;
    if (path[0] == '\0') {
        hp_text(in->status, HP_TEXT_MAX, "%s", cfg->io == HISS_IO_SYNTH
                    ? "no model loaded: the synth is silent (set the Model parameter, or pick a preset)"
                    : "no model loaded: audio passes through unchanged");
        return in;
    }
    int rc = cfg->io == HISS_IO_SYNTH ? hp_inst_load_synth(in, cfg, err) : hp_inst_load_fx(in, cfg, err);
    if (rc != 0) {
        hp_inst_free(in);
        return NULL;
    }
    return in;
}

void hp_inst_free(hp_inst *in)
{
    if (!in)
        return;
    hiss_stream_free(in->stream);
    hiss_model_free(in->model);
    hiss_synth_free(in->synth);
    hiss_synth_model_free(in->synth_model);
    free(in->pad);
    free(in);
}
