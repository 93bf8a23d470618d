# mgmt/: the management API's protocol code (docs/mgmt-api.md). Kernel
# objects (freestanding), host unit tests (cmocka) and a bounded libFuzzer
# run of the JSON parser, the first thing a client's line reaches.

MGMT_SRCS := $(wildcard mgmt/*.c)
MGMT_HDRS := $(wildcard mgmt/*.h)
KERNEL_EXTRA_OBJS += $(call kobj,$(MGMT_SRCS))

# --- host unit tests ---------------------------------------------------------
MGMT_UNIT := $(BUILD)/tests/unit/mgmt
UNIT_TESTS += $(MGMT_UNIT)/test_json

$(MGMT_UNIT)/test_json: tests/unit/mgmt/test_json.c mgmt/json.c $(MGMT_HDRS) mk/mgmt.mk \
		| $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)

# --- fuzzing the parser ------------------------------------------------------
# The flags are the receiver's (MIG_FUZZ_FLAGS, mk/migrate.mk: ASan, UBSan).
# Inputs up to a whole line (64 KiB); a few hand-written requests as seeds and
# JSON's punctuation as a dictionary, so the run gets past the first byte.
MGMT_FUZZ_DIR := $(BUILD)/tests/fuzz
MGMT_FUZZ := $(MGMT_FUZZ_DIR)/fuzz_json
MGMT_FUZZ_RUNS ?= 2000000
MGMT_FUZZ_SECONDS ?= 10

$(MGMT_FUZZ): tests/fuzz/fuzz_json.c mgmt/json.c $(MGMT_HDRS) mk/mgmt.mk | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@echo "  CLANG   $@"
	$(Q)clang $(MIG_FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_json.c mgmt/json.c

$(MGMT_FUZZ_DIR)/seeds-json/.stamp: mk/mgmt.mk
	rm -rf $(@D) && mkdir -p $(@D)
	printf '%s\n' '{"execute":"vm-list","arguments":{},"id":7}' > $(@D)/seed-00
	printf '%s' '{"execute":"auth","arguments":{"nonce":"9f3c","proof":"00ff"},"id":1}' > $(@D)/seed-01
	printf '%s' '{"return":[{"name":"web","vcpus":2,"up":true,"disk":null}],"id":-8}' > $(@D)/seed-02
	printf '%s' '[0,-0.5e+3,1E-2,"\u00e9\ud83d\ude00\n\/",[[{}]],false]' > $(@D)/seed-03
	printf ' "h\303\251 \342\202\254 \360\237\230\200" ' > $(@D)/seed-04
	printf '%s\n' '"\\"' '"\""' '"\\u"' '"\\ud800\\udc00"' '"\\n"' '"true"' '"false"' '"null"' \
		'"{"' '"}"' '"["' '"]"' '":"' '","' '"-"' '"."' '"e"' '"0"' '"\xc2\x80"' \
		'"\xe0\xa0\x80"' '"\xed\x9f\xbf"' '"\xf0\x90\x80\x80"' '"\xf4\x8f\xbf\xbf"' > $(@D)/json.dict
	@touch $@

$(MGMT_FUZZ_DIR)/run-fuzz-json: tests/fuzz/run-fuzz.sh $(MGMT_FUZZ) $(MGMT_FUZZ_DIR)/seeds-json/.stamp
	@printf '#!/bin/sh\nFUZZ_MAX_LEN=65536 FUZZ_FLAGS=-dict=%s exec %s %s %s %s %s %s %s\n' \
		"$(abspath $(MGMT_FUZZ_DIR)/seeds-json/json.dict)" \
		"$(abspath tests/fuzz/run-fuzz.sh)" "$(abspath $(MGMT_FUZZ))" \
		"$(abspath $(MGMT_FUZZ_DIR)/seeds-json)" "$(abspath $(MGMT_FUZZ_DIR)/work-json)" \
		$(MGMT_FUZZ_RUNS) $(MGMT_FUZZ_SECONDS) fuzz_json > $@
	@chmod +x $@

UNIT_TESTS += $(MGMT_FUZZ_DIR)/run-fuzz-json

.PHONY: fuzz-mgmt
# A longer run by hand: make fuzz-mgmt MGMT_FUZZ_SECONDS=600 MGMT_FUZZ_RUNS=0
fuzz-mgmt: $(MGMT_FUZZ_DIR)/run-fuzz-json
	$(MGMT_FUZZ_DIR)/run-fuzz-json
