# What the tern_* modules share: how they reach the hosts (their connection
# parameters, turned into ternmgmt's configuration, key and port). The
# protocol itself is ternmgmt.py (a symlink to tools/ternmgmt.py, ternctl's).
from __future__ import annotations

from ansible.module_utils.ternmgmt import PORT, Config, UsageError, load_config, load_key

CONNECTION_ARGS = dict(
    hosts=dict(type="dict"),
    config=dict(type="path"),
    key=dict(type="str", no_log=True),
    key_file=dict(type="path", no_log=False),
    port=dict(type="int", default=PORT),
)

CONNECTION_RULES = dict(
    required_one_of=[("hosts", "config")],
    mutually_exclusive=[("hosts", "config"), ("key", "key_file")],
)


def connection(params):
    """(Config, key bytes, API port) from the module's parameters; UsageError for a mistake."""
    if params["config"]:
        cfg = load_config(params["config"])     # refused unless only its owner can read it, as ternctl does
    else:
        if not params["hosts"]:
            raise UsageError("hosts is empty: give it {name: address, ...}")
        cfg = Config("the hosts parameter", {str(k): str(v) for k, v in params["hosts"].items()})
    if params["key"]:
        key = params["key"].encode("utf-8")
    elif params["key_file"] or cfg.key_file:
        key = load_key({}, params["key_file"], cfg)
    else:
        raise UsageError("no management key: give key, key_file, or a config with a key-file line")
    if not 0 < params["port"] < 65536:
        raise UsageError(f"port {params['port']}: not a TCP port")
    return cfg, key, params["port"]
