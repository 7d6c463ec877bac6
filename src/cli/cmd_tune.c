/* reco tune: search an algorithm's parameters on a validation split carved
 * out of the training data, print the trials, the best parameters and the
 * `reco train` line that uses them; with a held-out test set (--test, or
 * --split of one file), refit with the best parameters and score it once. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "reco/pg_source.h"
#include "reco/eval.h"
#include "reco/model.h"
#include "reco/split.h"
#include "reco/tune.h"

typedef struct tune_cli {
    cli_data_opts data;
    const char *algo;
    cli_list spaces, params;
    const char *file, *train_file, *test_file, *split_text;
    char data_args[1024];      /* data options to repeat in the train line */
    reco_tune_options topt;
    bool trials_given, strategy_given, validation_given;
    uint32_t list_n;           /* -n, 0: the metric's */
    reco_tune_space space;
    bool default_space;
    reco_split_spec outer;     /* --split */
} tune_cli;

/* --budget: "90", "90s", "10m", "1.5h" in seconds; 0 on success. */
static int parse_duration(const char *s, void *dest)
{
    char buf[64];
    size_t len = strlen(s);
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len + 1);
    double mult = 1;
    char last = buf[len - 1];
    if (last == 's' || last == 'm' || last == 'h') {
        mult = last == 'h' ? 3600 : last == 'm' ? 60 : 1;
        buf[len - 1] = '\0';
    }
    double v;
    if (cli_parse_double(buf, &v) || !(v > 0))
        return -1;
    *(double *)dest = v * mult;
    return 0;
}

/* --strategy: grid, random or auto. */
static int parse_strategy(const char *s, void *dest)
{
    reco_tune_strategy *t = dest;
    if (!strcmp(s, "grid"))
        *t = RECO_TUNE_GRID;
    else if (!strcmp(s, "random"))
        *t = RECO_TUNE_RANDOM;
    else if (!strcmp(s, "auto"))
        *t = RECO_TUNE_AUTO;
    else
        return -1;
    return 0;
}

/* Told of every option: notes --trials and --strategy, and the data options
 * (other than --threads) to repeat in the train line. */
static void seen(void *ctx, const cli_option *o, const char *arg)
{
    tune_cli *c = ctx;
    if (o->dest == &c->topt.trials)
        c->trials_given = true;
    else if (o->dest == &c->topt.strategy)
        c->strategy_given = true;
    bool data = o >= c->data.table && o < c->data.table + sizeof c->data.table / sizeof *o;
    if (!data || o->dest == &c->data.load.threads)
        return;
    size_t len = strlen(c->data_args);
    snprintf(c->data_args + len, sizeof c->data_args - len, " --%s", o->name);
    if (o->arg) {
        strncat(c->data_args, " ", sizeof c->data_args - strlen(c->data_args) - 1);
        cli_shell_append(c->data_args, sizeof c->data_args, arg);
    }
}

static int parse_args(tune_cli *c, int argc, char **argv)
{
    reco_tune_options *t = &c->topt;
    const char *validation = NULL, *metric = NULL;
    reco_error err;
    char n_help[160];
    snprintf(n_help, sizeof n_help, "list length of ranking metrics in the table (the metric's "
             "@N, 1 to %d; default 10)", RECO_EVAL_MAX_N);
    const cli_option options[] = {
        CLI_OPT_HEADING("Search:"),
        {CLI_STRING, "algo", 'a', "ALGO", "the algorithm (required)", &c->algo, 0, 0, NULL,
         NULL},
        {CLI_LIST, "space", 0, "KEY=SPEC",
         "a parameter to search (repeatable; default: the algorithm's own space, if it has "
         "one). SPEC is\n"
         "  V1,V2,...         a list of values\n"
         "  LO:HI[:OPT...]    a range; OPT: log (log-uniform, LO > 0), int (integers), N (N "
         "grid points from LO to HI)\n"
         "(OPTs in any order, each after ':' or ','); a SPEC with ':' is a range; KEY as for "
         "reco train --param, e.g. factors=32,64,128 reg=0.001:1:log alpha=1:50 "
         "factors=16:256:int:log reg=0.01:1:log:5",
         &c->spaces, 0, 0, NULL, NULL},
        {CLI_LIST, "param", 'p', "KEY=VALUE", "a fixed parameter for every trial (repeatable)",
         &c->params, 0, 0, NULL, NULL},
        {CLI_STRING, "metric", 0, "M", "what to optimise: ndcg@N (default ndcg@10), "
         "precision@N (p@N), recall@N, map@N, hit@N (higher is better), rmse, mae (lower is "
         "better)", &metric, 0, 0, NULL, NULL},
        {CLI_CUSTOM, "strategy", 0, "S", "grid: every combination (ranges need a point count); "
         "random: seeded draws. Default: grid when every SPEC is a list or a range with a "
         "point count, else random", &t->strategy, 0, 0, "grid or random", parse_strategy},
        {CLI_U32, "trials", 0, "N", "random search: the number of trials (default 20; implies "
         "--strategy random)", &t->trials, 1, RECO_TUNE_MAX_TRIALS, NULL, NULL},
        {CLI_U32, "max-trials", 0, "N", "refuse a grid of more points (default 200)",
         &t->max_trials, 1, RECO_TUNE_MAX_TRIALS, NULL, NULL},
        {CLI_U64, "seed", 0, "S", "seed of the draws and of every split (default 1)", &t->seed,
         0, 0, NULL, NULL},
        {CLI_CUSTOM, "budget", 0, "TIME", "start no trial after TIME (seconds, or with s, m, h: "
         "90, 10m, 1.5h); the first trial always runs", &t->budget_seconds, 0, 0,
         "a time above 0 in seconds (90) or with a unit (90s, 10m, 1.5h)", parse_duration},
        CLI_OPT_HEADING("Validation (carved from the training data only):"),
        {CLI_STRING, "validation", 0, "SPEC",
         "time:F    each user's latest fraction F (default time:0.2; random:0.2 when there are "
         "no timestamps)\n"
         "random:F  a random fraction F of the ratings\n"
         "kfold:K   K folds: every trial is fitted K times and its figures are the means\n"
         "loo       each user's latest rating",
         &validation, 0, 0, NULL, NULL},
        {CLI_U32, NULL, 'n', "N", n_help, &c->list_n, 1, RECO_EVAL_MAX_N, NULL, NULL},
        {CLI_DOUBLE, "relevant", 0, "R", "a rating >= R is relevant for ranking (default 4)",
         &t->relevant, 0, 0, "a rating", NULL},
        {CLI_U32, "rank-users", 0, "N", "rank for a seeded sample of N users (big data)",
         &t->rank_users, 0, 0, NULL, NULL},
        CLI_OPT_HEADING("Data (FILE: tune on FILE, all of it training data):"),
        {CLI_STRING, "split", 0, "SPEC", "first split FILE into training and held-out test "
         "(random:F, time:F or loo, seeded), tune on the training part, then score the "
         "held-out part", &c->split_text, 0, 0, NULL, NULL},
        {CLI_STRING, "train", 0, "FILE", "tune on this file (e.g. MovieLens u1.base) ...",
         &c->train_file, 0, 0, NULL, NULL},
        {CLI_STRING, "test", 0, "FILE", "... and score the held-out test file (u1.test) once",
         &c->test_file, 0, 0, NULL, NULL},
        CLI_OPT_INCLUDE(c->data.table),
        CLI_OPT_HEADING("Output:"),
        CLI_OPT_JSON(&c->data.json, "print JSON instead of the tables (docs/json.md)"),
        CLI_OPT_QUIET(&c->data.quiet, "no progress bar, no warnings"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "tune",
        .usage = "--algo ALGO [--space KEY=SPEC ...] [OPTIONS] FILE\n"
                 "--algo ALGO [OPTIONS] --split SPEC FILE\n"
                 "--algo ALGO [OPTIONS] --train FILE [--test FILE]",
        .description =
            "Searches the parameters of one algorithm. Each trial fits a model on part of the "
            "training data and scores it on a validation split carved out of that same training "
            "data, never on a test set; the best trial's parameters are printed with the `reco "
            "train` line that uses them. With a held-out test set (--test, or --split to make "
            "one from FILE) the best parameters are then refitted on all the training data and "
            "scored once on it: the honest figure. See docs/tuning.md. A rating file may be a "
            "postgresql:// table or query (docs/postgresql.md).",
        .options = options,
        .epilogue = "Example:\n"
                    "  reco tune --algo mf --train ml-100k/u1.base --test ml-100k/u1.test \\\n"
                    "      --space factors=16:128:int:log --space reg=0.01:0.2:log --trials 12",
        .seen = seen,
        .seen_ctx = c,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc;
    if (!c->algo)
        return cli_usage("tune", "missing --algo ALGO");
    if (c->train_file) {
        if (first != argc)
            return cli_usage("tune", "no FILE is expected with --train, got \"%s\"",
                             argv[first]);
        if (c->split_text)
            return cli_usage("tune", "--split makes a test set from FILE: it cannot be "
                             "combined with --train");
    } else {
        if (c->test_file)
            return cli_usage("tune", "--test needs --train (the file to tune on)");
        if (first == argc)
            return cli_usage("tune", "missing FILE");
        if (first != argc - 1)
            return cli_usage("tune", "expected one FILE, got \"%s\" too", argv[argc - 1]);
        c->file = argv[first];
    }
    if (metric && reco_tune_metric_parse(metric, &t->metric, &err))
        return cli_usage("tune", "--metric: %s", err.msg);
    if (c->list_n) {
        if (!reco_tune_metric_is_ranking(&t->metric))
            return cli_usage("tune", "-n is the list length of a ranking metric, and %s is "
                             "not one", metric);
        if (metric && strchr(metric, '@') && t->metric.n != c->list_n)
            return cli_usage("tune", "-n disagrees with --metric %s", metric);
        t->metric.n = c->list_n;
    }
    if (validation) {
        if (reco_split_parse(validation, t->seed, &t->validation, &err))
            return cli_usage("tune", "--validation: %s", err.msg);
        c->validation_given = true;
        t->validation_fallback = false;
    }
    if (c->split_text) {
        if (reco_split_parse(c->split_text, t->seed, &c->outer, &err))
            return cli_usage("tune", "--split: %s", err.msg);
        if (c->outer.kind == RECO_SPLIT_KFOLD)
            return cli_usage("tune", "--split %s: tuning makes one held-out test set "
                             "(random:F, time:F or loo); for folds, tune once per "
                             "--train/--test pair", c->split_text);
    }
    if (c->trials_given) {
        if (c->strategy_given && t->strategy == RECO_TUNE_GRID)
            return cli_usage("tune", "--trials is the number of random draws: a grid runs "
                             "every point (at most --max-trials)");
        t->strategy = RECO_TUNE_RANDOM;
    }
    t->threads = c->data.load.threads;
    return EXIT_OK;
}

/* Checks the algorithm, the space and the fixed parameters before any
 * data is read; prints the library's message and returns the exit status. */
static int check_setup(tune_cli *c)
{
    reco_error err;
    reco_model *m = NULL;
    reco_status st = reco_model_new(c->algo, &m, &err);
    if (st) {
        cli_error("tune", "%s", err.msg);
        return cli_exit_status(st);
    }
    for (int j = 0; j < c->params.n && !st; j++)
        if ((st = reco_model_set_param_text(m, c->params.v[j], &err)))
            cli_error("tune", "--param %s: %s", c->params.v[j], err.msg);
    reco_model_free(m);
    if (st)
        return cli_exit_status(st);
    if (c->spaces.n == 0) {
        c->default_space = true;
        st = reco_tune_default_space(c->algo, &c->space, &err);
        if (st == RECO_ERR_NOT_FOUND) {
            cli_error("tune", "%s (--space KEY=SPEC)", err.msg);
            return EXIT_USAGE;
        }
    }
    for (int j = 0; j < c->spaces.n && !st; j++)
        if ((st = reco_tune_space_add(&c->space, c->spaces.v[j], &err)))
            cli_error("tune", "--space: %s", err.msg);
    if (!st && (st = reco_tune_space_check(&c->space, c->algo, &err)))
        cli_error("tune", "--space: %s", err.msg);
    if (st)
        return cli_exit_status(st);
    /* The rest (a parameter both fixed and searched, a grid too large) is
     * refused now too, before the data is read. */
    c->topt.fixed = c->params.v;
    c->topt.n_fixed = (size_t)c->params.n;
    if ((st = reco_tune_check(c->algo, &c->space, &c->topt, NULL, &err))) {
        cli_error("tune", "%s%s", err.msg,
                  strstr(err.msg, "grid") ? " (see --max-trials and --strategy)" : "");
        return cli_exit_status(st);
    }
    return EXIT_OK;
}

/* ---- output ------------------------------------------------------------------ */

typedef struct heldout {
    bool done;
    reco_eval_result tuned, defaults;
    uint64_t dropped;          /* test ratings also in the training file */
} heldout;

/* Columns of the metrics: the target first, then the others computed. */
typedef struct metric_col {
    const char *json;
    char head[24];
    int kind;                  /* reco_tune_metric_kind */
} metric_col;

static size_t metric_cols(const reco_tune_metric *target, metric_col *cols)
{
    static const struct {
        int kind;
        const char *head, *json;
    } all[] = {
        {RECO_TUNE_NDCG, "NDCG", "ndcg"}, {RECO_TUNE_PRECISION, "P", "precision"},
        {RECO_TUNE_RECALL, "R", "recall"}, {RECO_TUNE_MAP, "MAP", "map"},
        {RECO_TUNE_HIT, "HR", "hit_rate"}, {RECO_TUNE_RMSE, "RMSE", "rmse"},
        {RECO_TUNE_MAE, "MAE", "mae"},
    };
    bool ranking = reco_tune_metric_is_ranking(target);
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
            bool is_target = all[k].kind == (int)target->kind;
            bool is_rank = all[k].kind != RECO_TUNE_RMSE && all[k].kind != RECO_TUNE_MAE;
            if ((pass == 0) != is_target || (is_rank && !ranking))
                continue;
            cols[n].json = all[k].json;
            cols[n].kind = all[k].kind;
            if (is_rank)
                snprintf(cols[n].head, sizeof cols[n].head, "%s@%u", all[k].head, target->n);
            else
                snprintf(cols[n].head, sizeof cols[n].head, "%s", all[k].head);
            n++;
        }
    return n;
}

static double col_value(const metric_col *col, const reco_eval_result *r)
{
    reco_tune_metric m = {(reco_tune_metric_kind)col->kind, 10};
    return reco_tune_metric_value(&m, r);
}

static void fmt_metric(double v, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "-");
    else
        snprintf(buf, cap, v != 0 && fabs(v) < 0.001 ? "%.1e" : "%.4f", v);
}

/* "reco train --algo A --param ... [data options] FILE -o MODEL". */
static void train_command(const tune_cli *c, const reco_tune_result *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "reco train --algo ");
    cli_shell_append(buf, cap, c->algo);
    for (int j = 0; j < c->params.n; j++) {
        strncat(buf, " --param ", cap - strlen(buf) - 1);
        cli_shell_append(buf, cap, c->params.v[j]);
    }
    const reco_tune_trial *b = &r->trials[r->best];
    for (uint32_t k = 0; k < r->space.n_dims; k++) {
        char kv[RECO_TUNE_KEY_MAX + RECO_TUNE_VALUE_MAX + 2];
        snprintf(kv, sizeof kv, "%s=%s", r->space.dims[k].key, b->values[k]);
        strncat(buf, " --param ", cap - strlen(buf) - 1);
        cli_shell_append(buf, cap, kv);
    }
    strncat(buf, c->data_args, cap - strlen(buf) - 1);
    strncat(buf, " ", cap - strlen(buf) - 1);
    char name[4096];
    cli_shell_append(buf, cap,
                     cli_source_name(c->file ? c->file : c->train_file, name, sizeof name));
    strncat(buf, " -o MODEL", cap - strlen(buf) - 1);
}

static void best_text(const reco_tune_result *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (uint32_t k = 0; k < r->space.n_dims; k++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s=%s", k ? " " : "", r->space.dims[k].key,
                 r->trials[r->best].values[k]);
    }
    if (!r->space.n_dims)
        snprintf(buf, cap, "(no parameter searched)");
}

static void print_table(const tune_cli *c, const reco_tune_result *r, const reco_dataset *data,
                        const reco_dataset *test, const heldout *ho)
{
    char a[32], b[32], d[32], metric[32];
    reco_tune_metric_format(&r->metric, metric, sizeof metric);
    char name[4096];
    const char *src = cli_source_name(c->file ? c->file : c->train_file, name, sizeof name);
    printf("data        %s: %s users, %s ratings", src,
           cli_thousands(r->data_users, a, sizeof a), cli_thousands(r->data_ratings, b, sizeof b));
    if (c->split_text) {
        char split[32];
        reco_split_format(&c->outer, split, sizeof split);
        printf(" to tune on: the training part of --split %s (seed %llu); the other %s are the "
               "held-out test", split, (unsigned long long)c->topt.seed,
               cli_thousands(reco_dataset_nnz(test), d, sizeof d));
    } else if (c->test_file) {
        printf(" to tune on; %s is the held-out test",
               cli_source_name(c->test_file, name, sizeof name));
    }
    printf("\n");
    char vsplit[32];
    reco_split_format(&r->validation, vsplit, sizeof vsplit);
    printf("validation  %s%s carved from those ratings, seed %llu: %s to fit, %s to validate%s\n",
           vsplit, r->validation_fell_back ? " (no timestamps, so not time)" : "",
           (unsigned long long)c->topt.seed, cli_thousands(r->inner_train_ratings, a, sizeof a),
           cli_thousands(r->validation_ratings, b, sizeof b),
           r->validation.kind == RECO_SPLIT_KFOLD ? " (over all folds)" : "");
    printf("search      %s %s, %s trial%s, target %s (%s is better)", c->algo,
           r->strategy == RECO_TUNE_GRID ? "grid" : "random search",
           cli_thousands(r->n_trials, a, sizeof a), r->n_trials == 1 ? "" : "s", metric,
           reco_tune_metric_maximise(&r->metric) ? "higher" : "lower");
    if (r->strategy == RECO_TUNE_RANDOM)
        printf(", seed %llu", (unsigned long long)c->topt.seed);
    printf("\n");
    printf("space      ");
    for (uint32_t k = 0; k < r->space.n_dims; k++) {
        char dim[4096];
        reco_tune_dim_format(&r->space.dims[k], dim, sizeof dim);
        printf(" %s", dim);
    }
    for (int j = 0; j < c->params.n; j++)
        printf("%s%s", j ? " " : "; fixed ", c->params.v[j]);
    printf("%s\n", c->default_space ? " (the default space of this algorithm)" : "");
    if (r->budget_exhausted)
        printf("budget      %gs reached: %zu of %zu planned trials ran\n",
               c->topt.budget_seconds, r->n_trials, r->planned);
    printf("\n");

    /* Trials: #, each searched parameter, the metrics, fit and trial time. */
    metric_col cols[8];
    size_t nc = metric_cols(&r->metric, cols);
    const uint32_t D = r->space.n_dims;
    int wid[RECO_TUNE_MAX_DIMS];
    for (uint32_t k = 0; k < D; k++) {
        wid[k] = cli_text_width(r->space.dims[k].key);
        for (size_t t = 0; t < r->n_trials; t++) {
            int w = cli_text_width(r->trials[t].values[k]);
            if (w > wid[k])
                wid[k] = w;
        }
    }
    int mw[8];
    for (size_t j = 0; j < nc; j++)
        mw[j] = cli_text_width(cols[j].head) < 7 ? 7 : cli_text_width(cols[j].head);
    printf("trial");
    for (uint32_t k = 0; k < D; k++) {
        fputs("  ", stdout);
        cli_cell(stdout, r->space.dims[k].key, wid[k], true);
    }
    for (size_t j = 0; j < nc; j++) {
        fputs("  ", stdout);
        cli_cell(stdout, cols[j].head, mw[j], false);
    }
    printf("      fit    trial\n");
    for (size_t t = 0; t < r->n_trials; t++) {
        const reco_tune_trial *tr = &r->trials[t];
        char num[32];
        snprintf(num, sizeof num, "%s%zu", t == r->best ? "*" : "", t + 1);
        cli_cell(stdout, num, 5, false);
        for (uint32_t k = 0; k < D; k++) {
            fputs("  ", stdout);
            cli_cell(stdout, tr->values[k], wid[k], true);
        }
        for (size_t j = 0; j < nc; j++) {
            char v[32];
            fmt_metric(col_value(&cols[j], &tr->eval), v, sizeof v);
            fputs("  ", stdout);
            cli_cell(stdout, v, mw[j], false);
        }
        char f[32], s[32];
        cli_fmt_seconds(tr->eval.fit_seconds, f, sizeof f);
        cli_fmt_seconds(tr->seconds, s, sizeof s);
        fputs("  ", stdout);
        cli_cell(stdout, f, 7, false);
        fputs("  ", stdout);
        cli_cell(stdout, s, 7, false);
        fputc('\n', stdout);
    }
    char best[1024], value[32], cmd[4096];
    best_text(r, best, sizeof best);
    fmt_metric(r->trials[r->best].metric, value, sizeof value);
    printf("\nbest        trial %zu (*): %s\n", r->best + 1, best);
    printf("            %s %s on validation (chosen on it, so an optimistic figure)\n", metric,
           value);
    train_command(c, r, cmd, sizeof cmd);
    printf("train with  %s\n", cmd);
    if (!ho->done) {
        printf("\nno held-out figure: give --split SPEC, or --train and --test files, to score "
               "the best parameters on ratings never seen during tuning\n");
        return;
    }
    printf("\nheld-out test, never seen during tuning: %s ratings", 
           cli_thousands(reco_dataset_nnz(test), a, sizeof a));
    if (c->test_file)
        printf(" of %s", cli_source_name(c->test_file, name, sizeof name));
    printf("; refitted on all %s training ratings\n",
           cli_thousands(reco_dataset_nnz(data), b, sizeof b));
    printf("            ");
    for (size_t j = 0; j < nc; j++) {
        fputs("  ", stdout);
        cli_cell(stdout, cols[j].head, mw[j], false);
    }
    printf("      fit\n");
    const reco_eval_result *rows[2] = {&ho->tuned, &ho->defaults};
    const char *names[2] = {"tuned", "defaults"};
    for (int k = 0; k < 2; k++) {
        cli_cell(stdout, names[k], 12, true);
        for (size_t j = 0; j < nc; j++) {
            char v[32];
            fmt_metric(col_value(&cols[j], rows[k]), v, sizeof v);
            fputs("  ", stdout);
            cli_cell(stdout, v, mw[j], false);
        }
        char f[32];
        cli_fmt_seconds(rows[k]->fit_seconds, f, sizeof f);
        fputs("  ", stdout);
        cli_cell(stdout, f, 7, false);
        fputc('\n', stdout);
    }
    printf("            (defaults: the algorithm's default parameters%s)\n",
           c->params.n ? " with the --param values" : "");
}

static json_t *metrics_json(const metric_col *cols, size_t nc, const reco_eval_result *e)
{
    json_t *o = json_object();
    for (size_t j = 0; j < nc; j++)
        json_object_set_new(o, cols[j].json, reco_json_real(col_value(&cols[j], e)));
    json_object_set_new(o, "fit_seconds", reco_json_real(e->fit_seconds));
    return o;
}

static json_t *params_json(const reco_tune_result *r, size_t t)
{
    json_t *o = json_object();
    for (uint32_t k = 0; k < r->space.n_dims; k++)
        json_object_set_new(o, r->space.dims[k].key,
                            reco_json_param_value(r->trials[t].values[k]));
    return o;
}

/* The --param words as an object of typed values, keys without the
 * algorithm's own "ALGO." (as the trials' params name them). */
static json_t *fixed_json(const tune_cli *c)
{
    json_t *o = json_object();
    size_t al = strlen(c->algo);
    for (int j = 0; j < c->params.n; j++) {
        const char *w = c->params.v[j], *eq = strchr(w, '=');
        if (!eq)
            continue;
        if (!strncmp(w, c->algo, al) && w[al] == '.' && w + al + 1 < eq)
            w += al + 1;
        char key[RECO_TUNE_KEY_MAX];
        snprintf(key, sizeof key, "%.*s", (int)(eq - w), w);
        json_object_set_new(o, key, reco_json_param_value(eq + 1));
    }
    return o;
}

static int print_json(const tune_cli *c, const reco_tune_result *r, const reco_dataset *data,
                      const reco_dataset *test, const heldout *ho)
{
    char buf[4096];
    json_t *root = json_object();
    json_object_set_new(root, "algorithm", json_string(c->algo));
    char name[4096];
    if (c->file)
        json_object_set_new(root, "file", json_string(cli_source_name(c->file, name,
                                                                      sizeof name)));
    else
        json_object_set_new(root, "train", json_string(cli_source_name(c->train_file, name,
                                                                       sizeof name)));
    if (c->split_text) {
        reco_split_format(&c->outer, buf, sizeof buf);
        json_object_set_new(root, "split", json_string(buf));
    }
    if (c->test_file)
        json_object_set_new(root, "test", json_string(cli_source_name(c->test_file, name,
                                                                      sizeof name)));
    json_object_set_new(root, "tune_users", json_integer(r->data_users));
    json_object_set_new(root, "tune_ratings", json_integer((json_int_t)r->data_ratings));
    reco_split_format(&r->validation, buf, sizeof buf);
    json_object_set_new(root, "validation", json_string(buf));
    json_object_set_new(root, "validation_fell_back", json_boolean(r->validation_fell_back));
    json_object_set_new(root, "inner_train_ratings",
                        json_integer((json_int_t)r->inner_train_ratings));
    json_object_set_new(root, "validation_ratings", json_integer((json_int_t)r->validation_ratings));
    json_object_set_new(root, "strategy",
                        json_string(r->strategy == RECO_TUNE_GRID ? "grid" : "random"));
    json_object_set_new(root, "seed", json_integer((json_int_t)c->topt.seed));
    reco_tune_metric_format(&r->metric, buf, sizeof buf);
    json_object_set_new(root, "metric", json_string(buf));
    json_object_set_new(root, "maximise", json_boolean(reco_tune_metric_maximise(&r->metric)));
    json_object_set_new(root, "relevant", reco_json_real(c->topt.relevant));
    json_t *space = json_array();
    for (uint32_t k = 0; k < r->space.n_dims; k++) {
        reco_tune_dim_format(&r->space.dims[k], buf, sizeof buf);
        json_array_append_new(space, json_string(buf));
    }
    json_object_set_new(root, "space", space);
    json_object_set_new(root, "default_space", json_boolean(c->default_space));
    json_object_set_new(root, "fixed", fixed_json(c));
    json_object_set_new(root, "budget_seconds",
                        c->topt.budget_seconds > 0 ? reco_json_real(c->topt.budget_seconds)
                                                   : json_null());
    json_object_set_new(root, "budget_exhausted", json_boolean(r->budget_exhausted));
    json_object_set_new(root, "planned", json_integer((json_int_t)r->planned));
    json_object_set_new(root, "seconds", reco_json_real(r->seconds));
    metric_col cols[8];
    size_t nc = metric_cols(&r->metric, cols);
    json_t *trials = json_array();
    for (size_t t = 0; t < r->n_trials; t++) {
        const reco_tune_trial *tr = &r->trials[t];
        json_t *o = json_object();
        json_object_set_new(o, "trial", json_integer((json_int_t)t + 1));
        json_object_set_new(o, "params", params_json(r, t));
        json_object_set_new(o, "metric", reco_json_real(tr->metric));
        json_t *m = metrics_json(cols, nc, &tr->eval);
        json_object_update(o, m);
        json_decref(m);
        json_object_set_new(o, "seconds", reco_json_real(tr->seconds));
        json_array_append_new(trials, o);
    }
    json_object_set_new(root, "trials", trials);
    json_t *best = json_object();
    json_object_set_new(best, "trial", json_integer((json_int_t)r->best + 1));
    json_object_set_new(best, "params", params_json(r, r->best));
    json_object_set_new(best, "metric", reco_json_real(r->trials[r->best].metric));
    json_object_set_new(root, "best", best);
    train_command(c, r, buf, sizeof buf);
    json_object_set_new(root, "train_command", json_string(buf));
    if (ho->done) {
        json_t *h = json_object();
        json_object_set_new(h, "test_ratings", json_integer((json_int_t)reco_dataset_nnz(test)));
        json_object_set_new(h, "train_ratings", json_integer((json_int_t)reco_dataset_nnz(data)));
        json_object_set_new(h, "tuned", metrics_json(cols, nc, &ho->tuned));
        json_object_set_new(h, "defaults", metrics_json(cols, nc, &ho->defaults));
        json_object_set_new(root, "heldout", h);
    } else {
        json_object_set_new(root, "heldout", json_null());
    }
    int rc = cli_print_json(root);
    json_decref(root);
    return rc;
}

/* ---- running ------------------------------------------------------------------- */

/* Fits m on train and scores it on test with the search's settings. */
static int score_heldout(const tune_cli *c, reco_model *m, const reco_dataset *train,
                         const reco_dataset *test, reco_eval_result *out)
{
    reco_error err;
    cli_progress *pb = cli_progress_new(!c->data.quiet);
    reco_fit_ctx ctx = {c->topt.threads, {cli_progress_cb, pb}, NULL};
    reco_status st = reco_model_fit(m, train, &ctx, &err);
    if (!st) {
        reco_eval_options eo;
        reco_eval_options_default(&eo);
        eo.n = c->topt.metric.n;
        eo.relevant = c->topt.relevant;
        eo.rank_users = c->topt.rank_users;
        eo.seed = c->topt.seed;
        eo.ranking_metrics = reco_tune_metric_is_ranking(&c->topt.metric);
        eo.threads = c->topt.threads;
        eo.progress = (reco_progress){cli_progress_cb, pb};
        st = reco_eval_model(m, test, &eo, out, &err);
    }
    cli_progress_free(pb);
    if (st) {
        cli_error("tune", "held-out test: %s", err.msg);
        return cli_exit_status(st);
    }
    return EXIT_OK;
}

static int run_heldout(const tune_cli *c, const reco_tune_result *r, const reco_dataset *train,
                       const reco_dataset *test, heldout *ho)
{
    reco_error err;
    reco_model *m = NULL;
    reco_status st = reco_tune_model(r, r->best, &c->topt, &m, &err);
    if (st) {
        cli_error("tune", "%s", err.msg);
        return cli_exit_status(st);
    }
    int rc = score_heldout(c, m, train, test, &ho->tuned);
    reco_model_free(m);
    if (rc)
        return rc;
    /* The defaults, with the fixed parameters: what tuning bought. */
    st = reco_model_new(c->algo, &m, &err);
    for (int j = 0; j < c->params.n && !st; j++)
        st = reco_model_set_param_text(m, c->params.v[j], &err);
    if (st) {
        reco_model_free(m);
        cli_error("tune", "%s", err.msg);
        return cli_exit_status(st);
    }
    rc = score_heldout(c, m, train, test, &ho->defaults);
    reco_model_free(m);
    ho->done = !rc;
    return rc;
}

int cmd_tune(int argc, char **argv)
{
    tune_cli *c = calloc(1, sizeof *c);
    if (!c) {
        cli_error("tune", "out of memory");
        return EXIT_FAIL;
    }
    reco_dataset *full = NULL, *data = NULL, *test = NULL;
    reco_tune_result *res = NULL;
    heldout ho = {0};
    reco_error err;
    reco_status st;
    cli_data_opts_init(&c->data);
    reco_tune_options_default(&c->topt);
    int rc = parse_args(c, argc, argv);
    if (rc) {
        rc = rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
        goto done;
    }
    if ((rc = check_setup(c)))
        goto done;
    if (c->test_file && !reco_pg_is_source(c->test_file) && access(c->test_file, R_OK) != 0) {
        cli_error("tune", "%s: cannot read the test file", c->test_file);
        rc = EXIT_FAIL;
        goto done;
    }
    if ((rc = cli_load_dataset("tune", c->file ? c->file : c->train_file, &c->data, &full)))
        goto done;
    if (c->split_text) {
        /* The test part is set aside here and only scored after the search. */
        reco_splitter *sp = NULL;
        st = reco_splitter_new(full, &c->outer, &sp, &err);
        if (!st)
            st = reco_splitter_get(sp, 0, &data, &test, &err);
        reco_splitter_free(sp);
        if (st) {
            cli_error("tune", "--split: %s", err.msg);
            rc = cli_exit_status(st);
            goto done;
        }
    } else {
        data = full;
        full = NULL;
    }
    cli_progress *pb = cli_progress_new(!c->data.quiet);
    c->topt.progress = (reco_progress){cli_progress_cb, pb};
    st = reco_tune_run(c->algo, data, &c->space, &c->topt, &res, &err);
    c->topt.progress.fn = NULL;
    cli_progress_free(pb);
    if (st) {
        cli_error("tune", "%s", err.msg);
        rc = cli_exit_status(st);
        goto done;
    }
    if (c->test_file) {
        /* Loaded only now: its IDs join the training maps, and nothing of it
         * can reach the search. */
        pb = cli_progress_new(!c->data.quiet);
        reco_load_options lo = c->data.load;
        lo.progress = (reco_progress){cli_progress_cb, pb};
        st = reco_split_load_test(c->test_file, data, &lo, &test, &err);
        cli_progress_free(pb);
        if (st) {
            cli_error("tune", "%s", err.msg);
            rc = cli_exit_status(st);
            goto done;
        }
        if (!c->data.quiet) {
            cli_report_bad_lines("tune", &test->load);
            if (test->filtered_ratings) {
                char nb[32], n1[4096], n2[4096];
                cli_error("tune", "warning: %s: %s test ratings are also in %s and were "
                          "dropped", cli_source_name(c->test_file, n1, sizeof n1),
                          cli_thousands(test->filtered_ratings, nb, sizeof nb),
                          cli_source_name(c->train_file, n2, sizeof n2));
            }
        }
    }
    if (test && (rc = run_heldout(c, res, data, test, &ho)))
        goto done;
    if (c->data.json)
        rc = print_json(c, res, data, test, &ho);
    else
        print_table(c, res, data, test, &ho);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("tune", "error writing output");
        rc = EXIT_FAIL;
    }
done:
    reco_tune_result_free(res);
    reco_dataset_free(test);
    reco_dataset_free(data);
    reco_dataset_free(full);
    free(c);
    return rc;
}
