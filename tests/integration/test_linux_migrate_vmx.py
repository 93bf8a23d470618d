"""A running Debian Linux guest migrates live between two Bochs (VMX) Terns
that log its dirty pages with PML, A to B and back: after each move it runs
on the destination with memverify clean and counting (8 MiB rewritten and
checked while the copy ran), the lab client's TCP stream into tcpseq flowing
with no gap or reset, its LAPIC timer, UART and virtio interrupts going on;
the source has all its memory back and its log says PML did the logging.
The QEMU/SVM twin is test_linux_migrate.py, whose helpers this reuses.

What keeps it to a few minutes of Bochs (figures from runs next to a
QEMU pair on a 2-core machine):

- Each Bochs runs at 25 M instructions per emulated second (`ips`, 100 M
  elsewhere). Bochs' TAP backend hands its e1000 one frame per emulated
  millisecond, so a migration stream moves a fixed number of frames per
  emulated second, and at 100 M an emulated second is four times the
  work: a move took 150-200 s there, 30-60 s at 25 M. (At 10 M the
  guest's timer interrupts took over: it booted slower and memverify
  barely ran.) Both hosts' TSCs run at 25 MHz, so pre-check's rate check
  passes; Linux boots in the same number of instructions.
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
  subject here is VMX.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_linux_migrate_vmx.py
"""
import os
import subprocess
import time

import pytest

from conftest import LOG_ROOT
from hostpair import HostPair
import netlab as netlab_mod
from test_linux_migrate import (GUEST_IP, GUEST_MAC, IP_A, IP_B, KEY, MAC_A, MAC_B, TCPSEQ,
                                client_saw_it_through, guest_progress, migrate, sh)

BOCHS_IPS = 25_000_000
GUEST_MIB, MEMVERIFY_MIB, MEMVERIFY_CPU_PCT = 128, 8, 20
# Numbers a second the lab client sends: enough to show a gap, few enough
# that the guest's receive interrupts do not take the CPU from the copy.
TCPSEQ_RATE = 200
OPTS = "--insecure --auto-converge off --max-rounds 2 --delta off"

lab = netlab_mod.lab_fixture(scope="module")


@pytest.fixture(scope="module")
def pair(lab):
    p = HostPair(lab, "bochs", logdir=os.path.join(LOG_ROOT, "test_linux_migrate_vmx"),
                 ips=(IP_A, IP_B), macs=(MAC_A, MAC_B), key=KEY, mem_mib=512,
                 extra=[f"cpu: ips={BOCHS_IPS}"])  # overrides machine.py's cpu line's ips
    try:
        p.start()
        yield p
    finally:
        p.close()


def start_linux_vmx(pair, client_log):
    """test_linux_migrate.start_linux for Bochs: lx on A with GUEST_MIB,
    booted with Bochs' timeout (test_linux_vmx.py), memverify capped by a
    cgroup, and the lab client streaming at TCPSEQ_RATE. Leaves the guest's
    console attached; returns the client's Popen."""
    a, lab = pair.a, pair.lab
    up = a.linux_create("lx", f'kernel=linux initrd=linux-initrd mem={GUEST_MIB} mac={GUEST_MAC} '
                              f'args="quiet ip={GUEST_IP}/24 init_on_free=1"', 900)
    assert up["ip"] == f"{GUEST_IP}/24", up
    time.sleep(2)
    a.guest_attach("lx")
    assert sh(a, "dmesg -n 1")[0] == 0
    cg = "/sys/fs/cgroup"
    rc, out = sh(a, f"mkdir -p {cg} && mount -t cgroup2 none {cg} && echo +cpu > {cg}/cgroup.subtree_control"
                    f" && mkdir {cg}/mv && echo '{MEMVERIFY_CPU_PCT * 1000} 100000' > {cg}/mv/cpu.max")
    assert rc == 0, out
    # The shell joins the group, starts memverify there, and leaves it.
    rc, out = sh(a, f"echo $$ > {cg}/mv/cgroup.procs && {{ memverify -m {MEMVERIFY_MIB} > /tmp/mv.log 2>&1 & }}"
                    f" && echo $$ > {cg}/cgroup.procs && cat {cg}/mv/cgroup.procs | wc -l")
    assert rc == 0 and out.split()[-1] == "1", out  # memverify alone in it
    assert sh(a, "{ tcpseq -l 7000 -s 300 -i 1000 > /tmp/seq.log 2>&1 & }")[0] == 0
    time.sleep(1)
    assert lab.wait_reachable(GUEST_IP, timeout=60)
    with open(client_log, "w") as out:
        return lab.client_popen([TCPSEQ, "-c", f"{GUEST_IP}:7000", "-r", str(TCPSEQ_RATE)],
                                stdout=out, stderr=subprocess.STDOUT)


def test_vmx_linux_guest_migrates_a_to_b_and_back_with_pml(pair):
    a, b = pair.a, pair.b
    free = {IP_A: a.mem_free_kib(), IP_B: b.mem_free_kib()}
    for h in (a, b):
        assert "allowed" in h.cmd("migrate insecure on")
    client_log = os.path.join(pair.logdir, "tcpseq-client.txt")
    t0 = time.monotonic()
    client = start_linux_vmx(pair, client_log)
    boot_s = time.monotonic() - t0
    hops = []
    try:
        time.sleep(2)
        seen = guest_progress(a)
        a.guest_detach()
        for src, src_ip, dst, dst_ip in ((a, IP_A, b, IP_B), (b, IP_B, a, IP_A)):
            pml_before = src.cmd("log").count("lx: dirty logging with PML (VMX)")
            t = time.monotonic()
            hop = migrate(src, dst_ip, OPTS, timeout=600)
            hop["wall_s"] = time.monotonic() - t
            hops.append(hop)
            assert "lx" not in src.vm_list()
            assert src.mem_free_kib() == free[src_ip], f"memory left behind on {src_ip}"
            # Running, not `halted`: a vCPU paused in HLT waits for its next
            # interrupt on the destination too.
            assert dst.vm_list()["lx"]["state"] == "running"
            assert src.cmd("log").count("lx: dirty logging with PML (VMX)") == pml_before + 1
            time.sleep(2)
            dst.guest_attach("lx")
            seen = guest_progress(dst, seen)
            dst.guest_detach()
    finally:
        for h in (a, b):
            if h.alive():
                h.cmd("migrate insecure off")
        client_saw_it_through(client, client_log)
    print(f"guest up in {boot_s:.0f} s; hops (wall s, downtime ms):",
          [(round(h["wall_s"]), h["downtime_ms"]) for h in hops],
          "longest tcpseq stall ms:", seen["stall_ms"])
    assert "vm lx: destroyed" in a.cmd("vm destroy lx")
    assert a.mem_free_kib() == free[IP_A] and b.mem_free_kib() == free[IP_B]
