/* The processor's vector instruction set, from cpuid (through the compiler's builtins). Each level
 * asks for every extension its variants are compiled with (see engine/CMakeLists.txt), so a
 * variant never meets an instruction the processor lacks. */
#include "cpu_isa.h"

hiss_cpu_isa hiss_cpu_isa_detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("fma"))
        return HISS_CPU_ISA_BASE;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
        return HISS_CPU_ISA_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return HISS_CPU_ISA_AVX2;
#endif
    return HISS_CPU_ISA_BASE;
}
