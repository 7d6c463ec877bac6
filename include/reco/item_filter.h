/* reco: request-time business rules for a top-N search.
 *
 * A filter says which products a list may hold and how many of one
 * category; the top-N searches (reco_topn_select, reco_factor_index_topn,
 * the popularity ranking, every algorithm's recommend) apply it while they
 * search, never by fetching more and cutting. A product passes when:
 *
 *   - it is not in exclude (ascending item indices: what the user rated or
 *     bought, and the request's exclude list, merged by the caller);
 *   - include is NULL, or it is in include (ascending: an allow-list);
 *   - hidden is NULL, or its bit is clear (bit i of word i / 64: products
 *     that are not available);
 *   - n_categories is 0, or item_category[i] lies in one of the ranges
 *     [lo, hi) (categories are numbered in pre-order of the category tree,
 *     so a path prefix is one range: reco/catalogue.h gives it);
 *
 * and max_per_category (0: no cap) bounds how many products with the same
 * item_category value a list holds: the list is then the best products
 * under the other rules taken in score order, skipping any whose category
 * already has max_per_category in the list (the greedy list, the same
 * whichever search builds it). Products without a category
 * (RECO_NO_CATEGORY) are never capped, and never pass a category range.
 *
 * All arrays are borrowed for the duration of the call. A zeroed filter
 * lets every product through.
 *
 * walks (optional) lay the same per-product rules out in the walk order of
 * a top-N index (reco/factor_index.h), so that its search tests a whole
 * block of positions at once, reading arrays in order, instead of looking
 * each candidate up through the order. They change no result: a search
 * uses one only if it follows its own order, and it must say exactly what
 * hidden and item_category say (reco_item_filter_walk_build makes it so). */
#ifndef RECO_ITEM_FILTER_H
#define RECO_ITEM_FILTER_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/topn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_NO_CATEGORY UINT32_MAX

typedef struct reco_category_range {
    uint32_t lo, hi; /* pre-order numbers: a category and its descendants */
} reco_category_range;

struct reco_factor_split;

/* The catalogue's rules of the products of one index order, position by
 * position: category[p] and bit p of hidden are item_category and hidden
 * of the product order[p]. split (optional, borrowed) is the same order
 * cut by category (reco/factor_index.h), built from the same categories:
 * a search with a category rule then walks only the parts it admits. */
typedef struct reco_item_filter_walk {
    const uint32_t *order; /* the index order it follows (compared by address) */
    uint32_t n;            /* positions */
    uint32_t *category;    /* [n] category of the product at p, or RECO_NO_CATEGORY */
    uint64_t *hidden;      /* (n + 63) / 64 words: bit p set = the product at p is hidden */
    const struct reco_factor_split *split;
} reco_item_filter_walk;

typedef struct reco_item_filter {
    const uint32_t *exclude; /* ascending; n_exclude entries */
    size_t n_exclude;
    const uint32_t *include; /* ascending allow-list, or NULL: every product */
    size_t n_include;
    const uint64_t *hidden;  /* bitset over the items, or NULL */
    size_t n_hidden_bits;    /* items the bitset covers (later ones pass) */
    const uint32_t *item_category; /* per item (n_item_category entries), or NULL */
    size_t n_item_category;
    const reco_category_range *categories; /* n_categories ranges, any of which admits */
    size_t n_categories;
    uint32_t max_per_category; /* 0: no cap */
    const reco_item_filter_walk *walks; /* n_walks, or NULL (see above) */
    size_t n_walks;
} reco_item_filter;

/* The category number of item i under f (RECO_NO_CATEGORY when it has
 * none). */
static inline uint32_t reco_item_filter_category(const reco_item_filter *f, uint32_t i)
{
    return f->item_category && i < f->n_item_category ? f->item_category[i]
                                                       : RECO_NO_CATEGORY;
}

/* Whether f admits item i (every rule but the per-category cap). f NULL:
 * yes. */
bool reco_item_filter_admits(const reco_item_filter *f, uint32_t i);

/* Whether f admits item i by every rule but its exclude list (and the
 * cap): the check a search makes before scoring a product, leaving the
 * exclude list, a binary search over what may be thousands of rated
 * products, to the few whose score would enter the list. f NULL: yes. */
bool reco_item_filter_admits_attrs(const reco_item_filter *f, uint32_t i);

/* Whether f is NULL or lets everything through with no cap (the searches
 * then take their unfiltered fast paths). */
bool reco_item_filter_is_empty(const reco_item_filter *f);

/* Whether f rejects nothing but the products of its exclude list (no
 * include list, hidden set, category range or cap): what an unfiltered
 * request is, the user's own products left out. NULL: yes. */
bool reco_item_filter_exclude_only(const reco_item_filter *f);

/* Builds w for the n positions of order from the per-item item_category
 * (n_item_category entries; NULL: none) and hidden (n_hidden_bits; NULL:
 * none), with the meaning reco_item_filter gives them. Allocates; -1 when
 * out of memory (w then zeroed). Free with reco_item_filter_walk_clear. */
int reco_item_filter_walk_build(reco_item_filter_walk *w, const uint32_t *order, uint32_t n,
                                const uint32_t *item_category, size_t n_item_category,
                                const uint64_t *hidden, size_t n_hidden_bits);
void reco_item_filter_walk_clear(reco_item_filter_walk *w);

/* The walk of f that follows order (n positions), or NULL. */
const reco_item_filter_walk *reco_item_filter_walk_for(const reco_item_filter *f,
                                                       const uint32_t *order, uint32_t n);

/* ---- the capped top-N collector ----
 *
 * Keeps the greedy list (above) of the products pushed so far, whatever
 * order they come in: at most k entries, at most f->max_per_category of
 * one category. Pushing x does one of:
 *   - x's category holds fewer than the cap: x enters as in a plain
 *     top-k heap (the worst entry leaves when the list is full);
 *   - its category is full and x beats that category's worst entry: x
 *     takes that entry's place;
 *   - else x is dropped.
 * Each step gives exactly the greedy list of the products pushed so far
 * (the greedy walk over the larger set differs from the one over the
 * smaller set only at x and at the one entry x pushes out), so a product
 * dropped once never belongs to a later list.
 *
 * Threshold: once the list is full, its worst score never falls (an entry
 * leaves only for a better one), and any product that enters beats the
 * worst entry of the whole list (a category's worst is no better than the
 * list's). So a product whose score cannot beat the list's worst can be
 * skipped without being scored, now and later: the same pruning bound a
 * plain top-k heap gives, and the factor index's walk uses it as such.
 *
 * The collector does not apply the other rules: the caller pushes only
 * products reco_item_filter_admits. With no cap (or f NULL) it is the
 * plain heap. Storage: k entries of the caller's. */
typedef struct reco_topn_capped {
    reco_topn_heap h;
    const reco_item_filter *f; /* for the categories; NULL: no cap */
    uint32_t cap;              /* f->max_per_category, 0: no cap */
} reco_topn_capped;

void reco_topn_capped_init(reco_topn_capped *c, reco_scored *storage, size_t k,
                           const reco_item_filter *f);
void reco_topn_capped_push(reco_topn_capped *c, uint32_t id, float score);
/* The score a product must beat (ties: by lower id) to enter: the list's
 * worst once it is full, -INFINITY before. */
static inline float reco_topn_capped_threshold(const reco_topn_capped *c)
{
    return c->h.n == c->h.k && c->h.k ? c->h.v[0].score : -INFINITY;
}
/* Sorts the list best first in place; returns its length. */
size_t reco_topn_capped_finish(reco_topn_capped *c);

#ifdef __cplusplus
}
#endif

#endif
