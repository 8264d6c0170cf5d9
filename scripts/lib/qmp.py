#!/usr/bin/python3
"""qmp.py: the QMP client of the harness (scripts/, the benchmarks and the
e1000-opt tests; vexitprof has its own in C, profiler/qmp.c).

As a module:
    q = QMP(path, connect_timeout=10)     # connect, greeting, capabilities
    q.command("query-stats", target="vcpu")  # its "return" value
    q.cmd({"execute": ...})               # the same for a whole object
    q.event("STOP", timeout=30)           # wait for an asynchronous event
    q.migrate_wait(timeout=60)            # poll query-migrate to completed
Every failure raises QMPError with a one-line message ("qmp: ...").
As a command: see STEPS_HELP (qmp.py without arguments prints it).
"""
import json
import socket
import sys
import time

STEPS_HELP = """Connects to QEMU's QMP unix socket, negotiates capabilities and runs the
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
USAGE = "qmp.py SOCKET STEP...: QMP commands and waits, in order.\n\n" + STEPS_HELP


class QMPError(Exception):
    """A QMP failure; str() is the message for the user."""


class QMP:
    def __init__(self, path, connect_timeout=10.0, reply_timeout=60.0):
        """reply_timeout bounds the greeting and the capabilities answer
        (short for a caller that asks whether QEMU's main loop runs)."""
        end = time.monotonic() + connect_timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError as e:
                self.s.close()
                if time.monotonic() > end:
                    raise QMPError(f"qmp: cannot connect to {path}: {e}")
                time.sleep(0.1)
        self.f = self.s.makefile("rwb", buffering=0)
        self.events = []
        greeting = self.read(min(30.0, reply_timeout))
        if greeting is None or "QMP" not in greeting:
            raise QMPError(f"qmp: no greeting: {greeting}")
        self.cmd({"execute": "qmp_capabilities"}, reply_timeout)

    def close(self):
        self.f.close()
        self.s.close()

    def read(self, timeout):
        """The next message, or None after TIMEOUT seconds."""
        self.s.settimeout(timeout)
        try:
            line = self.f.readline()
        except (socket.timeout, TimeoutError):
            return None
        if not line:
            raise QMPError("qmp: connection closed by QEMU")
        return json.loads(line)

    def cmd(self, obj, timeout=60):
        """Run the command object OBJ; its "return" value.  Events that
        arrive meanwhile are kept for event()."""
        self.f.write((json.dumps(obj) + "\n").encode())
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise QMPError(f"qmp: no answer to {obj} in {timeout}s")
            m = self.read(left)
            if m is None:
                continue
            if "event" in m:
                self.events.append(m)
                continue
            if "error" in m:
                raise QMPError(f"qmp: {obj.get('execute')}: {m['error'].get('desc')}")
            return m.get("return")

    def command(self, name, **args):
        obj = {"execute": name}
        if args:
            obj["arguments"] = args
        return self.cmd(obj)

    def event(self, name, timeout=30):
        """The first event NAME (also one that arrived earlier)."""
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                raise QMPError(f"qmp: no {name} event in {timeout}s")
            m = self.read(left)
            if m is not None and "event" in m:
                self.events.append(m)

    def migrate_wait(self, timeout=60):
        """Poll query-migrate until the migration completed; its status."""
        end = time.monotonic() + timeout
        while True:
            st = self.cmd({"execute": "query-migrate"})
            s = st.get("status")
            if s == "completed":
                return st
            if s in ("failed", "cancelled", None):
                raise QMPError(f"qmp: migration {s}: {st.get('error-desc', '')}")
            if time.monotonic() > end:
                raise QMPError(f"qmp: migration not completed: {s}")
            time.sleep(0.05)


def run_steps(q, steps):
    for step in steps:
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
            st = q.migrate_wait(float(w[1]) if len(w) > 1 else 60)
            print(json.dumps(st), flush=True)
        else:
            name, _, rest = step.partition(" ")
            obj = {"execute": name}
            if rest.strip():
                obj["arguments"] = json.loads(rest)
            print(json.dumps(q.cmd(obj)), flush=True)


def main(argv=None, usage=None):
    """The command (see above); USAGE replaces its usage text."""
    args = sys.argv[1:] if argv is None else argv
    ctimeout = 10.0
    if len(args) >= 2 and args[0] == "--connect-timeout":
        ctimeout = float(args[1])
        args = args[2:]
    if not args:
        raise SystemExit(usage or USAGE)
    try:
        run_steps(QMP(args[0], ctimeout), args[1:])
    except QMPError as e:
        sys.exit(str(e))


if __name__ == "__main__":
    main()
