/* The synth step against the float64 reference of docs/synth.md: teacher-forced previous classes
 * and the conditioning of a note through its attack, a pitch bend, hold and release, a few
 * thousand samples, on three configurations (with and without lm_head.bias, subsets and orders of
 * the features, the phase features among them). The engine's conditioning comes from
 * hiss_synth_note_advance / hiss_synth_feature_value, the reference's from its own clocks and
 * formulas (synth_ref.c), so the features are checked too. Pass: relative L2 error of the logits
 * below 1e-5, every feature within float rounding (2^-24 relative, 1e-7 absolute) of the
 * reference's. Also: a saved and reloaded model gives the same bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "synth_ref.h"

#define STEPS 3000

static uint64_t rs = 12345;
static double urand(void)
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

/* Move every weight off the initialisation a little, so that no norm is exactly 1, no D exactly
 * 1, and A_log differs along d_inner: the test then sees every weight's role. */
static void perturb(hiss_synth_model *m)
{
    const hiss_config *c = hiss_synth_model_config(m);
    const char *head[] = {"embedding.weight", "cond_proj.weight", "cond_proj.bias", "lm_head.weight",
                          "lm_head.bias", "backbone.norm_f.weight"};
    const char *layer[] = {"norm.weight", "mixer.in_proj.weight", "mixer.conv1d.weight", "mixer.conv1d.bias",
                           "mixer.x_proj.weight", "mixer.dt_proj.weight", "mixer.dt_proj.bias",
                           "mixer.A_log", "mixer.D", "mixer.out_proj.weight"};
    char name[128];
    for (int i = 0; i < 6 + c->n_layer * 10; i++) {
        if (i < 6)
            snprintf(name, sizeof name, "%s", head[i]);
        else
            snprintf(name, sizeof name, "backbone.layers.%d.%s", (i - 6) / 10, layer[(i - 6) % 10]);
        hiss_tensor t = hiss_synth_model_tensor_by_name(m, name);
        if (!t.data)
            continue;
        for (size_t j = 0; j < t.numel; j++)
            t.data[j] += (float)(0.1 * (2.0 * urand() - 1.0));
    }
    hiss_synth_model_finish(m);
}

static int run(const char *label, const hiss_config *cfg, const char *cond, int bias, const char *tmp)
{
    hiss_error err = {0};
    hiss_synth_model *m = NULL;
    if (hiss_synth_model_init(cfg, cond, bias, 7, &m, &err) != HISS_OK) {
        printf("FAIL %s: init: %s\n", label, err.msg);
        return 1;
    }
    perturb(m);
    const hiss_config *c = hiss_synth_model_config(m);
    synth_ref *ref = synth_ref_new(m);
    float *state = calloc(hiss_synth_state_floats(m), sizeof(float));
    float *scratch = calloc(hiss_synth_scratch_floats(m), sizeof(float));
    float logits[256], cf[HISS_MAX_COND];
    double lref[256], cd[HISS_MAX_COND];
    double num = 0.0, den = 0.0, worst = 0.0;
    double feat_err = 0.0;
    const double rate = c->sample_rate;
    hiss_synth_note note = hiss_synth_note_start(60.0 + 0.37, 100);
    synth_ref_note rn = synth_ref_note_start(60.0 + 0.37, 100);
    for (int t = 0; t < STEPS; t++) {
        if (t == 900) {
            /* A bend mid-note, as the voices apply it: the pitch changes, the phase goes on. */
            note.pitch = 60.0 + 0.37 - 1.63;
            rn.pitch = 60.0 + 0.37 - 1.63;
        }
        if (t == 2000) {
            note.gate = 0;
            note.n_off = 0;
            synth_ref_note_release(&rn);
        }
        const double x = 0.6 * sin(6.283185307179586 * 261.6 * t / rate) * exp(-t / 1500.0) + 0.01 * (urand() - 0.5);
        const int prev = t == 0 ? HISS_SYNTH_SILENCE_CLASS : hiss_synth_mulaw_encode((float)x);
        synth_ref_features(m, &rn, cd);
        for (int i = 0; i < c->n_cond; i++) {
            cf[i] = hiss_synth_feature_value(hiss_synth_model_feature(m, i), &note, rate);
            const double e = fabs((double)cf[i] - cd[i]);
            if (!(e <= fmax(1e-7, fabs(cd[i]) * 0x1p-24)))
                feat_err = fmax(feat_err, e > 0 ? e : 1.0);
        }
        hiss_synth_step(m, state, prev, cf, logits, scratch);
        synth_ref_step(ref, prev, cd, lref);
        double n2 = 0.0, d2 = 0.0;
        for (int k = 0; k < 256; k++) {
            const double e = (double)logits[k] - lref[k];
            n2 += e * e;
            d2 += lref[k] * lref[k];
        }
        num += n2;
        den += d2;
        if (sqrt(n2 / d2) > worst)
            worst = sqrt(n2 / d2);
        hiss_synth_note_advance(&note, rate);
        synth_ref_note_advance(&rn, rate);
    }
    const double rel = sqrt(num / den);
    int fail = !(rel < 1e-5) || feat_err > 0.0;
    printf("%s %s: relative L2 of logits over %d steps %.3e (worst step %.3e), logit rms %.3f; features %s\n",
           fail ? "FAIL" : "ok", label, STEPS, rel, worst, sqrt(den / (256.0 * STEPS)),
           feat_err > 0.0 ? "differ from the reference's beyond float rounding" : "within float rounding");

    /* Save, load, and compare the first 200 steps bit for bit. */
    if (hiss_synth_model_save(m, tmp, &err) != HISS_OK) {
        printf("FAIL %s: save: %s\n", label, err.msg);
        fail = 1;
    } else {
        hiss_synth_model *m2 = NULL;
        if (hiss_synth_model_load(tmp, &m2, &err) != HISS_OK) {
            printf("FAIL %s: load: %s\n", label, err.msg);
            fail = 1;
        } else {
            float *s2 = calloc(hiss_synth_state_floats(m2), sizeof(float));
            float l2[256];
            memset(state, 0, hiss_synth_state_floats(m) * sizeof(float));
            int diff = 0;
            for (int t = 0; t < 200; t++) {
                for (int i = 0; i < c->n_cond; i++)
                    cf[i] = (float)(0.5 * sin(t * 0.01 * (i + 1)));
                const int prev = (t * 37) % 256;
                hiss_synth_step(m, state, prev, cf, logits, scratch);
                hiss_synth_step(m2, s2, prev, cf, l2, scratch);
                diff += memcmp(logits, l2, sizeof logits) != 0;
            }
            const int same_cfg = hiss_synth_model_config(m2)->n_layer == c->n_layer &&
                                 hiss_synth_model_param_count(m2) == hiss_synth_model_param_count(m);
            printf("%s %s: reloaded model: %d of 200 steps differ, %llu parameters\n",
                   diff || !same_cfg ? "FAIL" : "ok", label, diff,
                   (unsigned long long)hiss_synth_model_param_count(m2));
            fail |= diff != 0 || !same_cfg;
            free(s2);
            hiss_synth_model_free(m2);
        }
        remove(tmp);
    }
    free(state);
    free(scratch);
    synth_ref_free(ref);
    hiss_synth_model_free(m);
    return fail;
}

int main(void)
{
    int fail = 0;
    hiss_config a = {0};
    a.d_model = 16;
    a.n_layer = 2;
    a.d_state = 8;
    a.d_conv = 4;
    a.sample_rate = 16000;
    fail |= run("d16x2", &a, "pitch,velocity,gate,onset,decay,release,sin1,cos1", 0,
                HISS_TEST_TMP "/synth_step_a.safetensors");
    hiss_config b = {0};
    b.d_model = 24;
    b.n_layer = 3;
    b.d_inner = 40;
    b.d_state = 16;
    b.d_conv = 3;
    b.dt_rank = 3;
    b.sample_rate = 24000;
    b.rms_eps = 1e-4f;
    fail |= run("d24x3+bias", &b, "gate,pitch,release", 1, HISS_TEST_TMP "/synth_step_b.safetensors");
    /* The phase features alone in a shuffled order, at 48 kHz. */
    hiss_config p = a;
    p.d_model = 12;
    p.sample_rate = 48000;
    fail |= run("d12x2+phase", &p, "cos2,sin1,pitch,sin2,cos1", 1, HISS_TEST_TMP "/synth_step_c.safetensors");
    /* Higher harmonics (sinK/cosK up to 8) among the others. */
    fail |= run("d12x2+harmonics", &p, "sin3,cos8,pitch,sin5,cos4,sin8,gate,cos6,sin7", 1,
                HISS_TEST_TMP "/synth_step_d.safetensors");
    printf("%s\n", fail ? "FAILED" : "all passed");
    return fail;
}
