"""Live migration failure paths: every way a migration can fail before
hand-off leaves the guest running on the source (A) and nothing on the
destination (B), and both consoles say what happened (docs/migration.md,
"When it fails").

After each failure the tests check the same things: A's guest is `running`
in A's `vm list` (no longer `(migrating)`) and memcheck on it goes on
verifying every page with errors=0; B's `vm list` holds no such guest, B's
free memory is what it was before the attempt, B still answers commands and
has no migration in progress; `migrate history` on both records the failure.

One A/B pair of QEMU Terns (ip= on the command line, in one lab) serves the
whole module; each test leaves it clean (no guests, keys set, port up, B
running). Streams no Tern would send come from tests/integration/migpeer.py,
run in the lab's client namespace. Run as root:

    cd tests/integration && /usr/bin/python3 -m pytest -v test_migrate_failures.py
"""
import json
import os
import re
import subprocess
import time
import types

import pytest

from conftest import LOG_ROOT
from hostpair import HostPair
import netlab as netlab_mod

KEY = "fail-test-secret-31415"
IP_A, MAC_A = "10.99.0.1", "52:54:00:00:98:01"
IP_B, MAC_B = "10.99.0.2", "52:54:00:00:98:02"
CLIENT = "10.99.0.100"
PEER_PORT = 7001
HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "migpeer.py")
LOGDIR = os.path.join(LOG_ROOT, "test_migrate_failures")
# Slow enough that a 16 MiB guest takes ~13 s to copy: a cancel, a cut or
# a kill 1-2 s in lands in the middle of round 0.
SLOW = "--bandwidth 10"

lab = netlab_mod.lab_fixture(scope="module")


class Pair(HostPair):
    """Tern A and B on one lab; B can be killed and booted again."""

    def __init__(self, lab):
        super().__init__(lab, "qemu", logdir=LOGDIR, ips=(IP_A, IP_B), macs=(MAC_A, MAC_B), key=None)
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        self.b_keyed = False

    def kill_b(self):
        self.b.close()

    def restart_b(self):
        """Boots a fresh B (no key set) on the same TAP, MAC and address."""
        self.restart("b")
        self.b_keyed = False
        # The first frames after a reboot wait for ARP: let A find B again.
        tern_ping(self.a, IP_B)

    def set_keys(self):
        self.set_key(KEY)
        self.b_keyed = True


@pytest.fixture(scope="module")
def pair(lab):
    p = Pair(lab)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(autouse=True)
def clean(request, pair):
    """Each test starts and ends with both hosts idle and empty; on failure,
    says where the consoles are."""
    pair.lab.port(pair.taps["b"], up=True)
    if not pair.b.alive():
        pair.restart_b()
    if "keyless_b" not in request.fixturenames:
        pair.set_keys()
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for c in pair.consoles:
            print(f"\nconsole log: {c.machine.console_log}")
            with open(c.machine.console_log, errors="replace") as fh:
                print(fh.read()[-3000:])
    pair.lab.port(pair.taps["b"], up=True)
    if not pair.b.alive():
        pair.restart_b()
    for c in (pair.a, pair.b):
        if "no migration in progress" not in c.cmd("migrate status"):
            c.cmd("migrate cancel")
            wait_idle(c)
        for name in vms(c):
            c.cmd(f"vm destroy {name}")


# ---- reading the consoles ----------------------------------------------------------

def tern_ping(c, ip, count=3):
    t = c.mark()
    c.cmd(f"net ping {ip} {count} 200")
    m = c.wait_output(rf"--- {re.escape(ip)}: (\d+) sent, (\d+) received", 30, since=t)
    return int(m.group(2))


def vms(c):
    """`vm list` as {name: {"state", "mem", "dirty", "mac", "migrating", ...}}."""
    return c.vm_list()


def wait_idle(c, timeout=30):
    deadline = time.monotonic() + timeout
    while "no migration in progress" not in c.cmd("migrate status"):
        assert time.monotonic() < deadline, c.cmd("migrate status")
        time.sleep(0.5)


def last_history(c):
    lines = re.findall(r"^\[ *\d+\.\d+\] (.*)$", c.cmd("migrate history"), re.M)
    assert lines, "migrate history is empty"
    return lines[-1]


def source_failed(c, since, timeout=90, name="m"):
    """A's one-line failure message; returns its reason."""
    m = c.wait_output(rf"^error: migrate {name}: failed: (.*); the guest keeps running here$",
                      timeout, since=since)
    return m.group(1)


def destination_failed(c, since, name="m", timeout=90):
    """B's one-line failure message; returns its reason."""
    of = f" of {name}" if name else ""
    m = c.wait_output(rf"^error: incoming migration{of} failed: (.*); nothing was kept$", timeout,
                      since=since)
    return m.group(1)


def start_guest(pair, mem=16, rate=2000):
    """memcheck on A, verified once; returns its generation, MAC and start mark."""
    a = pair.a
    t = a.mark()
    out = a.cmd(f'vm create m image=memcheck mem={mem} args="rate={rate} verify=1"')
    assert f"vm m: created ({mem} MiB, memcheck)" in out, out
    gen, errors = a.memcheck_verified("m", t, 120)
    assert errors == 0, a.log.text[t:]
    return types.SimpleNamespace(gen=gen, mac=vms(a)["m"]["mac"], since=t)


def start_migration(pair, opts=""):
    ta, tb = pair.a.mark(), pair.b.mark()
    out = pair.a.cmd(f"migrate m {IP_B} {opts}".strip())
    assert f"migrate m -> {IP_B}:7000: started" in out, out
    return ta, tb


def wait_mid_transfer(pair):
    """Until B holds the guest as `incoming` and A is copying round 0."""
    deadline = time.monotonic() + 30
    while True:
        st = pair.a.cmd("migrate status")
        m = re.search(r"phase transfer, round 0, (\d+)% of memory sent", st)
        held = vms(pair.b).get("m")
        if m and held:
            assert int(m.group(1)) < 100, st
            ours = vms(pair.a)["m"]
            assert (held["state"], held["mac"], held["migrating"]) == ("incoming", ours["mac"],
                                                                      True)
            assert ours["state"] == "running" and ours["migrating"]
            return
        assert time.monotonic() < deadline, st
        time.sleep(0.3)


def assert_guest_stayed_on_a(pair, guest, since):
    """A runs the guest, verifying clean and moving on; it is no longer migrating."""
    a = pair.a
    wait_idle(a)
    ours = vms(a)["m"]
    assert (ours["state"], ours["mac"], ours["migrating"]) == ("running", guest.mac, False)
    assert ours["dirty"] == "off"  # the migration's dirty logging was stopped
    gen, errors = a.memcheck_verified("m", since, 120)
    assert errors == 0, a.log.text[since:]
    assert gen > guest.gen
    assert "MISMATCH" not in a.log.text[guest.since:]


def assert_b_holds_nothing(pair, free_before, keep=()):
    """B answers, holds no guest but `keep`, has its memory back, is idle."""
    b = pair.b
    wait_idle(b)
    assert sorted(vms(b)) == sorted(keep)
    assert b.mem_free_kib() == free_before
    assert "incoming: listening on TCP port 7000" in b.cmd("migrate status")


def peer_dir():
    """Where migpeer.py's saved configs and streams go."""
    d = os.path.join(LOGDIR, "peer")
    os.makedirs(d, exist_ok=True)
    return d


def peer(pair, *args, timeout=60):
    """migpeer.py in the client namespace; its JSON answer. It speaks TLS keyed
    by KEY (the stream's own --key may differ, or be missing)."""
    cp = pair.lab.client(["/usr/bin/python3", PEER, *args, "--tls-key", KEY], timeout=timeout)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout.strip().splitlines()[-1])


# ---- the operator gives up -----------------------------------------------------------

def test_cancel_during_transfer_keeps_the_guest_on_a_and_b_discards_it(pair):
    a, b = pair.a, pair.b
    guest = start_guest(pair)
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair, SLOW)
    wait_mid_transfer(pair)
    assert "migrate m: cancelling" in a.cmd("migrate cancel m")
    why_a = source_failed(a, ta)
    why_b = destination_failed(b, tb)
    assert why_a == "cancelled: by the operator", why_a
    assert why_b == "source gave up: cancelled: by the operator", why_b
    assert re.search(r"^result: +failed: cancelled: by the operator; guest running on this host$",
                     a.log.text[ta:], re.M)
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b)
    assert last_history(a) == f"out m -> {IP_B}:7000: failed (cancelled: by the operator)"
    assert last_history(b) == "in  m: failed (source gave up: cancelled: by the operator)"


def test_cancel_on_the_destination_fails_the_source_which_keeps_the_guest(pair):
    a, b = pair.a, pair.b
    guest = start_guest(pair)
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair, SLOW)
    wait_mid_transfer(pair)
    assert "incoming m: cancelling" in b.cmd("migrate cancel m")
    why_b = destination_failed(b, tb)
    why_a = source_failed(a, ta)
    assert why_b == "cancelled: by the operator on the destination", why_b
    assert why_a == "destination failed: cancelled: by the operator on the destination", why_a
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b)
    assert last_history(a).startswith(f"out m -> {IP_B}:7000: failed (destination failed: cancel")
    assert last_history(b) == "in  m: failed (cancelled: by the operator on the destination)"


# ---- pre-check refusals ----------------------------------------------------------------

def test_different_keys_fail_authentication_on_both_hosts(pair):
    """Over TLS the keys meet in the handshake (ECDHE-PSK): both hosts say so,
    and B never gets as far as a migration (docs/migration.md, "Security")."""
    a, b = pair.a, pair.b
    guest = start_guest(pair)
    free_b = b.mem_free_kib()
    b.cmd("migrate key not-the-same-secret")
    ta, tb = start_migration(pair)
    why_a = source_failed(a, ta)
    assert why_a.startswith("connection lost"), why_a
    said = "TLS handshake failed: the peer does not have our migration key"
    a.wait_output(rf"^error: migrate: connection with {re.escape(IP_B)}: {said}$", 30, since=ta)
    b.wait_output(rf"^error: migrate: connection with {re.escape(IP_A)}: {said}$", 30, since=tb)
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b)
    assert last_history(a) == f"out m -> {IP_B}:7000: failed ({why_a})"


def test_destination_refuses_a_source_whose_proof_is_wrong(pair):
    """The other direction of the challenge: B checks the source's proof
    (a scripted source that got B's HELLO and AUTH right but not its own)."""
    b = pair.b
    free_b = b.mem_free_kib()
    tb = b.mark()
    got = peer(pair, "source", IP_B, "7000", "bad-proof", "--key", KEY)
    assert [x["type"] for x in got["answers"]] == ["HELLO", "AUTH", "REFUSE"], got
    assert got["answers"][-1]["code"] == "AUTH", got
    why_b = destination_failed(b, tb, name=None)
    assert why_b == "authentication failed: the source does not know our key", why_b
    assert_b_holds_nothing(pair, free_b)
    assert last_history(b) == f"in  ?: failed ({why_b})"


def test_destination_out_of_memory_refuses_and_keeps_its_own_guests(pair):
    a, b = pair.a, pair.b
    out = b.cmd("vm create filler image=memcheck mem=400 --paused")
    assert "vm filler: created (400 MiB, memcheck), paused" in out, out
    guest = start_guest(pair, mem=128, rate=5000)
    free_b = b.mem_free_kib()
    assert free_b < 128 << 10
    ta, tb = start_migration(pair)
    why_a = source_failed(a, ta)
    why_b = destination_failed(b, tb)
    assert why_a == "destination refused: not enough memory for 128 MiB", why_a
    assert why_b == "not enough memory for 128 MiB", why_b
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b, keep=["filler"])
    assert vms(b)["filler"]["state"] == "paused"
    assert last_history(a) == (f"out m -> {IP_B}:7000: failed (destination refused: "
                               "not enough memory for 128 MiB)")
    assert last_history(b) == "in  m: failed (not enough memory for 128 MiB)"


def test_name_in_use_on_the_destination_is_refused(pair):
    a, b = pair.a, pair.b
    guest = start_guest(pair)
    assert "vm m: created" in b.cmd("vm create m image=memcheck mem=8 --paused")
    theirs = vms(b)["m"]
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair)
    why_a = source_failed(a, ta)
    why_b = destination_failed(b, tb)
    assert why_a.startswith("destination refused: a guest with name m "), why_a
    assert why_b.startswith("a guest with name m "), why_b
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b, keep=["m"])
    assert vms(b)["m"] == theirs  # B's own m untouched
    assert last_history(a).startswith(f"out m -> {IP_B}:7000: failed (destination refused: ")
    assert last_history(b).startswith("in  m: failed (a guest with name m ")


def test_mac_in_use_on_the_destination_is_refused(pair):
    a, b = pair.a, pair.b
    guest = start_guest(pair)
    out = b.cmd(f"vm create x image=memcheck mem=8 mac={guest.mac} --paused")
    assert "vm x: created" in out, out
    assert vms(b)["x"]["mac"] == guest.mac
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair)
    why_a = source_failed(a, ta)
    why_b = destination_failed(b, tb)
    assert why_a.startswith("destination refused: ") and guest.mac in why_a, why_a
    assert guest.mac in why_b, why_b
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b, keep=["x"])
    assert vms(b)["x"]["state"] == "paused"
    assert last_history(b).startswith("in  m: failed (a guest with name m or MAC ")


def test_destination_refuses_a_guest_whose_cpuid_baseline_it_cannot_offer(pair, recording):
    """A real guest config (recorded from A) with one byte of its CPUID
    baseline changed."""
    b = pair.b
    free_b = b.mem_free_kib()
    tb = b.mark()
    got = peer(pair, "source", IP_B, "7000", "bad-cpuid", "--key", KEY,
               "--config", recording.config)
    why = ("CPUID baseline 1 is not available on this host: its CPU is its source's (cpu=host)"
           " and differs from this host's: cpu=pool moves between unlike hosts")
    assert got["answers"][-1] == {"type": "REFUSE", "code": "CPUID", "text": why}, got
    assert destination_failed(b, tb, name="ghost") == why
    assert_b_holds_nothing(pair, free_b)
    assert last_history(b) == f"in  ghost: failed ({why})"


# ---- the destination or the wire goes away -----------------------------------------------

def test_destination_emulator_killed_mid_transfer_source_gives_up_and_keeps_the_guest(pair):
    a = pair.a
    guest = start_guest(pair)
    ta, _ = start_migration(pair, SLOW)
    wait_mid_transfer(pair)
    pair.kill_b()
    why_a = source_failed(a, ta)
    assert re.fullmatch(r"timeout: the destination was silent for \d+ ms|connection lost: .*",
                        why_a), why_a
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert last_history(a) == f"out m -> {IP_B}:7000: failed ({why_a})"
    # B comes back empty, reachable, and with no key until one is set.
    pair.restart_b()
    assert vms(pair.b) == {}
    assert "key not set" in pair.b.cmd("migrate status")


def test_destination_without_a_key_refuses_and_says_so(pair, keyless_b):
    a, b = pair.a, pair.b
    assert "migration key set" in a.cmd(f"migrate key {KEY}")
    guest = start_guest(pair)
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair)
    why_a = source_failed(a, ta)
    # No key, no TLS: B refuses the handshake and says why; A sees it cut.
    b.wait_output(rf"^error: migrate: refused a TLS connection from {re.escape(IP_A)}: "
                  r"no migration key set here \(see 'migrate key'\)$", 30, since=tb)
    assert why_a.startswith("connection lost"), why_a
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert_b_holds_nothing(pair, free_b)


@pytest.fixture
def keyless_b(pair):
    """B as booted: no `migrate key` yet (reboots B unless it is fresh)."""
    if pair.b_keyed:
        pair.restart_b()
    assert "key not set" in pair.b.cmd("migrate status")
    return pair.b


def test_connection_cut_mid_transfer_both_give_up_and_b_discards_the_guest(pair):
    a, b, lab = pair.a, pair.b, pair.lab
    guest = start_guest(pair)
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair, SLOW)
    wait_mid_transfer(pair)
    lab.port(pair.taps["b"], up=False)
    try:
        why_a = source_failed(a, ta)
        why_b = destination_failed(b, tb)
        assert re.fullmatch(r"timeout: the destination was silent for \d+ ms", why_a), why_a
        assert re.fullmatch(r"timeout: the source was silent for \d+ ms", why_b), why_b
        # While cut off: A still runs the guest, B already gave it up.
        assert_guest_stayed_on_a(pair, guest, a.mark())
        assert "m" not in vms(b)
    finally:
        lab.port(pair.taps["b"], up=True)
    assert tern_ping(a, IP_B) > 0
    assert_b_holds_nothing(pair, free_b)
    assert last_history(a) == f"out m -> {IP_B}:7000: failed ({why_a})"
    assert last_history(b) == f"in  m: failed ({why_b})"


def migrate_to_scripted_destination(pair, mode):
    """A migrates m to migpeer.py's destination in `mode`; A's reason for
    failing and what the peer saw (its JSON)."""
    a = pair.a
    proc = pair.lab.client_popen(["/usr/bin/python3", PEER, "dest", str(PEER_PORT), "--key", KEY,
                                  "--save", os.path.join(peer_dir(), f"{mode}.bin"),
                                  "--mode", mode],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"listening": PEER_PORT}
        ta = a.mark()
        assert "started" in a.cmd(f"migrate m {CLIENT} --port {PEER_PORT}")
        why_a = source_failed(a, ta)
        got = json.loads(proc.communicate(timeout=30)[0].strip().splitlines()[-1])
    finally:
        if proc.poll() is None:
            proc.kill()
    return why_a, got


def test_source_refuses_a_version_1_destination_and_keeps_the_guest(pair):
    """A destination that speaks stream version 1 (a Tern from before the
    LAPIC, I/O APIC and CMOS clock moved) answers the version 2 header with
    its own header and REFUSE VERSION: A says so and keeps the guest."""
    guest = start_guest(pair)
    why_a, got = migrate_to_scripted_destination(pair, "v1")
    assert got["source_version"] == 2, got
    assert "unsupported stream version 1 (this host speaks 2)" in why_a, why_a
    assert_guest_stayed_on_a(pair, guest, pair.a.mark())


def test_source_keeps_the_guest_when_the_destination_answers_garbage(pair):
    """A scripted destination accepts, lets round 0 start, then sends
    nonsense: A gives up, tells it why and keeps running the guest."""
    a = pair.a
    guest = start_guest(pair)
    why_a, got = migrate_to_scripted_destination(pair, "garbage")
    assert why_a == "bad answer from the destination: unknown mandatory record", why_a
    # and A told the destination why before closing
    assert got["answers"] == [{"type": "ERROR", "code": "UNSUPPORTED", "text": why_a}], got
    assert_guest_stayed_on_a(pair, guest, a.mark())
    assert last_history(a) == f"out m -> {CLIENT}:{PEER_PORT}: failed ({why_a})"



# ---- streams no Tern would send --------------------------------------------------------

BAD_STREAMS = [
    # case, B's reason, code of B's REFUSE (None: B just drops the connection)
    ("bad-magic", "bad stream at byte 16: not a Tern migration stream (bad magic)", "PROTOCOL"),
    ("bad-version", "bad stream at byte 16: unsupported stream version 99 (this host speaks 2)",
     "VERSION"),
    # A Tern from before the LAPIC, I/O APIC and CMOS clock moved.
    ("v1-source", "bad stream at byte 16: unsupported stream version 1 (this host speaks 2)",
     "VERSION"),
    ("truncated-header", "connection lost: connection closed in the middle of a record", None),
    ("absurd-length", "bad stream at byte 24: record longer than its type allows (HELLO 0x1)",
     "LIMIT"),
    ("unknown-record", "bad stream at byte 24: unknown mandatory record (unknown record 0x77)",
     "UNSUPPORTED"),
    ("garbage", "bad stream at byte 24: unknown mandatory record (unknown record 0x2265b1f5)",
     "UNSUPPORTED"),
    ("bad-padding", "bad stream at byte 32: non-zero record padding "
     "(unknown optional record 0x80000077)", "PROTOCOL"),
]


@pytest.mark.parametrize("case,why,code", BAD_STREAMS, ids=[c[0] for c in BAD_STREAMS])
def test_destination_refuses_a_malformed_stream_with_one_line_and_stays_up(pair, case, why, code):
    b = pair.b
    free_b = b.mem_free_kib()
    tb = b.mark()
    got = peer(pair, "source", IP_B, "7000", case)
    if code:
        assert got["answers"] == [{"type": "REFUSE", "code": code, "text": why}], got
    else:
        assert got["answers"] == [], got
    assert destination_failed(b, tb, name=None) == why
    # Said once (beside the log's own echo, `error: migrate: incoming ...`).
    assert b.log.text[tb:].count(f"error: incoming migration failed: {why}") == 1
    assert_b_holds_nothing(pair, free_b)
    assert last_history(b) == f"in  ?: failed ({why})"


def migrate_to_recording_peer(pair, save, insecure=False):
    """A migrates an 8 MiB guest to migpeer.py acting as the destination,
    which records the stream up to END and then answers ERROR. Returns
    (guest, A's console mark before the migration, the peer's JSON, proc
    output already read)."""
    a, lab = pair.a, pair.lab
    t = a.mark()
    a.cmd('vm create m image=memcheck mem=8 args="rate=2000 verify=1"')
    gen, _ = a.memcheck_verified("m", t, 120)
    guest = types.SimpleNamespace(gen=gen, mac=vms(a)["m"]["mac"], since=t)
    extra = ["--insecure"] if insecure else []
    proc = lab.client_popen(["/usr/bin/python3", PEER, "dest", str(PEER_PORT), "--key", KEY,
                             "--save", save, "--mode", "record", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"listening": PEER_PORT}
        ta = a.mark()
        out = a.cmd(f"migrate m {CLIENT} --port {PEER_PORT}" + (" --insecure" if insecure else ""))
        assert "started" in out, out
        wait_idle(a, timeout=120)
        got = json.loads(proc.stdout.readline())
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return guest, ta, got


@pytest.fixture(scope="module")
def recording(pair):
    """A real Tern source's stream, recorded over TLS by migpeer.py up to END;
    the peer then answers ERROR. Over TLS only the destination can have
    written that ERROR, so A resumes the guest at once. Saved under
    build/test-logs/.../peer/."""
    a = pair.a
    for c in (pair.a, pair.b):
        assert "migration key set" in c.cmd(f"migrate key {KEY}")
    pair.b_keyed = True
    save = os.path.join(peer_dir(), "guest.bin")
    guest, ta, got = migrate_to_recording_peer(pair, save)
    why = a.wait_output(r"^error: migrate m: failed: (.*); the guest keeps running here", 30,
                        since=ta).group(1)
    rec = types.SimpleNamespace(config=save, stream=save + ".stream", why=why, peer=got,
                                console=a.log.text[ta:], guest=guest,
                                state=vms(a)["m"]["state"], history=last_history(a))
    assert_guest_stayed_on_a(pair, guest, a.mark())
    a.cmd("vm destroy m")
    return rec


def test_source_resumes_the_guest_after_an_authenticated_error_after_end(pair, recording):
    """The destination reports an error after the whole stream, END included,
    reached it (as when it refuses a state blob). Over TLS that ERROR is
    provably the destination's, so it did not start the guest and A runs
    it on (checked by the fixture)."""
    r = recording
    assert r.peer["source_proof_ok"], r.peer
    assert r.peer["records"]["END"] == 1 and r.peer["records"]["VCPU_STATE"] == 1, r.peer
    assert r.why == "destination failed: test peer: not starting the guest", r.why
    assert r.state == "running"
    # The final (paused) round ran: its row, " N*  sent  zero ...". The row may
    # follow part of a command's echo on the same line (the console is shared).
    assert re.search(r"(?:^|\s)\d+\*\s+\d+\s+\d+\s", r.console, re.M), r.console
    assert r.history == (f"out m -> {CLIENT}:{PEER_PORT}: failed (destination failed: "
                         "test peer: not starting the guest)")


def test_source_keeps_the_guest_paused_after_an_unauthenticated_error_after_end(pair, recording):
    """The same on a plain connection (--insecure, allowed on A): anyone on
    the path could have written that ERROR while the destination runs the
    guest, so A keeps it paused and calls the hand-off uncertain
    (docs/migration.md); `vm resume` then runs it on A, intact."""
    a = pair.a
    assert "allowed" in a.cmd("migrate insecure on")
    try:
        guest, ta, got = migrate_to_recording_peer(
            pair, os.path.join(peer_dir(), "guest-insecure.bin"), insecure=True)
        why = a.wait_output(r"^error: migrate m: hand-off unknown \((.*)\); the guest stays "
                            r"paused here", 30, since=ta).group(1)
        assert got["records"]["END"] == 1, got
        assert why == ("destination failed after END (unauthenticated): "
                       "test peer: not starting the guest"), why
        assert vms(a)["m"]["state"] == "paused"
        assert last_history(a) == (f"out m -> {CLIENT}:{PEER_PORT}: uncertain (destination "
                                   "failed after END (unauthenticated): test peer: not starting "
                                   "the guest)")
        resumed = a.mark()
        assert "vm m: running" in a.cmd("vm resume m")
        assert_guest_stayed_on_a(pair, guest, resumed)
    finally:
        a.cmd("migrate insecure off")
        a.cmd("vm destroy m")


@pytest.mark.parametrize("case,why", [
    ("truncated-pages", r"connection lost: connection closed in the middle of a record"),
    ("garbage-pages", r"bad stream at byte \d+: unknown mandatory record "
                      r"\(unknown record 0x2265b1f5\)"),
], ids=["truncated-pages", "garbage-pages"])
def test_destination_discards_an_accepted_guest_when_the_stream_breaks(pair, recording, case,
                                                                      why):
    """A real guest config is accepted (B reserves the guest, `incoming`),
    then the page stream is cut short or turns to garbage."""
    b = pair.b
    free_b = b.mem_free_kib()
    tb = b.mark()
    flag = os.path.join(peer_dir(), f"{case}.waiting")
    proc = pair.lab.client_popen(["/usr/bin/python3", PEER, "source", IP_B, "7000", case,
                                  "--key", KEY, "--config", recording.config,
                                  "--wait-file", flag],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(flag):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
        held = vms(b)
        assert held["ghost"]["state"] == "incoming" and held["ghost"]["mem"] == 8, held
        assert b.mem_free_kib() < free_b
        os.unlink(flag)
        got = json.loads(proc.communicate(timeout=30)[0].strip().splitlines()[-1])
    finally:
        if proc.poll() is None:
            proc.kill()
        if os.path.exists(flag):
            os.unlink(flag)
    assert got["accepted"], got
    reason = destination_failed(b, tb, name="ghost")
    assert re.fullmatch(why, reason), reason
    assert_b_holds_nothing(pair, free_b)
    assert last_history(b) == f"in  ghost: failed ({reason})"


def test_faithful_replay_of_a_recorded_stream_is_accepted(pair, recording):
    """The control for the next test: migpeer.py replays a real stream well
    enough that B runs the guest (as `ghost`) and memcheck verifies it."""
    b = pair.b
    tb = b.mark()
    got = peer(pair, "source", IP_B, "7000", "replay", "--key", KEY, "--config", recording.config,
               "--stream", recording.stream)
    assert got["answers"][-1]["type"] == "HANDOFF_DONE", got
    b.wait_output(r"^incoming ghost: completed", 30, since=tb)
    gen, errors = b.memcheck_verified("ghost", tb, 120)
    assert errors == 0 and gen > recording.guest.gen
    assert vms(b)["ghost"]["state"] == "running"


def test_one_flipped_byte_of_page_data_fails_the_checksum_and_b_keeps_nothing(pair, recording):
    b = pair.b
    free_b = b.mem_free_kib()
    tb = b.mark()
    got = peer(pair, "source", IP_B, "7000", "replay-corrupt", "--key", KEY,
               "--config", recording.config, "--stream", recording.stream)
    why = "stream checksum mismatch: the data was corrupted in transit"
    assert got["answers"][-1] == {"type": "ERROR", "code": "CHECKSUM", "text": why}, got
    assert destination_failed(b, tb, name="ghost") == why
    assert "[ghost] memcheck" not in b.log.text[tb:]
    assert_b_holds_nothing(pair, free_b)
    assert last_history(b) == f"in  ghost: failed ({why})"


# ---- state blobs no CPU or device could be in -----------------------------------------------

VCPU_REFUSED = r"vCPU 0 state refused: .+ \(-\d+\)"
NET_REFUSED = r"device 3 \(virtio-net0\) state refused: .+ \(-\d+\)"
HOSTILE_BLOBS = [
    # migpeer.py's hostile-CASE, B's reason (a regular expression)
    ("efer-lma-without-pg", VCPU_REFUSED),
    ("cr0-pg-without-pe", VCPU_REFUSED),
    ("cr4-reserved-bit", VCPU_REFUSED),
    ("fs-base-noncanonical", VCPU_REFUSED),
    ("gs-base-noncanonical", VCPU_REFUSED),
    ("kgs-base-noncanonical", VCPU_REFUSED),
    ("lstar-noncanonical", VCPU_REFUSED),
    ("cs-not-present", VCPU_REFUSED),
    ("tr-not-a-tss", VCPU_REFUSED),
    ("event-bad-type", VCPU_REFUSED),
    ("vnet-queue-count", NET_REFUSED),
    ("vnet-queue-size", NET_REFUSED),
    ("vnet-ring-outside-ram", NET_REFUSED),
    ("vnet-vector-past-the-table",
     r"device 3 \(virtio-net0\) state refused: configuration vector past the MSI-X table \(-22\)"),
    ("uart-rx-overflow",
     r"device 1 \(com1\) state refused: more input waiting than the FIFO holds \(-22\)"),
    ("uart-reserved-ier", r"device 1 \(com1\) state refused: reserved IER bits set \(-22\)"),
    ("lapic-extd-without-en", r"device 4 \(lapic0\) state refused: .+ \(-22\)"),
    ("ioapic-remote-irr-on-edge",
     r"device 5 \(ioapic0\) state refused: Remote IRR on an edge-triggered entry \(-22\)"),
    ("rtc-index-past-128", r"device 6 \(rtc0\) state refused: index past the 128 bytes \(-22\)"),
]


@pytest.mark.parametrize("case,why", HOSTILE_BLOBS, ids=[c[0] for c in HOSTILE_BLOBS])
def test_destination_refuses_a_hostile_state_blob_before_end(pair, recording, case, why):
    """A faithful replay of a real stream (the control is
    test_faithful_replay_of_a_recorded_stream_is_accepted) with one vCPU or
    device blob made impossible: B refuses it before END with ERROR GUEST
    and a line naming the blob, never runs the guest, gives back all it
    reserved and goes on answering."""
    b = pair.b
    free_b = b.mem_free_kib()
    tb = b.mark()
    got = peer(pair, "source", IP_B, "7000", f"hostile-{case}", "--key", KEY,
               "--config", recording.config, "--stream", recording.stream)
    assert got.get("accepted"), got
    last = got["answers"][-1]
    assert last["type"] == "ERROR" and last["code"] == "GUEST", got
    assert re.fullmatch(why, last["text"]), last["text"]
    assert destination_failed(b, tb, name="ghost") == last["text"]
    assert "[ghost] memcheck" not in b.log.text[tb:]
    assert "incoming ghost: completed" not in b.log.text[tb:]
    assert_b_holds_nothing(pair, free_b)
    assert last_history(b) == f"in  ghost: failed ({last['text']})"


# ---- and afterwards ------------------------------------------------------------------------

def test_after_the_failures_a_migration_between_the_same_hosts_succeeds(pair):
    """Nothing a failure left behind (a name, a MAC, memory, a session, the
    listener) stands in the way of the next migration."""
    a, b = pair.a, pair.b
    guest = start_guest(pair)
    free_b = b.mem_free_kib()
    ta, tb = start_migration(pair)
    m = a.wait_output(r"^result: +(.*)$", 120, since=ta)
    assert m.group(1) == "completed, guest running on the destination", a.log.text[ta:]
    b.wait_output(r"^incoming m: completed", 30, since=tb)
    gen, errors = b.memcheck_verified("m", tb, 120)
    assert errors == 0 and gen > guest.gen
    assert "m" not in vms(a)
    b.cmd("vm destroy m")
    assert b.mem_free_kib() == free_b


def test_source_keeps_the_guest_paused_when_the_hand_off_outcome_is_unknown(pair):
    """The destination got everything, END included, then vanished without
    saying whether it started the guest. Resuming on A could run the guest
    twice with one MAC and IP, so A keeps it paused and tells the operator
    to check the destination; `vm resume` then runs it on A, intact."""
    a, lab = pair.a, pair.lab
    for c in (pair.a, pair.b):
        assert "migration key set" in c.cmd(f"migrate key {KEY}")
    pair.b_keyed = True
    save = os.path.join(peer_dir(), "vanish.bin")
    t = a.mark()
    a.cmd('vm create m image=memcheck mem=8 args="rate=2000 verify=1"')
    gen, _ = a.memcheck_verified("m", t, 120)
    proc = lab.client_popen(["/usr/bin/python3", PEER, "dest", str(PEER_PORT), "--key", KEY,
                             "--save", save, "--mode", "vanish"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"listening": PEER_PORT}
        ta = a.mark()
        assert "started" in a.cmd(f"migrate m {CLIENT} --port {PEER_PORT}")
        a.wait_output(r"^error: migrate m: hand-off unknown \(.*\); the guest stays paused here",
                      120, since=ta)
        got = json.loads(proc.stdout.readline())
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert got["records"]["END"] == 1, got
    assert vms(a)["m"]["state"] == "paused"
    assert "uncertain" in last_history(a)
    tr = a.mark()
    assert "vm m: running" in a.cmd("vm resume m")
    m = a.wait_output(r"^\[m\] memcheck: gen=(\d+) verified=\d+ errors=(\d+)", 120, since=tr)
    assert m.group(2) == "0" and int(m.group(1)) > gen
    a.cmd("vm destroy m")
