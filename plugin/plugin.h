/* What every hiss plugin is the same in, around its own DSP: instantiation (host features, the
 * rate's range, the slot, the work buffers), the control and notify ports, activation, the
 * worker and state interfaces (which only forward to the slot), cleanup. A plugin's struct
 * starts with an hp_plugin, so these take its handle as one. */
#ifndef HP_PLUGIN_H
#define HP_PLUGIN_H

#include <stddef.h>

#include <lv2/atom/forge.h>
#include <lv2/core/lv2.h>

#include "hiss.h"
#include "host.h"
#include "slot.h"

/* Port indices 0 and 1 of every hiss plugin (hiss.ttl). */
enum { HP_PORT_CONTROL = 0, HP_PORT_NOTIFY = 1 };

typedef struct hp_plugin {
    hp_host host;
    hp_slot slot;
    LV2_Atom_Forge forge;
    int chunk;       /* the most frames one process call takes: the host's block, capped */
    int latency;     /* frames every instance's output lags: a block with hiss-server, else 0 */
    const LV2_Atom_Sequence *control;
    LV2_Atom_Sequence *notify;
    int first_run;   /* the first run() after activation: smoothed controls jump to their values */
    float *mem;      /* the plugin's work buffers, n_buffers x chunk floats, zeroed */
    /* Optional: called by restore() before the state loads (the synth builds with its controls). */
    void (*prepare_restore)(struct hp_plugin *p);
} hp_plugin;

/* instantiate()'s shared part: `size` zeroed bytes whose start is an hp_plugin, the features
 * read, the rate checked, chunk = min(max_block, max_chunk), the slot started with the no-model
 * instance (io, n_streams, prewarm_frames), the work buffers allocated. NULL, logged, when the
 * host lacks a required feature, the rate is out of range or memory is short. */
hp_plugin *hp_plugin_new(size_t size, double rate, const LV2_Feature *const *features, hiss_io io,
                         int n_streams, int max_chunk, int prewarm_frames, int n_buffers);

/* connect_port for the ports every plugin has; returns 1 when port was one of them. */
int hp_plugin_connect(hp_plugin *p, uint32_t port, void *data);

/* activate()'s shared part: running, everything published again, controls jump. */
void hp_plugin_activate(hp_plugin *p);

/* run()'s first and last steps: flush to zero on, the patch messages on the control port read;
 * then the properties that changed written to notify, the floating-point mode restored. */
hiss_fpguard hp_plugin_run_begin(hp_plugin *p);
void hp_plugin_run_end(hp_plugin *p, hiss_fpguard fp);

/* Descriptor entries every plugin shares. */
void hp_plugin_deactivate(LV2_Handle h);
void hp_plugin_cleanup(LV2_Handle h);
const void *hp_plugin_extension_data(const char *uri);

/* A control port's value within [lo, hi]; dflt when it is not a finite number. */
float hp_clampf(float v, float lo, float hi, float dflt);
/* A gain port in dB (unconnected: 0 dB), clamped to [lo_db, hi_db], as a factor; 0 dB is 1
 * exactly. */
double hp_db_gain(const float *port, float lo_db, float hi_db);

#endif
