/* The REST API over a reco_service: routing, request validation, error
 * mapping, bearer-token auth and Prometheus metrics on libmicrohttpd.
 * See http.h for the contract and docs/api.md for the endpoints. */
#include "http.h"

#include "reco/utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reco/idmap.h"

/* ---- routes and metrics ---- */

enum route {
    R_RECOMMEND, R_USER_RATINGS, R_SIMILAR, R_PREDICT, R_ADD_RATINGS, R_RELOAD,
    R_MODEL, R_HEALTHZ, R_METRICS, R_NONE, N_ROUTES
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
    [R_NONE] = {"unmatched", false, NULL},
};

/* Statuses the server answers with get their own counter; the last slot
 * counts anything else. */
static const unsigned STATUS_SLOTS[] = {200, 201, 400, 401, 403, 404, 405,
                                        413, 415, 422, 500, 503};
#define N_SLOTS (sizeof STATUS_SLOTS / sizeof STATUS_SLOTS[0] + 1)

/* Latency histogram upper bounds in seconds (+Inf is implied). */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
#define N_BUCKETS (sizeof BUCKETS / sizeof BUCKETS[0] + 1)

/* Body bytes past the cap that are read and thrown away so that a chunked
 * upload can still get its 413; beyond this the connection is dropped.
 * (libmicrohttpd 0.9.75 cannot answer in the middle of an upload.) */
#define DISCARD_FACTOR 4

#define MAX_QUERY_PARAMS 8

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
    char id[RECO_ID_MAX + 1];    /* the decoded path ID */
    char *body;
    size_t len, cap;
    size_t discarded;            /* body bytes past the cap */
    char method[8];
    char path[160];              /* for the request log */
} request;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
    };
    for (size_t k = 0; k < sizeof MAP / sizeof MAP[0]; k++)
        if (MAP[k].st == st)
            return MAP[k].http;
    return 500;
}

/* ---- text helpers ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long reco_http_pct_decode(const char *src, size_t len, char *dst)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (len - i < 3)
                return -1;
            int a = hexval(src[i + 1]), b = hexval(src[i + 2]);
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

/* ---- responses ---- */

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
    if (atomic_load(&h->closing))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (rq->defer) {
        /* Queued on the handler's last call: a response queued before the
         * request is complete makes libmicrohttpd close the connection
         * (no keep-alive, and a pipelined next request is dropped). */
        rq->pending = r;
        rq->status = status;
        return MHD_YES;
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES)
        rq->status = status;
    return ret;
}

/* Sends o (stolen) as the body, with a final newline for terminals. */
static enum MHD_Result send_json(reco_http *h, struct MHD_Connection *c, request *rq,
                                 unsigned status, json_t *o)
{
    const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(7);
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
static enum route match_route(const char *url, const char **id, size_t *id_len)
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
    }
#undef IS
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
 * and appear once. On failure writes what to fix into msg. */
static bool read_query(struct MHD_Connection *c, const char *const *allowed, query *q,
                       char *msg, size_t cap)
{
    memset(q, 0, sizeof *q);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, q);
    char names[128] = "";
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
        for (size_t j = 0; j < i; j++)
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

static enum MHD_Result h_recommend(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {"n", "exclude_rated", NULL};
    char msg[512];
    query q;
    size_t n = 10;
    bool exclude = true;
    const char *v;
    if (!read_query(c, allowed, &q, msg, sizeof msg) ||
        ((v = query_get(&q, "n")) && !parse_n(v, h->opt.max_n, &n, msg, sizeof msg)) ||
        ((v = query_get(&q, "exclude_rated")) &&
         !parse_bool("exclude_rated", v, &exclude, msg, sizeof msg)))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_recommend(h->svc, rq->id, n, exclude, &o, &err);
    return send_result(h, c, rq, st, o, &err, 200);
}

static enum MHD_Result h_similar(reco_http *h, struct MHD_Connection *c, request *rq)
{
    static const char *const allowed[] = {"n", NULL};
    char msg[512];
    query q;
    size_t n = 10;
    const char *v;
    if (!read_query(c, allowed, &q, msg, sizeof msg) ||
        ((v = query_get(&q, "n")) && !parse_n(v, h->opt.max_n, &n, msg, sizeof msg)))
        return send_error(h, c, rq, 400, "%s", msg);
    json_t *o = NULL;
    reco_error err = {0};
    reco_status st = reco_service_similar(h->svc, rq->id, n, &o, &err);
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
    return send_json(h, c, rq, 200, json_pack("{s:s}", "status", "ok"));
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
    v = json_object_get(e, "timestamp");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(msg, cap,
                     "%s: \"timestamp\" must be a whole number of seconds since 1970 (>= 0), "
                     "not %s", where, json_is_integer(v) ? "a negative number"
                                             : json_is_real(v) ? "a fraction" : json_type_name(v));
            return false;
        }
        r->timestamp = (int64_t)json_integer_value(v);
    }
    return true;
}

static enum MHD_Result h_add_ratings(reco_http *h, struct MHD_Connection *c, request *rq)
{
    if (rq->len == 0)
        return send_error(h, c, rq, 400,
                          "the body is empty: send a rating {\"user\", \"item\", \"rating\", "
                          "\"timestamp\"?} or an array of them");
    json_error_t je;
    json_t *doc = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!doc)
        return send_error(h, c, rq, 400, "malformed JSON at line %d, column %d: %s", je.line,
                          je.column, je.text);
    bool array = json_is_array(doc);
    if (!array && !json_is_object(doc)) {
        enum MHD_Result ret = send_error(
            h, c, rq, 400, "the body must be a rating object or an array of them, not %s",
            json_type_name(doc));
        json_decref(doc);
        return ret;
    }
    size_t n = array ? json_array_size(doc) : 1;
    if (n == 0) {
        json_decref(doc);
        return send_error(h, c, rq, 400, "the array is empty: send at least one rating");
    }
    if (n > h->opt.max_batch) {
        json_decref(doc);
        return send_error(h, c, rq, 413,
                          "%zu ratings in one request; the limit is %zu: split the batch", n,
                          h->opt.max_batch);
    }
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
    reco_new_rating *r = calloc(n, sizeof *r);
    if (!r) {
        json_decref(doc);
        return send_error(h, c, rq, 503, "out of memory");
    }
    char msg[768];
    for (size_t k = 0; k < n; k++) {
        char where[48];
        if (array)
            snprintf(where, sizeof where, "ratings[%zu]", k);
        else
            snprintf(where, sizeof where, "body");
        if (!read_rating(array ? json_array_get(doc, k) : doc, where, lo, hi, &r[k], msg,
                         sizeof msg)) {
            free(r);
            json_decref(doc);
            return send_error(h, c, rq, 400, "%s", msg);
        }
    }
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
    metric_head(f, "reco_model_reloads_total", "counter", "Successful model reloads.");
    fprintf(f, "reco_model_reloads_total %llu\n", (unsigned long long)st.reloads);
    metric_head(f, "reco_model_reload_failures_total", "counter",
                "Reloads that failed (the previous model kept serving).");
    fprintf(f, "reco_model_reload_failures_total %llu\n", (unsigned long long)st.reload_failures);
    metric_head(f, "reco_start_timestamp_seconds", "gauge",
                "When the server started (Unix time).");
    fprintf(f, "reco_start_timestamp_seconds %lld\n", (long long)h->started_at);
    if (fclose(f) != 0) {
        free(buf);
        return send_error(h, c, rq, 503, "out of memory");
    }
    return send_body(h, c, rq, 200, buf, len, "text/plain; version=0.0.4; charset=utf-8");
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
    default: return send_error(h, c, rq, 500, "no handler for this route");
    }
}

/* The first call for a request: headers are in, the body (if any) is not.
 * Everything that can be refused without the body is refused here, before
 * a byte of it is read. */
static enum MHD_Result begin(reco_http *h, struct MHD_Connection *c, request *rq,
                             const char *url, const char *method)
{
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
    if (ri->post ? !post : !get) {
        rq->allow = ri->post ? "POST" : "GET, HEAD";
        return send_error(h, c, rq, 405, "%s is not allowed on %s: use %s",
                          echo(method, strlen(method), e, sizeof e), ri->label,
                          ri->post ? "POST" : "GET");
    }
    if (ri->what && !decode_id(ri->what, raw_id, raw_len, rq->id, msg, sizeof msg))
        return send_error(h, c, rq, 400, "%s", msg);
    if (!ri->post)
        return dispatch_get(h, c, rq);

    const char *why = auth_problem(h, c);
    if (why) {
        rq->challenge = true;
        return send_error(h, c, rq, 401, "%s", why);
    }
    if (rq->route == R_ADD_RATINGS && h->opt.read_only)
        return send_error(h, c, rq, 403,
                          "this server is read-only: start it with --ratings-log FILE to accept "
                          "ratings");
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    bool has_body = length > 0 || te;
    if ((rq->route == R_ADD_RATINGS || has_body) && !is_json_type(ct))
        return send_error(h, c, rq, 415, "%s %s needs \"Content-Type: application/json\" (got %s%s%s)",
                          method, ri->label, ct ? "\"" : "none",
                          ct ? echo(ct, strlen(ct), e, sizeof e) : "", ct ? "\"" : "");
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
    (void)version;
    reco_http *h = cls;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->start_ns = now_ns();
        atomic_fetch_add(&h->in_flight, 1);
        *con_cls = rq;
        if (h->opt.log_requests) {
            snprintf(rq->method, sizeof rq->method, "%s", method);
            snprintf(rq->path, sizeof rq->path, "%s", url);
        }
        rq->defer = !body_announced(c);
        return begin(h, c, rq, url, method);
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return rq->status ? MHD_YES : absorb(h, rq, upload_data, n);
    }
    /* The request is complete. */
    rq->defer = false;
    if (rq->pending) {
        struct MHD_Response *r = rq->pending;
        rq->pending = NULL;
        enum MHD_Result ret = MHD_queue_response(c, rq->status, r);
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
    uint64_t ns = now_ns() - rq->start_ns;
    if (rq->status)
        record(h, rq->route, rq->status, ns);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        atomic_fetch_add(&h->aborted, 1);
    if (h->opt.log_requests)
        fprintf(stderr, "reco serve: %s %s %u %.2fms%s\n", rq->method, rq->path, rq->status,
                (double)ns * 1e-6, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
    if (rq->pending)
        MHD_destroy_response(rq->pending);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
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
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    fprintf(stderr, "reco serve: libmicrohttpd: %s\n", line);
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
    o->timeout_s = 30;
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
                                 bool *ipv6, reco_error *err)
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
    if (!is_loopback(ai->ai_addr) && !have_token) {
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
    reco_http *h = calloc(1, sizeof *h);
    if (!h)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    h->svc = svc;
    h->opt = *opt;
    h->opt.host = opt->host ? opt->host : "127.0.0.1";
    h->opt.timeout_s = opt->timeout_s ? opt->timeout_s : 30;
    h->started_at = (int64_t)time(NULL);
    pthread_mutex_init(&h->quiesce_mu, NULL);
    if (opt->token && opt->token[0]) {
        h->token = strdup(opt->token);
        if (!h->token) {
            free(h);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        }
        h->token_len = strlen(h->token);
    }
    int fd = -1;
    bool ipv6 = false;
    reco_status rc = open_listener(h->opt.host, opt->port, h->token != NULL, &fd, &ipv6, err);
    if (rc) {
        free(h->token);
        free(h);
        return rc;
    }
    h->port = bound_port(fd);
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
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_THREAD_POOL_SIZE, threads,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                                 MHD_OPTION_CONNECTION_TIMEOUT, h->opt.timeout_s,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        free(h->token);
        free(h);
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
        atomic_store(&h->closing, true);
        MHD_socket s = MHD_quiesce_daemon(h->daemon);
        if (s != MHD_INVALID_SOCKET)
            close(s);
        h->quiesced = true;
    }
    pthread_mutex_unlock(&h->quiesce_mu);
}

size_t reco_http_stop(reco_http *h, unsigned timeout_ms)
{
    if (!h)
        return 0;
    reco_http_quiesce(h);
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (atomic_load(&h->in_flight) > 0 && now_ns() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    size_t left = atomic_load(&h->in_flight);
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->quiesce_mu);
    free(h->token);
    free(h);
    return left;
}
