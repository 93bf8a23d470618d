"""Fuzzing: every libFuzzer target (the migration receiver, and each device a
guest reaches by port I/O: PCI configuration, virtio-net's BAR, the UART, and
the PAGE_DELTA decoder) run
for RUNS executions from its seeds, with ASan+UBSan. Reports executions,
speed, coverage and crashes (0 is the target: any crash is a bug, and its
input is kept under build/bench/fuzz-<target>/). docs/bench.md."""
import concurrent.futures
import os
import re
import shutil
import subprocess
import time

TITLE = "fuzz: executions and crashes per libFuzzer target (ASan+UBSan)"
RUNS = 1000000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "build", "tests", "fuzz")
WORK = os.path.join(ROOT, "build", "bench")
# name: (binary, seeds dir, make target that builds both, extra flags)
TARGETS = {
    "recv": ("fuzz_recv", "seeds", "run-fuzz-recv", ["-max_len=262144"]),
    "pci": ("fuzz_pci", "seeds-pci", "run-fuzz-pci", ["-max_len=4096", "-use_value_profile=1"]),
    "virtio": ("fuzz_virtio", "seeds-virtio", "run-fuzz-virtio",
               ["-max_len=4096", "-use_value_profile=1"]),
    "uart": ("fuzz_uart", "seeds-uart", "run-fuzz-uart", ["-max_len=4096", "-use_value_profile=1"]),
    "delta": ("fuzz_delta", "seeds-delta", "run-fuzz-delta", ["-max_len=4096"]),
}


def one(name):
    binary, seeds, target, flags = TARGETS[name]
    work = os.path.join(WORK, f"fuzz-{name}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "corpus"))
    for f in os.listdir(os.path.join(FUZZ, seeds)):
        if f.startswith("seed-"):
            shutil.copy(os.path.join(FUZZ, seeds, f), os.path.join(work, "corpus"))
    t0 = time.time()
    with open(os.path.join(work, "fuzz.log"), "w") as log:
        rc = subprocess.run([os.path.join(FUZZ, binary), "-seed=1", f"-runs={RUNS}", "-timeout=10",
                             "-rss_limit_mb=0", "-malloc_limit_mb=2048", "-print_final_stats=1", *flags, "corpus"],
                            cwd=work, stdout=log, stderr=subprocess.STDOUT).returncode
    secs = time.time() - t0
    text = open(os.path.join(work, "fuzz.log"), errors="replace").read()
    m = re.search(r"^stat::number_of_executed_units: (\d+)", text, re.M)
    execs = int(m.group(1)) if m else 0
    cov = re.findall(r"cov: (\d+)", text)
    crashes = [f for f in os.listdir(work) if f.startswith(("crash-", "leak-", "timeout-", "oom-"))]
    return {"executions": execs, "seconds": round(secs, 1),
            "exec_per_s": round(execs / secs) if secs else 0,
            "coverage": int(cov[-1]) if cov else 0,
            "crashes": len(crashes) if rc else 0, "exit_code": rc,
            "artifacts": [os.path.join(work, f) for f in crashes], "log": os.path.join(work, "fuzz.log")}


def run():
    data = {"runs_asked": RUNS, "targets": {}}
    rows = []
    # The receiver is the slowest target by far (each input builds a whole
    # destination); it runs on one core while the port targets take turns
    # on the other.
    for name in TARGETS:
        subprocess.run(["make", "-s", os.path.join("build", "tests", "fuzz", TARGETS[name][2])],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        recv = pool.submit(one, "recv")
        ports = pool.submit(lambda: {n: one(n) for n in TARGETS if n != "recv"})
        results = {"recv": recv.result(), **ports.result()}
    for name in TARGETS:
        r = results[name]
        data["targets"][name] = r
        rows.append((f"fuzz_{name}", r["executions"], r["exec_per_s"], r["coverage"], r["crashes"],
                     r["seconds"]))
    return ("target", "executions", "exec/s", "coverage", "crashes", "seconds"), rows, data
