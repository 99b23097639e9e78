/* A small LV2 host on lilv for the plugin tests: urid map/unmap, log, options, the worker (three
 * ways: at once inside schedule_work, deferred to between blocks, or on its own thread), state
 * with map-path, presets, and the patch messages of the control and notify ports. */
#ifndef HH_HOST_H
#define HH_HOST_H

#include <stddef.h>
#include <stdint.h>

typedef enum hh_work_mode {
    HH_WORK_IMMEDIATE, /* work() and work_response() inside schedule_work, as when freewheeling */
    HH_WORK_DEFERRED,  /* work() after run() returns, responses delivered before the next run() */
    HH_WORK_THREADED   /* a worker thread and lock-free rings, as jalv and Ardour do */
} hh_work_mode;

typedef struct hh_opts {
    const char *lv2_dir;   /* folder holding hiss.lv2 */
    const char *uri;       /* plugin URI */
    double rate;
    int max_block;         /* bufsz:maxBlockLength given to the plugin */
    hh_work_mode mode;
    int verbose;           /* print the plugin's log lines */
} hh_opts;

typedef struct hh_host hh_host;

hh_host *hh_new(const hh_opts *o);
void hh_free(hh_host *h);

/* Audio inputs (0 for an instrument) and outputs. */
int hh_channels(const hh_host *h);
int hh_outputs(const hh_host *h);
void hh_set(hh_host *h, const char *symbol, float value);
float hh_get(const hh_host *h, const char *symbol);
void hh_activate(hh_host *h);
void hh_deactivate(hh_host *h);

/* Queue messages for the control port of the next run. */
void hh_send_model(hh_host *h, const char *path);
void hh_send_get(hh_host *h, const char *property_uri); /* NULL: every property */
/* A MIDI message at a frame of the next run; queue them in time order, after any patch message
 * (those go at frame 0). */
void hh_send_midi(hh_host *h, uint32_t frame, const uint8_t *msg, uint32_t len);

/* Run one block. in/out hold one pointer per channel (in is not read for an instrument). The calls into the plugin (run, and
 * work_response in the deferred and threaded modes) are bracketed by the real-time checker
 * when it is preloaded. Notify events are parsed after, with their frame (the host's running
 * count at the block's first frame). */
void hh_run(hh_host *h, const float *const *in, float *const *out, uint32_t n);
/* Deferred mode: nothing to do for the others. Runs queued work and delivers responses. */
void hh_flush_worker(hh_host *h);
/* Threaded mode: wait until the worker thread has nothing queued (then deliver responses). */
void hh_wait_worker(hh_host *h);
uint64_t hh_frames(const hh_host *h);

/* Notify events. */
typedef struct hh_event {
    uint64_t frame;
    char property[128];
    char value[1024];
} hh_event;
int hh_event_count(const hh_host *h);
void hh_events_clear(hh_host *h);
const hh_event *hh_event_at(const hh_host *h, int i);
/* The last value published for a property ("" and NULL frame if none). */
const char *hh_last(const hh_host *h, const char *property_uri);
/* Events for a property since index `from` (count), and the first one's frame. */
int hh_find(const hh_host *h, const char *property_uri, const char *value, int from);

/* Everything the plugin logged, one message after the other. */
const char *hh_log(const hh_host *h);
void hh_log_clear(hh_host *h);

/* State through the plugin's state interface, with map-path relative to session_dir. */
typedef struct hh_state hh_state;
hh_state *hh_save(hh_host *h, const char *session_dir);
/* The raw stored value of a property (the abstract path for hiss:model), or NULL. */
const char *hh_state_value(const hh_state *s, const char *key_uri);
/* While the plugin runs, restore passes a worker schedule (state:threadSafeRestore) that runs
 * work() in the calling thread, as jalv does. */
int hh_restore(hh_host *h, const hh_state *s, const char *session_dir);
void hh_state_free(hh_state *s);
/* A state holding one atom:Path property, as a host would have saved it. */
hh_state *hh_state_with_path(hh_host *h, const char *key_uri, const char *path);

/* Presets: the URIs of this plugin's presets, and applying one through lilv. */
int hh_preset_count(hh_host *h);
const char *hh_preset_uri(hh_host *h, int i);
const char *hh_preset_label(hh_host *h, int i);
int hh_apply_preset(hh_host *h, const char *uri);

/* Real-time checker (rtcheck.so, LD_PRELOAD): 1 when present. */
int hh_rtcheck_present(void);
unsigned long hh_rtcheck_total(void);
void hh_rtcheck_report(void);
/* Arm on this thread around a call, for the checker's own positive control. */
void hh_rtcheck_arm(int on);

#endif
