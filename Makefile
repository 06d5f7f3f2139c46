# sagerun build. `make` builds build/default/sagerun; `make test` runs the
# suite plainly and under ASan+UBSan; SANITIZE=address,undefined selects a
# sanitized build for any target.

PKGS := yaml-0.1 jansson libuv libcurl sqlite3 libcrypto

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
SCHEMAS    := $(sort $(wildcard schemas/*.json schemas/steps/*.json))

LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o) $(O)/gen/embedded-files.o
TEST_OBJ := $(TEST_SRC:%.c=$(O)/%.o) $(O)/tests/test.o $(O)/tests/run-tests.o

all: $(O)/sagerun

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(O)/gen/embedded-files.c: $(SCHEMAS) scripts/embed-files
	@mkdir -p $(dir $@)
	./scripts/embed-files $(SCHEMAS) > $@.tmp && mv $@.tmp $@

$(O)/gen/embedded-files.o: $(O)/gen/embedded-files.c
	$(CC) $(CFLAGS) -Irunner -c -o $@ $<

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

test-one: $(O)/run-tests $(O)/sagerun
	SAGERUN_BIN=$(O)/sagerun $(O)/run-tests $(TESTS)

check: test

deps:
	@./scripts/install-deps

# The main job: until the runner executes workflows, show the seed's DAG.
run: $(O)/sagerun
	$(O)/sagerun graph workflows/gdelt-distribution.yaml

FORMAT_SRC := $(wildcard runner/*.[ch] steps/*.[ch] local/*.[ch] tests/*.[ch] bench/*.c tests/fuzz/*.c)
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

.PHONY: all test test-one check deps run lint format install clean

-include $(shell find build -name '*.d' 2>/dev/null)
