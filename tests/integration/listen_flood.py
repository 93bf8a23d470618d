#!/usr/bin/python3
"""Hostile clients of a Tern's migration port for test_migrate_tls.py:
HOLD connections that stay open and idle (every third sends a lone TLS
handshake byte, every third a partial plain header: slow rather than
silent), and a burst of BURST connection attempts that are closed at once
(non-blocking connects: SYNs, many never completed). Prints
{"held": n, "burst": m} when done, then keeps the held connections open
until stdin closes."""
import json
import socket
import sys


def main() -> int:
    host, port, hold, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    held = []
    for i in range(hold):
        try:
            s = socket.create_connection((host, port), timeout=5)
        except OSError:
            continue
        if i % 3 == 1:
            s.send(b"\x16")
        elif i % 3 == 2:
            s.send(b"TERN-M")
        held.append(s)
    sent = 0
    for _ in range(burst):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        s.close()
        sent += 1
    print(json.dumps({"held": len(held), "burst": sent}), flush=True)
    sys.stdin.read()
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
