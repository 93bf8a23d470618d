# Test guests (guest/): small 64-bit Multiboot v1 images that both Tern and
# `qemu-system-x86_64 -kernel` boot. Each guest/<name>/ is linked with
# guest/common/ at 1 MiB as x86-64, then converted to an ELF32 container,
# because Multiboot v1 loaders (QEMU's included) refuse an x86-64 ELF. The
# 32-bit entry in guest/common/entry.S switches to long mode itself.
# Host gcc and binutils only; no libc.

GUESTS := memcheck netecho hostile cpuprobe irqtest
# Sources a guest borrows from another (hostile drives virtio-net with
# netecho's driver).
GUEST_EXTRA_hostile := guest/netecho/pci.c guest/netecho/virtio.c

GUEST_GCC_INC := $(shell gcc -print-file-name=include 2>/dev/null)
# -mgeneral-regs-only: no SSE state is set up. -fno-tree-loop-distribute-patterns:
# keeps GCC from turning common/string.c's loops into calls to themselves.
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-builtin \
	-fno-pic -fno-pie -mcmodel=small -mno-red-zone -mgeneral-regs-only \
	-fno-stack-protector -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	-fno-tree-loop-distribute-patterns -nostdinc -isystem $(GUEST_GCC_INC) -I. -Iguest
GUEST_LDFLAGS := -nostdlib -static -no-pie --build-id=none -z max-page-size=0x1000 \
	-z noexecstack -T guest/common/link.ld

GUEST_COMMON_SRCS := $(wildcard guest/common/*.c guest/common/*.S)
gobj = $(patsubst guest/%,$(BUILD)/guest/obj/%.o,$(basename $(1)))

$(BUILD)/guest/obj/%.o: guest/%.c mk/guest.mk
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)gcc $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/guest/obj/%.o: guest/%.S mk/guest.mk
	@mkdir -p $(@D)
	@echo "  AS      $<"
	$(Q)gcc $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

# $(1): guest name. The x86-64 link keeps its debug info for gdb
# (build/guest/obj/NAME.elf64); the ELF32 image is the boot module.
define guest_image
$(BUILD)/guest/obj/$(1).elf64: $$(call gobj,$$(GUEST_COMMON_SRCS) $$(wildcard guest/$(1)/*.c guest/$(1)/*.S) $$(GUEST_EXTRA_$(1))) guest/common/link.ld
	@mkdir -p $$(@D)
	@echo "  LD      $$@"
	$$(Q)ld $$(GUEST_LDFLAGS) -o $$@ $$(filter %.o,$$^)

$(BUILD)/guest/$(1).elf: $(BUILD)/guest/obj/$(1).elf64
	@echo "  ELF32   $$@"
	$$(Q)objcopy -O elf32-i386 --strip-debug $$< $$@

GUEST_MODULES += $(BUILD)/guest/$(1).elf
INTEGRATION_DEPS += $(BUILD)/guest/$(1).elf
endef
$(foreach g,$(GUESTS),$(eval $(call guest_image,$(g))))

.PHONY: guests
guests: $(foreach g,$(GUESTS),$(BUILD)/guest/$(g).elf)

-include $(shell find $(BUILD)/guest/obj -name '*.d' 2>/dev/null)
