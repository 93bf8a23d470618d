# The Tern kernel: one set of objects, linked twice.
#   build/tern.efi   UEFI application (gnu-efi, PE32+, self-relocating)
#   build/tern.elf   Multiboot2 image for GRUB on legacy BIOS (Bochs), packed in build/tern.iso
# Every object is built -fpic so the same .o files serve both links.

# V=1 shows full commands.
Q := $(if $(V),,@)
GCC_INC := $(shell gcc -print-file-name=include 2>/dev/null)
LIBGCC  := $(shell gcc -print-libgcc-file-name 2>/dev/null)
GIT_DESCRIBE := $(shell git describe --always --dirty --tags 2>/dev/null || echo unknown)
TERN_VERSION := 0.1.0

KERNEL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-builtin-printf \
	-fno-stack-protector -fpic -fvisibility=hidden -mno-red-zone -fno-omit-frame-pointer \
	-fno-strict-aliasing -fno-common -nostdinc -isystem $(NEWLIB_DIR)/include -isystem $(GCC_INC) \
	-I. -DTERN_KERNEL
EFI_CFLAGS := -I/usr/include/efi -I/usr/include/efi/x86_64 -fshort-wchar -DGNU_EFI_USE_MS_ABI

# Sources shared by both links; the boot/ folders hold what differs.
KERNEL_SRCS := $(wildcard arch/x86/*.c arch/x86/*.S arch/x86/vmx/*.c arch/x86/vmx/*.S arch/x86/svm/*.c arch/x86/svm/*.S \
	kernel/*.c kernel/*/*.c drivers/*.c drivers/*/*.c)
EFI_SRCS := $(wildcard arch/x86/boot/efi/*.c)
MB2_SRCS := $(wildcard arch/x86/boot/multiboot2/*.S arch/x86/boot/multiboot2/*.c)
# Subsystems (net/, migrate/) append their kernel objects and libraries here.
KERNEL_EXTRA_OBJS ?=
KERNEL_LIBS ?=

kobj = $(patsubst %,$(BUILD)/k/%.o,$(basename $(1)))
KERNEL_OBJS := $(call kobj,$(KERNEL_SRCS))
EFI_OBJS := $(call kobj,$(EFI_SRCS))
MB2_OBJS := $(call kobj,$(MB2_SRCS))

$(BUILD)/k/%.o: %.c $(NEWLIB_LIBC) mk/kernel.mk
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)gcc $(KERNEL_CFLAGS) $(if $(findstring boot/efi,$<),$(EFI_CFLAGS)) -MMD -MP -c $< -o $@

$(BUILD)/k/%.o: %.S $(NEWLIB_LIBC) mk/kernel.mk
	@mkdir -p $(@D)
	@echo "  AS      $<"
	$(Q)gcc $(KERNEL_CFLAGS) -D__ASSEMBLY__ -MMD -MP -c $< -o $@

# The version string changes with every commit; keep it in its own object.
$(BUILD)/k/version.o: FORCE $(NEWLIB_LIBC)
	@mkdir -p $(@D)
	@echo 'const char tern_version[] = "$(TERN_VERSION)"; const char tern_git[] = "$(GIT_DESCRIBE)"; const char tern_build_date[] = "'"$$(date -u +%Y-%m-%d)"'";' > $(BUILD)/k/version.c.new
	@cmp -s $(BUILD)/k/version.c.new $(BUILD)/k/version.c || mv $(BUILD)/k/version.c.new $(BUILD)/k/version.c
	$(Q)gcc $(KERNEL_CFLAGS) -c $(BUILD)/k/version.c -o $@
.PHONY: FORCE

-include $(shell find $(BUILD)/k -name '*.d' 2>/dev/null)
