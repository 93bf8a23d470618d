"""tools/ternctl against fake Tern management servers (no emulators).

Each fake is a TLS server on a loopback address, written from docs/mgmt-api.md
rather than from ternctl's code: greeting, both key proofs, query-host and
vm-list with canned answers. It records every line it receives and can be told
to misbehave (prove the wrong key, send events first, go silent, ...).
Two fakes share one port on 127.0.0.1 and 127.0.0.2, since --port is global.
"""
import hashlib
import hmac
import importlib.util
import json
import os
import secrets
import socket
import ssl
import sys
import threading
from importlib.machinery import SourceFileLoader

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data", "ternctl")
CERT = os.path.join(DATA, "test-cert.pem")
CERT_KEY = os.path.join(DATA, "test-key.pem")
KEY = "correct-horse-battery-staple"
MIB = 1 << 20


def _load_ternctl():
    path = os.path.join(ROOT, "tools", "ternctl")
    loader = SourceFileLoader("ternctl", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("ternctl", loader))
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True   # no tools/__pycache__ litter
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


ternctl = _load_ternctl()

HOST_A = {"ip": "10.99.0.1", "mac": "52:54:00:00:00:01", "backend": "SVM",
          "memory": {"total": 2048 * MIB, "free": 1536 * MIB}, "guests": 2, "migrations_active": 0}
HOST_B = {"ip": "10.99.0.2", "mac": "52:54:00:00:00:02", "backend": "VMX",
          "memory": {"total": 4096 * MIB, "free": 4000 * MIB}, "guests": 1, "migrations_active": 1}
# "dirty" is the guest's dirty-logging mode, as the console's `vm list` shows it
VMS_A = [
    {"name": "web", "state": "running", "memory": 64 * MIB, "exits": 12345, "dirty": "pml",
     "mac": "52:54:00:12:34:01", "ip": "10.99.0.50", "migrating": False},
    {"name": "db", "state": "paused", "memory": 256 * MIB, "exits": 9, "dirty": "off",
     "mac": "52:54:00:12:34:02", "ip": None, "migrating": False},
]
VMS_B = [
    {"name": "cache", "state": "running", "memory": 32 * MIB, "exits": 5, "dirty": "ad",
     "mac": "52:54:00:12:34:03", "ip": "10.99.0.51", "migrating": True},
]


def spec_proof(key, side, ns, nc, h):
    """The proof as docs/mgmt-api.md defines it, written apart from ternctl's."""
    return hmac.new(key.encode(), b"tern-mgmt-v1 " + side + ns + nc + h, hashlib.sha256).hexdigest()


class FakeTern:
    """A fake host's management API on an already bound listening socket.

    mode: "ok"; "mitm" (proves a key over another certificate, as a relay
    would); "events" (an event line before every reply); "api2" (greets as API
    2); "silent" (never answers a command); "huge" (a 4 KiB reply line).
    """

    def __init__(self, listener, key=KEY, info=None, vms=(), mode="ok"):
        self.listener, self.key, self.info, self.vms, self.mode = listener, key, info, list(vms), mode
        self.address = listener.getsockname()[0]
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(CERT, CERT_KEY)
        with open(CERT) as f:
            self.h = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).digest()
        self.received = []       # every request line, parsed
        self.errors = []
        self.handlers = []
        self.stopping = threading.Event()
        self.accepter = threading.Thread(target=self._accept, daemon=True)
        self.accepter.start()

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
                self._converse(s, rfile)
        except (OSError, ssl.SSLError, ValueError) as e:
            self.errors.append(e)

    def _send(self, s, obj):
        s.sendall(json.dumps(obj).encode() + b"\n")

    def _recv(self, rfile):
        line = rfile.readline()
        if not line:
            return None
        msg = json.loads(line)
        self.received.append(msg)
        return msg

    def _converse(self, s, rfile):
        ns = secrets.token_bytes(32)
        api = 2 if self.mode == "api2" else 1
        self._send(s, {"tern": {"api": api, "version": "fake", "host": self.address, "nonce": ns.hex()}})
        auth = self._recv(rfile)
        if auth is None or auth.get("execute") != "auth":
            return
        nc = bytes.fromhex(auth["arguments"]["nonce"])
        if auth["arguments"]["proof"] != spec_proof(self.key, b"client", ns, nc, self.h):
            self._send(s, {"error": {"class": "AuthFailed", "desc": "wrong proof"}, "id": auth.get("id")})
            return
        h = hashlib.sha256(b"a relay's certificate").digest() if self.mode == "mitm" else self.h
        self._send(s, {"return": {"proof": spec_proof(self.key, b"server", ns, nc, h)}, "id": auth.get("id")})
        while (req := self._recv(rfile)) is not None:
            if self.mode == "silent":
                continue
            if self.mode == "events":
                self._send(s, {"event": "VM_STATE", "data": {"name": "web", "state": "paused"},
                               "timestamp": {"seconds": 1796680000, "microseconds": 120}})
            if self.mode == "huge":
                self._send(s, {"return": "x" * 4096, "id": req.get("id")})
            elif req.get("execute") == "query-host":
                self._send(s, {"return": self.info, "id": req.get("id")})
            elif req.get("execute") == "vm-list":
                self._send(s, {"return": self.vms, "id": req.get("id")})
            else:
                self._send(s, {"error": {"class": "CommandNotFound", "desc": req.get("execute")},
                               "id": req.get("id")})

    def commands(self):
        """The names of the requests received, once every connection has ended."""
        for t in list(self.handlers):
            t.join(5)
        return [m.get("execute") for m in self.received]

    def stop(self):
        self.listener.close()


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
def fakes(request):
    """A factory: fakes(spec_a, spec_b, ...) -> FakeTerns on 127.0.0.1, 127.0.0.2, ... one port."""
    made = []

    def make(*specs):
        socks = listeners_on_one_port([f"127.0.0.{i + 1}" for i in range(len(specs))])
        made.extend(FakeTern(s, **spec) for s, spec in zip(socks, specs))
        return made[-len(specs):]

    yield make
    for f in made:
        f.stop()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No real configuration or key of the user running the tests leaks in."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TERNCTL_CONFIG", raising=False)
    monkeypatch.delenv("TERNCTL_KEY", raising=False)
    return tmp_path


def write_private(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def config_for(tmp_path, monkeypatch, hosts, key=KEY, mode=0o600, key_mode=0o600):
    """A hosts file naming HOSTS {name: address} and a key file beside it; $TERNCTL_CONFIG set."""
    keyfile = write_private(tmp_path / "cfg" / "key", key + "\n", key_mode)
    lines = ["# name   address", ""] + [f"{n}  {a}   # lab host" for n, a in hosts.items()]
    cfg = write_private(tmp_path / "cfg" / "hosts", "\n".join(lines + [f"key-file {keyfile}", ""]), mode)
    monkeypatch.setenv("TERNCTL_CONFIG", str(cfg))
    return cfg, keyfile


def two_hosts(fakes, env, monkeypatch, spec_b=None):
    a, b = fakes(dict(info=HOST_A, vms=VMS_A), spec_b or dict(info=HOST_B, vms=VMS_B))
    config_for(env, monkeypatch, {"a": a.address, "b": b.address})
    return a, b, ["--port", str(a.listener.getsockname()[1])]


def run(capsys, argv):
    rc = ternctl.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def rows(out):
    return [line.split() for line in out.strip().splitlines()]


def test_proofs_follow_the_spec():
    ns, nc, h = secrets.token_bytes(32), secrets.token_bytes(32), secrets.token_bytes(32)
    client, server = ternctl.proofs(KEY.encode(), ns, nc, h)
    assert client == spec_proof(KEY, b"client", ns, nc, h)
    assert server == spec_proof(KEY, b"server", ns, nc, h)
    assert client != server


def test_status_of_two_hosts_as_a_table(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["status"])
    assert (rc, err) == (0, "")
    assert rows(out) == [
        ["HOST", "ADDRESS", "BACKEND", "MEM_FREE(MiB)", "MEM_TOTAL(MiB)", "GUESTS", "MIGRATING"],
        ["a", "10.99.0.1", "SVM", "1536", "2048", "2", "0"],
        ["b", "10.99.0.2", "VMX", "4000", "4096", "1", "1"],
    ]


def test_status_as_json_has_every_host_and_field(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["-o", "json", "status"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == [{"host": "a", **HOST_A}, {"host": "b", **HOST_B}]


def test_vm_list_of_two_hosts_as_a_table(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["vm", "list"])
    assert (rc, err) == (0, "")
    assert rows(out) == [
        ["HOST", "NAME", "STATE", "MEM(MiB)", "EXITS", "DIRTY", "MAC", "IP"],
        ["a", "web", "running", "64", "12345", "pml", "52:54:00:12:34:01", "10.99.0.50"],
        ["a", "db", "paused", "256", "9", "off", "52:54:00:12:34:02", "-"],
        ["b", "cache", "running", "32", "5", "ad", "52:54:00:12:34:03", "10.99.0.51"],
    ]


def test_vm_list_as_json_adds_the_host(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["-o", "json", "vm", "list"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == [{"host": "a", **v} for v in VMS_A] + [{"host": "b", **v} for v in VMS_B]


def test_wrong_key_is_reported_and_the_other_host_still_prints(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch, dict(key="another-key-entirely", info=HOST_B))
    rc, out, err = run(capsys, port + ["status"])
    assert rc == 1
    assert err.startswith("ternctl: b: the host refused our key (AuthFailed")
    assert [r[0] for r in rows(out)] == ["HOST", "a"]
    assert b.commands() == ["auth"]
    assert a.commands() == ["auth", "query-host"]


def test_host_that_cannot_prove_the_key_gets_no_command(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch, dict(info=HOST_B, vms=VMS_B, mode="mitm"))
    rc, out, err = run(capsys, port + ["vm", "list"])
    assert rc == 1
    assert err == ("ternctl: b: the host did not prove it holds the key "
                   "(wrong key there, or someone in between)\n")
    assert {r[0] for r in rows(out)[1:]} == {"a"}
    assert b.commands() == ["auth"]


def test_event_before_a_reply_is_skipped_and_kept(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch, dict(info=HOST_B, vms=VMS_B, mode="events"))
    rc, out, err = run(capsys, port + ["-o", "json", "vm", "list"])
    assert (rc, err) == (0, "")
    assert [v["name"] for v in json.loads(out)] == ["web", "db", "cache"]

    (fake,) = fakes(dict(info=HOST_B, vms=VMS_B, mode="events"))
    with ternctl.Client(fake.address, KEY.encode(), fake.listener.getsockname()[1]) as c:
        assert c.execute("query-host") == HOST_B
        assert c.execute("vm-list") == VMS_B
        assert [e["event"] for e in c.events] == ["VM_STATE", "VM_STATE"]


def test_command_error_names_class_and_description(fakes, env):
    (fake,) = fakes(dict(info=HOST_A))
    with ternctl.Client(fake.address, KEY.encode(), fake.listener.getsockname()[1]) as c:
        with pytest.raises(ternctl.RemoteError) as e:
            c.execute("vm-frobnicate", {"name": "web"})
    assert (e.value.cls, e.value.desc) == ("CommandNotFound", "vm-frobnicate")
    assert fake.received[-1] == {"execute": "vm-frobnicate", "arguments": {"name": "web"}, "id": 2}


def test_host_strings_cannot_drive_the_terminal(fakes, env, monkeypatch, capsys):
    vm = dict(VMS_A[0], name="\x1b]0;owned\x07web\nfake row", state="running\x1b[2J")
    (fake,) = fakes(dict(info=HOST_A, vms=[vm]))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, out, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "vm", "list"])
    assert (rc, err) == (0, "")
    assert "\x1b" not in out and "\x07" not in out
    assert rows(out)[1][:3] == ["a", "?]0;owned?web?fake", "row"]


def test_config_readable_by_others_is_refused(fakes, env, monkeypatch, capsys):
    (fake,) = fakes(dict(info=HOST_A))
    cfg, _ = config_for(env, monkeypatch, {"a": fake.address}, mode=0o644)
    rc, out, err = run(capsys, ["status"])
    assert (rc, out) == (2, "")
    assert f"{cfg}: the configuration has mode 0644" in err
    assert fake.commands() == []


def test_key_file_writable_by_group_is_refused(env, monkeypatch, capsys):
    _, keyfile = config_for(env, monkeypatch, {"a": "10.99.0.1"}, key_mode=0o620)
    rc, out, err = run(capsys, ["status"])
    assert (rc, out) == (2, "")
    assert f"{keyfile}: the key file has mode 0620" in err


def test_config_that_is_not_a_regular_file_is_refused(env, monkeypatch, capsys):
    d = env / "hosts.d"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("TERNCTL_CONFIG", str(d))
    rc, _, err = run(capsys, ["status"])
    assert rc == 2 and f"{d}: the configuration is not a regular file" in err


def test_key_from_environment_and_hosts_by_address_need_no_config(fakes, env, monkeypatch, capsys):
    a, b = fakes(dict(info=HOST_A), dict(info=HOST_B))
    monkeypatch.setenv("TERNCTL_KEY", KEY + "\n")
    port = str(a.listener.getsockname()[1])
    rc, out, err = run(capsys, ["-H", f"{a.address},{b.address}", "--port", port, "status"])
    assert (rc, err) == (0, "")
    assert [r[:2] for r in rows(out)[1:]] == [["127.0.0.1", "10.99.0.1"], ["127.0.0.2", "10.99.0.2"]]


def test_key_from_environment_wins_over_the_config(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch)
    write_private(env / "cfg" / "key", "not the key\n")
    monkeypatch.setenv("TERNCTL_KEY", KEY)
    rc, _, err = run(capsys, port + ["status"])
    assert (rc, err) == (0, "")


def test_key_file_option_wins_over_the_config(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch)
    write_private(env / "cfg" / "key", "not the key\n")
    other = write_private(env / "elsewhere" / "key", KEY + "\r\nsecond line is ignored\n")
    rc, _, err = run(capsys, port + ["--key-file", str(other), "status"])
    assert (rc, err) == (0, "")


def test_key_file_read_only_by_its_owner_is_accepted(env):
    keyfile = write_private(env / "key", KEY + "\n", 0o400)
    assert ternctl.load_key({}, str(keyfile), ternctl.Config()) == KEY.encode()


def test_hosts_chosen_by_name(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["-H", "b", "status"])
    assert (rc, err) == (0, "")
    assert [r[0] for r in rows(out)] == ["HOST", "b"]
    assert a.commands() == []


def test_unknown_host_name_is_a_usage_error(env, monkeypatch, capsys):
    config_for(env, monkeypatch, {"a": "10.99.0.1"})
    rc, out, err = run(capsys, ["-H", "a,zz", "status"])
    assert (rc, out) == (2, "")
    assert "'zz' is neither a host of" in err


def test_missing_key_is_a_usage_error(env, capsys):
    rc, out, err = run(capsys, ["-H", "10.99.0.1", "status"])
    assert (rc, out) == (2, "")
    assert "no management key: set TERNCTL_KEY" in err


def test_unknown_command_is_a_usage_error(env, monkeypatch, capsys):
    monkeypatch.setenv("TERNCTL_KEY", KEY)
    rc, _, err = run(capsys, ["-H", "10.99.0.1", "vm", "frob"])
    assert rc == 2 and "unknown command 'vm frob'" in err


def test_unreachable_host_is_reported_and_the_others_print(fakes, env, monkeypatch, capsys):
    a, b = fakes(dict(info=HOST_A), dict(info=HOST_B))
    # 127.0.0.3 listens on nothing: the port is closed there
    config_for(env, monkeypatch, {"a": a.address, "gone": "127.0.0.3", "b": b.address})
    rc, out, err = run(capsys, ["--port", str(a.listener.getsockname()[1]), "status"])
    assert rc == 1
    assert err.startswith("ternctl: gone: cannot connect to 127.0.0.3 port ")
    assert "refused" in err
    assert [r[0] for r in rows(out)] == ["HOST", "a", "b"]


def test_greeting_of_another_api_version_is_refused(fakes, env, monkeypatch, capsys):
    (fake,) = fakes(dict(info=HOST_A, mode="api2"))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, out, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "status"])
    assert (rc, out) == (1, "")
    assert "ternctl: a: the host speaks management API 2; this ternctl speaks only 1" in err
    assert fake.commands() == []


def test_reply_line_over_the_limit_is_refused(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternctl, "MAX_LINE", 1024)
    (fake,) = fakes(dict(info=HOST_A, mode="huge"))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, _, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "status"])
    assert rc == 1 and "ternctl: a: the host sent a line longer than 1024 bytes" in err


def test_silent_host_times_out(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternctl, "READ_TIMEOUT", 0.3)
    (fake,) = fakes(dict(info=HOST_A, mode="silent"))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, _, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "-o", "json", "status"])
    assert rc == 1 and "ternctl: a: no answer within 0.3 s" in err


def test_config_file_format(env, monkeypatch):
    monkeypatch.setenv("HOME", str(env))
    cfg = write_private(env / "hosts", "# fleet\n\n  a 10.99.0.1\nb\t10.99.0.2  # second\n"
                                       "key-file ~/keys/mgmt\n")
    c = ternctl.load_config(str(cfg))
    assert c.hosts == {"a": "10.99.0.1", "b": "10.99.0.2"}
    assert c.key_file == str(env / "keys" / "mgmt")
    write_private(cfg, "a 10.99.0.1 extra\n")
    with pytest.raises(ternctl.UsageError, match=r"hosts:1: expected 'NAME ADDRESS'"):
        ternctl.load_config(str(cfg))
    write_private(cfg, "a 10.99.0.1\na 10.99.0.2\n")
    with pytest.raises(ternctl.UsageError, match="host a is named twice"):
        ternctl.load_config(str(cfg))
