/* String interning with open addressing (linear probing).
 *
 * Why hand-written: interning 8 million IDs is the hot loop of ingest, and a
 * generic hash table does a cache miss for the slot and another for the key.
 * Here a slot is 32 bytes holding the key inline (IDs are short: ASINs are
 * 10 bytes, Amazon user IDs 14), so a lookup costs one miss, and the batch
 * call prefetches a whole batch of slots so that those misses overlap. */
#include "reco/idmap.h"

#include "mem.h"
#include "reco/utf8.h"

#include <stdio.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define INLINE_MAX 23

typedef struct slot {
    uint32_t id1;            /* id + 1; 0 marks an empty slot */
    uint32_t hash;           /* low 32 bits of the key's hash */
    uint8_t len;
    char key[INLINE_MAX];    /* the key, or its first bytes when longer */
} slot;

_Static_assert(sizeof(slot) == 32, "slot must stay half a cache line");

struct reco_idmap {
    int refs;
    bool borrowed;           /* arrays point into a model file mapping */
    slot *slots;
    size_t cap;              /* power of two */
    size_t n;
    /* Keys by id, NUL-terminated, for output and long-key comparison. */
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *offs;          /* n entries: offset of key id in arena */
    size_t offs_cap;
};

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t reco_idmap_hash(const char *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0x100000001b3ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0x87c37b91114253d5ULL;
        h = (h << 31) | (h >> 33);
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, key + i, len - i);
        h = (h ^ w) * 0x4cf5ad432745937fULL;
    }
    return mix64(h);
}

reco_idmap *reco_idmap_new(size_t expected)
{
    reco_idmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->refs = 1;
    size_t cap = 64;
    while (cap * 7 < expected * 10)
        cap <<= 1;
    m->slots = reco_calloc_huge(cap, sizeof(slot));
    m->cap = cap;
    m->offs_cap = expected > 16 ? expected : 16;
    m->offs = malloc(m->offs_cap * sizeof *m->offs);
    m->arena_cap = m->offs_cap * 16;
    m->arena = malloc(m->arena_cap);
    if (!m->slots || !m->offs || !m->arena) {
        reco_idmap_free(m);
        return NULL;
    }
    return m;
}

void reco_idmap_free(reco_idmap *m)
{
    if (!m || --m->refs > 0)
        return;
    if (m->borrowed) {
        free(m);
        return;
    }
    free(m->slots);
    free(m->arena);
    free(m->offs);
    free(m);
}

reco_idmap *reco_idmap_ref(reco_idmap *m)
{
    if (m)
        m->refs++;
    return m;
}

size_t reco_idmap_size(const reco_idmap *m) { return m ? m->n : 0; }

size_t reco_idmap_memory(const reco_idmap *m)
{
    if (m->borrowed)
        return sizeof *m;
    return sizeof *m + m->cap * sizeof(slot) + m->arena_cap + m->offs_cap * sizeof(uint64_t);
}

const char *reco_idmap_key(const reco_idmap *m, uint32_t id, size_t *len)
{
    const char *k = m->arena + m->offs[id];
    if (len) {
        size_t end = id + 1 < m->n ? m->offs[id + 1] : m->arena_len;
        *len = end - m->offs[id] - 1;
    }
    return k;
}

/* Copy and compare of short keys with fixed-size overlapping loads: for
 * IDs of a few bytes, libc's memcpy/memcmp calls (and the `rep movs` the
 * compiler emits for variable sizes) cost more than the work. */
static inline void copy_short(char *dst, const char *src, size_t len)
{
    if (len >= 8) {
        size_t i = 0;
        for (; i + 8 <= len; i += 8)
            memcpy(dst + i, src + i, 8);
        if (i < len)
            memcpy(dst + len - 8, src + len - 8, 8);
    } else if (len >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + len - 4, src + len - 4, 4);
    } else {
        for (size_t i = 0; i < len; i++)
            dst[i] = src[i];
    }
}

static inline bool equal_short(const char *a, const char *b, size_t len)
{
    if (len >= 8) {
        uint64_t x, y;
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return false;
        }
        if (i < len) {
            memcpy(&x, a + len - 8, 8);
            memcpy(&y, b + len - 8, 8);
            return x == y;
        }
        return true;
    }
    if (len >= 4) {
        uint32_t x, y, z, w;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&z, a + len - 4, 4);
        memcpy(&w, b + len - 4, 4);
        return x == y && z == w;
    }
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static inline int slot_matches(const reco_idmap *m, const slot *s, uint32_t h32,
                               const char *key, size_t len)
{
    if (s->hash != h32 || s->len != len)
        return 0;
    if (len <= INLINE_MAX)
        return equal_short(s->key, key, len);
    return equal_short(s->key, key, INLINE_MAX) &&
           memcmp(m->arena + m->offs[s->id1 - 1], key, len) == 0;
}

static int grow_table(reco_idmap *m)
{
    size_t ncap = m->cap * 2;
    slot *ns = reco_calloc_huge(ncap, sizeof(slot));
    if (!ns)
        return -1;
    size_t mask = ncap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        const slot *s = &m->slots[i];
        if (!s->id1)
            continue;
        size_t j = s->hash & mask;
        while (ns[j].id1)
            j = (j + 1) & mask;
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

/* Copies a borrowed (mapped, read-only) map into owned memory. */
static int materialize(reco_idmap *m)
{
    slot *s = reco_calloc_huge(m->cap, sizeof(slot));
    char *a = malloc(m->arena_len + 1);
    uint64_t *o = malloc((m->n + 1) * sizeof *o);
    if (!s || !a || !o) {
        free(s);
        free(a);
        free(o);
        return -1;
    }
    memcpy(s, m->slots, m->cap * sizeof(slot));
    memcpy(a, m->arena, m->arena_len);
    memcpy(o, m->offs, m->n * sizeof *o);
    m->slots = s;
    m->arena = a;
    m->arena_cap = m->arena_len + 1;
    m->offs = o;
    m->offs_cap = m->n + 1;
    m->borrowed = false;
    return 0;
}

/* Makes room for `more` new keys of total `bytes` in table and arena. */
static int reserve(reco_idmap *m, size_t more, size_t bytes)
{
    if (m->borrowed && materialize(m))
        return -1;
    /* Keep the load factor under 0.7: probes stay short (a probe run
     * mostly ends in the slot's own cache line), while the table stays
     * small enough for millions of IDs. */
    while ((m->n + more) * 10 > m->cap * 7)
        if (grow_table(m))
            return -1;
    if (m->n + more > m->offs_cap) {
        size_t nc = m->offs_cap * 2;
        while (nc < m->n + more)
            nc *= 2;
        uint64_t *no = realloc(m->offs, nc * sizeof *no);
        if (!no)
            return -1;
        m->offs = no;
        m->offs_cap = nc;
    }
    if (m->arena_len + bytes > m->arena_cap) {
        size_t nc = m->arena_cap * 2;
        while (nc < m->arena_len + bytes)
            nc *= 2;
        char *na = realloc(m->arena, nc);
        if (!na)
            return -1;
        m->arena = na;
        m->arena_cap = nc;
    }
    return 0;
}

/* Probes for key; inserts it if absent. Room must have been reserved. */
static inline uint32_t probe_insert(reco_idmap *m, uint32_t h32, const char *key, size_t len)
{
    size_t mask = m->cap - 1;
    size_t j = h32 & mask;
    for (;;) {
        slot *s = &m->slots[j];
        if (!s->id1)
            break;
        if (slot_matches(m, s, h32, key, len))
            return s->id1 - 1;
        j = (j + 1) & mask;
    }
    uint32_t id = (uint32_t)m->n++;
    slot *s = &m->slots[j];
    s->id1 = id + 1;
    s->hash = h32;
    s->len = (uint8_t)len;
    copy_short(s->key, key, len < INLINE_MAX ? len : INLINE_MAX);
    m->offs[id] = m->arena_len;
    copy_short(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = '\0';
    m->arena_len += len + 1;
    return id;
}

reco_status reco_idmap_reserve(reco_idmap *m, size_t n_keys, size_t key_bytes)
{
    if (n_keys <= m->n)
        return RECO_OK;
    return reserve(m, n_keys - m->n, key_bytes) ? RECO_ERR_NOMEM : RECO_OK;
}

reco_status reco_idmap_intern(reco_idmap *m, const char *key, size_t len, uint32_t *id)
{
    if (len == 0 || len > RECO_ID_MAX)
        return RECO_ERR_INVALID;
    if (m->n >= UINT32_MAX - 1)
        return RECO_ERR_TOO_LARGE;
    if (reserve(m, 1, len + 1))
        return RECO_ERR_NOMEM;
    *id = probe_insert(m, (uint32_t)reco_idmap_hash(key, len), key, len);
    return RECO_OK;
}

reco_status reco_idmap_intern_batch(reco_idmap *m, size_t n, const char *const *keys,
                                    const uint8_t *lens, const uint32_t *hashes,
                                    uint32_t *ids)
{
    /* Software pipelining: the slot of key i + DIST is prefetched while key
     * i is probed, so about DIST cache misses are in flight at once. */
    enum { BLOCK = 1024, DIST = 20 };
    uint32_t hb[BLOCK];
    for (size_t b = 0; b < n; b += BLOCK) {
        size_t cnt = n - b < BLOCK ? n - b : BLOCK;
        if (m->n + cnt >= UINT32_MAX - 1)
            return RECO_ERR_TOO_LARGE;
        size_t bytes = 0;
        for (size_t i = 0; i < cnt; i++)
            bytes += (size_t)lens[b + i] + 1;
        if (reserve(m, cnt, bytes))
            return RECO_ERR_NOMEM;
        for (size_t i = 0; i < cnt; i++)
            hb[i] = hashes ? hashes[b + i] : (uint32_t)reco_idmap_hash(keys[b + i], lens[b + i]);
        const size_t mask = m->cap - 1;
        for (size_t i = 0; i < cnt && i < DIST; i++)
            __builtin_prefetch(&m->slots[hb[i] & mask], 1, 3);
        for (size_t i = 0; i < cnt; i++) {
            if (i + DIST < cnt)
                __builtin_prefetch(&m->slots[hb[i + DIST] & mask], 1, 3);
            ids[b + i] = probe_insert(m, hb[i], keys[b + i], lens[b + i]);
        }
    }
    return RECO_OK;
}

int64_t reco_idmap_find(const reco_idmap *m, const char *key, size_t len)
{
    if (!m || len == 0 || len > RECO_ID_MAX)
        return -1;
    uint64_t h = reco_idmap_hash(key, len);
    uint32_t h32 = (uint32_t)h;
    size_t mask = m->cap - 1;
    for (size_t j = h32 & mask;; j = (j + 1) & mask) {
        const slot *s = &m->slots[j];
        if (!s->id1)
            return -1;
        if (slot_matches(m, s, h32, key, len))
            return s->id1 - 1;
    }
}

reco_idmap *reco_idmap_subset(const reco_idmap *m, const uint32_t *old_ids, size_t n)
{
    reco_idmap *r = reco_idmap_new(n);
    if (!r)
        return NULL;
    for (size_t j = 0; j < n; j++) {
        size_t len;
        const char *k = reco_idmap_key(m, old_ids[j], &len);
        uint32_t id;
        if (reco_idmap_intern(r, k, len, &id) != RECO_OK) {
            reco_idmap_free(r);
            return NULL;
        }
    }
    return r;
}

/* ---- model files ---- */

/* Contents version of PREFIX.meta. */
#define IDMAP_FORMAT 1

/* Tables of at most 2^31 slots (64 GiB; 1.5 billion IDs): slot positions
 * plus one fit in 32 bits while loading. */
#define CAP_MAX ((uint64_t)1 << 31)

static void section_name(char *buf, size_t cap, const char *prefix, const char *what)
{
    snprintf(buf, cap, "%s.%s", prefix, what);
}

reco_status reco_idmap_save(const reco_idmap *m, reco_mfile_writer *w, const char *prefix,
                            reco_error *err)
{
    char name[64];
    reco_status rc;
    reco_mfile_meta *meta = reco_mfile_meta_new(IDMAP_FORMAT);
    reco_mfile_meta_put_u64(meta, "n", m->n);
    reco_mfile_meta_put_u64(meta, "cap", m->cap);
    reco_mfile_meta_put_u64(meta, "arena_len", m->arena_len);
    reco_mfile_meta_put_u64(meta, "inline_max", INLINE_MAX);
    section_name(name, sizeof name, prefix, "meta");
    if ((rc = reco_mfile_add_meta(w, name, meta, err)))
        return rc;
    section_name(name, sizeof name, prefix, "slots");
    if ((rc = reco_mfile_add(w, name, m->slots, m->cap * sizeof(slot), err)))
        return rc;
    section_name(name, sizeof name, prefix, "arena");
    if ((rc = reco_mfile_add(w, name, m->arena, m->arena_len, err)))
        return rc;
    section_name(name, sizeof name, prefix, "offs");
    return reco_mfile_add(w, name, m->offs, m->n * sizeof *m->offs, err);
}

/* Slots a loading thread takes at a time. */
#define CHUNK ((uint64_t)1 << 16)

/* The slots of a mapped table: every slot empty or holding an id < n with
 * a key length of 1..RECO_ID_MAX, at least one slot empty (so a lookup
 * ends), and each full slot reachable from its home (hash & mask) with no
 * empty slot in between (so the linear probe of its hash finds it).
 * Fills pos[id] = slot + 1 and *count with the full slots. Returns a
 * description of the first fault found, or NULL. Linear in cap,
 * whatever the table holds. */
static const char *check_slots(const slot *sl, uint64_t cap, uint64_t n, uint32_t *pos,
                               uint64_t *count)
{
    const uint64_t mask = cap - 1, nch = (cap + CHUNK - 1) / CHUNK;
    /* The last empty slot of each chunk (cap if none), then the last one
     * before each chunk's start, cyclically. */
    uint64_t *last = malloc(2 * nch * sizeof *last);
    if (!last)
        return "out of memory";
    uint64_t *before = last + nch;
#pragma omp parallel for schedule(static) if (nch > 4)
    for (uint64_t c = 0; c < nch; c++) {
        uint64_t lo = c * CHUNK, j = lo + CHUNK < cap ? lo + CHUNK : cap;
        last[c] = cap;
        while (j-- > lo)
            if (!sl[j].id1) {
                last[c] = j;
                break;
            }
    }
    uint64_t prev = cap;
    for (uint64_t c = nch; c-- > 0 && prev == cap;)
        prev = last[c]; /* the last empty slot of the table */
    if (prev == cap) {
        free(last);
        return "no empty slot (a lookup of an absent ID would never end)";
    }
    for (uint64_t c = 0; c < nch; c++) {
        before[c] = prev;
        if (last[c] != cap)
            prev = last[c];
    }
    uint64_t full = 0;
    int bad_id = 0, bad_len = 0, unreachable = 0;
#pragma omp parallel for schedule(static) reduction(+ : full) \
    reduction(| : bad_id, bad_len, unreachable) if (nch > 4)
    for (uint64_t c = 0; c < nch; c++) {
        uint64_t lo = c * CHUNK, hi = lo + CHUNK < cap ? lo + CHUNK : cap, e = before[c];
        for (uint64_t j = lo; j < hi; j++) {
            const slot *s = &sl[j];
            if (!s->id1) {
                e = j;
                continue;
            }
            full++;
            bad_len |= s->len == 0;
            unreachable |= ((j - (s->hash & mask)) & mask) >= ((j - e) & mask);
            if (s->id1 > n) {
                bad_id = 1;
                continue;
            }
            /* An id in two slots leaves another in none: found below. */
            __atomic_store_n(&pos[s->id1 - 1], (uint32_t)(j + 1), __ATOMIC_RELAXED);
        }
    }
    free(last);
    *count = full;
    if (bad_id)
        return "a slot holds an index past the table's count";
    if (bad_len)
        return "a slot holds a key of length 0";
    if (unreachable)
        return "a key sits where the probe of its hash does not reach";
    return NULL;
}

/* The keys: offsets rising through the arena from 0, each key 1 to
 * RECO_ID_MAX bytes of UTF-8 without NUL and NUL-terminated, and held by
 * the slot check_slots found for it, with the key's hash, length and
 * inline bytes. */
static const char *check_keys(const slot *sl, const char *a, uint64_t alen, const uint64_t *o,
                              uint64_t n, const uint32_t *pos)
{
    int bad_key = 0, no_slot = 0, mismatch = 0;
    if (n && o[0] != 0)
        return "the first key does not start the arena";
#pragma omp parallel for schedule(static) reduction(| : bad_key, no_slot, mismatch) \
    if (n > 100000)
    for (uint64_t i = 0; i < n; i++) {
        uint64_t end = i + 1 < n ? o[i + 1] : alen;
        if (o[i] >= end || end > alen || end - o[i] - 1 > RECO_ID_MAX || end - o[i] < 2 ||
            a[end - 1] != '\0') {
            bad_key = 1;
            continue;
        }
        const char *key = a + o[i];
        size_t len = (size_t)(end - o[i] - 1);
        if (memchr(key, '\0', len) || reco_utf8_invalid_at(key, len) != len) {
            bad_key = 1;
            continue;
        }
        if (!pos[i]) {
            no_slot = 1;
            continue;
        }
        const slot *s = &sl[pos[i] - 1];
        mismatch |= s->id1 != i + 1 || s->len != len ||
                    s->hash != (uint32_t)reco_idmap_hash(key, len) ||
                    memcmp(s->key, key, len < INLINE_MAX ? len : INLINE_MAX) != 0;
    }
    if (bad_key)
        return "a key is out of the arena, empty, too long, not NUL-terminated or not UTF-8";
    if (no_slot)
        return "a key has no slot";
    if (mismatch)
        return "a slot does not hold its key's hash, length or bytes";
    return NULL;
}

reco_status reco_idmap_from_mfile(const reco_mfile *f, const char *prefix, reco_idmap **out,
                                  reco_error *err)
{
    *out = NULL;
    char name[64];
    const void *slots, *arena, *offs;
    reco_status rc;
    reco_mfile_meta *meta = NULL;
    uint64_t n = 0, cap = 0, alen = 0, inline_max = 0;
    section_name(name, sizeof name, prefix, "meta");
    if ((rc = reco_mfile_meta_read(f, name, IDMAP_FORMAT, &meta, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "n", 0, UINT32_MAX - 2, &n, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "cap", 1, CAP_MAX, &cap, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "arena_len", 0, UINT64_MAX, &alen, err)) ||
        (rc = reco_mfile_meta_get_u64(meta, "inline_max", INLINE_MAX, INLINE_MAX, &inline_max,
                                      err))) {
        reco_mfile_meta_free(meta);
        return rc;
    }
    reco_mfile_meta_free(meta);
    if (cap & (cap - 1) || n >= cap)
        return reco_error_set(err, RECO_ERR_FORMAT,
                              "%s: corrupt ID table \"%s\": %llu slots for %llu IDs",
                              reco_mfile_path(f), prefix, (unsigned long long)cap,
                              (unsigned long long)n);
    section_name(name, sizeof name, prefix, "slots");
    if ((rc = reco_mfile_array(f, name, cap, sizeof(slot), &slots, err)))
        return rc;
    section_name(name, sizeof name, prefix, "arena");
    if ((rc = reco_mfile_array(f, name, alen, 1, &arena, err)))
        return rc;
    section_name(name, sizeof name, prefix, "offs");
    if ((rc = reco_mfile_array(f, name, n, sizeof(uint64_t), &offs, err)))
        return rc;
    /* Everything a lookup or a key reads is checked here, once: lookups
     * then trust the table. */
    uint32_t *pos = calloc(n ? n : 1, sizeof *pos);
    if (!pos)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    uint64_t full = 0;
    const char *why = check_slots(slots, cap, n, pos, &full);
    if (!why && full != n)
        why = "the slots hold another count of IDs than the table";
    if (!why)
        why = check_keys(slots, arena, alen, offs, n, pos);
    free(pos);
    if (why)
        return reco_error_set(err, !strcmp(why, "out of memory") ? RECO_ERR_NOMEM
                                                                 : RECO_ERR_FORMAT,
                              "%s: corrupt ID table \"%s\": %s", reco_mfile_path(f), prefix, why);
    reco_idmap *m = calloc(1, sizeof *m);
    if (!m)
        return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
    m->refs = 1;
    m->borrowed = true;
    m->slots = (slot *)slots;
    m->cap = cap;
    m->n = n;
    m->arena = (char *)arena;
    m->arena_len = m->arena_cap = alen;
    m->offs = (uint64_t *)offs;
    m->offs_cap = n;
    *out = m;
    return RECO_OK;
}
