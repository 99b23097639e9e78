/* The URIs the hiss plugins speak. Mapped once at instantiation so run() compares integers. */
#ifndef HP_URIS_H
#define HP_URIS_H

#include <lv2/urid/urid.h>

#define HP_NS "https://hiss-audio.org/ns#"
#define HP_URI_FX "https://hiss-audio.org/plugins/fx"
#define HP_URI_FX_STEREO "https://hiss-audio.org/plugins/fx-stereo"
#define HP_URI_SYNTH "https://hiss-audio.org/plugins/synth"

/* patch:writable: the model file (atom:Path). */
#define HP__model HP_NS "model"
/* patch:readable (atom:String): what the plugin is doing, the last load error, and which
 * conditioning input each knob drives (empty when the knob does nothing). */
#define HP__status HP_NS "status"
#define HP__error HP_NS "error"
#define HP__knob1Label HP_NS "knob1Label"
#define HP__knob2Label HP_NS "knob2Label"
#define HP__knob3Label HP_NS "knob3Label"
#define HP__knob4Label HP_NS "knob4Label"
/* patch:readable (atom:Int): how many knobs drive the loaded model. */
#define HP__activeKnobs HP_NS "activeKnobs"

#define HP_MAX_KNOBS 4

typedef struct hp_uris {
    LV2_URID atom_Path, atom_String, atom_URID, atom_Int, atom_Float, atom_Object, atom_Blank;
    LV2_URID atom_Sequence, midi_MidiEvent;
    LV2_URID atom_eventTransfer;
    LV2_URID patch_Set, patch_Get, patch_property, patch_value;
    LV2_URID hiss_model, hiss_status, hiss_error, hiss_knob_label[HP_MAX_KNOBS], hiss_active_knobs;
    LV2_URID bufsz_maxBlockLength, bufsz_nominalBlockLength, param_sampleRate;
} hp_uris;

void hp_uris_map(hp_uris *u, LV2_URID_Map *map);

#endif
