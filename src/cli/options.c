/* The declarative option tables of the reco commands (options.h): one
 * parser that builds the getopt_long arrays from a table, validates values
 * strictly and reports usage errors in one form, and one --help printer
 * that lays the same table out, wrapped to 80 columns. */
#include "options.h"

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_ROWS 128
#define HELP_COL 25   /* where the help of an option starts */
#define LINE_MAX_COLS 79

/* ---- the table, flattened ---- */

typedef struct flat {
    const cli_option *row[MAX_ROWS];
    int n;
} flat;

static const cli_option HELP_ROW = {CLI_FLAG, "help", 'h', NULL, "show this help", NULL,
                                    0, 0, NULL, NULL};

/* Options only (no headings), includes spliced, in table order. */
static void flatten(const cli_option *t, flat *f)
{
    for (; t && t->kind != CLI_END; t++) {
        if (t->kind == CLI_INCLUDE)
            flatten(t->dest, f);
        else if (t->kind != CLI_HEADING && f->n < MAX_ROWS)
            f->row[f->n++] = t;
    }
}

static bool takes_arg(const cli_option *o)
{
    return o->kind != CLI_FLAG && o->kind != CLI_SET_INT;
}

/* "--name" or "-x", as the user may have written it. */
static void option_word(const cli_option *o, bool long_form, char *buf, size_t cap)
{
    if (o->name && (long_form || !o->letter))
        snprintf(buf, cap, "--%s", o->name);
    else
        snprintf(buf, cap, "-%c", o->letter);
}

/* ---- values ---- */

static void range_words(const cli_option *o, char *buf, size_t cap)
{
    if (o->want) {
        snprintf(buf, cap, "%s", o->want);
        return;
    }
    if (o->kind == CLI_DOUBLE) {
        if (o->min == 0 && o->max == 0)
            snprintf(buf, cap, "a number");
        else if (o->max == 0)
            snprintf(buf, cap, "a number of at least %g", o->min);
        else
            snprintf(buf, cap, "a number from %g to %g", o->min, o->max);
        return;
    }
    double type_max = o->kind == CLI_U32 ? (double)UINT32_MAX
                      : o->kind == CLI_U64 ? (double)UINT64_MAX : (double)INT_MAX;
    double lo = o->min, hi = o->max == 0 || o->max >= type_max ? type_max : o->max;
    if (hi == type_max)
        snprintf(buf, cap, lo <= 0 ? "a non-negative integer"
                           : lo == 1 ? "a positive integer" : "an integer of at least %.0f",
                 lo);
    else
        snprintf(buf, cap, "a number from %.0f to %.0f", lo, hi);
}

static bool in_range(const cli_option *o, double v)
{
    if (o->min == 0 && o->max == 0)
        return true;
    return v >= o->min && (o->max == 0 || v <= o->max);
}

/* Stores arg into o's destination; -1 if the value is refused. */
static int store(const cli_option *o, const char *arg)
{
    switch (o->kind) {
    case CLI_FLAG:
        if (o->dest)
            *(bool *)o->dest = true;
        return 0;
    case CLI_SET_INT:
        *(int *)o->dest = (int)o->min;
        return 0;
    case CLI_STRING:
        *(const char **)o->dest = arg;
        return 0;
    case CLI_U32: {
        uint32_t v;
        if (cli_parse_u32(arg, &v) || !in_range(o, v))
            return -1;
        *(uint32_t *)o->dest = v;
        return 0;
    }
    case CLI_U64: {
        uint64_t v;
        if (cli_parse_u64(arg, &v) || !in_range(o, (double)v))
            return -1;
        *(uint64_t *)o->dest = v;
        return 0;
    }
    case CLI_INT: {
        uint32_t v;
        if (cli_parse_u32(arg, &v) || v > INT_MAX || !in_range(o, v))
            return -1;
        *(int *)o->dest = (int)v;
        return 0;
    }
    case CLI_DOUBLE: {
        double v;
        if (cli_parse_double(arg, &v) || !in_range(o, v))
            return -1;
        *(double *)o->dest = v;
        return 0;
    }
    case CLI_CUSTOM:
        return o->parse(arg, o->dest);
    default:
        return -1;
    }
}

/* ---- errors ---- */

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "reco %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see 'reco %s --help'\n", cmd);
    return EXIT_USAGE;
}

/* ---- parsing ---- */

bool cli_list_options_only;

int cli_parse(const cli_command *cmd, int argc, char **argv, int *first_operand)
{
    flat f = {.n = 0};
    flatten(cmd->options, &f);
    f.row[f.n++] = &HELP_ROW;
    if (cli_list_options_only) {
        for (int k = 0; k < f.n; k++)
            if (f.row[k]->name)
                printf("--%s%s\n", f.row[k]->name, takes_arg(f.row[k]) ? "=" : "");
        return CLI_HELP_SHOWN;
    }
    struct option longopts[MAX_ROWS + 1];
    char shortopts[2 * MAX_ROWS + 2];
    size_t ns = 0, nl = 0;
    shortopts[ns++] = ':'; /* a missing value is ':', not '?' */
    for (int k = 0; k < f.n; k++) {
        const cli_option *o = f.row[k];
        int val = o->letter ? o->letter : 256 + k;
        if (o->letter) {
            shortopts[ns++] = o->letter;
            if (takes_arg(o))
                shortopts[ns++] = ':';
        }
        if (o->name)
            longopts[nl++] = (struct option){o->name, takes_arg(o) ? required_argument : no_argument,
                                             NULL, val};
    }
    shortopts[ns] = '\0';
    longopts[nl] = (struct option){NULL, 0, NULL, 0};

    opterr = 0;
    optind = 0; /* GNU: start afresh, argv[1] first */
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        const char *word = argv[optind - 1];
        bool long_form = !strncmp(word, "--", 2);
        if (c == '?' || c == ':') {
            const cli_option *o = NULL;
            for (int k = 0; k < f.n && optopt; k++)
                if ((f.row[k]->letter ? f.row[k]->letter : 256 + k) == optopt)
                    o = f.row[k];
            char name[128];
            if (long_form)
                snprintf(name, sizeof name, "%.*s", (int)strcspn(word, "="), word);
            else
                snprintf(name, sizeof name, "-%c", optopt);
            if (c == ':' && o)
                return cli_usage(cmd->name, "option '%s' needs a value (%s)", name,
                                 o->arg ? o->arg : "?");
            if (o && long_form)
                return cli_usage(cmd->name, "option '%s' takes no value", name);
            return cli_usage(cmd->name, "unknown option '%s'", name);
        }
        int k = 0;
        while (k < f.n && (f.row[k]->letter ? f.row[k]->letter : 256 + k) != c)
            k++;
        const cli_option *o = f.row[k];
        if (o == &HELP_ROW) {
            cli_help(cmd, stdout);
            return CLI_HELP_SHOWN;
        }
        char opt[128];
        option_word(o, long_form, opt, sizeof opt);
        if (o->kind == CLI_LIST) {
            cli_list *l = o->dest;
            int most = o->max > 0 && o->max < CLI_LIST_MAX ? (int)o->max : CLI_LIST_MAX;
            if (l->n >= most) {
                cli_error(cmd->name, "%s may be given at most %d times", opt, most);
                return EXIT_USAGE;
            }
            l->v[l->n++] = optarg;
        } else if (store(o, optarg)) {
            char want[256];
            range_words(o, want, sizeof want);
            cli_error(cmd->name, "%s wants %s, got \"%s\"", opt, want, optarg);
            return EXIT_USAGE;
        }
        if (cmd->seen)
            cmd->seen(cmd->seen_ctx, o, optarg);
    }
    *first_operand = optind;
    return 0;
}

/* ---- help ---- */

/* Display width of n bytes of UTF-8 text. */
static int width_n(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

static void spaces(FILE *f, int n)
{
    for (int k = 0; k < n; k++)
        fputc(' ', f);
}

/* One paragraph (no '\n'), the cursor at column `col` (the indentation
 * already written), continuation lines at `indent`. */
static void wrap_paragraph(FILE *f, const char *p, size_t len, int col, int indent)
{
    const char *end = p + len;
    /* Leading spaces are kept; a definition ("TERM  meaning": the first
     * gap of two spaces or more ends the term, which may have single
     * spaces) continues under its meaning. */
    const char *s = p;
    while (s < end && *s == ' ')
        s++;
    int hang = indent + (int)(s - p);
    const char *words = s;
    for (const char *g = s; g + 1 < end; g++) {
        if (g[0] == ' ' && g[1] == ' ') {
            const char *mean = g;
            while (mean < end && *mean == ' ')
                mean++;
            if (mean < end) {
                hang = indent + width_n(p, (size_t)(mean - p));
                words = mean;
            }
            break;
        }
    }
    fwrite(p, 1, (size_t)(words - p), f);
    col += width_n(p, (size_t)(words - p));
    bool first = true;
    while (words < end) {
        const char *w = words;
        while (w < end && *w != ' ')
            w++;
        int ww = width_n(words, (size_t)(w - words));
        if (!first && col + 1 + ww > LINE_MAX_COLS) {
            fputc('\n', f);
            spaces(f, hang);
            col = hang;
        } else if (!first) {
            fputc(' ', f);
            col++;
        }
        fwrite(words, 1, (size_t)(w - words), f);
        col += ww;
        first = false;
        words = w;
        while (words < end && *words == ' ')
            words++;
    }
    fputc('\n', f);
}

/* text's paragraphs at indent; the first starts at column col when the
 * cursor is already there (col < 0: at the start of a line). Empty
 * paragraphs are blank lines, without trailing spaces. */
static void wrap_text(FILE *f, const char *text, int col, int indent)
{
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (p != text || col < 0) {
            if (len)
                spaces(f, indent);
            col = indent;
        }
        wrap_paragraph(f, p, len, col, indent);
        if (!nl)
            return;
        p = nl + 1;
    }
}

void cli_help_wrap(FILE *f, const char *text, int indent)
{
    wrap_text(f, text, -1, indent);
}

static void option_help(FILE *f, const cli_option *o)
{
    char label[160];
    size_t n = 0;
    n += (size_t)snprintf(label + n, sizeof label - n, "  ");
    if (o->letter)
        n += (size_t)snprintf(label + n, sizeof label - n, o->name ? "-%c, " : "-%c", o->letter);
    if (o->name)
        n += (size_t)snprintf(label + n, sizeof label - n, "--%s", o->name);
    if (o->arg)
        snprintf(label + n, sizeof label - n, " %s", o->arg);
    int w = cli_text_width(label);
    fputs(label, f);
    if (w > HELP_COL - 2) {
        fputc('\n', f);
        w = 0;
    }
    spaces(f, HELP_COL - w);
    wrap_text(f, o->help ? o->help : "", HELP_COL, HELP_COL);
}

static void options_help(FILE *f, const cli_option *t, bool *any)
{
    for (; t && t->kind != CLI_END; t++) {
        if (t->kind == CLI_INCLUDE) {
            options_help(f, t->dest, any);
        } else if (t->kind == CLI_HEADING) {
            fprintf(f, "%s\n", t->help);
            *any = true;
        } else {
            if (!*any)
                fprintf(f, "Options:\n");
            *any = true;
            option_help(f, t);
        }
    }
}

void cli_help(const cli_command *cmd, FILE *f)
{
    const char *u = cmd->usage ? cmd->usage : "[OPTIONS]";
    for (int line = 0;; line++) {
        const char *nl = strchr(u, '\n');
        int len = nl ? (int)(nl - u) : (int)strlen(u);
        fprintf(f, "%s reco %s %.*s\n", line ? "      " : "Usage:", cmd->name, len, u);
        if (!nl)
            break;
        u = nl + 1;
    }
    if (cmd->description) {
        fputc('\n', f);
        cli_help_wrap(f, cmd->description, 0);
    }
    if (cmd->more_help) {
        fputc('\n', f);
        cmd->more_help(f);
    }
    fputc('\n', f);
    bool any = false;
    options_help(f, cmd->options, &any);
    if (!any)
        fprintf(f, "Options:\n");
    option_help(f, &HELP_ROW);
    if (cmd->epilogue) {
        fputc('\n', f);
        cli_help_wrap(f, cmd->epilogue, 0);
    }
}
