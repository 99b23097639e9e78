/* Picks the widest compiled variant of the CPU step that this processor runs. */
#include <stdlib.h>
#include <string.h>

#include "cpu_isa.h"
#include "cpu_step.h"

hiss_cpu_step_fn hiss_cpu_step_select(const char **name)
{
    const char *force = getenv("HISS_CPU");
    const char *dummy;
    if (!name)
        name = &dummy;
#if defined(HISS_CPU_VARIANTS) && (defined(__x86_64__) || defined(__i386__))
    const hiss_cpu_isa isa = hiss_cpu_isa_detect();
    if (force && !strcmp(force, "sse2")) {
        *name = "sse2";
        return hiss_cpu_step;
    }
    if (isa == HISS_CPU_ISA_AVX512 && !(force && !strcmp(force, "avx2"))) {
        *name = "avx512";
        return hiss_cpu_step_avx512;
    }
    if (isa >= HISS_CPU_ISA_AVX2) {
        *name = "avx2";
        return hiss_cpu_step_avx2;
    }
#else
    (void)force;
#endif
    *name = "generic";
    return hiss_cpu_step;
}
