/* Which compilation of the float ops the trainer runs: the widest vector instruction set this
 * build has and this processor runs (the engine's detection, cpu_isa.c), unless HISS_TRAIN_ISA
 * names one. The choice is read again by every acts_create rather than kept, so nothing here is
 * global state; it is the same for the whole process unless the environment changes. */
#include <stdlib.h>
#include <string.h>

#include "cpu_isa.h"
#include "model.h"
#include "ops.h"

static const char *const isa_names[] = {"baseline", "avx2", "avx512", "native"};

const char *ht_isa_name(ht_isa isa)
{
    return (unsigned)isa < sizeof isa_names / sizeof *isa_names ? isa_names[isa] : "unknown";
}

/* The sets compiled into this build (see CMakeLists.txt), and the widest of them the processor
 * runs. */
static int isa_built(ht_isa isa)
{
#if defined(HISS_TRAIN_NATIVE)
    return isa == HT_ISA_NATIVE;
#elif defined(HT_ISA_VARIANTS)
    return isa != HT_ISA_NATIVE;
#else
    return isa == HT_ISA_BASELINE;
#endif
}

static ht_isa isa_best(void)
{
#if defined(HISS_TRAIN_NATIVE)
    return HT_ISA_NATIVE;
#elif defined(HT_ISA_VARIANTS)
    switch (hiss_cpu_isa_detect()) {
    case HISS_CPU_ISA_AVX512: return HT_ISA_AVX512;
    case HISS_CPU_ISA_AVX2: return HT_ISA_AVX2;
    case HISS_CPU_ISA_BASE: break;
    }
#endif
    return HT_ISA_BASELINE;
}

int ht_isa_select(ht_isa *isa, hiss_error *err)
{
    const ht_isa best = isa_best();
    const char *want = getenv("HISS_TRAIN_ISA");
    if (!want || !*want) {
        *isa = best;
        return 0;
    }
    for (int k = 0; k < (int)(sizeof isa_names / sizeof *isa_names); k++) {
        if (strcmp(want, isa_names[k]) != 0)
            continue;
        if (!isa_built((ht_isa)k)) {
            hiss_seterr(err, HISS_ERR_ARG,
                        "HISS_TRAIN_ISA=%s: not in this build, which has %s", want,
                        isa_built(HT_ISA_NATIVE) ? "native only (-DHISS_NATIVE=ON)"
                        : isa_built(HT_ISA_AVX2) ? "baseline, avx2 and avx512"
                                                 : "baseline only");
            return -1;
        }
        /* every set but native is ordered by width, and the processor runs those up to best */
        if (k != HT_ISA_NATIVE && k > (int)best) {
            hiss_seterr(err, HISS_ERR_ARG,
                        "HISS_TRAIN_ISA=%s: this processor does not run it (the widest it runs "
                        "is %s)", want, ht_isa_name(best));
            return -1;
        }
        *isa = (ht_isa)k;
        return 0;
    }
    hiss_seterr(err, HISS_ERR_ARG,
                "HISS_TRAIN_ISA=%s: unknown (baseline, avx2, avx512 or native)", want);
    return -1;
}

const ht_f_ops *ht_f_ops_for(ht_isa isa)
{
#ifdef HT_ISA_VARIANTS
    if (isa == HT_ISA_AVX512)
        return &ht_f_ops_avx512;
    if (isa == HT_ISA_AVX2)
        return &ht_f_ops_avx2;
#endif
    (void)isa;
    return &ht_f_ops_base;
}
