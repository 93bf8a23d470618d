"""tools/ternctl (and tools/ternmgmt.py, its protocol client) against fake Tern
management servers (fake_tern.py; no emulators): the read-only commands, the
key's proofs and every way a host can answer wrongly; the commands that change
state (vm create/destroy/pause/resume), migrate followed to its end, events,
and evacuate's placement by free memory, its Busy retries and its failures.

    cd tests/integration && /usr/bin/python3 -m pytest -q test_ternctl_client.py
"""
import importlib.util
import json
import os
import secrets
import sys
from importlib.machinery import SourceFileLoader

import pytest

from fake_tern import KEY, MIB, fakes, guest, host_info, spec_proof  # noqa: F401 (fakes: a fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _load_ternctl():
    """tools/ternctl as a module (its file has no .py); it imports tools/ternmgmt.py,
    reachable as ternctl.ternmgmt."""
    path = os.path.join(ROOT, "tools", "ternctl")
    loader = SourceFileLoader("ternctl", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("ternctl", loader))
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True   # no tools/__pycache__ litter
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


ternctl = _load_ternctl()
ternmgmt = ternctl.ternmgmt

HOST_A = {"ip": "10.99.0.1", "backend": "SVM",
          "memory": {"total": 2048 * MIB, "free": 1536 * MIB}, "guests": 2, "migrations_active": 0}
HOST_B = {"ip": "10.99.0.2", "backend": "VMX",
          "memory": {"total": 4096 * MIB, "free": 4000 * MIB}, "guests": 1, "migrations_active": 1}
# "dirty" is the guest's dirty-logging mode, as the console's `vm list` shows it
VMS_A = [
    {"name": "web", "state": "running", "memory": 64 * MIB, "exits": 12345, "dirty": "pml",
     "mac": "52:54:00:12:34:01", "ip": "10.99.0.50", "migrating": False},
    {"name": "db", "state": "paused", "memory": 256 * MIB, "exits": 9, "dirty": "off",
     "mac": "52:54:00:12:34:02", "ip": None, "migrating": False},
]
VMS_B = [
    {"name": "cache", "state": "running", "memory": 32 * MIB, "exits": 5, "dirty": "ad",
     "mac": "52:54:00:12:34:03", "ip": "10.99.0.51", "migrating": True},
]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No real configuration or key of the user running the tests leaks in."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TERNCTL_CONFIG", raising=False)
    monkeypatch.delenv("TERNCTL_KEY", raising=False)
    return tmp_path


def write_private(path, text, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def config_for(tmp_path, monkeypatch, hosts, key=KEY, mode=0o600, key_mode=0o600):
    """A hosts file naming HOSTS {name: address} and a key file beside it; $TERNCTL_CONFIG set."""
    keyfile = write_private(tmp_path / "cfg" / "key", key + "\n", key_mode)
    lines = ["# name   address", ""] + [f"{n}  {a}   # lab host" for n, a in hosts.items()]
    cfg = write_private(tmp_path / "cfg" / "hosts", "\n".join(lines + [f"key-file {keyfile}", ""]), mode)
    monkeypatch.setenv("TERNCTL_CONFIG", str(cfg))
    return cfg, keyfile


def two_hosts(fakes, env, monkeypatch, spec_b=None):
    a, b = fakes(dict(info=HOST_A, vms=VMS_A), spec_b or dict(info=HOST_B, vms=VMS_B))
    config_for(env, monkeypatch, {"a": a.address, "b": b.address})
    return a, b, ["--port", str(a.listener.getsockname()[1])]


def run(capsys, argv):
    rc = ternctl.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def rows(out):
    return [line.split() for line in out.strip().splitlines()]


def test_proofs_follow_the_spec():
    ns, nc, h = secrets.token_bytes(32), secrets.token_bytes(32), secrets.token_bytes(32)
    client, server = ternctl.proofs(KEY.encode(), ns, nc, h)
    assert client == spec_proof(KEY, b"client", ns, nc, h)
    assert server == spec_proof(KEY, b"server", ns, nc, h)
    assert client != server


def test_status_of_two_hosts_as_a_table(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["status"])
    assert (rc, err) == (0, "")
    assert rows(out) == [
        ["HOST", "ADDRESS", "BACKEND", "MEM_FREE(MiB)", "MEM_TOTAL(MiB)", "GUESTS", "MIGRATING"],
        ["a", "10.99.0.1", "SVM", "1536", "2048", "2", "0"],
        ["b", "10.99.0.2", "VMX", "4000", "4096", "1", "1"],
    ]


def test_status_as_json_has_every_host_and_field(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["-o", "json", "status"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == [{"host": "a", **HOST_A}, {"host": "b", **HOST_B}]


def test_vm_list_of_two_hosts_as_a_table(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["vm", "list"])
    assert (rc, err) == (0, "")
    assert rows(out) == [
        ["HOST", "NAME", "STATE", "MEM(MiB)", "EXITS", "DIRTY", "MAC", "IP"],
        ["a", "web", "running", "64", "12345", "pml", "52:54:00:12:34:01", "10.99.0.50"],
        ["a", "db", "paused", "256", "9", "off", "52:54:00:12:34:02", "-"],
        ["b", "cache", "running", "32", "5", "ad", "52:54:00:12:34:03", "10.99.0.51"],
    ]


def test_vm_list_as_json_adds_the_host(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["-o", "json", "vm", "list"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == [{"host": "a", **v} for v in VMS_A] + [{"host": "b", **v} for v in VMS_B]


def test_wrong_key_is_reported_and_the_other_host_still_prints(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch, dict(key="another-key-entirely", info=HOST_B))
    rc, out, err = run(capsys, port + ["status"])
    assert rc == 1
    assert err.startswith("ternctl: b: the host refused our key (AuthFailed")
    assert [r[0] for r in rows(out)] == ["HOST", "a"]
    assert b.commands() == ["auth"]
    assert a.commands() == ["auth", "query-host"]


def test_host_that_cannot_prove_the_key_gets_no_command(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch, dict(info=HOST_B, vms=VMS_B, mode="mitm"))
    rc, out, err = run(capsys, port + ["vm", "list"])
    assert rc == 1
    assert err == ("ternctl: b: the host did not prove it holds the key "
                   "(wrong key there, or someone in between)\n")
    assert {r[0] for r in rows(out)[1:]} == {"a"}
    assert b.commands() == ["auth"]


def test_event_before_a_reply_is_skipped_and_kept(fakes, env, monkeypatch, capsys):
    _, _, port = two_hosts(fakes, env, monkeypatch, dict(info=HOST_B, vms=VMS_B, mode="events"))
    rc, out, err = run(capsys, port + ["-o", "json", "vm", "list"])
    assert (rc, err) == (0, "")
    assert [v["name"] for v in json.loads(out)] == ["web", "db", "cache"]

    (fake,) = fakes(dict(info=HOST_B, vms=VMS_B, mode="events"))
    with ternctl.Client(fake.address, KEY.encode(), fake.listener.getsockname()[1]) as c:
        assert c.execute("query-host") == HOST_B
        assert c.execute("vm-list") == VMS_B
        assert [e["event"] for e in c.events] == ["VM_STATE", "VM_STATE"]


def test_command_error_names_class_and_description(fakes, env):
    (fake,) = fakes(dict(info=HOST_A))
    with ternctl.Client(fake.address, KEY.encode(), fake.listener.getsockname()[1]) as c:
        with pytest.raises(ternctl.RemoteError) as e:
            c.execute("vm-frobnicate", {"name": "web"})
    assert (e.value.cls, e.value.desc) == ("CommandNotFound", "vm-frobnicate")
    assert fake.received[-1] == {"execute": "vm-frobnicate", "arguments": {"name": "web"}, "id": 2}


def test_host_strings_cannot_drive_the_terminal(fakes, env, monkeypatch, capsys):
    vm = dict(VMS_A[0], name="\x1b]0;owned\x07web\nfake row", state="running\x1b[2J")
    (fake,) = fakes(dict(info=HOST_A, vms=[vm]))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, out, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "vm", "list"])
    assert (rc, err) == (0, "")
    assert "\x1b" not in out and "\x07" not in out
    assert rows(out)[1][:3] == ["a", "?]0;owned?web?fake", "row"]


def test_config_readable_by_others_is_refused(fakes, env, monkeypatch, capsys):
    (fake,) = fakes(dict(info=HOST_A))
    cfg, _ = config_for(env, monkeypatch, {"a": fake.address}, mode=0o644)
    rc, out, err = run(capsys, ["status"])
    assert (rc, out) == (2, "")
    assert f"{cfg}: the configuration has mode 0644" in err
    assert fake.commands() == []


def test_key_file_writable_by_group_is_refused(env, monkeypatch, capsys):
    _, keyfile = config_for(env, monkeypatch, {"a": "10.99.0.1"}, key_mode=0o620)
    rc, out, err = run(capsys, ["status"])
    assert (rc, out) == (2, "")
    assert f"{keyfile}: the key file has mode 0620" in err


def test_config_that_is_not_a_regular_file_is_refused(env, monkeypatch, capsys):
    d = env / "hosts.d"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("TERNCTL_CONFIG", str(d))
    rc, _, err = run(capsys, ["status"])
    assert rc == 2 and f"{d}: the configuration is not a regular file" in err


def test_key_from_environment_and_hosts_by_address_need_no_config(fakes, env, monkeypatch, capsys):
    a, b = fakes(dict(info=HOST_A), dict(info=HOST_B))
    monkeypatch.setenv("TERNCTL_KEY", KEY + "\n")
    port = str(a.listener.getsockname()[1])
    rc, out, err = run(capsys, ["-H", f"{a.address},{b.address}", "--port", port, "status"])
    assert (rc, err) == (0, "")
    assert [r[:2] for r in rows(out)[1:]] == [["127.0.0.1", "10.99.0.1"], ["127.0.0.2", "10.99.0.2"]]


def test_key_from_environment_wins_over_the_config(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch)
    write_private(env / "cfg" / "key", "not the key\n")
    monkeypatch.setenv("TERNCTL_KEY", KEY)
    rc, _, err = run(capsys, port + ["status"])
    assert (rc, err) == (0, "")


def test_key_file_option_wins_over_the_config(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch)
    write_private(env / "cfg" / "key", "not the key\n")
    other = write_private(env / "elsewhere" / "key", KEY + "\r\nsecond line is ignored\n")
    rc, _, err = run(capsys, port + ["--key-file", str(other), "status"])
    assert (rc, err) == (0, "")


def test_key_file_read_only_by_its_owner_is_accepted(env):
    keyfile = write_private(env / "key", KEY + "\n", 0o400)
    assert ternctl.load_key({}, str(keyfile), ternctl.Config()) == KEY.encode()


def test_hosts_chosen_by_name(fakes, env, monkeypatch, capsys):
    a, b, port = two_hosts(fakes, env, monkeypatch)
    rc, out, err = run(capsys, port + ["-H", "b", "status"])
    assert (rc, err) == (0, "")
    assert [r[0] for r in rows(out)] == ["HOST", "b"]
    assert a.commands() == []


def test_unknown_host_name_is_a_usage_error(env, monkeypatch, capsys):
    config_for(env, monkeypatch, {"a": "10.99.0.1"})
    rc, out, err = run(capsys, ["-H", "a,zz", "status"])
    assert (rc, out) == (2, "")
    assert "'zz' is neither a host of" in err


def test_missing_key_is_a_usage_error(env, capsys):
    rc, out, err = run(capsys, ["-H", "10.99.0.1", "status"])
    assert (rc, out) == (2, "")
    assert "no management key: set TERNCTL_KEY" in err


def test_unknown_command_is_a_usage_error(env, monkeypatch, capsys):
    monkeypatch.setenv("TERNCTL_KEY", KEY)
    rc, _, err = run(capsys, ["-H", "10.99.0.1", "vm", "frob"])
    assert rc == 2 and "unknown command 'vm frob'" in err


def test_unreachable_host_is_reported_and_the_others_print(fakes, env, monkeypatch, capsys):
    a, b = fakes(dict(info=HOST_A), dict(info=HOST_B))
    # 127.0.0.3 listens on nothing: the port is closed there
    config_for(env, monkeypatch, {"a": a.address, "gone": "127.0.0.3", "b": b.address})
    rc, out, err = run(capsys, ["--port", str(a.listener.getsockname()[1]), "status"])
    assert rc == 1
    assert err.startswith("ternctl: gone: cannot connect to 127.0.0.3 port ")
    assert "refused" in err
    assert [r[0] for r in rows(out)] == ["HOST", "a", "b"]


def test_greeting_of_another_api_version_is_refused(fakes, env, monkeypatch, capsys):
    (fake,) = fakes(dict(info=HOST_A, mode="api2"))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, out, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "status"])
    assert (rc, out) == (1, "")
    assert "ternctl: a: the host speaks management API 2; this ternctl speaks only 1" in err
    assert fake.commands() == []


def test_reply_line_over_the_limit_is_refused(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternmgmt, "MAX_LINE", 1024)
    (fake,) = fakes(dict(info=HOST_A, mode="huge"))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, _, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "status"])
    assert rc == 1 and "ternctl: a: the host sent a line longer than 1024 bytes" in err


def test_silent_host_times_out(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternmgmt, "READ_TIMEOUT", 0.3)
    (fake,) = fakes(dict(info=HOST_A, mode="silent"))
    config_for(env, monkeypatch, {"a": fake.address})
    rc, _, err = run(capsys, ["--port", str(fake.listener.getsockname()[1]), "-o", "json", "status"])
    assert rc == 1 and "ternctl: a: no answer within 0.3 s" in err


def test_config_file_format(env, monkeypatch):
    monkeypatch.setenv("HOME", str(env))
    cfg = write_private(env / "hosts", "# fleet\n\n  a 10.99.0.1\nb\t10.99.0.2  # second\n"
                                       "key-file ~/keys/mgmt\n")
    c = ternctl.load_config(str(cfg))
    assert c.hosts == {"a": "10.99.0.1", "b": "10.99.0.2"}
    assert c.key_file == str(env / "keys" / "mgmt")
    write_private(cfg, "a 10.99.0.1 extra\n")
    with pytest.raises(ternctl.UsageError, match=r"hosts:1: expected 'NAME ADDRESS'"):
        ternctl.load_config(str(cfg))
    write_private(cfg, "a 10.99.0.1\na 10.99.0.2\n")
    with pytest.raises(ternctl.UsageError, match="host a is named twice"):
        ternctl.load_config(str(cfg))


# --- the commands that change state, migrations, events, evacuation ---------

def fleet_of(fakes, env, monkeypatch, **specs):
    """Fakes named by SPECS' keys (a=dict(...), b=...), in a configuration; and the --port words."""
    made = fakes(*specs.values())
    config_for(env, monkeypatch, {name: f.address for name, f in zip(specs, made)})
    return made, ["--port", str(made[0].listener.getsockname()[1])]


def test_vm_create_translates_the_console_options(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(info=HOST_A), b=dict(info=HOST_B))
    rc, out, err = run(capsys, port + ["-H", "b", "vm", "create", "web", "image=memcheck", "mem=64",
                                       "args=rate=500 verify=1", "mac=52:54:00:aa:00:01", "cpu=pool",
                                       "on_crash=destroy", "--paused"])
    assert (rc, err) == (0, "")
    assert out == "web: created on b (paused)\n"
    assert b.requests("vm-create") == [{"name": "web", "memory": 64, "image": "memcheck",
                                        "args": "rate=500 verify=1", "mac": "52:54:00:aa:00:01",
                                        "cpu": "pool", "on_crash": "destroy", "paused": True}]
    assert a.commands() == []


def test_vm_create_as_json_and_the_hosts_refusal(fakes, env, monkeypatch, capsys):
    (a,), port = fleet_of(fakes, env, monkeypatch, a=dict(info=HOST_A, vms=[guest("web", 16)]))
    # the configuration's only host needs no -H
    rc, out, err = run(capsys, port + ["-o", "json", "vm", "create", "db", "kernel=linux", "mem=128"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == {"host": "a", "name": "db", "state": "running", "error": None}
    rc, out, err = run(capsys, port + ["vm", "create", "web", "image=memcheck", "mem=16"])
    assert (rc, out) == (1, "")
    assert err == "ternctl: a: vm-create: GenericError: vm create: a VM named web exists\n"


@pytest.mark.parametrize("words, message", [
    (["vm", "create", "web", "image=x", "mem=16"], "vm create: pick its host with -H HOST"),
    (["-H", "a", "vm", "create", "web", "image=x", "mem=lots"], "mem=lots: not a number of MiB"),
    (["-H", "a", "vm", "create", "web", "image=x", "memory=16"], "'memory=16' is not one of mem=, image="),
    (["-H", "a", "vm", "create", "web", "image=x"], "mem=MIB is needed"),
    (["-H", "a", "vm", "create", "web", "mem=16"], "a guest needs an image or a kernel"),
    (["-H", "a", "vm", "create", "web", "image=x", "mem=16", "image=y"], "image= is given twice"),
    (["migrate", "web", "--to", "zz"], "--to: 'zz' is neither a host of"),
    (["migrate", "web"], "required: --to"),
    (["evacuate", "a", "--to", "a"], "--to names a itself"),
    (["evacuate", "a", "--parallel", "0"], "0 is not above 0"),
    (["events", "--count", "x"], "'x' is not a number"),
])
def test_command_line_mistakes_are_usage_errors(fakes, env, monkeypatch, capsys, words, message):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(info=HOST_A), b=dict(info=HOST_B))
    rc, out, err = run(capsys, port + words)
    assert (rc, out) == (2, "")
    assert message in err
    assert a.commands() == b.commands() == []


def test_vm_destroy_pause_resume_run_where_the_guest_is(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 16)]),
                            b=dict(vms=[guest("db", 16)]))
    assert run(capsys, port + ["vm", "pause", "db"]) == (0, "db: paused on b\n", "")
    assert b.vms[0]["state"] == "paused"
    assert run(capsys, port + ["vm", "resume", "db"]) == (0, "db: resumed on b\n", "")
    rc, out, err = run(capsys, port + ["-o", "json", "vm", "destroy", "db"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == {"host": "b", "name": "db", "command": "vm-destroy", "error": None}
    assert b.names() == [] and a.names() == ["web"]
    assert "vm-destroy" not in a.commands()
    assert b.requests("vm-destroy") == [{"name": "db"}]


def test_vm_action_on_a_guest_nowhere_or_on_two_hosts_fails(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 16)]),
                            b=dict(vms=[guest("web", 16)]))
    rc, out, err = run(capsys, port + ["vm", "pause", "zz"])
    assert (rc, out, err) == (1, "", "ternctl: no host holds zz (asked a, b)\n")
    rc, out, err = run(capsys, port + ["vm", "destroy", "web"])
    assert (rc, out, err) == (1, "", "ternctl: web is on more than one host: a, b\n")
    assert set(a.commands() + b.commands()) == {"auth", "vm-list"}


def test_migrate_prints_each_round_the_end_and_where_the_guest_is(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)]), b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["migrate", "web", "--to", "b"])
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"web: a ({a.address}) -> b ({b.address})"
    assert rows("\n".join(lines[1:4])) == [
        ["ROUND", "SENT", "ZERO", "DIRTIED", "LEFT", "MB", "MS", "THROTTLE%"],
        ["0", "100", "50", "10", "10", "0.4", "40", "0"],
        ["1*", "10", "0", "0", "0", "0.0", "2.5", "0"],
    ]
    assert lines[4:] == ["result:    completed", "downtime:  4.25 ms", "total:     60 ms", "bytes:     452320 bytes",
                         f"web is on b ({b.address}): running"]
    assert a.names() == [] and b.names() == ["web"]
    assert a.requests("migrate") == [{"name": "web", "host": b.address}]
    # the fake sent an unrelated event before migrate's reply: it was skipped, not taken for the reply
    assert ("migrate", None) in a.replies


def test_migrate_as_json_with_every_option(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)]), b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["-o", "json", "migrate", "web", "--to", "b", "--bandwidth", "40",
                                       "--downtime-ms", "20", "--max-rounds", "5", "--offline", "--insecure",
                                       "--port", "7001", "--auto-converge", "off", "--delta", "on",
                                       "--delta-cache", "8", "--copy-storage", "inc", "--timeout", "10"])
    assert (rc, err) == (0, "")
    res = json.loads(out)
    assert {k: res[k] for k in ("name", "from", "to", "result", "reason", "downtime_ms", "total_ms", "bytes",
                                "state")} == {
        "name": "web", "from": "a", "to": "b", "result": "completed", "reason": None, "downtime_ms": 4.25,
        "total_ms": 60, "bytes": 452320, "state": "running"}
    assert [r["round"] for r in res["rounds"]] == [0, 1] and res["rounds"][1]["final"] is True
    assert a.requests("migrate") == [{"name": "web", "host": b.address, "port": 7001, "auto_converge": False,
                                      "delta": True, "downtime_ms": 20, "max_rounds": 5, "bandwidth_mbit": 40,
                                      "delta_cache_mib": 8, "copy_storage": "inc", "insecure": True,
                                      "offline": True}]


def test_migrate_ignores_an_earlier_end_read_before_its_reply(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)], stale_end=True),
                            b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["-o", "json", "migrate", "web", "--to", "b"])
    assert (rc, err) == (0, "")
    assert (json.loads(out)["result"], b.names()) == ("completed", ["web"])


def test_migrate_to_an_address_outside_the_configuration(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)]), b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["-H", "a", "-o", "json", "migrate", "web", "--to", b.address])
    assert (rc, err) == (0, "")
    assert json.loads(out)["to"] == b.address and b.names() == ["web"]


def test_migrate_that_fails_exits_1_with_the_reason(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch,
                            a=dict(vms=[guest("web", 64)], fail={"web": "the destination refused: no memory"}),
                            b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["migrate", "web", "--to", "b"])
    assert rc == 1
    assert "result:    failed: the destination refused: no memory" in out
    assert "is on b" not in out
    assert err == "ternctl: a: web: failed: the destination refused: no memory\n"
    assert a.names() == ["web"] and b.names() == []
    rc, out, err = run(capsys, port + ["-o", "json", "migrate", "web", "--to", "b"])
    res = json.loads(out)
    assert rc == 1 and (res["result"], res["reason"], res["state"]) == (
        "failed", "the destination refused: no memory", None)


def test_migrate_refused_by_the_host_and_to_where_it_is(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternmgmt, "BUSY_RETRY", 0.01)
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)]), b=dict(vms=[]))
    a.outgoing = "other"       # the host's one outgoing migration is someone else's
    rc, out, err = run(capsys, port + ["-o", "json", "migrate", "web", "--to", "b"])
    res = json.loads(out)
    assert rc == 1 and res["result"] == "failed" and res["reason"] == "Busy: a migration is running (other)"
    assert err == "ternctl: a: web: failed: Busy: a migration is running (other)\n"
    assert len(a.requests("migrate")) == 1 + ternmgmt.BUSY_RETRIES     # tried again, then given up
    rc, out, err = run(capsys, port + ["migrate", "web", "--to", "a"])
    assert (rc, out, err) == (1, "", "ternctl: web is already on a\n")


def test_migrate_whose_connection_breaks_is_unknown(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)], mode="hangup",
                                                            migrate_delay=0.2), b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["-o", "json", "migrate", "web", "--to", "b"])
    res = json.loads(out)
    assert rc == 1 and res["result"] == "unknown"
    assert res["reason"] == "lost the connection to a (the host closed the connection): it may go on there"


def test_migrate_no_wait_only_starts_it(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)], migrate_delay=0.3),
                            b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["migrate", "web", "--to", "b", "--no-wait"])
    assert (rc, out, err) == (0, "web: migration from a to b started (not followed)\n", "")
    assert a.commands()[-1] == "migrate"


def test_migrate_timeout_says_what_the_host_is_doing(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)], migrate_delay=1.0),
                            b=dict(vms=[]))
    rc, out, err = run(capsys, port + ["-o", "json", "migrate", "web", "--to", "b", "--timeout", "0.2"])
    res = json.loads(out)
    assert rc == 1 and res["result"] == "timeout"
    assert res["reason"] == ("no MIGRATION_END within 0.2 s: it may still be running on a; "
                             "migrate-status: pre-copy, round 1, 40 % sent")


def test_following_a_migration_sends_a_keepalive(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternmgmt, "KEEPALIVE", 0.1)
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(vms=[guest("web", 64)], migrate_delay=0.5),
                            b=dict(vms=[]))
    rc, _, err = run(capsys, port + ["migrate", "web", "--to", "b"])
    assert (rc, err) == (0, "")
    sent = a.commands()
    assert sent[:3] == ["auth", "vm-list", "auth"] and sent[3] == "migrate"
    assert 2 <= sent.count("query-version") <= 8


def test_events_from_every_host_until_the_count(fakes, env, monkeypatch, capsys):
    evs = [("VM_STATE", {"name": "web", "state": "paused", "reason": None}),
           ("GUEST_FAULT", {"name": "web", "reason": "triple fault at rip 0x1000"})]
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(greet_events=evs[:1]), b=dict(greet_events=evs[1:]))
    rc, out, err = run(capsys, port + ["events", "--count", "2"])
    assert (rc, err) == (0, "")
    assert sorted(out.splitlines()) == ["a VM_STATE name=web state=paused reason=null",
                                        'b GUEST_FAULT name=web reason="triple fault at rip 0x1000"']
    rc, out, err = run(capsys, port + ["-H", "a", "-o", "json", "events", "--count", "1"])
    assert (rc, err) == (0, "")
    assert json.loads(out) == {"host": "a", "event": "VM_STATE", "data": evs[0][1],
                               "timestamp": {"seconds": 1796680000, "microseconds": 120}}


def test_events_until_the_timeout_with_keepalives(fakes, env, monkeypatch, capsys):
    monkeypatch.setattr(ternmgmt, "KEEPALIVE", 0.1)
    (a,), port = fleet_of(fakes, env, monkeypatch, a=dict())
    rc, out, err = run(capsys, port + ["events", "--timeout", "0.5"])
    assert (rc, out, err) == (0, "", "")
    assert a.commands().count("query-version") >= 3


def test_events_host_that_drops_is_reported(fakes, env, monkeypatch, capsys):
    (a, b), port = fleet_of(fakes, env, monkeypatch, a=dict(greet_events=[("EVENTS_LOST", {"count": 3})]),
                            b=dict(mode="drop"))
    rc, out, err = run(capsys, port + ["events", "--timeout", "0.5"])
    assert rc == 1
    assert out == "a EVENTS_LOST count=3\n"
    assert err == "ternctl: b: the host closed the connection; no more events from it\n"


def test_client_waits_for_events_and_keeps_those_before_a_reply(fakes):
    (fake,) = fakes(dict(info=HOST_A, mode="events", greet_events=[("VM_STATE", {"name": "x"})]))
    with ternctl.Client(fake.address, KEY.encode(), fake.listener.getsockname()[1]) as c:
        assert c.execute("query-host") == HOST_A
        assert len(c.events) == 2
        assert c.next_event(0.1)["data"] == {"name": "x"}
        assert c.next_event(0.1)["data"]["name"] == "web"
        assert c.next_event(0.1) is None
        fake.emit("MIGRATION_END", {"name": "web"})
        assert c.next_event(1)["event"] == "MIGRATION_END"


# evacuate: a holds 64, 32 and 16 MiB guests (and ones that cannot move); b has
# 100 MiB free, c 90. Each guest needs 8 MiB more than its memory. By the most
# memory left: web (72) -> b (28 left), cache (40) -> c (50 left), tiny (24) -> c.
# (A first fit would put tiny on b; the most free at the start would put all on b.)
EVAC = dict(
    a=dict(info=host_info("10.99.0.1", 50), vms=[guest("tiny", 16), guest("web", 64), guest("cache", 32)]),
    b=dict(info=host_info("10.99.0.2", 100), vms=[]),
    c=dict(info=host_info("10.99.0.3", 90), vms=[]),
)


def test_evacuate_places_by_the_memory_left_and_empties_the_host(fakes, env, monkeypatch, capsys):
    (a, b, c), port = fleet_of(fakes, env, monkeypatch, **EVAC)
    rc, out, err = run(capsys, port + ["evacuate", "a"])
    assert (rc, err) == (0, "")
    progress, tab = out.split("\n\n")
    assert progress.splitlines() == [
        "web: a -> b: started (64 MiB)", "web: a -> b: completed (downtime 4.25 ms, total 60 ms)",
        "cache: a -> c: started (32 MiB)", "cache: a -> c: completed (downtime 4.25 ms, total 60 ms)",
        "tiny: a -> c: started (16 MiB)", "tiny: a -> c: completed (downtime 4.25 ms, total 60 ms)"]
    assert rows(tab) == [["NAME", "FROM", "TO", "RESULT", "DOWNTIME_MS", "TOTAL_MS", "REASON"],
                         ["web", "a", "b", "completed", "4.25", "60", "-"],
                         ["cache", "a", "c", "completed", "4.25", "60", "-"],
                         ["tiny", "a", "c", "completed", "4.25", "60", "-"],
                         ["a:", "no", "guest", "left"]]
    assert (a.names(), b.names(), sorted(c.names())) == ([], ["web"], ["cache", "tiny"])
    assert "query-host" not in a.commands()


def test_evacuate_leaves_what_cannot_move_with_its_reason(fakes, env, monkeypatch, capsys):
    spec = dict(EVAC, a=dict(EVAC["a"], vms=EVAC["a"]["vms"] + [
        guest("huge", 256), guest("dead", 8, "stopped"), guest("new", 8, "incoming"),
        guest("busy", 8, migrating=True)], fail={"cache": "the destination refused: no memory"}))
    (a, b, c), port = fleet_of(fakes, env, monkeypatch, **spec)
    rc, out, err = run(capsys, port + ["-o", "json", "evacuate", "a"])
    assert (rc, err) == (1, "")
    report = json.loads(out)
    got = {r["name"]: (r["to"], r["result"], r["reason"]) for r in report["moved"]}
    assert got == {
        "huge": (None, "skipped", "no host has 264 MiB free"),
        "web": ("b", "completed", None),
        "cache": ("c", "failed", "the destination refused: no memory"),
        "tiny": ("c", "completed", None),
        "dead": (None, "skipped", "stopped: a stopped guest cannot move"),
        "new": (None, "skipped", "incoming: still arriving on this host"),
        "busy": (None, "skipped", "a migration already owns it"),
    }
    assert [r["name"] for r in report["moved"]] == ["huge", "web", "cache", "tiny", "dead", "new", "busy"]
    assert sorted(report["left"]) == ["busy", "cache", "dead", "huge", "new"]
    assert [r["name"] for r in a.requests("migrate")] == ["web", "cache", "tiny"]


def test_evacuate_in_parallel_retries_what_the_host_was_busy_for(fakes, env, monkeypatch, capsys):
    spec = dict(EVAC, a=dict(EVAC["a"], migrate_delay=0.1))
    (a, b, c), port = fleet_of(fakes, env, monkeypatch, **spec)
    rc, out, err = run(capsys, port + ["-o", "json", "evacuate", "a", "--parallel", "2", "--bandwidth", "300"])
    assert (rc, err) == (0, "")
    report = json.loads(out)
    assert [(r["name"], r["to"], r["result"]) for r in report["moved"]] == [
        ("web", "b", "completed"), ("cache", "c", "completed"), ("tiny", "c", "completed")]
    assert report["left"] == []
    busy = [cmd for cmd, cls in a.replies if cls == "Busy"]
    assert busy, "the second migration should have met Busy"
    assert all(r["bandwidth_mbit"] == 300 for r in a.requests("migrate"))
    assert len(a.requests("migrate")) == 3 + len(busy)


def test_evacuate_to_restricts_the_destinations(fakes, env, monkeypatch, capsys):
    (a, b, c), port = fleet_of(fakes, env, monkeypatch, **EVAC)
    rc, out, err = run(capsys, port + ["-o", "json", "evacuate", "a", "--to", "c"])
    report = json.loads(out)
    # c alone: web (72) fits its 90, then cache (40) does not fit the 18 left, tiny (24) neither
    assert [(r["name"], r["to"]) for r in report["moved"]] == [("web", "c"), ("cache", None), ("tiny", None)]
    assert report["moved"][1]["reason"] == "no host has 40 MiB free"
    assert (rc, sorted(report["left"])) == (1, ["cache", "tiny"])
    assert b.commands() == []


def test_evacuate_a_candidate_that_does_not_answer_gets_nothing(fakes, env, monkeypatch, capsys):
    spec = dict(EVAC, b=dict(EVAC["b"], key="another-key-entirely"))
    (a, b, c), port = fleet_of(fakes, env, monkeypatch, **spec)
    rc, out, err = run(capsys, port + ["-o", "json", "evacuate", "a"])
    report = json.loads(out)
    assert err.startswith("ternctl: b: the host refused our key") and err.endswith("; no guest goes there\n")
    assert [(r["name"], r["to"]) for r in report["moved"]] == [("web", "c"), ("cache", None), ("tiny", None)]
    assert rc == 1


def test_plan_evacuation_is_largest_first_by_memory_left():
    src = ("a", "10.99.0.1")
    vms = [guest("s1", 8), guest("l", 100), guest("s2", 8), guest("m", 50)]
    plan = ternmgmt.plan_evacuation(src, vms, [("b", "B", 130 * MIB), ("c", "C", 120 * MIB)])
    # l (108) -> b: 22 left; m (58) -> c: 62 left; s1 (16) -> c: 46; s2 (16) -> c: 30
    assert [(m.name, m.to) for m in plan] == [("l", ("b", "B")), ("m", ("c", "C")), ("s1", ("c", "C")),
                                              ("s2", ("c", "C"))]
