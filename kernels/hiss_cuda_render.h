/* Offline rendering: a whole input through a model in one call. Proposed for hiss.h (the lead
 * moves it there); until then tools include this header when the CUDA backend is built. */
#ifndef HISS_CUDA_RENDER_H
#define HISS_CUDA_RENDER_H

#include <stddef.h>

#include "hiss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Renders in[0..n) through m from a zero state into out[0..n) (in and out may be the same
 * buffer), with the conditioning inputs held at cond[0..n_cond) (NULL: all 0). The result is
 * what a fresh stream of the model gives for the same samples: input samples are sanitised as
 * the stream does it, and a sample whose state overflows outputs 0 and resets the state.
 *   HISS_BACKEND_CPU   one stream, sample after sample.
 *   HISS_BACKEND_CUDA  every sample of a layer in parallel, the selective scan as a chunked
 *                      linear recurrence (local scans, a carry pass, a fix-up pass); equal to
 *                      the stream to float rounding (the scan's products are summed in another
 *                      order). Should any output be non-finite, the file is rendered again by
 *                      the CUDA stream, which handles state overflow exactly as the CPU does.
 *   HISS_BACKEND_AUTO  CUDA when a device is present, else CPU.
 * Not real-time safe: allocates device and host memory. */
/* hiss_render_offline is declared in hiss.h; this header stays for code that included it. */

#ifdef __cplusplus
}
#endif
#endif
