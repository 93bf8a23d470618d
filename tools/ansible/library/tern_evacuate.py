#!/usr/bin/python3
# Drains one Tern host: its guests move to the others, as `ternctl evacuate`
# moves them, with the same code (tools/ternmgmt.py's evacuate, shipped as
# module_utils). docs/fleet.md, "Evacuating a host" and "Ansible".
from __future__ import annotations

DOCUMENTATION = r"""
---
module: tern_evacuate
short_description: Move every guest off one Tern host
description:
  - Asks the host for its guests (C(vm-list)) and the other hosts for their
    free memory (C(query-host)), plans where each guest goes, then migrates
    them one after the other and checks each on its destination
    (C(vm-list)), exactly as C(ternctl evacuate) does.
  - The plan, largest guest first; a guest needs its memory and 8 MiB more,
    and goes to the candidate with the most free memory left after the
    guests already planned for it. A guest that fits nowhere, a stopped or
    incoming guest, and one a migration already owns are not tried.
  - Changed if any guest moved. Fails, after moving what it could, if the
    host still holds a guest at the end, listing each with its reason.
  - Runs where the hosts' API is reachable, usually the control node.
extends_documentation_fragment: [tern_connection]
options:
  host:
    description: The host to drain (a name of C(hosts) or the configuration, or an IPv4 address).
    type: str
    required: true
  to:
    description: The hosts the guests may go to (names or addresses); by default every other host.
    type: list
    elements: str
  parallel:
    description:
      - Migrations started at once. A Tern host sends one at a time and
        answers Busy to more; such a guest waits until one of this run's
        migrations ends, so more than 1 gains nothing today.
    type: int
    default: 1
  bandwidth_mbit:
    description: The console's C(--bandwidth) for each migration (Mbit/s while the guest runs).
    type: int
  timeout:
    description: How many seconds to wait for each migration's end (it goes on on the host after that).
    type: float
notes:
  - Check mode returns the plan (C(host)'s C(vm-list) and the others' C(query-host) only) and changes nothing.
author: Tern
"""

EXAMPLES = r"""
- name: a holds no guest
  tern_evacuate:
    config: ~/.config/ternctl/hosts
    host: a
    bandwidth_mbit: 400
"""

RETURN = r"""
moved:
  description:
    - One row per guest of the host, largest first; as C(ternctl -o json evacuate).
    - C(result) is completed, failed, uncertain, timeout or skipped (not
      tried); in check mode null for a guest that would move.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "web", "from": "a", "to": "b", "result": "completed", "reason": null,
            "downtime_ms": 4.12, "total_ms": 812, "bytes": 71516160, "state": "running"}]
left:
  description: The guests still on the host at the end (in check mode, those that would stay).
  returned: always
  type: list
  elements: str
msg:
  description: What was done, or would be done.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.tern_ansible import CONNECTION_ARGS, CONNECTION_RULES, connection
from ansible.module_utils.ternmgmt import (FleetError, HostError, UsageError, choose_hosts, evacuate,
                                           migrate_args, resolve_host)


def run(module):
    p = module.params
    cfg, key, port = connection(p)
    source = resolve_host(p["host"], cfg, "host")
    if p["to"]:
        candidates = choose_hosts(",".join(p["to"]), cfg, "to")
        if any(address == source[1] for _, address in candidates):
            raise UsageError(f"to names {source[0]}, the host being drained")
    else:
        candidates = [h for h in cfg.hosts.items() if h[1] != source[1]]
    if not candidates:
        raise UsageError(f"no host to move {source[0]}'s guests to")
    if p["parallel"] < 1:
        raise UsageError("parallel must be 1 or more")
    ev = evacuate(source, candidates, key, port, p["parallel"],
                  migrate_args(None, None, bandwidth_mbit=p["bandwidth_mbit"]), p["timeout"],
                  dry_run=module.check_mode)
    rows = [m.row() for m in ev.moves]
    warnings = [f"{label}: {e}; no guest goes there" for label, e in ev.unreachable]
    for w in warnings:
        module.warn(w)
    if module.check_mode:
        going = [m for m in ev.moves if m.to is not None and m.result is None]
        staying = [m.name for m in ev.moves if m not in going]
        module.exit_json(changed=bool(going), moved=rows, left=staying,
                         msg="would move " + (", ".join(f"{m.name} to {m.to[0]}" for m in going) or "nothing")
                         + (f"; would leave {', '.join(staying)}" if staying else ""))
    changed = bool(ev.moved)
    if ev.left is None:
        module.fail_json(changed=changed, moved=rows, left=None, msg=ev.error)
    if ev.left:
        why = {m.name: f"{m.result}: {m.reason}" if m.reason else m.result for m in ev.moves}
        module.fail_json(changed=changed, moved=rows, left=ev.left,
                         msg=f"{source[0]} still holds " + ", ".join(
                             f"{n} ({why.get(n, 'arrived meanwhile')})" for n in ev.left))
    module.exit_json(changed=changed, moved=rows, left=[],
                     msg=(f"moved {', '.join(f'{m.name} to {m.to[0]}' for m in ev.moved)}" if changed
                          else f"{source[0]} holds no guest"))


def main():
    spec = dict(CONNECTION_ARGS,
                host=dict(type="str", required=True),
                to=dict(type="list", elements="str"),
                parallel=dict(type="int", default=1),
                bandwidth_mbit=dict(type="int"), timeout=dict(type="float"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **CONNECTION_RULES)
    try:
        run(module)
    except (UsageError, HostError, FleetError) as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
