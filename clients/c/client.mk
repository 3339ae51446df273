# clients/c/client.mk — the C client library and the `optirs` tool.
# Included from the main Makefile (`include clients/c/client.mk`); also works
# alone: `make -f clients/c/client.mk`.  Needs libcurl4-openssl-dev and
# libcjson-dev.
BUILD          ?= build
CC             ?= cc
OPT            ?= -O2
CLIENT_CFLAGS  ?= $(OPT) -g -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror -D_GNU_SOURCE \
                  $(shell pkg-config --cflags libcurl libcjson 2>/dev/null)
CLIENT_LDLIBS  ?= $(shell pkg-config --libs libcurl libcjson 2>/dev/null || echo -lcurl -lcjson) -lm

CLIENT_LIB     := $(BUILD)/liboptirs_client.a
# core's float16/bfloat16 conversions (src/core/half.c, pure C) go into the library too.
CLIENT_OBJ     := $(BUILD)/clients/c/optirs_client.o $(BUILD)/clients/c/half.o
CLIENT_CLI_OBJ := $(BUILD)/clients/c/optirs_cli.o
CLIENT_TESTS   := $(BUILD)/clients/c/test_client
CLIENT_EXAMPLES:= $(BUILD)/clients/c/step_loop

.PHONY: c-client
c-client: $(CLIENT_LIB) $(BUILD)/optirs $(CLIENT_TESTS) $(CLIENT_EXAMPLES)

$(BUILD)/clients/c/%.o: clients/c/%.c clients/c/optirs_client.h src/core/half.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -Iclients/c -Isrc/core -c $< -o $@

$(BUILD)/clients/c/half.o: src/core/half.c src/core/half.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -Isrc/core -c $< -o $@

$(CLIENT_LIB): $(CLIENT_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/optirs: $(CLIENT_CLI_OBJ) $(CLIENT_LIB)
	$(CC) $(CLIENT_CFLAGS) $^ -o $@ $(CLIENT_LDLIBS)

$(BUILD)/clients/c/test_client: clients/c/tests/test_client.c $(CLIENT_LIB) clients/c/optirs_client.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -Iclients/c $(filter %.c %.a,$^) -o $@ $(CLIENT_LDLIBS)

$(BUILD)/clients/c/step_loop: clients/c/examples/step_loop.c $(CLIENT_LIB) clients/c/optirs_client.h
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -Iclients/c $(filter %.c %.a,$^) -o $@ $(CLIENT_LDLIBS)
