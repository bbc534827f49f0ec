/* Recovery without a restart through the C API: lsmedic_recover reopens the database in
 * place. With an iterator open it gives up after engine.recovery.reader_wait_ms, before
 * closing anything (the iterator keeps reading, the status says why); once it is destroyed the
 * reopen succeeds, the status JSON counts it, every key reads back and writes go on. */
#include "check.h" /* first: it defines _GNU_SOURCE */

#define N 2000

static const char *CONFIG =
    "[engine.recovery]\nreader_wait_ms = 100\n[healer]\nmode = \"off\"\n";

static void put_key(lsmedic_t *db, unsigned i) {
    char key[32];
    int len = snprintf(key, sizeof key, "key%08u", i);
    char *err = NULL;
    lsmedic_put(db, "data", key, (size_t)len, key, (size_t)len, &err);
    CHECK_OK(err);
}

static void check_key(lsmedic_t *db, unsigned i) {
    char key[32];
    int len = snprintf(key, sizeof key, "key%08u", i);
    char *err = NULL;
    size_t value_len = 0;
    char *value = lsmedic_get(db, "data", key, (size_t)len, &value_len, &err);
    CHECK_OK(err);
    CHECK(value != NULL && value_len == (size_t)len && memcmp(value, key, value_len) == 0);
    lsmedic_free(value);
}

/* The status JSON contains `needle`. */
static void check_status(lsmedic_t *db, const char *needle) {
    char *err = NULL;
    char *status = lsmedic_recovery_status(db, &err);
    CHECK_OK(err);
    CHECK(status != NULL);
    if (strstr(status, needle) == NULL) {
        fprintf(stderr, "status %s does not contain %s\n", status, needle);
        exit(1);
    }
    lsmedic_free(status);
}

int main(void) {
    char *dir = make_temp_dir();
    char *err = NULL;
    lsmedic_t *db = open_with_toml(dir, CONFIG);
    lsmedic_create_column_family(db, "data", NULL, &err);
    CHECK_OK(err);
    for (unsigned i = 0; i < N; i++) put_key(db, i);
    lsmedic_flush(db, "data", &err);
    CHECK_OK(err);
    check_status(db, "\"state\":\"healthy\"");
    check_status(db, "\"reopens\":0");

    /* An open iterator holds the database: the reopen gives up, typed and explained. */
    lsmedic_iterator_t *iter = lsmedic_create_iterator(db, "data", NULL, 0, NULL, 0, 0, &err);
    CHECK_OK(err);
    lsmedic_iter_seek_to_first(iter);
    lsmedic_recover(db, &err);
    CHECK(err != NULL && strstr(err, "iterator") != NULL);
    CHECK_ERR(err, "database is recovering");
    check_status(db, "\"state\":\"healthy\"");
    check_status(db, "still used the database");
    /* The iterator and point reads still work. */
    size_t seen = 0;
    for (; lsmedic_iter_valid(iter); lsmedic_iter_next(iter)) seen++;
    lsmedic_iter_get_error(iter, &err);
    CHECK_OK(err);
    CHECK(seen == N);
    check_key(db, 7);
    lsmedic_iter_destroy(iter);

    lsmedic_recover(db, &err);
    CHECK_OK(err);
    check_status(db, "\"state\":\"healthy\"");
    check_status(db, "\"reopens\":1");
    for (unsigned i = 0; i < N; i++) check_key(db, i);
    put_key(db, N);
    check_key(db, N);

    lsmedic_recover(NULL, &err);
    CHECK_ERR(err, "NULL");
    CHECK(lsmedic_recovery_status(NULL, &err) == NULL);
    CHECK_ERR(err, "NULL");

    lsmedic_close(db, &err);
    CHECK_OK(err);
    remove_dir(dir);
    printf("recovery: %d checks passed\n", check_count);
    return 0;
}
