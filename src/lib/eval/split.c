/* Train/test splits: every rating of the input gets a label (train, test,
 * or its fold) once, in a pass over the CSR; a pair is then two datasets
 * built from the labelled triplets with keep_ids, so indices never move. */
#include "reco/split.h"
#include "reco/thousands.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "numfmt.h"
#include "rng.h"

/* ---- seeded pseudo-random numbers -------------------------------------- */

/* SplitMix64 (Steele, Lea, Flood 2014): a counter through a strong mixer.
 * Our own rather than rand(), whose sequence differs between C libraries
 * and which has global state. */
typedef struct rng {
    uint64_t s;
} rng;

static rng rng_seeded(uint64_t seed, uint64_t stream)
{
    rng r = {reco_mix64(seed ^ reco_mix64(stream + 0x632be59bd9b4e019ULL))};
    return r;
}

static uint64_t rng_next(rng *r) { return reco_splitmix64(&r->s); }

/* Uniform in [0, bound), bound > 0, without modulo bias (Lemire 2019). */
static uint64_t rng_below(rng *r, uint64_t bound)
{
    unsigned __int128 m = (unsigned __int128)rng_next(r) * bound;
    uint64_t lo = (uint64_t)m;
    if (lo < bound) {
        uint64_t t = (0 - bound) % bound;
        while (lo < t) {
            m = (unsigned __int128)rng_next(r) * bound;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

void reco_split_sample(uint32_t n, uint32_t k, uint64_t seed, uint32_t *out)
{
    /* Knuth's algorithm S: index j is taken with probability
     * (still needed) / (still available), which gives exactly k. */
    rng r = rng_seeded(seed, 3);
    uint32_t got = 0;
    for (uint32_t j = 0; j < n && got < k; j++)
        if (rng_below(&r, n - j) < k - got)
            out[got++] = j;
}

/* ---- specs --------------------------------------------------------------- */

static int parse_fraction(const char *s, double *out)
{
    char *end;
    double v = reco_strtod_c(s, &end);
    if (!*s || *end || !(v > 0 && v < 1))
        return -1;
    *out = v;
    return 0;
}

reco_status reco_split_parse(const char *text, uint64_t seed, reco_split_spec *out,
                             reco_error *err)
{
    memset(out, 0, sizeof *out);
    out->seed = seed;
    const char *colon = strchr(text, ':');
    size_t nlen = colon ? (size_t)(colon - text) : strlen(text);
    const char *arg = colon ? colon + 1 : NULL;
    if (nlen == 6 && !strncmp(text, "random", 6)) {
        out->kind = RECO_SPLIT_RANDOM;
        out->fraction = 0.2;
        if (arg && parse_fraction(arg, &out->fraction))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "split \"%s\": the test fraction must be between 0 and 1 "
                                  "(exclusive)", text);
        return RECO_OK;
    }
    if (nlen == 4 && !strncmp(text, "time", 4)) {
        out->kind = RECO_SPLIT_TIME;
        out->fraction = 0.2;
        if (arg && parse_fraction(arg, &out->fraction))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "split \"%s\": the test fraction must be between 0 and 1 "
                                  "(exclusive)", text);
        return RECO_OK;
    }
    if (nlen == 5 && !strncmp(text, "kfold", 5)) {
        out->kind = RECO_SPLIT_KFOLD;
        out->folds = 5;
        if (arg) {
            char *end;
            long k = strtol(arg, &end, 10);
            if (!*arg || *end || k < 2 || k > RECO_SPLIT_MAX_FOLDS)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "split \"%s\": the number of folds must be 2 to %d", text,
                                      RECO_SPLIT_MAX_FOLDS);
            out->folds = (uint32_t)k;
        }
        return RECO_OK;
    }
    if (!strcmp(text, "loo")) {
        out->kind = RECO_SPLIT_LOO;
        return RECO_OK;
    }
    return reco_error_set(err, RECO_ERR_INVALID,
                          "unknown split \"%s\" (expected random:F, kfold:K, time:F or loo)",
                          text);
}

void reco_split_format(const reco_split_spec *s, char *buf, size_t cap)
{
    switch (s->kind) {
    case RECO_SPLIT_RANDOM: reco_snprintf_c(buf, cap, "random:%g", s->fraction); break;
    case RECO_SPLIT_KFOLD: snprintf(buf, cap, "kfold:%u", s->folds); break;
    case RECO_SPLIT_TIME: reco_snprintf_c(buf, cap, "time:%g", s->fraction); break;
    case RECO_SPLIT_LOO: snprintf(buf, cap, "loo"); break;
    }
}

/* ---- the splitter -------------------------------------------------------- */

struct reco_splitter {
    const reco_dataset *ds;
    reco_split_spec spec;
    uint8_t *label;  /* per rating in by_user order: fold, or 1 = test */
    uint32_t count;
};

void reco_splitter_free(reco_splitter *s)
{
    if (!s)
        return;
    free(s->label);
    free(s);
}

uint32_t reco_splitter_count(const reco_splitter *s)
{
    return s->count;
}

static void label_random(reco_splitter *s)
{
    const uint64_t n = reco_dataset_nnz(s->ds);
    uint64_t k = (uint64_t)llround(s->spec.fraction * (double)n);
    rng r = rng_seeded(s->spec.seed, 1);
    uint64_t got = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint8_t t = got < k && rng_below(&r, n - j) < k - got;
        s->label[j] = t;
        got += t;
    }
}

static void label_kfold(reco_splitter *s)
{
    const uint64_t n = reco_dataset_nnz(s->ds);
    const uint32_t K = s->spec.folds;
    /* Equal shares of each label, then a Fisher-Yates shuffle of the labels:
     * fold sizes differ by at most one. */
    uint32_t f = 0;
    for (uint64_t j = 0; j < n; j++) {
        s->label[j] = (uint8_t)f;
        if (++f == K)
            f = 0;
    }
    rng r = rng_seeded(s->spec.seed, 2);
    for (uint64_t j = n; j > 1; j--) {
        uint64_t o = rng_below(&r, j);
        uint8_t t = s->label[j - 1];
        s->label[j - 1] = s->label[o];
        s->label[o] = t;
    }
}

typedef struct ts_key {
    int64_t ts;
    uint64_t tie;
    uint64_t pos;
} ts_key;

/* Latest first. */
static int ts_key_cmp(const void *a, const void *b)
{
    const ts_key *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? 1 : -1;
    if (x->tie != y->tie)
        return x->tie < y->tie ? 1 : -1;
    return 0;
}

/* Labels each user's latest ratings as test: round(F * n) of them for
 * time:F, one for loo, keeping at least one in training. */
static reco_status label_time(reco_splitter *s, reco_error *err)
{
    const reco_csr *R = &s->ds->by_user;
    memset(s->label, 0, R->nnz);
    uint32_t max_len = 0;
    for (uint32_t u = 0; u < R->n_rows; u++)
        if (reco_csr_row_len(R, u) > max_len)
            max_len = reco_csr_row_len(R, u);
    const bool loo = s->spec.kind == RECO_SPLIT_LOO;
    const double F = s->spec.fraction;
    const uint64_t tie_seed = reco_mix64(s->spec.seed ^ 0x5851f42d4c957f2dULL);
    int failed = 0;
#pragma omp parallel
    {
        ts_key *buf = malloc(((size_t)max_len + 1) * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 512)
        for (uint32_t u = 0; u < R->n_rows; u++) {
            if (!buf)
                continue;
            uint32_t n = reco_csr_row_len(R, u);
            uint32_t k = loo ? 1 : (uint32_t)floor(F * n + 0.5);
            if (n < 2 || k == 0)
                continue;
            if (k > n - 1)
                k = n - 1;
            uint64_t p0 = R->ptr[u];
            for (uint32_t j = 0; j < n; j++) {
                buf[j].ts = R->ts[p0 + j];
                buf[j].tie = reco_mix64(tie_seed ^ ((uint64_t)u << 32 | R->idx[p0 + j]));
                buf[j].pos = p0 + j;
            }
            qsort(buf, n, sizeof *buf, ts_key_cmp);
            for (uint32_t j = 0; j < k; j++)
                s->label[buf[j].pos] = 1;
        }
        free(buf);
    }
    if (failed)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory splitting by time");
    return RECO_OK;
}

reco_status reco_splitter_new(const reco_dataset *ds, const reco_split_spec *spec,
                              reco_splitter **out, reco_error *err)
{
    *out = NULL;
    char name[32];
    reco_split_format(spec, name, sizeof name);
    if ((spec->kind == RECO_SPLIT_RANDOM || spec->kind == RECO_SPLIT_TIME) &&
        !(spec->fraction > 0 && spec->fraction < 1))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "split %s: the test fraction must be between 0 and 1", name);
    if (spec->kind == RECO_SPLIT_KFOLD &&
        (spec->folds < 2 || spec->folds > RECO_SPLIT_MAX_FOLDS))
        return reco_error_set(err, RECO_ERR_INVALID, "split %s: the folds must be 2 to %d", name,
                              RECO_SPLIT_MAX_FOLDS);
    if ((spec->kind == RECO_SPLIT_TIME || spec->kind == RECO_SPLIT_LOO) &&
        (!ds->has_ts || !ds->by_user.ts))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "split %s orders each user's ratings by time, but the data has "
                              "no timestamps (use random:F or kfold:K)", name);
    uint64_t nnz = reco_dataset_nnz(ds);
    if (spec->kind == RECO_SPLIT_KFOLD && nnz < spec->folds)
        return reco_error_set(err, RECO_ERR_EMPTY, "split %s: only %s ratings", name,
                              RECO_THOUSANDS(nnz));
    reco_splitter *s = calloc(1, sizeof *s);
    if (!s || !(s->label = malloc(nnz + 1))) {
        free(s);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory splitting %s ratings",
                              RECO_THOUSANDS(nnz));
    }
    s->ds = ds;
    s->spec = *spec;
    s->count = spec->kind == RECO_SPLIT_KFOLD ? spec->folds : 1;
    reco_status rc = RECO_OK;
    switch (spec->kind) {
    case RECO_SPLIT_RANDOM: label_random(s); break;
    case RECO_SPLIT_KFOLD: label_kfold(s); break;
    case RECO_SPLIT_TIME:
    case RECO_SPLIT_LOO: rc = label_time(s, err); break;
    }
    if (!rc && spec->kind != RECO_SPLIT_KFOLD && !memchr(s->label, 1, nnz))
        rc = reco_error_set(err, RECO_ERR_EMPTY,
                            "split %s leaves no test rating (%llu ratings%s)", name,
                            (unsigned long long)nnz,
                            spec->kind == RECO_SPLIT_RANDOM ? ""
                                                            : "; no user has two or more");
    if (rc) {
        reco_splitter_free(s);
        return rc;
    }
    *out = s;
    return RECO_OK;
}

/* The ratings whose label is (or, for the training half, is not) `test`,
 * built into a dataset over the input's full maps. */
static reco_status build_half(const reco_dataset *ds, const uint8_t *label, uint8_t test,
                              bool want_test, reco_dataset **out, reco_error *err)
{
    reco_ratings *r = reco_ratings_new(ds->users, ds->items);
    if (!r)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    const reco_csr *R = &ds->by_user;
    reco_status rc = RECO_OK;
    for (uint32_t u = 0; u < R->n_rows && !rc; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1] && !rc; k++)
            if ((label[k] == test) == want_test)
                rc = reco_ratings_push(r, u, R->idx[k], R->val[k], R->ts ? R->ts[k] : 0, err);
    if (!rc) {
        r->has_ts = ds->has_ts;
        r->report = ds->load;
        reco_build_options b;
        reco_build_options_default(&b);
        b.keep_ids = true;
        rc = reco_dataset_build(r, &b, out, err);
    }
    reco_ratings_free(r);
    return rc;
}

reco_status reco_splitter_get(const reco_splitter *s, uint32_t k, reco_dataset **train,
                              reco_dataset **test, reco_error *err)
{
    *train = *test = NULL;
    if (k >= s->count)
        return reco_error_set(err, RECO_ERR_INVALID, "split pair %u of %u does not exist", k,
                              s->count);
    uint8_t t = s->spec.kind == RECO_SPLIT_KFOLD ? (uint8_t)k : 1;
    reco_status rc = build_half(s->ds, s->label, t, false, train, err);
    if (!rc)
        rc = build_half(s->ds, s->label, t, true, test, err);
    if (rc) {
        reco_dataset_free(*train);
        reco_dataset_free(*test);
        *train = *test = NULL;
    }
    return rc;
}

reco_status reco_split_load_test(const char *path, const reco_dataset *train,
                                 const reco_load_options *lopt, reco_dataset **test,
                                 reco_error *err)
{
    *test = NULL;
    reco_load_options o;
    if (lopt)
        o = *lopt;
    else
        reco_load_options_default(&o);
    o.users = train->users;
    o.items = train->items;
    reco_ratings *r = NULL;
    reco_status rc = reco_ratings_load(path, &o, &r, err);
    if (rc)
        return rc;
    /* Drop pairs the model will be fitted on: testing on them would
     * measure memory, not prediction. */
    const uint32_t nu = reco_dataset_n_users(train), ni = reco_dataset_n_items(train);
    uint64_t w = 0;
    for (uint64_t k = 0; k < r->n; k++) {
        uint32_t u = r->user[k], i = r->item[k];
        if (u < nu && i < ni && reco_csr_find(&train->by_user, u, i) >= 0)
            continue;
        r->user[w] = u;
        r->item[w] = i;
        r->rating[w] = r->rating[k];
        r->ts[w] = r->ts[k];
        w++;
    }
    uint64_t dropped = r->n - w;
    r->n = w;
    if (w == 0) {
        rc = reco_error_set(err, RECO_ERR_EMPTY,
                            "%s: no test ratings%s", path,
                            dropped ? " that the training data does not already hold" : "");
        reco_ratings_free(r);
        return rc;
    }
    reco_build_options b;
    reco_build_options_default(&b);
    b.keep_ids = true;
    rc = reco_dataset_build(r, &b, test, err);
    reco_ratings_free(r);
    if (!rc)
        (*test)->filtered_ratings = dropped;
    return rc;
}
