# vexit: top-level build.  Everything generated goes under build/.
# Fragments: mk/qemu.mk (our QEMU), guest/guest.mk (Linux test guest),
# guest/baremetal/baremetal.mk (bare-metal KVM test guest),
# profiler/vexitprof.mk (the profiler), profiler/flamegraph.mk (folded stacks
# to SVG).
SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build
BIN := $(BUILD)/bin

.PHONY: all setup qemu guest vexitprof baremetal flamegraph demo test clean distclean format
all: qemu guest vexitprof baremetal flamegraph

setup:
	bash scripts/setup.sh

include mk/qemu.mk
-include guest/guest.mk
-include guest/baremetal/baremetal.mk
-include profiler/vexitprof.mk
-include profiler/flamegraph.mk

demo: all
	bash scripts/demo.sh

test: all
	bash tests/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^build/')

clean:
	rm -rf $(BUILD)/profiler $(BUILD)/guest $(BUILD)/baremetal $(BIN)/vexitprof

distclean:
	rm -rf $(BUILD)
