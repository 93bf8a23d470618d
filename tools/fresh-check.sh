#!/bin/sh
# fresh-check.sh [MAKE-ARGS...]: `make test` on a fresh Debian 12, in a chroot.
#
# Debootstraps a minimal Debian 12 (bookworm, variant minbase) into
# build/fresh/ from the machine's own configured mirror (tools/deb-src.py),
# caches it as build/fresh-base-bookworm.tar.gz, unpacks a pristine copy,
# puts a clean `git clone` of HEAD (not the working tree) in /root/tern, and
# runs there, as root: apt-get install make, then `make test MAKE-ARGS...`.
# E.g. tools/fresh-check.sh PYTEST_ARGS="-k harness" narrows the tests.
#
# The chroot sees what a fresh machine without sound hardware and without
# KVM has: its root as a mount point, /proc, /sys, a fresh /run, and a /dev built here with only the
# basic nodes, its own devpts, /dev/shm and /dev/net/tun (the network lab's
# TAPs); no /dev/snd, no /dev/kvm. The mounts live in a private mount
# namespace (so none can leak onto the host) and are unmounted on exit,
# also on failure. Prints the elapsed time and the result; exits with
# `make test`'s status.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FRESH=$ROOT/build/fresh
CHROOT=$FRESH/root
BASE_TAR=$ROOT/build/fresh-base-bookworm.tar.gz
SUITE=bookworm

say() { echo "fresh-check: $*"; }
die() { echo "error: fresh-check: $*" >&2; exit 1; }

# Mounts under the chroot, deepest first.
mounts_under() { awk -v p="$1" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/mounts | sort -r; }

unmount_all() {
	for m in $(mounts_under "$CHROOT"); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
}

# --- inside the private mount namespace (re-invoked by the outer part) ------
if [ "${1:-}" = "--inside" ]; then
	shift
	trap unmount_all EXIT INT TERM HUP
	# The root must be a mount point, as on a real machine: `ip netns` runs
	# `mount --make-rslave /`, which fails on a plain directory.
	mount --bind "$CHROOT" "$CHROOT"
	mount -t proc proc "$CHROOT/proc"
	mount -t sysfs sysfs "$CHROOT/sys"
	mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$CHROOT/run"
	mount -t tmpfs -o mode=755,nosuid tmpfs "$CHROOT/dev"
	mknod -m 666 "$CHROOT/dev/null" c 1 3
	mknod -m 666 "$CHROOT/dev/zero" c 1 5
	mknod -m 666 "$CHROOT/dev/full" c 1 7
	mknod -m 666 "$CHROOT/dev/random" c 1 8
	mknod -m 666 "$CHROOT/dev/urandom" c 1 9
	mknod -m 666 "$CHROOT/dev/tty" c 5 0
	mkdir -p "$CHROOT/dev/pts" "$CHROOT/dev/shm" "$CHROOT/dev/net"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$CHROOT/dev/pts"
	ln -s pts/ptmx "$CHROOT/dev/ptmx"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$CHROOT/dev/shm"
	mknod -m 666 "$CHROOT/dev/net/tun" c 10 200
	ln -s /proc/self/fd "$CHROOT/dev/fd"
	ln -s /proc/self/fd/0 "$CHROOT/dev/stdin"
	ln -s /proc/self/fd/1 "$CHROOT/dev/stdout"
	ln -s /proc/self/fd/2 "$CHROOT/dev/stderr"
	cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
	status=0
	chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		TERM=dumb LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
		/bin/sh -c 'cd /root/tern && apt-get update -q && apt-get install -y -q make >/dev/null &&
			exec make test "$@"' fresh-check "$@" || status=$?
	exit $status
fi

# --- outside: prepare the pristine root, then run it ------------------------
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot, mounts)"
start=$(date +%s)
report() {
	status=$?
	unmount_all  # nothing should be left (private namespace); checked anyway
	left=$(mounts_under "$CHROOT")
	[ -z "$left" ] || echo "error: fresh-check: still mounted: $left" >&2
	t=$(( $(date +%s) - start ))
	if [ "$status" = 0 ]; then r="PASSED"; else r="FAILED (status $status)"; fi
	say "make test in a fresh Debian 12: $r after $((t / 60)) min $((t % 60)) s"
	exit $status
}
trap report EXIT
trap 'exit 130' INT TERM HUP

for tool in git python3 unshare chroot; do
	command -v $tool >/dev/null || die "$tool is missing"
done
if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap"
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

if [ ! -f "$BASE_TAR" ]; then
	mirror=${FRESH_MIRROR:-$(python3 "$ROOT/tools/deb-src.py" --mirror $SUITE)} ||
		die "no mirror for $SUITE in /etc/apt (set FRESH_MIRROR)"
	say "debootstrap $SUITE from $mirror (once; cached as $BASE_TAR)"
	[ -z "$(mounts_under "$FRESH")" ] || die "something is mounted under $FRESH"
	rm -rf "$FRESH/base"
	mkdir -p "$FRESH"
	debootstrap --variant=minbase $SUITE "$FRESH/base" "$mirror" >"$FRESH/debootstrap.log" 2>&1 ||
		{ tail -20 "$FRESH/debootstrap.log" >&2; die "debootstrap failed (log: $FRESH/debootstrap.log)"; }
	tar -C "$FRESH/base" -czf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
	rm -rf "$FRESH/base"
fi

# Never remove a tree something is mounted in (it could be the host's /dev).
[ -z "$(mounts_under "$CHROOT")" ] || die "something is mounted under $CHROOT"
rm -rf "$CHROOT"
mkdir -p "$CHROOT"
tar -C "$CHROOT" -xzf "$BASE_TAR"
git clone -q "$ROOT" "$CHROOT/root/tern"
say "$(git -C "$CHROOT/root/tern" log --oneline -1) in $CHROOT; make test $*"

unshare --mount --propagation private "$0" --inside "$@"
