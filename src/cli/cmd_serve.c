/* reco serve: recommendations over HTTP (REST, JSON). The server itself is
 * src/server/http.c; this command parses options, opens the service, and
 * turns signals (through a self-pipe read by the main thread) into reloads
 * and a clean shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "reco/ease.h"

#ifdef RECO_HAVE_SERVER
#include "http.h"
#include "reco/pg_source.h"
#include "reco/service.h"

#define TOKEN_FILE_MAX 4096
#define STOP_WAIT_MS 10000

#define DEFAULT_MAX_LIVE_BYTES ((uint64_t)1 << 30)

/* --max-live-bytes: a size with K, M, G suffixes, or 0 for no limit. */
static int parse_live_bytes(const char *arg, void *dest)
{
    if (!strcmp(arg, "0")) {
        *(uint64_t *)dest = 0;
        return 0;
    }
    return reco_ease_parse_bytes("--max-live-bytes", arg, dest, NULL) ? -1 : 0;
}

/* The self-pipe: the handler only writes the signal number to it; the
 * main thread reads it and does the work. A handler (rather than sigwait
 * alone) because threads started before main, such as OpenBLAS's, do not
 * block the signals and would otherwise take the default action. */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sig_pipe[1], &b, 1);
    (void)w; /* a full pipe already holds a wake-up */
    errno = saved;
}

static int wait_signal(void)
{
    for (;;) {
        unsigned char b;
        ssize_t r = read(sig_pipe[0], &b, 1);
        if (r == 1)
            return b;
        if (r < 0 && errno != EINTR)
            return SIGTERM;
    }
}

/* The token: the first line of path, without surrounding whitespace. */
static int read_token(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error("serve", "cannot read the token file %s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(TOKEN_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TOKEN_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f) != 0;
    fclose(f);
    if (!buf || bad || n > TOKEN_FILE_MAX) {
        cli_error("serve", "%s: %s", path,
                  !buf ? "out of memory" : bad ? "read error" : "over 4096 bytes: not a token file");
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    if (!len) {
        cli_error("serve", "%s: the token is empty", path);
        free(buf);
        return -1;
    }
    memmove(buf, s, len + 1);
    *out = buf;
    return 0;
}

/* Every connection is a file descriptor: raises the soft limit as far as
 * the hard one allows, and when that is still short of the default cap,
 * lowers the cap to fit (a cap given on the command line is left for
 * reco_http_start to refuse with a message). */
static void fit_fd_limit(reco_http_options *ho, bool cap_given)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = reco_http_fds_needed(ho->max_connections);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        struct rlimit nl = {cur, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
            rl.rlim_cur = cur;
    }
    if (cap_given || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return;
    unsigned cap = ho->max_connections;
    while (cap > 16 && reco_http_fds_needed(cap) > rl.rlim_cur)
        cap -= cap / 16 > 1 ? cap / 16 : 1;
    fprintf(stderr,
            "reco serve: the file descriptor limit (ulimit -n) is %llu: serving at most %u "
            "connections at once\n", (unsigned long long)rl.rlim_cur, cap);
    ho->max_connections = cap;
    if (ho->max_connections_per_ip > cap)
        ho->max_connections_per_ip = cap;
}

/* --variant NAME=MODEL:SHARE, each into v[k] (the strings point into a
 * copy in bufs[k], freed by the caller). 0, or EXIT_USAGE after saying
 * what is wrong. */
static int parse_variants(const cli_list *l, reco_variant_spec *v, char **bufs)
{
    for (int k = 0; k < l->n; k++) {
        char *b = bufs[k] = strdup(l->v[k]);
        if (!b) {
            cli_error("serve", "out of memory");
            return EXIT_FAIL;
        }
        char *eq = strchr(b, '='), *colon = strrchr(b, ':');
        if (!eq || !colon || colon < eq || eq == b || colon == eq + 1 || !colon[1])
            return cli_usage("serve", "--variant wants NAME=MODEL:SHARE (such as "
                             "control=a.model:0.5), got \"%s\"", l->v[k]);
        *eq = *colon = '\0';
        double share;
        if (cli_parse_double(colon + 1, &share))
            return cli_usage("serve", "--variant %s: the share \"%s\" is not a number (a "
                             "fraction such as 0.5)", b, colon + 1);
        v[k].name = b;
        v[k].model_path = eq + 1;
        v[k].share = share;
    }
    return 0;
}

/* The service's notes (a model file changed in place) as stderr lines. */
static void log_line(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "reco serve: %s\n", msg);
    fflush(stderr);
}

static void print_model(const char *what, reco_service *svc, const reco_http_options *ho,
                        unsigned port)
{
    json_t *info = reco_service_model_info(svc);
    char u[32], i[32];
    const char *algo = info ? json_string_value(json_object_get(info, "algorithm")) : NULL;
    cli_thousands(info ? (uint64_t)json_integer_value(json_object_get(info, "users")) : 0, u,
                  sizeof u);
    cli_thousands(info ? (uint64_t)json_integer_value(json_object_get(info, "items")) : 0, i,
                  sizeof i);
    if (port) {
        bool v6 = strchr(ho->host, ':') && ho->host[0] != '[';
        fprintf(stderr, "reco serve: listening on http://%s%s%s:%u (model %s, %s users, %s products)\n",
                v6 ? "[" : "", ho->host, v6 ? "]" : "", port, algo ? algo : "?", u, i);
    } else {
        fprintf(stderr, "reco serve: %s (model %s, %s users, %s products)\n", what,
                algo ? algo : "?", u, i);
    }
    fflush(stderr);
    json_decref(info);
}

/* Frees v[0..n). */
static void free_strings(char **v, int n)
{
    for (int k = 0; k < n; k++)
        free(v[k]);
}

int cmd_serve(int argc, char **argv)
{
    reco_service_options so;
    reco_service_options_default(&so);
    so.notice = log_line;
    so.max_live_bytes = DEFAULT_MAX_LIVE_BYTES;
    so.list_ids = true;
    reco_http_options ho;
    reco_http_options_default(&ho);
    const char *token_file = NULL;
    uint32_t max_conn = 0, idle_s = ho.idle_timeout_s;
    double header_s = ho.header_timeout_ms / 1000.0, body_s = ho.body_timeout_ms / 1000.0;
    bool quiet = false;
    cli_list hosts = {.n = 0}, variants = {.n = 0};
    const cli_option options[] = {
        {CLI_STRING, "model", 'm', "MODEL", "the model to serve (from reco train); or give it as "
         "the argument", &so.model_path, 0, 0, NULL, NULL},
        {CLI_FLAG, "map-model", 0, NULL, "serve the model from the file's pages, mapped, "
         "instead of a private copy: replicas on one machine mapping the same file share its "
         "memory (docs/scaling.md). The file must then be replaced only by renaming a new file "
         "over it and reloading, never changed in place (cp over it, truncation): that could "
         "crash the server or change its answers.", &so.map_model, 0, 0, NULL, NULL},
        {CLI_STRING, "ratings-log", 0, "FILE", "append new ratings here (a CSV with a header "
         "line naming the log) and replay, on start and reload, the ratings after the point the "
         "model was trained up to (reco train --ratings-log); without it the server is "
         "read-only. A missing log, another log, or one compacted past the model's point stops "
         "the start with the reason.", &so.ratings_log, 0, 0, NULL, NULL},
        {CLI_STRING, "store", 0, "URI", "instead of a ratings log: write new ratings, catalogue "
         "changes and feedback to PostgreSQL (postgresql://[USER@]HOST[:PORT]/DB[?table=NAME], "
         "table reco_log by default, created when absent), committed before they are "
         "acknowledged, and follow what other reco serve processes on the same table write "
         "(within a second): replicas behind a load balancer. Every row is replayed on start "
         "and reload. While the database is out of reach writes are answered 503 and reads "
         "go on; the connection is made again by itself. Give such a server more --threads than "
         "cores: writers wait on the database, and those that wait together share one COMMIT "
         "(docs/postgresql.md).", &so.store, 0,
         0, NULL, NULL},
        {CLI_LIST, "variant", 0, "NAME=MODEL:SHARE", "an A/B test: serve MODEL to the share "
         "SHARE of the users (repeatable, instead of MODEL; the first is the control). Users are "
         "split by a fixed hash of their ID, the same on every start; the shares must add up to "
         "1; names are 1 to 32 of A-Z, a-z, 0-9, _ and -. Every variant sees the same new "
         "ratings; feedback (POST /v1/feedback, kept in the ratings log) is counted per variant "
         "in GET /v1/experiments and /metrics (docs/experiments.md).", &variants, 0,
         RECO_VARIANTS_MAX, NULL, NULL},
        {CLI_FLAG, "create-ratings-log", 0, NULL, "create the log if it does not exist (for a "
         "first start; refused when the model was trained with a log)", &so.create_log, 0, 0,
         NULL, NULL},
        {CLI_FLAG, "skip-bad-log", 0, NULL, "replay skips bad log lines (counted, the first "
         "reported) instead of stopping with LOG:LINE: reason", &so.skip_bad_log, 0, 0, NULL,
         NULL},
        {CLI_STRING, "feedback-archive", 0, "ARCHIVE", "also count the feedback in ARCHIVE, "
         "where reco log compact moved the log's first lines, so that an experiment's figures "
         "survive compaction (it must be this log's archive, ending where the log starts)",
         &so.feedback_archive, 0, 0, NULL, NULL},
        {CLI_CUSTOM, "max-live-bytes", 0, "N", "memory the ratings taken since training may use "
         "(K, M, G suffixes; default 1G; 0: no limit); beyond it new ratings are answered 503 "
         "until a retrained model is reloaded (docs/operations.md has the sizing)",
         &so.max_live_bytes, 0, 0, "a size such as 512M or 2G, or 0 for no limit",
         parse_live_bytes},
        {CLI_STRING, "host", 0, "HOST", "address to listen on (default 127.0.0.1); a "
         "non-loopback address needs a token", &ho.host, 0, 0, NULL, NULL},
        {CLI_U32, "port", 0, "N", "port (default 8080; 0: any free port, shown at start)",
         &ho.port, 0, 65535, NULL, NULL},
        {CLI_U32, "threads", 0, "N", "worker threads (default: one per core)", &ho.threads, 1,
         1024, NULL, NULL},
        {CLI_STRING, "token-file", 0, "FILE", "require \"Authorization: Bearer TOKEN\" for "
         "writes (POST /v1/ratings, /v1/admin/*); the token is the file's first line. The "
         "environment variable RECO_TOKEN works too. Without a token, POST /v1/admin/* needs "
         "\"Content-Type: application/json\" (else 415).", &token_file, 0, 0, NULL, NULL},
        {CLI_LIST, "allow-host", 0, "NAME", "also answer requests whose Host is NAME "
         "(comma-separated list; repeatable). On a loopback address only localhost, 127.x.y.z "
         "and [::1] are answered otherwise (421), so a web page cannot reach the server through "
         "DNS rebinding; on any address, giving names limits it to them.", &hosts, 0, 0, NULL,
         NULL},
        {CLI_STRING, "report", 0, "DIR", "serve the report of reco explore --out DIR read-only "
         "under /report/ and link it from the web console", &ho.report_dir, 0, 0, NULL, NULL},
        {CLI_FLAG, "log-requests", 0, NULL, "print one line per request on stderr",
         &ho.log_requests, 0, 0, NULL, NULL},
        CLI_OPT_QUIET(&quiet, "no per-request lines (the default; wins over --log-requests)"),
        CLI_OPT_HEADING("Connections (kept alive between requests; a client over a cap gets "
                        "503):"),
        {CLI_U32, "max-connections", 0, "N", "connections served at once (default 4096)",
         &max_conn, 1, 1000000, NULL, NULL},
        {CLI_U32, "max-connections-per-ip", 0, "N", "connections from one client address, IPv6 "
         "per /64 (default 256; 0: no per-address cap)", &ho.max_connections_per_ip, 0, 1000000,
         "a number from 0 (no cap) to 1000000", NULL},
        {CLI_DOUBLE, "header-timeout", 0, "S", "a request's line and headers must be in within S "
         "seconds (default 10): of connecting, for the first request; of its request line, for "
         "later ones. Else 408 and closed.", &header_s, 0.1, 86400, "seconds from 0.1 to 86400",
         NULL},
        {CLI_DOUBLE, "body-timeout", 0, "S", "a request body must be in within S seconds of the "
         "headers (default 30). Else 408 and closed.", &body_s, 0.1, 86400,
         "seconds from 0.1 to 86400", NULL},
        {CLI_U32, "idle-timeout", 0, "S", "a connection waiting for its next request, or on "
         "which nothing moves, is closed after S seconds (default 30)", &idle_s, 1, 86400,
         "whole seconds from 1 to 86400", NULL},
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "serve",
        .usage = "[OPTIONS] MODEL\n[OPTIONS] --model MODEL",
        .description =
            "Serves recommendations from a model file over HTTP (REST, JSON): per-user "
            "recommendations, similar products, predictions, a user's ratings, new ratings "
            "(durable before they are acknowledged), hot reload, /healthz and /metrics. /healthz "
            "answers 503 \"degraded\" while new ratings cannot be taken (the log cannot be "
            "written, or the memory cap is reached); reads go on meanwhile. The endpoints are "
            "described in docs/api.md, their JSON in docs/json.md, running it in "
            "docs/operations.md. GET / answers a web console (customers, products, trying "
            "ratings, the model and live charts; docs/console.md): open "
            "http://HOST:PORT/ in a browser.",
        .options = options,
        .epilogue =
            "Signals: SIGHUP reloads the model file (a bad file is reported and the old model "
            "keeps serving); SIGINT or SIGTERM stop accepting connections, close the idle ones, "
            "finish the requests in flight and flush the ratings log.\n"
            "\n"
            "The log grows until it is compacted: train with it (reco train RATINGS "
            "--ratings-log LOG -o MODEL), reload, then move what the model holds to an archive "
            "with reco log compact LOG --model MODEL --archive ARCHIVE, which is safe while the "
            "server runs (docs/operations.md).",
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first < argc) {
        if (so.model_path)
            return cli_usage("serve", "MODEL is given twice (--model %s and %s)", so.model_path,
                             argv[first]);
        if (first < argc - 1)
            return cli_usage("serve", "expected one MODEL, got \"%s\" too", argv[argc - 1]);
        so.model_path = argv[first];
    }
    if (so.store && so.ratings_log)
        return cli_usage("serve", "give either --ratings-log or --store, not both");
    if (so.feedback_archive && !so.ratings_log)
        return cli_usage("serve", "--feedback-archive counts feedback beside a --ratings-log "
                                  "(the log's archive); give the log too");
    if (so.store && !reco_pg_is_source(so.store))
        return cli_usage("serve", "--store takes a postgresql:// URI, not \"%s\"", so.store);
    reco_variant_spec vspec[RECO_VARIANTS_MAX];
    char *vbufs[RECO_VARIANTS_MAX] = {NULL};
    if (variants.n) {
        if (so.model_path)
            return cli_usage("serve", "give either MODEL or --variant, not both (%s and --variant "
                             "%s)", so.model_path, variants.v[0]);
        reco_error verr = {0};
        rc = parse_variants(&variants, vspec, vbufs);
        if (rc == 0 && reco_variants_check(vspec, (size_t)variants.n, &verr) != RECO_OK)
            rc = cli_usage("serve", "%s", verr.msg);
        if (rc) {
            free_strings(vbufs, variants.n);
            return rc;
        }
        so.variants = vspec;
        so.n_variants = (size_t)variants.n;
    } else if (!so.model_path) {
        return cli_usage("serve", "missing MODEL");
    }
    if (quiet)
        ho.log_requests = false;
    if (ho.report_dir) {
        int dfd = open(ho.report_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            free_strings(vbufs, variants.n);
            return cli_usage("serve", "--report %s: %s (give the directory reco explore --out "
                             "wrote)", ho.report_dir, strerror(errno));
        }
        close(dfd);
    }
    bool max_conn_given = max_conn > 0;
    if (max_conn_given)
        ho.max_connections = max_conn;
    ho.header_timeout_ms = (unsigned)(header_s * 1000 + 0.5);
    ho.body_timeout_ms = (unsigned)(body_s * 1000 + 0.5);
    ho.idle_timeout_s = idle_s;
    /* --allow-host, given several times, is one comma-separated list. */
    size_t cap = 1;
    for (int k = 0; k < hosts.n; k++)
        cap += strlen(hosts.v[k]) + 1;
    char *allow_hosts = NULL;
    if (hosts.n) {
        allow_hosts = malloc(cap);
        if (!allow_hosts) {
            cli_error("serve", "out of memory");
            free_strings(vbufs, variants.n);
            return EXIT_FAIL;
        }
        allow_hosts[0] = '\0';
        for (int k = 0; k < hosts.n; k++) {
            if (k)
                strcat(allow_hosts, ",");
            strcat(allow_hosts, hosts.v[k]);
        }
    }
    ho.allow_hosts = allow_hosts;
    fit_fd_limit(&ho, max_conn_given);
    char *token = NULL;
    if (token_file) {
        if (read_token(token_file, &token)) {
            free(allow_hosts);
            free_strings(vbufs, variants.n);
            return EXIT_USAGE;
        }
    } else if (getenv("RECO_TOKEN") && getenv("RECO_TOKEN")[0]) {
        token = strdup(getenv("RECO_TOKEN"));
    }
    ho.token = token;
    ho.read_only = so.ratings_log == NULL && so.store == NULL;
    ho.max_n = so.max_n;
    ho.max_batch = so.max_batch;

    if (pipe2(sig_pipe, O_CLOEXEC) != 0 || fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
        cli_error("serve", "pipe: %s", strerror(errno));
        free(token);
        free(allow_hosts);
        free_strings(vbufs, variants.n);
        return EXIT_FAIL;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The server's threads start with the signals blocked, so the handler
     * never interrupts their system calls. */
    sigset_t sigs, old_mask;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);

    reco_error err = {0};
    reco_service *svc = NULL;
    reco_status st = reco_service_open(&so, &svc, &err);
    if (st) {
        cli_error("serve", "%s", err.msg);
        free(token);
        free(allow_hosts);
        free_strings(vbufs, variants.n);
        return cli_exit_status(st);
    }
    reco_http *h = NULL;
    pthread_sigmask(SIG_BLOCK, &sigs, &old_mask);
    st = reco_http_start(svc, &ho, &h, &err);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    if (st) {
        cli_error("serve", "%s", err.msg);
        reco_service_close(svc);
        free(token);
        free(allow_hosts);
        free_strings(vbufs, variants.n);
        return st == RECO_ERR_INVALID ? EXIT_USAGE : EXIT_FAIL;
    }
    reco_service_stats sst;
    reco_service_get_stats(svc, &sst);
    if (sst.log_bad_lines) {
        char nb[32], sname[RECO_PG_NAME_MAX];
        fprintf(stderr, "reco serve: skipped %s bad line%s of %s (--skip-bad-log); the first: %s\n",
                cli_thousands(sst.log_bad_lines, nb, sizeof nb),
                sst.log_bad_lines == 1 ? "" : "s",
                so.ratings_log ? so.ratings_log : reco_pg_source_name(so.store, sname, sizeof sname),
                sst.log_first_bad_line);
    }
    print_model(NULL, svc, &ho, reco_http_port(h));
    if (variants.n) {
        /* The experiment: each variant's model and share. */
        json_t *ex = reco_service_experiments(svc), *v;
        size_t i;
        fprintf(stderr, "reco serve: experiment, control %s:",
                json_string_value(json_object_get(ex, "control")));
        json_array_foreach(json_object_get(ex, "variants"), i, v)
            fprintf(stderr, "%s %s = %s (%s, %.4g%%)", i ? ";" : "",
                    json_string_value(json_object_get(v, "name")),
                    json_string_value(json_object_get(v, "file")),
                    json_string_value(json_object_get(v, "algorithm")),
                    100 * json_number_value(json_object_get(v, "share")));
        fprintf(stderr, "\n");
        fflush(stderr);
        json_decref(ex);
    }

    for (;;) {
        int sig = wait_signal();
        if (sig == SIGHUP) {
            st = reco_service_reload(svc, &err);
            if (st)
                fprintf(stderr, "reco serve: reload failed, still serving the previous model: %s\n",
                        err.msg);
            else
                print_model("reloaded", svc, &ho, 0);
            fflush(stderr);
            continue;
        }
        break;
    }
    size_t cut = reco_http_stop(h, STOP_WAIT_MS);
    if (cut)
        fprintf(stderr, "reco serve: %zu requests were still running after %d s and were cut\n",
                cut, STOP_WAIT_MS / 1000);
    reco_service_close(svc);
    free(token);
    free(allow_hosts);
    free_strings(vbufs, variants.n);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    return EXIT_OK;
}

#else

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("serve", "this reco was built without the HTTP server (libmicrohttpd)");
    return EXIT_FAIL;
}

#endif
