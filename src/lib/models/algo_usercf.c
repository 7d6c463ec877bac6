/* "usercf": user-based k-nearest neighbours. Neighbours are found on demand
 * through the product -> users index, never from a users x users matrix,
 * so memory stays proportional to the ratings even with millions of users.
 *
 * One recommendation: walk the raters of every product the user rated
 * (rarest products first), accumulating the co-rated sums per candidate
 * user in an open-addressing map that lives in the caller's scratch; keep
 * the k most similar; aggregate their ratings over products. The map holds
 * at most `candidates` users: once it is full, users not yet in it are
 * skipped while those in it keep accumulating, so the similarities it
 * computes are exact and only the candidate set is approximate (users met
 * only through the profile's most popular products may be missed).
 *
 * A profile's own training row (prof->user) is never its neighbour, also
 * when the profile holds newer ratings of that user. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reco/knn.h"

typedef struct usercf_state {
    reco_knn_params params;
    float *mean;      /* n_users mean ratings (centred only) */
    float *cval_item; /* by_item order: rating minus its user's mean (centred only) */
    bool mapped;      /* arrays live in a model file mapping */
} usercf_state;

static void ucf_default(void *p) { reco_usercf_params_default(p); }

static reco_status ucf_set(void *p, const char *key, const char *value, reco_error *err)
{
    return reco_knn_param_set(p, "usercf", key, value, err);
}

static reco_status ucf_check(const void *p, reco_error *err)
{
    return reco_knn_params_check(p, "usercf", err);
}

static void ucf_format(const void *p, char *buf, size_t cap)
{
    reco_knn_params_format(p, "usercf", buf, cap);
}

static void ucf_free(void *s)
{
    usercf_state *st = s;
    if (!st)
        return;
    if (!st->mapped) {
        free(st->mean);
        free(st->cval_item);
    }
    free(st);
}

/* The centred values are stored rather than recomputed so that loading a
 * model stays a mapping, not a pass over every rating. */
static reco_status ucf_save(const void *params, const void *s, const reco_dataset *train,
                            reco_mfile_writer *w, reco_error *err)
{
    (void)params;
    const usercf_state *st = s;
    if (!st->mean)
        return RECO_OK;
    reco_status rc = reco_mfile_add(w, "usercf.mean", st->mean,
                                    (uint64_t)reco_dataset_n_users(train) * sizeof(float), err);
    return rc ? rc : reco_mfile_add(w, "usercf.cval", st->cval_item,
                                    train->by_item.nnz * sizeof(float), err);
}

static reco_status ucf_load(const void *params, const reco_mfile *f, const reco_dataset *train,
                            void **state, reco_error *err)
{
    const reco_knn_params *p = params;
    usercf_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *p;
    st->mapped = true;
    if (p->centered) {
        const void *mean, *cval;
        reco_status rc;
        if ((rc = reco_mfile_array(f, "usercf.mean", reco_dataset_n_users(train), sizeof(float),
                                   &mean, err)) ||
            (rc = reco_mfile_array(f, "usercf.cval", train->by_item.nnz, sizeof(float), &cval,
                                   err))) {
            free(st);
            return rc;
        }
        st->mean = (float *)mean;
        st->cval_item = (float *)cval;
    }
    *state = st;
    return RECO_OK;
}

static reco_status ucf_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                           void **state, reco_error *err)
{
    const reco_knn_params *p = pp;
    usercf_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    st->params = *p;
    if (p->centered) {
        const reco_csr *C = &train->by_item;
        int threads = p->threads ? p->threads : ctx ? ctx->threads : 0;
        st->mean = malloc(((size_t)reco_dataset_n_users(train) + 1) * sizeof *st->mean);
        st->cval_item = malloc((C->nnz + 1) * sizeof *st->cval_item);
        if (!st->mean || !st->cval_item) {
            ucf_free(st);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for usercf user means");
        }
        reco_knn_user_means(train, threads, st->mean);
        /* Precomputed so that walking a popular product's raters reads one
         * sequential array instead of a random mean[] lookup per rater. */
        for (uint64_t k = 0; k < C->nnz; k++)
            st->cval_item[k] = C->val[k] - st->mean[C->idx[k]];
    }
    *state = st;
    return RECO_OK;
}

/* ---- the scratch of one recommendation ---- */

/* One candidate's co-rated sums {dot, saa, sbb, n} as one 16-byte vector
 * (GCC/Clang vector extension): an update is one load, one add and one
 * store, which matters most under AddressSanitizer (one checked access
 * instead of eight). n is exact in float up to 2^24 common products. */
typedef float cand_sums __attribute__((vector_size(16)));

typedef struct ucf_scratch {
    float *den;        /* n_items */
    uint32_t *keys;    /* cap slots: user index or EMPTY */
    cand_sums *sums;   /* cap slots */
    uint32_t *used;    /* candidates: occupied slots in insertion order */
    reco_scored *nbrs; /* k */
    uint32_t cap;      /* power of two >= 2 * candidates */
} ucf_scratch;

#define EMPTY UINT32_MAX

/* Open addressing with linear probing; keys are user indices. */
typedef struct umap {
    uint32_t *keys; /* mask + 1 slots, EMPTY when free */
    cand_sums *sums;
    uint32_t mask;
} umap;

/* The slot of v: where it is, or the free slot where it would go. */
static inline uint32_t umap_slot(const umap *m, uint32_t v)
{
    uint32_t h = (v * 2654435761u) & m->mask;
    while (m->keys[h] != v && m->keys[h] != EMPTY)
        h = (h + 1) & m->mask;
    return h;
}

static inline void add_pair(cand_sums *e, float a, float aa, float b)
{
    *e += (cand_sums){a * b, aa, b * b, 1.0f};
}

static inline float sums_sim(cand_sums e, const reco_knn_params *p)
{
    return reco_knn_sim_finish(e[0], e[1], e[2], (uint32_t)e[3], p);
}

/* Predicting needs the similarity of u to the raters of i only. Walk the
 * raters of u's products, accumulating the co-rated sums per user: into a
 * dense users-long array when clearing it costs less than the walk (no
 * hashing, no branch; distinct users never share an accumulator, so the
 * adds do not queue behind each other), else into a map holding just the
 * raters of i (2 x their count slots), skipping everybody else. Both beat
 * merging u's row with each rater's row (2-3x more steps on MovieLens,
 * each a hard-to-predict branch). Allocates per call: predict has no
 * scratch. */
static float ucf_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                         uint32_t u, uint32_t i)
{
    const usercf_state *st = s;
    const reco_knn_params *p = &st->params;
    const reco_csr *R = &train->by_user, *C = &train->by_item;
    const uint32_t n_users = R->n_rows, n_col = reco_csr_row_len(C, i);
    const uint64_t col0 = C->ptr[i];
    uint64_t work = 0;
    for (uint64_t x = R->ptr[u]; x < R->ptr[u + 1]; x++)
        work += reco_csr_row_len(C, R->idx[x]);
    const bool dense = n_users <= 4 * work;
    uint32_t cap = 16;
    while (!dense && cap < 2 * n_col)
        cap *= 2;
    uint32_t *keys = NULL;
    cand_sums *sums = calloc(dense ? n_users : cap, sizeof *sums);
    if (!dense && sums && (keys = malloc((size_t)cap * sizeof *keys)))
        memset(keys, 0xff, (size_t)cap * sizeof *keys);
    if (!sums || (!dense && !keys)) {
        free(keys);
        free(sums);
        return NAN; /* the baseline answers */
    }
    umap m = {keys, sums, cap - 1};
    if (!dense)
        for (uint64_t k = col0; k < col0 + n_col; k++)
            keys[umap_slot(&m, C->idx[k])] = C->idx[k];
    const float *cval = st->cval_item ? st->cval_item : C->val;
    float cu = st->mean ? st->mean[u] : 0.0f;
    for (uint64_t x = R->ptr[u]; x < R->ptr[u + 1]; x++) {
        uint32_t j = R->idx[x];
        float a = R->val[x] - cu, aa = a * a;
        const uint32_t *vs = C->idx + C->ptr[j];
        const float *bs = cval + C->ptr[j];
        uint32_t len = reco_csr_row_len(C, j);
        if (dense) {
            for (uint32_t y = 0; y < len; y++)
                add_pair(&sums[vs[y]], a, aa, bs[y]);
        } else {
            for (uint32_t y = 0; y < len; y++) {
                uint32_t h = umap_slot(&m, vs[y]);
                if (keys[h] != EMPTY)
                    add_pair(&sums[h], a, aa, bs[y]);
            }
        }
    }
    reco_scored heap[RECO_KNN_K_MAX];
    reco_topn_heap hp;
    reco_topn_init(&hp, heap, (size_t)p->k);
    /* ids are positions in i's column, which is sorted by user, so ties go
     * to the lower user index. */
    for (uint32_t x = 0; x < n_col; x++) {
        uint32_t v = C->idx[col0 + x];
        if (v == u)
            continue;
        float sim = sums_sim(sums[dense ? v : umap_slot(&m, v)], p);
        if (sim > 0)
            reco_topn_push(&hp, x, sim);
    }
    free(keys);
    free(sums);
    size_t n = reco_topn_finish(&hp);
    double num = 0, den = 0;
    for (size_t x = 0; x < n; x++) {
        uint64_t k = col0 + heap[x].id;
        num += heap[x].score * (C->val[k] - reco_baseline_predict(base, C->idx[k], i));
        den += heap[x].score;
    }
    if (!(den > 0))
        return NAN;
    return (float)(reco_baseline_predict(base, u, i) + num / den);
}

static uint32_t map_cap(const reco_knn_params *p)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)p->candidates)
        cap *= 2;
    return cap;
}

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

static size_t ucf_scratch_size(const void *s, const reco_dataset *train)
{
    const reco_knn_params *p = &((const usercf_state *)s)->params;
    size_t cap = map_cap(p);
    /* 64 spare bytes: carve() aligns the start, the sums need 16. */
    return 64 + align64(((size_t)reco_dataset_n_items(train) + 1) * sizeof(float)) +
           align64(cap * sizeof(uint32_t)) + align64(cap * sizeof(cand_sums)) +
           align64((size_t)p->candidates * sizeof(uint32_t)) +
           align64((size_t)p->k * sizeof(reco_scored));
}

static ucf_scratch carve(const usercf_state *st, const reco_dataset *train, void *scratch)
{
    const reco_knn_params *p = &st->params;
    ucf_scratch sc;
    char *c = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    sc.cap = map_cap(p);
    sc.den = (float *)c;
    c += align64(((size_t)reco_dataset_n_items(train) + 1) * sizeof(float));
    sc.keys = (uint32_t *)c;
    c += align64(sc.cap * sizeof(uint32_t));
    sc.sums = (cand_sums *)c;
    c += align64(sc.cap * sizeof(cand_sums));
    sc.used = (uint32_t *)c;
    c += align64((size_t)p->candidates * sizeof(uint32_t));
    sc.nbrs = (reco_scored *)c;
    return sc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The k users most similar to prof into sc->nbrs (best first; id = user,
 * score = similarity > 0); *n_out their count. */
static reco_status find_neighbours(const usercf_state *st, const reco_dataset *train,
                                   const reco_profile *prof, ucf_scratch *sc, size_t *n_out,
                                   reco_error *err)
{
    const reco_knn_params *p = &st->params;
    const reco_csr *C = &train->by_item;
    uint32_t ni = C->n_rows;
    *n_out = 0;
    double mean = 0;
    uint32_t n_known = 0;
    for (uint32_t x = 0; x < prof->n; x++)
        if (prof->items[x] < ni) {
            mean += prof->ratings[x];
            n_known++;
        }
    if (n_known == 0)
        return RECO_OK;
    mean = p->centered ? mean / n_known : 0;
    /* Rarest products first: their raters are the most telling candidates
     * and fill the map before the crowd behind a best-seller does. Key:
     * rater count, then position (so ties keep product order). */
    uint64_t *ord = malloc((size_t)n_known * sizeof *ord);
    if (!ord)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    uint32_t no = 0;
    for (uint32_t x = 0; x < prof->n; x++)
        if (prof->items[x] < ni)
            ord[no++] = (uint64_t)reco_csr_row_len(C, prof->items[x]) << 32 | x;
    qsort(ord, no, sizeof *ord, cmp_u64);

    memset(sc->keys, 0xff, (size_t)sc->cap * sizeof *sc->keys);
    const umap m = {sc->keys, sc->sums, sc->cap - 1};
    const uint32_t max_c = (uint32_t)p->candidates;
    uint32_t nc = 0;
    const float *cval = st->cval_item ? st->cval_item : C->val;
    for (uint32_t o = 0; o < no; o++) {
        uint32_t x = (uint32_t)ord[o];
        uint32_t j = prof->items[x];
        float a = (float)(prof->ratings[x] - mean), aa = a * a;
        for (uint64_t k = C->ptr[j]; k < C->ptr[j + 1]; k++) {
            uint32_t v = C->idx[k];
            if (v == prof->user)
                continue;
            uint32_t h = umap_slot(&m, v);
            if (sc->keys[h] == EMPTY) {
                if (nc == max_c)
                    continue;
                sc->keys[h] = v;
                sc->used[nc++] = h;
                sc->sums[h] = (cand_sums){0};
            }
            add_pair(&sc->sums[h], a, aa, cval[k]);
        }
    }
    free(ord);
    reco_topn_heap hp;
    reco_topn_init(&hp, sc->nbrs, (size_t)p->k);
    for (uint32_t c = 0; c < nc; c++) {
        float s = sums_sim(sc->sums[sc->used[c]], p);
        if (s > 0)
            reco_topn_push(&hp, sc->keys[sc->used[c]], s);
    }
    *n_out = reco_topn_finish(&hp);
    return RECO_OK;
}

static reco_status ucf_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                             const reco_profile *prof, float *scores, void *scratch,
                             reco_error *err)
{
    const usercf_state *st = s;
    const reco_csr *R = &train->by_user;
    uint32_t ni = reco_dataset_n_items(train);
    ucf_scratch sc = carve(st, train, scratch);
    size_t nn;
    reco_status rc = find_neighbours(st, train, prof, &sc, &nn, err);
    if (rc)
        return rc;
    memset(scores, 0, (size_t)ni * sizeof *scores);
    memset(sc.den, 0, (size_t)ni * sizeof *sc.den);
    for (size_t x = 0; x < nn; x++) {
        uint32_t v = sc.nbrs[x].id;
        float sim = sc.nbrs[x].score;
        for (uint64_t k = R->ptr[v]; k < R->ptr[v + 1]; k++) {
            uint32_t t = R->idx[k];
            scores[t] += sim * R->val[k];
            sc.den[t] += sim;
        }
    }
    reco_knn_rank_finish(train, base, scores, sc.den);
    return RECO_OK;
}

/* The rated products shared with the neighbours who rated i, weighted by
 * those neighbours' similarity: for each of the n items of a list, with
 * the neighbours found once for the whole list (the search is the cost:
 * once per item it made a list of 1,000 cost seconds at full size). */
static void ucf_explain_list(const void *s, const reco_dataset *train, const reco_profile *prof,
                             const uint32_t *items, size_t n_items, size_t max, uint32_t *out,
                             uint32_t *counts)
{
    const usercf_state *st = s;
    const reco_csr *R = &train->by_user;
    memset(counts, 0, n_items * sizeof *counts);
    if (max == 0 || prof->n == 0 || n_items == 0)
        return;
    void *scratch = malloc(ucf_scratch_size(st, train));
    float *weight = malloc(prof->n * sizeof *weight);
    reco_scored *buf = malloc(max * sizeof *buf);
    ucf_scratch sc;
    size_t nn = 0;
    if (scratch && weight && buf) {
        sc = carve(st, train, scratch);
        if (find_neighbours(st, train, prof, &sc, &nn, NULL))
            nn = 0;
    }
    for (size_t t = 0; t < n_items && nn; t++) {
        uint32_t i = items[t];
        if (i >= reco_dataset_n_items(train))
            continue;
        memset(weight, 0, prof->n * sizeof *weight);
        for (size_t x = 0; x < nn; x++) {
            uint32_t v = sc.nbrs[x].id;
            if (reco_csr_find(R, v, i) < 0)
                continue;
            /* Merge v's row with the profile: the products they share. */
            uint64_t k = R->ptr[v], end = R->ptr[v + 1];
            for (uint32_t y = 0; y < prof->n && k < end; y++) {
                while (k < end && R->idx[k] < prof->items[y])
                    k++;
                if (k < end && R->idx[k] == prof->items[y])
                    weight[y] += sc.nbrs[x].score;
            }
        }
        reco_topn_heap h;
        reco_topn_init(&h, buf, max);
        for (uint32_t y = 0; y < prof->n; y++)
            if (weight[y] > 0)
                reco_topn_push(&h, prof->items[y], weight[y]);
        size_t got = reco_topn_finish(&h);
        for (size_t x = 0; x < got; x++)
            out[t * max + x] = buf[x].id;
        counts[t] = (uint32_t)got;
    }
    free(scratch);
    free(weight);
    free(buf);
}

static size_t ucf_explain(const void *s, const reco_dataset *train, const reco_profile *prof,
                          uint32_t i, uint32_t *out, size_t max)
{
    uint32_t count = 0;
    ucf_explain_list(s, train, prof, &i, 1, max, out, &count);
    return count;
}

/* KNNBaseline-style predictions are ratings; the ranking scores are sums
 * of similarity x rating (not ratings: they grow with the neighbours). */
static bool ucf_predicts_ratings(const void *p)
{
    (void)p;
    return true;
}

static const char *ucf_score_kind(const void *p, const void *state)
{
    (void)state;
    (void)p;
    return "similarity_weighted_sum";
}

const reco_algo_ops reco_algo_usercf = {
    .name = "usercf",
    .predicts_ratings = ucf_predicts_ratings,
    .score_kind = ucf_score_kind,
    .summary = "user-based k nearest neighbours (cosine over co-rated products)",
    .params_size = sizeof(reco_knn_params),
    .params_default = ucf_default,
    .param_set = ucf_set,
    .params_check = ucf_check,
    .params_format = ucf_format,
    .param_fields = reco_knn_param_fields,
    .fit = ucf_fit,
    .free_state = ucf_free,
    .predict = ucf_predict,
    .score = ucf_score,
    .scratch_size = ucf_scratch_size,
    .explain = ucf_explain,
    .explain_list = ucf_explain_list,
    .save = ucf_save,
    .load = ucf_load,
};
