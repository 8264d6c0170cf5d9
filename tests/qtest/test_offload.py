"""TSO, checksum insertion and receive checksum offload (x-offload,
qemu-patches/0010) against hostile context and data descriptors.

The suite's backend is a stream netdev, which has no vnet header: with
x-offload=on TX takes the software path (segmentation and checksums in the
device, as upstream) and only RXCSUM is new.  The passthrough path needs a
tap; tests/t-e1000opt-offload.sh covers it with a real guest.  Every test
here also runs without x-offload (upstream behaviour)."""

import struct

import pytest

from e1000 import (DESC_SIZE, DEV_MAC, PEER_MAC, RCTL_BAM, RCTL_EN,
                   RCTL_SECRC, RXD_IXSM, TDH, TDT, TXD_STA_DD)
from harness import BIG_BUF, TX_BUF

RXCSUM = 0x5000
RXCSUM_IPOFL, RXCSUM_TUOFL = 0x100, 0x200
RXD_TCPCS, RXD_IPCS = 0x20, 0x40
RXE_TCPE, RXE_IPE = 0x20, 0x40

DEXT, DTYP_D = 0x20000000, 0x00100000
CMD_EOP, CMD_IFCS, CMD_RS = 0x01000000, 0x02000000, 0x08000000
CMD_TCP, CMD_IP, CMD_TSE = 0x01000000, 0x02000000, 0x04000000
POPTS_IXSM, POPTS_TXSM = 0x01, 0x02

HOST_IP, GUEST_IP = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def offload(c):
    return "x-offload=on" in (c.props or "")


def csum(data, start=0):
    if len(data) & 1:
        data += b"\0"
    s = start + sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ctx_desc(ipcss=14, ipcso=24, ipcse=33, tucss=34, tucso=50, tucse=0,
             paylen=0, hdr_len=54, mss=536, tcp=True, ip=True, tse=True):
    cmd = DEXT | CMD_RS | (CMD_TSE if tse else 0) | (CMD_IP if ip else 0) \
        | (CMD_TCP if tcp else 0)
    return struct.pack("<BBHBBHIBBH", ipcss, ipcso, ipcse, tucss, tucso,
                       tucse, (paylen & 0xFFFFF) | cmd, 0, hdr_len, mss)


def data_desc(addr, length, eop=True, tse=True,
              popts=POPTS_IXSM | POPTS_TXSM):
    lower = length | DTYP_D | DEXT | CMD_IFCS | CMD_RS \
        | (CMD_EOP if eop else 0) | (CMD_TSE if tse else 0)
    return struct.pack("<QII", addr, lower, popts << 8)


def tcp_packet(payload, ihl=5, proto=6, tso=True, seq=1000, flags=0x18,
               dst=PEER_MAC, src=DEV_MAC, sip=GUEST_IP, dip=HOST_IP):
    """Ethernet + IPv4 (+ options) + TCP as Linux's e1000 driver hands a
    TSO packet to the device: IP total length and checksum 0, the TCP
    checksum field holding the pseudo-header sum without the length."""
    opts = b"\x01" * ((ihl - 5) * 4)      # NOP options
    tot = 0 if tso else ihl * 4 + 20 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 0x1234, 0x4000, 64,
                     proto, 0, sip, dip) + opts
    ph = csum(sip + dip + struct.pack("!HH", proto,
                                      0 if tso else 20 + len(payload)))
    tcp = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 1, 5 << 4, flags,
                      65535, ph, 0)
    return dst + src + b"\x08\x00" + ip + tcp + payload


def payload(n, seed=7):
    return bytes((seed + i * 13 + (i >> 8)) & 0xFF for i in range(n))


def post(c, descs, bufs):
    """Ring descriptors (context/data) from index 0, buffers at BIG_BUF;
    bufs[i] is the buffer of descs[i] (None for a context descriptor)."""
    addr = BIG_BUF
    for i, (d, b) in enumerate(zip(descs, bufs)):
        if b is not None:
            c.vm.memwrite(addr, b)
            d = d(addr)
            addr += (len(b) + 0xFFF) & ~0xFFF
        c.vm.memwrite(c.tx_base + i * DESC_SIZE, d)


def run_tx(c, descs, bufs, ndesc=64, want=0):
    """Post, kick, wait for TDH, DD on every descriptor and (the frames
    can reach the stream socket after TDH moved, e.g. from the sidecore)
    for at least `want` frames; returns the frames."""
    c.tx_setup(ndesc=ndesc)
    post(c, descs, bufs)
    c.nic.w(TDT, len(descs) % ndesc)
    c.wait_tdh(len(descs) % ndesc)
    for i in range(len(descs)):
        c.ok(c.tx_desc_at(i)["sta"] & TXD_STA_DD, "descriptor %d written back (DD)" % i)
    if want:
        c.wait(lambda: c.vm.frame_count() >= want, "%d frames" % want)
    c.drain()
    return c.vm.take_frames()


def check_segments(c, frames, pay, mss, hl=54, what="segment"):
    """Software segmentation: IPv4 and TCP checksums valid, lengths and
    sequence numbers right, payload in order."""
    got = b""
    for k, f in enumerate(frames):
        ip, tcp = f[14:34], f[34:hl]
        n = len(f) - hl
        c.eq(struct.unpack("!H", ip[2:4])[0], len(f) - 14, "%s %d IP total length" % (what, k))
        c.eq(csum(ip), 0xFFFF, "%s %d IP header checksum" % (what, k))
        ph = csum(ip[12:20] + struct.pack("!HH", 6, len(f) - 34))
        c.eq(csum(f[34:], ph), 0xFFFF, "%s %d TCP checksum" % (what, k))
        c.eq(struct.unpack("!I", tcp[4:8])[0], 1000 + len(got), "%s %d sequence" % (what, k))
        c.ok(n <= mss, "%s %d payload %d <= MSS" % (what, k, n))
        got += f[hl:]
    c.ok(got == pay, "payload reassembles (%d of %d bytes)" % (len(got), len(pay)))


def test_off_tso_software(c):
    """A TSO packet on a backend without vnet header: MSS-sized frames,
    each with both checksums, as upstream."""
    pay = payload(3000)
    pkt = tcp_packet(pay)
    frames = run_tx(c, [ctx_desc(paylen=len(pay)),
                        lambda a: data_desc(a, len(pkt))], [None, pkt],
                    want=6)
    c.eq(len(frames), 6, "frames (5 x 536 + 320)")
    check_segments(c, frames, pay, 536)
    c.alive_and_idle()


def test_off_csum_insert(c):
    """TXSM without TSO: the device inserts the TCP checksum."""
    pay = payload(700)
    pkt = bytearray(tcp_packet(pay, tso=False))
    pkt[24:26] = struct.pack("!H", 0xFFFF - csum(bytes(pkt[14:34])) & 0xFFFF)
    frames = run_tx(c, [ctx_desc(tse=False, paylen=0),
                        lambda a: data_desc(a, len(pkt), tse=False,
                                            popts=POPTS_TXSM)],
                    [None, bytes(pkt)], want=1)
    c.eq(len(frames), 1, "one frame")
    check_segments(c, frames, pay, 1500)
    c.alive_and_idle()


HOSTILE = {
    # name: (context kwargs, packet kwargs, payload bytes, frame cut)
    "hdrlen_gt_frame": (dict(hdr_len=200, paylen=40), {}, 40, None),
    "mss0": (dict(mss=0, paylen=3000), {}, 3000, None),
    "mss_gt_payload": (dict(mss=9000, paylen=1000), {}, 1000, None),
    "offsets_beyond": (dict(tucss=250, tucso=255, ipcso=255, ipcse=0xFFFF,
                            paylen=46), {}, 46, None),
    "paylen_64k": (dict(paylen=0xFFFFF), {}, 3000, None),
    "tso_udp": (dict(tcp=False, tucso=40, paylen=3000, mss=500),
                dict(proto=17), 3000, None),
    "ipv4_options": (dict(tucss=38, tucso=54, ipcse=37, hdr_len=58,
                          paylen=2000), dict(ihl=6), 2000, None),
    "frame_shorter_than_header": (dict(paylen=100), {}, 100, 30),
}


def _hostile_ctx(c, name):
    """Context descriptors that do not fit the data: no crash, no read or
    write out of bounds (ASAN build), no spin; every descriptor written
    back; frames bounded by the data given."""
    ctx, pk, n, cut = HOSTILE[name]
    pkt = tcp_packet(payload(n), **pk)
    if cut:
        pkt = pkt[:cut]
    frames = run_tx(c, [ctx_desc(**ctx), lambda a: data_desc(a, len(pkt))],
                    [None, pkt])
    total = sum(len(f) for f in frames)
    c.ok(len(frames) <= len(pkt), "%d frames, at most one per byte" % len(frames))
    c.ok(total <= 0x10000 * 2 + len(pkt) * (ctx.get("hdr_len", 54) + 1),
         "frame bytes bounded (%d)" % total)
    c.alive_and_idle()


def _hostile_test(name):
    @pytest.mark.hostile
    def test(c):
        _hostile_ctx(c, name)
    test.__name__ = "test_h_offload_" + name
    test.__doc__ = _hostile_ctx.__doc__
    return test


for _name in sorted(HOSTILE):
    globals()["test_h_offload_" + _name] = _hostile_test(_name)


@pytest.mark.hostile
def test_h_offload_tso_no_eop(c):
    """A TSO packet whose descriptors never set EOP, 160 KiB in 4 KiB
    pieces (more than the device's 64 KiB buffer), then a plain frame with
    EOP: the ring is consumed, QEMU stays alive and idle."""
    pay = payload(4096 * 40)
    pkt = tcp_packet(pay)
    descs, bufs = [ctx_desc(paylen=len(pay), mss=1448)], [None]
    for off in range(0, len(pkt), 4096):
        piece = pkt[off:off + 4096]
        descs.append(lambda a, n=len(piece): data_desc(a, n, eop=False))
        bufs.append(piece)
    descs.append(lambda a: data_desc(a, 60, tse=False, popts=0))
    bufs.append(bytes(60))
    run_tx(c, descs, bufs, ndesc=64)
    c.alive_and_idle()


def rx_frames():
    good = bytearray(tcp_packet(payload(300), tso=False, dst=DEV_MAC, src=PEER_MAC,
                                sip=HOST_IP, dip=GUEST_IP))
    good[24:26] = struct.pack("!H", 0xFFFF - csum(bytes(good[14:34])))
    ph = csum(bytes(good[26:34]) + struct.pack("!HH", 6, len(good) - 34))
    good[50:52] = b"\0\0"
    good[50:52] = struct.pack("!H", 0xFFFF - csum(bytes(good[34:]), ph))
    bad_tcp = bytearray(good)
    bad_tcp[60] ^= 0x55
    bad_ip = bytearray(good)
    bad_ip[24] ^= 0x01
    other = DEV_MAC + PEER_MAC + b"\x88\xb5" + payload(100)
    return [bytes(good), bytes(bad_tcp), bytes(bad_ip), other]


def test_off_rxcsum(c):
    """RXCSUM.IPOFL|TUOFL: with x-offload the device checks IPv4 and TCP
    checksums (IPCS/TCPCS, IPE/TCPE, IXSM clear); without it the register
    stays 0 and every frame says IXSM, as upstream."""
    n = c.nic
    c.rx_setup(ndesc=8, rctl=RCTL_EN | RCTL_BAM | RCTL_SECRC)
    n.w(RXCSUM, RXCSUM_IPOFL | RXCSUM_TUOFL)
    frames = rx_frames()
    for f in frames:
        c.vm.send_frame(f)
    c.wait_rdh(len(frames))
    d = [c.rx_desc_at(i) for i in range(len(frames))]
    for i, f in enumerate(frames):
        c.eq(c.vm.memread(d[i]["addr"], len(f)), f, "frame %d bytes" % i)
    if not offload(c):
        c.eq(n.r(RXCSUM), 0, "RXCSUM write dropped (upstream has no RXCSUM)")
        for i in range(len(frames)):
            c.eq(d[i]["status"] & RXD_IXSM, RXD_IXSM, "frame %d IXSM" % i)
            c.eq(d[i]["errors"], 0, "frame %d errors" % i)
        return
    c.eq(n.r(RXCSUM), RXCSUM_IPOFL | RXCSUM_TUOFL, "RXCSUM reads back")
    want = [(RXD_IPCS | RXD_TCPCS, 0), (RXD_IPCS | RXD_TCPCS, RXE_TCPE),
            (RXD_IPCS, RXE_IPE), (0, 0)]
    for i, (st, er) in enumerate(want):
        c.eq(d[i]["status"] & (RXD_IXSM | RXD_IPCS | RXD_TCPCS), st, "frame %d status" % i)
        c.eq(d[i]["errors"], er, "frame %d errors" % i)
    # RXCSUM off again: upstream's IXSM.
    n.w(RXCSUM, 0)
    c.vm.send_frame(frames[1])
    c.wait_rdh(len(frames) + 1)
    last = c.rx_desc_at(len(frames))
    c.eq(last["status"] & RXD_IXSM, RXD_IXSM, "RXCSUM 0: IXSM again")
    c.eq(last["errors"], 0, "RXCSUM 0: no error reported")


@pytest.mark.hostile
def test_h_offload_rx_truncated(c):
    """Frames whose IPv4 header or lengths lie beyond the frame: no OOB
    read, reported as not checked."""
    n = c.nic
    c.rx_setup(ndesc=8, rctl=RCTL_EN | RCTL_BAM | RCTL_SECRC)
    n.w(RXCSUM, RXCSUM_IPOFL | RXCSUM_TUOFL)
    good = rx_frames()[0]
    longlen = bytearray(good)
    longlen[16:18] = b"\xff\xff"          # total length past the frame
    bigihl = bytearray(good[:40])
    bigihl[14] = 0x4F                     # 60-byte header, 26 bytes there
    frames = [good[:20], bytes(longlen), bytes(bigihl)]
    for f in frames:
        c.vm.send_frame(f)
    c.wait_rdh(len(frames))
    for i in range(len(frames)):
        d = c.rx_desc_at(i)
        c.eq(d["errors"], 0, "frame %d: no checksum error claimed" % i)
        if offload(c):
            c.eq(d["status"] & (RXD_IPCS | RXD_TCPCS), 0, "frame %d: not checked" % i)
    c.alive_and_idle()
