/* Evaluation of a fitted model on a test set: rating errors over every test
 * rating, top-N metrics over users with relevant test products. Both loops
 * run on all cores; each sums into fixed blocks of users that are added in
 * order afterwards, so the figures are the same with any thread count. */
#include "reco/eval.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Users per summation block: large enough to amortise scheduling, small
 * enough to balance users with very different row lengths. */
#define RATE_BLOCK 256
#define RANK_BLOCK 16

void reco_eval_options_default(reco_eval_options *o)
{
    memset(o, 0, sizeof *o);
    o->n = 10;
    o->relevant = 4;
    o->seed = 1;
    o->rating_metrics = true;
    o->ranking_metrics = true;
}

reco_status reco_eval_options_check(const reco_eval_options *o, reco_error *err)
{
    if (o->n < 1 || o->n > RECO_EVAL_MAX_N)
        return reco_error_set(err, RECO_ERR_INVALID, "the list length N must be 1 to %d, got %u",
                              RECO_EVAL_MAX_N, o->n);
    if (!isfinite(o->relevant))
        return reco_error_set(err, RECO_ERR_INVALID, "the relevance threshold must be a number");
    if (o->threads < 0)
        return reco_error_set(err, RECO_ERR_INVALID, "threads must be >= 0");
    return RECO_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Progress from inside a parallel loop: only the calling thread (thread
 * 0) reports, and only when another 1/200 of the work is done, which
 * keeps to the "few hundred calls per stage" of reco/progress.h. */
static void report_step(const reco_progress *p, const char *stage, uint64_t done,
                        uint64_t total, uint64_t *last_step)
{
    if (!p->fn || omp_get_thread_num() != 0 || !total)
        return;
    uint64_t step = done * 200 / total;
    if (step > *last_step) {
        *last_step = step;
        p->fn(p->ctx, stage, done, total);
    }
}

static bool has_row(const reco_csr *m, uint32_t r)
{
    return r < m->n_rows && m->ptr[r + 1] > m->ptr[r];
}

/* ---- rating prediction ---------------------------------------------------- */

typedef struct rate_sums {
    double sq, abs;
    uint64_t n, unknown_u, unknown_i;
} rate_sums;

static reco_status eval_ratings(const reco_model *m, const reco_dataset *test, int nt,
                                const reco_progress *prog, reco_eval_result *out,
                                reco_error *err)
{
    const reco_dataset *train = m->train;
    const reco_csr *T = &test->by_user;
    const size_t nblocks = ((size_t)T->n_rows + RATE_BLOCK - 1) / RATE_BLOCK;
    rate_sums *bs = calloc(nblocks + 1, sizeof *bs);
    if (!bs)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    uint64_t done = 0, last_step = 0;
    double t0 = now_s();
    reco_progress_report(prog, "predict", 0, T->nnz);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (size_t b = 0; b < nblocks; b++) {
        rate_sums s = {0};
        uint32_t u_end = (uint32_t)((b + 1) * RATE_BLOCK < T->n_rows ? (b + 1) * RATE_BLOCK
                                                                      : T->n_rows);
        for (uint32_t u = (uint32_t)(b * RATE_BLOCK); u < u_end; u++) {
            bool known_u = has_row(&train->by_user, u);
            for (uint64_t k = T->ptr[u]; k < T->ptr[u + 1]; k++) {
                uint32_t i = T->idx[k];
                double d = (double)reco_model_predict(m, u, i) - T->val[k];
                s.sq += d * d;
                s.abs += fabs(d);
                s.unknown_u += !known_u;
                s.unknown_i += !has_row(&train->by_item, i);
            }
            s.n += T->ptr[u + 1] - T->ptr[u];
        }
        bs[b] = s;
        uint64_t now;
#pragma omp atomic capture
        now = done += s.n;
        report_step(prog, "predict", now, T->nnz, &last_step);
    }
    rate_sums tot = {0};
    for (size_t b = 0; b < nblocks; b++) {
        tot.sq += bs[b].sq;
        tot.abs += bs[b].abs;
        tot.n += bs[b].n;
        tot.unknown_u += bs[b].unknown_u;
        tot.unknown_i += bs[b].unknown_i;
    }
    free(bs);
    out->predict_seconds = now_s() - t0;
    reco_progress_report(prog, "predict", T->nnz, T->nnz);
    out->test_ratings = tot.n;
    out->unknown_user_ratings = tot.unknown_u;
    out->unknown_item_ratings = tot.unknown_i;
    out->rmse = tot.n ? sqrt(tot.sq / (double)tot.n) : NAN;
    out->mae = tot.n ? tot.abs / (double)tot.n : NAN;
    return RECO_OK;
}

/* ---- top-N ranking -------------------------------------------------------- */

typedef struct rank_sums {
    double precision, recall, ndcg, ap, hit;
    uint64_t users, cold;
} rank_sums;

/* The relevant test products of u: rated >= threshold in test and not
 * rated in training (those cannot be recommended with exclude_rated).
 * Writes them ascending to rel (may be NULL to count only). */
static uint32_t relevant_of(const reco_dataset *train, const reco_csr *T, uint32_t u,
                            double threshold, uint32_t *rel)
{
    uint32_t n = 0;
    bool known = has_row(&train->by_user, u);
    for (uint64_t k = T->ptr[u]; k < T->ptr[u + 1]; k++) {
        if (!((double)T->val[k] >= threshold))
            continue;
        uint32_t i = T->idx[k];
        if (known && i < train->by_user.n_cols && reco_csr_find(&train->by_user, u, i) >= 0)
            continue;
        if (rel)
            rel[n] = i;
        n++;
    }
    return n;
}

static reco_status eval_ranking(const reco_model *m, const reco_dataset *test,
                                const reco_eval_options *o, int nt, reco_eval_result *out,
                                reco_error *err)
{
    const reco_dataset *train = m->train;
    const reco_csr *T = &test->by_user;
    const uint32_t n_items = reco_dataset_n_items(train);
    const size_t N = o->n;
    reco_status rc = RECO_OK;
    uint32_t *users = malloc(((size_t)T->n_rows + 1) * sizeof *users);
    uint8_t *seen = calloc((size_t)n_items + 1, 1);
    rank_sums *bs = NULL;
    if (!users || !seen) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto out;
    }
    uint32_t n_users = 0, max_rel = 1;
    for (uint32_t u = 0; u < T->n_rows; u++) {
        uint32_t r = T->ptr[u + 1] > T->ptr[u] ? relevant_of(train, T, u, o->relevant, NULL) : 0;
        if (r) {
            users[n_users++] = u;
            if (r > max_rel)
                max_rel = r;
        }
    }
    out->rank_eligible = n_users;
    if (o->rank_users && o->rank_users < n_users) {
        /* The sample's positions are ascending and each >= its rank, so
         * users can be compacted in place. */
        uint32_t *pick = malloc((size_t)o->rank_users * sizeof *pick);
        if (!pick) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            goto out;
        }
        reco_split_sample(n_users, o->rank_users, o->seed, pick);
        for (uint32_t j = 0; j < o->rank_users; j++)
            users[j] = users[pick[j]];
        free(pick);
        n_users = o->rank_users;
    }
    const size_t nblocks = ((size_t)n_users + RANK_BLOCK - 1) / RANK_BLOCK;
    bs = calloc(nblocks + 1, sizeof *bs);
    if (!bs) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto out;
    }
    const size_t scratch_size = reco_model_scratch_size(m);
    uint64_t done = 0, last_step = 0;
    int stop = 0;
    double t0 = now_s();
    reco_progress_report(&o->progress, "rank", 0, n_users);
#pragma omp parallel num_threads(nt)
    {
        reco_error terr;
        reco_error_clear(&terr);
        reco_status trc = RECO_OK;
        void *scratch = malloc(scratch_size);
        reco_scored *recs = malloc(N * sizeof *recs);
        uint32_t *ids = malloc(N * sizeof *ids);
        uint32_t *rel = malloc((size_t)max_rel * sizeof *rel);
        if (!scratch || !recs || !ids || !rel)
            trc = reco_error_set(&terr, RECO_ERR_NOMEM, "out of memory for ranking buffers");
#pragma omp for schedule(dynamic, 1)
        for (size_t b = 0; b < nblocks; b++) {
            int stopped;
#pragma omp atomic read
            stopped = stop;
            if (trc || stopped)
                continue;
            rank_sums s = {0};
            size_t j_end = (b + 1) * RANK_BLOCK < n_users ? (b + 1) * RANK_BLOCK : n_users;
            for (size_t j = b * RANK_BLOCK; j < j_end && !trc; j++) {
                uint32_t u = users[j];
                uint32_t n_rel = relevant_of(train, T, u, o->relevant, rel);
                reco_profile prof = {RECO_NO_USER, NULL, NULL, 0, false};
                if (has_row(&train->by_user, u))
                    prof = reco_profile_of_user(train, u);
                else
                    s.cold++;
                size_t n_out = 0;
                trc = reco_model_recommend(m, &prof, N, true, recs, &n_out, NULL, scratch,
                                           &terr);
                if (trc)
                    break;
                for (size_t k = 0; k < n_out; k++) {
                    ids[k] = recs[k].id;
                    if (ids[k] < n_items) {
#pragma omp atomic write
                        seen[ids[k]] = 1;
                    }
                }
                reco_rank_user ru;
                reco_rank_metrics(ids, n_out, N, rel, n_rel, &ru);
                s.precision += ru.precision;
                s.recall += ru.recall;
                s.ndcg += ru.ndcg;
                s.ap += ru.ap;
                s.hit += ru.hits > 0;
                s.users++;
            }
            bs[b] = s;
            uint64_t now;
#pragma omp atomic capture
            now = done += s.users;
            report_step(&o->progress, "rank", now, n_users, &last_step);
        }
        if (trc) {
#pragma omp critical(reco_eval_error)
            {
                if (!rc) {
                    rc = trc;
                    if (err)
                        *err = terr;
                }
            }
#pragma omp atomic write
            stop = 1;
        }
        free(scratch);
        free(recs);
        free(ids);
        free(rel);
    }
    if (rc)
        goto out;
    rank_sums tot = {0};
    for (size_t b = 0; b < nblocks; b++) {
        tot.precision += bs[b].precision;
        tot.recall += bs[b].recall;
        tot.ndcg += bs[b].ndcg;
        tot.ap += bs[b].ap;
        tot.hit += bs[b].hit;
        tot.users += bs[b].users;
        tot.cold += bs[b].cold;
    }
    out->recommend_seconds = now_s() - t0;
    reco_progress_report(&o->progress, "rank", n_users, n_users);
    uint64_t catalogue = 0, covered = 0;
    for (uint32_t i = 0; i < n_items; i++)
        if (has_row(&train->by_item, i)) {
            catalogue++;
            covered += seen[i];
        }
    out->rank_users = tot.users;
    out->rank_cold_users = tot.cold;
    out->catalogue = catalogue;
    if (tot.users) {
        double nu = (double)tot.users;
        out->precision = tot.precision / nu;
        out->recall = tot.recall / nu;
        out->ndcg = tot.ndcg / nu;
        out->map = tot.ap / nu;
        out->hit_rate = tot.hit / nu;
        out->coverage = catalogue ? (double)covered / (double)catalogue : NAN;
    }
out:
    free(users);
    free(seen);
    free(bs);
    return rc;
}

reco_status reco_eval_model(const reco_model *m, const reco_dataset *test,
                            const reco_eval_options *o_in, reco_eval_result *out,
                            reco_error *err)
{
    reco_eval_options o;
    if (o_in)
        o = *o_in;
    else
        reco_eval_options_default(&o);
    memset(out, 0, sizeof *out);
    out->rmse = out->mae = NAN;
    out->precision = out->recall = out->ndcg = out->map = out->hit_rate = out->coverage = NAN;
    reco_status rc = reco_eval_options_check(&o, err);
    if (rc)
        return rc;
    if (!m->state || !m->train)
        return reco_error_set(err, RECO_ERR_INVALID, "the model is not fitted");
    if (test->users != m->train->users || test->items != m->train->items)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the test set does not share the training set's ID maps");
    out->fit_seconds = m->fit_seconds;
    int nt = o.threads > 0 ? o.threads : omp_get_max_threads();
    if (o.rating_metrics) {
        rc = eval_ratings(m, test, nt, &o.progress, out, err);
        if (rc)
            return rc;
        /* The figures would be the baseline's, not the model's. */
        if (!reco_model_predicts_ratings(m))
            out->rmse = out->mae = NAN;
    }
    if (o.ranking_metrics)
        rc = eval_ranking(m, test, &o, nt, out, err);
    return rc;
}

void reco_eval_summarise(const reco_eval_result *r, size_t k, reco_eval_result *mean,
                         reco_eval_result *std)
{
    reco_eval_result m = {0}, s = {0};
#define RECO_EVAL_DOUBLES(X)                                                            \
    X(rmse) X(mae) X(precision) X(recall) X(ndcg) X(map) X(hit_rate) X(coverage)        \
    X(fit_seconds) X(predict_seconds) X(recommend_seconds)
#define RECO_EVAL_COUNTS(X)                                                             \
    X(test_ratings) X(unknown_user_ratings) X(unknown_item_ratings) X(rank_eligible)    \
    X(rank_users) X(rank_cold_users) X(catalogue)
    for (size_t j = 0; j < k; j++) {
#define ADD_MEAN(f) m.f += r[j].f / (double)k;
#define ADD_COUNT(f) m.f += r[j].f;
        RECO_EVAL_DOUBLES(ADD_MEAN)
        RECO_EVAL_COUNTS(ADD_COUNT)
    }
    for (size_t j = 0; j < k; j++) {
#define ADD_VAR(f) s.f += (r[j].f - m.f) * (r[j].f - m.f) / (double)k;
        RECO_EVAL_DOUBLES(ADD_VAR)
    }
#define TAKE_SQRT(f) s.f = sqrt(s.f);
    RECO_EVAL_DOUBLES(TAKE_SQRT)
#undef ADD_MEAN
#undef ADD_COUNT
#undef ADD_VAR
#undef TAKE_SQRT
#undef RECO_EVAL_DOUBLES
#undef RECO_EVAL_COUNTS
    *mean = m;
    if (std)
        *std = s;
}
