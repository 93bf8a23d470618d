"""A guest's disk under Tern (issue 13): virtio-blk throughput inside a
Linux guest next to the host's own read of the NVMe disk, and a live
migration with `--copy-storage all` next to a memory-only one on the same
link.

Two QEMU TCG Terns, each with a 2 GiB sparse NVMe image (QEMU's nvme).

  virtio-blk  in a 256 MiB Linux guest on a 1 GiB volume: busybox dd of
              DD_MIB MiB, 1 MiB blocks, to /dev/vda (conv=fsync: it ends in a
              flush) and back (caches dropped first), timed by the host
              around the shell command (a console round trip, ~0.1 s, is in
              it).
  host read   `disk read d1 bytes=DD_MIB MiB` on the same host: the NVMe
              read of the same bytes through Tern's driver, 1 MiB at a time
              (the rate it prints), and `disk sha256` of them (the read plus
              SHA-256, which bounds it: what a hash or `disk readonly` costs).
  migration   the guest, its disk holding DATA_MIB MiB of data (the rest
              zero), moved A->B live with `--copy-storage all --insecure`;
              then a memcheck guest of DATA_MIB MiB whose pages all hold
              data, moved the same way without a disk. Round 0's Mbit/s is
              each one's link rate; the disk's MiB/s is its data blocks over
              round 0's time.

  inc         a second Linux guest on a clone of a BASE_MIB MiB base of random
              data (`disk import` of one file from the lab client's HTTP
              server on both hosts, then `disk readonly`), INC_MIB MiB of data
              written to it, moved A->B live with `--copy-storage inc`, then
              back paused with `--copy-storage all`: the disk blocks and the
              bytes on the wire of each, and their ratio to the blocks the
              guest wrote.
Emulated machines on one shared host: compare within one run.
"""
import os
import re
import time

import netlab
from benches.migrate import IP_A, IP_B
from hostpair import HostPair
from machine import BUILD

TITLE = "disk: virtio-blk in a Linux guest, the host's NVMe read, copy-storage vs memory migration (QEMU TCG)"
KEY = "bench-disk-key-2718"
DISK_MIB = 1024
DD_MIB = 256
DATA_MIB = 128
BASE_MIB, INC_MIB = 256, 32
IMAGE_BYTES = 2 << 30
GUEST_IP, GUEST_MAC = "10.99.0.63", "52:54:00:aa:07:63"
CLONE_IP, CLONE_MAC = "10.99.0.64", "52:54:00:aa:07:64"
WORK = os.path.join(BUILD, "bench", "disk")


def timed_sh(c, command, timeout=600):
    t0 = time.monotonic()
    rc, out = c.guest_sh(command, timeout)
    if rc:
        raise RuntimeError(f"guest: {command}: status {rc}: {out.strip()[-300:]}")
    return time.monotonic() - t0


def guest_dd(c):
    """(write MiB/s, read MiB/s) of DD_MIB MiB on /dev/vda."""
    w = timed_sh(c, f"dd if=/dev/zero of=/dev/vda bs=1M count={DD_MIB} conv=fsync 2>/dev/null")
    timed_sh(c, "sync; echo 3 > /proc/sys/vm/drop_caches")
    r = timed_sh(c, f"dd if=/dev/vda of=/dev/null bs=1M count={DD_MIB} 2>/dev/null")
    return DD_MIB / w, DD_MIB / r


def host_read(c):
    """(MiB/s of `disk read d1 bytes=...` as it says, MiB/s of `disk sha256
    d1 bytes=...` timed here)."""
    t = c.mark()
    c.cmd(f"disk read d1 bytes={DD_MIB << 20}")
    raw = float(c.wait_output(r"^disk d1: read \d+ bytes in \d+ ms, ([\d.]+) MiB/s", 600, since=t).group(1))
    t0 = time.monotonic()
    t = c.mark()
    c.cmd(f"disk sha256 d1 bytes={DD_MIB << 20}")
    c.wait_output(r"^disk d1: sha256 [0-9a-f]{64} ", 600, since=t)
    return raw, DD_MIB / (time.monotonic() - t0)


def migrate(a, name, opts, to=IP_B):
    """The summary's figures of `migrate NAME <to> --insecure OPTS` on a."""
    t = a.mark()
    out = a.cmd(f"migrate {name} {to} --insecure {opts}".strip())
    if "started" not in out:
        raise RuntimeError(f"migrate: {out.strip()}")
    res = a.wait_output(r"^result:\s+(.*)$", 900, since=t).group(1)
    a.wait_output(r"^stream cost:.*$", 30, since=t)
    text = a.log.text[t:]
    if not res.startswith("completed"):
        raise RuntimeError(f"migration of {name}: {res}")
    row0 = re.search(r"^\s*0\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+\d+\s+\d+"
                     r"(?:\s+(\d+)\s+(\d+))?\s*$", text, re.M)
    fig = {
        "total_ms": float(re.search(r"^total time:\s+([\d.]+) ms", text, re.M).group(1)),
        "downtime_ms": float(re.search(r"^downtime:\s+([\d.]+) ms", text, re.M).group(1)),
        "wire_bytes": int(re.search(r"^on the wire:\s+(\d+) bytes", text, re.M).group(1)),
        "round0_ms": float(row0.group(3)),
        "round0_mbit_s": float(row0.group(4)),
    }
    m = re.search(r"^disk blocks:\s+(\d+) sent \([\d.]+ MiB\) \+ (\d+) zero", text, re.M)
    if m:
        fig["blocks_sent"], fig["blocks_zero"] = int(m.group(1)), int(m.group(2))
        fig["round0_blocks_sent"] = int(row0.group(5))
        fig["disk_mib_s"] = round(int(row0.group(5)) * 4096 / (1 << 20) / (fig["round0_ms"] / 1000), 1)
    return fig


def linux_on(c, name, volume, mac, ip):
    """A 256 MiB Linux guest with volume as its disk, its console attached."""
    up = c.linux_create(name, f'kernel=linux initrd=linux-initrd mem=256 mac={mac} '
                              f'disk={volume} args="quiet ip={ip}/24"', 300)
    if up.get("ip") != f"{ip}/24":
        raise RuntimeError(f"guest: {up}")
    time.sleep(2)
    c.guest_attach(name)
    timed_sh(c, "dmesg -n 1")


def write_random(c, mib):
    """mib MiB of random data at the start of /dev/vda, 8 MiB at a time."""
    timed_sh(c, "dd if=/dev/urandom of=/tmp/r bs=1M count=8 2>/dev/null")
    timed_sh(c, f"i=0; while [ $i -lt {mib // 8} ]; do dd if=/tmp/r of=/dev/vda bs=1M "
                "seek=$((i * 8)) conv=fsync 2>/dev/null; i=$((i + 1)); done; rm /tmp/r")


def inc_vs_all(lab, a, b):
    """A clone with INC_MIB MiB written, moved with inc, then back with all."""
    www = os.path.join(WORK, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "gold.img"), "wb") as f:
        f.write(os.urandom(BASE_MIB << 20))
    srv = lab.client_http_server(www, 8000)
    try:
        marks = []
        for h in (a, b):
            if "created" not in h.cmd(f"disk create gold size={BASE_MIB}M"):
                raise RuntimeError("disk create gold failed")
            marks.append(h.mark())
            h.cmd(f"disk import gold http://{lab.client_ip}:8000/gold.img")
        for h, t in zip((a, b), marks):
            h.wait_output(r"^disk gold: imported \d+ bytes", 900, since=t)
    finally:
        srv.kill()
        os.unlink(os.path.join(www, "gold.img"))
    for h in (a, b):
        t = h.mark()
        h.cmd("disk readonly gold")
        h.wait_output(r"^disk gold: read-only now", 600, since=t)
    if "clone of gold" not in a.cmd("disk clone gold web"):
        raise RuntimeError("disk clone failed")
    linux_on(a, "lw", "web", CLONE_MAC, CLONE_IP)
    write_random(a, INC_MIB)
    a.guest_detach()
    inc = migrate(a, "lw", "--copy-storage inc")
    b.cmd("vm pause lw")
    a.cmd("disk delete web")
    full = migrate(b, "lw", "--copy-storage all", to=IP_A)
    written = INC_MIB << 20 >> 12
    for f in (inc, full):
        f["disk_blocks"] = f["blocks_sent"] + f["blocks_zero"]
        f["disk_blocks_per_written"] = round(f["disk_blocks"] / written, 2)
    return {"copy_storage_inc": inc, "copy_storage_all_of_clone": full,
            "inc_written_blocks": written}


def run():
    os.makedirs(WORK, exist_ok=True)
    images = {}
    for n in ("a", "b"):
        images[n] = os.path.join(WORK, f"nvme-{n}.img")
        with open(images[n], "wb") as f:
            f.truncate(0)
            f.truncate(IMAGE_BYTES)
    data = {}
    try:
        with netlab.Lab(workdir=os.path.join(WORK, "lab")) as lab:
            pair = HostPair(lab, "qemu", logdir=WORK, prefix="bench-disk-", key=KEY, mem_mib=1024,
                            host_kw={n: {"nvme": images[n]} for n in images})
            with pair:
                pair.start()
                a, b = pair.a, pair.b
                for h in (a, b):
                    if "new volume table" not in h.cmd("disk init"):
                        raise RuntimeError("disk init failed")
                    h.cmd("migrate insecure on")  # plain TCP, as benches/migrate.py's plain runs
                if "created" not in a.cmd(f"disk create d1 size={DISK_MIB}M"):
                    raise RuntimeError("disk create failed")
                linux_on(a, "lx", "d1", GUEST_MAC, GUEST_IP)
                w, r = guest_dd(a)
                # DATA_MIB MiB of random data at the disk's start (from RAM: urandom is slow).
                write_random(a, DATA_MIB)
                a.guest_detach()
                raw, hashed = host_read(a)
                data["virtio_blk"] = {"dd_mib": DD_MIB, "write_mib_s": round(w, 1),
                                      "read_mib_s": round(r, 1), "host_read_mib_s": raw,
                                      "host_read_sha256_mib_s": round(hashed, 1)}
                data["copy_storage_all"] = migrate(a, "lx", "--copy-storage all")
                t = a.mark()
                a.cmd(f'vm create mc image=memcheck mem={DATA_MIB} args="rate=100"')
                a.wait_output(r"^\[mc\] memcheck: gen=\d+", 300, since=t)
                data["memory_only"] = migrate(a, "mc", "")
                data.update(inc_vs_all(lab, a, b))
    finally:
        for path in images.values():
            if os.path.exists(path):
                os.unlink(path)
    v, d, m = data["virtio_blk"], data["copy_storage_all"], data["memory_only"]
    header = ["what", "figure"]
    rows = [
        ["virtio-blk write in the guest (dd 1M, fsync)", f"{v['write_mib_s']} MiB/s"],
        ["virtio-blk read in the guest (dd 1M, cold)", f"{v['read_mib_s']} MiB/s"],
        ["host: disk read (NVMe, 1 MiB reads)", f"{v['host_read_mib_s']} MiB/s"],
        ["host: disk sha256 (NVMe read + SHA-256)", f"{v['host_read_sha256_mib_s']} MiB/s"],
        ["guest read / host read", f"{v['read_mib_s'] / v['host_read_mib_s']:.2f}x"],
        [f"copy-storage all: {DISK_MIB} MiB disk ({DATA_MIB} MiB data) + 256 MiB guest",
         f"{d['total_ms'] / 1000:.1f} s, downtime {d['downtime_ms']} ms, "
         f"{d['wire_bytes'] / (1 << 20):.1f} MiB on the wire"],
        ["  round 0 link rate / disk data rate", f"{d['round0_mbit_s']} Mbit/s / {d.get('disk_mib_s')} MiB/s"],
        [f"memory only: {DATA_MIB} MiB memcheck", f"{m['total_ms'] / 1000:.1f} s, downtime {m['downtime_ms']} ms"],
        ["  round 0 link rate", f"{m['round0_mbit_s']} Mbit/s"],
        ["copy-storage round 0 rate / memory-only", f"{d['round0_mbit_s'] / m['round0_mbit_s']:.2f}x"],
    ]
    i, f = data["copy_storage_inc"], data["copy_storage_all_of_clone"]
    rows += [
        [f"copy-storage inc: clone of a {BASE_MIB} MiB base, {INC_MIB} MiB written, live",
         f"{i['disk_blocks']} blocks ({i['disk_blocks_per_written']}x written), "
         f"{i['wire_bytes'] / (1 << 20):.1f} MiB on the wire, {i['total_ms'] / 1000:.1f} s"],
        ["copy-storage all: the same clone back, paused",
         f"{f['disk_blocks']} blocks ({f['disk_blocks_per_written']}x written), "
         f"{f['wire_bytes'] / (1 << 20):.1f} MiB on the wire, {f['total_ms'] / 1000:.1f} s"],
        ["inc / all: bytes on the wire", f"{i['wire_bytes'] / f['wire_bytes']:.2f}x"],
    ]
    return header, rows, data
