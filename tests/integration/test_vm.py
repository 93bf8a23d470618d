"""Guests under both backends: memcheck runs with its output on the Tern
console; two at once; pause, resume, destroy; memory comes back; the
guest's console can be attached."""
import re
import time

import pytest

BACKENDS = [pytest.param("qemu", id="svm-qemu"), pytest.param("bochs", id="vmx-bochs")]


def vm_row(host, name):
    rows = host.vm_list()
    assert name in rows, f"{name} not in vm list: {rows}"
    return rows[name]


@pytest.mark.parametrize("kind", BACKENDS)
def test_two_guests_run_pause_resume_and_destroy(tern, kind):
    host = tern.boot(kind)
    free0 = host.mem_free_kib()
    t0 = host.mark()
    out = host.cmd('vm create a image=memcheck mem=16 args="verify=1 rate=2000"')
    assert "vm a: created (16 MiB, memcheck)" in out, out
    host.wait_output(r"^\[a\] memcheck: start mem=16 mode=run", 120, since=t0)
    host.wait_output(r"^\[a\] memcheck: gen=\d+ verified=\d+ errors=0", 240, since=t0)

    t1 = host.mark()
    host.cmd("vm create b image=memcheck mem=8 args=\"verify=1 rate=2000\"")
    host.wait_output(r"^\[b\] memcheck: gen=\d+ verified=\d+ errors=0", 240, since=t1)
    assert vm_row(host, "a")["state"] == "running"
    assert vm_row(host, "b")["state"] == "running"
    assert host.mem_free_kib() <= free0 - 24 * 1024

    # A paused guest does not run: its exit count stands still while b goes on.
    assert "vm a: paused" in host.cmd("vm pause a")
    e1 = vm_row(host, "a")
    t2 = host.mark()
    host.wait_output(r"^\[b\] memcheck: gen=\d+ verified=\d+ errors=0", 240, since=t2)
    e2 = vm_row(host, "a")
    assert e1["state"] == e2["state"] == "paused"
    assert e1["exits"] == e2["exits"]
    assert not re.search(r"^\[a\] ", host.log.text[t2:], re.M), "paused guest printed"

    assert "vm a: running" in host.cmd("vm resume a")
    t3 = host.mark()
    host.wait_output(r"^\[a\] memcheck: gen=\d+ verified=\d+ errors=0", 240, since=t3)
    assert vm_row(host, "a")["exits"] > e2["exits"]

    assert "vm a: destroyed" in host.cmd("vm destroy a")
    assert "vm b: destroyed" in host.cmd("vm destroy b")
    assert not {"a", "b"} & set(host.vm_list())
    assert host.mem_free_kib() == free0


@pytest.mark.parametrize("kind", BACKENDS)
def test_vm_console_attaches_and_detaches(tern, kind):
    host = tern.boot(kind)
    t0 = host.mark()
    host.cmd('vm create k image=memcheck mem=8 args="mode=list pages=0x200 repeat=2 delay=key"')
    host.wait_output(r"\[k\] memcheck: waiting for a key before pass 2", 120, since=t0)
    host.send("vm console k\r")
    host.wait_output(r"attached to k; Ctrl-\] returns to tern>", 30, since=t0)
    t1 = host.mark()
    host.send("x")  # goes to the guest's UART, not to Tern's line editor
    host.wait_output(r"memcheck: wrote 1 pages: 0x200", 60, since=t1)
    host.send("\x1d")
    host.wait_output(r"\[detached\]", 30, since=t1)
    host.wait_prompt(30)
    assert host.version().startswith("Tern ")
    assert vm_row(host, "k")["state"] == "halted"  # memcheck halts when done


def test_vm_errors_are_clear(qemu_host):
    h = qemu_host
    assert "error: vm: no VM named 'nope'" in h.cmd("vm pause nope")
    assert "error: vm create x: no such image" in h.cmd("vm create x image=nothere mem=8")
    assert "error: vm create x: mem must be an even number" in h.cmd("vm create x image=memcheck mem=7")
    assert "error: vm create x: out of memory" in h.cmd("vm create x image=memcheck mem=60000")
    assert "error: vm create bad/name: names are" in h.cmd("vm create bad/name image=memcheck mem=8")
    assert "error: vm: bad arguments" in h.cmd("vm create x mem=8")
    assert "vm d: created (8 MiB, memcheck), paused" in h.cmd("vm create d image=memcheck mem=8 --paused")
    assert vm_row(h, "d")["state"] == "paused"
    assert "error: vm create d: a VM with that name exists" in h.cmd("vm create d image=memcheck mem=8")
    assert "vm d: running" in h.cmd("vm resume d")
    assert "error: vm resume: d is running, not paused" in h.cmd("vm resume d")
    assert "error: vm dirty: logging is off for d" in h.cmd("vm dirty d harvest")
    assert "vm d: destroyed" in h.cmd("vm destroy d")


def cpu_load(host, seconds):
    """`cpu load SECONDS` as (busy %, window s, busy % since boot)."""
    out = host.cmd(f"cpu load {seconds}").strip()
    m = re.fullmatch(r"cpu: busy (\d+\.\d) % over the last (\d+\.\d) s \(since boot (\d+\.\d) %\)", out)
    assert m, out
    return tuple(float(x) for x in m.groups())


def cpu_loop(host):
    """`cpu loop` as (window s, longest pass ms, {poll: (calls, busy %, longest ms)})."""
    out = host.cmd("cpu loop").strip().splitlines()
    m = re.fullmatch(r"loop: (\d+\.\d{3}) s since the last 'cpu loop'; longest pass (\d+\.\d{3}) ms",
                     out[0])
    assert m, out
    assert out[1].split() == ["poll", "calls", "busy", "%", "mean", "us", "longest", "ms"], out
    polls = {}
    for line in out[2:]:
        f = line.split()
        assert len(f) == 5, out
        polls[f[0]] = (int(f[1]), float(f[2]), float(f[4]))
    return float(m.group(1)), float(m.group(2)), polls


def test_cpu_load_is_higher_with_a_busy_guest_than_idle(qemu_host):
    """Tern's own busy/idle accounting (kernel/loop.c): a Tern with no guest
    halts most of the time; a memcheck that never stops writing keeps it busy.
    `cpu loop` says which poll the time went to."""
    h = qemu_host
    assert h.vm_list() == {}, "the idle figure needs a host without guests"
    cpu_loop(h)  # starts a window
    time.sleep(7)  # a whole 5-6 s window without a guest or a command
    idle, window, since_boot = cpu_load(h, 5)
    assert 5.0 <= window <= 6.5 and 0 <= idle <= 100 and 0 <= since_boot <= 100, (idle, window)
    window, _, quiet = cpu_loop(h)
    assert 7.0 <= window <= 30, window
    assert set(quiet) == {"console", "time", "net", "vm", "migrate"}, quiet
    assert all(calls > 0 for calls, _, _ in quiet.values()), quiet

    t = h.mark()
    assert "created" in h.cmd('vm create busy image=memcheck mem=8 args="rate=max verify=0"')
    # Its start lines come after the command's answer: let them pass
    # before the next command, whose answer is parsed line by line.
    h.wait_output(r"^\[busy\] memcheck: initialised \d+ pages", 120, since=t)
    time.sleep(0.5)
    cpu_loop(h)
    time.sleep(7)
    busy, window, _ = cpu_load(h, 5)
    _, longest_pass, loaded = cpu_loop(h)
    # The guest's slices are where a busy host's time goes; a pass holds
    # one slice (0.5 ms and the exit that ends it past that).
    assert loaded["vm"][1] > max(quiet["vm"][1], loaded["net"][1], loaded["migrate"][1]), \
        (quiet, loaded)
    assert loaded["vm"][2] <= longest_pass, loaded
    assert "vm busy: destroyed" in h.cmd("vm destroy busy")
    assert 5.0 <= window <= 6.5 and idle < busy <= 100, (idle, busy)

    # Windows outside 1-60 s and stray words are refused, one line each.
    for bad in ("0", "61", "ten"):
        out = h.cmd(f"cpu load {bad}").strip()
        assert out == f"error: cpu load: '{bad}' is not a window of 1 to 60 seconds", out
    assert "error: cpu: bad arguments" in h.cmd("cpu load 5 5")
    assert h.cmd("cpu load").startswith("cpu: busy ")
