/* The service behind the HTTP API: queries, durable ratings with replay,
 * torn log lines, reload with good and bad files, and input validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/model.h"
#include "service.h"
#include "testutil.h"

static char model_path[64], log_path[64];

/* 30 users x 20 items; user uK rated items iJ where (K + J) % 3 == 0. */
static void make_model(const char *algo, const char *path)
{
    char text[16384];
    size_t len = 0;
    for (int u = 0; u < 30; u++)
        for (int i = 0; i < 20; i++)
            if ((u + i) % 3 == 0)
                len += (size_t)snprintf(text + len, sizeof text - len, "u%d,i%d,%d,%d\n", u, i,
                                        1 + (u * i) % 5, 1000 + u);
    reco_ratings *r = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_parse(text, len, "t", NULL, &r, &err), RECO_OK);
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(r, NULL, &ds, &err), RECO_OK);
    reco_model *m = NULL;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    if (reco_model_save(m, path, &err))
        fail_msg("%s", err.msg);
    reco_model_free(m);
    reco_dataset_free(ds);
    reco_ratings_free(r);
}

static reco_service *open_svc(void)
{
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.ratings_log = log_path;
    o.create_log = true;
    reco_service *s = NULL;
    reco_error err;
    if (reco_service_open(&o, &s, &err))
        fail_msg("%s", err.msg);
    return s;
}

static int setup(void **state)
{
    (void)state;
    snprintf(model_path, sizeof model_path, "/tmp/reco-svc-%ld.model", (long)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/reco-svc-%ld.log", (long)getpid());
    unlink(log_path);
    make_model("baseline", model_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(model_path);
    unlink(log_path);
    return 0;
}

static bool has_item(json_t *resp, const char *item)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(resp, "items"), i, it)
        if (!strcmp(json_string_value(json_object_get(it, "item")), item))
            return true;
    return false;
}

static reco_new_rating nr(const char *u, const char *i, double r, int64_t ts)
{
    reco_new_rating x = {u, strlen(u), i, strlen(i), r, ts};
    return x;
}

static void test_queries(void **state)
{
    (void)state;
    reco_service *s = open_svc();
    json_t *o = NULL;
    reco_error err;
    assert_int_equal(reco_service_recommend(s, "u0", 5, true, &o, &err), RECO_OK);
    assert_false(json_is_true(json_object_get(o, "cold_start")));
    assert_int_equal(json_array_size(json_object_get(o, "items")), 5);
    assert_false(has_item(o, "i0")); /* u0 rated i0, i3, ... */
    assert_false(has_item(o, "i3"));
    json_decref(o);
    assert_int_equal(reco_service_recommend(s, "stranger", 3, true, &o, &err), RECO_OK);
    assert_true(json_is_true(json_object_get(o, "cold_start")));
    json_decref(o);
    assert_int_equal(reco_service_recommend(s, "u0", 0, true, &o, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_service_recommend(s, "u0", 1001, true, &o, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "n must be from 1 to 1000, got 1001");
    assert_int_equal(reco_service_recommend(s, "bad\xff", 3, true, &o, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_service_similar(s, "i0", 3, &o, &err), RECO_ERR_INVALID); /* baseline */
    assert_int_equal(reco_service_predict(s, "u1", "i2", &o, &err), RECO_OK);
    double p = json_real_value(json_object_get(o, "prediction"));
    assert_true(p >= 1 && p <= 5);
    assert_true(json_is_true(json_object_get(o, "known_user")));
    json_decref(o);
    assert_int_equal(reco_service_user_ratings(s, "u0", &o, &err), RECO_OK);
    assert_int_equal(json_array_size(json_object_get(o, "ratings")), 7);
    json_decref(o);
    assert_int_equal(reco_service_user_ratings(s, "nobody", &o, &err), RECO_ERR_NOT_FOUND);
    json_t *info = reco_service_model_info(s);
    assert_string_equal(json_string_value(json_object_get(info, "algorithm")), "baseline");
    assert_int_equal(json_integer_value(json_object_get(info, "users")), 30);
    json_decref(info);
    reco_service_close(s);
}

static void test_add_replay_and_torn_line(void **state)
{
    (void)state;
    unlink(log_path);
    reco_service *s = open_svc();
    json_t *o = NULL;
    reco_error err;
    /* The top recommendation of u0, once rated, is excluded. */
    assert_int_equal(reco_service_recommend(s, "u0", 1, true, &o, &err), RECO_OK);
    char top[64];
    snprintf(top, sizeof top, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(o, "items"), 0),
                                               "item")));
    json_decref(o);
    reco_new_rating batch[3] = {nr("u0", top, 1, 5000), nr("newbie", "i1", 5, 0),
                                nr("newbie", "brand-new-item", 4, 0)};
    assert_int_equal(reco_service_add_ratings(s, batch, 3, &o, &err), RECO_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "accepted")), 3);
    assert_false(json_is_true(json_object_get(
        json_array_get(json_object_get(o, "ratings"), 2), "known_item")));
    json_decref(o);
    assert_int_equal(reco_service_recommend(s, "u0", 20, true, &o, &err), RECO_OK);
    assert_false(has_item(o, top));
    json_decref(o);
    assert_int_equal(reco_service_recommend(s, "newbie", 5, true, &o, &err), RECO_OK);
    assert_false(json_is_true(json_object_get(o, "cold_start")));
    assert_false(has_item(o, "i1"));
    json_decref(o);
    /* Predictions fold the new ratings in: newbie rated i1 a 5, so its
     * prediction for i2 is above a stranger's (the baseline's mu + b_i). */
    assert_int_equal(reco_service_predict(s, "newbie", "i2", &o, &err), RECO_OK);
    double p_new = json_real_value(json_object_get(o, "prediction"));
    assert_true(json_is_true(json_object_get(o, "known_user")));
    json_decref(o);
    assert_int_equal(reco_service_predict(s, "stranger", "i2", &o, &err), RECO_OK);
    double p_str = json_real_value(json_object_get(o, "prediction"));
    json_decref(o);
    assert_true(p_new > p_str + 1e-4);

    /* Invalid entries: nothing is logged or applied. */
    reco_new_rating bad[2] = {nr("ok", "i1", 4, 0), nr("ok", "i2", 9, 0)};
    assert_int_equal(reco_service_add_ratings(s, bad, 2, &o, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "rating 1: rating must be a number from 1 to 5");
    bad[1] = nr("ok", "", 4, 0);
    assert_int_equal(reco_service_add_ratings(s, bad, 2, &o, &err), RECO_ERR_INVALID);
    bad[1] = nr("o\nk", "i1", 4, 0);
    assert_int_equal(reco_service_add_ratings(s, bad, 2, &o, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_service_user_ratings(s, "ok", &o, &err), RECO_ERR_NOT_FOUND);
    reco_service_close(s);

    /* Restart: replayed. A torn final line (never acknowledged) is cut. */
    int fd = open(log_path, O_WRONLY | O_APPEND);
    assert_true(write(fd, "torn,li", 7) == 7);
    close(fd);
    s = open_svc();
    assert_int_equal(reco_service_user_ratings(s, "newbie", &o, &err), RECO_OK);
    assert_int_equal(json_array_size(json_object_get(o, "ratings")), 2);
    json_decref(o);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.ratings_replayed, 3);
    /* The next append starts on a clean line. */
    reco_new_rating more = nr("u5", "i7", 2, 7000);
    assert_int_equal(reco_service_add_ratings(s, &more, 1, &o, &err), RECO_OK);
    json_decref(o);
    reco_service_close(s);
    s = open_svc();
    reco_service_get_stats(s, &st);
    assert_int_equal(st.ratings_replayed, 4);
    reco_service_close(s);
}

static void test_reload(void **state)
{
    (void)state;
    reco_service *s = open_svc();
    reco_error err;
    json_t *o = NULL;
    /* A good new file (another algorithm) is swapped in... */
    make_model("popular", model_path);
    assert_int_equal(reco_service_reload(s, &err), RECO_OK);
    json_t *info = reco_service_model_info(s);
    assert_string_equal(json_string_value(json_object_get(info, "algorithm")), "popular");
    json_decref(info);
    /* ...with the logged ratings still applied. */
    assert_int_equal(reco_service_user_ratings(s, "newbie", &o, &err), RECO_OK);
    json_decref(o);
    /* A corrupted file leaves the old model serving. */
    FILE *f = fopen(model_path, "r+b");
    fseek(f, -10, SEEK_END);
    fputc('!', f);
    fclose(f);
    assert_int_equal(reco_service_reload(s, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "corrupt"));
    assert_int_equal(reco_service_recommend(s, "u0", 3, true, &o, &err), RECO_OK);
    json_decref(o);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.reloads, 1);
    assert_int_equal(st.reload_failures, 1);
    reco_service_close(s);
    make_model("baseline", model_path);
}

/* Writers and readers on several threads while the model is reloaded. */
typedef struct worker {
    reco_service *s;
    int id, failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int k = 0; k < 40; k++) {
        json_t *o = NULL;
        reco_error err;
        char user[32], item[32];
        snprintf(user, sizeof user, "w%d", w->id);
        snprintf(item, sizeof item, "i%d", k % 20);
        reco_new_rating r = nr(user, item, 1 + k % 5, 100 + k);
        if (reco_service_add_ratings(w->s, &r, 1, &o, &err))
            w->failures++;
        json_decref(o);
        if (reco_service_recommend(w->s, user, 5, true, &o, &err))
            w->failures++;
        json_decref(o);
    }
    return NULL;
}

static void test_concurrent_with_reload(void **state)
{
    (void)state;
    unlink(log_path);
    reco_service *s = open_svc();
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){s, i, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    reco_error err;
    for (int r = 0; r < 5; r++)
        assert_int_equal(reco_service_reload(s, &err), RECO_OK);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    /* Every acknowledged rating is live after the reloads. */
    for (int i = 0; i < 4; i++) {
        char user[32];
        snprintf(user, sizeof user, "w%d", i);
        json_t *o = NULL;
        assert_int_equal(reco_service_user_ratings(s, user, &o, &err), RECO_OK);
        assert_int_equal(json_array_size(json_object_get(o, "ratings")), 20);
        json_decref(o);
    }
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.ratings_logged, 160);
    assert_true(st.log_fsyncs <= 160);
    reco_service_close(s);
}

/* Fits algo with "k", "v" pairs (NULL-terminated) on text; saves to path. */
static void make_model_from(const char *algo, const char *const *kv, const char *text,
                            const char *path)
{
    reco_ratings *r = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_parse(text, strlen(text), "t", NULL, &r, &err), RECO_OK);
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(r, NULL, &ds, &err), RECO_OK);
    reco_model *m = NULL;
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (; kv && kv[0]; kv += 2)
        assert_int_equal(reco_model_set_param(m, kv[0], kv[1], &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    if (reco_model_save(m, path, &err))
        fail_msg("%s", err.msg);
    reco_model_free(m);
    reco_dataset_free(ds);
    reco_ratings_free(r);
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

/* "fan" gives 5 to everything; the others give 5 to a only. Fitted without
 * regularisation, the baseline's estimate of fan's a is above 5. */
static const char *FAN = "fan,a,5,1\nfan,b,5,2\nfan,c,5,3\nfan,d,5,4\nu1,a,5,5\nu1,b,1,6\n"
                         "u2,a,5,7\nu2,c,1,8\nu3,a,5,9\nu3,d,1,10\n";

/* Scores rank, predicted ratings are clamped to the training range and
 * agree with /predict; a model that predicts no ratings shows none. */
static void test_scores(void **state)
{
    (void)state;
    char path[64], log[64];
    snprintf(path, sizeof path, "/tmp/reco-svc-scores-%ld.model", (long)getpid());
    snprintf(log, sizeof log, "/tmp/reco-svc-scores-%ld.log", (long)getpid());
    unlink(log);
    const char *reg0[] = {"reg_u", "0", "reg_i", "0", NULL};
    make_model_from("baseline", reg0, FAN, path);
    reco_service_options opt;
    reco_service_options_default(&opt);
    opt.model_path = path;
    opt.ratings_log = log;
    opt.create_log = true;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&opt, &s, &err), RECO_OK);
    json_t *o = NULL;
    assert_int_equal(reco_service_recommend(s, "fan", 4, false, &o, &err), RECO_OK);
    assert_string_equal(json_string_value(json_object_get(o, "score_kind")), "rating_estimate");
    json_t *items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "item")), "a");
    assert_true(num(json_array_get(items, 0), "score") > 5.2);
    for (size_t k = 0; k < 4; k++) {
        json_t *it = json_array_get(items, k);
        double sc = num(it, "score"), pr = num(it, "predicted_rating");
        assert_true(json_is_number(json_object_get(it, "predicted_rating")));
        assert_float_equal(pr, sc < 1 ? 1 : sc > 5 ? 5 : sc, 1e-5);
        json_t *p = NULL;
        const char *item = json_string_value(json_object_get(it, "item"));
        assert_int_equal(reco_service_predict(s, "fan", item, &p, &err), RECO_OK);
        assert_float_equal(num(p, "prediction"), pr, 1e-5);
        assert_string_equal(json_string_value(json_object_get(p, "source")), "model");
        json_decref(p);
    }
    json_decref(o);

    /* A new user's list is predicted with the ratings folded in (one
     * scoring pass for the list), as /predict does one by one. */
    reco_new_rating add[2] = {nr("newfan", "a", 5, 0), nr("newfan", "b", 5, 0)};
    assert_int_equal(reco_service_add_ratings(s, add, 2, &o, &err), RECO_OK);
    json_decref(o);
    assert_int_equal(reco_service_recommend(s, "newfan", 4, true, &o, &err), RECO_OK);
    items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 2); /* c, d */
    for (size_t k = 0; k < 2; k++) {
        json_t *it = json_array_get(items, k), *p = NULL;
        double pr = num(it, "predicted_rating");
        assert_true(pr >= 1 && pr <= 5);
        assert_int_equal(reco_service_predict(s, "newfan", json_string_value(
                                                               json_object_get(it, "item")),
                                              &p, &err),
                         RECO_OK);
        assert_float_equal(num(p, "prediction"), pr, 1e-5);
        json_decref(p);
    }
    json_decref(o);

    /* A stranger: the popularity ranking by number of ratings (a: 4,
     * then b, c, d: 2 each, by index), with the baseline's predictions. */
    assert_int_equal(reco_service_recommend(s, "stranger", 4, true, &o, &err), RECO_OK);
    assert_true(json_is_true(json_object_get(o, "cold_start")));
    assert_string_equal(json_string_value(json_object_get(o, "score_kind")), "rating_count");
    items = json_object_get(o, "items");
    assert_float_equal(num(json_array_get(items, 0), "score"), 4, 0);
    assert_float_equal(num(json_array_get(items, 3), "score"), 2, 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 3), "item")), "d");
    for (size_t k = 0; k < 4; k++) {
        double pr = num(json_array_get(items, k), "predicted_rating");
        assert_true(pr >= 1 && pr <= 5);
    }
    json_decref(o);
    reco_service_close(s);

    /* popular (by count) predicts no ratings: lists have none, /predict
     * answers with the baseline and says so. */
    make_model_from("popular", NULL, FAN, path);
    unlink(log);
    assert_int_equal(reco_service_open(&opt, &s, &err), RECO_OK);
    assert_int_equal(reco_service_recommend(s, "fan", 4, false, &o, &err), RECO_OK);
    assert_string_equal(json_string_value(json_object_get(o, "score_kind")), "rating_count");
    items = json_object_get(o, "items");
    assert_int_equal(json_array_size(items), 4);
    for (size_t k = 0; k < 4; k++) {
        assert_null(json_object_get(json_array_get(items, k), "predicted_rating"));
        assert_true(json_is_number(json_object_get(json_array_get(items, k), "score")));
    }
    json_decref(o);
    assert_int_equal(reco_service_predict(s, "fan", "a", &o, &err), RECO_OK);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "baseline");
    double p = num(o, "prediction");
    assert_true(p >= 1 && p <= 5);
    json_decref(o);
    reco_service_close(s);
    unlink(path);
    unlink(log);
}

/* Implicit models take posted ratings at once: a new user who rates three
 * products of one taste group gets the rest of that group, each with the
 * rated products that led to it; and a default model reports its ranker. */
static void test_implicit_live(void **state)
{
    (void)state;
    const char *algos[] = {"ials", "default"};
    for (int a = 0; a < 2; a++) {
        make_model(algos[a], model_path);
        unlink(log_path);
        reco_service *s = open_svc();
        reco_error err;
        json_t *o = NULL;
        reco_new_rating r[3] = {nr("fresh", "i0", 5, 2000), nr("fresh", "i3", 5, 2001),
                                nr("fresh", "i6", 4, 2002)};
        assert_int_equal(reco_service_add_ratings(s, r, 3, &o, &err), RECO_OK);
        json_decref(o);
        assert_int_equal(reco_service_recommend(s, "fresh", 4, true, &o, &err), RECO_OK);
        assert_false(json_is_true(json_object_get(o, "cold_start")));
        size_t k;
        json_t *it;
        int same = 0, because = 0;
        json_array_foreach(json_object_get(o, "items"), k, it) {
            int item = atoi(json_string_value(json_object_get(it, "item")) + 1);
            same += item % 3 == 0;
            because += json_array_size(json_object_get(it, "because")) > 0;
        }
        assert_true(same >= 3);
        if (a == 0)
            assert_true(because >= 3);
        assert_false(has_item(o, "i0") || has_item(o, "i3") || has_item(o, "i6"));
        json_decref(o);
        json_t *info = reco_service_model_info(s);
        if (a == 1) {
            json_t *rk = json_object_get(info, "ranker");
            assert_non_null(rk);
            assert_non_null(json_string_value(json_object_get(rk, "algorithm")));
            assert_true(json_is_array(json_object_get(rk, "candidates")));
        } else {
            assert_null(json_object_get(info, "ranker"));
        }
        json_decref(info);
        reco_service_close(s);
    }
    make_model("baseline", model_path);
    unlink(log_path);
}

static void test_valid_id(void **state)
{
    (void)state;
    assert_true(reco_service_valid_id("A1B2", 4));
    assert_true(reco_service_valid_id("caf\xc3\xa9", 5));
    assert_false(reco_service_valid_id("", 0));
    assert_false(reco_service_valid_id("\xc3", 1));          /* truncated */
    assert_false(reco_service_valid_id("\xc0\xaf", 2));      /* overlong */
    assert_false(reco_service_valid_id("\xed\xa0\x80", 3));  /* surrogate */
    assert_false(reco_service_valid_id("a\tb", 3));          /* control */
    char big[300];
    memset(big, 'a', sizeof big);
    assert_true(reco_service_valid_id(big, 255));
    assert_false(reco_service_valid_id(big, 256));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_implicit_live),
        cmocka_unit_test(test_valid_id),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_add_replay_and_torn_line),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_concurrent_with_reload),
        cmocka_unit_test(test_scores),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
