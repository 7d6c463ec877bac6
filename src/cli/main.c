/* reco: the command-line front end. Subcommands as in git: `reco CMD ...`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "reco/version.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"stats", cmd_stats, "summary statistics of a rating file"},
    {"gen", cmd_gen, "generate synthetic ratings shaped like Amazon's"},
    {"explore", cmd_explore, "write a report with statistics and charts"},
    {"eval", cmd_eval, "compare algorithms on held-out ratings"},
    {"tune", cmd_tune, "search an algorithm's parameters on a validation split"},
    {"train", cmd_train, "fit a model and write a model file"},
    {"recommend", cmd_recommend, "top-N products for a user from a model file"},
    {"similar", cmd_similar, "products similar to a product"},
    {"predict", cmd_predict, "predicted rating of a user for a product"},
    {"serve", cmd_serve, "serve recommendations over HTTP (REST, JSON)"},
    {"log", cmd_log, "the ratings log of serve: create, inspect, compact into an archive"},
};

#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f)
{
    fprintf(f, "Usage: reco COMMAND [OPTIONS] ...\n\n"
               "reco: product recommendations from user-product ratings.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\nRun 'reco COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    /* Hidden, for the bash completion and the man pages (generated from
     * the option tables): the command names, or one command's long
     * options. */
    if (!strcmp(name, "--complete-options")) {
        if (argc == 2) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                printf("%s\t%s\n", COMMANDS[i].name, COMMANDS[i].summary);
            return EXIT_OK;
        }
        for (size_t i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[2], COMMANDS[i].name)) {
                cli_list_options_only = true;
                char *args[] = {argv[2], NULL};
                return COMMANDS[i].run(1, args);
            }
        fprintf(stderr, "reco: '%s' is not a reco command. See 'reco --help'.\n", argv[2]);
        return EXIT_USAGE;
    }
    if (!strcmp(name, "--version")) {
        printf("reco %s\n", reco_version());
        return EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(name, COMMANDS[i].name))
            return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "reco: '%s' is not a reco command. See 'reco --help'.\n", name);
    return EXIT_USAGE;
}
