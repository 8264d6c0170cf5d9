#!/usr/bin/python3
"""freeze-thread.py PID NAME-PREFIX QMP-SOCKET [TRIES]: stop one thread of
QEMU (the first whose name starts with NAME-PREFIX, e.g. "sidecore-") while
the rest of QEMU runs, and hold it stopped until stdin closes or reads a
line; then let it go on.

The e1000-opt tests use it to make a race deterministic: with the sidecore
thread stopped, TX the guest queues stays in the ring (TDH != TDT) until
the test has suspended, stopped or saved the VM, which is the state the test
is about.  Without it the thread usually empties the ring while the vCPUs
are being paused, and the test would only sometimes see the state it needs.

The thread is stopped with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT stop just
that thread; PTRACE_DETACH, or this process's exit, resumes it).  It must
not be stopped while it holds the BQL, or nothing else in QEMU could run:
after each stop a QMP query-status (which runs under the BQL) must answer
within 2 s, else the thread is let go and stopped again a little later, up
to TRIES (default 50) times.

Prints "frozen TID TRIES" once the thread is held, "thawed TID" when it is
let go; exit 1 with a message if it could not be held.
"""
import ctypes
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts/lib"))
from qmp import QMP, QMPError  # noqa: E402  (the harness's one QMP client)

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid):
    if libc.ptrace(req, tid, None, None) == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({req:#x}, {tid}): {os.strerror(e)}")


def find_thread(pid, prefix):
    for t in sorted(os.listdir(f"/proc/{pid}/task")):
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if f.read().strip().startswith(prefix):
                    return int(t)
        except OSError:
            pass
    return None


def qmp_answers(path, timeout):
    """True if QEMU runs a QMP command (under the BQL) within timeout."""
    q = None
    try:
        q = QMP(path, connect_timeout=timeout, reply_timeout=timeout)
        q.cmd({"execute": "query-status"}, timeout)
        return True
    except (QMPError, OSError):  # includes the timeouts
        return False
    finally:
        if q is not None:
            q.close()


def main():
    pid, prefix, sock = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    tries = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    tid = find_thread(pid, prefix)
    if tid is None:
        sys.exit(f"freeze-thread: no thread {prefix}* in {pid}")
    for i in range(1, tries + 1):
        ptrace(PTRACE_SEIZE, tid)
        ptrace(PTRACE_INTERRUPT, tid)
        os.waitpid(tid, WALL)
        if qmp_answers(sock, 2.0):
            break
        # It holds the BQL (or QEMU is stuck): let it go and retry.
        ptrace(PTRACE_DETACH, tid)
        time.sleep(random.uniform(0.001, 0.02))
    else:
        sys.exit(f"freeze-thread: {tid} held the BQL at each of {tries} stops")
    print(f"frozen {tid} {i}", flush=True)
    sys.stdin.readline()
    ptrace(PTRACE_DETACH, tid)
    print(f"thawed {tid}", flush=True)


if __name__ == "__main__":
    main()
