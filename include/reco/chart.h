/* reco: a small chart layer over PLplot's cairo driver (PNG and SVG).
 *
 * A chart is a plain description (title, size, one or more panels stacked
 * top to bottom that share the x axis) drawn by reco_chart_write. Every chart
 * gets the same look: white background, left and bottom spines, light grid,
 * one colour palette (seaborn's "deep"), tick labels with thousands
 * separators, and sizes in pixels so that text stays legible at 800 x 500.
 *
 * Kinds of panel: categorical bars (vertical or horizontal), and x-y panels
 * holding series drawn as lines, points, bars over [lo, hi) intervals or a
 * shaded band, on linear or log10 axes, with reference lines ("marks") and a
 * legend / notes box in a corner.
 *
 * PLplot keeps its state in process-global variables: draw charts from one
 * thread at a time. The library does not print: PLplot's recoverable errors
 * are captured into the reco_error, its fatal errors (which would call
 * exit()) are caught and returned as RECO_ERR_INTERNAL. */
#ifndef RECO_CHART_H
#define RECO_CHART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Colours of the palette, by index (series, bars and marks use these). */
enum {
    RECO_CHART_BLUE, RECO_CHART_ORANGE, RECO_CHART_GREEN, RECO_CHART_RED,
    RECO_CHART_PURPLE, RECO_CHART_BROWN, RECO_CHART_PINK, RECO_CHART_GREY,
    RECO_CHART_N_COLORS
};

/* The palette colour i (modulo the palette size) as 0xRRGGBB, so that other
 * outputs (the HTML report) can use the same colours. */
uint32_t reco_chart_color(int i);

typedef enum reco_chart_format { RECO_CHART_PNG, RECO_CHART_SVG } reco_chart_format;

/* How tick labels (and the numbers the chart writes) are formatted. */
typedef enum reco_chart_fmt {
    RECO_CHART_FMT_NUMBER,  /* 1,234,567 / 0.25: decimals as the tick step needs */
    RECO_CHART_FMT_PERCENT, /* values already in percent: 25% / 0.1% */
    RECO_CHART_FMT_MONTH    /* months since January 1970: "2013" or "Mar 2013" */
} reco_chart_fmt;

typedef struct reco_chart_axis {
    const char *label;      /* axis title with its unit; NULL: none */
    bool log;               /* log10 scale; values <= 0 are not drawn */
    double min, max;        /* range in data units; min >= max: from the data */
    bool include_zero;      /* automatic linear range starts at 0 */
    bool integer;           /* counts: linear ticks at whole numbers only */
    reco_chart_fmt fmt;
} reco_chart_axis;

typedef enum reco_chart_style {
    RECO_CHART_LINE,
    RECO_CHART_POINTS,
    RECO_CHART_LINE_POINTS,
    RECO_CHART_BARS, /* bar i covers x from lo[i] to hi[i], from the axis floor to y[i] */
    RECO_CHART_BAND  /* area between lo[i] and hi[i] (y values) along x */
} reco_chart_style;

/* A data series; all arrays are borrowed and hold n values. */
typedef struct reco_chart_series {
    const char *label;      /* legend entry; NULL: none */
    reco_chart_style style;
    size_t n;
    const double *x, *y;    /* y unused for BAND */
    const double *lo, *hi;  /* BARS: x extent of each bar; BAND: y extent */
    int color;              /* palette index */
    double alpha;           /* opacity 0..1; 0 means 1 (opaque) */
    bool dashed;
} reco_chart_series;

/* A reference line across the plot with a short label next to it. */
typedef struct reco_chart_mark {
    bool horizontal;        /* false: vertical line at x = value */
    double value;           /* data units */
    const char *label;      /* NULL: none */
    int color;
} reco_chart_mark;

/* Categorical bars: category i has name names[i], length values[i] and an
 * optional text (e.g. the count) written at the end of the bar. Vertical
 * bars run left to right on the x axis; horizontal ones top to bottom on
 * the y axis. */
typedef struct reco_chart_bars {
    size_t n;
    const char *const *names;
    const double *values;
    const char *const *texts;     /* NULL: none */
    const char *const *subtexts;  /* a second, grey line under texts; NULL: none */
    int color;
    bool horizontal;
} reco_chart_bars;

/* Where the legend box goes; BEST (the default) picks the corner that
 * covers the least data. */
typedef enum reco_chart_corner {
    RECO_CHART_BEST, RECO_CHART_TOP_RIGHT, RECO_CHART_TOP_LEFT, RECO_CHART_BOTTOM_RIGHT,
    RECO_CHART_BOTTOM_LEFT
} reco_chart_corner;

typedef struct reco_chart_panel {
    reco_chart_axis x, y;         /* for bars, the value axis is y (vertical
                                     bars) or x (horizontal bars) */
    const reco_chart_bars *bars;  /* a categorical panel, or NULL */
    const reco_chart_series *series;
    size_t n_series;
    const reco_chart_mark *marks;
    size_t n_marks;
    const char *const *notes;     /* text lines in the legend box */
    size_t n_notes;
    reco_chart_corner legend;
    double weight;                /* share of the height among panels; 0: 1 */
} reco_chart_panel;

typedef struct reco_chart {
    const char *title;
    unsigned width, height;       /* pixels (PNG) or points (SVG), 200..8000 */
    const reco_chart_panel *panels;
    size_t n_panels;              /* 1..4, stacked top to bottom */
} reco_chart;

/* Draws c to path as PNG or SVG (the file is created or truncated).
 * Errors: RECO_ERR_INVALID for a malformed description (with what is wrong),
 * RECO_ERR_IO when the file cannot be written, RECO_ERR_INTERNAL when PLplot
 * fails. Not thread-safe (PLplot's state is global). */
reco_status reco_chart_write(const reco_chart *c, reco_chart_format format, const char *path,
                             reco_error *err);

/* Formats v with `decimals` decimals and a comma between thousands
 * ("1,234,567.5") into buf; returns buf (always NUL-terminated). */
char *reco_fmt_thousands(double v, int decimals, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
