"""ternmgmt: the client side of Tern's management API (docs/mgmt-api.md).

One copy of the protocol for every tool that speaks it: tools/ternctl and the
Ansible modules (tools/ansible/, which ship this file as module_utils through
a symlink). Python 3 standard library only.

- the configuration and key files (load_config, find_config, load_key);
- Client: one authenticated connection (TLS, both proofs of the key),
  requests and their replies, and the events every connection receives;
- the fleet: questions asked of many hosts at once (ask_all), which host
  holds a guest (find_guest), migrations followed to their MIGRATION_END
  (run_moves), and a host's guests placed by free memory and moved off it
  (plan_evacuation, evacuate).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import ssl
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field

API = 1
PORT = 7100
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0     # a reply's wait
CREATE_TIMEOUT = 120.0  # vm-create replies once the guest is built (a Linux kernel is loaded first)
KEEPALIVE = 60.0        # the host closes a connection silent for 300 s: a request every 60 s
MAX_LINE = 16 << 20     # a reply line longer than this is a broken or hostile host
MAX_EVENTS = 1024       # events kept for later; older ones are dropped (and counted)
MAX_PARALLEL = 64       # hosts asked at once
MAX_FILE = 1 << 20      # configuration and key files are small
DEFAULT_CONFIG = "~/.config/ternctl/hosts"
MIB = 1 << 20
MARGIN_MIB = 8          # what a guest needs on its destination beyond its memory
BUSY_RETRY = 1.0        # a host that is Busy with a migration not ours: try again after this
BUSY_RETRIES = 10       # ... this many times in a row, then give up on that guest

# vm-create's optional string members (mgmt-api.md, "Commands")
CREATE_STRINGS = ("image", "kernel", "initrd", "args", "mac", "ip", "disk", "cpu",
                  "on_reboot", "on_poweroff", "on_crash")


class UsageError(Exception):
    """A mistake in the command line, the configuration or the key: exit 2."""


class HostError(Exception):
    """One host could not answer; the other hosts go on."""


class RemoteError(HostError):
    """The host answered a request with an error object."""

    def __init__(self, command, cls, desc):
        super().__init__(f"{command}: {cls}: {desc}")
        self.command, self.cls, self.desc = command, cls, desc


class FleetError(Exception):
    """The hosts answered, but not as the command needs (no host holds the guest, two do)."""


def read_private(path, what):
    """The text of a file that only its owner may read or write."""
    try:
        # O_NONBLOCK: a FIFO left at the path must not hang us before fstat refuses it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the {what}: {e.strerror}") from None
    try:
        st = os.fstat(fd)       # of what was opened: the path may change meanwhile
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: the {what} is not a regular file; refused")
        if st.st_mode & 0o066:
            raise UsageError(f"{path}: the {what} has mode {stat.S_IMODE(st.st_mode):04o}: others may "
                             f"read or change it, so it is refused (chmod 600 {path})")
        data = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE:
        raise UsageError(f"{path}: the {what} is larger than {MAX_FILE} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: the {what} is not UTF-8 text") from None


@dataclass
class Config:
    path: str = DEFAULT_CONFIG
    hosts: dict = field(default_factory=dict)   # name -> address, in the file's order
    key_file: str | None = None


def load_config(path):
    """Parse a hosts file: `NAME ADDRESS`, `key-file PATH`, `#` comments."""
    cfg = Config(path)
    for n, raw in enumerate(read_private(path, "configuration").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split(None, 1)
        if words[0] == "key-file" and len(words) == 2:
            # a relative key-file is beside the configuration, wherever ternctl runs from
            cfg.key_file = os.path.join(os.path.dirname(path), os.path.expanduser(words[1].strip()))
        elif words[0] != "key-file" and len(line.split()) == 2:
            name, address = line.split()
            if "," in name:
                raise UsageError(f"{path}:{n}: a host name cannot hold a comma (-H separates with them)")
            if name in cfg.hosts:
                raise UsageError(f"{path}:{n}: host {name} is named twice")
            cfg.hosts[name] = address
        else:
            raise UsageError(f"{path}:{n}: expected 'NAME ADDRESS' or 'key-file PATH', not {raw.strip()!r}")
    return cfg


def find_config(env):
    """$TERNCTL_CONFIG (which must exist), else the default file if there is one."""
    if env.get("TERNCTL_CONFIG"):
        return load_config(env["TERNCTL_CONFIG"])
    path = os.path.expanduser(DEFAULT_CONFIG)
    # without a configuration, -H with addresses and TERNCTL_KEY still work
    return load_config(path) if os.path.lexists(path) else Config(path)


def is_ipv4(text):
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def resolve_host(item, cfg, option="-H"):
    """(label, address) for a host's name in CFG or an IPv4 address."""
    if item in cfg.hosts:
        return item, cfg.hosts[item]
    if is_ipv4(item):
        return item, item
    raise UsageError(f"{option}: {item!r} is neither a host of {cfg.path} nor an IPv4 address")


def choose_hosts(spec, cfg, option="-H"):
    """[(label, address)] for a comma-separated list of names and addresses, or all hosts of CFG."""
    if spec is None:
        if not cfg.hosts:
            raise UsageError(f"no hosts: name them with -H, or list them in {cfg.path}")
        return list(cfg.hosts.items())
    chosen = []
    for item in (s.strip() for s in spec.split(",")):
        host = resolve_host(item, cfg, option)
        if host not in chosen:
            chosen.append(host)
    return chosen


def load_key(env, key_file, cfg):
    """The management key's bytes: TERNCTL_KEY, else --key-file, else the config's key-file."""
    if env.get("TERNCTL_KEY"):
        origin, text = "TERNCTL_KEY", env["TERNCTL_KEY"]
    elif key_file or cfg.key_file:
        origin = os.path.expanduser(key_file) if key_file else cfg.key_file
        text = read_private(origin, "key file").split("\n", 1)[0]
    else:
        raise UsageError(f"no management key: set TERNCTL_KEY, give --key-file FILE, "
                         f"or add 'key-file PATH' to {cfg.path}")
    key = text.rstrip("\r\n")
    if not key:
        raise UsageError(f"{origin}: the management key is empty")
    return key.encode("utf-8")


def proofs(key, ns, nc, h):
    """(client's proof, server's proof) as hex: HMAC-SHA256 over both nonces and the certificate's hash."""
    def mac(side):
        return hmac.new(key, b"tern-mgmt-v1 " + side + ns + nc + h, hashlib.sha256).hexdigest()
    return mac(b"client"), mac(b"server")


def tls_context():
    # Tern's certificate is self-signed and new each time its listener starts: nothing
    # to check it against. The key proofs over its hash stand in for a CA (mgmt-api.md).
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def nonce(value):
    if not isinstance(value, str) or len(value) != 64:
        raise HostError("the host's greeting has no valid nonce")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise HostError("the host's greeting has no valid nonce") from None


class Client:
    """One authenticated connection to one host's management API.

    Every authenticated connection receives every event of its host, also
    between a request and its reply: execute() keeps those in `events` (at
    most MAX_EVENTS; `events_dropped` counts what fell out) and next_event()
    hands them out, oldest first, before reading more.
    """

    def __init__(self, address, key, port=PORT):
        self.address, self.key, self.port = address, key, port
        self.sock = None
        self.greeting = {}
        self.events = deque(maxlen=MAX_EVENTS)
        self.events_dropped = 0
        self.last_sent = time.monotonic()
        self._buf = bytearray()     # what arrived after the last complete line
        self._scanned = 0           # how much of _buf holds no newline
        self._id = 0

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        """TCP, TLS, greeting, and both proofs of the key; HostError if any fails."""
        where = f"{self.address} port {self.port}"
        try:
            raw = socket.create_connection((self.address, self.port), timeout=CONNECT_TIMEOUT)
        except TimeoutError:
            raise HostError(f"cannot connect to {where}: no answer within {CONNECT_TIMEOUT:g} s") from None
        except ConnectionRefusedError:
            raise HostError(f"cannot connect to {where}: refused (is `mgmt listen on` set there?)") from None
        except OSError as e:
            raise HostError(f"cannot connect to {where}: {e.strerror or e}") from None
        raw.settimeout(READ_TIMEOUT)
        try:
            self.sock = tls_context().wrap_socket(raw)
        except (OSError, ssl.SSLError) as e:
            raw.close()
            raise HostError(f"TLS handshake with {where} failed: {e}") from None
        try:
            self._authenticate()
        except BaseException:
            self.close()
            raise

    def _authenticate(self):
        cert = self.sock.getpeercert(binary_form=True)
        if not cert:
            raise HostError("the host showed no TLS certificate")
        h = hashlib.sha256(cert).digest()
        msg = self._read(time.monotonic() + READ_TIMEOUT)
        if "error" in msg:      # e.g. Busy: too many connections there
            raise self._error("connect", msg)
        g = msg.get("tern")
        if not isinstance(g, dict):
            raise HostError("the host did not greet as Tern's management API does (is this port Tern's?)")
        if g.get("api") != API:
            raise HostError(f"the host speaks management API {g.get('api')!r}; this ternctl speaks "
                            f"only {API}: use the ternctl of the host's Tern version")
        ns, nc = nonce(g.get("nonce")), secrets.token_bytes(32)
        ours, theirs = proofs(self.key, ns, nc, h)
        try:
            ret = self.execute("auth", {"nonce": nc.hex(), "proof": ours})
        except RemoteError as e:
            if e.cls == "AuthFailed":
                raise HostError(f"the host refused our key (AuthFailed: {e.desc}): it is not "
                                "the key set there with `mgmt key`") from None
            raise
        proof = ret.get("proof") if isinstance(ret, dict) else None
        # nothing else is sent before this check: a host that cannot prove the key
        # may be a relay that would see every command
        if not isinstance(proof, str) or not hmac.compare_digest(
                proof.encode("ascii", "replace"), theirs.encode("ascii")):
            raise HostError("the host did not prove it holds the key (wrong key there, or someone in between)")
        self.greeting = g

    def execute(self, name, args=None, timeout=None):
        """Send one request and return its `return` value; RemoteError for an `error` reply.

        Events that arrive before the reply are kept for next_event().
        TIMEOUT (default READ_TIMEOUT) bounds the wait for the reply.
        """
        timeout = READ_TIMEOUT if timeout is None else timeout
        self._id += 1
        self._send({"execute": name, "arguments": args or {}, "id": self._id})
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg is None:
                raise HostError(f"no answer within {timeout:g} s")
            if "event" in msg:
                self._keep(msg)
                continue
            # an error without an id ends the connection (ParseError, TooLarge): it is ours too
            if "error" in msg and msg.get("id", self._id) == self._id:
                raise self._error(name, msg)
            if msg.get("id") != self._id:
                raise HostError(f"the host answered request {msg.get('id')!r} while {name} "
                                f"(request {self._id}) waited")
            if "return" not in msg:
                raise HostError(f"the host's answer to {name} has neither return nor error")
            return msg["return"]

    def next_event(self, timeout=None):
        """The next event (kept ones first), or None once TIMEOUT s passed without one.

        TIMEOUT None waits as long as it takes. Meanwhile a query-version goes
        to the host whenever nothing was sent for KEEPALIVE s: the host closes
        connections that are silent for 300 s (mgmt-api.md, "Transport").
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.events:
                return self.events.popleft()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            due = self.last_sent + KEEPALIVE
            if now >= due:
                self.execute("query-version")   # the events read meanwhile are kept
                continue
            msg = self._read(due if deadline is None else min(due, deadline))
            if msg is None:
                continue
            if "event" not in msg:
                raise HostError(f"the host sent a line that is neither a reply we waited for "
                                f"nor an event: {json.dumps(msg)[:200]}")
            return msg

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _keep(self, msg):
        if len(self.events) == self.events.maxlen:
            self.events_dropped += 1
        self.events.append(msg)

    @staticmethod
    def _error(name, msg):
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        return RemoteError(name, err.get("class", "?"), err.get("desc", ""))

    def _send(self, obj):
        line = json.dumps(obj, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            self.sock.sendall(line)
        except OSError as e:
            raise HostError(f"connection broken while sending: {e}") from None
        self.last_sent = time.monotonic()

    def _line(self, deadline):
        """The next complete line, or None if DEADLINE (monotonic) passes first.

        Our own buffer rather than a file object's: a file object that saw a
        timeout cannot be read again, and next_event() times out by design.
        """
        while True:
            i = self._buf.find(b"\n", self._scanned)
            if i > MAX_LINE or (i < 0 and len(self._buf) > MAX_LINE):
                raise HostError(f"the host sent a line longer than {MAX_LINE} bytes")
            if i >= 0:
                line = bytes(self._buf[:i + 1])
                del self._buf[:i + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buf)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError:
                return None
            except OSError as e:
                raise HostError(f"connection broken: {e}") from None
            if not data:
                if self._buf:
                    raise HostError("the host closed the connection in the middle of a line")
                raise HostError("the host closed the connection")
            self._buf += data

    def _read(self, deadline):
        """The next line as a JSON object, or None if DEADLINE passes first."""
        line = self._line(deadline)
        if line is None:
            return None
        try:
            msg = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as e:     # RecursionError: nested too deep
            raise HostError(f"the host sent a line that is not JSON ({type(e).__name__}: {e})") from None
        if not isinstance(msg, dict):
            raise HostError("the host sent JSON that is not an object")
        return msg


def ask_all(hosts, key, port, ask):
    """ASK(client) on one connection per host, in parallel: [(label, result or HostError)]."""
    results = [None] * len(hosts)
    slots = threading.BoundedSemaphore(MAX_PARALLEL)

    def work(i, address):
        with slots:
            try:
                with Client(address, key, port) as client:
                    results[i] = ask(client)
            except HostError as e:
                results[i] = e
            except Exception as e:  # one host's surprise must not lose the others' answers
                results[i] = HostError(f"unexpected {type(e).__name__}: {e}")

    # daemon threads: Ctrl-C must not wait for a silent host's timeout
    threads = [threading.Thread(target=work, args=(i, a), daemon=True) for i, (_, a) in enumerate(hosts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [(label, r) for (label, _), r in zip(hosts, results)]


def asker(command, one):
    """What ask_all runs for COMMAND: its objects as a list (ONE: it returns a single object)."""
    def ask(client):
        objs = client.execute(command)
        objs = [objs] if one else objs
        if not isinstance(objs, list) or not all(isinstance(o, dict) for o in objs):
            raise HostError(f"{command} did not return {'an object' if one else 'a list of objects'}")
        return objs
    return ask


list_vms = asker("vm-list", False)


def vm_create_args(name, memory, paused=False, **strings):
    """vm-create's arguments: MEMORY in MiB, the optional strings given (not None)."""
    if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
        raise UsageError(f"the memory must be a positive number of MiB, not {memory!r}")
    unknown = sorted(set(strings) - set(CREATE_STRINGS))
    if unknown:
        raise UsageError(f"vm-create has no option {', '.join(unknown)}")
    if strings.get("image") is None and strings.get("kernel") is None:
        raise UsageError("a guest needs an image or a kernel")
    args = {"name": name, "memory": memory}
    args.update((k, str(v)) for k, v in strings.items() if v is not None)
    if paused:
        args["paused"] = True
    return args


def migrate_args(name, address, port=None, insecure=False, offline=False, auto_converge=None,
                 delta=None, downtime_ms=None, max_rounds=None, bandwidth_mbit=None,
                 delta_cache_mib=None, copy_storage=None):
    """migrate's arguments: only what was given, so the host's defaults stand for the rest."""
    args = {"name": name, "host": address}
    for k, v in (("port", port), ("auto_converge", auto_converge), ("delta", delta),
                 ("downtime_ms", downtime_ms), ("max_rounds", max_rounds),
                 ("bandwidth_mbit", bandwidth_mbit), ("delta_cache_mib", delta_cache_mib),
                 ("copy_storage", copy_storage)):
        if v is not None:
            args[k] = v
    if insecure:
        args["insecure"] = True
    if offline:
        args["offline"] = True
    return args


def locate(hosts, key, port, name):
    """Which of HOSTS [(label, address)] hold guest NAME.

    ([(label, address, vm object)], [(label, HostError)]): its holders, and
    the hosts that did not answer vm-list.
    """
    holders, failed = [], []
    for (label, result), (_, address) in zip(ask_all(hosts, key, port, list_vms), hosts):
        if isinstance(result, HostError):
            failed.append((label, result))
        else:
            holders += [(label, address, vm) for vm in result if vm.get("name") == name]
    return holders, failed


def find_guest(hosts, key, port, name):
    """The one host holding NAME: ((label, address, vm), hosts that did not answer); else FleetError."""
    holders, failed = locate(hosts, key, port, name)
    if len(holders) == 1:
        return holders[0], failed
    if holders:
        raise FleetError(f"{name} is on more than one host: {', '.join(h[0] for h in holders)}")
    if failed:
        raise FleetError(f"no host that answered holds {name} "
                         f"({', '.join(label for label, _ in failed)} did not answer)")
    raise FleetError(f"no host holds {name} (asked {', '.join(label for label, _ in hosts)})")


@dataclass
class Move:
    """One guest to move, and how its move ended."""
    name: str
    source: tuple                   # (label, address)
    to: tuple | None = None         # (label, address); None: nowhere to go
    memory: int = 0                 # bytes
    result: str | None = None       # the end's result ("completed", "failed", "uncertain"), or
    #                                 "failed" (refused), "skipped" (not tried), "timeout",
    #                                 "unknown" (the source's connection was lost meanwhile)
    reason: str | None = None
    downtime_ms: float | None = None
    total_ms: int | None = None
    bytes: int | None = None
    rounds: list = field(default_factory=list)  # MIGRATION_ROUND data, in order
    state: str | None = None        # its state on the destination afterwards (None: not listed there)

    def row(self):
        return {"name": self.name, "from": self.source[0], "to": self.to[0] if self.to else None,
                "result": self.result, "reason": self.reason, "downtime_ms": self.downtime_ms,
                "total_ms": self.total_ms, "bytes": self.bytes, "state": self.state}

    @property
    def moved(self):
        return self.result == "completed" and self.state is not None


class Events:
    """What run_moves tells its caller as it goes (override what you need)."""

    def started(self, move):
        pass

    def round(self, move, data):
        pass

    def ended(self, move):
        pass


def _num(v):
    """V if it is a JSON number (downtime_ms has a fraction: "4.125"), else None."""
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _about(ev, name):
    data = ev.get("data")
    return (ev.get("event") in ("MIGRATION_ROUND", "MIGRATION_END") and isinstance(data, dict)
            and data.get("name") == name)


def _migration_status(client, name):
    """', still PHASE, round N, P % sent' from migrate-status, or '' if it cannot tell."""
    try:
        st = client.execute("migrate-status")
        for m in st.get("migrations", []) if isinstance(st, dict) else []:
            if isinstance(m, dict) and m.get("name") == name and m.get("direction") == "out":
                return f"; migrate-status: {m.get('phase')}, round {m.get('round')}, {m.get('percent_sent')} % sent"
    except HostError:
        pass
    return ""


def _verify(move, key, port):
    """After a completed end: is the guest listed on its destination? Sets move.state."""
    try:
        with Client(move.to[1], key, port) as c:
            vms = list_vms(c)
    except HostError as e:
        move.reason = f"{move.to[0]} did not answer vm-list afterwards: {e}"
        return
    for vm in vms:
        if vm.get("name") == move.name:
            move.state = vm.get("state") if isinstance(vm.get("state"), str) else "?"
            return
    move.reason = f"{move.to[0]} does not list {move.name} afterwards"


def run_moves(client, moves, key, port, parallel=1, options=None, timeout=None, events=None):
    """Migrate MOVES (each with its `to`) from CLIENT's host, PARALLEL at a time.

    Each one's MIGRATION_END (data.name == its name) ends it; a completed one
    is then looked for on its destination (vm-list). OPTIONS are migrate's
    optional arguments (migrate_args). TIMEOUT bounds the wait for each
    one's end (None: as long as it takes); a move that times out is
    reported as "timeout" and goes on on the host.

    A Tern host runs one outgoing migration at a time and answers Busy to
    another: such a move waits in the queue until one of ours ends, then
    is tried again. Busy while none of ours runs (another client's
    migration) is tried BUSY_RETRIES times, BUSY_RETRY s apart.
    """
    events = events or Events()
    options = {k: v for k, v in (options or {}).items() if k not in ("name", "host")}
    pending, running = deque(moves), {}     # running: name -> (move, deadline or None)
    try:
        _run(client, pending, running, key, port, parallel, options, timeout, events)
    except HostError as e:
        # the source's connection is gone: what ran may go on there, what waited was not tried
        for m, _ in running.values():
            m.result, m.reason = "unknown", f"lost the connection to {m.source[0]} ({e}): it may go on there"
            events.ended(m)
        for m in pending:
            m.result, m.reason = "skipped", f"not tried: lost the connection to {m.source[0]} ({e})"
            events.ended(m)
    return moves


def _run(client, pending, running, key, port, parallel, options, timeout, events):
    busy_tries, retry_at = 0, 0.0
    while pending or running:
        while pending and len(running) < parallel and time.monotonic() >= retry_at:
            m = pending[0]
            try:
                client.execute("migrate", {"name": m.name, "host": m.to[1], **options})
            except RemoteError as e:
                if e.cls == "Busy" and running:
                    break                       # tried again when one of ours ends
                if e.cls == "Busy" and busy_tries < BUSY_RETRIES:
                    busy_tries += 1
                    retry_at = time.monotonic() + BUSY_RETRY
                    break
                pending.popleft()
                busy_tries = 0
                m.result, m.reason = "failed", f"{e.cls}: {e.desc}"
                events.ended(m)
                continue
            pending.popleft()
            busy_tries = 0
            # The host replies in the pass that starts the migration, so a round or an
            # end of this guest read before the reply is an earlier migration's.
            for ev in [e for e in client.events if _about(e, m.name)]:
                client.events.remove(ev)
            running[m.name] = (m, None if timeout is None else time.monotonic() + timeout)
            events.started(m)
        if not running and not pending:
            break
        wakes = [d for _, d in running.values() if d is not None]
        if pending and not running:
            wakes.append(retry_at)
        wait = None if not wakes else max(0.0, min(wakes) - time.monotonic())
        ev = client.next_event(wait)
        now = time.monotonic()
        for name, (m, d) in list(running.items()):
            if d is not None and now >= d:
                del running[name]
                m.result = "timeout"
                m.reason = (f"no MIGRATION_END within {timeout:g} s: it may still be running on "
                            f"{m.source[0]}{_migration_status(client, name)}")
                events.ended(m)
        if ev is None:
            continue
        data = ev.get("data") if isinstance(ev.get("data"), dict) else {}
        entry = running.get(data.get("name"))
        if entry is None or data.get("direction") == "in":
            continue        # another guest's, or another connection's migration
        m = entry[0]
        if ev.get("event") == "MIGRATION_ROUND":
            m.rounds.append(data)
            events.round(m, data)
        elif ev.get("event") == "MIGRATION_END":
            del running[m.name]
            m.result = data.get("result") if isinstance(data.get("result"), str) else "?"
            m.reason = data.get("reason")
            m.downtime_ms, m.total_ms, m.bytes = (_num(data.get(k)) for k in ("downtime_ms", "total_ms", "bytes"))
            if m.result == "completed":
                _verify(m, key, port)
            events.ended(m)


def plan_evacuation(source, vms, candidates, margin_mib=MARGIN_MIB):
    """Where each guest of VMS (SOURCE's vm-list) goes, as Moves, largest guest first.

    CANDIDATES: [(label, address, free bytes)]. A guest needs its memory and
    MARGIN_MIB more; it goes to the candidate with the most free memory left
    after the guests already given to it here (the first listed on a tie). A
    guest that fits nowhere, is stopped, is still arriving (incoming) or is
    already migrating is not tried: its Move is "skipped", with the reason.
    """
    left = {label: free for label, _, free in candidates}
    moves = []
    for vm in sorted(vms, key=lambda v: -(_num(v.get("memory")) or 0)):   # stable: ties keep vm-list's order
        m = Move(str(vm.get("name")), source, memory=_num(vm.get("memory")) or 0)
        moves.append(m)
        state = vm.get("state")
        if state in ("stopped", "incoming"):
            m.result = "skipped"
            m.reason = ("stopped: a stopped guest cannot move" if state == "stopped"
                        else "incoming: still arriving on this host")
            continue
        if vm.get("migrating"):
            m.result, m.reason = "skipped", "a migration already owns it"
            continue
        need = -(-m.memory // MIB) + margin_mib
        best = None
        for label, address, _ in candidates:
            if left[label] >= need * MIB and (best is None or left[label] > left[best[0]]):
                best = (label, address)
        if best is None:
            m.result, m.reason = "skipped", f"no host has {need} MiB free"
            continue
        m.to = best
        left[best[0]] -= need * MIB
    return moves


@dataclass
class Evacuation:
    moves: list                                         # Moves, largest guest first
    left: list | None = None                            # names still on the source at the end
    error: str | None = None                            # why `left` is not known
    unreachable: list = field(default_factory=list)     # [(label, HostError)] of the candidates

    @property
    def moved(self):
        return [m for m in self.moves if m.moved]

    @property
    def stuck(self):
        return [m for m in self.moves if not m.moved]


def free_memory(hosts, key, port):
    """[(label, address, free bytes)] of HOSTS that answered query-host, and [(label, HostError)]."""
    free, failed = [], []
    for (label, result), (_, address) in zip(ask_all(hosts, key, port, asker("query-host", True)), hosts):
        if not isinstance(result, HostError):
            mem = result[0].get("memory")
            if isinstance(mem, dict) and _num(mem.get("free")) is not None:
                free.append((label, address, mem["free"]))
                continue
            result = HostError("query-host did not return memory.free")
        failed.append((label, result))
    return free, failed


def evacuate(source, candidates, key, port, parallel=1, options=None, timeout=None, events=None,
             dry_run=False):
    """Move every guest off SOURCE (label, address) to CANDIDATES [(label, address)].

    Placement by plan_evacuation over the candidates' query-host; the moves
    by run_moves on one connection to SOURCE; at the end SOURCE's vm-list
    gives `left`. DRY_RUN: the plan only (nothing is sent but vm-list and
    query-host; `left` stays None). HostError if SOURCE itself fails.
    """
    candidates = [c for c in candidates if c[1] != source[1]]
    with Client(source[1], key, port) as client:
        vms = list_vms(client)
        free, unreachable = free_memory(candidates, key, port)
        ev = Evacuation(plan_evacuation(source, vms, free), unreachable=unreachable)
        if dry_run:
            return ev
        run_moves(client, [m for m in ev.moves if m.to is not None and m.result is None], key, port,
                  parallel, options, timeout, events)
    try:    # a new connection: the one the moves used may be what failed
        with Client(source[1], key, port) as client:
            ev.left = [str(vm.get("name")) for vm in list_vms(client)]
    except HostError as e:
        ev.error = f"{source[0]}: vm-list after the moves: {e}"
    return ev
