/* Tiny assertion helpers shared by the C tests (no framework: each test is a program that
 * exits non-zero on the first failure, naming the file, line and lsmedic's message). */
#ifndef LSMEDIC_TEST_CHECK_H
#define LSMEDIC_TEST_CHECK_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsmedic.h"

static _Atomic int check_count = 0; /* CHECK may run on several threads */

#define CHECK(cond)                                                                  \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* The call that just ran left no error. */
#define CHECK_OK(err)                                                                  \
    do {                                                                               \
        check_count++;                                                                 \
        if ((err) != NULL) {                                                           \
            fprintf(stderr, "%s:%d: unexpected error: %s\n", __FILE__, __LINE__, err); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* The call that just ran failed with a message containing `needle`; frees the message. */
#define CHECK_ERR(err, needle)                                                           \
    do {                                                                                 \
        check_count++;                                                                   \
        if ((err) == NULL) {                                                             \
            fprintf(stderr, "%s:%d: expected an error containing \"%s\", got none\n",    \
                    __FILE__, __LINE__, needle);                                         \
            exit(1);                                                                     \
        }                                                                                \
        if (strstr((err), (needle)) == NULL) {                                           \
            fprintf(stderr, "%s:%d: error \"%s\" does not contain \"%s\"\n", __FILE__,   \
                    __LINE__, err, needle);                                              \
            exit(1);                                                                     \
        }                                                                                \
        lsmedic_free(err);                                                               \
        (err) = NULL;                                                                    \
    } while (0)

/* A fresh temporary directory (removed by remove_dir). */
static inline char *make_temp_dir(void) {
    char *dir = strdup("/tmp/lsmedic-c-XXXXXX");
    CHECK(dir != NULL && mkdtemp(dir) != NULL);
    return dir;
}

static inline void remove_dir(char *dir) {
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s' '%s.lsmedic-checkpoints'", dir, dir);
    CHECK(system(command) == 0);
    free(dir);
}

/* Opens the database in `dir` with the configuration in TOML `config`. */
static inline lsmedic_t *open_with_toml(const char *dir, const char *config_toml) {
    char *err = NULL;
    lsmedic_config_t *config = lsmedic_config_from_toml(config_toml, &err);
    CHECK_OK(err);
    lsmedic_t *db = lsmedic_open(dir, config, &err);
    CHECK_OK(err);
    CHECK(db != NULL);
    lsmedic_config_destroy(config);
    return db;
}

static inline void report(const char *name) {
    printf("%s: %d checks passed\n", name, check_count);
}

#endif
