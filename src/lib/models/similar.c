/* Similar products for every model: the chain co_rated -> factors ->
 * co_customers -> popular (include/reco/model.h documents it).
 *
 * Guarantees: a list never holds the query product nor a product twice;
 * it is filled in chain order and is full unless the catalogue has fewer
 * rated products; calls only read the model (thread-safe, each thread with
 * its own scratch). Cost per call: a walk over the query product's raters
 * and their rows (at most SIMILAR_WORK_MAX entries, sampled beyond it), a
 * search of the cosine index (factors.h: an 8-bit pass over the vectors
 * of the products with enough ratings, exact cosines for the few that can
 * enter; built on the first such search) when the model has factors and
 * the lists before them leave room,
 * and a read of the popularity head. No per-call allocation proportional
 * to the catalogue when the caller passes a scratch. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "factors.h"
#include "reco/knn.h"
#include "reco/model.h"
#include "similar.h"

/* The most rating entries one walk reads (the rows of the query product's
 * raters): about 10 ms on one core. A product whose raters' rows add up to
 * more is walked over every s-th rater, s the smallest stride that keeps
 * under it, so its co-rating cosines and counts are then estimates from a
 * sample of its raters. The heaviest product of the full-size synthetic
 * Electronics file needs 63,000 entries (the mean is 94), that of
 * MovieLens 100K 82,000: neither comes near. */
#define SIMILAR_WORK_MAX 4000000ull

static const char *const SOURCE_NAMES[RECO_SIMILAR_SOURCES] = {"co_rated", "factors",
                                                                "co_customers", "popular"};

const char *reco_similar_source_name(reco_similar_source s)
{
    return (unsigned)s < RECO_SIMILAR_SOURCES ? SOURCE_NAMES[s] : "unknown";
}

/* The model's own co-rated list (itemcf, ease), if it has one. */
static const char *own_co_rated_kind(const reco_model *m)
{
    const reco_algo_ops *o = m->ops;
    if (!m->state || !o->co_rated || !o->co_rated_kind)
        return NULL;
    return o->co_rated_kind(m->state);
}

static bool factors_of(const reco_model *m, reco_item_factors *f)
{
    return m->state && m->ops->item_factors && m->ops->item_factors(m->state, f);
}

reco_status reco_similar_prepare(reco_model *m, reco_error *err)
{
    (void)err;
    reco_similar_release(m);
    return RECO_OK;
}

/* One lock for every model's first build: builds are rare (once per model
 * that is asked for similar products) and a lock per model would have to
 * live in the public struct. */
static pthread_mutex_t index_build_lock = PTHREAD_MUTEX_INITIALIZER;

/* The cosine index of a model with factors, built on first use: building
 * it takes 0.1 to 0.6 s on a full-size model, which would put a model
 * load far past its 200 ms budget for something many deployments never
 * ask for. The first call builds it (concurrent first calls wait for that
 * one build); later calls only load the published pointer. The model is
 * otherwise read-only here: the index is a cache, released with it. */
static const reco_cosine_index *similar_index(const reco_model *m, const reco_item_factors *f,
                                              reco_error *err)
{
    reco_model *mm = (reco_model *)m; /* the cache field only */
    reco_cosine_index *ix = __atomic_load_n(&mm->similar_index, __ATOMIC_ACQUIRE);
    if (ix)
        return ix;
    pthread_mutex_lock(&index_build_lock);
    ix = __atomic_load_n(&mm->similar_index, __ATOMIC_ACQUIRE);
    if (!ix) {
        ix = calloc(1, sizeof *ix);
        if (!ix) {
            reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the similarity index");
        } else if (reco_cosine_index_build(ix, f, &m->train->by_item,
                                           m->similar_params.min_support, err)) {
            free(ix);
            ix = NULL;
        } else {
            __atomic_store_n(&mm->similar_index, ix, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&index_build_lock);
    return ix;
}

void reco_similar_release(reco_model *m)
{
    reco_cosine_index_clear(m->similar_index);
    free(m->similar_index);
    m->similar_index = NULL;
}

reco_status reco_model_prepare_similar(const reco_model *m, reco_error *err)
{
    reco_item_factors f;
    if (!factors_of(m, &f))
        return RECO_OK;
    return similar_index(m, &f, err) ? RECO_OK : RECO_ERR_NOMEM;
}

size_t reco_model_similar_chain(const reco_model *m, reco_similar_source *out)
{
    reco_item_factors f;
    size_t n = 0;
    out[n++] = RECO_SIMILAR_CO_RATED;
    if (factors_of(m, &f))
        out[n++] = RECO_SIMILAR_FACTORS;
    out[n++] = RECO_SIMILAR_CO_CUSTOMERS;
    out[n++] = RECO_SIMILAR_POPULAR;
    return n;
}

static bool in_chain(const reco_model *m, reco_similar_source s)
{
    reco_similar_source c[RECO_SIMILAR_SOURCES];
    size_t n = reco_model_similar_chain(m, c);
    for (size_t k = 0; k < n; k++)
        if (c[k] == s)
            return true;
    return false;
}

const char *reco_model_similar_score_kind(const reco_model *m, reco_similar_source s)
{
    if (!in_chain(m, s))
        return NULL;
    switch (s) {
    case RECO_SIMILAR_CO_RATED: {
        const char *k = own_co_rated_kind(m);
        return k ? k : "co_rating_cosine";
    }
    case RECO_SIMILAR_FACTORS: return "factor_cosine";
    case RECO_SIMILAR_CO_CUSTOMERS: return "co_customer_share";
    case RECO_SIMILAR_POPULAR: return reco_popular_score_kind(&m->popular_params);
    default: return NULL;
    }
}

/* ---- the walk over the query product's raters ---- */

/* Running sums against product j, as itemcf's table build keeps them:
 * {sum a*b, sum a*a, sum b*b, common raters} of the centred ratings. */
typedef float sim_acc __attribute__((vector_size(16)));

typedef struct walk {
    sim_acc *acc;       /* n_items entries, zero except at touched ones */
    uint32_t *touched;  /* the products met, in order of first meeting */
    uint32_t n_touched;
    uint32_t raters;    /* raters of the query product walked */
    bool done;
} walk;

size_t reco_model_similar_scratch_size(const reco_model *m)
{
    size_t ni = (size_t)reco_dataset_n_items(m->train) + 1;
    return ni * sizeof(sim_acc) + ni * sizeof(uint32_t);
}

static void walk_init(walk *w, const reco_model *m, void *scratch)
{
    size_t ni = (size_t)reco_dataset_n_items(m->train) + 1;
    w->acc = scratch;
    w->touched = (uint32_t *)((char *)scratch + ni * sizeof(sim_acc));
    w->n_touched = 0;
    w->raters = 0;
    w->done = false;
}

/* Accumulates the co-ratings of product i with every product its raters
 * rated, centred on each rater's mean rating (itemcf's default). */
static void walk_run(walk *w, const reco_model *m, uint32_t i, bool centered)
{
    if (w->done)
        return;
    w->done = true;
    const reco_csr *R = &m->train->by_user, *C = &m->train->by_item;
    uint64_t work = 0;
    for (uint64_t ku = C->ptr[i]; ku < C->ptr[i + 1]; ku++) {
        uint32_t u = C->idx[ku];
        work += R->ptr[u + 1] - R->ptr[u];
    }
    uint64_t stride = work > SIMILAR_WORK_MAX ? (work + SIMILAR_WORK_MAX - 1) / SIMILAR_WORK_MAX : 1;
    for (uint64_t ku = C->ptr[i]; ku < C->ptr[i + 1]; ku += stride) {
        uint32_t u = C->idx[ku];
        const uint32_t *js = R->idx + R->ptr[u];
        const float *vs = R->val + R->ptr[u];
        uint32_t len = (uint32_t)(R->ptr[u + 1] - R->ptr[u]);
        float mean = 0;
        if (centered && len) {
            double s = 0;
            for (uint32_t x = 0; x < len; x++)
                s += vs[x];
            mean = (float)(s / len);
        }
        float a = C->val[ku] - mean, aa = a * a;
        for (uint32_t x = 0; x < len; x++) {
            uint32_t j = js[x];
            if (j == i)
                continue;
            if (w->acc[j][3] == 0)
                w->touched[w->n_touched++] = j;
            float b = vs[x] - mean;
            w->acc[j] += (sim_acc){a * b, aa, b * b, 1.0f};
        }
        w->raters++;
    }
}

/* Leaves the scratch all zero again. */
static void walk_reset(walk *w)
{
    for (uint32_t t = 0; t < w->n_touched; t++) {
        w->acc[w->touched[t]] = (sim_acc){0};
        w->touched[t] = 0;
    }
    w->n_touched = 0;
}

/* ---- the sources, one at a time ---- */

/* Up to k products of source s for product i that rules admits (NULL:
 * all), best first, never i, into buf; popular leaves out ex[0..nex)
 * (ascending, with rules' own exclude list merged in), the others may list
 * them. */
static reco_status source_list(const reco_model *m, reco_similar_source s, uint32_t i, size_t k,
                               const reco_item_filter *rules, const uint32_t *ex, size_t nex,
                               walk *w, reco_scored *buf, size_t *n_buf, reco_error *err)
{
    *n_buf = 0;
    const reco_dataset *d = m->train;
    const reco_csr *C = &d->by_item;
    reco_knn_params kp;
    reco_itemcf_params_default(&kp);
    reco_topn_heap h;
    switch (s) {
    case RECO_SIMILAR_CO_RATED:
        if (own_co_rated_kind(m))
            return m->ops->co_rated(m->state, d, i, k, rules, buf, n_buf, err);
        walk_run(w, m, i, kp.centered);
        reco_topn_init(&h, buf, k);
        for (uint32_t t = 0; t < w->n_touched; t++) {
            sim_acc e = w->acc[w->touched[t]];
            float sim = reco_knn_sim_finish(e[0], e[1], e[2], (uint32_t)e[3], &kp);
            if (sim > 0 && reco_item_filter_admits(rules, w->touched[t]))
                reco_topn_push(&h, w->touched[t], sim);
        }
        *n_buf = reco_topn_finish(&h);
        return RECO_OK;
    case RECO_SIMILAR_FACTORS: {
        reco_item_factors f;
        if (!factors_of(m, &f))
            return RECO_OK;
        const reco_cosine_index *ix = similar_index(m, &f, err);
        if (!ix)
            return RECO_ERR_NOMEM;
        return reco_cosine_index_topn(ix, &f, i, k, rules, buf, n_buf, err);
    }
    case RECO_SIMILAR_CO_CUSTOMERS: {
        walk_run(w, m, i, kp.centered);
        /* By common raters; ties by the product's own ratings, folded in
         * as a fraction below 1. */
        reco_topn_init(&h, buf, k);
        for (uint32_t t = 0; t < w->n_touched; t++) {
            uint32_t j = w->touched[t];
            if (!reco_item_filter_admits(rules, j))
                continue;
            float support = (float)(C->ptr[j + 1] - C->ptr[j]);
            reco_topn_push(&h, j, w->acc[j][3] + support / (support + 1.0f));
        }
        *n_buf = reco_topn_finish(&h);
        for (size_t x = 0; x < *n_buf; x++)
            buf[x].score = w->acc[buf[x].id][3] / (float)(w->raters ? w->raters : 1);
        return RECO_OK;
    }
    case RECO_SIMILAR_POPULAR: {
        reco_item_filter pf = rules ? *rules : (reco_item_filter){0};
        pf.exclude = ex;
        pf.n_exclude = nex;
        pf.max_per_category = 0;
        *n_buf = reco_topn_head_select_filter(&m->popular_top, m->popular,
                                              reco_dataset_n_items(d), &pf, k, buf);
        return RECO_OK;
    }
    default:
        return RECO_OK;
    }
}

static void sorted_insert(uint32_t *a, size_t *n, uint32_t x)
{
    size_t p = *n;
    while (p > 0 && a[p - 1] > x) {
        a[p] = a[p - 1];
        p--;
    }
    a[p] = x;
    (*n)++;
}

typedef struct call_mem {
    void *owned_scratch;
    reco_scored *buf;
    uint32_t *ex;
} call_mem;

static reco_status call_begin(const reco_model *m, uint32_t i, size_t n, size_t n_extra,
                              void **scratch, call_mem *mem, reco_error *err)
{
    memset(mem, 0, sizeof *mem);
    if (!m->state)
        return reco_error_set(err, RECO_ERR_INVALID, "the model is not fitted");
    if (i >= reco_dataset_n_items(m->train))
        return reco_error_set(err, RECO_ERR_NOT_FOUND, "unknown product");
    if (!*scratch)
        *scratch = mem->owned_scratch = calloc(1, reco_model_similar_scratch_size(m));
    mem->buf = malloc((n + 1) * sizeof *mem->buf);
    mem->ex = malloc((n + n_extra + 2) * sizeof *mem->ex);
    if (!*scratch || !mem->buf || !mem->ex) {
        free(mem->owned_scratch);
        free(mem->buf);
        free(mem->ex);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    return RECO_OK;
}

static void call_end(walk *w, call_mem *mem)
{
    walk_reset(w);
    free(mem->owned_scratch);
    free(mem->buf);
    free(mem->ex);
}

reco_status reco_model_similar(const reco_model *m, uint32_t i, size_t n, reco_similar *out,
                               size_t *n_out, void *scratch, reco_error *err)
{
    return reco_model_similar_filtered(m, i, n, NULL, out, n_out, scratch, err);
}

reco_status reco_model_similar_filtered(const reco_model *m, uint32_t i, size_t n,
                                        const reco_item_filter *rules, reco_similar *out,
                                        size_t *n_out, void *scratch, reco_error *err)
{
    *n_out = 0;
    if (reco_item_filter_is_empty(rules))
        rules = NULL;
    const size_t n_rex = rules ? rules->n_exclude : 0;
    call_mem mem;
    reco_status rc = call_begin(m, i, n, n_rex, &scratch, &mem, err);
    if (rc || n == 0) {
        if (!rc)
            call_end(&(walk){0}, &mem);
        return rc;
    }
    walk w;
    walk_init(&w, m, scratch);
    /* ex: the products listed so far, i and the rules' exclude list,
     * ascending. */
    size_t nex = 0, got = 0;
    for (size_t t = 0; t < n_rex; t++)
        mem.ex[nex++] = rules->exclude[t];
    if (!reco_sorted_contains(mem.ex, nex, i))
        sorted_insert(mem.ex, &nex, i);
    reco_similar_source chain[RECO_SIMILAR_SOURCES];
    size_t nc = reco_model_similar_chain(m, chain);
    for (size_t c = 0; c < nc && got < n && rc == RECO_OK; c++) {
        size_t nb = 0;
        /* Asking for n leaves at least n - got products not listed yet. */
        rc = source_list(m, chain[c], i, n, rules, mem.ex, nex, &w, mem.buf, &nb, err);
        for (size_t x = 0; x < nb && got < n && rc == RECO_OK; x++) {
            uint32_t j = mem.buf[x].id;
            if (reco_sorted_contains(mem.ex, nex, j))
                continue;
            out[got++] = (reco_similar){j, mem.buf[x].score, chain[c]};
            sorted_insert(mem.ex, &nex, j);
        }
    }
    call_end(&w, &mem);
    if (rc)
        return rc;
    *n_out = got;
    return RECO_OK;
}

reco_status reco_model_similar_source(const reco_model *m, reco_similar_source source, uint32_t i,
                                      size_t n, reco_scored *out, size_t *n_out, void *scratch,
                                      reco_error *err)
{
    *n_out = 0;
    call_mem mem;
    reco_status rc = call_begin(m, i, n, 0, &scratch, &mem, err);
    if (rc)
        return rc;
    walk w;
    walk_init(&w, m, scratch);
    if (!in_chain(m, source))
        rc = reco_error_set(err, RECO_ERR_INVALID, "algorithm %s has no %s source of similar "
                            "products", m->ops->name, reco_similar_source_name(source));
    else
        rc = source_list(m, source, i, n, NULL, &i, 1, &w, out, n_out, err);
    call_end(&w, &mem);
    return rc;
}
