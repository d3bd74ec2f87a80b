# Terrarium build.
#
#   make                 build build/terrarium
#   make run             install missing packages, build, serve on 127.0.0.1:8080
#   make test            install what tests need, run every test (also under ASan+UBSan)
#   make bench           run the benchmarks in tests/bench/
#   make SANITIZE=address,undefined   the same tree with sanitizers, in build-san/

CC      ?= cc
PKGS    := sqlite3 lua5.4 libgvc libcgraph jansson libssl libcrypto libcurl libpq hiredis rdkafka \
           libgit2
SANITIZE ?=

ifeq ($(SANITIZE),)
BUILD   ?= build
OPT     ?= -O2
else
BUILD   ?= build-san
OPT     ?= -O1
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I. -I$(BUILD) $(SANFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += $(SANFLAGS) -rdynamic
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcivetweb -lpthread -lm -ldl

# Every module of the core; hub/main.c alone makes the program.
CORE_SRC := $(sort $(wildcard catalog/*.c) $(filter-out hub/main.c,$(wildcard hub/*.c)) \
            $(wildcard plugins/*/*.c))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/web_assets.o
WEB      := $(sort $(shell find web -type f 2>/dev/null))

# Sanitizer runtime settings for every test run (harmless without sanitizers).
TEST_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
TEST_HELPERS := $(wildcard tests/lib/*.c)

.PHONY: all run test unit integration browser bench deps deps-test clean check-plugin-headers
.DELETE_ON_ERROR:

all: $(BUILD)/terrarium

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/terrarium serve $(ARGS)

$(BUILD)/terrarium: $(BUILD)/hub/main.o $(BUILD)/libterrarium.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libterrarium.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The UI's files, embedded into the binary.
$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -o $@ $<

$(BUILD)/web_assets.c: $(BUILD)/tools/embed $(WEB)
	$(BUILD)/tools/embed web $@ $(WEB)

$(BUILD)/web_assets.o: $(BUILD)/web_assets.c
	$(CC) $(CFLAGS) -c -o $@ $<

# Tests: one cmocka binary per module, linked against the core library.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libterrarium.a $(TEST_HELPERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELPERS) $(BUILD)/libterrarium.a $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/integration/%.c $(BUILD)/libterrarium.a $(TEST_HELPERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELPERS) $(BUILD)/libterrarium.a $(LDLIBS) -lcmocka

# The example native plugin, and one of a wrong ABI version, for the plugin tests.
PLUGIN_SO := $(BUILD)/tests/plugins/example.so $(BUILD)/tests/plugins/example_abi99.so
$(BUILD)/tests/plugins/example.so: tests/plugins/example.c hub/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $<

$(BUILD)/tests/plugins/example_abi99.so: tests/plugins/example.c hub/plugin.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DEXAMPLE_ABI=99 -fPIC -shared -o $@ $<

unit: $(UNIT_BIN) $(PLUGIN_SO)
	@$(TEST_ENV) BUILD=$(BUILD) tests/run-unit.sh $(UNIT_BIN)

integration: $(BUILD)/terrarium $(INTEG_BIN) $(PLUGIN_SO)
	@$(TEST_ENV) BUILD=$(BUILD) TERRARIUM_BIN=$(BUILD)/terrarium tests/run-integration.sh $(INTEG_BIN)

# Browser tests: headless Debian chromium driven by playwright-core (tests/browser/).
browser: $(BUILD)/terrarium
	@BUILD=$(BUILD) TERRARIUM_BIN=$(BUILD)/terrarium tests/browser/run.sh

# A native plugin may include only hub/plugin.h (and system headers).
check-plugin-headers:
	@tests/check-plugin-headers-selftest.sh
	@tests/check-plugin-headers.sh

test: deps-test
	@$(MAKE) --no-print-directory check-plugin-headers
	@$(MAKE) --no-print-directory all unit integration browser
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all unit integration
	@echo "make test: all suites passed"

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh $(BUILD)/terrarium

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
