/* reco: the rating matrix every algorithm reads.
 *
 * Built once from triplets: duplicates removed (for a repeated (user, item)
 * pair the rating with the latest timestamp wins, the later line on a tie),
 * optional minimum-count filters applied, then kept as CSR by user and CSC
 * by item. Users and items are dense indices into the two ID maps. */
#ifndef RECO_DATASET_H
#define RECO_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/idmap.h"
#include "reco/modelfile.h"
#include "reco/progress.h"
#include "reco/ratings.h"
#include "reco/sparse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The filters: users first, then products among the users kept, then the
 * users left without any rating. With k_core both repeat until every kept
 * user and product meets its bound (RECO_ERR_INVALID when neither bound is
 * above 1: alone it would remove nothing). Whatever the options, users and
 * products without a rating are dropped (unless keep_ids), and the counts
 * removed are in the dataset's filtered_* fields. */
typedef struct reco_build_options {
    uint32_t min_user_ratings; /* drop users with fewer ratings (0: keep all) */
    uint32_t min_item_ratings; /* drop items with fewer ratings (0: keep all) */
    bool k_core;               /* repeat both filters until both hold */
    /* Keep every ID of the maps even if it has no rating left, so that
     * indices stay those of the input maps (for train/test splits). Only
     * allowed without filters. */
    bool keep_ids;
    reco_progress progress;
} reco_build_options;

void reco_build_options_default(reco_build_options *o);

typedef struct reco_dataset {
    reco_csr by_user;          /* rows = users, columns = items */
    reco_csr by_item;          /* rows = items, columns = users; no timestamps */
    reco_idmap *users;         /* owned reference; size = by_user.n_rows */
    reco_idmap *items;         /* owned reference; size = by_item.n_rows */
    bool has_ts;
    reco_load_report load;     /* copied from the ratings */
    uint64_t input_ratings;    /* triplets given to the build */
    uint64_t duplicates_removed;
    uint64_t filtered_ratings; /* removed by the filters */
    uint32_t filtered_users;   /* users with ratings removed by the filters */
    uint32_t filtered_items;   /* products with ratings removed by the filters
                                * (these two are not kept in model files) */
    uint32_t filter_rounds;    /* passes the filters needed (k-core) */
    bool borrowed;             /* arrays live in a model file mapping */
} reco_dataset;

/* Builds a dataset from r (which is not modified). */
reco_status reco_dataset_build(const reco_ratings *r, const reco_build_options *opt,
                               reco_dataset **out, reco_error *err);

/* Loads a file and builds it: reco_ratings_load + reco_dataset_build. */
reco_status reco_dataset_load(const char *path, const reco_load_options *lopt,
                              const reco_build_options *bopt, reco_dataset **out,
                              reco_error *err);

/* Loads a training file and a test file read through the training file's
 * ID maps (the MovieLens uN.base / uN.test pattern), so that indices
 * agree: test IDs unknown to training get indices past the training ones.
 * The IDs are kept (bopt->keep_ids is forced on). On failure both outputs
 * are NULL and the message names the file. */
reco_status reco_dataset_load_pair(const char *train_path, const char *test_path,
                                   const reco_load_options *lopt,
                                   const reco_build_options *bopt, reco_dataset **train,
                                   reco_ratings **test, reco_error *err);

void reco_dataset_free(reco_dataset *ds);

static inline uint32_t reco_dataset_n_users(const reco_dataset *ds) { return ds->by_user.n_rows; }
static inline uint32_t reco_dataset_n_items(const reco_dataset *ds) { return ds->by_item.n_rows; }
static inline uint64_t reco_dataset_nnz(const reco_dataset *ds) { return ds->by_user.nnz; }

/* Adds the rating matrix (CSR and CSC, without timestamps) and both ID
 * maps to a model file. ds must not change until the file is committed. */
reco_status reco_dataset_save(const reco_dataset *ds, reco_mfile_writer *w, reco_error *err);

/* A dataset reading those sections in place; it borrows the mapping, which
 * must outlive it. The structure is validated (offsets, index ranges) so a
 * crafted file cannot make later reads go out of bounds. */
reco_status reco_dataset_from_mfile(const reco_mfile *f, reco_dataset **out, reco_error *err);

/* The dataset's ratings back as triplets in CSR order (user-major), sharing
 * the ID maps. Used to split data for evaluation. */
reco_status reco_dataset_to_ratings(const reco_dataset *ds, reco_ratings **out,
                                    reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
