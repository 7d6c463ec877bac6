/* The model layer's part of similar products (similar.c): the cosine index
 * of the factors source, built after a fit or a load and whenever
 * similar.min_support changes, freed with the model. Private to
 * src/lib/models. */
#ifndef RECO_SIMILAR_INTERNAL_H
#define RECO_SIMILAR_INTERNAL_H

#include "reco/model.h"

/* (Re)builds m->similar_index for a fitted model with factors (for others
 * it stays NULL). RECO_ERR_NOMEM leaves none. */
reco_status reco_similar_prepare(reco_model *m, reco_error *err);

/* Frees m->similar_index; safe when there is none. */
void reco_similar_release(reco_model *m);

#endif
