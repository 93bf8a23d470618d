"""The management API (docs/mgmt-api.md) on two QEMU Terns: `ternctl` on the
lab's Linux client lists both hosts and every guest on them over TLS with
the management key; then clients that are wrong in every way the issue
names (the wrong key, no TLS, a command before authenticating, malformed
JSON, a 1 MiB line, 64 idle connections, a client that disconnects while a
migration runs) each get their error or are closed, and the hosts, their
guests and the migration go on, with `ternctl` still answered; the commands
that change state refuse wrong arguments with the console's own words, act on
right ones, and their effect reaches every client as an event.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_mgmt_api.py
"""
import json
import os
import re
import sys

import pytest

from conftest import LOG_ROOT, ROOT
from hostpair import boot_pair

TERNCTL = os.path.join(ROOT, "tools", "ternctl")
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mgmt_probe.py")
KEY = "mgmt-test-key-0123456789"
IP = {"a": "10.99.0.1", "b": "10.99.0.2"}


@pytest.fixture(scope="module")
def pair():
    from netlab import Lab
    with Lab() as lab, boot_pair(lab, "qemu", logdir=os.path.join(LOG_ROOT, "test_mgmt_api"),
                                 mem_mib=512) as p:
        for h in (p.a, p.b):
            out = h.cmd(f"mgmt key {KEY}")
            assert "management key set" in out and "api: listening on TCP port 7100" in out, out
        yield p


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    d = tmp_path_factory.mktemp("ternctl")
    key = d / "key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    hosts = d / "hosts"
    hosts.write_text(f"# the lab's two Terns\na {IP['a']}\nb {IP['b']}\nkey-file {key}\n")
    hosts.chmod(0o600)
    return str(hosts)


def ternctl(lab, config, *args, timeout=60):
    r = lab.client(["env", f"TERNCTL_CONFIG={config}", sys.executable, TERNCTL, *args],
                   timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def probe(lab, host, case, arg=None, key=KEY):
    r = lab.client([sys.executable, PROBE, IP[host], key, case] + ([str(arg)] if arg else []),
                   timeout=90)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_ternctl_lists_both_hosts_and_their_guests(pair, config):
    a, b, lab = pair.a, pair.b, pair.lab
    assert "created" in a.cmd('vm create w1 image=memcheck mem=16 args="rate=500 verify=1"')
    assert "created" in b.cmd('vm create w2 image=memcheck mem=24 args="rate=500 verify=1"')
    rc, out, err = ternctl(lab, config, "-o", "json", "vm", "list")
    assert rc == 0, (out, err)
    vms = {(v["host"], v["name"]): v for v in json.loads(out)}
    assert set(vms) == {("a", "w1"), ("b", "w2")}, vms
    assert vms[("a", "w1")]["state"] == "running" and vms[("a", "w1")]["memory"] == 16 << 20
    assert vms[("b", "w2")]["memory"] == 24 << 20 and vms[("b", "w2")]["migrating"] is False
    rc, out, err = ternctl(lab, config, "status")
    assert rc == 0, (out, err)
    assert re.search(rf"^a +{re.escape(IP['a'])} +SVM ", out, re.M), out
    assert re.search(rf"^b +{re.escape(IP['b'])} +SVM ", out, re.M), out
    rc, out, err = ternctl(lab, config, "vm", "list")
    assert rc == 0 and re.search(r"^a +w1 +running ", out, re.M) and re.search(r"^b +w2 +running ", out, re.M), out
    assert "authenticated" in a.log.text


def test_wrong_clients_get_their_error_and_change_nothing(pair, config):
    a, b, lab = pair.a, pair.b, pair.lab
    before = a.vm_list()

    r = probe(lab, "a", "wrong-key", key="not-the-management-key")
    assert r["auth"]["error"]["class"] == "AuthFailed" and r["end"].startswith("closed"), r
    a.wait_output(r"authentication failed", 10)

    r = probe(lab, "a", "unauthed")
    assert r["before"]["error"]["class"] == "AuthRequired" and r["before"]["id"] == 1, r

    r = probe(lab, "a", "plain")
    assert r["end"].startswith("closed"), r  # the TLS layer drops it

    r = probe(lab, "a", "bad-json")
    assert r["auth"]["server_proof_ok"], r
    assert r["lines"][-1]["error"]["class"] == "ParseError" and r["end"].startswith("closed"), r

    r = probe(lab, "a", "oversize", 1 << 20)
    assert r["lines"] and r["lines"][-1]["error"]["class"] == "TooLarge", r
    assert r["end"].startswith("closed"), r

    # 64 connections that never start TLS: at most 8 are held, the oldest
    # unauthenticated ones make room, and an operator still gets in.
    r = probe(lab, "a", "idle", 64)
    assert r["end"] >= 56, r
    rc, out, err = ternctl(lab, config, "-H", "a", "vm", "list")
    assert rc == 0 and "w1" in out, (out, err)
    st = a.cmd("mgmt")
    m = re.search(r"(\d+) accepted, (\d+) evicted", st)
    assert m and int(m.group(2)) >= 56, st

    # Nothing of it touched the guests.
    assert a.vm_list().keys() == before.keys()
    assert all(v["state"] == "running" for v in a.vm_list().values())


def test_commands_run_as_the_console_and_refuse_what_is_wrong(pair, config):
    """Each state-changing command with a wrong argument gets its class and
    the console's own words, and changes nothing; right ones act, and every
    authenticated client sees the guest's state change as an event."""
    a, lab = pair.a, pair.lab
    before = a.vm_list()
    reqs = [
        ("vm-create", {"name": "x1", "image": "memcheck", "memory": "16"}),
        ("vm-create", {"name": "x1", "image": "memcheck", "memory": 16, "colour": "red"}),
        ("vm-create", {"name": "x1", "image": "memcheck", "memory": 16, "args": "a\nb"}),
        ("vm-create", {"image": "memcheck", "memory": 16}),
        ("vm-create", {"name": "w1", "image": "memcheck", "memory": 16}),
        ("vm-create", {"name": "x1", "image": "no-such-image", "memory": 16}),
        ("vm-destroy", {"name": "nosuch"}),
        ("migrate", {"name": "w1", "host": "not-an-address"}),
        ("migrate", {"name": "w1", "host": IP["b"], "bandwidth_mbit": -1}),
        ("migrate", {"name": "w1", "host": IP["b"], "copy_storage": "some"}),
        ("migrate-cancel", {}),
        ("log", {"lines": 0}),
        ("mgmt", {}),
        ("migrate-key", {"key": "x" * 20}),
        ("vm-pause", {"name": "w1"}),
        ("vm-resume", {"name": "w1"}),
        ("mem", {}),
        ("migrate-status", {}),
        ("vm-create", {"name": "tf", "image": "memcheck", "memory": 8, "args": "mode=triplefault"}),
        ("sleep", 3),
        ("vm-destroy", {"name": "tf"}),
        ("sleep", 1),
        # A value cannot become a second option: it stays one word.
        ("vm-create", {"name": "x2 --paused", "image": "memcheck", "memory": 8}),
        ("migrate", {"name": "w1", "host": f"{IP['b']} --insecure"}),
    ]
    r = probe(lab, "a", "script", json.dumps([{"sleep": x} if c == "sleep" else {"execute": c, "arguments": x}
                                              for c, x in reqs]))
    replies = {m["id"]: m for m in r["lines"] if "id" in m}
    err = {i: (replies[i]["error"]["class"], replies[i]["error"]["desc"]) for i in replies
           if "error" in replies[i]}
    want = {0: ("InvalidParameter", "'memory' must be a non-negative integer"),
            1: ("InvalidParameter", "unknown argument 'colour'"),
            2: ("InvalidParameter", "'args' holds a control character"),
            3: ("InvalidParameter", "'name' is missing"),
            4: ("Refused", "vm create w1: a VM with that name exists"),
            5: ("NotFound", "vm create x1: no such image (see 'vm images')"),
            6: ("NotFound", "vm: no VM named 'nosuch' (see 'vm list')"),
            7: ("InvalidParameter", "migrate: 'not-an-address' is not an IPv4 address"),
            8: ("InvalidParameter", "'bandwidth_mbit' must be a non-negative integer"),
            9: ("InvalidParameter", "'copy_storage' must be \"all\" or \"inc\""),
            10: ("NotFound", "migrate cancel: no migration in progress"),
            11: ("InvalidParameter", "'lines' must be 1 to 1000"),
            12: ("CommandNotFound", "no command 'mgmt'"),
            13: ("CommandNotFound", "no command 'migrate-key'")}
    for i, w in want.items():
        assert err.get(i) == w, (reqs[i], replies.get(i))
    assert set(err) == set(want) | {22, 23}, err
    assert replies[14]["return"] == {} and replies[15]["return"] == {}, r
    assert replies[16]["return"]["free"] < replies[16]["return"]["total"], replies[16]
    assert replies[17]["return"]["migrations"] == [] and replies[17]["return"]["incoming"]["key_set"], replies[17]
    states = [m["data"]["state"] for m in r["lines"] if m.get("event") == "VM_STATE"
              and m["data"]["name"] == "w1"]
    assert states[:2] == ["paused", "running"], r["lines"]
    # A guest that faults: every client is told, with the console's reason.
    tf = [(m["event"], m["data"].get("state"), (m["data"].get("reason") or "")[:12]) for m in r["lines"]
          if m.get("event") in ("VM_STATE", "GUEST_FAULT") and m["data"]["name"] == "tf"]
    assert tf[-3:] == [("VM_STATE", "stopped", "triple fault"), ("GUEST_FAULT", None, "triple fault"),
                       ("VM_STATE", "gone", "")], tf
    assert replies[20]["return"] == {}, replies[20]
    assert replies[22]["error"] == {"class": "InvalidParameter", "desc": "vm create x2 --paused: names are "
                                    "1-31 letters, digits, '-' or '_'"}, replies[22]
    assert replies[23]["error"] == {"class": "InvalidParameter", "desc": f"migrate: '{IP['b']} --insecure' "
                                    "is not an IPv4 address"}, replies[23]
    assert a.vm_list().keys() == before.keys()
    assert a.vm_list()["w1"]["state"] == "running"
    log = a.cmd("log 40")
    assert "ran: vm destroy nosuch" in log and "ran: vm pause w1" in log, log
    assert "ran: mgmt" not in log


def test_a_client_leaving_during_a_migration_leaves_it_alone(pair, config):
    a, b, lab = pair.a, pair.b, pair.lab
    t = a.mark()
    assert "started" in a.cmd(f"migrate w1 {IP['b']} --bandwidth 20")
    r = probe(lab, "a", "auth-drop")
    assert r["auth"]["server_proof_ok"], r
    m = a.wait_output(r"^result: +(.*)$", 120, since=t)
    assert m.group(1) == "completed, guest running on the destination", a.log.text[t:]
    rc, out, err = ternctl(lab, config, "-o", "json", "vm", "list")
    assert rc == 0, (out, err)
    where = {v["name"]: v["host"] for v in json.loads(out)}
    assert where == {"w1": "b", "w2": "b"}, where
    for h in (a, b):
        for name in list(h.vm_list()):
            h.cmd(f"vm destroy {name}")
