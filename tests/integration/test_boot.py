"""Tern boots to its console under both firmware paths and reports the machine."""
import re

import pytest


def field(out, name):
    m = re.search(rf"^\s*{re.escape(name)}:\s*(.+?)\s*$", out, re.M)
    assert m, f"no '{name}:' line in:\n{out}"
    return m.group(1)


def test_uefi_boot_reaches_prompt_and_reports_version(qemu_host):
    out = qemu_host.cmd("version")
    assert re.search(r"^Tern \d+\.\d+\.\d+ \(\S+, built \d{4}-\d\d-\d\d\)$", out, re.M), out


def test_help_lists_every_foundation_command(qemu_host):
    out = qemu_host.cmd("help")
    for c in ["help", "version", "cpu", "mem", "pci", "uptime", "reboot", "poweroff", "log", "debug"]:
        assert re.search(rf"^\s+{c}\s+\S", out, re.M), f"{c} missing from help:\n{out}"
    usage = qemu_host.cmd("help mem")
    assert "usage: mem [-v]" in usage


def test_cpu_reports_svm_and_npt_on_an_svm_npt_model(qemu_host):
    out = qemu_host.cmd("cpu")
    assert field(out, "vendor") == "AuthenticAMD"
    assert field(out, "svm") == "yes"
    assert field(out, "npt") == "yes"
    assert field(out, "nrip save") == "no"  # QEMU TCG has no NRIP save (EMULATOR-NOTES)
    assert field(out, "vmx") == "no"
    assert int(field(out, "asids")) > 0


def test_pci_lists_the_e1000(qemu_host):
    out = qemu_host.cmd("pci")
    assert re.search(r"^00:\d\d\.\d 8086:100e 0200 ", out, re.M), out
    assert "config access: ECAM" in out  # q35 has an MCFG table


def test_uptime_advances(qemu_host):
    def secs(out):
        return float(re.search(r"\(([\d.]+) s\)", out).group(1))
    a = secs(qemu_host.cmd("uptime"))
    b = secs(qemu_host.cmd("uptime"))
    assert b >= a > 0


def test_mem_verbose_lists_the_uefi_memory_map(qemu_host):
    out = qemu_host.cmd("mem -v")
    assert "regions (UEFI memory map):" in out
    assert re.search(r"usable$", out, re.M)
    assert "module memcheck" in out  # guest images travel on the ESP


@pytest.mark.parametrize("mib", [512, 2048])
def test_mem_total_matches_the_ram_given_to_qemu(tern, mib):
    host = tern.boot("qemu", mem_mib=mib)
    out = host.cmd("mem")
    total = int(re.search(r"total:\s+(\d+) MiB", out).group(1))
    free = int(re.search(r"free:\s+(\d+) MiB", out).group(1))
    assert abs(total - mib) <= mib * 0.02, out
    assert 0 < free < total


def test_multiboot2_boot_under_bochs_reports_vmx_ept_ad_pml(bochs_host):
    out = bochs_host.cmd("cpu")
    assert field(out, "vendor") == "GenuineIntel"
    for f in ["vmx", "ept", "ept a/d", "pml", "vpid", "unrestricted", "preemption timer"]:
        assert field(out, f) == "yes", f"{f}: {out}"
    assert field(out, "svm") == "no"
    ver = bochs_host.cmd("version")
    assert ver.startswith("Tern ")


def test_bochs_pci_uses_port_access_and_lists_the_e1000(bochs_host):
    out = bochs_host.cmd("pci")
    assert re.search(r"^00:\d\d\.\d 8086:100e 0200 ", out, re.M), out
    assert "config access: port 0xCF8" in out  # i440fx has no MCFG


def test_bochs_mem_total_matches(bochs_host):
    out = bochs_host.cmd("mem -v")
    total = int(re.search(r"total:\s+(\d+) MiB", out).group(1))
    assert abs(total - 512) <= 512 * 0.02, out
    assert "regions (Multiboot2 memory map):" in out
    assert "module memcheck" in out
