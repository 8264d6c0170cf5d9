"""Shared machinery of the e1000 qtest suite: guest-memory layout, the
per-test context (Ctx: assertions, waiting, IRQ history, TX/RX ring helpers,
the hostile epilogue), the SDM deviations upstream QEMU may report, and how
one test is run and its deviations judged (run_one, judge_deviations;
conftest.py calls them for every test).

Expected values come from the Intel 8254x Software Developer's Manual
(quoted as "SDM") or, for configurations the SDM leaves undefined, from the
semantics of QEMU's model (hw/net/e1000.c), stated as such.  Where upstream
QEMU visibly departs from the SDM the test checks for exactly the upstream
behaviour, says so in a comment and reports it as a DEVIATION line (keys in
DEVIATIONS, declared per test with @pytest.mark.deviations).  Such
deviations are accepted for the upstream device (no --props); with stage
properties only if the same test on the same binary without them reports
the same (judge_deviations), or if the stage documents it as its own
(STAGE_DEVIATIONS).

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

import os
import time
import traceback

import qtestlib
from e1000 import (DESC_SIZE, E1000, GPTC, RCTL, RCTL_EN, RCTL_SECRC, RDBAH,
                   RDBAL, RDH, RDLEN, RDT, RXD_DD, RXD_EOP, RXD_IXSM, TCTL,
                   TCTL_DEFAULT, TDBAH, TDBAL, TDH, TDLEN, TDT, TXD_CMD_STD,
                   make_frame, parse_rx_desc, parse_tx_desc, rx_desc, tx_desc)

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
        """Upstream QEMU departs from the SDM here (DEVIATIONS[key]);
        judge_deviations() decides whether that is accepted for these
        properties."""
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

def fill_ring(c, ndesc, seq0=0, length=90):
    """Descriptors 0..ndesc-1 of the TX ring, one frame each; returns the
    frames."""
    frames = [make_frame(seq0 + i, length) for i in range(ndesc)]
    for i, f in enumerate(frames):
        c.put_tx(i, f)
    return frames


# ===========================================================================
# Running one test (conftest.py calls these for every test)
# ===========================================================================

def run_one(c, fn, keep=False):
    """Run test fn on the not yet started Ctx c in a fresh QEMU; returns
    the error or None."""
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
            if c.verbose and logtxt.strip():
                print("    qemu log: " + logtxt.strip().replace("\n", "\n    "))
            if err is None or not keep:
                c.vm.cleanup_files()
    return err


def judge_deviations(c, fn, keep=False):
    """Upstream's departures from the SDM are accepted as such only for the
    upstream device (no --props).  With stage properties the test is run
    again on the same binary without them, and it must report exactly the
    same deviations (key and text): then they are upstream's, not the
    stage's.  Returns an error or None."""
    seen = c.deviations + c.bugs
    if not seen or not c.props:
        return None
    twin = Ctx(c.qemu, "", c.verbose, c.declared)
    err = run_one(twin, fn, keep)
    if err is not None:
        return ("deviation with props %s; the same test without them "
                "fails, so it cannot be attributed to upstream: %s"
                % (c.props, err))
    base = sorted(twin.deviations + twin.bugs)
    if sorted(seen) != base:
        return ("deviations with props %s differ from upstream's (same "
                "binary, no props): %s; upstream: %s"
                % (c.props, "; ".join(t for _, t in sorted(seen)),
                   "; ".join(t for _, t in base) or "none"))
    return None
