"""A fleet of three QEMU Terns (A, B, C) on one lab bridge, driven only from
the lab's Linux client through the management API (docs/fleet.md): `ternctl`
creates, lists, migrates and destroys guests on all three while `ternctl
events` shows the migration's rounds as they happen; `ternctl evacuate a`
drains A of a memcheck, a netecho (pinged every 10 ms throughout) and a
Linux guest onto B and C, each verified where it lands; Debian's
`ansible-playbook` runs the fleet playbook twice (the second run changes
nothing); and Debian's Prometheus, scraping the three hosts every second
from the start, saw every target up, the migrations counted by direction and
a dirty rate while a guest was copied.

    cd tests/integration && /usr/bin/python3 -m pytest -v test_fleet.py
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from conftest import LOG_ROOT, ROOT
from hostpair import boot_pair
from prom import PROMETHEUS, Prometheus

TERNCTL = os.path.join(ROOT, "tools", "ternctl")
ANSIBLE_DIR = os.path.join(ROOT, "tools", "ansible")
KEY = "fleet-mgmt-key-0123456789"
NAMES = ("a", "b", "c")
LOGDIR = os.path.join(LOG_ROOT, "test_fleet")
NETECHO_IP, NETECHO_MAC = "10.99.0.21", "52:54:00:aa:14:21"
LINUX_IP, LINUX_MAC = "10.99.0.31", "52:54:00:aa:14:31"


@pytest.fixture(scope="module")
def fleet():
    from netlab import Lab
    os.makedirs(LOGDIR, exist_ok=True)
    with Lab() as lab, boot_pair(lab, "qemu", logdir=LOGDIR, names=NAMES, mem_mib=512) as p:
        for name in NAMES:
            out = p.hosts[name].cmd(f"mgmt key {KEY}")
            assert "api: listening on TCP port 7100" in out, out
        assert os.access(PROMETHEUS, os.X_OK), f"{PROMETHEUS} missing: `make` fetches it (mk/fleet.mk)"
        prom = Prometheus(lab, os.path.join(LOGDIR, "prometheus"), [p.ip[n] for n in NAMES])
        try:
            yield p, prom
        finally:
            prom.close()


@pytest.fixture(scope="module")
def config(tmp_path_factory, fleet):
    p, _ = fleet
    d = tmp_path_factory.mktemp("ternctl")
    key = d / "key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    hosts = d / "hosts"
    hosts.write_text("".join(f"{n} {p.ip[n]}\n" for n in NAMES) + f"key-file {key}\n")
    hosts.chmod(0o600)
    return str(hosts)


def ternctl(p, config, *args, timeout=120):
    r = p.lab.client(["env", f"TERNCTL_CONFIG={config}", sys.executable, TERNCTL, *args],
                     timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def where(p, config):
    """{guest: (host, state)} over the fleet, as `ternctl vm list` says."""
    rc, out, err = ternctl(p, config, "-o", "json", "vm", "list")
    assert rc == 0, (out, err)
    return {v["name"]: (v["host"], v["state"]) for v in json.loads(out)}


class Follower:
    """`ternctl events -o json` in the client namespace; each line kept with
    the client's time of arrival."""

    def __init__(self, p, config, seconds):
        self.proc = p.lab.client_popen(["env", f"TERNCTL_CONFIG={config}", sys.executable, TERNCTL,
                                        "-o", "json", "events", "--timeout", str(seconds)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.got = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            self.got.append((time.monotonic(), json.loads(line)))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.t.join(10)
        return self.got


def test_ternctl_creates_migrates_and_destroys_across_three_hosts(fleet, config):
    p, _ = fleet
    # m1 is the one that moves: 48 MiB at 40 Mbit/s is ~10 s of round 0 and
    # ~7 s of rounds after the first harvest, seconds of scrapes for its dirty rate.
    for host, name, mib in (("a", "m1", 48), ("b", "m2", 16), ("c", "m3", 16)):
        rc, out, err = ternctl(p, config, "-H", host, "vm", "create", name, "image=memcheck", f"mem={mib}",
                               "args=rate=500 verify=1")
        assert rc == 0, (out, err)
    assert where(p, config) == {"m1": ("a", "running"), "m2": ("b", "running"), "m3": ("c", "running")}
    rc, out, err = ternctl(p, config, "-H", "c", "vm", "create", "m3", "image=memcheck", "mem=16")
    assert rc == 1 and "exists" in err, (out, err)  # the console's own words, and nothing changed

    follow = Follower(p, config, 120)
    time.sleep(2)  # connected and authenticated to all three
    tb = p.b.mark()
    rc, out, err = ternctl(p, config, "-o", "json", "migrate", "m1", "--to", "b", "--bandwidth", "40",
                           timeout=180)
    assert rc == 0, (out, err)
    res = json.loads(out)
    assert res["result"] == "completed" and res["from"] == "a" and res["to"] == "b", res
    gen, errors = p.b.memcheck_verified("m1", tb, 60)
    assert errors == 0
    time.sleep(1)
    events = follow.stop()
    mine = [(t, e) for t, e in events if e["data"].get("name") == "m1"]
    rounds = [(t, e) for t, e in mine if e["event"] == "MIGRATION_ROUND" and e["host"] == "a"]
    ends = [(t, e) for t, e in mine if e["event"] == "MIGRATION_END"]
    assert rounds and ends, events
    assert {e["host"]: e["data"]["result"] for _, e in ends} == {"a": "completed", "b": "completed"}
    end_a = next(t for t, e in ends if e["host"] == "a")
    started = [t for t, e in mine if e["event"] == "MIGRATION_STARTED"]
    # As they happen: the start reached the client while round 0 copied the
    # guest (48 MiB at 40 Mbit/s: about 10 s), each round's line when the
    # round ended, before the end's.
    timeline = [(round(t - end_a, 2), e["event"]) for t, e in mine]
    assert started and end_a - started[0] > 2.0, timeline
    assert end_a - rounds[0][0] > 0.05 and all(t < end_a for t, _ in rounds), timeline
    assert [e["data"]["round"] for _, e in rounds] == list(range(len(rounds)))
    assert rounds[-1][1]["data"]["final"] is True
    states = [(e["host"], e["data"]["state"]) for _, e in mine if e["event"] == "VM_STATE"]
    assert ("a", "gone") in states and ("b", "running") in states, states

    rc, out, err = ternctl(p, config, "vm", "destroy", "m3")
    assert rc == 0, (out, err)
    assert where(p, config) == {"m1": ("b", "running"), "m2": ("b", "running")}
    for name in ("m1", "m2"):
        assert ternctl(p, config, "vm", "destroy", name)[0] == 0
    assert where(p, config) == {}


def test_evacuate_moves_every_guest_off_a_and_pings_go_on(fleet, config):
    p, _ = fleet
    a, lab = p.a, p.lab
    t = a.mark()
    for args in (["e1", "image=memcheck", "mem=24", "args=rate=500 verify=1"],
                 ["ne", "image=netecho", "mem=16", f"mac={NETECHO_MAC}", f"args=ip={NETECHO_IP}"],
                 ["lx", "kernel=linux", "initrd=linux-initrd", "mem=128", f"mac={LINUX_MAC}",
                  f"args=quiet ip={LINUX_IP}/24"]):
        rc, out, err = ternctl(p, config, "-H", "a", "vm", "create", *args)
        assert rc == 0, (out, err)
    a.wait_output(r"\[lx\] tern-linux: ready kernel=\S+ ip=", 300, since=t)
    assert lab.wait_reachable(NETECHO_IP, timeout=30) and lab.wait_reachable(LINUX_IP, timeout=60)
    marks = {n: p.hosts[n].mark() for n in NAMES}
    mon = lab.ping_monitor(NETECHO_IP, interval=0.01)
    try:
        time.sleep(1)
        rc, out, err = ternctl(p, config, "-o", "json", "evacuate", "a", "--bandwidth", "200",
                               timeout=600)
        time.sleep(1.5)
    finally:
        st = mon.stop()
    assert rc == 0, (out, err)
    report = json.loads(out)
    rows = {r["name"]: r for r in report["moved"]}
    assert report["left"] == [], report
    assert set(rows) == {"e1", "ne", "lx"}, report
    assert all(r["result"] == "completed" for r in rows.values()), report
    now = where(p, config)
    assert {n: h for n, (h, _) in now.items()} == {n: r["to"] for n, r in rows.items()}, (now, report)
    assert all(s == "running" for _, s in now.values()), now
    assert {r["to"] for r in rows.values()} == {"b", "c"}, report  # both take a share
    assert not a.vm_list()

    # Each verified where it landed.
    dst = {n: p.hosts[r["to"]] for n, r in rows.items()}
    gen, errors = dst["e1"].memcheck_verified("e1", marks[rows["e1"]["to"]], 60)
    assert errors == 0
    assert lab.ping(LINUX_IP, count=3, timeout=5), "the Linux guest does not answer on its new host"
    print(f"\nnetecho pings during the evacuation: {st.received}/{st.transmitted}, lost {len(st.lost)}, "
          f"longest gap {st.max_gap * 1000:.0f} ms; ne's downtime {rows['ne']['downtime_ms']} ms")
    assert st.last_reply is not None and st.last_reply > time.time() - 3, "pings stopped"
    # A 10 ms ping lost per 10 ms the guest could not answer, and a few in flight.
    assert len(st.lost) <= float(rows["ne"]["downtime_ms"] or 0) / 10 + 5, (st.lost, rows["ne"])

    for n, (h, _) in now.items():
        assert ternctl(p, config, "vm", "destroy", n)[0] == 0


def test_ansible_playbook_drives_the_fleet_and_is_idempotent(fleet, config, tmp_path):
    p, _ = fleet
    playbook_bin = shutil.which("ansible-playbook")
    assert playbook_bin, "ansible-playbook is missing: apt-get install ansible-core (or run make deps)"
    book = tmp_path / "fleet.yml"
    book.write_text(f"""
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    fleet: {{a: {p.ip['a']}, b: {p.ip['b']}, c: {p.ip['c']}}}
  tasks:
    - name: g1 on a
      tern_vm: {{hosts: "{{{{ fleet }}}}", key: {KEY}, name: g1, state: present, host: a, image: memcheck, memory: 16, args: "rate=200 verify=1"}}
    - name: g2 on b
      tern_vm: {{hosts: "{{{{ fleet }}}}", key: {KEY}, name: g2, state: present, host: b, image: memcheck, memory: 16, args: "rate=200 verify=1"}}
    - name: g1 moves to c
      tern_vm: {{hosts: "{{{{ fleet }}}}", key: {KEY}, name: g1, state: migrated, to: c, bandwidth_mbit: 100}}
    - name: b is drained
      tern_evacuate: {{hosts: "{{{{ fleet }}}}", key: {KEY}, host: b, bandwidth_mbit: 100}}
""")
    env = {"ANSIBLE_CONFIG": os.path.join(ANSIBLE_DIR, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "HOME": str(tmp_path)}

    def play():
        r = p.lab.client(["env", *[f"{k}={v}" for k, v in env.items()], playbook_bin, "-i", "localhost,",
                          str(book)], timeout=600)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        m = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", r.stdout)
        assert m, r.stdout[-3000:]
        return int(m.group(2)), r.stdout

    changed, out = play()
    assert changed == 4, out[-3000:]
    now = where(p, config)
    assert now["g1"] == ("c", "running") and now["g2"][0] in ("a", "c"), now
    assert not p.b.vm_list()
    changed, out = play()
    assert changed == 0, out[-3000:]
    assert where(p, config) == now
    for n in now:
        assert ternctl(p, config, "vm", "destroy", n)[0] == 0


def test_prometheus_saw_the_fleet(fleet):
    """Runs last: Prometheus has scraped the three hosts since the fleet
    booted, through every migration above."""
    p, prom = fleet
    up = prom.wait("up", lambda r: len(r) == 3 and all(v == 1 for v in r.values()), timeout=30)
    assert sorted(dict(k)["instance"] for k in up) == sorted(f"{p.ip[n]}:80" for n in NAMES)
    out = prom.query('tern_migrations_total{result="completed"}')
    by = {(dict(k)["instance"].split(":")[0], dict(k)["direction"]): v for k, v in out.items()}
    # m1 a->b; evacuation e1, ne, lx a->b|c; g1 a->c; g2 b->a|c.
    assert by[(p.ip["a"], "out")] >= 5 and by[(p.ip["b"], "out")] >= 1, by
    assert by[(p.ip["b"], "in")] + by[(p.ip["c"], "in")] >= 5, by
    # A dirty rate appeared on A while m1 was copied to B (it rewrites 500
    # pages a second; its counter moves at each harvest, from the end of
    # round 0 on, until it leaves A).
    rate = prom.query(f'max_over_time(rate(tern_guest_dirty_pages_total{{guest="m1",'
                      f'instance="{p.ip["a"]}:80"}}[10s])[30m:1s])')
    print(f"\nm1's highest dirty rate on A seen by Prometheus: {max(rate.values()) if rate else None} pages/s")
    assert rate and max(rate.values()) > 50, rate
    # A held three guests before the evacuation, and none at the end.
    sel = f'tern_guests{{instance="{p.ip["a"]}:80",state="running"}}'
    most = prom.query(f"max_over_time({sel}[30m])")
    assert list(most.values()) == [3.0], most
    prom.wait(sel, lambda r: list(r.values()) == [0.0], timeout=15)  # the next scrapes
