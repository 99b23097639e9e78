#include "patch.h"

#include <string.h>

#include <lv2/atom/util.h>

static uint32_t bits_for(const hp_uris *u, LV2_URID key)
{
    if (key == u->hiss_model)
        return HP_PUB_MODEL;
    if (key == u->hiss_status)
        return HP_PUB_STATUS;
    if (key == u->hiss_error)
        return HP_PUB_ERROR;
    if (key == u->hiss_active_knobs)
        return HP_PUB_KNOBS;
    for (int i = 0; i < HP_MAX_KNOBS; i++)
        if (key == u->hiss_knob_label[i])
            return HP_PUB_KNOBS;
    return 0;
}

void hp_patch_read(hp_slot *s, const hp_uris *u, const LV2_Atom_Sequence *control)
{
    if (!control)
        return;
    LV2_ATOM_SEQUENCE_FOREACH (control, ev) {
        /* atom:Blank is what older hosts send for an anonymous object. */
        if (ev->body.type != u->atom_Object && ev->body.type != u->atom_Blank)
            continue;
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        if (obj->body.otype == u->patch_Set) {
            const LV2_Atom *prop = NULL, *val = NULL;
            lv2_atom_object_get(obj, u->patch_property, &prop, u->patch_value, &val, 0);
            if (!prop || prop->type != u->atom_URID ||
                ((const LV2_Atom_URID *)prop)->body != u->hiss_model)
                continue;
            if (!val || (val->type != u->atom_Path && val->type != u->atom_String))
                continue;
            hp_slot_request(s, (const char *)LV2_ATOM_BODY_CONST(val), val->size);
        } else if (obj->body.otype == u->patch_Get) {
            const LV2_Atom *prop = NULL;
            lv2_atom_object_get(obj, u->patch_property, &prop, 0);
            if (!prop)
                s->publish |= HP_PUB_ALL;
            else if (prop->type == u->atom_URID)
                s->publish |= bits_for(u, ((const LV2_Atom_URID *)prop)->body);
        }
    }
}

/* Bytes one patch:Set event with a value atom of `body` bytes takes, padded, with margin. */
static uint32_t need(uint32_t body)
{
    return 128u + ((body + 7u) & ~7u);
}

static uint32_t room(const LV2_Atom_Forge *forge)
{
    return forge->size > forge->offset ? forge->size - forge->offset : 0;
}

static void set_head(const hp_uris *u, LV2_Atom_Forge *forge, LV2_Atom_Forge_Frame *f, LV2_URID key,
                     int64_t frame)
{
    lv2_atom_forge_frame_time(forge, frame);
    lv2_atom_forge_object(forge, f, 0, u->patch_Set);
    lv2_atom_forge_key(forge, u->patch_property);
    lv2_atom_forge_urid(forge, key);
    lv2_atom_forge_key(forge, u->patch_value);
}

static int put_string(const hp_uris *u, LV2_Atom_Forge *forge, LV2_URID key, const char *str,
                      int path, int64_t frame)
{
    uint32_t len = (uint32_t)strlen(str);
    if (room(forge) < need(len + 1))
        return 0;
    LV2_Atom_Forge_Frame f;
    set_head(u, forge, &f, key, frame);
    if (path)
        lv2_atom_forge_path(forge, str, len);
    else
        lv2_atom_forge_string(forge, str, len);
    lv2_atom_forge_pop(forge, &f);
    return 1;
}

static int put_knobs(const hp_uris *u, LV2_Atom_Forge *forge, const hp_inst *in)
{
    uint32_t total = need(sizeof(int32_t));
    for (int i = 0; i < HP_MAX_KNOBS; i++)
        total += need((uint32_t)strlen(in->knob_label[i]) + 1);
    if (room(forge) < total)
        return 0;
    for (int i = 0; i < HP_MAX_KNOBS; i++)
        put_string(u, forge, u->hiss_knob_label[i], in->knob_label[i], 0, 0);
    LV2_Atom_Forge_Frame f;
    set_head(u, forge, &f, u->hiss_active_knobs, 0);
    lv2_atom_forge_int(forge, in->n_knobs);
    lv2_atom_forge_pop(forge, &f);
    return 1;
}

void hp_patch_write(hp_slot *s, const hp_uris *u, LV2_Atom_Forge *forge, LV2_Atom_Sequence *notify)
{
    lv2_atom_forge_set_buffer(forge, (uint8_t *)notify, notify->atom.size);
    LV2_Atom_Forge_Frame seq;
    if (!lv2_atom_forge_sequence_head(forge, &seq, 0))
        return;
    /* Everything at frame 0 but the model, stamped with the frame where it took over (events
     * must come in time order, so it goes last). */
    const hp_inst *in = hp_slot_newest(s);
    s->publish &= s->pub_mask; /* properties this plugin does not have are never sent */
    if ((s->publish & HP_PUB_ERROR) && put_string(u, forge, u->hiss_error, s->error, 0, 0))
        s->publish &= ~(uint32_t)HP_PUB_ERROR;
    if ((s->publish & HP_PUB_STATUS) && put_string(u, forge, u->hiss_status, in->status, 0, 0))
        s->publish &= ~(uint32_t)HP_PUB_STATUS;
    if ((s->publish & HP_PUB_KNOBS) && put_knobs(u, forge, in))
        s->publish &= ~(uint32_t)HP_PUB_KNOBS;
    if ((s->publish & HP_PUB_MODEL) && put_string(u, forge, u->hiss_model, in->path, 1, s->swap_at))
        s->publish &= ~(uint32_t)HP_PUB_MODEL;
    lv2_atom_forge_pop(forge, &seq);
}
