#!/bin/sh
# mkiso.sh OUT.iso TERN.elf "CMDLINE" [MODULE...]
# A GRUB (legacy BIOS) rescue ISO that boots Tern through Multiboot2 with
# each guest image as a module named by its file name.
set -eu
out=$1 elf=$2 cmdline=$3
shift 3
dir=$out.d
rm -rf "$dir"
mkdir -p "$dir/boot/grub" "$dir/boot/modules"
cp "$elf" "$dir/boot/tern.elf"
{
	echo 'set timeout=0'
	echo 'set default=0'
	echo 'menuentry "Tern" {'
	echo "  multiboot2 /boot/tern.elf $cmdline"
	for m in "$@"; do
		name=$(basename "$m")
		cp "$m" "$dir/boot/modules/$name"
		echo "  module2 /boot/modules/$name ${name%%.*}"
	done
	echo '  boot'
	echo '}'
} > "$dir/boot/grub/grub.cfg"
grub-mkrescue -o "$out.tmp" "$dir" >"$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
rm -rf "$dir" "$dir.log"
# The module list, so a copy with another command line (tools/machine.py)
# carries the same guests.
printf '%s\n' "$@" > "$out.modules"
mv "$out.tmp" "$out"
