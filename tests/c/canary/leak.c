/* Proves the sanitizer run is live: this program leaks an error message on purpose, and
 * test-c requires LeakSanitizer to report it and fail the run. (Not a test of lsmedic: it
 * lives in a subfolder of tests/c so that test-c does not run it as one.) */
#include "lsmedic.h"

int main(void) {
    char *err = NULL;
    lsmedic_config_t *config = lsmedic_config_from_json("{", &err);
    (void)config;
    return err == NULL; /* 0 with `err` still allocated: only LeakSanitizer can fail it */
}
