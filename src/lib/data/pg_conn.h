/* Connecting to PostgreSQL, for the modules of reco that speak to it: the
 * rating sources (pg_source.c) and the service's store (src/server/
 * pg_store.c). One way to connect (as application "reco", UTF-8) and one
 * way to word a failure, so that every message names the source without
 * its password and carries libpq's or the server's own text, on one line.
 * Private to the library; only with libpq. */
#ifndef RECO_PG_CONN_H
#define RECO_PG_CONN_H

#ifdef RECO_HAVE_LIBPQ
#include <libpq-fe.h>

#include "reco/error.h"
#include "reco/pg_source.h"

/* Connects to src (parsed from uri). NULL on failure, with err
 * RECO_ERR_IO "NAME: cannot connect: MESSAGE" (libpq's message names the
 * host and port it tried; passwords replaced by "***"). */
PGconn *reco_pg_connect(const char *uri, const reco_pg_source *src, reco_error *err);

/* err = code, "NAME: WHAT MESSAGE", msg cleaned to one line with uri's
 * passwords replaced by "***". Returns code. */
reco_status reco_pg_fail(const char *uri, const char *name, reco_status code, reco_error *err,
                         const char *what, const char *msg);

/* The message of a failed result: the server's primary text and its hint,
 * or the connection's message when there is no result. */
void reco_pg_result_message(PGconn *conn, const PGresult *res, char *buf, size_t cap);

#endif
#endif
