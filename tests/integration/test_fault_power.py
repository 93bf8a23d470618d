"""Exceptions inside Tern print a full dump; reboot and poweroff work."""
import re

import pexpect
import pytest


@pytest.mark.parametrize("kind,vector,name", [
    ("pf", 14, "#PF page fault"),
    ("gp", 13, "#GP general protection"),
    ("ud", 6, "#UD invalid opcode"),
])
def test_debug_fault_prints_the_exception_dump(tern, kind, vector, name):
    host = tern.boot("qemu")
    host.send(f"debug fault {kind}\r")
    host.expect(r"Tern stopped\. Reset the machine", timeout=30)
    dump = host.p.before.replace("\r", "")
    assert f"CPU exception {vector} ({name})" in dump
    for reg in ["rip", "rsp", "rax", "rbx", "r15", "cr0", "cr2", "cr3", "cr4"]:
        assert re.search(rf"\b{reg}\s+0x[0-9a-f]{{16}}", dump), f"{reg} missing:\n{dump}"
    assert "backtrace:" in dump
    # The faulting instruction and at least one caller, inside Tern's image.
    assert len(re.findall(r"#\d+\s+0x[0-9a-f]{16}\s+\(tern\+0x[0-9a-f]+\)", dump)) >= 2, dump
    if kind == "pf":
        assert "cr2 0x00007ff000000000" in dump


def test_bochs_fault_dump_too(tern):
    host = tern.boot("bochs")
    host.send("debug fault ud\r")
    host.expect(r"Tern stopped\. Reset the machine", timeout=60)
    assert "CPU exception 6 (#UD invalid opcode)" in host.p.before


def test_reboot_comes_back_to_the_prompt(tern):
    host = tern.boot("qemu")
    host.send("reboot\r")
    host.expect(r"rebooting", timeout=30)
    host.expect(r"Tern \S+ \(\S+\) booting via UEFI", timeout=120)
    host.wait_prompt(120)
    assert host.version().startswith("Tern ")


def test_poweroff_stops_the_machine(tern):
    host = tern.boot("qemu")
    host.send("poweroff\r")
    host.expect("powering off", timeout=30)
    host.expect(pexpect.EOF, timeout=60)  # QEMU exits when the guest enters S5
    host.p.wait()
