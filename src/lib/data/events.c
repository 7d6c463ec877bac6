/* Events: the weights table, event files (parsed by ratings.c's machinery)
 * and their aggregation into confidences per (user, product). */
#include "reco/events.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"
#include "ratings_parse.h"

#define WEIGHTS_FORMAT 1

/* ---- the weights table -------------------------------------------------- */

void reco_event_weights_default(reco_event_weights *w)
{
    /* Conventional starting values, not measured on real events (there is
     * no public event data here): a view is the weakest signal, a cart
     * several views' worth, a purchase the strongest; a rating counts its
     * stars (docs/events.md). */
    memset(w, 0, sizeof *w);
    reco_event_weights_set(w, "view", 1, NULL);
    reco_event_weights_set(w, "cart", 3, NULL);
    reco_event_weights_set(w, "purchase", 5, NULL);
    reco_event_weights_set(w, RECO_EVENT_RATING, 1, NULL);
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

static bool name_ok(const char *name, size_t len)
{
    if (len == 0 || len > RECO_EVENT_TYPE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(name[i]))
            return false;
    return true;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c; }

int reco_event_weights_index(const reco_event_weights *w, const char *name, size_t len)
{
    if (len == 0 || len > RECO_EVENT_TYPE_MAX)
        return -1;
    for (uint32_t t = 0; t < w->n; t++) {
        const char *s = w->name[t];
        size_t i = 0;
        while (i < len && s[i] && s[i] == lower(name[i]))
            i++;
        if (i == len && s[i] == '\0')
            return (int)t;
    }
    return -1;
}

reco_status reco_event_weights_set(reco_event_weights *w, const char *name, double weight,
                                   reco_error *err)
{
    size_t len = strlen(name);
    if (!name_ok(name, len))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "event type \"%.40s\" is not 1 to %d letters, digits, '_', '-' or "
                              "'.'", name, RECO_EVENT_TYPE_MAX);
    if (!isfinite(weight) || weight < 0 || weight > RECO_EVENT_WEIGHT_MAX)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the weight of event type \"%s\" must be a number from 0 to %g, "
                              "got %g", name, RECO_EVENT_WEIGHT_MAX, weight);
    int t = reco_event_weights_index(w, name, len);
    if (t < 0) {
        if (w->n == RECO_EVENT_TYPES_MAX)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "too many event types (at most %d)", RECO_EVENT_TYPES_MAX);
        t = (int)w->n++;
        for (size_t i = 0; i <= len; i++)
            w->name[t][i] = lower(name[i]);
    }
    w->weight[t] = weight;
    return RECO_OK;
}

reco_status reco_event_weights_set_text(reco_event_weights *w, const char *text,
                                        reco_error *err)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || eq - text > RECO_EVENT_TYPE_MAX)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "event weight \"%.60s\" is not TYPE=WEIGHT (e.g. purchase=5)", text);
    char name[RECO_EVENT_TYPE_MAX + 1];
    memcpy(name, text, (size_t)(eq - text));
    name[eq - text] = '\0';
    char *end = NULL;
    double v = reco_strtod_c(eq + 1, &end);
    if (end == eq + 1 || *end != '\0')
        return reco_error_set(err, RECO_ERR_INVALID,
                              "event weight \"%.60s\": \"%.30s\" is not a number", text, eq + 1);
    return reco_event_weights_set(w, name, v, err);
}

/* "view, cart, purchase, rating" into buf. */
static const char *known_types(const reco_event_weights *w, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t t = 0; t < w->n && used < cap; t++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", t ? ", " : "", w->name[t]);
    return buf;
}

reco_status reco_event_weight(const reco_event_weights *w, const char *type, double *weight,
                              reco_error *err)
{
    int t = reco_event_weights_index(w, type, strlen(type));
    if (t < 0) {
        char known[RECO_EVENT_TYPES_MAX * (RECO_EVENT_TYPE_MAX + 2) + 1];
        return reco_error_set(err, RECO_ERR_NOT_FOUND,
                              "unknown event type \"%.40s\" (the model's weights know: %s)", type,
                              known_types(w, known, sizeof known));
    }
    *weight = w->weight[t];
    return RECO_OK;
}

reco_status reco_event_confidence(const reco_event_weights *w, const char *type, double value,
                                  double rating_min, double rating_max, double *confidence,
                                  reco_error *err)
{
    double weight = 0;
    reco_status rc = reco_event_weight(w, type, &weight, err);
    if (rc)
        return rc;
    bool rating = reco_event_weights_index(w, type, strlen(type)) ==
                  reco_event_weights_index(w, RECO_EVENT_RATING, strlen(RECO_EVENT_RATING));
    if (isnan(value)) {
        if (rating)
            return reco_error_set(err, RECO_ERR_INVALID, "a rating event needs a value (the "
                                                         "rating)");
        value = 1;
    }
    if (!isfinite(value))
        return reco_error_set(err, RECO_ERR_INVALID, "the event's value is not a finite number");
    if (rating && (value < rating_min || value > rating_max))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "rating %g is outside the allowed range %g to %g", value, rating_min,
                              rating_max);
    if (!rating && (value < 0 || value > RECO_EVENT_VALUE_MAX))
        return reco_error_set(err, RECO_ERR_INVALID, "the event's value %g is outside 0 to %.0f",
                              value, RECO_EVENT_VALUE_MAX);
    *confidence = weight * value;
    return RECO_OK;
}

char *reco_event_weights_format(const reco_event_weights *w, char *buf, size_t cap)
{
    size_t used = 0;
    if (cap)
        buf[0] = '\0';
    for (uint32_t t = 0; t < w->n && used < cap; t++) {
        int k = reco_snprintf_c(buf + used, cap - used, "%s%s=%g", t ? " " : "", w->name[t],
                                w->weight[t]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return buf;
}

/* Section "events.weights": n, then type.K (str) and weight.K (f64). */
reco_status reco_event_weights_save(const reco_event_weights *w, reco_mfile_writer *wr,
                                    reco_error *err)
{
    reco_mfile_meta *m = reco_mfile_meta_new(WEIGHTS_FORMAT);
    reco_mfile_meta_put_u64(m, "n", w->n);
    for (uint32_t t = 0; t < w->n; t++) {
        char key[32];
        snprintf(key, sizeof key, "type.%u", t);
        reco_mfile_meta_put_str(m, key, w->name[t]);
        snprintf(key, sizeof key, "weight.%u", t);
        reco_mfile_meta_put_f64(m, key, w->weight[t]);
    }
    return reco_mfile_add_meta(wr, "events.weights", m, err);
}

reco_status reco_event_weights_load(const reco_mfile *f, reco_event_weights **out,
                                    reco_error *err)
{
    *out = NULL;
    if (!reco_mfile_section(f, "events.weights", NULL))
        return RECO_OK; /* trained on ratings */
    reco_mfile_meta *m = NULL;
    reco_event_weights *w = calloc(1, sizeof *w);
    uint32_t n = 0;
    reco_status rc;
    if (!w)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if ((rc = reco_mfile_meta_read(f, "events.weights", WEIGHTS_FORMAT, &m, err)) ||
        (rc = reco_mfile_meta_get_u32(m, "n", 1, RECO_EVENT_TYPES_MAX, &n, err)))
        goto fail;
    for (uint32_t t = 0; t < n; t++) {
        char key[32];
        const char *name = NULL;
        double weight = 0;
        snprintf(key, sizeof key, "type.%u", t);
        if ((rc = reco_mfile_meta_get_str(m, key, RECO_EVENT_TYPE_MAX, &name, err)))
            goto fail;
        snprintf(key, sizeof key, "weight.%u", t);
        if ((rc = reco_mfile_meta_get_f64(m, key, 0, RECO_EVENT_WEIGHT_MAX, &weight, err)))
            goto fail;
        size_t len = strlen(name);
        if (!name_ok(name, len) || reco_event_weights_index(w, name, len) >= 0) {
            rc = reco_error_set(err, RECO_ERR_FORMAT,
                                "%s: section \"events.weights\": type.%u is %s", reco_mfile_path(f),
                                t, name_ok(name, len) ? "a repeated type" : "not a type name");
            goto fail;
        }
        if ((rc = reco_event_weights_set(w, name, weight, err)))
            goto fail;
    }
    reco_mfile_meta_free(m);
    *out = w;
    return RECO_OK;
fail:
    reco_mfile_meta_free(m);
    free(w);
    return rc;
}

/* ---- events --------------------------------------------------------------- */

reco_events *reco_events_new(reco_idmap *users, reco_idmap *items)
{
    reco_events *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->r = reco_ratings_new(users, items);
    if (!e->r) {
        free(e);
        return NULL;
    }
    return e;
}

void reco_events_free(reco_events *e)
{
    if (!e)
        return;
    reco_ratings_free(e->r);
    free(e->type);
    free(e);
}

reco_status reco_events_push(reco_events *e, uint32_t user, uint32_t item, uint32_t type,
                             float value, int64_t ts, reco_error *err)
{
    if (type >= RECO_EVENT_TYPES_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "event type index %u out of range", type);
    uint64_t n = e->r->n;
    reco_status rc = reco_ratings_push(e->r, user, item, value, ts, err);
    if (rc)
        return rc;
    if (e->type_cap < e->r->cap) { /* the ratings grew: the types follow */
        uint8_t *t = realloc(e->type, e->r->cap);
        if (!t) {
            e->r->n = n;
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory adding an event");
        }
        e->type = t;
        e->type_cap = e->r->cap;
    }
    e->type[n] = (uint8_t)type;
    e->count[type]++;
    return RECO_OK;
}

static reco_status events_wrap(reco_status rc, reco_ratings *r, uint8_t *types,
                               reco_events **out, reco_error *err)
{
    *out = NULL;
    if (rc)
        return rc;
    reco_events *e = calloc(1, sizeof *e);
    if (!e) {
        reco_ratings_free(r);
        free(types);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    e->r = r;
    e->type = types;
    e->type_cap = r->cap;
    for (uint64_t k = 0; k < r->n; k++)
        e->count[types[k]]++;
    *out = e;
    return RECO_OK;
}

reco_status reco_events_load(const char *path, const reco_load_options *opt,
                             const reco_event_weights *w, reco_events **out, reco_error *err)
{
    reco_ratings *r = NULL;
    uint8_t *types = NULL;
    reco_status rc = reco_parse_file(path, opt, w, &r, &types, err);
    return events_wrap(rc, r, types, out, err);
}

reco_status reco_events_parse(const char *buf, size_t len, const char *name,
                              const reco_load_options *opt, const reco_event_weights *w,
                              reco_events **out, reco_error *err)
{
    reco_ratings *r = NULL;
    uint8_t *types = NULL;
    reco_status rc = reco_parse_buffer(buf, len, name, opt, w, &r, &types, err);
    return events_wrap(rc, r, types, out, err);
}

reco_status reco_events_append(reco_events *dst, const reco_events *src, reco_error *err)
{
    if (src->r->users != dst->r->users || src->r->items != dst->r->items)
        return reco_error_set(err, RECO_ERR_INVALID, "events of other ID maps cannot be appended");
    for (uint64_t k = 0; k < src->r->n; k++) {
        reco_status rc = reco_events_push(dst, src->r->user[k], src->r->item[k], src->type[k],
                                          src->r->rating[k], src->r->ts[k], err);
        if (rc)
            return rc;
    }
    dst->r->has_ts |= src->r->has_ts;
    return RECO_OK;
}

reco_status reco_events_add_ratings(reco_events *e, const reco_ratings *r,
                                    const reco_event_weights *w, reco_error *err)
{
    if (r->users != e->r->users || r->items != e->r->items)
        return reco_error_set(err, RECO_ERR_INVALID, "ratings of other ID maps cannot be added");
    int t = reco_event_weights_index(w, RECO_EVENT_RATING, strlen(RECO_EVENT_RATING));
    if (t < 0)
        return reco_error_set(err, RECO_ERR_NOT_FOUND,
                              "rating files become \"rating\" events, which have no weight");
    for (uint64_t k = 0; k < r->n; k++) {
        reco_status rc =
            reco_events_push(e, r->user[k], r->item[k], (uint32_t)t, r->rating[k], r->ts[k], err);
        if (rc)
            return rc;
    }
    e->r->has_ts |= r->has_ts;
    return RECO_OK;
}

typedef struct pair_ref {
    uint64_t key; /* user << 32 | item */
    uint64_t at;  /* the event's position: sums run in input order */
} pair_ref;

static int by_pair(const void *a, const void *b)
{
    const pair_ref *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

reco_status reco_events_aggregate(const reco_events *e, const reco_event_weights *w,
                                  reco_ratings **out, uint64_t *dropped, reco_error *err)
{
    *out = NULL;
    if (dropped)
        *dropped = 0;
    const reco_ratings *r = e->r;
    for (uint64_t k = 0; k < r->n; k++)
        if (e->type[k] >= w->n)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "an event's type is not in the weights table");
    pair_ref *ref = malloc((r->n + 1) * sizeof *ref);
    reco_ratings *o = reco_ratings_new(r->users, r->items);
    if (!ref || !o) {
        free(ref);
        reco_ratings_free(o);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory aggregating events");
    }
    for (uint64_t k = 0; k < r->n; k++) {
        ref[k].key = (uint64_t)r->user[k] << 32 | r->item[k];
        ref[k].at = k;
    }
    /* Sorted by pair, then by position: the same sums, bit for bit,
     * whatever the order in which the files were cut for parsing. */
    qsort(ref, r->n, sizeof *ref, by_pair);
    reco_status rc = RECO_OK;
    uint64_t gone = 0;
    for (uint64_t a = 0; a < r->n && !rc;) {
        uint64_t b = a;
        double conf = 0;
        int64_t ts = INT64_MIN;
        for (; b < r->n && ref[b].key == ref[a].key; b++) {
            uint64_t k = ref[b].at;
            conf += w->weight[e->type[k]] * (double)r->rating[k];
            if (r->ts[k] > ts)
                ts = r->ts[k];
        }
        if (conf > 0 && conf <= FLT_MAX)
            rc = reco_ratings_push(o, (uint32_t)(ref[a].key >> 32), (uint32_t)ref[a].key,
                                   (float)conf, ts, err);
        else if (conf > 0)
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "the confidence of a (user, product) pair is over %g", FLT_MAX);
        else
            gone++;
        a = b;
    }
    free(ref);
    if (!rc && o->n == 0)
        rc = reco_error_set(err, RECO_ERR_EMPTY,
                            "no interactions: every (user, product) pair's events weigh 0");
    if (rc) {
        reco_ratings_free(o);
        return rc;
    }
    o->has_ts = r->has_ts;
    o->report = r->report;
    o->report.ratings = o->n;
    if (dropped)
        *dropped = gone;
    *out = o;
    return RECO_OK;
}

reco_status reco_events_ratings(const reco_events *e, const reco_event_weights *w,
                                reco_ratings **out, reco_error *err)
{
    *out = NULL;
    int t = reco_event_weights_index(w, RECO_EVENT_RATING, strlen(RECO_EVENT_RATING));
    reco_ratings *o = reco_ratings_new(e->r->users, e->r->items);
    if (!o)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_status rc = RECO_OK;
    for (uint64_t k = 0; k < e->r->n && !rc && t >= 0; k++)
        if (e->type[k] == (uint8_t)t)
            rc = reco_ratings_push(o, e->r->user[k], e->r->item[k], e->r->rating[k], e->r->ts[k],
                                   err);
    if (!rc && o->n == 0)
        rc = reco_error_set(err, RECO_ERR_EMPTY, "the events hold no \"rating\" events");
    if (rc) {
        reco_ratings_free(o);
        return rc;
    }
    o->has_ts = e->r->has_ts;
    o->report = e->r->report;
    o->report.ratings = o->n;
    *out = o;
    return RECO_OK;
}
