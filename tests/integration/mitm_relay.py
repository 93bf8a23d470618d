#!/usr/bin/python3
"""An on-path attacker for test_migrate_tls.py: relays one TCP connection
from LISTEN_PORT to HOST:PORT and flips one bit of the byte at offset
--flip-at of the source-to-destination direction (0: relay faithfully).
Prints {"listening": port} once it listens, then one JSON object when both
directions ended: bytes relayed each way and whether it flipped."""
import argparse
import json
import socket
import sys
import threading


def pump(src, dst, counter, key, flip_at):
    while True:
        try:
            d = src.recv(65536)
        except OSError:
            d = b""
        if not d:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        n = counter[key]
        if flip_at and n < flip_at <= n + len(d):
            i = flip_at - n - 1
            d = d[:i] + bytes([d[i] ^ 0x01]) + d[i + 1:]
            counter["flipped"] = True
        counter[key] = n + len(d)
        try:
            dst.sendall(d)
        except OSError:
            return


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("listen_port", type=int)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--flip-at", type=int, default=0)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("", a.listen_port))
    ls.listen(1)
    ls.settimeout(120)
    print(json.dumps({"listening": a.listen_port}), flush=True)
    c, _ = ls.accept()
    u = socket.create_connection((a.host, a.port), timeout=30)
    c.settimeout(None)
    u.settimeout(None)
    counter = {"to_dst": 0, "to_src": 0, "flipped": False}
    ts = [threading.Thread(target=pump, args=(c, u, counter, "to_dst", a.flip_at)),
          threading.Thread(target=pump, args=(u, c, counter, "to_src", 0))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    print(json.dumps(counter), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
