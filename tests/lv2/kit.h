/* What the plugin test programs (test_plugin.c, test_synth.c) share around the test host: the
 * URIs, the failure count and CHECK, random block sizes, paths, exact comparison with the
 * engine, counting notify events, the real-time checker's own control, and the end of main. */
#ifndef TK_KIT_H
#define TK_KIT_H

#include <stdint.h>
#include <stdio.h>

#include "host.h"

#define FX "https://hiss-audio.org/plugins/fx"
#define FX_STEREO "https://hiss-audio.org/plugins/fx-stereo"
#define SYNTH "https://hiss-audio.org/plugins/synth"
#define NS "https://hiss-audio.org/ns#"
#define P_MODEL NS "model"
#define P_STATUS NS "status"
#define P_ERROR NS "error"
#define P_KNOB1 NS "knob1Label"
#define P_ACTIVE NS "activeKnobs"
#define SKIP 77

/* Checks failed so far in this process. */
extern int tk_failures;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);          \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            tk_failures++;                                                \
        }                                                                 \
    } while (0)

/* xorshift32 on the caller's state. */
uint32_t tk_rnd(uint32_t *state);
/* Block sizes: mostly random up to max, sometimes 1 or exactly max. */
int tk_block_size(uint32_t *state, int max);

/* dir/name, malloc'ed. */
char *tk_path_in(const char *dir, const char *name);
void tk_mkdir_p(const char *path);
/* Run a shell command made from fmt with two strings; exits the test when it fails. */
void tk_sh(const char *fmt, const char *a, const char *b);
/* hay (may be NULL) holds needle. */
int tk_contains(const char *hay, const char *needle);

/* The test host for uri in the hiss.lv2 under lv2_dir; the plugin's log printed when the
 * environment has HISS_LV2_VERBOSE. */
hh_host *tk_host(const char *lv2_dir, const char *uri, double rate, int max_block, hh_work_mode mode);
/* The worker mode named on the command line (immediate, threaded; anything else: deferred). */
hh_work_mode tk_mode(const char *name);
/* Notify events for prop from event index `from` on. */
int tk_count_events(const hh_host *h, const char *prop, int from);

/* Largest |a - b| over [from, to); *bad is the first frame where it exceeds tol (-1: none). */
double tk_max_err(const float *a, const float *b, long from, long to, double tol, long *bad);
/* Plugin output y against the engine's ref over [from, to), within tol (0: bit for bit);
 * prints the largest difference. */
void tk_check_equal(const char *what, const float *y, const float *ref, long from, long to, double tol);

/* The real-time checker (rtcheck.so, LD_PRELOAD) must see what it claims to count: malloc,
 * free, a mutex lock and fopen on an armed thread; then its count starts again from 0.
 * Returns -1 when it is not preloaded (said why), else 0 (a failed control is a CHECK). */
int tk_rt_control(void);

/* The end of main: 1 when a check failed, else rc (saying all passed when rc is 0). */
int tk_finish(const char *test_case, int rc);

#endif
