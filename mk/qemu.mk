# Our QEMU 10.0.2 with qemu-patches/ and e1000-opt/.  The script decides what
# to rebuild (see its header); this rule always runs it and it is a no-op in
# about a second when nothing changed.
QEMU := $(BIN)/qemu-system-x86_64
.PHONY: qemu
qemu:
	bash scripts/build-qemu.sh

# AddressSanitizer build for the hot-unplug use-after-free test.
QEMU_ASAN := $(BIN)/qemu-system-x86_64-asan
.PHONY: qemu-asan
qemu-asan:
	bash scripts/build-qemu.sh --asan

# QEMU 10.0.2 with only the build fix: the upstream e1000 for
# tests/t-e1000opt-upstream.sh.
QEMU_STOCK := $(BIN)/qemu-system-x86_64-stock
.PHONY: qemu-stock
qemu-stock:
	bash scripts/build-qemu.sh --stock
