/* Picks the widest compiled variant of the CPU step that this processor runs. */
#include <stdlib.h>
#include <string.h>

#include "cpu_step.h"

hiss_cpu_step_fn hiss_cpu_step_select(const char **name)
{
    const char *force = getenv("HISS_CPU");
    const char *dummy;
    if (!name)
        name = &dummy;
#if defined(HISS_CPU_VARIANTS) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (force && !strcmp(force, "sse2")) {
        *name = "sse2";
        return hiss_cpu_step;
    }
    if (has512 && !(force && !strcmp(force, "avx2"))) {
        *name = "avx512";
        return hiss_cpu_step_avx512;
    }
    if (has2) {
        *name = "avx2";
        return hiss_cpu_step_avx2;
    }
#else
    (void)force;
#endif
    *name = "generic";
    return hiss_cpu_step;
}
