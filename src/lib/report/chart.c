/* reco: charts over PLplot's cairo driver (pngcairo, svgcairo).
 *
 * Layout is done in pixels: the cairo devices map one pixel (PNG) or one
 * point (SVG) to 1/72 inch, and PLplot's character height is the cap height
 * of the font. PLplot cannot measure text (plstrl is not exported), so text
 * widths are estimated from the advance widths of DejaVu Sans, the font
 * fontconfig gives for "sans" on Debian; margins carry some slack for other
 * fonts. */
#include "reco/chart.h"

#include <float.h>
#include <math.h>
#include <plplot.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

/* seaborn "deep": distinct, not garish, readable on white. */
static const uint32_t PALETTE[RECO_CHART_N_COLORS] = {
    0x4C72B0, 0xDD8452, 0x55A868, 0xC44E52, 0x8172B3, 0x937860, 0xDA8BC3, 0x8C8C8C,
};
#define INK 0x262626     /* text */
#define SPINE 0x595959   /* axes and ticks */
#define GRID 0xE3E3E3
#define MUTED 0x6B6B6B   /* secondary text */

/* Font sizes in pixels (em size). */
#define FONT_TICK 13.0
#define FONT_LABEL 14.0
#define FONT_TITLE 17.0
#define FONT_NOTE 12.5
#define FONT_BAR 12.0

#define CAP_PER_EM 0.75 /* cap height / em of DejaVu Sans: PLplot sizes by cap height */

#define MAX_PANELS 4
#define MAX_MARKS 16
#define MAX_TICKS 64

uint32_t reco_chart_color(int i)
{
    int n = RECO_CHART_N_COLORS;
    return PALETTE[((i % n) + n) % n];
}

char *reco_fmt_thousands(double v, int decimals, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    if (!isfinite(v)) {
        snprintf(buf, cap, "%s", isnan(v) ? "n/a" : v > 0 ? "inf" : "-inf");
        return buf;
    }
    char tmp[64];
    int len = reco_snprintf_c(tmp, sizeof tmp, "%.*f", decimals, v);
    if (len < 0 || (size_t)len >= sizeof tmp) {
        reco_snprintf_c(buf, cap, "%g", v);
        return buf;
    }
    /* "-0" and "-0.00" read as noise on an axis. */
    const char *s = tmp;
    bool neg = false;
    if (*s == '-') {
        neg = strspn(s + 1, "0.") != strlen(s + 1);
        s++;
    }
    size_t int_len = strcspn(s, ".");
    size_t j = 0;
    if (neg && j + 1 < cap)
        buf[j++] = '-';
    for (size_t i = 0; s[i] && j + 1 < cap; i++) {
        if (i > 0 && i < int_len && (int_len - i) % 3 == 0) {
            if (j + 2 >= cap)
                break;
            buf[j++] = ',';
        }
        buf[j++] = s[i];
    }
    buf[j] = '\0';
    return buf;
}

/* ---- text metrics ---- */

/* Advance widths of DejaVu Sans for ASCII 32..126, in 1/2048 em. */
static const uint16_t ADVANCE[95] = {
    651,  821,  942,  1716, 1303, 1946, 1597, 563,  799,  799,  1024, 1716, 651,  739,
    651,  690,  1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 690,  690,
    1716, 1716, 1716, 1087, 2048, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 604,
    604,  1343, 1141, 1767, 1532, 1612, 1235, 1612, 1423, 1300, 1251, 1499, 1401, 2025,
    1403, 1251, 1403, 799,  690,  799,  1716, 1024, 1024, 1255, 1300, 1126, 1300, 1260,
    721,  1300, 1298, 569,  569,  1186, 569,  1995, 1298, 1253, 1300, 1300, 842,  1067,
    803,  1298, 1212, 1675, 1212, 1212, 1075, 1303, 690,  1303, 1716,
};

/* Estimated width in pixels of s (UTF-8) at em size em. */
static double text_width(const char *s, double em)
{
    double units = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 32 && *p < 127)
            units += ADVANCE[*p - 32];
        else if ((*p & 0xC0) != 0x80) /* the first byte of a code point */
            units += 1400;
    }
    return units / 2048.0 * em;
}

/* ---- drawing state ---- */

typedef struct axis_layout {
    const reco_chart_axis *spec;
    bool log, categorical;
    reco_chart_fmt fmt;
    double wmin, wmax;  /* world range (log10 units on log axes) */
    double step;        /* major tick step, world units */
    int decimals;       /* of linear tick labels */
} axis_layout;

typedef struct panel_layout {
    const reco_chart_panel *p;
    axis_layout x, y;
    double left, right, top, bottom; /* plot rectangle in pixels from the top-left */
    bool x_labels;                   /* tick labels and title under this panel */
} panel_layout;

typedef struct drawer {
    double W, H;       /* page in pixels */
    double px_mm;      /* pixels per millimetre of PLplot's page */
    PLINT plcode;      /* PLplot's recoverable error flag (plsError) */
    char plmsg[1024];
} drawer;

/* The label callback's view of the current panel's axes. */
typedef struct label_ctx {
    const axis_layout *x, *y;
} label_ctx;

static void set_color(uint32_t rgb, double alpha)
{
    /* Colour 15 is a scratch entry: cairo paints immediately, so reusing it
     * does not repaint what was drawn before. */
    plscol0a(15, (PLINT)(rgb >> 16 & 0xFF), (PLINT)(rgb >> 8 & 0xFF), (PLINT)(rgb & 0xFF),
             alpha > 0 && alpha <= 1 ? alpha : 1.0);
    plcol0(15);
}

static void set_font(const drawer *d, double em)
{
    plschr(em * CAP_PER_EM / d->px_mm, 1.0);
}

static void set_dashed(const drawer *d, bool dashed)
{
    if (!dashed) {
        pllsty(1);
        return;
    }
    PLINT mark = (PLINT)(5.0 / d->px_mm * 1000), space = (PLINT)(3.5 / d->px_mm * 1000);
    plstyl(1, &mark, &space);
}

/* Page coordinates: pixels, origin top-left. */
static void page_space(const drawer *d)
{
    plvpor(0, 1, 0, 1);
    plwind(0, d->W, d->H, 0);
}

/* Text at a page position: (x, y) is the vertical middle of the capitals
 * at horizontal justification just (0 left, 0.5 centre, 1 right). */
static void page_text(const drawer *d, double x, double y, bool vertical, double just,
                      double em, uint32_t color, const char *s)
{
    set_font(d, em);
    set_color(color, 1);
    /* The page window has y pointing down, so "up" is dy = -1. */
    if (vertical)
        plptex(x, y, 0, -1, just, s);
    else
        plptex(x, y, 1, 0, just, s);
}

static void page_rect(double x0, double y0, double x1, double y1)
{
    PLFLT xs[4] = {x0, x1, x1, x0}, ys[4] = {y0, y0, y1, y1};
    plfill(4, xs, ys);
}

/* ---- axes ---- */

static double nice_step(double range, int target)
{
    if (!(range > 0))
        return 1;
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double nf = f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10;
    return nf * mag;
}

static int step_decimals(double step)
{
    if (step >= 1)
        return 0;
    /* 2.5 steps below 1 (0.25) need one more decimal than their magnitude. */
    int d = (int)ceil(-log10(step) - 1e-9);
    double scaled = step * pow(10, d);
    if (fabs(scaled - round(scaled)) > 1e-6)
        d++;
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

static const char *const MONTHS[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* The text of the tick at world value v. */
static void tick_label(const axis_layout *a, double v, char *buf, size_t cap)
{
    if (a->fmt == RECO_CHART_FMT_MONTH && !a->log) {
        long m = lround(v);
        long y = (m >= 0 ? m / 12 : -((-m + 11) / 12)) + 1970;
        int mi = (int)(((m % 12) + 12) % 12);
        if (a->step >= 12)
            snprintf(buf, cap, "%ld", y);
        else
            snprintf(buf, cap, "%s %ld", MONTHS[mi], y);
        return;
    }
    double value = v;
    int dec = a->decimals;
    if (a->log) {
        /* Decades, or 2x / 5x of one: keep the value's leading digit exact. */
        double e = floor(v + 1e-9);
        double mant = round(pow(10, v - e));
        value = mant * pow(10, e);
        dec = e < 0 ? (int)-e : 0;
    } else if (fabs(v) < a->step * 1e-6) {
        value = 0;
    }
    reco_fmt_thousands(value, dec, buf, cap);
    if (a->fmt == RECO_CHART_FMT_PERCENT) {
        size_t l = strlen(buf);
        if (l + 1 < cap) {
            buf[l] = '%';
            buf[l + 1] = '\0';
        }
    }
}

static void label_cb(PLINT axis, PLFLT value, char *buf, PLINT len, PLPointer data)
{
    const label_ctx *lc = data;
    tick_label(axis == PL_X_AXIS ? lc->x : lc->y, value, buf, (size_t)len);
}

/* World values of the major ticks (labels) within the range. */
static size_t tick_values(const axis_layout *a, double *out)
{
    size_t n = 0;
    double step = a->log ? 1.0 : a->step;
    double eps = step * 1e-6;
    double t = ceil((a->wmin - eps) / step) * step;
    for (; t <= a->wmax + eps && n < MAX_TICKS; t += step)
        out[n++] = t;
    return n;
}

/* A log axis over two decades or less gets labels at 2x and 5x too (drawn
 * by us; PLplot labels decades only). Their world values go to out. */
static size_t extra_log_ticks(const axis_layout *a, double *out)
{
    size_t n = 0;
    if (!a->log || a->categorical || a->wmax - a->wmin > 2 + 1e-9)
        return 0;
    for (double e = floor(a->wmin); e <= a->wmax && n + 2 <= MAX_TICKS; e += 1) {
        double cand[2] = {e + log10(2.0), e + log10(5.0)};
        for (int k = 0; k < 2; k++)
            if (cand[k] >= a->wmin - 1e-9 && cand[k] <= a->wmax + 1e-9)
                out[n++] = cand[k];
    }
    return n;
}

static double max_tick_width(const axis_layout *a, double em)
{
    double ticks[2 * MAX_TICKS], w = 0;
    size_t n = tick_values(a, ticks);
    n += extra_log_ticks(a, ticks + n);
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        tick_label(a, ticks[i], buf, sizeof buf);
        double tw = text_width(buf, em);
        if (tw > w)
            w = tw;
    }
    return w;
}

typedef struct range {
    double lo, hi;
    bool any;
} range;

static void range_add(range *r, double v, bool log)
{
    if (!isfinite(v) || (log && v <= 0))
        return;
    if (!r->any) {
        r->lo = r->hi = v;
        r->any = true;
    } else {
        if (v < r->lo)
            r->lo = v;
        if (v > r->hi)
            r->hi = v;
    }
}

/* Sets the world range and ticks of a numeric axis from its spec and the
 * data range; target is the wished number of ticks. */
static void axis_fit(axis_layout *a, const reco_chart_axis *spec, range r, int target)
{
    a->spec = spec;
    a->log = spec->log;
    a->fmt = spec->fmt;
    a->categorical = false;
    if (spec->min < spec->max && (!spec->log || spec->min > 0)) {
        r.lo = spec->min;
        r.hi = spec->max;
        r.any = true;
    } else if (spec->include_zero && !spec->log) {
        range_add(&r, 0, false);
    }
    bool fixed = spec->min < spec->max;
    if (a->log) {
        if (!r.any) {
            r.lo = 1;
            r.hi = 10;
        }
        a->wmin = fixed ? log10(r.lo) : floor(log10(r.lo) + 1e-9);
        a->wmax = fixed ? log10(r.hi) : ceil(log10(r.hi) - 1e-9);
        if (a->wmax <= a->wmin)
            a->wmax = a->wmin + 1;
        a->step = 1;
        a->decimals = 0;
        return;
    }
    if (!r.any) {
        r.lo = 0;
        r.hi = 1;
    }
    if (r.hi <= r.lo) {
        double pad = fabs(r.lo) > 0 ? fabs(r.lo) * 0.1 : 1;
        r.lo -= pad;
        r.hi += pad;
    }
    if (a->fmt == RECO_CHART_FMT_MONTH) {
        static const double steps[] = {1, 2, 3, 6, 12, 24, 36, 60, 120, 240, 600, 1200};
        size_t i = 0;
        while (i + 1 < sizeof steps / sizeof steps[0] && (r.hi - r.lo) / steps[i] > target)
            i++;
        a->step = steps[i];
        a->wmin = r.lo;
        a->wmax = r.hi;
        a->decimals = 0;
        return;
    }
    /* Lines and points keep off the frame, as matplotlib's margins do. */
    if (!fixed && !spec->include_zero) {
        double pad = 0.05 * (r.hi - r.lo);
        r.lo -= pad;
        r.hi += pad;
    }
    a->step = nice_step(r.hi - r.lo, target);
    if (spec->integer && a->step < 1)
        a->step = 1;
    a->decimals = step_decimals(a->step);
    if (fixed) {
        a->wmin = r.lo;
        a->wmax = r.hi;
    } else {
        a->wmin = floor(r.lo / a->step + 1e-9) * a->step;
        a->wmax = ceil(r.hi / a->step - 1e-9) * a->step;
    }
}

static double to_world(const axis_layout *a, double v)
{
    if (a->log)
        return v > 0 ? log10(v) : NAN;
    return v;
}

/* Pixel position of world value w on a panel's axis. */
static double px_x(const panel_layout *pl, double w)
{
    return pl->left + (w - pl->x.wmin) / (pl->x.wmax - pl->x.wmin) * (pl->right - pl->left);
}

static double px_y(const panel_layout *pl, double w)
{
    return pl->bottom - (w - pl->y.wmin) / (pl->y.wmax - pl->y.wmin) * (pl->bottom - pl->top);
}

static void panel_space(const drawer *d, const panel_layout *pl)
{
    plvpor(pl->left / d->W, pl->right / d->W, 1 - pl->bottom / d->H, 1 - pl->top / d->H);
    plwind(pl->x.wmin, pl->x.wmax, pl->y.wmin, pl->y.wmax);
}

/* ---- validation ---- */

static reco_status check_series(const reco_chart_series *s, size_t p, size_t i, reco_error *err)
{
    if (s->n == 0)
        return RECO_OK;
    if (!s->x)
        return reco_error_set(err, RECO_ERR_INVALID, "chart panel %zu series %zu: no x values",
                              p, i);
    bool need_lohi = s->style == RECO_CHART_BARS || s->style == RECO_CHART_BAND;
    if (need_lohi && (!s->lo || !s->hi))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "chart panel %zu series %zu: bars and bands need lo and hi", p, i);
    if (s->style != RECO_CHART_BAND && !s->y)
        return reco_error_set(err, RECO_ERR_INVALID, "chart panel %zu series %zu: no y values",
                              p, i);
    if (s->n > 10000000)
        return reco_error_set(err, RECO_ERR_TOO_LARGE,
                              "chart panel %zu series %zu: %zu points is too many", p, i, s->n);
    return RECO_OK;
}

static reco_status check_chart(const reco_chart *c, reco_error *err)
{
    if (!c || !c->panels || c->n_panels == 0 || c->n_panels > MAX_PANELS)
        return reco_error_set(err, RECO_ERR_INVALID, "a chart needs 1 to %d panels", MAX_PANELS);
    if (c->width < 200 || c->width > 8000 || c->height < 200 || c->height > 8000)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "chart size %ux%u is outside 200..8000 pixels", c->width, c->height);
    for (size_t p = 0; p < c->n_panels; p++) {
        const reco_chart_panel *pn = &c->panels[p];
        if (pn->n_series && !pn->series)
            return reco_error_set(err, RECO_ERR_INVALID, "chart panel %zu: series missing", p);
        if ((pn->n_marks && !pn->marks) || pn->n_marks > MAX_MARKS)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "chart panel %zu: up to %d marks, with their array", p,
                                  MAX_MARKS);
        if (pn->n_notes && !pn->notes)
            return reco_error_set(err, RECO_ERR_INVALID, "chart panel %zu: notes missing", p);
        for (size_t i = 0; i < pn->n_series; i++) {
            reco_status st = check_series(&pn->series[i], p, i, err);
            if (st)
                return st;
        }
        if (pn->bars) {
            const reco_chart_bars *b = pn->bars;
            if (b->n == 0 || b->n > 1000 || !b->names || !b->values)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "chart panel %zu: bars need 1..1000 names and values", p);
            bool value_log = b->horizontal ? pn->x.log : pn->y.log;
            if (value_log)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "chart panel %zu: categorical bars need a linear axis", p);
            for (size_t i = 0; i < b->n; i++)
                if (!b->names[i])
                    return reco_error_set(err, RECO_ERR_INVALID,
                                          "chart panel %zu: bar %zu has no name", p, i);
        }
    }
    return RECO_OK;
}

/* ---- layout ---- */

static range data_range(const reco_chart_panel *pn, bool want_x, bool log)
{
    range r = {0, 0, false};
    for (size_t i = 0; i < pn->n_series; i++) {
        const reco_chart_series *s = &pn->series[i];
        for (size_t k = 0; k < s->n; k++) {
            if (want_x) {
                if (s->style == RECO_CHART_BARS) {
                    range_add(&r, s->lo[k], log);
                    range_add(&r, s->hi[k], log);
                } else {
                    range_add(&r, s->x[k], log);
                }
            } else if (s->style == RECO_CHART_BAND) {
                range_add(&r, s->lo[k], log);
                range_add(&r, s->hi[k], log);
            } else {
                range_add(&r, s->y[k], log);
            }
        }
    }
    for (size_t i = 0; i < pn->n_marks; i++)
        if (pn->marks[i].horizontal != want_x)
            range_add(&r, pn->marks[i].value, log);
    if (pn->bars) {
        bool value_axis = pn->bars->horizontal == want_x;
        if (value_axis)
            for (size_t i = 0; i < pn->bars->n; i++)
                range_add(&r, pn->bars->values[i], log);
    }
    return r;
}

static void categorical_axis(axis_layout *a, const reco_chart_axis *spec, size_t n)
{
    memset(a, 0, sizeof *a);
    a->spec = spec;
    a->categorical = true;
    a->wmin = 0.5;
    a->wmax = (double)n + 0.5;
    a->step = 1;
}

static double max_name_width(const reco_chart_bars *b, double em)
{
    double w = 0;
    for (size_t i = 0; i < b->n; i++) {
        double tw = text_width(b->names[i], em);
        if (tw > w)
            w = tw;
    }
    return w;
}

/* Extends the value axis so that the text at the end of each bar fits in
 * the plot (needs the plot size in pixels, hence after the layout). */
static void bars_headroom(panel_layout *pl)
{
    const reco_chart_bars *b = pl->p->bars;
    if (!b || (!b->texts && !b->subtexts))
        return;
    axis_layout *a = b->horizontal ? &pl->x : &pl->y;
    double len = b->horizontal ? pl->right - pl->left : pl->bottom - pl->top;
    double need_max = a->wmax;
    for (size_t i = 0; i < b->n; i++) {
        double v = b->values[i];
        if (!isfinite(v) || v <= 0)
            continue;
        double room;
        if (b->horizontal) {
            room = 8;
            if (b->texts && b->texts[i])
                room += text_width(b->texts[i], FONT_BAR) + 6;
            if (b->subtexts && b->subtexts[i])
                room += text_width(b->subtexts[i], FONT_BAR) + 6;
        } else {
            room = 8 + (b->texts ? FONT_BAR * 1.3 : 0) + (b->subtexts ? FONT_BAR * 1.3 : 0);
        }
        if (room >= len * 0.8)
            room = len * 0.8;
        /* v / M * len + room <= len, with the axis starting at wmin (0). */
        double m = a->wmin + (v - a->wmin) * len / (len - room);
        if (m > need_max)
            need_max = m;
    }
    a->wmax = need_max;
}

static void layout(const drawer *d, const reco_chart *c, panel_layout *pls)
{
    const double pad = 12;
    double tick_h = FONT_TICK * CAP_PER_EM;
    double label_h = FONT_LABEL * CAP_PER_EM;
    double top = pad + (c->title ? FONT_TITLE * 1.5 + 10 : 0);
    double gap = 22; /* between stacked panels */
    double tick_len = 5;

    /* Axes first: the left margin depends on the y tick label widths. */
    double left_need = 0, right_need = 0;
    for (size_t i = 0; i < c->n_panels; i++) {
        panel_layout *pl = &pls[i];
        const reco_chart_panel *pn = &c->panels[i];
        memset(pl, 0, sizeof *pl);
        pl->p = pn;
        pl->x_labels = i + 1 == c->n_panels;
        double plot_h_guess = (d->H - top - 70) / (double)c->n_panels;
        int ytarget = plot_h_guess > 250 ? 6 : plot_h_guess > 150 ? 4 : 3;
        if (pn->bars && !pn->bars->horizontal)
            categorical_axis(&pl->x, &pn->x, pn->bars->n);
        else
            axis_fit(&pl->x, &pn->x, data_range(pn, true, pn->x.log),
                     pn->x.fmt == RECO_CHART_FMT_MONTH ? 10 : 8);
        if (pn->bars && pn->bars->horizontal)
            categorical_axis(&pl->y, &pn->y, pn->bars->n);
        else
            axis_fit(&pl->y, &pn->y, data_range(pn, false, pn->y.log), ytarget);
        double lw;
        if (pl->y.categorical)
            lw = max_name_width(pn->bars, FONT_TICK) + 10;
        else
            lw = max_tick_width(&pl->y, FONT_TICK) + tick_h * 1.0 + tick_len;
        if (pn->y.label)
            lw += label_h + 16;
        if (lw > left_need)
            left_need = lw;
        /* The last x tick label is centred on the right edge. */
        if (pl->x_labels && !pl->x.categorical) {
            double ticks[MAX_TICKS];
            size_t nt = tick_values(&pl->x, ticks);
            if (nt && fabs(ticks[nt - 1] - pl->x.wmax) < 1e-9 * (pl->x.wmax - pl->x.wmin + 1)) {
                char buf[64];
                tick_label(&pl->x, ticks[nt - 1], buf, sizeof buf);
                double rw = text_width(buf, FONT_TICK) / 2 + 4;
                if (rw > right_need)
                    right_need = rw;
            }
        }
    }
    double left = pad + left_need;
    double right = d->W - (right_need > 22 ? right_need : 22);
    double bottom_margin = pad + tick_len + tick_h * 1.75 + tick_h / 2 + 10;
    if (c->panels[c->n_panels - 1].x.label)
        bottom_margin += label_h + 12;
    double total = d->H - top - bottom_margin - gap * (double)(c->n_panels - 1);
    double wsum = 0;
    for (size_t i = 0; i < c->n_panels; i++)
        wsum += c->panels[i].weight > 0 ? c->panels[i].weight : 1;
    double y = top;
    for (size_t i = 0; i < c->n_panels; i++) {
        double w = c->panels[i].weight > 0 ? c->panels[i].weight : 1;
        double h = total * w / wsum;
        pls[i].left = left;
        pls[i].right = right;
        pls[i].top = y;
        pls[i].bottom = y + h;
        y += h + gap;
        bars_headroom(&pls[i]);
    }
}

/* ---- drawing ---- */

static void draw_grid(const drawer *d, const panel_layout *pl)
{
    panel_space(d, pl);
    set_color(GRID, 1);
    plwidth(1.0);
    pllsty(1);
    char xo[8] = "", yo[8] = "";
    if (!pl->x.categorical)
        snprintf(xo, sizeof xo, "g%s", pl->x.log ? "l" : "");
    if (!pl->y.categorical)
        snprintf(yo, sizeof yo, "g%s", pl->y.log ? "l" : "");
    plbox(xo, pl->x.step, 0, yo, pl->y.step, 0);
    double extra[MAX_TICKS];
    size_t n = extra_log_ticks(&pl->x, extra);
    for (size_t i = 0; i < n; i++) {
        PLFLT xs[2] = {extra[i], extra[i]}, ys[2] = {pl->y.wmin, pl->y.wmax};
        plline(2, xs, ys);
    }
    n = extra_log_ticks(&pl->y, extra);
    for (size_t i = 0; i < n; i++) {
        PLFLT xs[2] = {pl->x.wmin, pl->x.wmax}, ys[2] = {extra[i], extra[i]};
        plline(2, xs, ys);
    }
}

static int minor_ticks(const axis_layout *a)
{
    if (a->fmt == RECO_CHART_FMT_MONTH)
        return a->step == 12 ? 4 : a->step > 12 ? (int)(a->step / 12) : 0;
    return 0;
}

static void draw_axes(const drawer *d, const panel_layout *pl, label_ctx *lc)
{
    panel_space(d, pl);
    set_color(SPINE, 1);
    plwidth(1.0);
    pllsty(1);
    set_font(d, FONT_TICK);
    lc->x = &pl->x;
    lc->y = &pl->y;
    plslabelfunc(label_cb, lc);
    char xo[16], yo[16];
    /* Spines and ticks in grey, then the tick labels ('x': labels without
     * tick marks) in the ink colour. */
    snprintf(xo, sizeof xo, "b%s", pl->x.categorical ? "" : pl->x.log ? "tils" :
             minor_ticks(&pl->x) ? "tis" : "ti");
    snprintf(yo, sizeof yo, "b%s", pl->y.categorical ? "" : pl->y.log ? "tils" : "ti");
    plbox(xo, pl->x.step, minor_ticks(&pl->x), yo, pl->y.step, 0);
    set_color(INK, 1);
    snprintf(xo, sizeof xo, "%s", pl->x.categorical || !pl->x_labels ? "" :
             pl->x.log ? "xinol" : "xino");
    snprintf(yo, sizeof yo, "%s", pl->y.categorical ? "" : pl->y.log ? "xinvol" : "xinvo");
    plbox(xo, pl->x.step, 0, yo, pl->y.step, 0);
    plslabelfunc(NULL, NULL);

    /* Labels at 2x and 5x on short log axes, placed as PLplot places its
     * own: right-aligned one character height left of the y axis, centred
     * 1.75 character heights under the x axis. */
    double ht = FONT_TICK * CAP_PER_EM, extra[MAX_TICKS];
    char buf[64];
    size_t n = extra_log_ticks(&pl->y, extra);
    for (size_t i = 0; i < n; i++) {
        tick_label(&pl->y, extra[i], buf, sizeof buf);
        page_space(d);
        page_text(d, pl->left - ht, px_y(pl, extra[i]), false, 1.0, FONT_TICK, INK, buf);
    }
    n = pl->x_labels ? extra_log_ticks(&pl->x, extra) : 0;
    for (size_t i = 0; i < n; i++) {
        tick_label(&pl->x, extra[i], buf, sizeof buf);
        page_space(d);
        page_text(d, px_x(pl, extra[i]), pl->bottom + 1.75 * ht, false, 0.5, FONT_TICK, INK,
                  buf);
    }
}

static void fill_box_world(double x0, double x1, double y0, double y1)
{
    PLFLT xs[4] = {x0, x0, x1, x1}, ys[4] = {y0, y1, y1, y0};
    plfill(4, xs, ys);
}

static void draw_cat_bars(const drawer *d, const panel_layout *pl)
{
    const reco_chart_bars *b = pl->p->bars;
    panel_space(d, pl);
    double width = b->n > 12 ? 0.72 : 0.66;
    uint32_t color = reco_chart_color(b->color);
    for (size_t i = 0; i < b->n; i++) {
        double v = b->values[i];
        if (!isfinite(v))
            continue;
        double c = b->horizontal ? (double)(b->n - i) : (double)(i + 1);
        set_color(color, 1);
        if (b->horizontal)
            fill_box_world(pl->x.wmin, v, c - width / 2, c + width / 2);
        else
            fill_box_world(c - width / 2, c + width / 2, pl->y.wmin, v);
    }
    /* Names and texts in page space. */
    page_space(d);
    for (size_t i = 0; i < b->n; i++) {
        double v = isfinite(b->values[i]) ? b->values[i] : 0;
        const char *t = b->texts ? b->texts[i] : NULL;
        const char *st = b->subtexts ? b->subtexts[i] : NULL;
        if (b->horizontal) {
            double yc = px_y(pl, (double)(b->n - i));
            page_text(d, pl->left - 8, yc, false, 1.0, FONT_TICK, INK, b->names[i]);
            double x = px_x(pl, v) + 6;
            if (t) {
                page_text(d, x, yc, false, 0, FONT_BAR, INK, t);
                x += text_width(t, FONT_BAR) + 6;
            }
            if (st)
                page_text(d, x, yc, false, 0, FONT_BAR, MUTED, st);
        } else {
            double xc = px_x(pl, (double)(i + 1));
            page_text(d, xc, pl->bottom + 5 + FONT_TICK * CAP_PER_EM * 1.75, false, 0.5,
                      FONT_TICK, INK, b->names[i]);
            double y = px_y(pl, v) - 6 - FONT_BAR * CAP_PER_EM / 2;
            if (st) {
                page_text(d, xc, y, false, 0.5, FONT_BAR, MUTED, st);
                y -= FONT_BAR * 1.3;
            }
            if (t)
                page_text(d, xc, y, false, 0.5, FONT_BAR, INK, t);
        }
    }
}

/* A series' points in world coordinates, dropping those a log axis cannot
 * show. Returns the number kept. */
static size_t world_points(const panel_layout *pl, const reco_chart_series *s, PLFLT *wx,
                           PLFLT *wy)
{
    size_t m = 0;
    for (size_t k = 0; k < s->n; k++) {
        double x = to_world(&pl->x, s->x[k]);
        double y = to_world(&pl->y, s->y[k]);
        if (isfinite(x) && isfinite(y)) {
            wx[m] = x;
            wy[m] = y;
            m++;
        }
    }
    return m;
}

static void draw_dots(const drawer *d, const panel_layout *pl, const PLFLT *wx, const PLFLT *wy,
                      size_t m, double r_px)
{
    (void)d;
    double ax = r_px * (pl->x.wmax - pl->x.wmin) / (pl->right - pl->left);
    double ay = r_px * (pl->y.wmax - pl->y.wmin) / (pl->bottom - pl->top);
    for (size_t k = 0; k < m; k++)
        plarc(wx[k], wy[k], ax, ay, 0, 360, 0, 1);
}

static reco_status draw_series(const drawer *d, const panel_layout *pl,
                               const reco_chart_series *s, reco_error *err)
{
    if (s->n == 0)
        return RECO_OK;
    PLFLT *wx = malloc(2 * s->n * sizeof *wx);
    if (!wx)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory drawing a chart");
    PLFLT *wy = wx + s->n;
    uint32_t color = reco_chart_color(s->color);
    double alpha = s->alpha > 0 ? s->alpha : 1;
    panel_space(d, pl);
    set_color(color, alpha);
    switch (s->style) {
    case RECO_CHART_BARS: {
        double floor_y = pl->y.wmin;
        for (size_t k = 0; k < s->n; k++) {
            double x0 = to_world(&pl->x, s->lo[k]), x1 = to_world(&pl->x, s->hi[k]);
            double y = to_world(&pl->y, s->y[k]);
            if (!isfinite(x0) || !isfinite(x1) || !isfinite(y) || y <= floor_y)
                continue;
            set_color(color, alpha);
            fill_box_world(x0, x1, floor_y, y);
            /* A white edge separates neighbouring bars, as seaborn does,
             * unless the bars are too narrow to keep any colour. */
            if (px_x(pl, x1) - px_x(pl, x0) < 5)
                continue;
            set_color(0xFFFFFF, 1);
            plwidth(1.0);
            PLFLT ex[4] = {x0, x0, x1, x1}, ey[4] = {floor_y, y, y, floor_y};
            plline(4, ex, ey);
        }
        break;
    }
    case RECO_CHART_BAND: {
        /* The polygon: lo forward, hi backward. */
        PLFLT *px = malloc(4 * s->n * sizeof *px);
        if (!px) {
            free(wx);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory drawing a chart");
        }
        PLFLT *py = px + 2 * s->n;
        size_t m = 0;
        for (size_t k = 0; k < s->n; k++) {
            double x = to_world(&pl->x, s->x[k]), y = to_world(&pl->y, s->lo[k]);
            if (isfinite(x) && isfinite(y)) {
                px[m] = x;
                py[m] = y;
                m++;
            }
        }
        for (size_t k = s->n; k-- > 0;) {
            double x = to_world(&pl->x, s->x[k]), y = to_world(&pl->y, s->hi[k]);
            if (isfinite(x) && isfinite(y)) {
                px[m] = x;
                py[m] = y;
                m++;
            }
        }
        if (m >= 3)
            plfill((PLINT)m, px, py);
        free(px);
        break;
    }
    case RECO_CHART_LINE:
    case RECO_CHART_POINTS:
    case RECO_CHART_LINE_POINTS: {
        if (s->style != RECO_CHART_POINTS) {
            /* A value that cannot be shown (NaN, or <= 0 on a log axis)
             * breaks the line rather than being bridged. */
            plwidth(2.25);
            set_dashed(d, s->dashed);
            size_t run = 0;
            for (size_t k = 0; k <= s->n; k++) {
                double x = k < s->n ? to_world(&pl->x, s->x[k]) : NAN;
                double y = k < s->n ? to_world(&pl->y, s->y[k]) : NAN;
                if (isfinite(x) && isfinite(y)) {
                    wx[run] = x;
                    wy[run] = y;
                    run++;
                    continue;
                }
                if (run >= 2)
                    plline((PLINT)run, wx, wy);
                else if (run == 1) /* an isolated value: a dot, not nothing */
                    draw_dots(d, pl, wx, wy, 1, 2.0);
                run = 0;
            }
            pllsty(1);
        }
        size_t m = world_points(pl, s, wx, wy);
        if (s->style != RECO_CHART_LINE)
            draw_dots(d, pl, wx, wy, m, s->style == RECO_CHART_POINTS ? 2.5 : 3.5);
        break;
    }
    }
    plwidth(1.0);
    free(wx);
    return RECO_OK;
}

typedef struct box {
    double x0, y0, x1, y1;
} box;

static double overlap(box a, box b)
{
    double w = fmin(a.x1, b.x1) - fmax(a.x0, b.x0);
    double h = fmin(a.y1, b.y1) - fmax(a.y0, b.y0);
    return w > 0 && h > 0 ? w * h : 0;
}

/* Length in pixels of the polyline (data points) inside the box, sampled
 * every 3 pixels. */
static double polyline_cost(const panel_layout *pl, const double *xs, const double *ys,
                            size_t n, box b)
{
    double cost = 0, px0 = NAN, py0 = NAN;
    for (size_t k = 0; k < n; k++) {
        double wx = to_world(&pl->x, xs[k]), wy = to_world(&pl->y, ys[k]);
        if (!isfinite(wx) || !isfinite(wy)) {
            px0 = NAN;
            continue;
        }
        double px = px_x(pl, wx), py = px_y(pl, wy);
        if (isfinite(px0)) {
            double len = hypot(px - px0, py - py0);
            int steps = (int)(len / 3) + 1;
            for (int j = 0; j <= steps; j++) {
                double t = (double)j / steps;
                double sx = px0 + t * (px - px0), sy = py0 + t * (py - py0);
                if (sx >= b.x0 && sx <= b.x1 && sy >= b.y0 && sy <= b.y1)
                    cost += len / (steps + 1);
            }
        } else if (px >= b.x0 && px <= b.x1 && py >= b.y0 && py <= b.y1) {
            cost += 3;
        }
        px0 = px;
        py0 = py;
    }
    return cost;
}

/* How much data a box (page pixels) would hide: covered bar area counts
 * half, lines and points by their covered length, band edges half. */
static double data_cost(const panel_layout *pl, box b)
{
    const reco_chart_panel *pn = pl->p;
    double cost = 0;
    for (size_t i = 0; i < pn->n_series; i++) {
        const reco_chart_series *s = &pn->series[i];
        if (s->style == RECO_CHART_BARS) {
            for (size_t k = 0; k < s->n; k++) {
                double wx0 = to_world(&pl->x, s->lo[k]), wx1 = to_world(&pl->x, s->hi[k]);
                double wy = to_world(&pl->y, s->y[k]);
                if (!isfinite(wx0) || !isfinite(wx1) || !isfinite(wy))
                    continue;
                box bar = {px_x(pl, wx0), px_y(pl, wy), px_x(pl, wx1), pl->bottom};
                cost += overlap(b, bar) / 2;
            }
        } else if (s->style == RECO_CHART_BAND) {
            cost += polyline_cost(pl, s->x, s->lo, s->n, b) / 2;
            cost += polyline_cost(pl, s->x, s->hi, s->n, b) / 2;
        } else {
            cost += polyline_cost(pl, s->x, s->y, s->n, b);
        }
    }
    if (pn->bars) {
        const reco_chart_bars *cb = pn->bars;
        for (size_t k = 0; k < cb->n; k++) {
            double v = isfinite(cb->values[k]) ? cb->values[k] : 0;
            box bar;
            if (cb->horizontal) {
                double yc = px_y(pl, (double)(cb->n - k));
                bar = (box){pl->left, yc - 8, px_x(pl, v) + 120, yc + 8};
            } else {
                double xc = px_x(pl, (double)(k + 1));
                bar = (box){xc - 40, px_y(pl, v) - 36, xc + 40, pl->bottom};
            }
            cost += overlap(b, bar) / 2;
        }
    }
    return cost;
}

/* Where a mark and its label go, in page pixels. */
typedef struct mark_place {
    bool visible;      /* the value is inside the axis range */
    bool labelled;
    double w;          /* world value */
    box line;          /* the line, a few pixels wide */
    box label;         /* the label's underlay */
    double tx, ty, just;
} mark_place;

/* Labels go where they hide the least data and no other label. */
static void place_marks(const panel_layout *pl, mark_place *mp)
{
    const reco_chart_panel *pn = pl->p;
    double half_up = FONT_NOTE * 0.6, half_down = FONT_NOTE * 0.55;
    for (size_t i = 0; i < pn->n_marks; i++) {
        const reco_chart_mark *mk = &pn->marks[i];
        mark_place *m = &mp[i];
        memset(m, 0, sizeof *m);
        const axis_layout *a = mk->horizontal ? &pl->y : &pl->x;
        m->w = to_world(a, mk->value);
        m->visible = isfinite(m->w) && m->w >= a->wmin - 1e-9 && m->w <= a->wmax + 1e-9;
        if (!m->visible)
            continue;
        double tw = mk->label ? text_width(mk->label, FONT_NOTE) : 0;
        m->labelled = mk->label != NULL;
        if (mk->horizontal) {
            double y = px_y(pl, m->w);
            m->line = (box){pl->left, y - 2, pl->right, y + 2};
            /* Above or below the line, at its right or left end. */
            double best = INFINITY;
            for (int k = 0; k < 4; k++) {
                bool left = k & 1;
                double ty = k < 2 ? y - 9 : y + 10;
                box b = left ? (box){pl->left + 4, ty - half_up, pl->left + 8 + tw, ty + half_down}
                             : (box){pl->right - 6 - tw, ty - half_up, pl->right - 2,
                                     ty + half_down};
                if (b.y0 < pl->top || b.y1 > pl->bottom)
                    continue;
                double cost = data_cost(pl, b);
                if (cost < best - 1e-9) {
                    best = cost;
                    m->label = b;
                    m->tx = left ? pl->left + 6 : pl->right - 4;
                    m->ty = ty;
                    m->just = left ? 0 : 1;
                }
            }
            if (!isfinite(best))
                m->labelled = false;
        } else {
            double x = px_x(pl, m->w);
            m->line = (box){x - 2, pl->top, x + 2, pl->bottom};
            if (!m->labelled)
                continue;
            /* Candidates: right or left of the line, near the top or the
             * bottom, a row further in when a label is already there; the
             * cheapest in hidden data and overlap wins, earlier ones on ties. */
            double best = INFINITY;
            for (int k = 0; k < 4 * 3; k++) {
                int side = k % 2, at_bottom = (k / 2) % 2, r = k / 4;
                double lx0 = side ? x - 5 - tw : x + 5;
                if (lx0 < pl->left + 2 || lx0 + tw > pl->right - 2)
                    continue;
                double y = at_bottom ? pl->bottom - 10 - r * FONT_NOTE * 1.35
                                     : pl->top + 10 + r * FONT_NOTE * 1.35;
                box b = {lx0 - 2, y - half_up, lx0 + tw + 2, y + half_down};
                double cost = data_cost(pl, b) + k * 0.01;
                for (size_t j = 0; j < i; j++)
                    if (mp[j].visible && mp[j].labelled)
                        cost += overlap(b, mp[j].label) * 100;
                if (cost < best) {
                    best = cost;
                    m->label = b;
                    m->tx = lx0;
                    m->ty = y;
                    m->just = 0;
                }
            }
            if (!isfinite(best))
                m->labelled = false;
        }
    }
}

static void draw_marks(const drawer *d, const panel_layout *pl, const mark_place *mp)
{
    const reco_chart_panel *pn = pl->p;
    for (size_t i = 0; i < pn->n_marks; i++) {
        const reco_chart_mark *mk = &pn->marks[i];
        const mark_place *m = &mp[i];
        if (!m->visible)
            continue;
        uint32_t color = reco_chart_color(mk->color);
        panel_space(d, pl);
        set_color(color, 1);
        plwidth(1.75);
        set_dashed(d, true);
        if (mk->horizontal) {
            PLFLT xs[2] = {pl->x.wmin, pl->x.wmax}, ys[2] = {m->w, m->w};
            plline(2, xs, ys);
        } else {
            PLFLT xs[2] = {m->w, m->w}, ys[2] = {pl->y.wmin, pl->y.wmax};
            plline(2, xs, ys);
        }
        pllsty(1);
        plwidth(1.0);
    }
    /* Labels after every line, so that no line crosses a label. */
    for (size_t i = 0; i < pn->n_marks; i++) {
        const mark_place *m = &mp[i];
        if (!m->visible || !m->labelled)
            continue;
        page_space(d);
        /* A white underlay keeps the label readable over data. */
        set_color(0xFFFFFF, 0.85);
        page_rect(m->label.x0, m->label.y0, m->label.x1, m->label.y1);
        page_text(d, m->tx, m->ty, false, m->just, FONT_NOTE, reco_chart_color(pn->marks[i].color),
                  pn->marks[i].label);
    }
}

/* Legend cost: the data it hides, mark labels (never to be covered) and,
 * lightly, mark lines. */
static double legend_cost(const panel_layout *pl, const mark_place *mp, box b)
{
    double cost = data_cost(pl, b);
    for (size_t i = 0; i < pl->p->n_marks; i++) {
        if (!mp[i].visible)
            continue;
        cost += overlap(b, mp[i].line) / 4;
        if (mp[i].labelled)
            cost += overlap(b, mp[i].label) * 4;
    }
    return cost;
}

/* The legend: entries for labelled series, then the note lines. */
static void draw_legend(const drawer *d, const panel_layout *pl, const mark_place *mp)
{
    const reco_chart_panel *pn = pl->p;
    size_t n_entries = 0;
    double w = 0;
    for (size_t i = 0; i < pn->n_series; i++)
        if (pn->series[i].label) {
            n_entries++;
            double tw = 30 + text_width(pn->series[i].label, FONT_NOTE);
            if (tw > w)
                w = tw;
        }
    for (size_t i = 0; i < pn->n_notes; i++) {
        double tw = text_width(pn->notes[i] ? pn->notes[i] : "", FONT_NOTE);
        if (tw > w)
            w = tw;
    }
    size_t rows = n_entries + pn->n_notes;
    if (rows == 0)
        return;
    double row_h = FONT_NOTE * 1.45, padx = 9, pady = 7;
    double bw = w + 2 * padx, bh = (double)rows * row_h + 2 * pady;
    /* Candidates: the four corners, and the top ones again just under the
     * mark labels; the first of the cheapest wins. */
    double label_bottom = pl->top, mid = (pl->top + pl->bottom) / 2;
    for (size_t i = 0; i < pn->n_marks; i++)
        if (mp[i].visible && mp[i].labelled && !pn->marks[i].horizontal &&
            mp[i].label.y1 < mid)
            label_bottom = fmax(label_bottom, mp[i].label.y1);
    double left_x = pl->left + 10, right_x = pl->right - 10 - bw;
    double top_y = pl->top + 10, low_top_y = label_bottom + 8, bottom_y = pl->bottom - 10 - bh;
    struct {
        reco_chart_corner corner;
        double x, y;
    } cand[6] = {
        {RECO_CHART_TOP_RIGHT, right_x, top_y},   {RECO_CHART_TOP_RIGHT, right_x, low_top_y},
        {RECO_CHART_TOP_LEFT, left_x, top_y},     {RECO_CHART_TOP_LEFT, left_x, low_top_y},
        {RECO_CHART_BOTTOM_RIGHT, right_x, bottom_y}, {RECO_CHART_BOTTOM_LEFT, left_x, bottom_y},
    };
    double x0 = right_x, y0 = top_y, best = INFINITY;
    for (int k = 0; k < 6; k++) {
        if (pn->legend != RECO_CHART_BEST && cand[k].corner != pn->legend)
            continue;
        if (k % 2 == 1 && k < 4 && cand[k].y + bh > pl->bottom - 4)
            continue; /* a shifted box must still fit */
        box b = {cand[k].x - 4, cand[k].y - 4, cand[k].x + bw + 4, cand[k].y + bh + 4};
        double cost = legend_cost(pl, mp, b);
        if (cost < best - 1e-9) {
            best = cost;
            x0 = cand[k].x;
            y0 = cand[k].y;
        }
    }
    page_space(d);
    set_color(0xFFFFFF, 0.9);
    page_rect(x0, y0, x0 + bw, y0 + bh);
    set_color(0xCCCCCC, 1);
    plwidth(1.0);
    PLFLT bx[5] = {x0, x0 + bw, x0 + bw, x0, x0}, by[5] = {y0, y0, y0 + bh, y0 + bh, y0};
    plline(5, bx, by);
    double y = y0 + pady + row_h / 2;
    for (size_t i = 0; i < pn->n_series; i++) {
        const reco_chart_series *s = &pn->series[i];
        if (!s->label)
            continue;
        uint32_t color = reco_chart_color(s->color);
        double sx = x0 + padx;
        set_color(color, s->alpha > 0 ? (s->alpha < 0.35 ? 0.35 : s->alpha) : 1);
        if (s->style == RECO_CHART_BARS || s->style == RECO_CHART_BAND) {
            page_rect(sx, y - 5, sx + 20, y + 5);
        } else {
            if (s->style != RECO_CHART_POINTS) {
                plwidth(2.25);
                set_dashed(d, s->dashed);
                PLFLT lx[2] = {sx, sx + 22}, ly[2] = {y, y};
                plline(2, lx, ly);
                pllsty(1);
                plwidth(1.0);
            }
            if (s->style != RECO_CHART_LINE)
                plarc(sx + 11, y, 3.5, 3.5, 0, 360, 0, 1);
        }
        page_text(d, sx + 30, y, false, 0, FONT_NOTE, INK, s->label);
        y += row_h;
    }
    for (size_t i = 0; i < pn->n_notes; i++) {
        if (pn->notes[i])
            page_text(d, x0 + padx, y, false, 0, FONT_NOTE, INK, pn->notes[i]);
        y += row_h;
    }
}

static void draw_titles(const drawer *d, const reco_chart *c, const panel_layout *pls)
{
    page_space(d);
    const double pad = 12;
    if (c->title) {
        plsfont(PL_FCI_SANS, PL_FCI_UPRIGHT, PL_FCI_BOLD);
        double cx = (pls[0].left + pls[0].right) / 2;
        page_text(d, cx, pad + FONT_TITLE * 0.5 + 2, false, 0.5, FONT_TITLE, INK, c->title);
        plsfont(PL_FCI_SANS, PL_FCI_UPRIGHT, PL_FCI_MEDIUM);
    }
    for (size_t i = 0; i < c->n_panels; i++) {
        const panel_layout *pl = &pls[i];
        if (pl->p->y.label)
            page_text(d, pad + FONT_LABEL * CAP_PER_EM / 2 + 2, (pl->top + pl->bottom) / 2,
                      true, 0.5, FONT_LABEL, INK, pl->p->y.label);
        if (pl->x_labels && pl->p->x.label)
            page_text(d, (pl->left + pl->right) / 2, d->H - pad - FONT_LABEL * CAP_PER_EM / 2,
                      false, 0.5, FONT_LABEL, INK, pl->p->x.label);
    }
}

static reco_status pl_check(const drawer *d, reco_error *err)
{
    if (d->plcode)
        return reco_error_set(err, RECO_ERR_INTERNAL, "PLplot: %s",
                              d->plmsg[0] ? d->plmsg : "drawing failed");
    return RECO_OK;
}

static reco_status draw_chart(drawer *d, const reco_chart *c, reco_error *err)
{
    panel_layout pls[MAX_PANELS];
    label_ctx lc = {NULL, NULL};
    pladv(0);
    PLFLT xmin, xmax, ymin, ymax;
    plgspa(&xmin, &xmax, &ymin, &ymax);
    d->px_mm = xmax > xmin ? d->W / (xmax - xmin) : 72 / 25.4;
    plsmaj(5.0 / d->px_mm, 1.0);
    plsmin(3.0 / d->px_mm, 1.0);
    layout(d, c, pls);
    reco_status st = RECO_OK;
    for (size_t i = 0; i < c->n_panels && !st; i++) {
        const panel_layout *pl = &pls[i];
        draw_grid(d, pl);
        if (pl->p->bars)
            draw_cat_bars(d, pl);
        for (size_t k = 0; k < pl->p->n_series && !st; k++)
            st = draw_series(d, pl, &pl->p->series[k], err);
        if (st)
            break;
        mark_place mp[MAX_MARKS];
        place_marks(pl, mp);
        draw_marks(d, pl, mp);
        draw_axes(d, pl, &lc);
        draw_legend(d, pl, mp);
        st = pl_check(d, err);
    }
    if (!st) {
        draw_titles(d, c, pls);
        st = pl_check(d, err);
    }
    return st;
}

/* PLplot calls its exit handler on fatal errors and then exit(): the only
 * way back is a longjmp, and the handler gets no user pointer, so the jump
 * target lives in a thread-local. */
static _Thread_local jmp_buf *tl_exit_jump;
static _Thread_local char tl_exit_msg[256];

static int on_plexit(const char *msg)
{
    snprintf(tl_exit_msg, sizeof tl_exit_msg, "%s", msg ? msg : "");
    if (tl_exit_jump)
        longjmp(*tl_exit_jump, 1);
    return 1;
}

/* Runs the stream's whole life under the exit guard. */
static reco_status render(drawer *d, const reco_chart *c, const char *dev, const char *path,
                          reco_error *err)
{
    PLINT prev = 0, strm = -1;
    plgstrm(&prev);
    plmkstrm(&strm);
    if (strm < 0)
        return reco_error_set(err, RECO_ERR_INTERNAL, "PLplot: no free plotting stream");
    plsdev(dev);
    plsfnam(path);
    plspage(0, 0, (PLINT)c->width, (PLINT)c->height, 0, 0);
    plscolbg(255, 255, 255);
    d->plcode = 0;
    d->plmsg[0] = '\0';
    plsError(&d->plcode, d->plmsg);
    plsfont(PL_FCI_SANS, PL_FCI_UPRIGHT, PL_FCI_MEDIUM);
    plinit();
    reco_status st = pl_check(d, err);
    if (!st)
        st = draw_chart(d, c, err);
    plsError(NULL, NULL);
    plend1();
    plsstrm(prev);
    return st;
}

static reco_status chart_write(const reco_chart *c, reco_chart_format format, const char *path,
                               reco_error *err);

/* Axis labels and values are written in the "C" locale, whatever the
 * program's (see numfmt.h). */
reco_status reco_chart_write(const reco_chart *c, reco_chart_format format, const char *path,
                             reco_error *err)
{
    void *saved = reco_c_locale_begin();
    reco_status st = chart_write(c, format, path, err);
    reco_c_locale_end(saved);
    return st;
}

static reco_status chart_write(const reco_chart *c, reco_chart_format format, const char *path,
                               reco_error *err)
{
    reco_status st = check_chart(c, err);
    if (st)
        return st;
    if (!path || !*path)
        return reco_error_set(err, RECO_ERR_INVALID, "chart: no output path");
    if (format != RECO_CHART_PNG && format != RECO_CHART_SVG)
        return reco_error_set(err, RECO_ERR_INVALID, "chart: unknown format %d", (int)format);
    /* PLplot would retry and then exit on a file it cannot open: check first. */
    FILE *f = fopen(path, "wb");
    if (!f)
        return reco_error_set(err, RECO_ERR_IO, "cannot write %s", path);
    fclose(f);

    drawer *d = calloc(1, sizeof *d);
    if (!d)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory drawing a chart");
    d->W = c->width;
    d->H = c->height;
    jmp_buf jb;
    jmp_buf *volatile saved = tl_exit_jump;
    if (setjmp(jb)) {
        tl_exit_jump = saved;
        free(d);
        return reco_error_set(err, RECO_ERR_INTERNAL, "PLplot failed: %s", tl_exit_msg);
    }
    tl_exit_jump = &jb;
    plsexit(on_plexit);
    st = render(d, c, format == RECO_CHART_PNG ? "pngcairo" : "svgcairo", path, err);
    tl_exit_jump = saved;
    free(d);
    if (st)
        return st;
    /* The cairo driver writes at the end and reports no failure: check. */
    f = fopen(path, "rb");
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (f)
        fclose(f);
    if (size <= 0)
        return reco_error_set(err, RECO_ERR_IO, "chart %s was not written", path);
    return RECO_OK;
}
