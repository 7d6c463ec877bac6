/* The recommendation service: a model file, the ratings that arrived after
 * training (the "live" overlay), and the ratings log that makes them
 * durable. See service.h for the contract. */
#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reco/default_algo.h"
#include "reco/model.h"
#include "reco/ratings.h"
#include "reco/utf8.h"

#define BECAUSE_MAX 3

/* ---- the live overlay of one model generation ---- */

/* A user's ratings that arrived after training, sorted by item. Item ids
 * at or above the model's item count are products the model does not know
 * (n_items + index in new_items). */
typedef struct live_user {
    uint32_t n, cap;
    uint32_t *items;
    float *ratings;
    int64_t *ts;
} live_user;

typedef struct generation {
    atomic_int refs;
    reco_model *model;
    const reco_dataset *train;
    uint32_t n_users, n_items;
    int64_t loaded_at;
    reco_file_id file_id;    /* the model file as it was read */
    pthread_rwlock_t lock;   /* guards everything below */
    reco_idmap *new_users;   /* users the model never saw: id n_users + j */
    reco_idmap *new_items;   /* products it never saw: id n_items + j */
    live_user **live;        /* by user id, NULL where nothing is live */
    size_t live_cap;
    uint64_t live_ratings, live_users;
} generation;

static void live_user_free(live_user *lu)
{
    if (!lu)
        return;
    free(lu->items);
    free(lu->ratings);
    free(lu->ts);
    free(lu);
}

static void generation_free(generation *g)
{
    if (!g)
        return;
    for (size_t u = 0; u < g->live_cap; u++)
        live_user_free(g->live[u]);
    free(g->live);
    reco_idmap_free(g->new_users);
    reco_idmap_free(g->new_items);
    reco_model_free(g->model);
    pthread_rwlock_destroy(&g->lock);
    free(g);
}

static void generation_release(generation *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1)
        generation_free(g);
}

static reco_status generation_new(const char *path, generation **out, reco_error *err)
{
    *out = NULL;
    generation *g = calloc(1, sizeof *g);
    if (!g)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    atomic_init(&g->refs, 1);
    pthread_rwlock_init(&g->lock, NULL);
    /* Mapped: the load costs no copy. The service then makes the mapping
     * a private copy (make_private) unless map_model is set. */
    reco_status rc = reco_model_load(path, &g->model, err);
    if (rc) {
        generation_free(g);
        return rc;
    }
    g->file_id = reco_mfile_id(g->model->file);
    g->train = g->model->train;
    g->n_users = reco_dataset_n_users(g->train);
    g->n_items = reco_dataset_n_items(g->train);
    g->loaded_at = (int64_t)time(NULL);
    g->new_users = reco_idmap_new(0);
    g->new_items = reco_idmap_new(0);
    if (!g->new_users || !g->new_items) {
        generation_free(g);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    *out = g;
    return RECO_OK;
}

/* User id of key: the model's, or a live one; -1 if unknown. Caller holds
 * g->lock (read) for the live part. */
static int64_t find_user(const generation *g, const char *key, size_t len)
{
    int64_t u = reco_idmap_find(g->train->users, key, len);
    if (u >= 0)
        return u;
    int64_t j = reco_idmap_find(g->new_users, key, len);
    return j < 0 ? -1 : (int64_t)g->n_users + j;
}

static int64_t find_item(const generation *g, const char *key, size_t len)
{
    int64_t i = reco_idmap_find(g->train->items, key, len);
    if (i >= 0)
        return i;
    int64_t j = reco_idmap_find(g->new_items, key, len);
    return j < 0 ? -1 : (int64_t)g->n_items + j;
}

static const char *item_key(const generation *g, uint32_t i)
{
    return i < g->n_items ? reco_idmap_key(g->train->items, i, NULL)
                          : reco_idmap_key(g->new_items, i - g->n_items, NULL);
}

/* Applies one rating to the overlay; caller holds g->lock for writing.
 * The rating with the latest timestamp wins, the later one on a tie, as
 * when the training file was de-duplicated. */
static int apply_rating(generation *g, const char *user, size_t ulen, const char *item,
                        size_t ilen, float rating, int64_t ts)
{
    int64_t u = find_user(g, user, ulen);
    if (u < 0) {
        uint32_t j;
        if (reco_idmap_intern(g->new_users, user, ulen, &j))
            return -1;
        u = (int64_t)g->n_users + j;
    }
    int64_t i = find_item(g, item, ilen);
    if (i < 0) {
        uint32_t j;
        if (reco_idmap_intern(g->new_items, item, ilen, &j))
            return -1;
        i = (int64_t)g->n_items + j;
    }
    if ((size_t)u >= g->live_cap) {
        size_t nc = g->live_cap ? g->live_cap : 1024;
        while (nc <= (size_t)u)
            nc *= 2;
        live_user **nl = realloc(g->live, nc * sizeof *nl);
        if (!nl)
            return -1;
        memset(nl + g->live_cap, 0, (nc - g->live_cap) * sizeof *nl);
        g->live = nl;
        g->live_cap = nc;
    }
    live_user *lu = g->live[u];
    if (!lu) {
        lu = calloc(1, sizeof *lu);
        if (!lu)
            return -1;
        g->live[u] = lu;
        g->live_users++;
    }
    uint32_t pos = 0;
    while (pos < lu->n && lu->items[pos] < (uint32_t)i)
        pos++;
    if (pos < lu->n && lu->items[pos] == (uint32_t)i) {
        if (ts >= lu->ts[pos]) {
            lu->ratings[pos] = rating;
            lu->ts[pos] = ts;
        }
        return 0;
    }
    if (lu->n == lu->cap) {
        uint32_t nc = lu->cap ? lu->cap * 2 : 4;
        uint32_t *ni = realloc(lu->items, nc * sizeof *ni);
        if (!ni)
            return -1;
        lu->items = ni;
        float *nr = realloc(lu->ratings, nc * sizeof *nr);
        if (!nr)
            return -1;
        lu->ratings = nr;
        int64_t *nt = realloc(lu->ts, nc * sizeof *nt);
        if (!nt)
            return -1;
        lu->ts = nt;
        lu->cap = nc;
    }
    memmove(lu->items + pos + 1, lu->items + pos, (lu->n - pos) * sizeof *lu->items);
    memmove(lu->ratings + pos + 1, lu->ratings + pos, (lu->n - pos) * sizeof *lu->ratings);
    memmove(lu->ts + pos + 1, lu->ts + pos, (lu->n - pos) * sizeof *lu->ts);
    lu->items[pos] = (uint32_t)i;
    lu->ratings[pos] = rating;
    lu->ts[pos] = ts;
    lu->n++;
    g->live_ratings++;
    return 0;
}

/* A user's merged ratings (training row, overridden and extended by live
 * ones), restricted to products the model knows: the profile the model
 * scores. Arrays are malloc'd; caller holds g->lock (read). */
typedef struct merged {
    reco_profile prof;
    uint32_t *items;
    float *ratings;
} merged;

static int merge_profile(const generation *g, int64_t u, merged *m)
{
    memset(m, 0, sizeof *m);
    m->prof.user = u >= 0 && (uint64_t)u < g->n_users ? (uint32_t)u : RECO_NO_USER;
    reco_profile base = {RECO_NO_USER, NULL, NULL, 0, false};
    if (m->prof.user != RECO_NO_USER)
        base = reco_profile_of_user(g->train, (uint32_t)u);
    const live_user *lu = u >= 0 && (size_t)u < g->live_cap ? g->live[u] : NULL;
    if (!lu || lu->n == 0) {
        m->prof = base;
        return 0;
    }
    size_t cap = (size_t)base.n + lu->n + 1;
    m->items = malloc(cap * sizeof *m->items);
    m->ratings = malloc(cap * sizeof *m->ratings);
    if (!m->items || !m->ratings) {
        free(m->items);
        free(m->ratings);
        return -1;
    }
    uint32_t a = 0, b = 0, n = 0;
    while (a < base.n || (b < lu->n && lu->items[b] < g->n_items)) {
        bool take_live = b < lu->n && lu->items[b] < g->n_items &&
                         (a >= base.n || lu->items[b] <= base.items[a]);
        if (take_live) {
            if (a < base.n && base.items[a] == lu->items[b])
                a++;
            m->items[n] = lu->items[b];
            m->ratings[n++] = lu->ratings[b++];
        } else {
            m->items[n] = base.items[a];
            m->ratings[n++] = base.ratings[a++];
        }
    }
    m->prof.items = m->items;
    m->prof.ratings = m->ratings;
    m->prof.n = n;
    m->prof.updated = true;
    return 0;
}

static void merged_free(merged *m)
{
    free(m->items);
    free(m->ratings);
}

/* ---- the ratings log ---- */

typedef struct ratings_log {
    int fd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;                /* lines waiting for the next write */
    size_t len, cap;
    uint64_t enqueued;        /* batches handed in */
    uint64_t durable;         /* batches written and fsynced */
    uint64_t durable_bytes;   /* file length known to be on disk */
    bool flushing;
    int error;                /* errno of a failed write: later writes fail */
    uint64_t fsyncs;
} ratings_log;

/* ---- the service ---- */

struct reco_service {
    reco_service_options opt;
    char *model_path, *log_path;
    pthread_mutex_t gen_mu;   /* guards the gen pointer (not its contents) */
    generation *gen;
    pthread_mutex_t reload_mu; /* one reload at a time */
    pthread_mutex_t apply_mu;  /* orders applying new ratings with a swap */
    ratings_log log;
    bool has_log;
    atomic_uint_fast64_t logged, replayed, reloads, reload_failures;
    /* Watching the model file for changes in place. */
    atomic_int_fast64_t next_file_check; /* monotonic ns */
    atomic_uint_fast64_t file_changes;
    pthread_mutex_t file_mu;  /* guards reported */
    reco_file_id reported;    /* the last changed version reported */
    /* The private copy of the model loaded at open, made in the background. */
    pthread_t copier;
    bool copier_started;
    generation *copying;      /* a reference, released by the copier */
};

void reco_service_options_default(reco_service_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_n = 1000;
    o->max_batch = 10000;
}

static generation *acquire_gen(reco_service *s)
{
    pthread_mutex_lock(&s->gen_mu);
    generation *g = s->gen;
    atomic_fetch_add(&g->refs, 1);
    pthread_mutex_unlock(&s->gen_mu);
    return g;
}

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Looks at the model file (at most once a second unless forced): the
 * served generation's inode with another size or modification time was
 * changed in place. Counted and reported once per version of the file.
 * A new inode at the path (a file renamed over it) is the way to replace
 * a model and is not reported; it is served after the next reload. */
static void check_model_file(reco_service *s, bool force)
{
    int64_t now = mono_ns(), next = atomic_load(&s->next_file_check);
    if (!force && (now < next ||
                   !atomic_compare_exchange_strong(&s->next_file_check, &next,
                                                   now + 1000000000)))
        return;
    reco_file_id cur;
    if (reco_file_id_of(s->model_path, &cur, NULL) != RECO_OK)
        return; /* gone or unreadable: a rename in progress, or reported by the next reload */
    generation *g = acquire_gen(s);
    reco_file_id loaded = g->file_id;
    int64_t loaded_at = g->loaded_at;
    bool copy = reco_mfile_is_private(g->model->file);
    generation_release(g);
    if (!reco_file_id_same_inode(&cur, &loaded) || reco_file_id_equal(&cur, &loaded))
        return;
    pthread_mutex_lock(&s->file_mu);
    bool fresh = !reco_file_id_equal(&cur, &s->reported);
    if (fresh)
        s->reported = cur;
    pthread_mutex_unlock(&s->file_mu);
    if (!fresh)
        return;
    atomic_fetch_add(&s->file_changes, 1);
    if (s->opt.log) {
        char msg[1024], when[32];
        time_t t = (time_t)loaded_at;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        snprintf(msg, sizeof msg,
                 "%s was changed in place (now %llu bytes, was %llu)%s%s; replace model files "
                 "by writing a new file and renaming it over the old one, then reload",
                 s->model_path, (unsigned long long)cur.size, (unsigned long long)loaded.size,
                 copy ? "; still serving the copy loaded at "
                      : ": the model is mapped from it and may be damaged, reload now",
                 copy ? when : "");
        s->opt.log(s->opt.log_ctx, msg);
    }
}

static generation *acquire(reco_service *s)
{
    check_model_file(s, false);
    return acquire_gen(s);
}

/* Makes the model loaded at open a private copy while it already serves
 * (the load cost only a mapping); a file changed in place before the copy
 * is done is reported, and the model stays mapped. */
static void *copy_model(void *arg)
{
    reco_service *s = arg;
    reco_error err;
    if (reco_mfile_make_private(s->copying->model->file, &err) != RECO_OK && s->opt.log) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s; replace model files by writing a new file and renaming "
                 "it over the old one, then reload", err.msg);
        s->opt.log(s->opt.log_ctx, msg);
    }
    generation_release(s->copying);
    return NULL;
}

bool reco_service_valid_id(const char *id, size_t len)
{
    if (len == 0 || len > RECO_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return false; /* control bytes cannot be written to the CSV log */
    return reco_utf8_invalid_at(id, len) == len;
}

/* Replays log bytes [from, to) into g (caller holds nothing; takes the
 * write lock). Returns ratings applied, or -1. */
static int64_t replay(reco_service *s, generation *g, uint64_t from, uint64_t to,
                      reco_error *err)
{
    if (to <= from)
        return 0;
    size_t len = (size_t)(to - from);
    char *buf = malloc(len);
    if (!buf) {
        reco_error_set(err, RECO_ERR_NOMEM, "out of memory replaying the ratings log");
        return -1;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(s->log.fd, buf + got, len - got, (off_t)(from + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path,
                           r < 0 ? strerror(errno) : "shorter than expected");
            return -1;
        }
        got += (size_t)r;
    }
    reco_load_options lo;
    reco_load_options_default(&lo);
    lo.sep = ",";
    lo.header = 0;
    lo.skip_bad = true;
    lo.rating_min = -1e30;
    lo.rating_max = 1e30;
    lo.threads = 1;
    reco_ratings *r = NULL;
    reco_error perr;
    reco_status st = reco_ratings_parse(buf, len, s->log_path, &lo, &r, &perr);
    free(buf);
    if (st == RECO_ERR_EMPTY)
        return 0;
    if (st) {
        reco_error_set(err, st, "%s", perr.msg);
        return -1;
    }
    int64_t applied = 0;
    pthread_rwlock_wrlock(&g->lock);
    for (uint64_t k = 0; k < r->n; k++) {
        size_t ul, il;
        const char *u = reco_idmap_key(r->users, r->user[k], &ul);
        const char *i = reco_idmap_key(r->items, r->item[k], &il);
        if (apply_rating(g, u, ul, i, il, r->rating[k], r->ts[k]) == 0)
            applied++;
    }
    pthread_rwlock_unlock(&g->lock);
    reco_ratings_free(r);
    return applied;
}

static reco_status log_open(reco_service *s, reco_error *err)
{
    ratings_log *l = &s->log;
    l->fd = open(s->log_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->fd < 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
    struct stat st;
    if (fstat(l->fd, &st) != 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    /* A torn last line (a crash in the middle of a write that was never
     * acknowledged) is cut off so that new lines start clean. */
    uint64_t keep = size;
    while (keep > 0) {
        char c;
        if (pread(l->fd, &c, 1, (off_t)(keep - 1)) != 1)
            return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
        if (c == '\n')
            break;
        keep--;
    }
    if (keep != size && ftruncate(l->fd, (off_t)keep) != 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
    l->durable_bytes = keep;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    return RECO_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Appends text durably. Group commit: the first writer to find no flush
 * running writes everything queued so far and fsyncs once for all; the
 * others wait for the batch that holds their lines. */
static reco_status log_append(reco_service *s, const char *text, size_t len, reco_error *err)
{
    ratings_log *l = &s->log;
    pthread_mutex_lock(&l->mu);
    if (l->error) {
        int e = l->error;
        pthread_mutex_unlock(&l->mu);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(e));
    }
    if (l->len + len > l->cap) {
        size_t nc = l->cap ? l->cap : 65536;
        while (nc < l->len + len)
            nc *= 2;
        char *nb = realloc(l->buf, nc);
        if (!nb) {
            pthread_mutex_unlock(&l->mu);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        }
        l->buf = nb;
        l->cap = nc;
    }
    memcpy(l->buf + l->len, text, len);
    l->len += len;
    uint64_t mine = ++l->enqueued;
    while (l->durable < mine && !l->error) {
        if (l->flushing) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        l->flushing = true;
        char *batch = l->buf;
        size_t blen = l->len;
        uint64_t upto = l->enqueued;
        l->buf = NULL;
        l->len = l->cap = 0;
        pthread_mutex_unlock(&l->mu);
        int e = 0;
        if (write_all(l->fd, batch, blen) != 0 || fdatasync(l->fd) != 0)
            e = errno ? errno : EIO;
        free(batch);
        pthread_mutex_lock(&l->mu);
        l->fsyncs++;
        if (e) {
            /* The file may now end in a partial batch; nothing after it
             * could be trusted, so the log refuses further writes. */
            l->error = e;
        } else {
            l->durable = upto;
            l->durable_bytes += blen;
        }
        l->flushing = false;
        pthread_cond_broadcast(&l->cv);
    }
    int e = l->durable >= mine ? 0 : l->error;
    pthread_mutex_unlock(&l->mu);
    if (e)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(e));
    return RECO_OK;
}

static uint64_t log_durable_bytes(reco_service *s)
{
    pthread_mutex_lock(&s->log.mu);
    uint64_t b = s->log.durable_bytes;
    pthread_mutex_unlock(&s->log.mu);
    return b;
}

reco_status reco_service_open(const reco_service_options *opt, reco_service **out,
                              reco_error *err)
{
    *out = NULL;
    if (!opt->model_path)
        return reco_error_set(err, RECO_ERR_INVALID, "no model file given");
    reco_service *s = calloc(1, sizeof *s);
    if (!s)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    s->opt = *opt;
    if (!s->opt.max_n)
        s->opt.max_n = 1000;
    if (!s->opt.max_batch)
        s->opt.max_batch = 10000;
    s->model_path = strdup(opt->model_path);
    s->log_path = opt->ratings_log ? strdup(opt->ratings_log) : NULL;
    s->log.fd = -1;
    pthread_mutex_init(&s->gen_mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    pthread_mutex_init(&s->apply_mu, NULL);
    pthread_mutex_init(&s->file_mu, NULL);
    reco_status rc = generation_new(s->model_path, &s->gen, err);
    if (rc)
        goto fail;
    if (!s->opt.map_model) {
        s->copying = acquire_gen(s);
        s->copier_started = pthread_create(&s->copier, NULL, copy_model, s) == 0;
        if (!s->copier_started)
            copy_model(s); /* no thread to spare: copy now */
    }
    if (s->log_path) {
        s->has_log = true;
        if ((rc = log_open(s, err)))
            goto fail;
        int64_t n = replay(s, s->gen, 0, s->log.durable_bytes, err);
        if (n < 0) {
            rc = err ? err->code : RECO_ERR_IO;
            goto fail;
        }
        atomic_store(&s->replayed, (uint64_t)n);
    }
    *out = s;
    return RECO_OK;
fail:
    reco_service_close(s);
    return rc;
}

static void scratch_release_current(void);

void reco_service_close(reco_service *s)
{
    if (!s)
        return;
    if (s->copier_started)
        pthread_join(s->copier, NULL);
    scratch_release_current();
    if (s->log.fd >= 0) {
        fdatasync(s->log.fd);
        close(s->log.fd);
        pthread_mutex_destroy(&s->log.mu);
        pthread_cond_destroy(&s->log.cv);
    }
    free(s->log.buf);
    generation_release(s->gen);
    pthread_mutex_destroy(&s->gen_mu);
    pthread_mutex_destroy(&s->reload_mu);
    pthread_mutex_destroy(&s->apply_mu);
    pthread_mutex_destroy(&s->file_mu);
    free(s->model_path);
    free(s->log_path);
    free(s);
}

/* Per-thread scratch for scoring, reused across requests; freed by the
 * key's destructor when a server thread exits. */
typedef struct scratch_buf {
    void *p;
    size_t cap;
} scratch_buf;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *arg)
{
    scratch_buf *b = arg;
    free(b->p);
    free(b);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_destroy); }

static void *scratch_for(const reco_model *m)
{
    pthread_once(&scratch_once, scratch_key_init);
    scratch_buf *b = pthread_getspecific(scratch_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return NULL; /* reco_model_recommend then allocates per call */
        pthread_setspecific(scratch_key, b);
    }
    size_t need = reco_model_scratch_size(m);
    if (need > b->cap) {
        free(b->p);
        b->p = malloc(need);
        b->cap = b->p ? need : 0;
    }
    return b->p;
}

/* Frees the calling thread's scratch (the main thread never exits through
 * the key destructor). */
static void scratch_release_current(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    scratch_buf *b = pthread_getspecific(scratch_key);
    if (b) {
        pthread_setspecific(scratch_key, NULL);
        scratch_destroy(b);
    }
}

static reco_status check_n(const reco_service *s, size_t n, reco_error *err)
{
    if (n < 1 || n > s->opt.max_n)
        return reco_error_set(err, RECO_ERR_INVALID, "n must be from 1 to %zu, got %zu",
                              s->opt.max_n, n);
    return RECO_OK;
}

reco_status reco_service_recommend(reco_service *s, const char *user, size_t n,
                                   bool exclude_rated, json_t **out, reco_error *err)
{
    *out = NULL;
    size_t ulen = strlen(user);
    if (!reco_service_valid_id(user, ulen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "user ID must be 1 to 255 bytes of UTF-8 without control characters");
    reco_status rc = check_n(s, n, err);
    if (rc)
        return rc;
    generation *g = acquire(s);
    const reco_model *m = g->model;
    reco_scored *top = malloc(n * sizeof *top);
    merged mp;
    pthread_rwlock_rdlock(&g->lock);
    int64_t u = find_user(g, user, ulen);
    int mrc = top ? merge_profile(g, u, &mp) : -1;
    pthread_rwlock_unlock(&g->lock);
    if (mrc) {
        free(top);
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    size_t got = 0;
    bool cold = false;
    void *scratch = scratch_for(m);
    rc = reco_model_recommend(m, &mp.prof, n, exclude_rated, top, &got, &cold, scratch, err);
    /* Predicted ratings of the listed products only; a user with no
     * ratings gets the baseline's (mu + b_i). */
    float *pred = NULL;
    bool predicts = reco_model_predicts_ratings(m);
    if (rc == RECO_OK && predicts && got) {
        pred = malloc(got * sizeof *pred);
        if (pred)
            reco_model_predict_items(m, &mp.prof, top, got, pred, scratch);
        else
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    /* Why, for the whole list at once (models share work per user). */
    uint32_t *ids = NULL, *why = NULL, *nwhy = NULL;
    if (rc == RECO_OK && !cold && mp.prof.n && got && (m->ops->explain || m->ops->explain_list)) {
        ids = malloc(got * sizeof *ids);
        why = malloc(got * BECAUSE_MAX * sizeof *why);
        nwhy = calloc(got, sizeof *nwhy);
        if (ids && why && nwhy) {
            for (size_t k = 0; k < got; k++)
                ids[k] = top[k].id;
            reco_model_explain_list(m, &mp.prof, ids, got, BECAUSE_MAX, why, nwhy);
        }
    }
    if (rc == RECO_OK) {
        json_t *items = json_array();
        for (size_t k = 0; k < got; k++) {
            json_t *it = json_pack("{s:s,s:f}", "item", item_key(g, top[k].id), "score",
                                   (double)top[k].score);
            if (pred)
                json_object_set_new(it, "predicted_rating", json_real((double)pred[k]));
            if (nwhy && nwhy[k]) {
                json_t *b = json_array();
                for (size_t j = 0; j < nwhy[k]; j++)
                    json_array_append_new(b,
                                          json_string(item_key(g, why[k * BECAUSE_MAX + j])));
                json_object_set_new(it, "because", b);
            }
            json_array_append_new(items, it);
        }
        *out = json_pack("{s:s,s:s,s:s,s:o,s:b}", "user", user, "algorithm", m->ops->name,
                         "score_kind", reco_model_score_kind(m, cold), "items", items,
                         "cold_start", cold);
        if (!*out)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    free(ids);
    free(why);
    free(nwhy);
    free(pred);
    merged_free(&mp);
    free(top);
    generation_release(g);
    return rc;
}

reco_status reco_service_similar(reco_service *s, const char *item, size_t n, json_t **out,
                                 reco_error *err)
{
    *out = NULL;
    size_t ilen = strlen(item);
    if (!reco_service_valid_id(item, ilen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "item ID must be 1 to 255 bytes of UTF-8 without control characters");
    reco_status rc = check_n(s, n, err);
    if (rc)
        return rc;
    generation *g = acquire(s);
    int64_t i = reco_idmap_find(g->train->items, item, ilen);
    if (i < 0) {
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOT_FOUND, "unknown product \"%s\"", item);
    }
    reco_scored *top = malloc(n * sizeof *top);
    size_t got = 0;
    rc = top ? reco_model_similar(g->model, (uint32_t)i, n, top, &got, err)
             : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (rc == RECO_OK) {
        json_t *items = json_array();
        for (size_t k = 0; k < got; k++)
            json_array_append_new(items, json_pack("{s:s,s:f}", "item", item_key(g, top[k].id),
                                                   "score", (double)top[k].score));
        *out = json_pack("{s:s,s:s,s:s,s:o}", "item", item, "algorithm", g->model->ops->name,
                         "score_kind", "similarity", "items", items);
    }
    free(top);
    generation_release(g);
    return rc;
}

reco_status reco_service_predict(reco_service *s, const char *user, const char *item,
                                 json_t **out, reco_error *err)
{
    *out = NULL;
    size_t ulen = strlen(user), ilen = strlen(item);
    if (!reco_service_valid_id(user, ulen) || !reco_service_valid_id(item, ilen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "IDs must be 1 to 255 bytes of UTF-8 without control characters");
    generation *g = acquire(s);
    int64_t u = reco_idmap_find(g->train->users, user, ulen);
    int64_t i = reco_idmap_find(g->train->items, item, ilen);
    bool live_user = false, live_item = false;
    merged mp;
    pthread_rwlock_rdlock(&g->lock);
    if (u < 0)
        live_user = reco_idmap_find(g->new_users, user, ulen) >= 0;
    if (i < 0)
        live_item = reco_idmap_find(g->new_items, item, ilen) >= 0;
    /* The user's ratings since training count too (folded in where the
     * algorithm predicts ratings from a profile). */
    int mrc = merge_profile(g, find_user(g, user, ulen), &mp);
    pthread_rwlock_unlock(&g->lock);
    if (mrc) {
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    bool by_model = false;
    float p = reco_model_predict_profile_by(g->model, &mp.prof,
                                            i < 0 ? RECO_NO_USER : (uint32_t)i,
                                            scratch_for(g->model), &by_model);
    merged_free(&mp);
    *out = json_pack("{s:s,s:s,s:f,s:s,s:b,s:b}", "user", user, "item", item, "prediction",
                     (double)p, "source", by_model ? "model" : "baseline", "known_user",
                     u >= 0 || live_user, "known_item", i >= 0 || live_item);
    generation_release(g);
    return *out ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
}

reco_status reco_service_user_ratings(reco_service *s, const char *user, json_t **out,
                                      reco_error *err)
{
    *out = NULL;
    size_t ulen = strlen(user);
    if (!reco_service_valid_id(user, ulen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "user ID must be 1 to 255 bytes of UTF-8 without control characters");
    generation *g = acquire(s);
    json_t *list = json_array();
    pthread_rwlock_rdlock(&g->lock);
    int64_t u = find_user(g, user, ulen);
    const live_user *lu = u >= 0 && (size_t)u < g->live_cap ? g->live[u] : NULL;
    if (u >= 0 && (uint64_t)u < g->n_users) {
        reco_profile p = reco_profile_of_user(g->train, (uint32_t)u);
        for (uint32_t k = 0; k < p.n; k++) {
            bool overridden = false;
            for (uint32_t j = 0; lu && j < lu->n && !overridden; j++)
                overridden = lu->items[j] == p.items[k];
            if (!overridden)
                json_array_append_new(list, json_pack("{s:s,s:f,s:n,s:s,s:b}", "item",
                                                      item_key(g, p.items[k]), "rating",
                                                      (double)p.ratings[k], "timestamp",
                                                      "source", "training", "known_item", 1));
        }
    }
    for (uint32_t j = 0; lu && j < lu->n; j++)
        json_array_append_new(list, json_pack("{s:s,s:f,s:I,s:s,s:b}", "item",
                                              item_key(g, lu->items[j]), "rating",
                                              (double)lu->ratings[j], "timestamp",
                                              (json_int_t)lu->ts[j], "source", "live",
                                              "known_item", lu->items[j] < g->n_items));
    pthread_rwlock_unlock(&g->lock);
    generation_release(g);
    if (u < 0 || json_array_size(list) == 0) {
        json_decref(list);
        return reco_error_set(err, RECO_ERR_NOT_FOUND, "unknown user \"%s\"", user);
    }
    *out = json_pack("{s:s,s:b,s:o}", "user", user, "known_user", 1, "ratings", list);
    return RECO_OK;
}

/* Appends one CSV field, quoted when it holds a comma or a quote. */
static size_t csv_field(char *dst, const char *s, size_t len)
{
    bool quote = memchr(s, ',', len) || memchr(s, '"', len) || (len && (s[0] == ' ' || s[len - 1] == ' '));
    size_t j = 0;
    if (quote)
        dst[j++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            dst[j++] = '"';
        dst[j++] = s[i];
    }
    if (quote)
        dst[j++] = '"';
    return j;
}

reco_status reco_service_add_ratings(reco_service *s, const reco_new_rating *r, size_t n,
                                     json_t **out, reco_error *err)
{
    *out = NULL;
    if (!s->has_log)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "this server takes no new ratings (start it with --ratings-log)");
    if (n == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "no ratings given");
    if (n > s->opt.max_batch)
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "at most %zu ratings per request, got %zu",
                              s->opt.max_batch, n);
    generation *g = acquire(s);
    float lo = g->model->rating_lo, hi = g->model->rating_hi;
    generation_release(g);
    int64_t now = (int64_t)time(NULL);
    size_t bytes = 0;
    for (size_t k = 0; k < n; k++) {
        if (!reco_service_valid_id(r[k].user, r[k].user_len))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "rating %zu: user must be 1 to 255 bytes of UTF-8 without "
                                  "control characters", k);
        if (!reco_service_valid_id(r[k].item, r[k].item_len))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "rating %zu: item must be 1 to 255 bytes of UTF-8 without "
                                  "control characters", k);
        if (!isfinite(r[k].rating) || r[k].rating < lo || r[k].rating > hi)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "rating %zu: rating must be a number from %g to %g", k, lo, hi);
        bytes += 2 * (r[k].user_len + r[k].item_len) + 64;
    }
    char *text = malloc(bytes);
    if (!text)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        len += csv_field(text + len, r[k].user, r[k].user_len);
        text[len++] = ',';
        len += csv_field(text + len, r[k].item, r[k].item_len);
        len += (size_t)snprintf(text + len, bytes - len, ",%.9g,%lld\n", r[k].rating,
                                (long long)(r[k].timestamp ? r[k].timestamp : now));
    }
    reco_status rc = log_append(s, text, len, err);
    free(text);
    if (rc)
        return rc;
    atomic_fetch_add(&s->logged, n);
    /* Durable: now visible. apply_mu keeps a reload from swapping in a
     * generation that replayed the log before these lines were there
     * while they are applied to the old one. */
    pthread_mutex_lock(&s->apply_mu);
    g = acquire(s);
    json_t *list = json_array();
    pthread_rwlock_wrlock(&g->lock);
    for (size_t k = 0; k < n; k++) {
        if (apply_rating(g, r[k].user, r[k].user_len, r[k].item, r[k].item_len,
                         (float)r[k].rating, r[k].timestamp ? r[k].timestamp : now) != 0)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory applying ratings");
        bool known_item = reco_idmap_find(g->train->items, r[k].item, r[k].item_len) >= 0;
        json_t *e = json_object();
        json_object_set_new(e, "user", json_stringn(r[k].user, r[k].user_len));
        json_object_set_new(e, "item", json_stringn(r[k].item, r[k].item_len));
        json_object_set_new(e, "known_item", json_boolean(known_item));
        json_array_append_new(list, e);
    }
    pthread_rwlock_unlock(&g->lock);
    generation_release(g);
    pthread_mutex_unlock(&s->apply_mu);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:I,s:o}", "accepted", (json_int_t)n, "ratings", list);
    return RECO_OK;
}

reco_status reco_service_reload(reco_service *s, reco_error *err)
{
    pthread_mutex_lock(&s->reload_mu);
    generation *g = NULL;
    reco_status rc = generation_new(s->model_path, &g, err);
    /* The private copy before the swap: the old model serves meanwhile. */
    if (rc == RECO_OK && !s->opt.map_model)
        rc = reco_mfile_make_private(g->model->file, err);
    /* Most of the log is replayed without blocking writers, the rest under
     * apply_mu so that no acknowledged rating is missed. */
    uint64_t upto = s->has_log ? log_durable_bytes(s) : 0;
    if (rc == RECO_OK && replay(s, g, 0, upto, err) < 0)
        rc = err ? err->code : RECO_ERR_IO;
    if (rc == RECO_OK) {
        pthread_mutex_lock(&s->apply_mu);
        uint64_t end = s->has_log ? log_durable_bytes(s) : 0;
        if (replay(s, g, upto, end, err) < 0)
            rc = err ? err->code : RECO_ERR_IO;
        if (rc == RECO_OK) {
            pthread_mutex_lock(&s->gen_mu);
            generation *old = s->gen;
            s->gen = g;
            pthread_mutex_unlock(&s->gen_mu);
            g = old; /* freed when its last in-flight request releases it */
        }
        pthread_mutex_unlock(&s->apply_mu);
    }
    generation_release(g);
    if (rc)
        atomic_fetch_add(&s->reload_failures, 1);
    else
        atomic_fetch_add(&s->reloads, 1);
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

json_t *reco_service_model_info(reco_service *s)
{
    generation *g = acquire(s);
    const reco_model *m = g->model;
    char params[512] = "";
    if (m->ops->params_format)
        m->ops->params_format(m->params, params, sizeof params);
    pthread_rwlock_rdlock(&g->lock);
    uint64_t live = g->live_ratings, lusers = g->live_users;
    pthread_rwlock_unlock(&g->lock);
    json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:I,s:I,s:f,s:I,s:I,s:f,s:f}",
                          "algorithm", m->ops->name, "params", params, "users",
                          (json_int_t)g->n_users, "items", (json_int_t)g->n_items, "ratings",
                          (json_int_t)reco_dataset_nnz(g->train), "trained_at",
                          (json_int_t)m->trained_at, "file", s->model_path, "file_bytes",
                          (json_int_t)reco_mfile_size(m->file), "loaded_at",
                          (json_int_t)g->loaded_at, "fit_seconds", m->fit_seconds,
                          "live_ratings", (json_int_t)live, "live_users", (json_int_t)lusers,
                          "rating_min", (double)m->rating_lo, "rating_max", (double)m->rating_hi);
    if (o)
        json_object_set_new(o, "train_rmse", isnan(m->train_rmse) ? json_null()
                                                                  : json_real(m->train_rmse));
    const reco_default_choice *ch = reco_default_choice_of(m);
    if (o && ch)
        json_object_set_new(o, "ranker", reco_default_choice_json(ch));
    generation_release(g);
    return o;
}

json_t *reco_default_choice_json(const reco_default_choice *c)
{
    json_t *cands = json_array();
    for (uint32_t j = 0; cands && j < c->n && j < RECO_DEFAULT_MAX_CANDIDATES; j++) {
        json_t *e = json_pack("{s:s,s:o}", "name", c->cand[j].name, "value",
                              isnan(c->cand[j].value) ? json_null() : json_real(c->cand[j].value));
        if (e && c->cand[j].note[0])
            json_object_set_new(e, "note", json_string(c->cand[j].note));
        json_array_append_new(cands, e);
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "algorithm", c->ranker, "metric", c->metric,
                          "validation", c->validation, "candidates", cands);
    if (o && c->note[0])
        json_object_set_new(o, "note", json_string(c->note));
    if (o) {
        json_object_set_new(o, "blend", json_string(c->blend));
        json_object_set_new(o, "blend_value",
                            isnan(c->blend_value) ? json_null() : json_real(c->blend_value));
    }
    return o;
}

void reco_service_get_stats(reco_service *s, reco_service_stats *st)
{
    memset(st, 0, sizeof *st);
    check_model_file(s, true);
    generation *g = acquire_gen(s);
    st->model_bytes = reco_mfile_size(g->model->file);
    st->model_private = reco_mfile_is_private(g->model->file);
    st->trained_at = g->model->trained_at;
    st->loaded_at = g->loaded_at;
    pthread_rwlock_rdlock(&g->lock);
    st->live_ratings = g->live_ratings;
    pthread_rwlock_unlock(&g->lock);
    generation_release(g);
    st->ratings_logged = atomic_load(&s->logged);
    st->ratings_replayed = atomic_load(&s->replayed);
    st->reloads = atomic_load(&s->reloads);
    st->reload_failures = atomic_load(&s->reload_failures);
    st->model_file_changes = atomic_load(&s->file_changes);
    if (s->has_log) {
        pthread_mutex_lock(&s->log.mu);
        st->log_fsyncs = s->log.fsyncs;
        pthread_mutex_unlock(&s->log.mu);
    }
}
