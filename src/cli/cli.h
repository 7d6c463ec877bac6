/* Shared pieces of the reco command: option parsing for commands that read
 * rating files, the progress bar, number formatting and error reporting. */
#ifndef RECO_CLI_H
#define RECO_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "reco/dataset.h"
#include "reco/error.h"

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
} cli_data_opts;

/* Long-option codes for the data options (above any short option). */
enum {
    OPT_SEP = 1000, OPT_HEADER, OPT_NO_HEADER, OPT_RATING_RANGE, OPT_SKIP_BAD,
    OPT_MIN_USER, OPT_MIN_ITEM, OPT_K_CORE, OPT_THREADS, OPT_QUIET, OPT_JSON,
    OPT_HELP, OPT_FIRST_FREE = 1100
};

/* Spliced into a command's struct option array. */
#define CLI_DATA_LONGOPTS                                                   \
    {"sep", required_argument, NULL, OPT_SEP},                              \
    {"header", no_argument, NULL, OPT_HEADER},                              \
    {"no-header", no_argument, NULL, OPT_NO_HEADER},                        \
    {"rating-range", required_argument, NULL, OPT_RATING_RANGE},            \
    {"skip-bad", no_argument, NULL, OPT_SKIP_BAD},                          \
    {"min-user-ratings", required_argument, NULL, OPT_MIN_USER},            \
    {"min-item-ratings", required_argument, NULL, OPT_MIN_ITEM},            \
    {"k-core", no_argument, NULL, OPT_K_CORE},                              \
    {"threads", required_argument, NULL, OPT_THREADS}

#define CLI_DATA_HELP                                                               \
    "Input options:\n"                                                              \
    "  --sep SEP              field separator: ',', tab, '::', ';', '|' (default: detect)\n" \
    "  --header, --no-header  the first line is / is not a header (default: detect)\n" \
    "  --rating-range LO:HI   allowed ratings, inclusive (default 0.5:5)\n"       \
    "  --skip-bad             skip bad lines (count them, report the first 10)\n" \
    "                         instead of stopping at the first one\n"             \
    "  --threads N            threads to parse with (default: all cores)\n"       \
    "Filters (after removing duplicates; what they remove is reported):\n"       \
    "  --min-user-ratings N   keep users with at least N ratings\n"              \
    "  --min-item-ratings N   keep products with at least N ratings (among kept users);\n" \
    "                         users it leaves without any rating go too\n"       \
    "  --k-core               repeat both filters until both hold (needs one of them\n" \
    "                         above 1)\n"

void cli_data_opts_init(cli_data_opts *o);

/* Handles one data option; returns 1 if c was one, 0 if not, -1 on a bad
 * value (after printing the error). */
int cli_data_option(const char *cmd, int c, const char *arg, cli_data_opts *o);

/* Loads and builds a dataset with a progress bar (unless quiet). Prints the
 * error and returns the exit status to use on failure, 0 on success. Unless
 * quiet or filters_shown, says on stderr what the filters removed. */
int cli_load_dataset(const char *cmd, const char *path, cli_data_opts *o, reco_dataset **out);

/* "the filters removed N users, N products and N ratings" into buf, or ""
 * when they removed nothing. */
char *cli_filter_summary(const reco_dataset *ds, char *buf, size_t cap);

/* Prints the skipped-bad-line report (count and first messages) to stderr. */
void cli_report_bad_lines(const char *cmd, const reco_load_report *rep);

/* Maps a library status to an exit status (bad data and arguments: 2). */
int cli_exit_status(reco_status st);

/* Prints "reco CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Unknown option / missing argument message with a hint to --help. */
int cli_usage_error(const char *cmd);

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
