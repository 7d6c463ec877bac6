/* reco gen: write synthetic ratings shaped like Amazon's Electronics file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "reco/gen.h"

/* After --ratings/--users/--items a preset's caps may no longer fit; fall
 * back to automatic ones then. */
static void fix_caps(reco_gen_params *p)
{
    if (p->max_user_ratings && (p->max_user_ratings > p->n_items ||
                                (uint64_t)p->max_user_ratings * p->n_users < p->n_ratings))
        p->max_user_ratings = 0;
    if (p->max_item_ratings && (p->max_item_ratings > p->n_users ||
                                (uint64_t)p->max_item_ratings * p->n_items < p->n_ratings))
        p->max_item_ratings = 0;
}

int cmd_gen(int argc, char **argv)
{
    const char *preset = "sample", *path = NULL;
    uint64_t seed = 1, ratings = 0;
    uint32_t users = 0, items = 0;
    int threads = 0;
    double taste = -1;
    bool quiet = false, events = false;
    char taste_help[256];
    snprintf(taste_help, sizeof taste_help,
             "0..1: how strongly the taste that rates products also chooses them (default "
             "%.2f, calibrated on the real file; 0: products chosen at random, as by earlier "
             "versions)", RECO_GEN_TASTE_DEFAULT);
    const cli_option options[] = {
        {CLI_STRING, "preset", 0, "NAME", "sample (default; 40,000 ratings, ~1.6 MB) or "
         "electronics (the real file's size: 7,824,482 ratings, ~320 MB)", &preset, 0, 0, NULL,
         NULL},
        {CLI_U64, "seed", 0, "N", "random seed (default 1)", &seed, 0, 0, NULL, NULL},
        {CLI_U64, "ratings", 0, "N", "number of ratings (lines)", &ratings, 1, 0, NULL, NULL},
        {CLI_U32, "users", 0, "N", "number of distinct users", &users, 1, 0, NULL, NULL},
        {CLI_U32, "items", 0, "N", "number of distinct products", &items, 1, 0, NULL, NULL},
        {CLI_DOUBLE, "taste", 0, "X", taste_help, &taste, 0, 1, NULL, NULL},
        {CLI_STRING, "output", 'o', "FILE", "write to FILE instead of standard output", &path,
         0, 0, NULL, NULL},
        {CLI_INT, "threads", 0, "N", "threads to use (default: all cores; the output is the "
         "same)", &threads, 1, 256, NULL, NULL},
        {CLI_FLAG, "events", 0, NULL, "write events (user,item,type,value,timestamp with a "
         "header: views, carts, purchases, ratings) made from the ratings, for reco train "
         "--events (docs/events.md)", &events, 0, 0, NULL, NULL},
        CLI_OPT_QUIET(&quiet, "no progress bar"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "gen",
        .usage = "[OPTIONS]",
        .description = "Writes synthetic ratings as CSV lines userId,productId,rating,timestamp "
                       "(no header), shaped like Amazon's ratings_Electronics.csv and sorted by "
                       "product. The same options and seed always give the same bytes.",
        .options = options,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first != argc)
        return cli_usage("gen", "unexpected argument '%s'", argv[first]);

    reco_gen_params p;
    reco_error err;
    reco_error_clear(&err);
    reco_gen_params_default(&p);
    if (reco_gen_params_preset(&p, preset, &err)) {
        cli_error("gen", "%s", err.msg);
        return EXIT_USAGE;
    }
    p.seed = seed;
    p.threads = threads;
    if (ratings)
        p.n_ratings = ratings;
    if (users)
        p.n_users = users;
    if (items)
        p.n_items = items;
    if (taste >= 0)
        p.taste = taste;
    fix_caps(&p);
    if (reco_gen_params_check(&p, &err)) {
        cli_error("gen", "%s", err.msg);
        return EXIT_USAGE;
    }

    FILE *out = stdout;
    if (path && strcmp(path, "-") != 0) {
        out = fopen(path, "wb");
        if (!out) {
            cli_error("gen", "cannot open %s: %s", path, strerror(errno));
            return EXIT_FAIL;
        }
    }
    cli_progress *pb = cli_progress_new(!quiet);
    reco_progress prog = {cli_progress_cb, pb};
    reco_status st = events ? reco_gen_events_write(&p, out, prog, &err)
                            : reco_gen_write(&p, out, prog, &err);
    cli_progress_free(pb);
    if (out != stdout && fclose(out) != 0 && !st)
        st = reco_error_set(&err, RECO_ERR_IO, "closing %s: %s", path, strerror(errno));
    if (st) {
        cli_error("gen", "%s", err.msg);
        if (out != stdout)
            unlink(path); /* no half-written file left behind */
        return cli_exit_status(st);
    }
    return EXIT_OK;
}
