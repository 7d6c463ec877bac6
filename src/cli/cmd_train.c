/* reco train: fit a model on a rating file and write a model file. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_events.h"
#include "reco/catalogue.h"
#include "reco/default_algo.h"
#include "reco/model.h"
#include "reco/ratings_log.h"
#include "reco/service.h"

/* What was read of the ratings log. */
typedef struct log_input {
    const char *path;
    reco_log_point start, end;
    uint64_t ratings, bad;
} log_input;

static int add_log_rating(void *ctx, const char *u, size_t ul, const char *i, size_t il, float r,
                          int64_t ts)
{
    return reco_ratings_add(ctx, u, ul, i, il, r, ts, NULL) != RECO_OK;
}

/* The header of a rating file, if it is an archive of a ratings log. */
static bool archive_header(const char *path, reco_log_header *h)
{
    char buf[RECO_LOG_HEADER_MAX];
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : NULL;
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return reco_log_header_parse(buf, n, h) == 0 && h->kind == RECO_LOG_KIND_ARCHIVE;
}

static int by_offset(const void *a, const void *b)
{
    const reco_log_header *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Several rating files and the ratings log, interned into one set of ID
 * maps and built into one dataset (a repeated pair keeps the latest
 * rating; the later one on a tie, so the log's over the files'). A log
 * that was compacted needs its archives among the files, unless
 * without_archived. */
static int load_inputs(cli_data_opts *o, char **files, int nfiles, log_input *lg,
                       bool without_archived, cli_events *ev, const char *algo,
                       reco_dataset **out)
{
    reco_error err;
    reco_ratings *all = reco_ratings_new(NULL, NULL);
    reco_log_header *arch = calloc((size_t)nfiles + 1, sizeof *arch);
    int narch = 0, rc = EXIT_OK;
    if (!all || !arch) {
        cli_error("train", "out of memory");
        rc = EXIT_FAIL;
        goto out;
    }
    for (int f = 0; f < nfiles; f++) {
        if (archive_header(files[f], &arch[narch]))
            narch++;
        cli_progress *pb = cli_progress_new(!o->quiet);
        reco_load_options lo = o->load;
        lo.progress.fn = cli_progress_cb;
        lo.progress.ctx = pb;
        lo.users = all->users;
        lo.items = all->items;
        reco_ratings *r = NULL;
        reco_status st = reco_ratings_load(files[f], &lo, &r, &err);
        cli_progress_free(pb);
        if (st) {
            cli_error("train", "%s", err.msg);
            rc = cli_exit_status(st);
            goto out;
        }
        if (!o->quiet)
            cli_report_bad_lines("train", &r->report);
        for (uint64_t k = 0; k < r->n && !st; k++)
            st = reco_ratings_push(all, r->user[k], r->item[k], r->rating[k], r->ts[k], &err);
        all->has_ts |= r->has_ts;
        reco_ratings_free(r);
        if (st) {
            cli_error("train", "%s", err.msg);
            rc = cli_exit_status(st);
            goto out;
        }
    }
    if (lg->path) {
        reco_log_parse_opts po = {lg->path, 0, o->load.rating_min, o->load.rating_max,
                                  o->load.skip_bad};
        reco_log_parse_report rep;
        reco_status st = reco_log_read_all(lg->path, &po, add_log_rating, all, &lg->start,
                                           &lg->end, &rep, &err);
        if (st) {
            cli_error("train", "%s", err.msg);
            rc = cli_exit_status(st);
            goto out;
        }
        lg->ratings = rep.ratings;
        lg->bad = rep.bad;
        all->has_ts = true;
        if (rep.bad && !o->quiet) {
            char n[32];
            cli_error("train", "skipped %s bad line%s of %s:", cli_thousands(rep.bad, n, sizeof n),
                      rep.bad == 1 ? "" : "s", lg->path);
            for (size_t k = 0; k < rep.n_messages; k++)
                fprintf(stderr, "  %s\n", rep.messages[k]);
        }
        /* Compacted: the lines before its start must be among the files. */
        uint64_t cover = 0, cover_seq = 0;
        qsort(arch, (size_t)narch, sizeof *arch, by_offset);
        for (int a = 0; a < narch; a++)
            if (!strcmp(arch[a].id, lg->start.id) && arch[a].offset <= cover &&
                arch[a].end_offset > cover) {
                cover = arch[a].end_offset;
                cover_seq = arch[a].end_seq;
            }
        if (cover < lg->start.offset && !without_archived) {
            char a[32], b[32];
            cli_error("train",
                      "%s starts at rating #%s: the ratings before were moved to an archive "
                      "(reco log compact). Give the archive as a rating file too (reco train "
                      "RATINGS ARCHIVE --ratings-log LOG)%s%s%s, or pass "
                      "--without-archived-ratings to train without them",
                      lg->path, cli_thousands(lg->start.seq, a, sizeof a),
                      cover ? "; the archives given reach rating #" : "",
                      cover ? cli_thousands(cover_seq, b, sizeof b) : "", cover ? " only" : "");
            rc = EXIT_USAGE;
            goto out;
        }
    }
    if (ev->files.n && (rc = cli_events_merge("train", ev, o, algo, &all)))
        goto out;
    if (all->n == 0) {
        cli_error("train", "no ratings to train on");
        rc = EXIT_USAGE;
        goto out;
    }
    cli_progress *pb = cli_progress_new(!o->quiet);
    reco_build_options bo = o->build;
    bo.progress.fn = cli_progress_cb;
    bo.progress.ctx = pb;
    reco_status st = reco_dataset_build(all, &bo, out, &err);
    cli_progress_free(pb);
    if (st) {
        cli_error("train", "%s", err.msg);
        rc = cli_exit_status(st);
    }
out:
    free(arch);
    reco_ratings_free(all);
    return rc;
}

/* The algorithms and their default parameters, for --help. */
static void algorithms_help(FILE *f)
{
    fprintf(f, "Algorithms:\n");
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
        reco_model *m = NULL;
        char params[2048] = "";
        if (reco_model_new((*a)->name, &m, NULL) == RECO_OK && (*a)->params_format)
            (*a)->params_format(m->params, params, sizeof params);
        char line[2100];
        snprintf(line, sizeof line, "  %-9s %s", (*a)->name, (*a)->summary);
        cli_help_wrap(f, line, 0);
        snprintf(line, sizeof line, "defaults: %s", params);
        cli_help_wrap(f, line, 12);
        reco_model_free(m);
    }
    fputc('\n', f);
    cli_help_wrap(f, "Every model also fits the baseline (params baseline.reg_u, baseline.reg_i: "
                     "any regularisation from 0, which gives plain mean residuals; "
                     "baseline.epochs) and the popularity ranking that users it has never seen "
                     "get: popular.by=count (default: products by number of training ratings) "
                     "or mean (damped mean rating, with popular.damping and popular.min_count: "
                     "products with fewer ratings follow the rest). popular.half_life_days=H "
                     "(count only; 0, the default, is off) weighs each rating by 2^(-age/H), the "
                     "age in days counted back from the latest rating in the training data "
                     "(needs timestamps). The popular algorithm's own parameters are these. "
                     "similar.min_support=N (default 10) is the fewest ratings a product needs "
                     "to be listed as similar by factor cosine (reco similar --help).", 0);
}

int cmd_train(int argc, char **argv)
{
    cli_data_opts o;
    cli_data_opts_init(&o);
    o.filters_shown = true;
    const char *algo = "default", *output = NULL, *items = NULL;
    log_input lg;
    memset(&lg, 0, sizeof lg);
    bool without_archived = false;
    cli_list params = {.n = 0};
    cli_events ev;
    memset(&ev, 0, sizeof ev);
    const cli_option options[] = {
        CLI_OPT_HEADING("Model:"),
        {CLI_STRING, "algo", 'a', "ALGO", "algorithm (default: default)", &algo, 0, 0, NULL,
         NULL},
        {CLI_LIST, "param", 'p', "KEY=VALUE", "set a parameter (repeatable), e.g. --param "
         "factors=64 or --param mf.factors=64", &params, 0, 0, NULL, NULL},
        {CLI_STRING, "output", 'o', "MODEL", "model file to write (required)", &output, 0, 0,
         NULL, NULL},
        {CLI_STRING, "ratings-log", 0, "LOG", "train on the ratings log of reco serve too (what "
         "is durable now) and record the point reached; a log that was compacted needs its "
         "archive among the RATINGS", &lg.path, 0, 0, NULL, NULL},
        {CLI_FLAG, "without-archived-ratings", 0, NULL, "train although the log's archived "
         "ratings are not given", &without_archived, 0, 0, NULL, NULL},
        {CLI_STRING, "items", 0, "FILE", "the product catalogue to store in the model: CSV with "
         "a header line (item_id; title, category as a path like A/B/C, available, added, "
         "any other column a label) or JSON Lines (docs/catalogue.md)", &items, 0, 0, NULL,
         NULL},
        {CLI_LIST, "events", 0, "FILE", "train on an event file too (repeatable): lines "
         "user,item,type[,value][,timestamp]; ials, ease, popular and default train on the "
         "confidence per (user, product), the sum of weight(type) x value, rating files "
         "counting as \"rating\" events; the rating models on the rating events "
         "(docs/events.md)", &ev.files, 0, 0, NULL, NULL},
        {CLI_LIST, "event-weight", 0, "TYPE=W", "the weight of an event type, known or new "
         "(repeatable; defaults view=1 cart=3 purchase=5 rating=1)", &ev.weights, 0, 0, NULL,
         NULL},
        CLI_OPT_INCLUDE(o.table),
        CLI_OPT_HEADING("Output:"),
        CLI_OPT_JSON(&o.json, "print the summary as JSON (docs/json.md)"),
        CLI_OPT_QUIET(&o.quiet, "no progress bar, no summary"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "train",
        .usage = "[OPTIONS] RATINGS... -o MODEL\n"
                 "[OPTIONS] RATINGS... [ARCHIVE...] --ratings-log LOG -o MODEL",
        .description =
            "Fits a recommender on rating files and writes a model file that `reco serve`, "
            "`reco recommend`, `reco similar` and `reco predict` load by mapping it. With "
            "--ratings-log it also trains on the ratings `reco serve` has acknowledged so far "
            "and records how far it read, so that the server replays only the rest and `reco "
            "log compact` can archive what the model holds (docs/operations.md). Without --algo "
            "it builds the recommended model, \"default\": the ranker that ranks best on a "
            "validation split carved from RATINGS (ials, ease or popular) plus mf for predicted "
            "ratings, in one file (docs/algorithms.md). A rating file may be a postgresql:// "
            "table or query (docs/postgresql.md).",
        .more_help = algorithms_help,
        .options = options,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (!output)
        return cli_usage("train", "missing -o MODEL");
    if (first == argc && !lg.path && !ev.files.n)
        return cli_usage("train", "missing RATINGS (or --events FILE)");
    if (ev.weights.n && !ev.files.n)
        return cli_usage("train", "--event-weight needs --events FILE");
    if ((rc = cli_events_weights("train", &ev)))
        return rc;
    reco_error err;
    reco_model *m = NULL;
    reco_status st = reco_model_new(algo, &m, &err);
    for (int i = 0; i < params.n && !st; i++)
        st = reco_model_set_param_text(m, params.v[i], &err);
    if (!st && ev.files.n && !strcmp(algo, "default"))
        st = reco_model_set_param(m, "predictor", "none", &err); /* confidences are no stars */
    if (st) {
        cli_error("train", "%s", err.msg);
        reco_model_free(m);
        return EXIT_USAGE;
    }
    reco_catalogue *cat = NULL;
    if (items && (st = reco_catalogue_load(items, &cat, &err))) {
        cli_error("train", "%s", err.msg);
        reco_model_free(m);
        return cli_exit_status(st);
    }
    m->catalogue = cat; /* the model owns it */
    reco_dataset *ds = NULL;
    rc = first == argc - 1 && !lg.path && !ev.files.n
             ? cli_load_dataset("train", argv[first], &o, &ds)
             : load_inputs(&o, argv + first, argc - first, &lg, without_archived, &ev, algo, &ds);
    if (rc) {
        reco_model_free(m);
        return rc;
    }
    cli_progress *pb = cli_progress_new(!o.quiet);
    reco_fit_ctx ctx = {0};
    ctx.threads = o.load.threads;
    ctx.progress.fn = cli_progress_cb;
    ctx.progress.ctx = pb;
    st = reco_model_fit(m, ds, &ctx, &err);
    cli_progress_free(pb);
    if (st == RECO_OK) {
        /* A sample keeps this cheap on millions of ratings. */
        m->train_rmse = reco_model_train_rmse(m, 1000000);
        if (lg.path)
            m->log_point = lg.end;
        if (ev.confidence && !(m->event_weights = malloc(sizeof ev.w)))
            st = reco_error_set(&err, RECO_ERR_NOMEM, "out of memory");
        else if (ev.confidence)
            *m->event_weights = ev.w;
        st = reco_model_save(m, output, &err);
    }
    reco_catalogue_view *cv = NULL;
    if (st == RECO_OK && cat)
        st = reco_catalogue_view_new(cat, ds->items, &cv, &err);
    if (st) {
        cli_error("train", "%s", err.msg);
        reco_model_free(m);
        reco_dataset_free(ds);
        return cli_exit_status(st);
    }
    char params_text[2048] = "", choice[1024] = "";
    if (m->ops->params_format)
        m->ops->params_format(m->params, params_text, sizeof params_text);
    const reco_default_choice *ch = reco_default_choice_of(m);
    if (ch)
        reco_default_choice_format(ch, choice, sizeof choice);
    if (o.json) {
        json_t *j = json_object();
        json_object_set_new(j, "model", json_string(output));
        json_object_set_new(j, "algorithm", json_string(algo));
        json_object_set_new(j, "params", reco_json_params(params_text));
        json_object_set_new(j, "users", json_integer(reco_dataset_n_users(ds)));
        json_object_set_new(j, "items", json_integer(reco_dataset_n_items(ds)));
        json_object_set_new(j, "ratings", json_integer((json_int_t)reco_dataset_nnz(ds)));
        json_object_set_new(j, "fit_seconds", reco_json_real(m->fit_seconds));
        json_object_set_new(j, "train_rmse", reco_json_real(m->train_rmse));
        json_object_set_new(j, "filtered_users", json_integer(ds->filtered_users));
        json_object_set_new(j, "filtered_items", json_integer(ds->filtered_items));
        json_object_set_new(j, "filtered_ratings", json_integer((json_int_t)ds->filtered_ratings));
        if (ch)
            json_object_set_new(j, "ranker", reco_default_choice_json(ch));
        if (cv)
            json_object_set_new(j, "catalogue",
                                json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "file", items, "products",
                                          (json_int_t)reco_catalogue_size(cat), "categories",
                                          (json_int_t)reco_catalogue_n_categories(cat),
                                          "unavailable",
                                          (json_int_t)reco_catalogue_n_unavailable(cat),
                                          "in_model", (json_int_t)cv->in_catalogue,
                                          "catalogue_only", (json_int_t)cv->only_catalogue));
        if (ev.files.n)
            json_object_set_new(j, "events", cli_events_json(&ev));
        if (lg.path)
            json_object_set_new(j, "ratings_log",
                                json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "file", lg.path, "id",
                                          lg.end.id, "first_rating", (json_int_t)lg.start.seq,
                                          "end_rating", (json_int_t)lg.end.seq, "ratings",
                                          (json_int_t)lg.ratings, "bad_lines_skipped",
                                          (json_int_t)lg.bad));
        cli_print_json(j);
        json_decref(j);
    } else if (!o.quiet) {
        char a[32], b[32], c2[32];
        printf("trained %s (%s) on %s users, %s products, %s %s in %.2f s\n", algo,
               params_text, cli_thousands(reco_dataset_n_users(ds), a, sizeof a),
               cli_thousands(reco_dataset_n_items(ds), b, sizeof b),
               cli_thousands(reco_dataset_nnz(ds), c2, sizeof c2),
               ev.confidence ? "interactions" : "ratings", m->fit_seconds);
        char note[160];
        if (*cli_filter_summary(ds, note, sizeof note))
            printf("%s\n", note);
        if (lg.path) {
            char x[32], y[32], z[32];
            printf("with %s ratings of the log %s (ratings #%s to #%s; the server replays "
                   "those after)\n", cli_thousands(lg.ratings, x, sizeof x), lg.path,
                   cli_thousands(lg.start.seq, y, sizeof y), cli_thousands(lg.end.seq, z, sizeof z));
        }
        if (ev.files.n) {
            char evs[2048];
            cli_events_summary(&ev, evs, sizeof evs);
            printf("%s\n", evs);
        }
        if (ch)
            printf("ranker: %s\n", choice);
        if (cv) {
            char x[32], y[32], z[32], w[32], v[32];
            printf("catalogue %s: %s products (%s of them rated, %s without ratings), %s "
                   "categories, %s unavailable\n", items,
                   cli_thousands(reco_catalogue_size(cat), x, sizeof x),
                   cli_thousands(cv->in_catalogue, y, sizeof y),
                   cli_thousands(cv->only_catalogue, z, sizeof z),
                   cli_thousands(reco_catalogue_n_categories(cat), w, sizeof w),
                   cli_thousands(reco_catalogue_n_unavailable(cat), v, sizeof v));
        }
        if (!reco_model_predicts_ratings(m))
            printf("%s ranks and predicts no ratings: predictions come from the baseline "
                   "(training RMSE %.4f)\n", algo, m->train_rmse);
        else
            printf("training RMSE %.4f (on the training ratings: not a measure of accuracy; "
                   "see reco eval)\n", m->train_rmse);
        printf("wrote %s\n", output);
    }
    reco_catalogue_view_free(cv);
    reco_model_free(m);
    reco_dataset_free(ds);
    return EXIT_OK;
}
