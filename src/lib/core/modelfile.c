/* reco: the model-file container (reco/modelfile.h): named, aligned,
 * checksummed sections written through a temporary file and an atomic
 * rename, and read by mapping the file after the header, the section
 * table and every checksum have been checked. */
#include "reco/modelfile.h"
#include "reco/thousands.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"

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
    size_t tmp_cap;
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
    w->tmp_cap = strlen(path) + 48;
    w->path = strdup(path);
    w->tmp = malloc(w->tmp_cap);
    if (!w->path || !w->tmp) {
        reco_mfile_abort(w);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
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

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

/* Creates the temporary file beside w->path under a name no other writer
 * uses: the process ID keeps processes apart, a counter keeps threads (two
 * saves of one path at once) apart, and O_EXCL anything left over from a
 * crashed process that had the same ID. */
static int create_tmp(reco_mfile_writer *w)
{
    static atomic_uint seq;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(w->tmp, w->tmp_cap, "%s.tmp-%ld-%u", w->path, (long)getpid(),
                 atomic_fetch_add(&seq, 1));
        int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

/* fsyncs the directory that holds path, so that a rename into it is on
 * disk: without it a crash just after the rename can leave the directory
 * naming the old file (or, on some file systems, neither). File systems
 * that cannot sync a directory (EINVAL) have nothing to sync. */
static int fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) {
        errno = e;
        return -1;
    }
    return 0;
}

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

    /* Write, fsync, rename, fsync the directory: whoever opens path sees
     * the old file or the whole new one, and after a crash the same. */
    int fd = create_tmp(w);
    if (fd < 0) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", w->tmp, strerror(errno));
        goto out;
    }
    static const char zeros[ALIGN];
    uint64_t pos = sizeof h + (uint64_t)w->n * sizeof(section_entry);
    if (reco_write_full(fd, &h, sizeof h) || reco_write_full(fd, w->sec, w->n * sizeof(section_entry)))
        goto io_fail;
    for (uint32_t i = 0; i < w->n; i++) {
        if (reco_write_full(fd, zeros, w->sec[i].offset - pos))
            goto io_fail;
        if (reco_write_full(fd, w->data[i], w->sec[i].size))
            goto io_fail;
        pos = w->sec[i].offset + w->sec[i].size;
    }
    if (reco_write_full(fd, zeros, h.file_size - pos) || fsync(fd) != 0)
        goto io_fail;
    if (close(fd) != 0) {
        fd = -1;
        goto io_fail;
    }
    fd = -1;
    if (rename(w->tmp, w->path) != 0)
        goto io_fail;
    if (fsync_parent_dir(w->path) != 0) {
        /* The new file is in place; only its name's durability is unknown. */
        rc = reco_error_set(err, RECO_ERR_IO, "%s: written, but its directory could not be "
                            "synced: %s", w->path, strerror(errno));
    }
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
    void *map;            /* the file's bytes: a mapping, or a private copy */
    bool copied;          /* map is an allocation (free), not a mapping */
    int fd;               /* a mapped file's descriptor (for make_private), or -1 */
    atomic_bool private_copy; /* map is private memory: copied, or made private */
    uint64_t size;
    reco_file_id id;
    file_header h;
    section_entry *sec;   /* the validated section table (a private copy) */
};

void reco_mfile_close(reco_mfile *f)
{
    if (!f)
        return;
    if (f->map && f->copied)
        free(f->map);
    else if (f->map)
        munmap(f->map, f->size); /* the file's mapping, or the copy moved over it */
    if (f->fd >= 0)
        close(f->fd);
    free(f->sec);
    free(f->path);
    free(f);
}

static reco_file_id id_of_stat(const struct stat *st)
{
    reco_file_id id;
    id.dev = (uint64_t)st->st_dev;
    id.ino = (uint64_t)st->st_ino;
    id.size = (uint64_t)st->st_size;
    id.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    return id;
}

reco_status reco_file_id_of(const char *path, reco_file_id *out, reco_error *err)
{
    struct stat st;
    memset(out, 0, sizeof *out);
    if (stat(path, &st) != 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO,
                              "%s: %s", path, strerror(errno));
    *out = id_of_stat(&st);
    return RECO_OK;
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
           : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a plain file";
}

/* Opens path for reading if it is a regular file. Anything else is refused
 * before it is opened when stat can tell (a device is never opened), and
 * after it in case the path changed in between: the open does not block
 * (O_NONBLOCK; opening a FIFO would otherwise wait for a writer, forever,
 * holding up a reload and the shutdown behind it). */
static reco_status open_regular(const char *path, int *fd_out, struct stat *st, reco_error *err)
{
    *fd_out = -1;
    if (stat(path, st) != 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO,
                              "%s: %s", path, strerror(errno));
    if (!S_ISREG(st->st_mode))
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: not a regular file (%s)", path,
                              kind_of(st->st_mode));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO,
                              "%s: %s", path, strerror(errno));
    if (fstat(fd, st) != 0) {
        reco_status rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (!S_ISREG(st->st_mode)) {
        reco_status rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: not a regular file (%s)",
                                        path, kind_of(st->st_mode));
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return RECO_OK;
}

#define READ_BLOCK ((uint64_t)16 << 20)

/* Reads the whole file into buf on all cores, in 16 MiB blocks. 0, or -1
 * with errno set (0 when the file was shorter than size). */
static int read_parallel(int fd, char *buf, uint64_t size)
{
    int64_t nb = (int64_t)((size + READ_BLOCK - 1) / READ_BLOCK);
    int failed = 0, saved_errno = 0;
#pragma omp parallel for schedule(dynamic, 1) if (nb > 2)
    for (int64_t b = 0; b < nb; b++) {
        uint64_t off = (uint64_t)b * READ_BLOCK;
        uint64_t n = size - off < READ_BLOCK ? size - off : READ_BLOCK;
        int64_t got = reco_pread_full(fd, buf + off, n, off);
        if (got != (int64_t)n) {
#pragma omp critical(reco_mfile_read)
            {
                failed = 1;
                saved_errno = got < 0 ? errno : 0;
            }
        }
    }
    errno = saved_errno;
    return failed ? -1 : 0;
}

/* The header alone: is this a model file of this version and byte order,
 * is the header intact, does its size match the file's, does the section
 * table fit. Nothing beyond the header has been read yet. */
static reco_status check_header(const char *path, const file_header *h, uint64_t size,
                                reco_error *err)
{
    if (memcmp(h->magic, MAGIC, 8) != 0)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: not a reco model file", path);
    if (h->bom != BOM)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: written on a machine of the other byte order", path);
    if (h->version < RECO_MFILE_VERSION)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: model format version %u, written by an earlier reco; this "
                              "reco reads version %u only and does not convert older files: "
                              "retrain the model", path, h->version, RECO_MFILE_VERSION);
    if (h->version > RECO_MFILE_VERSION)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: model format version %u, written by a newer reco; this reco "
                              "reads version %u: use that reco, or retrain the model with this "
                              "one", path, h->version, RECO_MFILE_VERSION);
    file_header tmp = *h;
    tmp.header_checksum = 0;
    if (reco_checksum64(&tmp, sizeof tmp, 2) != h->header_checksum)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt header (checksum mismatch)",
                              path);
    if (memchr(h->algo, '\0', sizeof h->algo) == NULL)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt header", path);
    if (h->file_size != size)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: truncated or extended: %llu bytes, the header says %llu", path,
                              (unsigned long long)size, (unsigned long long)h->file_size);
    if (h->n_sections > MAX_SECTIONS ||
        sizeof *h + (uint64_t)h->n_sections * sizeof(section_entry) > size)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt section table", path);
    return RECO_OK;
}

/* The section table (already known to fit): its checksum, every entry
 * inside the file, aligned and named, the sections in order with less
 * than the alignment between them and the last one ending the file. */
static reco_status check_table(const char *path, const file_header *h, const section_entry *sec,
                               uint64_t size, reco_error *err)
{
    if (reco_checksum64(sec, h->n_sections * sizeof(section_entry), 1) != h->table_checksum)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt section table (checksum)",
                              path);
    uint64_t prev_end = sizeof *h + (uint64_t)h->n_sections * sizeof(section_entry);
    for (uint32_t i = 0; i < h->n_sections; i++) {
        const section_entry *s = &sec[i];
        if (s->offset % ALIGN || s->offset > size || s->size > size - s->offset ||
            memchr(s->name, '\0', sizeof s->name) == NULL)
            return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt section %u", path, i);
        if (s->offset < prev_end || s->offset - prev_end >= ALIGN)
            return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt layout before section %u",
                                  path, i);
        prev_end = s->offset + s->size;
    }
    if (prev_end != size)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt layout at the end", path);
    return RECO_OK;
}

/* The bytes, once the header and table made sense: the header and table
 * in memory are the ones checked (the file may have changed in between),
 * the alignment gaps hold zeros (so no byte goes unchecked), and every
 * section matches its checksum. */
static reco_status check_body(const reco_mfile *f, const char *p, reco_error *err)
{
    const file_header *h = &f->h;
    uint64_t table = (uint64_t)h->n_sections * sizeof(section_entry);
    if (memcmp(p, h, sizeof *h) != 0 || memcmp(p + sizeof *h, f->sec, table) != 0)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: the file changed while it was being read", f->path);
    uint64_t prev_end = sizeof *h + table;
    for (uint32_t i = 0; i < h->n_sections; i++) {
        for (uint64_t b = prev_end; b < f->sec[i].offset; b++)
            if (p[b] != 0)
                return reco_error_set(err, RECO_ERR_FORMAT,
                                      "%s: corrupt layout before section %u", f->path, i);
        prev_end = f->sec[i].offset + f->sec[i].size;
    }
    int bad = -1;
    for (uint32_t i = 0; i < h->n_sections && bad < 0; i++) {
        const section_entry *s = &f->sec[i];
        if (section_checksum(p + s->offset, s->size) != s->checksum)
            bad = (int)i;
    }
    if (bad >= 0)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt data in section \"%s\" "
                              "(checksum mismatch)", f->path, f->sec[bad].name);
    return RECO_OK;
}

static reco_mfile *mfile_new(const char *path)
{
    reco_mfile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return NULL;
    }
    f->fd = -1;
    atomic_init(&f->private_copy, false);
    return f;
}

/* Takes the header and the table from the start of bytes (size of them),
 * checking each before going on. */
static reco_status check_head_in_memory(reco_mfile *f, const char *bytes, reco_error *err)
{
    if (f->size < sizeof(file_header))
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: not a reco model file (too short)",
                              f->path);
    memcpy(&f->h, bytes, sizeof f->h);
    reco_status rc = check_header(f->path, &f->h, f->size, err);
    if (rc)
        return rc;
    size_t table = (size_t)f->h.n_sections * sizeof(section_entry);
    f->sec = malloc(table ? table : 1);
    if (!f->sec)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    memcpy(f->sec, bytes + sizeof f->h, table);
    return check_table(f->path, &f->h, f->sec, f->size, err);
}

reco_status reco_mfile_open_mode(const char *path, reco_mfile_mode mode, reco_mfile **out,
                                 reco_error *err)
{
    *out = NULL;
    reco_mfile *f = mfile_new(path);
    if (!f)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_status rc;
    int fd = -1;
    struct stat st;
    if ((rc = open_regular(path, &fd, &st, err)))
        goto fail;
    f->id = id_of_stat(&st);
    f->size = (uint64_t)st.st_size;
    if (f->size < sizeof(file_header)) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: not a reco model file (too short)", path);
        goto fail;
    }
    /* The header and the table first, with pread: a file that is not a
     * model, or not this one's size, is refused after a few bytes. */
    char head[sizeof(file_header) + MAX_SECTIONS * sizeof(section_entry)];
    uint64_t want = f->size < sizeof head ? f->size : sizeof head;
    int64_t got = reco_pread_full(fd, head, want, 0);
    if (got < 0) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if ((uint64_t)got < want) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: the file changed while it was being "
                            "read", path);
        goto fail;
    }
    if ((rc = check_head_in_memory(f, head, err)))
        goto fail;
    /* Then the rest. */
    if (mode == RECO_MFILE_COPY) {
        f->map = reco_alloc_aligned(f->size);
        if (!f->map) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory for a %s-byte copy",
                                path, RECO_THOUSANDS(f->size));
            goto fail;
        }
        f->copied = true;
        atomic_store(&f->private_copy, true);
        if (read_parallel(fd, f->map, f->size) != 0) {
            rc = errno ? reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno))
                       : reco_error_set(err, RECO_ERR_FORMAT, "%s: the file changed while it "
                                        "was being read (it is shorter now)", path);
            goto fail;
        }
    } else {
        /* MAP_POPULATE: fault the file in up front, in one go, rather than
         * page by page while checksumming and then while serving. */
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m == MAP_FAILED) {
            rc = reco_error_set(err, RECO_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
            goto fail;
        }
        f->map = m;
    }
    if ((rc = check_body(f, f->map, err)))
        goto fail;
    /* A file rewritten while it was read may still pass the checks above
     * by luck of timing; its size or modification time tells. */
    struct stat after;
    if (fstat(fd, &after) != 0) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    reco_file_id now = id_of_stat(&after);
    if (!reco_file_id_equal(&now, &f->id)) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: the file changed while it was being "
                            "read", path);
        goto fail;
    }
    if (f->copied)
        close(fd);
    else
        f->fd = fd; /* for a private copy later (reco_mfile_make_private) */
    *out = f;
    return RECO_OK;
fail:
    if (fd >= 0)
        close(fd);
    reco_mfile_close(f);
    return rc;
}

reco_status reco_mfile_make_private(reco_mfile *f, reco_error *err)
{
    if (atomic_load(&f->private_copy))
        return RECO_OK;
    if (f->fd < 0 || !f->map)
        return reco_error_set(err, RECO_ERR_INVALID, "%s: not a mapped model file", f->path);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (size_t)((f->size + page - 1) / page * page);
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory for a %s-byte copy",
                              f->path, RECO_THOUSANDS(f->size));
    madvise(p, len, MADV_HUGEPAGE); /* as reco_alloc_aligned does for large arrays */
    reco_status rc = RECO_OK;
    reco_error why;
    /* From the descriptor, not the mapping: a file truncated meanwhile
     * reads short instead of raising SIGBUS. */
    if (read_parallel(f->fd, p, f->size) != 0) {
        if (errno)
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", f->path, strerror(errno));
        else
            rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: changed in place since it was "
                                "loaded (it is shorter now); no private copy made, the model "
                                "is still mapped from the file", f->path);
    } else if (check_body(f, p, &why) != RECO_OK) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: changed in place since it was loaded "
                            "(%s); no private copy made, the model is still mapped from the "
                            "file", f->path, why.msg);
    } else if (mprotect(p, len, PROT_READ) != 0 ||
               mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, f->map) == MAP_FAILED) {
        rc = reco_error_set(err, RECO_ERR_IO, "%s: cannot put the private copy in place: %s",
                            f->path, strerror(errno));
    }
    if (rc) {
        munmap(p, len);
        return rc;
    }
    /* The copy now sits at the mapping's addresses (one mremap, under the
     * address-space lock: a reader meanwhile sees the file's bytes or the
     * copy's, which are the same). */
    close(f->fd);
    f->fd = -1;
    atomic_store(&f->private_copy, true);
    return RECO_OK;
}

bool reco_mfile_is_private(const reco_mfile *f) { return atomic_load(&f->private_copy); }

reco_status reco_mfile_open(const char *path, reco_mfile **out, reco_error *err)
{
    return reco_mfile_open_mode(path, RECO_MFILE_MAP, out, err);
}

reco_status reco_mfile_open_mem(const void *data, size_t len, const char *name,
                                reco_mfile **out, reco_error *err)
{
    *out = NULL;
    reco_mfile *f = mfile_new(name);
    if (!f)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    f->size = len;
    reco_status rc;
    f->map = reco_alloc_aligned(len);
    if (!f->map) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    f->copied = true;
    atomic_store(&f->private_copy, true);
    if (len)
        memcpy(f->map, data, len);
    if ((rc = check_head_in_memory(f, f->map, err)) || (rc = check_body(f, f->map, err)))
        goto fail;
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

uint32_t reco_mfile_n_sections(const reco_mfile *f) { return f->h.n_sections; }

const void *reco_mfile_section_at(const reco_mfile *f, uint32_t i, const char **name,
                                  uint64_t *size)
{
    if (i >= f->h.n_sections)
        return NULL;
    if (name)
        *name = f->sec[i].name;
    if (size)
        *size = f->sec[i].size;
    return (const char *)f->map + f->sec[i].offset;
}

reco_status reco_mfile_array(const reco_mfile *f, const char *name, uint64_t count,
                             size_t elem_size, const void **out, reco_error *err)
{
    uint64_t size, want;
    const void *p = reco_mfile_section(f, name, &size);
    if (!p)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: missing section \"%s\"", f->path, name);
    if (!reco_mul_u64(count, elem_size, &want))
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": %llu elements of %zu bytes overflow", f->path,
                              name, (unsigned long long)count, elem_size);
    if (size != want)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\" has %llu bytes, expected %llu", f->path, name,
                              (unsigned long long)size, (unsigned long long)want);
    *out = p;
    return RECO_OK;
}

reco_status reco_mfile_matrix(const reco_mfile *f, const char *name, uint64_t rows,
                              uint64_t cols, size_t elem_size, const void **out,
                              reco_error *err)
{
    uint64_t count;
    if (!reco_mul_u64(rows, cols, &count))
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"%s\": %llu x %llu elements overflow", f->path, name,
                              (unsigned long long)rows, (unsigned long long)cols);
    return reco_mfile_array(f, name, count, elem_size, out, err);
}

const char *reco_mfile_algo(const reco_mfile *f) { return f->h.algo; }
int64_t reco_mfile_created(const reco_mfile *f) { return f->h.created; }
const char *reco_mfile_path(const reco_mfile *f) { return f->path; }
uint64_t reco_mfile_size(const reco_mfile *f) { return f->size; }
reco_file_id reco_mfile_id(const reco_mfile *f) { return f->id; }
