"""An unmodified Debian Linux guest's life under Tern (SVM, QEMU), from an
image fetched over HTTP to its end: `image fetch` takes the kernel and the
initrd from the lab client's HTTP server (sha256= checked) and a guest boots
from them; its CMOS clock is bound by rtc_cmos and pvpanic by its driver;
`reboot` typed in the guest restarts it (on_reboot=restart: same VM, same
MAC, the ready line again); `poweroff` destroys it (on_poweroff=destroy:
every page back); a kernel panic (`echo c > /proc/sysrq-trigger`, reported
through pvpanic) stops only that guest (on_crash=stop) while a memcheck
beside it keeps verifying. The toy-guest versions of the same rules are in
test_guest_power.py; image fetch's failure cases in test_image_fetch.py.

Three Linux boots in all: the first, the one after `reboot`, the one that
panics.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_linux_lifecycle.py
"""
import hashlib
import os
import re
import time

import pytest

from conftest import LOG_ROOT, TernFactory, _report
from machine import BUILD
import netlab as netlab_mod
from test_linux_guest import attach, boot_lab_tern, detach, sh  # the attached guest's shell

TERN_IP, TERN_MAC = "10.99.0.1", "52:54:00:00:03:1a"
GUEST_IP, PANIC_IP = "10.99.0.71", "10.99.0.72"
CLIENT = netlab_mod.CLIENT_CIDR.split("/")[0]
LINUX = os.path.join(BUILD, "linux")
URL = f"http://{CLIENT}:8000"

life_lab = netlab_mod.lab_fixture(scope="module")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch(h, name, path, timeout=300):
    """`image fetch NAME URL/path sha256=...`; returns its end line."""
    t = h.mark()
    out = h.cmd(f"image fetch {name} {URL}/{path} sha256={sha256(os.path.join(LINUX, path))}")
    assert f"image {name}: fetching {URL}/{path}" in out, out
    m = h.wait_output(rf"^(image {name}: fetched [^\r\n]*|error: image fetch {name}: [^\r\n]*)",
                      timeout, since=t)
    return m.group(1)


@pytest.fixture(scope="module")
def factory():
    f = TernFactory(os.path.join(LOG_ROOT, "test_linux_lifecycle"))
    yield f
    f.close()


@pytest.fixture(autouse=True)
def _logs_on_failure(request, factory):
    yield
    _report(request, factory)


@pytest.fixture(scope="module")
def lf(life_lab, factory):
    """Tern in QEMU on the lab; the client serves build/linux over HTTP; the
    kernel and initrd fetched as `lk` and `li`; guest `lf` booted from them
    (ready line seen) with its console attached."""
    srv = life_lab.client_http_server(LINUX, 8000)
    h = boot_lab_tern(factory, life_lab, TERN_IP, TERN_MAC)
    assert life_lab.wait_reachable(TERN_IP, timeout=60)
    h.free_before_fetch = h.mem_free_kib()
    h.fetched = {"lk": fetch(h, "lk", "linux"), "li": fetch(h, "li", "linux-initrd")}
    h.free_before_create = h.mem_free_kib()
    up = h.linux_create("lf", f'kernel=lk initrd=li mem=256 on_reboot=restart on_poweroff=destroy '
                              f'args="quiet ip={GUEST_IP}/24"')
    assert up["created"] == "vm lf: created (256 MiB, lk + li)", up
    h.ready = (up["kernel"], up["ip"])
    h.mac = h.vm_list()["lf"]["mac"]
    time.sleep(2)  # let the shell print its banner and prompt
    attach(h, "lf")
    # Kernel messages on the console would interleave with command output.
    assert sh(h, "dmesg -n 1")[0] == 0
    yield h
    srv.terminate()
    srv.wait(10)


def test_linux_boots_from_kernel_and_initrd_fetched_over_http(lf):
    for name, path in (("lk", "linux"), ("li", "linux-initrd")):
        p = os.path.join(LINUX, path)
        assert lf.fetched[name] == f"image {name}: fetched {os.path.getsize(p)} bytes " \
                                   f"(sha256 {sha256(p)})", lf.fetched
    with open(os.path.join(LINUX, "root", "kernel-release")) as f:
        release = f.read().strip()
    assert lf.ready == (release, f"{GUEST_IP}/24"), lf.ready
    rc, out = sh(lf, "uname -r")
    assert rc == 0 and out.strip() == release, out


def test_cmos_clock_is_bound_by_rtc_cmos_and_pvpanic_by_its_driver(lf):
    """The DSDT's PNP0B00 device gives Linux's rtc_cmos its clock (without
    it the driver's fallback platform device asks for IRQ 8 and fails), and
    its QEMU0001 device gives pvpanic-mmio the port 0x505."""
    rc, out = sh(lf, "cat /sys/class/rtc/rtc0/name")
    assert rc == 0 and out.startswith("rtc_cmos "), out
    rc, out = sh(lf, "cat /sys/class/rtc/rtc0/since_epoch")
    assert rc == 0 and abs(int(out.strip()) - time.time()) < 120, out
    rc, out = sh(lf, "hwclock -r -u")
    assert rc == 0 and re.search(r"\d\d:\d\d:\d\d", out), out
    rc, out = sh(lf, "dmesg | grep -i -e rtc_cmos -e pvpanic")
    assert "rtc_cmos" in out and "registered as rtc0" in out, out
    assert "failed" not in out, out
    rc, out = sh(lf, "ls /sys/bus/platform/drivers/pvpanic-mmio")
    assert rc == 0 and "QEMU0001:00" in out, out


def test_reboot_in_the_guest_restarts_the_same_vm(lf):
    """busybox `reboot`: init stops everything and the kernel reboots. On a
    hardware-reduced ACPI machine without EFI, Linux jumps to the firmware's
    reset vector (as into a PC BIOS), whose code Tern writes to reset
    through the FADT's reset register; on_reboot=restart boots it again."""
    assert sh(lf, "touch /tmp/before-reboot")[0] == 0  # tmpfs: gone after a real reboot
    t = lf.mark()
    lf.send("reboot\r")
    lf.wait_output(r"^vm lf: rebooted \(guest request\)", 120, since=t)
    # Still attached: the guest's output comes raw, without "[lf] ".
    m = lf.wait_output(r"^tern-linux: ready kernel=(\S+) ip=(\S+)", 300, since=t)
    assert m.groups() == lf.ready, m.group(0)
    time.sleep(2)
    assert sh(lf, "dmesg -n 1")[0] == 0
    rc, out = sh(lf, "test -e /tmp/before-reboot")
    assert rc == 1, out  # a fresh boot, not the old one carrying on
    detach(lf)
    row = lf.vm_list()["lf"]
    assert row["state"] == "running" and row["mac"] == lf.mac, row
    # The reset came through port 0xCF9, not a fallback (i8042, triple fault).
    assert re.search(r"lf asked to reboot \(reset port 0xcf9\)", lf.cmd("log")), "no reboot in log"
    assert lf.lab.wait_reachable(GUEST_IP, timeout=60)
    cp = lf.lab.client(["ping", "-n", "-c", "3", "-i", "0.3", "-W", "3", GUEST_IP])
    assert " 0% packet loss" in cp.stdout, cp.stdout
    attach(lf, "lf")


def test_poweroff_in_the_guest_destroys_it_and_frees_its_memory(lf):
    """busybox `poweroff`: ACPI S5 through the FADT's sleep control register;
    on_poweroff=destroy frees the guest."""
    t = lf.mark()
    lf.send("poweroff\r")
    lf.wait_output(r"^vm lf: powered off", 120, since=t)
    detach(lf)  # the console notices at the next key that its guest is gone
    assert "lf" not in lf.vm_list()
    assert lf.mem_free_kib() == lf.free_before_create
    assert "Tern stopped" not in lf.log.text


def test_kernel_panic_stops_only_that_guest(lf):
    """A second guest from the same fetched images panics: pvpanic reports
    it, on_crash=stop keeps it stopped with the reason, and a memcheck
    beside it never notices."""
    t0 = lf.mark()
    assert "created" in lf.cmd('vm create mc image=memcheck mem=8 args="rate=2000 verify=1"')
    up = lf.linux_create("lp", f'kernel=lk initrd=li mem=160 on_crash=stop args="quiet ip={PANIC_IP}/24"')
    assert up["created"].startswith("vm lp: created") and up["ip"] == f"{PANIC_IP}/24", up
    gen0, errors = lf.memcheck_verified("mc", t0)
    assert errors == 0
    time.sleep(2)
    attach(lf, "lp")
    assert sh(lf, "dmesg -n 1")[0] == 0  # the panic line is KERN_EMERG: still shown
    rc, out = sh(lf, "cat /sys/bus/platform/drivers/pvpanic-mmio/QEMU0001:00/events")
    # memcheck's lines may cut into the attached guest's output here too.
    out = "\n".join(ln for ln in out.splitlines() if not ln.startswith("[mc] "))
    assert rc == 0 and out.strip() == "3", out  # PANICKED and CRASH_LOADED offered and on
    t = lf.mark()
    lf.send("echo c > /proc/sysrq-trigger\r")
    lf.wait_output(r"^error: vm: lp stopped: guest kernel panic \(pvpanic\)", 120, since=t)
    # The attached guest's output is raw; memcheck's lines may cut into it.
    raw = re.sub(r"\n\[mc\] [^\n]*\n", "", lf.log.text[t:].replace("\r", ""))
    assert "Kernel panic - not syncing: sysrq triggered crash" in raw, raw[-3000:]
    detach(lf)
    rows = lf.vm_list()
    assert rows["lp"]["state"] == "stopped", rows
    assert rows["lp"]["stopped"] == "guest kernel panic (pvpanic)", rows
    assert rows["mc"]["state"] == "running", rows
    gen1, errors = lf.memcheck_verified("mc", lf.mark(), 240)
    assert errors == 0 and gen1 > gen0, (gen0, gen1)
    assert lf.cmd("version").startswith("Tern ")
    assert "vm lp: destroyed" in lf.cmd("vm destroy lp")
    assert "vm mc: destroyed" in lf.cmd("vm destroy mc")
    assert lf.mem_free_kib() == lf.free_before_create
    for name in ("lk", "li"):
        assert f"image {name}: dropped" in lf.cmd(f"image drop {name}")
    assert lf.mem_free_kib() == lf.free_before_fetch
