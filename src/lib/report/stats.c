/* reco: dataset statistics (reco/stats.h): counts, rating distribution
 * and per-user / per-product count distributions, from one pass over the
 * matrices. */
#include "reco/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint32_t reco_quantile_u32(uint32_t *v, uint64_t n, double q)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* Counts are small integers with a long tail: a counting sort is O(n). */
static int sort_counts(uint32_t *v, uint64_t n)
{
    uint32_t mx = 0;
    for (uint64_t i = 0; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    if (mx > (1u << 26)) {
        qsort(v, n, sizeof *v, cmp_u32);
        return 0;
    }
    uint64_t *cnt = calloc((size_t)mx + 1, sizeof *cnt);
    if (!cnt)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        cnt[v[i]]++;
    uint64_t w = 0;
    for (uint32_t x = 0; x <= mx; x++)
        for (uint64_t c = 0; c < cnt[x]; c++)
            v[w++] = x;
    free(cnt);
    return 0;
}

static int summarize(const reco_csr *m, reco_count_summary *s, uint64_t *ones)
{
    memset(s, 0, sizeof *s);
    uint64_t n = m->n_rows;
    if (n == 0)
        return 0;
    uint32_t *v = malloc(n * sizeof *v);
    if (!v)
        return -1;
    uint64_t one = 0;
    for (uint64_t r = 0; r < n; r++) {
        v[r] = (uint32_t)(m->ptr[r + 1] - m->ptr[r]);
        one += v[r] == 1;
    }
    if (sort_counts(v, n)) {
        free(v);
        return -1;
    }
    s->min = v[0];
    s->max = v[n - 1];
    s->median = reco_quantile_u32(v, n, 0.5);
    s->p90 = reco_quantile_u32(v, n, 0.9);
    s->p99 = reco_quantile_u32(v, n, 0.99);
    s->mean = (double)m->nnz / (double)n;
    if (ones)
        *ones = one;
    free(v);
    return 0;
}

static void hist_add(reco_stats *st, double v, uint64_t c)
{
    uint32_t n = st->hist_bins;
    for (uint32_t b = 0; b < n; b++)
        if (st->hist_value[b] == v) {
            st->hist_count[b] += c;
            return;
        }
    if (n < RECO_STATS_HIST_MAX) {
        uint32_t b = n;
        while (b > 0 && st->hist_value[b - 1] > v) {
            st->hist_value[b] = st->hist_value[b - 1];
            st->hist_count[b] = st->hist_count[b - 1];
            b--;
        }
        st->hist_value[b] = v;
        st->hist_count[b] = c;
        st->hist_bins++;
        return;
    }
    uint32_t best = 0;
    for (uint32_t b = 1; b < n; b++)
        if (fabs(st->hist_value[b] - v) < fabs(st->hist_value[best] - v))
            best = b;
    st->hist_count[best] += c;
}

reco_status reco_stats_compute(const reco_dataset *ds, reco_stats *st, reco_error *err)
{
    memset(st, 0, sizeof *st);
    const reco_csr *m = &ds->by_user;
    st->users = m->n_rows;
    st->items = m->n_cols;
    st->ratings = m->nnz;
    st->density = m->n_rows && m->n_cols
                      ? (double)m->nnz / ((double)m->n_rows * (double)m->n_cols) : 0.0;
    st->lines = ds->load.lines;
    st->input_ratings = ds->input_ratings;
    st->header = ds->load.header;
    memcpy(st->separator, ds->load.sep, sizeof st->separator);
    st->separator[sizeof st->separator - 1] = '\0';
    st->duplicates_removed = ds->duplicates_removed;
    st->bad_lines = ds->load.bad_lines;
    st->filtered_ratings = ds->filtered_ratings;
    st->filtered_users = ds->filtered_users;
    st->filtered_items = ds->filtered_items;

    /* Rating values are few (1..5, maybe half stars): count them in a small
     * table keyed by twice the value, falling back to the general path. */
    uint64_t fast[21] = {0};
    double sum = 0, sumsq = 0;
    st->rating_min = INFINITY;
    st->rating_max = -INFINITY;
    for (uint64_t k = 0; k < m->nnz; k++) {
        double v = m->val[k];
        sum += v;
        sumsq += v * v;
        if (v < st->rating_min)
            st->rating_min = v;
        if (v > st->rating_max)
            st->rating_max = v;
        double h = v * 2.0;
        if (h >= 0 && h <= 20 && h == floor(h))
            fast[(int)h]++;
        else
            hist_add(st, v, 1);
    }
    for (int h = 0; h <= 20; h++)
        if (fast[h])
            hist_add(st, h / 2.0, fast[h]);
    if (m->nnz) {
        st->mean = sum / (double)m->nnz;
        double var = sumsq / (double)m->nnz - st->mean * st->mean;
        st->stddev = var > 0 ? sqrt(var) : 0.0;
    } else {
        st->rating_min = st->rating_max = 0;
    }
    if (summarize(&ds->by_user, &st->per_user, &st->users_with_one) ||
        summarize(&ds->by_item, &st->per_item, NULL))
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory computing statistics");

    st->has_ts = ds->has_ts && m->ts != NULL;
    if (st->has_ts && m->nnz) {
        st->ts_min = INT64_MAX;
        st->ts_max = INT64_MIN;
        for (uint64_t k = 0; k < m->nnz; k++) {
            if (m->ts[k] < st->ts_min)
                st->ts_min = m->ts[k];
            if (m->ts[k] > st->ts_max)
                st->ts_max = m->ts[k];
        }
    }
    return RECO_OK;
}
