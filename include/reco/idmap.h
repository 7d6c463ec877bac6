/* reco: interning of opaque string IDs (user IDs, product IDs) to dense
 * 32-bit indices 0..n-1 in order of first appearance.
 *
 * Keys are byte strings of 1..RECO_ID_MAX bytes, kept exactly (an ASIN such
 * as "0132793040" stays a string; no trimming, no case folding). The
 * algorithms only ever see indices; the strings are kept for output.
 *
 * A map is reference-counted so that a training set, a test set and a model
 * can share one: reco_idmap_ref() adds a reference, reco_idmap_free() drops
 * one and frees on the last. A shared map must not be modified. */
#ifndef RECO_IDMAP_H
#define RECO_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "reco/error.h"
#include "reco/modelfile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RECO_ID_MAX 255

typedef struct reco_idmap reco_idmap;

/* New empty map sized for about `expected` keys (0 is fine). NULL on OOM. */
reco_idmap *reco_idmap_new(size_t expected);

/* Drops a reference; frees on the last. NULL is a no-op. */
void reco_idmap_free(reco_idmap *m);

/* Adds a reference and returns m. */
reco_idmap *reco_idmap_ref(reco_idmap *m);

size_t reco_idmap_size(const reco_idmap *m);

/* The hash reco_idmap uses; exposed so that parsers can hash while the data
 * is in cache and pass the hashes to reco_idmap_intern_batch(). */
uint64_t reco_idmap_hash(const char *key, size_t len);

/* Makes room for n_keys keys in all (and key_bytes more bytes of key
 * text) so that interning them does not grow the table step by step. */
reco_status reco_idmap_reserve(reco_idmap *m, size_t n_keys, size_t key_bytes);

/* Looks key up and adds it if absent; *id receives its index.
 * RECO_ERR_INVALID for an empty key or one over RECO_ID_MAX bytes. */
reco_status reco_idmap_intern(reco_idmap *m, const char *key, size_t len, uint32_t *id);

/* Interns n keys (keys[i] of lens[i] bytes; hashes[i] the low 32 bits of
 * reco_idmap_hash, or hashes NULL to compute them) and writes their
 * indices to ids.
 * Faster than n calls of reco_idmap_intern: the table is probed in batches
 * with prefetching, so cache misses overlap. Keys must be valid (1..255). */
reco_status reco_idmap_intern_batch(reco_idmap *m, size_t n, const char *const *keys,
                                    const uint8_t *lens, const uint32_t *hashes,
                                    uint32_t *ids);

/* Index of key, or -1 if absent. */
int64_t reco_idmap_find(const reco_idmap *m, const char *key, size_t len);

/* The key of index id (NUL-terminated; its length in *len if len != NULL).
 * The pointer is borrowed and valid while the map lives. id must be < size. */
const char *reco_idmap_key(const reco_idmap *m, uint32_t id, size_t *len);

/* A new map holding the keys of old_ids[0..n-1], in that order, so that key
 * of old_ids[j] gets index j. NULL on OOM. */
reco_idmap *reco_idmap_subset(const reco_idmap *m, const uint32_t *old_ids, size_t n);

/* Adds the map to a model file as sections PREFIX.meta, .slots, .arena,
 * .offs. The map must not change until the file is committed. */
reco_status reco_idmap_save(const reco_idmap *m, reco_mfile_writer *w, const char *prefix,
                            reco_error *err);

/* A map reading those sections in place (no copy, no rehash): it borrows
 * the mapping, which must outlive it. Interning into it first copies it.
 * Everything a lookup can reach is checked first (RECO_ERR_FORMAT naming
 * the table and the fault): slot indices below the count, an empty slot
 * (so a probe ends), every key reachable by the probe of its slot's hash,
 * runs of full slots bounded, each ID in exactly one slot, keys of 1 to
 * RECO_ID_MAX bytes of UTF-8 inside the arena, a long key's length in its
 * slot, and the hash and bytes of a sample of keys in their slots. */
reco_status reco_idmap_from_mfile(const reco_mfile *f, const char *prefix, reco_idmap **out,
                                  reco_error *err);

/* Bytes used by the map (for statistics and benchmarks). */
size_t reco_idmap_memory(const reco_idmap *m);

#ifdef __cplusplus
}
#endif

#endif
