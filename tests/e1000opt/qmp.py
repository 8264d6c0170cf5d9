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
# The client is the harness's one (scripts/lib/qmp.py); this is its command
# line, kept for the e1000-opt tests.
import importlib.util
import os

_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "lib", "qmp.py")
_spec = importlib.util.spec_from_file_location("vexit_qmp", _path)
qmp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qmp)
QMPError = qmp.QMPError


class QMP(qmp.QMP):
    """For the tests' scripts that import this file (tx-pending.py): as
    before, a failure ends the program with its message (exit status 1)."""

    def __init__(self, *args, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except QMPError as e:
            raise SystemExit(str(e))

    def cmd(self, *args, **kwargs):
        try:
            return super().cmd(*args, **kwargs)
        except QMPError as e:
            raise SystemExit(str(e))

    def event(self, *args, **kwargs):
        try:
            return super().event(*args, **kwargs)
        except QMPError as e:
            raise SystemExit(str(e))


if __name__ == "__main__":
    qmp.main(usage=__doc__)
