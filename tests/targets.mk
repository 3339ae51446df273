# tests/targets.mk — fuzzing, crash, soak and valgrind targets (included from
# the main Makefile, which defines CORE_SRC, DATA_SRC, STORAGE_SRC, SERVICE_SRC, SERVER_SRC, PKGS,
# LDLIBS, PY, BUILD and UNIT_BIN/SVCTEST_BIN/SRVTEST_BIN).
#
#   make fuzz            every libFuzzer target for FUZZ_TIME seconds (long)
#   make fuzz-short      every target for FUZZ_SHORT_TIME seconds, then every
#                        regression input (inside make test)
#   make test-crash      kill -9 under load, 20 kills; SIGTERM; disk full
#   make test-crash-short  the same with 3 kills (inside make test)
#   make soak            10 minutes of mixed load; soak-short: 60 s
#   make valgrind-unit   the unit tests under valgrind memcheck
#   make mpi-test        meta-training over MPI ranks: bit-identical records at
#                        R = 1, 2, 4, resume under another R (inside make test;
#                        fails, never skips, without OpenMPI)
#
# The fuzz targets are built with clang from the sources directly (not the
# gcc-built archives) into build-fuzz/: every src/core, src/data, src/storage,
# src/service and src/server file (not src/cli: main.c) with -fsanitize=fuzzer-no-link,address,
# undefined, and each tests/fuzz/fuzz_*.c linked with -fsanitize=fuzzer.
# New corpus entries go to build-fuzz/corpus/<target> (not the repository);
# crashers to build-fuzz/artifacts/<target>/.  Minimise one with
#   build-fuzz/fuzz_<t> -minimize_crash=1 -runs=10000 CRASHFILE
# and commit it under tests/fuzz/regressions/<t>/.

FUZZ_BUILD      ?= build-fuzz
FUZZ_CC         ?= clang
FUZZ_TIME       ?= 600
FUZZ_SHORT_TIME ?= 10
CRASH_KILLS     ?= 20
SOAK_SECONDS    ?= 600
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS     := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra \
                   $(FUZZ_SAN)
FUZZ_LIBS       := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lopenblas -lpthread -lm
FUZZ_LIB_OBJ    := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(CORE_SRC) $(DATA_SRC) $(STORAGE_SRC) $(SERVICE_SRC) $(SERVER_SRC))
FUZZ_TARGETS    := f32json jsonwalk spec opt_state lopt_weights http writer live
FUZZ_BIN        := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz-build fuzz fuzz-short fuzz-regressions test-crash test-crash-short soak soak-short valgrind-unit \
        mpi-test

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(LAYER_INC) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# The same per-layer include paths as the main build (see the Makefile).
$(FUZZ_BUILD)/src/core/%.o:    LAYER_INC = $(CORE_INC)
$(FUZZ_BUILD)/src/data/%.o:    LAYER_INC = $(DATA_INC)
$(FUZZ_BUILD)/src/storage/%.o: LAYER_INC = $(STORAGE_INC)
$(FUZZ_BUILD)/src/service/%.o: LAYER_INC = $(SERVICE_INC)

# clang ignores lopt/lopt_fast.c's `#pragma GCC target("avx2")`: give that file
# AVX2 (not FMA, which would change its rounding) on the command line.
$(FUZZ_BUILD)/src/core/lopt/lopt_fast.o: FUZZ_CFLAGS += -mavx2 -Wno-unknown-pragmas

$(FUZZ_BUILD)/libfuzzsrc.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libfuzzsrc.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(ALL_INC) -Itests/fuzz -fsanitize=fuzzer -MMD -MP $< $(FUZZ_BUILD)/libfuzzsrc.a -o $@ $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BIN)

# Runs every regression input of every target once (a crash fails the target).
fuzz-regressions: $(FUZZ_BIN)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  files=$$(find tests/fuzz/regressions/$$t -type f 2>/dev/null | sort); \
	  [ -z "$$files" ] && continue; \
	  echo "== fuzz regressions $$t ($$(echo $$files | wc -w) inputs)"; \
	  $(FUZZ_BUILD)/fuzz_$$t $$files >$(FUZZ_BUILD)/regressions-$$t.log 2>&1 \
	    || { fail=1; echo "FAILED: fuzz_$$t on a regression input (log $(FUZZ_BUILD)/regressions-$$t.log)"; tail -40 $(FUZZ_BUILD)/regressions-$$t.log; }; \
	done; exit $$fail

fuzz-short: $(FUZZ_BIN)
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) fuzz-regressions
	@fail=0; for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_SHORT_TIME) || fail=1; done; exit $$fail

fuzz: $(FUZZ_BIN)
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) fuzz-regressions
	@fail=0; for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_TIME) || fail=1; done; exit $$fail

test-crash: $(BUILD)/optirsd
	$(PY) tests/crash/crash_test.py --optirsd $(BUILD)/optirsd --kills $(CRASH_KILLS)
test-crash-short: $(BUILD)/optirsd
	$(PY) tests/crash/crash_test.py --optirsd $(BUILD)/optirsd --kills 3 --short

soak: $(BUILD)/optirsd
	$(PY) tests/soak/soak.py --optirsd $(BUILD)/optirsd --seconds $(SOAK_SECONDS)
soak-short: $(BUILD)/optirsd
	$(PY) tests/soak/soak.py --optirsd $(BUILD)/optirsd --seconds 60

# tests/mpi/test_mpi_meta.py runs build/optirsd-mpi under mpirun (as root with
# OpenMPI's consent variables, which it sets).  make deps installs OpenMPI.
mpi-test: $(BUILD)/optirsd
	@command -v mpicc >/dev/null && command -v mpirun >/dev/null || \
	  { echo "mpi-test: mpicc or mpirun is missing (make deps installs openmpi-bin and libopenmpi-dev)"; exit 1; }
	@$(MAKE) --no-print-directory $(BUILD)/optirsd-mpi
	$(PY) tests/mpi/test_mpi_meta.py --bin $(BUILD)/optirsd-mpi --optirsd $(BUILD)/optirsd

# Unit tests under valgrind memcheck: any error or definite/indirect leak fails.
valgrind-unit: $(UNIT_BIN) $(SVCTEST_BIN) $(SRVTEST_BIN)
	@fail=0; for t in $(UNIT_BIN) $(SVCTEST_BIN) $(SRVTEST_BIN); do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --show-leak-kinds=definite,indirect $$t >/dev/null || { fail=1; echo "FAILED under valgrind: $$t"; }; \
	done; exit $$fail

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
