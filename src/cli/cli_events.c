/* Event files for reco train and reco stats (cli_events.h). */
#include "cli_events.h"

#include <stdlib.h>
#include <string.h>

bool cli_events_confidence_algo(const char *algo)
{
    static const char *const names[] = {"ials", "ease", "popular", "default", NULL};
    for (const char *const *n = names; *n; n++)
        if (!strcmp(algo, *n))
            return true;
    return false;
}

int cli_events_weights(const char *cmd, cli_events *ev)
{
    reco_event_weights_default(&ev->w);
    reco_error err;
    for (int k = 0; k < ev->weights.n; k++)
        if (reco_event_weights_set_text(&ev->w, ev->weights.v[k], &err))
            return cli_usage(cmd, "%s", err.msg);
    return EXIT_OK;
}

int cli_events_merge(const char *cmd, cli_events *ev, cli_data_opts *o, const char *algo,
                     reco_ratings **all)
{
    reco_error err;
    reco_ratings *r = *all;
    reco_events *e = reco_events_new(r->users, r->items);
    reco_ratings *out = NULL;
    int rc = EXIT_OK;
    reco_status st = e ? RECO_OK : RECO_ERR_NOMEM;
    if (st)
        reco_error_set(&err, st, "out of memory");
    for (int f = 0; f < ev->files.n && !st; f++) {
        cli_progress *pb = cli_progress_new(!o->quiet);
        reco_load_options lo = o->load;
        lo.progress.fn = cli_progress_cb;
        lo.progress.ctx = pb;
        lo.users = r->users;
        lo.items = r->items;
        reco_events *one = NULL;
        st = reco_events_load(ev->files.v[f], &lo, &ev->w, &one, &err);
        cli_progress_free(pb);
        if (!st) {
            if (!o->quiet)
                cli_report_bad_lines(cmd, &one->r->report);
            ev->events += one->r->n;
            st = reco_events_append(e, one, &err);
        }
        reco_events_free(one);
    }
    ev->confidence = cli_events_confidence_algo(algo);
    if (!st && ev->confidence) {
        /* Ratings are "rating" events; everything becomes confidence. */
        st = reco_events_add_ratings(e, r, &ev->w, &err);
        if (!st)
            st = reco_events_aggregate(e, &ev->w, &out, &ev->zero_pairs, &err);
    } else if (!st) {
        /* A rating model: the ratings, then the rating events. */
        reco_ratings *re = NULL;
        st = reco_events_ratings(e, &ev->w, &re, &err);
        if (st == RECO_ERR_EMPTY && r->n) {
            st = RECO_OK; /* the rating files alone */
        } else if (st == RECO_ERR_EMPTY) {
            reco_error_set(&err, st,
                           "%s predicts ratings and trains on rating events only (\"rating\" "
                           "events and rating files), and there are none; the implicit-feedback "
                           "models train on every event: --algo ials, ease, popular or default "
                           "(docs/events.md)", algo);
        }
        for (uint64_t k = 0; re && k < re->n && !st; k++)
            st = reco_ratings_push(r, re->user[k], re->item[k], re->rating[k], re->ts[k], &err);
        if (re)
            r->has_ts |= re->has_ts;
        reco_ratings_free(re);
    }
    if (e)
        for (uint32_t t = 0; t < RECO_EVENT_TYPES_MAX; t++)
            ev->count[t] = e->count[t];
    reco_events_free(e);
    if (st) {
        cli_error(cmd, "%s", err.msg);
        rc = cli_exit_status(st);
    } else if (out) {
        reco_ratings_free(*all);
        *all = out;
    }
    return rc;
}

void cli_events_summary(const cli_events *ev, char *buf, size_t cap)
{
    char n[32], wt[RECO_EVENT_TYPES_MAX * 48];
    size_t used = (size_t)snprintf(buf, cap, "%s events (", cli_thousands(ev->events, n, sizeof n));
    bool any = false;
    for (uint32_t t = 0; t < ev->w.n && used < cap; t++) {
        if (!ev->count[t])
            continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s %s", any ? ", " : "", ev->w.name[t],
                                 cli_thousands(ev->count[t], n, sizeof n));
        any = true;
    }
    if (used < cap)
        snprintf(buf + used, cap - used, "%s); weights %s; trained on %s", any ? "" : "none",
                 reco_event_weights_format(&ev->w, wt, sizeof wt),
                 ev->confidence ? "the confidence per (user, product)" : "the rating events");
}

json_t *cli_events_json(const cli_events *ev)
{
    json_t *files = json_array(), *per = json_object(), *w = json_object();
    for (int k = 0; k < ev->files.n; k++)
        json_array_append_new(files, json_string(ev->files.v[k]));
    for (uint32_t t = 0; t < ev->w.n; t++) {
        json_object_set_new(per, ev->w.name[t], json_integer((json_int_t)ev->count[t]));
        json_object_set_new(w, ev->w.name[t], reco_json_real(ev->w.weight[t]));
    }
    return json_pack("{s:o,s:I,s:o,s:o,s:s,s:I}", "files", files, "events",
                     (json_int_t)ev->events, "per_type", per, "weights", w, "trains_on",
                     ev->confidence ? "confidence" : "ratings", "zero_pairs",
                     (json_int_t)ev->zero_pairs);
}
