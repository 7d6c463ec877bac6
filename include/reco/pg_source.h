/* reco: ratings read from PostgreSQL.
 *
 * A source is a libpq connection URI with reco's own parameters added,
 * given wherever a rating file is (reco_ratings_load dispatches here):
 *
 *   postgresql://[user[:password]@][host][:port][/dbname]?table=[SCHEMA.]NAME
 *   postgresql://...?table=NAME&columns=USER_COL,PRODUCT_COL,RATING_COL[,TS_COL]
 *   postgresql://...?query=SELECT user_id, product_id, rating, ts FROM ...
 *
 * (`postgres://` works too.) `table`, `columns` and `query` are removed
 * before the rest goes to libpq, so every libpq parameter (sslmode,
 * connect_timeout, ...), the PG* environment variables and the password
 * file work as they do for psql. `query` takes the rest of the URI,
 * '&' and '=' included, so it comes last; its text and the names are
 * percent-decoded (%20 ...) and names are taken as written (case matters).
 *
 * Columns by position: user, product, rating, timestamp (optional). IDs are
 * read as PostgreSQL prints them (any type); the rating must be of a numeric
 * type; the timestamp an integer (Unix seconds) or a date/timestamp type
 * (converted to Unix seconds, rounded down). Fewer than 3 or more than 4
 * columns, or a rating that is not numeric, are refused naming the columns
 * expected.
 *
 * Guarantees: the rows come through one `COPY (SELECT ...) TO STDOUT` in
 * CSV and go through the rating-file parser itself (ratings_parse.h), so
 * the reco_ratings are those the same rows in a CSV file give, with the
 * same checks (rating range, UTF-8 IDs of 1 to RECO_ID_MAX bytes, skip_bad)
 * and messages `SOURCE:ROW: reason`, ROW counted from 1 in the order the
 * query returns rows (a NULL ID or rating is an empty field). SOURCE is
 * the URI without its password (reco_pg_source_name); no message carries
 * a password. Built without libpq, every load fails with RECO_ERR_INVALID
 * saying so. */
#ifndef RECO_PG_SOURCE_H
#define RECO_PG_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "reco/error.h"
#include "reco/ratings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Display names are cut to fit this many bytes (a long query to its first
 * RECO_PG_QUERY_SHOWN bytes and "..."), so that `SOURCE:ROW: reason` fits
 * in a message. */
#define RECO_PG_NAME_MAX 200
#define RECO_PG_QUERY_SHOWN 60

/* Whether s names a PostgreSQL source (starts with "postgresql://" or
 * "postgres://"). */
bool reco_pg_is_source(const char *s);

/* Whether this build can read PostgreSQL sources (it was linked with libpq). */
bool reco_pg_supported(void);

/* The parts of a source URI. */
typedef struct reco_pg_source {
    char *conninfo; /* the URI for libpq: reco's parameters removed */
    char *table;    /* decoded "[schema.]name", or NULL */
    char *columns;  /* decoded "a,b,c[,d]", or NULL */
    char *query;    /* decoded query text, or NULL */
    char name[RECO_PG_NAME_MAX]; /* for messages: no password, a long query cut */
} reco_pg_source;

/* Splits uri. RECO_ERR_INVALID (naming the source without its password)
 * when it is not a postgresql:// URI, names neither or both of table and
 * query, gives columns without table, repeats a parameter, or has a
 * malformed percent escape or an empty name. */
reco_status reco_pg_source_parse(const char *uri, reco_pg_source **out, reco_error *err);
void reco_pg_source_free(reco_pg_source *s);

/* The name of a source for output into buf (cap bytes): the URI without
 * the password of its user part or a password= parameter (messages use
 * the same with a long query cut, reco_pg_source.name). Anything that is not a PostgreSQL source is
 * copied as it is (cut to cap). Returns buf. */
char *reco_pg_source_name(const char *uri, char *buf, size_t cap);

/* Reads the ratings of a source (see above). opt as for reco_ratings_load
 * (its sep and header are ignored: the rows come as CSV without a header).
 * Connection and SQL errors are RECO_ERR_IO with `SOURCE: message`
 * (libpq's or the server's). */
reco_status reco_pg_ratings_load(const char *uri, const reco_load_options *opt,
                                 reco_ratings **out, reco_error *err);

#ifdef __cplusplus
}
#endif
#endif
