/* Files that change under reco or are not what they claim to be: a served
 * model file overwritten in place (cp semantics), a mapped model made a
 * private copy while it is read and then truncated, a FIFO, a directory or
 * a device at the model path, a 3 GiB file that is not a model, a rating
 * file truncated while it is being read. None of them may stop the process
 * or block it; each is refused with a message or survived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reco/model.h"
#include "reco/modelfile.h"
#include "reco/ratings.h"
#include "http.h"
#include "reco/service.h"
#include "reco/clock.h"
#include "testutil.h"

#ifdef RECO_HAVE_CURL
#include <curl/curl.h>
#endif

static char dir[64], model_path[96], other_path[96], csv_path[96];

/* A model of nu users x 40 products (testutil's grid). */
static void make_model(const char *algo, uint32_t nu, const char *path)
{
    assert_int_equal(test_save_grid_model(algo, nu, 40, path), 0);
}

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

/* What `cp src dst` does to an existing dst: the same inode, truncated,
 * then written; only the first `limit` bytes when a copy is caught midway. */
static void overwrite_in_place(const char *dst, const char *src, size_t limit)
{
    size_t len;
    char *buf = slurp(src, &len);
    int fd = open(dst, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    size_t n = len < limit ? len : limit;
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/reco-files-%ld", (long)getpid());
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(model_path, sizeof model_path, "%s/live.model", dir);
    snprintf(other_path, sizeof other_path, "%s/other.model", dir);
    snprintf(csv_path, sizeof csv_path, "%s/ratings.csv", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(model_path);
    unlink(other_path);
    unlink(csv_path);
    rmdir(dir);
    return 0;
}

/* A test that would block forever on the old code fails after 20 s
 * instead of hanging until CTest's timeout. */
static void arm_alarm(void) { alarm(20); }
static void disarm_alarm(void) { alarm(0); }

static void test_fifo_directory_device_refused(void **state)
{
    (void)state;
    arm_alarm();
    unlink(model_path);
    assert_int_equal(mkfifo(model_path, 0644), 0);
    reco_model *m = NULL;
    reco_error err;
    double t0 = reco_clock_s();
    assert_int_equal(reco_model_load(model_path, &m, &err), RECO_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_non_null(strstr(err.msg, "FIFO"));
    assert_true(reco_clock_s() - t0 < 1.0);

    /* The service refuses it at start without waiting for a writer. */
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    reco_service *s = NULL;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_ERR_FORMAT);
    assert_null(s);
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(model_path);

    assert_int_equal(reco_model_load(dir, &m, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "directory"));
    assert_int_equal(reco_model_load("/dev/null", &m, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(reco_model_load("/dev/zero", &m, &err), RECO_ERR_FORMAT);
    disarm_alarm();
}

static void test_fifo_on_reload(void **state)
{
    (void)state;
    arm_alarm();
    make_model("itemcf", 60, model_path);
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    /* A FIFO renamed over the model path: reload refuses it at once. */
    unlink(other_path);
    assert_int_equal(mkfifo(other_path, 0644), 0);
    assert_int_equal(rename(other_path, model_path), 0);
    double t0 = reco_clock_s();
    assert_int_equal(reco_service_reload(s, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_true(reco_clock_s() - t0 < 1.0);
    json_t *out = NULL;
    assert_int_equal(reco_service_recommend(s, "u1", 3, true, &out, &err), RECO_OK);
    json_decref(out);
    reco_service_close(s); /* and shutting down does not wait for a writer either */
    unlink(model_path);
    disarm_alarm();
}

/* A 3 GiB sparse file: refused from its header, without being read. */
static void test_huge_non_model_refused_from_header(void **state)
{
    (void)state;
    const off_t big = (off_t)3 << 30;
    int fd = open(model_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static const char junk[] = "user,item,rating,timestamp\nthis is a CSV, not a model\n";
    assert_int_equal(write(fd, junk, sizeof junk - 1), (ssize_t)(sizeof junk - 1));
    assert_int_equal(ftruncate(fd, big), 0);
    close(fd);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = reco_clock_s();
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_load(model_path, &m, &err), RECO_ERR_FORMAT);
    double dt = reco_clock_s() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    assert_non_null(strstr(err.msg, "not a reco model file"));
    if (dt > 0.5)
        fail_msg("refusing a 3 GiB non-model file took %.2f s", dt);
    /* ru_maxrss in KiB: reading the file through would have added 3 GiB. */
    assert_true(ru1.ru_maxrss - ru0.ru_maxrss < 256 * 1024);

    /* A real model's header on a 3 GiB file: the header's own size does not
     * match, refused before anything else is read. */
    make_model("popular", 30, other_path);
    size_t len;
    char *bytes = slurp(other_path, &len);
    fd = open(model_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    assert_int_equal(ftruncate(fd, big), 0);
    close(fd);
    free(bytes);
    t0 = reco_clock_s();
    assert_int_equal(reco_model_load(model_path, &m, &err), RECO_ERR_FORMAT);
    dt = reco_clock_s() - t0;
    assert_non_null(strstr(err.msg, "truncated or extended"));
    if (dt > 0.5)
        fail_msg("refusing a 3 GiB file with a model header took %.2f s", dt);
    unlink(model_path);
    unlink(other_path);
}

/* ---- a rating file truncated while it is being read ---- */

typedef struct truncator {
    const char *path;
    off_t to;
    int calls;
} truncator;

static void truncate_on_first_report(void *ctx, const char *stage, uint64_t done,
                                     uint64_t total)
{
    (void)stage;
    (void)done;
    (void)total;
    truncator *t = ctx;
    if (t->calls++ == 0)
        assert_int_equal(truncate(t->path, t->to), 0);
}

static void test_csv_truncated_while_read(void **state)
{
    (void)state;
    /* 16 MiB of ratings, so that progress is reported while it is read. */
    FILE *f = fopen(csv_path, "w");
    assert_non_null(f);
    size_t bytes = 0;
    for (uint32_t k = 0; bytes < ((size_t)16 << 20); k++) {
        int n = fprintf(f, "user%u,item%u,%u,%u\n", k % 50000, k % 977, 1 + k % 5, 1000 + k);
        assert_true(n > 0);
        bytes += (size_t)n;
    }
    assert_int_equal(fclose(f), 0);
    truncator t = {csv_path, (off_t)1 << 20, 0};
    reco_load_options o;
    reco_load_options_default(&o);
    o.threads = 1;
    o.progress.fn = truncate_on_first_report;
    o.progress.ctx = &t;
    reco_ratings *r = NULL;
    reco_error err = {0};
    /* A clear error: not a crash, and not half a file parsed as if whole. */
    assert_int_equal(reco_ratings_load(csv_path, &o, &r, &err), RECO_ERR_IO);
    assert_true(t.calls > 0);
    if (!strstr(err.msg, "changed while it was being read"))
        fail_msg("unexpected message: %s", err.msg);
    assert_non_null(strstr(err.msg, csv_path));
    assert_null(r);

    /* Read again once it is stable: the first 1 MiB, parsed (the cut last
     * line, if any, is reported as a bad line and skipped). */
    o.progress.fn = NULL;
    o.skip_bad = true;
    assert_int_equal(reco_ratings_load(csv_path, &o, &r, &err), RECO_OK);
    assert_true(r->n > 1000);
    reco_ratings_free(r);
    unlink(csv_path);
}

/* ---- a mapped model made a private copy ---- */

/* The checksum of every section of f, as a reader sees it now. */
static uint64_t sections_sum(const reco_mfile *f)
{
    static const char *names[] = {"data.R.idx", "data.R.val", "data.C.idx", "users.slots",
                                  "items.slots", "base.bu"};
    uint64_t h = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        uint64_t size = 0;
        const void *p = reco_mfile_section(f, names[k], &size);
        assert_non_null(p);
        h = h * 31 + reco_checksum64(p, (size_t)size, k);
    }
    return h;
}

typedef struct reader_arg {
    const reco_mfile *f;
    uint64_t want;
    _Atomic int stop;
    int reads, wrong;
} reader_arg;

static void *read_sections(void *arg)
{
    reader_arg *a = arg;
    while (!a->stop || a->reads == 0) {
        if (sections_sum(a->f) != a->want)
            a->wrong++;
        a->reads++;
    }
    return NULL;
}

static void test_mapped_model_made_private(void **state)
{
    (void)state;
    arm_alarm();
    make_model("itemcf", 3000, model_path);
    reco_mfile *f = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(model_path, &f, &err), RECO_OK);
    assert_false(reco_mfile_is_private(f));
    uint64_t want = sections_sum(f);
    /* Readers all along: the swap under them changes no byte they see. */
    reader_arg a = {f, want, 0, 0, 0};
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&t[k], NULL, read_sections, &a), 0);
    assert_int_equal(reco_mfile_make_private(f, &err), RECO_OK);
    a.stop = 1;
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_join(t[k], NULL), 0);
    assert_true(a.reads > 0);
    assert_int_equal(a.wrong, 0);
    assert_true(reco_mfile_is_private(f));
    assert_int_equal(reco_mfile_make_private(f, &err), RECO_OK); /* once is enough */
    /* The file truncated, then rewritten with other bytes: a mapping would
     * raise SIGBUS here, or read the new bytes. */
    assert_int_equal(truncate(model_path, 0), 0);
    assert_int_equal(sections_sum(f), want);
    make_model("popular", 20, other_path);
    overwrite_in_place(model_path, other_path, SIZE_MAX);
    assert_int_equal(sections_sum(f), want);
    reco_mfile_close(f);

    /* Changed in place (same size, other bytes) before the copy: refused,
     * and the file stays mapped. */
    make_model("itemcf", 3000, model_path);
    assert_int_equal(reco_mfile_open(model_path, &f, &err), RECO_OK);
    int fd = open(model_path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char byte = 0x5a;
    assert_int_equal(pwrite(fd, &byte, 1, st.st_size - 1), 1);
    close(fd);
    assert_int_equal(reco_mfile_make_private(f, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "changed in place since it was loaded"));
    assert_non_null(strstr(err.msg, "still mapped"));
    assert_false(reco_mfile_is_private(f));
    reco_mfile_close(f);

    /* Truncated before the copy: a short read, refused, no signal. */
    make_model("itemcf", 3000, model_path);
    assert_int_equal(reco_mfile_open(model_path, &f, &err), RECO_OK);
    assert_int_equal(truncate(model_path, 4096), 0);
    assert_int_equal(reco_mfile_make_private(f, &err), RECO_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "shorter"));
    assert_false(reco_mfile_is_private(f));
    reco_mfile_close(f);

    /* Copied at open: private from the start. */
    make_model("itemcf", 30, model_path);
    assert_int_equal(reco_mfile_open_mode(model_path, RECO_MFILE_COPY, &f, &err), RECO_OK);
    assert_true(reco_mfile_is_private(f));
    assert_int_equal(reco_mfile_make_private(f, &err), RECO_OK);
    reco_mfile_close(f);
    unlink(model_path);
    unlink(other_path);
    disarm_alarm();
}

/* ---- a served model file overwritten in place ---- */

static char *recommend_text(reco_service *s, const char *user)
{
    json_t *out = NULL;
    reco_error err;
    if (reco_service_recommend(s, user, 5, true, &out, &err))
        fail_msg("%s", err.msg);
    char *text = json_dumps(out, JSON_SORT_KEYS);
    json_decref(out);
    return text;
}

static json_int_t served_users(reco_service *s)
{
    json_t *info = reco_service_model_info(s);
    json_int_t n = json_integer_value(json_object_get(info, "users"));
    json_decref(info);
    return n;
}

#ifdef RECO_HAVE_CURL
static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
    char **buf = ctx;
    size_t old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + size * n + 1);
    assert_non_null(nb);
    memcpy(nb + old, p, size * n);
    nb[old + size * n] = '\0';
    *buf = nb;
    return size * n;
}

static char *get_metrics(unsigned port)
{
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[64], *body = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    return body;
}
#endif

typedef struct log_capture {
    char text[2048];
    int lines;
} log_capture;

static void capture_log(void *ctx, const char *msg)
{
    log_capture *l = ctx;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s\n", msg);
    l->lines++;
}

/* Waits (up to 20 s) for the service to serve a private copy. */
static void wait_private(reco_service *s)
{
    reco_service_stats st;
    double t0 = reco_clock_s();
    do {
        reco_service_get_stats(s, &st);
        if (st.model_private)
            return;
        usleep(2000);
    } while (reco_clock_s() - t0 < 20);
    fail_msg("the service never made its model a private copy");
}

static void test_served_file_overwritten_in_place(void **state)
{
    (void)state;
    make_model("itemcf", 3000, model_path); /* A: some hundreds of KiB */
    make_model("popular", 20, other_path);  /* B: a few KiB */
    log_capture log = {{0}, 0};
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.notice = capture_log;
    o.notice_ctx = &log;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    /* Served from the mapping at once, made private in the background. */
    char *before = recommend_text(s, "u2999");
    wait_private(s);

    /* cp caught halfway: the file is now the first 4 KiB of B. */
    overwrite_in_place(model_path, other_path, 4096);
    char *during = recommend_text(s, "u2999");
    assert_string_equal(during, before);
    /* A reload now finds half a file and refuses it; A keeps serving. */
    assert_int_equal(reco_service_reload(s, &err), RECO_ERR_FORMAT);
    assert_int_equal(served_users(s), 3000);

    /* cp finished: B is whole, A still answers until a reload. */
    overwrite_in_place(model_path, other_path, SIZE_MAX);
    char *after = recommend_text(s, "u2999");
    assert_string_equal(after, before);
    assert_int_equal(served_users(s), 3000);

    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_true(st.model_file_changes >= 1);
    assert_non_null(strstr(log.text, "changed in place"));
    assert_non_null(strstr(log.text, model_path));
    int lines = log.lines;
    reco_service_get_stats(s, &st); /* the same change is reported once */
    assert_int_equal(log.lines, lines);

#ifdef RECO_HAVE_CURL
    reco_http_options ho;
    reco_http_options_default(&ho);
    ho.port = 0;
    ho.threads = 1;
    reco_http *h = NULL;
    assert_int_equal(reco_http_start(s, &ho, &h, &err), RECO_OK);
    char *metrics = get_metrics(reco_http_port(h));
    char want[64];
    snprintf(want, sizeof want, "reco_model_file_changes_total %llu\n",
             (unsigned long long)st.model_file_changes);
    if (!strstr(metrics, want))
        fail_msg("/metrics lacks \"%s\"", want);
    if (!strstr(metrics, "reco_model_private_copy 1\n"))
        fail_msg("/metrics lacks \"reco_model_private_copy 1\"");
    free(metrics);
    reco_http_stop(h, 1000);
#endif

    /* The right way: write elsewhere, rename over, reload. */
    make_model("itemcf", 50, other_path);
    assert_int_equal(rename(other_path, model_path), 0);
    assert_int_equal(reco_service_reload(s, &err), RECO_OK);
    assert_int_equal(served_users(s), 50);
    reco_service_stats st2;
    reco_service_get_stats(s, &st2);
    assert_int_equal(st2.model_file_changes, st.model_file_changes); /* a rename is no change */
    assert_true(st2.model_private); /* a reload swaps in a private copy */
    json_t *out = NULL;
    assert_int_equal(reco_service_recommend(s, "u7", 3, true, &out, &err), RECO_OK);
    json_decref(out);
    reco_service_close(s);
    free(before);
    free(during);
    free(after);
    unlink(model_path);
}

/* map_model (the one-shot queries): no copy is ever made. */
static void test_map_model_stays_mapped(void **state)
{
    (void)state;
    make_model("itemcf", 60, model_path);
    reco_service_options o;
    reco_service_options_default(&o);
    o.model_path = model_path;
    o.map_model = true;
    reco_service *s = NULL;
    reco_error err;
    assert_int_equal(reco_service_open(&o, &s, &err), RECO_OK);
    assert_int_equal(reco_service_reload(s, &err), RECO_OK);
    reco_service_stats st;
    reco_service_get_stats(s, &st);
    assert_false(st.model_private);
    reco_service_close(s);
    unlink(model_path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#ifdef RECO_HAVE_CURL
    curl_global_init(CURL_GLOBAL_DEFAULT);
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_directory_device_refused),
        cmocka_unit_test(test_fifo_on_reload),
        cmocka_unit_test(test_huge_non_model_refused_from_header),
        cmocka_unit_test(test_csv_truncated_while_read),
        cmocka_unit_test(test_mapped_model_made_private),
        cmocka_unit_test(test_served_file_overwritten_in_place),
        cmocka_unit_test(test_map_model_stays_mapped),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
#ifdef RECO_HAVE_CURL
    curl_global_cleanup();
#endif
    return rc;
}
