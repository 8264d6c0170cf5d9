#!/usr/bin/env python3
"""The host-side peer of the guest's sha-tx, sha-rx and csum steps
(guest/init), run inside the VM's network namespace.

  port 5301  sink: reads to EOF, answers "BYTES SHA256 BLOCK-SHA256 REPEATS"
             (the guest sends one MiB repeated: the hash of the first MiB
             and how many MiBs equal it) and logs it
  port 5302  source: sends the size last asked for (pseudo-random bytes
             from a seeded generator), logs "BYTES SHA256" of what it sent
  port 5303  control, one line per connection:
               size MIB           the next source sends MIB MiB
               inject good|bad N  N TCP SYNs from 10.77.0.1 to the guest's
                                  closed port 5399 through a raw socket,
                                  with the right TCP checksum or a
                                  corrupted one; answers "sent N rst M":
                                  M = RSTs the guest sent back (seen on the
                                  tap with a packet socket)

Every transfer is logged as a JSON line to --log.  Listens on IPv4 and IPv6.
Runs until SIGINT/SIGTERM.
"""
import argparse
import hashlib
import json
import random
import signal
import socket
import struct
import sys
import threading
import time

GUEST_IP = "10.77.0.2"
HOST_IP = "10.77.0.1"
CLOSED_PORT = 5399
CHUNK = 1 << 20

lock = threading.Lock()
state = {"size_mib": 1, "seed": 1}


def log(path, obj):
    with lock, open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def listener(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(4)
    return s


def sink(conn, peer, path):
    """The guest sends one MiB over and over: hash it all, and count the
    MiBs equal to the first one."""
    h, n, first, repeats, buf = hashlib.sha256(), 0, None, 0, bytearray()
    while True:
        b = conn.recv(CHUNK)
        if not b:
            break
        h.update(b)
        n += len(b)
        buf += b
        while len(buf) >= CHUNK:
            blk = bytes(buf[:CHUNK])
            del buf[:CHUNK]
            if first is None:
                first = blk
            repeats += blk == first
    bsha = hashlib.sha256(first).hexdigest() if first else "-"
    ans = f"{n} {h.hexdigest()} {bsha} {repeats}"
    conn.sendall((ans + "\n").encode())
    log(path, {"kind": "sink", "peer": peer, "bytes": n, "sha256": h.hexdigest(),
               "block_sha256": bsha, "repeats": repeats})


def source(conn, peer, path):
    with lock:
        mib, seed = state["size_mib"], state["seed"]
        state["seed"] += 1
    rnd = random.Random(seed)
    h, n = hashlib.sha256(), 0
    for _ in range(mib):
        b = rnd.randbytes(CHUNK)
        h.update(b)
        conn.sendall(b)
        n += len(b)
    conn.shutdown(socket.SHUT_WR)
    log(path, {"kind": "source", "peer": peer, "bytes": n, "sha256": h.hexdigest()})


def csum16(data):
    if len(data) & 1:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(sport, good):
    src, dst = socket.inet_aton(HOST_IP), socket.inet_aton(GUEST_IP)
    tcp = struct.pack("!HHIIBBHHH", sport, CLOSED_PORT, 1000 + sport, 0, 5 << 4, 0x02, 64240, 0, 0)
    c = csum16(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    if not good:
        c ^= 0x5A5A
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), sport, 0, 64, 6, 0, src, dst)
    return ip + tcp


def inject(kind, n, tap, base):
    """Send n SYNs; count the guest's RSTs to their source ports."""
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    cap.bind((tap, 0))
    cap.settimeout(0.2)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    ports = set(range(base, base + n))
    for p in sorted(ports):
        raw.sendto(syn(p, kind == "good"), (GUEST_IP, 0))
    rst, end = 0, time.time() + 2.0
    while time.time() < end:
        try:
            f = cap.recv(65536)
        except socket.timeout:
            continue
        if len(f) < 14 + 20 + 20 or f[23] != 6 or f[26:30] != socket.inet_aton(GUEST_IP):
            continue
        ihl = (f[14] & 0xF) * 4
        t = f[14 + ihl:]
        sport, dport = struct.unpack("!HH", t[:4])
        if sport == CLOSED_PORT and dport in ports and t[13] & 0x04:
            rst += 1
    cap.close()
    raw.close()
    return f"sent {n} rst {rst}"


def control(conn, peer, path, tap):
    line = conn.makefile().readline().split()
    if len(line) == 2 and line[0] == "size":
        with lock:
            state["size_mib"] = int(line[1])
        ans = "ok"
    elif len(line) == 3 and line[0] == "inject" and line[1] in ("good", "bad"):
        base = 40000 if line[1] == "good" else 41000
        ans = inject(line[1], int(line[2]), tap, base)
    else:
        ans = "error: bad command"
    conn.sendall((ans + "\n").encode())
    log(path, {"kind": "control", "peer": peer, "cmd": " ".join(line), "answer": ans})


def serve(sock, fn, *args):
    while True:
        conn, addr = sock.accept()

        def run(c=conn, a=addr):
            try:
                fn(c, a[0], *args)
            except Exception as e:  # logged, the test judges
                log(args[0], {"kind": "error", "fn": fn.__name__, "error": str(e)})
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--tap", required=True)
    ap.add_argument("--ready", help="file to create once listening")
    a = ap.parse_args()
    socks = [(listener(5301), sink, (a.log,)), (listener(5302), source, (a.log,)),
             (listener(5303), control, (a.log, a.tap))]
    for s, fn, args in socks:
        threading.Thread(target=serve, args=(s, fn) + args, daemon=True).start()
    if a.ready:
        open(a.ready, "w").close()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
