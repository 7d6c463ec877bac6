/* The two simplest recommenders: "popular" (the popularity ranking, the
 * same for everyone: rating counts by default, see reco/baseline.h) and
 * "baseline" (mu + b_u + b_i). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/model.h"

#include "numfmt.h"

/* ---- popular ---- */

static void pop_default(void *p) { reco_popular_params_default(p); }

static reco_status pop_set(void *p, const char *key, const char *value, reco_error *err)
{
    return reco_popular_param_set(p, key, value, err);
}

static reco_status pop_check(const void *p, reco_error *err)
{
    return reco_popular_params_check(p, err);
}

static void pop_format(const void *p, char *buf, size_t cap)
{
    reco_popular_params_format(p, buf, cap);
}

/* Ranking by the damped mean rating is a (non-personal) rating prediction;
 * a count is not. */
static bool pop_predicts_ratings(const void *p)
{
    return ((const reco_popular_params *)p)->by == RECO_POPULAR_BY_MEAN;
}

static const char *pop_score_kind(const void *p, const void *state)
{
    (void)state;
    return reco_popular_score_kind(p);
}

typedef struct pop_state {
    float *scores;   /* ranking scores (reco_popular_scores) */
    float *mean;     /* damped mean without min_count: the predicted rating
                        in mode mean */
    reco_topn_head head; /* the best of scores, in order (owned, derived) */
    bool mapped;     /* arrays live in a model file */
} pop_state;

/* Lists read from the head cost no scan of the catalogue. */
#define POP_HEAD 4096

static void pop_free(void *s)
{
    pop_state *st = s;
    if (!st)
        return;
    reco_topn_head_clear(&st->head);
    if (!st->mapped) {
        free(st->scores);
        free(st->mean);
    }
    free(st);
}

static reco_status pop_save(const void *params, const void *s, const reco_dataset *train,
                            reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    const pop_state *st = s;
    uint64_t bytes = (uint64_t)reco_dataset_n_items(train) * sizeof(float);
    reco_status rc = reco_mfile_add(w, "popular.scores", st->scores, bytes, err);
    return rc ? rc : reco_mfile_add(w, "popular.mean", st->mean, bytes, err);
}

static reco_status pop_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                            void **state, reco_error *err)
{
    (void)params;
    uint32_t ni = reco_dataset_n_items(train);
    const void *scores, *mean;
    reco_status rc;
    if ((rc = reco_mfile_array(f, "popular.scores", ni, sizeof(float), &scores, err)) ||
        (rc = reco_mfile_array(f, "popular.mean", ni, sizeof(float), &mean, err)))
        return rc;
    pop_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->scores = (float *)scores;
    st->mean = (float *)mean;
    st->mapped = true;
    if (reco_topn_head_build(&st->head, st->scores, ni, POP_HEAD)) {
        pop_free(st);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    *state = st;
    return RECO_OK;
}

static reco_status pop_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                           void **state, reco_error *err)
{
    (void)ctx;
    const reco_popular_params *p = pp;
    uint32_t ni = reco_dataset_n_items(train);
    pop_state *st = calloc(1, sizeof *st);
    if (st) {
        st->scores = malloc(((size_t)ni + 1) * sizeof(float));
        st->mean = malloc(((size_t)ni + 1) * sizeof(float));
    }
    if (!st || !st->scores || !st->mean) {
        pop_free(st);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    reco_status rc = reco_popular_scores(p, train, st->scores, err);
    if (rc) {
        pop_free(st);
        return rc;
    }
    reco_popular_params mean = *p;
    mean.by = RECO_POPULAR_BY_MEAN;
    mean.half_life_days = 0;
    mean.min_count = 0;
    reco_popular_scores(&mean, train, st->mean, NULL);
    if (reco_topn_head_build(&st->head, st->scores, ni, POP_HEAD)) {
        pop_free(st);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    *state = st;
    return RECO_OK;
}

static float pop_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                         uint32_t u, uint32_t i)
{
    (void)train;
    (void)base;
    (void)u;
    return ((const pop_state *)s)->mean[i];
}

static reco_status pop_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                             const reco_profile *prof, float *scores, void *scratch,
                             reco_error *err)
{
    (void)base;
    (void)prof;
    (void)scratch;
    (void)err;
    memcpy(scores, ((const pop_state *)s)->scores, reco_dataset_n_items(train) * sizeof(float));
    return RECO_OK;
}

static reco_status pop_recommend(const void *s, const reco_dataset *train,
                                 const reco_baseline *base, const reco_profile *prof, size_t n,
                                 const reco_item_filter *f, reco_scored *out, size_t *n_out,
                                 void *scratch, reco_error *err)
{
    (void)base;
    (void)prof;
    (void)scratch;
    (void)err;
    const pop_state *st = s;
    *n_out = reco_topn_head_select_filter(&st->head, st->scores, reco_dataset_n_items(train), f, n,
                                          out);
    return RECO_OK;
}

const reco_algo_ops reco_algo_popular = {
    .name = "popular",
    .summary = "products by number of ratings (optionally recency-weighted) or damped mean",
    .predicts_ratings = pop_predicts_ratings,
    .score_kind = pop_score_kind,
    .params_size = sizeof(reco_popular_params),
    .params_default = pop_default,
    .param_set = pop_set,
    .params_check = pop_check,
    .params_format = pop_format,
    .param_fields = reco_popular_param_fields,
    .fit = pop_fit,
    .free_state = pop_free,
    .predict = pop_predict,
    .recommend = pop_recommend,
    .score = pop_score,
    .save = pop_save,
    .load = pop_load,
};

/* ---- baseline ---- */

static void base_default(void *p) { reco_baseline_params_default(p); }

static reco_status base_set(void *pp, const char *key, const char *value, reco_error *err)
{
    reco_baseline_params *p = pp;
    if (!strcmp(key, "reg_u"))
        return reco_param_double("baseline", key, value, 0, 1e9, &p->reg_u, err);
    if (!strcmp(key, "reg_i"))
        return reco_param_double("baseline", key, value, 0, 1e9, &p->reg_i, err);
    if (!strcmp(key, "epochs"))
        return reco_param_int("baseline", key, value, 1, 1000, &p->epochs, err);
    return reco_param_unknown("baseline", key, err);
}

static reco_status base_check(const void *p, reco_error *err)
{
    return reco_baseline_params_check(p, err);
}

static void base_format(const void *pp, char *buf, size_t cap)
{
    const reco_baseline_params *p = pp;
    reco_snprintf_c(buf, cap, "reg_u=%g reg_i=%g epochs=%d", p->reg_u, p->reg_i, p->epochs);
}

typedef struct base_state {
    reco_baseline_params params;
    reco_baseline b;
    bool mapped;     /* bu, bi live in a model file */
} base_state;

static void base_free(void *s)
{
    base_state *st = s;
    if (!st)
        return;
    if (!st->mapped)
        reco_baseline_clear(&st->b);
    free(st);
}

/* Contents version of baseline.meta. */
#define BASELINE_FORMAT 1

static reco_status base_save(const void *params, const void *s, const reco_dataset *train,
                             reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    (void)train;
    const base_state *st = s;
    reco_mfile_meta *meta = reco_mfile_meta_new(BASELINE_FORMAT);
    reco_mfile_meta_put_f64(meta, "mu", st->b.mu);
    reco_status rc;
    if ((rc = reco_mfile_add_meta(w, "baseline.meta", meta, err)) ||
        (rc = reco_mfile_add(w, "baseline.bu", st->b.bu, (uint64_t)st->b.n_users * sizeof(float),
                             err)))
        return rc;
    return reco_mfile_add(w, "baseline.bi", st->b.bi, (uint64_t)st->b.n_items * sizeof(float),
                          err);
}

static reco_status base_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                             void **state, reco_error *err)
{
    uint32_t nu = reco_dataset_n_users(train), ni = reco_dataset_n_items(train);
    const void *bu, *bi;
    double mu = 0;
    reco_mfile_meta *meta = NULL;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "baseline.meta", BASELINE_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "mu", -FLT_MAX, FLT_MAX, &mu, err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    if ((rc = reco_mfile_array(f, "baseline.bu", nu, sizeof(float), &bu, err)) ||
        (rc = reco_mfile_array(f, "baseline.bi", ni, sizeof(float), &bi, err)))
        return rc;
    base_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *(const reco_baseline_params *)params;
    st->b.mu = mu;
    st->b.n_users = nu;
    st->b.n_items = ni;
    st->b.bu = (float *)bu;
    st->b.bi = (float *)bi;
    st->mapped = true;
    *state = st;
    return RECO_OK;
}

static reco_status base_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                            void **state, reco_error *err)
{
    (void)ctx;
    base_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *(const reco_baseline_params *)pp;
    reco_status rc = reco_baseline_fit(&st->params, train, &st->b, err);
    if (rc) {
        base_free(st);
        return rc;
    }
    *state = st;
    return RECO_OK;
}

static float base_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                          uint32_t u, uint32_t i)
{
    (void)train;
    (void)base;
    return reco_baseline_predict(&((const base_state *)s)->b, u, i);
}

static reco_status base_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                              const reco_profile *prof, float *scores, void *scratch,
                              reco_error *err)
{
    (void)base;
    (void)scratch;
    (void)err;
    const base_state *st = s;
    double bu = 0;
    if (prof->updated || prof->user == RECO_NO_USER) {
        /* Fold the user in: the closed-form user bias given item biases. */
        double sum = 0;
        for (uint32_t k = 0; k < prof->n; k++) {
            uint32_t i = prof->items[k];
            sum += prof->ratings[k] - st->b.mu - (i < st->b.n_items ? st->b.bi[i] : 0);
        }
        bu = reco_baseline_bias(sum, prof->n, st->params.reg_u);
    } else if (prof->user < st->b.n_users) {
        bu = st->b.bu[prof->user];
    }
    uint32_t ni = reco_dataset_n_items(train);
    for (uint32_t i = 0; i < ni; i++)
        scores[i] = (float)(st->b.mu + bu + st->b.bi[i]);
    return RECO_OK;
}

static bool base_predicts_ratings(const void *p)
{
    (void)p;
    return true;
}

static const char *base_score_kind(const void *p, const void *state)
{
    (void)state;
    (void)p;
    return "rating_estimate";
}

const reco_algo_ops reco_algo_baseline = {
    .scores_are_ratings = true,
    .predicts_ratings = base_predicts_ratings,
    .score_kind = base_score_kind,
    .name = "baseline",
    .summary = "global mean plus regularised user and product biases",
    .params_size = sizeof(reco_baseline_params),
    .params_default = base_default,
    .param_set = base_set,
    .params_check = base_check,
    .params_format = base_format,
    .param_fields = reco_baseline_param_fields,
    .fit = base_fit,
    .free_state = base_free,
    .predict = base_predict,
    .score = base_score,
    .save = base_save,
    .load = base_load,
};
