/* reco: error messages (reco/error.h). Formatting into the caller's
 * fixed-size buffer never allocates and always terminates the string. */
#include "reco/error.h"

#include <stdarg.h>
#include <stdio.h>

#include "numfmt.h"

const char *reco_status_str(reco_status code)
{
    switch (code) {
    case RECO_OK: return "ok";
    case RECO_ERR_INVALID: return "invalid argument";
    case RECO_ERR_NOMEM: return "out of memory";
    case RECO_ERR_IO: return "i/o error";
    case RECO_ERR_PARSE: return "parse error";
    case RECO_ERR_NOT_FOUND: return "not found";
    case RECO_ERR_FORMAT: return "bad file format";
    case RECO_ERR_TOO_LARGE: return "too large";
    case RECO_ERR_EMPTY: return "no data";
    case RECO_ERR_NUMERIC: return "numerical failure";
    case RECO_ERR_INTERNAL: return "internal error";
    case RECO_ERR_UNAVAILABLE: return "unavailable";
    }
    return "unknown error";
}

reco_status reco_error_set(reco_error *err, reco_status code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        reco_vsnprintf_c(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void reco_error_clear(reco_error *err)
{
    if (err) {
        err->code = RECO_OK;
        err->msg[0] = '\0';
    }
}
