/* Which vector instruction set this processor runs, for the code that is compiled more than once
 * and chosen at run time (the engine's CPU step, cpu_dispatch.c; the trainer's ops). */
#ifndef HISS_CPU_ISA_H
#define HISS_CPU_ISA_H

typedef enum hiss_cpu_isa {
    HISS_CPU_ISA_BASE = 0, /* what the compiler targets by default (SSE2 on x86-64) */
    HISS_CPU_ISA_AVX2,     /* AVX2 and FMA */
    HISS_CPU_ISA_AVX512    /* AVX-512 F, VL and DQ, and FMA */
} hiss_cpu_isa;

/* The widest of them this processor runs; HISS_CPU_ISA_BASE off x86. */
hiss_cpu_isa hiss_cpu_isa_detect(void);

#endif
