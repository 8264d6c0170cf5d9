# Flame graph writer (included by the top-level Makefile, which defines TOP,
# BUILD and BIN).  FLAMEGRAPH_OBJ is for other tools that link the writer.
FG_OUT := $(BUILD)/profiler
FLAMEGRAPH_OBJ := $(FG_OUT)/flamegraph.o
FG_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror
FG_HDRS := $(TOP)/profiler/flamegraph.h $(TOP)/profiler/flamegraph.mk

.PHONY: flamegraph
flamegraph: $(BIN)/vexit-flamegraph

$(FG_OUT)/flamegraph.o: $(TOP)/profiler/flamegraph.c $(FG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(FG_CFLAGS) -c -o $@ $<

$(FG_OUT)/vexit-flamegraph.o: $(TOP)/profiler/vexit-flamegraph.c $(FG_HDRS)
	@mkdir -p $(@D)
	$(CC) $(FG_CFLAGS) -c -o $@ $<

$(BIN)/vexit-flamegraph: $(FG_OUT)/vexit-flamegraph.o $(FLAMEGRAPH_OBJ)
	@mkdir -p $(@D)
	$(CC) $(FG_CFLAGS) -o $@ $^
