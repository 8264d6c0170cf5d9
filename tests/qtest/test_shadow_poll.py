"""x-shadow-regs' poll timer (e1000-opt/e1000_shadow.c, arm_poll): while the
RX page is shadowed, a refill is a plain RAM store that nothing traps.  As
long as frames flow the receive path reads the tail before each of them;
once the ring has run dry and the backend holds a frame back, the timer
looks at the tail every x-shadow-poll-us (50 us), so the held frame lands
within that much virtual time of the refill, not at the next idle check
(x-shadow-idle-us, 2 ms).  The virtual clock only moves when the test
steps it, so the timer runs exactly then."""

import time

import pytest

from e1000 import DEV_MAC, RDH, RDT, make_frame
from harness import stage_props

US = 1_000


def test_shadow_starved_rx_polls(c):
    props = stage_props(c.props)
    if "x-shadow-regs=on" not in props:
        pytest.skip("no shadow: the refill's RDT write traps and lets the "
                    "held frame in by itself")
    if "x-sidecore=on" in props:
        pytest.skip("x-sidecore=on: the thread, not the timer, polls the "
                    "tails (in real time)")
    n = c.nic
    c.rx_setup(ndesc=8, rdt=0)
    n.w(RDT, 0)                       # trapped, RX enabled: maps the page
    n.w(RDT, 0x12340000)              # a RAM store if it did
    c.eq(n.r(RDT), 0x12340000, "RDT reads back raw: the RX page is mapped")
    f = make_frame(300, 200, dst=DEV_MAC)
    c.vm.send_frame(f)
    time.sleep(0.2)                   # real time: the backend offers it
    c.eq(n.r(RDH), 0, "no buffer (RDH == RDT): the frame is held back")
    n.w(RDT, 4)                       # the refill: a store into the page
    time.sleep(0.1)
    c.eq(n.r(RDH), 0, "nothing happens while the virtual clock stands")
    c.vm.clock_step(100 * US)
    deadline = time.monotonic() + 2.0
    while n.r(RDH) != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    c.eq(n.r(RDH), 1, "the held frame landed within 100 us of virtual time "
         "after the refill (the poll of a starved ring)")
    c.check_rx_desc(0, f)
