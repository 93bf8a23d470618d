"""Host storage: Tern drives QEMU's NVMe controller and keeps the volume
table on its namespace (docs/storage.md).

One blank 1 GiB sparse image per test, in the test's log directory, is
booted several times: the table and its volumes survive a reboot, a damaged
primary copy is recovered from the secondary (and rewritten by the next
change), two damaged copies are reported and left alone until `disk init
force`. A Tern without any NVMe disk says so. Errors are one line each.
A guest's disk (`vm create ... disk=VOLUME`) holds its volume in use until
the VM is destroyed; a persistent dirty bitmap of a volume a VM had when
Tern was killed is inconsistent after the reboot, until cleared; what a Linux guest does with it is test_linux_disk.py.
"""
import os
import re
import struct

GIB = 1 << 30
COPY_OFFSET = (64 << 10, 512 << 10)  # docs/storage.md, "Where the table lives"
COPY_BYTES = 64 << 10
MAGIC = b"TernVTab"


def blank_image(tern) -> str:
    os.makedirs(tern.logdir, exist_ok=True)
    path = os.path.join(tern.logdir, "nvme.img")
    with open(path, "wb") as f:
        f.truncate(GIB)  # sparse: costs nothing on the host
    return path


def boot(tern, name, image):
    c = tern.boot("qemu", name=name, nic=False, nvme=image)
    return c, c.log.text


def stop(c):
    """Stops the emulator so another can open the image (QEMU locks it)."""
    c.close()


def copy_header(image, n):
    """(magic, generation) of table copy n, read from the image file."""
    with open(image, "rb") as f:
        f.seek(COPY_OFFSET[n])
        b = f.read(32)
    return b[:8], struct.unpack_from("<Q", b, 24)[0]


def damage_copy(image, n):
    """Flips bytes inside copy n (its first volume entry): the checksum no longer matches."""
    with open(image, "r+b") as f:
        f.seek(COPY_OFFSET[n] + 256 + 40)
        old = f.read(8)
        f.seek(COPY_OFFSET[n] + 256 + 40)
        f.write(bytes(x ^ 0xA5 for x in old))


def volumes(c):
    """`disk list`'s volume rows as {name: (size_mib, start_lba, id)}."""
    rows = {}
    for line in c.cmd("disk list").splitlines():
        m = re.match(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)
        if m:
            rows[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    return rows


def one_error(out, text):
    """The command answered with exactly one error line, containing text."""
    errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and text in errors[0], out
    return errors[0]


def test_volumes_survive_a_reboot_and_a_damaged_copy(tern):
    image = blank_image(tern)

    # --- a blank disk: found, no table, nothing written until `disk init`
    c, log = boot(tern, "blank", image)
    assert re.search(r"^nvme: nvme0n1: .* 2097152 blocks of 512 bytes", log, re.M), log
    assert ("storage: nvme0n1 1024 MiB, 512-byte blocks, no volume table "
            "(blank disk: 'disk init' creates one)") in log, log
    out = c.cmd("disk list")
    assert re.search(r"^device:  nvme0n1, 1024 MiB \(2097152 blocks of 512 bytes\), .*serial tern-nvme0",
                     out, re.M), out
    one_error(out, "disk list: nvme0n1: no volume table (blank disk: 'disk init' creates one)")
    one_error(c.cmd("disk create early size=1"), "disk create: nvme0n1: no volume table")
    assert copy_header(image, 0)[0] == bytes(8), "nothing may be written before disk init"

    out = c.cmd("disk init")
    assert "disk: nvme0n1: new volume table, generation 1, 1023 MiB for volumes" in out, out
    one_error(c.cmd("disk init"), "disk init: nvme0n1 has a volume table (generation 1, 0 volumes); "
                                  "'disk init force' replaces it")
    out = c.cmd("disk create root size=256M")
    assert re.search(r"^disk root: created, 256 MiB at LBA 2048, id 1$", out, re.M), out
    out = c.cmd("disk create data size=512m")
    assert re.search(r"^disk data: created, 512 MiB at LBA 526336, id 2$", out, re.M), out

    # --- bad arguments: one line each, nothing changes
    one_error(c.cmd("disk create big size=1"), "disk create big: no free extent of 1024 MiB (largest free: 255 MiB)")
    one_error(c.cmd("disk create root size=1M"), "disk create root: a volume of that name exists")
    one_error(c.cmd("disk create bad/name size=1"), "a name has only letters, digits, '.', '_' and '-'")
    one_error(c.cmd("disk create " + "x" * 32 + " size=1"), "a name has at most 31 characters")
    one_error(c.cmd("disk create nosize"), "disk create nosize: size= is missing")
    one_error(c.cmd("disk create v size=lots"), "disk create v: 'lots' is not a size")
    one_error(c.cmd("disk create v size=0"), "disk create v: '0' is not a size")
    one_error(c.cmd("disk create v colour=red"), "disk create v: unknown option 'colour=red'")
    one_error(c.cmd("disk delete nosuch"), "disk delete nosuch: no such volume")
    out = c.cmd("disk frobnicate")
    assert "error: disk: bad arguments" in out and "usage: disk [list]" in out, out

    out = c.cmd("disk list")
    assert "table:   generation 3, 2 volumes" in out, out
    assert "space:   1023 MiB for volumes, 768 MiB used, 255 MiB free (largest free extent 255 MiB)" in out, out
    before = volumes(c)
    assert before == {"root": (256, 2048, 1), "data": (512, 526336, 2)}, out
    stop(c)
    assert copy_header(image, 0) == (MAGIC, 3) and copy_header(image, 1) == (MAGIC, 3)

    # --- the same image again: the same table
    c, log = boot(tern, "reboot", image)
    assert "storage: nvme0n1 1024 MiB, 512-byte blocks, table generation 3, 2 volumes" in log, log
    assert volumes(c) == before
    stop(c)

    # --- the primary copy damaged while Tern was off: recovered from copy 1
    damage_copy(image, 0)
    c, log = boot(tern, "recover", image)
    assert re.search(r"storage: nvme0n1: volume table copy 0 is bad \(checksum mismatch \([^)]*\)\); "
                     r"recovered from copy 1, the next change rewrites copy 0", log), log
    assert "storage: nvme0n1 1024 MiB, 512-byte blocks, table generation 3, 2 volumes" in log, log
    assert volumes(c) == before
    out = c.cmd("disk delete data")
    assert "disk data: deleted, 512 MiB free again" in out, out
    assert "disk: volume table copy 0 rewritten" in out, out
    stop(c)
    assert copy_header(image, 0) == (MAGIC, 4) and copy_header(image, 1) == (MAGIC, 4)

    # --- both copies damaged: reported, never overwritten without `force`
    damage_copy(image, 0)
    damage_copy(image, 1)
    c, log = boot(tern, "unreadable", image)
    assert re.search(r"error: storage: nvme0n1 1024 MiB, 512-byte blocks: volume table unreadable "
                     r"\(copy 0: checksum mismatch \([^)]*\); copy 1: checksum mismatch \([^)]*\)\); left as it is "
                     r"\('disk init force' replaces it\)", log), log
    one_error(c.cmd("disk list"), "disk list: nvme0n1: volume table unreadable")
    one_error(c.cmd("disk create x size=1"), "disk create: nvme0n1: volume table unreadable")
    one_error(c.cmd("disk init"), "disk init: nvme0n1: volume table unreadable")
    with open(image, "rb") as f:
        f.seek(COPY_OFFSET[1])
        damaged = f.read(COPY_BYTES)
    out = c.cmd("disk init force")
    assert "disk: nvme0n1: new volume table, generation 1, 1023 MiB for volumes" in out, out
    out = c.cmd("disk list")
    assert "table:   generation 1, 0 volumes" in out, out
    stop(c)
    with open(image, "rb") as f:
        f.seek(COPY_OFFSET[1])
        assert f.read(COPY_BYTES) != damaged


def test_without_an_nvme_disk_tern_says_so(tern):
    c = tern.boot("qemu", name="nodisk", nic=False)
    assert "storage: no NVMe controller" in c.log.text, c.log.text
    out = c.cmd("disk list")
    assert out.strip() == "error: disk list: no NVMe controller (Tern found no disk at boot)", out
    one_error(c.cmd("disk init"), "disk init: no NVMe controller")
    one_error(c.cmd("disk create a size=1"), "disk create: no NVMe controller")
    one_error(c.cmd("vm create g image=memcheck mem=8 disk=d1"),
              "vm create g: disk=d1: this host has no NVMe disk")
    assert "g" not in c.vm_list()
    assert c.version().startswith("Tern ")


def test_a_4096_byte_namespace_with_8_kib_transfers(tern):
    """4096-byte blocks, and MDTS 1 (8 KiB per command): every 64 KiB copy
    of the table goes out split in 8 commands."""
    image = blank_image(tern)
    c = tern.boot("qemu", name="4k", nic=False, nvme=image,
                  nvme_opts="logical_block_size=4096,physical_block_size=4096,mdts=1")
    assert ("storage: nvme0n1 1024 MiB, 4096-byte blocks, no volume table "
            "(blank disk: 'disk init' creates one)") in c.log.text, c.log.text
    assert "disk: nvme0n1: new volume table, generation 1, 1023 MiB for volumes" in c.cmd("disk init")
    out = c.cmd("disk create vol size=100M")
    assert re.search(r"^disk vol: created, 100 MiB at LBA 256, id 1$", out, re.M), out
    out = c.cmd("disk list")
    assert re.search(r"^io:      \d+ reads, 32 writes, 4 flushes, 0 errors, 0 timeouts, 0 resets$",
                     out, re.M), out
    assert volumes(c) == {"vol": (100, 256, 1)}
    stop(c)
    assert copy_header(image, 0) == (MAGIC, 2) and copy_header(image, 1) == (MAGIC, 2)


def test_a_disk_that_fails_writes_is_reported_and_tern_goes_on(tern):
    """QEMU's blkdebug fails every write to the image with EIO: the NVMe
    controller reports it, `disk init` says so in one line, nothing else breaks."""
    image = blank_image(tern)
    conf = os.path.join(tern.logdir, "blkdebug.conf")
    with open(conf, "w") as f:
        f.write('[inject-error]\nevent = "write_aio"\niotype = "write"\nerrno = "5"\n')
    c = tern.boot("qemu", name="eio", nic=False, nvme=f"blkdebug:{conf}:{image}")
    assert "no volume table (blank disk: 'disk init' creates one)" in c.log.text, c.log.text
    out = c.cmd("disk init")
    assert re.search(r"^error: nvme: nvme0n1: write lba 128\+128 failed: status type \d code 0x[0-9a-f]{2}$",
                     out, re.M), out
    assert "error: disk init: nvme0n1: writing the volume table failed (-5)" in out, out
    assert len([ln for ln in out.splitlines() if ln.startswith("error: ")]) == 2, out
    out = c.cmd("disk list")
    assert re.search(r"^io:      \d+ reads, 0 writes, 0 flushes, 1 errors, 0 timeouts, 0 resets$",
                     out, re.M), out
    one_error(out, "disk list: nvme0n1: no volume table")
    assert c.version().startswith("Tern ")


def test_a_disk_that_stops_answering_is_reset_and_read_again(tern):
    """QEMU throttles writes to 8 KiB/s: the first 64 KiB copy goes out at
    once, the second would take 8 s. Tern gives up after 5 s, resets the
    controller, recreates its queues and reads the table back (one copy
    made it), and says so; the disk keeps working for reads."""
    image = blank_image(tern)
    c = tern.boot("qemu", name="stall", nic=False, nvme=f"{image},throttling.bps-write=8192")
    out = c.cmd("disk init", timeout=60)
    assert re.search(r"^error: nvme: nvme0n1: write lba 1024\+128: no completion in 5000 ms; "
                     r"controller reset, queues recreated$", out, re.M), out
    assert re.search(r"^error: disk init: nvme0n1: writing the volume table failed \(-\d+\), but the "
                     r"change reached the disk: the new table \(generation 1\) is in use$", out, re.M), out
    out = c.cmd("disk list")
    assert re.search(r"^io:      \d+ reads, 1 writes, 1 flushes, 0 errors, 1 timeouts, 1 resets$", out, re.M), out
    assert "table:   generation 1, 0 volumes" in out, out
    assert c.version().startswith("Tern ")


LONG = "customer-database-2024"  # 22 characters


def crc32c(data: bytes) -> int:
    """CRC-32C (storage/crc32c.c), bitwise."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_a_guests_volume_is_in_use_until_the_vm_is_destroyed(tern):
    """`vm create ... disk=VOLUME` refuses a volume that does not exist or
    that another VM uses, in one line, and creates nothing; while the VM
    exists its volume cannot be deleted, the table cannot be replaced and
    the VM cannot be migrated (no storage migration yet: the guest goes on
    running); `vm destroy` frees the volume."""
    image = blank_image(tern)
    c = tern.boot("qemu", name="inuse", nic=False, nvme=image)
    one_error(c.cmd("vm create g0 image=memcheck mem=8 disk=d1"),
              "vm create g0: disk=d1: nvme0n1: no volume table (blank disk: 'disk init' creates one)")
    c.cmd("disk init")
    assert "disk d1: created" in c.cmd("disk create d1 size=64M")
    assert f"disk {LONG}: created" in c.cmd(f"disk create {LONG} size=16M")

    one_error(c.cmd("vm create g0 image=memcheck mem=8 disk=nosuch"),
              "vm create g0: disk=nosuch: no such volume (see 'disk list')")
    one_error(c.cmd("vm create g0 image=memcheck mem=8 disk="), "vm create: disk= needs a volume's name")
    out = c.cmd("vm create g1 image=memcheck mem=8 disk=d1")
    assert re.search(r"^vm g1: created \(8 MiB, memcheck, disk d1\)$", out, re.M), out
    one_error(c.cmd("vm create g2 image=memcheck mem=8 disk=d1"),
              "vm create g2: disk=d1: the volume is in use by VM g1")
    assert set(c.vm_list()) == {"g1"}
    out = c.cmd("vm list")
    assert re.search(r"^  disk: d1, 64 MiB on nvme0n1, serial d1: 0 reads, 0 writes, 0 flushes, "
                     r"0 refused, 0 errors$", out, re.M), out
    assert re.search(r"^d1\s+64\s.*  in use by VM g1$", c.cmd("disk list"), re.M)

    one_error(c.cmd("disk delete d1"), "disk delete d1: in use by VM g1 ('vm destroy g1' first)")
    one_error(c.cmd("disk init force"), "disk init: 1 volume is in use by VMs")
    assert set(volumes(c)) == {"d1", LONG}
    out = c.cmd("migrate g1 10.99.0.2")
    one_error(out, "migrate g1: it has a local disk (d1): add --copy-storage all to move the "
                   "disk with it")
    g1 = c.vm_list()["g1"]
    assert g1["state"] == "running" and not g1["migrating"], g1

    # a second VM on the other volume, whose name is too long for a serial
    # (20 bytes): its first 11 characters, '-' and the CRC-32C of all of it
    assert "vm g3: created" in c.cmd(f"vm create g3 image=memcheck mem=8 disk={LONG}")
    serial = f"{LONG[:11]}-{crc32c(LONG.encode()):08x}"
    assert f"  disk: {LONG}, 16 MiB on nvme0n1, serial {serial}: " in c.cmd("vm list")
    # then both gone: both volumes free
    c.cmd("vm destroy g1")
    assert "vm g4: created" in c.cmd("vm create g4 image=memcheck mem=8 disk=d1")
    c.cmd("vm destroy g4")
    c.cmd("vm destroy g3")
    assert "disk d1: deleted" in c.cmd("disk delete d1")
    assert f"disk {LONG}: deleted" in c.cmd(f"disk delete {LONG}")
    assert c.vm_list() == {}


def bitmap_list(c, volume):
    """`disk bitmap list VOLUME`: {name: (granularity, persistent, dirty bytes, state)}."""
    out = c.cmd(f"disk bitmap list {volume}")
    assert re.search(rf"^disk {volume}: \d+ bitmaps?$", out, re.M), out
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+(\d+) (yes|no)\s+(\d+)  (.*)$", line)
        if m:
            rows[m.group(1)] = (int(m.group(2)), m.group(3) == "yes", int(m.group(4)), m.group(5))
    return rows


def incompat(image, n):
    """Table copy n's incompatible feature bits (bit 0: persistent bitmaps)."""
    with open(image, "rb") as f:
        f.seek(COPY_OFFSET[n] + 32)
        return struct.unpack("<I", f.read(4))[0]


def test_dirty_bitmap_commands_and_a_bitmap_in_use_at_a_crash(tern):
    """`disk bitmap` refuses bad arguments in one line; a persistent bitmap
    of a volume a VM has is flagged in use on the disk, so after Tern is
    killed with the VM running it comes back inconsistent (no `show`),
    until `clear`; the in-memory one is gone; `remove` takes the last one
    off the disk, and the table's feature bit with it. (What a guest's
    writes mark is test_linux_disk.py.)"""
    image = blank_image(tern)
    c = tern.boot("qemu", name="bitmaps", nic=False, nvme=image)
    c.cmd("disk init")
    assert "disk d1: created" in c.cmd("disk create d1 size=64M")
    for cmd, text in [
        ("disk bitmap add d1 b granularity=3K",
         "disk bitmap add d1 b: granularity 3072 is not a power of two from 4096 to 16777216 bytes"),
        ("disk bitmap add d1 b granularity=32M",
         "disk bitmap add d1 b: '32M' is not a granularity (a power of two from 4K to 16M: "
         "granularity=64K)"),
        ("disk bitmap add d1 b persistent=maybe",
         "disk bitmap add d1 b: unknown option 'persistent=maybe' (granularity=SIZE, persistent=on|off)"),
        ("disk bitmap add d1 b/x", "disk bitmap add d1 'b/x': a name has only letters"),
        ("disk bitmap add nosuch b", "disk bitmap add nosuch: no such volume"),
        ("disk bitmap show d1 nosuch", "disk bitmap show d1 nosuch: no such bitmap (see 'disk bitmap list d1')"),
        ("disk bitmap remove d1 nosuch", "disk bitmap remove d1 nosuch: no such bitmap"),
        ("disk bitmap list", "disk bitmap: bad arguments"),
        ("disk bitmap frob d1 b", "disk bitmap: bad arguments"),
    ]:
        one_error(c.cmd(cmd), text)
    assert bitmap_list(c, "d1") == {}
    assert "disk d1: bitmap p added, granularity 65536 bytes, persistent" in \
        c.cmd("disk bitmap add d1 p persistent=on")
    one_error(c.cmd("disk bitmap add d1 p"), "disk bitmap add d1 p: the volume has a bitmap of that name")
    assert "in memory only" in c.cmd("disk bitmap add d1 m granularity=1M persistent=off")
    assert incompat(image, 0) == incompat(image, 1) == 1  # BITMAPS
    assert "vm g1: created" in c.cmd("vm create g1 image=memcheck mem=8 disk=d1")
    assert bitmap_list(c, "d1") == {"p": (65536, True, 0, "active, in use on disk"),
                                    "m": (1 << 20, False, 0, "active")}
    c.close()  # killed with g1 running: p stays flagged in use on the disk

    c = tern.boot("qemu", name="bitmaps-crash", nic=False, nvme=image)
    log = c.log.text
    assert "table generation 4, 1 volume, 1 dirty bitmap" in log, log
    assert ("warning: storage: nvme0n1: dirty bitmap p of volume d1 is inconsistent (Tern stopped "
            "while a VM wrote the volume): 'disk bitmap clear d1 p' or 'remove' it") in log, log
    rows = bitmap_list(c, "d1")
    assert list(rows) == ["p"] and rows["p"][3].startswith("inconsistent"), rows
    one_error(c.cmd("disk bitmap show d1 p"), "disk bitmap show d1 p: the bitmap is inconsistent")
    assert "disk d1: bitmap p cleared" in c.cmd("disk bitmap clear d1 p")
    assert bitmap_list(c, "d1") == {"p": (65536, True, 0, "active")}
    assert "0 dirty bytes in 0 runs" in c.cmd("disk bitmap show d1 p")
    assert "disk d1: bitmap p removed" in c.cmd("disk bitmap remove d1 p")
    assert bitmap_list(c, "d1") == {}
    assert incompat(image, 0) == incompat(image, 1) == 0
    c.close()
