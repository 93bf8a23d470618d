#!/usr/bin/env python3
"""Seed inputs for the port-I/O fuzz targets (tests/fuzz/fuzz_ports.c): what
a driver does first, so the fuzzer starts from reachable device states.
usage: gen_port_seeds.py pci|virtio|uart DIR"""
import os
import struct
import sys

CFG_ADDR, CFG_DATA = 0, 4          # port selectors: 0xCF8 + sel
SIZES = {1: 0, 2: 1, 4: 2}


def out(sel, size, val):
    return struct.pack('<BBHI', SIZES[size], sel, 0, val & 0xFFFFFFFF)


def inp(sel, size):
    return struct.pack('<BBHI', SIZES[size] | 4, sel, 0, 0)


def poke(gpa, val):
    word = gpa // 4
    return struct.pack('<BBHI', 2 << 3, word & 0xFF, word >> 8, val)


def mmio(off, size, val=None):
    """Guest MMIO at off into virtio-net's memory BAR (kind 1, virtio target)."""
    op = (1 << 3) | {1: 0, 2: 1, 4: 2, 8: 3}[size] | (4 if val is None else 0)
    return struct.pack('<BBHI', op, 0, off, 0 if val is None else val)


def cfg_out(dev, off, size, val, cfg=0x80):
    """A configuration write; cfg is the selector bit the virtio target
    uses to reach the PCI ports (0 in the PCI target)."""
    return out(cfg | CFG_ADDR, 4, 0x80000000 | dev << 11 | (off & 0xFC)) + \
        out(cfg | CFG_DATA | (off & 3), size, val)


def cfg_in(dev, off, size, cfg=0x80):
    return out(cfg | CFG_ADDR, 4, 0x80000000 | dev << 11 | (off & 0xFC)) + \
        inp(cfg | CFG_DATA | (off & 3), size)


def pci():
    s = b''
    for dev in range(4):  # enumerate, as an OS does
        s += cfg_in(dev, 0, 4, 0)
    s += cfg_out(1, 0x10, 4, 0xFFFFFFFF, 0) + cfg_in(1, 0x10, 4, 0)  # BAR sizing
    s += cfg_out(1, 0x10, 4, 0xC001, 0)
    # The VIRTIO_PCI_CAP_PCI_CFG window (capability at 0x84): read the
    # common configuration's first dword through it.
    s += cfg_out(1, 0x84 + 4, 1, 0, 0) + cfg_out(1, 0x84 + 8, 4, 0, 0)
    s += cfg_out(1, 0x84 + 12, 4, 4, 0) + cfg_in(1, 0x84 + 16, 4, 0)
    return [s]


def bar(off, size, val=None):
    return inp(off, size) if val is None else out(off, size, val)


def virtio():
    s = bar(0x14, 1, 0) + bar(0x14, 1, 3)
    s += bar(0x08, 4, 0) + bar(0x0C, 4, 1 << 5) + bar(0x08, 4, 1) + bar(0x0C, 4, 1)
    s += bar(0x14, 1, 0xB) + bar(0x14, 1)
    for q, base in ((0, 0x10000), (1, 0x14000)):
        s += bar(0x16, 2, q) + bar(0x18, 2, 8)
        s += bar(0x20, 4, base) + bar(0x24, 4, 0)
        s += bar(0x28, 4, base + 0x1000) + bar(0x2C, 4, 0)
        s += bar(0x30, 4, base + 0x2000) + bar(0x34, 4, 0)
        s += bar(0x1C, 2, 1)
    s += bar(0x14, 1, 0xF)
    # one receive buffer, one 60-byte frame to send
    s += poke(0x10000, 0x20000) + poke(0x10008, 0x800) + poke(0x1000C, 2)
    s += poke(0x11000, 0x10000)
    s += poke(0x14000, 0x40000) + poke(0x14008, 72) + poke(0x1400C, 0)
    s += poke(0x15000, 0x10000)
    for i in range(0, 72, 4):
        s += poke(0x40000 + i, 0xFFFFFFFF if 12 <= i < 18 else 0x00005452)
    s += bar(0x44 + 2, 2, 1) + bar(0x40, 1)
    s += struct.pack('<BBHI', 3 << 3, 0, 64, 0x01020304)  # a frame from the wire
    s += bar(0x44, 2, 0) + bar(0x60, 4) + bar(0x64, 2)
    # MSI-X as Linux sets it up (capability at 0x98): enabled under the
    # Function Mask, entries programmed, vectors assigned, then unmasked.
    m = cfg_out(1, 0x98 + 2, 2, 0xC000)
    for v in range(3):
        m += mmio(16 * v, 4, 0xFEE00000) + mmio(16 * v + 4, 4, 0)
        m += mmio(16 * v + 8, 4, 0x40 + v) + mmio(16 * v + 12, 4, 0)
    m += bar(0x10, 2, 0) + bar(0x16, 2, 0) + bar(0x1A, 2, 1)
    m += bar(0x16, 2, 1) + bar(0x1A, 2, 2) + cfg_out(1, 0x98 + 2, 2, 0x8000)
    m += bar(0x44 + 2, 2, 1) + mmio(0x800, 8) + mmio(0, 8)
    return [s, s + m]


def uart():
    s = out(3, 1, 0x80) + out(0, 1, 1) + out(1, 1, 0) + out(3, 1, 3)
    for ch in b'hello \x1b[2J\x07\r\n':
        s += inp(5, 1) + out(0, 1, ch)
    return [s]


def main():
    target, d = sys.argv[1], sys.argv[2]
    os.makedirs(d, exist_ok=True)
    for i, s in enumerate({'pci': pci, 'virtio': virtio, 'uart': uart}[target]()):
        with open(os.path.join(d, 'seed-%d' % i), 'wb') as f:
            f.write(s)


if __name__ == '__main__':
    main()
