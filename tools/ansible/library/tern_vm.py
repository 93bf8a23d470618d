#!/usr/bin/python3
# A guest of a fleet of Tern hosts, through their management API
# (docs/mgmt-api.md, docs/fleet.md "Ansible"). The client is ternctl's
# (tools/ternmgmt.py, shipped as module_utils).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: tern_vm
short_description: Create, destroy, pause, resume or migrate a guest on Tern hosts
description:
  - Finds which of the given Tern hosts holds the guest (C(vm-list) on each),
    then brings it to the wanted state through the hosts' management API
    (JSON over TLS, both sides proving they hold the management key).
  - Idempotent. A guest's name is looked for on every host; if two hosts hold
    it, or a host does not answer, the module fails rather than guess.
  - "Runs where the hosts' API is reachable, usually the control node
    (C(connection: local) or C(delegate_to: localhost)); needs Python 3 only."
extends_documentation_fragment: [tern_connection]
options:
  name:
    description: The guest's name.
    type: str
    required: true
  state:
    description:
      - C(present) creates the guest on C(host) unless some host holds it already (wherever it is, nothing changes).
      - C(running) and C(paused) are present, and resume or pause it if needed (creating it paused for C(paused)).
      - C(absent) destroys it on every host that holds it.
      - C(migrated) moves it to C(to) unless it is there, and waits for the migration's end.
    type: str
    choices: [present, absent, migrated, paused, running]
    default: present
  host:
    description: Where to create the guest (a name of C(hosts) or the configuration, or
      an IPv4 address); may be left out if there is only one host.
    type: str
  to:
    description: The destination for C(state=migrated) (a name of C(hosts) or the configuration, or an IPv4 address).
    type: str
  memory:
    description: The guest's memory in MiB, to create it.
    type: int
  image:
    description: The console's C(image=), to create it (this or C(kernel)).
    type: str
  kernel:
    description: The console's C(kernel=), to create it.
    type: str
  initrd:
    description: The console's C(initrd=).
    type: str
  args:
    description: The console's C(args=).
    type: str
  mac:
    description: The console's C(mac=).
    type: str
  ip:
    description: The console's C(ip=).
    type: str
  disk:
    description: The console's C(disk=).
    type: str
  cpu:
    description: The console's C(cpu=) (host or pool).
    type: str
  on_reboot:
    description: The console's C(on_reboot=).
    type: str
  on_poweroff:
    description: The console's C(on_poweroff=).
    type: str
  on_crash:
    description: The console's C(on_crash=).
    type: str
  bandwidth_mbit:
    description: For a migration, the console's C(--bandwidth) (Mbit/s while the guest runs).
    type: int
  timeout:
    description: For a migration, how many seconds to wait for its end (it goes on on
      the host after that, and the task fails).
    type: float
notes:
  - Check mode asks the hosts where the guest is and changes nothing.
  - A Tern host sends one migration at a time; a host that is Busy is asked again every second, ten times.
author: Tern
"""

EXAMPLES = r"""
- name: web runs on a
  tern_vm:
    hosts: {a: 10.0.0.11, b: 10.0.0.12}
    key_file: ~/.config/ternctl/key
    name: web
    state: present
    host: a
    image: memcheck
    memory: 64
    args: rate=500 verify=1

- name: web is on b
  tern_vm:
    config: ~/.config/ternctl/hosts
    name: web
    state: migrated
    to: b
    bandwidth_mbit: 400

- name: web is gone
  tern_vm:
    config: ~/.config/ternctl/hosts
    name: web
    state: absent
"""

RETURN = r"""
host:
  description: Where the guest is at the end (a name of the hosts, or an address); null if nowhere.
  returned: always
  type: str
  sample: b
address:
  description: That host's address.
  returned: always
  type: str
  sample: 10.0.0.12
state:
  description: The guest's state there (running, paused, halted, stopped, incoming), or absent.
  returned: always
  type: str
  sample: running
downtime_ms:
  description: The migration's downtime (null unless it completed).
  returned: when a migration ran
  type: float
  sample: 4.12
total_ms:
  description: The migration's total time.
  returned: when a migration ran
  type: int
  sample: 812
msg:
  description: What was done, or what would be done in check mode.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.tern_ansible import CONNECTION_ARGS, CONNECTION_RULES, connection
from ansible.module_utils.ternmgmt import (CREATE_STRINGS, CREATE_TIMEOUT, Client, FleetError, HostError, Move,
                                           UsageError, locate, migrate_args, resolve_host, run_moves,
                                           vm_create_args)


def find(hosts, key, port, name, fail):
    """[(label, address, vm)] of the hosts holding NAME; every host must answer."""
    holders, failed = locate(hosts, key, port, name)
    if failed:
        fail(msg="; ".join(f"{label}: {e}" for label, e in failed) +
             f" (the module must ask every host where {name} is)")
    return holders


def create(module, cfg, key, port, hosts, name, state):
    p = module.params
    if p["host"]:
        label, address = resolve_host(p["host"], cfg, "host")
    elif len(hosts) == 1:
        label, address = hosts[0]
    else:
        module.fail_json(msg=f"no host holds {name}: give host to create it there")
    if p["memory"] is None:
        module.fail_json(msg=f"no host holds {name}: give memory (and image or kernel) to create it")
    args = vm_create_args(name, p["memory"], state == "paused", **{k: p[k] for k in CREATE_STRINGS})
    want = "paused" if state == "paused" else "running"
    if module.check_mode:
        module.exit_json(changed=True, host=label, address=address, state=want,
                         msg=f"would create {name} on {label}")
    with Client(address, key, port) as c:
        ret = c.execute("vm-create", args, timeout=CREATE_TIMEOUT)
    module.exit_json(changed=True, host=label, address=address,
                     state=ret.get("state") if isinstance(ret, dict) else want, msg=f"created {name} on {label}")


def run(module):
    p = module.params
    name, state = p["name"], p["state"]
    cfg, key, port = connection(p)
    hosts = list(cfg.hosts.items())
    holders = find(hosts, key, port, name, module.fail_json)

    if state == "absent":
        if module.check_mode or not holders:
            module.exit_json(changed=bool(holders), host=None, address=None, state="absent",
                             msg=(f"would destroy {name} on {', '.join(h[0] for h in holders)}" if holders
                                  else f"no host holds {name}"))
        for label, address, _ in holders:
            with Client(address, key, port) as c:
                c.execute("vm-destroy", {"name": name})
        module.exit_json(changed=True, host=None, address=None, state="absent",
                         msg=f"destroyed {name} on {', '.join(h[0] for h in holders)}")

    if len(holders) > 1:
        module.fail_json(msg=f"{name} is on more than one host: {', '.join(h[0] for h in holders)}")
    if not holders:
        if state == "migrated":
            module.fail_json(msg=f"no host holds {name}: nothing to migrate")
        create(module, cfg, key, port, hosts, name, state)
    label, address, vm = holders[0]
    now = vm.get("state")
    where = dict(host=label, address=address, state=now)

    if state == "present":
        module.exit_json(changed=False, msg=f"{name} is on {label} ({now})", **where)

    if state in ("running", "paused"):
        if now == state:
            module.exit_json(changed=False, msg=f"{name} is {now} on {label}", **where)
        if (now, state) not in (("paused", "running"), ("running", "paused")):
            module.fail_json(msg=f"{name} is {now} on {label}: only a paused guest resumes, "
                                 "only a running one pauses", **where)
        command = "vm-resume" if state == "running" else "vm-pause"
        if not module.check_mode:
            with Client(address, key, port) as c:
                c.execute(command, {"name": name})
        module.exit_json(changed=True, host=label, address=address,
                         state=now if module.check_mode else state,
                         msg=f"{'would run' if module.check_mode else 'ran'} {command} {name} on {label}")

    # migrated
    to = resolve_host(p["to"], cfg, "to")
    if to[1] == address:
        module.exit_json(changed=False, msg=f"{name} is on {label} already", **where)
    if module.check_mode:
        module.exit_json(changed=True, msg=f"would migrate {name} from {label} to {to[0]}", **where)
    move = Move(name, (label, address), to)
    with Client(address, key, port) as c:
        run_moves(c, [move], key, port, options=migrate_args(name, to[1], bandwidth_mbit=p["bandwidth_mbit"]),
                  timeout=p["timeout"])
    times = dict(downtime_ms=move.downtime_ms, total_ms=move.total_ms)
    if not move.moved:
        module.fail_json(msg=f"migrating {name} from {label} to {to[0]}: {move.result}"
                             + (f": {move.reason}" if move.reason else ""),
                         host=label, address=address, state=now, result=move.result, reason=move.reason, **times)
    module.exit_json(changed=True, host=to[0], address=to[1], state=move.state,
                     msg=f"migrated {name} from {label} to {to[0]}", **times)


def main():
    spec = dict(CONNECTION_ARGS,
                name=dict(type="str", required=True),
                state=dict(type="str", default="present",
                           choices=["present", "absent", "migrated", "paused", "running"]),
                host=dict(type="str"), to=dict(type="str"),
                memory=dict(type="int"),
                bandwidth_mbit=dict(type="int"), timeout=dict(type="float"),
                **{k: dict(type="str") for k in CREATE_STRINGS})
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "migrated", ("to",))], **CONNECTION_RULES)
    try:
        run(module)
    except (UsageError, HostError, FleetError) as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
