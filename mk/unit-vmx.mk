# Host unit test of the VMX backend's EPT code: dirty-logging order
# (clear, then INVEPT, before the harvest returns) against a recording fake.
VUNIT := $(BUILD)/tests/unit/vmx
UNIT_TESTS += $(VUNIT)/test_ept

$(VUNIT)/test_ept: tests/unit/vmx/test_ept.c arch/x86/vmx/ept.c arch/x86/vmx/ept.h \
	arch/x86/vmx/vmcs.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)
