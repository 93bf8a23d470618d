# --- fuzzing the guest-facing port space ---------------------------------------
# One libFuzzer target per device a guest reaches by port I/O (see
# tests/fuzz/fuzz_ports.c): pci, virtio, uart. Each gets a bounded run in
# `make unit` like the migration receiver's; tools/benches/fuzz.py runs them
# (and fuzz_recv) for 10^6 executions each in `make bench`.
VDEV_FUZZ_DIR := $(BUILD)/tests/fuzz
VDEV_FUZZ_TARGETS := pci virtio uart
VDEV_FUZZ_RUNS ?= 100000
VDEV_FUZZ_SECONDS ?= 20
VDEV_FUZZ_SRCS := tests/fuzz/fuzz_ports.c kernel/vdev/pci.c kernel/vdev/msix.c kernel/vdev/virtio_pci.c \
	kernel/vdev/virtqueue.c kernel/vdev/virtio_net.c kernel/vdev/uart.c net/vswitch.c \
	tests/unit/log_stub.c tests/unit/announce_stub.c
VDEV_FUZZ_HDRS := $(wildcard kernel/vdev/*.h) kernel/vm.h kernel/log.h net/vswitch.h \
	net/guest_port.h

vdev_fuzz_id = $(if $(filter pci,$(1)),1,$(if $(filter virtio,$(1)),2,3))

$(VDEV_FUZZ_DIR)/fuzz_%: $(VDEV_FUZZ_SRCS) $(VDEV_FUZZ_HDRS) mk/fuzz-vdev.mk
	@mkdir -p $(@D)
	@echo "  CLANG   $@"
	$(Q)clang $(MIG_FUZZ_FLAGS) -DFUZZ_TARGET=$(call vdev_fuzz_id,$*) -o $@ $(VDEV_FUZZ_SRCS)

$(VDEV_FUZZ_DIR)/seeds-%/.stamp: tests/fuzz/gen_port_seeds.py
	rm -rf $(@D) && mkdir -p $(@D)
	python3 $< $* $(@D)
	@touch $@

$(VDEV_FUZZ_DIR)/run-fuzz-%: tests/fuzz/run-fuzz.sh $(VDEV_FUZZ_DIR)/fuzz_% $(VDEV_FUZZ_DIR)/seeds-%/.stamp
	@printf '#!/bin/sh\nFUZZ_MAX_LEN=4096 FUZZ_FLAGS=-use_value_profile=1 exec %s %s %s %s %s %s %s\n' "$(abspath tests/fuzz/run-fuzz.sh)" \
		"$(abspath $(VDEV_FUZZ_DIR)/fuzz_$*)" "$(abspath $(VDEV_FUZZ_DIR)/seeds-$*)" \
		"$(abspath $(VDEV_FUZZ_DIR)/work-$*)" $(VDEV_FUZZ_RUNS) $(VDEV_FUZZ_SECONDS) fuzz_$* > $@
	@chmod +x $@

.PRECIOUS: $(VDEV_FUZZ_DIR)/fuzz_% $(VDEV_FUZZ_DIR)/seeds-%/.stamp

UNIT_TESTS += $(foreach t,$(VDEV_FUZZ_TARGETS),$(VDEV_FUZZ_DIR)/run-fuzz-$(t))

.PHONY: fuzz-vdev
# The targets are built for the bench too; nothing else to run by hand than
#   build/tests/fuzz/run-fuzz-pci (etc.), or make fuzz-vdev VDEV_FUZZ_SECONDS=600 VDEV_FUZZ_RUNS=0
fuzz-vdev: $(foreach t,$(VDEV_FUZZ_TARGETS),$(VDEV_FUZZ_DIR)/run-fuzz-$(t))
	set -e; for t in $(VDEV_FUZZ_TARGETS); do $(VDEV_FUZZ_DIR)/run-fuzz-$$t; done
