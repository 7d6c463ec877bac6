/* libFuzzer target for the model-file loader: the header, the section
 * table, the sections and every algorithm's structure checks, then a few
 * queries on whatever loaded (a loader that lets an inconsistent file
 * through shows up there as an out-of-bounds access).
 *
 * A mutated file almost never passes the checksums, so the target puts
 * them right before loading (each section's, the table's, the header's)
 * unless the input's first byte says not to: the checks behind them are
 * reached. Input: a flag byte, then the file.
 *   bit 0  keep the checksums as they are (the refusals of bad checksums)
 *   bit 1  set the header's file size to the input's
 * Queries include ID lookups (a key of the table must be found, an absent
 * one must end its probe). The file is loaded from memory (reco_mfile_open_mem). Seeds: small
 * models of every algorithm (fuzz/modelfile_seeds.c).
 *
 * With RECO_FUZZ_EXPECT_LOAD set in the environment, an input with flag 0
 * that does not load aborts: CTest replays freshly written seeds that way,
 * so a change of the file format that leaves the layout constants below
 * (or an algorithm's loader) behind fails the test instead of silently
 * making every input a refusal. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/idmap.h"
#include "reco/model.h"
#include "reco/modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The layout of format version 4 (modelfile.c; the same as version 3). */
#define HEADER_SIZE 88
#define ENTRY_SIZE 64
#define OFF_FILE_SIZE 56
#define OFF_N_SECTIONS 64
#define OFF_TABLE_SUM 72
#define OFF_HEADER_SUM 80
#define ENTRY_OFFSET 32
#define ENTRY_SIZE_FIELD 40
#define ENTRY_SUM 48
#define BLOCK ((uint64_t)16 << 20) /* sections above this are checksummed in blocks */

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Recomputes the checksums of buf (len bytes) where the structure lets
 * them be found: each section inside the buffer, the table, the header. */
static void fix_checksums(uint8_t *buf, size_t len, bool fix_size)
{
    if (len < HEADER_SIZE)
        return;
    if (fix_size)
        put64(buf + OFF_FILE_SIZE, len);
    uint32_t n;
    memcpy(&n, buf + OFF_N_SECTIONS, 4);
    if (n > 256)
        n = 256;
    size_t table = (size_t)n * ENTRY_SIZE;
    if (HEADER_SIZE + table <= len) {
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *e = buf + HEADER_SIZE + (size_t)i * ENTRY_SIZE;
            uint64_t off = get64(e + ENTRY_OFFSET), sz = get64(e + ENTRY_SIZE_FIELD);
            if (off <= len && sz <= len - off && sz <= BLOCK)
                put64(e + ENTRY_SUM, reco_checksum64(buf + off, (size_t)sz, 0));
        }
        put64(buf + OFF_TABLE_SUM, reco_checksum64(buf + HEADER_SIZE, table, 1));
    }
    put64(buf + OFF_HEADER_SUM, 0);
    put64(buf + OFF_HEADER_SUM, reco_checksum64(buf, HEADER_SIZE, 2));
}

/* Looks IDs up as a request would: the first and last keys (each must
 * find its own index) and one that is absent (its probe must end). */
static void lookups(const reco_idmap *ids)
{
    size_t n = reco_idmap_size(ids);
    uint32_t probe[2] = {0, n ? (uint32_t)(n - 1) : 0};
    for (int k = 0; k < 2 && n; k++) {
        size_t len;
        const char *key = reco_idmap_key(ids, probe[k], &len);
        if (reco_idmap_find(ids, key, len) < 0)
            abort(); /* a key its own table does not find got through */
    }
    reco_idmap_find(ids, "an ID no seed has", 17);
}

/* Asks what a server would ask of the model. */
static void exercise(const reco_model *m)
{
    uint32_t nu = reco_dataset_n_users(m->train), ni = reco_dataset_n_items(m->train);
    lookups(m->train->users);
    lookups(m->train->items);
    void *scratch = malloc(reco_model_scratch_size(m) + 1);
    if (!scratch)
        return;
    reco_scored out[8];
    size_t got = 0;
    bool cold = false;
    reco_error err;
    uint32_t users[2] = {0, nu ? nu - 1 : 0};
    for (int k = 0; k < 2 && nu; k++) {
        reco_profile p = reco_profile_of_user(m->train, users[k]);
        if (reco_model_recommend(m, &p, 5, true, out, &got, &cold, scratch, &err) == RECO_OK &&
            got) {
            float pred[8];
            reco_model_predict_items(m, &p, out, got, pred, scratch);
            uint32_t ids[8], why[8 * 3], counts[8];
            for (size_t j = 0; j < got; j++)
                ids[j] = out[j].id;
            reco_model_explain_list(m, &p, ids, got, 3, why, counts);
        }
        /* The same ratings as ratings that arrived later (folded in). */
        p.updated = true;
        reco_model_recommend(m, &p, 5, false, out, &got, &cold, scratch, &err);
        if (ni)
            reco_model_predict_profile(m, &p, ni - 1, scratch);
    }
    reco_profile none = {RECO_NO_USER, NULL, NULL, 0, false};
    reco_model_recommend(m, &none, 5, true, out, &got, &cold, scratch, &err);
    reco_model_predict(m, 0, 0);
    reco_model_predict(m, nu, ni); /* unknown user and product: the baseline */
    if (ni) {
        reco_similar sim[5];
        reco_model_similar(m, ni - 1, 5, sim, &got, NULL, &err);
    }
    free(scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    if (!(flags & 1))
        fix_checksums(buf, len, flags & 2);
    static int expect_load = -1;
    if (expect_load < 0)
        expect_load = getenv("RECO_FUZZ_EXPECT_LOAD") != NULL;
    reco_mfile *f = NULL;
    reco_model *m = NULL;
    reco_error err;
    err.msg[0] = '\0';
    if (reco_mfile_open_mem(buf, len, "fuzz.model", &f, &err) == RECO_OK &&
        reco_model_load_mfile(f, &m, &err) == RECO_OK) {
        exercise(m);
        reco_model_free(m);
    } else if (expect_load && flags == 0) {
        fprintf(stderr, "fuzz_modelfile: a seed did not load: %s\n", err.msg);
        abort();
    }
    free(buf);
    return 0;
}
