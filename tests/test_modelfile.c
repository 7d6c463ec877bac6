/* Model file container: round trip, and refusal of truncated, corrupted,
 * wrong-version and wrong-endian files with a clear message; metadata
 * sections (typed key/value text): exact round trip in any locale, and
 * refusal of missing, repeated, malformed, mistyped and out-of-range keys
 * and of newer formats, naming file, section and key; array sizes whose
 * multiplication overflows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "reco/modelfile.h"
#include "testutil.h"

static char path[64];
static float big[1 << 20]; /* 4 MiB: exercises the blocked checksum */

static void write_model(void)
{
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
        big[i] = (float)i * 0.5f;
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_create(path, "mf", &w, &err), RECO_OK);
    uint32_t small[3] = {7, 8, 9};
    assert_int_equal(reco_mfile_add(w, "small", small, sizeof small, &err), RECO_OK);
    assert_int_equal(reco_mfile_add(w, "empty", NULL, 0, &err), RECO_OK);
    assert_int_equal(reco_mfile_add(w, "big", big, sizeof big, &err), RECO_OK);
    assert_int_equal(reco_mfile_add(w, "small", small, 4, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "duplicate section \"small\"");
    assert_int_equal(reco_mfile_commit(w, &err), RECO_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/reco-mfile-%ld.model", (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    write_model();
    reco_mfile *f = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    assert_string_equal(reco_mfile_algo(f), "mf");
    uint64_t size;
    const uint32_t *s = reco_mfile_section(f, "small", &size);
    assert_non_null(s);
    assert_int_equal(size, 12);
    assert_int_equal(s[2], 9);
    assert_int_equal((uintptr_t)s % 64, 0);
    const void *b;
    assert_int_equal(reco_mfile_array(f, "big", 1 << 20, sizeof(float), &b, &err), RECO_OK);
    assert_memory_equal(b, big, sizeof big);
    assert_int_equal(reco_mfile_array(f, "big", 10, sizeof(float), &b, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "section \"big\" has 4194304 bytes, expected 40"));
    assert_int_equal(reco_mfile_array(f, "nope", 1, 1, &b, &err), RECO_ERR_FORMAT);
    assert_null(reco_mfile_section(f, "nope", NULL));
    assert_non_null(reco_mfile_section(f, "empty", &size));
    assert_int_equal(size, 0);
    reco_mfile_close(f);
    reco_mfile_close(NULL);
    reco_mfile_abort(NULL);
}

/* Overwrites len bytes at off, then expects open to fail with msg inside. */
static void expect_refused(long off, const void *bytes, size_t len, const char *msg)
{
    write_model();
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
    close(fd);
    reco_mfile *f = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_ERR_FORMAT);
    assert_null(f);
    if (!strstr(err.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

static void test_refusals(void **state)
{
    (void)state;
    uint32_t v9 = 9, swapped = 0x04030201u;
    expect_refused(0, "NOTAMODL", 8, "not a reco model file");
    expect_refused(8, &v9, 4, "model format version 9, written by a newer reco; this reco reads "
                              "version 4");
    expect_refused(12, &swapped, 4, "other byte order");
    expect_refused(20, "x", 1, "corrupt header");
    /* A flipped byte deep inside the big section. */
    expect_refused(3 << 20, "\x55", 1, "corrupt data in section \"big\"");

    write_model();
    assert_int_equal(truncate(path, 1 << 20), 0);
    reco_mfile *f = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_equal(truncate(path, 10), 0);
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "too short"));
    assert_int_equal(reco_mfile_open("/nonexistent.model", &f, &err), RECO_ERR_NOT_FOUND);
}

static void test_checksum_stable(void **state)
{
    (void)state;
    /* Fixed values: a model written today must verify tomorrow. */
    assert_int_equal(reco_checksum64("", 0, 0), reco_checksum64("", 0, 0));
    assert_int_not_equal(reco_checksum64("a", 1, 0), reco_checksum64("b", 1, 0));
    assert_int_not_equal(reco_checksum64("abc", 3, 0), reco_checksum64("abc", 3, 1));
    char buf[100];
    memset(buf, 0, sizeof buf);
    uint64_t h0 = reco_checksum64(buf, sizeof buf, 0);
    buf[99] = 1;
    assert_int_not_equal(h0, reco_checksum64(buf, sizeof buf, 0));
}

/* A header of another version, with its checksum recomputed so that only
 * the version is wrong: what a file written by another reco looks like. */
static void set_version(uint32_t version)
{
    write_model();
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char h[88];
    assert_int_equal(pread(fd, h, sizeof h, 0), (ssize_t)sizeof h);
    memcpy(h + 8, &version, 4);
    memset(h + 80, 0, 8);
    uint64_t sum = reco_checksum64(h, sizeof h, 2);
    memcpy(h + 80, &sum, 8);
    assert_int_equal(pwrite(fd, h, sizeof h, 0), (ssize_t)sizeof h);
    close(fd);
}

static void test_other_versions(void **state)
{
    (void)state;
    reco_mfile *f = NULL;
    reco_error err;
    set_version(3);
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "model format version 3, written by an earlier reco; this "
                                    "reco reads version 4 only and does not convert older "
                                    "files: retrain the model"));
    set_version(5);
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "model format version 5, written by a newer reco"));
    set_version(RECO_MFILE_VERSION);
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    reco_mfile_close(f);
}

/* A count whose product with the element size (or rows x cols x size)
 * wraps around to exactly the section's size is refused, not taken for a
 * match. */
static void test_size_overflow(void **state)
{
    (void)state;
    write_model();
    reco_mfile *f = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    const void *p;
    assert_int_equal(reco_mfile_array(f, "small", 3, 4, &p, &err), RECO_OK);
    assert_int_equal(reco_mfile_matrix(f, "small", 3, 1, 4, &p, &err), RECO_OK);
    /* (2^62 + 3) x 4 = 2^64 + 12 */
    assert_int_equal(reco_mfile_array(f, "small", ((uint64_t)1 << 62) + 3, 4, &p, &err),
                     RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "section \"small\": 4611686018427387907 elements of 4 bytes "
                                    "overflow"));
    /* 3 x (2^62 + 1) x 4 = 3 x 2^64 + 12 */
    assert_int_equal(reco_mfile_matrix(f, "small", 3, ((uint64_t)1 << 62) + 1, 4, &p, &err),
                     RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "overflow"));
    /* 2^32 x 2^32 x 4 */
    assert_int_equal(reco_mfile_matrix(f, "small", (uint64_t)1 << 32, (uint64_t)1 << 32, 4, &p,
                                       &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "overflow"));
    reco_mfile_close(f);
    uint64_t v;
    assert_true(reco_mul_u64(1u << 31, 1u << 31, &v) && v == (uint64_t)1 << 62);
    assert_false(reco_mul_u64((uint64_t)1 << 32, (uint64_t)1 << 32, &v));
    assert_true(v == UINT64_MAX);
    assert_false(reco_mul3_u64(3, ((uint64_t)1 << 62) + 1, 4, &v));
}

/* ---- metadata sections ---- */

/* Parses text as section "x.meta" of file "f.model", reading formats up
 * to 2. */
static reco_status parse(const char *text, reco_mfile_meta **m, reco_error *err)
{
    return reco_mfile_meta_parse(text, strlen(text), "f.model", "x.meta", 2, m, err);
}

static void expect_parse_error(const char *text, const char *msg)
{
    reco_mfile_meta *m = NULL;
    reco_error err;
    assert_int_equal(parse(text, &m, &err), RECO_ERR_FORMAT);
    assert_null(m);
    if (!strstr(err.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\" (text \"%s\")", err.msg, msg, text);
}

/* Writes a metadata section with every type, in the current locale, and
 * reads it back exactly. */
static void meta_round_trip(void)
{
    write_model();
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_create(path, "mf", &w, &err), RECO_OK);
    reco_mfile_meta *m = reco_mfile_meta_new(2);
    assert_non_null(m);
    reco_mfile_meta_put_u64(m, "big", UINT64_MAX);
    reco_mfile_meta_put_u64(m, "zero", 0);
    reco_mfile_meta_put_i64(m, "neg", INT64_MIN);
    reco_mfile_meta_put_i64(m, "pos", 42);
    reco_mfile_meta_put_f64(m, "third", 1.0 / 3.0);
    reco_mfile_meta_put_f64(m, "negzero", -0.0);
    reco_mfile_meta_put_f64(m, "tiny", 4.9e-324);
    reco_mfile_meta_put_f64(m, "inf", -INFINITY);
    reco_mfile_meta_put_f64(m, "nan", NAN);
    reco_mfile_meta_put_f64(m, "f", 0.1f);
    reco_mfile_meta_put_bool(m, "yes", true);
    reco_mfile_meta_put_str(m, "s", "a\\b\nc\td \x7f \xc3\xa9");
    reco_mfile_meta_put_str(m, "empty", "");
    assert_int_equal(reco_mfile_add_meta(w, "x.meta", m, &err), RECO_OK);
    assert_int_equal(reco_mfile_commit(w, &err), RECO_OK);

    reco_mfile *f = NULL;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    uint64_t size;
    const char *text = reco_mfile_section(f, "x.meta", &size);
    assert_non_null(text);
    /* Nothing the locale writes: no radix character, no thousands. */
    assert_null(memchr(text, ',', size));
    assert_int_equal(reco_mfile_meta_read(f, "x.meta", 1, &m, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "section \"x.meta\" is of format 2, written by a newer reco "
                                    "(this one reads up to format 1)"));
    assert_int_equal(reco_mfile_meta_read(f, "x.meta", 2, &m, &err), RECO_OK);
    assert_int_equal(reco_mfile_meta_format(m), 2);
    uint64_t u;
    int64_t i;
    double d;
    float fl;
    bool b;
    const char *str;
    assert_int_equal(reco_mfile_meta_get_u64(m, "big", 0, UINT64_MAX, &u, &err), RECO_OK);
    assert_true(u == UINT64_MAX);
    assert_int_equal(reco_mfile_meta_get_u64(m, "zero", 0, 0, &u, &err), RECO_OK);
    assert_true(u == 0);
    assert_int_equal(reco_mfile_meta_get_i64(m, "neg", INT64_MIN, 0, &i, &err), RECO_OK);
    assert_true(i == INT64_MIN);
    assert_int_equal(reco_mfile_meta_get_i64(m, "pos", 42, 42, &i, &err), RECO_OK);
    assert_int_equal(reco_mfile_meta_get_f64(m, "third", 0, 1, &d, &err), RECO_OK);
    assert_true(d == 1.0 / 3.0);
    assert_int_equal(reco_mfile_meta_get_f64(m, "negzero", 0, 0, &d, &err), RECO_OK);
    assert_true(d == 0 && signbit(d));
    assert_int_equal(reco_mfile_meta_get_f64(m, "tiny", 0, 1, &d, &err), RECO_OK);
    assert_true(d == 4.9e-324);
    assert_int_equal(reco_mfile_meta_get_f64(m, "inf", -INFINITY, 0, &d, &err), RECO_OK);
    assert_true(d == -INFINITY);
    assert_int_equal(reco_mfile_meta_get_f64(m, "nan", -INFINITY, INFINITY, &d, &err),
                     RECO_ERR_FORMAT);
    assert_int_equal(reco_mfile_meta_get_f64_nan(m, "nan", 0, 0, &d, &err), RECO_OK);
    assert_true(isnan(d));
    assert_int_equal(reco_mfile_meta_get_f32(m, "f", 0, 1, &fl, &err), RECO_OK);
    assert_true(fl == 0.1f);
    assert_int_equal(reco_mfile_meta_get_bool(m, "yes", &b, &err), RECO_OK);
    assert_true(b);
    assert_int_equal(reco_mfile_meta_get_str(m, "s", 100, &str, &err), RECO_OK);
    assert_string_equal(str, "a\\b\nc\td \x7f \xc3\xa9");
    assert_int_equal(reco_mfile_meta_get_str(m, "empty", 0, &str, &err), RECO_OK);
    assert_string_equal(str, "");
    char buf[4];
    assert_int_equal(reco_mfile_meta_get_strbuf(m, "s", buf, sizeof buf, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "key \"s\" is 12 bytes long, over 3"));
    assert_true(reco_mfile_meta_has(m, "zero"));
    assert_false(reco_mfile_meta_has(m, "nope"));
    reco_mfile_meta_free(m);
    reco_mfile_close(f);
}

static void test_meta_round_trip(void **state)
{
    (void)state;
    meta_round_trip();
    /* The same in a locale whose radix character is a comma, if there is
     * one on this machine. */
    const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8"};
    for (size_t k = 0; k < sizeof locales / sizeof locales[0]; k++)
        if (setlocale(LC_ALL, locales[k])) {
            meta_round_trip();
            break;
        }
    setlocale(LC_ALL, "C");
}

static void test_meta_refusals(void **state)
{
    (void)state;
    reco_mfile_meta *m = NULL;
    reco_error err;
    /* Unknown keys are ignored: a later reco may add some. */
    assert_int_equal(parse("format u64 1\nn u64 5\nlater_key str whatever\n", &m, &err),
                     RECO_OK);
    uint64_t u;
    int64_t i;
    double d;
    const char *s;
    /* Missing, mistyped, out of range: the message names file, section
     * and key. */
    assert_int_equal(reco_mfile_meta_get_u64(m, "n", 0, 10, &u, &err), RECO_OK);
    assert_true(u == 5);
    assert_int_equal(reco_mfile_meta_get_u64(m, "k", 0, 10, &u, &err), RECO_ERR_FORMAT);
    assert_string_equal(err.msg, "f.model: section \"x.meta\" has no key \"k\"");
    assert_int_equal(reco_mfile_meta_get_i64(m, "n", 0, 10, &i, &err), RECO_ERR_FORMAT);
    assert_string_equal(err.msg, "f.model: section \"x.meta\": key \"n\" is a u64, expected a i64");
    assert_int_equal(reco_mfile_meta_get_str(m, "n", 10, &s, &err), RECO_ERR_FORMAT);
    assert_int_equal(reco_mfile_meta_get_f64(m, "n", 0, 10, &d, &err), RECO_ERR_FORMAT);
    u = 99;
    assert_int_equal(reco_mfile_meta_get_u64(m, "n", 6, 10, &u, &err), RECO_ERR_FORMAT);
    assert_string_equal(err.msg, "f.model: section \"x.meta\": key \"n\" is 5, outside 6 to 10");
    assert_true(u == 99); /* left alone */
    reco_mfile_meta_free(m);

    /* Repeated keys, also "format"; no format; a newer format. */
    expect_parse_error("format u64 1\nn u64 5\nn u64 5\n",
                       "f.model: section \"x.meta\": key \"n\" appears twice");
    expect_parse_error("n u64 1\nformat u64 1\nformat u64 1\n", "key \"format\" appears twice");
    expect_parse_error("n u64 5\n", "section \"x.meta\" has no key \"format\"");
    expect_parse_error("format u64 0\n", "key \"format\" is 0, outside 1 to");
    expect_parse_error("format str 1\n", "key \"format\" is a str, expected a u64");
    expect_parse_error("format u64 3\nn u64 5\n", "is of format 3, written by a newer reco");
    /* Malformed lines. */
    expect_parse_error("format u64 1\nn u64 5", "line 2: no end of line");
    expect_parse_error("format u64 1\n\n", "line 2: malformed key");
    expect_parse_error("format u64 1\nN u64 5\n", "line 2: malformed key");
    expect_parse_error("format u64 1\n9n u64 5\n", "line 2: malformed key");
    expect_parse_error("format u64 1\nn-x u64 5\n", "line 2: malformed key");
    expect_parse_error("format u64 1\nn\n", "line 2: malformed key");
    const char *bad_values[] = {
        "n u64\n", "n u64 \n", "n u32 5\n", "n u64 -5\n", "n u64 05\n", "n u64 5 \n",
        "n u64 18446744073709551616\n", "n i64 -0\n", "n i64 9223372036854775808\n",
        "n i64 --1\n", "n f64 3ff0\n", "n f64 3FF0000000000000\n", "n f64 3ff00000000000000\n",
        "n str a\tb\n", "n str a\\\n", "n str \\n\n", "n str \\x00\n", "n str \\x4\n",
        "n str \\xg0\n", "n u64 5\r\n", "n  u64 5\n",
    };
    for (size_t k = 0; k < sizeof bad_values / sizeof bad_values[0]; k++) {
        char text[128];
        snprintf(text, sizeof text, "format u64 1\n%s", bad_values[k]);
        expect_parse_error(text, "line 2: key \"n\" has a malformed type or value");
    }
    /* The limits of each type are read. */
    assert_int_equal(parse("format u64 1\na i64 -9223372036854775808\nb u64 "
                           "18446744073709551615\nc str \\\\\\x01\\x7f\n",
                           &m, &err), RECO_OK);
    assert_int_equal(reco_mfile_meta_get_i64(m, "a", INT64_MIN, INT64_MIN, &i, &err), RECO_OK);
    assert_int_equal(reco_mfile_meta_get_u64(m, "b", UINT64_MAX, UINT64_MAX, &u, &err), RECO_OK);
    assert_int_equal(reco_mfile_meta_get_str(m, "c", 3, &s, &err), RECO_OK);
    assert_string_equal(s, "\\\x01\x7f");
    reco_mfile_meta_free(m);
    /* A missing section. */
    write_model();
    reco_mfile *f = NULL;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    assert_int_equal(reco_mfile_meta_read(f, "x.meta", 1, &m, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "missing section \"x.meta\""));
    /* A section that is not metadata. */
    assert_int_equal(reco_mfile_meta_read(f, "small", 1, &m, &err), RECO_ERR_FORMAT);
    reco_mfile_close(f);
}

static void test_meta_writer_refusals(void **state)
{
    (void)state;
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_create(path, "mf", &w, &err), RECO_OK);
    reco_mfile_meta *m = reco_mfile_meta_new(1);
    reco_mfile_meta_put_u64(m, "n", 1);
    reco_mfile_meta_put_u64(m, "n", 2);
    assert_int_equal(reco_mfile_add_meta(w, "a.meta", m, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "section \"a.meta\": metadata key \"n\" given twice");
    m = reco_mfile_meta_new(1);
    reco_mfile_meta_put_u64(m, "format", 2);
    assert_int_equal(reco_mfile_add_meta(w, "b.meta", m, &err), RECO_ERR_INVALID);
    m = reco_mfile_meta_new(1);
    reco_mfile_meta_put_str(m, "Bad Key", "x");
    reco_mfile_meta_put_u64(m, "later", 1); /* the first failure is the one reported */
    assert_int_equal(reco_mfile_add_meta(w, "c.meta", m, &err), RECO_ERR_INVALID);
    assert_string_equal(err.msg, "section \"c.meta\": malformed metadata key \"Bad Key\"");
    char *longs = malloc(RECO_MFILE_META_STR_MAX + 2);
    memset(longs, 'x', RECO_MFILE_META_STR_MAX + 1);
    longs[RECO_MFILE_META_STR_MAX + 1] = '\0';
    m = reco_mfile_meta_new(1);
    reco_mfile_meta_put_str(m, "s", longs);
    assert_int_equal(reco_mfile_add_meta(w, "d.meta", m, &err), RECO_ERR_INVALID);
    free(longs);
    assert_int_equal(reco_mfile_add_meta(w, "e.meta", NULL, &err), RECO_ERR_NOMEM);
    /* NULL from reco_mfile_meta_new (out of memory): puts do nothing. */
    reco_mfile_meta_put_u64(NULL, "n", 1);
    reco_mfile_meta_put_str(NULL, "s", "x");
    reco_mfile_meta_free(NULL);
    reco_mfile_abort(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_checksum_stable),
        cmocka_unit_test(test_other_versions),
        cmocka_unit_test(test_size_overflow),
        cmocka_unit_test(test_meta_round_trip),
        cmocka_unit_test(test_meta_refusals),
        cmocka_unit_test(test_meta_writer_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
