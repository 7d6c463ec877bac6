/* The web console's embedded files and the explore report's files on
 * disk, for `reco serve` (see console.h). A report path is checked by its
 * characters before it is opened, so no request can reach outside the
 * report directory. */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const reco_console_file *reco_console_find(const char *name, size_t len)
{
    for (size_t k = 0; k < reco_console_n_files; k++)
        if (strlen(reco_console_files[k].name) == len &&
            !memcmp(reco_console_files[k].name, name, len))
            return &reco_console_files[k];
    return NULL;
}

#define REPORT_MAX_SEGMENTS 4

bool reco_report_path_ok(const char *rel, size_t len)
{
    if (len == 0 || len > 200)
        return false;
    size_t seg = 0, segs = 1;
    for (size_t k = 0; k < len; k++) {
        char c = rel[k];
        if (c == '/') {
            if (seg == 0 || ++segs > REPORT_MAX_SEGMENTS)
                return false;
            seg = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (c == '.' && seg > 0);
        if (!ok)
            return false;
        seg++;
    }
    return seg > 0;
}

const char *reco_report_type(const char *rel)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".png", "image/png"},
        {".svg", "image/svg+xml"},             {".json", "application/json"},
        {".csv", "text/csv; charset=utf-8"},   {".txt", "text/plain; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
    };
    const char *dot = strrchr(rel, '.');
    for (size_t k = 0; dot && k < sizeof types / sizeof types[0]; k++)
        if (!strcmp(dot, types[k].ext))
            return types[k].type;
    return "application/octet-stream";
}

unsigned reco_report_read(const char *dir, const char *rel, size_t max, char **data,
                          size_t *size)
{
    *data = NULL;
    *size = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 404;
    int fd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    close(dfd);
    if (fd < 0)
        return 404;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 404;
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return 413;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return 500;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return 500;
    }
    *data = buf;
    *size = n;
    return 0;
}
