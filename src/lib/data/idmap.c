/* String interning with open addressing (linear probing).
 *
 * Why hand-written: interning 8 million IDs is the hot loop of ingest, and a
 * generic hash table does a cache miss for the slot and another for the key.
 * Here a slot is 32 bytes holding the key inline (IDs are short: ASINs are
 * 10 bytes, Amazon user IDs 14), so a lookup costs one miss, and the batch
 * call prefetches a whole batch of slots so that those misses overlap.
 *
 * A table read from a model file is used in place, and checked once when
 * it is loaded (see "checking a mapped table" below), so that no lookup
 * can read out of bounds or probe forever, whatever the file holds. */
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

/* The t <= 8 bytes at p as the low bytes of a little-endian word (what a
 * memcpy into a zeroed word gives), with fixed-size loads. */
static inline uint64_t load_tail(const char *p, size_t t)
{
    uint64_t w = 0;
    if (t == 8) {
        memcpy(&w, p, 8);
    } else if (t >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + t - 4, 4);
        w = (uint64_t)a | (uint64_t)b << (8 * (t - 4));
    } else {
        for (size_t k = 0; k < t; k++)
            w |= (uint64_t)(unsigned char)p[k] << (8 * k);
    }
    return w;
}

static inline uint64_t hash_inline(const char *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0x100000001b3ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0x87c37b91114253d5ULL;
        h = (h << 31) | (h >> 33);
    }
    if (i < len)
        h = (h ^ load_tail(key + i, len - i)) * 0x4cf5ad432745937fULL;
    return mix64(h);
}

uint64_t reco_idmap_hash(const char *key, size_t len) { return hash_inline(key, len); }

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

/* ---- checking a mapped table ----
 *
 * Everything a lookup or a key reads is checked once, on load, so that
 * lookups can trust the table: every slot's index, that some slot is
 * empty (a probe ends), that each full slot is reachable by the probe of
 * its hash, that the longest run of full slots is bounded (so is every
 * probe), that each ID has exactly one slot, and every key's bytes and
 * bounds. These passes read the big arrays in order, in parallel; the one
 * thing that needs a key's hash and its slot together, at random (that
 * the slot holds the key's hash and bytes), is checked on a sample of
 * keys spread over the table: checking every key cost several times the
 * checksum of the table's bytes, for what a file that passed its
 * checksums can only get wrong on purpose (and then a lookup finds the
 * wrong ID or none, never reads out of bounds). */

/* Slots a loading thread takes at a time. */
#define CHUNK ((uint64_t)1 << 16)

/* The longest run of full slots a table may have. reco's tables are at
 * most 70% full, where runs of more than a few hundred slots do not
 * happen; a crafted table with longer ones would make each lookup of an
 * absent ID walk them. */
#define RUN_MAX ((uint64_t)1 << 16)

/* Keys whose slot is checked against their hash and bytes. */
#define SAMPLE 4096

/* Arena bytes a loading thread takes at a time. */
#define ARENA_BLOCK ((uint64_t)1 << 20)

/* The NUL bytes among u[0..len), counted a word at a time (in byte lanes,
 * folded before they can overflow); *high |= nonzero if some byte is not
 * ASCII. */
static uint64_t arena_scan(const unsigned char *u, uint64_t len, uint64_t *high)
{
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fULL, hi = 0x8080808080808080ULL;
    const uint64_t words = len / 8;
    uint64_t count = 0, h = 0;
    for (uint64_t w0 = 0; w0 < words; w0 += 255) {
        uint64_t lanes = 0, stop = w0 + 255 < words ? w0 + 255 : words;
        for (uint64_t k = w0; k < stop; k++) {
            uint64_t w;
            memcpy(&w, u + 8 * k, 8);
            h |= w;
            /* A byte's top bit in t is clear exactly when the byte is 0. */
            uint64_t t = ((w & lo7) + lo7) | w;
            lanes += (~t & hi) >> 7;
        }
        lanes = (lanes & 0x00ff00ff00ff00ffULL) + ((lanes >> 8) & 0x00ff00ff00ff00ffULL);
        count += (lanes * 0x0001000100010001ULL) >> 48;
    }
    for (uint64_t k = words * 8; k < len; k++) {
        h |= u[k];
        count += u[k] == 0;
    }
    *high |= h & hi;
    return count;
}

/* The keys, in id order: offsets rising through the arena from 0, each key
 * 1 to RECO_ID_MAX bytes of UTF-8 without NUL, and NUL-terminated. Two
 * flat passes: over the offsets (each key's end a NUL), over the arena
 * (exactly n NULs, so none inside a key; and whether it is all ASCII);
 * UTF-8 is then validated key by key only if some byte is not ASCII. */
static const char *check_keys(const char *a, uint64_t alen, const uint64_t *o, uint64_t n)
{
    if (n && o[0] != 0)
        return "the first key does not start the arena";
    if (!n && alen)
        return "the arena holds bytes but there are no keys";
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) if (n > 100000)
    for (uint64_t i = 0; i < n; i++) {
        uint64_t end = i + 1 < n ? o[i + 1] : alen;
        /* 2 to RECO_ID_MAX + 1 bytes with the NUL, inside the arena */
        bad |= end - o[i] - 2 > RECO_ID_MAX - 1 || end > alen || a[end - 1];
    }
    if (bad)
        return "a key is out of the arena, empty, too long or not NUL-terminated";
    const uint64_t nb = (alen + ARENA_BLOCK - 1) / ARENA_BLOCK;
    uint64_t nuls = 0, high = 0;
#pragma omp parallel for schedule(static) reduction(+ : nuls) reduction(| : high) if (nb > 4)
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t lo = b * ARENA_BLOCK, len = alen - lo < ARENA_BLOCK ? alen - lo : ARENA_BLOCK;
        nuls += arena_scan((const unsigned char *)a + lo, len, &high);
    }
    if (nuls != n)
        return "a key holds a NUL byte";
    if (!high)
        return NULL;
#pragma omp parallel for schedule(static) reduction(| : bad) if (n > 100000)
    for (uint64_t i = 0; i < n; i++) {
        size_t len = (size_t)((i + 1 < n ? o[i + 1] : alen) - o[i] - 1);
        bad |= reco_utf8_invalid_at(a + o[i], len) != len;
    }
    return bad ? "a key is not UTF-8" : NULL;
}

enum { BAD_ID = 1, UNREACHABLE = 2, LONG_RUN = 4, BAD_LEN = 8 };

/* The length of key id (< n; keys already checked). */
static inline size_t key_len(const uint64_t *o, uint64_t n, uint64_t alen, uint64_t id)
{
    return (size_t)((id + 1 < n ? o[id + 1] : alen) - o[id] - 1);
}

/* A term of the multiset hash of the IDs in the slots (id1 = ID + 1; an
 * empty slot adds 0). One multiply: the slot pass is bound by work, not
 * memory, once the slots are fetched ahead. */
static inline uint64_t id_term(uint64_t id1)
{
    uint64_t t = id1 * 0x9e3779b97f4a7c15ULL;
    return t ^ (t >> 29);
}

typedef struct chunk_state {
    uint64_t e, count, sum, faults; /* faults: an OR of the enum's bits */
} chunk_state;

static inline void check_one(const slot *sl, uint64_t j, uint64_t mask, uint64_t n,
                             const uint64_t *o, uint64_t alen, chunk_state *c)
{
    uint64_t w0;
    memcpy(&w0, &sl[j], sizeof w0); /* id1, hash */
    const uint64_t id1 = (uint32_t)w0, used = id1 != 0;
    c->e = used ? c->e : j;
    const uint64_t run = (j - c->e) & mask; /* 0 for an empty slot */
    c->count += used;
    c->sum += id_term(id1);
    c->faults |= (uint64_t)(id1 > n) * BAD_ID |
                 (used & (((j - (w0 >> 32)) & mask) >= run)) * UNREACHABLE |
                 (uint64_t)(run > RUN_MAX) * LONG_RUN;
    /* A lookup compares a long key in the arena as far as the slot's
     * length says: it must be the key's. (Rare: IDs are short.) */
    if (__builtin_expect(sl[j].len > INLINE_MAX, 0) && used && id1 <= n &&
        sl[j].len != key_len(o, n, alen, id1 - 1))
        c->faults |= BAD_LEN;
}

/* Slots lo..hi-1 of check_slots, e the last empty slot before lo. Without
 * branches but a rare one (slots are full or empty at random), and with
 * the slots fetched ahead: they sit in 4 KiB pages of the file's mapping,
 * where the processor's own prefetching stops at every page. */
static unsigned check_chunk(const slot *sl, uint64_t lo, uint64_t hi, uint64_t e, uint64_t mask,
                            uint64_t n, const uint64_t *o, uint64_t alen, uint64_t *full,
                            uint64_t *ids)
{
    chunk_state c = {e, 0, 0, 0};
    uint64_t j = lo;
    for (; j + 2 <= hi; j += 2) {
        if (j + 64 < hi)
            __builtin_prefetch(&sl[j + 64]);
        check_one(sl, j, mask, n, o, alen, &c);
        check_one(sl, j + 1, mask, n, o, alen, &c);
    }
    if (j < hi)
        check_one(sl, j, mask, n, o, alen, &c);
    *full = c.count;
    *ids = c.sum;
    return (unsigned)c.faults;
}

/* The slots, in order: every slot empty or holding an id < n (with the
 * key's length if the key is long), at least one slot empty (so a lookup
 * ends), each full slot reachable from its home (hash & mask) with no
 * empty slot in between (so the probe of its hash finds it), no run of
 * full slots longer than RUN_MAX, and each id in exactly one slot: n full
 * slots whose IDs have the multiset hash of 0..n-1 (a sum of mixed terms,
 * which a file can only match with other IDs on purpose; a lookup then
 * misses a key, and never reads out of bounds). Linear in cap whatever
 * the table holds. Returns a description of the first fault, or NULL. */
static const char *check_slots(const slot *sl, uint64_t cap, uint64_t n, const uint64_t *o,
                               uint64_t alen)
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
    uint64_t full = 0, ids = 0, want = 0;
    unsigned faults = 0;
#pragma omp parallel for schedule(static) reduction(+ : full, ids) reduction(| : faults) \
    if (nch > 4)
    for (uint64_t c = 0; c < nch; c++) {
        uint64_t lo = c * CHUNK, hi = lo + CHUNK < cap ? lo + CHUNK : cap, used = 0, sum = 0;
        faults |= check_chunk(sl, lo, hi, before[c], mask, n, o, alen, &used, &sum);
        full += used;
        ids += sum;
    }
    free(last);
#pragma omp parallel for simd reduction(+ : want) if (n > 1000000)
    for (uint64_t id1 = 1; id1 <= n; id1++)
        want += id_term(id1);
    if (faults & BAD_ID)
        return "a slot holds an index past the table's count";
    if (faults & UNREACHABLE)
        return "a key sits where the probe of its hash does not reach";
    if (faults & LONG_RUN)
        return "a run of full slots is too long";
    if (faults & BAD_LEN)
        return "a slot does not hold its key's length";
    if (full != n || ids != want)
        return "the slots do not hold each ID once";
    return NULL;
}

/* Whether the probe of key id, as reco_idmap_find makes it, reaches its
 * own slot, holding its hash, length and inline bytes. The probe is short:
 * runs are bounded (check_slots). */
static bool found_in_place(const slot *sl, uint64_t mask, const char *a, uint64_t alen,
                           const uint64_t *o, uint64_t n, uint64_t id)
{
    const char *key = a + o[id];
    size_t len = key_len(o, n, alen, id);
    uint32_t h32 = (uint32_t)hash_inline(key, len);
    uint64_t j = h32 & mask;
    while (sl[j].id1 && sl[j].id1 != id + 1)
        j = (j + 1) & mask;
    const slot *s = &sl[j];
    return s->id1 == id + 1 && s->hash == h32 && s->len == len &&
           equal_short(s->key, key, len < INLINE_MAX ? len : INLINE_MAX);
}

/* A sample of keys, every ceil(n / SAMPLE)-th and the last, looked up. */
static const char *check_sample(const slot *sl, uint64_t cap, const char *a, uint64_t alen,
                                const uint64_t *o, uint64_t n)
{
    const uint64_t step = n / SAMPLE + 1;
    bool ok = true;
    for (uint64_t i = 0; ok && i < n; i += step)
        ok = found_in_place(sl, cap - 1, a, alen, o, n, i);
    if (ok && n)
        ok = found_in_place(sl, cap - 1, a, alen, o, n, n - 1);
    return ok ? NULL
              : "a key is not in the slot the probe of its hash finds (a table hashed "
                "otherwise, or altered)";
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
    const char *why = check_keys(arena, alen, offs, n);
    if (!why)
        why = check_slots(slots, cap, n, offs, alen);
    if (!why)
        why = check_sample(slots, cap, arena, alen, offs, n);
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
