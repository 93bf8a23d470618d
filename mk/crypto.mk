# crypto/: ChaCha20 and Poly1305 for the kernel's mbedTLS (the migration's
# TLS records), their host tests, and a benchmark under QEMU's TCG.
#   build/k/crypto/...                        kernel objects (KERNEL_CFLAGS; crypto/alt/
#                                             also with mk/migrate.mk's MIG_MBEDTLS_FLAGS)
#   build/tests/unit/crypto/test_*            cmocka tests, run by `make unit`
#   build/bench/crypto/bench-{mbedtls,tern}   `make bench-crypto`

CRYPTO_SRCS := $(wildcard crypto/*.c)
CRYPTO_ALT_SRCS := $(wildcard crypto/alt/*.c)
CRYPTO_HDRS := $(wildcard crypto/*.h crypto/alt/*.h)
KERNEL_EXTRA_OBJS += $(call kobj,$(CRYPTO_SRCS) $(CRYPTO_ALT_SRCS))

# --- host unit tests ---------------------------------------------------------
CRYPTO_TEST_DIR := $(BUILD)/tests/unit/crypto
CRYPTO_TEST_HDRS := $(wildcard tests/unit/crypto/*.h)
CRYPTO_TESTS := $(patsubst %,$(CRYPTO_TEST_DIR)/%,test_chacha20 test_poly1305 test_vs_mbedcrypto \
	test_chachapoly_alt)
UNIT_TESTS += $(CRYPTO_TESTS)

# The tern_ functions alone; test_vs_mbedcrypto also links Debian's
# libmbedcrypto, whose mbedtls_ names they leave free.
$(CRYPTO_TEST_DIR)/test_chacha20 $(CRYPTO_TEST_DIR)/test_poly1305: CRYPTO_TEST_LIBS :=
$(CRYPTO_TEST_DIR)/test_vs_mbedcrypto: CRYPTO_TEST_LIBS := -lmbedcrypto
$(CRYPTO_TEST_DIR)/test_chacha20 $(CRYPTO_TEST_DIR)/test_poly1305 \
		$(CRYPTO_TEST_DIR)/test_vs_mbedcrypto: \
		$(CRYPTO_TEST_DIR)/%: tests/unit/crypto/%.c $(CRYPTO_SRCS) $(CRYPTO_HDRS) \
		$(CRYPTO_TEST_HDRS) mk/crypto.mk | $(DEPS_STAMP)
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS) $(CRYPTO_TEST_LIBS)

# crypto/alt/ under mbedTLS's own chachapoly.c, both built as the kernel's
# (migrate/mbedtls-config.h), no libmbedcrypto. mbedTLS's files keep their
# warnings, as in mk/migrate.mk.
CRYPTO_MBEDTLS_SRCS := chachapoly chacha20 poly1305 platform_util
CRYPTO_TEST_MBEDTLS := $(patsubst %,$(CRYPTO_TEST_DIR)/mbedtls/%.o,$(CRYPTO_MBEDTLS_SRCS))
$(CRYPTO_TEST_MBEDTLS): $(CRYPTO_TEST_DIR)/mbedtls/%.o: $(MBEDTLS_DIR)/.unpacked \
		migrate/mbedtls-config.h $(CRYPTO_HDRS) mk/crypto.mk
	@mkdir -p $(@D)
	gcc $(filter-out -Werror,$(HOST_CFLAGS)) $(MIG_MBEDTLS_FLAGS) -c $(MBEDTLS_DIR)/library/$*.c -o $@

$(CRYPTO_TEST_DIR)/test_chachapoly_alt: tests/unit/crypto/test_chachapoly_alt.c $(CRYPTO_SRCS) \
		$(CRYPTO_ALT_SRCS) $(CRYPTO_TEST_MBEDTLS) $(CRYPTO_HDRS) $(CRYPTO_TEST_HDRS) \
		migrate/mbedtls-config.h mk/crypto.mk | $(DEPS_STAMP)
	gcc $(HOST_CFLAGS) $(MIG_MBEDTLS_FLAGS) -o $@ $(filter %.c %.o,$^) $(HOST_LDLIBS)

# --- bench-crypto: mbedTLS's portable code against crypto/ --------------------
# Both binaries run the same program (tests/bench/chachapoly.c) over mbedTLS's
# chachapoly.c, built -O2 like the kernel; bench-mbedtls has mbedTLS's
# ChaCha20 and Poly1305 (tests/bench/portable-config.h), bench-tern
# crypto/'s. Run under qemu-x86_64 -cpu qemu64, the TCG the lab's Terns run
# on; a figure, never a test (STYLE.md). `bench-X N` encrypts N records and
# prints nothing, for valgrind --tool=lackey's instruction and memory counts.
CRYPTO_BENCH_DIR := $(BUILD)/bench/crypto
CRYPTO_BENCH_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -I. -I$(MBEDTLS_DIR)/include \
	-fno-strict-aliasing -fno-omit-frame-pointer -mno-red-zone
CRYPTO_BENCH_LIB := $(patsubst %,$(MBEDTLS_DIR)/library/%.c,$(CRYPTO_MBEDTLS_SRCS))
CRYPTO_BENCH_QEMU ?= qemu-x86_64 -cpu qemu64

$(CRYPTO_BENCH_DIR)/bench-mbedtls: tests/bench/chachapoly.c tests/bench/portable-config.h \
		migrate/mbedtls-config.h mk/crypto.mk | $(MBEDTLS_DIR)/.unpacked
	@mkdir -p $(@D)
	gcc $(CRYPTO_BENCH_CFLAGS) -DMBEDTLS_CONFIG_FILE='"tests/bench/portable-config.h"' \
		-o $@ $< $(CRYPTO_BENCH_LIB)

$(CRYPTO_BENCH_DIR)/bench-tern: tests/bench/chachapoly.c $(CRYPTO_SRCS) $(CRYPTO_ALT_SRCS) \
		$(CRYPTO_HDRS) migrate/mbedtls-config.h mk/crypto.mk | $(MBEDTLS_DIR)/.unpacked
	@mkdir -p $(@D)
	gcc $(CRYPTO_BENCH_CFLAGS) -Icrypto/alt -DMBEDTLS_CONFIG_FILE='"migrate/mbedtls-config.h"' \
		-o $@ $< $(CRYPTO_SRCS) $(CRYPTO_ALT_SRCS) $(CRYPTO_BENCH_LIB)

.PHONY: bench-crypto
bench-crypto: $(CRYPTO_BENCH_DIR)/bench-mbedtls $(CRYPTO_BENCH_DIR)/bench-tern
	@for b in $^; do $(CRYPTO_BENCH_QEMU) $$b || exit 1; done
