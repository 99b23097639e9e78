/* How a CUDA stream's process() waits for the device. Proposed for hiss.h (the lead moves it
 * there, with the mode as a hiss_stream_opts field and the misses as a hiss_counters field);
 * until then tools include this header when the CUDA backend is built. */
#ifndef HISS_CUDA_STREAM_H
#define HISS_CUDA_STREAM_H

#include <stdint.h>

#include "hiss.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The sync modes (hiss_sync_mode, hiss_stream_set_sync, hiss_stream_deadline_misses) moved to
 * hiss.h; this header stays for code that included it. */

#ifdef __cplusplus
}
#endif
#endif
