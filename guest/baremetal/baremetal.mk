# Bare-metal KVM test guest (included by the top-level Makefile, which
# defines TOP, BUILD and BIN).  Output: build/baremetal/mmio-guest.elf, a
# 32-bit multiboot ELF for qemu -kernel.
BM_SRC := $(TOP)/guest/baremetal
BM_OUT := $(BUILD)/baremetal
BM_ELF := $(BM_OUT)/mmio-guest.elf
BM_OBJS := $(BM_OUT)/boot.o $(BM_OUT)/main.o
# -mgeneral-regs-only: nothing in the guest sets up the FPU/SSE state.
BM_CFLAGS := -m32 -march=i686 -std=gnu11 -O2 -Wall -Wextra -Werror \
	-ffreestanding -nostdlib -fno-pic -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -mgeneral-regs-only -mno-red-zone
BM_LDFLAGS := -m32 -nostdlib -no-pie -static -Wl,--build-id=none \
	-Wl,-T,$(BM_SRC)/link.ld -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments

.PHONY: baremetal
baremetal: $(BM_ELF)

$(BM_OUT):
	mkdir -p $@

$(BM_OUT)/boot.o: $(BM_SRC)/boot.S $(BM_SRC)/baremetal.mk | $(BM_OUT)
	$(CC) $(BM_CFLAGS) -c -o $@ $<

$(BM_OUT)/main.o: $(BM_SRC)/main.c $(BM_SRC)/baremetal.mk | $(BM_OUT)
	$(CC) $(BM_CFLAGS) -c -o $@ $<

# libgcc supplies the 64-bit division used to print TSC counts.
$(BM_ELF): $(BM_OBJS) $(BM_SRC)/link.ld
	$(CC) $(BM_LDFLAGS) -o $@ $(BM_OBJS) -lgcc
