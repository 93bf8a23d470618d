#!/bin/sh
# mkinitramfs.sh OUT.cpio.gz ROOT INIT UDHCPC_SCRIPT [PROGRAM...]
# The Linux guest's initramfs (cpio newc, gzip), from ROOT (unpacked by
# tools/linux-fetch.sh): ROOT/bin/busybox, the kernel's own modules listed
# in MODULES below with every module they depend on, INIT as /init, the
# udhcpc script, and each PROGRAM in /bin. The load order is derived from
# each module's depends= (its .modinfo section) and written, one path a
# line, to /lib/modules/load-order, which /init reads.
# Built with busybox's own cpio (-R 0:0: every file owned by root), so no
# root privileges or device nodes are needed: the kernel's built-in
# initramfs already provides /dev/console.
set -eu
MODULES="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
failover net_failover virtio_net virtio_blk pvpanic pvpanic-mmio"

out=$1 root=$2 init=$3 udhcpc=$4
shift 4
busybox=$(cd "$root" && pwd)/bin/busybox
kver=$(cat "$root/kernel-release")
mdir=$root/lib/modules/$kver
[ -x "$busybox" ] || { echo "error: mkinitramfs: no $busybox" >&2; exit 1; }
[ -d "$mdir" ] || { echo "error: mkinitramfs: no $mdir" >&2; exit 1; }

# Module names use '_' where file names may use '-' (pvpanic-mmio.ko is
# module pvpanic_mmio); compare them with '-' folded to '_'.
modfile() {
	awk -v n="$(echo "$1" | tr - _)" '$1 == n { print $2; exit }' "$index"
}
# A .modinfo section is NUL-separated key=value strings (no kmod needed).
moddeps() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout |
		tr '\0' '\n' | sed -n 's/^depends=//p' | tr , ' '
}

tmp=$out.d
rm -rf "$tmp"
mkdir -p "$tmp/bin" "$tmp/sbin" "$tmp/usr/bin" "$tmp/usr/sbin" "$tmp/etc/udhcpc" \
	"$tmp/lib/modules" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/tmp" "$tmp/www" "$tmp/root"
# "name path" for every module of the kernel, indexed once.
index=$tmp.index
find "$mdir/kernel" -name '*.ko' | awk '{ n = $0; sub(".*/", "", n); sub("\\.ko$", "", n);
	gsub("-", "_", n); print n, $0 }' > "$index"
order=$tmp/lib/modules/load-order
: > "$order"

# Depth first: a module's dependencies are written before it.
# `local` (dash, busybox sh): add recurses.
add() {
	local n f rel d
	n=$(echo "$1" | tr - _)
	grep -q "/$n\.ko\$" "$order.names" 2>/dev/null && return 0
	f=$(modfile "$1")
	[ -n "$f" ] || { echo "error: mkinitramfs: module $1 not in $mdir" >&2; exit 1; }
	for d in $(moddeps "$f"); do
		add "$d"
	done
	rel=${f#"$mdir"/}
	if ! grep -qx "$rel" "$order"; then
		mkdir -p "$tmp/lib/modules/$(dirname "$rel")"
		cp "$f" "$tmp/lib/modules/$rel"
		echo "$rel" >> "$order"
		echo "/$n.ko" >> "$order.names"
	fi
}
for m in $MODULES; do
	add "$m"
done
rm -f "$order.names" "$index"

cp "$busybox" "$tmp/bin/busybox"
ln -s busybox "$tmp/bin/sh"
cp "$init" "$tmp/init"
chmod 755 "$tmp/init"
cp "$udhcpc" "$tmp/etc/udhcpc/default.script"
chmod 755 "$tmp/etc/udhcpc/default.script"
for p in "$@"; do
	cp "$p" "$tmp/bin/"
done

# Absolute path for the archive: cpio runs inside the tree.
case $out in /*) abs=$out ;; *) abs=$PWD/$out ;; esac
(cd "$tmp" && find . | sort | "$busybox" cpio -o -H newc -R 0:0) | gzip -9n > "$abs.tmp"
rm -rf "$tmp"
mv "$abs.tmp" "$abs"
