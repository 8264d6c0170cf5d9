# vexitprof: BPF object + skeleton (build/bpf/), user space (build/profiler/vexitprof/),
# the BPF_PROG_TEST_RUN unit test (build/tests/unit/test_vexitprof).
# Included by the top-level Makefile (TOP, BUILD, BIN come from there), after
# which profiler/flamegraph.mk builds the flame graph writer both link.

VP_BPF_DIR := $(BUILD)/bpf
VP_OBJ_DIR := $(BUILD)/profiler/vexitprof
VP_UNIT_DIR := $(BUILD)/tests/unit
VP_CLANG ?= clang
VP_BPFTOOL ?= bpftool
VP_CC ?= gcc
VP_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-I$(TOP)/profiler -I$(TOP)/bpf -I$(VP_BPF_DIR)
VP_LIBS := -lbpf -lelf -lz -lm -ljson-c -lmicrohttpd -lpthread
# -mcpu=v3: atomic fetch-and-add with a result (slot allocation), kernel >= 5.12
VP_BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
	-I$(VP_BPF_DIR) -I$(TOP)/bpf

# The pipeline, one job per file (profiler/README.md).
VP_SRCS := vexitprof.c env.c attach.c snapshot.c attribute.c report.c exit_ops.c report_table.c \
	report_json.c report_folded.c exit_reasons.c regnames.c hist.c target.c cost.c qmp.c
# --on-cpu (oncpu.h)
VP_SRCS += oncpu.c oncpu_report.c oncpu_taps.c symbols.c
# vexitprof diff (diff.h)
VP_SRCS += diff.c diff_load.c diff_compare.c diff_stacks.c diff_render.c
# vexitprof --serve (serve.h)
VP_SRCS += serve.c serve_detach.c serve_duty.c serve_calib.c serve_usdt.c serve_events.c serve_discover.c serve_http.c metrics.c metrics_expo.c
VP_OBJS := $(addprefix $(VP_OBJ_DIR)/,$(VP_SRCS:.c=.o)) $(BUILD)/profiler/flamegraph.o
VP_HDRS := $(wildcard $(TOP)/profiler/*.h) $(wildcard $(TOP)/bpf/*.h)
VP_BPF_HDRS := $(wildcard $(TOP)/bpf/*.h)

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

# (and the table formatting: report_table + what it needs, with everything but main's file)
VP_UNIT_OBJS := $(filter-out $(VP_OBJ_DIR)/vexitprof.o,$(VP_OBJS))
$(VP_UNIT_DIR)/test_vexitprof: $(TOP)/tests/unit/test_vexitprof.c $(VP_UNIT_DIR)/test_vexitprof.skel.h $(VP_UNIT_OBJS)
	$(VP_CC) $(VP_CFLAGS) -I$(VP_UNIT_DIR) -o $@ $< $(VP_UNIT_OBJS) $(VP_LIBS)
