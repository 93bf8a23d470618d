"""Dirty-page harvest cost (A/D scan, PML, write-protect) and the vCPU exit
round trip, on QEMU TCG (SVM+NPT: ad, wp) and Bochs (VMX+EPT: ad, pml, wp).

Harvest: a MEM_MIB guest runs memcheck mode=list over DIRTY_MIB of its RAM
with logging on, prints `done` and halts. Then `vm dirty d harvest` (Tern
times hv->dirty_harvest alone: `harvest took N us`) once with those pages
dirty and EMPTY times with nothing dirty (the halted guest writes nothing):
the latter is the scan cost alone, per GiB of guest RAM; the difference is
the cost per GiB of dirty pages. ITER guests per method, medians reported.
Exits: memcheck mode=exits times EXIT_COUNT cpuid and EXIT_COUNT out 0x80
(EXIT_RUNS guests, median). The write side of a method shows as the exits
it adds while the guest writes (wp: one per page; pml: one per 512), counted
against ad, which adds none.

Tern's clock is the emulated machine's: QEMU TCG's TSC follows the host, so
its figures are host time and noisy; Bochs runs `ips` instructions per
emulated second, so its figures count instructions and barely vary. Compare
methods within one emulator, never QEMU's figures with Bochs'. Tern's boot-time
TSC calibration can be off under TCG on a busy host: the QEMU host's clock
is checked against the host's, and its times converted when it is.
docs/bench.md.
"""
import re
import statistics
import time

from machine import Console, Machine

TITLE = "dirty: harvest cost per GiB (A/D scan, PML, write-protect) and exit round trip"
MEM_MIB = 256          # guest RAM
DIRTY_MIB = 64         # memory memcheck writes before the first harvest
DIRTY_FIRST = 0x1000   # first page written (16 MiB, clear of the image)
ITER = {"qemu": 5, "bochs": 2}  # guests per method (Bochs barely varies)
EMPTY = 3              # harvests with nothing dirty, per guest
EXIT_COUNT = {"qemu": 5000, "bochs": 10000}
EXIT_RUNS = 5          # exits guests; the median is reported
CLOCK_WINDOW_S = 10    # QEMU: Tern's clock is checked against the host's over this
CLOCK_TOLERANCE = 0.05  # beyond this, QEMU's figures are converted to host time
HOSTS = (("qemu", "QEMU TCG (SVM+NPT)", ("ad", "wp")),
         ("bochs", "Bochs (VMX+EPT)", ("ad", "pml", "wp")))
GUEST_TIMEOUT = 300


def harvest(c):
    out = c.cmd("vm dirty d harvest", timeout=120)
    n = re.search(r"^(\d+) dirty pages$", out, re.M)
    us = re.search(r"^harvest took (\d+) us$", out, re.M)
    if not n or not us:
        raise RuntimeError(f"vm dirty harvest: no count or time in:\n{out}")
    return int(n.group(1)), int(us.group(1))


def exits_of(c, name):
    row = c.vm_list().get(name)
    if not row:
        raise RuntimeError(f"vm list does not show {name}")
    return row["state"], row["exits"]


def one_guest(c, method):
    """One guest: dirty DIRTY_MIB, harvest it, then harvest EMPTY times."""
    pages = (DIRTY_MIB << 20) >> 12
    t = c.mark()
    out = c.cmd(f'vm create d image=memcheck mem={MEM_MIB} '
                f'args="mode=list pages={DIRTY_FIRST:#x}-{DIRTY_FIRST + pages - 1:#x}" --paused',
                timeout=120)
    if "vm d: created" not in out:
        raise RuntimeError(f"vm create: {out.strip()}")
    try:
        out = c.cmd(f"vm dirty d start {method}")
        if f"dirty logging on for d ({method})" not in out:
            raise RuntimeError(f"vm dirty start {method}: {out.strip()}")
        c.cmd("vm resume d")
        c.wait_output(r"^\[d\] memcheck: done$", GUEST_TIMEOUT, since=t)
        state, exits = exits_of(c, "d")
        if state != "halted":
            raise RuntimeError(f"memcheck is {state} after done, not halted")
        dirty = harvest(c)
        if dirty[0] < pages:
            raise RuntimeError(f"{method}: harvest found {dirty[0]} pages, memcheck wrote {pages}")
        empty = [harvest(c) for _ in range(EMPTY)]
        if any(n for n, _ in empty):
            raise RuntimeError(f"{method}: pages dirty with the guest halted: {empty}")
        return {"dirty_pages": dirty[0], "dirty_us": dirty[1], "empty_us": [us for _, us in empty],
                "exits": exits}
    finally:
        c.cmd("vm destroy d")


def exit_cost(c, kind):
    runs = [exit_run(c, kind) for _ in range(EXIT_RUNS)]
    res = {"runs": runs, "tsc_khz": runs[-1]["tsc_khz"]}
    for what in ("cpuid", "out"):
        got = [r[what] for r in runs if what in r]
        if got:
            res[what] = {k: statistics.median(g[k] for g in got) for k in ("count", "cycles", "ns")}
    return res


def exit_run(c, kind):
    t = c.mark()
    c.cmd(f'vm create e image=memcheck mem=16 args="mode=exits count={EXIT_COUNT[kind]}"')
    try:
        c.wait_output(r"^\[e\] memcheck: done$", GUEST_TIMEOUT, since=t)
    finally:
        c.cmd("vm destroy e")
    res = {}
    for m in re.finditer(r"^\[e\] memcheck: exits (\w+) count=(\d+) cycles=(\d+) per_exit=(\d+) ns=(\d+)$",
                         c.log.text[t:], re.M):
        res[m.group(1)] = {"count": int(m.group(2)), "cycles": int(m.group(4)), "ns": int(m.group(5))}
    tsc = re.search(r"^\[e\] memcheck: tsc (\d+) kHz", c.log.text[t:], re.M)
    res["tsc_khz"] = int(tsc.group(1)) if tsc else None
    return res


def tern_clock(c, window=CLOCK_WINDOW_S):
    """Tern's seconds per host second, from `uptime` read twice. Under TCG
    Tern's boot-time TSC calibration can come out far off on a busy host."""
    def sample():
        w0 = time.monotonic()
        out = c.cmd("uptime")
        w1 = time.monotonic()
        return (w0 + w1) / 2, float(re.search(r"\(([\d.]+) s\)", out).group(1))
    w0, u0 = sample()
    time.sleep(window)
    w1, u1 = sample()
    return (u1 - u0) / (w1 - w0)


def measure(kind, methods):
    c = Console(Machine(kind=kind, name=f"bench-dirty-{kind}", nic=False, mem_mib=MEM_MIB + 256),
                boot_timeout=300)
    try:
        c.boot()
        res = {"exits": exit_cost(c, kind), "methods": {}, "clock": 1.0}
        for method in methods:
            res["methods"][method] = [one_guest(c, method) for _ in range(ITER[kind])]
        if kind == "qemu":  # Bochs' clock is emulated time by design
            res["tern_clock_per_host_second"] = round(tern_clock(c), 4)
            if abs(res["tern_clock_per_host_second"] - 1) > CLOCK_TOLERANCE:
                res["clock"] = res["tern_clock_per_host_second"]
        return res
    finally:
        c.close()


def summarise(runs, clock):
    """Medians of one method's runs, normalised per GiB, in host time if
    Tern's clock was off (clock = Tern seconds per host second)."""
    scan = statistics.median(us for r in runs for us in r["empty_us"]) / clock
    dirty = statistics.median(r["dirty_us"] for r in runs) / clock
    npages = statistics.median(r["dirty_pages"] for r in runs)
    return {
        "scan_us": scan,
        "scan_us_per_gib_ram": round(scan * 1024 / MEM_MIB, 1),
        "dirty_us": dirty,
        "dirty_pages": npages,
        "dirty_us_per_gib_dirty": round(max(dirty - scan, 0) * (1 << 18) / npages, 1),
        "exits_while_writing": statistics.median(r["exits"] for r in runs),
    }


def run():
    data = {"config": {"mem_mib": MEM_MIB, "dirty_mib": DIRTY_MIB, "iter": ITER, "empty": EMPTY,
                       "exit_count": EXIT_COUNT}}
    for kind, label, methods in HOSTS:
        res = measure(kind, methods)
        res["label"] = label
        res["summary"] = {m: summarise(r, res["clock"]) for m, r in res["methods"].items()}
        for what in ("cpuid", "out"):
            if what in res["exits"]:
                res["exits"][what]["ns"] = round(res["exits"][what]["ns"] / res["clock"])
        data[kind] = res

    kinds = [k for k, _, _ in HOSTS]
    all_methods = ("ad", "pml", "wp")
    pages = (DIRTY_MIB << 20) >> 12

    def cell(kind, method, fmt):
        s = data[kind]["summary"].get(method)
        return fmt(s) if s else "n/a"

    rows = []
    for method in all_methods:
        rows.append([f"{method}: harvest, nothing dirty, per GiB of RAM"]
                    + [cell(k, method, lambda s: f"{s['scan_us_per_gib_ram']:.0f} us") for k in kinds])
    for method in all_methods:
        rows.append([f"{method}: harvest of {DIRTY_MIB} MiB dirty in {MEM_MIB} MiB"]
                    + [cell(k, method, lambda s: f"{s['dirty_us']:.0f} us") for k in kinds])
    for method in all_methods:
        rows.append([f"{method}: extra harvest cost per GiB dirty"]
                    + [cell(k, method, lambda s: f"{s['dirty_us_per_gib_dirty']:.0f} us") for k in kinds])
    for method in all_methods:
        rows.append([f"{method}: guest exits, boot + writing {pages} pages"]
                    + [cell(k, method, lambda s: f"{s['exits_while_writing']:.0f}") for k in kinds])
    for kind in kinds:
        base = data[kind]["summary"]["ad"]["exits_while_writing"]
        for method, s in data[kind]["summary"].items():
            s["extra_exits_per_gib_dirty"] = round((s["exits_while_writing"] - base) * (1 << 18) / pages)
    for method in ("pml", "wp"):
        rows.append([f"{method}: exits added per GiB dirtied (vs ad)"]
                    + [cell(k, method, lambda s: f"{s['extra_exits_per_gib_dirty']}") for k in kinds])
    for what in ("cpuid", "out"):
        rows.append([f"exit round trip: {what}" + (" (backend)" if what == "cpuid" else " 0x80 (main loop)")]
                    + [f"{data[k]['exits'][what]['ns'] / 1000:.1f} us ({data[k]['exits'][what]['cycles']:.0f} cyc)"
                       if what in data[k]["exits"] else "n/a" for k in kinds])
    data["note"] = ("Emulated machines: QEMU figures are host time (noisy), Bochs figures emulated time "
                    "(instruction counts). Compare methods within one column. docs/bench.md.")
    return ["what"] + [label for _, label, _ in HOSTS], rows, data
