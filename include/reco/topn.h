/* reco: top-N selection over a score array. */
#ifndef RECO_TOPN_H
#define RECO_TOPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reco_scored {
    uint32_t id;
    float score;
} reco_scored;

/* Orders a before b: higher score first, then lower id (deterministic). */
static inline int reco_scored_before(reco_scored a, reco_scored b)
{
    return a.score > b.score || (a.score == b.score && a.id < b.id);
}

/* True if x is among a[0..n-1] (ascending): a binary search, for the
 * exclusion lists of top-N selection. */
bool reco_sorted_contains(const uint32_t *a, size_t n, uint32_t x);

/* Selects the k best of scores[0..n-1] into out (best first) with a bounded
 * heap: O(n log k), no sort of the whole array. Entries whose score is NaN
 * or -INFINITY are never selected, nor ids listed in exclude (ascending,
 * n_exclude entries; may be NULL). Returns how many were written (<= k). */
size_t reco_topn_select(const float *scores, uint32_t n, const uint32_t *exclude,
                        size_t n_exclude, size_t k, reco_scored *out);

struct reco_item_filter;

/* The same under request-time rules (reco/item_filter.h): the greedy list
 * of the k best products f admits, applied while selecting (only products
 * whose score passes the running threshold are checked against f). f NULL
 * or empty: reco_topn_select with no exclusions. */
size_t reco_topn_select_filter(const float *scores, uint32_t n, const struct reco_item_filter *f,
                               size_t k, reco_scored *out);

/* Incremental form for scores produced one at a time: a heap of capacity k
 * over caller storage (k entries). */
typedef struct reco_topn_heap {
    reco_scored *v;
    size_t n, k;
} reco_topn_heap;

void reco_topn_init(reco_topn_heap *h, reco_scored *storage, size_t k);
/* Restores the heap order of v[0..n-1] (the worst entry at the root) below
 * position i, after v[i] was replaced by a better entry. */
void reco_topn_sift_down(reco_scored *v, size_t n, size_t i);
void reco_topn_push(reco_topn_heap *h, uint32_t id, float score);
/* Sorts the heap's entries best first in place; returns their count. */
size_t reco_topn_finish(reco_topn_heap *h);

/* The same list read many times (a bestseller list): the best `cap`
 * entries of a score array, in order, selected once. */
typedef struct reco_topn_head {
    reco_scored *v;   /* n entries, best first; owned */
    size_t n, cap;
} reco_topn_head;

/* Selects the head of scores[0..n-1] (at most cap entries). 0, or -1 when
 * out of memory. reco_topn_head_clear frees it (a zeroed head is empty). */
int reco_topn_head_build(reco_topn_head *h, const float *scores, uint32_t n, size_t cap);
void reco_topn_head_clear(reco_topn_head *h);

/* The k best of scores not in exclude (ascending), exactly as
 * reco_topn_select gives them, read from the head when it holds enough
 * (no scan of the catalogue), else by a scan. */
size_t reco_topn_head_select(const reco_topn_head *h, const float *scores, uint32_t n,
                             const uint32_t *exclude, size_t n_exclude, size_t k,
                             reco_scored *out);

/* The same under request-time rules: exactly reco_topn_select_filter's
 * list, from the head when its admitted entries fill it (or the head holds
 * every selectable entry), else by a filtered scan of the catalogue (a
 * narrow category, a short allow-list, a long exclude list). */
size_t reco_topn_head_select_filter(const reco_topn_head *h, const float *scores, uint32_t n,
                                    const struct reco_item_filter *f, size_t k, reco_scored *out);

#endif
