/* reco: exact top-N for factor models, without scoring the whole catalogue.
 *
 * A factor model scores item i for a user with vector x as
 *     s(i) = base + b_i + x . q_i
 * (mf: base = mu + b_u and item biases b_i; ials: no biases). The index
 * keeps the items in the order of b_i + lambda |q_i| (lambda: a typical
 * user-vector norm), the likely best first, with their biases, norms and
 * factors laid out in that order, the suffix maxima of b and |q|, and the
 * maxima per block of RECO_FACTOR_BLOCK positions. A query walks the order
 * and scores an item only if its Cauchy-Schwarz bound
 *     base + b_i + |x| |q_i|  (plus slack for float rounding)
 * can still beat the n-th best score found; whole blocks are skipped by
 * their maxima, and the walk stops when the suffix bound falls below it.
 * In a block that is not skipped, a second, tighter bound comes from an
 * 8-bit copy of the factors: x . q is estimated from the quantised vectors
 * (integer multiply-adds, 16 products at a time, a quarter of the bytes)
 * with a rigorous bound on the quantisation error, so that only products
 * that can still enter are scored exactly. For long user vectors whose
 * energy is spread over the factors (where Cauchy-Schwarz is loose) this
 * is what keeps the walk from reading the whole float matrix.
 * The result is exactly what scoring every item and selecting would give
 * (same items, same scores, ties by lower index), at a few percent of the
 * cost on shop-shaped data.
 *
 * Items can be left out of the index (those without training ratings):
 * they are never returned. The arrays can be written to a model file and
 * used in place from its mapping. */
#ifndef RECO_FACTOR_INDEX_H
#define RECO_FACTOR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/item_filter.h"
#include "reco/modelfile.h"
#include "reco/topn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_FACTOR_BLOCK 256
#define RECO_FACTOR_LAMBDAS 8

/* One order of the products: the walk's arrays for one lambda. */
typedef struct reco_factor_order {
    uint32_t n;           /* items in the index (positions) */
    uint32_t k, ld;       /* factors used, floats per row (multiple of 16) */
    uint32_t *order;      /* order[p]: the item at position p */
    float *b;             /* [n] bias of the item at p (0 without biases) */
    float *norm;          /* [n] |q| of the item at p */
    float *Q;             /* [n x ld] factors of the item at p */
    float *smax_b;        /* [n] max of b over positions >= p */
    float *smax_norm;     /* [n] max of norm over positions >= p */
    float *blk_b;         /* per block: max of b */
    float *blk_norm;      /* per block: max of norm */
    /* Tighter maxima for long user vectors: for lambda_j = lambda 2^(j-2),
     * j < RECO_FACTOR_LAMBDAS, the suffix and block maxima of b + lambda_j
     * |q| ([j n + p], [j nblocks + block]). A query with |x| <= lambda_j
     * bounds b + x.q by them, which is far tighter than max b + |x| max |q|
     * when the largest biases and norms belong to different products. NULL
     * in files written before them. */
    float *smax_l;
    float *blk_l;
    float lambda;         /* the lambda the order was built with */
    float babs_max;       /* max |b|, for the rounding slack */
    /* A quantised copy for a cheap first pass (NULL: none). Per group of
     * 16 positions and 4 factors, 64 bytes: byte 4j + t is position
     * 16g + j's factor 4d + t as round(q / s) + 128 (s = max |q_f| / 127);
     * n rounded up to 16 positions, k up to 4 factors. */
    uint8_t *q8;
    float *q8_scale;      /* [n] s of each position (0 for a zero row) */
    float *q_l1;          /* [n] sum of |q_f|, for the rounding bound */
    /* A part of a split (below): Q is NULL and the float row of position
     * p is row qrow[p] of qsrc (the whole order's Q). NULL otherwise. */
    uint32_t *qrow;
    const float *qsrc;
    bool mapped;          /* arrays live in a model file mapping */
} reco_factor_order;

/* The index: the products in two orders, by b + lambda |q| with lambda a
 * typical user-vector norm and with 8 lambda. A query walks the order whose
 * lambda suits its |x|: long user vectors (the most active customers) meet
 * the products that can score high for them early in the second order, so
 * their walk stops after a few blocks instead of crossing the catalogue
 * (measured on the full-size mf model: 0.6 ms -> 45 us median for the
 * heaviest users). */
#define RECO_FACTOR_ORDERS 2
typedef struct reco_factor_index {
    uint32_t n_orders;
    reco_factor_order ord[RECO_FACTOR_ORDERS];
} reco_factor_index;

/* The median norm of a sample of at most 100,000 of the n rows of P (row
 * stride ld, k used): the lambda to build with. 0 when n is 0. */
float reco_factor_index_typical_norm(const float *P, uint32_t n, uint32_t k, uint32_t ld);

/* Builds ix over the items i < n_items with include == NULL or include[i]
 * true, from factors Q (row stride ld, k used; rows n_items) and biases b
 * (NULL: none). ix is overwritten; free with reco_factor_index_clear. */
reco_status reco_factor_index_build(reco_factor_index *ix, const float *Q, const float *b,
                                    const bool *include, uint32_t n_items, uint32_t k,
                                    uint32_t ld, float lambda, reco_error *err);

/* The same over vectors of one length and without biases (the unit
 * vectors of a cosine search), in a single order: every lambda would order
 * them alike. Blocks are then never skipped by Cauchy-Schwarz, and the
 * quantised pass (k <= 1024) is what keeps exact products to the few
 * vectors that can still enter. */
reco_status reco_factor_index_build_unit(reco_factor_index *ix, const float *Q, uint32_t n_items,
                                         uint32_t k, uint32_t ld, reco_error *err);

/* Frees what build allocated (nothing for a mapped index); zeroes ix.
 * NULL is a no-op. */
void reco_factor_index_clear(reco_factor_index *ix);

/* The n best items for user vector x (k floats) with score base + b_i +
 * x . q_i, best first, never one of exclude[0..n_exclude-1] (ascending),
 * into out; returns how many were written. Thread-safe (reads only). */
size_t reco_factor_index_topn(const reco_factor_index *ix, const float *x, float base, size_t n,
                              const uint32_t *exclude, size_t n_exclude, reco_scored *out);

/* The same under request-time rules (reco/item_filter.h; NULL: none):
 * exactly the greedy list of the n best products f admits among those
 * scoring every indexed product would give. f is consulted only for
 * products that pass the walk's bounds, before their exact score; when f
 * has a walk that follows the order walked (f->walks), a candidate's
 * hidden bit and category are read from it by position. */
size_t reco_factor_index_topn_filter(const reco_factor_index *ix, const float *x, float base,
                                     size_t n, const reco_item_filter *f, reco_scored *out);

/* ---- category splits ----
 *
 * A category rule that admits a fifth of the catalogue makes the walk of
 * the whole order go deeper (the 10th best product the rule admits lies
 * about where the 50th best does), computing bounds for the four fifths it
 * then rejects. A split cuts one order into parts by category: given
 * disjoint ranges of category numbers (a server takes the catalogue's top
 * level categories), part r is an order of its own over the products whose
 * category lies in range r, in the parent's order, with its own block and
 * suffix maxima and 8-bit copy (exact products read the parent's float
 * rows through qrow, so no float row is copied). A search whose category
 * ranges touch parts holding at most half the products walks only those
 * parts, one list and one threshold for all of them, each part's walk
 * stopping by its own bounds: the same list as the walk of the whole
 * order (every product a part leaves out is outside the rule), with work
 * that follows what the rule admits. Products of no category are in no
 * part (a category rule never admits them). Memory: about the parent's
 * 8-bit copy plus 60 bytes per product in a part. The split is valid with
 * the category numbers it was built from only: a catalogue change that
 * moves a product or renumbers categories needs a new one. */
#define RECO_FACTOR_SPLIT_MAX 64

typedef struct reco_factor_split {
    const uint32_t *parent_order; /* the order split (compared by address) */
    uint32_t n_parts;
    reco_category_range range[RECO_FACTOR_SPLIT_MAX];
    reco_factor_order part[RECO_FACTOR_SPLIT_MAX];
    uint32_t *category; /* category of each part position, parts back to back */
    uint32_t first[RECO_FACTOR_SPLIT_MAX + 1]; /* part r's positions in category */
} reco_factor_split;

/* Splits order o of ix (built, or loaded from a file) by ranges (disjoint,
 * at most RECO_FACTOR_SPLIT_MAX; RECO_ERR_INVALID otherwise) of the
 * per-item categories item_category (n_item_category entries; items beyond
 * have none). s is overwritten; free with reco_factor_split_clear. The
 * parent must outlive it. */
reco_status reco_factor_split_build(reco_factor_split *s, const reco_factor_order *o,
                                    const uint32_t *item_category, size_t n_item_category,
                                    const reco_category_range *ranges, uint32_t n_ranges,
                                    reco_error *err);
/* Frees what build allocated; zeroes s. NULL is a no-op. */
void reco_factor_split_clear(reco_factor_split *s);

/* Adds the index's arrays to a model file as sections PREFIX + "order",
 * "ord_b", ... (borrowed until commit). prefix is at most 16 bytes. */
reco_status reco_factor_index_save(const reco_factor_index *ix, reco_mfile_writer *w,
                                   const char *prefix, reco_error *err);

/* Reads the sections saved with prefix, in place, checking sizes against
 * k and ld and every item index against n_items. */
reco_status reco_factor_index_load(reco_factor_index *ix, const reco_mfile *f,
                                   const char *prefix, uint32_t n_items, uint32_t k, uint32_t ld,
                                   reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
