"""Live migration: Tern between two QEMU Tern hosts, side by side with QEMU's
own live migration of the same guest image, same arguments, same bridge.

For each size in SIZES and each workload in WORKLOADS, memcheck (mode=run)
is started, left to initialise every page and then to write for SETTLE_S,
and migrated live, REPEAT times each way; the table shows medians, the JSON
every run too:

  Tern  two QEMU TCG Terns (SVM+NPT) on TAPs of one lab bridge; `vm create`
        on A, `migrate m <B>` with the defaults (50 ms downtime target, 30
        rounds, no bandwidth cap); the figures are the summary's lines.
  QEMU  memcheck.elf as a plain guest (`-machine pc -cpu qemu64 -kernel`),
        the source in the lab's client namespace, the destination
        (`-incoming tcp:`) in a lab host namespace: the stream crosses the
        same bridge. Driven over QMP: downtime-limit DOWNTIME_MS, max-bandwidth
        QEMU_BANDWIDTH (Tern has no cap), `migrate`, then `query-migrate`
        until completed. QEMU has no round limit: a migration still running
        after QEMU_CONVERGE_S is finished the way libvirt's --timeout does,
        by pausing the source (`stop`); the row says so.

Both guests get tsc_khz= from the TSC rate Tern offers its guests (TCG's
TSC runs at the host's rate under both), so rate= means the same thing.
Tern's clock is checked against the host's first (tern_clocks): when its
boot-time calibration is off, the guests' rate and Tern's times are
corrected to host time, the raw figures kept in the JSON.
Everything is emulated on one busy machine: Tern's stream goes through two
emulated e1000s, lwIP and two emulated CPUs, QEMU's through the host kernel;
read the ratios as "what the emulated path costs", compare within one run.
docs/bench.md says what each figure is.
"""
import collections
import json
import os
import re
import socket
import statistics
import subprocess
import time

import netlab
from hostpair import boot_pair
from machine import BUILD

TITLE = "migrate: Tern live migration vs QEMU's, same memcheck image (QEMU TCG)"
SIZES = (64, 256)                      # guest RAM, MiB
WORKLOADS = (                          # name, memcheck arguments (mode=run)
    ("idle", "rate=1 verify=0"),
    ("moderate", "rate=2000 verify=0"),
    ("heavy", "rate=max wss=8 verify=0"),
)
REPEAT = 3                             # migrations per cell; medians are shown
SETTLE_S = 2                           # the writer runs this long before migrating
DOWNTIME_MS = 50                       # Tern's default target, given to QEMU too
QEMU_BANDWIDTH = 10 << 30              # bytes/s: "no cap", as Tern; None keeps QEMU's default
QEMU_CONVERGE_S = 90                   # then the source is paused so it completes
TERN_TIMEOUT_S = 300
CLOCK_WINDOW_S = 10                    # Tern's clock is checked against the host's over this
CLOCK_TOLERANCE = 0.05                 # beyond this, Tern's times are converted to host time
IP_A, IP_B = "10.99.0.1", "10.99.0.2"
QEMU_DST_IP, QEMU_PORT = "10.99.0.50", 4444
KEY = "bench-migrate-key"
IMAGE = os.path.join(BUILD, "guest", "memcheck.elf")


# -- Tern ----------------------------------------------------------------------

def tern_summary(text):
    """The figures of one migration summary (docs/migration.md)."""
    def grab(rx, conv=float):
        m = re.search(rx, text, re.M)
        if not m:
            raise RuntimeError(f"migration summary without {rx!r}:\n{text[-2000:]}")
        return conv(m.group(1))
    return {
        "total_ms": grab(r"^total time:\s+([\d.]+) ms"),
        "downtime_ms": grab(r"^downtime:\s+([\d.]+) ms"),
        "downtime_source_ms": grab(r"^downtime:.*\(source ([\d.]+)"),
        "downtime_destination_ms": grab(r"^downtime:.*\+ destination ([\d.]+)"),
        "downtime_at_most_ms": grab(r"^downtime:.*at most ([\d.]+) ms"),
        "setup_ms": grab(r"^setup time:\s+([\d.]+) ms"),
        "wire_bytes": grab(r"^on the wire:\s+(\d+) bytes", int),
        "pages_sent": grab(r"^pages sent:\s+(\d+)", int),
        "pages_x_ram": grab(r"^pages sent:\s+\d+ \(([\d.]+) x guest RAM"),
        "rounds": grab(r"^rounds:\s+(\d+)", int),
        "stopped": grab(r"^stopped:\s+(.*)$", str).strip(),
    }


def tern_clocks(consoles, window=CLOCK_WINDOW_S):
    """Each Tern's seconds per host second, from `uptime` read twice. Tern
    calibrates its TSC against the PIT once at boot, and under TCG on a
    busy host that can come out far off (seen: 2x)."""
    def sample(c):
        w0 = time.monotonic()
        out = c.cmd("uptime")
        w1 = time.monotonic()
        return (w0 + w1) / 2, float(re.search(r"\(([\d.]+) s\)", out).group(1))
    first = [sample(c) for c in consoles]
    time.sleep(window)
    last = [sample(c) for c in consoles]
    return [(u1 - u0) / (w1 - w0) for (w0, u0), (w1, u1) in zip(first, last)]


def host_time(fig, clock_a, clock_b):
    """Tern's figures from Tern's clocks into host time, so that they compare
    with QEMU's, when a clock is off by more than CLOCK_TOLERANCE. The raw
    figures stay in fig["tern_clock"]."""
    ca = clock_a if abs(clock_a - 1) > CLOCK_TOLERANCE else 1.0
    cb = clock_b if abs(clock_b - 1) > CLOCK_TOLERANCE else 1.0
    fig["tern_clock"] = {"a": round(clock_a, 4), "b": round(clock_b, 4), "applied": [ca, cb],
                         "raw": {k: fig[k] for k in ("total_ms", "downtime_ms", "dirty_mbit_s_max")}}
    fig["total_ms"] = round(fig["total_ms"] / ca, 1)
    fig["downtime_ms"] = round(fig["downtime_source_ms"] / ca + fig["downtime_destination_ms"] / cb, 1)
    if fig["dirty_mbit_s_max"] is not None:
        fig["dirty_mbit_s_max"] = round(fig["dirty_mbit_s_max"] * ca, 1)
    return fig


def tern_run(a, b, mib, args, opts=""):
    """Migrates a fresh memcheck guest (mib MiB, args) A to B with `opts`;
    returns the summary's figures. Used by benches/tls.py too."""
    t = a.mark()
    out = a.cmd(f'vm create m image=memcheck mem={mib} args="{args}"', timeout=120)
    if "vm m: created" not in out:
        raise RuntimeError(f"vm create on A: {out.strip()}")
    a.wait_output(r"^\[m\] memcheck: initialised \d+ pages", TERN_TIMEOUT_S, since=t)
    time.sleep(SETTLE_S)
    tb, t = b.mark(), a.mark()
    out = a.cmd(f"migrate m {IP_B} {opts}".strip())
    if "started" not in out:
        raise RuntimeError(f"migrate: {out.strip()}")
    res = a.wait_output(r"^result:\s+(.*)$", TERN_TIMEOUT_S, since=t).group(1)
    a.wait_output(r"^stopped:\s+.*$", 30, since=t)
    if not res.startswith("completed"):
        a.cmd("vm destroy m")
        raise RuntimeError(f"Tern migration {mib} MiB {args!r}: {res}")
    b.wait_output(r"^incoming m: completed", 60, since=tb)
    fig = tern_summary(a.log.text[t:])
    # Per-round lines: round, sent, zero, round ms, sent Mbit/s, dirty Mbit/s, left dirty,
    # throttle %.
    fig["round_lines"] = [
        {"round": int(m.group(1)), "final": bool(m.group(2)), "sent_pages": int(m.group(3)),
         "zero_pages": int(m.group(4)), "ms": float(m.group(5)), "sent_mbit_s": float(m.group(6)),
         "dirty_mbit_s": float(m.group(7)), "left_dirty": int(m.group(8)),
         "throttle_pct": int(m.group(9))}
        for m in re.finditer(r"^\s*(\d+)(\*?)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)"
                             r"\s+(\d+)\s*$", a.log.text[t:], re.M)]
    live = [r["dirty_mbit_s"] for r in fig["round_lines"] if not r["final"]]
    fig["dirty_mbit_s_max"] = max(live) if live else None
    fig["wire_x_ram"] = round(fig["wire_bytes"] / (mib << 20), 3)
    if b.vm_list().get("m", {}).get("state") != "running":
        raise RuntimeError("the guest does not run on B after the migration")
    b.cmd("vm destroy m")
    return fig


# -- QEMU ----------------------------------------------------------------------

class QMP:
    """A minimal QMP client on QEMU's unix socket: one command at a time,
    events skipped."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no QMP socket at {path}")
                time.sleep(0.1)
        self.s.settimeout(timeout)
        self.f = self.s.makefile("r")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.s.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError(f"QMP {name}: QEMU closed the socket")
            r = json.loads(line)
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"QMP {name}: {r['error'].get('desc')}")
            return r.get("return")

    def close(self):
        self.s.close()


def qemu_argv(mib, args, serial, qmp, incoming=None):
    argv = ["qemu-system-x86_64", "-machine", "pc", "-cpu", "qemu64", "-m", str(mib),
            "-display", "none", "-nodefaults", "-no-user-config", "-no-reboot",
            "-kernel", IMAGE, "-append", args, "-serial", f"file:{serial}",
            "-qmp", f"unix:{qmp},server=on,wait=off"]
    if incoming:
        argv += ["-incoming", incoming]
    return argv


def wait_file(path, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                if re.search(pattern, f.read(), re.M):
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no {pattern!r} in {path} within {timeout} s")


def qemu_run(lab, dst_host, workdir, tag, mib, args):
    d = os.path.join(workdir, tag)
    os.makedirs(d, exist_ok=True)
    f = {k: os.path.join(d, k) for k in ("src.serial", "dst.serial", "src.qmp", "dst.qmp",
                                          "src.log", "dst.log")}
    for p in f.values():
        if os.path.exists(p):
            os.unlink(p)
    procs, qmps = [], []
    try:
        with open(f["dst.log"], "w") as log:
            procs.append(dst_host.popen(qemu_argv(mib, args, f["dst.serial"], f["dst.qmp"],
                                                  f"tcp:{QEMU_DST_IP}:{QEMU_PORT}"),
                                        stdout=log, stderr=subprocess.STDOUT))
        with open(f["src.log"], "w") as log:
            procs.append(lab.client_popen(qemu_argv(mib, args, f["src.serial"], f["src.qmp"]),
                                          stdout=log, stderr=subprocess.STDOUT))
        dst, src = QMP(f["dst.qmp"]), QMP(f["src.qmp"])
        qmps += [dst, src]
        wait_file(f["src.serial"], r"^memcheck: initialised \d+ pages", TERN_TIMEOUT_S)
        time.sleep(SETTLE_S)
        params = {"downtime-limit": DOWNTIME_MS}
        if QEMU_BANDWIDTH:
            params["max-bandwidth"] = QEMU_BANDWIDTH
        src.cmd("migrate-set-parameters", **params)
        used = src.cmd("query-migrate-parameters")
        src.cmd("migrate", uri=f"tcp:{QEMU_DST_IP}:{QEMU_PORT}")
        t0, forced, dirty_rate = time.monotonic(), None, 0
        while True:
            st = src.cmd("query-migrate")
            dirty_rate = max(dirty_rate, st.get("ram", {}).get("dirty-pages-rate", 0))
            if st.get("status") in ("completed", "failed", "cancelled"):
                break
            if forced is None and time.monotonic() - t0 > QEMU_CONVERGE_S:
                forced = round(time.monotonic() - t0, 1)
                src.cmd("stop")  # libvirt's --timeout: pause the source, let it finish
            time.sleep(0.1)
        if st["status"] != "completed":
            raise RuntimeError(f"QEMU migration {tag}: {st['status']} {st.get('error-desc', '')}")
        deadline = time.monotonic() + 30
        while dst.cmd("query-status")["status"] != "running":
            if time.monotonic() > deadline:
                raise RuntimeError(f"QEMU migration {tag}: the destination does not run")
            time.sleep(0.1)
        ram = st.get("ram", {})
        return {
            "total_ms": st.get("total-time"),
            "downtime_ms": st.get("downtime"),
            "setup_ms": st.get("setup-time"),
            "ram_transferred_bytes": ram.get("transferred"),
            "wire_x_ram": round(ram.get("transferred", 0) / (mib << 20), 3),
            "rounds": ram.get("dirty-sync-count"),
            "pages_sent": ram.get("normal"),
            "zero_pages": ram.get("duplicate"),
            "mbps": ram.get("mbps"),
            # QEMU measures the dirty rate over periods of at least 1 s, so a
            # short migration reports 0: kept in the JSON, not in the table.
            "dirty_mbit_s_max": round(dirty_rate * 4096 * 8 / 1e6, 1),
            "paused_after_s": forced,
            "downtime_limit_ms": used.get("downtime-limit"),
            "max_bandwidth": used.get("max-bandwidth"),
        }
    finally:
        for q in qmps:
            q.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except Exception:
                p.kill()


# -- the bench -----------------------------------------------------------------

def tsc_khz(a):
    """The TSC rate Tern gives its guests, as a memcheck guest reads it."""
    t = a.mark()
    a.cmd('vm create probe image=memcheck mem=4 args="mode=exits count=1"')
    m = a.wait_output(r"^\[probe\] memcheck: tsc (\d+) kHz", 120, since=t)
    a.wait_output(r"^\[probe\] memcheck: done", 120, since=t)
    a.cmd("vm destroy probe")
    return int(m.group(1))


def short_reason(stopped):
    """The summary's `stopped:` line in a word or two (docs/migration.md)."""
    for start, short in (("remaining dirty pages fit", "fit target"), ("no progress", "no progress"),
                         ("maximum number of rounds", "max rounds"), ("offline", "offline")):
        if stopped.startswith(start):
            return short
    return stopped


def ratio(t, q):
    return round(t / q, 2) if t is not None and q else None


MEDIAN_KEYS = ("downtime_ms", "total_ms", "wire_x_ram", "rounds", "dirty_mbit_s_max")


def medians(runs):
    """Per figure, the median over REPEAT migrations (None if any lacks it)."""
    out = {}
    for k in MEDIAN_KEYS:
        vals = [r.get(k) for r in runs]
        out[k] = statistics.median(vals) if None not in vals else None
    return out


def row(wname, mib, t, q, x, stopped):
    return [wname, mib,
            f"{t['downtime_ms']:.1f} / {q['downtime_ms']:.0f} ({x['downtime']}x)",
            f"{t['total_ms'] / 1000:.2f} / {q['total_ms'] / 1000:.2f} ({x['total_time']}x)",
            f"{t['wire_x_ram']:.2f} / {q['wire_x_ram']:.2f} ({x['bytes']}x)",
            f"{t['rounds']:.0f} / {q['rounds']:.0f}",
            f"{t['dirty_mbit_s_max'] or 0:.0f}",
            stopped]


def run():
    rows, results = [], []
    workdir = os.path.join(BUILD, "bench", "migrate-lab")
    with netlab.Lab(workdir=workdir) as lab:
        dst_host = lab.add_host("qdst", f"{QEMU_DST_IP}/24")
        with boot_pair(lab, "qemu", prefix="bench-migrate-", ips=(IP_A, IP_B),
                       macs=("52:54:00:00:03:0a", "52:54:00:00:03:0b"), key=KEY,
                       mem_mib=max(SIZES) + 256) as pair:
            a, b = pair.a, pair.b
            for ip in (IP_A, IP_B):
                if not lab.wait_reachable(ip, timeout=30):
                    raise RuntimeError(f"{ip} does not answer pings")
            clock = dict(zip("ab", tern_clocks([a, b])))
            # The rate the guest's TSC really runs at: Tern offers its own
            # calibration in CPUID, which may be off (tern_clocks).
            khz = round(tsc_khz(a) * (clock["a"] if abs(clock["a"] - 1) > CLOCK_TOLERANCE else 1))
            for mib in SIZES:
                for wname, wargs in WORKLOADS:
                    args = f"mode=run {wargs} tsc_khz={khz}"
                    terns, qemus = [], []
                    for i in range(REPEAT):
                        terns.append(host_time(tern_run(a, b, mib, args), clock["a"], clock["b"]))
                        qemus.append(qemu_run(lab, dst_host, workdir, f"{wname}-{mib}-{i}", mib, args))
                    t, q = medians(terns), medians(qemus)
                    x = {"downtime": ratio(t["downtime_ms"], q["downtime_ms"]),
                         "total_time": ratio(t["total_ms"], q["total_ms"]),
                         "bytes": ratio(t["wire_x_ram"], q["wire_x_ram"])}
                    stopped = [f"{why} x{n}" if n < REPEAT else why
                               for why, n in sorted(collections.Counter(
                                   short_reason(r["stopped"]) for r in terns).items())]
                    paused = [r["paused_after_s"] for r in qemus if r["paused_after_s"]]
                    if paused:
                        stopped.append(f"QEMU paused after {max(paused)} s x{len(paused)}")
                    results.append({"workload": wname, "mib": mib, "args": args,
                                    "tern": t, "qemu": q, "ratio_tern_over_qemu": x,
                                    "tern_runs": terns, "qemu_runs": qemus})
                    rows.append(row(wname, mib, t, q, x, "; ".join(stopped)))
    data = {"config": {"sizes_mib": SIZES, "workloads": dict(WORKLOADS), "repeat": REPEAT,
                       "settle_s": SETTLE_S,
                       "downtime_ms": DOWNTIME_MS, "qemu_max_bandwidth": QEMU_BANDWIDTH,
                       "qemu_converge_s": QEMU_CONVERGE_S, "tsc_khz": khz,
                       "tern_clock_per_host_second": clock},
            "runs": results,
            "geomean_ratio_tern_over_qemu": {
                k: round(statistics.geometric_mean([r["ratio_tern_over_qemu"][k] for r in results
                                                    if r["ratio_tern_over_qemu"][k]]), 2)
                for k in ("downtime", "total_time", "bytes")} if results else {},
            "note": ("Tern: two QEMU TCG Terns, stream through emulated e1000s and lwIP. QEMU: the "
                     "same memcheck.elf as a plain TCG guest, stream through the host kernel over the "
                     "same bridge. Ratios are Tern/QEMU. docs/bench.md.")}
    header = ["workload", "MiB", "downtime ms Tern/QEMU", "total s Tern/QEMU",
              "wire x RAM Tern/QEMU", "rounds T/Q", "Tern dirtied Mbit/s", "Tern stopped because"]
    return header, rows, data
