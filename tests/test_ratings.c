/* Parser tests: every accepted variant, and every kind of bad line with its
 * exact message and line number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/ratings.h"
#include "testutil.h"

static reco_ratings *parse_ok(const char *text, const reco_load_options *opt)
{
    reco_ratings *r = NULL;
    reco_error err;
    reco_error_clear(&err);
    reco_status st = reco_ratings_parse(text, strlen(text), "t.csv", opt, &r, &err);
    if (st != RECO_OK)
        fail_msg("unexpected error: %s", err.msg);
    assert_non_null(r);
    return r;
}

static void expect_error(const char *text, const reco_load_options *opt, reco_status code,
                         const char *msg)
{
    reco_ratings *r = NULL;
    reco_error err;
    reco_error_clear(&err);
    reco_status st = reco_ratings_parse(text, strlen(text), "t.csv", opt, &r, &err);
    assert_int_equal(st, code);
    assert_null(r);
    assert_string_equal(err.msg, msg);
}

static const char *ukey(const reco_ratings *r, uint64_t k)
{
    return reco_idmap_key(r->users, r->user[k], NULL);
}

static const char *ikey(const reco_ratings *r, uint64_t k)
{
    return reco_idmap_key(r->items, r->item[k], NULL);
}

static void test_amazon_format(void **state)
{
    (void)state;
    reco_ratings *r = parse_ok("AKM1MP6P0OYPR,0132793040,5.0,1365811200\n"
                               "A2CX7LUOHB2NDG,0321732944,5.0,1341100800\n"
                               "A2NWSAGRHCP8N5,0439886341,1.0,1367193600\n"
                               "AKM1MP6P0OYPR,0439886341,3.0,1374451200\n",
                               NULL);
    assert_int_equal(r->n, 4);
    assert_true(r->has_ts);
    assert_int_equal(reco_idmap_size(r->users), 3);
    assert_int_equal(reco_idmap_size(r->items), 3);
    assert_string_equal(ukey(r, 0), "AKM1MP6P0OYPR");
    assert_string_equal(ikey(r, 0), "0132793040"); /* leading zero kept */
    assert_int_equal(r->user[3], r->user[0]);
    assert_int_equal(r->item[3], r->item[2]);
    assert_true(r->rating[2] == 1.0f);
    assert_int_equal(r->ts[1], 1341100800);
    assert_string_equal(r->report.sep, ",");
    assert_false(r->report.header);
    assert_int_equal(r->report.lines, 4);
    reco_ratings_free(r);
}

static void test_header_detected_and_forced(void **state)
{
    (void)state;
    reco_ratings *r = parse_ok("userId,productId,rating,timestamp\nu1,p1,4,10\n", NULL);
    assert_true(r->report.header);
    assert_int_equal(r->n, 1);
    reco_ratings_free(r);

    /* --header on a file whose first line looks like data. */
    reco_load_options o;
    reco_load_options_default(&o);
    o.header = 1;
    r = parse_ok("u0,p0,4,10\nu1,p1,4,10\n", &o);
    assert_int_equal(r->n, 1);
    assert_string_equal(ukey(r, 0), "u1");
    reco_ratings_free(r);

    /* --no-header: a non-numeric first rating is then a bad line. */
    o.header = 0;
    expect_error("userId,productId,rating,timestamp\nu1,p1,4,10\n", &o, RECO_ERR_PARSE,
                 "t.csv:1: rating \"rating\" is not a number");
}

static void test_separators(void **state)
{
    (void)state;
    reco_ratings *r = parse_ok("196\t242\t3\t881250949\n186\t302\t3\t891717742\n", NULL);
    assert_string_equal(r->report.sep, "\t");
    assert_int_equal(r->n, 2);
    assert_string_equal(ikey(r, 1), "302");
    reco_ratings_free(r);

    r = parse_ok("1::1193::5::978300760\n1::661::3::978302109\n", NULL);
    assert_string_equal(r->report.sep, "::");
    assert_string_equal(ikey(r, 0), "1193");
    assert_int_equal(r->ts[1], 978302109);
    reco_ratings_free(r);

    reco_load_options o;
    reco_load_options_default(&o);
    o.sep = "tab";
    r = parse_ok("a b\tc,d\t4.5\t1\n", &o); /* spaces and commas inside IDs */
    assert_string_equal(ukey(r, 0), "a b");
    assert_string_equal(ikey(r, 0), "c,d");
    reco_ratings_free(r);
}

static void test_quoting_crlf_bom_blank_no_final_newline(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBFuser,item,rating,ts\r\n"
                       "\r\n"
                       "\"A,1\",\"P\"\"Q\",4.5,100\r\n"
                       "   \r\n"
                       "A2,\"\",3,5\r\n";
    /* The empty quoted item is a bad line at line 5. */
    expect_error(text, NULL, RECO_ERR_PARSE, "t.csv:5: empty item ID");
    reco_ratings *r = parse_ok("\xEF\xBB\xBFuser,item,rating,ts\r\n"
                               "\r\n"
                               "\"A,1\",\"P\"\"Q\",4.5,100\r\n"
                               "   \r\n"
                               "A2,P2,3,5",
                               NULL);
    assert_true(r->report.header);
    assert_int_equal(r->n, 2);
    assert_string_equal(ukey(r, 0), "A,1");
    assert_string_equal(ikey(r, 0), "P\"Q");
    assert_true(r->rating[0] == 4.5f);
    assert_string_equal(ikey(r, 1), "P2");
    assert_int_equal(r->ts[1], 5);
    assert_int_equal(r->report.blank_lines, 2);
    assert_int_equal(r->report.lines, 5);
    reco_ratings_free(r);
}

static void test_no_timestamp_column(void **state)
{
    (void)state;
    reco_ratings *r = parse_ok("u1,p1,4\nu2,p1,2.5\n", NULL);
    assert_false(r->has_ts);
    assert_int_equal(r->n, 2);
    assert_true(r->rating[1] == 2.5f);
    reco_ratings_free(r);
}

static void test_bad_lines_messages(void **state)
{
    (void)state;
    char longid[300];
    memset(longid, 'x', 256);
    longid[256] = '\0';
    char buf[512];

    expect_error("u,p,5,1\nu,p,abc,2\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: rating \"abc\" is not a number");
    expect_error("u,p,5,1\nu,p,7,2\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: rating 7 is outside the allowed range 0.5 to 5");
    expect_error("u,p,5,1\nu,p,0,2\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: rating 0 is outside the allowed range 0.5 to 5");
    expect_error("u,p,5,1\nu,p,nan,2\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: rating \"nan\" is not a number");
    expect_error("u,p,5,1\nu,p,1e999,2\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: rating \"1e999\" is not a finite number");
    expect_error("u,p,5,1\nu,p,4,12x\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: timestamp \"12x\" is not an integer");
    expect_error("u,p,5,1\nu,p,4,1.5\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: timestamp \"1.5\" is not an integer");
    expect_error("u,p,5,1\n\nu,p,4\n", NULL, RECO_ERR_PARSE,
                 "t.csv:3: expected 4 fields, found 3");
    expect_error("u,p,5,1\nu,p,4,1,9,9\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: expected 4 fields, found at least 5");
    expect_error("u,p,5,1\n,p,4,1\n", NULL, RECO_ERR_PARSE, "t.csv:2: empty user ID");
    expect_error("u,p,5,1\nu,,4,1\n", NULL, RECO_ERR_PARSE, "t.csv:2: empty item ID");
    snprintf(buf, sizeof buf, "u,p,5,1\n%s,p,4,1\n", longid);
    expect_error(buf, NULL, RECO_ERR_PARSE, "t.csv:2: user ID is 256 bytes long; the limit is 255");
    expect_error("u,p,5,1\n\"u,p,4,1\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: unterminated quoted field (a field may not span lines)");
    expect_error("u,p,5,1\n\"u\"x,p,4,1\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: unexpected character after a closing quote");
    expect_error("", NULL, RECO_ERR_EMPTY, "t.csv: no ratings (the input is empty)");
    expect_error("\n\r\n  \n", NULL, RECO_ERR_EMPTY, "t.csv: no ratings (the input is empty)");
    expect_error("just one field\n", NULL, RECO_ERR_PARSE,
                 "t.csv:1: cannot detect the separator: the line does not split into 3 or 4 "
                 "fields on \",\", tab, \"::\", \";\" or \"|\" (use --sep)");

    /* An ID of exactly 255 bytes is fine. */
    longid[255] = '\0';
    snprintf(buf, sizeof buf, "%s,p,4,1\n", longid);
    reco_ratings *r = parse_ok(buf, NULL);
    size_t len;
    reco_idmap_key(r->users, 0, &len);
    assert_int_equal(len, 255);
    reco_ratings_free(r);
}

static void test_rating_range_and_half_stars(void **state)
{
    (void)state;
    reco_load_options o;
    reco_load_options_default(&o);
    o.rating_min = 1;
    o.rating_max = 10;
    reco_ratings *r = parse_ok("u,p,10,1\nu,q,0.5e1,2\nu,r, 7.5 ,3\n", &o);
    assert_true(r->rating[0] == 10.0f);
    assert_true(r->rating[1] == 5.0f);
    assert_true(r->rating[2] == 7.5f);
    reco_ratings_free(r);
    expect_error("u,p,0.5,1\n", &o, RECO_ERR_PARSE,
                 "t.csv:1: rating 0.5 is outside the allowed range 1 to 10");
}

static void test_skip_bad(void **state)
{
    (void)state;
    reco_load_options o;
    reco_load_options_default(&o);
    o.skip_bad = true;
    char text[4096] = "u,p,5,1\n";
    for (int i = 0; i < 12; i++)
        strcat(text, "u,p,bad,1\n");
    strcat(text, "v,q,4,2\n");
    reco_ratings *r = parse_ok(text, &o);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->report.bad_lines, 12);
    assert_int_equal(r->report.n_messages, RECO_BAD_LINES_REPORTED);
    assert_string_equal(r->report.messages[0], "t.csv:2: rating \"bad\" is not a number");
    assert_string_equal(r->report.messages[9], "t.csv:11: rating \"bad\" is not a number");
    reco_ratings_free(r);

    expect_error("u,p,x,1\nu,p,y,1\n", &o, RECO_ERR_EMPTY,
                 "t.csv: no ratings (every data line was bad); first: "
                 "t.csv:1: rating \"x\" is not a number");
}

/* A large input parsed on several threads gives the same result, with the
 * right line number for an error near the end. */
static void test_parallel_matches_serial(void **state)
{
    (void)state;
    size_t n = 210000, cap = n * 40; /* over 200k: the distinct-count sketch runs */
    char *text = malloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "U%zu,%010zu,%zu.0,%zu\n", (i * 7919) % 5003,
                                (i * 31) % 977, 1 + i % 5, 1000000 + i);
    reco_load_options o;
    reco_load_options_default(&o);
    o.threads = 1;
    reco_ratings *a = parse_ok(text, &o);
    o.threads = 4;
    reco_ratings *b = parse_ok(text, &o);
    assert_int_equal(a->n, n);
    assert_int_equal(b->n, n);
    assert_memory_equal(a->user, b->user, n * sizeof *a->user);
    assert_memory_equal(a->item, b->item, n * sizeof *a->item);
    assert_memory_equal(a->rating, b->rating, n * sizeof *a->rating);
    assert_memory_equal(a->ts, b->ts, n * sizeof *a->ts);
    reco_ratings_free(a);
    reco_ratings_free(b);

    /* Break line 150001 (in a later chunk) and line 7 (first chunk) in skip
     * mode: both reported, in file order; stop mode reports line 7. */
    char *p = text;
    for (int line = 1; line < 150001; line++)
        p = strchr(p, '\n') + 1;
    *(strchr(strchr(p, ',') + 1, ',') + 1) = 'x'; /* rating "3.0" -> "x.0" */
    p = text;
    for (int line = 1; line < 7; line++)
        p = strchr(p, '\n') + 1;
    *strchr(strchr(p, ',') + 1, ',') = ';';
    o.skip_bad = true;
    reco_ratings *c = parse_ok(text, &o);
    assert_int_equal(c->n, n - 2);
    assert_int_equal(c->report.bad_lines, 2);
    assert_string_equal(c->report.messages[0], "t.csv:7: expected 4 fields, found 3");
    assert_non_null(strstr(c->report.messages[1], "t.csv:150001: rating \"x."));
    reco_ratings_free(c);
    o.skip_bad = false;
    expect_error(text, &o, RECO_ERR_PARSE, "t.csv:7: expected 4 fields, found 3");
    free(text);
}

static void test_load_file_and_missing(void **state)
{
    (void)state;
    const char *text = "u1,p1,4,1\nu2,p1,5,2\n";
    char *path = test_write_temp(text, strlen(text));
    assert_non_null(path);
    reco_ratings *r = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_load(path, NULL, &r, &err), RECO_OK);
    assert_int_equal(r->n, 2);
    reco_ratings_free(r);
    unlink(path);
    free(path);
    assert_int_equal(reco_ratings_load("/nonexistent/ratings.csv", NULL, &r, &err),
                     RECO_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "/nonexistent/ratings.csv: No such file or directory");
    assert_null(r);
}

/* Files read by several threads (line counts taken while reading) give
 * exactly what parsing the same bytes in memory on one thread gives,
 * whatever the file's shape around the cuts between threads. */
static void expect_load_matches_parse(const char *text, size_t len)
{
    char *path = test_write_temp(text, len);
    assert_non_null(path);
    reco_load_options o;
    reco_load_options_default(&o);
    o.threads = 1;
    reco_ratings *a = NULL;
    reco_error err;
    if (reco_ratings_parse(text, len, path, &o, &a, &err))
        fail_msg("%s", err.msg);
    static const int threads[] = {1, 2, 3, 4, 7, 64};
    for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        o.threads = threads[k];
        reco_ratings *b = NULL;
        if (reco_ratings_load(path, &o, &b, &err))
            fail_msg("%d threads: %s", threads[k], err.msg);
        assert_int_equal(b->n, a->n);
        assert_int_equal(b->report.lines, a->report.lines);
        assert_int_equal(b->report.blank_lines, a->report.blank_lines);
        assert_memory_equal(a->user, b->user, a->n * sizeof *a->user);
        assert_memory_equal(a->item, b->item, a->n * sizeof *a->item);
        assert_memory_equal(a->rating, b->rating, a->n * sizeof *a->rating);
        assert_memory_equal(a->ts, b->ts, a->n * sizeof *a->ts);
        reco_ratings_free(b);
    }
    reco_ratings_free(a);
    unlink(path);
    free(path);
}

static void test_load_matches_parse(void **state)
{
    (void)state;
    size_t cap = (size_t)4 << 20, len;
    char *text = malloc(cap);
    assert_non_null(text);
    /* Plain, with a final newline. */
    len = 0;
    for (size_t i = 0; len < ((size_t)3 << 20); i++)
        len += (size_t)snprintf(text + len, cap - len, "u%zu,p%zu,%zu,%zu\n", i % 7001, i % 313,
                                1 + i % 5, i);
    expect_load_matches_parse(text, len);
    /* A byte-order mark, blank lines, a header, \r\n, no final newline,
     * blank lines inside. */
    len = (size_t)snprintf(text, cap, "\xEF\xBB\xBF\n\n  \nuser,item,rating\r\n");
    for (size_t i = 0; len < ((size_t)3 << 20); i++)
        len += (size_t)snprintf(text + len, cap - len, "%su%zu,p%zu,%zu\r\n",
                                i % 1000 == 0 ? "\r\n \n" : "", i % 7001, i % 313, 1 + i % 5);
    len -= 2;
    expect_load_matches_parse(text, len);
    /* A blank line longer than a thread's share, and a start of blank
     * lines longer than one: the cuts cannot follow the shares. */
    len = 0;
    memset(text, '\n', (size_t)1 << 20);
    len += (size_t)1 << 20;
    for (size_t i = 0; len < ((size_t)2 << 20); i++)
        len += (size_t)snprintf(text + len, cap - len, "u%zu,p%zu,4\n", i % 501, i % 77);
    memset(text + len, ' ', (size_t)1 << 20);
    len += (size_t)1 << 20;
    text[len++] = '\n';
    for (size_t i = 0; len < ((size_t)3 << 20) + 100; i++)
        len += (size_t)snprintf(text + len, cap - len, "u%zu,p%zu,2\n", i % 501, i % 77);
    len += (size_t)snprintf(text + len, cap - len, "\n\n\n");
    expect_load_matches_parse(text, len);
    free(text);
}

static void test_shared_maps(void **state)
{
    (void)state;
    reco_ratings *train = parse_ok("u1,p1,4,1\nu2,p2,5,2\n", NULL);
    reco_load_options o;
    reco_load_options_default(&o);
    o.users = train->users;
    o.items = train->items;
    reco_ratings *test = parse_ok("u2,p1,3,3\nu3,p3,1,4\n", &o);
    assert_ptr_equal(test->users, train->users);
    assert_int_equal(test->user[0], 1);
    assert_int_equal(test->item[0], 0);
    assert_int_equal(test->user[1], 2); /* new ID appended */
    reco_ratings_free(test);
    reco_ratings_free(train);
}

/* One rule for IDs: valid UTF-8 or refused where they come in, with
 * FILE:LINE (so answers never drop or mangle one). */
static void test_ids_must_be_utf8(void **state)
{
    (void)state;
    /* Multi-byte IDs are fine, also past the eight-byte ASCII fast path. */
    reco_ratings *r = parse_ok("caf\xc3\xa9,item\xe2\x82\xac,4,1\n"
                               "customer-number-\xf0\x9f\x98\x80,i2,5,2\n", NULL);
    assert_int_equal(r->n, 2);
    assert_string_equal(ukey(r, 0), "caf\xc3\xa9");
    assert_string_equal(ikey(r, 0), "item\xe2\x82\xac");
    reco_ratings_free(r);
    /* Latin-1, a lone continuation byte after 9 ASCII bytes, an overlong
     * form and a surrogate: the line and the byte are named. */
    expect_error("u1,i1,4,1\ncaf\xe9,i1,4,1\n", NULL, RECO_ERR_PARSE,
                 "t.csv:2: user ID is not valid UTF-8 (byte 0xE9 at offset 3)");
    expect_error("u1,productid\x80,4,1\n", NULL, RECO_ERR_PARSE,
                 "t.csv:1: item ID is not valid UTF-8 (byte 0x80 at offset 9)");
    expect_error("\xc0\xaf,i1,4,1\n", NULL, RECO_ERR_PARSE,
                 "t.csv:1: user ID is not valid UTF-8 (byte 0xC0 at offset 0)");
    expect_error("u1,\xed\xa0\x80,4,1\n", NULL, RECO_ERR_PARSE,
                 "t.csv:1: item ID is not valid UTF-8 (byte 0xED at offset 0)");
    /* --skip-bad skips and counts such lines. */
    reco_load_options o;
    reco_load_options_default(&o);
    o.skip_bad = true;
    r = parse_ok("u1,i1,4,1\ncaf\xe9,i1,4,1\nu2,i2,3,1\n", &o);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->report.bad_lines, 1);
    /* Ratings added one by one (the server's path) follow the same rule. */
    reco_error err;
    assert_int_equal(reco_ratings_add(r, "caf\xe9", 4, "i1", 2, 4.0f, 0, &err),
                     RECO_ERR_INVALID);
    assert_int_equal(reco_ratings_add(r, "u1", 2, "i\xff", 2, 4.0f, 0, &err),
                     RECO_ERR_INVALID);
    assert_int_equal(reco_ratings_add(r, "caf\xc3\xa9", 5, "i1", 2, 4.0f, 0, &err), RECO_OK);
    assert_int_equal(r->n, 3);
    reco_ratings_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amazon_format),
        cmocka_unit_test(test_header_detected_and_forced),
        cmocka_unit_test(test_separators),
        cmocka_unit_test(test_quoting_crlf_bom_blank_no_final_newline),
        cmocka_unit_test(test_no_timestamp_column),
        cmocka_unit_test(test_bad_lines_messages),
        cmocka_unit_test(test_rating_range_and_half_stars),
        cmocka_unit_test(test_skip_bad),
        cmocka_unit_test(test_parallel_matches_serial),
        cmocka_unit_test(test_load_file_and_missing),
        cmocka_unit_test(test_load_matches_parse),
        cmocka_unit_test(test_shared_maps),
        cmocka_unit_test(test_ids_must_be_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
