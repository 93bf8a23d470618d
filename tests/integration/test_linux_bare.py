"""The Linux guest image booted directly by QEMU (TCG, no Tern): the /init
contract (modules, ip=, httpd on /www, the ready line, a shell where Ctrl-C
works) and memverify and tcpseq inside the guest, proven on their own
before any hypervisor test relies on them. QEMU's user network forwards
host ports to the guest's httpd and tcpseq.

Build first:  make linux-guest
The console log is kept under build/test-logs/linux-bare/.
"""
import hashlib
import os
import re
import socket
import subprocess
import time
import urllib.request

import pexpect
import pytest

from conftest import ROOT

LINUX = os.path.join(ROOT, "build", "linux")
TCPSEQ = os.path.join(LINUX, "bin", "tcpseq")
LOG_DIR = os.path.join(ROOT, "build", "test-logs", "linux-bare")
BOOT_TIMEOUT = 240


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Guest:
    def __init__(self, ip="10.0.2.15/24,10.0.2.2", name="console"):
        os.makedirs(LOG_DIR, exist_ok=True)
        self.http, self.seq = free_port(), free_port()
        self.log = open(os.path.join(LOG_DIR, f"{name}.log"), "w")
        args = ["-machine", "q35", "-m", "256", "-display", "none", "-no-reboot",
                "-nodefaults", "-no-user-config",
                "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
                "-kernel", os.path.join(LINUX, "linux"),
                "-initrd", os.path.join(LINUX, "linux-initrd"),
                "-append", f"console=ttyS0 ip={ip}",
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.http}-:80,"
                           f"hostfwd=tcp:127.0.0.1:{self.seq}-:7000",
                "-device", "virtio-net-pci,netdev=n0"]
        self.p = pexpect.spawn("qemu-system-x86_64", args, encoding="utf-8",
                               codec_errors="replace", logfile=self.log, timeout=60)
        self.p.expect(r"(tern-linux: ready kernel=\S+ ip=\S+)\r*\n", timeout=BOOT_TIMEOUT)
        self.ready = self.p.match.group(1)
        self.boot_output = self.p.before
        self.p.expect(r"# ")

    def cmd(self, line, timeout=60):
        """Runs line in the guest shell; returns (output, exit status). The
        markers are split by "" so the echoed command line never matches."""
        self.p.sendline(f'echo TERN-""BEGIN; {line}; echo TERN-""END$?')
        self.p.expect(r"TERN-BEGIN\r*\n", timeout=timeout)
        self.p.expect(r"TERN-END(\d+)", timeout=timeout)
        out, status = self.p.before, int(self.p.match.group(1))
        self.p.expect(r"# ")
        return out.replace("\r", ""), status

    def close(self):
        self.p.terminate(force=True)
        self.log.close()


@pytest.fixture(scope="module")
def guest():
    g = Guest()
    yield g
    g.close()


def test_init_loads_the_modules_and_prints_the_ready_line(guest):
    release = open(os.path.join(LINUX, "root", "kernel-release")).read().strip()
    assert guest.ready == f"tern-linux: ready kernel={release} ip=10.0.2.15/24"
    assert "insmod" not in guest.boot_output, guest.boot_output
    out, st = guest.cmd("cat /proc/modules")
    assert st == 0
    loaded = {line.split()[0] for line in out.splitlines() if line.strip()}
    for m in ["virtio", "virtio_ring", "virtio_pci", "virtio_net", "virtio_blk", "net_failover",
              "failover", "pvpanic", "pvpanic_mmio"]:
        assert m in loaded, out


def test_ip_sets_address_and_gateway(guest):
    out, _ = guest.cmd("ip -4 addr show dev eth0; ip route")
    assert "inet 10.0.2.15/24" in out, out
    assert "default via 10.0.2.2 dev eth0" in out, out


def test_httpd_serves_a_32_mib_file_from_www(guest):
    out, st = guest.cmd("dd if=/dev/urandom of=/www/big bs=1M count=32 2>/dev/null; "
                        "md5sum /www/big", timeout=120)
    assert st == 0, out
    want = re.search(r"([0-9a-f]{32})  /www/big", out).group(1)
    body = urllib.request.urlopen(f"http://127.0.0.1:{guest.http}/big", timeout=300).read()
    assert len(body) == 32 << 20
    assert hashlib.md5(body).hexdigest() == want


def test_memverify_runs_clean_in_the_guest(guest):
    out, st = guest.cmd("memverify -m 16 -n 2", timeout=120)
    assert "memverify: done passes 2 pages 4096 errors 0" in out, out
    assert st == 0


def test_tcpseq_in_the_guest_sees_the_host_stream_whole(guest):
    guest.p.sendline("tcpseq -l 7000 -1 -s 60000")
    guest.p.expect(r"tcpseq: listen t=\d+ port=7000")
    cli = subprocess.run([TCPSEQ, "-c", f"127.0.0.1:{guest.seq}", "-n", "50000"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stdout
    guest.p.expect(r"tcpseq: summary t=\d+ seq=(\d+) received=(\d+) gaps=(\d+)", timeout=120)
    assert guest.p.match.groups() == ("50000", "50000", "0")
    guest.p.expect(r"# ")


def test_ctrl_c_interrupts_the_foreground_job(guest):
    # Ctrl-C while the shell edits a line only cancels the line: wait until
    # sleep runs in the foreground.
    guest.p.sendline('echo STAR""TED; sleep 600')
    guest.p.expect("STARTED")
    time.sleep(2)
    guest.p.sendcontrol("c")
    guest.p.expect(r"# ", timeout=30)
    out, st = guest.cmd("echo alive")
    assert out.strip() == "alive" and st == 0


def test_ip_dhcp_takes_the_lease_of_qemus_dhcp_server():
    g = Guest(ip="dhcp", name="dhcp")
    try:
        assert g.ready.endswith(" ip=10.0.2.15/24"), g.ready  # slirp's first lease
        out, _ = g.cmd("ip route")
        assert "default via 10.0.2.2 dev eth0" in out, out
    finally:
        g.close()
