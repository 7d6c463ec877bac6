/* Events: the weights table, event files (good lines in every layout, bad
 * lines with FILE:LINE), aggregation into confidences, training ials and
 * ease on events (what a user bought is never recommended to them), and
 * the weights through a model file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/dataset.h"
#include "reco/events.h"
#include "reco/model.h"
#include "testutil.h"

static reco_events *parse_ok(const char *text, const reco_load_options *opt,
                             const reco_event_weights *w)
{
    reco_events *e = NULL;
    reco_error err;
    reco_error_clear(&err);
    if (reco_events_parse(text, strlen(text), "e.csv", opt, w, &e, &err) != RECO_OK)
        fail_msg("unexpected error: %s", err.msg);
    assert_non_null(e);
    return e;
}

static void expect_error(const char *text, const reco_event_weights *w, reco_status code,
                         const char *msg)
{
    reco_events *e = NULL;
    reco_error err;
    reco_error_clear(&err);
    reco_status st = reco_events_parse(text, strlen(text), "e.csv", NULL, w, &e, &err);
    assert_int_equal(st, code);
    assert_null(e);
    assert_string_equal(err.msg, msg);
}

static int type_of(const reco_event_weights *w, const char *name)
{
    return reco_event_weights_index(w, name, strlen(name));
}

static const char *ukey(const reco_events *e, uint64_t k)
{
    return reco_idmap_key(e->r->users, e->r->user[k], NULL);
}

static const char *ikey(const reco_events *e, uint64_t k)
{
    return reco_idmap_key(e->r->items, e->r->item[k], NULL);
}

static void test_weights_table(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    char buf[256];
    assert_string_equal(reco_event_weights_format(&w, buf, sizeof buf),
                        "view=1 cart=3 purchase=5 rating=1");
    reco_error err;
    assert_int_equal(reco_event_weights_set_text(&w, "purchase=7.5", &err), RECO_OK);
    assert_int_equal(reco_event_weights_set_text(&w, "Wishlist=2", &err), RECO_OK);
    assert_string_equal(reco_event_weights_format(&w, buf, sizeof buf),
                        "view=1 cart=3 purchase=7.5 rating=1 wishlist=2");
    /* Names are matched without regard to ASCII case. */
    assert_int_equal(type_of(&w, "PURCHASE"), 2);
    assert_int_equal(type_of(&w, "wishlist"), 4);
    assert_int_equal(type_of(&w, "click"), -1);
    assert_int_equal(type_of(&w, "purchases"), -1);
    assert_int_equal(type_of(&w, "purchas"), -1);
    double v = 0;
    assert_int_equal(reco_event_weight(&w, "Cart", &v, &err), RECO_OK);
    assert_true(v == 3);
    assert_int_equal(reco_event_weight(&w, "click", &v, &err), RECO_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "unknown event type \"click\" (the model's weights know: view, "
                                 "cart, purchase, rating, wishlist)");
    /* Bad settings. */
    assert_int_equal(reco_event_weights_set_text(&w, "purchase", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "event weight \"purchase\" is not TYPE=WEIGHT (e.g. purchase=5)");
    assert_int_equal(reco_event_weights_set_text(&w, "=5", &err), RECO_ERR_INVALID);
    assert_int_equal(reco_event_weights_set_text(&w, "view=x", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "event weight \"view=x\": \"x\" is not a number");
    assert_int_equal(reco_event_weights_set_text(&w, "view=-1", &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "the weight of event type \"view\" must be a number from 0 to "
                                 "1e+06, got -1");
    assert_int_equal(reco_event_weights_set_text(&w, "view=nan", &err), RECO_ERR_INVALID);
    assert_int_equal(reco_event_weights_set_text(&w, "a b=1", &err), RECO_ERR_INVALID);
    assert_int_equal(reco_event_weights_set(&w, "", 1, &err), RECO_ERR_INVALID);
    assert_string_equal(reco_event_weights_format(&w, buf, sizeof buf),
                        "view=1 cart=3 purchase=7.5 rating=1 wishlist=2");
    /* A full table. */
    for (int k = (int)w.n; k < RECO_EVENT_TYPES_MAX; k++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", k);
        assert_int_equal(reco_event_weights_set(&w, name, 1, &err), RECO_OK);
    }
    assert_int_equal(reco_event_weights_set(&w, "one_more", 1, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_event_weights_set(&w, "view", 2, &err), RECO_OK); /* known: fine */
}

static void test_confidence_of_one_event(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    reco_error err;
    double c = -1;
    assert_int_equal(reco_event_confidence(&w, "purchase", NAN, 0.5, 5, &c, &err), RECO_OK);
    assert_true(c == 5);
    assert_int_equal(reco_event_confidence(&w, "purchase", 2, 0.5, 5, &c, &err), RECO_OK);
    assert_true(c == 10);
    assert_int_equal(reco_event_confidence(&w, "view", 0, 0.5, 5, &c, &err), RECO_OK);
    assert_true(c == 0);
    assert_int_equal(reco_event_confidence(&w, "rating", 4, 0.5, 5, &c, &err), RECO_OK);
    assert_true(c == 4);
    assert_int_equal(reco_event_confidence(&w, "rating", NAN, 0.5, 5, &c, &err),
                     RECO_ERR_INVALID);
    assert_string_equal(err.msg, "a rating event needs a value (the rating)");
    assert_int_equal(reco_event_confidence(&w, "rating", 6, 0.5, 5, &c, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "rating 6 is outside the allowed range 0.5 to 5");
    assert_int_equal(reco_event_confidence(&w, "view", -1, 0.5, 5, &c, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_event_confidence(&w, "view", INFINITY, 0.5, 5, &c, &err),
                     RECO_ERR_INVALID);
    assert_int_equal(reco_event_confidence(&w, "click", 1, 0.5, 5, &c, &err), RECO_ERR_NOT_FOUND);
    assert_true(c == 4); /* untouched by the failures */
}

static void test_layouts(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    /* Three columns, no header. */
    reco_events *e = parse_ok("u1,i1,view\nu1,i2,Purchase\n\nu2,i1,cart\n", NULL, &w);
    assert_int_equal(e->r->n, 3);
    assert_false(e->r->has_ts);
    assert_false(e->r->report.header);
    assert_int_equal(e->type[1], type_of(&w, "purchase"));
    assert_true(e->r->rating[0] == 1 && e->r->rating[2] == 1);
    assert_int_equal(e->count[type_of(&w, "view")], 1);
    assert_int_equal(e->count[type_of(&w, "cart")], 1);
    assert_int_equal(e->count[type_of(&w, "purchase")], 1);
    assert_int_equal(e->r->report.blank_lines, 1);
    reco_events_free(e);
    /* Four columns without a header: the value. */
    e = parse_ok("u1,i1,view,3\nu1,i2,rating,4.5\n", NULL, &w);
    assert_true(e->r->rating[0] == 3 && e->r->rating[1] == 4.5f);
    assert_false(e->r->has_ts);
    reco_events_free(e);
    /* Five columns: value and timestamp; an empty value is 1. */
    e = parse_ok("u1,i1,view,,1700000000\r\nu1,i2,purchase,2,1700000001\r\n", NULL, &w);
    assert_true(e->r->rating[0] == 1 && e->r->rating[1] == 2);
    assert_true(e->r->has_ts);
    assert_int_equal(e->r->ts[1], 1700000001);
    reco_events_free(e);
    /* A header names the columns: timestamp alone, or both in either
     * order, in any case, tab-separated, with quoting. */
    e = parse_ok("user_id,product_id,event_type,timestamp\nu1,i1,view,1700000000\n", NULL, &w);
    assert_true(e->r->report.header);
    assert_true(e->r->has_ts);
    assert_int_equal(e->r->ts[0], 1700000000);
    assert_true(e->r->rating[0] == 1);
    reco_events_free(e);
    e = parse_ok("UserId\tItemId\tEvent\tTimestamp\tValue\nu1\t\"i\"\"1\"\tcart\t7\t2\n", NULL,
                 &w);
    assert_string_equal(e->r->report.sep, "\t");
    assert_string_equal(ikey(e, 0), "i\"1");
    assert_int_equal(e->r->ts[0], 7);
    assert_true(e->r->rating[0] == 2);
    reco_events_free(e);
    e = parse_ok("\xEF\xBB\xBF\"user\",item,type\n\"u,1\",i1,view", NULL, &w);
    assert_string_equal(ukey(e, 0), "u,1");
    assert_int_equal(e->r->report.lines, 2);
    reco_events_free(e);
    /* A type the defaults do not know, once it has a weight. */
    reco_error err;
    assert_int_equal(reco_event_weights_set_text(&w, "wishlist=2", &err), RECO_OK);
    e = parse_ok("u1,i1,wishlist\n", NULL, &w);
    assert_int_equal(e->type[0], type_of(&w, "wishlist"));
    reco_events_free(e);
}

static void test_bad_lines(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    expect_error("u1,i1,view\nu1,i2,click\n", &w, RECO_ERR_PARSE,
                 "e.csv:2: unknown event type \"click\" (no weight for it: give one, e.g. "
                 "--event-weight click=1)");
    expect_error("u1,i1,view,1\nu1,i2,view,abc\n", &w, RECO_ERR_PARSE,
                 "e.csv:2: value \"abc\" is not a number");
    expect_error("u1,i1,view,-2\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: value -2 is outside 0 to 1000000");
    expect_error("u1,i1,view,1700000000\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: value 1700000000 is outside 0 to 1000000 (without a header the "
                 "fourth column is the value; for a timestamp alone add a header line or an "
                 "empty value: u,i,view,,TS)");
    expect_error("u1,i1,view,inf\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: value \"inf\" is not a number");
    expect_error("u1,i1,view,1e999\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: value \"1e999\" is not a finite number");
    expect_error("u1,i1,view,1,12.5\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: timestamp \"12.5\" is not an integer");
    expect_error("u1,i1,view,1,1\nu1,i2,view\n", &w, RECO_ERR_PARSE,
                 "e.csv:2: expected 5 fields, found 3");
    expect_error("u1,i1,view\nu1,i2,view,1,2,3\n", &w, RECO_ERR_PARSE,
                 "e.csv:2: expected 3 fields, found at least 6");
    expect_error("u1,i1\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: cannot detect the separator: the line does not split into 3 to 5 "
                 "fields on \",\", tab, \"::\", \";\" or \"|\" (use --sep)");
    expect_error("u1,i1,rating\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: a rating event needs a value (the rating)");
    expect_error("u1,i1,view,1\nu1,i1,rating,\n", &w, RECO_ERR_PARSE,
                 "e.csv:2: a rating event needs a value (the rating)");
    expect_error("u1,i1,rating,7\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: rating 7 is outside the allowed range 0.5 to 5");
    expect_error("u1,i1,,1\n", &w, RECO_ERR_PARSE, "e.csv:1: empty event type");
    expect_error("user,item,type\n,i1,view\n", &w, RECO_ERR_PARSE, "e.csv:2: empty user ID");
    expect_error("u1,i\xff,view\n", &w, RECO_ERR_PARSE,
                 "e.csv:1: item ID is not valid UTF-8 (byte 0xFF at offset 1)");
    expect_error("u1,i1,view\nu1,\"i1,view\n", &w, RECO_ERR_PARSE,
                 "e.csv:2: unterminated quoted field (a field may not span lines)");
    expect_error("", &w, RECO_ERR_EMPTY, "e.csv: no events (the input is empty)");
    expect_error("user,item,type\n", &w, RECO_ERR_EMPTY, "e.csv: no events");
}

static void test_skip_bad_and_file(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    const char *text = "user,item,type,value\nu1,i1,view,1\nu1,i2,click,1\nu2,i1,cart,x\n"
                       "u2,i2,purchase,1\n";
    char *path = test_write_temp(text, strlen(text));
    assert_non_null(path);
    reco_load_options o;
    reco_load_options_default(&o);
    reco_events *e = NULL;
    reco_error err;
    assert_int_equal(reco_events_load(path, &o, &w, &e, &err), RECO_ERR_PARSE);
    char want[512];
    snprintf(want, sizeof want, "%s:3: unknown event type \"click\" (no weight for it: give one, "
                                "e.g. --event-weight click=1)", path);
    assert_string_equal(err.msg, want);
    o.skip_bad = true;
    assert_int_equal(reco_events_load(path, &o, &w, &e, &err), RECO_OK);
    assert_int_equal(e->r->n, 2);
    assert_int_equal(e->r->report.bad_lines, 2);
    assert_int_equal(e->r->report.n_messages, 2);
    snprintf(want, sizeof want, "%s:4: value \"x\" is not a number", path);
    assert_string_equal(e->r->report.messages[1], want);
    assert_int_equal(e->count[type_of(&w, "view")], 1);
    assert_int_equal(e->count[type_of(&w, "purchase")], 1);
    reco_events_free(e);
    assert_int_equal(reco_events_load("/nonexistent/e.csv", &o, &w, &e, &err), RECO_ERR_NOT_FOUND);
    assert_null(e);
    unlink(path);
    free(path);
}

static void test_aggregation(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    reco_error err;
    assert_int_equal(reco_event_weights_set_text(&w, "wishlist=0", &err), RECO_OK);
    reco_events *e = parse_ok("user,item,type,value,timestamp\n"
                              "u1,i1,view,,10\n"
                              "u1,i1,view,2,30\n"
                              "u1,i1,purchase,1,20\n"
                              "u1,i2,rating,4,5\n"
                              "u2,i1,cart,,1\n"
                              "u2,i2,wishlist,,2\n"  /* weight 0: no interaction */
                              "u1,i2,view,,6\n",
                              NULL, &w);
    /* A rating file's ratings join as "rating" events. */
    reco_ratings *rf = reco_ratings_new(e->r->users, e->r->items);
    assert_non_null(rf);
    assert_int_equal(reco_ratings_add(rf, "u3", 2, "i1", 2, 2.5f, 50, &err), RECO_OK);
    assert_int_equal(reco_events_add_ratings(e, rf, &w, &err), RECO_OK);
    assert_int_equal(e->count[type_of(&w, "rating")], 2);
    reco_ratings *agg = NULL;
    uint64_t dropped = 99;
    assert_int_equal(reco_events_aggregate(e, &w, &agg, &dropped, &err), RECO_OK);
    assert_int_equal(dropped, 1);
    assert_int_equal(agg->n, 4);
    /* u1,i1: 1x1 + 1x2 + 5x1 = 8, latest 30; u1,i2: 4 + 1 = 5; u2,i1: 3;
     * u3,i1: 2.5; sorted by user index, then product. */
    struct { const char *u, *i; float c; int64_t ts; } want[] = {
        {"u1", "i1", 8, 30}, {"u1", "i2", 5, 6}, {"u2", "i1", 3, 1}, {"u3", "i1", 2.5f, 50}};
    for (int k = 0; k < 4; k++) {
        assert_string_equal(reco_idmap_key(agg->users, agg->user[k], NULL), want[k].u);
        assert_string_equal(reco_idmap_key(agg->items, agg->item[k], NULL), want[k].i);
        assert_true(agg->rating[k] == want[k].c);
        assert_int_equal(agg->ts[k], want[k].ts);
    }
    /* Other weights, other confidences. */
    reco_event_weights w2 = w;
    assert_int_equal(reco_event_weights_set_text(&w2, "purchase=10", &err), RECO_OK);
    reco_ratings *agg2 = NULL;
    assert_int_equal(reco_events_aggregate(e, &w2, &agg2, NULL, &err), RECO_OK);
    assert_true(agg2->rating[0] == 13);
    reco_ratings_free(agg2);
    /* The rating events alone, for the rating models. */
    reco_ratings *rr = NULL;
    assert_int_equal(reco_events_ratings(e, &w, &rr, &err), RECO_OK);
    assert_int_equal(rr->n, 2);
    assert_true(rr->rating[0] == 4 && rr->rating[1] == 2.5f);
    reco_ratings_free(rr);
    /* The dataset the models read: one entry per pair, no duplicates. */
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(agg, NULL, &ds, &err), RECO_OK);
    assert_int_equal(reco_dataset_nnz(ds), 4);
    assert_int_equal(ds->duplicates_removed, 0);
    reco_dataset_free(ds);
    reco_ratings_free(agg);
    reco_ratings_free(rf);
    reco_events_free(e);
    /* Nothing but weight 0, and no rating events at all. */
    e = parse_ok("u1,i1,wishlist\n", NULL, &w);
    assert_int_equal(reco_events_aggregate(e, &w, &agg, NULL, &err), RECO_ERR_EMPTY);
    assert_null(agg);
    assert_int_equal(reco_events_ratings(e, &w, &rr, &err), RECO_ERR_EMPTY);
    assert_null(rr);
    reco_events_free(e);
}

/* 60 users, 40 products: each user views 8 products, carts 3 of them and
 * buys 2 of those (tastes in two groups), a few also rate. */
static reco_dataset *synthetic_events(const reco_event_weights *w, reco_events **keep)
{
    reco_events *e = reco_events_new(NULL, NULL);
    assert_non_null(e);
    reco_error err;
    uint64_t seed = 7;
    int view = type_of(w, "view"), cart = type_of(w, "cart"), buy = type_of(w, "purchase");
    for (uint32_t u = 0; u < 60; u++) {
        char uid[16];
        snprintf(uid, sizeof uid, "u%u", u);
        uint32_t ui;
        assert_int_equal(reco_idmap_intern(e->r->users, uid, strlen(uid), &ui), 0);
        uint32_t base = (u % 2) * 20;
        for (int k = 0; k < 8; k++) {
            uint32_t it = base + (uint32_t)(test_uniform(&seed) * 20) % 20;
            char iid[16];
            snprintf(iid, sizeof iid, "p%u", it);
            uint32_t ii;
            assert_int_equal(reco_idmap_intern(e->r->items, iid, strlen(iid), &ii), 0);
            assert_int_equal(reco_events_push(e, ui, ii, (uint32_t)view, 1, 100 + k, &err), 0);
            if (k < 3)
                assert_int_equal(reco_events_push(e, ui, ii, (uint32_t)cart, 1, 200, &err), 0);
            if (k < 2)
                assert_int_equal(reco_events_push(e, ui, ii, (uint32_t)buy, 1, 300, &err), 0);
        }
    }
    reco_ratings *agg = NULL;
    assert_int_equal(reco_events_aggregate(e, w, &agg, NULL, &err), RECO_OK);
    reco_dataset *ds = NULL;
    assert_int_equal(reco_dataset_build(agg, NULL, &ds, &err), RECO_OK);
    reco_ratings_free(agg);
    *keep = e;
    return ds;
}

static void check_no_purchase_recommended(const reco_model *m, const reco_events *e,
                                          const reco_event_weights *w)
{
    int buy = type_of(w, "purchase");
    const reco_dataset *ds = m->train;
    reco_scored out[40];
    size_t got = 0;
    size_t lists = 0;
    for (uint32_t u = 0; u < reco_dataset_n_users(ds); u++) {
        reco_profile p = reco_profile_of_user(ds, u);
        reco_error err;
        assert_int_equal(reco_model_recommend(m, &p, 40, true, out, &got, NULL, NULL, &err), 0);
        assert_true(got > 0);
        lists++;
        for (uint64_t k = 0; k < e->r->n; k++) {
            if (e->r->user[k] != u)
                continue;
            /* Every interaction is in the profile, so none comes back;
             * purchases above all. */
            for (size_t j = 0; j < got; j++)
                assert_true(out[j].id != e->r->item[k]);
            if (e->type[k] == buy)
                assert_true(p.n > 0);
        }
    }
    assert_int_equal(lists, 60);
}

static void test_train_ials_and_ease_on_events(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    reco_events *e = NULL;
    reco_dataset *ds = synthetic_events(&w, &e);
    /* Confidences: a bought product weighs 1 + 3 + 5 = 9 (with its view
     * and cart), a carted one 4, a viewed one 1 (more when viewed twice). */
    float hi = 0;
    for (uint64_t k = 0; k < reco_dataset_nnz(ds); k++)
        hi = ds->by_user.val[k] > hi ? ds->by_user.val[k] : hi;
    assert_true(hi >= 9);
    const char *algos[] = {"ials", "ease"};
    for (int a = 0; a < 2; a++) {
        reco_model *m = NULL;
        reco_error err;
        assert_int_equal(reco_model_new(algos[a], &m, &err), 0);
        if (a == 0)
            assert_int_equal(reco_model_set_param_text(m, "factors=8", &err), 0);
        else
            assert_int_equal(reco_model_set_param_text(m, "lambda=10", &err), 0);
        assert_int_equal(reco_model_fit(m, ds, NULL, &err), 0);
        check_no_purchase_recommended(m, e, &w);
        /* Tastes were learnt: a user of the first group gets products of
         * the first group first. */
        reco_profile p = reco_profile_of_user(ds, 0);
        reco_scored out[3];
        size_t got = 0;
        assert_int_equal(reco_model_recommend(m, &p, 3, true, out, &got, NULL, NULL, &err), 0);
        assert_int_equal(got, 3);
        for (size_t j = 0; j < got; j++) {
            const char *id = reco_idmap_key(ds->items, out[j].id, NULL);
            assert_true(atoi(id + 1) < 20);
        }
        reco_model_free(m);
    }
    reco_dataset_free(ds);
    reco_events_free(e);
}

static void test_weights_in_model_file(void **state)
{
    (void)state;
    reco_event_weights w;
    reco_event_weights_default(&w);
    reco_error err;
    assert_int_equal(reco_event_weights_set_text(&w, "purchase=6.25", &err), 0);
    assert_int_equal(reco_event_weights_set_text(&w, "wishlist=0.5", &err), 0);
    reco_events *e = NULL;
    reco_dataset *ds = synthetic_events(&w, &e);
    char path[] = "/tmp/reco_events_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    reco_model *m = NULL;
    assert_int_equal(reco_model_new("ials", &m, &err), 0);
    assert_int_equal(reco_model_set_param_text(m, "factors=4", &err), 0);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), 0);
    /* Trained on ratings: no section, no weights. */
    assert_int_equal(reco_model_save(m, path, &err), 0);
    reco_model *l = NULL;
    assert_int_equal(reco_model_load(path, &l, &err), 0);
    assert_null(l->event_weights);
    reco_model_free(l);
    /* With the weights: read back exactly. */
    m->event_weights = malloc(sizeof w);
    assert_non_null(m->event_weights);
    *m->event_weights = w;
    assert_int_equal(reco_model_save(m, path, &err), 0);
    assert_int_equal(reco_model_load(path, &l, &err), 0);
    assert_non_null(l->event_weights);
    assert_int_equal(l->event_weights->n, w.n);
    for (uint32_t t = 0; t < w.n; t++) {
        assert_string_equal(l->event_weights->name[t], w.name[t]);
        assert_true(l->event_weights->weight[t] == w.weight[t]);
    }
    double c = 0;
    assert_int_equal(reco_event_confidence(l->event_weights, "Purchase", 2, l->rating_lo,
                                           l->rating_hi, &c, &err), 0);
    assert_true(c == 12.5);
    assert_int_equal(reco_event_confidence(l->event_weights, "click", 1, 0, 5, &c, &err),
                     RECO_ERR_NOT_FOUND);
    reco_model_free(l);
    /* A table that is not one is refused on load, naming the section. */
    reco_event_weights bad = w;
    memcpy(bad.name[1], "view", 5); /* view twice */
    *m->event_weights = bad;
    assert_int_equal(reco_model_save(m, path, &err), 0);
    assert_int_equal(reco_model_load(path, &l, &err), RECO_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(err.msg, "section \"events.weights\": type.1 is a repeated type"));
    bad = w;
    memcpy(bad.name[0], "vi ew", 6);
    *m->event_weights = bad;
    assert_int_equal(reco_model_save(m, path, &err), 0);
    assert_int_equal(reco_model_load(path, &l, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "type.0 is not a type name"));
    bad = w;
    bad.weight[2] = -1;
    *m->event_weights = bad;
    assert_int_equal(reco_model_save(m, path, &err), 0);
    assert_int_equal(reco_model_load(path, &l, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "weight.2"));
    reco_model_free(m);
    reco_dataset_free(ds);
    reco_events_free(e);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_table),
        cmocka_unit_test(test_confidence_of_one_event),
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_skip_bad_and_file),
        cmocka_unit_test(test_aggregation),
        cmocka_unit_test(test_train_ials_and_ease_on_events),
        cmocka_unit_test(test_weights_in_model_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
