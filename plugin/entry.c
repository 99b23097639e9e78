/* The bundle's one exported symbol: every hiss plugin in hiss.so. */
#include <stddef.h>

#include <lv2/core/lv2.h>

#include "fx.h"
#include "synth.h"

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    switch (index) {
    case 0: return hp_fx_descriptor(0);
    case 1: return hp_fx_descriptor(1);
    case 2: return hp_synth_descriptor();
    default: return NULL;
    }
}
