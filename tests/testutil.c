/* Helpers shared by the unit tests. */
#include "testutil.h"

#include <math.h>

#include "reco/dataset.h"
#include "reco/idmap.h"
#include "reco/ratings.h"
#include "reco/model.h"
#include "reco/split.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *test_shared_data(const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", RECO_SHARED_DATA, rel);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

char *test_write_temp(const char *content, size_t len)
{
    char tmpl[] = "/tmp/reco-test-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, content + off, len - off);
        if (w <= 0) {
            close(fd);
            unlink(tmpl);
            return NULL;
        }
        off += (size_t)w;
    }
    close(fd);
    return strdup(tmpl);
}

int test_ml100k_fold(int k, reco_dataset **train, reco_ratings **test)
{
    char base[4096], tst[4096], rel[64];
    *train = NULL;
    *test = NULL;
    snprintf(rel, sizeof rel, "ml-100k/splits/u%d.base", k);
    if (!test_shared_data(rel, base, sizeof base))
        return -1;
    snprintf(rel, sizeof rel, "ml-100k/splits/u%d.test", k);
    if (!test_shared_data(rel, tst, sizeof tst))
        return -1;
    reco_error err;
    if (reco_dataset_load_pair(base, tst, NULL, NULL, train, test, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

int test_ml100k_eval_fold(int k, reco_dataset **train, reco_dataset **test)
{
    char base[4096], tst[4096], rel[64];
    *train = *test = NULL;
    snprintf(rel, sizeof rel, "ml-100k/splits/u%d.base", k);
    if (!test_shared_data(rel, base, sizeof base))
        return -1;
    snprintf(rel, sizeof rel, "ml-100k/splits/u%d.test", k);
    if (!test_shared_data(rel, tst, sizeof tst))
        return -1;
    reco_error err;
    if (reco_dataset_load(base, NULL, NULL, train, &err) ||
        reco_split_load_test(tst, *train, NULL, test, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        reco_dataset_free(*train);
        *train = NULL;
        return -1;
    }
    return 0;
}

double test_rmse(const reco_model *m, const reco_ratings *t)
{
    double se = 0;
    for (uint64_t j = 0; j < t->n; j++) {
        double d = reco_model_predict(m, t->user[j], t->item[j]) - t->rating[j];
        se += d * d;
    }
    return t->n ? sqrt(se / (double)t->n) : NAN;
}

double test_uniform(uint64_t *state)
{
    return ((double)(reco_splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
}

reco_ratings *test_ratings_new(uint32_t nu, uint32_t ni)
{
    reco_idmap *users = reco_idmap_new(nu), *items = reco_idmap_new(ni);
    reco_ratings *r = NULL;
    char key[32];
    uint32_t id;
    int bad = !users || !items;
    for (uint32_t u = 0; !bad && u < nu; u++) {
        snprintf(key, sizeof key, "u%u", u);
        bad = reco_idmap_intern(users, key, strlen(key), &id) != RECO_OK || id != u;
    }
    for (uint32_t i = 0; !bad && i < ni; i++) {
        snprintf(key, sizeof key, "i%u", i);
        bad = reco_idmap_intern(items, key, strlen(key), &id) != RECO_OK || id != i;
    }
    if (!bad)
        r = reco_ratings_new(users, items);
    reco_idmap_free(users);
    reco_idmap_free(items);
    return r;
}

int test_save_grid_model(const char *algo, uint32_t n_users, uint32_t n_items, const char *path)
{
    size_t cap = (size_t)n_users * n_items * 32 + 1, len = 0;
    char *text = malloc(cap);
    if (!text)
        return -1;
    for (uint32_t u = 0; u < n_users; u++)
        for (uint32_t i = 0; i < n_items; i++)
            if ((u + i) % 3 == 0)
                len += (size_t)snprintf(text + len, cap - len, "u%u,i%u,%u,%u\n", u, i,
                                        1 + (u * i) % 5, 1000 + u);
    reco_ratings *r = NULL;
    reco_dataset *ds = NULL;
    reco_model *m = NULL;
    reco_error err;
    int rc = reco_ratings_parse(text, len, "grid", NULL, &r, &err) ||
                     reco_dataset_build(r, NULL, &ds, &err) ||
                     reco_model_new(algo, &m, &err) || reco_model_fit(m, ds, NULL, &err) ||
                     reco_model_save(m, path, &err)
                 ? -1
                 : 0;
    if (rc)
        fprintf(stderr, "test_save_grid_model(%s): %s\n", algo, err.msg);
    reco_model_free(m);
    reco_dataset_free(ds);
    reco_ratings_free(r);
    free(text);
    return rc;
}
