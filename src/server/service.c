/* The recommendation service: a model file, the ratings that arrived after
 * training (the "live" overlay), and the ratings log that makes them
 * durable. See reco/service.h for the contract. */
#include "reco/catalogue.h"
#include "fileio.h"
#include "reco/service.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reco/clock.h"
#include "reco/default_algo.h"
#include "reco/events.h"
#include "reco/factor_index.h"
#include "reco/model.h"
#include "reco/ratings.h"
#include "reco/ratings_log.h"
#include "reco/utf8.h"
#include "reco/json.h"

#include "numfmt.h"
#include "pg_store.h"
#include "rng.h"

#define BECAUSE_MAX 3
/* What a live rating adds to the overlay, about (docs/operations.md has
 * the measured figures): its entry in the user's arrays, which double; a
 * user new to the model and the overlay its record, first arrays, slot in
 * the table of users and key; a new product its slot and key. */
#define LIVE_BYTES_RATING 32
#define LIVE_BYTES_NEW_USER 200
#define LIVE_BYTES_NEW_ITEM 64

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

/* The catalogue as a generation serves it: the model's, with the changes
 * since (PUT/PATCH /v1/items, `#item` records of the log), and its view
 * from the model's products. Immutable and reference-counted: a change
 * builds the next one and swaps the generation's pointer under its lock,
 * so a request holds one whole snapshot from start to end. */
typedef struct cat_snap {
    atomic_int refs;
    reco_catalogue *cat;          /* a reference */
    reco_catalogue_view *view;    /* of the generation's model */
    /* The view's hidden bits and categories in the walk order of each of
     * the model's index orders (reco_item_filter.walks), so that a request
     * with rules tests them per block while it walks: made with the
     * snapshot, so a live availability change makes new ones. */
    reco_item_filter_walk walks[RECO_FACTOR_ORDERS];
    size_t n_walks;
    struct cat_split *split; /* the walks' split, or NULL */
} cat_snap;

/* The model's index orders split by category (reco/factor_index.h), so
 * that a category rule walks the products it admits: built with the
 * parts reco_catalogue_partition gives, and shared by the snapshots
 * whose product categories are the same (an availability change keeps
 * it; a change of category builds a new one). Reference-counted. */
typedef struct cat_split {
    atomic_int refs;
    uint32_t n_orders;
    reco_factor_split split[RECO_FACTOR_ORDERS];
    uint32_t *item_category; /* what it was built from: n_items entries */
    uint32_t n_items;
    reco_category_range ranges[RECO_FACTOR_SPLIT_MAX];
    uint32_t n_ranges;
} cat_split;

static void cat_split_release(cat_split *sp)
{
    if (sp && atomic_fetch_sub(&sp->refs, 1) == 1) {
        for (uint32_t o = 0; o < sp->n_orders; o++)
            reco_factor_split_clear(&sp->split[o]);
        free(sp->item_category);
        free(sp);
    }
}

/* The split for view v of model index ix: prev's when it was built from
 * the same parts and categories, else a new one; NULL (and RECO_OK) when
 * the catalogue has fewer than two parts. */
static reco_status cat_split_get(const reco_catalogue *c, const reco_catalogue_view *v,
                                 const reco_factor_index *ix, cat_split *prev, cat_split **out,
                                 reco_error *err)
{
    *out = NULL;
    reco_category_range r[RECO_FACTOR_SPLIT_MAX];
    uint32_t nr = 0;
    reco_status rc = reco_catalogue_partition(c, v, RECO_FACTOR_SPLIT_MAX, r, &nr, err);
    if (rc || nr < 2)
        return rc;
    if (prev && prev->n_ranges == nr && prev->n_items == v->n_items &&
        !memcmp(prev->ranges, r, nr * sizeof *r) &&
        !memcmp(prev->item_category, v->item_category, (size_t)v->n_items * sizeof(uint32_t))) {
        atomic_fetch_add(&prev->refs, 1);
        *out = prev;
        return RECO_OK;
    }
    cat_split *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->item_category = malloc(((size_t)v->n_items + 1) * sizeof(uint32_t)))) {
        free(sp);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    atomic_init(&sp->refs, 1);
    memcpy(sp->item_category, v->item_category, (size_t)v->n_items * sizeof(uint32_t));
    sp->n_items = v->n_items;
    memcpy(sp->ranges, r, nr * sizeof *r);
    sp->n_ranges = nr;
    for (uint32_t o = 0; o < ix->n_orders; o++) {
        if ((rc = reco_factor_split_build(&sp->split[o], &ix->ord[o], v->item_category,
                                          v->n_items, r, nr, err))) {
            cat_split_release(sp);
            return rc;
        }
        sp->n_orders = o + 1;
    }
    *out = sp;
    return RECO_OK;
}

static void cat_snap_release(cat_snap *cs)
{
    if (cs && atomic_fetch_sub(&cs->refs, 1) == 1) {
        cat_split_release(cs->split);
        for (size_t o = 0; o < cs->n_walks; o++)
            reco_item_filter_walk_clear(&cs->walks[o]);
        reco_catalogue_view_free(cs->view);
        reco_catalogue_free(cs->cat);
        free(cs);
    }
}

/* A snapshot of c (which gains a reference) for model m; prev (NULL:
 * none) is the one it follows, whose split it shares when it can. */
static reco_status cat_snap_new(reco_catalogue *c, const reco_model *m, const cat_snap *prev,
                                cat_snap **out, reco_error *err)
{
    *out = NULL;
    cat_snap *cs = calloc(1, sizeof *cs);
    if (!cs)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    atomic_init(&cs->refs, 1);
    cs->cat = reco_catalogue_ref(c);
    reco_status rc = reco_catalogue_view_new(c, m->train->items, &cs->view, err);
    if (rc) {
        cat_snap_release(cs);
        return rc;
    }
    const reco_factor_index *ix = reco_model_topn_index(m);
    for (uint32_t o = 0; ix && o < ix->n_orders; o++) {
        const reco_catalogue_view *v = cs->view;
        if (reco_item_filter_walk_build(&cs->walks[o], ix->ord[o].order, ix->ord[o].n,
                                        v->item_category, v->n_items, v->hidden, v->n_items)) {
            cat_snap_release(cs);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        }
        cs->n_walks = o + 1;
    }
    if (ix && (rc = cat_split_get(c, cs->view, ix, prev ? prev->split : NULL, &cs->split, err))) {
        cat_snap_release(cs);
        return rc;
    }
    for (size_t o = 0; cs->split && o < cs->n_walks; o++)
        cs->walks[o].split = &cs->split->split[o];
    *out = cs;
    return RECO_OK;
}

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
    uint64_t live_alloc;     /* bytes of the live arrays and records */
    bool refused;            /* the last batch was refused for the memory cap */
    cat_snap *cat;           /* the catalogue served now; NULL: none */
    /* The model's users sorted by ID for prefix search, built on the
     * first search (user_index_of, at the end of this file); NULL until. */
    _Atomic(uint32_t *) user_index;
} generation;

/* Memory of the overlay: records, arrays, the tables of new IDs. Caller
 * holds g->lock. */
static uint64_t live_bytes(const generation *g)
{
    return g->live_alloc + reco_idmap_memory(g->new_users) + reco_idmap_memory(g->new_items);
}

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
    cat_snap_release(g->cat);
    free(atomic_load(&g->user_index));
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
    if (g->model->catalogue &&
        (rc = cat_snap_new(g->model->catalogue, g->model, NULL, &g->cat, err))) {
        generation_free(g);
        return rc;
    }
    *out = g;
    return RECO_OK;
}

/* The catalogue g serves now (a reference: cat_snap_release), or NULL. */
static cat_snap *cat_acquire(generation *g)
{
    pthread_rwlock_rdlock(&g->lock);
    cat_snap *cs = g->cat;
    if (cs)
        atomic_fetch_add(&cs->refs, 1);
    pthread_rwlock_unlock(&g->lock);
    return cs;
}

/* Adds "title", "category" and "available" to a listed product of the
 * model (index i) that the catalogue holds. Nonzero when out of memory. */
static int add_catalogue_fields(const cat_snap *cs, uint32_t i, json_t *it)
{
    if (!cs || i >= cs->view->n_items || cs->view->entry[i] == RECO_CATALOGUE_NONE)
        return 0;
    reco_catalogue_entry en;
    reco_catalogue_entry_get(cs->cat, cs->view->entry[i], &en);
    return (en.title && json_object_set_new(it, "title", json_string(en.title))) ||
           (en.category_path &&
            json_object_set_new(it, "category", json_string(en.category_path))) ||
           json_object_set_new(it, "available", json_boolean(en.available));
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
/* The training rating (or confidence) of user u for product i, 0 when
 * there is none. */
static float train_value(const generation *g, int64_t u, int64_t i)
{
    if (u < 0 || (uint64_t)u >= g->n_users || i < 0 || (uint64_t)i >= g->n_items)
        return 0;
    reco_profile p = reco_profile_of_user(g->train, (uint32_t)u);
    uint32_t lo = 0, hi = p.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p.items[mid] < (uint32_t)i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p.n && p.items[lo] == (uint32_t)i ? p.ratings[lo] : 0;
}

static int apply_live(generation *g, const char *user, size_t ulen, const char *item,
                      size_t ilen, float rating, int64_t ts, bool add);

static int apply_rating(generation *g, const char *user, size_t ulen, const char *item,
                        size_t ilen, float rating, int64_t ts)
{
    return apply_live(g, user, ulen, item, ilen, rating, ts, false);
}

/* An event's confidence: added to the user's entry for the product (the
 * live one, else the training one, else 0), whatever the timestamps. */
static int apply_confidence(generation *g, const char *user, size_t ulen, const char *item,
                            size_t ilen, float conf, int64_t ts)
{
    return apply_live(g, user, ulen, item, ilen, conf, ts, true);
}

static int apply_live(generation *g, const char *user, size_t ulen, const char *item,
                      size_t ilen, float rating, int64_t ts, bool add)
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
        g->live_alloc += (nc - g->live_cap) * sizeof *nl;
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
        g->live_alloc += sizeof *lu;
    }
    uint32_t pos = 0;
    while (pos < lu->n && lu->items[pos] < (uint32_t)i)
        pos++;
    if (pos < lu->n && lu->items[pos] == (uint32_t)i && add) {
        lu->ratings[pos] += rating;
        if (ts > lu->ts[pos])
            lu->ts[pos] = ts;
        return 0;
    }
    if (add)
        rating += train_value(g, u, i);
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
        g->live_alloc += (uint64_t)(nc - lu->cap) * (sizeof *ni + sizeof *nr + sizeof *nt);
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

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A writer waiting for the batch that holds its lines. */
typedef struct waiter {
    struct waiter *next;
    bool done;
    int err;                  /* 0: durable; else the batch failed */
    reco_status code;         /* how it failed */
    int64_t seq;              /* the store: the seq of the batch's last row */
    char msg[448];
} waiter;

typedef struct ratings_log {
    /* The file, as last checked; guarded by io, which is held around every
     * read of it and write to it and never taken while holding mu. */
    pthread_mutex_t io;
    int fd;
    reco_log_header h;
    uint64_t end, end_seq;    /* logical end of what is durable */
    bool broken;              /* a failed batch could not be cut back */
    /* The queue; guarded by mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;                /* lines waiting for the next write */
    size_t len, cap;
    uint64_t lines;           /* in buf */
    waiter *head, *tail;      /* the writers of those lines */
    bool flushing;
    uint64_t fsyncs, write_errors;
    bool failing;             /* the last batch failed (until one is written or a check passes) */
    int64_t failing_since;    /* Unix time */
    int64_t last_check_ms;    /* monotonic: the last failure or check */
    char failure[448];
} ratings_log;

/* A reader's view of the log at one moment: its own descriptor of the file
 * (a compaction that replaces the file later does not change what it
 * reads: lines before the durable end never change). */
typedef struct log_snap {
    int fd;
    reco_log_header h;
    uint64_t end;
} log_snap;

/* ---- the service ---- */

/* Bits of the bitmap that estimates the users a variant has seen. */
#define SEEN_BITS ((size_t)1 << 20)

/* One variant of the experiment: a model file and its generation, and
 * what the experiment counted for it. Without variants the service has
 * one, "default", with the whole share. */
typedef struct variant {
    struct reco_service *s;
    char name[RECO_VARIANT_NAME_MAX + 1];
    char *model_path;
    double share, upto;       /* its share; the cumulative share up to its end */
    generation *gen;          /* guarded by s->gen_mu (the pointer, not its contents) */
    uint64_t replay_from, replay_from_seq; /* its generation's start in the log (gen_mu) */
    /* Watching the model file for changes in place. */
    atomic_int_fast64_t next_file_check; /* monotonic ns */
    atomic_uint_fast64_t file_changes;
    reco_file_id reported;    /* the last changed version reported (s->file_mu) */
    /* The private copy of the model loaded at open, made in the background. */
    pthread_t copier;
    bool copier_started;
    generation *copying;      /* a reference, released by the copier */
    /* The experiment: lists served since start; feedback in the log. */
    atomic_uint_fast64_t lists, impressions, clicks, purchases;
    atomic_uint_fast64_t *seen; /* SEEN_BITS bits: users hashed (linear counting) */
} variant;

struct reco_service {
    reco_service_options opt;
    char *log_path;
    variant *v;               /* the variants; v[0] is the control */
    size_t nv;
    pthread_mutex_t gen_mu;   /* guards each variant's gen pointer */
    pthread_mutex_t reload_mu; /* one reload at a time */
    pthread_mutex_t apply_mu;  /* orders applying new ratings with a swap */
    ratings_log log;
    bool has_log, log_open;
    char first_bad[RECO_BAD_LINE_MSG_MAX]; /* the first line replay skipped */
    atomic_uint_fast64_t logged, replayed, reloads, reload_failures, bad_lines, refused;
    atomic_uint_fast64_t feedback_logged, feedback_replayed, feedback_other;
    pthread_mutex_t file_mu;  /* guards the variants' reported */
    /* recommendation_id: a random prefix per process and a counter. */
    char rec_prefix[9];
    atomic_uint_fast64_t rec_counter;
    /* --store: durable writes go to PostgreSQL (pg_store.h), and what any
     * replica wrote is applied here in seq order, exactly once. */
    pg_store *store;
    int64_t store_applied;    /* the last row applied to every variant (apply_mu) */
    atomic_int_fast64_t store_applied_pub; /* the same, for figures */
    atomic_int_fast64_t store_followed_ms; /* monotonic: the last read that succeeded */
    atomic_uint_fast64_t store_rows, store_follow_errors;
    pthread_t follower;
    bool follower_started;
    atomic_bool stopping;
    pthread_mutex_t follow_err_mu;
    char follow_err[RECO_ERROR_MSG_MAX]; /* the last failed read ("": none since) */
};

void reco_service_options_default(reco_service_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_n = 1000;
    o->max_batch = 10000;
}

/* ---- the experiment: variants and served lists ---- */

static json_t *variant_info(reco_service *s, variant *v);

static bool valid_variant_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > RECO_VARIANT_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

reco_status reco_variants_check(const reco_variant_spec *v, size_t n, reco_error *err)
{
    if (n == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "no variants given");
    if (n > RECO_VARIANTS_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "%zu variants: at most %d", n,
                              RECO_VARIANTS_MAX);
    double sum = 0;
    for (size_t k = 0; k < n; k++) {
        if (!v[k].name || !valid_variant_name(v[k].name))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "variant name \"%s\": a name is 1 to 32 of A-Z, a-z, 0-9, _ "
                                  "and -", v[k].name ? v[k].name : "");
        for (size_t j = 0; j < k; j++)
            if (!strcmp(v[j].name, v[k].name))
                return reco_error_set(err, RECO_ERR_INVALID, "variant \"%s\" is given twice",
                                      v[k].name);
        if (!v[k].model_path || !v[k].model_path[0])
            return reco_error_set(err, RECO_ERR_INVALID, "variant \"%s\" has no model file",
                                  v[k].name);
        if (!(v[k].share > 0 && v[k].share <= 1))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "variant \"%s\": its share must be a number above 0 and at "
                                  "most 1, got %g", v[k].name, v[k].share);
        sum += v[k].share;
    }
    if (fabs(sum - 1) > 1e-9)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the variants' shares add up to %.10g, not 1 (within 1e-9): give "
                              "shares such as 0.5 and 0.5", sum);
    return RECO_OK;
}

double reco_variant_point(const char *user, size_t len)
{
    static const char salt[] = "reco-variant-v1:";
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < sizeof salt - 1; i++)
        h = (h ^ (unsigned char)salt[i]) * 1099511628211ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)user[i]) * 1099511628211ULL;
    return (double)(reco_mix64(h) >> 11) * 0x1p-53;
}

size_t reco_variant_assign(const reco_variant_spec *v, size_t n, const char *user, size_t len)
{
    double x = reco_variant_point(user, len), upto = 0;
    for (size_t k = 0; k + 1 < n; k++) {
        upto += v[k].share;
        if (x < upto)
            return k;
    }
    return n - 1;
}

/* The service's variants from the options (one "default" without). */
static reco_status variants_init(reco_service *s, const reco_service_options *opt,
                                 reco_error *err)
{
    reco_variant_spec def = {"default", opt->model_path, 1.0};
    const reco_variant_spec *vs = opt->n_variants ? opt->variants : &def;
    size_t n = opt->n_variants ? opt->n_variants : 1;
    if (!opt->n_variants && !opt->model_path)
        return reco_error_set(err, RECO_ERR_INVALID, "no model file given");
    reco_status rc = reco_variants_check(vs, n, err);
    if (rc)
        return rc;
    s->v = calloc(n, sizeof *s->v);
    if (!s->v)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    s->nv = n;
    double upto = 0;
    for (size_t k = 0; k < n; k++) {
        variant *v = &s->v[k];
        v->s = s;
        snprintf(v->name, sizeof v->name, "%s", vs[k].name);
        v->model_path = strdup(vs[k].model_path);
        v->share = vs[k].share;
        upto += vs[k].share;
        v->upto = k + 1 == n ? 2.0 : upto; /* the last takes any rounding gap */
        v->seen = calloc(SEEN_BITS / 64, sizeof *v->seen);
        if (!v->model_path || !v->seen)
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    char id[RECO_LOG_ID_LEN + 1];
    if ((rc = reco_log_new_id(id, err)))
        return rc;
    memcpy(s->rec_prefix, id, 8);
    s->rec_prefix[8] = '\0';
    return RECO_OK;
}

static variant *variant_of(reco_service *s, const char *user, size_t len)
{
    if (s->nv == 1)
        return &s->v[0];
    double x = reco_variant_point(user, len);
    for (size_t k = 0; k < s->nv; k++)
        if (x < s->v[k].upto)
            return &s->v[k];
    return &s->v[s->nv - 1];
}

static variant *variant_named(reco_service *s, const char *name, size_t len)
{
    for (size_t k = 0; k < s->nv; k++)
        if (strlen(s->v[k].name) == len && !memcmp(s->v[k].name, name, len))
            return &s->v[k];
    return NULL;
}

/* Marks a user seen by v (linear counting). */
static void seen_user(variant *v, const char *user, size_t len)
{
    uint64_t h = reco_mix64(reco_idmap_hash(user, len) ^ 0x9e3779b97f4a7c15ULL);
    size_t bit = (size_t)(h & (SEEN_BITS - 1));
    atomic_fetch_or_explicit(&v->seen[bit / 64], (uint_fast64_t)1 << (bit % 64),
                             memory_order_relaxed);
}

static double seen_estimate(const variant *v)
{
    size_t zeros = 0;
    for (size_t w = 0; w < SEEN_BITS / 64; w++)
        zeros += 64 - (size_t)__builtin_popcountll(
                          (unsigned long long)atomic_load_explicit(&v->seen[w],
                                                                   memory_order_relaxed));
    if (zeros == 0)
        zeros = 1; /* saturated: the estimate's ceiling */
    return -(double)SEEN_BITS * log((double)zeros / (double)SEEN_BITS);
}

/* A list served by v: its recommendation_id and variant name; the user,
 * when there is one, is counted as seen. Nonzero when out of memory. */
static int served_list(reco_service *s, variant *v, const char *user, size_t ulen, json_t *o)
{
    if (!s->opt.list_ids)
        return 0;
    char id[8 + 1 + 16 + 1];
    uint64_t c = atomic_fetch_add(&s->rec_counter, 1) + 1;
    snprintf(id, sizeof id, "%s-%llx", s->rec_prefix, (unsigned long long)c);
    atomic_fetch_add(&v->lists, 1);
    if (user)
        seen_user(v, user, ulen);
    return json_object_set_new(o, "recommendation_id", json_string(id)) ||
           json_object_set_new(o, "variant", json_string(v->name));
}

static generation *acquire_gen(reco_service *s, variant *v)
{
    pthread_mutex_lock(&s->gen_mu);
    generation *g = v->gen;
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
static void check_model_file(reco_service *s, variant *v, bool force)
{
    int64_t now = mono_ns(), next = atomic_load(&v->next_file_check);
    if (!force && (now < next ||
                   !atomic_compare_exchange_strong(&v->next_file_check, &next,
                                                   now + 1000000000)))
        return;
    reco_file_id cur;
    if (reco_file_id_of(v->model_path, &cur, NULL) != RECO_OK)
        return; /* gone or unreadable: a rename in progress, or reported by the next reload */
    generation *g = acquire_gen(s, v);
    reco_file_id loaded = g->file_id;
    int64_t loaded_at = g->loaded_at;
    bool copy = reco_mfile_is_private(g->model->file);
    generation_release(g);
    if (!reco_file_id_same_inode(&cur, &loaded) || reco_file_id_equal(&cur, &loaded))
        return;
    pthread_mutex_lock(&s->file_mu);
    bool fresh = !reco_file_id_equal(&cur, &v->reported);
    if (fresh)
        v->reported = cur;
    pthread_mutex_unlock(&s->file_mu);
    if (!fresh)
        return;
    atomic_fetch_add(&v->file_changes, 1);
    if (s->opt.notice) {
        char msg[1024], when[32];
        time_t t = (time_t)loaded_at;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        snprintf(msg, sizeof msg,
                 "%s was changed in place (now %llu bytes, was %llu)%s%s; replace model files "
                 "by writing a new file and renaming it over the old one, then reload",
                 v->model_path, (unsigned long long)cur.size, (unsigned long long)loaded.size,
                 copy ? "; still serving the copy loaded at "
                      : ": the model is mapped from it and may be damaged, reload now",
                 copy ? when : "");
        s->opt.notice(s->opt.notice_ctx, msg);
    }
}

static generation *acquire(reco_service *s, variant *v)
{
    check_model_file(s, v, false);
    return acquire_gen(s, v);
}

/* Makes the model loaded at open a private copy while it already serves
 * (the load cost only a mapping); a file changed in place before the copy
 * is done is reported, and the model stays mapped. */
static void *copy_model(void *arg)
{
    variant *v = arg;
    reco_service *s = v->s;
    reco_error err;
    if (reco_mfile_make_private(v->copying->model->file, &err) != RECO_OK && s->opt.notice) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s; replace model files by writing a new file and renaming "
                 "it over the old one, then reload", err.msg);
        s->opt.notice(s->opt.notice_ctx, msg);
    }
    /* The similar-products index too, so the first such request is not
     * the one that builds it (a failure leaves it to that request). */
    reco_model_prepare_similar(v->copying->model, &err);
    generation_release(v->copying);
    return NULL;
}

bool reco_service_valid_id(const char *id, size_t len)
{
    /* Control bytes cannot be written to the CSV log. */
    return reco_log_valid_id(id, len);
}

static bool writable(const reco_service *s)
{
    return s->store || (s->has_log && !s->opt.log_read_only);
}

static int log_snapshot(reco_service *s, log_snap *sn, reco_error *err)
{
    ratings_log *l = &s->log;
    pthread_mutex_lock(&l->io);
    sn->fd = dup(l->fd);
    sn->h = l->h;
    sn->end = l->end;
    pthread_mutex_unlock(&l->io);
    if (sn->fd < 0) {
        reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Where the replay of the log for model m starts: the model's point, after
 * checking that it is this log's and within it; the log's start for a
 * model trained without it (if nothing before was compacted away). */
static reco_status log_start_point(reco_service *s, const char *model, const reco_model *m,
                                   const log_snap *sn, uint64_t *from, uint64_t *from_seq,
                                   reco_error *err)
{
    const reco_log_point *p = &m->log_point;
    const char *log = s->log_path;
    if (!p->id[0]) {
        if (sn->h.offset > 0)
            return reco_error_set(err, RECO_ERR_FORMAT,
                                  "%s starts at rating #%llu: the ratings before were compacted "
                                  "into an archive, and %s was trained without the log "
                                  "(reco train --ratings-log), so it holds none of them; serve a "
                                  "model trained with the log", log,
                                  (unsigned long long)sn->h.seq, model);
        *from = sn->h.offset;
        *from_seq = sn->h.seq;
        return RECO_OK;
    }
    if (strcmp(p->id, sn->h.id))
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s is ratings log %s, but %s was trained on log %s: the log was "
                              "replaced, or this is not the model's log", log, sn->h.id, model,
                              p->id);
    if (p->offset < sn->h.offset)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s starts at rating #%llu (it was compacted), but %s holds only "
                              "the ratings before #%llu: those between are in the archive, not "
                              "in this model; serve a newer model", log,
                              (unsigned long long)sn->h.seq, model, (unsigned long long)p->seq);
    if (p->offset > sn->end)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s was trained on %s up to rating #%llu (byte %llu), but the log "
                              "ends at byte %llu: it lost its end, or it is an older copy", model,
                              log, (unsigned long long)p->seq, (unsigned long long)p->offset,
                              (unsigned long long)sn->end);
    char c = '\n';
    if (p->offset > sn->h.offset &&
        reco_pread_exact(sn->fd, &c, 1, sn->h.len + (p->offset - sn->h.offset) - 1))
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", log, strerror(errno));
    if (c != '\n')
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: the point up to which %s holds it (byte %llu) is not the end "
                              "of a line: the model was trained on another copy of the log", log,
                              model, (unsigned long long)p->offset);
    *from = p->offset;
    *from_seq = p->seq;
    return RECO_OK;
}

static int replay_one(void *ctx, const char *u, size_t ul, const char *i, size_t il, float r,
                      int64_t ts)
{
    return apply_rating(ctx, u, ul, i, il, r, ts);
}

/* ---- catalogue changes and events: records of the log ---- */

#define ITEM_KIND "item"
#define EVENT_KIND "event"

/* An `#item` record: {"item", "title"?, "category"?, "available"?,
 * "labels"? (an object of strings), "timestamp"}; a field left out is
 * kept as it was (a PUT writes every one). 0, or 1 with why. */
static int item_record_check(const json_t *o, char *why, size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        bool ok = !strcmp(key, "item")       ? json_is_string(v) &&
                                                  reco_log_valid_id(json_string_value(v),
                                                                    json_string_length(v))
                  : !strcmp(key, "title")    ? json_is_string(v)
                  : !strcmp(key, "category") ? json_is_string(v)
                  : !strcmp(key, "available") ? json_is_boolean(v)
                  : !strcmp(key, "labels")   ? json_is_object(v)
                  : !strcmp(key, "timestamp") ? json_is_integer(v)
                                              : true; /* later fields: ignored */
        const char *lk;
        json_t *lv;
        if (ok && !strcmp(key, "labels"))
            json_object_foreach(v, lk, lv) ok &= json_is_string(lv);
        if (!ok) {
            snprintf(why, cap, "item record: \"%s\" malformed", key);
            return 1;
        }
    }
    if (!json_object_get(o, "item")) {
        snprintf(why, cap, "item record: \"item\" missing");
        return 1;
    }
    return 0;
}

/* base (NULL: empty) with the changes of the #item records recs (checked)
 * applied in order, as a new catalogue. */
static reco_status items_apply(const reco_catalogue *base, const json_t *recs,
                               reco_catalogue **out, reco_error *err)
{
    *out = NULL;
    size_t n = json_array_size(recs), nl = 0;
    for (size_t k = 0; k < n; k++)
        nl += json_object_size(json_object_get(json_array_get(recs, k), "labels"));
    reco_catalogue_update *u = calloc(n + 1, sizeof *u);
    const char **keys = malloc((nl + 1) * sizeof *keys), **vals = malloc((nl + 1) * sizeof *vals);
    reco_catalogue *empty = base ? NULL : reco_catalogue_new();
    reco_status rc = RECO_OK;
    if (!u || !keys || !vals || (!base && !empty))
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    for (size_t k = 0, l = 0; rc == RECO_OK && k < n; k++) {
        const json_t *o = json_array_get(recs, k), *v;
        u[k].item_id = json_string_value(json_object_get(o, "item"));
        u[k].title = json_string_value(json_object_get(o, "title"));
        u[k].category = json_string_value(json_object_get(o, "category"));
        v = json_object_get(o, "available");
        u[k].available = v ? json_is_true(v) : -1;
        if ((v = json_object_get(o, "labels"))) {
            const char *lk;
            json_t *lv;
            u[k].set_labels = true;
            u[k].label_keys = keys + l;
            u[k].label_values = vals + l;
            json_object_foreach((json_t *)v, lk, lv) {
                keys[l] = lk;
                vals[l++] = json_string_value(lv);
                u[k].n_labels++;
            }
        }
    }
    if (rc == RECO_OK)
        rc = reco_catalogue_apply(base ? base : empty, u, n, out, err);
    reco_catalogue_free(empty);
    free(u);
    free(keys);
    free(vals);
    return rc;
}

/* Applies #item records to g's catalogue: one new snapshot, swapped in
 * under g->lock. Callers serialise (apply_mu, or a generation no request
 * sees yet); g->lock is not held. */
static reco_status gen_apply_items(generation *g, const json_t *recs, reco_error *err)
{
    cat_snap *old = cat_acquire(g), *cs = NULL;
    reco_catalogue *c = NULL;
    reco_status rc = items_apply(old ? old->cat : NULL, recs, &c, err);
    if (rc == RECO_OK)
        rc = cat_snap_new(c, g->model, old, &cs, err);
    reco_catalogue_free(c); /* the snapshot holds its reference */
    cat_snap_release(old);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&g->lock);
    old = g->cat;
    g->cat = cs;
    pthread_rwlock_unlock(&g->lock);
    cat_snap_release(old); /* freed when the last request holding it ends */
    return RECO_OK;
}

/* An `#event` record: {"user", "item", "type", "value"?, "timestamp"}.
 * 0, or 1 with why. */
static int event_record_check(const json_t *o, char *why, size_t cap)
{
    const json_t *u = json_object_get(o, "user"), *i = json_object_get(o, "item"),
                 *t = json_object_get(o, "type"), *v = json_object_get(o, "value"),
                 *ts = json_object_get(o, "timestamp");
    const char *bad = NULL;
    if (!json_is_string(u) || !reco_log_valid_id(json_string_value(u), json_string_length(u)))
        bad = "user missing or not a valid ID";
    else if (!json_is_string(i) ||
             !reco_log_valid_id(json_string_value(i), json_string_length(i)))
        bad = "item missing or not a valid ID";
    else if (!json_is_string(t) || !json_string_length(t) ||
             json_string_length(t) > RECO_EVENT_TYPE_MAX)
        bad = "type missing or malformed";
    else if (v && !json_is_number(v))
        bad = "value not a number";
    else if (!json_is_integer(ts))
        bad = "timestamp missing or not an integer";
    if (bad)
        snprintf(why, cap, "event record: %s", bad);
    return bad != NULL;
}

/* One event into g's overlay (caller holds g->lock for writing): its
 * confidence under the model's event weights added to the user's entry for
 * the product; a model trained on ratings takes rating events as ratings.
 * An event the model cannot take (a type its weights do not know, a
 * rating outside its range: another variant's) is left out. 0 or -1. */
static int apply_event(generation *g, const char *user, size_t ulen, const char *item,
                       size_t ilen, const char *type, double value, int64_t ts)
{
    const reco_model *m = g->model;
    if (m->event_weights) {
        double conf = 0;
        reco_error e;
        if (reco_event_confidence(m->event_weights, type, value, m->rating_lo, m->rating_hi,
                                  &conf, &e) != RECO_OK || conf == 0)
            return 0;
        return apply_confidence(g, user, ulen, item, ilen, (float)conf, ts);
    }
    if (strcasecmp(type, RECO_EVENT_RATING) || !(value >= m->rating_lo && value <= m->rating_hi))
        return 0;
    return apply_rating(g, user, ulen, item, ilen, (float)value, ts);
}

static int apply_event_record(generation *g, const json_t *o)
{
    const json_t *u = json_object_get(o, "user"), *i = json_object_get(o, "item"),
                 *v = json_object_get(o, "value");
    return apply_event(g, json_string_value(u), json_string_length(u), json_string_value(i),
                       json_string_length(i), json_string_value(json_object_get(o, "type")),
                       v ? json_number_value(v) : NAN,
                       (int64_t)json_integer_value(json_object_get(o, "timestamp")));
}

/* What a replay into one generation collects. */
typedef struct replay_ctx {
    reco_service *s;
    generation *g;   /* its lock held for writing during the parse */
    json_t *items;   /* the #item records, applied together after the parse */
} replay_ctx;

static int replay_record(void *ctx, const char *kind, size_t kind_len, const char *payload,
                         size_t len, char *why, size_t cap)
{
    replay_ctx *rx = ctx;
    bool item = kind_len == sizeof ITEM_KIND - 1 && !memcmp(kind, ITEM_KIND, kind_len);
    bool event = kind_len == sizeof EVENT_KIND - 1 && !memcmp(kind, EVENT_KIND, kind_len);
    if (!item && !event)
        return 0; /* feedback, or a kind of a later version */
    json_error_t je;
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(why, cap, "malformed JSON at column %d: %s", je.column, je.text);
        return 1;
    }
    int r = item ? item_record_check(o, why, cap) : event_record_check(o, why, cap);
    if (r == 0 && item)
        r = json_array_append(rx->items, o) ? -1 : 0;
    else if (r == 0)
        r = apply_event_record(rx->g, o);
    json_decref(o);
    return r;
}

static reco_status replay_buf(reco_service *s, generation *g, const char *name, const char *buf,
                              size_t len, uint64_t first_line, bool skip_bad, uint64_t *lines,
                              uint64_t *applied, reco_error *err);

/* Replays the log's lines [from, to) (logical offsets; from_seq is the
 * number of the rating at from) into g, strictly unless skip_bad_log.
 * Adds the lines read (ratings and skipped) to *lines and the ratings to
 * *applied. */
static reco_status replay(reco_service *s, generation *g, const log_snap *sn, uint64_t from,
                          uint64_t from_seq, uint64_t to, uint64_t *lines, uint64_t *applied,
                          reco_error *err)
{
    if (to <= from)
        return RECO_OK;
    if (from < sn->h.offset || to > sn->end)
        return reco_error_set(err, RECO_ERR_IO,
                              "%s was compacted while it was being replayed: try again",
                              s->log_path);
    size_t len = (size_t)(to - from);
    char *buf = malloc(len);
    if (!buf)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory replaying %s (%zu bytes)",
                              s->log_path, len);
    if (reco_pread_exact(sn->fd, buf, len, sn->h.len + (from - sn->h.offset))) {
        free(buf);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
    }
    reco_status rc = replay_buf(s, g, s->log_path, buf, len, 2 + (from_seq - sn->h.seq),
                                s->opt.skip_bad_log, lines, applied, err);
    free(buf);
    return rc;
}

/* Replays log lines buf[0, len) (the first is line first_line of name)
 * into g. */
static reco_status replay_buf(reco_service *s, generation *g, const char *name, const char *buf,
                              size_t len, uint64_t first_line, bool skip_bad, uint64_t *lines,
                              uint64_t *applied, reco_error *err)
{
    reco_log_parse_opts o = {name, first_line, g->model->rating_lo, g->model->rating_hi,
                             skip_bad};
    reco_log_parse_report rep;
    replay_ctx rx = {s, g, json_array()};
    if (!rx.items)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_log_records recs = {replay_record, &rx};
    pthread_rwlock_wrlock(&g->lock);
    reco_status rc = reco_log_parse_records(buf, len, &o, replay_one, g, &recs, &rep, err);
    pthread_rwlock_unlock(&g->lock);
    /* The catalogue changes of the range, in one new snapshot. */
    if (rc == RECO_OK && json_array_size(rx.items))
        rc = gen_apply_items(g, rx.items, err);
    json_decref(rx.items);
    if (rc == RECO_ERR_PARSE && err) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used,
                 " (the model's rating range is %g to %g; --skip-bad-log skips bad lines and "
                 "counts them)", (double)g->model->rating_lo, (double)g->model->rating_hi);
    }
    if (rep.n_messages) {
        pthread_mutex_lock(&s->gen_mu);
        if (!s->first_bad[0])
            snprintf(s->first_bad, sizeof s->first_bad, "%s", rep.messages[0]);
        pthread_mutex_unlock(&s->gen_mu);
    }
    atomic_fetch_add(&s->bad_lines, rep.bad);
    *lines += rep.lines;
    *applied += rep.ratings;
    return rc;
}

/* One server per log: a write lock on a byte far past any log's end (an
 * open-file-description lock, which flock does not see), held as long as
 * the server has the file open. */
static int claim_log(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)1 << 62;
    fl.l_len = 1;
    return fcntl(fd, F_OFD_SETLK, &fl);
}

static int lock_ex(int fd)
{
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/* Under io, with the file locked: makes sure fd is the file at the log's
 * path and ends where the last batch ended, following a compaction (the
 * same log rewritten to start later and renamed into place: its lock was
 * held while it was made, so it ends where this server's log ends). 0, or
 * -1 with the reason in why. */
static int log_check_file(reco_service *s, char *why, size_t cap)
{
    ratings_log *l = &s->log;
    const char *path = s->log_path;
    for (int attempt = 0; attempt < 8; attempt++) {
        struct stat fs, ps;
        if (fstat(l->fd, &fs) != 0) {
            snprintf(why, cap, "%s: %s", path, strerror(errno));
            return -1;
        }
        if (stat(path, &ps) != 0) {
            snprintf(why, cap,
                     "%s: %s: the ratings log was moved or deleted while the server runs; put "
                     "it back (compact it with reco log compact, which the server follows)",
                     path, strerror(errno));
            return -1;
        }
        if (ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino) {
            uint64_t want = l->h.len + (l->end - l->h.offset);
            if ((uint64_t)fs.st_size != want) {
                snprintf(why, cap,
                         "%s was changed by another program: it is %lld bytes, this server left "
                         "it at %llu (another server on the same log? a rotation tool that "
                         "truncates?)", path, (long long)fs.st_size, (unsigned long long)want);
                return -1;
            }
            return 0;
        }
        int nfd = open(path, O_RDWR | O_CLOEXEC);
        if (nfd < 0) {
            snprintf(why, cap, "%s: %s", path, strerror(errno));
            return -1;
        }
        struct stat ns;
        if (lock_ex(nfd) || fstat(nfd, &ns) || stat(path, &ps) || ns.st_ino != ps.st_ino ||
            ns.st_dev != ps.st_dev) {
            close(nfd); /* replaced again meanwhile: look again */
            continue;
        }
        char hb[RECO_LOG_HEADER_MAX];
        reco_log_header nh;
        size_t n = (uint64_t)ns.st_size < sizeof hb ? (size_t)ns.st_size : sizeof hb;
        const char *wrong = NULL;
        if (reco_pread_exact(nfd, hb, n, 0) || reco_log_header_parse(hb, n, &nh) != 0)
            wrong = "it is not a reco ratings log";
        else if (nh.kind != RECO_LOG_KIND_LOG || strcmp(nh.id, l->h.id))
            wrong = "it is another log";
        else if (nh.offset > l->end || (uint64_t)ns.st_size != nh.len + (l->end - nh.offset))
            wrong = "it does not end where this server's log ends";
        if (!wrong && claim_log(nfd) != 0)
            wrong = "another reco serve has it open";
        if (wrong) {
            close(nfd);
            snprintf(why, cap,
                     "%s was replaced by another file (%s): put the server's log back (compact "
                     "the log with reco log compact, which the server follows)", path, wrong);
            return -1;
        }
        flock(l->fd, LOCK_UN); /* a reload's copy of the descriptor may keep it open */
        close(l->fd);
        l->fd = nfd;
        l->h = nh;
        return 0;
    }
    snprintf(why, cap, "%s kept being replaced", path);
    return -1;
}

/* Writes one batch at the durable end and fsyncs it; on failure cuts the
 * file back so that nothing of it stays. 0, or the errno with why. */
static int log_write_batch(reco_service *s, const char *batch, size_t blen, uint64_t lines,
                           int64_t *seq, reco_status *code, char *why, size_t cap)
{
    ratings_log *l = &s->log;
    *code = RECO_ERR_IO;
    if (s->store) {
        /* The store instead of the file: one transaction, acknowledged
         * only when COMMIT succeeded. */
        reco_error e;
        *code = pg_store_write(s->store, batch, blen, seq, &e);
        if (*code == RECO_OK)
            return 0;
        size_t n = strnlen(e.msg, cap - 1);
        memcpy(why, e.msg, n);
        why[n] = '\0';
        return EIO;
    }
    pthread_mutex_lock(&l->io);
    int e = 0;
    if (l->broken) {
        snprintf(why, cap,
                 "%s: a failed write could not be cut back, so the log takes no more ratings "
                 "until the server is restarted", s->log_path);
        pthread_mutex_unlock(&l->io);
        return EIO;
    }
    if (lock_ex(l->fd)) {
        e = errno;
        snprintf(why, cap, "%s: %s", s->log_path, strerror(e));
        pthread_mutex_unlock(&l->io);
        return e;
    }
    if (log_check_file(s, why, cap)) {
        flock(l->fd, LOCK_UN);
        pthread_mutex_unlock(&l->io);
        return EIO;
    }
    uint64_t pos = l->h.len + (l->end - l->h.offset);
    if (!e && reco_pwrite_full(l->fd, batch, blen, pos) != 0)
        e = errno ? errno : EIO;
    if (!e && s->opt.sync_hook)
        e = s->opt.sync_hook(s->opt.sync_hook_ctx);
    if (!e && fdatasync(l->fd) != 0)
        e = errno ? errno : EIO;
    if (e) {
        int n = snprintf(why, cap, "%s: %s", s->log_path, strerror(e));
        /* What the file may hold of the batch was never acknowledged. */
        if (ftruncate(l->fd, (off_t)pos) != 0) {
            l->broken = true;
            snprintf(why + n, n < (int)cap ? cap - (size_t)n : 0,
                     "; and the part written could not be cut off (%s), so the log takes no "
                     "more ratings until the server is restarted", strerror(errno));
        } else if (fsync(l->fd) != 0) {
            /* The size is right for every later write; only a crash before
             * the next sync could bring the cut part back. */
        }
    } else {
        l->end += blen;
        l->end_seq += lines;
    }
    flock(l->fd, LOCK_UN);
    pthread_mutex_unlock(&l->io);
    return e;
}

/* Appends text (`lines` lines) durably. Group commit: the first writer to
 * find no write running writes everything queued so far and fsyncs once
 * for all; the others wait for the batch that holds their lines, and learn
 * whether it failed. */
static reco_status log_append(reco_service *s, const char *text, size_t len, uint64_t lines,
                              int64_t *seq, reco_error *err)
{
    ratings_log *l = &s->log;
    waiter me;
    memset(&me, 0, sizeof me);
    pthread_mutex_lock(&l->mu);
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
    l->lines += lines;
    if (l->tail)
        l->tail->next = &me;
    else
        l->head = &me;
    l->tail = &me;
    while (!me.done) {
        if (l->flushing) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        l->flushing = true;
        char *batch = l->buf;
        size_t blen = l->len;
        uint64_t blines = l->lines;
        waiter *who = l->head;
        l->buf = NULL;
        l->len = l->cap = 0;
        l->lines = 0;
        l->head = l->tail = NULL;
        pthread_mutex_unlock(&l->mu);
        char why[sizeof me.msg];
        int64_t bseq = 0;
        reco_status code = RECO_OK;
        int e = log_write_batch(s, batch, blen, blines, &bseq, &code, why, sizeof why);
        free(batch);
        pthread_mutex_lock(&l->mu);
        l->fsyncs++;
        if (e) {
            l->write_errors++;
            if (!l->failing)
                l->failing_since = (int64_t)time(NULL);
            l->failing = true;
            l->last_check_ms = mono_ms();
            snprintf(l->failure, sizeof l->failure, "%s", why);
        } else {
            l->failing = false;
        }
        for (waiter *w = who; w; w = w->next) {
            w->err = e;
            w->code = code;
            w->seq = bseq;
            if (e)
                memcpy(w->msg, why, sizeof w->msg);
            w->done = true;
        }
        l->flushing = false;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (me.err)
        return reco_error_set(err, me.code ? me.code : RECO_ERR_IO, "%s", me.msg);
    if (seq)
        *seq = me.seq;
    return RECO_OK;
}

/* Opens the log (creating it only when asked), or refuses with what to do. */
static reco_status log_open(reco_service *s, reco_error *err)
{
    ratings_log *l = &s->log;
    /* The first variant whose model was trained with the log speaks for
     * all (each is checked against the log when it is replayed). */
    const variant *mv = &s->v[0];
    for (size_t k = 0; k < s->nv; k++)
        if (s->v[k].gen->model->log_point.id[0]) {
            mv = &s->v[k];
            break;
        }
    const reco_log_point *mp = &mv->gen->model->log_point;
    const char *path = s->log_path, *model_path = mv->model_path;
    bool rw = !s->opt.log_read_only;
    reco_log_file f;
    reco_status rc = rw ? reco_log_file_open_rw(path, &f, err) : reco_log_file_open(path, &f, err);
    if (rc == RECO_ERR_NOT_FOUND) {
        if (mp->id[0])
            return reco_error_set(err, RECO_ERR_NOT_FOUND,
                                  "%s does not exist, but %s was trained on ratings log %s up to "
                                  "rating #%llu, and the ratings acknowledged after that are in "
                                  "that log: put it back. If it is lost, `reco log init %s "
                                  "--model %s` starts an empty log that continues from the "
                                  "model's point.", path, model_path, mp->id,
                                  (unsigned long long)mp->seq, path, model_path);
        if (!s->opt.create_log || !rw)
            return reco_error_set(err, RECO_ERR_NOT_FOUND,
                                  "%s does not exist. A missing ratings log is not replaced by "
                                  "an empty one unasked, so that a log that was moved or lost is "
                                  "noticed: for a first start, create it (reco serve "
                                  "--create-ratings-log, or reco log init %s).", path, path);
        if ((rc = reco_log_create(path, NULL, NULL, err)))
            return rc;
        rc = reco_log_file_open_rw(path, &f, err);
    } else if (rc == RECO_ERR_FORMAT && rw && !mp->id[0]) {
        /* A log of an earlier reco: it gets a header. */
        reco_error uerr;
        reco_status urc = reco_log_upgrade(path, &uerr);
        if (urc == RECO_OK)
            rc = reco_log_file_open_rw(path, &f, err);
        else if (err)
            *err = uerr;
        if (urc)
            return urc;
    } else if (rc == RECO_ERR_FORMAT && mp->id[0] && err) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used, " (%s was trained on ratings log %s)",
                 model_path, mp->id);
    }
    if (rc)
        return rc;
    if (f.h.kind != RECO_LOG_KIND_LOG) {
        reco_log_file_close(&f);
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s is an archive of a ratings log (reco log compact), not a log",
                              path);
    }
    if (rw && claim_log(f.fd) != 0) {
        int e = errno;
        reco_log_file_close(&f);
        if (e == EAGAIN || e == EACCES)
            return reco_error_set(err, RECO_ERR_IO,
                                  "%s is in use by another reco serve: two servers cannot append "
                                  "to one log", path);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(e));
    }
    l->fd = f.fd;
    l->h = f.h;
    l->end = f.end_offset;
    s->log_open = true;
    return RECO_OK;
}

static reco_status replay_feedback(reco_service *s, const log_snap *sn, reco_error *err);

/* Replays the log into each variant's first generation, and its feedback
 * into the experiment's counts. */
static reco_status log_replay_start(reco_service *s, reco_error *err)
{
    log_snap sn;
    if (log_snapshot(s, &sn, err))
        return RECO_ERR_IO;
    reco_status rc = replay_feedback(s, &sn, err);
    uint64_t applied0 = 0;
    for (size_t k = 0; k < s->nv && rc == RECO_OK; k++) {
        variant *v = &s->v[k];
        uint64_t from = 0, from_seq = 0, lines = 0, applied = 0;
        rc = log_start_point(s, v->model_path, v->gen->model, &sn, &from, &from_seq, err);
        if (rc == RECO_OK)
            rc = replay(s, v->gen, &sn, from, from_seq, sn.end, &lines, &applied, err);
        if (rc)
            break;
        s->log.end_seq = from_seq + lines;
        v->replay_from = from;
        v->replay_from_seq = from_seq;
        if (k == 0)
            applied0 = applied;
    }
    close(sn.fd);
    if (rc)
        return rc;
    atomic_store(&s->replayed, applied0);
    return RECO_OK;
}

/* ---- the PostgreSQL store (--store) ---- */

/* With a store, nothing is applied by the request that wrote it: every
 * row, this process's and other replicas', is applied by store_follow, in
 * seq order, exactly once (store_applied only grows, under apply_mu). The
 * follower thread calls it on every notification and at least every
 * STORE_POLL_MS (a missed notification is caught up by the poll); a writer
 * calls it after its COMMIT, up to its own rows, before it answers, so that
 * a client reads its own write from the replica that took it. */

#define STORE_CHUNK 20000     /* rows read at a time */
#define STORE_POLL_MS 250     /* the follower reads at least this often */
#define STORE_STALE_MS 5000   /* health: no successful read for this long */

static reco_status feedback_buf(reco_service *s, const char *name, const char *buf, size_t len,
                                uint64_t first_line, bool skip_bad, reco_error *err);

/* Applies the store's rows (after, upto] (upto < 0: all there are) to
 * gens[0, n) in seq order, and counts their feedback when feedback.
 * strict: a row a model cannot take stops it (RECO_ERR_PARSE naming it);
 * else it is skipped and counted. *last: the seq up to which every row was
 * applied; *applied0 (may be NULL) gains the ratings applied to gens[0]. */
static reco_status store_apply(reco_service *s, generation *const *gens, size_t n, int64_t after,
                               int64_t upto, bool strict, bool feedback, int64_t *last,
                               uint64_t *applied0, reco_error *err)
{
    char *text = NULL;
    size_t cap = 0;
    *last = after;
    reco_status rc = RECO_OK;
    const char *name = pg_store_name(s->store);
    for (;;) {
        size_t len = 0, rows = 0;
        int64_t end = *last;
        rc = pg_store_read(s->store, *last, upto, STORE_CHUNK, &text, &len, &cap, &rows, &end,
                           err);
        if (rc || rows == 0)
            break;
        for (size_t k = 0; k < n && rc == RECO_OK; k++) {
            uint64_t lines = 0, applied = 0;
            rc = replay_buf(s, gens[k], name, text, len, 1, !strict, &lines, &applied, err);
            if (k == 0 && applied0)
                *applied0 += applied;
        }
        if (rc == RECO_OK && feedback)
            rc = feedback_buf(s, name, text, len, 1, !strict, err);
        if (rc)
            break;
        *last = end;
        atomic_fetch_add(&s->store_rows, rows);
        if (rows < STORE_CHUNK)
            break;
    }
    free(text);
    return rc;
}

/* Applies every row after store_applied to every variant's generation,
 * unless target >= 0 and they are applied up to target already. */
static reco_status store_follow(reco_service *s, int64_t target, reco_error *err)
{
    reco_status rc = RECO_OK;
    pthread_mutex_lock(&s->apply_mu);
    if (target < 0 || s->store_applied < target) {
        generation *gens[RECO_VARIANTS_MAX];
        for (size_t k = 0; k < s->nv; k++)
            gens[k] = acquire_gen(s, &s->v[k]);
        int64_t last = s->store_applied;
        rc = store_apply(s, gens, s->nv, s->store_applied, -1, false, true, &last, NULL, err);
        s->store_applied = last;
        atomic_store(&s->store_applied_pub, last);
        for (size_t k = 0; k < s->nv; k++)
            generation_release(gens[k]);
    }
    pthread_mutex_unlock(&s->apply_mu);
    pthread_mutex_lock(&s->follow_err_mu);
    if (rc) {
        atomic_fetch_add(&s->store_follow_errors, 1);
        snprintf(s->follow_err, sizeof s->follow_err, "%s", err ? err->msg : "");
    } else {
        s->follow_err[0] = '\0';
        atomic_store(&s->store_followed_ms, mono_ms());
    }
    pthread_mutex_unlock(&s->follow_err_mu);
    return rc;
}

/* After a write to the store: its rows (up to seq) applied here before the
 * answer. A failure to read them back does not undo the acknowledgement:
 * they are committed, and the follower applies them when it can. */
static void store_catch_up(reco_service *s, int64_t seq)
{
    reco_error e;
    store_follow(s, seq, &e);
}

static void *store_follower(void *arg)
{
    reco_service *s = arg;
    while (!atomic_load(&s->stopping)) {
        pg_store_wait(s->store, STORE_POLL_MS);
        if (atomic_load(&s->stopping))
            break;
        pg_store_probe(s->store);
        reco_error e;
        store_follow(s, -1, &e);
    }
    return NULL;
}

/* Opens the store, replays every row into each variant's first
 * generation (and counts the feedback), and starts the follower. */
static reco_status store_start(reco_service *s, reco_error *err)
{
    reco_status rc = pg_store_open(s->opt.store, &s->store, err);
    if (rc)
        return rc;
    generation *gens[RECO_VARIANTS_MAX];
    for (size_t k = 0; k < s->nv; k++)
        gens[k] = s->v[k].gen;
    uint64_t applied0 = 0;
    int64_t last = 0;
    rc = store_apply(s, gens, s->nv, 0, -1, !s->opt.skip_bad_log, true, &last, &applied0, err);
    if (rc)
        return rc;
    s->store_applied = last;
    atomic_store(&s->store_applied_pub, last);
    atomic_store(&s->replayed, applied0);
    atomic_store(&s->store_followed_ms, mono_ms());
    if (pthread_create(&s->follower, NULL, store_follower, s) != 0)
        return reco_error_set(err, RECO_ERR_NOMEM, "cannot start the thread that follows %s",
                              pg_store_name(s->store));
    s->follower_started = true;
    return RECO_OK;
}

reco_status reco_service_open(const reco_service_options *opt, reco_service **out,
                              reco_error *err)
{
    *out = NULL;
    if (!opt->model_path && !opt->n_variants)
        return reco_error_set(err, RECO_ERR_INVALID, "no model file given");
    reco_service *s = calloc(1, sizeof *s);
    if (!s)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    s->opt = *opt;
    if (!s->opt.max_n)
        s->opt.max_n = 1000;
    if (!s->opt.max_batch)
        s->opt.max_batch = 10000;
    s->log_path = opt->ratings_log ? strdup(opt->ratings_log) : NULL;
    s->log.fd = -1;
    pthread_mutex_init(&s->log.io, NULL);
    pthread_mutex_init(&s->log.mu, NULL);
    pthread_cond_init(&s->log.cv, NULL);
    pthread_mutex_init(&s->follow_err_mu, NULL);
    pthread_mutex_init(&s->gen_mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    pthread_mutex_init(&s->apply_mu, NULL);
    pthread_mutex_init(&s->file_mu, NULL);
    reco_status rc = variants_init(s, opt, err);
    if (rc)
        goto fail;
    s->opt.variants = NULL; /* the caller's; the service keeps its own copy */
    for (size_t k = 0; k < s->nv; k++) {
        variant *v = &s->v[k];
        if ((rc = generation_new(v->model_path, &v->gen, err)))
            goto fail;
        if (!s->opt.map_model) {
            v->copying = acquire_gen(s, v);
            v->copier_started = pthread_create(&v->copier, NULL, copy_model, v) == 0;
            if (!v->copier_started)
                copy_model(v); /* no thread to spare: copy now */
        }
    }
    if (opt->store && opt->ratings_log) {
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "give either a ratings log or a store, not both (%s and %s)",
                            opt->ratings_log, opt->store);
        goto fail;
    }
    if (opt->store && opt->log_read_only) {
        rc = reco_error_set(err, RECO_ERR_INVALID, "a store cannot be opened read-only");
        goto fail;
    }
    if (s->log_path) {
        s->has_log = true;
        if ((rc = log_open(s, err)) || (rc = log_replay_start(s, err)))
            goto fail;
    } else if (opt->store && (rc = store_start(s, err))) {
        goto fail;
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
    for (size_t k = 0; k < s->nv; k++)
        if (s->v[k].copier_started)
            pthread_join(s->v[k].copier, NULL);
    scratch_release_current();
    if (s->follower_started) {
        atomic_store(&s->stopping, true);
        pthread_join(s->follower, NULL);
    }
    pg_store_free(s->store);
    if (s->log_open) {
        if (writable(s))
            fdatasync(s->log.fd);
        close(s->log.fd);
    }
    pthread_mutex_destroy(&s->log.io);
    pthread_mutex_destroy(&s->log.mu);
    pthread_cond_destroy(&s->log.cv);
    pthread_mutex_destroy(&s->follow_err_mu);
    free(s->log.buf);
    for (size_t k = 0; k < s->nv; k++) {
        generation_release(s->v[k].gen);
        free(s->v[k].model_path);
        free(s->v[k].seen);
    }
    free(s->v);
    pthread_mutex_destroy(&s->gen_mu);
    pthread_mutex_destroy(&s->reload_mu);
    pthread_mutex_destroy(&s->apply_mu);
    pthread_mutex_destroy(&s->file_mu);
    free(s->log_path);
    free(s);
}

/* Per-thread scratch for scoring and for similar products, reused across
 * requests; freed by the key's destructor when a server thread exits. The
 * similar-products scratch is zero between calls (reco_model_similar
 * leaves it so). */
typedef struct scratch_buf {
    void *p;
    size_t cap;
    void *sim;
    size_t sim_cap;
} scratch_buf;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *arg)
{
    scratch_buf *b = arg;
    free(b->p);
    free(b->sim);
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

/* The calling thread's scratch for reco_model_similar (NULL: the call
 * allocates its own). */
static void *similar_scratch_for(const reco_model *m)
{
    pthread_once(&scratch_once, scratch_key_init);
    scratch_buf *b = pthread_getspecific(scratch_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return NULL;
        pthread_setspecific(scratch_key, b);
    }
    size_t need = reco_model_similar_scratch_size(m);
    if (need > b->sim_cap) {
        free(b->sim);
        b->sim = calloc(1, need);
        b->sim_cap = b->sim ? need : 0;
    }
    return b->sim;
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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The model's indices of ids[0..n) into out (ascending; those the model
 * does not know are counted in *unknown and left out); the count. */
static reco_status rule_ids(const generation *g, const char *what, const char *const *ids,
                            size_t n, uint32_t *out, size_t *n_out, size_t *unknown,
                            reco_error *err)
{
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        size_t len = strlen(ids[j]);
        if (!reco_service_valid_id(ids[j], len))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "%s: product ID must be 1 to 255 bytes of UTF-8 without "
                                  "control characters", what);
        int64_t i = reco_idmap_find(g->train->items, ids[j], len);
        if (i < 0 || (uint64_t)i >= g->n_items)
            (*unknown)++;
        else
            out[k++] = (uint32_t)i;
    }
    qsort(out, k, sizeof *out, cmp_u32);
    *n_out = k;
    return RECO_OK;
}

reco_status reco_service_recommend(reco_service *s, const char *user, size_t n,
                                   bool exclude_rated, json_t **out, reco_error *err)
{
    return reco_service_recommend_rules(s, user, n, exclude_rated, NULL, out, err);
}

/* The rules' filter for g's model with the catalogue cs (may be NULL)
 * into f: the catalogue's pieces (hidden products unless
 * include_unavailable, categories, the cap) and the request's exclude and
 * include lists as indices into *idx (free it). *unknown counts the IDs
 * the model does not know; unknown_cat[k] (room for n_categories) says
 * which paths the catalogue does not hold; *all_unknown is set when paths
 * were given and none is known (the list must then be empty). */
static reco_status rules_filter(const generation *g, const cat_snap *cs,
                                const reco_service_rules *rules, reco_item_filter *f,
                                reco_category_range *ranges, bool *unknown_cat, uint32_t **idx,
                                size_t *unknown, bool *all_unknown, reco_error *err)
{
    memset(f, 0, sizeof *f);
    *idx = NULL;
    *unknown = 0;
    *all_unknown = false;
    size_t nr = 0;
    if (rules) {
        for (size_t k = 0; k < rules->n_categories; k++) {
            size_t len = strlen(rules->categories[k]);
            if (len > RECO_CATALOGUE_PATH_MAX || !reco_service_valid_id(rules->categories[k], len))
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "category: a path must be 1 to %d bytes of UTF-8 without "
                                      "control characters, such as Electronics/Audio",
                                      RECO_CATALOGUE_PATH_MAX);
            unknown_cat[k] = true;
        }
        if (cs && rules->n_categories)
            reco_catalogue_ranges(cs->cat, rules->categories, rules->n_categories, ranges, &nr,
                                  unknown_cat);
        *all_unknown = rules->n_categories && !nr;
        if (rules->max_per_category && !(cs && reco_catalogue_n_categories(cs->cat)))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "max_per_category needs product categories, and the model has "
                                  "none (train it with a catalogue: reco train --items)");
    }
    if (cs) {
        reco_catalogue_view_filter(cs->view, rules && rules->include_unavailable, ranges, nr, f);
        f->walks = cs->walks;
        f->n_walks = cs->n_walks;
    }
    if (!rules)
        return RECO_OK;
    f->max_per_category = rules->max_per_category;
    *idx = malloc((rules->n_exclude + rules->n_include + 1) * sizeof **idx);
    if (!*idx)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_status rc = rule_ids(g, "exclude", rules->exclude, rules->n_exclude, *idx,
                              &f->n_exclude, unknown, err);
    f->exclude = *idx;
    if (!rc && rules->has_include) {
        f->include = *idx + f->n_exclude;
        rc = rule_ids(g, "include", rules->include, rules->n_include, *idx + f->n_exclude,
                      &f->n_include, unknown, err);
    }
    return rc;
}

/* A filter for many lists (the batch export): the control variant's
 * generation and catalogue snapshot are held until it is freed, so the
 * arrays the filter points into stay put. */
struct reco_service_filter {
    generation *g;
    cat_snap *cs;
    reco_item_filter f;
    reco_category_range *ranges;
    bool *unknown_cat;
    uint32_t *idx;
    uint32_t nothing; /* the empty allow-list when no category is known */
    size_t unknown;
};

void reco_service_filter_free(reco_service_filter *sf)
{
    if (!sf)
        return;
    cat_snap_release(sf->cs);
    if (sf->g)
        generation_release(sf->g);
    free(sf->ranges);
    free(sf->unknown_cat);
    free(sf->idx);
    free(sf);
}

reco_status reco_service_filter_new(reco_service *s, const reco_service_rules *rules,
                                    reco_service_filter **out, reco_error *err)
{
    *out = NULL;
    size_t ncat = rules ? rules->n_categories : 0;
    reco_service_filter *sf = calloc(1, sizeof *sf);
    if (sf) {
        sf->ranges = malloc((ncat + 1) * sizeof *sf->ranges);
        sf->unknown_cat = calloc(ncat + 1, sizeof *sf->unknown_cat);
    }
    if (!sf || !sf->ranges || !sf->unknown_cat) {
        reco_service_filter_free(sf);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    sf->g = acquire(s, &s->v[0]);
    pthread_rwlock_rdlock(&sf->g->lock);
    sf->cs = sf->g->cat;
    if (sf->cs)
        atomic_fetch_add(&sf->cs->refs, 1);
    pthread_rwlock_unlock(&sf->g->lock);
    bool all_unknown = false;
    reco_status rc = rules_filter(sf->g, sf->cs, rules, &sf->f, sf->ranges, sf->unknown_cat,
                                  &sf->idx, &sf->unknown, &all_unknown, err);
    if (rc) {
        reco_service_filter_free(sf);
        return rc;
    }
    if (all_unknown) { /* nothing passes */
        sf->f.include = &sf->nothing;
        sf->f.n_include = 0;
    }
    *out = sf;
    return RECO_OK;
}

const reco_model *reco_service_filter_model(const reco_service_filter *sf)
{
    return sf->g->model;
}

const reco_item_filter *reco_service_filter_rules(const reco_service_filter *sf)
{
    return reco_item_filter_is_empty(&sf->f) ? NULL : &sf->f;
}

size_t reco_service_filter_unknown_items(const reco_service_filter *sf)
{
    return sf->unknown;
}

bool reco_service_filter_unknown_category(const reco_service_filter *sf, size_t k)
{
    return sf->unknown_cat[k];
}

/* What an answer under rules says about them: "requested", "found",
 * "unknown_items", "unknown_categories" (paths the catalogue lacks) and,
 * when no path given is known, "reason". Nonzero when out of memory. */
static int add_rules_fields(json_t *out, const reco_service_rules *rules, size_t n, size_t got,
                            size_t unknown, const bool *unknown_cat, bool all_unknown,
                            const cat_snap *cs)
{
    int oom = json_object_set_new(out, "requested", json_integer((json_int_t)n)) ||
              json_object_set_new(out, "found", json_integer((json_int_t)got)) ||
              json_object_set_new(out, "unknown_items", json_integer((json_int_t)unknown));
    json_t *unk = NULL;
    for (size_t k = 0; k < rules->n_categories; k++)
        if (unknown_cat[k]) {
            if (!unk)
                unk = json_array();
            oom |= json_array_append_new(unk, json_string(rules->categories[k])) != 0;
        }
    if (unk)
        oom |= json_object_set_new(out, "unknown_categories", unk) != 0;
    if (all_unknown)
        oom |= json_object_set_new(out, "reason",
                                   json_string(cs ? "no category given is in the catalogue, so "
                                                    "no product passes the rules"
                                                  : "the model has no catalogue, so no product "
                                                    "is in a category")) != 0;
    return oom;
}

static reco_status recommend_in(reco_service *s, variant *forced, const char *user, size_t n,
                                bool exclude_rated, const reco_service_rules *rules,
                                json_t **out, reco_error *err);

reco_status reco_service_recommend_rules(reco_service *s, const char *user, size_t n,
                                         bool exclude_rated, const reco_service_rules *rules,
                                         json_t **out, reco_error *err)
{
    return recommend_in(s, NULL, user, n, exclude_rated, rules, out, err);
}

/* forced: the variant to ask (outside the experiment: the list is not
 * counted and has no recommendation_id); NULL: the user's own. */
static reco_status recommend_in(reco_service *s, variant *forced, const char *user, size_t n,
                                bool exclude_rated, const reco_service_rules *rules,
                                json_t **out, reco_error *err)
{
    *out = NULL;
    size_t ulen = strlen(user);
    if (!reco_service_valid_id(user, ulen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "user ID must be 1 to 255 bytes of UTF-8 without control characters");
    reco_status rc = check_n(s, n, err);
    if (rc)
        return rc;
    size_t ncat = rules ? rules->n_categories : 0;
    reco_category_range *ranges = malloc((ncat + 1) * sizeof *ranges);
    bool *unknown_cat = calloc(ncat + 1, sizeof *unknown_cat);
    reco_scored *top = malloc(n * sizeof *top);
    if (!ranges || !unknown_cat || !top) {
        free(ranges);
        free(unknown_cat);
        free(top);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    variant *v = forced ? forced : variant_of(s, user, ulen);
    generation *g = acquire(s, v);
    const reco_model *m = g->model;
    merged mp;
    pthread_rwlock_rdlock(&g->lock);
    int64_t u = find_user(g, user, ulen);
    int mrc = merge_profile(g, u, &mp);
    cat_snap *cs = g->cat;
    if (cs)
        atomic_fetch_add(&cs->refs, 1);
    pthread_rwlock_unlock(&g->lock);
    if (mrc) {
        cat_snap_release(cs);
        free(ranges);
        free(unknown_cat);
        free(top);
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    size_t got = 0, unknown = 0;
    bool cold = false, all_unknown = false;
    void *scratch = scratch_for(m);
    reco_item_filter f;
    uint32_t *rule_idx = NULL;
    rc = rules_filter(g, cs, rules, &f, ranges, unknown_cat, &rule_idx, &unknown, &all_unknown,
                      err);
    if (!rc && all_unknown) /* nothing passes: the list is empty, with the reason */
        cold = mp.prof.n == 0;
    else if (!rc)
        rc = reco_model_recommend_filtered(m, &mp.prof, n, exclude_rated, &f, top, &got, &cold,
                                           scratch, err);
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
        bool oom = false;
        json_t *items = json_array();
        for (size_t k = 0; items && k < got; k++) {
            json_t *it = json_pack("{s:s,s:f}", "item", item_key(g, top[k].id), "score",
                                   (double)top[k].score);
            if (pred)
                oom |= json_object_set_new(it, "predicted_rating", reco_json_rating(pred[k])) != 0;
            if (nwhy && nwhy[k]) {
                json_t *b = json_array();
                for (size_t j = 0; j < nwhy[k]; j++)
                    json_array_append_new(b,
                                          json_string(item_key(g, why[k * BECAUSE_MAX + j])));
                oom |= json_object_set_new(it, "because", b) != 0;
            }
            oom |= add_catalogue_fields(cs, top[k].id, it) != 0;
            oom |= json_array_append_new(items, it) != 0;
        }
        *out = json_pack("{s:s,s:s,s:s,s:o,s:b}", "user", user, "algorithm", m->ops->name,
                         "score_kind", reco_model_score_kind(m, cold), "items", items,
                         "cold_start", cold);
        if (*out && rules)
            oom |= add_rules_fields(*out, rules, n, got, unknown, unknown_cat, all_unknown, cs);
        if (*out && oom) {
            json_decref(*out);
            *out = NULL;
        }
        if (!*out || (forced ? json_object_set_new(*out, "variant", json_string(v->name))
                             : served_list(s, v, user, ulen, *out)))
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    cat_snap_release(cs);
    free(ranges);
    free(unknown_cat);
    free(rule_idx);
    free(ids);
    free(why);
    free(nwhy);
    free(pred);
    merged_free(&mp);
    free(top);
    generation_release(g);
    return rc;
}

/* Similar products for catalogue entry e, a product the model does not
 * know (no ratings): the popular available products of its category, then
 * of its parent categories, then overall, each naming its source. */
static reco_status cold_similar(const generation *g, const cat_snap *cs, uint32_t e,
                                const char *item, const reco_item_filter *rules, size_t n,
                                json_t **out, size_t *n_out, reco_error *err)
{
    *out = NULL;
    const reco_model *m = g->model;
    reco_cold_pick *p = malloc(n * sizeof *p);
    size_t got = 0;
    if (!p)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_status rc = reco_catalogue_cold_similar(cs->cat, cs->view, m->popular, e, rules, n, p,
                                                 &got, err);
    *n_out = got;
    const char *kind = reco_model_score_kind(m, true);
    json_t *items = rc ? NULL : json_array();
    bool fallback = false;
    for (size_t k = 0; items && k < got; k++) {
        json_t *it = json_pack("{s:s,s:f,s:s,s:s}", "item", item_key(g, p[k].item), "score",
                               (double)p[k].score, "source", reco_cold_source_name(p[k].source),
                               "score_kind", kind);
        if (p[k].category != RECO_NO_CATEGORY)
            json_object_set_new(it, "source_category",
                                json_string(reco_catalogue_category_path(cs->cat,
                                                                         p[k].category)));
        add_catalogue_fields(cs, p[k].item, it);
        fallback |= p[k].source != RECO_COLD_CATEGORY;
        json_array_append_new(items, it);
    }
    free(p);
    if (items) {
        *out = json_pack("{s:s,s:s,s:[sss],s:b,s:b,s:o}", "item", item, "algorithm",
                         m->ops->name, "chain", "category", "parent_category", "popular",
                         "fallback", fallback, "cold_start", true, "items", items);
        if (!*out)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    return rc;
}

reco_status reco_service_similar(reco_service *s, const char *item, size_t n, json_t **out,
                                 reco_error *err)
{
    return reco_service_similar_for(s, item, NULL, n, out, err);
}

reco_status reco_service_similar_for(reco_service *s, const char *item, const char *user,
                                     size_t n, json_t **out, reco_error *err)
{
    return reco_service_similar_rules(s, item, user, n, NULL, out, err);
}

reco_status reco_service_similar_rules(reco_service *s, const char *item, const char *user,
                                       size_t n, const reco_service_rules *rules, json_t **out,
                                       reco_error *err)
{
    *out = NULL;
    size_t ulen = user ? strlen(user) : 0;
    if (user && !reco_service_valid_id(user, ulen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "user ID must be 1 to 255 bytes of UTF-8 without control characters");
    size_t ilen = strlen(item);
    if (!reco_service_valid_id(item, ilen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "item ID must be 1 to 255 bytes of UTF-8 without control characters");
    reco_status rc = check_n(s, n, err);
    if (rc)
        return rc;
    if (rules && rules->max_per_category)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "max_per_category applies to recommendations, not to similar "
                              "products");
    const size_t ncat = rules ? rules->n_categories : 0;
    reco_category_range *ranges = malloc((ncat + 1) * sizeof *ranges);
    bool *unknown_cat = calloc(ncat + 1, sizeof *unknown_cat);
    if (!ranges || !unknown_cat) {
        free(ranges);
        free(unknown_cat);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    variant *v = user ? variant_of(s, user, ulen) : &s->v[0];
    generation *g = acquire(s, v);
    const reco_model *m = g->model;
    int64_t i = reco_idmap_find(g->train->items, item, ilen);
    cat_snap *cs = cat_acquire(g);
    reco_item_filter f;
    uint32_t *rule_idx = NULL;
    size_t unknown = 0, got = 0;
    bool all_unknown = false;
    rc = rules_filter(g, cs, rules, &f, ranges, unknown_cat, &rule_idx, &unknown, &all_unknown,
                      err);
    uint32_t e = RECO_CATALOGUE_NONE;
    if (rc == RECO_OK && i < 0) {
        e = cs ? reco_catalogue_find(cs->cat, item, ilen) : RECO_CATALOGUE_NONE;
        if (e == RECO_CATALOGUE_NONE)
            rc = reco_error_set(err, RECO_ERR_NOT_FOUND, "unknown product \"%s\"", item);
        else if (!all_unknown)
            rc = cold_similar(g, cs, e, item, &f, n, out, &got, err);
    }
    reco_similar *top = rc == RECO_OK && i >= 0 ? malloc(n * sizeof *top) : NULL;
    if (rc == RECO_OK && i >= 0 && !top)
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (top && !all_unknown)
        rc = reco_model_similar_filtered(m, (uint32_t)i, n, &f, top, &got,
                                         similar_scratch_for(m), err);
    if (rc == RECO_OK && !*out) {
        /* A known product's list, or an empty one when no category given
         * is known. */
        reco_similar_source chain[RECO_SIMILAR_SOURCES];
        size_t nc = reco_model_similar_chain(m, chain);
        json_t *names = json_array();
        for (size_t c = 0; c < nc && i >= 0; c++)
            json_array_append_new(names, json_string(reco_similar_source_name(chain[c])));
        bool fallback = false;
        json_t *items = json_array();
        for (size_t k = 0; top && k < got; k++) {
            fallback |= top[k].source != chain[0];
            json_t *it = json_pack("{s:s,s:f,s:s,s:s}", "item", item_key(g, top[k].id), "score",
                                   (double)top[k].score, "source",
                                   reco_similar_source_name(top[k].source), "score_kind",
                                   reco_model_similar_score_kind(m, top[k].source));
            add_catalogue_fields(cs, top[k].id, it);
            json_array_append_new(items, it);
        }
        *out = json_pack("{s:s,s:s,s:o,s:b,s:o}", "item", item, "algorithm", m->ops->name,
                         "chain", names, "fallback", fallback, "items", items);
        if (*out && i < 0)
            json_object_set_new(*out, "cold_start", json_true());
    }
    if (rc == RECO_OK && (!*out ||
                          (rules && add_rules_fields(*out, rules, n, got, unknown, unknown_cat,
                                                     all_unknown, cs)) ||
                          served_list(s, v, user, ulen, *out))) {
        json_decref(*out);
        *out = NULL;
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    free(top);
    free(rule_idx);
    free(ranges);
    free(unknown_cat);
    cat_snap_release(cs);
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
    generation *g = acquire(s, variant_of(s, user, ulen));
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
    *out = json_pack("{s:s,s:s,s:o,s:s,s:b,s:b}", "user", user, "item", item, "prediction",
                     reco_json_rating(p), "source", by_model ? "model" : "baseline", "known_user",
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
    generation *g = acquire(s, variant_of(s, user, ulen));
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

static void human_bytes(uint64_t b, char *buf, size_t cap)
{
    const char *u[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, cap, "%llu bytes", (unsigned long long)b);
    else
        snprintf(buf, cap, "%.1f %s", v, u[i]);
}

/* The cap on the live overlay (max_live_bytes) for n new entries: it
 * holds for each variant's overlay (they hold the same entries, against
 * different models). */
static reco_status check_live_cap(reco_service *s, const reco_new_rating *r, size_t n,
                                  reco_error *err)
{
    generation *g;
    uint64_t need;
    for (size_t vk = 0; s->opt.max_live_bytes && vk < s->nv; vk++) {
        g = acquire(s, &s->v[vk]);
        pthread_rwlock_wrlock(&g->lock);
        need = 0;
        for (size_t k = 0; k < n; k++) {
            need += LIVE_BYTES_RATING;
            if (find_user(g, r[k].user, r[k].user_len) < 0)
                need += LIVE_BYTES_NEW_USER + 2 * (r[k].user_len + 1);
            if (find_item(g, r[k].item, r[k].item_len) < 0)
                need += LIVE_BYTES_NEW_ITEM + 2 * (r[k].item_len + 1);
        }
        uint64_t cur = live_bytes(g);
        bool over = cur + need > s->opt.max_live_bytes;
        g->refused = over;
        pthread_rwlock_unlock(&g->lock);
        generation_release(g);
        if (over) {
            atomic_fetch_add(&s->refused, n);
            char a[32], b[32];
            human_bytes(cur, a, sizeof a);
            human_bytes(s->opt.max_live_bytes, b, sizeof b);
            return reco_error_set(err, RECO_ERR_NOMEM,
                                  "the ratings that arrived since the model was trained take %s "
                                  "of the %s allowed (--max-live-bytes), and these would go "
                                  "over: retrain with the ratings log (reco train --ratings-log) "
                                  "and reload the model to make room", a, b);
        }
    }
    return RECO_OK;
}

reco_status reco_service_add_ratings(reco_service *s, const reco_new_rating *r, size_t n,
                                     json_t **out, reco_error *err)
{
    *out = NULL;
    if (!s->has_log && !s->store)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "this server takes no new ratings (start it with --ratings-log)");
    if (!writable(s))
        return reco_error_set(err, RECO_ERR_INVALID, "the ratings log is open read-only");
    if (n == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "no ratings given");
    if (n > s->opt.max_batch)
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "at most %zu ratings per request, got %zu",
                              s->opt.max_batch, n);
    /* The control's range: every variant's model takes what it takes. */
    generation *g = acquire(s, &s->v[0]);
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
        bytes += reco_log_line_max(r[k].user_len, r[k].item_len);
    }
    reco_status crc = check_live_cap(s, r, n, err);
    if (crc)
        return crc;
    char *text = malloc(bytes);
    if (!text)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    size_t len = 0;
    for (size_t k = 0; k < n; k++)
        len += reco_log_format_line(text + len, r[k].user, r[k].user_len, r[k].item,
                                    r[k].item_len, (float)r[k].rating,
                                    r[k].timestamp ? r[k].timestamp : now);
    int64_t seq = 0;
    reco_status rc = log_append(s, text, len, n, &seq, err);
    free(text);
    if (rc)
        return rc;
    atomic_fetch_add(&s->logged, n);
    if (s->store) /* applied with every other row, in seq order */
        store_catch_up(s, seq);
    /* Durable: now visible. apply_mu keeps a reload from swapping in a
     * generation that replayed the log before these lines were there
     * while they are applied to the old one. */
    pthread_mutex_lock(&s->apply_mu);
    for (size_t vk = 1; !s->store && vk < s->nv; vk++) {
        g = acquire(s, &s->v[vk]);
        pthread_rwlock_wrlock(&g->lock);
        for (size_t k = 0; k < n; k++)
            if (apply_rating(g, r[k].user, r[k].user_len, r[k].item, r[k].item_len,
                             (float)r[k].rating, r[k].timestamp ? r[k].timestamp : now) != 0)
                rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory applying ratings");
        pthread_rwlock_unlock(&g->lock);
        generation_release(g);
    }
    g = acquire(s, &s->v[0]);
    json_t *list = json_array();
    pthread_rwlock_wrlock(&g->lock);
    for (size_t k = 0; k < n; k++) {
        /* The float that was logged, so that replay gives the same. */
        if (!s->store && apply_rating(g, r[k].user, r[k].user_len, r[k].item, r[k].item_len,
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

/* A reload's new generation for one variant, before the swap. */
typedef struct staged {
    generation *g;
    uint64_t from, from_seq, lines, applied;
} staged;

/* Loads v's file again and replays the log up to sn's end into it. */
static reco_status stage_variant(reco_service *s, variant *v, const log_snap *sn, staged *st,
                                 reco_error *err)
{
    memset(st, 0, sizeof *st);
    reco_status rc = generation_new(v->model_path, &st->g, err);
    /* The private copy before the swap: the old model serves meanwhile. */
    if (rc == RECO_OK && !s->opt.map_model)
        rc = reco_mfile_make_private(st->g->model->file, err);
    if (rc == RECO_OK)
        rc = reco_model_prepare_similar(st->g->model, err);
    if (rc == RECO_OK && s->has_log &&
        ((rc = log_start_point(s, v->model_path, st->g->model, sn, &st->from, &st->from_seq,
                               err)) == RECO_OK))
        rc = replay(s, st->g, sn, st->from, st->from_seq, sn->end, &st->lines, &st->applied,
                    err);
    return rc;
}

/* The store's rows (after, upto] into the staged generations. */
static reco_status store_stage(reco_service *s, staged *st, int64_t after, int64_t upto,
                               reco_error *err)
{
    if (upto <= after)
        return RECO_OK;
    generation *gens[RECO_VARIANTS_MAX];
    for (size_t k = 0; k < s->nv; k++)
        gens[k] = st[k].g;
    int64_t last = after;
    reco_status rc = store_apply(s, gens, s->nv, after, upto, !s->opt.skip_bad_log, false, &last,
                                 &st[0].applied, err);
    return rc;
}

reco_status reco_service_reload(reco_service *s, reco_error *err)
{
    pthread_mutex_lock(&s->reload_mu);
    staged *st = calloc(s->nv, sizeof *st);
    reco_status rc = st ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    /* Every variant's file, or none: most of the log is replayed without
     * blocking writers, the rest under apply_mu so that no acknowledged
     * rating is missed. */
    log_snap sn = {-1, {0}, 0}, sn2 = {-1, {0}, 0};
    if (rc == RECO_OK && s->has_log && log_snapshot(s, &sn, err))
        rc = RECO_ERR_IO;
    for (size_t k = 0; rc == RECO_OK && k < s->nv; k++)
        rc = stage_variant(s, &s->v[k], &sn, &st[k], err);
    /* A store: every row up to what the serving generations hold, most of
     * them before apply_mu, the rest under it. */
    int64_t upto = atomic_load(&s->store_applied_pub);
    if (rc == RECO_OK && s->store)
        rc = store_stage(s, st, 0, upto, err);
    if (rc == RECO_OK) {
        pthread_mutex_lock(&s->apply_mu);
        if (s->has_log && log_snapshot(s, &sn2, err))
            rc = RECO_ERR_IO;
        for (size_t k = 0; rc == RECO_OK && s->has_log && k < s->nv; k++)
            rc = replay(s, st[k].g, &sn2, sn.end, st[k].from_seq + st[k].lines, sn2.end,
                        &st[k].lines, &st[k].applied, err);
        if (rc == RECO_OK && s->store)
            rc = store_stage(s, st, upto, s->store_applied, err);
        if (rc == RECO_OK) {
            pthread_mutex_lock(&s->gen_mu);
            for (size_t k = 0; k < s->nv; k++) {
                generation *old = s->v[k].gen;
                s->v[k].gen = st[k].g;
                s->v[k].replay_from = st[k].from;
                s->v[k].replay_from_seq = st[k].from_seq;
                st[k].g = old; /* freed when its last in-flight request releases it */
            }
            pthread_mutex_unlock(&s->gen_mu);
            atomic_store(&s->replayed, st[0].applied);
        }
        pthread_mutex_unlock(&s->apply_mu);
    }
    if (sn.fd >= 0)
        close(sn.fd);
    if (sn2.fd >= 0)
        close(sn2.fd);
    for (size_t k = 0; st && k < s->nv; k++)
        generation_release(st[k].g);
    free(st);
    if (rc)
        atomic_fetch_add(&s->reload_failures, 1);
    else
        atomic_fetch_add(&s->reloads, 1);
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

json_t *reco_service_model_info(reco_service *s)
{
    return variant_info(s, &s->v[0]);
}

static json_t *variant_info(reco_service *s, variant *v)
{
    generation *g = acquire(s, v);
    const reco_model *m = g->model;
    char params[2048] = "";
    if (m->ops->params_format)
        m->ops->params_format(m->params, params, sizeof params);
    pthread_rwlock_rdlock(&g->lock);
    uint64_t live = g->live_ratings, lusers = g->live_users;
    pthread_rwlock_unlock(&g->lock);
    json_t *o = json_pack("{s:s,s:o,s:I,s:I,s:I,s:I,s:s,s:I,s:I,s:o,s:I,s:I,s:f,s:f}",
                          "algorithm", m->ops->name, "params", reco_json_params(params), "users",
                          (json_int_t)g->n_users, "items", (json_int_t)g->n_items, "ratings",
                          (json_int_t)reco_dataset_nnz(g->train), "trained_at",
                          (json_int_t)m->trained_at, "file", v->model_path, "file_bytes",
                          (json_int_t)reco_mfile_size(m->file), "loaded_at",
                          (json_int_t)g->loaded_at, "fit_seconds", reco_json_real(m->fit_seconds),
                          "live_ratings", (json_int_t)live, "live_users", (json_int_t)lusers,
                          "rating_min", (double)m->rating_lo, "rating_max", (double)m->rating_hi);
    if (o)
        json_object_set_new(o, "train_rmse", reco_json_real(m->train_rmse));
    const reco_default_choice *ch = reco_default_choice_of(m);
    if (o && ch)
        json_object_set_new(o, "ranker", reco_default_choice_json(ch));
    if (o && m->catalogue)
        json_object_set_new(o, "catalogue",
                            json_pack("{s:I,s:I,s:I}", "products",
                                      (json_int_t)reco_catalogue_size(m->catalogue), "categories",
                                      (json_int_t)reco_catalogue_n_categories(m->catalogue),
                                      "unavailable",
                                      (json_int_t)reco_catalogue_n_unavailable(m->catalogue)));
    if (o && s->has_log) {
        /* Where the log stands and how much of it the model holds. */
        pthread_mutex_lock(&s->log.io);
        json_t *lg = json_pack("{s:s,s:s,s:I,s:I}", "file", s->log_path, "id", s->log.h.id,
                               "first_rating", (json_int_t)s->log.h.seq, "end_rating",
                               (json_int_t)s->log.end_seq);
        pthread_mutex_unlock(&s->log.io);
        pthread_mutex_lock(&s->gen_mu);
        uint64_t from_seq = v->replay_from_seq;
        pthread_mutex_unlock(&s->gen_mu);
        if (lg) {
            json_object_set_new(lg, "model_covers", m->log_point.id[0]
                                                        ? json_integer((json_int_t)m->log_point.seq)
                                                        : json_null());
            json_object_set_new(lg, "replayed_from", json_integer((json_int_t)from_seq));
            json_object_set_new(o, "ratings_log", lg);
        }
    }
    generation_release(g);
    return o;
}

const struct reco_model *reco_service_model(reco_service *s)
{
    generation *g = acquire_gen(s, &s->v[0]);
    const reco_model *m = g->model;
    generation_release(g); /* the service keeps its own reference */
    return m;
}

json_t *reco_default_choice_json(const reco_default_choice *c)
{
    json_t *cands = json_array();
    for (uint32_t j = 0; cands && j < c->n && j < RECO_DEFAULT_MAX_CANDIDATES; j++) {
        json_t *e = json_pack("{s:s,s:o}", "name", c->cand[j].name, "value",
                              reco_json_real(c->cand[j].value));
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
                            reco_json_real(c->blend_value));
    }
    return o;
}

/* A check of a failing log, a second or more after the failure or the
 * last check: the file is in place and ends where it should, and it can
 * grow (room is reserved past its end and given back). */
static void log_probe(reco_service *s)
{
    ratings_log *l = &s->log;
    int64_t now = mono_ms();
    pthread_mutex_lock(&l->mu);
    bool due = l->failing && now - l->last_check_ms >= 1000;
    if (due)
        l->last_check_ms = now;
    uint64_t errors = l->write_errors;
    pthread_mutex_unlock(&l->mu);
    if (!due)
        return;
    char why[sizeof l->failure];
    bool ok = false;
    pthread_mutex_lock(&l->io);
    if (!l->broken && lock_ex(l->fd) == 0) {
        if (log_check_file(s, why, sizeof why) == 0) {
            off_t pos = (off_t)(l->h.len + (l->end - l->h.offset));
            int e = posix_fallocate(l->fd, pos, 4096);
            ok = ftruncate(l->fd, pos) == 0 && e == 0;
            if (ok && s->opt.sync_hook) /* a test's disk */
                ok = s->opt.sync_hook(s->opt.sync_hook_ctx) == 0;
        }
        flock(l->fd, LOCK_UN);
    }
    pthread_mutex_unlock(&l->io);
    pthread_mutex_lock(&l->mu);
    if (ok && l->write_errors == errors) /* no batch failed meanwhile */
        l->failing = false;
    pthread_mutex_unlock(&l->mu);
}

/* The store's problems into problems; its state as a new object. */
static json_t *store_health(reco_service *s, json_t *problems)
{
    pg_store_state ps;
    pg_store_get_state(s->store, &ps);
    if (ps.failing || !ps.writer_up)
        json_array_append_new(problems,
                              json_pack("{s:s,s:s,s:I,s:I}", "check", "store", "message",
                                        ps.failure[0] ? ps.failure : "not connected", "since",
                                        (json_int_t)ps.failing_since, "failed_writes",
                                        (json_int_t)ps.write_errors));
    int64_t age = mono_ms() - atomic_load(&s->store_followed_ms);
    if (age > STORE_STALE_MS) {
        char msg[RECO_ERROR_MSG_MAX + 64];
        pthread_mutex_lock(&s->follow_err_mu);
        snprintf(msg, sizeof msg, "new rows could not be read for %lld ms: %s", (long long)age,
                 s->follow_err[0] ? s->follow_err : "no answer");
        pthread_mutex_unlock(&s->follow_err_mu);
        json_array_append_new(problems, json_pack("{s:s,s:s}", "check", "store_follow",
                                                  "message", msg));
    }
    return json_pack("{s:s,s:b,s:I,s:I,s:I}", "table", pg_store_name(s->store), "connected",
                     ps.writer_up && ps.listener_up, "applied_seq",
                     (json_int_t)atomic_load(&s->store_applied_pub), "last_commit_seq",
                     (json_int_t)ps.last_commit_seq, "follow_age_ms", (json_int_t)age);
}

json_t *reco_service_health(reco_service *s, bool *healthy)
{
    json_t *problems = json_array();
    json_t *store = s->store ? store_health(s, problems) : NULL;
    if (writable(s) && !s->store) {
        log_probe(s);
        ratings_log *l = &s->log;
        pthread_mutex_lock(&l->mu);
        if (l->failing)
            json_array_append_new(problems,
                                  json_pack("{s:s,s:s,s:I,s:I}", "check", "ratings_log",
                                            "message", l->failure, "since",
                                            (json_int_t)l->failing_since, "failed_writes",
                                            (json_int_t)l->write_errors));
        pthread_mutex_unlock(&l->mu);
    }
    for (size_t vk = 0; s->opt.max_live_bytes && vk < s->nv; vk++) {
        generation *g = acquire(s, &s->v[vk]);
        pthread_rwlock_rdlock(&g->lock);
        bool full = g->refused;
        uint64_t used = live_bytes(g);
        pthread_rwlock_unlock(&g->lock);
        generation_release(g);
        if (full) {
            char a[32], b[32], msg[320];
            human_bytes(used, a, sizeof a);
            human_bytes(s->opt.max_live_bytes, b, sizeof b);
            snprintf(msg, sizeof msg,
                     "the ratings that arrived since the model was trained take %s of the %s "
                     "allowed (--max-live-bytes): new ratings are refused until the model is "
                     "retrained with the ratings log and reloaded", a, b);
            json_array_append_new(problems, json_pack("{s:s,s:s,s:I,s:I}", "check",
                                                      "live_ratings", "message", msg,
                                                      "live_bytes", (json_int_t)used,
                                                      "max_live_bytes",
                                                      (json_int_t)s->opt.max_live_bytes));
            break;
        }
    }
    bool ok = json_array_size(problems) == 0;
    if (healthy)
        *healthy = ok;
    json_t *o;
    if (ok) {
        json_decref(problems);
        o = json_pack("{s:s}", "status", "ok");
    } else {
        o = json_pack("{s:s,s:o}", "status", "degraded", "problems", problems);
    }
    if (o && store)
        json_object_set(o, "store", store);
    json_decref(store);
    return o;
}

void reco_service_get_stats(reco_service *s, reco_service_stats *st)
{
    memset(st, 0, sizeof *st);
    for (size_t k = 0; k < s->nv; k++) {
        check_model_file(s, &s->v[k], true);
        st->model_file_changes += atomic_load(&s->v[k].file_changes);
    }
    json_t *h = reco_service_health(s, &st->healthy);
    json_decref(h);
    generation *g = acquire_gen(s, &s->v[0]);
    st->model_bytes = reco_mfile_size(g->model->file);
    st->model_private = reco_mfile_is_private(g->model->file);
    st->trained_at = g->model->trained_at;
    st->loaded_at = g->loaded_at;
    pthread_rwlock_rdlock(&g->lock);
    st->live_ratings = g->live_ratings;
    st->live_users = g->live_users;
    st->live_bytes = live_bytes(g);
    pthread_rwlock_unlock(&g->lock);
    generation_release(g);
    st->max_live_bytes = s->opt.max_live_bytes;
    st->live_refused = atomic_load(&s->refused);
    st->ratings_logged = atomic_load(&s->logged);
    st->ratings_replayed = atomic_load(&s->replayed);
    st->reloads = atomic_load(&s->reloads);
    st->reload_failures = atomic_load(&s->reload_failures);
    st->log_bad_lines = atomic_load(&s->bad_lines);
    if (s->has_log) {
        pthread_mutex_lock(&s->log.mu);
        st->log_fsyncs = s->log.fsyncs;
        st->log_write_errors = s->log.write_errors;
        pthread_mutex_unlock(&s->log.mu);
        pthread_mutex_lock(&s->log.io);
        st->log_end = s->log.end;
        st->log_bytes = s->log.end - s->log.h.offset;
        pthread_mutex_unlock(&s->log.io);
        pthread_mutex_lock(&s->gen_mu);
        st->log_replay_from = s->v[0].replay_from;
        for (size_t k = 1; k < s->nv; k++)
            if (s->v[k].replay_from < st->log_replay_from)
                st->log_replay_from = s->v[k].replay_from;
        memcpy(st->log_first_bad_line, s->first_bad, sizeof st->log_first_bad_line);
        pthread_mutex_unlock(&s->gen_mu);
    }
    if (s->store) {
        pg_store_state ps;
        pg_store_get_state(s->store, &ps);
        st->store = true;
        st->store_connected = ps.writer_up && ps.listener_up;
        st->store_applied_seq = atomic_load(&s->store_applied_pub);
        st->store_last_commit_seq = ps.last_commit_seq;
        st->store_rows_applied = atomic_load(&s->store_rows);
        st->store_commits = ps.commits;
        st->store_write_errors = ps.write_errors;
        st->store_follow_errors = atomic_load(&s->store_follow_errors);
        st->store_follow_age_ms = mono_ms() - atomic_load(&s->store_followed_ms);
        pthread_mutex_lock(&s->gen_mu);
        memcpy(st->log_first_bad_line, s->first_bad, sizeof st->log_first_bad_line);
        pthread_mutex_unlock(&s->gen_mu);
    }
}

/* ---- feedback: records in the log, counted per variant ---- */

#define FEEDBACK_KIND "feedback"
#define Z95 1.959963984540054

bool reco_wilson(uint64_t k, uint64_t n, double z, double *lo, double *hi)
{
    *lo = *hi = 0;
    if (n == 0 || k > n)
        return false;
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double den = 1 + z2 / nn;
    double mid = (p + z2 / (2 * nn)) / den;
    double half = z / den * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    *lo = mid - half < 0 ? 0 : mid - half;
    *hi = mid + half > 1 ? 1 : mid + half;
    return true;
}

bool reco_newcombe(uint64_t k1, uint64_t n1, uint64_t k0, uint64_t n0, double z, double *lo,
                   double *hi)
{
    double l1, u1, l0, u0;
    *lo = *hi = 0;
    if (!reco_wilson(k1, n1, z, &l1, &u1) || !reco_wilson(k0, n0, z, &l0, &u0))
        return false;
    double p1 = (double)k1 / (double)n1, p0 = (double)k0 / (double)n0, d = p1 - p0;
    *lo = d - sqrt((p1 - l1) * (p1 - l1) + (u0 - p0) * (u0 - p0));
    *hi = d + sqrt((u1 - p1) * (u1 - p1) + (p0 - l0) * (p0 - l0));
    return true;
}

bool reco_recommendation_id_valid(const char *id, size_t len)
{
    if (len < 10 || len > 8 + 1 + 16 || id[8] != '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (i == 8)
            continue;
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

typedef enum feedback_type { FB_IMPRESSION, FB_CLICK, FB_PURCHASE, FB_NONE } feedback_type;

static const char *const FEEDBACK_TYPES[] = {"impression", "click", "purchase"};

static feedback_type feedback_type_of(const char *t)
{
    for (int k = 0; t && k < FB_NONE; k++)
        if (!strcmp(t, FEEDBACK_TYPES[k]))
            return (feedback_type)k;
    return FB_NONE;
}

static void count_feedback(variant *v, feedback_type t)
{
    atomic_uint_fast64_t *c = t == FB_IMPRESSION ? &v->impressions
                              : t == FB_CLICK    ? &v->clicks
                                                 : &v->purchases;
    atomic_fetch_add(c, 1);
}

/* A feedback record of the log: {"recommendation_id", "user", "item"?,
 * "type", "timestamp", "variant"}, checked as strictly as the writer
 * makes it. 0, 1 (bad: why) or -1. */
static int take_feedback(void *ctx, const char *kind, size_t kind_len, const char *payload,
                         size_t len, char *why, size_t cap)
{
    reco_service *s = ctx;
    if (kind_len != sizeof FEEDBACK_KIND - 1 || memcmp(kind, FEEDBACK_KIND, kind_len))
        return 0; /* another kind: not the experiment's */
    json_error_t je;
    json_t *o = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(why, cap, "malformed JSON at column %d: %s", je.column, je.text);
        return 1;
    }
    const json_t *rid = json_object_get(o, "recommendation_id"),
                 *user = json_object_get(o, "user"), *item = json_object_get(o, "item"),
                 *type = json_object_get(o, "type"), *ts = json_object_get(o, "timestamp"),
                 *var = json_object_get(o, "variant");
    feedback_type t = feedback_type_of(json_string_value(type));
    const char *bad = NULL;
    if (!json_is_string(rid) ||
        !reco_recommendation_id_valid(json_string_value(rid), json_string_length(rid)))
        bad = "recommendation_id missing or malformed";
    else if (!json_is_string(user) ||
             !reco_log_valid_id(json_string_value(user), json_string_length(user)))
        bad = "user missing or not a valid ID";
    else if (item && (!json_is_string(item) ||
                      !reco_log_valid_id(json_string_value(item), json_string_length(item))))
        bad = "item not a valid ID";
    else if (t == FB_NONE)
        bad = "type missing or not impression, click or purchase";
    else if (!json_is_integer(ts))
        bad = "timestamp missing or not an integer";
    else if (!json_is_string(var) || !valid_variant_name(json_string_value(var)))
        bad = "variant missing or not a variant name";
    if (bad) {
        snprintf(why, cap, "%s", bad);
        json_decref(o);
        return 1;
    }
    variant *v = variant_named(s, json_string_value(var), json_string_length(var));
    if (v) {
        count_feedback(v, t);
        seen_user(v, json_string_value(user), json_string_length(user));
    } else {
        atomic_fetch_add(&s->feedback_other, 1);
    }
    atomic_fetch_add(&s->feedback_replayed, 1);
    json_decref(o);
    return 0;
}

static reco_status feedback_buf(reco_service *s, const char *name, const char *buf, size_t len,
                                uint64_t first_line, bool skip_bad, reco_error *err);

/* Counts the feedback of the whole log file (from its start, not from a
 * model's point: the experiment is not the model's). Its ratings are
 * only checked for their form (their range is the models' business,
 * checked by the replay of each variant). */
/* Counts the feedback of s->opt.feedback_archive, the log's archive (sn:
 * the log), once at start. */
static reco_status archive_feedback(reco_service *s, const log_snap *sn, reco_error *err)
{
    const char *path = s->opt.feedback_archive;
    reco_log_file f;
    reco_status rc = reco_log_file_open(path, &f, err);
    if (rc)
        return rc;
    if (f.h.kind != RECO_LOG_KIND_ARCHIVE || strcmp(f.h.id, sn->h.id))
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%s: not an archive of the ratings log %s (log %s, %s %s)", path,
                            s->log_path, sn->h.id,
                            f.h.kind == RECO_LOG_KIND_ARCHIVE ? "archive of" : "a log", f.h.id);
    else if (f.end_offset != sn->h.offset)
        rc = reco_error_set(err, RECO_ERR_INVALID,
                            "%s ends at offset %llu but the log %s starts at %llu: a compaction "
                            "was cut short (rerun reco log compact) or this is an older archive",
                            path, (unsigned long long)f.end_offset, s->log_path,
                            (unsigned long long)sn->h.offset);
    size_t len = rc ? 0 : (size_t)(f.end_offset - f.h.offset);
    char *buf = len ? malloc(len) : NULL;
    if (len && !buf)
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory reading %s (%zu bytes)", path,
                            len);
    else if (len && reco_pread_exact(f.fd, buf, len, f.h.len))
        rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", path, strerror(errno));
    else if (len)
        rc = feedback_buf(s, path, buf, len, 2, s->opt.skip_bad_log, err);
    free(buf);
    reco_log_file_close(&f);
    return rc;
}

static reco_status replay_feedback(reco_service *s, const log_snap *sn, reco_error *err)
{
    if (s->opt.feedback_archive) {
        reco_status rc = archive_feedback(s, sn, err);
        if (rc)
            return rc;
    }
    uint64_t len64 = sn->end - sn->h.offset;
    if (len64 == 0)
        return RECO_OK;
    size_t len = (size_t)len64;
    char *buf = malloc(len);
    if (!buf)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory replaying %s (%zu bytes)",
                              s->log_path, len);
    if (reco_pread_exact(sn->fd, buf, len, sn->h.len)) {
        free(buf);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", s->log_path, strerror(errno));
    }
    reco_status rc = feedback_buf(s, s->log_path, buf, len, 2, s->opt.skip_bad_log, err);
    free(buf);
    return rc;
}

/* Counts the feedback records of log lines buf[0, len). */
static reco_status feedback_buf(reco_service *s, const char *name, const char *buf, size_t len,
                                uint64_t first_line, bool skip_bad, reco_error *err)
{
    reco_log_parse_opts o = {name, first_line, -HUGE_VAL, HUGE_VAL, skip_bad};
    reco_log_records recs = {take_feedback, s};
    reco_log_parse_report rep;
    reco_status rc = reco_log_parse_records(buf, len, &o, NULL, NULL, &recs, &rep, err);
    atomic_fetch_add(&s->bad_lines, rep.bad_records);
    if (rep.bad_records && rep.n_messages) {
        pthread_mutex_lock(&s->gen_mu);
        if (!s->first_bad[0])
            snprintf(s->first_bad, sizeof s->first_bad, "%s", rep.messages[0]);
        pthread_mutex_unlock(&s->gen_mu);
    }
    if (rc == RECO_ERR_PARSE && err) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used,
                 " (--skip-bad-log skips bad lines and counts them)");
    }
    return rc;
}

reco_status reco_service_add_feedback(reco_service *s, const reco_feedback *f, size_t n,
                                      json_t **out, reco_error *err)
{
    *out = NULL;
    if (!s->has_log && !s->store)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "this server takes no feedback (start it with --ratings-log: "
                              "feedback is kept in the ratings log)");
    if (!writable(s))
        return reco_error_set(err, RECO_ERR_INVALID, "the ratings log is open read-only");
    if (n == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "no feedback given");
    if (n > s->opt.max_batch)
        return reco_error_set(err, RECO_ERR_TOO_LARGE,
                              "at most %zu feedback entries per request, got %zu",
                              s->opt.max_batch, n);
    for (size_t k = 0; k < n; k++) {
        if (!f[k].recommendation_id ||
            !reco_recommendation_id_valid(f[k].recommendation_id, f[k].recommendation_id_len))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "feedback %zu: recommendation_id must be one this server "
                                  "hands out (8 hex digits, '-', 1 to 16 hex digits)", k);
        if (!f[k].user || !reco_service_valid_id(f[k].user, f[k].user_len))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "feedback %zu: user must be 1 to 255 bytes of UTF-8 without "
                                  "control characters", k);
        if (f[k].item && !reco_service_valid_id(f[k].item, f[k].item_len))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "feedback %zu: item must be 1 to 255 bytes of UTF-8 without "
                                  "control characters", k);
        if (feedback_type_of(f[k].type) == FB_NONE)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "feedback %zu: type must be impression, click or purchase", k);
        if (f[k].timestamp < 0)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "feedback %zu: timestamp must be 0 or more", k);
    }
    int64_t now = (int64_t)time(NULL);
    char *text = NULL;
    size_t len = 0, cap = 0;
    variant **who = malloc(n * sizeof *who);
    reco_status rc = who ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == RECO_OK; k++) {
        who[k] = variant_of(s, f[k].user, f[k].user_len);
        json_t *o = json_object();
        json_object_set_new(o, "recommendation_id",
                            json_stringn(f[k].recommendation_id, f[k].recommendation_id_len));
        json_object_set_new(o, "user", json_stringn(f[k].user, f[k].user_len));
        if (f[k].item)
            json_object_set_new(o, "item", json_stringn(f[k].item, f[k].item_len));
        json_object_set_new(o, "type", json_string(f[k].type));
        json_object_set_new(o, "timestamp",
                            json_integer((json_int_t)(f[k].timestamp ? f[k].timestamp : now)));
        json_object_set_new(o, "variant", json_string(who[k]->name));
        /* Compact and ASCII: one line, whatever the IDs hold. */
        char *payload = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        json_decref(o);
        size_t pl = payload ? strlen(payload) : 0, need = len + reco_log_record_max(pl);
        if (payload && need > cap) {
            size_t nc = cap ? cap * 2 : 4096;
            while (nc < need)
                nc *= 2;
            char *nt = realloc(text, nc);
            if (nt) {
                text = nt;
                cap = nc;
            }
        }
        if (!payload || need > cap)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        else
            len += reco_log_format_record(text + len, FEEDBACK_KIND, payload, pl);
        free(payload);
    }
    int64_t seq = 0;
    if (rc == RECO_OK)
        rc = log_append(s, text, len, n, &seq, err);
    free(text);
    if (rc) {
        free(who);
        return rc;
    }
    atomic_fetch_add(&s->feedback_logged, n);
    if (s->store) /* counted with every other row, in seq order */
        store_catch_up(s, seq);
    json_t *list = json_array();
    for (size_t k = 0; k < n; k++) {
        if (!s->store) {
            count_feedback(who[k], feedback_type_of(f[k].type));
            seen_user(who[k], f[k].user, f[k].user_len);
        }
        json_array_append_new(
            list, json_pack("{s:s%,s:s%,s:s,s:s}", "recommendation_id",
                            f[k].recommendation_id, f[k].recommendation_id_len, "user",
                            f[k].user, f[k].user_len, "type", f[k].type, "variant",
                            who[k]->name));
    }
    free(who);
    *out = json_pack("{s:I,s:o}", "accepted", (json_int_t)n, "feedback", list);
    return *out ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
}

/* A rate and its interval into o (nulls without a denominator). */
static void set_interval(json_t *o, const char *key, bool ok, double v, double lo, double hi)
{
    char k[48];
    json_object_set_new(o, key, ok ? json_real(v) : json_null());
    snprintf(k, sizeof k, "%s_low", key);
    json_object_set_new(o, k, ok ? json_real(lo) : json_null());
    snprintf(k, sizeof k, "%s_high", key);
    json_object_set_new(o, k, ok ? json_real(hi) : json_null());
}

json_t *reco_service_experiments(reco_service *s)
{
    json_t *list = json_array();
    uint64_t imp0 = atomic_load(&s->v[0].impressions), clk0 = atomic_load(&s->v[0].clicks);
    for (size_t k = 0; list && k < s->nv; k++) {
        variant *v = &s->v[k];
        json_t *info = variant_info(s, v);
        uint64_t imp = atomic_load(&v->impressions), clk = atomic_load(&v->clicks);
        json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:I}", "name", v->name, "file",
                              v->model_path, "algorithm",
                              info && json_string_value(json_object_get(info, "algorithm"))
                                  ? json_string_value(json_object_get(info, "algorithm"))
                                  : "unknown",
                              "share", v->share, "users_seen",
                              (json_int_t)llround(seen_estimate(v)), "lists_served",
                              (json_int_t)atomic_load(&v->lists), "impressions",
                              (json_int_t)imp, "clicks", (json_int_t)clk, "purchases",
                              (json_int_t)atomic_load(&v->purchases));
        json_decref(info);
        if (!o)
            continue;
        double lo, hi;
        bool ok = reco_wilson(clk, imp, Z95, &lo, &hi);
        set_interval(o, "ctr", ok, ok ? (double)clk / (double)imp : 0, lo, hi);
        ok = k > 0 && reco_newcombe(clk, imp, clk0, imp0, Z95, &lo, &hi);
        set_interval(o, "ctr_diff", ok,
                     ok ? (double)clk / (double)imp - (double)clk0 / (double)imp0 : 0, lo, hi);
        json_array_append_new(list, o);
    }
    return json_pack("{s:f,s:s,s:o,s:I}", "confidence", 0.95, "control", s->v[0].name,
                     "variants", list, "feedback_other",
                     (json_int_t)atomic_load(&s->feedback_other));
}

/* ---- the catalogue, live: #item records ---- */

/* Appends payloads (compact JSON objects) as `#KIND` records to text. */
static int add_record(char **text, size_t *len, size_t *cap, const char *kind, const json_t *o)
{
    /* Compact and ASCII: one line, whatever the IDs hold. */
    char *payload = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    if (!payload)
        return -1;
    size_t pl = strlen(payload), need = *len + reco_log_record_max(pl);
    if (need > *cap) {
        size_t nc = *cap ? *cap * 2 : 4096;
        while (nc < need)
            nc *= 2;
        char *nt = realloc(*text, nc);
        if (!nt) {
            free(payload);
            return -1;
        }
        *text = nt;
        *cap = nc;
    }
    *len += reco_log_format_record(*text + *len, kind, payload, pl);
    free(payload);
    return 0;
}

/* The #item record of a change: every field for a replacement, the given
 * ones for a partial change. */
static json_t *item_record(const reco_item_change *c, int64_t now)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new(o, "item", json_stringn(c->item, c->item_len));
    if (c->title || c->replace)
        bad |= json_object_set_new(o, "title", json_string(c->title ? c->title : ""));
    if (c->category || c->replace)
        bad |= json_object_set_new(o, "category", json_string(c->category ? c->category : ""));
    if (c->available >= 0 || c->replace)
        bad |= json_object_set_new(o, "available", json_boolean(c->available != 0));
    if (c->set_labels || c->replace) {
        json_t *l = json_object();
        for (size_t j = 0; l && c->set_labels && j < c->n_labels; j++)
            bad |= json_object_set_new(l, c->label_keys[j], json_string(c->label_values[j]));
        bad |= json_object_set_new(o, "labels", l);
    }
    bad |= json_object_set_new(o, "timestamp", json_integer((json_int_t)now));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The entry of item in g's catalogue cs (may be NULL), as
 * reco_service_item answers; NULL with *found false when neither knows it. */
static json_t *item_json(const generation *g, const cat_snap *cs, const char *item, size_t ilen,
                         bool *found)
{
    int64_t i = reco_idmap_find(g->train->items, item, ilen);
    uint32_t e = cs ? reco_catalogue_find(cs->cat, item, ilen) : RECO_CATALOGUE_NONE;
    *found = i >= 0 || e != RECO_CATALOGUE_NONE;
    if (!*found)
        return NULL;
    uint64_t ratings = 0;
    if (i >= 0 && (uint64_t)i < g->n_items)
        ratings = g->train->by_item.ptr[i + 1] - g->train->by_item.ptr[i];
    json_t *o = json_pack("{s:s%,s:b}", "item", item, ilen, "in_catalogue",
                          e != RECO_CATALOGUE_NONE);
    if (!o)
        return NULL;
    json_t *labels = json_object();
    bool available = true;
    if (e != RECO_CATALOGUE_NONE) {
        reco_catalogue_entry en;
        reco_catalogue_entry_get(cs->cat, e, &en);
        if (en.title)
            json_object_set_new(o, "title", json_string(en.title));
        if (en.category_path)
            json_object_set_new(o, "category", json_string(en.category_path));
        available = en.available;
        for (uint32_t j = 0; labels && j < en.n_labels; j++) {
            const char *k, *v;
            reco_catalogue_label(cs->cat, e, j, &k, &v);
            json_object_set_new(labels, k, json_string(v));
        }
    }
    if (json_object_set_new(o, "available", json_boolean(available)) ||
        json_object_set_new(o, "labels", labels) ||
        json_object_set_new(o, "known_item", json_boolean(i >= 0)) ||
        json_object_set_new(o, "ratings", json_integer((json_int_t)ratings))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

reco_status reco_service_item(reco_service *s, const char *item, json_t **out,
                              reco_error *err)
{
    *out = NULL;
    size_t ilen = strlen(item);
    if (!reco_service_valid_id(item, ilen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "item ID must be 1 to 255 bytes of UTF-8 without control characters");
    generation *g = acquire(s, &s->v[0]);
    cat_snap *cs = cat_acquire(g);
    bool found = false;
    *out = item_json(g, cs, item, ilen, &found);
    cat_snap_release(cs);
    generation_release(g);
    if (!found)
        return reco_error_set(err, RECO_ERR_NOT_FOUND,
                              "unknown product \"%s\": neither the catalogue nor the model has it",
                              item);
    return *out ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
}

/* What a write needs: a log, writable; 1..max_batch entries. */
static reco_status write_check(const reco_service *s, size_t n, const char *what,
                               reco_error *err)
{
    if (!s->has_log && !s->store)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "this server takes no %s (start it with --ratings-log: they are "
                              "kept in the ratings log)", what);
    if (!writable(s))
        return reco_error_set(err, RECO_ERR_INVALID, "the ratings log is open read-only");
    if (n == 0)
        return reco_error_set(err, RECO_ERR_INVALID, "no %s given", what);
    if (n > s->opt.max_batch)
        return reco_error_set(err, RECO_ERR_TOO_LARGE, "at most %zu %s per request, got %zu",
                              s->opt.max_batch, what, n);
    return RECO_OK;
}

reco_status reco_service_put_items(reco_service *s, const reco_item_change *c, size_t n,
                                   json_t **out, reco_error *err)
{
    *out = NULL;
    reco_status rc = write_check(s, n, "catalogue changes", err);
    if (rc)
        return rc;
    int64_t now = (int64_t)time(NULL);
    json_t *recs = json_array();
    if (!recs)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == RECO_OK; k++) {
        if (!c[k].item || !reco_service_valid_id(c[k].item, c[k].item_len))
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "change %zu: item ID must be 1 to 255 bytes of UTF-8 without "
                                "control characters", k);
        else if (json_array_append_new(recs, item_record(&c[k], now)))
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    /* Validated by building them on an empty catalogue (what would be
     * refused there is refused anywhere). */
    reco_catalogue *check = NULL;
    if (rc == RECO_OK)
        rc = items_apply(NULL, recs, &check, err);
    reco_catalogue_free(check);
    char *text = NULL;
    size_t len = 0, cap = 0;
    int64_t seq = 0;
    for (size_t k = 0; k < n && rc == RECO_OK; k++)
        if (add_record(&text, &len, &cap, ITEM_KIND, json_array_get(recs, k)))
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    bool created = false;
    if (rc == RECO_OK) {
        generation *g = acquire(s, &s->v[0]);
        cat_snap *cs = cat_acquire(g);
        created = !cs || reco_catalogue_find(cs->cat, c[0].item, c[0].item_len) ==
                             RECO_CATALOGUE_NONE;
        cat_snap_release(cs);
        generation_release(g);
        rc = log_append(s, text, len, n, &seq, err);
    }
    free(text);
    if (rc == RECO_OK && s->store) {
        store_catch_up(s, seq); /* applied with every other row, in seq order */
    } else if (rc == RECO_OK) {
        /* Durable: now visible, in every variant, ordered with a reload's
         * swap by apply_mu as ratings are. */
        pthread_mutex_lock(&s->apply_mu);
        for (size_t vk = 0; vk < s->nv && rc == RECO_OK; vk++) {
            generation *g = acquire(s, &s->v[vk]);
            rc = gen_apply_items(g, recs, err);
            generation_release(g);
        }
        pthread_mutex_unlock(&s->apply_mu);
    }
    json_decref(recs);
    if (rc)
        return rc;
    char *id = strndup(c[0].item, c[0].item_len);
    rc = id ? reco_service_item(s, id, out, err)
            : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    free(id);
    if (rc == RECO_OK && json_object_set_new(*out, "created", json_boolean(created))) {
        json_decref(*out);
        *out = NULL;
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    return rc;
}

/* ---- events: #event records folded into the live overlay ---- */

reco_status reco_service_add_events(reco_service *s, const reco_new_event *e, size_t n,
                                    json_t **out, reco_error *err)
{
    *out = NULL;
    reco_status rc = write_check(s, n, "events", err);
    if (rc)
        return rc;
    generation *g = acquire(s, &s->v[0]);
    const reco_model *m = g->model;
    double *conf = malloc(n * sizeof *conf);
    char (*type)[RECO_EVENT_TYPE_MAX + 1] = malloc(n * sizeof *type);
    reco_new_rating *as = calloc(n, sizeof *as);
    if (!conf || !type || !as)
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n && rc == RECO_OK; k++) {
        size_t tl = e[k].type ? strlen(e[k].type) : 0;
        if (!reco_service_valid_id(e[k].user, e[k].user_len))
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "event %zu: user must be 1 to 255 bytes of UTF-8 without "
                                "control characters", k);
        else if (!reco_service_valid_id(e[k].item, e[k].item_len))
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "event %zu: item must be 1 to 255 bytes of UTF-8 without "
                                "control characters", k);
        else if (e[k].timestamp < 0)
            rc = reco_error_set(err, RECO_ERR_INVALID, "event %zu: timestamp must be 0 or more",
                                k);
        else if (!tl || tl > RECO_EVENT_TYPE_MAX)
            rc = reco_error_set(err, RECO_ERR_INVALID, "event %zu: type must be 1 to %d bytes",
                                k, RECO_EVENT_TYPE_MAX);
        if (rc)
            break;
        for (size_t j = 0; j <= tl; j++) /* matched without regard to case, kept in lower case */
            type[k][j] = (char)(e[k].type[j] >= 'A' && e[k].type[j] <= 'Z' ? e[k].type[j] + 32
                                                                           : e[k].type[j]);
        reco_error sub;
        if (m->event_weights) {
            if (reco_event_confidence(m->event_weights, type[k], e[k].value, m->rating_lo,
                                      m->rating_hi, &conf[k], &sub))
                rc = reco_error_set(err, RECO_ERR_INVALID, "event %zu: %s", k, sub.msg);
        } else if (strcmp(type[k], RECO_EVENT_RATING)) {
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "event %zu: type \"%s\": the model was trained on ratings, so it "
                                "takes only \"rating\" events (train on events to weigh views, "
                                "carts and purchases: reco train --events)", k, type[k]);
        } else if (!(e[k].value >= m->rating_lo && e[k].value <= m->rating_hi)) {
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "event %zu: a rating event needs a value from %g to %g", k,
                                (double)m->rating_lo, (double)m->rating_hi);
        } else {
            conf[k] = e[k].value;
        }
        as[k] = (reco_new_rating){e[k].user, e[k].user_len, e[k].item, e[k].item_len, 0, 0};
    }
    generation_release(g);
    if (rc == RECO_OK)
        rc = check_live_cap(s, as, n, err);
    int64_t now = (int64_t)time(NULL);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (size_t k = 0; k < n && rc == RECO_OK; k++) {
        json_t *o = json_pack("{s:s%,s:s%,s:s}", "user", e[k].user, e[k].user_len, "item",
                              e[k].item, e[k].item_len, "type", type[k]);
        if (o && !isnan(e[k].value))
            json_object_set_new(o, "value", json_real(e[k].value));
        if (o)
            json_object_set_new(o, "timestamp",
                                json_integer((json_int_t)(e[k].timestamp ? e[k].timestamp : now)));
        if (!o || add_record(&text, &len, &cap, EVENT_KIND, o))
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        json_decref(o);
    }
    int64_t seq = 0;
    if (rc == RECO_OK)
        rc = log_append(s, text, len, n, &seq, err);
    free(text);
    if (rc == RECO_OK && s->store) /* applied with every other row, in seq order */
        store_catch_up(s, seq);
    json_t *list = rc ? NULL : json_array();
    if (rc == RECO_OK) {
        pthread_mutex_lock(&s->apply_mu);
        for (size_t vk = 0; vk < s->nv; vk++) {
            g = acquire(s, &s->v[vk]);
            pthread_rwlock_wrlock(&g->lock);
            for (size_t k = 0; k < n; k++) {
                double v = isnan(e[k].value) ? NAN : e[k].value;
                if (!s->store &&
                    apply_event(g, e[k].user, e[k].user_len, e[k].item, e[k].item_len, type[k], v,
                                e[k].timestamp ? e[k].timestamp : now) != 0)
                    rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory applying events");
                if (vk == 0)
                    json_array_append_new(
                        list, json_pack("{s:s%,s:s%,s:s,s:f,s:b}", "user", e[k].user,
                                        e[k].user_len, "item", e[k].item, e[k].item_len, "type",
                                        type[k], "confidence", conf[k], "known_item",
                                        reco_idmap_find(g->train->items, e[k].item,
                                                        e[k].item_len) >= 0));
            }
            pthread_rwlock_unlock(&g->lock);
            generation_release(g);
        }
        pthread_mutex_unlock(&s->apply_mu);
    }
    free(conf);
    free(type);
    free(as);
    if (rc) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:I,s:o}", "accepted", (json_int_t)n, "events", list);
    return *out ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
}

/* ---- the console's reads: users by prefix, a product's ratings, a named
 * variant's list (GET /v1/users, /v1/items/{item}/ratings,
 * recommendations?variant=) ---- */

/* Built one at a time; searches of a built index take no lock. */
static pthread_mutex_t user_index_mu = PTHREAD_MUTEX_INITIALIZER;
static const reco_idmap *user_index_sorting;

static int user_key_cmp(const void *a, const void *b)
{
    size_t la, lb;
    const char *ka = reco_idmap_key(user_index_sorting, *(const uint32_t *)a, &la);
    const char *kb = reco_idmap_key(user_index_sorting, *(const uint32_t *)b, &lb);
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* A user and the first 8 bytes of its ID as a big-endian number, so
 * that the sort compares numbers in place and reads the IDs themselves
 * only on ties (twice as fast on 4.2M users as sorting the ids alone). */
typedef struct user_key8 {
    uint64_t head;
    uint32_t u;
} user_key8;

static int user_key8_cmp(const void *a, const void *b)
{
    const user_key8 *x = a, *y = b;
    if (x->head != y->head)
        return x->head < y->head ? -1 : 1;
    return user_key_cmp(&x->u, &y->u);
}

/* The model's user IDs in byte order (4 bytes a user), built on the
 * first call for g and kept with it (the build needs 16 bytes a user
 * more for a moment); NULL when out of memory. */
static const uint32_t *user_index_of(generation *g, bool *built)
{
    *built = false;
    uint32_t *ix = atomic_load(&g->user_index);
    if (ix)
        return ix;
    pthread_mutex_lock(&user_index_mu);
    ix = atomic_load(&g->user_index);
    user_key8 *keys = ix ? NULL : malloc(((size_t)g->n_users + 1) * sizeof *keys);
    if (keys && (ix = malloc(((size_t)g->n_users + 1) * sizeof *ix))) {
        for (uint32_t u = 0; u < g->n_users; u++) {
            size_t len;
            const unsigned char *k =
                (const unsigned char *)reco_idmap_key(g->train->users, u, &len);
            uint64_t h = 0;
            for (size_t j = 0; j < 8; j++)
                h = h << 8 | (j < len ? k[j] : 0);
            keys[u] = (user_key8){h, u};
        }
        user_index_sorting = g->train->users;
        qsort(keys, g->n_users, sizeof *keys, user_key8_cmp);
        user_index_sorting = NULL;
        for (uint32_t u = 0; u < g->n_users; u++)
            ix[u] = keys[u].u;
        atomic_store(&g->user_index, ix);
        *built = true;
    }
    free(keys);
    pthread_mutex_unlock(&user_index_mu);
    return ix;
}

/* key against prefix p: <0 when key sorts before every key that starts
 * with p, 0 when it starts with p, >0 after them. */
static int prefix_cmp(const char *key, size_t klen, const char *p, size_t plen)
{
    int c = memcmp(key, p, klen < plen ? klen : plen);
    if (c)
        return c;
    return klen < plen ? -1 : 0;
}

typedef struct prefix_hit {
    const char *key;
    size_t len;
    uint32_t u; /* the user's id in the generation */
} prefix_hit;

static int prefix_hit_cmp(const void *a, const void *b)
{
    const prefix_hit *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

reco_status reco_service_users_prefix(reco_service *s, const char *prefix, size_t plen,
                                      size_t limit, json_t **out, reco_error *err)
{
    *out = NULL;
    if (plen > RECO_ID_MAX || (plen && !reco_service_valid_id(prefix, plen)))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "prefix must be 0 to 255 bytes of UTF-8 without control characters");
    if (limit < 1 || limit > RECO_USERS_PREFIX_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "limit must be from 1 to %d, got %zu",
                              RECO_USERS_PREFIX_MAX, limit);
    generation *g = acquire(s, &s->v[0]);
    bool built = false;
    uint64_t t0 = reco_clock_ns();
    const uint32_t *ix = user_index_of(g, &built);
    uint64_t build_ns = reco_clock_ns() - t0;
    /* limit + 1 from each side, merged: enough to tell whether there are more. */
    prefix_hit *hits = ix ? malloc(2 * (limit + 1) * sizeof *hits) : NULL;
    if (!hits) {
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    size_t nh = 0, lo = 0, hi = g->n_users;
    while (lo < hi) { /* the first key not before the prefix */
        size_t mid = lo + (hi - lo) / 2, kl;
        const char *k = reco_idmap_key(g->train->users, ix[mid], &kl);
        if (prefix_cmp(k, kl, prefix, plen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = lo; j < g->n_users && nh <= limit; j++) {
        size_t kl;
        const char *k = reco_idmap_key(g->train->users, ix[j], &kl);
        if (prefix_cmp(k, kl, prefix, plen) != 0)
            break;
        hits[nh++] = (prefix_hit){k, kl, ix[j]};
    }
    /* Users new since training: a scan of their IDs, kept in order. */
    size_t model_hits = nh;
    pthread_rwlock_rdlock(&g->lock);
    size_t nnew = reco_idmap_size(g->new_users);
    for (size_t j = 0; j < nnew; j++) {
        size_t kl;
        const char *k = reco_idmap_key(g->new_users, (uint32_t)j, &kl);
        if (prefix_cmp(k, kl, prefix, plen) != 0)
            continue;
        prefix_hit h = {k, kl, g->n_users + (uint32_t)j};
        if (nh < model_hits + limit + 1) {
            hits[nh++] = h;
            continue;
        }
        /* Full: keep the smallest limit + 1 (replace the largest). */
        size_t worst = model_hits;
        for (size_t q = model_hits + 1; q < nh; q++)
            if (prefix_hit_cmp(&hits[q], &hits[worst]) > 0)
                worst = q;
        if (prefix_hit_cmp(&h, &hits[worst]) < 0)
            hits[worst] = h;
    }
    qsort(hits, nh, sizeof *hits, prefix_hit_cmp);
    json_t *users = json_array();
    bool oom = !users;
    for (size_t j = 0; j < nh && j < limit && !oom; j++) {
        uint32_t u = hits[j].u;
        uint32_t trained = u < g->n_users ? reco_profile_of_user(g->train, u).n : 0;
        const live_user *lu = u < g->live_cap ? g->live[u] : NULL;
        oom = json_array_append_new(users, json_pack("{s:s%,s:I,s:I}", "user", hits[j].key,
                                                     hits[j].len, "training_ratings",
                                                     (json_int_t)trained, "live_ratings",
                                                     (json_int_t)(lu ? lu->n : 0))) != 0;
    }
    pthread_rwlock_unlock(&g->lock);
    if (!oom)
        *out = json_pack("{s:s%,s:o,s:b,s:{s:I,s:b,s:f}}", "prefix", prefix, plen, "users",
                         users, "more", nh > limit, "index", "users", (json_int_t)g->n_users,
                         "built_now", built, "build_seconds",
                         built ? (double)build_ns * 1e-9 : 0.0);
    else
        json_decref(users);
    free(hits);
    generation_release(g);
    return *out ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
}

typedef struct recent_rating {
    uint32_t u;
    float rating;
    int64_t ts;
} recent_rating;

static int recent_cmp(const void *a, const void *b)
{
    const recent_rating *x = a, *y = b;
    return (x->ts < y->ts) - (x->ts > y->ts); /* newest first */
}

/* The histogram's bins: one per whole number when the rating range spans
 * at most 20 of them (stars), else 10 of equal width. */
typedef struct hist_bins {
    double lo, width;
    size_t n;
    bool whole;
} hist_bins;

static void hist_init(hist_bins *b, double rlo, double rhi)
{
    double a = floor(rlo + 0.5), z = floor(rhi + 0.5);
    if (isfinite(a) && isfinite(z) && z >= a && z - a <= 20) {
        *b = (hist_bins){a - 0.5, 1.0, (size_t)(z - a) + 1, true};
    } else {
        double w = (rhi - rlo) / 10;
        *b = (hist_bins){rlo, w > 0 && isfinite(w) ? w : 1.0, 10, false};
    }
}

static size_t hist_bin(const hist_bins *b, double r)
{
    double k = floor((r - b->lo) / b->width);
    return k < 0 ? 0 : k >= (double)b->n ? b->n - 1 : (size_t)k;
}

reco_status reco_service_item_ratings(reco_service *s, const char *item, size_t recent,
                                      json_t **out, reco_error *err)
{
    *out = NULL;
    size_t ilen = strlen(item);
    if (!reco_service_valid_id(item, ilen))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "item ID must be 1 to 255 bytes of UTF-8 without control characters");
    if (recent > RECO_RECENT_RATERS_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "recent must be from 0 to %d, got %zu",
                              RECO_RECENT_RATERS_MAX, recent);
    variant *v = &s->v[0];
    generation *g = acquire(s, v);
    const reco_model *m = g->model;
    hist_bins hb;
    hist_init(&hb, m->rating_lo, m->rating_hi);
    uint64_t *bins = calloc(hb.n, sizeof *bins);
    recent_rating *rec = malloc((recent + 1) * sizeof *rec);
    if (!bins || !rec) {
        free(bins);
        free(rec);
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    pthread_rwlock_rdlock(&g->lock);
    int64_t i = find_item(g, item, ilen);
    cat_snap *cs = g->cat;
    bool in_catalogue = cs && reco_catalogue_find(cs->cat, item, ilen) != RECO_CATALOGUE_NONE;
    if (i < 0 && !in_catalogue) {
        pthread_rwlock_unlock(&g->lock);
        free(bins);
        free(rec);
        generation_release(g);
        return reco_error_set(err, RECO_ERR_NOT_FOUND, "unknown product \"%s\"", item);
    }
    uint64_t n_train = 0, n_live = 0, n_replaced = 0;
    double sum = 0;
    size_t nrec = 0;
    /* Training ratings: the product's column of the matrix. */
    const reco_csr *col = &g->train->by_item;
    uint64_t c0 = 0, c1 = 0;
    if (i >= 0 && (uint64_t)i < g->n_items) {
        c0 = col->ptr[i];
        c1 = col->ptr[i + 1];
    }
    for (uint64_t k = c0; k < c1; k++) {
        n_train++;
        sum += col->val[k];
        bins[hist_bin(&hb, col->val[k])]++;
    }
    /* Live ratings (a scan of the users with any: the model keeps no index
     * from products to them); one replaces the user's training rating. */
    for (size_t u = 0; i >= 0 && u < g->live_cap; u++) {
        const live_user *lu = g->live[u];
        if (!lu || !lu->n)
            continue;
        uint32_t a = 0, b = lu->n;
        while (a < b) {
            uint32_t mid = a + (b - a) / 2;
            if (lu->items[mid] < (uint32_t)i)
                a = mid + 1;
            else
                b = mid;
        }
        if (a == lu->n || lu->items[a] != (uint32_t)i)
            continue;
        float old = train_value(g, (int64_t)u, i);
        if (u < g->n_users && (uint64_t)i < g->n_items && old != 0) {
            n_replaced++;
            sum -= old;
            size_t ob = hist_bin(&hb, old);
            if (bins[ob])
                bins[ob]--;
        }
        n_live++;
        sum += lu->ratings[a];
        bins[hist_bin(&hb, lu->ratings[a])]++;
        /* Keep the newest `recent` (the array stays sorted newest first). */
        recent_rating r = {(uint32_t)u, lu->ratings[a], lu->ts[a]};
        size_t at = nrec;
        while (at > 0 && rec[at - 1].ts < r.ts)
            at--;
        if (at < recent) {
            size_t move = (nrec < recent ? nrec : recent - 1) - at;
            memmove(rec + at + 1, rec + at, move * sizeof *rec);
            rec[at] = r;
            if (nrec < recent)
                nrec++;
        }
    }
    uint64_t count = n_train - n_replaced + n_live;
    json_t *hist = json_array(), *list = json_array();
    bool oom = !hist || !list;
    for (size_t b = 0; b < hb.n && !oom; b++) {
        json_t *o = hb.whole ? json_pack("{s:f,s:I}", "rating", hb.lo + 0.5 + (double)b, "count",
                                         (json_int_t)bins[b])
                             : json_pack("{s:f,s:f,s:I}", "from", hb.lo + hb.width * (double)b,
                                         "to", hb.lo + hb.width * (double)(b + 1), "count",
                                         (json_int_t)bins[b]);
        oom = json_array_append_new(hist, o) != 0;
    }
    qsort(rec, nrec, sizeof *rec, recent_cmp);
    for (size_t k = 0; k < nrec && !oom; k++) {
        const char *uk = rec[k].u < g->n_users
                             ? reco_idmap_key(g->train->users, rec[k].u, NULL)
                             : reco_idmap_key(g->new_users, rec[k].u - g->n_users, NULL);
        oom = json_array_append_new(list, json_pack("{s:s,s:f,s:I,s:s}", "user", uk, "rating",
                                                    (double)rec[k].rating, "timestamp",
                                                    (json_int_t)rec[k].ts, "source",
                                                    "live")) != 0;
    }
    /* Training ratings have no time in the model file: they follow, in the
     * model's user order, with a null timestamp. */
    for (uint64_t k = c0; k < c1 && json_array_size(list) < recent && !oom; k++) {
        uint32_t u = col->idx[k];
        const live_user *lu = u < g->live_cap ? g->live[u] : NULL;
        bool replaced = false;
        for (uint32_t j = 0; lu && j < lu->n && !replaced; j++)
            replaced = lu->items[j] == (uint32_t)i;
        if (!replaced)
            oom = json_array_append_new(
                      list, json_pack("{s:s,s:f,s:n,s:s}", "user",
                                      reco_idmap_key(g->train->users, u, NULL), "rating",
                                      (double)col->val[k], "timestamp", "source",
                                      "training")) != 0;
    }
    pthread_rwlock_unlock(&g->lock);
    if (!oom)
        *out = json_pack("{s:s,s:b,s:b,s:I,s:I,s:I,s:o,s:o,s:o}", "item", item, "known_item",
                         i >= 0, "in_catalogue", in_catalogue, "count", (json_int_t)count,
                         "training_ratings", (json_int_t)(n_train - n_replaced),
                         "live_ratings", (json_int_t)n_live, "mean",
                         count ? reco_json_real(sum / (double)count) : json_null(), "histogram",
                         hist, "recent", list);
    else {
        json_decref(hist);
        json_decref(list);
    }
    free(bins);
    free(rec);
    generation_release(g);
    return *out ? RECO_OK : reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
}

reco_status reco_service_recommend_variant(reco_service *s, const char *name, const char *user,
                                           size_t n, bool exclude_rated,
                                           const reco_service_rules *rules, json_t **out,
                                           reco_error *err)
{
    *out = NULL;
    variant *v = name ? variant_named(s, name, strlen(name)) : NULL;
    if (name && !v) {
        char names[RECO_VARIANTS_MAX * (RECO_VARIANT_NAME_MAX + 2)] = "";
        for (size_t k = 0; k < s->nv; k++) {
            strcat(names, k ? ", " : "");
            strcat(names, s->v[k].name);
        }
        return reco_error_set(err, RECO_ERR_INVALID,
                              "unknown variant \"%.40s\": this server has %s", name, names);
    }
    return recommend_in(s, v, user, n, exclude_rated, rules, out, err);
}
