/* The model layer's part of similar products (similar.c): the cosine index
 * of the factors source, built on the first search that needs it, dropped
 * after a fit or a load and whenever similar.min_support changes, freed
 * with the model. Private to src/lib/models. */
#ifndef RECO_SIMILAR_INTERNAL_H
#define RECO_SIMILAR_INTERNAL_H

#include "reco/model.h"

/* Drops m->similar_index after a fit, a load or a change of
 * similar.min_support: the next search that needs it builds it afresh.
 * Cannot fail today (the status is kept for callers). */
reco_status reco_similar_prepare(reco_model *m, reco_error *err);

/* Frees m->similar_index; safe when there is none. */
void reco_similar_release(reco_model *m);

#endif
