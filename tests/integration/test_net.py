"""Tern's own networking on a real (emulated) wire: the e1000 driver, lwIP,
the vswitch uplink and the `net` commands, in the Linux network lab.

Two QEMU Tern hosts, A and B, share one lab for the whole module (booting
is the slow part); the Linux client (10.99.0.100) pings, captures and sends
TCP. One Bochs host joins for its own test. Run as root:

    cd tests/integration && /usr/bin/python3 -m pytest -v test_net.py

Data integrity: lwiperf discards what it receives, so the 64 MiB transfers
are also made with `net xfer`, whose receiver prints the CRC-32 of every
byte it got; the sender (Tern's `net xfer send`, or Python's zlib on the
client) prints the CRC-32 of what it sent, and the two must be equal.
Figures (Mbit/s, RTT) are printed, never asserted: they go to `make bench`.
"""
import os
import re
import sys
import time

import pytest

from conftest import LOG_ROOT
from hostpair import boot_pair
import netlab as netlab_mod

IP_A, MAC_A = "10.99.0.1", "52:54:00:00:01:0a"
IP_B, MAC_B = "10.99.0.2", "52:54:00:00:01:0b"
IP_BOCHS, MAC_BOCHS = "10.99.0.3", "52:54:00:00:01:0c"
CLIENT = "10.99.0.100"
MIB64 = 64 << 20

net_lab = netlab_mod.lab_fixture(scope="module")

# The client's side of a checked transfer: pseudo-random data (a 1 MiB
# random block, rotated so no 1 MiB run repeats), zlib's CRC-32 of all of it.
SENDER = r"""
import os, socket, sys, time, zlib
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=60)
blk, crc, left, i, t0 = os.urandom(1 << 20), 0, n, 0, time.time()
while left:
    r = (i * 7919) % len(blk)
    b = (blk[r:] + blk[:r])[:left]
    s.sendall(b)
    crc, left, i = zlib.crc32(b, crc), left - len(b), i + 1
s.shutdown(socket.SHUT_WR)
s.recv(1)
print("sent %d bytes, crc32 %08x, %.1f Mbit/s" % (n, crc, n * 8 / 1e6 / (time.time() - t0)))
"""


# A DHCP server for one lease (RFC 2131 offer and ack, RFC 2132 options),
# enough for lwIP's client: in the client namespace, on eth0.
DHCP_SERVER = r"""
import socket, struct, sys
ifname, server, lease, mask, router = sys.argv[1:6]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
s.bind(("0.0.0.0", 67))
print("ready", flush=True)
ip = socket.inet_aton
while True:
    d, _ = s.recvfrom(2048)
    if len(d) < 240 or d[0] != 1 or d[236:240] != b"\x63\x82\x53\x63":
        continue
    opts, i = {}, 240
    while i + 1 < len(d) and d[i] != 255:
        if d[i] == 0:
            i += 1
            continue
        opts[d[i]] = d[i + 2:i + 2 + d[i + 1]]
        i += 2 + d[i + 1]
    kind = opts.get(53, b"\0")[0]
    if kind not in (1, 3):  # DISCOVER -> OFFER, REQUEST -> ACK
        continue
    reply = 2 if kind == 1 else 5
    p = bytes([2, 1, 6, 0]) + d[4:8] + b"\0\0" + d[10:12] + b"\0" * 4 + ip(lease) + ip(server) \
        + b"\0" * 4 + d[28:44] + b"\0" * 192 + b"\x63\x82\x53\x63"
    p += bytes([53, 1, reply, 54, 4]) + ip(server) + bytes([51, 4]) + struct.pack("!I", 3600) \
        + bytes([1, 4]) + ip(mask) + bytes([3, 4]) + ip(router) + b"\xff"
    s.sendto(p, ("255.255.255.255", 68))
    print("sent", reply, flush=True)
"""


def done_line(c, pattern, since, timeout=120):
    """The whole line (up to its newline) matching pattern, printed after `since`."""
    return c.wait_output(pattern + r"[^\n]*\n", timeout=timeout, since=since).group(0)


def ping_summary(c, ip, since, timeout=60):
    m = c.wait_output(r"--- %s: (\d+) sent, (\d+) received, (\d+)%% loss[^\n]*\n" % re.escape(ip),
                      timeout=timeout, since=since)
    return int(m.group(1)), int(m.group(2))


def tern_ping(c, ip, count=3, interval_ms=200, timeout=60):
    """`net ping` from a Tern host; returns (sent, received)."""
    mark = c.mark()
    out = c.cmd(f"net ping {ip} {count} {interval_ms}")
    assert f"PING {ip}: 56 data bytes, {count} request{'s' if count > 1 else ''}, " in out, out
    return ping_summary(c, ip, mark, timeout)


def show(c):
    """`net show` as a dict of its lines (nic, mac, ip, rx, tx, lwip)."""
    out = c.cmd("net show")
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\w+): +(.*)$", out, re.M)}


@pytest.fixture(scope="module")
def hosts(net_lab):
    """Tern A and B (QEMU, e1000 on a lab TAP, ip= on the command line),
    booted side by side; stopped (and the lab torn down) after the module."""
    with boot_pair(net_lab, "qemu", logdir=os.path.join(LOG_ROOT, "test_net"),
                   ips=(IP_A, IP_B), macs=(MAC_A, MAC_B), key=None) as pair:
        yield pair


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    """Module-scoped hosts: say where their consoles are when a test fails."""
    yield
    rep = getattr(request.node, "rep_call", None)
    h = request.node.funcargs.get("hosts")
    if rep is not None and rep.failed and h is not None:
        for log in h.logs():
            print(f"\nconsole log: {log}")
            with open(log, errors="replace") as fh:
                print(fh.read()[-2500:])


def test_boot_command_line_sets_address_and_net_show_reports_the_nic(hosts):
    s = show(hosts.a)
    assert s["nic"] == "e1000.0, link up"
    assert s["mac"] == MAC_A
    assert s["ip"] == f"{IP_A}/24, gw none (static)"
    assert re.fullmatch(r"\d+ packets, \d+ bytes, 0 drops, 0 errors", s["rx"]), s["rx"]
    assert re.fullmatch(r"\d+ packets, \d+ bytes, 0 drops, 0 errors", s["tx"]), s["tx"]
    assert "checksum errors" in s["lwip"]


def test_tern_a_and_b_ping_each_other(hosts):
    assert tern_ping(hosts.a, IP_B) == (3, 3)
    assert tern_ping(hosts.b, IP_A) == (3, 3)


def test_client_pings_both_and_both_ping_the_client(hosts):
    lab = hosts.lab
    assert lab.wait_reachable(IP_A, timeout=20) and lab.wait_reachable(IP_B, timeout=20)
    for ip in (IP_A, IP_B):
        cp = lab.client(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", ip])
        assert " 0% packet loss" in cp.stdout, cp.stdout
    assert tern_ping(hosts.a, CLIENT) == (3, 3)
    assert tern_ping(hosts.b, CLIENT) == (3, 3)


def test_net_arp_shows_the_peers(hosts):
    client_mac = hosts.lab.client_mac.lower()
    for c, peer_ip, peer_mac in ((hosts.a, IP_B, MAC_B), (hosts.b, IP_A, MAC_A)):
        assert tern_ping(c, peer_ip, count=1) == (1, 1)
        assert tern_ping(c, CLIENT, count=1) == (1, 1)
        out = c.cmd("net arp")
        assert re.search(r"^ADDRESS +MAC$", out, re.M), out
        assert re.search(rf"^{re.escape(peer_ip)} +{peer_mac}$", out, re.M), out
        assert re.search(rf"^{re.escape(CLIENT)} +{client_mac}$", out, re.M), out
        assert re.search(r"^\d+ entr(y|ies)$", out, re.M), out


def test_net_switch_shows_ports_counters_and_learned_macs(hosts):
    assert tern_ping(hosts.a, IP_B, count=1) == (1, 1)
    assert hosts.lab.ping(IP_A)
    out = hosts.a.cmd("net switch")
    assert re.search(r"^0 +e1000\.0 +uplink +[1-9]\d* ", out, re.M), out
    assert re.search(r"^1 +tern +host +[1-9]\d* ", out, re.M), out
    # B and the client were heard on the uplink, A's own MAC on the host port
    assert re.search(rf"^{MAC_B} +0 +\d+$", out, re.M), out
    assert re.search(rf"^{hosts.lab.client_mac.lower()} +0 +\d+$", out, re.M), out
    assert re.search(rf"^{MAC_A} +1 +\d+$", out, re.M), out
    assert re.search(r"^\d+ addresses, 0 moves, 0 evictions, ageing 300 s$", out, re.M), out


def test_announce_frames_reach_the_client_and_the_bridge_relearns(hosts):
    lab, mac, ip = hosts.lab, "52:54:00:00:01:99", "10.99.0.99"
    cap = lab.capture()
    try:
        out = hosts.a.cmd(f"net announce {mac} {ip}")
        assert f"announce: {mac} {ip}: 5 rounds of gratuitous ARP and RARP" in out, out
        got = cap.wait_for(lambda f: f.src == mac, count=10, timeout=10)
        garps = [f for f in got if f.is_garp]
        rarps = [f for f in got if f.is_rarp]
        assert len(garps) == 5 and len(rarps) == 5, [str(f) for f in got]
        for f in garps:
            assert (f.dst, f.ethertype, f.op) == ("ff:ff:ff:ff:ff:ff", 0x0806, 1)
            assert (f.sha, f.spa, f.tha, f.tpa) == (mac, ip, "00:00:00:00:00:00", ip)
        for f in rarps:
            assert (f.dst, f.ethertype, f.op) == ("ff:ff:ff:ff:ff:ff", 0x8035, 3)
            assert (f.sha, f.tha) == (mac, mac)
        # QEMU's rounds: 0, 50, 200, 450, 800 ms
        times = [f.time - garps[0].time for f in garps]
        assert times[-1] > 0.6, times
        assert lab.wait_fdb(mac, hosts.tap_a)
        # the same MAC announced from B: the bridge moves it to B's port,
        # and A's vswitch learns it on its uplink
        hosts.b.cmd(f"net announce {mac}")
        assert lab.wait_fdb(mac, hosts.tap_b)
        rarps_b = cap.wait_for(lambda f: f.src == mac and f.is_rarp, count=10, timeout=10)
        assert len(rarps_b) == 10
        assert re.search(rf"^{mac} +0 +\d+$", hosts.a.cmd("net switch"), re.M)
    finally:
        cap.stop()


def test_tcp_linux_to_tern_iperf_64mib_while_pings_continue(hosts):
    lab, a = hosts.lab, hosts.a
    assert "iperf: server listening on port 5001" in a.cmd("net iperf server")
    mon = lab.ping_monitor(IP_A, interval=0.05)
    mark = a.mark()
    a.cmd(f"net ping {CLIENT} 30 100")
    cp = lab.client(["iperf", "-c", IP_A, "-n", "64M", "-f", "m"], timeout=180)
    st = mon.stop()
    assert cp.returncode == 0, cp.stderr
    line = done_line(a, r"iperf: server done: ", mark)
    m = re.search(rf"done: (\d+) bytes from {re.escape(CLIENT)}:\d+ in (\d+) ms, ([\d.]+) Mbit/s",
                  line)
    assert m, line
    # lwiperf counts iperf's header its own way: within a segment of 64 MiB
    assert abs(int(m.group(1)) - MIB64) < 1500, line
    sent, received = ping_summary(a, CLIENT, mark)
    print(f"\niperf Linux->Tern: {m.group(3)} Mbit/s; client pings {st.received}/"
          f"{st.transmitted}, longest gap {st.max_gap:.2f} s; Tern pings {received}/{sent}")
    assert st.received > 0 and received > 0
    assert st.max_gap < 2.0, st
    a.cmd("net iperf stop")


def test_tcp_linux_to_tern_64mib_arrives_intact(hosts):
    lab, a = hosts.lab, hosts.a
    assert "xfer: listening on port 5002" in a.cmd("net xfer listen")
    mon = lab.ping_monitor(IP_A, interval=0.05)
    mark = a.mark()
    cp = lab.client([sys.executable, "-c", SENDER, IP_A, "5002", str(MIB64)], timeout=180)
    st = mon.stop()
    assert cp.returncode == 0, cp.stderr
    sent = re.search(r"crc32 ([0-9a-f]{8})", cp.stdout).group(1)
    line = done_line(a, r"xfer: received ", mark)
    m = re.search(rf"received {MIB64} bytes from {re.escape(CLIENT)}:\d+ in \d+ ms, "
                  r"([\d.]+) Mbit/s, crc32 ([0-9a-f]{8})", line)
    assert m, line
    assert m.group(2) == sent, (line, cp.stdout)
    print(f"\nxfer Linux->Tern: {m.group(1)} Mbit/s, crc32 {sent}; pings {st.received}/"
          f"{st.transmitted}")
    assert st.received > 0 and st.max_gap < 2.0, st
    a.cmd("net xfer stop")


def test_tcp_tern_to_tern_64mib_iperf_and_intact_transfer_while_pings_continue(hosts):
    lab, a, b = hosts.lab, hosts.a, hosts.b
    b.cmd("net iperf server")
    mon = lab.ping_monitor(IP_B, interval=0.05)
    mark_a, mark_b = a.mark(), b.mark()
    b.cmd(f"net ping {CLIENT} 40 100")
    out = a.cmd(f"net iperf client {IP_B} -n 64M")
    assert f"iperf: client to {IP_B}:5001, {MIB64} bytes" in out, out
    client = done_line(a, r"iperf: client done: ", mark_a)
    server = done_line(b, r"iperf: server done: ", mark_b)
    n = int(re.search(r"done: (\d+) bytes to", client).group(1))
    assert MIB64 <= n < MIB64 + 1500, client  # lwiperf may overshoot by one segment
    assert re.search(rf"done: {n} bytes from {re.escape(IP_A)}:\d+ ", server), server

    b.cmd("net xfer listen")
    mark_a, mark_b = a.mark(), b.mark()
    out = a.cmd(f"net xfer send {IP_B} 64M")
    assert f"xfer: sending {MIB64} bytes to {IP_B}:5002" in out, out
    sent = done_line(a, r"xfer: sent ", mark_a)
    got = done_line(b, r"xfer: received ", mark_b)
    st = mon.stop()
    crc_sent = re.search(rf"sent {MIB64} bytes to {re.escape(IP_B)}:5002 .*crc32 ([0-9a-f]{{8}})",
                         sent)
    crc_got = re.search(rf"received {MIB64} bytes from {re.escape(IP_A)}:\d+ .*crc32 "
                        r"([0-9a-f]{8})", got)
    assert crc_sent and crc_got, (sent, got)
    assert crc_sent.group(1) == crc_got.group(1)
    print(f"\n{client.strip()}\n{sent.strip()}\nclient pings of B {st.received}/{st.transmitted}")
    assert st.received > 0 and st.max_gap < 2.0, st
    b.cmd("net iperf stop")
    b.cmd("net xfer stop")
    b.cmd("net ping stop")


def test_bochs_host_pings_a_qemu_host(hosts, tern):
    """Bochs takes one frame per emulated ms: only pings here."""
    tap = hosts.lab.add_tap()
    bo = tern.boot("bochs", name="bochs", tap=tap, mac=MAC_BOCHS, cmdline=f"ip={IP_BOCHS}/24",
                   wrap=hosts.lab.wrap([]), boot_timeout=300)
    assert show(bo)["nic"] == "e1000.0, link up"
    assert tern_ping(bo, IP_A, count=3, interval_ms=500) == (3, 3)
    assert tern_ping(hosts.a, IP_BOCHS, count=3, interval_ms=500) == (3, 3)
    assert hosts.lab.ping(IP_BOCHS, count=3, timeout=3)
    assert re.search(rf"^{re.escape(IP_A)} +{MAC_A}$", bo.cmd("net arp"), re.M)


def test_without_a_nic_tern_boots_and_says_so(tern):
    c = tern.boot("qemu", name="nonic", nic=False)
    assert "warning: net: no supported NIC: Tern and its guests are on their own" in c.log.text
    s = show(c)
    assert s["nic"] == "none (Tern and its guests only)"
    assert s["ip"] == "none"
    out = c.cmd("net ping 10.99.0.1 1")
    assert "error: net ping: no route to 10.99.0.1 (is an address set? 'net show')" in out, out
    assert re.search(r"^0 +tern +host ", c.cmd("net switch"), re.M)  # no uplink port


def test_bad_net_arguments_get_one_line_errors(hosts):
    a = hosts.a
    cases = {
        "net ip 10.99.0.1": "error: net ip: expected ADDR/PREFIX",
        "net ip 10.99.0.1/24 gw 10.98.0.1": "error: net ip: gateway outside ADDR/PREFIX",
        "net ping 10.99.0": "error: net ping: '10.99.0' is not an IPv4 address",
        "net ping 10.99.0.2 0": "error: net ping: '0' is not a number from 1 to",
        "net announce 01:00:5e:00:00:01": "error: net announce: 01:00:5e:00:00:01 is not a",
        "net xfer send 10.99.0.2 lots": "error: net xfer: 'lots' is not a size",
        "net iperf client 10.99.0.2 -n 0": "error: net iperf: -n 0: a size from 1 to 2047M",
    }
    for line, want in cases.items():
        out = a.cmd(line)
        assert want in out, (line, out)
        assert out.count("error:") == 1, (line, out)
    out = a.cmd("net frobnicate")
    assert "error: net: bad arguments" in out and "usage: net [show]" in out
    assert show(a)["ip"] == f"{IP_A}/24, gw none (static)"


def test_net_ip_dhcp_takes_a_lease_and_releases_it(hosts):
    lab, b = hosts.lab, hosts.b
    lease = "10.99.0.50"
    log = os.path.join(lab.workdir, "dhcp.log")
    with open(log, "w") as out:
        srv = lab.client_popen([sys.executable, "-c", DHCP_SERVER, "eth0", CLIENT, lease,
                                "255.255.255.0", CLIENT], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 10
        while "ready" not in open(log).read():
            assert srv.poll() is None and time.monotonic() < deadline, open(log).read()
            time.sleep(0.1)
        b.cmd("net ip dhcp")
        want = f"{lease}/24, gw {CLIENT} (dhcp)"
        deadline = time.monotonic() + 30
        while show(b)["ip"] != want:
            assert time.monotonic() < deadline, (show(b), open(log).read())
            time.sleep(0.5)
        assert lab.wait_reachable(lease, timeout=10)
    finally:
        b.cmd(f"net ip {IP_B}/24")
        srv.terminate()
    assert lab.wait_reachable(IP_B, timeout=10)
    assert show(b)["ip"] == f"{IP_B}/24, gw none (static)"


def test_net_ip_changes_the_address_at_runtime(hosts):
    lab, b = hosts.lab, hosts.b
    out = b.cmd("net ip 10.99.0.12/24 gw 10.99.0.254")
    assert "ip:      10.99.0.12/24, gw 10.99.0.254 (static)" in out, out
    assert lab.wait_reachable("10.99.0.12", timeout=10)
    assert not lab.ping(IP_B, count=1, timeout=1)
    b.cmd(f"net ip {IP_B}/24")
    assert lab.wait_reachable(IP_B, timeout=10)
    assert show(b)["ip"] == f"{IP_B}/24, gw none (static)"
