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
    reco_error err;
    reco_dataset *train;
    reco_ratings *t;
    assert_int_equal(test_ml100k_fold(k, &train, &t), 0);

    reco_model *m;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    const reco_mf_params *p = m->params;
    assert_int_equal(p->factors, 100);
    assert_int_equal(p->epochs, 17);
    if (reco_model_fit(m, train, NULL, &err))
        fail_msg("%s", err.msg);
    assert_non_null(reco_mf_state_of(m));
    double rmse = test_rmse(m, t);
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
