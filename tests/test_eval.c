/* Splits, metrics and the evaluation loop on hand-made data: every metric
 * against an example worked by hand (the arithmetic is in the comments),
 * and the structural promises of each split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/eval.h"
#include "reco/metrics.h"
#include "reco/model.h"
#include "reco/split.h"
#include "testutil.h"

#define EPS 1e-6

/* ---- fixtures ------------------------------------------------------------- */

static reco_dataset *parse_dataset(const char *text)
{
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_parse(text, strlen(text), "t", NULL, &r, &err))
        fail_msg("%s", err.msg);
    reco_dataset *ds = NULL;
    if (reco_dataset_build(r, NULL, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* n_users users with 1..max_per_user ratings of distinct items among
 * n_items, integer ratings 1..5, timestamps with deliberate ties (or none). */
static reco_dataset *synthetic(uint32_t n_users, uint32_t n_items, uint32_t max_per_user,
                               bool with_ts, uint64_t seed)
{
    reco_ratings *r = reco_ratings_new(NULL, NULL);
    assert_non_null(r);
    uint8_t *used = calloc(n_items, 1);
    char u[32], i[32];
    for (uint32_t a = 0; a < n_users; a++) {
        uint32_t n = 1 + (uint32_t)(lcg(&seed) % max_per_user);
        memset(used, 0, n_items);
        snprintf(u, sizeof u, "user%u", a);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t it = (uint32_t)(lcg(&seed) % n_items);
            if (used[it])
                continue;
            used[it] = 1;
            snprintf(i, sizeof i, "item%u", it);
            float rating = (float)(1 + lcg(&seed) % 5);
            int64_t ts = with_ts ? (int64_t)(1000 + lcg(&seed) % 40) : 0;
            assert_int_equal(reco_ratings_add(r, u, strlen(u), i, strlen(i), rating, ts, NULL),
                             RECO_OK);
        }
    }
    free(used);
    r->has_ts = with_ts;
    reco_dataset *ds = NULL;
    reco_error err;
    if (reco_dataset_build(r, NULL, &ds, &err))
        fail_msg("%s", err.msg);
    reco_ratings_free(r);
    return ds;
}

static reco_splitter *splitter(const reco_dataset *ds, const char *text, uint64_t seed)
{
    reco_split_spec spec;
    reco_error err;
    if (reco_split_parse(text, seed, &spec, &err))
        fail_msg("%s", err.msg);
    reco_splitter *s = NULL;
    if (reco_splitter_new(ds, &spec, &s, &err))
        fail_msg("%s", err.msg);
    return s;
}

static void get_pair(const reco_splitter *s, uint32_t k, reco_dataset **train,
                     reco_dataset **test)
{
    reco_error err;
    if (reco_splitter_get(s, k, train, test, &err))
        fail_msg("%s", err.msg);
}

/* Every rating of full is in exactly one of train and test, with the same
 * value and timestamp at the same indices; both halves keep full's maps
 * and counts. Returns the test ratings' positions in full's CSR marked in
 * in_test (nnz entries, may be NULL). */
static void check_pair(const reco_dataset *full, const reco_dataset *train,
                       const reco_dataset *test, uint8_t *in_test)
{
    assert_ptr_equal(train->users, full->users);
    assert_ptr_equal(train->items, full->items);
    assert_ptr_equal(test->users, full->users);
    assert_ptr_equal(test->items, full->items);
    assert_int_equal(reco_dataset_n_users(train), reco_dataset_n_users(full));
    assert_int_equal(reco_dataset_n_items(train), reco_dataset_n_items(full));
    assert_int_equal(reco_dataset_n_users(test), reco_dataset_n_users(full));
    assert_int_equal(reco_dataset_nnz(train) + reco_dataset_nnz(test), reco_dataset_nnz(full));
    const reco_csr *F = &full->by_user;
    for (uint32_t u = 0; u < F->n_rows; u++)
        for (uint64_t k = F->ptr[u]; k < F->ptr[u + 1]; k++) {
            int64_t a = reco_csr_find(&train->by_user, u, F->idx[k]);
            int64_t b = reco_csr_find(&test->by_user, u, F->idx[k]);
            assert_true((a >= 0) != (b >= 0));
            const reco_dataset *half = a >= 0 ? train : test;
            int64_t pos = a >= 0 ? a : b;
            assert_float_equal(half->by_user.val[pos], F->val[k], 0);
            if (F->ts)
                assert_int_equal(half->by_user.ts[pos], F->ts[k]);
            if (in_test)
                in_test[k] = b >= 0;
        }
}

/* ---- metrics, by hand ------------------------------------------------------- */

static void test_rank_metrics_by_hand(void **state)
{
    (void)state;
    reco_rank_user r;
    /* N = 5, list [10, 3, 7, 1, 9], relevant {3, 9, 20}: hits at ranks 2 and 5.
     * precision = 2/5 = 0.4; recall = 2/3; hit = yes.
     * DCG  = 1/log2(3) + 1/log2(6) = 0.6309298 + 0.3868528 = 1.0177826
     * IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) (min(5, 3) = 3 terms)
     *      = 1 + 0.6309298 + 0.5 = 2.1309298;  NDCG = 0.4776237
     * AP   = (P@2 + P@5) / min(5, 3) = (1/2 + 2/5) / 3 = 0.3 */
    const uint32_t rec[] = {10, 3, 7, 1, 9}, rel[] = {3, 9, 20};
    reco_rank_metrics(rec, 5, 5, rel, 3, &r);
    assert_int_equal(r.hits, 2);
    assert_float_equal(r.precision, 0.4, EPS);
    assert_float_equal(r.recall, 2.0 / 3, EPS);
    assert_float_equal(r.ndcg, 1.0177826 / 2.1309298, EPS);
    assert_float_equal(r.ndcg, 0.4776237, EPS);
    assert_float_equal(r.ap, 0.3, EPS);

    /* A short list: N = 3 but one product recommended, and it is the only
     * relevant one. precision = 1/3 (N, not the list length, divides);
     * recall = 1; NDCG = 1 / 1 = 1; AP = (P@1) / min(3, 1) = 1. */
    const uint32_t rec2[] = {4}, rel2[] = {4};
    reco_rank_metrics(rec2, 1, 3, rel2, 1, &r);
    assert_float_equal(r.precision, 1.0 / 3, EPS);
    assert_float_equal(r.recall, 1, EPS);
    assert_float_equal(r.ndcg, 1, EPS);
    assert_float_equal(r.ap, 1, EPS);

    /* More relevant products than N: N = 2, list [1, 2], relevant {1..4}.
     * precision = 1; recall = 2/4; NDCG = (1 + 1/log2 3) / (1 + 1/log2 3) = 1
     * (the ideal list has only min(2, 4) = 2 places); AP = (1/1 + 2/2) / 2 = 1. */
    const uint32_t rec3[] = {1, 2}, rel3[] = {1, 2, 3, 4};
    reco_rank_metrics(rec3, 2, 2, rel3, 4, &r);
    assert_float_equal(r.precision, 1, EPS);
    assert_float_equal(r.recall, 0.5, EPS);
    assert_float_equal(r.ndcg, 1, EPS);
    assert_float_equal(r.ap, 1, EPS);

    /* A miss at rank 1, hit at rank 2: N = 2, list [5, 6], relevant {6}.
     * precision = 1/2, recall = 1, NDCG = (1/log2 3) / 1 = 0.6309298,
     * AP = P@2 / min(2, 1) = 1/2. */
    const uint32_t rec4[] = {5, 6}, rel4[] = {6};
    reco_rank_metrics(rec4, 2, 2, rel4, 1, &r);
    assert_float_equal(r.precision, 0.5, EPS);
    assert_float_equal(r.ndcg, 0.6309298, EPS);
    assert_float_equal(r.ap, 0.5, EPS);

    /* No hit: everything 0. */
    const uint32_t rec5[] = {7, 8}, rel5[] = {1};
    reco_rank_metrics(rec5, 2, 10, rel5, 1, &r);
    assert_int_equal(r.hits, 0);
    assert_float_equal(r.precision + r.recall + r.ndcg + r.ap, 0, 0);
}

static void test_rmse_mae_by_hand(void **state)
{
    (void)state;
    /* errors -1, 0, 3: RMSE = sqrt((1 + 0 + 9) / 3) = sqrt(10/3) = 1.8257419,
     * MAE = (1 + 0 + 3) / 3 = 1.3333333 */
    const float pred[] = {3, 4, 5}, truth[] = {4, 4, 2};
    assert_float_equal(reco_rmse(pred, truth, 3), sqrt(10.0 / 3), EPS);
    assert_float_equal(reco_mae(pred, truth, 3), 4.0 / 3, EPS);
    assert_true(isnan(reco_rmse(pred, truth, 0)));
}

/* The whole loop on a case worked by hand: "popular" by mean with no
 * damping and no minimum predicts a product's training mean and ranks by
 * it; the
 * baseline fallback is made flat (huge regularisation) so it predicts mu.
 *
 * Training:        A    B    C      means: A (5+4)/2 = 4.5
 *           u1     5    3    .             B (3+4)/2 = 3.5
 *           u2     4    .    2             C (2+1)/2 = 1.5
 *           u3     .    4    1      mu = 19/6 = 3.1666667
 * Test: u1 C 2, u2 B 5, u3 A 4, u4 D 4 (u4 and D unknown), u1 A 5 (already
 * in training: dropped by reco_split_load_test).
 *   predictions 1.5, 3.5, 4.5, mu;  errors -0.5, -1.5, 0.5, -5/6
 *   RMSE = sqrt((0.25 + 2.25 + 0.25 + 25/36) / 4) = sqrt(0.8611111) = 0.9279607
 *   MAE  = (0.5 + 1.5 + 0.5 + 0.8333333) / 4 = 0.8333333
 *   unknown: 1 rating of an unknown user (u4), 1 of an unknown product (D)
 * Ranking, N = 2, relevant = rating >= 4 (u1 has none):
 *   u2 rated A, C: list [B]        relevant {B}: P 1/2, R 1, NDCG 1, AP 1, hit
 *   u3 rated B, C: list [A]        relevant {A}: P 1/2, R 1, NDCG 1, AP 1, hit
 *   u4 cold: the model's popularity ranking, which is the popular
 *            algorithm's own (by mean, no damping): A 4.5 > B 3.5 > C 1.5,
 *            list [A, B]
 *            relevant {D}: all 0
 *   precision = (1/2 + 1/2 + 0) / 3 = 1/3; recall = NDCG = MAP = hit = 2/3
 *   coverage: {A, B} of catalogue {A, B, C} = 2/3 */
static void test_eval_by_hand(void **state)
{
    (void)state;
    reco_dataset *train = parse_dataset("u1,A,5\nu1,B,3\nu2,A,4\nu2,C,2\nu3,B,4\nu3,C,1\n");
    const char *test_text = "u1,C,2\nu2,B,5\nu3,A,4\nu4,D,4\nu1,A,5\n";
    char *path = test_write_temp(test_text, strlen(test_text));
    assert_non_null(path);
    reco_dataset *test = NULL;
    reco_error err;
    if (reco_split_load_test(path, train, NULL, &test, &err))
        fail_msg("%s", err.msg);
    unlink(path);
    free(path);
    assert_int_equal(reco_dataset_nnz(test), 4);
    assert_int_equal(test->filtered_ratings, 1);
    assert_int_equal(reco_dataset_n_users(train), 3); /* u4 is new to the map only */
    assert_int_equal(reco_idmap_size(train->users), 4);

    reco_model *m = NULL;
    assert_int_equal(reco_model_new("popular", &m, NULL), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "by", "mean", NULL), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "damping", "0", NULL), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "min_count", "0", NULL), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "baseline.reg_u", "1e9", NULL), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "baseline.reg_i", "1e9", NULL), RECO_OK);
    assert_int_equal(reco_model_fit(m, train, NULL, &err), RECO_OK);

    reco_eval_options o;
    reco_eval_options_default(&o);
    o.n = 2;
    reco_eval_result r;
    if (reco_eval_model(m, test, &o, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r.test_ratings, 4);
    assert_int_equal(r.unknown_user_ratings, 1);
    assert_int_equal(r.unknown_item_ratings, 1);
    assert_false(isnan(r.rmse) || isnan(r.mae));
    assert_float_equal(r.rmse, sqrt((0.25 + 2.25 + 0.25 + 25.0 / 36) / 4), 1e-5);
    assert_float_equal(r.rmse, 0.9279607, 1e-5);
    assert_float_equal(r.mae, (0.5 + 1.5 + 0.5 + 5.0 / 6) / 4, 1e-5);
    assert_int_equal(r.rank_eligible, 3);
    assert_int_equal(r.rank_users, 3);
    assert_int_equal(r.rank_cold_users, 1);
    assert_int_equal(r.catalogue, 3);
    assert_float_equal(r.precision, 1.0 / 3, EPS);
    assert_float_equal(r.recall, 2.0 / 3, EPS);
    assert_float_equal(r.ndcg, 2.0 / 3, EPS);
    assert_float_equal(r.map, 2.0 / 3, EPS);
    assert_float_equal(r.hit_rate, 2.0 / 3, EPS);
    assert_float_equal(r.coverage, 2.0 / 3, EPS);
    assert_true(r.predict_seconds >= 0 && r.recommend_seconds >= 0);

    /* A sample of one user is still one of the three. */
    o.rank_users = 1;
    assert_int_equal(reco_eval_model(m, test, &o, &r, NULL), RECO_OK);
    assert_int_equal(r.rank_users, 1);
    assert_int_equal(r.rank_eligible, 3);

    /* Relevance threshold 5: only u2's B counts. list [B]: P 1/2, R 1. */
    o.rank_users = 0;
    o.relevant = 5;
    assert_int_equal(reco_eval_model(m, test, &o, &r, NULL), RECO_OK);
    assert_int_equal(r.rank_users, 1);
    assert_float_equal(r.precision, 0.5, EPS);
    assert_float_equal(r.recall, 1, EPS);

    /* A test set over other maps is refused. */
    reco_dataset *other = parse_dataset("u1,A,5\n");
    assert_int_equal(reco_eval_model(m, other, &o, &r, &err), RECO_ERR_INVALID);
    reco_dataset_free(other);
    /* Bad options too. */
    o.n = 0;
    assert_int_equal(reco_eval_model(m, test, &o, &r, &err), RECO_ERR_INVALID);

    reco_model_free(m);

    /* By count (the default), popular predicts no ratings: no RMSE or MAE,
     * while the counts and the ranking figures are still there. */
    assert_int_equal(reco_model_new("popular", &m, NULL), RECO_OK);
    assert_int_equal(reco_model_fit(m, train, NULL, &err), RECO_OK);
    reco_eval_options_default(&o);
    o.n = 2;
    assert_int_equal(reco_eval_model(m, test, &o, &r, &err), RECO_OK);
    assert_true(isnan(r.rmse) && isnan(r.mae));
    assert_int_equal(r.test_ratings, 4);
    assert_int_equal(r.rank_users, 3);
    assert_false(isnan(r.precision));
    reco_model_free(m);
    reco_dataset_free(test);
    reco_dataset_free(train);
}

/* ---- splits ----------------------------------------------------------------- */

static void test_split_parse(void **state)
{
    (void)state;
    reco_split_spec s;
    char buf[32];
    assert_int_equal(reco_split_parse("random:0.3", 5, &s, NULL), RECO_OK);
    assert_int_equal(s.kind, RECO_SPLIT_RANDOM);
    assert_float_equal(s.fraction, 0.3, 0);
    assert_int_equal(s.seed, 5);
    reco_split_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "random:0.3");
    assert_int_equal(reco_split_parse("kfold:7", 1, &s, NULL), RECO_OK);
    assert_int_equal(s.kind, RECO_SPLIT_KFOLD);
    assert_int_equal(s.folds, 7);
    assert_int_equal(reco_split_parse("kfold", 1, &s, NULL), RECO_OK);
    assert_int_equal(s.folds, 5);
    assert_int_equal(reco_split_parse("time:0.1", 1, &s, NULL), RECO_OK);
    assert_int_equal(s.kind, RECO_SPLIT_TIME);
    assert_int_equal(reco_split_parse("loo", 1, &s, NULL), RECO_OK);
    assert_int_equal(s.kind, RECO_SPLIT_LOO);
    reco_error err;
    const char *bad[] = {"random:0", "random:1", "random:x", "kfold:1", "kfold:101",
                         "kfold:3x", "time:", "loo:2", "holdout", "", "randomx:0.2"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(reco_split_parse(bad[k], 1, &s, &err), RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, bad[k]));
    }
}

static void test_kfold_disjoint_and_covering(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(300, 120, 25, true, 11);
    const uint64_t nnz = reco_dataset_nnz(ds);
    reco_splitter *s = splitter(ds, "kfold:5", 3);
    assert_int_equal(reco_splitter_count(s), 5);
    uint8_t *count = calloc(nnz, 1), *in_test = malloc(nnz);
    uint64_t min_size = UINT64_MAX, max_size = 0;
    for (uint32_t f = 0; f < 5; f++) {
        reco_dataset *train, *test;
        get_pair(s, f, &train, &test);
        check_pair(ds, train, test, in_test);
        for (uint64_t k = 0; k < nnz; k++)
            count[k] += in_test[k];
        uint64_t n = reco_dataset_nnz(test);
        min_size = n < min_size ? n : min_size;
        max_size = n > max_size ? n : max_size;
        reco_dataset_free(train);
        reco_dataset_free(test);
    }
    /* Every rating is tested in exactly one fold. */
    for (uint64_t k = 0; k < nnz; k++)
        assert_int_equal(count[k], 1);
    assert_true(max_size - min_size <= 1);
    reco_dataset *a, *b;
    assert_int_equal(reco_splitter_get(s, 5, &a, &b, NULL), RECO_ERR_INVALID);

    /* Another splitter with the same seed gives the same folds; with another
     * seed, different ones. */
    reco_splitter *s2 = splitter(ds, "kfold:5", 3), *s3 = splitter(ds, "kfold:5", 4);
    reco_dataset *t1, *e1, *t2, *e2, *t3, *e3;
    get_pair(s, 2, &t1, &e1);
    get_pair(s2, 2, &t2, &e2);
    get_pair(s3, 2, &t3, &e3);
    assert_int_equal(reco_dataset_nnz(e1), reco_dataset_nnz(e2));
    assert_memory_equal(e1->by_user.ptr, e2->by_user.ptr,
                        (reco_dataset_n_users(e1) + 1) * sizeof(uint64_t));
    assert_memory_equal(e1->by_user.idx, e2->by_user.idx, reco_dataset_nnz(e1) * 4);
    assert_true(reco_dataset_nnz(e1) != reco_dataset_nnz(e3) ||
                memcmp(e1->by_user.idx, e3->by_user.idx, reco_dataset_nnz(e1) * 4) != 0);
    reco_dataset_free(t1);
    reco_dataset_free(e1);
    reco_dataset_free(t2);
    reco_dataset_free(e2);
    reco_dataset_free(t3);
    reco_dataset_free(e3);
    reco_splitter_free(s2);
    reco_splitter_free(s3);
    reco_splitter_free(s);
    free(count);
    free(in_test);
    reco_dataset_free(ds);
}

static void test_random_split(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(400, 150, 20, false, 5);
    const uint64_t nnz = reco_dataset_nnz(ds);
    uint8_t *m1 = malloc(nnz), *m2 = malloc(nnz), *m3 = malloc(nnz);
    const uint64_t seeds[3] = {9, 9, 10};
    uint8_t *marks[3] = {m1, m2, m3};
    for (int j = 0; j < 3; j++) {
        reco_splitter *s = splitter(ds, "random:0.25", seeds[j]);
        assert_int_equal(reco_splitter_count(s), 1);
        reco_dataset *train, *test;
        get_pair(s, 0, &train, &test);
        check_pair(ds, train, test, marks[j]);
        /* Exactly round(F * ratings) are tested. */
        assert_int_equal(reco_dataset_nnz(test), (uint64_t)llround(0.25 * (double)nnz));
        reco_dataset_free(train);
        reco_dataset_free(test);
        reco_splitter_free(s);
    }
    assert_memory_equal(m1, m2, nnz);
    assert_memory_not_equal(m1, m3, nnz);
    /* Not the first or last quarter: the sample is spread over the data. */
    uint64_t first_half = 0;
    for (uint64_t k = 0; k < nnz / 2; k++)
        first_half += m1[k];
    double share = (double)first_half / (double)llround(0.25 * (double)nnz);
    assert_true(share > 0.4 && share < 0.6);
    free(m1);
    free(m2);
    free(m3);
    reco_dataset_free(ds);
}

/* For each user of full: test holds `expect(n)` of its n ratings, and none
 * of them is older than any of its training ratings. */
static void check_latest(const reco_dataset *full, const reco_dataset *train,
                         const reco_dataset *test, double F, bool loo)
{
    const reco_csr *T = &test->by_user, *R = &train->by_user;
    uint32_t tested_users = 0;
    for (uint32_t u = 0; u < reco_dataset_n_users(full); u++) {
        uint32_t n = reco_csr_row_len(&full->by_user, u);
        uint32_t want = loo ? (n >= 2) : (uint32_t)floor(F * n + 0.5);
        if (want > n - 1)
            want = n - 1;
        assert_int_equal(reco_csr_row_len(T, u), want);
        tested_users += want > 0;
        int64_t oldest_test = INT64_MAX, newest_train = INT64_MIN;
        for (uint64_t k = T->ptr[u]; k < T->ptr[u + 1]; k++)
            oldest_test = T->ts[k] < oldest_test ? T->ts[k] : oldest_test;
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
            newest_train = R->ts[k] > newest_train ? R->ts[k] : newest_train;
        if (want)
            assert_true(oldest_test >= newest_train);
    }
    assert_true(tested_users > 0);
}

static void test_time_split(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(300, 200, 30, true, 17);
    reco_splitter *s = splitter(ds, "time:0.3", 1);
    reco_dataset *train, *test;
    get_pair(s, 0, &train, &test);
    check_pair(ds, train, test, NULL);
    check_latest(ds, train, test, 0.3, false);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(s);

    /* Hand-made: u1's two latest of 4 (F = 0.5) are C (t=30) and D (t=40);
     * u2's single rating stays in training; u3 has two ratings at the same
     * time and F = 0.5 tests one of them. */
    reco_dataset *h = parse_dataset("u1,A,5,10\nu1,B,4,20\nu1,D,3,40\nu1,C,2,30\n"
                                    "u2,A,1,50\nu3,A,2,7\nu3,B,3,7\n");
    s = splitter(h, "time:0.5", 1);
    get_pair(s, 0, &train, &test);
    int64_t u1 = reco_idmap_find(h->users, "u1", 2);
    int64_t u2 = reco_idmap_find(h->users, "u2", 2);
    int64_t u3 = reco_idmap_find(h->users, "u3", 2);
    int64_t C = reco_idmap_find(h->items, "C", 1), D = reco_idmap_find(h->items, "D", 1);
    assert_int_equal(reco_csr_row_len(&test->by_user, (uint32_t)u1), 2);
    assert_true(reco_csr_find(&test->by_user, (uint32_t)u1, (uint32_t)C) >= 0);
    assert_true(reco_csr_find(&test->by_user, (uint32_t)u1, (uint32_t)D) >= 0);
    assert_int_equal(reco_csr_row_len(&test->by_user, (uint32_t)u2), 0);
    assert_int_equal(reco_csr_row_len(&train->by_user, (uint32_t)u2), 1);
    assert_int_equal(reco_csr_row_len(&test->by_user, (uint32_t)u3), 1);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(s);
    reco_dataset_free(h);
    reco_dataset_free(ds);
}

static void test_loo(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(300, 200, 12, true, 23);
    reco_splitter *s = splitter(ds, "loo", 1);
    reco_dataset *train, *test;
    get_pair(s, 0, &train, &test);
    check_pair(ds, train, test, NULL);
    check_latest(ds, train, test, 0, true);
    uint32_t multi = 0;
    for (uint32_t u = 0; u < reco_dataset_n_users(ds); u++)
        multi += reco_csr_row_len(&ds->by_user, u) >= 2;
    assert_int_equal(reco_dataset_nnz(test), multi);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(s);
    reco_dataset_free(ds);
}

static void test_time_needs_timestamps(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(50, 30, 5, false, 3);
    reco_split_spec spec;
    reco_error err;
    reco_splitter *s = NULL;
    const char *kinds[] = {"time:0.2", "loo"};
    for (int j = 0; j < 2; j++) {
        assert_int_equal(reco_split_parse(kinds[j], 1, &spec, NULL), RECO_OK);
        assert_int_equal(reco_splitter_new(ds, &spec, &s, &err), RECO_ERR_INVALID);
        assert_null(s);
        assert_non_null(strstr(err.msg, "timestamps"));
    }
    /* Users with one rating each leave nothing to test by time. */
    reco_dataset *single = parse_dataset("a,x,1,5\nb,y,2,6\n");
    assert_int_equal(reco_split_parse("loo", 1, &spec, NULL), RECO_OK);
    assert_int_equal(reco_splitter_new(single, &spec, &s, &err), RECO_ERR_EMPTY);
    reco_dataset_free(single);
    reco_dataset_free(ds);
}

/* After a split the training set keeps the full maps' indices even for a
 * user whose only ratings all went to test, and a model fitted on it
 * counts that user as unknown. */
static void test_indices_aligned_and_unknown_counted(void **state)
{
    (void)state;
    /* Users with 1 to 3 ratings and half of the ratings tested: some users
     * and products end up with test ratings only. */
    reco_dataset *ds = synthetic(200, 60, 3, true, 31);
    reco_splitter *s = splitter(ds, "random:0.5", 2);
    reco_dataset *train, *test;
    get_pair(s, 0, &train, &test);
    check_pair(ds, train, test, NULL);
    /* Keys by index agree: the maps are the same objects. */
    for (uint32_t u = 0; u < reco_dataset_n_users(ds); u += 17)
        assert_string_equal(reco_idmap_key(train->users, u, NULL),
                            reco_idmap_key(ds->users, u, NULL));
    uint64_t want_uu = 0, want_ui = 0;
    const reco_csr *T = &test->by_user;
    for (uint32_t u = 0; u < T->n_rows; u++)
        for (uint64_t k = T->ptr[u]; k < T->ptr[u + 1]; k++) {
            want_uu += reco_csr_row_len(&train->by_user, u) == 0;
            want_ui += reco_csr_row_len(&train->by_item, T->idx[k]) == 0;
        }
    assert_true(want_uu > 0); /* the fixture does move whole users */
    reco_model *m = NULL;
    assert_int_equal(reco_model_new("baseline", &m, NULL), RECO_OK);
    assert_int_equal(reco_model_fit(m, train, NULL, NULL), RECO_OK);
    reco_eval_result r;
    assert_int_equal(reco_eval_model(m, test, NULL, &r, NULL), RECO_OK);
    assert_int_equal(r.test_ratings, reco_dataset_nnz(test));
    assert_int_equal(r.unknown_user_ratings, want_uu);
    assert_int_equal(r.unknown_item_ratings, want_ui);
    assert_true(r.rank_cold_users > 0);
    assert_true(isfinite(r.rmse));
    reco_model_free(m);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(s);
    reco_dataset_free(ds);
}

/* The figures do not depend on the number of threads (block sums). */
static void test_threads_do_not_change_results(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(2000, 300, 40, true, 41);
    reco_splitter *s = splitter(ds, "random:0.2", 1);
    reco_dataset *train, *test;
    get_pair(s, 0, &train, &test);
    reco_model *m = NULL;
    assert_int_equal(reco_model_new("baseline", &m, NULL), RECO_OK);
    assert_int_equal(reco_model_fit(m, train, NULL, NULL), RECO_OK);
    reco_eval_options o;
    reco_eval_options_default(&o);
    reco_eval_result r1, r2;
    o.threads = 1;
    assert_int_equal(reco_eval_model(m, test, &o, &r1, NULL), RECO_OK);
    o.threads = 3;
    assert_int_equal(reco_eval_model(m, test, &o, &r2, NULL), RECO_OK);
    assert_true(r1.rmse == r2.rmse && r1.mae == r2.mae);
    assert_true(r1.precision == r2.precision && r1.recall == r2.recall);
    assert_true(r1.ndcg == r2.ndcg && r1.map == r2.map && r1.hit_rate == r2.hit_rate);
    assert_true(r1.coverage == r2.coverage);
    assert_true(r1.rank_users > 100);
    reco_model_free(m);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(s);
    reco_dataset_free(ds);
}

static void test_sample_and_summary(void **state)
{
    (void)state;
    uint32_t a[50], b[50];
    reco_split_sample(1000, 50, 7, a);
    reco_split_sample(1000, 50, 7, b);
    assert_memory_equal(a, b, sizeof a);
    for (int k = 1; k < 50; k++)
        assert_true(a[k] > a[k - 1]);
    assert_true(a[49] < 1000);
    reco_split_sample(5, 5, 7, a); /* all of them */
    for (uint32_t k = 0; k < 5; k++)
        assert_int_equal(a[k], k);

    /* mean of 1 and 3 is 2, population std 1; counts add up. */
    reco_eval_result r[2] = {{0}}, mean, sd;
    r[0].rmse = 1;
    r[1].rmse = 3;
    r[0].test_ratings = 10;
    r[1].test_ratings = 12;
    reco_eval_summarise(r, 2, &mean, &sd);
    assert_float_equal(mean.rmse, 2, EPS);
    assert_float_equal(sd.rmse, 1, EPS);
    assert_int_equal(mean.test_ratings, 22);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_metrics_by_hand),
        cmocka_unit_test(test_rmse_mae_by_hand),
        cmocka_unit_test(test_eval_by_hand),
        cmocka_unit_test(test_split_parse),
        cmocka_unit_test(test_kfold_disjoint_and_covering),
        cmocka_unit_test(test_random_split),
        cmocka_unit_test(test_time_split),
        cmocka_unit_test(test_loo),
        cmocka_unit_test(test_time_needs_timestamps),
        cmocka_unit_test(test_indices_aligned_and_unknown_counted),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_sample_and_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
