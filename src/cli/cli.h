/* Shared pieces of the reco command: the options of commands that read
 * rating files (a fragment of the option tables of options.h), the
 * progress bar, number formatting and error reporting. */
#ifndef RECO_CLI_H
#define RECO_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/json.h"
#include "options.h"

/* Exit statuses. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Subcommands: argv[0] is the command name. */
int cmd_stats(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_explore(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_similar(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_log(int argc, char **argv);

/* Options common to every command that loads a rating file. */
typedef struct cli_data_opts {
    reco_load_options load;
    reco_build_options build;
    bool quiet;
    bool json;
    bool filters_shown; /* the command prints what the filters removed itself */
    /* The "Input options:" and "Filters" groups as a table fragment, its
     * rows filling load and build: CLI_OPT_INCLUDE(o.table). The struct
     * must stay where cli_data_opts_init made it. */
    cli_option table[16];
} cli_data_opts;

void cli_data_opts_init(cli_data_opts *o);

/* Loads and builds a dataset with a progress bar (unless quiet). Prints the
 * error and returns the exit status to use on failure, 0 on success. Unless
 * quiet or filters_shown, says on stderr what the filters removed. */
int cli_load_dataset(const char *cmd, const char *path, cli_data_opts *o, reco_dataset **out);

/* The name of a data source for output: arg itself, or for a
 * postgresql:// source the URI without its password, written into buf
 * (reco/pg_source.h). Never print a source argument without it. */
const char *cli_source_name(const char *arg, char *buf, size_t cap);

/* "the filters removed N users, N products and N ratings" into buf, or ""
 * when they removed nothing. */
char *cli_filter_summary(const reco_dataset *ds, char *buf, size_t cap);

/* Prints the skipped-bad-line report (count and first messages) to stderr. */
void cli_report_bad_lines(const char *cmd, const reco_load_report *rep);

/* Maps a library status to an exit status (bad data and arguments: 2). */
int cli_exit_status(reco_status st);

/* Prints o (not stolen) on standard output as reco writes JSON (indented,
 * reco/json.h's flags) with a final newline; EXIT_OK or EXIT_FAIL. */
int cli_print_json(const json_t *o);

/* Prints "reco CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The IDs of a repeatable comma-separated option (--exclude, --include),
 * every occurrence split at its commas, into a new array *ids of *n
 * strings, pieces of one allocated copy *buf (free both); -1 when out of
 * memory. An empty piece is kept, and refused by the service as an ID. */
int cli_split_ids(const cli_list *l, const char ***ids, size_t *n, char **buf);

/* Strict number parsing for option values. 0 on success. */
int cli_parse_u32(const char *s, uint32_t *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out);

/* Formats n with thousands separators into buf (returns buf). */
char *cli_thousands(uint64_t n, char *buf, size_t cap);

/* Progress bar on stderr, shown only when stderr is a terminal and the
 * operation has run for more than about a second. */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(bool enabled);
void cli_progress_free(cli_progress *p); /* clears the bar */
void cli_progress_cb(void *ctx, const char *stage, uint64_t done, uint64_t total);

/* Table cells: display width of UTF-8 text (one column per code point);
 * s padded to width on the right (left-aligned) or the left. */
int cli_text_width(const char *s);
void cli_cell(FILE *f, const char *s, int width, bool left);

/* A duration for a table: "850µs", "12ms", "3.40s". */
void cli_fmt_seconds(double s, char *buf, size_t cap);

/* Appends arg to buf (of cap bytes) as one shell word: as it is when it
 * is made of safe characters only, else in single quotes. */
void cli_shell_append(char *buf, size_t cap, const char *arg);

#endif
