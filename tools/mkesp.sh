#!/bin/sh
# mkesp.sh OUT.img TERN.efi "CMDLINE" [MODULE...]
# A FAT ESP image (no partition table; OVMF boots it as removable media):
#   /EFI/BOOT/BOOTX64.EFI   Tern
#   /tern/cmdline.txt       boot command line (if not empty)
#   /tern/modules/*         guest images, named by file name
set -eu
out=$1 efi=$2 cmdline=$3
shift 3
kib=$(du -k -c "$efi" "$@" | tail -1 | cut -f1)
kib=$(( (kib + 4096) / 1024 * 1024 + 8192 ))
tmp=$out.tmp
rm -f "$tmp"
dd if=/dev/zero of="$tmp" bs=1024 count="$kib" status=none
mformat -i "$tmp" -v TERNESP ::
mmd -i "$tmp" ::/EFI ::/EFI/BOOT ::/tern ::/tern/modules
mcopy -i "$tmp" "$efi" ::/EFI/BOOT/BOOTX64.EFI
if [ -n "$cmdline" ]; then
	printf '%s\n' "$cmdline" > "$tmp.cmdline"
	mcopy -i "$tmp" "$tmp.cmdline" ::/tern/cmdline.txt
	rm -f "$tmp.cmdline"
fi
for m in "$@"; do
	mcopy -i "$tmp" "$m" ::/tern/modules/
done
mv "$tmp" "$out"
