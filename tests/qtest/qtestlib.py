"""Minimal client for QEMU's qtest protocol (Python 3 standard library only).

Starts one qemu-system-x86_64 under ``-accel qtest`` and talks to it over
three Unix sockets, all of which this process listens on and QEMU connects to:

* the qtest socket (``-qtest unix:PATH``): line protocol, see the "QTest
  Protocol" comment in QEMU's system/qtest.c.  Every request gets exactly one
  reply line ("OK ...", "FAIL ...", "ERR ..."); "IRQ raise N" / "IRQ lower N"
  lines arrive asynchronously at any time once ``irq_intercept_in`` ran.
* a QMP monitor (``-chardev socket`` + ``-mon mode=control``), used to wait
  for the network backend to connect, for ``info network`` and to quit.
* a stream netdev (``-netdev stream,server=off,addr.type=unix``): every frame
  in either direction is a 4-byte big-endian length followed by the frame.

Reader threads drain the qtest and netdev sockets, so async IRQ messages and
transmitted frames are never lost and QEMU never blocks writing to us.  Every
request has a timeout: a QEMU that hangs or spins in a device callback
raises :class:`QemuHang` instead of hanging the test.
"""

import base64
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time

DEFAULT_TIMEOUT = float(os.environ.get("QTEST_CMD_TIMEOUT", "10"))


class QtestError(Exception):
    """QEMU answered a request with FAIL/ERR, or broke the protocol."""


class QemuHang(QtestError):
    """QEMU did not answer within the timeout (hung or spinning)."""


class QemuDied(QtestError):
    """The QEMU process exited (crash, abort, assertion)."""


def _listen(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    return s


class QemuVM:
    """One QEMU process under qtest.  Use as a context manager."""

    def __init__(self, qemu, args, timeout=DEFAULT_TIMEOUT, netdev_id="n0",
                 log_dir=None):
        self.qemu = qemu
        self.extra_args = list(args)
        self.timeout = timeout
        self.netdev_id = netdev_id
        self.dir = tempfile.mkdtemp(prefix="qtest-", dir=log_dir)
        self.proc = None
        self._qt = self._qmp = self._net = None
        self._lock = threading.Condition()
        self._replies = []
        self.irq_events = []        # [(monotonic time, "raise"/"lower", n)]
        self.irq_level = {}
        self.frames = []            # frames QEMU transmitted, in order
        self._net_lock = threading.Condition()
        self._net_go = threading.Event()
        self._net_go.set()
        self._net_parked = threading.Event()
        self._dead = None
        self._threads = []
        self.stderr_path = os.path.join(self.dir, "qemu.log")

    # -- process management ------------------------------------------------

    def start(self):
        qt_path = os.path.join(self.dir, "qtest.sock")
        qmp_path = os.path.join(self.dir, "qmp.sock")
        net_path = os.path.join(self.dir, "net.sock")
        lq, lm, ln = _listen(qt_path), _listen(qmp_path), _listen(net_path)
        self.net_path = net_path
        argv = [self.qemu, "-machine", "pc", "-accel", "qtest",
                "-qtest", "unix:" + qt_path, "-qtest-log", "/dev/null",
                "-L", "/usr/share/qemu", "-L", "/usr/share/seabios",
                "-chardev", "socket,id=qmp0,path=" + qmp_path,
                "-mon", "chardev=qmp0,mode=control",
                "-nodefaults", "-display", "none", "-m", "64",
                "-netdev", "stream,id=%s,server=off,addr.type=unix,"
                "addr.path=%s" % (self.netdev_id, net_path)]
        argv += self.extra_args
        self.argv = argv
        self._errf = open(self.stderr_path, "wb")
        # The QEMU binary may be being rebuilt/replaced right now (missing,
        # not yet executable, "text file busy"): retry for a while.
        deadline = time.monotonic() + float(
            os.environ.get("QTEST_BINARY_WAIT", "180"))
        while True:
            try:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                             stdout=self._errf,
                                             stderr=self._errf)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
        try:
            self._qt = self._accept(lq, "qtest")
            self._qmp = self._accept(lm, "qmp")
            self._net = self._accept(ln, "netdev")
        finally:
            for s in (lq, lm, ln):
                s.close()
        self._start_thread(self._qt_reader, "qtest-reader")
        self._start_thread(self._net_reader, "net-reader")
        self._qmp_buf = b""
        self._qmp_greeting = self._qmp_recv(lambda m: "QMP" in m)
        self.qmp("qmp_capabilities")
        self._wait_netdev_connected()
        return self

    def _accept(self, lsock, what):
        deadline = time.monotonic() + self.timeout
        while True:
            r, _, _ = select.select([lsock], [], [], 0.05)
            if r:
                c, _ = lsock.accept()
                return c
            if self.proc.poll() is not None:
                raise QemuDied("QEMU exited (%s) before connecting %s:\n%s"
                               % (self.proc.returncode, what, self.log()))
            if time.monotonic() > deadline:
                raise QemuHang("QEMU did not connect its %s socket" % what)

    def _wait_netdev_connected(self):
        # The stream netdev connects asynchronously; until its completion
        # callback ran, the backend is link-down and drops frames.
        deadline = time.monotonic() + self.timeout
        while True:
            info = self.hmp("info network")
            # e.g. " \\ n0: index=0,type=stream,unix:/path" once connected,
            # "...,type=stream,connecting" before.
            line = [l for l in info.splitlines()
                    if (" %s: " % self.netdev_id) in " " + l.lstrip(" \\")]
            if line and "connecting" not in line[0] and "unix:" in line[0]:
                return
            if time.monotonic() > deadline:
                raise QemuHang("netdev never connected: %r" % info)
            time.sleep(0.002)

    def _start_thread(self, fn, name):
        t = threading.Thread(target=fn, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cpu_ticks(self):
        """utime+stime of the whole QEMU process, in clock ticks."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def quit(self, timeout=None):
        """Ask QEMU to quit via QMP; returns its exit code."""
        timeout = timeout or self.timeout
        if self.proc.poll() is None:
            try:
                self.qmp("quit")
            except (QtestError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise QemuHang("QEMU did not exit after quit")
        return self.proc.returncode

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for s in (self._qt, self._qmp, self._net):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        if getattr(self, "_errf", None):
            self._errf.close()
        for t in self._threads:
            t.join(1)

    def cleanup_files(self):
        for n in ("qtest.sock", "qmp.sock", "net.sock", "qemu.log"):
            try:
                os.unlink(os.path.join(self.dir, n))
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    # -- qtest protocol ------------------------------------------------------

    def _qt_reader(self):
        buf = b""
        try:
            while True:
                data = self._qt.recv(65536)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.decode()
                    if line.startswith("IRQ "):
                        _, what, num = line.split()
                        with self._lock:
                            self.irq_events.append(
                                (time.monotonic(), what, int(num)))
                            self.irq_level[int(num)] = (what == "raise")
                            self._lock.notify_all()
                    else:
                        with self._lock:
                            self._replies.append(line)
                            self._lock.notify_all()
        except OSError:
            pass
        with self._lock:
            self._dead = True
            self._lock.notify_all()

    def cmd(self, line, timeout=None, raw=False):
        """Send one qtest request, return the reply words after OK
        (or, with raw=True, the whole reply line, whatever it is)."""
        timeout = timeout or self.timeout
        with self._lock:
            if self._replies:
                raise QtestError("stray replies: %r" % self._replies)
        try:
            self._qt.sendall(line.encode() + b"\n")
        except OSError as e:
            raise self._why_dead("sending %r: %s" % (line[:80], e))
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._replies:
                left = deadline - time.monotonic()
                if self._dead:
                    raise self._why_dead("during %r" % line[:80])
                if left <= 0:
                    raise QemuHang("no reply to %r within %.1fs (QEMU hung "
                                   "or spinning)" % (line[:80], timeout))
                self._lock.wait(min(left, 0.5))
            reply = self._replies.pop(0)
        if raw:
            return reply
        if reply.startswith("OK"):
            return reply[2:].strip()
        raise QtestError("%r -> %r" % (line[:80], reply))

    def _why_dead(self, what):
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            return QtestError("qtest socket closed %s" % what)
        return QemuDied("QEMU exited with %s %s:\n%s"
                        % (self.proc.returncode, what, self.log()[-3000:]))

    def outb(self, addr, val):
        self.cmd("outb 0x%x 0x%x" % (addr, val))

    def outw(self, addr, val):
        self.cmd("outw 0x%x 0x%x" % (addr, val))

    def outl(self, addr, val):
        self.cmd("outl 0x%x 0x%x" % (addr, val))

    def inb(self, addr):
        return int(self.cmd("inb 0x%x" % addr), 0)

    def inw(self, addr):
        return int(self.cmd("inw 0x%x" % addr), 0)

    def inl(self, addr):
        return int(self.cmd("inl 0x%x" % addr), 0)

    def writel(self, addr, val):
        self.cmd("writel 0x%x 0x%x" % (addr, val & 0xffffffff))

    def readl(self, addr):
        return int(self.cmd("readl 0x%x" % addr), 0) & 0xffffffff

    def writeq(self, addr, val):
        self.cmd("writeq 0x%x 0x%x" % (addr, val & 0xffffffffffffffff))

    def readq(self, addr):
        return int(self.cmd("readq 0x%x" % addr), 0)

    def memwrite(self, addr, data):
        if not data:
            return
        self.cmd("b64write 0x%x 0x%x %s"
                 % (addr, len(data), base64.b64encode(bytes(data)).decode()))

    def memread(self, addr, size):
        out = base64.b64decode(self.cmd("b64read 0x%x 0x%x" % (addr, size)))
        if len(out) != size:
            raise QtestError("b64read returned %d bytes, wanted %d"
                             % (len(out), size))
        return out

    def memset(self, addr, size, val):
        self.cmd("memset 0x%x 0x%x 0x%x" % (addr, size, val))

    def clock_step(self, ns=None):
        """Advance QEMU_CLOCK_VIRTUAL by ns (or to the next deadline)."""
        r = self.cmd("clock_step" if ns is None else "clock_step %d" % ns)
        return int(r)

    def clock_now(self):
        # clock_set to a past time changes nothing and answers
        # "FAIL <current>" (system/qtest.c).
        return int(self.cmd("clock_set 0", raw=True).split()[1])

    def irq_intercept_in(self, path):
        self.cmd("irq_intercept_in %s" % path)

    def ping(self, timeout=None):
        """A trivial request: proves the main loop still answers."""
        return self.cmd("endianness", timeout)

    def irq_snapshot(self):
        with self._lock:
            return list(self.irq_events)

    # -- QMP -----------------------------------------------------------------

    def _qmp_recv(self, want, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            while b"\n" in self._qmp_buf:
                line, self._qmp_buf = self._qmp_buf.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                if want(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise QemuHang("QMP: no reply within timeout")
            r, _, _ = select.select([self._qmp], [], [], min(left, 0.5))
            if r:
                data = self._qmp.recv(65536)
                if not data:
                    raise self._why_dead("QMP socket closed")
                self._qmp_buf += data
            elif self.proc.poll() is not None:
                raise self._why_dead("QMP")

    def qmp(self, command, **args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self._qmp.sendall(json.dumps(msg).encode() + b"\n")
        r = self._qmp_recv(lambda m: "return" in m or "error" in m)
        if "error" in r:
            raise QtestError("QMP %s: %s" % (command, r["error"]))
        return r["return"]

    def hmp(self, line):
        return self.qmp("human-monitor-command", **{"command-line": line})

    # -- network backend ------------------------------------------------------

    def _net_reader(self):
        buf = b""
        try:
            while True:
                if not self._net_go.is_set():
                    self._net_parked.set()
                    self._net_go.wait()
                    self._net_parked.clear()
                    continue
                r, _, _ = select.select([self._net], [], [], 0.02)
                if not r or not self._net_go.is_set():
                    continue
                data = self._net.recv(1 << 20)
                if not data:
                    break
                buf += data
                while len(buf) >= 4:
                    (n,) = struct.unpack(">I", buf[:4])
                    if len(buf) < 4 + n:
                        break
                    frame, buf = buf[4:4 + n], buf[4 + n:]
                    with self._net_lock:
                        self.frames.append(frame)
                        self._net_lock.notify_all()
        except (OSError, ValueError):
            pass

    def pause_net_reader(self, paused=True):
        """Stop (or resume) reading the netdev socket, so that QEMU's writes
        to it back up (backpressure).  Returns once the reader is parked."""
        if paused:
            self._net_go.clear()
            if not self._net_parked.wait(2):
                raise QtestError("netdev reader did not park")
        else:
            self._net_go.set()

    def net_pending_bytes(self):
        """Bytes QEMU has written to the netdev socket that the reader has
        not taken yet (FIONREAD on our end of the Unix stream socket)."""
        buf = fcntl.ioctl(self._net.fileno(), termios.FIONREAD, b"\0" * 4)
        return struct.unpack("i", buf)[0]

    def send_frame(self, frame):
        """Inject one frame towards the device (guest RX)."""
        self._net.sendall(struct.pack(">I", len(frame)) + bytes(frame))

    def take_frames(self):
        with self._net_lock:
            f, self.frames = self.frames, []
            return f

    def frame_count(self):
        with self._net_lock:
            return len(self.frames)

    def wait_frames(self, n, timeout):
        """Wait (real time) until at least n frames arrived."""
        deadline = time.monotonic() + timeout
        with self._net_lock:
            while len(self.frames) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._net_lock.wait(left)
            return True
