/* reco train: fit a model on a rating file and write a model file. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reco/default_algo.h"
#include "reco/model.h"
#include "service.h"

enum { OPT_ALGO = OPT_FIRST_FREE, OPT_PARAM, OPT_OUTPUT };

static void help(void)
{
    printf("Usage: reco train [--algo ALGO] [--param KEY=VALUE ...] [OPTIONS] RATINGS -o MODEL\n\n"
           "Fits a recommender on a rating file and writes a model file that `reco serve`,\n"
           "`reco recommend`, `reco similar` and `reco predict` load by mapping it.\n"
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
    printf("\nEvery model also fits the baseline (params baseline.reg_u, baseline.reg_i,\n"
           "baseline.epochs) and the popularity ranking that users it has never seen get:\n"
           "popular.by=count (default: products by number of training ratings) or mean\n"
           "(damped mean rating, with popular.damping and popular.min_count: products with\n"
           "fewer ratings follow the rest). popular.half_life_days=H (count only; 0, the\n"
           "default, is off) weighs each rating by 2^(-age/H), the age in days counted back\n"
           "from the latest rating in the training data (needs timestamps). The popular\n"
           "algorithm's own parameters are these.\n\n"
           "Options:\n"
           "  -a, --algo ALGO        algorithm (default: default)\n"
           "  -p, --param KEY=VALUE  set a parameter (repeatable), e.g. --param factors=64\n"
           "  -o, --output MODEL     model file to write (required)\n"
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
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    cli_data_opts o;
    cli_data_opts_init(&o);
    const char *algo = NULL, *output = NULL;
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
    if (!output || optind != argc - 1) {
        cli_error("train", !output ? "missing -o MODEL"
                           : optind == argc ? "missing RATINGS" : "expected one RATINGS file");
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
    int rc = cli_load_dataset("train", argv[optind], &o, &ds);
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
        if (ch)
            json_object_set_new(j, "ranker", reco_default_choice_json(ch));
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(j);
    } else if (!o.quiet) {
        char a[32], b[32], c2[32];
        printf("trained %s (%s) on %s users, %s products, %s ratings in %.2f s\n", algo,
               params_text, cli_thousands(reco_dataset_n_users(ds), a, sizeof a),
               cli_thousands(reco_dataset_n_items(ds), b, sizeof b),
               cli_thousands(reco_dataset_nnz(ds), c2, sizeof c2), m->fit_seconds);
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
