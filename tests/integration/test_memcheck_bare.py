"""guest/memcheck booted directly by QEMU (TCG, no Tern): the image, its
Multiboot v1 entry, its output lines and its checker, proven on their own
before any hypervisor test relies on them.

Build first:  make build/guest/memcheck.elf
Run:          cd tests/integration && /usr/bin/python3 -m pytest -v test_memcheck_bare.py

Guest memory is read back through QEMU's QMP `pmemsave`, so the checks of
page content do not take the guest's word for it. Each test's console log
is kept under build/test-logs/memcheck-bare/ and named in every failure.
"""

import json
import re
import shutil
import socket
import struct
import time
from pathlib import Path

import pexpect
import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "build" / "guest" / "memcheck.elf"
LOG_DIR = ROOT / "build" / "test-logs" / "memcheck-bare"
QEMU = "qemu-system-x86_64"
RAM_MIB = 128
PAGE = 4096
BOOT_TIMEOUT = 60

# The page format of guest/memcheck/page.h, written again here so the test
# checks the guest against its documentation, not against itself.
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def mix64(x):
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def page_words(gfn, gen, seed):
    base = mix64(mix64(mix64(gen) ^ gfn) ^ seed)
    return [gfn, gen] + [base ^ ((i * GOLDEN) & M64) for i in range(2, 512)]


def page_sum(words):
    s = FNV_OFFSET
    for w in words:
        s = ((s ^ w) * FNV_PRIME) & M64
    return s


def words_of(data):
    return list(struct.unpack("<512Q", data))


def parse_ranges(text):
    """'0x400,0x800-0x803' -> [0x400, 0x800, 0x801, 0x802, 0x803]"""
    pages = []
    for item in text.split(","):
        first, _, last = item.partition("-")
        pages.extend(range(int(first, 0), int(last or first, 0) + 1))
    return pages


def elf32_segments(path):
    """(e_entry, [(p_paddr, p_filesz, p_memsz, p_flags)]) of the PT_LOADs."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", "not an ELF file"
    assert data[4] == 1, "ELF class is not ELFCLASS32: Multiboot v1 loaders refuse it"
    e_machine, = struct.unpack_from("<H", data, 18)
    assert e_machine == 3, f"e_machine {e_machine}, want EM_386 (3)"
    e_entry, e_phoff = struct.unpack_from("<II", data, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 42)
    segs = []
    for i in range(e_phnum):
        p_type, _, _, p_paddr, p_filesz, p_memsz, p_flags, _ = struct.unpack_from(
            "<8I", data, e_phoff + i * e_phentsize)
        if p_type == 1:
            segs.append((p_paddr, p_filesz, p_memsz, p_flags))
    return e_entry, segs


class Qmp:
    """Just enough QMP to read guest-physical memory."""

    def __init__(self, path):
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(30)
        self.buf = b""
        self._reply()  # greeting
        self.command("qmp_capabilities")

    def _reply(self):
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("QMP closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def command(self, name, **args):
        self.sock.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        msg = self._reply()
        if "QMP" in msg:
            msg = self._reply()
        assert "error" not in msg, f"QMP {name}: {msg['error']}"
        return msg.get("return")

    def close(self):
        self.sock.close()


class Guest:
    """One memcheck in QEMU, its serial console on a pexpect pty."""

    def __init__(self, name, append, tmp_path):
        self.tmp = tmp_path
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"{name}.log"
        self.log = open(self.log_path, "w")
        qmp_path = tmp_path / "qmp.sock"
        args = ["-machine", "pc", "-cpu", "qemu64", "-m", str(RAM_MIB),
                "-kernel", str(IMAGE), "-append", append,
                "-display", "none", "-serial", "stdio", "-no-reboot",
                "-qmp", f"unix:{qmp_path},server=on,wait=off"]
        self.log.write(f"$ {QEMU} {' '.join(args)}\n")
        self.log.flush()
        self.child = pexpect.spawn(QEMU, args, encoding="utf-8", codec_errors="replace",
                                   timeout=BOOT_TIMEOUT, logfile=self.log)
        self._qmp = None
        self.qmp_path = qmp_path

    def where(self):
        return f"(console log: {self.log_path})"

    def expect(self, regex, timeout=BOOT_TIMEOUT):
        """Waits for regex; returns the match. Fails naming the log."""
        try:
            self.child.expect(regex, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            kind = "timed out" if isinstance(e, pexpect.TIMEOUT) else "QEMU exited"
            tail = (self.child.before or "")[-800:]
            pytest.fail(f"{kind} waiting for {regex!r} {self.where()}\n--- last output:\n{tail}")
        return self.child.match

    def line(self, regex, timeout=BOOT_TIMEOUT):
        """The next line starting with 'memcheck: ' must match regex."""
        m = self.expect(r"memcheck: ([^\r\n]*)\r*\n", timeout)
        got = m.group(1)
        full = re.fullmatch(regex, got)
        assert full, f"line 'memcheck: {got}' does not match {regex!r} {self.where()}"
        return full

    def banner_and_reserved(self, mode):
        """The lines every mode starts with; returns the reserved gfns."""
        m = self.line(rf"start mem=(\d+) mode={mode}")
        self.mem_mib = int(m.group(1))
        self.line(r"cmdline: .*")
        self.line(r"tsc \d+ kHz \(.*\)")
        return parse_ranges(self.line(r"reserved pages: (\S+)").group(1))

    def read_pages(self, first_gfn, count):
        """Raw bytes of guest pages, straight from QEMU's view of RAM."""
        if self._qmp is None:
            self._qmp = Qmp(self.qmp_path)
        out = self.tmp / "pmem.bin"
        self._qmp.command("pmemsave", val=first_gfn * PAGE, size=count * PAGE,
                          filename=str(out))
        data = out.read_bytes()
        assert len(data) == count * PAGE
        return data

    def page_words(self, gfn):
        return words_of(self.read_pages(gfn, 1))

    def close(self):
        if self._qmp:
            self._qmp.close()
        if self.child.isalive():
            self.child.terminate(force=True)
        self.log.close()


@pytest.fixture
def boot(request, tmp_path):
    """boot(append) -> Guest; every QEMU is stopped after the test."""
    if shutil.which(QEMU) is None:
        pytest.fail(f"{QEMU} not found: install qemu-system-x86 (run `make deps`)")
    if not IMAGE.exists():
        pytest.fail(f"{IMAGE} is missing: run `make {IMAGE.relative_to(ROOT)}` first")
    guests = []

    def start(append):
        g = Guest(f"{request.node.name}-{len(guests)}", append, tmp_path)
        guests.append(g)
        return g

    yield start
    for g in guests:
        g.close()


def progress(g, timeout=BOOT_TIMEOUT):
    """Next progress line -> (gen, verified, errors)."""
    m = g.line(r"gen=(\d+) verified=(\d+) errors=(\d+)", timeout)
    return tuple(int(x) for x in m.groups())


def run_header(g):
    """The run/selftest setup lines -> dict of data/table ranges and counts."""
    m = g.line(r"run pages=(\d+) data=(0x[0-9a-f]+)-(0x[0-9a-f]+) "
               r"table=(0x[0-9a-f]+)-(0x[0-9a-f]+) wss=(\d+) rate=(\w+) "
               r"pattern=(seq|random) verify=(\d+)s seed=(\d+) idle=(\d+)ms")
    pages = int(m.group(1))
    info = {"pages": pages, "data": int(m.group(2), 16), "data_last": int(m.group(3), 16),
            "table": int(m.group(4), 16), "table_last": int(m.group(5), 16),
            "wss": int(m.group(6)), "seed": int(m.group(10)), "idle_ms": int(m.group(11))}
    assert info["data_last"] - info["data"] + 1 == pages
    assert g.line(r"initialised (\d+) pages").group(1) == str(pages)
    return info


# ------------------------------------------------------------------ the image

def test_image_is_an_elf32_multiboot_v1_image_loaded_at_1mib():
    if not IMAGE.exists():
        pytest.fail(f"{IMAGE} is missing: run `make {IMAGE.relative_to(ROOT)}` first")
    data = IMAGE.read_bytes()
    entry, segs = elf32_segments(IMAGE)
    # Multiboot spec 3.1.1: 32-bit aligned, within the first 8192 bytes.
    off = next(o for o in range(0, min(len(data), 8192) - 12, 4)
               if struct.unpack_from("<I", data, o)[0] == 0x1BADB002)
    magic, flags, checksum = struct.unpack_from("<3I", data, off)
    assert (magic + flags + checksum) & 0xFFFFFFFF == 0
    assert flags & (1 << 16) == 0, "a.out kludge set: the ELF headers must be used"
    assert segs and min(s[0] for s in segs) == 0x100000
    text = segs[0]
    assert text[0] <= entry < text[0] + text[1], "entry is not in the first PT_LOAD"
    assert len(data) < 64 * 1024, f"image grew to {len(data)} bytes"


# ------------------------------------------------------------------ mode=run

def test_run_mode_verifies_all_ram_with_growing_generation(boot):
    g = boot("mode=run rate=max verify=1")
    reserved = g.banner_and_reserved("run")
    # QEMU's mem_upper leaves the top 128 KiB of a 128 MiB guest out.
    assert g.mem_mib in (RAM_MIB - 1, RAM_MIB)
    run = run_header(g)
    assert run["table"] == reserved[-1] + 1, "table does not follow the image"
    assert run["data"] == run["table_last"] + 1
    assert (run["data_last"] + 1) * PAGE > (RAM_MIB - 1) * 2**20, "not all RAM is used"
    assert run["pages"] * 16 <= (run["table_last"] - run["table"] + 1) * PAGE
    gens = []
    for _ in range(3):
        gen, verified, errors = progress(g)
        assert (verified, errors) == (run["pages"], 0)
        gens.append(gen)
    assert run["pages"] < gens[0] < gens[1] < gens[2], f"generation not growing: {gens}"


def test_run_mode_pages_match_the_documented_format_and_table(boot):
    """A bounded random run inside a 1 MiB working set: afterwards every page
    in memory equals page.h's content for the generation its table entry
    holds, the checksums agree, only the working set was rewritten, and the
    generations add up to the writes the guest reported."""
    seed = 0xC0FFEE
    g = boot(f"mode=run pattern=random wss=1 mem=16 rate=max writes=20000 seed={seed}")
    g.banner_and_reserved("run")
    assert g.mem_mib == 16
    run = run_header(g)
    assert run["wss"] == 256
    gen_total, verified, errors = progress(g)
    assert (gen_total, verified, errors) == (20000, run["pages"], 0)
    g.line("done")

    table_pages = run["table_last"] - run["table"] + 1
    table = struct.unpack(f"<{table_pages * PAGE // 8}Q",
                          g.read_pages(run["table"], table_pages))
    gens = table[0:2 * run["pages"]:2]
    sums = table[1:2 * run["pages"]:2]
    assert sum(gens) == gen_total, "table generations do not add up to the writes"
    assert all(gen == 1 for gen in gens[run["wss"]:]), "a page outside wss= was rewritten"
    assert sum(gen > 1 for gen in gens[:run["wss"]]) > run["wss"] // 2

    data = g.read_pages(run["data"], run["pages"])
    for i in range(run["pages"]):
        gfn = run["data"] + i
        words = words_of(data[i * PAGE:(i + 1) * PAGE])
        assert words[:2] == [gfn, gens[i]], f"page {gfn:#x} header {words[:2]}"
        if i < run["wss"] or i % 97 == 0:  # every hot page, a sample of the rest
            assert words == page_words(gfn, gens[i], seed), f"page {gfn:#x} content"
            assert page_sum(words) == sums[i], f"page {gfn:#x} checksum"


def test_run_mode_paces_writes_to_the_rate(boot):
    """rate=200 pages/s against a PIT-calibrated TSC: the writes between two
    one-second verifications are of that order, far from rate=max (which
    writes over 100000 pages/s here). Loose bounds: a behaviour, not a figure."""
    g = boot("mode=run rate=200 tsc_khz=pit verify=1 mem=16")
    g.banner_and_reserved("run")
    run_header(g)
    gens = [progress(g)[0] for _ in range(4)]
    deltas = [b - a for a, b in zip(gens, gens[1:])]
    assert all(50 <= d <= 800 for d in deltas), f"writes per second {deltas} {g.where()}"


def test_run_mode_idle_rests_between_sweeps_of_the_working_set(boot):
    """idle=500 after each sweep of a 1 MiB (256-page) working set at
    rate=max: the writes between two one-second verifications are a couple
    of sweeps, not rate=max's 100000 and more. Loose bounds, a behaviour."""
    g = boot("mode=run rate=max wss=1 idle=500 tsc_khz=pit verify=1 mem=16")
    g.banner_and_reserved("run")
    run = run_header(g)
    assert (run["wss"], run["idle_ms"]) == (256, 500)
    gens = [progress(g)[0] for _ in range(4)]
    deltas = [b - a for a, b in zip(gens, gens[1:])]
    assert all(128 <= d <= 2048 for d in deltas), f"writes per second {deltas} {g.where()}"


# ------------------------------------------------------------------ mode=selftest

def test_selftest_reports_exactly_the_damaged_pages(boot):
    """Verification is not vacuous: three pages damaged behind the table's
    back are named, each with the right kind, and nothing else is."""
    g = boot("mode=selftest mem=16")
    g.banner_and_reserved("selftest")
    run = run_header(g)
    damaged = {}
    for _ in range(3):
        m = g.line(r"selftest page=(0x[0-9a-f]+) damage=(\w+)")
        damaged[int(m.group(1), 16)] = m.group(2)
    assert sorted(damaged.values()) == ["corrupt", "stale", "zero"]
    assert all(run["data"] <= p <= run["data_last"] for p in damaged)

    reported = {}
    while True:
        m = g.line(r"MISMATCH page=(0x[0-9a-f]+) expected=(\d+):0x[0-9a-f]{16} "
                   r"got=(\d+):0x[0-9a-f]{16} kind=(\w+) bad_words=(\d+) first_bad=(\d+)"
                   r"|gen=(\d+) verified=(\d+) errors=(\d+)")
        if m.group(7):
            break
        page = int(m.group(1), 16)
        assert page not in reported, f"page {page:#x} reported twice"
        reported[page] = m.group(4)
        expected, got, bad_words = int(m.group(2)), int(m.group(3)), int(m.group(5))
        if m.group(4) == "stale":
            assert got == expected - 1
        if m.group(4) == "corrupt":
            assert (bad_words, int(m.group(6))) == (256, 256), "torn half not located"
    assert reported == damaged
    assert (int(m.group(8)), int(m.group(9))) == (run["pages"], 3)
    # The first pass rewrote the bad pages: the second finds nothing new.
    _, _, errors = progress(g)
    assert errors == 3
    g.line("selftest passed")


# ------------------------------------------------------------------ mode=list

def test_list_mode_writes_exactly_the_listed_pages(boot):
    g = boot("mode=list pages=0x400,0x800-0x803,5000,0x20 seed=5")
    reserved = g.banner_and_reserved("list")
    # Reserved = the image's writable pages: its RW PT_LOAD to the end of .bss.
    _, segs = elf32_segments(IMAGE)
    rw = [s for s in segs if s[3] & 2]
    assert reserved == list(range(rw[0][0] // PAGE, (rw[-1][0] + rw[-1][2] + PAGE - 1) // PAGE))

    g.line(re.escape("wrote 7 pages: 0x400,0x800-0x803,0x1388,0x20"))
    g.line("done")
    for gfn in (0x20, 0x400, 0x800, 0x801, 0x802, 0x803, 5000):
        assert g.page_words(gfn) == page_words(gfn, 1, 5), f"page {gfn:#x}"
    for gfn in (0x21, 0x3FF, 0x401, 0x7FF, 0x804, 5001):
        assert not any(g.page_words(gfn)), f"unlisted page {gfn:#x} was written"


def test_list_mode_repeat_writes_the_pages_again_after_a_key(boot):
    g = boot("mode=list pages=0x600-0x601 repeat=2 delay=key seed=9")
    g.banner_and_reserved("list")
    g.line(re.escape("wrote 2 pages: 0x600-0x601"))
    g.line("waiting for a key before pass 2")
    assert g.page_words(0x601) == page_words(0x601, 1, 9)
    g.child.send("x")
    g.line(re.escape("wrote 2 pages: 0x600-0x601"))
    g.line("done")
    for gfn in (0x600, 0x601):
        assert g.page_words(gfn) == page_words(gfn, 2, 9), f"page {gfn:#x} pass 2"


def test_list_mode_refuses_a_page_outside_free_ram_and_writes_none(boot):
    g = boot("mode=list pages=0x400,0x100")
    g.banner_and_reserved("list")
    g.line(r"error: pages=: page 0x100 is not free guest RAM \(free: .*\)")
    g.line("halted")
    assert not any(g.page_words(0x400)), "a page was written before the list was checked"


# ------------------------------------------------------------------ options and faults

def test_unknown_option_is_named_and_the_guest_halts(boot):
    g = boot("mode=run sped=3")
    g.line(r"start mem=\d+ mode=\?")
    g.line(r"cmdline: .*")
    g.line(r"error: option 'sped=3': unknown option or bad value .*")
    g.line("halted")


def test_triplefault_mode_resets_the_machine(boot):
    g = boot("mode=triplefault")
    g.banner_and_reserved("triplefault")
    g.line("triple fault now")
    g.expect(pexpect.EOF, timeout=30)  # -no-reboot: QEMU exits on the reset


def test_outside_mode_writes_just_past_ram(boot):
    g = boot("mode=outside")
    g.banner_and_reserved("outside")
    addr = int(g.line(r"writing outside RAM at (0x[0-9a-f]+)").group(1), 16)
    # The first byte past mem_upper (QEMU leaves out the top 128 KiB).
    assert addr % PAGE == 0 and (RAM_MIB - 1) * 2**20 <= addr <= RAM_MIB * 2**20
    # Bare QEMU drops the write; Tern is expected to stop the guest here.
    g.line(rf"still running after the write at {addr:#x}")
