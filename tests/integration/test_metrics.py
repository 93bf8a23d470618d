"""Prometheus metrics (`GET /metrics`, docs/mgmt-api.md "Metrics"): two QEMU
Terns on a lab bridge serve them on port 80 from boot. The Linux client reads
them raw (the text format line by line, the figures against the console's),
sends what is not a scrape (another path, another method, garbage, an
oversize request, idle connections: each gets its status or is closed, and a
scrape still works), and runs Debian's own Prometheus server, which scrapes
both hosts every second while a writing guest migrates from A to B: both
targets are up, the guest's dirty pages show a rate while it is copied, and
each host counts the migration in its direction.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_metrics.py
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from conftest import LOG_ROOT
from hostpair import boot_pair
from prom import PROMETHEUS, Prometheus

IP_A, IP_B = "10.99.0.1", "10.99.0.2"

# A sample line of the text format 0.0.4: name, optional labels, value.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})?'
                    r' (-?[0-9]+(?:\.[0-9]+)?)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

# Run in the client namespace: send argv[3] (hex) to argv[1]:argv[2], print
# what comes back (until the server closes), as JSON {"data": ..., "error": ...}.
_RAW = r"""
import json, socket, sys
out = {"data": "", "error": None}
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
    s.settimeout(15)
    s.sendall(bytes.fromhex(sys.argv[3]))
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
    out["data"] = b"".join(chunks).decode("utf-8", "replace")
except OSError as e:
    out["error"] = type(e).__name__ + ": " + str(e)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def pair():
    from netlab import Lab
    with Lab() as lab, boot_pair(lab, "qemu", logdir=os.path.join(LOG_ROOT, "test_metrics"),
                                 mem_mib=512) as p:
        yield p


def raw(lab, ip, request: bytes, port=80):
    """What the server at ip answers to request, or the error connecting."""
    r = lab.client([sys.executable, "-c", _RAW, ip, str(port), request.hex()], timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    return out["data"], out["error"]


def scrape(lab, ip):
    """The samples of GET /metrics: {(name, frozenset(labels)): value}, after
    checking the status, the content type and every line's syntax."""
    data, err = raw(lab, ip, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
    assert err is None, err
    head, _, body = data.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200 OK\r\n"), head
    assert "Content-Type: text/plain; version=0.0.4" in head, head
    length = int(re.search(r"Content-Length: (\d+)", head).group(1))
    assert len(body.encode()) == length, (length, len(body))
    samples, typed = {}, set()
    for line in body.splitlines():
        if line.startswith("# HELP "):
            continue
        m = re.match(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$", line)
        if m:
            assert m.group(1) not in typed, f"family {m.group(1)} typed twice"
            typed.add(m.group(1))
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) in typed, f"{m.group(1)} before its # TYPE"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in samples, f"sample repeated: {line}"
        samples[key] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_metrics_show_the_host_its_guest_nic_and_switch(pair):
    a, lab = pair.a, pair.lab
    out = a.cmd('vm create w image=memcheck mem=32 args="rate=2000 verify=1"')
    assert "created" in out, out
    try:
        time.sleep(1)
        s1 = scrape(lab, IP_A)
        free_kib = int(re.search(r"^free: +\d+ MiB \((\d+) KiB\)", a.cmd("mem"), re.M).group(1))
        # Nothing allocates between the scrape and `mem` here.
        assert value(s1, "tern_memory_bytes", kind="free") == free_kib * 1024
        assert value(s1, "tern_memory_bytes", kind="total") >= 512 * 1024 * 1024 * 0.9
        assert value(s1, "tern_guests", state="running") == 1
        assert value(s1, "tern_guests", state="stopped") == 0
        assert value(s1, "tern_guest_memory_bytes", guest="w") == 32 << 20
        assert value(s1, "tern_guest_dirty_log", guest="w") == 0
        assert value(s1, "tern_migrations_total", direction="out", result="completed") == 0
        assert value(s1, "tern_nic_packets_total", nic="e1000.0", direction="rx") > 0
        time.sleep(2)
        s2 = scrape(lab, IP_A)
        assert value(s2, "tern_guest_exits_total", guest="w") > value(s1, "tern_guest_exits_total", guest="w")
        assert value(s2, "tern_uptime_seconds") > value(s1, "tern_uptime_seconds")
        # Each scrape is a frame or more through A's NIC, counted.
        assert value(s2, "tern_nic_packets_total", nic="e1000.0", direction="tx") > \
            value(s1, "tern_nic_packets_total", nic="e1000.0", direction="tx")
        ports = {dict(k[1]).get("port") for k in s2 if k[0] == "tern_vswitch_frames_total"}
        assert len(ports) >= 3, ports  # the uplink, Tern's own port, the guest's
        # B has no guest.
        assert value(scrape(lab, IP_B), "tern_guests", state="running") == 0
    finally:
        a.cmd("vm destroy w")


def test_what_is_not_a_scrape_gets_its_status_and_cannot_block_one(pair):
    a, lab = pair.a, pair.lab
    before = a.cmd("mgmt")
    cases = [
        (b"GET /other HTTP/1.1\r\n\r\n", "404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405 Method Not Allowed"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 3000 + b"\r\n\r\n",
         "431 Request Header Fields Too Large"),
    ]
    for request, status in cases:
        data, err = raw(lab, IP_A, request)
        assert err is None and data.startswith(f"HTTP/1.1 {status}\r\n"), (request[:40], data, err)
    data, err = raw(lab, IP_A, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert data.startswith("HTTP/1.1 200 OK\r\n") and data.endswith("\r\n\r\n"), data

    # Eight connections that never send a byte (twice the server's slots):
    # the oldest are dropped, and a scrape is still answered.
    idle = lab.client_popen([sys.executable, "-c",
                             "import socket, sys, time\n"
                             f"s = [socket.create_connection(('{IP_A}', 80), 5) for _ in range(8)]\n"
                             "print('open', flush=True)\ntime.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert idle.stdout.readline().strip() == "open"
        assert value(scrape(lab, IP_A), "tern_guests", state="running") == 0
    finally:
        idle.kill()
        idle.wait()
    st = a.cmd("mgmt")
    m0 = re.search(r"\((\d+) scrapes, (\d+) refused, (\d+) dropped\)", before)
    m1 = re.search(r"serving GET /metrics on TCP port 80 \((\d+) scrapes, (\d+) refused, (\d+) dropped\)", st)
    assert m0 and m1, (before, st)
    assert int(m1.group(2)) - int(m0.group(2)) == 4, st  # the four error statuses
    assert int(m1.group(3)) - int(m0.group(3)) >= 4, st  # idle ones evicted

    # Off: nothing listens; on again: served.
    assert "metrics: off" in a.cmd("mgmt metrics off")
    data, err = raw(lab, IP_A, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert err and "Connection" in err, (data, err)
    assert "serving GET /metrics on TCP port 80" in a.cmd("mgmt metrics on")
    assert scrape(lab, IP_A)
    assert "usage" in a.cmd("mgmt metrics maybe").lower()


def test_prometheus_scrapes_both_hosts_and_sees_a_migration(pair):
    assert os.access(PROMETHEUS, os.X_OK), f"{PROMETHEUS} missing: `make` fetches it (mk/fleet.mk)"
    a, b, lab = pair.a, pair.b, pair.lab
    prom = Prometheus(lab, os.path.join(LOG_ROOT, "test_metrics", "prometheus"), [IP_A, IP_B])
    try:
        up = prom.wait("up", lambda r: len(r) == 2 and all(v == 1 for v in r.values()), timeout=90)
        print("targets up:", sorted(dict(k)["instance"] for k in up))
        out = a.cmd('vm create w image=memcheck mem=32 args="rate=500 verify=1"')
        assert "created" in out, out
        time.sleep(2)
        t = a.mark()
        t_start = time.time()
        # Slow enough that Prometheus scrapes A during the copy.
        assert "started" in a.cmd(f"migrate w {IP_B} --bandwidth 40")
        m = a.wait_output(r"^result: +(.*)$", 180, since=t)
        assert m.group(1) == "completed, guest running on the destination", a.log.text[t:]
        t_end = time.time()
        done = 'tern_migrations_total{result="completed"}'
        res = prom.wait(done, lambda r: sum(r.values()) == 2)
        by_dir = {(dict(k)["instance"], dict(k)["direction"]): v for k, v in res.items() if v}
        assert by_dir == {(f"{IP_A}:80", "out"): 1, (f"{IP_B}:80", "in"): 1}, res
        # The guest's dirty pages rose at a rate while A copied it.
        rate = prom.query(f'max_over_time(rate(tern_guest_dirty_pages_total{{guest="w"}}[3s])'
                          f'[{int(t_end - t_start) + 5}s:1s])', at=t_end)
        assert rate and max(rate.values()) > 0, rate
        print(f"dirty pages/s of w during its copy (Prometheus): {max(rate.values()):.0f}")
        prom.wait('tern_guests{state="running"}',
                  lambda r: r.get((("instance", f"{IP_B}:80"), ("job", "tern"), ("state", "running"))) == 1
                  and r.get((("instance", f"{IP_A}:80"), ("job", "tern"), ("state", "running"))) == 0)
        down = prom.query(f'tern_migration_last_downtime_seconds{{instance="{IP_A}:80"}}')
        assert down and 0 < list(down.values())[0] < 5, down
    finally:
        prom.close()
        for h in (a, b):
            if "w" in h.vm_list():
                h.cmd("vm destroy w")
