/* The generic model layer: the algorithm registry, parameters shared by
 * every model (baseline, popularity), fitting, prediction with the
 * baseline fallback and clamping, top-N with cold start, model files. */
#include "reco/catalogue.h"
#include "reco/clock.h"
#include "reco/events.h"
#include "reco/model.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numfmt.h"
#include "parsum.h"
#include "similar.h"

/* Algorithms are defined in their own modules (algo_*.c). */
extern const reco_algo_ops reco_algo_popular;
extern const reco_algo_ops reco_algo_baseline;
extern const reco_algo_ops reco_algo_usercf;
extern const reco_algo_ops reco_algo_itemcf;
extern const reco_algo_ops reco_algo_svd;
extern const reco_algo_ops reco_algo_mf;
extern const reco_algo_ops reco_algo_ials;
extern const reco_algo_ops reco_algo_ease;
extern const reco_algo_ops reco_algo_default;

const reco_algo_ops *const *reco_algo_list(void)
{
    static const reco_algo_ops *const list[] = {
        &reco_algo_popular, &reco_algo_baseline, &reco_algo_usercf, &reco_algo_itemcf,
        &reco_algo_svd,     &reco_algo_mf,       &reco_algo_ials,    &reco_algo_ease,
        &reco_algo_default, NULL,
    };
    return list;
}

const reco_algo_ops *reco_algo_find(const char *name)
{
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++)
        if (!strcmp((*a)->name, name))
            return *a;
    return NULL;
}

reco_profile reco_profile_of_user(const reco_dataset *train, uint32_t u)
{
    reco_profile p = {RECO_NO_USER, NULL, NULL, 0, false};
    const reco_csr *R = &train->by_user;
    if (u < R->n_rows) {
        p.user = u;
        p.items = R->idx + R->ptr[u];
        p.ratings = R->val + R->ptr[u];
        p.n = (uint32_t)(R->ptr[u + 1] - R->ptr[u]);
    }
    return p;
}

reco_status reco_model_new(const char *name, reco_model **out, reco_error *err)
{
    *out = NULL;
    const reco_algo_ops *ops = reco_algo_find(name);
    if (!ops) {
        char names[256] = "";
        for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
            strncat(names, names[0] ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, (*a)->name, sizeof names - strlen(names) - 1);
        }
        return reco_error_set(err, RECO_ERR_INVALID, "unknown algorithm \"%s\" (known: %s)",
                              name, names);
    }
    reco_model *m = calloc(1, sizeof *m);
    if (!m || !(m->params = calloc(1, ops->params_size ? ops->params_size : 1))) {
        free(m);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    m->ops = ops;
    ops->params_default(m->params);
    reco_baseline_params_default(&m->baseline_params);
    reco_popular_params_default(&m->popular_params);
    m->similar_params.min_support = RECO_SIMILAR_MIN_SUPPORT;
    *out = m;
    return RECO_OK;
}

void reco_model_free(reco_model *m)
{
    if (!m)
        return;
    reco_similar_release(m);
    if (m->state)
        m->ops->free_state(m->state);
    if (m->file) {
        /* Arrays point into the mapping: nothing of them to free. */
        memset(&m->baseline, 0, sizeof m->baseline);
        m->popular = NULL;
    }
    reco_baseline_clear(&m->baseline);
    free(m->popular);
    reco_topn_head_clear(&m->popular_top);
    free(m->event_weights);
    free(m->params);
    reco_dataset_free(m->owned_train);
    reco_catalogue_free(m->catalogue);
    reco_mfile_close(m->file);
    free(m);
}

/* The head of the popularity ranking, so that cold-start lists cost no scan
 * of the catalogue. */
static reco_status popular_top_build(reco_model *m, reco_error *err)
{
    if (reco_topn_head_build(&m->popular_top, m->popular, reco_dataset_n_items(m->train),
                             RECO_POPULAR_TOP))
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    return RECO_OK;
}

static size_t popular_list(const reco_model *m, const reco_item_filter *f, size_t n,
                           reco_scored *out)
{
    return reco_topn_head_select_filter(&m->popular_top, m->popular,
                                        reco_dataset_n_items(m->train), f, n, out);
}

reco_status reco_model_set_param(reco_model *m, const char *key, const char *value,
                                 reco_error *err)
{
    if (!strncmp(key, "baseline.", 9)) {
        const char *k = key + 9;
        if (!strcmp(k, "reg_u"))
            return reco_param_double("baseline", k, value, 0, 1e9, &m->baseline_params.reg_u, err);
        if (!strcmp(k, "reg_i"))
            return reco_param_double("baseline", k, value, 0, 1e9, &m->baseline_params.reg_i, err);
        if (!strcmp(k, "epochs"))
            return reco_param_int("baseline", k, value, 1, 1000, &m->baseline_params.epochs, err);
        return reco_param_unknown("baseline", k, err);
    }
    if (!strcmp(key, "similar.min_support")) {
        int v;
        reco_status rc = reco_param_int("similar", "min_support", value, 1, 1 << 30, &v, err);
        if (!rc) {
            m->similar_params.min_support = (uint32_t)v;
            if (m->state)
                rc = reco_similar_prepare(m, err);
        }
        return rc;
    }
    /* The popular algorithm's own parameters are the popularity ranking's:
     * "by" and "popular.by" both set the two copies. */
    bool is_popular = m->ops == &reco_algo_popular;
    const char *pk = !strncmp(key, "popular.", 8) ? key + 8 : is_popular ? key : NULL;
    if (pk) {
        reco_status rc = reco_popular_param_set(&m->popular_params, pk, value, err);
        if (!rc && is_popular)
            rc = m->ops->param_set(m->params, pk, value, err);
        /* The default model's popular candidate ranks as the cold start does. */
        if (!rc && m->ops == &reco_algo_default)
            rc = m->ops->param_set(m->params, key, value, err); /* "popular.KEY" */
        return rc;
    }
    return m->ops->param_set(m->params, key, value, err);
}

reco_status reco_model_set_param_text(reco_model *m, const char *key_value, reco_error *err)
{
    const char *eq = strchr(key_value, '=');
    char key[128];
    if (!eq || eq == key_value)
        return reco_error_set(err, RECO_ERR_INVALID, "parameter \"%s\": expected KEY=VALUE",
                              key_value);
    if ((size_t)(eq - key_value) >= sizeof key)
        return reco_error_set(err, RECO_ERR_INVALID, "parameter \"%s\": the key is too long",
                              key_value);
    memcpy(key, key_value, (size_t)(eq - key_value));
    key[eq - key_value] = '\0';
    /* "mf.factors" on an mf model is its "factors". */
    const char *k = key;
    size_t al = strlen(m->ops->name);
    if (!strncmp(k, m->ops->name, al) && k[al] == '.' && k[al + 1])
        k += al + 1;
    return reco_model_set_param(m, k, eq + 1, err);
}

bool reco_param_is_unknown(const reco_error *err)
{
    return err && err->code == RECO_ERR_INVALID &&
           !strncmp(err->msg, "unknown parameter ", strlen("unknown parameter "));
}

reco_status reco_model_copy_params(reco_model *dst, const reco_model *src, reco_error *err)
{
    if (dst->ops != src->ops || dst->state || dst->file)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "parameters are copied only onto an unfitted %s model",
                              src->ops->name);
    memcpy(dst->params, src->params, src->ops->params_size);
    dst->baseline_params = src->baseline_params;
    dst->popular_params = src->popular_params;
    dst->similar_params = src->similar_params;
    return RECO_OK;
}

reco_status reco_model_fit(reco_model *m, const reco_dataset *train, const reco_fit_ctx *ctx_in,
                           reco_error *err)
{
    reco_fit_ctx ctx = {0};
    if (ctx_in)
        ctx = *ctx_in;
    if (m->file)
        return reco_error_set(err, RECO_ERR_INVALID, "a model loaded from a file cannot be refitted");
    reco_status rc = m->ops->params_check(m->params, err);
    if (rc)
        return rc;
    reco_similar_release(m);
    if (m->state) {
        m->ops->free_state(m->state);
        m->state = NULL;
    }
    reco_baseline_clear(&m->baseline);
    free(m->popular);
    m->popular = NULL;
    double t0 = reco_clock_s();
    m->train = train;
    const reco_csr *R = &train->by_user;
    m->rating_lo = R->nnz ? R->val[0] : 1.0f;
    m->rating_hi = m->rating_lo;
    for (uint64_t k = 0; k < R->nnz; k++) {
        if (R->val[k] < m->rating_lo)
            m->rating_lo = R->val[k];
        if (R->val[k] > m->rating_hi)
            m->rating_hi = R->val[k];
    }
    rc = reco_baseline_fit(&m->baseline_params, train, &m->baseline, err);
    if (rc)
        return rc;
    uint32_t ni = reco_dataset_n_items(train);
    m->popular = malloc(((size_t)ni + 1) * sizeof *m->popular);
    if (!m->popular)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    rc = reco_popular_scores(&m->popular_params, train, m->popular, err);
    if (rc || (rc = popular_top_build(m, err)))
        return rc;
    ctx.baseline = &m->baseline;
    rc = m->ops->fit(m->params, train, &ctx, &m->state, err);
    if (!rc)
        rc = reco_similar_prepare(m, err);
    m->fit_seconds = reco_clock_s() - t0;
    m->trained_at = (int64_t)time(NULL);
    m->train_rmse = NAN;
    return rc;
}

bool reco_model_predicts_ratings(const reco_model *m)
{
    return m->ops->predict && m->ops->predicts_ratings && m->ops->predicts_ratings(m->params);
}

const char *reco_model_score_kind(const reco_model *m, bool cold_start)
{
    if (cold_start)
        return reco_popular_score_kind(&m->popular_params);
    return m->ops->score_kind ? m->ops->score_kind(m->params, m->state) : "relevance";
}

static float clamp_rating(const reco_model *m, float r)
{
    return r < m->rating_lo ? m->rating_lo : r > m->rating_hi ? m->rating_hi : r;
}

static bool has_ratings(const reco_csr *c, uint32_t row)
{
    return row < c->n_rows && reco_csr_row_len(c, row) > 0;
}

static float predict_pair(const reco_model *m, uint32_t u, uint32_t i, bool *by_model)
{
    const reco_dataset *d = m->train;
    bool known_u = has_ratings(&d->by_user, u), known_i = has_ratings(&d->by_item, i);
    float r = NAN;
    if (known_u && known_i && reco_model_predicts_ratings(m))
        r = m->ops->predict(m->state, d, &m->baseline, u, i);
    *by_model = !isnan(r);
    if (isnan(r))
        r = reco_baseline_predict(&m->baseline, known_u ? u : RECO_NO_USER,
                                  known_i ? i : RECO_NO_USER);
    return clamp_rating(m, r);
}

float reco_model_predict(const reco_model *m, uint32_t u, uint32_t i)
{
    bool by_model;
    return predict_pair(m, u, i, &by_model);
}

/* The baseline for a profile: an updated profile (or a user never seen
 * with ratings) gets its user bias re-solved in closed form given the item
 * biases, the baseline's own last ALS step; a training row its bias. */
static float baseline_for_profile(const reco_model *m, const reco_profile *prof, uint32_t i)
{
    const reco_baseline *b = &m->baseline;
    const reco_dataset *d = m->train;
    double r = b->mu + (has_ratings(&d->by_item, i) && i < b->n_items ? b->bi[i] : 0.0);
    if (prof->updated || prof->user == RECO_NO_USER) {
        double sum = 0;
        for (uint32_t k = 0; k < prof->n; k++) {
            uint32_t j = prof->items[k];
            sum += prof->ratings[k] - b->mu - (j < b->n_items ? b->bi[j] : 0.0);
        }
        r += reco_baseline_bias(sum, prof->n, b->reg_u);
    } else if (has_ratings(&d->by_user, prof->user) && prof->user < b->n_users) {
        r += b->bu[prof->user];
    }
    return clamp_rating(m, (float)r);
}

/* Scratch layout: the scores of every item first, then (64-byte aligned)
 * the algorithm's own scratch. */
static size_t scores_bytes(uint32_t n_items)
{
    return (((size_t)n_items + 1) * sizeof(float) + 63) / 64 * 64;
}

/* An updated profile's predictions can be read from score(). */
/* The function that gives rating predictions of every item for a profile:
 * the algorithm's own rating_scores, or its score() when scores are
 * ratings; NULL if neither. */
typedef reco_status (*rating_scores_fn)(const void *, const reco_dataset *, const reco_baseline *,
                                        const reco_profile *, float *, void *, reco_error *);

static rating_scores_fn rating_scores_of(const reco_model *m)
{
    if (m->ops->rating_scores)
        return m->ops->rating_scores;
    return m->ops->scores_are_ratings ? m->ops->score : NULL;
}

/* Lists longer than this are predicted from one score() of the catalogue. */
#define RECO_PREDICT_ITEMS_MAX 1024

/* The algorithm's own predictions of ids[0..n-1] for prof (rating_items:
 * no score of the catalogue), with the caller's scratch or one of its
 * own; false if it has none or they failed, and the catalogue is then
 * scored (the composite forwards to its predictor and fails when that has
 * no rating_items). */
static bool rating_items_of(const reco_model *m, const reco_profile *prof, const uint32_t *ids,
                            size_t n, float *out, void *scratch)
{
    if (!m->ops->rating_items)
        return false;
    void *owned = NULL;
    if (!scratch && !(scratch = owned = malloc(reco_model_scratch_size(m))))
        return false;
    bool ok = m->ops->rating_items(m->state, m->train, &m->baseline, prof, ids, n, out,
                                   (char *)scratch + scores_bytes(reco_dataset_n_items(m->train)),
                                   NULL) == RECO_OK;
    free(owned);
    return ok;
}

static bool scores_give_predictions(const reco_model *m, const reco_profile *prof)
{
    return prof->updated && prof->n > 0 && rating_scores_of(m) && m->state &&
           reco_model_predicts_ratings(m);
}

float reco_model_predict_profile_by(const reco_model *m, const reco_profile *prof, uint32_t i,
                                    void *scratch, bool *by_model)
{
    bool ignored;
    if (!by_model)
        by_model = &ignored;
    *by_model = false;
    if (!reco_model_predicts_ratings(m))
        return baseline_for_profile(m, prof, i);
    const reco_dataset *d = m->train;
    uint32_t ni = reco_dataset_n_items(d);
    if (!scores_give_predictions(m, prof) || !has_ratings(&d->by_item, i))
        return predict_pair(m, prof->user, i, by_model);
    float r = NAN;
    if (rating_items_of(m, prof, &i, 1, &r, scratch) && isfinite(r)) {
        *by_model = true;
        return clamp_rating(m, r);
    }
    void *owned = NULL;
    if (!scratch) {
        scratch = owned = malloc(reco_model_scratch_size(m));
        if (!scratch)
            return predict_pair(m, prof->user, i, by_model);
    }
    float *scores = scratch;
    void *algo_scratch = (char *)scratch + scores_bytes(ni);
    r = NAN;
    if (rating_scores_of(m)(m->state, d, &m->baseline, prof, scores, algo_scratch, NULL) ==
        RECO_OK)
        r = scores[i];
    free(owned);
    if (isnan(r) || isinf(r))
        return predict_pair(m, prof->user, i, by_model);
    *by_model = true;
    return clamp_rating(m, r);
}

float reco_model_predict_profile(const reco_model *m, const reco_profile *prof, uint32_t i,
                                 void *scratch)
{
    return reco_model_predict_profile_by(m, prof, i, scratch, NULL);
}

void reco_model_predict_items(const reco_model *m, const reco_profile *prof,
                              const reco_scored *items, size_t n, float *out, void *scratch)
{
    const reco_dataset *d = m->train;
    uint32_t ni = reco_dataset_n_items(d);
    if (n > 0 && n <= RECO_PREDICT_ITEMS_MAX && scores_give_predictions(m, prof)) {
        /* The algorithm predicts the few items itself (mf: a fold-in and n
         * dot products) rather than scoring the catalogue. */
        uint32_t ids[RECO_PREDICT_ITEMS_MAX];
        for (size_t k = 0; k < n; k++)
            ids[k] = items[k].id;
        if (rating_items_of(m, prof, ids, n, out, scratch)) {
            for (size_t k = 0; k < n; k++) {
                uint32_t i = ids[k];
                bool by_model;
                float r = i < ni && has_ratings(&d->by_item, i) ? out[k] : NAN;
                out[k] = isfinite(r) ? clamp_rating(m, r)
                                     : predict_pair(m, prof->user, i, &by_model);
            }
            return;
        }
    }
    if (n > 1 && scores_give_predictions(m, prof)) {
        /* One score() for the whole list instead of one per item. */
        void *owned = NULL;
        if (!scratch)
            scratch = owned = malloc(reco_model_scratch_size(m));
        float *scores = scratch;
        if (scratch && rating_scores_of(m)(m->state, d, &m->baseline, prof, scores,
                                     (char *)scratch + scores_bytes(ni), NULL) == RECO_OK) {
            for (size_t k = 0; k < n; k++) {
                uint32_t i = items[k].id;
                bool by_model;
                float r = i < ni && has_ratings(&d->by_item, i) ? scores[i] : NAN;
                out[k] = isfinite(r) ? clamp_rating(m, r)
                                     : predict_pair(m, prof->user, i, &by_model);
            }
            free(owned);
            return;
        }
        free(owned);
    }
    for (size_t k = 0; k < n; k++)
        out[k] = reco_model_predict_profile(m, prof, items[k].id, scratch);
}

const struct reco_factor_index *reco_model_topn_index(const reco_model *m)
{
    return m->state && m->ops->topn_index ? m->ops->topn_index(m->state) : NULL;
}

size_t reco_model_scratch_size(const reco_model *m)
{
    size_t n = scores_bytes(reco_dataset_n_items(m->train));
    if (m->ops->scratch_size)
        n += m->ops->scratch_size(m->state, m->train);
    return n;
}

reco_status reco_model_recommend(const reco_model *m, const reco_profile *prof, size_t n,
                                 bool exclude_rated, reco_scored *out, size_t *n_out,
                                 bool *cold_start, void *scratch, reco_error *err)
{
    return reco_model_recommend_filtered(m, prof, n, exclude_rated, NULL, out, n_out, cold_start,
                                         scratch, err);
}

/* The ascending union of two ascending lists into a new array (duplicates
 * kept: the searches only ask whether a product is in it). */
static uint32_t *merge_sorted(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    uint32_t *v = malloc((na + nb) * sizeof *v);
    if (!v)
        return NULL;
    size_t i = 0, j = 0, k = 0;
    while (i < na || j < nb)
        v[k++] = j == nb || (i < na && a[i] <= b[j]) ? a[i++] : b[j++];
    return v;
}

reco_status reco_model_recommend_filtered(const reco_model *m, const reco_profile *prof, size_t n,
                                          bool exclude_rated, const reco_item_filter *rules,
                                          reco_scored *out, size_t *n_out, bool *cold_start,
                                          void *scratch, reco_error *err)
{
    *n_out = 0;
    if (cold_start)
        *cold_start = false;
    if (!m->state)
        return reco_error_set(err, RECO_ERR_INVALID, "the model is not fitted");
    const reco_dataset *d = m->train;
    uint32_t ni = reco_dataset_n_items(d);
    /* The filter the searches apply: the rules, with what the user rated
     * merged into their exclude list. */
    reco_item_filter f = {0};
    if (rules)
        f = *rules;
    uint32_t *merged = NULL;
    if (exclude_rated && prof->n) {
        if (f.n_exclude) {
            merged = merge_sorted(prof->items, prof->n, f.exclude, f.n_exclude);
            if (!merged)
                return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            f.exclude = merged;
            f.n_exclude += prof->n;
        } else {
            f.exclude = prof->items;
            f.n_exclude = prof->n;
        }
    }
    bool known = prof->user != RECO_NO_USER && prof->user < reco_dataset_n_users(d);
    if (!known && prof->n == 0) {
        /* Never seen and nothing rated: the popularity ranking. */
        if (cold_start)
            *cold_start = true;
        *n_out = popular_list(m, &f, n, out);
        free(merged);
        return RECO_OK;
    }
    void *owned = NULL;
    if (!scratch) {
        scratch = owned = malloc(reco_model_scratch_size(m));
        if (!scratch) {
            free(merged);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        }
    }
    float *scores = scratch;
    void *algo_scratch = (char *)scratch + scores_bytes(ni);
    reco_status rc = RECO_OK;
    if (m->ops->recommend) {
        rc = m->ops->recommend(m->state, d, &m->baseline, prof, n, &f, out, n_out, algo_scratch,
                               err);
    } else {
        if (m->ops->score) {
            rc = m->ops->score(m->state, d, &m->baseline, prof, scores, algo_scratch, err);
        } else {
            for (uint32_t i = 0; i < ni; i++)
                scores[i] = known ? reco_model_predict(m, prof->user, i) : m->popular[i];
        }
        if (rc == RECO_OK)
            *n_out = reco_topn_select_filter(scores, ni, &f, n, out);
    }
    free(owned);
    if (rc == RECO_OK && *n_out == 0 && n > 0) {
        /* The algorithm has no opinion about this user (every score is
         * -INFINITY, or its top-N says so), or none about the products the
         * rules admit: the popularity ranking, as for a user never seen,
         * without what the user rated and under the same rules. */
        if (cold_start)
            *cold_start = true;
        *n_out = popular_list(m, &f, n, out);
    }
    free(merged);
    return rc;
}

void reco_model_explain_list(const reco_model *m, const reco_profile *prof,
                             const uint32_t *items, size_t n, size_t max, uint32_t *out,
                             uint32_t *counts)
{
    if (m->state && m->ops->explain_list && prof->n) {
        m->ops->explain_list(m->state, m->train, prof, items, n, max, out, counts);
        return;
    }
    for (size_t j = 0; j < n; j++)
        counts[j] = m->state && m->ops->explain && prof->n
                        ? (uint32_t)m->ops->explain(m->state, m->train, prof, items[j],
                                                    out + j * max, max)
                        : 0;
}

reco_status reco_param_int(const char *algo, const char *key, const char *value, long lo,
                           long hi, int *out, reco_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (!*value || *end || errno || v < lo || v > hi)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.%s wants an integer from %ld to %ld, got \"%s\"", algo, key, lo,
                              hi, value);
    *out = (int)v;
    return RECO_OK;
}

reco_status reco_param_double(const char *algo, const char *key, const char *value, double lo,
                              double hi, double *out, reco_error *err)
{
    char *end;
    errno = 0;
    double v = reco_strtod_c(value, &end);
    if (!*value || *end || errno || !isfinite(v) || v < lo || v > hi)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.%s wants a number from %g to %g, got \"%s\"", algo, key, lo, hi,
                              value);
    *out = v;
    return RECO_OK;
}

reco_status reco_param_u64(const char *algo, const char *key, const char *value, uint64_t *out,
                           reco_error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end || errno)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "%s.%s wants an integer from 0 to %llu, got \"%s\"", algo, key,
                              (unsigned long long)UINT64_MAX, value);
    *out = v;
    return RECO_OK;
}

reco_status reco_param_bool(const char *algo, const char *key, const char *value, bool *out,
                            reco_error *err)
{
    if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes")) {
        *out = true;
        return RECO_OK;
    }
    if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no")) {
        *out = false;
        return RECO_OK;
    }
    return reco_error_set(err, RECO_ERR_INVALID, "%s.%s wants true or false, got \"%s\"", algo,
                          key, value);
}

reco_status reco_param_unknown(const char *algo, const char *key, reco_error *err)
{
    return reco_error_set(err, RECO_ERR_INVALID, "unknown parameter %s.%s", algo, key);
}

typedef struct rmse_job {
    const reco_model *m;
    uint64_t step;
} rmse_job;

/* Squared errors and their count over users [begin, end). */
static void rmse_rows(void *ctx, uint64_t begin, uint64_t end, double *sums)
{
    const rmse_job *j = ctx;
    const reco_csr *R = &j->m->train->by_user;
    for (uint64_t u = begin; u < end; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
            if (k % j->step)
                continue;
            double e = reco_model_predict(j->m, (uint32_t)u, R->idx[k]) - R->val[k];
            sums[0] += e * e;
            sums[1] += 1;
        }
}

double reco_model_train_rmse(const reco_model *m, uint64_t max_ratings)
{
    const reco_csr *R = &m->train->by_user;
    if (R->nnz == 0 || !m->state)
        return NAN;
    rmse_job j = {m, max_ratings && R->nnz > max_ratings ? R->nnz / max_ratings : 1};
    double s[2];
    reco_parallel_sums(R->n_rows, 256, 2, rmse_rows, &j, 0, s);
    return s[1] > 0 ? sqrt(s[0] / s[1]) : NAN;
}

/* ---- model files ---- */

/* Contents versions of the sections written here. */
#define MODEL_FORMAT 1
#define PARAMS_FORMAT 1
#define LOG_POINT_FORMAT 1

void reco_params_save(const reco_param_field *fields, const void *params, const char *prefix,
                      reco_mfile_meta *m)
{
    for (const reco_param_field *f = fields; f->key; f++) {
        char key[RECO_MFILE_META_KEY_MAX + 2];
        snprintf(key, sizeof key, "%s%s", prefix, f->key);
        const char *p = (const char *)params + f->offset;
        switch (f->type) {
        case RECO_PT_INT: {
            int v;
            memcpy(&v, p, sizeof v);
            reco_mfile_meta_put_i64(m, key, v);
            break;
        }
        case RECO_PT_U32: {
            uint32_t v;
            memcpy(&v, p, sizeof v);
            reco_mfile_meta_put_u64(m, key, v);
            break;
        }
        case RECO_PT_U64: {
            uint64_t v;
            memcpy(&v, p, sizeof v);
            reco_mfile_meta_put_u64(m, key, v);
            break;
        }
        case RECO_PT_F64: {
            double v;
            memcpy(&v, p, sizeof v);
            reco_mfile_meta_put_f64(m, key, v);
            break;
        }
        case RECO_PT_BOOL: {
            bool v;
            memcpy(&v, p, sizeof v);
            reco_mfile_meta_put_bool(m, key, v);
            break;
        }
        case RECO_PT_STR:
            reco_mfile_meta_put_str(m, key, p);
            break;
        }
    }
}

/* The size each type of field must have. */
static size_t field_size(reco_param_type t)
{
    switch (t) {
    case RECO_PT_INT:
        return sizeof(int);
    case RECO_PT_U32:
        return sizeof(uint32_t);
    case RECO_PT_U64:
        return sizeof(uint64_t);
    case RECO_PT_F64:
        return sizeof(double);
    case RECO_PT_BOOL:
        return sizeof(bool);
    case RECO_PT_STR:
        return 0;
    }
    return 0;
}

reco_status reco_params_load(const reco_param_field *fields, void *params, const char *prefix,
                             const reco_mfile_meta *m, reco_error *err)
{
    for (const reco_param_field *f = fields; f->key; f++) {
        char key[RECO_MFILE_META_KEY_MAX + 2];
        snprintf(key, sizeof key, "%s%s", prefix, f->key);
        char *p = (char *)params + f->offset;
        if (f->type != RECO_PT_STR && f->size != field_size(f->type))
            return reco_error_set(err, RECO_ERR_INTERNAL, "parameter %s has a size of %zu bytes",
                                  key, f->size);
        reco_status rc = RECO_OK;
        switch (f->type) {
        case RECO_PT_INT: {
            int v = 0;
            if (!(rc = reco_mfile_meta_get_int(m, key, INT_MIN, INT_MAX, &v, err)))
                memcpy(p, &v, sizeof v);
            break;
        }
        case RECO_PT_U32: {
            uint32_t v = 0;
            if (!(rc = reco_mfile_meta_get_u32(m, key, 0, UINT32_MAX, &v, err)))
                memcpy(p, &v, sizeof v);
            break;
        }
        case RECO_PT_U64: {
            uint64_t v = 0;
            if (!(rc = reco_mfile_meta_get_u64(m, key, 0, UINT64_MAX, &v, err)))
                memcpy(p, &v, sizeof v);
            break;
        }
        case RECO_PT_F64: {
            double v = 0;
            if (!(rc = reco_mfile_meta_get_f64(m, key, -INFINITY, INFINITY, &v, err)))
                memcpy(p, &v, sizeof v);
            break;
        }
        case RECO_PT_BOOL: {
            bool v = false;
            if (!(rc = reco_mfile_meta_get_bool(m, key, &v, err)))
                memcpy(p, &v, sizeof v);
            break;
        }
        case RECO_PT_STR:
            rc = reco_mfile_meta_get_strbuf(m, key, p, f->size, err);
            break;
        }
        if (rc)
            return rc;
    }
    return RECO_OK;
}

const reco_param_field reco_similar_param_fields[] = {
    RECO_PARAM_FIELD(reco_similar_params, min_support, RECO_PT_U32),
    {NULL, 0, 0, 0},
};

/* The range similar.min_support is set in (reco_model_set_param). */
static reco_status similar_params_check(const char *path, const reco_similar_params *p,
                                        reco_error *err)
{
    if (p->min_support < 1 || p->min_support > (1u << 30))
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: similar.min_support is %u, outside 1 to %u", path,
                              p->min_support, 1u << 30);
    return RECO_OK;
}

/* Section "log.point": where a ratings log stood when the training data
 * was read (absent: trained without one). */
static reco_status log_point_save(const reco_log_point *lp, reco_mfile_writer *w,
                                  reco_error *err)
{
    reco_mfile_meta *m = reco_mfile_meta_new(LOG_POINT_FORMAT);
    reco_mfile_meta_put_str(m, "id", lp->id);
    reco_mfile_meta_put_u64(m, "offset", lp->offset);
    reco_mfile_meta_put_u64(m, "seq", lp->seq);
    return reco_mfile_add_meta(w, "log.point", m, err);
}

static reco_status log_point_load(const reco_mfile *f, reco_log_point *lp, reco_error *err)
{
    memset(lp, 0, sizeof *lp);
    if (!reco_mfile_section(f, "log.point", NULL))
        return RECO_OK; /* trained without a log */
    reco_mfile_meta *m = NULL;
    const char *id = NULL;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "log.point", LOG_POINT_FORMAT, &m, err)) ||
        (rc = reco_mfile_meta_get_str(m, "id", RECO_LOG_ID_LEN, &id, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "offset", 0, UINT64_MAX, &lp->offset, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "seq", 0, UINT64_MAX, &lp->seq, err))) {
        reco_mfile_meta_free(m);
        return rc;
    }
    bool ok = strlen(id) == RECO_LOG_ID_LEN;
    for (int k = 0; ok && k < RECO_LOG_ID_LEN; k++)
        ok = (id[k] >= '0' && id[k] <= '9') || (id[k] >= 'a' && id[k] <= 'f');
    if (ok)
        memcpy(lp->id, id, RECO_LOG_ID_LEN + 1);
    reco_mfile_meta_free(m);
    if (!ok) {
        memset(lp, 0, sizeof *lp);
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: section \"log.point\": key \"id\" is not a ratings-log id",
                              reco_mfile_path(f));
    }
    return RECO_OK;
}

reco_status reco_model_save(const reco_model *m, const char *path, reco_error *err)
{
    if (!m->state)
        return reco_error_set(err, RECO_ERR_INVALID, "the model is not fitted");
    if (!m->ops->save || !m->ops->param_fields)
        return reco_error_set(err, RECO_ERR_INVALID, "algorithm %s cannot be saved yet",
                              m->ops->name);
    reco_mfile_meta *meta = reco_mfile_meta_new(MODEL_FORMAT);
    reco_mfile_meta_put_str(meta, "algo", m->ops->name);
    reco_mfile_meta_put_f64(meta, "mu", m->baseline.mu);
    reco_mfile_meta_put_f64(meta, "rating_lo", m->rating_lo);
    reco_mfile_meta_put_f64(meta, "rating_hi", m->rating_hi);
    reco_mfile_meta_put_f64(meta, "fit_seconds", m->fit_seconds);
    reco_mfile_meta_put_f64(meta, "train_rmse", m->train_rmse);
    reco_mfile_meta_put_i64(meta, "trained_at", m->trained_at);
    reco_params_save(reco_baseline_param_fields, &m->baseline_params, "baseline.", meta);
    reco_params_save(reco_popular_param_fields, &m->popular_params, "popular.", meta);
    reco_params_save(reco_similar_param_fields, &m->similar_params, "similar.", meta);
    reco_mfile_meta *params = reco_mfile_meta_new(PARAMS_FORMAT);
    reco_params_save(m->ops->param_fields, m->params, "", params);
    const reco_dataset *d = m->train;
    reco_mfile_writer *w = NULL;
    reco_status rc = reco_mfile_create(path, m->ops->name, &w, err);
    if (rc) {
        reco_mfile_meta_free(meta);
        reco_mfile_meta_free(params);
        return rc;
    }
    /* add_meta frees its section, also on error. */
    rc = reco_mfile_add_meta(w, "model.meta", meta, err);
    if (rc)
        reco_mfile_meta_free(params);
    else
        rc = reco_mfile_add_meta(w, "model.params", params, err);
    if (rc || (m->log_point.id[0] && (rc = log_point_save(&m->log_point, w, err))) ||
        (m->catalogue && (rc = reco_catalogue_save(m->catalogue, w, err))) ||
        (m->event_weights && (rc = reco_event_weights_save(m->event_weights, w, err))) ||
        (rc = reco_mfile_add(w, "base.bu", m->baseline.bu,
                             (uint64_t)m->baseline.n_users * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "base.bi", m->baseline.bi,
                             (uint64_t)m->baseline.n_items * sizeof(float), err)) ||
        (rc = reco_mfile_add(w, "pop.scores", m->popular,
                             (uint64_t)reco_dataset_n_items(d) * sizeof(float), err)) ||
        (rc = reco_dataset_save(d, w, err)) ||
        (rc = m->ops->save(m->params, m->state, d, w, err))) {
        reco_mfile_abort(w);
        return rc;
    }
    return reco_mfile_commit(w, err);
}

reco_status reco_model_load(const char *path, reco_model **out, reco_error *err)
{
    return reco_model_load_mode(path, RECO_MFILE_MAP, out, err);
}

reco_status reco_model_load_mode(const char *path, reco_mfile_mode mode, reco_model **out,
                                 reco_error *err)
{
    *out = NULL;
    reco_mfile *f = NULL;
    reco_status rc = reco_mfile_open_mode(path, mode, &f, err);
    if (rc)
        return rc;
    return reco_model_load_mfile(f, out, err);
}

reco_status reco_model_load_mfile(reco_mfile *f, reco_model **out, reco_error *err)
{
    *out = NULL;
    const char *path = reco_mfile_path(f);
    reco_status rc;
    reco_mfile_meta *meta = NULL, *params = NULL;
    const char *algo = NULL;
    if ((rc = reco_mfile_meta_read(f, "model.meta", MODEL_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_str(meta, "algo", 31, &algo, err))) {
        reco_mfile_meta_free(meta);
        reco_mfile_close(f);
        return rc;
    }
    reco_model *m = NULL;
    if ((rc = reco_model_new(algo, &m, err))) {
        reco_mfile_meta_free(meta);
        reco_mfile_close(f);
        return rc;
    }
    m->file = f;
    if (!m->ops->param_fields || !m->ops->load) {
        rc = reco_error_set(err, RECO_ERR_FORMAT, "%s: algorithm %s cannot be loaded", path,
                            algo);
        goto fail;
    }
    /* Parameters: every field read back exactly, then judged as a user's
     * would be. */
    double mu = 0, rating_lo = 0, rating_hi = 0;
    if ((rc = reco_mfile_meta_read(f, "model.params", PARAMS_FORMAT, &params, err)) ||
        (rc = reco_params_load(m->ops->param_fields, m->params, "", params, err)) ||
        (rc = m->ops->params_check(m->params, err)) ||
        (rc = reco_params_load(reco_baseline_param_fields, &m->baseline_params, "baseline.", meta,
                               err)) ||
        (rc = reco_baseline_params_check(&m->baseline_params, err)) ||
        (rc = reco_params_load(reco_popular_param_fields, &m->popular_params, "popular.", meta,
                               err)) ||
        (rc = reco_popular_params_check(&m->popular_params, err)) ||
        (rc = reco_params_load(reco_similar_param_fields, &m->similar_params, "similar.", meta,
                               err)) ||
        (rc = similar_params_check(path, &m->similar_params, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "mu", -FLT_MAX, FLT_MAX, &mu, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "rating_lo", -FLT_MAX, FLT_MAX, &rating_lo, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "rating_hi", rating_lo, FLT_MAX, &rating_hi, err)) ||
        (rc = reco_mfile_meta_get_f64(meta, "fit_seconds", 0, INFINITY, &m->fit_seconds, err)) ||
        (rc = reco_mfile_meta_get_f64_nan(meta, "train_rmse", 0, INFINITY, &m->train_rmse,
                                          err)) ||
        (rc = reco_mfile_meta_get_i64(meta, "trained_at", INT64_MIN, INT64_MAX, &m->trained_at,
                                      err)))
        goto fail;
    m->rating_lo = (float)rating_lo;
    m->rating_hi = (float)rating_hi;
    if ((rc = reco_dataset_from_mfile(f, &m->owned_train, err)))
        goto fail;
    m->train = m->owned_train;
    uint32_t nu = reco_dataset_n_users(m->train), ni = reco_dataset_n_items(m->train);
    const void *bu, *bi, *pop;
    if ((rc = reco_mfile_array(f, "base.bu", nu, sizeof(float), &bu, err)) ||
        (rc = reco_mfile_array(f, "base.bi", ni, sizeof(float), &bi, err)) ||
        (rc = reco_mfile_array(f, "pop.scores", ni, sizeof(float), &pop, err)))
        goto fail;
    m->baseline.mu = mu;
    m->baseline.reg_u = m->baseline_params.reg_u;
    m->baseline.n_users = nu;
    m->baseline.n_items = ni;
    m->baseline.bu = (float *)bu;
    m->baseline.bi = (float *)bi;
    m->popular = (float *)pop;
    if ((rc = popular_top_build(m, err)) || (rc = log_point_load(f, &m->log_point, err)) ||
        (reco_catalogue_in_mfile(f) && (rc = reco_catalogue_from_mfile(f, &m->catalogue, err))) ||
        (rc = reco_event_weights_load(f, &m->event_weights, err)) ||
        (rc = m->ops->load(m->params, f, m->train, &m->state, err)) ||
        (rc = reco_similar_prepare(m, err)))
        goto fail;
    reco_mfile_meta_free(meta);
    reco_mfile_meta_free(params);
    *out = m;
    return RECO_OK;
fail:
    reco_mfile_meta_free(meta);
    reco_mfile_meta_free(params);
    reco_model_free(m);
    return rc;
}
