/* reco eval: compare algorithms on held-out ratings, every one on the same
 * train/test pairs, in one table (or JSON). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reco/eval.h"
#include "reco/model.h"
#include "reco/split.h"

enum {
    OPT_ALGO = OPT_FIRST_FREE, OPT_SPLIT, OPT_TRAIN, OPT_TEST, OPT_PARAM, OPT_RELEVANT,
    OPT_RANK_USERS, OPT_SEED
};

#define MAX_PAIRS RECO_SPLIT_MAX_FOLDS
#define MAX_ALGOS 32
#define MAX_PARAMS 64

static void help(void)
{
    printf("Usage: reco eval [OPTIONS] FILE\n"
           "       reco eval [OPTIONS] --train FILE --test FILE [--train FILE --test FILE ...]\n\n"
           "Fits each algorithm on training ratings and measures it on held-out ratings it\n"
           "never saw, every algorithm on identical splits, and prints one comparison\n"
           "table: RMSE and MAE over all test ratings (users or products unknown to the\n"
           "training data are predicted by the baseline fallback, counted, and reported),\n"
           "and precision, recall, NDCG, MAP and hit rate of top-N lists among products\n"
           "the user has not rated in training, over users with a relevant test rating,\n"
           "plus catalogue coverage and the time to fit, predict and recommend.\n"
           "See docs/evaluation.md for the definitions.\n\n"
           "Evaluation:\n"
           "  --algo LIST            all (default) or algorithms separated by commas\n"
           "  --split SPEC           random:F  a seeded random fraction F of ratings is tested\n"
           "                                   (default random:0.2)\n"
           "                         kfold:K   K folds, each tested once; prints mean ± std\n"
           "                         time:F    each user's latest fraction F is tested (needs\n"
           "                                   timestamps): the honest split for a shop\n"
           "                         loo       each user's latest rating is tested\n"
           "  --train FILE --test FILE\n"
           "                         a given split instead (e.g. MovieLens u1.base u1.test);\n"
           "                         repeat the pair for several folds (u1..u5)\n"
           "  --param ALGO.KEY=VALUE set a parameter of one algorithm, e.g. mf.factors=64\n"
           "                         (repeatable; ALGO.baseline.KEY sets its fallback's)\n"
           "  -n N                   length of the recommendation lists (default 10)\n"
           "  --relevant R           a test rating >= R is relevant (default 4)\n"
           "  --rank-users N         rank for a seeded sample of N users only (default: all\n"
           "                         users with a relevant test rating; use on big data)\n"
           "  --seed S               seed of the split and the sample (default 1)\n"
           "%s"
           "Output:\n"
           "  --json                 print JSON instead of the table\n"
           "  -q, --quiet            no progress bar, no warnings\n"
           "  --help                 show this help\n",
           CLI_DATA_HELP);
}

typedef struct eval_cli {
    cli_data_opts data;
    const char *algo_list;
    const char *split_text;
    const char *train[MAX_PAIRS], *test[MAX_PAIRS];
    int n_train, n_test;
    const char *params[MAX_PARAMS];
    int n_params;
    reco_eval_options eopt;
    uint64_t seed;
    const char *file;
    reco_split_spec spec;
    reco_model *models[MAX_ALGOS];
    int n_models;
} eval_cli;

static void free_models(eval_cli *c)
{
    for (int a = 0; a < c->n_models; a++)
        reco_model_free(c->models[a]);
    c->n_models = 0;
}

static int add_model(eval_cli *c, const char *name)
{
    for (int a = 0; a < c->n_models; a++)
        if (!strcmp(c->models[a]->ops->name, name))
            return EXIT_OK; /* listed twice: evaluate once */
    if (c->n_models == MAX_ALGOS) {
        cli_error("eval", "too many algorithms (at most %d)", MAX_ALGOS);
        return EXIT_USAGE;
    }
    reco_error err;
    reco_status st = reco_model_new(name, &c->models[c->n_models], &err);
    if (st) {
        cli_error("eval", "%s", err.msg);
        return cli_exit_status(st);
    }
    c->n_models++;
    return EXIT_OK;
}

static int make_models(eval_cli *c)
{
    const char *list = c->algo_list ? c->algo_list : "all";
    if (!strcmp(list, "all")) {
        for (const reco_algo_ops *const *a = reco_algo_list(); *a; a++) {
            int rc = add_model(c, (*a)->name);
            if (rc)
                return rc;
        }
        return EXIT_OK;
    }
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[64];
        if (len == 0 || len >= sizeof name) {
            cli_error("eval", "--algo wants 'all' or names separated by commas, got \"%s\"", list);
            return EXIT_USAGE;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        int rc = add_model(c, name);
        if (rc)
            return rc;
        if (!comma)
            return EXIT_OK;
        p = comma + 1;
    }
}

/* Splits --param ALGO.KEY=VALUE; 0 on success. */
static int split_param(const char *text, char *algo, size_t acap, char *key, size_t kcap,
                       const char **value)
{
    const char *eq = strchr(text, '=');
    const char *dot = strchr(text, '.');
    if (!eq || !dot || dot > eq || dot == text || dot + 1 == eq) {
        cli_error("eval", "--param wants ALGO.KEY=VALUE, got \"%s\"", text);
        return -1;
    }
    if ((size_t)(dot - text) >= acap || (size_t)(eq - dot - 1) >= kcap) {
        cli_error("eval", "--param \"%s\": name too long", text);
        return -1;
    }
    memcpy(algo, text, (size_t)(dot - text));
    algo[dot - text] = '\0';
    memcpy(key, dot + 1, (size_t)(eq - dot - 1));
    key[eq - dot - 1] = '\0';
    *value = eq + 1;
    return 0;
}

/* Applies the --param options naming m's algorithm to m and checks the
 * result. Prints the library's message and returns the exit status. */
static int configure(const eval_cli *c, reco_model *m)
{
    for (int j = 0; j < c->n_params; j++) {
        char algo[64], key[128];
        const char *value;
        if (split_param(c->params[j], algo, sizeof algo, key, sizeof key, &value))
            return EXIT_USAGE;
        if (strcmp(algo, m->ops->name) != 0)
            continue;
        reco_error err;
        reco_status st = reco_model_set_param(m, key, value, &err);
        if (st) {
            cli_error("eval", "--param %s: %s", c->params[j], err.msg);
            return cli_exit_status(st);
        }
    }
    reco_error err;
    reco_status st = m->ops->params_check(m->params, &err);
    if (!st)
        st = reco_baseline_params_check(&m->baseline_params, &err);
    if (!st)
        st = reco_popular_params_check(&m->popular_params, &err);
    if (st) {
        cli_error("eval", "%s: %s", m->ops->name, err.msg);
        return cli_exit_status(st);
    }
    return EXIT_OK;
}

/* Checks every --param before any data is read: the algorithm must exist
 * and accept the key and value. One naming an algorithm that is not being
 * evaluated is checked, then ignored with a warning. */
static int check_params(eval_cli *c)
{
    for (int a = 0; a < c->n_models; a++) {
        int rc = configure(c, c->models[a]);
        if (rc)
            return rc;
    }
    for (int j = 0; j < c->n_params; j++) {
        char algo[64], key[128];
        const char *value;
        if (split_param(c->params[j], algo, sizeof algo, key, sizeof key, &value))
            return EXIT_USAGE;
        bool selected = false;
        for (int a = 0; a < c->n_models; a++)
            selected |= !strcmp(c->models[a]->ops->name, algo);
        if (selected)
            continue;
        reco_model *temp = NULL;
        reco_error err;
        reco_status st = reco_model_new(algo, &temp, &err);
        if (st) {
            cli_error("eval", "--param %s: %s", c->params[j], err.msg);
            return cli_exit_status(st);
        }
        int rc = configure(c, temp);
        reco_model_free(temp);
        if (rc)
            return rc;
        if (!c->data.quiet)
            cli_error("eval", "warning: --param %s: %s is not among the algorithms evaluated",
                      c->params[j], algo);
    }
    return EXIT_OK;
}

static int parse_args(eval_cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DATA_LONGOPTS,
        {"algo", required_argument, NULL, OPT_ALGO},
        {"split", required_argument, NULL, OPT_SPLIT},
        {"train", required_argument, NULL, OPT_TRAIN},
        {"test", required_argument, NULL, OPT_TEST},
        {"param", required_argument, NULL, OPT_PARAM},
        {"relevant", required_argument, NULL, OPT_RELEVANT},
        {"rank-users", required_argument, NULL, OPT_RANK_USERS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    int ch;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "n:q", longopts, NULL)) != -1) {
        int r = cli_data_option("eval", ch, optarg, &c->data);
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0)
            continue;
        switch (ch) {
        case OPT_ALGO: c->algo_list = optarg; break;
        case OPT_SPLIT: c->split_text = optarg; break;
        case OPT_TRAIN:
        case OPT_TEST: {
            int *cnt = ch == OPT_TRAIN ? &c->n_train : &c->n_test;
            if (*cnt == MAX_PAIRS) {
                cli_error("eval", "at most %d --train/--test pairs", MAX_PAIRS);
                return EXIT_USAGE;
            }
            (ch == OPT_TRAIN ? c->train : c->test)[(*cnt)++] = optarg;
            break;
        }
        case OPT_PARAM:
            if (c->n_params == MAX_PARAMS) {
                cli_error("eval", "at most %d --param options", MAX_PARAMS);
                return EXIT_USAGE;
            }
            c->params[c->n_params++] = optarg;
            break;
        case 'n':
            if (cli_parse_u32(optarg, &c->eopt.n) || c->eopt.n < 1 ||
                c->eopt.n > RECO_EVAL_MAX_N) {
                cli_error("eval", "-n wants a list length from 1 to %d, got \"%s\"",
                          RECO_EVAL_MAX_N, optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RELEVANT:
            if (cli_parse_double(optarg, &c->eopt.relevant)) {
                cli_error("eval", "--relevant wants a rating, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RANK_USERS:
            if (cli_parse_u32(optarg, &c->eopt.rank_users)) {
                cli_error("eval", "--rank-users wants a non-negative integer, got \"%s\"",
                          optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_SEED:
            if (cli_parse_u64(optarg, &c->seed)) {
                cli_error("eval", "--seed wants a non-negative integer, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_JSON: c->data.json = true; break;
        case 'q':
        case OPT_QUIET: c->data.quiet = true; break;
        case OPT_HELP: help(); return -1;
        default:
            /* One line: scripts and people see the cause at once. */
            cli_error("eval", "unknown or incomplete option '%s' (see 'reco eval --help')",
                      argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (c->n_train != c->n_test) {
        cli_error("eval", "--train and --test come in pairs (got %d and %d)", c->n_train,
                  c->n_test);
        return EXIT_USAGE;
    }
    if (c->n_train) {
        if (c->split_text) {
            cli_error("eval", "--split cannot be combined with --train/--test");
            return EXIT_USAGE;
        }
        if (optind != argc) {
            cli_error("eval", "no FILE is expected with --train/--test");
            return EXIT_USAGE;
        }
    } else {
        if (optind != argc - 1) {
            if (optind == argc)
                cli_error("eval", "missing FILE (see 'reco eval --help')");
            else
                cli_error("eval", "expected one FILE, got \"%s\" too", argv[argc - 1]);
            return EXIT_USAGE;
        }
        c->file = argv[optind];
        reco_error err;
        reco_status st = reco_split_parse(c->split_text ? c->split_text : "random:0.2",
                                          c->seed, &c->spec, &err);
        if (st) {
            cli_error("eval", "--split: %s", err.msg);
            return EXIT_USAGE;
        }
    }
    c->eopt.seed = c->seed;
    c->eopt.threads = c->data.load.threads;
    return EXIT_OK;
}

/* ---- output ---------------------------------------------------------------- */

typedef struct algo_results {
    reco_eval_result fold[MAX_PAIRS];
    reco_eval_result mean, std;
} algo_results;

/* Four decimals, or two significant digits below 0.001 so that a small
 * coverage of a big catalogue does not print as 0.0000. */
static void fmt_number(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, v != 0 && fabs(v) < 0.001 ? "%.1e" : "%.4f", v);
}

static void fmt_metric(double m, double sd, bool with_std, char *buf, size_t cap)
{
    char a[24], b[24];
    if (isnan(m) || cap < sizeof a + sizeof b) {
        snprintf(buf, cap, "-");
        return;
    }
    fmt_number(m, a, sizeof a);
    fmt_number(sd, b, sizeof b);
    if (with_std)
        snprintf(buf, cap, "%s±%s", a, b);
    else
        snprintf(buf, cap, "%s", a);
}


static void print_table(const eval_cli *c, const algo_results *res, uint32_t pairs,
                        const reco_dataset *full)
{
    char a[32], b[32], d[32];
    const reco_eval_result *m0 = &res[0].mean;
    if (c->file) {
        char split[32];
        reco_split_format(&c->spec, split, sizeof split);
        printf("data       %s: %s users, %s products, %s ratings\n", c->file,
               cli_thousands(reco_dataset_n_users(full), a, sizeof a),
               cli_thousands(reco_dataset_n_items(full), b, sizeof b),
               cli_thousands(reco_dataset_nnz(full), d, sizeof d));
        printf("split      %s, seed %llu", split, (unsigned long long)c->seed);
    } else {
        printf("split      given files, %u pair%s (%s / %s%s)", pairs, pairs == 1 ? "" : "s",
               c->train[0], c->test[0], pairs > 1 ? ", ..." : "");
    }
    printf(": %s test ratings%s\n", cli_thousands(m0->test_ratings, a, sizeof a),
           pairs > 1 ? " in all" : "");
    printf("unknown    test ratings whose user has no training rating: %s; whose product has "
           "none: %s (the baseline fallback predicts them)\n",
           cli_thousands(m0->unknown_user_ratings, a, sizeof a),
           cli_thousands(m0->unknown_item_ratings, b, sizeof b));
    printf("ranking    top %u among products not rated in training; relevant: test rating "
           ">= %g; %s user list%s%s",
           c->eopt.n, c->eopt.relevant, cli_thousands(m0->rank_users, a, sizeof a),
           m0->rank_users == 1 ? "" : "s", pairs > 1 ? " over all pairs" : "");
    if (m0->rank_users < m0->rank_eligible)
        printf(" (a sample of %s eligible)", cli_thousands(m0->rank_eligible, b, sizeof b));
    if (m0->rank_cold_users)
        printf(", %s cold-start", cli_thousands(m0->rank_cold_users, b, sizeof b));
    printf("\n");
    if (pairs > 1)
        printf("figures    mean ± standard deviation over %u pairs; times are per pair\n", pairs);
    printf("\n");

    enum { NCOL = 12 };
    char heads[NCOL][24];
    const char *fixed[NCOL] = {"algorithm", "RMSE", "MAE", NULL, NULL, NULL, NULL,
                               NULL, "coverage", "fit", "predict", "recommend"};
    const char *ranked[5] = {"P", "R", "NDCG", "MAP", "HR"};
    for (int k = 0; k < NCOL; k++) {
        if (fixed[k])
            snprintf(heads[k], sizeof heads[k], "%s", fixed[k]);
        else
            snprintf(heads[k], sizeof heads[k], "%s@%u", ranked[k - 3], c->eopt.n);
    }
    bool with_std = pairs > 1;
    /* Every cell is formatted first and each column is as wide as its
     * widest cell, so a value such as 4.4e-04±1.2e-04 never shifts the
     * columns after it. */
    char(*cells)[NCOL][64] = calloc(c->n_models ? (size_t)c->n_models : 1, sizeof *cells);
    if (!cells)
        return;
    int width[NCOL];
    for (int k = 0; k < NCOL; k++)
        width[k] = cli_text_width(heads[k]);
    for (int a2 = 0; a2 < c->n_models; a2++) {
        const reco_eval_result *m = &res[a2].mean, *s = &res[a2].std;
        double mv[8] = {m->rmse, m->mae, m->precision, m->recall, m->ndcg,
                        m->map,  m->hit_rate, m->coverage};
        double sv[8] = {s->rmse, s->mae, s->precision, s->recall, s->ndcg,
                        s->map,  s->hit_rate, s->coverage};
        snprintf(cells[a2][0], sizeof cells[a2][0], "%s", c->models[a2]->ops->name);
        for (int k = 0; k < 8; k++)
            fmt_metric(mv[k], sv[k], with_std, cells[a2][k + 1], sizeof cells[a2][k + 1]);
        double tv[3] = {m->fit_seconds, m->predict_seconds, m->recommend_seconds};
        for (int k = 0; k < 3; k++)
            cli_fmt_seconds(tv[k], cells[a2][k + 9], sizeof cells[a2][k + 9]);
        for (int k = 0; k < NCOL; k++) {
            int w = cli_text_width(cells[a2][k]);
            if (w > width[k])
                width[k] = w;
        }
    }
    for (int k = 0; k < NCOL; k++) {
        if (k)
            fputs("  ", stdout);
        cli_cell(stdout, heads[k], width[k], k == 0);
    }
    fputc('\n', stdout);
    for (int a2 = 0; a2 < c->n_models; a2++) {
        for (int k = 0; k < NCOL; k++) {
            if (k)
                fputs("  ", stdout);
            cli_cell(stdout, cells[a2][k], width[k], k == 0);
        }
        fputc('\n', stdout);
    }
    free(cells);
}

static json_t *jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *result_json(const reco_eval_result *r, bool counts)
{
    json_t *o = json_object();
    json_object_set_new(o, "rmse", jnum(r->rmse));
    json_object_set_new(o, "mae", jnum(r->mae));
    json_object_set_new(o, "precision", jnum(r->precision));
    json_object_set_new(o, "recall", jnum(r->recall));
    json_object_set_new(o, "ndcg", jnum(r->ndcg));
    json_object_set_new(o, "map", jnum(r->map));
    json_object_set_new(o, "hit_rate", jnum(r->hit_rate));
    json_object_set_new(o, "coverage", jnum(r->coverage));
    json_object_set_new(o, "fit_seconds", jnum(r->fit_seconds));
    json_object_set_new(o, "predict_seconds", jnum(r->predict_seconds));
    json_object_set_new(o, "recommend_seconds", jnum(r->recommend_seconds));
    if (counts) {
        json_object_set_new(o, "test_ratings", json_integer((json_int_t)r->test_ratings));
        json_object_set_new(o, "unknown_user_ratings",
                            json_integer((json_int_t)r->unknown_user_ratings));
        json_object_set_new(o, "unknown_item_ratings",
                            json_integer((json_int_t)r->unknown_item_ratings));
        json_object_set_new(o, "rank_users", json_integer((json_int_t)r->rank_users));
        json_object_set_new(o, "rank_eligible", json_integer((json_int_t)r->rank_eligible));
        json_object_set_new(o, "rank_cold_users",
                            json_integer((json_int_t)r->rank_cold_users));
    }
    return o;
}

static int print_json(const eval_cli *c, const algo_results *res, uint32_t pairs,
                      const reco_dataset *full)
{
    json_t *root = json_object();
    if (c->file) {
        char split[32];
        reco_split_format(&c->spec, split, sizeof split);
        json_object_set_new(root, "file", json_string(c->file));
        json_object_set_new(root, "users", json_integer(reco_dataset_n_users(full)));
        json_object_set_new(root, "products", json_integer(reco_dataset_n_items(full)));
        json_object_set_new(root, "ratings", json_integer((json_int_t)reco_dataset_nnz(full)));
        json_object_set_new(root, "split", json_string(split));
    } else {
        json_t *tr = json_array(), *te = json_array();
        for (uint32_t f = 0; f < pairs; f++) {
            json_array_append_new(tr, json_string(c->train[f]));
            json_array_append_new(te, json_string(c->test[f]));
        }
        json_object_set_new(root, "split", json_string("files"));
        json_object_set_new(root, "train", tr);
        json_object_set_new(root, "test", te);
    }
    json_object_set_new(root, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(root, "pairs", json_integer(pairs));
    json_object_set_new(root, "n", json_integer(c->eopt.n));
    json_object_set_new(root, "relevant", json_real(c->eopt.relevant));
    json_object_set_new(root, "rank_users_cap", json_integer(c->eopt.rank_users));
    json_t *algos = json_array();
    for (int a = 0; a < c->n_models; a++) {
        char params[512];
        const reco_model *m = c->models[a];
        m->ops->params_format(m->params, params, sizeof params);
        json_t *o = result_json(&res[a].mean, true);
        json_t *named = json_object();
        json_object_set_new(named, "algorithm", json_string(m->ops->name));
        json_object_set_new(named, "params", json_string(params));
        json_object_update(named, o);
        json_decref(o);
        if (pairs > 1) {
            json_object_set_new(named, "std", result_json(&res[a].std, false));
            json_t *folds = json_array();
            for (uint32_t f = 0; f < pairs; f++)
                json_array_append_new(folds, result_json(&res[a].fold[f], true));
            json_object_set_new(named, "folds", folds);
        }
        json_array_append_new(algos, named);
    }
    json_object_set_new(root, "algorithms", algos);
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                          JSON_REAL_PRECISION(8)) ? EXIT_FAIL : EXIT_OK;
    fputc('\n', stdout);
    json_decref(root);
    return rc;
}

/* ---- running ---------------------------------------------------------------- */

/* Pair f: from the splitter, or loaded from --train/--test files. */
static int get_pair(eval_cli *c, reco_splitter *sp, uint32_t f, reco_dataset **train,
                    reco_dataset **test)
{
    reco_error err;
    reco_status st;
    if (sp) {
        st = reco_splitter_get(sp, f, train, test, &err);
        if (st) {
            cli_error("eval", "%s", err.msg);
            return cli_exit_status(st);
        }
        return EXIT_OK;
    }
    int rc = cli_load_dataset("eval", c->train[f], &c->data, train);
    if (rc)
        return rc;
    cli_progress *pb = cli_progress_new(!c->data.quiet);
    reco_load_options lo = c->data.load;
    lo.progress = (reco_progress){cli_progress_cb, pb};
    st = reco_split_load_test(c->test[f], *train, &lo, test, &err);
    cli_progress_free(pb);
    if (st) {
        cli_error("eval", "%s", err.msg);
        reco_dataset_free(*train);
        *train = NULL;
        return cli_exit_status(st);
    }
    if (!c->data.quiet) {
        cli_report_bad_lines("eval", &(*test)->load);
        if ((*test)->filtered_ratings) {
            char nb[32];
            cli_error("eval", "warning: %s: %s test ratings are also in %s and were dropped",
                      c->test[f], cli_thousands((*test)->filtered_ratings, nb, sizeof nb),
                      c->train[f]);
        }
    }
    return EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    eval_cli *c = calloc(1, sizeof *c);
    algo_results *res = NULL;
    reco_dataset *full = NULL;
    reco_splitter *sp = NULL;
    if (!c) {
        cli_error("eval", "out of memory");
        return EXIT_FAIL;
    }
    cli_data_opts_init(&c->data);
    reco_eval_options_default(&c->eopt);
    c->seed = 1;
    int rc = parse_args(c, argc, argv);
    if (rc) {
        rc = rc < 0 ? EXIT_OK : rc;
        goto done;
    }
    if ((rc = make_models(c)) || (rc = check_params(c)))
        goto done;
    res = calloc((size_t)c->n_models, sizeof *res);
    if (!res) {
        cli_error("eval", "out of memory");
        rc = EXIT_FAIL;
        goto done;
    }
    uint32_t pairs = (uint32_t)c->n_train;
    if (c->file) {
        if ((rc = cli_load_dataset("eval", c->file, &c->data, &full)))
            goto done;
        reco_error err;
        reco_status st = reco_splitter_new(full, &c->spec, &sp, &err);
        if (st) {
            cli_error("eval", "%s", err.msg);
            rc = cli_exit_status(st);
            goto done;
        }
        pairs = reco_splitter_count(sp);
        /* Ranking scores every product for every user: on a shop's data
         * that is hours, so say how to sample. */
        double work = (double)reco_dataset_n_users(full) * reco_dataset_n_items(full);
        if (!c->eopt.rank_users && work > 1e10 && !c->data.quiet) {
            char nu[32], ni[32];
            cli_error("eval", "warning: ranking for every user of %s over %s products will "
                      "take long; --rank-users 10000 evaluates a sample",
                      cli_thousands(reco_dataset_n_users(full), nu, sizeof nu),
                      cli_thousands(reco_dataset_n_items(full), ni, sizeof ni));
        }
    }
    for (uint32_t f = 0; f < pairs; f++) {
        reco_dataset *train = NULL, *test = NULL;
        if ((rc = get_pair(c, sp, f, &train, &test)))
            goto done;
        /* A fresh model per pair (configured like the prototype), freed
         * before the pair is: models borrow their training set, and only
         * one fitted model is held at a time. */
        for (int a = 0; a < c->n_models && !rc; a++) {
            reco_model *m = NULL;
            reco_error err;
            reco_status st = reco_model_new(c->models[a]->ops->name, &m, &err);
            if (st) {
                cli_error("eval", "%s", err.msg);
                rc = cli_exit_status(st);
                break;
            }
            if ((rc = configure(c, m))) {
                reco_model_free(m);
                break;
            }
            cli_progress *pb = cli_progress_new(!c->data.quiet);
            reco_fit_ctx ctx = {c->data.load.threads, {cli_progress_cb, pb}, NULL};
            st = reco_model_fit(m, train, &ctx, &err);
            if (!st) {
                c->eopt.progress = (reco_progress){cli_progress_cb, pb};
                st = reco_eval_model(m, test, &c->eopt, &res[a].fold[f], &err);
            }
            c->eopt.progress.fn = NULL;
            cli_progress_free(pb);
            reco_model_free(m);
            if (st == RECO_ERR_TOO_LARGE && (!c->algo_list || !strcmp(c->algo_list, "all"))) {
                /* A model too big for this data (ease on a large catalogue)
                 * does not stop "all": it is left out, with the reason. */
                if (!c->data.quiet)
                    cli_error("eval", "warning: %s left out: %s", c->models[a]->ops->name,
                              err.msg);
                reco_model_free(c->models[a]);
                memmove(&c->models[a], &c->models[a + 1],
                        (size_t)(c->n_models - a - 1) * sizeof *c->models);
                memmove(&res[a], &res[a + 1], (size_t)(c->n_models - a - 1) * sizeof *res);
                c->n_models--;
                a--;
                continue;
            }
            if (st) {
                cli_error("eval", "%s: %s", c->models[a]->ops->name, err.msg);
                rc = cli_exit_status(st);
            }
        }
        reco_dataset_free(train);
        reco_dataset_free(test);
        if (rc)
            goto done;
    }
    for (int a = 0; a < c->n_models; a++)
        reco_eval_summarise(res[a].fold, pairs, &res[a].mean, &res[a].std);
    if (c->data.json)
        rc = print_json(c, res, pairs, full);
    else
        print_table(c, res, pairs, full);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("eval", "error writing output");
        rc = EXIT_FAIL;
    }
done:
    reco_splitter_free(sp);
    reco_dataset_free(full);
    free_models(c);
    free(res);
    free(c);
    return rc;
}
