/* reco recommend --all-users: the batch export's options (a table
 * fragment for reco recommend's option table) and its run. */
#ifndef RECO_CLI_EXPORT_H
#define RECO_CLI_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "reco/export.h"

typedef struct cli_export_opts {
    bool all_users;
    const char *output;
    struct {
        reco_export_format format;
        bool given;
    } fmt;
    bool resume;
    int threads;
    /* The rows: CLI_OPT_INCLUDE(o.table). The struct must stay where
     * cli_export_opts_init made it. */
    cli_option table[8];
} cli_export_opts;

void cli_export_opts_init(cli_export_opts *o);

/* Whether any of the export's options was given. */
bool cli_export_wanted(const cli_export_opts *o);

/* What the export shares with reco recommend's query: --user, --ratings-log
 * and --json (refused with --all-users), -n, the exclusion of rated
 * products, the rules (--exclude, --include, --max-per-category; with a
 * catalogue --category, and unavailable products hidden unless
 * --include-unavailable) and -q. */
typedef struct cli_export_query {
    const char *user, *ratings_log;
    bool json;
    size_t n;
    bool exclude_rated;
    const cli_list *exclude, *include;
    uint32_t max_per_category;
    const cli_list *categories; /* --category PATH (a catalogue's) */
    bool include_unavailable;
    bool quiet;
} cli_export_query;

/* Writes every user's list of the model file at model_path as the options
 * say, under the rules of q made into one filter for the run as reco
 * recommend makes them (reco_service_filter_new), with a progress bar and
 * a summary on stderr unless quiet; refuses (usage error) export options
 * without --all-users, and --all-users with --user, --ratings-log or
 * --json. The exit status. */
int cli_export_run(const char *cmd, const char *model_path, const cli_export_opts *x,
                   const cli_export_query *q);

#endif
