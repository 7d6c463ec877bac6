/* reco train: fit a model on a rating file and write a model file. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reco/default_algo.h"
#include "reco/model.h"
#include "reco/ratings_log.h"
#include "service.h"

enum { OPT_ALGO = OPT_FIRST_FREE, OPT_PARAM, OPT_OUTPUT, OPT_RATINGS_LOG, OPT_WITHOUT_ARCHIVED };

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
                       bool without_archived, reco_dataset **out)
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

static void help(void)
{
    printf("Usage: reco train [--algo ALGO] [--param KEY=VALUE ...] [OPTIONS] RATINGS... -o MODEL\n"
           "       reco train [OPTIONS] RATINGS... [ARCHIVE...] --ratings-log LOG -o MODEL\n\n"
           "Fits a recommender on rating files and writes a model file that `reco serve`,\n"
           "`reco recommend`, `reco similar` and `reco predict` load by mapping it.\n"
           "With --ratings-log it also trains on the ratings `reco serve` has acknowledged\n"
           "so far and records how far it read, so that the server replays only the rest\n"
           "and `reco log compact` can archive what the model holds (docs/operations.md).\n"
           "Without --algo it builds the recommended model, \"default\": the ranker that\n"
           "ranks best on a validation split carved from RATINGS (ials, ease or popular)\n"
           "plus mf for predicted ratings, in one file (docs/algorithms.md).\n\n"
           "Algorithms:\n");
    for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
        reco_model *m = NULL;
        char params[2048] = "";
        if (reco_model_new((*a)->name, &m, NULL) == RECO_OK && (*a)->params_format)
            (*a)->params_format(m->params, params, sizeof params);
        printf("  %-9s %s\n            defaults: %s\n", (*a)->name, (*a)->summary, params);
        reco_model_free(m);
    }
    printf("\nEvery model also fits the baseline (params baseline.reg_u, baseline.reg_i:\n"
           "any regularisation from 0, which gives plain mean residuals; baseline.epochs)\n"
           "and the popularity ranking that users it has never seen get:\n"
           "popular.by=count (default: products by number of training ratings) or mean\n"
           "(damped mean rating, with popular.damping and popular.min_count: products with\n"
           "fewer ratings follow the rest). popular.half_life_days=H (count only; 0, the\n"
           "default, is off) weighs each rating by 2^(-age/H), the age in days counted back\n"
           "from the latest rating in the training data (needs timestamps). The popular\n"
           "algorithm's own parameters are these. similar.min_support=N (default 10) is\n"
           "the fewest ratings a product needs to be listed as similar by factor cosine\n"
           "(reco similar --help).\n\n"
           "Options:\n"
           "  -a, --algo ALGO        algorithm (default: default)\n"
           "  -p, --param KEY=VALUE  set a parameter (repeatable), e.g. --param factors=64\n"
           "  -o, --output MODEL     model file to write (required)\n"
           "  --ratings-log LOG      train on the ratings log of reco serve too (what is\n"
           "                         durable now) and record the point reached; a log that\n"
           "                         was compacted needs its archive among the RATINGS\n"
           "  --without-archived-ratings\n"
           "                         train although the log's archived ratings are not given\n"
           "%s"
           "  --json                 print the summary as JSON\n"
           "  --quiet                no progress bar\n"
           "  --help                 show this help\n",
           CLI_DATA_HELP);
}

int cmd_train(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DATA_LONGOPTS,
        {"algo", required_argument, NULL, 'a'},
        {"param", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"ratings-log", required_argument, NULL, OPT_RATINGS_LOG},
        {"without-archived-ratings", no_argument, NULL, OPT_WITHOUT_ARCHIVED},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    cli_data_opts o;
    cli_data_opts_init(&o);
    o.filters_shown = true;
    const char *algo = NULL, *output = NULL;
    log_input lg;
    memset(&lg, 0, sizeof lg);
    bool without_archived = false;
    const char **params = calloc((size_t)argc + 1, sizeof *params);
    int n_params = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "a:p:o:q", longopts, NULL)) != -1) {
        int r = cli_data_option("train", c, optarg, &o);
        if (r < 0)
            goto usage;
        if (r > 0)
            continue;
        switch (c) {
        case 'a': algo = optarg; break;
        case 'p': params[n_params++] = optarg; break;
        case 'o': output = optarg; break;
        case OPT_RATINGS_LOG: lg.path = optarg; break;
        case OPT_WITHOUT_ARCHIVED: without_archived = true; break;
        case OPT_JSON: o.json = true; break;
        case 'q':
        case OPT_QUIET: o.quiet = true; break;
        case OPT_HELP: help(); free(params); return EXIT_OK;
        default:
            cli_error("train", "unknown or incomplete option '%s'", argv[optind - 1]);
            goto usage;
        }
    }
    if (!algo)
        algo = "default";
    if (!output || (optind == argc && !lg.path)) {
        cli_error("train", !output ? "missing -o MODEL" : "missing RATINGS");
        goto usage;
    }
    reco_error err;
    reco_model *m = NULL;
    if (reco_model_new(algo, &m, &err)) {
        cli_error("train", "%s", err.msg);
        goto usage;
    }
    for (int i = 0; i < n_params; i++) {
        char key[128];
        const char *eq = strchr(params[i], '=');
        size_t kl = eq ? (size_t)(eq - params[i]) : 0;
        if (!eq || kl == 0 || kl >= sizeof key) {
            cli_error("train", "--param wants KEY=VALUE, got \"%s\"", params[i]);
            reco_model_free(m);
            goto usage;
        }
        memcpy(key, params[i], kl);
        key[kl] = '\0';
        /* Accept "mf.factors" as well as "factors". */
        const char *k = key;
        size_t al = strlen(algo);
        if (!strncmp(k, algo, al) && k[al] == '.')
            k += al + 1;
        if (reco_model_set_param(m, k, eq + 1, &err)) {
            cli_error("train", "%s", err.msg);
            reco_model_free(m);
            goto usage;
        }
    }
    free(params);
    reco_dataset *ds = NULL;
    int rc = optind == argc - 1 && !lg.path
                 ? cli_load_dataset("train", argv[optind], &o, &ds)
                 : load_inputs(&o, argv + optind, argc - optind, &lg, without_archived, &ds);
    if (rc) {
        reco_model_free(m);
        return rc;
    }
    cli_progress *pb = cli_progress_new(!o.quiet);
    reco_fit_ctx ctx = {0};
    ctx.threads = o.load.threads;
    ctx.progress.fn = cli_progress_cb;
    ctx.progress.ctx = pb;
    reco_status st = reco_model_fit(m, ds, &ctx, &err);
    cli_progress_free(pb);
    if (st == RECO_OK) {
        /* A sample keeps this cheap on millions of ratings. */
        m->train_rmse = reco_model_train_rmse(m, 1000000);
        if (lg.path)
            m->log_point = lg.end;
        st = reco_model_save(m, output, &err);
    }
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
        json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:f,s:f}", "model", output, "algorithm",
                              algo, "params", params_text, "users",
                              (json_int_t)reco_dataset_n_users(ds), "items",
                              (json_int_t)reco_dataset_n_items(ds), "ratings",
                              (json_int_t)reco_dataset_nnz(ds), "fit_seconds", m->fit_seconds,
                              "train_rmse", m->train_rmse);
        json_object_set_new(j, "filtered_users", json_integer(ds->filtered_users));
        json_object_set_new(j, "filtered_products", json_integer(ds->filtered_items));
        json_object_set_new(j, "filtered_ratings", json_integer((json_int_t)ds->filtered_ratings));
        if (ch)
            json_object_set_new(j, "ranker", reco_default_choice_json(ch));
        if (lg.path)
            json_object_set_new(j, "ratings_log",
                                json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "file", lg.path, "id",
                                          lg.end.id, "ratings", (json_int_t)lg.ratings,
                                          "bad_lines", (json_int_t)lg.bad, "from_rating",
                                          (json_int_t)lg.start.seq, "to_rating",
                                          (json_int_t)lg.end.seq));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(j);
    } else if (!o.quiet) {
        char a[32], b[32], c2[32];
        printf("trained %s (%s) on %s users, %s products, %s ratings in %.2f s\n", algo,
               params_text, cli_thousands(reco_dataset_n_users(ds), a, sizeof a),
               cli_thousands(reco_dataset_n_items(ds), b, sizeof b),
               cli_thousands(reco_dataset_nnz(ds), c2, sizeof c2), m->fit_seconds);
        char note[160];
        if (*cli_filter_summary(ds, note, sizeof note))
            printf("%s\n", note);
        if (lg.path) {
            char x[32], y[32], z[32];
            printf("with %s ratings of the log %s (ratings #%s to #%s; the server replays "
                   "those after)\n", cli_thousands(lg.ratings, x, sizeof x), lg.path,
                   cli_thousands(lg.start.seq, y, sizeof y), cli_thousands(lg.end.seq, z, sizeof z));
        }
        if (ch)
            printf("ranker: %s\n", choice);
        if (!reco_model_predicts_ratings(m))
            printf("%s ranks and predicts no ratings: predictions come from the baseline "
                   "(training RMSE %.4f)\n", algo, m->train_rmse);
        else
            printf("training RMSE %.4f (on the training ratings: not a measure of accuracy; "
                   "see reco eval)\n", m->train_rmse);
        printf("wrote %s\n", output);
    }
    reco_model_free(m);
    reco_dataset_free(ds);
    return EXIT_OK;
usage:
    free(params);
    return cli_usage_error("train");
}
