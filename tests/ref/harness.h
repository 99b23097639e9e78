/* Glue between the reference and the engine for the engine tests: write a reference model to a
 * file, load it with the engine, and run the same input (and the same conditioning changes at the
 * same samples) through an engine stream and through the reference. */
#ifndef REF_HARNESS_H
#define REF_HARNESS_H

#include "hiss.h"
#include "ref_model.h"
#include "ref_writer.h"

/* Exit code ctest reads as "skipped" (SKIP_RETURN_CODE). */
#define HARNESS_SKIP 77

/* A conditioning change: from sample `at` on, input idx is value (for stream k, or all at -1). */
typedef struct cond_event {
    int at;
    int k;
    int idx;
    float value;
} cond_event;

/* path = <test scratch dir>/<name>; the directory comes from the build (HISS_TEST_TMP_DIR). */
void harness_tmp_path(char *buf, size_t size, const char *name);

/* Rounds m to what opts stores, writes it to the scratch dir as name, loads it with
 * hiss_model_load. NULL on failure (err says why, and it is printed). */
hiss_model *harness_write_load(ref_model *m, const ref_write_opts *opts, const char *name);

/* Creates a stream on the CPU backend; NULL (printed) on failure. */
hiss_stream *harness_stream(const hiss_model *hm, int n_streams, int max_block, double host_rate,
                            hiss_rate_mode mode);

/* Runs stream 0 of s over in[0..n) in blocks of `block` frames (cut further at conditioning
 * events, which are applied with hiss_stream_set_cond before the block that starts at them).
 * events sorted by `at`. Returns the first status that is not HISS_OK. */
hiss_status harness_engine_run(hiss_stream *s, const float *in, float *out, int n, int block,
                               const cond_event *ev, int n_ev);

/* The reference over the same samples, from a zero state, with the engine's input policy
 * (non-finite samples as 0, finite ones clamped to +-HISS_INPUT_LIMIT) and the same events
 * (events for any stream apply, as the reference has only one). */
void harness_ref_run(const ref_model *m, const float *in, double *out, int n,
                     const cond_event *ev, int n_ev, double delta_scale);

/* The same with the reference's SSM state rounded to float32 after every update
 * (ref_state_round_f32): its distance from harness_ref_run is the error floor of float32. */
void harness_ref_run_f32_state(const ref_model *m, const float *in, double *out, int n,
                               const cond_event *ev, int n_ev, double delta_scale);

/* The engine's view of a sample (the policy above). */
double harness_sanitize(float x);

#endif
