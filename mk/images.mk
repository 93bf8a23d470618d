# Links and boot images; included last so subsystem fragments have added
# their objects, libraries and guest modules.

LINK_LIBS = $(KERNEL_LIBS) $(NEWLIB_DIR)/lib/libc.a $(LIBGCC)

$(BUILD)/tern.so: $(EFI_OBJS) $(KERNEL_OBJS) $(KERNEL_EXTRA_OBJS) $(BUILD)/k/version.o $(KERNEL_LIBS)
	@echo "  LD      $@"
	$(Q)ld -nostdlib -z noexecstack -znocombreloc -T /usr/lib/elf_x86_64_efi.lds -shared -Bsymbolic -o $@ \
		/usr/lib/crt0-efi-x86_64.o $(filter %.o,$^) --start-group $(LINK_LIBS) /usr/lib/libgnuefi.a --end-group

$(BUILD)/tern.efi: $(BUILD)/tern.so
	@echo "  EFI     $@"
	$(Q)objcopy -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela -j '.rel.*' \
		-j '.rela.*' -j .reloc --target efi-app-x86_64 --subsystem=10 $< $@

$(BUILD)/tern.elf: $(MB2_OBJS) $(KERNEL_OBJS) $(KERNEL_EXTRA_OBJS) $(BUILD)/k/version.o $(KERNEL_LIBS) arch/x86/boot/multiboot2/link.ld
	@echo "  LD      $@"
	$(Q)ld -nostdlib -z noexecstack -static -z max-page-size=0x1000 -T arch/x86/boot/multiboot2/link.ld -o $@ \
		$(filter %.o,$^) --start-group $(LINK_LIBS) --end-group

# Guest images (boot modules) that every Tern image carries; guest/*.mk append.
GUEST_MODULES ?=

# The ESP: EFI/BOOT/BOOTX64.EFI plus the guest modules under /tern/modules.
$(BUILD)/esp.img: $(BUILD)/tern.efi $(GUEST_MODULES) tools/mkesp.sh
	@echo "  ESP     $@"
	$(Q)tools/mkesp.sh $@ $(BUILD)/tern.efi "" $(GUEST_MODULES)

$(BUILD)/tern.iso: $(BUILD)/tern.elf $(GUEST_MODULES) tools/mkiso.sh
	@echo "  ISO     $@"
	$(Q)tools/mkiso.sh $@ $(BUILD)/tern.elf "" $(GUEST_MODULES)

KERNEL_IMAGES := $(BUILD)/tern.efi $(BUILD)/esp.img $(BUILD)/tern.elf $(BUILD)/tern.iso

