/* Synth model files: a saved file loads back; each malformed variant is refused with a message
 * that names the tensor or field at fault; truncations and byte flips of a valid file are refused
 * or loaded, never crash (the sanitizer build checks the reads). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss_synth.h"
#include "safetensors.h"

#include "check.h"

#define TMP HISS_TEST_TMP "/synth_model_test.safetensors"

static hiss_synth_model *model;
static char names[64][96];
static int64_t shapes[64][3];
static st_out_tensor tens[64];
static int n_tens;

static void collect(void)
{
    const hiss_config *c = hiss_synth_model_config(model);
    const char *layer[] = {"norm.weight", "mixer.in_proj.weight", "mixer.conv1d.weight", "mixer.conv1d.bias",
                           "mixer.x_proj.weight", "mixer.dt_proj.weight", "mixer.dt_proj.bias",
                           "mixer.A_log", "mixer.D", "mixer.out_proj.weight"};
    n_tens = 0;
    const char *pre[] = {"embedding.weight", "cond_proj.weight", "cond_proj.bias"};
    for (int i = 0; i < 3; i++)
        snprintf(names[n_tens++], 96, "%s", pre[i]);
    for (int l = 0; l < c->n_layer; l++)
        for (int j = 0; j < 10; j++)
            snprintf(names[n_tens++], 96, "backbone.layers.%d.%s", l, layer[j]);
    snprintf(names[n_tens++], 96, "backbone.norm_f.weight");
    snprintf(names[n_tens++], 96, "lm_head.weight");
    for (int i = 0; i < n_tens; i++) {
        hiss_tensor t = hiss_synth_model_tensor_by_name(model, names[i]);
        if (!t.data) {
            printf("FAIL: tensor %s not found\n", names[i]);
            exit(1);
        }
        for (int d = 0; d < t.ndim; d++)
            shapes[i][d] = t.shape[d];
        tens[i] = (st_out_tensor){names[i], t.ndim, shapes[i], t.data};
    }
}

typedef struct variant {
    const char *what;
    const char *io;
    const char *cond;
    int drop;          /* index of a tensor left out, -1 none */
    const char *rename_from, *rename_to;
    int emb_rows;      /* 0: as is */
    int nan_at;        /* tensor index given a NaN, -1 none */
    const char *extra; /* an extra tensor's name */
    const char *expect;
} variant;

static float scratch[256 * 64];

static void check_variant(const variant *v)
{
    st_out_tensor t[66];
    int n = 0;
    int64_t emb_shape[2];
    for (int i = 0; i < n_tens; i++) {
        if (i == v->drop)
            continue;
        t[n] = tens[i];
        if (v->rename_from && strcmp(t[n].name, v->rename_from) == 0)
            t[n].name = v->rename_to;
        if (i == 0 && v->emb_rows) {
            emb_shape[0] = v->emb_rows;
            emb_shape[1] = shapes[0][1];
            t[n].shape = emb_shape;
        }
        if (i == v->nan_at) {
            hiss_tensor src = hiss_synth_model_tensor_by_name(model, names[i]);
            memcpy(scratch, src.data, src.numel * sizeof(float));
            scratch[src.numel / 2] = 0.0f / 0.0f;
            t[n].data = scratch;
        }
        n++;
    }
    int64_t one[2] = {16, 2};
    if (v->extra)
        t[n++] = (st_out_tensor){v->extra, 2, one, scratch};
    st_kv meta[3];
    int nm = 0;
    if (v->io)
        meta[nm++] = (st_kv){"hiss.io", (char *)v->io};
    meta[nm++] = (st_kv){"sample_rate", "16000"};
    if (v->cond)
        meta[nm++] = (st_kv){"hiss.cond", (char *)v->cond};
    hiss_error err = {0};
    if (st_write_f32(TMP, t, n, meta, nm, &err) != HISS_OK) {
        CHECK(0, "%s: writing the variant: %s", v->what, err.msg);
        return;
    }
    hiss_synth_model *m = NULL;
    hiss_status st = hiss_synth_model_load(TMP, &m, &err);
    if (!v->expect) {
        CHECK(st == HISS_OK, "%s: must load, got %s", v->what, err.msg);
        if (st == HISS_OK)
            printf("ok %s: loads\n", v->what);
    } else {
        CHECK(st != HISS_OK && m == NULL && strstr(err.msg, v->expect), "%s: expected an error with \"%s\", got "
              "status %d \"%s\"", v->what, v->expect, st, st == HISS_OK ? "" : err.msg);
        if (st != HISS_OK)
            printf("ok %s: %s\n", v->what, err.msg);
    }
    hiss_synth_model_free(m);
}

static void test_fuzz(void)
{
    hiss_error err;
    if (hiss_synth_model_save(model, TMP, &err) != HISS_OK) {
        CHECK(0, "save: %s", err.msg);
        return;
    }
    FILE *f = fopen(TMP, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size), *mut = malloc((size_t)size);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        CHECK(0, "read back");
    fclose(f);
    int refused = 0, loaded = 0;
    for (long len = 0; len < size; len += (len < 600 ? 1 : 97)) {
        hiss_synth_model *m = NULL;
        memcpy(mut, buf, (size_t)len);
        if (hiss_synth_model_load_memory(mut, (size_t)len, "truncated", &m, &err) == HISS_OK) {
            loaded++;
            hiss_synth_model_free(m);
        } else {
            refused++;
        }
    }
    CHECK(loaded == 0, "%d truncated files loaded", loaded);
    uint64_t x = 88172645463325252ull;
    int flips_ok = 0, flips_refused = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(mut, buf, (size_t)size);
        for (int j = 0; j < 1 + i % 4; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* Most flips in the header, where the structure is. */
            const long hdr = 8 + (long)(buf[0] | buf[1] << 8);
            const long at = (long)(x % (uint64_t)(i % 3 ? (hdr < size ? hdr : size) : size));
            mut[at] ^= (unsigned char)(1u << ((x >> 32) % 8));
        }
        hiss_synth_model *m = NULL;
        if (hiss_synth_model_load_memory(mut, (size_t)size, "flipped", &m, &err) == HISS_OK) {
            flips_ok++;
            /* A model that loads must run. */
            float *st = calloc(hiss_synth_state_floats(m), sizeof(float));
            float *sc = calloc(hiss_synth_scratch_floats(m), sizeof(float));
            float lg[256], cd[HISS_MAX_COND] = {0};
            hiss_synth_step(m, st, 128, cd, lg, sc);
            free(st);
            free(sc);
            hiss_synth_model_free(m);
        } else {
            flips_refused++;
            CHECK(err.msg[0] != 0, "a refusal must say why");
        }
    }
    printf("ok fuzz: %d truncations refused, 3000 mutated files: %d refused, %d loaded and ran\n", refused,
           flips_refused, flips_ok);
    free(buf);
    free(mut);
}

/* The temperature a model asks to be played at: a plain decimal from 0 to 100, else 1. */
static void test_temperature(void)
{
    CHECK(hiss_synth_model_temperature(model) == 1.0f, "no hiss.synth.temperature: 1");
    static const struct {
        const char *meta;
        float want;
    } t[] = {{"0.7", 0.7f}, {"0.85", 0.85f}, {"1", 1.0f}, {"0", 0.0f}, {"2.5", 2.5f},
             {"100", 100.0f}, {"100.5", 1.0f}, {"0,7", 1.0f}, {"7e-1", 1.0f}, {"-0.5", 1.0f},
             {"", 1.0f}, {".", 1.0f}, {"0.7 ", 1.0f}, {"abc", 1.0f}, {"1.2.3", 1.0f}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        if (hiss_synth_model_set_meta(model, "hiss.synth.temperature", t[i].meta) != HISS_OK) {
            CHECK(0, "set_meta hiss.synth.temperature");
            continue;
        }
        const float got = hiss_synth_model_temperature(model);
        CHECK(fabsf(got - t[i].want) <= 1e-6f * t[i].want, "hiss.synth.temperature \"%s\": %g, expected %g",
              t[i].meta, got, t[i].want);
    }
}

int main(void)
{
    hiss_config c = {0};
    c.d_model = 8;
    c.n_layer = 2;
    c.d_state = 4;
    c.d_conv = 3;
    c.sample_rate = 16000;
    hiss_error err;
    if (hiss_synth_model_init(&c, "pitch,gate", 0, 1, &model, &err) != HISS_OK) {
        printf("FAIL init: %s\n", err.msg);
        return 1;
    }
    collect();
    const variant v[] = {
        {"valid", "synth", "pitch,gate", -1, NULL, NULL, 0, -1, NULL, NULL},
        {"fx io", "fx", "pitch,gate", -1, NULL, NULL, 0, -1, NULL, "metadata \"hiss.io\" is \"fx\", expected \"synth\""},
        {"no io", NULL, "pitch,gate", -1, NULL, NULL, 0, -1, NULL, "metadata \"hiss.io\" is missing"},
        {"no lm_head", "synth", "pitch,gate", 24, NULL, NULL, 0, -1, NULL, "missing tensor lm_head.weight"},
        {"no layer tensor", "synth", "pitch,gate", 7, NULL, NULL, 0, -1, NULL,
         "missing tensor backbone.layers.0.mixer.x_proj.weight"},
        {"embedding rows", "synth", "pitch,gate", -1, NULL, NULL, 255, -1, NULL,
         "embedding.weight has 255 rows, expected 256"},
        {"unknown feature", "synth", "pitch,gat", -1, NULL, NULL, 0, -1, NULL, "\"gat\" is not a synth feature"},
        {"feature count", "synth", "pitch", -1, NULL, NULL, 0, -1, NULL, "names 1 features but cond_proj.weight has 2"},
        {"feature twice", "synth", "gate,gate", -1, NULL, NULL, 0, -1, NULL, "names \"gate\" twice"},
        {"no hiss.cond", "synth", NULL, -1, NULL, NULL, 0, -1, NULL, "metadata \"hiss.cond\" is missing"},
        {"NaN weight", "synth", "pitch,gate", -1, NULL, NULL, 0, 2, NULL, "tensor cond_proj.bias has a non-finite"},
        {"extra tensor", "synth", "pitch,gate", -1, NULL, NULL, 0, -1, "input_proj.weight",
         "unexpected tensor input_proj.weight"},
        {"layer gap", "synth", "pitch,gate", -1, "backbone.layers.1.norm.weight", "backbone.layers.2.norm.weight", 0, -1,
         NULL, "unexpected tensor backbone.layers.2.norm.weight (not part of a 1-layer synth model)"},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        check_variant(&v[i]);
    test_fuzz();
    test_temperature();
    remove(TMP);
    hiss_synth_model_free(model);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
