#!/usr/bin/python3
"""A scripted migration peer: speaks docs/migration-stream.md from Python,
faithfully or wrongly on purpose, so the failure tests can feed a Tern host
streams no Tern would send. Standard library only (hmac for the proofs); it
runs in the lab's client namespace.

    migpeer.py source HOST PORT CASE [--key K] [--config FILE] [--stream FILE]
        Act as a source and play CASE (see CASES) to a Tern destination;
        hostile-NAME (see HOSTILE) replays a recorded stream with one vCPU
        or device state blob made impossible.
        Prints one JSON object: what the destination answered.
    migpeer.py dest PORT --key K --save FILE [--mode refuse|record]
        Act as a destination for one connection from a Tern source: answer
        the handshake, save the source's stream, then refuse (after
        GUEST_CONFIG), record everything up to END (into FILE.stream) and
        answer ERROR, record up to END and vanish without answering (the
        uncertain hand-off), or accept and answer garbage once round 0 is
        under way.
        The source keeps its guest in every mode. Prints one JSON object.

Transport: TLS by default, as Tern speaks it (docs/migration-stream.md,
"TLS"), through build/tools/tlspsk-proxy (Python's ssl has no TLS-PSK): the
proxy holds one end of a socketpair and migpeer the other, so everything
below sees an ordinary socket. --tls-key K sets the key the TLS layer uses
(default: --key); --insecure speaks plain TCP (the destination must allow it).
"""
import argparse
import hashlib
import hmac
import json
import os
import random
import socket
import struct
import subprocess
import sys

MAGIC = b"TERN-MIG"
HELLO, AUTH, GUEST_CONFIG, PAGE_DATA, VCPU_STATE, DEVICE_STATE = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
END_OF_ROUND, END, ERROR, ACCEPT, REFUSE, HANDOFF_DONE = 0x07, 0x08, 0x09, 0x10, 0x11, 0x12
NAMES = {HELLO: "HELLO", AUTH: "AUTH", GUEST_CONFIG: "GUEST_CONFIG", PAGE_DATA: "PAGE_DATA",
         VCPU_STATE: "VCPU_STATE", DEVICE_STATE: "DEVICE_STATE", END_OF_ROUND: "END_OF_ROUND",
         END: "END", ERROR: "ERROR", ACCEPT: "ACCEPT", REFUSE: "REFUSE",
         HANDOFF_DONE: "HANDOFF_DONE"}
CODES = {1: "PROTOCOL", 2: "VERSION", 3: "AUTH", 4: "CPUID", 5: "NO_MEMORY", 6: "IN_USE",
         7: "LIMIT", 8: "GUEST", 9: "CANCELLED", 10: "TIMEOUT", 11: "CHECKSUM", 12: "UNSUPPORTED"}
LABEL_SRC, LABEL_DST = b"tern-migrate-v1 source", b"tern-migrate-v1 destination"
M64 = (1 << 64) - 1
PROXY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "tools",
                     "tlspsk-proxy")


# ---- transport: how the socket is made ---------------------------------------------

def _tls_key(a) -> str:
    return a.tls_key or a.key or "-"


def dial(a):
    """A connection to a Tern destination: TLS through tlspsk-proxy, or plain TCP."""
    if a.insecure:
        return socket.create_connection((a.host, a.port), timeout=15)
    mine, theirs = socket.socketpair()
    subprocess.Popen([PROXY, "connect", a.host, str(a.port), _tls_key(a)], stdin=theirs,
                     stdout=theirs)
    theirs.close()
    mine.settimeout(15)
    return mine


def accept_one(a, on_listening):
    """One connection from a Tern source; on_listening() once it can come."""
    if a.insecure:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("", a.port))
        ls.listen(1)
        ls.settimeout(a.timeout)
        on_listening()
        return ls.accept()[0]
    mine, theirs = socket.socketpair()
    proc = subprocess.Popen([PROXY, "accept", str(a.port), _tls_key(a)], stdin=theirs,
                            stdout=theirs, stderr=subprocess.PIPE, text=True)
    theirs.close()
    line = proc.stderr.readline()
    if line.strip() != "listening":
        raise RuntimeError(f"tlspsk-proxy: {line.strip()}")
    on_listening()
    mine.settimeout(a.timeout)
    return mine


def header(magic=MAGIC, version=2, flags=0) -> bytes:
    return magic + struct.pack("<II", version, flags)


def record(rtype: int, payload: bytes = b"", length=None) -> bytes:
    """One record; `length` overrides the length field (the payload is sent as given)."""
    n = len(payload) if length is None else length
    return struct.pack("<II", rtype, n) + payload + b"\0" * (-len(payload) % 8)


def hello(nonce: bytes) -> bytes:
    return record(HELLO, struct.pack("<QII", 0, 12, 0) + nonce + b"migpeer".ljust(32, b"\0"))


def proof(key: bytes, label: bytes, ns: bytes, nd: bytes) -> bytes:
    return hmac.new(key, label + ns + nd, hashlib.sha256).digest()


def text(rtype: int, code: int, msg: str) -> bytes:
    return record(rtype, struct.pack("<II", code, 0) + msg.encode())


class Sum:
    """The END checksum (docs/migration-stream.md, END)."""

    def __init__(self):
        self.a = self.b = 0

    def add(self, data: bytes):
        assert len(data) % 4 == 0
        a, b = self.a, self.b
        for (w,) in struct.iter_unpack("<I", data):
            a = (a + w) & M64
            b = (b + a) & M64
        self.a, self.b = a, b


class Reader:
    """Reads one side's stream off a socket: header, then records."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            d = self.s.recv(1 << 16)
            if not d:
                raise EOFError(f"connection closed after {len(self.buf)} of {n} bytes")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def header(self) -> bytes:
        h = self.exact(16)
        if h[:8] != MAGIC:
            raise ValueError(f"bad magic {h[:8]!r}")
        return h

    def record(self):
        """(type, payload, raw bytes of the record)"""
        hdr = self.exact(8)
        rtype, n = struct.unpack("<II", hdr)
        body = self.exact(n + (-n % 8))
        return rtype, body[:n], hdr + body


def describe(rtype: int, payload: bytes) -> dict:
    d = {"type": NAMES.get(rtype, hex(rtype))}
    if rtype in (ERROR, REFUSE) and len(payload) >= 8:
        code = struct.unpack_from("<I", payload)[0]
        d["code"] = CODES.get(code, str(code))
        d["text"] = payload[8:].decode(errors="replace")
    return d


def read_answers(r: Reader, out: dict, stop_at=()):
    """Records until the peer closes (or one of stop_at arrives), into out["answers"]."""
    try:
        if not out.get("answer_header"):
            r.header()
            out["answer_header"] = True
        while True:
            rtype, payload, _ = r.record()
            out["answers"].append(describe(rtype, payload))
            if rtype in stop_at:
                return rtype, payload
    except (EOFError, ConnectionResetError, socket.timeout, ValueError) as e:
        out["closed"] = f"{type(e).__name__}: {e}"
    return None, None


# ---- source cases ------------------------------------------------------------------
#
# Each returns the bytes to send first; cases that need the destination's
# answers (a handshake) drive the socket themselves.

def garbage(n: int) -> bytes:
    return random.Random(1).randbytes(n)


CASES = {
    "bad-magic": lambda: header(magic=b"NOT-TERN"),
    "bad-version": lambda: header(version=99),
    "v1-source": lambda: header(version=1),
    "truncated-header": lambda: header()[:10],
    "absurd-length": lambda: header() + struct.pack("<II", HELLO, 0xFFFFFFF0),
    "unknown-record": lambda: header() + record(0x77, b"\x01" * 8),
    "garbage": lambda: header() + garbage(512),
    # An optional record (skippable) whose padding is not zero.
    "bad-padding": lambda: header() + struct.pack("<II", 0x80000077, 5) + b"abcde" + b"\x55" * 3,
}


def handshake(s, r: Reader, key: bytes, out: dict, good_proof=True, sent=None) -> bool:
    """HELLO and AUTH as a source; the records sent are added to `sent` (a Sum)."""
    ns = os.urandom(32)
    recs = [hello(ns)]
    s.sendall(header() + recs[0])
    r.header()
    out["answer_header"] = True
    rtype, payload, _ = r.record()
    out["answers"].append(describe(rtype, payload))
    if rtype != HELLO:
        return False
    nd = payload[16:48]
    rtype, payload, _ = r.record()
    out["answers"].append(describe(rtype, payload))
    if rtype != AUTH or not hmac.compare_digest(payload, proof(key, LABEL_DST, ns, nd)):
        out["bad_destination_proof"] = True
        return False
    recs.append(record(AUTH, proof(key, LABEL_SRC, ns, nd) if good_proof else b"\0" * 32))
    s.sendall(recs[1])
    if sent is not None:
        for rec in recs:
            sent.add(rec)
    return True


def records_of(data: bytes):
    """Splits saved raw records back into (type, raw bytes)."""
    at = 0
    while at < len(data):
        rtype, n = struct.unpack_from("<II", data, at)
        size = 8 + n + (-n % 8)
        yield rtype, data[at:at + size]
        at += size


def renamed_config(path: str, name: str, mac: bytes) -> bytes:
    """A GUEST_CONFIG saved from a real Tern source, with another name and MAC."""
    with open(path, "rb") as f:
        cfg = bytearray(f.read())
    cfg[16:22] = mac
    cfg[40:72] = name.encode().ljust(32, b"\0")
    return bytes(cfg)


def page_batch(gfns) -> bytes:
    p = struct.pack("<II", len(gfns), 0)
    for g in gfns:
        p += struct.pack("<QII", g, 0, 0) + bytes([g & 0xFF]) * 4096
    return record(PAGE_DATA, p)


# ---- hostile state blobs -------------------------------------------------------------
#
# hostile-NAME replays a recorded stream with one state blob changed into one
# no real CPU or device could be in. The END checksum is taken over the
# changed bytes, so the stream itself is sound: only the blob is wrong, and
# the destination must refuse it before END.

# struct vcpu_state (kernel/hv.h), little-endian, naturally aligned.
_SEG = 16  # sel u16, attr u16, limit u32, base u64
VCPU = {"cr0": 312, "cr4": 336, "efer": 344, "lstar": 376, "kernel_gs_base": 400,
        "event": 456}
for _i, _seg in enumerate(("es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr")):
    VCPU[_seg] = 152 + _SEG * _i
VCPU_LEN = 976
DEV_UART, DEV_NET, DEV_LAPIC, DEV_IOAPIC, DEV_RTC = 1, 3, 4, 5, 6
LAPIC_BASE = 4  # u32 version, then u64 IA32_APIC_BASE
IOAPIC_RTE0 = 16  # u32 version, id, IOREGSEL, asserted pins, then 24 u64 entries
# virtio-net transport state (docs/migration-stream.md, DEVICE_STATE)
VNET_QCOUNT, VNET_MSIX_CONFIG = 24, 28  # u32 queue count, u16 configuration vector
VNET_Q0 = 32  # queue 0: desc, driver, device u64; size, enabled u16
NONCANONICAL = 0x0000_8000_0000_0000
EFER_LME, EFER_LMA, CR0_PE, CR0_PG = 1 << 8, 1 << 10, 1 << 0, 1 << 31


def _q(b, off, fn):
    struct.pack_into("<Q", b, off, fn(struct.unpack_from("<Q", b, off)[0]))


def _attr(b, seg, fn):
    off = VCPU[seg] + 2
    struct.pack_into("<H", b, off, fn(struct.unpack_from("<H", b, off)[0]))


def _lma_without_pg(b):
    _q(b, VCPU["efer"], lambda v: v | EFER_LME | EFER_LMA)
    _q(b, VCPU["cr0"], lambda v: v & ~CR0_PG)


def _bad_event(b):
    # valid, type 7 (reserved), vector 14, no error code
    b[VCPU["event"]:VCPU["event"] + 4] = bytes([1, 7, 14, 0])


def _vnet_ring_outside_ram(b):
    # queue 0 enabled, 256 entries, its descriptor table 1 TiB up
    struct.pack_into("<QQQHH", b, VNET_Q0, 1 << 40, 0x2000, 0x3000, 256, 1)


def _uart_rx_overflow(b):
    struct.pack_into("<H", b, 8, 300)  # bytes waiting: more than the 256-byte FIFO


def _uart_reserved_ier(b):
    b[0] = 0xF0


def _lapic_extd_without_en(b):
    _q(b, LAPIC_BASE, lambda v: (v | 1 << 10) & ~(1 << 11))


def _ioapic_remote_irr_on_edge(b):
    _q(b, IOAPIC_RTE0 + 8 * 4, lambda v: (v | 1 << 14) & ~(1 << 15))


# name: (record type, device id or None, change to the blob in place)
HOSTILE = {
    "efer-lma-without-pg": (VCPU_STATE, None, _lma_without_pg),
    "cr0-pg-without-pe": (VCPU_STATE, None,
                          lambda b: _q(b, VCPU["cr0"], lambda v: (v | CR0_PG) & ~CR0_PE)),
    "cr4-reserved-bit": (VCPU_STATE, None, lambda b: _q(b, VCPU["cr4"], lambda v: v | 1 << 40)),
    "fs-base-noncanonical": (VCPU_STATE, None,
                             lambda b: _q(b, VCPU["fs"] + 8, lambda v: NONCANONICAL)),
    "gs-base-noncanonical": (VCPU_STATE, None,
                             lambda b: _q(b, VCPU["gs"] + 8, lambda v: NONCANONICAL)),
    "kgs-base-noncanonical": (VCPU_STATE, None,
                              lambda b: _q(b, VCPU["kernel_gs_base"], lambda v: NONCANONICAL)),
    "lstar-noncanonical": (VCPU_STATE, None,
                           lambda b: _q(b, VCPU["lstar"], lambda v: NONCANONICAL)),
    "cs-not-present": (VCPU_STATE, None, lambda b: _attr(b, "cs", lambda v: v & ~0x80)),
    # S=1: a code or data descriptor where TR must hold a TSS
    "tr-not-a-tss": (VCPU_STATE, None, lambda b: _attr(b, "tr", lambda v: v | 0x10)),
    "event-bad-type": (VCPU_STATE, None, _bad_event),
    "vnet-queue-count": (DEVICE_STATE, DEV_NET,
                         lambda b: struct.pack_into("<I", b, VNET_QCOUNT, 1000)),
    "vnet-queue-size": (DEVICE_STATE, DEV_NET,
                        lambda b: struct.pack_into("<HH", b, VNET_Q0 + 24, 0xFFFF, 1)),
    "vnet-ring-outside-ram": (DEVICE_STATE, DEV_NET, _vnet_ring_outside_ram),
    # 3 MSI-X vectors (configuration, receive, transmit): 7 is past the table
    "vnet-vector-past-the-table": (DEVICE_STATE, DEV_NET,
                                   lambda b: struct.pack_into("<H", b, VNET_MSIX_CONFIG, 7)),
    "uart-rx-overflow": (DEVICE_STATE, DEV_UART, _uart_rx_overflow),
    "uart-reserved-ier": (DEVICE_STATE, DEV_UART, _uart_reserved_ier),
    "lapic-extd-without-en": (DEVICE_STATE, DEV_LAPIC, _lapic_extd_without_en),
    "ioapic-remote-irr-on-edge": (DEVICE_STATE, DEV_IOAPIC, _ioapic_remote_irr_on_edge),
    "rtc-index-past-128": (DEVICE_STATE, DEV_RTC, lambda b: b.__setitem__(4, 0x80)),
}


def hostile_record(case: str, rtype: int, raw: bytes) -> bytes:
    """raw, or, if it is the state record `case` changes, that record changed."""
    want, dev, change = HOSTILE[case]
    if rtype != want:
        return raw
    ident, blob_len = struct.unpack_from("<II", raw, 8)
    if dev is not None and ident != dev:
        return raw
    if rtype == VCPU_STATE and blob_len != VCPU_LEN:
        raise SystemExit(f"vCPU blob of {blob_len} bytes, expected {VCPU_LEN}: update migpeer.py")
    b = bytearray(raw)
    blob = bytearray(b[16:16 + blob_len])
    change(blob)
    b[16:16 + blob_len] = blob
    return bytes(b)


def run_source(a) -> dict:
    out = {"case": a.case, "answers": []}
    s = dial(a)
    r = Reader(s)
    key = a.key.encode() if a.key else b""
    if a.case in CASES:
        s.sendall(CASES[a.case]())
        s.shutdown(socket.SHUT_WR)
        read_answers(r, out)
    elif a.case == "bad-proof":
        if handshake(s, r, key, out, good_proof=False):
            read_answers(r, out)
    elif a.case == "bad-cpuid":
        # A real guest config whose CPUID baseline differs from the host's.
        if handshake(s, r, key, out):
            cfg = bytearray(renamed_config(a.config, a.name, bytes.fromhex(a.mac)))
            cfg[-1] ^= 0x01
            s.sendall(record(GUEST_CONFIG, bytes(cfg)))
            s.shutdown(socket.SHUT_WR)
            read_answers(r, out)
    elif a.case in ("truncated-pages", "garbage-pages"):
        # A real guest config, accepted: the destination reserves the
        # guest, then gets part of a page record and the connection closes
        # (or garbage instead of the next record).
        if handshake(s, r, key, out):
            s.sendall(record(GUEST_CONFIG, renamed_config(a.config, a.name, bytes.fromhex(a.mac))))
            rtype, _ = read_answers(r, out, stop_at=(ACCEPT, REFUSE))
            if rtype == ACCEPT:
                out["accepted"] = True
                if a.wait_file:
                    # The test looks at the destination while it holds the guest.
                    with open(a.wait_file, "w") as f:
                        f.write("accepted\n")
                    while os.path.exists(a.wait_file):
                        s.settimeout(0.1)
                        try:
                            if not s.recv(1, socket.MSG_PEEK):
                                break
                        except socket.timeout:
                            pass
                    s.settimeout(15)
                batch = page_batch(range(16, 24))
                if a.case == "truncated-pages":
                    s.sendall(page_batch(range(8)) + batch[:len(batch) // 2])
                else:
                    s.sendall(page_batch(range(8)) + garbage(4096))
                s.shutdown(socket.SHUT_WR)
                read_answers(r, out)
    elif a.case in ("replay", "replay-corrupt") or a.case.removeprefix("hostile-") in HOSTILE:
        # A stream recorded from a real Tern source (`dest --mode record`),
        # replayed under another name and MAC with a fresh handshake and the
        # END checksum recomputed. replay-corrupt then changes one byte of
        # page data on the way, after the checksum was taken.
        total = Sum()
        if handshake(s, r, key, out, sent=total):
            cfg = record(GUEST_CONFIG, renamed_config(a.config, a.name, bytes.fromhex(a.mac)))
            s.sendall(cfg)
            total.add(cfg)
            rtype, _ = read_answers(r, out, stop_at=(ACCEPT, REFUSE))
            if rtype == ACCEPT:
                out["accepted"] = True
                with open(a.stream, "rb") as f:
                    recs = list(records_of(f.read()))
                corrupted = a.case != "replay-corrupt"
                for rtype, raw in recs:
                    if a.case.startswith("hostile-"):
                        raw = hostile_record(a.case.removeprefix("hostile-"), rtype, raw)
                    if rtype == END:
                        rounds, _, pages = struct.unpack_from("<IIQ", raw, 8)
                        raw = record(END, struct.pack("<IIQQQ", rounds, 0, pages, total.a, total.b))
                    else:
                        total.add(raw)
                    if rtype == PAGE_DATA and not corrupted:
                        # entry 0's data starts after the record header (8),
                        # the batch header (8) and the entry header (16)
                        b = bytearray(raw)
                        b[8 + 8 + 16 + 100] ^= 0x01
                        raw, corrupted = bytes(b), True
                    s.sendall(raw)
                out["sent_records"] = len(recs)
                read_answers(r, out, stop_at=(HANDOFF_DONE, ERROR))
    else:
        raise SystemExit(f"unknown case {a.case}")
    s.close()
    return out


# ---- destination -------------------------------------------------------------------

def run_dest(a) -> dict:
    key = a.key.encode()
    out = {"answers": [], "records": {}}
    s = accept_one(a, lambda: print(json.dumps({"listening": a.port}), flush=True))
    s.settimeout(30)
    r = Reader(s)
    h = r.header()
    if a.mode == "v1":
        # What a Tern of stream version 1 answers a newer header with.
        out["source_version"] = struct.unpack_from("<I", h, 8)[0]
        s.sendall(header(version=1) + text(REFUSE, 2, "unsupported stream version"))
        s.shutdown(socket.SHUT_WR)
        s.close()
        return out
    rtype, payload, _ = r.record()
    assert rtype == HELLO, NAMES.get(rtype)
    ns, nd = payload[16:48], os.urandom(32)
    s.sendall(header() + hello(nd) + record(AUTH, proof(key, LABEL_DST, ns, nd)))
    rtype, payload, _ = r.record()
    out["source_proof_ok"] = rtype == AUTH and hmac.compare_digest(payload,
                                                                    proof(key, LABEL_SRC, ns, nd))
    rtype, cfg, _ = r.record()
    assert rtype == GUEST_CONFIG, NAMES.get(rtype)
    with open(a.save, "wb") as f:
        f.write(cfg)
    out["config_len"] = len(cfg)
    if a.mode == "refuse":
        s.sendall(text(REFUSE, 8, "test peer: refusing on purpose"))
    elif a.mode == "garbage":
        # Accept, let round 0 begin, then answer nonsense.
        s.sendall(record(ACCEPT))
        got = 0
        while got < 1 << 20:
            got += len(r.record()[2])
        s.sendall(garbage(512))
        out["received_before_garbage"] = got
        try:
            while True:
                rtype, payload, _ = r.record()
                if rtype == ERROR:
                    out["answers"].append(describe(rtype, payload))
        except (EOFError, OSError):
            pass
    else:  # record, vanish
        s.sendall(record(ACCEPT))
        counts = {}
        with open(a.save + ".stream", "wb") as f:
            while True:
                rtype, payload, raw = r.record()
                name = NAMES.get(rtype, hex(rtype))
                counts[name] = counts.get(name, 0) + 1
                f.write(raw)
                if rtype == END:
                    break
        out["records"] = counts
        if a.mode == "vanish":
            # Gone after END, without a word: the source cannot know
            # whether the guest started here.
            s.close()
            return out
        s.sendall(text(ERROR, 8, "test peer: not starting the guest"))
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(1 << 16):
            pass
    except OSError:
        pass
    s.close()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    src = sub.add_parser("source")
    src.add_argument("host")
    src.add_argument("port", type=int)
    src.add_argument("case")
    src.add_argument("--key", default="")
    src.add_argument("--config", help="a GUEST_CONFIG payload saved by `dest`")
    src.add_argument("--stream", help="records saved by `dest --mode record`")
    src.add_argument("--name", default="ghost")
    src.add_argument("--mac", default="525400dead01")
    src.add_argument("--wait-file", help="after ACCEPT, wait until this file is removed")
    dst = sub.add_parser("dest")
    dst.add_argument("port", type=int)
    dst.add_argument("--key", required=True)
    dst.add_argument("--save", required=True)
    dst.add_argument("--mode", choices=("refuse", "record", "garbage", "vanish", "v1"), default="refuse")
    dst.add_argument("--timeout", type=float, default=60)
    for p in (src, dst):
        p.add_argument("--tls-key", help="the key of the TLS layer (default: --key)")
        p.add_argument("--insecure", action="store_true", help="plain TCP instead of TLS")
    a = ap.parse_args(argv)
    out = run_source(a) if a.cmd == "source" else run_dest(a)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
