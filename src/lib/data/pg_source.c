/* Ratings read from PostgreSQL (reco/pg_source.h).
 *
 * The source URI is split into libpq's connection URI and reco's own
 * parameters (table, columns, query), which libpq would refuse. The
 * columns are looked at first (`SELECT * FROM (...) LIMIT 0`: how many,
 * of which types), then the rows come through one
 * `COPY (SELECT u, i, r[, t] FROM (...) AS reco_source(u, i, r[, t]))
 * TO STDOUT (FORMAT csv)`: CSV because it is the rating-file format the
 * parser already reads (quoting included; the text format's backslash
 * escapes are not), so the rows, appended to one buffer as they arrive,
 * go through reco_parse_buffer like a file's lines: one parser, one set
 * of checks and messages, parsing on all cores. */
#include "reco/pg_source.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratings_parse.h"
#include "numfmt.h"

#ifdef RECO_HAVE_LIBPQ
#include "pg_conn.h"
#endif

bool reco_pg_is_source(const char *s)
{
    return s && (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0);
}

bool reco_pg_supported(void)
{
#ifdef RECO_HAVE_LIBPQ
    return true;
#else
    return false;
#endif
}

/* ---- the URI ------------------------------------------------------------ */

/* Where the parts of a URI are: [p, auth) the scheme and "//",
 * [auth, at) the user part (at == auth: none; ':' in it starts the
 * password), [host, params) host, port and path, params the text after
 * '?' (or the end). */
typedef struct uri_parts {
    const char *auth, *at, *host, *params, *end;
} uri_parts;

static void split_uri(const char *uri, uri_parts *u)
{
    u->auth = strstr(uri, "//") + 2;
    u->end = uri + strlen(uri);
    const char *q = strchr(u->auth, '?');
    u->params = q ? q : u->end;
    const char *slash = memchr(u->auth, '/', (size_t)(u->params - u->auth));
    const char *auth_end = slash ? slash : u->params;
    const char *at = NULL;
    for (const char *p = u->auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    u->at = at ? at : u->auth;
    u->host = at ? at + 1 : u->auth;
}

static bool key_is(const char *p, size_t len, const char *key)
{
    return strlen(key) == len && memcmp(p, key, len) == 0;
}

/* Calls fn for each `key=value` parameter of [p, end): '&'-separated,
 * except that the value of `query` runs to the end. */
typedef int (*param_fn)(void *ctx, const char *k, size_t kl, const char *v, size_t vl);

static int each_param(const char *p, const char *end, param_fn fn, void *ctx)
{
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *k = p, *v;
        size_t kl, vl;
        if (eq && eq < stop) {
            kl = (size_t)(eq - p);
            v = eq + 1;
            if (key_is(k, kl, "query"))
                stop = end;
            vl = (size_t)(stop - v);
        } else {
            kl = (size_t)(stop - p);
            v = stop;
            vl = 0;
        }
        if (kl || vl) {
            int rc = fn(ctx, k, kl, v, vl);
            if (rc)
                return rc;
        }
        p = stop < end ? stop + 1 : end;
    }
    return 0;
}

/* Appends [p, p + len) to buf (cap bytes, used *n), cut to fit. */
static void put(char *buf, size_t cap, size_t *n, const char *p, size_t len)
{
    if (*n + 1 >= cap)
        return;
    if (len > cap - 1 - *n)
        len = cap - 1 - *n;
    memcpy(buf + *n, p, len);
    *n += len;
    buf[*n] = '\0';
}

typedef struct name_ctx {
    char *buf;
    size_t cap, n;
    int shown;
    bool cut_query;
} name_ctx;

static int name_param(void *vctx, const char *k, size_t kl, const char *v, size_t vl)
{
    name_ctx *c = vctx;
    if (key_is(k, kl, "password"))
        return 0;
    put(c->buf, c->cap, &c->n, c->shown++ ? "&" : "?", 1);
    put(c->buf, c->cap, &c->n, k, kl);
    if (v > k + kl)
        put(c->buf, c->cap, &c->n, "=", 1);
    bool cut = c->cut_query && key_is(k, kl, "query") && vl > RECO_PG_QUERY_SHOWN;
    if (cut) {
        vl = RECO_PG_QUERY_SHOWN;
        while (vl && ((unsigned char)v[vl] & 0xC0) == 0x80)
            vl--; /* not inside a UTF-8 sequence */
    }
    put(c->buf, c->cap, &c->n, v, vl);
    if (cut)
        put(c->buf, c->cap, &c->n, "...", 3);
    return 0;
}

/* The URI without its password into buf; with cut_query, a long query
 * cut after RECO_PG_QUERY_SHOWN bytes. */
static char *source_name(const char *uri, bool cut_query, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    buf[0] = '\0';
    if (!reco_pg_is_source(uri)) {
        snprintf(buf, cap, "%s", uri ? uri : "");
        return buf;
    }
    uri_parts u;
    split_uri(uri, &u);
    name_ctx c = {buf, cap, 0, 0, cut_query};
    put(buf, cap, &c.n, uri, (size_t)(u.auth - uri));
    if (u.at > u.auth) {
        const char *colon = memchr(u.auth, ':', (size_t)(u.at - u.auth));
        put(buf, cap, &c.n, u.auth, (size_t)((colon ? colon : u.at) - u.auth));
        put(buf, cap, &c.n, "@", 1);
    }
    put(buf, cap, &c.n, u.host, (size_t)(u.params - u.host));
    if (u.params < u.end)
        each_param(u.params + 1, u.end, name_param, &c);
    return buf;
}

char *reco_pg_source_name(const char *uri, char *buf, size_t cap)
{
    return source_name(uri, false, buf, cap);
}

/* A malloc'd, percent-decoded copy of [p, p + len); *bad when an escape
 * is malformed or decodes to a NUL byte (then NULL). */
static char *pct_decode(const char *p, size_t len, bool *bad)
{
    char *s = malloc(len + 1);
    size_t j = 0;
    *bad = false;
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '%') {
            s[j++] = p[i];
            continue;
        }
        int hi = i + 2 < len ? reco_hex_digit(p[i + 1]) : -1;
        int lo = hi >= 0 ? reco_hex_digit(p[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(s);
            *bad = true;
            return NULL;
        }
        s[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    s[j] = '\0';
    return s;
}

typedef struct parse_ctx {
    reco_pg_source *s;
    char *conn;     /* the conninfo being built */
    size_t conn_n;
    int kept;
    const char *what; /* set on error: the parameter at fault */
    reco_status st;
} parse_ctx;

static int parse_param(void *vctx, const char *k, size_t kl, const char *v, size_t vl)
{
    parse_ctx *c = vctx;
    char **dst = key_is(k, kl, "table")     ? &c->s->table
                 : key_is(k, kl, "columns") ? &c->s->columns
                 : key_is(k, kl, "query")   ? &c->s->query
                                            : NULL;
    if (!dst) { /* libpq's: kept as written */
        c->conn[c->conn_n++] = c->kept++ ? '&' : '?';
        memcpy(c->conn + c->conn_n, k, (size_t)(v + vl - k));
        c->conn_n += (size_t)(v + vl - k);
        c->conn[c->conn_n] = '\0';
        return 0;
    }
    c->what = key_is(k, kl, "table") ? "table" : key_is(k, kl, "columns") ? "columns" : "query";
    if (*dst) {
        c->st = RECO_ERR_INVALID;
        return -1;
    }
    bool bad;
    *dst = pct_decode(v, vl, &bad);
    if (!*dst) {
        c->st = bad ? RECO_ERR_PARSE : RECO_ERR_NOMEM;
        return -1;
    }
    return 0;
}

void reco_pg_source_free(reco_pg_source *s)
{
    if (!s)
        return;
    free(s->conninfo);
    free(s->table);
    free(s->columns);
    free(s->query);
    free(s);
}

/* Whether s is n_min to n_max non-empty names separated by sep (the other
 * of ',' and '.' not allowed). */
static bool names_ok(const char *s, char sep, int n_min, int n_max)
{
    int n = 1;
    size_t part = 0;
    for (; *s; s++) {
        if (*s == (sep == ',' ? '.' : ','))
            return false;
        if (*s != sep) {
            part++;
            continue;
        }
        if (!part)
            return false;
        part = 0;
        n++;
    }
    return part && n >= n_min && n <= n_max;
}

reco_status reco_pg_source_parse(const char *uri, reco_pg_source **out, reco_error *err)
{
    *out = NULL;
    char name[RECO_PG_NAME_MAX];
    source_name(uri, true, name, sizeof name);
    if (!reco_pg_is_source(uri))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s: not a PostgreSQL source (postgresql://...)", name);
    reco_pg_source *s = calloc(1, sizeof *s);
    size_t len = strlen(uri);
    if (!s || !(s->conninfo = malloc(len + 2))) {
        reco_pg_source_free(s);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    memcpy(s->name, name, sizeof name);
    uri_parts u;
    split_uri(uri, &u);
    parse_ctx c = {s, s->conninfo, (size_t)(u.params - uri), 0, NULL, RECO_OK};
    memcpy(s->conninfo, uri, c.conn_n);
    s->conninfo[c.conn_n] = '\0';
    reco_status st = RECO_OK;
    if (u.params < u.end && each_param(u.params + 1, u.end, parse_param, &c)) {
        st = c.st == RECO_ERR_NOMEM
                 ? reco_error_set(err, RECO_ERR_NOMEM, "out of memory")
             : c.st == RECO_ERR_PARSE
                 ? reco_error_set(err, RECO_ERR_INVALID,
                                  "%s: bad percent escape in %s= (%%XX, two hex digits, "
                                  "not %%00)", name, c.what)
                 : reco_error_set(err, RECO_ERR_INVALID, "%s: %s= is given twice", name,
                                  c.what);
    } else if (!s->table == !s->query) {
        st = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: name %s: ?table=NAME or ?query=SELECT user, product, "
                            "rating[, timestamp] FROM ...", name,
                            s->table ? "a table or a query, not both" : "a table or a query");
    } else if (s->columns && !s->table) {
        st = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: columns= picks the columns of a table= (a query names its "
                            "own)", name);
    } else if (s->table && !names_ok(s->table, '.', 1, 2)) {
        st = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: table= wants NAME or SCHEMA.NAME", name);
    } else if (s->columns && !names_ok(s->columns, ',', 3, 4)) {
        st = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: columns= wants 3 or 4 names: user, product, rating[, "
                            "timestamp]", name);
    } else if (s->query && !s->query[strspn(s->query, " \t\r\n;")]) {
        st = reco_error_set(err, RECO_ERR_INVALID, "%s: query= is empty", name);
    }
    if (st) {
        reco_pg_source_free(s);
        return st;
    }
    *out = s;
    return RECO_OK;
}

/* ---- the load ------------------------------------------------------------ */

#ifndef RECO_HAVE_LIBPQ

reco_status reco_pg_ratings_load(const char *uri, const reco_load_options *opt,
                                 reco_ratings **out, reco_error *err)
{
    (void)opt;
    *out = NULL;
    char name[RECO_PG_NAME_MAX];
    return reco_error_set(err, RECO_ERR_INVALID,
                          "%s: this reco was built without PostgreSQL support (install "
                          "libpq-dev and rebuild with -DRECO_WITH_POSTGRESQL=ON)",
                          source_name(uri, true, name, sizeof name));
}

#else

/* A growing buffer of text. */
typedef struct text {
    char *p;
    size_t n, cap;
} text;

static int text_add(text *t, const char *s, size_t len)
{
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : (size_t)1 << 20;
        while (cap < t->n + len + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p)
            return -1;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, len);
    t->n += len;
    t->p[t->n] = '\0';
    return 0;
}

static int text_str(text *t, const char *s) { return text_add(t, s, strlen(s)); }

/* Appends [schema.]name list items of s (comma-separated) as quoted
 * identifiers, separated by ", ". */
static int add_idents(text *t, PGconn *conn, const char *s)
{
    int first = 1;
    while (*s) {
        size_t len = strcspn(s, ",.");
        char *q = PQescapeIdentifier(conn, s, len);
        if (!q)
            return -1;
        int rc = text_str(t, q);
        PQfreemem(q);
        if (rc)
            return -1;
        first = 0;
        s += len;
        if (*s == '.' && text_str(t, "."))
            return -1;
        if (*s == ',' && text_str(t, ", "))
            return -1;
        if (*s)
            s++;
    }
    return first ? -1 : 0;
}

/* Copies msg into dst on one line (a line break becomes "; ", tabs a
 * space, runs of them one, trailing ones dropped), and every occurrence of the
 * secrets replaced by "***" (libpq quotes a URI it cannot parse). */
static void clean_message(char *dst, size_t cap, const char *msg, const char *const *secrets,
                          int n_secrets)
{
    size_t j = 0;
    int space = 0; /* 1: a blank to write; 2: a line break, written "; " */
    while (*msg && j + 5 < cap) {
        int hit = -1;
        for (int k = 0; k < n_secrets; k++)
            if (secrets[k] && *secrets[k] &&
                strncmp(msg, secrets[k], strlen(secrets[k])) == 0)
                hit = k;
        if (hit >= 0) {
            memcpy(dst + j, "***", 3);
            j += 3;
            msg += strlen(secrets[hit]);
            space = 0;
            continue;
        }
        char ch = *msg++;
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            space = (space == 2 || ch == '\n') ? 2 : 1;
            continue;
        }
        if (space == 2 && j)
            dst[j++] = ';';
        if (space && j)
            dst[j++] = ' ';
        space = 0;
        dst[j++] = ch;
    }
    dst[j] = '\0';
}

/* The password of a URI as written and decoded (in the user part or a
 * password= parameter), malloc'd, for scrubbing messages; NULLs if none. */
typedef struct secrets {
    char *raw, *decoded, *param_raw, *param_decoded;
} secrets;

static int find_password(void *vctx, const char *k, size_t kl, const char *v, size_t vl)
{
    secrets *s = vctx;
    if (key_is(k, kl, "password") && !s->param_raw) {
        bool bad;
        s->param_raw = strndup(v, vl);
        s->param_decoded = pct_decode(v, vl, &bad);
    }
    return 0;
}

static void get_secrets(const char *uri, secrets *s)
{
    memset(s, 0, sizeof *s);
    uri_parts u;
    split_uri(uri, &u);
    const char *colon = u.at > u.auth ? memchr(u.auth, ':', (size_t)(u.at - u.auth)) : NULL;
    if (colon) {
        bool bad;
        s->raw = strndup(colon + 1, (size_t)(u.at - colon - 1));
        s->decoded = pct_decode(colon + 1, (size_t)(u.at - colon - 1), &bad);
    }
    if (u.params < u.end)
        each_param(u.params + 1, u.end, find_password, s);
}

static void free_secrets(secrets *s)
{
    free(s->raw);
    free(s->decoded);
    free(s->param_raw);
    free(s->param_decoded);
}

typedef struct pg_load {
    const char *uri;
    const reco_pg_source *src;
    PGconn *conn;
} pg_load;

reco_status reco_pg_fail(const char *uri, const char *name, reco_status code, reco_error *err,
                         const char *what, const char *msg)
{
    secrets sec;
    get_secrets(uri, &sec);
    char clean[RECO_ERROR_MSG_MAX];
    const char *const list[] = {sec.raw, sec.decoded, sec.param_raw, sec.param_decoded};
    clean_message(clean, sizeof clean, msg ? msg : "", list, 4);
    free_secrets(&sec);
    return reco_error_set(err, code, "%s: %s%s", name, what, clean);
}

static reco_status pg_fail(pg_load *L, reco_error *err, const char *what, const char *msg)
{
    return reco_pg_fail(L->uri, L->src->name, RECO_ERR_IO, err, what, msg);
}

void reco_pg_result_message(PGconn *conn, const PGresult *res, char *buf, size_t cap)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    if (primary)
        snprintf(buf, cap, "%s%s%s%s", primary, hint ? " (" : "", hint ? hint : "",
                 hint ? ")" : "");
    else
        snprintf(buf, cap, "%s", conn ? PQerrorMessage(conn) : "out of memory");
}

/* The server's message of a failed result: primary text, then its hint. */
static reco_status result_fail(pg_load *L, reco_error *err, const char *what, PGresult *res)
{
    char msg[RECO_ERROR_MSG_MAX];
    reco_pg_result_message(L->conn, res, msg, sizeof msg);
    return pg_fail(L, err, what, msg);
}

PGconn *reco_pg_connect(const char *uri, const reco_pg_source *src, reco_error *err)
{
    /* fallback_application_name first (the URI may set its own),
     * client_encoding after the URI: IDs must arrive as UTF-8. */
    const char *const keys[] = {"fallback_application_name", "dbname", "client_encoding", NULL};
    const char *const vals[] = {"reco", src->conninfo, "UTF8", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory connecting", src->name);
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        reco_pg_fail(uri, src->name, RECO_ERR_IO, err, "cannot connect: ", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

enum {
    OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
    OID_NUMERIC = 1700, OID_DATE = 1082, OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184
};

static bool is_numeric(Oid t)
{
    return t == OID_INT2 || t == OID_INT4 || t == OID_INT8 || t == OID_FLOAT4 ||
           t == OID_FLOAT8 || t == OID_NUMERIC;
}

/* The SELECT the rows come from: the query, or the table's columns. */
static int inner_select(text *t, PGconn *conn, const reco_pg_source *s)
{
    if (s->query) {
        /* Without a final semicolon: it goes inside parentheses. */
        size_t len = strlen(s->query);
        while (len && strchr(" \t\r\n;", s->query[len - 1]))
            len--;
        return text_add(t, s->query, len);
    }
    if (text_str(t, "SELECT "))
        return -1;
    if (s->columns ? add_idents(t, conn, s->columns) : text_str(t, "*"))
        return -1;
    return text_str(t, " FROM ") || add_idents(t, conn, s->table) ? -1 : 0;
}

/* Looks at the columns and builds the COPY statement into *copy. */
static reco_status build_copy(pg_load *L, text *copy, reco_error *err)
{
    const reco_pg_source *s = L->src;
    text inner = {0}, probe = {0};
    reco_status rc = RECO_OK;
    PGresult *res = NULL;
    if (inner_select(&inner, L->conn, s) || text_str(&probe, "SELECT * FROM (") ||
        text_add(&probe, inner.p, inner.n) || text_str(&probe, "\n) AS reco_source LIMIT 0")) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto out;
    }
    res = PQexec(L->conn, probe.p);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = result_fail(L, err, "", res);
        goto out;
    }
    int nf = PQnfields(res);
    const char *what = s->query ? "the query returns" : "the table has";
    const char *how = s->query ? "" : " (pick them with &columns=USER,PRODUCT,RATING[,TIMESTAMP])";
    if (nf < 3 || nf > 4) {
        char cols[256];
        size_t n = 0;
        cols[0] = '\0';
        for (int k = 0; k < nf; k++) {
            if (k)
                put(cols, sizeof cols, &n, ", ", 2);
            put(cols, sizeof cols, &n, PQfname(res, k), strlen(PQfname(res, k)));
        }
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: %s %d column%s (%s); expected 3 or 4: user, product, "
                            "rating[, timestamp]%s", s->name, what, nf, nf == 1 ? "" : "s",
                            cols, how);
        goto out;
    }
    if (!is_numeric(PQftype(res, 2))) {
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: the rating (column 3, \"%s\") is not of a numeric type "
                            "(smallint, integer, bigint, real, double precision, numeric); "
                            "expected columns: user, product, rating[, timestamp]%s",
                            s->name, PQfname(res, 2), s->query ? " (cast it in the query)" : "");
        goto out;
    }
    Oid ts = nf == 4 ? PQftype(res, 3) : 0;
    bool epoch = ts == OID_DATE || ts == OID_TIMESTAMP || ts == OID_TIMESTAMPTZ;
    if (text_str(copy, nf == 4 ? (epoch ? "COPY (SELECT u, i, r, floor(extract(epoch FROM t))"
                                          "::bigint FROM (\n"
                                        : "COPY (SELECT u, i, r, t FROM (\n")
                               : "COPY (SELECT u, i, r FROM (\n") ||
        text_add(copy, inner.p, inner.n) ||
        text_str(copy, nf == 4 ? "\n) AS reco_source(u, i, r, t)) TO STDOUT (FORMAT csv)"
                               : "\n) AS reco_source(u, i, r)) TO STDOUT (FORMAT csv)"))
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
out:
    PQclear(res);
    free(inner.p);
    free(probe.p);
    return rc;
}

/* Runs the COPY and appends every row to rows. */
static reco_status copy_rows(pg_load *L, const char *sql, text *rows, reco_error *err)
{
    PGresult *res = PQexec(L->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        reco_status rc = result_fail(L, err, "", res);
        PQclear(res);
        return rc;
    }
    PQclear(res);
    reco_status rc = RECO_OK;
    for (;;) {
        char *row = NULL;
        int n = PQgetCopyData(L->conn, &row, 0);
        if (n < 0)
            break; /* -1: the end; -2: an error, in the result below */
        if (!rc && text_add(rows, row, (size_t)n))
            rc = reco_error_set(err, RECO_ERR_NOMEM,
                                "%s: out of memory after %zu bytes of rows", L->src->name,
                                rows->n);
        PQfreemem(row);
    }
    while ((res = PQgetResult(L->conn)) != NULL) {
        if (!rc && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = result_fail(L, err, "", res);
        PQclear(res);
    }
    return rc;
}

reco_status reco_pg_ratings_load(const char *uri, const reco_load_options *opt_in,
                                 reco_ratings **out, reco_error *err)
{
    *out = NULL;
    reco_pg_source *src = NULL;
    reco_status rc = reco_pg_source_parse(uri, &src, err);
    if (rc)
        return rc;
    reco_load_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        reco_load_options_default(&opt);
    opt.sep = ",";
    opt.header = 0;
    pg_load L = {uri, src, NULL};
    text copy = {0}, rows = {0};
    if (!(L.conn = reco_pg_connect(uri, src, err))) {
        rc = err ? err->code : RECO_ERR_IO;
        goto out;
    }
    if ((rc = build_copy(&L, &copy, err)))
        goto out;
    if ((rc = copy_rows(&L, copy.p, &rows, err)))
        goto out;
    PQfinish(L.conn);
    L.conn = NULL;
    rc = reco_parse_buffer(rows.p ? rows.p : "", rows.n, src->name, &opt, NULL, out, NULL, err);
out:
    PQfinish(L.conn);
    free(copy.p);
    free(rows.p);
    reco_pg_source_free(src);
    return rc;
}

#endif
