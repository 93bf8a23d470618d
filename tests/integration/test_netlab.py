"""Tests of tools/netlab.py, the private network lab (no emulator needed).

Run as root:  cd tests/integration && /usr/bin/python3 -m pytest -v test_netlab.py

Every address used here is inside namespaces the lab itself creates.
"""

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time

import pytest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, os.path.abspath(TOOLS))

import netlab  # noqa: E402
from netlab import Lab, netlab_factory  # noqa: E402,F401  (fixture)

NETLAB_PY = os.path.join(os.path.abspath(TOOLS), "netlab.py")
@pytest.fixture(autouse=True)
def needs_root():
    """The lab needs root: without it every test fails saying so (never skips)."""
    if os.geteuid() != 0:
        pytest.fail("netlab needs root: run the tests as root (make test does on CI)")

H1_MAC, H1_IP = "02:00:00:00:01:01", "10.99.0.1"
H2_MAC, H2_IP = "02:00:00:00:01:02", "10.99.0.2"


def lab_namespaces(name):
    return [ns for ns in netlab.netns_list() if ns.startswith(name + "-")]


# ---------------------------------------------------------------- no root needed

def test_frame_builders_and_parser():
    g = netlab.garp_frame(H1_MAC, H1_IP)
    assert len(g) == 60
    f = netlab.parse_frame(g, 1.5)
    assert (f.dst, f.src, f.ethertype) == ("ff:ff:ff:ff:ff:ff", H1_MAC, 0x0806)
    assert (f.op, f.sha, f.spa, f.tha, f.tpa) == (1, H1_MAC, H1_IP, "00:00:00:00:00:00", H1_IP)
    assert f.is_garp and not f.is_rarp
    r = netlab.parse_frame(netlab.rarp_frame(H1_MAC))
    assert r.is_rarp and not r.is_garp
    assert (r.op, r.sha, r.tha, r.spa, r.ptype) == (3, H1_MAC, H1_MAC, "0.0.0.0", 0x0800)


def test_parse_pcap_handles_both_byte_orders_and_partial_tail(tmp_path):
    frames = [netlab.garp_frame(H1_MAC, H1_IP), netlab.rarp_frame(H2_MAC)]
    for end, magic in (("<", 0xA1B2C3D4), (">", 0xA1B2C3D4), ("<", 0xA1B23C4D)):
        buf = struct.pack(end + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
        for i, fr in enumerate(frames):
            buf += struct.pack(end + "IIII", 100 + i, 500, len(fr), len(fr)) + fr
        buf += struct.pack(end + "IIII", 200, 0, 60, 60) + b"\x00" * 10  # partial record
        p = tmp_path / "t.pcap"
        p.write_bytes(buf)
        got = netlab.parse_pcap(str(p))
        assert [g.src for g in got] == [H1_MAC, H2_MAC]
        assert got[0].is_garp and got[1].is_rarp
        scale = 1e9 if magic == 0xA1B23C4D else 1e6
        assert got[1].time == pytest.approx(101 + 500 / scale)


def test_fake_host_reply_logic():
    mac, ip = netlab.mac_bytes(H1_MAC), netlab.ip_bytes(H1_IP)
    req = netlab.arp_frame(1, H2_MAC, H2_IP, "00:00:00:00:00:00", H1_IP)
    rep = netlab.parse_frame(netlab.fake_host_reply(req, mac, ip))
    assert (rep.dst, rep.op, rep.sha, rep.spa, rep.tpa) == (H2_MAC, 2, H1_MAC, H1_IP, H2_IP)
    # no answer to its own gratuitous ARP, nor to ARP for someone else
    assert netlab.fake_host_reply(netlab.garp_frame(H1_MAC, H1_IP), mac, ip) is None
    other = netlab.arp_frame(1, H2_MAC, H2_IP, "00:00:00:00:00:00", "10.99.0.3")
    assert netlab.fake_host_reply(other, mac, ip) is None


def test_names():
    a, b = netlab.new_name(), netlab.new_name()
    for n in (a, b):
        assert netlab._NAME_RE.match(n)
        assert len(n + "-h-") + 10 < 64
    assert netlab.check_ifname("tap0") == "tap0"
    for bad in ("", "a" * 16, "tap:0", "t/0", "t 0"):
        with pytest.raises(ValueError):
            netlab.check_ifname(bad)
    assert netlab.qemu_netdev_args("tap1", H1_MAC)[1] == \
        "tap,id=n0,ifname=tap1,script=no,downscript=no"
    assert "ethdev=/dev/net/tun:tap1," in netlab.bochs_e1000_line("tap1", H1_MAC)


# ---------------------------------------------------------------- as root

def test_lab_layout_and_teardown():
    lab = Lab().up()
    try:
        assert set(lab_namespaces(lab.name)) == {lab.ns, lab.client_ns}
        br = json.loads(lab.ip("-d", "-j", "link", "show", "br0").stdout)[0]
        info = br["linkinfo"]["info_data"]
        assert info["stp_state"] == 0 and info["forward_delay"] == 0
        tap = lab.add_tap()
        assert tap == "tap0" and len(tap) <= 15
        ports = {p["name"]: p for p in lab.ports()}
        assert ports["tap0"]["kind"] == "tun" and not ports["tap0"]["carrier"]
        assert ports["vcli"]["kind"] == "veth" and ports["vcli"]["state"] == "forwarding"
        assert lab.wrap(["true"]) == ["ip", "netns", "exec", lab.ns, "true"]
        assert lab.run(["ip", "-br", "link", "show", "tap0"]).returncode == 0
        out = lab.client(["ip", "-4", "-br", "addr", "show", "eth0"]).stdout
        assert "10.99.0.100/24" in out
        assert "UP" in lab.client(["ip", "-br", "link", "show", "lo"]).stdout
        # the root namespace has none of the lab's interfaces
        assert subprocess.run(["ip", "link", "show", "vcli"], capture_output=True).returncode != 0
    finally:
        lab.teardown()
    assert lab_namespaces(lab.name) == []
    lab.teardown()  # idempotent


def test_two_labs_in_sequence_get_distinct_names(netlab_factory):
    a = netlab_factory()
    b = netlab_factory(client_ip="10.99.0.200/24")
    assert a.name != b.name and a.ns != b.ns
    assert "10.99.0.200/24" in b.client(["ip", "-4", "-br", "addr"]).stdout


def test_client_pings_hosts_and_fdb_shows_ports(netlab_factory):
    lab = netlab_factory()
    h1 = lab.add_host("h1", H1_IP, mac=H1_MAC)
    h2 = lab.add_host("h2", H2_IP + "/24", mac=H2_MAC)
    assert (h1.port, h2.port) == ("vh1", "vh2")
    assert lab.ping(H1_IP) and lab.ping(H2_IP)
    assert lab.ping(lab.client_ip, ns=h1.ns)  # and the hosts reach the client
    fdb = lab.fdb()
    assert (H1_MAC, "vh1") in fdb and (H2_MAC, "vh2") in fdb
    assert (lab.client_mac, "vcli") in fdb
    assert all(port != "br0" for _, port in fdb)
    assert lab.fdb_port(H2_MAC.upper()) == "vh2"


def test_cutting_a_port_stops_the_ping(netlab_factory):
    lab = netlab_factory()
    lab.add_host("h1", H1_IP, mac=H1_MAC)
    assert lab.ping(H1_IP)
    for how in ("link", "bridge"):
        lab.port("vh1", up=False, how=how)
        assert not lab.ping(H1_IP, count=2, timeout=1)
        lab.port("vh1", up=True, how=how)
        assert lab.wait_reachable(H1_IP, timeout=10)


def test_capture_sees_garp_and_rarp_and_bridge_relearns(netlab_factory):
    lab = netlab_factory()
    h1 = lab.add_host("h1", H1_IP, mac=H1_MAC)
    h2 = lab.add_host("h2", H2_IP, mac=H2_MAC)
    cap = lab.capture()
    h1.send_frames([netlab.garp_frame(H1_MAC, H1_IP), netlab.rarp_frame(H1_MAC)])
    got = cap.wait_for(lambda f: f.src == H1_MAC, count=2, timeout=5)
    assert len(got) == 2
    garp, rarp = got
    assert garp.is_garp and garp.dst == "ff:ff:ff:ff:ff:ff"
    assert (garp.sha, garp.spa, garp.tpa) == (H1_MAC, H1_IP, H1_IP)
    assert rarp.is_rarp and rarp.ethertype == 0x8035 and rarp.sha == H1_MAC
    assert lab.wait_fdb(H1_MAC, "vh1")
    # "migration": the same MAC announces itself from another port
    h2.send_frames([netlab.garp_frame(H1_MAC, H1_IP)])
    assert lab.wait_fdb(H1_MAC, "vh2")
    frames = cap.stop()
    assert sum(1 for f in frames if f.is_garp and f.sha == H1_MAC) == 2
    assert "ARP" in cap.text() or "arp" in cap.text().lower()


def test_emulator_style_tap_host(netlab_factory):
    """A process opening the TAP inside the lab namespace, as QEMU and Bochs
    do, is reachable from the client, learned on the TAP's port, and cut off
    by lab.port()."""
    lab = netlab_factory()
    tap = lab.add_tap("tap0")
    cap = lab.capture()
    assert not lab.wait_port(tap, timeout=0)  # nobody has opened it yet
    fake = lab.fake_host(tap, H1_MAC, H1_IP, announce=2)
    assert lab.wait_port(tap, timeout=0)
    assert lab.wait_reachable(H1_IP, timeout=10)
    assert lab.fdb_port(H1_MAC) == "tap0"
    got = cap.wait_for(lambda f: f.src == H1_MAC and (f.is_garp or f.is_rarp), count=4)
    assert sum(f.is_rarp for f in got) == 2 and sum(f.is_garp for f in got) == 2
    assert [p for p in lab.ports() if p["name"] == "tap0"][0]["carrier"]
    # UDP echo through the TAP
    cp = lab.client([sys.executable, "-c", textwrap.dedent(f"""
        import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3); s.sendto(b"tern", ("{H1_IP}", 7)); print(s.recv(100).decode())
    """)])
    assert cp.stdout.strip() == "tern", cp.stderr
    lab.port(tap, up=False)
    assert not lab.ping(H1_IP, count=2, timeout=1)
    lab.port(tap, up=True)
    assert lab.wait_reachable(H1_IP, timeout=10)
    assert fake.poll() is None


def test_ping_monitor_measures_an_outage(netlab_factory):
    lab = netlab_factory()
    lab.add_host("h1", H1_IP, mac=H1_MAC)
    assert lab.ping(H1_IP)
    mon = lab.ping_monitor(H1_IP, interval=0.01)
    time.sleep(0.5)
    lab.port("vh1", up=False)
    time.sleep(0.6)
    lab.port("vh1", up=True)
    time.sleep(0.7)
    st = mon.stop()
    assert st.transmitted > 50 and st.received > 30
    assert st.lost and 0.4 < st.max_gap < 3.0
    assert 0 < st.loss < 1


def test_teardown_after_exception_kills_processes():
    name = None
    with pytest.raises(RuntimeError, match="boom"):
        with Lab() as lab:
            name = lab.name
            tracked = lab.client_popen(["sleep", "300"])
            # started without the lab's help, but inside its namespace
            untracked = subprocess.Popen(lab.wrap(["sleep", "301"]))
            # an emulator's serial console is driven by pexpect
            console = lab.spawn(["sh", "-c", "echo ready; exec sleep 302"],
                                encoding="utf-8", timeout=10)
            console.expect("ready")
            lab.add_host("h1", H1_IP)
            lab.add_tap()
            raise RuntimeError("boom")
    assert lab_namespaces(name) == []
    assert tracked.poll() is not None
    assert untracked.wait(timeout=5) is not None
    assert not console.isalive()


def test_up_failure_leaves_nothing():
    lab = Lab(client_ip="10.99.0.300/24")  # invalid address: fails half way
    with pytest.raises(netlab.LabError):
        lab.up()
    assert lab_namespaces(lab.name) == []


def test_failed_up_never_deletes_a_namespace_it_did_not_make():
    name = netlab.new_name()
    subprocess.run(["ip", "netns", "add", f"{name}-cli"], check=True)  # a stranger's
    try:
        with pytest.raises(netlab.LabError):
            Lab(name=name).up()
        assert lab_namespaces(name) == [f"{name}-cli"]
    finally:
        subprocess.run(["ip", "netns", "del", f"{name}-cli"])


def test_ipv6_is_off_in_the_lab(netlab_factory):
    lab = netlab_factory()
    for ns in (lab.ns, lab.client_ns):
        cp = lab.run(["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"], ns=ns)
        assert cp.stdout.strip() == "1"
    assert "inet6" not in lab.client(["ip", "addr", "show", "eth0"]).stdout


SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tools!r})
    import netlab
    lab = netlab.Lab().up()
    lab.add_host("h1", "10.99.0.1")
    lab.client_popen(["sleep", "300"])
    print(lab.name, flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)          # no teardown called: atexit must do it
    time.sleep(60)           # killed by the test
""")


@pytest.mark.parametrize("how", ["exit", "sigterm", "sighup"])
def test_teardown_at_exit_and_on_signal(how):
    p = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tools=os.path.abspath(TOOLS)),
                          how], stdout=subprocess.PIPE, text=True)
    name = p.stdout.readline().strip()
    assert name and lab_namespaces(name)
    if how != "exit":
        p.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
    rc = p.wait(timeout=20)
    if how != "exit":
        assert rc == -(signal.SIGTERM if how == "sigterm" else signal.SIGHUP)
    assert lab_namespaces(name) == []


def test_cli_up_status_down():
    name = "cli" + netlab.new_name()[1:8]
    run = lambda *a: subprocess.run([sys.executable, NETLAB_PY, *a], capture_output=True,
                                    text=True, timeout=60)
    try:
        cp = run("up", "--name", name, "--tap", "tapa", "--taps", "1",
                 "--host", "h1=10.99.0.1/24")
        assert cp.returncode == 0, cp.stderr
        assert set(lab_namespaces(name)) == {f"{name}-lab", f"{name}-cli", f"{name}-h-h1"}
        lab = Lab.attach(name)
        assert lab.ping("10.99.0.1")
        cp = run("status", "--name", name, "--json")
        st = json.loads(cp.stdout)
        assert {p["name"] for p in st["ports"]} == {"vcli", "vh1", "tapa", "tap0"}
        assert st["client"]["ip"] == "10.99.0.100/24"
        assert any(e["port"] == "vh1" for e in st["fdb"])
        assert "tapa" in run("status", "--name", name).stdout
        lst = run("list").stdout
        assert f"{name}\tcli\talive" in lst
        assert run("up", "--name", name).returncode == 1  # already there
    finally:
        cp = run("down", "--name", name)
    assert cp.returncode == 0, cp.stderr
    assert lab_namespaces(name) == []
    assert run("down", "--name", name).returncode == 0  # idempotent


def test_prune_removes_labs_of_dead_processes():
    script = SCRIPT.format(tools=os.path.abspath(TOOLS))
    # SIGKILL: no atexit, no handler: the lab is left behind, as after a crash
    p = subprocess.Popen([sys.executable, "-c", script, "wait"], stdout=subprocess.PIPE,
                         text=True)
    name = p.stdout.readline().strip()
    p.kill()
    p.wait()
    assert lab_namespaces(name)
    assert any(i["name"] == name and not i["alive"] for i in netlab.list_labs())
    with Lab() as mine:  # a live lab must survive the prune
        assert name in netlab.prune()
        assert lab_namespaces(name) == []
        assert mine.ns in netlab.netns_list()
