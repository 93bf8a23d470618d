#!/usr/bin/python3
"""run.py qemu|bochs [--mem MIB] [--cmdline "..."]: one Tern, console on this terminal.

On a terminal the emulator owns it (QEMU: Ctrl-A X quits is not available
with a plain stdio chardev; use `poweroff` or kill it). From a pipe, each
input line is run as a console command once the prompt is up, the session
is printed, and the machine is stopped: `printf 'version\\n' | make run`.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import Console, Machine, scripted  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["qemu", "bochs"])
    ap.add_argument("--mem", type=int, default=512, help="guest RAM of the emulated host, MiB")
    ap.add_argument("--cmdline", default="", help="Tern boot command line")
    args = ap.parse_args()
    m = Machine(kind=args.kind, name=f"run-{args.kind}", mem_mib=args.mem, cmdline=args.cmdline)
    try:
        argv = m.command()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if sys.stdin.isatty():
        os.execvp(argv[0], argv)
    lines = [l.rstrip("\n") for l in sys.stdin]
    c = Console(m)
    try:
        return scripted(c, lines)
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main())
