"""A Debian Linux guest's disk under Tern (SVM, QEMU): `vm create ...
disk=d1` gives the guest a virtio-blk device over volume d1 of the host's
NVMe disk (docs/storage.md, "What a guest sees"). Linux's virtio_blk (from
the initramfs) finds /dev/vda of the volume's size with the volume's name as
its serial; 8 MiB written with dd reads back the same, lands in the
volume's extent of the NVMe image, and is still there for a new VM on the
same volume, and after that guest reboots; reads at and past the end behave
as on any disk and the host goes on; the volume cannot be deleted while a VM
has it. The refusals of
`vm create ... disk=` without Linux are in test_storage.py.

Then dirty bitmaps (docs/storage.md, "Dirty bitmaps"): a persistent and an
in-memory bitmap of a new volume see exactly the granules two dd writes of
a guest touch; after `vm destroy` and a reboot of Tern on the same NVMe
image the persistent one holds the same runs and the other is gone. (The
commands' errors and the in-use rule across a crash are in test_storage.py,
with a guest that needs no Linux.)

Four Linux boots in all (three VMs, one reboot), and one more Tern boot.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_linux_disk.py
"""
import hashlib
import os
import re
import time

import pytest

from conftest import LOG_ROOT, TernFactory, _report
from test_linux_guest import attach, detach, sh  # the attached guest's shell

VOLUME_MIB = 64
SECTORS = VOLUME_MIB << 11      # 512-byte sectors
DATA_AREA = 1 << 20             # d1, the first volume, starts where the data area does
PATTERN_MIB = 8


@pytest.fixture(scope="module")
def factory():
    f = TernFactory(os.path.join(LOG_ROOT, "test_linux_disk"))
    yield f
    f.close()


@pytest.fixture(autouse=True)
def _logs_on_failure(request, factory):
    yield
    _report(request, factory)


def boot_guest(h, name, volume="d1"):
    """Linux guest NAME on VOLUME, booted (ready line), console attached,
    kernel messages off the console."""
    up = h.linux_create(name, f'kernel=linux initrd=linux-initrd mem=256 disk={volume} args="quiet"')
    assert up["created"] == f"vm {name}: created (256 MiB, linux + linux-initrd, disk {volume})", up
    time.sleep(2)  # let the shell print its banner and prompt
    attach(h, name)
    assert sh(h, "dmesg -n 1")[0] == 0


@pytest.fixture(scope="module")
def ld(factory):
    """Tern in QEMU with a blank 1 GiB NVMe image: a table, volume d1 of
    64 MiB, and Linux guest `ld` on it with its console attached."""
    os.makedirs(factory.logdir, exist_ok=True)
    image = os.path.join(factory.logdir, "nvme.img")
    with open(image, "wb") as f:
        f.truncate(1 << 30)  # sparse
    h = factory.boot("qemu", name="qemu", mem_mib=1024, nic=False, nvme=image)
    h.image = image
    assert "new volume table" in h.cmd("disk init")
    out = h.cmd(f"disk create d1 size={VOLUME_MIB}M")
    assert re.search(r"^disk d1: created, 64 MiB at LBA 2048, id 1$", out, re.M), out
    boot_guest(h, "ld")
    yield h


def md5_of(h, command):
    """The md5 busybox md5sum prints for what command writes to stdout."""
    rc, out = sh(h, f"{command} | md5sum", timeout=180)
    m = re.search(r"^([0-9a-f]{32})\s+-$", out, re.M)
    assert rc == 0 and m, out
    return m.group(1)


def test_the_guest_finds_vda_of_the_volumes_size_with_its_name_as_serial(ld):
    rc, out = sh(ld, "dmesg | grep virtio_blk")
    assert re.search(rf"virtio_blk virtio\d+: \[vda\] {SECTORS} 512-byte logical blocks "
                     r"\(67\.1 MB/64\.0 MiB\)", out), out
    # (serial has no newline of its own)
    rc, out = sh(ld, 'for f in size serial ro; do echo "$(cat /sys/block/vda/$f)"; done')
    assert rc == 0 and out.split() == [str(SECTORS), "d1", "0"], out


def test_a_pattern_written_to_vda_reads_back_and_is_in_the_volume_on_the_nvme(ld):
    rc, out = sh(ld, f"dd if=/dev/urandom of=/tmp/p bs=1M count={PATTERN_MIB} 2>/dev/null", timeout=120)
    assert rc == 0, out
    want = md5_of(ld, "cat /tmp/p")
    rc, out = sh(ld, "dd if=/tmp/p of=/dev/vda bs=1M conv=fsync", timeout=180)
    assert rc == 0 and f"{PATTERN_MIB}+0 records out" in out, out
    # Read back from the disk, not from the page cache.
    assert sh(ld, "sync; echo 3 > /proc/sys/vm/drop_caches")[0] == 0
    assert md5_of(ld, f"dd if=/dev/vda bs=1M count={PATTERN_MIB} 2>/dev/null") == want
    # conv=fsync ended in a virtio-blk flush, which Tern passes to the NVMe
    # disk: the bytes are in d1's extent of the image file, at 1 MiB.
    with open(ld.image, "rb") as f:
        f.seek(DATA_AREA)
        assert hashlib.md5(f.read(PATTERN_MIB << 20)).hexdigest() == want
    ld.pattern_md5 = want


def test_reads_at_and_past_the_end_of_vda_behave_as_on_any_disk(ld):
    # The last sector is there; Linux ends a read at the disk's end itself.
    rc, out = sh(ld, f"dd if=/dev/vda of=/dev/null bs=512 skip={SECTORS - 1} count=4")
    assert rc == 0 and "1+0 records in" in out, out
    rc, out = sh(ld, f"dd if=/dev/vda of=/dev/null bs=512 skip={SECTORS + 100} count=1")
    assert "0+0 records in" in out or rc != 0, out
    rc, out = sh(ld, f"dd if=/dev/zero of=/dev/vda bs=512 seek={SECTORS} count=1")
    assert rc != 0 and "0+0 records out" in out, out
    assert sh(ld, "echo alive")[1].strip() == "alive"
    detach(ld)
    try:
        assert ld.version().startswith("Tern ")
        assert ld.vm_list()["ld"]["state"] == "running"
        out = ld.cmd("vm list")
        m = re.search(r"^  disk: d1, 64 MiB on nvme0n1, serial d1: (\d+) reads, (\d+) writes, (\d+) flushes, "
                      r"(\d+) refused, 0 errors$", out, re.M)
        assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0 and int(m.group(3)) > 0, out
    finally:
        attach(ld, "ld")


def test_the_volume_cannot_be_deleted_while_the_vm_has_it(ld):
    detach(ld)
    try:
        out = ld.cmd("disk delete d1")
        errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
        assert errors == ["error: disk delete d1: in use by VM ld ('vm destroy ld' first)"], out
        assert re.search(r"^d1\s+64\s.*  in use by VM ld$", ld.cmd("disk list"), re.M)
    finally:
        attach(ld, "ld")


def test_the_data_is_there_for_a_new_vm_on_the_same_volume(ld):
    want = getattr(ld, "pattern_md5", None)
    if want is None:
        # Not a skip: a failed write test must not pass this one silently.
        pytest.fail("needs test_a_pattern_written_to_vda... to have passed first (run the module whole)")
    detach(ld)
    assert "vm ld: destroyed" in ld.cmd("vm destroy ld")
    assert not re.search(r"in use by VM", ld.cmd("disk list"))
    boot_guest(ld, "ld2")
    assert md5_of(ld, f"dd if=/dev/vda bs=1M count={PATTERN_MIB} 2>/dev/null") == want
    # the rest of the volume was never written: zeros, as the sparse image
    assert md5_of(ld, f"dd if=/dev/vda bs=1M skip={PATTERN_MIB} count=1 2>/dev/null") == \
        hashlib.md5(bytes(1 << 20)).hexdigest()
    ld.pattern_vm = "ld2"


def test_a_guest_reboot_keeps_the_disk_and_its_data(ld):
    """busybox `reboot` (on_reboot=restart): the devices are made anew, the
    volume stays the VM's, and the data is there."""
    want = getattr(ld, "pattern_vm", None) and ld.pattern_md5
    if not want:
        pytest.fail("needs test_the_data_is_there_for_a_new_vm... to have passed first (run the module whole)")
    t = ld.mark()
    ld.send("reboot\r")
    ld.wait_output(r"^vm ld2: rebooted \(guest request\)", 120, since=t)
    # Still attached: the guest's output comes raw, without "[ld2] ".
    ld.wait_output(r"^tern-linux: ready kernel=", 300, since=t)
    time.sleep(2)
    assert sh(ld, "dmesg -n 1")[0] == 0
    assert md5_of(ld, f"dd if=/dev/vda bs=1M count={PATTERN_MIB} 2>/dev/null") == want
    detach(ld)
    assert re.search(r"^d1\s+64\s.*  in use by VM ld2$", ld.cmd("disk list"), re.M)
    assert "vm ld2: destroyed" in ld.cmd("vm destroy ld2")
    assert "disk d1: deleted" in ld.cmd("disk delete d1")


def bitmap_runs(h, volume, name):
    """`disk bitmap show`'s runs as [(offset, length)], after its header line."""
    out = h.cmd(f"disk bitmap show {volume} {name}")
    assert re.search(rf"^disk {volume}: bitmap {name}, granularity \d+, \d+ dirty bytes in \d+ runs?$",
                     out, re.M), out
    return [(int(a), int(b)) for a, b in re.findall(r"^  offset (\d+) length (\d+)$", out, re.M)]


def bitmap_rows(h, volume):
    """`disk bitmap list VOLUME`'s rows as {name: (granularity, persistent, dirty bytes, state)}."""
    rows = {}
    for line in h.cmd(f"disk bitmap list {volume}").splitlines():
        m = re.match(r"^(\S+)\s+(\d+) (yes|no)\s+(\d+)  (.*)$", line)
        if m:
            rows[m.group(1)] = (int(m.group(2)), m.group(3) == "yes", int(m.group(4)), m.group(5))
    return rows


# Two guest writes: 4 KiB at 300 * 4 KiB, and 8 KiB across the 10 MiB mark.
WRITES = ((300, 1), (2559, 2))                      # (seek, count) in 4 KiB blocks
RUNS_64K = [(18 << 16, 1 << 16), (159 << 16, 2 << 16)]  # the 64 KiB granules they touch
RUNS_4K = [(300 << 12, 1 << 12), (2559 << 12, 2 << 12)]


def test_dirty_bitmaps_see_the_guests_writes_and_the_persistent_one_survives_a_reboot(ld, factory):
    """Runs last: it stops this module's Tern and boots it again on the image."""
    out = ld.cmd("disk create bm size=64M")
    assert "disk bm: created" in out, out
    out = ld.cmd("disk bitmap add bm p persistent=on")
    assert "disk bm: bitmap p added, granularity 65536 bytes, persistent" in out, out
    out = ld.cmd("disk bitmap add bm m granularity=4K")
    assert "disk bm: bitmap m added, granularity 4096 bytes, in memory only" in out, out
    boot_guest(ld, "lb", "bm")
    for seek, count in WRITES:
        rc, out = sh(ld, f"dd if=/dev/urandom of=/dev/vda bs=4096 seek={seek} count={count} conv=fsync")
        assert rc == 0 and f"{count}+0 records out" in out, out
    detach(ld)
    # Booting Linux read the disk and wrote nothing: only the two writes.
    assert bitmap_runs(ld, "bm", "p") == RUNS_64K
    assert bitmap_runs(ld, "bm", "m") == RUNS_4K
    rows = bitmap_rows(ld, "bm")
    assert rows == {"p": (65536, True, 3 << 16, "active, in use on disk"),
                    "m": (4096, False, 3 << 12, "active")}, rows
    assert "vm lb: destroyed" in ld.cmd("vm destroy lb")
    assert bitmap_rows(ld, "bm")["p"][3] == "active"

    ld.close()
    h = factory.boot("qemu", name="bitmaps-reboot", mem_mib=1024, nic=False, nvme=ld.image)
    rows = bitmap_rows(h, "bm")
    assert rows == {"p": (65536, True, 3 << 16, "active")}, rows
    assert bitmap_runs(h, "bm", "p") == RUNS_64K
    h.close()
