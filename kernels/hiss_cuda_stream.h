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

typedef enum hiss_sync_mode {
    /* process() returns this call's output, waiting for the device as long as it takes. */
    HISS_SYNC_WAIT = 0,
    /* As WAIT, but waits at most deadline_us from the start of the call: a block the device has
     * not finished by then outputs silence and is counted. Its input is still processed (the
     * state stays exact); a later call waits for it only when both submission slots are busy,
     * that is, for a block two calls old. */
    HISS_SYNC_DEADLINE = 1,
    /* process() submits this call's input and returns output delayed by max_block frames (one
     * block when every call passes max_block frames): the device works while the host waits
     * for the next block. The first max_block output frames are 0. Snapshots and resets act on
     * the input side: a snapshot holds the state after every frame submitted so far. */
    HISS_SYNC_PIPELINED = 2
} hiss_sync_mode;

/* CUDA streams only (HISS_ERR_BACKEND otherwise). Not real-time: call between process calls,
 * from the thread that calls process. Switching to or from PIPELINED restarts the output delay
 * line with zeros. */
hiss_status hiss_stream_set_sync(hiss_stream *s, hiss_sync_mode mode, double deadline_us);
/* Blocks whose output a missed deadline replaced by silence, since creation. */
uint64_t hiss_stream_deadline_misses(const hiss_stream *s);
/* Frames of latency the current mode adds: max_block when PIPELINED, else 0. */
int hiss_cuda_latency(const hiss_stream *s);

#ifdef __cplusplus
}
#endif
#endif
