"""Boot time (firmware hand-off to first prompt) under QEMU and Bochs, and image sizes.

Two clocks: Tern's own ("boot: ready N ms after firmware hand-off", TSC-based,
in the emulated machine's time) and the wall clock from starting the emulator
to the first prompt (includes OVMF or BIOS+GRUB). Median of RUNS boots each.
"""
import os
import re
import statistics

from machine import BUILD, Console, Machine

TITLE = "boot: firmware hand-off to first prompt, and image sizes"
RUNS = 3


def boot_once(kind):
    c = Console(Machine(kind=kind, name=f"bench-boot-{kind}"))
    try:
        wall = c.boot()
        m = re.search(r"boot: ready (\d+) ms after firmware hand-off", c.p.before)
        return wall, int(m.group(1)) if m else None
    finally:
        c.close()


def run():
    rows, data = [], {"boot": {}, "sizes": {}}
    for kind, fw in (("qemu", "UEFI/OVMF"), ("bochs", "BIOS+GRUB, Multiboot2")):
        runs = [boot_once(kind) for _ in range(RUNS)]
        wall = statistics.median(r[0] for r in runs)
        tern_ms = statistics.median(r[1] for r in runs if r[1] is not None)
        data["boot"][kind] = {"firmware": fw, "handoff_to_prompt_ms": tern_ms,
                              "emulator_start_to_prompt_s": round(wall, 2), "runs": RUNS}
        rows.append([f"{kind} ({fw})", f"{tern_ms} ms", f"{wall:.2f} s"])
    for f in ("tern.efi", "tern.elf", "esp.img", "tern.iso"):
        size = os.path.getsize(os.path.join(BUILD, f))
        data["sizes"][f] = size
        rows.append([f"size of build/{f}", f"{size / 1024:.0f} KiB", ""])
    return ["what", "Tern hand-off->prompt", "emulator start->prompt"], rows, data
