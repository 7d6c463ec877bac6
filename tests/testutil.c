/* Helpers shared by the unit tests. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *test_shared_data(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", RECO_SHARED_DATA, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

char *test_write_temp(const char *content, size_t len)
{
    char tmpl[] = "/tmp/reco-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, content + off, len - off);
        if (w <= 0) {
            close(fd);
            unlink(tmpl);
            return NULL;
        }
        off += (size_t)w;
    }
    close(fd);
    return strdup(tmpl);
}
