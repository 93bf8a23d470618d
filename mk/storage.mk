# storage/: the volume table on the host's NVMe disk and the `disk`
# commands (the NVMe driver itself is drivers/nvme.c, built with drivers/).
# Kernel objects, and the host unit tests (cmocka) of the table on a RAM disk.

STORAGE_SRCS := $(wildcard storage/*.c)
STORAGE_KERNEL_OBJS := $(call kobj,$(STORAGE_SRCS))
KERNEL_EXTRA_OBJS += $(STORAGE_KERNEL_OBJS)

# --- host unit tests ---------------------------------------------------------
# The table code only (no console, no driver): storage/voltab*.c and its
# checksum, against a RAM-backed struct blkdev in the test itself.
STORAGE_UNIT := $(BUILD)/tests/unit/storage
STORAGE_TESTS := $(STORAGE_UNIT)/test_voltab
UNIT_TESTS += $(STORAGE_TESTS)

VOLTAB_TEST_DEPS := storage/voltab.c storage/voltab_codec.c storage/voltab_bitmap.c \
	storage/bitmap.c storage/crc32c.c tests/unit/storage/voltab_fixture.c \
	tests/unit/storage/voltab_fixture.h storage/voltab_private.h storage/voltab.h storage/bitmap.h \
	storage/crc32c.h drivers/blkdev.h migrate/le.h mk/storage.mk
STORAGE_TESTS += $(STORAGE_UNIT)/test_voltab_bitmaps
UNIT_TESTS += $(STORAGE_UNIT)/test_voltab_bitmaps

$(STORAGE_UNIT)/test_voltab $(STORAGE_UNIT)/test_voltab_bitmaps: $(STORAGE_UNIT)/%: \
		tests/unit/storage/%.c $(VOLTAB_TEST_DEPS)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# Dirty block bitmaps in memory: marking at every granularity, runs.
STORAGE_TESTS += $(STORAGE_UNIT)/test_bitmap
UNIT_TESTS += $(STORAGE_UNIT)/test_bitmap

$(STORAGE_UNIT)/test_bitmap: tests/unit/storage/test_bitmap.c storage/bitmap.c storage/bitmap.h \
		mk/storage.mk
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

# `disk import` fetches over net/http_fetch.c; it and `disk sha256` hash
# with the kernel's mbedTLS (the flags image_store.c gets in mk/net.mk).
STORAGE_MBEDTLS_OBJS := $(call kobj,storage/disk_import.c storage/disk_hash.c storage/vol_hash.c)
$(STORAGE_MBEDTLS_OBJS): private KERNEL_CFLAGS += $(NET_LWIP_CFLAGS)
$(STORAGE_MBEDTLS_OBJS): $(NET_CONFIG) | $(LWIP_DIR)/.unpacked $(MBEDTLS_DIR)/.unpacked

# The streaming writer of `disk import` and the chunked hash of `disk
# sha256` on a RAM disk: odd piece sizes, bodies that end mid-block, a
# body longer than the volume, device errors; the hash against the host's
# libmbedcrypto (the same mbedTLS release the kernel builds).
STORAGE_TESTS += $(STORAGE_UNIT)/test_vol_stream
UNIT_TESTS += $(STORAGE_UNIT)/test_vol_stream

$(STORAGE_UNIT)/test_vol_stream: tests/unit/storage/test_vol_stream.c storage/vol_stream.c \
		storage/vol_hash.c tests/unit/storage/ramdisk.c storage/vol_stream.h storage/vol_hash.h \
		tests/unit/storage/ramdisk.h drivers/blkdev.h mk/storage.mk
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS) -lmbedcrypto

# Clones: bases and clones in the table, and a clone's view over its base
# (copy on first write, the map written after the data at a flush), on a
# RAM disk backed whole.
STORAGE_TESTS += $(STORAGE_UNIT)/test_vol_clone
UNIT_TESTS += $(STORAGE_UNIT)/test_vol_clone

$(STORAGE_UNIT)/test_vol_clone: tests/unit/storage/test_vol_clone.c storage/vol_clone.c \
		tests/unit/storage/ramdisk.c tests/unit/storage/ramdisk.h storage/voltab_clone.c \
		storage/voltab_private.h storage/voltab.c storage/voltab_codec.c storage/voltab_bitmap.c \
		storage/bitmap.c storage/crc32c.c \
		storage/vol_clone.h storage/voltab.h storage/bitmap.h drivers/blkdev.h migrate/le.h \
		mk/storage.mk
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)
