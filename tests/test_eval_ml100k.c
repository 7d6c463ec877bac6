/* Evaluation on MovieLens 100K (../shared/data; exit 77 when absent): the
 * baseline on the five standard u1..u5 splits must match the published
 * figure (Surprise BaselineOnly: RMSE 0.944 over 5 folds), and the
 * ranking metrics of popular (by count and by damped mean) and baseline
 * must be sensible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "reco/eval.h"
#include "reco/model.h"
#include "reco/split.h"
#include "testutil.h"

/* key = value is an extra parameter, or NULL. */
static reco_eval_result eval_algo(const char *algo, const char *key, const char *value,
                                  const reco_dataset *train, const reco_dataset *test,
                                  bool ranking)
{
    reco_model *m = NULL;
    reco_error err;
    if (reco_model_new(algo, &m, &err) || (key && reco_model_set_param(m, key, value, &err)) ||
        reco_model_fit(m, train, NULL, &err))
        fail_msg("%s: %s", algo, err.msg);
    reco_eval_options o;
    reco_eval_options_default(&o);
    o.ranking_metrics = ranking;
    reco_eval_result r;
    if (reco_eval_model(m, test, &o, &r, &err))
        fail_msg("%s: %s", algo, err.msg);
    reco_model_free(m);
    return r;
}

static void check_ranking(const char *algo, const reco_eval_result *r)
{
    printf("  %-8s RMSE %.4f MAE %.4f P@10 %.4f R@10 %.4f NDCG@10 %.4f MAP@10 %.4f "
           "HR@10 %.4f coverage %.4f\n",
           algo, r->rmse, r->mae, r->precision, r->recall, r->ndcg, r->map, r->hit_rate,
           r->coverage);
    assert_true(r->rank_users > 400);
    assert_true(r->precision > 0.01 && r->precision <= 1);
    assert_true(r->recall > 0.01 && r->recall <= 1);
    assert_true(r->ndcg > 0.01 && r->ndcg <= 1);
    assert_true(r->map > 0.005 && r->map <= 1);
    assert_true(r->hit_rate > 0.1 && r->hit_rate <= 1);
    assert_true(r->coverage > 0 && r->coverage <= 1);
}

static void test_u1_to_u5(void **state)
{
    (void)state;
    char base[512], testp[512];
    reco_eval_result base_r[5], pop_r[5], mean_r[5];
    for (int k = 1; k <= 5; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "ml-100k/splits/u%d.base", k);
        assert_non_null(test_shared_data(rel, base, sizeof base));
        snprintf(rel, sizeof rel, "ml-100k/splits/u%d.test", k);
        assert_non_null(test_shared_data(rel, testp, sizeof testp));
        reco_dataset *train = NULL, *test = NULL;
        reco_error err;
        if (reco_dataset_load(base, NULL, NULL, &train, &err) ||
            reco_split_load_test(testp, train, NULL, &test, &err))
            fail_msg("%s", err.msg);
        /* u1.test .. u5.test are disjoint from their bases. */
        assert_int_equal(reco_dataset_nnz(test), 20000);
        assert_int_equal(test->filtered_ratings, 0);
        base_r[k - 1] = eval_algo("baseline", NULL, NULL, train, test, true);
        pop_r[k - 1] = eval_algo("popular", NULL, NULL, train, test, true);
        mean_r[k - 1] = eval_algo("popular", "by", "mean", train, test, true);
        assert_int_equal(base_r[k - 1].test_ratings, 20000);
        reco_dataset_free(test);
        reco_dataset_free(train);
    }
    reco_eval_result bm, bs, pm, mm;
    reco_eval_summarise(base_r, 5, &bm, &bs);
    reco_eval_summarise(pop_r, 5, &pm, NULL);
    reco_eval_summarise(mean_r, 5, &mm, NULL);
    printf("  u1..u5: baseline RMSE %.4f ± %.4f (Surprise BaselineOnly 0.944), MAE %.4f; "
           "%llu test ratings of unknown products\n",
           bm.rmse, bs.rmse, bm.mae, (unsigned long long)bm.unknown_item_ratings);
    assert_true(bm.rmse <= 0.950);
    /* Too good would mean the test ratings leaked into training. */
    assert_true(bm.rmse > 0.90);
    assert_true(bm.mae < 0.76);
    assert_true(bm.unknown_user_ratings == 0);
    assert_true(bm.unknown_item_ratings > 0 && bm.unknown_item_ratings < 500);
    /* Counting ratings predicts none; the damped item mean predicts worse
     * than the baseline, which adds user biases. */
    assert_true(isnan(pm.rmse) && isnan(pm.mae));
    assert_true(mm.rmse > bm.rmse);
    check_ranking("baseline", &bm);
    check_ranking("popular", &pm);
    check_ranking("pop-mean", &mm);
    /* On MovieLens, where relevant means rated >= 4 by users who rate a
     * lot, the most-rated films are hit far more often than the best-rated
     * ones. */
    assert_true(pm.precision > mm.precision && pm.ndcg > mm.ndcg);
}

/* The same protocol through the library's own 5-fold split of u.data. */
static void test_kfold_u_data(void **state)
{
    (void)state;
    char path[512];
    assert_non_null(test_shared_data("ml-100k/u.data", path, sizeof path));
    reco_dataset *ds = NULL;
    reco_error err;
    if (reco_dataset_load(path, NULL, NULL, &ds, &err))
        fail_msg("%s", err.msg);
    reco_split_spec spec;
    reco_splitter *s = NULL;
    assert_int_equal(reco_split_parse("kfold:5", 1, &spec, NULL), RECO_OK);
    if (reco_splitter_new(ds, &spec, &s, &err))
        fail_msg("%s", err.msg);
    reco_eval_result r[5];
    for (uint32_t f = 0; f < 5; f++) {
        reco_dataset *train, *test;
        if (reco_splitter_get(s, f, &train, &test, &err))
            fail_msg("%s", err.msg);
        assert_int_equal(reco_dataset_nnz(test), 20000);
        /* Ranking once is enough (kept fast under sanitizers). */
        r[f] = eval_algo("baseline", NULL, NULL, train, test, f == 0);
        reco_dataset_free(train);
        reco_dataset_free(test);
    }
    reco_eval_result m, sd;
    reco_eval_summarise(r, 5, &m, &sd);
    printf("  kfold:5: baseline RMSE %.4f ± %.4f, MAE %.4f\n", m.rmse, sd.rmse, m.mae);
    assert_true(m.rmse <= 0.950 && m.rmse > 0.90);
    check_ranking("baseline", &r[0]);
    assert_true(isnan(r[1].precision)); /* not computed when not asked */

    /* The honest time split is harder than a random one. */
    assert_int_equal(reco_split_parse("time:0.2", 1, &spec, NULL), RECO_OK);
    reco_splitter_free(s);
    if (reco_splitter_new(ds, &spec, &s, &err))
        fail_msg("%s", err.msg);
    reco_dataset *train, *test;
    if (reco_splitter_get(s, 0, &train, &test, &err))
        fail_msg("%s", err.msg);
    reco_eval_result t = eval_algo("baseline", NULL, NULL, train, test, false);
    printf("  time:0.2: baseline RMSE %.4f, MAE %.4f\n", t.rmse, t.mae);
    assert_true(t.rmse > m.rmse);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_splitter_free(s);
    reco_dataset_free(ds);
}

int main(void)
{
    char buf[512];
    if (!test_shared_data("ml-100k/u.data", buf, sizeof buf) ||
        !test_shared_data("ml-100k/splits/u5.test", buf, sizeof buf)) {
        fprintf(stderr, "MovieLens 100K not found under %s: skipped\n", RECO_SHARED_DATA);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u1_to_u5),
        cmocka_unit_test(test_kfold_u_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
