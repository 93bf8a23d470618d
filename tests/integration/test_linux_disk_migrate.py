"""A Linux guest's disk moves with it (`migrate ... --copy-storage all`,
docs/storage.md "Moving a guest with its disk"): two QEMU Terns, each with
its own NVMe image; guest lx on A has volume d1 of 1 GiB as /dev/vda.

First the refusals and failures, each leaving the guest running on A with
its disk and B with no volume: without --copy-storage, `inc`, a name taken
on B, no room on B, a cut link in the middle of the disk (a cancel there
is test_migrate_failures' for memory, the same path), and
a read error on A's NVMe (QEMU's blkdebug) under a second guest's volume.

Then the move: while it runs, the guest writes 1 MiB chunks of random data
across the whole disk with busybox dd (conv=fsync), noting each chunk's md5
in a file in its RAM. On B the guest reads every chunk back from the disk
(caches dropped) and each matches its md5; the rounds after round 0
carried blocks the guest wrote during the copy; A's copy stays (libvirt's
rule). Its two dirty bitmaps (one persistent) arrive on B with the
granules written before the hand-off, and go on with the ones written
after. Paused, the guest goes back to A (its stale copy deleted first), and
`disk sha256 d1` is the same on both.

Last, `--copy-storage inc`: base `gold` is imported from the lab's HTTP
server and made read-only (`disk readonly`) on A; the guest, on a clone of
it, cannot move to B while B lacks the base; once B has the same base, it
moves live while it writes, with only the blocks it wrote on the wire, and
back (paused) to A, where `disk sha256` of the clone equals B's.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_linux_disk_migrate.py
"""
import hashlib
import os
import re
import time

import pytest

from conftest import LOG_ROOT
from hostpair import HostPair
import netlab as netlab_mod
from test_linux_disk import bitmap_rows, bitmap_runs
from test_linux_migrate import create_lx
from test_migrate_failures import destination_failed, source_failed, wait_idle

KEY = "disk-migrate-secret-3141"
IP_A, MAC_A = "10.99.0.1", "52:54:00:00:9b:01"
IP_B, MAC_B = "10.99.0.2", "52:54:00:00:9b:02"
GUEST_IP, GUEST_MAC = "10.99.0.72", "52:54:00:aa:03:72"
DISK_MIB = 1024
IMAGE_BYTES = 2 << 30            # room for d1 and the refusal tests' volumes
CHUNKS = 16                      # 1 MiB each, CHUNK_STRIDE_MIB apart: across the disk (and one more)
CHUNK_STRIDE_MIB = 60
# A's NVMe fails reads of one sector (QEMU's blkdebug): 4 MiB into volume
# `bad`, made after d1 (which starts at 1 MiB): nothing but a migration of
# `bad` reads there.
BAD_MIB = 16
BAD_SECTOR = (1 + DISK_MIB + 4) << 11

lab = netlab_mod.lab_fixture(scope="module")


@pytest.fixture(scope="module")
def pair(lab):
    logdir = os.path.join(LOG_ROOT, "test_linux_disk_migrate")
    os.makedirs(logdir, exist_ok=True)
    images = {}
    for n in ("a", "b"):
        images[n] = os.path.join(logdir, f"nvme-{n}.img")
        with open(images[n], "wb") as f:
            f.truncate(IMAGE_BYTES)  # sparse
    conf = os.path.join(logdir, "blkdebug.conf")
    with open(conf, "w") as f:
        f.write(f'[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "{BAD_SECTOR}"\n'
                'once = "off"\n')
    p = HostPair(lab, "qemu", logdir=logdir, ips=(IP_A, IP_B), macs=(MAC_A, MAC_B), key=KEY,
                 mem_mib=1024, host_kw={"a": {"nvme": f"blkdebug:{conf}:{images['a']}"},
                                        "b": {"nvme": images["b"]}})
    try:
        p.start()
        for h in (p.a, p.b):
            assert "new volume table" in h.cmd("disk init")
        yield p
    finally:
        p.close()
        for path in images.values():
            os.unlink(path)


def sh(h, command, timeout=60):
    return h.guest_sh(command, timeout)


def errors(out):
    return [ln for ln in out.splitlines() if ln.startswith("error: ")]


def volumes(h):
    """{name: MiB} of `disk list`."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+(\d+)\s", h.cmd("disk list"), re.M)
            if m.group(1) != "NAME"}


def disk_sha256(hosts, name):
    """`disk sha256 NAME` on each host at once (each hashes its own disk,
    ~40 MiB/s under TCG); [(hex, bytes), ...] in the hosts' order."""
    pat = rf"^disk {name}: sha256 ([0-9a-f]{{64}}) \((\d+) bytes\)"
    marks = []
    for h in hosts:  # the hash runs in the background: the prompt comes back at once
        marks.append(h.mark())
        assert f"disk {name}: hashing" in h.cmd(f"disk sha256 {name}")
    out = []
    for h, t in zip(hosts, marks):
        m = h.wait_output(pat, 300, since=t)
        out.append((m.group(1), int(m.group(2))))
    return out


@pytest.fixture(scope="module")
def guest(pair):
    """lx on A with d1 (1 GiB) as /dev/vda, its console detached."""
    a = pair.a
    out = a.cmd(f"disk create d1 size={DISK_MIB}M")
    assert "disk d1: created" in out, out
    create_lx(a, 256, "disk=d1", ip=GUEST_IP, mac=GUEST_MAC)
    a.guest_detach()
    return a


def test_a_read_error_on_the_source_disk_keeps_the_guest_there(pair, guest):
    """A second guest (memcheck) on volume `bad`, whose 5th MiB A's disk
    cannot read: its migration fails on that read, the guest runs on with
    its disk, B keeps nothing."""
    a, b = pair.a, pair.b
    out = a.cmd(f"disk create bad size={BAD_MIB}M")
    assert re.search(rf"^disk bad: created, {BAD_MIB} MiB at LBA {(1 + DISK_MIB) << 11}, ", out, re.M), out
    t = a.mark()
    assert "vm m1: created" in a.cmd('vm create m1 image=memcheck mem=8 disk=bad args="verify=1 rate=500"')
    a.wait_output(r"^\[m1\] memcheck: gen=\d+ verified=\d+ errors=0", 120, since=t)
    t, tb = a.mark(), b.mark()
    a.cmd(f"migrate m1 {IP_B} --copy-storage all")
    line = source_failed(a, t, name="m1")
    first = (4 << 20) // 4096
    assert re.search(rf"reading blocks {first}-\d+ of disk bad failed \(-5\)", line), line
    assert re.search(r"nvme0n1: read lba \d+\+\d+ failed", a.log.text[t:]), a.log.text[t:]
    destination_failed(b, tb, name="m1")
    wait_idle(a)
    assert "bad" not in volumes(b) and "m1" not in b.vm_list()
    t = a.mark()
    a.wait_output(r"^\[m1\] memcheck: gen=\d+ verified=\d+ errors=0", 120, since=t)
    assert a.vm_list()["m1"]["state"] == "running"
    assert "vm m1: destroyed" in a.cmd("vm destroy m1")
    assert "disk bad: deleted" in a.cmd("disk delete bad")


def start_writer(h, chunks=CHUNKS, stride_mib=CHUNK_STRIDE_MIB):
    """`chunks` chunks of 1 MiB of random data, one a second, each at its
    own place on /dev/vda (stride_mib apart) and fsync'ed, its md5 appended
    to /tmp/sums; "done" when all are written."""
    script = (f"i=0; while [ $i -lt {chunks} ]; do "
              "dd if=/dev/urandom of=/tmp/c bs=64k count=16 2>/dev/null; "
              f"dd if=/tmp/c of=/dev/vda bs=64k seek=$((i * {stride_mib * 16})) conv=fsync 2>/dev/null; "
              "echo \"$i $(md5sum < /tmp/c | cut -d\" \" -f1)\" >> /tmp/sums; "
              "i=$((i + 1)); sleep 1; done; echo done >> /tmp/sums")
    assert sh(h, f"rm -f /tmp/sums; {{ sh -c '{script}' > /tmp/writer.log 2>&1 & }}")[0] == 0
    time.sleep(3)
    rc, out = sh(h, "cat /tmp/writer.log; cat /tmp/sums")
    assert re.match(r"^0 [0-9a-f]{32}$", out, re.M), out  # the first chunk is written


def test_a_guest_with_a_local_disk_needs_copy_storage(pair, guest):
    a = pair.a
    out = a.cmd(f"migrate lx {IP_B}")
    assert errors(out) == ["error: migrate lx: it has a local disk (d1): add --copy-storage all "
                           "to move the disk with it"], out
    out = a.cmd(f"migrate lx {IP_B} --copy-storage inc")
    assert errors(out) and "--copy-storage inc" in errors(out)[0] and "use --copy-storage all" in out, out
    assert a.vm_list()["lx"]["state"] == "running"


def test_refusals_at_pre_check_leave_the_guest_and_its_disk_on_a(pair, guest):
    a, b = pair.a, pair.b
    # A volume named d1 exists on B.
    assert "disk d1: created" in b.cmd("disk create d1 size=16M")
    t = a.mark()
    a.cmd(f"migrate lx {IP_B} --copy-storage all")
    line = source_failed(a, t, name="lx")
    assert "disk d1: a volume of that name exists on this host" in line, line
    assert "deleted" in b.cmd("disk delete d1")
    # No room for 1 GiB on B.
    assert "disk big: created" in b.cmd("disk create big size=1500M")
    t = a.mark()
    a.cmd(f"migrate lx {IP_B} --copy-storage all")
    line = source_failed(a, t, name="lx")
    assert re.search(r"disk d1: no room for 1024 MiB on this host \(largest free: \d+ MiB\)", line), line
    assert "deleted" in b.cmd("disk delete big")
    wait_idle(a)
    assert a.vm_list()["lx"]["state"] == "running"
    assert "d1" not in volumes(b) and "lx" not in b.vm_list()


def wait_in_the_disk(a):
    """Until A's round 0 is past the guest's pages (its 65536 pages are
    the first 20 % of the copy) and into its disk."""
    deadline = time.monotonic() + 120
    while True:
        st = a.cmd("migrate status")
        m = re.search(r"phase (pre-check|transfer), round 0, (\d+)% of memory and disk sent", st)
        assert m, st
        if m.group(1) == "transfer" and int(m.group(2)) >= 21:
            assert int(m.group(2)) < 100, st
            return
        assert time.monotonic() < deadline, st
        time.sleep(0.5)


def test_a_cut_link_in_the_middle_of_the_disk_deletes_the_partial_volume_on_b(pair, guest):
    a, b = pair.a, pair.b
    # 32 MiB of data at the disk's start, so its copy takes a while at 40 Mbit/s.
    a.guest_attach("lx")
    try:
        rc, out = sh(a, "dd if=/dev/urandom of=/dev/vda bs=1M count=32 conv=fsync", timeout=180)
        assert rc == 0 and "32+0 records out" in out, out
    finally:
        a.guest_detach()
    t, tb = a.mark(), b.mark()
    a.cmd(f"migrate lx {IP_B} --copy-storage all --bandwidth 40")
    wait_in_the_disk(a)
    assert "d1" in volumes(b)
    pair.lab.port(pair.taps["b"], up=False)
    try:
        line = source_failed(a, t, name="lx")
        assert re.fullmatch(r"timeout: the destination was silent for \d+ ms", line), line
        line = destination_failed(b, tb, name="lx")
        assert re.fullmatch(r"timeout: the source was silent for \d+ ms", line), line
    finally:
        pair.lab.port(pair.taps["b"], up=True)
    log = b.cmd("log")
    assert "incoming lx: volume d1 made, 1024 MiB" in log, log
    assert "disk d1: the partly received volume is deleted" in log, log
    wait_idle(a)
    assert "d1" not in volumes(b) and "lx" not in b.vm_list()
    assert a.vm_list()["lx"]["state"] == "running"


def check_chunks(h, chunks=CHUNKS, stride_mib=CHUNK_STRIDE_MIB):
    """On h, with the guest's console attached: once the writer is done,
    every chunk reads back from the disk (caches dropped) with its md5."""
    deadline = time.monotonic() + 120
    while sh(h, "tail -n 1 /tmp/sums")[1].strip() != "done":
        assert time.monotonic() < deadline, sh(h, "cat /tmp/sums")[1]
        time.sleep(2)
    assert sh(h, "sync; echo 3 > /proc/sys/vm/drop_caches")[0] == 0
    rc, out = sh(h, "while read i sum; do [ \"$i\" = done ] && break; "
                    f"got=$(dd if=/dev/vda bs=64k skip=$((i * {stride_mib * 16})) count=16 2>/dev/null"
                    " | md5sum | cut -d' ' -f1); echo \"chunk $i $([ $got = $sum ] && echo ok || echo BAD)\"; "
                    "done < /tmp/sums", timeout=180)
    assert rc == 0, out
    found = re.findall(r"^chunk (\d+) (ok|BAD)$", out, re.M)
    assert len(found) == chunks and all(s == "ok" for _, s in found), out


def chunk_runs(n):
    """The 64 KiB-granule runs the first n chunks make: 1 MiB each, apart."""
    return [(i * CHUNK_STRIDE_MIB << 20, 1 << 20) for i in range(n)]


def test_the_disk_moves_live_with_the_guest_while_it_writes(pair, guest):
    a, b = pair.a, pair.b
    # Its dirty bitmaps go with it: a persistent one and one in memory.
    assert "added" in a.cmd("disk bitmap add d1 backup persistent=on")
    assert "added" in a.cmd("disk bitmap add d1 tmp")
    a.guest_attach("lx")
    start_writer(a)
    a.guest_detach()
    t = a.mark()
    out = a.cmd(f"migrate lx {IP_B} --copy-storage all")
    assert f"migrate lx -> {IP_B}:7000: started" in out and "disk d1 of 1024 MiB copied" in out, out
    m = a.wait_output(r"^result: +(.*)$", 600, since=t)
    a.wait_output(r"^stopped: +.*$", 30, since=t)
    text = a.log.text[t:]
    assert m.group(1) == "completed, guest running on the destination", text
    # Every block went in round 0; the guest's writes during the copy went again after it.
    rows = [r.split() for r in re.findall(r"^ *\d+\*? +\d+ +\d+ .*$", text, re.M)]
    assert rows and all(len(r) == 10 for r in rows), text
    assert int(rows[0][-2]) + int(rows[0][-1]) == DISK_MIB * 256, rows[0]
    assert sum(int(r[-2]) for r in rows[1:]) > 0, text
    m = re.search(r"^disk blocks: +(\d+) sent \([\d.]+ MiB\) \+ (\d+) zero", text, re.M)
    assert m, text
    assert "its volume d1 stays on this host" in a.cmd("log")
    assert volumes(b).get("d1") == DISK_MIB
    assert re.search(r"^disk bitmaps: 2 sent with the disk$", text, re.M), text
    # A's copy of the bitmap: the chunks written before the hand-off.
    before = bitmap_runs(a, "d1", "backup")
    assert before and before == chunk_runs(len(before)), before

    # The writer finishes on B; every chunk reads back as written.
    b.guest_attach("lx")
    try:
        check_chunks(b)
        # One more chunk, surely after the move.
        rc, out = sh(b, f"dd if=/dev/urandom of=/dev/vda bs=64k count=16 seek={CHUNKS * CHUNK_STRIDE_MIB * 16} "
                        "conv=fsync")
        assert rc == 0 and "16+0 records out" in out, out
    finally:
        b.guest_detach()
    # B's copies: the granules A's had, and those written after the move.
    rows = bitmap_rows(b, "d1")
    assert set(rows) == {"backup", "tmp"} and rows["backup"][:2] == (65536, True) \
        and rows["tmp"][:2] == (65536, False), rows
    assert bitmap_runs(b, "d1", "backup") == bitmap_runs(b, "d1", "tmp") == chunk_runs(CHUNKS + 1)
    assert bitmap_runs(a, "d1", "backup") == before

    # Back to A with the guest paused, A's stale copy deleted first: the
    # volume that arrives equals B's, byte for byte.
    assert "paused" in b.cmd("vm pause lx")
    assert "deleted" in a.cmd("disk delete d1")
    t = b.mark()
    out = b.cmd(f"migrate lx {IP_A} --copy-storage all")
    assert f"migrate lx -> {IP_A}:7000: started" in out, out
    m = b.wait_output(r"^result: +(.*)$", 600, since=t)
    assert m.group(1) == "completed, guest running on the destination", b.log.text[t:]
    assert a.vm_list()["lx"]["state"] == "paused"
    on_a, on_b = disk_sha256((a, b), "d1")
    assert on_a == on_b and on_a[1] == DISK_MIB << 20, (on_a, on_b)
    assert "vm lx: running" in a.cmd("vm resume lx")
    a.guest_attach("lx")
    try:
        assert sh(a, "echo alive")[1].strip() == "alive"
    finally:
        a.guest_detach()


GOLD_MIB = 32
INC_CHUNKS, INC_STRIDE_MIB = 8, 3


def import_gold(h, lab, sha):
    """Base `gold` on h: imported from the lab's server, then read-only."""
    assert "disk gold: created" in h.cmd(f"disk create gold size={GOLD_MIB}M")
    t = h.mark()
    h.cmd(f"disk import gold http://{lab.client_ip}:8000/gold.img sha256={sha}")
    h.wait_output(r"^disk gold: imported \d+ bytes", 300, since=t)
    t = h.mark()
    h.cmd("disk readonly gold")
    h.wait_output(r"^disk gold: read-only now, a base for clones", 300, since=t)
    out = h.cmd("disk list")
    assert re.search(rf"^gold .*read-only base \(sha256 {sha[:8]}\.\.\., 0 clones\)", out, re.M), out


def test_a_clone_moves_as_what_differs_from_its_base(pair, guest, tmp_path):
    a, b, lab = pair.a, pair.b, pair.lab
    assert "vm lx: destroyed" in a.cmd("vm destroy lx")
    gold = os.urandom(GOLD_MIB << 20)
    sha = hashlib.sha256(gold).hexdigest()
    (tmp_path / "gold.img").write_bytes(gold)
    srv = lab.client_http_server(str(tmp_path), 8000)
    # The extent right after d1 holds the sector A's disk fails (BAD_SECTOR):
    # kept out of gold's way.
    assert "disk spacer: created" in a.cmd(f"disk create spacer size={BAD_MIB}M")
    try:
        import_gold(a, lab, sha)
        out = a.cmd("disk clone gold web")
        assert re.search(rf"^disk web: clone of gold, {GOLD_MIB} MiB at LBA \d+ \(\+1 MiB map\)", out, re.M), out
        create_lx(a, 256, "disk=web", ip=GUEST_IP, mac=GUEST_MAC)
        # The clone reads as its base until the guest writes it.
        rc, out = sh(a, f"dd if=/dev/vda bs=1M count={GOLD_MIB} 2>/dev/null | sha256sum")
        assert rc == 0 and out.split()[0] == sha, out
        a.guest_detach()

        # B has no base yet: refused at pre-check, the guest stays on A.
        t = a.mark()
        a.cmd(f"migrate lx {IP_B} --copy-storage inc")
        line = source_failed(a, t, name="lx")
        assert "disk web: its base gold is not on this host" in line, line
        wait_idle(a)
        assert "web" not in volumes(b) and a.vm_list()["lx"]["state"] == "running"
        import_gold(b, lab, sha)
    finally:
        srv.kill()

    # Live, while the guest writes: only what it wrote travels.
    a.guest_attach("lx")
    start_writer(a, INC_CHUNKS, INC_STRIDE_MIB)
    a.guest_detach()
    t = a.mark()
    out = a.cmd(f"migrate lx {IP_B} --copy-storage inc")
    assert f"disk web of {GOLD_MIB} MiB: what differs from base gold" in out, out
    m = a.wait_output(r"^result: +(.*)$", 600, since=t)
    a.wait_output(r"^stopped: +.*$", 30, since=t)
    text = a.log.text[t:]
    assert m.group(1) == "completed, guest running on the destination", text
    m = re.search(r"^disk blocks: +(\d+) sent \([\d.]+ MiB\) \+ (\d+) zero", text, re.M)
    assert m, text
    blocks = int(m.group(1)) + int(m.group(2))
    # Each chunk is 256 blocks; a chunk written during a round goes again.
    assert 256 <= blocks <= 2 * 256 * INC_CHUNKS, text
    assert blocks < (GOLD_MIB << 20) // 4096 // 2, text
    assert "incoming lx: volume web made, a clone of gold" in b.cmd("log")
    b.guest_attach("lx")
    try:
        check_chunks(b, INC_CHUNKS, INC_STRIDE_MIB)
    finally:
        b.guest_detach()

    # Back to A, paused, A's stale clone deleted first: equal on both.
    assert "paused" in b.cmd("vm pause lx")
    assert "deleted" in a.cmd("disk delete web")
    t = b.mark()
    b.cmd(f"migrate lx {IP_A} --copy-storage inc")
    m = b.wait_output(r"^result: +(.*)$", 600, since=t)
    assert m.group(1) == "completed, guest running on the destination", b.log.text[t:]
    on_a, on_b = disk_sha256((a, b), "web")
    assert on_a == on_b and on_a[1] == GOLD_MIB << 20, (on_a, on_b)
    # The clones hold what was written; the bases are as imported.
    assert "vm lx: running" in a.cmd("vm resume lx")
    out = b.cmd("disk delete gold")
    assert "error: disk delete gold: the base of 1 clone (delete them first" in out, out
