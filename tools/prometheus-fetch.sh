#!/bin/sh
# prometheus-fetch.sh DIR
# Fetches Debian 12's prometheus package as a .deb into DIR/deb (once) and
# unpacks it into DIR/root, for the lab's scrape test
# (tests/integration/test_metrics.py). Unpacked rather than installed: an
# installed prometheus would start a system service on the test machine.
# The server binary is static Go; it needs none of the package's
# dependencies (those serve its web UI).
set -eu
dir=$1
mkdir -p "$dir/deb"
cd "$dir/deb"
if ! ls prometheus_*.deb >/dev/null 2>&1; then
	# apt warns about "_apt" when run as root: harmless.
	apt-get download -q prometheus 2>&1 | grep -v '_apt' || true
	if ! ls prometheus_*.deb >/dev/null 2>&1; then
		echo "prometheus-fetch: not downloaded; apt-get update and retry"
		apt-get update -q >/dev/null
		apt-get download -q prometheus 2>&1 | grep -v '_apt' || true
	fi
	ls prometheus_*.deb >/dev/null 2>&1 ||
		{ echo "error: prometheus-fetch: apt-get download prometheus failed" >&2; exit 1; }
fi
rm -rf ../root.tmp
mkdir ../root.tmp
dpkg-deb -x "$(ls prometheus_*.deb | tail -1)" ../root.tmp
test -x ../root.tmp/usr/bin/prometheus ||
	{ echo "error: prometheus-fetch: no usr/bin/prometheus in the package" >&2; exit 1; }
rm -rf ../root
mv ../root.tmp ../root
echo "prometheus-fetch: $(ls prometheus_*.deb | tail -1) unpacked in $dir/root"
