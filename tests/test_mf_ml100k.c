/* Accuracy of "mf" with its default parameters on MovieLens 100K: the mean
 * test RMSE over the five splits u1..u5 must be at most 0.915 (Surprise's
 * SVD gets 0.934). Skipped (77) when ../shared/data is absent. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "reco/dataset.h"
#include "reco/mf.h"
#include "reco/model.h"
#include "testutil.h"

#define TARGET_RMSE 0.915

static double fold_rmse(int k)
{
    char base[4096], test[4096], rel[64];
    snprintf(rel, sizeof rel, "ml-100k/splits/u%d.base", k);
    assert_non_null(test_shared_data(rel, base, sizeof base));
    snprintf(rel, sizeof rel, "ml-100k/splits/u%d.test", k);
    assert_non_null(test_shared_data(rel, test, sizeof test));

    reco_error err;
    reco_load_options lo;
    reco_build_options bo;
    reco_load_options_default(&lo);
    reco_build_options_default(&bo);
    bo.keep_ids = true;
    reco_dataset *train;
    if (reco_dataset_load(base, &lo, &bo, &train, &err))
        fail_msg("%s", err.msg);
    /* The test file shares the training maps, so indices agree; users or
     * items new in the test get indices past the model's (the baseline
     * answers for them). */
    lo.users = train->users;
    lo.items = train->items;
    reco_ratings *t;
    if (reco_ratings_load(test, &lo, &t, &err))
        fail_msg("%s", err.msg);

    reco_model *m;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    const reco_mf_params *p = m->params;
    assert_int_equal(p->factors, 100);
    assert_int_equal(p->epochs, 20);
    if (reco_model_fit(m, train, NULL, &err))
        fail_msg("%s", err.msg);
    assert_non_null(reco_mf_state_of(m));
    double se = 0;
    for (uint64_t j = 0; j < t->n; j++) {
        double d = reco_model_predict(m, t->user[j], t->item[j]) - t->rating[j];
        se += d * d;
    }
    double rmse = sqrt(se / (double)t->n);
    reco_model_free(m);
    reco_ratings_free(t);
    reco_dataset_free(train);
    return rmse;
}

static void test_ml100k_five_folds(void **state)
{
    (void)state;
    double mean = 0;
    for (int k = 1; k <= 5; k++) {
        double r = fold_rmse(k);
        print_message("u%d: RMSE %.4f\n", k, r);
        assert_true(r < 0.95);
        mean += r / 5;
    }
    print_message("mean RMSE %.4f (target <= %.3f)\n", mean, TARGET_RMSE);
    assert_true(mean <= TARGET_RMSE);
}

int main(void)
{
    char buf[4096];
    if (!test_shared_data("ml-100k/splits/u5.test", buf, sizeof buf)) {
        fprintf(stderr, "MovieLens 100K splits not found under %s: skipped\n", RECO_SHARED_DATA);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml100k_five_folds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
