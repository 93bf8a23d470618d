"""`image fetch`: guest images loaded into Tern's memory over HTTP from the
lab's Linux client, checked, listed by `vm images`, booted by `vm create`
and freed by `image drop`; and every way a fetch can fail, each with its
error line and nothing left allocated (`mem` free back to its value).

One QEMU Tern (SVM, 10.99.0.1) on a lab shared by the module. The client
(10.99.0.100) runs `python3 -m http.server` on a temp dir (port 8000) and
a lying server (port 8001, LIAR below) for the broken answers.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_image_fetch.py
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import LOG_ROOT, TernFactory, _report
from machine import BUILD
import netlab as netlab_mod

TERN_IP, TERN_MAC = "10.99.0.1", "52:54:00:00:0f:01"
CLIENT = "10.99.0.100"
GOOD = f"http://{CLIENT}:8000"
LIAR = f"http://{CLIENT}:8001"
MEMCHECK = os.path.join(BUILD, "guest", "memcheck.elf")

fetch_lab = netlab_mod.lab_fixture(scope="module")

# A server that answers each path with one kind of broken response.
LIAR_SERVER = r"""
import socket, struct, sys, threading, time
def reset(c):                       # abortive close: RST instead of FIN
    time.sleep(0.5)                 # what was sent has arrived
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
def answer(c):
    try:
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d:
                return
            req += d
        path = req.split(b" ")[1].decode()
        if path == "/short":        # announces 100000, sends 5000, closes
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"s" * 5000)
        elif path == "/more":       # announces 1000, sends 3000
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"m" * 3000)
        elif path == "/nolength":   # no Content-Length: ends at close
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" + b"n" * 3000)
        elif path == "/huge":       # 2 GiB: over the limit
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2147483648\r\n\r\n" + b"h" * 1000)
            time.sleep(5)
        elif path == "/oom":        # 1000 MiB: under the limit, over the host's memory
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1048576000\r\n\r\n" + b"o" * 1000)
            time.sleep(5)
        elif path == "/size":       # right, but not what size= says
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 4096\r\n\r\n" + b"z" * 4096)
        elif path == "/slow":       # 4096 bytes, one per 50 ms: a fetch that runs a while
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 4096\r\n\r\n")
            for _ in range(4096):
                c.sendall(b"w")
                time.sleep(0.05)
        elif path == "/trickle":    # 2000 bytes over ~20 s: longer than lwIP's old 15 s limit
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2000\r\n\r\n")
            for _ in range(100):
                c.sendall(b"t" * 20)
                time.sleep(0.2)
        elif path == "/rst-whole":  # every byte, then a reset
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"r" * 1000)
            reset(c)
        elif path == "/rst-early":  # half, then a reset
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"r" * 500)
            reset(c)
        elif path == "/silent":     # accepts the request, never answers
            time.sleep(60)
        else:
            c.sendall(b"HTTP/1.0 500 Broken\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8001))
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=answer, args=(c,), daemon=True).start()
"""


@pytest.fixture(scope="module")
def lab(fetch_lab, tmp_path_factory):
    """The lab with both servers running in the client namespace; the
    good server's directory holds memcheck and a 3 MiB random file."""
    root = str(tmp_path_factory.mktemp("www"))
    shutil.copyfile(MEMCHECK, os.path.join(root, "memcheck.elf"))
    with open(os.path.join(root, "blob.bin"), "wb") as f:
        f.write(os.urandom(3 << 20))
    fetch_lab.client_http_server(root, 8000)
    liar = fetch_lab.client_popen([sys.executable, "-c", LIAR_SERVER], stdout=subprocess.PIPE,
                                  text=True)
    assert liar.stdout.readline().strip() == "ready"
    fetch_lab.www = root
    return fetch_lab


@pytest.fixture(scope="module")
def factory():
    f = TernFactory(os.path.join(LOG_ROOT, "test_image_fetch"))
    yield f
    f.close()


@pytest.fixture(scope="module")
def host(lab, factory):
    tap = lab.add_tap()
    c = factory.boot("qemu", name="qemu", tap=tap, mac=TERN_MAC, cmdline=f"ip={TERN_IP}/24",
                     wrap=lab.wrap([]), boot_timeout=240)
    assert lab.wait_reachable(TERN_IP, timeout=60)
    return c


@pytest.fixture(autouse=True)
def _logs_on_failure(request, factory):
    yield
    _report(request, factory)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch(host, line, timeout=120):
    """Runs an `image fetch` line; returns its end line (the one after the
    command: `image NAME: fetched ...` or `error: image fetch NAME: ...`)."""
    name = line.split()[2]
    t = host.mark()
    out = host.cmd(line)
    pat = rf"^(image {re.escape(name)}: fetched [^\n]*|error: image fetch {re.escape(name)}: [^\n]*)\n"
    m = re.search(pat, out, re.M)
    if m:  # refused at once
        return m.group(1)
    assert f"image {name}: fetching " in out, out
    return host.wait_output(pat, timeout, since=t).group(1).rstrip("\r")


def test_fetched_memcheck_is_listed_boots_and_drop_gives_memory_back(host):
    digest = sha256(MEMCHECK)
    size = os.path.getsize(MEMCHECK)
    before = host.mem_free_kib()
    end = fetch(host, f"image fetch mc {GOOD}/memcheck.elf sha256={digest}")
    assert end == f"image mc: fetched {size} bytes (sha256 {digest})", end
    used = before - host.mem_free_kib()
    assert used == (size + 4095) // 4096 * 4, (before, used)  # whole pages, one allocation

    rows = host.vm_images()
    assert rows["mc"] == (str(size), digest, f"{GOOD}/memcheck.elf"), rows
    # The boot module and the fetched copy are the same bytes.
    assert rows["memcheck"] == (str(size), digest, "boot module"), rows

    t = host.mark()
    out = host.cmd('vm create fm image=mc mem=16 args="verify=1 rate=2000"')
    assert "vm fm: created (16 MiB, mc)" in out, out
    host.wait_output(r"^\[fm\] memcheck: start mem=16 mode=run", 120, since=t)
    host.wait_output(r"^\[fm\] memcheck: gen=\d+ verified=\d+ errors=0", 240, since=t)

    # vm create copied the image: dropping it leaves the guest running.
    out = host.cmd("image drop mc")
    assert f"image mc: dropped ({(size + 4095) // 4096 * 4} KiB freed)" in out, out
    assert "mc" not in host.vm_images()
    t = host.mark()
    host.wait_output(r"^\[fm\] memcheck: gen=\d+ verified=\d+ errors=0", 120, since=t)
    assert "vm fm: destroyed" in host.cmd("vm destroy fm")
    assert host.mem_free_kib() == before
    out = host.cmd("vm create fm2 image=mc mem=16")
    assert "error: vm create fm2: no such image" in out, out


def test_fetch_without_sha256_reports_the_hash_and_a_big_file_arrives_whole(host, lab):
    path = os.path.join(lab.www, "blob.bin")
    digest, size = sha256(path), os.path.getsize(path)
    before = host.mem_free_kib()
    end = fetch(host, f"image fetch blob {GOOD}/blob.bin size={size}", timeout=300)
    assert end == f"image blob: fetched {size} bytes (sha256 {digest})", end
    assert host.vm_images()["blob"][:2] == (str(size), digest)
    assert "image blob: dropped" in host.cmd("image drop blob")
    assert host.mem_free_kib() == before


FAILURES = [
    # (line, error after "error: image fetch NAME: ")
    (f"image fetch bad {GOOD}/nothing-here.elf", r"the server answered 404 File not found"),
    (f"image fetch bad http://{CLIENT}:8009/memcheck.elf", r"connection refused"),
    (f"image fetch bad {LIAR}/short", r"short read: the server closed the connection after 5000 of 100000 bytes"),
    (f"image fetch bad {LIAR}/more", r"the server sent more than the 1000 bytes it announced"),
    (f"image fetch bad {LIAR}/nolength", r"the server sent no Content-Length"),
    (f"image fetch bad {LIAR}/huge", r"the server announces 2147483648 bytes, more than the 1024 MiB an image may have"),
    (f"image fetch bad {LIAR}/oom", r"out of memory: 1048576000 bytes need 1024000 KiB, \d+ KiB free"),
    (f"image fetch bad {LIAR}/size size=4000", r"wrong size: the server announces 4096 bytes, size= says 4000"),
    (f"image fetch bad {GOOD}/memcheck.elf sha256={'0' * 64}",
     r"sha256 mismatch: got [0-9a-f]{64}, expected 0{64}"),
    (f"image fetch bad {LIAR}/teapot", r"the server answered 500 Broken"),
    (f"image fetch bad {LIAR}/rst-early", r"the connection was reset after 500 of 1000 bytes"),
]


@pytest.mark.parametrize("line,why", FAILURES, ids=[
    "404", "refused", "short-read", "more-than-announced", "no-content-length", "over-limit",
    "out-of-memory", "size-mismatch", "sha256-mismatch", "status-500", "reset-midway"])
def test_failed_fetch_says_why_and_leaves_nothing_allocated(host, line, why):
    before = host.mem_free_kib()
    end = fetch(host, line)
    assert re.fullmatch(r"error: image fetch bad: " + why + r".*", end), end
    assert "bad" not in host.vm_images()
    assert host.mem_free_kib() == before
    # the name is free again
    out = host.cmd("image drop bad")
    assert "error: image drop bad: no such image" in out, out


BAD_LINES = [
    (f"image fetch u1 https://{CLIENT}/x", r"https:// is not supported: .*no TLS here"),
    (f"image fetch u2 ftp://{CLIENT}/x", r"not an http:// URL"),
    ("image fetch u3 http:///x", r"the URL has no host"),
    ("image fetch u4 http://images.example.org/vmlinuz", r"the host is not a dotted IPv4 address \(Tern has no DNS resolver"),
    (f"image fetch u5 http://{CLIENT}:99999/x", r"the port is not a number from 1 to 65535"),
    (f"image fetch u6 http://{CLIENT}:0/x", r"the port is not a number from 1 to 65535"),
    (f"image fetch memcheck {GOOD}/memcheck.elf", r"the name is in use by a boot module"),
    (f"image fetch bad/name {GOOD}/memcheck.elf", r"bad name"),
    (f"image fetch u7 {GOOD}/x sha256=abc", r"sha256= needs 64 hex digits"),
]


@pytest.mark.parametrize("line,why", BAD_LINES, ids=[
    "https", "ftp", "no-host", "dns-name", "port-too-big", "port-zero", "boot-module-name",
    "bad-name", "bad-sha256"])
def test_bad_request_is_refused_at_once(host, line, why):
    before = host.mem_free_kib()
    out = host.cmd(line)
    name = line.split()[2]
    assert re.search(rf"^error: image fetch {re.escape(name)}: {why}", out, re.M), out
    assert "fetching" not in out
    assert host.mem_free_kib() == before


def test_second_fetch_is_refused_while_one_runs_and_cancel_ends_it(host):
    before = host.mem_free_kib()
    t = host.mark()
    out = host.cmd(f"image fetch slow {LIAR}/slow")
    assert "image slow: fetching" in out, out
    out = host.cmd(f"image fetch other {GOOD}/memcheck.elf")
    assert re.search(r"^error: image fetch other: another fetch is running", out, re.M), out
    out = host.cmd(f"image fetch slow {GOOD}/memcheck.elf")
    assert re.search(r"^error: image fetch slow: the name is in use by the fetch under way", out, re.M), out
    rows = host.vm_images()
    assert rows["slow"][0] == "-" and "(fetching" in rows["slow"][2], rows
    out = host.cmd("image drop slow")
    assert "error: image drop slow: it is still being fetched" in out, out
    host.cmd("image cancel")
    host.wait_output(r"^error: image fetch slow: cancelled", 30, since=t)
    assert "slow" not in host.vm_images()
    assert host.mem_free_kib() == before
    assert "error: image cancel: no fetch is running" in host.cmd("image cancel")
    # and the next fetch runs
    end = fetch(host, f"image fetch again {GOOD}/memcheck.elf")
    assert end.startswith("image again: fetched "), end
    assert "image again: dropped" in host.cmd("image drop again")
    assert host.mem_free_kib() == before


def test_boot_module_cannot_be_dropped(host):
    out = host.cmd("image drop memcheck")
    assert "error: image drop memcheck: a boot module cannot be dropped" in out, out
    assert "memcheck" in host.vm_images()


def test_slow_transfer_is_not_cut_but_a_silent_server_times_out(host):
    """lwIP's client gave up 15 s after the request, whatever arrived
    (net/patches/http_client-fixes.patch): now only silence ends it."""
    before = host.mem_free_kib()
    t0 = time.monotonic()
    end = fetch(host, f"image fetch slowok {LIAR}/trickle", timeout=120)
    took = time.monotonic() - t0
    assert end.startswith("image slowok: fetched 2000 bytes (sha256 "), end
    assert hashlib.sha256(b"t" * 2000).hexdigest() in end
    print(f"trickle: {took:.1f} s")
    assert "image slowok: dropped" in host.cmd("image drop slowok")
    end = fetch(host, f"image fetch mute {LIAR}/silent", timeout=120)
    assert end == "error: image fetch mute: timed out: no answer from the server for 30 s", end
    assert host.mem_free_kib() == before


def test_fetch_and_boot_on_a_vmx_host(lab, factory):
    """The same on Bochs (VMX): fetched over its e1000, booted under VMX."""
    digest = sha256(MEMCHECK)
    bo = factory.boot("bochs", name="bochs", tap=lab.add_tap(), mac="52:54:00:00:0f:02",
                      cmdline="ip=10.99.0.2/24", wrap=lab.wrap([]), boot_timeout=300)
    assert lab.wait_reachable("10.99.0.2", timeout=120)
    before = bo.mem_free_kib()
    end = fetch(bo, f"image fetch mc {GOOD}/memcheck.elf sha256={digest}", timeout=240)
    assert end == f"image mc: fetched {os.path.getsize(MEMCHECK)} bytes (sha256 {digest})", end
    t = bo.mark()
    out = bo.cmd('vm create vx image=mc mem=8 args="verify=1 rate=500"')
    assert "vm vx: created (8 MiB, mc)" in out, out
    bo.wait_output(r"^\[vx\] memcheck: gen=\d+ verified=\d+ errors=0", 300, since=t)
    assert "vm vx: destroyed" in bo.cmd("vm destroy vx")
    assert "image mc: dropped" in bo.cmd("image drop mc")
    assert bo.mem_free_kib() == before


def test_reset_after_the_whole_body_still_delivers_the_image(host):
    """A server that ends with a reset instead of a FIN, after every byte
    it announced, has sent the whole image."""
    end = fetch(host, f"image fetch rst {LIAR}/rst-whole sha256={hashlib.sha256(b'r' * 1000).hexdigest()}")
    assert end.startswith("image rst: fetched 1000 bytes"), end
    assert "image rst: dropped" in host.cmd("image drop rst")

