# The Linux guest image (guest/linux/README.md): Debian 12's cloud kernel
# and busybox-static, fetched as .deb files by tools/linux-fetch.sh (once:
# cached in build/linux/deb), and an initramfs made by tools/mkinitramfs.sh.
# Both are boot modules: `linux` (the bzImage) and `linux-initrd`.

LINUX_DIR  := $(BUILD)/linux
LINUX_ROOT := $(LINUX_DIR)/root
LINUX_UNPACKED := $(LINUX_ROOT)/kernel-release

# Static programs for the guest (host gcc, glibc's libc.a); the same
# binaries run on the host, where the tests use them.
LINUX_PROGRAMS := $(LINUX_DIR)/bin/memverify $(LINUX_DIR)/bin/tcpseq $(LINUX_DIR)/bin/sntp
LINUX_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -static

$(LINUX_DIR)/bin/%: guest/linux/%.c mk/linux-guest.mk | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)gcc $(LINUX_CFLAGS) -o $@ $<

# Order-only on the package stamp: a change to the package list must not
# fetch the kernel again.
$(LINUX_UNPACKED): tools/linux-fetch.sh | $(DEPS_STAMP)
	@echo "  FETCH   $(LINUX_DIR)"
	$(Q)tools/linux-fetch.sh $(LINUX_DIR)

$(LINUX_DIR)/linux: $(LINUX_UNPACKED)
	@echo "  KERNEL  $@"
	$(Q)cp $(LINUX_ROOT)/boot/vmlinuz-$$(cat $(LINUX_UNPACKED)) $@

$(LINUX_DIR)/linux-initrd: $(LINUX_UNPACKED) tools/mkinitramfs.sh guest/linux/init \
		guest/linux/udhcpc.script $(LINUX_PROGRAMS)
	@echo "  INITRD  $@"
	$(Q)tools/mkinitramfs.sh $@ $(LINUX_ROOT) guest/linux/init guest/linux/udhcpc.script \
		$(LINUX_PROGRAMS)

GUEST_MODULES += $(LINUX_DIR)/linux $(LINUX_DIR)/linux-initrd
INTEGRATION_DEPS += $(LINUX_DIR)/linux $(LINUX_DIR)/linux-initrd $(LINUX_PROGRAMS)

.PHONY: linux-guest
linux-guest: $(LINUX_DIR)/linux $(LINUX_DIR)/linux-initrd $(LINUX_PROGRAMS)
