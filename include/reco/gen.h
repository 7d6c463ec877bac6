/* reco: deterministic synthetic ratings shaped like Amazon's
 * ratings_Electronics.csv.
 *
 * Output: CSV lines `userId,productId,rating,timestamp` (no header, "\n"),
 * ratings written `5.0`, Unix-second timestamps at midnight UTC, the file
 * sorted by product ID (byte order) like the real one. User IDs are `A` and
 * 13 upper-case letters/digits; product IDs are 10-character ASINs, a few
 * all digits (`0132793040`), the rest `B00` and 7 letters/digits, assigned
 * in order of the product's launch date as Amazon's are.
 *
 * The shape: every user and every product has at least one rating; user
 * activity and product popularity are heavy-tailed (log-normal, smoothly
 * truncated at a cap: with the electronics preset most users rate once and
 * about 1,500 rate 50 times or more; many products have one rating, a few
 * thousands); no (user, product) pair repeats.
 * Ratings come from a low-rank model (global + user bias + item bias + dot
 * product of latent factors + noise) cut into 1..5 stars at the quantiles
 * that reproduce the target histogram exactly, so collaborative filtering
 * has real signal to learn. Timestamps follow the growth of Amazon reviews
 * (denser in later years); a product's ratings all follow its launch.
 *
 * Taste in choice: the same latent factors that rate products also choose
 * them, as real customers buy what suits them. Each rating is placed at a
 * noisy copy of its user's taste, z = taste * x + sqrt(1 - taste^2) * e per
 * coordinate (x the user's standardised factors, e standard normal noise),
 * and a k-d tree over the first min(factors, 8) coordinates pairs ratings
 * with products near them, each product receiving exactly its number of
 * ratings (docs/synthetic-data.md). So users with similar taste rate the
 * same products, and the products a user rates suit the user, while every
 * count, degree, the histogram, the IDs, timestamps and file order are
 * exactly those of taste = 0, which is uniform random choice (the matching
 * of earlier versions, byte for byte). The default, RECO_GEN_TASTE_DEFAULT,
 * makes the co-rating structure of a generated file's head match that of
 * the real file's head.
 *
 * Deterministic: the same parameters give byte-identical output whatever
 * the thread count. */
#ifndef RECO_GEN_H
#define RECO_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "reco/error.h"
#include "reco/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default strength of taste in choice, calibrated on the real file's head
 * (docs/synthetic-data.md). */
#define RECO_GEN_TASTE_DEFAULT 0.91

typedef struct reco_gen_params {
    uint64_t seed;
    uint64_t n_ratings;          /* exact number of lines */
    uint32_t n_users;            /* exact number of distinct users */
    uint32_t n_items;            /* exact number of distinct products */
    int factors;                 /* latent dimensions, 1..64 */
    double noise;                /* std dev of per-rating noise; the signal
                                    (biases + factors) has std dev ~1 */
    double taste;                /* 0..1: how much the taste that rates
                                    products also chooses them (see above);
                                    0: products chosen at random */
    double user_sigma;           /* log-normal spread of user activity */
    double item_sigma;           /* log-normal spread of product popularity */
    uint32_t max_user_ratings;   /* cap per user; 0: automatic */
    uint32_t max_item_ratings;   /* cap per product; 0: automatic */
    double hist[5];              /* relative share of 1..5 stars (any scale) */
    int64_t t_start, t_end;      /* timestamp range, inclusive, Unix seconds */
    int threads;                 /* 0: all cores; never changes the output */
} reco_gen_params;

/* Defaults: the "sample" preset with seed 1 and all cores. */
void reco_gen_params_default(reco_gen_params *p);

/* Sets every field except seed and threads from a named preset:
 *   "sample"      40,000 ratings, 1,500 users, 2,000 products (~1.6 MB);
 *                 most users have 10+ ratings, for demos and tests.
 *   "electronics" the size of ratings_Electronics.csv: 7,824,482 ratings,
 *                 4,201,696 users, 476,002 products (~320 MB).
 * RECO_ERR_INVALID for an unknown name (p is then unchanged). */
reco_status reco_gen_params_preset(reco_gen_params *p, const char *name, reco_error *err);

/* Comma-separated preset names, for help texts. */
const char *reco_gen_preset_names(void);

/* RECO_OK if p can be generated; otherwise RECO_ERR_INVALID with a message
 * naming the bad field (e.g. more ratings than user-product pairs allow). */
reco_status reco_gen_params_check(const reco_gen_params *p, reco_error *err);

/* Writes the ratings to out (which stays open and is flushed). Progress
 * stages: "prepare" (steps) then "write" (ratings). Memory: about 12 bytes
 * per rating plus 4 * (factors + 5) bytes per user; while matching with
 * taste > 0, about 24 bytes per rating plus 12 per user if that is more.
 * Errors: invalid parameters, RECO_ERR_NOMEM, RECO_ERR_IO when a write
 * fails. On error the output may hold a partial file. */
reco_status reco_gen_write(const reco_gen_params *p, FILE *out, reco_progress progress,
                           reco_error *err);

/* Events instead of ratings (events.h; docs/synthetic-data.md): the same
 * ratings made into a shopping funnel, `user,item,type,value,timestamp`
 * with a header line. Each rating becomes a view (a second one with
 * chance 0.3); its stars set the chances of a cart (0.02, 0.05, 0.15,
 * 0.40, 0.60 for 1..5 stars) and of a purchase (0.01, 0.02, 0.08, 0.25,
 * 0.40; a purchase comes with a cart); half the purchases are rated with
 * those stars a week later. Deterministic like reco_gen_write; the
 * ratings are held in memory while they are turned into events. */
reco_status reco_gen_events_write(const reco_gen_params *p, FILE *out, reco_progress progress,
                                  reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
