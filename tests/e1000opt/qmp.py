#!/usr/bin/python3
"""qmp.py SOCKET STEP...: a minimal QMP client for the e1000-opt tests
(usage: run it without arguments)."""
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
    qmp.main(usage="qmp.py SOCKET STEP...: a minimal QMP client for the e1000-opt tests.\n\n"
             + qmp.STEPS_HELP)
