/* Every error path of the C API: NULL, destroyed, foreign and wrong-kind handles; NULL
 * pointers with lengths; invalid UTF-8; bad configuration text, names, types and values;
 * RocksDB refusals (already open, missing, not a directory); unknown and default column
 * families; lifecycle calls from inside a healer callback; close with a live iterator.
 * Each must give an error message (never a crash, never UB: run under AddressSanitizer),
 * and every message and buffer must be freed (LeakSanitizer). */
#include "check.h"

#include <pthread.h>
#include <math.h>
#include <stdatomic.h>

static const char bad_utf8[] = {'a', (char)0xff, 'b', 0};

static void boundary(void) {
    char *err = NULL;
    lsmedic_free(NULL);
    /* NULL errptr: the error is dropped, nothing crashes. */
    CHECK(lsmedic_config_from_json("{", NULL) == NULL);
    /* A message already in *errptr is freed and replaced (LeakSanitizer checks the free). */
    CHECK(lsmedic_config_from_json("{", &err) == NULL);
    CHECK(err != NULL);
    CHECK(lsmedic_config_from_toml("= =", &err) == NULL);
    CHECK_ERR(err, "lsmedic_config_from_toml: cannot parse TOML configuration");
    /* Success leaves *errptr alone. */
    lsmedic_config_t *config = lsmedic_config_from_json("{}", &err);
    CHECK_OK(err);
    lsmedic_config_destroy(config);
}

static void configs(void) {
    char *err = NULL;
    CHECK(lsmedic_config_from_json(NULL, &err) == NULL);
    CHECK_ERR(err, "lsmedic_config_from_json: json is NULL");
    CHECK(lsmedic_config_from_json(bad_utf8, &err) == NULL);
    CHECK_ERR(err, "json is not valid UTF-8");
    CHECK(lsmedic_config_from_json("{\"engine\": {", &err) == NULL);
    CHECK_ERR(err, "cannot parse JSON configuration");
    CHECK(lsmedic_config_from_json("{\"engine\": {\"max_bg_jobs\": 1}}", &err) == NULL);
    CHECK_ERR(err, "unknown field `max_bg_jobs`");
    CHECK(lsmedic_config_from_json("{\"healer\": {\"mode\": \"loud\"}}", &err) == NULL);
    CHECK_ERR(err, "unknown variant `loud`");
    CHECK(lsmedic_config_from_toml(NULL, &err) == NULL);
    CHECK_ERR(err, "toml is NULL");
    CHECK(lsmedic_config_from_toml("[engine]\nmax_background_jobs = \"two\"\n", &err) == NULL);
    CHECK_ERR(err, "max_background_jobs");

    lsmedic_config_t *config = lsmedic_config_create();
    lsmedic_config_set(config, NULL, "1", &err);
    CHECK_ERR(err, "name is NULL");
    lsmedic_config_set(config, "engine.max_background_jobs", NULL, &err);
    CHECK_ERR(err, "value is NULL");
    lsmedic_config_set(config, bad_utf8, "1", &err);
    CHECK_ERR(err, "name is not valid UTF-8");
    lsmedic_config_set(config, "engine.max_background_jobs", bad_utf8, &err);
    CHECK_ERR(err, "value is not valid UTF-8");
    lsmedic_config_set(config, "engine.no_such_option", "1", &err);
    CHECK_ERR(err, "unknown field `no_such_option`");
    lsmedic_config_set(config, "engine.max_background_jobs", "\"many\"", &err);
    CHECK_ERR(err, "engine.max_background_jobs: invalid type");
    lsmedic_config_set(config, "engine.nowhere.deeper", "1", &err);
    CHECK_ERR(err, "no option \"nowhere\"");
    lsmedic_config_set(config, "", "1", &err);
    CHECK_ERR(err, "dotted option path");
    lsmedic_config_set_healer_mode(config, 7, &err);
    CHECK_ERR(err, "7 is not a healer mode");
    lsmedic_config_set_audit_path(config, bad_utf8, &err);
    CHECK_ERR(err, "path is not valid UTF-8");
    /* Nothing of the above changed the config. */
    char *json = lsmedic_config_to_json(config, &err);
    CHECK_OK(err);
    CHECK(strstr(json, "\"max_background_jobs\": 2") != NULL);
    lsmedic_free(json);

    /* Dead, NULL and wrong-kind handles. */
    lsmedic_config_destroy(config);
    lsmedic_config_destroy(config); /* ignored */
    lsmedic_config_destroy(NULL);   /* ignored */
    CHECK(lsmedic_config_to_json(config, &err) == NULL);
    CHECK_ERR(err, "config is not a live config handle");
    CHECK(lsmedic_config_to_json(NULL, &err) == NULL);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_config_set(config, "engine.max_background_jobs", "1", &err);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_config_set_create_if_missing(config, 1, &err);
    CHECK_ERR(err, "lsmedic_config_set_create_if_missing: config is not a live config handle");
    lsmedic_config_set_max_background_jobs(config, 1, &err);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_config_set_write_buffer_size(config, 1, &err);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_config_set_level0_triggers(config, 1, 2, 3, &err);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_config_set_healer_tick_interval_ms(config, 1, &err);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_config_set_audit_path(config, NULL, &err);
    CHECK_ERR(err, "not a live config handle");
    lsmedic_writebatch_t *batch = lsmedic_writebatch_create();
    CHECK(lsmedic_config_to_json((lsmedic_config_t *)batch, &err) == NULL);
    CHECK_ERR(err, "config is a write batch handle, not a config handle");
    lsmedic_config_destroy((lsmedic_config_t *)batch); /* wrong kind: ignored, batch lives */
    CHECK(lsmedic_writebatch_count(batch) == 0);
    lsmedic_writebatch_put(batch, NULL, "k", 1, "v", 1, &err);
    CHECK_OK(err);
    CHECK(lsmedic_writebatch_count(batch) == 1);
    lsmedic_writebatch_destroy(batch);
    /* A pointer that never was a handle. */
    int not_a_handle = 0;
    CHECK(lsmedic_config_to_json((lsmedic_config_t *)&not_a_handle, &err) == NULL);
    CHECK_ERR(err, "not a live config handle");
}

static void opening(const char *dir) {
    char *err = NULL;
    CHECK(lsmedic_open(NULL, NULL, &err) == NULL);
    CHECK_ERR(err, "lsmedic_open: path is NULL");
    CHECK(lsmedic_open("", NULL, &err) == NULL);
    CHECK_ERR(err, "path: is empty");
    CHECK(lsmedic_open(bad_utf8, NULL, &err) == NULL);
    CHECK_ERR(err, "path is not valid UTF-8");

    char file[256];
    snprintf(file, sizeof file, "%s/a-file", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fclose(f);
    CHECK(lsmedic_open(file, NULL, &err) == NULL);
    CHECK_ERR(err, "is not a directory");

    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    lsmedic_config_t *config = lsmedic_config_create();
    lsmedic_config_set_create_if_missing(config, 0, &err);
    CHECK_OK(err);
    CHECK(lsmedic_open(missing, config, &err) == NULL);
    CHECK_ERR(err, "cannot open database");
    lsmedic_config_set_create_if_missing(config, 1, &err);
    CHECK_OK(err);
    lsmedic_config_set_level0_triggers(config, 10, 5, 1, &err); /* set: fine; open: refused */
    CHECK_OK(err);
    CHECK(lsmedic_open(missing, config, &err) == NULL);
    CHECK_ERR(err, "level0");
    lsmedic_config_set_level0_triggers(config, 4, 20, 36, &err);
    CHECK_OK(err);
    lsmedic_config_set_healer_tick_interval_ms(config, 0, &err);
    CHECK_OK(err);
    CHECK(lsmedic_open(missing, config, &err) == NULL);
    CHECK_ERR(err, "tick_interval_ms");
    lsmedic_config_destroy(config);
    CHECK(lsmedic_open(missing, config, &err) == NULL); /* destroyed config */
    CHECK_ERR(err, "not a live config handle");
}

static atomic_int callback_runs;
static atomic_int lifecycle_refusals;
static lsmedic_t *callback_db;

/* Tries every lifecycle call from the healer thread: each must be refused, not deadlock. */
static void lifecycle_from_callback(void *user_data, const char *json, size_t len) {
    (void)user_data;
    (void)json;
    (void)len;
    char *err = NULL;
    int refused = 0;
    lsmedic_close(callback_db, &err);
    if (err && strstr(err, "inside a healer callback")) refused++;
    lsmedic_free(err);
    err = NULL;
    lsmedic_healer_stop(callback_db, &err);
    if (err && strstr(err, "inside a healer callback")) refused++;
    lsmedic_free(err);
    err = NULL;
    lsmedic_healer_start(callback_db, &err);
    if (err && strstr(err, "inside a healer callback")) refused++;
    lsmedic_free(err);
    err = NULL;
    lsmedic_healer_set_callback(callback_db, NULL, NULL, &err);
    if (err && strstr(err, "inside a healer callback")) refused++;
    lsmedic_free(err);
    atomic_store(&lifecycle_refusals, refused);
    atomic_fetch_add(&callback_runs, 1);
}

static void database_calls(const char *dir) {
    char *err = NULL;
    lsmedic_config_t *config = lsmedic_config_create();
    lsmedic_config_set_healer_tick_interval_ms(config, 20, &err);
    CHECK_OK(err);
    lsmedic_t *db = lsmedic_open(dir, config, &err);
    CHECK_OK(err);
    lsmedic_config_destroy(config);

    /* Already open (RocksDB's LOCK). */
    CHECK(lsmedic_open(dir, NULL, &err) == NULL);
    CHECK_ERR(err, "already open");

    /* Column families. */
    lsmedic_create_column_family(db, NULL, NULL, &err);
    CHECK_ERR(err, "name is NULL");
    lsmedic_create_column_family(db, bad_utf8, NULL, &err);
    CHECK_ERR(err, "name is not valid UTF-8");
    lsmedic_create_column_family(db, "", NULL, &err);
    CHECK_ERR(err, "column_family.name");
    lsmedic_create_column_family(db, "default", NULL, &err);
    CHECK_ERR(err, "already exists");
    lsmedic_create_column_family(db, "x", "{\"write_buffer_size\": ", &err);
    CHECK_ERR(err, "options_json");
    lsmedic_create_column_family(db, "x", "{\"write_buffer_sz\": 1}", &err);
    CHECK_ERR(err, "unknown field `write_buffer_sz`");
    lsmedic_create_column_family(db, "x", "{\"level0_slowdown_writes_trigger\": 1}", &err);
    CHECK_ERR(err, "invalid option");
    lsmedic_create_column_family(db, "x", NULL, &err);
    CHECK_OK(err);
    lsmedic_drop_column_family(db, "default", &err);
    CHECK_ERR(err, "cannot be dropped");
    lsmedic_drop_column_family(db, "nope", &err);
    CHECK_ERR(err, "unknown column family \"nope\"");
    lsmedic_drop_column_family(db, NULL, &err);
    CHECK_ERR(err, "name is NULL");

    /* Point operations. */
    lsmedic_put(db, "nope", "k", 1, "v", 1, &err);
    CHECK_ERR(err, "lsmedic_put: unknown column family \"nope\"");
    lsmedic_put(db, bad_utf8, "k", 1, "v", 1, &err);
    CHECK_ERR(err, "column_family is not valid UTF-8");
    lsmedic_put(db, NULL, NULL, 1, "v", 1, &err);
    CHECK_ERR(err, "key is NULL");
    lsmedic_put(db, NULL, "k", 1, NULL, 1, &err);
    CHECK_ERR(err, "value is NULL");
    size_t len = 5;
    CHECK(lsmedic_get(db, "nope", "k", 1, &len, &err) == NULL);
    CHECK(len == 0);
    CHECK_ERR(err, "lsmedic_get: unknown column family");
    CHECK(lsmedic_get(db, NULL, NULL, 3, NULL, &err) == NULL);
    CHECK_ERR(err, "key is NULL");
    lsmedic_delete(db, "nope", "k", 1, &err);
    CHECK_ERR(err, "lsmedic_delete: unknown column family");
    lsmedic_delete(db, NULL, NULL, 2, &err);
    CHECK_ERR(err, "key is NULL");
    lsmedic_delete_range(db, "nope", "a", 1, "b", 1, &err);
    CHECK_ERR(err, "unknown column family");
    lsmedic_delete_range(db, NULL, NULL, 1, "b", 1, &err);
    CHECK_ERR(err, "start is NULL");
    /* A reversed range is refused, and the database still takes writes afterwards. */
    lsmedic_delete_range(db, NULL, "z", 1, "a", 1, &err);
    CHECK_ERR(err, "sorts after end key");
    lsmedic_put(db, NULL, "after-reversed", 14, "ok", 2, &err);
    CHECK_OK(err);
    lsmedic_delete(db, NULL, "after-reversed", 14, &err);
    CHECK_OK(err);
    lsmedic_flush(db, "nope", &err);
    CHECK_ERR(err, "lsmedic_flush: unknown column family");
    lsmedic_compact_range(db, "nope", NULL, 0, NULL, 0, &err);
    CHECK_ERR(err, "lsmedic_compact_range: unknown column family");

    /* Batches: an unknown column family refuses the whole batch. */
    lsmedic_writebatch_t *batch = lsmedic_writebatch_create();
    lsmedic_writebatch_put(batch, NULL, "applied?", 8, "no", 2, &err);
    CHECK_OK(err);
    lsmedic_writebatch_put(batch, "nope", "k", 1, "v", 1, &err);
    CHECK_OK(err); /* names are checked when written */
    lsmedic_write(db, batch, 0, &err);
    CHECK_ERR(err, "lsmedic_write: unknown column family \"nope\"");
    CHECK(lsmedic_get(db, NULL, "applied?", 8, NULL, &err) == NULL);
    CHECK_OK(err);
    lsmedic_writebatch_put(batch, NULL, NULL, 1, "v", 1, &err);
    CHECK_ERR(err, "key is NULL");
    lsmedic_writebatch_delete(batch, bad_utf8, "k", 1, &err);
    CHECK_ERR(err, "not valid UTF-8");
    lsmedic_writebatch_delete_range(batch, NULL, "a", 1, NULL, 1, &err);
    CHECK_ERR(err, "end is NULL");
    lsmedic_writebatch_delete_range(batch, NULL, "z", 1, "a", 1, &err);
    CHECK_ERR(err, "sorts after end key");
    lsmedic_write(db, NULL, 0, &err);
    CHECK_ERR(err, "batch is not a live write batch handle");
    lsmedic_write(NULL, batch, 0, &err);
    CHECK_ERR(err, "db is not a live database handle");
    lsmedic_write(db, (lsmedic_writebatch_t *)db, 0, &err);
    CHECK_ERR(err, "batch is a database handle, not a write batch handle");
    lsmedic_writebatch_destroy(batch);
    lsmedic_writebatch_put(batch, NULL, "k", 1, "v", 1, &err);
    CHECK_ERR(err, "not a live write batch handle");
    lsmedic_writebatch_delete(NULL, NULL, "k", 1, &err);
    CHECK_ERR(err, "not a live write batch handle");
    lsmedic_writebatch_delete_range(NULL, NULL, "a", 1, "b", 1, &err);
    CHECK_ERR(err, "not a live write batch handle");
    CHECK(lsmedic_writebatch_count(batch) == 0);
    lsmedic_writebatch_clear(batch);   /* ignored */
    lsmedic_writebatch_destroy(batch); /* ignored */
    lsmedic_writebatch_destroy(NULL);  /* ignored */

    /* Iterators. */
    CHECK(lsmedic_create_iterator(db, "nope", NULL, 0, NULL, 0, 0, &err) == NULL);
    CHECK_ERR(err, "lsmedic_create_iterator: unknown column family");
    CHECK(lsmedic_create_iterator(NULL, NULL, NULL, 0, NULL, 0, 0, &err) == NULL);
    CHECK_ERR(err, "db is not a live database handle");
    lsmedic_put(db, NULL, "a", 1, "1", 1, &err);
    CHECK_OK(err);
    lsmedic_iterator_t *it = lsmedic_create_iterator(db, NULL, NULL, 0, NULL, 0, 0, &err);
    CHECK_OK(err);
    lsmedic_iter_seek(it, NULL, 4);
    CHECK(!lsmedic_iter_valid(it));
    lsmedic_iter_get_error(it, &err);
    CHECK_ERR(err, "lsmedic_iter_seek: key is NULL");
    lsmedic_iter_seek_to_first(it);
    CHECK(lsmedic_iter_valid(it));
    lsmedic_iter_next(it);
    CHECK(!lsmedic_iter_valid(it));
    lsmedic_iter_next(it); /* past the end: nothing happens */
    CHECK(!lsmedic_iter_valid(it));
    size_t klen = 3;
    CHECK(lsmedic_iter_value(it, &klen) == NULL && klen == 0);
    lsmedic_iter_destroy(it);
    /* Dead, NULL and wrong-kind iterators: inert, and get_error says why. */
    lsmedic_iter_seek_to_first(it);
    lsmedic_iter_seek(it, "a", 1);
    lsmedic_iter_next(it);
    CHECK(!lsmedic_iter_valid(it));
    CHECK(lsmedic_iter_key(it, &klen) == NULL && klen == 0);
    CHECK(lsmedic_iter_value(NULL, NULL) == NULL);
    lsmedic_iter_get_error(it, &err);
    CHECK_ERR(err, "iter is not a live iterator handle");
    lsmedic_iter_get_error((lsmedic_iterator_t *)db, &err);
    CHECK_ERR(err, "iter is a database handle, not an iterator handle");
    lsmedic_iter_destroy(it);
    lsmedic_iter_destroy(NULL);

    /* Column-family list on bad handles. */
    size_t count = 9;
    CHECK(lsmedic_list_column_families(NULL, &count, &err) == NULL);
    CHECK(count == 0);
    CHECK_ERR(err, "not a live database handle");

    /* Healer steering. */
    lsmedic_healer_set_mode(db, 3, &err);
    CHECK_ERR(err, "3 is not a healer mode");
    lsmedic_healer_set_mode(db, -1, &err);
    CHECK_ERR(err, "not a healer mode");
    lsmedic_healer_set_weights(db, 1.0, -1.0, 0.0, &err);
    CHECK_ERR(err, "weights.throughput");
    lsmedic_healer_set_weights(db, 0.0, 0.0, 0.0, &err);
    CHECK_ERR(err, "weights");
    lsmedic_healer_set_weights(db, NAN, 1.0, 1.0, &err);
    CHECK_ERR(err, "weights.latency");
    lsmedic_healer_start(db, &err);
    CHECK_ERR(err, "already running");

    /* Lifecycle calls from inside the callback are refused (the mode change below appends a
     * config entry on the next tick, which calls the callback). */
    callback_db = db;
    lsmedic_healer_set_callback(db, lifecycle_from_callback, NULL, &err);
    CHECK_OK(err);
    lsmedic_healer_set_mode(db, LSMEDIC_HEALER_MODE_ADVISORY, &err);
    CHECK_OK(err);
    for (int i = 0; i < 500 && atomic_load(&callback_runs) == 0; i++) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(atomic_load(&callback_runs) > 0);
    CHECK(atomic_load(&lifecycle_refusals) == 4);
    lsmedic_healer_set_callback(db, NULL, NULL, &err);
    CHECK_OK(err);
    CHECK(lsmedic_healer_is_running(db, &err) == 1); /* the refused stop did nothing */

    lsmedic_healer_stop(db, &err);
    CHECK_OK(err);
    lsmedic_healer_adapt_now(db, &err);
    CHECK_ERR(err, "the healer is stopped");
    lsmedic_healer_start(db, &err);
    CHECK_OK(err);

    /* Close with a live iterator: reported; the iterator still reads; RocksDB closes when it
     * is destroyed, and the path can be opened again. */
    it = lsmedic_create_iterator(db, NULL, NULL, 0, NULL, 0, 0, &err);
    CHECK_OK(err);
    lsmedic_close(db, &err);
    CHECK_ERR(err, "still use the database");
    lsmedic_iter_seek_to_first(it);
    CHECK(lsmedic_iter_valid(it));
    CHECK(lsmedic_open(dir, NULL, &err) == NULL);
    CHECK_ERR(err, "already open");
    lsmedic_iter_destroy(it);
    db = lsmedic_open(dir, NULL, &err);
    CHECK_OK(err);

    lsmedic_close(db, &err);
    CHECK_OK(err);
    /* Every database call on a closed handle. */
    lsmedic_close(db, &err);
    CHECK_ERR(err, "lsmedic_close: db is not a live database handle");
    lsmedic_close(NULL, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_create_column_family(db, "y", NULL, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_drop_column_family(db, "x", &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_put(db, NULL, "k", 1, "v", 1, &err);
    CHECK_ERR(err, "not a live database handle");
    CHECK(lsmedic_get(db, NULL, "k", 1, NULL, &err) == NULL);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_delete(db, NULL, "k", 1, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_delete_range(db, NULL, "a", 1, "b", 1, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_flush(db, NULL, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_compact_range(db, NULL, NULL, 0, NULL, 0, &err);
    CHECK_ERR(err, "not a live database handle");
    CHECK(lsmedic_healer_is_running(db, &err) == 0);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_start(db, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_stop(db, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_set_mode(db, LSMEDIC_HEALER_MODE_OFF, &err);
    CHECK_ERR(err, "not a live database handle");
    CHECK(lsmedic_healer_get_mode(db, &err) == -1);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_set_weights(db, 1, 1, 1, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_get_weights(db, NULL, NULL, NULL, &err);
    CHECK_ERR(err, "not a live database handle");
    CHECK(lsmedic_healer_stats(db, &err) == NULL);
    CHECK_ERR(err, "not a live database handle");
    CHECK(lsmedic_healer_audit(db, 10, &err) == NULL);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_adapt_now(db, &err);
    CHECK_ERR(err, "not a live database handle");
    lsmedic_healer_set_callback(db, NULL, NULL, &err);
    CHECK_ERR(err, "not a live database handle");
}

int main(void) {
    char *dir = make_temp_dir();
    boundary();
    configs();
    opening(dir);
    char db_dir[256];
    snprintf(db_dir, sizeof db_dir, "%s/db", dir);
    database_calls(db_dir);
    CHECK(lsmedic_live_handles() == 0);
    remove_dir(dir);
    report("errors");
    return 0;
}
