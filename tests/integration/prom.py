"""Debian's Prometheus server (unpacked under build/prometheus by
tools/prometheus-fetch.sh, never installed as a service) run in a lab's
client namespace against Tern hosts, for test_metrics.py and test_fleet.py."""
import json
import os
import subprocess
import sys
import time
import urllib.parse

from conftest import ROOT

PROMETHEUS = os.path.join(ROOT, "build", "prometheus", "root", "usr", "bin", "prometheus")


class Prometheus:
    """Debian's Prometheus server in the lab's client namespace, scraping
    /metrics (port 80) of every address in `hosts` every second; `query`
    runs a PromQL query at an instant."""

    def __init__(self, lab, workdir, hosts):
        self.lab = lab
        os.makedirs(workdir, exist_ok=True)
        conf = os.path.join(workdir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: tern\n    static_configs:\n"
                    "      - targets: [" + ", ".join(f"'{h}:80'" for h in hosts) + "]\n")
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = lab.client_popen([PROMETHEUS, f"--config.file={conf}",
                                      f"--storage.tsdb.path={os.path.join(workdir, 'data')}",
                                      "--web.listen-address=127.0.0.1:9090"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode(params)
        r = self.lab.client([sys.executable, "-c", "import sys, urllib.request; "
                             "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())",
                             url], timeout=30)
        if r.returncode:
            return None
        out = json.loads(r.stdout)
        assert out["status"] == "success", out
        return {tuple(sorted((k, v) for k, v in x["metric"].items() if k != "__name__")):
                float(x["value"][1]) for x in out["data"]["result"]}

    def wait(self, expr, ok, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            res = self.query(expr)
            if res is not None and ok(res):
                return res
            assert self.proc.poll() is None, "prometheus exited: see prometheus.log"
            assert time.monotonic() < deadline, (expr, res)
            time.sleep(1)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
