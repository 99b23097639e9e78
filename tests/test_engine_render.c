/* hiss_render_offline on the CPU equals a stream fed in blocks, bit for bit, with conditioning;
 * a CUDA request without a device is refused with a message, never silently run elsewhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hiss.h"

int main(void)
{
    hiss_config c = {0};
    c.io = HISS_IO_FX;
    c.d_model = 12;
    c.n_layer = 2;
    c.d_state = 8;
    c.d_conv = 4;
    c.n_cond = 1;
    c.skip = 1;
    hiss_model *m;
    hiss_error err = {0};
    if (hiss_model_init(&c, 7, &m, &err) != HISS_OK) {
        printf("init: %s\n", err.msg);
        return 1;
    }
    const size_t n = 20000;
    float *in = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    for (size_t t = 0; t < n; t++)
        in[t] = 0.4f * sinf(0.01f * (float)t) + 0.1f * sinf(0.37f * (float)t);
    const float cond[1] = {0.3f};
    int fails = 0;
    if (hiss_render_offline(m, in, a, n, HISS_BACKEND_CPU, cond, &err) != HISS_OK) {
        printf("FAIL: render: %s\n", err.msg);
        return 1;
    }
    hiss_stream_opts o = hiss_stream_opts_default();
    o.max_block = 333;
    o.backend = HISS_BACKEND_CPU;
    hiss_stream *s;
    hiss_stream_create(m, &o, &s, &err);
    hiss_stream_set_cond(s, 0, 0, cond[0]);
    for (size_t t = 0; t < n; t += 333) {
        int len = (int)(n - t < 333 ? n - t : 333);
        const float *ip[1] = {in + t};
        float *op[1] = {b + t};
        hiss_stream_process(s, ip, op, len);
    }
    double e = 0, r = 0;
    for (size_t t = 0; t < n; t++) {
        e += fabs((double)a[t] - b[t]);
        r += fabs((double)b[t]);
    }
    int same = memcmp(a, b, n * sizeof(float)) == 0;
    printf("offline CPU render vs stream in blocks of 333: %s (sum |diff| %g over sum |out| %g)\n",
           same ? "bit-identical" : "DIFFERENT", e, r);
    fails += !same || !(r > 0);
    /* in place */
    memcpy(b, in, n * sizeof(float));
    hiss_render_offline(m, b, b, n, HISS_BACKEND_CPU, cond, &err);
    same = memcmp(a, b, n * sizeof(float)) == 0;
    printf("in place: %s\n", same ? "bit-identical" : "DIFFERENT");
    fails += !same;
    if (!hiss_backend_available(HISS_BACKEND_CUDA)) {
        hiss_status st = hiss_render_offline(m, in, b, n, HISS_BACKEND_CUDA, cond, &err);
        printf("CUDA without a device: %s (%s)\n", hiss_status_name(st), err.msg);
        fails += st != HISS_ERR_BACKEND || !strstr(err.msg, "CUDA");
    } else {
        printf("CUDA device present: the CUDA path is checked by test_cuda_render\n");
    }
    hiss_stream_free(s);
    hiss_model_free(m);
    free(in);
    free(a);
    free(b);
    printf("test_engine_render: %s\n", fails ? "FAILED" : "ok");
    return fails != 0;
}
