/* reco: whole reads and writes on file descriptors (fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define PIECE ((uint64_t)1 << 30)

static size_t piece(uint64_t left) { return left > PIECE ? (size_t)PIECE : (size_t)left; }

int64_t reco_pread_full(int fd, void *buf, uint64_t len, uint64_t off)
{
    uint64_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, piece(len - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (uint64_t)r;
    }
    return (int64_t)got;
}

int reco_pread_exact(int fd, void *buf, uint64_t len, uint64_t off)
{
    int64_t got = reco_pread_full(fd, buf, len, off);
    if (got < 0)
        return -1;
    if ((uint64_t)got < len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

int reco_pwrite_full(int fd, const void *buf, uint64_t len, uint64_t off)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, (const char *)buf + done, piece(len - done), (off_t)(off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        done += (uint64_t)w;
    }
    return 0;
}

int reco_write_full(int fd, const void *buf, uint64_t len)
{
    uint64_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, (const char *)buf + done, piece(len - done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        done += (uint64_t)w;
    }
    return 0;
}

int reco_read_all(int fd, size_t max, char **buf_out, size_t *len_out)
{
    *buf_out = NULL;
    *len_out = 0;
    size_t cap = (size_t)1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= max) {
                free(buf);
                errno = EFBIG;
                return -1;
            }
            size_t ncap = cap * 2 < max ? cap * 2 : max;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *buf_out = buf;
    *len_out = len;
    return 0;
}
