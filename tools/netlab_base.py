"""netlab_base: constants, errors and process helpers shared by the lab modules."""
from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import signal
import subprocess
import time
from typing import Iterable, List, Optional, Sequence

log = logging.getLogger("netlab")

BRIDGE = "br0"
CLIENT_CIDR = "10.99.0.100/24"
CLIENT_PORT = "vcli"      # the client's veth end on the bridge (lab namespace)
CLIENT_IF = "eth0"        # the client's interface (client namespace)
HOST_IF = "eth0"          # an extra Linux host's interface (its own namespace)
IFNAMSIZ = 16             # kernel limit: names are at most 15 characters

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
BROADCAST = "ff:ff:ff:ff:ff:ff"

# tcpdump filter for address announcements (gratuitous ARP, RARP).
ANNOUNCE_FILTER = "ether proto 0x0806 or ether proto 0x8035"

_ALIAS_PREFIX = "netlab:"  # br0's alias records who owns the lab (for prune)
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_HOST_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")

CMD_TIMEOUT = 30  # seconds for any one `ip`/`bridge` command


class LabError(RuntimeError):
    """A lab command failed; the message carries the command and its stderr."""


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def is_root() -> bool:
    return os.geteuid() == 0


def check_ifname(name: str) -> str:
    """Validate an interface name: 1..15 chars, no '/', ':' or blanks.

    ':' is refused on purpose: Bochs splits `ethdev=/dev/net/tun:NAME` at the
    first ':' so a colon in a TAP name could never be opened by Bochs."""
    if not _IFNAME_RE.match(name or ""):
        raise ValueError(f"bad interface name {name!r}: need 1..15 of [A-Za-z0-9_.-]")
    return name


def random_mac() -> str:
    """A random locally administered unicast MAC (02:xx:xx:xx:xx:xx)."""
    return "02:" + ":".join(f"{random.randrange(256):02x}" for _ in range(5))


def mac_bytes(mac: str) -> bytes:
    b = bytes(int(x, 16) for x in mac.split(":"))
    if len(b) != 6:
        raise ValueError(f"bad MAC {mac!r}")
    return b


def mac_str(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def ip_bytes(ip: str) -> bytes:
    return ipaddress.IPv4Address(ip).packed


def ip_str(b: bytes) -> str:
    return str(ipaddress.IPv4Address(bytes(b)))


def _run(cmd: Sequence[str], check: bool = True, timeout: float = CMD_TIMEOUT,
         quiet: bool = False) -> subprocess.CompletedProcess:
    """Run a command, capture text output; raise LabError if check and rc != 0."""
    log.debug("run: %s", " ".join(cmd))
    try:
        cp = subprocess.run(list(cmd), stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise LabError(f"timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and cp.returncode != 0:
        raise LabError(f"command failed ({cp.returncode}): {' '.join(cmd)}\n"
                       f"{cp.stderr.strip()}")
    if cp.returncode != 0 and not quiet:
        log.debug("rc=%d: %s", cp.returncode, cp.stderr.strip())
    return cp


def netns_list() -> List[str]:
    """Names of the network namespaces in /run/netns (`ip netns list`)."""
    cp = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in cp.stdout.splitlines() if line.strip()]


def netns_pids(ns: str) -> List[int]:
    cp = _run(["ip", "netns", "pids", ns], check=False, quiet=True)
    return [int(x) for x in cp.stdout.split() if x.isdigit()]


def _proc_start_ticks(pid: int) -> Optional[int]:
    """Start time of a process (clock ticks since boot), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of stat(5), counted from field 3 here


def _kill_pids(pids: Iterable[int], grace: float = 2.0) -> None:
    """SIGTERM the given pids, wait up to `grace` seconds, then SIGKILL."""
    me = {os.getpid(), os.getppid()}
    pids = [p for p in set(pids) if p not in me]
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _pid_alive(p)]
    for p in alive:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _signal_proc(pid: int, sig: int) -> None:
    """Signal a process and, if it leads its own process group (started with
    a new session, as lab.popen and pexpect do), the whole group."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_procs(procs: list, grace: float = 3.0) -> None:
    """SIGTERM Popen / pexpect.spawn / pid entries, wait, then SIGKILL; reap."""
    def pid_of(p):
        return p if isinstance(p, int) else getattr(p, "pid", None)

    def done(p):
        if isinstance(p, subprocess.Popen):
            return p.poll() is not None
        if hasattr(p, "isalive"):      # pexpect.spawn: isalive() also reaps
            return not p.isalive()
        return not _pid_alive(p)

    live = [p for p in procs if pid_of(p) and not done(p)]
    for p in live:
        _signal_proc(pid_of(p), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [p for p in live if not done(p)]
    for p in live:
        _signal_proc(pid_of(p), signal.SIGKILL)
    for p in live:
        try:
            if isinstance(p, subprocess.Popen):
                p.wait(timeout=5)
            elif hasattr(p, "close"):
                p.close(force=True)
        except Exception as e:
            log.warning("netlab: pid %s did not go away: %s", pid_of(p), e)


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


