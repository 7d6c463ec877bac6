/* reco gen: write synthetic ratings shaped like Amazon's Electronics file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "reco/gen.h"

enum { OPT_PRESET = OPT_FIRST_FREE, OPT_SEED, OPT_RATINGS, OPT_USERS, OPT_ITEMS, OPT_TASTE };

static void help(void)
{
    printf("Usage: reco gen [OPTIONS]\n\n"
           "Writes synthetic ratings as CSV lines userId,productId,rating,timestamp\n"
           "(no header), shaped like Amazon's ratings_Electronics.csv and sorted by\n"
           "product. The same options and seed always give the same bytes.\n\n"
           "Options:\n"
           "  --preset NAME   sample (default; 40,000 ratings, ~1.6 MB) or electronics\n"
           "                  (the real file's size: 7,824,482 ratings, ~320 MB)\n"
           "  --seed N        random seed (default 1)\n"
           "  --ratings N     number of ratings (lines)\n"
           "  --users N       number of distinct users\n"
           "  --items N       number of distinct products\n"
           "  --taste X       0..1: how strongly the taste that rates products also\n"
           "                  chooses them (default %.2f, calibrated on the real file;\n"
           "                  0: products chosen at random, as by earlier versions)\n"
           "  -o FILE         write to FILE instead of standard output\n"
           "  --threads N     threads to use (default: all cores; the output is the same)\n"
           "  -q, --quiet     no progress bar\n"
           "  --help          show this help\n",
           RECO_GEN_TASTE_DEFAULT);
}

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
    static const struct option longopts[] = {
        {"preset", required_argument, NULL, OPT_PRESET},
        {"seed", required_argument, NULL, OPT_SEED},
        {"ratings", required_argument, NULL, OPT_RATINGS},
        {"users", required_argument, NULL, OPT_USERS},
        {"items", required_argument, NULL, OPT_ITEMS},
        {"taste", required_argument, NULL, OPT_TASTE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    const char *preset = "sample", *path = NULL;
    uint64_t seed = 1, ratings = 0;
    uint32_t users = 0, items = 0, threads = 0;
    double taste = -1;
    bool quiet = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:q", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PRESET: preset = optarg; break;
        case 'o': path = optarg; break;
        case 'q':
        case OPT_QUIET: quiet = true; break;
        case OPT_HELP: help(); return EXIT_OK;
        case OPT_SEED:
            if (cli_parse_u64(optarg, &seed)) {
                cli_error("gen", "--seed wants a non-negative integer, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RATINGS:
            if (cli_parse_u64(optarg, &ratings) || ratings == 0) {
                cli_error("gen", "--ratings wants a positive integer, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_USERS:
        case OPT_ITEMS: {
            uint32_t v;
            if (cli_parse_u32(optarg, &v) || v == 0) {
                cli_error("gen", "--%s wants a positive integer below 2^32, got \"%s\"",
                          c == OPT_USERS ? "users" : "items", optarg);
                return EXIT_USAGE;
            }
            *(c == OPT_USERS ? &users : &items) = v;
            break;
        }
        case OPT_TASTE:
            if (cli_parse_double(optarg, &taste) || !(taste >= 0 && taste <= 1)) {
                cli_error("gen", "--taste wants a number from 0 to 1, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_THREADS:
            if (cli_parse_u32(optarg, &threads) || threads == 0 || threads > 256) {
                cli_error("gen", "--threads wants a number from 1 to 256, got \"%s\"", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            cli_error("gen", "unknown or incomplete option '%s'", argv[optind - 1]);
            return cli_usage_error("gen");
        }
    }
    if (optind != argc) {
        cli_error("gen", "unexpected argument '%s'", argv[optind]);
        return cli_usage_error("gen");
    }

    reco_gen_params p;
    reco_error err;
    reco_error_clear(&err);
    reco_gen_params_default(&p);
    if (reco_gen_params_preset(&p, preset, &err)) {
        cli_error("gen", "%s", err.msg);
        return EXIT_USAGE;
    }
    p.seed = seed;
    p.threads = (int)threads;
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
    reco_status st = reco_gen_write(&p, out, prog, &err);
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
