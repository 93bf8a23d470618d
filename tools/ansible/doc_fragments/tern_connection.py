# How the tern_* modules reach the hosts: the options both document
# (module_utils/tern_ansible.py's CONNECTION_ARGS), written once.


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  hosts:
    description: "The Tern hosts, as {name: IPv4 address}. One of C(hosts) or C(config)."
    type: dict
  config:
    description: A ternctl configuration file (C(NAME ADDRESS) lines, C(key-file PATH))
      instead of C(hosts); only its owner may read it.
    type: path
  key:
    description: The management key (C(mgmt key) on the hosts). Else C(key_file), else the configuration's key-file.
    type: str
  key_file:
    description: A file whose first line is the management key; only its owner may read it.
    type: path
  port:
    description: The management API's TCP port on every host.
    type: int
    default: 7100
"""
