"""pytest glue of the e1000 qtest suite.

Options: --qemu PATH (default $QEMU, else build/bin/qemu-system-x86_64),
--props 'x-coalesce=on,...' (extra e1000 properties; empty = upstream),
--keep (keep the socket directory and QEMU log of a failed test),
--qtest-verbose (print every check and QEMU's log; pytest shows them with
-s, or for failed tests).

Every test takes the fixture `c`, a harness.Ctx for these options that is
not started yet.  pytest_pyfunc_call below runs the test through
harness.run_one (fresh QEMU, the test, then the common epilogue: QEMU
answers, quits with status 0, and its log shows no assertion, abort,
sanitizer report or segfault) and then harness.judge_deviations (with
--props, a test that reported an upstream deviation runs again without
them and must report the same).  The terminal summary prints the DEVIATION
lines, the number of checks and `failed: NAMES` (tests/t-qtest-e1000.sh
shows that line per property set).
"""

import os
import sys
import time

import pytest

sys.dont_write_bytecode = True      # no __pycache__ in the source tree

import harness  # noqa: E402
from harness import DEVIATIONS, STAGE_DEVIATIONS, Ctx  # noqa: E402

# Per test, in run order: (name, error or None, Ctx, seconds).
RESULTS = []


def pytest_addoption(parser):
    g = parser.getgroup("e1000 qtest")
    g.addoption("--qemu", default=os.environ.get("QEMU", harness.DEFAULT_QEMU),
                help="qemu-system-x86_64 to test")
    g.addoption("--props", default="",
                help="extra e1000 properties, e.g. x-coalesce=on")
    g.addoption("--keep", action="store_true",
                help="keep the socket directory and QEMU log of failed tests")
    g.addoption("--qtest-verbose", action="store_true",
                help="print every check and QEMU's log")


def declared(item):
    m = item.get_closest_marker("deviations")
    return tuple(m.args) if m else ()


def pytest_collection_modifyitems(config, items):
    for item in items:
        for k in declared(item):
            if k not in DEVIATIONS and k not in STAGE_DEVIATIONS:
                raise pytest.UsageError("%s declares unknown deviation %r"
                                        % (item.nodeid, k))
        if "c" not in getattr(item, "fixturenames", ()):
            raise pytest.UsageError("%s does not take the fixture c"
                                    % item.nodeid)


@pytest.fixture
def c(request):
    """The test's context, not started: pytest_pyfunc_call starts it."""
    opt = request.config.getoption
    return Ctx(opt("qemu"), opt("props"), opt("qtest_verbose"),
               declared(request.node))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    ctx = pyfuncitem.funcargs["c"]
    keep = pyfuncitem.config.getoption("keep")
    fn = pyfuncitem.obj
    t0 = time.monotonic()
    err = harness.run_one(ctx, fn, keep)
    if err is None:
        err = harness.judge_deviations(ctx, fn, keep)
    RESULTS.append((pyfuncitem.name, err, ctx, time.monotonic() - t0))
    if err is not None:
        msg = err
        if ctx.vm is not None:
            # (read before cleanup_files removed it)
            tail = ctx.logtxt.strip()[-1500:]
            if tail and not ctx.verbose:
                msg += "\nqemu log: " + tail.replace("\n", "\n| ")
            if keep:
                msg += "\n(files kept in %s)" % ctx.vm.dir
        pytest.fail(msg, pytrace=False)
    return True


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RESULTS:
        return
    w = terminalreporter.write_line
    props = config.getoption("props")
    label = props or "upstream (no extra properties)"
    deviations, bugs, checks, failed = {}, {}, 0, []
    terminalreporter.section("e1000 qtest, device props: %s" % label)
    for name, err, ctx, secs in RESULTS:
        checks += ctx.checks
        if err is not None:
            failed.append(name)
            how = "test failed"
        elif not props:
            how = "upstream behaviour, accepted"
        else:
            how = "the same without the props: upstream's, accepted"
        w("%-4s %-33s %3d checks %5.2fs"
          % ("ok" if err is None else "FAIL", name, ctx.checks, secs))
        for _, d in ctx.deviations:
            if err is None:
                deviations.setdefault(d, []).append(name)
            w("     DEVIATION (%s): %s" % (how, d))
        for _, d in ctx.stage_devs:
            if err is None:
                deviations.setdefault(d, []).append(name)
            w("     DEVIATION (documented for this stage%s): %s"
              % (", accepted" if err is None else "", d))
        for _, d in ctx.bugs:
            if err is None:
                bugs.setdefault(d, []).append(name)
            w("     UPSTREAM BUG (%s, report it): %s" % (how, d))
    w("%d checks, props: %s" % (checks, label))
    if deviations or bugs:
        w("accepted: %d SDM deviations, %d bugs (see DEVIATION / "
          "UPSTREAM BUG lines)" % (len(deviations), len(bugs)))
    if failed:
        w("failed: " + " ".join(failed))
