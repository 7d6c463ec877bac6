/* reco: the web console's files and the explore report's, as `reco serve`
 * serves them (GET /, /console/{file}, /report/{path}).
 *
 * The console (src/server/console/) is embedded in the binary at build
 * time (cmake/embed-assets.cmake): nothing is read from disk for it, and
 * each file has a fixed ETag. The report is read from the directory given
 * with --report, read-only, and only by names that cannot leave it.
 * Nothing here prints. */
#ifndef RECO_CONSOLE_H
#define RECO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct reco_console_file {
    const char *name;         /* "index.html" */
    const char *type;         /* its Content-Type */
    const unsigned char *data;
    size_t size;
    const char *etag;         /* quoted, as the header wants it */
} reco_console_file;

extern const reco_console_file reco_console_files[];
extern const size_t reco_console_n_files;

/* The embedded file called name[0..len), or NULL. */
const reco_console_file *reco_console_find(const char *name, size_t len);

/* Whether rel[0..len) may name a file of the report: 1 to 4 segments
 * of A-Z a-z 0-9 . _ -, none empty or starting with '.', so that it can
 * only name something inside the directory (no "..", no hidden files,
 * no percent-escapes). */
bool reco_report_path_ok(const char *rel, size_t len);

/* The Content-Type for a report file, by its extension (html, png, svg,
 * json, csv, txt, css; else application/octet-stream). */
const char *reco_report_type(const char *rel);

/* Reads dir/rel (a path reco_report_path_ok accepted; a regular file of at
 * most max bytes, its last component not a symbolic link) into *data
 * (malloc'd) and *size. 0, or the HTTP status to answer: 404 (no such
 * file, not a regular file), 413 (too large), 500 (a read error). */
unsigned reco_report_read(const char *dir, const char *rel, size_t max, char **data,
                          size_t *size);

#endif
