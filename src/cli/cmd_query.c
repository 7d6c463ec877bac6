/* reco recommend | similar | predict: the server's answers, offline. */
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_export.h"
#include "reco/model.h"
#include "reco/service.h"

typedef enum { Q_RECOMMEND, Q_SIMILAR, Q_PREDICT } query_kind;

static const char *const NAMES[] = {"recommend", "similar", "predict"};

/* A one-shot query maps the model (loading it costs no copy). Should the
 * file be truncated while the command runs, the pages lost fault with
 * SIGBUS: the command says so and exits instead of dying of it. Any other
 * bus error takes its default course. */
static char sigbus_msg[1024];

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    if (si->si_code == BUS_ADRERR) {
        ssize_t w = write(STDERR_FILENO, sigbus_msg, strlen(sigbus_msg));
        (void)w;
        _exit(EXIT_FAIL);
    }
    signal(sig, SIG_DFL); /* the fault repeats and ends the process as it would have */
}

static void catch_truncation(const char *name, const char *model)
{
    snprintf(sigbus_msg, sizeof sigbus_msg,
             "reco %s: %s was truncated or rewritten while it was being read; replace model "
             "files by writing a new file and renaming it over the old one\n", name, model);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

static const char *const DESCRIPTIONS[] = {
    "Top-N products for a user, excluding what the user already rated, with the score they "
    "are ranked by (its kind is named above the list; docs/api.md says what each means) and, "
    "when the model predicts ratings, the predicted rating (clamped to the training range). A "
    "user the model has never seen gets the popularity ranking (cold start): by default the "
    "products with the most ratings. Rules are applied inside the search: --exclude, "
    "--include, --max-per-category and, with a model trained with a catalogue (reco train "
    "--items), --category; products the catalogue marks unavailable are left out unless "
    "--include-unavailable. The list is the best products the rules admit, and is shorter "
    "than N when they admit fewer (docs/algorithms.md, \"Request-time rules\"; "
    "docs/catalogue.md). With a catalogue each product shows its title and category.",
    "Products similar to a product, from a chain of sources, each filling what the ones "
    "before it left: co_rated (item-item neighbours from co-ratings: itemcf's table, ease's "
    "weights, else cosines computed from the ratings), factors (factor models: cosine of the "
    "product vectors, among products with at least similar.min_support ratings), "
    "co_customers (what the product's customers rated most) and popular (the popularity "
    "ranking). Each row names its source; the score's meaning depends on it (named above the "
    "list, docs/api.md). A note says when the list had to go past co_rated. A product of "
    "the model's catalogue that has no ratings gets the most popular products of its "
    "category, then of its parent categories, then overall (sources category, "
    "parent_category, popular; docs/catalogue.md). The rules of recommend but the cap apply, "
    "inside every source's search: --exclude, --include, --category; products the catalogue "
    "marks unavailable are left out unless --include-unavailable.",
    "The predicted rating of a user for a product, clamped to the training range. The "
    "baseline answers for unknown users or products (the text says so: the mean training "
    "rating plus the biases it knows) and for models that do not predict ratings (popular by "
    "count, svd mode=pure, ials, ease); --json says which did.",
};

static const char *const USAGES[] = {
    "[OPTIONS] MODEL --user USER\n[OPTIONS] --model MODEL --user USER",
    "[OPTIONS] MODEL --item ITEM\n[OPTIONS] --model MODEL --item ITEM",
    "[OPTIONS] MODEL --user USER --item ITEM\n[OPTIONS] --model MODEL --user USER --item ITEM",
};

/* What a cold-start list is, in words, by the popularity score's kind. */
static const char *cold_start_words(const char *kind)
{
    if (kind && !strcmp(kind, "rating_count"))
        return "the products with the most ratings";
    if (kind && !strcmp(kind, "decayed_rating_count"))
        return "the products with the most ratings, recent ones weighing more";
    if (kind && !strcmp(kind, "damped_mean_rating"))
        return "the products with the highest damped mean rating";
    return "the popularity ranking";
}

/* The title and category of a listed product, when the model's
 * catalogue has them. */
static void print_product(const json_t *it)
{
    const char *title = json_string_value(json_object_get(it, "title"));
    const char *cat = json_string_value(json_object_get(it, "category"));
    if (title)
        printf("  %s", title);
    if (cat)
        printf("  [%s]", cat);
    if (json_is_false(json_object_get(it, "available")))
        printf("  (unavailable)");
}

/* A header naming what the score is, then one line per product: rank,
 * product, score and, where the answer has them, the predicted rating and
 * the rated products behind the recommendation. */
static void print_items(const json_t *out, bool quiet)
{
    json_t *items = json_object_get(out, "items");
    const char *kind = json_string_value(json_object_get(out, "score_kind"));
    bool predicted = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) predicted |= json_object_get(it, "predicted_rating") != NULL;
    if (!quiet) {
        printf("score: %s, higher first%s\n", kind ? kind : "relevance",
               predicted ? "; predicted: the predicted rating" : "");
        printf("%3s  %-24s %10s%s\n", "#", "item", "score", predicted ? "  predicted" : "");
    }
    json_array_foreach(items, i, it) {
        printf("%3zu  %-24s %10.4f", i + 1, json_string_value(json_object_get(it, "item")),
               json_number_value(json_object_get(it, "score")));
        json_t *p = json_object_get(it, "predicted_rating");
        if (p)
            printf("  %9.4f", json_number_value(p));
        else if (predicted)
            printf("  %9s", "-");
        json_t *because = json_object_get(it, "because");
        if (because) {
            printf("  because you rated");
            size_t j;
            json_t *b;
            json_array_foreach(because, j, b) printf("%s %s", j ? "," : "", json_string_value(b));
        }
        print_product(it);
        putchar('\n');
    }
}

/* Similar products: a note when the chain fell back, what each source's
 * score is, then one line per product with its source. */
static void print_similar(const json_t *out, bool quiet)
{
    json_t *items = json_object_get(out, "items"), *chain = json_object_get(out, "chain");
    size_t c, i;
    json_t *src, *it;
    char kinds[512] = "", counts[256] = "";
    size_t kl = 0, cl = 0;
    json_array_foreach(chain, c, src) {
        const char *name = json_string_value(src), *kind = NULL;
        size_t cnt = 0;
        json_array_foreach(items, i, it) {
            if (!strcmp(json_string_value(json_object_get(it, "source")), name)) {
                cnt++;
                kind = json_string_value(json_object_get(it, "score_kind"));
            }
        }
        if (!cnt)
            continue;
        if (kl < sizeof kinds)
            kl += (size_t)snprintf(kinds + kl, sizeof kinds - kl, "%s%s: %s", kl ? ", " : "", name,
                                   kind ? kind : "relevance");
        if (cl < sizeof counts)
            cl += (size_t)snprintf(counts + cl, sizeof counts - cl, "%s%s %zu", cl ? ", " : "",
                                   name, cnt);
    }
    if (!quiet) {
        if (json_is_true(json_object_get(out, "cold_start")))
            printf("(a catalogue product without ratings: the most popular products of its "
                   "category, then of its parent categories, then overall)\n");
        else if (json_is_true(json_object_get(out, "fallback")))
            printf("(not enough co-rated neighbours; the list goes on down the chain: %s)\n",
                   counts);
        printf("score by source (%s), higher first within a source\n", kinds);
        printf("%3s  %-24s %10s  %s\n", "#", "item", "score", "source");
    }
    json_array_foreach(items, i, it) {
        printf("%3zu  %-24s %10.4f  %s", i + 1, json_string_value(json_object_get(it, "item")),
               json_number_value(json_object_get(it, "score")),
               json_string_value(json_object_get(it, "source")));
        const char *from = json_string_value(json_object_get(it, "source_category"));
        if (from)
            printf(" (%s)", from);
        print_product(it);
        putchar('\n');
    }
}

/* The prediction, and when the user or the product is unknown, what
 * answered instead. */
static void print_prediction(const json_t *out, bool quiet)
{
    printf("%.4f", json_number_value(json_object_get(out, "prediction")));
    bool ku = json_is_true(json_object_get(out, "known_user"));
    bool ki = json_is_true(json_object_get(out, "known_item"));
    if (!quiet && !ku && !ki)
        printf("  (unknown user and unknown product: the mean training rating)");
    else if (!quiet && !ku)
        printf("  (unknown user: the baseline for the product, the mean training rating plus "
               "the product's bias)");
    else if (!quiet && !ki)
        printf("  (unknown product: the baseline for the user, the mean training rating plus "
               "the user's bias)");
    putchar('\n');
}

static int run(query_kind kind, int argc, char **argv)
{
    const char *name = NAMES[kind];
    const char *model = NULL, *user = NULL, *item = NULL, *log = NULL;
    uint32_t n = 10;
    bool json = false, include_rated = false, quiet = false, include_unavailable = false;
    cli_list exclude = {0}, include = {0}, categories = {0};
    uint32_t max_per_category = 0;
    const cli_option model_row = {CLI_STRING, "model", 'm', "MODEL", "the model file (from reco "
                                  "train); or give it as the argument", &model, 0, 0, NULL, NULL};
    const cli_option user_row = {CLI_STRING, "user", 'u', "USER", "user ID (required)", &user, 0,
                                 0, NULL, NULL};
    const cli_option item_row = {CLI_STRING, "item", 'i', "ITEM", "product ID (required)", &item,
                                 0, 0, NULL, NULL};
    const cli_option n_row = {CLI_U32, NULL, 'n', "N", "how many products (1 to 1000, default "
                              "10)", &n, 1, 1000, NULL, NULL};
    const cli_option rated_row = {CLI_FLAG, "include-rated", 0, NULL, "do not exclude products "
                                  "the user rated", &include_rated, 0, 0, NULL, NULL};
    const cli_option exclude_row = {CLI_LIST, "exclude", 0, "ID[,ID...]", "never list these "
                                    "products (repeatable; IDs the model does not know are "
                                    "ignored and counted)", &exclude, 0, 0, NULL, NULL};
    const cli_option include_row = {CLI_LIST, "include", 0, "ID[,ID...]", "list only these "
                                    "products (an allow-list; repeatable; unknown IDs are "
                                    "ignored and counted)", &include, 0, 0, NULL, NULL};
    const cli_option cap_row = {CLI_U32, "max-per-category", 0, "N", "at most N products of "
                                "one category (needs a model with product categories)",
                                &max_per_category, 1, 1000, NULL, NULL};
    const cli_option category_row = {CLI_LIST, "category", 0, "PATH", "only products in this "
                                     "category or below it (repeatable: any of them), a path of "
                                     "the model's catalogue such as Electronics/Audio; matched by "
                                     "whole segments, case-sensitive (docs/catalogue.md)",
                                     &categories, 0, 0, NULL, NULL};
    const cli_option unavailable_row = {CLI_FLAG, "include-unavailable", 0, NULL, "also list "
                                        "products the catalogue marks unavailable (hidden by "
                                        "default)", &include_unavailable, 0, 0, NULL, NULL};
    const cli_option log_row = {CLI_STRING, "ratings-log", 0, "FILE", "also use the ratings a "
                                "server logged after the model's point (the log is read as reco "
                                "serve would, never written)", &log, 0, 0, NULL, NULL};
    const cli_option json_row = CLI_OPT_JSON(&json, "print the JSON the HTTP API returns");
    const cli_option quiet_row = CLI_OPT_QUIET(&quiet, kind == Q_PREDICT
                                               ? "print the number only, without a note"
                                               : "print the rows only, without the lines "
                                                 "above them");
    const cli_option end_row = CLI_OPT_END;
    cli_export_opts ex; /* --all-users and its options (cmd_export.c) */
    cli_export_opts_init(&ex);
    const cli_option export_rows = CLI_OPT_INCLUDE(ex.table);
    cli_option options[19];
    int no = 0;
    options[no++] = model_row;
    if (kind != Q_SIMILAR)
        options[no++] = user_row;
    if (kind != Q_RECOMMEND)
        options[no++] = item_row;
    if (kind != Q_PREDICT)
        options[no++] = n_row;
    if (kind == Q_RECOMMEND)
        options[no++] = rated_row;
    if (kind != Q_PREDICT) { /* the rules; similar lists take all but the cap */
        options[no++] = exclude_row;
        options[no++] = include_row;
        if (kind == Q_RECOMMEND)
            options[no++] = cap_row;
        options[no++] = category_row;
        options[no++] = unavailable_row;
    }
    if (kind != Q_SIMILAR)
        options[no++] = log_row;
    options[no++] = json_row;
    options[no++] = quiet_row;
    if (kind == Q_RECOMMEND)
        options[no++] = export_rows;
    options[no++] = end_row;
    const cli_command cmd = {
        .name = name,
        .usage = USAGES[kind],
        .description = DESCRIPTIONS[kind],
        .options = options,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first < argc) {
        if (model)
            return cli_usage(name, "MODEL is given twice (--model %s and %s)", model, argv[first]);
        if (first < argc - 1)
            return cli_usage(name, "expected one MODEL, got \"%s\" too", argv[argc - 1]);
        model = argv[first];
    }
    if (!model)
        return cli_usage(name, "missing MODEL");
    if (kind == Q_RECOMMEND && cli_export_wanted(&ex)) { /* every user: cmd_export.c */
        catch_truncation(name, model);
        const cli_export_query q = {user, log, json, n, !include_rated, &exclude, &include,
                                    max_per_category, &categories, include_unavailable, quiet};
        return cli_export_run(name, model, &ex, &q);
    }
    if (kind != Q_SIMILAR && !user)
        return cli_usage(name, "missing --user");
    if (kind != Q_RECOMMEND && !item)
        return cli_usage(name, "missing --item");
    reco_service_options so;
    reco_service_options_default(&so);
    so.model_path = model;
    so.ratings_log = log;
    so.map_model = true;
    catch_truncation(name, so.model_path);
    so.log_read_only = true; /* replayed as reco serve would, never written */
    reco_service *svc = NULL;
    reco_error err;
    reco_status st = reco_service_open(&so, &svc, &err);
    if (st) {
        cli_error(name, "%s", err.msg);
        return cli_exit_status(st);
    }
    json_t *out = NULL;
    /* The rules, the catalogue's included, are the service's (the same as
     * GET /v1/users/{user}/recommendations takes). */
    const bool ruled = exclude.n || include.n || max_per_category || categories.n ||
                       include_unavailable;
    reco_service_rules srules = {.has_include = include.n > 0,
                                 .max_per_category = max_per_category,
                                 .categories = categories.v,
                                 .n_categories = (size_t)categories.n,
                                 .include_unavailable = include_unavailable};
    char *ex_buf = NULL, *in_buf = NULL;
    const char **ex_ids = NULL, **in_ids = NULL;
    if (categories.n && !reco_service_model(svc)->catalogue) {
        reco_service_close(svc);
        return cli_usage(name, "--category needs a model with a catalogue (reco train --items "
                               "FILE), and %s has none", model);
    } else if (ruled && (cli_split_ids(&exclude, &ex_ids, &srules.n_exclude, &ex_buf) ||
                         cli_split_ids(&include, &in_ids, &srules.n_include, &in_buf))) {
        st = reco_error_set(&err, RECO_ERR_NOMEM, "out of memory");
    } else if (kind == Q_RECOMMEND) {
        srules.exclude = ex_ids;
        srules.include = in_ids;
        st = reco_service_recommend_rules(svc, user, n, !include_rated, ruled ? &srules : NULL,
                                          &out, &err);
    } else if (kind == Q_SIMILAR) {
        srules.exclude = ex_ids;
        srules.include = in_ids;
        st = reco_service_similar_rules(svc, item, NULL, n, ruled ? &srules : NULL, &out, &err);
    } else {
        st = reco_service_predict(svc, user, item, &out, &err);
    }
    reco_service_close(svc);
    free(ex_ids);
    free(in_ids);
    free(ex_buf);
    free(in_buf);
    if (st) {
        cli_error(name, "%s", err.msg);
        return st == RECO_ERR_NOT_FOUND ? EXIT_FAIL : cli_exit_status(st);
    }
    json_int_t unknown = json_integer_value(json_object_get(out, "unknown_items"));
    if (unknown && !json)
        fprintf(stderr, "reco %s: ignored %lld product ID%s of --exclude/--include that the "
                "model does not know\n", name, (long long)unknown, unknown == 1 ? "" : "s");
    if (json) {
        cli_print_json(out);
    } else if (kind == Q_PREDICT) {
        print_prediction(out, quiet);
    } else {
        if (!quiet && kind == Q_RECOMMEND && json_is_true(json_object_get(out, "cold_start")))
            printf("(unknown user: %s)\n",
                   cold_start_words(json_string_value(json_object_get(out, "score_kind"))));
        json_t *found = json_object_get(out, "found");
        if (!quiet && found &&
            json_integer_value(found) < json_integer_value(json_object_get(out, "requested")))
            printf("(found %lld of %lld: the rules admit no more)\n",
                   (long long)json_integer_value(found),
                   (long long)json_integer_value(json_object_get(out, "requested")));
        json_t *unk = json_object_get(out, "unknown_categories");
        size_t k;
        json_t *u;
        json_array_foreach(unk, k, u) fprintf(stderr, "reco %s: no category \"%s\" in the "
                                              "catalogue\n", name, json_string_value(u));
        if (kind == Q_SIMILAR)
            print_similar(out, quiet);
        else
            print_items(out, quiet);
    }
    json_decref(out);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

int cmd_recommend(int argc, char **argv) { return run(Q_RECOMMEND, argc, argv); }
int cmd_similar(int argc, char **argv) { return run(Q_SIMILAR, argc, argv); }
int cmd_predict(int argc, char **argv) { return run(Q_PREDICT, argc, argv); }
