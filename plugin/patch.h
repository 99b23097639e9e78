/* patch:Set / patch:Get on the control port, and the properties published on the notify port.
 * Real-time safe: no allocation, the forge writes into the host's buffer. */
#ifndef HP_PATCH_H
#define HP_PATCH_H

#include <lv2/atom/atom.h>
#include <lv2/atom/forge.h>

#include "slot.h"

/* Handle every event of the control sequence: a patch:Set of hiss:model requests a load, a
 * patch:Get asks for one property (or all) to be published. */
void hp_patch_read(hp_slot *s, const hp_uris *u, const LV2_Atom_Sequence *control);

/* Write the properties the slot wants published as patch:Set events. A property that does not
 * fit stays marked and goes out in a later cycle. */
void hp_patch_write(hp_slot *s, const hp_uris *u, LV2_Atom_Forge *forge, LV2_Atom_Sequence *notify);

#endif
