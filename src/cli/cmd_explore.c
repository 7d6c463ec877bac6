/* reco explore: a report with statistics and charts of a rating file. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "reco/clock.h"
#include "reco/explore.h"

int cmd_explore(int argc, char **argv)
{
    cli_data_opts o;
    cli_data_opts_init(&o);
    o.filters_shown = true; /* in the report */
    reco_report_options ro;
    reco_report_options_default(&ro);
    const char *dir = NULL;
    const cli_option options[] = {
        CLI_OPT_INCLUDE(o.table),
        CLI_OPT_HEADING("Output:"),
        {CLI_STRING, "output", 'o', "DIR", "directory of the report (required)", &dir, 0, 0,
         NULL, NULL},
        {CLI_U32, "width", 0, "PX", "chart width in pixels (default 800; at least 640, below "
         "which labels overlap; at most 4000)", &ro.chart_width, 0, 0, "a number of pixels",
         NULL},
        {CLI_U32, "height", 0, "PX", "chart height in pixels (default 500; at least 400; at "
         "most 4000)", &ro.chart_height, 0, 0, "a number of pixels", NULL},
        CLI_OPT_JSON(&o.json, "also print stats.json to standard output"),
        CLI_OPT_QUIET(&o.quiet, "no progress bar, no bad-line report, no summary line"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "explore",
        .usage = "[OPTIONS] FILE -o DIR",
        .description =
            "Exploratory analysis of a rating file (user,item,rating[,timestamp]; '-' reads "
            "standard input; a postgresql:// URI a table or query, see docs/postgresql.md). Writes DIR/index.html (one page with every chart and table, opens "
            "from disk), DIR/stats.json (every number of the report; docs/json.md) and each "
            "chart as PNG and SVG: the rating distribution, ratings per user (log-log "
            "histogram), ratings per product (rank-count curve), the 20 most-rated products, "
            "activity per month, what a minimum-ratings-per-user filter keeps for thresholds 1 "
            "to 100, and the mean rating by user activity. DIR is created if missing; files "
            "already in it are overwritten. Charts are 640 x 400 pixels at the least.",
        .options = options,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first != argc - 1)
        return cli_usage("explore", first == argc ? "missing FILE" : "expected one FILE, got "
                         "\"%s\" too", argv[argc - 1]);
    if (!dir || !*dir)
        return cli_usage("explore", "missing -o DIR (the directory of the report)");
    reco_error err;
    reco_error_clear(&err);
    if (reco_report_options_check(&ro, &err)) {
        cli_error("explore", "%s", err.msg);
        return EXIT_USAGE;
    }
    const char *path = argv[first];
    char name[4096];
    /* named in the report's title and in stats.json */
    ro.source = cli_source_name(path, name, sizeof name);
    double t0 = reco_clock_s();
    reco_dataset *ds = NULL;
    rc = cli_load_dataset("explore", path, &o, &ds);
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
