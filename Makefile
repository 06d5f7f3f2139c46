# sagerun build. `make` builds build/default/sagerun; `make test` runs the
# suite plainly and under ASan+UBSan; SANITIZE=address,undefined selects a
# sanitized build for any target.

PKGS := yaml-0.1 jansson libuv libcurl sqlite3 libcrypto expat libprotobuf-c \
        zlib libmicrohttpd libarchive

# A fresh machine has none of the -dev packages: bring them first.
ifeq ($(shell pkg-config --exists $(PKGS) 2>/dev/null && echo ok),)
$(info make: installing build dependencies (scripts/install-deps))
$(if $(shell ./scripts/install-deps >&2 && echo ok),,$(error scripts/install-deps failed))
endif

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic \
          -Wshadow -Wstrict-prototypes -Wmissing-prototypes -MMD -MP \
          $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm
PREFIX ?= /usr/local

ifdef SANITIZE
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
O := build/san
else
O := build/default
endif

RUNNER_SRC := $(filter-out runner/main.c,$(wildcard runner/*.c))
STEPS_SRC  := $(wildcard steps/*.c)
LOCAL_SRC  := $(wildcard local/*.c)
LIB_SRC    := $(RUNNER_SRC) $(STEPS_SRC) $(LOCAL_SRC)
TEST_SRC   := $(wildcard tests/test-*.c)
# Files compiled into the binary: the schemas, the AWS waiters.
EMBED      := $(sort $(wildcard schemas/*.json schemas/steps/*.json)) \
              runner/aws_waiters.json

LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o) $(O)/gen/embedded-files.o \
            $(O)/gen/record.pb-c.o
TEST_OBJ := $(TEST_SRC:%.c=$(O)/%.o) $(O)/tests/test.o $(O)/tests/run-tests.o

all: $(O)/sagerun

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/gen/embedded-files.c: $(EMBED) scripts/embed-files
	@mkdir -p $(dir $@)
	./scripts/embed-files $(EMBED) > $@.tmp && mv $@.tmp $@

$(O)/gen/embedded-files.o: $(O)/gen/embedded-files.c
	$(CC) $(CFLAGS) -Irunner -c -o $@ $<

# RecordIO-protobuf's messages: protoc-c output, generated, never
# committed. recordio.c is the only includer.
$(O)/gen/%.pb-c.c $(O)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(O)/gen $<

$(O)/gen/record.pb-c.o: $(O)/gen/record.pb-c.c $(O)/gen/record.pb-c.h
	$(CC) $(CFLAGS) -I$(O)/gen -c -o $@ $<

$(O)/runner/recordio.o: $(O)/gen/record.pb-c.h
$(O)/runner/recordio.o: CFLAGS += -I$(O)/gen

$(O)/gen/test-list.h: $(TEST_SRC) scripts/gen-test-list
	@mkdir -p $(dir $@)
	./scripts/gen-test-list $(TEST_SRC) > $@.tmp && mv $@.tmp $@

$(O)/tests/run-tests.o: CFLAGS += -I$(O)/gen
$(O)/tests/run-tests.o: $(O)/gen/test-list.h

$(O)/sagerun: $(O)/runner/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/run-tests: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The suite, plainly and then under ASan+UBSan.
test: deps
	$(MAKE) test-one
	$(MAKE) test-one SANITIZE=address,undefined

# The HTTP tests' and benchmark's server (libmicrohttpd); found next to
# sagerun.
HTTPD_PKGS := libmicrohttpd libcrypto
$(O)/tests/helpers/http-test-server.o: CFLAGS += $(shell pkg-config --cflags $(HTTPD_PKGS))
$(O)/http-test-server: $(O)/tests/helpers/http-test-server.o $(O)/runner/buf.o
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs $(HTTPD_PKGS)) -lpthread

test-one: $(O)/run-tests $(O)/sagerun $(O)/http-test-server
	SAGERUN_REQUIRE_PEERS=1 SAGERUN_BIN=$(O)/sagerun $(O)/run-tests $(TESTS)

check: test

deps:
	@./scripts/install-deps

# The main job: the seed study end to end on the embedded engine (started
# on demand), then its engine stopped. RUN_FLAGS passes more options, e.g.
# RUN_FLAGS='-p instance_counts=[1,2,5]'.
run: deps $(O)/sagerun
	$(O)/sagerun run workflows/gdelt-distribution.yaml $(RUN_FLAGS)

# Fuzzing: each target in tests/fuzz runs FUZZ_SECONDS under libFuzzer
# with ASan+UBSan, from its seed corpus (copied, so the repo's stays as
# it is). A crash stops make with the reproducer in build/fuzz/.
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_O := build/fuzz
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_LIB := $(LIB_SRC:%.c=$(FUZZ_O)/%.o) $(FUZZ_O)/gen/embedded-files.o \
            $(FUZZ_O)/gen/record.pb-c.o

$(FUZZ_O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -O2 -g,$(CFLAGS)) $(FUZZ_FLAGS) -c -o $@ $<

$(FUZZ_O)/gen/embedded-files.o: $(O)/gen/embedded-files.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -O2 -g,$(CFLAGS)) $(FUZZ_FLAGS) -Irunner -c -o $@ $<

$(FUZZ_O)/gen/record.pb-c.o: $(O)/gen/record.pb-c.c $(O)/gen/record.pb-c.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -O2 -g,$(CFLAGS)) $(FUZZ_FLAGS) -I$(O)/gen -c -o $@ $<

$(FUZZ_O)/runner/recordio.o: $(O)/gen/record.pb-c.h
$(FUZZ_O)/runner/recordio.o: CFLAGS += -I$(O)/gen

$(FUZZ_O)/fuzz-%: $(FUZZ_O)/tests/fuzz/fuzz-%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz: deps $(FUZZ_TARGETS:%=$(FUZZ_O)/%)
	@for t in $(FUZZ_TARGETS); do \
	  name=$${t#fuzz-}; work=$(FUZZ_O)/corpus-$$name; mkdir -p $$work; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  (cd $(FUZZ_O) && ./$$t -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=./$$t- corpus-$$name ../../tests/fuzz/corpus/$$name \
	    2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done') \
	    && ! ls $(FUZZ_O)/$$t-crash-* $(FUZZ_O)/$$t-leak-* \
	         $(FUZZ_O)/$$t-timeout-* 2>/dev/null || exit 1; \
	done

# Fault injection and crash trials (tests/chaos/chaos.py): the quickstart
# against engines with injected faults (CHAOS_SEEDS), then the runner
# SIGKILLed at 40+ points and resumed, then torn and corrupted state
# databases; each checked with the engine's own List calls (aws CLI).
CHAOS_SEEDS ?= 1,2,3
chaos: deps $(O)/sagerun
	/usr/bin/python3 tests/chaos/chaos.py --sagerun $(O)/sagerun --seeds $(CHAOS_SEEDS)

# Benchmarks print tables; bench/RESULTS.md records them.
BENCH_SRC := $(wildcard bench/bench-*.c)
$(O)/bench-%: $(O)/bench/bench-%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench: deps $(BENCH_SRC:bench/%.c=$(O)/%) $(O)/http-test-server $(O)/sagerun
	@for b in $(BENCH_SRC:bench/%.c=$(O)/%); do $$b || exit 1; done

FORMAT_SRC := $(wildcard runner/*.[ch] steps/*.[ch] local/*.[ch] tests/*.[ch] tests/helpers/*.c bench/*.c tests/fuzz/*.c)
BANNED := \<(sprintf|vsprintf|strcpy|strcat|strtok|atoi|gets)[[:space:]]*\(

lint:
	clang-format --dry-run -Werror $(FORMAT_SRC)
	@if grep -nE '$(BANNED)' $(FORMAT_SRC); then \
	  echo "lint: banned function (see STYLE.md)"; exit 1; fi

format:
	clang-format -i $(FORMAT_SRC)

install: $(O)/sagerun
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/sagerun/schemas/steps
	install -m 755 $(O)/sagerun $(DESTDIR)$(PREFIX)/bin/sagerun
	install -m 644 schemas/*.json $(DESTDIR)$(PREFIX)/share/sagerun/schemas/
	install -m 644 schemas/steps/*.json $(DESTDIR)$(PREFIX)/share/sagerun/schemas/steps/

clean:
	rm -rf build

.SECONDARY:

.PHONY: all test test-one check deps run lint format install clean fuzz bench \
        chaos

-include $(shell find build -name '*.d' 2>/dev/null)
