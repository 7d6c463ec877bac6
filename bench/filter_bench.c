/* Benchmark driver for request-time rules (reco/item_filter.h): the cost
 * of a filtered top-10 against an unfiltered one on the same model, per
 * request, one thread. The filter is the issue's: a category (a range of
 * pre-order numbers covering about 20% of the products, from a synthetic
 * item_category array), an exclude list of 100 random products, and the
 * unavailable products hidden (a bitset of about 5%); the user's rated
 * products are excluded in both. The catalogue's attributes are also laid
 * out in the walk order of the model's top-N index (reco_item_filter.walks,
 * as reco serve does once per catalogue snapshot); the same filter without
 * them (each candidate looked up through the order) is timed for the
 * record. Also: a narrow category (2%) and a cap of 2 per category.
 *
 *   filter_bench MODEL [N_USERS]
 *
 * Users: random ones, and random ones among those with >= 50 ratings. Each
 * user's unfiltered and filtered requests run back to back (the machine's
 * load hits both alike). Prints percentiles in microseconds and the ratio
 * of the medians. Built by bench/filter_bench.sh against libreco.a. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/clock.h"
#include "reco/factor_index.h"
#include "reco/model.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double pct(const double *s, size_t n, double p) { return s[(size_t)(p * (n - 1))]; }

static void report(const char *what, double *t, size_t n, double base_median)
{
    qsort(t, n, sizeof *t, cmp_double);
    printf("  %-34s p10 %7.1f  median %7.1f  p90 %7.1f  p99 %8.1f us", what, pct(t, n, 0.1),
           pct(t, n, 0.5), pct(t, n, 0.9), pct(t, n, 0.99));
    if (base_median > 0)
        printf("  x%.2f", pct(t, n, 0.5) / base_median);
    putchar('\n');
}

#define N_EXCLUDE 100
#define N_CATEGORIES 50 /* categories 0..49, evenly spread over the products */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: filter_bench MODEL [N_USERS]\n");
        return 2;
    }
    size_t want = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000;
    reco_error err;
    reco_model *m = NULL;
    if (reco_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "filter_bench: %s\n", err.msg);
        return 1;
    }
    const uint32_t ni = reco_dataset_n_items(m->train);
    const reco_csr *R = &m->train->by_user;
    uint32_t *heavy_all = malloc((size_t)R->n_rows * sizeof *heavy_all);
    size_t n_heavy = 0;
    for (uint32_t u = 0; u < R->n_rows; u++)
        if (R->ptr[u + 1] - R->ptr[u] >= 50)
            heavy_all[n_heavy++] = u;
    uint32_t *rnd = malloc(want * sizeof *rnd), *heavy = malloc(want * sizeof *heavy);
    for (size_t j = 0; j < want; j++) {
        rnd[j] = (uint32_t)(next() % R->n_rows);
        heavy[j] = heavy_all[next() % n_heavy];
    }
    /* The catalogue's synthetic attributes. */
    uint32_t *cat = malloc((size_t)ni * sizeof *cat);
    uint64_t *hidden = calloc(ni / 64 + 1, sizeof *hidden);
    size_t n_hidden = 0;
    for (uint32_t i = 0; i < ni; i++) {
        cat[i] = (uint32_t)(next() % N_CATEGORIES);
        if (next() % 100 < 5) {
            hidden[i / 64] |= 1ull << (i % 64);
            n_hidden++;
        }
    }
    const reco_category_range wide = {0, N_CATEGORIES / 5}, narrow = {7, 8};
    reco_item_filter_walk walks[RECO_FACTOR_ORDERS];
    size_t n_walks = 0;
    const reco_factor_index *ix = reco_model_topn_index(m);
    /* The orders split by category, one part per category (as reco serve
     * splits by top-level category), unless SPLIT=0. */
    static reco_factor_split splits[RECO_FACTOR_ORDERS];
    reco_category_range parts[N_CATEGORIES];
    for (uint32_t c = 0; c < N_CATEGORIES; c++)
        parts[c] = (reco_category_range){c, c + 1};
    const int split = !getenv("SPLIT") || atoi(getenv("SPLIT"));
    double split_s = 0, split_mb = 0;
    for (uint32_t o = 0; ix && o < ix->n_orders; o++, n_walks++) {
        const double t0 = reco_clock_s();
        if (reco_item_filter_walk_build(&walks[o], ix->ord[o].order, ix->ord[o].n, cat, ni,
                                        hidden, ni)) {
            fprintf(stderr, "filter_bench: out of memory\n");
            return 1;
        }
        if (split && reco_factor_split_build(&splits[o], &ix->ord[o], cat, ni, parts,
                                             N_CATEGORIES, &err)) {
            fprintf(stderr, "filter_bench: %s\n", err.msg);
            return 1;
        }
        walks[o].split = split ? &splits[o] : NULL;
        split_s += reco_clock_s() - t0;
        /* Per part position: order, qrow, b, norm, the two suffix maxima,
         * the 8 lambda ones, the 8-bit row, its scale and sum, category. */
        for (uint32_t r = 0; split && r < splits[o].n_parts; r++)
            split_mb += splits[o].part[r].n * (4.0 * (6 + RECO_FACTOR_LAMBDAS + 3) +
                                               (ix->ord[o].k + 3) / 4 * 4) / 1e6;
    }
    if (split)
        printf("split: %u parts per order, walks + splits of %u orders built in %.2f s, "
               "splits %.0f MB\n", splits[0].n_parts, ix ? ix->n_orders : 0, split_s, split_mb);
    uint32_t (*ex)[N_EXCLUDE] = malloc(want * sizeof *ex);
    for (size_t j = 0; j < want; j++) {
        for (int k = 0; k < N_EXCLUDE; k++)
            ex[j][k] = (uint32_t)(next() % ni);
        qsort(ex[j], N_EXCLUDE, sizeof **ex, cmp_u32);
    }
    printf("%s: %s, %u products (%zu hidden, %d categories, the range [%u, %u) admits 20%%), "
           "%zu users with >= 50 ratings\n",
           argv[1], m->ops->name, ni, n_hidden, N_CATEGORIES, wide.lo, wide.hi, n_heavy);
    void *scratch = malloc(reco_model_scratch_size(m));
    double *t0 = malloc(want * sizeof *t0), *t1 = malloc(want * sizeof *t1);
    double *t2 = malloc(want * sizeof *t2), *t3 = malloc(want * sizeof *t3);
    double *t4 = malloc(want * sizeof *t4), *t5 = malloc(want * sizeof *t5);
    reco_scored out[50];
    size_t got, short_lists = 0;
    for (int warm = 0; warm < 2; warm++) {
        for (int h = 0; h < 2; h++) {
            const uint32_t *us = h ? heavy : rnd;
            for (size_t j = 0; j < want; j++) {
                reco_profile prof = reco_profile_of_user(m->train, us[j]);
                reco_item_filter f = {
                    .exclude = ex[j], .n_exclude = N_EXCLUDE, .hidden = hidden,
                    .n_hidden_bits = ni, .item_category = cat, .n_item_category = ni,
                    .categories = &wide, .n_categories = 1, .walks = walks,
                    .n_walks = n_walks};
                double a = reco_clock_s();
                int bad = reco_model_recommend(m, &prof, 10, true, out, &got, NULL, scratch, &err);
                double b = reco_clock_s();
                bad |= reco_model_recommend_filtered(m, &prof, 10, true, &f, out, &got, NULL,
                                                     scratch, &err);
                double c = reco_clock_s();
                short_lists += got < 10;
                f.categories = &narrow;
                bad |= reco_model_recommend_filtered(m, &prof, 10, true, &f, out, &got, NULL,
                                                     scratch, &err);
                double d = reco_clock_s();
                f.categories = &wide;
                f.max_per_category = 2;
                bad |= reco_model_recommend_filtered(m, &prof, 10, true, &f, out, &got, NULL,
                                                     scratch, &err);
                double e = reco_clock_s();
                bad |= reco_model_recommend(m, &prof, 50, true, out, &got, NULL, scratch, &err);
                double g = reco_clock_s();
                f.max_per_category = 0;
                f.walks = NULL;
                f.n_walks = 0;
                bad |= reco_model_recommend_filtered(m, &prof, 10, true, &f, out, &got, NULL,
                                                     scratch, &err);
                t5[j] = (reco_clock_s() - g) * 1e6;
                t4[j] = (g - e) * 1e6;
                if (bad) {
                    fprintf(stderr, "filter_bench: %s\n", err.msg);
                    return 1;
                }
                t0[j] = (b - a) * 1e6;
                t1[j] = (c - b) * 1e6;
                t2[j] = (d - c) * 1e6;
                t3[j] = (e - d) * 1e6;
            }
            if (!warm)
                continue;
            printf(" top 10, %s users (%zu):\n", h ? ">= 50 ratings" : "random", want);
            qsort(t0, want, sizeof *t0, cmp_double);
            double base = pct(t0, want, 0.5);
            report("unfiltered", t0, want, 0);
            report("category 20% + exclude 100 + hidden", t1, want, base);
            report("narrow category (2%) + the rest", t2, want, base);
            report("20% + the rest + 2 per category", t3, want, base);
            report("unfiltered, top 50", t4, want, base);
            report("category 20% + exclude 100 + hidden, no walks", t5, want, base);
        }
    }
    printf("  short filtered lists: %zu\n", short_lists);
    free(t0);
    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(t5);
    for (size_t o = 0; o < n_walks; o++) {
        reco_item_filter_walk_clear(&walks[o]);
        reco_factor_split_clear(&splits[o]);
    }
    free(ex);
    free(cat);
    free(hidden);
    free(scratch);
    free(rnd);
    free(heavy);
    free(heavy_all);
    reco_model_free(m);
    return 0;
}
