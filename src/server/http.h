/* reco: the REST API over a reco_service (`reco serve`).
 *
 * libmicrohttpd serves the requests on its own thread pool (epoll); every
 * handler maps the request to one service call and the service's JSON
 * object to the response body. Client mistakes become 4xx answers of the
 * form {"error": {"status": N, "message": "what to fix"}}; library
 * statuses map to HTTP statuses through one table (reco_http_status_for).
 *
 * Endpoints (docs/api.md and docs/openapi.yaml describe them in full):
 *   GET  /v1/users/{user}/recommendations?n=10&exclude_rated=true
 *   GET  /v1/users/{user}/ratings
 *   GET  /v1/items/{item}/similar?n=10
 *   GET  /v1/predict?user=U&item=I
 *   POST /v1/ratings              (token when configured)
 *   POST /v1/feedback             (token when configured)
 *   GET  /v1/experiments
 *   POST /v1/admin/reload         (token when configured; else a JSON type)
 *   GET  /v1/model, /healthz, /metrics (Prometheus text format)
 *   GET  /v1/users?prefix=P&limit=10, /v1/items/{item}/ratings?recent=10
 *   GET  /, /console/{file}       (the web console, embedded: console.h)
 *   GET  /report/{path}           (the explore report, with report_dir)
 *
 * Connections are kept alive and requests may be pipelined. Every
 * connection is counted against the caps and watched by a reaper thread
 * for its absolute deadlines (reco_http_options); every refusal, also the
 * ones libmicrohttpd makes before a handler runs, has the JSON error body.
 *
 * The server never prints except for the optional per-request log lines;
 * signals and the startup line are the caller's (src/cli/cmd_serve.c). */
#ifndef RECO_HTTP_H
#define RECO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/service.h"

#define RECO_HTTP_MAX_BODY ((size_t)1 << 20) /* 1 MiB */
#define RECO_HTTP_MAX_N 1000
#define RECO_HTTP_MAX_BATCH 10000
#define RECO_HTTP_MAX_TARGET 8192  /* bytes of request target (path and query): else 414 */
#define RECO_HTTP_MAX_HEAD 16384   /* bytes of request line and headers: else 431 */

typedef struct reco_http_options {
    const char *host;   /* address or name to bind ("127.0.0.1"); "[::1]" and "::1" work */
    unsigned port;      /* 8080; 0: a free port chosen by the system (reco_http_port) */
    unsigned threads;   /* libmicrohttpd worker threads; 0: one per core */
    const char *token;  /* bearer token the write endpoints require; NULL or "": none */
    bool read_only;     /* the service has no ratings log: POST /v1/ratings answers 403 */
    bool log_requests;  /* one line per request on stderr ("GET /path 200 0.4ms") */
    size_t max_body;    /* largest request body in bytes (RECO_HTTP_MAX_BODY) */
    size_t max_n;       /* largest n a query may ask for: the service's max_n (1000) */
    size_t max_batch;   /* most ratings in one POST: the service's max_batch (10000) */
    /* Connections. A connection is admitted while fewer than
     * max_connections are open, and fewer than max_connections_per_ip from
     * its client address (IPv6: its /64); one over either cap is answered
     * 503 and closed (after at most a second if it sends nothing). */
    unsigned max_connections;        /* 4096 */
    unsigned max_connections_per_ip; /* 256; 0: no per-address cap */
    /* Deadlines, absolute (a client sending a byte now and then does not
     * extend them). The request line and headers must be in within
     * header_timeout_ms: of the connection's opening for its first request,
     * of the request line for later ones on a kept-alive connection; a body
     * within body_timeout_ms of the headers. A request past its deadline is
     * answered 408 and the connection closed. A kept-alive connection
     * waiting for its next request is closed after idle_timeout_s, and so
     * is one on which nothing moves for that long. */
    unsigned header_timeout_ms; /* 10,000 */
    unsigned body_timeout_ms;   /* 30,000 */
    unsigned idle_timeout_s;    /* 30 */
    /* Host names (comma-separated, an optional :port each is ignored)
     * served besides localhost, 127.x.y.z and [::1]. On a loopback bind,
     * and on any bind when this is set, a request whose Host is none of
     * these is answered 421 (DNS rebinding: a web page must not read a
     * loopback server through a name of its own). NULL: none. */
    const char *allow_hosts;
    /* The explore report's directory (reco explore --out DIR), served
     * read-only under /report/ and linked from the console; NULL: none
     * (/report answers 404). Borrowed. */
    const char *report_dir;
} reco_http_options;

void reco_http_options_default(reco_http_options *o);

/* File descriptors a server with this connection cap may need (the
 * caller's RLIMIT_NOFILE must allow them: reco_http_start checks). */
unsigned reco_http_fds_needed(unsigned max_connections);

typedef struct reco_http reco_http;

/* Binds host:port and starts serving svc (borrowed: it must outlive the
 * server). Refuses, with a message, a host that does not resolve or a
 * non-loopback address without a token (RECO_ERR_INVALID), and an address
 * that cannot be bound (RECO_ERR_IO). The worker threads inherit the
 * caller's signal mask: block the signals the caller handles (SIGINT,
 * SIGTERM, SIGHUP) around this call so they never interrupt the workers. */
reco_status reco_http_start(reco_service *svc, const reco_http_options *opt, reco_http **out,
                            reco_error *err);

/* The port actually bound (the system's choice when opt->port was 0). */
unsigned reco_http_port(const reco_http *h);

/* Requests that have started and not yet been answered in full. */
size_t reco_http_in_flight(const reco_http *h);

/* Stops accepting connections (a new one is closed as soon as it is
 * accepted; the listening socket stays open until reco_http_stop) and closes
 * the open connections that wait for a request; requests in progress are
 * still answered, with "Connection: close". Idempotent. */
void reco_http_quiesce(reco_http *h);

/* Quiesces, waits up to timeout_ms for the requests in flight to finish,
 * then stops the worker threads and frees the server. Returns how many
 * requests were still in flight when it gave up waiting (0 normally).
 * NULL is a no-op. The service can be closed after this returns. */
size_t reco_http_stop(reco_http *h, unsigned timeout_ms);

/* The one table from library statuses to HTTP statuses: INVALID and PARSE
 * 400, NOT_FOUND 404, TOO_LARGE 413, EMPTY 422, NOMEM 503, IO, FORMAT,
 * NUMERIC, INTERNAL 500, OK 200. */
unsigned reco_http_status_for(reco_status st);

/* Reads the body of POST /v1/ratings: one rating object {"user", "item",
 * "rating", "timestamp"?} or an array of 1..max_batch of them, ratings
 * within lo..hi. Returns 0 with *doc (the parsed JSON: json_decref it once
 * the ratings are used, they borrow its strings) and *out (free it), *n;
 * or the HTTP status to answer (400, 413, 503) with msg saying what to
 * fix. */
unsigned reco_http_parse_ratings(const char *body, size_t len, double lo, double hi,
                                 size_t max_batch, json_t **doc, reco_new_rating **out,
                                 size_t *n, char *msg, size_t cap);

/* The body of POST /v1/feedback: one feedback object or an array of them
 * ({"recommendation_id", "user", "item"?, "type", "timestamp"?}), as
 * reco_http_parse_ratings: 0 with *doc_out (free it after the entries,
 * which borrow its strings) and *out (free), or the status with msg
 * naming the entry and the field. */
unsigned reco_http_parse_feedback(const char *body, size_t len, size_t max_batch,
                                  json_t **doc_out, reco_feedback **out, size_t *n_out, char *msg,
                                  size_t cap);

/* The body of POST /v1/events: one event object or an array of them
 * ({"user", "item", "type", "value"?, "timestamp"?}), as
 * reco_http_parse_feedback. The type and value are judged by the service
 * (the model's event weights). */
unsigned reco_http_parse_events(const char *body, size_t len, size_t max_batch,
                                json_t **doc_out, reco_new_event **out, size_t *n_out, char *msg,
                                size_t cap);

/* The body of PUT (patch false: a full replacement) or PATCH (partial)
 * /v1/items/{id}: {"title"?, "category"?, "available"?, "labels"?} into
 * *out (its item left to the caller); title and category null mean none.
 * 0 with *doc_out (free it after *out, which borrows its strings) and
 * *labels (free it), or the status with msg naming the field. */
unsigned reco_http_parse_item(const char *body, size_t len, bool patch, json_t **doc_out,
                              reco_item_change *out, const char ***labels, char *msg, size_t cap);

/* Percent-decodes src[0..len) into dst (room for len bytes; not
 * NUL-terminated). Returns the decoded length, or -1 when a '%' is not
 * followed by two hex digits. '+' is kept as it is. */
long reco_http_pct_decode(const char *src, size_t len, char *dst);

/* Compares a presented token with the configured one in time that does
 * not depend on where they differ. */
bool reco_http_token_equal(const char *given, size_t given_len, const char *want,
                           size_t want_len);

#endif
