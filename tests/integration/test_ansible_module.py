"""The Ansible modules tern_vm and tern_evacuate (tools/ansible/) run by
Debian's real `ansible-playbook` (connection local, inventory `localhost,`,
tools/ansible/ansible.cfg) against the fake Tern hosts of fake_tern.py: no
emulators. Each playbook registers every task's result and writes them to a
file, which the test reads; the fakes say what was asked of them.

    cd tests/integration && /usr/bin/python3 -m pytest -q test_ansible_module.py
"""
import base64
import glob
import io
import json
import os
import re
import shutil
import subprocess
import zipfile

import pytest

from fake_tern import KEY, fakes, guest, host_info  # noqa: F401 (fakes: a fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ANSIBLE_DIR = os.path.join(ROOT, "tools", "ansible")
CHANGES = ("vm-create", "vm-destroy", "vm-pause", "vm-resume", "migrate")


def playbook_bin():
    path = shutil.which("ansible-playbook")
    if not path:
        pytest.fail("ansible-playbook is missing: apt-get install ansible-core (or run make deps)")
    return path


def play(tmp_path, tasks, check=False, keep_remote_files=False):
    """Run TASKS [(module, {args})] in one playbook; [each task's registered result]."""
    out = tmp_path / "results.json"
    lines = ["- hosts: localhost", "  connection: local", "  gather_facts: false", "  tasks:"]
    for i, (module, args) in enumerate(tasks):
        lines += [f"    - name: task {i}", f"      {module}: {json.dumps(args)}", f"      register: r{i}",
                  "      ignore_errors: true"]
    lines += ["    - name: results", "      ansible.builtin.copy:",
              f"        content: \"{{{{ [{', '.join(f'r{i}' for i in range(len(tasks)))}] | to_json }}}}\"",
              f"        dest: {out}", "      check_mode: false"]
    book = tmp_path / "book.yml"
    book.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ANSIBLE_DIR, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               HOME=str(tmp_path), ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"),
               ANSIBLE_REMOTE_TMP=str(tmp_path / "remote"), ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
               ANSIBLE_KEEP_REMOTE_FILES="1" if keep_remote_files else "0")
    r = subprocess.run([playbook_bin(), "-i", "localhost,", str(book)] + (["--check"] if check else []),
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    return json.loads(out.read_text())


def fleet(fakes, tmp_path, **specs):
    """Fakes named by SPECS' keys; the connection arguments every task takes."""
    made = fakes(*specs.values())
    conn = {"hosts": {name: f.address for name, f in zip(specs, made)}, "key": KEY,
            "port": made[0].listener.getsockname()[1]}
    return made, conn


def changes(fake):
    return [c for c in fake.commands() if c in CHANGES]


def test_tern_vm_creates_migrates_destroys_and_is_idempotent(fakes, tmp_path):
    (a, b, c), conn = fleet(fakes, tmp_path,
                            a=dict(info=host_info("10.0.0.11", 50), vms=[guest("g3", 8)],
                                   fail={"g3": "the destination refused: no memory"}),
                            b=dict(info=host_info("10.0.0.12", 100)), c=dict(info=host_info("10.0.0.13", 1000)))
    cfg = tmp_path / "ternctl"
    cfg.mkdir()
    (cfg / "key").write_text(KEY + "\n")
    (cfg / "hosts").write_text("".join(f"{n} {ip}\n" for n, ip in conn["hosts"].items()) + "key-file key\n")
    for f in ("key", "hosts"):
        (cfg / f).chmod(0o600)
    by_config = {"config": str(cfg / "hosts"), "port": conn["port"]}
    g1 = dict(conn, name="g1", image="memcheck", memory=16, args="rate=200 verify=1")
    r = play(tmp_path, [
        ("tern_vm", dict(g1, state="present", host="a")),
        ("tern_vm", dict(g1, state="present", host="b")),          # exists on a: no change
        ("tern_vm", dict(conn, name="g2", state="paused", host="b", kernel="linux", memory=32)),
        ("tern_vm", dict(conn, name="g1", state="migrated", to="c", bandwidth_mbit=100)),
        ("tern_vm", dict(by_config, name="g1", state="migrated", to="c")),
        ("tern_vm", dict(conn, name="g2", state="running")),
        ("tern_vm", dict(conn, name="g2", state="absent")),
        ("tern_vm", dict(conn, name="g2", state="absent")),
        ("tern_vm", dict(conn, name="nobody", state="migrated", to="a")),
        ("tern_vm", dict(conn, name="g3", state="migrated", to="b")),
    ], keep_remote_files=True)
    assert [(x["changed"], x.get("failed", False)) for x in r] == [
        (True, False), (False, False), (True, False), (True, False), (False, False),
        (True, False), (True, False), (False, False), (False, True), (False, True)]
    assert (r[0]["host"], r[0]["state"]) == ("a", "running")
    assert (r[1]["host"], r[1]["msg"]) == ("a", "g1 is on a (running)")
    assert (r[2]["host"], r[2]["state"]) == ("b", "paused")
    assert {k: r[3][k] for k in ("host", "address", "state", "downtime_ms", "total_ms")} == {
        "host": "c", "address": c.address, "state": "running", "downtime_ms": 4.25, "total_ms": 60}
    assert (r[4]["host"], r[4]["msg"]) == ("c", "g1 is on c already")
    assert r[5]["state"] == "running" and r[6]["state"] == r[7]["state"] == "absent"
    assert r[8]["msg"] == "no host holds nobody: nothing to migrate"
    assert r[9]["msg"] == "migrating g3 from a to b: failed: the destination refused: no memory"
    assert (r[9]["host"], r[9]["result"]) == ("a", "failed")
    assert (a.names(), b.names(), c.names()) == (["g3"], [], ["g1"])
    assert a.requests("vm-create") == [{"name": "g1", "memory": 16, "image": "memcheck",
                                        "args": "rate=200 verify=1"}]
    assert b.requests("vm-create") == [{"name": "g2", "memory": 32, "kernel": "linux", "paused": True}]
    assert a.requests("migrate") == [{"name": "g1", "host": c.address, "bandwidth_mbit": 100},
                                     {"name": "g3", "host": b.address}]
    assert changes(b) == ["vm-create", "vm-resume", "vm-destroy"]
    assert changes(c) == []

    # module_utils/ternmgmt.py is a symlink to tools/ternmgmt.py: AnsiballZ carries its content
    payloads = glob.glob(str(tmp_path / "remote" / "*" / "AnsiballZ_tern_vm.py"))
    assert payloads, "ANSIBLE_KEEP_REMOTE_FILES kept no AnsiballZ_tern_vm.py"
    with open(payloads[0]) as f:
        zipdata = re.search(r'ZIPDATA = """(.*?)"""', f.read(), re.S).group(1)
    z = zipfile.ZipFile(io.BytesIO(base64.b64decode(zipdata)))
    with open(os.path.join(ROOT, "tools", "ternmgmt.py"), "rb") as f:
        assert z.read("ansible/module_utils/ternmgmt.py") == f.read()


# a: 50 MiB free, b: 100; c holds g1 (16 MiB: needs 24) and huge (512: needs 520)
DRAIN = dict(a=dict(info=host_info("10.0.0.11", 50), vms=[guest("g3", 8)]),
             b=dict(info=host_info("10.0.0.12", 100)),
             c=dict(info=host_info("10.0.0.13", 1000), vms=[guest("huge", 512), guest("g1", 16)]))


def test_check_mode_reports_the_changes_and_makes_none(fakes, tmp_path):
    (a, b, c), conn = fleet(fakes, tmp_path, **DRAIN)
    r = play(tmp_path, [
        ("tern_vm", dict(conn, name="g4", state="present", host="a", image="memcheck", memory=16)),
        ("tern_vm", dict(conn, name="g1", state="absent")),
        ("tern_vm", dict(conn, name="g1", state="migrated", to="a")),
        ("tern_vm", dict(conn, name="g1", state="paused")),
        ("tern_vm", dict(conn, name="g3", state="present")),
        ("tern_evacuate", dict(conn, host="c")),
    ], check=True)
    assert [x["changed"] for x in r] == [True, True, True, True, False, True]
    assert [x["msg"] for x in r[:4]] == ["would create g4 on a", "would destroy g1 on c",
                                         "would migrate g1 from c to a", "would run vm-pause g1 on c"]
    assert r[5]["msg"] == "would move g1 to b; would leave huge"
    assert [(m["name"], m["to"], m["result"], m["reason"]) for m in r[5]["moved"]] == [
        ("huge", None, "skipped", "no host has 520 MiB free"), ("g1", "b", None, None)]
    assert r[5]["left"] == ["huge"]
    assert changes(a) == changes(b) == changes(c) == []
    assert (a.names(), b.names(), c.names()) == (["g3"], [], ["huge", "g1"])


def test_tern_evacuate_moves_what_fits_and_fails_listing_the_rest(fakes, tmp_path):
    (a, b, c), conn = fleet(fakes, tmp_path, **DRAIN)
    r = play(tmp_path, [
        ("tern_evacuate", dict(conn, host="c", bandwidth_mbit=200)),
        ("tern_evacuate", dict(conn, host="b", to=["a"])),
        ("tern_evacuate", dict(conn, host="b", to=["a"])),
    ])
    assert (r[0]["changed"], r[0]["failed"]) == (True, True)
    assert r[0]["msg"] == "c still holds huge (skipped: no host has 520 MiB free)"
    assert [(m["name"], m["to"], m["result"]) for m in r[0]["moved"]] == [
        ("huge", None, "skipped"), ("g1", "b", "completed")]
    assert r[0]["left"] == ["huge"]
    assert (r[1]["changed"], r[1]["msg"], r[1]["left"]) == (True, "moved g1 to a", [])
    assert (r[2]["changed"], r[2]["msg"], r[2]["moved"]) == (False, "b holds no guest", [])
    assert c.requests("migrate") == [{"name": "g1", "host": b.address, "bandwidth_mbit": 200}]
    assert (a.names(), b.names(), c.names()) == (["g3", "g1"], [], ["huge"])
