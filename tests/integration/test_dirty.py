"""Dirty-page tracking is exact: on both backends and with every method VMX
offers (EPT A/D scan, PML, write-protect), memcheck's mode=list writes a
known set of pages and the harvest holds every one of them (no false
negatives), nothing that memcheck did not write (only its own reserved
.data/.bss pages may show up besides), and the same pages again once they
are written again after a harvest.

`vm dirty` drives the same log a migration does (kernel/vm_dirty.c), so it
also reports what Tern's devices wrote into guest RAM: the virtio-net
receive buffers a netecho guest only reads."""
import re

import pytest

METHODS = [
    pytest.param("qemu", "ad", id="svm-qemu-ad"),
    pytest.param("qemu", "wp", id="svm-qemu-wp"),
    pytest.param("bochs", "ad", id="vmx-bochs-ad"),
    pytest.param("bochs", "pml", id="vmx-bochs-pml"),
    pytest.param("bochs", "wp", id="vmx-bochs-wp"),
]

MEM_MIB = 16
# Low memory, the first and last pages of 2 MiB EPT/NPT leaf tables, a run
# across a table boundary, more than one PML log (512 entries) in one pass,
# and the last page of RAM.
PAGES = "0x10,0x9e,0x200-0x203,0x3ff-0x401,0x600-0x9ff,0xfff"
GUEST_TIMEOUT = 300


def expand(ranges: str) -> set:
    """'0x10,0x200-0x203' (memcheck's list syntax) as a set of page numbers."""
    pages = set()
    for item in re.split(r"[,\s]+", ranges.strip()):
        if not item:
            continue
        first, _, last = item.partition("-")
        pages.update(range(int(first, 0), int(last or first, 0) + 1))
    return pages


def harvest(host, name: str) -> set:
    out = host.cmd(f"vm dirty {name} harvest", timeout=120)
    m = re.search(r"^(\d+) dirty pages$", out, re.M)
    assert m, f"no page count in the harvest:\n{out}"
    listed = re.search(r"^pages:(.*)$", out, re.M)
    assert listed, f"no page list in the harvest:\n{out}"
    assert "..." not in listed.group(1), f"harvest list truncated:\n{out}"
    pages = expand(listed.group(1))
    assert len(pages) == int(m.group(1)), f"count and list disagree:\n{out}"
    return pages


def fmt(pages: set) -> str:
    return " ".join(hex(p) for p in sorted(pages)[:40]) + (" ..." if len(pages) > 40 else "")


def check_exact(harvested: set, written: set, reserved: set, what: str):
    missing = written - harvested
    assert not missing, f"{what}: written pages missing from the harvest: {fmt(missing)}"
    extra = harvested - written - reserved
    assert not extra, f"{what}: pages nobody wrote in the harvest: {fmt(extra)}"


@pytest.mark.parametrize("kind,method", METHODS)
def test_dirty_harvest_is_exact_and_sees_rewrite_after_clear(tern, kind, method):
    host = tern.boot(kind)
    name = "d"
    t0 = host.mark()
    out = host.cmd(f'vm create {name} image=memcheck mem={MEM_MIB} '
                   f'args="mode=list pages={PAGES} repeat=2 delay=key" --paused')
    assert f"vm {name}: created" in out, out
    # Logging starts before the guest runs its first instruction.
    out = host.cmd(f"vm dirty {name} start {method}")
    assert f"dirty logging on for {name} ({method})" in out, out
    assert f"vm {name}: running" in host.cmd(f"vm resume {name}")

    r = host.wait_output(rf"^\[{name}\] memcheck: reserved pages: (0x[0-9a-f]+)-(0x[0-9a-f]+)$",
                         GUEST_TIMEOUT, since=t0)
    reserved = set(range(int(r.group(1), 16), int(r.group(2), 16) + 1))
    w = host.wait_output(rf"^\[{name}\] memcheck: wrote (\d+) pages: (\S+)$", GUEST_TIMEOUT, since=t0)
    written = expand(w.group(2))
    assert written == expand(PAGES) and int(w.group(1)) == len(written), w.group(0)
    host.wait_output(rf"^\[{name}\] memcheck: waiting for a key before pass 2$", GUEST_TIMEOUT, since=t0)

    # Round 1: everything the first pass wrote.
    check_exact(harvest(host, name), written, reserved, "round 1")
    # Round 2, guest idle (polling its UART): none of the listed pages.
    check_exact(harvest(host, name), set(), reserved, "round 2 (no writes)")

    # Round 3: the same pages written again after their dirty state was
    # cleared by a harvest must all be reported again.
    t1 = host.mark()
    host.send(f"vm console {name}\r")
    host.wait_output(rf"attached to {name}; Ctrl-\] returns to tern>", 30, since=t1)
    host.send("x")
    host.wait_output(rf"memcheck: wrote \d+ pages: {re.escape(PAGES)}", GUEST_TIMEOUT, since=t1)
    host.send("\x1d")
    host.wait_output(r"\[detached\]", 30, since=t1)
    host.wait_prompt(30)
    check_exact(harvest(host, name), written, reserved, "round 3 (rewrite after harvest)")

    out = host.cmd(f"vm dirty {name} stop")
    assert f"dirty logging off for {name}" in out, out
    assert f"vm {name}: destroyed" in host.cmd(f"vm destroy {name}")


TERN_IP = "10.99.0.1"
NETECHO = ("dn", "52:54:00:aa:00:1d", "10.99.0.61")  # name, MAC, IP
PINGS = 40  # well over the 16 receive buffers: the device fills every one


def test_vm_dirty_harvest_includes_pages_the_virtio_net_device_wrote(tern):
    host = tern.boot("qemu", cmdline=f"ip={TERN_IP}/24")
    name, mac, ip = NETECHO
    t0 = host.mark()
    out = host.cmd(f'vm create {name} image=netecho mem=4 mac={mac} args="ip={ip}"')
    assert f"vm {name}: created" in out, out
    m = host.wait_output(rf"^\[{name}\] netecho: rx buffers at (0x[0-9a-f]+), (\d+) x (\d+) bytes",
                         60, since=t0)
    rx, count, size = int(m.group(1), 16), int(m.group(2)), int(m.group(3))
    assert count >= 1 and size >= 64, m.group(0)
    # The first bytes of each buffer (the virtio-net header) are the
    # device's to write; netecho reads them and never writes them, so no
    # CPU dirty log can see these pages being written.
    rx_pages = {(rx + i * size) >> 12 for i in range(count)}

    out = host.cmd(f"vm dirty {name} start ad")
    assert f"dirty logging on for {name} (ad)" in out, out
    t1 = host.mark()
    host.cmd(f"net ping {ip} {PINGS} 50")
    m = host.wait_output(rf"--- {re.escape(ip)}: (\d+) sent, (\d+) received", 60, since=t1)
    assert int(m.group(2)) == PINGS, m.group(0)  # each request landed in a receive buffer

    pages = harvest(host, name)
    missing = rx_pages - pages
    assert not missing, (f"receive-buffer pages the device wrote are missing from the harvest: "
                         f"{fmt(missing)} (harvested: {fmt(pages)})")
    # A harvest clears what it reports: with no traffic since, the next one
    # does not report the buffers again.
    again = harvest(host, name)
    assert not rx_pages & again, f"reported twice: {fmt(rx_pages & again)}"

    out = host.cmd(f"vm dirty {name} stop")
    assert f"dirty logging off for {name}" in out, out
