"""hostpair: Tern hosts A and B on a network lab's bridge, ready to migrate.

The one place that boots "two Terns on the lab bridge", for the integration
tests (conftest.py's `tern_pair` fixture, module fixtures), `make demo` and
`make bench`:

    from netlab import Lab
    from hostpair import boot_pair
    with Lab() as lab, boot_pair(lab, "qemu", logdir="build/x") as pair:
        pair.a.cmd(...)            # Console of host A (pair.hosts["a"] too)
        pair.ip["b"], pair.taps["b"]

Each host gets its own TAP on the lab's bridge, a MAC, its address on the
boot command line (ip=IP/24), and, unless key=None, the migration key (so
it listens for migrations). Both emulators start together, then the prompts
and the bridge ports are awaited. The caller (or the `with`) closes the pair.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from machine import Console, Machine

KEY = "lab-secret-4242-tls"
IPS = ("10.99.0.1", "10.99.0.2", "10.99.0.3")
MACS = ("52:54:00:00:99:01", "52:54:00:00:99:02", "52:54:00:00:99:03")
NAMES = ("a", "b", "c")


class HostPair:
    """Tern A and B on `lab` (or A, B and C: names=("a", "b", "c"), at
    10.99.0.3), all of one kind (qemu or bochs), or of the kinds a tuple
    names (("bochs", "qemu"): a VMX host and an SVM one). `start()` boots both; `restart(name)` boots one again on the same
    TAP, MAC and address (without its key); `close()` stops every emulator
    it started. machine_kw go to every Machine; host_kw={"a": {...}} to
    one host's only (Bochs lines for a Bochs host of a mixed pair)."""

    def __init__(self, lab, kind="qemu", logdir: Optional[str] = None,
                 ips=IPS, macs=MACS, key: Optional[str] = KEY, prefix: str = "", names=NAMES[:2],
                 boot_timeout: float = 240, host_kw: Optional[Dict[str, dict]] = None,
                 **machine_kw):
        self.lab, self.logdir, self.prefix = lab, logdir, prefix
        self.names = tuple(names)
        self.kinds: Dict[str, str] = dict(zip(self.names, (kind,) * len(self.names)
                                              if isinstance(kind, str) else kind))
        self.key, self.boot_timeout, self.machine_kw = key, boot_timeout, machine_kw
        self.host_kw = host_kw or {}
        self.ip: Dict[str, str] = dict(zip(self.names, ips))
        self.mac: Dict[str, str] = dict(zip(self.names, macs))
        self.taps: Dict[str, str] = {}
        self.hosts: Dict[str, Console] = {}
        self.consoles: List[Console] = []  # every console started, restarts included
        self._boots = {n: 0 for n in self.names}

    # -- the hosts -----------------------------------------------------------------
    @property
    def a(self) -> Console:
        return self.hosts["a"]

    @property
    def b(self) -> Console:
        return self.hosts["b"]

    @property
    def c(self) -> Console:
        return self.hosts["c"]

    @property
    def tap_a(self) -> str:
        return self.taps["a"]

    @property
    def tap_b(self) -> str:
        return self.taps["b"]

    def _spawn(self, name: str) -> Console:
        """Starts host `name`'s emulator (not waiting for its prompt). A host
        booted again gets its own work directory (b-boot2, ...)."""
        if name not in self.taps:
            self.taps[name] = self.lab.add_tap()
        self._boots[name] += 1
        n = self._boots[name]
        mname = self.prefix + (name if n == 1 else f"{name}-boot{n}")
        workdir = os.path.join(self.logdir, mname) if self.logdir else ""
        kw = {**self.machine_kw, **self.host_kw.get(name, {})}
        m = Machine(kind=self.kinds[name], name=mname, workdir=workdir, tap=self.taps[name],
                    mac=self.mac[name], cmdline=f"ip={self.ip[name]}/24", **kw)
        c = Console(m, wrap=self.lab.wrap([]), boot_timeout=self.boot_timeout)
        self.consoles.append(c)
        self.hosts[name] = c
        return c

    def _ready(self, name: str):
        c = self.hosts[name]
        c.boot_seconds = c.boot()
        if not self.lab.wait_port(self.taps[name]):
            raise RuntimeError(f"host {name}: its TAP {self.taps[name]} never came up on the bridge")

    def start(self) -> "HostPair":
        for name in self.names:  # the emulators boot at the same time
            self._spawn(name)
        for name in self.names:
            self._ready(name)
        if self.key:
            self.set_key(self.key)
        return self

    def restart(self, name: str, kind: Optional[str] = None, **host_kw) -> Console:
        """Stops host `name` if it runs and boots a fresh one in its place
        (same TAP, MAC and address; no migration key), of another kind if
        `kind` says so, with these Machine options for it from now on."""
        if kind:
            self.kinds[name] = kind
            self.host_kw[name] = host_kw
        old = self.hosts.get(name)
        if old is not None and old.alive():
            old.close()
        self._spawn(name)
        self._ready(name)
        return self.hosts[name]

    def set_key(self, key: str, names=None):
        """`migrate key KEY` on each host: from then on it listens for migrations."""
        for name in names or self.names:
            out = self.hosts[name].cmd(f"migrate key {key}")
            if "migration key set" not in out:
                raise RuntimeError(f"host {name}: migrate key refused: {out.strip()}")

    # -- teardown ------------------------------------------------------------------
    def logs(self) -> List[str]:
        return [c.machine.console_log for c in self.consoles]

    def close(self):
        for c in self.consoles:
            c.close()

    def __enter__(self) -> "HostPair":
        return self

    def __exit__(self, *exc):
        self.close()


def boot_pair(lab, kind: str = "qemu", **kw) -> HostPair:
    """A started HostPair (see HostPair for the options); if booting fails,
    whatever started is stopped before the error propagates."""
    pair = HostPair(lab, kind, **kw)
    try:
        return pair.start()
    except BaseException:
        pair.close()
        raise
