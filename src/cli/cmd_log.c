/* reco log: the ratings log of `reco serve`: create one, see where it
 * stands against a model, and compact it (move what a model holds to an
 * archive). The format and the protocol are in include/reco/ratings_log.h. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "reco/model.h"
#include "reco/ratings_log.h"

/* The point MODEL holds of a log (an error if it holds none). */
static int model_point(const char *path, reco_log_point *p)
{
    reco_model *m = NULL;
    reco_error err;
    reco_status st = reco_model_load(path, &m, &err);
    if (st) {
        cli_error("log", "%s", err.msg);
        return cli_exit_status(st);
    }
    *p = m->log_point;
    reco_model_free(m);
    return EXIT_OK;
}

/* Ratings (lines) in [from, to) of the log file. */
static int count_lines(const reco_log_file *f, uint64_t from, uint64_t to, uint64_t *n)
{
    *n = 0;
    if (to <= from)
        return 0;
    uint64_t end = reco_log_file_pos(f, to);
    char *map = mmap(NULL, (size_t)end, PROT_READ, MAP_PRIVATE, f->fd, 0);
    if (map == MAP_FAILED)
        return -1;
    const char *p = map + reco_log_file_pos(f, from), *e = map + end;
    while ((p = memchr(p, '\n', (size_t)(e - p)))) {
        (*n)++;
        p++;
    }
    munmap(map, (size_t)end);
    return 0;
}

static int do_info(const char *log, const char *model, bool json)
{
    reco_log_point mp;
    memset(&mp, 0, sizeof mp);
    if (model) {
        int rc = model_point(model, &mp);
        if (rc)
            return rc;
    }
    reco_log_file f;
    reco_error err;
    reco_status st = reco_log_file_open(log, &f, &err);
    if (st) {
        cli_error("log", "%s", err.msg);
        return cli_exit_status(st);
    }
    uint64_t lines = 0;
    if (count_lines(&f, f.h.offset, f.end_offset, &lines)) {
        cli_error("log", "%s: cannot read it", log);
        reco_log_file_close(&f);
        return EXIT_FAIL;
    }
    bool archive = f.h.kind == RECO_LOG_KIND_ARCHIVE;
    /* What MODEL holds of it, and what a server would replay. */
    const char *relation = NULL;
    uint64_t replay_lines = 0, replay_bytes = 0;
    if (model && !archive) {
        if (!mp.id[0])
            relation = "trained without a ratings log";
        else if (strcmp(mp.id, f.h.id))
            relation = "trained on another log";
        else if (mp.offset < f.h.offset)
            relation = "older than the log's start (compacted past it)";
        else if (mp.offset > f.end_offset)
            relation = "past the log's end";
        if (!relation) {
            replay_bytes = f.end_offset - mp.offset;
            count_lines(&f, mp.offset, f.end_offset, &replay_lines);
        } else if (!mp.id[0] && f.h.offset == 0) {
            relation = NULL; /* replays all of it */
            replay_bytes = f.end_offset;
            replay_lines = lines;
        }
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "file", log, "kind",
                              archive ? "archive" : "log", "id", f.h.id, "first_rating",
                              (json_int_t)f.h.seq, "end_rating", (json_int_t)(f.h.seq + lines),
                              "ratings", (json_int_t)lines, "start_offset",
                              (json_int_t)f.h.offset, "end_offset", (json_int_t)f.end_offset);
        if (model && !archive) {
            json_object_set_new(o, "model", json_string(model));
            json_object_set_new(o, "model_covers", mp.id[0] ? json_integer((json_int_t)mp.seq)
                                                            : json_null());
            if (relation)
                json_object_set_new(o, "problem", json_string(relation));
            else {
                json_object_set_new(o, "replay_ratings", json_integer((json_int_t)replay_lines));
                json_object_set_new(o, "replay_bytes", json_integer((json_int_t)replay_bytes));
            }
        }
        cli_print_json(o);
        json_decref(o);
    } else {
        char a[32], b[32], c[32], d[32];
        printf("%s: ratings %s %s\n", log, archive ? "archive of log" : "log", f.h.id);
        printf("  ratings #%s to #%s (%s rating%s, %s bytes)\n",
               cli_thousands(f.h.seq, a, sizeof a), cli_thousands(f.h.seq + lines, b, sizeof b),
               cli_thousands(lines, c, sizeof c), lines == 1 ? "" : "s",
               cli_thousands(f.end_offset - f.h.offset, d, sizeof d));
        if (f.file_bytes > reco_log_file_pos(&f, f.end_offset) && !archive)
            printf("  a torn last line (never acknowledged) is cut when reco serve starts\n");
        if (model && !archive) {
            if (relation)
                printf("  %s: %s; reco serve refuses this pair\n", model, relation);
            else
                printf("  %s holds it up to rating #%s; a start or reload replays %s rating%s "
                       "(%s bytes)\n", model,
                       mp.id[0] ? cli_thousands(mp.seq, a, sizeof a) : "0 (none of it)",
                       cli_thousands(replay_lines, b, sizeof b), replay_lines == 1 ? "" : "s",
                       cli_thousands(replay_bytes, c, sizeof c));
        }
    }
    reco_log_file_close(&f);
    return EXIT_OK;
}

static int do_init(const char *log, const char *model, bool quiet)
{
    reco_log_point mp;
    memset(&mp, 0, sizeof mp);
    if (model) {
        int rc = model_point(model, &mp);
        if (rc)
            return rc;
        if (!mp.id[0]) {
            cli_error("log", "%s was trained without a ratings log: there is no log to continue "
                             "(reco log init %s makes a new one)", model, log);
            return EXIT_USAGE;
        }
    }
    reco_log_header h;
    reco_error err;
    reco_status st = reco_log_create(log, model ? &mp : NULL, &h, &err);
    if (st) {
        cli_error("log", "%s", err.msg);
        return cli_exit_status(st);
    }
    if (!quiet) {
        char a[32];
        if (model)
            printf("created %s: log %s, continuing from rating #%s (the point %s holds)\n", log,
                   h.id, cli_thousands(h.seq, a, sizeof a), model);
        else
            printf("created %s: log %s\n", log, h.id);
    }
    return EXIT_OK;
}

static int do_compact(const char *log, const char *model, const char *archive, bool json,
                      bool quiet)
{
    reco_log_point mp;
    int rc = model_point(model, &mp);
    if (rc)
        return rc;
    reco_log_compact_result res;
    reco_error err;
    reco_status st = reco_log_compact(log, &mp, archive, &res, &err);
    if (st) {
        cli_error("log", "%s", err.msg);
        return cli_exit_status(st);
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I,s:I}", "file", log, "archive",
                              archive, "compacted", !res.nothing_to_do, "archived_ratings",
                              (json_int_t)res.archived_ratings, "archived_bytes",
                              (json_int_t)res.archived_bytes, "kept_ratings",
                              (json_int_t)res.kept_ratings, "kept_bytes",
                              (json_int_t)res.kept_bytes, "first_rating",
                              (json_int_t)res.log_start.seq);
        cli_print_json(o);
        json_decref(o);
    } else if (!quiet) {
        char a[32], b[32], c[32];
        if (res.nothing_to_do)
            printf("%s already starts at rating #%s, at or after what %s holds: nothing to "
                   "archive\n", log, cli_thousands(res.log_start.seq, a, sizeof a), model);
        else
            printf("moved %s rating%s to %s; %s keeps %s rating%s, from rating #%s\n",
                   cli_thousands(res.archived_ratings, a, sizeof a),
                   res.archived_ratings == 1 ? "" : "s", archive, log,
                   cli_thousands(res.kept_ratings, b, sizeof b), res.kept_ratings == 1 ? "" : "s",
                   cli_thousands(res.log_start.seq, c, sizeof c));
    }
    return EXIT_OK;
}

int cmd_log(int argc, char **argv)
{
    const char *model = NULL, *archive = NULL;
    bool json = false, quiet = false;
    const cli_option options[] = {
        {CLI_STRING, "model", 'm', "MODEL", "a model file from reco train --ratings-log LOG",
         &model, 0, 0, NULL, NULL},
        {CLI_STRING, "archive", 0, "ARCHIVE", "where compact moves the ratings (a rating CSV "
         "too)", &archive, 0, 0, NULL, NULL},
        CLI_OPT_JSON(&json, "print the result as JSON (info, compact; docs/json.md)"),
        CLI_OPT_QUIET(&quiet, "print nothing on success (init, compact)"),
        CLI_OPT_END,
    };
    const cli_command cmd = {
        .name = "log",
        .usage = "init LOG [--model MODEL]\n"
                 "info LOG [--model MODEL] [--json]\n"
                 "compact LOG --model MODEL --archive ARCHIVE [--json]",
        .description =
            "The ratings log is where `reco serve --ratings-log LOG` appends the ratings it "
            "acknowledges: a rating CSV whose first line names the log (a random id) and where "
            "the file starts in it. `reco train RATINGS --ratings-log LOG -o MODEL` trains on it "
            "too and records in MODEL how far it read; the server replays only the ratings after "
            "that point, on start and on reload.\n"
            "\n"
            "Commands:\n"
            "  init LOG     create an empty log (never over an existing file). With --model: a "
            "log that continues MODEL's log from the point MODEL holds, for when that log is "
            "lost (the ratings acknowledged after the point are then gone)\n"
            "  info LOG     the log's id, where it starts and ends (ratings, bytes); with "
            "--model, how much of it MODEL holds and how much a restart would replay\n"
            "  compact LOG  move the ratings MODEL holds from LOG to ARCHIVE (created, or "
            "extended when it is this log's archive), and rewrite LOG to start at MODEL's point. "
            "Safe while reco serve runs (it waits for the batch being written and follows the "
            "new file) and if interrupted (run it again). Train the next model with the archive "
            "among the rating files: reco train RATINGS ARCHIVE --ratings-log LOG -o MODEL",
        .options = options,
        .epilogue = "The procedure is in docs/operations.md.",
    };
    int first;
    int rc = cli_parse(&cmd, argc, argv, &first);
    if (rc)
        return rc == CLI_HELP_SHOWN ? EXIT_OK : rc;
    if (first == argc)
        return cli_usage("log", "missing a command: init, info or compact");
    const char *what = argv[first];
    if (strcmp(what, "init") && strcmp(what, "info") && strcmp(what, "compact"))
        return cli_usage("log", "unknown command '%s' (init, info, compact)", what);
    if (first + 2 != argc)
        return cli_usage("log", first + 1 == argc ? "missing LOG" : "expected one LOG");
    const char *log = argv[first + 1];
    if (!strcmp(what, "init"))
        return do_init(log, model, quiet);
    if (!strcmp(what, "info"))
        return do_info(log, model, json);
    if (!model || !archive)
        return cli_usage("log", "compact needs --model MODEL (what it may archive) and "
                         "--archive ARCHIVE (where to)");
    return do_compact(log, model, archive, json, quiet);
}
