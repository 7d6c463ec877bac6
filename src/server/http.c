/* The REST API over a reco_service: routing, request validation, error
 * mapping, bearer-token auth and Prometheus metrics on libmicrohttpd, and
 * the connection registry that enforces the connection caps and absolute
 * deadlines (a reaper thread cuts overdue connections). It also defines
 * MHD_queue_response, so that the library's own refusals get the JSON
 * error body (see "libmicrohttpd's own error answers" below).
 * See http.h for the contract and docs/api.md for the endpoints. */
#include "http.h"

#include "reco/clock.h"
#include "reco/utf8.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reco/idmap.h"
#include "reco/json.h"
#include "console.h"
#include "numfmt.h"

/* ---- routes and metrics ---- */

enum route {
    R_RECOMMEND, R_USER_RATINGS, R_SIMILAR, R_PREDICT, R_ADD_RATINGS, R_RELOAD,
    R_MODEL, R_HEALTHZ, R_METRICS, R_FEEDBACK, R_EXPERIMENTS, R_ITEM, R_EVENTS, R_USERS,
    R_ITEM_RATINGS, R_CONSOLE, R_REPORT, R_NONE,
    N_ROUTES
};

static const struct route_info {
    const char *label; /* the path template: the "route" label in /metrics */
    bool post;         /* POST (a write) rather than GET/HEAD */
    const char *what;  /* what the path ID names, for messages; NULL: no ID */
} ROUTES[N_ROUTES] = {
    [R_RECOMMEND] = {"/v1/users/{user}/recommendations", false, "user ID"},
    [R_USER_RATINGS] = {"/v1/users/{user}/ratings", false, "user ID"},
    [R_SIMILAR] = {"/v1/items/{item}/similar", false, "item ID"},
    [R_PREDICT] = {"/v1/predict", false, NULL},
    [R_ADD_RATINGS] = {"/v1/ratings", true, NULL},
    [R_RELOAD] = {"/v1/admin/reload", true, NULL},
    [R_MODEL] = {"/v1/model", false, NULL},
    [R_HEALTHZ] = {"/healthz", false, NULL},
    [R_METRICS] = {"/metrics", false, NULL},
    [R_FEEDBACK] = {"/v1/feedback", true, NULL},
    [R_EXPERIMENTS] = {"/v1/experiments", false, NULL},
    /* GET, HEAD, and the writes PUT and PATCH (begin() special-cases it). */
    [R_ITEM] = {"/v1/items/{item}", false, "item ID"},
    [R_EVENTS] = {"/v1/events", true, NULL},
    [R_USERS] = {"/v1/users", false, NULL},
    [R_ITEM_RATINGS] = {"/v1/items/{item}/ratings", false, "item ID"},
    /* The web console's files and the explore report's (--report). */
    [R_CONSOLE] = {"/console", false, NULL},
    [R_REPORT] = {"/report/{path}", false, NULL},
    [R_NONE] = {"unmatched", false, NULL},
};

/* Statuses the server answers with get their own counter; the last slot
 * counts anything else. */
static const unsigned STATUS_SLOTS[] = {200, 201, 304, 400, 401, 403, 404, 405, 408, 413,
                                        414, 415, 421, 422, 431, 500, 501, 503};
#define N_SLOTS (sizeof STATUS_SLOTS / sizeof STATUS_SLOTS[0] + 1)

/* Latency histogram upper bounds in seconds (+Inf is implied). */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0] + 1)

/* Body bytes past the cap that are read and thrown away so that a chunked
 * upload can still get its 413; beyond this the connection is dropped.
 * (libmicrohttpd 0.9.75 cannot answer in the middle of an upload.) */
#define DISCARD_FACTOR 4

#define MAX_QUERY_PARAMS 64

/* A connection over a cap that sends no request is closed after this. */
#define OVER_CAP_GRACE_MS 1000
/* How often the deadlines are checked. */
#define REAPER_TICK_MS 100

/* Where a connection is (conn.phase). Worker threads move it along with
 * compare-and-swap; the reaper thread moves an overdue one to PH_CUT the
 * same way, so exactly one of them acts on it. */
enum {
    PH_NEW,  /* open, its first request line not in yet */
    PH_IDLE, /* kept alive, its next request line not in yet */
    PH_HEAD, /* request line in, headers coming */
    PH_BODY, /* headers in, body coming */
    PH_BUSY, /* request complete: being answered */
    PH_CUT,  /* past its deadline (or quiesced): shut down, closing */
};

/* One open connection (libmicrohttpd's socket context). */
typedef struct conn {
    struct conn *prev, *next;    /* the registry (reg_mu) */
    struct reco_http *h;         /* its server */
    int fd;
    unsigned char key[16];       /* client address: IPv4, or the /64 of IPv6 */
    unsigned char key_len;       /* 0: unknown (not capped per address) */
    bool admitted;               /* counted against the caps; false: over a cap */
    bool over_total;             /* which cap it was over */
    atomic_int phase;
    atomic_uint_fast64_t deadline_ms; /* monotonic; 0: none */
    atomic_uint answered;        /* status written past libmicrohttpd (cut, or refused by it) */
} conn;

/* Admitted connections from one client address. */
typedef struct ip_count {
    struct ip_count *next;
    unsigned char key[16];
    unsigned char key_len;
    unsigned n;
} ip_count;

struct reco_http {
    reco_service *svc;
    reco_http_options opt;
    char *token;
    size_t token_len;
    struct MHD_Daemon *daemon;
    unsigned port;
    int64_t started_at;
    pthread_mutex_t quiesce_mu;
    bool quiesced;
    atomic_bool closing;
    atomic_size_t in_flight;
    atomic_uint_fast64_t requests[N_ROUTES][N_SLOTS];
    atomic_uint_fast64_t hist[N_ROUTES][N_BUCKETS];
    atomic_uint_fast64_t hist_sum_ns[N_ROUTES];
    atomic_uint_fast64_t aborted;

    /* Host check (see reco_http_options.allow_hosts). */
    bool check_host;
    char **hosts;                /* the extra names, lowercase, without ports */
    size_t n_hosts;

    /* The connection registry: caps and deadlines. */
    pthread_mutex_t reg_mu;
    pthread_cond_t reg_cv;
    conn *conns;                 /* every open connection */
    unsigned admitted;           /* connections counted against the caps */
    unsigned over_cap;           /* connections over a cap, still open */
    ip_count **ip_tab;           /* admitted connections per address */
    size_t ip_mask;
    bool reaper_running, reaper_stop;
    pthread_t reaper;
    atomic_uint_fast64_t accepted;      /* connections since start */
    atomic_uint_fast64_t refused[2];    /* over the total cap, over the per-address cap */
    atomic_uint_fast64_t timed_out[3];  /* cut waiting for headers, for a body, idle */
};

/* One request's state, from its headers to its completion callback. */
typedef struct request {
    enum route route;
    uint64_t start_ns;
    unsigned status;             /* of the queued (or pending) response; 0: none yet */
    bool defer;                  /* the request is not in yet: keep the answer in pending */
    struct MHD_Response *pending; /* the answer, queued once the request is complete */
    const char *allow;           /* Allow header for a 405 */
    bool challenge;              /* WWW-Authenticate header for a 401 */
    bool close;                  /* answer with Connection: close */
    char id[RECO_ID_MAX + 1];    /* the decoded path ID */
    char *body;
    size_t len, cap;
    size_t discarded;            /* body bytes past the cap */
    char method[8];
    char path[256];              /* for the request log (escaped) */
    size_t target_len;           /* bytes of the request target (path and query) */
    bool started;                /* the handler has seen this request */
    bool item_write;             /* PUT or PATCH /v1/items/{item} */
    bool patch;                  /* ... PATCH */
    conn *conn;                  /* its connection (NULL: not tracked) */
} request;

static uint64_t ms_now(void)
{
    return reco_clock_ns() / 1000000u;
}

/* Copies client bytes for the log: control characters, bytes outside
 * ASCII and '\' become \xNN, so a log line is one line of plain text that
 * says exactly what came. Truncated (with "...") to fit cap. */
static void log_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = c >= 0x20 && c < 0x7f && c != '\\';
        size_t need = plain ? 1 : 4;
        if (j + need + 4 > cap) {
            memcpy(out + j, "...", 3);
            j += 3;
            break;
        }
        if (plain) {
            out[j++] = (char)c;
        } else {
            out[j++] = '\\';
            out[j++] = 'x';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = '\0';
}

static conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Moves k (expected in phase `from`) to phase `to`, unless the reaper has
 * cut it: false then, and the caller must not answer. */
static bool conn_move(conn *k, int from, int to)
{
    if (!k)
        return true;
    int cur = from;
    while (!atomic_compare_exchange_weak(&k->phase, &cur, to)) {
        if (cur == PH_CUT)
            return false;
    }
    return true;
}

static void conn_set_deadline(conn *k, unsigned ms)
{
    if (k)
        atomic_store(&k->deadline_ms, ms ? ms_now() + ms : 0);
}

static size_t status_slot(unsigned status)
{
    for (size_t k = 0; k + 1 < N_SLOTS; k++)
        if (STATUS_SLOTS[k] == status)
            return k;
    return N_SLOTS - 1;
}

static void record(reco_http *h, enum route r, unsigned status, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->requests[r][status_slot(status)], 1, memory_order_relaxed);
    double s = (double)ns * 1e-9;
    size_t b = 0;
    while (b + 1 < N_BUCKETS && s > BUCKETS[b])
        b++;
    atomic_fetch_add_explicit(&h->hist[r][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->hist_sum_ns[r], ns, memory_order_relaxed);
}

/* ---- the status table ---- */

unsigned reco_http_status_for(reco_status st)
{
    /* The one place library statuses become HTTP statuses. */
    static const struct {
        reco_status st;
        unsigned http;
    } MAP[] = {
        {RECO_OK, 200},
        {RECO_ERR_INVALID, 400},   /* a bad ID, n, rating, field */
        {RECO_ERR_PARSE, 400},     /* malformed input */
        {RECO_ERR_NOT_FOUND, 404}, /* unknown user or product */
        {RECO_ERR_TOO_LARGE, 413}, /* over a size cap */
        {RECO_ERR_EMPTY, 422},     /* well-formed, but nothing to work with */
        {RECO_ERR_NOMEM, 503},     /* the server is short of memory: retry later */
        {RECO_ERR_IO, 500},        /* the ratings log or model file failed */
        {RECO_ERR_FORMAT, 500},    /* a bad model file (on reload) */
        {RECO_ERR_NUMERIC, 500},
        {RECO_ERR_INTERNAL, 500},
        {RECO_ERR_UNAVAILABLE, 503}, /* the store's database is out of reach: retry later */
    };
    for (size_t k = 0; k < sizeof MAP / sizeof MAP[0]; k++)
        if (MAP[k].st == st)
            return MAP[k].http;
    return 500;
}

/* ---- text helpers ---- */

long reco_http_pct_decode(const char *src, size_t len, char *dst)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int a = reco_hex_digit(src[i + 1]), b = reco_hex_digit(src[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (dst)
            dst[j] = c;
        j++;
    }
    return (long)j;
}

bool reco_http_token_equal(const char *given, size_t given_len, const char *want,
                           size_t want_len)
{
    /* Every byte of the wanted token is visited whatever the input, so the
     * time taken says nothing about how much of it matched. */
    volatile unsigned char diff = given_len != want_len;
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

/* Checks a decoded ID; on failure writes what to fix into msg. */
static bool check_id(const char *what, const char *id, size_t len, char *msg, size_t cap)
{
    if (len == 0) {
        snprintf(msg, cap, "the %s is empty", what);
        return false;
    }
    if (len > RECO_ID_MAX) {
        snprintf(msg, cap, "the %s is %zu bytes long; IDs are at most %d bytes", what, len,
                 RECO_ID_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(msg, cap, "the %s contains a control character (byte 0x%02x at offset %zu)",
                     what, c, i);
            return false;
        }
    }
    size_t bad = reco_utf8_invalid_at(id, len);
    if (bad < len) {
        snprintf(msg, cap, "the %s is not valid UTF-8 (byte 0x%02x at offset %zu)", what,
                 (unsigned char)id[bad], bad);
        return false;
    }
    if (!reco_service_valid_id(id, len)) {
        snprintf(msg, cap, "the %s is not a valid ID (1 to %d bytes of UTF-8)", what, RECO_ID_MAX);
        return false;
    }
    return true;
}

/* Copies client text into an error message readably: at most 64 bytes,
 * bytes outside printable ASCII shown as '?'. */
static const char *echo(const char *s, size_t len, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 4 < cap; i++) {
        if (i == 64) {
            memcpy(buf + j, "...", 3);
            j += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        buf[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    buf[j] = '\0';
    return buf;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* ---- queueing answers; libmicrohttpd's own error answers ---- */

/* libmicrohttpd answers some requests itself, before any callback of
 * ours sees them: a request line or headers over its buffer (414, 431),
 * an unreadable Content-Length or chunk (400, 413), a line that is not a
 * header (400), an HTTP version it does not speak (505). It has no option
 * to change those answers, which are HTML pages. Its own calls to
 * MHD_queue_response go through the dynamic linker (the library's PLT has
 * a slot for it), so the definition of MHD_queue_response below, in the
 * program, receives them: an error answer queued by anything but this
 * file (which calls the library's definition directly, through
 * real_queue) becomes the JSON error envelope with the same status. The
 * HTTP tests check that this holds with the library the program runs on. */

typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int,
                                    struct MHD_Response *);
static queue_fn real_queue;
static pthread_once_t real_queue_once = PTHREAD_ONCE_INIT;

static void find_real_queue(void)
{
    void *f = dlsym(RTLD_NEXT, "MHD_queue_response");
    memcpy(&real_queue, &f, sizeof real_queue);
}

static enum MHD_Result queue_response(struct MHD_Connection *c, unsigned status,
                                      struct MHD_Response *r)
{
    pthread_once(&real_queue_once, find_real_queue);
    return real_queue ? real_queue(c, status, r) : MHD_NO;
}

/* What libmicrohttpd's refusal with this status means, for the client. */
static const char *library_refusal(unsigned status)
{
    switch (status) {
    case 400: return "the request is not well-formed HTTP/1.1 (its request line, a header line, "
                     "Content-Length or a chunk size could not be read)";
    case 413: return "the request announces a body (Content-Length or a chunk) larger than the "
                     "server takes";
    case 414: return "the request line is longer than the server takes: keep the path and query "
                     "under 8192 bytes";
    case 431: return "the request headers are larger than the server takes: keep the request line "
                     "and headers under 16384 bytes";
    case 505: return "this HTTP version is not supported: use HTTP/1.1 (or HTTP/1.0)";
    default: return "the server could not read the request";
    }
}

/* Writes a complete error answer (msg: JSON string content) straight to
 * the socket, for a connection libmicrohttpd will not answer: one the
 * reaper has cut (libmicrohttpd writes only once a request is complete,
 * which this one never was), or one the library is closing for a request
 * it could not read. */
static void write_error_now(int fd, unsigned status, const char *reason, const char *msg)
{
    char body[512], all[1024];
    int bl = snprintf(body, sizeof body, "{\"error\":{\"status\":%u,\"message\":\"%s\"}}\n",
                      status, msg);
    int n = snprintf(all, sizeof all,
                     "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\nContent-Length: %d\r\n\r\n%s",
                     status, reason, bl, body);
    if (n > 0 && (size_t)n < sizeof all) {
        ssize_t w = send(fd, all, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w; /* best effort: the connection is being closed either way */
    }
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
                                   struct MHD_Response *r)
{
    pthread_once(&real_queue_once, find_real_queue);
    if (!real_queue)
        return MHD_NO;
    if (status < 400)
        return real_queue(c, status, r);
    /* The answer is written here and the library told it could not be
     * queued, so that it closes the connection (as it would after its own
     * answer): queued, the answer to a bad Content-Length would go out
     * with its status line and headers twice (libmicrohttpd 0.9.75). */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || ci->connect_fd == MHD_INVALID_SOCKET)
        return real_queue(c, status, r);
    conn *k = conn_of(c);
    if (conn_move(k, PH_HEAD, PH_BUSY)) { /* else the reaper has answered */
        const char *reason = MHD_get_reason_phrase_for(status);
        write_error_now(ci->connect_fd, status, reason && *reason ? reason : "Error",
                        library_refusal(status));
        if (k)
            atomic_store(&k->answered, status);
        if (k && k->h)
            record(k->h, R_NONE, status, 0);
    }
    return MHD_NO;
}

/* ---- responses ---- */

static enum MHD_Result deliver(reco_http *h, struct MHD_Connection *c, request *rq,
                               unsigned status, struct MHD_Response *r);

static enum MHD_Result send_body(reco_http *h, struct MHD_Connection *c, request *rq,
                                 unsigned status, char *buf, size_t len, const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (rq->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rq->allow);
    if (rq->challenge)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"reco\"");
    return deliver(h, c, rq, status, r);
}

/* Queues r (kept until the request is complete when it is not in yet). */
static enum MHD_Result deliver(reco_http *h, struct MHD_Connection *c, request *rq,
                               unsigned status, struct MHD_Response *r)
{
    if (rq->close || atomic_load(&h->closing))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (rq->defer) {
        /* Queued on the handler's last call: a response queued before the
         * request is complete makes libmicrohttpd close the connection
         * (no keep-alive, and a pipelined next request is dropped). */
        rq->pending = r;
        rq->status = status;
        return MHD_YES;
    }
    /* Answered before the body is read: from here on the connection is
     * libmicrohttpd's to write, not the reaper's. */
    if (!conn_move(rq->conn, PH_BODY, PH_BUSY)) {
        MHD_destroy_response(r);
        return MHD_NO; /* cut at its deadline: the reaper has answered */
    }
    conn_set_deadline(rq->conn, 0);
    enum MHD_Result ret = queue_response(c, status, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        rq->status = status;
    return ret;
}

/* Sends o (stolen) as the body, with a final newline for terminals. */
static enum MHD_Result send_json(reco_http *h, struct MHD_Connection *c, request *rq,
                                 unsigned status, json_t *o)
{
    const size_t flags = JSON_COMPACT | RECO_JSON_FLAGS;
    /* One pass: json_dumps sizes and writes at once (measuring first with
     * json_dumpb would format every number twice). */
    char *buf = o ? json_dumps(o, flags) : NULL;
    json_decref(o);
    size_t len = buf ? strlen(buf) : 0;
    char *nb = buf ? realloc(buf, len + 2) : NULL;
    if (!nb) {
        free(buf);
        static const char oom[] = "{\"error\":{\"status\":503,\"message\":\"out of memory\"}}\n";
        return send_body(h, c, rq, 503, strdup(oom), sizeof oom - 1, "application/json");
    }
    nb[len] = '\n';
    nb[len + 1] = '\0';
    return send_body(h, c, rq, status, nb, len + 1, "application/json");
}

static enum MHD_Result send_error(reco_http *h, struct MHD_Connection *c, request *rq,
                                  unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result send_error(reco_http *h, struct MHD_Connection *c, request *rq,
                                  unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* A message that quotes client bytes must still be a JSON string. */
    size_t len = strlen(msg);
    bool utf8 = reco_utf8_invalid_at(msg, len) == len;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)msg[i];
        if (b < 0x20 || b == 0x7f || (!utf8 && b >= 0x80))
            msg[i] = '?';
    }
    json_t *o = json_pack("{s:{s:i,s:s}}", "error", "status", (int)status, "message", msg);
    return send_json(h, c, rq, status, o);
}

/* A service call's outcome: its JSON with ok_status, or the mapped error. */
static enum MHD_Result send_result(reco_http *h, struct MHD_Connection *c, request *rq,
                                   reco_status st, json_t *o, const reco_error *err,
                                   unsigned ok_status)
{
    if (st == RECO_OK && o)
        return send_json(h, c, rq, ok_status, o);
    json_decref(o);
    if (st == RECO_OK)
        st = RECO_ERR_NOMEM;
    return send_error(h, c, rq, reco_http_status_for(st), "%s",
                      err->msg[0] ? err->msg : reco_status_str(st));
}

/* ---- routing ---- */

#define MAX_SEGMENTS 5

/* Matches the raw (still percent-encoded) path; *id and *id_len receive the
 * raw ID segment of the routes that have one. */
static enum route match_api_route(const char *url, const char **id, size_t *id_len)
{
    const char *seg[MAX_SEGMENTS];
    size_t len[MAX_SEGMENTS], ns = 0;
    if (url[0] != '/')
        return R_NONE;
    const char *p = url + 1;
    for (;;) {
        const char *e = strchr(p, '/');
        if (ns == MAX_SEGMENTS)
            return R_NONE;
        seg[ns] = p;
        len[ns++] = e ? (size_t)(e - p) : strlen(p);
        if (!e)
            break;
        p = e + 1;
    }
#define IS(k, s) (len[k] == sizeof(s) - 1 && !memcmp(seg[k], s, sizeof(s) - 1))
    *id = NULL;
    *id_len = 0;
    if (ns == 1 && IS(0, "healthz"))
        return R_HEALTHZ;
    if (ns == 1 && IS(0, "metrics"))
        return R_METRICS;
    if (ns < 2 || !IS(0, "v1"))
        return R_NONE;
    if (ns == 2 && IS(1, "model"))
        return R_MODEL;
    if (ns == 2 && IS(1, "predict"))
        return R_PREDICT;
    if (ns == 2 && IS(1, "ratings"))
        return R_ADD_RATINGS;
    if (ns == 2 && IS(1, "feedback"))
        return R_FEEDBACK;
    if (ns == 2 && IS(1, "experiments"))
        return R_EXPERIMENTS;
    if (ns == 2 && IS(1, "events"))
        return R_EVENTS;
    if (ns == 2 && IS(1, "users"))
        return R_USERS;
    if (ns == 3 && IS(1, "items")) {
        *id = seg[2];
        *id_len = len[2];
        return R_ITEM;
    }
    if (ns == 3 && IS(1, "admin") && IS(2, "reload"))
        return R_RELOAD;
    if (ns == 4) {
        *id = seg[2];
        *id_len = len[2];
        if (IS(1, "users") && IS(3, "recommendations"))
            return R_RECOMMEND;
        if (IS(1, "users") && IS(3, "ratings"))
            return R_USER_RATINGS;
        if (IS(1, "items") && IS(3, "similar"))
            return R_SIMILAR;
        if (IS(1, "items") && IS(3, "ratings"))
            return R_ITEM_RATINGS;
    }
#undef IS
    return R_NONE;
}

/* The API's routes first, so that an API request pays nothing for the
 * console: "/" and "/console/NAME" (the console's files), "/report" and
 * "/report/PATH" (the explore report's); *id is then the raw name. */
static enum route match_route(const char *url, const char **id, size_t *id_len)
{
    enum route r = match_api_route(url, id, id_len);
    if (r != R_NONE)
        return r;
    if (!strcmp(url, "/")) {
        *id = "index.html";
        *id_len = 10;
        return R_CONSOLE;
    }
    if (!strncmp(url, "/console/", 9)) {
        *id = url + 9;
        *id_len = strlen(*id);
        return R_CONSOLE;
    }
    if (!strcmp(url, "/report") || !strcmp(url, "/report/")) {
        *id = "index.html";
        *id_len = 10;
        return R_REPORT;
    }
    if (!strncmp(url, "/report/", 8)) {
        *id = url + 8;
        *id_len = strlen(*id);
        return R_REPORT;
    }
    return R_NONE;
}

/* Decodes and checks a raw ID into out (RECO_ID_MAX + 1 bytes,
 * NUL-terminated). */
static bool decode_id(const char *what, const char *raw, size_t raw_len, char *out, char *msg,
                      size_t cap)
{
    long n = reco_http_pct_decode(raw, raw_len, NULL);
    if (n < 0) {
        snprintf(msg, cap,
                 "the %s has a bad percent-escape: '%%' must be followed by two hex digits "
                 "(write a literal '%%' as %%25)", what);
        return false;
    }
    if ((size_t)n > RECO_ID_MAX) {
        snprintf(msg, cap, "the %s is %ld bytes long; IDs are at most %d bytes", what, n,
                 RECO_ID_MAX);
        return false;
    }
    reco_http_pct_decode(raw, raw_len, out);
    out[n] = '\0';
    return check_id(what, out, (size_t)n, msg, cap);
}

/* ---- query strings ---- */

typedef struct query {
    const char *key[MAX_QUERY_PARAMS];
    const char *val[MAX_QUERY_PARAMS]; /* raw: '+' already a space, %XX kept */
    size_t n;
    bool overflow;
} query;

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    query *q = cls;
    if (q->n == MAX_QUERY_PARAMS) {
        q->overflow = true;
        return MHD_NO;
    }
    q->key[q->n] = key;
    q->val[q->n++] = value;
    return MHD_YES;
}

/* Reads the query; every key must be in allowed (a NULL-terminated list)
 * and appear once, unless it is in repeatable (NULL-terminated, or NULL).
 * On failure writes what to fix into msg. */
static bool read_query_rep(struct MHD_Connection *c, const char *const *allowed,
                           const char *const *repeatable, query *q, char *msg, size_t cap);

static bool read_query(struct MHD_Connection *c, const char *const *allowed, query *q,
                       char *msg, size_t cap)
{
    return read_query_rep(c, allowed, NULL, q, msg, cap);
}

static bool read_query_rep(struct MHD_Connection *c, const char *const *allowed,
                           const char *const *repeatable, query *q, char *msg, size_t cap)
{
    memset(q, 0, sizeof *q);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, q);
    char names[256] = "";
    for (size_t k = 0; allowed[k]; k++) {
        strcat(names, k ? ", " : "");
        strcat(names, allowed[k]);
    }
    if (q->overflow) {
        snprintf(msg, cap, "too many query parameters (this endpoint takes %s)",
                 allowed[0] ? names : "none");
        return false;
    }
    for (size_t i = 0; i < q->n; i++) {
        bool ok = false;
        for (size_t k = 0; allowed[k] && !ok; k++)
            ok = !strcmp(q->key[i], allowed[k]);
        char e[80];
        if (!ok) {
            snprintf(msg, cap, "unknown query parameter \"%s\" (this endpoint takes %s)",
                     echo(q->key[i], strlen(q->key[i]), e, sizeof e),
                     allowed[0] ? names : "none");
            return false;
        }
        bool rep = false;
        for (size_t k = 0; repeatable && repeatable[k] && !rep; k++)
            rep = !strcmp(q->key[i], repeatable[k]);
        for (size_t j = 0; j < i && !rep; j++)
            if (!strcmp(q->key[i], q->key[j])) {
                snprintf(msg, cap, "query parameter \"%s\" is given more than once", q->key[i]);
                return false;
            }
    }
    return true;
}

/* The raw value of key, "" for a key without '=', NULL if absent. */
static const char *query_get(const query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->key[i], key))
            return q->val[i] ? q->val[i] : "";
    return NULL;
}

/* n: a decimal integer from 1 to max. */
static bool parse_n(const char *raw, size_t max, size_t *out, char *msg, size_t cap)
{
    char dec[32], e[80];
    size_t rl = strlen(raw);
    long len = rl < sizeof dec ? reco_http_pct_decode(raw, rl, dec) : -1;
    bool digits = len > 0;
    for (long i = 0; digits && i < len; i++)
        digits = dec[i] >= '0' && dec[i] <= '9';
    if (!digits) {
        snprintf(msg, cap, "n must be a whole number from 1 to %zu, got \"%s\"", max,
                 echo(raw, rl, e, sizeof e));
        return false;
    }
    uint64_t v = 0;
    for (long i = 0; i < len && v <= max; i++) /* stops before it could overflow */
        v = v * 10 + (uint64_t)(dec[i] - '0');
    if (v < 1 || v > max) {
        snprintf(msg, cap, "n must be from 1 to %zu, got %s", max, echo(raw, rl, e, sizeof e));
        return false;
    }
    *out = (size_t)v;
    return true;
}

static bool parse_bool(const char *name, const char *raw, bool *out, char *msg, size_t cap)
{
    char dec[8], e[80];
    size_t rl = strlen(raw);
    long len = rl < sizeof dec ? reco_http_pct_decode(raw, rl, dec) : -1;
    if (len == 4 && !memcmp(dec, "true", 4)) {
        *out = true;
        return true;
    }
    if (len == 5 && !memcmp(dec, "false", 5)) {
        *out = false;
        return true;
    }
    snprintf(msg, cap, "%s must be true or false, got \"%s\"", name, echo(raw, rl, e, sizeof e));
    return false;
}

/* An ID given in the query (predict). */
static bool query_id(const query *q, const char *key, const char *what, char *out, char *msg,
                     size_t cap)
{
    const char *raw = query_get(q, key);
    if (!raw) {
        snprintf(msg, cap, "query parameter \"%s\" is required", key);
        return false;
    }
    return decode_id(what, raw, strlen(raw), out, msg, cap);
}

/* ---- handlers ---- */

/* The rules of a recommendation request, decoded: every value of the
 * query's rule parameters in one buffer of NUL-terminated strings. */
typedef struct query_rules {
    reco_service_rules r;
    const char **ids;  /* exclude then include, then categories */
    char *buf;
    bool any;          /* some rule parameter was given */
} query_rules;

static void query_rules_free(query_rules *qr)
{
    free(qr->ids);
    free(qr->buf);
}

/* Decodes one raw piece (percent-escapes, '+' already a space) into *p;
 * false with msg if it is malformed. */
static bool decode_piece(const char *param, const char *raw, size_t len, char **p, char *msg,
                         size_t cap)
{
    long dl = reco_http_pct_decode(raw, len, NULL);
    if (dl < 0) {
        snprintf(msg, cap, "%s has a bad percent-escape: '%%' must be followed by two hex digits "
                 "(write a literal '%%' as %%25)", param);
        return false;
    }
    reco_http_pct_decode(raw, len, *p);
    if (memchr(*p, '\0', (size_t)dl)) {
        snprintf(msg, cap, "%s holds a NUL byte", param);
        return false;
    }
    (*p)[dl] = '\0';
    *p += dl + 1;
    return true;
}

/* Reads category=, exclude=, include=, include_unavailable= and
 * max_per_category= into qr. exclude and include are lists of product
 * IDs, comma-separated and repeatable; a comma inside an ID is sent
 * percent-encoded (%2C), since pieces are split at the raw commas before
 * decoding. category is repeatable and never split (paths may hold
 * commas). false with msg naming the parameter (a 400). */
static bool read_rules(const query *q, query_rules *qr, char *msg, size_t cap)
{
    memset(qr, 0, sizeof *qr);
    size_t bytes = 1, count = 1;
    for (size_t i = 0; i < q->n; i++) {
        const char *v = q->val[i] ? q->val[i] : "";
        bytes += strlen(v) + 1;
        count++;
        for (const char *c = v; *c; c++)
            count += *c == ',';
    }
    qr->ids = malloc(count * 3 * sizeof *qr->ids);
    qr->buf = malloc(bytes);
    if (!qr->ids || !qr->buf) {
        snprintf(msg, cap, "out of memory");
        return false;
    }
    char *p = qr->buf;
    size_t nids = 0;
    /* exclude, then include, then category: three passes in that order. */
    static const char *const lists[] = {"exclude", "include", "category"};
    for (int pass = 0; pass < 3; pass++) {
        size_t first = nids;
        bool given = false;
        for (size_t i = 0; i < q->n; i++) {
            if (strcmp(q->key[i], lists[pass]))
                continue;
            given = true;
            const char *v = q->val[i] ? q->val[i] : "";
            size_t vl = strlen(v);
            if (pass == 2) {
                if (!vl) {
                    snprintf(msg, cap, "category must be a path such as Electronics/Audio, got "
                                       "an empty value");
                    return false;
                }
                qr->ids[nids++] = p;
                if (!decode_piece("category", v, vl, &p, msg, cap))
                    return false;
                continue;
            }
            for (const char *piece = v;;) {
                const char *comma = memchr(piece, ',', vl - (size_t)(piece - v));
                size_t pl = comma ? (size_t)(comma - piece) : vl - (size_t)(piece - v);
                if (pl) { /* empty pieces ("a,,b", a trailing comma) are skipped */
                    qr->ids[nids++] = p;
                    if (!decode_piece(lists[pass], piece, pl, &p, msg, cap))
                        return false;
                    if (!reco_service_valid_id(qr->ids[nids - 1], strlen(qr->ids[nids - 1]))) {
                        snprintf(msg, cap, "%s: product IDs must be 1 to 255 bytes of UTF-8 "
                                 "without control characters", lists[pass]);
                        return false;
                    }
                }
                if (!comma)
                    break;
                piece = comma + 1;
            }
        }
        qr->any |= given;
        if (pass == 0) {
            qr->r.exclude = qr->ids + first;
            qr->r.n_exclude = nids - first;
        } else if (pass == 1) {
            qr->r.include = qr->ids + first;
            qr->r.n_include = nids - first;
            qr->r.has_include = given;
        } else {
            qr->r.categories = qr->ids + first;
            qr->r.n_categories = nids - first;
        }
    }
    const char *v = query_get(q, "include_unavailable");
    if (v) {
        qr->any = true;
        if (!parse_bool("include_unavailable", v, &qr->r.include_unavailable, msg, cap))
            return false;
    }
    v = query_get(q, "max_per_category");
    if (v) {
        qr->any = true;
        size_t cap_n = 0;
        if (!parse_n(v, 1000, &cap_n, msg, cap)) {
            char e[80];
            snprintf(msg, cap, "max_per_category must be a whole number from 1 to 1000, got "
                     "\"%s\"", echo(v, strlen(v), e, sizeof e));
            return false;
        }
        qr->r.max_per_category = (uint32_t)cap_n;
    }
    return true;
}

static enum MHD_Result h_users(reco_http *h, struct MHD_Connection *c, request *rq);
static enum MHD_Result h_item_ratings(reco_http *h, struct MHD_Connection *c, request *rq);
static enum MHD_Result h_console(reco_http *h, struct MHD_Connection *c, request *rq);
static enum MHD_Result h_report(reco_http *h, struct MHD_Connection *c, request *rq);
static bool variant_param(const char *raw, char *out, char *msg, size_t cap);

static enum MHD_Result h_recommend(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {"n", "exclude_rated", "category", "exclude", "include",
                                          "include_unavailable", "max_per_category", "variant",
                                          NULL};
    static const char *const repeatable[] = {"category", "exclude", "include", NULL};
    char msg[512];
    query q;
    size_t n = 10;
    bool exclude = true;
    const char *v;
    query_rules qr = {0};
    if (!read_query_rep(c, allowed, repeatable, &q, msg, sizeof msg) ||
        ((v = query_get(&q, "n")) && !parse_n(v, h->opt.max_n, &n, msg, sizeof msg)) ||
        ((v = query_get(&q, "exclude_rated")) &&
         !parse_bool("exclude_rated", v, &exclude, msg, sizeof msg)) ||
        !read_rules(&q, &qr, msg, sizeof msg)) {
        query_rules_free(&qr);
        return send_error(h, c, rq, 400, "%s", msg);
    }
    json_t *o = NULL;
    reco_error err = {0};
    /* variant: that variant's list, outside the experiment (the console
     * compares them side by side). */
    char variant[RECO_VARIANT_NAME_MAX + 1];
    const char *vn = query_get(&q, "variant");
    if (vn && !variant_param(vn, variant, msg, sizeof msg)) {
        query_rules_free(&qr);
        return send_error(h, c, rq, 400, "%s", msg);
    }
    reco_status st = reco_service_recommend_variant(h->svc, vn ? variant : NULL, rq->id, n,
                                                    exclude, qr.any ? &qr.r : NULL, &o, &err);
    query_rules_free(&qr);
    return send_result(h, c, rq, st, o, &err, 200);
}

static enum MHD_Result h_similar(reco_http *h, struct MHD_Connection *c, request *rq)
{
    /* The rules of recommendations but the cap (a 400 "unknown
     * parameter"). */
    static const char *const allowed[] = {"n", "user", "category", "exclude", "include",
                                          "include_unavailable", NULL};
    static const char *const repeatable[] = {"category", "exclude", "include", NULL};
    char msg[512], user[RECO_ID_MAX + 1];
    query q;
    size_t n = 10;
    const char *v;
    query_rules qr = {0};
    if (!read_query_rep(c, allowed, repeatable, &q, msg, sizeof msg) ||
        ((v = query_get(&q, "n")) && !parse_n(v, h->opt.max_n, &n, msg, sizeof msg)) ||
        (query_get(&q, "user") && !query_id(&q, "user", "user ID", user, msg, sizeof msg)) ||
        !read_rules(&q, &qr, msg, sizeof msg)) {
        query_rules_free(&qr);
        return send_error(h, c, rq, 400, "%s", msg);
    }
    json_t *o = NULL;
    reco_error err = {0};
    /* user: the list comes from that user's variant of the experiment. */
    reco_status st = reco_service_similar_rules(h->svc, rq->id, query_get(&q, "user") ? user : NULL,
                                                n, qr.any ? &qr.r : NULL, &o, &err);
    query_rules_free(&qr);
    return send_result(h, c, rq, st, o, &err, 200);
}

static enum MHD_Result h_user_ratings(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {NULL};
    char msg[512];
    query q;
    if (!read_query(c, allowed, &q, msg, sizeof msg))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_user_ratings(h->svc, rq->id, &o, &err);
    return send_result(h, c, rq, st, o, &err, 200);
}

static enum MHD_Result h_predict(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {"user", "item", NULL};
    char msg[512], user[RECO_ID_MAX + 1], item[RECO_ID_MAX + 1];
    query q;
    if (!read_query(c, allowed, &q, msg, sizeof msg) ||
        !query_id(&q, "user", "user ID", user, msg, sizeof msg) ||
        !query_id(&q, "item", "item ID", item, msg, sizeof msg))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_predict(h->svc, user, item, &o, &err);
    return send_result(h, c, rq, st, o, &err, 200);
}

static enum MHD_Result h_model(reco_http *h, struct MHD_Connection *c, request *rq)
{
    json_t *o = reco_service_model_info(h->svc);
    if (!o)
        return send_error(h, c, rq, 503, "out of memory");
    return send_json(h, c, rq, 200, o);
}

static enum MHD_Result h_healthz(reco_http *h, struct MHD_Connection *c, request *rq)
{
    /* 503 while writes fail (the log cannot be written, the live ratings
     * are at their cap); reads are still answered. */
    bool healthy = true;
    json_t *o = reco_service_health(h->svc, &healthy);
    if (!o)
        return send_error(h, c, rq, 503, "out of memory");
    return send_json(h, c, rq, healthy ? 200 : 503, o);
}

/* ---- request bodies ---- */

/* What a batch body holds, for its messages: "send A SHAPE or an array of
 * them", "the body must be OBJECT or an array of them", "send at least one
 * ONE", "N MANY in one request". */
typedef struct batch_words {
    const char *a, *shape, *object, *one, *many;
    const char *array; /* entries are named ARRAY[k] in messages */
} batch_words;

/* Reads one entry (named where in messages) into entry; false with msg. */
typedef bool (*entry_reader)(const json_t *e, const char *where, void *entry, const void *ctx,
                             char *msg, size_t cap);

/* Parses a JSON body (any value) into *doc; 0, or the status to answer
 * with msg saying what to send (the body empty: "send WHAT"). */
static unsigned load_json_body(const char *body, size_t len, const char *what, json_t **doc,
                               char *msg, size_t cap)
{
    *doc = NULL;
    if (len == 0) {
        snprintf(msg, cap, "the body is empty: send %s", what);
        return 400;
    }
    json_error_t je;
    *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!*doc) {
        snprintf(msg, cap, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        return 400;
    }
    return 0;
}

/* A body of one entry or an array of 1..max_batch of them: *doc (owned by
 * the caller on success), *n entries, *array whether it was an array. */
static unsigned load_batch(const char *body, size_t len, size_t max_batch, const batch_words *w,
                           json_t **doc, size_t *n, bool *array, char *msg, size_t cap)
{
    char what[256];
    snprintf(what, sizeof what, "%s %s or an array of them", w->a, w->shape);
    unsigned st = load_json_body(body, len, what, doc, msg, cap);
    if (st)
        return st;
    *array = json_is_array(*doc);
    *n = *array ? json_array_size(*doc) : 1;
    if (!*array && !json_is_object(*doc)) {
        snprintf(msg, cap, "the body must be %s or an array of them, not %s", w->object,
                 json_type_name(*doc));
        st = 400;
    } else if (*n == 0) {
        snprintf(msg, cap, "the array is empty: send at least one %s", w->one);
        st = 400;
    } else if (*n > max_batch) {
        snprintf(msg, cap, "%zu %s in one request; the limit is %zu: split the batch", *n,
                 w->many, max_batch);
        st = 413;
    }
    if (st) {
        json_decref(*doc);
        *doc = NULL;
    }
    return st;
}

/* load_batch, then each entry read by read into an array of n entries
 * of size bytes (*entries, the caller frees it; their strings borrow
 * *doc, which the caller frees after them). */
static unsigned parse_batch(const char *body, size_t len, size_t max_batch, const batch_words *w,
                            size_t size, entry_reader read, const void *ctx, json_t **doc_out,
                            void **entries, size_t *n_out, char *msg, size_t cap)
{
    *doc_out = NULL;
    *entries = NULL;
    *n_out = 0;
    json_t *doc;
    size_t n;
    bool array;
    unsigned st = load_batch(body, len, max_batch, w, &doc, &n, &array, msg, cap);
    if (st)
        return st;
    char *v = calloc(n, size);
    if (!v) {
        json_decref(doc);
        snprintf(msg, cap, "out of memory");
        return 503;
    }
    for (size_t k = 0; k < n; k++) {
        char where[48];
        if (array)
            snprintf(where, sizeof where, "%s[%zu]", w->array, k);
        else
            snprintf(where, sizeof where, "body");
        if (!read(array ? json_array_get(doc, k) : doc, where, v + k * size, ctx, msg, cap)) {
            free(v);
            json_decref(doc);
            return 400;
        }
    }
    *doc_out = doc;
    *entries = v;
    *n_out = n;
    return 0;
}

/* The optional "timestamp" of an entry into *out (left as it is when
 * absent or null); false with msg when it is not whole seconds >= 0. */
static bool read_timestamp(const json_t *e, const char *where, int64_t *out, char *msg,
                           size_t cap)
{
    json_t *v = json_object_get(e, "timestamp");
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(msg, cap,
                 "%s: \"timestamp\" must be a whole number of seconds since 1970 (>= 0), not %s",
                 where, json_is_integer(v) ? "a negative number"
                        : json_is_real(v)  ? "a fraction"
                                           : json_type_name(v));
        return false;
    }
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* One rating object of the body into r; on failure writes what to fix. */
static bool read_rating(const json_t *e, const char *where, double lo, double hi,
                        reco_new_rating *r, char *msg, size_t cap)
{
    if (!json_is_object(e)) {
        snprintf(msg, cap,
                 "%s must be an object {\"user\", \"item\", \"rating\", \"timestamp\"?}, not %s",
                 where, json_type_name(e));
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v)
    {
        if (strcmp(key, "user") && strcmp(key, "item") && strcmp(key, "rating") &&
            strcmp(key, "timestamp")) {
            char k[80];
            snprintf(msg, cap,
                     "%s: unknown field \"%s\" (the fields are user, item, rating, timestamp)",
                     where, echo(key, strlen(key), k, sizeof k));
            return false;
        }
    }
    static const char *const idf[2] = {"user", "item"};
    for (int k = 0; k < 2; k++) {
        v = json_object_get(e, idf[k]);
        if (!v) {
            snprintf(msg, cap, "%s: the field \"%s\" is missing", where, idf[k]);
            return false;
        }
        if (!json_is_string(v)) {
            snprintf(msg, cap, "%s: \"%s\" must be a string, not %s", where, idf[k],
                     json_type_name(v));
            return false;
        }
        char what[64], sub[400];
        snprintf(what, sizeof what, "%s ID", idf[k]);
        if (!check_id(what, json_string_value(v), json_string_length(v), sub, sizeof sub)) {
            snprintf(msg, cap, "%s: %s", where, sub);
            return false;
        }
        if (k == 0) {
            r->user = json_string_value(v);
            r->user_len = json_string_length(v);
        } else {
            r->item = json_string_value(v);
            r->item_len = json_string_length(v);
        }
    }
    v = json_object_get(e, "rating");
    if (!v) {
        snprintf(msg, cap, "%s: the field \"rating\" is missing", where);
        return false;
    }
    if (!json_is_number(v)) {
        snprintf(msg, cap, "%s: \"rating\" must be a number, not %s", where, json_type_name(v));
        return false;
    }
    r->rating = json_number_value(v);
    if (!(r->rating >= lo && r->rating <= hi)) {
        snprintf(msg, cap, "%s: \"rating\" is %g, outside the model's range %g to %g", where,
                 r->rating, lo, hi);
        return false;
    }
    r->timestamp = 0;
    if (!read_timestamp(e, where, &r->timestamp, msg, cap))
        return false;
    return true;
}

static bool rating_entry(const json_t *e, const char *where, void *entry, const void *ctx,
                         char *msg, size_t cap)
{
    const double *range = ctx;
    return read_rating(e, where, range[0], range[1], entry, msg, cap);
}

unsigned reco_http_parse_ratings(const char *body, size_t len, double lo, double hi,
                                 size_t max_batch, json_t **doc_out, reco_new_rating **out,
                                 size_t *n_out, char *msg, size_t cap)
{
    static const batch_words w = {
        "a rating",
        "{\"user\", \"item\", \"rating\", \"timestamp\"?}",
        "a rating object",
        "rating",
        "ratings",
        "ratings",
    };
    const double range[2] = {lo, hi};
    void *v = NULL;
    unsigned st = parse_batch(body, len, max_batch, &w, sizeof(reco_new_rating), rating_entry,
                              range, doc_out, &v, n_out, msg, cap);
    *out = v;
    return st;
}

static enum MHD_Result h_add_ratings(reco_http *h, struct MHD_Connection *c, request *rq)
{
    /* The range is checked here as well as in the service so the message
     * can name the entry the client wrote. */
    double lo = -1e300, hi = 1e300;
    json_t *info = reco_service_model_info(h->svc);
    if (info) {
        json_t *a = json_object_get(info, "rating_min"), *b = json_object_get(info, "rating_max");
        if (json_is_number(a) && json_is_number(b)) {
            lo = json_number_value(a);
            hi = json_number_value(b);
        }
        json_decref(info);
    }
    char msg[768];
    json_t *doc = NULL;
    reco_new_rating *r = NULL;
    size_t n = 0;
    unsigned status = reco_http_parse_ratings(rq->body, rq->len, lo, hi, h->opt.max_batch, &doc,
                                              &r, &n, msg, sizeof msg);
    if (status)
        return send_error(h, c, rq, status, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_add_ratings(h->svc, r, n, &o, &err);
    free(r);
    json_decref(doc); /* after the call: r borrowed its strings */
    return send_result(h, c, rq, st, o, &err, 201);
}

static enum MHD_Result h_reload(reco_http *h, struct MHD_Connection *c, request *rq)
{
    reco_error err = {0};
    reco_status st = reco_service_reload(h->svc, &err);
    if (st)
        /* Never the client's fault: the file on the server is bad. */
        return send_error(h, c, rq, 500, "reload failed, still serving the previous model: %s",
                          err.msg[0] ? err.msg : reco_status_str(st));
    json_t *info = reco_service_model_info(h->svc);
    return send_json(h, c, rq, 200,
                     json_pack("{s:b,s:o*}", "reloaded", 1, "model", info));
}

/* ---- feedback and experiments ---- */

/* An optional string field of a feedback entry; false with msg if it is
 * there and not a string. */
static bool feedback_string(const json_t *e, const char *where, const char *key, bool required,
                            const char **out, size_t *len, char *msg, size_t cap)
{
    const json_t *v = json_object_get(e, key);
    *out = NULL;
    *len = 0;
    if (!v || (!required && json_is_null(v))) {
        if (required)
            snprintf(msg, cap, "%s: the field \"%s\" is missing", where, key);
        return !required;
    }
    if (!json_is_string(v)) {
        snprintf(msg, cap, "%s: \"%s\" must be a string, not %s", where, key, json_type_name(v));
        return false;
    }
    *out = json_string_value(v);
    *len = json_string_length(v);
    return true;
}

static bool read_feedback(const json_t *e, const char *where, reco_feedback *f, char *msg,
                          size_t cap)
{
    if (!json_is_object(e)) {
        snprintf(msg, cap,
                 "%s must be an object {\"recommendation_id\", \"user\", \"item\"?, \"type\", "
                 "\"timestamp\"?}, not %s", where, json_type_name(e));
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v)
    {
        if (strcmp(key, "recommendation_id") && strcmp(key, "user") && strcmp(key, "item") &&
            strcmp(key, "type") && strcmp(key, "timestamp")) {
            char k[80];
            snprintf(msg, cap,
                     "%s: unknown field \"%s\" (the fields are recommendation_id, user, item, "
                     "type, timestamp)", where, echo(key, strlen(key), k, sizeof k));
            return false;
        }
    }
    memset(f, 0, sizeof *f);
    char sub[400], e1[80];
    size_t tl;
    if (!feedback_string(e, where, "recommendation_id", true, &f->recommendation_id,
                         &f->recommendation_id_len, msg, cap))
        return false;
    if (!reco_recommendation_id_valid(f->recommendation_id, f->recommendation_id_len)) {
        snprintf(msg, cap,
                 "%s: \"recommendation_id\" \"%s\" is not one this server hands out (8 hex "
                 "digits, '-', 1 to 16 hex digits, as in the lists it serves)", where,
                 echo(f->recommendation_id, f->recommendation_id_len, e1, sizeof e1));
        return false;
    }
    if (!feedback_string(e, where, "user", true, &f->user, &f->user_len, msg, cap))
        return false;
    if (!check_id("user ID", f->user, f->user_len, sub, sizeof sub)) {
        snprintf(msg, cap, "%s: %s", where, sub);
        return false;
    }
    if (!feedback_string(e, where, "item", false, &f->item, &f->item_len, msg, cap))
        return false;
    if (f->item && !check_id("item ID", f->item, f->item_len, sub, sizeof sub)) {
        snprintf(msg, cap, "%s: %s", where, sub);
        return false;
    }
    if (!feedback_string(e, where, "type", true, &f->type, &tl, msg, cap))
        return false;
    if (strcmp(f->type, "impression") && strcmp(f->type, "click") && strcmp(f->type, "purchase")) {
        snprintf(msg, cap,
                 "%s: \"type\" is \"%s\"; it must be \"impression\", \"click\" or \"purchase\"",
                 where, echo(f->type, tl, e1, sizeof e1));
        return false;
    }
    if (!read_timestamp(e, where, &f->timestamp, msg, cap))
        return false;
    return true;
}

static bool feedback_entry(const json_t *e, const char *where, void *entry, const void *ctx,
                           char *msg, size_t cap)
{
    (void)ctx;
    return read_feedback(e, where, entry, msg, cap);
}

unsigned reco_http_parse_feedback(const char *body, size_t len, size_t max_batch,
                                  json_t **doc_out, reco_feedback **out, size_t *n_out, char *msg,
                                  size_t cap)
{
    static const batch_words w = {
        "feedback",
        "{\"recommendation_id\", \"user\", \"item\"?, \"type\", \"timestamp\"?}",
        "a feedback object",
        "feedback entry",
        "feedback entries",
        "feedback",
    };
    void *v = NULL;
    unsigned st = parse_batch(body, len, max_batch, &w, sizeof(reco_feedback), feedback_entry, NULL,
                              doc_out, &v, n_out, msg, cap);
    *out = v;
    return st;
}

static enum MHD_Result h_feedback(reco_http *h, struct MHD_Connection *c, request *rq)
{
    char msg[768];
    json_t *doc = NULL;
    reco_feedback *f = NULL;
    size_t n = 0;
    unsigned status = reco_http_parse_feedback(rq->body, rq->len, h->opt.max_batch, &doc, &f, &n,
                                               msg, sizeof msg);
    if (status)
        return send_error(h, c, rq, status, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_add_feedback(h->svc, f, n, &o, &err);
    free(f);
    json_decref(doc); /* after the call: f borrowed its strings */
    return send_result(h, c, rq, st, o, &err, 201);
}

static enum MHD_Result h_experiments(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {NULL};
    char msg[512];
    query q;
    if (!read_query(c, allowed, &q, msg, sizeof msg))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = reco_service_experiments(h->svc);
    if (!o)
        return send_error(h, c, rq, 503, "out of memory");
    return send_json(h, c, rq, 200, o);
}

/* ---- the catalogue and events ---- */

static enum MHD_Result h_item(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {NULL};
    char msg[512];
    query q;
    if (!read_query(c, allowed, &q, msg, sizeof msg))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_item(h->svc, rq->id, &o, &err);
    return send_result(h, c, rq, st, o, &err, 200);
}

unsigned reco_http_parse_item(const char *body, size_t len, bool patch, json_t **doc_out,
                              reco_item_change *out, const char ***labels, char *msg, size_t cap)
{
    *doc_out = NULL;
    *labels = NULL;
    memset(out, 0, sizeof *out);
    out->available = -1;
    out->replace = !patch;
    static const char shape[] = "{\"title\"?, \"category\"?, \"available\"?, \"labels\"?}";
    char what[96];
    snprintf(what, sizeof what, "the product %s", shape);
    json_t *doc;
    unsigned st = load_json_body(body, len, what, &doc, msg, cap);
    if (st)
        return st;
    if (!json_is_object(doc)) {
        snprintf(msg, cap, "the body must be an object %s, not %s", shape, json_type_name(doc));
        json_decref(doc);
        return 400;
    }
    const char *key;
    json_t *v;
    char k[80];
    json_object_foreach(doc, key, v) {
        const char *bad = NULL;
        if (!strcmp(key, "title") || !strcmp(key, "category")) {
            if (!json_is_string(v) && !json_is_null(v))
                bad = "must be a string (or null: none)";
            else if (!strcmp(key, "title"))
                out->title = json_is_null(v) ? "" : json_string_value(v);
            else
                out->category = json_is_null(v) ? "" : json_string_value(v);
        } else if (!strcmp(key, "available")) {
            if (!json_is_boolean(v))
                bad = "must be true or false";
            else
                out->available = json_is_true(v);
        } else if (!strcmp(key, "labels")) {
            const char *lk;
            json_t *lv;
            if (!json_is_object(v))
                bad = "must be an object of strings";
            json_object_foreach(v, lk, lv) if (!bad && !json_is_string(lv)) bad =
                "must be an object of strings";
            if (!bad) {
                size_t nl = json_object_size(v), j = 0;
                *labels = malloc((2 * nl + 1) * sizeof **labels);
                if (!*labels) {
                    json_decref(doc);
                    snprintf(msg, cap, "out of memory");
                    return 503;
                }
                json_object_foreach(v, lk, lv) {
                    (*labels)[j] = lk;
                    (*labels)[nl + j++] = json_string_value(lv);
                }
                out->set_labels = true;
                out->label_keys = *labels;
                out->label_values = *labels + nl;
                out->n_labels = nl;
            }
        } else {
            snprintf(msg, cap,
                     "unknown field \"%s\" (the fields are title, category, available, labels)",
                     echo(key, strlen(key), k, sizeof k));
            free(*labels);
            *labels = NULL;
            json_decref(doc);
            return 400;
        }
        if (bad) {
            snprintf(msg, cap, "\"%s\" %s, not %s", key, bad, json_type_name(v));
            free(*labels);
            *labels = NULL;
            json_decref(doc);
            return 400;
        }
    }
    if (patch && !json_object_size(doc)) {
        snprintf(msg, cap, "the body changes nothing: send one of %s", shape);
        json_decref(doc);
        return 400;
    }
    *doc_out = doc;
    return 0;
}

static enum MHD_Result h_item_write(reco_http *h, struct MHD_Connection *c, request *rq)
{
    char msg[768];
    json_t *doc = NULL;
    reco_item_change ch;
    const char **labels = NULL;
    unsigned status = reco_http_parse_item(rq->body, rq->len, rq->patch, &doc, &ch, &labels,
                                           msg, sizeof msg);
    if (status)
        return send_error(h, c, rq, status, "%s", msg);
    ch.item = rq->id;
    ch.item_len = strlen(rq->id);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_put_items(h->svc, &ch, 1, &o, &err);
    free(labels);
    json_decref(doc);
    bool created = st == RECO_OK && json_is_true(json_object_get(o, "created"));
    return send_result(h, c, rq, st, o, &err, created ? 201 : 200);
}

/* One event object of the body into e; on failure writes what to fix. */
static bool read_event(const json_t *x, const char *where, reco_new_event *e, char *msg,
                       size_t cap)
{
    if (!json_is_object(x)) {
        snprintf(msg, cap,
                 "%s must be an object {\"user\", \"item\", \"type\", \"value\"?, "
                 "\"timestamp\"?}, not %s", where, json_type_name(x));
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)x, key, v) {
        if (strcmp(key, "user") && strcmp(key, "item") && strcmp(key, "type") &&
            strcmp(key, "value") && strcmp(key, "timestamp")) {
            char k[80];
            snprintf(msg, cap,
                     "%s: unknown field \"%s\" (the fields are user, item, type, value, "
                     "timestamp)", where, echo(key, strlen(key), k, sizeof k));
            return false;
        }
    }
    memset(e, 0, sizeof *e);
    char sub[400];
    size_t tl;
    if (!feedback_string(x, where, "user", true, &e->user, &e->user_len, msg, cap))
        return false;
    if (!check_id("user ID", e->user, e->user_len, sub, sizeof sub)) {
        snprintf(msg, cap, "%s: %s", where, sub);
        return false;
    }
    if (!feedback_string(x, where, "item", true, &e->item, &e->item_len, msg, cap))
        return false;
    if (!check_id("item ID", e->item, e->item_len, sub, sizeof sub)) {
        snprintf(msg, cap, "%s: %s", where, sub);
        return false;
    }
    if (!feedback_string(x, where, "type", true, &e->type, &tl, msg, cap))
        return false;
    e->value = NAN;
    v = json_object_get(x, "value");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v)) {
            snprintf(msg, cap, "%s: \"value\" must be a number, not %s", where, json_type_name(v));
            return false;
        }
        e->value = json_number_value(v);
    }
    if (!read_timestamp(x, where, &e->timestamp, msg, cap))
        return false;
    return true;
}

static bool event_entry(const json_t *e, const char *where, void *entry, const void *ctx,
                        char *msg, size_t cap)
{
    (void)ctx;
    return read_event(e, where, entry, msg, cap);
}

unsigned reco_http_parse_events(const char *body, size_t len, size_t max_batch,
                                json_t **doc_out, reco_new_event **out, size_t *n_out, char *msg,
                                size_t cap)
{
    static const batch_words w = {
        "an event",
        "{\"user\", \"item\", \"type\", \"value\"?, \"timestamp\"?}",
        "an event object",
        "event",
        "events",
        "events",
    };
    void *v = NULL;
    unsigned st = parse_batch(body, len, max_batch, &w, sizeof(reco_new_event), event_entry, NULL,
                              doc_out, &v, n_out, msg, cap);
    *out = v;
    return st;
}

static enum MHD_Result h_events(reco_http *h, struct MHD_Connection *c, request *rq)
{
    char msg[768];
    json_t *doc = NULL;
    reco_new_event *e = NULL;
    size_t n = 0;
    unsigned status = reco_http_parse_events(rq->body, rq->len, h->opt.max_batch, &doc, &e, &n,
                                             msg, sizeof msg);
    if (status)
        return send_error(h, c, rq, status, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_add_events(h->svc, e, n, &o, &err);
    free(e);
    json_decref(doc); /* after the call: e borrowed its strings */
    return send_result(h, c, rq, st, o, &err, 201);
}

static void metric_head(FILE *f, const char *name, const char *type, const char *help);

/* The experiment's counters with a variant label. */
static void experiment_metrics(reco_http *h, FILE *f)
{
    json_t *ex = reco_service_experiments(h->svc);
    json_t *vs = json_object_get(ex, "variants");
    static const char *const counters[][3] = {
        {"lists_served", "reco_experiment_lists_served_total",
         "Lists (recommendations, similar products) served since start, by variant."},
        {"impressions", "reco_experiment_impressions_total",
         "Impressions reported (POST /v1/feedback, the log's included), by variant."},
        {"clicks", "reco_experiment_clicks_total", "Clicks reported, by variant."},
        {"purchases", "reco_experiment_purchases_total", "Purchases reported, by variant."},
        {"users_seen", "reco_experiment_users_seen",
         "Distinct users given a list or sending feedback, estimated, by variant."},
        {"share", "reco_experiment_share", "The share of users assigned to the variant."},
        {"ctr", "reco_experiment_ctr", "Click-through rate (clicks / impressions), by variant."},
        {"ctr_low", "reco_experiment_ctr_low", "Lower end of the 95% Wilson interval of the CTR."},
        {"ctr_high", "reco_experiment_ctr_high",
         "Upper end of the 95% Wilson interval of the CTR."},
    };
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
        bool total = strstr(counters[k][1], "_total") != NULL;
        metric_head(f, counters[k][1], total ? "counter" : "gauge", counters[k][2]);
        size_t i;
        json_t *v;
        json_array_foreach(vs, i, v)
        {
            json_t *x = json_object_get(v, counters[k][0]);
            if (!json_is_number(x))
                continue; /* a rate without impressions */
            fprintf(f, "%s{variant=\"%s\"} %.9g\n", counters[k][1],
                    json_string_value(json_object_get(v, "name")), json_number_value(x));
        }
    }
    json_decref(ex);
}

/* ---- /metrics ---- */

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static enum MHD_Result h_metrics(reco_http *h, struct MHD_Connection *c, request *rq)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return send_error(h, c, rq, 503, "out of memory");
    metric_head(f, "reco_http_requests_total", "counter",
                "HTTP requests answered, by route and status.");
    for (size_t r = 0; r < N_ROUTES; r++)
        for (size_t s = 0; s < N_SLOTS; s++) {
            uint64_t v = atomic_load_explicit(&h->requests[r][s], memory_order_relaxed);
            if (!v)
                continue;
            if (s + 1 < N_SLOTS)
                fprintf(f, "reco_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                        ROUTES[r].label, STATUS_SLOTS[s], (unsigned long long)v);
            else
                fprintf(f, "reco_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                        ROUTES[r].label, (unsigned long long)v);
        }
    metric_head(f, "reco_http_request_duration_seconds", "histogram",
                "Time from a request's headers to the last byte of its answer, by route.");
    for (size_t r = 0; r < N_ROUTES; r++) {
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += atomic_load_explicit(&h->hist[r][b], memory_order_relaxed);
            if (b + 1 < N_BUCKETS)
                fprintf(f,
                        "reco_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                        ROUTES[r].label, BUCKETS[b], (unsigned long long)cum);
            else
                fprintf(f,
                        "reco_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
                        "%llu\n", ROUTES[r].label, (unsigned long long)cum);
        }
        fprintf(f, "reco_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                ROUTES[r].label,
                (double)atomic_load_explicit(&h->hist_sum_ns[r], memory_order_relaxed) * 1e-9);
        fprintf(f, "reco_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                ROUTES[r].label, (unsigned long long)cum);
    }
    metric_head(f, "reco_http_requests_in_flight", "gauge",
                "Requests started and not yet answered in full.");
    fprintf(f, "reco_http_requests_in_flight %zu\n", atomic_load(&h->in_flight));
    metric_head(f, "reco_http_requests_aborted_total", "counter",
                "Requests whose connection closed before the answer was sent in full.");
    fprintf(f, "reco_http_requests_aborted_total %llu\n",
            (unsigned long long)atomic_load(&h->aborted));
    pthread_mutex_lock(&h->reg_mu);
    unsigned open_admitted = h->admitted, open_over = h->over_cap;
    pthread_mutex_unlock(&h->reg_mu);
    metric_head(f, "reco_http_connections_open", "gauge",
                "Open connections: within the caps, and over one (being answered 503).");
    fprintf(f, "reco_http_connections_open{state=\"admitted\"} %u\n", open_admitted);
    fprintf(f, "reco_http_connections_open{state=\"over_cap\"} %u\n", open_over);
    metric_head(f, "reco_http_connections_accepted_total", "counter",
                "Connections accepted (requests per connection: kept alive if well above 1).");
    fprintf(f, "reco_http_connections_accepted_total %llu\n",
            (unsigned long long)atomic_load(&h->accepted));
    metric_head(f, "reco_http_connections_refused_total", "counter",
                "Connections over a cap, answered 503: the total cap, or the per-address one.");
    fprintf(f, "reco_http_connections_refused_total{cap=\"total\"} %llu\n",
            (unsigned long long)atomic_load(&h->refused[0]));
    fprintf(f, "reco_http_connections_refused_total{cap=\"per_ip\"} %llu\n",
            (unsigned long long)atomic_load(&h->refused[1]));
    metric_head(f, "reco_http_connections_timed_out_total", "counter",
                "Connections closed at a deadline: headers or body not in (answered 408), "
                "or idle too long.");
    static const char *const phases[3] = {"headers", "body", "idle"};
    for (int k = 0; k < 3; k++)
        fprintf(f, "reco_http_connections_timed_out_total{phase=\"%s\"} %llu\n", phases[k],
                (unsigned long long)atomic_load(&h->timed_out[k]));

    reco_service_stats st;
    reco_service_get_stats(h->svc, &st);
    json_t *info = reco_service_model_info(h->svc);
    int64_t now = (int64_t)time(NULL);
    metric_head(f, "reco_model_info", "gauge", "The model being served (value 1).");
    fprintf(f, "reco_model_info{algorithm=\"%s\"} 1\n",
            info && json_string_value(json_object_get(info, "algorithm"))
                ? json_string_value(json_object_get(info, "algorithm"))
                : "unknown");
    static const char *const sizes[][2] = {{"users", "Users the model was trained on."},
                                           {"items", "Products the model was trained on."},
                                           {"ratings", "Training ratings in the model."}};
    for (size_t k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "reco_model_%s", sizes[k][0]);
        metric_head(f, name, "gauge", sizes[k][1]);
        fprintf(f, "%s %lld\n", name,
                info ? (long long)json_integer_value(json_object_get(info, sizes[k][0])) : 0LL);
    }
    json_decref(info);
    metric_head(f, "reco_model_bytes", "gauge", "Size of the model file being served.");
    fprintf(f, "reco_model_bytes %llu\n", (unsigned long long)st.model_bytes);
    metric_head(f, "reco_model_trained_timestamp_seconds", "gauge",
                "When the model was trained (Unix time).");
    fprintf(f, "reco_model_trained_timestamp_seconds %lld\n", (long long)st.trained_at);
    metric_head(f, "reco_model_loaded_timestamp_seconds", "gauge",
                "When the model was loaded (Unix time).");
    fprintf(f, "reco_model_loaded_timestamp_seconds %lld\n", (long long)st.loaded_at);
    metric_head(f, "reco_model_age_seconds", "gauge", "Seconds since the model was trained.");
    fprintf(f, "reco_model_age_seconds %lld\n", (long long)(now - st.trained_at));
    metric_head(f, "reco_ratings_logged_total", "counter",
                "Ratings appended to the ratings log since the server started.");
    fprintf(f, "reco_ratings_logged_total %llu\n", (unsigned long long)st.ratings_logged);
    metric_head(f, "reco_ratings_replayed", "gauge",
                "Ratings replayed from the ratings log at startup.");
    fprintf(f, "reco_ratings_replayed %llu\n", (unsigned long long)st.ratings_replayed);
    metric_head(f, "reco_live_ratings", "gauge",
                "Ratings that arrived after training and are in effect.");
    fprintf(f, "reco_live_ratings %llu\n", (unsigned long long)st.live_ratings);
    metric_head(f, "reco_ratings_log_fsyncs_total", "counter",
                "fsyncs of the ratings log (concurrent writers share one).");
    fprintf(f, "reco_ratings_log_fsyncs_total %llu\n", (unsigned long long)st.log_fsyncs);
    metric_head(f, "reco_ratings_log_write_errors_total", "counter",
                "Batches of ratings the log could not take (answered 500, cut off the file).");
    fprintf(f, "reco_ratings_log_write_errors_total %llu\n",
            (unsigned long long)st.log_write_errors);
    metric_head(f, "reco_ratings_log_bytes", "gauge",
                "Bytes of rating lines in the ratings log file (after its last compaction).");
    fprintf(f, "reco_ratings_log_bytes %llu\n", (unsigned long long)st.log_bytes);
    metric_head(f, "reco_ratings_log_replay_bytes", "gauge",
                "Bytes of the log a restart would replay: those after the model's point.");
    fprintf(f, "reco_ratings_log_replay_bytes %llu\n",
            (unsigned long long)(st.log_end - st.log_replay_from));
    metric_head(f, "reco_ratings_log_bad_lines_skipped", "gauge",
                "Bad log lines replay skipped since start (--skip-bad-log).");
    fprintf(f, "reco_ratings_log_bad_lines_skipped %llu\n", (unsigned long long)st.log_bad_lines);
    metric_head(f, "reco_live_users", "gauge", "Users with ratings that arrived after training.");
    fprintf(f, "reco_live_users %llu\n", (unsigned long long)st.live_users);
    metric_head(f, "reco_live_bytes", "gauge",
                "Memory of the ratings that arrived after training (the live overlay).");
    fprintf(f, "reco_live_bytes %llu\n", (unsigned long long)st.live_bytes);
    metric_head(f, "reco_live_bytes_limit", "gauge",
                "The cap on reco_live_bytes (--max-live-bytes); 0: none.");
    fprintf(f, "reco_live_bytes_limit %llu\n", (unsigned long long)st.max_live_bytes);
    metric_head(f, "reco_live_ratings_refused_total", "counter",
                "Ratings refused (503) because the live overlay was at its cap.");
    fprintf(f, "reco_live_ratings_refused_total %llu\n", (unsigned long long)st.live_refused);
    metric_head(f, "reco_healthy", "gauge",
                "1 when /healthz answers ok, 0 when degraded (writes fail).");
    fprintf(f, "reco_healthy %d\n", st.healthy ? 1 : 0);
    if (st.store) {
        metric_head(f, "reco_store_connected", "gauge",
                    "1 when the connections to the PostgreSQL store (--store) are up.");
        fprintf(f, "reco_store_connected %d\n", st.store_connected ? 1 : 0);
        metric_head(f, "reco_store_applied_seq", "gauge",
                    "Every row of the store up to this seq is applied here.");
        fprintf(f, "reco_store_applied_seq %lld\n", (long long)st.store_applied_seq);
        metric_head(f, "reco_store_last_commit_seq", "gauge",
                    "The seq of the last row this server wrote to the store.");
        fprintf(f, "reco_store_last_commit_seq %lld\n", (long long)st.store_last_commit_seq);
        metric_head(f, "reco_store_rows_applied_total", "counter",
                    "Rows of the store applied since start (replay included).");
        fprintf(f, "reco_store_rows_applied_total %llu\n",
                (unsigned long long)st.store_rows_applied);
        metric_head(f, "reco_store_commits_total", "counter",
                    "Transactions committed to the store (one per group of concurrent writers).");
        fprintf(f, "reco_store_commits_total %llu\n", (unsigned long long)st.store_commits);
        metric_head(f, "reco_store_write_errors_total", "counter",
                    "Writes to the store that failed (answered 503 or 500, not acknowledged).");
        fprintf(f, "reco_store_write_errors_total %llu\n",
                (unsigned long long)st.store_write_errors);
        metric_head(f, "reco_store_follow_errors_total", "counter",
                    "Reads of new rows from the store that failed.");
        fprintf(f, "reco_store_follow_errors_total %llu\n",
                (unsigned long long)st.store_follow_errors);
        metric_head(f, "reco_store_follow_age_seconds", "gauge",
                    "Seconds since new rows were last read from the store.");
        fprintf(f, "reco_store_follow_age_seconds %.3f\n", st.store_follow_age_ms / 1000.0);
    }
    metric_head(f, "reco_model_reloads_total", "counter", "Successful model reloads.");
    fprintf(f, "reco_model_reloads_total %llu\n", (unsigned long long)st.reloads);
    metric_head(f, "reco_model_reload_failures_total", "counter",
                "Reloads that failed (the previous model kept serving).");
    fprintf(f, "reco_model_reload_failures_total %llu\n", (unsigned long long)st.reload_failures);
    metric_head(f, "reco_model_file_changes_total", "counter",
                "Versions of the model file seen rewritten in place (the model loaded before "
                "kept serving).");
    fprintf(f, "reco_model_file_changes_total %llu\n", (unsigned long long)st.model_file_changes);
    metric_head(f, "reco_model_private_copy", "gauge",
                "1 once the served model is a private copy that changes to the file cannot "
                "reach, 0 while it is served from the file's mapping.");
    fprintf(f, "reco_model_private_copy %d\n", st.model_private ? 1 : 0);
    experiment_metrics(h, f);
    metric_head(f, "reco_start_timestamp_seconds", "gauge",
                "When the server started (Unix time).");
    fprintf(f, "reco_start_timestamp_seconds %lld\n", (long long)h->started_at);
    if (fclose(f) != 0) {
        free(buf);
        return send_error(h, c, rq, 503, "out of memory");
    }
    return send_body(h, c, rq, 200, buf, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- connections: caps and deadlines ---- */

/* The per-address key: an IPv4 address (also IPv4-mapped IPv6), or the
 * first 64 bits of an IPv6 one (one site's subnet). */
static unsigned char address_key(const struct sockaddr *sa, unsigned char *key)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(key, a->s6_addr + 12, 4);
            return 4;
        }
        memcpy(key, a->s6_addr, 8);
        return 8;
    }
    return 0;
}

static size_t key_hash(const unsigned char *key, unsigned char len)
{
    uint64_t x = 1469598103934665603ull;
    for (unsigned char i = 0; i < len; i++)
        x = (x ^ key[i]) * 1099511628211ull;
    return (size_t)(x ^ (x >> 29));
}

/* The count for key, created at 0 if absent (NULL: out of memory).
 * Called with reg_mu held. */
static ip_count *ip_slot(reco_http *h, const unsigned char *key, unsigned char len, bool create)
{
    ip_count **b = &h->ip_tab[key_hash(key, len) & h->ip_mask];
    for (ip_count *e = *b; e; e = e->next)
        if (e->key_len == len && !memcmp(e->key, key, len))
            return e;
    if (!create)
        return NULL;
    ip_count *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    memcpy(e->key, key, len);
    e->key_len = len;
    e->next = *b;
    *b = e;
    return e;
}

/* One admitted connection from key fewer; the entry goes at 0. */
static void ip_release(reco_http *h, const unsigned char *key, unsigned char len)
{
    ip_count **b = &h->ip_tab[key_hash(key, len) & h->ip_mask];
    for (ip_count **p = b; *p; p = &(*p)->next) {
        ip_count *e = *p;
        if (e->key_len == len && !memcmp(e->key, key, len)) {
            if (e->n)
                e->n--;
            if (e->n == 0) {
                *p = e->next;
                free(e);
            }
            return;
        }
    }
}

/* libmicrohttpd's accept policy: once quiesced, a new connection is
 * closed as soon as it is accepted. (MHD_quiesce_daemon is not used: with
 * epoll and a thread pool it races the worker threads over removing the
 * listening socket from their epoll sets, and libmicrohttpd 0.9.75 aborts
 * the process when it loses that race.) */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    reco_http *h = cls;
    return atomic_load(&h->closing) ? MHD_NO : MHD_YES;
}

/* libmicrohttpd's last word before it aborts the process on an internal
 * error: say where and why, so that the crash explains itself. */
static void on_mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    fprintf(stderr, "reco serve: libmicrohttpd internal error at %s:%u: %s\n",
            file ? file : "?", line, reason ? reason : "(no reason given)");
    abort();
}

/* libmicrohttpd's connection callback: registers a new connection,
 * decides whether it is within the caps, and unregisters it on close
 * (called before the socket is closed, so the reaper, which works under
 * reg_mu, never touches a closed or reused descriptor). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    reco_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn *k = calloc(1, sizeof *k);
        if (!k)
            return; /* served, just not capped or timed */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k->h = h;
        k->fd = ci ? ci->connect_fd : -1;
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        k->key_len = address_key(ci ? ci->client_addr : NULL, k->key);
        atomic_init(&k->phase, PH_NEW);
        unsigned wait = h->opt.header_timeout_ms;
        pthread_mutex_lock(&h->reg_mu);
        ip_count *e = NULL;
        bool per_ip = h->opt.max_connections_per_ip && k->key_len;
        if (per_ip)
            e = ip_slot(h, k->key, k->key_len, true);
        if (h->admitted >= h->opt.max_connections) {
            k->over_total = true;
        } else if (!per_ip || (e && e->n < h->opt.max_connections_per_ip)) {
            k->admitted = true;
            h->admitted++;
            if (e)
                e->n++;
        }
        if (e && e->n == 0)
            ip_release(h, k->key, k->key_len); /* created for nothing: drop it */
        if (!k->admitted) {
            h->over_cap++;
            if (wait > OVER_CAP_GRACE_MS)
                wait = OVER_CAP_GRACE_MS;
        }
        k->next = h->conns;
        if (h->conns)
            h->conns->prev = k;
        h->conns = k;
        pthread_mutex_unlock(&h->reg_mu);
        atomic_init(&k->deadline_ms, ms_now() + wait);
        atomic_fetch_add_explicit(&h->accepted, 1, memory_order_relaxed);
        if (!k->admitted)
            atomic_fetch_add_explicit(&h->refused[k->over_total ? 0 : 1], 1,
                                      memory_order_relaxed);
        *socket_context = k;
        return;
    }
    conn *k = *socket_context;
    if (!k)
        return;
    pthread_mutex_lock(&h->reg_mu);
    if (k->prev)
        k->prev->next = k->next;
    else
        h->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    if (k->admitted) {
        h->admitted--;
        if (h->opt.max_connections_per_ip && k->key_len)
            ip_release(h, k->key, k->key_len);
    } else {
        h->over_cap--;
    }
    pthread_mutex_unlock(&h->reg_mu);
    free(k);
    *socket_context = NULL;
}

/* Cuts one connection (reg_mu held, phase already PH_CUT). One overdue
 * with a request to come or under way gets its answer first: 503 over a
 * cap, else 408; a kept-alive one waiting for its next request, or one cut
 * at shutdown, none. Then the socket is shut down; libmicrohttpd sees the
 * end of the stream and closes it. */
static void cut(reco_http *h, conn *k, int was, bool overdue)
{
    char msg[160];
    if (overdue && was != PH_IDLE && k->fd >= 0) {
        if (!k->admitted) {
            atomic_store(&k->answered, 503);
            write_error_now(k->fd, 503, "Service Unavailable",
                            k->over_total
                                ? "the server has all the connections it takes open: retry later"
                                : "too many connections from your address: reuse the open ones "
                                  "or retry later");
        } else {
            unsigned ms = was == PH_BODY ? h->opt.body_timeout_ms : h->opt.header_timeout_ms;
            snprintf(msg, sizeof msg, "the request %s did not arrive within %u.%03u s",
                     was == PH_BODY ? "body" : "line and headers", ms / 1000, ms % 1000);
            atomic_store(&k->answered, 408);
            write_error_now(k->fd, 408, "Request Timeout", msg);
        }
    }
    if (k->fd >= 0)
        shutdown(k->fd, SHUT_RDWR);
    if (k->admitted && overdue)
        atomic_fetch_add_explicit(&h->timed_out[was == PH_BODY ? 1 : was == PH_IDLE ? 2 : 0], 1,
                                  memory_order_relaxed);
}

/* Cuts every connection in one of the phases in mask that is overdue (or
 * every one of them, if all is set). Called with reg_mu held. */
static void cut_connections(reco_http *h, unsigned mask, bool all)
{
    uint64_t now = ms_now();
    for (conn *k = h->conns; k; k = k->next) {
        int ph = atomic_load(&k->phase);
        if (!(mask & (1u << ph)))
            continue;
        uint64_t d = atomic_load(&k->deadline_ms);
        if (!all && (!d || now < d))
            continue;
        if (atomic_compare_exchange_strong(&k->phase, &ph, PH_CUT))
            cut(h, k, ph, !all);
    }
}

static void *reaper_main(void *arg)
{
    reco_http *h = arg;
    pthread_mutex_lock(&h->reg_mu);
    while (!h->reaper_stop) {
        cut_connections(h, 1u << PH_NEW | 1u << PH_IDLE | 1u << PH_HEAD | 1u << PH_BODY, false);
        struct timespec ts; /* the condition variable's clock (reg_cv is on CLOCK_MONOTONIC) */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += REAPER_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->reg_cv, &h->reg_mu, &ts);
    }
    pthread_mutex_unlock(&h->reg_mu);
    return NULL;
}

/* libmicrohttpd's URI callback: the request line is in. Starts the
 * request's state (the handler receives it) and its header deadline. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c)
{
    reco_http *h = cls;
    conn *k = conn_of(c);
    request *rq = calloc(1, sizeof *rq);
    if (rq) {
        rq->conn = k;
        rq->target_len = strlen(uri);
        if (h->opt.log_requests)
            log_escape(uri, rq->path, sizeof rq->path);
    }
    if (k) {
        /* A kept-alive connection's next request gets its own header
         * deadline; a new connection's first one keeps the deadline set
         * when it opened. */
        int ph = atomic_load(&k->phase);
        if (ph == PH_IDLE)
            conn_set_deadline(k, h->opt.header_timeout_ms);
        if (ph == PH_NEW || ph == PH_IDLE)
            atomic_compare_exchange_strong(&k->phase, &ph, PH_HEAD);
    }
    return rq;
}

/* ---- the request cycle ---- */

static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", 16))
        return false;
    ct += 16;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* NULL if the request may write; otherwise what is wrong. */
static const char *auth_problem(const reco_http *h, struct MHD_Connection *c)
{
    if (!h->token)
        return NULL;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a)
        return "this endpoint needs the server's token: send \"Authorization: Bearer TOKEN\"";
    while (*a == ' ')
        a++;
    if (strncasecmp(a, "Bearer ", 7))
        return "the Authorization header must be \"Bearer TOKEN\"";
    a += 7;
    while (*a == ' ')
        a++;
    size_t len = strlen(a);
    while (len && (a[len - 1] == ' ' || a[len - 1] == '\t'))
        len--;
    if (!reco_http_token_equal(a, len, h->token, h->token_len))
        return "the bearer token is not this server's token";
    return NULL;
}

static enum MHD_Result dispatch_get(reco_http *h, struct MHD_Connection *c, request *rq)
{
    switch (rq->route) {
    case R_RECOMMEND: return h_recommend(h, c, rq);
    case R_USER_RATINGS: return h_user_ratings(h, c, rq);
    case R_SIMILAR: return h_similar(h, c, rq);
    case R_PREDICT: return h_predict(h, c, rq);
    case R_MODEL: return h_model(h, c, rq);
    case R_HEALTHZ: return h_healthz(h, c, rq);
    case R_METRICS: return h_metrics(h, c, rq);
    case R_EXPERIMENTS: return h_experiments(h, c, rq);
    case R_ITEM: return h_item(h, c, rq);
    case R_USERS: return h_users(h, c, rq);
    case R_ITEM_RATINGS: return h_item_ratings(h, c, rq);
    case R_CONSOLE: return h_console(h, c, rq);
    case R_REPORT: return h_report(h, c, rq);
    default: return send_error(h, c, rq, 500, "no handler for this route");
    }
}

/* What the headers say about framing and the authority. */
typedef struct head_scan {
    unsigned n_host, n_length, n_encoding;
    const char *host, *length, *encoding;
    bool length_conflict;    /* two Content-Length values that differ */
    bool encoding_other;     /* a Transfer-Encoding other than "chunked" */
} head_scan;

/* s[0..*len) without trailing blanks. */
static size_t trimmed_len(const char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    head_scan *hs = cls;
    if (!value)
        value = "";
    if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
        hs->n_host++;
        hs->host = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        size_t n = trimmed_len(value);
        if (hs->n_length++ &&
            (trimmed_len(hs->length) != n || memcmp(hs->length, value, n) != 0))
            hs->length_conflict = true;
        hs->length = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        hs->n_encoding++;
        hs->encoding = value;
        size_t n = trimmed_len(value);
        if (n != 7 || strncasecmp(value, "chunked", 7) != 0)
            hs->encoding_other = true;
    }
    return MHD_YES;
}

/* Whether Host (with its optional port) names this server: localhost,
 * an IPv4 loopback address, [::1], or one of the names allowed. */
static bool host_allowed(const reco_http *h, const char *host)
{
    const char *end;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (!end)
            return false;
        end++;
    } else {
        end = strrchr(host, ':');
        if (!end)
            end = host + strlen(host);
    }
    if (*end == ':') {
        for (const char *p = end + 1; *p; p++)
            if (*p < '0' || *p > '9')
                return false;
    } else if (*end) {
        return false;
    }
    char name[256];
    size_t n = (size_t)(end - host);
    if (n == 0 || n >= sizeof name)
        return false;
    for (size_t i = 0; i < n; i++)
        name[i] = (char)((host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 : host[i]);
    if (n > 1 && name[n - 1] == '.')
        n--; /* the root label: "localhost." */
    name[n] = '\0';
    if (!strcmp(name, "localhost"))
        return true;
    if (name[0] == '[') {
        struct in6_addr a6;
        name[n - 1] = '\0';
        if (inet_pton(AF_INET6, name + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        name[n - 1] = ']';
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127)
            return true;
    }
    for (size_t i = 0; i < h->n_hosts; i++)
        if (!strcmp(name, h->hosts[i]))
            return true;
    return false;
}

/* The checks every request passes before it is routed: the connection
 * caps, unambiguous framing, sizes, the Host. */
static enum MHD_Result precheck(reco_http *h, struct MHD_Connection *c, request *rq,
                                const char *url, const char *version, bool *refused)
{
    *refused = true;
    char e[80];
    if (rq->conn && !rq->conn->admitted) {
        rq->close = true;
        return send_error(h, c, rq, 503, "%s",
                          rq->conn->over_total
                              ? "the server has all the connections it takes open: retry later"
                              : "too many connections from your address: reuse the open ones "
                                "or retry later");
    }
    head_scan hs = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan_header, &hs);
    if (hs.n_encoding && hs.n_length)
        return send_error(h, c, rq, 400,
                          "the request has both Transfer-Encoding and Content-Length: send one "
                          "(its framing would be ambiguous)");
    if (hs.n_encoding > 1 || hs.encoding_other)
        return send_error(h, c, rq, 501,
                          "Transfer-Encoding \"%s\" is not supported: send the body with "
                          "Content-Length, or with Transfer-Encoding: chunked alone",
                          echo(hs.encoding, strlen(hs.encoding), e, sizeof e));
    if (hs.length_conflict)
        return send_error(h, c, rq, 400,
                          "the request has Content-Length headers that differ: send one "
                          "(its framing would be ambiguous)");
    size_t target = rq->target_len ? rq->target_len : strlen(url);
    if (target > RECO_HTTP_MAX_TARGET)
        return send_error(h, c, rq, 414,
                          "the request target (path and query) is %zu bytes; the limit is %d",
                          target, RECO_HTTP_MAX_TARGET);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (ci && ci->header_size > RECO_HTTP_MAX_HEAD)
        return send_error(h, c, rq, 431,
                          "the request line and headers are %zu bytes; the limit is %d",
                          ci->header_size, RECO_HTTP_MAX_HEAD);
    if (hs.n_host > 1)
        return send_error(h, c, rq, 400, "the request has more than one Host header");
    if (!hs.n_host && version && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        return send_error(h, c, rq, 400, "an HTTP/1.1 request needs a Host header");
    if (hs.n_host && h->check_host && !host_allowed(h, hs.host))
        return send_error(h, c, rq, 421,
                          "this server does not answer for Host \"%s\": it answers for "
                          "localhost, 127.0.0.1 and [::1]%s (a name of another site pointing "
                          "at a loopback server is how DNS rebinding reads it)",
                          echo(hs.host, strlen(hs.host), e, sizeof e),
                          h->n_hosts ? " and the names given with --allow-host" : "");
    *refused = false;
    return MHD_YES;
}

/* The first call for a request: headers are in, the body (if any) is not.
 * Everything that can be refused without the body is decided here, before
 * a byte of it is read. */
static enum MHD_Result begin(reco_http *h, struct MHD_Connection *c, request *rq,
                             const char *url, const char *method, const char *version)
{
    bool refused;
    enum MHD_Result pre = precheck(h, c, rq, url, version, &refused);
    if (refused)
        return pre;
    const char *raw_id;
    size_t raw_len;
    rq->route = match_route(url, &raw_id, &raw_len);
    char msg[512], e[80];
    if (rq->route == R_NONE)
        return send_error(h, c, rq, 404,
                          "no endpoint at \"%s\"; the API is under /v1 (see docs/api.md)",
                          echo(url, strlen(url), e, sizeof e));
    const struct route_info *ri = &ROUTES[rq->route];
    bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
    if (rq->route == R_ITEM && !get) {
        rq->patch = !strcmp(method, MHD_HTTP_METHOD_PATCH);
        rq->item_write = rq->patch || !strcmp(method, MHD_HTTP_METHOD_PUT);
        if (!rq->item_write) {
            rq->allow = "GET, HEAD, PUT, PATCH";
            return send_error(h, c, rq, 405, "%s is not allowed on %s: use GET, PUT or PATCH",
                              echo(method, strlen(method), e, sizeof e), ri->label);
        }
    } else if (ri->post ? !post : !get) {
        rq->allow = ri->post ? "POST" : "GET, HEAD";
        return send_error(h, c, rq, 405, "%s is not allowed on %s: use %s",
                          echo(method, strlen(method), e, sizeof e), ri->label,
                          ri->post ? "POST" : "GET");
    }
    if (!ri->post && !rq->item_write && !rq->defer)
        return send_error(h, c, rq, 400, "%s %s takes no request body", method, ri->label);
    if (ri->what && !decode_id(ri->what, raw_id, raw_len, rq->id, msg, sizeof msg))
        return send_error(h, c, rq, 400, "%s", msg);
    if (rq->route == R_CONSOLE || rq->route == R_REPORT) { /* a file name, raw */
        size_t n = raw_len < sizeof rq->id - 1 ? raw_len : sizeof rq->id - 1;
        memcpy(rq->id, raw_id, n);
        rq->id[n] = '\0';
        if (n < raw_len)
            return send_error(h, c, rq, 404, "no such file: the name is too long");
    }
    if (!ri->post && !rq->item_write)
        return dispatch_get(h, c, rq);

    const char *why = auth_problem(h, c);
    if (why) {
        rq->challenge = true;
        return send_error(h, c, rq, 401, "%s", why);
    }
    if ((rq->route == R_ADD_RATINGS || rq->route == R_FEEDBACK || rq->route == R_EVENTS ||
         rq->item_write) && h->opt.read_only)
        return send_error(h, c, rq, 403,
                          "this server is read-only: start it with --ratings-log FILE to accept "
                          "%s", rq->route == R_FEEDBACK  ? "feedback"
                                : rq->route == R_EVENTS ? "events"
                                : rq->item_write        ? "catalogue changes"
                                                        : "ratings");
    const char *ce = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (ce && strcasecmp(ce, "identity") != 0)
        return send_error(h, c, rq, 415,
                          "Content-Encoding \"%s\" is not supported: send the body uncompressed",
                          echo(ce, strlen(ce), e, sizeof e));
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    bool has_body = !rq->defer;
    /* A JSON type cannot be sent across origins without the browser asking
     * first (a CORS preflight, which this server never grants), so a write
     * without the token must carry one: a page on another site cannot post
     * to a server on the visitor's machine. */
    bool needs_json = rq->route == R_ADD_RATINGS || rq->route == R_FEEDBACK ||
                      rq->route == R_EVENTS || rq->item_write || has_body || !h->token;
    if (needs_json && !is_json_type(ct))
        return send_error(h, c, rq, 415, "%s %s needs \"Content-Type: application/json\" (got %s%s%s)%s",
                          method, ri->label, ct ? "\"" : "none",
                          ct ? echo(ct, strlen(ct), e, sizeof e) : "", ct ? "\"" : "",
                          rq->route == R_RELOAD && !has_body
                              ? "; without a token the server takes writes only with it, "
                                "which a web page on another site cannot send"
                              : "");
    if (length > h->opt.max_body)
        return send_error(h, c, rq, 413,
                          "the body is %llu bytes; the limit is %zu bytes: send smaller batches",
                          length, h->opt.max_body);
    return MHD_YES; /* the body follows */
}

static enum MHD_Result absorb(reco_http *h, request *rq, const char *data, size_t n)
{
    if (rq->discarded || rq->len + n > h->opt.max_body) {
        /* Over the cap: keep nothing, count, answer 413 at the end. */
        rq->discarded += rq->len + n;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return rq->discarded > DISCARD_FACTOR * h->opt.max_body ? MHD_NO : MHD_YES;
    }
    if (rq->len + n > rq->cap) {
        size_t nc = rq->cap ? rq->cap : 4096;
        while (nc < rq->len + n)
            nc *= 2;
        if (nc > h->opt.max_body)
            nc = h->opt.max_body;
        char *nb = realloc(rq->body, nc);
        if (!nb)
            return MHD_NO;
        rq->body = nb;
        rq->cap = nc;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return MHD_YES;
}

static enum MHD_Result finish(reco_http *h, struct MHD_Connection *c, request *rq)
{
    if (rq->discarded)
        return send_error(h, c, rq, 413,
                          "the body is over the limit of %zu bytes: send smaller batches",
                          h->opt.max_body);
    if (rq->route == R_ADD_RATINGS)
        return h_add_ratings(h, c, rq);
    if (rq->route == R_FEEDBACK)
        return h_feedback(h, c, rq);
    if (rq->route == R_EVENTS)
        return h_events(h, c, rq);
    if (rq->item_write)
        return h_item_write(h, c, rq);
    return h_reload(h, c, rq);
}

/* Whether the headers announce a body (a Content-Length above 0 or any
 * Transfer-Encoding): libmicrohttpd will read one before the last call. */
static bool body_announced(struct MHD_Connection *c)
{
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return true;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strtoull(cl, NULL, 10) > 0;
}

/* libmicrohttpd calls this once when the headers are in, once per piece
 * of the body, and once more when the request is complete. Answers are
 * queued on that last call, so that the connection stays open for the
 * next request; only a request refused before its body is read is
 * answered at once, and libmicrohttpd then closes the connection rather
 * than read a body nobody wants. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    reco_http *h = cls;
    request *rq = *con_cls;
    if (!rq || !rq->started) {
        if (!rq) { /* the request line callback could not allocate it */
            rq = calloc(1, sizeof *rq);
            if (!rq)
                return MHD_NO;
            rq->conn = conn_of(c);
            *con_cls = rq;
            if (h->opt.log_requests)
                log_escape(url, rq->path, sizeof rq->path);
        }
        rq->started = true;
        rq->start_ns = reco_clock_ns();
        atomic_fetch_add(&h->in_flight, 1);
        if (h->opt.log_requests)
            log_escape(method, rq->method, sizeof rq->method);
        bool body = body_announced(c);
        rq->defer = !body;
        conn_set_deadline(rq->conn, body ? h->opt.body_timeout_ms : 0);
        if (!conn_move(rq->conn, PH_HEAD, body ? PH_BODY : PH_BUSY))
            return MHD_NO; /* cut at its deadline: the reaper has answered */
        return begin(h, c, rq, url, method, version);
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return rq->status ? MHD_YES : absorb(h, rq, upload_data, n);
    }
    /* The request is complete. */
    if (!conn_move(rq->conn, PH_BODY, PH_BUSY))
        return MHD_NO;
    conn_set_deadline(rq->conn, 0);
    rq->defer = false;
    if (rq->pending) {
        struct MHD_Response *r = rq->pending;
        rq->pending = NULL;
        enum MHD_Result ret = queue_response(c, rq->status, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (rq->status)
        return MHD_YES; /* answered before the body */
    return finish(h, c, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    reco_http *h = cls;
    request *rq = *con_cls;
    if (!rq)
        return;
    conn *k = rq->conn;
    bool was_cut = k && atomic_load(&k->phase) == PH_CUT;
    if (k && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        /* Kept alive: the next request line must come within the idle
         * timeout. */
        conn_set_deadline(k, h->opt.idle_timeout_s * 1000u);
        conn_move(k, PH_BUSY, PH_IDLE);
    }
    uint64_t ns = reco_clock_ns() - rq->start_ns;
    if (rq->started) {
        if (rq->status)
            record(h, rq->route, rq->status, ns);
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            atomic_fetch_add(&h->aborted, 1);
    }
    if (h->opt.log_requests) {
        /* The status is the one sent: this file's answer, or one written
         * past libmicrohttpd (a cut, or the library's own refusal). */
        unsigned past = k ? atomic_load(&k->answered) : 0;
        unsigned status = rq->status ? rq->status : past;
        const char *why = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK || rq->status ? ""
                          : was_cut ? " (cut at its deadline)"
                          : past    ? " (refused by libmicrohttpd: malformed request)"
                                    : " (aborted)";
        if (rq->started)
            fprintf(stderr, "reco serve: %s %s %u %.2fms%s\n", rq->method, rq->path, status,
                    (double)ns * 1e-6, why);
        else
            fprintf(stderr, "reco serve: - %s %u%s\n", rq->path, status,
                    *why ? why : " (closed before the headers were in)");
    }
    bool started = rq->started;
    if (rq->pending)
        MHD_destroy_response(rq->pending);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
    if (started)
        atomic_fetch_sub(&h->in_flight, 1);
}

/* The path is decoded segment by segment by the handlers, so that an
 * encoded '/' (%2F) inside an ID does not split it; query values are kept
 * encoded for the same reason (libmicrohttpd has already turned '+' into a
 * space there). */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[1024], esc[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    /* Its refusals quote the HTML page it would send: the page's text is
     * enough (the client gets the JSON envelope instead), and its failure
     * to queue that page is this file's doing. */
    if (strstr(line, "failed to queue error response"))
        return;
    char *b = strstr(line, "<body>"), *e = b ? strstr(b, "</body>") : NULL;
    char *q = strstr(line, " ('");
    if (q && b && e) {
        size_t j = (size_t)(q - line);
        line[j++] = ':';
        line[j++] = ' ';
        bool tag = false;
        for (const char *p = b + 6; p < e; p++) {
            if (*p == '<' || *p == '>')
                tag = *p == '<';
            else if (!tag)
                line[j++] = *p;
        }
        line[j++] = ')';
        line[j] = '\0';
    }
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    log_escape(line, esc, sizeof esc); /* it may quote the client */
    fprintf(stderr, "reco serve: libmicrohttpd: %s\n", esc);
}

/* ---- start and stop ---- */

void reco_http_options_default(reco_http_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_body = RECO_HTTP_MAX_BODY;
    o->max_n = RECO_HTTP_MAX_N;
    o->max_batch = RECO_HTTP_MAX_BATCH;
    o->max_connections = 4096;
    o->max_connections_per_ip = 256;
    o->header_timeout_ms = 10000;
    o->body_timeout_ms = 30000;
    o->idle_timeout_s = 30;
}

/* Connections libmicrohttpd takes beyond the cap, to answer them 503. */
static unsigned over_cap_reserve(unsigned max_connections)
{
    return max_connections / 4 > 64 ? max_connections / 4 : 64;
}

unsigned reco_http_fds_needed(unsigned max_connections)
{
    /* The connections, the reserve for those over the cap, and a margin
     * for the listening socket, epoll, the model, the log, stdio. */
    return max_connections + over_cap_reserve(max_connections) + 64;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* Binds and listens; the caller owns the socket. */
static reco_status open_listener(const char *host_in, unsigned port, bool have_token, int *fd_out,
                                 bool *ipv6, bool *loopback, reco_error *err)
{
    char host[256];
    size_t hl = strlen(host_in);
    if (hl >= sizeof host || hl == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "bad host \"%s\"", host_in);
    /* "[::1]" as in URLs. */
    if (host_in[0] == '[' && host_in[hl - 1] == ']') {
        memcpy(host, host_in + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, host_in, hl + 1);
    }
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host, ps, &hints, &ai);
    if (gr != 0)
        return reco_error_set(err, RECO_ERR_INVALID, "cannot resolve host \"%s\": %s", host,
                              gai_strerror(gr));
    *loopback = is_loopback(ai->ai_addr);
    if (!*loopback && !have_token) {
        freeaddrinfo(ai);
        return reco_error_set(err, RECO_ERR_INVALID,
                              "refusing to listen on %s, which is not a loopback address, "
                              "without a token: give --token-file FILE or set RECO_TOKEN",
                              host_in);
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return reco_error_set(err, RECO_ERR_IO, "socket: %s", strerror(e));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    *ipv6 = ai->ai_family == AF_INET6;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        freeaddrinfo(ai);
        close(fd);
        return reco_error_set(err, RECO_ERR_IO, "cannot listen on %s port %u: %s", host_in, port,
                              strerror(e));
    }
    freeaddrinfo(ai);
    *fd_out = fd;
    return RECO_OK;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Splits the comma-separated allow_hosts into h->hosts (lowercase, no
 * port, no trailing dot). */
static reco_status parse_hosts(reco_http *h, const char *list, reco_error *err)
{
    if (!list)
        return RECO_OK;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    h->hosts = calloc(cap, sizeof *h->hosts);
    if (!h->hosts)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        /* No port: "[v6]" keeps its brackets, "name:port" loses ":port". */
        const char *rb = n && p[0] == '[' ? memchr(p, ']', n) : NULL;
        const char *colon = rb ? (rb + 1 < p + n ? rb + 1 : NULL) : memchr(p, ':', n);
        if (colon)
            n = (size_t)(colon - p);
        if (n && p[n - 1] == '.' && n > 1)
            n--;
        if (n) {
            if (n > 253)
                return reco_error_set(err, RECO_ERR_INVALID, "allowed host name too long");
            char *name = malloc(n + 1);
            if (!name)
                return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@') {
                    free(name);
                    return reco_error_set(err, RECO_ERR_INVALID,
                                          "bad allowed host \"%.*s\": a host name or address, "
                                          "optionally with :port", (int)n, p);
                }
                name[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            name[n] = '\0';
            h->hosts[h->n_hosts++] = name;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return RECO_OK;
}

static void free_server(reco_http *h)
{
    if (!h)
        return;
    if (h->reaper_running) {
        pthread_mutex_lock(&h->reg_mu);
        h->reaper_stop = true;
        pthread_cond_signal(&h->reg_cv);
        pthread_mutex_unlock(&h->reg_mu);
        pthread_join(h->reaper, NULL);
    }
    if (h->ip_tab) {
        for (size_t b = 0; b <= h->ip_mask; b++)
            while (h->ip_tab[b]) {
                ip_count *e = h->ip_tab[b];
                h->ip_tab[b] = e->next;
                free(e);
            }
        free(h->ip_tab);
    }
    for (size_t i = 0; i < h->n_hosts; i++)
        free(h->hosts[i]);
    free(h->hosts);
    pthread_cond_destroy(&h->reg_cv);
    pthread_mutex_destroy(&h->reg_mu);
    pthread_mutex_destroy(&h->quiesce_mu);
    free(h->token);
    free(h);
}

reco_status reco_http_start(reco_service *svc, const reco_http_options *opt, reco_http **out,
                            reco_error *err)
{
    *out = NULL;
    if (!svc)
        return reco_error_set(err, RECO_ERR_INVALID, "no service to serve");
    if (opt->port > 65535)
        return reco_error_set(err, RECO_ERR_INVALID, "port must be from 0 to 65535, got %u",
                              opt->port);
    if (opt->threads > 1024)
        return reco_error_set(err, RECO_ERR_INVALID, "threads must be from 1 to 1024, got %u",
                              opt->threads);
    if (!opt->max_body || !opt->max_n || !opt->max_batch)
        return reco_error_set(err, RECO_ERR_INVALID, "max_body, max_n and max_batch must be > 0");
    if (opt->max_connections > 1000000 || opt->max_connections_per_ip > 1000000)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "connection caps must be at most 1000000, got %u and %u",
                              opt->max_connections, opt->max_connections_per_ip);
    if (opt->header_timeout_ms > 86400000u || opt->body_timeout_ms > 86400000u ||
        opt->idle_timeout_s > 86400u)
        return reco_error_set(err, RECO_ERR_INVALID, "timeouts must be at most a day");
    reco_http *h = calloc(1, sizeof *h);
    if (!h)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    h->svc = svc;
    h->opt = *opt;
    h->opt.host = opt->host ? opt->host : "127.0.0.1";
    /* 0: the default. */
    if (!h->opt.idle_timeout_s)
        h->opt.idle_timeout_s = 30;
    if (!h->opt.header_timeout_ms)
        h->opt.header_timeout_ms = 10000;
    if (!h->opt.body_timeout_ms)
        h->opt.body_timeout_ms = 30000;
    if (!h->opt.max_connections)
        h->opt.max_connections = 4096;
    h->started_at = (int64_t)time(NULL);
    pthread_mutex_init(&h->quiesce_mu, NULL);
    pthread_mutex_init(&h->reg_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->reg_cv, &ca);
    pthread_condattr_destroy(&ca);
    reco_status rc = RECO_OK;
    if (opt->token && opt->token[0]) {
        h->token = strdup(opt->token);
        if (!h->token)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        h->token_len = h->token ? strlen(h->token) : 0;
    }
    if (!rc)
        rc = parse_hosts(h, opt->allow_hosts, err);
    unsigned limit = h->opt.max_connections + over_cap_reserve(h->opt.max_connections);
    struct rlimit rl;
    if (!rc && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < reco_http_fds_needed(h->opt.max_connections))
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%u connections need %u file descriptors, and this process may open "
                            "%llu (ulimit -n): lower the connection cap or raise the limit",
                            h->opt.max_connections, reco_http_fds_needed(h->opt.max_connections),
                            (unsigned long long)rl.rlim_cur);
    if (!rc) {
        size_t buckets = 64;
        while (buckets < 2 * (size_t)limit)
            buckets *= 2;
        h->ip_tab = calloc(buckets, sizeof *h->ip_tab);
        h->ip_mask = buckets - 1;
        if (!h->ip_tab)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    int fd = -1;
    bool ipv6 = false, loopback = false;
    if (!rc)
        rc = open_listener(h->opt.host, opt->port, h->token != NULL, &fd, &ipv6, &loopback, err);
    if (rc) {
        free_server(h);
        return rc;
    }
    h->check_host = loopback || h->n_hosts > 0;
    h->port = bound_port(fd);
    if (pthread_create(&h->reaper, NULL, reaper_main, h) != 0) {
        close(fd);
        free_server(h);
        return reco_error_set(err, RECO_ERR_INTERNAL, "cannot start a thread");
    }
    h->reaper_running = true;
    unsigned threads = opt->threads;
    if (!threads) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? (unsigned)nc : 1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    if (opt->log_requests)
        flags |= MHD_USE_ERROR_LOG;
    MHD_set_panic_func(on_mhd_panic, NULL);
    h->daemon = MHD_start_daemon(flags, 0, on_accept, h, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                                 MHD_OPTION_URI_LOG_CALLBACK, on_request_line, h,
                                 MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                                 /* A second after the reaper's idle deadline:
                                  * the library's own (inactivity) timeout is
                                  * for connections being answered, where
                                  * nothing moves (a client not reading). */
                                 MHD_OPTION_CONNECTION_TIMEOUT, h->opt.idle_timeout_s + 1,
                                 MHD_OPTION_CONNECTION_LIMIT, limit,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        free_server(h);
        return reco_error_set(err, RECO_ERR_IO, "libmicrohttpd could not start on %s port %u",
                              opt->host, opt->port);
    }
    *out = h;
    return RECO_OK;
}

unsigned reco_http_port(const reco_http *h)
{
    return h ? h->port : 0;
}

size_t reco_http_in_flight(const reco_http *h)
{
    return h ? atomic_load(&((reco_http *)h)->in_flight) : 0;
}

void reco_http_quiesce(reco_http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->quiesce_mu);
    if (!h->quiesced) {
        atomic_store(&h->closing, true); /* on_accept turns new ones away */
        /* Connections waiting for a request would otherwise stay open
         * until their idle timeout. */
        pthread_mutex_lock(&h->reg_mu);
        cut_connections(h, 1u << PH_NEW | 1u << PH_IDLE, true);
        pthread_mutex_unlock(&h->reg_mu);
        h->quiesced = true;
    }
    pthread_mutex_unlock(&h->quiesce_mu);
}

size_t reco_http_stop(reco_http *h, unsigned timeout_ms)
{
    if (!h)
        return 0;
    reco_http_quiesce(h);
    uint64_t deadline = reco_clock_ns() + (uint64_t)timeout_ms * 1000000u;
    while (atomic_load(&h->in_flight) > 0 && reco_clock_ns() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    size_t left = atomic_load(&h->in_flight);
    MHD_stop_daemon(h->daemon);
    free_server(h);
    return left;
}

/* ---- the console's endpoints and files ---- */

/* A whole number from lo to hi in the query, named name. */
static bool parse_count(const char *name, const char *raw, size_t lo, size_t hi, size_t *out,
                        char *msg, size_t cap)
{
    char dec[32], e[80];
    size_t rl = strlen(raw);
    long len = rl < sizeof dec ? reco_http_pct_decode(raw, rl, dec) : -1;
    bool ok = len > 0 && len < 10;
    uint64_t v = 0;
    for (long i = 0; ok && i < len; i++) {
        ok = dec[i] >= '0' && dec[i] <= '9';
        v = v * 10 + (uint64_t)(dec[i] - '0');
    }
    if (!ok || v < lo || v > hi) {
        snprintf(msg, cap, "%s must be a whole number from %zu to %zu, got \"%s\"", name, lo, hi,
                 echo(raw, rl, e, sizeof e));
        return false;
    }
    *out = (size_t)v;
    return true;
}

/* variant=NAME: a variant name's characters ([A-Za-z0-9_-]{1,32}); whether
 * the server has it is the service's to say. */
static bool variant_param(const char *raw, char *out, char *msg, size_t cap)
{
    char e[80];
    size_t rl = strlen(raw), n = 0;
    bool ok = rl >= 1 && rl <= RECO_VARIANT_NAME_MAX;
    for (; ok && n < rl; n++) {
        char ch = raw[n];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '-';
        out[n] = ch;
    }
    if (!ok) {
        snprintf(msg, cap, "variant must be a variant's name (1 to %d of A-Z, a-z, 0-9, _ and "
                 "-; GET /v1/experiments lists them), got \"%s\"", RECO_VARIANT_NAME_MAX,
                 echo(raw, rl, e, sizeof e));
        return false;
    }
    out[n] = '\0';
    return true;
}

static enum MHD_Result h_users(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {"prefix", "limit", NULL};
    char msg[512], prefix[RECO_ID_MAX + 1] = "";
    query q;
    size_t limit = 10;
    long plen = 0;
    const char *v;
    if (!read_query(c, allowed, &q, msg, sizeof msg) ||
        ((v = query_get(&q, "limit")) &&
         !parse_count("limit", v, 1, RECO_USERS_PREFIX_MAX, &limit, msg, sizeof msg)))
        return send_error(h, c, rq, 400, "%s", msg);
    if ((v = query_get(&q, "prefix"))) {
        size_t rl = strlen(v);
        plen = reco_http_pct_decode(v, rl, NULL);
        if (plen < 0)
            return send_error(h, c, rq, 400, "prefix has a bad percent-escape: '%%' must be "
                              "followed by two hex digits (write a literal '%%' as %%25)");
        if (plen > RECO_ID_MAX)
            return send_error(h, c, rq, 400, "prefix is %ld bytes long; IDs are at most %d bytes",
                              plen, RECO_ID_MAX);
        reco_http_pct_decode(v, rl, prefix);
        if (memchr(prefix, '\0', (size_t)plen))
            return send_error(h, c, rq, 400, "prefix holds a NUL byte");
    }
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_users_prefix(h->svc, prefix, (size_t)plen, limit, &o, &err);
    return send_result(h, c, rq, st, o, &err, 200);
}

static enum MHD_Result h_item_ratings(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {"recent", NULL};
    char msg[512];
    query q;
    size_t recent = 10;
    const char *v;
    if (!read_query(c, allowed, &q, msg, sizeof msg) ||
        ((v = query_get(&q, "recent")) &&
         !parse_count("recent", v, 0, RECO_RECENT_RATERS_MAX, &recent, msg, sizeof msg)))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_item_ratings(h->svc, rq->id, recent, &o, &err);
    return send_result(h, c, rq, st, o, &err, 200);
}

/* The console's policy: its own script, style and requests only; no
 * inline script, no framing. */
#define CONSOLE_CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "         \
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
/* The report's: its inline style and its own images, nothing else. */
#define REPORT_CSP                                                                            \
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'none'; "     \
    "frame-ancestors 'none'; base-uri 'none'"
#define REPORT_MAX_FILE ((size_t)64 << 20)

static void file_headers(struct MHD_Response *r, const char *type, const char *csp)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

static enum MHD_Result h_console(reco_http *h, struct MHD_Connection *c, request *rq)
{
    char e[80];
    const reco_console_file *f = reco_console_find(rq->id, strlen(rq->id));
    if (!f)
        return send_error(h, c, rq, 404, "the console has no file \"%s\"",
                          echo(rq->id, strlen(rq->id), e, sizeof e));
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool same = inm && strstr(inm, f->etag);
    struct MHD_Response *r =
        same ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
             : MHD_create_response_from_buffer(f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    file_headers(r, f->type, CONSOLE_CSP);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, f->etag);
    return deliver(h, c, rq, same ? 304 : 200, r);
}

static enum MHD_Result h_report(reco_http *h, struct MHD_Connection *c, request *rq)
{
    char e[80];
    if (!h->opt.report_dir)
        return send_error(h, c, rq, 404, "no report here: start reco serve with --report DIR "
                          "(a directory written by reco explore --out DIR)");
    if (!reco_report_path_ok(rq->id, strlen(rq->id)))
        return send_error(h, c, rq, 400, "\"%s\" is not a report file name: 1 to 4 segments of "
                          "A-Z, a-z, 0-9, '.', '_' and '-', none starting with '.'",
                          echo(rq->id, strlen(rq->id), e, sizeof e));
    char *data;
    size_t size;
    unsigned st = reco_report_read(h->opt.report_dir, rq->id, REPORT_MAX_FILE, &data, &size);
    if (st)
        return send_error(h, c, rq, st, st == 404 ? "the report has no file \"%s\""
                                        : st == 413 ? "the report file \"%s\" is over 64 MiB"
                                                    : "the report file \"%s\" could not be read",
                          rq->id);
    struct MHD_Response *r = MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    file_headers(r, reco_report_type(rq->id), REPORT_CSP);
    return deliver(h, c, rq, 200, r);
}
