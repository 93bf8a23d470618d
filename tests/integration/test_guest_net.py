"""Guests on the network: netecho guests with their own MAC and IP, each on a
virtio-net device that is a port of its host's vswitch, answer the Linux
client's pings and UDP datagrams on Tern A and on Tern B; the lab's bridge
and `net switch` have their MACs where they should be, and `vm list` shows
the IP the switch learned. Two QEMU Tern hosts (SVM) share one lab for the
module; a Bochs host (VMX) joins for its own test.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_guest_net.py
"""
import os
import re
import sys
import time
import types

import pytest

from conftest import LOG_ROOT, _report
from hostpair import HostPair, boot_pair
import netlab as netlab_mod

IP_A, MAC_A = "10.99.0.1", "52:54:00:00:02:0a"
IP_B, MAC_B = "10.99.0.2", "52:54:00:00:02:0b"
# The guests: name, MAC, IP, host
GA = types.SimpleNamespace(name="ea", mac="52:54:00:aa:00:0a", ip="10.99.0.51")
GB = types.SimpleNamespace(name="eb", mac="52:54:00:aa:00:0b", ip="10.99.0.52")

guest_lab = netlab_mod.lab_fixture(scope="module")

# UDP echo from the client: one datagram per port, the echo must come back
# from that port with the same bytes.
UDP_ECHO = r"""
import socket, sys
ip, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for port in ports:
    data = b"tern-%d-" % port + bytes(range(256)) * 4
    for attempt in range(3):
        s.sendto(data, (ip, port))
        try:
            got, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        assert got == data and addr == (ip, port), (got[:16], addr)
        print("echo", port, len(got))
        break
    else:
        sys.exit("no echo from %s:%d" % (ip, port))
"""


def create_netecho(host, g, extra=""):
    t = host.mark()
    out = host.cmd(f'vm create {g.name} image=netecho mem=4 mac={g.mac} {extra} '
                   f'args="ip={g.ip}"'.replace("  ", " "))
    assert f"vm {g.name}: created" in out, out
    host.wait_output(rf"^\[{g.name}\] netecho: up mac={g.mac} ip={re.escape(g.ip)}$", 60, since=t)


def vm_line(host, name):
    rows = host.vm_list()
    assert name in rows, rows
    return rows[name]["state"], rows[name]["mac"], rows[name]["ip"]


def switch_port(out, name):
    """(port number, IP column) of the vswitch port named `name`, or None."""
    m = re.search(rf"^(\d+) +{name} +guest .* (\S+)$", out, re.M)
    return (int(m.group(1)), m.group(2)) if m else None


@pytest.fixture(scope="module")
def hosts(guest_lab):
    """Tern A and B with one netecho guest each (ea on A, eb on B)."""
    with boot_pair(guest_lab, "qemu", logdir=os.path.join(LOG_ROOT, "test_guest_net"),
                   ips=(IP_A, IP_B), macs=(MAC_A, MAC_B), key=None) as pair:
        create_netecho(pair.a, GA)
        create_netecho(pair.b, GB)
        yield pair


@pytest.fixture(autouse=True)
def _logs_on_failure(request):
    """Hosts shared by a module: their console logs when a test fails."""
    yield
    for arg in request.node.funcargs.values():
        if isinstance(arg, HostPair):
            _report(request, arg)


def test_client_pings_netecho_guests_on_a_and_on_b(hosts):
    lab = hosts.lab
    for g in (GA, GB):
        assert lab.wait_reachable(g.ip, timeout=30), g.ip
        cp = lab.client(["ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", g.ip])
        assert " 0% packet loss" in cp.stdout, cp.stdout
        assert "ttl=64" in cp.stdout  # netecho's answer, not a proxy's


def test_client_gets_udp_echoes_from_both_guests_on_any_port(hosts):
    for g in (GA, GB):
        cp = hosts.lab.client([sys.executable, "-c", UDP_ECHO, g.ip, "7", "5353", "40000"],
                              timeout=30)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert cp.stdout.count("echo ") == 3, cp.stdout


def test_bridge_fdb_has_each_guest_mac_on_its_hosts_tap(hosts):
    lab = hosts.lab
    assert lab.ping(GA.ip) and lab.ping(GB.ip)
    assert lab.wait_fdb(GA.mac, hosts.tap_a)
    assert lab.wait_fdb(GB.mac, hosts.tap_b)


def test_net_switch_shows_guest_ports_their_macs_and_learned_ips(hosts):
    lab = hosts.lab
    assert lab.ping(GA.ip) and lab.ping(GB.ip)
    for host, mine, other in ((hosts.a, GA, GB), (hosts.b, GB, GA)):
        # the other host's guest answers Tern's own ping across the wire,
        # so each switch has heard the remote guest on its uplink too
        t = host.mark()
        host.cmd(f"net ping {other.ip} 2 100")
        m = host.wait_output(rf"--- {re.escape(other.ip)}: 2 sent, (\d) received", 30, since=t)
        assert m.group(1) == "2"
        out = host.cmd("net switch")
        port = switch_port(out, mine.name)
        assert port and port[1] == mine.ip, out
        assert re.search(rf"^{mine.mac} +{port[0]} +\d+$", out, re.M), out
        assert re.search(rf"^{other.mac} +0 +\d+$", out, re.M), out


def test_tern_pings_its_own_guest_through_the_switch(hosts):
    t = hosts.a.mark()
    hosts.a.cmd(f"net ping {GA.ip} 3 100")
    m = hosts.a.wait_output(rf"--- {re.escape(GA.ip)}: 3 sent, (\d) received", 30, since=t)
    assert m.group(1) == "3"


def test_vm_list_shows_the_ip_the_switch_learned(hosts):
    for host, g in ((hosts.a, GA), (hosts.b, GB)):
        assert vm_line(host, g.name) == ("running", g.mac, g.ip)
    # configured with ip= but using another address: what it uses wins
    g = types.SimpleNamespace(name="el", mac="52:54:00:aa:00:0c", ip="10.99.0.53")
    create_netecho(hosts.a, g, "ip=10.99.0.99")
    deadline = time.monotonic() + 10
    while vm_line(hosts.a, g.name)[2] != g.ip:
        assert time.monotonic() < deadline, hosts.a.cmd("vm list")
        time.sleep(0.5)
    assert hosts.lab.ping(g.ip, count=2, timeout=3)
    # a guest that never sends keeps the configured address
    out = hosts.a.cmd('vm create quiet image=memcheck mem=4 ip=10.99.0.98 '
                      'args="mode=list pages=0x200"')
    assert "vm quiet: created" in out, out
    assert vm_line(hosts.a, "quiet")[2] == "10.99.0.98"
    for name in (g.name, "quiet"):
        hosts.a.cmd(f"vm destroy {name}")


def guest_counters(host, name):
    """netecho's counters line, asked for with a byte on its console."""
    host.p.buffer = ""
    t = host.mark()
    host.send(f"vm console {name}\r")
    host.wait_output(rf"attached to {name}; Ctrl-\] returns", 10, since=t)
    host.send("c")
    m = host.wait_output(r"netecho: rx=(\d+) tx=(\d+) arp=(\d+) icmp=(\d+) udp=(\d+) "
                         r"ignored=(\d+) tx_full=(\d+)", 20, since=t)
    host.send("\x1d")
    host.wait_prompt(10)
    return dict(zip(("rx", "tx", "arp", "icmp", "udp", "ignored", "tx_full"),
                    map(int, m.groups())))


def test_netecho_prints_its_counters_on_request(hosts):
    assert hosts.lab.ping(GA.ip, count=3, timeout=3)
    c = guest_counters(hosts.a, GA.name)
    assert c["icmp"] >= 3 and c["udp"] >= 3 and c["tx_full"] == 0, c
    assert c["tx"] >= c["icmp"] + c["udp"] and c["rx"] >= c["tx"] - 1, c


def test_destroying_a_guest_removes_its_switch_port(hosts):
    b = hosts.b
    g = types.SimpleNamespace(name="gone", mac="52:54:00:aa:00:0d", ip="10.99.0.55")
    create_netecho(b, g)
    assert hosts.lab.ping(g.ip, count=2, timeout=3)
    assert switch_port(b.cmd("net switch"), g.name)
    b.cmd(f"vm destroy {g.name}")
    out = b.cmd("net switch")
    assert switch_port(out, g.name) is None and g.mac not in out, out
    assert not hosts.lab.ping(g.ip, count=1, timeout=1)
    assert hosts.lab.ping(GB.ip)  # the other guest is not disturbed


def test_netecho_on_a_vmx_host_answers_the_client(hosts, tern):
    """The same guest and card under VMX (Bochs, which takes one frame per
    emulated ms: only a few pings)."""
    tap = hosts.lab.add_tap()
    bo = tern.boot("bochs", name="bochs", tap=tap, mac="52:54:00:00:02:0c",
                   cmdline="ip=10.99.0.3/24", wrap=hosts.lab.wrap([]), boot_timeout=300)
    g = types.SimpleNamespace(name="ev", mac="52:54:00:aa:00:0e", ip="10.99.0.56")
    t = bo.mark()
    bo.cmd(f'vm create {g.name} image=netecho mem=4 mac={g.mac} args="ip={g.ip}"')
    bo.wait_output(rf"^\[ev\] netecho: up mac={g.mac} ip={re.escape(g.ip)}$", 240, since=t)
    assert hosts.lab.wait_reachable(g.ip, timeout=60)
    cp = hosts.lab.client(["ping", "-n", "-c", "3", "-i", "0.5", "-W", "3", g.ip])
    assert " 0% packet loss" in cp.stdout, cp.stdout
    assert hosts.lab.wait_fdb(g.mac, tap)
    assert vm_line(bo, g.name) == ("running", g.mac, g.ip)
