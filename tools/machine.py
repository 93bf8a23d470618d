#!/usr/bin/python3
"""machine: start a Tern host in an emulator, with its serial console on a pty.

One place knows how to boot Tern under each emulator, so `make run`, the
integration tests, `make demo` and `make bench` all boot it the same way:

    QEMU   TCG, OVMF (UEFI), -cpu qemu64,+svm,+npt, q35, an e1000; boots build/esp.img;
           optionally an NVMe disk on a raw image file (Machine(nvme=PATH))
    Bochs  cpu corei7_skylake_x (VMX, EPT, EPT A/D, PML), legacy BIOS, GRUB from
           build/tern.iso (Multiboot2), an e1000 on i440fx

Each machine gets a work directory holding its own copies of what it writes
(OVMF variables, the ESP with its command line, the Bochs config), its
console log, and the emulator's own messages (bochs.out, qemu.err). When the
emulator exits while the harness waits on the console, Console raises
EmulatorExited quoting the last lines of both. Debian's /usr/bin/python3
with python3-pexpect.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
BOCHS_BIOS = "/usr/share/bochs/BIOS-bochs-latest"
VGA_BIOS = "/usr/share/vgabios/vgabios.bin"
PROMPT = "tern> "
TAIL_LINES = 20  # of the emulator's messages and of the console, quoted on failure
_guest_sh_marks = itertools.count()  # numbers guest_sh()'s markers, unique per process

# What to install when an emulator is missing: a test must fail saying so.
NEEDS = {
    "qemu": [("qemu-system-x86_64", "qemu-system-x86"), (OVMF_CODE, "ovmf"), ("mcopy", "mtools")],
    "bochs": [("bochs", "bochs"), (BOCHS_BIOS, "bochsbios"), (VGA_BIOS, "vgabios"),
              ("grub-mkrescue", "grub-pc-bin xorriso")],
}


def missing_tools(kind: str) -> List[str]:
    """Debian packages to install before this emulator can run (empty if none)."""
    out = []
    for tool, pkg in NEEDS[kind]:
        if not (os.path.exists(tool) if tool.startswith("/") else shutil.which(tool)):
            out.append(pkg)
    return out


@dataclass
class Machine:
    """A Tern host to boot. `command()` prepares its media and returns argv."""
    kind: str = "qemu"            # "qemu" or "bochs"
    name: str = "tern"
    workdir: str = ""
    mem_mib: int = 512
    cmdline: str = ""             # Tern's boot command line (ip=..., etc.)
    nic: bool = True              # attach an e1000
    tap: Optional[str] = None     # TAP device for the e1000 (else no network peer)
    mac: Optional[str] = None
    extra: List[str] = field(default_factory=list)  # QEMU: more argv; Bochs: more bochsrc lines
    nvme: Optional[str] = None    # QEMU: a raw image file attached as an NVMe disk (namespace 1)
    nvme_serial: str = "tern-nvme0"
    nvme_opts: str = ""           # more -device nvme options: "logical_block_size=4096,mdts=1"

    def __post_init__(self):
        if self.kind not in ("qemu", "bochs"):
            raise ValueError(f"unknown emulator {self.kind!r} (qemu or bochs)")
        if self.nvme and self.kind != "qemu":
            raise ValueError("an NVMe disk needs QEMU (Bochs has no NVMe controller)")
        if not self.workdir:
            self.workdir = os.path.join(BUILD, "run", self.name)
        os.makedirs(self.workdir, exist_ok=True)

    @property
    def console_log(self) -> str:
        return os.path.join(self.workdir, "console.log")

    @property
    def emulator_log(self) -> str:
        """Where the emulator's own messages go (not the serial console):
        Bochs' stdout and stderr, QEMU's stderr (when run by Console)."""
        return os.path.join(self.workdir, "bochs.out" if self.kind == "bochs" else "qemu.err")

    # -- media -----------------------------------------------------------------
    def _esp(self) -> str:
        esp = os.path.join(self.workdir, "esp.img")
        shutil.copyfile(os.path.join(BUILD, "esp.img"), esp)
        if self.cmdline:
            path = os.path.join(self.workdir, "cmdline.txt")
            with open(path, "w") as f:
                f.write(self.cmdline + "\n")
            subprocess.run(["mcopy", "-o", "-i", esp, path, "::/tern/cmdline.txt"], check=True)
        return esp

    def _iso(self) -> str:
        if not self.cmdline:
            return os.path.join(BUILD, "tern.iso")
        iso = os.path.join(self.workdir, "tern.iso")
        # The same guest modules as build/tern.iso (Linux images included).
        with open(os.path.join(BUILD, "tern.iso.modules")) as f:
            modules = [os.path.join(ROOT, m) for m in f.read().split()]
        subprocess.run([os.path.join(ROOT, "tools", "mkiso.sh"), iso, os.path.join(BUILD, "tern.elf"),
                        self.cmdline, *modules], check=True)
        return iso

    # -- emulator command lines ---------------------------------------------------
    def _qemu(self) -> List[str]:
        vars_fd = os.path.join(self.workdir, "OVMF_VARS.fd")
        shutil.copyfile(OVMF_VARS, vars_fd)
        cmd = ["qemu-system-x86_64", "-machine", "q35", "-cpu", "qemu64,+svm,+npt",
               "-m", str(self.mem_mib), "-display", "none", "-no-user-config", "-nodefaults",
               "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
               "-drive", f"if=pflash,format=raw,file={vars_fd}",
               "-drive", f"format=raw,file={self._esp()}",
               "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con"]
        if self.nic:
            mac = f",mac={self.mac}" if self.mac else ""
            if self.tap:
                cmd += ["-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no",
                        "-device", f"e1000,netdev=n0{mac}"]
            else:
                cmd += ["-device", f"e1000{mac}"]  # a NIC with no peer: nothing leaves
        if self.nvme:
            # The image is the test's to create (sparse is fine) and keep: it
            # outlives the machine, so a test can boot another one on it.
            cmd += ["-drive", f"file={self.nvme},if=none,format=raw,id=nvm0",
                    "-device", f"nvme,serial={self.nvme_serial},drive=nvm0"
                    + (f",{self.nvme_opts}" if self.nvme_opts else "")]
        return cmd + self.extra

    def _bochs(self) -> List[str]:
        cfg = os.path.join(self.workdir, "bochsrc")
        rc = os.path.join(self.workdir, "bochs.rc")
        lines = [
            f"megs: {self.mem_mib}",
            "cpu: model=corei7_skylake_x, count=1, ips=100000000",
            f"romimage: file={BOCHS_BIOS}",
            f"vgaromimage: file={VGA_BIOS}",
            f"ata0-master: type=cdrom, path={self._iso()}, status=inserted",
            "boot: cdrom",
            # The console: Bochs opens our controlling terminal (the pty).
            "com1: enabled=1, mode=term, dev=/dev/tty",
            'display_library: rfb, options="timeout=0"',
            "speaker: enabled=0",
            # Bochs 2.7 starts its sound mixer thread even with the speaker
            # off; where ALSA finds no card (fresh machines, CI) that thread
            # aborts the process ("buffer overflow detected").
            "sound: driver=dummy",
            "clock: sync=none, time0=local",
            f"log: {os.path.join(self.workdir, 'bochs.log')}",
            "panic: action=fatal", "error: action=report", "info: action=ignore",
            "debug: action=ignore",
        ]
        if self.nic:
            lines.append("pci: enabled=1, chipset=i440fx, slot1=e1000")
            mac = self.mac or "52:54:00:12:34:56"
            if self.tap:
                lines.append(f"e1000: enabled=1, mac={mac}, ethmod=tuntap, ethdev=/dev/net/tun:{self.tap}")
            else:
                lines.append(f"e1000: enabled=1, mac={mac}, ethmod=null")
        lines += self.extra  # later lines override earlier ones
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(rc, "w") as f:
            f.write("c\n")
        # Bochs' own chatter goes to a file; only the serial port reaches the pty.
        # cwd: Bochs' null/tuntap NIC backends write their packet logs there.
        return ["sh", "-c", f"cd {self.workdir} && exec bochs -q -f {cfg} -rc {rc} >{self.emulator_log} 2>&1"]

    def command(self) -> List[str]:
        missing = missing_tools(self.kind)
        if missing:
            raise RuntimeError(f"{self.kind} cannot run: install {' '.join(missing)} (make deps does)")
        for f in (["esp.img"] if self.kind == "qemu" else ["tern.iso", "tern.elf"]):
            if not os.path.exists(os.path.join(BUILD, f)):
                raise RuntimeError(f"build/{f} is missing: run make first")
        return self._qemu() if self.kind == "qemu" else self._bochs()


class _Transcript:
    """pexpect's logfile_read: keeps everything the console printed, in memory and on disk."""

    def __init__(self, path: str):
        self.file = open(path, "w", encoding="utf-8", errors="replace")
        self.text = ""

    def write(self, s: str):
        self.text += s.replace("\r", "")  # positions for wait_output() count without CRs
        self.file.write(s)

    def flush(self):
        self.file.flush()

    def close(self):
        self.file.close()


def tail(path: str, n: int = TAIL_LINES) -> str:
    """The last n lines of a text file ("" if it cannot be read)."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class EmulatorExited(RuntimeError):
    """The emulator stopped while the harness waited on its console. The
    message quotes the emulator's own last lines (bochs.out / qemu.err) and
    the console's, so a test fails saying why (not a bare pexpect EOF)."""


class ConsoleTimeout(TimeoutError):
    """The console did not print what the harness waited for in time (the
    emulator still runs). The message quotes the same last lines."""


class Console:
    """A running Tern host, driven through its serial console (pexpect).

    Every wait (boot, cmd, expect, wait_output) raises EmulatorExited if the
    emulator exits meanwhile, and ConsoleTimeout on a timeout, both quoting
    the last lines of the emulator's messages and of the console."""

    def __init__(self, machine: Machine, wrap: Optional[List[str]] = None, boot_timeout: float = 120):
        import pexpect  # python3-pexpect

        self.machine = machine
        argv = (wrap or []) + machine.command()
        self.log = _Transcript(machine.console_log)
        self.started = time.monotonic()
        self.p = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                               timeout=boot_timeout, dimensions=(50, 250),
                               preexec_fn=self._stderr_to_log if machine.kind == "qemu" else None)
        self.p.logfile_read = self.log
        self.boot_timeout = boot_timeout

    def _stderr_to_log(self):
        """In the child, before exec: QEMU's stderr goes to its own file, so
        its messages neither mix with the serial console nor get lost.
        (Bochs' command line redirects its output itself.)"""
        fd = os.open(self.machine.emulator_log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        os.close(fd)

    # -- waiting, with the emulator's own words when it fails --------------------
    def _status(self) -> str:
        if self.p.isalive():
            return "still running"
        if self.p.signalstatus is not None:
            return f"killed by signal {self.p.signalstatus}"
        return f"exited with status {self.p.exitstatus}"

    def _last_lines(self) -> str:
        m = self.machine
        own = tail(m.emulator_log) or "(empty)\n"
        return (f"--- last lines of {m.kind}'s own output ({m.emulator_log}):\n{own}"
                f"--- last lines of the console ({m.console_log}):\n"
                + "".join(self.log.text.splitlines(True)[-TAIL_LINES:]))

    def _failure(self, exc, waiting_for: str, timeout: Optional[float]) -> Exception:
        """The exception to raise instead of pexpect's EOF or TIMEOUT."""
        import pexpect

        self.log.flush()
        if isinstance(exc, pexpect.EOF) or not self.p.isalive():
            return EmulatorExited(f"{self.machine.name}: {self.machine.kind} {self._status()} "
                                  f"while waiting for {waiting_for}\n{self._last_lines()}")
        return ConsoleTimeout(f"{self.machine.name}: no {waiting_for} on the console within "
                              f"{timeout} s ({self.machine.kind} {self._status()})\n{self._last_lines()}")

    def _expect(self, how, pattern, timeout: float, waiting_for: str) -> int:
        """pexpect's expect or expect_exact, with EOF and TIMEOUT turned into
        EmulatorExited / ConsoleTimeout unless the caller asked for them."""
        import pexpect

        pats = pattern if isinstance(pattern, list) else [pattern]
        if any(p is pexpect.EOF or p is pexpect.TIMEOUT for p in pats):
            return how(pattern, timeout=timeout)  # the caller expects the end itself
        try:
            return how(pattern, timeout=timeout)
        except (pexpect.EOF, pexpect.TIMEOUT) as e:
            raise self._failure(e, waiting_for, timeout) from None

    def wait_prompt(self, timeout: Optional[float] = None) -> str:
        timeout = timeout or self.boot_timeout
        self._expect(self.p.expect_exact, PROMPT, timeout, f"the prompt {PROMPT!r}")
        return self.p.before

    def boot(self) -> float:
        """Waits for the first prompt; returns seconds since the emulator started."""
        self.wait_prompt(self.boot_timeout)
        return time.monotonic() - self.started

    def cmd(self, line: str, timeout: float = 30) -> str:
        """Runs one console command; returns its output without the echo."""
        self.p.buffer = ""  # drop stale output (an earlier prompt must not answer this command)
        self.send(line + "\r")
        out = self.wait_prompt(timeout)
        out = out.replace("\r\n", "\n").replace("\r", "")
        # Asynchronous lines (guest output, migration progress) may come
        # before the echo of the command: the output starts after the echo.
        at = out.find(line + "\n")
        return out[at + len(line) + 1:] if at >= 0 else out.partition("\n")[2]

    # -- Tern's own outputs, parsed once for every test -------------------------
    def mem_free_kib(self) -> int:
        """`mem`'s free memory, KiB."""
        return int(re.search(r"^free:\s+\d+ MiB \((\d+) KiB\)", self.cmd("mem"), re.M).group(1))

    def version(self) -> str:
        """`version`'s answer (`Tern 0.1.0 (...)`), or "" if none came: it is
        looked for at the start of any line, since a guest's console line may
        split the echo of the command. Tests use it to show Tern answers."""
        m = re.search(r"^Tern \S+ \(.*?\)?\r?$", self.cmd("version"), re.M)
        return m.group(0).rstrip("\r") if m else ""

    def vm_images(self) -> dict:
        """`vm images` as {name: (bytes, sha256, origin)}; bytes and sha256
        are strings ("-" while a fetch is under way)."""
        rows = {}
        for line in self.cmd("vm images").splitlines():
            m = re.match(r"^(\S+)\s+(\d+|-)\s+([0-9a-f]{64}|-)\s+(.*)$", line)
            if m and m.group(1) != "NAME":
                rows[m.group(1)] = (m.group(2), m.group(3), m.group(4).strip())
        return rows

    def vm_list(self) -> dict:
        """`vm list` as {name: {state, mem, exits, dirty, mac, ip, migrating, stopped}};
        `stopped` is the reason line of a stopped VM, else ""."""
        rows, last = {}, None
        for line in self.cmd("vm list").splitlines():
            m = re.match(r"^(\S+)\s+(running|paused|halted|stopped|incoming)\s+(\d+)\s+(\d+)\s+(\S+)"
                         r"\s+([0-9a-f:]{17})\s+(\S+)(\s+\(migrating\))?\s*$", line)
            if m:
                last = m.group(1)
                rows[last] = {"state": m.group(2), "mem": int(m.group(3)), "exits": int(m.group(4)),
                              "dirty": m.group(5), "mac": m.group(6), "ip": m.group(7),
                              "migrating": bool(m.group(8)), "stopped": ""}
            elif last and line.strip().startswith("stopped:"):
                rows[last]["stopped"] = line.strip()[len("stopped:"):].strip()
        return rows

    def memcheck_verified(self, name: str, since: int, timeout: float = 180):
        """The next full verification guest NAME's memcheck prints after `since`:
        (generation, errors)."""
        m = self.wait_output(rf"^\[{re.escape(name)}\] memcheck: gen=(\d+) verified=\d+ errors=(\d+)",
                             timeout, since=since)
        return int(m.group(1)), int(m.group(2))

    def linux_create(self, name: str, options: str, timeout: float = 300) -> dict:
        """`vm create NAME OPTIONS` for a Linux guest, then its initramfs's
        ready line (guest/linux/init). Returns {"created": Tern's answer line,
        "ready_s": host seconds from typing to the ready line, "kernel": the
        release, "ip": ADDR/PREFIX or none}; an error line fails at once."""
        since = self.mark()
        t0 = time.monotonic()
        self.send(f"vm create {name} {options}\r")
        # expect (not wait_output, which polls every 0.5 s): returns when the line arrives.
        m = self.expect([rf"\[{re.escape(name)}\] tern-linux: ready kernel=(\S+) ip=(\S+)\r",
                         r"\nerror: vm create[^\r\n]*\r\n"], timeout)
        ready_s = time.monotonic() - t0
        if "error: vm create" in m.group(0):
            raise AssertionError(f"vm create {name}: {m.group(0).strip()}")
        created = re.search(rf"^vm {re.escape(name)}: created[^\r\n]*", self.log.text[since:], re.M)
        return {"created": created.group(0) if created else "", "ready_s": ready_s,
                "kernel": m.group(1), "ip": m.group(2)}

    def guest_attach(self, name: str):
        """`vm console NAME`: from now on what is typed goes to guest NAME."""
        t = self.mark()
        self.send(f"vm console {name}\r")
        self.wait_output(rf"attached to {re.escape(name)}", 30, since=t)

    def guest_detach(self):
        """Ctrl-] back from a guest's console to Tern's prompt."""
        self.send("\x1d")
        self.wait_output(r"\[detached\]", 30, since=self.mark() - 1)
        self.wait_prompt(30)

    def guest_sh(self, command: str, timeout: float = 60):
        """Runs a shell command in the guest whose console is attached (`vm
        console NAME`, a Linux guest's shell); returns (status, output).
        Its output lies between a start and an end marker, each spliced in the
        command line so that the echo of a long (wrapped) line never matches."""
        n = next(_guest_sh_marks)
        t = self.mark()
        self.send(f'echo "@@S""TART{n}@@"; {command}; echo "@@E""ND{n}@@ $?"\r')
        s = self.wait_output(rf"^@@START{n}@@\r?$", timeout, since=t)
        m = self.wait_output(rf"^@@END{n}@@ (\d+)\r?$", timeout, since=s.end())
        return int(m.group(1)), self.log.text[s.end():m.start()].replace("\r", "").lstrip("\n")

    def send(self, data: str):
        """Types data on the console. Bochs' serial backend has no flow
        control and delivers bytes at line rate, so a burst can overflow the
        emulated 16550's 16-byte FIFO while Tern is in a guest slice; there
        we type like a person (4 bytes, then 4 ms)."""
        import pexpect

        step = 4 if self.machine.kind == "bochs" else len(data) or 1
        try:
            for i in range(0, len(data), step):
                self.p.send(data[i:i + step])
                if step == 4:
                    time.sleep(0.004)
        except OSError as e:  # the pty's other end is gone
            raise self._failure(pexpect.EOF(str(e)), f"the console to take {data.strip()!r}", None) from None

    def expect(self, pattern, timeout: float = 30):
        """pexpect's expect; pattern may be pexpect.EOF when the test waits
        for the emulator to exit."""
        self._expect(self.p.expect, pattern, timeout, repr(pattern))
        return self.p.match

    def mark(self) -> int:
        """A position in the transcript, for wait_output(since=...)."""
        return len(self.log.text)

    def wait_output(self, pattern: str, timeout: float = 60, since: int = 0):
        """Waits until the console has printed a match of pattern (a regex) after
        position `since`, whether or not a command's output already consumed it.
        Returns the match."""
        import pexpect

        rx = re.compile(pattern, re.M)
        # A pattern anchored at a line's end must not match a line still being
        # printed: with re.M, `$` also matches at the end of the text, so
        # "result: +(.*)$" once captured half a line ("...running on the d").
        whole_lines = pattern.endswith("$")

        def search():
            text = self.log.text
            end = text.rfind("\n") + 1 if whole_lines else len(text)
            return rx.search(text, since, end) if end > since else None

        deadline = time.monotonic() + timeout
        while True:
            m = search()
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._failure(pexpect.TIMEOUT(""), repr(pattern), timeout)
            # Reads into pexpect's buffer (and the transcript) without
            # consuming it, so a later wait_prompt() still sees the prompt.
            try:
                self.p.expect([pexpect.TIMEOUT], timeout=min(left, 0.5))
            except pexpect.EOF as e:
                m = rx.search(self.log.text, since)  # its last words may be the match
                if m:
                    return m
                raise self._failure(e, repr(pattern), timeout) from None

    def alive(self) -> bool:
        return self.p.isalive()

    def close(self):
        if self.p.isalive():
            self.p.terminate(force=True)
        self.log.close()


def scripted(console: Console, lines: List[str]) -> int:
    """Runs commands from a pipe: prints the session, then stops the machine."""
    console.p.logfile_read = None
    console.wait_prompt()
    sys.stdout.write(PROMPT)
    for line in lines:
        sys.stdout.write(line + "\n" + console.cmd(line, timeout=120) + PROMPT)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def strip_ansi(s: str) -> str:
    return re.sub(r"\x1b\[[0-9;=?]*[A-Za-z]", "", s)
