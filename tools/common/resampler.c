/* The resampling wrapper (see resampler.h for the timing model).
 *
 * Indexing. Both converters keep index alignment: up-converter output k is the input at model
 * time k, down-converter output j is its input at host time j. The wrapper starts every stream
 * (at creation and at each reset) at a host index S that is a whole number of rate periods
 * (host_rate/g frames, g = gcd of the rates) after everything fed so far, by feeding silence up
 * to S first. At such an index both converters are in the same phase as at index 0, so what
 * follows is processed exactly as a signal preceded by silence, without re-creating them (a
 * fresh libsoxr is not quite that: it trims its start, and its first few outputs after an
 * abrupt onset differ by up to a few percent of the step; tests/render/test_resampler.c shows
 * it and builds its reference the way this file works). Up-converter
 * output before S*M/H is not given to the model (silence goes down instead); the model's first
 * engine_latency outputs after its reset are dropped, which keeps the model's output at the
 * model index of its input; host output j of the stream is chain output S + j - latency. */
#include "resampler.h"

#include <math.h>
#include <soxr.h>
#include <stdlib.h>
#include <string.h>

#include "toolerr.h"

enum feed_mode {
    FEED_RUN,  /* model-rate samples from S*M/H on go through the model, output is kept */
    FEED_PRIME /* silence everywhere, output discarded */
};

struct hiss_resampler {
    hiss_stream *stream;
    int channels;
    int max_block;
    double host_rate, model_rate;
    int bypass; /* equal rates: the stream alone */

    soxr_t up, down;
    int mcap;       /* model-rate frames per up-converter output call (and model call) */
    int hcap;       /* host-rate frames per down-converter output call */
    float **ibuf;   /* [channels][max_block] sanitised input */
    float **mbuf;   /* [channels][mcap] */
    float **hbuf;   /* [channels][hcap] */
    float **ring;   /* [channels][ring_cap] host-rate output FIFO */
    float *zeros;   /* [zlen] silence, shared by every channel */
    int zlen;
    /* Pointer arrays for the calls, one set per nesting level so that no call overwrites
     * another's. */
    const float **up_in;
    const float **dn_in;
    float **m_io;

    int ring_cap, ring_pos, ring_len;
    uint64_t debt; /* frames owed after an underrun, dropped from the next arrivals */

    int latency;        /* host frames */
    int engine_latency; /* model frames */
    int engine_skip;    /* engine outputs still to drop after a reset */
    int flush_frames;   /* silence a reset runs through before the new start */
    uint64_t period_host, period_model;

    uint64_t n_in;        /* host frames fed to the up-converter since creation */
    uint64_t n_up;        /* model frames out of the up-converter */
    uint64_t n_dn_out;    /* host frames out of the down-converter */
    uint64_t start_model; /* up-converter index of the first sample the model sees */

    uint64_t nonfinite;
    uint64_t underruns;
};

hiss_resampler_opts hiss_resampler_opts_default(void)
{
    hiss_resampler_opts o = {HISS_RESAMPLE_HQ, HISS_BACKEND_AUTO};
    return o;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static soxr_t make_soxr(double in_rate, double out_rate, int channels, hiss_resample_quality q,
                        const char **why)
{
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_S, SOXR_FLOAT32_S);
    /* Linear phase (the recipes' default), so that output stays aligned with input; the precise
     * clock keeps irrational-looking ratios from drifting over long streams. */
    soxr_quality_spec_t qs = soxr_quality_spec(q == HISS_RESAMPLE_VHQ ? SOXR_VHQ : SOXR_HQ,
                                               SOXR_HI_PREC_CLOCK);
    /* One thread: the caller's thread is the only one a real-time host allows. */
    soxr_runtime_spec_t rs = soxr_runtime_spec(1);
    soxr_error_t e = NULL;
    soxr_t s = soxr_create(in_rate, out_rate, (unsigned)channels, &e, &io, &qs, &rs);
    if (e) {
        soxr_delete(s);
        *why = e;
        return NULL;
    }
    return s;
}

/* The most a converter holds back (soxr_delay, in its output frames) over the positions of a
 * stream fed one frame at a time. It depends only on the total fed (the converter is drained
 * after every call), so one-frame steps see every position any block size can reach. */
static double max_hold_back(double in_rate, double out_rate, hiss_resample_quality q,
                            const char **why)
{
    soxr_t s = make_soxr(in_rate, out_rate, 1, q, why);
    if (!s)
        return -1.0;
    float zero = 0.0f, obuf[256];
    const float *ip[1] = {&zero};
    float *op[1] = {obuf};
    double mx = 0.0;
    /* Long enough for the first output and many of the converter's internal blocks: the
     * maximum is reached within ~30k frames at 44.1/48 kHz (HQ and VHQ); converters that hold
     * back more are looked at for longer. */
    long steps = 65536;
    for (long i = 0; i < steps; i++) {
        size_t idone = 0, odone = 0;
        soxr_error_t e = soxr_process(s, ip, 1, &idone, op, 256, &odone);
        while (!e && odone == 256) /* drain: an empty call, not end-of-stream (in != NULL) */
            e = soxr_process(s, ip, 0, &idone, op, 256, &odone);
        if (e) {
            *why = e;
            soxr_delete(s);
            return -1.0;
        }
        double d = soxr_delay(s);
        if (d > mx)
            mx = d;
        if (i == steps - 1 && steps < (1L << 22) && (double)steps < 16.0 * mx * in_rate / out_rate)
            steps *= 2;
    }
    soxr_delete(s);
    return mx;
}

static void ring_push(hiss_resampler *r, int k)
{
    int src = 0;
    if (r->debt) {
        int d = r->debt < (uint64_t)k ? (int)r->debt : k;
        r->debt -= (uint64_t)d;
        src = d;
        k -= d;
    }
    if (r->ring_len + k > r->ring_cap) /* cannot happen: the ring holds latency + 2 blocks */
        k = r->ring_cap - r->ring_len;
    if (k <= 0)
        return;
    int w = (r->ring_pos + r->ring_len) % r->ring_cap;
    int first = k < r->ring_cap - w ? k : r->ring_cap - w;
    for (int c = 0; c < r->channels; c++) {
        memcpy(r->ring[c] + w, r->hbuf[c] + src, (size_t)first * sizeof(float));
        if (k > first)
            memcpy(r->ring[c], r->hbuf[c] + src + first, (size_t)(k - first) * sizeof(float));
    }
    r->ring_len += k;
}

/* Feed n model-rate frames (src: per-channel pointers, or NULL for silence) to the
 * down-converter and drain it; keep its output in the ring or drop it. */
static int feed_down(hiss_resampler *r, float *const *src, size_t n, int keep)
{
    size_t off = 0;
    for (;;) {
        size_t ilen = n - off;
        if (!src && ilen > (size_t)r->zlen)
            ilen = (size_t)r->zlen;
        for (int c = 0; c < r->channels; c++)
            r->dn_in[c] = src ? src[c] + off : r->zeros;
        size_t idone = 0, odone = 0;
        if (soxr_process(r->down, r->dn_in, ilen, &idone, r->hbuf, (size_t)r->hcap, &odone))
            return -1;
        off += idone;
        r->n_dn_out += odone;
        if (keep && odone)
            ring_push(r, (int)odone);
        if (off == n && odone < (size_t)r->hcap)
            return 0;
    }
}

/* m model-rate frames are in mbuf: run the model on those at or after the stream's start and
 * pass everything down. */
static int model_stage(hiss_resampler *r, int m, enum feed_mode mode)
{
    if (mode == FEED_PRIME) {
        r->n_up += (uint64_t)m;
        return feed_down(r, NULL, (size_t)m, 0);
    }
    int pre = 0;
    if (r->n_up < r->start_model)
        pre = r->start_model - r->n_up < (uint64_t)m ? (int)(r->start_model - r->n_up) : m;
    r->n_up += (uint64_t)m;
    if (pre && feed_down(r, NULL, (size_t)pre, 1))
        return -1;
    int post = m - pre;
    if (post <= 0)
        return 0;
    for (int c = 0; c < r->channels; c++)
        r->m_io[c] = r->mbuf[c] + pre;
    if (hiss_stream_process(r->stream, (const float *const *)r->m_io, r->m_io, post) != HISS_OK)
        return -1;
    int drop = r->engine_skip < post ? r->engine_skip : post;
    r->engine_skip -= drop;
    if (post == drop)
        return 0;
    for (int c = 0; c < r->channels; c++)
        r->m_io[c] += drop;
    return feed_down(r, r->m_io, (size_t)(post - drop), 1);
}

/* Feed n host frames (src per channel, or NULL for silence) through the whole chain. */
static int feed_up(hiss_resampler *r, const float *const *src, size_t n, enum feed_mode mode)
{
    size_t off = 0;
    for (;;) {
        size_t ilen = n - off;
        if (!src && ilen > (size_t)r->zlen)
            ilen = (size_t)r->zlen;
        for (int c = 0; c < r->channels; c++)
            r->up_in[c] = src ? src[c] + off : r->zeros;
        size_t idone = 0, odone = 0;
        if (soxr_process(r->up, r->up_in, ilen, &idone, r->mbuf, (size_t)r->mcap, &odone))
            return -1;
        off += idone;
        r->n_in += idone;
        if (odone && model_stage(r, (int)odone, mode))
            return -1;
        if (off == n && odone < (size_t)r->mcap)
            return 0;
    }
}

/* Start a fresh stream: flush with silence up to a whole number of rate periods, zero the model
 * state, and fill the ring so that the first output is chain output S - latency. */
static int prime(hiss_resampler *r)
{
    uint64_t target = r->n_in + (uint64_t)r->flush_frames;
    uint64_t s_host = (target + r->period_host - 1) / r->period_host * r->period_host;
    while (r->n_in < s_host) {
        uint64_t k = s_host - r->n_in;
        if (k > (uint64_t)r->max_block)
            k = (uint64_t)r->max_block;
        if (feed_up(r, NULL, (size_t)k, FEED_PRIME))
            return -1;
    }
    r->start_model = s_host / r->period_host * r->period_model;
    if (r->n_up > r->start_model) /* a converter ahead of its input: not libsoxr's behaviour */
        return -1;
    hiss_stream_reset(r->stream, -1);
    r->engine_skip = r->engine_latency;
    /* The ring holds chain outputs [S - latency, n_dn_out): silence, since the flush left
     * nothing else within reach of them. */
    int64_t fill = (int64_t)r->latency - (int64_t)(s_host - r->n_dn_out);
    r->debt = 0;
    if (fill < 0) {
        r->debt = (uint64_t)(-fill);
        fill = 0;
    }
    r->ring_pos = 0;
    r->ring_len = (int)fill;
    for (int c = 0; c < r->channels; c++)
        memset(r->ring[c], 0, (size_t)fill * sizeof(float));
    return 0;
}

static float **alloc_planes(int channels, int len);
static void free_planes(float **p, int channels);

/* libsoxr's FIFOs (input, between stages, output) grow with realloc when a write does not fit
 * (fifo.h: by the size of the write, and only while the unread data starts in the first 16 KiB;
 * else the data is moved down instead), and never shrink. This drives them past the sizes real
 * traffic can need, so that process() and reset() do not allocate:
 *  - bursts several times larger than any real call: a write of n items leaves the FIFO at
 *    least n items large, which covers the input and output FIFOs for any block up to
 *    max_block wherever their data starts;
 *  - silence one frame at a time: a stage then takes its input in small pieces, so the read
 *    position of the FIFO between stages creeps up to where growth is still allowed while the
 *    FIFO is full, the costliest case (bursts never reach it);
 *  - silence in blocks of every size up to max_block for a few hundred thousand frames, so
 *    those FIFOs meet the block alignments real traffic meets.
 * Measured (tests/render/test_resampler_noalloc.c and a wider sweep: 8 rate pairs x HQ/VHQ x
 * blocks 1..4096, 1M frames each): no allocation after this; without the one-frame phase one
 * case in 75 still grew a FIFO after 1M frames. libsoxr itself promises nothing here.
 * Everything here is silence and runs before the stream's start (see prime()). */
static int warm_up(hiss_resampler *r)
{
    int big_m = 8 * r->mcap + 65536, big_h = 8 * r->hcap + 65536;
    int big_z = big_m > 8 * r->max_block + 65536 ? big_m : 8 * r->max_block + 65536;
    float **bm = alloc_planes(r->channels, big_m), **bh = alloc_planes(r->channels, big_h);
    float *bz = calloc((size_t)big_z, sizeof(float));
    int rc = (!bm || !bh || !bz) ? -1 : 0;
    if (rc == 0) {
        float **sm = r->mbuf, **sh = r->hbuf, *sz = r->zeros;
        int smc = r->mcap, shc = r->hcap, szl = r->zlen;
        r->mbuf = bm, r->hbuf = bh, r->zeros = bz;
        r->mcap = big_m, r->hcap = big_h, r->zlen = big_z;
        for (int k = 0; k < 6 && rc == 0; k++)
            rc = feed_up(r, NULL, (size_t)(big_z - 977 * k), FEED_PRIME);
        r->mbuf = sm, r->hbuf = sh, r->zeros = sz;
        r->mcap = smc, r->hcap = shc, r->zlen = szl;
    }
    free_planes(bm, r->channels);
    free_planes(bh, r->channels);
    free(bz);
    for (int i = 0; i < 65536 && rc == 0; i++)
        rc = feed_up(r, NULL, 1, FEED_PRIME);
    uint32_t lcg = 12345u;
    uint64_t warm = 262144 + 32 * (uint64_t)r->max_block + 4 * (uint64_t)r->latency;
    for (uint64_t done = 0; done < warm && rc == 0;) {
        lcg = lcg * 1664525u + 1013904223u;
        int k = (int)((lcg >> 8) % (uint32_t)r->max_block) + 1;
        if ((lcg >> 4) % 3 == 0)
            k = r->max_block;
        rc = feed_up(r, NULL, (size_t)k, FEED_PRIME);
        done += (uint64_t)k;
    }
    return rc;
}

static float **alloc_planes(int channels, int len)
{
    float **p = calloc((size_t)channels, sizeof *p);
    if (!p)
        return NULL;
    for (int c = 0; c < channels; c++) {
        p[c] = calloc((size_t)len, sizeof(float));
        if (!p[c]) {
            for (int k = 0; k < c; k++)
                free(p[k]);
            free(p);
            return NULL;
        }
    }
    return p;
}

static void free_planes(float **p, int channels)
{
    if (!p)
        return;
    for (int c = 0; c < channels; c++)
        free(p[c]);
    free(p);
}

void hiss_resampler_free(hiss_resampler *r)
{
    if (!r)
        return;
    hiss_stream_free(r->stream);
    soxr_delete(r->up);
    soxr_delete(r->down);
    free_planes(r->ibuf, r->channels);
    free_planes(r->mbuf, r->channels);
    free_planes(r->hbuf, r->channels);
    free_planes(r->ring, r->channels);
    free(r->zeros);
    free(r->up_in);
    free(r->dn_in);
    free(r->m_io);
    free(r);
}

static int whole_rate(double r)
{
    return r >= 1.0 && r <= 1e7 && r == floor(r);
}

hiss_status hiss_resampler_create(const hiss_model *m, double host_rate, int n_channels,
                                  int max_block, const hiss_resampler_opts *opts,
                                  hiss_resampler **out, hiss_error *err)
{
    if (out)
        *out = NULL;
    if (!m || !out) {
        hiss_tool_seterr(err, HISS_ERR_ARG, "resampler: model and output pointer are required");
        return HISS_ERR_ARG;
    }
    if (n_channels < 1 || n_channels > 1024 || max_block < 1 || max_block > (1 << 20)) {
        hiss_tool_seterr(err, HISS_ERR_ARG,
                         "resampler: %d channels and blocks of %d frames are out of range "
                         "(1..1024 channels, 1..1048576 frames)", n_channels, max_block);
        return HISS_ERR_ARG;
    }
    hiss_resampler_opts o = opts ? *opts : hiss_resampler_opts_default();
    double mr = hiss_model_config(m)->sample_rate;
    if (host_rate != mr && (!whole_rate(host_rate) || !whole_rate(mr))) {
        hiss_tool_seterr(err, HISS_ERR_RATE,
                         "resampler: host rate %g Hz and model rate %g Hz must be whole numbers "
                         "of Hz", host_rate, mr);
        return HISS_ERR_RATE;
    }
    hiss_resampler *r = calloc(1, sizeof *r);
    if (!r) {
        hiss_tool_seterr(err, HISS_ERR_NOMEM, "resampler: out of memory");
        return HISS_ERR_NOMEM;
    }
    r->channels = n_channels;
    r->max_block = max_block;
    r->host_rate = host_rate;
    r->model_rate = mr;
    r->bypass = host_rate == mr;
    if (!r->bypass) {
        uint64_t g = gcd_u64((uint64_t)host_rate, (uint64_t)mr);
        r->period_host = (uint64_t)host_rate / g;
        r->period_model = (uint64_t)mr / g;
    }

    r->mcap = (int)ceil((double)max_block * mr / host_rate) + 64;
    if (r->mcap < 256)
        r->mcap = 256;
    if (r->bypass)
        r->mcap = max_block;

    hiss_stream_opts so = hiss_stream_opts_default();
    so.n_streams = n_channels;
    so.max_block = r->mcap;
    so.host_rate = mr; /* the stream runs at the model's rate */
    so.rate_mode = HISS_RATE_RESAMPLE;
    so.backend = o.backend;
    hiss_status st = hiss_stream_create(m, &so, &r->stream, err);
    if (st != HISS_OK) {
        hiss_resampler_free(r);
        return st;
    }
    r->engine_latency = hiss_stream_latency(r->stream);
    if (r->bypass) {
        r->latency = r->engine_latency;
        *out = r;
        return HISS_OK;
    }

    const char *why = NULL;
    double hold_up = max_hold_back(host_rate, mr, o.quality, &why);
    double hold_dn = hold_up >= 0.0 ? max_hold_back(mr, host_rate, o.quality, &why) : -1.0;
    if (hold_up < 0.0 || hold_dn < 0.0) {
        hiss_tool_seterr(err, HISS_ERR_BACKEND, "resampler: libsoxr failed (%s)", why ? why : "?");
        hiss_resampler_free(r);
        return HISS_ERR_BACKEND;
    }
    /* Deficit after N host frames = up hold-back (in host frames) + engine latency (in host
     * frames) + down hold-back; the sum of the maxima bounds the maximum of the sum. */
    double lat = hold_up * host_rate / mr + (double)r->engine_latency * host_rate / mr + hold_dn;
    r->latency = (int)ceil(lat - 1e-9);
    /* Reach of old signal into the future, per converter, is below its hold-back plus one
     * filter length; four latencies bound that with room to spare. */
    r->flush_frames = 4 * r->latency + 4096;

    r->hcap = (int)ceil((double)r->mcap * host_rate / mr) + 64;
    r->zlen = r->mcap > max_block ? r->mcap : max_block;
    r->ring_cap = r->latency + 2 * max_block + r->hcap + 64;
    r->ibuf = alloc_planes(n_channels, max_block);
    r->mbuf = alloc_planes(n_channels, r->mcap);
    r->hbuf = alloc_planes(n_channels, r->hcap);
    r->ring = alloc_planes(n_channels, r->ring_cap);
    r->zeros = calloc((size_t)r->zlen, sizeof(float));
    r->up_in = calloc((size_t)n_channels, sizeof *r->up_in);
    r->dn_in = calloc((size_t)n_channels, sizeof *r->dn_in);
    r->m_io = calloc((size_t)n_channels, sizeof *r->m_io);
    r->up = make_soxr(host_rate, mr, n_channels, o.quality, &why);
    r->down = r->up ? make_soxr(mr, host_rate, n_channels, o.quality, &why) : NULL;
    if (!r->up || !r->down) {
        hiss_tool_seterr(err, HISS_ERR_BACKEND,
                         "resampler: libsoxr cannot convert %g Hz <-> %g Hz (%s)", host_rate, mr,
                         why ? why : "?");
        hiss_resampler_free(r);
        return HISS_ERR_BACKEND;
    }
    if (!r->ibuf || !r->mbuf || !r->hbuf || !r->ring || !r->zeros || !r->up_in || !r->dn_in ||
        !r->m_io) {
        hiss_tool_seterr(err, HISS_ERR_NOMEM, "resampler: out of memory");
        hiss_resampler_free(r);
        return HISS_ERR_NOMEM;
    }

    if (warm_up(r) != 0) {
        const char *e = soxr_error(r->up) ? soxr_error(r->up) : soxr_error(r->down);
        hiss_tool_seterr(err, HISS_ERR_BACKEND, "resampler: libsoxr failed during warm-up (%s)",
                         e ? e : "out of memory");
        hiss_resampler_free(r);
        return HISS_ERR_BACKEND;
    }
    if (prime(r)) {
        hiss_tool_seterr(err, HISS_ERR_BACKEND, "resampler: could not start the converters");
        hiss_resampler_free(r);
        return HISS_ERR_BACKEND;
    }
    *out = r;
    return HISS_OK;
}

hiss_status hiss_resampler_process(hiss_resampler *r, const float *const *in, float *const *out,
                                   int n)
{
    if (!r || !in || !out || n < 1 || n > r->max_block)
        return HISS_ERR_ARG;
    if (r->bypass)
        return hiss_stream_process(r->stream, in, out, n);
    /* NaN or Inf would spread through the converters' filters to many samples and stay in
     * their state, so they are stopped here rather than by the engine. */
    for (int c = 0; c < r->channels; c++) {
        const float *x = in[c];
        float *y = r->ibuf[c];
        for (int i = 0; i < n; i++) {
            float v = x[i];
            if (!isfinite(v)) {
                v = 0.0f;
                r->nonfinite++;
            }
            y[i] = v;
        }
    }
    if (feed_up(r, (const float *const *)r->ibuf, (size_t)n, FEED_RUN))
        return HISS_ERR_BACKEND;
    int k = r->ring_len < n ? r->ring_len : n;
    int first = k < r->ring_cap - r->ring_pos ? k : r->ring_cap - r->ring_pos;
    for (int c = 0; c < r->channels; c++) {
        memcpy(out[c], r->ring[c] + r->ring_pos, (size_t)first * sizeof(float));
        if (k > first)
            memcpy(out[c] + first, r->ring[c], (size_t)(k - first) * sizeof(float));
        if (k < n)
            memset(out[c] + k, 0, (size_t)(n - k) * sizeof(float));
    }
    r->ring_pos = (r->ring_pos + k) % r->ring_cap;
    r->ring_len -= k;
    if (k < n) {
        r->underruns += (uint64_t)(n - k);
        r->debt += (uint64_t)(n - k);
    }
    return HISS_OK;
}

int hiss_resampler_latency_frames(const hiss_resampler *r)
{
    return r ? r->latency : 0;
}

void hiss_resampler_reset(hiss_resampler *r)
{
    if (!r)
        return;
    if (r->bypass) {
        hiss_stream_reset(r->stream, -1);
        return;
    }
    /* A libsoxr error here is sticky and reported by the next process call. */
    (void)prime(r);
}

hiss_stream *hiss_resampler_stream(hiss_resampler *r)
{
    return r ? r->stream : NULL;
}

double hiss_resampler_model_rate(const hiss_resampler *r)
{
    return r ? r->model_rate : 0.0;
}

uint64_t hiss_resampler_nonfinite_inputs(const hiss_resampler *r)
{
    return r ? r->nonfinite : 0;
}

uint64_t hiss_resampler_underruns(const hiss_resampler *r)
{
    return r ? r->underruns : 0;
}
