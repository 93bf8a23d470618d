# Host unit test of arch/x86/slat_walk.c with both formats, EPT and NPT:
# map/walk, and the dirty-logging order (clear, then invalidate, before the
# harvest returns) against a recording fake invalidation.
SUNIT := $(BUILD)/tests/unit/slat
UNIT_TESTS += $(SUNIT)/test_slat

$(SUNIT)/test_slat: tests/unit/slat/test_slat.c arch/x86/slat_walk.c arch/x86/slat_walk.h \
	arch/x86/vmx/ept.c arch/x86/vmx/ept.h arch/x86/vmx/vmcs.h \
	arch/x86/svm/npt.c arch/x86/svm/npt.h arch/x86/svm/vmcb.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)
