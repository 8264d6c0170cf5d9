"""e1000 lifecycle: PCI and reset state; ring-page registers and tail
reserved bits while both rings run; system_reset, stop/cont, backend
backpressure and link changes while busy; CTRL.RST.  These are the
paths where the stages keep state outside the upstream register file
(shadow pages, the sidecore thread, the coalescing timer)."""

import time

import pytest

from e1000 import (BAR0_SIZE, CTRL, DESC_SIZE, DEV_MAC, ICR, ICR_LSC, ICR_RXT0,
                   ICR_TXDW, IMS, RA, RADV, RCTL, RCTL_EN, RDBAL, RDH, RDLEN,
                   RDT, RDTR, STATUS, STATUS_FD, STATUS_LU, TADV, TDBAL, TDH,
                   TDLEN, TDT, make_frame, tx_desc)
from harness import TX_BUF, TX_RING, fill_ring


def test_pci_and_reset_state(c):
    n = c.nic
    # 82540EM: one 128 KiB 32-bit non-prefetchable memory BAR.
    c.eq(c.bar_size, (BAR0_SIZE, 0), "BAR0 size and type")
    c.eq(n.r(STATUS) & (STATUS_LU | STATUS_FD), STATUS_LU | STATUS_FD,
         "STATUS link up, full duplex")
    # RAL0/RAH0 are loaded from the EEPROM MAC; RAH.AV (bit 31) set.
    c.eq(n.r(RA), 0x12005452, "RAL0")
    c.eq(n.r(RA + 4), 0x80005634, "RAH0 with AV")
    words = [n.eeprom_word(i) for i in range(0x40)]
    c.eq(words[:3], [0x5452, 0x1200, 0x5634], "EEPROM words 0-2 hold the MAC")
    c.eq(sum(words) & 0xFFFF, 0xBABA, "EEPROM checksum (SDM: sum = 0xBABA)")
    for reg, name in ((TDH, "TDH"), (TDT, "TDT"), (RDH, "RDH"), (RDT, "RDT"),
                      (IMS, "IMS"), (RCTL, "RCTL")):
        c.eq(n.r(reg), 0, name + " after reset")
    c.eq(n.r(ICR), 0, "ICR after reset")
    c.drain()
    c.eq(c.irqs(), [], "no interrupt at rest")


def _busy_read(c, got, masked, raw):
    """With x-shadow-regs=on a ring register page is RAM while the ring is
    busy, so a read right after a write returns the raw value (reserved
    bits included) until the device next synchronises the page (then, and
    after idle, the masked value, which the callers check).  Documented
    deviation of the stage (README, e1000-opt); any other value fails."""
    if got == raw and raw != masked:
        # Fails unless x-shadow-regs=on is set.
        c.stage_deviation("shadow-readback", "read-back before sync returns "
                          "the raw write %#x, not %#x" % (raw, masked))
        return masked
    return got


@pytest.mark.deviations("shadow-readback")
def test_ring_page_regs_while_busy(c):
    """Registers on the ring pages other than the tails, written right
    after tail writes while both rings run (FreeBSD's em driver retunes
    RDTR/RADV/TADV at run time through sysctl): they keep what was written
    (16 bits), read back at once and after the rings went idle."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    c.rx_setup(ndesc=8, rdt=6)
    # No virtual time passes between these writes.
    n.w(RDT, 7)
    n.w(TDT, 2)
    n.w(TADV, 0x10567)
    n.w(RDTR, 0x20)
    n.w(RADV, 0x40)
    busy = [(_busy_read(c, n.r(TADV), 0x0567, 0x10567), 0x0567, "TADV while busy"),
            (n.r(RDTR), 0x20, "RDTR while busy"),
            (n.r(RADV), 0x40, "RADV while busy")]
    c.expect_frames(ring[:2])
    c.drain(vns=20_000_000, real_s=0.05)      # rings idle for 20 ms
    idle = [(n.r(TADV), 0x0567, "TADV after idle"),
            (n.r(RDTR), 0x20, "RDTR after idle"),
            (n.r(RADV), 0x40, "RADV after idle"),
            (n.r(TDH), 2, "TDH after idle")]
    c.eq_all(busy + idle)


@pytest.mark.deviations("shadow-readback")
def test_tail_reserved_bits_busy(c):
    """Tail writes with bits 31:16 set while both rings run: the tails
    read back 16 bits (SDM: RDT/TDT bits 31:16 reserved, read as 0) and
    the device uses 16 bits."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    c.rx_setup(ndesc=8, rdt=6)
    n.w(RDT, 7)
    n.w(TDT, 2)
    n.w(TDT, 0xABCD0000 | 4)
    n.w(RDT, 0x12340000 | 7)
    busy = [(_busy_read(c, n.r(TDT), 4, 0xABCD0004), 4, "TDT while busy"),
            (_busy_read(c, n.r(RDT), 7, 0x12340007), 7, "RDT while busy")]
    c.expect_frames(ring[:4], "tail with reserved bits set")
    c.drain(vns=20_000_000, real_s=0.05)
    idle = [(n.r(TDT), 4, "TDT after idle"), (n.r(RDT), 7, "RDT after idle"),
            (n.r(TDH), 4, "TDH after idle")]
    c.eq_all(busy + idle)


def test_system_reset_busy(c):
    """QMP system_reset with both rings running and an interrupt pending:
    registers back to their reset values, line low, and the device works
    again after re-initialisation, with nothing sent in between."""
    n = c.nic
    n.w(IMS, ICR_TXDW | ICR_RXT0)
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    n.w(TDT, 5)
    c.expect_frames(ring[:5])
    c.rx_setup(ndesc=8, rdt=6)
    n.w(RDT, 7)
    c.vm.send_frame(make_frame(900, 100, dst=DEV_MAC))
    c.wait_rdh(1)
    c.wait_irq(True, "interrupt pending before the reset")
    c.vm.qmp("system_reset")
    c.nic.enable()
    c.wait_irq(False, "line low after reset")
    for reg, name in ((TDH, "TDH"), (TDT, "TDT"), (RDH, "RDH"), (RDT, "RDT"),
                      (TDLEN, "TDLEN"), (RDLEN, "RDLEN"), (TDBAL, "TDBAL"),
                      (RDBAL, "RDBAL"), (RCTL, "RCTL"), (IMS, "IMS"),
                      (ICR, "ICR")):
        c.eq(n.r(reg), 0, name + " after system_reset")
    c.expect_no_frames("nothing sent across the reset")
    n.w(IMS, ICR_TXDW)
    c.tx_setup(ndesc=8)
    again = fill_ring(c, 8, seq0=910)
    n.w(TDT, 3)
    c.expect_frames(again[:3], "TX after reset")
    c.wait_tdh(3)
    c.wait_irq(True, "TX interrupt after reset")
    c.rx_setup(ndesc=8)
    f = make_frame(920, 100, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.wait_rdh(1)
    c.check_rx_desc(0, f)


def test_stop_cont(c):
    """QMP stop right after 64 descriptors were queued, and a frame arriving
    while stopped: nothing moves while the VM is stopped (TDH, RDH, frames
    on the wire), everything completes after cont, exactly once and in
    order.  64 x 100 bytes stay well within what the socket takes without
    blocking (each write costs ~1.3 KiB of the ~208 KiB socket budget), so
    no frame waits in QEMU's queue at stop, where upstream would purge it
    (see tx_backpressure)."""
    n = c.nic
    c.rx_setup(ndesc=8)
    c.tx_setup(ndesc=128)
    size, count = 100, 64
    frames = [make_frame(1000 + i, size) for i in range(count)]
    c.vm.memwrite(TX_BUF, b"".join(frames))
    c.vm.memwrite(TX_RING, b"".join(tx_desc(TX_BUF + i * size, size)
                                    for i in range(count)))
    n.w(TDT, count)
    c.vm.qmp("stop")
    rx = make_frame(1300, 100, dst=DEV_MAC)
    c.vm.send_frame(rx)
    time.sleep(0.05)                  # frames already in the socket
    tdh0, nf0, rdh0 = n.r(TDH), c.vm.frame_count(), n.r(RDH)
    time.sleep(0.2)
    c.eq((n.r(TDH), c.vm.frame_count(), n.r(RDH)), (tdh0, nf0, rdh0),
         "TDH, frames out and RDH frozen while stopped (TDH %d)" % tdh0)
    c.eq(rdh0, 0, "no RX while stopped")
    c.vm.qmp("cont")
    c.expect_frames(frames, "all %d frames after cont" % count)
    c.wait_tdh(count)
    c.wait_rdh(1)
    c.check_rx_desc(0, rx)


@pytest.mark.deviations("stop-purge")
def test_tx_backpressure(c):
    """The backend stops taking frames (we stop reading the socket) while
    255 x 1500 bytes are transmitted: descriptors complete, the frames wait
    in QEMU and all come out, in order, once the backend drains.  Then the
    same with a QMP stop while backed up: after cont, every frame QEMU had
    already written to the socket arrives, in order, and TX goes on."""
    n = c.nic
    size = 1500
    wire = 4 + size                   # stream netdev: length + frame
    c.tx_setup(ndesc=256)
    frames = [make_frame(3000 + i, size) for i in range(255)]
    c.vm.memwrite(TX_BUF, b"".join(frames))
    c.vm.memwrite(TX_RING, b"".join(tx_desc(TX_BUF + i * size, size)
                                    for i in range(255)))
    c.vm.pause_net_reader()
    n.w(TDT, 255)
    c.wait_tdh(255)
    time.sleep(0.05)
    held = c.vm.net_pending_bytes() // wire
    # Otherwise nothing waited in QEMU and the test tests nothing.
    c.ok(held < 255, "backend backed up: %d of 255 frames in the socket, "
         "the rest wait in QEMU" % held)
    c.vm.pause_net_reader(False)
    c.expect_frames(frames, "all frames after the backend drained")
    # Again, stopping the VM while the backend is backed up.
    frames2 = [make_frame(4000 + i, size) for i in range(255)]
    idx = [(255 + i) % 256 for i in range(255)]
    for i, f in zip(idx, frames2):
        c.vm.memwrite(TX_BUF + i * size, f)
        c.vm.memwrite(TX_RING + i * DESC_SIZE, tx_desc(TX_BUF + i * size, size))
    c.vm.pause_net_reader()
    n.w(TDT, 254)
    c.wait_tdh(254)
    c.vm.qmp("stop")
    # The reader had taken every earlier frame whole, so the socket starts
    # at a frame boundary: these frames were handed to the backend.
    in_socket = c.vm.net_pending_bytes() // wire
    c.ok(in_socket >= 1, "frames in the socket at stop (%d)" % in_socket)
    c.vm.pause_net_reader(False)
    time.sleep(0.1)
    c.vm.qmp("cont")
    c.drain(vns=5_000_000, real_s=0.2)
    got = c.vm.take_frames()
    c.ok(got == frames2[:len(got)], "frames in order, no duplicates "
         "(%d of 255)" % len(got))
    c.ok(len(got) >= in_socket, "every frame already in the socket at "
         "stop is delivered after the release (%d >= %d)"
         % (len(got), in_socket))
    if len(got) < 255:
        # net/net.c net_vm_change_state_handler: on stop, every queue is
        # flushed or purged ("to guarantee we don't modify state later when
        # VM is not running"); what the blocked backend cannot take is
        # dropped although its descriptors were completed.  A wire loss,
        # as far as the guest can tell.
        c.deviation("stop-purge",
                    "frames waiting for a blocked backend are purged at "
                    "VM stop (%d of 255 lost)" % (255 - len(got)))
    # TX goes on after the backpressure and the stop.
    frames3 = [make_frame(4300 + i, size) for i in range(3)]
    for i, f in zip((254, 255, 0), frames3):
        c.put_tx(i, f)
    n.w(TDT, 1)
    c.expect_frames(frames3, "frames sent after the release")
    c.wait_tdh(1)
    c.alive_and_idle()


def test_link_down_up(c):
    """QMP set_link off/on: STATUS.LU follows, LSC interrupts; nothing
    reaches the network while the link is down; TX works after link up
    (QEMU re-runs a 500 ms auto-negotiation first)."""
    n = c.nic
    n.w(IMS, ICR_LSC | ICR_TXDW)
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    c.vm.qmp("set_link", name="e1000.0", up=False)
    c.eq(n.r(STATUS) & STATUS_LU, 0, "STATUS.LU clear")
    c.wait_irq(True, "LSC interrupt on link down")
    c.eq(n.r(ICR) & ICR_LSC, ICR_LSC, "ICR.LSC")
    n.w(TDT, 2)
    c.expect_no_frames("nothing on the wire while the link is down")
    c.drain()
    c.vm.qmp("set_link", name="e1000.0", up=True)
    c.vm.clock_step(600_000_000)
    c.wait(lambda: n.r(STATUS) & STATUS_LU, "STATUS.LU after link up")
    c.eq(n.r(ICR) & ICR_LSC, ICR_LSC, "ICR.LSC after link up")
    tdh = n.r(TDH)
    c.put_tx(tdh, ring[5])
    n.w(TDT, (tdh + 1) % 8)
    c.expect_frames([ring[5]], "TX after link up")


@pytest.mark.deviations("ctrl-rst")
def test_ctrl_rst(c):
    """SDM CTRL.RST (bit 26): a software reset of the whole controller
    except PCI configuration; self-clearing."""
    n = c.nic
    c.tx_setup(ndesc=8)
    n.w(IMS, ICR_TXDW)
    n.w(RCTL, RCTL_EN)
    n.w(CTRL, n.r(CTRL) | (1 << 26))
    c.drain()
    c.eq(n.r(CTRL) & (1 << 26), 0, "CTRL.RST self-clears")
    regs = (n.r(IMS), n.r(RCTL), n.r(TDLEN))
    if regs != (0, 0, 0):
        # hw/net/e1000.c set_ctrl() only clears the bit.
        c.eq(regs, (ICR_TXDW, RCTL_EN, 128), "registers kept")
        c.deviation("ctrl-rst",
                    "CTRL.RST does not reset the device: IMS, RCTL, TDLEN "
                    "... keep their values")
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    n.w(TDT, 1)
    c.expect_frames(ring[:1], "TX after CTRL.RST and re-init")
