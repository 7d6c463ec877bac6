/* Batch export of every user's top-N list (reco/export.h): chunks of users
 * computed on every core, each thread into its own buffer with its own
 * scratch, written in chunk order; a resumable file with checkpoints. */
#include "reco/export.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "numfmt.h"
#include "reco/json.h"
#include "reco/ratings_log.h"

#define STATE_MAGIC "reco-export 1"

void reco_export_options_default(reco_export_options *o)
{
    memset(o, 0, sizeof *o);
    o->format = RECO_EXPORT_JSONL;
    o->n = 10;
    o->exclude_rated = true;
    o->fd = -1;
}

reco_status reco_export_format_parse(const char *name, reco_export_format *out, reco_error *err)
{
    if (!strcmp(name, "jsonl")) {
        *out = RECO_EXPORT_JSONL;
        return RECO_OK;
    }
    if (!strcmp(name, "csv")) {
        *out = RECO_EXPORT_CSV;
        return RECO_OK;
    }
    return reco_error_set(err, RECO_ERR_INVALID, "unknown export format \"%s\" (jsonl or csv)",
                          name);
}

reco_status reco_export_format_of_path(const char *path, reco_export_format *out,
                                       reco_error *err)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot && (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson") ||
                !strcasecmp(dot, ".json"))) {
        *out = RECO_EXPORT_JSONL;
        return RECO_OK;
    }
    if (dot && !strcasecmp(dot, ".csv")) {
        *out = RECO_EXPORT_CSV;
        return RECO_OK;
    }
    return reco_error_set(err, RECO_ERR_INVALID,
                          "cannot tell the export format from the name %s (.jsonl or .csv); "
                          "give it with the format", path);
}

/* ---- text ---- */

/* A growable byte buffer, one per thread, reused for every chunk. */
typedef struct outbuf {
    char *p;
    size_t len, cap;
    bool failed; /* an allocation failed */
} outbuf;

/* Room for `more` bytes; false (and failed) when it cannot grow. */
static bool reserve(outbuf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static inline void put(outbuf *b, const char *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define PUT_LIT(b, s) put((b), (s), sizeof(s) - 1)

/* The most bytes an ID of len bytes takes quoted, in JSON (\u00XX: 6 per
 * byte) or CSV (every byte a doubled quote). */
static size_t quoted_max(size_t len) { return 6 * len + 2; }

/* An ID as a JSON string, escaped as jansson escapes it (", \, and control
 * characters; UTF-8 kept as it is). */
static void put_json_string(outbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    b->p[b->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            b->p[b->len++] = (char)c;
            continue;
        }
        b->p[b->len++] = '\\';
        switch (c) {
        case '"': b->p[b->len++] = '"'; break;
        case '\\': b->p[b->len++] = '\\'; break;
        case '\b': b->p[b->len++] = 'b'; break;
        case '\f': b->p[b->len++] = 'f'; break;
        case '\n': b->p[b->len++] = 'n'; break;
        case '\r': b->p[b->len++] = 'r'; break;
        case '\t': b->p[b->len++] = 't'; break;
        default:
            PUT_LIT(b, "u00");
            b->p[b->len++] = hex[c >> 4];
            b->p[b->len++] = hex[c & 15];
        }
    }
    b->p[b->len++] = '"';
}

/* An ID as a CSV field (RFC 4180): quoted when it holds a comma, a quote,
 * CR or LF, or starts or ends with a space, quotes doubled. */
static void put_csv_field(outbuf *b, const char *s, size_t len)
{
    bool quote = len && (s[0] == ' ' || s[len - 1] == ' ');
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        put(b, s, len);
        return;
    }
    b->p[b->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            b->p[b->len++] = '"';
        b->p[b->len++] = s[i];
    }
    b->p[b->len++] = '"';
}

static void put_u64(outbuf *b, uint64_t v)
{
    char d[24];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        b->p[b->len++] = d[--n];
}

/* ---- one user ---- */

/* The list of one user, under the run's rules. */
static reco_status user_list(const reco_model *m, const reco_export_options *o, uint32_t u,
                             reco_scored *top, size_t *got, bool *cold, void *scratch,
                             reco_error *err)
{
    reco_profile prof = reco_profile_of_user(m->train, u);
    return reco_model_recommend_filtered(m, &prof, o->n, o->exclude_rated, o->rules, top, got,
                                         cold, scratch, err);
}

static void format_user(const reco_model *m, const reco_export_options *o, uint32_t u,
                        const reco_scored *top, size_t got, bool cold, outbuf *b)
{
    size_t ulen;
    const char *ukey = reco_idmap_key(m->train->users, u, &ulen);
    char num[RECO_JSON_REAL_MAX];
    if (o->format == RECO_EXPORT_JSONL) {
        if (!reserve(b, quoted_max(ulen) + 48))
            return;
        PUT_LIT(b, "{\"user\":");
        put_json_string(b, ukey, ulen);
        PUT_LIT(b, ",\"items\":[");
        for (size_t k = 0; k < got; k++) {
            size_t ilen;
            const char *ikey = reco_idmap_key(m->train->items, top[k].id, &ilen);
            if (!reserve(b, quoted_max(ilen) + RECO_JSON_REAL_MAX + 24))
                return;
            if (k)
                b->p[b->len++] = ',';
            PUT_LIT(b, "{\"item\":");
            put_json_string(b, ikey, ilen);
            PUT_LIT(b, ",\"score\":");
            put(b, num, reco_json_real_text((double)top[k].score, num));
            b->p[b->len++] = '}';
        }
        if (cold)
            PUT_LIT(b, "],\"cold_start\":true}\n");
        else
            PUT_LIT(b, "],\"cold_start\":false}\n");
        return;
    }
    for (size_t k = 0; k < got; k++) {
        size_t ilen;
        const char *ikey = reco_idmap_key(m->train->items, top[k].id, &ilen);
        if (!reserve(b, quoted_max(ulen) + quoted_max(ilen) + RECO_JSON_REAL_MAX + 32))
            return;
        put_csv_field(b, ukey, ulen);
        b->p[b->len++] = ',';
        put_u64(b, k + 1);
        b->p[b->len++] = ',';
        put_csv_field(b, ikey, ilen);
        b->p[b->len++] = ',';
        put(b, num, reco_json_real_text((double)top[k].score, num));
        b->p[b->len++] = '\n';
    }
}

/* ---- the state of a resumable export ---- */

static uint64_t bytes_hash(const void *p, size_t len)
{
    return p && len ? reco_idmap_hash(p, len) : 0;
}

/* What a state must match to be resumed: the model (algorithm,
 * parameters, sizes, when it was trained) and the settings (format, n,
 * exclusion, rules), as a 64-bit hash. */
static uint64_t fingerprint(const reco_model *m, const reco_export_options *o)
{
    char text[4096];
    char params[2048] = "";
    m->ops->params_format(m->params, params, sizeof params);
    const reco_dataset *d = m->train;
    uint64_t rules = 0;
    const reco_item_filter *f = o->rules;
    if (f) {
        rules = bytes_hash(f->exclude, f->n_exclude * sizeof *f->exclude) ^
                bytes_hash(f->include, f->n_include * sizeof *f->include) * 3 ^
                bytes_hash(f->hidden, f->hidden ? (f->n_hidden_bits + 63) / 64 * 8 : 0) * 5 ^
                bytes_hash(f->item_category, f->n_item_category * sizeof *f->item_category) * 7 ^
                bytes_hash(f->categories, f->n_categories * sizeof *f->categories) * 11 ^
                ((uint64_t)f->max_per_category + 1) * 13 ^ (uint64_t)(f->include != NULL);
    }
    double fit = m->fit_seconds;
    uint64_t fit_bits;
    memcpy(&fit_bits, &fit, sizeof fit_bits);
    int len = snprintf(text, sizeof text,
                       "format=%d n=%zu exclude_rated=%d rules=%" PRIx64 " algorithm=%s "
                       "params=%s users=%" PRIu32 " items=%" PRIu32 " ratings=%" PRIu64
                       " trained_at=%" PRId64 " fit=%" PRIx64,
                       (int)o->format, o->n, (int)o->exclude_rated, rules, m->ops->name, params,
                       reco_dataset_n_users(d), reco_dataset_n_items(d), reco_dataset_nnz(d),
                       m->trained_at, fit_bits);
    if (len < 0)
        len = 0;
    return reco_idmap_hash(text, (size_t)len < sizeof text ? (size_t)len : sizeof text - 1);
}

typedef struct export_state {
    uint64_t fingerprint, users, bytes;
} export_state;

/* Writes the state atomically: a temporary file, synced, renamed over it. */
static reco_status state_write(const char *state_path, const export_state *s, reco_error *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", state_path) >= (int)sizeof tmp)
        return reco_error_set(err, RECO_ERR_INVALID, "%s: path too long", state_path);
    char text[160];
    int len = snprintf(text, sizeof text,
                       STATE_MAGIC "\nfingerprint %016" PRIx64 "\nusers %" PRIu64
                                   "\nbytes %" PRIu64 "\n",
                       s->fingerprint, s->users, s->bytes);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (reco_write_full(fd, text, (uint64_t)len) != 0 || fdatasync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, state_path) != 0) {
        int e = errno;
        unlink(tmp);
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", state_path, strerror(e));
    }
    return RECO_OK;
}

/* Reads a state: RECO_ERR_NOT_FOUND when there is none. */
static reco_status state_read(const char *state_path, export_state *s, reco_error *err)
{
    int fd = open(state_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return RECO_ERR_NOT_FOUND;
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", state_path, strerror(errno));
    }
    char text[256];
    int64_t len = reco_pread_full(fd, text, sizeof text - 1, 0);
    close(fd);
    if (len < 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", state_path, strerror(errno));
    text[len] = '\0';
    int used = 0;
    if (sscanf(text, STATE_MAGIC "\nfingerprint %" SCNx64 "\nusers %" SCNu64 "\nbytes %" SCNu64
                                 "\n%n",
               &s->fingerprint, &s->users, &s->bytes, &used) != 3 ||
        used != len)
        return reco_error_set(err, RECO_ERR_PARSE,
                              "%s: not the state of an export; remove it, or run without "
                              "resuming to start again", state_path);
    return RECO_OK;
}

/* ---- the run ---- */

typedef struct run {
    const reco_model *m;
    const reco_export_options *o;
    int fd;
    bool durable;             /* a file with checkpoints (not a stream) */
    bool fresh;               /* the file was started by this run */
    const char *part, *state_path;
    export_state st;          /* what the next checkpoint records */
    uint64_t n_users, chunk, checkpoint_chunks;
    uint64_t written_users;   /* users on the file (all runs) */
    uint64_t bytes;           /* bytes on the file */
    uint64_t since_checkpoint; /* chunks written since the last one */
    uint64_t last_report;
    reco_export_result *res;
    int failed;               /* read and set atomically */
    reco_status rc;
    reco_error err;
} run;

static void fail(run *r, reco_status rc, const reco_error *e)
{
#pragma omp critical(reco_export_fail)
    {
        if (!__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE)) {
            r->rc = rc;
            if (e)
                r->err = *e;
            __atomic_store_n(&r->failed, 1, __ATOMIC_RELEASE);
        }
    }
}

static bool failed(run *r) { return __atomic_load_n(&r->failed, __ATOMIC_ACQUIRE) != 0; }

static reco_status checkpoint(run *r, reco_error *err)
{
    if (fdatasync(r->fd) != 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", r->part, strerror(errno));
    r->st.users = r->written_users;
    r->st.bytes = r->bytes;
    r->since_checkpoint = 0;
    return state_write(r->state_path, &r->st, err);
}

/* Writes one chunk's text, in order (called in the ordered section). */
static void write_chunk(run *r, const outbuf *b, uint64_t users, const uint64_t counts[3])
{
    reco_error e;
    if (reco_write_full(r->fd, b->p, b->len) != 0) {
        reco_error_set(&e, RECO_ERR_IO, "%s: %s", r->part ? r->part : "output",
                       strerror(errno));
        fail(r, RECO_ERR_IO, &e);
        return;
    }
    /* Start writing the chunk back now, without waiting for it, so that
     * the checkpoint's sync finds little left to do (advisory: an error
     * shows at the sync). */
    if (r->durable && b->len)
        sync_file_range(r->fd, (off_t)r->bytes, (off_t)b->len, SYNC_FILE_RANGE_WRITE);
    r->bytes += b->len;
    r->written_users += users;
    r->res->rows += counts[0];
    r->res->cold_start += counts[1];
    r->res->short_lists += counts[2];
    if (r->o->chunk_hook)
        r->o->chunk_hook(r->o->chunk_hook_ctx, r->written_users);
    if (r->durable && ++r->since_checkpoint >= r->checkpoint_chunks &&
        r->written_users < r->n_users) {
        reco_status rc = checkpoint(r, &e);
        if (rc) {
            fail(r, rc, &e);
            return;
        }
    }
    /* The progress callback runs on the calling thread only (thread 0 of
     * the team), a few hundred times at most. */
    if (omp_get_thread_num() == 0 &&
        (r->written_users - r->last_report) * 500 >= r->n_users) {
        r->last_report = r->written_users;
        reco_progress_report(&r->o->progress, "export", r->written_users, r->n_users);
    }
}

/* Every user from first on, in chunks, on every thread. */
static void run_chunks(run *r, uint64_t first)
{
    uint64_t chunks = (r->n_users - first + r->chunk - 1) / r->chunk;
    const reco_model *m = r->m;
    size_t scratch_bytes = reco_model_scratch_size(m);
    int threads = r->o->threads > 0 ? r->o->threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
    {
        void *scratch = malloc(scratch_bytes);
        reco_scored *top = malloc(r->o->n * sizeof *top);
        outbuf b = {0};
        if (!scratch || !top) {
            reco_error e;
            reco_error_set(&e, RECO_ERR_NOMEM, "out of memory");
            fail(r, RECO_ERR_NOMEM, &e);
        }
#pragma omp for ordered schedule(dynamic, 1)
        for (uint64_t c = 0; c < chunks; c++) {
            uint64_t lo = first + c * r->chunk, hi = lo + r->chunk;
            if (hi > r->n_users)
                hi = r->n_users;
            uint64_t counts[3] = {0, 0, 0}; /* rows, cold start, short lists */
            b.len = 0;
            for (uint64_t u = lo; u < hi && !failed(r); u++) {
                size_t got = 0;
                bool cold = false;
                reco_error e;
                reco_status rc = user_list(m, r->o, (uint32_t)u, top, &got, &cold, scratch, &e);
                if (rc) {
                    fail(r, rc, &e);
                    break;
                }
                format_user(m, r->o, (uint32_t)u, top, got, cold, &b);
                if (b.failed) {
                    reco_error_set(&e, RECO_ERR_NOMEM, "out of memory");
                    fail(r, RECO_ERR_NOMEM, &e);
                    break;
                }
                counts[0] += got;
                counts[1] += cold;
                counts[2] += got < r->o->n;
            }
#pragma omp ordered
            {
                if (!failed(r))
                    write_chunk(r, &b, hi - lo, counts);
            }
        }
        free(b.p);
        free(top);
        free(scratch);
    }
}

/* Opens PATH.part, fresh or to resume: the run's descriptor, where it
 * starts, and the CSV header written for a fresh one. */
static reco_status open_part(run *r, reco_error *err)
{
    const reco_export_options *o = r->o;
    if (o->resume) {
        export_state st;
        reco_status rc = state_read(r->state_path, &st, err);
        if (rc && rc != RECO_ERR_NOT_FOUND)
            return rc;
        if (rc == RECO_OK) {
            if (st.fingerprint != r->st.fingerprint)
                return reco_error_set(err, RECO_ERR_INVALID,
                                      "%s was written with another model or other settings "
                                      "(format, n, rules); run without resuming to start "
                                      "again", r->part);
            if (st.users > r->n_users)
                return reco_error_set(err, RECO_ERR_PARSE, "%s: %" PRIu64 " users is more than "
                                      "the model has", r->state_path, st.users);
            r->fd = open(r->part, O_WRONLY | O_CLOEXEC);
            if (r->fd < 0)
                return reco_error_set(err, RECO_ERR_IO, "%s: %s", r->part, strerror(errno));
            struct stat sb;
            if (fstat(r->fd, &sb) != 0 || (uint64_t)sb.st_size < st.bytes)
                return reco_error_set(err, RECO_ERR_IO, "%s is shorter than its state says "
                                      "(%" PRIu64 " bytes); run without resuming to start "
                                      "again", r->part, st.bytes);
            if (ftruncate(r->fd, (off_t)st.bytes) != 0 ||
                lseek(r->fd, (off_t)st.bytes, SEEK_SET) < 0)
                return reco_error_set(err, RECO_ERR_IO, "%s: %s", r->part, strerror(errno));
            r->written_users = st.users;
            r->bytes = st.bytes;
            r->res->resumed_users = st.users;
            return RECO_OK;
        }
    }
    r->fd = open(r->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (r->fd < 0)
        return reco_error_set(err, RECO_ERR_IO, "%s: %s", r->part, strerror(errno));
    r->fresh = true;
    return RECO_OK;
}

reco_status reco_export_all_users(const reco_model *m, const reco_export_options *o,
                                  reco_export_result *res, reco_error *err)
{
    reco_export_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    if (!m || !m->state)
        return reco_error_set(err, RECO_ERR_INVALID, "the model is not fitted");
    if (o->n < 1 || o->n > 1000)
        return reco_error_set(err, RECO_ERR_INVALID, "n must be 1 to 1000, not %zu", o->n);
    if (o->format != RECO_EXPORT_JSONL && o->format != RECO_EXPORT_CSV)
        return reco_error_set(err, RECO_ERR_INVALID, "unknown export format");
    if (!o->path && o->fd < 0)
        return reco_error_set(err, RECO_ERR_INVALID, "no output: neither a path nor a descriptor");
    if (!o->path && o->resume)
        return reco_error_set(err, RECO_ERR_INVALID, "a stream cannot be resumed; export to a file");
    run r;
    memset(&r, 0, sizeof r);
    r.m = m;
    r.o = o;
    r.res = res;
    r.fd = -1;
    r.n_users = reco_dataset_n_users(m->train);
    r.chunk = o->chunk_users ? o->chunk_users : RECO_EXPORT_CHUNK_USERS;
    r.checkpoint_chunks = o->checkpoint_chunks ? o->checkpoint_chunks
                                               : RECO_EXPORT_CHECKPOINT_CHUNKS;
    r.st.fingerprint = fingerprint(m, o);
    char *part = NULL, *state_path = NULL;
    reco_status rc = RECO_OK;
    if (o->path) {
        size_t pl = strlen(o->path);
        part = malloc(pl + 6);
        state_path = malloc(pl + 12);
        if (!part || !state_path) {
            free(part);
            free(state_path);
            return reco_error_set(err, RECO_ERR_NOMEM, "out of memory");
        }
        memcpy(part, o->path, pl);
        memcpy(part + pl, ".part", 6);
        memcpy(state_path, part, pl + 5);
        memcpy(state_path + pl + 5, ".state", 7);
        r.part = part;
        r.state_path = state_path;
        r.durable = true;
        rc = open_part(&r, err);
    } else {
        r.fd = o->fd;
    }
    if (rc == RECO_OK && r.bytes == 0 && o->format == RECO_EXPORT_CSV) {
        static const char header[] = "user,rank,item,score\n";
        if (reco_write_full(r.fd, header, sizeof header - 1) != 0)
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", part ? part : "output",
                                strerror(errno));
        r.bytes = sizeof header - 1;
    }
    if (rc == RECO_OK && r.fresh)
        rc = checkpoint(&r, err); /* a fresh file: nothing of an earlier state stays */
    if (rc == RECO_OK) {
        r.last_report = r.written_users;
        reco_progress_report(&o->progress, "export", r.written_users, r.n_users);
        run_chunks(&r, r.written_users);
        if (failed(&r))
            rc = reco_error_set(err, r.rc, "%s", r.err.msg);
    }
    if (rc == RECO_OK)
        reco_progress_report(&o->progress, "export", r.written_users, r.n_users);
    if (rc == RECO_OK && r.durable) {
        /* Commit: the data synced, renamed over PATH, the directory synced,
         * then the state removed (a state without its part is ignored). */
        if (fdatasync(r.fd) != 0 || close(r.fd) != 0)
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", part, strerror(errno));
        r.fd = -1;
        if (rc == RECO_OK && rename(part, o->path) != 0)
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", o->path, strerror(errno));
        if (rc == RECO_OK && reco_fsync_parent_dir(o->path) != 0)
            rc = reco_error_set(err, RECO_ERR_IO, "%s: %s", o->path, strerror(errno));
        if (rc == RECO_OK)
            unlink(state_path);
    }
    if (r.durable && r.fd >= 0)
        close(r.fd);
    res->users = r.written_users;
    res->bytes = r.bytes;
    free(part);
    free(state_path);
    return rc;
}
