/* Holds many idle or slow connections open against an HTTP server, for
 * bench/slow_clients.sh (a benchmark tool, never a test): the attack the
 * server's connection caps and absolute deadlines are for.
 *
 *   slow_clients PORT N MODE [ADDRESSES [INTERVAL_MS [SECONDS]]]
 *
 * Opens N connections to 127.0.0.1:PORT from the local addresses
 * 127.0.0.2 .. 127.0.0.(1 + ADDRESSES) in turn (default 5 addresses, so
 * that a per-address cap does not refuse them all; every 127.x.y.z
 * address is on the loopback interface), and keeps N open: a connection
 * the server closes is opened again at once.
 *
 *   MODE idle  sends nothing;
 *   MODE slow  sends a request line, then one header line every
 *              INTERVAL_MS (default 8000) and never the blank line that
 *              ends the headers, so it is never idle for long.
 *
 * Runs for SECONDS (default: until SIGINT or SIGTERM). Prints "holding N"
 * on stdout once all N are connected the first time, and at the end one
 * line of counts: connections opened, closed by the server, and the
 * answers the server sent before closing (408, 503, other).
 *
 * Guarantees: one thread, non-blocking sockets, never more than N open;
 * raises its own descriptor limit as far as the hard limit allows. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct slot {
    int fd;
    int addr;          /* index of its local address */
    uint64_t next_ms;  /* when the slow mode sends its next line */
    bool started;      /* its request line is sent */
    char seen[16];     /* the start of what the server sent */
    size_t seen_len;
} slot;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A non-blocking connection from 127.0.0.(2 + addr) to 127.0.0.1:port;
 * -1 when no socket could be made. */
static int open_conn(unsigned port, int addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: slow_clients PORT N idle|slow [ADDRESSES [INTERVAL_MS [SECONDS]]]\n");
        return 2;
    }
    unsigned port = (unsigned)atoi(argv[1]);
    int n = atoi(argv[2]);
    int slow = !strcmp(argv[3], "slow");
    int addrs = argc > 4 ? atoi(argv[4]) : 5;
    uint64_t interval = argc > 5 ? (uint64_t)atoll(argv[5]) : 8000;
    int seconds = argc > 6 ? atoi(argv[6]) : 0;
    if (!port || n <= 0 || addrs <= 0 || addrs > 250 || (!slow && strcmp(argv[3], "idle"))) {
        fprintf(stderr, "slow_clients: bad arguments\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)n + 16) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)n + 16
                          ? (rlim_t)n + 16
                          : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    slot *s = calloc((size_t)n, sizeof *s);
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    if (!s || !p)
        return 1;
    unsigned long opened = 0, closed = 0, failed = 0, a408 = 0, a503 = 0, other = 0;
    uint64_t t_end = seconds > 0 ? ms_now() + (uint64_t)seconds * 1000u : 0;
    int announced = 0;
    for (int k = 0; k < n; k++)
        s[k].fd = -1;
    while (!stop && (!t_end || ms_now() < t_end)) {
        uint64_t now = ms_now();
        int open_now = 0;
        for (int k = 0; k < n; k++) {
            if (s[k].fd < 0) {
                s[k].addr = k % addrs;
                s[k].fd = open_conn(port, s[k].addr);
                s[k].seen_len = 0;
                s[k].started = false;
                if (s[k].fd < 0) {
                    failed++;
                    continue;
                }
                opened++;
                /* The request line goes once the connection is up. */
                s[k].next_ms = now;
            }
            if (slow && now >= s[k].next_ms) {
                static const char first[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
                static const char more[] = "X-Slow: 1\r\n";
                ssize_t w = s[k].started ? send(s[k].fd, more, sizeof more - 1, MSG_NOSIGNAL)
                                         : send(s[k].fd, first, sizeof first - 1, MSG_NOSIGNAL);
                if (w > 0)
                    s[k].started = true; /* else not connected yet, or closed: seen below */
                s[k].next_ms = w > 0 ? now + interval : now + 10;
            }
            open_now++;
        }
        if (!announced && open_now == n) {
            printf("holding %d\n", n);
            fflush(stdout);
            announced = 1;
        }
        for (int k = 0; k < n; k++) {
            p[k].fd = s[k].fd;
            p[k].events = POLLIN;
            p[k].revents = 0;
        }
        int r = poll(p, (nfds_t)n, 100);
        if (r <= 0)
            continue;
        for (int k = 0; k < n; k++) {
            if (s[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t got = recv(s[k].fd, buf, sizeof buf, 0);
            if (got > 0) {
                size_t take = (size_t)got;
                if (take > sizeof s[k].seen - 1 - s[k].seen_len)
                    take = sizeof s[k].seen - 1 - s[k].seen_len;
                memcpy(s[k].seen + s[k].seen_len, buf, take);
                s[k].seen_len += take;
                s[k].seen[s[k].seen_len] = '\0';
                continue;
            }
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            /* Closed (or reset) by the server: what did it say first? */
            if (s[k].seen_len >= 12 && !strncmp(s[k].seen + 9, "408", 3))
                a408++;
            else if (s[k].seen_len >= 12 && !strncmp(s[k].seen + 9, "503", 3))
                a503++;
            else if (s[k].seen_len)
                other++;
            close(s[k].fd);
            s[k].fd = -1;
            closed++;
        }
    }
    for (int k = 0; k < n; k++)
        if (s[k].fd >= 0)
            close(s[k].fd);
    printf("opened %lu, closed by the server %lu (after 408: %lu, after 503: %lu, after "
           "another answer: %lu, silently: %lu), could not open %lu\n",
           opened, closed, a408, a503, other, closed - a408 - a503 - other, failed);
    free(s);
    free(p);
    return 0;
}
