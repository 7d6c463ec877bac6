/* The options of a reco command as one declarative table: from it come the
 * getopt_long arrays, the parsing and strict validation of values, the
 * usage errors (one line, the same wording in every command, exit 2) and
 * the --help text (usage lines, description, grouped options, wrapped to
 * 80 columns). A command lists its options once, in the order --help shows
 * them; nothing about an option is written anywhere else.
 *
 * Tables are built at run time in the command's function, so that each row
 * can point at the variable it fills (the destination's type follows from
 * the kind). Shared groups of rows (the data options of every command that
 * reads rating files) are table fragments spliced in with CLI_INCLUDE.
 * Every command gets -h, --help from the parser; -q, --quiet is an ordinary
 * row (CLI_OPT_QUIET) so that each command says what it silences. */
#ifndef RECO_CLI_OPTIONS_H
#define RECO_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum cli_kind {
    CLI_END = 0,  /* ends a table */
    CLI_HEADING,  /* starts a group of --help: .help is its heading ("Output:") */
    CLI_INCLUDE,  /* .dest is another table (a fragment) spliced in here */
    CLI_FLAG,     /* bool *dest = true */
    CLI_SET_INT,  /* int *dest = (int).min: several rows set one variable */
    CLI_STRING,   /* const char **dest = the argument (a repeated option: the last) */
    CLI_LIST,     /* cli_list *dest: every occurrence, in order (repeatable) */
    CLI_U32,      /* uint32_t *dest, within [min, max] */
    CLI_U64,      /* uint64_t *dest, within [min, max] */
    CLI_INT,      /* int *dest, within [min, max] */
    CLI_DOUBLE,   /* double *dest, finite, within [min, max] */
    CLI_CUSTOM,   /* .parse(arg, dest) fills dest; -1 refuses the value */
} cli_kind;

#define CLI_LIST_MAX 128

/* The values of a repeatable option. */
typedef struct cli_list {
    const char *v[CLI_LIST_MAX];
    int n;
} cli_list;

typedef struct cli_option {
    cli_kind kind;
    const char *name;   /* long name without "--"; NULL: the short form only */
    char letter;        /* short form, 0 for none */
    const char *arg;    /* the argument's name in --help ("N", "FILE"); NULL: takes none */
    const char *help;   /* what it does, for --help; '\n' starts a new paragraph
                         * (see cli_help_wrap for indented ones) */
    void *dest;
    /* Numbers: the allowed range, inclusive; max 0: no upper bound (both
     * 0: any value of the type). Lists: the most occurrences (0:
     * CLI_LIST_MAX). */
    double min, max;
    /* What a bad value is told it should be ("a rating"); NULL: said from
     * the kind and range ("a number from 1 to 256"). */
    const char *want;
    int (*parse)(const char *arg, void *dest); /* CLI_CUSTOM */
} cli_option;

#define CLI_OPT_END {.kind = CLI_END}
#define CLI_OPT_HEADING(text) {.kind = CLI_HEADING, .help = (text)}
#define CLI_OPT_INCLUDE(table) {.kind = CLI_INCLUDE, .dest = (void *)(table)}
#define CLI_OPT_QUIET(flag, what) \
    {CLI_FLAG, "quiet", 'q', NULL, (what), (flag), 0, 0, NULL, NULL}
#define CLI_OPT_JSON(flag, what) \
    {CLI_FLAG, "json", 0, NULL, (what), (flag), 0, 0, NULL, NULL}

/* A command: its name, how it is called, what it does, its options. */
typedef struct cli_command {
    const char *name;        /* "eval" */
    const char *usage;       /* what follows "reco NAME"; '\n' separates forms */
    const char *description; /* paragraphs separated by blank lines */
    void (*more_help)(FILE *f); /* optional: printed after the description */
    const cli_option *options;
    const char *epilogue;    /* optional: paragraphs after the options */
    /* Optional: told of every option parsed (after it was stored). */
    void (*seen)(void *ctx, const cli_option *o, const char *arg);
    void *seen_ctx;
} cli_command;

/* What cli_parse returns besides an exit status. */
enum { CLI_HELP_SHOWN = -1 };

/* Parses the options of argv[1..argc-1] (argv[0] is the command's name)
 * into the table's destinations; options and operands may be mixed, and
 * "--" ends the options. *first_operand is the index of the first operand
 * (they are argv[*first_operand..argc-1]). Returns 0 to go on,
 * CLI_HELP_SHOWN after printing --help to standard output (the command
 * exits 0), or EXIT_USAGE after printing the error on standard error:
 *   reco CMD: unknown option '--x'; see 'reco CMD --help'
 *   reco CMD: option '--seed' needs a value (S); see 'reco CMD --help'
 *   reco CMD: --threads wants a number from 1 to 256, got "0" */
int cli_parse(const cli_command *cmd, int argc, char **argv, int *first_operand);

/* Set by `reco --complete-options CMD` (the bash completion): cli_parse
 * then prints the command's long options, one a line, "--name=" for those
 * taking a value, and returns CLI_HELP_SHOWN without parsing anything. */
extern bool cli_list_options_only;

/* Prints the --help text of cmd. */
void cli_help(const cli_command *cmd, FILE *f);

/* A usage error about operands or option combinations, in the same form:
 * "reco CMD: MESSAGE; see 'reco CMD --help'". Returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes text wrapped to 80 columns, every line indented by `indent`
 * spaces. Paragraphs are separated by '\n' (an empty one is a blank line);
 * a paragraph that starts with spaces keeps them, and one shaped like a
 * definition ("TERM  meaning": the first gap of two or more spaces ends the
 * term) continues under the meaning. Elsewhere runs of spaces become one. */
void cli_help_wrap(FILE *f, const char *text, int indent);

#endif
