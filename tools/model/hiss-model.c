/* hiss-model: make a fresh model file (fx or synth), or describe one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"
#include "hiss_synth.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hiss-model init OUT [options]   write a freshly initialised fx model\n"
            "       hiss-model init OUT --synth --cond F1,F2,... [options]\n"
            "                                       write a freshly initialised synth model\n"
            "       hiss-model info MODEL           print a model's configuration and metadata\n"
            "       hiss-model meta MODEL KEY=VALUE...  add or replace metadata (the file is rewritten)\n"
            "init options:\n"
            "  --d-model N      width of the residual stream (default 16)\n"
            "  --n-layer N      Mamba layers (default 2)\n"
            "  --d-state N      SSM state per channel (default 16)\n"
            "  --d-conv N       causal conv taps (default 4)\n"
            "  --expand N       d_inner = expand * d_model (default 2)\n"
            "  --dt-rank N      rank of the delta projection (default ceil(d_model/16))\n"
            "  --n-cond N       conditioning inputs (default 0)\n"
            "  --cond-names a,b names of the conditioning inputs\n"
            "  --skip           add the input sample to the output\n"
            "  --sample-rate HZ (default 48000; 16000 with --synth)\n"
            "  --seed N         (default 1)\n"
            "  --name TEXT      metadata \"name\"\n"
            "synth (--synth; docs/synth.md):\n"
            "  --cond LIST      the features fed to the model, comma-separated, in order, from\n"
            "                   pitch, velocity, gate, onset, decay, release, sin1, cos1, ..., sin8, cos8\n"
            "                   (default pitch,velocity,gate,onset,decay,release,sin1,cos1)\n"
            "  --head-bias      add lm_head.bias\n");
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || *end || v < lo || v > hi) {
        fprintf(stderr, "hiss-model: %s needs an integer from %d to %d (got \"%s\")\n", opt, lo, hi,
                s ? s : "");
        return 0;
    }
    *out = (int)v;
    return 1;
}

/* A model of either kind: init, info and meta do the same things to both. */
typedef struct any_model {
    hiss_model *fx;
    hiss_synth_model *synth;
} any_model;

static void any_free(any_model *a)
{
    hiss_model_free(a->fx);
    hiss_synth_model_free(a->synth);
    a->fx = NULL;
    a->synth = NULL;
}

/* The file, by its "hiss.io"; 0, or -1 with the reason printed. */
static int any_load(const char *path, any_model *a)
{
    hiss_error err = {0};
    hiss_io io;
    a->fx = NULL;
    a->synth = NULL;
    if (hiss_synth_file_io(path, &io, &err) == HISS_OK &&
        (io == HISS_IO_SYNTH ? hiss_synth_model_load(path, &a->synth, &err) : hiss_model_load(path, &a->fx, &err)) ==
            HISS_OK)
        return 0;
    fprintf(stderr, "hiss-model: %s\n", err.msg);
    return -1;
}

static hiss_status any_set_meta(any_model *a, const char *key, const char *value)
{
    return a->synth ? hiss_synth_model_set_meta(a->synth, key, value) : hiss_model_set_meta(a->fx, key, value);
}

/* Write the model to path and free it; the exit status. */
static int any_save_free(any_model *a, const char *path)
{
    hiss_error err = {0};
    const hiss_status st = a->synth ? hiss_synth_model_save(a->synth, path, &err) : hiss_model_save(a->fx, path, &err);
    if (st != HISS_OK)
        fprintf(stderr, "hiss-model: %s\n", err.msg);
    any_free(a);
    return st == HISS_OK ? 0 : 1;
}

static int cmd_init(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        usage(stderr);
        return 2;
    }
    const char *out = argv[0];
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 16;
    c.n_layer = 2;
    c.d_state = 16;
    c.d_conv = 4;
    int expand = 2, seed = 1, rate = 0, synth = 0, head_bias = 0, n_cond_given = 0;
    const char *cond_names = NULL, *name = NULL, *features = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(a, "--d-model")) ok = parse_int(a, v, 1, HISS_MAX_D_MODEL, &c.d_model), i++;
        else if (!strcmp(a, "--n-layer")) ok = parse_int(a, v, 1, HISS_MAX_LAYERS, &c.n_layer), i++;
        else if (!strcmp(a, "--d-state")) ok = parse_int(a, v, 1, HISS_MAX_D_STATE, &c.d_state), i++;
        else if (!strcmp(a, "--d-conv")) ok = parse_int(a, v, 1, HISS_MAX_D_CONV, &c.d_conv), i++;
        else if (!strcmp(a, "--expand")) ok = parse_int(a, v, 1, 64, &expand), i++;
        else if (!strcmp(a, "--dt-rank")) ok = parse_int(a, v, 1, HISS_MAX_D_INNER, &c.dt_rank), i++;
        else if (!strcmp(a, "--n-cond")) ok = parse_int(a, v, 0, HISS_MAX_COND, &c.n_cond), i++, n_cond_given = 1;
        else if (!strcmp(a, "--seed")) ok = parse_int(a, v, 0, 2147483647, &seed), i++;
        else if (!strcmp(a, "--sample-rate")) ok = parse_int(a, v, 1000, 1536000, &rate), i++;
        else if (!strcmp(a, "--cond-names") && v) cond_names = v, i++;
        else if (!strcmp(a, "--cond") && v) features = v, i++;
        else if (!strcmp(a, "--name") && v) name = v, i++;
        else if (!strcmp(a, "--skip")) c.skip = 1;
        else if (!strcmp(a, "--synth")) synth = 1;
        else if (!strcmp(a, "--head-bias")) head_bias = 1;
        else {
            fprintf(stderr, "hiss-model: unknown or incomplete option \"%s\"\n", a);
            return 2;
        }
        if (!ok)
            return 2;
    }
    /* Options of the other kind of model are refused rather than ignored. */
    const char *wrong = synth ? (c.skip ? "--skip" : n_cond_given ? "--n-cond" : cond_names ? "--cond-names" : NULL)
                              : (features ? "--cond" : head_bias ? "--head-bias" : NULL);
    if (wrong) {
        fprintf(stderr, "hiss-model: %s applies to %s models only%s\n", wrong, synth ? "fx" : "synth",
                synth ? " (a synth names its features with --cond)" : " (add --synth)");
        return 2;
    }
    c.sample_rate = rate ? rate : synth ? 16000 : 48000;
    c.d_inner = expand * c.d_model;
    hiss_error err = {0};
    any_model a = {0};
    const hiss_status st =
        synth ? hiss_synth_model_init(&c, features ? features : "pitch,velocity,gate,onset,decay,release,sin1,cos1",
                                      head_bias, (uint64_t)seed, &a.synth, &err)
              : hiss_model_init(&c, (uint64_t)seed, &a.fx, &err);
    if (st != HISS_OK) {
        fprintf(stderr, "hiss-model: %s\n", err.msg);
        return synth ? 2 : 1;
    }
    if (cond_names && hiss_model_set_meta(a.fx, "hiss.cond", cond_names) != HISS_OK) {
        fprintf(stderr, "hiss-model: --cond-names \"%s\" must give %d comma-separated names\n", cond_names,
                c.n_cond);
        any_free(&a);
        return 2;
    }
    if (name)
        any_set_meta(&a, "name", name);
    any_set_meta(&a, "description", "freshly initialised, untrained");
    return any_save_free(&a, out);
}

static void print_dims(const char *path, const char *io, const hiss_config *c)
{
    printf("file         %s\n", path);
    printf("io           %s\n", io);
    printf("sample_rate  %g Hz\n", c->sample_rate);
    printf("d_model      %d\nn_layer      %d\nd_inner      %d\nd_state      %d\nd_conv       %d\n"
           "dt_rank      %d\n", c->d_model, c->n_layer, c->d_inner, c->d_state, c->d_conv, c->dt_rank);
}

static void info_synth(const char *path, const hiss_synth_model *m)
{
    const hiss_config *c = hiss_synth_model_config(m);
    const uint64_t macs = hiss_synth_model_macs_per_sample(m);
    const uint64_t head = (uint64_t)(HISS_SYNTH_CLASSES + c->n_cond) * (uint64_t)c->d_model;
    print_dims(path, "synth", c);
    printf("rms_eps      %g\n", (double)c->rms_eps);
    printf("features     %d", c->n_cond);
    for (int i = 0; i < c->n_cond; i++)
        printf("%s%s", i ? ", " : " (", hiss_synth_feature_name(hiss_synth_model_feature(m, i)));
    printf(")\n");
    printf("lm_head.bias %s\n", hiss_synth_model_tensor_by_name(m, "lm_head.bias").data ? "yes" : "no");
    printf("parameters   %llu\n", (unsigned long long)hiss_synth_model_param_count(m));
    printf("MACs/sample  %llu (backbone %llu, head (256 + %d) x %d = %llu), per voice\n", (unsigned long long)macs,
           (unsigned long long)(macs - head), c->n_cond, c->d_model, (unsigned long long)head);
    printf("exp/sample   %llu, per voice, plus the sampler's 256\n",
           (unsigned long long)c->n_layer * c->d_inner * c->d_state);
}

static void info_fx(const char *path, const hiss_model *m)
{
    const hiss_config *c = hiss_model_config(m);
    print_dims(path, c->io == HISS_IO_FX ? "fx" : "synth", c);
    printf("skip         %s\nrms_eps      %g\n", c->skip ? "yes" : "no", (double)c->rms_eps);
    printf("conditioning %d", c->n_cond);
    for (int i = 0; i < c->n_cond; i++)
        printf("%s%s", i ? ", " : " (", hiss_model_cond_name(m, i));
    printf("%s\n", c->n_cond ? ")" : "");
    printf("parameters   %llu\n", (unsigned long long)hiss_model_param_count(m));
    printf("MACs/sample  %llu\n", (unsigned long long)hiss_model_macs_per_sample(m));
    printf("exp/sample   %llu\n", (unsigned long long)c->n_layer * c->d_inner * c->d_state);
}

static int cmd_info(int argc, char **argv)
{
    if (argc != 1) {
        usage(stderr);
        return 2;
    }
    any_model a;
    if (any_load(argv[0], &a) != 0)
        return 1;
    if (a.synth)
        info_synth(argv[0], a.synth);
    else
        info_fx(argv[0], a.fx);
    printf("metadata:\n");
    const int n = a.synth ? hiss_synth_model_meta_count(a.synth) : hiss_model_meta_count(a.fx);
    for (int i = 0; i < n; i++) {
        const char *k, *v;
        if (a.synth)
            hiss_synth_model_meta_at(a.synth, i, &k, &v);
        else
            hiss_model_meta_at(a.fx, i, &k, &v);
        printf("  %s: %s\n", k, v);
    }
    any_free(&a);
    return 0;
}

static int cmd_meta(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    any_model a;
    if (any_load(argv[0], &a) != 0)
        return 1;
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            fprintf(stderr, "hiss-model: \"%s\" is not KEY=VALUE\n", argv[i]);
            any_free(&a);
            return 2;
        }
        *eq = 0;
        const char *key = argv[i];
        /* saving writes these from the configuration (a synth's feature list included) */
        if (!strcmp(key, "hiss.io") || !strcmp(key, "sample_rate") || !strcmp(key, "rms_eps") ||
            !strcmp(key, "hiss.skip") || (a.synth && !strcmp(key, "hiss.cond"))) {
            fprintf(stderr, "hiss-model: %s follows from the model and cannot be set\n", key);
            any_free(&a);
            return 2;
        }
        if (any_set_meta(&a, key, eq + 1) != HISS_OK) {
            fprintf(stderr, "hiss-model: cannot set %s to \"%s\"\n", key, eq + 1);
            any_free(&a);
            return 2;
        }
    }
    return any_save_free(&a, argv[0]);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("hiss-model %s\n", hiss_version());
        return 0;
    }
    if (!strcmp(argv[1], "init"))
        return cmd_init(argc - 2, argv + 2);
    if (!strcmp(argv[1], "info"))
        return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "meta"))
        return cmd_meta(argc - 2, argv + 2);
    fprintf(stderr, "hiss-model: unknown command \"%s\" (init, info or meta)\n", argv[1]);
    return 2;
}
