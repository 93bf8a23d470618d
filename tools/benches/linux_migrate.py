"""A Debian Linux guest migrated live by Tern, next to QEMU's own live
migration of the same bzImage and initramfs at the same bandwidth, with
what the lab's client sees of it (issue 11).

Three workloads, each in a fresh 256 MiB guest (GUEST_MIB), migrated A to B
REPEAT times per configuration:

    idle       the shell idle
    memverify  memverify rewriting and checking MEMVERIFY_MIB MiB
    http       busybox httpd serving a 2 MiB file that the client downloads
               over and over, md5-checked (HttpLoop)

In every one the guest streams sequence numbers to the client (tcpseq -c,
TCPSEQ_RATE a second) and the client pings it every 10 ms. Around each
migration the client's tcpseq server gives the stream's longest silence,
timed by the client (host time), and the ping log the requests lost of
those sent, from the migration's start to 1 s after it ended.

  Tern  two QEMU TCG Terns (SVM+NPT) on TAPs of one lab bridge; the guest is
        created as benches/linux.py does, then `migrate lx <B> --insecure`
        with the defaults otherwise (auto-converge on); the summary's
        figures (benches/migrate.py: tern_migrate).
  QEMU  qemu-system-x86_64 TCG booting the same build/linux/linux and
        linux-initrd (-kernel, -initrd, the command line Tern's guest gets
        where it applies; 8 KiB more RAM: QEMU_MEM says why), a
        virtio-net NIC on a TAP of the same bridge, the source in one lab
        host namespace and the destination (-incoming defer) in another,
        so the stream crosses the bridge.
        Driven over QMP (benches/migrate.py: qemu_migrate) with
        max-bandwidth = Tern's link rate in this workload (round 0's
        Mbit/s), auto-converge off, then on. Still running after
        QEMU_CONVERGE_S, the source is paused (libvirt's --timeout).

A move counts when the guest lives through it (no kernel crash on the
destination, and it answers there); one that did not is kept and the
move tried again, up to TRIES times. Medians over the moves that counted.

Emulated machines on one shared host: compare within one run.
docs/bench.md says what each figure is.
"""
import itertools
import os
import re
import socket
import statistics
import subprocess
import sys
import time

import netlab
from benches.linux import GUEST_MIB, QEMU_READY_S, create_linux
from benches.migrate import (IP_A, IP_B, PREALLOC, QEMU_DST_IP, QEMU_PORT, QMP, host_time,
                             link_mbit_s, medians, qemu_argv, qemu_migrate, ratio, short_reason,
                             tern_clocks, tern_migrate)
from hostpair import boot_pair
from machine import BUILD

TITLE = "linux_migrate: a Linux guest's live migration, Tern vs QEMU's at equal bandwidth (QEMU TCG)"
WORKLOADS = ("idle", "memverify", "http")
REPEAT = 1                    # migrations per workload and configuration
MEMVERIFY_MIB = 128           # of the guest's 256 MiB
SETTLE_S = 3                  # the workload and the client's traffic run this long first
TAIL_S = 3                    # then the client watches this long past the window
QEMU_CONVERGE_S = 60          # a QEMU migration still running is then paused
TRIES = 3                     # moves per figure at most, until the guest lives through one
ALIVE_S = 20                  # the guest must answer on its console within this after a move
TCPSEQ_RATE = 2000            # numbers (8 bytes) a second, guest -> client
TCPSEQ_PORT = 7000
STALL_MS = 20                 # the client's tcpseq reports silences longer than this
PING_INTERVAL_S = 0.01
BLOB_KIB = 2048               # the file the client downloads (http)
KEY = "bench-linux-migrate-key"
GUEST_IP, GUEST_MAC = "10.99.0.62", "52:54:00:aa:07:62"
QEMU_SRC_IP = "10.99.0.51"
CLIENT_IP = netlab.CLIENT_CIDR.split("/")[0]
LINUX = os.path.join(BUILD, "linux")
TCPSEQ = os.path.join(LINUX, "bin", "tcpseq")
# Tern's guest gets console=ttyS0 tsc_early_khz=... tsc=reliable
# pci=lastbus=1 before its args (docs/vm.md); under QEMU the TSC rate
# comes from calibration and PCI from the machine's own tables.
QEMU_APPEND = f"console=ttyS0 tsc=reliable quiet ip={GUEST_IP}/24"
# 8 KiB over GUEST_MIB: QEMU 7.2 under TCG loses guest writes in a migration
# when the RAM block is a whole number of 256 KiB (its dirty bitmap's fast
# path does not re-arm TCG's dirty tracking; fixed in QEMU 9.0 by commit
# 03bfc2188f). With -m 256 the Linux guest crashed on the destination in
# 12 of 14 moves of a run of this bench; with this size, in none of 17.
QEMU_MEM = f"{GUEST_MIB * 1024 + 8}k"
WORK = os.path.join(BUILD, "bench", "linux-migrate")

# Opens a lab TAP in the lab namespace (the only place it exists) as QEMU
# opens one by name (TUNSETIFF 0x400454ca: IFF_TAP | IFF_NO_PI |
# IFF_VNET_HDR, 0x5002) and execs the rest of argv, '@TAPFD@' replaced by
# the descriptor: QEMU then runs in a host namespace of its own, its NIC on
# the bridge and its migration stream across it.
TAP_EXEC = ("import fcntl, os, struct, sys; fd = os.open('/dev/net/tun', os.O_RDWR); "
            "fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH22x', sys.argv[1].encode(), 0x5002)); "
            "os.set_inheritable(fd, True); "
            "argv = [a.replace('@TAPFD@', str(fd)) for a in sys.argv[2:]]; os.execvp(argv[0], argv)")

_marks = itertools.count()
# What a guest kernel prints when it has crashed.
OOPS = re.compile(r"(Kernel panic - not syncing: .*|BUG: .*|Oops: .*|invalid opcode: .*"
                  r"|general protection fault.*)")


# -- the guest's side ------------------------------------------------------------

def check(sh, command, timeout=60):
    """sh(command)'s output; a failed command is an error."""
    rc, out = sh(command, timeout)
    if rc:
        raise RuntimeError(f"guest: {command}: status {rc}: {out.strip()[-300:]}")
    return out


def prepare(sh, wname):
    """Quiets the kernel on the console, starts the guest's stream to the
    client and the workload; returns the blob's md5 for http."""
    check(sh, "dmesg -n 1")
    check(sh, f"{{ tcpseq -c {CLIENT_IP}:{TCPSEQ_PORT} -r {TCPSEQ_RATE} > /tmp/seq.log 2>&1 & }}")
    if "tcpseq: connected" not in check(sh, "sleep 1; cat /tmp/seq.log"):
        raise RuntimeError(f"guest: tcpseq did not connect: {check(sh, 'cat /tmp/seq.log')}")
    if wname == "memverify":
        check(sh, f"{{ memverify -m {MEMVERIFY_MIB} > /tmp/mv.log 2>&1 & }}")
        deadline = time.monotonic() + 300
        while memverify_status(sh)[0] < 1:  # every page written once
            if time.monotonic() > deadline:
                raise RuntimeError(f"guest: memverify: {check(sh, 'cat /tmp/mv.log')}")
            time.sleep(2)
    if wname == "http":
        out = check(sh, f"dd if=/dev/urandom of=/www/blob bs=64k count={BLOB_KIB // 64} 2>/dev/null"
                        " && md5sum /www/blob")
        return re.search(r"^([0-9a-f]{32}) ", out, re.M).group(1)
    return None


def memverify_status(sh, timeout=60):
    """(passes, errors) so far from the guest's memverify log."""
    out = check(sh, "grep -c '^memverify: pass' /tmp/mv.log; grep -c '^memverify: error' /tmp/mv.log"
                    "; true", timeout)
    passes, errors = (int(x) for x in out.split()[:2])
    return passes, errors


class SerialShell:
    """A plain QEMU guest's ttyS0 on a unix socket (-serial unix:PATH,...),
    its shell driven like machine.Console.guest_sh, logged to log_path."""

    def __init__(self, path, log_path, timeout=30):
        from pexpect import fdpexpect
        deadline = time.monotonic() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no console socket at {path}")
                time.sleep(0.1)
        self.log = open(log_path, "a")
        self.p = fdpexpect.fdspawn(self.s, encoding="utf-8", codec_errors="replace",
                                   logfile=self.log)

    def expect(self, pattern, timeout):
        self.p.expect(pattern, timeout=timeout)
        return self.p.match

    def drain(self):
        """Reads what the guest printed so far (into the log)."""
        import pexpect
        self.p.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.5)

    def sh(self, command, timeout=60):
        n = next(_marks)
        self.p.send(f'echo "@@S""TART{n}@@"; {command}; echo "@@E""ND{n}@@ $?"\r')
        self.expect(rf"@@START{n}@@\r\n", timeout)
        rc = int(self.expect(rf"@@END{n}@@ (\d+)\r\n", timeout).group(1))
        return rc, self.p.before.replace("\r", "")

    def close(self):
        self.s.close()
        self.log.close()


# -- Tern and QEMU, one migration each ------------------------------------------------

class TernSide:
    """The guest on Tern A, migrated to B with `migrate lx <B> --insecure`."""

    def __init__(self, pair, clock, what):
        self.a, self.b, self.clock, self.what = pair.a, pair.b, clock, what
        self.attached = None  # the console typing into the guest, if any

    def boot(self):
        create_linux(self.a, "lx", QEMU_READY_S, mac=GUEST_MAC, ip=GUEST_IP)
        time.sleep(2)  # the shell prints its banner and prompt
        self.a.guest_attach("lx")
        self.attached = self.a

    def sh(self, command, timeout=60):
        return self.a.guest_sh(command, timeout)

    def release(self):
        self.a.guest_detach()
        self.attached = None

    def migrate(self):
        self.since_b = self.b.mark()
        fig = tern_migrate(self.a, self.b, "lx", GUEST_MIB, "--insecure", self.what)
        return host_time(fig, self.clock["a"], self.clock["b"])

    def crashed(self):
        """The first line of a kernel crash on B's console since the move, or None."""
        m = re.search(r"^\[lx\] .*?" + OOPS.pattern, self.b.log.text[self.since_b:], re.M)
        return m.group(1).strip() if m else None

    def sh_after(self, command, timeout=60):
        self.b.guest_attach("lx")
        self.attached = self.b
        rc_out = self.b.guest_sh(command, timeout)
        self.b.guest_detach()
        self.attached = None
        return rc_out

    def close(self):
        if self.attached:  # a failure while typing into the guest
            self.attached.guest_detach()
        for c in (self.a, self.b):
            if "lx" in c.vm_list():
                c.cmd("vm destroy lx")


class QemuSide:
    """The same kernel and initramfs under plain QEMU TCG, source in the lab
    host `qsrc`, destination in `qdst`, each with its NIC on its own TAP."""

    def __init__(self, lab, hosts, taps, workdir, bandwidth, auto_converge):
        self.lab, self.hosts, self.taps, self.d = lab, hosts, taps, workdir
        self.bandwidth, self.auto_converge = bandwidth, auto_converge
        self.procs, self.qmps, self.cons = [], [], []
        self.uri = f"tcp:{QEMU_DST_IP}:{QEMU_PORT}"

    def _start(self, side, incoming=None):
        d = self.d
        for f in (f"{side}.con", f"{side}.qmp"):
            if os.path.exists(os.path.join(d, f)):
                os.unlink(os.path.join(d, f))
        argv = qemu_argv(QEMU_MEM, QEMU_APPEND, f"unix:{d}/{side}.con,server=on,wait=off",
                         f"{d}/{side}.qmp", incoming=incoming, kernel=os.path.join(LINUX, "linux"),
                         initrd=os.path.join(LINUX, "linux-initrd"))
        argv += ["-netdev", "tap,id=n0,fd=@TAPFD@",
                 "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}"]
        with open(os.path.join(d, f"{side}.log"), "w") as log:
            self.procs.append(self.lab.popen(
                [sys.executable, "-c", TAP_EXEC, self.taps[side], "ip", "netns", "exec",
                 self.hosts[side].ns] + argv, stdout=log, stderr=subprocess.STDOUT))
        q = QMP(f"{d}/{side}.qmp")
        self.qmps.append(q)
        # Connected from the start: what the guest prints before anyone
        # listens is lost.
        self.cons.append(SerialShell(f"{d}/{side}.con", f"{d}/{side}.console.txt"))
        return q, self.cons[-1]

    def boot(self):
        self.dst, self.dst_con = self._start("dst", incoming="defer")
        self.dst.cmd("migrate-incoming", uri=self.uri)
        self.src, self.src_con = self._start("src")
        self.src_con.expect(r"tern-linux: ready kernel=\S+ ip=\S+\r\n", QEMU_READY_S)
        time.sleep(2)  # the shell prints its banner and prompt

    def sh(self, command, timeout=60):
        return self.src_con.sh(command, timeout)

    def release(self):
        pass

    def migrate(self):
        fig = qemu_migrate(self.src, self.dst, self.uri, os.path.basename(self.d), GUEST_MIB,
                           self.bandwidth, self.auto_converge, converge_s=QEMU_CONVERGE_S)
        # ram.transferred: RAM pages and their headers, not the device state.
        fig["wire_bytes"] = fig["ram_transferred_bytes"]
        return fig

    def crashed(self):
        """The first line of a kernel crash on the destination's console, or None."""
        self.dst_con.drain()
        with open(f"{self.d}/dst.console.txt", errors="replace") as f:
            m = OOPS.search(f.read())
        return m.group(1).strip() if m else None

    def sh_after(self, command, timeout=60):
        return self.dst_con.sh(command, timeout)

    def close(self):
        for c in self.cons:
            c.close()
        for q in self.qmps:
            q.close()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


# -- what the client sees ---------------------------------------------------------

def longest_stall(path, w0, w1, now):
    """From the client's tcpseq server log: the longest silence of the
    guest's stream (ms, host clock) that overlaps host times [w0, w1], 0 if
    none passed STALL_MS; and what broke the stream (gap, reset, close, a
    silence of over TAIL_S still going on at `now`)."""
    with open(path) as f:
        text = f.read()
    broken = re.findall(r"^tcpseq: (gap|reset|close) ", text, re.M)
    if "tcpseq: connect " not in text:
        broken.append("no connection")
    events = [(what, int(t) / 1e3, int(ms) / 1e3) for what, t, ms in re.findall(
        r"^tcpseq: (stall|resume) t=(\d+) seq=\d+ silent_ms=(\d+)", text, re.M)]
    silences = [(t - s, t) for what, t, s in events if what == "resume"]
    if events and events[-1][0] == "stall":  # still silent
        start = events[-1][1] - events[-1][2]
        silences.append((start, now))
        if now - start > TAIL_S:
            broken.append("stream stalled at the end")
    return round(1e3 * max((b - a for a, b in silences if b >= w0 and a <= w1), default=0)), broken


def run_once(lab, side, wname, logdir):
    """One migration of a fresh guest running `wname`, with the client
    watching: the migration's figures plus the client's."""
    os.makedirs(logdir, exist_ok=True)
    server_log = os.path.join(logdir, "tcpseq-server.txt")
    with open(server_log, "w") as out:
        server = lab.client_popen([TCPSEQ, "-l", str(TCPSEQ_PORT), "-s", str(STALL_MS), "-i", "1000"],
                                  stdout=out, stderr=subprocess.STDOUT)
    pinger = web = None
    try:
        side.boot()
        md5 = prepare(side.sh, wname)
        side.release()
        if not lab.wait_reachable(GUEST_IP, timeout=60):
            raise RuntimeError(f"the guest ({GUEST_IP}) does not answer pings")
        pinger = lab.ping_monitor(GUEST_IP, PING_INTERVAL_S)
        if md5:
            web = lab.http_loop(f"http://{GUEST_IP}/blob", md5)
        time.sleep(SETTLE_S)
        t0 = time.time()
        fig = side.migrate()
        # The window: from the migration's start until 1 s after it ended
        # (the guest ran on the destination), as benches/pingloss.py counts.
        w1 = t0 + fig["total_ms"] / 1e3 + 1
        time.sleep(max(0.0, w1 + TAIL_S - time.time()))
        pinger.stop()
        fig["pings_lost"] = len(pinger.lost_sent_between(t0, w1))
        fig["pings_sent"] = pinger.sent_between(t0, w1)
        fig["stall_ms"], fig["stream_broken"] = longest_stall(server_log, t0, w1, time.time())
        if web:
            st = web.stop()
            fig["http"] = {"downloads": st.done, "errors": st.errors, "longest_s": round(st.longest, 2)}
        fig["window_s"] = round(w1 - t0, 2)
        # The guest lived through the move if it answers on its console
        # (memverify's figures: every page as written).
        crash = side.crashed()
        if not crash:
            try:
                if wname == "memverify":
                    passes, errors = memverify_status(side.sh_after, ALIVE_S)
                    fig["memverify"] = {"passes": passes, "errors": errors}
                else:
                    check(side.sh_after, "true", ALIVE_S)
            except Exception:
                crash = side.crashed() or "no answer on its console after the move"
        if crash:
            fig["crashed"] = crash
        return fig
    finally:  # both stops are idempotent
        if pinger:
            pinger.stop()
        if web:
            web.stop()
        server.kill()
        server.wait()
        side.close()


def until_lived(fn):
    """Moves fresh guests with fn until one lives through its move, at most
    TRIES times; every move is kept, a failure or a crash with why."""
    runs = []
    for _ in range(TRIES):
        try:
            runs.append(fn())
        except Exception as e:
            runs.append({"error": (str(e).strip() or type(e).__name__).splitlines()[0][:200]})
        if not ("error" in runs[-1] or "crashed" in runs[-1]):
            break
    return runs


def lived(runs):
    return [r for r in runs if not ("error" in r or "crashed" in r)]


# -- the table -----------------------------------------------------------------

KEYS = ("downtime_ms", "total_ms", "wire_bytes", "pings_lost", "pings_sent", "stall_ms")


def notes(terns, qemus):
    """What the figures do not say: why Tern stopped, the throttle, QEMU's
    forced pause, moves that failed or left a crashed guest, the guest's
    stream and memverify, the downloads."""
    ok_t, ok_q = lived(terns), lived(qemus)
    out = sorted({short_reason(r["stopped"]) for r in ok_t})
    thr = [max((r["throttle_pct_max"] for r in runs), default=0) for runs in (ok_t, ok_q)]
    if any(thr):
        out.append(f"throttle {thr[0]} / {thr[1]} %")
    paused = [r["paused_after_s"] for r in ok_q if r["paused_after_s"]]
    if paused:
        out.append(f"QEMU paused after {max(paused)} s x{len(paused)}")
    for who, runs in (("Tern", terns), ("QEMU", qemus)):
        crashed = [r["crashed"] for r in runs if "crashed" in r]
        if crashed:
            out.append(f"{who}'s guest crashed after {len(crashed)} of {len(runs)} moves "
                       f"({crashed[0][:60]})")
        out += sorted({f"{who} failed: {r['error']}" for r in runs if "error" in r})
        for r in lived(runs):
            if r["stream_broken"]:
                out.append(f"{who} stream: {', '.join(r['stream_broken'])}")
            if r.get("memverify", {}).get("errors"):
                out.append(f"{who} memverify errors {r['memverify']['errors']}")
            if "http" in r:
                h = r["http"]
                out.append(f"{who} {h['downloads']} downloads, {len(h['errors'])} bad, "
                           f"longest {h['longest_s']:.1f} s")
    return "; ".join(out)


def compare(wname, label, terns, qemus):
    """A row Tern / QEMU (ratio), medians over the moves the guest lived
    through, and its data."""
    t, q = (medians(ok, KEYS) if ok else dict.fromkeys(KEYS) for ok in (lived(terns), lived(qemus)))
    x = {k: ratio(t[k], q[k]) for k in ("downtime_ms", "total_ms", "wire_bytes", "stall_ms")}

    def cell(k, fmt):
        v = [("-" if d[k] is None else fmt(d[k])) for d in (t, q)]
        return f"{v[0]} / {v[1]}" + (f" ({x[k]}x)" if x[k] is not None else "")

    def lost(d):
        return "-" if d["pings_sent"] is None else f"{d['pings_lost']:.0f}/{d['pings_sent']:.0f}"

    note = notes(terns, qemus)
    row = [wname, label, cell("downtime_ms", lambda v: f"{v:.1f}"),
           cell("total_ms", lambda v: f"{v / 1e3:.2f}"),
           cell("wire_bytes", lambda v: f"{v / 2**20:.0f}"),
           f"{lost(t)} | {lost(q)}",
           cell("stall_ms", lambda v: f"{v:.0f}" if v else f"<{STALL_MS}"), note]
    return {"workload": wname, "comparison": label, "tern": t, "qemu": q,
            "ratio_tern_over_qemu": x, "notes": note}, row


def run():
    rows, results, per_workload = [], [], {}
    seq = itertools.count()
    with netlab.Lab(workdir=WORK) as lab:
        hosts = {"src": lab.add_host("qsrc", f"{QEMU_SRC_IP}/24"),
                 "dst": lab.add_host("qdst", f"{QEMU_DST_IP}/24")}
        taps = {"src": lab.add_tap(), "dst": lab.add_tap()}
        with boot_pair(lab, "qemu", prefix="bench-linux-migrate-", ips=(IP_A, IP_B),
                       macs=("52:54:00:00:07:0a", "52:54:00:00:07:0b"), key=KEY,
                       mem_mib=1024, extra=PREALLOC) as pair:
            for c in (pair.a, pair.b):
                c.cmd("migrate insecure on")
            clock = dict(zip("ab", tern_clocks([pair.a, pair.b])))

            def tern_move(wname):
                d = os.path.join(WORK, f"{wname}-tern-{next(seq)}")
                return run_once(lab, TernSide(pair, clock, f"Linux {wname}"), wname, d)

            def qemu_move(wname, name, bandwidth, ac):
                d = os.path.join(WORK, f"{wname}-qemu-{name}-{next(seq)}")
                return run_once(lab, QemuSide(lab, hosts, taps, d, bandwidth, ac), wname, d)

            for wname in WORKLOADS:
                tern = [r for _ in range(REPEAT) for r in until_lived(lambda: tern_move(wname))]
                links = [link_mbit_s(r) for r in tern if "error" not in r]
                cap = statistics.median(links) if links else None
                qemu = {}
                for name, ac in (("plain", False), ("ac", True)):
                    if cap is None:  # nothing to set QEMU's bandwidth to
                        qemu[name] = [{"error": "no Tern migration to take the bandwidth from"}]
                        continue
                    qemu[name] = [r for _ in range(REPEAT) for r in until_lived(
                        lambda: qemu_move(wname, name, int(cap * 1e6 / 8), ac))]
                per_workload[wname] = {"tern_link_mbit_s": cap, "tern": tern, "qemu": qemu}
                for label, name in (("vs QEMU", "plain"), ("vs QEMU+ac", "ac")):
                    res, row = compare(wname, label, tern, qemu[name])
                    results.append(res)
                    rows.append(row)
    data = {"config": {"workloads": WORKLOADS, "repeat": REPEAT, "tries": TRIES,
                       "guest_mib": GUEST_MIB, "memverify_mib": MEMVERIFY_MIB, "settle_s": SETTLE_S,
                       "qemu_converge_s": QEMU_CONVERGE_S, "tcpseq_rate": TCPSEQ_RATE,
                       "stall_ms": STALL_MS, "ping_interval_s": PING_INTERVAL_S,
                       "blob_kib": BLOB_KIB, "qemu_append": QEMU_APPEND, "qemu_mem": QEMU_MEM,
                       "tern_clock_per_host_second": clock},
            "workloads": per_workload,
            "comparisons": results,
            "note": ("Tern: two QEMU TCG Terns, `migrate lx B --insecure`, defaults otherwise. "
                     "QEMU: the same bzImage and initramfs as a plain TCG guest, capped to Tern's "
                     "round-0 rate in the same workload. Pings and stalls as the lab client sees "
                     "them, host clock; medians over the moves the guest lived through. "
                     "docs/bench.md.")}
    header = ["workload", "comparison", "downtime ms T/Q", "total s T/Q", "wire MiB T/Q",
              "pings lost/sent T | Q", "longest stall ms T/Q", "notes"]
    return header, rows, data
