/* What the host gave us at instantiation: features, options, rate. Shared by every hiss plugin. */
#ifndef HP_HOST_H
#define HP_HOST_H

#include <lv2/core/lv2.h>
#include <lv2/log/logger.h>
#include <lv2/worker/worker.h>

#include "uris.h"

typedef struct hp_host {
    LV2_URID_Map *map;
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger logger; /* falls back to stderr when the host has no log feature */
    hp_uris uris;
    double rate;
    int max_block;         /* bufsz:maxBlockLength, or 0 when the host did not say */
    int nominal_block;     /* bufsz:nominalBlockLength, or 0 */
} hp_host;

/* Read the features. Returns NULL on success, else the URI of a missing required feature. */
const char *hp_host_init(hp_host *h, double rate, const LV2_Feature *const *features);

/* The worker-schedule feature in a features array (the one restore() may get), or NULL. */
LV2_Worker_Schedule *hp_find_schedule(const LV2_Feature *const *features);

/* Any feature by URI, or NULL. */
void *hp_find_feature(const LV2_Feature *const *features, const char *uri);

#endif
