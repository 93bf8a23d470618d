"""A guest the operator paused stays paused through a migration: after a
failed one it is still paused on the source and has not run a single
instruction (its exit count is unchanged); after a successful one it
arrives paused on the destination, `vm list` says so, and it runs only
after `vm resume` there, with every page intact (docs/migration.md,
"A paused guest").

One A/B pair of QEMU Terns in one lab; the failing destination is
tests/integration/migpeer.py in the lab's client namespace. Run as root:

    cd tests/integration && /usr/bin/python3 -m pytest -v test_migrate_runstate.py
"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import LOG_ROOT
from hostpair import boot_pair
import netlab as netlab_mod

KEY = "runstate-secret-27182"
IP_A, MAC_A = "10.99.0.1", "52:54:00:00:97:01"
IP_B, MAC_B = "10.99.0.2", "52:54:00:00:97:02"
CLIENT = "10.99.0.100"
PEER_PORT = 7001
HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "migpeer.py")
LOGDIR = os.path.join(LOG_ROOT, "test_migrate_runstate")

lab = netlab_mod.lab_fixture(scope="module")


@pytest.fixture(scope="module")
def pair(lab):
    with boot_pair(lab, "qemu", logdir=LOGDIR, ips=(IP_A, IP_B), macs=(MAC_A, MAC_B),
                   key=KEY) as p:
        yield p.a, p.b


@pytest.fixture(autouse=True)
def clean(request, pair):
    yield
    rep = getattr(request.node, "rep_call", None)
    for c in pair:
        if rep is not None and rep.failed:
            print(f"\nconsole log: {c.machine.console_log}")
        for name in c.vm_list():
            c.cmd(f"vm destroy {name}")


def paused_guest(a):
    """memcheck on A, verified once, then paused; returns (generation, exits)."""
    t = a.mark()
    out = a.cmd('vm create m image=memcheck mem=16 args="rate=2000 verify=1"')
    assert "vm m: created (16 MiB, memcheck)" in out, out
    gen, errors = a.memcheck_verified("m", t, 120)
    assert errors == 0, a.log.text[t:]
    assert "vm m: paused" in a.cmd("vm pause m")
    row = a.vm_list()["m"]
    assert row["state"] == "paused"
    return gen, row["exits"]


def test_paused_guest_stays_paused_on_a_when_the_migration_fails(pair, lab):
    """An offline migration pauses the guest at ACCEPT; the destination then
    fails mid-copy. The old code 'resumed' the guest it had found paused."""
    a, _ = pair
    gen, exits = paused_guest(a)
    save = os.path.join(LOGDIR, "peer-garbage.bin")
    os.makedirs(LOGDIR, exist_ok=True)
    proc = lab.client_popen(["/usr/bin/python3", PEER, "dest", str(PEER_PORT), "--key", KEY,
                             "--save", save, "--mode", "garbage"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"listening": PEER_PORT}
        ta = a.mark()
        assert "started" in a.cmd(f"migrate m {CLIENT} --port {PEER_PORT} --offline")
        m = a.wait_output(r"^error: migrate m: failed: (.*); the guest (.*)$", 120, since=ta)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert m.group(1) == "bad answer from the destination: unknown mandatory record", m.group(0)
    assert m.group(2) == "stays paused here, as it was", m.group(0)
    row = a.vm_list()["m"]
    assert (row["state"], row["migrating"]) == ("paused", False), row
    time.sleep(3)  # a guest that runs exits within a few ms (memcheck writes its UART)
    row = a.vm_list()["m"]
    assert (row["state"], row["exits"]) == ("paused", exits), row
    # It runs when the operator says so, with its memory intact.
    t = a.mark()
    assert "vm m: running" in a.cmd("vm resume m")
    gen2, errors = a.memcheck_verified("m", t, 120)
    assert errors == 0 and gen2 > gen, a.log.text[t:]


def test_paused_guest_arrives_paused_on_b_and_runs_after_vm_resume(pair):
    a, b = pair
    gen, _ = paused_guest(a)
    ta, tb = a.mark(), b.mark()
    assert "started" in a.cmd(f"migrate m {IP_B}")
    m = a.wait_output(r"^result:\s+(.*)$", 300, since=ta)
    assert m.group(1).startswith("completed"), a.log.text[ta:]
    b.wait_output(r"^incoming m: completed", 60, since=tb)
    b.wait_output(r"^incoming m: paused, as it was on the source; 'vm resume m' runs it$", 30,
                  since=tb)
    assert "m" not in a.vm_list()
    row = b.vm_list()["m"]
    assert (row["state"], row["migrating"]) == ("paused", False), row
    exits = row["exits"]
    time.sleep(3)
    row = b.vm_list()["m"]
    assert (row["state"], row["exits"]) == ("paused", exits), row
    assert not re.search(r"^\[m\] ", b.log.text[tb:], re.M), "the paused guest printed on B"
    t = b.mark()
    assert "vm m: running" in b.cmd("vm resume m")
    gen2, errors = b.memcheck_verified("m", t, 120)
    assert errors == 0 and gen2 > gen, b.log.text[t:]
