#!/usr/bin/python3
"""make demo: the whole story, end to end, on this machine.

Two Tern hosts boot in QEMU (TCG, UEFI, AMD SVM + nested paging) on a private
Linux bridge in network namespaces, with a Linux client beside them. Host A
runs a guest that writes its memory all the time (memcheck); when a guest
with its own network stack is available (netecho), the client pings it every
10 ms. Tern migrates the guest live to host B; the demo prints the migration
log (one line per round, then the summary), shows the guest running on B with
every page verified, and the ping result.
"""
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hostpair import HostPair  # noqa: E402
from machine import BUILD, missing_tools  # noqa: E402

KEY = "demo-secret-0001"
HOSTS = {"A": ("10.99.0.1", "52:54:00:00:d0:0a"), "B": ("10.99.0.2", "52:54:00:00:d0:0b")}
GUEST_IP, GUEST_MAC = "10.99.0.50", "52:54:00:00:d0:50"


def say(text=""):
    print(text, flush=True)


def step(text):
    say(f"\n=== {text}")


def show(host, name, line):
    say(f"[{name}] tern> {line}")
    out = host.cmd(line, timeout=120)
    for l in out.splitlines():
        say(f"[{name}]   {l}")
    return out


def print_migration_log(a, guest):
    """Prints A's round lines and summary as they come (they are asynchronous:
    the prompt came back when the migration started)."""
    t = a.mark()
    a.wait_output(r"^stopped:\s+.*$", 600, since=t)
    for line in a.log.text[t:].splitlines():
        if re.match(r"^\s*\d+\*?\s+\d+|^[a-z ]+:\s", line) and not line.startswith("["):
            say(f"[A]   {line}")


def main() -> int:
    if os.geteuid() != 0:
        say("error: make demo needs root (it creates network namespaces and a bridge)")
        return 1
    missing = missing_tools("qemu")
    if missing:
        say(f"error: qemu cannot run: apt-get install {' '.join(missing)} (make deps does)")
        return 1
    from netlab import Lab

    netecho = os.path.exists(os.path.join(BUILD, "guest", "netecho.elf"))
    with Lab() as lab:
        step("booting two Tern hosts in QEMU on a private bridge (network namespace "
             f"{lab.ns}), with a Linux client at {lab.client_ip}")
        # The keys are set below, on screen.
        pair = HostPair(lab, "qemu", prefix="demo-", ips=(HOSTS["A"][0], HOSTS["B"][0]),
                        macs=(HOSTS["A"][1], HOSTS["B"][1]), key=None)
        try:
            pair.start()
            hosts = {"A": pair.a, "B": pair.b}
            for name, h in hosts.items():
                say(f"host {name}: {HOSTS[name][0]}, prompt {h.boot_seconds:.1f} s after QEMU started "
                    f"(console log {h.machine.console_log})")
            a, b = hosts["A"], hosts["B"]
            show(a, "A", "version")
            show(a, "A", "cpu")
            for name, h in hosts.items():
                show(h, name, f"migrate key {KEY}")

            step("host A: a 64 MiB guest that rewrites its memory continuously and verifies every page")
            t = a.mark()
            show(a, "A", 'vm create web1 image=memcheck mem=64 args="rate=4000 verify=1"')
            a.wait_output(r"^\[web1\] memcheck: gen=\d+ verified=\d+ errors=0", 180, since=t)
            guest = "web1"
            ping = None
            if netecho:
                step(f"host A: a networked guest 'echo1' with its own MAC {GUEST_MAC} and IP {GUEST_IP}")
                show(a, "A", f'vm create echo1 image=netecho mem=8 mac={GUEST_MAC} args="ip={GUEST_IP}"')
                if not lab.wait_reachable(GUEST_IP, timeout=60):
                    say("error: the client cannot reach echo1 on host A")
                    return 1
                ping = lab.ping_monitor(GUEST_IP, interval=0.01)
                say(f"client: pinging {GUEST_IP} every 10 ms")
                guest = "echo1"
            show(a, "A", "vm list")

            step(f"live-migrating {guest} from host A to host B")
            show(a, "A", f"migrate {guest} {HOSTS['B'][0]}")
            print_migration_log(a, guest)
            if netecho:
                time.sleep(2)
                stats = ping.stop()
                step("the client's pings while the guest moved")
                say(f"sent {stats.transmitted}, answered {stats.received}, lost {len(stats.lost)}, "
                    f"longest gap between answers {stats.max_gap * 1000:.0f} ms")
                fdb = lab.fdb()
                say(f"bridge: {GUEST_MAC} is now on port "
                    f"{next((p for m, p in fdb if m == GUEST_MAC), '?')} (host B's tap)")
                step("host A migrates the memory-writing guest too")
                show(a, "A", f"migrate web1 {HOSTS['B'][0]}")
                print_migration_log(a, "web1")
            step("host B: the guest runs there; memcheck verifies every page after the move")
            tb = b.mark()
            b.wait_output(r"^\[web1\] memcheck: gen=\d+ verified=\d+ errors=\d+", 120, since=0)
            m = b.wait_output(r"^\[web1\] memcheck: gen=(\d+) verified=(\d+) errors=(\d+)", 120, since=tb)
            say(f"[B]   [web1] memcheck: gen={m.group(1)} verified={m.group(2)} errors={m.group(3)}")
            show(b, "B", "vm list")
            show(a, "A", "vm list")
            show(a, "A", "migrate history")
            ok = m.group(3) == "0"
            # Only what was measured: memcheck's verification on B and, with
            # netecho, the client's pings.
            verdict = (f"web1's memory verified on host B after the move: {m.group(2)} pages, "
                       f"{m.group(3)} errors")
            if netecho:
                verdict += (f"; echo1 answered {stats.received} of {stats.transmitted} pings "
                            f"sent every 10 ms while it moved, {len(stats.lost)} lost"
                            + (f" (icmp_seq {', '.join(map(str, stats.lost[:10]))})"
                               if stats.lost else ""))
            say("\ndemo " + ("finished: " if ok else "FAILED: ") + verdict)
            return 0 if ok else 1
        except Exception as e:  # a demo says what broke and where the logs are
            say(f"error: demo failed: {e}")
            for log in pair.logs():
                say(f"  console log: {log}")
            return 1
        finally:
            pair.close()


if __name__ == "__main__":
    sys.exit(main())
