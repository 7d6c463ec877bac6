/* The library in a program whose locale writes decimal commas (de_DE): the
 * ratings log, parameter texts, split specs, search spaces, sizes,
 * messages and the exploration report still write and read decimal points. Skipped when no
 * comma-decimal locale is installed (scripts/install-deps.sh generates
 * de_DE.UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/chart.h"
#include "reco/dataset.h"
#include "reco/ease.h"
#include "reco/json.h"
#include "reco/explore.h"
#include "reco/mf.h"
#include "reco/model.h"
#include "reco/ratings.h"
#include "reco/ratings_log.h"
#include "reco/split.h"
#include "reco/tune.h"
#include "testutil.h"

/* Under AddressSanitizer: fontconfig (used by pango, used by PLplot's cairo
 * driver, which the report draws with) keeps font patterns in caches that
 * only FcFini() would free. Those are not reco's leaks (as in
 * test_explore.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

/* Switches to a locale with a decimal comma; false if none is installed. */
static bool comma_locale(void)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8",
                                        "fr_FR.utf8", "nl_NL.UTF-8"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (setlocale(LC_ALL, names[i]) && !strcmp(localeconv()->decimal_point, ","))
            return true;
    setlocale(LC_ALL, "C");
    return false;
}

/* The locale really is in effect for the C library. */
static void test_locale_in_effect(void **state)
{
    (void)state;
    char buf[32];
    snprintf(buf, sizeof buf, "%g", 0.5);
    assert_string_equal(buf, "0,5");
    assert_true(strtod("0.5", NULL) == 0.0);
}

typedef struct got {
    int n;
    float rating[8];
    int64_t ts[8];
} got;

static int on_rating(void *ctx, const char *user, size_t user_len, const char *item,
                     size_t item_len, float rating, int64_t ts)
{
    (void)user;
    (void)user_len;
    (void)item;
    (void)item_len;
    got *g = ctx;
    g->rating[g->n] = rating;
    g->ts[g->n++] = ts;
    return 0;
}

static void test_log_round_trip(void **state)
{
    (void)state;
    const float ratings[] = {3.5f, 0.1f, 4.3f, 5.0f, 1.0f / 3.0f};
    char buf[512];
    size_t len = 0;
    for (size_t j = 0; j < sizeof ratings / sizeof *ratings; j++)
        len += reco_log_format_line(buf + len, "u", 1, "p", 1, ratings[j], 1700000000 + (int)j);
    buf[len] = '\0';
    assert_non_null(strstr(buf, "u,p,3.5,1700000000\n"));
    assert_null(strchr(strstr(buf, "0.1"), ';'));
    reco_log_parse_opts o = {"log", 1, 0, 10, false};
    got g = {0};
    reco_error err;
    if (reco_log_parse(buf, len, &o, on_rating, &g, NULL, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(g.n, 5);
    for (size_t j = 0; j < sizeof ratings / sizeof *ratings; j++) {
        assert_memory_equal(&g.rating[j], &ratings[j], sizeof(float));
        assert_int_equal(g.ts[j], 1700000000 + (int64_t)j);
    }
    /* Out of range: the message writes the range with points. */
    const char *bad = "u,p,7.5,1\n";
    o.rating_max = 5.5;
    assert_int_equal(reco_log_parse(bad, strlen(bad), &o, on_rating, &g, NULL, &err),
                     RECO_ERR_PARSE);
    assert_non_null(strstr(err.msg, "5.5"));
}

static void test_params(void **state)
{
    (void)state;
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_new("mf", &m, &err), RECO_OK);
    if (reco_model_set_param(m, "reg", "0.05", &err) ||
        reco_model_set_param(m, "lr", "1.5e-2", &err) ||
        reco_model_set_param(m, "baseline.reg_u", "2.5", &err))
        fail_msg("%s", err.msg);
    const reco_mf_params *p = m->params;
    assert_true(p->reg == 0.05);
    assert_true(p->lr == 0.015);
    char text[1024];
    m->ops->params_format(m->params, text, sizeof text);
    assert_non_null(strstr(text, "reg=0.05 "));
    assert_non_null(strstr(text, "lr=0.015 "));
    /* A decimal comma is not a number to the library, whatever the locale. */
    assert_int_equal(reco_model_set_param(m, "reg", "0,05", &err), RECO_ERR_INVALID);
    reco_model_free(m);
    /* Nor to the JSON of parameters, which reads them back as numbers. */
    json_t *j = reco_json_params("reg=0.05 lr=1.5e-2 comma=0,05");
    assert_true(json_real_value(json_object_get(j, "reg")) == 0.05);
    assert_true(json_real_value(json_object_get(j, "lr")) == 0.015);
    assert_string_equal(json_string_value(json_object_get(j, "comma")), "0,05");
    char *dumped = json_dumps(j, RECO_JSON_FLAGS | JSON_COMPACT);
    assert_string_equal(dumped, "{\"reg\":0.05,\"lr\":0.015,\"comma\":\"0,05\"}");
    free(dumped);
    json_decref(j);

    /* Sizes with a fraction, and back. */
    uint64_t bytes = 0;
    if (reco_ease_parse_bytes("ease.max_memory", "1.5G", &bytes, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(bytes, 3ull << 29);
    assert_int_equal(reco_model_new("ease", &m, &err), RECO_OK);
    if (reco_model_set_param(m, "max_memory", "1.5G", &err))
        fail_msg("%s", err.msg);
    m->ops->params_format(m->params, text, sizeof text);
    assert_non_null(strstr(text, "max_memory=1536M"));
    reco_model_free(m);
}

static void test_split_specs(void **state)
{
    (void)state;
    reco_split_spec s;
    reco_error err;
    if (reco_split_parse("time:0.2", 1, &s, &err))
        fail_msg("%s", err.msg);
    assert_true(s.fraction == 0.2);
    char buf[64];
    reco_split_format(&s, buf, sizeof buf);
    assert_string_equal(buf, "time:0.2");
    if (reco_split_parse("random:0.25", 1, &s, &err))
        fail_msg("%s", err.msg);
    assert_true(s.fraction == 0.25);
}

static void test_tune_spaces(void **state)
{
    (void)state;
    reco_tune_dim d;
    reco_error err;
    if (reco_tune_dim_parse("mf.lr=0.001:0.1:log:3", &d, &err))
        fail_msg("%s", err.msg);
    assert_true(d.lo == 0.001 && d.hi == 0.1);
    char buf[256];
    reco_tune_dim_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "mf.lr=0.001:0.1:log:3");
    reco_tune_space sp = {0};
    if (reco_tune_space_add(&sp, "lr=0.001:0.1:log:3", &err) ||
        reco_tune_space_check(&sp, "mf", &err))
        fail_msg("%s", err.msg);
    reco_tune_options o;
    reco_tune_options_default(&o);
    o.strategy = RECO_TUNE_GRID;
    reco_tune_value *v = NULL;
    size_t n = 0;
    if (reco_tune_points(&sp, &o, &v, &n, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "0.001");
    assert_string_equal(v[1], "0.01");
    assert_string_equal(v[2], "0.1");
    free(v);
}

/* Rating files (their own parser) and its messages. */
static void test_rating_files(void **state)
{
    (void)state;
    const char *text = "u1,p1,3.5\nu2,p1,4.5\n";
    reco_ratings *r = NULL;
    reco_error err;
    if (reco_ratings_parse(text, strlen(text), "t", NULL, &r, &err))
        fail_msg("%s", err.msg);
    assert_true(r->rating[0] == 3.5f && r->rating[1] == 4.5f);
    reco_ratings_free(r);
    const char *bad = "u1,p1,9.5\n";
    assert_int_equal(reco_ratings_parse(bad, strlen(bad), "t", NULL, &r, &err), RECO_ERR_PARSE);
    assert_non_null(strstr(err.msg, "0.5 to 5"));
}

/* The exploration report: its table of figures and its JSON. */
static void test_report(void **state)
{
    (void)state;
    const char *text = "a,x,4.5,1\na,y,5,2\nb,x,3,3\nc,z,1,4\nc,x,2,5\n";
    reco_ratings *r = NULL;
    reco_dataset *ds = NULL;
    reco_explore *ex = NULL;
    reco_error err;
    if (reco_ratings_parse(text, strlen(text), "t", NULL, &r, &err) ||
        reco_dataset_build(r, NULL, &ds, &err) || reco_explore_compute(ds, &ex, &err))
        fail_msg("%s", err.msg);
    char dir[] = "/tmp/reco-locale-XXXXXX";
    assert_non_null(mkdtemp(dir));
    reco_report_options o;
    reco_report_options_default(&o);
    o.chart_width = 640;
    o.chart_height = 400;
    if (reco_report_write(ex, dir, &o, &err))
        fail_msg("%s", err.msg);
    char path[256];
    snprintf(path, sizeof path, "%s/index.html", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *html = calloc(1, 1 << 20);
    size_t n = fread(html, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(n > 0);
    assert_non_null(strstr(html, "3.1000")); /* the mean rating */
    assert_null(strstr(html, "3,1000"));
    free(html);
    char *json = NULL;
    if (reco_report_json(ex, &o, &json, &err))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(json, "\"mean\": 3.1"));
    free(json);
    char num[64];
    assert_string_equal(reco_fmt_thousands(1234567.25, 2, num, sizeof num), "1,234,567.25");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    reco_explore_free(ex);
    reco_dataset_free(ds);
    reco_ratings_free(r);
}

int main(void)
{
    if (!comma_locale()) {
        printf("no locale with a decimal comma is installed (scripts/install-deps.sh "
               "generates de_DE.UTF-8): skipped\n");
        return TEST_SKIP_STATUS;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locale_in_effect),
        cmocka_unit_test(test_log_round_trip),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_split_specs),
        cmocka_unit_test(test_tune_spaces),
        cmocka_unit_test(test_rating_files),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
