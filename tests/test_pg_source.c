/* PostgreSQL source URIs (reco/pg_source.h) without a server: what goes to
 * libpq and what reco keeps, the names shown (never a password, a long
 * query cut in messages), and the URIs refused before connecting. Loading
 * from a real cluster is tests/cli/postgresql.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reco/pg_source.h"
#include "reco/ratings.h"
#include "testutil.h"

static void test_is_source(void **state)
{
    (void)state;
    assert_true(reco_pg_is_source("postgresql://h/db?table=t"));
    assert_true(reco_pg_is_source("postgres:///db?table=t"));
    assert_false(reco_pg_is_source("ratings.csv"));
    assert_false(reco_pg_is_source("postgresql:/h"));
    assert_false(reco_pg_is_source("-"));
    assert_false(reco_pg_is_source(NULL));
}

static void test_split(void **state)
{
    (void)state;
    reco_pg_source *s = NULL;
    reco_error err;
    assert_int_equal(reco_pg_source_parse("postgresql://ann:pw@db.example:5433/shop?sslmode="
                                          "require&table=sales.Ratings&columns=u,p,r,t&"
                                          "connect_timeout=5", &s, &err), RECO_OK);
    assert_string_equal(s->conninfo,
                        "postgresql://ann:pw@db.example:5433/shop?sslmode=require&"
                        "connect_timeout=5");
    assert_string_equal(s->table, "sales.Ratings");
    assert_string_equal(s->columns, "u,p,r,t");
    assert_null(s->query);
    assert_string_equal(s->name, "postgresql://ann@db.example:5433/shop?sslmode=require&"
                                 "table=sales.Ratings&columns=u,p,r,t&connect_timeout=5");
    reco_pg_source_free(s);

    /* query= runs to the end ('&' and '=' are SQL), percent-decoded; no
     * libpq parameter left: no '?'. */
    assert_int_equal(reco_pg_source_parse("postgres:///shop?query=SELECT%20a, b, r FROM t WHERE "
                                          "x = 'a&b' AND y >= 2;", &s, &err), RECO_OK);
    assert_string_equal(s->conninfo, "postgres:///shop");
    assert_string_equal(s->query, "SELECT a, b, r FROM t WHERE x = 'a&b' AND y >= 2;");
    assert_null(s->table);
    reco_pg_source_free(s);

    /* Everything from the environment. */
    assert_int_equal(reco_pg_source_parse("postgresql://?table=r", &s, &err), RECO_OK);
    assert_string_equal(s->conninfo, "postgresql://");
    reco_pg_source_free(s);
    reco_pg_source_free(NULL);
}

static void test_names(void **state)
{
    (void)state;
    char buf[RECO_PG_NAME_MAX];
    assert_string_equal(reco_pg_source_name("postgresql://ann:s3cr%40t@h/db?table=t", buf,
                                            sizeof buf),
                        "postgresql://ann@h/db?table=t");
    assert_string_equal(reco_pg_source_name("postgresql://h/db?password=s3cret&table=t", buf,
                                            sizeof buf),
                        "postgresql://h/db?table=t");
    /* An '@' in the query is not a user part. */
    assert_string_equal(reco_pg_source_name("postgresql://h/db?query=SELECT 'a:b@c', p, r FROM t",
                                            buf, sizeof buf),
                        "postgresql://h/db?query=SELECT 'a:b@c', p, r FROM t");
    assert_string_equal(reco_pg_source_name("ratings.csv", buf, sizeof buf), "ratings.csv");
    /* Cut to the buffer. */
    char small[16];
    assert_string_equal(reco_pg_source_name("postgresql://host/db?table=ratings", small,
                                            sizeof small), "postgresql://ho");

    /* Messages cut a long query after RECO_PG_QUERY_SHOWN bytes, not inside
     * a UTF-8 sequence; the full name keeps it. */
    char uri[400];
    snprintf(uri, sizeof uri, "postgresql://h/db?query=SELECT u, p, r FROM t WHERE note = '%s'",
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
    reco_pg_source *s = NULL;
    assert_int_equal(reco_pg_source_parse(uri, &s, NULL), RECO_OK);
    assert_string_equal(reco_pg_source_name(uri, buf, sizeof buf), uri);
    size_t len = strlen(s->name);
    assert_true(len > 3 && strcmp(s->name + len - 3, "...") == 0);
    assert_true(len <= strlen("postgresql://h/db?query=") + RECO_PG_QUERY_SHOWN + 3);
    assert_true(((unsigned char)s->name[len - 4] & 0xC0) != 0xC0); /* no lead byte alone */
    assert_memory_equal(s->name, uri, len - 3);
    reco_pg_source_free(s);
}

static void refused(const char *uri, const char *msg)
{
    reco_pg_source *s = (reco_pg_source *)1;
    reco_error err;
    reco_error_clear(&err);
    assert_int_equal(reco_pg_source_parse(uri, &s, &err), RECO_ERR_INVALID);
    assert_null(s);
    if (!strstr(err.msg, msg))
        fail_msg("%s: expected \"%s\" in \"%s\"", uri, msg, err.msg);
    assert_null(strstr(err.msg, "s3cret"));
}

static void test_refused(void **state)
{
    (void)state;
    refused("postgresql://a:s3cret@h/db", "postgresql://a@h/db: name a table or a query");
    refused("postgresql://h/db?sslmode=require", "name a table or a query");
    refused("postgresql://h/db?table=a&query=SELECT 1", "not both");
    refused("postgresql://h/db?table=a&table=b", "table= is given twice");
    refused("postgresql://h/db?columns=a,b,c&query=SELECT 1", "columns= picks the columns of a table=");
    refused("postgresql://h/db?table=a&columns=a,b", "columns= wants 3 or 4 names");
    refused("postgresql://h/db?table=a&columns=a,,b,c", "columns= wants 3 or 4 names");
    refused("postgresql://h/db?table=a&columns=a,b,c,d,e", "columns= wants 3 or 4 names");
    refused("postgresql://h/db?table=a.b.c", "table= wants NAME or SCHEMA.NAME");
    refused("postgresql://h/db?table=.a", "table= wants NAME or SCHEMA.NAME");
    refused("postgresql://h/db?table=", "table= wants NAME");
    refused("postgresql://h/db?table=a%2", "bad percent escape in table=");
    refused("postgresql://h/db?table=a%00b", "bad percent escape in table=");
    refused("postgresql://h/db?query= ;", "query= is empty");
    refused("mysql://h/db?table=a", "not a PostgreSQL source");
}

/* A source through the rating loader: without libpq a clear refusal, with
 * it a connection error naming the source without its password (nothing
 * listens on port 1 of the loopback). */
static void test_load_fails_cleanly(void **state)
{
    (void)state;
    reco_ratings *r = (reco_ratings *)1;
    reco_error err;
    reco_status st = reco_ratings_load("postgresql://ann:s3cret@127.0.0.1:1/db?table=t&"
                                       "connect_timeout=5", NULL, &r, &err);
    assert_null(r);
    assert_null(strstr(err.msg, "s3cret"));
    if (reco_pg_supported()) {
        assert_int_equal(st, RECO_ERR_IO);
        assert_non_null(strstr(err.msg, "postgresql://ann@127.0.0.1:1/db?table=t&"
                                        "connect_timeout=5: cannot connect: "));
    } else {
        assert_int_equal(st, RECO_ERR_INVALID);
        assert_non_null(strstr(err.msg, "built without PostgreSQL support"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_source),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_load_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
