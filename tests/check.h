/* The CPU tests' check: a failed condition prints where and why and is counted; main returns
 * failures != 0. One counter per test program (each includes this once). */
#ifndef HISS_TESTS_CHECK_H
#define HISS_TESTS_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                              \
            printf(__VA_ARGS__);                                                                    \
            printf("\n");                                                                           \
            failures++;                                                                             \
        }                                                                                           \
    } while (0)

#endif
