"""x-shadow-regs' idle rule (e1000-opt/e1000_shadow.c, adapt_idle): the
RX page is unmapped after x-shadow-idle-us without work, but when it is
laid over again within 4 idle periods of that, the period doubles, so a
ring that goes quiet between bursts a little longer than idle_us is not
mapped and unmapped twice per burst (a memory transaction each); a longer
quiet spell starts over from idle_us.

Whether the page is mapped is seen from the guest's side: an RDT write
with reserved bits 31:16 set reads back raw from the RAM page until the
next poll syncs it, and 16 bits when it trapped.  The virtual clock only
moves when the test steps it, so the shadow's timer (its idle check)
and the idle rule run exactly then."""

import pytest

from e1000 import RDT
from harness import stage_props

MS = 1_000_000
IDLE_MS = 2          # x-shadow-idle-us default (e1000-opt/e1000_shadow.c)
RAW = 0x12340000 | 7


def probe(c):
    """Write RDT with reserved bits, read it back: True if it stayed raw
    (the page is mapped).  A trapped write maps the page again."""
    c.nic.w(RDT, RAW)
    return c.nic.r(RDT) == RAW


def test_shadow_idle_adapts(c):
    props = stage_props(c.props)
    if "x-shadow-regs=on" not in props:
        # No shadow: every tail write traps, whatever the clock does.
        c.rx_setup(ndesc=8, rdt=6)
        c.nic.w(RDT, 7)
        for step in (0, 3 * MS, 100 * MS):
            if step:
                c.vm.clock_step(step)
            c.ok(not probe(c), "RDT trapped (16 bits) %d ns on" % step)
        return
    if "x-sidecore=on" in props:
        pytest.skip("x-sidecore=on: the thread, not the idle timer, unmaps "
                    "the page when it parks (x-sidecore-spin-us)")
    c.rx_setup(ndesc=8, rdt=6)
    c.nic.w(RDT, 7)                  # trapped, RX enabled: maps the page
    c.ok(probe(c), "the first tail write mapped the page")
    c.vm.clock_step(IDLE_MS * MS + MS // 2)
    c.ok(not probe(c),
         "unmapped after idle_us without work (this write traps and maps it "
         "again, within 4 idle periods of the unmap)")
    # idle is now 2 x idle_us: 1.5 x idle_us later the page is still there
    c.vm.clock_step(3 * MS)
    c.ok(probe(c),
         "laid over again soon after the unmap: still mapped 3 ms on "
         "(idle doubled to 4 ms)")
    c.vm.clock_step(5 * MS)
    c.ok(not probe(c), "unmapped after the doubled idle period")
    # a long quiet spell: the next mapping starts over from idle_us
    c.vm.clock_step(200 * MS)
    c.ok(not probe(c), "still unmapped after 200 ms (this write maps it)")
    c.vm.clock_step(3 * MS)
    c.ok(not probe(c),
         "after a long quiet spell the idle period is idle_us again: "
         "unmapped 3 ms on")
