"""An unmodified Debian Linux guest under Tern (SVM, QEMU): it boots to its
busybox shell, answers on `vm console` with its UART interrupting through
Tern's I/O APIC, keeps time through its LAPIC's TSC-deadline timer, takes
virtio-net interrupts through MSI-X, and talks to
the lab's Linux client both ways (ping, a 32 MiB download from its httpd, a
download from the client's HTTP server). It took the command line, E820 map
and ACPI tables Tern wrote (kernel/vm_load_linux.c); every refusal of `vm
create` is a clear error that leaves free memory as it was. The VMX twin is
test_linux_vmx.py.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_linux_guest.py
"""
import hashlib
import os
import re
import time

import pytest

from conftest import LOG_ROOT, TernFactory
import netlab as netlab_mod

TERN_IP, TERN_MAC = "10.99.0.1", "52:54:00:00:03:0a"
GUEST_IP, GUEST_MAC = "10.99.0.61", "52:54:00:aa:03:61"
CLIENT_IP = netlab_mod.CLIENT_CIDR.split("/")[0]

linux_lab = netlab_mod.lab_fixture(scope="module")


def boot_lab_tern(factory, lab, ip, mac):
    """A QEMU Tern (SVM, 1 GiB: room for Linux guests) on the lab's bridge
    at ip/24, as `h.lab`."""
    h = factory.boot("qemu", name="qemu", mem_mib=1024, tap=lab.add_tap(), mac=mac,
                     cmdline=f"ip={ip}/24", wrap=lab.wrap([]))
    h.lab = lab
    return h


@pytest.fixture(scope="module")
def lx(linux_lab):
    """Tern in QEMU on the lab's bridge with one Linux guest up (ready line
    seen) and its console attached; detached at the end."""
    f = TernFactory(os.path.join(LOG_ROOT, "test_linux_guest"))
    h = boot_lab_tern(f, linux_lab, TERN_IP, TERN_MAC)
    h.free0 = h.mem_free_kib()
    up = h.linux_create("lx", f'kernel=linux initrd=linux-initrd mem=256 mac={GUEST_MAC} '
                              f'args="quiet ip={GUEST_IP}/24"')
    assert up["created"].startswith("vm lx: created"), up
    assert up["ip"] == f"{GUEST_IP}/24", up
    h.kernel_release = up["kernel"]
    time.sleep(2)  # let the shell print its banner and prompt
    attach(h)
    # Kernel messages on the console would interleave with command output.
    assert sh(h, "dmesg -n 1")[0] == 0
    yield h
    f.close()


def attach(h, name="lx"):
    h.guest_attach(name)
    h.attached = True


def detach(h):
    h.guest_detach()
    h.attached = False


def sh(h, command, timeout=60):
    """Runs a shell command in the attached guest; returns (status, output)
    (Console.guest_sh; the Linux test modules import it by this name)."""
    return h.guest_sh(command, timeout)


def interrupts(h):
    """/proc/interrupts as {name: count}: LOC, ttyS0 and the virtio vectors.
    ttyS0 must be the I/O APIC's edge-triggered pin 4."""
    rc, out = sh(h, "cat /proc/interrupts")
    assert rc == 0, out
    return parse_interrupts(out)


def parse_interrupts(out):
    """interrupts() of text that holds /proc/interrupts."""
    assert re.search(r"^\s*\d+:\s+\d+\s+IO-APIC\s+4-edge\s+ttyS0$", out, re.M), out
    counts = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\S+):\s+(\d+)\s*(.*)$", line)
        if m:
            name = m.group(3).split()[-1] if m.group(1).isdigit() and m.group(3) else m.group(1)
            counts[name] = int(m.group(2))
    return counts


def check_boot_messages(h, args):
    """What the kernel says about what Tern gave it, from dmesg (the guests
    boot `quiet`: every console byte costs an exit): the command line Tern
    built, the TSC rate it took from it, the E820 map and the ACPI tables of
    docs/guests.md, nothing Linux reports against them, and COM1 on the I/O
    APIC's pin 4 (so its 8250 driver takes interrupts instead of polling)."""
    rc, out = sh(h, "cat /proc/cmdline")
    khz = re.fullmatch(r"console=ttyS0 tsc_early_khz=(\d+) tsc=reliable pci=lastbus=1 " + re.escape(args),
                       out.strip())
    assert rc == 0 and khz, f"command line not as Tern builds it: {out!r}"
    rc, out = sh(h, "dmesg")
    assert rc == 0, out
    mhz = re.search(r"tsc: Detected (\d+)\.(\d+) MHz processor", out)
    assert mhz and int(mhz.group(1)) * 1000 + int(mhz.group(2)) == int(khz.group(1)), out
    for want in [r"BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable",
                 r"BIOS-e820: \[mem 0x000000000009fc00-0x00000000000fffff\] reserved",
                 r"BIOS-e820: \[mem 0x0000000000100000-0x[0-9a-f]{16}\] usable",
                 r"ACPI: RSDP 0x00000000000E0000 000024 \(v02 TERN",
                 r"ACPI: XSDT 0x00000000000E00[0-9A-F]{2} [0-9A-F]{6} \(v01 TERN",
                 r"ACPI: APIC 0x00000000000E0[0-9A-F]{3} [0-9A-F]{6} \(v05 TERN",
                 r"ACPI: FACP 0x00000000000E0[0-9A-F]{3} 000114 \(v06 TERN",
                 r"ACPI: DSDT 0x00000000000E0[0-9A-F]{3} [0-9A-F]{6} \(v02 TERN",
                 r"IOAPIC\[0\]: apic_id 1, version 17, address 0xfec00000, GSI 0-23",
                 r"ACPI: Using IOAPIC for interrupt routing",
                 r"ttyS0 at I/O 0x3f8 \(irq = [1-9]\d*, base_baud = 115200\) is a 16550A",
                 r"TSC deadline timer available"]:
        assert re.search(want, out), (want, out[-3000:])
    assert not re.search(r"ACPI.*(Incorrect checksum|Invalid|BIOS bug)", out), out[-3000:]


def test_linux_took_terns_command_line_e820_and_acpi_tables(lx):
    check_boot_messages(lx, f"quiet ip={GUEST_IP}/24")
    rc, out = sh(lx, "dmesg | grep BIOS-e820 | tail -n 1")
    # 256 MiB of RAM: the last usable range ends at 0x0fffffff.
    assert "0x0000000000100000-0x000000000fffffff] usable" in out, out


def check_uname_and_cpuinfo(h):
    """`uname -r` names the release of the ready line (Debian's cloud 6.1),
    and /proc/cpuinfo shows what Tern's CPUID offers a Linux guest and Linux
    took: the hypervisor bit, x2APIC with the TSC-deadline timer, ARAT."""
    rc, out = sh(h, "uname -r")
    assert rc == 0 and out.strip() == h.kernel_release, out
    assert re.fullmatch(r"6\.1\.\d+-\d+-cloud-amd64", h.kernel_release)
    rc, out = sh(h, "cat /proc/cpuinfo")
    flags = re.search(r"^flags\s*:(.*)$", out, re.M).group(1).split()
    for f in ("hypervisor", "x2apic", "tsc_deadline_timer", "arat", "apic"):
        assert f in flags, (f, flags)


def test_shell_answers_uname_cpuinfo_and_date(lx):
    check_uname_and_cpuinfo(lx)

    # The guest's date comes from Tern's CMOS clock and keeps real time.
    rc, out = sh(lx, "date -u +%s")
    assert rc == 0 and abs(int(out.strip()) - time.time()) < 120, out


def test_a_long_typed_line_reaches_the_guest_whole(lx):
    """800 characters typed at once (busybox's line editor takes 1023),
    three times the guest UART's buffer: Tern holds what the guest has no
    room for yet (QEMU's serial then waits) instead of dropping it."""
    text = "0123456789" * 80
    rc, out = sh(lx, f"echo {text} | md5sum")
    assert rc == 0 and out.split()[0] == hashlib.md5((text + "\n").encode()).hexdigest(), out


def test_timer_interrupts_count_up_and_the_clock_keeps_time(lx):
    a = interrupts(lx)
    _, up0 = sh(lx, "cat /proc/uptime")
    t0 = time.monotonic()
    time.sleep(5)
    b = interrupts(lx)
    _, up1 = sh(lx, "cat /proc/uptime")
    wall = time.monotonic() - t0
    assert b["LOC"] > a["LOC"], (a, b)
    # The shell's answer went out by THR-empty interrupts (a polled port
    # would count none).
    assert b["ttyS0"] > a["ttyS0"], (a, b)
    guest = float(up1.split()[0]) - float(up0.split()[0])
    # Loose: the test only shows the guest clock advances with real time
    # (drift figures are for `make bench`), not that it stands still or races.
    assert 0.5 * wall < guest < 2 * wall, (guest, wall)


def test_client_pings_the_guest_and_virtio_interrupts_count_up(lx):
    lab = lx.lab
    before = interrupts(lx)
    assert lab.wait_reachable(GUEST_IP, timeout=60)
    cp = lab.client(["ping", "-n", "-c", "5", "-i", "0.3", "-W", "3", GUEST_IP])
    assert " 0% packet loss" in cp.stdout, cp.stdout
    after = interrupts(lx)
    assert after["virtio0-input.0"] > before["virtio0-input.0"], (before, after)
    assert after["virtio0-output.0"] > before["virtio0-output.0"], (before, after)


def test_client_downloads_32_mib_from_the_guests_httpd(lx):
    rc, out = sh(lx, "dd if=/dev/urandom of=/www/big bs=1M count=32 2>/dev/null && md5sum /www/big",
                 timeout=180)
    assert rc == 0, out
    want = re.search(r"^([0-9a-f]{32})\s+/www/big$", out, re.M).group(1)
    cp = lx.lab.client(["python3", "-c",
                        "import hashlib,sys,urllib.request;"
                        "d=urllib.request.urlopen(sys.argv[1],timeout=60).read();"
                        "print(len(d),hashlib.md5(d).hexdigest())",
                        f"http://{GUEST_IP}/big"], timeout=600)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.split() == [str(32 << 20), want], cp.stdout


def test_guest_downloads_from_the_client(lx, tmp_path):
    data = os.urandom(4 << 20)
    (tmp_path / "blob").write_bytes(data)
    want = hashlib.md5(data).hexdigest()
    srv = lx.lab.client_http_server(str(tmp_path), 8080)
    try:
        rc, out = sh(lx, f"wget -q -O - http://{CLIENT_IP}:8080/blob | md5sum", timeout=300)
        assert rc == 0 and re.search(rf"^{want}\s+-$", out, re.M), out
    finally:
        srv.terminate()
        srv.wait(10)


def test_memverify_runs_60_s_without_errors(lx):
    """The guest's own RAM under a writer that checks every page it wrote
    (guest/linux/memverify.c), for 60 s of guest time."""
    rc, out = sh(lx, "memverify -m 64 -t 60 | tail -n 3", timeout=240)
    m = re.search(r"^memverify: done passes (\d+) pages (\d+) errors (\d+)$", out, re.M)
    assert rc == 0 and m, out
    assert int(m.group(1)) >= 2 and int(m.group(2)) == 64 * 256 and m.group(3) == "0", out


def test_two_linux_guests_and_a_memcheck_share_the_host(lx):
    """A second Linux guest and a memcheck next to the first: each keeps
    working, and destroying the second gives back every page."""
    detach(lx)
    free0 = lx.mem_free_kib()
    t0 = lx.mark()
    assert "created" in lx.cmd('vm create mc image=memcheck mem=8 args="rate=2000 verify=1"')
    up = lx.linux_create("lx2", 'kernel=linux initrd=linux-initrd mem=160 args="quiet ip=10.99.0.62/24"')
    assert "created" in up["created"] and up["ip"] == "10.99.0.62/24", up
    gen, errors = lx.memcheck_verified("mc", t0)
    assert errors == 0
    for ip in (GUEST_IP, "10.99.0.62"):
        cp = lx.lab.client(["ping", "-n", "-c", "3", "-i", "0.3", "-W", "3", ip])
        assert " 0% packet loss" in cp.stdout, (ip, cp.stdout)
    rows = lx.vm_list()
    assert rows["lx"]["state"] == rows["lx2"]["state"] == "running", rows
    assert "destroyed" in lx.cmd("vm destroy lx2")
    assert "destroyed" in lx.cmd("vm destroy mc")
    assert lx.mem_free_kib() == free0
    # The first guest is still there and answers on its console.
    attach(lx)
    rc, out = sh(lx, "echo still-here")
    assert rc == 0 and "still-here" in out


REFUSALS = [
    ("kernel=memcheck mem=64", "not a Linux bzImage"),
    ("kernel=linux initrd=linux-initrd mem=4096", "a Linux guest has at most 3072 MiB"),
    ("kernel=linux initrd=nothere mem=64", "no such initrd image"),
    ("kernel=nothere mem=64", "no such kernel image"),
    ("kernel=linux initrd=linux-initrd mem=16", "the kernel does not fit"),
    ("kernel=linux initrd=linux-initrd mem=64", "the kernel does not fit"),  # below init_size
    ("image=memcheck kernel=linux mem=64", "image= (Multiboot) and kernel=/initrd= (Linux) exclude each other"),
]


def test_refusals_leave_memory_as_it_was_and_destroy_gives_back_every_page(lx):
    detach(lx)
    for options, why in REFUSALS:
        free0 = lx.mem_free_kib()
        out = lx.cmd(f"vm create bad {options}")
        assert f"error: vm create bad: {why}" in out, (options, out)
        assert "bad" not in lx.vm_list()
        assert lx.mem_free_kib() == free0, options
    assert "vm lx: destroyed" in lx.cmd("vm destroy lx")
    assert lx.mem_free_kib() == lx.free0
