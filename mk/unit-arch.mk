# Host unit tests of the guest-CPU rules both backends share
# (arch/x86/guest_policy.c, arch/x86/vcpu_state_check.c): the checker
# against a table of hostile vCPU blobs, the MSR/EFER/CR policy.
AUNIT := $(BUILD)/tests/unit/arch
UNIT_TESTS += $(AUNIT)/test_vcpu_state_check

$(AUNIT)/test_vcpu_state_check: tests/unit/arch/test_vcpu_state_check.c \
	arch/x86/vcpu_state_check.c arch/x86/vcpu_state_check.h arch/x86/guest_policy.c \
	arch/x86/guest_policy.h kernel/hv.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# The guest's TSC at a rate not the host's (pool guests).
UNIT_TESTS += $(AUNIT)/test_guest_tsc
$(AUNIT)/test_guest_tsc: tests/unit/arch/test_guest_tsc.c arch/x86/guest_tsc.c arch/x86/guest_tsc.h \
	kernel/hv.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

UNIT_TESTS += $(AUNIT)/test_guest_walk
$(AUNIT)/test_guest_walk: tests/unit/arch/test_guest_walk.c arch/x86/guest_walk.c \
	arch/x86/guest_walk.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# The guest-MMIO instruction decoder against a table of encodings.
UNIT_TESTS += $(AUNIT)/test_mmio_decode
$(AUNIT)/test_mmio_decode: tests/unit/arch/test_mmio_decode.c arch/x86/mmio_decode.c \
	arch/x86/mmio_decode.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# Guest MMIO emulation (fetch, decode, device access, write-back) against
# a fake guest memory and device.
UNIT_TESTS += $(AUNIT)/test_mmio_emulate
$(AUNIT)/test_mmio_emulate: tests/unit/arch/test_mmio_emulate.c arch/x86/mmio_emulate.c \
	arch/x86/mmio_emulate.h arch/x86/mmio_decode.c arch/x86/mmio_decode.h \
	arch/x86/guest_walk.c arch/x86/guest_walk.h kernel/vm.h kernel/vm_mmio.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

UNIT_TESTS += $(AUNIT)/test_guest_intr
$(AUNIT)/test_guest_intr: tests/unit/arch/test_guest_intr.c arch/x86/guest_intr.c \
	arch/x86/guest_intr.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# The ACPI PM timer wrap arithmetic of the TSC refinement (arch/x86/tsc.h).
UNIT_TESTS += $(AUNIT)/test_tsc_refine
$(AUNIT)/test_tsc_refine: tests/unit/arch/test_tsc_refine.c arch/x86/tsc.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)
