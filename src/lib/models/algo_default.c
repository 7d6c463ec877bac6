/* "default": the recommended model, a ranker chosen for the data on a
 * validation split of the training data plus a rating predictor, in one
 * model file (see include/reco/default_algo.h). This file chooses, fits,
 * serves through the two sub-models' own operations, and saves and maps
 * them. */
#include "reco/default_algo.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/eval.h"
#include "reco/tune.h"

#include "numfmt.h"

extern const reco_algo_ops reco_algo_default;

/* ---- parameters ---- */

void reco_default_params_default(reco_default_params *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->rankers, sizeof p->rankers, "ials,ials:min_rating=4,ease,ease:min_rating=4,popular");
    snprintf(p->predictor, sizeof p->predictor, "mf");
    snprintf(p->validation, sizeof p->validation, "time:0.2");
    snprintf(p->metric, sizeof p->metric, "ndcg@10");
    snprintf(p->blend, sizeof p->blend, "auto");
    p->blend_max_items = 50000;
    p->seed = 1;
}

static void def_default(void *p) { reco_default_params_default(p); }

/* A registered algorithm other than this one, or NULL. */
static const reco_algo_ops *sub_algo(const char *name)
{
    const reco_algo_ops *ops = reco_algo_find(name);
    return ops == &reco_algo_default ? NULL : ops;
}

/* The algorithm of a candidate "ALGO[:KEY=VALUE...]" into buf (32 bytes). */
static const char *candidate_algo(const char *cand, char *buf)
{
    size_t len = strcspn(cand, ":");
    if (len >= 32)
        len = 31;
    memcpy(buf, cand, len);
    buf[len] = '\0';
    return buf;
}

/* Splits the candidate list; returns the count, or -1 (with err) if a name
 * is not a usable algorithm or there are too many. */
static int parse_rankers(const char *text, char names[][32], reco_error *err)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == 0 || len >= 32 || n == RECO_DEFAULT_MAX_CANDIDATES) {
            reco_error_set(err, RECO_ERR_INVALID,
                           "default.rankers wants 1 to %d algorithm names separated by commas, "
                           "got \"%s\"", RECO_DEFAULT_MAX_CANDIDATES, text);
            return -1;
        }
        memcpy(names[n], p, len);
        names[n][len] = '\0';
        char algo[32];
        if (!sub_algo(candidate_algo(names[n], algo))) {
            reco_error_set(err, RECO_ERR_INVALID,
                           "default.rankers: \"%s\" is not an algorithm a default model can use",
                           algo);
            return -1;
        }
        n++;
        p = c ? c + 1 : p + len;
        if (c && !*p) {
            reco_error_set(err, RECO_ERR_INVALID, "default.rankers ends with a comma: \"%s\"",
                           text);
            return -1;
        }
    }
    if (n == 0)
        reco_error_set(err, RECO_ERR_INVALID, "default.rankers is empty");
    return n ? n : -1;
}

static reco_status parse_validation(const char *text, uint64_t seed, reco_split_spec *out,
                                    reco_error *err)
{
    reco_error e;
    if (reco_split_parse(text, seed, out, &e) || out->kind == RECO_SPLIT_KFOLD)
        return reco_error_set(err, RECO_ERR_INVALID,
                              "default.validation wants random:F, time:F or loo, got \"%s\"", text);
    return RECO_OK;
}

static reco_status parse_metric(const char *text, reco_tune_metric *out, reco_error *err)
{
    reco_error e;
    if (reco_tune_metric_parse(text, out, &e) || !reco_tune_metric_is_ranking(out))
        return reco_error_set(err, RECO_ERR_INVALID,
                              "default.metric wants a ranking metric (ndcg@N, precision@N, "
                              "recall@N, map@N, hit@N), got \"%s\"", text);
    return RECO_OK;
}

/* Applies the sub-parameters of algorithm `algo` (the "ALGO.KEY=VALUE"
 * entries of sub whose ALGO is it) to m. */
static reco_status apply_sub(const char *sub, const char *algo, reco_model *m, reco_error *err)
{
    size_t al = strlen(algo);
    const char *p = sub;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!len)
            break;
        char a[RECO_DEFAULT_SUB_MAX];
        memcpy(a, p, len);
        a[len] = '\0';
        char *eq = strchr(a, '=');
        if (eq && !strncmp(a, algo, al) && a[al] == '.') {
            *eq = '\0';
            reco_status rc = reco_model_set_param(m, a + al + 1, eq + 1, err);
            if (rc)
                return rc;
        }
        p += len;
    }
    return RECO_OK;
}

/* A new unfitted model of candidate `cand` ("ALGO" or "ALGO:KEY=VALUE:...")
 * with the sub-parameters of ALGO, then the candidate's own. */
static reco_status make_sub(const reco_default_params *p, const char *cand, reco_model **out,
                            reco_error *err)
{
    char algo[32];
    candidate_algo(cand, algo);
    reco_status rc = reco_model_new(algo, out, err);
    if (!rc)
        rc = apply_sub(p->sub, algo, *out, err);
    for (const char *q = strchr(cand, ':'); !rc && q; q = strchr(q + 1, ':')) {
        char kv[96];
        size_t len = strcspn(q + 1, ":");
        if (len >= sizeof kv)
            len = sizeof kv - 1;
        memcpy(kv, q + 1, len);
        kv[len] = '\0';
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "default.rankers: \"%s\" wants ALGO:KEY=VALUE", cand);
            break;
        }
        *eq = '\0';
        rc = reco_model_set_param(*out, kv, eq + 1, err);
    }
    if (rc) {
        reco_model_free(*out);
        *out = NULL;
    }
    return rc;
}

static reco_status def_set(void *pp, const char *key, const char *value, reco_error *err)
{
    reco_default_params *p = pp;
    char names[RECO_DEFAULT_MAX_CANDIDATES][32];
    if (!strcmp(key, "rankers")) {
        if (strlen(value) >= sizeof p->rankers)
            return reco_error_set(err, RECO_ERR_INVALID, "default.rankers is too long");
        if (parse_rankers(value, names, err) < 0)
            return RECO_ERR_INVALID;
        snprintf(p->rankers, sizeof p->rankers, "%s", value);
        return RECO_OK;
    }
    if (!strcmp(key, "predictor")) {
        if (strcmp(value, "none") && (!sub_algo(value) || strlen(value) >= sizeof p->predictor))
            return reco_error_set(err, RECO_ERR_INVALID,
                                  "default.predictor wants an algorithm that predicts ratings "
                                  "(mf, svd, baseline, ...) or none, got \"%s\"", value);
        snprintf(p->predictor, sizeof p->predictor, "%s", value);
        return RECO_OK;
    }
    if (!strcmp(key, "blend")) {
        if (strcmp(value, "auto") && strcmp(value, "off")) {
            if (strlen(value) >= sizeof p->blend || parse_rankers(value, names, err) != 1)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "default.blend wants auto, off or one candidate, got \"%s\"",
                                      value);
        }
        snprintf(p->blend, sizeof p->blend, "%s", value);
        return RECO_OK;
    }
    if (!strcmp(key, "blend_max_items")) {
        int v;
        reco_status rc = reco_param_int("default", key, value, 0, 1 << 30, &v, err);
        if (!rc)
            p->blend_max_items = (uint32_t)v;
        return rc;
    }
    if (!strcmp(key, "validation")) {
        reco_split_spec s;
        reco_status rc = parse_validation(value, p->seed, &s, err);
        if (rc)
            return rc;
        reco_split_format(&s, p->validation, sizeof p->validation);
        return RECO_OK;
    }
    if (!strcmp(key, "metric")) {
        reco_tune_metric m;
        reco_status rc = parse_metric(value, &m, err);
        if (rc)
            return rc;
        reco_tune_metric_format(&m, p->metric, sizeof p->metric);
        return RECO_OK;
    }
    if (!strcmp(key, "seed"))
        return reco_param_u64("default", key, value, &p->seed, err);
    const char *dot = strchr(key, '.');
    if (dot && dot > key && (size_t)(dot - key) < 32) {
        char algo[32];
        memcpy(algo, key, (size_t)(dot - key));
        algo[dot - key] = '\0';
        if (sub_algo(algo)) {
            for (const char *v = value; *v; v++)
                if (isspace((unsigned char)*v))
                    return reco_error_set(err, RECO_ERR_INVALID,
                                          "default.%s: a value may not contain spaces", key);
            /* The sub-algorithm checks the value and names the problem. */
            reco_model *t = NULL;
            reco_status rc = reco_model_new(algo, &t, err);
            if (!rc)
                rc = reco_model_set_param(t, dot + 1, value, err);
            reco_model_free(t);
            if (rc)
                return rc;
            size_t used = strlen(p->sub), need = strlen(key) + 1 + strlen(value) + (used ? 1 : 0);
            if (used + need >= sizeof p->sub)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "default: too many sub-model parameters (%zu bytes at most)",
                                      sizeof p->sub - 1);
            snprintf(p->sub + used, sizeof p->sub - used, "%s%s=%s", used ? " " : "", key, value);
            return RECO_OK;
        }
    }
    return reco_param_unknown("default", key, err);
}

static reco_status def_check(const void *pp, reco_error *err)
{
    const reco_default_params *p = pp;
    char names[RECO_DEFAULT_MAX_CANDIDATES][32];
    if (memchr(p->rankers, 0, sizeof p->rankers) == NULL ||
        memchr(p->predictor, 0, sizeof p->predictor) == NULL ||
        memchr(p->validation, 0, sizeof p->validation) == NULL ||
        memchr(p->metric, 0, sizeof p->metric) == NULL || memchr(p->sub, 0, sizeof p->sub) == NULL ||
        memchr(p->blend, 0, sizeof p->blend) == NULL)
        return reco_error_set(err, RECO_ERR_INVALID, "default: malformed parameters");
    int n = parse_rankers(p->rankers, names, err);
    if (n < 0)
        return RECO_ERR_INVALID;
    if (strcmp(p->predictor, "none") && !sub_algo(p->predictor))
        return reco_error_set(err, RECO_ERR_INVALID, "default.predictor \"%s\" is unknown",
                              p->predictor);
    char blend_name[RECO_DEFAULT_MAX_CANDIDATES][32];
    if (strcmp(p->blend, "auto") && strcmp(p->blend, "off") &&
        parse_rankers(p->blend, blend_name, err) != 1)
        return RECO_ERR_INVALID;
    reco_split_spec s;
    reco_tune_metric m;
    reco_status rc;
    if ((rc = parse_validation(p->validation, p->seed, &s, err)) ||
        (rc = parse_metric(p->metric, &m, err)))
        return rc;
    for (int j = 0; j <= n; j++) {
        const char *algo = j < n ? names[j] : p->predictor;
        if (!strcmp(algo, "none"))
            continue;
        reco_model *t = NULL;
        rc = make_sub(p, algo, &t, err);
        if (!rc)
            rc = t->ops->params_check(t->params, err);
        reco_model_free(t);
        if (rc)
            return rc;
    }
    return RECO_OK;
}

static const reco_param_field def_fields[] = {
    RECO_PARAM_FIELD(reco_default_params, rankers, RECO_PT_STR),
    RECO_PARAM_FIELD(reco_default_params, predictor, RECO_PT_STR),
    RECO_PARAM_FIELD(reco_default_params, validation, RECO_PT_STR),
    RECO_PARAM_FIELD(reco_default_params, metric, RECO_PT_STR),
    RECO_PARAM_FIELD(reco_default_params, seed, RECO_PT_U64),
    RECO_PARAM_FIELD(reco_default_params, blend, RECO_PT_STR),
    RECO_PARAM_FIELD(reco_default_params, blend_max_items, RECO_PT_U32),
    RECO_PARAM_FIELD(reco_default_params, sub, RECO_PT_STR),
    {NULL, 0, 0, 0},
};

static void def_format(const void *pp, char *buf, size_t cap)
{
    const reco_default_params *p = pp;
    snprintf(buf, cap,
             "rankers=%s blend=%s blend_max_items=%u predictor=%s validation=%s metric=%s "
             "seed=%llu%s%s",
             p->rankers, p->blend, p->blend_max_items, p->predictor, p->validation, p->metric,
             (unsigned long long)p->seed, p->sub[0] ? " " : "", p->sub);
}

static bool def_predicts_ratings(const void *pp)
{
    return strcmp(((const reco_default_params *)pp)->predictor, "none") != 0;
}

/* ---- state ---- */

typedef struct sub_model {
    const reco_algo_ops *ops;
    void *params;   /* owned */
    void *state;    /* owned (NULL for a predictor shared with the ranker) */
} sub_model;

typedef struct def_state {
    sub_model rank, pred;   /* pred.ops NULL: no predictor; pred.state NULL with
                               pred.ops set: the ranker predicts */
    sub_model rank2;        /* the second ranker of a blend (ops NULL: none) */
    reco_default_choice choice;
} def_state;

static void sub_clear(sub_model *s)
{
    if (s->state && s->ops)
        s->ops->free_state(s->state);
    free(s->params);
    memset(s, 0, sizeof *s);
}

static void def_free(void *s)
{
    def_state *st = s;
    if (!st)
        return;
    sub_clear(&st->pred);
    sub_clear(&st->rank2);
    sub_clear(&st->rank);
    free(st);
}

static const void *pred_state(const def_state *st)
{
    return st->pred.state ? st->pred.state : st->pred.ops ? st->rank.state : NULL;
}

/* Takes the parameters of a configured model: copies them into s. */
static reco_status sub_from_model(const reco_model *m, sub_model *s, reco_error *err)
{
    memset(s, 0, sizeof *s);
    s->ops = m->ops;
    s->params = malloc(m->ops->params_size ? m->ops->params_size : 1);
    if (!s->params)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    memcpy(s->params, m->params, m->ops->params_size);
    return RECO_OK;
}

/* ---- choosing the ranker ---- */

static void rating_range(const reco_dataset *d, double *lo, double *hi)
{
    const reco_csr *R = &d->by_user;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (uint64_t k = 0; k < R->nnz; k++) {
        *lo = R->val[k] < *lo ? R->val[k] : *lo;
        *hi = R->val[k] > *hi ? R->val[k] : *hi;
    }
}

/* With the candidates measured on the split: blends the best with the best
 * of another algorithm (a "default" model with one candidate and a forced
 * blend, fitted on the inner training part) and records the blend in ch if
 * it does better on validation. */
static reco_status try_blend(const reco_default_params *p, const reco_tune_split *split,
                             const reco_fit_ctx *ctx, const reco_eval_options *eo,
                             const reco_tune_metric *metric, char names[][32], int n, int best,
                             reco_default_choice *ch, reco_error *err)
{
    char a1[32], a2[32];
    candidate_algo(names[best], a1);
    int second = -1;
    for (int j = 0; j < n; j++)
        if (j != best && !isnan(ch->cand[j].value) && strcmp(candidate_algo(names[j], a2), a1) &&
            (second < 0 || ch->cand[j].value > ch->cand[second].value))
            second = j;
    if (second < 0)
        return RECO_OK;
    reco_model *m = NULL;
    reco_status rc = reco_model_new("default", &m, err);
    if (rc)
        return rc;
    reco_default_params *q = m->params;
    *q = *p;
    snprintf(q->rankers, sizeof q->rankers, "%.31s", names[best]);
    snprintf(q->blend, sizeof q->blend, "%.31s", names[second]);
    snprintf(q->predictor, sizeof q->predictor, "none");
    reco_fit_ctx sub = *ctx;
    sub.progress.fn = NULL;
    reco_eval_result res;
    reco_error e;
    reco_status frc = reco_model_fit(m, split->train[0], &sub, &e);
    if (frc == RECO_OK && (rc = reco_eval_model(m, split->valid[0], eo, &res, err)) == RECO_OK) {
        double v = reco_tune_metric_value(metric, &res);
        ch->blend_value = v;
        if (v > ch->cand[best].value)
            snprintf(ch->blend, sizeof ch->blend, "%.31s", names[second]);
    } else if (frc && frc != RECO_ERR_TOO_LARGE && frc != RECO_ERR_NOMEM) {
        rc = reco_error_set(err, frc, "%s", e.msg);
    }
    reco_model_free(m);
    return rc;
}

/* Fits every candidate on the inner training part of a validation split
 * of train and scores it; fills ch (every candidate's figure or why it was
 * skipped, or why there was no comparison) and sets *best to the index of
 * the chosen one (-1 if none could be fitted). Errors other than "does not
 * fit" stop the fit. */
static reco_status choose(const reco_default_params *p, const reco_dataset *train,
                          const reco_fit_ctx *ctx, char names[][32], int n,
                          reco_default_choice *ch, int *best, reco_error *err)
{
    *best = -1;
    reco_tune_options o;
    reco_tune_options_default(&o);
    parse_validation(p->validation, p->seed, &o.validation, NULL);
    parse_metric(p->metric, &o.metric, NULL);
    o.seed = p->seed;
    o.threads = ctx->threads;
    /* Relevant: rated 4 or more, or on a scale whose top is below 4 (ratings
     * that are all 1, for implicit data) every rating. */
    double lo, hi;
    rating_range(train, &lo, &hi);
    o.relevant = hi < 4 ? lo : 4;
    reco_tune_metric_format(&o.metric, ch->metric, sizeof ch->metric);
    if (n == 1) {
        snprintf(ch->note, sizeof ch->note, "one candidate: nothing to compare");
        *best = 0;
        return RECO_OK;
    }
    reco_tune_split *split = NULL;
    reco_error e;
    reco_error_clear(&e);
    if (reco_tune_split_new(train, &o, &split, &e)) {
        snprintf(ch->note, sizeof ch->note, "no comparison (%.140s)", e.msg);
        *best = 0;
        return RECO_OK;
    }
    reco_split_format(&split->spec, ch->validation, sizeof ch->validation);
    reco_eval_options eo;
    reco_eval_options_default(&eo);
    eo.n = o.metric.n ? o.metric.n : 10;
    eo.relevant = o.relevant;
    eo.rating_metrics = false;
    eo.threads = ctx->threads;
    eo.seed = p->seed;
    reco_status rc = RECO_OK;
    double best_v = -INFINITY;
    for (int j = 0; j < n && !rc; j++) {
        reco_progress_report(&ctx->progress, "compare", (uint64_t)j, (uint64_t)n);
        reco_model *m = NULL;
        reco_fit_ctx sub = *ctx;
        sub.progress.fn = NULL;
        reco_eval_result res;
        if ((rc = make_sub(p, names[j], &m, err)))
            break;
        reco_status frc = reco_model_fit(m, split->train[0], &sub, &e);
        if (frc == RECO_ERR_TOO_LARGE || frc == RECO_ERR_NOMEM || frc == RECO_ERR_EMPTY) {
            snprintf(ch->cand[j].note, sizeof ch->cand[j].note, "skipped: %.80s", e.msg);
        } else if (frc) {
            rc = reco_error_set(err, frc, "%s", e.msg);
        } else if ((rc = reco_eval_model(m, split->valid[0], &eo, &res, err)) == RECO_OK) {
            ch->cand[j].value = reco_tune_metric_value(&o.metric, &res);
            if (ch->cand[j].value > best_v) {
                best_v = ch->cand[j].value;
                *best = j;
            }
        }
        reco_model_free(m);
    }
    uint32_t active = 0;
    for (uint32_t i = 0; i < train->by_item.n_rows; i++)
        active += train->by_item.ptr[i + 1] > train->by_item.ptr[i];
    if (!rc && *best >= 0 && !strcmp(p->blend, "auto") && active <= p->blend_max_items)
        rc = try_blend(p, split, ctx, &eo, &o.metric, names, n, *best, ch, err);
    reco_progress_report(&ctx->progress, "compare", (uint64_t)n, (uint64_t)n);
    reco_tune_split_free(split);
    return rc;
}

/* ---- fit ---- */

/* Fits algorithm `algo` with its sub-parameters on train into s. */
static reco_status fit_sub(const reco_default_params *p, const char *algo,
                           const reco_dataset *train, const reco_fit_ctx *ctx, sub_model *s,
                           reco_error *err)
{
    reco_model *m = NULL;
    reco_status rc = make_sub(p, algo, &m, err);
    if (!rc)
        rc = sub_from_model(m, s, err);
    reco_model_free(m);
    if (!rc && (rc = s->ops->params_check(s->params, err)) == RECO_OK)
        rc = s->ops->fit(s->params, train, ctx, &s->state, err);
    if (rc)
        sub_clear(s);
    return rc;
}

static reco_status def_fit(const void *pp, const reco_dataset *train, const reco_fit_ctx *ctx,
                           void **state, reco_error *err)
{
    const reco_default_params *p = pp;
    reco_status rc = def_check(p, err);
    if (rc)
        return rc;
    char names[RECO_DEFAULT_MAX_CANDIDATES][32];
    int n = parse_rankers(p->rankers, names, err);
    def_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_default_choice *ch = &st->choice;
    ch->n = (uint32_t)n;
    ch->blend_value = NAN;
    for (int j = 0; j < n; j++) {
        snprintf(ch->cand[j].name, sizeof ch->cand[j].name, "%.31s", names[j]);
        ch->cand[j].value = NAN;
    }
    int best;
    if ((rc = choose(p, train, ctx, names, n, ch, &best, err)))
        goto fail;
    /* The chosen one; if it cannot be fitted on all the data (memory), the
     * next best, then those not measured, in the order given. */
    int order[RECO_DEFAULT_MAX_CANDIDATES], no = 0;
    if (best >= 0)
        order[no++] = best;
    for (;;) {
        int next = -1;
        for (int j = 0; j < n; j++) {
            bool used = false;
            for (int t = 0; t < no; t++)
                used |= order[t] == j;
            if (used || isnan(ch->cand[j].value))
                continue;
            if (next < 0 || ch->cand[j].value > ch->cand[next].value)
                next = j;
        }
        if (next < 0)
            break;
        order[no++] = next;
    }
    for (int j = 0; j < n; j++)
        if (isnan(ch->cand[j].value) && j != best && !ch->cand[j].note[0])
            order[no++] = j;
    reco_error e;
    reco_error_clear(&e);
    rc = RECO_ERR_EMPTY;
    for (int t = 0; t < no; t++) {
        int j = order[t];
        rc = fit_sub(p, names[j], train, ctx, &st->rank, &e);
        if (rc == RECO_ERR_TOO_LARGE || rc == RECO_ERR_NOMEM || rc == RECO_ERR_EMPTY) {
            snprintf(ch->cand[j].note, sizeof ch->cand[j].note, "skipped: %.80s", e.msg);
            continue;
        }
        if (rc) {
            reco_error_set(err, rc, "%s", e.msg);
            goto fail;
        }
        snprintf(ch->ranker, sizeof ch->ranker, "%.31s", names[j]);
        break;
    }
    if (rc) {
        rc = reco_error_set(err, RECO_ERR_TOO_LARGE,
                            "default: none of the rankers (%s) could be fitted%s%s", p->rankers,
                            e.msg[0] ? ": " : "", e.msg);
        goto fail;
    }
    /* The second ranker of a blend: forced by the parameters, or chosen on
     * validation (only when the chosen ranker is the one it was tried
     * with). */
    if (strcmp(p->blend, "auto") && strcmp(p->blend, "off"))
        snprintf(ch->blend, sizeof ch->blend, "%s", p->blend);
    else if (ch->blend[0] && (best < 0 || strcmp(ch->ranker, names[best])))
        ch->blend[0] = '\0';
    if (ch->blend[0]) {
        rc = fit_sub(p, ch->blend, train, ctx, &st->rank2, &e);
        if (rc == RECO_ERR_TOO_LARGE || rc == RECO_ERR_NOMEM) {
            ch->blend[0] = '\0'; /* the ranker alone, then */
        } else if (rc) {
            reco_error_set(err, rc, "%s", e.msg);
            goto fail;
        }
    }
    if (strcmp(p->predictor, "none")) {
        if (!strcmp(p->predictor, ch->ranker)) {
            st->pred.ops = st->rank.ops; /* the ranker predicts too */
        } else {
            reco_fit_ctx pc = *ctx;
            if ((rc = fit_sub(p, p->predictor, train, &pc, &st->pred, err)))
                goto fail;
        }
        const void *pparams = st->pred.params ? st->pred.params : st->rank.params;
        if (!st->pred.ops->predicts_ratings || !st->pred.ops->predicts_ratings(pparams)) {
            rc = reco_error_set(err, RECO_ERR_INVALID,
                                "default.predictor: %s does not predict ratings with these "
                                "parameters", p->predictor);
            goto fail;
        }
    }
    *state = st;
    return RECO_OK;
fail:
    def_free(st);
    return rc;
}

/* ---- serving: the ranker ranks, the predictor predicts ---- */

static size_t scores_bytes(uint32_t n_items)
{
    return (((size_t)n_items + 1) * sizeof(float) + 63) / 64 * 64;
}

static size_t def_scratch_size(const void *s, const reco_dataset *train)
{
    const def_state *st = s;
    size_t r = st->rank.ops->scratch_size ? st->rank.ops->scratch_size(st->rank.state, train) : 0;
    size_t r2 = st->rank2.ops && st->rank2.ops->scratch_size
                    ? st->rank2.ops->scratch_size(st->rank2.state, train)
                    : 0;
    size_t q = st->pred.ops && st->pred.ops->scratch_size
                   ? st->pred.ops->scratch_size(pred_state(st), train)
                   : 0;
    r = r > r2 ? r : r2;
    /* Two score arrays first (for rankers without a top-N of their own, and
     * for blends), then the largest of the sub-models' scratch. */
    return 2 * scores_bytes(reco_dataset_n_items(train)) + (r > q ? r : q) + 64;
}

static void *sub_scratch(void *scratch, const reco_dataset *train)
{
    return (char *)scratch + 2 * scores_bytes(reco_dataset_n_items(train));
}

static float def_predict(const void *s, const reco_dataset *train, const reco_baseline *base,
                         uint32_t u, uint32_t i)
{
    const def_state *st = s;
    if (!st->pred.ops || !st->pred.ops->predict)
        return NAN;
    return st->pred.ops->predict(pred_state(st), train, base, u, i);
}

/* Standardises the finite scores of s over the catalogue (mean 0, standard
 * deviation 1; all equal: all 0). */
static void standardise(float *s, uint32_t n)
{
    double sum = 0, sq = 0;
    uint32_t c = 0;
    for (uint32_t i = 0; i < n; i++)
        if (isfinite(s[i])) {
            sum += s[i];
            sq += (double)s[i] * s[i];
            c++;
        }
    double mean = c ? sum / c : 0, var = c ? sq / c - mean * mean : 0;
    double inv = var > 0 ? 1 / sqrt(var) : 0;
    for (uint32_t i = 0; i < n; i++)
        s[i] = isfinite(s[i]) ? (float)((s[i] - mean) * inv) : -INFINITY;
}

static reco_status def_score(const void *s, const reco_dataset *train, const reco_baseline *base,
                             const reco_profile *prof, float *scores, void *scratch,
                             reco_error *err)
{
    const def_state *st = s;
    reco_status rc = st->rank.ops->score(st->rank.state, train, base, prof, scores,
                                         sub_scratch(scratch, train), err);
    if (rc || !st->rank2.ops)
        return rc;
    /* A blend: the mean of the two standardised score vectors. */
    uint32_t ni = reco_dataset_n_items(train);
    float *second = (float *)((char *)scratch + scores_bytes(ni));
    if ((rc = st->rank2.ops->score(st->rank2.state, train, base, prof, second,
                                   sub_scratch(scratch, train), err)))
        return rc;
    standardise(scores, ni);
    standardise(second, ni);
    for (uint32_t i = 0; i < ni; i++)
        scores[i] = isfinite(scores[i]) && isfinite(second[i]) ? 0.5f * (scores[i] + second[i])
                                                               : -INFINITY;
    return RECO_OK;
}

static reco_status def_rating_scores(const void *s, const reco_dataset *train,
                                     const reco_baseline *base, const reco_profile *prof,
                                     float *scores, void *scratch, reco_error *err)
{
    const def_state *st = s;
    const reco_algo_ops *ops = st->pred.ops;
    if (!ops || !ops->score || !(ops->rating_scores || ops->scores_are_ratings))
        return reco_error_set(err, RECO_ERR_INVALID, "no rating predictions for a profile");
    if (ops->rating_scores)
        return ops->rating_scores(pred_state(st), train, base, prof, scores,
                                  sub_scratch(scratch, train), err);
    return ops->score(pred_state(st), train, base, prof, scores, sub_scratch(scratch, train), err);
}

static reco_status def_rating_items(const void *s, const reco_dataset *train,
                                    const reco_baseline *base, const reco_profile *prof,
                                    const uint32_t *items, size_t n, float *out, void *scratch,
                                    reco_error *err)
{
    const def_state *st = s;
    const reco_algo_ops *ops = st->pred.ops;
    if (!ops || !ops->rating_items)
        return reco_error_set(err, RECO_ERR_INVALID, "no item predictions for a profile");
    return ops->rating_items(pred_state(st), train, base, prof, items, n, out,
                             sub_scratch(scratch, train), err);
}

static reco_status def_recommend(const void *s, const reco_dataset *train,
                                 const reco_baseline *base, const reco_profile *prof, size_t n,
                                 const reco_item_filter *f, reco_scored *out, size_t *n_out,
                                 void *scratch, reco_error *err)
{
    const def_state *st = s;
    const reco_algo_ops *ops = st->rank.ops;
    if (ops->recommend && !st->rank2.ops)
        return ops->recommend(st->rank.state, train, base, prof, n, f, out, n_out,
                              sub_scratch(scratch, train), err);
    *n_out = 0;
    float *scores = scratch;
    reco_status rc = def_score(s, train, base, prof, scores, scratch, err);
    if (rc == RECO_OK)
        *n_out = reco_topn_select_filter(scores, reco_dataset_n_items(train), f, n, out);
    return rc;
}

/* The ranker's index, when def_recommend hands the search to it. */
static const struct reco_factor_index *def_topn_index(const void *s)
{
    const def_state *st = s;
    return st->rank.ops && st->rank.ops->recommend && st->rank.ops->topn_index && !st->rank2.ops
               ? st->rank.ops->topn_index(st->rank.state)
               : NULL;
}

/* Similar products come from the sub-models, in the order ranker, second
 * ranker, predictor: the first with a co-rated list of its own gives the
 * co_rated source (ease), the first with factors the factors source (ials,
 * else mf). */
static int def_parts(const def_state *st, const reco_algo_ops **ops, const void **states)
{
    int n = 0;
    if (st->rank.ops) {
        ops[n] = st->rank.ops;
        states[n++] = st->rank.state;
    }
    if (st->rank2.ops) {
        ops[n] = st->rank2.ops;
        states[n++] = st->rank2.state;
    }
    if (st->pred.ops) {
        ops[n] = st->pred.ops;
        states[n++] = pred_state(st);
    }
    return n;
}

static const char *def_co_rated_kind(const void *s)
{
    const reco_algo_ops *ops[3];
    const void *states[3];
    int n = def_parts(s, ops, states);
    for (int j = 0; j < n; j++) {
        const char *kind = ops[j]->co_rated_kind ? ops[j]->co_rated_kind(states[j]) : NULL;
        if (kind && ops[j]->co_rated)
            return kind;
    }
    return NULL;
}

static reco_status def_co_rated(const void *s, const reco_dataset *train, uint32_t i, size_t n,
                                const reco_item_filter *rules, reco_scored *out, size_t *n_out,
                                reco_error *err)
{
    const reco_algo_ops *ops[3];
    const void *states[3];
    int np = def_parts(s, ops, states);
    for (int j = 0; j < np; j++)
        if (ops[j]->co_rated_kind && ops[j]->co_rated_kind(states[j]) && ops[j]->co_rated)
            return ops[j]->co_rated(states[j], train, i, n, rules, out, n_out, err);
    *n_out = 0;
    return RECO_OK;
}

static bool def_item_factors(const void *s, reco_item_factors *f)
{
    const reco_algo_ops *ops[3];
    const void *states[3];
    int n = def_parts(s, ops, states);
    for (int j = 0; j < n; j++)
        if (ops[j]->item_factors && ops[j]->item_factors(states[j], f))
            return true;
    return false;
}

static size_t def_explain(const void *s, const reco_dataset *train, const reco_profile *prof,
                          uint32_t i, uint32_t *out, size_t max)
{
    const def_state *st = s;
    if (!st->rank.ops->explain)
        return 0;
    return st->rank.ops->explain(st->rank.state, train, prof, i, out, max);
}

static void def_explain_list(const void *s, const reco_dataset *train, const reco_profile *prof,
                             const uint32_t *items, size_t n, size_t max, uint32_t *out,
                             uint32_t *counts)
{
    const def_state *st = s;
    if (st->rank.ops->explain_list) {
        st->rank.ops->explain_list(st->rank.state, train, prof, items, n, max, out, counts);
        return;
    }
    for (size_t j = 0; j < n; j++)
        counts[j] = (uint32_t)def_explain(s, train, prof, items[j], out + j * max, max);
}

static const char *def_score_kind(const void *pp, const void *s)
{
    (void)pp;
    const def_state *st = s;
    if (st && st->rank2.ops)
        return "blend";
    if (!st || !st->rank.ops->score_kind)
        return "relevance";
    return st->rank.ops->score_kind(st->rank.params, st->rank.state);
}

/* ---- model files ---- */

/* Contents versions of default.choice and of the sub-models' parameters. */
#define CHOICE_FORMAT 1
#define SUB_PARAMS_FORMAT 1

static reco_status choice_save(const reco_default_choice *c, reco_mfile_writer *w,
                               reco_error *err)
{
    reco_mfile_meta *m = reco_mfile_meta_new(CHOICE_FORMAT);
    reco_mfile_meta_put_str(m, "ranker", c->ranker);
    reco_mfile_meta_put_str(m, "metric", c->metric);
    reco_mfile_meta_put_str(m, "validation", c->validation);
    reco_mfile_meta_put_str(m, "note", c->note);
    reco_mfile_meta_put_str(m, "blend", c->blend);
    reco_mfile_meta_put_f64(m, "blend_value", c->blend_value);
    uint32_t n = c->n < RECO_DEFAULT_MAX_CANDIDATES ? c->n : RECO_DEFAULT_MAX_CANDIDATES;
    reco_mfile_meta_put_u64(m, "n", n);
    for (uint32_t j = 0; j < n; j++) {
        char key[32];
        snprintf(key, sizeof key, "cand%u.name", j);
        reco_mfile_meta_put_str(m, key, c->cand[j].name);
        snprintf(key, sizeof key, "cand%u.value", j);
        reco_mfile_meta_put_f64(m, key, c->cand[j].value);
        snprintf(key, sizeof key, "cand%u.note", j);
        reco_mfile_meta_put_str(m, key, c->cand[j].note);
    }
    return reco_mfile_add_meta(w, "default.choice", m, err);
}

static reco_status choice_load(const reco_mfile *f, reco_default_choice *c, reco_error *err)
{
    memset(c, 0, sizeof *c);
    reco_mfile_meta *m = NULL;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, "default.choice", CHOICE_FORMAT, &m, err)) ||
        (rc = reco_mfile_meta_get_strbuf(m, "ranker", c->ranker, sizeof c->ranker, err)) ||
        (rc = reco_mfile_meta_get_strbuf(m, "metric", c->metric, sizeof c->metric, err)) ||
        (rc = reco_mfile_meta_get_strbuf(m, "validation", c->validation, sizeof c->validation,
                                         err)) ||
        (rc = reco_mfile_meta_get_strbuf(m, "note", c->note, sizeof c->note, err)) ||
        (rc = reco_mfile_meta_get_strbuf(m, "blend", c->blend, sizeof c->blend, err)) ||
        (rc = reco_mfile_meta_get_f64_nan(m, "blend_value", -INFINITY, INFINITY,
                                          &c->blend_value, err)) ||
        (rc = reco_mfile_meta_get_u32(m, "n", 0, RECO_DEFAULT_MAX_CANDIDATES, &c->n, err)))
        goto done;
    for (uint32_t j = 0; j < c->n && !rc; j++) {
        char key[32];
        snprintf(key, sizeof key, "cand%u.name", j);
        if ((rc = reco_mfile_meta_get_strbuf(m, key, c->cand[j].name, sizeof c->cand[j].name,
                                             err)))
            break;
        snprintf(key, sizeof key, "cand%u.value", j);
        if ((rc = reco_mfile_meta_get_f64_nan(m, key, -INFINITY, INFINITY, &c->cand[j].value,
                                              err)))
            break;
        snprintf(key, sizeof key, "cand%u.note", j);
        rc = reco_mfile_meta_get_strbuf(m, key, c->cand[j].note, sizeof c->cand[j].note, err);
    }
done:
    reco_mfile_meta_free(m);
    return rc;
}

/* A sub-model's parameters (section `sec`) and its state. */
static reco_status save_sub(const sub_model *s, const char *sec, const reco_dataset *train,
                            reco_mfile_writer *w, reco_error *err)
{
    reco_mfile_meta *m = reco_mfile_meta_new(SUB_PARAMS_FORMAT);
    reco_params_save(s->ops->param_fields, s->params, "", m);
    reco_status rc = reco_mfile_add_meta(w, sec, m, err);
    return rc ? rc : s->ops->save(s->params, s->state, train, w, err);
}

static reco_status def_save(const void *pp, const void *s, const reco_dataset *train,
                            reco_mfile_writer *w, reco_error *err)
{
    (void)pp;
    const def_state *st = s;
    reco_status rc;
    if ((rc = choice_save(&st->choice, w, err)) ||
        (rc = save_sub(&st->rank, "default.rparams", train, w, err)))
        return rc;
    if (st->rank2.ops && (rc = save_sub(&st->rank2, "default.r2params", train, w, err)))
        return rc;
    if (st->pred.state && (rc = save_sub(&st->pred, "default.pparams", train, w, err)))
        return rc;
    return RECO_OK;
}

/* Reads a sub-model's parameters (section `sec`) and maps its state. */
static reco_status load_sub(const reco_mfile *f, const char *algo, const char *sec,
                            const reco_dataset *train, sub_model *s, reco_error *err)
{
    memset(s, 0, sizeof *s);
    s->ops = sub_algo(algo);
    if (!s->ops || !s->ops->load || !s->ops->param_fields)
        return reco_error_set(err, RECO_ERR_FORMAT, "%s: unknown sub-model \"%s\"",
                              reco_mfile_path(f), algo);
    s->params = malloc(s->ops->params_size ? s->ops->params_size : 1);
    if (!s->params)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    s->ops->params_default(s->params);
    reco_mfile_meta *m = NULL;
    reco_status rc;
    if ((rc = reco_mfile_meta_read(f, sec, SUB_PARAMS_FORMAT, &m, err)) ||
        (rc = reco_params_load(s->ops->param_fields, s->params, "", m, err)) ||
        (rc = s->ops->params_check(s->params, err)) ||
        (rc = s->ops->load(s->params, f, train, &s->state, err))) {
        free(s->params);
        memset(s, 0, sizeof *s);
    }
    reco_mfile_meta_free(m);
    return rc;
}

static reco_status def_load(const void *pp, const reco_mfile *f, const reco_dataset *train,
                            void **state, reco_error *err)
{
    const reco_default_params *p = pp;
    def_state *st = calloc(1, sizeof *st);
    if (!st)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    reco_status rc;
    char algo[32];
    if ((rc = choice_load(f, &st->choice, err)) ||
        (rc = load_sub(f, candidate_algo(st->choice.ranker, algo), "default.rparams", train,
                       &st->rank, err)))
        goto fail;
    if (st->choice.blend[0] &&
        (rc = load_sub(f, candidate_algo(st->choice.blend, algo), "default.r2params", train,
                       &st->rank2, err)))
        goto fail;
    if (strcmp(p->predictor, "none")) {
        if (!strcmp(p->predictor, st->choice.ranker))
            st->pred.ops = st->rank.ops; /* the ranker, as it is, predicts too */
        else if ((rc = load_sub(f, p->predictor, "default.pparams", train, &st->pred, err)))
            goto fail;
    }
    *state = st;
    return RECO_OK;
fail:
    def_free(st);
    return rc;
}

const reco_algo_ops reco_algo_default = {
    .name = "default",
    .summary = "the recommended model: the best ranker for the data (ials, ease or popular, "
               "chosen on a validation split of the training data) plus mf for predicted ratings",
    .scores_are_ratings = false,
    .predicts_ratings = def_predicts_ratings,
    .score_kind = def_score_kind,
    .params_size = sizeof(reco_default_params),
    .params_default = def_default,
    .param_set = def_set,
    .params_check = def_check,
    .params_format = def_format,
    .param_fields = def_fields,
    .fit = def_fit,
    .free_state = def_free,
    .predict = def_predict,
    .score = def_score,
    .scratch_size = def_scratch_size,
    .rating_scores = def_rating_scores,
    .rating_items = def_rating_items,
    .co_rated_kind = def_co_rated_kind,
    .co_rated = def_co_rated,
    .item_factors = def_item_factors,
    .recommend = def_recommend,
    .topn_index = def_topn_index,
    .explain = def_explain,
    .explain_list = def_explain_list,
    .save = def_save,
    .load = def_load,
};

const reco_default_choice *reco_default_choice_of(const reco_model *m)
{
    if (!m || m->ops != &reco_algo_default || !m->state)
        return NULL;
    return &((const def_state *)m->state)->choice;
}

void reco_default_choice_format(const reco_default_choice *c, char *buf, size_t cap)
{
    size_t used = 0;
#define PUT(...)                                                                               \
    do {                                                                                       \
        int w_ = reco_snprintf_c(buf + used, used < cap ? cap - used : 0, __VA_ARGS__);        \
        used += w_ > 0 ? (size_t)w_ : 0;                                                       \
    } while (0)
    if (cap)
        buf[0] = '\0';
    PUT("%s", c->ranker);
    if (c->blend[0])
        PUT(" + %s (blend)", c->blend);
    if (c->note[0]) {
        PUT(" (%s)", c->note);
    } else {
        PUT(" (%s on a %s validation split of the training data:", c->metric, c->validation);
        for (uint32_t j = 0; j < c->n && j < RECO_DEFAULT_MAX_CANDIDATES; j++) {
            if (isnan(c->cand[j].value))
                PUT("%s %s %s", j ? "," : "", c->cand[j].name,
                    c->cand[j].note[0] ? c->cand[j].note : "not measured");
            else
                PUT("%s %s %.4f", j ? "," : "", c->cand[j].name, c->cand[j].value);
        }
        if (!isnan(c->blend_value))
            PUT("; the best two of different algorithms blended %.4f", c->blend_value);
        PUT(")");
    }
#undef PUT
}
