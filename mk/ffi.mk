# C ABI: liblsmedic.{so,a}, include/lsmedic.h and its freshness, C tests under
# AddressSanitizer + LeakSanitizer. Included by the top Makefile; `make test` runs test-c.
#
#   make c-lib            build liblsmedic.so / liblsmedic.a into $(C_LIB_DIR)
#   make c-header         regenerate include/lsmedic.h (commit it)
#   make c-header-check   fail when include/lsmedic.h differs from a fresh generation
#   make test-c           header check, library, then every C test and the README example
#
# Cargo builds the ffi crate as liblsmedic_ffi.{so,a} (the lib name `lsmedic` belongs to the
# facade crate); c-lib copies them, without debug info (RocksDB's line tables make the
# archive 1.6 GB), as liblsmedic.{so,a}. The .so's SONAME is liblsmedic.so (ffi/build.rs).

CBINDGEN_VERSION := 0.29.4
# A cbindgen of exactly this version on PATH is used; otherwise one is installed (from
# crates.io) into the target dir, so that every machine generates the same header.
CBINDGEN_ROOT := $(TARGET_DIR)/tools
CBINDGEN := $(shell if command -v cbindgen >/dev/null 2>&1 && \
	[ "$$(cbindgen --version 2>/dev/null)" = "cbindgen $(CBINDGEN_VERSION)" ]; then \
	command -v cbindgen; else echo "$(TARGET_DIR)/tools/bin/cbindgen"; fi)

C_OUT := $(TARGET_DIR)/lsmedic-c
C_LIB_DIR := $(C_OUT)/lib
C_TEST_DIR := $(C_OUT)/tests
CC ?= cc
CXX ?= c++
# What the static archive needs from the system (rustc --print native-static-libs, plus the
# C++ runtime RocksDB is written against).
C_STATIC_LIBS := -lstdc++ -lm -ldl -lpthread -lgcc_s -lc
C_TEST_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=address \
	-fno-omit-frame-pointer -I$(CURDIR)/include
# detect_leaks: LeakSanitizer at exit (on by default on Linux x86-64; explicit here).
# No suppressions: nothing leaks, RocksDB's static objects included.
C_TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1
C_TESTS := $(basename $(notdir $(wildcard tests/c/*.c)))

.PHONY: cbindgen c-lib c-header c-header-check test-c

cbindgen:
	@if [ ! -x "$(CBINDGEN)" ]; then \
		echo "installing cbindgen $(CBINDGEN_VERSION) into $(CBINDGEN_ROOT)"; \
		$(CARGO) install cbindgen --locked --version $(CBINDGEN_VERSION) --root "$(CBINDGEN_ROOT)"; \
	fi

c-header: cbindgen
	"$(CBINDGEN)" --quiet --config ffi/cbindgen.toml --crate lsmedic-ffi --output include/lsmedic.h ffi

c-header-check: cbindgen
	@mkdir -p "$(C_OUT)"
	"$(CBINDGEN)" --quiet --config ffi/cbindgen.toml --crate lsmedic-ffi --output "$(C_OUT)/lsmedic.h" ffi
	@if ! diff -u include/lsmedic.h "$(C_OUT)/lsmedic.h"; then \
		echo "include/lsmedic.h is stale: run 'make c-header' and commit it" >&2; exit 1; \
	fi
	@echo "include/lsmedic.h is fresh"
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only include/lsmedic.h
	$(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ include/lsmedic.h
	@echo "include/lsmedic.h compiles as C99 and as C++11"

c-lib: setup
	$(CARGO) build --release -p lsmedic-ffi
	@mkdir -p "$(C_LIB_DIR)"
	@for kind in so a; do \
		src="$(TARGET_DIR)/release/liblsmedic_ffi.$$kind"; dst="$(C_LIB_DIR)/liblsmedic.$$kind"; \
		if [ ! -f "$$dst" ] || [ "$$src" -nt "$$dst" ]; then \
			if command -v strip >/dev/null; then strip --strip-debug -o "$$dst" "$$src"; \
			else cp -f "$$src" "$$dst"; fi; \
		fi; \
	done
	@ls -l "$(C_LIB_DIR)"

# Each tests/c/*.c is linked statically (liblsmedic.a); the README example is extracted from
# include/README.md and linked against liblsmedic.so, so both libraries are exercised. All run
# under ASan/LSan.
test-c: c-header-check c-lib
	@mkdir -p "$(C_TEST_DIR)"
	@ms() { echo $$(( $$(date +%s%N) / 1000000 )); }; total_start=$$(ms); \
	$(CC) $(C_TEST_CFLAGS) -o "$(C_TEST_DIR)/leak-canary" tests/c/canary/leak.c "$(C_LIB_DIR)/liblsmedic.a" $(C_STATIC_LIBS); \
	if $(C_TEST_ENV) "$(C_TEST_DIR)/leak-canary" 2> "$(C_TEST_DIR)/leak-canary.err" || \
		! grep -q "LeakSanitizer: detected memory leaks" "$(C_TEST_DIR)/leak-canary.err"; then \
		echo "test-c: LeakSanitizer did not catch the canary's leak: the sanitizer run proves nothing" >&2; \
		cat "$(C_TEST_DIR)/leak-canary.err" >&2; exit 1; \
	fi; \
	echo "test-c: LeakSanitizer is live (it caught the canary's deliberate leak)"; \
	for t in $(C_TESTS); do \
		$(CC) $(C_TEST_CFLAGS) -o "$(C_TEST_DIR)/$$t" tests/c/$$t.c "$(C_LIB_DIR)/liblsmedic.a" $(C_STATIC_LIBS); \
		start=$$(ms); \
		$(C_TEST_ENV) "$(C_TEST_DIR)/$$t"; \
		echo "test-c: $$t (static library, ASan) passed in $$(( $$(ms) - start )) ms"; \
	done; \
	awk '/^<!-- example.c begin -->$$/{on=1; next} /^<!-- example.c end -->$$/{on=0} on && !/^```/' \
		include/README.md > "$(C_TEST_DIR)/example.c"; \
	test -s "$(C_TEST_DIR)/example.c" || { echo "no example in include/README.md" >&2; exit 1; }; \
	$(CC) $(C_TEST_CFLAGS) -o "$(C_TEST_DIR)/example" "$(C_TEST_DIR)/example.c" \
		-L"$(C_LIB_DIR)" -Wl,-rpath,"$(C_LIB_DIR)" -llsmedic; \
	start=$$(ms); rm -rf "$(C_TEST_DIR)/example-db"; \
	$(C_TEST_ENV) "$(C_TEST_DIR)/example" "$(C_TEST_DIR)/example-db"; \
	rm -rf "$(C_TEST_DIR)/example-db"; \
	echo "test-c: README example (shared library, ASan) passed in $$(( $$(ms) - start )) ms"; \
	echo "test-c: all C programs passed in $$(( $$(ms) - total_start )) ms"; \
	echo "test-c: $$(( $(words $(C_TESTS)) + 1 )) passed, 0 failed"

TEST_EXTRA += test-c
