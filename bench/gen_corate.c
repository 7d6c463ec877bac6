/* Co-rating structure of a ratings file against degree-preserving random
 * rewirings of the same file: the model-free statistic behind the default
 * taste strength of `reco gen` (bench/gen_calibrate.sh, docs/synthetic-data.md).
 *
 *   gen_corate FILE [LINES [REWIRINGS [SEED]]]
 *
 * Reads the first LINES lines (all when 0 or absent) of a CSV whose first
 * two fields are user and product; other fields are ignored, a repeated
 * (user, product) pair counts once. For every user with >= 2 ratings and
 * every pair of products that user rated, c(i,j) counts the users who rated
 * both i and j. Two figures:
 *
 *   shared   the share of those (user, product pair) instances whose pair
 *            was also rated together by another user: sum over pairs with
 *            c >= 2 of c, divided by the sum of c;
 *   squares  sum over pairs of c(c-1)/2: pairs of users who share a pair of
 *            products (4-cycles of the user-product graph).
 *
 * Both are compared with the same figures on REWIRINGS (default 5) random
 * rewirings of the file that keep every user's and every product's number
 * of ratings (Maslov-Sneppen edge switches, 10 per rating, never creating a
 * repeated pair), twice:
 *
 *   *_rewired        any two ratings may swap products;
 *   *_rewired_class  only products in the same half-octave of popularity
 *                    (number of ratings in the file) swap, so every user
 *                    also keeps its mix of popular and niche products.
 *
 * The lift (observed / mean rewired) is what taste adds beyond what the
 * null keeps. The class null is the one to read on real data, whose heavy
 * users lean to niche products (the plain null hands them popular ones and
 * so overstates chance sharing); shared_lift_class is the calibration
 * statistic. Deterministic for a given SEED (default 1). Output: one
 * "key value" line per figure. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg)
{
    fprintf(stderr, "gen_corate: %s\n", msg);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);
    if (!p)
        die("out of memory");
    return p;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_state;
static uint64_t rnd(void) { return mix64(rnd_state += 0x9e3779b97f4a7c15ULL); }
static uint64_t below(uint64_t n) { return (uint64_t)(((unsigned __int128)rnd() * n) >> 64); }

/* ---- string interning (open addressing) ---- */

typedef struct strmap {
    char **key;
    uint32_t *val;
    size_t cap, n;
} strmap;

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix64(h);
}

static void strmap_grow(strmap *m)
{
    size_t nc = m->cap ? m->cap * 2 : 1024;
    char **nk = xcalloc(nc, sizeof *nk);
    uint32_t *nv = xmalloc(nc * sizeof *nv);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i])
            continue;
        size_t h = hash_str(m->key[i], strlen(m->key[i])) & (nc - 1);
        while (nk[h])
            h = (h + 1) & (nc - 1);
        nk[h] = m->key[i];
        nv[h] = m->val[i];
    }
    free(m->key);
    free(m->val);
    m->key = nk;
    m->val = nv;
    m->cap = nc;
}

static uint32_t strmap_id(strmap *m, const char *s, size_t n)
{
    if (2 * (m->n + 1) > m->cap)
        strmap_grow(m);
    size_t h = hash_str(s, n) & (m->cap - 1);
    while (m->key[h]) {
        if (strlen(m->key[h]) == n && memcmp(m->key[h], s, n) == 0)
            return m->val[h];
        h = (h + 1) & (m->cap - 1);
    }
    m->key[h] = strndup(s, n);
    if (!m->key[h])
        die("out of memory");
    m->val[h] = (uint32_t)m->n;
    return (uint32_t)m->n++;
}

/* ---- 64-bit key sets and counters (open addressing, key 0 reserved) ---- */

typedef struct u64map {
    uint64_t *key;
    uint32_t *val;
    size_t cap, n;
} u64map;

static void u64map_init(u64map *m, size_t expect)
{
    size_t c = 1024;
    while (c < 2 * expect)
        c *= 2;
    m->key = xcalloc(c, sizeof *m->key);
    m->val = xcalloc(c, sizeof *m->val);
    m->cap = c;
    m->n = 0;
}

static void u64map_free(u64map *m)
{
    free(m->key);
    free(m->val);
}

static size_t u64map_slot(const u64map *m, uint64_t k)
{
    size_t h = mix64(k) & (m->cap - 1);
    while (m->key[h] && m->key[h] != k)
        h = (h + 1) & (m->cap - 1);
    return h;
}

static void u64map_grow(u64map *m)
{
    u64map o = *m;
    u64map_init(m, o.cap);
    for (size_t i = 0; i < o.cap; i++)
        if (o.key[i]) {
            size_t h = u64map_slot(m, o.key[i]);
            m->key[h] = o.key[i];
            m->val[h] = o.val[i];
            m->n++;
        }
    u64map_free(&o);
}

static void u64map_add(u64map *m, uint64_t k, uint32_t v)
{
    if (2 * (m->n + 1) > m->cap)
        u64map_grow(m);
    size_t h = u64map_slot(m, k);
    if (!m->key[h]) {
        m->key[h] = k;
        m->val[h] = 0;
        m->n++;
    }
    m->val[h] += v;
}

static int u64map_has(const u64map *m, uint64_t k) { return m->key[u64map_slot(m, k)] != 0; }

/* Removes k (backward-shift deletion keeps probe chains intact). */
static void u64map_del(u64map *m, uint64_t k)
{
    size_t h = u64map_slot(m, k);
    if (!m->key[h])
        return;
    size_t i = h;
    for (;;) {
        m->key[i] = 0;
        size_t j = i;
        for (;;) {
            j = (j + 1) & (m->cap - 1);
            if (!m->key[j])
                goto out;
            size_t home = mix64(m->key[j]) & (m->cap - 1);
            /* j's key may fill slot i if i lies cyclically in [home, j) */
            if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j))
                break;
        }
        m->key[i] = m->key[j];
        m->val[i] = m->val[j];
        i = j;
    }
out:
    m->n--;
}

/* Keys are user + 1 and product + 1 so that no key is 0. */
static uint64_t pair_key(uint32_t u, uint32_t i) { return ((uint64_t)(u + 1) << 32) | (i + 1); }

/* ---- the statistic ---- */

typedef struct edges {
    uint32_t *u, *i;
    size_t n;
    uint32_t U, P;
} edges;

typedef struct figures {
    double shared, squares, pairs;
} figures;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static figures measure(const edges *e)
{
    /* products of each user, CSR */
    size_t *start = xcalloc((size_t)e->U + 1, sizeof *start);
    for (size_t k = 0; k < e->n; k++)
        start[e->u[k] + 1]++;
    for (uint32_t u = 0; u < e->U; u++)
        start[u + 1] += start[u];
    uint32_t *items = xmalloc(e->n * sizeof *items);
    size_t *fill = xmalloc((size_t)e->U * sizeof *fill);
    memcpy(fill, start, (size_t)e->U * sizeof *fill);
    for (size_t k = 0; k < e->n; k++)
        items[fill[e->u[k]]++] = e->i[k];
    free(fill);
    double pairs = 0;
    for (uint32_t u = 0; u < e->U; u++) {
        double d = (double)(start[u + 1] - start[u]);
        pairs += d * (d - 1) / 2;
    }
    u64map c;
    u64map_init(&c, pairs < 1e8 ? (size_t)pairs : 100000000);
    for (uint32_t u = 0; u < e->U; u++) {
        uint32_t *v = items + start[u];
        size_t d = start[u + 1] - start[u];
        qsort(v, d, sizeof *v, cmp_u32);
        for (size_t a = 0; a < d; a++)
            for (size_t b = a + 1; b < d; b++)
                u64map_add(&c, pair_key(v[a], v[b]), 1);
    }
    double sh = 0, sq = 0;
    for (size_t h = 0; h < c.cap; h++) {
        if (!c.key[h])
            continue;
        double x = c.val[h];
        if (x >= 2)
            sh += x;
        sq += x * (x - 1) / 2;
    }
    u64map_free(&c);
    free(items);
    free(start);
    figures f = {pairs > 0 ? sh / pairs : 0, sq, pairs};
    return f;
}

/* Maslov-Sneppen: swaps the products of two random ratings when neither
 * new pair exists yet; 10 attempts per rating. With byclass, the two
 * products must be in the same popularity class (cls_start/cls_idx list
 * the ratings of each class; a swap keeps every rating's class). */
static void rewire(edges *e, const size_t *cls_start, const uint32_t *cls_idx,
                   const uint32_t *rating_cls)
{
    u64map set;
    u64map_init(&set, e->n);
    for (size_t k = 0; k < e->n; k++)
        u64map_add(&set, pair_key(e->u[k], e->i[k]), 1);
    size_t tries = 10 * e->n;
    for (size_t t = 0; t < tries; t++) {
        size_t a = below(e->n), b;
        if (cls_start) {
            uint32_t c = rating_cls[a];
            b = cls_idx[cls_start[c] + below(cls_start[c + 1] - cls_start[c])];
        } else {
            b = below(e->n);
        }
        uint32_t ua = e->u[a], ia = e->i[a], ub = e->u[b], ib = e->i[b];
        if (ua == ub || ia == ib)
            continue;
        uint64_t k1 = pair_key(ua, ib), k2 = pair_key(ub, ia);
        if (u64map_has(&set, k1) || u64map_has(&set, k2))
            continue;
        u64map_del(&set, pair_key(ua, ia));
        u64map_del(&set, pair_key(ub, ib));
        u64map_add(&set, k1, 1);
        u64map_add(&set, k2, 1);
        e->i[a] = ib;
        e->i[b] = ia;
    }
    u64map_free(&set);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: gen_corate FILE [LINES [REWIRINGS [SEED]]]\n");
        return 2;
    }
    size_t max_lines = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
    int R = argc > 3 ? atoi(argv[3]) : 5;
    rnd_state = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
    FILE *f = fopen(argv[1], "r");
    if (!f)
        die("cannot open the file");
    strmap users = {0}, prods = {0};
    edges e = {0};
    size_t cap = 1 << 16;
    e.u = xmalloc(cap * sizeof *e.u);
    e.i = xmalloc(cap * sizeof *e.i);
    u64map seen;
    u64map_init(&seen, cap);
    char *line = NULL;
    size_t lcap = 0, lines = 0;
    ssize_t len;
    while ((max_lines == 0 || lines < max_lines) && (len = getline(&line, &lcap, f)) > 0) {
        lines++;
        char *c1 = memchr(line, ',', (size_t)len);
        if (!c1)
            continue;
        char *c2 = memchr(c1 + 1, ',', (size_t)(line + len - c1 - 1));
        char *end = c2 ? c2 : line + len;
        while (end > c1 + 1 && (end[-1] == '\n' || end[-1] == '\r'))
            end--;
        uint32_t u = strmap_id(&users, line, (size_t)(c1 - line));
        uint32_t i = strmap_id(&prods, c1 + 1, (size_t)(end - c1 - 1));
        uint64_t k = pair_key(u, i);
        if (u64map_has(&seen, k))
            continue;
        u64map_add(&seen, k, 1);
        if (e.n == cap) {
            cap *= 2;
            e.u = realloc(e.u, cap * sizeof *e.u);
            e.i = realloc(e.i, cap * sizeof *e.i);
            if (!e.u || !e.i)
                die("out of memory");
        }
        e.u[e.n] = u;
        e.i[e.n] = i;
        e.n++;
    }
    free(line);
    fclose(f);
    u64map_free(&seen);
    e.U = (uint32_t)users.n;
    e.P = (uint32_t)prods.n;
    size_t u2 = 0;
    {
        uint32_t *deg = xcalloc(e.U, sizeof *deg);
        for (size_t k = 0; k < e.n; k++)
            deg[e.u[k]]++;
        for (uint32_t u = 0; u < e.U; u++)
            u2 += deg[u] >= 2;
        free(deg);
    }
    /* popularity classes: half-octaves of the product's number of ratings */
    uint32_t *pdeg = xcalloc(e.P, sizeof *pdeg);
    for (size_t k = 0; k < e.n; k++)
        pdeg[e.i[k]]++;
    uint32_t ncls = 0;
    uint32_t *rcls = xmalloc(e.n * sizeof *rcls);
    for (size_t k = 0; k < e.n; k++) {
        rcls[k] = (uint32_t)floor(2 * log2((double)pdeg[e.i[k]]));
        if (rcls[k] + 1 > ncls)
            ncls = rcls[k] + 1;
    }
    size_t *cstart = xcalloc((size_t)ncls + 1, sizeof *cstart);
    for (size_t k = 0; k < e.n; k++)
        cstart[rcls[k] + 1]++;
    for (uint32_t c = 0; c < ncls; c++)
        cstart[c + 1] += cstart[c];
    uint32_t *cidx = xmalloc(e.n * sizeof *cidx);
    size_t *cfill = xmalloc(((size_t)ncls + 1) * sizeof *cfill);
    memcpy(cfill, cstart, ((size_t)ncls + 1) * sizeof *cfill);
    for (size_t k = 0; k < e.n; k++)
        cidx[cfill[rcls[k]]++] = (uint32_t)k;
    free(cfill);
    free(pdeg);

    figures obs = measure(&e);
    printf("ratings %zu\nusers %u\nproducts %u\nusers_2plus %zu\nuser_pairs %.0f\n", e.n, e.U,
           e.P, u2, obs.pairs);
    printf("shared %.5f\nsquares %.0f\n", obs.shared, obs.squares);
    uint32_t *i0 = xmalloc(e.n * sizeof *i0);
    memcpy(i0, e.i, e.n * sizeof *i0);
    for (int byclass = 0; byclass < 2; byclass++) {
        const char *tag = byclass ? "_class" : "";
        memcpy(e.i, i0, e.n * sizeof *i0);
        double sh = 0, sh2 = 0, sq = 0, sq2 = 0;
        for (int r = 0; r < R; r++) {
            if (byclass)
                rewire(&e, cstart, cidx, rcls);
            else
                rewire(&e, NULL, NULL, NULL);
            figures x = measure(&e);
            sh += x.shared;
            sh2 += x.shared * x.shared;
            sq += x.squares;
            sq2 += x.squares * x.squares;
        }
        double msh = R ? sh / R : NAN, msq = R ? sq / R : NAN;
        double ssh = R > 1 ? sqrt(fmax(0, (sh2 - R * msh * msh) / (R - 1))) : NAN;
        double ssq = R > 1 ? sqrt(fmax(0, (sq2 - R * msq * msq) / (R - 1))) : NAN;
        printf("shared_rewired%s %.5f\nshared_rewired%s_sd %.5f\nshared_lift%s %.3f\n", tag, msh,
               tag, ssh, tag, obs.shared / msh);
        printf("squares_rewired%s %.1f\nsquares_rewired%s_sd %.1f\nsquares_lift%s %.3f\n", tag,
               msq, tag, ssq, tag, obs.squares / msq);
    }
    free(i0);
    free(rcls);
    free(cstart);
    free(cidx);
    return 0;
}
