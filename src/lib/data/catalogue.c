/* The product catalogue (reco/catalogue.h).
 *
 * Every catalogue is built the same way, whatever it comes from (a CSV or
 * JSON Lines file, a model file, an older catalogue plus changes): entries
 * go into a builder (product IDs interned, texts appended to a pool,
 * labels appended to a list, each value checked once, in one place), and
 * the builder is finished into an immutable catalogue: texts compacted,
 * the category tree built afresh from the paths (every path and its
 * prefixes, sorted so that '/' orders before any other byte: that order
 * is the pre-order of the tree), numbers given in that order, and each
 * category's range [k, hi) found with a stack. */
#include "reco/catalogue.h"
#include "reco/topn.h"
#include "reco/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csvfield.h"
#include "fileio.h"
#include "mem.h"

#define NONE RECO_CATALOGUE_NONE
#define CAT_FORMAT 1
#define MAX_COLUMNS 256
#define MAX_LABELS 256                /* per product */
#define FILE_CAP ((size_t)4 << 30)    /* catalogue files above 4 GiB are refused */
#define WHY_MAX 320

struct reco_catalogue {
    atomic_uint refs;
    uint32_t n;
    reco_idmap *ids;        /* entry e is key e */
    char *text;             /* texts, each NUL-terminated; text[0] = '\0' */
    size_t text_len;
    uint32_t *title;        /* n: offset into text, or NONE */
    uint32_t *category;     /* n: category number, or RECO_NO_CATEGORY */
    uint8_t *available;     /* n: 0 or 1 */
    int64_t *added;         /* n */
    uint32_t *label_off;    /* n + 1 */
    uint32_t *label_key;    /* offsets into text */
    uint32_t *label_value;
    uint32_t n_unavailable;
    bool has_added;
    uint32_t n_cat;
    reco_idmap *cats;       /* path -> number (interned in pre-order) */
    uint32_t *cat_parent, *cat_hi;
};

/* ---- the builder ---------------------------------------------------- */

typedef struct builder {
    reco_idmap *ids;
    uint32_t n, cap;
    uint32_t *title, *path;         /* offsets into pool, or NONE */
    uint32_t *lab_start, *lab_n;    /* into lk/lv */
    uint8_t *avail;
    int64_t *added;
    uint64_t *line;                 /* where each entry was read (parsing only) */
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t *lk, *lv;
    size_t nl, lcap;
    bool has_added;
    bool nomem;
} builder;

static void builder_free(builder *b)
{
    reco_idmap_free(b->ids);
    free(b->title);
    free(b->path);
    free(b->lab_start);
    free(b->lab_n);
    free(b->avail);
    free(b->added);
    free(b->line);
    free(b->pool);
    free(b->lk);
    free(b->lv);
    memset(b, 0, sizeof *b);
}

static bool builder_init(builder *b, size_t expected, bool lines)
{
    memset(b, 0, sizeof *b);
    b->ids = reco_idmap_new(expected);
    if (lines)
        b->line = malloc(sizeof *b->line); /* grown with the rest */
    return b->ids && (!lines || b->line);
}

static bool grow(void **p, size_t elem, size_t cap)
{
    uint64_t bytes;
    if (!reco_mul_u64(cap, elem, &bytes) || bytes > SIZE_MAX)
        return false;
    void *q = realloc(*p, (size_t)bytes);
    if (!q)
        return false;
    *p = q;
    return true;
}

static bool builder_room(builder *b)
{
    if (b->n < b->cap)
        return true;
    if (b->cap >= UINT32_MAX / 2)
        return false;
    uint32_t cap = b->cap ? b->cap * 2 : 64;
    if (!grow((void **)&b->title, sizeof *b->title, cap) ||
        !grow((void **)&b->path, sizeof *b->path, cap) ||
        !grow((void **)&b->lab_start, sizeof *b->lab_start, cap) ||
        !grow((void **)&b->lab_n, sizeof *b->lab_n, cap) ||
        !grow((void **)&b->avail, sizeof *b->avail, cap) ||
        !grow((void **)&b->added, sizeof *b->added, cap) ||
        (b->line && !grow((void **)&b->line, sizeof *b->line, cap)))
        return false;
    b->cap = cap;
    return true;
}

/* Appends s (len bytes) and a NUL to the pool: its offset, or NONE when
 * out of memory (or the pool passes 4 GiB). */
static uint32_t pool_add(builder *b, const char *s, size_t len)
{
    if (b->pool_len + len + 1 >= UINT32_MAX)
        return NONE;
    if (b->pool_len + len + 1 > b->pool_cap) {
        size_t cap = b->pool_cap ? b->pool_cap * 2 : 4096;
        while (cap < b->pool_len + len + 1)
            cap *= 2;
        if (!grow((void **)&b->pool, 1, cap))
            return NONE;
        b->pool_cap = cap;
    }
    uint32_t off = (uint32_t)b->pool_len;
    memcpy(b->pool + off, s, len);
    b->pool[off + len] = '\0';
    b->pool_len += len + 1;
    return off;
}

/* Checks a text value: valid UTF-8, no NUL, at most max bytes. NULL when
 * good, else why (written to why). */
static const char *check_text(const char *s, size_t len, size_t max, const char *what,
                              char *why)
{
    if (len > max) {
        snprintf(why, WHY_MAX, "%s is %zu bytes, over %zu", what, len, max);
        return why;
    }
    size_t bad = reco_utf8_invalid_at(s, len);
    if (bad < len) {
        snprintf(why, WHY_MAX, "%s is not valid UTF-8 (byte %zu)", what, bad + 1);
        return why;
    }
    if (memchr(s, '\0', len)) {
        snprintf(why, WHY_MAX, "%s contains a NUL byte", what);
        return why;
    }
    return NULL;
}

static const char *check_id(const char *s, size_t len, char *why)
{
    if (len == 0) {
        snprintf(why, WHY_MAX, "empty item_id");
        return why;
    }
    return check_text(s, len, RECO_ID_MAX, "item_id", why);
}

/* A category path with its leading and trailing '/' dropped, into
 * *p and *len; why for an empty segment or a bad path. An empty result means
 * no category. */
static const char *normalise_path(const char **p, size_t *len, char *why)
{
    while (*len && **p == '/') {
        (*p)++;
        (*len)--;
    }
    while (*len && (*p)[*len - 1] == '/')
        (*len)--;
    const char *bad = check_text(*p, *len, RECO_CATALOGUE_PATH_MAX, "category", why);
    if (bad)
        return bad;
    for (size_t i = 1; i < *len; i++)
        if ((*p)[i] == '/' && (*p)[i - 1] == '/') {
            snprintf(why, WHY_MAX, "category \"%.*s\" has an empty segment", (int)*len, *p);
            return why;
        }
    return NULL;
}

/* The entry of id, made when new (no title, no category, available). */
static const char *builder_entry(builder *b, const char *id, size_t len, uint32_t *e,
                                 bool *is_new, char *why)
{
    const char *bad = check_id(id, len, why);
    if (bad)
        return bad;
    int64_t found = reco_idmap_find(b->ids, id, len);
    *is_new = found < 0;
    if (found >= 0) {
        *e = (uint32_t)found;
        return NULL;
    }
    uint32_t k;
    if (!builder_room(b) || reco_idmap_intern(b->ids, id, len, &k)) {
        b->nomem = true;
        snprintf(why, WHY_MAX, "out of memory");
        return why;
    }
    b->title[k] = NONE;
    b->path[k] = NONE;
    b->lab_start[k] = 0;
    b->lab_n[k] = 0;
    b->avail[k] = 1;
    b->added[k] = 0;
    if (b->line)
        b->line[k] = 0;
    b->n = k + 1;
    *e = k;
    return NULL;
}

static const char *nomem(builder *b, char *why)
{
    b->nomem = true;
    snprintf(why, WHY_MAX, "out of memory");
    return why;
}

static const char *builder_title(builder *b, uint32_t e, const char *s, size_t len, char *why)
{
    const char *bad = check_text(s, len, RECO_CATALOGUE_TEXT_MAX, "title", why);
    if (bad)
        return bad;
    if (!len) {
        b->title[e] = NONE;
        return NULL;
    }
    uint32_t off = pool_add(b, s, len);
    if (off == NONE)
        return nomem(b, why);
    b->title[e] = off;
    return NULL;
}

static const char *builder_category(builder *b, uint32_t e, const char *s, size_t len,
                                    char *why)
{
    const char *bad = normalise_path(&s, &len, why);
    if (bad)
        return bad;
    if (!len) {
        b->path[e] = NONE;
        return NULL;
    }
    uint32_t off = pool_add(b, s, len);
    if (off == NONE)
        return nomem(b, why);
    b->path[e] = off;
    return NULL;
}

/* Starts a new label list for e (the old one is left unused in lk/lv). */
static void builder_labels_clear(builder *b, uint32_t e)
{
    b->lab_start[e] = (uint32_t)b->nl;
    b->lab_n[e] = 0;
}

/* Adds a label to e's list, which must be the last one started. */
static const char *builder_label(builder *b, uint32_t e, const char *k, size_t klen,
                                 const char *v, size_t vlen, char *why)
{
    const char *bad;
    if (!klen) {
        snprintf(why, WHY_MAX, "empty label name");
        return why;
    }
    if ((bad = check_text(k, klen, RECO_ID_MAX, "label name", why)) ||
        (bad = check_text(v, vlen, RECO_CATALOGUE_TEXT_MAX, "label value", why)))
        return bad;
    if (b->lab_n[e] >= MAX_LABELS) {
        snprintf(why, WHY_MAX, "more than %d labels", MAX_LABELS);
        return why;
    }
    if (b->nl >= UINT32_MAX - 1)
        return nomem(b, why);
    if (b->nl == b->lcap) {
        size_t cap = b->lcap ? b->lcap * 2 : 256;
        if (!grow((void **)&b->lk, sizeof *b->lk, cap) ||
            !grow((void **)&b->lv, sizeof *b->lv, cap))
            return nomem(b, why);
        b->lcap = cap;
    }
    uint32_t ko = pool_add(b, k, klen), vo = ko == NONE ? NONE : pool_add(b, v, vlen);
    if (vo == NONE)
        return nomem(b, why);
    b->lk[b->nl] = ko;
    b->lv[b->nl] = vo;
    b->nl++;
    b->lab_n[e]++;
    return NULL;
}

/* true/false/1/0/yes/no (case-insensitive); -1 for anything else. */
static int parse_available(const char *s, size_t len)
{
    static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
    for (int k = 0; k < 3; k++) {
        if (strlen(yes[k]) == len && !strncasecmp(s, yes[k], len))
            return 1;
        if (strlen(no[k]) == len && !strncasecmp(s, no[k], len))
            return 0;
    }
    return -1;
}

static const char *bad_available(const char *s, size_t len, char *why)
{
    snprintf(why, WHY_MAX, "available is \"%.*s\", not one of true, false, 1, 0, yes, no",
             (int)(len > 40 ? 40 : len), s);
    return why;
}

/* A decimal integer (optional '-'), the whole of s. */
static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    if (!len || len > 20)
        return false;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    size_t i = buf[0] == '-';
    if (i == len)
        return false;
    for (size_t k = i; k < len; k++)
        if (buf[k] < '0' || buf[k] > '9')
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* ---- finishing: the tree -------------------------------------------- */

/* Paths in pre-order: byte order with '/' before every other byte, so
 * that a path's descendants follow it, before its next sibling. */
static int path_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == cb) {
            if (!ca)
                return 0;
            continue;
        }
        unsigned ka = ca == '/' ? 1 : ca ? ca + 1 : 0, kb = cb == '/' ? 1 : cb ? cb + 1 : 0;
        return ka < kb ? -1 : 1;
    }
}

static int path_ptr_cmp(const void *x, const void *y)
{
    return path_cmp(*(const char *const *)x, *(const char *const *)y);
}

void reco_catalogue_free(reco_catalogue *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) > 1)
        return;
    reco_idmap_free(c->ids);
    reco_idmap_free(c->cats);
    free(c->text);
    free(c->title);
    free(c->category);
    free(c->available);
    free(c->added);
    free(c->label_off);
    free(c->label_key);
    free(c->label_value);
    free(c->cat_parent);
    free(c->cat_hi);
    free(c);
}

reco_catalogue *reco_catalogue_ref(reco_catalogue *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

/* The category tree of the paths of b: every path and its prefixes,
 * numbered in pre-order, into c. */
static reco_status build_tree(const builder *b, reco_catalogue *c, reco_error *err)
{
    reco_idmap *all = reco_idmap_new(64);
    const char **sorted = NULL;
    reco_status rc = RECO_OK;
    if (!all)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the category tree");
    for (uint32_t e = 0; e < b->n && !rc; e++) {
        if (b->path[e] == NONE)
            continue;
        const char *p = b->pool + b->path[e];
        size_t len = strlen(p);
        uint32_t id;
        for (size_t i = 1; i <= len && !rc; i++)
            if ((i == len || p[i] == '/') && reco_idmap_intern(all, p, i, &id))
                rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the category tree");
    }
    size_t nc = rc ? 0 : reco_idmap_size(all);
    if (!rc && nc && !(sorted = malloc(nc * sizeof *sorted)))
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the category tree");
    if (!rc) {
        for (size_t k = 0; k < nc; k++)
            sorted[k] = reco_idmap_key(all, (uint32_t)k, NULL);
        if (nc)
            qsort(sorted, nc, sizeof *sorted, path_ptr_cmp);
        c->cats = reco_idmap_new(nc);
        c->cat_parent = malloc((nc ? nc : 1) * sizeof *c->cat_parent);
        c->cat_hi = malloc((nc ? nc : 1) * sizeof *c->cat_hi);
        if (!c->cats || !c->cat_parent || !c->cat_hi)
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the category tree");
    }
    /* The open ancestors of the current path, innermost last. */
    uint32_t stack[RECO_CATALOGUE_PATH_MAX + 1];
    size_t depth = 0;
    for (size_t k = 0; k < nc && !rc; k++) {
        uint32_t id;
        size_t len;
        const char *p = sorted[k];
        len = strlen(p);
        if (reco_idmap_intern(c->cats, p, len, &id)) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the category tree");
            break;
        }
        /* Close the open categories that are not prefixes of p. */
        while (depth) {
            size_t al;
            const char *a = reco_idmap_key(c->cats, stack[depth - 1], &al);
            if (al < len && p[al] == '/' && !memcmp(a, p, al))
                break;
            c->cat_hi[stack[--depth]] = (uint32_t)k;
        }
        c->cat_parent[k] = depth ? stack[depth - 1] : RECO_NO_CATEGORY;
        stack[depth++] = (uint32_t)k;
    }
    while (!rc && depth)
        c->cat_hi[stack[--depth]] = (uint32_t)nc;
    c->n_cat = (uint32_t)nc;
    free(sorted);
    reco_idmap_free(all);
    return rc;
}

/* The catalogue of b (b is left as it was). */
static reco_status builder_finish(const builder *b, reco_catalogue **out, reco_error *err)
{
    *out = NULL;
    if (b->nomem)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory reading the catalogue");
    reco_catalogue *c = calloc(1, sizeof *c);
    if (!c)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    uint32_t n = b->n;
    size_t nl = 0, bytes = 1;
    for (uint32_t e = 0; e < n; e++) {
        nl += b->lab_n[e];
        if (b->title[e] != NONE)
            bytes += strlen(b->pool + b->title[e]) + 1;
        for (uint32_t j = 0; j < b->lab_n[e]; j++)
            bytes += strlen(b->pool + b->lk[b->lab_start[e] + j]) +
                     strlen(b->pool + b->lv[b->lab_start[e] + j]) + 2;
    }
    size_t m = n ? n : 1;
    c->n = n;
    c->ids = reco_idmap_new(n);
    c->text = malloc(bytes);
    c->title = malloc(m * sizeof *c->title);
    c->category = malloc(m * sizeof *c->category);
    c->available = malloc(m);
    c->added = malloc(m * sizeof *c->added);
    c->label_off = malloc((m + 1) * sizeof *c->label_off);
    c->label_key = malloc((nl ? nl : 1) * sizeof *c->label_key);
    c->label_value = malloc((nl ? nl : 1) * sizeof *c->label_value);
    reco_status rc = RECO_OK;
    if (!c->ids || !c->text || !c->title || !c->category || !c->available || !c->added ||
        !c->label_off || !c->label_key || !c->label_value || bytes >= UINT32_MAX)
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the catalogue");
    if (!rc)
        rc = build_tree(b, c, err);
    size_t used = 0, lab = 0;
    if (!rc)
        c->text[used++] = '\0';
    for (uint32_t e = 0; e < n && !rc; e++) {
        size_t len;
        const char *id = reco_idmap_key(b->ids, e, &len);
        uint32_t k;
        if (reco_idmap_intern(c->ids, id, len, &k)) {
            rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory building the catalogue");
            break;
        }
        c->title[e] = NONE;
        if (b->title[e] != NONE) {
            size_t l = strlen(b->pool + b->title[e]) + 1;
            memcpy(c->text + used, b->pool + b->title[e], l);
            c->title[e] = (uint32_t)used;
            used += l;
        }
        c->category[e] = RECO_NO_CATEGORY;
        if (b->path[e] != NONE) {
            const char *p = b->pool + b->path[e];
            c->category[e] = (uint32_t)reco_idmap_find(c->cats, p, strlen(p));
        }
        c->available[e] = b->avail[e];
        c->n_unavailable += !b->avail[e];
        c->added[e] = b->added[e];
        c->label_off[e] = (uint32_t)lab;
        for (uint32_t j = 0; j < b->lab_n[e]; j++) {
            const char *s[2] = {b->pool + b->lk[b->lab_start[e] + j],
                                b->pool + b->lv[b->lab_start[e] + j]};
            uint32_t *dst[2] = {&c->label_key[lab], &c->label_value[lab]};
            for (int t = 0; t < 2; t++) {
                size_t l = strlen(s[t]) + 1;
                memcpy(c->text + used, s[t], l);
                *dst[t] = (uint32_t)used;
                used += l;
            }
            lab++;
        }
    }
    if (rc) {
        reco_catalogue_free(c);
        return rc;
    }
    c->label_off[n] = (uint32_t)lab;
    c->text_len = used;
    c->has_added = b->has_added;
    *out = c;
    return RECO_OK;
}

/* A builder holding c's entries, to change. */
static reco_status builder_from(builder *b, const reco_catalogue *c, reco_error *err)
{
    char why[WHY_MAX];
    if (!builder_init(b, c->n + 16, false))
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    for (uint32_t e = 0; e < c->n; e++) {
        size_t len;
        const char *id = reco_idmap_key(c->ids, e, &len);
        uint32_t k;
        bool is_new;
        reco_catalogue_entry en;
        reco_catalogue_entry_get(c, e, &en);
        const char *bad = builder_entry(b, id, len, &k, &is_new, why);
        if (!bad && en.title)
            bad = builder_title(b, k, en.title, strlen(en.title), why);
        if (!bad && en.category_path)
            bad = builder_category(b, k, en.category_path, strlen(en.category_path), why);
        builder_labels_clear(b, k);
        for (uint32_t j = 0; !bad && j < en.n_labels; j++) {
            const char *lk, *lv;
            reco_catalogue_label(c, e, j, &lk, &lv);
            bad = builder_label(b, k, lk, strlen(lk), lv, strlen(lv), why);
        }
        if (bad) {
            reco_status code = b->nomem ? RECO_ERR_NOMEM : RECO_ERR_INTERNAL;
            builder_free(b);
            return reco_error_set(err, code, "copying the catalogue: %s", why);
        }
        b->avail[k] = en.available;
        b->added[k] = en.added;
    }
    b->has_added = c->has_added;
    return RECO_OK;
}

reco_catalogue *reco_catalogue_new(void)
{
    builder b;
    reco_catalogue *c = NULL;
    if (builder_init(&b, 0, false))
        builder_finish(&b, &c, NULL);
    builder_free(&b);
    return c;
}

/* ---- live changes ---------------------------------------------------- */

static const char *apply_one(builder *b, const reco_catalogue_update *u, char *why)
{
    if (!u->item_id) {
        snprintf(why, WHY_MAX, "no item_id");
        return why;
    }
    uint32_t e;
    bool is_new;
    const char *bad = builder_entry(b, u->item_id, strlen(u->item_id), &e, &is_new, why);
    if (!bad && u->title)
        bad = builder_title(b, e, u->title, strlen(u->title), why);
    if (!bad && u->category)
        bad = builder_category(b, e, u->category, strlen(u->category), why);
    if (!bad && u->available != -1 && u->available != 0 && u->available != 1) {
        snprintf(why, WHY_MAX, "available is %d, not -1, 0 or 1", u->available);
        bad = why;
    }
    if (!bad && u->available >= 0)
        b->avail[e] = (uint8_t)u->available;
    if (!bad && u->set_labels) {
        builder_labels_clear(b, e);
        for (size_t j = 0; !bad && j < u->n_labels; j++) {
            const char *k = u->label_keys[j], *v = u->label_values[j];
            if (!k || !v) {
                snprintf(why, WHY_MAX, "label %zu is NULL", j);
                return why;
            }
            bad = builder_label(b, e, k, strlen(k), v, strlen(v), why);
        }
    }
    if (!bad && u->set_added) {
        b->added[e] = u->added;
        b->has_added = true;
    }
    return bad;
}

reco_status reco_catalogue_apply(const reco_catalogue *old, const reco_catalogue_update *u,
                                 size_t n, reco_catalogue **out, reco_error *err)
{
    *out = NULL;
    builder b;
    reco_status rc = builder_from(&b, old, err);
    if (rc)
        return rc;
    char why[WHY_MAX];
    for (size_t k = 0; k < n; k++) {
        const char *bad = apply_one(&b, &u[k], why);
        if (bad) {
            rc = reco_error_set(err, b.nomem ? RECO_ERR_NOMEM : RECO_ERR_INVALID,
                                "product %zu (%.255s): %s", k + 1,
                                u[k].item_id ? u[k].item_id : "?", bad);
            builder_free(&b);
            return rc;
        }
    }
    rc = builder_finish(&b, out, err);
    builder_free(&b);
    return rc;
}

reco_status reco_catalogue_set_available(const reco_catalogue *old, const char *item_id,
                                         bool available, reco_catalogue **out, reco_error *err)
{
    *out = NULL;
    if (reco_catalogue_find(old, item_id, strlen(item_id)) == NONE)
        return reco_error_set(err, RECO_ERR_NOT_FOUND, "product \"%.255s\" is not in the "
                              "catalogue", item_id);
    reco_catalogue_update u = {.item_id = item_id, .available = available};
    return reco_catalogue_apply(old, &u, 1, out, err);
}

/* ---- reading --------------------------------------------------------- */

uint32_t reco_catalogue_size(const reco_catalogue *c) { return c->n; }
uint32_t reco_catalogue_n_categories(const reco_catalogue *c) { return c->n_cat; }
uint32_t reco_catalogue_n_unavailable(const reco_catalogue *c) { return c->n_unavailable; }
bool reco_catalogue_has_added(const reco_catalogue *c) { return c->has_added; }

uint32_t reco_catalogue_find(const reco_catalogue *c, const char *item_id, size_t len)
{
    int64_t e = reco_idmap_find(c->ids, item_id, len);
    return e < 0 ? NONE : (uint32_t)e;
}

void reco_catalogue_entry_get(const reco_catalogue *c, uint32_t e, reco_catalogue_entry *out)
{
    out->item_id = reco_idmap_key(c->ids, e, NULL);
    out->title = c->title[e] == NONE ? NULL : c->text + c->title[e];
    out->category = c->category[e];
    out->category_path =
        out->category == RECO_NO_CATEGORY ? NULL : reco_idmap_key(c->cats, out->category, NULL);
    out->available = c->available[e];
    out->added = c->added[e];
    out->n_labels = c->label_off[e + 1] - c->label_off[e];
}

void reco_catalogue_label(const reco_catalogue *c, uint32_t e, uint32_t j, const char **key,
                          const char **value)
{
    uint32_t l = c->label_off[e] + j;
    *key = c->text + c->label_key[l];
    *value = c->text + c->label_value[l];
}

const char *reco_catalogue_category_path(const reco_catalogue *c, uint32_t k)
{
    return reco_idmap_key(c->cats, k, NULL);
}

uint32_t reco_catalogue_category_parent(const reco_catalogue *c, uint32_t k)
{
    return c->cat_parent[k];
}

reco_category_range reco_catalogue_category_range(const reco_catalogue *c, uint32_t k)
{
    return (reco_category_range){k, c->cat_hi[k]};
}

uint32_t reco_catalogue_category_find(const reco_catalogue *c, const char *path, size_t len)
{
    char why[WHY_MAX];
    if (normalise_path(&path, &len, why) || !len || !c->cats)
        return RECO_NO_CATEGORY;
    int64_t k = reco_idmap_find(c->cats, path, len);
    return k < 0 ? RECO_NO_CATEGORY : (uint32_t)k;
}

static int range_cmp(const void *x, const void *y)
{
    const reco_category_range *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo ? 1 : a->hi > b->hi ? -1 : a->hi < b->hi;
}

void reco_catalogue_ranges(const reco_catalogue *c, const char *const *paths, size_t n,
                           reco_category_range *out, size_t *n_out, bool *unknown)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = reco_catalogue_category_find(c, paths[i], strlen(paths[i]));
        if (unknown)
            unknown[i] = k == RECO_NO_CATEGORY;
        if (k != RECO_NO_CATEGORY)
            out[m++] = reco_catalogue_category_range(c, k);
    }
    qsort(out, m, sizeof *out, range_cmp);
    /* Pre-order ranges are nested or disjoint: keep the outermost. */
    size_t w = 0;
    for (size_t i = 0; i < m; i++)
        if (!w || out[i].lo >= out[w - 1].hi)
            out[w++] = out[i];
    *n_out = w;
}

/* ---- views ------------------------------------------------------------ */

reco_status reco_catalogue_view_new(const reco_catalogue *c, const reco_idmap *items,
                                    reco_catalogue_view **out, reco_error *err)
{
    *out = NULL;
    size_t n = reco_idmap_size(items), words = (n + 63) / 64;
    reco_catalogue_view *v = calloc(1, sizeof *v);
    if (v) {
        v->entry = malloc((n ? n : 1) * sizeof *v->entry);
        v->item_category = malloc((n ? n : 1) * sizeof *v->item_category);
        v->hidden = calloc(words ? words : 1, sizeof *v->hidden);
    }
    if (!v || !v->entry || !v->item_category || !v->hidden) {
        reco_catalogue_view_free(v);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    v->n_items = (uint32_t)n;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *key = reco_idmap_key(items, i, &len);
        uint32_t e = reco_catalogue_find(c, key, len);
        v->entry[i] = e;
        v->item_category[i] = e == NONE ? RECO_NO_CATEGORY : c->category[e];
        if (e != NONE) {
            v->in_catalogue++;
            if (!c->available[e]) {
                v->hidden[i / 64] |= (uint64_t)1 << (i % 64);
                v->n_hidden++;
            }
        }
    }
    v->only_catalogue = c->n - v->in_catalogue;
    *out = v;
    return RECO_OK;
}

void reco_catalogue_view_free(reco_catalogue_view *v)
{
    if (!v)
        return;
    free(v->entry);
    free(v->item_category);
    free(v->hidden);
    free(v);
}

void reco_catalogue_view_filter(const reco_catalogue_view *v, bool include_unavailable,
                                const reco_category_range *ranges, size_t n_ranges,
                                reco_item_filter *f)
{
    f->hidden = include_unavailable || !v->n_hidden ? NULL : v->hidden;
    f->n_hidden_bits = f->hidden ? v->n_items : 0;
    f->item_category = v->item_category;
    f->n_item_category = v->n_items;
    f->categories = ranges;
    f->n_categories = n_ranges;
}

/* ---- cold start --------------------------------------------------------- */

const char *reco_cold_source_name(reco_cold_source s)
{
    switch (s) {
    case RECO_COLD_CATEGORY: return "category";
    case RECO_COLD_PARENT: return "parent_category";
    case RECO_COLD_POPULAR: return "popular";
    }
    return "?";
}

reco_status reco_catalogue_cold_similar(const reco_catalogue *c, const reco_catalogue_view *v,
                                        const float *popular, uint32_t e,
                                        const reco_item_filter *rules, size_t n,
                                        reco_cold_pick *out, size_t *n_out, reco_error *err)
{
    *n_out = 0;
    if (e >= c->n)
        return reco_error_set(err, RECO_ERR_NOT_FOUND, "no catalogue entry %u", e);
    size_t words = ((size_t)v->n_items + 63) / 64;
    uint64_t *taken = calloc(words ? words : 1, sizeof *taken);
    reco_scored *heap = malloc((n ? n : 1) * sizeof *heap);
    if (!taken || !heap) {
        free(taken);
        free(heap);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    size_t got = 0;
    uint32_t k = c->category[e];
    for (int level = 0; got < n; level++) {
        reco_category_range r = {0, UINT32_MAX};
        bool any = k == RECO_NO_CATEGORY;
        if (!any)
            r = reco_catalogue_category_range(c, k);
        reco_topn_heap h;
        reco_topn_init(&h, heap, n - got);
        for (uint32_t i = 0; i < v->n_items; i++) {
            uint64_t bit = (uint64_t)1 << (i % 64);
            if ((taken[i / 64] & bit) ||
                (rules ? !reco_item_filter_admits(rules, i) : (v->hidden[i / 64] & bit)))
                continue;
            uint32_t ic = v->item_category[i];
            if (!any && (ic < r.lo || ic >= r.hi))
                continue;
            float s = popular[i];
            if (s != s || s == -INFINITY)
                continue;
            reco_topn_push(&h, i, s);
        }
        size_t m = reco_topn_finish(&h);
        for (size_t j = 0; j < m; j++) {
            taken[heap[j].id / 64] |= (uint64_t)1 << (heap[j].id % 64);
            out[got++] = (reco_cold_pick){heap[j].id, heap[j].score,
                                          any ? RECO_COLD_POPULAR
                                              : level ? RECO_COLD_PARENT : RECO_COLD_CATEGORY,
                                          k};
        }
        if (any)
            break;
        k = c->cat_parent[k];
    }
    free(taken);
    free(heap);
    *n_out = got;
    return RECO_OK;
}

/* ---- files -------------------------------------------------------------- */

static reco_status bad_line(reco_error *err, const char *name, uint64_t line, const char *why)
{
    return reco_error_set(err, RECO_ERR_PARSE, "%s:%llu: %s", name, (unsigned long long)line,
                          why);
}

static bool has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), e = strlen(ext);
    return n > e && !strcasecmp(name + n - e, ext);
}

static bool blank(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r')
            return false;
    return true;
}

/* The next line of [*p, end): its bounds without "\r\n", *p moved past
 * it. */
static void next_line(const char **p, const char *end, const char **ls, const char **le)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *ls = *p;
    *le = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (*le > *ls && (*le)[-1] == '\r')
        (*le)--;
}

/* A new entry for id; a duplicate is an error naming the first line. */
static const char *new_entry(builder *b, const char *id, size_t len, uint64_t line, uint32_t *e,
                             char *why)
{
    bool is_new;
    const char *bad = builder_entry(b, id, len, e, &is_new, why);
    if (bad)
        return bad;
    if (!is_new) {
        snprintf(why, WHY_MAX, "duplicate item_id \"%.*s\" (first on line %llu)",
                 (int)(len > 64 ? 64 : len), id, (unsigned long long)b->line[*e]);
        return why;
    }
    b->line[*e] = line;
    builder_labels_clear(b, *e);
    return NULL;
}

typedef enum { COL_ID, COL_TITLE, COL_CATEGORY, COL_AVAILABLE, COL_ADDED, COL_LABEL } col_kind;

static col_kind column_kind(const char *s, size_t len)
{
    static const char *const names[] = {"item_id", "title", "category", "available", "added"};
    for (int k = 0; k < 5; k++)
        if (strlen(names[k]) == len && !memcmp(names[k], s, len))
            return (col_kind)k;
    return COL_LABEL;
}

/* A field's bytes: unescaped into tmp when quoted with "" inside,
 * surrounding blanks trimmed when unquoted. */
static const char *field_bytes(const reco_csv_field *f, const char *line, char *tmp,
                               size_t *len)
{
    if (f->escaped) {
        *len = reco_csv_unescape(tmp, f->p, f->len);
        return tmp;
    }
    const char *p = f->p;
    *len = f->len;
    if (p > line && p[-1] == '"')
        return p; /* quoted: kept exactly */
    while (*len && (*p == ' ' || *p == '\t')) {
        p++;
        (*len)--;
    }
    while (*len && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
        (*len)--;
    return p;
}

static reco_status parse_csv(builder *b, const char *p, const char *end, const char *name,
                             bool tsv, reco_error *err)
{
    char why[WHY_MAX];
    reco_csv_field *f = malloc((MAX_COLUMNS + 1) * sizeof *f);
    col_kind *kind = malloc(MAX_COLUMNS * sizeof *kind);
    char *names = NULL, *tmp = malloc((size_t)(end - p) + 1);
    size_t *name_off = malloc(MAX_COLUMNS * sizeof *name_off);
    reco_status rc = RECO_OK;
    if (!f || !kind || !tmp || !name_off) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name);
        goto out;
    }
    reco_csv_sep sep = {",", 1};
    uint64_t line = 0;
    int ncols = 0;
    while (p < end) {
        const char *ls, *le, *bad = NULL;
        next_line(&p, end, &ls, &le);
        line++;
        if (blank(ls, le))
            continue;
        if (!ncols) {
            /* The header: names the columns. */
            if (tsv || (memchr(ls, '\t', (size_t)(le - ls)) && !memchr(ls, ',', (size_t)(le - ls))))
                sep = (reco_csv_sep){"\t", 1};
            int nf = reco_csv_split(ls, le, &sep, f, MAX_COLUMNS + 1, &bad);
            if (nf > MAX_COLUMNS) {
                snprintf(why, WHY_MAX, "more than %d columns", MAX_COLUMNS);
                bad = why;
            }
            if (bad) {
                rc = bad_line(err, name, line, bad);
                goto out;
            }
            if (!(names = malloc((size_t)(le - ls) + (size_t)nf))) {
                rc = reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name);
                goto out;
            }
            size_t used = 0;
            bool has_id = false;
            for (int k = 0; k < nf; k++) {
                size_t len;
                const char *s = field_bytes(&f[k], ls, tmp, &len);
                if (!len) {
                    snprintf(why, WHY_MAX, "column %d of the header has no name", k + 1);
                    rc = bad_line(err, name, line, why);
                    goto out;
                }
                if ((bad = check_text(s, len, RECO_ID_MAX, "a column name", why))) {
                    rc = bad_line(err, name, line, bad);
                    goto out;
                }
                name_off[k] = used;
                memcpy(names + used, s, len);
                names[used + len] = '\0';
                used += len + 1;
                kind[k] = column_kind(s, len);
                has_id |= kind[k] == COL_ID;
                for (int j = 0; j < k; j++)
                    if (!strcmp(names + name_off[j], names + name_off[k])) {
                        snprintf(why, WHY_MAX, "column \"%.*s\" appears twice in the header",
                                 (int)(len > 64 ? 64 : len), s);
                        rc = bad_line(err, name, line, why);
                        goto out;
                    }
            }
            if (!has_id) {
                rc = bad_line(err, name, line,
                              "no item_id column in the header (a catalogue file starts with a "
                              "header line naming its columns, e.g. item_id,title,category,"
                              "available)");
                goto out;
            }
            ncols = nf;
            continue;
        }
        int nf = reco_csv_split(ls, le, &sep, f, MAX_COLUMNS + 1, &bad);
        if (bad) {
            rc = bad_line(err, name, line, bad);
            goto out;
        }
        if (nf != ncols) {
            snprintf(why, WHY_MAX, "%d fields where the header has %d", nf, ncols);
            rc = bad_line(err, name, line, why);
            goto out;
        }
        uint32_t e = 0;
        for (int k = 0; k < nf; k++) /* the ID first: the entry of the others */
            if (kind[k] == COL_ID) {
                size_t len;
                const char *s = field_bytes(&f[k], ls, tmp, &len);
                bad = new_entry(b, s, len, line, &e, why);
            }
        for (int k = 0; k < nf && !bad; k++) {
            size_t len;
            const char *s = field_bytes(&f[k], ls, tmp, &len);
            switch (kind[k]) {
            case COL_ID:
                break;
            case COL_TITLE:
                bad = builder_title(b, e, s, len, why);
                break;
            case COL_CATEGORY:
                bad = builder_category(b, e, s, len, why);
                break;
            case COL_AVAILABLE: {
                int a = len ? parse_available(s, len) : 1;
                if (a < 0)
                    bad = bad_available(s, len, why);
                else
                    b->avail[e] = (uint8_t)a;
                break;
            }
            case COL_ADDED:
                if (len && !parse_i64(s, len, &b->added[e])) {
                    snprintf(why, WHY_MAX, "added is \"%.*s\", not a Unix time in seconds",
                             (int)(len > 40 ? 40 : len), s);
                    bad = why;
                }
                b->has_added |= len > 0;
                break;
            case COL_LABEL:
                if (len) {
                    const char *key = names + name_off[k];
                    bad = builder_label(b, e, key, strlen(key), s, len, why);
                }
                break;
            }
        }
        if (bad) {
            rc = b->nomem ? reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name)
                          : bad_line(err, name, line, bad);
            goto out;
        }
    }
    if (!ncols)
        rc = bad_line(err, name, line ? line : 1,
                      "no header line (a catalogue file starts with a header line naming its "
                      "columns, e.g. item_id,title,category,available)");
out:
    free(f);
    free(kind);
    free(names);
    free(tmp);
    free(name_off);
    return rc;
}

/* A JSON value that must be a string (or null: *len 0, NULL). */
static const char *json_text(const char *key, json_t *v, const char **s, size_t *len, char *why)
{
    if (json_is_null(v)) {
        *s = NULL;
        *len = 0;
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(why, WHY_MAX, "\"%.64s\" must be a string", key);
        return why;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return NULL;
}

static const char *json_entry(builder *b, json_t *o, uint64_t line, char *why)
{
    if (!json_is_object(o)) {
        snprintf(why, WHY_MAX, "expected a JSON object");
        return why;
    }
    json_t *id = json_object_get(o, "item_id");
    if (!id) {
        snprintf(why, WHY_MAX, "no \"item_id\"");
        return why;
    }
    if (!json_is_string(id)) {
        snprintf(why, WHY_MAX, "\"item_id\" must be a string");
        return why;
    }
    uint32_t e;
    const char *bad = new_entry(b, json_string_value(id), json_string_length(id), line, &e, why);
    const char *key, *s;
    size_t len;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (bad)
            break;
        col_kind k = column_kind(key, strlen(key));
        if (k == COL_ID)
            continue;
        if (k == COL_AVAILABLE) {
            if (json_is_boolean(v))
                b->avail[e] = json_is_true(v);
            else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
                b->avail[e] = json_integer_value(v) == 1;
            else if (json_is_string(v) && parse_available(json_string_value(v),
                                                          json_string_length(v)) >= 0)
                b->avail[e] = (uint8_t)parse_available(json_string_value(v), json_string_length(v));
            else if (json_is_string(v))
                bad = bad_available(json_string_value(v), json_string_length(v), why);
            else if (!json_is_null(v)) {
                snprintf(why, WHY_MAX, "\"available\" must be true or false");
                bad = why;
            }
        } else if (k == COL_ADDED) {
            if (json_is_integer(v)) {
                b->added[e] = json_integer_value(v);
                b->has_added = true;
            } else if (!json_is_null(v)) {
                snprintf(why, WHY_MAX, "\"added\" must be an integer (Unix seconds)");
                bad = why;
            }
        } else if (k == COL_LABEL && !strcmp(key, "labels")) {
            if (json_is_null(v))
                continue;
            if (!json_is_object(v)) {
                snprintf(why, WHY_MAX, "\"labels\" must be an object of strings");
                bad = why;
                break;
            }
            const char *lk;
            json_t *lv;
            json_object_foreach(v, lk, lv) {
                if ((bad = json_text(lk, lv, &s, &len, why)))
                    break;
                if (s && len)
                    bad = builder_label(b, e, lk, strlen(lk), s, len, why);
                if (bad)
                    break;
            }
        } else {
            if ((bad = json_text(key, v, &s, &len, why)) || !s)
                continue;
            if (k == COL_TITLE)
                bad = builder_title(b, e, s, len, why);
            else if (k == COL_CATEGORY)
                bad = builder_category(b, e, s, len, why);
            else if (len)
                bad = builder_label(b, e, key, strlen(key), s, len, why);
        }
    }
    return bad;
}

static reco_status parse_jsonl(builder *b, const char *p, const char *end, const char *name,
                               reco_error *err)
{
    char why[WHY_MAX];
    uint64_t line = 0;
    bool any = false;
    while (p < end) {
        const char *ls, *le;
        next_line(&p, end, &ls, &le);
        line++;
        if (blank(ls, le))
            continue;
        any = true;
        size_t len = (size_t)(le - ls), at = reco_utf8_invalid_at(ls, len);
        if (at < len) {
            snprintf(why, WHY_MAX, "not valid UTF-8 (byte %zu)", at + 1);
            return bad_line(err, name, line, why);
        }
        json_error_t je;
        json_t *o = json_loadb(ls, len, JSON_REJECT_DUPLICATES, &je);
        if (!o) {
            snprintf(why, WHY_MAX, "malformed JSON: %s (column %d)", je.text, je.column);
            return bad_line(err, name, line, why);
        }
        const char *bad = json_entry(b, o, line, why);
        json_decref(o);
        if (bad)
            return b->nomem ? reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name)
                            : bad_line(err, name, line, bad);
    }
    if (!any)
        return bad_line(err, name, 1, "no products (a JSON Lines catalogue has one object a "
                                      "line)");
    return RECO_OK;
}

reco_status reco_catalogue_parse(const char *buf, size_t len, const char *name,
                                 reco_catalogue **out, reco_error *err)
{
    *out = NULL;
    const char *p = buf, *end = buf + len;
    if (len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    bool json;
    if (has_ext(name, ".jsonl") || has_ext(name, ".ndjson") || has_ext(name, ".json"))
        json = true;
    else if (has_ext(name, ".csv") || has_ext(name, ".tsv"))
        json = false;
    else {
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
            q++;
        json = q < end && *q == '{';
    }
    builder b;
    if (!builder_init(&b, len / 64, true))
        return reco_error_set(err, RECO_ERR_NOMEM, "%s: out of memory", name);
    reco_status rc = json ? parse_jsonl(&b, p, end, name, err)
                          : parse_csv(&b, p, end, name, has_ext(name, ".tsv"), err);
    if (!rc)
        rc = builder_finish(&b, out, err);
    builder_free(&b);
    return rc;
}

reco_status reco_catalogue_load(const char *path, reco_catalogue **out, reco_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return reco_error_set(err, errno == ENOENT ? RECO_ERR_NOT_FOUND : RECO_ERR_IO, "%s: %s",
                              path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return reco_error_set(err, RECO_ERR_IO, "%s: is a directory", path);
    }
    char *buf = NULL;
    size_t len = 0;
    int failed = reco_read_all(fd, FILE_CAP, &buf, &len);
    int e = errno;
    close(fd);
    if (failed)
        return reco_error_set(err, e == EFBIG ? RECO_ERR_TOO_LARGE
                                   : e == ENOMEM ? RECO_ERR_NOMEM : RECO_ERR_IO,
                              "%s: %s", path, e == EFBIG ? "larger than 4 GiB" : strerror(e));
    reco_status rc = reco_catalogue_parse(buf ? buf : "", len, path, out, err);
    free(buf);
    return rc;
}

/* ---- model files --------------------------------------------------------- */

bool reco_catalogue_in_mfile(const reco_mfile *f) { return reco_mfile_section(f, "cat.meta", NULL); }

reco_status reco_catalogue_save(const reco_catalogue *c, reco_mfile_writer *w, reco_error *err)
{
    uint64_t n = c->n, nl = c->label_off[c->n];
    reco_mfile_meta *m = reco_mfile_meta_new(CAT_FORMAT);
    reco_mfile_meta_put_u64(m, "items", n);
    reco_mfile_meta_put_u64(m, "labels", nl);
    reco_mfile_meta_put_u64(m, "text_bytes", c->text_len);
    reco_mfile_meta_put_u64(m, "categories", c->n_cat);
    reco_mfile_meta_put_u64(m, "unavailable", c->n_unavailable);
    reco_mfile_meta_put_bool(m, "has_added", c->has_added);
    reco_status rc = reco_mfile_add_meta(w, "cat.meta", m, err);
    if (rc || !n)
        return rc;
    if ((rc = reco_idmap_save(c->ids, w, "cat.ids", err)) ||
        (c->n_cat && (rc = reco_idmap_save(c->cats, w, "cat.paths", err))) ||
        (rc = reco_mfile_add(w, "cat.text", c->text, c->text_len, err)) ||
        (rc = reco_mfile_add(w, "cat.title", c->title, n * sizeof(uint32_t), err)) ||
        (rc = reco_mfile_add(w, "cat.category", c->category, n * sizeof(uint32_t), err)) ||
        (rc = reco_mfile_add(w, "cat.available", c->available, n, err)) ||
        (rc = reco_mfile_add(w, "cat.added", c->added, n * sizeof(int64_t), err)) ||
        (rc = reco_mfile_add(w, "cat.label_off", c->label_off, (n + 1) * sizeof(uint32_t), err)) ||
        (rc = reco_mfile_add(w, "cat.label_key", c->label_key, nl * sizeof(uint32_t), err)) ||
        (rc = reco_mfile_add(w, "cat.label_value", c->label_value, nl * sizeof(uint32_t), err)))
        return rc;
    return RECO_OK;
}

/* The text at offset off of the catalogue's text section, or NULL when
 * off is outside it or the text runs off its end. */
static const char *text_at(const char *text, uint64_t len, uint32_t off)
{
    if (off >= len || !memchr(text + off, '\0', len - off))
        return NULL;
    return text + off;
}

reco_status reco_catalogue_from_mfile(const reco_mfile *f, reco_catalogue **out,
                                      reco_error *err)
{
    *out = NULL;
    const char *path = reco_mfile_path(f);
    reco_mfile_meta *m = NULL;
    uint64_t n = 0, nl = 0, tb = 0, ncat = 0, nun = 0;
    bool has_added = false;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "cat.meta", CAT_FORMAT, &m, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "items", 0, UINT32_MAX - 1, &n, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "labels", 0, UINT32_MAX - 1, &nl, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "text_bytes", 0, UINT32_MAX - 1, &tb, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "categories", 0, UINT32_MAX - 1, &ncat, err)) ||
        (rc = reco_mfile_meta_get_u64(m, "unavailable", 0, n, &nun, err)) ||
        (rc = reco_mfile_meta_get_bool(m, "has_added", &has_added, err))) {
        reco_mfile_meta_free(m);
        return rc;
    }
    reco_mfile_meta_free(m);
    reco_idmap *ids = NULL, *paths = NULL;
    const void *text = NULL, *title = NULL, *cat = NULL, *avail = NULL, *added = NULL,
               *loff = NULL, *lkey = NULL, *lval = NULL;
    builder b;
    memset(&b, 0, sizeof b);
    char why[WHY_MAX];
#define BAD(...) (rc = reco_error_set(err, RECO_ERR_FORMAT, __VA_ARGS__))
    if (n && ((rc = reco_idmap_from_mfile(f, "cat.ids", &ids, err)) ||
              (ncat && (rc = reco_idmap_from_mfile(f, "cat.paths", &paths, err))) ||
              (rc = reco_mfile_array(f, "cat.text", tb, 1, &text, err)) ||
              (rc = reco_mfile_array(f, "cat.title", n, sizeof(uint32_t), &title, err)) ||
              (rc = reco_mfile_array(f, "cat.category", n, sizeof(uint32_t), &cat, err)) ||
              (rc = reco_mfile_array(f, "cat.available", n, 1, &avail, err)) ||
              (rc = reco_mfile_array(f, "cat.added", n, sizeof(int64_t), &added, err)) ||
              (rc = reco_mfile_array(f, "cat.label_off", n + 1, sizeof(uint32_t), &loff, err)) ||
              (rc = reco_mfile_array(f, "cat.label_key", nl, sizeof(uint32_t), &lkey, err)) ||
              (rc = reco_mfile_array(f, "cat.label_value", nl, sizeof(uint32_t), &lval, err))))
        goto out;
    if (n && reco_idmap_size(ids) != n) {
        BAD("%s: section \"cat.ids\" holds %zu products, not %llu", path, reco_idmap_size(ids),
            (unsigned long long)n);
        goto out;
    }
    if (n && ncat && reco_idmap_size(paths) != ncat) {
        BAD("%s: section \"cat.paths\" holds %zu categories, not %llu", path,
            reco_idmap_size(paths), (unsigned long long)ncat);
        goto out;
    }
    if (!builder_init(&b, n, false)) {
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        goto out;
    }
    const uint32_t *ti = title, *ci = cat, *lo = loff, *lk = lkey, *lv = lval;
    const uint8_t *av = avail;
    const int64_t *ad = added;
    if (n && (lo[0] != 0 || lo[n] != nl)) {
        BAD("%s: section \"cat.label_off\" does not run from 0 to %llu", path,
            (unsigned long long)nl);
        goto out;
    }
    for (uint32_t e = 0; e < n; e++) {
        size_t len;
        const char *id = reco_idmap_key(ids, e, &len), *bad = NULL, *s;
        uint32_t k;
        bool is_new;
        if ((bad = builder_entry(&b, id, len, &k, &is_new, why)) || !is_new || k != e) {
            BAD("%s: catalogue product %u: %s", path, e, bad ? bad : "repeated");
            goto out;
        }
        if (ti[e] != NONE) {
            if (!(s = text_at(text, tb, ti[e]))) {
                BAD("%s: section \"cat.title\": entry %u is outside the text", path, e);
                goto out;
            }
            bad = builder_title(&b, e, s, strlen(s), why);
        }
        if (!bad && ci[e] != RECO_NO_CATEGORY) {
            if (ci[e] >= ncat) {
                BAD("%s: section \"cat.category\": entry %u is %u, not below %llu", path, e,
                    ci[e], (unsigned long long)ncat);
                goto out;
            }
            s = reco_idmap_key(paths, ci[e], &len);
            bad = builder_category(&b, e, s, len, why);
        }
        if (!bad && av[e] > 1) {
            snprintf(why, WHY_MAX, "available is %u, not 0 or 1", av[e]);
            bad = why;
        }
        if (!bad && (lo[e + 1] < lo[e] || lo[e + 1] > nl)) {
            snprintf(why, WHY_MAX, "label offsets not ascending");
            bad = why;
        }
        b.avail[e] = bad ? 1 : av[e];
        b.added[e] = ad[e];
        builder_labels_clear(&b, e);
        for (uint32_t j = lo[e]; !bad && j < lo[e + 1]; j++) {
            const char *ks = text_at(text, tb, lk[j]), *vs = text_at(text, tb, lv[j]);
            if (!ks || !vs) {
                snprintf(why, WHY_MAX, "label %u is outside the text", j);
                bad = why;
            } else {
                bad = builder_label(&b, e, ks, strlen(ks), vs, strlen(vs), why);
            }
        }
        if (bad) {
            if (b.nomem)
                rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
            else
                BAD("%s: catalogue product %u: %s", path, e, bad);
            goto out;
        }
    }
    b.has_added = has_added;
    reco_catalogue *c = NULL;
    if ((rc = builder_finish(&b, &c, err)))
        goto out;
    if (c->n_cat != ncat || c->n_unavailable != nun) {
        BAD("%s: section \"cat.meta\": %llu categories and %llu unavailable, but the products "
            "give %u and %u", path, (unsigned long long)ncat, (unsigned long long)nun,
            c->n_cat, c->n_unavailable);
        reco_catalogue_free(c);
        goto out;
    }
    *out = c;
#undef BAD
out:
    builder_free(&b);
    reco_idmap_free(ids);
    reco_idmap_free(paths);
    return rc;
}

/* ---- the parts of a top-N index split ---- */

/* Pieces one split step may make (a category with more subcategories is
 * left whole). */
#define RECO_CATALOGUE_SPLIT_PIECES 64

typedef struct part_piece {
    reco_category_range r;
    uint64_t n;     /* products of the view in it */
    bool node;      /* exactly one category and its descendants */
} part_piece;

reco_status reco_catalogue_partition(const reco_catalogue *c, const reco_catalogue_view *v,
                                     uint32_t max_parts, reco_category_range *out,
                                     uint32_t *n_out, reco_error *err)
{
    *n_out = 0;
    const uint32_t nc = c->n_cat;
    if (!nc || !max_parts)
        return RECO_OK;
    /* Products per category number, summed: cnt[hi] - cnt[lo] per range. */
    uint64_t *cnt = calloc((size_t)nc + 1, sizeof *cnt);
    part_piece *pc = malloc((size_t)max_parts * sizeof *pc);
    if (!cnt || !pc) {
        free(cnt);
        free(pc);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < v->n_items; i++)
        if (v->item_category[i] < nc)
            cnt[v->item_category[i] + 1]++;
    for (uint32_t k = 0; k < nc; k++)
        cnt[k + 1] += cnt[k];
    const uint64_t total = cnt[nc];
#define RANGE_N(lo, hi) (cnt[hi] - cnt[lo])
    /* The top level, consecutive categories merged into at most max_parts
     * runs of about equal numbers of categories. */
    uint32_t n_top = 0;
    for (uint32_t k = 0; k < nc; k = c->cat_hi[k])
        n_top++;
    const uint32_t per = (n_top + max_parts - 1) / max_parts;
    uint32_t np = 0, in_run = 0;
    for (uint32_t k = 0; k < nc; k = c->cat_hi[k]) {
        if (in_run == 0) {
            pc[np++] = (part_piece){{k, c->cat_hi[k]}, 0, true};
        } else {
            pc[np - 1].r.hi = c->cat_hi[k];
            pc[np - 1].node = false;
        }
        in_run = (in_run + 1) % per;
    }
    for (uint32_t j = 0; j < np; j++)
        pc[j].n = RANGE_N(pc[j].r.lo, pc[j].r.hi);
    /* Split the largest node while it is large and the pieces fit. */
    for (;;) {
        int big = -1;
        for (uint32_t j = 0; j < np; j++)
            if (pc[j].node && pc[j].r.hi - pc[j].r.lo > 1 && (big < 0 || pc[j].n > pc[big].n))
                big = (int)j;
        if (big < 0 || pc[big].n * 16 <= total)
            break;
        /* Its own products, then each child; runs of pieces without
         * products are joined (a piece holding none costs a part and no
         * walk). */
        const uint32_t k = pc[big].r.lo, hi = pc[big].r.hi;
        part_piece nw[RECO_CATALOGUE_SPLIT_PIECES];
        uint32_t nn = 0;
        bool fits = true;
        nw[nn++] = (part_piece){{k, k + 1}, RANGE_N(k, k + 1), false};
        for (uint32_t ch = k + 1; ch < hi; ch = c->cat_hi[ch]) {
            const part_piece p = {{ch, c->cat_hi[ch]}, RANGE_N(ch, c->cat_hi[ch]), true};
            if (!p.n && !nw[nn - 1].n) {
                nw[nn - 1].r.hi = p.r.hi;
                nw[nn - 1].node = false;
            } else if (nn == RECO_CATALOGUE_SPLIT_PIECES) {
                fits = false;
                break;
            } else {
                nw[nn++] = p;
            }
        }
        if (!fits || np - 1 + nn > max_parts || nn < 2) {
            pc[big].node = false; /* not splittable here: leave it whole */
            continue;
        }
        memmove(pc + big + nn, pc + big + 1, (np - (uint32_t)big - 1) * sizeof *pc);
        memcpy(pc + big, nw, nn * sizeof *nw);
        np += nn - 1;
    }
#undef RANGE_N
    for (uint32_t j = 0; j < np; j++)
        out[j] = pc[j].r;
    *n_out = np;
    free(cnt);
    free(pc);
    return RECO_OK;
}
