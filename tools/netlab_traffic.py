"""netlab_traffic: packet capture (tcpdump), a ping monitor and an HTTP
download loop, run in a lab namespace."""
from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
import time
from typing import Callable, List, Optional

from netlab_base import *  # noqa: F401,F403
from netlab_base import _run  # noqa: F401
from netlab_frames import *  # noqa: F401,F403

# --------------------------------------------------------------------------
# capture and ping monitor
# --------------------------------------------------------------------------

class Capture:
    """tcpdump writing a pcap in a namespace; frames() parses what it has so far.

    Started by Lab.capture(); tcpdump runs with -n -e -U --immediate-mode so
    each frame reaches the file at once."""

    def __init__(self, lab: "Lab", ns: str, ifname: str, bpf: str, path: str):
        self.lab, self.ns, self.ifname, self.bpf, self.path = lab, ns, ifname, bpf, path
        self.errpath = path + ".stderr"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 10.0) -> "Capture":
        cmd = ["tcpdump", "-i", self.ifname, "-n", "-e", "-U", "--immediate-mode",
               "-Z", "root", "-s", "512", "-w", self.path] + (self.bpf.split() if self.bpf else [])
        with open(self.errpath, "w") as err:
            self.proc = self.lab.popen(cmd, ns=self.ns, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.errpath) as f:
                if "listening on" in f.read():
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        with open(self.errpath) as f:
            msg = f.read().strip()
        self.stop()
        raise LabError(f"tcpdump did not start on {self.ns}/{self.ifname}: {msg}")

    def frames(self) -> List[Frame]:
        return parse_pcap(self.path)

    def wait_for(self, pred: Callable[[Frame], bool], count: int = 1,
                 timeout: float = 10.0) -> List[Frame]:
        """Wait until at least `count` frames match `pred`; return the matches
        (possibly fewer than `count` after the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            got = [f for f in self.frames() if pred(f)]
            if len(got) >= count or time.monotonic() >= deadline:
                return got
            time.sleep(0.05)

    def stop(self) -> List[Frame]:
        """Stop tcpdump (SIGINT flushes the file) and return all frames."""
        p = self.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return self.frames()

    def text(self) -> str:
        """The capture as tcpdump prints it (-e -n -v), for logs."""
        cp = _run(["tcpdump", "-r", self.path, "-e", "-n", "-v"], check=False)
        return cp.stdout


@dataclasses.dataclass
class PingStats:
    transmitted: int
    received: int
    lost: List[int]              # icmp_seq numbers with no reply
    max_gap: float               # longest time between two consecutive replies, s
    first_reply: Optional[float]
    last_reply: Optional[float]

    @property
    def loss(self) -> float:
        return 1.0 - self.received / self.transmitted if self.transmitted else 1.0


class PingMonitor:
    """`ping -D -O -i INTERVAL` running in the client namespace, into a file.

    stop() ends it and returns PingStats; stats() parses without stopping."""

    _REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)")
    _SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")

    def __init__(self, lab: "Lab", ip: str, interval: float, path: str, ns: str):
        self.path, self.interval = path, interval
        with open(path, "w") as out:
            self.proc = lab.popen(["ping", "-n", "-D", "-O", "-W", "1", "-i", str(interval),
                                   ip], ns=ns, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> PingStats:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.stats()

    def _answers(self) -> List[tuple]:
        """[(icmp_seq, host time sent, round trip s), ...] of the answered
        requests: the send time is the reply's minus its round trip."""
        out = []
        with open(self.path) as f:
            for line in f:
                m = re.match(r"\[([\d.]+)\] \d+ bytes .*icmp_seq=(\d+) .*time=([\d.]+) ms", line)
                if m:
                    rtt = float(m.group(3)) / 1000
                    out.append((int(m.group(2)), float(m.group(1)) - rtt, rtt))
        return out

    def round_trips(self) -> List[tuple]:
        """[(host time sent, round trip s), ...] of the answered requests."""
        return [(sent, rtt) for _, sent, rtt in self._answers()]

    def _answered_sent(self) -> dict:
        """{icmp_seq: host time it was sent} of the answered requests."""
        return {seq: sent for seq, sent, _ in self._answers()}

    def lost_sent_between(self, t0: float, t1: float) -> List[int]:
        """The requests sent between host times t0 and t1 (time.time()) that
        were never answered. A lost request's send time is its last answered
        predecessor's plus the interval per sequence number."""
        sent = self._answered_sent()
        seqs = sorted(sent)
        return [k for a, b in zip(seqs, seqs[1:]) for k in range(a + 1, b)
                if t0 <= sent[a] + (k - a) * self.interval < t1]

    def sent_between(self, t0: float, t1: float) -> int:
        """How many requests were sent between host times t0 and t1,
        answered or not (lost ones timed as in lost_sent_between)."""
        return (sum(1 for t in self._answered_sent().values() if t0 <= t < t1)
                + len(self.lost_sent_between(t0, t1)))

    def stats(self) -> PingStats:
        with open(self.path) as f:
            text = f.read()
        replies = {}
        max_seq = 0
        for line in text.splitlines():
            m = self._REPLY.match(line)
            if m:
                seq = int(m.group(2))
                replies.setdefault(seq, float(m.group(1)))
            m2 = re.search(r"icmp_seq=(\d+)", line)
            if m2:
                max_seq = max(max_seq, int(m2.group(1)))
        m = self._SUMMARY.search(text)
        transmitted = int(m.group(1)) if m else max_seq
        times = sorted(replies.values())
        gaps = [b - a for a, b in zip(times, times[1:])]
        lost = [s for s in range(1, transmitted + 1) if s not in replies]
        return PingStats(transmitted=transmitted, received=len(replies), lost=lost,
                         max_gap=max(gaps) if gaps else 0.0,
                         first_reply=times[0] if times else None,
                         last_reply=times[-1] if times else None)




# --------------------------------------------------------------------------
# HTTP download loop
# --------------------------------------------------------------------------

# Runs in the client namespace: downloads URL again and again, GAP seconds
# apart, one line per download ("ok SECONDS" or "error SECONDS WHY"), until
# killed.
_HTTP_LOOP = r"""
import hashlib, sys, time, urllib.request
url, want, gap = sys.argv[1], sys.argv[2], float(sys.argv[3])
while True:
    time.sleep(gap)
    t0 = time.monotonic()
    try:
        d = urllib.request.urlopen(url, timeout=60).read()
        got = hashlib.md5(d).hexdigest()
        r = "ok" if got == want else f"error {len(d)} bytes, md5 {got}"
    except Exception as e:
        r = f"error {e!r}"
    dt = time.monotonic() - t0
    print(r.split()[0], f"{dt:.3f}", *r.split()[1:], flush=True)
"""


@dataclasses.dataclass
class HttpLoopStats:
    done: int          # downloads that completed with the right content
    errors: List[str]  # every failed or wrong download
    longest: float     # the longest download, s


class HttpLoop:
    """The client downloading `url` (whose md5 is `md5`) over and over, `gap`
    seconds apart (0: back to back), into a log file: a web server's clients
    across a migration. stop() ends it (a download cut by the stop is not
    counted) and returns HttpLoopStats."""

    def __init__(self, lab: "Lab", url: str, md5: str, path: str, ns: str, gap: float = 0.0):
        self.path = path
        with open(path, "w") as out:
            self.proc = lab.popen([sys.executable, "-c", _HTTP_LOOP, url, md5, str(gap)], ns=ns,
                                  stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> HttpLoopStats:
        self.proc.kill()
        self.proc.wait()
        return self.stats()

    def stats(self) -> HttpLoopStats:
        done, errors, longest = 0, [], 0.0
        with open(self.path) as f:
            for line in f:
                word, secs, *rest = line.split(maxsplit=2) + [""]
                if word == "ok":
                    done += 1
                elif word == "error":
                    errors.append(line.strip())
                else:
                    continue
                longest = max(longest, float(secs))
        return HttpLoopStats(done, errors, longest)
