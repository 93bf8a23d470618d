#!/usr/bin/python3
"""make demo: boot Tern and show it working, end to end.

Today: a Tern host under QEMU (UEFI, SVM+NPT) and one under Bochs (Multiboot2,
VMX+EPT), each answering a short scripted console session. This grows into
the live-migration demo (two hosts, a guest moved while a client pings it).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import Console, Machine, missing_tools  # noqa: E402

SESSION = ["version", "cpu", "mem", "pci", "uptime"]


def show(kind: str, title: str) -> bool:
    missing = missing_tools(kind)
    if missing:
        print(f"error: {kind} is not installed: apt-get install {' '.join(missing)}")
        return False
    print(f"\n=== {title} ===")
    c = Console(Machine(kind=kind, name=f"demo-{kind}"))
    try:
        secs = c.boot()
        print(f"(first prompt {secs:.1f} s after the emulator started; "
              f"console log: {c.machine.console_log})")
        for line in SESSION:
            print(f"tern> {line}")
            print(c.cmd(line), end="")
        return True
    except Exception as e:  # a demo says what broke rather than a traceback
        print(f"error: {kind} session failed: {e.__class__.__name__}; see {c.machine.console_log}")
        return False
    finally:
        c.close()


def main() -> int:
    ok = show("qemu", "Tern on QEMU TCG: UEFI (OVMF), AMD SVM + nested paging")
    ok &= show("bochs", "Tern on Bochs: legacy BIOS, GRUB Multiboot2, Intel VMX + EPT")
    print("\ndemo " + ("finished" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
