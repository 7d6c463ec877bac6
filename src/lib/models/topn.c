/* reco: top-N selection (reco/topn.h): a bounded min-heap with a total
 * order (score, then product index), so lists are deterministic. */
#include "reco/topn.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "reco/item_filter.h"

/* Min-heap on "before": the root is the worst kept entry. */
void reco_topn_sift_down(reco_scored *v, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && reco_scored_before(v[w], v[l]))
            w = l;
        if (r < n && reco_scored_before(v[w], v[r]))
            w = r;
        if (w == i)
            return;
        reco_scored t = v[i];
        v[i] = v[w];
        v[w] = t;
        i = w;
    }
}

static void sift_up(reco_scored *v, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!reco_scored_before(v[p], v[i]))
            return;
        reco_scored t = v[i];
        v[i] = v[p];
        v[p] = t;
        i = p;
    }
}

void reco_topn_init(reco_topn_heap *h, reco_scored *storage, size_t k)
{
    h->v = storage;
    h->n = 0;
    h->k = k;
}

void reco_topn_push(reco_topn_heap *h, uint32_t id, float score)
{
    if (h->k == 0 || isnan(score) || score == -INFINITY)
        return;
    reco_scored e = {id, score};
    if (h->n < h->k) {
        h->v[h->n] = e;
        sift_up(h->v, h->n++);
    } else if (reco_scored_before(e, h->v[0])) {
        h->v[0] = e;
        reco_topn_sift_down(h->v, h->n, 0);
    }
}

size_t reco_topn_finish(reco_topn_heap *h)
{
    /* Heap sort: repeatedly move the worst to the end. */
    size_t n = h->n;
    for (size_t end = n; end > 1; end--) {
        reco_scored t = h->v[0];
        h->v[0] = h->v[end - 1];
        h->v[end - 1] = t;
        reco_topn_sift_down(h->v, end - 1, 0);
    }
    return n;
}

/* The one selection loop, for an exclude list alone (f NULL: none) or,
 * with capped set, every rule of f. */
static size_t select_scan(const float *scores, uint32_t n, const reco_item_filter *f,
                          bool capped, size_t k, reco_scored *out)
{
    reco_topn_capped c;
    reco_topn_capped_init(&c, out, k, capped ? f : NULL);
    if (k == 0)
        return 0;
    const uint32_t *exclude = f ? f->exclude : NULL;
    const size_t n_exclude = f ? f->n_exclude : 0;
    /* Items arrive in increasing id, so once the heap is full a score equal
     * to its worst entry loses the tie: only a strictly greater score can
     * enter. Blocks of 16 are tested against that threshold first (a loop
     * the compiler vectorises); the exclusion list (or the filter) is
     * consulted only for the few items that pass. NaN and -INFINITY never
     * pass. The threshold of the capped list is as valid a bound as the
     * plain heap's (reco/item_filter.h). */
    float thr = -INFINITY;
    size_t e = 0;
    uint32_t i0 = 0;
    for (; i0 < n; i0 += 16) {
        uint32_t cnt = n - i0 < 16 ? n - i0 : 16;
        int any = 0;
        for (uint32_t j = 0; j < cnt; j++)
            any |= scores[i0 + j] > thr;
        if (!any)
            continue;
        for (uint32_t j = 0; j < cnt; j++) {
            float sc = scores[i0 + j];
            if (!(sc > thr))
                continue;
            uint32_t i = i0 + j;
            while (e < n_exclude && exclude[e] < i)
                e++;
            if (e < n_exclude && exclude[e] == i)
                continue;
            if (capped && !reco_item_filter_admits(f, i))
                continue;
            reco_topn_capped_push(&c, i, sc);
            thr = reco_topn_capped_threshold(&c);
        }
    }
    return reco_topn_capped_finish(&c);
}

size_t reco_topn_select(const float *scores, uint32_t n, const uint32_t *exclude,
                        size_t n_exclude, size_t k, reco_scored *out)
{
    const reco_item_filter f = {.exclude = exclude, .n_exclude = exclude ? n_exclude : 0};
    return select_scan(scores, n, &f, false, k, out);
}

size_t reco_topn_select_filter(const float *scores, uint32_t n, const reco_item_filter *f,
                               size_t k, reco_scored *out)
{
    return select_scan(scores, n, f, !reco_item_filter_exclude_only(f), k, out);
}

int reco_topn_head_build(reco_topn_head *h, const float *scores, uint32_t n, size_t cap)
{
    reco_topn_head_clear(h);
    h->v = malloc((cap ? cap : 1) * sizeof *h->v);
    if (!h->v)
        return -1;
    h->cap = cap;
    h->n = reco_topn_select(scores, n, NULL, 0, cap, h->v);
    return 0;
}

void reco_topn_head_clear(reco_topn_head *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

bool reco_sorted_contains(const uint32_t *ex, size_t n, uint32_t i)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ex[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ex[lo] == i;
}

size_t reco_topn_head_select(const reco_topn_head *h, const float *scores, uint32_t n,
                             const uint32_t *exclude, size_t n_exclude, size_t k,
                             reco_scored *out)
{
    const reco_item_filter f = {.exclude = exclude, .n_exclude = exclude ? n_exclude : 0};
    return reco_topn_head_select_filter(h, scores, n, &f, k, out);
}

size_t reco_topn_head_select_filter(const reco_topn_head *h, const float *scores, uint32_t n,
                                    const reco_item_filter *f, size_t k, reco_scored *out)
{
    /* The head is in the selection's order and everything outside it
     * comes after all of it, so the greedy list is read off it in order:
     * once k entries are taken, nothing later can enter. */
    reco_topn_capped c;
    reco_topn_capped_init(&c, out, k, f);
    if (k == 0)
        return 0;
    const bool plain = reco_item_filter_exclude_only(f);
    for (size_t j = 0; j < h->n && c.h.n < k; j++) {
        uint32_t i = h->v[j].id;
        if (plain ? f && f->n_exclude && reco_sorted_contains(f->exclude, f->n_exclude, i)
                  : !reco_item_filter_admits(f, i))
            continue;
        reco_topn_capped_push(&c, i, h->v[j].score);
    }
    size_t got = reco_topn_capped_finish(&c);
    /* Enough, or the head holds every selectable entry. */
    if (got == k || h->n < h->cap)
        return got;
    return reco_topn_select_filter(scores, n, f, k, out);
}
