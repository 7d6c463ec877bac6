/* The PostgreSQL store of `reco serve --store postgresql://...`: where the
 * service writes what it acknowledges (ratings, catalogue changes,
 * feedback, events) instead of the local ratings log, and where it reads
 * what every replica wrote. Private to the service (src/server/service.c);
 * the only module of the service that uses libpq. docs/postgresql.md
 * ("Serving from PostgreSQL") describes it for operators.
 *
 * The store is one table (default reco_log; `?table=[SCHEMA.]NAME`):
 *
 *   seq bigserial primary key, kind text not null, user_id text,
 *   item_id text, rating real, ts bigint, payload json
 *
 * kind "rating" rows carry user_id, item_id, rating and ts; the other
 * kinds (feedback, item, event) carry the JSON object the ratings log's
 * record of that kind carries (reco/ratings_log.h) in payload. The store
 * speaks the log's line format on both sides: pg_store_write takes the
 * lines the service would append to the file log and stores them as rows;
 * pg_store_read gives rows back as the same lines, so the service replays
 * and follows the store with the parser and appliers of the file log.
 *
 * Guarantees. The table is created when it is absent; one whose columns
 * are not exactly the above is refused naming the columns expected. A
 * write is one transaction that first takes a transaction-level advisory
 * lock for the table, so that rows are numbered (seq) in the order they
 * commit: once a row is visible, every row with a lower seq that will
 * ever be visible already is, and a reader that asks for seq > last
 * misses nothing. The rows go in one multi-row INSERT; the transaction
 * notifies channel "reco_store" (payload: the table) before COMMIT.
 * pg_store_write returns OK only when COMMIT succeeded; a lost connection
 * or an unknown outcome is RECO_ERR_UNAVAILABLE (nothing may be
 * acknowledged), and the connection
 * is made again on a later call, no sooner than a backoff (0.1 s doubling
 * to 2 s) after the last failed attempt. Messages name the store by its
 * URI without the password and carry libpq's or the server's text.
 *
 * Three connections: the writer (one caller at a time: the service's
 * group commit), the reader (any thread; serialised inside) and the
 * listener (one thread: the service's follower). Built without libpq,
 * pg_store_open fails saying so and nothing else is called. */
#ifndef RECO_PG_STORE_H
#define RECO_PG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"

typedef struct pg_store pg_store;

#define PG_STORE_DEFAULT_TABLE "reco_log"
#define PG_STORE_MSG_MAX RECO_ERROR_MSG_MAX

/* Parses uri (a postgresql:// URI, `table=` optional; `query=` and
 * `columns=` refused), connects, creates the table if it is absent and
 * checks its columns. A database that cannot be reached is RECO_ERR_IO
 * "URI: cannot connect: MESSAGE" (libpq's, naming the host). */
reco_status pg_store_open(const char *uri, pg_store **out, reco_error *err);

/* Closes the connections. NULL is a no-op. */
void pg_store_free(pg_store *st);

/* The store for messages: the URI without its password. */
const char *pg_store_name(const pg_store *st);

/* Stores the log lines text[0, len) (rating lines and record lines, as
 * the service formats them for the file log) in one transaction, in
 * order; *last_seq: the seq of the last row. RECO_ERR_UNAVAILABLE when
 * the database cannot be reached or the connection broke (the outcome of
 * a COMMIT that got no answer is unknown: not acknowledged either way),
 * RECO_ERR_IO when the server refused the rows, RECO_ERR_PARSE for lines
 * that are not the log's. One caller at a time. */
reco_status pg_store_write(pg_store *st, const char *text, size_t len, int64_t *last_seq,
                           reco_error *err);

/* Reads the rows with after < seq (and seq <= upto when upto >= 0) in seq
 * order, at most max of them, as log lines appended to *text (*len bytes,
 * *cap allocated; the caller frees *text); *n rows and *last the seq of
 * the last one (after when none). RECO_ERR_UNAVAILABLE when the database
 * cannot be reached. */
reco_status pg_store_read(pg_store *st, int64_t after, int64_t upto, size_t max, char **text,
                          size_t *len, size_t *cap, size_t *n, int64_t *last, reco_error *err);

/* Waits up to ms milliseconds for a notification that rows were written
 * (listening first, connecting the listener when it is down and its
 * backoff has passed). 1 when one came, 0 when none did (or the listener
 * is down: then after sleeping ms). */
int pg_store_wait(pg_store *st, int ms);

/* Makes the writer's connection again when it is down and its backoff
 * has passed (the follower calls it, so that writes come back without
 * waiting for a request). */
void pg_store_probe(pg_store *st);

typedef struct pg_store_state {
    bool writer_up, reader_up, listener_up;
    bool failing;             /* the last write failed (until one succeeds) */
    int64_t failing_since;    /* Unix time */
    char failure[PG_STORE_MSG_MAX];
    uint64_t commits, write_errors, connects;
    int64_t last_commit_seq;  /* the seq of this process's last committed row; 0: none */
} pg_store_state;

void pg_store_get_state(pg_store *st, pg_store_state *out);

#endif
