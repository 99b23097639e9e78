/* Denormal flushing. Recurrent state decays toward zero for ever; without FTZ/DAZ a quiet input
 * drives the SSM state into subnormals, which cost ~100x per operation on x86. */
#include "hiss.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define HISS_MXCSR_FTZ 0x8000u
#define HISS_MXCSR_DAZ 0x0040u

hiss_fpguard hiss_fp_enter(void)
{
    hiss_fpguard g = {_mm_getcsr()};
    _mm_setcsr(g.saved | HISS_MXCSR_FTZ | HISS_MXCSR_DAZ);
    return g;
}

void hiss_fp_leave(hiss_fpguard g)
{
    _mm_setcsr(g.saved);
}
#elif defined(__aarch64__)
hiss_fpguard hiss_fp_enter(void)
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    hiss_fpguard g = {(uint32_t)fpcr};
    fpcr |= (1ull << 24); /* FZ */
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
    return g;
}

void hiss_fp_leave(hiss_fpguard g)
{
    uint64_t fpcr = g.saved;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
}
#else
hiss_fpguard hiss_fp_enter(void)
{
    hiss_fpguard g = {0};
    return g;
}

void hiss_fp_leave(hiss_fpguard g)
{
    (void)g;
}
#endif
