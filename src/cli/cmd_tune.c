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
#include "reco/eval.h"
#include "reco/model.h"
#include "reco/split.h"
#include "reco/tune.h"

enum {
    OPT_ALGO = OPT_FIRST_FREE, OPT_SPACE, OPT_PARAM, OPT_METRIC, OPT_STRATEGY, OPT_TRIALS,
    OPT_MAX_TRIALS, OPT_SEED, OPT_VALIDATION, OPT_BUDGET, OPT_TRAIN, OPT_TEST, OPT_SPLIT,
    OPT_RELEVANT, OPT_RANK_USERS
};

#define MAX_ARGS 64

static void help(void)
{
    printf("Usage: reco tune --algo ALGO [--space KEY=SPEC ...] [OPTIONS] FILE\n"
           "       reco tune --algo ALGO [OPTIONS] --split SPEC FILE\n"
           "       reco tune --algo ALGO [OPTIONS] --train FILE [--test FILE]\n\n"
           "Searches the parameters of one algorithm. Each trial fits a model on part of\n"
           "the training data and scores it on a validation split carved out of that same\n"
           "training data, never on a test set; the best trial's parameters are printed\n"
           "with the `reco train` line that uses them. With a held-out test set (--test,\n"
           "or --split to make one from FILE) the best parameters are then refitted on all\n"
           "the training data and scored once on it: the honest figure. See docs/tuning.md.\n\n"
           "Search:\n"
           "  -a, --algo ALGO        the algorithm (required)\n"
           "  --space KEY=SPEC       a parameter to search (repeatable; default: the\n"
           "                         algorithm's own space, if it has one). SPEC is\n"
           "                           V1,V2,...          a list of values\n"
           "                           LO:HI[:OPT...]     a range; OPT: log (log-uniform,\n"
           "                                              LO > 0), int (integers), N (N grid\n"
           "                                              points from LO to HI)\n"
           "                         (OPTs in any order, each after ':' or ','); a SPEC\n"
           "                         with ':' is a range; KEY as for reco train --param\n"
           "                         e.g. factors=32,64,128  reg=0.001:1:log  alpha=1:50\n"
           "                              factors=16:256:int:log  reg=0.01:1:log:5\n"
           "  -p, --param KEY=VALUE  a fixed parameter for every trial (repeatable)\n"
           "  --metric M             what to optimise: ndcg@N (default ndcg@10),\n"
           "                         precision@N (p@N), recall@N, map@N, hit@N (higher is\n"
           "                         better), rmse, mae (lower is better)\n"
           "  --strategy S           grid: every combination (ranges need a point count);\n"
           "                         random: seeded draws. Default: grid when every SPEC is\n"
           "                         a list or a range with a point count, else random\n"
           "  --trials N             random search: the number of trials (default 20;\n"
           "                         implies --strategy random)\n"
           "  --max-trials N         refuse a grid of more points (default 200)\n"
           "  --seed S               seed of the draws and of every split (default 1)\n"
           "  --budget TIME          start no trial after TIME (seconds, or with s, m, h:\n"
           "                         90, 10m, 1.5h); the first trial always runs\n"
           "Validation (carved from the training data only):\n"
           "  --validation SPEC      time:F  each user's latest fraction F (default\n"
           "                                 time:0.2; random:0.2 when there are no\n"
           "                                 timestamps)\n"
           "                         random:F  a random fraction F of the ratings\n"
           "                         kfold:K   K folds: every trial is fitted K times and\n"
           "                                   its figures are the means\n"
           "                         loo       each user's latest rating\n"
           "  -n N                   list length of ranking metrics in the table (the\n"
           "                         metric's @N; default 10)\n"
           "  --relevant R           a rating >= R is relevant for ranking (default 4)\n"
           "  --rank-users N         rank for a seeded sample of N users (big data)\n"
           "Data:\n"
           "  FILE                   tune on FILE (all of it is training data)\n"
           "  --split SPEC           first split FILE into training and held-out test\n"
           "                         (random:F, time:F or loo, seeded), tune on the\n"
           "                         training part, then score the held-out part\n"
           "  --train FILE           tune on this file (e.g. MovieLens u1.base) ...\n"
           "  --test FILE            ... and score the held-out test file (u1.test) once\n"
           "%s"
           "Output:\n"
           "  --json                 print JSON instead of the tables\n"
           "  -q, --quiet            no progress bar, no warnings\n"
           "  --help                 show this help\n\n"
           "Example:\n"
           "  reco tune --algo mf --train ml-100k/u1.base --test ml-100k/u1.test \\\n"
           "      --space factors=16:128:int:log --space reg=0.01:0.2:log --trials 12\n",
           CLI_DATA_HELP);
}

typedef struct tune_cli {
    cli_data_opts data;
    const char *algo;
    const char *spaces[MAX_ARGS];
    int n_spaces;
    const char *params[MAX_ARGS];
    int n_params;
    const char *file, *train_file, *test_file, *split_text;
    char data_args[1024];      /* data options to repeat in the train line */
    reco_tune_options topt;
    bool trials_given, strategy_given, validation_given;
    uint32_t list_n;           /* -n, 0: the metric's */
    reco_tune_space space;
    bool default_space;
    reco_split_spec outer;     /* --split */
} tune_cli;

/* "90", "90s", "10m", "1.5h" in seconds; 0 on success. */
static int parse_duration(const char *s, double *out)
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
    *out = v * mult;
    return 0;
}

/* Remembers a data option (other than --threads) for the train line. */
static void note_data_arg(tune_cli *c, const struct option *longopts, int ch, const char *arg)
{
    if (ch == OPT_THREADS)
        return;
    for (const struct option *o = longopts; o->name; o++) {
        if (o->val != ch)
            continue;
        size_t len = strlen(c->data_args);
        snprintf(c->data_args + len, sizeof c->data_args - len, " --%s", o->name);
        if (o->has_arg) {
            strncat(c->data_args, " ", sizeof c->data_args - strlen(c->data_args) - 1);
            cli_shell_append(c->data_args, sizeof c->data_args, arg);
        }
        return;
    }
}

/* Prints a usage error; returns the exit status. */
static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "reco tune: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

static int parse_args(tune_cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DATA_LONGOPTS,
        {"algo", required_argument, NULL, 'a'},
        {"space", required_argument, NULL, OPT_SPACE},
        {"param", required_argument, NULL, 'p'},
        {"metric", required_argument, NULL, OPT_METRIC},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"trials", required_argument, NULL, OPT_TRIALS},
        {"max-trials", required_argument, NULL, OPT_MAX_TRIALS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"validation", required_argument, NULL, OPT_VALIDATION},
        {"budget", required_argument, NULL, OPT_BUDGET},
        {"train", required_argument, NULL, OPT_TRAIN},
        {"test", required_argument, NULL, OPT_TEST},
        {"split", required_argument, NULL, OPT_SPLIT},
        {"relevant", required_argument, NULL, OPT_RELEVANT},
        {"rank-users", required_argument, NULL, OPT_RANK_USERS},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    reco_tune_options *t = &c->topt;
    const char *validation = NULL, *metric = NULL;
    reco_error err;
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "a:p:n:q", longopts, NULL)) != -1) {
        int r = cli_data_option("tune", ch, optarg, &c->data);
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0) {
            note_data_arg(c, longopts, ch, optarg);
            continue;
        }
        switch (ch) {
        case 'a': c->algo = optarg; break;
        case OPT_SPACE:
        case 'p': {
            int *cnt = ch == 'p' ? &c->n_params : &c->n_spaces;
            if (*cnt == MAX_ARGS)
                return usage("at most 64 %s options", ch == 'p' ? "--param" : "--space");
            (ch == 'p' ? c->params : c->spaces)[(*cnt)++] = optarg;
            break;
        }
        case OPT_METRIC: metric = optarg; break;
        case OPT_STRATEGY:
            if (!strcmp(optarg, "grid"))
                t->strategy = RECO_TUNE_GRID;
            else if (!strcmp(optarg, "random"))
                t->strategy = RECO_TUNE_RANDOM;
            else if (!strcmp(optarg, "auto"))
                t->strategy = RECO_TUNE_AUTO;
            else
                return usage("--strategy wants grid or random, got \"%s\"", optarg);
            c->strategy_given = true;
            break;
        case OPT_TRIALS:
        case OPT_MAX_TRIALS: {
            uint32_t v;
            if (cli_parse_u32(optarg, &v) || v < 1 || v > RECO_TUNE_MAX_TRIALS) {
                cli_error("tune", "--%s wants a number from 1 to %d, got \"%s\"",
                          ch == OPT_TRIALS ? "trials" : "max-trials", RECO_TUNE_MAX_TRIALS,
                          optarg);
                return EXIT_USAGE;
            }
            if (ch == OPT_TRIALS) {
                t->trials = v;
                c->trials_given = true;
            } else {
                t->max_trials = v;
            }
            break;
        }
        case OPT_SEED:
            if (cli_parse_u64(optarg, &t->seed))
                return usage("--seed wants a non-negative integer, got \"%s\"", optarg);
            break;
        case OPT_VALIDATION: validation = optarg; break;
        case OPT_BUDGET:
            if (parse_duration(optarg, &t->budget_seconds))
                return usage("--budget wants a time above 0 in seconds (90) or with a unit "
                             "(90s, 10m, 1.5h), got \"%s\"", optarg);
            break;
        case OPT_TRAIN: c->train_file = optarg; break;
        case OPT_TEST: c->test_file = optarg; break;
        case OPT_SPLIT: c->split_text = optarg; break;
        case 'n':
            if (cli_parse_u32(optarg, &c->list_n) || c->list_n < 1 ||
                c->list_n > RECO_EVAL_MAX_N) {
                cli_error("tune", "-n wants a list length from 1 to %d, got \"%s\"",
                          RECO_EVAL_MAX_N, optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RELEVANT:
            if (cli_parse_double(optarg, &t->relevant))
                return usage("--relevant wants a rating, got \"%s\"", optarg);
            break;
        case OPT_RANK_USERS:
            if (cli_parse_u32(optarg, &t->rank_users))
                return usage("--rank-users wants a non-negative integer, got \"%s\"", optarg);
            break;
        case OPT_JSON: c->data.json = true; break;
        case 'q':
        case OPT_QUIET: c->data.quiet = true; break;
        case OPT_HELP: help(); return -1;
        default:
            return usage("unknown or incomplete option '%s' (see 'reco tune --help')",
                         argv[optind - 1]);
        }
    }
    if (!c->algo)
        return usage("missing --algo ALGO (see 'reco tune --help')");
    if (c->train_file) {
        if (optind != argc)
            return usage("no FILE is expected with --train, got \"%s\"", argv[optind]);
        if (c->split_text)
            return usage("--split makes a test set from FILE: it cannot be combined with "
                         "--train");
    } else {
        if (c->test_file)
            return usage("--test needs --train (the file to tune on)");
        if (optind == argc)
            return usage("missing FILE (see 'reco tune --help')");
        if (optind != argc - 1)
            return usage("expected one FILE, got \"%s\" too", argv[argc - 1]);
        c->file = argv[optind];
    }
    if (metric && reco_tune_metric_parse(metric, &t->metric, &err))
        return usage("--metric: %s", err.msg);
    if (c->list_n) {
        if (!reco_tune_metric_is_ranking(&t->metric))
            return usage("-n is the list length of a ranking metric, and %s is not one",
                         metric);
        if (metric && strchr(metric, '@') && t->metric.n != c->list_n)
            return usage("-n disagrees with --metric %s", metric);
        t->metric.n = c->list_n;
    }
    if (validation) {
        if (reco_split_parse(validation, t->seed, &t->validation, &err))
            return usage("--validation: %s", err.msg);
        c->validation_given = true;
        t->validation_fallback = false;
    }
    if (c->split_text) {
        if (reco_split_parse(c->split_text, t->seed, &c->outer, &err))
            return usage("--split: %s", err.msg);
        if (c->outer.kind == RECO_SPLIT_KFOLD)
            return usage("--split %s: tuning makes one held-out test set (random:F, time:F "
                         "or loo); for folds, tune once per --train/--test pair",
                         c->split_text);
    }
    if (c->trials_given) {
        if (c->strategy_given && t->strategy == RECO_TUNE_GRID)
            return usage("--trials is the number of random draws: a grid runs every point "
                         "(at most --max-trials)");
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
    for (int j = 0; j < c->n_params && !st; j++)
        if ((st = reco_tune_set_param(m, c->params[j], &err)))
            cli_error("tune", "--param %s: %s", c->params[j], err.msg);
    reco_model_free(m);
    if (st)
        return cli_exit_status(st);
    if (c->n_spaces == 0) {
        c->default_space = true;
        st = reco_tune_default_space(c->algo, &c->space, &err);
        if (st == RECO_ERR_NOT_FOUND) {
            cli_error("tune", "%s (--space KEY=SPEC)", err.msg);
            return EXIT_USAGE;
        }
    }
    for (int j = 0; j < c->n_spaces && !st; j++)
        if ((st = reco_tune_space_add(&c->space, c->spaces[j], &err)))
            cli_error("tune", "--space: %s", err.msg);
    if (!st && (st = reco_tune_space_check(&c->space, c->algo, &err)))
        cli_error("tune", "--space: %s", err.msg);
    if (st)
        return cli_exit_status(st);
    /* The rest (a parameter both fixed and searched, a grid too large) is
     * refused now too, before the data is read. */
    c->topt.fixed = c->params;
    c->topt.n_fixed = (size_t)c->n_params;
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
    for (int j = 0; j < c->n_params; j++) {
        strncat(buf, " --param ", cap - strlen(buf) - 1);
        cli_shell_append(buf, cap, c->params[j]);
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
    cli_shell_append(buf, cap, c->file ? c->file : c->train_file);
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
    const char *src = c->file ? c->file : c->train_file;
    printf("data        %s: %s users, %s ratings", src,
           cli_thousands(r->data_users, a, sizeof a), cli_thousands(r->data_ratings, b, sizeof b));
    if (c->split_text) {
        char split[32];
        reco_split_format(&c->outer, split, sizeof split);
        printf(" to tune on: the training part of --split %s (seed %llu); the other %s are the "
               "held-out test", split, (unsigned long long)c->topt.seed,
               cli_thousands(reco_dataset_nnz(test), d, sizeof d));
    } else if (c->test_file) {
        printf(" to tune on; %s is the held-out test", c->test_file);
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
    for (int j = 0; j < c->n_params; j++)
        printf("%s%s", j ? " " : "; fixed ", c->params[j]);
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
        printf(" of %s", c->test_file);
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
           c->n_params ? " with the --param values" : "");
}

static json_t *jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *metrics_json(const metric_col *cols, size_t nc, const reco_eval_result *e)
{
    json_t *o = json_object();
    for (size_t j = 0; j < nc; j++)
        json_object_set_new(o, cols[j].json, jnum(col_value(&cols[j], e)));
    json_object_set_new(o, "fit_seconds", jnum(e->fit_seconds));
    return o;
}

static json_t *params_json(const reco_tune_result *r, size_t t)
{
    json_t *o = json_object();
    for (uint32_t k = 0; k < r->space.n_dims; k++)
        json_object_set_new(o, r->space.dims[k].key, json_string(r->trials[t].values[k]));
    return o;
}

static int print_json(const tune_cli *c, const reco_tune_result *r, const reco_dataset *data,
                      const reco_dataset *test, const heldout *ho)
{
    char buf[4096];
    json_t *root = json_object();
    json_object_set_new(root, "algorithm", json_string(c->algo));
    if (c->file)
        json_object_set_new(root, "file", json_string(c->file));
    else
        json_object_set_new(root, "train", json_string(c->train_file));
    if (c->split_text) {
        reco_split_format(&c->outer, buf, sizeof buf);
        json_object_set_new(root, "split", json_string(buf));
    }
    if (c->test_file)
        json_object_set_new(root, "test", json_string(c->test_file));
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
    json_object_set_new(root, "relevant", json_real(c->topt.relevant));
    json_t *space = json_array();
    for (uint32_t k = 0; k < r->space.n_dims; k++) {
        reco_tune_dim_format(&r->space.dims[k], buf, sizeof buf);
        json_array_append_new(space, json_string(buf));
    }
    json_object_set_new(root, "space", space);
    json_object_set_new(root, "default_space", json_boolean(c->default_space));
    json_t *fixed = json_array();
    for (int j = 0; j < c->n_params; j++)
        json_array_append_new(fixed, json_string(c->params[j]));
    json_object_set_new(root, "fixed", fixed);
    json_object_set_new(root, "budget_seconds",
                        c->topt.budget_seconds > 0 ? json_real(c->topt.budget_seconds)
                                                   : json_null());
    json_object_set_new(root, "budget_exhausted", json_boolean(r->budget_exhausted));
    json_object_set_new(root, "planned", json_integer((json_int_t)r->planned));
    json_object_set_new(root, "seconds", json_real(r->seconds));
    metric_col cols[8];
    size_t nc = metric_cols(&r->metric, cols);
    json_t *trials = json_array();
    for (size_t t = 0; t < r->n_trials; t++) {
        const reco_tune_trial *tr = &r->trials[t];
        json_t *o = json_object();
        json_object_set_new(o, "trial", json_integer((json_int_t)t + 1));
        json_object_set_new(o, "params", params_json(r, t));
        json_object_set_new(o, "metric", jnum(tr->metric));
        json_t *m = metrics_json(cols, nc, &tr->eval);
        json_object_update(o, m);
        json_decref(m);
        json_object_set_new(o, "seconds", json_real(tr->seconds));
        json_array_append_new(trials, o);
    }
    json_object_set_new(root, "trials", trials);
    json_t *best = json_object();
    json_object_set_new(best, "trial", json_integer((json_int_t)r->best + 1));
    json_object_set_new(best, "params", params_json(r, r->best));
    json_object_set_new(best, "metric", jnum(r->trials[r->best].metric));
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
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                          JSON_REAL_PRECISION(8)) ? EXIT_FAIL : EXIT_OK;
    fputc('\n', stdout);
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
    for (int j = 0; j < c->n_params && !st; j++)
        st = reco_tune_set_param(m, c->params[j], &err);
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
        rc = rc < 0 ? EXIT_OK : rc;
        goto done;
    }
    if ((rc = check_setup(c)))
        goto done;
    if (c->test_file && access(c->test_file, R_OK) != 0) {
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
                char nb[32];
                cli_error("tune", "warning: %s: %s test ratings are also in %s and were "
                          "dropped", c->test_file,
                          cli_thousands(test->filtered_ratings, nb, sizeof nb), c->train_file);
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
