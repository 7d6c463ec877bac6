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
 *   sections raw little-endian arrays, as the writer gave them
 *
 * Opening checks the magic, version, byte order, sizes (a truncated file is
 * refused) and every checksum (a corrupted file is refused), in parallel.
 * Files are written to a temporary name and renamed into place, so a reader
 * never sees a half-written model. */
#ifndef RECO_MODELFILE_H
#define RECO_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"

#define RECO_MFILE_VERSION 3
#define RECO_MFILE_NAME_MAX 31

typedef struct reco_mfile_writer reco_mfile_writer;

/* Starts writing a model file for algorithm `algo` at path (through
 * path.tmp-PID). Sections are added in order and kept in memory only as
 * borrowed pointers: they must stay valid until commit or abort. */
reco_status reco_mfile_create(const char *path, const char *algo, reco_mfile_writer **out,
                              reco_error *err);

/* Adds a section; name is unique, 1..31 bytes. data may be NULL if size is 0. */
reco_status reco_mfile_add(reco_mfile_writer *w, const char *name, const void *data,
                           uint64_t size, reco_error *err);

/* Like reco_mfile_add, but copies the data (for small sections built on
 * the stack). */
reco_status reco_mfile_add_copy(reco_mfile_writer *w, const char *name, const void *data,
                                uint64_t size, reco_error *err);

/* Writes everything, fsyncs, renames into place, frees w (also on error). */
reco_status reco_mfile_commit(reco_mfile_writer *w, reco_error *err);

/* Discards w without writing. NULL is a no-op. */
void reco_mfile_abort(reco_mfile_writer *w);

typedef struct reco_mfile reco_mfile;

/* Maps and validates a model file. */
reco_status reco_mfile_open(const char *path, reco_mfile **out, reco_error *err);

/* Unmaps. Pointers from reco_mfile_section become invalid. NULL is a no-op. */
void reco_mfile_close(reco_mfile *f);

/* A section's bytes (borrowed, 64-byte aligned) and size, or NULL if there
 * is no such section. */
const void *reco_mfile_section(const reco_mfile *f, const char *name, uint64_t *size);

/* Like reco_mfile_section, but RECO_ERR_FORMAT unless the section exists
 * and holds exactly `count` elements of `elem_size` bytes. */
reco_status reco_mfile_array(const reco_mfile *f, const char *name, uint64_t count,
                             size_t elem_size, const void **out, reco_error *err);

const char *reco_mfile_algo(const reco_mfile *f);
int64_t reco_mfile_created(const reco_mfile *f);
const char *reco_mfile_path(const reco_mfile *f);
uint64_t reco_mfile_size(const reco_mfile *f);

/* The 64-bit checksum used by model files (exposed for tests). */
uint64_t reco_checksum64(const void *data, size_t len, uint64_t seed);

#endif
