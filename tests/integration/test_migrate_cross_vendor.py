"""Guests move between a VMX host and an SVM host, and between two VMX hosts
with PML: a Bochs Tern A (Intel VMX, EPT, PML) and a QEMU Tern B (AMD SVM,
NPT) on one lab bridge; for the last test B boots again as a Bochs Tern.

A guest created with `cpu=pool` sees one CPUID on every host (the pool
CPU, docs/guest-cpu.md) and keeps the TSC rate it was created with: the
Bochs host's TSC runs at 25 MHz (ips=25M), the QEMU host's at about 2.1
GHz, so on QEMU the guest's RDTSC is trapped and computed at 25 MHz.

- memcheck moves Bochs -> QEMU -> Bochs and verifies every page after each
  move, its generation counter going on; each host gives its memory back.
- A guest created with the host's own CPU (cpu=host, the default) is
  refused by the other vendor's host with the reason, and runs on.
- A running Debian Linux guest moves Bochs -> QEMU -> Bochs -> Bochs (the
  last hop VMX to VMX, its dirty pages logged with PML): after each move it
  runs on the destination with memverify clean and counting (8 MiB
  rewritten and checked while the copy ran), the lab client's TCP stream
  into tcpseq flowing with no gap or reset, its LAPIC timer, UART and
  virtio interrupts going on; the source has all its memory back. Its
  clock and the client's pings are test_linux_migrate.py's (QEMU): a
  Bochs host's time is emulated time (`clock: sync=none`), which runs at
  its own pace next to the lab's wall clock, so neither a guest clock
  compared with the lab's nor a ping bound from a downtime in Bochs'
  milliseconds would measure what they do there.

What keeps the Linux test to a few minutes of Bochs (figures from runs next
to a QEMU pair on a 2-core machine):

- Each Bochs runs at 25 M instructions per emulated second (`ips`, 100 M
  elsewhere). Bochs' TAP backend hands its e1000 one frame per emulated
  millisecond, so a migration stream moves a fixed number of frames per
  emulated second, and at 100 M an emulated second is four times the
  work: a move took 150-200 s there, 30-60 s at 25 M. (At 10 M the
  guest's timer interrupts took over: it booted slower and memverify
  barely ran.) Linux boots in the same number of instructions.
- The guest has 128 MiB and boots with `init_on_free=1`: Linux zeroes
  what it frees (the compressed kernel and the initrd after boot among
  it), and round 0 skips zero pages: it sends 61 MiB instead of 79.
- memverify runs in a cgroup capped at 20 % of the guest's CPU: flat out
  it took two thirds of the one CPU Tern shares with the copy. Capped, it
  still rewrites its 8 MiB within every round, and the guest sits in HLT
  the rest of the time, so the final pause usually finds it there (which
  kernel/vm_migrate.c once got wrong: the guest arrived halted for good).
- `--auto-converge off --max-rounds 2`: memverify rewrites its pages in
  every round whatever the throttle; auto-converge took 15 rounds, each
  costing about what the stop-and-copy costs. Two live rounds (round 0,
  then one whose pages PML logged after the first harvest reset its log)
  and the stop-and-copy of the 1000-1600 pages left: 2-4.5 s of
  (emulated) downtime.
- `--delta off`: Bochs spends more emulated time encoding deltas than the
  link spends carrying the pages whole (with deltas, round 1 took 13 s and
  the stop-and-copy 6.4 s; without, 4 s and 2-4.5 s).
- `--insecure`: TLS carried about 8 Mbit/s under Bochs (its `stream cost:`
  line put 90 % of the time in encryption); TLS is tested on QEMU, the
  subject here is the CPU.
- One Linux boot serves all three hops, and the second Bochs host boots
  only for the last one, in B's place: three emulators at once would share
  two cores.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_migrate_cross_vendor.py
"""
import os
import re
import time

import pytest

from conftest import LOG_ROOT
from hostpair import HostPair
import netlab as netlab_mod
from test_linux_migrate import (GUEST_IP, GUEST_MAC, client_saw_it_through, guest_progress, sh,
                                start_memverify, start_tcpseq)
from test_linux_migrate import migrate as migrate_linux

KEY = "cross-vendor-key-4242"
IP_A, IP_B = "10.99.0.1", "10.99.0.2"          # A: Bochs (VMX), B: QEMU (SVM)
MAC_A, MAC_B = "52:54:00:00:99:01", "52:54:00:00:99:02"
BOCHS_IPS = 25_000_000
BOCHS_KW = {"extra": [f"cpu: ips={BOCHS_IPS}"]}  # overrides machine.py's cpu line's ips
MEMCHECK = 'image=memcheck mem=8 args="rate=100 verify=1"'
GUEST_MIB, MEMVERIFY_MIB, MEMVERIFY_CPU_PCT = 128, 8, 20
# Numbers a second the lab client sends: enough to show a gap, few enough
# that the guest's receive interrupts do not take the CPU from the copy.
TCPSEQ_RATE = 200
LINUX_OPTS = "--insecure --auto-converge off --max-rounds 2 --delta off"

lab = netlab_mod.lab_fixture(scope="module")


@pytest.fixture(scope="module")
def pair(lab):
    p = HostPair(lab, ("bochs", "qemu"), logdir=os.path.join(LOG_ROOT, "test_migrate_cross_vendor"),
                 ips=(IP_A, IP_B), macs=(MAC_A, MAC_B), key=KEY, mem_mib=512, host_kw={"a": BOCHS_KW})
    try:
        p.start()
        for h in (p.a, p.b):  # plain TCP: TLS under Bochs carries ~8 Mbit/s (test_migrate_tls covers it)
            assert "allowed" in h.cmd("migrate insecure on")
        yield p
    finally:
        p.close()


def migrate(src, dst, dst_ip, name="m", timeout=300):
    """`migrate NAME DST --insecure` to its end: (result line, the source's text)."""
    t = src.mark()
    out = src.cmd(f"migrate {name} {dst_ip} --insecure")
    assert "started" in out, out
    m = src.wait_output(r"^result:\s+(.*)$", timeout, since=t)
    src.wait_output(r"^stopped:\s+.*$", 30, since=t)
    return m.group(1), src.log.text[t:]


def tsc_khz(host):
    """The rate Tern gives its guests (`time` lines of `log`), kHz."""
    m = re.findall(r"TSC (?:refined to )?(\d+)\.(\d{3}) MHz", host.cmd("log"))
    return int(m[-1][0]) * 1000 + int(m[-1][1])


def test_pool_guest_moves_vmx_to_svm_and_back_with_every_page(pair):
    a, b = pair.a, pair.b
    free = {IP_A: a.mem_free_kib(), IP_B: b.mem_free_kib()}
    rate_a, rate_b = tsc_khz(a), tsc_khz(b)
    assert rate_b > 20 * rate_a, (rate_a, rate_b)  # the premise: rates far apart

    t = a.mark()
    out = a.cmd(f"vm create m {MEMCHECK} cpu=pool")
    assert "pool CPU" in out, out
    gen, errors = a.memcheck_verified("m", t)
    assert errors == 0
    # The pool CPU's identity, whatever the host: AMD's vendor string on Intel's VMX.
    told = re.search(r"^\[m\] memcheck: tsc (\d+) kHz", a.log.text[t:], re.M)
    assert told and abs(int(told.group(1)) - rate_a) <= 1, a.log.text[t:]

    for src, src_ip, dst, dst_ip, trapped in ((a, IP_A, b, IP_B, True), (b, IP_B, a, IP_A, False)):
        since = dst.mark()
        result, text = migrate(src, dst, dst_ip)
        assert result.startswith("completed"), text
        dst.wait_output(r"^incoming m: completed", 60, since=since)
        assert "m" not in src.vm_list()
        assert src.mem_free_kib() == free[src_ip], f"memory left behind on {src_ip}"
        assert dst.vm_list()["m"]["state"] == "running"
        t = dst.mark()
        g, errors = dst.memcheck_verified("m", t, timeout=300)
        assert errors == 0, dst.log.text[t:]
        assert g > gen, f"generation went back on {dst_ip}: {g} after {gen}"
        gen = g
        # On QEMU the guest's TSC still runs at the Bochs host's rate (trapped);
        # back on Bochs that is the host's own rate again (offset only).
        log = dst.cmd("log")
        line = re.findall(r"m: pool CPU, TSC at (\d+)\.(\d{3}) MHz \(this host's: [\d.]+\): RDTSC trapped", log)
        assert bool(line) == trapped, log
        if trapped:
            assert abs(int(line[-1][0]) * 1000 + int(line[-1][1]) - rate_a) <= 1, line

    a.cmd("vm destroy m")
    assert a.mem_free_kib() == free[IP_A]
    assert b.mem_free_kib() == free[IP_B]


def test_host_cpu_guest_is_refused_by_the_other_vendor_and_keeps_running(pair):
    a, b = pair.a, pair.b
    free_b = b.mem_free_kib()
    t = a.mark()
    a.cmd(f"vm create h {MEMCHECK}")  # cpu=host, the default
    gen, errors = a.memcheck_verified("h", t)
    assert errors == 0
    result, text = migrate(a, b, IP_B, name="h")
    assert result.startswith("failed"), text
    want = "its CPU is its source's (GenuineIntel, cpu=host), this host's is AuthenticAMD"
    assert want in text, text
    assert "cpu=pool moves between unlike hosts" in text, text
    assert want in b.cmd("log")
    assert a.vm_list()["h"]["state"] == "running"
    assert "h" not in b.vm_list()
    assert b.mem_free_kib() == free_b
    t = a.mark()
    g, errors = a.memcheck_verified("h", t)
    assert errors == 0 and g > gen
    a.cmd("vm destroy h")


def start_linux_bochs(pair, client_log):
    """A pool-CPU Linux lx on Bochs A with GUEST_MIB, booted with Bochs'
    timeout (test_linux_vmx.py), memverify capped by a cgroup, tcpseq, and
    the lab client streaming at TCPSEQ_RATE. Leaves the guest's console
    attached; returns the client's Popen."""
    a, lab = pair.a, pair.lab
    up = a.linux_create("lx", f'kernel=linux initrd=linux-initrd mem={GUEST_MIB} mac={GUEST_MAC} '
                              f'cpu=pool args="quiet ip={GUEST_IP}/24 init_on_free=1"', 900)
    assert up["ip"] == f"{GUEST_IP}/24", up
    assert "pool CPU" in up["created"], up
    time.sleep(2)
    a.guest_attach("lx")
    assert sh(a, "dmesg -n 1")[0] == 0
    # The pool CPU's identity on Intel's VMX: AMD's vendor string, qemu64's model.
    rc, out = sh(a, "grep -m2 -E '^(vendor_id|model name)' /proc/cpuinfo")
    assert rc == 0 and "AuthenticAMD" in out and "Tern pool CPU" in out, out
    start_memverify(a, MEMVERIFY_MIB, MEMVERIFY_CPU_PCT)
    return start_tcpseq(a, lab, client_log, TCPSEQ_RATE)


def test_linux_pool_guest_moves_vmx_svm_vmx_then_vmx_vmx_with_pml(pair):
    a = pair.a
    free = {IP_A: a.mem_free_kib(), IP_B: pair.b.mem_free_kib()}
    client_log = os.path.join(pair.logdir, "tcpseq-client.txt")
    t0 = time.monotonic()
    client = start_linux_bochs(pair, client_log)
    boot_s = time.monotonic() - t0
    hops = []
    try:
        time.sleep(2)
        seen = guest_progress(a)
        a.guest_detach()
        for step in ("a->b", "b->a", "a->bochs b"):
            if step == "a->bochs b":  # B again, as a second Bochs (VMX) host
                b = pair.restart("b", kind="bochs", **BOCHS_KW)
                pair.set_key(KEY, names=("b",))
                assert "allowed" in b.cmd("migrate insecure on")
                free[IP_B] = b.mem_free_kib()
            src, src_ip, dst, dst_ip = ((pair.b, IP_B, a, IP_A) if step == "b->a"
                                        else (a, IP_A, pair.b, IP_B))
            dirty_log = src.cmd("log").count("lx: dirty logging with")
            t = time.monotonic()
            hop = migrate_linux(src, dst_ip, LINUX_OPTS, timeout=600)
            hop["wall_s"], hop["step"] = time.monotonic() - t, step
            hops.append(hop)
            assert "lx" not in src.vm_list()
            assert src.mem_free_kib() == free[src_ip], f"memory left behind on {src_ip}"
            # Running, not `halted`: a vCPU paused in HLT waits for its next
            # interrupt on the destination too.
            assert dst.vm_list()["lx"]["state"] == "running"
            log = src.cmd("log")
            assert log.count("lx: dirty logging with") == dirty_log + 1
            if src is a:  # VMX logs with PML; QEMU's SVM with the NPT's A/D bits
                assert log.count("lx: dirty logging with PML (VMX)") >= 1, log
            trapped = "lx: pool CPU, TSC at" in dst.cmd("log")
            assert trapped == (dst_ip == IP_B and step == "a->b"), step
            time.sleep(2)
            dst.guest_attach("lx")
            seen = guest_progress(dst, seen)
            dst.guest_detach()
    finally:
        for h in (a, pair.b):
            if h.alive():
                h.cmd("migrate insecure off")
        client_saw_it_through(client, client_log)
    print(f"guest up in {boot_s:.0f} s; hops (step, wall s, downtime ms):",
          [(h["step"], round(h["wall_s"]), h["downtime_ms"]) for h in hops],
          "longest tcpseq stall ms:", seen["stall_ms"])
    assert "vm lx: destroyed" in pair.b.cmd("vm destroy lx")
    assert a.mem_free_kib() == free[IP_A] and pair.b.mem_free_kib() == free[IP_B]
