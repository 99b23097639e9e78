/* The LV2 plugin in the lilv test host, checked against the engine run directly on the same
 * samples (models made here with hiss_model_init + hiss_model_save).
 *
 *   hiss-lv2-test CASE LV2_DIR TMP_DIR [immediate|deferred|threaded]
 *
 * Cases: basic (load, swap, failed loads, patch:Get, save and restore into a new instance, a
 * moved session, restore while running), params (gains, dry/wet, knobs, bypass, NaN input),
 * stereo, rate (host rate other than the model's), presets (every preset in the bundle), rt
 * (nothing forbidden during run(), needs rtcheck.so preloaded), stress (thousands of swaps
 * with save/restore from another thread), render (against hiss-render, whose path is the
 * fourth argument). */
/* realpath is XSI */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hiss.h"
#include "host.h"
#include "kit.h"
#include "models.h"
#include "wav.h"

static const char *lv2_dir, *tmp_dir;
static hh_work_mode mode = HH_WORK_DEFERRED;
static uint32_t rng = 0x9e3779b9u;

/* ---- a plugin fed from whole buffers in random blocks ---------------------------------------- */

typedef struct feed {
    hh_host *h;
    int nch, max_block;
    float *in[2], *out[2];
    long n, pos;
} feed;

static feed feed_new(hh_host *h, int nch, int max_block, long n, uint32_t seed, double rate)
{
    feed f = {h, nch, max_block, {NULL, NULL}, {NULL, NULL}, n, 0};
    for (int k = 0; k < nch; k++) {
        f.in[k] = malloc((size_t)n * sizeof(float));
        f.out[k] = calloc((size_t)n, sizeof(float));
        tm_signal(f.in[k], n, seed + 7u * (uint32_t)k, rate);
    }
    return f;
}

static void feed_free(feed *f)
{
    for (int k = 0; k < f->nch; k++) {
        free(f->in[k]);
        free(f->out[k]);
    }
}

static void feed_block(feed *f, int b)
{
    if (f->pos + b > f->n)
        b = (int)(f->n - f->pos);
    if (b <= 0)
        return;
    const float *ip[2] = {f->in[0] + f->pos, f->nch > 1 ? f->in[1] + f->pos : NULL};
    float *op[2] = {f->out[0] + f->pos, f->nch > 1 ? f->out[1] + f->pos : NULL};
    hh_run(f->h, ip, op, (uint32_t)b);
    f->pos += b;
}

static void feed_until(feed *f, long until)
{
    while (f->pos < until && f->pos < f->n)
        feed_block(f, tk_block_size(&rng, f->max_block));
}

/* Run until the plugin publishes property = value (NULL: any) after event index `from`; returns
 * the event's index or -1 once `limit` frames have passed. */
static int feed_until_event(feed *f, const char *prop, const char *value, int from, long limit)
{
    while (f->pos < limit && f->pos < f->n) {
        feed_block(f, tk_block_size(&rng, f->max_block));
        hh_wait_worker(f->h);
        int i = hh_find(f->h, prop, value, from);
        if (i >= 0)
            return i;
    }
    return -1;
}

/* ---- comparisons ------------------------------------------------------------------------------ */

/* Frames of [from, to) where y leaves the span of a and b (a crossfade must stay inside), and
 * where it is a genuine mixture (away from both). */
static void check_between(const char *what, const float *y, const float *a, const float *b, long from,
                          long to)
{
    long outside = 0, mixed = 0;
    for (long t = from; t < to; t++) {
        float lo = fminf(a[t], b[t]) - 1e-5f, hi = fmaxf(a[t], b[t]) + 1e-5f;
        if (!(y[t] >= lo && y[t] <= hi))
            outside++;
        if (fabsf(y[t] - a[t]) > 1e-4f && fabsf(y[t] - b[t]) > 1e-4f)
            mixed++;
    }
    CHECK(outside == 0, "%s: %ld of %ld crossfade frames outside the span of old and new", what, outside,
          to - from);
    CHECK(mixed > 0, "%s: no frame of [%ld, %ld) mixes old and new: no crossfade happened", what, from, to);
    printf("  %s: crossfade over %ld frames stays between old and new (%ld mixed frames)\n", what,
           to - from, mixed);
}

#define TOL 1e-6

static void check_equal(const char *what, const float *y, const float *ref, long from, long to)
{
    tk_check_equal(what, y, ref, from, to, TOL);
}

/* The engine's output for model `path` on in[k][from..n), placed at the same frames of ref. */
static void engine_from(const char *path, double rate, int nch, float *const *in, float **ref, long from,
                        long n, const float *cond, int n_cond)
{
    const float *ip[2];
    float *op[2];
    for (int k = 0; k < nch; k++) {
        ip[k] = in[k] + from;
        op[k] = ref[k] + from;
        memset(ref[k], 0, (size_t)from * sizeof(float));
    }
    if (tm_render(path, rate, nch, ip, op, n - from, cond, n_cond) != 0)
        exit(1);
}

/* ---- models ---------------------------------------------------------------------------------- */

typedef struct models {
    char *a, *b, *bad, *missing, *badrange, *dir;
} models;

/* A: two named conditioning inputs with ranges; B: none, skip connection. Made in dir/models/. */
static models make_models(const char *dir, double rate)
{
    models m;
    m.dir = strdup(dir);
    mkdir(dir, 0777);
    char *md = tk_path_in(dir, "models");
    mkdir(md, 0777);
    m.a = tk_path_in(md, "a.safetensors");
    m.b = tk_path_in(md, "b.safetensors");
    m.bad = tk_path_in(md, "bad.safetensors");
    m.missing = tk_path_in(md, "missing.safetensors");
    m.badrange = tk_path_in(md, "badrange.safetensors");
    free(md);
    tm_spec a = {16, 2, 8, 4, 2, 2, rate, 11, "drive,tone", "0:2,-1:1", 0};
    tm_spec b = {12, 1, 4, 3, 2, 0, rate, 22, NULL, NULL, 1};
    tm_spec br = {8, 1, 4, 2, 2, 2, rate, 33, "x,y", "0:1,1:1", 0}; /* range 2 is empty */
    if (tm_make(m.a, &a) || tm_make(m.b, &b) || tm_garbage(m.bad) || tm_make(m.badrange, &br))
        exit(1);
    remove(m.missing);
    return m;
}

static void models_free(models *m)
{
    free(m->a);
    free(m->b);
    free(m->bad);
    free(m->missing);
    free(m->badrange);
    free(m->dir);
}

static hh_host *new_host(const char *uri, double rate, int max_block)
{
    return tk_host(lv2_dir, uri, rate, max_block, mode);
}

/* Knob defaults (0.5) mapped onto A's ranges: drive 0..2 -> 1, tone -1..1 -> 0. */
static const float cond_a_default[2] = {1.0f, 0.0f};

/* ---- case: basic ----------------------------------------------------------------------------- */

static void case_basic(void)
{
    const double rate = 16000; /* low, to keep the test short under the sanitizers */
    const long fade = (long)(0.025 * rate); /* the plugin fades over 20 ms; allow 25 */
    char *sess1 = tk_path_in(tmp_dir, "session1"), *sess2 = tk_path_in(tmp_dir, "session2");
    tk_sh("rm -rf '%s' '%s'", sess1, sess2);
    models m = make_models(sess1, rate);
    const long n = (long)(1.6 * rate);
    hh_host *h = new_host(FX, rate, 512);
    hh_activate(h);
    feed f = feed_new(h, 1, 512, n, 1, rate);
    float *ref_a = malloc((size_t)n * sizeof(float)), *ref_b = malloc((size_t)n * sizeof(float));

    /* No model: the input comes out bit for bit, and the plugin says why. */
    feed_until(&f, (long)(0.1 * rate));
    long asked = f.pos;
    check_equal("no model: output = input", f.out[0], f.in[0], 0, f.pos);
    CHECK(tk_contains(hh_last(h, P_STATUS), "no model loaded"), "status without a model: %s", hh_last(h, P_STATUS));
    CHECK(tk_contains(hh_log(h), "no model loaded"), "log without a model: %s", hh_log(h));

    /* Load A. */
    hh_send_model(h, m.a);
    int ev = feed_until_event(&f, P_MODEL, m.a, 0, (long)(0.5 * rate));
    CHECK(ev >= 0, "model A never reported loaded");
    if (ev < 0)
        exit(1);
    long s0 = (long)hh_event_at(h, ev)->frame;
    printf("  model A took over at frame %ld (requested at %ld)\n", s0, asked);
    feed_until(&f, (long)(0.6 * rate));
    engine_from(m.a, rate, 1, f.in, &ref_a, s0, n, cond_a_default, 2);
    check_equal("before the swap: output = input", f.out[0], f.in[0], 0, s0);
    check_between("none -> A", f.out[0], f.in[0], ref_a, s0, s0 + fade);
    check_equal("model A", f.out[0], ref_a, s0 + fade, f.pos);
    CHECK(tk_contains(hh_last(h, P_KNOB1), "drive (0 to 2)"), "knob 1 label: %s", hh_last(h, P_KNOB1));
    CHECK(hh_last(h, P_ACTIVE) && strcmp(hh_last(h, P_ACTIVE), "2") == 0, "active knobs: %s",
          hh_last(h, P_ACTIVE));
    CHECK(tk_contains(hh_last(h, P_STATUS), "knob 1 = drive"), "status: %s", hh_last(h, P_STATUS));
    CHECK(tk_contains(hh_last(h, P_STATUS), "3, 4 do nothing"), "status: %s", hh_last(h, P_STATUS));
    CHECK(hh_get(h, "latency") == 0.0f, "latency %g", hh_get(h, "latency"));
    hh_state *state_a = hh_save(h, sess1);

    /* Swap to B while A plays. */
    int from = hh_event_count(h);
    hh_send_model(h, m.b);
    ev = feed_until_event(&f, P_MODEL, m.b, from, f.pos + (long)(0.5 * rate));
    CHECK(ev >= 0, "model B never reported loaded");
    if (ev < 0)
        exit(1);
    long s1 = (long)hh_event_at(h, ev)->frame;
    printf("  model B took over at frame %ld\n", s1);
    CHECK(tk_contains(hh_last(h, P_STATUS), "no conditioning inputs: knobs 1-4 do nothing"), "status: %s",
          hh_last(h, P_STATUS));
    CHECK(hh_last(h, P_KNOB1) && hh_last(h, P_KNOB1)[0] == '\0', "knob 1 label for B: '%s'", hh_last(h, P_KNOB1));

    /* Failed loads: garbage, then a missing file. The old model plays on, untouched. */
    long fail_at = f.pos + (long)(0.1 * rate);
    feed_until(&f, fail_at);
    from = hh_event_count(h);
    hh_log_clear(h);
    hh_send_model(h, m.bad);
    ev = feed_until_event(&f, P_ERROR, NULL, from, f.pos + (long)(0.5 * rate));
    CHECK(ev >= 0 && tk_contains(hh_event_at(h, ev)->value, "bad.safetensors"), "error for the garbage file: %s",
          ev >= 0 ? hh_event_at(h, ev)->value : "(none)");
    CHECK(tk_contains(hh_log(h), "bad.safetensors"), "log for the garbage file: %s", hh_log(h));
    printf("  garbage model refused: %s\n", ev >= 0 ? hh_event_at(h, ev)->value : "");
    from = hh_event_count(h);
    hh_send_model(h, m.missing);
    ev = feed_until_event(&f, P_ERROR, NULL, from, f.pos + (long)(0.5 * rate));
    CHECK(ev >= 0 && tk_contains(hh_event_at(h, ev)->value, "missing.safetensors"), "error for the missing file: %s",
          ev >= 0 ? hh_event_at(h, ev)->value : "(none)");
    from = hh_event_count(h);
    hh_send_model(h, m.badrange);
    ev = feed_until_event(&f, P_ERROR, NULL, from, f.pos + (long)(0.5 * rate));
    CHECK(ev >= 0 && tk_contains(hh_event_at(h, ev)->value, "badrange.safetensors") &&
          tk_contains(hh_event_at(h, ev)->value, "hiss.cond_range"), "error for a bad knob range: %s",
          ev >= 0 ? hh_event_at(h, ev)->value : "(none)");
    printf("  bad knob range refused: %s\n", ev >= 0 ? hh_event_at(h, ev)->value : "");
    CHECK(strcmp(hh_last(h, P_MODEL), m.b) == 0, "after failed loads the model is %s", hh_last(h, P_MODEL));

    /* patch:Get answers with the model in use. */
    from = hh_event_count(h);
    hh_send_get(h, P_MODEL);
    ev = feed_until_event(&f, P_MODEL, NULL, from, f.pos + 4096);
    CHECK(ev >= 0 && strcmp(hh_event_at(h, ev)->value, m.b) == 0, "patch:Get answered %s",
          ev >= 0 ? hh_event_at(h, ev)->value : "(nothing)");
    feed_until(&f, n);
    engine_from(m.b, rate, 1, f.in, &ref_b, s1, n, NULL, 0);
    check_between("A -> B", f.out[0], ref_a, ref_b, s1, s1 + fade);
    check_equal("model B, through three failed loads", f.out[0], ref_b, s1 + fade, n);

    /* Save with B, move the session, restore into a new instance (not running: loads at once). */
    hh_state *state_b = hh_save(h, sess1);
    const char *stored = hh_state_value(state_b, P_MODEL);
    CHECK(stored && strcmp(stored, "models/b.safetensors") == 0, "stored model path '%s' (map-path should make "
          "it relative to the session)", stored ? stored : "(none)");
    hh_free(h);
    feed_free(&f);
    if (rename(sess1, sess2) != 0)
        exit(1);
    printf("  session moved: %s -> %s\n", sess1, sess2);
    char *b2 = tk_path_in(sess2, "models/b.safetensors"), *a2 = tk_path_in(sess2, "models/a.safetensors");
    h = new_host(FX, rate, 256);
    CHECK(hh_restore(h, state_b, sess2) == 0, "restore failed");
    hh_activate(h);
    f = feed_new(h, 1, 256, n, 3, rate);
    feed_until(&f, (long)(0.5 * rate));
    CHECK(hh_last(h, P_MODEL) && strcmp(hh_last(h, P_MODEL), b2) == 0, "restored model %s, expected %s",
          hh_last(h, P_MODEL), b2);
    engine_from(b2, rate, 1, f.in, &ref_b, 0, n, NULL, 0);
    check_equal("restored B (new instance, moved session)", f.out[0], ref_b, 0, f.pos);

    /* Restore A while running: through the worker, with a crossfade. */
    from = hh_event_count(h);
    CHECK(hh_restore(h, state_a, sess2) == 0, "restore while running failed");
    ev = feed_until_event(&f, P_MODEL, a2, from, f.pos + (long)(0.5 * rate));
    CHECK(ev >= 0, "restore while running never swapped to A");
    if (ev >= 0) {
        long s2 = (long)hh_event_at(h, ev)->frame;
        feed_until(&f, n);
        engine_from(a2, rate, 1, f.in, &ref_a, s2, n, cond_a_default, 2);
        check_between("restore B -> A while running", f.out[0], ref_b, ref_a, s2, s2 + fade);
        check_equal("A restored while running", f.out[0], ref_a, s2 + fade, n);
    }
    hh_state_free(state_a);
    hh_state_free(state_b);
    hh_free(h);
    feed_free(&f);
    free(ref_a);
    free(ref_b);
    free(a2);
    free(b2);
    free(sess1);
    free(sess2);
    models_free(&m);
}

/* ---- case: params ---------------------------------------------------------------------------- */

static void case_params(void)
{
    const double rate = 16000;
    const long fade = (long)(0.025 * rate);
    char *dir = tk_path_in(tmp_dir, "params");
    models m = make_models(dir, rate);
    const long n = (long)(2.5 * rate);
    hh_host *h = new_host(FX, rate, 333);
    const float in_db = 6.0f, out_db = -3.0f, mix = 0.7f, k1 = 0.25f, k2 = 0.8f;
    hh_set(h, "in_gain", in_db);
    hh_set(h, "out_gain", out_db);
    hh_set(h, "mix", mix);
    hh_set(h, "knob1", k1);
    hh_set(h, "knob2", k2);
    hh_set(h, "knob3", 0.9f); /* A has two inputs: knob 3 must do nothing */
    hh_activate(h);
    feed f = feed_new(h, 1, 333, n, 5, rate);
    /* Non-finite input after the fade: processed as 0 by the engine, and by the dry path too. */
    long nan_at[] = {10000, 10001, 13234, 36000};
    for (int i = 0; i < 4; i++)
        f.in[0][nan_at[i]] = i == 2 ? INFINITY : NAN;

    hh_send_model(h, m.a);
    int ev = feed_until_event(&f, P_MODEL, m.a, 0, (long)(0.5 * rate));
    CHECK(ev >= 0, "model A never loaded");
    if (ev < 0)
        exit(1);
    long s0 = (long)hh_event_at(h, ev)->frame;

    /* The reference: y = out_gain * ((1 - mix) * x + mix * engine(in_gain * x)), with the knobs
     * mapped onto A's ranges (drive 0..2, tone -1..1) in double. */
    float gi = (float)pow(10.0, in_db / 20.0), go = (float)pow(10.0, out_db / 20.0);
    float cond[2] = {(float)(0.0 + k1 * 2.0), (float)(-1.0 + k2 * 2.0)};
    float *xc = malloc((size_t)n * sizeof(float)), *xg = malloc((size_t)n * sizeof(float));
    float *m_out = malloc((size_t)n * sizeof(float)), *ref = malloc((size_t)n * sizeof(float));
    for (long t = 0; t < n; t++) {
        xc[t] = isfinite(f.in[0][t]) ? f.in[0][t] : 0.0f;
        xg[t] = f.in[0][t] * gi;
    }
    engine_from(m.a, rate, 1, &xg, &m_out, s0, n, cond, 2);
    for (long t = 0; t < n; t++)
        ref[t] = t < s0 ? xc[t] : go * ((1.0f - mix) * xc[t] + mix * m_out[t]);

    long t_byp = (long)(1.0 * rate), t_on = (long)(1.4 * rate), t_gain = (long)(1.8 * rate);
    /* Controls change between blocks: each t_* becomes the first frame of the block after. */
    feed_until(&f, t_byp);
    t_byp = f.pos;
    check_equal("no model before the swap (gains do not apply)", f.out[0], xc, 0, s0);
    check_equal("gains, dry/wet, knobs", f.out[0], ref, s0 + fade, t_byp);

    /* Bypass ramps to the input, exactly, and back; the model keeps running meanwhile. */
    hh_set(h, "enabled", 0.0f);
    feed_until(&f, t_on);
    t_on = f.pos;
    check_between("bypass on", f.out[0], ref, xc, t_byp, t_byp + fade);
    check_equal("bypassed: output = input", f.out[0], xc, t_byp + fade, t_on);
    hh_set(h, "enabled", 1.0f);
    feed_until(&f, t_gain);
    t_gain = f.pos;
    check_between("bypass off", f.out[0], xc, ref, t_on, t_on + fade);
    check_equal("after bypass", f.out[0], ref, t_on + fade, t_gain);

    /* Output gain -3 dB -> -15 dB: y = g(t) * w(t) with w the ungained mix, so y / w shows the
     * gain applied at each frame. It must glide (no step: no zipper noise) and then settle on
     * the new value exactly. */
    hh_set(h, "out_gain", -15.0f);
    feed_until(&f, n);
    const double g_from = go, g_to = (float)pow(10.0, -15.0 / 20.0), change = fabs(g_to - g_from);
    const long tail = t_gain + (long)(0.3 * rate);
    double worst = 0, g_prev = g_from, first = -1;
    long t_prev = t_gain - 1, rising = 0;
    for (long t = t_gain; t < tail; t++) {
        double w = (1.0f - mix) * xc[t] + mix * m_out[t];
        if (fabs(w) < 0.05)
            continue;
        double g = f.out[0][t] / w;
        if (first < 0)
            first = g;
        double per_frame = fabs(g - g_prev) / (double)(t - t_prev);
        if (per_frame > worst)
            worst = per_frame;
        if (g > g_prev + 1e-5)
            rising++;
        g_prev = g;
        t_prev = t;
    }
    CHECK(fabs(first - g_from) < 0.05 * change, "gain at the change %.5f, was %.5f: it stepped", first, g_from);
    CHECK(worst < 0.02 * change, "gain moved %.3g in one frame (%.2f%% of the change): zipper", worst,
          100 * worst / change);
    CHECK(rising == 0, "the gain glide went the wrong way on %ld frames", rising);
    printf("  output gain -3 -> -15 dB glides: at most %.3f%% of the change per frame\n", 100 * worst / change);
    float *tail_ref = malloc((size_t)n * sizeof(float));
    for (long t = 0; t < n; t++)
        tail_ref[t] = (float)g_to * ((1.0f - mix) * xc[t] + mix * m_out[t]);
    long bad;
    double e = tk_max_err(f.out[0], tail_ref, tail, n, 1e-6, &bad);
    CHECK(bad < 0, "after the gain change settles: frame %ld differs by %.3g", bad, e);
    printf("  settled after 300 ms: max error %.3g\n", e);
    for (long t = 0; t < n; t++)
        CHECK(isfinite(f.out[0][t]), "non-finite output at %ld", t);
    hh_free(h);
    feed_free(&f);
    free(xc);
    free(xg);
    free(m_out);
    free(tail_ref);
    free(ref);
    free(dir);
    models_free(&m);
}

/* ---- case: stereo ---------------------------------------------------------------------------- */

static void case_stereo(void)
{
    const double rate = 16000;
    const long fade = (long)(0.025 * rate);
    char *dir = tk_path_in(tmp_dir, "stereo");
    models m = make_models(dir, rate);
    const long n = (long)(1.0 * rate);
    hh_host *h = new_host(FX_STEREO, rate, 1024);
    CHECK(hh_channels(h) == 2, "stereo plugin has %d channels", hh_channels(h));
    hh_activate(h);
    feed f = feed_new(h, 2, 1024, n, 9, rate);
    hh_send_model(h, m.a);
    int ev = feed_until_event(&f, P_MODEL, m.a, 0, (long)(0.5 * rate));
    CHECK(ev >= 0, "model A never loaded");
    if (ev < 0)
        exit(1);
    long s0 = (long)hh_event_at(h, ev)->frame;
    feed_until(&f, n);
    float *ref[2] = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float))};
    /* Each channel alone through its own stream: the channels' states must be independent. */
    engine_from(m.a, rate, 1, &f.in[0], &ref[0], s0, n, cond_a_default, 2);
    engine_from(m.a, rate, 1, &f.in[1], &ref[1], s0, n, cond_a_default, 2);
    check_equal("stereo left", f.out[0], ref[0], s0 + fade, n);
    check_equal("stereo right", f.out[1], ref[1], s0 + fade, n);
    long differ = 0;
    for (long t = s0 + fade; t < n; t++)
        differ += f.out[0][t] != f.out[1][t];
    CHECK(differ > n / 2, "left and right outputs are the same on %ld frames", n - s0 - fade - differ);
    hh_free(h);
    feed_free(&f);
    free(ref[0]);
    free(ref[1]);
    free(dir);
    models_free(&m);
}

/* ---- case: rate ------------------------------------------------------------------------------ */

static void case_rate(void)
{
    const double host_rate = 44100, model_rate = 48000;
    const long fade = (long)(0.025 * host_rate);
    char *dir = tk_path_in(tmp_dir, "rate");
    models m = make_models(dir, model_rate);
    const long n = (long)(1.0 * host_rate);
    hh_host *h = new_host(FX, host_rate, 512);
    hh_activate(h);
    feed f = feed_new(h, 1, 512, n, 4, host_rate);
    hh_send_model(h, m.b);
    int ev = feed_until_event(&f, P_MODEL, m.b, 0, (long)(0.5 * host_rate));
    CHECK(ev >= 0, "model never loaded");
    if (ev < 0)
        exit(1);
    long s0 = (long)hh_event_at(h, ev)->frame;
    feed_until(&f, n);
    CHECK(tk_contains(hh_log(h), "delta mode") && tk_contains(hh_log(h), "44100"), "the log does not say the rates "
          "differ and delta mode is used: %s", hh_log(h));
    CHECK(tk_contains(hh_last(h, P_STATUS), "delta mode"), "status: %s", hh_last(h, P_STATUS));
    printf("  status: %s\n", hh_last(h, P_STATUS));
    float *ref = malloc((size_t)n * sizeof(float));
    engine_from(m.b, host_rate, 1, f.in, &ref, s0, n, NULL, 0);
    check_equal("44.1 kHz host, 48 kHz model, delta mode", f.out[0], ref, s0 + fade, n);
    CHECK(hh_get(h, "latency") == 0.0f, "delta mode reports latency %g", hh_get(h, "latency"));
    hh_free(h);
    feed_free(&f);
    free(ref);
    free(dir);
    models_free(&m);
}

/* ---- case: presets --------------------------------------------------------------------------- */

static int case_presets(void)
{
    const double rate = 48000;
    int total = 0;
    for (int stereo = 0; stereo < 2; stereo++) {
        hh_host *h = new_host(stereo ? FX_STEREO : FX, rate, 512);
        int np = hh_preset_count(h);
        printf("  %s: %d preset(s)\n", stereo ? FX_STEREO : FX, np);
        for (int i = 0; i < np; i++) {
            char uri[512], label[256];
            snprintf(uri, sizeof uri, "%s", hh_preset_uri(h, i));
            snprintf(label, sizeof label, "%s", hh_preset_label(h, i));
            hh_host *p = new_host(stereo ? FX_STEREO : FX, rate, 512);
            CHECK(hh_apply_preset(p, uri) == 0, "preset %s not applied", uri);
            hh_activate(p);
            const long n = (long)(0.1 * rate);
            feed f = feed_new(p, stereo ? 2 : 1, 512, n, 6, rate);
            feed_until(&f, n);
            char want[4096];
            snprintf(want, sizeof want, "%s/hiss.lv2/models/%s.safetensors", lv2_dir, label);
            char *real_want = realpath(want, NULL);
            const char *got = hh_last(p, P_MODEL);
            char *real_got = got && got[0] ? realpath(got, NULL) : NULL;
            CHECK(real_want && real_got && strcmp(real_want, real_got) == 0, "preset %s loaded '%s', expected %s",
                  uri, got ? got : "(nothing)", want);
            float cond[4];
            int n_cond = real_want ? tm_knob_conds(real_want, 0.5f, cond) : -1;
            if (n_cond >= 0) {
                float *ref[2] = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float))};
                for (int k = 0; k < f.nch; k++)
                    engine_from(real_want, rate, 1, &f.in[k], &ref[k], 0, n, cond, n_cond);
                for (int k = 0; k < f.nch; k++) {
                    char what[700];
                    snprintf(what, sizeof what, "preset \"%s\" channel %d", label, k);
                    check_equal(what, f.out[k], ref[k], 0, n);
                }
                free(ref[0]);
                free(ref[1]);
            }
            free(real_want);
            free(real_got);
            hh_free(p);
            feed_free(&f);
            total++;
        }
        hh_free(h);
    }
    if (total == 0) {
        printf("SKIPPED: the bundle in %s has no presets (no models in the model folder)\n", lv2_dir);
        return SKIP;
    }
    return 0;
}

/* ---- case: render: the stereo plugin against hiss-render with the same settings ---------- */

static void case_render(const char *render)
{
    const double rate = 16000;
    char *dir = tk_path_in(tmp_dir, "render");
    models m = make_models(dir, rate);
    const long n = (long)(1.0 * rate);
    float *x[2] = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float))};
    tm_signal(x[0], n, 31, rate);
    tm_signal(x[1], n, 32, rate);
    float *inter = malloc((size_t)n * 2 * sizeof(float));
    for (long t = 0; t < n; t++) {
        inter[2 * t] = x[0][t];
        inter[2 * t + 1] = x[1][t];
    }
    char *in_wav = tk_path_in(dir, "in.wav"), *out_wav = tk_path_in(dir, "render-out.wav");
    if (tw_write(in_wav, 2, rate, inter, n) != 0)
        exit(1);
    /* Knob 1 = 0.3 of drive's 0..2, knob 2 = 0.9 of tone's -1..1. */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -q -m '%s' --gain-in 4.5 --gain-out -2 --mix 0.8 --cond drive=0.6 "
             "--cond tone=0.8 --format float '%s' '%s'", render, m.a, in_wav, out_wav);
    printf("  %s\n", cmd);
    CHECK(system(cmd) == 0, "hiss-render failed");
    int nch = 0;
    double r = 0;
    float *ro = NULL;
    long rn = tw_read(out_wav, &nch, &r, &ro);
    CHECK(rn == n && nch == 2 && r == rate, "hiss-render wrote %ld frames, %d channels at %g Hz", rn, nch, r);
    if (rn != n || nch != 2)
        exit(1);

    hh_host *h = new_host(FX_STEREO, rate, 700);
    hh_set(h, "in_gain", 4.5f);
    hh_set(h, "out_gain", -2.0f);
    hh_set(h, "mix", 0.8f);
    hh_set(h, "knob1", 0.3f);
    hh_set(h, "knob2", 0.9f);
    hh_state *st = hh_state_with_path(h, P_MODEL, m.a);
    CHECK(hh_restore(h, st, dir) == 0, "restore");
    hh_state_free(st);
    hh_activate(h);
    feed f = feed_new(h, 2, 700, n, 0, rate);
    for (int k = 0; k < 2; k++)
        memcpy(f.in[k], x[k], (size_t)n * sizeof(float));
    feed_until(&f, n);
    float *ref[2] = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float))};
    for (long t = 0; t < n; t++) {
        ref[0][t] = ro[2 * t];
        ref[1][t] = ro[2 * t + 1];
    }
    long bad;
    for (int k = 0; k < 2; k++) {
        double e = tk_max_err(f.out[k], ref[k], 0, n, 1e-5, &bad);
        CHECK(bad < 0, "channel %d frame %ld: plugin %.9g, hiss-render %.9g", k, bad, bad >= 0 ? f.out[k][bad] : 0.0,
              bad >= 0 ? ref[k][bad] : 0.0);
        printf("  channel %d: frames [0, %ld): max |plugin - hiss-render| = %.3g\n", k, n, e);
    }
    hh_free(h);
    feed_free(&f);
    free(x[0]);
    free(x[1]);
    free(ref[0]);
    free(ref[1]);
    free(inter);
    free(ro);
    free(in_wav);
    free(out_wav);
    free(dir);
    models_free(&m);
}

/* ---- case: rt -------------------------------------------------------------------------------- */

static int case_rt(void)
{
    if (tk_rt_control() != 0)
        return 1;

    const double rate = 48000;
    char *dir = tk_path_in(tmp_dir, "rt");
    models m = make_models(dir, rate);
    mode = HH_WORK_THREADED;
    hh_host *h = new_host(FX_STEREO, rate, 256);
    hh_activate(h);
    const long n = (long)(6.0 * rate);
    feed f = feed_new(h, 2, 256, n, 8, rate);
    const char *seq[] = {m.a, m.b, m.bad, m.a, m.missing, m.b, "", m.a};
    int k = 0;
    for (int blk = 0; f.pos < n; blk++) {
        if (blk % 40 == 5) {
            hh_send_model(h, seq[k++ % 8]);
            hh_send_get(h, NULL);
        }
        if (blk % 50 == 17)
            hh_set(h, "knob1", (float)(tk_rnd(&rng) % 100) / 100.0f);
        if (blk % 90 == 33)
            hh_set(h, "enabled", hh_get(h, "enabled") > 0.5f ? 0.0f : 1.0f);
        if (blk % 70 == 3)
            hh_set(h, "in_gain", (float)(tk_rnd(&rng) % 24) - 12.0f);
        if (blk % 300 == 150) {
            /* restore while running: work() in this thread, answer through the worker ring */
            hh_state *st = hh_save(h, dir);
            hh_restore(h, st, dir);
            hh_state_free(st);
        }
        feed_block(&f, tk_block_size(&rng, 256));
        if (blk % 8 == 0)
            hh_wait_worker(h);
    }
    int swaps = tk_count_events(h, P_MODEL, 0);
    unsigned long total = hh_rtcheck_total();
    if (total)
        hh_rtcheck_report();
    CHECK(total == 0, "%lu forbidden calls during run() and work_response()", total);
    CHECK(swaps >= 20, "only %d model reports", swaps);
    printf("  %ld frames, %d model reports (swaps, failed loads, gets): %lu forbidden calls in run()\n", n,
           swaps, total);
    hh_free(h);
    feed_free(&f);
    free(dir);
    models_free(&m);
    return 0;
}

/* ---- case: stress ---------------------------------------------------------------------------- */

typedef struct stress_ctx {
    hh_host *h;
    const char *dir;
    atomic_int stop;
    int rounds;
} stress_ctx;

/* Save and restore-while-running from another thread, as a host's GUI thread would. */
static void *stress_state(void *arg)
{
    stress_ctx *c = arg;
    while (!atomic_load(&c->stop)) {
        hh_state *st = hh_save(c->h, c->dir);
        hh_restore(c->h, st, c->dir);
        hh_state_free(st);
        c->rounds++;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int case_stress(void)
{
    const double rate = 8000; /* a 20 ms fade is 160 frames: many swaps per second of audio */
    char *dir = tk_path_in(tmp_dir, "stress");
    mkdir(dir, 0777);
    char *a = tk_path_in(dir, "s1.safetensors"), *b = tk_path_in(dir, "s2.safetensors");
    tm_spec sa = {4, 1, 4, 2, 2, 1, rate, 5, "x", NULL, 0}, sb = {6, 1, 2, 3, 1, 0, rate, 6, NULL, NULL, 1};
    if (tm_make(a, &sa) || tm_make(b, &sb))
        return 1;
    mode = HH_WORK_THREADED;
    hh_host *h = new_host(FX, rate, 64);
    hh_activate(h);
    const long n = 20L * 1000 * 1000;
    feed f = feed_new(h, 1, 64, 8000, 2, rate);
    stress_ctx c = {h, dir, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, stress_state, &c);
    long swaps = 0, frames = 0;
    const int want = 2000;
    time_t t0 = time(NULL);
    for (long blk = 0; swaps < want && frames < n && time(NULL) - t0 < 100; blk++) {
        if (f.pos + 64 > f.n)
            f.pos = 0;
        hh_send_model(h, blk % 2 ? a : b);
        feed_block(&f, tk_block_size(&rng, 64));
        frames += 64;
        swaps += tk_count_events(h, P_MODEL, 0);
        hh_events_clear(h);
    }
    atomic_store(&c.stop, 1);
    pthread_join(th, NULL);
    printf("  %ld model swaps in %ld s, %d save+restore rounds from another thread\n", swaps,
           (long)(time(NULL) - t0), c.rounds);
    CHECK(swaps >= want, "only %ld swaps", swaps);
    for (long t = 0; t < f.n; t++)
        CHECK(isfinite(f.out[0][t]), "non-finite output");

    /* Afterwards the plugin still computes exactly: settle on B, reset, compare. */
    hh_send_model(h, b);
    for (int i = 0; i < 40; i++) {
        f.pos = 0;
        feed_block(&f, 64);
        hh_wait_worker(h);
    }
    hh_deactivate(h);
    hh_activate(h);
    hh_events_clear(h);
    f.pos = 0;
    feed_until(&f, f.n);
    CHECK(hh_last(h, P_MODEL) && strcmp(hh_last(h, P_MODEL), b) == 0, "final model %s", hh_last(h, P_MODEL));
    float *ref = malloc((size_t)f.n * sizeof(float));
    engine_from(b, rate, 1, f.in, &ref, 0, f.n, NULL, 0);
    check_equal("after the stress, from a reset", f.out[0], ref, 0, f.n);
    free(ref);
    hh_free(h);
    feed_free(&f);
    free(a);
    free(b);
    free(dir);
    return 0;
}

/* ---- case: server ---------------------------------------------------------------------------- */

/* out[t] == ref[t - L] (0 before the start), exactly; frames a late block silenced (the output
 * exactly 0 where the reference is not) are counted apart, must stay rare, and are returned. */
static long check_delayed(const char *what, const float *y, const float *ref, long L, long from, long to)
{
    long bad = 0, late = 0, first_bad = -1;
    for (long t = from; t < to; t++) {
        const float want = t - L >= 0 ? ref[t - L] : 0.0f;
        if (y[t] == want)
            continue;
        if (y[t] == 0.0f)
            late++;
        else if (bad++ == 0)
            first_bad = t;
    }
    CHECK(bad == 0, "%s: %ld of %ld frames differ from the reference %ld frames earlier (first at %ld)", what, bad,
          to - from, L, first_bad);
    CHECK(late * 20 <= to - from, "%s: %ld of %ld frames silenced by late blocks", what, late, to - from);
    printf("  %s: frames %ld-%ld equal the reference %ld frames earlier (%ld silenced by late blocks)\n", what, from,
           to, L, late);
    return late;
}

/* Run both hosts a block each, then wait out the block's duration, as a host's cycle would
 * (HISS_TEST_PACE times it: a sanitised server at -O0 needs several periods per block). */
static void feed_pair(feed *f1, feed *f2, long until, double rate)
{
    const char *pace_env = getenv("HISS_TEST_PACE");
    const double pace = pace_env && atof(pace_env) >= 1.0 ? atof(pace_env) : 1.0;
    while (f1->pos < until && f1->pos < f1->n) {
        const int b = f1->max_block;
        feed_block(f1, b);
        feed_block(f2, b);
        hh_wait_worker(f1->h);
        hh_wait_worker(f2->h);
        const double s = pace * b / rate;
        struct timespec ts = {(time_t)s, (long)(1e9 * (s - (double)(time_t)s))};
        nanosleep(&ts, NULL);
    }
}

static int case_server(const char *server_bin)
{
    const double rate = 16000;
    const int L = 256;
    /* paced until n, then freewheeling (an export: blocks back to back) until n2 */
    const long fade = (long)(0.025 * rate), n = (long)(1.2 * rate), n2 = n + (long)(0.8 * rate);
    char *sock = tk_path_in(tmp_dir, "server.sock"), *log = tk_path_in(tmp_dir, "server.log");
    remove(sock);
    models m = make_models(tmp_dir, rate);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(log, "w", stderr))
            _exit(127);
        /* A server that looks at its clients every 3 ms when idle: in time for a 16 ms block
         * period, far behind a host that runs blocks back to back (the export below). */
        execl(server_bin, server_bin, "--socket", sock, "--backend", "cpu", "--slots", "8", "--poll-us", "3000",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && access(sock, F_OK) != 0; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    setenv("HISS_SERVER", sock, 1);
    /* Two instances of the plugin in one host process, as two tracks would have. */
    hh_host *h1 = new_host(FX, rate, L), *h2 = new_host(FX, rate, L);
    hh_activate(h1);
    hh_activate(h2);
    feed f1 = feed_new(h1, 1, L, n2, 5, rate), f2 = feed_new(h2, 1, L, n2, 6, rate);
    feed_pair(&f1, &f2, (long)(0.1 * rate), rate);
    CHECK(hh_get(h1, "latency") == (float)L, "latency with a server: %g, expected %d", hh_get(h1, "latency"), L);
    CHECK(tk_contains(hh_log(h1), "hiss-server"), "the log names the server: %s", hh_log(h1));
    check_delayed("no model, server latency", f1.out[0], f1.in[0], L, 0, f1.pos);

    hh_send_model(h1, m.a);
    hh_send_model(h2, m.a);
    long s0[2] = {-1, -1};
    feed *fs[2] = {&f1, &f2};
    for (long until = f1.pos; until < (long)(0.6 * rate) && (s0[0] < 0 || s0[1] < 0); until += L) {
        feed_pair(&f1, &f2, until + L, rate);
        for (int j = 0; j < 2; j++) {
            int ev = s0[j] < 0 ? hh_find(fs[j]->h, P_MODEL, m.a, 0) : -1;
            if (ev >= 0)
                s0[j] = (long)hh_event_at(fs[j]->h, ev)->frame;
        }
    }
    CHECK(s0[0] >= 0 && s0[1] >= 0, "model A never reported loaded on both instances");
    if (s0[0] < 0 || s0[1] < 0)
        return 1;
    CHECK(tk_contains(hh_last(h1, P_STATUS), "runs on hiss-server"), "status: %s", hh_last(h1, P_STATUS));
    feed_pair(&f1, &f2, n, rate);
    /* The host exports: it raises the freewheel port and runs the plugins back to back, faster
     * than the server could keep up with unwaited. Not one block may be silenced. */
    hh_set(h1, "freewheel", 1.0f);
    hh_set(h2, "freewheel", 1.0f);
    while (f1.pos < n2) {
        feed_block(&f1, L);
        feed_block(&f2, L);
    }
    hh_set(h1, "freewheel", 0.0f);
    hh_set(h2, "freewheel", 0.0f);
    for (int j = 0; j < 2; j++) {
        float *ref = malloc((size_t)n2 * sizeof(float));
        engine_from(m.a, rate, 1, fs[j]->in, &ref, s0[j], n2, cond_a_default, 2);
        printf("  instance %d: model A took over at frame %ld\n", j + 1, s0[j]);
        check_delayed("before the swap", fs[j]->out[0], fs[j]->in[0], L, 0, s0[j] + L);
        check_delayed("model A on the server", fs[j]->out[0], ref, L, s0[j] + L + fade, n);
        const long late = check_delayed("model A on the server, freewheeling", fs[j]->out[0], ref, L, n, n2);
        CHECK(late == 0, "freewheeling: %ld frames silenced, expected none", late);
        free(ref);
    }

    /* The server dies; the next model loads in this process, delayed to the same latency. */
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    hh_free(h2);
    feed_free(&f2);
    int from = hh_event_count(h1);
    hh_send_model(h1, m.b);
    long s1 = -1;
    const long n3 = n2 + n;
    feed g = feed_new(h1, 1, L, n3, 7, rate);
    memcpy(g.in[0], f1.in[0], (size_t)n2 * sizeof(float));
    memcpy(g.out[0], f1.out[0], (size_t)n2 * sizeof(float));
    g.pos = n2;
    int ev = feed_until_event(&g, P_MODEL, m.b, from, n2 + (long)(0.5 * rate));
    if (ev >= 0)
        s1 = (long)hh_event_at(h1, ev)->frame;
    CHECK(s1 >= 0, "model B never reported loaded after the server died");
    if (s1 < 0)
        return 1;
    CHECK(tk_contains(hh_last(h1, P_STATUS), "running in this process instead"), "status after the server died: %s",
          hh_last(h1, P_STATUS));
    printf("  server gone: %s\n", hh_last(h1, P_STATUS));
    feed_until(&g, n3);
    float *ref_b = malloc((size_t)n3 * sizeof(float));
    engine_from(m.b, rate, 1, g.in, &ref_b, s1, n3, NULL, 0);
    check_delayed("model B in this process, padded to the latency", g.out[0], ref_b, L, s1 + L + fade, n3);
    CHECK(hh_get(h1, "latency") == (float)L, "latency after the fallback: %g", hh_get(h1, "latency"));
    free(ref_b);
    feed_free(&g);
    feed_free(&f1);
    hh_free(h1);

    models_free(&m);
    free(sock);
    free(log);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: hiss-lv2-test CASE LV2_DIR TMP_DIR [immediate|deferred|threaded]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *c = argv[1];
    lv2_dir = argv[2];
    tmp_dir = argv[3];
    tk_mkdir_p(tmp_dir);
    if (argc > 4 && strcmp(c, "server") != 0)
        mode = tk_mode(argv[4]);
    /* A hiss-server running on this machine must not change what the other cases measure. */
    if (strcmp(c, "server") != 0)
        setenv("HISS_SERVER", "off", 1);
    int rc = 0;
    if (strcmp(c, "basic") == 0)
        case_basic();
    else if (strcmp(c, "params") == 0)
        case_params();
    else if (strcmp(c, "stereo") == 0)
        case_stereo();
    else if (strcmp(c, "rate") == 0)
        case_rate();
    else if (strcmp(c, "presets") == 0)
        rc = case_presets();
    else if (strcmp(c, "render") == 0 && argc > 4)
        case_render(argv[4]);
    else if (strcmp(c, "rt") == 0)
        rc = case_rt();
    else if (strcmp(c, "stress") == 0)
        rc = case_stress();
    else if (strcmp(c, "server") == 0 && argc > 4)
        rc = case_server(argv[4]);
    else {
        fprintf(stderr, "unknown case %s\n", c);
        return 2;
    }
    return tk_finish(c, rc);
}
