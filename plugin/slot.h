/* The model slot: which model runs, loading a new one on the LV2 worker, the crossfade from the
 * old one to the new one, and freeing the old one on the worker again. Shared, unchanged, by
 * every hiss plugin; the plugin's DSP only asks for the instances to run and the fade gain.
 *
 * Threads. The audio thread (run, work_response) owns cur, next, pending, trash and everything
 * marked "audio". The worker builds instances and frees them; they cross between the two only
 * inside worker messages. save/restore/the worker share `state_path` under a mutex that the
 * audio thread never touches.
 *
 * Swap sequence: patch:Set (run) -> request -> LOAD scheduled when none is in flight -> worker
 * loads, prewarms, answers LOADED -> work_response parks it in `pending` -> the next run starts
 * the fade (next = pending) -> old and new run side by side for fade_frames -> cur = next, the
 * old instance goes to the worker to be freed. A newer load that arrives while one is pending
 * replaces it (the replaced one is freed on the worker).
 *
 * Rebuilds. Every LOAD carries the instance parameters (hp_inst_params) the plugin wants at the
 * time it is scheduled. When the plugin asks for parameters that need another build
 * (hp_inst_same_build), the slot builds the newest model again with them, through the same
 * sequence, so the change crossfades like a swap; the others the plugin applies to the
 * instances in place. A rebuild that failed is not tried again until the build parameters or
 * the model change. Loads from restore() take the last parameters run() published. */
#ifndef HP_SLOT_H
#define HP_SLOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "host.h"
#include "inst.h"

/* Properties waiting to be published on the notify port. */
enum {
    HP_PUB_MODEL = 1u << 0,
    HP_PUB_STATUS = 1u << 1,
    HP_PUB_ERROR = 1u << 2,
    HP_PUB_KNOBS = 1u << 3,
    HP_PUB_ALL = 0xfu
};

typedef struct hp_slot {
    const hp_host *host;
    hp_inst_config cfg;
    int fade_frames;
    int fade_delay;        /* cfg.latency: a new instance is heard only once its output has begun */

    /* audio */
    hp_inst *cur;          /* what runs; never NULL once instantiated */
    hp_inst *next;         /* fading in over cur; NULL when no fade runs */
    hp_inst *pending;      /* loaded, waits for the running fade to end */
    hp_inst *trash;        /* replaced instances not yet handed to the worker */
    int fade_pos;          /* frames of the fade already played */
    int run_pos;           /* frames of the current run() already processed */
    int swap_at;           /* frame in this run where the newest model took over (notify time) */
    int in_flight;         /* a LOAD scheduled from run() has not answered yet */
    int dirty;             /* req_path holds a request not scheduled yet */
    uint32_t publish;      /* HP_PUB_* bits */
    uint32_t pub_mask;     /* the HP_PUB_* properties this plugin has (default HP_PUB_ALL) */
    hp_inst_params want;   /* the parameters instances should have */
    hp_inst_params sent;   /* those of the last LOAD scheduled from run(), for req_path */
    int sent_valid;        /* 0 after a load from restore(): compare with nothing */
    char req_path[HP_PATH_MAX + 1]; /* the last path requested (kept once scheduled) */
    _Alignas(8) char msgbuf[64 + HP_PATH_MAX + 1]; /* LOAD message, kept off the audio stack */
    char error[HP_TEXT_MAX];   /* last load error ("" none) */

    /* instantiation thread */
    int active;            /* between activate() and deactivate() */

    /* non-real-time threads: the path save() writes, the last model loaded successfully */
    pthread_mutex_t state_lock;
    char state_path[HP_PATH_MAX];

    /* `want` as run() last published it, for loads from restore() (a torn read gives other
     * parameters, which the next run() corrects, with a rebuild where one is needed) */
    _Atomic int32_t shared_voices;
    _Atomic uint32_t shared_temperature, shared_top_p, shared_seed; /* float bits, seed */
} hp_slot;

/* Instantiation: starts with the no-model instance, and with parameters all zero (what the FX
 * plugin keeps). Returns 0, or -1 (out of memory). */
int hp_slot_init(hp_slot *s, const hp_host *host, const hp_inst_config *cfg);
/* Frees every instance it holds; the host has stopped the worker by now. */
void hp_slot_destroy(hp_slot *s);

/* ---- audio thread ---- */

/* A patch:Set of the model path (latest wins when several arrive before the worker answers). */
void hp_slot_request(hp_slot *s, const char *path, uint32_t len);
/* The parameters instances should be built with, from now on; a change of the build (see
 * hp_inst_same_build) rebuilds the newest model at the next hp_slot_begin. Also callable while
 * the plugin does not run (before restore()). */
void hp_slot_set_params(hp_slot *s, const hp_inst_params *p);
/* At the top of run(): hand replaced instances to the worker, schedule the pending request (or a
 * rebuild), start a fade when a loaded model waits. */
void hp_slot_begin(hp_slot *s);
/* Frames left in the running fade, 0 when none runs. */
static inline int hp_slot_fade_left(const hp_slot *s)
{
    return s->next ? s->fade_delay + s->fade_frames - s->fade_pos : 0;
}
/* Weight of `next` at frame i of the current chunk: a raised cosine from 0 to 1, whose sum with
 * the weight of cur is 1 at every frame. */
float hp_slot_fade_gain(const hp_slot *s, int i);
/* After a chunk of n frames: advance the fade and retire cur when it ends. */
void hp_slot_advance(hp_slot *s, int n);
/* The newest instance that plays (next while fading, else cur). */
static inline const hp_inst *hp_slot_newest(const hp_slot *s)
{
    return s->next ? s->next : s->cur;
}
/* The newest instance the slot holds, playing or waiting to. */
static inline const hp_inst *hp_slot_latest(const hp_slot *s)
{
    return s->pending ? s->pending : hp_slot_newest(s);
}

/* ---- worker interface ---- */
LV2_Worker_Status hp_slot_work(hp_slot *s, LV2_Worker_Respond_Function respond,
                               LV2_Worker_Respond_Handle handle, uint32_t size, const void *data);
LV2_Worker_Status hp_slot_work_response(hp_slot *s, uint32_t size, const void *data);

/* ---- state (non-real-time) ---- */

/* Load now, in the calling thread, and install without a fade: for restore() while the plugin
 * does not run. Returns 0, or -1 with the error kept for notify and logged. Both loads take the
 * parameters last set (hp_slot_set_params). */
int hp_slot_load_now(hp_slot *s, const char *path);
/* Load through the given worker schedule (restore() while running, state:threadSafeRestore). */
int hp_slot_load_via(hp_slot *s, LV2_Worker_Schedule *sched, const char *path);
/* Copy the path save() should store ("" for none). */
void hp_slot_state_path(hp_slot *s, char *out, size_t cap);

#endif
