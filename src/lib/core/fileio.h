/* reco: whole reads and writes on file descriptors, one copy for the
 * model files, the rating files and the ratings log.
 *
 * The system calls may transfer less than asked and may be interrupted by
 * a signal; these loop until done, retry on EINTR, and cut transfers into
 * pieces of at most 1 GiB (Linux moves at most about 2 GiB per call).
 * Private to the library. */
#ifndef RECO_FILEIO_H
#define RECO_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Reads len bytes at offset off into buf. Returns how many were read: len,
 * or fewer only when the file ends first; -1 with errno on an error. */
int64_t reco_pread_full(int fd, void *buf, uint64_t len, uint64_t off);

/* Reads exactly len bytes at off: 0, or -1 with errno (EIO when the file
 * ends first: it is shorter than the caller knew it to be). */
int reco_pread_exact(int fd, void *buf, uint64_t len, uint64_t off);

/* Writes len bytes at offset off: 0, or -1 with errno. */
int reco_pwrite_full(int fd, const void *buf, uint64_t len, uint64_t off);

/* Writes len bytes at the file position: 0, or -1 with errno. */
int reco_write_full(int fd, const void *buf, uint64_t len);

/* Reads fd to its end (a pipe, standard input) into *buf (malloc'd, owned
 * by the caller; not terminated) of *len bytes, refusing more than max
 * bytes. 0; -1 with errno on a read error (ENOMEM out of memory, EFBIG
 * over max), *buf NULL then. */
int reco_read_all(int fd, size_t max, char **buf, size_t *len);

#endif
