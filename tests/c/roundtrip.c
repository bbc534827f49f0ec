/* A full round trip through the C API: configuration (TOML, JSON, setters), open, column
 * families, point writes and reads, write batches, iterators (forward, reverse, bounded,
 * seek), flush and compaction, healer steering (mode, weights, stats, audit, adapt, stop,
 * start), close, reopen with the data still there, and no handle or buffer left behind. */
#include "check.h"

static void check_value(lsmedic_t *db, const char *cf, const char *key, const char *expected) {
    char *err = NULL;
    size_t len = 12345;
    char *value = lsmedic_get(db, cf, key, strlen(key), &len, &err);
    CHECK_OK(err);
    if (expected == NULL) {
        CHECK(value == NULL);
        CHECK(len == 0);
    } else {
        CHECK(value != NULL);
        CHECK(len == strlen(expected));
        CHECK(memcmp(value, expected, len) == 0);
        CHECK(value[len] == '\0'); /* NUL-terminated for convenience */
    }
    lsmedic_free(value);
}

/* Collects "key=value," for every entry from the current position on. */
static void collect(lsmedic_iterator_t *it, char *out, size_t cap) {
    out[0] = '\0';
    for (; lsmedic_iter_valid(it); lsmedic_iter_next(it)) {
        size_t klen = 0, vlen = 0;
        const char *k = lsmedic_iter_key(it, &klen);
        const char *v = lsmedic_iter_value(it, &vlen);
        CHECK(k != NULL && v != NULL);
        size_t used = strlen(out);
        CHECK(used + klen + vlen + 3 < cap);
        memcpy(out + used, k, klen);
        out[used + klen] = '=';
        memcpy(out + used + klen + 1, v, vlen);
        out[used + klen + 1 + vlen] = ',';
        out[used + klen + 2 + vlen] = '\0';
    }
    char *err = NULL;
    lsmedic_iter_get_error(it, &err);
    CHECK_OK(err);
}

static void configs(void) {
    char *err = NULL;
    lsmedic_config_t *toml = lsmedic_config_from_toml(
        "[engine]\nmax_background_jobs = 3\n[engine.cf_options]\ncompression = \"lz4\"\n"
        "[healer]\nmode = \"advisory\"\ntick_interval_ms = 50\n",
        &err);
    CHECK_OK(err);
    CHECK(toml != NULL);
    char *json = lsmedic_config_to_json(toml, &err);
    CHECK_OK(err);
    CHECK(strstr(json, "\"max_background_jobs\": 3") != NULL);
    CHECK(strstr(json, "\"mode\": \"advisory\"") != NULL);
    CHECK(strstr(json, "\"compression\": \"lz4\"") != NULL);

    /* What to_json prints, from_json reads back. */
    lsmedic_config_t *again = lsmedic_config_from_json(json, &err);
    CHECK_OK(err);
    lsmedic_free(json);
    lsmedic_config_set(again, "engine.max_background_jobs", "5", &err);
    CHECK_OK(err);
    lsmedic_config_set(again, "healer.weights", "{\"latency\": 2, \"throughput\": 1, \"resources\": 1}", &err);
    CHECK_OK(err);
    json = lsmedic_config_to_json(again, &err);
    CHECK_OK(err);
    CHECK(strstr(json, "\"max_background_jobs\": 5") != NULL);
    CHECK(strstr(json, "\"latency\": 2.0") != NULL);
    lsmedic_free(json);
    lsmedic_config_destroy(again);
    lsmedic_config_destroy(toml);
}

static void data_and_column_families(lsmedic_t *db) {
    char *err = NULL;
    lsmedic_create_column_family(db, "users", NULL, &err);
    CHECK_OK(err);
    lsmedic_create_column_family(db, "events", "{\"write_buffer_size\": 1048576}", &err);
    CHECK_OK(err);
    lsmedic_create_column_family(db, "scratch", NULL, &err);
    CHECK_OK(err);
    lsmedic_drop_column_family(db, "scratch", &err);
    CHECK_OK(err);

    size_t count = 0;
    char **names = lsmedic_list_column_families(db, &count, &err);
    CHECK_OK(err);
    CHECK(count == 3);
    CHECK(strcmp(names[0], "default") == 0);
    CHECK(strcmp(names[1], "users") == 0);
    CHECK(strcmp(names[2], "events") == 0);
    CHECK(names[3] == NULL);
    lsmedic_free(names); /* one allocation: array and strings */

    lsmedic_put(db, "users", "alice", 5, "42", 2, &err);
    CHECK_OK(err);
    lsmedic_put(db, NULL, "k", 1, "in default", 10, &err); /* NULL = "default" */
    CHECK_OK(err);
    lsmedic_put(db, "users", "empty", 5, NULL, 0, &err); /* empty value, NULL allowed */
    CHECK_OK(err);
    const char binary_key[] = {'b', 0, 'k'};
    const char binary_value[] = {0, 1, 2, 0};
    lsmedic_put(db, "users", binary_key, sizeof binary_key, binary_value, sizeof binary_value, &err);
    CHECK_OK(err);

    check_value(db, "users", "alice", "42");
    check_value(db, "default", "k", "in default");
    check_value(db, "users", "k", NULL); /* column families are separate */
    check_value(db, "users", "missing", NULL);
    size_t len = 99;
    char *value = lsmedic_get(db, "users", "empty", 5, &len, &err);
    CHECK_OK(err);
    CHECK(value != NULL && len == 0); /* present but empty: not NULL */
    lsmedic_free(value);
    value = lsmedic_get(db, "users", binary_key, sizeof binary_key, &len, &err);
    CHECK_OK(err);
    CHECK(len == sizeof binary_value && memcmp(value, binary_value, len) == 0);
    lsmedic_free(value);

    lsmedic_delete(db, "users", "empty", 5, &err);
    CHECK_OK(err);
    check_value(db, "users", "empty", NULL);
    lsmedic_delete(db, "users", "never-there", 11, &err);
    CHECK_OK(err);

    /* Batches: atomic across column families, reusable. */
    lsmedic_writebatch_t *batch = lsmedic_writebatch_create();
    CHECK(batch != NULL);
    lsmedic_writebatch_put(batch, "users", "bob", 3, "7", 1, &err);
    CHECK_OK(err);
    lsmedic_writebatch_put(batch, "events", "e1", 2, "login", 5, &err);
    CHECK_OK(err);
    lsmedic_writebatch_delete(batch, "users", "alice", 5, &err);
    CHECK_OK(err);
    CHECK(lsmedic_writebatch_count(batch) == 3);
    lsmedic_write(db, batch, 1 /* sync */, &err);
    CHECK_OK(err);
    check_value(db, "users", "bob", "7");
    check_value(db, "events", "e1", "login");
    check_value(db, "users", "alice", NULL);
    lsmedic_writebatch_clear(batch);
    CHECK(lsmedic_writebatch_count(batch) == 0);
    for (int i = 0; i < 10; i++) {
        char key[8];
        snprintf(key, sizeof key, "n%d", i);
        lsmedic_writebatch_put(batch, "events", key, strlen(key), "x", 1, &err);
        CHECK_OK(err);
    }
    lsmedic_writebatch_delete_range(batch, "events", "n3", 2, "n6", 2, &err);
    CHECK_OK(err);
    lsmedic_write(db, batch, 0, &err);
    CHECK_OK(err);
    lsmedic_writebatch_destroy(batch);
    check_value(db, "events", "n2", "x");
    check_value(db, "events", "n4", NULL);
    check_value(db, "events", "n6", "x");
    lsmedic_delete_range(db, "events", "n8", 2, "n9~", 3, &err);
    CHECK_OK(err);
    check_value(db, "events", "n8", NULL);
    check_value(db, "events", "n9", NULL);

    /* Iterators. */
    char seen[512];
    lsmedic_iterator_t *it = lsmedic_create_iterator(db, "events", NULL, 0, NULL, 0, 0, &err);
    CHECK_OK(err);
    CHECK(!lsmedic_iter_valid(it)); /* unpositioned until a seek */
    lsmedic_iter_seek_to_first(it);
    collect(it, seen, sizeof seen);
    CHECK(strcmp(seen, "e1=login,n0=x,n1=x,n2=x,n6=x,n7=x,") == 0);
    CHECK(!lsmedic_iter_valid(it));
    size_t klen = 7;
    CHECK(lsmedic_iter_key(it, &klen) == NULL && klen == 0);
    lsmedic_iter_seek(it, "n1", 2);
    collect(it, seen, sizeof seen);
    CHECK(strcmp(seen, "n1=x,n2=x,n6=x,n7=x,") == 0);
    lsmedic_iter_seek_to_first(it); /* again, same snapshot */
    CHECK(lsmedic_iter_valid(it));
    lsmedic_iter_destroy(it);

    it = lsmedic_create_iterator(db, "events", "n1", 2, "n7", 2, 1 /* reverse */, &err);
    CHECK_OK(err);
    lsmedic_iter_seek_to_first(it);
    collect(it, seen, sizeof seen);
    CHECK(strcmp(seen, "n6=x,n2=x,n1=x,") == 0);
    lsmedic_iter_seek(it, "n5", 2); /* reverse: last key <= n5 */
    collect(it, seen, sizeof seen);
    CHECK(strcmp(seen, "n2=x,n1=x,") == 0);
    lsmedic_iter_destroy(it);

    /* An empty key with an empty value: valid (non-NULL) pointers of length 0. */
    lsmedic_put(db, "users", "", 0, "", 0, &err);
    CHECK_OK(err);
    it = lsmedic_create_iterator(db, "users", NULL, 0, "a", 1, 0, &err);
    CHECK_OK(err);
    lsmedic_iter_seek_to_first(it);
    CHECK(lsmedic_iter_valid(it));
    size_t vlen = 7;
    klen = 7;
    CHECK(lsmedic_iter_key(it, &klen) != NULL && klen == 0);
    CHECK(lsmedic_iter_value(it, &vlen) != NULL && vlen == 0);
    lsmedic_iter_next(it);
    CHECK(!lsmedic_iter_valid(it));
    lsmedic_iter_destroy(it);
    lsmedic_delete(db, "users", NULL, 0, &err);
    CHECK_OK(err);

    /* Maintenance. */
    lsmedic_flush(db, "events", &err);
    CHECK_OK(err);
    lsmedic_flush(db, NULL, &err);
    CHECK_OK(err);
    lsmedic_compact_range(db, "events", NULL, 0, NULL, 0, &err);
    CHECK_OK(err);
    lsmedic_compact_range(db, "users", "a", 1, "z", 1, &err);
    CHECK_OK(err);
    check_value(db, "events", "n7", "x");
}

static void healer(lsmedic_t *db) {
    char *err = NULL;
    CHECK(lsmedic_healer_is_running(db, &err) == 1);
    CHECK_OK(err);
    CHECK(lsmedic_healer_get_mode(db, &err) == LSMEDIC_HEALER_MODE_ACTIVE);
    lsmedic_healer_set_mode(db, LSMEDIC_HEALER_MODE_ADVISORY, &err);
    CHECK_OK(err);
    CHECK(lsmedic_healer_get_mode(db, &err) == LSMEDIC_HEALER_MODE_ADVISORY);

    lsmedic_healer_set_weights(db, 2.0, 1.0, 1.0, &err);
    CHECK_OK(err);
    double latency = 0, throughput = 0, resources = 0;
    lsmedic_healer_get_weights(db, &latency, &throughput, &resources, &err);
    CHECK_OK(err);
    CHECK(latency > 0.499 && latency < 0.501);
    CHECK(throughput > 0.249 && throughput < 0.251);
    CHECK(resources > 0.249 && resources < 0.251);

    lsmedic_healer_adapt_now(db, &err);
    CHECK_OK(err);

    /* Steering takes effect at the next tick (every 50 ms here): wait for the audit entry of
     * the adapt_now request, the last change made. */
    char *audit = NULL;
    for (int i = 0; i < 500; i++) {
        audit = lsmedic_healer_audit(db, 100, &err);
        CHECK_OK(err);
        if (strstr(audit, "adapt_now requested") != NULL) break;
        lsmedic_free(audit);
        audit = NULL;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(audit != NULL);
    /* Audit: JSON lines, oldest first: the start, the mode and weight changes, adapt_now. */
    CHECK(strstr(audit, "\"seq\":1,") == audit + 1);
    CHECK(strstr(audit, "healer started") != NULL);
    CHECK(strstr(audit, "mode active -> advisory") != NULL);
    CHECK(strstr(audit, "weights (latency, throughput, resources)") != NULL);
    CHECK(audit[strlen(audit) - 1] == '\n');
    lsmedic_free(audit);

    /* The healer ticks on its own thread: wait (up to 5 s) for its first tick. */
    char *stats = NULL;
    const char *ticks = NULL;
    for (int i = 0; i < 500; i++) {
        stats = lsmedic_healer_stats(db, &err);
        CHECK_OK(err);
        ticks = strstr(stats, "\"ticks\":");
        if (ticks != NULL && atoi(ticks + 8) >= 1) break;
        lsmedic_free(stats);
        stats = NULL;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(stats != NULL);
    CHECK(ticks != NULL && atoi(ticks + 8) >= 1);
    CHECK(strstr(stats, "\"running\":true") != NULL);
    CHECK(strstr(stats, "\"mode\":\"advisory\"") != NULL);
    CHECK(strstr(stats, "\"policy\":\"rules\"") != NULL);
    CHECK(strstr(stats, "\"column_families\":3") != NULL);
    lsmedic_free(stats);

    audit = lsmedic_healer_audit(db, 1, &err);
    CHECK_OK(err);
    CHECK(strchr(audit, '\n') == audit + strlen(audit) - 1); /* exactly one line */
    lsmedic_free(audit);
    audit = lsmedic_healer_audit(db, 0, &err);
    CHECK_OK(err);
    CHECK(audit != NULL && audit[0] == '\0');
    lsmedic_free(audit);

    /* Stop and start: data calls work while stopped; mode and weights carry over. */
    lsmedic_healer_stop(db, &err);
    CHECK_OK(err);
    CHECK(lsmedic_healer_is_running(db, &err) == 0);
    lsmedic_healer_stop(db, &err); /* idempotent */
    CHECK_OK(err);
    lsmedic_put(db, "users", "while-stopped", 13, "1", 1, &err);
    CHECK_OK(err);
    stats = lsmedic_healer_stats(db, &err);
    CHECK_OK(err);
    CHECK(strstr(stats, "\"running\":false") != NULL);
    lsmedic_free(stats);
    lsmedic_healer_set_mode(db, LSMEDIC_HEALER_MODE_OFF, &err); /* for the next start */
    CHECK_OK(err);
    lsmedic_healer_start(db, &err);
    CHECK_OK(err);
    CHECK(lsmedic_healer_is_running(db, &err) == 1);
    CHECK(lsmedic_healer_get_mode(db, &err) == LSMEDIC_HEALER_MODE_OFF);
    lsmedic_healer_get_weights(db, &latency, NULL, NULL, &err);
    CHECK_OK(err);
    CHECK(latency > 0.499 && latency < 0.501);
}

int main(void) {
    char *err = NULL;
    char *dir = make_temp_dir();
    configs();

    lsmedic_config_t *config = lsmedic_config_create();
    CHECK(config != NULL);
    lsmedic_config_set_healer_tick_interval_ms(config, 50, &err);
    CHECK_OK(err);
    lsmedic_config_set_max_background_jobs(config, 2, &err);
    CHECK_OK(err);
    lsmedic_config_set_create_if_missing(config, 1, &err);
    CHECK_OK(err);
    lsmedic_t *db = lsmedic_open(dir, config, &err);
    CHECK_OK(err);
    CHECK(db != NULL);
    lsmedic_config_destroy(config); /* the database keeps its own copy */

    data_and_column_families(db);
    healer(db);
    lsmedic_close(db, &err);
    CHECK_OK(err);

    /* Reopen: column families and data are back. */
    db = lsmedic_open(dir, NULL, &err);
    CHECK_OK(err);
    size_t count = 0;
    char **names = lsmedic_list_column_families(db, &count, &err);
    CHECK_OK(err);
    CHECK(count == 3);
    lsmedic_free(names);
    check_value(db, "users", "bob", "7");
    check_value(db, "users", "while-stopped", "1");
    check_value(db, "events", "e1", "login");
    lsmedic_close(db, &err);
    CHECK_OK(err);

    CHECK(lsmedic_live_handles() == 0);
    remove_dir(dir);
    report("roundtrip");
    return 0;
}
