#!/bin/sh
# linux-fetch.sh DIR
# Fetches Debian 12's cloud kernel and busybox-static as .deb files into
# DIR/deb (once: a .deb already there is not downloaded again) and unpacks
# them into DIR/root. The kernel package is the one the meta package
# linux-image-cloud-amd64 depends on, read from the meta package itself,
# so the ABI version (6.1.0-NN) follows the archive.
set -eu
dir=$1
mkdir -p "$dir/deb"
cd "$dir/deb"

# apt-get download into the current directory; apt warns about "_apt"
# when run as root (the sandbox user cannot write here): harmless.
# A failure may be stale or missing package lists: update once and retry.
download() {
	apt-get download -q "$@" 2>&1 | grep -v '_apt' || true
	for p in "$@"; do
		ls "${p%%=*}"_*.deb >/dev/null 2>&1 && continue
		echo "linux-fetch: $p not downloaded; apt-get update and retry"
		apt-get update -q >/dev/null
		apt-get download -q "$@" 2>&1 | grep -v '_apt' || true
		ls "${p%%=*}"_*.deb >/dev/null 2>&1 ||
			{ echo "error: linux-fetch: apt-get download $p failed" >&2; exit 1; }
	done
}

have() { ls "$1"_*.deb >/dev/null 2>&1; }

have linux-image-cloud-amd64 || download linux-image-cloud-amd64
meta=$(ls linux-image-cloud-amd64_*.deb | tail -1)
# Depends: linux-image-6.1.0-57-cloud-amd64 (= 6.1.192-3)
kpkg=$(dpkg-deb -f "$meta" Depends | sed 's/[ ,(|].*//')
case $kpkg in
linux-image-*-cloud-amd64) ;;
*) echo "error: linux-fetch: $meta depends on '$kpkg', not a cloud kernel" >&2; exit 1 ;;
esac
have "$kpkg" || download "$kpkg"
have busybox-static || download busybox-static

rm -rf ../root.tmp
mkdir ../root.tmp
dpkg-deb -x "$(ls "$kpkg"_*.deb | tail -1)" ../root.tmp
dpkg-deb -x "$(ls busybox-static_*.deb | tail -1)" ../root.tmp
echo "${kpkg#linux-image-}" > ../root.tmp/kernel-release
rm -rf ../root
mv ../root.tmp ../root
echo "linux-fetch: $kpkg and busybox-static unpacked in $dir/root"
