/* The ratings log module: headers, exact line round trips (and that the
 * general rating parser reads the lines the same), strict parsing with
 * LOG:LINE messages, creation that never clobbers, and compaction: an
 * archive extended by later compactions, an interrupted one completed by a
 * rerun, and the refusals (another log, a gap, a point past the end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reco/ratings.h"
#include "reco/ratings_log.h"
#include "testutil.h"

static char g_log[96], g_arch[96];

static int setup(void **state)
{
    (void)state;
    snprintf(g_log, sizeof g_log, "/tmp/reco-rlog-%ld.log", (long)getpid());
    snprintf(g_arch, sizeof g_arch, "/tmp/reco-rlog-%ld.archive", (long)getpid());
    unlink(g_log);
    unlink(g_arch);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(g_log);
    unlink(g_arch);
    return 0;
}

static void test_header(void **state)
{
    (void)state;
    reco_log_header h = {0}, back;
    h.kind = RECO_LOG_KIND_ARCHIVE;
    memcpy(h.id, "0123456789abcdef0123456789abcdef", 33);
    h.offset = 12;
    h.seq = 1;
    h.end_offset = UINT64_MAX;
    h.end_seq = 99;
    char buf[RECO_LOG_HEADER_MAX];
    size_t n = reco_log_header_format(&h, buf);
    assert_int_equal(reco_log_header_parse(buf, n, &back), 0);
    assert_int_equal(back.len, n);
    assert_string_equal(back.id, h.id);
    assert_true(back.end_offset == UINT64_MAX && back.end_seq == 99 && back.offset == 12);
    /* A log's header: every log header has the same length. */
    h.kind = RECO_LOG_KIND_LOG;
    size_t n1 = reco_log_header_format(&h, buf);
    h.offset = 0;
    assert_int_equal(reco_log_header_format(&h, buf), n1);
    assert_int_equal(reco_log_header_parse(buf, n1, &back), 0);
    assert_int_equal(back.kind, RECO_LOG_KIND_LOG);
    /* Not headers: a rating line, an upper-case id, a later version. */
    assert_int_equal(reco_log_header_parse("u,i,4,1\n", 8, &back), -1);
    buf[60] = 'A';
    assert_int_equal(reco_log_header_parse(buf, n1, &back), -1);
    const char *v2 = "user,item,rating,timestamp #reco-ratings-log v2 whatever\n";
    assert_int_equal(reco_log_header_parse(v2, strlen(v2), &back), -2);
    char id[RECO_LOG_ID_LEN + 1], id2[RECO_LOG_ID_LEN + 1];
    assert_int_equal(reco_log_new_id(id, NULL), RECO_OK);
    assert_int_equal(reco_log_new_id(id2, NULL), RECO_OK);
    assert_int_equal(strlen(id), RECO_LOG_ID_LEN);
    assert_string_not_equal(id, id2);
}

typedef struct got {
    int n;
    char user[8][300], item[8][300];
    float rating[8];
    int64_t ts[8];
} got;

static int collect(void *ctx, const char *u, size_t ul, const char *i, size_t il, float r,
                   int64_t ts)
{
    got *g = ctx;
    memcpy(g->user[g->n], u, ul);
    g->user[g->n][ul] = '\0';
    memcpy(g->item[g->n], i, il);
    g->item[g->n][il] = '\0';
    g->rating[g->n] = r;
    g->ts[g->n++] = ts;
    return 0;
}

/* Lines give back the exact IDs and float, through the log parser and
 * through the general rating parser alike. */
static void test_lines_round_trip(void **state)
{
    (void)state;
    static const char *const ids[] = {"\xEF\xBB\xBF" "bom", "a,b", "\"", " x ", "q\"\"q", "plain",
                                      "\xE2\x82\xAC"};
    const float ratings[] = {1, 3.14159274f, 0.1f, 4.5f, 1e-5f, 5, 2.71828175f};
    const size_t n = sizeof ids / sizeof ids[0];
    char text[8192];
    size_t len = 0;
    for (size_t k = 0; k < n; k++)
        len += reco_log_format_line(text + len, ids[k], strlen(ids[k]), ids[n - 1 - k],
                                    strlen(ids[n - 1 - k]), ratings[k], -5 + (int64_t)k);
    got g = {0};
    reco_log_parse_opts o = {"t", 0, 0, 10, false};
    reco_log_parse_report rep;
    assert_int_equal(reco_log_parse(text, len, &o, collect, &g, &rep, NULL), RECO_OK);
    assert_int_equal(rep.ratings, n);
    reco_ratings *r = NULL;
    reco_load_options lo;
    reco_load_options_default(&lo);
    lo.rating_min = 0;
    lo.rating_max = 10;
    lo.header = 0;
    reco_error err;
    assert_int_equal(reco_ratings_parse(text, len, "t", &lo, &r, &err), RECO_OK);
    for (size_t k = 0; k < n; k++) {
        assert_string_equal(g.user[k], ids[k]);
        assert_string_equal(g.item[k], ids[n - 1 - k]);
        assert_true(g.rating[k] == ratings[k]);
        assert_int_equal(g.ts[k], -5 + (int64_t)k);
        assert_string_equal(reco_idmap_key(r->users, r->user[k], NULL), ids[k]);
        assert_string_equal(reco_idmap_key(r->items, r->item[k], NULL), ids[n - 1 - k]);
        assert_true(r->rating[k] == ratings[k]);
    }
    reco_ratings_free(r);
}

static int count_records(void *ctx, const char *kind, size_t kind_len, const char *payload,
                         size_t len, char *why, size_t cap)
{
    int *n = ctx;
    if (kind_len == 3 && !memcmp(kind, "bad", 3)) {
        snprintf(why, cap, "refused");
        return 1;
    }
    assert_true(payload[0] == '{' && payload[len - 1] == '}');
    (*n)++;
    return 0;
}

/* Record lines beside rating lines: a rating ID starting with '#' is
 * quoted, records go to the record function or are skipped, the rating
 * file reader skips them, and a malformed or refused record is a bad line
 * naming LOG:LINE. An old log's rating with an unquoted '#' ID stays a
 * rating (it ends with a digit). */
static void test_records(void **state)
{
    (void)state;
    char text[2048];
    size_t len = reco_log_format_line(text, "#u", 2, "i", 1, 4, 7);
    assert_memory_equal(text, "\"#u\",i,4,7\n", len);
    const char *payload = "{\"user\":\"u\",\"n\":[1,2,3]}";
    len += reco_log_format_record(text + len, "feedback", payload, strlen(payload));
    len += reco_log_format_line(text + len, "u2", 2, "i2", 2, 3, 8);
    const char *old = "#old,i3,2,9\n";
    memcpy(text + len, old, strlen(old));
    len += strlen(old);
    assert_true(reco_log_valid_kind("feedback", 8));
    assert_false(reco_log_valid_kind("Feedback", 8));
    assert_false(reco_log_valid_kind("9x", 2));
    got g = {0};
    reco_log_parse_opts o = {"L", 0, 1, 5, false};
    reco_log_parse_report rep;
    assert_int_equal(reco_log_parse(text, len, &o, collect, &g, &rep, NULL), RECO_OK);
    assert_int_equal(rep.ratings, 3);
    assert_int_equal(rep.records, 1);
    assert_int_equal(rep.lines, 4);
    assert_string_equal(g.user[0], "#u");
    assert_string_equal(g.user[2], "#old");
    int n = 0;
    reco_log_records recs = {count_records, &n};
    assert_int_equal(reco_log_parse_records(text, len, &o, NULL, NULL, &recs, &rep, NULL),
                     RECO_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rep.ratings, 3);
    /* The rating file reader: the same three ratings, the record skipped. */
    reco_ratings *r = NULL;
    reco_load_options lo;
    reco_load_options_default(&lo);
    lo.header = 0;
    reco_error err;
    assert_int_equal(reco_ratings_parse(text, len, "L", &lo, &r, &err), RECO_OK);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->report.log_records, 1);
    reco_ratings_free(r);
    /* Bad records. */
    static const char *const bad[][2] = {
        {"#feedback{\"a\":1}\n", "L:1: malformed record line"},
        {"#Feedback {\"a\":1}\n", "L:1: malformed record line"},
        {"#bad {\"a\":1}\n", "L:1: bad record: refused"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(reco_log_parse_records(bad[k][0], strlen(bad[k][0]), &o, NULL, NULL,
                                                &recs, &rep, &err),
                         RECO_ERR_PARSE);
        if (!strstr(err.msg, bad[k][1]))
            fail_msg("%s: %s", bad[k][0], err.msg);
    }
}

static void expect_bad(const char *line, const char *want)
{
    reco_log_parse_opts o = {"L", 7, 1, 5, false};
    got g = {0};
    reco_error err;
    assert_int_equal(reco_log_parse(line, strlen(line), &o, collect, &g, NULL, &err),
                     RECO_ERR_PARSE);
    if (strcmp(err.msg, want))
        fail_msg("\"%s\": got \"%s\", want \"%s\"", line, err.msg, want);
}

static void test_strict(void **state)
{
    (void)state;
    expect_bad("u,i,4\n", "L:7: expected 4 fields (user, item, rating, timestamp), found 3");
    expect_bad("u,i,4,1,2\n", "L:7: more than 4 fields (user, item, rating, timestamp)");
    expect_bad("\n", "L:7: empty line (a ratings log has none)");
    expect_bad(",i,4,1\n", "L:7: user ID is empty");
    expect_bad("u,i\x01,4,1\n", "L:7: item ID is not UTF-8 without control characters");
    expect_bad("u\xff,i,4,1\n", "L:7: user ID is not UTF-8 without control characters");
    expect_bad("\"u,i,4,1\n", "L:7: unterminated quoted field");
    expect_bad("\"u\"x,i,4,1\n", "L:7: unexpected character after a closing quote");
    expect_bad("u,i,nan,1\n", "L:7: rating \"nan\" is not a finite number");
    expect_bad("u,i,0x4,1\n", "L:7: rating \"0x4\" is not a finite number");
    expect_bad("u,i,9999,1\n", "L:7: rating 9999 is outside the allowed range 1 to 5");
    expect_bad("u,i,4,1.5\n", "L:7: timestamp \"1.5\" is not an integer");
    expect_bad("u,i,4,1\r\n", "L:7: timestamp \"1?\" is not an integer");
    /* The line number counts from first_line; skip_bad counts and goes on. */
    const char *two = "u,i,4,1\nu,i,x,1\nu,j,5,2\n";
    reco_log_parse_opts o = {"L", 10, 1, 5, true};
    reco_log_parse_report rep;
    got g = {0};
    assert_int_equal(reco_log_parse(two, strlen(two), &o, collect, &g, &rep, NULL), RECO_OK);
    assert_int_equal(rep.lines, 3);
    assert_int_equal(rep.ratings, 2);
    assert_int_equal(rep.bad, 1);
    assert_string_equal(rep.messages[0], "L:11: rating \"x\" is not a finite number");
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static long fsize(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A model's point after the first k lines of the log as it is now. */
static reco_log_point point_after(int k)
{
    reco_log_file f;
    reco_error err;
    assert_int_equal(reco_log_file_open(g_log, &f, &err), RECO_OK);
    char *buf = NULL;
    assert_int_equal(reco_log_file_read(&f, g_log, f.h.offset, f.end_offset, &buf, &err), RECO_OK);
    reco_log_point p;
    memcpy(p.id, f.h.id, sizeof p.id);
    p.offset = f.h.offset;
    p.seq = f.h.seq;
    const char *q = buf;
    for (int j = 0; j < k; j++) {
        const char *nl = strchr(q, '\n');
        p.offset += (uint64_t)(nl + 1 - q);
        p.seq++;
        q = nl + 1;
    }
    free(buf);
    reco_log_file_close(&f);
    return p;
}

static void test_create_and_compact(void **state)
{
    (void)state;
    reco_error err;
    reco_log_header h;
    assert_int_equal(reco_log_create(g_log, NULL, &h, &err), RECO_OK);
    assert_int_equal(reco_log_create(g_log, NULL, NULL, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "already exists"));
    append(g_log, "a,x,1,1\nb,x,2,2\nc,x,3,3\nd,x,4,4\ne,x,5,5\n");

    /* The first compaction creates the archive. */
    reco_log_point p2 = point_after(2);
    reco_log_compact_result res;
    assert_int_equal(reco_log_compact(g_log, &p2, g_arch, &res, &err), RECO_OK);
    assert_int_equal(res.archived_ratings, 2);
    assert_int_equal(res.kept_ratings, 3);
    reco_log_point start, end;
    reco_log_parse_opts o = {NULL, 0, 1, 5, false};
    got g = {0};
    assert_int_equal(reco_log_read_all(g_log, &o, collect, &g, &start, &end, NULL, &err),
                     RECO_OK);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.user[0], "c");
    assert_int_equal(start.seq, 2);
    assert_int_equal(end.seq, 5);

    /* An interrupted second compaction: lines appended to the archive, its
     * header not yet updated, the log not yet rewritten. A rerun cuts them
     * and completes it. */
    append(g_arch, "c,x,3,3\n");
    reco_log_point p4 = point_after(2); /* 2 more: up to d */
    assert_int_equal(p4.seq, 4);
    assert_int_equal(reco_log_compact(g_log, &p4, g_arch, &res, &err), RECO_OK);
    assert_int_equal(res.archived_ratings, 2);
    reco_log_file f;
    assert_int_equal(reco_log_file_open(g_arch, &f, &err), RECO_OK);
    assert_int_equal(f.h.seq, 0);
    assert_int_equal(f.h.end_seq, 4);
    assert_int_equal(f.h.end_offset, p4.offset);
    assert_int_equal((long)reco_log_file_pos(&f, f.end_offset), fsize(g_arch));
    reco_log_file_close(&f);
    /* The archive reads as a rating file: a, b, c, d. */
    reco_ratings *r = NULL;
    reco_load_options lo;
    reco_load_options_default(&lo);
    assert_int_equal(reco_ratings_load(g_arch, &lo, &r, &err), RECO_OK);
    assert_int_equal(r->n, 4);
    assert_string_equal(reco_idmap_key(r->users, r->user[3], NULL), "d");
    reco_ratings_free(r);
    /* Again with the same point: nothing to do. */
    assert_int_equal(reco_log_compact(g_log, &p4, g_arch, &res, &err), RECO_OK);
    assert_true(res.nothing_to_do);

    /* Refusals: another log's point, a point past the end, not at a line
     * end, an archive that ends before the log starts (a gap). */
    reco_log_point bad = point_after(1);
    bad.id[0] = bad.id[0] == 'a' ? 'b' : 'a';
    assert_int_equal(reco_log_compact(g_log, &bad, g_arch, &res, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "trained on log"));
    bad = point_after(1);
    bad.offset += 1000;
    assert_int_equal(reco_log_compact(g_log, &bad, g_arch, &res, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "past its end"));
    bad = point_after(1);
    bad.offset -= 1;
    assert_int_equal(reco_log_compact(g_log, &bad, g_arch, &res, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not at the end of a line"));
    bad = point_after(1);
    bad.seq += 7;
    char other[128];
    snprintf(other, sizeof other, "%s.other", g_arch);
    assert_int_equal(reco_log_compact(g_log, &bad, other, &res, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not where this log has it"));
    assert_int_equal(fsize(other), -1);
    /* An archive of the first two only, then the log compacted elsewhere. */
    unlink(g_arch);
    reco_log_point p5 = point_after(1);
    assert_int_equal(reco_log_compact(g_log, &p5, other, &res, &err), RECO_OK);
    append(g_log, "f,x,1,6\n");
    reco_log_point p6 = point_after(1);
    FILE *fp = fopen(g_arch, "w");
    reco_log_header ah = {0};
    ah.kind = RECO_LOG_KIND_ARCHIVE;
    memcpy(ah.id, p6.id, sizeof ah.id);
    ah.end_offset = 8;
    ah.end_seq = 1;
    char hb[RECO_LOG_HEADER_MAX];
    fwrite(hb, 1, reco_log_header_format(&ah, hb), fp);
    fputs("a,x,1,1\n", fp);
    fclose(fp);
    assert_int_equal(reco_log_compact(g_log, &p6, g_arch, &res, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "another archive"));
    /* A log is not an archive, and the other way round. */
    assert_int_equal(reco_log_compact(g_log, &p6, g_log, &res, &err), RECO_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not an archive"));
    reco_log_point none = {{0}, 0, 0};
    assert_int_equal(reco_log_compact(g_log, &none, other, &res, &err), RECO_ERR_INVALID);
    assert_int_equal(reco_log_read_all(other, &o, collect, &g, NULL, NULL, NULL, &err),
                     RECO_ERR_INVALID);
    unlink(other);
}

/* A log of an earlier reco (no header) gets one; other files do not. */
static void test_upgrade(void **state)
{
    (void)state;
    reco_error err;
    FILE *f = fopen(g_log, "w");
    fputs("u1,i1,4,1\nu2,i2,5,2\ntorn", f);
    fclose(f);
    assert_int_equal(reco_log_upgrade(g_log, &err), RECO_OK);
    reco_log_file lf;
    assert_int_equal(reco_log_file_open(g_log, &lf, &err), RECO_OK);
    assert_int_equal(lf.end_offset, 20);
    assert_int_equal((long)lf.file_bytes, fsize(g_log));
    reco_log_file_close(&lf);
    assert_int_equal(reco_log_upgrade(g_log, &err), RECO_OK); /* has one: nothing to do */
    f = fopen(g_log, "w");
    fputs("userId,productId,rating\nu,i,4\n", f);
    fclose(f);
    assert_int_equal(reco_log_upgrade(g_log, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "neither a log header nor a rating line"));
    f = fopen(g_log, "w");
    fclose(f);
    assert_int_equal(reco_log_upgrade(g_log, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "is empty"));
    unlink(g_log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_lines_round_trip),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_strict),
        cmocka_unit_test_setup_teardown(test_create_and_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
