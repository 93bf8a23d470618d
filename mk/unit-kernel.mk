# Host unit tests of the kernel's arch-neutral code (console, allocator,
# the guests' PCI bus, virtio-net and virtio-blk).
KUNIT := $(BUILD)/tests/unit/kernel
UNIT_TESTS += $(KUNIT)/test_line $(KUNIT)/test_cmd $(KUNIT)/test_frame $(KUNIT)/test_virtio_net \
	$(KUNIT)/test_virtio_net_state $(KUNIT)/test_uart $(KUNIT)/test_log_limit

$(KUNIT)/test_line: tests/unit/kernel/test_line.c kernel/console/line.c kernel/console/line.h
$(KUNIT)/test_cmd: tests/unit/kernel/test_cmd.c kernel/console/cmd.c kernel/kprintf.c tests/unit/kernel/stubs.c
$(KUNIT)/test_frame: tests/unit/kernel/test_frame.c kernel/mm/frame.c kernel/mm/frame.h
# Both virtio-net tests share one harness (tests/unit/kernel/vnet_harness.h).
VNET_TEST_DEPS := tests/unit/kernel/vnet_harness.c tests/unit/kernel/vnet_harness.h \
	kernel/vdev/pci.c kernel/vdev/virtqueue.c kernel/vdev/msix.c kernel/vdev/virtio_pci.c \
	kernel/vdev/virtio_net.c net/vswitch.c tests/unit/log_stub.c tests/unit/announce_stub.c \
	$(wildcard kernel/vdev/*.h) kernel/vm.h kernel/vm_irq.h net/vswitch.h
$(KUNIT)/test_virtio_net: tests/unit/kernel/test_virtio_net.c $(VNET_TEST_DEPS)
$(KUNIT)/test_virtio_net_state: tests/unit/kernel/test_virtio_net_state.c $(VNET_TEST_DEPS)

# virtio-blk over a RAM-backed block device: both tests share one harness
# (tests/unit/kernel/vblk_harness.h).
UNIT_TESTS += $(KUNIT)/test_virtio_blk $(KUNIT)/test_virtio_blk_state
VBLK_TEST_DEPS := tests/unit/kernel/vblk_harness.c \
	tests/unit/kernel/vblk_harness.h kernel/vdev/pci.c kernel/vdev/virtqueue.c kernel/vdev/msix.c \
	kernel/vdev/virtio_pci.c kernel/vdev/virtio_blk.c tests/unit/log_stub.c \
	$(wildcard kernel/vdev/*.h) kernel/vm.h kernel/vm_irq.h drivers/blkdev.h
$(KUNIT)/test_virtio_blk: tests/unit/kernel/test_virtio_blk.c $(VBLK_TEST_DEPS)
$(KUNIT)/test_virtio_blk_state: tests/unit/kernel/test_virtio_blk_state.c $(VBLK_TEST_DEPS)

$(KUNIT)/test_uart: tests/unit/kernel/test_uart.c kernel/vdev/uart.c kernel/vdev/uart.h

# Console input to an attached guest: held, not dropped, when it is full.
UNIT_TESTS += $(KUNIT)/test_console_hold
$(KUNIT)/test_console_hold: tests/unit/kernel/test_console_hold.c kernel/console/console.c \
	kernel/console/line.c kernel/console/console.h kernel/console/line.h

# The guests' CMOS clock and the power ports.
UNIT_TESTS += $(KUNIT)/test_rtc
$(KUNIT)/test_rtc: tests/unit/kernel/test_rtc.c kernel/vdev/rtc.c kernel/vdev/rtc.h migrate/le.h
UNIT_TESTS += $(KUNIT)/test_power
$(KUNIT)/test_power: tests/unit/kernel/test_power.c kernel/vdev/power.c kernel/vdev/power.h

$(KUNIT)/test_log_limit: tests/unit/kernel/test_log_limit.c kernel/log_limit.c kernel/log_limit.h

# The VM dirty log (guest and device writes) that `vm dirty` and migration share.
UNIT_TESTS += $(KUNIT)/test_vm_dirty
$(KUNIT)/test_vm_dirty: tests/unit/kernel/test_vm_dirty.c kernel/vm_dirty.c kernel/vm_dirty.h kernel/vm.h

# Linux guests: the ACPI tables Tern writes and the boot-protocol loader.
UNIT_TESTS += $(KUNIT)/test_acpi_tables $(KUNIT)/test_vm_load_linux
$(KUNIT)/test_acpi_tables: tests/unit/kernel/test_acpi_tables.c kernel/vdev/acpi_tables.c \
	kernel/vdev/acpi_tables.h kernel/vdev/uart.h kernel/vdev/vioapic.h
$(KUNIT)/test_vm_load_linux: tests/unit/kernel/test_vm_load_linux.c kernel/vm_load_linux.c \
	kernel/vdev/acpi_tables.c arch/x86/vcpu_state_check.c arch/x86/guest_policy.c kernel/vm_load.h \
	kernel/vdev/acpi_tables.h kernel/vm.h

# The guest local APIC (x2APIC/xAPIC, TSC-deadline timer, MSI, migration).
UNIT_TESTS += $(KUNIT)/test_vlapic
$(KUNIT)/test_vlapic: tests/unit/kernel/test_vlapic.c kernel/vdev/vlapic.c kernel/vdev/vlapic_state.c \
	kernel/vdev/vlapic.h kernel/vdev/vlapic_regs.h

# The guest I/O APIC, and the UART's line through it.
UNIT_TESTS += $(KUNIT)/test_vioapic
$(KUNIT)/test_vioapic: tests/unit/kernel/test_vioapic.c kernel/vdev/vioapic.c kernel/vdev/uart.c \
	kernel/vdev/vioapic.h kernel/vdev/uart.h migrate/le.h

$(KUNIT)/%: | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# Where guest MMIO goes (xAPIC page, PCI BARs), against recording fakes.
UNIT_TESTS += $(KUNIT)/test_vm_mmio
$(KUNIT)/test_vm_mmio: tests/unit/kernel/test_vm_mmio.c kernel/vm_mmio.c kernel/vm_mmio.h kernel/vm.h \
	kernel/vdev/vlapic.h kernel/vdev/vioapic.h kernel/vm_irq.h

# The Prometheus text writer behind /metrics.
UNIT_TESTS += $(KUNIT)/test_metrics_text
$(KUNIT)/test_metrics_text: tests/unit/kernel/test_metrics_text.c kernel/metrics_text.c \
	kernel/metrics_text.h
