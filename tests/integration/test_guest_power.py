"""A guest's clock, reboot, poweroff and panic (issue 10): the CMOS RTC
shows today's UTC date; a reset (port 0xCF9, or the i8042's 0xFE), an ACPI
S5 poweroff (0x34 to port 0x600) and a pvpanic (bit 0 to port 0x505) each
do what the VM's on_reboot / on_poweroff / on_crash say, a triple fault
follows on_crash too, a reboot loop is stopped, and a neighbour carries on.

The guests are guest/hostile's modes rtc, reset, resetloop, kbdreset,
poweroff and panic (guest/hostile/README.md), and memcheck's triplefault."""
import datetime
import re

import pytest


def create(host, name, args, extra="", image="hostile"):
    t = host.mark()
    out = host.cmd(f'vm create {name} image={image} mem=8 {extra} args="{args}"'.replace("  ", " "))
    assert f"vm {name}: created" in out, out
    return t


def lines(host, name, since, text):
    """How many console lines guest NAME printed containing text."""
    return len(re.findall(rf"^\[{name}\] .*{re.escape(text)}", host.log.text[since:], re.M))


def destroy(host, name):
    assert f"vm {name}: destroyed" in host.cmd(f"vm destroy {name}")


def test_clock_reboot_poweroff_panic_svm(tern):
    host = tern.boot("qemu")
    free0 = host.mem_free_kib()
    out = host.cmd("vm create x image=hostile mem=8 on_poweroff=restart")
    assert "error: vm create: on_poweroff=restart: destroy or stop" in out, out
    out = host.cmd("vm create x image=hostile mem=8 on_reboot=maybe")
    assert "error: vm create: on_reboot=maybe: restart, destroy or stop" in out, out
    out = host.cmd("vm create x image=hostile mem=8 on_crash=")
    assert "error: vm create: on_crash=: stop, destroy or restart" in out, out
    assert "x" not in host.vm_list()
    create(host, "good", "rate=2000 verify=1", image="memcheck")
    host.memcheck_verified("good", 0, 240)

    # The date: what Linux's rtc_cmos reads, against this machine's UTC.
    t = create(host, "clk", "mode=rtc")
    m = host.wait_output(r"^\[clk\] hostile: rtc (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC regb=0x02 "
                         r"regd=0x80", 120, since=t)
    guest = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - guest).total_seconds()) < 60, (guest, now)
    destroy(host, "clk")

    # Reset through 0xCF9, on_reboot=restart (the default): the same VM
    # boots again (its NVRAM mark survives; its MAC stays).
    t = create(host, "rb", "mode=reset")
    mac = host.vm_list()["rb"]["mac"]
    host.wait_output(r"^vm rb: rebooted \(guest request\)", 120, since=t)
    host.wait_output(r"^\[rb\] hostile: booted again after the reset", 120, since=t)
    assert lines(host, "rb", t, "hostile: mode=reset") == 2
    assert lines(host, "rb", t, "still running after the write") == 0
    assert host.vm_list()["rb"]["mac"] == mac
    destroy(host, "rb")

    # The i8042 reset with on_reboot=destroy: gone.
    t = create(host, "kb", "mode=kbdreset", "on_reboot=destroy")
    host.wait_output(r"^vm kb: rebooted: destroyed \(on_reboot=destroy\)", 120, since=t)
    assert "kb" not in host.vm_list()
    assert lines(host, "kb", t, "booted again") == 0

    # on_reboot=stop: kept, stopped, with the reason.
    t = create(host, "rs", "mode=reset", "on_reboot=stop")
    host.wait_output(r"^error: vm: rs stopped: guest rebooted \(on_reboot=stop\)", 120, since=t)
    row = host.vm_list()["rs"]
    assert row["state"] == "stopped" and "on_reboot=stop" in row["stopped"], row
    assert "on_reboot=stop on_poweroff=destroy on_crash=stop" in host.cmd("vm list")
    destroy(host, "rs")

    # ACPI S5: destroyed (the default), its memory back.
    free1 = host.mem_free_kib()
    t = create(host, "po", "mode=poweroff")
    host.wait_output(r"^vm po: powered off", 120, since=t)
    assert "po" not in host.vm_list()
    assert host.mem_free_kib() == free1
    assert lines(host, "po", t, "still running after the write") == 0

    # on_poweroff=stop keeps it.
    t = create(host, "ps", "mode=poweroff", "on_poweroff=stop")
    host.wait_output(r"^error: vm: ps stopped: guest powered off \(on_poweroff=stop\)", 120, since=t)
    destroy(host, "ps")

    # pvpanic: the events the port offers, then stopped (on_crash=stop).
    t = create(host, "pp", "mode=panic")
    host.wait_output(r"^\[pp\] hostile: pvpanic events 0x3", 120, since=t)
    host.wait_output(r"^error: vm: pp stopped: guest kernel panic \(pvpanic\)", 120, since=t)
    assert host.vm_list()["pp"]["state"] == "stopped"
    assert lines(host, "pp", t, "still running after the write") == 0

    # A triple fault follows on_crash as well.
    t = create(host, "tf", "mode=triplefault", "on_crash=destroy", image="memcheck")
    host.wait_output(r"^vm tf: destroyed after triple fault .*\(on_crash=destroy\)", 120, since=t)
    assert "tf" not in host.vm_list()

    # A guest that resets on every boot is stopped after 10 restarts.
    t = create(host, "loop", "mode=resetloop")
    host.wait_output(r"^error: vm: loop stopped: rebooted 10 times in 60 s: a reboot loop", 300,
                     since=t)
    assert lines(host, "loop", t, "hostile: mode=resetloop") == 11
    assert len(re.findall(r"^vm loop: rebooted \(guest request\)", host.log.text[t:], re.M)) == 10

    # The neighbour never noticed; Tern is fine; everything comes back.
    gen, errors = host.memcheck_verified("good", host.mark(), 240)
    assert errors == 0
    rows = host.vm_list()
    assert rows["good"]["state"] == "running", rows
    assert host.version().startswith("Tern ")
    for name in ("pp", "loop", "good"):
        destroy(host, name)
    assert host.mem_free_kib() == free0
    assert "Tern stopped" not in host.log.text


def test_reboot_and_panic_vmx(tern):
    host = tern.boot("bochs")
    t = create(host, "rb", "mode=reset")
    host.wait_output(r"^vm rb: rebooted \(guest request\)", 300, since=t)
    host.wait_output(r"^\[rb\] hostile: booted again after the reset", 300, since=t)
    t = create(host, "pp", "mode=panic")
    host.wait_output(r"^error: vm: pp stopped: guest kernel panic \(pvpanic\)", 300, since=t)
    rows = host.vm_list()
    assert rows["rb"]["state"] == "halted" and rows["pp"]["state"] == "stopped", rows
