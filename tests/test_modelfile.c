/* Model file container: round trip, and refusal of truncated, corrupted,
 * wrong-version and wrong-endian files with a clear message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    expect_refused(8, &v9, 4, "model format version 9; this reco reads version 3");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_checksum_stable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
