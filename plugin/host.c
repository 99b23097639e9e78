#include "host.h"

#include <string.h>

#include <lv2/atom/atom.h>
#include <lv2/log/log.h>
#include <lv2/options/options.h>

void *hp_find_feature(const LV2_Feature *const *features, const char *uri)
{
    for (int i = 0; features && features[i]; i++)
        if (strcmp(features[i]->URI, uri) == 0)
            return features[i]->data;
    return NULL;
}

LV2_Worker_Schedule *hp_find_schedule(const LV2_Feature *const *features)
{
    return (LV2_Worker_Schedule *)hp_find_feature(features, LV2_WORKER__schedule);
}

/* Block lengths come as atom:Int in most hosts, but the spec does not fix the type. */
static int option_int(const hp_uris *u, const LV2_Options_Option *o)
{
    if (o->type == u->atom_Int && o->size >= sizeof(int32_t))
        return *(const int32_t *)o->value;
    if (o->type == u->atom_Float && o->size >= sizeof(float))
        return (int)*(const float *)o->value;
    return 0;
}

const char *hp_host_init(hp_host *h, double rate, const LV2_Feature *const *features)
{
    memset(h, 0, sizeof *h);
    h->rate = rate;
    h->map = (LV2_URID_Map *)hp_find_feature(features, LV2_URID__map);
    h->schedule = hp_find_schedule(features);
    LV2_Log_Log *log = (LV2_Log_Log *)hp_find_feature(features, LV2_LOG__log);
    lv2_log_logger_init(&h->logger, h->map, log);
    if (!h->map)
        return LV2_URID__map;
    if (!h->schedule)
        return LV2_WORKER__schedule;
    hp_uris_map(&h->uris, h->map);
    const LV2_Options_Option *opt = (const LV2_Options_Option *)hp_find_feature(features,
                                                                             LV2_OPTIONS__options);
    for (; opt && opt->key; opt++) {
        if (opt->key == h->uris.bufsz_maxBlockLength)
            h->max_block = option_int(&h->uris, opt);
        else if (opt->key == h->uris.bufsz_nominalBlockLength)
            h->nominal_block = option_int(&h->uris, opt);
    }
    if (h->max_block < 0)
        h->max_block = 0;
    if (h->nominal_block < 0)
        h->nominal_block = 0;
    return NULL;
}
