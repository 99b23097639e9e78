#include "state.h"

#include <stdlib.h>
#include <string.h>

static void free_path(const LV2_Feature *const *features, char *p)
{
    LV2_State_Free_Path *fp = (LV2_State_Free_Path *)hp_find_feature(features, LV2_STATE__freePath);
    if (fp)
        fp->free_path(fp->handle, p);
    else
        free(p); /* hosts before state:freePath allocated with malloc */
}

LV2_State_Status hp_state_save(hp_slot *s, LV2_State_Store_Function store, LV2_State_Handle handle,
                               uint32_t flags, const LV2_Feature *const *features)
{
    (void)flags;
    const hp_uris *u = &s->host->uris;
    char path[HP_PATH_MAX];
    hp_slot_state_path(s, path, sizeof path);
    if (!path[0])
        return LV2_STATE_SUCCESS; /* no model: nothing to store, and restore unloads */
    LV2_State_Map_Path *mp = (LV2_State_Map_Path *)hp_find_feature(features, LV2_STATE__mapPath);
    char *abstract = mp ? mp->abstract_path(mp->handle, path) : NULL;
    const char *v = abstract ? abstract : path;
    LV2_State_Status st = store(handle, u->hiss_model, v, strlen(v) + 1, u->atom_Path,
                                LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    if (abstract)
        free_path(features, abstract);
    return st;
}

LV2_State_Status hp_state_restore(hp_slot *s, LV2_State_Retrieve_Function retrieve,
                                  LV2_State_Handle handle, uint32_t flags,
                                  const LV2_Feature *const *features)
{
    (void)flags;
    const hp_uris *u = &s->host->uris;
    LV2_Log_Logger *lg = (LV2_Log_Logger *)&s->host->logger;
    size_t size = 0;
    uint32_t type = 0, vflags = 0;
    const void *v = retrieve(handle, u->hiss_model, &size, &type, &vflags);
    char path[HP_PATH_MAX + 1] = "";
    if (v) {
        if (type != u->atom_Path && type != u->atom_String) {
            lv2_log_error(lg, "hiss: state: property %s has a type other than atom:Path\n", HP__model);
            return LV2_STATE_ERR_BAD_TYPE;
        }
        size_t n = strnlen((const char *)v, size);
        if (n > HP_PATH_MAX)
            n = HP_PATH_MAX; /* refused by length, by name, when loaded */
        char stored[HP_PATH_MAX + 1];
        memcpy(stored, v, n);
        stored[n] = '\0';
        LV2_State_Map_Path *mp = (LV2_State_Map_Path *)hp_find_feature(features, LV2_STATE__mapPath);
        char *abs = mp && stored[0] ? mp->absolute_path(mp->handle, stored) : NULL;
        const char *p = abs ? abs : stored;
        size_t pn = strlen(p);
        if (pn > HP_PATH_MAX)
            pn = HP_PATH_MAX;
        memcpy(path, p, pn);
        path[pn] = '\0';
        if (abs)
            free_path(features, abs);
    }
    LV2_Worker_Schedule *sched = hp_find_schedule(features);
    if (s->active && sched) {
        if (hp_slot_load_via(s, sched, path) != 0) {
            lv2_log_error(lg, "hiss: state: the worker queue is full; model %s not restored\n", path);
            return LV2_STATE_ERR_UNKNOWN;
        }
        return LV2_STATE_SUCCESS;
    }
    hp_slot_load_now(s, path); /* a failure keeps the old model and is reported */
    return LV2_STATE_SUCCESS;
}
