/* reco: error values shared by every module.
 *
 * Every fallible library call returns a reco_status (RECO_OK == 0) and, when
 * the caller passes a reco_error, fills it with a precise, human-readable
 * message such as `ratings.csv:1042: rating "abc" is not a number`.
 * Passing NULL for the error is always allowed. */
#ifndef RECO_ERROR_H
#define RECO_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reco_status {
    RECO_OK = 0,
    RECO_ERR_INVALID,   /* a bad argument or parameter from the caller */
    RECO_ERR_NOMEM,     /* an allocation failed */
    RECO_ERR_IO,        /* the operating system refused a read or write */
    RECO_ERR_PARSE,     /* input data is malformed (a bad line, bad JSON) */
    RECO_ERR_NOT_FOUND, /* a user, item or file that does not exist */
    RECO_ERR_FORMAT,    /* a model file that is truncated, corrupt or foreign */
    RECO_ERR_TOO_LARGE, /* input over a size cap */
    RECO_ERR_EMPTY,     /* no data left to work with */
    RECO_ERR_NUMERIC,   /* a numerical method failed to converge */
    RECO_ERR_INTERNAL,  /* a broken invariant: a bug in reco */
    RECO_ERR_UNAVAILABLE /* a service it depends on (a database) cannot be reached now:
                          * nothing was done; retry later */
} reco_status;

#define RECO_ERROR_MSG_MAX 512

typedef struct reco_error {
    reco_status code;
    char msg[RECO_ERROR_MSG_MAX];
} reco_error;

/* Short fixed name of a status ("parse error"); never NULL. */
const char *reco_status_str(reco_status code);

/* Fills err (if not NULL) with code and a printf-style message; returns code
 * so that callers can write `return reco_error_set(err, ...)`. */
reco_status reco_error_set(reco_error *err, reco_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err (if not NULL) to RECO_OK with an empty message. */
void reco_error_clear(reco_error *err);

#ifdef __cplusplus
}
#endif
#endif
