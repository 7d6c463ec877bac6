/* reco: the product catalogue: what a shop knows about its products beyond
 * their ratings (title, category, availability, free labels), and the
 * pieces of a top-N filter (reco/item_filter.h) it gives a model.
 *
 * Input (reco_catalogue_load; docs/catalogue.md): a CSV file with a header
 * line naming the columns (item_id required; title, category, available,
 * added optional; any other column is a free label key=value) or JSON
 * Lines (one object per line with the same keys; "labels" may be an object
 * of strings). Bad input stops the load with `FILE:LINE: reason`.
 *
 * Guarantees:
 *   - IDs are opaque UTF-8 strings of 1..RECO_ID_MAX bytes, kept exactly;
 *     every string is valid UTF-8 without NUL bytes.
 *   - Categories are paths of segments separated by '/'. A leading or
 *     trailing '/' is dropped ("Audio/" is "Audio"), an empty segment
 *     ("A//B") is refused, and bytes are compared exactly (case matters:
 *     "audio" is not "Audio"). Every distinct path and each of its
 *     prefixes is a category; categories are numbered 0..n-1 in pre-order
 *     of the tree (parents before children, siblings in byte order of
 *     their segment), so a category and its descendants are exactly the
 *     numbers [n, hi): one reco_category_range. Matching is by whole
 *     segments: "Electronics/Audio" covers "Electronics/Audio/Headphones",
 *     never "Electronics/AudioX".
 *   - A catalogue is immutable once built, and reference-counted: any
 *     number of threads may read one while another builds the next with
 *     reco_catalogue_apply (copy on write; the old one is untouched). A
 *     server keeps the current catalogue behind an atomically swapped
 *     pointer and holds a reference for the duration of a request.
 *   - Numbering is that of one catalogue: a change that adds a category
 *     renumbers (the next catalogue is a new snapshot, its tree built
 *     afresh), so category numbers, ranges and a reco_catalogue_view are
 *     valid with the catalogue they came from only.
 *   - Model files: reco_catalogue_save/reco_catalogue_from_mfile store it
 *     as typed metadata plus arrays (sections "cat.*"), and the loader
 *     checks everything (offsets, string bounds, UTF-8, index ranges,
 *     duplicate IDs) before anything is used; the tree is rebuilt, never
 *     trusted. */
#ifndef RECO_CATALOGUE_H
#define RECO_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/idmap.h"
#include "reco/item_filter.h"
#include "reco/modelfile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest title and label value, and longest category path, in bytes. */
#define RECO_CATALOGUE_TEXT_MAX 4096
#define RECO_CATALOGUE_PATH_MAX RECO_ID_MAX
/* A catalogue entry or category index that does not exist. */
#define RECO_CATALOGUE_NONE UINT32_MAX

typedef struct reco_catalogue reco_catalogue;

/* ---- building ---- */

/* An empty catalogue (a start for reco_catalogue_apply). NULL on OOM. */
reco_catalogue *reco_catalogue_new(void);

/* Reads a catalogue file (format by the extension: .csv/.tsv or
 * .jsonl/.ndjson/.json; otherwise by the first non-blank byte, '{' being
 * JSON Lines). RECO_ERR_PARSE with `FILE:LINE: reason` for bad input
 * (missing header or item_id column, a duplicate item_id, a bad
 * `available` value, malformed JSON, a value of the wrong type, bad
 * UTF-8, an ID over 255 bytes, ...); RECO_ERR_NOT_FOUND / IO from the
 * system. */
reco_status reco_catalogue_load(const char *path, reco_catalogue **out, reco_error *err);

/* The same from a buffer; name is used in messages ("name:LINE: ..."),
 * and its extension picks the format as for a path. */
reco_status reco_catalogue_parse(const char *buf, size_t len, const char *name,
                                 reco_catalogue **out, reco_error *err);

/* Adds a reference and returns c. Thread-safe. */
reco_catalogue *reco_catalogue_ref(reco_catalogue *c);

/* Drops a reference; frees on the last. NULL is a no-op. Thread-safe. */
void reco_catalogue_free(reco_catalogue *c);

/* ---- live changes ---- */

/* A change to one product: an insert when item_id is new, else an update.
 * Each field is kept as it was when left NULL (for available: -1); a new
 * product starts with no title, no category, available, no labels. */
typedef struct reco_catalogue_update {
    const char *item_id;       /* required */
    const char *title;         /* NULL: keep; "": none */
    const char *category;      /* NULL: keep; "": none */
    int available;             /* -1: keep; 0; 1 */
    bool set_labels;           /* replace the labels by the n_labels below */
    const char *const *label_keys;
    const char *const *label_values;
    size_t n_labels;
    bool set_added;            /* replace the added time */
    int64_t added;             /* Unix seconds */
} reco_catalogue_update;

/* A new catalogue: old with the n changes applied in order (a later
 * change to the same product wins). old is untouched and may be read
 * meanwhile. Costs one copy of the catalogue, O(products + label and
 * text bytes), plus rebuilding the category tree O(C log C) for C
 * categories: a server groups the changes that arrive together into one
 * call. RECO_ERR_INVALID (nothing applied) for a bad change: an ID or
 * category that is not 1..255 bytes of UTF-8, an empty segment, a text
 * over RECO_CATALOGUE_TEXT_MAX. */
reco_status reco_catalogue_apply(const reco_catalogue *old, const reco_catalogue_update *u,
                                 size_t n, reco_catalogue **out, reco_error *err);

/* Shorthand for one change of availability. RECO_ERR_NOT_FOUND for an
 * item_id not in old. */
reco_status reco_catalogue_set_available(const reco_catalogue *old, const char *item_id,
                                         bool available, reco_catalogue **out, reco_error *err);

/* ---- reading ---- */

/* Products, categories and unavailable products. */
uint32_t reco_catalogue_size(const reco_catalogue *c);
uint32_t reco_catalogue_n_categories(const reco_catalogue *c);
uint32_t reco_catalogue_n_unavailable(const reco_catalogue *c);
/* Whether any product has an `added` time. */
bool reco_catalogue_has_added(const reco_catalogue *c);

/* The product's entry index (0..size-1), or RECO_CATALOGUE_NONE. */
uint32_t reco_catalogue_find(const reco_catalogue *c, const char *item_id, size_t len);

/* One product (e < size). Strings are borrowed from c and NUL-terminated;
 * title and category are NULL when it has none; added is 0 when unset. */
typedef struct reco_catalogue_entry {
    const char *item_id;
    const char *title;
    const char *category_path;
    uint32_t category;         /* number, or RECO_NO_CATEGORY */
    bool available;
    int64_t added;
    uint32_t n_labels;
} reco_catalogue_entry;

void reco_catalogue_entry_get(const reco_catalogue *c, uint32_t e, reco_catalogue_entry *out);

/* Label j (< n_labels) of entry e, borrowed. */
void reco_catalogue_label(const reco_catalogue *c, uint32_t e, uint32_t j, const char **key,
                          const char **value);

/* Category k (< n_categories): its path, parent (RECO_NO_CATEGORY for a
 * top level one), depth (1 for top level), and range [k, hi). */
const char *reco_catalogue_category_path(const reco_catalogue *c, uint32_t k);
uint32_t reco_catalogue_category_parent(const reco_catalogue *c, uint32_t k);
reco_category_range reco_catalogue_category_range(const reco_catalogue *c, uint32_t k);

/* The number of the category at path (normalised as above), or
 * RECO_NO_CATEGORY when there is none (or the path is empty or
 * malformed). */
uint32_t reco_catalogue_category_find(const reco_catalogue *c, const char *path, size_t len);

/* The ranges of paths[0..n-1] for reco_item_filter.categories, into out
 * (room for n): ascending, merged where one contains another, so
 * *n_out <= n. A path that is not a category is not an error: it gives
 * no range and, when unknown is not NULL, unknown[i] is set true (false
 * for a known one). Mind the caller's duty: when every path is unknown
 * *n_out is 0, and a filter with n_categories 0 admits everything, so the
 * list must then be empty with the reason (the unknown categories). */
void reco_catalogue_ranges(const reco_catalogue *c, const char *const *paths, size_t n,
                           reco_category_range *out, size_t *n_out, bool *unknown);

/* ---- a catalogue seen from a model ---- */

/* The per-model-item pieces of a reco_item_filter, for the products of a
 * model's item map (its index i, as the model numbers them): their entry
 * in the catalogue, their category number, and the bitset of those that
 * are not available. A product of the model that the catalogue does not
 * hold has no entry, no category, and is available. Catalogue products
 * the model does not know (no ratings) are counted in only_catalogue.
 * Immutable; valid with the catalogue it came from. */
typedef struct reco_catalogue_view {
    uint32_t n_items;          /* the model's products */
    uint32_t *entry;           /* n_items: catalogue entry or RECO_CATALOGUE_NONE */
    uint32_t *item_category;   /* n_items: category number or RECO_NO_CATEGORY */
    uint64_t *hidden;          /* (n_items + 63) / 64 words: bit set = unavailable */
    uint32_t n_hidden;         /* bits set */
    uint32_t in_catalogue;     /* model products the catalogue holds */
    uint32_t only_catalogue;   /* catalogue products the model does not know */
} reco_catalogue_view;

reco_status reco_catalogue_view_new(const reco_catalogue *c, const reco_idmap *items,
                                    reco_catalogue_view **out, reco_error *err);
void reco_catalogue_view_free(reco_catalogue_view *v);

/* Fills the per-item fields of f (hidden unless include_unavailable,
 * item_category, and categories = ranges[0..n_ranges-1]) from v; leaves
 * exclude, include and max_per_category alone. The arrays are borrowed. */
void reco_catalogue_view_filter(const reco_catalogue_view *v, bool include_unavailable,
                                const reco_category_range *ranges, size_t n_ranges,
                                reco_item_filter *f);

/* Disjoint category ranges covering every category of c, at most
 * max_parts (1..RECO_FACTOR_SPLIT_MAX's worth, the caller's room in out):
 * the parts a top-N index is split into (reco/factor_index.h) so that a
 * category rule walks the products it admits. Starts from the top level
 * categories (consecutive ones merged when there are more than
 * max_parts) and splits the part holding most of v's products into its
 * own products and its subcategories (runs of pieces without products
 * joined into one), while that part holds over a sixteenth
 * of the products and the result fits. *n_out 0 when c has no
 * categories. RECO_ERR_NOMEM when out of memory. */
reco_status reco_catalogue_partition(const reco_catalogue *c, const reco_catalogue_view *v,
                                     uint32_t max_parts, reco_category_range *out,
                                     uint32_t *n_out, reco_error *err);

/* ---- cold start: products without ratings ---- */

/* Where a cold-start entry came from. */
typedef enum reco_cold_source {
    RECO_COLD_CATEGORY = 0,   /* the product's own category */
    RECO_COLD_PARENT,         /* one of its ancestor categories */
    RECO_COLD_POPULAR         /* the overall ranking */
} reco_cold_source;

/* "category", "parent_category", "popular". */
const char *reco_cold_source_name(reco_cold_source s);

typedef struct reco_cold_pick {
    uint32_t item;             /* model item index */
    float score;               /* the popularity score */
    reco_cold_source source;
    uint32_t category;         /* the category searched (RECO_NO_CATEGORY: overall) */
} reco_cold_pick;

/* Products to show for catalogue entry e, which the model does not know
 * (no ratings): the most popular products rules admits (by popular[0..
 * v->n_items-1], a model's popularity scores, higher first, ties by
 * lower index) of e's category, then of its parent, grandparent and so
 * on, then overall; never a product twice. rules (reco/item_filter.h;
 * the cap is not applied) NULL: every available product. Up to n into
 * out; *n_out the count. A product without a category goes straight to
 * the overall ranking. Costs one scan of the model's products per
 * level. */
reco_status reco_catalogue_cold_similar(const reco_catalogue *c, const reco_catalogue_view *v,
                                        const float *popular, uint32_t e,
                                        const reco_item_filter *rules, size_t n,
                                        reco_cold_pick *out, size_t *n_out, reco_error *err);

/* ---- model files ---- */

/* Adds c as sections "cat.meta" (typed metadata) and "cat.*" arrays. c
 * must stay alive until the file is committed. */
reco_status reco_catalogue_save(const reco_catalogue *c, reco_mfile_writer *w, reco_error *err);

/* Whether f holds a catalogue. */
bool reco_catalogue_in_mfile(const reco_mfile *f);

/* Reads the catalogue of f into a new catalogue (a copy: it does not
 * borrow the mapping), validating everything: RECO_ERR_FORMAT naming the
 * file and the section for anything out of bounds or inconsistent. */
reco_status reco_catalogue_from_mfile(const reco_mfile *f, reco_catalogue **out,
                                      reco_error *err);

#ifdef __cplusplus
}
#endif

#endif
