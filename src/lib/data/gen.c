/* reco: deterministic synthetic ratings (see include/reco/gen.h).
 *
 * Plan, in order:
 *  1. Degrees. Each user and each product gets 1 + an integer share of the
 *     remaining ratings in proportion to a log-normal weight; shares are
 *     capped and rounded cumulatively, so the totals are exact.
 *  2. Matching. A configuration model: one "stub" per user rating, cut
 *     into consecutive blocks, one block per product.
 *     With taste = 0 the stubs are shuffled uniformly (choice independent
 *     of taste) and the blocks laid out from the largest product down.
 *     With taste > 0 the stubs are ordered by taste with a k-d tree, so
 *     that the latent factors that rate products also choose them:
 *       - every stub gets a point z = taste * x_u + sqrt(1 - taste^2) * e
 *         in the first D = min(factors, 8) latent coordinates (x_u its
 *         user's factors divided by their standard deviation, e standard
 *         normal noise from a 4096-cell quantile table, fresh per stub;
 *         stored as 16-bit fixed point). Each coordinate of z is standard
 *         normal and correlates `taste` with the user's;
 *       - the root node holds all products and all stubs. A node on level
 *         l splits on coordinate l mod D: its products sorted by their own
 *         factor on it, cut where the left part holds about half the
 *         node's ratings (a quarter of the products, and at least 8, on
 *         either side, so the tree stays about log2(products / 8) deep);
 *         the stubs with the smallest z on it, exactly as many as the left
 *         products' ratings, go left (a selection, not a sort);
 *       - a node of fewer than 16 products is a leaf: its stubs are
 *         shuffled into its products' blocks, largest product first.
 *     Because every node passes on exactly the ratings its products hold,
 *     each product gets exactly its count and each user keeps its degree:
 *     a rank-matching (the comonotone coupling) of ratings and products,
 *     coordinate after coordinate. taste = 1 would put all of a user's
 *     ratings on one spot; the noise spreads them over nearby products.
 *     Then, in both cases, blocks are visited in layout order and a user
 *     met twice in a block is swapped with a stub further on: first in a
 *     later block of the same leaf (keeping taste), then anywhere later,
 *     then (near-complete inputs only) in an earlier block, so every degree
 *     is kept and no pair repeats. One user rates a product once, so a
 *     heavy user's ratings near one spot spill over to its smaller
 *     products: heavy users lean to niche products, as on the real file.
 *     Nodes of one level run in parallel; the noise comes from a stream
 *     per user and the leaf shuffles from one per leaf, so the thread
 *     count changes nothing.
 *  3. Scores. bias + bias + factor dot product + noise per rating, cut into
 *     stars at the exact quantiles of the target histogram.
 *  4. Output in ASIN order, formatted by hand in parallel chunks and written
 *     in order.
 * Every random draw comes from a splitmix64 stream keyed by (seed, purpose,
 * entity), or from one sequential stream, so threads never change a byte. */
#include "reco/gen.h"
#include "reco/thousands.h"

#include "rng.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MAX_RATINGS 1000000000ULL
#define GEN_DAY 86400
#define GEN_T_MAX 4102444800LL /* 2100-01-01: keeps the year table small */
#define GEN_MAX_FACTORS 64
#define GEN_LINE_MAX 64        /* 14 + 1 + 10 + 1 + 3 + 1 + 19 + 1 = 50 */
#define GEN_CHUNK_RATINGS 65536

/* Model scales on the latent score; the signal variance is about 1. */
#define SIG_USER_BIAS 0.5
#define SIG_ITEM_BIAS 0.6
#define SIG_DOT 0.65
#define POP_BIAS_CORR 0.3 /* popular products rate a little higher, as on Amazon */

/* Star counts of the real ratings_Electronics.csv (1..5). */
static const double ELEC_HIST[5] = {901765, 456322, 633073, 1485781, 4347541};

/* Relative number of Amazon Electronics ratings per calendar year
 * 1998..2014 (2014 ends on July 31); an estimate of the real file's growth. */
#define YEAR_FIRST 1998
#define YEAR_LAST 2014
static const double YEAR_COUNT[YEAR_LAST - YEAR_FIRST + 1] = {
    0.2, 2, 12, 16, 19, 24, 31, 45, 75, 160, 220, 300, 430, 760, 1250, 2800, 1900};

/* First digit of all-digit ASINs (ISBN-like): mostly 9, 0, 1, as in the real
 * file's head. */
static const double DIGIT_FIRST[10] = {300, 150, 10, 20, 10, 10, 50, 50, 40, 360};

static const char B36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

enum {
    DOM_USER_W = 1, DOM_ITEM_W, DOM_SHUFFLE, DOM_USER_F, DOM_ITEM_F, DOM_NOISE,
    DOM_TIME, DOM_LAUNCH, DOM_ASIN, DOM_DIGIT, DOM_IDKEY, DOM_TASTE, DOM_LEAF
};

/* ---- random numbers ---- */

/* splitmix64: tiny state, so one stream per entity is free to create. */
typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r) { return reco_splitmix64(&r->s); }

/* Distinct (domain, idx) give distinct starting states (mix64 is a
 * bijection), hence independent-looking streams. */
static inline rng rng_for(uint64_t seed, unsigned domain, uint64_t idx)
{
    rng r = {reco_mix64(reco_mix64(seed ^ ((uint64_t)domain << 56)) ^ (idx * 0xd1b54a32d192ed03ULL))};
    return r;
}

static inline double rng_unif(rng *r) /* [0, 1) */
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static inline double rng_open(rng *r) /* (0, 1) */
{
    return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static inline uint64_t rng_below(rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static inline void rng_gauss2(rng *r, double *a, double *b)
{
    double m = sqrt(-2.0 * log(rng_open(r)));
    double t = 6.283185307179586 * rng_unif(r);
    *a = m * cos(t);
    *b = m * sin(t);
}

static inline double rng_gauss(rng *r)
{
    double a, b;
    rng_gauss2(r, &a, &b);
    return a;
}

/* ---- parameters ---- */

static void set_common(reco_gen_params *p)
{
    p->factors = 10;
    p->noise = 0.5;
    p->taste = RECO_GEN_TASTE_DEFAULT;
    for (int i = 0; i < 5; i++)
        p->hist[i] = ELEC_HIST[i];
    p->t_start = 883612800;  /* 1998-01-01 */
    p->t_end = 1406764800;   /* 2014-07-31 */
}

const char *reco_gen_preset_names(void)
{
    return "sample, electronics";
}

reco_status reco_gen_params_preset(reco_gen_params *p, const char *name, reco_error *err)
{
    if (!name)
        return reco_error_set(err, RECO_ERR_INVALID, "no preset name");
    if (!strcmp(name, "sample")) {
        set_common(p);
        /* Small but dense enough to learn from: most users have 10+ ratings. */
        p->n_ratings = 40000;
        p->n_users = 1500;
        p->n_items = 2000;
        p->user_sigma = 0.8;
        p->item_sigma = 1.2;
        p->max_user_ratings = 300;
        p->max_item_ratings = 400;
    } else if (!strcmp(name, "electronics")) {
        set_common(p);
        /* The real file's totals and extremes (max 520 ratings by one user,
         * 18,244 for one product); user_sigma fitted to its 1,540 users with
         * 50+ ratings (125,871 ratings, 82 each on average). */
        p->n_ratings = 7824482;
        p->n_users = 4201696;
        p->n_items = 476002;
        p->user_sigma = 1.55;
        p->item_sigma = 2.2;
        p->max_user_ratings = 520;
        p->max_item_ratings = 18244;
    } else {
        return reco_error_set(err, RECO_ERR_INVALID, "unknown preset \"%s\" (known: %s)", name,
                              reco_gen_preset_names());
    }
    return RECO_OK;
}

void reco_gen_params_default(reco_gen_params *p)
{
    memset(p, 0, sizeof *p);
    reco_gen_params_preset(p, "sample", NULL);
    p->seed = 1;
    p->threads = 0;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* The caps actually used: explicit ones, or a size-dependent default that
 * is always feasible (n * cap >= ratings) and at most half the other side
 * when possible, so the matching has room. */
static uint32_t resolve_cap(uint32_t given, uint64_t n_ratings, uint32_t n, uint32_t other,
                            double expo)
{
    if (given)
        return given;
    uint64_t lo = ceil_div(n_ratings, n);
    double a = fmax(10.0 * (double)lo, pow((double)n_ratings, expo));
    if (a > other / 2)
        a = other / 2;
    if (a < (double)lo)
        a = (double)lo;
    if (a > other)
        a = other;
    return (uint32_t)a;
}

reco_status reco_gen_params_check(const reco_gen_params *p, reco_error *err)
{
    if (!p)
        return reco_error_set(err, RECO_ERR_INVALID, "no parameters");
    if (p->n_users == 0 || p->n_items == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "n_users and n_items must be at least 1");
    if (p->n_ratings > GEN_MAX_RATINGS)
        return reco_error_set(err, RECO_ERR_INVALID, "n_ratings %s is over the limit of %s",
                              RECO_THOUSANDS(p->n_ratings), RECO_THOUSANDS(GEN_MAX_RATINGS));
    if (p->n_ratings < p->n_users || p->n_ratings < p->n_items)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "n_ratings (%s) must be at least n_users (%s) and n_items (%s): "
                              "every user and product has a rating",
                              RECO_THOUSANDS(p->n_ratings), RECO_THOUSANDS(p->n_users),
                              RECO_THOUSANDS(p->n_items));
    if (p->n_ratings > (uint64_t)p->n_users * p->n_items)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "n_ratings (%s) is more than the %s user-product pairs",
                              RECO_THOUSANDS(p->n_ratings),
                              RECO_THOUSANDS((uint64_t)p->n_users * p->n_items));
    if (p->factors < 1 || p->factors > GEN_MAX_FACTORS)
        return reco_error_set(err, RECO_ERR_INVALID, "factors must be 1..%d, got %d",
                              GEN_MAX_FACTORS, p->factors);
    if (!(p->noise >= 0 && p->noise <= 100))
        return reco_error_set(err, RECO_ERR_INVALID, "noise must be 0..100, got %g", p->noise);
    if (!(p->taste >= 0 && p->taste <= 1))
        return reco_error_set(err, RECO_ERR_INVALID, "taste must be 0..1, got %g", p->taste);
    if (!(p->user_sigma >= 0 && p->user_sigma <= 5))
        return reco_error_set(err, RECO_ERR_INVALID, "user_sigma must be 0..5, got %g",
                              p->user_sigma);
    if (!(p->item_sigma >= 0 && p->item_sigma <= 5))
        return reco_error_set(err, RECO_ERR_INVALID, "item_sigma must be 0..5, got %g",
                              p->item_sigma);
    if (p->max_user_ratings &&
        (p->max_user_ratings > p->n_items ||
         (uint64_t)p->max_user_ratings * p->n_users < p->n_ratings))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "max_user_ratings must be at most n_items and allow n_ratings "
                              "(n_users * max >= n_ratings), got %u", p->max_user_ratings);
    if (p->max_item_ratings &&
        (p->max_item_ratings > p->n_users ||
         (uint64_t)p->max_item_ratings * p->n_items < p->n_ratings))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "max_item_ratings must be at most n_users and allow n_ratings "
                              "(n_items * max >= n_ratings), got %u", p->max_item_ratings);
    double hs = 0;
    for (int i = 0; i < 5; i++) {
        if (!(p->hist[i] >= 0 && isfinite(p->hist[i])))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "hist[%d] must be a non-negative number", i + 1);
        hs += p->hist[i];
    }
    if (!(hs > 0) || !isfinite(hs))
        return reco_error_set(err, RECO_ERR_INVALID, "the rating histogram is all zero");
    if (p->t_start < 0 || p->t_end < p->t_start || p->t_end >= GEN_T_MAX)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "timestamps must satisfy 0 <= t_start <= t_end < %lld, got %lld..%lld",
                              (long long)GEN_T_MAX, (long long)p->t_start, (long long)p->t_end);
    if (p->threads < 0)
        return reco_error_set(err, RECO_ERR_INVALID, "threads must be >= 0, got %d", p->threads);
    return RECO_OK;
}

/* ---- degrees ---- */

/* Splits `total` units over n slots in proportion to w, each at most cap,
 * summing exactly to total (needs total <= n * cap). Slots whose share is
 * over the cap are pinned to it and the rest rescaled (water filling);
 * cumulative rounding keeps the sum exact and, on iid weights, behaves
 * like randomized rounding. */
static void alloc_counts(const double *w, size_t n, uint64_t total, uint32_t cap, uint32_t *x)
{
    if (total == 0) {
        memset(x, 0, n * sizeof *x);
        return;
    }
    double th = INFINITY, scale = 0;
    bool uniform = false;
    for (int it = 0; it < 200; it++) {
        double s = 0;
        uint64_t nc = 0;
        for (size_t i = 0; i < n; i++) {
            if (w[i] > th)
                nc++;
            else
                s += w[i];
        }
        if (!(s > 0)) { /* all remaining weights zero: split evenly */
            uniform = true;
            break;
        }
        scale = (double)(total - nc * cap) / s;
        double nth = (double)cap / scale;
        double mx = 0;
        for (size_t i = 0; i < n; i++)
            if (w[i] <= th && w[i] > mx)
                mx = w[i];
        if (mx <= nth)
            break;
        th = nth;
    }
    uint64_t sum = 0;
    if (uniform) {
        for (size_t i = 0; i < n; i++) {
            x[i] = (uint32_t)(total / n + (i < total % n));
            sum += x[i];
        }
    } else {
        double acc = 0;
        uint64_t prev = 0;
        for (size_t i = 0; i < n; i++) {
            if (w[i] > th) {
                x[i] = cap;
            } else {
                acc += w[i] * scale;
                uint64_t cur = (uint64_t)(acc + 0.5);
                uint64_t d = cur > prev ? cur - prev : 0;
                x[i] = (uint32_t)(d > cap ? cap : d);
                if (cur > prev)
                    prev = cur;
            }
            sum += x[i];
        }
    }
    /* Float rounding and the clamp leave a few units over or under. */
    for (size_t i = 0; sum < total; i = (i + 1) % n)
        if (x[i] < cap) {
            x[i]++;
            sum++;
        }
    for (size_t i = 0; sum > total; i = (i + 1) % n)
        if (x[i] > 0) {
            x[i]--;
            sum--;
        }
}

/* Log-normal weights exp(sigma Z) for n entities; Z is redrawn while the
 * weight, scaled to the target mean, would be over cap: a smooth truncation
 * instead of a pile of entities at the cap. The scale itself is left to
 * alloc_counts. Z goes to z when not NULL. */
static void lognormal_weights(double *w, float *z, uint32_t n, double sigma, double mean,
                              double cap, uint64_t seed, unsigned dom, int nt)
{
    double lam = mean / exp(0.5 * sigma * sigma);
    double zmax = sigma > 0 && mean > 0 && cap > 0 ? log(cap / lam) / sigma : INFINITY;
#pragma omp parallel for schedule(static, 4096) num_threads(nt)
    for (uint32_t i = 0; i < n; i++) {
        rng r = rng_for(seed, dom, i);
        double g = rng_gauss(&r);
        for (int t = 0; t < 64 && g > zmax; t++)
            g = rng_gauss(&r);
        if (g > zmax)
            g = zmax;
        w[i] = exp(sigma * g);
        if (z)
            z[i] = (float)g;
    }
}

/* ---- time ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t year_start(int y)
{
    return days_from_civil(y, 1, 1) * GEN_DAY;
}

/* Ratings per day in year y, relative. */
static double year_rate(int y)
{
    if (y < YEAR_FIRST)
        y = YEAR_FIRST;
    if (y > YEAR_LAST)
        y = YEAR_LAST;
    double days = y == YEAR_LAST ? 212 : (double)(year_start(y + 1) - year_start(y)) / GEN_DAY;
    return YEAR_COUNT[y - YEAR_FIRST] / days;
}

#define TL_MAX 140
/* Piecewise-uniform distribution of rating times over the days from t_start
 * to t_end, weighted by the yearly rates. */
typedef struct timeline {
    int n;
    int64_t t_start, t_end;
    double cum[TL_MAX + 1];
    double start[TL_MAX], len[TL_MAX];
} timeline;

static void timeline_init(timeline *tl, int64_t t0, int64_t t1)
{
    tl->t_start = t0;
    tl->t_end = t1;
    int y = 1970;
    while (year_start(y + 1) <= t0)
        y++;
    /* Whole days: the day that starts at or before t1 counts in full. */
    int64_t end = t0 + ((t1 - t0) / GEN_DAY + 1) * GEN_DAY;
    double tot = 0;
    int n = 0;
    for (int64_t a = t0; a < end && n < TL_MAX; y++) {
        int64_t b = year_start(y + 1);
        if (b > end)
            b = end;
        tl->start[n] = (double)a;
        tl->len[n] = (double)(b - a);
        tl->cum[n] = tot;
        tot += year_rate(y) * (double)(b - a);
        n++;
        a = b;
    }
    tl->n = n;
    for (int i = 0; i < n; i++)
        tl->cum[i] /= tot;
    tl->cum[n] = 1.0;
}

/* The time at quantile x in [0, 1), floored to a whole day after t_start
 * (the real file has only midnights). */
static int64_t timeline_at(const timeline *tl, double x)
{
    int lo = 0, hi = tl->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (tl->cum[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    double w = tl->cum[lo + 1] - tl->cum[lo];
    double f = w > 0 ? (x - tl->cum[lo]) / w : 0;
    double t = tl->start[lo] + f * tl->len[lo];
    int64_t dt = (int64_t)(t - (double)tl->t_start);
    if (dt < 0)
        dt = 0;
    int64_t ts = tl->t_start + dt / GEN_DAY * GEN_DAY;
    return ts > tl->t_end ? tl->t_end : ts;
}

/* ---- IDs ---- */

/* A + 13 base-36 digits of a keyed bijection of u: unique by construction.
 * A 64-bit value leads with 0..3, like the A1/A2/A3 prefixes of real IDs. */
static inline void user_id(uint64_t k1, uint64_t k2, uint32_t u, char *out)
{
    uint64_t x = reco_mix64(reco_mix64((uint64_t)u + k1) ^ k2);
    out[0] = 'A';
    for (int i = 13; i >= 1; i--) {
        out[i] = B36[x % 36];
        x /= 36;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct gen_state {
    const reco_gen_params *p;
    uint32_t U, P;
    uint64_t N;
    int k, nt;
    uint32_t *deg;      /* [U] ratings per user */
    uint32_t *cnt;      /* [P] ratings per product */
    uint64_t *off;      /* [P] block start in stub */
    uint32_t *stub;     /* [N] user of each rating, product blocks */
    float *score;       /* [N] latent score of each rating */
    float *uf, *itf;    /* [U][k+1], [P][k+1]: factors then bias */
    double *launch;     /* [P] launch quantile */
    float *popz;        /* [P] popularity draw (normal) */
    uint32_t *order;    /* [P] products in ASIN order */
    char *asin;         /* [P][10] */
    float th[4];        /* star thresholds */
    timeline tl;
} gen_state;

typedef struct keyed {
    double key;
    uint32_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* ASINs: a few all-digit ones (sorted first, as in the real file), the rest
 * B00 + 7 base-36 digits increasing with launch date, spread evenly with a
 * random offset over B000000000..B00LZZZZZZ. */
static reco_status make_asins(gen_state *g, reco_error *err)
{
    uint32_t P = g->P;
    uint32_t K = (P + 200) / 400;
    if (K == 0 && P >= 2)
        K = 1;
    uint32_t *idx = malloc((size_t)P * sizeof *idx);
    uint64_t *dv = malloc(((size_t)K + 1) * sizeof *dv);
    if (!idx || !dv) {
        free(idx);
        free(dv);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for %s product IDs",
                              RECO_THOUSANDS(P));
    }
    for (uint32_t i = 0; i < P; i++)
        idx[i] = i;
    rng r = rng_for(g->p->seed, DOM_DIGIT, 0);
    for (uint32_t i = 0; i < K; i++) { /* partial Fisher-Yates: K random products */
        uint32_t j = i + (uint32_t)rng_below(&r, P - i);
        uint32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    /* Distinct 10-digit values; the first always has a leading zero so that
     * every file exercises that case. */
    double fsum = 0;
    for (int d = 0; d < 10; d++)
        fsum += DIGIT_FIRST[d];
    uint32_t have = 0;
    while (have < K) {
        for (uint32_t i = have; i < K; i++) {
            double x = rng_unif(&r) * fsum;
            int d = 0;
            while (d < 9 && x >= DIGIT_FIRST[d]) {
                x -= DIGIT_FIRST[d];
                d++;
            }
            if (i == 0)
                d = 0;
            dv[i] = (uint64_t)d * 1000000000ULL + rng_below(&r, 1000000000ULL);
        }
        qsort(dv, K, sizeof *dv, cmp_u64);
        have = 0;
        for (uint32_t i = 0; i < K; i++)
            if (have == 0 || dv[i] != dv[have - 1])
                dv[have++] = dv[i];
    }
    /* Digit products in value order. */
    for (uint32_t i = 0; i < K; i++) {
        char *a = g->asin + (size_t)idx[i] * 10;
        uint64_t v = dv[i];
        for (int c = 9; c >= 0; c--) {
            a[c] = (char)('0' + v % 10);
            v /= 10;
        }
        g->order[i] = idx[i];
    }
    /* B products by launch. */
    uint32_t NB = P - K;
    keyed *kb = malloc((size_t)NB * sizeof *kb);
    if (!kb) {
        free(idx);
        free(dv);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for %s product IDs",
                              RECO_THOUSANDS(P));
    }
    for (uint32_t i = 0; i < NB; i++)
        kb[i] = (keyed){g->launch[idx[K + i]], idx[K + i]};
    qsort(kb, NB, sizeof *kb, cmp_keyed);
    for (uint32_t i = 0; i < NB; i++)
        idx[K + i] = kb[i].idx;
    free(kb);
    const uint64_t span = 22ULL * 2176782336ULL; /* "0"..."L" then 6 digits */
    rng ra = rng_for(g->p->seed, DOM_ASIN, 0);
    for (uint32_t i = 0; i < NB; i++) {
        uint64_t lo = (uint64_t)((unsigned __int128)i * span / NB);
        uint64_t hi = (uint64_t)((unsigned __int128)(i + 1) * span / NB);
        uint64_t v = lo + rng_below(&ra, hi - lo);
        char *a = g->asin + (size_t)idx[K + i] * 10;
        a[0] = 'B';
        a[1] = '0';
        a[2] = '0';
        for (int c = 9; c >= 3; c--) {
            a[c] = B36[v % 36];
            v /= 36;
        }
        g->order[K + i] = idx[K + i];
    }
    free(idx);
    free(dv);
    return RECO_OK;
}

/* ---- matching ---- */

/* Is user x in stub[a..b)? */
static bool block_has(const uint32_t *stub, uint64_t a, uint64_t b, uint32_t x)
{
    for (uint64_t i = a; i < b; i++)
        if (stub[i] == x)
            return true;
    return false;
}

/* Layout of the matching: proc[k] is the k-th product block, in the order
 * the repeat removal visits them; poff[k] its first stub (poff[P] = N);
 * lend[k] the index one past the last block of the group that holds block
 * k (a leaf of the taste tree; the whole file for the random matching). */
typedef struct layout {
    uint32_t *proc, *lend;
    uint64_t *poff;
} layout;

/* Today's matching without taste (the taste = 0 case): one uniform shuffle
 * of all stubs, blocks from the largest product down. */
static void lay_random(gen_state *g, layout *L, rng *r)
{
    uint64_t N = g->N;
    uint32_t P = g->P;
    uint64_t pos = 0;
    for (uint32_t u = 0; u < g->U; u++)
        for (uint32_t d = 0; d < g->deg[u]; d++)
            g->stub[pos++] = u;
    for (uint64_t i = N - 1; i > 0; i--) {
        uint64_t j = rng_below(r, i + 1);
        uint32_t t = g->stub[i];
        g->stub[i] = g->stub[j];
        g->stub[j] = t;
    }
    /* Largest products first: they are where repeats happen, and the
     * single-rating tail at the end can never hold one. */
    uint64_t *ck = (uint64_t *)L->poff; /* P + 1 slots, rewritten below */
    for (uint32_t j = 0; j < P; j++)
        ck[j] = ((uint64_t)(UINT32_MAX - g->cnt[j]) << 32) | j;
    qsort(ck, P, sizeof *ck, cmp_u64);
    for (uint32_t j = 0; j < P; j++) {
        L->proc[j] = (uint32_t)ck[j];
        L->lend[j] = P;
    }
}

/* ---- taste in choice ---- */

/* Rating (stub) points for the taste tree: the user and a noisy copy of the
 * user's taste, TASTE_Q units per standard deviation. */
#define TASTE_DIMS 8
#define TASTE_Q 4096.0
#define TASTE_LEAF 8       /* leaves hold TASTE_LEAF .. 2 * TASTE_LEAF - 1 products */
#define NORM_BITS 12

typedef struct tstub {
    uint32_t user;
    int16_t z[TASTE_DIMS];
} tstub;

typedef struct tnode {
    uint32_t pa, pb;    /* products proc[pa..pb) */
    uint64_t sa, sb;    /* stubs [sa, sb): exactly their ratings */
    uint32_t depth;
} tnode;

/* User u's latent factors, then bias, scaled: the same stream as
 * make_factors, so the taste that picks products is the taste that rates
 * them. */
static void entity_factors(float *v, uint64_t i, int k, uint64_t seed, unsigned dom,
                           double sig_bias, const float *popz)
{
    double sf = sqrt(SIG_DOT / sqrt((double)k));
    rng r = rng_for(seed, dom, i);
    for (int c = 0; c < k; c += 2) {
        double a, b;
        rng_gauss2(&r, &a, &b);
        v[c] = (float)(sf * a);
        if (c + 1 < k)
            v[c + 1] = (float)(sf * b);
    }
    double z = rng_gauss(&r);
    if (popz) /* correlate with the popularity draw */
        z = POP_BIAS_CORR * popz[i] + sqrt(1 - POP_BIAS_CORR * POP_BIAS_CORR) * z;
    v[k] = (float)(sig_bias * z);
}

/* The first n (even or k) of entity i's factors: the same draws as
 * entity_factors, without the rest. */
static void entity_factors_head(float *v, int n, uint64_t i, int k, uint64_t seed, unsigned dom)
{
    double sf = sqrt(SIG_DOT / sqrt((double)k));
    rng r = rng_for(seed, dom, i);
    for (int c = 0; c < n; c += 2) {
        double a, b;
        rng_gauss2(&r, &a, &b);
        v[c] = (float)(sf * a);
        if (c + 1 < k)
            v[c + 1] = (float)(sf * b);
    }
}

/* Sorts a[0..n) ascending (quicksort, median of three, insertion sort for
 * short runs): products by a packed key, without qsort's calls. */
static void sort_u64(uint64_t *a, size_t n)
{
    while (n > 16) {
        uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
        uint64_t piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < piv)
                i++;
            while (piv < a[j])
                j--;
            if (i >= j)
                break;
            uint64_t t = a[i];
            a[i] = a[j];
            a[j] = t;
            i++;
            j--;
        }
        /* a[0..j] <= piv <= a[j+1..n): recurse on the smaller side */
        if (j + 1 < n - j - 1) {
            sort_u64(a, j + 1);
            a += j + 1;
            n -= j + 1;
        } else {
            sort_u64(a + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t t = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > t; j--)
            a[j] = a[j - 1];
        a[j] = t;
    }
}

/* An order-preserving unsigned image of a float. */
static inline uint32_t float_order(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b & 0x80000000u ? ~b : b | 0x80000000u;
}

/* Standard normal quantiles at the midpoints of 2^NORM_BITS equal cells:
 * cheap, exactly reproducible normal draws from a few random bits. */
static void normal_table(float *t)
{
    int n = 1 << NORM_BITS;
    for (int i = 0; i < n; i++) {
        double p = (i + 0.5) / n, lo = -9, hi = 9;
        for (int it = 0; it < 48; it++) {
            double mid = 0.5 * (lo + hi);
            if (0.5 * erfc(-mid / sqrt(2.0)) < p)
                lo = mid;
            else
                hi = mid;
        }
        t[i] = (float)(0.5 * (lo + hi));
    }
}

static inline int16_t taste_q(double z)
{
    double q = nearbyint(z * TASTE_Q);
    return (int16_t)(q > 32767 ? 32767 : q < -32767 ? -32767 : q);
}

/* Moves the m smallest of a[0..n) by z[d] to the front (0 < m < n): a
 * histogram of the coordinate's top byte finds the band that holds the
 * m-th; one three-way partition puts the smaller bands first; Wirth's
 * selection settles the band. */
static void select_tstub(tstub *a, int64_t n, int64_t m, int d)
{
    int64_t hist[256] = {0};
    for (int64_t i = 0; i < n; i++)
        hist[(uint16_t)(a[i].z[d] + 32768) >> 8]++;
    int band = 0;
    int64_t below = 0;
    while (below + hist[band] <= m)
        below += hist[band++];
    /* a[0..lt) < band, a[lt..i) == band, a(gt..n) > band */
    int64_t lt = 0, i = 0, gt = n - 1;
    while (i <= gt) {
        int b = (uint16_t)(a[i].z[d] + 32768) >> 8;
        if (b < band) {
            tstub t = a[lt];
            a[lt++] = a[i];
            a[i++] = t;
        } else if (b > band) {
            tstub t = a[gt];
            a[gt--] = a[i];
            a[i] = t;
        } else {
            i++;
        }
    }
    tstub *c = a + lt;
    int64_t l = 0, r = gt - lt, k = m - lt;
    while (l < r) {
        int16_t x = c[k].z[d];
        int64_t ii = l, jj = r;
        do {
            while (c[ii].z[d] < x)
                ii++;
            while (x < c[jj].z[d])
                jj--;
            if (ii <= jj) {
                tstub t = c[ii];
                c[ii] = c[jj];
                c[jj] = t;
                ii++;
                jj--;
            }
        } while (ii <= jj);
        if (jj < k)
            l = ii;
        if (k < ii)
            r = jj;
    }
}

/* One node of the taste tree: a leaf (shuffle its stubs, order its
 * products for the repeat removal) or a split of its products at the
 * rating-mass median of one taste coordinate, its stubs at the same
 * count. Returns the number of children written to kid (0 or 2). */
static int taste_node(gen_state *g, layout *L, tstub *ts, uint64_t *scratch, const tnode *nd,
                      int dims, tnode *kid)
{
    uint32_t np = nd->pb - nd->pa;
    uint32_t *pr = L->proc + nd->pa;
    uint64_t *ks = scratch + nd->pa;
    if (np < 2 * TASTE_LEAF || nd->depth >= 64) {
        /* largest first, as in the random matching */
        for (uint32_t i = 0; i < np; i++)
            ks[i] = ((uint64_t)(UINT32_MAX - g->cnt[pr[i]]) << 32) | pr[i];
        sort_u64(ks, np);
        for (uint32_t i = 0; i < np; i++) {
            pr[i] = (uint32_t)ks[i];
            L->lend[nd->pa + i] = nd->pb;
        }
        for (uint64_t i = nd->sa; i < nd->sb; i++)
            g->stub[i] = ts[i].user;
        rng r = rng_for(g->p->seed, DOM_LEAF, nd->pa);
        uint32_t *a = g->stub + nd->sa;
        for (uint64_t i = nd->sb - nd->sa; i > 1; i--) {
            uint64_t j = rng_below(&r, i);
            uint32_t t = a[i - 1];
            a[i - 1] = a[j];
            a[j] = t;
        }
        return 0;
    }
    int d = (int)(nd->depth % (uint32_t)dims);
    for (uint32_t i = 0; i < np; i++)
        ks[i] = ((uint64_t)float_order(g->itf[(size_t)pr[i] * (g->k + 1) + d]) << 32) | pr[i];
    sort_u64(ks, np);
    for (uint32_t i = 0; i < np; i++)
        pr[i] = (uint32_t)ks[i];
    /* The cut nearest half the ratings, keeping a quarter of the products
     * (and at least TASTE_LEAF) on each side so that the tree stays
     * shallow and every leaf has TASTE_LEAF products or more. */
    uint64_t n = nd->sb - nd->sa, half = n / 2, cum = 0, best_cum = 0, best_gap = UINT64_MAX;
    uint32_t lo = np / 4 > TASTE_LEAF ? np / 4 : TASTE_LEAF, hi = np - lo, m = lo;
    for (uint32_t i = 0; i < hi; i++) {
        cum += g->cnt[pr[i]];
        if (i + 1 >= lo) {
            uint64_t gap = cum > half ? cum - half : half - cum;
            if (gap < best_gap) {
                best_gap = gap;
                best_cum = cum;
                m = i + 1;
            }
        }
    }
    select_tstub(ts + nd->sa, (int64_t)n, (int64_t)best_cum, d);
    kid[0] = (tnode){nd->pa, nd->pa + m, nd->sa, nd->sa + best_cum, nd->depth + 1};
    kid[1] = (tnode){nd->pa + m, nd->pb, nd->sa + best_cum, nd->sb, nd->depth + 1};
    return 2;
}

/* Matching with taste: a k-d tree that pairs ratings with products close
 * to them in taste space, exactly as many ratings as each product has.
 * Every rating gets a point z = taste * x_u + sqrt(1 - taste^2) * e (x_u
 * the user's standardised latent factors, e fresh standard normal noise,
 * so each coordinate of z is standard normal and correlates `taste` with
 * the user's). At each node, on coordinate depth mod dims, the products
 * are sorted by their own factor and cut near the median of their rating
 * mass; the ratings with the lowest coordinates, exactly as many as the
 * left products hold, go left. Leaves of 8..15 products shuffle their
 * ratings into the product blocks. */
static reco_status lay_taste(gen_state *g, layout *L, reco_error *err)
{
    const reco_gen_params *p = g->p;
    uint32_t U = g->U, P = g->P;
    int k = g->k, dims = k < TASTE_DIMS ? k : TASTE_DIMS;
    double rho = p->taste, sig = sqrt(fmax(0, 1 - rho * rho));
    double inv_sf = 1 / sqrt(SIG_DOT / sqrt((double)k));
    tstub *ts = malloc(g->N * sizeof *ts);
    uint64_t *ustart = malloc(((size_t)U + 1) * sizeof *ustart);
    uint64_t *scratch = malloc((size_t)P * sizeof *scratch);
    /* a level has at most P / TASTE_LEAF nodes */
    size_t maxn = (size_t)P / TASTE_LEAF + 1;
    tnode *cur = malloc(maxn * sizeof *cur), *nxt = malloc(2 * maxn * sizeof *nxt);
    float *nq = malloc(((size_t)1 << NORM_BITS) * sizeof *nq);
    reco_status st = RECO_OK;
    if (!ts || !ustart || !scratch || !cur || !nxt || !nq) {
        st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the taste matching");
        goto done;
    }
    normal_table(nq);
    ustart[0] = 0;
    for (uint32_t u = 0; u < U; u++)
        ustart[u + 1] = ustart[u] + g->deg[u];
#pragma omp parallel for schedule(static, 4096) num_threads(g->nt)
    for (uint32_t u = 0; u < U; u++) {
        float v[TASTE_DIMS + 1];
        entity_factors_head(v, dims, u, k, p->seed, DOM_USER_F);
        rng r = rng_for(p->seed, DOM_TASTE, u);
        uint64_t bits = 0;
        int left = 0;
        for (uint64_t s = ustart[u]; s < ustart[u + 1]; s++) {
            ts[s].user = u;
            for (int d = 0; d < TASTE_DIMS; d++) {
                if (d >= dims) {
                    ts[s].z[d] = 0;
                    continue;
                }
                if (left == 0) {
                    bits = rng_next(&r);
                    left = 64 / NORM_BITS;
                }
                double e = nq[bits & ((1u << NORM_BITS) - 1)];
                bits >>= NORM_BITS;
                left--;
                ts[s].z[d] = taste_q(rho * v[d] * inv_sf + sig * e);
            }
        }
    }
    size_t ncur = 1;
    cur[0] = (tnode){0, P, 0, g->N, 0};
    for (uint32_t j = 0; j < P; j++)
        L->proc[j] = j;
    while (ncur) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(g->nt)
        for (size_t i = 0; i < ncur; i++) {
            int c = taste_node(g, L, ts, scratch, &cur[i], dims, &nxt[2 * i]);
            if (c == 0) /* a leaf: no children */
                nxt[2 * i].pa = nxt[2 * i].pb = nxt[2 * i + 1].pa = nxt[2 * i + 1].pb = 0;
        }
        size_t n = 0;
        for (size_t i = 0; i < 2 * ncur; i++)
            if (nxt[i].pb > nxt[i].pa)
                cur[n++] = nxt[i];
        ncur = n;
    }
done:
    free(ts);
    free(ustart);
    free(scratch);
    free(cur);
    free(nxt);
    free(nq);
    return st;
}

/* Removes repeated users within each product block by swaps that keep
 * every degree: preferably with a stub of a later block of the same leaf
 * (so taste is kept), else of any later block, else (near-complete inputs
 * only) of an earlier block. */
static reco_status fix_repeats(gen_state *g, const layout *L, rng *rp, reco_error *err)
{
    uint64_t N = g->N;
    uint32_t P = g->P;
    uint32_t *mark = malloc((size_t)g->U * sizeof *mark);
    if (!mark)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the matching");
    memset(mark, 0xff, (size_t)g->U * sizeof *mark);
    rng r = *rp;
    reco_status st = RECO_OK;
    uint32_t *s = g->stub;
    const uint64_t *poff = L->poff;
    for (uint32_t k = 0; k < P && !st; k++) {
        uint32_t j = L->proc[k];
        uint64_t a = poff[k], b = poff[k + 1], e = poff[L->lend[k]];
        for (uint64_t i = a; i < b; i++) {
            if (mark[s[i]] != j) {
                mark[s[i]] = j;
                continue;
            }
            bool done = false;
            /* Swap with a stub of a later (smaller) product: random tries
             * in the leaf, then anywhere later, then a scan, so dense
             * inputs still succeed. */
            for (int t = 0; t < 64 && !done && b < e; t++) {
                uint64_t q = b + rng_below(&r, e - b);
                if (mark[s[q]] != j) {
                    uint32_t x = s[i];
                    s[i] = s[q];
                    s[q] = x;
                    done = true;
                }
            }
            for (int t = 0; t < 64 && !done && e < N; t++) {
                uint64_t q = b + rng_below(&r, N - b);
                if (mark[s[q]] != j) {
                    uint32_t x = s[i];
                    s[i] = s[q];
                    s[q] = x;
                    done = true;
                }
            }
            if (b < N) { /* the start is drawn even when done: old files repeat */
                uint64_t q0 = b + rng_below(&r, N - b);
                for (uint64_t c = 0; c < N - b && !done; c++) {
                    uint64_t q = q0 + c < N ? q0 + c : q0 + c - (N - b);
                    if (mark[s[q]] != j) {
                        uint32_t x = s[i];
                        s[i] = s[q];
                        s[q] = x;
                        done = true;
                    }
                }
            }
            /* Else with an earlier product that lacks this user and gives
             * one this block lacks (only for near-complete inputs). */
            for (uint32_t kk = 0; kk < k && !done; kk++) {
                for (uint64_t q = poff[kk]; q < poff[kk + 1] && !done; q++) {
                    if (mark[s[q]] == j || block_has(s, poff[kk], poff[kk + 1], s[i]))
                        continue;
                    uint32_t x = s[i];
                    s[i] = s[q];
                    s[q] = x;
                    done = true;
                }
            }
            if (!done) {
                st = reco_error_set(err, RECO_ERR_INVALID,
                                    "cannot place %llu ratings without repeating a "
                                    "(user, product) pair; use fewer ratings or raise the caps",
                                    (unsigned long long)N);
                break;
            }
            mark[s[i]] = j;
        }
    }
    free(mark);
    return st;
}

/* Places every rating: a user for each slot of each product block. */
static reco_status match(gen_state *g, reco_error *err)
{
    uint32_t P = g->P;
    layout L;
    L.proc = malloc((size_t)P * sizeof *L.proc);
    L.lend = malloc((size_t)P * sizeof *L.lend);
    L.poff = malloc(((size_t)P + 1) * sizeof *L.poff);
    reco_status st = RECO_OK;
    if (!L.proc || !L.lend || !L.poff) {
        st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the matching");
        goto done;
    }
    rng r = rng_for(g->p->seed, DOM_SHUFFLE, 0);
    if (g->p->taste > 0) {
        if ((st = lay_taste(g, &L, err)))
            goto done;
    } else {
        lay_random(g, &L, &r);
    }
    uint64_t pos = 0;
    for (uint32_t k = 0; k < P; k++) {
        L.poff[k] = pos;
        g->off[L.proc[k]] = pos;
        pos += g->cnt[L.proc[k]];
    }
    L.poff[P] = pos;
    st = fix_repeats(g, &L, &r, err);
done:
    free(L.proc);
    free(L.lend);
    free(L.poff);
    return st;
}

/* ---- scores ---- */

/* k-th smallest of a[0..n) (Wirth's selection); leaves a partitioned
 * around k. */
static float select_kth(float *a, int64_t n, int64_t k)
{
    int64_t l = 0, r = n - 1;
    while (l < r) {
        float x = a[k];
        int64_t i = l, j = r;
        do {
            while (a[i] < x)
                i++;
            while (x < a[j])
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < k)
            l = i;
        if (k < i)
            r = j;
    }
    return a[k];
}

static void make_factors(float *f, uint32_t n, int k, uint64_t seed, unsigned dom,
                         double sig_bias, const float *popz, int nt)
{
#pragma omp parallel for schedule(static, 4096) num_threads(nt)
    for (uint32_t i = 0; i < n; i++)
        entity_factors(f + (size_t)i * (k + 1), i, k, seed, dom, sig_bias, popz);
}

static reco_status make_scores(gen_state *g, reco_error *err)
{
    int k = g->k;
    double noise = g->p->noise;
#pragma omp parallel for schedule(dynamic, 16) num_threads(g->nt)
    for (uint32_t j = 0; j < g->P; j++) {
        rng r = rng_for(g->p->seed, DOM_NOISE, j);
        const float *q = g->itf + (size_t)j * (k + 1);
        uint64_t a = g->off[j], n = g->cnt[j];
        for (uint64_t i = 0; i < n; i += 2) {
            double e[2];
            rng_gauss2(&r, &e[0], &e[1]);
            for (uint64_t h = i; h < i + 2 && h < n; h++) {
                const float *pu = g->uf + (size_t)g->stub[a + h] * (k + 1);
                float dot = 0;
                for (int c = 0; c < k; c++)
                    dot += pu[c] * q[c];
                g->score[a + h] = (float)(pu[k] + q[k] + dot + noise * e[h - i]);
            }
        }
    }
    /* Exact quantile cut points: rank round(N * cumulative share). */
    float *tmp = malloc(g->N * sizeof *tmp);
    if (!tmp)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for %s scores",
                              RECO_THOUSANDS(g->N));
    memcpy(tmp, g->score, g->N * sizeof *tmp);
    double hs = 0, cum = 0;
    for (int i = 0; i < 5; i++)
        hs += g->p->hist[i];
    int64_t rank[4];
    for (int i = 0; i < 4; i++) {
        cum += g->p->hist[i];
        rank[i] = (int64_t)llround((double)g->N * (cum / hs));
    }
    /* From the top cut down: each lower one lies left of the one above. */
    int64_t n = (int64_t)g->N;
    float nth = INFINITY;
    for (int i = 3; i >= 0; i--) {
        if (rank[i] >= n) {
            g->th[i] = nth; /* empty star: same cut as the one above */
        } else if (rank[i] <= 0) {
            g->th[i] = -INFINITY;
        } else {
            g->th[i] = nth = select_kth(tmp, n, rank[i]);
            n = rank[i];
        }
    }
    free(tmp);
    return RECO_OK;
}

/* ---- output ---- */

static inline char *put_int(char *o, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t x = (uint64_t)v; /* timestamps are checked non-negative */
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (n)
        *o++ = tmp[--n];
    return o;
}

/* Formats the products order[c0..c1) into buf; returns the length. */
static size_t format_chunk(const gen_state *g, uint32_t c0, uint32_t c1, uint64_t k1,
                           uint64_t k2, char *buf)
{
    char *o = buf;
    for (uint32_t oi = c0; oi < c1; oi++) {
        uint32_t j = g->order[oi];
        const char *asin = g->asin + (size_t)j * 10;
        rng r = rng_for(g->p->seed, DOM_TIME, j);
        double q = g->launch[j];
        uint64_t a = g->off[j], n = g->cnt[j];
        for (uint64_t i = 0; i < n; i++) {
            user_id(k1, k2, g->stub[a + i], o);
            o += 14;
            *o++ = ',';
            memcpy(o, asin, 10);
            o += 10;
            *o++ = ',';
            float s = g->score[a + i];
            int star = 1 + (s >= g->th[0]) + (s >= g->th[1]) + (s >= g->th[2]) + (s >= g->th[3]);
            *o++ = (char)('0' + star);
            *o++ = '.';
            *o++ = '0';
            *o++ = ',';
            /* Uniform after launch in quantile space, squared: see plan_times. */
            double x = q + (1 - q) * rng_unif(&r);
            o = put_int(o, timeline_at(&g->tl, x * x));
            *o++ = '\n';
        }
    }
    return (size_t)(o - buf);
}

static reco_status write_all(gen_state *g, FILE *out, reco_progress *prog, reco_error *err)
{
    /* Chunks of whole products, about GEN_CHUNK_RATINGS each. */
    size_t nch = 0, capch = 64;
    uint32_t *cs = malloc((capch + 1) * sizeof *cs);
    if (!cs)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    uint64_t acc = 0;
    cs[0] = 0;
    for (uint32_t oi = 0; oi < g->P; oi++) {
        acc += g->cnt[g->order[oi]];
        if (acc >= GEN_CHUNK_RATINGS || oi + 1 == g->P) {
            if (nch + 1 >= capch) {
                uint32_t *t = realloc(cs, (2 * capch + 1) * sizeof *cs);
                if (!t) {
                    free(cs);
                    return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
                }
                cs = t;
                capch *= 2;
            }
            cs[++nch] = oi + 1;
            acc = 0;
        }
    }
    int G = 2 * g->nt;
    char **buf = calloc((size_t)G, sizeof *buf);
    size_t *bcap = calloc((size_t)G, sizeof *bcap), *blen = calloc((size_t)G, sizeof *blen);
    reco_status st = RECO_OK;
    if (!buf || !bcap || !blen) {
        st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto done;
    }
    rng kr = rng_for(g->p->seed, DOM_IDKEY, 0);
    uint64_t k1 = rng_next(&kr), k2 = rng_next(&kr);
    uint64_t written = 0;
    for (size_t c0 = 0; c0 < nch; c0 += (size_t)G) {
        size_t cn = nch - c0 < (size_t)G ? nch - c0 : (size_t)G;
        for (size_t b = 0; b < cn; b++) { /* size buffers for the worst line */
            uint64_t nr = 0;
            for (uint32_t oi = cs[c0 + b]; oi < cs[c0 + b + 1]; oi++)
                nr += g->cnt[g->order[oi]];
            size_t need = (size_t)nr * GEN_LINE_MAX;
            if (need > bcap[b]) {
                free(buf[b]);
                buf[b] = malloc(need);
                bcap[b] = buf[b] ? need : 0;
                if (!buf[b]) {
                    st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for output buffers");
                    goto done;
                }
            }
        }
#pragma omp parallel for schedule(dynamic, 1) num_threads(g->nt)
        for (size_t b = 0; b < cn; b++)
            blen[b] = format_chunk(g, cs[c0 + b], cs[c0 + b + 1], k1, k2, buf[b]);
        for (size_t b = 0; b < cn; b++) {
            if (fwrite(buf[b], 1, blen[b], out) != blen[b]) {
                st = reco_error_set(err, RECO_ERR_IO, "write failed: %s", strerror(errno));
                goto done;
            }
            for (uint32_t oi = cs[c0 + b]; oi < cs[c0 + b + 1]; oi++)
                written += g->cnt[g->order[oi]];
        }
        reco_progress_report(prog, "write", written, g->N);
    }
    if (fflush(out) != 0 || ferror(out))
        st = reco_error_set(err, RECO_ERR_IO, "write failed: %s", strerror(errno));
done:
    if (buf)
        for (int b = 0; b < G; b++)
            free(buf[b]);
    free(buf);
    free(bcap);
    free(blen);
    free(cs);
    return st;
}

/* ---- driver ---- */

static reco_status make_counts(gen_state *g, reco_error *err)
{
    const reco_gen_params *p = g->p;
    uint32_t capu = resolve_cap(p->max_user_ratings, g->N, g->U, g->P, 0.4);
    uint32_t capi = resolve_cap(p->max_item_ratings, g->N, g->P, g->U, 0.6);
    size_t nw = g->U > g->P ? g->U : g->P;
    double *w = malloc(nw * sizeof *w);
    if (!w)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for %zu weights", nw);
    /* Users and products: log-normal weights, so that activity and
     * popularity look like a power law that bends down at the top. */
    lognormal_weights(w, NULL, g->U, p->user_sigma, (double)(g->N - g->U) / g->U,
                      (double)capu - 1, p->seed, DOM_USER_W, g->nt);
    alloc_counts(w, g->U, g->N - g->U, capu - 1, g->deg);
    for (uint32_t u = 0; u < g->U; u++)
        g->deg[u] += 1;
    lognormal_weights(w, g->popz, g->P, p->item_sigma, (double)(g->N - g->P) / g->P,
                      (double)capi - 1, p->seed, DOM_ITEM_W, g->nt);
    alloc_counts(w, g->P, g->N - g->P, capi - 1, g->cnt);
    for (uint32_t j = 0; j < g->P; j++)
        g->cnt[j] += 1;
    free(w);
    return RECO_OK;
}

/* Launch quantiles q with density 2(1 - q); a rating at quantile
 * x = q + (1 - q)v (v uniform) then has P(x <= y) = y^2, so times drawn at
 * the timeline's quantile x^2 follow the timeline exactly while every
 * product's ratings come after its launch. */
static void plan_times(gen_state *g)
{
#pragma omp parallel for schedule(static, 4096) num_threads(g->nt)
    for (uint32_t j = 0; j < g->P; j++) {
        rng r = rng_for(g->p->seed, DOM_LAUNCH, j);
        g->launch[j] = 1.0 - sqrt(1.0 - rng_unif(&r));
    }
    timeline_init(&g->tl, g->p->t_start, g->p->t_end);
}

reco_status reco_gen_write(const reco_gen_params *p, FILE *out, reco_progress progress,
                           reco_error *err)
{
    reco_status st = reco_gen_params_check(p, err);
    if (st)
        return st;
    if (!out)
        return reco_error_set(err, RECO_ERR_INVALID, "no output stream");
    gen_state g;
    memset(&g, 0, sizeof g);
    g.p = p;
    g.U = p->n_users;
    g.P = p->n_items;
    g.N = p->n_ratings;
    g.k = p->factors;
    g.nt = p->threads > 0 ? p->threads : omp_get_max_threads();
    if (g.nt < 1)
        g.nt = 1;
    const int steps = 6;
    reco_progress_report(&progress, "prepare", 0, steps);

    g.deg = malloc((size_t)g.U * sizeof *g.deg);
    g.cnt = malloc((size_t)g.P * sizeof *g.cnt);
    g.off = malloc((size_t)g.P * sizeof *g.off);
    g.launch = malloc((size_t)g.P * sizeof *g.launch);
    g.order = malloc((size_t)g.P * sizeof *g.order);
    g.asin = malloc((size_t)g.P * 10);
    g.popz = malloc((size_t)g.P * sizeof *g.popz);
    g.stub = malloc(g.N * sizeof *g.stub);
    if (!g.deg || !g.cnt || !g.off || !g.launch || !g.order || !g.asin || !g.popz || !g.stub) {
        st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for %s ratings",
                            RECO_THOUSANDS(g.N));
        goto done;
    }
    if ((st = make_counts(&g, err)))
        goto done;
    /* Product factors before the matching (taste picks products by them);
     * user factors after it, when the matching's memory is free again. */
    g.itf = malloc((size_t)g.P * (g.k + 1) * sizeof *g.itf);
    if (!g.itf) {
        st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the latent factors");
        goto done;
    }
    make_factors(g.itf, g.P, g.k, p->seed, DOM_ITEM_F, SIG_ITEM_BIAS, g.popz, g.nt);
    reco_progress_report(&progress, "prepare", 1, steps);
    if ((st = match(&g, err)))
        goto done;
    free(g.deg);
    g.deg = NULL;
    reco_progress_report(&progress, "prepare", 2, steps);
    plan_times(&g);
    if ((st = make_asins(&g, err)))
        goto done;
    reco_progress_report(&progress, "prepare", 3, steps);
    g.uf = malloc((size_t)g.U * (g.k + 1) * sizeof *g.uf);
    g.score = malloc(g.N * sizeof *g.score);
    if (!g.uf || !g.score) {
        st = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the latent factors");
        goto done;
    }
    make_factors(g.uf, g.U, g.k, p->seed, DOM_USER_F, SIG_USER_BIAS, NULL, g.nt);
    reco_progress_report(&progress, "prepare", 4, steps);
    if ((st = make_scores(&g, err)))
        goto done;
    free(g.uf);
    g.uf = NULL;
    free(g.itf);
    g.itf = NULL;
    reco_progress_report(&progress, "prepare", steps, steps);
    st = write_all(&g, out, &progress, err);
done:
    free(g.deg);
    free(g.cnt);
    free(g.off);
    free(g.launch);
    free(g.order);
    free(g.asin);
    free(g.popz);
    free(g.stub);
    free(g.score);
    free(g.uf);
    free(g.itf);
    return st;
}

/* ---- events ------------------------------------------------------------------ */

/* A uniform draw in [0, 1) for event j of rating k: a hash, so the output
 * does not depend on how the ratings were made. */
static double event_draw(uint64_t seed, uint64_t k, int j)
{
    uint64_t h = reco_mix64(reco_mix64(seed ^ 0x6576656e7473ULL) + k * 8 + (uint64_t)j);
    return (double)(h >> 11) * 0x1.0p-53;
}

reco_status reco_gen_events_write(const reco_gen_params *p, FILE *out, reco_progress progress,
                                  reco_error *err)
{
    /* Stars 1..5 of the user's rating -> chances of a cart and a purchase. */
    static const double cart[6] = {0, 0.02, 0.05, 0.15, 0.40, 0.60};
    static const double buy[6] = {0, 0.01, 0.02, 0.08, 0.25, 0.40};
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the ratings");
    reco_status rc = reco_gen_write(p, mem, progress, err);
    if (fclose(mem) != 0 && !rc)
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory for the ratings");
    if (rc) {
        free(buf);
        return rc;
    }
    int bad = fputs("user,item,type,value,timestamp\n", out) < 0;
    uint64_t k = 0;
    for (char *line = buf; !bad && line < buf + len; k++) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (!nl)
            break;
        *nl = '\0';
        /* userId,productId,S.0,timestamp */
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        char *c3 = c2 ? strchr(c2 + 1, ',') : NULL;
        if (!c3) {
            free(buf);
            return reco_error_set(err, RECO_ERR_INTERNAL, "generated line %llu is malformed",
                                  (unsigned long long)k + 1);
        }
        int stars = c2[1] - '0';
        if (stars < 1 || stars > 5)
            stars = 3;
        long long ts = strtoll(c3 + 1, NULL, 10);
        int ul = (int)(c2 - line); /* "user,item" */
        bad |= fprintf(out, "%.*s,view,,%lld\n", ul, line, ts) < 0;
        if (event_draw(p->seed, k, 0) < 0.3)
            bad |= fprintf(out, "%.*s,view,,%lld\n", ul, line, ts + 3600) < 0;
        bool bought = event_draw(p->seed, k, 1) < buy[stars];
        if (bought || event_draw(p->seed, k, 2) < cart[stars])
            bad |= fprintf(out, "%.*s,cart,,%lld\n", ul, line, ts + 7200) < 0;
        if (bought)
            bad |= fprintf(out, "%.*s,purchase,1,%lld\n", ul, line, ts + 7260) < 0;
        if (bought && event_draw(p->seed, k, 3) < 0.5)
            bad |= fprintf(out, "%.*s,rating,%d,%lld\n", ul, line, stars, ts + 7 * 86400) < 0;
        line = nl + 1;
    }
    free(buf);
    if (bad || fflush(out) != 0)
        return reco_error_set(err, RECO_ERR_IO, "writing events: %s", strerror(errno));
    return RECO_OK;
}
