/* hiss-server: one process that runs the streams of many clients (plugin instances, host
 * channels, several hosts) and batches those of one model into shared launches. */
#ifndef HISS_SERVER_H
#define HISS_SERVER_H

#include <pthread.h>
#include <stdint.h>

#include "hiss.h"
#include "server_proto.h"

typedef struct hsv_config {
    const char *socket_path;
    hiss_backend backend;
    int slots;       /* streams per group */
    int block;       /* the most frames one launch advances */
    double gather_s; /* the most a launch waits for the group's live clients to submit */
    double poll_s;   /* the group thread's sleep while nothing is waiting */
    int batch_min;   /* streams waiting that start a launch without waiting for the rest */
    int quiet;
} hsv_config;

/* One client connection: a stream object of n streams, on contiguous slots of a group. */
typedef struct hsv_member {
    int sock;
    hs_shm *h;
    uint32_t K, nc, ring;
    int base;          /* its first stream in the group's stream object */
    uint64_t pos, cr;  /* the server's copies of done_pos and chunk_r */
    uint64_t last_cw;  /* chunk_w when last looked at */
    double last_seen;  /* when chunk_w last moved: clients that stopped submitting are not waited for */
    double period_s;   /* its max_block at its rate: it needs each block's output that much later */
    uint32_t *seen;    /* [K] reset requests carried out */
    int broken;        /* broke the protocol: ignored until it disconnects */
    struct hsv_group *g;
} hsv_member;

typedef struct hsv_stats {
    uint64_t launches, frames, stream_frames, max_batch;
} hsv_stats;

/* The streams of one model at one rate: one stream object, one thread that batches. */
typedef struct hsv_group {
    hiss_model *model;
    uint64_t fingerprint;
    double host_rate;
    int rate_mode;
    hiss_stream *stream;
    int cap, block;
    unsigned char *used, *active; /* [cap] */
    float **in, **out;            /* [cap] -> rows of stage */
    float *stage;                 /* [2][cap][block] */
    hsv_member **members;         /* [n_members] (room for cap): the clients, each once */
    int n_members;
    const hsv_config *cfg;
    pthread_mutex_t lock;
    pthread_t thread;
    int running, quit;
    hsv_stats stats;
} hsv_group;

double hsv_now(void);

/* group.c */
hsv_group *hsv_group_create(const hsv_config *cfg, hiss_model *model, const hs_request *rq, char *err,
                            size_t err_len);
/* Stops the thread; the group must have no members. */
void hsv_group_free(hsv_group *g);
int hsv_group_fits(const hsv_group *g, uint64_t fingerprint, double host_rate, int rate_mode, int n);
/* Under the group lock: place m on free slots (-1: no room) / take it off again. */
int hsv_group_add(hsv_group *g, hsv_member *m);
void hsv_group_remove(hsv_group *g, hsv_member *m);
/* Under the group lock: resets m asked for and the group has not yet carried out. */
void hsv_group_apply_resets(hsv_group *g, hsv_member *m);

#endif
