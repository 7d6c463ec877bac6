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

#define MAX_PAIRS RECO_SPLIT_MAX_FOLDS /* at most CLI_LIST_MAX */
#define MAX_ALGOS 32

typedef struct eval_cli {
    cli_data_opts data;
    const char *algo_list;
    const char *split_text;
    cli_list train, test;      /* --train/--test pairs */
    cli_list params;           /* --param words */
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

/* The evaluated model named name, or NULL. */
static reco_model *evaluated(const eval_cli *c, const char *name, size_t len)
{
    for (int a = 0; a < c->n_models; a++)
        if (strlen(c->models[a]->ops->name) == len &&
            !strncmp(c->models[a]->ops->name, name, len))
            return c->models[a];
    return NULL;
}

/* One --param word onto the models (the prototypes every pair's models are
 * copied from). ALGO.KEY=VALUE with ALGO among the algorithms evaluated
 * sets ALGO's KEY; any other KEY=VALUE sets KEY on every algorithm that has
 * the parameter, and is an error if none has it (unless KEY is ALGO.KEY
 * of an algorithm not evaluated: checked, then ignored with a warning). */
static int apply_param(eval_cli *c, const char *word)
{
    const char *eq = strchr(word, '=');
    if (!eq || eq == word) {
        cli_error("eval", "--param wants KEY=VALUE or ALGO.KEY=VALUE, got \"%s\"", word);
        return EXIT_USAGE;
    }
    reco_error err;
    reco_status st;
    size_t prefix = strcspn(word, ".=");
    reco_model *target = word[prefix] == '.' ? evaluated(c, word, prefix) : NULL;
    if (target) {
        if ((st = reco_model_set_param_text(target, word, &err))) {
            cli_error("eval", "--param %s: %s", word, err.msg);
            return cli_exit_status(st);
        }
        return EXIT_OK;
    }
    int applied = 0;
    for (int a = 0; a < c->n_models; a++) {
        st = reco_model_set_param_text(c->models[a], word, &err);
        if (!st)
            applied++;
        else if (!reco_param_is_unknown(&err)) {
            cli_error("eval", "--param %s: %s", word, err.msg);
            return cli_exit_status(st);
        }
    }
    if (applied)
        return EXIT_OK;
    char algo[64];
    if (word[prefix] == '.' && prefix < sizeof algo) {
        memcpy(algo, word, prefix);
        algo[prefix] = '\0';
        if (reco_algo_find(algo)) {
            reco_model *temp = NULL;
            st = reco_model_new(algo, &temp, &err);
            if (!st)
                st = reco_model_set_param_text(temp, word, &err);
            reco_model_free(temp);
            if (st) {
                cli_error("eval", "--param %s: %s", word, err.msg);
                return cli_exit_status(st);
            }
            if (!c->data.quiet)
                cli_error("eval", "warning: --param %s: %s is not among the algorithms evaluated",
                          word, algo);
            return EXIT_OK;
        }
    }
    cli_error("eval", "--param %s: no algorithm evaluated has a parameter %.*s", word,
              (int)(eq - word), word);
    return EXIT_USAGE;
}

/* Applies every --param word and checks the models' parameters, before
 * any data is read. */
static int check_params(eval_cli *c)
{
    for (int j = 0; j < c->params.n; j++) {
        int rc = apply_param(c, c->params.v[j]);
        if (rc)
            return rc;
    }
    for (int a = 0; a < c->n_models; a++) {
        const reco_model *m = c->models[a];
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
    }
    return EXIT_OK;
}

static int parse_args(eval_cli *c, int argc, char **argv)
{
    char n_help[96];
    snprintf(n_help, sizeof n_help, "length of the recommendation lists (1 to %d, default 10)",
             RECO_EVAL_MAX_N);
    const cli_option options[] = {
        CLI_OPT_HEADING("Evaluation:"),
        {CLI_STRING, "algo", 'a', "LIST", "all (default) or algorithms separated by commas",
         &c->algo_list, 0, 0, NULL, NULL},
        {CLI_STRING, "split", 0, "SPEC",
         "random:F  a seeded random fraction F of ratings is tested (default random:0.2)\n"
         "kfold:K   K folds, each tested once; prints mean ± std\n"
         "time:F    each user's latest fraction F is tested (needs timestamps): the honest "
         "split for a shop\n"
         "loo       each user's latest rating is tested",
         &c->split_text, 0, 0, NULL, NULL},
        {CLI_LIST, "train", 0, "FILE", "with --test: a given split instead (e.g. MovieLens "
         "u1.base u1.test); repeat the pair for several folds (u1..u5)", &c->train, 0, MAX_PAIRS,
         NULL, NULL},
        {CLI_LIST, "test", 0, "FILE", "the held-out ratings of the --train file before it",
         &c->test, 0, MAX_PAIRS, NULL, NULL},
        {CLI_LIST, "param", 'p', "KEY=VALUE", "set a parameter (repeatable): KEY=VALUE sets it "
         "on every algorithm evaluated that has it (factors=64), ALGO.KEY=VALUE on ALGO only "
         "(mf.factors=64; ALGO.baseline.KEY sets its fallback's)", &c->params, 0, 0, NULL,
         NULL},
        {CLI_U32, NULL, 'n', "N", n_help, &c->eopt.n, 1, RECO_EVAL_MAX_N, NULL, NULL},
        {CLI_DOUBLE, "relevant", 0, "R", "a test rating >= R is relevant (default 4)",
         &c->eopt.relevant, 0, 0, "a rating", NULL},
        {CLI_U32, "rank-users", 0, "N", "rank for a seeded sample of N users only (default: all "
         "users with a relevant test rating; use on big data)", &c->eopt.rank_users, 0, 0, NULL,
         NULL},
        {CLI_U64, "seed", 0, "S", "seed of the split and the sample (default 1)", &c->seed, 0, 0,
         NULL, NULL},
        CLI_OPT_INCLUDE(c->data.table),
        CLI_OPT_HEADING("Output:"),
        CLI_OPT_JSON(&c->data.json, "print JSON instead of the table (docs/json.md)"),
        CLI_OPT_QUIET(&c->data.quiet, "no progress bar, no warnings"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "eval",
        .usage = "[OPTIONS] FILE\n[OPTIONS] (--train FILE --test FILE)...",
        .description =
            "Fits each algorithm on training ratings and measures it on held-out ratings it "
            "never saw, every algorithm on identical splits, and prints one comparison table: "
            "RMSE and MAE over all test ratings (users or products unknown to the training data "
            "are predicted by the baseline fallback, counted, and reported), and precision, "
            "recall, NDCG, MAP and hit rate of top-N lists among products the user has not "
            "rated in training, over users with a relevant test rating, plus catalogue coverage "
            "and the time to fit, predict and recommend. See docs/evaluation.md for the "
            "definitions. A rating file may be a postgresql:// table or query "
            "(docs/postgresql.md).",
        .options = options,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc;
    if (c->train.n != c->test.n)
        return cli_usage("eval", "--train and --test come in pairs (got %d and %d)", c->train.n,
                         c->test.n);
    if (c->train.n) {
        if (c->split_text)
            return cli_usage("eval", "--split cannot be combined with --train/--test");
        if (first != argc)
            return cli_usage("eval", "no FILE is expected with --train/--test");
    } else {
        if (first == argc)
            return cli_usage("eval", "missing FILE");
        if (first != argc - 1)
            return cli_usage("eval", "expected one FILE, got \"%s\" too", argv[argc - 1]);
        c->file = argv[first];
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
        char name[4096];
        printf("data       %s: %s users, %s products, %s ratings\n",
               cli_source_name(c->file, name, sizeof name),
               cli_thousands(reco_dataset_n_users(full), a, sizeof a),
               cli_thousands(reco_dataset_n_items(full), b, sizeof b),
               cli_thousands(reco_dataset_nnz(full), d, sizeof d));
        printf("split      %s, seed %llu", split, (unsigned long long)c->seed);
    } else {
        char n1[4096], n2[4096];
        printf("split      given files, %u pair%s (%s / %s%s)", pairs, pairs == 1 ? "" : "s",
               cli_source_name(c->train.v[0], n1, sizeof n1),
               cli_source_name(c->test.v[0], n2, sizeof n2), pairs > 1 ? ", ..." : "");
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

static json_t *result_json(const reco_eval_result *r, bool counts)
{
    json_t *o = json_object();
    json_object_set_new(o, "rmse", reco_json_real(r->rmse));
    json_object_set_new(o, "mae", reco_json_real(r->mae));
    json_object_set_new(o, "precision", reco_json_real(r->precision));
    json_object_set_new(o, "recall", reco_json_real(r->recall));
    json_object_set_new(o, "ndcg", reco_json_real(r->ndcg));
    json_object_set_new(o, "map", reco_json_real(r->map));
    json_object_set_new(o, "hit_rate", reco_json_real(r->hit_rate));
    json_object_set_new(o, "coverage", reco_json_real(r->coverage));
    json_object_set_new(o, "fit_seconds", reco_json_real(r->fit_seconds));
    json_object_set_new(o, "predict_seconds", reco_json_real(r->predict_seconds));
    json_object_set_new(o, "recommend_seconds", reco_json_real(r->recommend_seconds));
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
        char name[4096];
        json_object_set_new(root, "file",
                            json_string(cli_source_name(c->file, name, sizeof name)));
        json_object_set_new(root, "users", json_integer(reco_dataset_n_users(full)));
        json_object_set_new(root, "items", json_integer(reco_dataset_n_items(full)));
        json_object_set_new(root, "ratings", json_integer((json_int_t)reco_dataset_nnz(full)));
        json_object_set_new(root, "split", json_string(split));
    } else {
        json_t *tr = json_array(), *te = json_array();
        for (uint32_t f = 0; f < pairs; f++) {
            char name[4096];
            json_array_append_new(tr, json_string(cli_source_name(c->train.v[f], name,
                                                                  sizeof name)));
            json_array_append_new(te, json_string(cli_source_name(c->test.v[f], name,
                                                                  sizeof name)));
        }
        json_object_set_new(root, "split", json_string("files"));
        json_object_set_new(root, "train", tr);
        json_object_set_new(root, "test", te);
    }
    json_object_set_new(root, "seed", json_integer((json_int_t)c->seed));
    json_object_set_new(root, "pairs", json_integer(pairs));
    json_object_set_new(root, "n", json_integer(c->eopt.n));
    json_object_set_new(root, "relevant", reco_json_real(c->eopt.relevant));
    json_object_set_new(root, "rank_users_cap", json_integer(c->eopt.rank_users));
    json_t *algos = json_array();
    for (int a = 0; a < c->n_models; a++) {
        char params[2048];
        const reco_model *m = c->models[a];
        m->ops->params_format(m->params, params, sizeof params);
        json_t *o = result_json(&res[a].mean, true);
        json_t *named = json_object();
        json_object_set_new(named, "algorithm", json_string(m->ops->name));
        json_object_set_new(named, "params", reco_json_params(params));
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
    int rc = cli_print_json(root);
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
    int rc = cli_load_dataset("eval", c->train.v[f], &c->data, train);
    if (rc)
        return rc;
    cli_progress *pb = cli_progress_new(!c->data.quiet);
    reco_load_options lo = c->data.load;
    lo.progress = (reco_progress){cli_progress_cb, pb};
    st = reco_split_load_test(c->test.v[f], *train, &lo, test, &err);
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
            char nb[32], n1[4096], n2[4096];
            cli_error("eval", "warning: %s: %s test ratings are also in %s and were dropped",
                      cli_source_name(c->test.v[f], n1, sizeof n1),
                      cli_thousands((*test)->filtered_ratings, nb, sizeof nb),
                      cli_source_name(c->train.v[f], n2, sizeof n2));
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
        rc = rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
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
    uint32_t pairs = (uint32_t)c->train.n;
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
            if (!st)
                st = reco_model_copy_params(m, c->models[a], &err);
            if (st) {
                cli_error("eval", "%s", err.msg);
                reco_model_free(m);
                rc = cli_exit_status(st);
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
