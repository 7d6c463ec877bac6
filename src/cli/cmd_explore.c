/* reco explore: a report with statistics and charts of a rating file. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "reco/clock.h"
#include "reco/explore.h"

enum { OPT_OUTPUT = OPT_FIRST_FREE, OPT_WIDTH, OPT_HEIGHT };

static void help(void)
{
    printf("Usage: reco explore [OPTIONS] FILE -o DIR\n\n"
           "Exploratory analysis of a rating file (user,item,rating[,timestamp]; '-' reads\n"
           "standard input). Writes DIR/index.html (one page with every chart and table,\n"
           "opens from disk), DIR/stats.json (every number of the report) and each chart\n"
           "as PNG and SVG: the rating distribution, ratings per user (log-log histogram),\n"
           "ratings per product (rank-count curve), the 20 most-rated products, activity\n"
           "per month, what a minimum-ratings-per-user filter keeps for thresholds 1 to\n"
           "100, and the mean rating by user activity. DIR is created if missing; files\n"
           "already in it are overwritten.\n\n"
           "%s"
           "Output:\n"
           "  -o, --output DIR       directory of the report (required)\n"
           "  --width PX, --height PX  chart size in pixels (default 800 x 500; at least\n"
           "                         640 x 400, below which labels overlap; at most 4000)\n"
           "  --json                 also print stats.json to standard output\n"
           "  -q, --quiet            no progress bar, no bad-line report, no summary line\n"
           "  --help                 show this help\n",
           CLI_DATA_HELP);
}

int cmd_explore(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DATA_LONGOPTS,
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"height", required_argument, NULL, OPT_HEIGHT},
        {"json", no_argument, NULL, OPT_JSON},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {0, 0, 0, 0},
    };
    cli_data_opts o;
    cli_data_opts_init(&o);
    o.filters_shown = true; /* in the report */
    reco_report_options ro;
    reco_report_options_default(&ro);
    const char *dir = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qo:", longopts, NULL)) != -1) {
        int r = cli_data_option("explore", c, optarg, &o);
        if (r < 0)
            return EXIT_USAGE;
        if (r > 0)
            continue;
        switch (c) {
        case 'o':
        case OPT_OUTPUT: dir = optarg; break;
        case OPT_WIDTH:
        case OPT_HEIGHT: {
            uint32_t v;
            if (cli_parse_u32(optarg, &v)) {
                cli_error("explore", "--%s wants a number of pixels, got \"%s\"",
                          c == OPT_WIDTH ? "width" : "height", optarg);
                return EXIT_USAGE;
            }
            if (c == OPT_WIDTH)
                ro.chart_width = v;
            else
                ro.chart_height = v;
            break;
        }
        case OPT_JSON: o.json = true; break;
        case 'q':
        case OPT_QUIET: o.quiet = true; break;
        case OPT_HELP: help(); return EXIT_OK;
        default:
            cli_error("explore", "unknown or incomplete option '%s'", argv[optind - 1]);
            return cli_usage_error("explore");
        }
    }
    if (optind != argc - 1) {
        cli_error("explore", optind == argc ? "missing FILE" : "expected one FILE");
        return cli_usage_error("explore");
    }
    if (!dir || !*dir) {
        cli_error("explore", "missing -o DIR (the directory of the report)");
        return cli_usage_error("explore");
    }
    reco_error err;
    reco_error_clear(&err);
    if (reco_report_options_check(&ro, &err)) {
        cli_error("explore", "%s", err.msg);
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    /* The report's title and stats.json name the data; "-" says nothing. */
    ro.source = strcmp(path, "-") == 0 ? "standard input" : path;
    double t0 = reco_clock_s();
    reco_dataset *ds = NULL;
    int rc = cli_load_dataset("explore", path, &o, &ds);
    if (rc)
        return rc;
    reco_explore *ex = NULL;
    reco_status st = reco_explore_compute(ds, &ex, &err);
    reco_dataset_free(ds);
    if (!st)
        st = reco_report_write(ex, dir, &ro, &err);
    char *json = NULL;
    if (!st && o.json)
        st = reco_report_json(ex, &ro, &json, &err);
    if (st) {
        cli_error("explore", "%s", err.msg);
        reco_explore_free(ex);
        return cli_exit_status(st);
    }
    if (json) {
        fputs(json, stdout);
        fputc('\n', stdout);
        free(json);
    }
    if (!o.quiet) {
        char u[32], p[32], r[32];
        fprintf(stderr, "reco explore: %s users, %s products, %s ratings; report in %s/index.html"
                        " (%.1f s)\n",
                cli_thousands(ex->stats.users, u, sizeof u),
                cli_thousands(ex->stats.items, p, sizeof p),
                cli_thousands(ex->stats.ratings, r, sizeof r), dir, reco_clock_s() - t0);
    }
    reco_explore_free(ex);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("explore", "error writing output");
        return EXIT_FAIL;
    }
    return EXIT_OK;
}
