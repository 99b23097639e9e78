/* What a hiss-server and its clients (streams on HISS_BACKEND_SERVER) say to each other.
 *
 * The control channel is a Unix stream socket: the client sends one hs_request and gets one
 * hs_reply with, on success, the file descriptor of a shared memory region (SCM_RIGHTS). The
 * socket stays open for as long as the stream lives: the server frees the stream's slots when it
 * closes, whatever ended the client. Later messages on it (hs_op) are the non-real-time
 * operations, snapshot and restore.
 *
 * The audio goes through the shared region only, single-producer single-consumer rings with
 * absolute frame positions, so the client's process() writes input, reads output and publishes
 * counters without a system call, a lock or a wait:
 *   - the client appends input frames, and a chunk record (its first position, length and
 *     conditioning values) per process() call, then publishes chunk_w;
 *   - the server consumes chunks in order, writes the output of position p at out[p % ring],
 *     and publishes done_pos (every position below it has its output) and chunk_r.
 * A chunk never changes its conditioning midway, so however the server batches, each stream sees
 * its conditioning change exactly where the client changed it. docs/server.md has the whole
 * design. */
#ifndef HISS_SERVER_PROTO_H
#define HISS_SERVER_PROTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hiss.h"

#define HS_MAGIC 0x53534948u /* "HISS" */
#define HS_VERSION 1u
#define HS_PATH_MAX 4096
#define HS_CHUNKS 256u       /* chunk records in flight per connection */
#define HS_MAX_STREAMS 4096  /* streams one connection may carry */

typedef struct hs_request {
    uint32_t magic, version;
    uint32_t n_streams, max_block;
    uint32_t rate_mode, pid;
    double host_rate;
    uint64_t fingerprint; /* hiss_model_fingerprint of the client's copy */
    char path[HS_PATH_MAX];
} hs_request;

typedef struct hs_reply {
    uint32_t magic, version;
    int32_t status;       /* hiss_status */
    uint32_t ring;        /* frames per stream in each ring */
    uint64_t shm_size;
    char backend[16];     /* what the server runs the stream on: "cpu" or "cuda" */
    char msg[HISS_ERROR_LEN];
} hs_reply;

/* After the reply: operations on the socket, each answered by an hs_op_reply (and, for
 * HS_OP_GET_STATE, the state floats). The client sends one only when the server has processed
 * every frame it submitted, so the state is that of the stream after its last process(). */
enum { HS_OP_GET_STATE = 1, HS_OP_SET_STATE = 2 };
typedef struct hs_op {
    uint32_t op, k;
    uint64_t n_floats; /* HS_OP_SET_STATE: the floats that follow */
} hs_op;
typedef struct hs_op_reply {
    int32_t status;
    uint32_t pad;
    uint64_t n_floats;
} hs_op_reply;

typedef struct hs_chunk {
    uint64_t start; /* position of its first frame */
    uint32_t n, pad;
} hs_chunk;

/* The head of the shared region; the arrays follow at the offsets it gives (bytes from the
 * head, each 64-byte aligned). */
typedef struct hs_shm {
    uint32_t magic, version;
    uint32_t n_streams, n_cond, ring, chunks;
    uint64_t off_chunk;     /* hs_chunk[chunks] */
    uint64_t off_cond;      /* float[chunks][n_streams][n_cond]: each chunk's conditioning */
    uint64_t off_reset_seq; /* _Atomic uint32_t[n_streams]: client bumps to ask for a reset */
    uint64_t off_reset_pos; /* _Atomic uint64_t[n_streams]: ... before this position */
    uint64_t off_resets;    /* _Atomic uint64_t[n_streams]: server: state resets so far */
    uint64_t off_in;        /* float[n_streams][ring] */
    uint64_t off_out;       /* float[n_streams][ring] */
    uint64_t size;
    _Alignas(64) _Atomic uint64_t chunk_w; /* client: chunk records written */
    _Alignas(64) _Atomic uint64_t done_pos; /* server: frames whose output is written */
    _Atomic uint64_t chunk_r;               /* server: chunk records consumed */
    _Atomic uint32_t closed;                /* server: it no longer serves this region */
} hs_shm;

static inline uint64_t hs_align64(uint64_t x)
{
    return (x + 63u) & ~(uint64_t)63u;
}

/* Lay out a region for n streams, nc conditioning inputs and a ring of ring frames. */
static inline void hs_layout(hs_shm *h, uint32_t n, uint32_t nc, uint32_t ring)
{
    uint64_t o = hs_align64(sizeof(hs_shm));
    h->magic = HS_MAGIC;
    h->version = HS_VERSION;
    h->n_streams = n;
    h->n_cond = nc;
    h->ring = ring;
    h->chunks = HS_CHUNKS;
    h->off_chunk = o;
    o = hs_align64(o + (uint64_t)HS_CHUNKS * sizeof(hs_chunk));
    h->off_cond = o;
    o = hs_align64(o + (uint64_t)HS_CHUNKS * n * (nc ? nc : 1) * sizeof(float));
    h->off_reset_seq = o;
    o = hs_align64(o + (uint64_t)n * sizeof(uint32_t));
    h->off_reset_pos = o;
    o = hs_align64(o + (uint64_t)n * sizeof(uint64_t));
    h->off_resets = o;
    o = hs_align64(o + (uint64_t)n * sizeof(uint64_t));
    h->off_in = o;
    o = hs_align64(o + (uint64_t)n * ring * sizeof(float));
    h->off_out = o;
    o = hs_align64(o + (uint64_t)n * ring * sizeof(float));
    h->size = o;
}

#define HS_AT(h, off, type) ((type)(void *)((char *)(h) + (h)->off))

static inline hs_chunk *hs_chunks(hs_shm *h) { return HS_AT(h, off_chunk, hs_chunk *); }
static inline float *hs_cond(hs_shm *h) { return HS_AT(h, off_cond, float *); }
static inline _Atomic uint32_t *hs_reset_seq(hs_shm *h) { return HS_AT(h, off_reset_seq, _Atomic uint32_t *); }
static inline _Atomic uint64_t *hs_reset_pos(hs_shm *h) { return HS_AT(h, off_reset_pos, _Atomic uint64_t *); }
static inline _Atomic uint64_t *hs_resets(hs_shm *h) { return HS_AT(h, off_resets, _Atomic uint64_t *); }
static inline float *hs_in(hs_shm *h) { return HS_AT(h, off_in, float *); }
static inline float *hs_out(hs_shm *h) { return HS_AT(h, off_out, float *); }

/* server_io.c: a whole message over the control socket (-1: it closed or failed), and n frames
 * at position pos of a ring of size frames (a power of two), wrapping. */
int hs_send_all(int fd, const void *p, size_t n);
int hs_recv_all(int fd, void *p, size_t n);
void hs_ring_write(float *ring, uint32_t size, uint64_t pos, const float *src, int n);
void hs_ring_read(float *dst, const float *ring, uint32_t size, uint64_t pos, int n);

/* The ring a stream with this max_block gets: a power of two of at least 4 blocks, so that an
 * output stays readable for max_block frames of latency plus a block in flight either side. */
static inline uint32_t hs_ring_for(uint32_t max_block)
{
    uint32_t r = 1024;
    while (r < 4u * max_block)
        r <<= 1;
    return r;
}

#endif
