/* Helpers shared by the unit tests. Include after <cmocka.h>'s prerequisites. */
#ifndef RECO_TESTUTIL_H
#define RECO_TESTUTIL_H

#include <stddef.h>

/* Exit status that CTest reports as "skipped" (SKIP_RETURN_CODE). */
#define TEST_SKIP_STATUS 77

/* Path of a file under ../shared/data (rel like "ml-100k/u.data") in buf, or
 * NULL when the shared data is not there (tests then skip). */
const char *test_shared_data(const char *rel, char *buf, size_t cap);

/* Writes content to a new temporary file; returns its malloc'd path (the
 * caller unlinks and frees it), or NULL. */
char *test_write_temp(const char *content, size_t len);

#endif
