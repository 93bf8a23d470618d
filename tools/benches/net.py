"""Tern's own networking: TCP throughput (Tern->Tern and Linux client->Tern,
iperf 2 and checked transfers), ping RTT, and the e1000's frame rate.

Two QEMU Tern hosts (TCG, e1000 on a TAP) and the Linux client share one
lab bridge (tools/netlab.py, needs root). Everything is emulated on the
same machine, so figures say how Tern's path compares with itself between
runs and builds, not what hardware would do: Tern->Tern puts two emulated
CPUs on the path, Linux->Tern one.

    iperf      lwiperf (`net iperf server`) against Debian's iperf 2, or
               Tern's lwiperf client (`net iperf client -n`)
    xfer       `net xfer` (the data checksummed at both ends)
    ping RTT   average of PINGS echo requests, each way
    frame rate 60-byte UDP frames from the client at Tern as fast as Python
               sends them, for FLOOD_S s: frames Tern's e1000 took per second
               (rx) and the ICMP port-unreachable replies it sent (tx)
"""
import os
import re
import statistics
import sys
import time

import netlab
from hostpair import boot_pair
from machine import BUILD

TITLE = "net: TCP throughput, ping RTT, e1000 frame rate (QEMU TCG)"
IP_A, IP_B, CLIENT = "10.99.0.1", "10.99.0.2", "10.99.0.100"
SIZE = 64 << 20
PINGS = 20
FLOOD_S = 3

SENDER = r"""
import os, socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=60)
blk, left = os.urandom(1 << 20), n
while left:
    b = blk[:left]; s.sendall(b); left -= len(b)
s.shutdown(socket.SHUT_WR); s.recv(1)
"""

FLOOD = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end, n, msg = time.time() + float(sys.argv[2]), 0, b"\0" * 18
while time.time() < end:
    for _ in range(100):
        try:
            s.sendto(msg, (sys.argv[1], 9)); n += 1
        except OSError:
            pass
print(n)
"""


def line(c, pattern, since, timeout=300):
    return c.wait_output(pattern + r"[^\n]*\n", timeout=timeout, since=since).group(0)


def mbits(text):
    return float(re.search(r"([\d.]+) Mbit/s", text).group(1))


def counters(c):
    out = c.cmd("net show")
    rx = re.search(r"^rx: +(\d+) packets", out, re.M)
    tx = re.search(r"^tx: +(\d+) packets", out, re.M)
    return int(rx.group(1)), int(tx.group(1))


def tern_ping_avg(c, ip):
    mark = c.mark()
    c.cmd(f"net ping {ip} {PINGS} 50")
    m = re.search(r"rtt min/avg/max ([\d.]+)/([\d.]+)/([\d.]+) ms",
                  line(c, rf"--- {re.escape(ip)}: ", mark, 60))
    return float(m.group(2)) if m else None


def run():
    rows, data = [], {}
    with netlab.Lab(workdir=os.path.join(BUILD, "bench", "net-lab")) as lab:
        with boot_pair(lab, "qemu", prefix="bench-net-", ips=(IP_A, IP_B),
                       macs=("52:54:00:00:02:0a", "52:54:00:00:02:0b"), key=None) as pair:
            a, b = pair.a, pair.b
            for ip in (IP_A, IP_B):
                if not lab.wait_reachable(ip, timeout=30):
                    raise RuntimeError(f"{ip} does not answer pings")

            # Linux client -> Tern A: iperf 2 against lwiperf, then checked
            a.cmd("net iperf server")
            mark = a.mark()
            cp = lab.client(["iperf", "-c", IP_A, "-n", "64M", "-f", "m"], timeout=300)
            if cp.returncode:
                raise RuntimeError(f"iperf: {cp.stderr.strip()}")
            v = mbits(line(a, r"iperf: server done: ", mark))
            data["iperf_linux_to_tern_mbit_s"] = v
            rows.append(["TCP Linux client -> Tern (iperf 2, 64 MiB)", f"{v:.1f} Mbit/s"])
            a.cmd("net xfer listen")
            mark = a.mark()
            lab.client([sys.executable, "-c", SENDER, IP_A, "5002", str(SIZE)], timeout=300)
            v = mbits(line(a, r"xfer: received ", mark))
            data["xfer_linux_to_tern_mbit_s"] = v
            rows.append(["TCP Linux client -> Tern (net xfer, checked)", f"{v:.1f} Mbit/s"])

            # Tern A -> Tern B
            b.cmd("net iperf server")
            b.cmd("net xfer listen")
            rx0, tx0 = counters(a)
            mark = a.mark()
            t0 = time.monotonic()
            a.cmd(f"net iperf client {IP_B} -n 64M")
            v = mbits(line(a, r"iperf: client done: ", mark))
            secs = time.monotonic() - t0
            rx1, tx1 = counters(a)
            data["iperf_tern_to_tern_mbit_s"] = v
            rows.append(["TCP Tern -> Tern (lwiperf, 64 MiB)", f"{v:.1f} Mbit/s"])
            data["tern_to_tern_frames_per_s"] = {"tx": round((tx1 - tx0) / secs),
                                                 "rx_acks": round((rx1 - rx0) / secs)}
            mark = a.mark()
            a.cmd(f"net xfer send {IP_B} 64M")
            v = mbits(line(a, r"xfer: sent ", mark))
            data["xfer_tern_to_tern_mbit_s"] = v
            rows.append(["TCP Tern -> Tern (net xfer, checked)", f"{v:.1f} Mbit/s"])

            # ping RTT
            cp = lab.client(["ping", "-n", "-q", "-c", str(PINGS), "-i", "0.05", IP_A])
            m = re.search(r"= [\d.]+/([\d.]+)/", cp.stdout)
            rtt = {"client_to_tern_ms": float(m.group(1)) if m else None,
                   "tern_to_client_ms": tern_ping_avg(a, CLIENT),
                   "tern_to_tern_ms": tern_ping_avg(a, IP_B)}
            data["ping_rtt_avg"] = rtt
            for k, label in (("client_to_tern_ms", "ping RTT Linux client -> Tern"),
                             ("tern_to_client_ms", "ping RTT Tern -> Linux client"),
                             ("tern_to_tern_ms", "ping RTT Tern -> Tern")):
                rows.append([label, f"{rtt[k]:.3f} ms" if rtt[k] is not None else "n/a"])

            # e1000 frame rate: small frames at Tern A
            rx0, tx0 = counters(a)
            t0 = time.monotonic()
            cp = lab.client([sys.executable, "-c", FLOOD, IP_A, str(FLOOD_S)], timeout=60)
            time.sleep(0.5)  # what was queued in the TAP drains
            secs = time.monotonic() - t0
            rx1, tx1 = counters(a)
            sent = int(cp.stdout.strip() or 0)
            fr = {"client_sent_per_s": round(sent / FLOOD_S), "rx_per_s": round((rx1 - rx0) / secs),
                  "tx_per_s": round((tx1 - tx0) / secs), "seconds": round(secs, 2)}
            data["e1000_small_frames"] = fr
            rows.append(["e1000 rx, 60-byte frames (client flood)",
                         f"{fr['rx_per_s']} frames/s (client sent {fr['client_sent_per_s']}/s)"])
            rows.append(["e1000 tx, ICMP replies to the flood", f"{fr['tx_per_s']} frames/s"])
            rows.append(["e1000 tx, Tern -> Tern bulk TCP",
                         f"{data['tern_to_tern_frames_per_s']['tx']} frames/s"])
            data["note"] = ("QEMU TCG on one machine; compare within a run. "
                            "Tern->Tern puts two emulated CPUs on the path.")
    return ["what", "value"], rows, data
