#include "plugin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lv2/state/state.h>
#include <lv2/worker/worker.h>

#include "patch.h"
#include "server.h"
#include "state.h"

hp_plugin *hp_plugin_new(size_t size, double rate, const LV2_Feature *const *features, hiss_io io,
                         int n_streams, int max_chunk, int prewarm_frames, int n_buffers)
{
    hp_plugin *p = calloc(1, size);
    if (!p)
        return NULL;
    const char *missing = hp_host_init(&p->host, rate, features);
    if (missing) {
        lv2_log_error(&p->host.logger, "hiss: the host does not provide %s\n", missing);
        free(p);
        return NULL;
    }
    if (!(rate >= 1000.0 && rate <= 1536000.0)) {
        lv2_log_error(&p->host.logger, "hiss: sample rate %g Hz out of range (1000 to 1536000)\n", rate);
        free(p);
        return NULL;
    }
    int mb = p->host.max_block > 0 ? p->host.max_block : max_chunk;
    p->chunk = mb < max_chunk ? mb : max_chunk;
    hp_inst_config cfg = {io, n_streams, p->chunk, rate, prewarm_frames, "", 0};
    int asked = 0;
    if (io == HISS_IO_FX && hp_server_find(cfg.server, sizeof cfg.server, &asked)) {
        /* A server's output comes a block late: the host's usual block, when it says it. */
        if (p->host.nominal_block > 0 && p->host.nominal_block < p->chunk)
            p->chunk = p->host.nominal_block;
        cfg.max_block = cfg.latency = p->chunk;
        lv2_log_note(&p->host.logger, "hiss: models run on hiss-server at %s, %d frames of latency\n",
                     cfg.server, cfg.latency);
    } else {
        if (asked)
            lv2_log_warning(&p->host.logger, "hiss: HISS_SERVER=%s: no hiss-server listens there; models "
                            "run in this process\n", cfg.server);
        cfg.server[0] = '\0';
    }
    p->latency = cfg.latency;
    if (hp_slot_init(&p->slot, &p->host, &cfg) != 0) {
        free(p);
        return NULL;
    }
    p->mem = calloc((size_t)n_buffers * (size_t)p->chunk, sizeof(float));
    if (!p->mem) {
        hp_slot_destroy(&p->slot);
        free(p);
        return NULL;
    }
    lv2_atom_forge_init(&p->forge, p->host.map);
    p->first_run = 1;
    lv2_log_note(&p->host.logger, "hiss: %s\n", p->slot.cur->status);
    return p;
}

int hp_plugin_connect(hp_plugin *p, uint32_t port, void *data)
{
    if (port == HP_PORT_CONTROL)
        p->control = data;
    else if (port == HP_PORT_NOTIFY)
        p->notify = data;
    else
        return 0;
    return 1;
}

void hp_plugin_activate(hp_plugin *p)
{
    p->slot.active = 1;
    p->slot.publish = HP_PUB_ALL; /* tell the host again what runs */
    p->first_run = 1;
}

void hp_plugin_deactivate(LV2_Handle h)
{
    ((hp_plugin *)h)->slot.active = 0;
}

hiss_fpguard hp_plugin_run_begin(hp_plugin *p)
{
    hiss_fpguard fp = hiss_fp_enter();
    hp_patch_read(&p->slot, &p->host.uris, p->control);
    return fp;
}

void hp_plugin_run_end(hp_plugin *p, hiss_fpguard fp)
{
    if (p->notify)
        hp_patch_write(&p->slot, &p->host.uris, &p->forge, p->notify);
    hiss_fp_leave(fp);
}

void hp_plugin_cleanup(LV2_Handle h)
{
    hp_plugin *p = h;
    hp_slot_destroy(&p->slot);
    free(p->mem);
    free(p);
}

static LV2_Worker_Status work(LV2_Handle h, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    return hp_slot_work(&((hp_plugin *)h)->slot, respond, handle, size, data);
}

static LV2_Worker_Status work_response(LV2_Handle h, uint32_t size, const void *data)
{
    return hp_slot_work_response(&((hp_plugin *)h)->slot, size, data);
}

static LV2_State_Status save(LV2_Handle h, LV2_State_Store_Function store, LV2_State_Handle handle,
                             uint32_t flags, const LV2_Feature *const *features)
{
    return hp_state_save(&((hp_plugin *)h)->slot, store, handle, flags, features);
}

static LV2_State_Status restore(LV2_Handle h, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle handle, uint32_t flags,
                                const LV2_Feature *const *features)
{
    hp_plugin *p = h;
    if (p->prepare_restore)
        p->prepare_restore(p);
    return hp_state_restore(&p->slot, retrieve, handle, flags, features);
}

const void *hp_plugin_extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    if (strcmp(uri, LV2_WORKER__interface) == 0)
        return &worker;
    if (strcmp(uri, LV2_STATE__interface) == 0)
        return &state;
    return NULL;
}

float hp_clampf(float v, float lo, float hi, float dflt)
{
    if (!isfinite(v))
        return dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

double hp_db_gain(const float *port, float lo_db, float hi_db)
{
    float db = port ? hp_clampf(*port, lo_db, hi_db, 0.0f) : 0.0f;
    return db == 0.0f ? 1.0 : pow(10.0, (double)db / 20.0);
}
