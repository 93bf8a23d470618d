"""netlab_frames: Ethernet/ARP/RARP frames: builders for tests, a pcap reader for captures."""
from __future__ import annotations

import dataclasses
import struct
from typing import List, Optional

from netlab_base import *  # noqa: F401,F403

# --------------------------------------------------------------------------
# Ethernet / ARP frames and pcap parsing
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Frame:
    """One captured Ethernet frame; ARP/RARP fields are None for other types."""
    time: float
    dst: str
    src: str
    ethertype: int
    data: bytes                       # whole frame as captured
    vlan: Optional[int] = None
    htype: Optional[int] = None
    ptype: Optional[int] = None
    op: Optional[int] = None          # 1 request, 2 reply, 3 RARP request, 4 RARP reply
    sha: Optional[str] = None         # sender hardware address
    spa: Optional[str] = None         # sender protocol (IPv4) address
    tha: Optional[str] = None
    tpa: Optional[str] = None

    @property
    def is_arp(self) -> bool:
        return self.ethertype == ETH_P_ARP

    @property
    def is_rarp(self) -> bool:
        return self.ethertype == ETH_P_RARP

    @property
    def is_garp(self) -> bool:
        """Gratuitous ARP: ARP request or reply whose sender IP == target IP."""
        return self.is_arp and self.op in (1, 2) and self.spa is not None \
            and self.spa == self.tpa

    def __str__(self) -> str:
        s = f"{self.time:.6f} {self.src} > {self.dst} type 0x{self.ethertype:04x}"
        if self.op is not None:
            s += (f" op {self.op} sha {self.sha} spa {self.spa}"
                  f" tha {self.tha} tpa {self.tpa}")
        return s


def parse_frame(data: bytes, ts: float = 0.0) -> Optional[Frame]:
    """Decode an Ethernet II frame (optionally 802.1Q tagged); None if too short."""
    if len(data) < 14:
        return None
    dst, src = mac_str(data[0:6]), mac_str(data[6:12])
    etype = struct.unpack("!H", data[12:14])[0]
    off, vlan = 14, None
    if etype == ETH_P_8021Q and len(data) >= 18:
        vlan = struct.unpack("!H", data[14:16])[0] & 0xFFF
        etype = struct.unpack("!H", data[16:18])[0]
        off = 18
    fr = Frame(time=ts, dst=dst, src=src, ethertype=etype, data=bytes(data), vlan=vlan)
    if etype in (ETH_P_ARP, ETH_P_RARP) and len(data) >= off + 8:
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", data[off:off + 8])
        fr.htype, fr.ptype, fr.op = htype, ptype, op
        if hlen == 6 and plen == 4 and len(data) >= off + 28:
            a = data[off + 8:off + 28]
            fr.sha, fr.spa = mac_str(a[0:6]), ip_str(a[6:10])
            fr.tha, fr.tpa = mac_str(a[10:16]), ip_str(a[16:20])
    return fr


def parse_pcap(path: str) -> List[Frame]:
    """Parse a classic pcap file (as written by `tcpdump -w`), Ethernet link type.

    A file still being written may end in a partial record: that record is
    ignored, so this can be called while the capture runs."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        return []
    if len(buf) < 24:
        return []
    magic = buf[0:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise ValueError(f"{path}: not a pcap file (pcapng is not supported)")
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(end + "I", buf[20:24])[0]
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    frames, off = [], 24
    while off + 16 <= len(buf):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", buf[off:off + 16])
        if off + 16 + incl > len(buf):
            break
        ts = sec + frac / (1e9 if nanos else 1e6)
        fr = parse_frame(buf[off + 16:off + 16 + incl], ts)
        if fr is not None:
            frames.append(fr)
        off += 16 + incl
    return frames


def _pad60(frame: bytes) -> bytes:
    return frame + b"\x00" * max(0, 60 - len(frame))


def arp_frame(op: int, sha: str, spa: str, tha: str, tpa: str,
              src: Optional[str] = None, dst: str = BROADCAST,
              ethertype: int = ETH_P_ARP) -> bytes:
    """An Ethernet + ARP (or RARP) frame for IPv4 over Ethernet, padded to 60."""
    eth = mac_bytes(dst) + mac_bytes(src or sha) + struct.pack("!H", ethertype)
    arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + mac_bytes(sha) + ip_bytes(spa) \
        + mac_bytes(tha) + ip_bytes(tpa)
    return _pad60(eth + arp)


def garp_frame(mac: str, ip: str, reply: bool = False) -> bytes:
    """Gratuitous ARP, request form by default: broadcast, sender = target = ip
    (target MAC zero), the form Tern's net/announce sends."""
    if reply:
        return arp_frame(2, mac, ip, mac, ip)
    return arp_frame(1, mac, ip, "00:00:00:00:00:00", ip)


def rarp_frame(mac: str) -> bytes:
    """RARP request announcing `mac`, the form QEMU's announce uses:
    ethertype 0x8035, broadcast, op 3, sha = tha = mac, addresses 0.0.0.0."""
    return arp_frame(3, mac, "0.0.0.0", mac, "0.0.0.0", ethertype=ETH_P_RARP)


_SEND_RAW = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n"
    "s.bind((sys.argv[1],0))\n"
    "[s.send(bytes.fromhex(h)) for h in sys.argv[2:]]\n"
)


