/* reco: the numbers of `reco explore`. Each statistic comes from one
 * sequential pass over the CSR (by user) or CSC (by item) arrays; the only
 * random accesses go to per-item arrays (a few MB, cache-resident). */
#include "reco/explore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SMALL_COUNTS 4096 /* counts below this find their bin by table lookup */
#define DAY 86400

/* Bins of a count: edges round(10^(k/8)), deduplicated, so 8 per decade
 * once they are wider than one value. Returns the number of bins covering
 * 1..max_count. */
static uint32_t make_bins(uint32_t max_count, reco_explore_bin *bins)
{
    uint32_t n = 0;
    uint64_t lo = 1;
    int k = 0;
    while (lo <= max_count && n < RECO_EXPLORE_MAX_BINS) {
        uint64_t edge;
        do {
            k++;
            edge = (uint64_t)llround(pow(10.0, k / 8.0));
        } while (edge <= lo);
        uint64_t hi = edge - 1;
        if (hi > UINT32_MAX)
            hi = UINT32_MAX;
        memset(&bins[n], 0, sizeof bins[n]);
        bins[n].lo = (uint32_t)lo;
        bins[n].hi = (uint32_t)hi;
        n++;
        lo = edge;
    }
    return n;
}

static uint32_t bin_of(const reco_explore_bin *bins, uint32_t n, const uint8_t *small,
                       uint32_t c)
{
    if (c < SMALL_COUNTS)
        return small[c];
    uint32_t a = 0, b = n; /* the last bin with lo <= c */
    while (b - a > 1) {
        uint32_t m = (a + b) / 2;
        if (bins[m].lo <= c)
            a = m;
        else
            b = m;
    }
    return a;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
 * days_from_civil inverse): pure integer arithmetic, no time zone. */
static void civil_from_days(int64_t z, int64_t *year, int *month)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (m <= 2);
    *month = m;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t month_of_day(int64_t day)
{
    int64_t y;
    int m;
    civil_from_days(day, &y, &m);
    return (y - 1970) * 12 + (m - 1);
}

/* Ratings per user: bins, mean rating by activity, the threshold table of
 * users and ratings, cold users. */
static void user_pass(const reco_csr *m, reco_explore *ex, const uint8_t *small,
                      uint64_t *t_users, uint64_t *t_ratings)
{
    double s1[RECO_EXPLORE_MAX_BINS] = {0}, s2[RECO_EXPLORE_MAX_BINS] = {0};
    double sr[RECO_EXPLORE_MAX_BINS] = {0};
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t a = m->ptr[u], b = m->ptr[u + 1];
        uint32_t c = (uint32_t)(b - a);
        if (c == 0)
            continue;
        double sum = 0;
        for (uint64_t k = a; k < b; k++)
            sum += m->val[k];
        double mean = sum / c;
        reco_explore_bin *bin = &ex->user_bins[bin_of(ex->user_bins, ex->n_user_bins, small, c)];
        bin->users++;
        bin->ratings += c;
        size_t bi = (size_t)(bin - ex->user_bins);
        s1[bi] += mean;
        s2[bi] += mean * mean;
        sr[bi] += sum;
        uint32_t t = c > RECO_EXPLORE_THRESHOLDS ? RECO_EXPLORE_THRESHOLDS + 1 : c;
        t_users[t]++;
        t_ratings[t] += c;
        ex->cold_users += c < RECO_EXPLORE_COLD;
    }
    for (uint32_t i = 0; i < ex->n_user_bins; i++) {
        reco_explore_bin *bin = &ex->user_bins[i];
        bin->per_value = (double)bin->users / ((double)bin->hi - bin->lo + 1);
        if (bin->users) {
            double n = (double)bin->users;
            bin->mean_of_means = s1[i] / n;
            double var = s2[i] / n - bin->mean_of_means * bin->mean_of_means;
            bin->sd_of_means = var > 0 ? sqrt(var) : 0;
            bin->rating_mean = sr[i] / (double)bin->ratings;
        } else {
            bin->mean_of_means = bin->sd_of_means = bin->rating_mean = NAN;
        }
    }
}

/* Products kept by a user threshold t are those with a rater of activity
 * >= t, i.e. whose most active rater has >= t ratings: one pass in CSR
 * order writes the per-item maximum (the item array stays in cache), then
 * a histogram of the maxima gives every threshold at once. */
static reco_status product_thresholds(const reco_csr *m, uint32_t n_items, uint64_t *t_products,
                                      reco_error *err)
{
    uint32_t *best = calloc(n_items ? n_items : 1, sizeof *best);
    if (!best)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory exploring products");
    for (uint32_t u = 0; u < m->n_rows; u++) {
        uint64_t a = m->ptr[u], b = m->ptr[u + 1];
        uint32_t c = (uint32_t)(b - a);
        for (uint64_t k = a; k < b; k++) {
            uint32_t i = m->idx[k];
            if (best[i] < c)
                best[i] = c;
        }
    }
    for (uint32_t i = 0; i < n_items; i++) {
        uint32_t c = best[i];
        if (c == 0)
            continue;
        t_products[c > RECO_EXPLORE_THRESHOLDS ? RECO_EXPLORE_THRESHOLDS + 1 : c]++;
    }
    free(best);
    return RECO_OK;
}

static bool top_better(const reco_explore_product *a, uint32_t count, double mean, uint32_t idx)
{
    if (count != a->ratings)
        return count > a->ratings;
    if (mean != a->mean)
        return mean > a->mean;
    return idx < a->index;
}

/* Products: counts sorted (counting sort), top list, cold products, Gini,
 * the rank curve and the shares of the top 1% and 20%. */
static reco_status product_pass(const reco_dataset *ds, reco_explore *ex, reco_error *err)
{
    const reco_csr *m = &ds->by_item;
    uint32_t n = m->n_rows;
    uint32_t max_c = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = reco_csr_row_len(m, i);
        if (c > max_c)
            max_c = c;
    }
    uint32_t *hist = calloc((size_t)max_c + 1, sizeof *hist);
    uint32_t *desc = malloc((n ? n : 1) * sizeof *desc);
    if (!hist || !desc) {
        free(hist);
        free(desc);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory exploring products");
    }
    uint32_t n_active = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = m->ptr[i], b = m->ptr[i + 1];
        uint32_t c = (uint32_t)(b - a);
        hist[c]++;
        if (c == 0)
            continue;
        n_active++;
        ex->cold_products += c < RECO_EXPLORE_COLD;
        double sum = 0;
        for (uint64_t k = a; k < b; k++)
            sum += m->val[k];
        double mean = sum / c;
        if (ex->n_top < RECO_EXPLORE_TOP || top_better(&ex->top[ex->n_top - 1], c, mean, i)) {
            uint32_t pos = ex->n_top < RECO_EXPLORE_TOP ? ex->n_top++ : RECO_EXPLORE_TOP - 1;
            while (pos > 0 && top_better(&ex->top[pos - 1], c, mean, i)) {
                ex->top[pos] = ex->top[pos - 1];
                pos--;
            }
            reco_explore_product *p = &ex->top[pos];
            memset(p, 0, sizeof *p);
            p->index = i;
            p->ratings = c;
            p->mean = mean;
        }
    }
    for (uint32_t k = 0; k < ex->n_top; k++) {
        size_t len = 0;
        const char *key = reco_idmap_key(ds->items, ex->top[k].index, &len);
        if (len > RECO_ID_MAX)
            len = RECO_ID_MAX;
        memcpy(ex->top[k].id, key, len);
        ex->top[k].id[len] = '\0';
    }
    /* Counts in descending order (products without ratings, possible only
     * with kept IDs, are left out of the popularity curve). */
    uint32_t w = 0;
    for (uint32_t c = max_c; c >= 1; c--)
        for (uint32_t j = 0; j < hist[c]; j++)
            desc[w++] = c;
    free(hist);

    uint64_t total = m->nnz;
    /* Gini over ascending order: sum (2i - n - 1) x_i / (n sum x), i from 1;
     * desc[j] is the (n - j)-th smallest. */
    double g = 0;
    for (uint32_t j = 0; j < n_active; j++) {
        double i = (double)(n_active - j);
        g += (2 * i - n_active - 1) * desc[j];
    }
    ex->gini = n_active && total ? g / ((double)n_active * (double)total) : 0;

    /* ceil(1%) and ceil(20%) in integers: 20% of 5 is exactly 1. */
    ex->top1_products = (uint32_t)(((uint64_t)n_active + 99) / 100);
    ex->top20_products = (uint32_t)(((uint64_t)n_active * 20 + 99) / 100);
    uint64_t cum = 0;
    for (uint32_t j = 0; j < n_active; j++) {
        cum += desc[j];
        if (j + 1 == ex->top1_products)
            ex->top1_share = (double)cum / (double)total;
        if (j + 1 == ex->top20_products)
            ex->top20_share = (double)cum / (double)total;
    }

    /* Rank samples: every rank up to 10, then about 60 per decade. */
    ex->n_ranks = 0;
    double r = 1;
    uint64_t last = 0;
    while (n_active && ex->n_ranks < RECO_EXPLORE_MAX_RANKS - 1) {
        uint64_t rank = (uint64_t)llround(r);
        if (rank > n_active)
            break;
        if (rank != last) {
            ex->rank[ex->n_ranks] = (uint32_t)rank;
            ex->rank_count[ex->n_ranks] = desc[rank - 1];
            ex->n_ranks++;
            last = rank;
        }
        r = r < 10 ? r + 1 : r * pow(10, 1.0 / 60);
    }
    if (n_active && last != n_active) {
        ex->rank[ex->n_ranks] = n_active;
        ex->rank_count[ex->n_ranks] = desc[n_active - 1];
        ex->n_ranks++;
    }
    free(desc);
    ex->cold_product_share = n_active ? (double)ex->cold_products / n_active : 0;
    return RECO_OK;
}

static reco_status month_pass(const reco_dataset *ds, reco_explore *ex, reco_error *err)
{
    const reco_stats *st = &ex->stats;
    const reco_csr *m = &ds->by_user;
    if (!st->has_ts || !m->ts || m->nnz == 0) {
        ex->time_note = "the data has no timestamps";
        return RECO_OK;
    }
    int64_t dmin = floor_div(st->ts_min, DAY), dmax = floor_div(st->ts_max, DAY);
    int64_t mmin = month_of_day(dmin), mmax = month_of_day(dmax);
    if (mmax - mmin + 1 > RECO_EXPLORE_MAX_MONTHS || mmin < INT32_MIN / 2 ||
        mmax > INT32_MAX / 2) {
        ex->time_note = "the timestamps span more than 200 years (are they Unix seconds?)";
        return RECO_OK;
    }
    uint32_t n_months = (uint32_t)(mmax - mmin + 1);
    uint64_t n_days = (uint64_t)(dmax - dmin + 1);
    /* A day -> month table makes the per-rating work a division and a load. */
    uint16_t *day_month = malloc(n_days * sizeof *day_month);
    uint64_t *cnt = calloc(n_months, sizeof *cnt);
    double *sum = calloc(n_months, sizeof *sum);
    ex->months = calloc(n_months, sizeof *ex->months);
    if (!day_month || !cnt || !sum || !ex->months) {
        free(day_month);
        free(cnt);
        free(sum);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory exploring timestamps");
    }
    for (uint64_t d = 0; d < n_days; d++)
        day_month[d] = (uint16_t)(month_of_day(dmin + (int64_t)d) - mmin);
    for (uint64_t k = 0; k < m->nnz; k++) {
        uint16_t mo = day_month[floor_div(m->ts[k], DAY) - dmin];
        cnt[mo]++;
        sum[mo] += m->val[k];
    }
    for (uint32_t i = 0; i < n_months; i++) {
        ex->months[i].month = (int32_t)(mmin + i);
        ex->months[i].ratings = cnt[i];
        ex->months[i].mean = cnt[i] ? sum[i] / (double)cnt[i] : NAN;
    }
    ex->n_months = n_months;
    free(day_month);
    free(cnt);
    free(sum);
    return RECO_OK;
}

reco_status reco_explore_compute(const reco_dataset *ds, reco_explore **out, reco_error *err)
{
    *out = NULL;
    if (!ds)
        return reco_error_set(err, RECO_ERR_INVALID, "explore: no dataset");
    if (reco_dataset_nnz(ds) == 0)
        return reco_error_set(err, RECO_ERR_EMPTY, "explore: the dataset has no ratings");
    reco_explore *ex = calloc(1, sizeof *ex);
    if (!ex)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory exploring the dataset");
    reco_status rc = reco_stats_compute(ds, &ex->stats, err);
    if (rc)
        goto fail;
    ex->lines = ds->load.lines;
    ex->input_ratings = ds->input_ratings;
    const reco_stats *st = &ex->stats;
    ex->single_user_share = st->users ? (double)st->users_with_one / st->users : 0;

    ex->n_user_bins = make_bins(st->per_user.max, ex->user_bins);
    uint8_t small[SMALL_COUNTS];
    memset(small, 0, sizeof small);
    for (uint32_t b = 0; b < ex->n_user_bins; b++)
        for (uint64_t c = ex->user_bins[b].lo; c <= ex->user_bins[b].hi && c < SMALL_COUNTS; c++)
            small[c] = (uint8_t)b;

    /* Index RECO_EXPLORE_THRESHOLDS + 1 collects every count above 100. */
    uint64_t t_users[RECO_EXPLORE_THRESHOLDS + 2] = {0};
    uint64_t t_ratings[RECO_EXPLORE_THRESHOLDS + 2] = {0};
    uint64_t t_products[RECO_EXPLORE_THRESHOLDS + 2] = {0};
    user_pass(&ds->by_user, ex, small, t_users, t_ratings);
    ex->cold_user_share = st->users ? (double)ex->cold_users / st->users : 0;
    rc = product_thresholds(&ds->by_user, reco_dataset_n_items(ds), t_products, err);
    if (rc)
        goto fail;
    reco_explore_threshold acc = {0, 0, 0};
    for (int t = RECO_EXPLORE_THRESHOLDS + 1; t >= 1; t--) {
        acc.users += t_users[t];
        acc.ratings += t_ratings[t];
        acc.products += t_products[t];
        if (t <= RECO_EXPLORE_THRESHOLDS)
            ex->threshold[t] = acc;
    }
    rc = product_pass(ds, ex, err);
    if (!rc)
        rc = month_pass(ds, ex, err);
    if (rc)
        goto fail;
    *out = ex;
    return RECO_OK;
fail:
    reco_explore_free(ex);
    return rc;
}

void reco_explore_free(reco_explore *ex)
{
    if (!ex)
        return;
    free(ex->months);
    free(ex);
}
