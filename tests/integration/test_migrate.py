"""Live migration between two Tern hosts on the lab bridge: the guest goes on
running on the destination with every page intact (memcheck verifies all of
them after it moved), its generation counter continues, and the source gives
all its memory back. Failure paths are in test_migrate_failures.py; the
moves between a VMX (Bochs) and an SVM (QEMU) host, and between two VMX
hosts with PML, are test_migrate_cross_vendor.py's."""
import os
import re
import time

import pytest

from conftest import LOG_ROOT
from hostpair import IPS, boot_pair

IP = dict(zip("ab", IPS))


@pytest.fixture(scope="module")
def pair(request):
    from netlab import Lab
    with Lab() as lab, boot_pair(lab, "qemu", logdir=os.path.join(LOG_ROOT, "test_migrate")) as p:
        yield p


def vm_state(host, name="m"):
    return host.vm_list().get(name, {}).get("state")


def migrate(src, dst, dst_ip, opts="", timeout=300):
    """Runs `migrate m DST` and waits for its summary; returns the summary text."""
    t = src.mark()
    out = src.cmd(f"migrate m {dst_ip} {opts}".strip())
    assert "started" in out, out
    m = src.wait_output(r"^result:\s+(.*)$", timeout, since=t)
    assert m.group(1).startswith("completed"), src.log.text[t:]
    src.wait_output(r"^stopped:\s+.*$", 30, since=t)
    return src.log.text[t:]


def check_moved(src, dst, gen_before, dst_since):
    """After a migration: the guest runs on dst, verifies clean, and its
    generation continues from where it was on src; src holds nothing."""
    dst.wait_output(r"^incoming m: completed", 60, since=dst_since)
    t = dst.mark()
    assert vm_state(dst) == "running"
    assert vm_state(src) is None
    gen, errors = dst.memcheck_verified("m", t)
    assert errors == 0, dst.log.text[t:]
    assert gen > gen_before, f"generation went back: {gen} after {gen_before}"
    return gen


def test_live_migration_of_a_writing_64mib_guest_loses_no_page(pair):
    a, b = pair.a, pair.b
    free_a, free_b = a.mem_free_kib(), b.mem_free_kib()
    t = a.mark()
    a.cmd('vm create m image=memcheck mem=64 args="rate=2000 verify=1"')
    gen0, errors = a.memcheck_verified("m", t)
    assert errors == 0
    tb = b.mark()
    summary = migrate(a, b, IP["b"])
    for field in ("total time:", "downtime:", "setup time:", "on the wire:", "pages sent:",
                  "zero pages:", "rounds:", "stopped:"):
        assert field in summary, summary
    # Live: the guest ran during the copy, so there was more than one round.
    assert int(re.search(r"^rounds:\s+(\d+)", summary, re.M).group(1)) >= 2
    assert "dirty logging with A/D bits (SVM)" in a.cmd("log")
    gen = check_moved(a, b, gen0, tb)
    assert a.mem_free_kib() == free_a  # the source gave every page back
    b.cmd("vm destroy m")
    assert b.mem_free_kib() == free_b
    assert re.search(r"out m -> 10\.99\.0\.2:7000: done", a.cmd("migrate history"))
    assert re.search(r"in  m: done", b.cmd("migrate history"))
    assert gen > gen0


def round_rows(summary):
    """The per-round lines: (round, final, left dirty, throttle %)."""
    return [(int(m.group(1)), bool(m.group(2)), int(m.group(3)), int(m.group(4)))
            for m in re.finditer(r"^\s*(\d+)(\*?)(?:\s+\S+){5}\s+(\d+)\s+(\d+)\s*$", summary, re.M)]


def guest_share(host):
    """The vm poll's share of the host CPU over the next 2 s (`cpu loop`)."""
    host.cmd("cpu loop")
    time.sleep(2)
    line = re.search(r"^vm\s+\d+\s+([\d.]+)", host.cmd("cpu loop"), re.M)
    return float(line.group(1))


def test_auto_converge_throttles_a_guest_that_outwrites_the_link(pair):
    """A memcheck rewriting 16 MiB as fast as it can dirties faster than the
    emulated link carries. With --auto-converge off the stop rule gives up and
    nothing is throttled; on (the default), the throttle rises round by round
    until the rest fits the downtime target (this writer rewrites its 16 MiB
    in a few ms of CPU: it takes 97-99 %); cancelled, the guest gets its CPU
    back. Every page arrives intact."""
    a, b = pair.a, pair.b
    t = a.mark()
    a.cmd('vm create m image=memcheck mem=32 args="rate=max wss=16 verify=1"')
    gen, errors = a.memcheck_verified("m", t)
    assert errors == 0

    tb = b.mark()
    off = migrate(a, b, IP["b"], "--auto-converge off")
    assert "auto-converge off" in off and "throttled:" not in off, off
    rows = round_rows(off)
    assert rows and all(pct == 0 for _, _, _, pct in rows), off
    assert not re.search(r"^stopped:\s+remaining dirty pages fit", off, re.M), off
    gen = check_moved(a, b, gen, tb)
    full = guest_share(b)

    # Throttled, the guest gets less of the CPU; cancelled, it gets it all
    # back. (Capped at 40 Mbit/s, rounds last seconds: time to look.)
    t = b.mark()
    assert "started" in b.cmd(f"migrate m {IP['a']} --bandwidth 40")
    b.wait_output(r"^\s*\d+\s+(?:\S+\s+){6}([1-9]\d*)\s*$", 120, since=t)
    throttled = guest_share(b)
    assert throttled < full - 10, (full, throttled)
    assert "cancel" in b.cmd("migrate cancel m")
    b.wait_output(r"^result:\s+failed: cancelled", 60, since=t)
    assert vm_state(b) == "running"
    released = guest_share(b)
    assert released > full - 10, (full, released)

    ta = a.mark()
    on = migrate(b, a, IP["a"])
    rows = round_rows(on)
    throttles = [pct for _, final, _, pct in rows if not final]
    assert max(throttles) > 0 and throttles == sorted(throttles), on
    top = int(re.search(r"^throttled:\s+up to (\d+) % of the guest's CPU \(auto-converge\)$",
                        on, re.M).group(1))
    assert top == max(throttles), on
    assert re.search(r"^stopped:\s+remaining dirty pages fit the downtime target$", on, re.M), on
    check_moved(b, a, gen, ta)
    a.cmd("vm destroy m")


def test_offline_migration_pauses_first_and_copies_once(pair):
    a, b = pair.a, pair.b
    t = a.mark()
    a.cmd('vm create m image=memcheck mem=32 args="rate=2000 verify=1"')
    gen0, _ = a.memcheck_verified("m", t)
    tb = b.mark()
    summary = migrate(a, b, IP["b"], "--offline")
    assert re.search(r"^rounds:\s+1$", summary, re.M), summary
    check_moved(a, b, gen0, tb)
    b.cmd("vm destroy m")


def test_ping_pong_ten_migrations_verified_each_time_and_no_memory_leaks(pair):
    a = pair.a
    free = {h: pair.hosts[h].mem_free_kib() for h in ("a", "b")}
    t = a.mark()
    a.cmd('vm create m image=memcheck mem=32 args="rate=3000 verify=1"')
    gen, _ = a.memcheck_verified("m", t)
    where = "a"
    for i in range(10):
        there = "b" if where == "a" else "a"
        src, dst = pair.hosts[where], pair.hosts[there]
        td = dst.mark()
        migrate(src, dst, IP[there])
        gen = check_moved(src, dst, gen, td)
        where = there
    pair.hosts[where].cmd("vm destroy m")
    for h in ("a", "b"):
        assert pair.hosts[h].mem_free_kib() == free[h], f"host {h} leaked memory"
