/* The FX plugin (mono and stereo). */
#ifndef HP_FX_H
#define HP_FX_H

#include <lv2/core/lv2.h>

const LV2_Descriptor *hp_fx_descriptor(int stereo);

#endif
