/* LV2 state: the model path, stored through the host's map-path feature so a session that moves
 * (with its files) still finds the model. Shared by every hiss plugin. */
#ifndef HP_STATE_H
#define HP_STATE_H

#include <lv2/state/state.h>

#include "slot.h"

LV2_State_Status hp_state_save(hp_slot *s, LV2_State_Store_Function store, LV2_State_Handle handle,
                               uint32_t flags, const LV2_Feature *const *features);

/* Loads synchronously when the plugin is not running; through the worker schedule that comes
 * with the call when it is (state:threadSafeRestore). State without a model means no model. A
 * model that fails to load keeps the old one and is reported (log and notify). */
LV2_State_Status hp_state_restore(hp_slot *s, LV2_State_Retrieve_Function retrieve,
                                  LV2_State_Handle handle, uint32_t flags,
                                  const LV2_Feature *const *features);

#endif
