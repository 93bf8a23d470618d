"""A Linux guest booted through the 64-bit boot protocol (kernel/vm_load_linux.c)
from the ESP's `linux` (Debian's cloud bzImage) and `linux-initrd`: the kernel's
first lines on Tern's console show the command line Tern built, the E820 map
of docs/guests.md and the ACPI tables Tern wrote; every refusal is a clear
error that leaves free memory as it was. The same guest on VMX (Bochs), to
its shell: test_linux_vmx.py."""
import os
import re

import pytest
from conftest import LOG_ROOT, TernFactory

GUEST_MIB = 256


@pytest.fixture(scope="module")
def linux_host(request):
    """One QEMU Tern (SVM) with room for a 256 MiB Linux guest."""
    f = TernFactory(os.path.join(LOG_ROOT, request.module.__name__))
    host = f.boot("qemu", name="qemu", mem_mib=1024)
    images = host.cmd("vm images")
    assert re.search(r"^linux\s+\d+\s", images, re.M), f"no `linux` image on the ESP:\n{images}"
    assert re.search(r"^linux-initrd\s+\d+\s", images, re.M), f"no `linux-initrd` on the ESP:\n{images}"
    yield host
    f.close()


def check_linux_boot(h, boot_timeout):
    """Creates a Linux guest on host h and checks its first lines, up to
    Run /init; destroys it and checks that every page came back."""
    free0 = h.mem_free_kib()
    t0 = h.mark()
    out = h.cmd(f'vm create lx kernel=linux initrd=linux-initrd mem={GUEST_MIB} args="loglevel=7"')
    assert "vm lx: created (256 MiB, linux + linux-initrd)" in out, out

    h.wait_output(r"^\[lx\] \[ *[0-9.]+\] Linux version 6\.1", boot_timeout, since=t0)
    cl = h.wait_output(r"^\[lx\] \[ *[0-9.]+\] Command line: (.*?)\r?\n", 60, since=t0).group(1)
    khz = re.fullmatch(r"console=ttyS0 tsc_early_khz=(\d+) tsc=reliable pci=lastbus=1 loglevel=7", cl.strip())
    assert khz, f"command line not as Tern builds it: {cl!r}"
    # Linux took the TSC rate from the command line Tern gave it.
    mhz = h.wait_output(r"tsc: Detected (\d+)\.(\d+) MHz processor", 60, since=t0)
    assert int(mhz.group(1)) * 1000 + int(mhz.group(2)) == int(khz.group(1))

    # The E820 map of docs/guests.md, as the kernel prints it.
    for rng, kind in [("0x0000000000000000-0x000000000009fbff", "usable"),
                      ("0x000000000009fc00-0x00000000000fffff", "reserved"),
                      ("0x0000000000100000-0x000000000fffffff", "usable")]:
        h.wait_output(rf"BIOS-e820: \[mem {rng}\] {kind}", 60, since=t0)

    # The ACPI tables Tern wrote: RSDP at 0xE0000 (ACPI 2.0), then the XSDT's tables.
    h.wait_output(r"ACPI: RSDP 0x00000000000E0000 000024 \(v02 TERN", 60, since=t0)
    h.wait_output(r"ACPI: XSDT 0x00000000000E00[0-9A-F]{2} [0-9A-F]{6} \(v01 TERN", 60, since=t0)
    h.wait_output(r"ACPI: APIC 0x00000000000E0[0-9A-F]{3} [0-9A-F]{6} \(v05 TERN", 60, since=t0)
    h.wait_output(r"ACPI: FACP 0x00000000000E0[0-9A-F]{3} 000114 \(v06 TERN", 60, since=t0)
    h.wait_output(r"ACPI: DSDT 0x00000000000E0[0-9A-F]{3} [0-9A-F]{6} \(v02 TERN", 60, since=t0)

    # How far it gets depends on the timer and interrupt path; with the
    # loader alone, Linux reaches user space.
    h.wait_output(r"^\[lx\] \[ *[0-9.]+\] Run /init as init process", 5 * boot_timeout, since=t0)
    # Nothing Linux reports against the tables (checksums, lengths).
    text = h.log.text[t0:]
    assert not re.search(r"ACPI.*(Incorrect checksum|Invalid|BIOS bug)", text), text[-3000:]

    assert "vm lx: destroyed" in h.cmd("vm destroy lx")
    assert h.mem_free_kib() == free0


def test_linux_boots_with_terns_command_line_e820_and_acpi_tables(linux_host):
    check_linux_boot(linux_host, 180)


@pytest.mark.parametrize("options, why", [
    ("kernel=memcheck mem=64", "not a Linux bzImage"),
    ("kernel=linux initrd=linux-initrd mem=4096", "a Linux guest has at most 3072 MiB"),
    ("kernel=linux initrd=nothere mem=64", "no such initrd image"),
    ("kernel=nothere mem=64", "no such kernel image"),
    ("kernel=linux initrd=linux-initrd mem=16", "the kernel does not fit"),
    ("image=memcheck kernel=linux mem=64", "image= (Multiboot) and kernel=/initrd= (Linux) exclude each other"),
], ids=["multiboot-as-kernel", "mem-too-big", "initrd-missing", "kernel-missing", "ram-too-small",
        "image-and-kernel"])
def test_linux_create_refusals_leave_memory_as_it_was(linux_host, options, why):
    h = linux_host
    free0 = h.mem_free_kib()
    out = h.cmd(f"vm create bad {options}")
    assert f"error: vm create bad: {why}" in out, out
    assert "bad" not in h.vm_list()
    assert h.mem_free_kib() == free0
