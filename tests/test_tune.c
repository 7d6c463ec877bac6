/* Hyperparameter search: the search-space grammar (good and bad specs),
 * grid order and count, seeded random draws, the direction of "best", the
 * validation split (carved from the given training data only, refused when
 * too small), the time budget, and whole searches on small synthetic data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/eval.h"
#include "reco/model.h"
#include "reco/split.h"
#include "reco/tune.h"
#include "rng.h"
#include "testutil.h"

/* ---- fixtures ------------------------------------------------------------- */

/* n_users users with 2..max_per_user ratings of distinct items among
 * n_items, ratings lo..5, timestamps (or none). */
static reco_dataset *synthetic(uint32_t n_users, uint32_t n_items, uint32_t max_per_user,
                               bool with_ts, int lo, uint64_t seed)
{
    reco_ratings *r = reco_ratings_new(NULL, NULL);
    assert_non_null(r);
    uint8_t *used = calloc(n_items, 1);
    char u[32], i[32];
    for (uint32_t a = 0; a < n_users; a++) {
        uint32_t n = 2 + (uint32_t)(reco_splitmix64(&seed) % (max_per_user - 1));
        memset(used, 0, n_items);
        snprintf(u, sizeof u, "user%u", a);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t it = (uint32_t)(reco_splitmix64(&seed) % n_items);
            if (used[it])
                continue;
            used[it] = 1;
            snprintf(i, sizeof i, "item%u", it);
            float rating = (float)(lo + (int)(reco_splitmix64(&seed) % (uint64_t)(6 - lo)));
            int64_t ts = with_ts ? (int64_t)(1000 + reco_splitmix64(&seed) % 500) : 0;
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

static void space_of(reco_tune_space *s, const char *const *dims, size_t n)
{
    memset(s, 0, sizeof *s);
    reco_error err;
    for (size_t k = 0; k < n; k++)
        if (reco_tune_space_add(s, dims[k], &err))
            fail_msg("%s: %s", dims[k], err.msg);
}

/* Expects text to be refused with a message containing needle. */
static void bad_dim(const char *text, const char *needle)
{
    reco_tune_dim d;
    reco_error err;
    reco_error_clear(&err);
    if (reco_tune_dim_parse(text, &d, &err) != RECO_ERR_INVALID)
        fail_msg("\"%s\" was accepted", text);
    if (!strstr(err.msg, needle))
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, err.msg, needle);
}

/* ---- the grammar ------------------------------------------------------------ */

static void test_dim_grammar_good(void **state)
{
    (void)state;
    reco_tune_dim d;
    reco_error err;
    char buf[512];

    assert_int_equal(reco_tune_dim_parse("factors=32,64,128", &d, &err), RECO_OK);
    assert_string_equal(d.key, "factors");
    assert_false(d.is_range);
    assert_int_equal(d.n_values, 3);
    assert_string_equal(d.values[0], "32");
    assert_string_equal(d.values[2], "128");
    reco_tune_dim_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "factors=32,64,128");

    /* One value, and values that are not numbers. */
    assert_int_equal(reco_tune_dim_parse("mode=pure", &d, &err), RECO_OK);
    assert_int_equal(d.n_values, 1);
    assert_int_equal(reco_tune_dim_parse("centered=true,false", &d, &err), RECO_OK);
    assert_string_equal(d.values[1], "false");

    assert_int_equal(reco_tune_dim_parse("reg=0.001:1:log", &d, &err), RECO_OK);
    assert_true(d.is_range);
    assert_true(d.log);
    assert_false(d.integer);
    assert_int_equal(d.points, 0);
    assert_float_equal(d.lo, 0.001, 0);
    assert_float_equal(d.hi, 1, 0);

    assert_int_equal(reco_tune_dim_parse("alpha=1:50", &d, &err), RECO_OK);
    assert_true(d.is_range && !d.log && !d.integer);

    /* Options after HI separated by ':' or ',', in any order. */
    assert_int_equal(reco_tune_dim_parse("factors=16:256:int,log", &d, &err), RECO_OK);
    assert_true(d.integer && d.log);
    assert_int_equal(reco_tune_dim_parse("factors=16:256,log,int,4", &d, &err), RECO_OK);
    assert_int_equal(d.points, 4);
    assert_true(d.integer && d.log);
    assert_int_equal(reco_tune_dim_parse("factors=16:256:log:int:5", &d, &err), RECO_OK);
    assert_true(d.integer && d.log);
    assert_int_equal(d.points, 5);
    reco_tune_dim_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "factors=16:256:int:log:5");
    assert_int_equal(reco_tune_dim_parse("reg=-1:1e-1:3", &d, &err), RECO_OK);
    assert_float_equal(d.lo, -1, 0);
    assert_int_equal(d.points, 3);
    assert_int_equal(reco_tune_dim_parse("baseline.reg_u=1,2", &d, &err), RECO_OK);
    assert_string_equal(d.key, "baseline.reg_u");
}

static void test_dim_grammar_bad(void **state)
{
    (void)state;
    bad_dim("factors", "expected KEY=V1,V2");
    bad_dim("=1,2", "expected KEY=");
    bad_dim("factors=", "expected KEY=");
    bad_dim("fac tors=1", "may not contain");
    bad_dim("factors=1,,2", "an empty value");
    bad_dim("factors=1,2,", "an empty value");
    bad_dim("factors=8,16,8", "\"8\" is listed twice");
    bad_dim("reg=abc:1", "the lower bound \"abc\" is not a number");
    bad_dim("reg=0.1:", "the upper bound \"\" is not a number");
    bad_dim("reg=0.1:x", "the upper bound \"x\" is not a number");
    bad_dim("reg=1:0.5", "the lower bound must be below the upper bound");
    bad_dim("reg=1:1", "for one value use a list: reg=1");
    bad_dim("reg=0:1:log", "a log range needs a lower bound above 0");
    bad_dim("reg=-1:1:log", "above 0");
    bad_dim("factors=1.5:8:int", "an int range needs integer bounds");
    bad_dim("reg=0.1:1:bogus", "\"bogus\" is not a range option");
    bad_dim("reg=0.1:1:log:log", "\"log\" is not a range option");
    bad_dim("reg=0.1:1:1", "the number of grid points must be 2 to 64");
    bad_dim("reg=0.1:1:65", "the number of grid points must be 2 to 64");
    bad_dim("reg=0.1:1:3:4", "is not a range option");
    bad_dim("k=1:3:int:4", "4 grid points, but only 3 integers from 1 to 3");
    bad_dim("reg=0.1,0.2:1", "a list, V1,V2,..., cannot contain ':'");
    bad_dim("reg=nan:1", "not a number");
    bad_dim("reg=1:inf", "not a number");
    char long_value[200];
    memset(long_value, 'x', sizeof long_value);
    memcpy(long_value, "mode=", 5);
    long_value[sizeof long_value - 1] = '\0';
    bad_dim(long_value, "longer than 63 bytes");
}

static void test_space_add_and_check(void **state)
{
    (void)state;
    reco_tune_space s;
    memset(&s, 0, sizeof s);
    reco_error err;
    assert_int_equal(reco_tune_space_add(&s, "factors=8,16", &err), RECO_OK);
    assert_int_equal(reco_tune_space_add(&s, "factors=4", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "factors is already in the search space"));
    assert_int_equal(reco_tune_space_add(&s, "mf.reg=0.01:0.1:log", &err), RECO_OK);
    /* "mf." is stripped when checked against mf. */
    assert_int_equal(reco_tune_space_check(&s, "mf", &err), RECO_OK);
    assert_string_equal(s.dims[1].key, "reg");

    /* An unknown key, and a value out of range, refused with the
     * algorithm's own message naming the parameter and its range. */
    const char *unknown[] = {"nosuch=1,2"};
    space_of(&s, unknown, 1);
    assert_int_equal(reco_tune_space_check(&s, "mf", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "unknown parameter mf.nosuch");
    const char *range[] = {"factors=16:2048:int"};
    space_of(&s, range, 1);
    assert_int_equal(reco_tune_space_check(&s, "mf", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "mf.factors wants an integer from 1 to 1024, got \"2048\"");
    const char *list[] = {"k=10,0"};
    space_of(&s, list, 1);
    assert_int_equal(reco_tune_space_check(&s, "usercf", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "usercf.k wants an integer from 1 to"));
    const char *shared[] = {"baseline.reg_u=-1,1"};
    space_of(&s, shared, 1);
    assert_int_equal(reco_tune_space_check(&s, "mf", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "baseline.reg_u wants a number from 0"));
    assert_int_equal(reco_tune_space_check(&s, "nosuch", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown algorithm \"nosuch\""));
    /* A dimension filled in by hand is checked too. */
    memset(&s, 0, sizeof s);
    s.n_dims = 1;
    strcpy(s.dims[0].key, "factors");
    assert_int_equal(reco_tune_space_check(&s, "mf", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "malformed"));

    /* Too many dimensions. */
    memset(&s, 0, sizeof s);
    char text[32];
    for (int k = 0; k < RECO_TUNE_MAX_DIMS; k++) {
        snprintf(text, sizeof text, "p%d=1,2", k);
        assert_int_equal(reco_tune_space_add(&s, text, &err), RECO_OK);
    }
    assert_int_equal(reco_tune_space_add(&s, "one_more=1", &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "at most 16"));
}

static void test_default_spaces(void **state)
{
    (void)state;
    reco_tune_space s;
    reco_error err;
    /* Every built-in algorithm has one, and every key of it is accepted. */
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
        if (reco_tune_default_space((*a)->name, &s, &err))
            fail_msg("%s: %s", (*a)->name, err.msg);
        assert_true(s.n_dims >= 1);
        assert_int_equal(reco_tune_space_check(&s, (*a)->name, &err), RECO_OK);
    }
    assert_int_equal(reco_tune_default_space("mf", &s, &err), RECO_OK);
    assert_string_equal(s.dims[0].key, "factors");
    assert_true(s.dims[0].is_range && s.dims[0].integer && s.dims[0].log);
    assert_int_equal(reco_tune_default_space("nosuch", &s, &err), RECO_ERR_INVALID);
}

/* ---- metrics ------------------------------------------------------------------ */

static void test_metric_names(void **state)
{
    (void)state;
    reco_tune_metric m;
    reco_error err;
    char buf[32];
    assert_int_equal(reco_tune_metric_parse("ndcg", &m, &err), RECO_OK);
    assert_int_equal(m.kind, RECO_TUNE_NDCG);
    assert_int_equal(m.n, 10);
    assert_true(reco_tune_metric_maximise(&m));
    assert_int_equal(reco_tune_metric_parse("p@5", &m, &err), RECO_OK);
    assert_int_equal(m.kind, RECO_TUNE_PRECISION);
    assert_int_equal(m.n, 5);
    reco_tune_metric_format(&m, buf, sizeof buf);
    assert_string_equal(buf, "precision@5");
    assert_int_equal(reco_tune_metric_parse("NDCG@20", &m, &err), RECO_OK);
    assert_int_equal(m.kind, RECO_TUNE_NDCG);
    assert_int_equal(m.n, 20);
    assert_int_equal(reco_tune_metric_parse("hr@20", &m, &err), RECO_OK);
    assert_int_equal(m.kind, RECO_TUNE_HIT);
    assert_int_equal(reco_tune_metric_parse("map@3", &m, &err), RECO_OK);
    assert_int_equal(reco_tune_metric_parse("recall@100", &m, &err), RECO_OK);
    assert_int_equal(reco_tune_metric_parse("rmse", &m, &err), RECO_OK);
    assert_false(reco_tune_metric_maximise(&m));
    assert_false(reco_tune_metric_is_ranking(&m));
    reco_tune_metric_format(&m, buf, sizeof buf);
    assert_string_equal(buf, "rmse");
    assert_int_equal(reco_tune_metric_parse("mae", &m, &err), RECO_OK);
    assert_false(reco_tune_metric_maximise(&m));

    assert_int_equal(reco_tune_metric_parse("rmse@10", &m, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_tune_metric_parse("ndcg@0", &m, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "1 to 1000"));
    assert_int_equal(reco_tune_metric_parse("ndcg@", &m, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_tune_metric_parse("ndcg@-3", &m, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_tune_metric_parse("auc", &m, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown metric \"auc\""));
}

static void test_best_direction(void **state)
{
    (void)state;
    reco_tune_trial t[4];
    memset(t, 0, sizeof t);
    t[0].metric = 0.9;
    t[1].metric = NAN;
    t[2].metric = 0.8;
    t[3].metric = 0.95;
    reco_tune_metric rmse = {RECO_TUNE_RMSE, 10}, ndcg = {RECO_TUNE_NDCG, 10};
    assert_int_equal(reco_tune_best(t, 4, &rmse), 2);
    assert_int_equal(reco_tune_best(t, 4, &ndcg), 3);
    /* A NaN never wins, even first; ties go to the earliest. */
    t[0].metric = NAN;
    t[2].metric = 0.95;
    assert_int_equal(reco_tune_best(t, 4, &ndcg), 2);
    assert_int_equal(reco_tune_best(t, 4, &rmse), 2);
    assert_int_equal(reco_tune_best(t, 1, &rmse), 0);
}

/* ---- plans ------------------------------------------------------------------ */

static void test_grid_order_and_count(void **state)
{
    (void)state;
    reco_tune_options o;
    reco_tune_options_default(&o);
    reco_tune_space s;
    reco_error err;
    const char *dims[] = {"a=1,2", "b=x,y,z"};
    space_of(&s, dims, 2);
    reco_tune_value *v = NULL;
    size_t n = 0;
    /* AUTO with lists only is a grid: the first dimension varies slowest. */
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 6);
    const char *want[6][2] = {{"1", "x"}, {"1", "y"}, {"1", "z"},
                              {"2", "x"}, {"2", "y"}, {"2", "z"}};
    for (size_t t = 0; t < 6; t++) {
        assert_string_equal(v[t * 2], want[t][0]);
        assert_string_equal(v[t * 2 + 1], want[t][1]);
    }
    free(v);

    /* Ranges with a point count: log-spaced, linear, integer (deduplicated). */
    const char *ranges[] = {"reg=0.01:1:log:3", "alpha=0:1:5", "k=1:100:int:log:3",
                            "f=1:3:int:3"};
    space_of(&s, ranges, 4);
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 3 * 5 * 3 * 3);
    /* Read each dimension's values off the right stride. */
    assert_string_equal(v[0 * 4 + 0], "0.01");
    assert_string_equal(v[45 * 4 + 0], "0.1");
    assert_string_equal(v[90 * 4 + 0], "1");
    const char *alphas[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int j = 0; j < 5; j++)
        assert_string_equal(v[(size_t)j * 9 * 4 + 1], alphas[j]);
    assert_string_equal(v[0 * 4 + 2], "1");
    assert_string_equal(v[3 * 4 + 2], "10");
    assert_string_equal(v[6 * 4 + 2], "100");
    assert_string_equal(v[0 * 4 + 3], "1");
    assert_string_equal(v[1 * 4 + 3], "2");
    assert_string_equal(v[2 * 4 + 3], "3");
    free(v);
    const char *dup[] = {"k=1:4:int:log:4"}; /* 1, 1.587, 2.52, 4 -> 1, 2, 3, 4 */
    space_of(&s, dup, 1);
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 4);
    free(v);
    const char *dup2[] = {"k=1:3:int:log:3"}; /* 1, 1.73, 3 -> 1, 2, 3 */
    space_of(&s, dup2, 1);
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 3);
    free(v);

    /* A grid larger than max_trials is refused, saying how large it is. */
    const char *big[] = {"a=1,2,3,4,5", "b=1,2,3,4,5", "c=1,2,3,4,5"};
    space_of(&s, big, 3);
    o.max_trials = 100;
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_ERR_INVALID);
    assert_null(v);
    assert_non_null(strstr(err.msg, "the grid has 125 points (a 5 x b 5 x c 5)"));
    assert_non_null(strstr(err.msg, "limit of 100 trials"));
    o.max_trials = 125;
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 125);
    free(v);

    /* A grid over a range needs its point count; AUTO draws instead. */
    const char *plain[] = {"a=1,2", "reg=0.1:1:log"};
    space_of(&s, plain, 2);
    o.strategy = RECO_TUNE_GRID;
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "reg=0.1:1:log:5"));
    o.strategy = RECO_TUNE_AUTO;
    o.trials = 7;
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 7);
    free(v);

    /* No dimension: one trial of the fixed settings. */
    memset(&s, 0, sizeof s);
    assert_int_equal(reco_tune_points(&s, &o, &v, &n, &err), RECO_OK);
    assert_int_equal(n, 1);
    free(v);
}

static void test_random_seeded(void **state)
{
    (void)state;
    reco_tune_options o;
    reco_tune_options_default(&o);
    o.strategy = RECO_TUNE_RANDOM;
    o.trials = 200;
    o.seed = 42;
    reco_tune_space s;
    reco_error err;
    const char *dims[] = {"reg=0.001:1:log", "alpha=1:50", "factors=16:256:int:log",
                          "mode=a,b,c", "k=1:3:int"};
    space_of(&s, dims, 5);
    reco_tune_value *v1 = NULL, *v2 = NULL, *v3 = NULL, *v4 = NULL;
    size_t n1, n2, n3, n4;
    assert_int_equal(reco_tune_points(&s, &o, &v1, &n1, &err), RECO_OK);
    assert_int_equal(reco_tune_points(&s, &o, &v2, &n2, &err), RECO_OK);
    assert_int_equal(n1, 200);
    /* The same seed, the same draws. */
    assert_memory_equal(v1, v2, n1 * 5 * sizeof *v1);
    /* Fewer trials: the first ones of the longer run. */
    o.trials = 10;
    assert_int_equal(reco_tune_points(&s, &o, &v3, &n3, &err), RECO_OK);
    assert_memory_equal(v1, v3, 10 * 5 * sizeof *v1);
    /* Another seed, other draws. */
    o.seed = 43;
    assert_int_equal(reco_tune_points(&s, &o, &v4, &n4, &err), RECO_OK);
    assert_true(memcmp(v1, v4, 10 * 5 * sizeof *v1) != 0);

    /* Every draw is inside its range; integers are integers; every list
     * value and every integer of a small range comes up; a log-uniform
     * draw falls below the geometric mean about half of the time. */
    int below = 0, seen_mode[3] = {0}, seen_k[3] = {0};
    for (size_t t = 0; t < n1; t++) {
        double reg = strtod(v1[t * 5], NULL), alpha = strtod(v1[t * 5 + 1], NULL);
        char *end;
        long f = strtol(v1[t * 5 + 2], &end, 10);
        assert_true(*end == '\0');
        assert_true(reg >= 0.001 && reg <= 1);
        assert_true(alpha >= 1 && alpha <= 50);
        assert_true(f >= 16 && f <= 256);
        below += reg < sqrt(0.001);
        seen_mode[v1[t * 5 + 3][0] - 'a']++;
        long k = strtol(v1[t * 5 + 4], &end, 10);
        assert_true(*end == '\0' && k >= 1 && k <= 3);
        seen_k[k - 1]++;
    }
    assert_true(below > 60 && below < 140);
    for (int j = 0; j < 3; j++) {
        assert_true(seen_mode[j] > 30);
        assert_true(seen_k[j] > 30);
    }
    free(v1);
    free(v2);
    free(v3);
    free(v4);
}

/* ---- the validation split ------------------------------------------------------- */

/* Does ds hold the rating (u, i)? */
static bool holds(const reco_dataset *ds, uint32_t u, uint32_t i)
{
    return u < reco_dataset_n_users(ds) && reco_csr_find(&ds->by_user, u, i) >= 0;
}

static void test_validation_carved_from_training_only(void **state)
{
    (void)state;
    reco_dataset *full = synthetic(120, 60, 25, true, 1, 7);
    reco_split_spec spec;
    reco_error err;
    assert_int_equal(reco_split_parse("random:0.25", 3, &spec, &err), RECO_OK);
    reco_splitter *sp = NULL;
    assert_int_equal(reco_splitter_new(full, &spec, &sp, &err), RECO_OK);
    reco_dataset *train = NULL, *test = NULL;
    assert_int_equal(reco_splitter_get(sp, 0, &train, &test, &err), RECO_OK);
    reco_splitter_free(sp);

    const char *kinds[] = {"time:0.2", "random:0.3", "kfold:3", "loo"};
    for (size_t k = 0; k < 4; k++) {
        reco_tune_options o;
        reco_tune_options_default(&o);
        assert_int_equal(reco_split_parse(kinds[k], 0, &o.validation, &err), RECO_OK);
        reco_tune_split *ts = NULL;
        if (reco_tune_split_new(train, &o, &ts, &err))
            fail_msg("%s: %s", kinds[k], err.msg);
        assert_int_equal(ts->n, k == 2 ? 3 : 1);
        for (uint32_t f = 0; f < ts->n; f++) {
            const reco_dataset *it = ts->train[f], *iv = ts->valid[f];
            /* Inner training + validation is exactly the training data ... */
            assert_int_equal(reco_dataset_nnz(it) + reco_dataset_nnz(iv), reco_dataset_nnz(train));
            assert_true(reco_dataset_nnz(iv) > 0);
            for (int half = 0; half < 2; half++) {
                const reco_csr *R = half ? &iv->by_user : &it->by_user;
                for (uint32_t u = 0; u < R->n_rows; u++)
                    for (uint64_t q = R->ptr[u]; q < R->ptr[u + 1]; q++) {
                        assert_true(holds(train, u, R->idx[q]));
                        /* ... so no test rating is ever seen by a trial. */
                        assert_false(holds(test, u, R->idx[q]));
                    }
            }
        }
        reco_tune_split_free(ts);
    }

    /* And a whole search reports the same: every rating it used is one
     * of the training set's. */
    reco_tune_options o;
    reco_tune_options_default(&o);
    reco_tune_space s;
    const char *dims[] = {"reg_u=1,10"};
    space_of(&s, dims, 1);
    reco_tune_result *r = NULL;
    assert_int_equal(reco_tune_run("baseline", train, &s, &o, &r, &err), RECO_OK);
    assert_int_equal(r->data_ratings, reco_dataset_nnz(train));
    assert_int_equal(r->inner_train_ratings + r->validation_ratings, reco_dataset_nnz(train));
    reco_tune_result_free(r);
    reco_dataset_free(train);
    reco_dataset_free(test);
    reco_dataset_free(full);
}

static void test_validation_time_fallback(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(60, 40, 20, false, 1, 11);
    reco_tune_options o;
    reco_tune_options_default(&o);
    reco_tune_split *ts = NULL;
    reco_error err;
    /* time:0.2 (the default) on data without timestamps: random:0.2. */
    assert_int_equal(reco_tune_split_new(ds, &o, &ts, &err), RECO_OK);
    assert_true(ts->fell_back);
    assert_int_equal(ts->spec.kind, RECO_SPLIT_RANDOM);
    assert_float_equal(ts->spec.fraction, 0.2, 0);
    reco_tune_split_free(ts);
    /* Asked for explicitly: an error. */
    o.validation_fallback = false;
    assert_int_equal(reco_tune_split_new(ds, &o, &ts, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "no timestamps"));
    assert_null(ts);
    reco_dataset_free(ds);
}

static void test_too_small_refused(void **state)
{
    (void)state;
    reco_tune_options o;
    reco_tune_options_default(&o);
    reco_tune_split *ts = NULL;
    reco_error err;
    reco_tune_space s;
    const char *dims[] = {"reg_u=1,10"};
    space_of(&s, dims, 1);
    reco_tune_result *r = NULL;

    /* One rating per user: a time split has nothing to validate on. */
    reco_dataset *one = parse_dataset("u1,A,5,1\nu2,B,4,2\nu3,C,3,3\n");
    assert_int_equal(reco_tune_split_new(one, &o, &ts, &err), RECO_ERR_EMPTY);
    assert_non_null(strstr(err.msg, "too small to carve a validation split (time:0.2)"));
    assert_non_null(strstr(err.msg, "3 ratings of 3 users"));
    assert_int_equal(reco_tune_run("baseline", one, &s, &o, &r, &err), RECO_ERR_EMPTY);
    assert_null(r);
    assert_non_null(strstr(err.msg, "too small"));
    /* A random fraction of 3 ratings that rounds to none. */
    assert_int_equal(reco_split_parse("random:0.1", 0, &o.validation, &err), RECO_OK);
    assert_int_equal(reco_tune_split_new(one, &o, &ts, &err), RECO_ERR_EMPTY);
    assert_non_null(strstr(err.msg, "0.1 of that rounds to no validation rating"));
    /* ... or takes every rating. */
    assert_int_equal(reco_split_parse("random:0.9", 0, &o.validation, &err), RECO_OK);
    assert_int_equal(reco_tune_split_new(one, &o, &ts, &err), RECO_ERR_EMPTY);
    assert_non_null(strstr(err.msg, "leaves none to fit on"));
    reco_dataset_free(one);

    /* Ratings, but none relevant: a ranking metric cannot be measured,
     * an error metric can. */
    reco_dataset *low = synthetic(30, 20, 10, true, 1, 5);
    const reco_csr *R = &low->by_user;
    for (uint64_t k = 0; k < R->nnz; k++)
        R->val[k] = 2;
    reco_tune_options_default(&o);
    assert_int_equal(reco_tune_split_new(low, &o, &ts, &err), RECO_ERR_EMPTY);
    assert_non_null(strstr(err.msg, "none of them relevant (>= 4)"));
    o.metric.kind = RECO_TUNE_RMSE;
    assert_int_equal(reco_tune_split_new(low, &o, &ts, &err), RECO_OK);
    reco_tune_split_free(ts);
    reco_dataset_free(low);

    /* No ratings at all. */
    reco_ratings *none = reco_ratings_new(NULL, NULL);
    reco_dataset *empty = NULL;
    assert_int_equal(reco_dataset_build(none, NULL, &empty, &err), RECO_OK);
    reco_ratings_free(none);
    assert_int_equal(reco_tune_split_new(empty, &o, &ts, &err), RECO_ERR_EMPTY);
    assert_non_null(strstr(err.msg, "0 ratings of 0 users"));
    reco_dataset_free(empty);
}

/* ---- whole searches ------------------------------------------------------------- */

static void test_run_grid_and_best_model(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(150, 80, 30, true, 1, 3);
    reco_tune_options o;
    reco_tune_options_default(&o);
    o.metric.kind = RECO_TUNE_RMSE;
    const char *fixed[] = {"baseline.epochs=5"};
    o.fixed = fixed;
    o.n_fixed = 1;
    reco_tune_space s;
    const char *dims[] = {"reg_u=0.1,5,500", "baseline.reg_i=1:100:log:2"};
    space_of(&s, dims, 2);
    reco_tune_result *r = NULL, *r2 = NULL;
    reco_error err;
    if (reco_tune_run("baseline", ds, &s, &o, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r->strategy, RECO_TUNE_GRID);
    assert_int_equal(r->planned, 6);
    assert_int_equal(r->n_trials, 6);
    assert_false(r->budget_exhausted);
    assert_string_equal(r->space.dims[1].key, "reg_i"); /* "baseline." stripped */
    assert_string_equal(r->trials[0].values[0], "0.1");
    assert_string_equal(r->trials[0].values[1], "1");
    assert_string_equal(r->trials[5].values[0], "500");
    assert_string_equal(r->trials[5].values[1], "100");
    for (size_t t = 0; t < r->n_trials; t++) {
        assert_true(isfinite(r->trials[t].metric));
        assert_float_equal(r->trials[t].metric, r->trials[t].eval.rmse, 0);
        /* Only the metrics needed: rating errors for rmse. */
        assert_true(isnan(r->trials[t].eval.ndcg));
        assert_true(r->trials[t].seconds >= 0);
    }
    assert_int_equal(r->best, reco_tune_best(r->trials, r->n_trials, &o.metric));
    for (size_t t = 0; t < r->n_trials; t++)
        assert_true(r->trials[r->best].metric <= r->trials[t].metric);
    /* Different parameters give different figures (the search does
     * something), and the same search gives the same figures. */
    assert_true(r->trials[0].metric != r->trials[5].metric);
    assert_int_equal(reco_tune_run("baseline", ds, &s, &o, &r2, &err), RECO_OK);
    for (size_t t = 0; t < r->n_trials; t++)
        assert_float_equal(r->trials[t].metric, r2->trials[t].metric, 0);
    reco_tune_result_free(r2);

    /* The model for the best trial has its values and the fixed ones. */
    reco_model *m = NULL;
    assert_int_equal(reco_tune_model(r, r->best, &o, &m, &err), RECO_OK);
    char params[256], want[160];
    m->ops->params_format(m->params, params, sizeof params);
    snprintf(want, sizeof want, "reg_u=%s reg_i=%s", r->trials[r->best].values[0],
             r->trials[r->best].values[1]);
    assert_non_null(strstr(params, want));
    /* "baseline.epochs" for the baseline algorithm is its own epochs, as
     * with reco train. */
    assert_non_null(strstr(params, "epochs=5"));
    reco_model_free(m);
    assert_int_equal(reco_tune_model(r, 99, &o, &m, &err), RECO_ERR_INVALID);
    reco_tune_result_free(r);

    /* A ranking target computes the ranking metrics, maximised; k-fold
     * validation fits every trial on each fold. */
    reco_tune_options_default(&o);
    assert_int_equal(reco_split_parse("kfold:3", 0, &o.validation, &err), RECO_OK);
    assert_int_equal(reco_tune_metric_parse("hit@5", &o.metric, &err), RECO_OK);
    const char *pop[] = {"damping=0,100"};
    space_of(&s, pop, 1);
    assert_int_equal(reco_tune_run("popular", ds, &s, &o, &r, &err), RECO_OK);
    assert_int_equal(r->n_trials, 2);
    assert_int_equal(r->validation.kind, RECO_SPLIT_KFOLD);
    assert_int_equal(r->validation_ratings, reco_dataset_nnz(ds));
    assert_int_equal(r->inner_train_ratings, 2 * reco_dataset_nnz(ds));
    for (size_t t = 0; t < 2; t++) {
        assert_float_equal(r->trials[t].metric, r->trials[t].eval.hit_rate, 0);
        assert_false(isnan(r->trials[t].eval.ndcg));
    }
    assert_true(r->trials[r->best].metric >= r->trials[1 - r->best].metric);
    reco_tune_result_free(r);
    reco_dataset_free(ds);
}

static void test_run_refuses_bad_setup(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(40, 30, 15, true, 1, 9);
    reco_tune_options o;
    reco_tune_options_default(&o);
    reco_tune_space s;
    reco_tune_result *r = NULL;
    reco_error err;
    const char *dims[] = {"factors=4,8"};
    space_of(&s, dims, 1);
    const char *both[] = {"mf.factors=16"};
    o.fixed = both;
    o.n_fixed = 1;
    assert_int_equal(reco_tune_run("mf", ds, &s, &o, &r, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "factors is both fixed (mf.factors=16) and searched");
    const char *bad[] = {"epochs=0"};
    o.fixed = bad;
    assert_int_equal(reco_tune_run("mf", ds, &s, &o, &r, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "mf.epochs wants an integer from 1 to"));
    const char *nokey[] = {"epochs"};
    o.fixed = nokey;
    assert_int_equal(reco_tune_run("mf", ds, &s, &o, &r, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "expected KEY=VALUE"));
    o.n_fixed = 0;
    o.trials = 0;
    assert_int_equal(reco_tune_run("mf", ds, &s, &o, &r, &err), RECO_ERR_INVALID);
    o.trials = 20;
    assert_int_equal(reco_tune_run("nosuch", ds, &s, &o, &r, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown algorithm"));
    size_t planned = 0;
    assert_int_equal(reco_tune_check("mf", &s, &o, &planned, &err), RECO_OK);
    assert_int_equal(planned, 2);
    assert_null(r);
    reco_dataset_free(ds);
}

static void test_budget(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(100, 60, 20, true, 1, 13);
    reco_tune_options o;
    reco_tune_options_default(&o);
    o.metric.kind = RECO_TUNE_RMSE;
    reco_tune_space s;
    const char *dims[] = {"reg_u=1:50:log"};
    space_of(&s, dims, 1);
    reco_tune_result *r = NULL;
    reco_error err;
    /* A budget spent at once: the first trial still runs, no other starts. */
    o.trials = 8;
    o.budget_seconds = 1e-9;
    assert_int_equal(reco_tune_run("baseline", ds, &s, &o, &r, &err), RECO_OK);
    assert_int_equal(r->planned, 8);
    assert_int_equal(r->n_trials, 1);
    assert_true(r->budget_exhausted);
    assert_int_equal(r->best, 0);
    reco_tune_result_free(r);
    /* A generous one, or none (0), runs everything. */
    o.budget_seconds = 3600;
    assert_int_equal(reco_tune_run("baseline", ds, &s, &o, &r, &err), RECO_OK);
    assert_int_equal(r->n_trials, 8);
    assert_false(r->budget_exhausted);
    reco_tune_result_free(r);
    o.budget_seconds = 0;
    assert_int_equal(reco_tune_run("baseline", ds, &s, &o, &r, &err), RECO_OK);
    assert_int_equal(r->n_trials, 8);
    reco_tune_result_free(r);
    o.budget_seconds = -1;
    assert_int_equal(reco_tune_run("baseline", ds, &s, &o, &r, &err), RECO_ERR_INVALID);
    reco_dataset_free(ds);
}

/* Progress: one "tune" call per trial and a final one at the total. */
typedef struct prog_log {
    int calls;
    uint64_t last_done, last_total;
    int bad;
} prog_log;

static void on_progress(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    prog_log *p = ctx;
    if (strcmp(stage, "tune") != 0 || done < p->last_done)
        p->bad++;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

static void test_progress(void **state)
{
    (void)state;
    reco_dataset *ds = synthetic(50, 40, 15, true, 1, 17);
    reco_tune_options o;
    reco_tune_options_default(&o);
    o.metric.kind = RECO_TUNE_MAE;
    prog_log log = {0};
    o.progress = (reco_progress){on_progress, &log};
    reco_tune_space s;
    const char *dims[] = {"reg_u=1,2,3"};
    space_of(&s, dims, 1);
    reco_tune_result *r = NULL;
    reco_error err;
    assert_int_equal(reco_tune_run("baseline", ds, &s, &o, &r, &err), RECO_OK);
    assert_int_equal(log.calls, 4);
    assert_int_equal(log.bad, 0);
    assert_int_equal(log.last_done, 3);
    assert_int_equal(log.last_total, 3);
    assert_float_equal(r->trials[0].metric, r->trials[0].eval.mae, 0);
    reco_tune_result_free(r);
    reco_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dim_grammar_good),
        cmocka_unit_test(test_dim_grammar_bad),
        cmocka_unit_test(test_space_add_and_check),
        cmocka_unit_test(test_default_spaces),
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_best_direction),
        cmocka_unit_test(test_grid_order_and_count),
        cmocka_unit_test(test_random_seeded),
        cmocka_unit_test(test_validation_carved_from_training_only),
        cmocka_unit_test(test_validation_time_fallback),
        cmocka_unit_test(test_too_small_refused),
        cmocka_unit_test(test_run_grid_and_best_model),
        cmocka_unit_test(test_run_refuses_bad_setup),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
