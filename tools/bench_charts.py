"""Charts of the migration benchmark for operators and docs (issue 12, "See
it"): from build/bench/migrate.json (tools/benches/migrate.py), SVG files
under build/bench/charts/:

  rounds-WORKLOAD-MIB.svg  Tern's rounds in the first run of each mode
                           (plain, TLS): pages sent, dirty Mbit/s and the
                           auto-converge throttle per round
  compare-MIB.svg          Tern / QEMU per workload and comparison, at equal
                           bandwidth: downtime, total time, bytes on the wire
                           (log scale; below 1 means Tern did better)

    bench_charts.py [JSON [OUTDIR]]

`make bench` calls it after the migrate benchmark; it needs
python3-matplotlib, which `make bench` installs (mk/deps.mk).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), "build", "bench")
RATIOS = (("downtime", "downtime"), ("total_time", "total time"), ("bytes", "bytes on the wire"))


def rounds_chart(cell, path):
    """Pages sent, dirty rate and throttle per round, plain and TLS."""
    modes = [m for m in ("plain", "tls") if cell["tern_runs"].get(m)]
    fig, axes = plt.subplots(len(modes), 1, figsize=(8, 3.2 * len(modes)), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes):
        run = cell["tern_runs"][mode][0]
        rows = run["round_lines"]
        x = [r["round"] for r in rows]
        ax.bar(x, [r["sent_pages"] for r in rows], color="#4c72b0", label="pages sent")
        ax.set_xlabel("round (the last is the stop-and-copy)")
        ax.set_ylabel("pages sent")
        ax2 = ax.twinx()
        ax2.plot(x, [r["dirty_mbit_s"] for r in rows], "o-", color="#dd8452",
                 label="dirty Mbit/s")
        ax2.plot(x, [r["throttle_pct"] for r in rows], "s--", color="#55a868",
                 label="throttle %")
        ax2.set_ylabel("dirty Mbit/s, throttle %")
        ax.set_title(f"{cell['workload']} {cell['mib']} MiB, {mode}: "
                     f"{run['rounds']} rounds, downtime {run['downtime_ms']} ms, "
                     f"total {run['total_ms'] / 1000:.2f} s")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def compare_chart(comparisons, mib, path):
    """Tern/QEMU ratios per workload, one panel per equal-bandwidth comparison."""
    names = [c for c in ("plain vs QEMU", "plain vs QEMU+ac", "TLS vs QEMU TLS+ac")
             if any(x["comparison"] == c for x in comparisons)]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = [x for x in comparisons if x["comparison"] == name and x["mib"] == mib]
        workloads = [x["workload"] for x in rows]
        width = 0.8 / len(RATIOS)
        for i, (key, label) in enumerate(RATIOS):
            ax.bar([j + i * width for j in range(len(rows))],
                   [max(x["ratio_tern_over_qemu"][key], 1e-3) for x in rows], width, label=label)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks([j + width for j in range(len(rows))], workloads)
        ax.set_title(f"{name}, {mib} MiB")
        ax.set_ylabel("Tern / QEMU (below 1: Tern better)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render(data, outdir):
    """Writes the charts; returns their paths."""
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for cell in data.get("cells", []):
        if not cell.get("tern_runs"):
            continue
        p = os.path.join(outdir, f"rounds-{cell['workload']}-{cell['mib']}.svg")
        rounds_chart(cell, p)
        paths.append(p)
    for mib in sorted({x["mib"] for x in data.get("comparisons", [])}):
        p = os.path.join(outdir, f"compare-{mib}.svg")
        compare_chart(data["comparisons"], mib, p)
        paths.append(p)
    return paths


def main(argv):
    src = argv[0] if argv else os.path.join(BENCH, "migrate.json")
    outdir = argv[1] if len(argv) > 1 else os.path.join(BENCH, "charts")
    with open(src) as f:
        data = json.load(f)
    for p in render(data, outdir):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
