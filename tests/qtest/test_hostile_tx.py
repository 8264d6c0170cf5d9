"""Hostile TX setups (the SDM leaves most undefined): the guest must get
bounded, sane behaviour and QEMU must neither crash, hang nor spin
(each test ends with Ctx.alive_and_idle)."""

import pytest

from e1000 import (BAR0, BAR0_SIZE, DESC_SIZE, GPTC, ICR, ICR_TXDW, TCTL,
                   TCTL_DEFAULT, TDBAL, TDH, TDLEN, TDT, TXD_CMD_STD, TXD_RS,
                   TXD_STA_DD, make_frame, pattern, tx_desc)
from harness import (BIG_BUF, Fail, RAM_SIZE, SLOT, TX_BUF, TX_RING, UNMAPPED,
                     fill_ring)


def _check_prefix_of_cycle(c, got, ring, start, what):
    """Frames must be ring descriptors start, start+1, ... in order."""
    for k, g in enumerate(got):
        want = ring[(start + k) % len(ring)]
        if g != want:
            raise Fail("%s: frame %d is not ring descriptor %d"
                       % (what, k, (start + k) % len(ring)))
    c.checks += 1


@pytest.mark.hostile
def test_h_tdlen_zero(c):
    """TDLEN = 0 with TDT != TDH.  QEMU model: each tail write processes at
    most the descriptor at TDH (then TDH wraps to 0 and the loop stops);
    a poller must not resend it forever."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
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


@pytest.mark.hostile
def test_h_tdlen_unaligned(c):
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
    ring = fill_ring(c, 8)
    n.w(TDH, 6)
    n.w(TDT, 6)
    n.w(TDT, 2)
    c.expect_frames([ring[6], ring[7], ring[0], ring[1]],
                    "ring of 8 wraps after descriptor 7")
    c.wait_tdh(2)
    c.alive_and_idle()


@pytest.mark.hostile
def test_h_tdt_beyond_ring(c):
    """TDT = 20 on a ring of 8: TDH can never equal TDT.  QEMU model: one
    pass over the ring per tail write (stops when TDH returns to where it
    started).  Bounded, then recovery with a sane TDT."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
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


@pytest.mark.hostile
def test_h_tdh_beyond_ring(c):
    """TDH = 20 on a ring of 8 (outside the ring).  QEMU model: the
    descriptor at index 20 is fetched once, then TDH restarts at 0."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
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


@pytest.mark.hostile
def test_h_tdt_equals_tdh(c):
    """TDT == TDH means an empty ring: nothing is sent or written back."""
    n = c.nic
    c.tx_setup(ndesc=8, tdh=3)
    fill_ring(c, 8)
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


@pytest.mark.hostile
def test_h_tx_buffer_own_mmio(c):
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


@pytest.mark.hostile
def test_h_tx_buffer_outside_ram(c):
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


@pytest.mark.hostile
def test_h_tx_ring_in_own_bar(c):
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


@pytest.mark.hostile
def test_h_tx_ring_outside_ram(c):
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


@pytest.mark.hostile
def test_h_tdt_chasing(c):
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


@pytest.mark.hostile
@pytest.mark.deviations("tx-oversize")
def test_h_tx_oversized_desc(c):
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


@pytest.mark.hostile
@pytest.mark.deviations("tx-64k-wrap")
def test_h_tx_no_eop_overflow(c):
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


@pytest.mark.hostile
@pytest.mark.deviations("tx-zero-eop")
def test_h_tx_zero_length(c):
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


@pytest.mark.hostile
def test_h_tdt_storm(c):
    """5000 tail writes of the same value: no frames, no CPU left burning."""
    n = c.nic
    c.tx_setup(ndesc=8)
    ring = fill_ring(c, 8)
    n.w(TDT, 3)
    c.expect_frames(ring[:3])
    for _ in range(5000):
        n.w(TDT, 3)
    c.expect_no_frames("rewriting the same TDT sends nothing")
    c.wait_tdh(3)
    c.alive_and_idle()
