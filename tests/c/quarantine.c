/* Corruption containment through the C API: a compaction reads a damaged SST of column
 * family "data"; the database keeps taking writes in every column family, "data" is listed
 * as quarantined, and lsmedic_rebuild_column_family replaces it, reporting what it could not
 * read (the report is kept: lsmedic_last_rebuild_report), and ends the quarantine. The healer is off so that the test, not the healer, decides
 * when to rebuild. */
#include "check.h" /* first: it defines _GNU_SOURCE */

#include <dirent.h>
#include <unistd.h>

#define N 20000

static const char *CONFIG =
    "[engine.cf_options]\ncompression = \"none\"\n[healer]\nmode = \"off\"\n";

static void put_key(lsmedic_t *db, const char *cf, unsigned i, const char *value) {
    char key[32];
    int len = snprintf(key, sizeof key, "key%08u", i);
    char *err = NULL;
    lsmedic_put(db, cf, key, (size_t)len, value, strlen(value), &err);
    CHECK_OK(err);
}

/* A value of 200 bytes derived from `i`, so every key's value differs. */
static const char *value_of(unsigned i) {
    static char value[201];
    for (int j = 0; j < 200; j++) value[j] = (char)('a' + (i * 31 + (unsigned)j * 7) % 26);
    value[200] = '\0';
    return value;
}

static lsmedic_t *open_db(const char *dir) { return open_with_toml(dir, CONFIG); }

/* Inverts 32 bytes in the middle of the newest SST file in `dir`. */
static void damage_newest_sst(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    char newest[256] = "";
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len > 4 && strcmp(entry->d_name + len - 4, ".sst") == 0 &&
            strcmp(entry->d_name, newest) > 0) {
            snprintf(newest, sizeof newest, "%s", entry->d_name);
        }
    }
    closedir(d);
    CHECK(newest[0] != '\0');
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, newest);
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    unsigned char bytes[32];
    CHECK(fseek(f, size / 2, SEEK_SET) == 0);
    CHECK(fread(bytes, 1, sizeof bytes, f) == sizeof bytes);
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] ^= 0xff;
    CHECK(fseek(f, size / 2, SEEK_SET) == 0);
    CHECK(fwrite(bytes, 1, sizeof bytes, f) == sizeof bytes);
    CHECK(fclose(f) == 0);
}

/* The quarantined column families, joined by commas. */
static void quarantined(lsmedic_t *db, char *out, size_t cap) {
    char *err = NULL;
    size_t count = 99;
    char **names = lsmedic_quarantined_column_families(db, &count, &err);
    CHECK_OK(err);
    CHECK(names != NULL);
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        CHECK(names[i] != NULL);
        if (i > 0) strncat(out, ",", cap - strlen(out) - 1);
        strncat(out, names[i], cap - strlen(out) - 1);
    }
    CHECK(names[count] == NULL);
    lsmedic_free(names);
}

int main(void) {
    char *dir = make_temp_dir();
    char *err = NULL;
    lsmedic_t *db = open_db(dir);
    lsmedic_create_column_family(db, "other", NULL, &err);
    CHECK_OK(err);
    lsmedic_create_column_family(db, "data", NULL, &err);
    CHECK_OK(err);
    for (unsigned i = 0; i < N; i++) put_key(db, "data", i, value_of(i));
    lsmedic_flush(db, "data", &err);
    CHECK_OK(err);
    lsmedic_close(db, &err);
    CHECK_OK(err);
    damage_newest_sst(dir);

    db = open_db(dir);
    char names[256];
    quarantined(db, names, sizeof names);
    CHECK(strcmp(names, "") == 0);
    /* Four L0 files rewriting keys across the damaged file's range: RocksDB compacts them
     * with it on its own, and reads the damaged block. */
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned i = round; i < N; i += 97) put_key(db, "data", i, value_of(i));
        lsmedic_flush(db, "data", &err);
        CHECK_OK(err);
    }
    for (int waited = 0; waited < 3000; waited++) {
        quarantined(db, names, sizeof names);
        if (names[0] != '\0') break;
        usleep(10 * 1000);
    }
    CHECK(strcmp(names, "data") == 0);

    /* Writes go on in every column family. */
    put_key(db, "other", 1, "after");
    put_key(db, "data", N + 1, "after");

    /* Never rebuilt yet: no stored report, and no error. */
    CHECK(lsmedic_last_rebuild_report(db, "data", &err) == NULL);
    CHECK_OK(err);
    char *summary = lsmedic_rebuild_column_family(db, "data", &err);
    CHECK_OK(err);
    CHECK(summary != NULL);
    CHECK(strstr(summary, "\"cf\":\"data\"") != NULL);
    CHECK(strstr(summary, "\"lost_ranges\":[{") != NULL); /* the damaged block is reported */
    /* The same report is stored with the rebuild's commit. */
    char *stored = lsmedic_last_rebuild_report(db, "data", &err);
    CHECK_OK(err);
    CHECK(stored != NULL && strcmp(stored, summary) == 0);
    lsmedic_free(stored);
    CHECK(lsmedic_last_rebuild_report(db, "no-such-family", &err) == NULL);
    CHECK_ERR(err, "no-such-family");
    lsmedic_free(summary);
    quarantined(db, names, sizeof names);
    CHECK(strcmp(names, "") == 0);

    size_t len = 0;
    char *value = lsmedic_get(db, "data", "key00020001", 11, &len, &err);
    CHECK_OK(err);
    CHECK(value != NULL && len == 5 && memcmp(value, "after", 5) == 0);
    lsmedic_free(value);

    /* The default column family cannot be rebuilt: a clear error, no report. */
    CHECK(lsmedic_rebuild_column_family(db, NULL, &err) == NULL);
    CHECK_ERR(err, "default");

    lsmedic_close(db, &err);
    CHECK_OK(err);
    remove_dir(dir);
    report("quarantine");
    return 0;
}
