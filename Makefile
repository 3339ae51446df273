# optirs-learned — build, run, test, bench.
# `make run` installs the missing Debian packages the daemon needs (make deps-run),
# `make test` and `make bench` those of everything (make deps).

CC       ?= cc
PKGS      = libmicrohttpd libcjson libuv sqlite3 zlib gnutls libpq
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CFLAGS   += $(SANFLAGS) -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror -D_GNU_SOURCE

# The layers, lowest first: core < data < storage < service < server < cli.  Each layer is
# compiled with its own and the lower layers' include paths only, so the
# compiler refuses an upward include; `make layers` (tests/check_layers.py,
# part of `make test`) checks the #include lines and core's system headers.
# src/core is split into rooms (opt/, lopt/, meta/, tasks/ and the top level);
# each room is on the include path, so sources keep `#include "opt.h"`.
CORE_DIRS   := src/core $(sort $(dir $(wildcard src/core/*/*.c)))
CORE_INC    := $(patsubst %/,%,$(addprefix -I,$(CORE_DIRS))) -I/usr/include/x86_64-linux-gnu/openblas-pthread
DATA_INC    := $(CORE_INC) -Isrc/data $(shell pkg-config --cflags zlib 2>/dev/null)
# storage: the SQLite database, and the cluster database's client (libpq, --cluster-db).
STORAGE_INC := $(DATA_INC) -Isrc/storage $(shell pkg-config --cflags sqlite3 libpq 2>/dev/null)
# service: sessions, jobs, specs — decoded inputs in, results or an error out;
# it sees cJSON but neither libmicrohttpd nor libuv (those are the server's).
SERVICE_INC := $(STORAGE_INC) -Isrc/service $(shell pkg-config --cflags libcjson 2>/dev/null)
SERVER_INC  := $(SERVICE_INC) -Isrc/server $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# cli: the optirsd entry point (main.c) and its subcommands, on top of everything.
CLI_INC     := $(SERVER_INC) -Isrc/cli
# Tests and benches see every layer up to the server (none tests src/cli).
ALL_INC     := $(SERVER_INC)
LAYER_INC    = $(SERVER_INC)
BLAS_LIBS = -lopenblas
LDLIBS   += $(SANFLAGS) $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(BLAS_LIBS) -lpthread -lm
BUILD    ?= build
LISTEN   ?= 127.0.0.1:8080
PY       := /usr/bin/python3

# What the daemon needs to build and run (make run): the compiler, the -dev
# packages of the libraries it links, and the Fashion-MNIST files its
# meta-training reads; and what the tests, fuzzing, benches and clients need
# on top (make test, make bench): python3-venv, setuptools and wheel to install
# the Python client in a venv offline, node-typescript (tsc) for make js-types.
# `make layers` (tests/check_deps.py) keeps test tools out of RUN_PKGS.
# libpq-dev is a run dependency: the daemon always links libpq (small, Debian's),
# because --cluster-db is a flag of every build, not of a separate one; the
# PostgreSQL server (postgresql) is only the cluster tests' throwaway database.
RUN_PKGS = gcc make pkg-config libmicrohttpd-dev libcjson-dev libuv1-dev libsqlite3-dev \
           libopenblas-dev zlib1g-dev libgnutls28-dev libpq-dev dataset-fashion-mnist
DEB_PKGS = $(RUN_PKGS) libcmocka-dev curl sqlite3 python3 python3-numpy \
           python3-pytest python3-yaml python3-jsonschema python3-torch python3-pip python3-setuptools \
           python3-wheel python3-venv nodejs node-typescript openssl libcurl4-openssl-dev nginx clang \
           libclang-rt-14-dev valgrind chromium openmpi-bin libopenmpi-dev postgresql

CORE_SRC    := $(wildcard src/core/*.c src/core/*/*.c)
DATA_SRC    := $(wildcard src/data/*.c)
STORAGE_SRC := $(wildcard src/storage/*.c)
SERVICE_SRC := $(wildcard src/service/*.c)
SERVER_SRC  := $(wildcard src/server/*.c)
CLI_SRC     := $(wildcard src/cli/*.c)
CORE_OBJ    := $(CORE_SRC:%.c=$(BUILD)/%.o)
DATA_OBJ    := $(DATA_SRC:%.c=$(BUILD)/%.o)
STORAGE_OBJ := $(STORAGE_SRC:%.c=$(BUILD)/%.o)
SERVICE_OBJ := $(SERVICE_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ  := $(SERVER_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/%.o)
# tests/unit/{core,data,storage,service,server}/ mirror src/ (tests/unit/test_*.c still build)
UNIT_SRC    := $(wildcard tests/unit/test_*.c tests/unit/core/test_*.c tests/unit/data/test_*.c \
                          tests/unit/storage/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SVCTEST_SRC := $(wildcard tests/unit/service/test_*.c)
SVCTEST_BIN := $(SVCTEST_SRC:tests/unit/service/%.c=$(BUILD)/tests/service/%)
SRVTEST_SRC := $(wildcard tests/unit/server/test_*.c)
SRVTEST_BIN := $(SRVTEST_SRC:tests/unit/server/%.c=$(BUILD)/tests/server/%)
BENCH_SRC   := $(wildcard bench/*.c)
BENCH_BIN   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps deps-run run test unit integration bench clean asan ubsan e2e-deps dashboard layers \
        js-types
all: $(BUILD)/optirsd $(UNIT_BIN) $(SVCTEST_BIN) $(SRVTEST_BIN) $(BENCH_BIN) c-client

# Installs the missing packages of $(1) (apt-get, as root).
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PKGS))
deps-run:
	$(call install_missing,$(RUN_PKGS))

# The version: `git describe` at build time, "unknown" outside a git checkout.
# $(BUILD)/version.stamp changes only when the version does, so only the two
# files that carry it (build_info.o of the daemon, the C client's optirs_cli.o)
# are rebuilt.
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null | tr -cd 'A-Za-z0-9._+-' || true)
ifeq ($(VERSION),)
VERSION := unknown
endif
.PHONY: version-stamp
$(BUILD)/version.stamp: version-stamp
	@mkdir -p $(BUILD); echo '$(VERSION)' > $@.tmp; cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/src/server/build_info.o $(BUILD)/clients/c/optirs_cli.o: $(BUILD)/version.stamp
$(BUILD)/src/server/build_info.o: CFLAGS += -DOPTIRS_VERSION='"$(VERSION)"'
$(BUILD)/clients/c/optirs_cli.o: CLIENT_CFLAGS += -DOPTIRS_VERSION='"$(VERSION)"'

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LAYER_INC) -MMD -MP -c $< -o $@

$(BUILD)/src/core/%.o:    LAYER_INC = $(CORE_INC)
$(BUILD)/src/data/%.o:    LAYER_INC = $(DATA_INC)
$(BUILD)/src/storage/%.o: LAYER_INC = $(STORAGE_INC)
$(BUILD)/src/service/%.o: LAYER_INC = $(SERVICE_INC)
$(BUILD)/src/server/%.o:  LAYER_INC = $(SERVER_INC)
$(BUILD)/src/cli/%.o:     LAYER_INC = $(CLI_INC)

# libcore.a: core + data + storage; libservice.a: the service layer;
# libserver.a: the server; the cli objects (main.c among them) link into
# optirsd only.  Link order: cli, server, service, core.
# (rebuilt from scratch so objects of moved or deleted sources never linger)
$(BUILD)/libcore.a: $(CORE_OBJ) $(DATA_OBJ) $(STORAGE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libservice.a: $(SERVICE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libserver.a: $(SERVER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/optirsd: $(CLI_OBJ) $(BUILD)/libserver.a $(BUILD)/libservice.a $(BUILD)/libcore.a
	$(CC) $(CFLAGS) $(filter %.o %.a,$^) -o $@ $(LDLIBS)

# The MPI meta-training driver build/optirsd-mpi (src/cli/mpi/, a cli of its
# own on top of cli.o): built only where mpicc is.  `make deps` installs
# OpenMPI for `make test` (make mpi-test, tests/targets.mk); the daemon and
# `make run` never need it.
MPICC   ?= $(shell command -v mpicc 2>/dev/null)
MPI_SRC := $(wildcard src/cli/mpi/*.c)
MPI_OBJ := $(MPI_SRC:%.c=$(BUILD)/%.o)
MPI_BIN := $(if $(MPICC),$(BUILD)/optirsd-mpi)
$(BUILD)/src/cli/mpi/%.o: src/cli/mpi/%.c
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) $(CLI_INC) -MMD -MP -c $< -o $@
$(BUILD)/optirsd-mpi: $(MPI_OBJ) $(BUILD)/src/cli/cli.o $(BUILD)/libserver.a $(BUILD)/libservice.a $(BUILD)/libcore.a
	$(MPICC) $(CFLAGS) $(filter %.o %.a,$^) -o $@ $(LDLIBS)
# (here, not on the line above: a prerequisite list is expanded where it is
# read, and MPI_BIN is only known from this point on)
all: $(MPI_BIN)

$(BUILD)/tests/server/%: tests/unit/server/%.c $(BUILD)/libserver.a $(BUILD)/libservice.a $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INC) -Itests/unit -MMD -MP $(filter %.c %.a,$^) -o $@ $(LDLIBS) -lcmocka

# Service tests see the service and lower layers only (no HTTP, no socket).
$(BUILD)/tests/service/%: tests/unit/service/%.c $(BUILD)/libservice.a $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SERVICE_INC) -Itests/unit -MMD -MP $(filter %.c %.a,$^) -o $@ $(LDLIBS) -lcmocka

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INC) -Itests/unit -MMD -MP $(filter %.c %.a,$^) -o $@ $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(BUILD)/libserver.a $(BUILD)/libservice.a $(BUILD)/libcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INC) -O3 -march=native -MMD -MP $(filter %.c %.a,$^) -o $@ $(LDLIBS)

# run, test and bench build in a second make: its pkg-config flags are read
# after `deps` has installed the packages (a fresh machine has none of them).
run: deps-run
	@$(MAKE) --no-print-directory $(BUILD)/optirsd
	@mkdir -p data
	$(BUILD)/optirsd --listen $(LISTEN) --db data/optirs.db

unit: $(UNIT_BIN) $(SVCTEST_BIN) $(SRVTEST_BIN)
	@fail=0; for t in $(UNIT_BIN) $(SVCTEST_BIN) $(SRVTEST_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# playwright-core (npm registry) drives Debian's chromium in the dashboard test.
e2e-deps:
	@[ -d tests/e2e/node_modules/playwright-core ] || (cd tests/e2e && npm ci --no-audit --no-fund)

# Rebuilds the committed dashboard/dist/index.html (uPlot bundled by esbuild) from the lock file.
dashboard:
	cd dashboard && npm ci --no-audit --no-fund && npm run build

# $(MPI_BIN): test_meta_launcher.py runs the daemon's jobs through optirsd-mpi.
integration: $(BUILD)/optirsd $(BUILD)/optirs $(MPI_BIN) e2e-deps
	OPTIRSD=$(abspath $(BUILD)/optirsd) $(PY) -m pytest -q tests/integration

# The Node client's declarations (clients/js/index.d.ts) against a typed use of
# them, with Debian's tsc (node-typescript); nothing is emitted.
js-types:
	tsc --noEmit --strict --target es2022 --module nodenext clients/js/test/types-check.ts

# Fails on an include that goes up the layers (see the include paths above),
# on a public name without its module's prefix (tests/check_prefixes.py, on
# the objects: they are built first, in a second make like `all`), and on a
# Markdown link that leaves the repository or leads nowhere, and on a test
# tool in the packages `make run` installs (tests/check_deps.py).  The
# compiler side is proved too: a cli header compiles with the cli's include
# path and is not found with the server's.
layers:
	$(PY) tests/check_layers.py
	@$(MAKE) --no-print-directory $(CORE_OBJ) $(DATA_OBJ) $(STORAGE_OBJ) $(SERVICE_OBJ) $(SERVER_OBJ) $(CLI_OBJ) $(if $(MPICC),$(MPI_OBJ))
	$(PY) tests/check_prefixes.py --build $(BUILD)
	@printf '#include "cli.h"\n' | $(CC) $(CLI_INC) -fsyntax-only -x c - && \
	 if printf '#include "cli.h"\n' | $(CC) $(SERVER_INC) -fsyntax-only -x c - 2>/dev/null; then \
	   echo "layers: the server's include path reaches src/cli"; exit 1; \
	 else echo "layers: the server's include path cannot reach src/cli, the cli's can"; fi
	$(PY) tests/check_docs.py
	$(PY) tests/check_deps.py --run "$(RUN_PKGS)" --all "$(DEB_PKGS)" --pc "$(PKGS)" --libs="$(BLAS_LIBS)"

test: deps layers
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory js-types
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory test-crash-short
	@$(MAKE) --no-print-directory mpi-test
	@$(MAKE) --no-print-directory fuzz-short

bench: deps
	@$(MAKE) --no-print-directory all
	$(PY) bench/run.py --build $(BUILD)

# The whole suite under the sanitizers, in build directories of their own.
asan:
	$(MAKE) BUILD=build-asan OPT="-O1" SANFLAGS="-fsanitize=address -fno-omit-frame-pointer" all unit integration
ubsan:
	$(MAKE) BUILD=build-ubsan OPT="-O1" SANFLAGS="-fsanitize=undefined -fno-sanitize-recover=all" all unit integration

clean:
	rm -rf build build-asan build-ubsan build-fuzz

include clients/c/client.mk
include tests/targets.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
