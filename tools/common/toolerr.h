/* Filling a hiss_error from tool code, which has no access to the engine's internal formatter. */
#ifndef HISS_TOOLERR_H
#define HISS_TOOLERR_H

#include "hiss.h"

void hiss_tool_seterr(hiss_error *err, hiss_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
