#include "toolerr.h"

#include <stdarg.h>
#include <stdio.h>

void hiss_tool_seterr(hiss_error *err, hiss_status st, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}
