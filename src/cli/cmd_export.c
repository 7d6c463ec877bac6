/* reco recommend --all-users: every user's list to a file (JSON Lines or
 * CSV), on every core, resumable (reco/export.h). The options are a table
 * fragment spliced into reco recommend's table; the run is one call. */
#include "cmd_export.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reco/clock.h"
#include "reco/export.h"
#include "reco/model.h"
#include "service.h"

static int parse_format(const char *arg, void *dest)
{
    cli_export_opts *o = dest;
    if (reco_export_format_parse(arg, &o->fmt.format, NULL) != RECO_OK)
        return -1;
    o->fmt.given = true;
    return 0;
}

void cli_export_opts_init(cli_export_opts *o)
{
    memset(o, 0, sizeof *o);
    const cli_option rows[] = {
        CLI_OPT_HEADING("Every user (batch export):"),
        {CLI_FLAG, "all-users", 0, NULL, "write the list of every user of the model to --output "
         "instead of asking for one user (-n, --include-rated and the rules apply to each): "
         "in the model's user order (first appearance in the "
         "training file), on all cores, with a progress bar and a summary on standard error "
         "(-q: neither)",
         &o->all_users, 0, 0, NULL, NULL},
        {CLI_STRING, "output", 'o', "FILE", "where --all-users writes: FILE.jsonl (one JSON "
         "object per user: user, items with item and score, cold_start) or FILE.csv "
         "(user,rank,item,score with a header); - is standard output (JSON Lines unless "
         "--format says otherwise). A file is written as FILE.part and renamed when complete",
         &o->output, 0, 0, NULL, NULL},
        {CLI_CUSTOM, "format", 0, "FORMAT", "jsonl or csv (default: from the extension of "
         "--output)", o, 0, 0, "jsonl or csv", parse_format},
        {CLI_FLAG, "resume", 0, NULL, "continue an interrupted export of the same model and "
         "options to FILE after its last checkpoint (FILE.part and FILE.part.state), without "
         "duplicates or gaps; with nothing to continue, start afresh",
         &o->resume, 0, 0, NULL, NULL},
        {CLI_INT, "threads", 0, "N", "threads for --all-users (default: all cores; the file "
         "is the same)", &o->threads, 1, 256, NULL, NULL},
        CLI_OPT_END,
    };
    _Static_assert(sizeof rows <= sizeof o->table, "cli_export_opts.table is too small");
    memcpy(o->table, rows, sizeof rows);
}

/* Tests: RECO_TEST_EXPORT_CHUNK (users per chunk), ..._CHECKPOINT (chunks
 * per checkpoint) and ..._KILL_AFTER (the process kills itself with
 * SIGKILL once that many users are written, as kill -9 would). */
static uint64_t test_env(const char *name)
{
    const char *v = getenv(name);
    uint64_t x = 0;
    return v && cli_parse_u64(v, &x) == 0 ? x : 0;
}

static void kill_hook(void *ctx, uint64_t users_done)
{
    if (users_done >= *(uint64_t *)ctx)
        raise(SIGKILL);
}

bool cli_export_wanted(const cli_export_opts *o)
{
    return o->all_users || o->output || o->fmt.given || o->resume || o->threads;
}

int cli_export_run(const char *cmd, const char *model_path, const cli_export_opts *x,
                   const cli_export_query *q)
{
    if (!x->all_users)
        return cli_usage(cmd, "--output, --format, --resume and --threads go with --all-users");
    if (q->user)
        return cli_usage(cmd, "--all-users lists every user: it does not go with --user");
    if (q->ratings_log)
        return cli_usage(cmd, "--all-users exports the model's users as trained: it does not "
                         "go with --ratings-log");
    if (q->json)
        return cli_usage(cmd, "--all-users writes JSON Lines or CSV (--format): it does not go "
                         "with --json");
    if (!x->output)
        return cli_usage(cmd, "--all-users needs --output FILE (or - for standard output)");
    reco_export_options o;
    reco_export_options_default(&o);
    reco_error err;
    bool stream = !strcmp(x->output, "-");
    if (x->fmt.given)
        o.format = x->fmt.format;
    else if (!stream && reco_export_format_of_path(x->output, &o.format, &err) != RECO_OK)
        return cli_usage(cmd, "%s", err.msg);
    if (stream && x->resume)
        return cli_usage(cmd, "--resume needs a file: standard output cannot be resumed");
    o.n = q->n;
    o.exclude_rated = q->exclude_rated;
    o.path = stream ? NULL : x->output;
    o.fd = stream ? STDOUT_FILENO : -1;
    o.resume = x->resume;
    o.threads = x->threads;
    o.chunk_users = (uint32_t)test_env("RECO_TEST_EXPORT_CHUNK");
    o.checkpoint_chunks = (uint32_t)test_env("RECO_TEST_EXPORT_CHECKPOINT");
    uint64_t kill_after = test_env("RECO_TEST_EXPORT_KILL_AFTER");
    if (kill_after) {
        o.chunk_hook = kill_hook;
        o.chunk_hook_ctx = &kill_after;
    }
    reco_service_options so;
    reco_service_options_default(&so);
    so.model_path = model_path;
    so.map_model = true;
    reco_service *svc = NULL;
    reco_status st = reco_service_open(&so, &svc, &err);
    if (st) {
        cli_error(cmd, "%s", err.msg);
        return cli_exit_status(st);
    }
    /* The rules, once for the run, made as reco recommend makes them
     * (reco_service_filter_new): the catalogue's (--category, unavailable
     * products hidden) with --exclude, --include and --max-per-category. */
    const reco_model *mod = reco_service_model(svc);
    reco_service_rules rules = {.has_include = q->include->n > 0,
                                .max_per_category = q->max_per_category,
                                .categories = q->categories->v,
                                .n_categories = (size_t)q->categories->n,
                                .include_unavailable = q->include_unavailable};
    char *ex_buf = NULL, *in_buf = NULL;
    const char **ex_ids = NULL, **in_ids = NULL;
    reco_service_filter *sf = NULL;
    int usage = 0;
    if (q->categories->n && !mod->catalogue) {
        usage = cli_usage(cmd, "--category needs a model with a catalogue (reco train --items "
                          "FILE), and %s has none", model_path);
    } else if (cli_split_ids(q->exclude, &ex_ids, &rules.n_exclude, &ex_buf) ||
               cli_split_ids(q->include, &in_ids, &rules.n_include, &in_buf)) {
        st = reco_error_set(&err, RECO_ERR_NOMEM, "out of memory");
    } else {
        rules.exclude = ex_ids;
        rules.include = in_ids;
        st = reco_service_filter_new(svc, &rules, &sf, &err);
    }
    free(ex_ids);
    free(in_ids);
    free(ex_buf);
    free(in_buf);
    if (st || usage) {
        reco_service_close(svc);
        if (usage)
            return usage;
        cli_error(cmd, "%s", err.msg);
        return cli_exit_status(st);
    }
    for (int k = 0; k < q->categories->n && !q->quiet; k++)
        if (reco_service_filter_unknown_category(sf, (size_t)k))
            fprintf(stderr, "reco %s: no category \"%s\" in the catalogue\n", cmd,
                    q->categories->v[k]);
    size_t unknown = reco_service_filter_unknown_items(sf);
    if (unknown && !q->quiet)
        fprintf(stderr, "reco %s: ignored %zu product ID%s of --exclude/--include that the "
                "model does not know\n", cmd, unknown, unknown == 1 ? "" : "s");
    const reco_model *m = reco_service_filter_model(sf);
    o.rules = reco_service_filter_rules(sf);
    cli_progress *pb = cli_progress_new(!q->quiet);
    o.progress.fn = cli_progress_cb;
    o.progress.ctx = pb;
    reco_export_result res;
    double t0 = reco_clock_s();
    st = reco_export_all_users(m, &o, &res, &err);
    double secs = reco_clock_s() - t0;
    cli_progress_free(pb);
    reco_service_filter_free(sf);
    reco_service_close(svc);
    if (st) {
        cli_error(cmd, "%s", err.msg);
        return cli_exit_status(st);
    }
    if (!q->quiet) {
        char users[32], bytes[32], resumed[32], took[32], rate[32];
        uint64_t this_run = res.users - res.resumed_users;
        cli_thousands(res.users, users, sizeof users);
        cli_thousands(res.bytes, bytes, sizeof bytes);
        cli_thousands(res.resumed_users, resumed, sizeof resumed);
        cli_thousands(secs > 0 ? (uint64_t)((double)this_run / secs) : 0, rate, sizeof rate);
        cli_fmt_seconds(secs, took, sizeof took);
        fprintf(stderr, "reco %s: %s users (%s bytes) to %s in %s, %s users/s%s%s%s\n", cmd,
                users, bytes, stream ? "standard output" : x->output, took, rate,
                res.resumed_users ? "; resumed after " : "",
                res.resumed_users ? resumed : "", res.resumed_users ? " users" : "");
        if (res.cold_start) {
            char c[32];
            fprintf(stderr, "reco %s: %s users got the popularity ranking (the model had no "
                    "opinion of them)\n", cmd, cli_thousands(res.cold_start, c, sizeof c));
        }
    }
    return EXIT_OK;
}
