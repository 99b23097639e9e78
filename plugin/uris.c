#include "uris.h"

#include <lv2/atom/atom.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/midi/midi.h>
#include <lv2/parameters/parameters.h>
#include <lv2/patch/patch.h>

void hp_uris_map(hp_uris *u, LV2_URID_Map *map)
{
    LV2_URID_Map_Handle h = map->handle;
    u->atom_Path = map->map(h, LV2_ATOM__Path);
    u->atom_String = map->map(h, LV2_ATOM__String);
    u->atom_URID = map->map(h, LV2_ATOM__URID);
    u->atom_Int = map->map(h, LV2_ATOM__Int);
    u->atom_Float = map->map(h, LV2_ATOM__Float);
    u->atom_Object = map->map(h, LV2_ATOM__Object);
    u->atom_Blank = map->map(h, LV2_ATOM__Blank);
    u->atom_Sequence = map->map(h, LV2_ATOM__Sequence);
    u->midi_MidiEvent = map->map(h, LV2_MIDI__MidiEvent);
    u->atom_eventTransfer = map->map(h, LV2_ATOM__eventTransfer);
    u->patch_Set = map->map(h, LV2_PATCH__Set);
    u->patch_Get = map->map(h, LV2_PATCH__Get);
    u->patch_property = map->map(h, LV2_PATCH__property);
    u->patch_value = map->map(h, LV2_PATCH__value);
    u->hiss_model = map->map(h, HP__model);
    u->hiss_status = map->map(h, HP__status);
    u->hiss_error = map->map(h, HP__error);
    u->hiss_knob_label[0] = map->map(h, HP__knob1Label);
    u->hiss_knob_label[1] = map->map(h, HP__knob2Label);
    u->hiss_knob_label[2] = map->map(h, HP__knob3Label);
    u->hiss_knob_label[3] = map->map(h, HP__knob4Label);
    u->hiss_active_knobs = map->map(h, HP__activeKnobs);
    u->bufsz_maxBlockLength = map->map(h, LV2_BUF_SIZE__maxBlockLength);
    u->bufsz_nominalBlockLength = map->map(h, LV2_BUF_SIZE__nominalBlockLength);
    u->param_sampleRate = map->map(h, LV2_PARAMETERS__sampleRate);
}
