# vexit: top-level build.  Everything generated goes under build/.
# Fragments: mk/qemu.mk (our QEMU), guest/guest.mk (Linux test guest),
# guest/baremetal/baremetal.mk (bare-metal KVM test guest),
# profiler/vexitprof.mk (the profiler), profiler/flamegraph.mk (folded stacks
# to SVG).
SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build
BIN := $(BUILD)/bin

.PHONY: all setup qemu guest vexitprof baremetal flamegraph demo test ablation install clean distclean format
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

test: all qemu-asan qemu-stock
	bash tests/run.sh

# Every e1000 stage and virtio-net on every workload, 5 interleaved
# repetitions (about 45 minutes); ABLATION_ARGS=--quick for a short run.
ablation: all
	bash scripts/ablation.sh $(ABLATION_ARGS)

PREFIX ?= /usr/local
install: vexitprof flamegraph
	install -D -m 0755 $(BIN)/vexitprof $(DESTDIR)$(PREFIX)/sbin/vexitprof
	install -D -m 0755 $(BIN)/vexit-flamegraph $(DESTDIR)$(PREFIX)/bin/vexit-flamegraph
	install -D -m 0644 profiler/vexitprof.8 $(DESTDIR)$(PREFIX)/share/man/man8/vexitprof.8
	# the fleet daemon's unit, installed but not enabled (systemctl enable --now vexitprof)
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local/sbin/|$(PREFIX)/sbin/|' dist/vexitprof.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/vexitprof.service

format:
	clang-format -i $$(git ls-files '*.c' '*.h' | grep -v '^build/\|^e1000-opt/')

clean:
	rm -rf $(BUILD)/profiler $(BUILD)/guest $(BUILD)/baremetal $(BIN)/vexitprof

distclean:
	rm -rf $(BUILD)
