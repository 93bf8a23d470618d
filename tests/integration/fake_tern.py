"""Fake Tern management servers for the client tests (test_ternctl_client.py,
test_ansible_module.py): no emulators.

Each fake is a TLS server on a loopback address, written from docs/mgmt-api.md
rather than from the client's code: greeting, both key proofs, the commands a
fleet client uses (query-version, query-host, vm-list, vm-create,
vm-destroy/pause/resume, migrate, migrate-status), and events sent to every
authenticated connection. A migrate sends an unrelated event before its reply
(clients must skip it), then, from a thread, MIGRATION_STARTED, two
MIGRATION_ROUNDs and MIGRATION_END; a completed one moves the guest into the
destination fake's list first (its downtime_ms has a fraction, as a host's
has). Like a Tern host, a fake runs one outgoing
migration at a time and answers Busy to a second. It records every line it
receives and can be told to misbehave (prove the wrong key, send events
first, go silent, ...). Fakes made together share one port on 127.0.0.1,
127.0.0.2, ..., since the clients' API port is one for all hosts.
"""
import copy
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "ternctl")
CERT = os.path.join(DATA, "test-cert.pem")
CERT_KEY = os.path.join(DATA, "test-key.pem")
KEY = "correct-horse-battery-staple"
MIB = 1 << 20

CREATE_MEMBERS = {"name", "memory", "image", "kernel", "initrd", "args", "mac", "ip", "disk", "cpu",
                  "on_reboot", "on_poweroff", "on_crash", "paused"}
MIGRATE_MEMBERS = {"name", "host", "port", "insecure", "offline", "auto_converge", "delta", "downtime_ms",
                   "max_rounds", "bandwidth_mbit", "delta_cache_mib", "copy_storage"}


def spec_proof(key, side, ns, nc, h):
    """The proof as docs/mgmt-api.md defines it, written apart from the client's."""
    return hmac.new(key.encode(), b"tern-mgmt-v1 " + side + ns + nc + h, hashlib.sha256).hexdigest()


def host_info(ip, free_mib, total_mib=4096, backend="SVM", guests=0):
    return {"ip": ip, "backend": backend, "memory": {"total": total_mib * MIB, "free": free_mib * MIB},
            "guests": guests, "migrations_active": 0}


def guest(name, mem_mib, state="running", **kw):
    vm = {"name": name, "state": state, "memory": mem_mib * MIB, "exits": 0, "dirty": "off",
          "mac": "52:54:00:00:00:99", "ip": None, "migrating": False}
    vm.update(kw)
    return vm


class FakeTern:
    """A fake host's management API on an already bound listening socket.

    mode: "ok"; "mitm" (proves a key over another certificate, as a relay
    would); "events" (an event line before every reply); "api2" (greets as API
    2); "silent" (never answers a command); "huge" (a 4 KiB reply line);
    "drop" (closes each connection after its greet_events); "hangup"
    (closes a connection right after replying to its migrate).
    greet_events: [(event, data)] sent to each connection once it authenticated.
    fail: {guest: reason}: its migration from here ends "failed".
    migrate_delay: seconds from migrate's reply to the first round.
    stale_end: migrate sends, before its reply, the MIGRATION_END of an
    earlier migration of the same guest (which ended just then).
    """

    def __init__(self, listener, key=KEY, info=None, vms=(), mode="ok", greet_events=(), fail=None,
                 migrate_delay=0.01, stale_end=False):
        self.listener, self.key, self.info, self.mode = listener, key, info, mode
        self.vms = copy.deepcopy(list(vms))
        self.greet_events, self.fail, self.migrate_delay = list(greet_events), dict(fail or {}), migrate_delay
        self.stale_end = stale_end
        self.address = listener.getsockname()[0]
        self.fleet = {}             # address -> FakeTern: the fakes made together
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(CERT, CERT_KEY)
        with open(CERT) as f:
            self.h = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).digest()
        self.received = []          # every request line, parsed
        self.replies = []           # (command, error class or None) of every reply
        self.errors = []
        self.handlers, self.movers = [], []
        self.lock = threading.RLock()   # vms, outgoing, conns
        self.conns = []             # [(ssl socket, its send lock)] of authenticated connections
        self.outgoing = None        # the guest whose migration runs from here
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

    # -- transport --------------------------------------------------------

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self.handlers.append(t)
            t.start()

    def _handle(self, conn):
        conn.settimeout(5)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as s, s.makefile("rb") as rfile:
                self._converse(s, threading.Lock(), rfile)
        except (OSError, ssl.SSLError, ValueError) as e:
            self.errors.append(e)

    def _send(self, s, slock, obj):
        with slock:
            s.sendall(json.dumps(obj).encode() + b"\n")

    def _recv(self, rfile):
        line = rfile.readline()
        if not line:
            return None
        msg = json.loads(line)
        self.received.append(msg)
        return msg

    def emit(self, event, data):
        """An event to every authenticated connection, as a host sends them."""
        line = {"event": event, "data": data, "timestamp": {"seconds": int(time.time()), "microseconds": 0}}
        with self.lock:
            conns = list(self.conns)
        for s, slock in conns:
            try:
                self._send(s, slock, line)
            except OSError:
                pass

    def _converse(self, s, slock, rfile):
        ns = secrets.token_bytes(32)
        api = 2 if self.mode == "api2" else 1
        self._send(s, slock, {"tern": {"api": api, "version": "fake", "host": self.address, "nonce": ns.hex()}})
        auth = self._recv(rfile)
        if auth is None or auth.get("execute") != "auth":
            return
        nc = bytes.fromhex(auth["arguments"]["nonce"])
        if auth["arguments"]["proof"] != spec_proof(self.key, b"client", ns, nc, self.h):
            self._send(s, slock, {"error": {"class": "AuthFailed", "desc": "wrong proof"}, "id": auth.get("id")})
            return
        h = hashlib.sha256(b"a relay's certificate").digest() if self.mode == "mitm" else self.h
        self._send(s, slock, {"return": {"proof": spec_proof(self.key, b"server", ns, nc, h)},
                              "id": auth.get("id")})
        for event, data in self.greet_events:
            self._send(s, slock, {"event": event, "data": data,
                                  "timestamp": {"seconds": 1796680000, "microseconds": 120}})
        if self.mode == "drop":
            return
        with self.lock:
            self.conns.append((s, slock))
        s.settimeout(None)      # a follower may stay quiet for long: its client decides
        try:
            while (req := self._recv(rfile)) is not None:
                if self.mode == "silent":
                    continue
                if self.mode == "events":
                    self._send(s, slock, {"event": "VM_STATE", "data": {"name": "web", "state": "paused"},
                                          "timestamp": {"seconds": 1796680000, "microseconds": 120}})
                if self.mode == "huge":
                    self._send(s, slock, {"return": "x" * 4096, "id": req.get("id")})
                    continue
                command, args = req.get("execute"), req.get("arguments") or {}
                try:
                    ret = self._command(command, args, s, slock)
                except Refusal as e:
                    self.replies.append((command, e.cls))
                    self._send(s, slock, {"error": {"class": e.cls, "desc": e.desc}, "id": req.get("id")})
                else:
                    self.replies.append((command, None))
                    self._send(s, slock, {"return": ret, "id": req.get("id")})
                    if self.mode == "hangup" and command == "migrate":
                        return
        finally:
            with self.lock:
                self.conns.remove((s, slock))

    # -- commands ---------------------------------------------------------

    def _vm(self, name):
        for vm in self.vms:
            if vm["name"] == name:
                return vm
        raise Refusal("NotFound", f"no VM named {name}")

    def _command(self, command, args, s, slock):
        with self.lock:
            if command == "query-version":
                return {"api": 1, "version": "fake"}
            if command == "query-host":
                return self.info
            if command == "vm-list":
                return copy.deepcopy(self.vms)
            if command == "vm-create":
                return self._create(args)
            if command in ("vm-destroy", "vm-pause", "vm-resume"):
                vm = self._vm(args.get("name"))
                if command == "vm-destroy":
                    self.vms.remove(vm)
                else:
                    vm["state"] = "paused" if command == "vm-pause" else "running"
                return {}
            if command == "migrate":
                return self._migrate(args, s, slock)
            if command == "migrate-status":
                out = [{"direction": "out", "name": self.outgoing, "peer": "?", "phase": "pre-copy", "round": 1,
                        "percent_sent": 40, "pages_left": 100, "rate_mbit": 900, "elapsed_ms": 5,
                        "expected_downtime_ms": None}] if self.outgoing else []
                return {"migrations": out, "incoming": {"listening": True, "port": 7000, "key_set": True,
                                                        "insecure": False}}
        raise Refusal("CommandNotFound", command)

    def _create(self, args):
        unknown = set(args) - CREATE_MEMBERS
        if unknown:
            raise Refusal("InvalidParameter", f"unknown argument {sorted(unknown)[0]}")
        if not isinstance(args.get("memory"), int) or not (args.get("image") or args.get("kernel")):
            raise Refusal("InvalidParameter", "memory and image or kernel are needed")
        if any(vm["name"] == args.get("name") for vm in self.vms):
            raise Refusal("GenericError", f"vm create: a VM named {args['name']} exists")
        state = "paused" if args.get("paused") else "running"
        self.vms.append(guest(args["name"], args["memory"], state, mac=args.get("mac", "52:54:00:00:00:99"),
                              ip=args.get("ip")))
        return {"name": args["name"], "state": state}

    def _migrate(self, args, s, slock):
        unknown = set(args) - MIGRATE_MEMBERS
        if unknown:
            raise Refusal("InvalidParameter", f"unknown argument {sorted(unknown)[0]}")
        vm = self._vm(args.get("name"))
        if self.outgoing is not None:
            raise Refusal("Busy", f"a migration is running ({self.outgoing})")
        self.outgoing = vm["name"]
        vm["migrating"] = True
        # an event for someone else before the reply: clients skip it and keep it
        self._send(s, slock, {"event": "VM_STATE", "data": {"name": "bystander", "state": "running",
                                                            "reason": None},
                              "timestamp": {"seconds": 1796680000, "microseconds": 1}})
        if self.stale_end:
            self._send(s, slock, {"event": "MIGRATION_END", "data": {
                "name": vm["name"], "direction": "out", "peer": "10.9.9.9:7000", "result": "failed",
                "reason": "an earlier migration's end", "downtime_ms": None, "total_ms": 5, "bytes": 0},
                "timestamp": {"seconds": 1796680000, "microseconds": 2}})
        t = threading.Thread(target=self._move, args=(vm, args["host"]), daemon=True)
        self.movers.append(t)
        t.start()
        return {}

    def _move(self, vm, address):
        name, peer = vm["name"], f"{address}:7000"
        time.sleep(self.migrate_delay)
        self.emit("MIGRATION_STARTED", {"name": name, "peer": peer, "direction": "out"})
        for r, final in ((0, False), (1, True)):
            self.emit("MIGRATION_ROUND", {"name": name, "round": r, "final": final, "pages_sent": 100 - 90 * r,
                                          "pages_zero": 50 * (1 - r), "pages_dirtied": 10 - 10 * r,
                                          "pages_left": 10 - 10 * r, "bytes": 4112 * (100 - 90 * r),
                                          "round_ms": 2.5 if r else 40, "throttle_pct": 0})
        dest = self.fleet.get(address)
        reason = self.fail.get(name) or (None if dest else f"cannot connect to {address}")
        with self.lock:
            vm["migrating"] = False
            if reason is None:
                self.vms.remove(vm)
                with dest.lock:
                    dest.vms.append(dict(vm))
            self.outgoing = None    # free before the end is told, as the host's slot is
        if reason is None:
            self.emit("VM_STATE", {"name": name, "state": "gone", "reason": "migrated"})
        self.emit("MIGRATION_END", {"name": name, "direction": "out", "peer": peer,
                                    "result": "failed" if reason else "completed", "reason": reason,
                                    "downtime_ms": None if reason else 4.25, "total_ms": 60,
                                    "bytes": 4112 * 110})

    # -- for the tests ----------------------------------------------------

    def commands(self):
        """The names of the requests received, once every connection has ended."""
        for t in list(self.handlers):
            t.join(5)
        return [m.get("execute") for m in self.received]

    def requests(self, command):
        """The arguments of every COMMAND request received so far."""
        return [m.get("arguments") for m in self.received if m.get("execute") == command]

    def names(self):
        with self.lock:
            return [vm["name"] for vm in self.vms]

    def stop(self):
        self.listener.close()


class Refusal(Exception):
    def __init__(self, cls, desc):
        super().__init__(desc)
        self.cls, self.desc = cls, desc


def listeners_on_one_port(addresses):
    """Listening sockets, one per address, all on the same free port."""
    for _ in range(50):
        socks = []
        try:
            for a in addresses:
                s = socket.socket()
                socks.append(s)
                s.bind((a, socks[0].getsockname()[1] if len(socks) > 1 else 0))
                s.listen(8)
            return socks
        except OSError:
            for s in socks:
                s.close()
    pytest.fail("no port free on all of " + ", ".join(addresses))


@pytest.fixture
def fakes():
    """A factory: fakes(spec_a, spec_b, ...) -> FakeTerns on 127.0.0.1, 127.0.0.2, ... one port.

    The fakes of one call know each other: a migration between them moves the guest.
    """
    made = []

    def make(*specs):
        socks = listeners_on_one_port([f"127.0.0.{i + 1}" for i in range(len(specs))])
        group = [FakeTern(s, **spec) for s, spec in zip(socks, specs)]
        for f in group:
            f.fleet = {g.address: g for g in group}
        made.extend(group)
        return group

    yield make
    for f in made:
        f.stop()
