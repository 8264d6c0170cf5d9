#!/usr/bin/python3
"""Deterministic device-level tests of QEMU's e1000 over the qtest protocol.

Usage:
  e1000_suite.py [--qemu PATH] [--props 'x-coalesce=on,...'] [-k PATTERN]
                 [--list] [-v]

Every test starts a fresh QEMU (`-machine pc -accel qtest`, no guest code
runs), brings the NIC up the way a BIOS and driver would (PCI config through
0xCF8/0xCFC, BAR0 at 0xFEBC0000, INTx routed to IOAPIC input 11), writes
descriptors and buffers into guest RAM, pokes registers through BAR0, and
checks what comes out of the stream netdev socket, what is written back into
guest RAM, the registers and the interrupt line.

Expected values come from the Intel 8254x Software Developer's Manual
(quoted as "SDM") or, for configurations the SDM leaves undefined, from the
semantics of QEMU's model (hw/net/e1000.c), stated as such.  Where upstream
QEMU visibly departs from the SDM the test checks for exactly the upstream
behaviour, says so in a comment and reports it as a DEVIATION line (keys in
DEVIATIONS, declared per test).  Such deviations are accepted for the
upstream device (no --props); with stage properties only if the same test
on the same binary without them reports the same (judge_deviations), or if
the stage documents it as its own (STAGE_DEVIATIONS).

The device may complete work later than the register write that triggered
it (interrupt coalescing, shadowed tail registers picked up by a poll timer,
a sidecore thread), so the tests wait for results -- stepping the virtual
clock and sleeping, both bounded -- instead of assuming the upstream
synchronous processing.  What must hold regardless: the same frames, in the
same order, none lost, none duplicated, the same write-backs and ICR bits.

Hostile tests additionally check that QEMU neither crashes, hangs nor spins:
every qtest request has a timeout, QEMU must still answer afterwards, no
frames may keep coming, and its CPU time must stop growing.
"""

import argparse
import os
import sys
import time
import traceback
import zlib

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qtestlib  # noqa: E402
from e1000 import *  # noqa: E402,F401,F403
from e1000 import E1000  # noqa: E402

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_QEMU = os.path.join(TOP, "build", "bin", "qemu-system-x86_64")

RAM_SIZE = 64 << 20          # -m 64 in qtestlib
TX_RING = 0x100000
RX_RING = 0x110000
TX_BUF = 0x200000            # 16 KiB per descriptor slot
RX_BUF = 0x1000000           # 16 KiB per descriptor slot
BIG_BUF = 0x800000           # large TX buffers (64 KiB each)
SLOT = 0x4000
UNMAPPED = 0xE0000000        # PCI hole, nothing decodes it
HZ = os.sysconf("SC_CLK_TCK")


class Fail(Exception):
    pass


TESTS = []


def test(hostile=False, deviations=()):
    """Register a test.  deviations: the keys of DEVIATIONS (upstream
    behaviour that departs from the SDM) or STAGE_DEVIATIONS this test may
    report; reporting any other key fails the test."""
    def reg(fn):
        for k in deviations:
            assert k in DEVIATIONS or k in STAGE_DEVIATIONS, k
        TESTS.append((fn.__name__[2:], fn, hostile, tuple(deviations)))
        return fn
    return reg


# Where upstream QEMU 10.0.2 departs from the SDM.  Accepted as such only
# for the upstream device (no extra properties).  With stage properties the
# same key is accepted only if the same test, run on the same binary
# without the properties, reports the same deviation: then the stage did
# not cause it.  (A deviation that only a stage shows is a failure.)
DEVIATIONS = {
    "tctl-psp": "TCTL.PSP ignored (hw/net/e1000.c xmit_seg)",
    "tx-null-addr": "null-address TX descriptor is DMA-read from address 0",
    "itr0-spacing": "ITR=0 still spaces interrupts (set_interrupt_cause)",
    "secrc-crc": "RCTL.SECRC=0 length counts CRC bytes never written",
    "rnbc": "RNBC counts drops only (e1000_receiver_overrun)",
    "stop-purge": "frames queued for a blocked backend purged at VM stop "
                  "(net/net.c net_vm_change_state_handler)",
    "ctrl-rst": "CTRL.RST only clears the bit (set_ctrl)",
    "tx-oversize": "TX frames above the SDM maximum of 16288 bytes are sent",
    "tx-64k-wrap": "16-bit TX size counter wraps above 64 KiB",
    "tx-zero-eop": "a zero-length EOP descriptor is sent as a 0-byte frame",
}
# Deviations that a stage documents as its own consequence: accepted only
# when that stage's property is on.
STAGE_DEVIATIONS = {
    # e1000-opt/e1000_shadow.c, qemu-patches/0004: while a ring page is
    # shadowed, a register read before the next sync returns the raw value
    # written, reserved bits included.
    "shadow-readback": "x-shadow-regs=on",
}


def stage_props(props):
    """The property=value items of a --props string."""
    return [p.strip() for p in props.split(",") if p.strip()]


def _fmt(v):
    if isinstance(v, int):
        return "%#x" % v
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return repr(v)


class Ctx:
    """Per-test state: the QEMU, the NIC and the bookkeeping."""

    def __init__(self, qemu, props, verbose, declared=()):
        self.qemu, self.props, self.verbose = qemu, props, verbose
        self.declared = declared
        self.checks = 0
        self.deviations = []        # (key, text), upstream behaviour
        self.stage_devs = []        # (key, text), documented stage effect
        self.bugs = []
        self.vm = None
        self.nic = None
        self.logtxt = ""

    def start(self):
        dev = "e1000,romfile=,netdev=n0,mac=52:54:00:12:34:56"
        if self.props:
            dev += "," + self.props
        # Assigned before start(): if QEMU refuses the device (an unknown
        # property or value), the failure report shows QEMU's log.
        self.vm = qtestlib.QemuVM(self.qemu, ["-device", dev])
        self.vm.start()
        self.nic = E1000(self.vm)
        self.bar_size = self.nic.bar_size()
        self.nic.enable()

    # -- assertions ------------------------------------------------------------

    def log(self, msg):
        if self.verbose:
            print("    " + msg)

    def ok(self, cond, what):
        self.checks += 1
        if not cond:
            raise Fail(what)
        self.log("ok: " + what)

    def eq(self, got, want, what):
        self.checks += 1
        if got != want:
            if isinstance(got, int) and isinstance(want, int):
                raise Fail("%s: got %#x, want %#x" % (what, got, want))
            raise Fail("%s: got %r, want %r" % (what, got, want))
        self.log("ok: %s" % what)

    def upstream_bug(self, key, what):
        """Upstream QEMU misbehaves here (not just differs from the SDM);
        accepted on the same terms as a deviation, reported loudly."""
        self._declared(key)
        self.bugs.append((key, what))
        self.log("UPSTREAM BUG: " + what)

    def _declared(self, key):
        if key not in self.declared:
            raise Fail("deviation %r reported but not declared by the "
                       "test" % key)

    def eq_all(self, triples):
        """Check every (got, want, what); fail once, listing all misses."""
        bad = []
        for got, want, what in triples:
            self.checks += 1
            if got != want:
                bad.append("%s: got %s, want %s" % (
                    what, _fmt(got), _fmt(want)))
            else:
                self.log("ok: " + what)
        if bad:
            raise Fail("; ".join(bad))

    def deviation(self, key, what):
        """Upstream QEMU departs from the SDM here (DEVIATIONS[key]); run()
        decides whether that is accepted for these properties."""
        self._declared(key)
        self.deviations.append((key, what))
        self.log("DEVIATION: " + what)

    def stage_deviation(self, key, what):
        """A documented consequence of a stage (STAGE_DEVIATIONS[key]):
        accepted only while that stage's property is set, else a failure."""
        self._declared(key)
        prop = STAGE_DEVIATIONS[key]
        if prop not in stage_props(self.props):
            raise Fail("%s (a deviation documented only for %s, which is "
                       "not set)" % (what, prop))
        self.stage_devs.append((key, what))
        self.log("DEVIATION (%s): %s" % (prop, what))

    # -- time ------------------------------------------------------------------

    def wait(self, cond, what, vbudget_ns=50_000_000, vstep_ns=100_000,
             real_s=5.0):
        """Wait until cond() is true: advance the virtual clock in small
        steps (device timers: mitigation, poll timers) up to vbudget_ns, and
        sleep (threads: sidecore) up to real_s.  Fails if it never holds."""
        deadline = time.monotonic() + real_s
        spent = 0
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                raise Fail("timed out waiting for " + what)
            if spent < vbudget_ns:
                self.vm.clock_step(vstep_ns)
                spent += vstep_ns
                if spent % (10 * vstep_ns) == 0:
                    time.sleep(0.0005)
            else:
                time.sleep(0.002)

    def drain(self, vns=2_000_000, real_s=0.03, vstep_ns=100_000):
        """Let any deferred device work happen (virtual and real time), so
        that "nothing happened" checks are meaningful."""
        for _ in range(vns // vstep_ns):
            self.vm.clock_step(vstep_ns)
        time.sleep(real_s)
        self.vm.clock_step(vstep_ns)

    # -- interrupts --------------------------------------------------------------

    def irq_mark(self):
        return len(self.vm.irq_snapshot())

    def irqs(self, since=0):
        return [w for (_, w, n) in self.vm.irq_snapshot()[since:]
                if n == self.nic.irq]

    def irq_up(self):
        return self.vm.irq_level.get(self.nic.irq, False)

    def wait_irq(self, level, what, **kw):
        self.wait(lambda: self.irq_up() == level, what, **kw)
        self.checks += 1

    # -- TX helpers --------------------------------------------------------------

    def tx_setup(self, ndesc=8, base=TX_RING, tctl=TCTL_DEFAULT, tdh=0,
                 zero=True):
        n = self.nic
        if zero:
            self.vm.memset(base, ndesc * DESC_SIZE, 0)
        n.w(TDBAL, base & 0xFFFFFFFF)
        n.w(TDBAH, base >> 32)
        n.w(TDLEN, ndesc * DESC_SIZE)
        n.w(TDH, tdh)
        n.w(TDT, tdh)
        n.w(TCTL, tctl)
        self.tx_base, self.tx_ndesc = base, ndesc

    def put_tx(self, i, data, cmd=TXD_CMD_STD, addr=None, length=None,
               base=None):
        """Descriptor i of the ring -> a buffer holding data."""
        base = self.tx_base if base is None else base
        if addr is None:
            addr = TX_BUF + i * SLOT
            self.vm.memwrite(addr, data)
        self.vm.memwrite(base + i * DESC_SIZE,
                         tx_desc(addr, len(data) if length is None else length,
                                 cmd))

    def tx_desc_at(self, i, base=None):
        base = self.tx_base if base is None else base
        return parse_tx_desc(self.vm.memread(base + i * DESC_SIZE, DESC_SIZE))

    def wait_tdh(self, want, what="TDH"):
        self.wait(lambda: self.nic.r(TDH) == want,
                  "%s to reach %d (at %d)" % (what, want, self.nic.r(TDH)))
        self.checks += 1

    def expect_frames(self, want, what="frames"):
        """Exactly these frames, in this order, and then nothing more."""
        try:
            self.wait(lambda: self.vm.frame_count() >= len(want),
                      "%d %s" % (len(want), what))
        except Fail as e:
            raise Fail("%s; %s" % (e, self._frames_diag(want)))
        self.drain()
        got = self.vm.take_frames()
        self.checks += 1
        if len(got) != len(want):
            self.vm.frames[:0] = got
            raise Fail("%s: got %d frames, want %d; %s" % (
                what, len(got), len(want), self._frames_diag(want)))
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                off = next((k for k in range(min(len(g), len(w)))
                            if g[k] != w[k]), min(len(g), len(w)))
                raise Fail("%s: frame %d differs (len %d vs %d, first "
                           "difference at byte %d)" % (what, i, len(g), len(w), off))
        self.log("ok: %d %s exact" % (len(want), what))
        return got

    def _frames_diag(self, want):
        """Which of the wanted frames came, for failure messages."""
        got = list(self.vm.frames)
        pos = {f: i for i, f in reversed(list(enumerate(want)))}
        idx = [pos.get(g, -1) for g in got]
        missing = sorted(set(range(len(want))) - set(idx))

        def ranges(xs):
            out, i = [], 0
            while i < len(xs):
                j = i
                while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
                    j += 1
                out.append(str(xs[i]) if i == j else "%d-%d" % (xs[i], xs[j]))
                i = j + 1
            return ",".join(out) or "none"
        try:
            regs = "TDH=%d TDT=%d GPTC+=%d" % (self.nic.r(TDH), self.nic.r(TDT),
                                             self.nic.r(GPTC))
        except qtestlib.QtestError as e:
            regs = "registers unreadable: %s" % e
        return ("got %d frames: missing %s, unexpected %d, duplicates %d, "
                "in order: %s; %s" % (len(got), ranges(missing), idx.count(-1),
                                      len(idx) - len(set(idx)),
                                      idx == sorted(idx), regs))

    def expect_no_frames(self, what="no frames"):
        self.drain()
        got = self.vm.take_frames()
        self.eq(len(got), 0, what)

    # -- RX helpers --------------------------------------------------------------

    def rx_setup(self, ndesc=8, base=RX_RING, rctl=RCTL_EN | RCTL_SECRC,
                 rdt=None, buf_fill=0xA5):
        n = self.nic
        descs = b"".join(rx_desc(RX_BUF + i * SLOT) for i in range(ndesc))
        self.vm.memwrite(base, descs)
        self.vm.memset(RX_BUF, ndesc * SLOT, buf_fill)
        n.w(RDBAL, base & 0xFFFFFFFF)
        n.w(RDBAH, base >> 32)
        n.w(RDLEN, ndesc * DESC_SIZE)
        n.w(RDH, 0)
        n.w(RDT, ndesc - 1 if rdt is None else rdt)
        self.rx_enable(rctl)
        self.rx_base, self.rx_ndesc = base, ndesc

    def rx_enable(self, rctl):
        self.nic.w(RCTL, rctl)
        # QEMU holds back reception for 1 s of virtual time after every RCTL
        # write (e1000.c set_rx_control / flush_queue_timer, a workaround
        # for guests that enable RX before the ring is ready).  Real
        # hardware receives at once; frames are queued, not lost, so only
        # timing differs.
        self.vm.clock_step(1_000_100_000)

    def rx_desc_at(self, i, base=None):
        base = self.rx_base if base is None else base
        return parse_rx_desc(self.vm.memread(base + i * DESC_SIZE, DESC_SIZE))

    def wait_rdh(self, want, what="RDH"):
        self.wait(lambda: self.nic.r(RDH) == want,
                  "%s to reach %d (at %d)" % (what, want, self.nic.r(RDH)))
        self.checks += 1

    def check_rx_desc(self, i, frame, eop=True, length=None, what=None):
        """SDM 3.2.3: length covers the data written; DD (and EOP on the
        last descriptor of a packet) set; errors 0.  IXSM (ignore checksum
        indication) may be set: QEMU's e1000 does no RX checksum offload and
        says so with IXSM, which the SDM allows."""
        what = what or "rx desc %d" % i
        d = self.rx_desc_at(i)
        self.eq(d["length"], len(frame) if length is None else length,
                what + " length")
        want = RXD_DD | (RXD_EOP if eop else 0)
        self.eq(d["status"] & ~RXD_IXSM, want, what + " status")
        if eop:
            self.eq(d["errors"], 0, what + " errors")
        got = self.vm.memread(d["addr"], len(frame)) if frame else b""
        self.ok(got == frame, what + " buffer holds the frame bytes")
        return d

    # -- hostile epilogue --------------------------------------------------------

    def alive_and_idle(self, what="after the sequence"):
        """QEMU answers, emits no more frames, and stops burning CPU."""
        self.vm.ping(timeout=5)
        self.checks += 1
        self.drain(vns=5_000_000, real_s=0.05)
        n = len(self.vm.take_frames())
        self.drain(vns=5_000_000, real_s=0.1)
        more = len(self.vm.take_frames())
        self.eq(more, 0, "no frames keep coming %s (%d late ones before)"
                % (what, n))
        self.cpu_settles(what)
        self.vm.ping(timeout=5)

    def cpu_settles(self, what, window=0.2, tries=6, max_share=0.3):
        """QEMU's CPU time (utime+stime, /proc/PID/stat) must stop growing:
        one of `tries` windows must see at most max_share of a CPU."""
        shares = []
        for _ in range(tries):
            t0, c0 = time.monotonic(), self.vm.cpu_ticks()
            time.sleep(window)
            t1, c1 = time.monotonic(), self.vm.cpu_ticks()
            share = (c1 - c0) / HZ / (t1 - t0)
            shares.append(share)
            if share <= max_share:
                self.checks += 1
                self.log("ok: CPU settles %s (%.0f%%)" % (what, share * 100))
                return
        raise Fail("QEMU keeps using CPU %s: %s" % (
            what, ", ".join("%.0f%%" % (s * 100) for s in shares)))


# ===========================================================================
# Basic behaviour (SDM-defined)
# ===========================================================================

@test()
def t_pci_and_reset_state(c):
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


@test()
def t_tx_basic(c):
    """5 frames of one descriptor each: exact bytes, DD, TDH, ICR, IRQ, stats."""
    n = c.nic
    c.tx_setup(ndesc=8)
    bcast, mcast = b"\xff" * 6, bytes.fromhex("01005e000001")
    frames = [make_frame(1, 60), make_frame(2, 64, dst=bcast),
              make_frame(3, 100, dst=mcast), make_frame(4, 1514),
              make_frame(5, 333)]
    for i, f in enumerate(frames):
        c.put_tx(i, f)
    n.w(IMS, ICR_TXDW)
    mark = c.irq_mark()
    n.w(TDT, len(frames))
    c.expect_frames(frames)
    c.wait_tdh(len(frames))
    for i, f in enumerate(frames):
        d = c.tx_desc_at(i)
        # SDM 3.3.3: DD written back for descriptors with RS; the rest of
        # the descriptor is left as software wrote it.
        c.eq(d["sta"], TXD_STA_DD, "desc %d STA = DD" % i)
        c.eq((d["addr"], d["length"], d["cmd"]),
             (TX_BUF + i * SLOT, len(f), TXD_CMD_STD), "desc %d fields kept" % i)
    for i in range(len(frames), 8):
        c.eq(c.tx_desc_at(i)["sta"], 0, "desc %d not touched" % i)
    c.eq(n.r(TDT), len(frames), "TDT unchanged")
    c.wait_irq(True, "IRQ raise after TX with IMS.TXDW")
    c.eq(c.irqs(mark), ["raise"], "exactly one raise")
    # TXDW: a descriptor with RS was written back; TXQE: queue ran empty.
    c.eq(n.r(ICR), ICR_TXDW | ICR_TXQE, "ICR = TXDW|TXQE")
    c.wait_irq(False, "IRQ lowered by the ICR read")
    c.eq(c.irqs(mark), ["raise", "lower"], "then exactly one lower")
    c.eq(n.r(ICR), 0, "ICR cleared by read")
    # Statistics registers (SDM chapter 13): octet counts include the FCS.
    c.eq(n.r(GPTC), 5, "GPTC")
    c.eq(n.r(TPT), 5, "TPT")
    c.eq(n.r(GOTCL), sum(len(f) + 4 for f in frames), "GOTCL")
    c.eq(n.r(GOTCH), 0, "GOTCH")
    c.eq(n.r(GOTCL), 0, "GOTCL cleared by reading GOTCH")
    c.eq([n.r(r) for r in (PTC64, PTC127, PTC255, PTC511, PTC1023, PTC1522)],
         [1, 2, 0, 1, 0, 1], "PTC64..PTC1522 size bins")
    c.eq(n.r(BPTC), 1, "BPTC")
    c.eq(n.r(MPTC), 1, "MPTC")
    c.eq(n.r(GPTC), 0, "GPTC clears on read")


@test()
def t_tx_wrap(c):
    """Two batches of 6 on a ring of 8: the second wraps (6,7,0,1,2,3)."""
    n = c.nic
    c.tx_setup(ndesc=8)
    first = [make_frame(100 + i, 80 + i) for i in range(6)]
    for i, f in enumerate(first):
        c.put_tx(i, f)
    n.w(TDT, 6)
    c.expect_frames(first, "first batch")
    c.wait_tdh(6)
    second = [make_frame(200 + i, 90 + 3 * i) for i in range(6)]
    idx = [(6 + i) % 8 for i in range(6)]
    for i, f in zip(idx, second):
        c.put_tx(i, f)
    n.w(TDT, 4)
    c.expect_frames(second, "wrapped batch")
    c.wait_tdh(4)
    for i in range(8):
        c.eq(c.tx_desc_at(i)["sta"], TXD_STA_DD, "desc %d DD" % i)


@test()
def t_tx_multi_desc(c):
    """One packet from 4 descriptors, one of them zero-length (SDM 3.3.3:
    'descriptors with zero length transfer no data', DD if RS)."""
    n = c.nic
    c.tx_setup(ndesc=8)
    f = make_frame(7, 600)
    parts = [f[:14], b"", f[14:514], f[514:]]
    for i, p in enumerate(parts):
        c.put_tx(i, p, cmd=TXD_RS | (TXD_EOP | TXD_IFCS if i == 3 else 0))
    n.w(TDT, 4)
    c.expect_frames([f])
    c.wait_tdh(4)
    for i in range(4):
        c.eq(c.tx_desc_at(i)["sta"], TXD_STA_DD, "desc %d DD" % i)
    # Second packet: only the last descriptor has RS.
    g = make_frame(8, 300)
    for i, p in enumerate([g[:100], g[100:200], g[200:]]):
        c.put_tx(4 + i, p, cmd=(TXD_EOP | TXD_IFCS | TXD_RS) if i == 2 else 0)
    n.w(TDT, 7)
    c.expect_frames([g])
    c.wait_tdh(7)
    c.eq([c.tx_desc_at(i)["sta"] for i in (4, 5, 6)], [0, 0, TXD_STA_DD],
         "DD only where RS was set (SDM: 'hardware only sets DD for "
         "descriptors with RS set')")


@test()
def t_tx_no_rs(c):
    """Without RS: frames go out, nothing is written back, no TXDW."""
    n = c.nic
    c.tx_setup(ndesc=8)
    frames = [make_frame(20 + i, 70 + i) for i in range(3)]
    for i, f in enumerate(frames):
        c.put_tx(i, f, cmd=TXD_EOP | TXD_IFCS)
    before = c.vm.memread(TX_RING, 8 * DESC_SIZE)
    n.w(IMS, ICR_TXDW)
    mark = c.irq_mark()
    n.w(TDT, 3)
    c.expect_frames(frames)
    c.wait_tdh(3)
    c.eq(c.vm.memread(TX_RING, 8 * DESC_SIZE), before,
         "descriptor ring byte-identical (no write-back without RS)")
    c.eq(c.irqs(mark), [], "no interrupt (TXDW not caused, TXQE masked)")
    c.eq(n.r(ICR), ICR_TXQE, "ICR = TXQE only")


@test()
def t_tx_enable_later(c):
    """TDT moved while TCTL.EN=0: nothing goes out until EN is set."""
    n = c.nic
    c.tx_setup(ndesc=8, tctl=TCTL_DEFAULT & ~TCTL_EN)
    frames = [make_frame(30 + i, 100) for i in range(3)]
    for i, f in enumerate(frames):
        c.put_tx(i, f)
    n.w(TDT, 3)
    c.expect_no_frames("nothing sent while TCTL.EN=0")
    c.eq(n.r(TDH), 0, "TDH stays while disabled")
    n.w(TCTL, TCTL_DEFAULT)
    c.expect_frames(frames, "frames after TCTL.EN")
    c.wait_tdh(3)


@test(deviations=("tctl-psp",))
def t_tx_short_frame_padding(c):
    """SDM TCTL.PSP: 'pad short packets' to 64 bytes including the FCS,
    i.e. 60 bytes on a wire without FCS."""
    n = c.nic
    c.tx_setup(ndesc=8)
    f = make_frame(40, 42)
    c.put_tx(0, f)
    n.w(TDT, 1)
    c.wait(lambda: c.vm.frame_count() >= 1, "the short frame")
    c.drain()
    got = c.vm.take_frames()
    c.eq(len(got), 1, "one frame")
    if got[0] == f + bytes(60 - len(f)):
        c.ok(True, "short frame padded to 60 bytes")
    else:
        # Upstream e1000 ignores TCTL.PSP and hands the 42-byte frame to
        # the backend unpadded (hw/net/e1000.c xmit_seg).
        c.eq(got[0], f, "short frame bytes")
        c.deviation("tctl-psp",
                    "TCTL.PSP ignored: a 42-byte frame is sent unpadded "
                    "(SDM: padded to 64 bytes with FCS)")
    c.wait_tdh(1)


@test(deviations=("tx-null-addr",))
def t_tx_null_address(c):
    """SDM 3.3.3 note 3: 'Descriptors with the null address or zero length
    transfer no data.'"""
    n = c.nic
    c.tx_setup(ndesc=8)
    c.vm.memwrite(0, b"\xee" * 64)    # what a null-address read would see
    f = make_frame(41, 120)
    c.put_tx(0, f[:60], cmd=TXD_RS)
    c.put_tx(1, b"\x00" * 20, cmd=TXD_RS, addr=0)       # null address, len 20
    c.put_tx(2, f[60:], cmd=TXD_CMD_STD)
    n.w(TDT, 3)
    c.wait(lambda: c.vm.frame_count() >= 1, "the frame")
    c.drain()
    got = c.vm.take_frames()
    c.eq(len(got), 1, "one frame")
    if got[0] == f:
        c.ok(True, "null-address descriptor contributed no data")
    else:
        # Upstream DMA-reads `length` bytes from guest physical address 0.
        c.eq(got[0], f[:60] + b"\xee" * 20 + f[60:], "frame bytes")
        c.deviation("tx-null-addr",
                    "TX descriptor with null buffer address: upstream reads "
                    "its length from guest address 0 (SDM: transfers no data)")
    c.wait_tdh(3)
    c.eq([c.tx_desc_at(i)["sta"] for i in range(3)], [TXD_STA_DD] * 3,
         "DD on all three (RS set)")


@test(deviations=("itr0-spacing",))
def t_irq_registers(c):
    """ICS/IMS/IMC/ICR semantics and the INTx line (SDM registers)."""
    n = c.nic
    n.w(IMS, ICR_TXDW)
    n.w(IMS, ICR_LSC)
    c.eq(n.r(IMS), ICR_TXDW | ICR_LSC, "IMS writes OR into the mask")
    n.w(IMC, ICR_TXDW)
    c.eq(n.r(IMS), ICR_LSC, "IMC clears mask bits")
    mark = c.irq_mark()
    n.w(ICS, ICR_LSC)
    c.wait_irq(True, "raise on ICS of an unmasked cause")
    c.eq(n.r(ICR), ICR_LSC, "ICR = LSC")
    c.wait_irq(False, "lower on ICR read")
    c.eq(n.r(ICR), 0, "ICR read clears")
    # ITR = 0: "interrupt throttling disabled" (SDM), so a new cause is
    # asserted at once.
    t0 = c.vm.clock_now()
    n.w(ICS, ICR_LSC)
    t1 = _when(c, c.irq_up, "second LSC interrupt", 5_000, real_first_s=0.05)
    if t1 - t0 > 5_000:
        # set_interrupt_cause(): after an assertion QEMU holds the next one
        # for max(ITR, 500) x 256 ns, "According to e1000 SPEC ... maximum
        # observable interrupt rate of 7813 interrupts/sec" -- also with
        # ITR = 0.
        c.ok(t1 - t0 <= 128_000 + 5_000, "held at most 128 us (%d ns)"
             % (t1 - t0))
        c.deviation("itr0-spacing",
                    "ITR=0 still spaces interrupt assertions ~%d us apart "
                    "(SDM: ITR=0 disables throttling)" % ((t1 - t0) // 1000))
    c.eq(n.r(ICR), ICR_LSC, "ICR = LSC again")
    c.wait_irq(False, "lower on ICR read")
    c.drain()   # leave QEMU's 128 us minimum inter-interrupt window
    n.w(ICS, ICR_RXT0)
    c.drain()
    c.eq(c.irqs(mark), ["raise", "lower"] * 2, "masked cause raises nothing")
    n.w(IMS, ICR_RXT0)
    c.wait_irq(True, "raise when the pending cause gets unmasked")
    n.w(IMC, ICR_RXT0)
    c.wait_irq(False, "lower when the pending cause gets masked")
    c.eq(n.r(ICR), ICR_RXT0, "cause still pending in ICR")
    c.drain()
    n.w(ICS, ICR_RXT0 | ICR_LSC | ICR_TXDW)
    n.w(ICR, ICR_RXT0)           # writing 1s to ICR clears those bits
    c.eq(n.r(ICR), ICR_LSC | ICR_TXDW, "ICR write-1-to-clear")
    c.drain()
    c.eq(c.irqs(mark), ["raise", "lower"] * 4, "IRQ line history")


def _when(c, cond, what, vstep_ns, vbudget_ns=20_000_000, real_first_s=0.3):
    """Virtual time at which cond() first held.  Waits in real time first
    (without moving the virtual clock: threads such as a sidecore act in
    real time), then steps the clock by vstep_ns.  qtest answers in order,
    so after the reply to clock_set every earlier IRQ message has been read:
    the result is exact for things done outside clock steps and an upper
    bound with resolution vstep_ns for things done by timers."""
    t_real = time.monotonic() + real_first_s
    start = c.vm.clock_now()
    while True:
        now = c.vm.clock_now()
        if cond():
            return now
        if time.monotonic() < t_real:
            time.sleep(0.0005)
            continue
        if now - start > vbudget_ns:
            raise Fail("%s: not within %d us of virtual time"
                       % (what, vbudget_ns // 1000))
        c.vm.clock_step(vstep_ns)


@test()
def t_tx_itr_throttle(c):
    """ITR = 2000 (x 256 ns = 512 us): the interrupt for a lone packet is
    not delayed (no IDE, so no TIDV/TADV delay either), and no two
    assertions are closer than 512 us (SDM, ITR: the minimum
    inter-interrupt interval); the second comes when the interval ends."""
    n = c.nic
    res = 5_000                  # measurement resolution (ns)
    interval = 2000 * 256
    n.w(ITR, 2000)
    c.tx_setup(ndesc=8)
    frames = [make_frame(50 + i, 80) for i in range(2)]
    for i, f in enumerate(frames):
        c.put_tx(i, f)
    n.w(IMS, ICR_TXDW)
    n.w(TDT, 1)
    t_tx = _when(c, lambda: n.r(TDH) == 1, "TX of the first packet", res)
    t_first = _when(c, c.irq_up, "first interrupt", res)
    c.ok(t_first - t_tx <= res, "interrupt for a lone packet not delayed "
         "(%d ns of virtual time after its TX)" % (t_first - t_tx))
    c.eq(n.r(ICR), ICR_TXDW | ICR_TXQE, "ICR")
    c.wait_irq(False, "lowered by ICR read")
    n.w(TDT, 2)
    t_tx2 = _when(c, lambda: n.r(TDH) == 2, "TX of the second packet", res)
    t_second = _when(c, c.irq_up, "second interrupt", res)
    c.ok(t_second - t_first >= interval - res,
         "second interrupt %d ns after the first (>= %d)"
         % (t_second - t_first, interval))
    c.ok(t_second <= max(t_tx2, t_first + interval) + 20_000_000,
         "second interrupt within 20 ms of the interval's end")
    if not c.props:
        c.ok(t_second - t_first <= interval + res,
             "upstream: asserted right when the interval ends (%d ns)"
             % (t_second - t_first))
    c.expect_frames(frames)


@test()
def t_rx_basic(c):
    n = c.nic
    c.rx_setup(ndesc=8, rctl=RCTL_EN | RCTL_BAM | RCTL_SECRC)
    n.w(IMS, ICR_RXT0)
    mark = c.irq_mark()
    frames = [make_frame(60, 60, dst=DEV_MAC, src=PEER_MAC),
              make_frame(61, 1514, dst=b"\xff" * 6, src=PEER_MAC),
              make_frame(62, 200, dst=DEV_MAC, src=PEER_MAC)]
    for f in frames:
        c.vm.send_frame(f)
    c.wait_rdh(3)
    for i, f in enumerate(frames):
        c.check_rx_desc(i, f)
        tail = c.vm.memread(RX_BUF + i * SLOT + len(f), 16)
        c.eq(tail, b"\xa5" * 16, "rx buffer %d untouched past the frame "
             "(SECRC: no CRC stored)" % i)
    c.eq(c.rx_desc_at(3)["status"], 0, "desc 3 not used")
    c.wait_irq(True, "RX interrupt")
    # RXT0: receiver timer (RDTR=0: immediately); RXDMT0: free descriptors
    # (RDT-RDH = 4) reached RCTL.RDMTS = 1/2 of the ring (8).
    c.eq(n.r(ICR), ICR_RXT0 | ICR_RXDMT0, "ICR = RXT0|RXDMT0")
    c.wait_irq(False, "lowered by ICR read")
    c.eq(c.irqs(mark), ["raise", "lower"], "one raise, one lower")
    c.eq(n.r(GPRC), 3, "GPRC")
    c.eq(n.r(TPR), 3, "TPR")
    c.eq(n.r(BPRC), 1, "BPRC")
    c.eq(n.r(GORCL), sum(len(f) + 4 for f in frames), "GORCL (with FCS)")
    c.eq(n.r(RDT), 7, "RDT unchanged")


@test()
def t_rx_multi_buffer(c):
    """A 5000-byte frame over 2048-byte buffers: 2048+2048+904 (SDM 3.2.3:
    status valid only with EOP; non-EOP descriptors: address, length, DD)."""
    n = c.nic
    c.rx_setup(ndesc=8, rctl=RCTL_EN | RCTL_LPE | RCTL_SECRC | RCTL_BSIZE_2048)
    big = make_frame(70, 5000, dst=DEV_MAC, src=PEER_MAC)
    exact = make_frame(71, 2048, dst=DEV_MAC, src=PEER_MAC)
    c.vm.send_frame(big)
    c.vm.send_frame(exact)
    c.wait_rdh(4)
    c.check_rx_desc(0, big[:2048], eop=False)
    c.check_rx_desc(1, big[2048:4096], eop=False)
    c.check_rx_desc(2, big[4096:])
    c.check_rx_desc(3, exact, what="2048-byte frame in one buffer")
    c.eq(n.r(GPRC), 2, "GPRC counts packets, not descriptors")


@test(deviations=("secrc-crc",))
def t_rx_crc_kept(c):
    """RCTL.SECRC=0: the length includes the 4 CRC bytes (SDM 3.2.3)."""
    c.rx_setup(ndesc=8, rctl=RCTL_EN)
    f = make_frame(80, 100, dst=DEV_MAC, src=PEER_MAC)
    c.vm.send_frame(f)
    c.wait_rdh(1)
    d = c.rx_desc_at(0)
    c.eq(d["length"], len(f) + 4, "length includes CRC")
    c.eq(d["status"] & ~RXD_IXSM, RXD_DD | RXD_EOP, "status")
    data = c.vm.memread(RX_BUF, len(f) + 4)
    c.eq(data[:len(f)], f, "frame bytes")
    crc = zlib.crc32(f).to_bytes(4, "little")
    if data[len(f):] != crc:
        # Backends carry no FCS; QEMU counts it in the length but leaves the
        # 4 bytes untouched (hw/net/e1000x_common.h e1000x_fcs_len).
        c.eq(data[len(f):], b"\xa5" * 4, "CRC bytes")
        c.deviation("secrc-crc",
                    "RCTL.SECRC=0: length counts 4 CRC bytes that are never "
                    "written to the buffer (stale memory)")


@test()
def t_rx_filter(c):
    """SDM receive filtering: exact match (RAL/RAH), multicast table
    (RCTL.MO=00 hashes DA bits 47:36), RCTL.BAM, RCTL.UPE, RCTL.MPE."""
    n = c.nic
    mc_ok = bytes.fromhex("01005e0a0b0c")
    mc_bad = bytes.fromhex("01005e0d0e0f")
    h = mta_hash_mo0(mc_ok)
    c.ok(h != mta_hash_mo0(mc_bad), "distinct MTA hashes")
    n.w(MTA + 4 * (h >> 5), 1 << (h & 31))
    c.rx_setup(ndesc=8, rctl=RCTL_EN | RCTL_SECRC)
    other = make_frame(90, 80, dst=bytes.fromhex("525400999999"))
    bc = make_frame(91, 80, dst=b"\xff" * 6)
    mbad = make_frame(92, 80, dst=mc_bad)
    mine = make_frame(93, 80, dst=DEV_MAC)
    mgood = make_frame(94, 80, dst=mc_ok)
    for f in (other, bc, mbad, mine, mgood):
        c.vm.send_frame(f)
    c.wait_rdh(2)
    c.drain()
    c.eq(n.r(RDH), 2, "only the two matching frames were taken")
    c.check_rx_desc(0, mine, what="unicast to RAL0/RAH0")
    c.check_rx_desc(1, mgood, what="multicast in MTA")
    c.eq(n.r(MPRC), 1, "MPRC")
    c.rx_enable(RCTL_EN | RCTL_SECRC | RCTL_UPE | RCTL_BAM)
    c.vm.send_frame(other)
    c.vm.send_frame(bc)
    c.wait_rdh(4)
    c.check_rx_desc(2, other, what="unicast with UPE")
    c.check_rx_desc(3, bc, what="broadcast with BAM")


@test(deviations=("rnbc",))
def t_rx_no_buffers(c):
    """RDH == RDT: no buffer, the frame waits (SDM: held in the on-chip
    FIFO while it has room) and lands once software advances RDT."""
    n = c.nic
    c.rx_setup(ndesc=8, rdt=0)
    n.w(IMS, ICR_RXT0)
    f = make_frame(100, 300, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.drain(vns=5_000_000, real_s=0.1)
    c.eq(n.r(RDH), 0, "RDH stays while there is no buffer")
    c.eq(c.rx_desc_at(0)["status"], 0, "descriptor 0 untouched")
    icr = n.r(ICR)
    c.eq(icr & (ICR_RXT0 | ICR_RXO), 0, "no RXT0/RXO yet")
    rnbc = n.r(RNBC)
    if rnbc != 1:
        # SDM, RNBC register: counts frames that arrived while RDH == RDT.
        # QEMU only counts it when it drops a frame (e1000_receiver_overrun).
        c.eq(rnbc, 0, "RNBC")
        c.deviation("rnbc",
                    "RNBC not incremented when a frame arrives with no RX "
                    "buffer (RDH == RDT)")
    n.w(RDT, 4)
    c.wait_rdh(1)
    c.check_rx_desc(0, f)
    c.wait_irq(True, "RX interrupt after RDT moved")
    c.eq(n.r(ICR) & ICR_RXT0, ICR_RXT0, "ICR.RXT0")
    c.eq(n.r(RNBC), 0, "RNBC cleared by read" if rnbc else "RNBC")


@test()
def t_rx_oversize(c):
    """Without LPE the largest frame is 1522 bytes with FCS (SDM: RCTL.LPE);
    longer ones are dropped and counted in ROC."""
    n = c.nic
    c.rx_setup(ndesc=8, rctl=RCTL_EN | RCTL_SECRC)
    too_big = make_frame(110, 1519, dst=DEV_MAC)
    largest = make_frame(111, 1518, dst=DEV_MAC)
    c.vm.send_frame(too_big)
    c.vm.send_frame(largest)
    c.wait_rdh(1)
    c.drain()
    c.eq(n.r(RDH), 1, "only one frame taken")
    c.check_rx_desc(0, largest, what="1518+4 byte frame")
    c.eq(n.r(ROC), 1, "ROC counts the oversized frame")


@test()
def t_rx_refill_loop(c):
    """A driver refilling the RX ring: 30 rounds of 5 (or 9: more than the
    7 free buffers, so 2 wait for the refill) frames; after each batch the
    used descriptors are re-armed and RDT moved to just behind RDH.  Every
    frame lands exactly once, in order, in the right descriptor."""
    n = c.nic
    c.rx_setup(ndesc=8, rdt=7)
    n.w(RDT, 7)                       # a tail write with RX enabled
    seq, rdh, rdt, total = 2000, 0, 7, 0
    pending = []
    for rnd in range(30):
        for _ in range(9 if rnd % 3 == 2 else 5):
            f = make_frame(seq, 60 + (seq * 37) % 1400, dst=DEV_MAC)
            seq += 1
            c.vm.send_frame(f)
            pending.append(f)
        while pending:
            m = min((rdt - rdh) % 8, len(pending))
            target = (rdh + m) % 8
            c.wait_rdh(target, "RDH in round %d" % rnd)
            for j in range(m):
                i = (rdh + j) % 8
                f = pending.pop(0)
                d = c.rx_desc_at(i)
                c.ok(d["length"] == len(f) and d["status"] & RXD_EOP and
                     c.vm.memread(RX_BUF + i * SLOT, len(f)) == f,
                     "round %d: frame in descriptor %d" % (rnd, i))
                c.vm.memwrite(RX_RING + i * DESC_SIZE, rx_desc(RX_BUF + i * SLOT))
                total += 1
            rdh = target
            rdt = (rdh - 1) % 8
            n.w(RDT, rdt)
    c.drain()
    c.eq(n.r(RDH), rdh, "nothing more received")
    c.eq(n.r(GPRC), total, "GPRC")
    c.eq(n.r(ICR) & ICR_RXO, 0, "no overrun")


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


@test(deviations=("shadow-readback",))
def t_ring_page_regs_while_busy(c):
    """Registers on the ring pages other than the tails, written right
    after tail writes while both rings run (FreeBSD's em driver retunes
    RDTR/RADV/TADV at run time through sysctl): they keep what was written
    (16 bits), read back at once and after the rings went idle."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
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


@test(deviations=("shadow-readback",))
def t_tail_reserved_bits_busy(c):
    """Tail writes with bits 31:16 set while both rings run: the tails
    read back 16 bits (SDM: RDT/TDT bits 31:16 reserved, read as 0) and
    the device uses 16 bits."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
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


@test()
def t_system_reset_busy(c):
    """QMP system_reset with both rings running and an interrupt pending:
    registers back to their reset values, line low, and the device works
    again after re-initialisation, with nothing sent in between."""
    n = c.nic
    n.w(IMS, ICR_TXDW | ICR_RXT0)
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
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
    again = _fill_ring(c, 8, seq0=910)
    n.w(TDT, 3)
    c.expect_frames(again[:3], "TX after reset")
    c.wait_tdh(3)
    c.wait_irq(True, "TX interrupt after reset")
    c.rx_setup(ndesc=8)
    f = make_frame(920, 100, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.wait_rdh(1)
    c.check_rx_desc(0, f)


@test()
def t_stop_cont(c):
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


@test(deviations=("stop-purge",))
def t_tx_backpressure(c):
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


@test()
def t_link_down_up(c):
    """QMP set_link off/on: STATUS.LU follows, LSC interrupts; nothing
    reaches the network while the link is down; TX works after link up
    (QEMU re-runs a 500 ms auto-negotiation first)."""
    n = c.nic
    n.w(IMS, ICR_LSC | ICR_TXDW)
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
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


@test(deviations=("ctrl-rst",))
def t_ctrl_rst(c):
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
    ring = _fill_ring(c, 8)
    n.w(TDT, 1)
    c.expect_frames(ring[:1], "TX after CTRL.RST and re-init")


# ===========================================================================
# Hostile inputs.  The SDM leaves most of these undefined; the guest must
# get bounded, sane behaviour and QEMU must survive without spinning.
# ===========================================================================

def _fill_ring(c, ndesc, seq0=0, length=90):
    frames = [make_frame(seq0 + i, length) for i in range(ndesc)]
    for i, f in enumerate(frames):
        c.put_tx(i, f)
    return frames


def _check_prefix_of_cycle(c, got, ring, start, what):
    """Frames must be ring descriptors start, start+1, ... in order."""
    for k, g in enumerate(got):
        want = ring[(start + k) % len(ring)]
        if g != want:
            raise Fail("%s: frame %d is not ring descriptor %d"
                       % (what, k, (start + k) % len(ring)))
    c.checks += 1


@test(hostile=True)
def t_h_tdlen_zero(c):
    """TDLEN = 0 with TDT != TDH.  QEMU model: each tail write processes at
    most the descriptor at TDH (then TDH wraps to 0 and the loop stops);
    a poller must not resend it forever."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
    n.w(TDLEN, 0)
    c.eq(n.r(TDLEN), 0, "TDLEN reads 0")
    kicks = 3
    for _ in range(kicks):
        n.w(TDT, 1)
        c.drain()
    got = c.vm.take_frames()
    c.ok(len(got) <= kicks, "at most one frame per tail write (%d)" % len(got))
    for g in got:
        c.eq(g, ring[0], "only descriptor 0 can be sent")
    c.eq(n.r(TDH), 0, "TDH stays 0")
    c.alive_and_idle()


@test(hostile=True)
def t_h_tdlen_unaligned(c):
    """SDM, TDLEN register: bits 6:0 are ignored (the ring is a multiple of
    128 bytes = 8 descriptors); bits 31:20 reserved."""
    n = c.nic
    c.tx_setup(ndesc=8)
    n.w(TDLEN, 200)
    c.eq(n.r(TDLEN), 128, "TDLEN 200 reads back 128")
    n.w(TDLEN, 0x7F)
    c.eq(n.r(TDLEN), 0, "TDLEN 0x7f reads back 0")
    n.w(TDLEN, 0xFFFFFFFF)
    c.eq(n.r(TDLEN), 0xFFF80, "TDLEN all-ones reads back 0xfff80")
    n.w(TDLEN, 200)
    ring = _fill_ring(c, 8)
    n.w(TDH, 6)
    n.w(TDT, 6)
    n.w(TDT, 2)
    c.expect_frames([ring[6], ring[7], ring[0], ring[1]],
                    "ring of 8 wraps after descriptor 7")
    c.wait_tdh(2)
    c.alive_and_idle()


@test(hostile=True)
def t_h_tdt_beyond_ring(c):
    """TDT = 20 on a ring of 8: TDH can never equal TDT.  QEMU model: one
    pass over the ring per tail write (stops when TDH returns to where it
    started).  Bounded, then recovery with a sane TDT."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
    n.w(TDT, 20)
    c.eq(n.r(TDT), 20, "TDT holds 20")
    c.drain(vns=5_000_000, real_s=0.1)
    got = c.vm.take_frames()
    c.ok(len(got) <= 8, "at most one pass over the ring (%d frames)" % len(got))
    _check_prefix_of_cycle(c, got, ring, 0, "TDT beyond ring")
    tdh = n.r(TDH)
    c.ok(tdh < 8, "TDH inside the ring (%d)" % tdh)
    c.alive_and_idle()
    # Recovery: software resynchronises TDT to TDH, then sends two frames.
    n.w(TDT, tdh)
    c.drain()
    c.vm.take_frames()
    new = [make_frame(300 + i, 77) for i in range(2)]
    for k, f in enumerate(new):
        c.put_tx((tdh + k) % 8, f)
    n.w(TDT, (tdh + 2) % 8)
    c.expect_frames(new, "after resync")
    c.wait_tdh((tdh + 2) % 8)
    # Tail writes keep only 16 bits (SDM: TDT bits 31:16 reserved).
    n.w(TDT, 0x10000 | ((tdh + 2) % 8))
    c.eq(n.r(TDT), (tdh + 2) % 8, "TDT keeps 16 bits")
    c.expect_no_frames("upper TDT bits do not move the tail")


@test(hostile=True)
def t_h_tdh_beyond_ring(c):
    """TDH = 20 on a ring of 8 (outside the ring).  QEMU model: the
    descriptor at index 20 is fetched once, then TDH restarts at 0."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
    outside = make_frame(399, 95)
    c.vm.memwrite(TX_BUF + 20 * SLOT, outside)
    c.vm.memwrite(TX_RING + 20 * DESC_SIZE, tx_desc(TX_BUF + 20 * SLOT, 95))
    n.w(TDH, 20)
    c.eq(n.r(TDH), 20, "TDH holds 20")
    n.w(TDT, 2)
    c.drain(vns=5_000_000, real_s=0.1)
    got = c.vm.take_frames()
    c.ok(len(got) <= 1 + 8, "bounded (%d frames)" % len(got))
    for g in got:
        c.ok(g == outside or g in ring, "frames come from descriptors")
    c.ok(n.r(TDH) < 8 or n.r(TDH) == 20, "TDH sane (%d)" % n.r(TDH))
    c.alive_and_idle()


@test(hostile=True)
def t_h_tdt_equals_tdh(c):
    """TDT == TDH means an empty ring: nothing is sent or written back."""
    n = c.nic
    c.tx_setup(ndesc=8, tdh=3)
    _fill_ring(c, 8)
    before = c.vm.memread(TX_RING, 8 * DESC_SIZE)
    for _ in range(5):
        n.w(TDT, 3)
    n.w(TCTL, TCTL_DEFAULT)
    c.expect_no_frames("empty ring sends nothing")
    c.eq(n.r(TDH), 3, "TDH unchanged")
    c.eq(c.vm.memread(TX_RING, 8 * DESC_SIZE), before, "no write-back")
    icr = n.r(ICR)
    c.eq(icr & ICR_TXDW, 0, "no TXDW")
    # Upstream sets TXQE on every tail/TCTL write even when nothing was
    # queued (start_xmit starts with cause = TXQE).  Harmless (drivers do
    # not unmask TXQE) and arguably "the queue is empty"; not reported.
    c.alive_and_idle()


@test(hostile=True)
def t_h_tx_buffer_own_mmio(c):
    """Buffers inside the NIC's own BAR0 (peer-to-peer DMA to itself,
    undefined in the SDM).  Upstream: QEMU's re-entrancy guard blocks the
    access and reads zeros; with a RAM-backed register page the bytes are
    register contents.  Either way: frames of the given length, DD, no
    side effects on the device."""
    n = c.nic
    c.tx_setup(ndesc=8)
    normal = make_frame(500, 90)
    c.put_tx(0, b"", addr=BAR0 + 0x0000, length=64)      # CTRL..(no ICR)
    c.put_tx(1, b"", addr=BAR0 + 0x3800, length=32)      # TX ring registers
    c.put_tx(2, b"", addr=BAR0 + 0x2800, length=32)      # RX ring registers
    c.put_tx(3, b"", addr=BAR0 + BAR0_SIZE - 16, length=64)  # runs off BAR0
    c.put_tx(4, normal)
    n.w(TDT, 5)
    c.wait(lambda: c.vm.frame_count() >= 5, "5 frames")
    got = c.vm.take_frames()
    c.eq([len(g) for g in got], [64, 32, 32, 64, 90], "frame lengths")
    c.eq(got[4], normal, "the normal frame after them")
    c.wait_tdh(5)
    c.eq([c.tx_desc_at(i)["sta"] for i in range(5)], [TXD_STA_DD] * 5, "DD")
    c.eq((n.r(TDBAL), n.r(TDLEN), n.r(TDT)), (TX_RING, 128, 5),
         "TX registers intact")
    c.alive_and_idle()


@test(hostile=True)
def t_h_tx_buffer_outside_ram(c):
    """Buffers in unmapped space, beyond RAM, straddling the end of RAM and
    wrapping past 2^64: the frame keeps its length (master abort data is
    not defined: not checked), bytes that are in RAM are exact."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ram_part = make_frame(510, 64)
    c.vm.memwrite(RAM_SIZE - 64, ram_part)
    cases = [(UNMAPPED, 100), (RAM_SIZE + 0x1000, 100), (1 << 40, 100),
             (RAM_SIZE - 64, 128), (0xFFFFFFFFFFFFFFC0, 128),
             (0xFFFFFFFFFFFFF000, 0x2000)]
    for i, (addr, length) in enumerate(cases):
        c.put_tx(i, b"", addr=addr, length=length)
    normal = make_frame(511, 90)
    c.put_tx(len(cases), normal)
    n.w(TDT, len(cases) + 1)
    c.wait(lambda: c.vm.frame_count() >= len(cases) + 1, "all frames")
    got = c.vm.take_frames()
    c.eq([len(g) for g in got], [l for _, l in cases] + [90], "frame lengths")
    c.eq(got[3][:64], ram_part, "bytes still in RAM are exact")
    c.eq(got[-1], normal, "the normal frame after them")
    c.wait_tdh(len(cases) + 1)
    c.alive_and_idle()


@test(hostile=True)
def t_h_tx_ring_in_own_bar(c):
    """The TX descriptor ring itself placed on BAR0's TX register page
    (descriptors alias TDBAL/TDBAH/TDLEN/TDH/TDT...).  Undefined; must stay
    bounded.  Upstream reads zeros (re-entrancy guard): zero-length
    descriptors without EOP, nothing sent."""
    n = c.nic
    c.tx_setup(ndesc=8, base=BAR0 + 0x3800, zero=False)
    c.eq(n.r(TDBAL), BAR0 + 0x3800, "TDBAL holds the BAR address")
    for t in (1, 5, 7, 3):
        n.w(TDT, t)
        c.drain()
    got = c.vm.take_frames()
    c.ok(len(got) <= 16, "bounded (%d frames)" % len(got))
    c.alive_and_idle()


@test(hostile=True)
def t_h_tx_ring_outside_ram(c):
    """Descriptor ring in unmapped space / at the top of the 64-bit space
    (wrapping to 0).  Descriptors read as zeros upstream: nothing sent."""
    n = c.nic
    c.vm.memset(0, 0x1000, 0)
    for base in (UNMAPPED, 0xFFFFFFFFFFFFFFC0, 1 << 44):
        c.tx_setup(ndesc=8, base=base, zero=False)
        n.w(TDT, 6)
        c.drain()
        got = c.vm.take_frames()
        c.ok(len(got) <= 6, "bounded for ring at %#x (%d frames)"
             % (base, len(got)))
        c.wait_tdh(6)
    c.alive_and_idle()


@test(hostile=True)
def t_h_tdt_chasing(c):
    """A well-behaved but relentless guest: 40 rounds of 'fill all free
    descriptors, move TDT to just behind TDH' (7 per round around a ring of
    8, wrapping 35 times), then 60 single-descriptor tail bumps written
    back-to-back without waiting.  Every frame exactly once, in order."""
    n = c.nic
    c.tx_setup(ndesc=8)
    seq, head = 1000, 0
    for rnd in range(40):
        frames = []
        for k in range(7):
            f = make_frame(seq, 60 + (seq % 200))
            seq += 1
            c.put_tx((head + k) % 8, f)
            frames.append(f)
        tail = (head + 7) % 8
        n.w(TDT, tail)
        c.wait_tdh(tail, "TDH in round %d" % rnd)
        c.wait(lambda: c.vm.frame_count() >= 7, "round %d frames" % rnd)
        got = c.vm.take_frames()
        c.ok(got == frames, "round %d: 7 frames exact" % rnd)
        head = tail
    c.expect_no_frames("nothing extra after the rounds")
    # Back-to-back bumps, re-arming only descriptors the device is done
    # with (never more than 7 outstanding).
    sent = []
    for k in range(60):
        c.wait(lambda: (head - n.r(TDH)) % 8 < 7, "a free descriptor")
        f = make_frame(seq, 64 + k)
        seq += 1
        c.put_tx(head, f)
        head = (head + 1) % 8
        n.w(TDT, head)
        sent.append(f)
    c.expect_frames(sent, "back-to-back tail bumps")
    c.wait_tdh(head)
    c.eq(n.r(GPTC), 40 * 7 + 60, "GPTC counts every frame once")
    c.alive_and_idle()


@test(hostile=True, deviations=("tx-oversize",))
def t_h_tx_oversized_desc(c):
    """A single 65535-byte descriptor (SDM: at most 16288 bytes per packet;
    larger is undefined).  Bounded: at most one frame, made of the buffer's
    bytes; DD written; QEMU model sends all 65535 bytes."""
    n = c.nic
    c.tx_setup(ndesc=8)
    data = make_frame(600, 0xFFFF)
    c.put_tx(0, b"", addr=BIG_BUF, length=0xFFFF)
    c.vm.memwrite(BIG_BUF, data)
    after = make_frame(601, 100)
    c.put_tx(1, after)
    n.w(TDT, 2)
    c.wait_tdh(2)
    c.wait(lambda: c.vm.frame_count() >= 1, "frames")
    c.drain()
    got = c.vm.take_frames()
    c.ok(len(got) <= 2 and got[-1] == after, "the following frame intact")
    if len(got) == 2:
        c.ok(data.startswith(got[0]), "oversized frame is a prefix of the "
             "buffer (%d bytes)" % len(got[0]))
        if len(got[0]) > 16288:
            c.deviation("tx-oversize",
                        "TX: a %d-byte frame is sent (SDM maximum 16288)"
                        % len(got[0]))
    c.eq([c.tx_desc_at(i)["sta"] for i in range(2)], [TXD_STA_DD] * 2, "DD")
    c.alive_and_idle()


@test(hostile=True, deviations=("tx-64k-wrap",))
def t_h_tx_no_eop_overflow(c):
    """Six 16 KiB descriptors without EOP, then a 100-byte EOP one: more
    than QEMU's 64 KiB TX buffer.  Bounded: at most one frame, no more than
    64 KiB, no crash; the next packet is intact."""
    n = c.nic
    c.tx_setup(ndesc=16)
    bufs = []
    for i in range(6):
        b = pattern(i + 1, 0x4000)
        bufs.append(b)
        c.vm.memwrite(BIG_BUF + i * 0x4000, b)
        c.vm.memwrite(TX_RING + i * DESC_SIZE,
                      tx_desc(BIG_BUF + i * 0x4000, 0x4000, TXD_RS))
    last = pattern(9, 100)
    c.put_tx(6, last, cmd=TXD_CMD_STD)
    after = make_frame(610, 120)
    c.put_tx(7, after)
    n.w(TDT, 8)
    c.wait_tdh(8)
    c.wait(lambda: c.vm.frame_count() >= 1, "frames")
    c.drain()
    got = c.vm.take_frames()
    c.ok(1 <= len(got) <= 2 and got[-1] == after, "the following frame intact")
    if len(got) == 2:
        c.ok(len(got[0]) <= 0x10000, "frame <= 64 KiB (%d)" % len(got[0]))
        if got[0] == bufs[4] + bufs[5] + last:
            # tx.size is a uint16_t: 4 x 16 KiB wraps it to 0, so the first
            # 64 KiB are dropped and descriptors 4..6 form the frame.
            c.deviation("tx-64k-wrap",
                        "TX packet > 64 KiB without EOP: the 16-bit size "
                        "counter wraps; the first 64 KiB are silently "
                        "dropped and a %d-byte tail is sent" % len(got[0]))
    c.eq([c.tx_desc_at(i)["sta"] for i in range(8)], [TXD_STA_DD] * 8, "DD")
    c.alive_and_idle()


@test(hostile=True, deviations=("tx-zero-eop",))
def t_h_tx_zero_length(c):
    """Zero-length descriptors.  (1) 200 zero-length descriptors without EOP
    in front of a normal one: SDM 3.3.3 'descriptors with zero length
    transfer no data', so the packet is exactly the normal frame, and every
    descriptor gets DD (RS set).  (2) A lone zero-length EOP descriptor: a
    packet of 0 bytes (SDM: a packet must have at least 48 bytes before
    padding; nothing sensible to put on the wire), followed by a normal
    packet, which must still go out."""
    n = c.nic
    c.tx_setup(ndesc=256)
    descs = b"".join(tx_desc(TX_BUF, 0, TXD_RS) for _ in range(200))
    c.vm.memwrite(TX_RING, descs)
    f = make_frame(620, 150)
    c.put_tx(200, f)
    n.w(TDT, 201)
    c.expect_frames([f], "packet behind 200 zero-length descriptors")
    c.wait_tdh(201)
    sta = c.vm.memread(TX_RING, 201 * DESC_SIZE)[12::16]
    c.eq(set(sta), {TXD_STA_DD}, "DD on all 201 descriptors")
    c.alive_and_idle("after zero-length descriptors")

    c.put_tx(201, b"", cmd=TXD_CMD_STD)
    g = make_frame(621, 150)
    c.put_tx(202, g)
    n.w(TDT, 203)
    c.wait_tdh(203)
    try:
        c.wait(lambda: c.vm.frame_count() >= 1 and c.vm.frames[-1] == g,
               "the packet after the empty one", real_s=0.5)
        wedged = False
    except Fail:
        wedged = True
    c.drain()
    got = c.vm.take_frames()
    if not wedged:
        c.ok(len(got) in (1, 2) and got[-1] == g,
             "at most the empty packet, then the next packet intact")
        if len(got) == 2:
            c.eq(len(got[0]), 0, "the empty packet as a 0-byte frame")
            c.deviation("tx-zero-eop",
                        "TX: a zero-length EOP descriptor is sent as a "
                        "0-byte frame")
    else:
        # Upstream 10.0.2: xmit_seg() hands a 0-byte frame to the backend; the
        # stream netdev writes its 4-byte header and returns 0 ("bytes
        # accepted"), which the net layer takes for "would block": it
        # queues the packet and sets receive_disabled on the backend, and
        # no write watch is armed to undo it.  Every later frame is queued
        # (up to 10000 packets of up to 64 KiB each, ~640 MiB of host
        # memory) and never sent: a guest can kill its own TX for good.
        # qemu-patches/0006 fixes this; a wedge is a failure here.
        raise Fail("TX: a zero-length EOP descriptor wedged TX (frames "
                   "out: %s)" % [len(x) for x in got])
    c.alive_and_idle()


@test(hostile=True)
def t_h_tdt_storm(c):
    """5000 tail writes of the same value: no frames, no CPU left burning."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
    n.w(TDT, 3)
    c.expect_frames(ring[:3])
    for _ in range(5000):
        n.w(TDT, 3)
    c.expect_no_frames("rewriting the same TDT sends nothing")
    c.wait_tdh(3)
    c.alive_and_idle()


@test(hostile=True)
def t_h_rdlen_zero(c):
    """RDLEN = 0 with RDT != RDH.  QEMU model: the descriptor at RDH is
    filled, RDH wraps to itself, overrun (RXO) is reported.  Bounded;
    afterwards a sane ring works."""
    n = c.nic
    c.rx_setup(ndesc=8, rdt=1)
    n.w(RDLEN, 0)
    c.eq(n.r(RDLEN), 0, "RDLEN reads 0")
    for k in range(3):
        c.vm.send_frame(make_frame(700 + k, 100, dst=DEV_MAC))
    c.drain(vns=5_000_000, real_s=0.1)
    c.eq(n.r(RDH), 0, "RDH stays 0")
    c.alive_and_idle()
    # Recovery
    n.w(RDLEN, 128)
    n.w(RDT, 5)
    f = make_frame(710, 100, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.wait(lambda: any(c.vm.memread(RX_BUF + i * SLOT, len(f)) == f
                       for i in range(8)), "the frame after recovery")
    c.alive_and_idle("after recovery")


@test(hostile=True)
def t_h_rdt_beyond_ring(c):
    """RDT = 20 on a ring of 8: RDH never catches up.  Each frame uses one
    descriptor, RDH wraps inside the ring, nothing runs away."""
    n = c.nic
    c.rx_setup(ndesc=8, rdt=20)
    c.eq(n.r(RDT), 20, "RDT holds 20")
    frames = [make_frame(720 + k, 100, dst=DEV_MAC) for k in range(12)]
    for f in frames:
        c.vm.send_frame(f)
    c.drain(vns=5_000_000, real_s=0.2)
    rdh = n.r(RDH)
    c.ok(rdh < 8, "RDH inside the ring (%d)" % rdh)
    c.alive_and_idle()
    n.w(RDT, 0x10000 | 3)
    c.eq(n.r(RDT), 3, "RDT keeps 16 bits")


@test(hostile=True)
def t_h_rx_buffer_outside_ram(c):
    """RX buffers unmapped, beyond RAM, straddling the end of RAM: the
    descriptor is still completed; the part inside RAM is exact."""
    n = c.nic
    c.rx_setup(ndesc=8)
    addrs = [UNMAPPED, RAM_SIZE + 0x10000, 0xFFFFFFFFFFFFFFF0, RAM_SIZE - 32]
    for i, a in enumerate(addrs):
        c.vm.memwrite(RX_RING + i * DESC_SIZE, rx_desc(a))
    frames = [make_frame(730 + k, 100, dst=DEV_MAC) for k in range(5)]
    for f in frames:
        c.vm.send_frame(f)
    c.wait_rdh(5)
    for i in range(4):
        d = c.rx_desc_at(i)
        c.eq((d["length"], d["status"] & ~RXD_IXSM), (100, RXD_DD | RXD_EOP),
             "desc %d completed" % i)
    c.eq(c.vm.memread(RAM_SIZE - 32, 32), frames[3][:32],
         "bytes inside RAM exact")
    c.check_rx_desc(4, frames[4])
    c.alive_and_idle()


@test(hostile=True)
def t_h_rx_buffer_own_mmio(c):
    """An RX buffer on BAR0's TX register page: the received bytes are a
    DMA write to TDBAL..TDT (undefined).  With TX enabled and a valid ring,
    whatever the device does must stay bounded."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = _fill_ring(c, 8)
    c.rx_setup(ndesc=8)
    c.vm.memwrite(RX_RING, rx_desc(BAR0 + 0x3800))
    c.vm.memwrite(RX_RING + DESC_SIZE, rx_desc(BAR0 + 0x2800))
    f = make_frame(740, 64, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.vm.send_frame(make_frame(741, 64, dst=DEV_MAC))
    g = make_frame(742, 64, dst=DEV_MAC)
    c.vm.send_frame(g)
    c.drain(vns=5_000_000, real_s=0.2)
    got = c.vm.take_frames()
    c.ok(len(got) <= 8 * 2, "bounded TX (%d frames)" % len(got))
    c.alive_and_idle()


@test(hostile=True)
def t_h_rx_ring_in_own_bar(c):
    """The RX descriptor ring on BAR0's RX register page: descriptor fetch
    and write-back alias RDBAL/RDLEN/RDH/RDT (undefined).  Bounded."""
    n = c.nic
    c.rx_setup(ndesc=8)
    n.w(RDBAL, BAR0 + 0x2800)
    n.w(RDT, 5)
    for k in range(6):
        c.vm.send_frame(make_frame(750 + k, 80, dst=DEV_MAC))
    c.drain(vns=5_000_000, real_s=0.2)
    c.alive_and_idle()
    rdh, rdt = n.r(RDH), n.r(RDT)
    c.ok(rdh <= 0xFFFF and rdt <= 0xFFFF, "RDH/RDT bits 31:16 read as 0 "
         "(SDM: reserved) even after DMA into the register page: %#x, %#x"
         % (rdh, rdt))


@test(hostile=True)
def t_h_rx_null_buffer(c):
    """Null RX buffer address.  QEMU model (e1000.c: 'as per intel docs;
    skip descriptors with null buf addr'): the descriptor is consumed with
    DD and no data, the frame goes to the next one."""
    n = c.nic
    c.rx_setup(ndesc=8)
    c.vm.memwrite(RX_RING, rx_desc(0))
    f = make_frame(760, 100, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.wait(lambda: n.r(RDH) >= 1 and c.rx_desc_at(n.r(RDH) - 1)["status"]
           & RXD_EOP, "frame written")
    rdh = n.r(RDH)
    c.ok(rdh in (1, 2), "one or two descriptors used (%d)" % rdh)
    c.check_rx_desc(rdh - 1, f)
    c.eq(c.vm.memread(0, 16), bytes(16), "nothing written at address 0")
    c.alive_and_idle()


@test(hostile=True)
def t_h_rx_runt_frames(c):
    """Frames shorter than an Ethernet header from the network backend
    (1, 6 and 17 bytes; the stream netdev does not pad).  Real hardware
    drops runts; QEMU receives short frames unpadded on purpose.  Either
    way: bounded, and the normal frame behind them arrives intact."""
    n = c.nic
    c.rx_setup(ndesc=16, rdt=15)
    runts = [DEV_MAC[:1], DEV_MAC, make_frame(800, 17, dst=DEV_MAC)]
    for r in runts:
        c.vm.send_frame(r)
    f = make_frame(801, 100, dst=DEV_MAC)
    c.vm.send_frame(f)
    c.wait(lambda: n.r(RDH) >= 1 and c.rx_desc_at(n.r(RDH) - 1)["length"]
           == len(f), "the normal frame")
    rdh = n.r(RDH)
    c.ok(1 <= rdh <= 4, "one descriptor per frame at most (%d)" % rdh)
    for i in range(rdh - 1):
        d = c.rx_desc_at(i)
        c.ok(d["length"] <= 17, "runt %d length %d <= 17" % (i, d["length"]))
    c.check_rx_desc(rdh - 1, f)
    c.alive_and_idle()


@test(hostile=True)
def t_h_rx_zero_length_frame(c):
    """A zero-length frame from the network backend, then a normal one.
    There is nothing to receive in it; the normal frame must arrive."""
    n = c.nic
    c.rx_setup(ndesc=16, rdt=15)
    c.vm.send_frame(b"")
    f = make_frame(810, 100, dst=DEV_MAC)
    c.vm.send_frame(f)
    try:
        c.wait(lambda: n.r(RDH) >= 1 and c.rx_desc_at(n.r(RDH) - 1)["length"]
               == len(f), "the normal frame", real_s=0.5)
        c.check_rx_desc(n.r(RDH) - 1, f)
    except Fail:
        # Upstream 10.0.2: e1000_receive_iov() returns size (0) for the empty
        # frame -- after deciding the RX filter on an uninitialised stack
        # buffer (min_buf, only the first min(size, 18) bytes are copied).
        # The net layer reads 0 as "cannot receive now", queues the packet
        # and disables delivery; every later flush (RDT or RCTL write)
        # redelivers the same empty frame and gets 0 again, so RX is dead
        # for good: one empty frame from the peer kills guest RX.
        # qemu-patches/0006 fixes this; a wedge is a failure here.
        raise Fail("RX: a zero-length frame from the backend wedged RX")
    c.alive_and_idle()


# ===========================================================================

def run_one(qemu, props, verbose, keep, fn, declared):
    """Run one test in a fresh QEMU; returns (Ctx, error or None)."""
    c = Ctx(qemu, props, verbose, declared)
    err = None
    try:
        c.start()
        fn(c)
        # Common epilogue: QEMU answers and quits cleanly.
        c.vm.ping(timeout=5)
        rc = c.vm.quit()
        if rc != 0:
            raise Fail("QEMU exit code %d" % rc)
    except Fail as e:
        err = str(e)
    except qtestlib.QtestError as e:
        err = "%s: %s" % (type(e).__name__, e)
    except Exception:
        err = traceback.format_exc()
    finally:
        if c.vm is not None:
            c.vm.close()
            logtxt = c.logtxt = c.vm.log()
            for bad in ("Assertion", "assertion", "Aborted", "core dumped",
                        "Segmentation", "AddressSanitizer",
                        "runtime error:", "UndefinedBehavior"):
                if bad in logtxt and err is None:
                    err = "QEMU log shows %r:\n%s" % (bad, logtxt[-2000:])
            if verbose and logtxt.strip():
                print("    qemu log: " + logtxt.strip().replace("\n", "\n    "))
            if err is None or not keep:
                c.vm.cleanup_files()
    return c, err


def judge_deviations(args, c, fn, declared):
    """Upstream's departures from the SDM are accepted as such only for the
    upstream device (no --props).  With stage properties the test is run
    again on the same binary without them, and it must report exactly the
    same deviations (key and text): then they are upstream's, not the
    stage's.  Returns an error or None."""
    seen = c.deviations + c.bugs
    if not seen or not args.props:
        return None
    twin, err = run_one(args.qemu, "", args.verbose, args.keep, fn, declared)
    if err is not None:
        return ("deviation with props %s; the same test without them "
                "fails, so it cannot be attributed to upstream: %s"
                % (args.props, err))
    base = sorted(twin.deviations + twin.bugs)
    if sorted(seen) != base:
        return ("deviations with props %s differ from upstream's (same "
                "binary, no props): %s; upstream: %s"
                % (args.props, "; ".join(t for _, t in sorted(seen)),
                   "; ".join(t for _, t in base) or "none"))
    return None


def run(args):
    selected = [(name, fn, h, d) for name, fn, h, d in TESTS
                if not args.k or any(k in name for k in args.k.split(","))]
    if args.list:
        for name, fn, h, d in selected:
            print("%-28s %-8s %s" % (name, "hostile" if h else "",
                                     " ".join(d)))
        return 0
    label = args.props or "upstream (no extra properties)"
    print("e1000 qtest suite: %d tests, device props: %s" % (len(selected), label))
    t_start = time.monotonic()
    failed, deviations, bugs, total_checks = [], {}, {}, 0
    for name, fn, hostile, declared in selected:
        t0 = time.monotonic()
        c, err = run_one(args.qemu, args.props, args.verbose, args.keep, fn,
                         declared)
        if err is None:
            err = judge_deviations(args, c, fn, declared)
        dt = time.monotonic() - t0
        total_checks += c.checks
        if err is None:
            print("ok   %-28s %3d checks %5.2fs" % (name, c.checks, dt))
        else:
            failed.append(name)
            print("FAIL %-28s %5.2fs\n     %s" % (name, dt,
                                                   err.replace("\n", "\n     ")))
            if c.vm is not None:
                # (read before cleanup_files removed it)
                tail = c.logtxt.strip()[-1500:]
                if tail and not args.verbose:
                    print("     qemu log: " + tail.replace("\n", "\n     | "))
                if args.keep:
                    print("     (files kept in %s)" % c.vm.dir)
        if err is not None:
            how = "test failed"
        elif not args.props:
            how = "upstream behaviour, accepted"
        else:
            how = "the same without the props: upstream's, accepted"
        for _, d in c.deviations:
            if err is None:
                deviations.setdefault(d, []).append(name)
            print("     DEVIATION (%s): %s" % (how, d))
        for _, d in c.stage_devs:
            if err is None:
                deviations.setdefault(d, []).append(name)
            print("     DEVIATION (documented for this stage%s): %s"
                  % (", accepted" if err is None else "", d))
        for _, d in c.bugs:
            if err is None:
                bugs.setdefault(d, []).append(name)
            print("     UPSTREAM BUG (%s, report it): %s" % (how, d))
    dt = time.monotonic() - t_start
    print("%d passed, %d failed, %d checks, %.1fs, props: %s"
          % (len(selected) - len(failed), len(failed), total_checks, dt, label))
    if deviations or bugs:
        print("accepted: %d SDM deviations, %d bugs (see DEVIATION / "
              "UPSTREAM BUG lines)" % (len(deviations), len(bugs)))
    if failed:
        print("failed: " + " ".join(failed))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qemu", default=os.environ.get("QEMU", DEFAULT_QEMU))
    ap.add_argument("--props", default="",
                    help="extra e1000 properties, e.g. x-coalesce=on")
    ap.add_argument("-k", default="", help="run tests whose names contain "
                    "one of these comma-separated words")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the QEMU log of failed tests")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
