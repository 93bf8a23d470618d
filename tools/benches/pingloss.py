"""pingloss: pings lost across consecutive live migrations (issue 12: none).

Two QEMU Tern hosts (TCG) and the Linux client on one lab bridge. The
client pings the guest every 10 ms while it moves A→B→A…: netecho (8 MiB)
NETECHO_MOVES times, then the Debian Linux guest (256 MiB, its shell idle)
LINUX_MOVES times, each move with Tern's defaults (TLS, 50 ms target).
For each move, the requests sent from its start until 1 s after its end
that were never answered (a request's send time is estimated from its
answered neighbours); the table sums them per guest and gives the most any
one move lost, the downtimes, and the longest silence between replies.

Frames for the guest that arrive while it is paused for the final copy
travel in its virtio-net state and are answered on the destination
(docs/migration.md, "Pings lost during a migration"), so a ping sent in
the downtime comes back late instead of not at all.
"""
import os
import statistics
import time

import netlab
from hostpair import boot_pair
from machine import BUILD

TITLE = "pingloss: pings lost at 10 ms across consecutive live migrations (QEMU TCG)"
IP = {"a": "10.99.0.1", "b": "10.99.0.2"}
KEY = "bench-pingloss-key"
NETECHO_MOVES = 20
LINUX_MOVES = 10
INTERVAL_S = 0.01
GUESTS = (  # name, vm create options, IP, MAC, moves
    ("e", "image=netecho mem=8 args=\"ip=10.99.0.60\"", "10.99.0.60", "52:54:00:aa:06:60",
     NETECHO_MOVES),
    ("lx", "kernel=linux initrd=linux-initrd mem=256 args=\"quiet ip=10.99.0.61/24\"",
     "10.99.0.61", "52:54:00:aa:06:61", LINUX_MOVES),
)


def create(c, name, opts, mac):
    if name == "lx":
        c.linux_create(name, f"{opts} mac={mac}")
        return
    t = c.mark()
    out = c.cmd(f"vm create {name} {opts} mac={mac}")
    if "created" not in out:
        raise RuntimeError(f"vm create {name}: {out.strip()}")
    c.wait_output(rf"^\[{name}\] netecho: up ", 60, since=t)


def move(src, dst_ip, name):
    """One migration to its result; (downtime ms, host start, host end)."""
    t = src.mark()
    t0 = time.time()
    out = src.cmd(f"migrate {name} {dst_ip}")
    if "started" not in out:
        raise RuntimeError(f"migrate {name}: {out.strip()}")
    m = src.wait_output(r"^result: +(.*)$", 300, since=t)
    src.wait_output(r"^stopped: +.*$", 30, since=t)
    t1 = time.time()
    if not m.group(1).startswith("completed"):
        raise RuntimeError(f"migrate {name}: {src.log.text[t:]}")
    d = src.wait_output(r"^downtime: +([\d.]+) ms", 10, since=t)
    return float(d.group(1)), t0, t1


def run():
    rows, data = [], {}
    with netlab.Lab(workdir=os.path.join(BUILD, "bench", "pingloss-lab")) as lab:
        with boot_pair(lab, "qemu", prefix="bench-pingloss-", ips=(IP["a"], IP["b"]),
                       macs=("52:54:00:00:06:0a", "52:54:00:00:06:0b"), key=KEY,
                       mem_mib=1024) as pair:
            hosts = {"a": pair.a, "b": pair.b}
            for name, opts, ip, mac, moves in GUESTS:
                create(pair.a, name, opts, mac)
                if not lab.wait_reachable(ip, timeout=60):
                    raise RuntimeError(f"{name} ({ip}) does not answer pings")
                pinger = lab.ping_monitor(ip, INTERVAL_S)
                time.sleep(1)
                here, runs = "a", []
                try:
                    for _ in range(moves):
                        there = "b" if here == "a" else "a"
                        runs.append(move(hosts[here], IP[there], name))
                        here = there
                        time.sleep(1)
                finally:
                    st = pinger.stop()
                lost = [len(pinger.lost_sent_between(t0, t1 + 1)) for _, t0, t1 in runs]
                downs = [d for d, _, _ in runs]
                hosts[here].cmd(f"vm destroy {name}")
                data[name] = {"moves": moves, "pings_sent": st.transmitted,
                              "pings_lost": len(st.lost), "lost_per_move": lost,
                              "downtime_ms": downs, "max_gap_s": st.max_gap}
                label = "netecho (8 MiB)" if name == "e" else "Debian Linux (256 MiB, idle)"
                rows.append([label, moves, st.transmitted, sum(lost),
                             sum(1 for x in lost if x), max(lost),
                             f"{statistics.median(downs):.1f} / {max(downs):.1f}",
                             f"{st.max_gap * 1000:.0f}"])
    header = ["guest", "moves", "pings sent", "lost in moves", "moves with loss",
              "most in one", "downtime ms median / max", "longest silence ms"]
    return header, rows, data
