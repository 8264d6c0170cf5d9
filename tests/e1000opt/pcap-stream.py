#!/usr/bin/env python3
"""pcap-stream.py PCAP PORT: reassemble, from a tcpdump capture on the host
side of the tap, every TCP stream the guest sent to PORT (IPv4 or IPv6), by
sequence number, and print one JSON line per connection:
  {"src": ..., "bytes": N, "sha256": ..., "packets": P, "max_ip_len": L,
   "gso_packets": G (packets longer than a 1500-byte MTU), "holes": H}
holes > 0: bytes missing from the capture (then the hash cannot match).
"""
import hashlib
import json
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        magic = struct.unpack("<I", hdr[:4])[0]
        end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        if struct.unpack(end + "I", hdr[20:24])[0] != 1:
            sys.exit("pcap-stream: not an Ethernet capture")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            incl = struct.unpack(end + "IIII", rec)[2]
            yield f.read(incl)


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    conns = {}
    for fr in packets(path):
        et = struct.unpack("!H", fr[12:14])[0]
        if et == 0x0800:
            ihl = (fr[14] & 0xF) * 4
            iplen = struct.unpack("!H", fr[16:18])[0]
            proto, src, l4 = fr[23], fr[26:30], 14 + ihl
            end = 14 + iplen
        elif et == 0x86DD:
            iplen = 40 + struct.unpack("!H", fr[18:20])[0]
            proto, src, l4 = fr[20], fr[22:38], 54
            end = 14 + iplen
        else:
            continue
        if proto != 6:
            continue
        sport, dport, seq = struct.unpack("!HHI", fr[l4:l4 + 8])
        if dport != port:
            continue
        flags, doff = fr[l4 + 13], (fr[l4 + 12] >> 4) * 4
        c = conns.setdefault((src, sport), {"isn": None, "segs": {}, "packets": 0,
                                             "max": 0, "gso": 0})
        c["packets"] += 1
        c["max"] = max(c["max"], iplen)
        c["gso"] += iplen > 1500
        if flags & 0x02:
            c["isn"] = seq + 1
            continue
        data = fr[l4 + doff:end]
        if data:
            c["segs"].setdefault(seq, data)
    for (src, sport), c in conns.items():
        if c["isn"] is None:
            print(json.dumps({"src": src.hex(), "sport": sport, "error": "no SYN captured"}))
            continue
        h, pos, holes, n = hashlib.sha256(), c["isn"], 0, 0
        for seq in sorted(c["segs"], key=lambda s: (s - c["isn"]) & 0xFFFFFFFF):
            data = c["segs"][seq]
            off = (pos - seq) & 0xFFFFFFFF
            if off >= 0x80000000:  # a hole before this segment
                holes += (seq - pos) & 0xFFFFFFFF
                off = 0
            if off < len(data):
                h.update(data[off:])
                n += len(data) - off
                pos = (seq + len(data)) & 0xFFFFFFFF
        print(json.dumps({"src": src.hex(), "sport": sport, "bytes": n, "sha256": h.hexdigest(),
                          "packets": c["packets"], "max_ip_len": c["max"],
                          "gso_packets": c["gso"], "holes": holes}))


if __name__ == "__main__":
    main()
