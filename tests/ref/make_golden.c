/* Regenerates tests/data/golden.safetensors, golden_in.f32 and golden_out.f32 from the float64
 * reference alone (no engine code): a small model, an input signal and the reference's output,
 * the last two as raw little-endian float32.
 *
 *   make_golden [output dir]     (default: the source tree's tests/data) */
#include "golden_spec.h"
#include "ref_model.h"
#include "ref_signal.h"
#include "ref_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HISS_TEST_DATA_DIR
#define HISS_TEST_DATA_DIR "."
#endif

static int write_f32(const char *path, const float *x, int n)
{
    unsigned char *buf = malloc((size_t)n * 4);
    if (!buf)
        return -1;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int b = 0; b < 4; b++)
            buf[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    int rc = ref_write_bytes(path, buf, (size_t)n * 4);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : HISS_TEST_DATA_DIR;
    char path[1024];
    ref_model *m = ref_model_random(&golden_config, GOLDEN_MODEL_SEED);
    if (!m) {
        fprintf(stderr, "make_golden: out of memory\n");
        return 1;
    }
    const char *extra[] = {"hiss.description", "golden test model of tests/test_engine_golden.c"};
    ref_write_opts o = {0};
    o.dtype = REF_F32;
    o.cond_names = GOLDEN_COND_NAME;
    o.extra = extra;
    o.n_extra = 1;
    ref_model_round(m, &o);
    snprintf(path, sizeof path, "%s/%s", dir, GOLDEN_MODEL);
    if (ref_write_file(m, &o, path) != 0)
        return 1;
    printf("wrote %s\n", path);

    static float in[GOLDEN_N], out[GOLDEN_N];
    ref_signal(in, GOLDEN_N, GOLDEN_SIGNAL_SEED, golden_config.sample_rate);
    ref_state *st = ref_state_new(m);
    double u[2] = {0.0, 0.0};
    int e = 0;
    for (int t = 0; t < GOLDEN_N; t++) {
        while (e < GOLDEN_N_CONDS && golden_conds[e].at <= t)
            u[1] = golden_conds[e++].value;
        u[0] = in[t];
        out[t] = (float)ref_step(m, st, u, 1.0);
    }
    ref_state_free(st);
    snprintf(path, sizeof path, "%s/%s", dir, GOLDEN_IN);
    if (write_f32(path, in, GOLDEN_N) != 0)
        return 1;
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s/%s", dir, GOLDEN_OUT);
    if (write_f32(path, out, GOLDEN_N) != 0)
        return 1;
    printf("wrote %s\n", path);
    ref_model_free(m);
    return 0;
}
