# vexitprof: BPF object + skeleton (build/bpf/), user space (build/profiler/vexitprof/),
# the BPF_PROG_TEST_RUN unit test (build/tests/unit/test_vexitprof).
# Included by the top-level Makefile (TOP, BUILD, BIN come from there).

VP_BPF_DIR := $(BUILD)/bpf
VP_OBJ_DIR := $(BUILD)/profiler/vexitprof
VP_UNIT_DIR := $(BUILD)/tests/unit
VP_CLANG ?= clang
VP_BPFTOOL ?= bpftool
VP_CC ?= gcc
VP_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-I$(TOP)/profiler -I$(VP_BPF_DIR)
VP_LIBS := -lbpf -lelf -lz -lm
# -mcpu=v3: atomic fetch-and-add with a result (slot allocation), kernel >= 5.12
VP_BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
	-I$(VP_BPF_DIR) -I$(TOP)/bpf -I$(TOP)/profiler

# One job per file; regnames.c and flamegraph.c belong to another part of the
# project and are linked in as they are.
VP_SRCS := vexitprof.c collect.c exit_reasons.c report_table.c report_json.c \
	report_folded.c hist.c target.c cost.c qmp.c
VP_OBJS := $(addprefix $(VP_OBJ_DIR)/,$(VP_SRCS:.c=.o))
# Until those files exist, build against minimal stand-ins (raw offsets, no SVG).
VP_STUB_DIR := $(VP_OBJ_DIR)/stub
ifneq ($(wildcard $(TOP)/profiler/regnames.c),)
VP_OBJS += $(VP_OBJ_DIR)/regnames.o
else
VP_OBJS += $(VP_STUB_DIR)/regnames.o
VP_CFLAGS += -I$(VP_STUB_DIR)
endif
ifneq ($(wildcard $(TOP)/profiler/flamegraph.c),)
VP_OBJS += $(VP_OBJ_DIR)/flamegraph.o
else
VP_OBJS += $(VP_STUB_DIR)/flamegraph.o
VP_CFLAGS += -I$(VP_STUB_DIR)
endif
VP_HDRS := $(wildcard $(TOP)/profiler/*.h)
VP_BPF_HDRS := $(wildcard $(TOP)/bpf/*.h) $(TOP)/profiler/vexitprof.h

.PHONY: vexitprof vexitprof-unit
vexitprof: $(BIN)/vexitprof vexitprof-unit
vexitprof-unit: $(VP_UNIT_DIR)/test_vexitprof

$(VP_BPF_DIR)/vmlinux.h:
	@mkdir -p $(@D)
	$(VP_BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	mv $@.tmp $@

$(VP_BPF_DIR)/vexitprof.bpf.o: $(TOP)/bpf/vexitprof.bpf.c $(VP_BPF_HDRS) $(VP_BPF_DIR)/vmlinux.h
	$(VP_CLANG) $(VP_BPF_CFLAGS) -c $< -o $@

$(VP_BPF_DIR)/vexitprof.skel.h: $(VP_BPF_DIR)/vexitprof.bpf.o
	$(VP_BPFTOOL) gen skeleton $< name vexitprof_bpf > $@.tmp
	mv $@.tmp $@

$(VP_OBJ_DIR)/%.o: $(TOP)/profiler/%.c $(VP_HDRS) $(VP_BPF_DIR)/vexitprof.skel.h
	@mkdir -p $(@D)
	$(VP_CC) $(VP_CFLAGS) -c $< -o $@

# regnames.c and flamegraph.c: their own files, built with the project's plain flags
VP_FOREIGN_CFLAGS := $(filter-out -D_GNU_SOURCE,$(VP_CFLAGS))
$(VP_OBJ_DIR)/regnames.o: $(TOP)/profiler/regnames.c $(wildcard $(TOP)/profiler/regnames.h)
	@mkdir -p $(@D)
	$(VP_CC) $(VP_FOREIGN_CFLAGS) -c $< -o $@

$(VP_OBJ_DIR)/flamegraph.o: $(TOP)/profiler/flamegraph.c $(wildcard $(TOP)/profiler/flamegraph.h)
	@mkdir -p $(@D)
	$(VP_CC) $(VP_FOREIGN_CFLAGS) -c $< -o $@

$(BIN)/vexitprof: $(VP_OBJS)
	@mkdir -p $(@D)
	$(VP_CC) $(VP_CFLAGS) -o $@ $^ $(VP_LIBS)

# Unit test: the same handlers, wrapped in raw_tp programs fed by BPF_PROG_TEST_RUN.
$(VP_UNIT_DIR)/test_vexitprof.bpf.o: $(TOP)/tests/unit/test_vexitprof.bpf.c $(VP_BPF_HDRS) $(VP_BPF_DIR)/vmlinux.h
	@mkdir -p $(@D)
	$(VP_CLANG) $(VP_BPF_CFLAGS) -c $< -o $@

$(VP_UNIT_DIR)/test_vexitprof.skel.h: $(VP_UNIT_DIR)/test_vexitprof.bpf.o
	$(VP_BPFTOOL) gen skeleton $< name test_vexitprof_bpf > $@.tmp
	mv $@.tmp $@

# (and the table formatting: report_table + what it needs, with everything but vexitprof.o)
VP_UNIT_OBJS := $(filter-out $(VP_OBJ_DIR)/vexitprof.o,$(VP_OBJS))
$(VP_UNIT_DIR)/test_vexitprof: $(TOP)/tests/unit/test_vexitprof.c $(VP_UNIT_DIR)/test_vexitprof.skel.h $(VP_UNIT_OBJS)
	$(VP_CC) $(VP_CFLAGS) -I$(VP_UNIT_DIR) -o $@ $< $(VP_UNIT_OBJS) $(VP_LIBS)

$(VP_STUB_DIR)/regnames.c:
	@mkdir -p $(@D)
	printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
	  'const char *regname_lookup(const char *r, uint64_t off, char *buf, size_t len);' \
	  'const char *pioname_lookup(uint16_t port);' > $(VP_STUB_DIR)/regnames.h
	printf '%s\n' '#include <stdio.h>' '#include "regnames.h"' \
	  'const char *regname_lookup(const char *r, uint64_t off, char *buf, size_t len)' \
	  '{ (void)r; snprintf(buf, len, "+0x%llx", (unsigned long long)off); return buf; }' \
	  'const char *pioname_lookup(uint16_t port) { (void)port; return NULL; }' > $@

$(VP_STUB_DIR)/flamegraph.c:
	@mkdir -p $(@D)
	printf '%s\n' '#include <stdio.h>' \
	  'struct fg_stack { const char *frames; unsigned long long weight; };' \
	  'int flamegraph_write_svg(FILE *out, const struct fg_stack *stacks, size_t n, const char *title, const char *unit);' \
	  > $(VP_STUB_DIR)/flamegraph.h
	printf '%s\n' '#include "flamegraph.h"' \
	  'int flamegraph_write_svg(FILE *out, const struct fg_stack *s, size_t n, const char *t, const char *u)' \
	  '{ (void)out; (void)s; (void)n; (void)t; (void)u; return -1; }' > $@

$(VP_STUB_DIR)/%.o: $(VP_STUB_DIR)/%.c
	$(VP_CC) $(VP_CFLAGS) -c $< -o $@

# the stand-in headers must exist before anything includes them
$(VP_OBJS): | $(if $(wildcard $(TOP)/profiler/regnames.c),,$(VP_STUB_DIR)/regnames.c) \
	$(if $(wildcard $(TOP)/profiler/flamegraph.c),,$(VP_STUB_DIR)/flamegraph.c)
