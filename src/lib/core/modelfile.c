/* reco: the model-file container (reco/modelfile.h): named, aligned,
 * checksummed sections written through a temporary file and an atomic
 * rename, and read by mapping the file after the header, the section
 * table and every checksum have been checked. */
#include "reco/modelfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "RECOMODL"
#define BOM 0x01020304u
#define ALIGN 64
#define MAX_SECTIONS 256

typedef struct file_header {
    char magic[8];
    uint32_t version;
    uint32_t bom;          /* reads 0x04030201 on a foreign byte order */
    char algo[32];
    int64_t created;
    uint64_t file_size;
    uint32_t n_sections;
    uint32_t reserved;
    uint64_t table_checksum; /* of the section table */
    uint64_t header_checksum; /* of this header with this field zero */
} file_header;

typedef struct section_entry {
    char name[32];
    uint64_t offset;
    uint64_t size;
    uint64_t checksum;
    uint64_t reserved;
} section_entry;

_Static_assert(sizeof(file_header) == 88, "header layout");
_Static_assert(sizeof(section_entry) == 64, "section layout");

/* ---- checksum ---- */

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

/* Eight 64-bit lanes, each accumulating a 32x32->64 multiply of the data
 * mixed with a secret plus the data itself (the construction of xxHash3's
 * long-input loop), scrambled every 1 KiB and folded at the end. The lanes
 * are independent, so the compiler vectorises the loop: a gigabyte model
 * is checked at memory speed, within the load-time budget. */
static const uint64_t SECRET[8] = {
    0xbe4ba423396cfeb8ULL, 0x1cad21f72c81017cULL, 0xdb979083e96dd4deULL, 0x1f67b3b7a4a44072ULL,
    0x78e5c0cc4ee679cbULL, 0x2172ffcc7dd05a82ULL, 0x8e2443f7744608b8ULL, 0x4c263a81e69035e0ULL};

static inline uint64_t mix_final(uint64_t h)
{
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* Built twice, picked at load time: with AVX-512 the eight lanes are one
 * vector (about 17 GB/s a core here, against 7 without). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "default")))
#endif
uint64_t reco_checksum64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t acc[8];
    for (int l = 0; l < 8; l++)
        acc[l] = SECRET[l] ^ (seed * P1 + (uint64_t)l);
    size_t i = 0;
    while (i + 64 <= len) {
        size_t stop = i + 1024 <= len ? i + 1024 : len - (len - i) % 64;
        for (; i < stop; i += 64) {
            uint64_t w[8];
            memcpy(w, p + i, 64);
#pragma omp simd
            for (int l = 0; l < 8; l++) {
                uint64_t dk = w[l] ^ SECRET[l];
                acc[l] += (dk & 0xffffffffULL) * (dk >> 32) + w[l];
            }
        }
        for (int l = 0; l < 8; l++)
            acc[l] = (acc[l] ^ (acc[l] >> 47) ^ SECRET[7 - l]) * 0x9E3779B1ULL;
    }
    uint64_t h = (uint64_t)len * P1 ^ seed;
    for (int l = 0; l < 8; l++)
        h = rotl(h ^ mix_final(acc[l]), 27) * P1 + P3;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h ^= rotl(w * P2, 31) * P1;
        h = rotl(h, 27) * P1 + P3;
    }
    for (; i < len; i++) {
        h ^= p[i] * 0x27D4EB2F165667C5ULL;
        h = rotl(h, 11) * P1;
    }
    return mix_final(h);
}

/* Large sections are checksummed in 16 MiB blocks in parallel, then the
 * block sums are combined, so the result does not depend on threads. */
#define BLOCK ((size_t)16 << 20)

static uint64_t section_checksum(const void *data, uint64_t size)
{
    uint64_t nb = (size + BLOCK - 1) / BLOCK;
    if (nb <= 1)
        return reco_checksum64(data, size, 0);
    uint64_t *sums = malloc(nb * sizeof *sums);
    if (!sums)
        return 0; /* cannot happen for sane sizes; a mismatch then refuses */
#pragma omp parallel for schedule(dynamic, 1)
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t off = b * BLOCK;
        size_t n = size - off < BLOCK ? (size_t)(size - off) : BLOCK;
        sums[b] = reco_checksum64((const char *)data + off, n, b);
    }
    uint64_t h = reco_checksum64(sums, nb * sizeof *sums, nb);
    free(sums);
    return h;
}

/* ---- writer ---- */

struct reco_mfile_writer {
    char *path, *tmp;
    char algo[32];
    uint32_t n;
    section_entry sec[MAX_SECTIONS];
    const void *data[MAX_SECTIONS];
    void *owned[MAX_SECTIONS];  /* copies made by reco_mfile_add_copy */
};

reco_status reco_mfile_create(const char *path, const char *algo, reco_mfile_writer **out,
                              reco_error *err)
{
    *out = NULL;
    if (strlen(algo) >= sizeof((file_header *)0)->algo)
        return reco_error_set(err, RECO_ERR_INVALID, "algorithm name too long");
    reco_mfile_writer *w = calloc(1, sizeof *w);
    if (!w)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    size_t n = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp = malloc(n);
    if (!w->path || !w->tmp) {
        reco_mfile_abort(w);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    snprintf(w->tmp, n, "%s.tmp-%ld", path, (long)getpid());
    snprintf(w->algo, sizeof w->algo, "%s", algo);
    *out = w;
    return RECO_OK;
}

void reco_mfile_abort(reco_mfile_writer *w)
{
    if (!w)
        return;
    for (uint32_t i = 0; i < w->n; i++)
        free(w->owned[i]);
    free(w->path);
    free(w->tmp);
    free(w);
}

reco_status reco_mfile_add(reco_mfile_writer *w, const char *name, const void *data,
                           uint64_t size, reco_error *err)
{
    size_t len = strlen(name);
    if (len == 0 || len > RECO_MFILE_NAME_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "bad section name \"%s\"", name);
    if (w->n == MAX_SECTIONS)
        return reco_error_set(err, RECO_ERR_INVALID, "too many sections");
    for (uint32_t i = 0; i < w->n; i++)
        if (!strcmp(w->sec[i].name, name))
            return reco_error_set(err, RECO_ERR_INVALID, "duplicate section \"%s\"", name);
    if (size && !data)
        return reco_error_set(err, RECO_ERR_INVALID, "section \"%s\" has no data", name);
    section_entry *s = &w->sec[w->n];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, len);
    s->size = size;
    w->data[w->n++] = data;
    return RECO_OK;
}

reco_status reco_mfile_add_copy(reco_mfile_writer *w, const char *name, const void *data,
                                uint64_t size, reco_error *err)
{
    void *copy = malloc(size ? size : 1);
    if (!copy)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (size)
        memcpy(copy, data, size);
    reco_status rc = reco_mfile_add(w, name, copy, size, err);
    if (rc) {
        free(copy);
        return rc;
    }
    w->owned[w->n - 1] = copy;
    return RECO_OK;
}

static int write_all(int fd, const void *buf, uint64_t len)
{
    const char *p = buf;
    while (len) {
        size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)len;
        ssize_t r = write(fd, p, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (uint64_t)r;
    }
    return 0;
}

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

reco_status reco_mfile_commit(reco_mfile_writer *w, reco_error *err)
{
    reco_status rc = RECO_OK;
    file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, 8);
    h.version = RECO_MFILE_VERSION;
    h.bom = BOM;
    memcpy(h.algo, w->algo, sizeof h.algo);
    h.created = (int64_t)time(NULL);
    h.n_sections = w->n;
    uint64_t off = align_up(sizeof h + (uint64_t)w->n * sizeof(section_entry));
    for (uint32_t i = 0; i < w->n; i++) {
        off = align_up(off);
        w->sec[i].offset = off;
        w->sec[i].checksum = section_checksum(w->data[i], w->sec[i].size);
        off += w->sec[i].size;
    }
    /* No padding after the last section: every byte from the first
     * section on is either checksummed data or alignment between sections. */
    h.file_size = off;
    h.table_checksum = reco_checksum64(w->sec, w->n * sizeof(section_entry), 1);
    h.header_checksum = reco_checksum64(&h, sizeof h, 2);

    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", w->tmp, strerror(errno));
        goto out;
    }
    static const char zeros[ALIGN];
    uint64_t pos = sizeof h + (uint64_t)w->n * sizeof(section_entry);
    if (write_all(fd, &h, sizeof h) || write_all(fd, w->sec, w->n * sizeof(section_entry)))
        goto io_fail;
    for (uint32_t i = 0; i < w->n; i++) {
        if (write_all(fd, zeros, w->sec[i].offset - pos))
            goto io_fail;
        if (write_all(fd, w->data[i], w->sec[i].size))
            goto io_fail;
        pos = w->sec[i].offset + w->sec[i].size;
    }
    if (write_all(fd, zeros, h.file_size - pos) || fsync(fd) != 0)
        goto io_fail;
    if (close(fd) != 0) {
        fd = -1;
        goto io_fail;
    }
    fd = -1;
    if (rename(w->tmp, w->path) != 0)
        goto io_fail;
    goto out;
io_fail:
    rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", w->path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(w->tmp);
out:
    reco_mfile_abort(w);
    return rc;
}

/* ---- reader ---- */

struct reco_mfile {
    char *path;
    void *map;
    uint64_t size;
    file_header h;
    const section_entry *sec;
};

void reco_mfile_close(reco_mfile *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->size);
    free(f->path);
    free(f);
}

reco_status reco_mfile_open(const char *path, reco_mfile **out, reco_error *err)
{
    *out = NULL;
    reco_mfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    reco_status rc = RECO_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO, "%s: %s",
                            path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: not a regular file", path);
        goto fail;
    }
    f->size = (uint64_t)st.st_size;
    if (f->size < sizeof(file_header)) {
        close(fd);
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: not a reco model file (too short)", path);
        goto fail;
    }
    /* MAP_POPULATE: fault the file in up front, in one go, rather than page
     * by page while checksumming and then while serving. */
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        rc = reco_error_set(err, RECO_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    memcpy(&f->h, f->map, sizeof f->h);
    file_header *h = &f->h;
    if (memcmp(h->magic, MAGIC, 8) != 0) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: not a reco model file", path);
        goto fail;
    }
    if (h->bom != BOM) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: written on a machine of the other byte order", path);
        goto fail;
    }
    if (h->version != RECO_MFILE_VERSION) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: model format version %u; this reco reads version %u (retrain "
                            "the model)", path, h->version, RECO_MFILE_VERSION);
        goto fail;
    }
    uint64_t want = h->header_checksum;
    file_header tmp = *h;
    tmp.header_checksum = 0;
    if (reco_checksum64(&tmp, sizeof tmp, 2) != want) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt header (checksum mismatch)", path);
        goto fail;
    }
    if (memchr(h->algo, '\0', sizeof h->algo) == NULL) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt header", path);
        goto fail;
    }
    if (h->file_size != f->size) {
        rc = reco_error_set(err, RECO_ERR_FORMAT,
                            "%s: truncated or extended: %llu bytes, the header says %llu", path,
                            (unsigned long long)f->size, (unsigned long long)h->file_size);
        goto fail;
    }
    if (h->n_sections > MAX_SECTIONS ||
        sizeof *h + (uint64_t)h->n_sections * sizeof(section_entry) > f->size) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt section table", path);
        goto fail;
    }
    f->sec = (const section_entry *)((const char *)f->map + sizeof *h);
    if (reco_checksum64(f->sec, h->n_sections * sizeof(section_entry), 1) != h->table_checksum) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt section table (checksum)", path);
        goto fail;
    }
    for (uint32_t i = 0; i < h->n_sections; i++) {
        const section_entry *s = &f->sec[i];
        if (s->offset % ALIGN || s->offset > f->size || s->size > f->size - s->offset ||
            memchr(s->name, '\0', sizeof s->name) == NULL) {
            rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt section %u", path, i);
            goto fail;
        }
    }
    /* Sections follow each other in order; the alignment gaps between them
     * hold zeros, so no byte of the file goes unchecked. */
    uint64_t prev_end = sizeof *h + (uint64_t)h->n_sections * sizeof(section_entry);
    for (uint32_t i = 0; i < h->n_sections; i++) {
        const section_entry *s = &f->sec[i];
        bool ok = s->offset >= prev_end && s->offset - prev_end < ALIGN;
        for (uint64_t b = prev_end; ok && b < s->offset; b++)
            ok = ((const char *)f->map)[b] == 0;
        if (!ok) {
            rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt layout before section %u",
                                path, i);
            goto fail;
        }
        prev_end = s->offset + s->size;
    }
    if (prev_end != f->size) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt layout at the end", path);
        goto fail;
    }
    /* Every section's bytes against its checksum. */
    int bad = -1;
    for (uint32_t i = 0; i < h->n_sections && bad < 0; i++) {
        const section_entry *s = &f->sec[i];
        if (section_checksum((const char *)f->map + s->offset, s->size) != s->checksum)
            bad = (int)i;
    }
    if (bad >= 0) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt data in section \"%s\" "
                            "(checksum mismatch)", path, f->sec[bad].name);
        goto fail;
    }
    *out = f;
    return RECO_OK;
fail:
    reco_mfile_close(f);
    return rc;
}

const void *reco_mfile_section(const reco_mfile *f, const char *name, uint64_t *size)
{
    for (uint32_t i = 0; i < f->h.n_sections; i++)
        if (!strcmp(f->sec[i].name, name)) {
            if (size)
                *size = f->sec[i].size;
            return (const char *)f->map + f->sec[i].offset;
        }
    return NULL;
}

reco_status reco_mfile_array(const reco_mfile *f, const char *name, uint64_t count,
                             size_t elem_size, const void **out, reco_error *err)
{
    uint64_t size;
    const void *p = reco_mfile_section(f, name, &size);
    if (!p)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: missing section \"%s\"", f->path, name);
    if (elem_size && size != count * elem_size)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\" has %llu bytes, expected %llu", f->path, name,
                              (unsigned long long)size, (unsigned long long)(count * elem_size));
    *out = p;
    return RECO_OK;
}

const char *reco_mfile_algo(const reco_mfile *f) { return f->h.algo; }
int64_t reco_mfile_created(const reco_mfile *f) { return f->h.created; }
const char *reco_mfile_path(const reco_mfile *f) { return f->path; }
uint64_t reco_mfile_size(const reco_mfile *f) { return f->size; }
