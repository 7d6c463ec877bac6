/* reco: building the rating matrix from triplets (duplicates removed,
 * filters applied, CSR by user and CSC by item) and its model-file form.
 * A built dataset never holds a user or product without a rating, unless
 * the caller asked for keep_ids; the filters report what they removed. */
#include "reco/dataset.h"
#include "reco/thousands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reco_build_options_default(reco_build_options *o)
{
    memset(o, 0, sizeof *o);
}

void reco_dataset_free(reco_dataset *ds)
{
    if (!ds)
        return;
    if (!ds->borrowed) {
        reco_csr_clear(&ds->by_user);
        reco_csr_clear(&ds->by_item);
    }
    reco_idmap_free(ds->users);
    reco_idmap_free(ds->items);
    free(ds);
}

/* Keeps one entry per (row, column) in a CSR whose rows are sorted by
 * column with duplicates in input order: the latest timestamp wins, the
 * later entry on a tie. Compacts in place; returns the number removed. */
static uint64_t dedup_rows(reco_csr *m)
{
    uint64_t w = 0;
    uint64_t start = 0;
    for (uint32_t r = 0; r < m->n_rows; r++) {
        uint64_t end = m->ptr[r + 1];
        uint64_t k = start;
        while (k < end) {
            uint64_t best = k, j = k + 1;
            while (j < end && m->idx[j] == m->idx[k]) {
                if (!m->ts || m->ts[j] >= m->ts[best])
                    best = j;
                j++;
            }
            m->idx[w] = m->idx[best];
            m->val[w] = m->val[best];
            if (m->ts)
                m->ts[w] = m->ts[best];
            w++;
            k = j;
        }
        start = end;
        m->ptr[r + 1] = w;
    }
    uint64_t removed = m->nnz - w;
    m->nnz = w;
    return removed;
}

/* One pass over the users still kept: drops those with fewer than min
 * ratings of kept items. Returns whether any was dropped. */
static bool user_pass(const reco_csr *m, uint32_t min, uint8_t *keep_u, const uint8_t *keep_i)
{
    bool changed = false;
    for (uint32_t u = 0; u < m->n_rows; u++) {
        if (!keep_u[u])
            continue;
        uint32_t c = 0;
        for (uint64_t k = m->ptr[u]; k < m->ptr[u + 1]; k++)
            c += keep_i[m->idx[k]];
        if (c < min) {
            keep_u[u] = 0;
            changed = true;
        }
    }
    return changed;
}

/* The same for items, counting ratings of kept users. */
static bool item_pass(const reco_csr *m, uint32_t min, const uint8_t *keep_u, uint8_t *keep_i,
                      uint32_t *icount)
{
    bool changed = false;
    memset(icount, 0, m->n_cols * sizeof *icount);
    for (uint32_t u = 0; u < m->n_rows; u++) {
        if (!keep_u[u])
            continue;
        for (uint64_t k = m->ptr[u]; k < m->ptr[u + 1]; k++)
            icount[m->idx[k]]++;
    }
    for (uint32_t i = 0; i < m->n_cols; i++)
        if (keep_i[i] && icount[i] < min) {
            keep_i[i] = 0;
            changed = true;
        }
    return changed;
}

/* Applies the minimum-count filters, marking kept rows (users) and columns
 * (items). A bound of 0 counts as 1: nothing without ratings is kept.
 * Without k_core: users first, then items among the users kept, then the
 * users those items left without any rating (a user can then hold fewer
 * than min_user_ratings, never none). With k_core: both passes repeat until
 * every kept user and item meets its bound. Either way no kept user or item
 * is left without a rating. Returns the number of rounds. */
static uint32_t run_filters(const reco_csr *m, const reco_build_options *o, uint8_t *keep_u,
                            uint8_t *keep_i, uint32_t *icount)
{
    memset(keep_u, 1, m->n_rows);
    memset(keep_i, 1, m->n_cols);
    uint32_t min_u = o->min_user_ratings ? o->min_user_ratings : 1;
    uint32_t min_i = o->min_item_ratings ? o->min_item_ratings : 1;
    uint32_t rounds = 0;
    for (;;) {
        rounds++;
        bool changed = user_pass(m, min_u, keep_u, keep_i);
        changed |= item_pass(m, min_i, keep_u, keep_i, icount);
        if (!o->k_core || !changed)
            break;
    }
    /* Users whose every product went. Items need no second look: such a
     * user counted for no kept item. */
    if (!o->k_core)
        user_pass(m, 1, keep_u, keep_i);
    return rounds;
}

static reco_status compact(reco_csr *m, const uint8_t *keep_u, const uint8_t *keep_i,
                           reco_idmap **users, reco_idmap **items, reco_error *err)
{
    reco_status rc = RECO_OK;
    uint32_t *umap = malloc(((size_t)m->n_rows + 1) * sizeof *umap);
    uint32_t *imap = malloc(((size_t)m->n_cols + 1) * sizeof *imap);
    uint32_t *ulist = malloc(((size_t)m->n_rows + 1) * sizeof *ulist);
    uint32_t *ilist = malloc(((size_t)m->n_cols + 1) * sizeof *ilist);
    if (!umap || !imap || !ulist || !ilist) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory filtering ratings");
        goto out;
    }
    uint32_t nu = 0, ni = 0;
    for (uint32_t u = 0; u < m->n_rows; u++)
        if (keep_u[u]) {
            umap[u] = nu;
            ulist[nu++] = u;
        }
    for (uint32_t i = 0; i < m->n_cols; i++)
        if (keep_i[i]) {
            imap[i] = ni;
            ilist[ni++] = i;
        }
    /* Rows move down in place: a kept row never lands after where it was. */
    uint64_t w = 0;
    uint64_t start = 0;
    uint32_t r2 = 0;
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t end = m->ptr[u + 1];
        if (keep_u[u]) {
            for (uint64_t k = start; k < end; k++) {
                if (!keep_i[m->idx[k]])
                    continue;
                m->idx[w] = imap[m->idx[k]];
                m->val[w] = m->val[k];
                if (m->ts)
                    m->ts[w] = m->ts[k];
                w++;
            }
            m->ptr[++r2] = w;
        }
        start = end;
    }
    m->ptr[0] = 0;
    m->n_rows = nu;
    m->n_cols = ni;
    m->nnz = w;
    reco_idmap *nu_map = reco_idmap_subset(*users, ulist, nu);
    reco_idmap *ni_map = reco_idmap_subset(*items, ilist, ni);
    if (!nu_map || !ni_map) {
        reco_idmap_free(nu_map);
        reco_idmap_free(ni_map);
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory filtering IDs");
        goto out;
    }
    reco_idmap_free(*users);
    reco_idmap_free(*items);
    *users = nu_map;
    *items = ni_map;
out:
    free(umap);
    free(imap);
    free(ulist);
    free(ilist);
    return rc;
}

/* Counts the users and items with ratings that the filters removed (IDs
 * that had no rating to begin with are not counted). icount is scratch. */
static void count_removed(const reco_csr *m, const uint8_t *keep_u, const uint8_t *keep_i,
                          uint32_t *icount, reco_dataset *ds)
{
    memset(icount, 0, m->n_cols * sizeof *icount);
    for (uint64_t k = 0; k < m->nnz; k++)
        icount[m->idx[k]] = 1;
    ds->filtered_users = ds->filtered_items = 0;
    for (uint32_t u = 0; u < m->n_rows; u++)
        ds->filtered_users += !keep_u[u] && m->ptr[u] < m->ptr[u + 1];
    for (uint32_t i = 0; i < m->n_cols; i++)
        ds->filtered_items += !keep_i[i] && icount[i];
}

static bool all_ids_rated(const reco_csr *m)
{
    for (uint32_t r = 0; r < m->n_rows; r++)
        if (m->ptr[r] == m->ptr[r + 1])
            return false;
    uint8_t *seen = calloc((size_t)m->n_cols + 1, 1);
    if (!seen)
        return false; /* the compaction path then reports the shortage */
    for (uint64_t k = 0; k < m->nnz; k++)
        seen[m->idx[k]] = 1;
    bool all = memchr(seen, 0, m->n_cols) == NULL;
    free(seen);
    return all;
}

reco_status reco_dataset_build(const reco_ratings *r, const reco_build_options *opt_in,
                               reco_dataset **out, reco_error *err)
{
    reco_build_options defaults;
    if (!opt_in) {
        reco_build_options_default(&defaults);
        opt_in = &defaults;
    }
    const reco_build_options *o = opt_in;
    bool filtering = o->min_user_ratings > 1 || o->min_item_ratings > 1;
    *out = NULL;
    if (o->k_core && !filtering)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "k-core filtering needs a minimum above 1 for users or products "
                              "(--min-user-ratings, --min-item-ratings): alone it removes "
                              "nothing");
    if (o->keep_ids && filtering)
        return reco_error_set(err, RECO_ERR_INVALID, "keep_ids cannot be combined with filters");
    size_t nu = reco_idmap_size(r->users), ni = reco_idmap_size(r->items);
    if (nu > UINT32_MAX - 1 || ni > UINT32_MAX - 1)
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "too many users or items");

    reco_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    ds->users = reco_idmap_ref(r->users);
    ds->items = reco_idmap_ref(r->items);
    ds->has_ts = r->has_ts;
    ds->load = r->report;
    ds->input_ratings = r->n;
    reco_status rc;
    reco_progress_report(&o->progress, "build", 0, 4);
    rc = reco_csr_from_triplets((uint32_t)nu, (uint32_t)ni, r->n, r->user, r->item, r->rating,
                                r->has_ts ? r->ts : NULL, &ds->by_user, err);
    if (rc)
        goto fail;
    reco_progress_report(&o->progress, "build", 1, 4);
    ds->duplicates_removed = dedup_rows(&ds->by_user);
    uint64_t after_dedup = ds->by_user.nnz;

    /* Filters need a compaction; so do IDs left without ratings (maps shared
     * with other files) unless keep_ids. A freshly loaded file has none,
     * and checking costs one sequential pass. */
    if (!o->keep_ids && !filtering && !all_ids_rated(&ds->by_user))
        filtering = true;
    if (filtering) {
        uint8_t *keep_u = malloc(nu + 1), *keep_i = malloc(ni + 1);
        uint32_t *icount = malloc((ni + 1) * sizeof *icount);
        if (!keep_u || !keep_i || !icount) {
            free(keep_u);
            free(keep_i);
            free(icount);
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory filtering ratings");
            goto fail;
        }
        ds->filter_rounds = run_filters(&ds->by_user, o, keep_u, keep_i, icount);
        count_removed(&ds->by_user, keep_u, keep_i, icount, ds);
        bool all = memchr(keep_u, 0, nu) == NULL && memchr(keep_i, 0, ni) == NULL;
        if (!all)
            rc = compact(&ds->by_user, keep_u, keep_i, &ds->users, &ds->items, err);
        free(keep_u);
        free(keep_i);
        free(icount);
        if (rc)
            goto fail;
    }
    ds->filtered_ratings = after_dedup - ds->by_user.nnz;
    if (ds->by_user.nnz == 0 && r->n > 0) {
        rc = reco_error_set(err, RECO_ERR_EMPTY,
                            "no ratings are left after the filters (%s before)",
                            RECO_THOUSANDS(after_dedup));
        goto fail;
    }
    reco_progress_report(&o->progress, "build", 3, 4);
    /* The CSC carries no timestamps: everything that needs them (time
     * splits, activity over time) walks users, and they would cost 8 bytes
     * a rating of memory and bandwidth. */
    reco_csr no_ts = ds->by_user;
    no_ts.ts = NULL;
    rc = reco_csr_transpose(&no_ts, &ds->by_item, err);
    if (rc)
        goto fail;
    reco_progress_report(&o->progress, "build", 4, 4);
    *out = ds;
    return RECO_OK;
fail:
    reco_dataset_free(ds);
    return rc;
}

reco_status reco_dataset_load(const char *path, const reco_load_options *lopt,
                              const reco_build_options *bopt, reco_dataset **out,
                              reco_error *err)
{
    reco_ratings *r = NULL;
    *out = NULL;
    reco_status rc = reco_ratings_load(path, lopt, &r, err);
    if (rc)
        return rc;
    rc = reco_dataset_build(r, bopt, out, err);
    reco_ratings_free(r);
    return rc;
}

reco_status reco_dataset_load_pair(const char *train_path, const char *test_path,
                                   const reco_load_options *lopt,
                                   const reco_build_options *bopt, reco_dataset **train,
                                   reco_ratings **test, reco_error *err)
{
    *train = NULL;
    *test = NULL;
    reco_load_options lo;
    if (lopt)
        lo = *lopt;
    else
        reco_load_options_default(&lo);
    reco_build_options bo;
    if (bopt)
        bo = *bopt;
    else
        reco_build_options_default(&bo);
    bo.keep_ids = true;
    lo.users = lo.items = NULL;
    reco_status rc = reco_dataset_load(train_path, &lo, &bo, train, err);
    if (rc)
        return rc;
    lo.users = (*train)->users;
    lo.items = (*train)->items;
    rc = reco_ratings_load(test_path, &lo, test, err);
    if (rc) {
        reco_dataset_free(*train);
        *train = NULL;
    }
    return rc;
}

reco_status reco_dataset_to_ratings(const reco_dataset *ds, reco_ratings **out, reco_error *err)
{
    *out = NULL;
    reco_ratings *r = reco_ratings_new(ds->users, ds->items);
    if (!r)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    const reco_csr *m = &ds->by_user;
    for (uint32_t u = 0; u < m->n_rows; u++)
        for (uint64_t k = m->ptr[u]; k < m->ptr[u + 1]; k++) {
            reco_status rc = reco_ratings_push(r, u, m->idx[k], m->val[k],
                                               m->ts ? m->ts[k] : 0, err);
            if (rc) {
                reco_ratings_free(r);
                return rc;
            }
        }
    r->has_ts = ds->has_ts;
    r->report = ds->load;
    *out = r;
    return RECO_OK;
}

/* ---- model files ---- */

/* Contents version of data.meta. */
#define DATA_FORMAT 1

static reco_status save_csr(const reco_csr *m, reco_mfile_writer *w, const char *p,
                            reco_error *err)
{
    char name[32];
    reco_status rc;
    snprintf(name, sizeof name, "%s.ptr", p);
    if ((rc = reco_mfile_add(w, name, m->ptr, ((uint64_t)m->n_rows + 1) * sizeof *m->ptr, err)))
        return rc;
    snprintf(name, sizeof name, "%s.idx", p);
    if ((rc = reco_mfile_add(w, name, m->idx, m->nnz * sizeof *m->idx, err)))
        return rc;
    snprintf(name, sizeof name, "%s.val", p);
    return reco_mfile_add(w, name, m->val, m->nnz * sizeof *m->val, err);
}

reco_status reco_dataset_save(const reco_dataset *ds, reco_mfile_writer *w, reco_error *err)
{
    reco_mfile_meta *meta = reco_mfile_meta_new(DATA_FORMAT);
    reco_mfile_meta_put_u64(meta, "n_users", ds->by_user.n_rows);
    reco_mfile_meta_put_u64(meta, "n_items", ds->by_item.n_rows);
    reco_mfile_meta_put_u64(meta, "nnz", ds->by_user.nnz);
    reco_mfile_meta_put_u64(meta, "input_ratings", ds->input_ratings);
    reco_mfile_meta_put_u64(meta, "duplicates_removed", ds->duplicates_removed);
    reco_mfile_meta_put_u64(meta, "filtered_ratings", ds->filtered_ratings);
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, "data.meta", meta, err)) ||
        (rc = save_csr(&ds->by_user, w, "data.R", err)) ||
        (rc = save_csr(&ds->by_item, w, "data.C", err)) ||
        (rc = reco_idmap_save(ds->users, w, "users", err)))
        return rc;
    return reco_idmap_save(ds->items, w, "items", err);
}

static reco_status load_csr(const reco_mfile *f, const char *p, uint32_t n_rows, uint32_t n_cols,
                            uint64_t nnz, reco_csr *m, reco_error *err)
{
    char name[32];
    const void *ptr, *idx, *val;
    reco_status rc;
    snprintf(name, sizeof name, "%s.ptr", p);
    if ((rc = reco_mfile_array(f, name, (uint64_t)n_rows + 1, sizeof(uint64_t), &ptr, err)))
        return rc;
    snprintf(name, sizeof name, "%s.idx", p);
    if ((rc = reco_mfile_array(f, name, nnz, sizeof(uint32_t), &idx, err)))
        return rc;
    snprintf(name, sizeof name, "%s.val", p);
    if ((rc = reco_mfile_array(f, name, nnz, sizeof(float), &val, err)))
        return rc;
    m->n_rows = n_rows;
    m->n_cols = n_cols;
    m->nnz = nnz;
    m->ptr = (uint64_t *)ptr;
    m->idx = (uint32_t *)idx;
    m->val = (float *)val;
    m->ts = NULL;
    /* Offsets rise from 0 to nnz; indices stay under the column count and
     * ascend strictly within a row (a profile's items are sorted and
     * distinct). Rows are short (a user has a few ratings), so rather than
     * a loop per row: the places where an index does not rise over the
     * one before, counted in one flat pass, must all be row starts. */
    bool ok = m->ptr[0] == 0 && m->ptr[n_rows] == nnz;
    uint32_t bad = 0;
#pragma omp parallel for simd reduction(| : bad) if (n_rows > 100000)
    for (uint32_t r = 0; r < n_rows; r++)
        bad |= m->ptr[r] > m->ptr[r + 1];
    if (ok && !bad && nnz) {
        const uint32_t *ix = m->idx;
        uint64_t drops = 0, at_starts = 0;
        bad = ix[0] >= n_cols;
#pragma omp parallel for simd reduction(| : bad) reduction(+ : drops) if (nnz > 100000)
        for (uint64_t k = 1; k < nnz; k++) {
            bad |= ix[k] >= n_cols;
            drops += ix[k] <= ix[k - 1];
        }
        /* Each row start inside the array once (empty rows share theirs). */
#pragma omp parallel for simd reduction(+ : at_starts) if (n_rows > 100000)
        for (uint32_t r = 1; r < n_rows; r++) {
            uint64_t k = m->ptr[r];
            at_starts += k > 0 && k < nnz && k != m->ptr[r - 1] && ix[k] <= ix[k - 1];
        }
        bad |= drops != at_starts;
    }
    if (!ok || bad)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: corrupt rating matrix \"%s\"",
                              reco_mfile_path(f), p);
    return RECO_OK;
}

reco_status reco_dataset_from_mfile(const reco_mfile *f, reco_dataset **out, reco_error *err)
{
    *out = NULL;
    reco_mfile_meta *meta = NULL;
    uint64_t nu = 0, ni = 0, nnz = 0, input = 0, dups = 0, filtered = 0;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "data.meta", DATA_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "n_users", 0, UINT32_MAX - 1, &nu, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "n_items", 0, UINT32_MAX - 1, &ni, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "nnz", 0, UINT32_MAX, &nnz, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "input_ratings", 0, UINT64_MAX, &input, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "duplicates_removed", 0, UINT64_MAX, &dups, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "filtered_ratings", 0, UINT64_MAX, &filtered,
                                      err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    reco_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    ds->borrowed = true;
    if ((rc = load_csr(f, "data.R", (uint32_t)nu, (uint32_t)ni, nnz, &ds->by_user, err)) ||
        (rc = load_csr(f, "data.C", (uint32_t)ni, (uint32_t)nu, nnz, &ds->by_item, err)) ||
        (rc = reco_idmap_from_mfile(f, "users", &ds->users, err)) ||
        (rc = reco_idmap_from_mfile(f, "items", &ds->items, err)))
        goto fail;
    if (reco_idmap_size(ds->users) != nu || reco_idmap_size(ds->items) != ni) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: ID tables do not match the ratings",
                            reco_mfile_path(f));
        goto fail;
    }
    ds->input_ratings = input;
    ds->duplicates_removed = dups;
    ds->filtered_ratings = filtered;
    ds->load.ratings = nnz;
    *out = ds;
    return RECO_OK;
fail:
    reco_dataset_free(ds);
    return rc;
}
