"""The unmodified Debian Linux guest under VMX+EPT (Bochs): it boots to its
busybox shell, answers on `vm console`, takes the e820 map, command line and
ACPI tables Tern wrote, keeps time with its LAPIC's TSC-deadline timer,
takes UART interrupts through the I/O APIC and virtio-net interrupts through
MSI-X (pinging Tern through its switch), and
runs memverify for 60 s without an error, and reboots through its own
`reboot`. The SVM twins are test_linux_guest.py and test_linux_lifecycle.py.

The guest boots with `quiet`: Linux's boot messages cross Tern's emulated
UART one exit per byte, which under Bochs costs minutes; the tests read
them from `dmesg` instead (check_boot_messages, shared with SVM).

    cd tests/integration && /usr/bin/python3 -m pytest -v test_linux_vmx.py
"""
import os
import re
import time

import pytest

from conftest import LOG_ROOT, TernFactory
from test_linux_guest import attach, check_boot_messages, check_uname_and_cpuinfo, detach, interrupts, sh

TERN_IP, GUEST_IP = "10.99.1.1", "10.99.1.61"


def tern_date(h) -> int:
    """Tern's own clock (`date`), seconds since 1970."""
    out = h.cmd("date")
    return int(re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((\d+)\)", out, re.M).group(1))


@pytest.fixture(scope="module")
def bx():
    """Tern in Bochs (VMX) with one Linux guest up and its console
    attached; the guest's switch port reaches Tern's own address."""
    f = TernFactory(os.path.join(LOG_ROOT, "test_linux_vmx"))
    h = f.boot("bochs", name="bochs", mem_mib=1024, cmdline=f"ip={TERN_IP}/24")
    h.free0 = h.mem_free_kib()
    up = h.linux_create("lx", f'kernel=linux initrd=linux-initrd mem=256 args="quiet ip={GUEST_IP}/24"',
                        900)
    assert up["created"] == "vm lx: created (256 MiB, linux + linux-initrd)", up
    assert up["ip"] == f"{GUEST_IP}/24", up
    h.kernel_release = up["kernel"]
    time.sleep(2)  # the shell's banner and prompt
    attach(h)
    yield h
    f.close()


def test_vmx_linux_took_terns_command_line_e820_and_acpi_tables(bx):
    check_boot_messages(bx, f"quiet ip={GUEST_IP}/24")


def test_vmx_linux_shell_answers_uname_cpuinfo_and_date(bx):
    check_uname_and_cpuinfo(bx)
    # Bochs' clock follows its emulated instructions, not this machine's, so
    # the guest's date is checked against Tern's own (`date`), read just
    # before and just after it.
    detach(bx)
    before = tern_date(bx)
    attach(bx)
    rc, out = sh(bx, "date -u +%s")
    detach(bx)
    after = tern_date(bx)
    attach(bx)
    assert rc == 0 and before - 2 <= int(out.strip()) <= after + 2, (before, out, after)


def test_vmx_timer_uart_and_virtio_interrupts_count_up(bx):
    a = interrupts(bx)
    _, up0 = sh(bx, "cat /proc/uptime")
    rc, out = sh(bx, f"ping -c 3 -W 5 {TERN_IP}", timeout=120)
    assert rc == 0 and " 0% packet loss" in out, out
    _, up1 = sh(bx, "cat /proc/uptime")
    b = interrupts(bx)
    assert b["LOC"] > a["LOC"], (a, b)
    assert b["ttyS0"] > a["ttyS0"], (a, b)
    assert float(up1.split()[0]) > float(up0.split()[0]), (up0, up1)
    assert b["virtio0-input.0"] > a["virtio0-input.0"], (a, b)
    assert b["virtio0-output.0"] > a["virtio0-output.0"], (a, b)


def test_vmx_memverify_runs_60_s_without_errors(bx):
    rc, out = sh(bx, "memverify -m 64 -t 60 | tail -n 3", timeout=600)
    m = re.search(r"^memverify: done passes (\d+) pages (\d+) errors (\d+)$", out, re.M)
    assert rc == 0 and m, out
    assert int(m.group(1)) >= 1 and int(m.group(2)) == 64 * 256 and m.group(3) == "0", out


def test_vmx_reboot_in_the_guest_restarts_it_and_destroy_frees_all(bx):
    """Linux reboots through the reset vector Tern's loader writes (real
    mode at 0xFFFF0, then port 0xCF9): under VMX that code runs as an
    unrestricted guest. on_reboot=restart (the default) boots it again."""
    t = bx.mark()
    bx.send("reboot\r")
    bx.wait_output(r"^vm lx: rebooted \(guest request\)", 300, since=t)
    bx.wait_output(r"^tern-linux: ready kernel=\S+ ip=" + re.escape(GUEST_IP), 900, since=t)
    detach(bx)
    assert re.search(r"lx asked to reboot \(reset port 0xcf9\)", bx.cmd("log")), "no reboot in log"
    assert "vm lx: destroyed" in bx.cmd("vm destroy lx")
    assert bx.mem_free_kib() == bx.free0
