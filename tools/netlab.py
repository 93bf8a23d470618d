#!/usr/bin/python3
"""netlab: a private Linux network lab for Tern's tests and demos (run as root).

One lab is a set of network namespaces that exist only for as long as the lab:

    <name>-lab     holds the bridge br0 (STP off, forward delay 0) and its ports:
                   one TAP per emulator host (QEMU/Bochs run *inside* this
                   namespace and open the TAP), plus one veth per Linux namespace
    <name>-cli     the Linux client: eth0 (veth to br0, port "vcli"), lo up,
                   default address 10.99.0.100/24
    <name>-h-<h>   optional extra Linux hosts (veth to br0, port "v<h>")

The lab's subnet exists only inside these namespaces. Nothing here touches the
root namespace's interfaces or routes: every `ip` command runs with `-n NS`.

Python use (see docs/lab.md for the full story):

    from netlab import Lab
    with Lab() as lab:                       # creates everything (lab.up())
        tap = lab.add_tap("tap0")
        qemu = lab.popen(["qemu-system-x86_64", ...,      # runs in the lab ns
                          *qemu_netdev_args(tap, "52:54:00:00:00:0a")])
        assert lab.wait_reachable("10.99.0.1", timeout=60)
        print(lab.fdb())
    # torn down here: processes killed, namespaces deleted

CLI:  netlab.py up|down|status|list|prune [--name NAME] ...   (see --help)

Standard library only; Debian's /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Optional, Sequence, Tuple

# The lab is split by job; this module is the front: Lab, fixtures, CLI,
# and every name of the others, so `from netlab import X` keeps working.
from netlab_base import *  # noqa: F401,F403,E402
from netlab_frames import *  # noqa: F401,F403,E402
from netlab_traffic import *  # noqa: F401,F403,E402
from netlab_fakehost import *  # noqa: F401,F403,E402
from netlab_base import _ALIAS_PREFIX, _HOST_RE, _NAME_RE, _kill_pids, _proc_start_ticks, _run, _stop_procs  # noqa: F401,E402
from netlab_frames import _SEND_RAW  # noqa: F401,E402

# --------------------------------------------------------------------------
# process registry, atexit and signal handling
# --------------------------------------------------------------------------

_live_labs: "List[Lab]" = []
_live_lock = threading.RLock()
_handlers_installed = False
_prev_handlers: dict = {}


def teardown_all() -> None:
    """Tear down every lab this process created and has not torn down yet."""
    with _live_lock:
        labs = list(_live_labs)
    for lab in labs:
        try:
            lab.teardown()
        except Exception as e:  # keep going: the next lab must go too
            log.warning("netlab: teardown of %s failed: %s", lab.name, e)


def _on_signal(signum, frame):
    teardown_all()
    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_IGN:
        return
    else:  # SIG_DFL: die of the same signal, as the caller would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(teardown_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal only works in the main thread; atexit still does
    # SIGINT is left alone: Python turns it into KeyboardInterrupt, which runs
    # `with`/finally/fixture teardown and then atexit.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            _prev_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


# --------------------------------------------------------------------------
# the lab
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Host:
    """An extra Linux namespace on the bridge (a stand-in peer, no emulator)."""
    lab: "Lab"
    name: str
    ns: str
    port: str        # its veth end on the bridge, in the lab namespace
    ifname: str      # its interface in its own namespace
    mac: str
    ip: str          # address without prefix

    def run(self, cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
        return self.lab.run(cmd, ns=self.ns, **kw)

    def popen(self, cmd: Sequence[str], **kw) -> subprocess.Popen:
        return self.lab.popen(cmd, ns=self.ns, **kw)

    def send_frames(self, frames: Sequence[bytes]) -> None:
        self.lab.send_frames(frames, ns=self.ns, ifname=self.ifname)


def new_name() -> str:
    """A short lab name, unique per process and call: 't' + pid + random."""
    return f"t{os.getpid() % 0x10000:04x}{random.randrange(0x1000):03x}"


def qemu_netdev_args(tap: str, mac: str, netdev_id: str = "n0",
                     model: str = "e1000") -> List[str]:
    """QEMU arguments attaching a NIC to an existing lab TAP.

    QEMU must run inside the lab namespace (lab.wrap): the TAP exists only there."""
    check_ifname(tap)
    return ["-netdev", f"tap,id={netdev_id},ifname={tap},script=no,downscript=no",
            "-device", f"{model},netdev={netdev_id},mac={mac}"]


def bochs_e1000_line(tap: str, mac: str) -> str:
    """bochsrc line attaching Bochs 2.7's e1000 to an existing lab TAP.

    Bochs' tuntap module splits ethdev at the first ':' into the clone device
    to open and the interface name for TUNSETIFF (IFF_TAP|IFF_NO_PI). Without
    ':NAME', or with a NAME that does not exist in Bochs' namespace, the kernel
    silently creates a *new* unbridged TAP, so Bochs runs but is cut off.
    Bochs must run inside the lab namespace (lab.wrap)."""
    check_ifname(tap)
    return f"e1000: enabled=1, mac={mac}, ethmod=tuntap, ethdev=/dev/net/tun:{tap}, script=none"


class Lab:
    """A private bridge namespace, a Linux client namespace and their processes.

    Lab(...).up() (or `with Lab(...) as lab:`) creates it; teardown() removes it,
    idempotently, and also runs at exit and on SIGTERM/SIGHUP."""

    def __init__(self, name: Optional[str] = None, client_ip: Optional[str] = CLIENT_CIDR,
                 client_mac: Optional[str] = None, workdir: Optional[str] = None,
                 disable_ipv6: bool = True, persistent: bool = False):
        self.name = name or new_name()
        if not _NAME_RE.match(self.name):
            raise ValueError(f"bad lab name {self.name!r}: need [a-z][a-z0-9]{{0,11}}")
        self.ns = f"{self.name}-lab"
        self.client_ns = f"{self.name}-cli"
        self.bridge = BRIDGE
        self.client_port = CLIENT_PORT
        self.client_if = CLIENT_IF
        self.has_client = client_ip is not None
        self.client_cidr = client_ip
        self.client_ip = client_ip.split("/")[0] if client_ip else None
        self.client_mac = client_mac
        self.disable_ipv6 = disable_ipv6
        self.persistent = persistent  # CLI `up`: not torn down at exit, owner 0
        self.taps: List[str] = []
        self.hosts: dict = {}
        self._procs: List[subprocess.Popen] = []
        self._own_workdir = workdir is None
        self.workdir = str(workdir) if workdir else None
        self._owner = os.getpid()
        self._created: List[str] = []  # namespaces this object made (or attached)
        self._is_up = False
        self._down = False
        self._seq = 0

    # ---- lifecycle -----------------------------------------------------

    def __enter__(self) -> "Lab":
        if not self._is_up:
            self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.teardown()

    def __repr__(self) -> str:
        return f"<Lab {self.name} ns={self.ns} client={self.client_ns}>"

    @property
    def namespaces(self) -> List[str]:
        nss = [self.ns]
        if self.has_client:
            nss.append(self.client_ns)
        nss += [h.ns for h in self.hosts.values()]
        return nss

    def up(self) -> "Lab":
        """Create the namespaces, the bridge and the client. On failure,
        whatever was created is torn down before the error propagates."""
        if not is_root():
            raise LabError("netlab needs root (network namespaces, bridges, TAPs)")
        for tool in ("ip", "bridge"):
            if not shutil.which(tool):
                raise LabError(f"{tool} not found: install iproute2 (make deps)")
        if self.ns in netns_list():
            raise LabError(f"namespace {self.ns} already exists (lab {self.name} is up?)")
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix=f"netlab-{self.name}-")
        os.makedirs(self.workdir, exist_ok=True)
        if not self.persistent:
            _install_handlers()
            with _live_lock:
                _live_labs.append(self)
        self._is_up = True
        try:
            self._make_ns(self.ns)
            owner = "0:0" if self.persistent else f"{self._owner}:{_proc_start_ticks(self._owner)}"
            self.ip("link", "add", self.bridge, "type", "bridge", "stp_state", "0",
                    "forward_delay", "0", "mcast_snooping", "0")
            self.ip("link", "set", self.bridge, "alias", f"{_ALIAS_PREFIX}owner={owner}")
            self.ip("link", "set", self.bridge, "up")
            if self.has_client:
                self._make_ns(self.client_ns)
                self._veth(self.client_ns, self.client_port, self.client_if,
                           self.client_cidr, self.client_mac)
                self.client_mac = self._mac(self.client_ns, self.client_if)
        except BaseException:
            self.teardown()
            raise
        log.info("netlab %s up: %s", self.name, ", ".join(self.namespaces))
        return self

    def _make_ns(self, ns: str) -> None:
        _run(["ip", "netns", "add", ns])
        self._created.append(ns)  # only now is it ours to delete
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        if self.disable_ipv6:  # no IPv6 chatter (RS, MLD, DAD) on the lab's wire
            _run(self.wrap(["sh", "-c", "for k in all default; do "
                            "echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done"], ns))

    def _veth(self, ns: str, port: str, ifname: str, cidr: Optional[str],
              mac: Optional[str]) -> None:
        """veth pair created in the lab namespace with its peer directly in `ns`:
        nothing ever exists in the root namespace."""
        peer = ["peer", "name", ifname, "netns", ns] + (["address", mac] if mac else [])
        self.ip("link", "add", port, "type", "veth", *peer)
        self.ip("link", "set", port, "master", self.bridge, "up")
        if cidr:
            _run(["ip", "-n", ns, "addr", "add", cidr, "dev", ifname])
        _run(["ip", "-n", ns, "link", "set", ifname, "up"])

    @staticmethod
    def _mac(ns: str, ifname: str) -> str:
        cp = _run(["ip", "-n", ns, "-j", "link", "show", ifname])
        return json.loads(cp.stdout)[0]["address"]

    def teardown(self) -> None:
        """Kill every process started through the lab or still inside its
        namespaces, then delete the namespaces. Idempotent."""
        if self._down or os.getpid() != self._owner:
            return  # already done, or a forked child: the parent owns the lab
        self._down = True
        with _live_lock:
            if self in _live_labs:
                _live_labs.remove(self)
        procs, self._procs = self._procs, []
        _stop_procs(procs)
        existing = set(netns_list())
        nss = [ns for ns in self._created if ns in existing]
        pids = [pid for ns in nss for pid in netns_pids(ns)]
        if pids:
            log.info("netlab %s: killing %s", self.name, pids)
            _kill_pids(pids)
        for ns in nss:
            _run(["ip", "netns", "del", ns], check=False)
        if self._own_workdir and self.workdir and not os.environ.get("NETLAB_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        log.info("netlab %s down", self.name)

    def _all_namespaces(self) -> List[str]:
        """The lab's namespaces by name, including host namespaces another
        process added (for status)."""
        pre = f"{self.name}-h-"
        found = [ns for ns in netns_list() if ns.startswith(pre)]
        return list(dict.fromkeys(self.namespaces + [self.client_ns] + found))

    @classmethod
    def attach(cls, name: str) -> "Lab":
        """A Lab object for an existing lab (e.g. made by `netlab.py up`):
        status(), fdb(), port(), teardown() etc. work on it. Not registered for
        teardown at exit."""
        lab = cls(name=name, client_ip=None)
        if lab.ns not in netns_list():
            raise LabError(f"no lab {name!r} (namespace {lab.ns} not found)")
        lab._is_up = True
        lab._created = lab._all_namespaces()  # teardown removes what exists
        if lab.client_ns in netns_list():
            lab.has_client = True
            addrs = json.loads(_run(["ip", "-n", lab.client_ns, "-j", "addr", "show",
                                     CLIENT_IF]).stdout)
            inet = [a for a in addrs[0].get("addr_info", []) if a.get("family") == "inet"]
            if inet:
                lab.client_cidr = f"{inet[0]['local']}/{inet[0]['prefixlen']}"
                lab.client_ip = inet[0]["local"]
            lab.client_mac = addrs[0].get("address")
        for p in lab.ports():
            if p["kind"] == "tun":
                lab.taps.append(p["name"])
        pre = f"{name}-h-"
        for ns in netns_list():
            if ns.startswith(pre):
                h = ns[len(pre):]
                lab.hosts[h] = Host(lab, h, ns, f"v{h}", HOST_IF, cls._mac(ns, HOST_IF), "")
        return lab

    # ---- running commands -------------------------------------------------

    def ip(self, *args: str) -> subprocess.CompletedProcess:
        """`ip -n <lab ns> ...`: the only way this module touches links."""
        return _run(["ip", "-n", self.ns, *args])

    def wrap(self, cmd: Sequence[str], ns: Optional[str] = None) -> List[str]:
        """The command line that runs `cmd` inside the lab namespace (or `ns`)."""
        return ["ip", "netns", "exec", ns or self.ns, *cmd]

    def run(self, cmd: Sequence[str], ns: Optional[str] = None, check: bool = False,
            timeout: Optional[float] = 60, **kw) -> subprocess.CompletedProcess:
        """Run `cmd` to completion inside the lab namespace (or `ns`).
        Output is captured as text unless stdout/stderr are given."""
        if "stdout" not in kw and "stderr" not in kw:
            kw["capture_output"] = True
        kw.setdefault("text", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        full = self.wrap(cmd, ns)
        log.debug("run: %s", " ".join(full))
        return subprocess.run(full, check=check, timeout=timeout, **kw)

    def popen(self, cmd: Sequence[str], ns: Optional[str] = None, **kw) -> subprocess.Popen:
        """Start `cmd` in the background inside the lab namespace (or `ns`).

        The process gets its own session (process group) and is killed, with
        its children, at teardown. Keyword arguments go to subprocess.Popen."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw["start_new_session"] = True
        full = self.wrap(cmd, ns)
        log.debug("popen: %s", " ".join(full))
        p = subprocess.Popen(full, **kw)
        self._procs.append(p)
        return p

    def track(self, proc):
        """Have teardown kill a process started elsewhere: a Popen, a
        pexpect.spawn or a pid. (Anything still inside the lab's namespaces is
        killed at teardown anyway; this covers processes outside them.)"""
        self._procs.append(proc)
        return proc

    def spawn(self, cmd: Sequence[str], ns: Optional[str] = None, **kw):
        """pexpect.spawn(`cmd` inside the lab namespace, or `ns`), tracked:
        for an emulator whose serial console is on stdio. Keyword arguments go
        to pexpect.spawn (timeout, encoding, logfile, ...)."""
        import pexpect
        full = self.wrap(cmd, ns)
        log.debug("spawn: %s", " ".join(full))
        child = pexpect.spawn(full[0], list(full[1:]), **kw)
        self._procs.append(child)
        return child

    def client(self, cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:
        """Run `cmd` in the client namespace; CompletedProcess (text, captured)."""
        self._need_client()
        return self.run(cmd, ns=self.client_ns, **kw)

    def client_popen(self, cmd: Sequence[str], **kw) -> subprocess.Popen:
        """Start `cmd` in the background in the client namespace (tracked)."""
        self._need_client()
        return self.popen(cmd, ns=self.client_ns, **kw)

    def client_http_server(self, directory: str, port: int = 8000,
                           timeout: float = 30.0) -> subprocess.Popen:
        """`python3 -m http.server` serving `directory` on the client's
        address, returned once it accepts connections (Python starts slowly
        on a loaded machine: a fixed sleep gave "Connection refused")."""
        ip = self.client_ip
        srv = self.client_popen([sys.executable, "-m", "http.server", "-b", ip, "-d", directory,
                                 str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while self.client([sys.executable, "-c", "import socket; socket.create_connection"
                           f"(('{ip}', {port}), 1)"]).returncode:
            if srv.poll() is not None or time.monotonic() > deadline:
                srv.kill()
                raise LabError(f"the client's http.server on port {port} did not start")
            time.sleep(0.2)
        return srv

    def _need_client(self) -> None:
        if not self.has_client:
            raise LabError("this lab has no client namespace (client_ip=None)")

    def _path(self, stem: str) -> str:
        self._seq += 1
        return os.path.join(self.workdir or tempfile.gettempdir(), f"{self._seq:02d}-{stem}")

    # ---- topology ---------------------------------------------------------

    def add_tap(self, name: Optional[str] = None, mtu: Optional[int] = None) -> str:
        """Create a persistent TAP in the lab namespace, on the bridge, up.

        Returns its name (default tap0, tap1, ...). It shows NO-CARRIER until
        an emulator inside the lab namespace opens it."""
        name = check_ifname(name or f"tap{len(self.taps)}")
        self.ip("tuntap", "add", "dev", name, "mode", "tap")
        if mtu:
            self.ip("link", "set", name, "mtu", str(mtu))
        self.ip("link", "set", name, "master", self.bridge, "up")
        self.taps.append(name)
        return name

    def add_host(self, name: str, ip: Optional[str], mac: Optional[str] = None) -> Host:
        """Add a Linux namespace `<lab>-h-<name>` on the bridge through a veth
        (port `v<name>`), with address `ip` (CIDR; /24 if no prefix is given)."""
        if not _HOST_RE.match(name):
            raise ValueError(f"bad host name {name!r}: need [a-z][a-z0-9]{{0,9}}")
        if name in self.hosts:
            raise LabError(f"host {name} exists")
        cidr = ip if (ip is None or "/" in ip) else f"{ip}/24"
        ns, port = f"{self.name}-h-{name}", f"v{name}"
        self._make_ns(ns)
        host = Host(self, name, ns, port, HOST_IF, "", cidr.split("/")[0] if cidr else "")
        self.hosts[name] = host  # before _veth, so teardown finds the namespace
        self._veth(ns, port, HOST_IF, cidr, mac)
        host.mac = self._mac(ns, HOST_IF)
        return host

    def port(self, port: str, up: bool = False, how: str = "link") -> None:
        """Cut (up=False) or restore (up=True) a bridge port: a TAP, a host's
        veth (`v<host>`) or the client's (`vcli`).

        how="link": `ip link set PORT down|up`; the bridge disables the port,
          nothing passes either way. The emulator is not told (QEMU/Bochs see
          no link change); its writes to the TAP are dropped.
        how="bridge": the port stays up but its bridge state is set to
          disabled (0) / forwarding (3) with `bridge link set ... state`."""
        check_ifname(port)
        if how == "link":
            self.ip("link", "set", port, "up" if up else "down")
        elif how == "bridge":
            _run(["bridge", "-n", self.ns, "link", "set", "dev", port,
                  "state", "3" if up else "0"])
        else:
            raise ValueError(f"how={how!r}: 'link' or 'bridge'")

    def ports(self) -> List[dict]:
        """Bridge ports: [{'name', 'mac', 'kind' ('tun'|'veth'|...), 'state',
        'carrier' (bool), 'up' (bool)}]."""
        links = json.loads(_run(["ip", "-n", self.ns, "-d", "-j", "link", "show",
                                 "master", self.bridge]).stdout)
        out = []
        for ln in links:
            info = ln.get("linkinfo", {})
            slave = info.get("info_slave_data", {})
            flags = ln.get("flags", [])
            out.append({"name": ln["ifname"], "mac": ln.get("address"),
                        "kind": info.get("info_kind", ""),
                        "state": slave.get("state", ""),
                        "up": "UP" in flags, "carrier": "LOWER_UP" in flags})
        return out

    def wait_port(self, port: str, timeout: float = 10.0) -> bool:
        """Wait until a bridge port has carrier and is forwarding. A TAP's
        port only forwards some time (up to ~1 s, the kernel's linkwatch delay)
        after the emulator opened it: frames sent before are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            for p in self.ports():
                if p["name"] == port and p["carrier"] and p["state"] == "forwarding":
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # ---- bridge fdb -------------------------------------------------------

    def fdb(self) -> List[Tuple[str, str]]:
        """Learned entries of br0's forwarding database: [(mac, port)].

        Permanent entries (ports' own MACs, multicast) and `self` entries are
        left out: what remains is what the bridge learned from traffic."""
        cp = _run(["bridge", "-n", self.ns, "-j", "fdb", "show", "br", self.bridge])
        out = []
        for e in json.loads(cp.stdout or "[]"):
            if "self" in e.get("flags", []) or e.get("state") == "permanent":
                continue
            if e.get("ifname") == self.bridge:
                continue
            out.append((e["mac"].lower(), e["ifname"]))
        return out

    def fdb_port(self, mac: str) -> Optional[str]:
        """The port the bridge has learned `mac` on, or None."""
        mac = mac.lower()
        for m, p in self.fdb():
            if m == mac:
                return p
        return None

    def wait_fdb(self, mac: str, port: Optional[str], timeout: float = 5.0) -> bool:
        """Wait until `mac` is learned on `port` (None: on any port)."""
        deadline = time.monotonic() + timeout
        while True:
            where = self.fdb_port(mac)
            if where is not None and (port is None or where == port):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # ---- traffic helpers --------------------------------------------------

    def ping(self, ip: str, count: int = 1, timeout: float = 2.0,
             ns: Optional[str] = None, interval: float = 0.2) -> bool:
        """True if `ip` answers at least one of `count` pings (from the client)."""
        ns = ns or self.client_ns
        cp = self.run(["ping", "-n", "-q", "-c", str(count), "-i", str(interval),
                       "-W", str(max(1, int(timeout))), ip], ns=ns,
                      timeout=count * interval + timeout + 10)
        return cp.returncode == 0

    def wait_reachable(self, ip: str, timeout: float = 30.0, ns: Optional[str] = None) -> bool:
        """Ping `ip` once a second (from the client) until it answers or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.ping(ip, count=1, timeout=1, ns=ns):
                return True
            if time.monotonic() >= deadline:
                return False

    def ping_monitor(self, ip: str, interval: float = 0.01,
                     ns: Optional[str] = None) -> PingMonitor:
        """Continuous ping from the client (e.g. during a migration); stop()
        returns PingStats (loss, lost seqs, longest gap between replies)."""
        return PingMonitor(self, ip, interval, self._path(f"ping-{ip}.txt"),
                           ns or self.client_ns)

    def http_loop(self, url: str, md5: str, ns: Optional[str] = None, gap: float = 0.0) -> HttpLoop:
        """The client downloading `url` (md5 `md5`) again and again, `gap` s
        apart, e.g. across a migration; stop() returns HttpLoopStats."""
        name = re.sub(r"[^A-Za-z0-9.]+", "-", url.split("//", 1)[-1])
        return HttpLoop(self, url, md5, self._path(f"http-{name}.txt"), ns or self.client_ns, gap)

    def capture(self, bpf: str = ANNOUNCE_FILTER, ns: Optional[str] = None,
                ifname: Optional[str] = None, name: str = "capture") -> Capture:
        """Start tcpdump (pcap, -n -e) on the client's eth0 by default, or on
        `ifname` in `ns` (e.g. ns=lab.ns, ifname='br0' or a TAP). Returns once
        tcpdump is listening. Default filter: ARP and RARP frames."""
        if ns is None:
            self._need_client()
        ns = ns or self.client_ns
        ifname = ifname or (self.client_if if ns == self.client_ns else
                            HOST_IF if ns != self.ns else self.bridge)
        cap = Capture(self, ns, ifname, bpf, self._path(f"{name}.pcap"))
        return cap.start()

    def send_frames(self, frames: Sequence[bytes], ns: Optional[str] = None,
                    ifname: Optional[str] = None) -> None:
        """Send raw Ethernet frames from an interface of one of the lab's Linux
        namespaces (default: the client's eth0) with an AF_PACKET socket."""
        ns = ns or self.client_ns
        ifname = ifname or (self.client_if if ns == self.client_ns else HOST_IF)
        cp = self.run([sys.executable, "-c", _SEND_RAW, ifname,
                       *[f.hex() for f in frames]], ns=ns)
        if cp.returncode != 0:
            raise LabError(f"sending frames in {ns}/{ifname} failed: {cp.stderr.strip()}")

    def fake_host(self, tap: str, mac: str, ip: str, announce: int = 0,
                  log_path: Optional[str] = None) -> subprocess.Popen:
        """Attach a tiny stand-in for an emulator to `tap`, the way QEMU and
        Bochs do (open /dev/net/tun, TUNSETIFF IFF_TAP|IFF_NO_PI, inside the
        lab namespace). It answers ARP, ICMP echo and UDP echo for `ip` and,
        with announce=N, first sends N rounds of gratuitous ARP + RARP.
        Returns once the TAP's bridge port forwards."""
        check_ifname(tap)
        log_path = log_path or self._path(f"fake-{tap}.log")
        with open(log_path, "w") as out:
            p = self.popen([sys.executable, os.path.abspath(__file__), "fake-host", "--tap",
                            tap, "--mac", mac, "--ip", ip, "--announce", str(announce)],
                           stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.wait_port(tap, timeout=0):
                return p
            if p.poll() is not None:
                break
            time.sleep(0.05)
        raise LabError(f"fake host on {tap} did not attach (see {log_path})")

    def status(self) -> dict:
        existing = set(netns_list())
        st = {"name": self.name, "lab_ns": self.ns, "bridge": self.bridge,
              "namespaces": [ns for ns in self._all_namespaces() if ns in existing],
              "client": None, "ports": [], "fdb": [], "pids": {}}
        if self.ns in existing:
            st["ports"] = self.ports()
            st["fdb"] = [{"mac": m, "port": p} for m, p in self.fdb()]
        if self.client_ns in existing:
            st["client"] = {"ns": self.client_ns, "if": self.client_if,
                            "ip": self.client_cidr, "mac": self.client_mac,
                            "port": self.client_port}
        for ns in st["namespaces"]:
            st["pids"][ns] = netns_pids(ns)
        return st


# --------------------------------------------------------------------------
# listing and pruning labs (CLI)
# --------------------------------------------------------------------------

def list_labs() -> List[dict]:
    """Labs present on this machine: [{'name', 'owner' (pid, 0 = CLI), 'alive'}]."""
    out = []
    for ns in netns_list():
        if not ns.endswith("-lab"):
            continue
        cp = _run(["ip", "-n", ns, "-j", "link", "show", BRIDGE], check=False, quiet=True)
        if cp.returncode != 0:
            continue
        alias = (json.loads(cp.stdout)[0].get("ifalias") or "")
        if not alias.startswith(_ALIAS_PREFIX):
            continue
        m = re.search(r"owner=(\d+):(\w+)", alias)
        pid, start = (int(m.group(1)), m.group(2)) if m else (0, "0")
        alive = pid == 0 or str(_proc_start_ticks(pid)) == start
        out.append({"name": ns[:-len("-lab")], "owner": pid, "alive": alive})
    return out


def prune() -> List[str]:
    """Tear down labs whose creating process is gone (crashed test runs).
    Labs made by `netlab.py up` (owner 0) are kept."""
    import glob
    gone = []
    for info in list_labs():
        if not info["alive"]:
            Lab.attach(info["name"]).teardown()
            for d in glob.glob(os.path.join(tempfile.gettempdir(), f"netlab-{info['name']}-*")):
                shutil.rmtree(d, ignore_errors=True)  # its default workdir
            gone.append(info["name"])
    return gone


# --------------------------------------------------------------------------
# pytest fixtures
# --------------------------------------------------------------------------

def lab_fixture(scope: str = "function", **lab_kwargs):
    """Make a pytest fixture yielding an up Lab(**lab_kwargs), torn down after
    the test (or module/session, per `scope`) even if it failed. Its pcaps and
    logs go to a pytest tmp dir (kept for the last 3 runs). Skips if not root.

        # conftest.py or a test module
        lab2 = netlab.lab_fixture(client_ip="10.99.0.200/24")"""
    import pytest

    @pytest.fixture(scope=scope)
    def _lab(tmp_path_factory):
        if not is_root():
            pytest.fail("netlab needs root: run the tests as root (make test does on CI)")
        lab = Lab(workdir=str(tmp_path_factory.mktemp("netlab")), **lab_kwargs)
        lab.up()
        try:
            yield lab
        finally:
            lab.teardown()
    return _lab


# The fixtures exist when this module is imported under pytest (conftest.py or
# a test module); the CLI neither needs nor loads pytest.
_pytest = sys.modules.get("pytest")

if _pytest is not None:
    netlab = lab_fixture()
    netlab.__doc__ = "A fresh lab per test: bridge namespace + client 10.99.0.100/24."

    @_pytest.fixture
    def netlab_factory(tmp_path_factory):
        """Call it to make labs (`make(client_ip=...)` takes Lab's arguments);
        all are torn down after the test."""
        if not is_root():
            _pytest.fail("netlab needs root: run the tests as root (make test does on CI)")
        labs = []

        def make(**kw):
            kw.setdefault("workdir", str(tmp_path_factory.mktemp("netlab")))
            lab = Lab(**kw)
            labs.append(lab)
            return lab.up()
        try:
            yield make
        finally:
            for lab in labs:
                lab.teardown()


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def _print_status(st: dict) -> None:
    print(f"lab {st['name']}: namespace {st['lab_ns']}, bridge {st['bridge']}")
    c = st["client"]
    if c:
        print(f"  client: ns {c['ns']} {c['if']} {c['ip']} mac {c['mac']} (port {c['port']})")
    for p in st["ports"]:
        print(f"  port {p['name']:<15} {p['kind']:<5} {p['state']:<11} "
              f"{'up' if p['up'] else 'DOWN'} {'carrier' if p['carrier'] else 'no-carrier'}"
              f" {p['mac']}")
    for e in st["fdb"]:
        print(f"  fdb {e['mac']} -> {e['port']}")
    for ns, pids in st["pids"].items():
        if pids:
            print(f"  pids in {ns}: {' '.join(map(str, pids))}")
    print("  namespaces: " + " ".join(st["namespaces"]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="netlab.py", description="Private network lab for Tern (root; netns + bridge).")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="create a lab that stays until `down`")
    p.add_argument("--name", help="lab name [a-z][a-z0-9]{0,11}; default: generated")
    p.add_argument("--tap", action="append", default=[],
                   help="TAP to create on the bridge (repeatable)")
    p.add_argument("--taps", type=int, default=0, help="create N TAPs tap0..tapN-1")
    p.add_argument("--client-ip", default=CLIENT_CIDR, help="client address (CIDR)")
    p.add_argument("--no-client", action="store_true", help="no client namespace")
    p.add_argument("--host", action="append", default=[], metavar="NAME=IP/PREFIX",
                   help="extra Linux host namespace on the bridge (repeatable)")
    p = sub.add_parser("down", help="kill the lab's processes, delete its namespaces")
    p.add_argument("--name", required=True)
    p = sub.add_parser("status", help="ports, fdb, client, processes")
    p.add_argument("--name", required=True)
    p.add_argument("--json", action="store_true")
    sub.add_parser("list", help="labs on this machine")
    sub.add_parser("prune", help="tear down labs whose creating process died")
    p = sub.add_parser("fake-host", help="(internal) TAP endpoint answering ARP/ping/UDP")
    p.add_argument("--tap", required=True)
    p.add_argument("--mac", required=True)
    p.add_argument("--ip", required=True)
    p.add_argument("--announce", type=int, default=0)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")

    if a.cmd == "fake-host":
        return fake_host_main(a.tap, a.mac, a.ip, a.announce)
    if not is_root():
        print("netlab: needs root", file=sys.stderr)
        return 2
    try:
        if a.cmd == "up":
            lab = Lab(name=a.name, client_ip=None if a.no_client else a.client_ip,
                      persistent=True)
            lab.workdir = None
            lab.up()
            for t in a.tap + [f"tap{i}" for i in range(a.taps)]:
                lab.add_tap(t)
            for h in a.host:
                hname, _, hip = h.partition("=")
                lab.add_host(hname, hip or None)
            shutil.rmtree(lab.workdir, ignore_errors=True)
            _print_status(lab.status())
            print(f"run in it: ip netns exec {lab.ns} CMD ; "
                  f"remove: {sys.argv[0]} down --name {lab.name}")
        elif a.cmd == "down":
            if f"{a.name}-lab" not in netns_list() and f"{a.name}-cli" not in netns_list():
                print(f"netlab: no lab {a.name} (nothing to do)")
                return 0
            Lab.attach(a.name).teardown() if f"{a.name}-lab" in netns_list() else \
                _run(["ip", "netns", "del", f"{a.name}-cli"], check=False)
            print(f"netlab: {a.name} down")
        elif a.cmd == "status":
            st = Lab.attach(a.name).status()
            print(json.dumps(st, indent=2)) if a.json else _print_status(st)
        elif a.cmd == "list":
            for info in list_labs():
                owner = "cli" if info["owner"] == 0 else f"pid {info['owner']}"
                print(f"{info['name']}\t{owner}\t{'alive' if info['alive'] else 'stale'}")
        elif a.cmd == "prune":
            for n in prune():
                print(f"netlab: pruned {n}")
    except (LabError, ValueError) as e:
        print(f"netlab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
