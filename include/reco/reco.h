/* reco: the whole core library in one include.
 *
 * Everything libreco (pkg-config: reco) declares: data, models, evaluation,
 * model files, the service, the version. The exploration report and its
 * charts are in libreco-report (pkg-config: reco-report), declared in
 * reco/explore.h and reco/chart.h, which this header does not include.
 * docs/library.md says what is stable across versions. */
#ifndef RECO_RECO_H
#define RECO_RECO_H

#include "reco/baseline.h"
#include "reco/catalogue.h"
#include "reco/clock.h"
#include "reco/dataset.h"
#include "reco/default_algo.h"
#include "reco/ease.h"
#include "reco/error.h"
#include "reco/eval.h"
#include "reco/events.h"
#include "reco/export.h"
#include "reco/factor_index.h"
#include "reco/gen.h"
#include "reco/ials.h"
#include "reco/idmap.h"
#include "reco/item_filter.h"
#include "reco/json.h"
#include "reco/knn.h"
#include "reco/metrics.h"
#include "reco/mf.h"
#include "reco/model.h"
#include "reco/modelfile.h"
#include "reco/pg_source.h"
#include "reco/progress.h"
#include "reco/ratings.h"
#include "reco/ratings_log.h"
#include "reco/service.h"
#include "reco/sparse.h"
#include "reco/split.h"
#include "reco/stats.h"
#include "reco/svd.h"
#include "reco/thousands.h"
#include "reco/topn.h"
#include "reco/tune.h"
#include "reco/utf8.h"
#include "reco/version.h"

#endif
