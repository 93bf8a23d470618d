"""netlab_fakehost: a TAP endpoint that answers ARP, ping and UDP echo, standing in
for an emulator in the lab's own tests (runs in the lab namespace)."""
from __future__ import annotations

import os
import select
import signal
import struct
import time
from typing import Optional

from netlab_base import *  # noqa: F401,F403
from netlab_frames import *  # noqa: F401,F403
from netlab_frames import _pad60  # noqa: F401

# --------------------------------------------------------------------------
# fake host: a TAP endpoint standing in for an emulator (runs in the lab ns)
# --------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


def open_tap(name: str) -> int:
    """Open an existing TAP like Bochs 2.7's tuntap module does (QEMU adds
    IFF_VNET_HDR): /dev/net/tun + TUNSETIFF(IFF_TAP|IFF_NO_PI, name).
    Must run in the TAP's namespace, else the kernel creates a new TAP."""
    import fcntl
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def fake_host_reply(frame: bytes, mac: bytes, ip: bytes) -> Optional[bytes]:
    """The answer of a minimal host (ARP, ICMP echo, UDP echo) to `frame`."""
    if len(frame) < 14:
        return None
    dst, src, etype = frame[0:6], frame[6:12], struct.unpack("!H", frame[12:14])[0]
    if dst not in (mac, b"\xff" * 6):
        return None
    if etype == ETH_P_ARP and len(frame) >= 42:
        op = struct.unpack("!H", frame[20:22])[0]
        sha, spa, tpa = frame[22:28], frame[28:32], frame[38:42]
        if op == 1 and tpa == ip and spa != ip:
            arp = frame[14:20] + struct.pack("!H", 2) + mac + ip + sha + spa
            return _pad60(src + mac + frame[12:14] + arp)
        return None
    if etype != ETH_P_IP or dst != mac or len(frame) < 34:
        return None
    ihl = (frame[14] & 0x0F) * 4
    iph = bytearray(frame[14:14 + ihl])
    total = struct.unpack("!H", iph[2:4])[0]
    if iph[16:20] != ip or total < ihl or len(frame) < 14 + total:
        return None
    body = bytearray(frame[14 + ihl:14 + total])
    proto = iph[9]
    if proto == 1 and len(body) >= 8 and body[0] == 8:      # ICMP echo request
        body[0] = 0
        body[2:4] = b"\x00\x00"
        body[2:4] = struct.pack("!H", _csum(bytes(body)))
    elif proto == 17 and len(body) >= 8:                     # UDP: echo back
        body[0:2], body[2:4] = body[2:4], body[0:2]
        body[6:8] = b"\x00\x00"                               # checksum optional in IPv4
    else:
        return None
    iph[12:16], iph[16:20] = iph[16:20], iph[12:16]
    iph[8] = 64
    iph[10:12] = b"\x00\x00"
    iph[10:12] = struct.pack("!H", _csum(bytes(iph)))
    return _pad60(src + mac + frame[12:14] + bytes(iph) + bytes(body))


def fake_host_main(tap: str, mac: str, ip: str, announce: int = 0) -> int:
    fd = open_tap(tap)
    macb, ipb = mac_bytes(mac), ip_bytes(ip)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    print(f"fake-host: {tap} {mac} {ip}", flush=True)
    # Announce only once the bridge forwards from the TAP: its port leaves the
    # disabled state some time after the open (linkwatch), frames before are lost.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/sys/class/net/{tap}/brport/state") as f:
                if f.read().strip() == "3":  # BR_STATE_FORWARDING
                    break
        except OSError:
            break  # not on a bridge: nothing to wait for
        time.sleep(0.02)
    gap = 0.05
    for _ in range(announce):  # like QEMU's announce: GARP + RARP, growing gaps
        os.write(fd, garp_frame(mac, ip))
        os.write(fd, rarp_frame(mac))
        time.sleep(gap)
        gap += 0.1
    while not stop:
        try:
            r, _, _ = select.select([fd], [], [], 0.2)
        except InterruptedError:
            continue
        if not r:
            continue
        try:
            frame = os.read(fd, 65536)
        except BlockingIOError:
            continue
        reply = fake_host_reply(frame, macb, ipb)
        if reply is not None:
            try:
                os.write(fd, reply)
            except OSError as e:  # e.g. the TAP is down (lab.port(up=False))
                print(f"fake-host: write: {e}", flush=True)
    return 0


