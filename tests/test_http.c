/* The REST API end to end: `reco serve` runs as a child process on a free
 * port with models trained here, and libcurl talks to it. Covers every
 * endpoint, every client-mistake answer, writes then reads, durability
 * across kill -9, reloads (good, corrupt, under load), auth and shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "reco/clock.h"
#include "reco/model.h"
#include "reco/ratings.h"
#include "testutil.h"

/* ---- pure pieces (no server needed) ---- */

static void test_pct_decode(void **state)
{
    (void)state;
    char out[64];
    long n = reco_http_pct_decode("a%2Fb%20c+d", 11, out);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "a/b c+d", 7);
    assert_int_equal(reco_http_pct_decode("%c3%BC", 6, out), 2);
    assert_memory_equal(out, "\xc3\xbc", 2);
    assert_int_equal(reco_http_pct_decode("%00", 3, out), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(reco_http_pct_decode("abc%", 4, out), -1);
    assert_int_equal(reco_http_pct_decode("abc%4", 5, out), -1);
    assert_int_equal(reco_http_pct_decode("%G0", 3, out), -1);
    assert_int_equal(reco_http_pct_decode("", 0, out), 0);
    assert_int_equal(reco_http_pct_decode("%41%42", 6, NULL), 2); /* counting only */
}

static void test_token_and_status_table(void **state)
{
    (void)state;
    assert_true(reco_http_token_equal("secret", 6, "secret", 6));
    assert_false(reco_http_token_equal("secreT", 6, "secret", 6));
    assert_false(reco_http_token_equal("secret2", 7, "secret", 6));
    assert_false(reco_http_token_equal("secre", 5, "secret", 6));
    assert_false(reco_http_token_equal("", 0, "secret", 6));
    assert_int_equal(reco_http_status_for(RECO_OK), 200);
    assert_int_equal(reco_http_status_for(RECO_ERR_INVALID), 400);
    assert_int_equal(reco_http_status_for(RECO_ERR_PARSE), 400);
    assert_int_equal(reco_http_status_for(RECO_ERR_NOT_FOUND), 404);
    assert_int_equal(reco_http_status_for(RECO_ERR_TOO_LARGE), 413);
    assert_int_equal(reco_http_status_for(RECO_ERR_IO), 500);
    assert_int_equal(reco_http_status_for(RECO_ERR_FORMAT), 500);
    assert_int_equal(reco_http_status_for(RECO_ERR_NOMEM), 503);
    assert_int_equal(reco_http_status_for(RECO_ERR_UNAVAILABLE), 503);
    /* Every client status is 4xx: nothing a client sends maps to 5xx. */
    for (int s = RECO_OK; s <= RECO_ERR_UNAVAILABLE; s++) {
        unsigned h = reco_http_status_for((reco_status)s);
        assert_true(h >= 200 && h < 600);
    }
}

#ifdef RECO_HAVE_CURL
#include <curl/curl.h>

/* ---- fixtures: data, models, files ---- */

#define N_USERS 300
#define N_ITEMS 120
#define SPECIAL_USER "slash/user \xc3\xbc"
#define SPECIAL_ITEM "odd/item \xc3\xbc"

static char g_dir[64];
static char g_mf[128], g_icf[128], g_pop[128], g_serve[128], g_log[128];

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Two tastes: even users like the first half of the catalogue, odd users
 * the second; each rates 20 liked and 5 disliked products. */
static char *make_ratings(size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    uint64_t seed = 42;
    for (int u = 0; u < N_USERS; u++) {
        unsigned char seen[N_ITEMS] = {0};
        for (int k = 0; k < 25; k++) {
            bool like = k < 20;
            int half = (u % 2 == 0) == like ? 0 : 1;
            int i;
            do
                i = half * (N_ITEMS / 2) + (int)(lcg(&seed) % (N_ITEMS / 2));
            while (seen[i]);
            seen[i] = 1;
            int r = like ? 4 + (int)(lcg(&seed) % 2) : 1 + (int)(lcg(&seed) % 2);
            n += (size_t)snprintf(buf + n, cap - n, "user%03d,item%03d,%d,%d\n", u, i, r,
                                  1500000000 + u * 100 + k);
        }
        if (u < 30)
            n += (size_t)snprintf(buf + n, cap - n, "user%03d,%s,5,1500000000\n", u, SPECIAL_ITEM);
    }
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s,item%03d,4,1500000000\n", SPECIAL_USER, i);
    *len = n;
    return buf;
}

/* Fits algo on ds and saves it to path; false when the algorithm cannot
 * write model files (yet). */
static bool train(const reco_dataset *ds, const char *algo, const char *path)
{
    reco_model *m = NULL;
    reco_error err;
    if (reco_model_new(algo, &m, &err))
        return false;
    if (!strcmp(algo, "mf") || !strcmp(algo, "svd")) {
        reco_model_set_param(m, "factors", "8", &err);
        reco_model_set_param(m, "epochs", "30", &err);
    }
    reco_fit_ctx ctx = {0};
    ctx.threads = 1;
    if (reco_model_fit(m, ds, &ctx, &err))
        fail_msg("%s: %s", algo, err.msg);
    bool ok = reco_model_save(m, path, &err) == RECO_OK;
    reco_model_free(m);
    return ok;
}

/* The served algorithm (A) is the first of these that can be saved; B,
 * the one reloads switch to, is another. Factor models fold new ratings
 * in; the stronger checks apply to them. */
static const char *g_algo_a, *g_algo_b;
static bool g_personal, g_folds;

static bool in_list(const char *a, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(a, *list))
            return true;
    return false;
}

static void copy_file(const char *from, const char *to)
{
    /* Written beside the target and renamed over it: the server maps the
     * model file, so it must never change in place. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb"), *out = fopen(tmp, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(rename(tmp, to), 0);
}

static void write_file(const char *path, const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- the server as a child process ---- */

typedef struct server {
    pid_t pid;
    int err_fd;        /* its stderr */
    unsigned port;
    char out[8192];    /* what it printed so far */
    size_t out_len;
} server;

static server g_srv;

/* Every server child still running, so that a failed test (cmocka leaves
 * it with a long jump) does not leave one behind: the group teardown
 * kills them. */
static pid_t g_children[32];

static void child_forget(pid_t pid)
{
    for (size_t k = 0; k < sizeof g_children / sizeof g_children[0]; k++)
        if (g_children[k] == pid)
            g_children[k] = 0;
}

static void child_remember(pid_t pid)
{
    for (size_t k = 0; k < sizeof g_children / sizeof g_children[0]; k++)
        if (!g_children[k]) {
            g_children[k] = pid;
            return;
        }
}

/* Reads the child's stderr until needle appears (true) or timeout_ms
 * passes or the child closes it (false). */
static bool server_wait_output(server *s, const char *needle, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t from = 0;
    for (;;) {
        s->out[s->out_len] = '\0';
        if (strstr(s->out + from, needle))
            return true;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms)
            return false;
        struct pollfd p = {s->err_fd, POLLIN, 0};
        if (poll(&p, 1, (int)(timeout_ms - el)) <= 0)
            continue;
        if (s->out_len + 1 >= sizeof s->out) {
            /* keep the newest half */
            size_t keep = sizeof s->out / 2;
            memmove(s->out, s->out + s->out_len - keep, keep);
            s->out_len = keep;
        }
        ssize_t r = read(s->err_fd, s->out + s->out_len, sizeof s->out - 1 - s->out_len);
        if (r <= 0)
            return false;
        s->out_len += (size_t)r;
    }
}

/* Starts `reco serve` with argv extra (NULL-terminated) on a free port;
 * env_token sets RECO_TOKEN in the child (NULL: unset). Returns 0 once it
 * listens, or the child's exit status if it exits first (-1 on timeout). */
static int server_start_args(server *s, const char *const *extra, const char *env_token)
{
    memset(s, 0, sizeof *s);
    int p[2];
    assert_int_equal(pipe(p), 0);
    const char *argv[32];
    int argc = 0;
    argv[argc++] = RECO_BIN;
    argv[argc++] = "serve";
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--threads";
    argv[argc++] = "2";
    for (int k = 0; extra[k]; k++)
        argv[argc++] = extra[k];
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (env_token)
            setenv("RECO_TOKEN", env_token, 1);
        else
            unsetenv("RECO_TOKEN");
        execv(RECO_BIN, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    child_remember(pid);
    s->pid = pid;
    s->err_fd = p[0];
    if (server_wait_output(s, "listening on http://", 20000)) {
        const char *l = strstr(s->out, "listening on http://127.0.0.1:");
        assert_non_null(l);
        s->port = (unsigned)atoi(l + strlen("listening on http://127.0.0.1:"));
        assert_true(s->port > 0);
        return 0;
    }
    int status = 0;
    for (int k = 0; k < 500; k++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            child_forget(pid);
            close(s->err_fd);
            s->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        usleep(10000);
    }
    print_error("server did not start:\n%s\n", s->out);
    return -1;
}

static int server_start(server *s, const char *model, const char *log, const char *token_file,
                        const char *env_token)
{
    const char *extra[8] = {"--model", model};
    int n = 2;
    if (log) {
        extra[n++] = "--ratings-log";
        extra[n++] = log;
        extra[n++] = "--create-ratings-log";
    }
    if (token_file) {
        extra[n++] = "--token-file";
        extra[n++] = token_file;
    }
    extra[n] = NULL;
    return server_start_args(s, extra, env_token);
}

/* Sends sig and waits (up to 15 s) for the exit; returns the exit status,
 * or 128 + signal number. */
static int server_stop(server *s, int sig)
{
    if (!s->pid)
        return -1;
    kill(s->pid, sig);
    int status = 0;
    pid_t r = 0;
    for (int k = 0; k < 1500 && r == 0; k++) {
        r = waitpid(s->pid, &status, WNOHANG);
        if (r == 0)
            usleep(10000);
    }
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        print_error("server did not stop on signal %d\n", sig);
        status = 255 << 8;
    }
    child_forget(s->pid);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (rc != 0) {
        /* Show what the server said last, so that a failure explains
         * itself in a CI log. */
        ssize_t r;
        while (s->out_len + 1 < sizeof s->out &&
               (r = read(s->err_fd, s->out + s->out_len, sizeof s->out - 1 - s->out_len)) > 0)
            s->out_len += (size_t)r;
        s->out[s->out_len] = '\0';
        size_t from = s->out_len > 2000 ? s->out_len - 2000 : 0;
        print_error("server exited with status %d; its last output:\n%s\n", rc, s->out + from);
    }
    close(s->err_fd);
    s->pid = 0;
    return rc;
}

static bool server_alive(const server *s)
{
    int status;
    return s->pid && waitpid(s->pid, &status, WNOHANG) == 0;
}

/* ---- HTTP client ---- */

typedef struct resp {
    long status;
    char *body;
    size_t len;
    char headers[4096];
    size_t hlen;
    json_t *json;
    long connects;   /* new connections curl opened for this request */
    long local_port; /* the client side of the connection used */
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

typedef struct upload {
    const char *data;
    size_t len, pos;
} upload;

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = sz * n < u->len - u->pos ? sz * n : u->len - u->pos;
    memcpy(p, u->data + u->pos, k);
    u->pos += k;
    return k;
}

typedef struct req {
    const char *method; /* NULL: GET, or POST when body is set */
    const char *path;
    const char *body;
    size_t body_len;    /* 0: strlen(body) */
    const char *ctype;  /* NULL: application/json for bodies; "" for none */
    const char *auth;   /* a bearer token */
    bool chunked;
    unsigned port;      /* 0: the shared server */
} req;

static resp do_req(CURL *c, const req *q)
{
    resp r = {0};
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", q->port ? q->port : g_srv.port, q->path);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *hs = NULL;
    upload up = {0};
    const char *method = q->method ? q->method : q->body ? "POST" : "GET";
    if (q->body) {
        size_t len = q->body_len ? q->body_len : strlen(q->body);
        if (q->chunked) {
            up.data = q->body;
            up.len = len;
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &up);
            hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        const char *ct = q->ctype ? q->ctype : "application/json";
        char h[256];
        snprintf(h, sizeof h, "Content-Type:%s%s", *ct ? " " : "", ct);
        hs = curl_slist_append(hs, h);
    } else if (q->ctype && *q->ctype) {
        char h[256];
        snprintf(h, sizeof h, "Content-Type: %s", q->ctype);
        hs = curl_slist_append(hs, h);
    }
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") && (strcmp(method, "POST") || !q->body))
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (q->auth) {
        char h[512];
        snprintf(h, sizeof h, "Authorization: Bearer %s", q->auth);
        hs = curl_slist_append(hs, h);
    }
    if (hs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hs);
    if (cc != CURLE_OK) {
        r.status = -1;
        return r;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r.connects);
    curl_easy_getinfo(c, CURLINFO_LOCAL_PORT, &r.local_port);
    if (r.body)
        r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

static CURL *g_curl;

static resp R(const req *q)
{
    return do_req(g_curl, q);
}

static resp GET(const char *path)
{
    req q = {.path = path};
    return R(&q);
}

static resp POST(const char *path, const char *body)
{
    req q = {.path = path, .body = body};
    return R(&q);
}

static void resp_free(resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static const char *err_msg(const resp *r)
{
    const char *m = json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m ? m : "";
}

/* Expects status and (for errors) the error envelope with message_part. */
static void expect(const req *q, long status, const char *message_part)
{
    resp r = R(q);
    if (r.status != status || (message_part && !strstr(err_msg(&r), message_part)))
        fail_msg("%s %s: got %ld %s, want %ld with \"%s\"",
                 q->method ? q->method : q->body ? "POST" : "GET", q->path, r.status,
                 r.body ? r.body : "", status, message_part ? message_part : "");
    if (status >= 400) {
        json_t *e = json_object_get(r.json, "error");
        assert_non_null(e);
        assert_int_equal(json_integer_value(json_object_get(e, "status")), status);
        assert_true(json_string_length(json_object_get(e, "message")) > 0);
    }
    resp_free(&r);
}

static json_t *find_item(json_t *items, const char *id)
{
    size_t k;
    json_t *v;
    json_array_foreach(items, k, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "item")), id))
            return v;
    }
    return NULL;
}

/* ---- raw sockets: byte-exact requests, pipelining, slow clients ---- */

static uint64_t ms_now(void)
{
    return reco_clock_ns() / 1000000u;
}

/* A connection to 127.0.0.1:port from the local address src (NULL: any;
 * every 127.x.y.z address is on the loopback interface, so a test can be
 * several clients). -1 when the connection fails. */
static int raw_connect(unsigned port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    if (src) {
        inet_pton(AF_INET, src, &a.sin_addr);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            close(fd);
            return -1;
        }
    }
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool raw_send(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        data += w;
        len -= (size_t)w;
    }
    return true;
}

static bool raw_sends(int fd, const char *s)
{
    return raw_send(fd, s, strlen(s));
}

/* What has arrived on one connection and not been parsed yet. */
typedef struct rbuf {
    int fd;
    char data[1 << 16];
    size_t len;
    bool eof;
} rbuf;

/* Reads more into b, waiting up to timeout_ms; false on timeout, EOF or
 * a reset. */
static bool rbuf_fill(rbuf *b, int timeout_ms)
{
    if (b->eof || b->len + 1 >= sizeof b->data)
        return false;
    struct pollfd p = {b->fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    ssize_t r = recv(b->fd, b->data + b->len, sizeof b->data - 1 - b->len, 0);
    if (r <= 0) {
        b->eof = true;
        return false;
    }
    b->len += (size_t)r;
    b->data[b->len] = '\0';
    return true;
}

typedef struct raw_resp {
    int status;          /* 0: no complete answer */
    char head[4096];     /* status line and headers */
    char body[1 << 16];
    size_t body_len;
    json_t *json;
} raw_resp;

/* One complete answer from b (by its Content-Length), within timeout_ms. */
static bool raw_read(rbuf *b, raw_resp *r, int timeout_ms)
{
    memset(r, 0, sizeof *r);
    uint64_t end = ms_now() + (uint64_t)timeout_ms;
    for (;;) {
        b->data[b->len] = '\0';
        char *e = strstr(b->data, "\r\n\r\n");
        if (e) {
            size_t hl = (size_t)(e - b->data) + 4;
            const char *cl = strcasestr(b->data, "\r\nContent-Length:");
            size_t blen = cl && cl < e ? strtoul(cl + 17, NULL, 10) : 0;
            if (b->len >= hl + blen) {
                size_t keep = hl < sizeof r->head ? hl : sizeof r->head - 1;
                memcpy(r->head, b->data, keep);
                r->head[keep] = '\0';
                size_t bk = blen < sizeof r->body ? blen : sizeof r->body - 1;
                memcpy(r->body, b->data + hl, bk);
                r->body[bk] = '\0';
                r->body_len = blen;
                r->status = atoi(b->data + 9);
                r->json = json_loadb(r->body, bk, 0, NULL);
                memmove(b->data, b->data + hl + blen, b->len - hl - blen);
                b->len -= hl + blen;
                return true;
            }
        }
        uint64_t now = ms_now();
        if (now >= end || !rbuf_fill(b, (int)(end - now)))
            return false;
    }
}

/* Whether the server closed the connection (EOF or reset) within
 * timeout_ms; whatever arrives before that is read and dropped. */
static bool raw_closed_within(int fd, int timeout_ms)
{
    uint64_t end = ms_now() + (uint64_t)timeout_ms;
    char buf[4096];
    for (;;) {
        uint64_t now = ms_now();
        if (now >= end)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(end - now)) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0)
            return true;
    }
}

static void raw_resp_free(raw_resp *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* The error envelope of a raw answer: JSON {"error": {"status": N, ...}}
 * with the HTTP status N and a message containing part. */
static void expect_raw_error(const raw_resp *r, int status, const char *part)
{
    if (r->status != status)
        fail_msg("got status %d, want %d:\n%s%s", r->status, status, r->head, r->body);
    if (!strcasestr(r->head, "Content-Type: application/json"))
        fail_msg("the %d answer is not JSON:\n%s%s", status, r->head, r->body);
    json_t *e = json_object_get(r->json, "error");
    if (!e || json_integer_value(json_object_get(e, "status")) != status)
        fail_msg("the %d answer is not the error envelope: %s", status, r->body);
    const char *m = json_string_value(json_object_get(e, "message"));
    if (part && (!m || !strstr(m, part)))
        fail_msg("the %d message \"%s\" does not say \"%s\"", status, m ? m : "", part);
}

/* Sends req on a new connection and reads one answer. */
static raw_resp raw_exchange(unsigned port, const char *req, size_t len, int timeout_ms)
{
    raw_resp r = {0};
    int fd = raw_connect(port, NULL);
    assert_true(fd >= 0);
    rbuf *b = calloc(1, sizeof *b);
    b->fd = fd;
    raw_send(fd, req, len);
    raw_read(b, &r, timeout_ms);
    free(b);
    close(fd);
    return r;
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    strcpy(g_dir, "/tmp/reco-http-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_mf, sizeof g_mf, "%s/mf.reco", g_dir);
    snprintf(g_icf, sizeof g_icf, "%s/itemcf.reco", g_dir);
    snprintf(g_pop, sizeof g_pop, "%s/popular.reco", g_dir);
    snprintf(g_serve, sizeof g_serve, "%s/serve.reco", g_dir);
    snprintf(g_log, sizeof g_log, "%s/ratings-log.csv", g_dir);
    size_t len;
    char *text = make_ratings(&len);
    reco_ratings *r = NULL;
    reco_error err;
    reco_load_options lo;
    reco_load_options_default(&lo);
    lo.rating_min = 1;
    if (reco_ratings_parse(text, len, "synthetic", &lo, &r, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    free(text);
    reco_dataset *ds = NULL;
    if (reco_dataset_build(r, NULL, &ds, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    reco_ratings_free(r);
    static const char *const prefer_a[] = {"mf", "svd", "itemcf", "usercf", "baseline", NULL};
    static const char *const prefer_b[] = {"itemcf", "usercf", "svd", "mf", "popular", NULL};
    for (size_t k = 0; prefer_a[k] && !g_algo_a; k++)
        if (train(ds, prefer_a[k], g_mf))
            g_algo_a = prefer_a[k];
    for (size_t k = 0; prefer_b[k] && !g_algo_b; k++)
        if (strcmp(prefer_b[k], g_algo_a) && train(ds, prefer_b[k], g_icf))
            g_algo_b = prefer_b[k];
    if (!g_algo_a || !g_algo_b || !train(ds, "popular", g_pop))
        return -1;
    static const char *const personal[] = {"mf", "svd", "itemcf", "usercf", NULL};
    static const char *const folds[] = {"mf", "svd", NULL};
    g_personal = in_list(g_algo_a, personal);
    g_folds = in_list(g_algo_a, folds);
    if (strcmp(g_algo_a, "mf"))
        fprintf(stderr, "note: serving %s and %s (mf cannot be saved in this build)\n", g_algo_a,
                g_algo_b);
    reco_dataset_free(ds);
    copy_file(g_mf, g_serve);
    if (server_start(&g_srv, g_serve, g_log, NULL, NULL) != 0)
        return -1;
    g_curl = curl_easy_init();
    return 0;
}

static void rm_dir(const char *dir)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

static int group_teardown(void **state)
{
    (void)state;
    if (g_srv.pid)
        server_stop(&g_srv, SIGKILL);
    for (size_t k = 0; k < sizeof g_children / sizeof g_children[0]; k++)
        if (g_children[k]) {
            kill(g_children[k], SIGKILL);
            waitpid(g_children[k], NULL, 0);
        }
    curl_easy_cleanup(g_curl);
    curl_global_cleanup();
    rm_dir(g_dir);
    return 0;
}

/* ---- endpoints ---- */

static void test_read_endpoints(void **state)
{
    (void)state;
    resp r = GET("/healthz");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
    assert_non_null(strstr(r.headers, "Content-Type: application/json"));
    resp_free(&r);

    r = GET("/v1/model");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "algorithm")), g_algo_a);
    assert_int_equal(json_integer_value(json_object_get(r.json, "users")), N_USERS + 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "items")), N_ITEMS + 1);
    resp_free(&r);

    r = GET("/v1/users/user000/recommendations");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "user")), "user000");
    assert_string_equal(json_string_value(json_object_get(r.json, "algorithm")), g_algo_a);
    assert_true(json_is_false(json_object_get(r.json, "cold_start")));
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 10); /* default n */
    double prev = INFINITY;
    int liked_half = 0;
    for (size_t k = 0; k < 10; k++) {
        json_t *it = json_array_get(items, k);
        const char *id = json_string_value(json_object_get(it, "item"));
        assert_non_null(id);
        double s = json_number_value(json_object_get(it, "score"));
        assert_true(s <= prev);
        prev = s;
        if (strncmp(id, "item", 4) == 0 && atoi(id + 4) < N_ITEMS / 2)
            liked_half++;
    }
    if (g_personal)
        assert_true(liked_half >= 8); /* user000 (even) likes the first half */
    resp_free(&r);

    r = GET("/v1/users/user001/recommendations?n=3&exclude_rated=false");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 3);
    resp_free(&r);

    r = GET("/v1/users/nobody-at-all/recommendations?n=5");
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "cold_start")));
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 5);
    resp_free(&r);

    r = GET("/v1/items/item003/similar?n=4");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "item")), "item003");
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 4);
    assert_null(find_item(json_object_get(r.json, "items"), "item003"));
    resp_free(&r);

    r = GET("/v1/users/user050/ratings");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "ratings")), 25);
    json_t *first = json_array_get(json_object_get(r.json, "ratings"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "source")), "training");
    resp_free(&r);

    r = GET("/v1/predict?user=user000&item=item001");
    assert_int_equal(r.status, 200);
    double p = json_number_value(json_object_get(r.json, "prediction"));
    assert_true(p >= 1 && p <= 5);
    assert_true(json_is_true(json_object_get(r.json, "known_user")));
    resp_free(&r);

    /* A product the model never saw is 404 for similar; an unknown user
     * has no ratings. */
    req q = {.path = "/v1/items/no-such-item/similar"};
    expect(&q, 404, "no-such-item");
    q.path = "/v1/users/no-such-user/ratings";
    expect(&q, 404, "no-such-user");

    /* HEAD is GET without the body. */
    q.method = "HEAD";
    q.path = "/healthz";
    r = R(&q);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    resp_free(&r);
}

/* Connections are kept open: curl's second request reuses the first's
 * connection, after answers of every kind (200, 404, 201, 400), and
 * requests pipelined in one write are all answered, in order. */
static void test_keep_alive(void **state)
{
    (void)state;
    resp r = GET("/healthz");
    assert_int_equal(r.status, 200);
    assert_null(strcasestr(r.headers, "Connection: close"));
    long port = r.local_port;
    resp_free(&r);
    static const char *const next[] = {"/v1/model", "/nowhere", "/v1/users/user001/ratings",
                                       "/v1/users/user000/recommendations?n=0", "/healthz"};
    for (size_t k = 0; k < sizeof next / sizeof next[0]; k++) {
        r = GET(next[k]);
        assert_true(r.status == 200 || r.status == 404 || r.status == 400);
        if (r.connects != 0 || r.local_port != port)
            fail_msg("GET %s opened a new connection (the previous one was closed)", next[k]);
        resp_free(&r);
    }
    /* A POST whose body is read and refused (nothing is written, so the
     * counts later tests check stay as they are). */
    r = POST("/v1/ratings", "{\"user\":\"keepalive\",\"item\":\"item002\",\"rating\":9}");
    assert_int_equal(r.status, 400);
    assert_int_equal(r.connects, 0);
    resp_free(&r);
    r = GET("/v1/users/user002/ratings");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.connects, 0);
    assert_int_equal(r.local_port, port);
    resp_free(&r);

    /* Three requests in one write: three answers on the one connection. */
    int fd = raw_connect(g_srv.port, NULL);
    assert_true(fd >= 0);
    rbuf *b = calloc(1, sizeof *b);
    b->fd = fd;
    assert_true(raw_sends(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                              "GET /v1/users/user000/recommendations?n=2 HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n\r\n"
                              "GET /v1/nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    raw_resp a;
    assert_true(raw_read(b, &a, 5000));
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(json_object_get(a.json, "status")), "ok");
    raw_resp_free(&a);
    if (!raw_read(b, &a, 5000))
        fail_msg("the second pipelined request was not answered");
    assert_int_equal(a.status, 200);
    assert_int_equal(json_array_size(json_object_get(a.json, "items")), 2);
    raw_resp_free(&a);
    if (!raw_read(b, &a, 5000))
        fail_msg("the third pipelined request was not answered");
    expect_raw_error(&a, 404, "no endpoint");
    raw_resp_free(&a);
    /* And the connection is still open for more. */
    assert_true(raw_sends(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    assert_true(raw_read(b, &a, 5000));
    assert_int_equal(a.status, 200);
    raw_resp_free(&a);
    /* "Connection: close" from the client is honoured. */
    assert_true(raw_sends(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n"));
    assert_true(raw_read(b, &a, 5000));
    assert_int_equal(a.status, 200);
    assert_non_null(strcasestr(a.head, "Connection: close"));
    raw_resp_free(&a);
    assert_true(raw_closed_within(fd, 5000));
    free(b);
    close(fd);
}

static bool has_line_prefix(const char *text, const char *prefix, double *value)
{
    const char *p = text;
    size_t pl = strlen(prefix);
    while (p && *p) {
        if (!strncmp(p, prefix, pl) && p[pl] == ' ') {
            if (value)
                *value = atof(p + pl + 1);
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

/* ---- hardening: framing, sizes, Host, admin writes, caps, deadlines ---- */

/* One answer to req sent on a new connection from 127.0.0.1. */
static raw_resp raw_ask(unsigned port, const char *req, size_t len)
{
    raw_resp r = raw_exchange(port, req, len ? len : strlen(req), 5000);
    if (!r.status)
        fail_msg("no answer to:\n%.200s", req);
    return r;
}

/* The answer to req, on a new connection, is the JSON error envelope with
 * status and a message containing part. */
static void expect_refusal(unsigned port, const char *req, size_t len, int status,
                           const char *part)
{
    raw_resp r = raw_ask(port, req, len);
    expect_raw_error(&r, status, part);
    raw_resp_free(&r);
}

/* A request with a header of hdr_bytes bytes, or a path of path_bytes. */
static char *big_request(size_t path_bytes, size_t hdr_bytes, size_t *len)
{
    size_t cap = path_bytes + hdr_bytes + 256;
    char *q = malloc(cap);
    size_t n = (size_t)snprintf(q, cap, "GET /");
    memset(q + n, 'p', path_bytes);
    n += path_bytes;
    n += (size_t)snprintf(q + n, cap - n, " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
    memset(q + n, 'h', hdr_bytes);
    n += hdr_bytes;
    n += (size_t)snprintf(q + n, cap - n, "\r\n\r\n");
    *len = n;
    return q;
}

/* Ambiguous framing is refused (400), an unsupported transfer coding too
 * (501, at once rather than a hang), and every refusal, also the ones
 * libmicrohttpd makes before the handler runs, is the JSON envelope, once. */
static void test_framing_and_error_bodies(void **state)
{
    (void)state;
    unsigned port = g_srv.port;
    expect_refusal(port,
                   "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
                   0, 400, "Content-Length headers that differ");
    expect_refusal(port,
                   "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                   0, 400, "both Transfer-Encoding and Content-Length");
    uint64_t t0 = ms_now();
    expect_refusal(port,
                   "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: gzip\r\n\r\n{}",
                   0, 501, "Transfer-Encoding \"gzip\" is not supported");
    assert_true(ms_now() - t0 < 2000);
    expect_refusal(port,
                   "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                   0, 501, "not supported");
    /* The same header repeated with one value is not ambiguous. */
    raw_resp r = raw_ask(port, "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\nContent-Length: 2\r\n"
                               "Content-Length: 2\r\n\r\n{}", 0);
    expect_raw_error(&r, 400, "\"user\" is missing");
    raw_resp_free(&r);

    /* Sizes: under libmicrohttpd's buffer the server's own message, over
     * it the library's refusal, both JSON. */
    size_t len;
    char *q = big_request(10000, 0, &len);
    expect_refusal(port, q, len, 414, "the limit is 8192");
    free(q);
    q = big_request(60000, 0, &len);
    expect_refusal(port, q, len, 414, "request line");
    free(q);
    q = big_request(0, 20000, &len);
    expect_refusal(port, q, len, 431, "the limit is 16384");
    free(q);
    q = big_request(0, 60000, &len);
    expect_refusal(port, q, len, 431, "headers");
    free(q);
    /* Refused by the library: a Content-Length that is not a number (its
     * answer used to carry the status line twice), a line that is not a
     * header, an HTTP version it does not speak. */
    static const char *const lib[][2] = {
        {"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n", "400"},
        {"POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Content-Length: 99999999999999999999999\r\n\r\n", "413"},
        {"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n", "400"},
        {"GET /healthz HTTP/3.7\r\nHost: 127.0.0.1\r\n\r\n", "505"},
    };
    for (size_t k = 0; k < sizeof lib / sizeof lib[0]; k++) {
        r = raw_ask(port, lib[k][0], 0);
        expect_raw_error(&r, atoi(lib[k][1]), NULL);
        if (!strncmp(r.body, "HTTP/", 5))
            fail_msg("a second status line in the body: %s", r.body);
        raw_resp_free(&r);
    }
    /* Refused in the middle of a chunked body. */
    r = raw_ask(port, "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "zz\r\n{}\r\n0\r\n\r\n", 0);
    expect_raw_error(&r, 400, NULL);
    raw_resp_free(&r);
    /* And the server is fine. */
    resp ok = GET("/healthz");
    assert_int_equal(ok.status, 200);
    resp_free(&ok);
}

/* On a loopback address only loopback names are answered (a web page that
 * has its own name resolve to 127.0.0.1 cannot read the API); --allow-host
 * adds names. */
static void test_host_check(void **state)
{
    (void)state;
    static const char *const ok[] = {"127.0.0.1", "127.0.0.1:8080", "localhost", "LocalHost:1",
                                     "localhost.", "127.3.4.5", "[::1]", "[::1]:9"};
    static const char *const bad[] = {"evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                                      "localhost.evil.example", "10.0.0.1", "[::2]", "",
                                      "localhost:80x", "[::1"};
    char req[256];
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        snprintf(req, sizeof req, "GET /v1/model HTTP/1.1\r\nHost: %s\r\n\r\n", ok[k]);
        raw_resp r = raw_ask(g_srv.port, req, 0);
        if (r.status != 200)
            fail_msg("Host %s: %d %s", ok[k], r.status, r.body);
        raw_resp_free(&r);
    }
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(req, sizeof req, "GET /v1/users/user000/ratings HTTP/1.1\r\nHost: %s\r\n\r\n",
                 bad[k]);
        expect_refusal(g_srv.port, req, 0, 421, "does not answer for Host");
    }
    /* Two Host headers, or none in HTTP/1.1: 400; HTTP/1.0 needs none. */
    expect_refusal(g_srv.port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
                   0, 400, "more than one Host");
    expect_refusal(g_srv.port, "GET /healthz HTTP/1.1\r\n\r\n", 0, 400, "needs a Host header");
    raw_resp r = raw_ask(g_srv.port, "GET /healthz HTTP/1.0\r\n\r\n", 0);
    assert_int_equal(r.status, 200);
    raw_resp_free(&r);

    server s;
    const char *extra[] = {"--model", g_mf, "--allow-host", "reco.internal, Api.Example:8080",
                           "--allow-host", "[fd00::1]", NULL};
    assert_int_equal(server_start_args(&s, extra, NULL), 0);
    static const char *const allowed[] = {"reco.internal", "reco.internal:99", "api.example",
                                          "API.EXAMPLE:1", "[fd00::1]:80", "localhost"};
    for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++) {
        snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", allowed[k]);
        r = raw_ask(s.port, req, 0);
        if (r.status != 200)
            fail_msg("Host %s with --allow-host: %d %s", allowed[k], r.status, r.body);
        raw_resp_free(&r);
    }
    expect_refusal(s.port, "GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n", 0, 421,
                   "--allow-host");
    expect_refusal(s.port, "GET /healthz HTTP/1.1\r\nHost: sub.reco.internal\r\n\r\n", 0, 421,
                   NULL);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    const char *extra2[] = {"--model", g_mf, "--allow-host", "bad/host", NULL};
    assert_int_equal(server_start_args(&s, extra2, NULL), 2);
    assert_non_null(strstr(s.out, "bad allowed host"));
}

/* A web page on another site can POST text/plain to a loopback server
 * without asking the browser first: the admin endpoint takes a write only
 * with the JSON type (or the token), so the reload does not happen. */
static void test_admin_writes_need_json_or_token(void **state)
{
    (void)state;
    server s;
    assert_int_equal(server_start(&s, g_mf, NULL, NULL, NULL), 0);
    req mq = {.path = "/metrics", .port = s.port};
    expect_refusal(s.port,
                   "POST /v1/admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Origin: http://evil.example\r\nContent-Type: text/plain\r\n"
                   "Content-Length: 0\r\n\r\n",
                   0, 415, "application/json");
    expect_refusal(s.port,
                   "POST /v1/admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b",
                   0, 415, NULL);
    expect_refusal(s.port,
                   "POST /v1/admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n",
                   0, 415, "got none");
    resp m = R(&mq);
    double v = -1;
    assert_true(has_line_prefix(m.body, "reco_model_reloads_total", &v));
    assert_int_equal((int)v, 0);
    resp_free(&m);
    /* With the JSON type it is done. */
    raw_resp r = raw_ask(s.port, "POST /v1/admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 "Content-Type: application/json; charset=utf-8\r\n"
                                 "Content-Length: 0\r\n\r\n", 0);
    assert_int_equal(r.status, 200);
    raw_resp_free(&r);
    m = R(&mq);
    assert_true(has_line_prefix(m.body, "reco_model_reloads_total", &v));
    assert_int_equal((int)v, 1);
    resp_free(&m);
    assert_int_equal(server_stop(&s, SIGTERM), 0);

    /* With a token the token decides: text/plain without it is 401, with
     * it 200. */
    char tokfile[160];
    snprintf(tokfile, sizeof tokfile, "%s/admin-token", g_dir);
    write_file(tokfile, "adm1n\n");
    assert_int_equal(server_start(&s, g_mf, NULL, tokfile, NULL), 0);
    expect_refusal(s.port,
                   "POST /v1/admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
                   0, 401, "token");
    r = raw_ask(s.port, "POST /v1/admin/reload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: Bearer adm1n\r\nContent-Type: text/plain\r\n"
                        "Content-Length: 0\r\n\r\n", 0);
    assert_int_equal(r.status, 200);
    raw_resp_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* Client bytes in the request log are escaped: one request, one line, no
 * terminal escape sequences. */
static void test_request_log_escaped(void **state)
{
    (void)state;
    server s;
    const char *extra[] = {"--model", g_mf, "--log-requests", NULL};
    assert_int_equal(server_start_args(&s, extra, NULL), 0);
    raw_resp r = raw_ask(s.port, "GET /a\x01" "b\x1b[31mred\x7f\\%0Aend HTTP/1.1\r\n"
                                 "Host: 127.0.0.1\r\n\r\n", 0);
    assert_int_equal(r.status, 404);
    raw_resp_free(&r);
    assert_true(server_wait_output(&s, "end 404", 5000));
    const char *line = strstr(s.out, "GET /a");
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    assert_non_null(eol);
    char got[256];
    snprintf(got, sizeof got, "%.*s", (int)(eol - line), line);
    assert_non_null(strstr(got, "GET /a\\x01b\\x1b[31mred\\x7f\\x5c%0Aend 404"));
    for (const char *p = got; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    assert_null(strchr(s.out, '\x1b'));
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* A client that sends a header line now and then (never idle long
 * enough for an inactivity timeout) is cut at the header deadline with
 * 408, one that trickles its body at the body deadline, and a kept-alive
 * connection with nothing to do at the idle one; others are served
 * meanwhile. */
static void test_deadlines(void **state)
{
    (void)state;
    server s;
    const char *extra[] = {"--model", g_mf, "--ratings-log", g_log, "--create-ratings-log",
                           "--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "2",
                           NULL};
    /* The shared server has the log open: this one writes its own. */
    char log2[160];
    snprintf(log2, sizeof log2, "%s/deadline-log.csv", g_dir);
    extra[3] = log2;
    assert_int_equal(server_start_args(&s, extra, NULL), 0);

    for (int body = 0; body < 2; body++) {
        int fd = raw_connect(s.port, "127.0.0.2");
        assert_true(fd >= 0);
        uint64_t t0 = ms_now();
        assert_true(raw_sends(fd, body ? "POST /v1/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                         "Content-Type: application/json\r\n"
                                         "Content-Length: 100\r\n\r\n["
                                       : "GET /healthz HTTP/1.1\r\n"));
        rbuf *b = calloc(1, sizeof *b);
        b->fd = fd;
        raw_resp a = {0};
        bool answered = false;
        /* A byte or a header line every 200 ms for up to 6 s. */
        while (!answered && ms_now() - t0 < 6000) {
            answered = raw_read(b, &a, 200);
            if (!answered && !b->eof)
                raw_sends(fd, body ? " " : "X-Slow: 1\r\n");
            if (b->eof)
                break;
            /* Another client is served meanwhile, at once. */
            uint64_t q0 = ms_now();
            raw_resp o = raw_ask(s.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0);
            assert_int_equal(o.status, 200);
            raw_resp_free(&o);
            assert_true(ms_now() - q0 < 1000);
        }
        uint64_t took = ms_now() - t0;
        if (!answered)
            fail_msg("the slow %s was not cut (%llu ms)", body ? "body" : "headers",
                     (unsigned long long)took);
        expect_raw_error(&a, 408, body ? "body did not arrive within 1.000 s"
                                       : "line and headers did not arrive within 1.000 s");
        raw_resp_free(&a);
        assert_true(took >= 900 && took < 3000);
        assert_true(raw_closed_within(fd, 2000));
        free(b);
        close(fd);
    }

    /* The deadline is per request on a kept-alive connection: a second
     * request well after the first opened is served. */
    int fd = raw_connect(s.port, NULL);
    rbuf *b = calloc(1, sizeof *b);
    b->fd = fd;
    raw_resp a;
    for (int k = 0; k < 2; k++) {
        assert_true(raw_sends(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        assert_true(raw_read(b, &a, 2000));
        assert_int_equal(a.status, 200);
        raw_resp_free(&a);
        usleep(1300 * 1000); /* past the header timeout, within the idle one */
    }
    /* Then idle: closed at the idle timeout (2 s after its last answer),
     * without an answer. */
    uint64_t t0 = ms_now();
    assert_true(raw_closed_within(fd, 3000));
    assert_true(ms_now() - t0 < 3000);
    assert_int_equal(b->len, 0);
    free(b);
    close(fd);

    resp m = {0};
    req q = {.path = "/metrics", .port = s.port};
    m = R(&q);
    double v = 0;
    assert_true(has_line_prefix(m.body, "reco_http_connections_timed_out_total{phase=\"headers\"}", &v));
    assert_true(v >= 1);
    assert_true(has_line_prefix(m.body, "reco_http_connections_timed_out_total{phase=\"body\"}", &v));
    assert_true(v >= 1);
    assert_true(has_line_prefix(m.body, "reco_http_connections_timed_out_total{phase=\"idle\"}", &v));
    assert_true(v >= 1);
    resp_free(&m);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* The server's open connections within the caps and over one, from its
 * metrics (asked on a connection of its own, which counts; the server
 * closes it, and has let it go shortly after the client sees the end). */
static void open_connections(unsigned port, double *admitted, double *over)
{
    static const char q[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    int fd = raw_connect(port, NULL);
    assert_true(fd >= 0);
    assert_true(raw_sends(fd, q));
    rbuf *b = calloc(1, sizeof *b);
    b->fd = fd;
    raw_resp r;
    assert_true(raw_read(b, &r, 2000));
    assert_int_equal(r.status, 200);
    assert_true(has_line_prefix(r.body, "reco_http_connections_open{state=\"admitted\"}", admitted));
    assert_true(has_line_prefix(r.body, "reco_http_connections_open{state=\"over_cap\"}", over));
    raw_resp_free(&r);
    assert_true(raw_closed_within(fd, 2000));
    free(b);
    close(fd);
    usleep(50 * 1000);
}

/* Connections over a cap are answered 503 and closed, also when they send
 * nothing; clients within the caps are served meanwhile. */
static void test_connection_caps(void **state)
{
    (void)state;
    enum { PER_IP = 8, TOTAL = 40, FLOOD = 60 };
    server s;
    const char *extra[] = {"--model", g_mf, "--max-connections", "40",
                           "--max-connections-per-ip", "8", "--header-timeout", "30", NULL};
    assert_int_equal(server_start_args(&s, extra, NULL), 0);

    /* An idle flood from one address: the first PER_IP are held, the rest
     * are told 503 within about a second, without sending a byte. */
    int flood[FLOOD];
    for (int k = 0; k < FLOOD; k++) {
        flood[k] = raw_connect(s.port, "127.0.0.2");
        assert_true(flood[k] >= 0);
    }
    uint64_t q0 = ms_now();
    raw_resp o = raw_ask(s.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0);
    assert_int_equal(o.status, 200);
    raw_resp_free(&o);
    assert_true(ms_now() - q0 < 1000);
    /* Which ones are held depends on the order the server's threads took
     * them in: the count is what matters. Past the second of grace every
     * refusal has been written. */
    usleep(1500 * 1000);
    int refused = 0, held = 0, first_held = -1;
    for (int k = 0; k < FLOOD; k++) {
        rbuf *b = calloc(1, sizeof *b);
        b->fd = flood[k];
        raw_resp a;
        if (raw_read(b, &a, 200)) {
            expect_raw_error(&a, 503, "too many connections from your address");
            raw_resp_free(&a);
            assert_true(raw_closed_within(flood[k], 2000));
            refused++;
        } else if (!b->eof) {
            held++;
            if (first_held < 0)
                first_held = k;
        }
        free(b);
    }
    assert_int_equal(held, PER_IP);
    assert_int_equal(refused, FLOOD - PER_IP);
    /* The held ones are still served. */
    assert_true(raw_sends(flood[first_held], "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    rbuf *b = calloc(1, sizeof *b);
    b->fd = flood[first_held];
    raw_resp a;
    assert_true(raw_read(b, &a, 2000));
    assert_int_equal(a.status, 200);
    raw_resp_free(&a);
    free(b);
    /* One over the cap that sends its request at once is told 503 at once. */
    int extra_fd = raw_connect(s.port, "127.0.0.2");
    assert_true(raw_sends(extra_fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    b = calloc(1, sizeof *b);
    b->fd = extra_fd;
    q0 = ms_now();
    assert_true(raw_read(b, &a, 2000));
    expect_raw_error(&a, 503, "too many connections");
    raw_resp_free(&a);
    assert_true(ms_now() - q0 < 500);
    assert_true(raw_closed_within(extra_fd, 2000));
    free(b);
    close(extra_fd);
    for (int k = 0; k < FLOOD; k++)
        close(flood[k]);
    /* Closed connections are released. */
    double adm = -1, over = -1;
    for (int k = 0; k < 100 && !(adm == 1 && over == 0); k++) {
        if (k)
            usleep(20 * 1000);
        open_connections(s.port, &adm, &over);
    }
    assert_int_equal((int)adm, 1);
    assert_int_equal((int)over, 0);

    /* The total cap: fill it from several addresses; the next client is
     * told 503; once connections close, clients are served again. */
    int fill[TOTAL], n = 0;
    for (int a4 = 3; n < TOTAL; a4++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", a4);
        for (int k = 0; k < PER_IP && n < TOTAL; k++)
            assert_true((fill[n++] = raw_connect(s.port, src)) >= 0);
    }
    /* Asked on one of them: wait until the server has them all. */
    rbuf *fb = calloc(1, sizeof *fb);
    fb->fd = fill[0];
    double open_now = 0;
    for (int k = 0; k < 100 && open_now < TOTAL; k++) {
        assert_true(raw_sends(fill[0], "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        assert_true(raw_read(fb, &a, 2000));
        assert_int_equal(a.status, 200);
        assert_true(has_line_prefix(a.body, "reco_http_connections_open{state=\"admitted\"}",
                                    &open_now));
        raw_resp_free(&a);
        if (open_now < TOTAL)
            usleep(20 * 1000);
    }
    free(fb);
    assert_int_equal((int)open_now, TOTAL);
    expect_refusal(s.port, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0, 503,
                   "all the connections it takes");
    for (int k = 0; k < TOTAL; k++)
        close(fill[k]);
    raw_resp ok = {0};
    for (int k = 0; k < 50 && ok.status != 200; k++) {
        raw_resp_free(&ok);
        usleep(20 * 1000);
        static const char hz[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        ok = raw_exchange(s.port, hz, sizeof hz - 1, 2000);
    }
    assert_int_equal(ok.status, 200);
    raw_resp_free(&ok);

    req q = {.path = "/metrics", .port = s.port};
    resp m = R(&q);
    double v = 0;
    assert_true(has_line_prefix(m.body, "reco_http_connections_refused_total{cap=\"per_ip\"}", &v));
    assert_true(v >= FLOOD - PER_IP + 1);
    assert_true(has_line_prefix(m.body, "reco_http_connections_refused_total{cap=\"total\"}", &v));
    assert_true(v >= 1);
    resp_free(&m);
    assert_int_equal(server_stop(&s, SIGTERM), 0);

    /* Bad values are usage errors. */
    const char *bad1[] = {"--model", g_mf, "--max-connections", "0", NULL};
    assert_int_equal(server_start_args(&s, bad1, NULL), 2);
    const char *bad2[] = {"--model", g_mf, "--header-timeout", "0.01", NULL};
    assert_int_equal(server_start_args(&s, bad2, NULL), 2);
    const char *bad3[] = {"--model", g_mf, "--idle-timeout", "1.5", NULL};
    assert_int_equal(server_start_args(&s, bad3, NULL), 2);
}

/* Shutdown does not wait for kept-alive connections that have nothing to
 * do, nor for ones that never sent a request. */
static void test_shutdown_closes_idle(void **state)
{
    (void)state;
    server s;
    const char *extra[] = {"--model", g_mf, NULL};
    assert_int_equal(server_start_args(&s, extra, NULL), 0);
    int used = raw_connect(s.port, NULL), fresh = raw_connect(s.port, NULL);
    assert_true(used >= 0 && fresh >= 0);
    assert_true(raw_sends(used, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    rbuf *b = calloc(1, sizeof *b);
    b->fd = used;
    raw_resp a;
    assert_true(raw_read(b, &a, 2000));
    assert_int_equal(a.status, 200);
    assert_null(strcasestr(a.head, "Connection: close"));
    raw_resp_free(&a);
    free(b);
    uint64_t t0 = ms_now();
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    assert_true(ms_now() - t0 < 2000);
    assert_true(raw_closed_within(used, 1000));
    assert_true(raw_closed_within(fresh, 1000));
    close(used);
    close(fresh);
}

/* Every recommendation has a score, of the kind the answer names, and
 * (the served model predicts ratings) a predicted rating within the
 * model's rating range, also where the raw score is beyond it: the list of
 * every product for every user must contain such a case. Cold-start lists
 * are the popularity ranking, by number of ratings, with the baseline's
 * predicted ratings. */
static void test_scores_and_predicted_ratings(void **state)
{
    (void)state;
    resp r = GET("/v1/model");
    assert_int_equal(r.status, 200);
    double lo = json_number_value(json_object_get(r.json, "rating_min"));
    double hi = json_number_value(json_object_get(r.json, "rating_max"));
    resp_free(&r);
    assert_true(lo == 1 && hi == 5);
    int above = 0, below = 0;
    for (int u = 0; u < N_USERS; u++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/users/user%03d/recommendations?n=1000&exclude_rated=false",
                 u);
        r = GET(path);
        assert_int_equal(r.status, 200);
        const char *kind = json_string_value(json_object_get(r.json, "score_kind"));
        assert_non_null(kind);
        if (!strcmp(g_algo_a, "itemcf") || !strcmp(g_algo_a, "usercf"))
            assert_string_equal(kind, "similarity_weighted_sum");
        else
            assert_string_equal(kind, "rating_estimate");
        json_t *items = json_object_get(r.json, "items");
        assert_int_equal(json_array_size(items), N_ITEMS + 1);
        size_t k;
        json_t *it;
        json_array_foreach(items, k, it)
        {
            json_t *s = json_object_get(it, "score"), *p = json_object_get(it, "predicted_rating");
            assert_true(json_is_number(s));
            assert_true(json_is_number(p));
            double sc = json_number_value(s), pr = json_number_value(p);
            assert_true(pr >= lo && pr <= hi);
            if (!strcmp(kind, "rating_estimate")) {
                /* Unclamped estimate and clamped prediction of one model. */
                double want = sc < lo ? lo : sc > hi ? hi : sc;
                assert_true(fabs(pr - want) < 1e-4);
                above += sc > hi;
                below += sc < lo;
            }
        }
        resp_free(&r);
    }
    if (!strcmp(g_algo_a, "mf")) {
        print_message("mf raw scores above %g: %d, below %g: %d\n", hi, above, lo, below);
        assert_true(above > 0); /* the clamp was exercised */
    }

    r = GET("/v1/users/nobody-at-all/recommendations?n=5");
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "cold_start")));
    assert_string_equal(json_string_value(json_object_get(r.json, "score_kind")), "rating_count");
    json_t *items = json_object_get(r.json, "items");
    double prev = INFINITY;
    for (size_t k = 0; k < json_array_size(items); k++) {
        json_t *it = json_array_get(items, k);
        double sc = json_number_value(json_object_get(it, "score"));
        assert_true(sc == floor(sc) && sc >= 1 && sc <= prev); /* a count, best first */
        prev = sc;
        double pr = json_number_value(json_object_get(it, "predicted_rating"));
        assert_true(pr >= lo && pr <= hi);
    }
    resp_free(&r);

    /* The model predicts ratings for a known pair; the baseline for a
     * stranger. */
    r = GET("/v1/predict?user=user000&item=item001");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "source")), "model");
    resp_free(&r);
    r = GET("/v1/predict?user=nobody-at-all&item=item001");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "source")), "baseline");
    resp_free(&r);

    /* Similar products: each says its source and what its score is. */
    r = GET("/v1/items/item003/similar?n=2");
    json_t *it = json_array_get(json_object_get(r.json, "items"), 0);
    assert_non_null(json_string_value(json_object_get(it, "source")));
    assert_non_null(json_string_value(json_object_get(it, "score_kind")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(r.json, "chain"), 0)),
                        "co_rated");
    resp_free(&r);
}

static void test_encoded_ids(void **state)
{
    (void)state;
    /* %2F inside an ID is part of the ID, not a path separator. */
    resp r = GET("/v1/users/slash%2Fuser%20%C3%BC/ratings");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "user")), SPECIAL_USER);
    assert_int_equal(json_array_size(json_object_get(r.json, "ratings")), 10);
    resp_free(&r);

    r = GET("/v1/users/slash%2fuser%20%c3%bc/recommendations?n=2");
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "cold_start")));
    resp_free(&r);

    r = GET("/v1/items/odd%2Fitem%20%C3%BC/similar");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "item")), SPECIAL_ITEM);
    resp_free(&r);

    /* In the query, '+' is a space and %2F a slash. */
    r = GET("/v1/predict?user=slash%2Fuser+%C3%BC&item=odd%2Fitem%20%C3%BC");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "user")), SPECIAL_USER);
    assert_string_equal(json_string_value(json_object_get(r.json, "item")), SPECIAL_ITEM);
    assert_true(json_is_true(json_object_get(r.json, "known_user")));
    assert_true(json_is_true(json_object_get(r.json, "known_item")));
    resp_free(&r);

    /* '+' in a path segment is a plus. */
    r = GET("/v1/users/a+b/recommendations?n=1");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "user")), "a+b");
    resp_free(&r);

    /* 255 bytes is the longest ID. */
    char path[1200];
    char id[300];
    memset(id, 'x', 255);
    id[255] = '\0';
    snprintf(path, sizeof path, "/v1/users/%s/recommendations?n=1", id);
    r = GET(path);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* Every client mistake: a 4xx with a message saying what to fix, nothing
 * in the ratings log, and the server still up. */
static void test_client_mistakes(void **state)
{
    (void)state;
    long log_before = file_size(g_log);
    char long_id[300], path[1200];
    memset(long_id, 'x', 256);
    long_id[256] = '\0';
    static const struct {
        const char *method, *path, *body, *ctype;
        long status;
        const char *msg;
    } cases[] = {
        /* query values */
        {NULL, "/v1/users/user000/recommendations?n=0", NULL, NULL, 400, "n must be from 1 to 1000"},
        {NULL, "/v1/users/user000/recommendations?n=1001", NULL, NULL, 400, "from 1 to 1000"},
        {NULL, "/v1/users/user000/recommendations?n=abc", NULL, NULL, 400, "whole number"},
        {NULL, "/v1/users/user000/recommendations?n=2.5", NULL, NULL, 400, "whole number"},
        {NULL, "/v1/users/user000/recommendations?n=-3", NULL, NULL, 400, "whole number"},
        {NULL, "/v1/users/user000/recommendations?n=", NULL, NULL, 400, "whole number"},
        {NULL, "/v1/users/user000/recommendations?n=99999999999999999999999", NULL, NULL, 400,
         "from 1 to 1000"},
        {NULL, "/v1/users/user000/recommendations?exclude_rated=yes", NULL, NULL, 400,
         "exclude_rated must be true or false"},
        {NULL, "/v1/users/user000/recommendations?exclude_rated=1", NULL, NULL, 400,
         "true or false"},
        {NULL, "/v1/users/user000/recommendations?top=5", NULL, NULL, 400,
         "unknown query parameter \"top\""},
        {NULL, "/v1/users/user000/recommendations?n=1&n=2", NULL, NULL, 400, "more than once"},
        {NULL, "/v1/items/item001/similar?n=0", NULL, NULL, 400, "n must be"},
        {NULL, "/v1/users/user000/ratings?x=1", NULL, NULL, 400, "unknown query parameter"},
        {NULL, "/v1/predict?user=user000", NULL, NULL, 400, "\"item\" is required"},
        {NULL, "/v1/predict?item=item000", NULL, NULL, 400, "\"user\" is required"},
        {NULL, "/v1/predict?user=&item=item000", NULL, NULL, 400, "user ID is empty"},
        /* IDs */
        {NULL, "/v1/users/%FF%FE/recommendations", NULL, NULL, 400, "not valid UTF-8"},
        {NULL, "/v1/users/%C3%28/ratings", NULL, NULL, 400, "not valid UTF-8"},
        {NULL, "/v1/users/%ED%A0%80/ratings", NULL, NULL, 400, "not valid UTF-8"}, /* surrogate */
        {NULL, "/v1/users/%C0%AF/ratings", NULL, NULL, 400, "not valid UTF-8"},    /* overlong */
        {NULL, "/v1/users/a%00b/recommendations", NULL, NULL, 400, "control character"},
        {NULL, "/v1/users/a%0Ab/recommendations", NULL, NULL, 400, "control character"},
        {NULL, "/v1/users/a%G1/recommendations", NULL, NULL, 400, "percent-escape"},
        {NULL, "/v1/users/abc%/recommendations", NULL, NULL, 400, "percent-escape"},
        {NULL, "/v1/users//recommendations", NULL, NULL, 400, "user ID is empty"},
        {NULL, "/v1/items/%FF/similar", NULL, NULL, 400, "item ID is not valid UTF-8"},
        {NULL, "/v1/predict?user=%FF&item=x", NULL, NULL, 400, "not valid UTF-8"},
        /* paths and methods */
        {NULL, "/index.html", NULL, NULL, 404, "no endpoint"},
        {NULL, "/v2/users/u/recommendations", NULL, NULL, 404, "no endpoint"},
        {NULL, "/v1/users/u", NULL, NULL, 404, "no endpoint"},
        {NULL, "/v1/users/u/recommendations/", NULL, NULL, 404, "no endpoint"},
        {NULL, "/healthz/", NULL, NULL, 404, "no endpoint"},
        {NULL, "/v1/ratings/x", NULL, NULL, 404, "no endpoint"},
        {NULL, "/v1/ratings", NULL, NULL, 405, "use POST"},
        {"DELETE", "/v1/ratings", NULL, NULL, 405, "DELETE is not allowed"},
        {"PUT", "/v1/users/u/recommendations", "{}", NULL, 405, "use GET"},
        {"POST", "/healthz", "{}", NULL, 405, "use GET"},
        {"GET", "/v1/admin/reload", NULL, NULL, 405, "use POST"},
        /* content type */
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":3}", "", 415,
         "Content-Type: application/json"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":3}", "text/plain", 415,
         "text/plain"},
        {"POST", "/v1/ratings", "user=a", "application/x-www-form-urlencoded", 415, "got"},
        {"POST", "/v1/admin/reload", "x", "text/plain", 415, "application/json"},
        /* bodies */
        {"POST", "/v1/ratings", "{\"user\": \"a\",\n \"item\": ", NULL, 400,
         "malformed JSON at line 2"},
        {"POST", "/v1/ratings", "{\"user\": \"a\" \"item\": \"b\"}", NULL, 400, "column"},
        {"POST", "/v1/ratings", "[1,2", NULL, 400, "malformed JSON"},
        {"POST", "/v1/ratings", "\"just a string\"", NULL, 400, "not a string"},
        {"POST", "/v1/ratings", "[]", NULL, 400, "array is empty"},
        {"POST", "/v1/ratings", "[5]", NULL, 400, "ratings[0] must be an object"},
        {"POST", "/v1/ratings", "{\"item\":\"b\",\"rating\":3}", NULL, 400,
         "\"user\" is missing"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"rating\":3}", NULL, 400,
         "\"item\" is missing"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\"}", NULL, 400,
         "\"rating\" is missing"},
        {"POST", "/v1/ratings", "{\"user\":5,\"item\":\"b\",\"rating\":3}", NULL, 400,
         "\"user\" must be a string, not a number"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":null,\"rating\":3}", NULL, 400,
         "\"item\" must be a string"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":\"5\"}", NULL, 400,
         "\"rating\" must be a number, not a string"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":6}", NULL, 400,
         "outside the model's range 1 to 5"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":0.5}", NULL, 400,
         "outside"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":-1e400}", NULL, 400,
         NULL},
        {"POST", "/v1/ratings",
         "[{\"user\":\"a\",\"item\":\"b\",\"rating\":3},{\"user\":\"a\",\"item\":\"c\","
         "\"rating\":3,\"timestamp\":1.5}]",
         NULL, 400, "ratings[1]: \"timestamp\" must be a whole number"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":3,\"timestamp\":-5}",
         NULL, 400, "timestamp"},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"item\":\"b\",\"rating\":3,\"score\":1}", NULL,
         400, "unknown field \"score\""},
        {"POST", "/v1/ratings", "{\"user\":\"a\",\"user\":\"b\",\"item\":\"b\",\"rating\":3}",
         NULL, 400, "duplicate"},
        {"POST", "/v1/ratings", "{\"user\":\"\",\"item\":\"b\",\"rating\":3}", NULL, 400,
         "user ID is empty"},
        {"POST", "/v1/ratings", "{\"user\":\"a\\u0001\",\"item\":\"b\",\"rating\":3}", NULL, 400,
         "control character"},
        {"POST", "/v1/ratings", "{\"user\":\"a\\u0000\",\"item\":\"b\",\"rating\":3}", NULL, 400,
         "malformed JSON"},
        {"POST", "/v1/ratings", "{\"user\":\"\xff\",\"item\":\"b\",\"rating\":3}", NULL, 400,
         "malformed JSON"},
        {"POST", "/v1/ratings", "", NULL, 400, "body is empty"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        req q = {.method = cases[k].method, .path = cases[k].path, .body = cases[k].body,
                 .ctype = cases[k].ctype};
        expect(&q, cases[k].status, cases[k].msg);
    }

    /* A POST with no body at all. */
    req q = {.method = "POST", .path = "/v1/ratings", .ctype = "application/json"};
    resp r0 = R(&q);
    assert_true(r0.status == 400 || r0.status == 415);
    resp_free(&r0);

    /* 405 carries Allow. */
    q = (req){.method = "DELETE", .path = "/v1/users/u/ratings"};
    resp r = R(&q);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers, "Allow: GET, HEAD"));
    resp_free(&r);

    /* An ID over 255 bytes, in the path, the query and a body. */
    snprintf(path, sizeof path, "/v1/users/%s/recommendations", long_id);
    q = (req){.path = path};
    expect(&q, 400, "at most 255 bytes");
    snprintf(path, sizeof path, "/v1/predict?user=u&item=%s", long_id);
    expect(&q, 400, "at most 255 bytes");
    char body[800];
    snprintf(body, sizeof body, "{\"user\":\"%s\",\"item\":\"b\",\"rating\":3}", long_id);
    q = (req){.path = "/v1/ratings", .body = body};
    expect(&q, 400, "at most 255 bytes");

    /* A batch over 10,000 ratings: 413. */
    size_t cap = 10001 * 48 + 16, n = 0;
    char *big = malloc(cap);
    big[n++] = '[';
    for (int k = 0; k < 10001; k++)
        n += (size_t)snprintf(big + n, cap - n, "%s{\"user\":\"b%d\",\"item\":\"i\",\"rating\":3}",
                              k ? "," : "", k);
    big[n++] = ']';
    q = (req){.path = "/v1/ratings", .body = big, .body_len = n};
    expect(&q, 413, "the limit is 10000");
    free(big);

    /* Bodies over 1 MiB: refused from Content-Length before reading, and
     * for chunked uploads once the cap is passed. */
    size_t blen = (1u << 20) + 100;
    char *huge = malloc(blen);
    memset(huge, ' ', blen);
    q = (req){.path = "/v1/ratings", .body = huge, .body_len = blen};
    expect(&q, 413, "the limit is 1048576 bytes");
    q.chunked = true;
    expect(&q, 413, "over the limit of 1048576 bytes");
    /* Exactly at the cap is accepted as far as size goes. */
    q = (req){.path = "/v1/ratings", .body = huge, .body_len = 1u << 20};
    expect(&q, 400, "malformed JSON");
    free(huge);

    assert_true(server_alive(&g_srv));
    assert_int_equal(file_size(g_log), log_before);
    r = GET("/healthz");
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_post_then_recommend(void **state)
{
    (void)state;
    resp r = GET("/v1/users/user004/recommendations?n=20");
    assert_int_equal(r.status, 200);
    json_t *before = json_incref(json_object_get(r.json, "items"));
    resp_free(&r);
    char top[RECO_ID_MAX + 1];
    snprintf(top, sizeof top, "%s",
             json_string_value(json_object_get(json_array_get(before, 0), "item")));
    char body[512];
    snprintf(body, sizeof body,
             "{\"user\":\"user004\",\"item\":\"%s\",\"rating\":1,\"timestamp\":1700000000}", top);
    r = POST("/v1/ratings", body);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 1);
    resp_free(&r);

    r = GET("/v1/users/user004/recommendations?n=20");
    assert_int_equal(r.status, 200);
    json_t *after = json_object_get(r.json, "items");
    assert_null(find_item(after, top)); /* now rated: excluded */
    /* Folding the new rating in moves the other scores. */
    int compared = 0, changed = 0;
    size_t k;
    json_t *v;
    json_array_foreach(after, k, v)
    {
        json_t *b = find_item(before, json_string_value(json_object_get(v, "item")));
        if (!b)
            continue;
        compared++;
        if (fabs(json_number_value(json_object_get(b, "score")) -
                 json_number_value(json_object_get(v, "score"))) > 1e-6)
            changed++;
    }
    assert_true(compared >= 5);
    if (g_folds)
        assert_true(changed >= compared / 2);
    resp_free(&r);
    json_decref(before);

    r = GET("/v1/users/user004/ratings");
    assert_int_equal(r.status, 200);
    json_t *mine = find_item(json_object_get(r.json, "ratings"), top);
    assert_non_null(mine);
    assert_string_equal(json_string_value(json_object_get(mine, "source")), "live");
    assert_int_equal(json_number_value(json_object_get(mine, "rating")), 1);
    resp_free(&r);

    /* A new user: cold start, then three ratings in one batch, then
     * personal recommendations without those products. */
    r = GET("/v1/users/newcomer-1/recommendations?n=5");
    assert_true(json_is_true(json_object_get(r.json, "cold_start")));
    resp_free(&r);
    r = POST("/v1/ratings", "[{\"user\":\"newcomer-1\",\"item\":\"item061\",\"rating\":5},"
                            "{\"user\":\"newcomer-1\",\"item\":\"item062\",\"rating\":5},"
                            "{\"user\":\"newcomer-1\",\"item\":\"item063\",\"rating\":4.5}]");
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 3);
    resp_free(&r);
    r = GET("/v1/users/newcomer-1/recommendations?n=10");
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "cold_start")));
    json_t *items = json_object_get(r.json, "items");
    assert_null(find_item(items, "item061"));
    assert_null(find_item(items, "item063"));
    int second_half = 0;
    json_array_foreach(items, k, v)
    {
        const char *id = json_string_value(json_object_get(v, "item"));
        if (!strncmp(id, "item", 4) && atoi(id + 4) >= N_ITEMS / 2)
            second_half++;
    }
    if (g_folds)
        assert_true(second_half >= 7); /* folded in as a second-half fan */
    resp_free(&r);
    r = GET("/v1/users/newcomer-1/ratings");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "ratings")), 3);
    resp_free(&r);

    /* A product nobody has seen is stored too. */
    r = POST("/v1/ratings", "{\"user\":\"newcomer-1\",\"item\":\"brand-new\",\"rating\":4}");
    assert_int_equal(r.status, 201);
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(r.json, "ratings"), 0), "known_item")));
    resp_free(&r);
}


static void test_metrics(void **state)
{
    (void)state;
    resp r = GET("/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "Content-Type: text/plain; version=0.0.4"));
    double v = 0;
    assert_true(has_line_prefix(
        r.body, "reco_http_requests_total{route=\"/v1/users/{user}/recommendations\",status=\"200\"}",
        &v));
    assert_true(v >= 5);
    assert_true(has_line_prefix(
        r.body, "reco_http_requests_total{route=\"/v1/ratings\",status=\"400\"}", &v));
    assert_true(v >= 10);
    assert_true(has_line_prefix(
        r.body, "reco_http_requests_total{route=\"unmatched\",status=\"404\"}", NULL));
    assert_true(has_line_prefix(
        r.body,
        "reco_http_request_duration_seconds_bucket{route=\"/v1/users/{user}/recommendations\","
        "le=\"+Inf\"}", &v));
    assert_true(v >= 5);
    assert_true(has_line_prefix(
        r.body, "reco_http_request_duration_seconds_count{route=\"/v1/items/{item}/similar\"}",
        NULL));
    assert_true(has_line_prefix(r.body, "reco_ratings_logged_total", &v));
    assert_int_equal((int)v, 5); /* 1 + 3 + 1 from test_post_then_recommend */
    assert_true(has_line_prefix(r.body, "reco_model_bytes", &v));
    assert_true(v > 1000);
    assert_true(has_line_prefix(r.body, "reco_model_age_seconds", NULL));
    assert_true(has_line_prefix(r.body, "reco_model_reloads_total", NULL));
    char info[64];
    snprintf(info, sizeof info, "reco_model_info{algorithm=\"%s\"}", g_algo_a);
    assert_true(has_line_prefix(r.body, info, NULL));
    assert_non_null(strstr(r.body, "# TYPE reco_http_request_duration_seconds histogram"));
    resp_free(&r);
}

static const char *served_algorithm(char *buf, size_t cap)
{
    resp r = GET("/v1/model");
    snprintf(buf, cap, "%s", r.status == 200 ? json_string_value(json_object_get(r.json, "algorithm")) : "?");
    resp_free(&r);
    return buf;
}

static void test_reload(void **state)
{
    (void)state;
    char algo[32];
    /* A good new file: the admin endpoint swaps it in. */
    copy_file(g_icf, g_serve);
    /* No token here: an admin POST needs the JSON type (a page on another
     * site cannot send it without a preflight). */
    req q = {.method = "POST", .path = "/v1/admin/reload", .ctype = "application/json"};
    resp r = R(&q);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "reloaded")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "model"), "algorithm")), g_algo_b);
    resp_free(&r);
    assert_string_equal(served_algorithm(algo, sizeof algo), g_algo_b);
    /* Live ratings survive a reload (replayed from the log). */
    r = GET("/v1/users/newcomer-1/ratings");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "ratings")), 4);
    resp_free(&r);

    /* A corrupt file: 500 with the reason, the old model keeps serving. */
    write_file(g_serve, "this is not a model file\n");
    r = R(&q);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(err_msg(&r), "still serving the previous model"));
    resp_free(&r);
    assert_string_equal(served_algorithm(algo, sizeof algo), g_algo_b);
    r = GET("/v1/users/user000/recommendations?n=3");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 3);
    resp_free(&r);

    /* SIGHUP: a bad file is a line on stderr, a good one is swapped in. */
    kill(g_srv.pid, SIGHUP);
    assert_true(server_wait_output(&g_srv, "reload failed", 10000));
    assert_string_equal(served_algorithm(algo, sizeof algo), g_algo_b);
    copy_file(g_mf, g_serve);
    kill(g_srv.pid, SIGHUP);
    char line[64];
    snprintf(line, sizeof line, "reco serve: reloaded (model %s", g_algo_a);
    assert_true(server_wait_output(&g_srv, line, 10000));
    assert_string_equal(served_algorithm(algo, sizeof algo), g_algo_a);

    r = GET("/metrics");
    double v = 0;
    assert_true(has_line_prefix(r.body, "reco_model_reloads_total", &v));
    assert_int_equal((int)v, 2);
    assert_true(has_line_prefix(r.body, "reco_model_reload_failures_total", &v));
    assert_int_equal((int)v, 2);
    resp_free(&r);
}

typedef struct hammer {
    int id, ok, failed;
    long last_status;
    volatile bool *stop;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    CURL *c = curl_easy_init();
    uint64_t seed = (uint64_t)h->id * 7919 + 1;
    for (int k = 0; k < 400 && !*h->stop; k++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/users/user%03d/recommendations?n=10",
                 (int)(lcg(&seed) % N_USERS));
        req q = {.path = path};
        resp r = do_req(c, &q);
        if (r.status == 200 && json_array_size(json_object_get(r.json, "items")) == 10)
            h->ok++;
        else {
            h->failed++;
            h->last_status = r.status;
        }
        resp_free(&r);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrent_reloads(void **state)
{
    (void)state;
    enum { N_THREADS = 4 };
    pthread_t th[N_THREADS];
    hammer hs[N_THREADS];
    volatile bool stop = false;
    for (int t = 0; t < N_THREADS; t++) {
        hs[t] = (hammer){.id = t, .stop = &stop};
        pthread_create(&th[t], NULL, hammer_run, &hs[t]);
    }
    req q = {.method = "POST", .path = "/v1/admin/reload", .ctype = "application/json"};
    for (int k = 0; k < 6; k++) {
        copy_file(k % 2 ? g_mf : g_icf, g_serve);
        resp r = R(&q);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        usleep(20000);
    }
    stop = true;
    int ok = 0;
    for (int t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        if (hs[t].failed)
            fail_msg("thread %d: %d requests failed (last status %ld)", t, hs[t].failed,
                     hs[t].last_status);
        ok += hs[t].ok;
    }
    assert_true(ok >= N_THREADS);
}

static void test_auth(void **state)
{
    (void)state;
    char tokfile[160], log2[160];
    snprintf(tokfile, sizeof tokfile, "%s/token", g_dir);
    snprintf(log2, sizeof log2, "%s/auth-log.csv", g_dir);
    write_file(tokfile, "s3cret-token\n");
    server s;
    assert_int_equal(server_start(&s, g_mf, log2, tokfile, NULL), 0);
    const char *body = "{\"user\":\"u1\",\"item\":\"item001\",\"rating\":4}";
    req q = {.path = "/v1/ratings", .body = body, .port = s.port};
    resp r = R(&q);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
    assert_non_null(strstr(err_msg(&r), "Authorization: Bearer"));
    resp_free(&r);
    q.auth = "s3cret-tokeN";
    expect(&q, 401, "not this server's token");
    q.auth = "s3cret-token";
    expect(&q, 201, NULL);
    /* Reads need no token; reload does. */
    req g = {.path = "/v1/users/u1/ratings", .port = s.port};
    expect(&g, 200, NULL);
    req rl = {.method = "POST", .path = "/v1/admin/reload", .port = s.port};
    expect(&rl, 401, "token");
    rl.auth = "s3cret-token";
    expect(&rl, 200, NULL);
    assert_int_equal(server_stop(&s, SIGTERM), 0);

    /* The token from the environment. */
    assert_int_equal(server_start(&s, g_mf, log2, NULL, "env-token"), 0);
    q.port = s.port;
    q.auth = NULL;
    expect(&q, 401, NULL);
    q.auth = "env-token";
    expect(&q, 201, NULL);
    assert_int_equal(server_stop(&s, SIGTERM), 0);

    /* Read-only: no ratings log, no writes. */
    assert_int_equal(server_start(&s, g_mf, NULL, NULL, NULL), 0);
    q.port = s.port;
    expect(&q, 403, "--ratings-log");
    assert_int_equal(server_stop(&s, SIGTERM), 0);

    /* Not on a non-loopback address without a token: it refuses to start
     * (before binding anything). */
    const char *extra[] = {"--model", g_mf, "--host", "0.0.0.0", NULL};
    int st = server_start_args(&s, extra, NULL);
    assert_int_equal(st, 2);
    assert_non_null(strstr(s.out, "refusing to listen on 0.0.0.0"));
    /* Bad option values and a missing model are usage errors. */
    const char *extra2[] = {"--model", "/nonexistent/model.reco", NULL};
    assert_int_not_equal(server_start_args(&s, extra2, NULL), 0);
    const char *extra3[] = {"--model", g_mf, "--threads", "0", NULL};
    assert_int_equal(server_start_args(&s, extra3, NULL), 2);
}

/* Acknowledged means durable: kill -9 right after the 201s, restart on the
 * same log, and every rating is there. */
static void test_durable_after_kill9(void **state)
{
    (void)state;
    char log3[160];
    snprintf(log3, sizeof log3, "%s/durable-log.csv", g_dir);
    server s;
    assert_int_equal(server_start(&s, g_mf, log3, NULL, NULL), 0);
    enum { BATCHES = 20, PER = 50 };
    char *body = malloc(BATCHES * PER * 96);
    for (int b = 0; b < BATCHES; b++) {
        size_t n = 0;
        body[n++] = '[';
        for (int k = 0; k < PER; k++)
            n += (size_t)sprintf(body + n,
                                 "%s{\"user\":\"dur,\\\"%d\\\"\",\"item\":\"item%03d\",\"rating\":%d}",
                                 k ? "," : "", b, k, 1 + k % 5);
        body[n++] = ']';
        body[n] = '\0';
        req q = {.path = "/v1/ratings", .body = body, .port = s.port};
        expect(&q, 201, NULL);
    }
    free(body);
    assert_int_equal(server_stop(&s, SIGKILL), 128 + SIGKILL);
    assert_int_equal(server_start(&s, g_mf, log3, NULL, NULL), 0);
    for (int b = 0; b < BATCHES; b++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/users/dur%%2C%%22%d%%22/ratings", b);
        req q = {.path = path, .port = s.port};
        resp r = R(&q);
        assert_int_equal(r.status, 200);
        json_t *list = json_object_get(r.json, "ratings");
        assert_int_equal(json_array_size(list), PER);
        json_t *e = find_item(list, "item007");
        assert_non_null(e);
        assert_int_equal(json_number_value(json_object_get(e, "rating")), 1 + 7 % 5);
        resp_free(&r);
    }
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* ---- the catalogue, rules and events ---- */

/* Runs a shell command; its standard output as a new string (NULL on a
 * nonzero exit). */
static char *run_capture(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    if (pclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The item IDs of a list, space-separated, into buf. */
static const char *ids_of(json_t *o, char *buf, size_t cap)
{
    size_t k, n = 0;
    json_t *it;
    buf[0] = '\0';
    json_array_foreach(json_object_get(o, "items"), k, it)
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s ",
                              json_string_value(json_object_get(it, "item")));
    return buf;
}

/* A model trained with a catalogue (reco train --items): item000..059 in
 * Cat/A, item060..119 in Cat/B, item007 unavailable, NEWPROD without
 * ratings. An events model: every rating a view. */
static char g_cat[160], g_ev[160];

static void make_catalogue_models(void)
{
    if (g_cat[0])
        return;
    char ratings[160], items[160], events[160], cmd[1024];
    snprintf(ratings, sizeof ratings, "%s/cat-ratings.csv", g_dir);
    snprintf(items, sizeof items, "%s/items.csv", g_dir);
    snprintf(events, sizeof events, "%s/events.csv", g_dir);
    size_t len;
    char *text = make_ratings(&len);
    write_file(ratings, text);
    char *ev = malloc(len * 2 + 64), *p = ev;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (c2 && c2 < nl)
            p += sprintf(p, "%.*s,view\n", (int)(c2 - line), line);
        line = nl + 1;
    }
    *p = '\0';
    write_file(events, ev);
    free(ev);
    free(text);
    char *it = malloc(1 << 16);
    size_t n = (size_t)sprintf(it, "item_id,title,category,available\n");
    for (int i = 0; i < N_ITEMS; i++)
        n += (size_t)sprintf(it + n, "item%03d,Item %d,Cat/%c,%s\n", i, i, i < N_ITEMS / 2 ? 'A' : 'B',
                             i == 7 ? "false" : "true");
    sprintf(it + n, "NEWPROD,A new product,Cat/B,true\n");
    write_file(items, it);
    free(it);
    snprintf(g_cat, sizeof g_cat, "%s/cat.reco", g_dir);
    snprintf(g_ev, sizeof g_ev, "%s/events.reco", g_dir);
    snprintf(cmd, sizeof cmd, "'%s' train --quiet --algo ials '%s' --items '%s' -o '%s' >/dev/null",
             RECO_BIN, ratings, items, g_cat);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' train --quiet --algo ials --events '%s' -o '%s' >/dev/null",
             RECO_BIN, events, g_ev);
    assert_int_equal(system(cmd), 0);
}

static void item_write(unsigned port, const char *method, const char *id, const char *body,
                       long status)
{
    char path[300];
    snprintf(path, sizeof path, "/v1/items/%s", id);
    req q = {.path = path, .method = method, .body = body, .port = port};
    expect(&q, status, NULL);
}

/* The rules as query parameters give the lists reco recommend gives with
 * the same rules on the same model; unknown IDs are counted, unknown
 * categories give an empty list with the reason; bad values are 400s
 * naming the parameter. */
static void test_rules_match_cli(void **state)
{
    (void)state;
    make_catalogue_models();
    char log[160];
    snprintf(log, sizeof log, "%s/rules-log.csv", g_dir);
    server s;
    assert_int_equal(server_start(&s, g_cat, log, NULL, NULL), 0);
    static const struct {
        const char *query, *cli;
    } cases[] = {
        {"n=10", "-n 10"},
        {"n=10&include_unavailable=true", "-n 10 --include-unavailable"},
        {"n=10&category=Cat/B", "-n 10 --category Cat/B"},
        {"n=8&category=Cat&max_per_category=3", "-n 8 --category Cat --max-per-category 3"},
        {"n=10&exclude=item061,NOPE&exclude=item062&category=Cat/B",
         "-n 10 --exclude item061,NOPE --exclude item062 --category Cat/B"},
        {"n=10&include=item001,item007,item070,item090,GONE",
         "-n 10 --include item001,item007,item070,item090,GONE"},
        {"n=5&exclude_rated=false&category=Cat/A", "-n 5 --include-rated --category Cat/A"},
    };
    static const char *const users[] = {"user000", "user001", "nobody"};
    for (size_t u = 0; u < 3; u++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            char path[512], cmd[1024], a[2048], b[2048];
            snprintf(path, sizeof path, "/v1/users/%s/recommendations?%s", users[u],
                     cases[k].query);
            req q = {.path = path, .port = s.port};
            resp r = R(&q);
            assert_int_equal(r.status, 200);
            snprintf(cmd, sizeof cmd, "'%s' recommend '%s' --user %s %s --json 2>/dev/null",
                     RECO_BIN, g_cat, users[u], cases[k].cli);
            char *out = run_capture(cmd);
            assert_non_null(out);
            json_t *cli = json_loads(out, 0, NULL);
            assert_non_null(cli);
            if (strcmp(ids_of(r.json, a, sizeof a), ids_of(cli, b, sizeof b)))
                fail_msg("%s: HTTP %s, reco recommend %s", path, a, b);
            assert_true(strstr(a, "item007") == NULL || strstr(cases[k].query, "include"));
            if (k > 0)
                assert_int_equal(json_integer_value(json_object_get(r.json, "unknown_items")),
                                 json_integer_value(json_object_get(cli, "unknown_items")));
            if (k == 4 || k == 5)
                assert_int_equal(json_integer_value(json_object_get(r.json, "unknown_items")), 1);
            json_t *first = json_array_get(json_object_get(r.json, "items"), 0);
            if (first)
                assert_non_null(json_object_get(first, "available"));
            json_decref(cli);
            free(out);
            resp_free(&r);
        }
    /* The cap holds: at most 3 of one category. */
    req q = {.path = "/v1/users/user000/recommendations?n=8&category=Cat&max_per_category=3",
             .port = s.port};
    resp r = R(&q);
    assert_int_equal(json_integer_value(json_object_get(r.json, "found")), 6);
    assert_int_equal(json_integer_value(json_object_get(r.json, "requested")), 8);
    resp_free(&r);
    /* An ID with a comma is percent-encoded (%2C) inside one value. */
    q.path = "/v1/users/user000/recommendations?exclude=a%2Cb,item001";
    r = R(&q);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "unknown_items")), 1);
    resp_free(&r);
    /* Unknown categories: 200, an empty list and the reason. */
    q.path = "/v1/users/user000/recommendations?category=Nope&category=cat/a";
    r = R(&q);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    assert_int_equal(json_array_size(json_object_get(r.json, "unknown_categories")), 2);
    assert_non_null(json_string_value(json_object_get(r.json, "reason")));
    resp_free(&r);
    q.path = "/v1/users/user000/recommendations?category=Nope&category=Cat/A";
    r = R(&q);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 10);
    assert_int_equal(json_array_size(json_object_get(r.json, "unknown_categories")), 1);
    resp_free(&r);
    /* Bad values name the parameter. */
    static const struct {
        const char *query, *part;
    } bad[] = {
        {"max_per_category=0", "max_per_category"},
        {"max_per_category=x", "max_per_category"},
        {"include_unavailable=maybe", "include_unavailable"},
        {"exclude=%ZZ", "exclude"},
        {"category=", "category"},
        {"include=a%01b", "include"},
        {"n=2&n=3", "more than once"},
        {"colour=red", "unknown query parameter"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/users/user000/recommendations?%s", bad[k].query);
        req b = {.path = path, .port = s.port};
        expect(&b, 400, bad[k].part);
    }
    /* A model without categories refuses the cap. */
    q.path = "/v1/users/user000/recommendations?max_per_category=2";
    q.port = 0;
    expect(&q, 400, "max_per_category needs product categories");
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* PUT/PATCH/GET /v1/items/{id}: an unavailable product disappears from the
 * next answer, a new product is served from the catalogue, and an
 * acknowledged change survives kill -9. */
static void test_catalogue_live(void **state)
{
    (void)state;
    make_catalogue_models();
    char log[160], path[300], a[2048];
    snprintf(log, sizeof log, "%s/catalogue-log.csv", g_dir);
    server s;
    assert_int_equal(server_start(&s, g_cat, log, NULL, NULL), 0);
    req q = {.path = "/v1/users/user000/recommendations?n=5", .port = s.port};
    resp r = R(&q);
    assert_int_equal(r.status, 200);
    char top1[32], top2[32];
    snprintf(top1, sizeof top1, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                               "item")));
    snprintf(top2, sizeof top2, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 1),
                                               "item")));
    resp_free(&r);
    /* GET: the entry, known to the model, with its rating count. */
    snprintf(path, sizeof path, "/v1/items/%s", top1);
    req g = {.path = path, .port = s.port};
    r = R(&g);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "available")));
    assert_true(json_is_true(json_object_get(r.json, "known_item")));
    assert_true(json_integer_value(json_object_get(r.json, "ratings")) > 0);
    resp_free(&r);
    /* PATCH available=false: gone from the next answer. */
    item_write(s.port, "PATCH", top1, "{\"available\": false}", 200);
    r = R(&q);
    assert_null(strstr(ids_of(r.json, a, sizeof a), top1));
    resp_free(&r);
    q.path = "/v1/users/user000/recommendations?n=5&include_unavailable=true";
    r = R(&q);
    assert_non_null(strstr(ids_of(r.json, a, sizeof a), top1));
    resp_free(&r);
    /* PUT: a full replacement (the category too). */
    item_write(s.port, "PUT", top2, "{\"title\": \"Renamed\", \"category\": \"Cat/C\", "
               "\"labels\": {\"brand\": \"acme\"}}", 200);
    snprintf(path, sizeof path, "/v1/users/user000/recommendations?n=5&category=Cat/C");
    q.path = path;
    r = R(&q);
    assert_string_equal(ids_of(r.json, a, sizeof a), (snprintf(path, sizeof path, "%s ", top2), path));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "items"), 0), "title")),
                        "Renamed");
    resp_free(&r);
    /* A new product: 201, served by the catalogue, similar from its category. */
    item_write(s.port, "PUT", "BRANDNEW", "{\"title\": \"Brand new\", \"category\": \"Cat/A\"}",
               201);
    g.path = "/v1/items/BRANDNEW";
    r = R(&g);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "known_item")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "ratings")), 0);
    resp_free(&r);
    g.path = "/v1/items/BRANDNEW/similar?n=3";
    r = R(&g);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "cold_start")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "items"), 0), "source")),
                        "category");
    resp_free(&r);
    /* Similar products hide unavailable ones too, inside the search: the
     * first of a product's similar list, made unavailable, leaves the next
     * answer and the rest move up; include_unavailable shows it again, and
     * the other rules apply (not the cap). */
    char sim[2048], sim2[2048], first[64];
    snprintf(path, sizeof path, "/v1/items/%s/similar?n=6", top2);
    g.path = path;
    r = R(&g);
    assert_int_equal(r.status, 200);
    ids_of(r.json, sim, sizeof sim);
    snprintf(first, sizeof first, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                               "item")));
    resp_free(&r);
    item_write(s.port, "PATCH", first, "{\"available\": false}", 200);
    r = R(&g);
    ids_of(r.json, sim2, sizeof sim2);
    assert_null(strstr(sim2, first));
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 6);
    assert_int_equal(strncmp(sim2, sim + strlen(first) + 1, strlen(sim) - strlen(first) - 1), 0);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/items/%s/similar?n=6&include_unavailable=true", top2);
    r = R(&g);
    assert_string_equal(ids_of(r.json, sim2, sizeof sim2), sim);
    assert_true(json_is_false(json_object_get(
        json_array_get(json_object_get(r.json, "items"), 0), "available")));
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/items/%s/similar?n=4&category=Cat/A&exclude=nosuch", top2);
    r = R(&g);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "requested")), 4);
    assert_int_equal(json_integer_value(json_object_get(r.json, "unknown_items")), 1);
    json_t *its = json_object_get(r.json, "items");
    assert_true(json_array_size(its) > 0);
    for (size_t k = 0; k < json_array_size(its); k++)
        assert_int_equal(strncmp(json_string_value(json_object_get(json_array_get(its, k),
                                                                   "category")),
                                 "Cat/A", 5),
                         0);
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/items/%s/similar?category=No/Such", top2);
    r = R(&g);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 0);
    assert_non_null(json_object_get(r.json, "reason"));
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/items/%s/similar?max_per_category=1", top2);
    expect(&g, 400, "unknown query parameter");
    /* Bad bodies and IDs. */
    snprintf(path, sizeof path, "/v1/items/%s", top2);
    req b = {.path = path, .method = "PATCH", .body = "{\"available\": \"no\"}", .port = s.port};
    expect(&b, 400, "\"available\" must be true or false");
    b.body = "{}";
    expect(&b, 400, "changes nothing");
    b.body = "{\"colour\": \"red\"}";
    expect(&b, 400, "unknown field \"colour\"");
    b.body = "{\"category\": \"A//B\"}";
    expect(&b, 400, NULL);
    b.body = "[1]";
    expect(&b, 400, "must be an object");
    b.method = "DELETE";
    expect(&b, 405, NULL);
    g.path = "/v1/items/NOWHERE";
    expect(&g, 404, "unknown product");
    /* kill -9: every acknowledged change is back. */
    assert_int_equal(server_stop(&s, SIGKILL), 128 + SIGKILL);
    assert_int_equal(server_start(&s, g_cat, log, NULL, NULL), 0);
    snprintf(path, sizeof path, "/v1/items/%s", top1);
    g.path = path;
    g.port = s.port;
    r = R(&g);
    assert_true(json_is_false(json_object_get(r.json, "available")));
    resp_free(&r);
    snprintf(path, sizeof path, "/v1/items/%s", top2);
    r = R(&g);
    assert_string_equal(json_string_value(json_object_get(r.json, "title")), "Renamed");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.json, "labels"),
                                                          "brand")), "acme");
    resp_free(&r);
    g.path = "/v1/items/BRANDNEW";
    expect(&g, 200, NULL);
    q.path = "/v1/users/user000/recommendations?n=5";
    q.port = s.port;
    r = R(&q);
    assert_null(strstr(ids_of(r.json, a, sizeof a), top1));
    resp_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    /* A model without a catalogue gets one from the first change (a
     * product the catalogue did not hold: 201). */
    snprintf(log, sizeof log, "%s/catalogue-log2.csv", g_dir);
    assert_int_equal(server_start(&s, g_mf, log, NULL, NULL), 0);
    req sh = {.path = "/v1/items/item003", .method = "PATCH", .body = "{\"available\": false}",
              .port = s.port};
    expect(&sh, 201, NULL);
    expect(&sh, 200, NULL);
    sh.method = NULL;
    sh.body = NULL;
    sh.path = "/v1/users/user000/recommendations?n=1000&exclude_rated=false";
    r = R(&sh);
    assert_int_equal(r.status, 200);
    assert_null(strstr(ids_of(r.json, a, sizeof a), "item003 "));
    resp_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* POST /v1/events: a purchase is gone from the user's next list, also
 * after kill -9; a ratings model takes rating events and names the type
 * it refuses. */
static void test_events(void **state)
{
    (void)state;
    make_catalogue_models();
    char log[160], a[4096];
    snprintf(log, sizeof log, "%s/events-log.csv", g_dir);
    server s;
    assert_int_equal(server_start(&s, g_ev, log, NULL, NULL), 0);
    req q = {.path = "/v1/users/user002/recommendations?n=5", .port = s.port};
    resp r = R(&q);
    char top1[32], body[256];
    snprintf(top1, sizeof top1, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                               "item")));
    resp_free(&r);
    snprintf(body, sizeof body, "{\"user\": \"user002\", \"item\": \"%s\", \"type\": \"Purchase\"}",
             top1);
    req p = {.path = "/v1/events", .body = body, .port = s.port};
    r = R(&p);
    assert_int_equal(r.status, 201);
    json_t *e0 = json_array_get(json_object_get(r.json, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(e0, "type")), "purchase");
    assert_true(json_number_value(json_object_get(e0, "confidence")) == 5.0);
    resp_free(&r);
    r = R(&q);
    assert_null(strstr(ids_of(r.json, a, sizeof a), top1));
    resp_free(&r);
    /* The batch form; a new user's events make a profile. */
    p.body = "[{\"user\": \"fresh\", \"item\": \"item001\", \"type\": \"cart\", \"value\": 2}, "
             "{\"user\": \"fresh\", \"item\": \"item002\", \"type\": \"view\", "
             "\"timestamp\": 1700000000}]";
    r = R(&p);
    assert_int_equal(r.status, 201);
    assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 2);
    resp_free(&r);
    req fr = {.path = "/v1/users/fresh/recommendations?n=50", .port = s.port};
    r = R(&fr);
    assert_true(json_is_false(json_object_get(r.json, "cold_start")));
    ids_of(r.json, a, sizeof a);
    assert_null(strstr(a, "item001 "));
    assert_null(strstr(a, "item002 "));
    resp_free(&r);
    /* Bad events. */
    p.body = "{\"user\": \"u\", \"item\": \"i\", \"type\": \"teleport\"}";
    expect(&p, 400, "teleport");
    p.body = "{\"user\": \"u\", \"item\": \"i\"}";
    expect(&p, 400, "\"type\" is missing");
    p.body = "{\"user\": \"u\", \"item\": \"i\", \"type\": \"view\", \"value\": \"x\"}";
    expect(&p, 400, "\"value\" must be a number");
    p.body = "{\"user\": \"u\", \"item\": \"i\", \"type\": \"view\", \"value\": -1}";
    expect(&p, 400, "event 0");
    p.body = "{\"user\": \"u\", \"item\": \"i\", \"type\": \"view\", \"colour\": 1}";
    expect(&p, 400, "unknown field \"colour\"");
    p.body = "[]";
    expect(&p, 400, "empty");
    /* kill -9: the purchase is still there. */
    assert_int_equal(server_stop(&s, SIGKILL), 128 + SIGKILL);
    assert_int_equal(server_start(&s, g_ev, log, NULL, NULL), 0);
    q.port = s.port;
    r = R(&q);
    assert_int_equal(r.status, 200);
    assert_null(strstr(ids_of(r.json, a, sizeof a), top1));
    resp_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    /* A model trained on ratings: rating events are ratings, others are
     * refused naming the type. */
    snprintf(log, sizeof log, "%s/events-log2.csv", g_dir);
    assert_int_equal(server_start(&s, g_cat, log, NULL, NULL), 0);
    q.port = s.port;
    q.path = "/v1/users/user004/recommendations?n=3";
    r = R(&q);
    snprintf(top1, sizeof top1, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                               "item")));
    resp_free(&r);
    p.port = s.port;
    snprintf(body, sizeof body,
             "{\"user\": \"user004\", \"item\": \"%s\", \"type\": \"purchase\"}", top1);
    p.body = body;
    expect(&p, 400, "type \"purchase\"");
    snprintf(body, sizeof body,
             "{\"user\": \"user004\", \"item\": \"%s\", \"type\": \"rating\", \"value\": 5}", top1);
    expect(&p, 201, NULL);
    r = R(&q);
    assert_null(strstr(ids_of(r.json, a, sizeof a), top1));
    resp_free(&r);
    assert_int_equal(server_stop(&s, SIGTERM), 0);
}

/* ---- experiments: variants, recommendation IDs, feedback ---- */

static json_t *experiment_variant(json_t *ex, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(ex, "variants"), k, v)
        if (!strcmp(json_string_value(json_object_get(v, "name")), name))
            return v;
    return NULL;
}

static bool rec_id_form(const char *id)
{
    size_t len = id ? strlen(id) : 0;
    if (len < 10 || len > 25 || id[8] != '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (i != 8 && !strchr("0123456789abcdef", id[i]))
            return false;
    return true;
}

/* A server of two variants, A (mf, the control) and B (itemcf), half the
 * users each, with a new ratings log named log_name in the test
 * directory (its path into log). */
static void start_ab_server(server *s, const char *log_name, char *log, size_t cap)
{
    char va[400], vb[400];
    snprintf(log, cap, "%s/%s", g_dir, log_name);
    snprintf(va, sizeof va, "A=%s:0.5", g_mf);
    snprintf(vb, sizeof vb, "B=%s:0.5", g_icf);
    const char *const args[] = {"--variant", va, "--variant", vb, "--ratings-log", log,
                                "--create-ratings-log", NULL};
    assert_int_equal(server_start_args(s, args, NULL), 0);
}

/* Two variants: lists carry an ID and the variant (the same for a user
 * every time), feedback is counted per variant with its interval, bad
 * feedback is refused naming the field, and the counts come back from
 * the log after kill -9. */
static void test_experiment(void **state)
{
    (void)state;
    char log[160];
    server s;
    start_ab_server(&s, "experiment-log.csv", log, sizeof log);
    assert_true(server_wait_output(&s, "experiment, control A", 5000));
    enum { USERS = 40 };
    char ids[USERS][32], vars[USERS][8];
    uint64_t imp[2] = {0, 0}, clk[2] = {0, 0}, pur[2] = {0, 0};
    for (int u = 0; u < USERS; u++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/users/xuser%d/recommendations?n=3", u);
        req q = {.path = path, .port = s.port};
        resp r = R(&q);
        assert_int_equal(r.status, 200);
        const char *id = json_string_value(json_object_get(r.json, "recommendation_id"));
        const char *var = json_string_value(json_object_get(r.json, "variant"));
        assert_true(rec_id_form(id));
        assert_true(var && (!strcmp(var, "A") || !strcmp(var, "B")));
        snprintf(ids[u], sizeof ids[u], "%s", id);
        snprintf(vars[u], sizeof vars[u], "%s", var);
        for (int j = 0; j < u; j++)
            assert_string_not_equal(ids[j], ids[u]);
        resp_free(&r);
        /* The same user, the same variant; another list, another ID. */
        r = R(&q);
        assert_string_equal(json_string_value(json_object_get(r.json, "variant")), vars[u]);
        assert_string_not_equal(json_string_value(json_object_get(r.json, "recommendation_id")),
                                ids[u]);
        resp_free(&r);
        /* Every user saw the list; every third clicked, every ninth bought. */
        int vk = vars[u][0] - 'A';
        char body[512];
        int n = snprintf(body, sizeof body,
                         "[{\"recommendation_id\":\"%s\",\"user\":\"xuser%d\",\"type\":"
                         "\"impression\"}", ids[u], u);
        imp[vk]++;
        if (u % 3 == 0) {
            n += snprintf(body + n, sizeof body - (size_t)n,
                          ",{\"recommendation_id\":\"%s\",\"user\":\"xuser%d\",\"item\":\"i1\","
                          "\"type\":\"click\",\"timestamp\":1700000000}", ids[u], u);
            clk[vk]++;
        }
        if (u % 9 == 0) {
            n += snprintf(body + n, sizeof body - (size_t)n,
                          ",{\"recommendation_id\":\"%s\",\"user\":\"xuser%d\",\"item\":\"i1\","
                          "\"type\":\"purchase\"}", ids[u], u);
            pur[vk]++;
        }
        snprintf(body + n, sizeof body - (size_t)n, "]");
        req f = {.path = "/v1/feedback", .body = body, .port = s.port};
        expect(&f, 201, NULL);
    }
    assert_true(imp[0] > 5 && imp[1] > 5); /* 40 users split about evenly */
    /* Similar products with user= come from the user's variant. */
    {
        char path[96];
        snprintf(path, sizeof path, "/v1/items/%s/similar?n=2&user=xuser1", "item001");
        req q = {.path = path, .port = s.port};
        resp r = R(&q);
        if (r.status == 200) {
            assert_string_equal(json_string_value(json_object_get(r.json, "variant")), vars[1]);
            assert_true(rec_id_form(
                json_string_value(json_object_get(r.json, "recommendation_id"))));
        }
        resp_free(&r);
    }
    /* Bad feedback: 400 naming what is wrong; nothing counted. */
    static const char *const bad[][2] = {
        {"{\"user\":\"u\",\"type\":\"click\"}", "recommendation_id"},
        {"{\"recommendation_id\":\"0123abcd-1\",\"type\":\"click\"}", "\"user\""},
        {"{\"recommendation_id\":\"0123abcd-1\",\"user\":\"u\",\"type\":\"view\"}", "type"},
        {"{\"recommendation_id\":\"0123abcd-1\",\"user\":\"u\"}", "\"type\""},
        {"{\"recommendation_id\":\"nothex!\",\"user\":\"u\",\"type\":\"click\"}",
         "recommendation_id"},
        {"{\"recommendation_id\":\"0123abcd-1\",\"user\":\"u\",\"type\":\"click\",\"x\":1}",
         "unknown field"},
        {"{\"recommendation_id\":\"0123abcd-1\",\"user\":\"u\",\"type\":\"click\","
         "\"timestamp\":-1}", "timestamp"},
        {"{\"recommendation_id\":\"0123abcd-1\",\"user\":7,\"type\":\"click\"}", "string"},
        {"[]", "empty"},
        {"[{\"recommendation_id\":\"0123abcd-1\",\"user\":\"u\",\"type\":\"click\"},"
         "{\"recommendation_id\":\"0123abcd-1\",\"user\":\"u\",\"type\":\"clack\"}]",
         "feedback[1]"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        req f = {.path = "/v1/feedback", .body = bad[k][0], .port = s.port};
        expect(&f, 400, bad[k][1]);
    }
    /* The figures. */
    for (int round = 0; round < 2; round++) {
        req q = {.path = "/v1/experiments", .port = s.port};
        resp r = R(&q);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "control")), "A");
        for (int vk = 0; vk < 2; vk++) {
            json_t *v = experiment_variant(r.json, vk ? "B" : "A");
            assert_non_null(v);
            assert_int_equal(json_integer_value(json_object_get(v, "impressions")), imp[vk]);
            assert_int_equal(json_integer_value(json_object_get(v, "clicks")), clk[vk]);
            assert_int_equal(json_integer_value(json_object_get(v, "purchases")), pur[vk]);
            assert_string_equal(json_string_value(json_object_get(v, "file")),
                                vk ? g_icf : g_mf);
            double ctr = json_real_value(json_object_get(v, "ctr"));
            assert_true(fabs(ctr - (double)clk[vk] / (double)imp[vk]) < 1e-12);
            double lo = json_real_value(json_object_get(v, "ctr_low")),
                   hi = json_real_value(json_object_get(v, "ctr_high"));
            assert_true(lo >= 0 && lo < ctr && ctr < hi && hi <= 1);
            /* Users seen: each user once (estimated: exact at this size). */
            assert_int_equal(json_integer_value(json_object_get(v, "users_seen")), imp[vk]);
            json_t *d = json_object_get(v, "ctr_diff");
            if (vk == 0) {
                assert_true(json_is_null(d));
            } else {
                double dl = json_real_value(json_object_get(v, "ctr_diff_low")),
                       dh = json_real_value(json_object_get(v, "ctr_diff_high"));
                assert_true(dl < json_real_value(d) && json_real_value(d) < dh);
            }
        }
        resp_free(&r);
        if (round == 0) {
            req m = {.path = "/metrics", .port = s.port};
            r = R(&m);
            char line[96];
            snprintf(line, sizeof line, "reco_experiment_clicks_total{variant=\"B\"} %llu\n",
                     (unsigned long long)clk[1]);
            assert_non_null(strstr(r.body, line));
            resp_free(&r);
            /* Acknowledged feedback survives kill -9: counted again from
             * the log. */
            assert_int_equal(server_stop(&s, SIGKILL), 128 + SIGKILL);
            start_ab_server(&s, "experiment-log.csv", log, sizeof log);
        }
    }
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    /* Training on the log skips the feedback records. */
    char trained[160];
    snprintf(trained, sizeof trained, "%s/experiment.model", g_dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' log info '%s' >/dev/null", RECO_BIN, log);
    assert_int_equal(system(cmd), 0);
    /* Compaction moves the feedback to the archive: a server given the
     * archive (--feedback-archive) counts it again, one without it starts
     * from 0. Models trained up to the log's end serve the variants. */
    char data[160], m1[160], m2[160], arch[160], va[400], vb[400];
    snprintf(data, sizeof data, "%s/experiment-data.csv", g_dir);
    snprintf(m1, sizeof m1, "%s/experiment-a.model", g_dir);
    snprintf(m2, sizeof m2, "%s/experiment-b.model", g_dir);
    snprintf(arch, sizeof arch, "%s/experiment-archive.csv", g_dir);
    size_t dlen;
    char *text = make_ratings(&dlen);
    FILE *df = fopen(data, "w");
    assert_non_null(df);
    assert_int_equal(fwrite(text, 1, dlen, df), dlen);
    fclose(df);
    free(text);
    const char *const trainings[] = {m1, m2};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "'%s' train --quiet --algo popular '%s' --ratings-log '%s' -o '%s'",
                 RECO_BIN, data, log, trainings[k]);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(cmd, sizeof cmd, "'%s' log compact --quiet '%s' --model '%s' --archive '%s'",
             RECO_BIN, log, m1, arch);
    assert_int_equal(system(cmd), 0);
    snprintf(va, sizeof va, "A=%s:0.5", m1);
    snprintf(vb, sizeof vb, "B=%s:0.5", m2);
    for (int with = 0; with < 2; with++) {
        const char *const args[] = {"--variant", va, "--variant", vb, "--ratings-log", log,
                                    with ? "--feedback-archive" : NULL, arch, NULL};
        assert_int_equal(server_start_args(&s, args, NULL), 0);
        resp r = R(&(req){.path = "/v1/experiments", .port = s.port});
        assert_int_equal(r.status, 200);
        for (int vk = 0; vk < 2; vk++) {
            json_t *v = experiment_variant(r.json, vk ? "B" : "A");
            assert_non_null(v);
            assert_int_equal(json_integer_value(json_object_get(v, "clicks")),
                             with ? clk[vk] : 0);
            assert_int_equal(json_integer_value(json_object_get(v, "purchases")),
                             with ? pur[vk] : 0);
        }
        resp_free(&r);
        assert_int_equal(server_stop(&s, SIGTERM), 0);
    }
    /* Another file as the archive is refused at start, naming it. */
    const char *const wrong[] = {"--variant", va, "--variant", vb, "--ratings-log", log,
                                 "--feedback-archive", log, NULL};
    assert_int_equal(server_start_args(&s, wrong, NULL), 2);
    assert_non_null(strstr(s.out, "not an archive of the ratings log"));
}

/* Variants that do not hold together are refused at start, saying why. */
static void test_experiment_bad_variants(void **state)
{
    (void)state;
    char va[400], vb[400], vc[400];
    snprintf(va, sizeof va, "A=%s:0.5", g_mf);
    snprintf(vb, sizeof vb, "B=%s:0.4", g_icf);
    snprintf(vc, sizeof vc, "A=%s:0.5", g_icf);
    const char *const sum[] = {"--variant", va, "--variant", vb, NULL};
    const char *const dup[] = {"--variant", va, "--variant", vc, NULL};
    const char *const form[] = {"--variant", "A:0.5", NULL};
    const char *const name[] = {"--variant", "bad name=x.model:1", NULL};
    const struct {
        const char *const *args;
        const char *says;
    } cases[] = {{sum, "add up to 0.9"}, {dup, "given twice"}, {form, "NAME=MODEL:SHARE"},
                 {name, "1 to 32"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        server s;
        assert_int_equal(server_start_args(&s, cases[k].args, NULL), 2);
        if (!strstr(s.out, cases[k].says))
            fail_msg("case %zu: expected \"%s\" in: %s", k, cases[k].says, s.out);
    }
}

/* The library API in this process: start, serve, refuse, stop. */
static void test_in_process(void **state)
{
    (void)state;
    reco_service_options so;
    reco_service_options_default(&so);
    so.model_path = g_mf;
    reco_service *svc = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&so, &svc, &err), RECO_OK);
    reco_http_options ho;
    reco_http_options_default(&ho);
    ho.port = 0;
    ho.threads = 1;
    ho.read_only = true;
    reco_http *h = NULL;
    /* A cap the descriptor limit cannot hold is refused up front. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < reco_http_fds_needed(1000000)) {
        ho.max_connections = 1000000;
        assert_int_equal(reco_http_start(svc, &ho, &h, &err), RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, "ulimit -n"));
        assert_null(h);
    }
    ho.max_connections = 64; /* fits any descriptor limit */
    ho.host = "0.0.0.0";
    assert_int_equal(reco_http_start(svc, &ho, &h, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "without a token"));
    ho.host = "127.0.0.1";
    assert_int_equal(reco_http_start(svc, &ho, &h, &err), RECO_OK);
    unsigned port = reco_http_port(h);
    assert_true(port > 0);
    /* The same port again: a clear I/O error. */
    reco_http *h2 = NULL;
    ho.port = port;
    assert_int_equal(reco_http_start(svc, &ho, &h2, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, "cannot listen"));
    req q = {.path = "/v1/users/user000/recommendations?n=2", .port = port};
    resp r = R(&q);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    resp_free(&r);
    /* The completion callback may run just after the client has the answer. */
    for (int k = 0; k < 100 && reco_http_in_flight(h) != 0; k++)
        usleep(10000);
    assert_int_equal(reco_http_in_flight(h), 0);
    /* Quiescing closes the connections waiting for a request at once (the
     * server runs on until stopped). */
    int idle = raw_connect(port, NULL);
    assert_true(idle >= 0);
    usleep(50 * 1000);
    reco_http_quiesce(h);
    assert_true(raw_closed_within(idle, 1000));
    close(idle);
    /* A connection that arrives after that is closed without an answer. */
    int late = raw_connect(port, NULL);
    if (late >= 0) {
        assert_true(raw_closed_within(late, 1000));
        close(late);
    }
    reco_http_quiesce(h); /* idempotent */
    assert_int_equal(reco_http_stop(h, 1000), 0);
    assert_int_equal(reco_http_stop(NULL, 0), 0);
    reco_service_close(svc);
}

/* A popular model has similar products too (it used to answer 400): a
 * full list from the chain, each product with its source, never the
 * product itself. */
static void test_similar_popular_model(void **state)
{
    (void)state;
    reco_service_options so;
    reco_service_options_default(&so);
    so.model_path = g_pop;
    reco_service *svc = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&so, &svc, &err), RECO_OK);
    reco_http_options ho;
    reco_http_options_default(&ho);
    ho.port = 0;
    ho.threads = 1;
    ho.read_only = true;
    ho.host = "127.0.0.1";
    reco_http *h = NULL;
    assert_int_equal(reco_http_start(svc, &ho, &h, &err), RECO_OK);
    req q = {.path = "/v1/items/item003/similar?n=6", .port = reco_http_port(h)};
    resp r = R(&q);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "algorithm")), "popular");
    json_t *items = json_object_get(r.json, "items");
    assert_int_equal(json_array_size(items), 6);
    assert_null(find_item(items, "item003"));
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it) {
        const char *src = json_string_value(json_object_get(it, "source"));
        assert_non_null(src);
        assert_true(!strcmp(src, "co_rated") || !strcmp(src, "co_customers") ||
                    !strcmp(src, "popular"));
    }
    resp_free(&r);
    q.path = "/v1/items/no-such-item/similar";
    r = R(&q);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    for (int t = 0; t < 100 && reco_http_in_flight(h) != 0; t++)
        usleep(10000);
    assert_int_equal(reco_http_stop(h, 1000), 0);
    reco_service_close(svc);
}

/* SIGTERM: the server stops accepting, finishes and exits 0. */
static void test_clean_shutdown(void **state)
{
    (void)state;
    long before = file_size(g_log);
    resp r = POST("/v1/ratings", "{\"user\":\"last\",\"item\":\"item001\",\"rating\":2}");
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_true(file_size(g_log) > before);
    assert_int_equal(server_stop(&g_srv, SIGTERM), 0);
    r = GET("/healthz");
    assert_int_equal(r.status, -1); /* nothing listens any more */
    resp_free(&r);
    /* Restarted on the same log, the ratings are back. */
    copy_file(g_mf, g_serve);
    assert_int_equal(server_start(&g_srv, g_serve, g_log, NULL, NULL), 0);
    r = GET("/v1/users/last/ratings");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    r = GET("/v1/users/newcomer-1/ratings");
    assert_int_equal(json_array_size(json_object_get(r.json, "ratings")), 4);
    resp_free(&r);
    r = GET("/metrics");
    double v = 0;
    assert_true(has_line_prefix(r.body, "reco_ratings_replayed", &v));
    assert_int_equal((int)v, 6);
    resp_free(&r);
    assert_int_equal(server_stop(&g_srv, SIGINT), 0);
}

#endif /* RECO_HAVE_CURL */

/* ---- the console's endpoints and files ---- */

/* The tests that write get a server of their own (its own log), so that
 * the shared server's log holds what the other tests count; requests
 * without a port go to it while the test runs. */
static server g_own;
static unsigned g_shared_port;

static int own_server_setup(void **state)
{
    (void)state;
    static int seq;
    char log[160];
    snprintf(log, sizeof log, "%s/own-log-%d.csv", g_dir, ++seq);
    if (server_start(&g_own, g_mf, log, NULL, NULL) != 0)
        return -1;
    g_shared_port = g_srv.port;
    g_srv.port = g_own.port;
    return 0;
}

static int own_server_teardown(void **state)
{
    (void)state;
    g_srv.port = g_shared_port;
    if (g_own.pid)
        server_stop(&g_own, SIGKILL);
    return 0;
}

/* GET /v1/users?prefix=: the model's users in byte order, users new since
 * training too, and every bad input named. */
static void test_users_prefix(void **state)
{
    (void)state;
    resp r = GET("/v1/users?prefix=user01&limit=5");
    assert_int_equal(r.status, 200);
    json_t *users = json_object_get(r.json, "users");
    assert_int_equal(json_array_size(users), 5);
    assert_true(json_is_true(json_object_get(r.json, "more")));
    assert_string_equal(json_string_value(json_object_get(r.json, "prefix")), "user01");
    const char *prev = "";
    for (size_t k = 0; k < 5; k++) {
        json_t *u = json_array_get(users, k);
        const char *id = json_string_value(json_object_get(u, "user"));
        char want[16];
        snprintf(want, sizeof want, "user01%zu", k); /* user010 .. user014 */
        assert_string_equal(id, want);
        assert_true(strcmp(prev, id) < 0);
        prev = id;
        assert_true(json_integer_value(json_object_get(u, "training_ratings")) >= 25);
    }
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.json, "index"),
                                                        "users")), N_USERS + 1);
    resp_free(&r);
    /* A whole ID; no match; no prefix at all: the first users. */
    r = GET("/v1/users?prefix=user299");
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 1);
    assert_false(json_is_true(json_object_get(r.json, "more")));
    resp_free(&r);
    r = GET("/v1/users?prefix=zzz");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 0);
    resp_free(&r);
    r = GET("/v1/users?limit=2");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.json, "users"), 0), "user")),
                        SPECIAL_USER); /* "s" < "u", and no user is new yet */
    resp_free(&r);
    /* Encoded: "slash/user ü". */
    r = GET("/v1/users?prefix=slash%2Fuser%20%C3");
    assert_int_equal(r.status, 400); /* half a character is not UTF-8 */
    resp_free(&r);
    r = GET("/v1/users?prefix=slash%2Fuser%20%C3%BC");
    assert_int_equal(json_array_size(json_object_get(r.json, "users")), 1);
    resp_free(&r);
    /* A user new since training is found, with its live rating. */
    expect(&(req){.path = "/v1/ratings",
                  .body = "{\"user\":\"user01-console-new\",\"item\":\"item001\",\"rating\":4}"},
           201, NULL);
    r = GET("/v1/users?prefix=user01-&limit=3");
    json_t *u = json_array_get(json_object_get(r.json, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "user")), "user01-console-new");
    assert_int_equal(json_integer_value(json_object_get(u, "live_ratings")), 1);
    assert_int_equal(json_integer_value(json_object_get(u, "training_ratings")), 0);
    resp_free(&r);
    r = GET("/v1/users?prefix=user01&limit=100");
    users = json_object_get(r.json, "users");
    prev = "";
    for (size_t k = 0; k < json_array_size(users); k++) { /* merged in order */
        const char *id = json_string_value(json_object_get(json_array_get(users, k), "user"));
        assert_true(strcmp(prev, id) < 0);
        prev = id;
    }
    assert_int_equal(json_array_size(users), 11);
    resp_free(&r);
    /* Bad input. */
    expect(&(req){.path = "/v1/users?limit=0"}, 400, "limit must be a whole number from 1 to 100");
    expect(&(req){.path = "/v1/users?limit=101"}, 400, "limit");
    expect(&(req){.path = "/v1/users?limit=ten"}, 400, "limit");
    expect(&(req){.path = "/v1/users?prefix=%ZZ"}, 400, "bad percent-escape");
    expect(&(req){.path = "/v1/users?prefix=a%01b"}, 400, "prefix must be");
    expect(&(req){.path = "/v1/users?prefix=a%00b"}, 400, "NUL");
    expect(&(req){.path = "/v1/users?prefix=a&prefix=b"}, 400, "more than once");
    expect(&(req){.path = "/v1/users?name=x"}, 400, "unknown query parameter");
    char path[400] = "/v1/users?prefix=";
    memset(path + strlen(path), 'a', 256);
    expect(&(req){.path = path}, 400, "at most 255 bytes");
    expect(&(req){.path = "/v1/users", .method = "DELETE"}, 405, NULL);
}

/* GET /v1/items/{item}/ratings: the training ratings' count, mean and
 * histogram, live ratings on top, the newest raters first. */
static void test_item_ratings(void **state)
{
    (void)state;
    resp r = GET("/v1/items/item007/ratings");
    assert_int_equal(r.status, 200);
    json_int_t count = json_integer_value(json_object_get(r.json, "count"));
    assert_true(count > 0);
    assert_true(json_is_true(json_object_get(r.json, "known_item")));
    json_t *hist = json_object_get(r.json, "histogram");
    assert_int_equal(json_array_size(hist), 5); /* stars 1 to 5 */
    json_int_t sum = 0;
    double mean = 0;
    for (size_t k = 0; k < 5; k++) {
        json_t *b = json_array_get(hist, k);
        assert_true(json_number_value(json_object_get(b, "rating")) == (double)(k + 1));
        json_int_t c = json_integer_value(json_object_get(b, "count"));
        sum += c;
        mean += (double)c * (double)(k + 1);
    }
    assert_int_equal(sum, count);
    assert_true(fabs(json_number_value(json_object_get(r.json, "mean")) - mean / (double)count) <
                1e-4);
    json_t *recent = json_object_get(r.json, "recent");
    assert_true(json_array_size(recent) == (count < 10 ? (size_t)count : 10));
    assert_true(json_is_null(json_object_get(json_array_get(recent, 0), "timestamp")));
    resp_free(&r);
    /* Live ratings: a new rater and a changed rating, the newest first. */
    expect(&(req){.path = "/v1/ratings",
                  .body = "[{\"user\":\"rater-a\",\"item\":\"item007\",\"rating\":1,"
                          "\"timestamp\":1800000000},"
                          "{\"user\":\"rater-b\",\"item\":\"item007\",\"rating\":2,"
                          "\"timestamp\":1800000100}]"},
           201, NULL);
    r = GET("/v1/items/item007/ratings?recent=3");
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), count + 2);
    assert_int_equal(json_integer_value(json_object_get(r.json, "live_ratings")), 2);
    recent = json_object_get(r.json, "recent");
    assert_int_equal(json_array_size(recent), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recent, 0), "user")),
                        "rater-b");
    assert_string_equal(json_string_value(json_object_get(json_array_get(recent, 1), "user")),
                        "rater-a");
    assert_string_equal(json_string_value(json_object_get(json_array_get(recent, 0), "source")),
                        "live");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(recent, 0), "timestamp")),
                     1800000100);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recent, 2), "source")),
                        "training");
    resp_free(&r);
    r = GET("/v1/items/item007/ratings?recent=0");
    assert_int_equal(json_array_size(json_object_get(r.json, "recent")), 0);
    resp_free(&r);
    /* A product only live ratings know. */
    expect(&(req){.path = "/v1/ratings",
                  .body = "{\"user\":\"rater-a\",\"item\":\"console-new-item\",\"rating\":3}"},
           201, NULL);
    r = GET("/v1/items/console-new-item/ratings");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 1);
    assert_int_equal(json_integer_value(json_object_get(r.json, "training_ratings")), 0);
    resp_free(&r);
    /* Encoded IDs, bad input. */
    r = GET("/v1/items/odd%2Fitem%20%C3%BC/ratings");
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 30);
    resp_free(&r);
    expect(&(req){.path = "/v1/items/no-such-item/ratings"}, 404, "unknown product");
    expect(&(req){.path = "/v1/items/item007/ratings?recent=101"}, 400,
           "recent must be a whole number from 0 to 100");
    expect(&(req){.path = "/v1/items/item007/ratings?recent=-1"}, 400, "recent");
    expect(&(req){.path = "/v1/items/item007/ratings?n=3"}, 400, "unknown query parameter");
    expect(&(req){.path = "/v1/items/bad%ZZ/ratings"}, 400, "percent-escape");
    expect(&(req){.path = "/v1/items/item007/ratings", .body = "{}"}, 405, NULL);
}

/* recommendations?variant=NAME: that variant's list, outside the
 * experiment. */
static void test_variant_param(void **state)
{
    (void)state;
    char log[160];
    server s;
    start_ab_server(&s, "variant-param-log.csv", log, sizeof log);
    /* A user of each variant, by their own lists. */
    char user_of[2][32] = {"", ""};
    json_t *own[2] = {NULL, NULL};
    for (int u = 0; u < 40 && (!own[0] || !own[1]); u++) {
        char path[96];
        snprintf(path, sizeof path, "/v1/users/user%03d/recommendations?n=5", u);
        resp r = R(&(req){.path = path, .port = s.port});
        int v = json_string_value(json_object_get(r.json, "variant"))[0] - 'A';
        if (!own[v]) {
            own[v] = json_incref(json_object_get(r.json, "items"));
            snprintf(user_of[v], sizeof user_of[v], "user%03d", u);
        }
        resp_free(&r);
    }
    assert_non_null(own[0]);
    assert_non_null(own[1]);
    resp e = R(&(req){.path = "/v1/experiments", .port = s.port});
    json_int_t lists_before = 0;
    for (size_t k = 0; k < 2; k++)
        lists_before += json_integer_value(json_object_get(
            json_array_get(json_object_get(e.json, "variants"), k), "lists_served"));
    resp_free(&e);
    for (int v = 0; v < 2; v++) {
        char path[128];
        /* The user's own variant asked by name: the same list. */
        snprintf(path, sizeof path, "/v1/users/%s/recommendations?n=5&variant=%c", user_of[v],
                 'A' + v);
        resp r = R(&(req){.path = path, .port = s.port});
        assert_int_equal(r.status, 200);
        assert_true(json_equal(json_object_get(r.json, "items"), own[v]));
        assert_string_equal(json_string_value(json_object_get(r.json, "variant")),
                            v ? "B" : "A");
        assert_null(json_object_get(r.json, "recommendation_id"));
        resp_free(&r);
        /* The other variant: its algorithm. */
        snprintf(path, sizeof path, "/v1/users/%s/recommendations?n=5&variant=%c", user_of[v],
                 'B' - v);
        r = R(&(req){.path = path, .port = s.port});
        assert_string_equal(json_string_value(json_object_get(r.json, "algorithm")),
                            v ? g_algo_a : g_algo_b);
        resp_free(&r);
        json_decref(own[v]);
    }
    /* Rules with a variant. */
    char path[160];
    snprintf(path, sizeof path, "/v1/users/%s/recommendations?n=5&variant=B&exclude=item001",
             user_of[0]);
    expect(&(req){.path = path, .port = s.port}, 200, NULL);
    /* Not counted as served lists. */
    e = R(&(req){.path = "/v1/experiments", .port = s.port});
    json_int_t lists_after = 0;
    for (size_t k = 0; k < 2; k++)
        lists_after += json_integer_value(json_object_get(
            json_array_get(json_object_get(e.json, "variants"), k), "lists_served"));
    assert_int_equal(lists_after, lists_before);
    resp_free(&e);
    expect(&(req){.path = "/v1/users/user001/recommendations?variant=C", .port = s.port}, 400,
           "unknown variant \"C\": this server has A, B");
    expect(&(req){.path = "/v1/users/user001/recommendations?variant=a%20b", .port = s.port},
           400, "variant must be");
    expect(&(req){.path = "/v1/users/user001/recommendations?variant=", .port = s.port}, 400,
           "variant must be");
    expect(&(req){.path = "/v1/users/user001/recommendations?variant=A&variant=B",
                  .port = s.port},
           400, "more than once");
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    /* Without variants the one variant is "default". */
    expect(&(req){.path = "/v1/users/user001/recommendations?variant=default"}, 200, NULL);
    expect(&(req){.path = "/v1/users/user001/recommendations?variant=A"}, 400,
           "this server has default");
}

static bool header_has(const resp *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

/* GET /: the console's files, embedded, with their types, ETags and
 * policy; /report/ only with --report, and only inside it. */
static void test_console_files(void **state)
{
    (void)state;
    resp r = GET("/");
    assert_int_equal(r.status, 200);
    assert_true(header_has(&r, "Content-Type: text/html; charset=utf-8"));
    assert_true(header_has(&r, "Content-Security-Policy: default-src 'none'; script-src 'self'"));
    assert_true(header_has(&r, "X-Content-Type-Options: nosniff"));
    assert_non_null(strstr(r.body, "<script src=\"/console/console.js\""));
    assert_null(strstr(r.body, "<script>")); /* nothing inline */
    const char *et = strcasestr(r.headers, "ETag: ");
    assert_non_null(et);
    char etag[64] = "";
    sscanf(et + 6, "%63[^\r\n]", etag);
    resp_free(&r);
    /* The same ETag: 304, no body. */
    {
        char rq[512];
        int n = snprintf(rq, sizeof rq, "GET / HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: "
                         "%s\r\nConnection: close\r\n\r\n", etag);
        raw_resp rr = raw_exchange(g_srv.port, rq, (size_t)n, 5000);
        assert_int_equal(rr.status, 304);
        assert_int_equal(rr.body_len, 0);
        raw_resp_free(&rr);
    }
    r = GET("/console/console.js");
    assert_int_equal(r.status, 200);
    assert_true(header_has(&r, "Content-Type: text/javascript"));
    assert_null(strstr(r.body, "innerHTML")); /* IDs only ever as text */
    resp_free(&r);
    r = GET("/console/console.css");
    assert_true(header_has(&r, "Content-Type: text/css"));
    resp_free(&r);
    expect(&(req){.path = "/console/nope.js"}, 404, "the console has no file");
    expect(&(req){.path = "/console/"}, 404, NULL);
    expect(&(req){.path = "/", .body = "{}"}, 405, NULL);
    expect(&(req){.path = "/report/"}, 404, "--report DIR");
    /* A served report, read-only and confined to its directory. */
    char dir[160], sub[200], file[220], outside[200], link[220];
    snprintf(dir, sizeof dir, "%s/report", g_dir);
    snprintf(sub, sizeof sub, "%s/img", dir);
    snprintf(outside, sizeof outside, "%s/secret.txt", g_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(file, sizeof file, "%s/index.html", dir);
    write_file(file, "<!doctype html><html><body>report</body></html>\n");
    snprintf(file, sizeof file, "%s/stats.json", dir);
    write_file(file, "{\"ratings\":1}\n");
    snprintf(file, sizeof file, "%s/img/a.svg", dir);
    write_file(file, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
    snprintf(file, sizeof file, "%s/.hidden", dir);
    write_file(file, "hidden\n");
    write_file(outside, "secret\n");
    snprintf(link, sizeof link, "%s/link.txt", dir);
    assert_int_equal(symlink(outside, link), 0);
    char model[160];
    snprintf(model, sizeof model, "%s", g_mf);
    const char *const args[] = {"--model", model, "--report", dir, NULL};
    server s;
    assert_int_equal(server_start_args(&s, args, NULL), 0);
    r = R(&(req){.path = "/report/", .port = s.port});
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "report"));
    assert_true(header_has(&r, "Content-Type: text/html"));
    assert_true(header_has(&r, "Content-Security-Policy: default-src 'none'"));
    resp_free(&r);
    r = R(&(req){.path = "/report/stats.json", .port = s.port});
    assert_true(header_has(&r, "Content-Type: application/json"));
    resp_free(&r);
    r = R(&(req){.path = "/report/img/a.svg", .port = s.port});
    assert_int_equal(r.status, 200);
    assert_true(header_has(&r, "Content-Type: image/svg+xml"));
    resp_free(&r);
    expect(&(req){.path = "/report/nope.png", .port = s.port}, 404, "the report has no file");
    expect(&(req){.path = "/report/img", .port = s.port}, 404, NULL); /* a directory */
    expect(&(req){.path = "/report/link.txt", .port = s.port}, 404, NULL); /* a symlink */
    expect(&(req){.path = "/report/.hidden", .port = s.port}, 400, "not a report file name");
    expect(&(req){.path = "/report/..%2Fsecret.txt", .port = s.port}, 400, "not a report file");
    expect(&(req){.path = "/report/img//a.svg", .port = s.port}, 400, "not a report file");
    expect(&(req){.path = "/report/stats.json", .body = "{}", .port = s.port}, 405, NULL);
    /* Dot segments as sent (curl would squash them): refused. */
    static const char *const raw[] = {
        "GET /report/../secret.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET /report/img/../../secret.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET /report/./stats.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    };
    for (size_t k = 0; k < sizeof raw / sizeof raw[0]; k++) {
        raw_resp rr = raw_exchange(s.port, raw[k], strlen(raw[k]), 5000);
        expect_raw_error(&rr, 400, "not a report file name");
        assert_null(strstr(rr.body, "secret\n"));
        raw_resp_free(&rr);
    }
    assert_int_equal(server_stop(&s, SIGTERM), 0);
    /* --report of something that is not a directory is refused at start. */
    const char *const bad[] = {"--model", model, "--report", outside, NULL};
    assert_int_equal(server_start_args(&s, bad, NULL), 2);
    assert_non_null(strstr(s.out, "--report"));
}

int main(void)
{
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_token_and_status_table),
    };
    /* RECO_TEST_FILTER=NAME runs only the matching tests (to repeat one). */
    if (getenv("RECO_TEST_FILTER"))
        cmocka_set_test_filter(getenv("RECO_TEST_FILTER"));
    int rc = cmocka_run_group_tests_name("http_unit", unit, NULL, NULL);
#ifdef RECO_HAVE_CURL
    if (access(RECO_BIN, X_OK) != 0) {
        fprintf(stderr, "no reco binary at %s\n", RECO_BIN);
        return rc ? rc : TEST_SKIP_STATUS;
    }
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(test_read_endpoints),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_framing_and_error_bodies),
        cmocka_unit_test(test_host_check),
        cmocka_unit_test(test_admin_writes_need_json_or_token),
        cmocka_unit_test(test_request_log_escaped),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_connection_caps),
        cmocka_unit_test(test_shutdown_closes_idle),
        cmocka_unit_test(test_scores_and_predicted_ratings),
        cmocka_unit_test(test_encoded_ids),
        cmocka_unit_test(test_client_mistakes),
        cmocka_unit_test(test_post_then_recommend),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_concurrent_reloads),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_durable_after_kill9),
        cmocka_unit_test(test_rules_match_cli),
        cmocka_unit_test(test_catalogue_live),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_experiment),
        cmocka_unit_test(test_experiment_bad_variants),
        cmocka_unit_test(test_in_process),
        cmocka_unit_test(test_similar_popular_model),
        cmocka_unit_test_setup_teardown(test_users_prefix, own_server_setup,
                                        own_server_teardown),
        cmocka_unit_test_setup_teardown(test_item_ratings, own_server_setup,
                                        own_server_teardown),
        cmocka_unit_test(test_variant_param),
        cmocka_unit_test(test_console_files),
        cmocka_unit_test(test_clean_shutdown),
    };
    rc |= cmocka_run_group_tests_name("http_server", server_tests, group_setup, group_teardown);
#else
    fprintf(stderr, "built without libcurl: the server tests are skipped\n");
#endif
    return rc;
}
