/* Ranking accuracy on MovieLens 100K, the five splits u1..u5 (relevant: a
 * test rating >= 4, products rated in training excluded; reco_eval_model):
 * ials with its defaults, the default model (ranker chosen on a
 * validation split of each training file, mf for predictions) against the
 * products-by-number-of-ratings baseline, and the default's rating error.
 * Floors sit a little under the measured figures (docs/benchmarks.md).
 * Skipped (77) when ../shared/data is absent. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reco/default_algo.h"
#include "reco/eval.h"
#include "reco/model.h"
#include "testutil.h"

/* Mean over u1..u5 of algorithm `algo` with default parameters. */
static reco_eval_result folds(const char *algo)
{
    reco_eval_result r[5], mean;
    for (int k = 1; k <= 5; k++) {
        reco_dataset *train, *test;
        assert_int_equal(test_ml100k_eval_fold(k, &train, &test), 0);
        reco_model *m = NULL;
        reco_error err;
        assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
        if (reco_model_fit(m, train, NULL, &err))
            fail_msg("%s: %s", algo, err.msg);
        reco_eval_options o;
        reco_eval_options_default(&o);
        if (reco_eval_model(m, test, &o, &r[k - 1], &err))
            fail_msg("%s", err.msg);
        const reco_default_choice *ch = reco_default_choice_of(m);
        if (ch) {
            char line[512];
            reco_default_choice_format(ch, line, sizeof line);
            print_message("u%d: %s\n", k, line);
            /* Shop-like or not, a bestseller list never wins here. */
            assert_string_not_equal(ch->ranker, "popular");
        }
        reco_model_free(m);
        reco_dataset_free(test);
        reco_dataset_free(train);
    }
    reco_eval_summarise(r, 5, &mean, NULL);
    print_message("%-8s NDCG@10 %.4f  P@10 %.4f  MAP@10 %.4f  RMSE %.4f\n", algo, mean.ndcg,
                  mean.precision, mean.map, mean.rmse);
    return mean;
}

static void test_ranking(void **state)
{
    (void)state;
    reco_eval_result pop = folds("popular"), ials = folds("ials"), def = folds("default");
    /* Measured: popular 0.198, ials 0.385, default 0.405 (RMSE 0.911). */
    assert_true(ials.ndcg >= 0.37);
    assert_true(def.ndcg >= 0.39);
    assert_true(def.ndcg >= 1.8 * pop.ndcg);
    assert_true(def.rmse <= 0.915);
    assert_true(isnan(ials.rmse)); /* ials predicts no ratings */
}

int main(void)
{
    char buf[4096];
    if (!test_shared_data("ml-100k/splits/u5.test", buf, sizeof buf)) {
        fprintf(stderr, "MovieLens 100K splits not found under %s: skipped\n", RECO_SHARED_DATA);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
