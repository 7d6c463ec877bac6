/* reco: the `reco explore` report: charts (PNG + SVG via chart.c),
 * stats.json (jansson) and a self-contained index.html. Every number comes
 * from reco_explore; this file only formats and lays out. */
#include "reco/chart.h"
#include "reco/explore.h"
#include "reco/json.h"
#include "reco/thousands.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "numfmt.h"

const char *const reco_report_chart_names[RECO_REPORT_N_CHARTS] = {
    "rating_distribution", "ratings_per_user", "ratings_per_product", "top_products",
    "activity",            "min_ratings_filter", "mean_by_activity",
};

static const char *const CHART_TITLES[RECO_REPORT_N_CHARTS] = {
    "Rating distribution",
    "Ratings per user",
    "Ratings per product (popularity by rank)",
    "Top 20 most-rated products",
    "Activity over time",
    "What a minimum-ratings filter keeps",
    "Mean rating by user activity",
};

enum { CH_RATINGS, CH_PER_USER, CH_PER_PRODUCT, CH_TOP, CH_ACTIVITY, CH_FILTER, CH_BIAS };

#define MARK_THRESHOLD 50      /* the threshold the seed system used */
#define MIN_MONTH_RATINGS 20   /* months with fewer get no mean on the chart... */
#define MIN_MONTH_RATINGS_FROM 10000 /* ...in data with at least this many ratings */
#define MIN_BIN_USERS 10       /* activity bins with fewer get no point... */
#define MIN_BIN_USERS_FROM 1000 /* ...in data with at least this many users */
#define PATH_CAP 4096
#define STR(x) #x
#define XSTR(x) STR(x)

void reco_report_options_default(reco_report_options *o)
{
    memset(o, 0, sizeof *o);
    o->chart_width = 800;
    o->chart_height = 500;
}

reco_status reco_report_options_check(const reco_report_options *o, reco_error *err)
{
    if (!o)
        return reco_error_set(err, RECO_ERR_INVALID, "report: no options");
    if (o->chart_width < 640 || o->chart_width > 4000)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "report: chart width %u is outside 640..4000", o->chart_width);
    if (o->chart_height < 400 || o->chart_height > 4000)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "report: chart height %u is outside 400..4000", o->chart_height);
    return RECO_OK;
}

static uint64_t min_month_ratings(const reco_explore *ex)
{
    return ex->stats.ratings >= MIN_MONTH_RATINGS_FROM ? MIN_MONTH_RATINGS : 1;
}

/* Means of a handful of users are noise, but small data has only those. */
static uint64_t min_bin_users(const reco_explore *ex)
{
    return ex->stats.users >= MIN_BIN_USERS_FROM ? MIN_BIN_USERS : 1;
}

static bool chart_present(const reco_explore *ex, int i)
{
    return i != CH_ACTIVITY || ex->n_months > 0;
}

/* ---- formatting ---- */

static const char *thousands(uint64_t v, char *buf, size_t cap)
{
    return reco_thousands(v, buf, cap);
}

/* A share as a percentage with enough decimals to not read as 0. */
static const char *percent(double share, char *buf, size_t cap)
{
    double p = share * 100;
    int dec = p == 0 || p >= 1 ? 1 : p >= 0.1 ? 2 : p >= 0.01 ? 3 : 4;
    snprintf(buf, cap, "%.*f%%", dec, p);
    return buf;
}

static void fmt_date(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) && strftime(buf, cap, "%Y-%m-%d", &tm) > 0)
        return;
    snprintf(buf, cap, "%lld", (long long)t);
}

static void fmt_month(int32_t m, char *buf, size_t cap)
{
    int32_t y = (m >= 0 ? m / 12 : -((-m + 11) / 12)) + 1970;
    int mo = ((m % 12) + 12) % 12 + 1;
    snprintf(buf, cap, "%04d-%02d", (int)y, mo);
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0;
}

/* ---- charts ---- */

typedef struct rctx {
    const reco_explore *ex;
    const reco_report_options *o;
    const char *dir;
    char path[PATH_CAP];
} rctx;

static reco_status write_chart(rctx *c, int which, const reco_chart *ch, reco_error *err)
{
    static const char *const ext[2] = {"png", "svg"};
    for (int f = 0; f < 2; f++) {
        int n = snprintf(c->path, sizeof c->path, "%s/%s.%s", c->dir,
                         reco_report_chart_names[which], ext[f]);
        if (n < 0 || (size_t)n >= sizeof c->path)
            return reco_error_set(err, RECO_ERR_INVALID, "report: path too long under %s", c->dir);
        reco_status st = reco_chart_write(ch, f ? RECO_CHART_SVG : RECO_CHART_PNG, c->path, err);
        if (st)
            return st;
    }
    return RECO_OK;
}

static reco_chart make_chart(const rctx *c, int which, const reco_chart_panel *p, size_t n)
{
    reco_chart ch = {CHART_TITLES[which], c->o->chart_width, c->o->chart_height, p, n};
    return ch;
}

static reco_status chart_ratings(rctx *c, reco_error *err)
{
    const reco_stats *st = &c->ex->stats;
    uint32_t n = st->hist_bins;
    char names[RECO_STATS_HIST_MAX][24], texts[RECO_STATS_HIST_MAX][24];
    char subs[RECO_STATS_HIST_MAX][32];
    const char *pn[RECO_STATS_HIST_MAX], *pt[RECO_STATS_HIST_MAX], *ps[RECO_STATS_HIST_MAX];
    double v[RECO_STATS_HIST_MAX];
    for (uint32_t i = 0; i < n; i++) {
        double share = ratio(st->hist_count[i], st->ratings);
        snprintf(names[i], sizeof names[i], "%g", st->hist_value[i]);
        percent(share, texts[i], sizeof texts[i]);
        thousands(st->hist_count[i], subs[i], sizeof subs[i]);
        v[i] = share * 100;
        pn[i] = names[i];
        pt[i] = texts[i];
        ps[i] = subs[i];
    }
    /* Many distinct values (not a star scale) would crowd the labels. */
    reco_chart_bars bars = {n, pn, v, n <= 12 ? pt : NULL, n <= 12 ? ps : NULL,
                            RECO_CHART_BLUE, false};
    reco_chart_panel p = {0};
    p.bars = &bars;
    p.x.label = "rating (stars)";
    p.y.label = "share of ratings";
    p.y.fmt = RECO_CHART_FMT_PERCENT;
    p.y.include_zero = true;
    reco_chart ch = make_chart(c, CH_RATINGS, &p, 1);
    return write_chart(c, CH_RATINGS, &ch, err);
}

static reco_status chart_per_user(rctx *c, reco_error *err)
{
    const reco_explore *ex = c->ex;
    const reco_stats *st = &ex->stats;
    double lo[RECO_EXPLORE_MAX_BINS], hi[RECO_EXPLORE_MAX_BINS], y[RECO_EXPLORE_MAX_BINS];
    size_t n = ex->n_user_bins;
    for (size_t i = 0; i < n; i++) {
        /* Integer counts: the bin of k spans k - 0.5 .. k + 0.5. */
        lo[i] = ex->user_bins[i].lo - 0.5;
        hi[i] = ex->user_bins[i].hi + 0.5;
        y[i] = ex->user_bins[i].per_value;
    }
    reco_chart_series s = {.style = RECO_CHART_BARS, .n = n, .x = lo, .y = y, .lo = lo,
                           .hi = hi, .color = RECO_CHART_BLUE};
    char ml[48], pl[48], n1[64], n2[64], n3[64], a[32];
    snprintf(ml, sizeof ml, "median %s", thousands(st->per_user.median, a, sizeof a));
    snprintf(pl, sizeof pl, "p99 %s", thousands(st->per_user.p99, a, sizeof a));
    reco_chart_mark marks[2] = {
        {false, st->per_user.median, ml, RECO_CHART_RED},
        {false, st->per_user.p99, pl, RECO_CHART_ORANGE},
    };
    snprintf(n1, sizeof n1, "%s users", thousands(st->users, a, sizeof a));
    snprintf(n2, sizeof n2, "%s rated only once", percent(ex->single_user_share, a, sizeof a));
    snprintf(n3, sizeof n3, "mean %.2f, max %s ratings", st->per_user.mean,
             thousands(st->per_user.max, a, sizeof a));
    const char *notes[3] = {n1, n2, n3};
    reco_chart_panel p = {0};
    p.series = &s;
    p.n_series = 1;
    p.marks = marks;
    p.n_marks = 2;
    p.notes = notes;
    p.n_notes = 3;
    p.x.label = "ratings per user";
    p.x.log = true;
    /* From the decade below the smallest count (or 0.5 for a count of 1, so
     * that its bar shows whole) to the decade above the largest. */
    double first = ex->user_bins[0].lo;
    for (size_t i = 0; i < n; i++)
        if (ex->user_bins[i].users) {
            first = ex->user_bins[i].lo;
            break;
        }
    p.x.min = fmin(pow(10, floor(log10(first))), first - 0.5);
    p.x.max = pow(10, ceil(log10(st->per_user.max + 0.5)));
    p.y.label = "users with that many ratings";
    p.y.log = true;
    reco_chart ch = make_chart(c, CH_PER_USER, &p, 1);
    return write_chart(c, CH_PER_USER, &ch, err);
}

static reco_status chart_per_product(rctx *c, reco_error *err)
{
    const reco_explore *ex = c->ex;
    const reco_stats *st = &ex->stats;
    double x[RECO_EXPLORE_MAX_RANKS], y[RECO_EXPLORE_MAX_RANKS];
    for (uint32_t i = 0; i < ex->n_ranks; i++) {
        x[i] = ex->rank[i];
        y[i] = ex->rank_count[i];
    }
    reco_chart_series s = {.style = RECO_CHART_LINE, .n = ex->n_ranks, .x = x, .y = y,
                           .color = RECO_CHART_BLUE};
    char l1[96], l20[96], n1[64], n2[64], n3[80], a[32], b[32];
    snprintf(l1, sizeof l1, "top 1%%: %s of ratings", percent(ex->top1_share, a, sizeof a));
    snprintf(l20, sizeof l20, "top 20%%: %s", percent(ex->top20_share, a, sizeof a));
    reco_chart_mark marks[2] = {
        {false, ex->top1_products, l1, RECO_CHART_RED},
        {false, ex->top20_products, l20, RECO_CHART_ORANGE},
    };
    snprintf(n1, sizeof n1, "%s products", thousands(st->items, a, sizeof a));
    snprintf(n2, sizeof n2, "Gini coefficient %.3f", ex->gini);
    snprintf(n3, sizeof n3, "median %s, p99 %s ratings",
             thousands(st->per_item.median, a, sizeof a),
             thousands(st->per_item.p99, b, sizeof b));
    const char *notes[3] = {n1, n2, n3};
    reco_chart_panel p = {0};
    p.series = &s;
    p.n_series = 1;
    p.marks = marks;
    p.n_marks = 2;
    p.notes = notes;
    p.n_notes = 3;
    p.x.label = "product rank (1 = most rated)";
    p.x.log = true;
    p.y.label = "ratings of the product";
    p.y.log = true;
    reco_chart ch = make_chart(c, CH_PER_PRODUCT, &p, 1);
    return write_chart(c, CH_PER_PRODUCT, &ch, err);
}

static reco_status chart_top(rctx *c, reco_error *err)
{
    const reco_explore *ex = c->ex;
    uint32_t n = ex->n_top;
    char texts[RECO_EXPLORE_TOP][32], subs[RECO_EXPLORE_TOP][32], names[RECO_EXPLORE_TOP][40];
    const char *pn[RECO_EXPLORE_TOP], *pt[RECO_EXPLORE_TOP], *ps[RECO_EXPLORE_TOP];
    double v[RECO_EXPLORE_TOP];
    for (uint32_t i = 0; i < n; i++) {
        /* Long IDs would eat the plot: cut them (the table has them whole). */
        const char *id = ex->top[i].id;
        if (strlen(id) > 24)
            snprintf(names[i], sizeof names[i], "%.22s...", id);
        else
            snprintf(names[i], sizeof names[i], "%s", id);
        thousands(ex->top[i].ratings, texts[i], sizeof texts[i]);
        snprintf(subs[i], sizeof subs[i], "mean %.2f", ex->top[i].mean);
        v[i] = ex->top[i].ratings;
        pn[i] = names[i];
        pt[i] = texts[i];
        ps[i] = subs[i];
    }
    reco_chart_bars bars = {n, pn, v, pt, ps, RECO_CHART_BLUE, true};
    reco_chart_panel p = {0};
    p.bars = &bars;
    p.x.label = "ratings (text: count and mean rating)";
    p.x.include_zero = true;
    p.x.integer = true;
    p.y.label = "product ID";
    reco_chart ch = make_chart(c, CH_TOP, &p, 1);
    ch.title = n == RECO_EXPLORE_TOP ? CHART_TITLES[CH_TOP] : "Most-rated products";
    return write_chart(c, CH_TOP, &ch, err);
}

static reco_status chart_activity(rctx *c, reco_error *err)
{
    const reco_explore *ex = c->ex;
    size_t n = ex->n_months;
    double *buf = malloc(5 * n * sizeof *buf);
    if (!buf)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory drawing the activity chart");
    double *lo = buf, *hi = buf + n, *cnt = buf + 2 * n, *mid = buf + 3 * n, *mean = buf + 4 * n;
    for (size_t i = 0; i < n; i++) {
        lo[i] = ex->months[i].month;
        hi[i] = lo[i] + 1;
        mid[i] = lo[i] + 0.5;
        cnt[i] = (double)ex->months[i].ratings;
        mean[i] = ex->months[i].ratings >= min_month_ratings(ex) ? ex->months[i].mean : NAN;
    }
    reco_chart_series bars = {.style = RECO_CHART_BARS, .n = n, .x = lo, .y = cnt, .lo = lo,
                              .hi = hi, .color = RECO_CHART_BLUE};
    reco_chart_series line = {.style = n > 24 ? RECO_CHART_LINE : RECO_CHART_LINE_POINTS,
                              .n = n, .x = mid, .y = mean, .color = RECO_CHART_ORANGE};
    char ml[64];
    snprintf(ml, sizeof ml, "overall mean %.2f", ex->stats.mean);
    reco_chart_mark mark = {true, ex->stats.mean, ml, RECO_CHART_GREY};
    reco_chart_panel p[2];
    memset(p, 0, sizeof p);
    for (int k = 0; k < 2; k++) {
        p[k].x.fmt = RECO_CHART_FMT_MONTH;
        p[k].x.min = lo[0];
        p[k].x.max = hi[n - 1];
    }
    p[0].series = &bars;
    p[0].n_series = 1;
    p[0].y.label = "ratings per month";
    p[0].y.include_zero = true;
    p[0].y.integer = true;
    p[0].weight = 1.4;
    p[1].series = &line;
    p[1].n_series = 1;
    p[1].marks = &mark;
    p[1].n_marks = 1;
    p[1].y.label = "mean rating";
    p[1].x.label = "month (UTC)";
    reco_chart ch = make_chart(c, CH_ACTIVITY, p, 2);
    reco_status st = write_chart(c, CH_ACTIVITY, &ch, err);
    free(buf);
    return st;
}

static reco_status chart_filter(rctx *c, reco_error *err)
{
    const reco_explore *ex = c->ex;
    const reco_stats *st = &ex->stats;
    enum { T = RECO_EXPLORE_THRESHOLDS };
    double x[T], u[T], pr[T], r[T];
    for (int t = 1; t <= T; t++) {
        x[t - 1] = t;
        u[t - 1] = 100 * ratio(ex->threshold[t].users, st->users);
        pr[t - 1] = 100 * ratio(ex->threshold[t].products, st->items);
        r[t - 1] = 100 * ratio(ex->threshold[t].ratings, st->ratings);
    }
    reco_chart_series s[3] = {
        {.label = "users", .style = RECO_CHART_LINE, .n = T, .x = x, .y = u,
         .color = RECO_CHART_BLUE},
        {.label = "products", .style = RECO_CHART_LINE, .n = T, .x = x, .y = pr,
         .color = RECO_CHART_ORANGE},
        {.label = "ratings", .style = RECO_CHART_LINE, .n = T, .x = x, .y = r,
         .color = RECO_CHART_GREEN},
    };
    const reco_explore_threshold *k = &ex->threshold[MARK_THRESHOLD];
    char ml[32], n0[48], n1[64], n2[64], n3[64], a[32], b[32];
    snprintf(ml, sizeof ml, "threshold %d", MARK_THRESHOLD);
    snprintf(n0, sizeof n0, "kept at %d:", MARK_THRESHOLD);
    snprintf(n1, sizeof n1, "%s users (%s)", thousands(k->users, a, sizeof a),
             percent(ratio(k->users, st->users), b, sizeof b));
    snprintf(n2, sizeof n2, "%s products (%s)", thousands(k->products, a, sizeof a),
             percent(ratio(k->products, st->items), b, sizeof b));
    snprintf(n3, sizeof n3, "%s ratings (%s)", thousands(k->ratings, a, sizeof a),
             percent(ratio(k->ratings, st->ratings), b, sizeof b));
    const char *notes[4] = {n0, n1, n2, n3};
    reco_chart_mark mark = {false, MARK_THRESHOLD, ml, RECO_CHART_GREY};
    reco_chart_panel p = {0};
    p.series = s;
    p.n_series = 3;
    p.marks = &mark;
    p.n_marks = 1;
    p.notes = notes;
    p.n_notes = 4;
    p.x.label = "minimum ratings per user (threshold)";
    p.x.min = 0;
    p.x.max = T;
    p.y.label = "kept (% of all)";
    p.y.log = true;
    p.y.fmt = RECO_CHART_FMT_PERCENT;
    reco_chart ch = make_chart(c, CH_FILTER, &p, 1);
    return write_chart(c, CH_FILTER, &ch, err);
}

static reco_status chart_bias(rctx *c, reco_error *err)
{
    const reco_explore *ex = c->ex;
    const reco_stats *st = &ex->stats;
    double x[RECO_EXPLORE_MAX_BINS], y[RECO_EXPLORE_MAX_BINS];
    double lo[RECO_EXPLORE_MAX_BINS], hi[RECO_EXPLORE_MAX_BINS];
    size_t n = 0;
    for (uint32_t i = 0; i < ex->n_user_bins; i++) {
        const reco_explore_bin *b = &ex->user_bins[i];
        if (b->users < min_bin_users(ex))
            continue;
        x[n] = sqrt((double)b->lo * (double)b->hi); /* the bin's centre on a log axis */
        y[n] = b->mean_of_means;
        lo[n] = fmax(b->mean_of_means - b->sd_of_means, st->rating_min);
        hi[n] = fmin(b->mean_of_means + b->sd_of_means, st->rating_max);
        n++;
    }
    reco_chart_series s[2] = {
        {.label = "\xC2\xB1 1 standard deviation across users", .style = RECO_CHART_BAND,
         .n = n, .x = x, .lo = lo, .hi = hi, .color = RECO_CHART_BLUE, .alpha = 0.22},
        {.label = "mean of the users' mean ratings", .style = RECO_CHART_LINE_POINTS, .n = n,
         .x = x, .y = y, .color = RECO_CHART_BLUE},
    };
    char ml[64], note[80];
    snprintf(ml, sizeof ml, "mean of all ratings %.2f", st->mean);
    snprintf(note, sizeof note, "bins with fewer than %llu users not shown",
             (unsigned long long)min_bin_users(ex));
    const char *notes[1] = {note};
    reco_chart_mark mark = {true, st->mean, ml, RECO_CHART_GREY};
    reco_chart_panel p = {0};
    p.series = s;
    p.n_series = 2;
    p.marks = &mark;
    p.n_marks = 1;
    p.notes = notes;
    p.n_notes = min_bin_users(ex) > 1;
    p.x.label = "ratings per user (log bins)";
    p.x.log = true;
    p.y.label = "mean rating (stars)";
    reco_chart ch = make_chart(c, CH_BIAS, &p, 1);
    return write_chart(c, CH_BIAS, &ch, err);
}

/* ---- stats.json ---- */

static json_t *jreal(double v)
{
    return reco_json_real(v);
}

/* IDs and paths are raw bytes; JSON wants UTF-8. Invalid text keeps its
 * ASCII and gets '?' for the other bytes rather than being dropped. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        t[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    j = json_string(t);
    free(t);
    return j;
}

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *count_summary(const reco_count_summary *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "min", jint(s->min));
    json_object_set_new(o, "median", jint(s->median));
    json_object_set_new(o, "p90", jint(s->p90));
    json_object_set_new(o, "p99", jint(s->p99));
    json_object_set_new(o, "max", jint(s->max));
    json_object_set_new(o, "mean", jreal(s->mean));
    return o;
}

/* The document of `reco stats --json`, which stats.json extends: the one
 * place its keys are named (docs/json.md). */
static json_t *stats_document(const reco_stats *st, const char *file)
{
    json_t *root = json_object();
    json_object_set_new(root, "file", jstr(file));
    json_t *sum = json_object();
    json_object_set_new(sum, "users", jint(st->users));
    json_object_set_new(sum, "items", jint(st->items));
    json_object_set_new(sum, "ratings", jint(st->ratings));
    json_object_set_new(sum, "density", jreal(st->density));
    json_object_set_new(sum, "mean", jreal(st->mean));
    json_object_set_new(sum, "stddev", jreal(st->stddev));
    json_object_set_new(sum, "rating_min", jreal(st->rating_min));
    json_object_set_new(sum, "rating_max", jreal(st->rating_max));
    json_object_set_new(sum, "users_with_one_rating", jint(st->users_with_one));
    if (st->has_ts) {
        char d[32];
        json_object_set_new(sum, "time_first", json_integer(st->ts_min));
        json_object_set_new(sum, "time_last", json_integer(st->ts_max));
        fmt_date(st->ts_min, d, sizeof d);
        json_object_set_new(sum, "date_first", json_string(d));
        fmt_date(st->ts_max, d, sizeof d);
        json_object_set_new(sum, "date_last", json_string(d));
    } else {
        json_object_set_new(sum, "time_first", json_null());
        json_object_set_new(sum, "time_last", json_null());
        json_object_set_new(sum, "date_first", json_null());
        json_object_set_new(sum, "date_last", json_null());
    }
    json_object_set_new(sum, "lines", jint(st->lines));
    json_object_set_new(sum, "input_ratings", jint(st->input_ratings));
    json_object_set_new(sum, "header", json_boolean(st->header));
    json_object_set_new(sum, "separator", jstr(st->separator));
    json_object_set_new(sum, "duplicates_removed", jint(st->duplicates_removed));
    json_object_set_new(sum, "bad_lines_skipped", jint(st->bad_lines));
    json_object_set_new(sum, "filtered_users", jint(st->filtered_users));
    json_object_set_new(sum, "filtered_items", jint(st->filtered_items));
    json_object_set_new(sum, "filtered_ratings", jint(st->filtered_ratings));
    json_object_set_new(root, "summary", sum);

    json_t *hist = json_array();
    for (uint32_t b = 0; b < st->hist_bins; b++) {
        json_t *e = json_object();
        json_object_set_new(e, "rating", jreal(st->hist_value[b]));
        json_object_set_new(e, "count", jint(st->hist_count[b]));
        json_object_set_new(e, "share", jreal(ratio(st->hist_count[b], st->ratings)));
        json_array_append_new(hist, e);
    }
    json_object_set_new(root, "rating_distribution", hist);
    json_object_set_new(root, "ratings_per_user", count_summary(&st->per_user));
    json_object_set_new(root, "ratings_per_item", count_summary(&st->per_item));
    return root;
}

static reco_status dump(json_t *root, char **out, reco_error *err)
{
    char *text = root ? json_dumps(root, JSON_INDENT(2) | RECO_JSON_FLAGS) : NULL;
    json_decref(root);
    if (!text)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory writing JSON");
    *out = text;
    return RECO_OK;
}

reco_status reco_stats_json(const reco_stats *st, const char *file, char **out,
                            reco_error *err)
{
    *out = NULL;
    return dump(stats_document(st, file), out, err);
}

static json_t *build_json(const reco_explore *ex, const reco_report_options *o)
{
    const reco_stats *st = &ex->stats;
    json_t *root = stats_document(st, o->source);
    json_t *sum = json_object_get(root, "summary");
    json_object_set_new(sum, "gini_items", jreal(ex->gini));
    json_object_set_new(sum, "users_with_one_rating_share", jreal(ex->single_user_share));
    json_t *cold = json_object();
    json_object_set_new(cold, "threshold", jint(RECO_EXPLORE_COLD));
    json_object_set_new(cold, "definition",
                        json_string("users (products) with fewer than `threshold` ratings, "
                                    "as a share of all users (products)"));
    json_object_set_new(cold, "users", jint(ex->cold_users));
    json_object_set_new(cold, "users_share", jreal(ex->cold_user_share));
    json_object_set_new(cold, "items", jint(ex->cold_products));
    json_object_set_new(cold, "items_share", jreal(ex->cold_product_share));
    json_object_set_new(sum, "cold_start", cold);

    json_t *pu = json_object_get(root, "ratings_per_user");
    json_t *bins = json_array();
    for (uint32_t i = 0; i < ex->n_user_bins; i++) {
        const reco_explore_bin *b = &ex->user_bins[i];
        json_t *e = json_object();
        json_object_set_new(e, "lo", jint(b->lo));
        json_object_set_new(e, "hi", jint(b->hi));
        json_object_set_new(e, "users", jint(b->users));
        json_object_set_new(e, "users_per_value", jreal(b->per_value));
        json_array_append_new(bins, e);
    }
    json_object_set_new(pu, "bins", bins);

    json_t *pp = json_object_get(root, "ratings_per_item");
    json_t *t1 = json_object();
    json_object_set_new(t1, "items", jint(ex->top1_products));
    json_object_set_new(t1, "share", jreal(ex->top1_share));
    json_object_set_new(pp, "top_1pct", t1);
    json_t *t20 = json_object();
    json_object_set_new(t20, "items", jint(ex->top20_products));
    json_object_set_new(t20, "share", jreal(ex->top20_share));
    json_object_set_new(pp, "top_20pct", t20);
    json_t *curve = json_array();
    for (uint32_t i = 0; i < ex->n_ranks; i++)
        json_array_append_new(curve, json_pack("{s:I,s:I}", "rank", (json_int_t)ex->rank[i],
                                               "ratings", (json_int_t)ex->rank_count[i]));
    json_object_set_new(pp, "rank_curve", curve);

    json_t *top = json_array();
    for (uint32_t i = 0; i < ex->n_top; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "item", jstr(ex->top[i].id));
        json_object_set_new(e, "ratings", jint(ex->top[i].ratings));
        json_object_set_new(e, "mean", jreal(ex->top[i].mean));
        json_array_append_new(top, e);
    }
    json_object_set_new(root, "top_items", top);

    if (ex->n_months) {
        json_t *months = json_array();
        for (uint32_t i = 0; i < ex->n_months; i++) {
            char m[16];
            fmt_month(ex->months[i].month, m, sizeof m);
            json_t *e = json_object();
            json_object_set_new(e, "month", json_string(m));
            json_object_set_new(e, "ratings", jint(ex->months[i].ratings));
            json_object_set_new(e, "mean", jreal(ex->months[i].mean));
            json_array_append_new(months, e);
        }
        json_object_set_new(root, "activity", months);
    } else {
        json_object_set_new(root, "activity", json_null());
        json_object_set_new(root, "activity_note",
                            json_string(ex->time_note ? ex->time_note : "no timestamps"));
    }

    json_t *thr = json_array();
    for (int t = 1; t <= RECO_EXPLORE_THRESHOLDS; t++) {
        json_t *e = json_object();
        json_object_set_new(e, "threshold", json_integer(t));
        json_object_set_new(e, "users", jint(ex->threshold[t].users));
        json_object_set_new(e, "items", jint(ex->threshold[t].products));
        json_object_set_new(e, "ratings", jint(ex->threshold[t].ratings));
        json_array_append_new(thr, e);
    }
    json_object_set_new(root, "min_ratings_filter", thr);

    json_t *bias = json_array();
    for (uint32_t i = 0; i < ex->n_user_bins; i++) {
        const reco_explore_bin *b = &ex->user_bins[i];
        if (!b->users)
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "lo", jint(b->lo));
        json_object_set_new(e, "hi", jint(b->hi));
        json_object_set_new(e, "users", jint(b->users));
        json_object_set_new(e, "mean_of_user_means", jreal(b->mean_of_means));
        json_object_set_new(e, "sd_of_user_means", jreal(b->sd_of_means));
        json_object_set_new(e, "rating_mean", jreal(b->rating_mean));
        json_array_append_new(bias, e);
    }
    json_object_set_new(root, "mean_by_activity", bias);

    json_t *charts = json_array();
    for (int i = 0; i < RECO_REPORT_N_CHARTS; i++) {
        if (!chart_present(ex, i))
            continue;
        char png[64], svg[64];
        snprintf(png, sizeof png, "%s.png", reco_report_chart_names[i]);
        snprintf(svg, sizeof svg, "%s.svg", reco_report_chart_names[i]);
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(reco_report_chart_names[i]));
        json_object_set_new(e, "title", json_string(CHART_TITLES[i]));
        json_object_set_new(e, "png", json_string(png));
        json_object_set_new(e, "svg", json_string(svg));
        json_object_set_new(e, "width", jint(o->chart_width));
        json_object_set_new(e, "height", jint(o->chart_height));
        json_array_append_new(charts, e);
    }
    json_object_set_new(root, "charts", charts);
    return root;
}

static reco_status report_json(const reco_explore *ex, const reco_report_options *o,
                               char **out, reco_error *err)
{
    *out = NULL;
    reco_report_options defaults;
    if (!o) {
        reco_report_options_default(&defaults);
        o = &defaults;
    }
    reco_status st = reco_report_options_check(o, err);
    if (st)
        return st;
    return dump(build_json(ex, o), out, err);
}

/* ---- index.html ---- */

/* The input's name in the page ("-" is standard input). */
static const char *source_title(const reco_report_options *o, const char *none)
{
    if (!o->source)
        return none;
    return strcmp(o->source, "-") ? o->source : "standard input";
}

typedef struct html {
    FILE *f;
    bool failed;
} html;

static void put(html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(h->f, fmt, ap) < 0)
        h->failed = true;
    va_end(ap);
}

/* Writes s with HTML's special characters escaped. */
static void put_esc(html *h, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': put(h, "&amp;"); break;
        case '<': put(h, "&lt;"); break;
        case '>': put(h, "&gt;"); break;
        case '"': put(h, "&quot;"); break;
        case '\'': put(h, "&#39;"); break;
        default:
            if (fputc(*s, h->f) == EOF)
                h->failed = true;
        }
    }
}

static void row(html *h, const char *name, const char *value, const char *note)
{
    put(h, "<tr><th>%s</th><td>", name);
    put_esc(h, value);
    put(h, "</td><td class=note>%s</td></tr>\n", note ? note : "");
}

static void figure(html *h, const rctx *c, int which, const char *caption)
{
    const char *name = reco_report_chart_names[which];
    put(h, "<figure id=\"%s\">\n<img src=\"%s.png\" width=\"%u\" height=\"%u\" alt=\"%s\">\n",
        name, name, c->o->chart_width, c->o->chart_height, CHART_TITLES[which]);
    put(h, "<figcaption>%s <a href=\"%s.svg\">SVG</a> &middot; <a href=\"%s.png\">PNG</a>"
           "</figcaption>\n</figure>\n",
        caption, name, name);
}

static void write_summary(html *h, const reco_explore *ex)
{
    const reco_stats *st = &ex->stats;
    char a[64], b[64], v[160];
    put(h, "<h2 id=\"summary\">Summary</h2>\n<table class=summary>\n");
    row(h, "Users", thousands(st->users, a, sizeof a), NULL);
    row(h, "Products", thousands(st->items, a, sizeof a), NULL);
    row(h, "Ratings", thousands(st->ratings, a, sizeof a), NULL);
    snprintf(v, sizeof v, "%.6f%%", st->density * 100);
    row(h, "Density", v, "ratings / (users &times; products)");
    snprintf(v, sizeof v, "%.4f", st->mean);
    row(h, "Mean rating", v, NULL);
    snprintf(v, sizeof v, "%.4f", st->stddev);
    row(h, "Standard deviation", v, "of the ratings (population)");
    snprintf(v, sizeof v, "%g to %g", st->rating_min, st->rating_max);
    row(h, "Rating range", v, NULL);
    snprintf(v, sizeof v, "%.3f", ex->gini);
    row(h, "Gini coefficient of product popularity", v,
        "of ratings per product: 0 when every product has as many ratings, "
        "near 1 when a few products hold them all");
    snprintf(v, sizeof v, "%s (%s)", thousands(st->users_with_one, a, sizeof a),
             percent(ex->single_user_share, b, sizeof b));
    row(h, "Users with a single rating", v, NULL);
    snprintf(v, sizeof v, "%s of users (%s)", percent(ex->cold_user_share, a, sizeof a),
             thousands(ex->cold_users, b, sizeof b));
    row(h, "Cold-start users", v,
        "users with fewer than 5 ratings: too few for collaborative filtering to learn "
        "their taste");
    snprintf(v, sizeof v, "%s of products (%s)", percent(ex->cold_product_share, a, sizeof a),
             thousands(ex->cold_products, b, sizeof b));
    row(h, "Cold-start products", v, "products with fewer than 5 ratings");
    snprintf(v, sizeof v, "%s / %s", percent(ex->top1_share, a, sizeof a),
             percent(ex->top20_share, b, sizeof b));
    row(h, "Ratings held by the top 1% / 20% of products", v, NULL);
    if (st->has_ts) {
        char d1[32], d2[32];
        fmt_date(st->ts_min, d1, sizeof d1);
        fmt_date(st->ts_max, d2, sizeof d2);
        if (ex->n_months)
            snprintf(v, sizeof v, "%s to %s (%u months)", d1, d2, ex->n_months);
        else
            snprintf(v, sizeof v, "%s to %s", d1, d2);
        row(h, "Time span", v, "UTC");
    } else {
        row(h, "Time span", "no timestamps", NULL);
    }
    row(h, "Lines read", thousands(ex->lines, a, sizeof a), NULL);
    row(h, "Ratings read", thousands(ex->input_ratings, a, sizeof a), NULL);
    row(h, "Duplicates removed", thousands(st->duplicates_removed, a, sizeof a),
        "repeated (user, product) pairs: the latest rating is kept");
    row(h, "Bad lines skipped", thousands(st->bad_lines, a, sizeof a), NULL);
    if (st->filtered_ratings || st->filtered_users || st->filtered_items) {
        row(h, "Ratings removed by the filters", thousands(st->filtered_ratings, a, sizeof a),
            NULL);
        row(h, "Users removed by the filters", thousands(st->filtered_users, a, sizeof a),
            "including users left without any rating by the product filter");
        row(h, "Products removed by the filters", thousands(st->filtered_items, a, sizeof a),
            NULL);
    }
    put(h, "</table>\n");
}

static void write_quantiles(html *h, const reco_stats *st)
{
    char a[5][32];
    put(h, "<table><tr><th></th><th>min</th><th>median</th><th>p90</th><th>p99</th>"
           "<th>max</th><th>mean</th></tr>\n");
    const reco_count_summary *s[2] = {&st->per_user, &st->per_item};
    const char *name[2] = {"ratings per user", "ratings per product"};
    for (int i = 0; i < 2; i++)
        put(h, "<tr><th>%s</th><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
               "<td>%.2f</td></tr>\n",
            name[i], thousands(s[i]->min, a[0], 32), thousands(s[i]->median, a[1], 32),
            thousands(s[i]->p90, a[2], 32), thousands(s[i]->p99, a[3], 32),
            thousands(s[i]->max, a[4], 32), s[i]->mean);
    put(h, "</table>\n");
}

static reco_status write_html(const rctx *c, const char *path, reco_error *err)
{
    const reco_explore *ex = c->ex;
    const reco_stats *st = &ex->stats;
    html h = {fopen(path, "w"), false};
    if (!h.f)
        return reco_error_set(err, RECO_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    char a[64], b[64], cap[1024];
    uint32_t blue = reco_chart_color(RECO_CHART_BLUE);
    put(&h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>reco explore: ");
    put_esc(&h, source_title(c->o, "ratings"));
    put(&h, "</title>\n<style>\n"
            "body{font-family:\"DejaVu Sans\",Verdana,sans-serif;color:#262626;"
            "max-width:%upx;margin:2em auto;padding:0 1em;line-height:1.45}\n"
            "h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;"
            "border-bottom:2px solid #%06X;padding-bottom:.2em}\n"
            "table{border-collapse:collapse;margin:.8em 0;font-size:.92em}\n"
            "th,td{padding:.25em .7em;border-bottom:1px solid #e3e3e3;text-align:right;"
            "vertical-align:top}\n"
            "th{text-align:left;font-weight:600}td.note{text-align:left;color:#6b6b6b;"
            "max-width:28em}\n"
            "table.summary td:nth-child(2){white-space:nowrap}\n"
            "figure{margin:1em 0}img{max-width:100%%;height:auto;border:1px solid #eee}\n"
            "figcaption{color:#444;font-size:.92em;margin-top:.4em}\n"
            "nav a{margin-right:.8em}.src{color:#6b6b6b}\n"
            "</style>\n</head>\n<body>\n",
        c->o->chart_width + 40, blue);
    put(&h, "<h1>Exploratory analysis of the ratings</h1>\n<p class=src>");
    put_esc(&h, source_title(c->o, ""));
    put(&h, " &middot; %s users, %s products, %s ratings</p>\n",
        thousands(st->users, a, sizeof a), thousands(st->items, b, sizeof b),
        thousands(st->ratings, cap, sizeof cap));
    put(&h, "<nav><a href=\"#summary\">Summary</a>");
    for (int i = 0; i < RECO_REPORT_N_CHARTS; i++)
        if (chart_present(ex, i))
            put(&h, "<a href=\"#%s\">%s</a>", reco_report_chart_names[i], CHART_TITLES[i]);
    put(&h, "<a href=\"stats.json\">stats.json</a></nav>\n");

    write_summary(&h, ex);

    /* 1. Ratings. */
    put(&h, "<h2>%s</h2>\n", CHART_TITLES[CH_RATINGS]);
    snprintf(cap, sizeof cap,
             "Share of the ratings at each value, with the count under it. Mean %.2f, "
             "standard deviation %.2f.", st->mean, st->stddev);
    figure(&h, c, CH_RATINGS, cap);
    put(&h, "<table><tr><th>rating</th><th>ratings</th><th>share</th></tr>\n");
    for (uint32_t i = 0; i < st->hist_bins; i++)
        put(&h, "<tr><td>%g</td><td>%s</td><td>%s</td></tr>\n", st->hist_value[i],
            thousands(st->hist_count[i], a, sizeof a),
            percent(ratio(st->hist_count[i], st->ratings), b, sizeof b));
    put(&h, "</table>\n");

    /* 2. Per user. */
    put(&h, "<h2>%s</h2>\n", CHART_TITLES[CH_PER_USER]);
    snprintf(cap, sizeof cap,
             "Histogram on log&ndash;log axes: one bar for each of the counts 1, 2 and 3, "
             "then about 8 bins per decade; a bar wider than one value shows the average "
             "number of users per value, so that bars of different widths compare. %s of "
             "the users rated only once; the dashed lines mark the median (%u) and the 99th "
             "percentile (%u).",
             percent(ex->single_user_share, a, sizeof a), st->per_user.median,
             st->per_user.p99);
    figure(&h, c, CH_PER_USER, cap);
    write_quantiles(&h, st);

    /* 3. Per product. */
    put(&h, "<h2>%s</h2>\n", CHART_TITLES[CH_PER_PRODUCT]);
    char c1[32], c20[32];
    snprintf(cap, sizeof cap,
             "Ratings of each product against its popularity rank, on log&ndash;log axes. "
             "The top 1%% of products (%s) hold %s of the ratings, the top 20%% (%s) hold %s; "
             "Gini coefficient %.3f.",
             thousands(ex->top1_products, c1, sizeof c1), percent(ex->top1_share, a, sizeof a),
             thousands(ex->top20_products, c20, sizeof c20),
             percent(ex->top20_share, b, sizeof b), ex->gini);
    figure(&h, c, CH_PER_PRODUCT, cap);

    /* 4. Top products. */
    put(&h, "<h2>%s</h2>\n", CHART_TITLES[CH_TOP]);
    figure(&h, c, CH_TOP,
           "The products with the most ratings; the text gives the count and the mean "
           "rating. Ties are broken by the higher mean.");
    put(&h, "<table><tr><th>#</th><th>product</th><th>ratings</th><th>mean rating</th></tr>\n");
    for (uint32_t i = 0; i < ex->n_top; i++) {
        put(&h, "<tr><td>%u</td><td style=\"text-align:left\">", i + 1);
        put_esc(&h, ex->top[i].id);
        put(&h, "</td><td>%s</td><td>%.2f</td></tr>\n",
            thousands(ex->top[i].ratings, a, sizeof a), ex->top[i].mean);
    }
    put(&h, "</table>\n");

    /* 5. Activity. */
    put(&h, "<h2 id=\"activity-section\">%s</h2>\n", CHART_TITLES[CH_ACTIVITY]);
    if (ex->n_months) {
        uint32_t busiest = 0;
        for (uint32_t i = 1; i < ex->n_months; i++)
            if (ex->months[i].ratings > ex->months[busiest].ratings)
                busiest = i;
        char m[16];
        fmt_month(ex->months[busiest].month, m, sizeof m);
        char few[96] = "";
        if (min_month_ratings(ex) > 1)
            snprintf(few, sizeof few, " (months with fewer than %llu ratings get none)",
                     (unsigned long long)min_month_ratings(ex));
        snprintf(cap, sizeof cap,
                 "Ratings per calendar month (UTC) and their mean rating%s. The busiest month "
                 "is %s with %s ratings.",
                 few, m, thousands(ex->months[busiest].ratings, a, sizeof a));
        figure(&h, c, CH_ACTIVITY, cap);
    } else {
        put(&h, "<p>No chart: ");
        put_esc(&h, ex->time_note ? ex->time_note : "no timestamps");
        put(&h, ".</p>\n");
    }

    /* 6. Filter. */
    put(&h, "<h2>%s</h2>\n", CHART_TITLES[CH_FILTER]);
    figure(&h, c, CH_FILTER,
           "Users, products and ratings left by <code>--min-user-ratings t</code> for t from 1 "
           "to 100, as a share of the whole data (log scale). Users are kept when they have "
           "at least t ratings; a product stays when at least one kept user rated it. Only "
           "the user filter is applied (no product filter, no k-core).");
    put(&h, "<table><tr><th>threshold</th><th>users</th><th>products</th><th>ratings</th>"
            "<th>share of ratings</th></tr>\n");
    static const int shown[] = {1, 2, 3, 5, 10, 20, 30, 50, 75, 100};
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
        const reco_explore_threshold *t = &ex->threshold[shown[i]];
        char u[32], p[32], r[32], s[32];
        put(&h, "<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", shown[i],
            thousands(t->users, u, sizeof u), thousands(t->products, p, sizeof p),
            thousands(t->ratings, r, sizeof r),
            percent(ratio(t->ratings, st->ratings), s, sizeof s));
    }
    put(&h, "</table>\n");

    /* 7. Bias. */
    put(&h, "<h2>%s</h2>\n", CHART_TITLES[CH_BIAS]);
    snprintf(cap, sizeof cap,
             "Each user's mean rating, averaged over users with a similar number of ratings "
             "(the same bins as the histogram above); the band spans one standard deviation "
             "of the users' means. %s",
             min_bin_users(ex) > 1
                 ? "Bins with fewer than " XSTR(MIN_BIN_USERS) " users are left out."
                 : "");
    figure(&h, c, CH_BIAS, cap);
    put(&h, "<table><tr><th>ratings per user</th><th>users</th><th>mean of user means</th>"
            "<th>sd</th><th>mean of their ratings</th></tr>\n");
    for (uint32_t i = 0; i < ex->n_user_bins; i++) {
        const reco_explore_bin *bn = &ex->user_bins[i];
        if (!bn->users)
            continue;
        char r[48];
        if (bn->lo == bn->hi)
            thousands(bn->lo, r, sizeof r);
        else
            snprintf(r, sizeof r, "%s&ndash;%s", thousands(bn->lo, a, sizeof a),
                     thousands(bn->hi, b, sizeof b));
        put(&h, "<tr><td>%s</td><td>%s</td><td>%.3f</td><td>%.3f</td><td>%.3f</td></tr>\n", r,
            thousands(bn->users, cap, sizeof cap), bn->mean_of_means, bn->sd_of_means,
            bn->rating_mean);
    }
    put(&h, "</table>\n");
    put(&h, "<p class=src>Written by reco explore. Every number is also in "
            "<a href=\"stats.json\">stats.json</a>.</p>\n</body>\n</html>\n");
    bool failed = h.failed || ferror(h.f);
    if (fclose(h.f) != 0)
        failed = true;
    if (failed)
        return reco_error_set(err, RECO_ERR_IO, "error writing %s", path);
    return RECO_OK;
}

/* ---- directory ---- */

/* mkdir -p: creates dir and its missing parents. */
static reco_status make_dirs(const char *dir, reco_error *err)
{
    char buf[PATH_CAP];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof buf)
        return reco_error_set(err, RECO_ERR_INVALID, "report: bad directory name");
    memcpy(buf, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return reco_error_set(err, RECO_ERR_IO, "cannot create directory %s: %s", buf,
                                  strerror(errno));
        buf[i] = saved;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return reco_error_set(err, RECO_ERR_IO, "%s is not a directory", dir);
    return RECO_OK;
}

static reco_status write_text(const char *path, const char *text, reco_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return reco_error_set(err, RECO_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        return reco_error_set(err, RECO_ERR_IO, "error writing %s", path);
    return RECO_OK;
}

/* Numbers in the report and its charts are written in the "C" locale,
 * whatever the program's (see numfmt.h). */
reco_status reco_report_json(const reco_explore *ex, const reco_report_options *o, char **out,
                             reco_error *err)
{
    void *saved = reco_c_locale_begin();
    reco_status st = report_json(ex, o, out, err);
    reco_c_locale_end(saved);
    return st;
}

static reco_status report_write(const reco_explore *ex, const char *dir,
                                const reco_report_options *o, reco_error *err);

reco_status reco_report_write(const reco_explore *ex, const char *dir,
                              const reco_report_options *o, reco_error *err)
{
    void *saved = reco_c_locale_begin();
    reco_status st = report_write(ex, dir, o, err);
    reco_c_locale_end(saved);
    return st;
}

static reco_status report_write(const reco_explore *ex, const char *dir,
                                const reco_report_options *o, reco_error *err)
{
    reco_report_options defaults;
    if (!o) {
        reco_report_options_default(&defaults);
        o = &defaults;
    }
    if (!ex || !dir)
        return reco_error_set(err, RECO_ERR_INVALID, "report: no data or no directory");
    reco_status st = reco_report_options_check(o, err);
    if (st)
        return st;
    if (ex->stats.ratings == 0)
        return reco_error_set(err, RECO_ERR_EMPTY, "report: the dataset has no ratings");
    st = make_dirs(dir, err);
    if (st)
        return st;
    rctx *c = calloc(1, sizeof *c);
    if (!c)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory writing the report");
    c->ex = ex;
    c->o = o;
    c->dir = dir;
    st = chart_ratings(c, err);
    if (!st)
        st = chart_per_user(c, err);
    if (!st)
        st = chart_per_product(c, err);
    if (!st)
        st = chart_top(c, err);
    if (!st && ex->n_months)
        st = chart_activity(c, err);
    if (!st)
        st = chart_filter(c, err);
    if (!st)
        st = chart_bias(c, err);
    char *json = NULL;
    if (!st)
        st = report_json(ex, o, &json, err);
    if (!st) {
        snprintf(c->path, sizeof c->path, "%s/stats.json", dir);
        st = write_text(c->path, json, err);
    }
    free(json);
    if (!st) {
        snprintf(c->path, sizeof c->path, "%s/index.html", dir);
        st = write_html(c, c->path, err);
    }
    free(c);
    return st;
}
