/* A synth instance: load the model, check the host's rate, create the synth with every voice
 * allocated, warm it up; on the audio thread, follow the sampling controls and the seed. */
#include <stdlib.h>
#include <string.h>

#include "inst.h"

#define HP_SYNTH_PREWARM_CHUNK 256

static void describe(hp_inst *in)
{
    const hiss_config *c = hiss_synth_model_config(in->synth_model);
    size_t len = 0;
    char *s = in->status;
    hp_say(s, HP_TEXT_MAX, &len, "%s: %llu parameters, %g Hz, conditioning ", hp_base_name(in->path),
           (unsigned long long)hiss_synth_model_param_count(in->synth_model), c->sample_rate);
    for (int i = 0; i < c->n_cond; i++)
        hp_say(s, HP_TEXT_MAX, &len, "%s%s", i ? "," : "",
               hiss_synth_feature_name(hiss_synth_model_feature(in->synth_model, i)));
    /* Not the sampling settings or the seed: they change in place, after the status is written. */
    hp_say(s, HP_TEXT_MAX, &len, "; %d voice%s", (int)in->params.n_voices, in->params.n_voices == 1 ? "" : "s");
}

/* Sound every voice for a while, so the first notes on the audio thread do not pay for cold
 * caches and first-touch page faults of the voices' states; then reset, which makes the synth
 * play from here exactly as one just created. */
static void prewarm(hp_inst *in, const hp_inst_config *cfg)
{
    const int nv = (int)in->params.n_voices;
    float buf[HP_SYNTH_PREWARM_CHUNK];
    int frames = cfg->prewarm_frames / nv;
    if (cfg->prewarm_frames <= 0)
        return;
    if (frames < 16)
        frames = 16;
    for (int k = 0; k < nv; k++)
        hiss_synth_note_on(in->synth, 36 + k, 100);
    for (int done = 0; done < frames;) {
        int n = frames - done < HP_SYNTH_PREWARM_CHUNK ? frames - done : HP_SYNTH_PREWARM_CHUNK;
        hiss_synth_process(in->synth, buf, n);
        done += n;
    }
    hiss_synth_reset(in->synth);
}

int hp_inst_load_synth(hp_inst *in, const hp_inst_config *cfg, char *err)
{
    const char *path = in->path;
    hiss_error e = {0};
    hiss_io io;
    if (hiss_synth_file_io(path, &io, &e) != HISS_OK) {
        hp_text(err, HP_TEXT_MAX, "%s", e.msg[0] ? e.msg : hiss_status_name(e.status));
        return -1;
    }
    if (io != HISS_IO_SYNTH) {
        hp_text(err, HP_TEXT_MAX, "%s: metadata \"hiss.io\" is \"%s\", this plugin runs \"synth\" models "
                "(an effect model goes in hiss FX)", path, hp_io_name(io));
        return -1;
    }
    if (hiss_synth_model_load(path, &in->synth_model, &e) != HISS_OK) {
        hp_text(err, HP_TEXT_MAX, "%s", e.msg[0] ? e.msg : hiss_status_name(e.status));
        return -1;
    }
    const double rate = hiss_synth_model_config(in->synth_model)->sample_rate;
    if (rate != cfg->host_rate) {
        /* Loaded, so the session keeps the model (and plays it once the host runs at its rate),
         * but silent: a synth model has no delta mode and the plugin does not resample. */
        in->level = HP_ERROR;
        hp_text(in->status, HP_TEXT_MAX, "ERROR: %s is a %g Hz synth model and the host runs at %g Hz: "
                "synth models play only at their own rate (they are not resampled), so the synth is "
                "silent; run the host at %g Hz or load a %g Hz model", path, rate, cfg->host_rate, rate,
                cfg->host_rate);
        hiss_synth_model_free(in->synth_model);
        in->synth_model = NULL;
        return 0;
    }
    hiss_synth_opts o = hiss_synth_opts_default();
    o.n_voices = (int)in->params.n_voices;
    o.temperature = in->params.temperature;
    o.top_p = in->params.top_p;
    o.seed = in->params.seed;
    if (hiss_synth_create(in->synth_model, &o, &in->synth, &e) != HISS_OK) {
        hp_text(err, HP_TEXT_MAX, "%s: %s", path, e.msg[0] ? e.msg : hiss_status_name(e.status));
        return -1;
    }
    prewarm(in, cfg);
    describe(in);
    return 0;
}

void hp_inst_synth_follow(hp_inst *in, const hp_inst_params *p)
{
    if (!in || !in->synth)
        return;
    if (in->params.temperature != p->temperature || in->params.top_p != p->top_p) {
        /* The plugin clamps its ports inside the engine's ranges; a refusal keeps the old values. */
        if (hiss_synth_set_sampling(in->synth, p->temperature, p->top_p) == HISS_OK) {
            in->params.temperature = p->temperature;
            in->params.top_p = p->top_p;
        }
    }
    if (in->params.seed != p->seed) {
        hiss_synth_set_seed(in->synth, p->seed);
        in->params.seed = p->seed;
    }
}
