# migrate/: stream format, source and destination state machines, policy,
# stats. Kernel objects (freestanding), a minimal mbedTLS for the HMAC,
# host unit tests (cmocka) and bounded libFuzzer runs of the receiver and of the
# PAGE_DELTA decoder.

MIGRATE_SRCS := $(wildcard migrate/*.c)
MIGRATE_HDRS := $(wildcard migrate/*.h)
# Everything in migrate/ is freestanding: it reaches the machine only
# through the ops structs of migrate/migrate.h.
MIGRATE_KERNEL_SRCS := $(MIGRATE_SRCS)
MIGRATE_KERNEL_OBJS := $(call kobj,$(MIGRATE_KERNEL_SRCS))
KERNEL_EXTRA_OBJS += $(MIGRATE_KERNEL_OBJS)

# --- mbedTLS for the kernel ----------------------------------------------------
# The library sources migrate/mbedtls-config.h needs. One archive: HMAC (migrate/auth.c), the
# random generator (kernel/random.c) and TLS 1.2 (net/mig_tls.c via lwIP's
# altcp_tls_mbedtls).
# ChaCha20 and Poly1305 are crypto/'s (the config's *_ALT): everything that
# sees mbedTLS's headers finds their contexts in crypto/alt/.
MIG_MBEDTLS_FLAGS := -I$(MBEDTLS_DIR)/include -Icrypto/alt \
	-DMBEDTLS_CONFIG_FILE='"migrate/mbedtls-config.h"'
MIG_MBEDTLS_HDRS := migrate/mbedtls-config.h $(wildcard crypto/*.h crypto/alt/*.h)
MIG_MBEDTLS_SRCS := md sha256 sha512 platform_util constant_time entropy entropy_poll ctr_drbg \
	aes chacha20 poly1305 chachapoly cipher cipher_wrap bignum ecp ecp_curves ecdh \
	ssl_tls ssl_msg ssl_cli ssl_srv ssl_ciphersuites x509 x509_crt pk pk_wrap pkparse asn1parse oid \
	ecdsa asn1write pkwrite x509_create x509write_crt
MIG_MBEDTLS_OBJS := $(patsubst %,$(BUILD)/mbedtls/%.o,$(MIG_MBEDTLS_SRCS))
MIG_MBEDCRYPTO := $(BUILD)/mbedtls/libmbedtls-tern.a
KERNEL_LIBS += $(MIG_MBEDCRYPTO)

# migrate/ and the kernel's random generator call mbedTLS; crypto/alt/
# implements part of it (mk/crypto.mk links it).
MIG_MBEDTLS_USERS := $(MIGRATE_KERNEL_OBJS) $(call kobj,kernel/random.c kernel/migrate_cmd.c) \
	$(call kobj,$(wildcard crypto/alt/*.c))
$(MIG_MBEDTLS_USERS): KERNEL_CFLAGS += $(MIG_MBEDTLS_FLAGS)
$(MIG_MBEDTLS_USERS): $(MBEDTLS_DIR)/.unpacked migrate/mbedtls-config.h

# Third-party code: our flags, minus -Werror (its warnings are not ours to fix).
$(MIG_MBEDTLS_OBJS): $(BUILD)/mbedtls/%.o: $(MBEDTLS_DIR)/.unpacked $(MIG_MBEDTLS_HDRS) $(NEWLIB_LIBC) mk/migrate.mk
	@mkdir -p $(@D)
	gcc $(filter-out -Werror,$(KERNEL_CFLAGS)) $(MIG_MBEDTLS_FLAGS) -c $(MBEDTLS_DIR)/library/$*.c -o $@

$(MIG_MBEDCRYPTO): $(MIG_MBEDTLS_OBJS)
	rm -f $@ && ar rcs $@ $^

# --- host unit tests ---------------------------------------------------------
MIG_HOST_DIR := $(BUILD)/host/migrate
MIG_HOST_OBJS := $(patsubst migrate/%.c,$(MIG_HOST_DIR)/%.o,$(MIGRATE_SRCS))
MIG_TEST_DIR := $(BUILD)/tests/unit/migrate
MIG_TEST_SUPPORT := $(BUILD)/tests/unit/log_stub.o $(MIG_TEST_DIR)/fake.o \
	$(MIG_TEST_DIR)/fake_transport.o
MIG_TEST_HDRS := $(wildcard tests/unit/migrate/*.h)
MIG_TESTS := $(patsubst tests/unit/migrate/%.c,$(MIG_TEST_DIR)/%,$(wildcard tests/unit/migrate/test_*.c))
MIG_HOST_LIBS := $(HOST_LDLIBS) -lmbedcrypto
UNIT_TESTS += $(MIG_TESTS)

$(MIG_HOST_DIR)/%.o: migrate/%.c $(MIGRATE_HDRS) mk/migrate.mk
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -c $< -o $@

$(MIG_TEST_DIR)/%.o: tests/unit/migrate/%.c $(MIGRATE_HDRS) $(MIG_TEST_HDRS) mk/migrate.mk
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -c $< -o $@

$(BUILD)/tests/unit/log_stub.o: tests/unit/log_stub.c kernel/log.h
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -c $< -o $@

# The state-machine tests share a harness (tests/unit/migrate/run.h): two
# machines run against each other, or a scripted source against a destination.
MIG_RUN_TESTS := $(patsubst %,$(MIG_TEST_DIR)/%,test_migrate test_migrate_cancel test_migrate_raw \
	test_migrate_delta test_migrate_held test_migrate_pause test_migrate_disk)
$(MIG_RUN_TESTS): $(MIG_TEST_DIR)/run.o

# test_migrate_delta makes malloc fail on purpose (a source without memory
# for its delta cache): its calls go through the __wrap_malloc it defines.
$(MIG_TEST_DIR)/test_migrate_delta: MIG_TEST_LDFLAGS := -Wl,--wrap=malloc

$(MIG_TESTS): $(MIG_TEST_DIR)/%: $(MIG_TEST_DIR)/%.o $(MIG_HOST_OBJS) $(MIG_TEST_SUPPORT)
	gcc $(HOST_CFLAGS) $(MIG_TEST_LDFLAGS) -o $@ $^ $(MIG_HOST_LIBS)

# --- fuzzing the receiver ----------------------------------------------------
# libFuzzer (clang, libclang-rt-14-dev). Seeds are real streams recorded
# from a migration of a small fake guest; the run is bounded so `make unit`
# stays short, and any crash or sanitizer report fails it.
MIG_FUZZ_DIR := $(BUILD)/tests/fuzz
MIG_FUZZ := $(MIG_FUZZ_DIR)/fuzz_recv
MIG_FUZZ_RUNS ?= 200000
MIG_FUZZ_SECONDS ?= 30
MIG_FUZZ_FLAGS := -std=gnu11 -g -O1 -I. -DTERN_HOST -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined

MIG_FUZZ_SRCS := tests/fuzz/fuzz_recv.c tests/fuzz/harness.c tests/unit/migrate/fake.c \
	tests/unit/migrate/fake_transport.c \
	tests/unit/log_stub.c $(MIGRATE_SRCS)

$(MIG_FUZZ): $(MIG_FUZZ_SRCS) tests/fuzz/harness.h $(MIG_TEST_HDRS) $(MIGRATE_HDRS) mk/migrate.mk
	@mkdir -p $(@D)
	clang $(MIG_FUZZ_FLAGS) -o $@ $(MIG_FUZZ_SRCS) -lmbedcrypto

$(MIG_FUZZ_DIR)/gen_seeds: tests/fuzz/gen_seeds.c tests/fuzz/harness.c $(MIG_HOST_OBJS) \
		$(MIG_TEST_SUPPORT) tests/fuzz/harness.h
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -o $@ tests/fuzz/gen_seeds.c tests/fuzz/harness.c $(MIG_HOST_OBJS) \
		$(MIG_TEST_SUPPORT) $(MIG_HOST_LIBS)

$(MIG_FUZZ_DIR)/seeds/.stamp: $(MIG_FUZZ_DIR)/gen_seeds
	rm -rf $(@D) && mkdir -p $(@D)
	$< $(@D)
	@touch $@

$(MIG_FUZZ_DIR)/run-fuzz-recv: tests/fuzz/run-fuzz.sh $(MIG_FUZZ) $(MIG_FUZZ_DIR)/seeds/.stamp
	@printf '#!/bin/sh\nexec %s %s %s %s %s %s\n' "$(abspath tests/fuzz/run-fuzz.sh)" \
		"$(abspath $(MIG_FUZZ))" "$(abspath $(MIG_FUZZ_DIR)/seeds)" \
		"$(abspath $(MIG_FUZZ_DIR)/work)" $(MIG_FUZZ_RUNS) $(MIG_FUZZ_SECONDS) > $@
	@chmod +x $@

UNIT_TESTS += $(MIG_FUZZ_DIR)/run-fuzz-recv

# The PAGE_DELTA decoder alone (migrate/delta.c), from a few hand-made
# encodings: the spec's example, a first and last byte, the empty one.
MIG_FUZZ_DELTA := $(MIG_FUZZ_DIR)/fuzz_delta
MIG_FUZZ_DELTA_RUNS ?= 2000000
MIG_FUZZ_DELTA_SECONDS ?= 10

$(MIG_FUZZ_DELTA): tests/fuzz/fuzz_delta.c migrate/delta.c $(MIGRATE_HDRS) mk/migrate.mk
	@mkdir -p $(@D)
	clang $(MIG_FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_delta.c migrate/delta.c

$(MIG_FUZZ_DIR)/seeds-delta/.stamp: mk/migrate.mk
	rm -rf $(@D) && mkdir -p $(@D)
	printf '\144\002\252\273\231\037\001\001' > $(@D)/seed-00
	printf '\000\001\356\376\037\001\377' > $(@D)/seed-01
	: > $(@D)/seed-02
	@touch $@

$(MIG_FUZZ_DIR)/run-fuzz-delta: tests/fuzz/run-fuzz.sh $(MIG_FUZZ_DELTA) $(MIG_FUZZ_DIR)/seeds-delta/.stamp
	@printf '#!/bin/sh\nFUZZ_MAX_LEN=4096 exec %s %s %s %s %s %s fuzz_delta\n' \
		"$(abspath tests/fuzz/run-fuzz.sh)" "$(abspath $(MIG_FUZZ_DELTA))" \
		"$(abspath $(MIG_FUZZ_DIR)/seeds-delta)" "$(abspath $(MIG_FUZZ_DIR)/work-delta)" \
		$(MIG_FUZZ_DELTA_RUNS) $(MIG_FUZZ_DELTA_SECONDS) > $@
	@chmod +x $@

UNIT_TESTS += $(MIG_FUZZ_DIR)/run-fuzz-delta

.PHONY: fuzz-migrate
# A longer run by hand: make fuzz-migrate MIG_FUZZ_SECONDS=600 MIG_FUZZ_RUNS=0
# (MIG_FUZZ_DELTA_SECONDS, MIG_FUZZ_DELTA_RUNS for the decoder)
fuzz-migrate: $(MIG_FUZZ_DIR)/run-fuzz-recv $(MIG_FUZZ_DIR)/run-fuzz-delta
	$(MIG_FUZZ_DIR)/run-fuzz-recv
	$(MIG_FUZZ_DIR)/run-fuzz-delta

# --- tools/tlspsk: the migration's TLS for test peers (migpeer.py) ----------
TLSPSK_PROXY := $(BUILD)/tools/tlspsk-proxy
$(TLSPSK_PROXY): tools/tlspsk/tlspsk-proxy.c mk/migrate.mk
	@mkdir -p $(@D)
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $< -lmbedtls -lmbedx509 -lmbedcrypto
INTEGRATION_DEPS += $(TLSPSK_PROXY)
all: $(TLSPSK_PROXY)
