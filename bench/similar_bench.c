/* Benchmark driver for similar products (bench/similar_bench.sh builds and
 * runs it). Reports figures; asserts nothing.
 *
 *   similar_bench quality FILE SPLIT ALGO [key=value ...]
 *       Fits ALGO on the training part of SPLIT ("random:0.2", "time:0.2",
 *       or "test:PATH" for FILE whole against the test file PATH) of FILE
 *       and judges top-10 similar-product lists against what came
 *       later: for every training rating >= 4 of a user u for a product i
 *       (u with at least one test rating >= 4), a hit is a product of i's
 *       list that u rated >= 4 in the test part ("liked this, later liked
 *       that"). Precision@10 = hits / (10 x pairs). Lists from each source
 *       alone and from the whole chain; for factor models also the factors
 *       source for a range of similar.min_support floors, with the share
 *       of listed products rated fewer than 5 times and the number of
 *       distinct products listed (catalogue coverage). IPS weighs each
 *       hit by 1 / (test ratings >= 4 of the product), x 1000 per pair, so
 *       that listing bestsellers, which every metric of this kind
 *       rewards, does not win by itself. At most 5,000 products (a fixed
 *       random sample; SIMILAR_BENCH_PRODUCTS sets another count) are
 *       judged. The split's seed is 1, or SIMILAR_BENCH_SEED.
 *   similar_bench latency FILE ALGO COUNT [key=value ...]
 *       Fits, then times reco_model_similar (n = 10, one scratch reused as
 *       a server thread does) for COUNT random products with training
 *       ratings (fixed seed): median, p99 and max, over all of them and
 *       over those whose list went past co_rated. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reco/dataset.h"
#include "reco/model.h"
#include "reco/split.h"

#define LIST 10
#define MAX_PRODUCTS 5000

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const reco_error *e)
{
    fprintf(stderr, "similar_bench: %s: %s\n", what, e->msg);
    exit(1);
}

static void set_params(reco_model *m, int argc, char **argv)
{
    reco_error e;
    for (int a = 0; a < argc; a++) {
        char key[128];
        const char *eq = strchr(argv[a], '=');
        if (!eq || (size_t)(eq - argv[a]) >= sizeof key) {
            fprintf(stderr, "similar_bench: expected key=value, got %s\n", argv[a]);
            exit(2);
        }
        memcpy(key, argv[a], (size_t)(eq - argv[a]));
        key[eq - argv[a]] = 0;
        if (reco_model_set_param(m, key, eq + 1, &e))
            die("parameter", &e);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Up to max products with training ratings, a fixed random sample in
 * ascending order; returns the count. */
static uint32_t sample_products(const reco_dataset *d, uint32_t max, uint32_t *out)
{
    const reco_csr *C = &d->by_item;
    uint32_t n = 0;
    for (uint32_t i = 0; i < C->n_rows; i++)
        if (reco_csr_row_len(C, i))
            out[n++] = i;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (uint32_t k = 0; k < n && k < max; k++) {
        uint32_t r = k + (uint32_t)(xorshift(&s) % (n - k));
        uint32_t t = out[k];
        out[k] = out[r];
        out[r] = t;
    }
    return n < max ? n : max;
}

static reco_model *fit(const char *algo, const reco_dataset *train, int argc, char **argv)
{
    reco_error e;
    reco_model *m;
    if (reco_model_new(algo, &m, &e))
        die("model", &e);
    set_params(m, argc, argv);
    if (reco_model_fit(m, train, NULL, &e))
        die("fit", &e);
    return m;
}

typedef struct judge {
    const reco_dataset *train, *test;
    uint8_t *liked_later; /* users with a test rating >= 4 */
    uint32_t *likes;      /* test ratings >= 4 of each product */
} judge;

/* Hits and pairs of product i's list. */
static void judge_list(const judge *J, uint32_t i, const uint32_t *list, size_t n,
                       uint64_t *hits, double *ips, uint64_t *pairs)
{
    const reco_csr *C = &J->train->by_item, *T = &J->test->by_user;
    for (uint64_t k = C->ptr[i]; k < C->ptr[i + 1]; k++) {
        uint32_t u = C->idx[k];
        if (C->val[k] < 4 || u >= T->n_rows || !J->liked_later[u])
            continue;
        (*pairs)++;
        for (size_t x = 0; x < n; x++) {
            int64_t p = reco_csr_find(T, u, list[x]);
            if (p >= 0 && T->val[p] >= 4) {
                (*hits)++;
                *ips += 1.0 / J->likes[list[x]];
            }
        }
    }
}

typedef struct tally {
    double ips;
    uint64_t hits, pairs, listed, rare;
    uint32_t distinct;
    uint8_t *seen;
} tally;

static void tally_list(tally *t, const judge *J, uint32_t i, const uint32_t *list, size_t n)
{
    judge_list(J, i, list, n, &t->hits, &t->ips, &t->pairs);
    const reco_csr *C = &J->train->by_item;
    for (size_t x = 0; x < n; x++) {
        t->listed++;
        t->rare += reco_csr_row_len(C, list[x]) < 5;
        if (!t->seen[list[x]]) {
            t->seen[list[x]] = 1;
            t->distinct++;
        }
    }
}

static int quality(const char *file, const char *split, const char *algo, int argc, char **argv)
{
    reco_error e;
    reco_load_options lo;
    reco_load_options_default(&lo);
    reco_build_options bo;
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *all, *train, *test;
    if (reco_dataset_load(file, &lo, &bo, &all, &e))
        die(file, &e);
    reco_split_spec spec;
    reco_splitter *sp = NULL;
    const char *seed = getenv("SIMILAR_BENCH_SEED");
    if (!strncmp(split, "test:", 5)) {
        /* A test file of its own (MovieLens' u1.test beside u1.base). */
        train = all;
        all = NULL;
        if (reco_split_load_test(split + 5, train, NULL, &test, &e))
            die(split + 5, &e);
    } else if (reco_split_parse(split, seed ? strtoull(seed, NULL, 10) : 1, &spec, &e) ||
               reco_splitter_new(all, &spec, &sp, &e) ||
               reco_splitter_get(sp, 0, &train, &test, &e)) {
        die("split", &e);
    }
    reco_model *m = fit(algo, train, argc, argv);
    uint32_t ni = reco_dataset_n_items(train), nu = reco_dataset_n_users(train);
    judge J = {train, test, calloc((size_t)nu + 1, 1), calloc((size_t)ni + 1, sizeof(uint32_t))};
    const reco_csr *T = &test->by_user;
    for (uint32_t u = 0; u < T->n_rows && u < nu; u++)
        for (uint64_t k = T->ptr[u]; k < T->ptr[u + 1]; k++)
            if (T->val[k] >= 4 && T->idx[k] < ni) {
                J.liked_later[u] = 1;
                J.likes[T->idx[k]]++;
            }
    uint32_t *prods = malloc(((size_t)ni + 1) * sizeof *prods);
    const char *env = getenv("SIMILAR_BENCH_PRODUCTS");
    uint32_t np = sample_products(train, env ? (uint32_t)atoi(env) : MAX_PRODUCTS, prods);
    void *scratch = calloc(1, reco_model_similar_scratch_size(m));
    reco_similar_source chain[RECO_SIMILAR_SOURCES];
    size_t nc = reco_model_similar_chain(m, chain);
    printf("%s, %s split of %s: %u products judged, similar.min_support=%u\n", algo, split,
           file, np, m->similar_params.min_support);

    /* The whole chain, and the share of each source in it. */
    tally t = {0};
    t.seen = calloc((size_t)ni + 1, 1);
    uint64_t by_source[RECO_SIMILAR_SOURCES] = {0};
    for (uint32_t x = 0; x < np; x++) {
        reco_similar out[LIST];
        uint32_t ids[LIST];
        size_t n;
        if (reco_model_similar(m, prods[x], LIST, out, &n, scratch, &e))
            die("similar", &e);
        for (size_t y = 0; y < n; y++) {
            ids[y] = out[y].id;
            by_source[out[y].source]++;
        }
        tally_list(&t, &J, prods[x], ids, n);
    }
    printf("  %-26s P@10 %.4f  IPS %.3f  rated<5 %5.1f%%  distinct %u  (", "chain",
           t.pairs ? (double)t.hits / (10.0 * (double)t.pairs) : 0.0,
           t.pairs ? 1e3 * t.ips / (double)t.pairs : 0.0,
           t.listed ? 100.0 * (double)t.rare / (double)t.listed : 0.0, t.distinct);
    for (size_t c = 0; c < nc; c++)
        printf("%s%s %.1f%%", c ? ", " : "", reco_similar_source_name(chain[c]),
               t.listed ? 100.0 * (double)by_source[chain[c]] / (double)t.listed : 0.0);
    printf(")\n");
    free(t.seen);

    /* Each source alone (what it lists on its own, possibly fewer). */
    for (size_t c = 0; c < nc; c++) {
        uint32_t floors[] = {1, 2, 3, 5, 10, 20, 50};
        size_t nf = chain[c] == RECO_SIMILAR_FACTORS ? sizeof floors / sizeof *floors : 1;
        char keep[16];
        snprintf(keep, sizeof keep, "%u", m->similar_params.min_support);
        for (size_t f = 0; f < nf; f++) {
            char v[16];
            snprintf(v, sizeof v, "%u", floors[f]);
            /* Rebuilds the factor index for the floor. */
            if (chain[c] == RECO_SIMILAR_FACTORS &&
                reco_model_set_param(m, "similar.min_support", v, &e))
                die("similar.min_support", &e);
            tally s = {0};
            s.seen = calloc((size_t)ni + 1, 1);
            uint64_t full = 0;
            for (uint32_t x = 0; x < np; x++) {
                reco_scored out[LIST];
                uint32_t ids[LIST];
                size_t n;
                if (reco_model_similar_source(m, chain[c], prods[x], LIST, out, &n, scratch, &e))
                    die("similar", &e);
                for (size_t y = 0; y < n; y++)
                    ids[y] = out[y].id;
                full += n == LIST;
                tally_list(&s, &J, prods[x], ids, n);
            }
            char name[64];
            if (chain[c] == RECO_SIMILAR_FACTORS)
                snprintf(name, sizeof name, "factors min_support=%u", floors[f]);
            else
                snprintf(name, sizeof name, "%s", reco_similar_source_name(chain[c]));
            /* Precision over the full 10 slots: a source that lists fewer
             * products is not rewarded for it. */
            printf("  %-26s P@10 %.4f  IPS %.3f  rated<5 %5.1f%%  distinct %u  full %.1f%%\n",
                   name, s.pairs ? (double)s.hits / (10.0 * (double)s.pairs) : 0.0,
                   s.pairs ? 1e3 * s.ips / (double)s.pairs : 0.0,
                   s.listed ? 100.0 * (double)s.rare / (double)s.listed : 0.0, s.distinct,
                   100.0 * (double)full / (double)(np ? np : 1));
            free(s.seen);
        }
        if (reco_model_set_param(m, "similar.min_support", keep, &e))
            die("similar.min_support", &e);
    }
    free(scratch);
    free(prods);
    free(J.liked_later);
    free(J.likes);
    reco_model_free(m);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(sp);
    reco_dataset_free(all);
    return 0;
}

static void print_times(const char *what, double *t, size_t n)
{
    if (!n) {
        printf("  %-22s none\n", what);
        return;
    }
    qsort(t, n, sizeof *t, cmp_double);
    printf("  %-22s %6zu calls: median %.3f ms, p99 %.3f ms, max %.3f ms\n", what, n,
           1e3 * t[n / 2], 1e3 * t[(size_t)(0.99 * (double)(n - 1))], 1e3 * t[n - 1]);
}

static int latency(const char *file, const char *algo, uint32_t count, int argc, char **argv)
{
    reco_error e;
    reco_dataset *d;
    if (reco_dataset_load(file, NULL, NULL, &d, &e))
        die(file, &e);
    reco_model *m = fit(algo, d, argc, argv);
    uint32_t ni = reco_dataset_n_items(d);
    uint32_t *prods = malloc(((size_t)ni + 1) * sizeof *prods);
    uint32_t np = sample_products(d, count, prods);
    void *scratch = calloc(1, reco_model_similar_scratch_size(m));
    double *all = malloc(((size_t)np + 1) * sizeof *all);
    double *fac = malloc(((size_t)np + 1) * sizeof *fac);
    size_t nfac = 0;
    uint64_t by_source[RECO_SIMILAR_SOURCES] = {0};
    for (uint32_t x = 0; x < np; x++) {
        reco_similar out[LIST];
        size_t n;
        double t0 = thread_cpu_s();
        if (reco_model_similar(m, prods[x], LIST, out, &n, scratch, &e))
            die("similar", &e);
        all[x] = thread_cpu_s() - t0;
        bool fell_back = false;
        for (size_t y = 0; y < n; y++) {
            by_source[out[y].source]++;
            fell_back |= out[y].source != RECO_SIMILAR_CO_RATED;
        }
        if (fell_back)
            fac[nfac++] = all[x];
    }
    printf("%s on %s (%u products, %u with ratings sampled), n = %d, CPU time per call:\n",
           algo, file, ni, np, LIST);
    print_times("all", all, np);
    print_times("fell back", fac, nfac);
    uint64_t tot = 0;
    for (int s = 0; s < RECO_SIMILAR_SOURCES; s++)
        tot += by_source[s];
    printf("  sources:");
    for (int s = 0; s < RECO_SIMILAR_SOURCES; s++)
        printf(" %s %.1f%%", reco_similar_source_name((reco_similar_source)s),
               tot ? 100.0 * (double)by_source[s] / (double)tot : 0.0);
    printf("\n");
    free(all);
    free(fac);
    free(scratch);
    free(prods);
    reco_model_free(m);
    reco_dataset_free(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "quality"))
        return quality(argv[2], argv[3], argv[4], argc - 5, argv + 5);
    if (argc >= 5 && !strcmp(argv[1], "latency"))
        return latency(argv[2], argv[3], (uint32_t)strtoul(argv[4], NULL, 10), argc - 5,
                       argv + 5);
    fprintf(stderr, "usage: similar_bench quality FILE SPLIT ALGO [key=value ...]\n"
                    "       similar_bench latency FILE ALGO COUNT [key=value ...]\n");
    return 2;
}
