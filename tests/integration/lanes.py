"""Runs the integration suite in lanes, so both cores work (`make integration`).

Most modules boot one emulator at a time, and an emulator is one busy host
thread: run one after the other, they left a 2-core machine half idle, and
the suite took 26 minutes. Modules that boot two Terns at once (migration
pairs, Tern-to-Tern networking) already keep both cores busy; they run alone,
after the others. The rest are split in two
lanes that run side by side, balanced by how long each module took
(WEIGHT_S, seconds from a `--durations=0` run; a new module counts
DEFAULT_WEIGHT_S until it is listed), except short ones and a few that
mostly wait (on a slow or silent server, on the console), and a few more
single-emulator modules: they run in a third lane beside the pairs, which
alone kept the CPU about 70 % busy (sampled every 10 s; one host of a pair
often waits for the other).

Each lane is its own pytest process: module fixtures, logs
(build/test-logs/<test>) and lab namespaces are per process already. The
lanes' lines are printed as they come, prefixed with the lane's name; the
exit status fails if any lane failed.

    lanes.py [PYTEST_ARGS...]     # what `make integration` runs
    lanes.py test_boot.py [...]   # named files or tests: one plain pytest run
    lanes.py --plan               # the lanes, with their weights
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Two emulators at once: run alone, after the lanes.
PAIRS = ("test_guest_net", "test_linux_image", "test_linux_migrate", "test_migrate",
         "test_migrate_cross_vendor", "test_migrate_failures", "test_migrate_net",
         "test_migrate_runstate", "test_migrate_tls", "test_net", "test_linux_disk_migrate",
         "test_fleet")  # test_fleet: three Terns
# One emulator, mostly waiting: beside the pairs.
BESIDE_PAIRS = ("test_image_fetch", "test_console", "test_harness", "test_netlab",
                "test_deps_tools", "test_disk_import", "test_boot", "test_memcheck_bare",
                "test_linux_bare", "test_guest_power", "test_guest_mmio", "test_fault_power",
                "test_guest_faults", "test_linux_lifecycle",
                # Two Terns, idle but for their boot and one slow
                # migration of a small guest; no emulator at all.
                "test_metrics", "test_mgmt_api", "test_ternctl_client", "test_ansible_module")

WEIGHT_S = {
    "test_linux_vmx": 141, "test_linux_guest": 105, "test_hostile_guest": 98,
    "test_image_fetch": 94, "test_vm": 69, "test_dirty": 68, "test_linux_disk": 67,
    "test_storage": 54, "test_cpu_policy": 50, "test_linux_lifecycle": 50, "test_irq": 44,
    "test_boot": 35, "test_fault_power": 34, "test_guest_faults": 32, "test_guest_power": 30,
    "test_guest_mmio": 27, "test_disk_import": 18, "test_harness": 18, "test_console": 14,
    "test_memcheck_bare": 12, "test_linux_bare": 12, "test_netlab": 10, "test_deps_tools": 1,
}
DEFAULT_WEIGHT_S = 20


def modules():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "test_*.py")))


def plan():
    """[(lane name, [module, ...]), ...]: two balanced lanes, then the
    pairs with the beside lane."""
    singles = [m for m in modules() if m not in PAIRS and m not in BESIDE_PAIRS]
    lanes = {"1": [], "2": []}
    load = {"1": 0, "2": 0}
    for m in sorted(singles, key=lambda m: -WEIGHT_S.get(m, DEFAULT_WEIGHT_S)):
        lane = min(load, key=lambda k: (load[k], k))
        lanes[lane].append(m)
        load[lane] += WEIGHT_S.get(m, DEFAULT_WEIGHT_S)
    pairs = [m for m in modules() if m in PAIRS]
    beside = [m for m in modules() if m in BESIDE_PAIRS]
    return [("1", lanes["1"]), ("2", lanes["2"])], [("pairs", pairs), ("3", beside)], load


def pytest_cmd(mods, args):
    return [sys.executable, "-m", "pytest", "-v", "-rA", "-p", "no:cacheprovider",
            *args, *(m + ".py" for m in mods)]


def run_lane(name, mods, args, results, lock):
    t0 = time.monotonic()
    p = subprocess.Popen(pytest_cmd(mods, args), cwd=HERE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    tail = []
    for line in p.stdout:
        with lock:
            sys.stdout.write(f"[{name}] {line}")
            sys.stdout.flush()
        tail = (tail + [line.rstrip()])[-1:]
    rc = p.wait()
    results[name] = (rc, time.monotonic() - t0, tail[0] if tail else "")


def main(argv):
    parallel, second, load = plan()
    if argv[:1] == ["--plan"]:
        for name, mods in parallel:
            print(f"lane {name} (~{load[name]} s): {' '.join(mods)}")
        for name, mods in second:
            print(f"then {name}: {' '.join(mods)}")
        return 0
    if any(a.endswith(".py") or ".py::" in a for a in argv):
        return subprocess.call(pytest_cmd([], argv), cwd=HERE)
    results, lock = {}, threading.Lock()
    t0 = time.monotonic()
    for phase in (parallel, second):
        threads = [threading.Thread(target=run_lane, args=(name, mods, argv, results, lock))
                   for name, mods in phase]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(f"\nintegration lanes, {time.monotonic() - t0:.0f} s in all:")
    worst = 0
    for name in [n for n, _ in parallel + second]:
        rc, secs, last = results[name]
        print(f"  {name:>5}: exit {rc} after {secs:.0f} s  {last}")
        # pytest's 5 is "no tests collected": a lane whose -k matched nothing.
        if rc not in (0, 5):
            worst = rc or 1
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
