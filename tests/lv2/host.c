#include "host.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lilv/lilv.h>
#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/log/log.h>
#include <lv2/midi/midi.h>
#include <lv2/options/options.h>
#include <lv2/parameters/parameters.h>
#include <lv2/patch/patch.h>
#include <lv2/presets/presets.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#define HH_NS "https://hiss-audio.org/ns#"
#define HH_CONTROL_CAP 8192
#define HH_NOTIFY_CAP 65536
#define HH_RING_CAP (1u << 17)

/* ---- real-time checker hooks (present only when rtcheck.so is preloaded) -------------------- */

typedef void (*arm_fn)(int);
typedef unsigned long (*total_fn)(void);
typedef void (*report_fn)(void);

static arm_fn rt_arm(void)
{
    return (arm_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "hiss_rtcheck_arm");
}

int hh_rtcheck_present(void)
{
    return rt_arm() != NULL;
}

void hh_rtcheck_arm(int on)
{
    arm_fn f = rt_arm();
    if (f)
        f(on);
}

unsigned long hh_rtcheck_total(void)
{
    total_fn f = (total_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "hiss_rtcheck_total");
    return f ? f() : 0;
}

void hh_rtcheck_report(void)
{
    report_fn f = (report_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "hiss_rtcheck_report");
    if (f)
        f();
}

/* ---- single-producer single-consumer byte ring: [u32 size][bytes] per message ---------------- */

typedef struct hh_ring {
    uint8_t *buf;
    size_t cap; /* a power of two */
    _Atomic size_t rd, wr;
} hh_ring;

static void ring_init(hh_ring *r, size_t cap)
{
    r->buf = calloc(1, cap);
    r->cap = cap;
    atomic_init(&r->rd, 0);
    atomic_init(&r->wr, 0);
}

static void ring_copy_in(hh_ring *r, size_t at, const void *src, size_t n)
{
    size_t o = at & (r->cap - 1), first = r->cap - o < n ? r->cap - o : n;
    memcpy(r->buf + o, src, first);
    memcpy(r->buf, (const uint8_t *)src + first, n - first);
}

static void ring_copy_out(const hh_ring *r, size_t at, void *dst, size_t n)
{
    size_t o = at & (r->cap - 1), first = r->cap - o < n ? r->cap - o : n;
    memcpy(dst, r->buf + o, first);
    memcpy((uint8_t *)dst + first, r->buf, n - first);
}

static int ring_write(hh_ring *r, const void *data, uint32_t size)
{
    size_t wr = atomic_load_explicit(&r->wr, memory_order_relaxed);
    size_t rd = atomic_load_explicit(&r->rd, memory_order_acquire);
    if (r->cap - (wr - rd) < sizeof size + size)
        return -1;
    ring_copy_in(r, wr, &size, sizeof size);
    ring_copy_in(r, wr + sizeof size, data, size);
    atomic_store_explicit(&r->wr, wr + sizeof size + size, memory_order_release);
    return 0;
}

/* Reads one message into buf (cap bytes); returns its size, or -1 when empty. */
static long ring_read(hh_ring *r, void *buf, size_t cap)
{
    size_t rd = atomic_load_explicit(&r->rd, memory_order_relaxed);
    size_t wr = atomic_load_explicit(&r->wr, memory_order_acquire);
    if (wr == rd)
        return -1;
    uint32_t size;
    ring_copy_out(r, rd, &size, sizeof size);
    if (size <= cap)
        ring_copy_out(r, rd + sizeof size, buf, size);
    atomic_store_explicit(&r->rd, rd + sizeof size + size, memory_order_release);
    return size <= cap ? (long)size : -1;
}

static int ring_empty(hh_ring *r)
{
    return atomic_load_explicit(&r->wr, memory_order_acquire) ==
           atomic_load_explicit(&r->rd, memory_order_acquire);
}

/* ---- the host ------------------------------------------------------------------------------ */

struct hh_host {
    hh_opts o;
    LilvWorld *world;
    const LilvPlugin *plugin;
    LilvInstance *inst;
    const LV2_Worker_Interface *worker;
    int active;

    /* urid */
    pthread_mutex_t map_lock;
    char **uris;
    uint32_t n_uris;
    LV2_URID_Map map;
    LV2_URID_Unmap unmap;

    /* log */
    pthread_mutex_t log_lock;
    char *log;
    size_t log_len;
    LV2_Log_Log logf;

    /* options */
    int32_t max_block, nominal_block;
    float rate_f;
    LV2_Options_Option options[4];

    /* worker */
    LV2_Worker_Schedule sched, state_sched;
    pthread_mutex_t work_lock; /* work() is never called twice at once */
    hh_ring req, resp, state_resp;
    sem_t sem;
    pthread_t thread;
    int thread_running;
    _Atomic int busy;          /* threaded: requests taken but not finished */
    _Atomic int quit;
    uint8_t *msg;              /* scratch for one message (audio thread) */
    uint8_t *wmsg;             /* scratch for one message (worker side) */

    LV2_Feature f_map, f_unmap, f_log, f_opts, f_sched, f_state_sched, f_bounded;
    const LV2_Feature *features[8];

    /* ports */
    uint32_t n_ports;
    float *ctl;                /* value per port index (control ports) */
    int *is_audio_in, *is_audio_out;
    int audio_in[2], audio_out[2], n_in, n_out;
    int p_control, p_notify;
    LV2_Atom_Sequence *control, *notify;
    uint8_t *pending;          /* queued control messages (atom events) */
    size_t pending_len;

    LV2_URID atom_Chunk, atom_Sequence, atom_Object, atom_Path, atom_String, atom_URID, atom_Int;
    LV2_URID patch_Set, patch_Get, patch_property, patch_value, hiss_model, midi_MidiEvent;

    uint64_t frames;
    hh_event *events;
    int n_events, cap_events;

    LilvNodes *presets;
};

static LV2_URID map_uri(LV2_URID_Map_Handle hd, const char *uri)
{
    hh_host *h = hd;
    pthread_mutex_lock(&h->map_lock);
    for (uint32_t i = 0; i < h->n_uris; i++)
        if (strcmp(h->uris[i], uri) == 0) {
            pthread_mutex_unlock(&h->map_lock);
            return i + 1;
        }
    h->uris = realloc(h->uris, (h->n_uris + 1) * sizeof *h->uris);
    h->uris[h->n_uris] = strdup(uri);
    LV2_URID id = ++h->n_uris;
    pthread_mutex_unlock(&h->map_lock);
    return id;
}

static const char *unmap_uri(LV2_URID_Unmap_Handle hd, LV2_URID id)
{
    hh_host *h = hd;
    pthread_mutex_lock(&h->map_lock);
    const char *s = id >= 1 && id <= h->n_uris ? h->uris[id - 1] : NULL;
    pthread_mutex_unlock(&h->map_lock);
    return s;
}

static int log_vprintf(LV2_Log_Handle hd, LV2_URID type, const char *fmt, va_list ap)
{
    hh_host *h = hd;
    (void)type;
    char line[4096];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return n;
    size_t len = strlen(line);
    pthread_mutex_lock(&h->log_lock);
    h->log = realloc(h->log, h->log_len + len + 1);
    memcpy(h->log + h->log_len, line, len + 1);
    h->log_len += len;
    pthread_mutex_unlock(&h->log_lock);
    if (h->o.verbose)
        fprintf(stderr, "  [plugin] %s", line);
    return n;
}

static int log_printf(LV2_Log_Handle hd, LV2_URID type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = log_vprintf(hd, type, fmt, ap);
    va_end(ap);
    return n;
}

/* Worker responses land in a ring (threaded, deferred) or go straight to the plugin. */
static LV2_Worker_Status respond_ring(LV2_Worker_Respond_Handle hd, uint32_t size, const void *data)
{
    hh_host *h = hd;
    return ring_write(&h->resp, data, size) == 0 ? LV2_WORKER_SUCCESS : LV2_WORKER_ERR_NO_SPACE;
}

static LV2_Worker_Status respond_state(LV2_Worker_Respond_Handle hd, uint32_t size, const void *data)
{
    hh_host *h = hd;
    return ring_write(&h->state_resp, data, size) == 0 ? LV2_WORKER_SUCCESS : LV2_WORKER_ERR_NO_SPACE;
}

static LV2_Worker_Status respond_now(LV2_Worker_Respond_Handle hd, uint32_t size, const void *data)
{
    hh_host *h = hd;
    return h->worker->work_response(lilv_instance_get_handle(h->inst), size, data);
}

static void do_work(hh_host *h, LV2_Worker_Respond_Function respond, uint32_t size, const void *data)
{
    pthread_mutex_lock(&h->work_lock);
    h->worker->work(lilv_instance_get_handle(h->inst), respond, h, size, data);
    pthread_mutex_unlock(&h->work_lock);
}

static LV2_Worker_Status schedule(LV2_Worker_Schedule_Handle hd, uint32_t size, const void *data)
{
    hh_host *h = hd;
    switch (h->o.mode) {
    case HH_WORK_IMMEDIATE:
        do_work(h, respond_now, size, data);
        return LV2_WORKER_SUCCESS;
    case HH_WORK_DEFERRED:
        return ring_write(&h->req, data, size) == 0 ? LV2_WORKER_SUCCESS : LV2_WORKER_ERR_NO_SPACE;
    case HH_WORK_THREADED:
        if (ring_write(&h->req, data, size) != 0)
            return LV2_WORKER_ERR_NO_SPACE;
        atomic_fetch_add(&h->busy, 1);
        sem_post(&h->sem);
        return LV2_WORKER_SUCCESS;
    }
    return LV2_WORKER_ERR_UNKNOWN;
}

/* restore() while running: work() at once in the restoring thread, answers through a ring. */
static LV2_Worker_Status schedule_state(LV2_Worker_Schedule_Handle hd, uint32_t size, const void *data)
{
    hh_host *h = hd;
    do_work(h, respond_state, size, data);
    return LV2_WORKER_SUCCESS;
}

static void *worker_main(void *arg)
{
    hh_host *h = arg;
    for (;;) {
        sem_wait(&h->sem);
        if (atomic_load(&h->quit))
            break;
        long n = ring_read(&h->req, h->wmsg, HH_RING_CAP);
        if (n >= 0)
            do_work(h, respond_ring, (uint32_t)n, h->wmsg);
        atomic_fetch_sub(&h->busy, 1);
    }
    return NULL;
}

static void deliver(hh_host *h, hh_ring *r)
{
    long n;
    while ((n = ring_read(r, h->msg, HH_RING_CAP)) >= 0)
        h->worker->work_response(lilv_instance_get_handle(h->inst), (uint32_t)n, h->msg);
}

static void deliver_all(hh_host *h)
{
    deliver(h, &h->resp);
    deliver(h, &h->state_resp);
    if (h->worker->end_run)
        h->worker->end_run(lilv_instance_get_handle(h->inst));
}

void hh_flush_worker(hh_host *h)
{
    if (h->o.mode != HH_WORK_DEFERRED)
        return;
    long n;
    while ((n = ring_read(&h->req, h->wmsg, HH_RING_CAP)) >= 0)
        do_work(h, respond_ring, (uint32_t)n, h->wmsg);
    hh_rtcheck_arm(1);
    deliver_all(h);
    hh_rtcheck_arm(0);
}

void hh_wait_worker(hh_host *h)
{
    if (h->o.mode != HH_WORK_THREADED)
        return;
    while (atomic_load(&h->busy) > 0 || !ring_empty(&h->req)) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

/* ---- construction ---------------------------------------------------------------------------- */

static void fail(const char *what)
{
    fprintf(stderr, "hiss-lv2-test: %s\n", what);
    exit(1);
}

hh_host *hh_new(const hh_opts *o)
{
    hh_host *h = calloc(1, sizeof *h);
    h->o = *o;
    pthread_mutex_init(&h->map_lock, NULL);
    pthread_mutex_init(&h->log_lock, NULL);
    pthread_mutex_init(&h->work_lock, NULL);
    h->map = (LV2_URID_Map){h, map_uri};
    h->unmap = (LV2_URID_Unmap){h, unmap_uri};
    h->logf = (LV2_Log_Log){h, log_printf, log_vprintf};
    h->log = calloc(1, 1);

    h->world = lilv_world_new();
    char *bundle = malloc(strlen(o->lv2_dir) + 32);
    sprintf(bundle, "%s/hiss.lv2/", o->lv2_dir);
    LilvNode *bnode = lilv_new_file_uri(h->world, NULL, bundle);
    lilv_world_load_bundle(h->world, bnode);
    lilv_node_free(bnode);
    free(bundle);
    LilvNode *uri = lilv_new_uri(h->world, o->uri);
    h->plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(h->world), uri);
    lilv_node_free(uri);
    if (!h->plugin)
        fail("plugin not found in the bundle");

    h->atom_Chunk = map_uri(h, LV2_ATOM__Chunk);
    h->atom_Sequence = map_uri(h, LV2_ATOM__Sequence);
    h->atom_Object = map_uri(h, LV2_ATOM__Object);
    h->atom_Path = map_uri(h, LV2_ATOM__Path);
    h->atom_String = map_uri(h, LV2_ATOM__String);
    h->atom_URID = map_uri(h, LV2_ATOM__URID);
    h->atom_Int = map_uri(h, LV2_ATOM__Int);
    h->patch_Set = map_uri(h, LV2_PATCH__Set);
    h->patch_Get = map_uri(h, LV2_PATCH__Get);
    h->patch_property = map_uri(h, LV2_PATCH__property);
    h->patch_value = map_uri(h, LV2_PATCH__value);
    h->hiss_model = map_uri(h, HH_NS "model");
    h->midi_MidiEvent = map_uri(h, LV2_MIDI__MidiEvent);

    h->max_block = o->max_block;
    h->nominal_block = o->max_block;
    h->rate_f = (float)o->rate;
    LV2_URID t_int = h->atom_Int, t_float = map_uri(h, LV2_ATOM__Float);
    h->options[0] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0, map_uri(h, LV2_BUF_SIZE__maxBlockLength),
                                         sizeof(int32_t), t_int, &h->max_block};
    h->options[1] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0,
                                         map_uri(h, LV2_BUF_SIZE__nominalBlockLength), sizeof(int32_t),
                                         t_int, &h->nominal_block};
    h->options[2] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0, map_uri(h, LV2_PARAMETERS__sampleRate),
                                         sizeof(float), t_float, &h->rate_f};
    h->options[3] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, NULL};

    ring_init(&h->req, HH_RING_CAP);
    ring_init(&h->resp, HH_RING_CAP);
    ring_init(&h->state_resp, HH_RING_CAP);
    h->msg = malloc(HH_RING_CAP);
    h->wmsg = malloc(HH_RING_CAP);
    sem_init(&h->sem, 0, 0);
    h->sched = (LV2_Worker_Schedule){h, schedule};
    h->state_sched = (LV2_Worker_Schedule){h, schedule_state};

    h->f_map = (LV2_Feature){LV2_URID__map, &h->map};
    h->f_unmap = (LV2_Feature){LV2_URID__unmap, &h->unmap};
    h->f_log = (LV2_Feature){LV2_LOG__log, &h->logf};
    h->f_opts = (LV2_Feature){LV2_OPTIONS__options, h->options};
    h->f_sched = (LV2_Feature){LV2_WORKER__schedule, &h->sched};
    h->f_state_sched = (LV2_Feature){LV2_WORKER__schedule, &h->state_sched};
    h->f_bounded = (LV2_Feature){LV2_BUF_SIZE__boundedBlockLength, NULL};
    const LV2_Feature *feats[] = {&h->f_map, &h->f_unmap, &h->f_log, &h->f_opts, &h->f_sched,
                                  &h->f_bounded, NULL};
    memcpy(h->features, feats, sizeof feats);

    h->inst = lilv_plugin_instantiate(h->plugin, o->rate, h->features);
    if (!h->inst)
        fail("instantiation failed");
    h->worker = lilv_instance_get_extension_data(h->inst, LV2_WORKER__interface);
    if (!h->worker)
        fail("the plugin has no worker interface");
    if (o->mode == HH_WORK_THREADED) {
        pthread_create(&h->thread, NULL, worker_main, h);
        h->thread_running = 1;
    }

    /* Ports: control inputs at their defaults, atom buffers, audio by direction. */
    h->n_ports = lilv_plugin_get_num_ports(h->plugin);
    h->ctl = calloc(h->n_ports, sizeof(float));
    float *defs = calloc(h->n_ports, sizeof(float));
    lilv_plugin_get_port_ranges_float(h->plugin, NULL, NULL, defs);
    LilvNode *audio = lilv_new_uri(h->world, LV2_CORE__AudioPort);
    LilvNode *control = lilv_new_uri(h->world, LV2_CORE__ControlPort);
    LilvNode *atomp = lilv_new_uri(h->world, LV2_ATOM__AtomPort);
    LilvNode *input = lilv_new_uri(h->world, LV2_CORE__InputPort);
    h->p_control = h->p_notify = -1;
    h->control = aligned_alloc(64, HH_CONTROL_CAP);
    h->notify = aligned_alloc(64, HH_NOTIFY_CAP);
    h->pending = malloc(HH_CONTROL_CAP);
    for (uint32_t i = 0; i < h->n_ports; i++) {
        const LilvPort *p = lilv_plugin_get_port_by_index(h->plugin, i);
        int in = lilv_port_is_a(h->plugin, p, input);
        if (lilv_port_is_a(h->plugin, p, audio)) {
            if (in && h->n_in < 2)
                h->audio_in[h->n_in++] = (int)i;
            else if (!in && h->n_out < 2)
                h->audio_out[h->n_out++] = (int)i;
        } else if (lilv_port_is_a(h->plugin, p, control)) {
            h->ctl[i] = isnan(defs[i]) ? 0.0f : defs[i];
            lilv_instance_connect_port(h->inst, i, &h->ctl[i]);
        } else if (lilv_port_is_a(h->plugin, p, atomp)) {
            if (in) {
                h->p_control = (int)i;
                lilv_instance_connect_port(h->inst, i, h->control);
            } else {
                h->p_notify = (int)i;
                lilv_instance_connect_port(h->inst, i, h->notify);
            }
        }
    }
    free(defs);
    lilv_node_free(audio);
    lilv_node_free(control);
    lilv_node_free(atomp);
    lilv_node_free(input);
    /* An effect has as many inputs as outputs, an instrument outputs only. */
    if (h->p_control < 0 || h->p_notify < 0 || h->n_out < 1 || (h->n_in > 0 && h->n_in != h->n_out))
        fail("unexpected ports");

    LilvNode *pset = lilv_new_uri(h->world, LV2_PRESETS__Preset);
    h->presets = lilv_plugin_get_related(h->plugin, pset);
    lilv_node_free(pset);
    return h;
}

void hh_free(hh_host *h)
{
    if (h->active)
        hh_deactivate(h);
    if (h->thread_running) {
        hh_wait_worker(h);
        atomic_store(&h->quit, 1);
        sem_post(&h->sem);
        pthread_join(h->thread, NULL);
    }
    /* Answers still queued (an instance to install) belong to the plugin: deliver them so its
     * cleanup frees them. */
    deliver(h, &h->resp);
    deliver(h, &h->state_resp);
    lilv_instance_free(h->inst);
    lilv_nodes_free(h->presets);
    lilv_world_free(h->world);
    for (uint32_t i = 0; i < h->n_uris; i++)
        free(h->uris[i]);
    free(h->uris);
    free(h->log);
    free(h->req.buf);
    free(h->resp.buf);
    free(h->state_resp.buf);
    free(h->msg);
    free(h->wmsg);
    free(h->ctl);
    free(h->control);
    free(h->notify);
    free(h->pending);
    free(h->events);
    sem_destroy(&h->sem);
    free(h);
}

int hh_channels(const hh_host *h)
{
    return h->n_in;
}

int hh_outputs(const hh_host *h)
{
    return h->n_out;
}

static int port_index(const hh_host *h, const char *symbol)
{
    LilvNode *s = lilv_new_string(h->world, symbol);
    const LilvPort *p = lilv_plugin_get_port_by_symbol(h->plugin, s);
    lilv_node_free(s);
    if (!p) {
        fprintf(stderr, "hiss-lv2-test: no port %s\n", symbol);
        exit(1);
    }
    return (int)lilv_port_get_index(h->plugin, p);
}

void hh_set(hh_host *h, const char *symbol, float value)
{
    h->ctl[port_index(h, symbol)] = value;
}

float hh_get(const hh_host *h, const char *symbol)
{
    return h->ctl[port_index(h, symbol)];
}

void hh_activate(hh_host *h)
{
    lilv_instance_activate(h->inst);
    h->active = 1;
}

void hh_deactivate(hh_host *h)
{
    lilv_instance_deactivate(h->inst);
    h->active = 0;
}

/* ---- control messages ------------------------------------------------------------------------ */

static void queue_event(hh_host *h, const LV2_Atom *a, int64_t frame)
{
    size_t need = sizeof(LV2_Atom_Event) + lv2_atom_pad_size(a->size);
    if (h->pending_len + need + sizeof(LV2_Atom_Sequence) > HH_CONTROL_CAP)
        fail("control queue full");
    LV2_Atom_Event *ev = (LV2_Atom_Event *)(h->pending + h->pending_len);
    memset(ev, 0, need);
    ev->time.frames = frame;
    memcpy(&ev->body, a, sizeof *a + a->size);
    h->pending_len += need;
}

void hh_send_model(hh_host *h, const char *path)
{
    uint8_t buf[4096];
    LV2_Atom_Forge forge;
    lv2_atom_forge_init(&forge, &h->map);
    lv2_atom_forge_set_buffer(&forge, buf, sizeof buf);
    LV2_Atom_Forge_Frame f;
    LV2_Atom *obj = (LV2_Atom *)lv2_atom_forge_deref(&forge, lv2_atom_forge_object(&forge, &f, 0, h->patch_Set));
    lv2_atom_forge_key(&forge, h->patch_property);
    lv2_atom_forge_urid(&forge, h->hiss_model);
    lv2_atom_forge_key(&forge, h->patch_value);
    lv2_atom_forge_path(&forge, path, (uint32_t)strlen(path));
    lv2_atom_forge_pop(&forge, &f);
    queue_event(h, obj, 0);
}

void hh_send_midi(hh_host *h, uint32_t frame, const uint8_t *msg, uint32_t len)
{
    _Alignas(8) uint8_t buf[sizeof(LV2_Atom) + 16];
    if (len > 16)
        fail("MIDI message too long for the test host");
    LV2_Atom *a = (LV2_Atom *)buf;
    a->size = len;
    a->type = h->midi_MidiEvent;
    memcpy(a + 1, msg, len);
    queue_event(h, a, frame);
}

void hh_send_get(hh_host *h, const char *property_uri)
{
    uint8_t buf[512];
    LV2_Atom_Forge forge;
    lv2_atom_forge_init(&forge, &h->map);
    lv2_atom_forge_set_buffer(&forge, buf, sizeof buf);
    LV2_Atom_Forge_Frame f;
    LV2_Atom *obj = (LV2_Atom *)lv2_atom_forge_deref(&forge, lv2_atom_forge_object(&forge, &f, 0, h->patch_Get));
    if (property_uri) {
        lv2_atom_forge_key(&forge, h->patch_property);
        lv2_atom_forge_urid(&forge, map_uri(h, property_uri));
    }
    lv2_atom_forge_pop(&forge, &f);
    queue_event(h, obj, 0);
}

/* ---- running ------------------------------------------------------------------------------- */

static void add_event(hh_host *h, const char *prop, const char *value, int64_t offset)
{
    if (h->n_events == h->cap_events) {
        h->cap_events = h->cap_events ? 2 * h->cap_events : 256;
        h->events = realloc(h->events, (size_t)h->cap_events * sizeof *h->events);
    }
    hh_event *e = &h->events[h->n_events++];
    e->frame = h->frames + (uint64_t)offset;
    snprintf(e->property, sizeof e->property, "%s", prop);
    snprintf(e->value, sizeof e->value, "%s", value);
}

static void parse_notify(hh_host *h)
{
    if (h->notify->atom.type != h->atom_Sequence)
        return;
    LV2_ATOM_SEQUENCE_FOREACH (h->notify, ev) {
        if (ev->body.type != h->atom_Object)
            continue;
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        if (obj->body.otype != h->patch_Set)
            continue;
        const LV2_Atom *prop = NULL, *val = NULL;
        lv2_atom_object_get(obj, h->patch_property, &prop, h->patch_value, &val, 0);
        if (!prop || prop->type != h->atom_URID || !val)
            continue;
        const char *pname = unmap_uri(h, ((const LV2_Atom_URID *)prop)->body);
        char v[1024] = "";
        if (val->type == h->atom_Path || val->type == h->atom_String)
            snprintf(v, sizeof v, "%.*s", (int)val->size, (const char *)LV2_ATOM_BODY_CONST(val));
        else if (val->type == h->atom_Int)
            snprintf(v, sizeof v, "%d", ((const LV2_Atom_Int *)val)->body);
        add_event(h, pname ? pname : "?", v, ev->time.frames);
    }
}

void hh_run(hh_host *h, const float *const *in, float *const *out, uint32_t n)
{
    h->control->atom.type = h->atom_Sequence;
    h->control->atom.size = (uint32_t)(sizeof(LV2_Atom_Sequence_Body) + h->pending_len);
    h->control->body.unit = 0;
    h->control->body.pad = 0;
    memcpy(h->control + 1, h->pending, h->pending_len);
    h->pending_len = 0;
    h->notify->atom.type = h->atom_Chunk;
    h->notify->atom.size = HH_NOTIFY_CAP - sizeof(LV2_Atom);
    for (int k = 0; k < h->n_in; k++)
        lilv_instance_connect_port(h->inst, (uint32_t)h->audio_in[k], (void *)in[k]);
    for (int k = 0; k < h->n_out; k++)
        lilv_instance_connect_port(h->inst, (uint32_t)h->audio_out[k], out[k]);
    hh_rtcheck_arm(1);
    lilv_instance_run(h->inst, n);
    if (h->o.mode != HH_WORK_DEFERRED)
        deliver_all(h);
    hh_rtcheck_arm(0);
    parse_notify(h);
    h->frames += n;
    hh_flush_worker(h);
}

uint64_t hh_frames(const hh_host *h)
{
    return h->frames;
}

int hh_event_count(const hh_host *h)
{
    return h->n_events;
}

void hh_events_clear(hh_host *h)
{
    h->n_events = 0;
}

const hh_event *hh_event_at(const hh_host *h, int i)
{
    return i >= 0 && i < h->n_events ? &h->events[i] : NULL;
}

const char *hh_last(const hh_host *h, const char *property_uri)
{
    for (int i = h->n_events - 1; i >= 0; i--)
        if (strcmp(h->events[i].property, property_uri) == 0)
            return h->events[i].value;
    return NULL;
}

int hh_find(const hh_host *h, const char *property_uri, const char *value, int from)
{
    for (int i = from < 0 ? 0 : from; i < h->n_events; i++)
        if (strcmp(h->events[i].property, property_uri) == 0 &&
            (!value || strcmp(h->events[i].value, value) == 0))
            return i;
    return -1;
}

const char *hh_log(const hh_host *h)
{
    return h->log;
}

void hh_log_clear(hh_host *h)
{
    pthread_mutex_lock(&h->log_lock);
    h->log[0] = '\0';
    h->log_len = 0;
    pthread_mutex_unlock(&h->log_lock);
}

/* ---- state ----------------------------------------------------------------------------------- */

typedef struct hh_prop {
    char key[256];
    uint32_t type, flags;
    size_t size;
    void *value;
} hh_prop;

struct hh_state {
    hh_host *h;
    hh_prop props[16];
    int n;
    const char *dir; /* the session folder map-path maps against, during save/restore */
};

static LV2_State_Status store(LV2_State_Handle hd, uint32_t key, const void *value, size_t size,
                              uint32_t type, uint32_t flags)
{
    hh_state *s = hd;
    if (s->n == 16)
        return LV2_STATE_ERR_UNKNOWN;
    hh_prop *p = &s->props[s->n++];
    snprintf(p->key, sizeof p->key, "%s", unmap_uri(s->h, key));
    p->type = type;
    p->flags = flags;
    p->size = size;
    p->value = malloc(size);
    memcpy(p->value, value, size);
    return LV2_STATE_SUCCESS;
}

static const void *retrieve(LV2_State_Handle hd, uint32_t key, size_t *size, uint32_t *type,
                            uint32_t *flags)
{
    hh_state *s = hd;
    const char *k = unmap_uri(s->h, key);
    for (int i = 0; i < s->n; i++)
        if (k && strcmp(s->props[i].key, k) == 0) {
            *size = s->props[i].size;
            *type = s->props[i].type;
            *flags = s->props[i].flags;
            return s->props[i].value;
        }
    return NULL;
}

/* map-path: a file inside the session folder becomes a path relative to it, so the folder can
 * move; anything else stays absolute. */
static char *abstract_path(LV2_State_Map_Path_Handle hd, const char *abs)
{
    hh_state *s = hd;
    size_t n = strlen(s->dir);
    if (strncmp(abs, s->dir, n) == 0 && abs[n] == '/')
        return strdup(abs + n + 1);
    return strdup(abs);
}

static char *absolute_path(LV2_State_Map_Path_Handle hd, const char *abstract)
{
    hh_state *s = hd;
    if (abstract[0] == '/')
        return strdup(abstract);
    char *p = malloc(strlen(s->dir) + strlen(abstract) + 2);
    sprintf(p, "%s/%s", s->dir, abstract);
    return p;
}

static void free_path(LV2_State_Free_Path_Handle hd, char *p)
{
    (void)hd;
    free(p);
}

static const LV2_State_Interface *state_iface(hh_host *h)
{
    const LV2_State_Interface *si = lilv_instance_get_extension_data(h->inst, LV2_STATE__interface);
    if (!si)
        fail("the plugin has no state interface");
    return si;
}

hh_state *hh_save(hh_host *h, const char *session_dir)
{
    hh_state *s = calloc(1, sizeof *s);
    s->h = h;
    s->dir = session_dir;
    LV2_State_Map_Path mp = {s, abstract_path, absolute_path};
    LV2_State_Free_Path fp = {NULL, free_path};
    LV2_Feature f_mp = {LV2_STATE__mapPath, &mp}, f_fp = {LV2_STATE__freePath, &fp};
    const LV2_Feature *feats[] = {&f_mp, &f_fp, &h->f_map, NULL};
    state_iface(h)->save(lilv_instance_get_handle(h->inst), store, s,
                         LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE, feats);
    s->dir = NULL;
    return s;
}

const char *hh_state_value(const hh_state *s, const char *key_uri)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->props[i].key, key_uri) == 0)
            return s->props[i].value;
    return NULL;
}

int hh_restore(hh_host *h, const hh_state *cs, const char *session_dir)
{
    hh_state *s = (hh_state *)cs;
    s->h = h;
    s->dir = session_dir;
    LV2_State_Map_Path mp = {s, abstract_path, absolute_path};
    LV2_State_Free_Path fp = {NULL, free_path};
    LV2_Feature f_mp = {LV2_STATE__mapPath, &mp}, f_fp = {LV2_STATE__freePath, &fp};
    const LV2_Feature *feats[] = {&f_mp, &f_fp, &h->f_map, h->active ? &h->f_state_sched : NULL, NULL};
    LV2_State_Status st = state_iface(h)->restore(lilv_instance_get_handle(h->inst), retrieve, s, 0, feats);
    s->dir = NULL;
    return st == LV2_STATE_SUCCESS ? 0 : -1;
}

void hh_state_free(hh_state *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->props[i].value);
    free(s);
}

hh_state *hh_state_with_path(hh_host *h, const char *key_uri, const char *path)
{
    hh_state *s = calloc(1, sizeof *s);
    s->h = h;
    store(s, map_uri(h, key_uri), path, strlen(path) + 1, h->atom_Path,
          LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    return s;
}

/* ---- presets --------------------------------------------------------------------------------- */

int hh_preset_count(hh_host *h)
{
    return (int)lilv_nodes_size(h->presets);
}

static const LilvNode *preset_at(hh_host *h, int i)
{
    int k = 0;
    LILV_FOREACH (nodes, it, h->presets) {
        if (k++ == i)
            return lilv_nodes_get(h->presets, it);
    }
    return NULL;
}

const char *hh_preset_uri(hh_host *h, int i)
{
    const LilvNode *n = preset_at(h, i);
    return n ? lilv_node_as_uri(n) : NULL;
}

const char *hh_preset_label(hh_host *h, int i)
{
    const LilvNode *n = preset_at(h, i);
    if (!n)
        return NULL;
    lilv_world_load_resource(h->world, n);
    LilvNode *label_p = lilv_new_uri(h->world, LILV_NS_RDFS "label");
    LilvNodes *labels = lilv_world_find_nodes(h->world, n, label_p, NULL);
    lilv_node_free(label_p);
    static char buf[256];
    buf[0] = '\0';
    if (labels && lilv_nodes_size(labels) > 0)
        snprintf(buf, sizeof buf, "%s", lilv_node_as_string(lilv_nodes_get_first(labels)));
    lilv_nodes_free(labels);
    return buf;
}

static void set_port_value(const char *symbol, void *user, const void *value, uint32_t size,
                           uint32_t type)
{
    hh_host *h = user;
    LV2_URID t_float = map_uri(h, LV2_ATOM__Float), t_double = map_uri(h, LV2_ATOM__Double);
    float v;
    if (type == t_float && size == sizeof(float))
        v = *(const float *)value;
    else if (type == t_double && size == sizeof(double))
        v = (float)*(const double *)value;
    else if (type == h->atom_Int && size == sizeof(int32_t))
        v = (float)*(const int32_t *)value;
    else
        return;
    hh_set(h, symbol, v);
}

int hh_apply_preset(hh_host *h, const char *uri)
{
    LilvNode *n = lilv_new_uri(h->world, uri);
    lilv_world_load_resource(h->world, n);
    LilvState *st = lilv_state_new_from_world(h->world, &h->map, n);
    lilv_node_free(n);
    if (!st)
        return -1;
    const LV2_Feature *feats[] = {&h->f_map, &h->f_unmap, &h->f_log, h->active ? &h->f_state_sched : NULL,
                                  NULL};
    lilv_state_restore(st, h->inst, set_port_value, h, 0, feats);
    lilv_state_free(st);
    return 0;
}
