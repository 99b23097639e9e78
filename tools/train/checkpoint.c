/* Checkpoint file: a fixed header of little-endian fields, then P, m and v as float32. Written
 * field by field (not as a struct) so that padding and the host's layout never reach the file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

static const char MAGIC[8] = {'H', 'I', 'S', 'S', 'C', 'K', 'P', 'T'};
#define VERSION 1u       /* fx models */
#define VERSION_SYNTH_2 2u /* + head bias, the feature list */
#define VERSION_SYNTH_3 3u /* + the input noise, which the schedule of a resumed run needs too */
#define VERSION_SYNTH 4u   /* + self-feed and its ramp, likewise */

static int put_u64(FILE *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return fwrite(b, 1, 8, f) == 8 ? 0 : -1;
}

static int get_u64(FILE *f, uint64_t *v)
{
    unsigned char b[8];
    if (fread(b, 1, 8, f) != 8)
        return -1;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)b[i] << (8 * i);
    return 0;
}

static int put_f64(FILE *f, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    return put_u64(f, v);
}

static int get_f64(FILE *f, double *d)
{
    uint64_t v;
    if (get_u64(f, &v))
        return -1;
    memcpy(d, &v, 8);
    return 0;
}

static int put_floats(FILE *f, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4)
            return -1;
    }
    return 0;
}

static int get_floats(FILE *f, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4];
        if (fread(b, 1, 4, f) != 4)
            return -1;
        const uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                           (uint32_t)b[3] << 24;
        memcpy(&x[i], &u, 4);
    }
    return 0;
}

int tc_save(const char *path, const tc_state *s, char *msg, size_t n)
{
    const size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!tmp) {
        snprintf(msg, n, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, len, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(msg, n, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const hiss_config *c = &s->cfg;
    const int synth = c->io == HISS_IO_SYNTH;
    const int64_t fields[] = {c->d_model, c->n_layer, c->d_inner, c->d_state, c->d_conv,
                              c->dt_rank, c->n_cond,  c->skip,    s->epoch,   s->best_epoch};
    int bad = fwrite(MAGIC, 1, 8, f) != 8 || put_u64(f, synth ? VERSION_SYNTH : VERSION) ||
              put_u64(f, s->n_params) ||
              put_u64(f, (uint64_t)s->step) || put_u64(f, s->rng) ||
              put_f64(f, s->best_val) || put_f64(f, c->sample_rate) ||
              put_f64(f, (double)c->rms_eps);
    for (size_t i = 0; !bad && i < sizeof fields / sizeof *fields; i++)
        bad = put_u64(f, (uint64_t)fields[i]);
    if (synth) {
        const size_t nc = strnlen(s->cond, sizeof s->cond - 1);
        bad = bad || put_u64(f, (uint64_t)s->head_bias) || put_u64(f, nc) ||
              fwrite(s->cond, 1, nc, f) != nc || put_u64(f, (uint64_t)s->input_noise) ||
              put_f64(f, s->self_feed) || put_u64(f, (uint64_t)s->self_feed_ramp);
    }
    bad = bad || put_floats(f, s->P, s->n_params) || put_floats(f, s->m, s->n_params) ||
          put_floats(f, s->v, s->n_params);
    bad = fclose(f) != 0 || bad;
    if (bad || rename(tmp, path) != 0) {
        snprintf(msg, n, "%s: %s", bad ? tmp : path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int tc_load(const char *path, tc_state *s, char *msg, size_t n)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    char magic[8];
    uint64_t version, np, step, fields[10];
    double eps;
    int bad = fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) != 0;
    if (bad) {
        snprintf(msg, n, "%s: not a hiss-train checkpoint", path);
        fclose(f);
        return -1;
    }
    bad = get_u64(f, &version) || get_u64(f, &np) || get_u64(f, &step) || get_u64(f, &s->rng) ||
          get_f64(f, &s->best_val) || get_f64(f, &s->cfg.sample_rate) || get_f64(f, &eps);
    for (int i = 0; !bad && i < 10; i++)
        bad = get_u64(f, &fields[i]);
    const int synth =
        version == VERSION_SYNTH || version == VERSION_SYNTH_3 || version == VERSION_SYNTH_2;
    if (!bad && version != VERSION && !synth) {
        snprintf(msg, n, "%s: checkpoint version %llu, this hiss-train reads %u, %u, %u and %u",
                 path, (unsigned long long)version, VERSION, VERSION_SYNTH_2, VERSION_SYNTH_3,
                 VERSION_SYNTH);
        fclose(f);
        return -1;
    }
    uint64_t head_bias = 0, nc = 0, noise = 0, ramp = 0;
    double self_feed = 0; /* versions 2 and 3 were written before self-feed existed: none */
    if (!bad && synth) {
        bad = get_u64(f, &head_bias) || get_u64(f, &nc) || nc >= sizeof s->cond ||
              fread(s->cond, 1, (size_t)nc, f) != nc ||
              (version >= VERSION_SYNTH_3 && get_u64(f, &noise)) ||
              (version >= VERSION_SYNTH && (get_f64(f, &self_feed) || get_u64(f, &ramp)));
        if (!bad)
            s->cond[nc] = 0;
    }
    if (!bad && version >= VERSION_SYNTH_3 && noise > 64) {
        snprintf(msg, n, "%s: input noise %llu, outside 0..64", path, (unsigned long long)noise);
        fclose(f);
        return -1;
    }
    if (!bad && (!(self_feed >= 0 && self_feed <= 1) || ramp > 1000000)) {
        snprintf(msg, n, "%s: self-feed %g over %llu epochs, outside 0..1 over 0..1000000", path,
                 self_feed, (unsigned long long)ramp);
        fclose(f);
        return -1;
    }
    if (!bad && (np == 0 || np > HISS_MAX_PARAMS)) {
        snprintf(msg, n, "%s: %llu parameters, outside 1..%u", path, (unsigned long long)np,
                 HISS_MAX_PARAMS);
        fclose(f);
        return -1;
    }
    if (!bad) {
        s->n_params = (size_t)np;
        s->P = malloc(np * sizeof(float));
        s->m = malloc(np * sizeof(float));
        s->v = malloc(np * sizeof(float));
        bad = !s->P || !s->m || !s->v || get_floats(f, s->P, np) || get_floats(f, s->m, np) ||
              get_floats(f, s->v, np);
    }
    fclose(f);
    if (bad) {
        snprintf(msg, n, "%s: truncated or unreadable checkpoint", path);
        free(s->P);
        free(s->m);
        free(s->v);
        s->P = s->m = s->v = NULL;
        return -1;
    }
    hiss_config *c = &s->cfg;
    c->io = synth ? HISS_IO_SYNTH : HISS_IO_FX;
    s->head_bias = (int)head_bias;
    s->input_noise = version >= VERSION_SYNTH_3 && synth ? (int)noise : synth ? -1 : 0;
    s->self_feed = self_feed;
    s->self_feed_ramp = (int)ramp;
    c->rms_eps = (float)eps;
    c->d_model = (int)fields[0];
    c->n_layer = (int)fields[1];
    c->d_inner = (int)fields[2];
    c->d_state = (int)fields[3];
    c->d_conv = (int)fields[4];
    c->dt_rank = (int)fields[5];
    c->n_cond = (int)fields[6];
    c->skip = (int)fields[7];
    s->epoch = (int)fields[8];
    s->best_epoch = (int)fields[9];
    s->step = (long)step;
    return 0;
}
