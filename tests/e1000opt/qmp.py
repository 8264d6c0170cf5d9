#!/usr/bin/python3
"""qmp.py SOCKET STEP...: a minimal QMP client for the e1000-opt tests.

Connects to QEMU's QMP unix socket, negotiates capabilities and runs the
steps in order, printing one JSON line per command: its "return" value.
A step is one of
  NAME [JSON-ARGS]         a QMP command, e.g. 'stop' or
                           'set_link {"name":"n","up":false}'
  {...}                    a whole QMP command object
  @sleep SECS              pause
  @event NAME [TIMEOUT]    wait for an asynchronous event NAME (default 30 s;
                           events that arrived earlier count), print it
  @migrate-wait [TIMEOUT]  poll query-migrate until completed (fails on
                           failed/cancelled), print the final status
Exit status: 0 all steps succeeded; 1 a command returned an error, an
event or the migration did not come in time, or the connection failed
(message on stderr).
Options: --connect-timeout SECS (default 10: retry while the socket is not
there yet).
"""
import json
import socket
import sys
import time


class QMP:
    def __init__(self, path, timeout):
        end = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError as e:
                self.s.close()
                if time.monotonic() > end:
                    raise SystemExit(f"qmp: cannot connect to {path}: {e}")
                time.sleep(0.1)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events = []
        greeting = self.read(30)
        if "QMP" not in greeting:
            raise SystemExit(f"qmp: no greeting: {greeting}")
        self.cmd({"execute": "qmp_capabilities"})

    def read(self, timeout):
        self.s.settimeout(timeout)
        try:
            line = self.f.readline()
        except socket.timeout:
            return None
        if not line:
            raise SystemExit("qmp: connection closed by QEMU")
        return json.loads(line)

    def cmd(self, obj, timeout=60):
        self.f.write((json.dumps(obj) + "\n").encode())
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise SystemExit(f"qmp: no answer to {obj} in {timeout}s")
            m = self.read(left)
            if m is None:
                continue
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                print(f"qmp: {obj.get('execute')}: {m['error'].get('desc')}",
                      file=sys.stderr)
                sys.exit(1)
            return m.get("return")

    def event(self, name, timeout):
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise SystemExit(f"qmp: no {name} event in {timeout}s")
            m = self.read(left)
            if m is not None and "event" in m:
                self.events.append(m)


def main():
    args = sys.argv[1:]
    ctimeout = 10.0
    if len(args) >= 2 and args[0] == "--connect-timeout":
        ctimeout = float(args[1])
        args = args[2:]
    if not args:
        raise SystemExit(__doc__)
    q = QMP(args[0], ctimeout)
    for step in args[1:]:
        step = step.strip()
        if step.startswith("{"):
            print(json.dumps(q.cmd(json.loads(step))), flush=True)
        elif step.startswith("@sleep"):
            time.sleep(float(step.split()[1]))
        elif step.startswith("@event"):
            w = step.split()
            e = q.event(w[1], float(w[2]) if len(w) > 2 else 30)
            print(json.dumps(e), flush=True)
        elif step.startswith("@migrate-wait"):
            w = step.split()
            end = time.monotonic() + (float(w[1]) if len(w) > 1 else 60)
            while True:
                st = q.cmd({"execute": "query-migrate"})
                s = st.get("status")
                if s == "completed":
                    print(json.dumps(st), flush=True)
                    break
                if s in ("failed", "cancelled", None):
                    raise SystemExit(f"qmp: migration {s}: {st.get('error-desc', '')}")
                if time.monotonic() > end:
                    raise SystemExit(f"qmp: migration not completed: {s}")
                time.sleep(0.05)
        else:
            name, _, rest = step.partition(" ")
            obj = {"execute": name}
            if rest.strip():
                obj["arguments"] = json.loads(rest)
            print(json.dumps(q.cmd(obj)), flush=True)


if __name__ == "__main__":
    main()
