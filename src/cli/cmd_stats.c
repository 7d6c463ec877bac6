/* reco stats: summary statistics of a rating file. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "reco/pg_source.h"
#include "reco/stats.h"

static void fmt_date(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(buf, cap, "%Y-%m-%d", &tm);
    else
        snprintf(buf, cap, "%lld", (long long)t);
}

static void print_summary(const char *label, const reco_count_summary *s)
{
    char a[32], b[32], c[32], d[32], e[32];
    printf("%-20s min %s  median %s  p90 %s  p99 %s  max %s  mean %.2f\n", label,
           cli_thousands(s->min, a, sizeof a), cli_thousands(s->median, b, sizeof b),
           cli_thousands(s->p90, c, sizeof c), cli_thousands(s->p99, d, sizeof d),
           cli_thousands(s->max, e, sizeof e), s->mean);
}

static void print_text(const char *path, const reco_stats *st)
{
    char a[32], name[4096];
    printf("%-20s %s\n", reco_pg_is_source(path) ? "source" : "file",
           cli_source_name(path, name, sizeof name));
    printf("%-20s %s\n", "users", cli_thousands(st->users, a, sizeof a));
    printf("%-20s %s\n", "products", cli_thousands(st->items, a, sizeof a));
    printf("%-20s %s\n", "ratings", cli_thousands(st->ratings, a, sizeof a));
    printf("%-20s %.6f%%\n", "density", st->density * 100);
    printf("%-20s %.4f\n", "rating mean", st->mean);
    printf("%-20s %.4f\n", "rating stddev", st->stddev);
    printf("rating histogram\n");
    for (uint32_t b = 0; b < st->hist_bins; b++) {
        double share = st->ratings ? (double)st->hist_count[b] / (double)st->ratings : 0;
        char bar[41];
        int w = (int)(share * 40 + 0.5);
        memset(bar, '#', (size_t)w);
        bar[w] = '\0';
        printf("  %-6g %14s %6.2f%%  %s\n", st->hist_value[b],
               cli_thousands(st->hist_count[b], a, sizeof a), share * 100, bar);
    }
    print_summary("ratings per user", &st->per_user);
    print_summary("ratings per product", &st->per_item);
    printf("%-20s %s\n", "users with 1 rating", cli_thousands(st->users_with_one, a, sizeof a));
    printf("%-20s %s\n", "duplicates removed", cli_thousands(st->duplicates_removed, a, sizeof a));
    printf("%-20s %s\n", "bad lines skipped", cli_thousands(st->bad_lines, a, sizeof a));
    if (st->filtered_ratings || st->filtered_users || st->filtered_items) {
        char b[32], c[32];
        printf("%-20s %s users, %s products, %s ratings\n", "removed by filters",
               cli_thousands(st->filtered_users, a, sizeof a),
               cli_thousands(st->filtered_items, b, sizeof b),
               cli_thousands(st->filtered_ratings, c, sizeof c));
    }
    if (st->has_ts) {
        char d1[32], d2[32];
        fmt_date(st->ts_min, d1, sizeof d1);
        fmt_date(st->ts_max, d2, sizeof d2);
        printf("%-20s %s to %s\n", "time span", d1, d2);
    } else {
        printf("%-20s (no timestamps)\n", "time span");
    }
}

int cmd_stats(int argc, char **argv)
{
    cli_data_opts o;
    cli_data_opts_init(&o);
    o.filters_shown = true;
    const cli_option options[] = {
        CLI_OPT_INCLUDE(o.table),
        CLI_OPT_HEADING("Output:"),
        CLI_OPT_JSON(&o.json, "print JSON instead of text"),
        CLI_OPT_QUIET(&o.quiet, "no progress bar, no bad-line report"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "stats",
        .usage = "[OPTIONS] FILE",
        .description = "Summary statistics of a rating file (user,item,rating[,timestamp]; '-' "
                       "reads standard input; a postgresql:// URI a table or query, see "
                       "docs/postgresql.md): users, products, ratings, density, rating mean, "
                       "standard deviation and distribution, ratings per user and per product, "
                       "duplicates removed, bad lines skipped and the time span.",
        .options = options,
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first != argc - 1)
        return cli_usage("stats", first == argc ? "missing FILE" : "expected one FILE, got "
                         "\"%s\" too", argv[argc - 1]);
    const char *path = argv[first];
    reco_dataset *ds = NULL;
    rc = cli_load_dataset("stats", path, &o, &ds);
    if (rc)
        return rc;
    reco_stats st;
    reco_error err;
    if (reco_stats_compute(ds, &st, &err)) {
        cli_error("stats", "%s", err.msg);
        reco_dataset_free(ds);
        return EXIT_FAIL;
    }
    if (o.json) {
        char *text = NULL, name[4096];
        if (reco_stats_json(&st, cli_source_name(path, name, sizeof name), &text, &err)) {
            cli_error("stats", "%s", err.msg);
            rc = EXIT_FAIL;
        } else {
            puts(text);
            free(text);
        }
    } else {
        print_text(path, &st);
    }
    reco_dataset_free(ds);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("stats", "error writing output");
        return EXIT_FAIL;
    }
    return rc;
}
