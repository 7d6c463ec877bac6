/* The ratings log on a full disk: a 64 KiB tmpfs (mounting one needs root;
 * the test is skipped otherwise). A batch that runs out of space is
 * answered with the error and leaves no trace in the file, /healthz is
 * degraded meanwhile, and writes (and health) recover once space is freed,
 * without a restart; a restart replays exactly the accepted ratings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reco/model.h"
#include "reco/ratings_log.h"
#include "reco/service.h"
#include "testutil.h"

static char g_dir[64], g_model[96], g_log[128], g_filler[128];

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A baseline model of 20 users x 10 items (testutil's grid). */
static void make_model(const char *path)
{
    assert_int_equal(test_save_grid_model("baseline", 20, 10, path), 0);
}

/* Fills the file system with a filler file (up to `bytes`). */
static void fill(const char *path, size_t bytes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    char block[4096];
    memset(block, 'x', sizeof block);
    for (size_t done = 0; done < bytes; done += sizeof block)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
            break;
    close(fd);
}

/* One batch of 30 ratings of user `who`, numbered from *seq. */
static reco_status post_batch(reco_service *s, int who, int *seq, reco_error *err)
{
    reco_new_rating r[30];
    char users[30][64], items[30][64];
    for (int k = 0; k < 30; k++) {
        snprintf(users[k], sizeof users[k], "a-rather-long-user-id-of-someone-%d", who);
        snprintf(items[k], sizeof items[k], "a-rather-long-product-id-%06d", *seq + k);
        r[k] = (reco_new_rating){users[k], strlen(users[k]), items[k], strlen(items[k]), 4,
                                 1700000000 + *seq + k};
    }
    json_t *o = NULL;
    reco_status rc = reco_service_add_ratings(s, r, 30, &o, err);
    json_decref(o);
    if (rc == RECO_OK)
        *seq += 30;
    return rc;
}

static uint64_t log_ratings(void)
{
    reco_log_file f;
    reco_error err;
    assert_int_equal(reco_log_file_open(g_log, &f, &err), RECO_OK);
    char *buf = NULL;
    assert_int_equal(reco_log_file_read(&f, g_log, f.h.offset, f.end_offset, &buf, &err),
                     RECO_OK);
    uint64_t n = 0;
    for (const char *p = buf; (p = strchr(p, '\n')); p++)
        n++;
    /* Every byte of the file is whole lines: nothing of a failed batch. */
    assert_int_equal(f.file_bytes, reco_log_file_pos(&f, f.end_offset));
    free(buf);
    reco_log_file_close(&f);
    return n;
}

static void test_disk_full(void **state)
{
    (void)state;
    make_model(g_model);
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = g_model;
    o.ratings_log = g_log;
    o.create_log = true;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    fill(g_filler, 40 << 10);
    int seq = 0, who = 0;
    long before = 0;
    reco_status rc = RECO_OK;
    for (int b = 0; b < 200 && rc == RECO_OK; b++) {
        before = file_size(g_log);
        rc = post_batch(s, who++, &seq, &err);
    }
    assert_int_equal(rc, RECO_ERR_IO);
    assert_non_null(strstr(err.msg, strerror(ENOSPC)));
    assert_true(seq > 0);
    /* The failed batch left nothing: the file is as before it. */
    assert_int_equal(file_size(g_log), before);
    assert_int_equal(log_ratings(), (uint64_t)seq);
    bool healthy = true;
    json_t *h = reco_service_health(s, &healthy);
    assert_false(healthy);
    json_t *p = json_array_get(json_object_get(h, "problems"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "check")), "ratings_log");
    assert_non_null(strstr(json_string_value(json_object_get(p, "message")), strerror(ENOSPC)));
    json_decref(h);
    /* Still full: still refused, still no trace. */
    assert_int_equal(post_batch(s, who++, &seq, &err), RECO_ERR_IO);
    assert_int_equal(file_size(g_log), before);

    /* Space freed: the health check (a second after the failure) finds
     * room without a write, and writes work, without a restart. */
    unlink(g_filler);
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    h = reco_service_health(s, &healthy);
    assert_true(healthy);
    json_decref(h);
    assert_int_equal(post_batch(s, who++, &seq, &err), RECO_OK);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_int_equal(st.log_write_errors, 2);
    assert_int_equal(st.ratings_logged, (uint64_t)seq);
    assert_true(st.healthy);
    reco_service_close(s);

    /* A restart replays exactly the accepted ratings. */
    assert_int_equal(log_ratings(), (uint64_t)seq);
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    reco_service_get_stats(s, &st);
    assert_int_equal(st.ratings_replayed, (uint64_t)seq);
    reco_service_close(s);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/reco-disk-%ld", (long)getpid());
    if (mkdir(g_dir, 0700) != 0) {
        perror(g_dir);
        return 1;
    }
    if (geteuid() != 0 || mount("tmpfs", g_dir, "tmpfs", 0, "size=64k") != 0) {
        printf("skipped: mounting a 64 KiB tmpfs at %s needs root (%s)\n", g_dir,
               geteuid() != 0 ? "not root" : strerror(errno));
        rmdir(g_dir);
        return TEST_SKIP_STATUS;
    }
    snprintf(g_model, sizeof g_model, "/tmp/reco-disk-%ld.model", (long)getpid());
    snprintf(g_log, sizeof g_log, "%s/ratings.log", g_dir);
    snprintf(g_filler, sizeof g_filler, "%s/filler", g_dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    umount2(g_dir, MNT_DETACH);
    rmdir(g_dir);
    unlink(g_model);
    return rc;
}
