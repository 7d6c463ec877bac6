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
 * lets every product through. */
#ifndef RECO_ITEM_FILTER_H
#define RECO_ITEM_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_NO_CATEGORY UINT32_MAX

typedef struct reco_category_range {
    uint32_t lo, hi; /* pre-order numbers: a category and its descendants */
} reco_category_range;

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

/* Whether f is NULL or lets everything through with no cap (the searches
 * then take their unfiltered fast paths). */
bool reco_item_filter_is_empty(const reco_item_filter *f);

#ifdef __cplusplus
}
#endif

#endif
