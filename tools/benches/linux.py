"""An unmodified Debian Linux guest under Tern (issue 10): time to its shell
on both backends, its clock drift, the host CPU an idle one costs, and HTTP
into it next to Tern's own TCP.

One QEMU Tern (TCG, SVM) on a lab bridge with the Linux client, then one
Bochs Tern (VMX) on its own; each creates the guest as
tests/integration/test_linux_guest.py does (kernel=linux initrd=linux-initrd,
256 MiB) and drives its shell through `vm console`.

    time to shell  host seconds from sending `vm create` to the guest's
                   `tern-linux: ready` line (its shell starts right after);
                   also the kernel's own timestamp at `Run /init` (guest
                   seconds since its clock started)
    clock drift    the guest's /proc/uptime read PROBES times through the
                   console at each end of about IDLE_S, against the host's
                   monotonic clock; each reading is bracketed by the host
                   time before sending and after the answer, so the guest's
                   offset lies between; the brackets' intersection at each
                   end bounds the drift (+ = the guest's clock ran fast)
    idle CPU       Tern's `cpu load IDLE_S` (its own busy/idle accounting)
                   with no guest, then with the idle guest, each over the
                   same IDLE_S host seconds as the QEMU process's
                   utime+stime from /proc (the outside view)
    HTTP           the guest's wget of DOWNLOAD bytes from the client's
                   `python3 -m http.server`, timed by the guest's clock,
                   next to iperf 2 (client -> Tern's lwiperf, timed by
                   Tern's) on the same Tern, both in host time (through the
                   drift and Tern's clock measured above), as a ratio
"""
import itertools
import os
import random
import re
import time

import netlab
from benches.dirty import tern_clock
from benches.net import line, mbits
from machine import BUILD, Console, Machine

TITLE = "linux: Debian guest: time to shell, clock drift, idle CPU share, HTTP into the guest"
TERN_IP, TERN_MAC = "10.99.0.1", "52:54:00:00:04:0a"
GUEST_IP, GUEST_MAC = "10.99.0.61", "52:54:00:aa:04:61"
CLIENT_IP = netlab.CLIENT_CIDR.split("/")[0]
GUEST_MIB = 256
HOST_MIB = 1024
IDLE_S = 60              # the drift and idle-CPU window
PROBES = 5               # readings of the guest's clock at each end of the window
DOWNLOAD = 32 << 20      # bytes the guest downloads; iperf sends as much
HTTP_PORT = 8080
QEMU_READY_S = 300       # Linux to its shell under QEMU: 10-20 s seen, more on a loaded host
BOCHS_READY_S = 600      # under Bochs: about a minute seen
WORK = os.path.join(BUILD, "bench", "linux")

_probes = itertools.count()


def create_linux(c, name, timeout, mac=None, ip=None):
    """The Linux guest of the tests (booting `quiet`: every console byte is
    an exit), up to its ready line: host seconds to it and the release."""
    opts = (f" mac={mac}" if mac else "") + f' args="quiet{f" ip={ip}/24" if ip else ""}"'
    up = c.linux_create(name, f"kernel=linux initrd=linux-initrd mem={GUEST_MIB}{opts}", timeout)
    return {"ready_s": up["ready_s"], "kernel": up["kernel"]}


def settle(c, name, boot):
    """Attaches to the new guest's shell, quiets its kernel on the console,
    and adds to `boot` the kernel's own timestamp at `Run /init` (guest
    seconds since its clock started, from dmesg)."""
    time.sleep(2)  # the shell prints its banner and prompt
    c.guest_attach(name)
    # Kernel messages on the console would interleave with the answers.
    c.guest_sh("dmesg -n 1")
    rc, out = c.guest_sh("dmesg | grep 'Run /init'")
    m = re.search(r"\[ *([\d.]+)\] Run /init as init process", out)
    boot["run_init_kernel_s"] = float(m.group(1)) if m else None


# A shell function defined once in the guest, so that a probe is four typed
# characters (typing adds little to its bracket). Builtins only: no fork
# between reading the clock and answering.
CLOCK_FN = "k"
CLOCK_DEF = f'{CLOCK_FN}() {{ read u r </proc/uptime; echo "@@C""LK$1@@ $u"; }}'


def guest_clock(c):
    """The attached guest's clock minus the host's, as the interval it must
    lie in. One probe reads /proc/uptime (10 ms steps) between the host's
    monotonic time before sending and after the answer; the offset lies in
    [uptime - after, uptime + 0.01 - before]. PROBES probes, at random
    phases, narrow it to their intersection."""
    lo, hi, probes = [], [], []
    for _ in range(PROBES):
        n = next(_probes)
        h0 = time.monotonic()
        c.send(f"{CLOCK_FN} {n}\r")
        up = float(c.expect([rf"@@CLK{n}@@ ([\d.]+)\r"], 30).group(1))
        h1 = time.monotonic()
        probes.append({"uptime": up, "host": [round(h0, 4), round(h1, 4)]})
        lo.append(up - h1)
        hi.append(up + 0.01 - h0)
        time.sleep(random.uniform(0, 0.1))
    low, high = max(lo), min(hi)
    if low > high:  # cannot be unless the clock jumped between probes: keep the narrowest
        i = min(range(PROBES), key=lambda i: hi[i] - lo[i])
        low, high = lo[i], hi[i]
    return {"offset_s": (low, high), "probes": probes}


def drift(a, b):
    """Guest clock minus host clock from reading a to reading b, as the
    middle of the interval the two allow and its half-width."""
    (la, ha), (lb, hb) = a["offset_s"], b["offset_s"]
    host = b["probes"][0]["host"][0] - a["probes"][0]["host"][0]
    off, err = ((lb - ha) + (hb - la)) / 2, ((hb - la) - (lb - ha)) / 2
    return {"host_s": round(host, 3), "drift_ms": round(off * 1e3, 1), "uncertainty_ms": round(err * 1e3, 1),
            "drift_ppm": round(off / host * 1e6), "uncertainty_ppm": round(err / host * 1e6),
            "bracket_ms": round(1e3 * min(p["host"][1] - p["host"][0] for p in a["probes"] + b["probes"]), 1)}


def local_timer_irqs(c):
    """The attached guest's count of local APIC timer interrupts (LOC)."""
    rc, out = c.guest_sh("grep LOC: /proc/interrupts")
    m = re.search(r"^\s*LOC:\s+(\d+)", out, re.M)
    if rc or not m:
        raise RuntimeError(f"guest /proc/interrupts: {out.strip()!r}")
    return int(m.group(1))


def proc_cpu_s(pid):
    """utime + stime of a process, in seconds (proc(5))."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_window(c, pid):
    """Tern's own busy share over IDLE_S seconds (`cpu load`) and the QEMU
    process's CPU time over the same host seconds; also Tern's clock
    against the host's over them (uptime read at both ends)."""
    cpu0, w0 = proc_cpu_s(pid), time.monotonic()
    clock = tern_clock(c, IDLE_S)
    out = c.cmd(f"cpu load {IDLE_S}").strip()
    cpu1, w1 = proc_cpu_s(pid), time.monotonic()
    m = re.fullmatch(r"cpu: busy ([\d.]+) % over the last ([\d.]+) s \(since boot ([\d.]+) %\)", out)
    if not m:
        raise RuntimeError(f"cpu load: {out!r}")
    return {"tern_busy_pct": float(m.group(1)), "tern_window_s": float(m.group(2)),
            "tern_busy_since_boot_pct": float(m.group(3)),
            "qemu_cpu_pct": round(100 * (cpu1 - cpu0) / (w1 - w0), 1), "host_window_s": round(w1 - w0, 1),
            "tern_clock_per_host_second": round(clock, 4)}


def http_and_iperf(c, lab, guest_rate, tern_rate):
    """The guest (attached) downloads DOWNLOAD bytes from the client; then,
    detached, iperf 2 sends as much from the client to Tern's lwiperf. The
    guest times the download and Tern the iperf, each by its own clock;
    guest_rate and tern_rate (their seconds per host second) turn both into
    host time."""
    www = os.path.join(WORK, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "blob"), "wb") as f:
        f.write(os.urandom(DOWNLOAD))
    srv = lab.client_http_server(www, HTTP_PORT)
    try:
        now = "$(cut -d' ' -f1 /proc/uptime)"
        h0 = time.monotonic()
        rc, out = c.guest_sh(f"a={now}; n=$(wget -q -O - http://{CLIENT_IP}:{HTTP_PORT}/blob | wc -c); "
                             f"echo took $a {now} $n", timeout=600)
        h1 = time.monotonic()
    finally:
        srv.terminate()
        srv.wait(10)
    m = re.search(r"^took ([\d.]+) ([\d.]+) (\d+)$", out, re.M)
    if rc or not m or int(m.group(3)) != DOWNLOAD:
        raise RuntimeError(f"guest wget: status {rc}: {out.strip()[-300:]}")
    secs = (float(m.group(2)) - float(m.group(1))) / guest_rate
    res = {"wget_guest_clock_s": round(secs * guest_rate, 2), "wget_s": round(secs, 2),
           "wget_console_bracket_s": round(h1 - h0, 2), "wget_mbit_s": round(DOWNLOAD * 8 / secs / 1e6, 1)}

    c.guest_detach()
    c.cmd("net iperf server")
    mark = c.mark()
    cp = lab.client(["iperf", "-c", TERN_IP, "-n", f"{DOWNLOAD >> 20}M", "-f", "m"], timeout=300)
    if cp.returncode:
        raise RuntimeError(f"iperf: {cp.stderr.strip()}")
    res["iperf_tern_clock_mbit_s"] = mbits(line(c, r"iperf: server done: ", mark))
    res["iperf_mbit_s"] = round(res["iperf_tern_clock_mbit_s"] * tern_rate, 1)
    res["wget_per_iperf"] = round(res["wget_mbit_s"] / res["iperf_mbit_s"], 3)
    return res


def qemu_figures():
    """Everything but the Bochs boot, on one QEMU Tern in a lab."""
    data = {}
    with netlab.Lab(workdir=os.path.join(WORK, "lab")) as lab:
        tap = lab.add_tap()
        m = Machine(kind="qemu", name="bench-linux-qemu", workdir=os.path.join(WORK, "qemu"),
                    mem_mib=HOST_MIB, tap=tap, mac=TERN_MAC, cmdline=f"ip={TERN_IP}/24")
        c = Console(m, wrap=lab.wrap([]), boot_timeout=240)
        try:
            c.boot()
            if not lab.wait_port(tap):
                raise RuntimeError(f"the TAP {tap} never came up on the bridge")
            # `ip netns exec` execs the emulator: the pid is QEMU's own.
            with open(f"/proc/{c.p.pid}/comm") as f:
                if not f.read().startswith("qemu-system"):
                    raise RuntimeError(f"pid {c.p.pid} is not QEMU")
            data["idle_no_guest"] = idle_window(c, c.p.pid)
            data["boot"] = create_linux(c, "lx", QEMU_READY_S, mac=GUEST_MAC, ip=GUEST_IP)
            settle(c, "lx", data["boot"])
            c.guest_sh(CLOCK_DEF)
            loc0, a = local_timer_irqs(c), guest_clock(c)
            c.guest_detach()
            data["idle_linux_guest"] = idle_window(c, c.p.pid)
            c.guest_attach("lx")
            b, loc1 = guest_clock(c), local_timer_irqs(c)
            data["clock_readings"] = [a, b]
            data["drift"] = drift(a, b)
            # What wakes the idle guest: its local APIC timer interrupts per host second.
            data["idle_linux_guest"]["guest_timer_irqs_per_s"] = round((loc1 - loc0) / data["drift"]["host_s"])
            data["http"] = http_and_iperf(c, lab, 1 + data["drift"]["drift_ppm"] / 1e6,
                                          data["idle_linux_guest"]["tern_clock_per_host_second"])
        finally:
            c.close()
    return data


def bochs_figures():
    """Time to shell under Bochs (VMX): no lab, the guest has no address."""
    m = Machine(kind="bochs", name="bench-linux-bochs", workdir=os.path.join(WORK, "bochs"), mem_mib=HOST_MIB)
    c = Console(m, boot_timeout=600)
    try:
        c.boot()
        boot = create_linux(c, "lx", BOCHS_READY_S)
        settle(c, "lx", boot)
        return {"boot": boot}
    except Exception as e:  # the QEMU figures still count
        return {"error": str(e).splitlines()[0]}
    finally:
        c.close()


def run():
    q = qemu_figures()
    b = bochs_figures()
    data = {"qemu": q, "bochs": b}
    rows = []
    for kind, d in (("QEMU, SVM", q), ("Bochs, VMX", b)):
        if "error" in d:
            rows.append([f"time to shell ({kind})", f"failed: {d['error']}", ""])
            continue
        boot = d["boot"]
        init = (f"kernel's clock at Run /init: {boot['run_init_kernel_s']:.1f} s"
                if boot["run_init_kernel_s"] is not None else "")
        rows.append([f"time to shell ({kind})", f"{boot['ready_s']:.1f} s", init])
    dr = q["drift"]
    # Tern hands the guest its own TSC rate (tsc_early_khz), so a Tern clock
    # calibrated off under a busy TCG host carries the guest's with it:
    # the drift against Tern's clock is what Tern's timer emulation adds.
    clock = q["idle_linux_guest"]["tern_clock_per_host_second"]
    dr["drift_vs_tern_clock_ppm"] = round(((1 + dr["drift_ppm"] / 1e6) / clock - 1) * 1e6)
    rows.append([f"guest clock drift over {dr['host_s']:.0f} s (QEMU)",
                 f"{dr['drift_ppm']:+d} ppm ± {dr['uncertainty_ppm']}",
                 f"{dr['drift_ms']:+.1f} ms ± {dr['uncertainty_ms']:.1f}"])
    rows.append(["  against Tern's own clock", f"{dr['drift_vs_tern_clock_ppm']:+d} ppm ± {dr['uncertainty_ppm']}",
                 f"Tern's clock: {clock:.4f} s per host s"])
    for key, what in (("idle_no_guest", "no guest"), ("idle_linux_guest", "one idle Linux guest")):
        w = q[key]
        rows.append([f"host CPU, Tern with {what} (QEMU)", f"{w['tern_busy_pct']:.1f} % (Tern's cpu load)",
                     f"QEMU process {w['qemu_cpu_pct']:.1f} % over {w['host_window_s']:.0f} s"
                     + (f"; guest timer {w['guest_timer_irqs_per_s']}/s" if "guest_timer_irqs_per_s" in w else "")])
    h = q["http"]
    rows.append([f"HTTP client -> guest (wget, {DOWNLOAD >> 20} MiB)", f"{h['wget_mbit_s']:.1f} Mbit/s",
                 f"{h['wget_per_iperf']:.2f} x iperf"])
    rows.append([f"TCP client -> Tern (iperf 2, {DOWNLOAD >> 20} MiB)", f"{h['iperf_mbit_s']:.1f} Mbit/s", ""])
    data["note"] = ("QEMU TCG and Bochs on one shared machine: compare within a run. "
                    "Bochs' clock counts instructions, so its time to shell is wall time of the emulator.")
    return ["what", "value", "detail"], rows, data
