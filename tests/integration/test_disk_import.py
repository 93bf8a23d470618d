"""`disk import` and `disk sha256` (docs/storage.md): an HTTP body streamed
onto a volume of QEMU's NVMe disk, checked against sha256=, hashed back
through the disk, and every way an import can fail, each with its one
error line and the state it leaves the volume in.

One QEMU Tern (SVM, 10.99.0.1) with a blank 64 MiB NVMe image and a lab
shared by the module. The client (10.99.0.100) serves a random 8 MiB file
with `python3 -m http.server` (port 8000), and a server that stalls after
200 KiB of a 1 MiB body and trickles the rest (port 8001) for the job rules and `disk cancel`.
The image file is read from the host side to prove where the bytes landed.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_disk_import.py
"""
import hashlib
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import LOG_ROOT, TernFactory, _report
import netlab as netlab_mod

TERN_IP, TERN_MAC = "10.99.0.1", "52:54:00:00:0f:11"
CLIENT = "10.99.0.100"
GOOD = f"http://{CLIENT}:8000"
STALL = f"http://{CLIENT}:8001"
MIB = 1 << 20
BLOB = 8 * MIB
VOL_AT = 1 * MIB  # `v`, the first volume: right after the 1 MiB metadata area
SMALL_AT = 17 * MIB  # `small`, 1 MiB, after `v`'s 16

import_lab = netlab_mod.lab_fixture(scope="module")

# Announces 1 MiB, sends 200 KiB at once, then 1 KiB every 250 ms: an import
# that stays under way (and prints progress) for minutes.
STALL_SERVER = r"""
import socket, sys, threading, time
def answer(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d:
                return
            req += d
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"p" * 204800)
        for _ in range(400):
            time.sleep(0.25)
            c.sendall(b"q" * 1024)
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8001))
s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=answer, args=(c,), daemon=True).start()
"""


@pytest.fixture(scope="module")
def lab(import_lab, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("www"))
    with open(os.path.join(root, "blob.bin"), "wb") as f:
        f.write(os.urandom(BLOB))
    import_lab.client_http_server(root, 8000)
    stall = import_lab.client_popen([sys.executable, "-c", STALL_SERVER], stdout=subprocess.PIPE,
                                    text=True)
    assert stall.stdout.readline().strip() == "ready"
    import_lab.www = root
    return import_lab


@pytest.fixture(scope="module")
def factory():
    f = TernFactory(os.path.join(LOG_ROOT, "test_disk_import"))
    yield f
    f.close()


@pytest.fixture(scope="module")
def host(lab, factory):
    """Tern with volumes `v` (16 MiB) and `small` (1 MiB) on a blank disk."""
    os.makedirs(factory.logdir, exist_ok=True)
    image = os.path.join(factory.logdir, "nvme.img")
    with open(image, "wb") as f:
        f.truncate(64 * MIB)
    c = factory.boot("qemu", name="qemu", tap=lab.add_tap(), mac=TERN_MAC,
                     cmdline=f"ip={TERN_IP}/24", wrap=lab.wrap([]), nvme=image, boot_timeout=240)
    assert lab.wait_reachable(TERN_IP, timeout=60)
    assert "new volume table" in c.cmd("disk init")
    assert "disk v: created, 16 MiB at LBA 2048" in c.cmd("disk create v size=16M")
    assert "disk small: created, 1 MiB at LBA 34816" in c.cmd("disk create small size=1M")
    c.image = image
    return c


@pytest.fixture(autouse=True)
def _logs_on_failure(request, factory):
    yield
    _report(request, factory)


def blob(lab):
    with open(os.path.join(lab.www, "blob.bin"), "rb") as f:
        return f.read()


def on_disk(host, at, n):
    """n bytes of the NVMe image at offset `at`, read from the host's side."""
    with open(host.image, "rb") as f:
        f.seek(at)
        return f.read(n)


def end_line(host, line, kind, name, timeout=180):
    """Runs a `disk import` or `disk sha256` line; returns its end line (the
    one after the command), or the error it was refused with at once."""
    verb = {"import": "imported", "sha256": "sha256", "read": "read"}[kind]
    pat = rf"^(disk {re.escape(name)}: {verb} [^\n]*|error: disk {kind} {re.escape(name)}: [^\n]*)\n"
    t = host.mark()
    out = host.cmd(line)
    m = re.search(pat, out, re.M)
    if m:
        return m.group(1)
    assert re.search(rf"^disk {re.escape(name)}: (importing|hashing|reading) ", out, re.M), out
    return host.wait_output(pat, timeout, since=t).group(1).rstrip("\r")


def test_import_lands_on_the_volume_and_disk_sha256_reads_it_back(host, lab):
    data = blob(lab)
    digest = hashlib.sha256(data).hexdigest()
    t = host.mark()
    end = end_line(host, f"disk import v {GOOD}/blob.bin sha256={digest}", "import", "v")
    assert re.fullmatch(rf"disk v: imported {BLOB} bytes in \d+\.\d s \(sha256 {digest}\)", end), end
    # Progress, at most one line a second.
    progress = re.findall(r"^disk v: importing, [\d.]+ of 8\.0 MiB \(\d+%\), [\d.]+ MiB/s",
                          host.log.text[t:], re.M)
    print(f"import: {end}; {len(progress)} progress lines")
    # Byte for byte at the volume's start; the rest of the volume as it was (zeros).
    assert on_disk(host, VOL_AT, BLOB) == data
    assert on_disk(host, VOL_AT + BLOB, 16 * MIB - BLOB) == bytes(16 * MIB - BLOB)

    end = end_line(host, f"disk sha256 v bytes={BLOB}", "sha256", "v")
    assert end == f"disk v: sha256 {digest} ({BLOB} bytes)", end
    # The whole volume by default: the file, then the blank disk's zeros.
    t = host.mark()
    end = end_line(host, "disk sha256 v", "sha256", "v")
    whole = hashlib.sha256(data + bytes(16 * MIB - BLOB)).hexdigest()
    assert end == f"disk v: sha256 {whole} ({16 * MIB} bytes)", end
    for line in re.findall(r"^disk v: hashing, [^\n]*", host.log.text[t:], re.M):
        assert re.fullmatch(r"disk v: hashing, [\d.]+ of 16\.0 MiB \(\d+%\), [\d.]+ MiB/s\r?", line), line
    print(host.cmd("cpu loop"))
    end = end_line(host, "disk sha256 v bytes=1000", "sha256", "v")
    assert end == f"disk v: sha256 {hashlib.sha256(data[:1000]).hexdigest()} (1000 bytes)", end
    out = host.cmd("disk import")
    assert f"v: imported, sha256= matched, {BLOB} bytes from {GOOD}/blob.bin" in out, out
    # `disk read`: the same bytes read, no hash, and how fast.
    end = end_line(host, "disk read v", "read", "v")
    m = re.fullmatch(rf"disk v: read {16 * MIB} bytes in (\d+) ms, ([\d.]+) MiB/s", end)
    assert m and float(m.group(2)) > 0, end
    print(f"disk read: {end}")


def test_a_wrong_sha256_names_both_hashes_and_the_volume_is_not_trusted(host, lab):
    digest = hashlib.sha256(blob(lab)).hexdigest()
    end = end_line(host, f"disk import v {GOOD}/blob.bin sha256={'ab' * 32}", "import", "v")
    assert end == (f"error: disk import v: sha256 mismatch: got {digest}, expected {'ab' * 32}; "
                   f"the volume holds the {BLOB} bytes received: do not use it"), end
    out = host.cmd("disk import")
    assert "v: not trusted: the body did not match sha256=" in out, out


FAILURES = [
    # (volume, URL, error after "error: disk import NAME: ")
    ("v", f"{GOOD}/nothing-here.bin", "the server answered 404 File not found; the volume is unchanged"),
    ("v", f"http://{CLIENT}:8009/blob.bin", "connection refused; the volume is unchanged"),
    ("small", f"{GOOD}/blob.bin",
     f"the server announces {BLOB} bytes, more than the volume's 1 MiB (1048576 bytes); "
     "the volume is unchanged"),
]


@pytest.mark.parametrize("vol,url,why", FAILURES, ids=["404", "refused", "longer-than-volume"])
def test_a_failed_import_says_why_and_leaves_the_volume_unchanged(host, vol, url, why):
    at, size = (VOL_AT, 16 * MIB) if vol == "v" else (SMALL_AT, MIB)
    before = on_disk(host, at, size)
    end = end_line(host, f"disk import {vol} {url}", "import", vol)
    assert end == f"error: disk import {vol}: {why}", end
    assert on_disk(host, at, size) == before
    assert host.version().startswith("Tern ")


BAD_LINES = [
    (f"disk import nosuch {GOOD}/blob.bin", "disk import nosuch: no such volume"),
    (f"disk import v {GOOD}/blob.bin sha256=abc", "disk import v: sha256= needs 64 hex digits"),
    (f"disk import v {GOOD}/blob.bin colour=red", "disk import v: unknown option 'colour=red'"),
    (f"disk import v https://{CLIENT}/blob.bin", "disk import v: https:// is not supported"),
    ("disk sha256 nosuch", "disk sha256 nosuch: no such volume"),
    ("disk sha256 small bytes=1048577", "disk sha256 small: bytes=1048577 is more than the volume's 1048576 bytes"),
    ("disk sha256 small bytes=0", "disk sha256 small: bytes=0 is not a positive number"),
    ("disk read small bytes=1048577", "disk read small: bytes=1048577 is more than the volume's 1048576 bytes"),
    ("disk cancel", "disk cancel: no disk import or sha256 is running"),
]


@pytest.mark.parametrize("line,error", BAD_LINES, ids=[
    "no-volume", "bad-sha256", "unknown-option", "https", "sha256-no-volume", "bytes-too-many",
    "bytes-zero", "read-too-many", "cancel-nothing"])
def test_a_bad_line_is_refused_at_once(host, line, error):
    out = host.cmd(line)
    errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: " + error), out
    assert "importing" not in out and "hashing" not in out, out


def test_one_job_at_a_time_and_cancel_says_what_the_volume_holds(host):
    t = host.mark()
    out = host.cmd(f"disk import small {STALL}/stall")
    assert f"disk small: importing {STALL}/stall" in out, out
    # The first 200 KiB put one 128 KiB buffer on the disk; the trickle
    # that follows fills the second no sooner than 14 s later.
    line = host.wait_output(r"^disk small: importing, [^\n]*\n", 20, since=t).group(0).strip()
    assert re.fullmatch(r"disk small: importing, 0\.[2-5] of 1\.0 MiB \((19|[2-4]\d)%\), "
                        r"0\.\d MiB/s", line), line
    out = host.cmd("disk import")
    m = re.search(rf"^small: importing, (\d+) of 1048576 bytes, from {re.escape(STALL)}/stall$", out, re.M)
    assert m and 204800 <= int(m.group(1)) < 262144, out
    for line, kind, name in ((f"disk import v {GOOD}/blob.bin", "import", "v"),
                             ("disk sha256 v", "sha256", "v")):
        out = host.cmd(line)
        assert (f"error: disk {kind} {name}: another disk job is running (import of small; one at "
                "a time: wait for its end line, or 'disk cancel')") in out, out
    out = host.cmd(f"image fetch img {GOOD}/blob.bin")
    assert "error: image fetch img: another fetch is running" in out, out
    t = host.mark()
    host.cmd("disk cancel")
    end = host.wait_output(r"^error: disk import small: [^\n]*\n", 30, since=t).group(0).strip()
    assert end == ("error: disk import small: cancelled; the volume is incomplete (its first "
                   "131072 bytes were overwritten)"), end
    assert on_disk(host, SMALL_AT, 131072) == b"p" * 131072
    assert on_disk(host, SMALL_AT + 131072, MIB - 131072) == bytes(MIB - 131072)
    out = host.cmd("disk import")
    assert f"small: incomplete: the import failed part way, 131072 bytes from {STALL}/stall" in out, out
    # A sha256 job is cancelled the same way, and the next job runs.
    t = host.mark()
    out = host.cmd("disk sha256 v")
    assert "disk v: hashing 16777216 bytes" in out, out
    host.cmd("disk cancel")
    host.wait_output(r"^error: disk sha256 v: cancelled", 30, since=t)
    end = end_line(host, "disk sha256 small bytes=4096", "sha256", "small")
    assert end == f"disk small: sha256 {hashlib.sha256(b'p' * 4096).hexdigest()} (4096 bytes)", end


def test_an_import_whose_volume_is_deleted_stops_before_its_next_write(host):
    """`disk delete` of the volume under an import (not refused today: the
    in-use marks are VMs'): the import notices at the next piece of the
    body and ends, so its space, free again, is never written."""
    t = host.mark()
    assert "disk small: importing" in host.cmd(f"disk import small {STALL}/stall")
    host.wait_output(r"^disk small: importing, ", 20, since=t)
    out = host.cmd("disk delete small")
    if "error: disk delete small:" in out:  # refused while the import runs: also safe
        host.cmd("disk cancel")
        host.wait_output(r"^error: disk import small: cancelled", 30, since=t)
        return
    assert "disk small: deleted, 1 MiB free again" in out, out
    end = host.wait_output(r"^error: disk import small: [^\n]*\n", 30, since=t).group(0).strip()
    assert end == "error: disk import small: the volume was deleted during the import", end
    assert "small" not in host.cmd("disk import")
    assert host.version().startswith("Tern ")
