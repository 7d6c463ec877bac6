/* Hyperparameter search: search-space grammar, grid and seeded random
 * plans, the validation split carved from the training data, and the trial
 * loop. The search only ever reads the dataset it is given; every trial is
 * a fresh model made by name, so any registered algorithm can be tuned.
 * The same seed gives the same plan, split and figures on every machine
 * and with any number of threads. */
#include "reco/clock.h"
#include "reco/tune.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "numfmt.h"

#include "rng.h"

/* Strict number parsing: the whole text, finite. */
static int parse_number(const char *s, double *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    double v = reco_strtod_c(s, &end);
    if (*end || errno || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* ---- search spaces ------------------------------------------------------- */

#define RANGE_SYNTAX "LO:HI[:log][:int][:N]"

static reco_status parse_range(const char *text, const char *spec, reco_tune_dim *d,
                               reco_error *err)
{
    char buf[256];
    if (strlen(spec) >= sizeof buf)
        return reco_error_set(err, RECO_ERR_INVALID, "space \"%s\": range too long", text);
    strcpy(buf, spec);
    char *tok[RECO_TUNE_MAX_VALUES];
    size_t nt = 0;
    /* LO and HI are split at ':' only (a comma in LO is a list gone
     * wrong); the options after HI at ':' or ','. */
    char *colon = strchr(buf, ':');
    *colon = '\0';
    tok[nt++] = buf;
    char *rest = colon + 1;
    char *sep = strpbrk(rest, ":,");
    if (strchr(buf, ','))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": a range is " RANGE_SYNTAX " (a list, V1,V2,..., "
                              "cannot contain ':')", text);
    tok[nt++] = rest;
    while (sep) {
        *sep = '\0';
        if (nt == RECO_TUNE_MAX_VALUES)
            return reco_error_set(err, RECO_ERR_INVALID, "space \"%s\": too many options",
                                  text);
        tok[nt++] = sep + 1;
        sep = strpbrk(sep + 1, ":,");
    }
    if (parse_number(tok[0], &d->lo))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": the lower bound \"%s\" is not a number (a range "
                              "is " RANGE_SYNTAX ")", text, tok[0]);
    if (parse_number(tok[1], &d->hi))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": the upper bound \"%s\" is not a number (a range "
                              "is " RANGE_SYNTAX ")", text, tok[1]);
    for (size_t k = 2; k < nt; k++) {
        const char *o = tok[k];
        char *end;
        if (!strcmp(o, "log") && !d->log) {
            d->log = true;
        } else if (!strcmp(o, "int") && !d->integer) {
            d->integer = true;
        } else if (*o >= '0' && *o <= '9' && !d->points) {
            errno = 0;
            long n = strtol(o, &end, 10);
            if (*end || errno || n < 2 || n > RECO_TUNE_MAX_VALUES)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "space \"%s\": the number of grid points must be 2 to "
                                      "%d, got \"%s\"", text, RECO_TUNE_MAX_VALUES, o);
            d->points = (uint32_t)n;
        } else {
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "space \"%s\": \"%s\" is not a range option (log, int, or a "
                                  "number of grid points, each at most once)", text, o);
        }
    }
    if (!(d->lo < d->hi))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": the lower bound must be below the upper bound "
                              "(for one value use a list: %s=%s)", text, d->key, tok[0]);
    if (d->log && !(d->lo > 0))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": a log range needs a lower bound above 0", text);
    if (d->integer && (d->lo != floor(d->lo) || d->hi != floor(d->hi) ||
                       fabs(d->lo) > 1e15 || fabs(d->hi) > 1e15))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": an int range needs integer bounds", text);
    if (d->integer && d->points && d->points > d->hi - d->lo + 1)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": %u grid points, but only %.0f integers from %.0f "
                              "to %.0f", text, d->points, d->hi - d->lo + 1, d->lo, d->hi);
    return RECO_OK;
}

static reco_status parse_list(const char *text, const char *spec, reco_tune_dim *d,
                              reco_error *err)
{
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "space \"%s\": an empty value (a list is V1,V2,...)", text);
        if (len >= RECO_TUNE_VALUE_MAX)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "space \"%s\": a value longer than %d bytes", text,
                                  RECO_TUNE_VALUE_MAX - 1);
        if (d->n_values == RECO_TUNE_MAX_VALUES)
            return reco_error_set(err, RECO_ERR_INVALID, "space \"%s\": more than %d values",
                                  text, RECO_TUNE_MAX_VALUES);
        char *v = d->values[d->n_values];
        memcpy(v, p, len);
        v[len] = '\0';
        for (uint32_t j = 0; j < d->n_values; j++)
            if (!strcmp(d->values[j], v))
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "space \"%s\": the value \"%s\" is listed twice", text, v);
        d->n_values++;
        if (!comma)
            return RECO_OK;
        p = comma + 1;
    }
}

reco_status reco_tune_dim_parse(const char *text, reco_tune_dim *out, reco_error *err)
{
    memset(out, 0, sizeof *out);
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || !eq[1])
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": expected KEY=V1,V2,... or KEY=" RANGE_SYNTAX, text);
    size_t klen = (size_t)(eq - text);
    if (klen >= RECO_TUNE_KEY_MAX)
        return reco_error_set(err, RECO_ERR_INVALID, "space \"%s\": the key is too long", text);
    for (size_t k = 0; k < klen; k++)
        if (text[k] == ' ' || text[k] == '\t' || text[k] == ',' || text[k] == ':')
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "space \"%s\": the key may not contain spaces, ',' or ':'",
                                  text);
    memcpy(out->key, text, klen);
    out->key[klen] = '\0';
    const char *spec = eq + 1;
    reco_status rc;
    if (strchr(spec, ':')) {
        out->is_range = true;
        rc = parse_range(text, spec, out, err);
    } else {
        rc = parse_list(text, spec, out, err);
    }
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

reco_status reco_tune_space_add(reco_tune_space *s, const char *text, reco_error *err)
{
    reco_tune_dim d;
    reco_status rc = reco_tune_dim_parse(text, &d, err);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < s->n_dims; k++)
        if (!strcmp(s->dims[k].key, d.key))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "space \"%s\": %s is already in the search space", text,
                                  d.key);
    if (s->n_dims == RECO_TUNE_MAX_DIMS)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "space \"%s\": at most %d parameters can be searched", text,
                              RECO_TUNE_MAX_DIMS);
    s->dims[s->n_dims++] = d;
    return RECO_OK;
}

void reco_tune_dim_format(const reco_tune_dim *d, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s=", d->key);
    if (n < 0 || (size_t)n >= cap)
        return;
    size_t len = (size_t)n;
    if (d->is_range) {
        reco_snprintf_c(buf + len, cap - len, "%.15g:%.15g%s%s", d->lo, d->hi, d->integer ? ":int" : "",
                 d->log ? ":log" : "");
        len = strlen(buf);
        if (d->points && len < cap)
            snprintf(buf + len, cap - len, ":%u", d->points);
        return;
    }
    for (uint32_t j = 0; j < d->n_values && len < cap; j++) {
        snprintf(buf + len, cap - len, "%s%s", j ? "," : "", d->values[j]);
        len = strlen(buf);
    }
}

/* A range end as text the parameter parser takes: an integer for int
 * ranges, else the shortest of 4 or 15 significant digits that stays in
 * [lo, hi]. */
static void format_value(const reco_tune_dim *d, double v, char *buf, size_t cap)
{
    if (d->integer) {
        snprintf(buf, cap, "%lld", (long long)llround(v));
        return;
    }
    reco_snprintf_c(buf, cap, "%.4g", v);
    double back = reco_strtod_c(buf, NULL);
    if (back < d->lo || back > d->hi)
        reco_snprintf_c(buf, cap, "%.15g", v);
}

/* The key without "ALGO." in front. */
static const char *strip_algo(const char *key, const char *algo)
{
    size_t al = strlen(algo);
    return !strncmp(key, algo, al) && key[al] == '.' && key[al + 1] ? key + al + 1 : key;
}

/* A dimension filled in by hand rather than parsed may break the rules
 * the parser enforces. */
static bool dim_malformed(const reco_tune_dim *d)
{
    if (!memchr(d->key, '\0', sizeof d->key) || !d->key[0])
        return true;
    if (!d->is_range)
        return d->n_values < 1 || d->n_values > RECO_TUNE_MAX_VALUES;
    return !(d->lo < d->hi) || !isfinite(d->lo) || !isfinite(d->hi) ||
           (d->log && !(d->lo > 0)) || d->points == 1 || d->points > RECO_TUNE_MAX_VALUES;
}

/* Every value of d (a list's, or a range's ends) through the algorithm's
 * parser on m. */
static reco_status check_dim(reco_model *m, const reco_tune_dim *d, reco_error *err)
{
    if (dim_malformed(d))
        return reco_error_set(err, RECO_ERR_INVALID, "the search space of %.*s is malformed",
                              RECO_TUNE_KEY_MAX - 1, d->key);
    if (!d->is_range) {
        for (uint32_t j = 0; j < d->n_values; j++) {
            reco_status rc = reco_model_set_param(m, d->key, d->values[j], err);
            if (rc)
                return rc;
        }
        return RECO_OK;
    }
    char v[RECO_TUNE_VALUE_MAX];
    double ends[2] = {d->lo, d->hi};
    for (int k = 0; k < 2; k++) {
        if (d->integer)
            snprintf(v, sizeof v, "%lld", (long long)llround(ends[k]));
        else
            reco_snprintf_c(v, sizeof v, "%.15g", ends[k]);
        reco_status rc = reco_model_set_param(m, d->key, v, err);
        if (rc)
            return rc;
    }
    return RECO_OK;
}

reco_status reco_tune_space_check(reco_tune_space *s, const char *algo, reco_error *err)
{
    if (s->n_dims > RECO_TUNE_MAX_DIMS)
        return reco_error_set(err, RECO_ERR_INVALID, "at most %d parameters can be searched",
                              RECO_TUNE_MAX_DIMS);
    reco_model *m = NULL;
    reco_status rc = reco_model_new(algo, &m, err);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < s->n_dims && !rc; k++) {
        reco_tune_dim *d = &s->dims[k];
        if (dim_malformed(d)) {
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "the search space of %.*s is malformed", RECO_TUNE_KEY_MAX - 1,
                                d->key);
            break;
        }
        const char *key = strip_algo(d->key, algo);
        memmove(d->key, key, strlen(key) + 1);
        for (uint32_t j = 0; j < k; j++)
            if (!strcmp(s->dims[j].key, d->key))
                rc = reco_error_set(err, RECO_ERR_INVALID,
                                    "%s is in the search space twice", d->key);
        if (!rc)
            rc = check_dim(m, d, err);
    }
    reco_model_free(m);
    return rc;
}

/* Default spaces: broad ranges around each algorithm's defaults, for random
 * search. "a|b=SPEC" means the first of the keys a, b that the algorithm
 * takes. Algorithms that are not built in, and keys an algorithm does not
 * take, are skipped at run time. */
typedef struct default_space {
    const char *algo;
    const char *dims[6];
} default_space;

static const default_space DEFAULT_SPACES[] = {
    {"popular", {"damping=0.5:100:log", "min_count=1:20:int:log"}},
    {"baseline", {"reg_u=0.5:50:log", "reg_i=0.5:50:log"}},
    {"usercf", {"k=5:200:int:log", "shrinkage=1:500:log", "centered=true,false"}},
    {"itemcf", {"k=5:200:int:log", "shrinkage=1:500:log", "centered=true,false"}},
    {"svd", {"k=2:200:int:log", "mode=baseline,usermean,pure"}},
    {"mf", {"factors=8:256:int:log", "reg=0.005:0.5:log", "lr=0.002:0.05:log",
            "epochs=10:60:int"}},
    {"ials", {"factors=16:256:int:log", "unobserved=10:100000:log", "alpha=0.1:100:log",
              "reg=0.0001:1:log", "conf=const,rating,above_mean"}},
    {"ease", {"lambda=10:5000:log"}},
    {"default", {"ials.factors=32:128:int:log", "ials.unobserved=2000:100000:log",
                 "ease.lambda=100:2000:log"}},
};

reco_status reco_tune_default_space(const char *algo, reco_tune_space *out, reco_error *err)
{
    memset(out, 0, sizeof *out);
    const default_space *ds = NULL;
    for (size_t k = 0; k < sizeof DEFAULT_SPACES / sizeof DEFAULT_SPACES[0]; k++)
        if (!strcmp(DEFAULT_SPACES[k].algo, algo))
            ds = &DEFAULT_SPACES[k];
    reco_model *m = NULL;
    reco_status rc = reco_model_new(algo, &m, err);
    if (rc)
        return rc;
    for (size_t k = 0; ds && k < sizeof ds->dims / sizeof ds->dims[0] && ds->dims[k]; k++) {
        const char *text = ds->dims[k];
        const char *eq = strchr(text, '=');
        const char *alt = text;
        while (alt < eq) {
            const char *bar = memchr(alt, '|', (size_t)(eq - alt));
            const char *end = bar ? bar : eq;
            char one[RECO_TUNE_KEY_MAX + RECO_TUNE_VALUE_MAX];
            snprintf(one, sizeof one, "%.*s%s", (int)(end - alt), alt, eq);
            reco_tune_dim d;
            if (reco_tune_dim_parse(one, &d, NULL) == RECO_OK &&
                check_dim(m, &d, NULL) == RECO_OK) {
                out->dims[out->n_dims++] = d;
                break;
            }
            alt = end + 1;
        }
    }
    reco_model_free(m);
    if (!out->n_dims)
        return reco_error_set(err, RECO_ERR_NOT_FOUND,
                              "there is no default search space for %s: give the parameters "
                              "to search", algo);
    return RECO_OK;
}

/* ---- metrics ---------------------------------------------------------------- */

static const struct {
    const char *name;
    reco_tune_metric_kind kind;
} METRIC_NAMES[] = {
    {"ndcg", RECO_TUNE_NDCG},      {"precision", RECO_TUNE_PRECISION},
    {"p", RECO_TUNE_PRECISION},    {"recall", RECO_TUNE_RECALL},
    {"map", RECO_TUNE_MAP},        {"hit", RECO_TUNE_HIT},
    {"hr", RECO_TUNE_HIT},         {"rmse", RECO_TUNE_RMSE},
    {"mae", RECO_TUNE_MAE},
};

reco_status reco_tune_metric_parse(const char *text, reco_tune_metric *out, reco_error *err)
{
    const char *at = strchr(text, '@');
    size_t nlen = at ? (size_t)(at - text) : strlen(text);
    for (size_t k = 0; k < sizeof METRIC_NAMES / sizeof METRIC_NAMES[0]; k++) {
        if (strlen(METRIC_NAMES[k].name) != nlen ||
            strncasecmp(METRIC_NAMES[k].name, text, nlen) != 0)
            continue;
        out->kind = METRIC_NAMES[k].kind;
        out->n = 10;
        bool ranking = reco_tune_metric_is_ranking(out);
        if (at && !ranking)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "metric \"%s\": %.*s is not taken at a list length", text,
                                  (int)nlen, text);
        if (at) {
            char *end;
            errno = 0;
            long n = strtol(at + 1, &end, 10);
            if (at[1] < '0' || at[1] > '9' || *end || errno || n < 1 || n > RECO_EVAL_MAX_N)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "metric \"%s\": the list length must be 1 to %d", text,
                                      RECO_EVAL_MAX_N);
            out->n = (uint32_t)n;
        }
        return RECO_OK;
    }
    return reco_error_set(err, RECO_ERR_INVALID,
                          "unknown metric \"%s\" (expected ndcg@N, precision@N, recall@N, "
                          "map@N, hit@N, rmse or mae)", text);
}

void reco_tune_metric_format(const reco_tune_metric *m, char *buf, size_t cap)
{
    static const char *const names[] = {"ndcg", "precision", "recall", "map", "hit", "rmse",
                                        "mae"};
    if (reco_tune_metric_is_ranking(m))
        snprintf(buf, cap, "%s@%u", names[m->kind], m->n);
    else
        snprintf(buf, cap, "%s", names[m->kind]);
}

bool reco_tune_metric_is_ranking(const reco_tune_metric *m)
{
    return m->kind != RECO_TUNE_RMSE && m->kind != RECO_TUNE_MAE;
}

bool reco_tune_metric_maximise(const reco_tune_metric *m)
{
    return reco_tune_metric_is_ranking(m);
}

double reco_tune_metric_value(const reco_tune_metric *m, const reco_eval_result *r)
{
    switch (m->kind) {
    case RECO_TUNE_NDCG: return r->ndcg;
    case RECO_TUNE_PRECISION: return r->precision;
    case RECO_TUNE_RECALL: return r->recall;
    case RECO_TUNE_MAP: return r->map;
    case RECO_TUNE_HIT: return r->hit_rate;
    case RECO_TUNE_RMSE: return r->rmse;
    case RECO_TUNE_MAE: return r->mae;
    }
    return NAN;
}

/* ---- options ---------------------------------------------------------------- */

void reco_tune_options_default(reco_tune_options *o)
{
    memset(o, 0, sizeof *o);
    o->strategy = RECO_TUNE_AUTO;
    o->trials = 20;
    o->max_trials = 200;
    o->seed = 1;
    o->validation.kind = RECO_SPLIT_TIME;
    o->validation.fraction = 0.2;
    o->validation_fallback = true;
    o->metric.kind = RECO_TUNE_NDCG;
    o->metric.n = 10;
    o->relevant = 4;
}

reco_status reco_tune_options_check(const reco_tune_options *o, reco_error *err)
{
    if (o->strategy != RECO_TUNE_AUTO && o->strategy != RECO_TUNE_GRID &&
        o->strategy != RECO_TUNE_RANDOM)
        return reco_error_set(err, RECO_ERR_INVALID, "unknown search strategy");
    if (o->trials < 1 || o->trials > RECO_TUNE_MAX_TRIALS)
        return reco_error_set(err, RECO_ERR_INVALID, "the number of trials must be 1 to %d, got %u",
                              RECO_TUNE_MAX_TRIALS, o->trials);
    if (o->max_trials < 1 || o->max_trials > RECO_TUNE_MAX_TRIALS)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the most trials of a grid must be 1 to %d, got %u",
                              RECO_TUNE_MAX_TRIALS, o->max_trials);
    if (o->metric.kind > RECO_TUNE_MAE ||
        (reco_tune_metric_is_ranking(&o->metric) &&
         (o->metric.n < 1 || o->metric.n > RECO_EVAL_MAX_N)))
        return reco_error_set(err, RECO_ERR_INVALID, "bad target metric");
    if (!isfinite(o->relevant))
        return reco_error_set(err, RECO_ERR_INVALID, "the relevance threshold must be a number");
    if (!(o->budget_seconds >= 0) || !isfinite(o->budget_seconds))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the time budget must be a number of seconds >= 0");
    if (o->threads < 0)
        return reco_error_set(err, RECO_ERR_INVALID, "threads must be >= 0");
    if (o->n_fixed && !o->fixed)
        return reco_error_set(err, RECO_ERR_INVALID, "fixed parameters missing");
    return RECO_OK;
}

/* ---- the validation split ----------------------------------------------------- */

void reco_tune_split_free(reco_tune_split *s)
{
    if (!s)
        return;
    for (uint32_t k = 0; k < s->n; k++) {
        if (s->train)
            reco_dataset_free(s->train[k]);
        if (s->valid)
            reco_dataset_free(s->valid[k]);
    }
    free(s->train);
    free(s->valid);
    free(s);
}

static uint32_t users_with_ratings(const reco_dataset *ds)
{
    uint32_t n = 0;
    for (uint32_t u = 0; u < ds->by_user.n_rows; u++)
        n += reco_csr_row_len(&ds->by_user, u) > 0;
    return n;
}

/* Users of v with at least one rating >= threshold. */
static uint32_t users_with_relevant(const reco_dataset *v, double threshold)
{
    const reco_csr *R = &v->by_user;
    uint32_t n = 0;
    for (uint32_t u = 0; u < R->n_rows; u++)
        for (uint64_t k = R->ptr[u]; k < R->ptr[u + 1]; k++)
            if ((double)R->val[k] >= threshold) {
                n++;
                break;
            }
    return n;
}

reco_status reco_tune_split_new(const reco_dataset *data, const reco_tune_options *o,
                                reco_tune_split **out, reco_error *err)
{
    *out = NULL;
    reco_split_spec spec = o->validation;
    /* A stream of its own: the caller may have made the data with a split
     * of the same seed, and the two should not draw the same numbers. */
    spec.seed = reco_mix64(o->seed ^ 0x76616c6964617465ULL);
    bool fell_back = false;
    if (spec.kind == RECO_SPLIT_TIME && o->validation_fallback &&
        (!data->has_ts || !data->by_user.ts)) {
        spec.kind = RECO_SPLIT_RANDOM;
        fell_back = true;
    }
    char name[32];
    reco_split_format(&spec, name, sizeof name);
    const uint64_t nnz = reco_dataset_nnz(data);
    const uint32_t users = users_with_ratings(data);
#define TOO_SMALL(...)                                                                    \
    reco_error_set(err, RECO_ERR_EMPTY,                                                   \
                   "the data is too small to carve a validation split (%s) from: %llu "   \
                   "rating%s of %u user%s; " __VA_ARGS__)
#define COUNTS name, (unsigned long long)nnz, nnz == 1 ? "" : "s", users, users == 1 ? "" : "s"
    if (nnz == 0)
        return TOO_SMALL("there is nothing to tune on", COUNTS);
    reco_error serr;
    reco_splitter *sp = NULL;
    reco_status rc = reco_splitter_new(data, &spec, &sp, &serr);
    if (rc == RECO_ERR_EMPTY) {
        /* Say why in terms of this data rather than the splitter's. */
        if (spec.kind == RECO_SPLIT_RANDOM)
            return TOO_SMALL("%g of that rounds to no validation rating", COUNTS,
                             spec.fraction);
        if (spec.kind == RECO_SPLIT_TIME) {
            double need = ceil(0.5 / spec.fraction);
            return TOO_SMALL("no user has the %.0f ratings it takes for its latest %g to round "
                             "to one (one always stays for fitting)",
                             COUNTS, need < 2 ? 2 : need, spec.fraction);
        }
        return TOO_SMALL("%s", COUNTS, serr.msg);
    }
    if (rc) {
        if (err)
            *err = serr;
        return rc;
    }
    reco_tune_split *s = calloc(1, sizeof *s);
    uint32_t n = reco_splitter_count(sp);
    if (!s || !(s->train = calloc(n, sizeof *s->train)) ||
        !(s->valid = calloc(n, sizeof *s->valid))) {
        reco_splitter_free(sp);
        reco_tune_split_free(s);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    s->spec = spec;
    s->fell_back = fell_back;
    s->n = n;
    for (uint32_t k = 0; k < n && !rc; k++) {
        rc = reco_splitter_get(sp, k, &s->train[k], &s->valid[k], err);
        if (rc)
            break;
        uint64_t vn = reco_dataset_nnz(s->valid[k]), tn = reco_dataset_nnz(s->train[k]);
        if (tn == 0)
            rc = TOO_SMALL("the validation part takes every rating and leaves none to fit on",
                           COUNTS);
        else if (vn == 0)
            rc = TOO_SMALL("a validation part has no rating", COUNTS);
        else if (reco_tune_metric_is_ranking(&o->metric) &&
                 users_with_relevant(s->valid[k], o->relevant) == 0)
            rc = TOO_SMALL("the validation part has %llu rating%s, none of them relevant "
                           "(>= %g), so a ranking metric cannot be measured",
                           COUNTS, (unsigned long long)vn, vn == 1 ? "" : "s", o->relevant);
    }
#undef TOO_SMALL
#undef COUNTS
    reco_splitter_free(sp);
    if (rc) {
        reco_tune_split_free(s);
        return rc;
    }
    *out = s;
    return RECO_OK;
}

/* ---- plans -------------------------------------------------------------------- */

/* Uniform in [0, 1) from a 64-bit value. */
static double unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

/* Draw of dimension d for trial t: its own stream of (seed, t, d), so that
 * trial t's values do not depend on how many trials are drawn. */
static void draw(const reco_tune_dim *d, uint64_t seed, uint64_t t, uint32_t k, char *buf,
                 size_t cap)
{
    uint64_t s = reco_mix64(seed ^ 0x7475e6e5c0ffee11ULL) ^ reco_mix64(t * 0x100 + k + 1);
    double u = unit(reco_splitmix64(&s));
    if (!d->is_range) {
        uint32_t j = (uint32_t)(u * d->n_values);
        snprintf(buf, cap, "%s", d->values[j < d->n_values ? j : d->n_values - 1]);
        return;
    }
    double v;
    if (d->integer) {
        /* Uniform (or log-uniform) over [lo, hi + 1), then floor: every
         * integer of the range can come up. */
        double top = d->hi + 1;
        v = d->log ? exp(log(d->lo) + u * (log(top) - log(d->lo))) : d->lo + u * (top - d->lo);
        v = floor(v);
        if (v > d->hi)
            v = d->hi;
        if (v < d->lo)
            v = d->lo;
    } else {
        v = d->log ? exp(log(d->lo) + u * (log(d->hi) - log(d->lo))) : d->lo + u * (d->hi - d->lo);
        if (v > d->hi)
            v = d->hi;
        if (v < d->lo)
            v = d->lo;
    }
    format_value(d, v, buf, cap);
}

/* The grid values of d into vals (at most RECO_TUNE_MAX_VALUES); returns
 * how many. Integer points that round to the same value appear once. */
static uint32_t grid_values(const reco_tune_dim *d, reco_tune_value *vals)
{
    if (!d->is_range) {
        for (uint32_t j = 0; j < d->n_values; j++)
            memcpy(vals[j], d->values[j], RECO_TUNE_VALUE_MAX);
        return d->n_values;
    }
    uint32_t n = 0;
    for (uint32_t j = 0; j < d->points; j++) {
        double t = (double)j / (d->points - 1);
        double v = j + 1 == d->points ? d->hi
                   : d->log           ? exp(log(d->lo) + t * (log(d->hi) - log(d->lo)))
                                      : d->lo + t * (d->hi - d->lo);
        format_value(d, v, vals[n], RECO_TUNE_VALUE_MAX);
        if (n == 0 || strcmp(vals[n], vals[n - 1]) != 0)
            n++;
    }
    return n;
}

static reco_tune_strategy resolve_strategy(const reco_tune_space *s, reco_tune_strategy st)
{
    if (st != RECO_TUNE_AUTO)
        return st;
    for (uint32_t k = 0; k < s->n_dims; k++)
        if (s->dims[k].is_range && !s->dims[k].points)
            return RECO_TUNE_RANDOM;
    return RECO_TUNE_GRID;
}

reco_status reco_tune_points(const reco_tune_space *s, const reco_tune_options *o,
                             reco_tune_value **values, size_t *n, reco_error *err)
{
    *values = NULL;
    *n = 0;
    const uint32_t D = s->n_dims;
    if (D > RECO_TUNE_MAX_DIMS)
        return reco_error_set(err, RECO_ERR_INVALID, "at most %d parameters can be searched",
                              RECO_TUNE_MAX_DIMS);
    for (uint32_t k = 0; k < D; k++)
        if (dim_malformed(&s->dims[k]))
            return reco_error_set(err, RECO_ERR_INVALID, "the search space of %.*s is malformed",
                                  RECO_TUNE_KEY_MAX - 1, s->dims[k].key);
    if (resolve_strategy(s, o->strategy) == RECO_TUNE_RANDOM) {
        /* No dimension: nothing to draw, one trial of the fixed settings. */
        size_t count = D ? o->trials : 1;
        reco_tune_value *v = calloc(count * (D ? D : 1), sizeof *v);
        if (!v)
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        for (size_t t = 0; t < count; t++)
            for (uint32_t k = 0; k < D; k++)
                draw(&s->dims[k], o->seed, t, k, v[t * D + k], RECO_TUNE_VALUE_MAX);
        *values = v;
        *n = count;
        return RECO_OK;
    }
    reco_tune_value(*per)[RECO_TUNE_MAX_VALUES] = calloc(D ? D : 1, sizeof *per);
    uint32_t counts[RECO_TUNE_MAX_DIMS];
    if (!per)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    uint64_t total = 1;
    char sizes[256] = "";
    for (uint32_t k = 0; k < D; k++) {
        const reco_tune_dim *d = &s->dims[k];
        if (d->is_range && !d->points) {
            free(per);
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "a grid needs the values of %s: give a list or a number of "
                                  "points (%s=%.15g:%.15g%s%s:5), or search at random",
                                  d->key, d->key, d->lo, d->hi, d->integer ? ":int" : "",
                                  d->log ? ":log" : "");
        }
        counts[k] = grid_values(d, per[k]);
        if (total <= RECO_TUNE_MAX_TRIALS)
            total *= counts[k];
        size_t len = strlen(sizes);
        snprintf(sizes + len, sizeof sizes - len, "%s%s %u", k ? " x " : "", d->key, counts[k]);
    }
    if (total > o->max_trials) {
        free(per);
        if (total > RECO_TUNE_MAX_TRIALS)
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "the grid has more than %d points (%s), more than the limit of "
                                  "%u trials: give fewer values, raise the limit, or search at "
                                  "random", RECO_TUNE_MAX_TRIALS, sizes, o->max_trials);
        return reco_error_set(err, RECO_ERR_INVALID,
                              "the grid has %llu points (%s), more than the limit of %u "
                              "trials: give fewer values, raise the limit, or search at random",
                              (unsigned long long)total, sizes, o->max_trials);
    }
    reco_tune_value *v = calloc((size_t)total * (D ? D : 1), sizeof *v);
    if (!v) {
        free(per);
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    }
    /* Mixed-radix counting, the last dimension fastest. */
    for (uint64_t t = 0; t < total; t++) {
        uint64_t r = t;
        for (uint32_t k = D; k-- > 0;) {
            memcpy(v[t * D + k], per[k][r % counts[k]], RECO_TUNE_VALUE_MAX);
            r /= counts[k];
        }
    }
    free(per);
    *values = v;
    *n = (size_t)total;
    return RECO_OK;
}

/* ---- the search ------------------------------------------------------------------ */

size_t reco_tune_best(const reco_tune_trial *t, size_t n, const reco_tune_metric *m)
{
    const bool max = reco_tune_metric_maximise(m);
    size_t best = 0;
    for (size_t k = 1; k < n; k++) {
        double a = t[k].metric, b = t[best].metric;
        if (isnan(a))
            continue;
        if (isnan(b) || (max ? a > b : a < b))
            best = k;
    }
    return best;
}

void reco_tune_result_free(reco_tune_result *r)
{
    if (!r)
        return;
    free(r->trials);
    free(r);
}

/* A new model of algo with the fixed parameters and one point's values. */
static reco_status configure(const char *algo, const reco_tune_space *s,
                             const reco_tune_value *values, const reco_tune_options *o,
                             reco_model **out, reco_error *err)
{
    reco_model *m = NULL;
    reco_status rc = reco_model_new(algo, &m, err);
    for (size_t j = 0; j < o->n_fixed && !rc; j++)
        rc = reco_model_set_param_text(m, o->fixed[j], err);
    for (uint32_t k = 0; values && k < s->n_dims && !rc; k++)
        rc = reco_model_set_param(m, s->dims[k].key, values[k], err);
    if (!rc)
        rc = m->ops->params_check(m->params, err);
    if (!rc)
        rc = reco_baseline_params_check(&m->baseline_params, err);
    if (!rc)
        rc = reco_popular_params_check(&m->popular_params, err);
    if (rc) {
        reco_model_free(m);
        return rc;
    }
    *out = m;
    return RECO_OK;
}

reco_status reco_tune_model(const reco_tune_result *r, size_t index, const reco_tune_options *o,
                            reco_model **out, reco_error *err)
{
    *out = NULL;
    if (index >= r->n_trials)
        return reco_error_set(err, RECO_ERR_INVALID, "trial %zu of %zu does not exist", index,
                              r->n_trials);
    return configure(r->algo, &r->space, r->trials[index].values, o, out, err);
}

/* "k=v k=v" of a point, for messages. */
static void point_text(const reco_tune_space *s, const reco_tune_value *v, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (uint32_t k = 0; k < s->n_dims; k++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s=%s", k ? " " : "", s->dims[k].key, v[k]);
    }
}

/* Fits and evaluates one point on every pair of the split. */
static reco_status run_trial(const char *algo, const reco_tune_space *s,
                             const reco_tune_value *values, const reco_tune_split *sp,
                             const reco_tune_options *o, reco_eval_result *fold,
                             reco_tune_trial *t, reco_error *err)
{
    reco_eval_options eo;
    reco_eval_options_default(&eo);
    eo.n = reco_tune_metric_is_ranking(&o->metric) ? o->metric.n : 10;
    eo.relevant = o->relevant;
    eo.rank_users = o->rank_users;
    eo.seed = o->seed;
    eo.rating_metrics = true;
    eo.ranking_metrics = reco_tune_metric_is_ranking(&o->metric);
    eo.threads = o->threads;
    double t0 = reco_clock_s();
    for (uint32_t f = 0; f < sp->n; f++) {
        reco_model *m = NULL;
        reco_status rc = configure(algo, s, values, o, &m, err);
        if (!rc) {
            reco_fit_ctx ctx = {0};
            ctx.threads = o->threads;
            rc = reco_model_fit(m, sp->train[f], &ctx, err);
        }
        if (!rc)
            rc = reco_eval_model(m, sp->valid[f], &eo, &fold[f], err);
        reco_model_free(m);
        if (rc)
            return rc;
    }
    reco_eval_summarise(fold, sp->n, &t->eval, NULL);
    t->metric = reco_tune_metric_value(&o->metric, &t->eval);
    t->seconds = reco_clock_s() - t0;
    return RECO_OK;
}

reco_status reco_tune_check(const char *algo, reco_tune_space *space,
                            const reco_tune_options *o, size_t *planned, reco_error *err)
{
    reco_status rc = reco_tune_options_check(o, err);
    if (!rc)
        rc = reco_tune_space_check(space, algo, err);
    reco_model *scratch = NULL;
    if (!rc)
        rc = configure(algo, space, NULL, o, &scratch, err);
    reco_model_free(scratch);
    for (size_t j = 0; j < o->n_fixed && !rc; j++) {
        const char *eq = strchr(o->fixed[j], '=');
        char key[RECO_TUNE_KEY_MAX];
        snprintf(key, sizeof key, "%.*s", (int)(eq - o->fixed[j]), o->fixed[j]);
        for (uint32_t k = 0; k < space->n_dims && !rc; k++)
            if (!strcmp(strip_algo(key, algo), space->dims[k].key))
                rc = reco_error_set(err, RECO_ERR_INVALID,
                                    "%s is both fixed (%s) and searched", space->dims[k].key,
                                    o->fixed[j]);
    }
    reco_tune_value *points = NULL;
    size_t n = 0;
    if (!rc)
        rc = reco_tune_points(space, o, &points, &n, err);
    free(points);
    if (planned)
        *planned = rc ? 0 : n;
    return rc;
}

reco_status reco_tune_run(const char *algo, const reco_dataset *data,
                          const reco_tune_space *space, const reco_tune_options *o,
                          reco_tune_result **out, reco_error *err)
{
    *out = NULL;
    const double t0 = reco_clock_s();
    reco_status rc;
    reco_tune_result *r = calloc(1, sizeof *r);
    if (!r)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (strlen(algo) >= sizeof r->algo) {
        free(r);
        return reco_error_set(err, RECO_ERR_INVALID, "unknown algorithm \"%s\"", algo);
    }
    strcpy(r->algo, algo);
    r->space = *space;
    r->metric = o->metric;
    r->strategy = resolve_strategy(space, o->strategy);
    reco_tune_value *points = NULL;
    reco_tune_split *sp = NULL;
    reco_eval_result *fold = NULL;
    size_t n_points = 0;
    /* Everything the user gave is checked before any fitting: the space
     * against the algorithm, the fixed parameters, the overlap. */
    rc = reco_tune_check(algo, &r->space, o, NULL, err);
    if (!rc)
        rc = reco_tune_points(&r->space, o, &points, &n_points, err);
    if (!rc)
        rc = reco_tune_split_new(data, o, &sp, err);
    if (!rc && (!(r->trials = calloc(n_points, sizeof *r->trials)) ||
                !(fold = calloc(sp->n, sizeof *fold))))
        rc = reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    if (rc)
        goto fail;
    r->planned = n_points;
    r->validation = sp->spec;
    r->validation_fell_back = sp->fell_back;
    r->data_ratings = reco_dataset_nnz(data);
    r->data_users = users_with_ratings(data);
    for (uint32_t f = 0; f < sp->n; f++) {
        r->inner_train_ratings += reco_dataset_nnz(sp->train[f]);
        r->validation_ratings += reco_dataset_nnz(sp->valid[f]);
    }
    const uint32_t D = r->space.n_dims;
    for (size_t t = 0; t < n_points; t++) {
        if (t > 0 && o->budget_seconds > 0 && reco_clock_s() - t0 >= o->budget_seconds) {
            r->budget_exhausted = true;
            break;
        }
        reco_progress_report(&o->progress, "tune", t, n_points);
        reco_tune_trial *tr = &r->trials[t];
        for (uint32_t k = 0; k < D; k++)
            memcpy(tr->values[k], points[t * D + k], RECO_TUNE_VALUE_MAX);
        reco_error terr;
        rc = run_trial(algo, &r->space, tr->values, sp, o, fold, tr, &terr);
        if (rc) {
            char what[512];
            point_text(&r->space, tr->values, what, sizeof what);
            rc = reco_error_set(err, rc, "trial %zu (%s): %s", t + 1, D ? what : "defaults",
                                terr.msg);
            goto fail;
        }
        r->n_trials = t + 1;
    }
    reco_progress_report(&o->progress, "tune", n_points, n_points);
    r->best = reco_tune_best(r->trials, r->n_trials, &o->metric);
    r->seconds = reco_clock_s() - t0;
    free(points);
    free(fold);
    reco_tune_split_free(sp);
    *out = r;
    return RECO_OK;
fail:
    free(points);
    free(fold);
    reco_tune_split_free(sp);
    reco_tune_result_free(r);
    return rc;
}
