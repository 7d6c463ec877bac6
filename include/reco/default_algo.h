/* reco: the recommended model, the algorithm registered as "default" and
 * what `reco train` builds when no --algo is given.
 *
 * A shop needs two things from a model: a list that ranks the products a
 * customer is likely to take (/v1/users/{u}/recommendations) and, where it
 * shows stars, an accurate predicted rating (/v1/predict, the
 * predicted_rating of each product). No single algorithm does both best:
 * models fitted to the rating values (mf) predict stars well but rank
 * barely better than a bestseller list, and the implicit-feedback models
 * (ials, ease) rank far better but predict no stars. So this model holds
 * two fitted models in one file:
 *
 *   the ranker     chosen for the data among `rankers` (default
 *                  "ials,ease,popular"): each candidate is fitted on a
 *                  validation split carved out of the training data only
 *                  (`validation`, default each user's latest 20% by time;
 *                  a random 20% when there are no timestamps) and scored by
 *                  `metric` (default ndcg@10, relevant = rating >= 4, or
 *                  every rating when the top of the scale is below 4); the
 *                  best is refitted on all the training data. A candidate
 *                  that cannot be fitted (ease on a catalogue too large for
 *                  ease.max_memory) is skipped and says why. With one
 *                  candidate, or when the data is too small to carve a
 *                  validation split, the first candidate is used and the
 *                  choice records why.
 *   the predictor  `predictor` (default mf) for rating predictions, with
 *                  fold-in of ratings that arrive later; "none" leaves them
 *                  to the baseline.
 *
 * Two rankers often do better together than either alone: with
 * blend=auto the two best candidates of different algorithms are also tried
 * as a blend (for each user, the mean of the two models' scores, each
 * standardised over the catalogue), and the blend is kept if it does
 * better on the same validation split. A blend scores the whole catalogue
 * twice per request (no pruned top-N), so blend=auto tries it only for
 * catalogues of at most blend_max_items (default 50,000) products.
 *
 * Scores of a list are the ranker's (score_kind names them, "blend" for a
 * blend); predicted
 * ratings and explanations ("because") come from the ranker where it has
 * them. Similar products (reco_model_similar's chain) take their co_rated
 * source from the first sub-model with a list of its own (ease), their
 * factors from the first with factors: ranker, second ranker, predictor.
 * Sub-models take their own parameters as "ALGO.KEY" (ials.factors=128,
 * mf.factors=50, ease.lambda=300, popular.by=count). Nothing is chosen on
 * the data a caller evaluates on: `reco eval --algo default` repeats the
 * whole procedure, selection included, inside each training split. */
#ifndef RECO_DEFAULT_ALGO_H
#define RECO_DEFAULT_ALGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_DEFAULT_MAX_CANDIDATES 8
#define RECO_DEFAULT_SUB_MAX 1024

/* The parameters (param_set keys in brackets). Kept as text so that any
 * registered algorithm can be a candidate. */
typedef struct reco_default_params {
    char rankers[96];       /* [rankers] candidates, comma-separated, in order of preference */
    char predictor[32];     /* [predictor] an algorithm that predicts ratings, or "none" */
    char validation[32];    /* [validation] random:F, time:F or loo */
    char metric[32];        /* [metric] a ranking metric as for reco tune: ndcg@10, ... */
    uint64_t seed;          /* [seed] of the validation split */
    /* [blend] "auto": also try the mean of the standardised scores of the
     * two best candidates of different algorithms, and keep it if it does
     * better on the validation split; "off"; or a candidate to blend the
     * ranker with, always. */
    char blend[32];
    /* [blend_max_items] blend=auto tries blends only for catalogues of at
     * most this many products with ratings (a blend scores them all, twice,
     * for every list) */
    uint32_t blend_max_items;
    /* [ALGO.KEY] sub-model parameters, "ALGO.KEY=VALUE" separated by
     * spaces, applied in order (a later one wins). */
    char sub[RECO_DEFAULT_SUB_MAX];
} reco_default_params;

void reco_default_params_default(reco_default_params *p);

/* How the ranker was chosen: every candidate's validation figure. */
typedef struct reco_default_choice {
    char ranker[32];        /* the chosen algorithm */
    char metric[32];        /* the metric compared, e.g. "ndcg@10" */
    char validation[32];    /* the split made, e.g. "time:0.2" */
    uint32_t n;             /* candidates */
    struct {
        char name[32];
        double value;       /* NaN if not measured */
        char note[96];      /* why it was skipped, or "" */
    } cand[RECO_DEFAULT_MAX_CANDIDATES];
    char note[160];         /* why there was no comparison, or "" */
    char blend[32];         /* the second ranker of a blend, or "" */
    double blend_value;     /* the blend's validation figure (NaN if not tried) */
} reco_default_choice;

/* One line saying what was chosen and why, e.g. "ease:min_rating=4
 * (ndcg@10 on a time:0.2 validation split of the training data: ials 0.1314,
 * ease 0.1402, popular 0.0512)", into buf. */
void reco_default_choice_format(const reco_default_choice *c, char *buf, size_t cap);

/* The choice of a fitted "default" model (borrowed), or NULL. */
const reco_default_choice *reco_default_choice_of(const reco_model *m);

#ifdef __cplusplus
}
#endif

#endif
