/* Interning, de-duplication, filters, k-core and CSR/CSC on hand-made
 * fixtures, and the sparse builders against a naive reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/dataset.h"
#include "reco/idmap.h"
#include "reco/sparse.h"
#include "reco/thousands.h"
#include "testutil.h"

static reco_dataset *build(const char *text, uint32_t min_u, uint32_t min_i, bool kcore)
{
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_parse(text, strlen(text), "t", NULL, &r, &err))
        fail_msg("%s", err.msg);
    reco_build_options b;
    reco_build_options_default(&b);
    b.min_user_ratings = min_u;
    b.min_item_ratings = min_i;
    b.k_core = kcore;
    reco_dataset *ds = NULL;
    if (reco_dataset_build(r, &b, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static float rating_of(const reco_dataset *ds, const char *u, const char *i)
{
    int64_t uu = reco_idmap_find(ds->users, u, strlen(u));
    int64_t ii = reco_idmap_find(ds->items, i, strlen(i));
    if (uu < 0 || ii < 0)
        return -1;
    int64_t k = reco_csr_find(&ds->by_user, (uint32_t)uu, (uint32_t)ii);
    return k < 0 ? -1 : ds->by_user.val[k];
}

static void test_idmap(void **state)
{
    (void)state;
    reco_idmap *m = reco_idmap_new(0);
    uint32_t id;
    char key[64];
    /* Enough keys to force several table growths; long keys (> inline). */
    for (int i = 0; i < 50000; i++) {
        int len = snprintf(key, sizeof key, i % 3 ? "user-%d" : "a-much-longer-user-id-%08d", i);
        assert_int_equal(reco_idmap_intern(m, key, (size_t)len, &id), RECO_OK);
        assert_int_equal(id, (uint32_t)i);
    }
    for (int i = 0; i < 50000; i++) {
        int len = snprintf(key, sizeof key, i % 3 ? "user-%d" : "a-much-longer-user-id-%08d", i);
        assert_int_equal(reco_idmap_find(m, key, (size_t)len), i);
        size_t kl;
        assert_string_equal(reco_idmap_key(m, (uint32_t)i, &kl), key);
        assert_int_equal(kl, (size_t)len);
    }
    assert_int_equal(reco_idmap_find(m, "absent", 6), -1);
    assert_int_equal(reco_idmap_intern(m, "", 0, &id), RECO_ERR_INVALID);
    /* Leading zeros and prefixes are distinct keys. */
    assert_int_equal(reco_idmap_intern(m, "0132793040", 10, &id), RECO_OK);
    uint32_t id2;
    assert_int_equal(reco_idmap_intern(m, "132793040", 9, &id2), RECO_OK);
    assert_int_not_equal(id, id2);

    /* Batch interning agrees with one-at-a-time. */
    const char *keys[5] = {"user-1", "new-a", "new-a", "0132793040", "new-b"};
    uint8_t lens[5] = {6, 5, 5, 10, 5};
    uint32_t ids[5];
    assert_int_equal(reco_idmap_intern_batch(m, 5, keys, lens, NULL, ids), RECO_OK);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], ids[2]);
    assert_int_equal(ids[3], id);
    assert_int_equal(ids[4], ids[1] + 1);

    uint32_t pick[2] = {7, 3};
    reco_idmap *s = reco_idmap_subset(m, pick, 2);
    assert_string_equal(reco_idmap_key(s, 0, NULL), "user-7");
    assert_int_equal(reco_idmap_find(s, "a-much-longer-user-id-00000003", 30), 1);
    reco_idmap_free(s);
    reco_idmap_free(reco_idmap_ref(m)); /* drops the extra reference only */
    assert_int_equal(reco_idmap_find(m, "user-1", 6), 1);
    reco_idmap_free(m);
    reco_idmap_free(NULL);
}

static void test_dedup_latest_timestamp_wins(void **state)
{
    (void)state;
    reco_dataset *ds = build("u1,p1,1,100\n"
                             "u1,p1,2,300\n" /* latest: wins */
                             "u1,p1,3,200\n"
                             "u2,p1,4,50\n"
                             "u2,p1,5,50\n" /* tie: the later line wins */
                             "u2,p2,1,10\n",
                             0, 0, false);
    assert_int_equal(ds->duplicates_removed, 3);
    assert_int_equal(reco_dataset_nnz(ds), 3);
    assert_true(rating_of(ds, "u1", "p1") == 2.0f);
    assert_true(rating_of(ds, "u2", "p1") == 5.0f);
    assert_true(rating_of(ds, "u2", "p2") == 1.0f);
    assert_int_equal(ds->by_user.ts[0], 300);
    reco_dataset_free(ds);

    /* Without timestamps the later line wins. */
    ds = build("u1,p1,1\nu1,p1,4\n", 0, 0, false);
    assert_int_equal(ds->duplicates_removed, 1);
    assert_true(rating_of(ds, "u1", "p1") == 4.0f);
    assert_null(ds->by_user.ts);
    reco_dataset_free(ds);
}

/* Fixture: a (3 ratings), b (2), c (1); items x (3 ratings), y (2), z (1).
 *   a: x y z    b: x y    c: x */
static const char *FIX = "a,x,5,1\na,y,4,2\na,z,3,3\nb,x,2,4\nb,y,1,5\nc,x,3,6\n";

static void test_filters(void **state)
{
    (void)state;
    reco_dataset *ds = build(FIX, 2, 0, false);
    /* Users a, b kept; items among their ratings: x, y, z. */
    assert_int_equal(reco_dataset_n_users(ds), 2);
    assert_int_equal(reco_dataset_n_items(ds), 3);
    assert_int_equal(reco_dataset_nnz(ds), 5);
    assert_int_equal(ds->filtered_ratings, 1);
    assert_int_equal(ds->filtered_users, 1);
    assert_int_equal(ds->filtered_items, 0);
    assert_true(rating_of(ds, "c", "x") < 0);
    reco_dataset_free(ds);

    ds = build(FIX, 0, 2, false);
    /* Items x, y kept; users with a rating left: a, b, c. */
    assert_int_equal(reco_dataset_n_items(ds), 2);
    assert_int_equal(reco_dataset_n_users(ds), 3);
    assert_int_equal(reco_dataset_nnz(ds), 5);
    reco_dataset_free(ds);

    /* Users >= 3 then items >= 2, one pass: only a survives, and its items
     * x, y have 1 rating each among kept users -> nothing is left. */
    reco_ratings *r = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_parse(FIX, strlen(FIX), "t", NULL, &r, &err), RECO_OK);
    reco_build_options b;
    reco_build_options_default(&b);
    b.min_user_ratings = 3;
    b.min_item_ratings = 2;
    reco_dataset *none = NULL;
    assert_int_equal(reco_dataset_build(r, &b, &none, &err), RECO_ERR_EMPTY);
    assert_null(none);
    reco_ratings_free(r);
}

/* Counts in messages are written with thousands separators, by the one
 * formatter the library and the command share. */
static void test_thousands_in_messages(void **state)
{
    (void)state;
    char buf[RECO_THOUSANDS_MAX];
    assert_string_equal(reco_thousands(0, buf, sizeof buf), "0");
    assert_string_equal(reco_thousands(999, buf, sizeof buf), "999");
    assert_string_equal(reco_thousands(1000, buf, sizeof buf), "1,000");
    assert_string_equal(reco_thousands(50698, buf, sizeof buf), "50,698");
    assert_string_equal(reco_thousands(1234567, buf, sizeof buf), "1,234,567");
    assert_string_equal(reco_thousands(UINT64_MAX, buf, sizeof buf),
                        "18,446,744,073,709,551,615");
    char small[6];
    assert_string_equal(reco_thousands(1234567, small, sizeof small), "1,234"); /* cut short */
    assert_string_equal(RECO_THOUSANDS(12345), "12,345");

    /* 1,200 users with one rating each; --min-user-ratings 2 leaves none. */
    size_t cap = 1200 * 32, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int k = 0; k < 1200; k++)
        len += (size_t)snprintf(text + len, cap - len, "u%d,i%d,4\n", k, k % 7);
    reco_ratings *r = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_parse(text, len, "t", NULL, &r, &err), RECO_OK);
    reco_build_options b;
    reco_build_options_default(&b);
    b.min_user_ratings = 2;
    reco_dataset *none = NULL;
    assert_int_equal(reco_dataset_build(r, &b, &none, &err), RECO_ERR_EMPTY);
    assert_string_equal(err.msg, "no ratings are left after the filters (1,200 before)");
    reco_ratings_free(r);
    free(text);
}

static void test_k_core(void **state)
{
    (void)state;
    /* 2-core of FIX: c (1 rating) goes, z (1 rating) goes; then a: x y,
     * b: x y, items x: 2, y: 2 -> stable. */
    reco_dataset *ds = build(FIX, 2, 2, true);
    assert_int_equal(reco_dataset_n_users(ds), 2);
    assert_int_equal(reco_dataset_n_items(ds), 2);
    assert_int_equal(reco_dataset_nnz(ds), 4);
    assert_true(ds->filter_rounds >= 2);
    assert_true(rating_of(ds, "b", "y") == 1.0f);
    assert_true(rating_of(ds, "a", "z") < 0);
    reco_dataset_free(ds);

    /* A chain that needs several rounds: removing d drops w, which drops e. */
    ds = build("a,x,1,1\na,y,1,1\nb,x,1,1\nb,y,1,1\n"
               "d,w,1,1\ne,w,1,1\ne,v,1,1\nf,v,1,1\n", 2, 2, true);
    assert_int_equal(reco_dataset_n_users(ds), 2);
    assert_int_equal(reco_dataset_nnz(ds), 4);
    reco_dataset_free(ds);
}

static reco_status try_build(const char *text, uint32_t min_u, uint32_t min_i, bool kcore,
                             reco_dataset **ds, reco_error *err)
{
    reco_ratings *r = NULL;
    if (reco_ratings_parse(text, strlen(text), "t", NULL, &r, err))
        fail_msg("%s", err->msg);
    reco_build_options b;
    reco_build_options_default(&b);
    b.min_user_ratings = min_u;
    b.min_item_ratings = min_i;
    b.k_core = kcore;
    reco_status st = reco_dataset_build(r, &b, ds, err);
    reco_ratings_free(r);
    return st;
}

static void assert_no_empty_rows(const reco_dataset *ds)
{
    for (uint32_t u = 0; u < reco_dataset_n_users(ds); u++)
        assert_true(reco_csr_row_len(&ds->by_user, u) > 0);
    for (uint32_t i = 0; i < reco_dataset_n_items(ds); i++)
        assert_true(reco_csr_row_len(&ds->by_item, i) > 0);
}

/* The product filter alone used to keep users whose every product it
 * removed, with no rating at all (models then took them for known users). */
static void test_item_filter_drops_emptied_users(void **state)
{
    (void)state;
    /* c rated only z, which has one rating. */
    reco_dataset *ds = build("a,x,5,1\na,y,4,2\nb,x,2,3\nb,y,1,4\nc,z,3,5\n", 0, 2, false);
    assert_int_equal(reco_dataset_n_users(ds), 2);
    assert_int_equal(reco_dataset_n_items(ds), 2);
    assert_int_equal(reco_dataset_nnz(ds), 4);
    assert_int_equal(reco_idmap_find(ds->users, "c", 1), -1);
    assert_int_equal(ds->filtered_users, 1);
    assert_int_equal(ds->filtered_items, 1);
    assert_int_equal(ds->filtered_ratings, 1);
    assert_no_empty_rows(ds);
    reco_dataset_free(ds);

    /* Both bounds without k-core: users >= 2 keeps a, b, d; items >= 2
     * among them removes w, which leaves d with nothing. */
    ds = build("a,x,1,1\na,y,1,1\nb,x,1,1\nb,y,1,1\nd,w,1,1\nd,v,1,1\ne,v,1,1\n", 2, 2,
               false);
    assert_int_equal(reco_dataset_n_users(ds), 2);
    assert_int_equal(reco_idmap_find(ds->users, "d", 1), -1);
    assert_int_equal(ds->filtered_users, 2); /* e by the user bound, d emptied */
    assert_int_equal(ds->filtered_items, 2); /* w, v */
    assert_int_equal(ds->filtered_ratings, 3);
    assert_no_empty_rows(ds);
    reco_dataset_free(ds);
}

/* k-core without a bound above 1 used to do nothing, silently. */
static void test_k_core_alone_refused(void **state)
{
    (void)state;
    reco_dataset *ds = NULL;
    reco_error err;
    for (uint32_t m = 0; m <= 1; m++) {
        assert_int_equal(try_build(FIX, m, m, true, &ds, &err), RECO_ERR_INVALID);
        assert_null(ds);
        assert_non_null(strstr(err.msg, "k-core"));
        assert_non_null(strstr(err.msg, "--min-item-ratings"));
    }
    assert_int_equal(try_build(FIX, 2, 0, true, &ds, &err), RECO_OK);
    reco_dataset_free(ds);
}

/* Every combination of the filters on random data: no user or product
 * without a rating, the report adds up, and the bounds hold where they
 * are promised (items always, users too with k-core). */
static void test_filter_combinations(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    size_t cap = 64 * 1024, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int k = 0; k < 400; k++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t x = (uint32_t)(seed >> 33);
        /* Skewed: low user and item numbers are more frequent. */
        uint32_t u = (x % 80) * ((x >> 8) % 80) / 80, i = ((x >> 16) % 50) * ((x >> 24) % 50) / 50;
        len += (size_t)snprintf(text + len, cap - len, "u%u,p%u,%u,%d\n", u, i, 1 + x % 5, k);
    }
    reco_dataset *all = build(text, 0, 0, false);
    const uint32_t bounds[] = {0, 1, 2, 3, 5};
    reco_error err;
    int built = 0;
    for (int kc = 0; kc <= 1; kc++)
        for (size_t a = 0; a < sizeof bounds / sizeof *bounds; a++)
            for (size_t b = 0; b < sizeof bounds / sizeof *bounds; b++) {
                uint32_t mu = bounds[a], mi = bounds[b];
                reco_dataset *ds = NULL;
                reco_status st = try_build(text, mu, mi, kc, &ds, &err);
                if (kc && mu <= 1 && mi <= 1) {
                    assert_int_equal(st, RECO_ERR_INVALID);
                    continue;
                }
                if (st == RECO_ERR_EMPTY)
                    continue;
                assert_int_equal(st, RECO_OK);
                built++;
                assert_no_empty_rows(ds);
                assert_int_equal(reco_dataset_n_users(ds) + ds->filtered_users,
                                 reco_dataset_n_users(all));
                assert_int_equal(reco_dataset_n_items(ds) + ds->filtered_items,
                                 reco_dataset_n_items(all));
                assert_int_equal(reco_dataset_nnz(ds) + ds->filtered_ratings,
                                 reco_dataset_nnz(all));
                for (uint32_t i = 0; i < reco_dataset_n_items(ds); i++)
                    assert_true(reco_csr_row_len(&ds->by_item, i) >= mi);
                if (kc)
                    for (uint32_t u = 0; u < reco_dataset_n_users(ds); u++)
                        assert_true(reco_csr_row_len(&ds->by_user, u) >= mu);
                reco_dataset_free(ds);
            }
    assert_true(built >= 30);
    reco_dataset_free(all);
    free(text);
}

static void test_csr_csc_consistent(void **state)
{
    (void)state;
    reco_dataset *ds = build(FIX, 0, 0, false);
    const reco_csr *R = &ds->by_user, *C = &ds->by_item;
    assert_int_equal(R->nnz, 6);
    assert_int_equal(C->nnz, 6);
    assert_int_equal(C->n_rows, R->n_cols);
    assert_non_null(R->ts);
    assert_null(C->ts); /* timestamps are kept by user only */
    for (uint32_t u = 0; u < R->n_rows; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++) {
            int64_t kk = reco_csr_find(C, R->idx[k], u);
            assert_true(kk >= 0);
            assert_true(C->val[kk] == R->val[k]);
        }
    reco_dataset_free(ds);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* CSR from random triplets against a dense reference. */
static void test_csr_random_vs_dense(void **state)
{
    (void)state;
    uint64_t seed = 42;
    for (int trial = 0; trial < 20; trial++) {
        uint32_t nr = 1 + (uint32_t)(lcg(&seed) % 40), nc = 1 + (uint32_t)(lcg(&seed) % 40);
        uint64_t n = lcg(&seed) % 400;
        uint32_t *rows = malloc(n * 4 + 4), *cols = malloc(n * 4 + 4);
        float *vals = malloc(n * 4 + 4);
        float *dense = calloc((size_t)nr * nc, sizeof *dense); /* last write wins */
        int *cnt = calloc((size_t)nr * nc, sizeof *cnt);
        for (uint64_t k = 0; k < n; k++) {
            rows[k] = (uint32_t)(lcg(&seed) % nr);
            cols[k] = (uint32_t)(lcg(&seed) % nc);
            vals[k] = (float)(1 + lcg(&seed) % 5);
            dense[rows[k] * nc + cols[k]] = vals[k];
            cnt[rows[k] * nc + cols[k]]++;
        }
        reco_csr m, t;
        assert_int_equal(reco_csr_from_triplets(nr, nc, n, rows, cols, vals, NULL, &m, NULL),
                         RECO_OK);
        assert_int_equal(m.nnz, n);
        for (uint32_t r = 0; r < nr; r++) {
            for (uint64_t k = m.ptr[r]; k < m.ptr[r + 1]; k++) {
                if (k > m.ptr[r])
                    assert_true(m.idx[k - 1] <= m.idx[k]);
                /* The last of equal (row, col) entries is the last input. */
                if (k + 1 == m.ptr[r + 1] || m.idx[k + 1] != m.idx[k])
                    assert_true(m.val[k] == dense[r * nc + m.idx[k]]);
            }
        }
        for (uint32_t r = 0; r < nr; r++)
            for (uint32_t c = 0; c < nc; c++) {
                uint64_t seen = 0;
                for (uint64_t k = m.ptr[r]; k < m.ptr[r + 1]; k++)
                    seen += m.idx[k] == c;
                assert_int_equal(seen, (uint64_t)cnt[r * nc + c]);
            }
        assert_int_equal(reco_csr_transpose(&m, &t, NULL), RECO_OK);
        assert_int_equal(t.n_rows, nc);
        for (uint32_t c = 0; c < nc; c++)
            for (uint64_t k = t.ptr[c]; k < t.ptr[c + 1]; k++) {
                if (k > t.ptr[c])
                    assert_true(t.idx[k - 1] <= t.idx[k]);
                assert_true(cnt[t.idx[k] * nc + c] > 0);
            }
        reco_csr_clear(&m);
        reco_csr_clear(&t);
        reco_csr_clear(NULL);
        free(rows);
        free(cols);
        free(vals);
        free(dense);
        free(cnt);
    }
}

typedef struct trip {
    uint32_t r, c, seq;
} trip;

static int cmp_trip(const void *a, const void *b)
{
    const trip *x = a, *y = b;
    if (x->r != y->r)
        return x->r < y->r ? -1 : 1;
    if (x->c != y->c)
        return x->c < y->c ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Large enough for the multi-threaded paths: the CSR must equal a stable
 * sort by (row, column, input position), and the transpose its mirror. */
static void test_csr_large_matches_sort(void **state)
{
    (void)state;
    uint64_t seed = 7;
    uint32_t nr = 5000, nc = 3000;
    for (int sorted_cols = 0; sorted_cols < 2; sorted_cols++) {
        uint64_t n = 300000;
        uint32_t *rows = malloc(n * 4), *cols = malloc(n * 4);
        float *vals = malloc(n * 4);
        int64_t *ts = malloc(n * 8);
        trip *ref = malloc(n * sizeof *ref);
        for (uint64_t k = 0; k < n; k++) {
            rows[k] = (uint32_t)(lcg(&seed) % nr);
            cols[k] = sorted_cols ? (uint32_t)(k * nc / n) : (uint32_t)(lcg(&seed) % nc);
            vals[k] = (float)k;
            ts[k] = (int64_t)k;
            ref[k] = (trip){rows[k], cols[k], (uint32_t)k};
        }
        qsort(ref, n, sizeof *ref, cmp_trip);
        reco_csr m, t;
        assert_int_equal(reco_csr_from_triplets(nr, nc, n, rows, cols, vals, ts, &m, NULL), RECO_OK);
        for (uint64_t k = 0; k < n; k++) {
            assert_int_equal(m.idx[k], ref[k].c);
            assert_true(m.val[k] == (float)ref[k].seq);
            assert_int_equal(m.ts[k], ref[k].seq);
        }
        for (uint32_t r = 0; r < nr; r++)
            for (uint64_t k = m.ptr[r]; k < m.ptr[r + 1]; k++)
                assert_int_equal(rows[(uint64_t)m.val[k]], r);
        assert_int_equal(reco_csr_transpose(&m, &t, NULL), RECO_OK);
        for (uint32_t c = 0; c < nc; c++)
            for (uint64_t k = t.ptr[c]; k < t.ptr[c + 1]; k++) {
                uint64_t seq = (uint64_t)t.val[k];
                assert_int_equal(cols[seq], c);
                assert_int_equal(rows[seq], t.idx[k]);
                if (k > t.ptr[c])
                    assert_true(t.idx[k - 1] <= t.idx[k]);
            }
        reco_csr_clear(&m);
        reco_csr_clear(&t);
        free(rows);
        free(cols);
        free(vals);
        free(ts);
        free(ref);
    }
}

static void test_keep_ids_and_to_ratings(void **state)
{
    (void)state;
    reco_ratings *r = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_parse(FIX, strlen(FIX), "t", NULL, &r, &err), RECO_OK);
    /* A training set without c's rating keeps c's index. */
    reco_ratings *part = reco_ratings_new(r->users, r->items);
    for (uint64_t k = 0; k < r->n - 1; k++)
        reco_ratings_push(part, r->user[k], r->item[k], r->rating[k], r->ts[k], NULL);
    part->has_ts = true;
    reco_build_options b;
    reco_build_options_default(&b);
    b.keep_ids = true;
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(part, &b, &ds, &err), RECO_OK);
    assert_int_equal(reco_dataset_n_users(ds), 3);
    assert_int_equal(reco_csr_row_len(&ds->by_user, 2), 0);
    reco_ratings *back = NULL;
    assert_int_equal(reco_dataset_to_ratings(ds, &back, &err), RECO_OK);
    assert_int_equal(back->n, 5);
    assert_ptr_equal(back->users, ds->users);
    reco_ratings_free(back);
    reco_dataset_free(ds);
    b.min_user_ratings = 2;
    assert_int_equal(reco_dataset_build(part, &b, &ds, &err), RECO_ERR_INVALID);
    reco_ratings_free(part);
    reco_ratings_free(r);
    reco_dataset_free(NULL);
}

static void test_save_and_map(void **state)
{
    (void)state;
    reco_dataset *ds = build(FIX, 0, 0, false);
    char path[64];
    snprintf(path, sizeof path, "/tmp/reco-ds-%ld.model", (long)getpid());
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_create(path, "test", &w, &err), RECO_OK);
    assert_int_equal(reco_dataset_save(ds, w, &err), RECO_OK);
    assert_int_equal(reco_mfile_commit(w, &err), RECO_OK);
    reco_mfile *f = NULL;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    reco_dataset *m = NULL;
    if (reco_dataset_from_mfile(f, &m, &err))
        fail_msg("%s", err.msg);
    assert_true(m->borrowed);
    assert_int_equal(reco_dataset_n_users(m), 3);
    assert_int_equal(reco_dataset_n_items(m), 3);
    assert_memory_equal(m->by_user.idx, ds->by_user.idx, 6 * sizeof(uint32_t));
    assert_memory_equal(m->by_item.val, ds->by_item.val, 6 * sizeof(float));
    assert_true(rating_of(m, "b", "y") == 1.0f);
    assert_int_equal(reco_idmap_find(m->items, "z", 1), reco_idmap_find(ds->items, "z", 1));
    /* Interning into a mapped map copies it first; old keys keep indices. */
    uint32_t id;
    assert_int_equal(reco_idmap_intern(m->users, "newcomer", 8, &id), RECO_OK);
    assert_int_equal(id, 3);
    assert_int_equal(reco_idmap_find(m->users, "c", 1), reco_idmap_find(ds->users, "c", 1));
    assert_string_equal(reco_idmap_key(m->users, 3, NULL), "newcomer");
    reco_dataset_free(m);
    reco_mfile_close(f);
    unlink(path);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idmap),
        cmocka_unit_test(test_dedup_latest_timestamp_wins),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_thousands_in_messages),
        cmocka_unit_test(test_k_core),
        cmocka_unit_test(test_item_filter_drops_emptied_users),
        cmocka_unit_test(test_k_core_alone_refused),
        cmocka_unit_test(test_filter_combinations),
        cmocka_unit_test(test_csr_csc_consistent),
        cmocka_unit_test(test_csr_random_vs_dense),
        cmocka_unit_test(test_csr_large_matches_sort),
        cmocka_unit_test(test_keep_ids_and_to_ratings),
        cmocka_unit_test(test_save_and_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
