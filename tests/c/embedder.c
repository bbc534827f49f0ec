/* What an embedding database uses besides reads and writes: lsmedic_multi_get (present and
 * absent keys, an empty call, bad arguments), lsmedic_property_value (a known property, an
 * unknown one), lsmedic_statistics (JSON naming every column family), lsmedic_set_option
 * (a column-family option, a DB-wide one, refusals naming the problem) and
 * lsmedic_checkpoint_create (the copy opens and holds the data). */
#include "check.h" /* first: it defines _GNU_SOURCE */

#define N 100

static const char *CONFIG = "[healer]\nmode = \"off\"\n";

static lsmedic_t *open_db(const char *dir) { return open_with_toml(dir, CONFIG); }

static void test_multi_get(lsmedic_t *db) {
    char *err = NULL;
    char keys_storage[4][16];
    const char *keys[4];
    size_t key_lens[4];
    /* key1, key2 present; absent; key7 present. */
    const unsigned which[4] = {1, 2, 1000, 7};
    for (int i = 0; i < 4; i++) {
        key_lens[i] = (size_t)snprintf(keys_storage[i], sizeof keys_storage[i], "key%u", which[i]);
        keys[i] = keys_storage[i];
    }
    char *values[4];
    size_t value_lens[4];
    lsmedic_multi_get(db, "data", 4, keys, key_lens, values, value_lens, &err);
    CHECK_OK(err);
    for (int i = 0; i < 4; i++) {
        if (which[i] < N) {
            char expected[32];
            int len = snprintf(expected, sizeof expected, "value%u", which[i]);
            CHECK(values[i] != NULL && value_lens[i] == (size_t)len);
            CHECK(memcmp(values[i], expected, value_lens[i]) == 0);
            CHECK(values[i][value_lens[i]] == '\0');
            lsmedic_free(values[i]);
        } else {
            CHECK(values[i] == NULL && value_lens[i] == 0);
        }
    }
    /* No keys: nothing to read, NULL arrays allowed. */
    lsmedic_multi_get(db, "data", 0, NULL, NULL, NULL, NULL, &err);
    CHECK_OK(err);
    /* Bad arguments: outputs NULLed, the error names the problem. */
    lsmedic_multi_get(db, "data", 4, keys, key_lens, NULL, value_lens, &err);
    CHECK_ERR(err, "values or value_lens");
    lsmedic_multi_get(db, "data", 4, NULL, key_lens, values, value_lens, &err);
    CHECK_ERR(err, "keys or key_lens");
    for (int i = 0; i < 4; i++) CHECK(values[i] == NULL && value_lens[i] == 0);
    lsmedic_multi_get(db, "nope", 4, keys, key_lens, values, value_lens, &err);
    CHECK_ERR(err, "nope");
}

static void test_properties_and_statistics(lsmedic_t *db) {
    char *err = NULL;
    char *keys = lsmedic_property_value(db, "data", "rocksdb.estimate-num-keys", &err);
    CHECK_OK(err);
    CHECK(keys != NULL && atoi(keys) > 0);
    lsmedic_free(keys);
    char *files = lsmedic_property_value(db, "data", "rocksdb.num-files-at-level0", &err);
    CHECK_OK(err);
    CHECK(files != NULL && atoi(files) >= 1);
    lsmedic_free(files);
    /* RocksDB does not know it: NULL, no error. */
    CHECK(lsmedic_property_value(db, "data", "rocksdb.no-such-property", &err) == NULL);
    CHECK_OK(err);
    CHECK(lsmedic_property_value(db, "nope", "rocksdb.stats", &err) == NULL);
    CHECK_ERR(err, "nope");
    CHECK(lsmedic_property_value(db, NULL, NULL, &err) == NULL);
    CHECK_ERR(err, "name is NULL");

    char *stats = lsmedic_statistics(db, &err);
    CHECK_OK(err);
    CHECK(stats != NULL);
    CHECK(strstr(stats, "\"name\":\"data\"") != NULL);
    CHECK(strstr(stats, "\"name\":\"default\"") != NULL);
    CHECK(strstr(stats, "\"statistics\":{") != NULL);
    lsmedic_free(stats);
}

static void test_set_option(lsmedic_t *db) {
    char *err = NULL;
    lsmedic_set_option(db, "data", "level0_slowdown_writes_trigger", "30", &err);
    CHECK_OK(err);
    lsmedic_set_option(db, NULL, "max_background_jobs", "3", &err);
    CHECK_OK(err);
    lsmedic_set_option(db, "data", "max_background_jobs", "3", &err);
    CHECK_ERR(err, "max_background_jobs");
    lsmedic_set_option(db, NULL, "no_such_option", "1", &err);
    CHECK_ERR(err, "no_such_option");
    lsmedic_set_option(db, "data", "write_buffer_size", "lots", &err);
    CHECK_ERR(err, "lots");
    lsmedic_set_option(db, "data", "write_buffer_size", NULL, &err);
    CHECK_ERR(err, "value is NULL");
}

static void test_checkpoint(lsmedic_t *db, const char *dir) {
    char *err = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s-checkpoint", dir);
    lsmedic_checkpoint_create(db, path, &err);
    CHECK_OK(err);
    /* The directory now exists: a second checkpoint there is refused. */
    lsmedic_checkpoint_create(db, path, &err);
    CHECK(err != NULL);
    lsmedic_free(err);
    err = NULL;
    lsmedic_checkpoint_create(db, NULL, &err);
    CHECK_ERR(err, "dir is NULL");

    lsmedic_t *copy = open_db(path);
    size_t len = 0;
    char *value = lsmedic_get(copy, "data", "key42", 5, &len, &err);
    CHECK_OK(err);
    CHECK(value != NULL && len == 7 && memcmp(value, "value42", 7) == 0);
    lsmedic_free(value);
    lsmedic_close(copy, &err);
    CHECK_OK(err);
    remove_dir(strdup(path));
}

int main(void) {
    char *dir = make_temp_dir();
    char *err = NULL;
    lsmedic_t *db = open_db(dir);
    lsmedic_create_column_family(db, "data", NULL, &err);
    CHECK_OK(err);
    for (unsigned i = 0; i < N; i++) {
        char key[16], value[32];
        int key_len = snprintf(key, sizeof key, "key%u", i);
        int value_len = snprintf(value, sizeof value, "value%u", i);
        lsmedic_put(db, "data", key, (size_t)key_len, value, (size_t)value_len, &err);
        CHECK_OK(err);
    }
    lsmedic_flush(db, "data", &err);
    CHECK_OK(err);

    test_multi_get(db);
    test_properties_and_statistics(db);
    test_set_option(db);
    test_checkpoint(db, dir);

    lsmedic_close(db, &err);
    CHECK_OK(err);
    remove_dir(dir);
    printf("embedder: %d checks passed\n", check_count);
    return 0;
}
