"""Tail writes and the stages: each TDT write starts TX by itself, as on
upstream, whatever the stages (x-shadow-regs shadows the TX tail only
while the sidecore thread runs TX and watches it; with TX inline a
shadowed TDT would wait for the shadow's poll timer, e1000-opt/
e1000_shadow.c), while the RX tail stays shadowed."""

from e1000 import RDT, TDT
from harness import fill_ring, stage_props


def test_tail_write_starts_tx(c):
    """Three TDT writes in a row, the third with reserved bits 31:16 set,
    each queuing one frame: each frame reaches the backend with the
    virtual clock standing still (qtest moves it only on request, so no
    device timer runs) and no other register access in between (a trapped
    access polls the shadow), within 5 s of real time (a sidecore thread
    polls in real time).  Before them, with x-shadow-regs=on and no
    always-on sidecore, an RDT write right after an RDT write reads back
    raw: the RX tail is still shadowed."""
    n = c.nic
    props = stage_props(c.props)
    shadow = "x-shadow-regs=on" in props
    side_on = "x-sidecore=on" in props
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    c.rx_setup(ndesc=8, rdt=6)
    n.w(RDT, 7)                     # trapped, ring enabled: shadows RX
    n.w(RDT, 0x12340000 | 7)        # a RAM store if shadowed
    rdt = n.r(RDT)
    if shadow and not side_on:
        # The thread of x-sidecore=on may park and unmap the page first.
        c.eq(rdt, 0x12340007, "RDT reads back raw: the RX page is shadowed")
    elif not shadow:
        c.eq(rdt, 7, "RDT reads back 16 bits (trapped)")
    for i, tdt in enumerate((1, 2, 0xABCD0000 | 3)):
        n.w(TDT, tdt)
        c.ok(c.vm.wait_frames(i + 1, 5.0),
             "TDT write %d (%#x) started TX: frame %d out with the virtual "
             "clock stopped (%d frames)" % (i + 1, tdt, i, c.vm.frame_count()))
    c.ok(c.vm.take_frames() == ring[:3], "the three frames, in order")
    c.eq(n.r(TDT), 3, "TDT reads back 16 bits")
    c.expect_no_frames("nothing more")
