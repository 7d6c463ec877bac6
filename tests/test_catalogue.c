/* The product catalogue: both file formats, every error message with its
 * FILE:LINE, the category tree's pre-order numbering and prefix ranges,
 * the per-model-item filter pieces, live changes (copy on write), the
 * cold-start lists, and model files (round trip, crafted sections
 * refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/catalogue.h"
#include "reco/model.h"
#include "testutil.h"

static reco_catalogue *parse_ok(const char *name, const char *text)
{
    reco_catalogue *c = NULL;
    reco_error err;
    reco_error_clear(&err);
    if (reco_catalogue_parse(text, strlen(text), name, &c, &err))
        fail_msg("unexpected error: %s", err.msg);
    assert_non_null(c);
    return c;
}

static void expect_error(const char *name, const char *text, const char *msg)
{
    reco_catalogue *c = NULL;
    reco_error err;
    reco_error_clear(&err);
    reco_status st = reco_catalogue_parse(text, strlen(text), name, &c, &err);
    if (st == RECO_OK)
        fail_msg("accepted (expected \"%s\")", msg);
    assert_int_equal(st, RECO_ERR_PARSE);
    assert_null(c);
    if (strcmp(err.msg, msg))
        fail_msg("message \"%s\", expected \"%s\"", err.msg, msg);
}

static reco_catalogue_entry entry_of(const reco_catalogue *c, const char *id)
{
    uint32_t e = reco_catalogue_find(c, id, strlen(id));
    if (e == RECO_CATALOGUE_NONE)
        fail_msg("no product %s", id);
    reco_catalogue_entry en;
    reco_catalogue_entry_get(c, e, &en);
    return en;
}

static const char *label_of(const reco_catalogue *c, const char *id, const char *key)
{
    uint32_t e = reco_catalogue_find(c, id, strlen(id));
    reco_catalogue_entry en;
    reco_catalogue_entry_get(c, e, &en);
    for (uint32_t j = 0; j < en.n_labels; j++) {
        const char *k, *v;
        reco_catalogue_label(c, e, j, &k, &v);
        if (!strcmp(k, key))
            return v;
    }
    return NULL;
}

static void test_csv(void **state)
{
    (void)state;
    reco_catalogue *c = parse_ok(
        "items.csv",
        "\xEF\xBB\xBFitem_id,title,category,available,brand,colour\r\n"
        "p1,\"Headphones, \"\"Pro\"\"\",Electronics/Audio/Headphones,true,Sony,\r\n"
        "\r\n"
        " p2 , Cable ,/Electronics/Cables/,no,,black\n"
        "p3,,,,,\n"
        "p4,Plain,Books,YES,Acme,red");
    assert_int_equal(reco_catalogue_size(c), 4);
    reco_catalogue_entry e1 = entry_of(c, "p1"), e2 = entry_of(c, "p2"), e3 = entry_of(c, "p3");
    assert_string_equal(e1.title, "Headphones, \"Pro\"");
    assert_string_equal(e1.category_path, "Electronics/Audio/Headphones");
    assert_true(e1.available);
    assert_string_equal(e2.title, "Cable");
    assert_string_equal(e2.category_path, "Electronics/Cables");
    assert_false(e2.available);
    assert_null(e3.title);
    assert_null(e3.category_path);
    assert_int_equal(e3.category, RECO_NO_CATEGORY);
    assert_true(e3.available);
    assert_int_equal(e3.n_labels, 0);
    assert_true(entry_of(c, "p4").available);
    assert_string_equal(label_of(c, "p1", "brand"), "Sony");
    assert_null(label_of(c, "p1", "colour")); /* empty: no label */
    assert_string_equal(label_of(c, "p2", "colour"), "black");
    assert_int_equal(reco_catalogue_n_unavailable(c), 1);
    /* Electronics, Electronics/Audio, .../Headphones, Electronics/Cables, Books */
    assert_int_equal(reco_catalogue_n_categories(c), 5);
    assert_false(reco_catalogue_has_added(c));
    reco_catalogue_free(c);

    /* Tab-separated, with an added column. */
    c = parse_ok("items.tsv", "item_id\ttitle\tadded\nx\tA, B\t1700000000\ny\t\t\n");
    assert_string_equal(entry_of(c, "x").title, "A, B");
    assert_int_equal(entry_of(c, "x").added, 1700000000);
    assert_int_equal(entry_of(c, "y").added, 0);
    assert_true(reco_catalogue_has_added(c));
    reco_catalogue_free(c);
}

static void test_jsonl(void **state)
{
    (void)state;
    reco_catalogue *c = parse_ok(
        "items.jsonl",
        "{\"item_id\": \"p1\", \"title\": \"Über-Kopfhörer\", \"category\": \"Audio/Headphones\","
        " \"available\": false, \"labels\": {\"brand\": \"Sony\"}, \"colour\": \"red\"}\n"
        "\n"
        "{\"item_id\": \"p2\", \"title\": null, \"available\": \"yes\", \"added\": 42}\n");
    assert_int_equal(reco_catalogue_size(c), 2);
    reco_catalogue_entry e1 = entry_of(c, "p1");
    assert_string_equal(e1.title, "Über-Kopfhörer");
    assert_string_equal(e1.category_path, "Audio/Headphones");
    assert_false(e1.available);
    assert_string_equal(label_of(c, "p1", "brand"), "Sony");
    assert_string_equal(label_of(c, "p1", "colour"), "red");
    assert_null(entry_of(c, "p2").title);
    assert_true(entry_of(c, "p2").available);
    assert_int_equal(entry_of(c, "p2").added, 42);
    reco_catalogue_free(c);
    /* Without an extension, the first non-blank byte tells. */
    c = parse_ok("items", "\n  {\"item_id\": \"a\"}\n");
    assert_int_equal(reco_catalogue_size(c), 1);
    reco_catalogue_free(c);
    c = parse_ok("items", "item_id\na\nb\n");
    assert_int_equal(reco_catalogue_size(c), 2);
    reco_catalogue_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    char longid[300], text[400];
    memset(longid, 'x', 256);
    longid[256] = '\0';
    expect_error("i.csv", "item_id,title\na,A\nb,B\na,C\n",
                 "i.csv:4: duplicate item_id \"a\" (first on line 2)");
    expect_error("i.csv", "item_id,available\na,true\nb,maybe\n",
                 "i.csv:3: available is \"maybe\", not one of true, false, 1, 0, yes, no");
    expect_error("i.csv", "", "i.csv:1: no header line (a catalogue file starts with a header "
                              "line naming its columns, e.g. item_id,title,category,available)");
    expect_error("i.csv", "\n\n", "i.csv:2: no header line (a catalogue file starts with a "
                                  "header line naming its columns, e.g. item_id,title,category,"
                                  "available)");
    expect_error("i.csv", "a,Title\nb,Other\n",
                 "i.csv:1: no item_id column in the header (a catalogue file starts with a "
                 "header line naming its columns, e.g. item_id,title,category,available)");
    expect_error("i.csv", "item_id,title\na,ok\nb,bad \xff byte\n",
                 "i.csv:3: title is not valid UTF-8 (byte 5)");
    expect_error("i.csv", "item_id,title\na\xc3,x\n", "i.csv:2: item_id is not valid UTF-8 (byte 2)");
    snprintf(text, sizeof text, "item_id\n%s\n", longid);
    expect_error("i.csv", text, "i.csv:2: item_id is 256 bytes, over 255");
    expect_error("i.csv", "item_id,title\na,b,c\n", "i.csv:2: 3 fields where the header has 2");
    expect_error("i.csv", "item_id,title\na,\"open\n",
                 "i.csv:2: unterminated quoted field (a field may not span lines)");
    expect_error("i.csv", "item_id,category\na,A//B\n",
                 "i.csv:2: category \"A//B\" has an empty segment");
    expect_error("i.csv", "item_id,brand,brand\n", "i.csv:1: column \"brand\" appears twice in "
                                                    "the header");
    expect_error("i.csv", "item_id,,x\n", "i.csv:1: column 2 of the header has no name");
    expect_error("i.csv", "item_id,added\na,yesterday\n",
                 "i.csv:2: added is \"yesterday\", not a Unix time in seconds");
    expect_error("i.csv", "item_id\n\"\"\n", "i.csv:2: empty item_id");
    expect_error("i.jsonl", "{\"item_id\": \"a\"}\n{\"item_id\": \"a\"}\n",
                 "i.jsonl:2: duplicate item_id \"a\" (first on line 1)");
    expect_error("i.jsonl", "{\"item_id\": \"a\"\n",
                 "i.jsonl:1: malformed JSON: '}' expected near end of file (column 15)");
    expect_error("i.jsonl", "[1]\n", "i.jsonl:1: expected a JSON object");
    expect_error("i.jsonl", "{\"title\": \"x\"}\n", "i.jsonl:1: no \"item_id\"");
    expect_error("i.jsonl", "{\"item_id\": 7}\n", "i.jsonl:1: \"item_id\" must be a string");
    expect_error("i.jsonl", "{\"item_id\": \"a\", \"title\": 3}\n",
                 "i.jsonl:1: \"title\" must be a string");
    expect_error("i.jsonl", "{\"item_id\": \"a\", \"available\": \"maybe\"}\n",
                 "i.jsonl:1: available is \"maybe\", not one of true, false, 1, 0, yes, no");
    expect_error("i.jsonl", "{\"item_id\": \"a\", \"available\": 2.5}\n",
                 "i.jsonl:1: \"available\" must be true or false");
    expect_error("i.jsonl", "{\"item_id\": \"a\", \"labels\": [1]}\n",
                 "i.jsonl:1: \"labels\" must be an object of strings");
    expect_error("i.jsonl", "{\"item_id\": \"a\", \"labels\": {\"k\": 1}}\n",
                 "i.jsonl:1: \"k\" must be a string");
    expect_error("i.jsonl", "{\"item_id\": \"a\", \"added\": \"x\"}\n",
                 "i.jsonl:1: \"added\" must be an integer (Unix seconds)");
    expect_error("i.jsonl", "\n{\"item_id\": \"a\xff\"}\n", "i.jsonl:2: not valid UTF-8 (byte 15)");
    expect_error("i.jsonl", "\n\n", "i.jsonl:1: no products (a JSON Lines catalogue has one "
                                    "object a line)");
}

/* Pre-order: a parent before its children, siblings in byte order of
 * their segment, so "A/B" and "A/BX" are siblings and "A B" follows all of
 * A's subtree. */
static void test_tree(void **state)
{
    (void)state;
    reco_catalogue *c = parse_ok("t.csv", "item_id,category\n1,B/X\n2,A/B/C\n3,A\n4,A/BX\n"
                                          "5,A B\n6,A/B\n");
    static const char *const order[] = {"A", "A/B", "A/B/C", "A/BX", "A B", "B", "B/X"};
    assert_int_equal(reco_catalogue_n_categories(c), 7);
    for (uint32_t k = 0; k < 7; k++)
        assert_string_equal(reco_catalogue_category_path(c, k), order[k]);
    reco_category_range r = reco_catalogue_category_range(c, 0);
    assert_int_equal(r.lo, 0);
    assert_int_equal(r.hi, 4);
    r = reco_catalogue_category_range(c, 1); /* A/B: itself and A/B/C, not A/BX */
    assert_int_equal(r.lo, 1);
    assert_int_equal(r.hi, 3);
    r = reco_catalogue_category_range(c, 4);
    assert_int_equal(r.hi, 5);
    r = reco_catalogue_category_range(c, 5);
    assert_int_equal(r.hi, 7);
    assert_int_equal(reco_catalogue_category_parent(c, 0), RECO_NO_CATEGORY);
    assert_int_equal(reco_catalogue_category_parent(c, 2), 1);
    assert_int_equal(reco_catalogue_category_parent(c, 3), 0);
    assert_int_equal(reco_catalogue_category_parent(c, 6), 5);
    /* Lookups: trailing and leading slashes dropped; case matters. */
    assert_int_equal(reco_catalogue_category_find(c, "A/B/", 4), 1);
    assert_int_equal(reco_catalogue_category_find(c, "/A/B", 4), 1);
    assert_int_equal(reco_catalogue_category_find(c, "a/b", 3), RECO_NO_CATEGORY);
    assert_int_equal(reco_catalogue_category_find(c, "A/", 2), 0);
    assert_int_equal(reco_catalogue_category_find(c, "", 0), RECO_NO_CATEGORY);
    assert_int_equal(reco_catalogue_category_find(c, "A//B", 4), RECO_NO_CATEGORY);
    assert_int_equal(entry_of(c, "2").category, 2);
    assert_int_equal(entry_of(c, "4").category, 3);

    /* Several prefixes: nested ranges merged, unknown ones reported. */
    const char *paths[] = {"A/B", "Nope", "A", "B/X", "a"};
    reco_category_range out[5];
    bool unknown[5];
    size_t n = 99;
    reco_catalogue_ranges(c, paths, 5, out, &n, unknown);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].lo, 0);
    assert_int_equal(out[0].hi, 4);
    assert_int_equal(out[1].lo, 6);
    assert_int_equal(out[1].hi, 7);
    assert_false(unknown[0]);
    assert_true(unknown[1]);
    assert_false(unknown[2]);
    assert_true(unknown[4]);
    const char *none[] = {"Nope"};
    reco_catalogue_ranges(c, none, 1, out, &n, NULL);
    assert_int_equal(n, 0);
    reco_catalogue_free(c);
}

static bool bit(const uint64_t *b, uint32_t i) { return (b[i / 64] >> (i % 64)) & 1; }

static void test_view(void **state)
{
    (void)state;
    reco_catalogue *c = parse_ok("t.csv", "item_id,category,available\n"
                                          "m1,A/B,1\nm2,A,0\nc1,A/B,1\nm4,C,no\n");
    reco_idmap *items = reco_idmap_new(8);
    uint32_t id;
    const char *keys[] = {"m0", "m1", "m2", "m3", "m4"};
    for (int k = 0; k < 5; k++)
        assert_int_equal(reco_idmap_intern(items, keys[k], 2, &id), RECO_OK);
    reco_catalogue_view *v = NULL;
    assert_int_equal(reco_catalogue_view_new(c, items, &v, NULL), RECO_OK);
    assert_int_equal(v->n_items, 5);
    assert_int_equal(v->in_catalogue, 3);
    assert_int_equal(v->only_catalogue, 1);
    assert_int_equal(v->n_hidden, 2);
    assert_int_equal(v->entry[0], RECO_CATALOGUE_NONE);
    assert_int_equal(v->item_category[0], RECO_NO_CATEGORY);
    assert_false(bit(v->hidden, 0));
    assert_int_equal(v->item_category[1], reco_catalogue_category_find(c, "A/B", 3));
    assert_false(bit(v->hidden, 1));
    assert_true(bit(v->hidden, 2));
    assert_false(bit(v->hidden, 3));
    assert_true(bit(v->hidden, 4));
    reco_item_filter f;
    memset(&f, 0, sizeof f);
    reco_category_range r = {0, 2};
    reco_catalogue_view_filter(v, false, &r, 1, &f);
    assert_ptr_equal(f.hidden, v->hidden);
    assert_int_equal(f.n_hidden_bits, 5);
    assert_ptr_equal(f.item_category, v->item_category);
    assert_int_equal(f.n_categories, 1);
    reco_catalogue_view_filter(v, true, NULL, 0, &f);
    assert_null(f.hidden);

    /* Cold start for c1 (not in the model; category A/B): A/B first, then
     * A, then everything; never an unavailable product. */
    float popular[5] = {5, 1, 9, 7, 8};
    reco_cold_pick pick[5];
    size_t n = 0;
    uint32_t e = reco_catalogue_find(c, "c1", 2);
    assert_int_equal(reco_catalogue_cold_similar(c, v, popular, e, NULL, 5, pick, &n, NULL), RECO_OK);
    assert_int_equal(n, 3);
    assert_int_equal(pick[0].item, 1);
    assert_int_equal(pick[0].source, RECO_COLD_CATEGORY);
    assert_int_equal(pick[1].item, 3); /* m2 in A is hidden: overall next */
    assert_int_equal(pick[1].source, RECO_COLD_POPULAR);
    assert_int_equal(pick[2].item, 0);
    assert_string_equal(reco_cold_source_name(pick[2].source), "popular");
    reco_catalogue_view_free(v);
    reco_idmap_free(items);
    reco_catalogue_free(c);
}

/* The parts of an index split: disjoint, covering every category, within
 * the limit, the big subtrees cut down to the category that holds the
 * products. */
static void test_partition(void **state)
{
    (void)state;
    static const struct { const char *cat; int n; } groups[] = {
        {"Shop/A/x", 40}, {"Shop/A/y", 40}, {"Shop/A", 5}, {"Shop/B", 20},
        {"Shop/C/q", 1}, {"Z", 4}};
    char *csv = malloc(8192), id[32];
    size_t len = (size_t)sprintf(csv, "item_id,category\n");
    reco_idmap *items = reco_idmap_new(128);
    uint32_t iid;
    int k = 0;
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
        for (int j = 0; j < groups[g].n; j++, k++) {
            int l = sprintf(id, "p%d", k);
            len += (size_t)sprintf(csv + len, "%s,%s\n", id, groups[g].cat);
            assert_int_equal(reco_idmap_intern(items, id, (size_t)l, &iid), RECO_OK);
        }
    reco_catalogue *c = parse_ok("t.csv", csv);
    reco_catalogue_view *v = NULL;
    assert_int_equal(reco_catalogue_view_new(c, items, &v, NULL), RECO_OK);
    const uint32_t nc = reco_catalogue_n_categories(c);
    for (uint32_t max = 1; max <= 12; max++) {
        reco_category_range r[12];
        uint32_t n = 0;
        assert_int_equal(reco_catalogue_partition(c, v, max, r, &n, NULL), RECO_OK);
        assert_true(n >= 1 && n <= max);
        /* Every category number in exactly one part. */
        for (uint32_t cat = 0; cat < nc; cat++) {
            int in = 0;
            for (uint32_t j = 0; j < n; j++)
                in += cat >= r[j].lo && cat < r[j].hi;
            assert_int_equal(in, 1);
        }
        if (max >= 8) {
            /* Room enough: Shop/A/x, a leaf with 36% of the products, is a
             * part of its own. */
            reco_category_range ax = reco_catalogue_category_range(
                c, reco_catalogue_category_find(c, "Shop/A/x", 8));
            bool found = false;
            for (uint32_t j = 0; j < n; j++)
                found |= r[j].lo == ax.lo && r[j].hi == ax.hi;
            assert_true(found);
        }
    }
    reco_catalogue_view_free(v);
    reco_catalogue_free(c);
    reco_catalogue *none = parse_ok("t.csv", "item_id\nx\n");
    assert_int_equal(reco_catalogue_view_new(none, items, &v, NULL), RECO_OK);
    reco_category_range r1[1];
    uint32_t n1 = 7;
    assert_int_equal(reco_catalogue_partition(none, v, 1, r1, &n1, NULL), RECO_OK);
    assert_int_equal(n1, 0);
    reco_catalogue_view_free(v);
    reco_catalogue_free(none);
    reco_idmap_free(items);
    free(csv);
}

static void test_apply(void **state)
{
    (void)state;
    reco_catalogue *c = parse_ok("t.csv", "item_id,title,category,brand\n"
                                          "a,Alpha,X/Y,acme\nb,Beta,Z,\n");
    assert_int_equal(reco_catalogue_n_categories(c), 3); /* X, X/Y, Z */
    const char *lk[] = {"size"}, *lv[] = {"L"};
    reco_catalogue_update u[3] = {
        {.item_id = "new", .title = "Gamma", .category = "M/N", .available = 0},
        {.item_id = "a", .available = -1, .set_labels = true, .label_keys = lk,
         .label_values = lv, .n_labels = 1},
        {.item_id = "b", .title = "", .category = "", .available = -1, .set_added = true,
         .added = 99},
    };
    reco_catalogue *d = NULL;
    reco_error err;
    if (reco_catalogue_apply(c, u, 3, &d, &err))
        fail_msg("%s", err.msg);
    /* The old catalogue is untouched. */
    assert_int_equal(reco_catalogue_size(c), 2);
    assert_int_equal(reco_catalogue_n_categories(c), 3);
    assert_string_equal(entry_of(c, "b").title, "Beta");
    assert_string_equal(label_of(c, "a", "brand"), "acme");
    /* The new one: M and M/N numbered before X (renumbered), Z gone. */
    assert_int_equal(reco_catalogue_size(d), 3);
    assert_int_equal(reco_catalogue_n_categories(d), 4);
    assert_string_equal(reco_catalogue_category_path(d, 0), "M");
    assert_string_equal(reco_catalogue_category_path(d, 2), "X");
    assert_int_equal(entry_of(d, "a").category, 3);
    assert_string_equal(entry_of(d, "a").title, "Alpha");
    assert_null(label_of(d, "a", "brand"));
    assert_string_equal(label_of(d, "a", "size"), "L");
    assert_string_equal(entry_of(d, "new").category_path, "M/N");
    assert_false(entry_of(d, "new").available);
    assert_null(entry_of(d, "b").title);
    assert_null(entry_of(d, "b").category_path);
    assert_int_equal(entry_of(d, "b").added, 99);
    assert_int_equal(reco_catalogue_n_unavailable(d), 1);

    reco_catalogue *e = NULL;
    assert_int_equal(reco_catalogue_set_available(d, "new", true, &e, &err), RECO_OK);
    assert_int_equal(reco_catalogue_n_unavailable(e), 0);
    assert_int_equal(reco_catalogue_n_unavailable(d), 1);
    reco_catalogue_free(e);
    assert_int_equal(reco_catalogue_set_available(d, "nobody", true, &e, &err),
                     RECO_ERR_NOT_FOUND);
    assert_null(e);
    /* A bad change applies nothing. */
    reco_catalogue_update bad[2] = {{.item_id = "ok", .available = -1},
                                    {.item_id = "x", .category = "A//B", .available = -1}};
    assert_int_equal(reco_catalogue_apply(d, bad, 2, &e, &err), RECO_ERR_INVALID);
    assert_null(e);
    assert_string_equal(err.msg, "product 2 (x): category \"A//B\" has an empty segment");
    /* References: a reader keeps its snapshot. */
    reco_catalogue *kept = reco_catalogue_ref(d);
    reco_catalogue_free(d);
    assert_int_equal(reco_catalogue_size(kept), 3);
    reco_catalogue_free(kept);
    reco_catalogue_free(c);
    /* From nothing. */
    reco_catalogue *empty = reco_catalogue_new();
    assert_int_equal(reco_catalogue_size(empty), 0);
    assert_int_equal(reco_catalogue_apply(empty, u, 1, &e, &err), RECO_OK);
    assert_int_equal(reco_catalogue_size(e), 1);
    reco_catalogue_free(e);
    reco_catalogue_free(empty);
}

static void test_load_file(void **state)
{
    (void)state;
    const char *text = "{\"item_id\": \"a\", \"category\": \"K\"}\n";
    char *path = test_write_temp(text, strlen(text));
    assert_non_null(path);
    reco_catalogue *c = NULL;
    reco_error err;
    assert_int_equal(reco_catalogue_load(path, &c, &err), RECO_OK);
    assert_string_equal(entry_of(c, "a").category_path, "K");
    reco_catalogue_free(c);
    unlink(path);
    assert_int_equal(reco_catalogue_load(path, &c, &err), RECO_ERR_NOT_FOUND);
    free(path);
}

/* ---- model files ---- */

static const char *SAMPLE = "item_id,title,category,available,brand,added\n"
                            "i0,Zero,A/B,1,acme,10\ni1,One,A,0,,20\ni2,,,1,x,\n"
                            "only,Catalogue only,A/B/C,1,y,30\n";

static void write_catalogue(const reco_catalogue *c, const char *path)
{
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_create(path, "catalogue", &w, &err), RECO_OK);
    if (reco_catalogue_save(c, w, &err) || reco_mfile_commit(w, &err))
        fail_msg("%s", err.msg);
}

static reco_status read_catalogue(const char *path, reco_catalogue **c, reco_error *err)
{
    reco_mfile *f = NULL;
    reco_status rc = reco_mfile_open(path, &f, err);
    if (rc)
        return rc;
    assert_true(reco_catalogue_in_mfile(f));
    rc = reco_catalogue_from_mfile(f, c, err);
    reco_mfile_close(f);
    return rc;
}

static void same(const reco_catalogue *a, const reco_catalogue *b)
{
    assert_int_equal(reco_catalogue_size(a), reco_catalogue_size(b));
    assert_int_equal(reco_catalogue_n_categories(a), reco_catalogue_n_categories(b));
    assert_int_equal(reco_catalogue_n_unavailable(a), reco_catalogue_n_unavailable(b));
    assert_int_equal(reco_catalogue_has_added(a), reco_catalogue_has_added(b));
    for (uint32_t e = 0; e < reco_catalogue_size(a); e++) {
        reco_catalogue_entry x, y;
        reco_catalogue_entry_get(a, e, &x);
        reco_catalogue_entry_get(b, e, &y);
        assert_string_equal(x.item_id, y.item_id);
        assert_true((!x.title && !y.title) || !strcmp(x.title, y.title));
        assert_int_equal(x.category, y.category);
        assert_int_equal(x.available, y.available);
        assert_int_equal(x.added, y.added);
        assert_int_equal(x.n_labels, y.n_labels);
        for (uint32_t j = 0; j < x.n_labels; j++) {
            const char *k1, *v1, *k2, *v2;
            reco_catalogue_label(a, e, j, &k1, &v1);
            reco_catalogue_label(b, e, j, &k2, &v2);
            assert_string_equal(k1, k2);
            assert_string_equal(v1, v2);
        }
    }
}

static void test_mfile_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/reco_cat_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    reco_catalogue *c = parse_ok("s.csv", SAMPLE), *d = NULL;
    reco_error err;
    write_catalogue(c, path);
    if (read_catalogue(path, &d, &err))
        fail_msg("%s", err.msg);
    same(c, d);
    reco_catalogue_free(d);
    reco_catalogue_free(c);
    /* An empty catalogue too. */
    c = reco_catalogue_new();
    write_catalogue(c, path);
    assert_int_equal(read_catalogue(path, &d, &err), RECO_OK);
    assert_int_equal(reco_catalogue_size(d), 0);
    reco_catalogue_free(d);
    reco_catalogue_free(c);
    unlink(path);
}

/* Writes to `to` the sections of `from`, with section `name` replaced by
 * bytes[0..len). */
static void rewrite(const char *from, const char *to, const char *name, const void *bytes,
                    size_t len)
{
    reco_mfile *f = NULL;
    reco_mfile_writer *w = NULL;
    reco_error err;
    assert_int_equal(reco_mfile_open(from, &f, &err), RECO_OK);
    assert_int_equal(reco_mfile_create(to, reco_mfile_algo(f), &w, &err), RECO_OK);
    for (uint32_t i = 0; i < reco_mfile_n_sections(f); i++) {
        const char *sn;
        uint64_t size;
        const void *p = reco_mfile_section_at(f, i, &sn, &size);
        if (!strcmp(sn, name)) {
            p = bytes;
            size = len;
        }
        assert_int_equal(reco_mfile_add_copy(w, sn, p, size, &err), RECO_OK);
    }
    assert_int_equal(reco_mfile_commit(w, &err), RECO_OK);
    reco_mfile_close(f);
}

static void expect_crafted(const char *good, const char *bad, const char *section,
                           const void *bytes, size_t len, const char *msg)
{
    rewrite(good, bad, section, bytes, len);
    reco_catalogue *c = NULL;
    reco_error err;
    reco_status rc = read_catalogue(bad, &c, &err);
    if (rc == RECO_OK) {
        reco_catalogue_free(c);
        fail_msg("crafted %s loaded (expected \"%s\")", section, msg);
    }
    assert_int_equal(rc, RECO_ERR_FORMAT);
    assert_null(c);
    if (!strstr(err.msg, msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
}

static void test_crafted(void **state)
{
    (void)state;
    char good[] = "/tmp/reco_catg_XXXXXX", bad[] = "/tmp/reco_catb_XXXXXX";
    int fd = mkstemp(good);
    close(fd);
    fd = mkstemp(bad);
    close(fd);
    reco_catalogue *c = parse_ok("s.csv", SAMPLE);
    write_catalogue(c, good);
    reco_catalogue_free(c);
    uint32_t u4[5] = {0, 0, 0, 0, 0};
    /* A category number past the tree. */
    u4[0] = 9;
    expect_crafted(good, bad, "cat.category", u4, 16, "is 9, not below");
    /* A title offset outside the text, and one whose text has no end. */
    uint32_t t[4] = {1, 100000, RECO_CATALOGUE_NONE, RECO_CATALOGUE_NONE};
    expect_crafted(good, bad, "cat.title", t, 16, "outside the text");
    /* Sections of the wrong size. */
    expect_crafted(good, bad, "cat.title", t, 12, "cat.title");
    uint8_t av[4] = {1, 0, 2, 1};
    expect_crafted(good, bad, "cat.available", av, 4, "available is 2, not 0 or 1");
    uint32_t lo[5] = {0, 3, 1, 3, 3};
    expect_crafted(good, bad, "cat.label_off", lo, 20, "label offsets not ascending");
    uint32_t lo2[5] = {1, 1, 1, 2, 3};
    expect_crafted(good, bad, "cat.label_off", lo2, 20, "does not run from 0");
    const char text_bad[] = "\0Zero\0One\0brand\0ac\xffme\0";
    expect_crafted(good, bad, "cat.text", text_bad, sizeof text_bad - 1, "cat.text");
    /* Metadata that does not agree with the arrays. */
    const char meta[] = "format u64 1\nitems u64 4\nlabels u64 4\ntext_bytes u64 56\n"
                        "categories u64 2\nunavailable u64 1\nhas_added u64 1\n";
    expect_crafted(good, bad, "cat.meta", meta, sizeof meta - 1, "cat.");
    const char newer[] = "format u64 2\n";
    expect_crafted(good, bad, "cat.meta", newer, sizeof newer - 1, "newer");
    unlink(good);
    unlink(bad);
}

static void test_model_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/reco_catm_XXXXXX", path2[] = "/tmp/reco_catn_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    fd = mkstemp(path2);
    close(fd);
    assert_int_equal(test_save_grid_model("popular", 6, 3, path), 0);
    reco_model *m = NULL;
    reco_error err;
    assert_int_equal(reco_model_load(path, &m, &err), RECO_OK);
    assert_null(m->catalogue); /* a model without one */
    m->catalogue = parse_ok("s.csv", SAMPLE);
    if (reco_model_save(m, path2, &err))
        fail_msg("%s", err.msg);
    reco_model *m2 = NULL;
    if (reco_model_load(path2, &m2, &err))
        fail_msg("%s", err.msg);
    assert_non_null(m2->catalogue);
    same(m->catalogue, m2->catalogue);
    /* The view of the model's products: i0..i2 are in it, "only" is not. */
    reco_catalogue_view *v = NULL;
    assert_int_equal(reco_catalogue_view_new(m2->catalogue, m2->train->items, &v, &err), RECO_OK);
    assert_int_equal(v->n_items, 3);
    assert_int_equal(v->in_catalogue, 3);
    assert_int_equal(v->only_catalogue, 1);
    assert_int_equal(v->n_hidden, 1);
    reco_catalogue_view_free(v);
    reco_model_free(m2);
    reco_model_free(m);
    unlink(path);
    unlink(path2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_partition),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_mfile_round_trip),
        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_model_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
