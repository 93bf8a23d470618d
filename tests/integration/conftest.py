"""Fixtures that boot real Tern hosts in emulators (tools/machine.py), alone
(`tern`, `qemu_host`, `bochs_host`) or as a pair A and B on a network lab
(`tern_pair`, tools/hostpair.py).

Every machine's console is logged under build/test-logs/<test>/<name>/;
on failure the paths are printed. Machines are stopped by the fixture,
also when the test fails.
"""
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from hostpair import boot_pair  # noqa: E402
from machine import BUILD, Console, Machine, missing_tools  # noqa: E402
from netlab import netlab, netlab_factory  # noqa: E402,F401  (pytest fixtures)

LOG_ROOT = os.path.join(BUILD, "test-logs")


def _test_dir(request) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    return os.path.join(LOG_ROOT, name)


class TernFactory:
    """Boots Tern hosts for one test (or one module) and stops them after."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self.consoles = []

    def boot(self, kind="qemu", name=None, wrap=None, boot_timeout=180, **kw) -> Console:
        missing = missing_tools(kind)
        if missing:
            pytest.fail(f"{kind} is not installed: apt-get install {' '.join(missing)} (or run make deps)")
        name = name or f"{kind}{len(self.consoles)}"
        m = Machine(kind=kind, name=name, workdir=os.path.join(self.logdir, name), **kw)
        c = Console(m, wrap=wrap, boot_timeout=boot_timeout)
        self.consoles.append(c)
        c.boot_seconds = c.boot()
        return c

    def close(self):
        for c in self.consoles:
            c.close()

    def logs(self):
        return [c.machine.console_log for c in self.consoles]


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _report(request, factory):
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for log in factory.logs():
            print(f"\nconsole log: {log}")
            try:
                with open(log, errors="replace") as f:
                    tail = f.read()[-3000:]
                print(tail)
            except OSError:
                pass


@pytest.fixture
def tern(request):
    """A factory: tern.boot(kind='qemu'|'bochs', mem_mib=..., cmdline=...)."""
    f = TernFactory(_test_dir(request))
    yield f
    _report(request, f)
    f.close()


@pytest.fixture
def tern_pair(request, netlab_factory):
    """A factory: tern_pair(kind='qemu'|'bochs', **options of hostpair.HostPair)
    boots Tern A and B on a lab of their own (10.99.0.1 and .2, migration key
    hostpair.KEY set unless key=None); both are stopped and the lab torn down
    after the test, their console logs printed if it failed."""
    pairs = []

    def make(kind="qemu", **kw):
        missing = missing_tools(kind)
        if missing:
            pytest.fail(f"{kind} is not installed: apt-get install {' '.join(missing)} (or run make deps)")
        kw.setdefault("logdir", os.path.join(_test_dir(request), kind))
        pair = boot_pair(netlab_factory(), kind, **kw)
        pairs.append(pair)
        return pair

    yield make
    for p in pairs:
        _report(request, p)
        p.close()


@pytest.fixture(scope="module")
def qemu_host(request):
    """One QEMU Tern (512 MiB, e1000) shared by a module's console tests."""
    f = TernFactory(os.path.join(LOG_ROOT, request.module.__name__))
    yield f.boot("qemu", name="qemu")
    f.close()


@pytest.fixture(scope="module")
def bochs_host(request):
    """One Bochs Tern (VMX, corei7_skylake_x) shared by a module's tests."""
    f = TernFactory(os.path.join(LOG_ROOT, request.module.__name__))
    yield f.boot("bochs", name="bochs")
    f.close()
