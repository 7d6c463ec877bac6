/* reco command: the pieces every subcommand shares (cli.h): options of
 * commands that read rating files, the progress bar on stderr, numbers with
 * thousands separators, error messages and exit statuses. */
#include "cli.h"

#include "reco/clock.h"
#include "reco/pg_source.h"
#include "reco/thousands.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "reco %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_print_json(const json_t *o)
{
    if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | RECO_JSON_FLAGS))
        return EXIT_FAIL;
    fputc('\n', stdout);
    return EXIT_OK;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (cli_parse_u64(s, &v) || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

char *cli_thousands(uint64_t n, char *buf, size_t cap)
{
    return reco_thousands(n, buf, cap);
}

/* "LO:HI" into the load options' rating range. */
static int parse_rating_range(const char *arg, void *dest)
{
    reco_load_options *lo = dest;
    const char *colon = strchr(arg, ':');
    double a, b;
    char buf[64];
    if (!colon || (size_t)(colon - arg) >= sizeof buf)
        return -1;
    memcpy(buf, arg, (size_t)(colon - arg));
    buf[colon - arg] = '\0';
    if (cli_parse_double(buf, &a) || cli_parse_double(colon + 1, &b) || a > b)
        return -1;
    lo->rating_min = a;
    lo->rating_max = b;
    return 0;
}

void cli_data_opts_init(cli_data_opts *o)
{
    memset(o, 0, sizeof *o);
    reco_load_options_default(&o->load);
    reco_build_options_default(&o->build);
    const cli_option rows[] = {
        CLI_OPT_HEADING("Input options:"),
        {CLI_STRING, "sep", 0, "SEP", "field separator: ',', tab, '::', ';', '|' (default: "
         "detect)", &o->load.sep, 0, 0, NULL, NULL},
        {CLI_SET_INT, "header", 0, NULL, "the first line is a header (default: detect)",
         &o->load.header, 1, 0, NULL, NULL},
        {CLI_SET_INT, "no-header", 0, NULL, "the first line is not a header",
         &o->load.header, 0, 0, NULL, NULL},
        {CLI_CUSTOM, "rating-range", 0, "LO:HI", "allowed ratings, inclusive (default 0.5:5)",
         &o->load, 0, 0, "LO:HI with LO <= HI", parse_rating_range},
        {CLI_FLAG, "skip-bad", 0, NULL, "skip bad lines (count them, report the first 10) "
         "instead of stopping at the first one", &o->load.skip_bad, 0, 0, NULL, NULL},
        {CLI_INT, "threads", 0, "N", "threads to use (default: all cores)", &o->load.threads,
         1, 256, NULL, NULL},
        CLI_OPT_HEADING("Filters (after removing duplicates; what they remove is reported):"),
        {CLI_U32, "min-user-ratings", 0, "N", "keep users with at least N ratings",
         &o->build.min_user_ratings, 0, 0, NULL, NULL},
        {CLI_U32, "min-item-ratings", 0, "N", "keep products with at least N ratings (among "
         "kept users); users it leaves without any rating go too", &o->build.min_item_ratings,
         0, 0, NULL, NULL},
        {CLI_FLAG, "k-core", 0, NULL, "repeat both filters until both hold (needs one of them "
         "above 1)", &o->build.k_core, 0, 0, NULL, NULL},
        CLI_OPT_END,
    };
    _Static_assert(sizeof rows <= sizeof o->table, "cli_data_opts.table is too small");
    memcpy(o->table, rows, sizeof rows);
}

int cli_exit_status(reco_status st)
{
    switch (st) {
    case RECO_OK: return EXIT_OK;
    case RECO_ERR_PARSE:
    case RECO_ERR_INVALID:
    case RECO_ERR_EMPTY:
    case RECO_ERR_FORMAT:
        return EXIT_USAGE;
    default:
        return EXIT_FAIL;
    }
}

void cli_report_bad_lines(const char *cmd, const reco_load_report *rep)
{
    if (!rep->bad_lines)
        return;
    char n[32];
    cli_error(cmd, "skipped %s bad line%s%s", cli_thousands(rep->bad_lines, n, sizeof n),
              rep->bad_lines == 1 ? "" : "s",
              rep->bad_lines > rep->n_messages ? "; the first are:" : ":");
    for (size_t i = 0; i < rep->n_messages; i++)
        fprintf(stderr, "  %s\n", rep->messages[i]);
}

int cli_load_dataset(const char *cmd, const char *path, cli_data_opts *o, reco_dataset **out)
{
    cli_progress *pb = cli_progress_new(!o->quiet);
    reco_progress prog = {cli_progress_cb, pb};
    o->load.progress = prog;
    o->build.progress = prog;
    reco_error err;
    reco_error_clear(&err);
    reco_status st = reco_dataset_load(path, &o->load, &o->build, out, &err);
    cli_progress_free(pb);
    o->load.progress.fn = NULL;
    o->build.progress.fn = NULL;
    if (st) {
        cli_error(cmd, "%s", err.msg);
        return cli_exit_status(st);
    }
    if (!o->quiet)
        cli_report_bad_lines(cmd, &(*out)->load);
    char note[160];
    if (!o->quiet && !o->filters_shown && *cli_filter_summary(*out, note, sizeof note))
        cli_error(cmd, "%s", note);
    return EXIT_OK;
}

const char *cli_source_name(const char *arg, char *buf, size_t cap)
{
    return reco_pg_is_source(arg) ? reco_pg_source_name(arg, buf, cap) : arg;
}

char *cli_filter_summary(const reco_dataset *ds, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!ds->filtered_users && !ds->filtered_items && !ds->filtered_ratings)
        return buf;
    char a[32], b[32], c[32];
    snprintf(buf, cap, "the filters removed %s user%s, %s product%s and %s rating%s",
             cli_thousands(ds->filtered_users, a, sizeof a), ds->filtered_users == 1 ? "" : "s",
             cli_thousands(ds->filtered_items, b, sizeof b), ds->filtered_items == 1 ? "" : "s",
             cli_thousands(ds->filtered_ratings, c, sizeof c),
             ds->filtered_ratings == 1 ? "" : "s");
    return buf;
}

/* ---- progress bar ---- */

struct cli_progress {
    bool enabled;
    bool shown;
    double start;
    double last_draw;
    char stage[16];
};

cli_progress *cli_progress_new(bool enabled)
{
    cli_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->enabled = enabled && isatty(STDERR_FILENO);
    p->start = reco_clock_s();
    return p;
}

void cli_progress_free(cli_progress *p)
{
    if (!p)
        return;
    if (p->shown)
        fprintf(stderr, "\r\033[K");
    free(p);
}

static void human_bytes(double b, char *buf, size_t cap)
{
    const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(buf, cap, "%.1f %s", b, u[i]);
}

void cli_progress_cb(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    cli_progress *p = ctx;
    if (!p || !p->enabled)
        return;
    double t = reco_clock_s();
    double el = t - p->start;
    if (el < 1.0 || (t - p->last_draw < 0.1 && done < total))
        return;
    p->last_draw = t;
    p->shown = true;
    if (done > total)
        done = total;
    double frac = total ? (double)done / (double)total : 0;
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    if (strcmp(stage, "read") == 0 || strcmp(stage, "parse") == 0) {
        char d[32], tt[32], rate[32];
        human_bytes((double)done, d, sizeof d);
        human_bytes((double)total, tt, sizeof tt);
        human_bytes(el > 0 ? (double)done / el : 0, rate, sizeof rate);
        double left = frac > 0 ? el * (1 - frac) / frac : 0;
        fprintf(stderr, "\r\033[K%-6s [%s] %3.0f%% %s / %s  %s/s  %.0fs left", stage, bar,
                frac * 100, d, tt, rate, left);
    } else if (strcmp(stage, "export") == 0) {
        char d[32], tt[32], rate[32];
        double left = frac > 0 ? el * (1 - frac) / frac : 0;
        fprintf(stderr, "\r\033[K%-6s [%s] %3.0f%% %s / %s users  %s/s  %.0fs left", stage, bar,
                frac * 100, cli_thousands(done, d, sizeof d), cli_thousands(total, tt, sizeof tt),
                cli_thousands(el > 0 ? (uint64_t)((double)done / el) : 0, rate, sizeof rate),
                left);
    } else {
        fprintf(stderr, "\r\033[K%-6s [%s] %3.0f%%", stage, bar, frac * 100);
    }
    fflush(stderr);
}

/* ---- tables and command lines ---- */

int cli_text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void cli_cell(FILE *f, const char *s, int width, bool left)
{
    int pad = width - cli_text_width(s);
    if (left)
        fputs(s, f);
    for (int k = 0; k < pad; k++)
        fputc(' ', f);
    if (!left)
        fputs(s, f);
}

void cli_fmt_seconds(double s, char *buf, size_t cap)
{
    if (s < 0.001)
        snprintf(buf, cap, "%.0fµs", s * 1e6);
    else if (s < 1)
        snprintf(buf, cap, "%.0fms", s * 1e3);
    else
        snprintf(buf, cap, "%.2fs", s);
}

void cli_shell_append(char *buf, size_t cap, const char *arg)
{
    size_t len = strlen(buf);
    bool safe = *arg != '\0';
    for (const char *p = arg; *p; p++)
        safe &= strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "_-./=:,@+%", *p) != NULL;
    if (safe) {
        snprintf(buf + len, cap > len ? cap - len : 0, "%s", arg);
        return;
    }
    /* 'it'\''s': a quote ends the quoting, is escaped, and quoting resumes. */
    if (len + 1 < cap)
        buf[len++] = '\'';
    for (const char *p = arg; *p && len + 5 < cap; p++) {
        if (*p == '\'') {
            memcpy(buf + len, "'\\''", 4);
            len += 4;
        } else {
            buf[len++] = *p;
        }
    }
    if (len + 1 < cap)
        buf[len++] = '\'';
    buf[len < cap ? len : cap - 1] = '\0';
}

/* The IDs of a repeatable comma-separated option, every occurrence split
 * at its commas, into a new array of strings (pieces of one allocated
 * copy); -1 when out of memory. An empty piece is kept, and refused by
 * the service as an ID. */
int cli_split_ids(const cli_list *l, const char ***ids, size_t *n, char **buf)
{
    size_t bytes = 0, count = 0;
    for (int j = 0; j < l->n; j++) {
        bytes += strlen(l->v[j]) + 1;
        for (const char *c = l->v[j]; *c; c++)
            count += *c == ',';
        count++;
    }
    *ids = malloc((count + 1) * sizeof **ids);
    *buf = malloc(bytes + 1);
    if (!*ids || !*buf)
        return -1;
    char *p = *buf;
    *n = 0;
    for (int j = 0; j < l->n; j++) {
        strcpy(p, l->v[j]);
        for (char *piece = p;;) {
            char *comma = strchr(piece, ',');
            (*ids)[(*n)++] = piece;
            if (!comma)
                break;
            *comma = '\0';
            piece = comma + 1;
        }
        p += strlen(l->v[j]) + 1;
    }
    return 0;
}
