#!/usr/bin/python3
"""make bench: run the benchmarks in tools/benches/, print tables, write JSON.

Each module in tools/benches/ has `TITLE` and `run() -> (header, rows, data)`;
its data goes to build/bench/<module>.json, and a module with
`charts(data, outdir) -> paths` draws them under build/bench/charts/.
Figures are never pass/fail: emulated machines are noisy, so compare
ratios within one run.
`bench.py NAME...` runs only those.
"""
import importlib
import json
import os
import pkgutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
OUT = os.path.join(os.path.dirname(HERE), "build", "bench")


def table(header, rows):
    cols = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w) if i else str(x).ljust(w)
                               for i, (x, w) in enumerate(zip(r, cols)))
    print(line(header))
    print("  ".join("-" * w for w in cols))
    for r in rows:
        print(line(r))


def main(argv):
    os.makedirs(OUT, exist_ok=True)
    names = argv or sorted(m.name for m in pkgutil.iter_modules([os.path.join(HERE, "benches")]))
    failed = 0
    for name in names:
        mod = importlib.import_module(f"benches.{name}")
        print(f"\n== {mod.TITLE}")
        t0 = time.time()
        try:
            header, rows, data = mod.run()
        except Exception as e:
            print(f"error: bench {name}: {e}")
            failed += 1
            continue
        table(header, rows)
        data["_meta"] = {"seconds": round(time.time() - t0, 1), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = os.path.join(OUT, f"{name}.json")
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
        print(f"-> {path}")
        if hasattr(mod, "charts"):  # pictures of the figures (tools/bench_charts.py)
            for chart in mod.charts(data, os.path.join(OUT, "charts")):
                print(f"-> {chart}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
