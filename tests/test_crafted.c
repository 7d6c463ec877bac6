/* Crafted model files: the sections of a good file copied into a new one
 * (so every checksum is right) with one section changed, the way an
 * attacker or a bug would change it. Each is refused with a message that
 * says what is wrong, never read out of bounds, and never makes a lookup
 * loop: ID hash tables (slots out of range, no empty slot, keys out of
 * reach of their probe, hashes, offsets and bytes that do not match),
 * metadata (missing, mistyped, out-of-range, repeated keys, newer formats;
 * unknown keys ignored), rating matrices, neighbour tables, item orders and
 * parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/idmap.h"
#include "reco/model.h"
#include "reco/modelfile.h"
#include "testutil.h"

static char mf_path[64], icf_path[64], out_path[64];

/* The layout of an ID table's slot (idmap.c). */
typedef struct slot {
    uint32_t id1, hash;
    uint8_t len;
    char key[23];
} slot;

static void train(const char *algo, const char *const *params, const char *path)
{
    char text[16384];
    size_t len = 0;
    for (int u = 0; u < 40; u++)
        for (int i = 0; i < 12; i++)
            if ((u + 2 * i) % 5 == 0 || (u * i) % 7 == 1)
                len += (size_t)snprintf(text + len, sizeof text - len, "%s%d,item%d,%d,%d\n",
                                        u == 7 ? "a-user-whose-id-is-longer-than-a-slot-" : "user",
                                        u, i, 1 + (u + i) % 5, 1000 + u * 12 + i);
    reco_ratings *r = NULL;
    reco_dataset *ds = NULL;
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_ratings_parse(text, len, "t", NULL, &r, &err), RECO_OK);
    assert_int_equal(reco_dataset_build(r, NULL, &ds, &err), RECO_OK);
    assert_int_equal(reco_model_new(algo, &m, &err), RECO_OK);
    for (int k = 0; params[k]; k += 2)
        assert_int_equal(reco_model_set_param(m, params[k], params[k + 1], &err), RECO_OK);
    assert_int_equal(reco_model_fit(m, ds, NULL, &err), RECO_OK);
    /* A ratings-log point, so that its section is written too. */
    memcpy(m->log_point.id, "0123456789abcdef0123456789abcdef", RECO_LOG_ID_LEN + 1);
    m->log_point.offset = 100;
    m->log_point.seq = 7;
    if (reco_model_save(m, path, &err))
        fail_msg("%s", err.msg);
    reco_model_free(m);
    reco_dataset_free(ds);
    reco_ratings_free(r);
}

static int setup(void **state)
{
    (void)state;
    snprintf(mf_path, sizeof mf_path, "/tmp/reco-crafted-%ld-mf.model", (long)getpid());
    snprintf(icf_path, sizeof icf_path, "/tmp/reco-crafted-%ld-icf.model", (long)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/reco-crafted-%ld-out.model", (long)getpid());
    const char *mf[] = {"factors", "4", "epochs", "3", NULL};
    const char *icf[] = {NULL};
    train("mf", mf, mf_path);
    train("itemcf", icf, icf_path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(mf_path);
    unlink(icf_path);
    unlink(out_path);
    return 0;
}

/* A copy of section `name` of file `from` (malloc'd; its size in *size). */
static void *section_copy(const char *from, const char *name, size_t *size)
{
    reco_mfile *f = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(from, &f, &err), RECO_OK);
    uint64_t sz = 0;
    const void *p = reco_mfile_section(f, name, &sz);
    assert_non_null(p);
    char *c = malloc(sz + 1);
    memcpy(c, p, sz);
    c[sz] = '\0';
    *size = sz;
    reco_mfile_close(f);
    return c;
}

/* Writes out_path: the sections of `from`, with section `name` replaced by
 * bytes[0..len). */
static void rewrite(const char *from, const char *name, const void *bytes, size_t len)
{
    reco_mfile *f = NULL;
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(from, &f, &err), RECO_OK);
    assert_int_equal(reco_mfile_create(out_path, reco_mfile_algo(f), &w, &err), RECO_OK);
    bool found = false;
    for (uint32_t i = 0; i < reco_mfile_n_sections(f); i++) {
        const char *sn;
        uint64_t size;
        const void *p = reco_mfile_section_at(f, i, &sn, &size);
        if (!strcmp(sn, name)) {
            found = true;
            p = bytes;
            size = len;
        }
        assert_int_equal(reco_mfile_add(w, sn, p, size, &err), RECO_OK);
    }
    assert_true(found);
    assert_int_equal(reco_mfile_commit(w, &err), RECO_OK);
    reco_mfile_close(f);
}

/* Loads out_path, expecting a refusal whose message holds msg. Guarded by
 * an alarm: a load that loops fails the test instead of hanging it. */
static void expect_refused(const char *msg)
{
    reco_model *m = NULL;
    reco_error err;
    alarm(60);
    reco_status rc = reco_model_load(out_path, &m, &err);
    alarm(0);
    if (rc == RECO_OK) {
        reco_model_free(m);
        fail_msg("a crafted file loaded (expected \"%s\")", msg);
    }
    assert_null(m);
    if (!strstr(err.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

static void expect_loads(void)
{
    reco_model *m = NULL;
    reco_error err;
    if (reco_model_load(out_path, &m, &err))
        fail_msg("%s", err.msg);
    /* Lookups work on what loaded. */
    assert_true(reco_idmap_find(m->train->users, "user3", 5) >= 0);
    assert_true(reco_idmap_find(m->train->users, "nobody", 6) < 0);
    reco_model_free(m);
}

/* ---- ID tables ---- */

/* The slots of mf_path's user table, and its count. */
static slot *user_slots(size_t *cap, uint64_t *n)
{
    size_t size;
    slot *s = section_copy(mf_path, "users.slots", &size);
    *cap = size / sizeof(slot);
    *n = 0;
    for (size_t j = 0; j < *cap; j++)
        *n += s[j].id1 != 0;
    assert_true(*n > 10 && *n < *cap);
    return s;
}

static size_t first_full(const slot *s, size_t cap)
{
    for (size_t j = 0; j < cap; j++)
        if (s[j].id1)
            return j;
    fail();
    return 0;
}

static void test_slot_out_of_range(void **state)
{
    (void)state;
    size_t cap;
    uint64_t n;
    slot *s = user_slots(&cap, &n);
    s[first_full(s, cap)].id1 = (uint32_t)n + 5;
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("corrupt ID table \"users\": a slot holds an index past the table's count");
    free(s);
}

static void test_no_empty_slot(void **state)
{
    (void)state;
    size_t cap;
    uint64_t n;
    slot *s = user_slots(&cap, &n);
    /* Every empty slot takes a copy of a full one: the metadata still say
     * n IDs in cap slots, but an absent ID's probe would never end. */
    slot full = s[first_full(s, cap)];
    for (size_t j = 0; j < cap; j++)
        if (!s[j].id1)
            s[j] = full;
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("corrupt ID table \"users\": no empty slot");
    free(s);
}

static void test_slot_out_of_reach(void **state)
{
    (void)state;
    size_t cap;
    uint64_t n;
    slot *s = user_slots(&cap, &n);
    /* A key moved past an empty slot after its own: its probe stops at
     * the empty slot and never finds it. */
    size_t j = 0, e = 0;
    bool found = false;
    for (j = 0; j < cap && !found; j++) {
        if (!s[j].id1)
            continue;
        for (e = j + 1; e < cap && s[e].id1; e++)
            ;
        found = e + 1 < cap && !s[e + 1].id1 && (s[j].hash & (cap - 1)) <= j;
    }
    assert_true(found);
    j--;
    s[e + 1] = s[j];
    memset(&s[j], 0, sizeof s[j]);
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("corrupt ID table \"users\": a key sits where the probe of its hash does not "
                   "reach");
    free(s);
}

static void test_slot_mismatch(void **state)
{
    (void)state;
    size_t cap;
    uint64_t n;
    slot *s = user_slots(&cap, &n);
    size_t j = first_full(s, cap);
    /* A table this small is checked key by key (larger ones on a sample
     * of keys spread over it). */
    s[j].hash ^= 0x80000000u; /* same home, other hash */
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("corrupt ID table \"users\": a key is not in the slot the probe of its hash "
                   "finds");
    s[j].hash ^= 0x80000000u;
    s[j].len++;
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("a key is not in the slot the probe of its hash finds");
    s[j].len--;
    s[j].key[0] ^= 1;
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("a key is not in the slot the probe of its hash finds");
    s[j].key[0] ^= 1;
    /* Two slots of one ID (the other ID's slot taken). */
    size_t k = j + 1;
    while (!s[k].id1)
        k++;
    s[k] = s[j];
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("corrupt ID table \"users\"");
    free(s);
}

/* A long ID (more than a slot holds inline) is compared in the key arena
 * as far as its slot's length says: a length past the key's is refused
 * whatever the sample. */
static void test_long_key_length(void **state)
{
    (void)state;
    size_t cap;
    uint64_t n;
    slot *s = user_slots(&cap, &n);
    size_t j = 0;
    while (j < cap && s[j].len <= 23)
        j++;
    assert_true(j < cap);
    s[j].len = 250;
    rewrite(mf_path, "users.slots", s, cap * sizeof *s);
    expect_refused("corrupt ID table \"users\": a slot does not hold its key's length");
    free(s);
}

static void test_bad_keys(void **state)
{
    (void)state;
    size_t size;
    uint64_t *offs = section_copy(mf_path, "users.offs", &size);
    size_t n = size / sizeof *offs;
    char *arena = section_copy(mf_path, "users.arena", &size);
    offs[n - 1] = size + 10;
    rewrite(mf_path, "users.offs", offs, n * sizeof *offs);
    expect_refused("corrupt ID table \"users\": a key is out of the arena");
    offs[n - 1] = offs[n - 2]; /* an empty key */
    rewrite(mf_path, "users.offs", offs, n * sizeof *offs);
    expect_refused("corrupt ID table \"users\": a key is out of the arena, empty");
    arena[1] = (char)0xff;
    rewrite(mf_path, "users.arena", arena, size);
    expect_refused("not UTF-8");
    arena[1] = '\0'; /* a NUL inside a key */
    rewrite(mf_path, "users.arena", arena, size);
    expect_refused("corrupt ID table \"users\"");
    free(offs);
    free(arena);
}

/* ---- metadata ---- */

/* Writes out_path from `from` with the line of `key` in metadata section
 * sec replaced by line (NULL: removed; a key not there: line appended). */
static void edit_meta(const char *from, const char *sec, const char *key, const char *line)
{
    size_t size;
    char *text = section_copy(from, sec, &size);
    char *out = malloc(size + 256);
    size_t n = 0, kl = strlen(key);
    bool done = false;
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        size_t len = (size_t)(nl - p) + 1;
        if (!strncmp(p, key, kl) && p[kl] == ' ') {
            done = true;
            if (line)
                n += (size_t)sprintf(out + n, "%s\n", line);
        } else {
            memcpy(out + n, p, len);
            n += len;
        }
        p = nl + 1;
    }
    if (!done && line)
        n += (size_t)sprintf(out + n, "%s\n", line);
    rewrite(from, sec, out, n);
    free(out);
    free(text);
}

static void test_meta_keys(void **state)
{
    (void)state;
    edit_meta(mf_path, "data.meta", "n_users", NULL);
    expect_refused("section \"data.meta\" has no key \"n_users\"");
    edit_meta(mf_path, "data.meta", "n_users", "n_users str 40");
    expect_refused("section \"data.meta\": key \"n_users\" is a str, expected a u64");
    edit_meta(mf_path, "data.meta", "n_users", "n_users u64 4294967295");
    expect_refused("section \"data.meta\": key \"n_users\" is 4294967295, outside 0 to 4294967294");
    edit_meta(mf_path, "mf.meta", "k", "k u64 5");
    expect_refused("section \"mf.meta\": key \"k\" is 5, outside 4 to 4");
    edit_meta(mf_path, "mf.meta", "ld", "ld u64 20");
    expect_refused("section \"mf.meta\": key \"ld\" is 20, outside 4 to 19");
    edit_meta(mf_path, "mf.meta", "ld", "ld u64 8");
    expect_refused("section \"mf.meta\": key \"ld\" is 8, not a multiple of 16");
    edit_meta(mf_path, "users.meta", "cap", "cap u64 48");
    expect_refused("corrupt ID table \"users\": 48 slots for");
    edit_meta(mf_path, "mf.meta", "format", "format u64 2");
    expect_refused("section \"mf.meta\" is of format 2, written by a newer reco");
    edit_meta(mf_path, "model.params", "lr", "lr u64 1");
    expect_refused("section \"model.params\": key \"lr\" is a u64, expected a f64");
    edit_meta(mf_path, "model.params", "factors", "factors i64 0");
    expect_refused("mf.factors must be 1 to 1024, got 0");
    edit_meta(mf_path, "model.meta", "popular.by", "popular.by i64 7");
    expect_refused("popular.by must be count or mean");
    edit_meta(mf_path, "model.meta", "similar.min_support", "similar.min_support u64 0");
    expect_refused("similar.min_support is 0, outside 1 to 1073741824");
    edit_meta(mf_path, "model.meta", "similar.min_support", NULL);
    expect_refused("section \"model.meta\" has no key \"similar.min_support\"");
    edit_meta(mf_path, "log.point", "id", "id str 0123");
    expect_refused("section \"log.point\": key \"id\" is not a ratings-log id");
    edit_meta(mf_path, "mf.ord_meta", "n", "n u64 13");
    expect_refused("section \"mf.ord_meta\": key \"n\" is 13, outside 0 to 12");
    /* A repeated key: the line added a second time. */
    size_t size;
    char *text = section_copy(mf_path, "data.meta", &size);
    char *twice = malloc(2 * size + 1);
    memcpy(twice, text, size);
    memcpy(twice + size, strstr(text, "nnz "), strcspn(strstr(text, "nnz "), "\n") + 1);
    rewrite(mf_path, "data.meta", twice, size + strcspn(strstr(text, "nnz "), "\n") + 1);
    expect_refused("section \"data.meta\": key \"nnz\" appears twice");
    free(twice);
    free(text);
    /* Keys this reco does not know are ignored. */
    const char *secs[] = {"model.meta", "model.params", "data.meta", "users.meta", "mf.meta",
                          "mf.ord_meta", "log.point"};
    for (size_t k = 0; k < sizeof secs / sizeof secs[0]; k++) {
        edit_meta(mf_path, secs[k], "added_later", "added_later str something new");
        expect_loads();
    }
}

/* ---- arrays that index other arrays ---- */

static void test_index_arrays(void **state)
{
    (void)state;
    size_t size;
    /* A user's ratings out of order. */
    size_t idx_size;
    uint32_t *idx = section_copy(mf_path, "data.R.idx", &idx_size);
    uint64_t *ptr = section_copy(mf_path, "data.R.ptr", &size);
    uint32_t u = 0;
    while (ptr[u + 1] - ptr[u] < 2)
        u++;
    uint32_t t = idx[ptr[u]];
    idx[ptr[u]] = idx[ptr[u] + 1];
    idx[ptr[u] + 1] = t;
    rewrite(mf_path, "data.R.idx", idx, idx_size);
    expect_refused("corrupt rating matrix \"data.R\"");
    free(ptr);
    free(idx);
    /* The item order naming an item twice. */
    uint32_t *order = section_copy(mf_path, "mf.order", &size);
    assert_true(size >= 8);
    order[1] = order[0];
    rewrite(mf_path, "mf.order", order, size);
    expect_refused("corrupt item order (mf.order)");
    order[1] = 12;
    rewrite(mf_path, "mf.order", order, size);
    expect_refused("corrupt item order (mf.order)");
    free(order);
    /* itemcf: a neighbour past the catalogue, a product its own. */
    uint32_t *nbr = section_copy(icf_path, "itemcf.nbr", &size);
    uint64_t *off = section_copy(icf_path, "itemcf.offsets", &size);
    assert_true(off[1] > 0);
    uint32_t keep = nbr[0];
    nbr[0] = 12;
    rewrite(icf_path, "itemcf.nbr", nbr, off[12] * sizeof *nbr);
    expect_refused("corrupt itemcf table");
    nbr[0] = 0;
    rewrite(icf_path, "itemcf.nbr", nbr, off[12] * sizeof *nbr);
    expect_refused("corrupt itemcf table");
    nbr[0] = keep;
    rewrite(icf_path, "itemcf.nbr", nbr, off[12] * sizeof *nbr);
    expect_loads();
    edit_meta(icf_path, "itemcf.meta", "k", "k u64 100000");
    expect_refused("section \"itemcf.meta\": key \"k\" is 100000, outside 1 to 1000");
    free(off);
    free(nbr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_out_of_range),
        cmocka_unit_test(test_no_empty_slot),
        cmocka_unit_test(test_slot_out_of_reach),
        cmocka_unit_test(test_slot_mismatch),
        cmocka_unit_test(test_long_key_length),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_meta_keys),
        cmocka_unit_test(test_index_arrays),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
