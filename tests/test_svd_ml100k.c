/* Accuracy of the "svd" recommender on MovieLens 100K's five standard
 * splits (u1..u5): the default (mode=baseline, k=20) must reach a mean
 * RMSE of 0.935 or better. The usermean and notebook modes are fitted and
 * their RMSE printed for the record (notebook is not an accuracy mode: it
 * predicts about 2.5 on this data, see reco/svd.h); pure predicts no
 * ratings at all. Exits 77 (skipped) without ../shared/data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/model.h"
#include "reco/svd.h"
#include "testutil.h"

/* Mean RMSE over the five folds of "svd" with one parameter set. */
static double five_fold_rmse(const char *mode)
{
    double sum = 0;
    for (int f = 1; f <= 5; f++) {
        reco_error err;
        reco_dataset *train = NULL;
        reco_ratings *te = NULL;
        assert_int_equal(test_ml100k_fold(f, &train, &te), 0);

        reco_model *m = NULL;
        assert_int_equal(reco_model_new("svd", &m, &err), RECO_OK);
        assert_int_equal(reco_model_set_param(m, "mode", mode, &err), RECO_OK);
        if (reco_model_fit(m, train, NULL, &err))
            fail_msg("u%d: %s", f, err.msg);
        const reco_svd_model *st = reco_svd_model_of(m);
        assert_non_null(st);
        assert_int_equal(st->k, 20); /* the default */
        double rmse = test_rmse(m, te);
        printf("  svd mode=%s u%d: RMSE %.4f (fit %.2f s, %u ARPACK restarts)\n", mode, f,
               rmse, m->fit_seconds, st->restarts);
        sum += rmse;
        reco_model_free(m);
        reco_ratings_free(te);
        reco_dataset_free(train);
    }
    double mean = sum / 5;
    printf("svd mode=%s k=20: mean RMSE %.4f over u1..u5\n", mode, mean);
    return mean;
}

static void test_default_accuracy(void **state)
{
    (void)state;
    double rmse = five_fold_rmse("baseline");
    assert_true(rmse <= 0.935);
}

static void test_other_modes(void **state)
{
    (void)state;
    /* Centred on user means (rated entries): about 1.0, as the classic
     * user-mean SVD recipe is known to reach on this data. The notebook's
     * dense variant is there for fidelity: finite. PureSVD reconstructs
     * the zero-filled matrix, whose values rank but are not ratings: the
     * model says it predicts none (the baseline answers). */
    double um = five_fold_rmse("usermean");
    print_message("usermean RMSE %.4f\n", um);
    assert_true(um > 0.9 && um < 1.05);
    assert_true(isfinite(five_fold_rmse("notebook")));
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("svd", &m, &err), RECO_OK);
    assert_int_equal(reco_model_set_param(m, "mode", "pure", &err), RECO_OK);
    assert_false(reco_model_predicts_ratings(m));
    reco_model_free(m);
}

int main(void)
{
    char buf[1024];
    if (!test_shared_data("ml-100k/splits/u1.base", buf, sizeof buf)) {
        printf("MovieLens 100K splits not found under %s: skipped\n", RECO_SHARED_DATA);
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_accuracy),
        cmocka_unit_test(test_other_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
