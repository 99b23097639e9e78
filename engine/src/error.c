/* Status names and the one formatter every error message goes through. */
#include <stdarg.h>
#include <stdio.h>

#include "model.h"

const char *hiss_version(void)
{
    return "0.1.0";
}

const char *hiss_status_name(hiss_status s)
{
    switch (s) {
    case HISS_OK: return "ok";
    case HISS_ERR_ARG: return "bad argument";
    case HISS_ERR_IO: return "I/O error";
    case HISS_ERR_FORMAT: return "not a valid safetensors file";
    case HISS_ERR_MODEL: return "not a valid hiss model";
    case HISS_ERR_NOMEM: return "out of memory";
    case HISS_ERR_RATE: return "sample-rate mismatch";
    case HISS_ERR_BACKEND: return "backend unavailable";
    case HISS_ERR_STATE: return "state does not fit";
    }
    return "unknown status";
}

void hiss_seterr(hiss_error *err, hiss_status st, const char *fmt, ...)
{
    if (!err)
        return;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}
