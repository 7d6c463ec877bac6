/* The batch export (reco/export.h) through the library: reals written as
 * jansson writes them, the same bytes for any thread count and chunk size,
 * to a file or a descriptor, each line the list the top-N search gives
 * (under request-time rules too), and the options it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "reco/export.h"
#include "reco/json.h"
#include "reco/model.h"
#include "testutil.h"

/* v as json_dumps writes it under RECO_JSON_FLAGS. */
static void jansson_text(double v, char *buf, size_t cap)
{
    json_t *j = reco_json_real(v);
    char *s = json_dumps(j, JSON_ENCODE_ANY | RECO_JSON_FLAGS);
    snprintf(buf, cap, "%s", s);
    free(s);
    json_decref(j);
}

static void check_real(double v)
{
    char want[64], got[RECO_JSON_REAL_MAX];
    jansson_text(v, want, sizeof want);
    size_t len = reco_json_real_text(v, got);
    if (strcmp(want, got) || len != strlen(want)) {
        print_error("value %.17g: jansson \"%s\", reco_json_real_text \"%s\"\n", v, want,
                    got);
        fail();
    }
}

static float float_of_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void test_real_text(void **state)
{
    (void)state;
    static const double edge[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, 4.0, 5.06683, 10.0, 100000.0, 999999.0, 1000000.0, 999999.5,
        999998.5, 1234565.0, 1234575.0, 1234567.0, 0.0001, 0.00001, 9.999995e-5, 1e-15, 1e15,
        1e-16, 1e16, 3.4e38, -3.4e38, 1.4e-45, 1e-300, 1e300, 123456.5, 0.1, 0.3, 2.5, 1e6,
        16777216.0, 16777217.0, 8388608.5, NAN, INFINITY, -INFINITY, 0.1234565, 1.5e-7,
    };
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        check_real(edge[i]);
        check_real((double)(float)edge[i]);
    }
    /* Every float exponent, random mantissas; scores-like values; ties:
     * floats with 7 significant digits ending in 5 that are exact. */
    uint64_t rng = 12345;
    for (int k = 0; k < 600000; k++) {
        uint32_t bits = (uint32_t)(test_uniform(&rng) * 4294967296.0);
        float f = float_of_bits(bits);
        check_real((double)f);
        check_real((double)(float)((test_uniform(&rng) - 0.3) * 12));
        check_real((double)(float)floor(test_uniform(&rng) * 1e8));
        check_real((double)(float)(floor(test_uniform(&rng) * 2e6) + 0.5));
    }
    /* Not floats: printf answers, the same way. */
    check_real(0.1234567890123);
    check_real(-98765.4321987);
}

/* The whole of a file. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char *buf = NULL;
    assert_int_equal(reco_read_all(fd, (size_t)1 << 30, &buf, len), 0);
    close(fd);
    char *t = realloc(buf, *len + 1); /* NUL-terminated, for strchr */
    assert_non_null(t);
    t[*len] = '\0';
    return t;
}

/* Each line of the JSON Lines text (len bytes) holds the list
 * reco_model_recommend_filtered gives its user under rules, in user order. */
static void check_lines(const reco_model *m, char *text, size_t len, size_t n,
                        const reco_item_filter *rules)
{
    reco_error err;
    char *line = text;
    reco_scored top[16];
    assert_true(n <= 16);
    for (uint32_t u = 0; u < reco_dataset_n_users(m->train); u++) {
        reco_profile p = reco_profile_of_user(m->train, u);
        size_t got_n;
        bool cold;
        assert_int_equal(reco_model_recommend_filtered(m, &p, n, true, rules, top, &got_n, &cold,
                                                       NULL, &err), RECO_OK);
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t je;
        json_t *d = json_loads(line, 0, &je);
        assert_non_null(d);
        assert_string_equal(json_string_value(json_object_get(d, "user")),
                            reco_idmap_key(m->train->users, u, NULL));
        json_t *items = json_object_get(d, "items");
        assert_int_equal(json_array_size(items), got_n);
        for (size_t k = 0; k < got_n; k++) {
            json_t *it = json_array_get(items, k);
            assert_string_equal(json_string_value(json_object_get(it, "item")),
                                reco_idmap_key(m->train->items, top[k].id, NULL));
            char a[64], b[RECO_JSON_REAL_MAX];
            jansson_text(top[k].score, a, sizeof a);
            reco_json_real_text(json_real_value(json_object_get(it, "score")), b);
            assert_string_equal(a, b);
        }
        assert_int_equal(json_is_true(json_object_get(d, "cold_start")), cold);
        json_decref(d);
        *nl = '\n';
        line = nl + 1;
    }
    assert_ptr_equal(line, text + len);
}

static void test_export_bytes(void **state)
{
    (void)state;
    char dir[] = "/tmp/reco-export-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char model_path[256], out[256], ref[256], part[300];
    snprintf(model_path, sizeof model_path, "%s/grid.model", dir);
    assert_int_equal(test_save_grid_model("mf", 300, 40, model_path), 0);
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_load(model_path, &m, &err), RECO_OK);

    for (int fmt = 0; fmt < 2; fmt++) {
        reco_export_options o;
        reco_export_options_default(&o);
        o.format = fmt ? RECO_EXPORT_CSV : RECO_EXPORT_JSONL;
        o.n = 4;
        snprintf(ref, sizeof ref, "%s/ref.%s", dir, fmt ? "csv" : "jsonl");
        o.path = ref;
        reco_export_result res;
        assert_int_equal(reco_export_all_users(m, &o, &res, &err), RECO_OK);
        assert_int_equal(res.users, 300);
        assert_int_equal(res.resumed_users, 0);
        size_t ref_len;
        char *want = slurp(ref, &ref_len);
        assert_int_equal(res.bytes, ref_len);
        snprintf(part, sizeof part, "%s.part", ref);
        assert_int_not_equal(access(part, F_OK), 0);

        /* Any thread count, any chunk size, a checkpoint after every chunk. */
        static const int threads[] = {1, 2, 3, 8};
        static const uint32_t chunks[] = {1, 7, 64, 1000};
        for (int t = 0; t < 4; t++) {
            snprintf(out, sizeof out, "%s/t%d.%s", dir, t, fmt ? "csv" : "jsonl");
            o.path = out;
            o.threads = threads[t];
            o.chunk_users = chunks[t];
            o.checkpoint_chunks = 1;
            assert_int_equal(reco_export_all_users(m, &o, &res, &err), RECO_OK);
            size_t len;
            char *got = slurp(out, &len);
            assert_int_equal(len, ref_len);
            assert_memory_equal(got, want, len);
            free(got);
        }

        /* To a descriptor: the same bytes. */
        snprintf(out, sizeof out, "%s/fd.out", dir);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        o.path = NULL;
        o.fd = fd;
        assert_int_equal(reco_export_all_users(m, &o, &res, &err), RECO_OK);
        close(fd);
        size_t len;
        char *got = slurp(out, &len);
        assert_int_equal(len, ref_len);
        assert_memory_equal(got, want, len);
        free(got);

        /* Each JSON line holds reco_model_recommend's list. */
        if (!fmt)
            check_lines(m, want, ref_len, 4, NULL);
        free(want);
    }

    /* Refused: no output, a stream resumed, n out of range, an unfitted
     * model. */
    reco_export_options o;
    reco_export_options_default(&o);
    assert_int_equal(reco_export_all_users(m, &o, NULL, &err), RECO_ERR_INVALID);
    o.fd = 1;
    o.resume = true;
    assert_int_equal(reco_export_all_users(m, &o, NULL, &err), RECO_ERR_INVALID);
    o.resume = false;
    o.n = 0;
    assert_int_equal(reco_export_all_users(m, &o, NULL, &err), RECO_ERR_INVALID);
    o.n = 1001;
    assert_int_equal(reco_export_all_users(m, &o, NULL, &err), RECO_ERR_INVALID);
    o.n = 10;
    reco_model *unfitted = NULL;
    assert_int_equal(reco_model_new("mf", &unfitted, &err), RECO_OK);
    assert_int_equal(reco_export_all_users(unfitted, &o, NULL, &err), RECO_ERR_INVALID);
    reco_model_free(unfitted);
    /* A directory that does not exist: an I/O error naming the file. */
    snprintf(out, sizeof out, "%s/no/such.jsonl", dir);
    o.fd = -1;
    o.path = out;
    assert_int_equal(reco_export_all_users(m, &o, NULL, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, "no/such.jsonl.part"));


    /* Rules: every list is the filtered one (an exclude list, then an
     * allow-list), on any thread count. */
    uint32_t ex_items[] = {0, 3, 5, 6}, in_items[] = {1, 2, 3, 4, 7, 9, 11, 12, 30};
    reco_item_filter rules[2];
    memset(rules, 0, sizeof rules);
    rules[0].exclude = ex_items;
    rules[0].n_exclude = 4;
    rules[1].include = in_items;
    rules[1].n_include = 9;
    for (int k = 0; k < 2; k++) {
        for (int t = 1; t <= 2; t++) {
            reco_export_options_default(&o);
            o.n = 5;
            o.rules = &rules[k];
            o.threads = t;
            o.chunk_users = 13;
            snprintf(out, sizeof out, "%s/rules%d.jsonl", dir, k);
            o.path = out;
            assert_int_equal(reco_export_all_users(m, &o, NULL, &err), RECO_OK);
            size_t len;
            char *got = slurp(out, &len);
            check_lines(m, got, len, 5, &rules[k]);
            free(got);
        }
    }

    reco_model_free(m);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_format_names(void **state)
{
    (void)state;
    reco_export_format f;
    reco_error err;
    assert_int_equal(reco_export_format_of_path("a/recs.jsonl", &f, &err), RECO_OK);
    assert_int_equal(f, RECO_EXPORT_JSONL);
    assert_int_equal(reco_export_format_of_path("recs.CSV", &f, &err), RECO_OK);
    assert_int_equal(f, RECO_EXPORT_CSV);
    assert_int_equal(reco_export_format_of_path("recs.txt", &f, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_export_format_of_path("a.csv/recs", &f, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_export_format_parse("csv", &f, &err), RECO_OK);
    assert_int_equal(f, RECO_EXPORT_CSV);
    assert_int_equal(reco_export_format_parse("xml", &f, &err), RECO_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_text),
        cmocka_unit_test(test_export_bytes),
        cmocka_unit_test(test_format_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
