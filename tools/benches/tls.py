"""What TLS costs a migration: the same memcheck guest migrated live between
two QEMU TCG Terns, alternately over TLS (the default,
ECDHE-PSK-CHACHA20-POLY1305) and over plain TCP (`--insecure`, allowed on
both hosts for the bench), REPEAT times each, in one run on one bridge.

Per mode: the medians of total time, downtime, bytes on the wire, and the
throughput (stream bytes x 8 / total time; round 0's own rate too, where the
guest's writes matter least). The last row is TLS over plain. Only one
cipher is measured: mbedTLS 2.28 has no ECDHE-PSK AES-GCM suite, and the lab's
qemu64 CPU has no AES-NI (docs/migration-stream.md, "TLS"). Figures from an
emulator on a shared machine: compare the two modes within one run.
"""
import os
import statistics

import netlab
from benches.migrate import tern_run
from hostpair import boot_pair
from machine import BUILD

TITLE = "tls: migration over TLS vs plain TCP (--insecure), same guest, same run (QEMU TCG)"
MIB = 64
ARGS = "mode=run rate=2000 verify=0"
REPEAT = 3
IP_A, IP_B = "10.99.0.1", "10.99.0.2"
KEY = "bench-tls-key-0123456789"


def one(a, b, opts):
    fig = tern_run(a, b, MIB, ARGS, opts)
    fig["round0_mbit_s"] = fig["round_lines"][0]["sent_mbit_s"]
    fig["mbit_s"] = round(fig["wire_bytes"] * 8 / (fig["total_ms"] * 1000), 1)
    return fig


def run():
    workdir = os.path.join(BUILD, "bench", "tls-lab")
    runs = {"plain": [], "tls": []}
    with netlab.Lab(workdir=workdir) as lab, \
            boot_pair(lab, "qemu", prefix="bench-tls-", ips=(IP_A, IP_B),
                      macs=("52:54:00:00:04:0a", "52:54:00:00:04:0b"), key=KEY,
                      mem_mib=MIB + 256) as pair:
        a, b = pair.a, pair.b
        for c in (a, b):
            c.cmd("migrate insecure on")
        if not lab.wait_reachable(IP_B, timeout=30):
            raise RuntimeError(f"{IP_B} does not answer pings")
        for _ in range(REPEAT):  # alternate, so drift in the machine's load hits both
            runs["plain"].append(one(a, b, "--insecure"))
            runs["tls"].append(one(a, b, ""))
    keys = ("mbit_s", "round0_mbit_s", "total_ms", "downtime_ms", "wire_bytes")
    med = {mode: {k: statistics.median(r[k] for r in rs) for k in keys} for mode, rs in runs.items()}
    header = ["mode", "Mbit/s", "round 0 Mbit/s", "total ms", "downtime ms", "MiB on wire"]
    rows = [[mode, med[mode]["mbit_s"], med[mode]["round0_mbit_s"], med[mode]["total_ms"],
             med[mode]["downtime_ms"], round(med[mode]["wire_bytes"] / (1 << 20), 1)]
            for mode in ("plain", "tls")]
    ratio = lambda k: round(med["tls"][k] / med["plain"][k], 2) if med["plain"][k] else "-"
    rows.append(["tls/plain", ratio("mbit_s"), ratio("round0_mbit_s"), ratio("total_ms"),
                 ratio("downtime_ms"), ratio("wire_bytes")])
    return header, rows, {"mib": MIB, "args": ARGS, "repeat": REPEAT, "medians": med, "runs": runs}
