/* The healer acting on a small write burst, seen from C: tiny memtables, low L0 triggers and
 * one background job make RocksDB stall under three writer threads within a second or two;
 * the rule healer must apply an action, and the registered callback must hear of it on the
 * healer thread. Removing the callback must stop the calls. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int entries_seen;
static atomic_int decisions_applied;
static atomic_int calls_off_healer_thread;
static atomic_int stats_from_callback_ok;
static atomic_int stop_writers;
static lsmedic_t *shared_db;

static void on_entry(void *user_data, const char *json, size_t len) {
    CHECK(user_data == &entries_seen);
    CHECK(json != NULL && strlen(json) == len && json[0] == '{' && json[len - 1] == '}');
    char name[32] = {0};
    pthread_getname_np(pthread_self(), name, sizeof name);
    if (strcmp(name, "lsmedic-healer") != 0) atomic_fetch_add(&calls_off_healer_thread, 1);
    if (strstr(json, "\"type\":\"decision\"") && strstr(json, "\"verdict\":\"applied\"")) {
        if (atomic_fetch_add(&decisions_applied, 1) == 0) {
            printf("healer_burst: first applied decision: %.600s\n", json);
        }
        /* Steering and reading calls are allowed from inside the callback. */
        char *err = NULL;
        char *stats = lsmedic_healer_stats(shared_db, &err);
        if (err == NULL && stats != NULL) atomic_store(&stats_from_callback_ok, 1);
        lsmedic_free(stats);
        lsmedic_free(err);
    }
    atomic_fetch_add((atomic_int *)user_data, 1);
}

static void *writer(void *arg) {
    long id = (long)arg;
    char value[1000];
    unsigned state = (unsigned)id * 2654435761u + 1;
    for (size_t i = 0; i < sizeof value; i++) {
        state = state * 1103515245u + 12345u; /* incompressible-ish values */
        value[i] = (char)(state >> 16);
    }
    char key[32];
    for (long i = 0; !atomic_load(&stop_writers); i++) {
        int klen = snprintf(key, sizeof key, "%02ld-%012ld", id, i);
        char *err = NULL;
        lsmedic_put(shared_db, NULL, key, (size_t)klen, value, sizeof value, &err);
        CHECK_OK(err);
    }
    return NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void) {
    char *err = NULL;
    char *dir = make_temp_dir();
    lsmedic_config_t *config = lsmedic_config_create();
    lsmedic_config_set_max_background_jobs(config, 1, &err);
    CHECK_OK(err);
    lsmedic_config_set_write_buffer_size(config, 256 * 1024, &err);
    CHECK_OK(err);
    lsmedic_config_set_level0_triggers(config, 2, 4, 8, &err);
    CHECK_OK(err);
    const char *options[][2] = {
        {"engine.cf_options.max_write_buffer_number", "3"},
        {"engine.cf_options.target_file_size_base", "262144"},
        {"engine.cf_options.max_bytes_for_level_base", "1048576"},
        {"engine.cf_options.compression", "none"},
        {"healer.mode", "active"},
    };
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        lsmedic_config_set(config, options[i][0], options[i][1], &err);
        CHECK_OK(err);
    }
    shared_db = lsmedic_open(dir, config, &err);
    CHECK_OK(err);
    lsmedic_config_destroy(config);
    lsmedic_healer_set_callback(shared_db, on_entry, &entries_seen, &err);
    CHECK_OK(err);

    double start = now_s();
    pthread_t writers[3];
    for (long t = 0; t < 3; t++) CHECK(pthread_create(&writers[t], NULL, writer, (void *)t) == 0);
    /* Write until the healer has applied something (a few seconds at most), then 0.5 s more. */
    while (atomic_load(&decisions_applied) == 0 && now_s() - start < 20.0) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    double acted_after = now_s() - start;
    struct timespec settle = {0, 500 * 1000 * 1000};
    nanosleep(&settle, NULL);
    atomic_store(&stop_writers, 1);
    for (int t = 0; t < 3; t++) CHECK(pthread_join(writers[t], NULL) == 0);
    printf("healer_burst: first applied action seen by the callback after %.2f s\n", acted_after);

    CHECK(atomic_load(&decisions_applied) > 0);
    CHECK(atomic_load(&calls_off_healer_thread) == 0);
    CHECK(atomic_load(&stats_from_callback_ok) == 1);

    /* The audit log says the same, and the statistics count the applied actions. */
    char *audit = lsmedic_healer_audit(shared_db, 100000, &err);
    CHECK_OK(err);
    CHECK(strstr(audit, "\"verdict\":\"applied\"") != NULL);
    lsmedic_free(audit);
    char *stats = lsmedic_healer_stats(shared_db, &err);
    CHECK_OK(err);
    CHECK(strstr(stats, "\"applied\":") != NULL);
    CHECK(strstr(stats, "\"errors\":0") != NULL);
    printf("healer_burst: stats %.300s...\n", stats);
    lsmedic_free(stats);

    /* After removal no call arrives, even for the entries the mode change and stop append. */
    lsmedic_healer_set_callback(shared_db, NULL, NULL, &err);
    CHECK_OK(err);
    int before = atomic_load(&entries_seen);
    lsmedic_healer_set_mode(shared_db, LSMEDIC_HEALER_MODE_ADVISORY, &err);
    CHECK_OK(err);
    lsmedic_healer_stop(shared_db, &err);
    CHECK_OK(err);
    CHECK(atomic_load(&entries_seen) == before);

    lsmedic_close(shared_db, &err);
    CHECK_OK(err);
    CHECK(lsmedic_live_handles() == 0);
    remove_dir(dir);
    report("healer_burst");
    return 0;
}
