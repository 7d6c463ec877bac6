/* The service behind the HTTP API: queries, durable ratings with replay,
 * torn log lines, reload with good and bad files, and input validation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reco/model.h"
#include "reco/ratings_log.h"
#include "reco/service.h"
#include "testutil.h"

static char model_path[64], log_path[64];

/* 30 users x 20 items (testutil's grid). */
static void make_model(const char *algo, const char *path)
{
    assert_int_equal(test_save_grid_model(algo, 30, 20, path), 0);
}

static reco_service *open_svc(void)
{
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.ratings_log = log_path;
    o.create_log = true;
    o.list_ids = true;
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
    /* A baseline model has similar products too (co-ratings, then the rest). */
    assert_int_equal(reco_service_similar(s, "i0", 3, &o, &err), RECO_OK);
    assert_int_equal(json_array_size(json_object_get(o, "items")), 3);
    assert_false(has_item(o, "i0"));
    json_decref(o);
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
    assert_true(st.log_fsyncs >= 1); /* that writes share fsyncs: test_group_commit */
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
        /* The predicted rating is the clamped score, with 4 decimals. */
        assert_float_equal(pr, sc < 1 ? 1 : sc > 5 ? 5 : sc, 5.001e-5);
        assert_float_equal(pr * 1e4, round(pr * 1e4), 1e-6);
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

/* ---- the ratings log: strict replay, exact IDs, compaction, failures ---- */

static char log2_path[96], model2_path[96], arch_path[96];

static void paths2(const char *tag)
{
    snprintf(log2_path, sizeof log2_path, "/tmp/reco-svc-%s-%ld.log", tag, (long)getpid());
    snprintf(model2_path, sizeof model2_path, "/tmp/reco-svc-%s-%ld.model", tag, (long)getpid());
    snprintf(arch_path, sizeof arch_path, "/tmp/reco-svc-%s-%ld.archive", tag, (long)getpid());
    unlink(log2_path);
    unlink(arch_path);
}

static void unlink2(void)
{
    unlink(log2_path);
    unlink(model2_path);
    unlink(arch_path);
}

static reco_status open2(const char *model, bool create, reco_service **s, reco_error *err)
{
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model;
    o.ratings_log = log2_path;
    o.create_log = create;
    return reco_service_open(&o, s, err);
}

static reco_service *open2_ok(const char *model, bool create)
{
    reco_service *s = NULL;
    reco_error err;
    if (open2(model, create, &s, &err))
        fail_msg("%s", err.msg);
    return s;
}

static void add_ok(reco_service *s, const char *u, const char *i, double r, int64_t ts)
{
    reco_new_rating x = nr(u, i, r, ts);
    json_t *o = NULL;
    reco_error err;
    if (reco_service_add_ratings(s, &x, 1, &o, &err))
        fail_msg("%s", err.msg);
    json_decref(o);
}

static void append_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static uint64_t replayed(reco_service *s)
{
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    return st.ratings_replayed;
}

static int n_ratings(reco_service *s, const char *user)
{
    json_t *o = NULL;
    reco_error err;
    if (reco_service_user_ratings(s, user, &o, &err))
        return -1;
    int n = (int)json_array_size(json_object_get(o, "ratings"));
    json_decref(o);
    return n;
}

/* A bad line stops the start with LOG:LINE: reason; --skip-bad-log skips
 * and counts it; a rating outside the model's range is a bad line. */
static void test_strict_replay(void **state)
{
    (void)state;
    paths2("strict");
    reco_service *s = open2_ok(model_path, true);
    add_ok(s, "u1", "i2", 4, 100);
    reco_service_close(s);
    append_text(log2_path, "u1,i3,abc,101\n");
    reco_error err;
    char want[160];
    assert_int_equal(open2(model_path, false, &s, &err), RECO_ERR_PARSE);
    snprintf(want, sizeof want, "%s:3: rating \"abc\" is not a finite number", log2_path);
    assert_memory_equal(err.msg, want, strlen(want));
    assert_null(s);

    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.ratings_log = log2_path;
    o.skip_bad_log = true;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.log_bad_lines, 1);
    assert_int_equal(st.ratings_replayed, 1);
    assert_memory_equal(st.log_first_bad_line, want, strlen(want));
    reco_service_close(s);

    /* Out of the model's range (1..5): refused, not folded in. */
    paths2("strict");
    s = open2_ok(model_path, true);
    add_ok(s, "u1", "i2", 4, 100);
    reco_service_close(s);
    append_text(log2_path, "u1,i3,9999,101\n");
    assert_int_equal(open2(model_path, false, &s, &err), RECO_ERR_PARSE);
    snprintf(want, sizeof want, "%s:3: rating 9999 is outside the allowed range 1 to 5",
             log2_path);
    assert_memory_equal(err.msg, want, strlen(want));
    unlink2();
}

/* IDs come back byte for byte after a restart: a leading byte-order mark
 * (on the log's first rating line), commas, quotes, outer spaces. */
static void test_ids_replay_exactly(void **state)
{
    (void)state;
    paths2("ids");
    static const char *const ids[] = {"\xEF\xBB\xBF" "bom", "a,b", "\"quoted\"", " lead",
                                      "trail ", "x\"y", "\xEF\xBB\xBF", "caf\xC3\xA9"};
    const size_t n = sizeof ids / sizeof ids[0];
    reco_service *s = open2_ok(model_path, true);
    for (size_t k = 0; k < n; k++)
        add_ok(s, ids[k], ids[n - 1 - k], 1 + (double)k / 2, 100 + (int64_t)k);
    reco_service_close(s);
    s = open2_ok(model_path, false);
    assert_int_equal(replayed(s), n);
    for (size_t k = 0; k < n; k++) {
        json_t *o = NULL;
        reco_error err;
        assert_int_equal(reco_service_user_ratings(s, ids[k], &o, &err), RECO_OK);
        json_t *r = json_array_get(json_object_get(o, "ratings"), 0);
        assert_string_equal(json_string_value(json_object_get(r, "item")), ids[n - 1 - k]);
        assert_float_equal(json_real_value(json_object_get(r, "rating")), 1 + (double)k / 2, 0);
        json_decref(o);
    }
    assert_int_equal(n_ratings(s, "bom"), -1); /* not the same user without its BOM */
    reco_service_close(s);
    unlink2();
}

/* A log written before logs had a header gets one (its lines kept as they
 * are, a BOM-led first ID included). */
static void test_legacy_log_upgraded(void **state)
{
    (void)state;
    paths2("legacy");
    FILE *f = fopen(log2_path, "w");
    fputs("\xEF\xBB\xBF" "old,i1,4,100\nu2,i2,3,101\ntorn,li", f);
    fclose(f);
    reco_service *s = open2_ok(model_path, false);
    assert_int_equal(replayed(s), 2);
    assert_int_equal(n_ratings(s, "\xEF\xBB\xBF" "old"), 1);
    reco_service_close(s);
    char head[64];
    f = fopen(log2_path, "r");
    assert_non_null(fgets(head, sizeof head, f));
    fclose(f);
    assert_memory_equal(head, "user,item,rating,timestamp #reco-ratings-log v1", 47);
    /* An empty file (a rotation tool's) is not taken for a log. */
    f = fopen(log2_path, "w");
    fclose(f);
    reco_error err;
    assert_int_equal(open2(model_path, true, &s, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "is empty"));
    unlink2();
}

/* Base ratings plus the log into a model that records the log's point. */
static int add_to_ratings(void *ctx, const char *u, size_t ul, const char *i, size_t il, float r,
                          int64_t ts)
{
    return reco_ratings_add(ctx, u, ul, i, il, r, ts, NULL) != RECO_OK;
}

static void train_with_log(const char *path, const char *log, reco_log_point *pt)
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
    reco_log_parse_opts po = {NULL, 0, 1, 5, false};
    if (reco_log_read_all(log, &po, add_to_ratings, r, NULL, pt, NULL, &err))
        fail_msg("%s", err.msg);
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(r, NULL, &ds, &err), RECO_OK);
    reco_model *m = NULL;
    assert_int_equal(reco_model_new("baseline", &m, &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    m->log_point = *pt;
    if (reco_model_save(m, path, &err))
        fail_msg("%s", err.msg);
    reco_model_free(m);
    reco_dataset_free(ds);
    reco_ratings_free(r);
}

/* A model trained with the log replays only the tail; compaction moves
 * the prefix to an archive; a log that is missing, replaced or compacted
 * past a model's point is an error, not a fresh start. */
static void test_log_point_and_compaction(void **state)
{
    (void)state;
    paths2("point");
    reco_service *s = open2_ok(model_path, true);
    add_ok(s, "p1", "i1", 5, 100);
    add_ok(s, "p2", "i2", 4, 101);
    add_ok(s, "p3", "new-item", 3, 102);
    reco_service_close(s);
    reco_log_point pt;
    train_with_log(model2_path, log2_path, &pt);
    assert_int_equal(pt.seq, 3);
    assert_int_equal((long)pt.offset, file_size(log2_path) - (long)strlen(
        "user,item,rating,timestamp #reco-ratings-log v1 id=00000000000000000000000000000000 "
        "offset=00000000000000000000 seq=00000000000000000000\n"));
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_load(model2_path, &m, &err), RECO_OK);
    assert_string_equal(m->log_point.id, pt.id);
    assert_int_equal(m->log_point.seq, 3);
    reco_model_free(m);

    /* Two more under the old model; the new one replays only those. */
    s = open2_ok(model_path, false);
    assert_int_equal(replayed(s), 3);
    add_ok(s, "p4", "i4", 2, 103);
    add_ok(s, "p1", "i5", 1, 104);
    reco_service_close(s);
    s = open2_ok(model2_path, false);
    assert_int_equal(replayed(s), 2);
    json_t *info = reco_service_model_info(s);
    json_t *lg = json_object_get(info, "ratings_log");
    assert_int_equal(json_integer_value(json_object_get(lg, "model_covers")), 3);
    assert_int_equal(json_integer_value(json_object_get(lg, "end_rating")), 5);
    json_decref(info);
    assert_int_equal(n_ratings(s, "p1"), 2); /* one from the model, one live */
    /* Compaction while it serves; its next write lands in the new file. */
    reco_log_compact_result res;
    assert_int_equal(reco_log_compact(log2_path, &pt, arch_path, &res, &err), RECO_OK);
    assert_int_equal(res.archived_ratings, 3);
    assert_int_equal(res.kept_ratings, 2);
    add_ok(s, "p5", "i6", 3, 105);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.log_write_errors, 0);
    reco_service_close(s);
    reco_log_file f;
    assert_int_equal(reco_log_file_open(log2_path, &f, &err), RECO_OK);
    assert_int_equal(f.h.seq, 3);
    assert_int_equal(f.h.offset, pt.offset);
    reco_log_file_close(&f);
    assert_int_equal(reco_log_file_open(arch_path, &f, &err), RECO_OK);
    assert_int_equal(f.h.kind, RECO_LOG_KIND_ARCHIVE);
    assert_int_equal(f.h.end_seq, 3);
    reco_log_file_close(&f);
    s = open2_ok(model2_path, false);
    assert_int_equal(replayed(s), 3);
    assert_int_equal(n_ratings(s, "p5"), 1);
    reco_service_close(s);
    /* Again with the same model: nothing to do. */
    assert_int_equal(reco_log_compact(log2_path, &pt, arch_path, &res, &err), RECO_OK);
    assert_true(res.nothing_to_do);

    /* The old model holds none of the archived ratings: refused. */
    assert_int_equal(open2(model_path, false, &s, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "compacted"));
    /* Rotated away: missing, even with create_log. */
    char moved[128];
    snprintf(moved, sizeof moved, "%s.1", log2_path);
    assert_int_equal(rename(log2_path, moved), 0);
    assert_int_equal(open2(model2_path, true, &s, &err), RECO_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "does not exist"));
    assert_non_null(strstr(err.msg, pt.id));
    /* Replaced by a new log: another id. */
    assert_int_equal(reco_log_create(log2_path, NULL, NULL, &err), RECO_OK);
    assert_int_equal(open2(model2_path, false, &s, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "was trained on log"));
    /* A log that lost its end (an older copy): the model's point is past it. */
    unlink(log2_path);
    reco_log_point early = pt;
    early.offset = 0;
    early.seq = 0;
    assert_int_equal(reco_log_create(log2_path, &early, NULL, &err), RECO_OK);
    assert_int_equal(open2(model2_path, false, &s, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "lost its end"));
    /* The deliberate way on when a log is lost: continue at the model's point. */
    unlink(log2_path);
    assert_int_equal(reco_log_create(log2_path, &pt, NULL, &err), RECO_OK);
    s = open2_ok(model2_path, false);
    assert_int_equal(replayed(s), 0);
    reco_service_close(s);
    /* A model trained without a log, and no log: a first start needs create_log. */
    unlink(log2_path);
    assert_int_equal(open2(model_path, false, &s, &err), RECO_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "--create-ratings-log"));
    unlink(moved);
    unlink2();
}

/* A log moved away under a running server: writes fail (and say why) and
 * /healthz is degraded until it is back. */
static void test_log_moved_while_running(void **state)
{
    (void)state;
    paths2("moved");
    reco_service *s = open2_ok(model_path, true);
    add_ok(s, "m1", "i1", 3, 100);
    char moved[128];
    snprintf(moved, sizeof moved, "%s.1", log2_path);
    assert_int_equal(rename(log2_path, moved), 0);
    reco_new_rating x = nr("m2", "i2", 4, 101);
    json_t *o = NULL;
    reco_error err;
    assert_int_equal(reco_service_add_ratings(s, &x, 1, &o, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, "moved or deleted"));
    bool healthy = true;
    json_t *h = reco_service_health(s, &healthy);
    assert_false(healthy);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "degraded");
    json_decref(h);
    assert_int_equal(n_ratings(s, "m2"), -1);
    assert_int_equal(rename(moved, log2_path), 0);
    add_ok(s, "m2", "i2", 4, 101);
    h = reco_service_health(s, &healthy);
    assert_true(healthy);
    json_decref(h);
    /* A second server on the same log is refused. */
    reco_service *s2 = NULL;
    assert_int_equal(open2(model_path, false, &s2, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, "in use by another reco serve"));
    /* Cut by another program: refused too. */
    assert_int_equal(truncate(log2_path, file_size(log2_path) - 3), 0);
    assert_int_equal(reco_service_add_ratings(s, &x, 1, &o, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, "changed by another program"));
    reco_service_close(s);
    unlink2();
}

/* A batch whose fsync fails leaves nothing in the file and is not applied;
 * once the disk works again so do writes; restart replays exactly what was
 * accepted. */
static int disk_failing;

static int failing_sync(void *ctx)
{
    (void)ctx;
    return disk_failing ? EIO : 0;
}

static void test_failed_batch_leaves_no_trace(void **state)
{
    (void)state;
    paths2("fail");
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.ratings_log = log2_path;
    o.create_log = true;
    o.sync_hook = failing_sync;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    add_ok(s, "f1", "i1", 3, 100);
    long before = file_size(log2_path);
    disk_failing = 1;
    reco_new_rating b[2] = {nr("f2", "i2", 4, 101), nr("f3", "i3", 5, 102)};
    json_t *out = NULL;
    assert_int_equal(reco_service_add_ratings(s, b, 2, &out, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, strerror(EIO)));
    assert_int_equal(file_size(log2_path), before);
    assert_int_equal(n_ratings(s, "f2"), -1);
    bool healthy = true;
    json_t *h = reco_service_health(s, &healthy);
    assert_false(healthy);
    json_t *p = json_array_get(json_object_get(h, "problems"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "check")), "ratings_log");
    json_decref(h);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.log_write_errors, 1);
    assert_false(st.healthy);
    assert_int_equal(reco_service_add_ratings(s, b, 2, &out, &err), RECO_ERR_IO);
    assert_int_equal(file_size(log2_path), before);
    /* Writes work again once the disk does: the failure is not sticky. */
    disk_failing = 0;
    add_ok(s, "f4", "i4", 2, 103);
    h = reco_service_health(s, &healthy);
    assert_true(healthy);
    json_decref(h);
    reco_service_close(s);
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    assert_int_equal(replayed(s), 2);
    assert_int_equal(n_ratings(s, "f2"), -1);
    assert_int_equal(n_ratings(s, "f4"), 1);
    reco_service_close(s);
    unlink2();
}

/* Group commit: with a slow fsync and eight writers, batches must hold
 * several writers' ratings. Without grouping every write is its own batch
 * (160 fsyncs); with it, a writer that arrives during a flush waits and
 * goes into the next one. */
static int slow_sync(void *ctx)
{
    (void)ctx;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return 0;
}

typedef struct gc_worker {
    reco_service *s;
    int id, failures;
} gc_worker;

static void *gc_work(void *arg)
{
    gc_worker *w = arg;
    for (int k = 0; k < 20; k++) {
        char user[32], item[32];
        snprintf(user, sizeof user, "g%d", w->id);
        snprintf(item, sizeof item, "i%d", k);
        reco_new_rating r = nr(user, item, 1 + k % 5, 100 + k);
        json_t *o = NULL;
        reco_error err;
        if (reco_service_add_ratings(w->s, &r, 1, &o, &err))
            w->failures++;
        json_decref(o);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    paths2("group");
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.ratings_log = log2_path;
    o.create_log = true;
    o.sync_hook = slow_sync;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    pthread_t t[8];
    gc_worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (gc_worker){s, i, 0};
        pthread_create(&t[i], NULL, gc_work, &w[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.ratings_logged, 160);
    print_message("group commit: 160 writes in %llu batches\n",
                  (unsigned long long)st.log_fsyncs);
    assert_true(st.log_fsyncs <= 80);
    reco_service_close(s);
    s = open2_ok(model_path, false);
    assert_int_equal(replayed(s), 160);
    reco_service_close(s);
    unlink2();
}

/* The live overlay's memory cap: a batch that would go over it is refused
 * with a message (NOMEM: 503 over HTTP), /healthz says so; a reload of a
 * model trained with the log makes room. */
static void test_live_memory_cap(void **state)
{
    (void)state;
    paths2("cap");
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model2_path;
    o.ratings_log = log2_path;
    o.create_log = true;
    o.max_live_bytes = 64 << 10;
    make_model("baseline", model2_path);
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    int accepted = 0;
    reco_status rc = RECO_OK;
    for (int b = 0; b < 100 && rc == RECO_OK; b++) {
        reco_new_rating r[20];
        char names[20][32];
        for (int k = 0; k < 20; k++) {
            snprintf(names[k], sizeof names[k], "newcomer-%d-%d", b, k);
            r[k] = nr(names[k], "i1", 4, 100);
        }
        json_t *out = NULL;
        rc = reco_service_add_ratings(s, r, 20, &out, &err);
        json_decref(out);
        if (rc == RECO_OK)
            accepted += 20;
    }
    assert_int_equal(rc, RECO_ERR_NOMEM);
    assert_non_null(strstr(err.msg, "--max-live-bytes"));
    assert_true(accepted > 0);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_true(st.live_bytes <= o.max_live_bytes);
    assert_int_equal(st.max_live_bytes, o.max_live_bytes);
    assert_int_equal(st.live_refused, 20);
    assert_int_equal(st.live_ratings, (uint64_t)accepted);
    assert_false(st.healthy);
    bool healthy = true;
    json_t *h = reco_service_health(s, &healthy);
    assert_false(healthy);
    json_t *p = json_array_get(json_object_get(h, "problems"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "check")), "live_ratings");
    json_decref(h);
    /* Nothing of the refused batch is in the log. */
    reco_service_close(s);
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    assert_int_equal(replayed(s), (uint64_t)accepted);
    /* Retrain with the log and reload: the overlay empties, writes work. */
    reco_log_point pt;
    train_with_log(model2_path, log2_path, &pt);
    assert_int_equal(reco_service_reload(s, &err), RECO_OK);
    uint64_t full = st.live_bytes;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.live_ratings, 0);
    assert_true(st.live_bytes < full / 4);
    add_ok(s, "after-reload", "i1", 4, 100);
    h = reco_service_health(s, &healthy);
    assert_true(healthy);
    json_decref(h);
    reco_service_close(s);
    unlink2();
}

/* ---- experiments ---- */

/* Assignment: a fixed function of the ID (the same points on every
 * machine: these are the hash's values), and shares kept within 0.01
 * over 100,000 synthetic users (the standard error of a share is at most
 * 0.0016 there: 0.01 is over six of them). */
static void test_variant_assignment(void **state)
{
    (void)state;
    assert_true(fabs(reco_variant_point("user-1", 6) - 0.10070504020119453) < 1e-15);
    assert_true(fabs(reco_variant_point("A1AVNM6RW79HZ5", 14) - 0.02238705841579547) < 1e-15);
    const reco_variant_spec v[3] = {{"control", "a", 0.5}, {"b", "b", 0.3}, {"c", "c", 0.2}};
    enum { N = 100000 };
    size_t count[3] = {0, 0, 0};
    for (int k = 0; k < N; k++) {
        char id[32];
        int len = snprintf(id, sizeof id, "user-%d", k);
        size_t a = reco_variant_assign(v, 3, id, (size_t)len);
        assert_true(a < 3);
        assert_int_equal(reco_variant_assign(v, 3, id, (size_t)len), a); /* deterministic */
        double x = reco_variant_point(id, (size_t)len);
        assert_true(x >= 0 && x < 1);
        count[a]++;
    }
    for (int j = 0; j < 3; j++)
        assert_true(fabs((double)count[j] / N - v[j].share) < 0.01);
    /* A variant's users stay when a later variant is added after it with
     * a part of another's share: the split is by cumulative share. */
    const reco_variant_spec one[1] = {{"default", "m", 1.0}};
    assert_int_equal(reco_variant_assign(one, 1, "anyone", 6), 0);
}

static void test_variants_check(void **state)
{
    (void)state;
    reco_error err;
    const reco_variant_spec ok[2] = {{"A", "a", 0.3}, {"B-2_x", "b", 0.7}};
    assert_int_equal(reco_variants_check(ok, 2, &err), RECO_OK);
    const reco_variant_spec sum[2] = {{"A", "a", 0.3}, {"B", "b", 0.6}};
    assert_int_equal(reco_variants_check(sum, 2, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "add up to 0.9"));
    const reco_variant_spec close1[3] = {{"A", "a", 0.1}, {"B", "b", 0.2}, {"C", "c", 0.7}};
    assert_int_equal(reco_variants_check(close1, 3, &err), RECO_OK); /* 1 within 1e-9 */
    const reco_variant_spec dup[2] = {{"A", "a", 0.5}, {"A", "b", 0.5}};
    assert_int_equal(reco_variants_check(dup, 2, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "twice"));
    const reco_variant_spec name[1] = {{"a b", "a", 1}};
    assert_int_equal(reco_variants_check(name, 1, &err), RECO_ERR_INVALID);
    const reco_variant_spec zero[2] = {{"A", "a", 1}, {"B", "b", 0}};
    assert_int_equal(reco_variants_check(zero, 2, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_variants_check(NULL, 0, &err), RECO_ERR_INVALID);
    const reco_variant_spec longname[1] = {{"abcdefghijabcdefghijabcdefghijabc", "a", 1}};
    assert_int_equal(reco_variants_check(longname, 1, &err), RECO_ERR_INVALID);
}

/* Wilson and Newcombe against published values (Newcombe 1998, Stat.
 * Med. 17: 81/263 gives 0.2553 to 0.3662; 56/70 minus 48/80 gives 0.0524
 * to 0.3339 by method 10), and their edges. */
static void test_intervals(void **state)
{
    (void)state;
    const double z = 1.959963984540054;
    double lo, hi;
    assert_true(reco_wilson(81, 263, z, &lo, &hi));
    assert_true(fabs(lo - 0.2553) < 5e-5 && fabs(hi - 0.3662) < 5e-5);
    assert_true(reco_wilson(0, 10, z, &lo, &hi));
    assert_true(lo == 0 && fabs(hi - 0.2775) < 5e-5);
    assert_true(reco_wilson(10, 10, z, &lo, &hi));
    assert_true(fabs(lo - 0.7225) < 5e-5 && fabs(hi - 1) < 1e-12);
    assert_true(reco_wilson(5, 10, z, &lo, &hi));
    assert_true(fabs(lo - 0.2366) < 5e-5 && fabs(hi - 0.7634) < 5e-5);
    assert_false(reco_wilson(0, 0, z, &lo, &hi));
    assert_true(reco_newcombe(56, 70, 48, 80, z, &lo, &hi));
    assert_true(fabs(lo - 0.0524) < 5e-5 && fabs(hi - 0.3339) < 5e-5);
    assert_false(reco_newcombe(1, 0, 1, 2, z, &lo, &hi));
    assert_true(reco_recommendation_id_valid("0123abcd-1", 10));
    assert_true(reco_recommendation_id_valid("0123abcd-ffffffffffffffff", 25));
    assert_false(reco_recommendation_id_valid("0123abcd-", 9));
    assert_false(reco_recommendation_id_valid("0123ABCD-1", 10));
    assert_false(reco_recommendation_id_valid("0123abcd_1", 10));
    assert_false(reco_recommendation_id_valid("0123abcd-11111111111111111", 26));
}

static reco_feedback fb(const char *rid, const char *user, const char *item, const char *type)
{
    reco_feedback f = {rid, rid ? strlen(rid) : 0, user, user ? strlen(user) : 0,
                       item, item ? strlen(item) : 0, type, 0};
    return f;
}

static json_t *variant_figures(json_t *ex, const char *name)
{
    size_t k;
    json_t *v;
    json_array_foreach(json_object_get(ex, "variants"), k, v)
        if (!strcmp(json_string_value(json_object_get(v, "name")), name))
            return v;
    return NULL;
}

static long figure(reco_service *s, const char *variant, const char *key)
{
    json_t *ex = reco_service_experiments(s);
    long v = (long)json_integer_value(json_object_get(variant_figures(ex, variant), key));
    json_decref(ex);
    return v;
}

/* Feedback: validated, logged as records between rating lines, counted,
 * counted again from the log after reopening; ratings replay around the
 * records; a damaged record stops the start with LOG:LINE. */
static void test_feedback_replay(void **state)
{
    (void)state;
    unlink(log_path);
    reco_service *s = open_svc();
    json_t *o = NULL;
    reco_error err;
    assert_int_equal(reco_service_recommend(s, "u1", 3, true, &o, &err), RECO_OK);
    char rid[32];
    snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(o, "recommendation_id")));
    assert_true(reco_recommendation_id_valid(rid, strlen(rid)));
    assert_string_equal(json_string_value(json_object_get(o, "variant")), "default");
    json_decref(o);
    assert_int_equal(reco_service_similar(s, "i0", 3, &o, &err), RECO_OK);
    assert_string_not_equal(json_string_value(json_object_get(o, "recommendation_id")), rid);
    json_decref(o);
    reco_feedback bad[] = {fb("x", "u1", NULL, "click"), fb(rid, "", NULL, "click"),
                           fb(rid, "u1", "", "click"), fb(rid, "u1", NULL, "view"),
                           fb(rid, "u\n1", NULL, "click")};
    static const char *const says[] = {"recommendation_id", "user", "item", "type", "user"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        reco_feedback two[2] = {fb(rid, "u1", NULL, "impression"), bad[k]};
        assert_int_equal(reco_service_add_feedback(s, two, 2, &o, &err), RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, "feedback 1: "));
        assert_non_null(strstr(err.msg, says[k]));
    }
    assert_int_equal(figure(s, "default", "impressions"), 0); /* nothing of a bad batch */
    reco_feedback good[3] = {fb(rid, "u1", NULL, "impression"), fb(rid, "u1", "i2", "click"),
                             fb(rid, "#u1", "i2", "purchase")};
    assert_int_equal(reco_service_add_feedback(s, good, 3, &o, &err), RECO_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "accepted")), 3);
    json_decref(o);
    /* A rating after the records, and one whose user starts with '#'. */
    reco_new_rating r[2] = {nr("u1", "i3", 4, 100), nr("#u1", "i4", 2, 100)};
    assert_int_equal(reco_service_add_ratings(s, r, 2, &o, &err), RECO_OK);
    json_decref(o);
    assert_int_equal(figure(s, "default", "impressions"), 1);
    assert_int_equal(figure(s, "default", "clicks"), 1);
    assert_int_equal(figure(s, "default", "purchases"), 1);
    reco_service_close(s);

    s = open_svc();
    assert_int_equal(figure(s, "default", "impressions"), 1);
    assert_int_equal(figure(s, "default", "clicks"), 1);
    assert_int_equal(figure(s, "default", "purchases"), 1);
    assert_int_equal(figure(s, "default", "users_seen"), 2);
    assert_int_equal(reco_service_user_ratings(s, "#u1", &o, &err), RECO_OK);
    json_decref(o);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.ratings_replayed, 2);
    reco_service_close(s);

    /* Readers that do not take records skip them: the log's ratings. */
    reco_log_parse_opts po = {NULL, 0, 1, 5, false};
    reco_log_parse_report rep;
    reco_log_point end;
    assert_int_equal(reco_log_read_all(log_path, &po, NULL, NULL, NULL, &end, &rep, &err),
                     RECO_OK);
    assert_int_equal(rep.ratings, 2);
    assert_int_equal(rep.records, 3);
    assert_int_equal(end.seq, 5); /* positions count lines */

    /* A record damaged by hand: strict replay names the line. */
    int fd = open(log_path, O_WRONLY | O_APPEND);
    const char *broken = "#feedback {\"recommendation_id\":\"zz\",\"user\":\"u\"}\n";
    assert_true(write(fd, broken, strlen(broken)) == (ssize_t)strlen(broken));
    close(fd);
    reco_service_options so;
    reco_service_options_default(&so);
    so.model_path = model_path;
    so.ratings_log = log_path;
    assert_int_equal(reco_service_open(&so, &s, &err), RECO_ERR_PARSE);
    assert_non_null(strstr(err.msg, ":7: feedback record: recommendation_id"));
    so.skip_bad_log = true;
    assert_int_equal(reco_service_open(&so, &s, &err), RECO_OK);
    reco_service_get_stats(s, &st);
    assert_int_equal(st.log_bad_lines, 1);
    assert_int_equal(figure(s, "default", "clicks"), 1);
    reco_service_close(s);
}

/* Two variants in one service: each its own model, both the same live
 * ratings; reload reloads both. */
static void test_two_variants(void **state)
{
    (void)state;
    unlink(log_path);
    char other[80];
    snprintf(other, sizeof other, "%s.b", model_path);
    make_model("itemcf", other);
    const reco_variant_spec v[2] = {{"A", model_path, 0.5}, {"B", other, 0.5}};
    reco_service_options so;
    reco_service_options_default(&so);
    so.variants = v;
    so.n_variants = 2;
    so.list_ids = true;
    so.ratings_log = log_path;
    so.create_log = true;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&so, &s, &err), RECO_OK);
    /* Users of each variant, found by the assignment. */
    char ua[16] = "", ub[16] = "";
    for (int k = 0; k < 30 && (!ua[0] || !ub[0]); k++) {
        char id[16];
        snprintf(id, sizeof id, "u%d", k);
        size_t a = reco_variant_assign(v, 2, id, strlen(id));
        snprintf(a ? ub : ua, 16, "%s", id);
    }
    assert_true(ua[0] && ub[0]);
    json_t *o = NULL;
    assert_int_equal(reco_service_recommend(s, ua, 3, true, &o, &err), RECO_OK);
    assert_string_equal(json_string_value(json_object_get(o, "variant")), "A");
    assert_string_equal(json_string_value(json_object_get(o, "algorithm")), "baseline");
    json_decref(o);
    assert_int_equal(reco_service_recommend(s, ub, 3, true, &o, &err), RECO_OK);
    assert_string_equal(json_string_value(json_object_get(o, "variant")), "B");
    assert_string_equal(json_string_value(json_object_get(o, "algorithm")), "itemcf");
    json_decref(o);
    /* A live rating reaches both variants' models. */
    reco_new_rating r[2] = {nr(ua, "brand-new", 5, 10), nr(ub, "brand-new", 5, 10)};
    assert_int_equal(reco_service_add_ratings(s, r, 2, &o, &err), RECO_OK);
    json_decref(o);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(reco_service_user_ratings(s, k ? ub : ua, &o, &err), RECO_OK);
        json_t *list = json_object_get(o, "ratings");
        bool found = false;
        for (size_t j = 0; j < json_array_size(list); j++)
            found |= !strcmp(json_string_value(json_object_get(json_array_get(list, j), "item")),
                             "brand-new");
        assert_true(found);
        json_decref(o);
    }
    assert_int_equal(reco_service_reload(s, &err), RECO_OK);
    assert_int_equal(reco_service_user_ratings(s, ub, &o, &err), RECO_OK);
    json_decref(o);
    json_t *ex = reco_service_experiments(s);
    assert_string_equal(json_string_value(json_object_get(ex, "control")), "A");
    assert_string_equal(
        json_string_value(json_object_get(variant_figures(ex, "B"), "algorithm")), "itemcf");
    assert_int_equal(json_integer_value(json_object_get(variant_figures(ex, "B"), "lists_served")),
                     1);
    json_decref(ex);
    /* A bad file for one variant: the reload fails and both keep serving. */
    FILE *f = fopen(other, "w");
    fputs("not a model", f);
    fclose(f);
    assert_int_equal(reco_service_reload(s, &err) != RECO_OK, true);
    assert_int_equal(reco_service_recommend(s, ub, 3, true, &o, &err), RECO_OK);
    assert_string_equal(json_string_value(json_object_get(o, "algorithm")), "itemcf");
    json_decref(o);
    reco_service_close(s);
    unlink(other);
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
        cmocka_unit_test(test_strict_replay),
        cmocka_unit_test(test_ids_replay_exactly),
        cmocka_unit_test(test_legacy_log_upgraded),
        cmocka_unit_test(test_log_point_and_compaction),
        cmocka_unit_test(test_log_moved_while_running),
        cmocka_unit_test(test_failed_batch_leaves_no_trace),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_live_memory_cap),
        cmocka_unit_test(test_variant_assignment),
        cmocka_unit_test(test_variants_check),
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_feedback_replay),
        cmocka_unit_test(test_two_variants),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
