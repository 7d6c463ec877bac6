/* reco: the container format of model files.
 *
 * A model file is a header, a table of named sections and the sections
 * themselves, each aligned to 64 bytes so that a reader can use them in
 * place through a memory mapping (loading costs no parsing and no copying).
 *
 *   header   magic "RECOMODL", format version, byte-order mark, algorithm
 *            name, creation time, section count, file size, checksum of
 *            the header and section table
 *   table    per section: name, offset, size, checksum of its bytes
 *   sections raw little-endian arrays, as the writer gave them, and
 *            metadata: typed key/value text (below), never a C struct
 *
 * Opening refuses anything but a regular file without blocking (a FIFO or
 * a device at the path is reported, not waited on), reads and checks the
 * header and the section table first (magic, version, byte order, sizes
 * against the file's: a file that is not a model, or a truncated one, is
 * refused after reading a few bytes), and only then brings in the sections
 * and checks every byte against the checksums, in parallel.
 *
 * Files are written to a fresh temporary name in the same directory,
 * fsynced, renamed into place and the directory fsynced, so a reader never
 * sees a half-written model and a crash never leaves one behind.
 *
 * A mapped file must not be changed in place while it is open: truncating
 * it makes every later access to the lost pages a SIGBUS, and rewriting it
 * changes the arrays under the reader. Replace files by renaming a new file
 * over them (the open one keeps its old inode), or open them with
 * RECO_MFILE_COPY, which keeps a private copy that later changes to the
 * file cannot reach, or map them and call reco_mfile_make_private once the
 * model is in use (the load costs a mapping; the copy comes later). */
#ifndef RECO_MODELFILE_H
#define RECO_MODELFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version 4: metadata sections are key/value text (version 3 and earlier
 * dumped C structs, and are refused: retrain). */
#define RECO_MFILE_VERSION 4
#define RECO_MFILE_NAME_MAX 31

typedef struct reco_mfile_writer reco_mfile_writer;

/* Starts writing a model file for algorithm `algo` at path (through a
 * temporary file path.tmp-PID-N created beside it). Sections are added in
 * order and kept in memory only as borrowed pointers: they must stay valid
 * until commit or abort. */
reco_status reco_mfile_create(const char *path, const char *algo, reco_mfile_writer **out,
                              reco_error *err);

/* Adds a section; name is unique, 1..31 bytes. data may be NULL if size is 0. */
reco_status reco_mfile_add(reco_mfile_writer *w, const char *name, const void *data,
                           uint64_t size, reco_error *err);

/* Like reco_mfile_add, but copies the data (for small sections built on
 * the stack). */
reco_status reco_mfile_add_copy(reco_mfile_writer *w, const char *name, const void *data,
                                uint64_t size, reco_error *err);

/* Writes everything to the temporary file, fsyncs it, renames it over
 * path and fsyncs the directory (so the new name survives a crash as well
 * as the data); frees w, also on error, when the temporary file is
 * removed and path is left as it was. */
reco_status reco_mfile_commit(reco_mfile_writer *w, reco_error *err);

/* Discards w without writing. NULL is a no-op. */
void reco_mfile_abort(reco_mfile_writer *w);

typedef struct reco_mfile reco_mfile;

/* How the sections are brought into memory. */
typedef enum reco_mfile_mode {
    /* Mapped: no copy, pages shared with the page cache and other
     * processes; the file must not be rewritten in place while open. */
    RECO_MFILE_MAP,
    /* Read into private memory: costs a copy (about 0.25 s a GB on two
     * cores) and the memory is not shared, but nothing done to the file
     * afterwards can reach the model. (A long-running server maps, then
     * calls reco_mfile_make_private, so that the copy is not part of the
     * load.) */
    RECO_MFILE_COPY
} reco_mfile_mode;

/* Opens and validates a model file (RECO_MFILE_MAP). Refuses non-regular
 * files, a header or section table that does not make sense, a size other
 * than the header's, a checksum mismatch, and a file that changed while it
 * was read (RECO_ERR_FORMAT, or NOT_FOUND / IO from the system). */
reco_status reco_mfile_open(const char *path, reco_mfile **out, reco_error *err);

reco_status reco_mfile_open_mode(const char *path, reco_mfile_mode mode, reco_mfile **out,
                                 reco_error *err);

/* Validates a model file held in memory (copied; name is used in messages
 * and as the path). For fuzzing and tests. */
reco_status reco_mfile_open_mem(const void *data, size_t len, const char *name,
                                reco_mfile **out, reco_error *err);

/* Replaces the mapping of a file opened with RECO_MFILE_MAP by a private
 * copy at the same addresses: pointers taken from the file stay valid, and
 * other threads may be reading through them meanwhile (every byte reads
 * the same before and after; the swap is one mremap). From then on nothing
 * done to the file reaches them, as with RECO_MFILE_COPY, but opening cost
 * only the mapping: the copy can be made while the model already serves
 * (`reco serve` does it in the background). The copy is read from the
 * descriptor kept since the open (a file truncated meanwhile reads short,
 * never raises SIGBUS) and checked against the checksums validated then:
 * a file changed in place since is refused (RECO_ERR_FORMAT) and stays
 * mapped. Returns at once for a file already private (copied, from memory,
 * or made private before). Not to be called twice at once on one file. */
reco_status reco_mfile_make_private(reco_mfile *f, reco_error *err);

/* True when the file's bytes are private memory (RECO_MFILE_COPY, from
 * memory, or after reco_mfile_make_private). Thread-safe. */
bool reco_mfile_is_private(const reco_mfile *f);

/* Unmaps. Pointers from reco_mfile_section become invalid. NULL is a no-op. */
void reco_mfile_close(reco_mfile *f);

/* A section's bytes (borrowed, 64-byte aligned) and size, or NULL if there
 * is no such section. */
const void *reco_mfile_section(const reco_mfile *f, const char *name, uint64_t *size);

/* The number of sections, and section i's name, bytes and size (i below
 * that number), in file order: for listing a file and for tools that copy
 * one. */
uint32_t reco_mfile_n_sections(const reco_mfile *f);
const void *reco_mfile_section_at(const reco_mfile *f, uint32_t i, const char **name,
                                  uint64_t *size);

/* Like reco_mfile_section, but RECO_ERR_FORMAT unless the section exists
 * and holds exactly `count` elements of `elem_size` bytes. */
reco_status reco_mfile_array(const reco_mfile *f, const char *name, uint64_t count,
                             size_t elem_size, const void **out, reco_error *err);

/* Like reco_mfile_array for a rows x cols matrix of elem_size elements:
 * RECO_ERR_FORMAT also when rows * cols * elem_size does not fit in 64
 * bits (a crafted count never wraps around to a size that matches). */
reco_status reco_mfile_matrix(const reco_mfile *f, const char *name, uint64_t rows,
                              uint64_t cols, size_t elem_size, const void **out,
                              reco_error *err);

const char *reco_mfile_algo(const reco_mfile *f);
int64_t reco_mfile_created(const reco_mfile *f);
const char *reco_mfile_path(const reco_mfile *f);
uint64_t reco_mfile_size(const reco_mfile *f);

/* What tells one version of a file from another: device and inode (a file
 * renamed over the path is a new inode), size and modification time (a
 * file rewritten in place keeps its inode but not these). */
typedef struct reco_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} reco_file_id;

/* The identity of the file as it was opened (all zero for a file opened
 * from memory). */
reco_file_id reco_mfile_id(const reco_mfile *f);

/* The identity of the file at path now (following symbolic links):
 * RECO_ERR_NOT_FOUND if there is none, RECO_ERR_IO if it cannot be read. */
reco_status reco_file_id_of(const char *path, reco_file_id *out, reco_error *err);

/* True when a and b are the same inode (dev, ino). */
static inline int reco_file_id_same_inode(const reco_file_id *a, const reco_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

/* True when a and b are the same version of the same file. */
static inline int reco_file_id_equal(const reco_file_id *a, const reco_file_id *b)
{
    return reco_file_id_same_inode(a, b) && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/* ---- metadata sections ----
 *
 * Counts, scalars and names of a model file (an algorithm's sizes, a
 * dataset's counts, parameters) are kept as typed key/value text, one
 * entry a line, "KEY TYPE VALUE\n":
 *   KEY    1..63 bytes of [a-z0-9_.], starting with a letter
 *   u64    decimal digits (no sign, no leading zero)
 *   i64    the same with an optional '-'
 *   f64    the IEEE 754 bit pattern as 16 lowercase hex digits: exact, and
 *          independent of the locale (no radix character)
 *   str    the bytes, with '\' written "\\" and bytes below 0x20 and
 *          0x7f written "\xHH" (so a line is a line; no NUL)
 * Every section has the key "format" (u64): the version of its contents.
 * A reader knows the versions up to some number; a newer one is refused
 * ("written by a newer reco"), while keys it does not know in a version
 * it knows are ignored, so a later reco may add keys without breaking
 * earlier readers. A missing, repeated or malformed key, a value of the
 * wrong type and a value outside the range the reader asks for are
 * refused with RECO_ERR_FORMAT, naming the file, the section and the
 * key. The reader never trusts a size: it asks for each value with its
 * bounds. */

typedef struct reco_mfile_meta reco_mfile_meta;

/* Longest key and value (after unescaping) of a metadata entry. */
#define RECO_MFILE_META_KEY_MAX 63
#define RECO_MFILE_META_STR_MAX 4096

/* A new metadata section of contents version `format` (>= 1), to fill with
 * the put functions and add with reco_mfile_add_meta. NULL when out of
 * memory (the put functions then do nothing and add reports it). */
reco_mfile_meta *reco_mfile_meta_new(uint64_t format);

/* Adds an entry. A failure (out of memory, a malformed or repeated key, a
 * string too long) is kept and reported by reco_mfile_add_meta, so a run
 * of puts needs no checks in between. */
void reco_mfile_meta_put_u64(reco_mfile_meta *m, const char *key, uint64_t v);
void reco_mfile_meta_put_i64(reco_mfile_meta *m, const char *key, int64_t v);
void reco_mfile_meta_put_f64(reco_mfile_meta *m, const char *key, double v);
void reco_mfile_meta_put_str(reco_mfile_meta *m, const char *key, const char *v);
/* A u64 of 0 or 1 (read with reco_mfile_meta_get_bool). */
void reco_mfile_meta_put_bool(reco_mfile_meta *m, const char *key, bool v);

/* Adds m to the file as section `name` (copied) and frees m, also on error
 * (RECO_ERR_NOMEM or RECO_ERR_INVALID from the puts, or from
 * reco_mfile_add). */
reco_status reco_mfile_add_meta(reco_mfile_writer *w, const char *name, reco_mfile_meta *m,
                                reco_error *err);

/* Reads and checks metadata section `name` of f: RECO_ERR_FORMAT if it is
 * missing, malformed, has a key twice, has no "format" or one above
 * max_format (written by a newer reco). Free with reco_mfile_meta_free. */
reco_status reco_mfile_meta_read(const reco_mfile *f, const char *name, uint64_t max_format,
                                 reco_mfile_meta **out, reco_error *err);

/* The same, from bytes (name and path used in messages). For tests. */
reco_status reco_mfile_meta_parse(const void *bytes, size_t len, const char *path,
                                  const char *name, uint64_t max_format, reco_mfile_meta **out,
                                  reco_error *err);

/* The section's "format" (as read or as given to reco_mfile_meta_new). */
uint64_t reco_mfile_meta_format(const reco_mfile_meta *m);

/* Whether key is present (of any type). */
bool reco_mfile_meta_has(const reco_mfile_meta *m, const char *key);

/* A value of key, which must be present, of that type and within
 * [min, max]; otherwise RECO_ERR_FORMAT naming file, section and key, and
 * *out is left alone. get_f64 refuses NaN; get_f64_nan allows it. A
 * string is borrowed from m (NUL-terminated, at most max_len bytes). */
reco_status reco_mfile_meta_get_u64(const reco_mfile_meta *m, const char *key, uint64_t min,
                                    uint64_t max, uint64_t *out, reco_error *err);
reco_status reco_mfile_meta_get_u32(const reco_mfile_meta *m, const char *key, uint32_t min,
                                    uint32_t max, uint32_t *out, reco_error *err);
reco_status reco_mfile_meta_get_i64(const reco_mfile_meta *m, const char *key, int64_t min,
                                    int64_t max, int64_t *out, reco_error *err);
reco_status reco_mfile_meta_get_int(const reco_mfile_meta *m, const char *key, int min, int max,
                                    int *out, reco_error *err);
reco_status reco_mfile_meta_get_f64(const reco_mfile_meta *m, const char *key, double min,
                                    double max, double *out, reco_error *err);
reco_status reco_mfile_meta_get_f64_nan(const reco_mfile_meta *m, const char *key, double min,
                                        double max, double *out, reco_error *err);
reco_status reco_mfile_meta_get_f32(const reco_mfile_meta *m, const char *key, float min,
                                    float max, float *out, reco_error *err);
reco_status reco_mfile_meta_get_bool(const reco_mfile_meta *m, const char *key, bool *out,
                                     reco_error *err);
reco_status reco_mfile_meta_get_str(const reco_mfile_meta *m, const char *key, size_t max_len,
                                    const char **out, reco_error *err);

/* Copies the string of key into buf (cap bytes): RECO_ERR_FORMAT when it
 * does not fit. */
reco_status reco_mfile_meta_get_strbuf(const reco_mfile_meta *m, const char *key, char *buf,
                                       size_t cap, reco_error *err);

/* Frees a metadata section (written or read). NULL is a no-op. */
void reco_mfile_meta_free(reco_mfile_meta *m);

/* The 64-bit checksum used by model files (exposed for tests). */
uint64_t reco_checksum64(const void *data, size_t len, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif
