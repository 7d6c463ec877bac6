/* The PostgreSQL store of the service (pg_store.h): log lines written as
 * rows in one transaction each, rows read back as log lines, and the
 * notifications that say rows were written. Connections are made again
 * after a failure, with a backoff, by whichever call needs them next.
 * A write takes two round trips: BEGIN with the advisory lock, then one
 * message with a multi-row INSERT, the notification and COMMIT. */
#include "pg_store.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reco/pg_source.h"
#include "reco/ratings_log.h"

#ifndef RECO_HAVE_LIBPQ

reco_status pg_store_open(const char *uri, pg_store **out, reco_error *err)
{
    (void)uri;
    *out = NULL;
    return reco_error_set(err, RECO_ERR_INVALID,
                          "--store: this reco was built without PostgreSQL support (libpq): "
                          "install libpq-dev and build again");
}
void pg_store_free(pg_store *st) { (void)st; }
const char *pg_store_name(const pg_store *st)
{
    (void)st;
    return "";
}
reco_status pg_store_write(pg_store *st, const char *text, size_t len, int64_t *last_seq,
                           reco_error *err)
{
    (void)st, (void)text, (void)len, (void)last_seq;
    return reco_error_set(err, RECO_ERR_INVALID, "built without PostgreSQL support");
}
reco_status pg_store_read(pg_store *st, int64_t after, int64_t upto, size_t max, char **text,
                          size_t *len, size_t *cap, size_t *n, int64_t *last, reco_error *err)
{
    (void)st, (void)after, (void)upto, (void)max, (void)text, (void)len, (void)cap, (void)n;
    (void)last;
    return reco_error_set(err, RECO_ERR_INVALID, "built without PostgreSQL support");
}
int pg_store_wait(pg_store *st, int ms)
{
    (void)st, (void)ms;
    return 0;
}
void pg_store_get_state(pg_store *st, pg_store_state *out)
{
    (void)st;
    memset(out, 0, sizeof *out);
}

#else

#include "pg_conn.h"

#define CHANNEL "reco_store"
#define LOCK_CLASS 1919247215 /* "reco" as a big-endian int4: the advisory lock's first key */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define SQL_MAX 4096
/* Floats as the shortest text that reads back the same; literals as the
 * writer quotes them ('' for a quote, backslashes as they are); the
 * reader's rows by the primary key's index, whatever the statistics say (a
 * new table has none, and the planner then scans the whole table and sorts
 * it for every few new rows: reads, and so writes, slow down as it grows). */
#define SESSION_SETTINGS \
    "SET extra_float_digits = 3; SET standard_conforming_strings = on; SET enable_seqscan = off"

static const char *const COLUMNS[][2] = {
    {"seq", "bigint"},   {"kind", "text"}, {"user_id", "text"}, {"item_id", "text"},
    {"rating", "real"},  {"ts", "bigint"}, {"payload", "json"},
};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])
#define EXPECTED "seq bigint, kind text, user_id text, item_id text, rating real, ts bigint, " \
                 "payload json"

/* One connection and when it may be tried again. */
typedef struct conn {
    PGconn *c;                /* NULL: down */
    int64_t next_try_ms;      /* monotonic */
    int backoff_ms;
    char why[PG_STORE_MSG_MAX]; /* why it is down */
} conn;

struct pg_store {
    char *uri;
    reco_pg_source *src;
    char ident[2 * RECO_PG_NAME_MAX + 8]; /* the table, quoted: "schema"."name" */
    char literal[2 * sizeof(char[2 * RECO_PG_NAME_MAX + 8]) + 4]; /* ident as a SQL literal */
    char seq_name[2 * RECO_PG_NAME_MAX + 64]; /* its sequence, as a SQL literal */
    int lock_key;
    conn writer, reader, listener;
    pthread_mutex_t write_mu; /* the writer's connection */
    pthread_mutex_t read_mu;  /* the reader's connection */
    pthread_mutex_t state_mu; /* the figures below */
    bool writer_up, reader_up, listener_up;
    bool failing;
    int64_t failing_since;
    char failure[PG_STORE_MSG_MAX];
    uint64_t commits, write_errors, connects;
    int64_t last_commit_seq;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *pg_store_name(const pg_store *st) { return st->src->name; }

/* Marks c down after a failure (message msg), to be tried again after
 * its backoff. */
static void conn_down(pg_store *st, conn *c, const char *msg)
{
    reco_error e; /* first: msg may be the connection's own message */
    reco_pg_fail(st->uri, st->src->name, RECO_ERR_UNAVAILABLE, &e, "", msg);
    snprintf(c->why, sizeof c->why, "%s", e.msg);
    if (c->c)
        PQfinish(c->c);
    c->c = NULL;
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (c->backoff_ms > BACKOFF_MAX_MS)
        c->backoff_ms = BACKOFF_MAX_MS;
    c->next_try_ms = now_ms() + c->backoff_ms;
}

/* Connects c when it is down and its backoff has passed. 0, or -1 with
 * err RECO_ERR_UNAVAILABLE. */
static int conn_ensure(pg_store *st, conn *c, reco_error *err)
{
    if (c->c && PQstatus(c->c) == CONNECTION_OK)
        return 0;
    if (c->c) {
        conn_down(st, c, PQerrorMessage(c->c));
        c->next_try_ms = 0; /* a connection found broken: try at once */
    }
    if (now_ms() < c->next_try_ms) {
        reco_error_set(err, RECO_ERR_UNAVAILABLE, "%s (connecting again)", c->why);
        return -1;
    }
    reco_error e;
    PGconn *pc = reco_pg_connect(st->uri, st->src, &e);
    if (!pc) {
        snprintf(c->why, sizeof c->why, "%s", e.msg);
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (c->backoff_ms > BACKOFF_MAX_MS)
            c->backoff_ms = BACKOFF_MAX_MS;
        c->next_try_ms = now_ms() + c->backoff_ms;
        reco_error_set(err, RECO_ERR_UNAVAILABLE, "%s", e.msg);
        return -1;
    }
    PQclear(PQexec(pc, SESSION_SETTINGS));
    c->c = pc;
    c->backoff_ms = 0;
    pthread_mutex_lock(&st->state_mu);
    st->connects++;
    pthread_mutex_unlock(&st->state_mu);
    return 0;
}

/* A failed statement on c: RECO_ERR_UNAVAILABLE when the connection
 * broke (then marked down), else RECO_ERR_IO with the server's message. */
static reco_status stmt_fail(pg_store *st, conn *c, const PGresult *res, const char *what,
                             reco_error *err)
{
    char msg[RECO_ERROR_MSG_MAX];
    reco_pg_result_message(c->c, res, msg, sizeof msg);
    if (!c->c || PQstatus(c->c) != CONNECTION_OK) {
        conn_down(st, c, msg);
        c->next_try_ms = 0;
        return reco_pg_fail(st->uri, st->src->name, RECO_ERR_UNAVAILABLE, err, what, msg);
    }
    return reco_pg_fail(st->uri, st->src->name, RECO_ERR_IO, err, what, msg);
}

static bool exec_ok(PGconn *c, const char *sql, ExecStatusType want, PGresult **res)
{
    *res = PQexec(c, sql);
    return PQresultStatus(*res) == want;
}

/* ---- opening: the table ---- */

/* The table's name quoted as an identifier (each of schema and name). */
static int quote_table(pg_store *st, PGconn *c)
{
    const char *t = st->src->table, *dot = strchr(t, '.');
    size_t n = 0;
    for (int part = 0; part < 2; part++) {
        if (part == 1 && !dot)
            break;
        const char *p = part == 0 ? t : dot + 1;
        size_t len = part == 0 && dot ? (size_t)(dot - t) : strlen(p);
        char *q = PQescapeIdentifier(c, p, len);
        if (!q)
            return -1;
        int w = snprintf(st->ident + n, sizeof st->ident - n, "%s%s", part ? "." : "", q);
        PQfreemem(q);
        if (w < 0 || (size_t)w >= sizeof st->ident - n)
            return -1;
        n += (size_t)w;
    }
    char *lit = PQescapeLiteral(c, st->ident, strlen(st->ident));
    if (!lit)
        return -1;
    snprintf(st->literal, sizeof st->literal, "%s", lit);
    PQfreemem(lit);
    return 0;
}

/* Creates the table if it is absent (under the advisory lock, so that
 * replicas starting together do not race), checks its columns, finds its
 * sequence and the lock's key. */
static reco_status prepare_table(pg_store *st, PGconn *c, reco_error *err)
{
    char sql[SQL_MAX * 2];
    PGresult *res = NULL;
    reco_status rc = RECO_OK;
    if (!exec_ok(c, "BEGIN", PGRES_COMMAND_OK, &res))
        goto sqlfail;
    PQclear(res);
    snprintf(sql, sizeof sql, "SELECT hashtext(%s)", st->literal);
    if (!exec_ok(c, sql, PGRES_TUPLES_OK, &res))
        goto sqlfail;
    st->lock_key = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d, %d)", LOCK_CLASS, st->lock_key);
    if (!exec_ok(c, sql, PGRES_TUPLES_OK, &res))
        goto sqlfail;
    PQclear(res);
    snprintf(sql, sizeof sql,
             "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
             "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
             "ORDER BY a.attnum", st->literal);
    if (!exec_ok(c, sql, PGRES_TUPLES_OK, &res))
        goto sqlfail;
    int rows = PQntuples(res);
    if (rows == 0) {
        PQclear(res);
        snprintf(sql, sizeof sql,
                 "CREATE TABLE %s (seq bigserial PRIMARY KEY, kind text NOT NULL, user_id text, "
                 "item_id text, rating real, ts bigint, payload json)", st->ident);
        if (!exec_ok(c, sql, PGRES_COMMAND_OK, &res))
            goto sqlfail;
    } else {
        bool same = rows == (int)N_COLUMNS;
        char have[RECO_ERROR_MSG_MAX / 2];
        size_t n = 0;
        have[0] = '\0';
        for (int r = 0; r < rows; r++) {
            const char *name = PQgetvalue(res, r, 0), *type = PQgetvalue(res, r, 1);
            if (same && (strcmp(name, COLUMNS[r][0]) || strcmp(type, COLUMNS[r][1])))
                same = false;
            if (n < sizeof have) {
                int w = snprintf(have + n, sizeof have - n, "%s%s %s", r ? ", " : "", name, type);
                n += w > 0 ? (size_t)w : 0;
            }
        }
        if (!same) {
            rc = reco_error_set(err, RECO_ERR_FORMAT,
                                "%s: table %s has the columns (%s), but a reco store needs "
                                "exactly (" EXPECTED "): name a table of its own (?table=NAME; "
                                "created when absent)", st->src->name, st->src->table, have);
            PQclear(res);
            PQclear(PQexec(c, "ROLLBACK"));
            return rc;
        }
    }
    PQclear(res);
    snprintf(sql, sizeof sql, "SELECT pg_get_serial_sequence(%s, 'seq')", st->literal);
    if (!exec_ok(c, sql, PGRES_TUPLES_OK, &res))
        goto sqlfail;
    if (PQgetisnull(res, 0, 0)) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: column seq of table %s has no sequence: a reco store needs "
                            "(seq bigserial primary key, ...)", st->src->name, st->src->table);
        PQclear(res);
        PQclear(PQexec(c, "ROLLBACK"));
        return rc;
    }
    const char *seq = PQgetvalue(res, 0, 0);
    char *lit = PQescapeLiteral(c, seq, strlen(seq));
    snprintf(st->seq_name, sizeof st->seq_name, "%s", lit ? lit : "''");
    PQfreemem(lit);
    PQclear(res);
    if (!exec_ok(c, "COMMIT", PGRES_COMMAND_OK, &res))
        goto sqlfail;
    PQclear(res);
    return RECO_OK;
sqlfail: {
    char msg[RECO_ERROR_MSG_MAX];
    reco_pg_result_message(c, res, msg, sizeof msg);
    PQclear(res);
    PQclear(PQexec(c, "ROLLBACK"));
    return reco_pg_fail(st->uri, st->src->name, RECO_ERR_IO, err, "", msg);
}
}

/* uri with table=reco_log added when it names no table. */
static char *with_table(const char *uri)
{
    const char *q = strchr(uri, '?');
    bool has = false;
    for (const char *p = q; p && *p; p++)
        if ((p[0] == '?' || p[0] == '&') && !strncmp(p + 1, "table=", 6))
            has = true;
    size_t n = strlen(uri) + sizeof "&table=" PG_STORE_DEFAULT_TABLE;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", uri, has ? "" : q ? "&table=" PG_STORE_DEFAULT_TABLE
                                                 : "?table=" PG_STORE_DEFAULT_TABLE);
    return s;
}

reco_status pg_store_open(const char *uri, pg_store **out, reco_error *err)
{
    *out = NULL;
    pg_store *st = calloc(1, sizeof *st);
    if (!st || !(st->uri = with_table(uri))) {
        free(st);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&st->write_mu, NULL);
    pthread_mutex_init(&st->read_mu, NULL);
    pthread_mutex_init(&st->state_mu, NULL);
    reco_status rc = reco_pg_source_parse(st->uri, &st->src, err);
    if (rc == RECO_OK && (st->src->query || st->src->columns))
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: a store is a table of its own (?table=NAME, or none for %s): "
                            "query= and columns= are for reading ratings, not for --store",
                            st->src->name, PG_STORE_DEFAULT_TABLE);
    if (rc == RECO_OK && !(st->writer.c = reco_pg_connect(st->uri, st->src, err)))
        rc = err ? err->code : RECO_ERR_IO;
    if (rc == RECO_OK && quote_table(st, st->writer.c))
        rc = reco_error_set(err, RECO_ERR_INVALID, "%s: the table name is too long",
                            st->src->name);
    if (rc == RECO_OK)
        rc = prepare_table(st, st->writer.c, err);
    if (rc == RECO_OK) {
        PQclear(PQexec(st->writer.c, SESSION_SETTINGS));
        st->connects = 1;
        if (!(st->reader.c = reco_pg_connect(st->uri, st->src, err)))
            rc = err ? err->code : RECO_ERR_IO;
        else
            PQclear(PQexec(st->reader.c, SESSION_SETTINGS));
    }
    if (rc) {
        pg_store_free(st);
        return rc;
    }
    st->writer_up = st->reader_up = true;
    *out = st;
    return RECO_OK;
}

void pg_store_free(pg_store *st)
{
    if (!st)
        return;
    PQfinish(st->writer.c);
    PQfinish(st->reader.c);
    PQfinish(st->listener.c);
    pthread_mutex_destroy(&st->write_mu);
    pthread_mutex_destroy(&st->read_mu);
    pthread_mutex_destroy(&st->state_mu);
    reco_pg_source_free(st->src);
    free(st->uri);
    free(st);
}

/* ---- writing ---- */

typedef struct copy_buf {
    char *p;
    size_t n, cap;
    bool oom;
} copy_buf;

static void put(copy_buf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + len)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

/* A SQL string literal (standard_conforming_strings on: a quote doubled,
 * nothing else escaped; the service's IDs and JSON hold no NUL). */
static void put_literal(copy_buf *b, const char *s, size_t len)
{
    size_t from = 0;
    put(b, "'", 1);
    for (size_t k = 0; k < len; k++)
        if (s[k] == '\'') {
            put(b, s + from, k + 1 - from);
            put(b, "'", 1);
            from = k + 1;
        }
    put(b, s + from, len - from);
    put(b, "'", 1);
}

/* Rows of the INSERT's VALUES list, one per log line. */
static int copy_rating(void *ctx, const char *u, size_t ul, const char *i, size_t il, float r,
                       int64_t ts)
{
    copy_buf *b = ctx;
    char num[64];
    put(b, b->n ? ",('rating'," : "('rating',", b->n ? 11 : 10);
    put_literal(b, u, ul);
    put(b, ",", 1);
    put_literal(b, i, il);
    int n = snprintf(num, sizeof num, ",%.9g,%lld,NULL)", (double)r, (long long)ts);
    put(b, num, (size_t)n);
    return b->oom ? -1 : 0;
}

static int copy_record(void *ctx, const char *kind, size_t kind_len, const char *payload,
                       size_t len, char *why, size_t cap)
{
    (void)why, (void)cap;
    copy_buf *b = ctx;
    put(b, b->n ? ",(" : "(", b->n ? 2 : 1);
    put_literal(b, kind, kind_len);
    static const char nulls[] = ",NULL,NULL,NULL,NULL,";
    put(b, nulls, sizeof nulls - 1);
    put_literal(b, payload, len);
    put(b, ")", 1);
    return b->oom ? -1 : 0;
}

static void write_failed(pg_store *st, const reco_error *err)
{
    pthread_mutex_lock(&st->state_mu);
    st->write_errors++;
    if (!st->failing)
        st->failing_since = (int64_t)time(NULL);
    st->failing = true;
    snprintf(st->failure, sizeof st->failure, "%s", err ? err->msg : "");
    pthread_mutex_unlock(&st->state_mu);
}

reco_status pg_store_write(pg_store *st, const char *text, size_t len, int64_t *last_seq,
                           reco_error *err)
{
    reco_error e;
    if (!err)
        err = &e;
    *last_seq = 0;
    copy_buf b = {0};
    reco_log_parse_opts o = {st->src->name, 1, -HUGE_VAL, HUGE_VAL, false};
    reco_log_records recs = {copy_record, &b};
    reco_log_parse_report rep;
    reco_status rc = reco_log_parse_records(text, len, &o, copy_rating, &b, &recs, &rep, err);
    if (rc == RECO_OK && b.oom)
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (rc) {
        free(b.p);
        return rc;
    }
    conn *c = &st->writer;
    PGresult *res = NULL;
    char sql[SQL_MAX];
    pthread_mutex_lock(&st->write_mu);
    if (conn_ensure(st, c, err)) {
        rc = RECO_ERR_UNAVAILABLE;
        goto out;
    }
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%d, %d)", LOCK_CLASS,
             st->lock_key);
    if (!exec_ok(c->c, sql, PGRES_TUPLES_OK, &res)) {
        rc = stmt_fail(st, c, res, "cannot start a transaction: ", err);
        /* A connection found broken before anything was written (the
         * server restarted, or ended it while idle): once more on a new
         * one, which is safe, since nothing of this batch was sent. */
        if (rc == RECO_ERR_UNAVAILABLE && conn_ensure(st, c, NULL) == 0) {
            PQclear(res);
            rc = RECO_OK;
            if (!exec_ok(c->c, sql, PGRES_TUPLES_OK, &res))
                rc = stmt_fail(st, c, res, "cannot start a transaction: ", err);
        }
        if (rc)
            goto out;
    }
    PQclear(res);
    /* The rows, the notification and COMMIT in one message: one round
     * trip. The statements after a failed one are not run, and the
     * transaction is rolled back below. */
    res = NULL;
    copy_buf q = {0};
    snprintf(sql, sizeof sql, "INSERT INTO %s (kind, user_id, item_id, rating, ts, payload) VALUES ",
             st->ident);
    put(&q, sql, strlen(sql));
    put(&q, b.p, b.n);
    snprintf(sql, sizeof sql, "; SELECT currval(%s), pg_notify('" CHANNEL "', %s); COMMIT",
             st->seq_name, st->literal);
    put(&q, sql, strlen(sql) + 1);
    if (q.oom) {
        free(q.p);
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto out;
    }
    int sent = PQsendQuery(c->c, q.p);
    free(q.p);
    if (!sent) {
        rc = stmt_fail(st, c, NULL, "cannot write: ", err);
        goto out;
    }
    /* INSERT, SELECT, COMMIT: each answered in turn; the first failure
     * is the message. On a connection that breaks now the server may have
     * run all three: the outcome is unknown, and nothing is acknowledged
     * (a row that did commit is still read by every replica). */
    static const ExecStatusType want[] = {PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_COMMAND_OK};
    int got = 0;
    bool bad = false;
    int64_t seq = 0;
    PGresult *r;
    while ((r = PQgetResult(c->c))) {
        if (!bad && (got >= 3 || PQresultStatus(r) != want[got])) {
            bad = true;
            res = r; /* kept for its message */
            got++;
            continue;
        }
        if (!bad && got == 1)
            seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        got++;
        PQclear(r);
    }
    if (bad || got < 3) {
        rc = stmt_fail(st, c, res,
                       !c->c || PQstatus(c->c) != CONNECTION_OK
                           ? "the connection was lost after the rows were sent, so whether they "
                             "were committed is unknown (not acknowledged): "
                           : "cannot write: ",
                       err);
        goto out;
    }
    *last_seq = seq;
    pthread_mutex_lock(&st->state_mu);
    st->commits++;
    st->failing = false;
    st->last_commit_seq = seq;
    pthread_mutex_unlock(&st->state_mu);
out:
    if (rc) {
        if (c->c && PQtransactionStatus(c->c) != PQTRANS_IDLE)
            PQclear(PQexec(c->c, "ROLLBACK"));
        write_failed(st, err);
    }
    PQclear(res);
    pthread_mutex_lock(&st->state_mu);
    st->writer_up = c->c != NULL;
    pthread_mutex_unlock(&st->state_mu);
    pthread_mutex_unlock(&st->write_mu);
    free(b.p);
    return rc;
}

void pg_store_probe(pg_store *st)
{
    /* Never waits for a write in progress: that one finds out itself. */
    if (pthread_mutex_trylock(&st->write_mu) != 0)
        return;
    conn *c = &st->writer;
    bool was_up = c->c && PQstatus(c->c) == CONNECTION_OK, up = was_up;
    if (!was_up) {
        reco_error e;
        up = conn_ensure(st, c, &e) == 0;
        if (!up) {
            pthread_mutex_lock(&st->state_mu);
            if (!st->failing)
                st->failing_since = (int64_t)time(NULL);
            st->failing = true;
            snprintf(st->failure, sizeof st->failure, "%s", e.msg);
            pthread_mutex_unlock(&st->state_mu);
        }
    }
    pthread_mutex_lock(&st->state_mu);
    if (up && !was_up)
        st->failing = false; /* connected again: writes can be taken */
    st->writer_up = up;
    pthread_mutex_unlock(&st->state_mu);
    pthread_mutex_unlock(&st->write_mu);
}

/* ---- reading ---- */

static int grow(char **text, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 65536;
    while (nc < need)
        nc *= 2;
    char *nt = realloc(*text, nc);
    if (!nt)
        return -1;
    *text = nt;
    *cap = nc;
    return 0;
}

reco_status pg_store_read(pg_store *st, int64_t after, int64_t upto, size_t max, char **text,
                          size_t *len, size_t *cap, size_t *n, int64_t *last, reco_error *err)
{
    *n = 0;
    *last = after;
    char sql[SQL_MAX];
    char upto_s[48] = "";
    if (upto >= 0)
        snprintf(upto_s, sizeof upto_s, " AND seq <= %lld", (long long)upto);
    snprintf(sql, sizeof sql,
             "SELECT seq, kind, user_id, item_id, rating, ts, payload FROM %s WHERE seq > %lld%s "
             "ORDER BY seq LIMIT %zu", st->ident, (long long)after, upto_s, max);
    pthread_mutex_lock(&st->read_mu);
    conn *c = &st->reader;
    reco_status rc = RECO_OK;
    PGresult *res = NULL;
    if (conn_ensure(st, c, err)) {
        rc = RECO_ERR_UNAVAILABLE;
        goto out;
    }
    if (!exec_ok(c->c, sql, PGRES_TUPLES_OK, &res)) {
        rc = stmt_fail(st, c, res, "cannot read: ", err);
        goto out;
    }
    int rows = PQntuples(res);
    for (int r = 0; r < rows && rc == RECO_OK; r++) {
        const char *kind = PQgetvalue(res, r, 1);
        int64_t seq = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        if (!strcmp(kind, "rating")) {
            const char *u = PQgetvalue(res, r, 2), *i = PQgetvalue(res, r, 3);
            size_t ul = (size_t)PQgetlength(res, r, 2), il = (size_t)PQgetlength(res, r, 3);
            if (PQgetisnull(res, r, 4) || PQgetisnull(res, r, 5) || !ul || !il) {
                rc = reco_error_set(err, RECO_ERR_PARSE,
                                    "%s: row seq=%lld: a rating needs user_id, item_id, "
                                    "rating and ts", st->src->name, (long long)seq);
                break;
            }
            float rating = strtof(PQgetvalue(res, r, 4), NULL);
            int64_t ts = strtoll(PQgetvalue(res, r, 5), NULL, 10);
            if (grow(text, cap, *len + reco_log_line_max(ul, il))) {
                rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
                break;
            }
            *len += reco_log_format_line(*text + *len, u, ul, i, il, rating, ts);
        } else {
            const char *p = PQgetvalue(res, r, 6);
            size_t pl = (size_t)PQgetlength(res, r, 6);
            if (grow(text, cap, *len + reco_log_record_max(pl))) {
                rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
                break;
            }
            *len += reco_log_format_record(*text + *len, kind, p, pl);
        }
        *n += 1;
        *last = seq;
    }
out:
    PQclear(res);
    pthread_mutex_lock(&st->state_mu);
    st->reader_up = c->c != NULL;
    pthread_mutex_unlock(&st->state_mu);
    pthread_mutex_unlock(&st->read_mu);
    return rc;
}

/* ---- notifications ---- */

static void set_listener(pg_store *st, bool up)
{
    pthread_mutex_lock(&st->state_mu);
    st->listener_up = up;
    pthread_mutex_unlock(&st->state_mu);
}

/* Takes the notifications that came in; 1 if any, -1 if the connection
 * broke (then down). */
static int drain(pg_store *st, conn *c)
{
    if (PQconsumeInput(c->c) == 0) {
        conn_down(st, c, PQerrorMessage(c->c));
        set_listener(st, false);
        return -1;
    }
    int got = 0;
    PGnotify *nf;
    while ((nf = PQnotifies(c->c))) {
        got = 1;
        PQfreemem(nf);
    }
    return got;
}

int pg_store_wait(pg_store *st, int ms)
{
    conn *c = &st->listener;
    if (!c->c || PQstatus(c->c) != CONNECTION_OK) {
        if (conn_ensure(st, c, NULL) == 0) {
            PGresult *res = PQexec(c->c, "LISTEN " CHANNEL);
            bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
            char msg[RECO_ERROR_MSG_MAX];
            if (!ok)
                reco_pg_result_message(c->c, res, msg, sizeof msg);
            PQclear(res);
            if (!ok)
                conn_down(st, c, msg);
            set_listener(st, ok);
            if (ok)
                return 1; /* rows may have come while it was down: look */
        }
        set_listener(st, false);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return 0;
    }
    int got = drain(st, c);
    if (got)
        return 1;
    struct pollfd pfd = {PQsocket(c->c), POLLIN, 0};
    if (poll(&pfd, 1, ms) > 0)
        return drain(st, c) != 0;
    return 0;
}

void pg_store_get_state(pg_store *st, pg_store_state *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&st->state_mu);
    out->failing = st->failing;
    out->failing_since = st->failing_since;
    snprintf(out->failure, sizeof out->failure, "%s", st->failure);
    out->commits = st->commits;
    out->write_errors = st->write_errors;
    out->connects = st->connects;
    out->last_commit_seq = st->last_commit_seq;
    out->writer_up = st->writer_up;
    out->reader_up = st->reader_up;
    out->listener_up = st->listener_up;
    pthread_mutex_unlock(&st->state_mu);
}

#endif
