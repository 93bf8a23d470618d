# storage/: the volume table on the host's NVMe disk and the `disk`
# commands (the NVMe driver itself is drivers/nvme.c, built with drivers/).
# Kernel objects, and the host unit tests (cmocka) of the table on a RAM disk.

STORAGE_SRCS := $(wildcard storage/*.c)
STORAGE_KERNEL_OBJS := $(call kobj,$(STORAGE_SRCS))
KERNEL_EXTRA_OBJS += $(STORAGE_KERNEL_OBJS)

# --- host unit tests ---------------------------------------------------------
# The table code only (no console, no driver): storage/voltab.c and its
# checksum, against a RAM-backed struct blkdev in the test itself.
STORAGE_UNIT := $(BUILD)/tests/unit/storage
STORAGE_TESTS := $(STORAGE_UNIT)/test_voltab
UNIT_TESTS += $(STORAGE_TESTS)

$(STORAGE_UNIT)/test_voltab: tests/unit/storage/test_voltab.c storage/voltab.c storage/crc32c.c \
		storage/voltab.h storage/crc32c.h drivers/blkdev.h migrate/le.h mk/storage.mk
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# The NVMe driver against a fake controller that acts whenever the driver
# reads the clock (tests/unit/storage/fake_nvme.h): bring-up, PRPs,
# splitting, errors, timeouts and the reset that recovers from them.
STORAGE_TESTS += $(STORAGE_UNIT)/test_nvme
UNIT_TESTS += $(STORAGE_UNIT)/test_nvme

$(STORAGE_UNIT)/test_nvme: tests/unit/storage/test_nvme.c tests/unit/storage/fake_nvme.c \
		drivers/nvme.c tests/unit/log_stub.c tests/unit/storage/fake_nvme.h drivers/nvme.h \
		drivers/nvme_regs.h drivers/blkdev.h mk/storage.mk
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)
