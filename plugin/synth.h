/* The instrument plugin: MIDI in, a synth model, mono audio out. */
#ifndef HP_SYNTH_H
#define HP_SYNTH_H

#include <lv2/core/lv2.h>

const LV2_Descriptor *hp_synth_descriptor(void);

#endif
