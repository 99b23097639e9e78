/* hiss-model for synth files: `init --synth --cond ...` writes what hiss_synth_model_init makes for
 * the same configuration and seed (every tensor to the bit, features in order, head bias,
 * metadata); `info` prints the parameter count and the MACs per sample that this test computes
 * from the dimensions itself (docs/model-format.md's per-layer count plus the synth head's
 * (256 + n_cond) * d_model and the final norm); `meta` edits descriptive keys and refuses derived
 * ones; wrong options are refused with a message.
 *   test_synth_cli HISS_MODEL WORKDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "hiss_synth.h"

#include "check.h"

static char out[16384];

/* Run a shell command, its stdout and stderr into out; the exit status. */
static int sh(const char *cmd)
{
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    const size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    const int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static unsigned long long field(const char *name)
{
    const char *p = strstr(out, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_synth_cli HISS_MODEL WORKDIR\n");
        return 2;
    }
    const char *tool = argv[1], *dir = argv[2];
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s/cli_synth.safetensors", dir);
    const char *feats = "pitch,velocity,gate,onset,decay,release,sin1,cos1";

    snprintf(cmd, sizeof cmd,
             "'%s' init '%s' --synth --cond %s --d-model 24 --n-layer 2 --d-state 8 --d-conv 3 --expand 3 "
             "--sample-rate 24000 --seed 5 --head-bias --name cli-test",
             tool, path, feats);
    int rc = sh(cmd);
    CHECK(rc == 0, "init --synth: exit %d: %s", rc, out);

    hiss_synth_model *m = NULL, *want = NULL;
    hiss_error err;
    if (hiss_synth_model_load(path, &m, &err) != HISS_OK) {
        printf("FAIL load: %s\n", err.msg);
        return 1;
    }
    hiss_config c = {0};
    c.d_model = 24;
    c.n_layer = 2;
    c.d_state = 8;
    c.d_conv = 3;
    c.d_inner = 72;
    c.sample_rate = 24000;
    if (hiss_synth_model_init(&c, feats, 1, 5, &want, &err) != HISS_OK) {
        printf("FAIL init: %s\n", err.msg);
        return 1;
    }
    const hiss_config *mc = hiss_synth_model_config(m);
    CHECK(mc->d_model == 24 && mc->n_layer == 2 && mc->d_state == 8 && mc->d_conv == 3 && mc->d_inner == 72 &&
              mc->sample_rate == 24000 && mc->n_cond == 8,
          "configuration %d %d %d %d %d %g %d", mc->d_model, mc->n_layer, mc->d_state, mc->d_conv, mc->d_inner,
          mc->sample_rate, mc->n_cond);
    char got_feats[256] = "";
    for (int i = 0; i < mc->n_cond; i++)
        snprintf(got_feats + strlen(got_feats), sizeof got_feats - strlen(got_feats), "%s%s", i ? "," : "",
                 hiss_synth_feature_name(hiss_synth_model_feature(m, i)));
    CHECK(!strcmp(got_feats, feats), "features %s, expected %s", got_feats, feats);
    const char *nm = hiss_synth_model_meta(m, "name");
    CHECK(nm && !strcmp(nm, "cli-test"), "metadata name is %s", nm ? nm : "(missing)");
    /* Every tensor as hiss_synth_model_init makes it. */
    const char *head[] = {"embedding.weight", "cond_proj.weight", "cond_proj.bias", "lm_head.weight",
                          "lm_head.bias", "backbone.norm_f.weight", "backbone.layers.1.mixer.A_log",
                          "backbone.layers.0.mixer.in_proj.weight", "backbone.layers.1.mixer.x_proj.weight"};
    int same = 1;
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) {
        const hiss_tensor a = hiss_synth_model_tensor_by_name(m, head[i]);
        const hiss_tensor b = hiss_synth_model_tensor_by_name(want, head[i]);
        const int eq = a.data && b.data && a.numel == b.numel && !memcmp(a.data, b.data, a.numel * sizeof(float));
        CHECK(eq, "tensor %s differs from hiss_synth_model_init's", head[i]);
        same &= eq;
    }

    /* info: the counts, from the dimensions. */
    const unsigned long long dm = 24, di = 72, ds = 8, dc = 3, nl = 2, nc = 8;
    const unsigned long long dr = (dm + 15) / 16; /* ceil(d_model / 16) */
    const unsigned long long params = 256 * dm + dm * nc + dm + 256 * dm + 256 + dm +
                                      nl * (dm + 2 * di * dm + di * dc + di + (dr + 2 * ds) * di + di * dr + di +
                                            di * ds + di + dm * di);
    const unsigned long long macs = nl * (2 * di * dm + di * dc + (dr + 2 * ds) * di + di * dr + 3 * di * ds + di +
                                          dm * di + 2 * dm) +
                                    2 * dm + (256 + nc) * dm;
    snprintf(cmd, sizeof cmd, "'%s' info '%s'", tool, path);
    rc = sh(cmd);
    printf("%s", out);
    CHECK(rc == 0, "info: exit %d", rc);
    CHECK(strstr(out, "io           synth"), "info does not say synth");
    CHECK(strstr(out, "features     8 (pitch, velocity, gate, onset, decay, release, sin1, cos1)"),
          "info does not list the features in order");
    CHECK(strstr(out, "lm_head.bias yes"), "info does not report the head bias");
    CHECK(field("parameters   ") == params, "info: %llu parameters, computed here %llu", field("parameters   "),
          params);
    CHECK(field("MACs/sample  ") == macs, "info: %llu MACs/sample, computed here %llu", field("MACs/sample  "), macs);
    CHECK(hiss_synth_model_param_count(m) == params, "hiss_synth_model_param_count %llu, computed here %llu",
          (unsigned long long)hiss_synth_model_param_count(m), params);
    printf("%s init --synth / info: %llu parameters and %llu MACs/sample as computed here; tensors %s\n",
           failures ? "FAIL" : "ok", params, macs, same ? "equal to hiss_synth_model_init's" : "DIFFER");

    /* meta: descriptive keys in, derived keys refused. */
    snprintf(cmd, sizeof cmd, "'%s' meta '%s' author=hiss-tests && '%s' info '%s'", tool, path, tool, path);
    rc = sh(cmd);
    CHECK(rc == 0 && strstr(out, "  author: hiss-tests"), "meta author: exit %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "'%s' meta '%s' hiss.cond=pitch", tool, path);
    rc = sh(cmd);
    CHECK(rc == 2 && strstr(out, "hiss.cond follows from the model"), "meta hiss.cond: exit %d: %s", rc, out);

    /* Refusals. */
    struct {
        const char *args, *msg;
        int code;
    } bad[] = {
        {"--synth --cond pitch,buzz", "\"buzz\" is not a synth feature", 2},
        {"--synth --cond pitch,pitch", "names \"pitch\" twice", 2},
        {"--cond pitch", "--cond applies to synth models only", 2},
        {"--synth --skip", "--skip applies to fx models only", 2},
        {"--synth --n-cond 3", "--n-cond applies to fx models only", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(cmd, sizeof cmd, "'%s' init '%s/cli_bad.safetensors' %s", tool, dir, bad[i].args);
        rc = sh(cmd);
        CHECK(rc == bad[i].code && strstr(out, bad[i].msg), "init %s: exit %d: %s", bad[i].args, rc, out);
        snprintf(cmd, sizeof cmd, "%s/cli_bad.safetensors", dir);
        FILE *f = fopen(cmd, "rb");
        CHECK(!f, "init %s left a file", bad[i].args);
        if (f)
            fclose(f);
    }
    printf("%s meta and refusals\n", failures ? "FAIL" : "ok");
    hiss_synth_model_free(m);
    hiss_synth_model_free(want);
    remove(path);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
