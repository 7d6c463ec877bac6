/* reco: request-time rules (reco/item_filter.h): which products a filter
 * admits, the same rules laid out in an index's walk order (walks), and
 * the capped top-N collector that enforces max_per_category while a search
 * runs. */
#include "reco/item_filter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool reco_item_filter_admits(const reco_item_filter *f, uint32_t i)
{
    if (!f)
        return true;
    if (f->n_exclude && reco_sorted_contains(f->exclude, f->n_exclude, i))
        return false;
    return reco_item_filter_admits_attrs(f, i);
}

bool reco_item_filter_admits_attrs(const reco_item_filter *f, uint32_t i)
{
    if (!f)
        return true;
    if (f->include && !reco_sorted_contains(f->include, f->n_include, i))
        return false;
    if (f->hidden && i < f->n_hidden_bits && (f->hidden[i / 64] >> (i % 64) & 1))
        return false;
    if (f->n_categories) {
        uint32_t c = reco_item_filter_category(f, i);
        if (c == RECO_NO_CATEGORY)
            return false;
        for (size_t r = 0; r < f->n_categories; r++)
            if (c >= f->categories[r].lo && c < f->categories[r].hi)
                return true;
        return false;
    }
    return true;
}

bool reco_item_filter_exclude_only(const reco_item_filter *f)
{
    return !f || (!f->include && !f->hidden && !f->n_categories && !f->max_per_category);
}

bool reco_item_filter_is_empty(const reco_item_filter *f)
{
    return reco_item_filter_exclude_only(f) && (!f || !f->n_exclude);
}

int reco_item_filter_walk_build(reco_item_filter_walk *w, const uint32_t *order, uint32_t n,
                                const uint32_t *item_category, size_t n_item_category,
                                const uint64_t *hidden, size_t n_hidden_bits)
{
    memset(w, 0, sizeof *w);
    w->category = malloc(((size_t)n + 1) * sizeof *w->category);
    w->hidden = calloc((size_t)n / 64 + 1, sizeof *w->hidden);
    if (!w->category || !w->hidden) {
        reco_item_filter_walk_clear(w);
        return -1;
    }
    for (uint32_t p = 0; p < n; p++) {
        uint32_t i = order[p];
        w->category[p] = item_category && i < n_item_category ? item_category[i]
                                                              : RECO_NO_CATEGORY;
        if (hidden && i < n_hidden_bits && (hidden[i / 64] >> (i % 64) & 1))
            w->hidden[p / 64] |= (uint64_t)1 << (p % 64);
    }
    w->order = order;
    w->n = n;
    return 0;
}

void reco_item_filter_walk_clear(reco_item_filter_walk *w)
{
    if (!w)
        return;
    free(w->category);
    free(w->hidden);
    memset(w, 0, sizeof *w);
}

const reco_item_filter_walk *reco_item_filter_walk_for(const reco_item_filter *f,
                                                       const uint32_t *order, uint32_t n)
{
    for (size_t j = 0; f && j < f->n_walks; j++)
        if (f->walks[j].order == order && f->walks[j].n == n)
            return &f->walks[j];
    return NULL;
}

void reco_topn_capped_init(reco_topn_capped *c, reco_scored *storage, size_t k,
                           const reco_item_filter *f)
{
    reco_topn_init(&c->h, storage, k);
    c->f = f;
    c->cap = f ? f->max_per_category : 0;
}

void reco_topn_capped_push(reco_topn_capped *c, uint32_t id, float score)
{
    reco_topn_heap *h = &c->h;
    if (h->k == 0 || isnan(score) || score == -INFINITY)
        return;
    uint32_t cat = c->cap ? reco_item_filter_category(c->f, id) : RECO_NO_CATEGORY;
    if (cat == RECO_NO_CATEGORY) {
        reco_topn_push(h, id, score);
        return;
    }
    reco_scored e = {id, score};
    /* A product that cannot beat the list's worst cannot enter either way
     * (a category's worst is no better). */
    if (h->n == h->k && !reco_scored_before(e, h->v[0]))
        return;
    /* The category's count and worst entry, by a pass over the list: it
     * holds k entries, and only products that beat the list's worst get
     * here. */
    size_t count = 0, worst = 0;
    for (size_t j = 0; j < h->n; j++) {
        if (reco_item_filter_category(c->f, h->v[j].id) != cat)
            continue;
        if (count++ == 0 || reco_scored_before(h->v[worst], h->v[j]))
            worst = j;
    }
    if (count < c->cap) {
        reco_topn_push(h, id, score);
        return;
    }
    if (reco_scored_before(e, h->v[worst])) {
        /* A better entry in the worst one's place only moves down. */
        h->v[worst] = e;
        reco_topn_sift_down(h->v, h->n, worst);
    }
}

size_t reco_topn_capped_finish(reco_topn_capped *c) { return reco_topn_finish(&c->h); }
