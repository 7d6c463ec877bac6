/* reco: batch export of every user's top-N list (`reco recommend
 * --all-users`), for e-mail campaigns and offline jobs.
 *
 * Every user of the model's training data, in index order, gets the list
 * reco_model_recommend gives (the same list `reco recommend --user` and
 * the REST API give for a user without live ratings), written as
 *
 *   JSON Lines  one object per user, {"user", "items": [{"item",
 *               "score"}...], "cold_start"}, compact, the numbers as in
 *               every JSON of reco (reco/json.h);
 *   CSV         a header "user,rank,item,score", then one row per
 *               product (rank from 1), IDs quoted as RFC 4180 says.
 *
 * The run streams: users are taken in chunks of a fixed size, each thread
 * computes a chunk into its own buffer with its own scratch, and chunks are
 * written in order, so memory does not grow with the number of users and
 * the file is the same bytes on any number of threads.
 *
 * Written to a path, an export is resumable. It goes to PATH.part; every
 * checkpoint (a fixed number of chunks) syncs the data and then records in
 * PATH.part.state how many users and bytes are on disk, with a
 * fingerprint of the model and the settings. A run with resume set that
 * finds a state continues after its last checkpoint: the bytes past it
 * (a chunk written when the process was killed) are cut and rewritten, so
 * the finished file is byte-identical to one written in one go. A
 * finished export is synced and renamed over PATH (and the state
 * removed), so PATH is never half written. Written to a file descriptor
 * (standard output), an export is not resumable. */
#ifndef RECO_EXPORT_H
#define RECO_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/item_filter.h"
#include "reco/model.h"
#include "reco/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum reco_export_format {
    RECO_EXPORT_JSONL = 0,
    RECO_EXPORT_CSV,
} reco_export_format;

/* Users per chunk, and chunks per checkpoint, by default. */
#define RECO_EXPORT_CHUNK_USERS 1024
#define RECO_EXPORT_CHECKPOINT_CHUNKS 64

typedef struct reco_export_options {
    reco_export_format format;
    size_t n;                      /* products per user, 1 to 1000 */
    bool exclude_rated;            /* leave out what the user rated */
    /* The request-time rules, the same for every user (built once for the
     * run, as `reco recommend` builds them); NULL: none. */
    const reco_item_filter *rules;
    /* The output: a path (resumable, committed by rename), or, when NULL,
     * the open descriptor fd (written in order, never synced). */
    const char *path;
    int fd;
    bool resume;                   /* continue PATH.part when it has a state */
    uint32_t chunk_users;          /* 0: RECO_EXPORT_CHUNK_USERS */
    uint32_t checkpoint_chunks;    /* 0: RECO_EXPORT_CHECKPOINT_CHUNKS */
    int threads;                   /* 0: OpenMP's default */
    reco_progress progress;        /* stage "export": users done of all */
    /* Tests: called after each chunk is written (before any checkpoint)
     * with the users written so far, from whichever thread wrote it. */
    void (*chunk_hook)(void *ctx, uint64_t users_done);
    void *chunk_hook_ctx;
} reco_export_options;

typedef struct reco_export_result {
    uint64_t users;          /* users in the output */
    uint64_t resumed_users;  /* of which an earlier run wrote (resume) */
    uint64_t bytes;          /* size of the output */
    uint64_t rows;           /* products listed by this run */
    uint64_t cold_start;     /* users of this run given the popularity ranking */
    uint64_t short_lists;    /* users of this run with fewer than n products */
} reco_export_result;

void reco_export_options_default(reco_export_options *o);

/* "jsonl" or "csv"; RECO_ERR_INVALID otherwise. */
reco_status reco_export_format_parse(const char *name, reco_export_format *out,
                                     reco_error *err);

/* The format a path's extension names (".jsonl", ".json", ".ndjson":
 * JSON Lines; ".csv"); RECO_ERR_INVALID for any other. */
reco_status reco_export_format_of_path(const char *path, reco_export_format *out,
                                       reco_error *err);

/* Writes every user's list as described above. RECO_ERR_INVALID for bad
 * options, or a state left by an export with another model or other
 * settings (resume refused: start again without it); RECO_ERR_IO naming
 * the file when it cannot be written. On failure PATH is untouched and
 * PATH.part keeps what its last checkpoint recorded. */
reco_status reco_export_all_users(const reco_model *m, const reco_export_options *o,
                                  reco_export_result *res, reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
