#!/usr/bin/python3
"""pingflood.py ADDR [SECONDS]: ICMP echo requests to ADDR, keeping up to 32
outstanding (a new one goes out for every reply, or after 10 ms without
one), for SECONDS (default: until SIGINT/SIGTERM).  Needs root (raw socket).
Prints "sent N received N" when it ends.  For traffic through a guest's NIC
in both directions without any server in the guest (the kernel answers).
"""
import os
import select
import signal
import socket
import struct
import sys
import time


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main():
    addr = sys.argv[1]
    end = time.monotonic() + float(sys.argv[2]) if len(sys.argv) > 2 else None
    ident = os.getpid() & 0xFFFF
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    sent = received = 0
    outstanding = 0
    payload = b"vexit-e1000opt" * 4

    def send():
        nonlocal sent, outstanding
        seq = sent & 0xFFFF
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
        try:
            s.sendto(pkt, (addr, 0))
            sent += 1
            outstanding += 1
        except OSError:
            time.sleep(0.01)

    while not stop and (end is None or time.monotonic() < end):
        while outstanding < 32:
            send()
        r, _, _ = select.select([s], [], [], 0.01)
        if not r:
            outstanding = max(0, outstanding - 1)  # count it lost, send anew
            continue
        data = s.recv(2048)
        ihl = (data[0] & 0xF) * 4
        typ, _, _, rid, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if typ == 0 and rid == ident:
            received += 1
            outstanding = max(0, outstanding - 1)
    print(f"sent {sent} received {received}", flush=True)


if __name__ == "__main__":
    main()
