/* reco: the neighbourhood recommenders "usercf" and "itemcf".
 *
 * Similarity: the cosine of two rating vectors over their common
 * coordinates only (the products two users both rated, or the users who
 * rated both products), by default after subtracting each user's mean
 * rating (centred: Pearson-like for users, Sarwar's adjusted cosine for
 * products), shrunk towards 0 by n / (n + shrinkage) where n is the number
 * of common coordinates. Pairs with fewer than min_support common
 * coordinates, or a similarity <= 0, are never neighbours. Centred, a user
 * whose ratings are all equal (every single-rating user) has no
 * similarity with anyone: on data where most users rate once or always
 * give 5 stars, centered=false keeps their signal (it ranks better there,
 * while centred predicts ratings better; see docs).
 *
 * usercf finds a user's neighbours on demand through the product -> users
 * index: no users x users matrix, memory proportional to the ratings.
 * itemcf precomputes, for every product, its top-K neighbours into a flat
 * table (reco_knn_table) that a model file can later map into memory.
 *
 * Rating predictions (predict) are KNNBaseline-style for both:
 *   r(u,i) = b(u,i) + sum sim * (r - b) / sum sim
 * usercf: over the k users most similar to u among those who rated i;
 * itemcf: over the products u rated that are linked to i in the neighbour
 * table, in either direction (j among i's neighbours or i among j's).
 * With no neighbour the baseline b(u,i) answers.
 *
 * Rankings (recommend) sum similarity x rating: usercf over the k users
 * most similar to the profile (each neighbour's rating of the product),
 * itemcf over the profile's rated products whose neighbour lists hold the
 * product (Linden, Smith and York 2003). Products no neighbour reaches
 * follow, in item-bias order. explain names the rated products behind a
 * recommendation: for itemcf those whose lists hold it, by similarity x
 * rating; for usercf those shared with the neighbours who rated it, by
 * the neighbours' similarity. itemcf's table is also the co_rated source
 * of similar products; for every algorithm without such a list of its own,
 * reco_model_similar computes the same cosines (the default parameters) from
 * the ratings. */
#ifndef RECO_KNN_H
#define RECO_KNN_H

#include <stdbool.h>
#include <stdint.h>

#include "reco/dataset.h"
#include "reco/error.h"
#include "reco/model.h"
#include "reco/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_KNN_K_MAX 1000

/* The two algorithm tables (also found by name with reco_algo_find). */
extern const reco_algo_ops reco_algo_usercf;
extern const reco_algo_ops reco_algo_itemcf;

/* Parameters of both algorithms (candidates is usercf's only). */
typedef struct reco_knn_params {
    int k;            /* neighbours kept: usercf 40, itemcf 50 (1..RECO_KNN_K_MAX) */
    bool centered;    /* subtract each user's mean rating first */
    double shrinkage; /* sim *= n / (n + shrinkage); 0 disables (default 100) */
    int min_support;  /* common coordinates needed for a similarity (default 1) */
    int candidates;   /* usercf: most distinct users examined per recommendation
                         (default 50,000); the profile's rarest products are
                         walked first, and once full only users already met
                         accumulate, so similarities stay exact */
    int threads;      /* fitting threads; 0: the fit context's count (0 there:
                         all cores) */
} reco_knn_params;

void reco_usercf_params_default(reco_knn_params *p);
void reco_itemcf_params_default(reco_knn_params *p);

/* RECO_ERR_INVALID with a message naming the parameter ("usercf.k must be
 * ...") if p is out of range; algo is the name used in the message. */
reco_status reco_knn_params_check(const reco_knn_params *p, const char *algo,
                                  reco_error *err);

/* Sets one parameter from text for algorithm algo ("usercf" or "itemcf";
 * "candidates" is usercf's only): RECO_ERR_INVALID naming the parameter
 * for an unknown key or a bad value. */
reco_status reco_knn_param_set(reco_knn_params *p, const char *algo, const char *key,
                               const char *value, reco_error *err);

/* Writes "k=40 centered=true shrinkage=100 ..." into buf. */
void reco_knn_params_format(const reco_knn_params *p, const char *algo, char *buf, size_t cap);

/* The fields of reco_knn_params, for model files (reco_params_save). */
extern const reco_param_field reco_knn_param_fields[];

/* The similarity from sums over the n common coordinates: dot = sum a*b,
 * saa = sum a*a, sbb = sum b*b. 0 when n < min_support or a norm is 0;
 * otherwise dot / sqrt(saa * sbb) * n / (n + shrinkage). Every path in
 * usercf and itemcf ends here. */
float reco_knn_sim_finish(double dot, double saa, double sbb, uint32_t n,
                          const reco_knn_params *p);

/* Similarity of two sparse vectors given as ascending indices ia/ib with
 * values va/vb; ca and cb are subtracted from every value of a and b (the
 * owner's mean rating when centred, 0 otherwise). *n_common (if not NULL)
 * receives the number of common indices. A linear merge: O(na + nb). */
float reco_knn_similarity(const uint32_t *ia, const float *va, uint32_t na, float ca,
                          const uint32_t *ib, const float *vb, uint32_t nb, float cb,
                          const reco_knn_params *p, uint32_t *n_common);

/* Mean rating of every user of train into mean[n_users] (0 for a user with
 * no rating), computed with `threads` threads (0: all cores). */
void reco_knn_user_means(const reco_dataset *train, int threads, float *mean);

/* The product neighbour table: neighbours of item i are
 * nbr[offsets[i] .. offsets[i+1]) with similarities sim[same range], best
 * first (higher similarity, then lower index); at most k per item, every
 * similarity > 0. */
typedef struct reco_knn_table {
    uint32_t n_items;
    uint32_t k;       /* the K the table was built with */
    uint64_t *offsets; /* n_items + 1 */
    uint32_t *nbr;     /* offsets[n_items] entries */
    float *sim;        /* offsets[n_items] entries */
} reco_knn_table;

/* Builds the top-p->k neighbour table of every product of train, in
 * parallel with `threads` threads (0: all cores; the result does not depend
 * on it). Cost: sum over users of (ratings of the user)^2. Memory while
 * building: 20 bytes per product per thread, 8 x k bytes per product for
 * the lists (compacted to the table's size at the end) and, centred, 8
 * bytes per rating. Progress stage "itemcf" counts products. out is
 * overwritten; free it with reco_knn_table_clear. */
reco_status reco_knn_table_build(const reco_dataset *train, const reco_knn_params *p,
                                 int threads, reco_progress progress, reco_knn_table *out,
                                 reco_error *err);

/* Frees the arrays of t and zeroes it. NULL is a no-op. */
void reco_knn_table_clear(reco_knn_table *t);

/* Number of neighbours of item i (i < t->n_items). */
static inline uint32_t reco_knn_table_len(const reco_knn_table *t, uint32_t i)
{
    return (uint32_t)(t->offsets[i + 1] - t->offsets[i]);
}

/* Shared by usercf's and itemcf's score(): scores[i] holds the sum of
 * similarity x rating that reached product i, den[i] the sum of those
 * similarities. Products never reached (den 0) are given scores below
 * every reached one, ordered by item bias, so a short neighbourhood still
 * fills a top-N; products with no training rating get -INFINITY. */
void reco_knn_rank_finish(const reco_dataset *train, const reco_baseline *base, float *scores,
                          const float *den);

/* The neighbour table of a fitted itemcf model (borrowed from the model, read
 * only), or NULL if m is not a fitted itemcf model. */
const reco_knn_table *reco_itemcf_table(const reco_model *m);

#ifdef __cplusplus
}
#endif

#endif
