/* How a model file is committed: a temporary file of its own beside the
 * target, fsynced, renamed over the target, then the directory fsynced, in
 * that order; a failure leaves the target as it was and no temporary file;
 * two saves of one path at once do not share a temporary file; a reader
 * opening the path meanwhile sees a whole old or a whole new model.
 *
 * fsync and rename are defined here: the library is linked statically into
 * this executable, so its calls come here first (recorded, then passed on
 * to the system). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "reco/modelfile.h"
#include "testutil.h"

/* ---- the recorder ---- */

enum { EV_FSYNC_FILE, EV_FSYNC_DIR, EV_RENAME };

typedef struct event {
    int kind;
    uint64_t ino;       /* fsync: the inode synced */
    char from[128], to[128];
} event;

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static event events[64];
static int n_events;
static atomic_int recording;

static void record(const event *e)
{
    if (!atomic_load(&recording))
        return;
    pthread_mutex_lock(&ev_mu);
    if (n_events < 64)
        events[n_events++] = *e;
    pthread_mutex_unlock(&ev_mu);
}

int fsync(int fd);
int fsync(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0) {
        event e = {S_ISDIR(st.st_mode) ? EV_FSYNC_DIR : EV_FSYNC_FILE, (uint64_t)st.st_ino, "", ""};
        record(&e);
    }
    return (int)syscall(SYS_fsync, fd);
}

int rename(const char *from, const char *to);
int rename(const char *from, const char *to)
{
    event e = {EV_RENAME, 0, "", ""};
    snprintf(e.from, sizeof e.from, "%s", from);
    snprintf(e.to, sizeof e.to, "%s", to);
    record(&e);
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

/* ---- helpers ---- */

static char dir[64], path[128];
static float big[1 << 20];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/reco-commit-%ld", (long)getpid());
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(path, sizeof path, "%s/m.model", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(path); /* test_failure_leaves_target makes it a directory */
    rmdir(dir);
    return 0;
}

/* Commits a model whose "big" section is filled with v and n floats long. */
static reco_status commit_model(float v, size_t n, float *buf, reco_error *err)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = v;
    reco_mfile_writer *w = NULL;
    reco_status rc = reco_mfile_create(path, "mf", &w, err);
    if (rc)
        return rc;
    uint32_t small[2] = {1, 2};
    if ((rc = reco_mfile_add(w, "small", small, sizeof small, err)) ||
        (rc = reco_mfile_add(w, "big", buf, n * sizeof *buf, err))) {
        reco_mfile_abort(w);
        return rc;
    }
    return reco_mfile_commit(w, err);
}

static int count_tmp_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

/* ---- tests ---- */

static void test_order_of_operations(void **state)
{
    (void)state;
    reco_error err;
    struct stat dst;
    assert_int_equal(stat(dir, &dst), 0);
    n_events = 0;
    atomic_store(&recording, 1);
    if (commit_model(1.0f, 1000, big, &err))
        fail_msg("%s", err.msg);
    atomic_store(&recording, 0);
    /* fsync(temporary file), rename(temporary -> path), fsync(directory). */
    assert_int_equal(n_events, 3);
    assert_int_equal(events[0].kind, EV_FSYNC_FILE);
    assert_int_equal(events[1].kind, EV_RENAME);
    assert_string_equal(events[1].to, path);
    assert_true(strncmp(events[1].from, path, strlen(path)) == 0);
    assert_non_null(strstr(events[1].from + strlen(path), ".tmp-"));
    struct stat fst;
    assert_int_equal(stat(path, &fst), 0);
    assert_int_equal(events[0].ino, (uint64_t)fst.st_ino); /* the file synced is the one renamed */
    assert_int_equal(events[2].kind, EV_FSYNC_DIR);
    assert_int_equal(events[2].ino, (uint64_t)dst.st_ino);
    assert_int_equal(count_tmp_files(), 0);
    reco_mfile *f = NULL;
    assert_int_equal(reco_mfile_open(path, &f, &err), RECO_OK);
    reco_mfile_close(f);
}

static void test_failure_leaves_target(void **state)
{
    (void)state;
    reco_error err;
    /* The target is a directory: the rename fails, and nothing is left. */
    unlink(path);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(commit_model(2.0f, 1000, big, &err), RECO_ERR_IO);
    assert_non_null(strstr(err.msg, path));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(count_tmp_files(), 0);
    assert_int_equal(rmdir(path), 0);
}

/* Two threads saving the same path at once, and a third opening it. */
typedef struct saver {
    float v;
    float *buf;
    int ok;
} saver;

static atomic_int stop_reading;

static void *save_loop(void *arg)
{
    saver *s = arg;
    reco_error err;
    for (int k = 0; k < 12; k++)
        if (commit_model(s->v, (size_t)(1 << 18) + (size_t)k * 1000, s->buf, &err) == RECO_OK)
            s->ok++;
        else
            fprintf(stderr, "commit: %s\n", err.msg);
    return NULL;
}

static void *read_loop(void *arg)
{
    int *bad = arg;
    while (!atomic_load(&stop_reading)) {
        reco_mfile *f = NULL;
        reco_error err;
        reco_status st = reco_mfile_open(path, &f, &err);
        if (st == RECO_OK) {
            uint64_t size;
            const float *b = reco_mfile_section(f, "big", &size);
            /* Whole and from one writer: every value the same. */
            for (uint64_t i = 1; b && i < size / sizeof *b; i++)
                if (b[i] != b[0]) {
                    (*bad)++;
                    break;
                }
            reco_mfile_close(f);
        } else if (st != RECO_ERR_NOT_FOUND) {
            fprintf(stderr, "reader: %s\n", err.msg);
            (*bad)++;
        }
    }
    return NULL;
}

static void test_concurrent_saves_and_reader(void **state)
{
    (void)state;
    unlink(path);
    static float b1[1 << 19], b2[1 << 19];
    saver s1 = {3.0f, b1, 0}, s2 = {4.0f, b2, 0};
    int bad = 0;
    atomic_store(&stop_reading, 0);
    pthread_t t1, t2, tr;
    assert_int_equal(pthread_create(&tr, NULL, read_loop, &bad), 0);
    assert_int_equal(pthread_create(&t1, NULL, save_loop, &s1), 0);
    assert_int_equal(pthread_create(&t2, NULL, save_loop, &s2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    atomic_store(&stop_reading, 1);
    pthread_join(tr, NULL);
    assert_int_equal(s1.ok, 12);
    assert_int_equal(s2.ok, 12);
    assert_int_equal(bad, 0);
    assert_int_equal(count_tmp_files(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_of_operations),
        cmocka_unit_test(test_failure_leaves_target),
        cmocka_unit_test(test_concurrent_saves_and_reader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
