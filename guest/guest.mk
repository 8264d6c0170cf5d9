# Linux test guest (kernel + initramfs from Debian packages) and the host-side
# UDP echo server.  See guest/build-guest.sh and guest/init.
GUEST_OUT := $(BUILD)/guest
GUEST_DL := $(BUILD)/dl
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror

.PHONY: guest
guest: $(GUEST_OUT)/vmlinuz $(GUEST_OUT)/initramfs.cpio.gz $(GUEST_OUT)/udp-echo

# Re-extracts (from the cached .deb) only when the script changes.
$(GUEST_OUT)/vmlinuz: guest/build-guest.sh
	bash guest/build-guest.sh kernel $(GUEST_OUT) $(GUEST_DL)

# glibc's static libc: the guest has no libc of its own besides the one
# copied in for iperf3, and a static rr does not depend on it.
$(GUEST_OUT)/rr: guest/rr.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -static -o $@ $<

$(GUEST_OUT)/udp-echo: guest/udp-echo.c
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -o $@ $<

$(GUEST_OUT)/initramfs.cpio.gz: guest/init guest/build-guest.sh $(GUEST_OUT)/vmlinuz $(GUEST_OUT)/rr
	bash guest/build-guest.sh initramfs $(GUEST_OUT)
