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
#include "service.h"

#define TOKEN_FILE_MAX 4096
#define STOP_WAIT_MS 10000

#define DEFAULT_MAX_LIVE_BYTES ((uint64_t)1 << 30)

enum {
    OPT_MODEL = OPT_FIRST_FREE, OPT_LOG, OPT_HOST, OPT_PORT, OPT_TOKEN_FILE, OPT_LOG_REQUESTS,
    OPT_CREATE_LOG, OPT_SKIP_BAD_LOG, OPT_MAX_LIVE,
    OPT_MAX_CONN, OPT_MAX_CONN_IP, OPT_HEADER_TIMEOUT, OPT_BODY_TIMEOUT, OPT_IDLE_TIMEOUT,
    OPT_ALLOW_HOST
};

static void help(void)
{
    printf("Usage: reco serve --model MODEL [OPTIONS]\n\n"
           "Serves recommendations from a model file over HTTP (REST, JSON): per-user\n"
           "recommendations, similar products, predictions, a user's ratings, new ratings\n"
           "(durable before they are acknowledged), hot reload, /healthz and /metrics.\n"
           "/healthz answers 503 \"degraded\" while new ratings cannot be taken (the log\n"
           "cannot be written, or the memory cap is reached); reads go on meanwhile.\n"
           "The endpoints are described in docs/api.md, running it in docs/operations.md.\n\n"
           "Options:\n"
           "  --model FILE         the model to serve (from 'reco train'); required\n"
           "  --ratings-log FILE   append new ratings here (a CSV with a header line naming\n"
           "                       the log) and replay, on start and reload, the ratings\n"
           "                       after the point the model was trained up to (reco train\n"
           "                       --ratings-log); without it the server is read-only.\n"
           "                       A missing log, another log, or one compacted past the\n"
           "                       model's point stops the start with the reason.\n"
           "  --create-ratings-log create the log if it does not exist (for a first start;\n"
           "                       refused when the model was trained with a log)\n"
           "  --skip-bad-log       replay skips bad log lines (counted, the first reported)\n"
           "                       instead of stopping with LOG:LINE: reason\n"
           "  --max-live-bytes N   memory the ratings taken since training may use (K, M,\n"
           "                       G suffixes; default 1G; 0: no limit); beyond it new\n"
           "                       ratings are answered 503 until a retrained model is\n"
           "                       reloaded (docs/operations.md has the sizing)\n"
           "  --host HOST          address to listen on (default 127.0.0.1); a non-loopback\n"
           "                       address needs a token\n"
           "  --port N             port (default 8080; 0: any free port, shown at start)\n"
           "  --threads N          worker threads (default: one per core)\n"
           "  --token-file FILE    require \"Authorization: Bearer TOKEN\" for writes\n"
           "                       (POST /v1/ratings, /v1/admin/*); the token is the file's\n"
           "                       first line. The environment variable RECO_TOKEN works too.\n"
           "                       Without a token, POST /v1/admin/* needs\n"
           "                       \"Content-Type: application/json\" (else 415).\n"
           "  --allow-host NAME    also answer requests whose Host is NAME (comma-separated\n"
           "                       list; repeatable). On a loopback address only localhost,\n"
           "                       127.x.y.z and [::1] are answered otherwise (421), so a\n"
           "                       web page cannot reach the server through DNS rebinding;\n"
           "                       on any address, giving names limits it to them.\n"
           "  --log-requests       print one line per request on stderr\n"
           "  --quiet              no per-request lines (the default)\n"
           "  --help               show this help\n\n"
           "Connections (kept alive between requests; a client over a cap gets 503):\n"
           "  --max-connections N  connections served at once (default 4096)\n"
           "  --max-connections-per-ip N\n"
           "                       connections from one client address, IPv6 per /64\n"
           "                       (default 256; 0: no per-address cap)\n"
           "  --header-timeout S   a request's line and headers must be in within S seconds\n"
           "                       (default 10): of connecting, for the first request; of\n"
           "                       its request line, for later ones. Else 408 and closed.\n"
           "  --body-timeout S     a request body must be in within S seconds of the\n"
           "                       headers (default 30). Else 408 and closed.\n"
           "  --idle-timeout S     a connection waiting for its next request, or on which\n"
           "                       nothing moves, is closed after S seconds (default 30)\n\n"
           "Signals: SIGHUP reloads the model file (a bad file is reported and the old\n"
           "model keeps serving); SIGINT or SIGTERM stop accepting connections, close the\n"
           "idle ones, finish the requests in flight and flush the ratings log.\n\n"
           "The log grows until it is compacted: train with it (reco train RATINGS\n"
           "--ratings-log LOG -o MODEL), reload, then move what the model holds to an\n"
           "archive with reco log compact LOG --model MODEL --archive ARCHIVE, which is\n"
           "safe while the server runs (docs/operations.md).\n");
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
        fprintf(stderr, "reco serve: listening on http://%s%s%s:%u (model %s, %s users, %s items)\n",
                v6 ? "[" : "", ho->host, v6 ? "]" : "", port, algo ? algo : "?", u, i);
    } else {
        fprintf(stderr, "reco serve: %s (model %s, %s users, %s items)\n", what,
                algo ? algo : "?", u, i);
    }
    fflush(stderr);
    json_decref(info);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"ratings-log", required_argument, NULL, OPT_LOG},
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"log-requests", no_argument, NULL, OPT_LOG_REQUESTS},
        {"create-ratings-log", no_argument, NULL, OPT_CREATE_LOG},
        {"skip-bad-log", no_argument, NULL, OPT_SKIP_BAD_LOG},
        {"max-live-bytes", required_argument, NULL, OPT_MAX_LIVE},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONN_IP},
        {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
        {"body-timeout", required_argument, NULL, OPT_BODY_TIMEOUT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    reco_service_options so;
    reco_service_options_default(&so);
    so.notice = log_line;
    so.max_live_bytes = DEFAULT_MAX_LIVE_BYTES;
    reco_http_options ho;
    reco_http_options_default(&ho);
    const char *token_file = NULL;
    bool max_conn_given = false;
    char *allow_hosts = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
        uint32_t v;
        switch (c) {
        case OPT_MODEL: so.model_path = optarg; break;
        case OPT_LOG: so.ratings_log = optarg; break;
        case OPT_HOST: ho.host = optarg; break;
        case OPT_PORT:
            if (cli_parse_u32(optarg, &v) || v > 65535) {
                cli_error("serve", "--port wants a number from 0 to 65535, got \"%s\"", optarg);
                free(allow_hosts);
                return EXIT_USAGE;
            }
            ho.port = v;
            break;
        case OPT_THREADS:
            if (cli_parse_u32(optarg, &v) || v == 0 || v > 1024) {
                cli_error("serve", "--threads wants a number from 1 to 1024, got \"%s\"", optarg);
                free(allow_hosts);
                return EXIT_USAGE;
            }
            ho.threads = v;
            break;
        case OPT_MAX_CONN:
            if (cli_parse_u32(optarg, &v) || v == 0 || v > 1000000) {
                cli_error("serve", "--max-connections wants a number from 1 to 1000000, got \"%s\"",
                          optarg);
                free(allow_hosts);
                return EXIT_USAGE;
            }
            ho.max_connections = v;
            max_conn_given = true;
            break;
        case OPT_MAX_CONN_IP:
            if (cli_parse_u32(optarg, &v) || v > 1000000) {
                cli_error("serve",
                          "--max-connections-per-ip wants a number from 0 (no cap) to 1000000, "
                          "got \"%s\"", optarg);
                free(allow_hosts);
                return EXIT_USAGE;
            }
            ho.max_connections_per_ip = v;
            break;
        case OPT_HEADER_TIMEOUT:
        case OPT_BODY_TIMEOUT:
        case OPT_IDLE_TIMEOUT: {
            double sec;
            const char *name = c == OPT_HEADER_TIMEOUT ? "--header-timeout"
                               : c == OPT_BODY_TIMEOUT ? "--body-timeout"
                                                       : "--idle-timeout";
            bool whole = c == OPT_IDLE_TIMEOUT;
            if (cli_parse_double(optarg, &sec) || sec < (whole ? 1 : 0.1) || sec > 86400 ||
                (whole && sec != (double)(unsigned)sec)) {
                cli_error("serve", "%s wants %s from %s to 86400, got \"%s\"", name,
                          whole ? "whole seconds" : "seconds", whole ? "1" : "0.1", optarg);
                free(allow_hosts);
                return EXIT_USAGE;
            }
            if (c == OPT_HEADER_TIMEOUT)
                ho.header_timeout_ms = (unsigned)(sec * 1000 + 0.5);
            else if (c == OPT_BODY_TIMEOUT)
                ho.body_timeout_ms = (unsigned)(sec * 1000 + 0.5);
            else
                ho.idle_timeout_s = (unsigned)sec;
            break;
        }
        case OPT_ALLOW_HOST: {
            size_t old = allow_hosts ? strlen(allow_hosts) : 0, add = strlen(optarg);
            char *nh = realloc(allow_hosts, old + add + 2);
            if (!nh) {
                free(allow_hosts);
                cli_error("serve", "out of memory");
                return EXIT_FAIL;
            }
            if (old)
                nh[old++] = ',';
            memcpy(nh + old, optarg, add + 1);
            allow_hosts = nh;
            break;
        }
        case OPT_TOKEN_FILE: token_file = optarg; break;
        case OPT_LOG_REQUESTS: ho.log_requests = true; break;
        case OPT_CREATE_LOG: so.create_log = true; break;
        case OPT_SKIP_BAD_LOG: so.skip_bad_log = true; break;
        case OPT_MAX_LIVE: {
            reco_error perr;
            if (!strcmp(optarg, "0")) {
                so.max_live_bytes = 0;
            } else if (reco_ease_parse_bytes("--max-live-bytes", optarg, &so.max_live_bytes,
                                             &perr)) {
                cli_error("serve", "%s (or 0 for no limit)", perr.msg);
                free(allow_hosts);
                return EXIT_USAGE;
            }
            break;
        }
        case 'q':
        case OPT_QUIET: ho.log_requests = false; break;
        case OPT_HELP: free(allow_hosts); help(); return EXIT_OK;
        default:
            free(allow_hosts);
            cli_error("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
            return cli_usage_error("serve");
        }
    }
    if (optind != argc) {
        free(allow_hosts);
        cli_error("serve", "unexpected argument '%s'", argv[optind]);
        return cli_usage_error("serve");
    }
    if (!so.model_path) {
        free(allow_hosts);
        cli_error("serve", "--model FILE is required");
        return cli_usage_error("serve");
    }
    ho.allow_hosts = allow_hosts;
    fit_fd_limit(&ho, max_conn_given);
    char *token = NULL;
    if (token_file) {
        if (read_token(token_file, &token)) {
            free(allow_hosts);
            return EXIT_USAGE;
        }
    } else if (getenv("RECO_TOKEN") && getenv("RECO_TOKEN")[0]) {
        token = strdup(getenv("RECO_TOKEN"));
    }
    ho.token = token;
    ho.read_only = so.ratings_log == NULL;
    ho.max_n = so.max_n;
    ho.max_batch = so.max_batch;

    if (pipe2(sig_pipe, O_CLOEXEC) != 0 || fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK) != 0) {
        cli_error("serve", "pipe: %s", strerror(errno));
        free(token);
        free(allow_hosts);
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
        return st == RECO_ERR_INVALID ? EXIT_USAGE : EXIT_FAIL;
    }
    reco_service_stats sst;
    reco_service_get_stats(svc, &sst);
    if (sst.log_bad_lines) {
        char nb[32];
        fprintf(stderr, "reco serve: skipped %s bad line%s of %s (--skip-bad-log); the first: %s\n",
                cli_thousands(sst.log_bad_lines, nb, sizeof nb),
                sst.log_bad_lines == 1 ? "" : "s", so.ratings_log, sst.log_first_bad_line);
    }
    print_model(NULL, svc, &ho, reco_http_port(h));

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
