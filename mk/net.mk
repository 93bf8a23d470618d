# net/: lwIP for the kernel, Tern's own net code, and their host tests.
#   build/lwip/liblwip.a             lwIP 2.1.3 (core, IPv4, ethernet, altcp, altcp_tls
#                                    over mbedTLS, lwiperf, the HTTP client) built with
#                                    KERNEL_CFLAGS and net/lwipopts.h; lwiperf,
#                                    altcp_tls_mbedtls and http_client patched (net/patches/)
#   build/lwip-unit/lwip_unittests   lwIP's own test/unit (Check) against the same
#                                    options and port, on the host
#   build/unit/net/test_*            cmocka tests of Tern's own net/ code

LWIP_SRC := $(LWIP_DIR)/src

# Include order matters: net/ first so lwIP finds Tern's lwipopts.h and
# arch/cc.h; -I. (already in both CFLAGS) finds net/lwip_port.h.
NET_LWIP_INC := -Inet -I$(LWIP_SRC)/include
# The migration connection runs over TLS (net/mig_tls.c): lwIP's TLS glue
# and net/ see mbedTLS with the kernel's configuration (migrate/mbedtls-config.h).
NET_TLS_CFLAGS := $(MIG_MBEDTLS_FLAGS)
# Other subsystems that include lwIP headers (the migration transport, the
# NIC netif glue) add this to their objects, as net/ does below.
NET_LWIP_CFLAGS := $(NET_LWIP_INC) $(NET_TLS_CFLAGS)

# lwIP's own test suites only (lwIP itself builds warning-free): they compare
# int with unsigned counters, and Check's fail_unless() takes the message
# arguments after a format that is the assertion's text. Tern's code stays strict.
LWIP_TEST_WNO := -Wno-sign-compare -Wno-format-extra-args

# Upstream's lists (src/Filelists.mk), trimmed to what NO_SYS + IPv4 uses.
LWIP_CORE := init.c def.c dns.c inet_chksum.c ip.c mem.c memp.c netif.c pbuf.c raw.c \
	stats.c sys.c altcp.c altcp_alloc.c altcp_tcp.c tcp.c tcp_in.c tcp_out.c timeouts.c udp.c
LWIP_CORE4 := autoip.c dhcp.c etharp.c icmp.c igmp.c ip4_frag.c ip4.c ip4_addr.c
LWIP_KSRCS := $(addprefix core/,$(LWIP_CORE)) $(addprefix core/ipv4/,$(LWIP_CORE4)) \
	netif/ethernet.c apps/lwiperf/lwiperf.c apps/altcp_tls/altcp_tls_mbedtls.c \
	apps/altcp_tls/altcp_tls_mbedtls_mem.c apps/http/http_client.c
LWIP_KOBJS := $(patsubst %.c,$(BUILD)/lwip/obj/%.o,$(LWIP_KSRCS))
# Host builds of lwIP leave out the HTTP client: only the kernel fetches
# images, and only the patched copy follows lwipopts.h's HTTPC_POLL_TIMEOUT.
LWIP_HOST_SRCS := $(filter-out apps/http/%,$(LWIP_KSRCS))

# lwIP's sources appear when `make deps` unpacks them; a rule that only
# waits for that keeps make from giving up on a fresh tree.
$(LWIP_SRC)/%.c: | $(LWIP_DIR)/.unpacked
	@test -f $@

# lwIP itself builds warning-free with KERNEL_CFLAGS; its TLS glue compares
# an int with PBUF_POOL_BUFSIZE in an assertion and drops the result of
# mbedtls_ssl_flush_output(), which mbedTLS 2.28 marks MBEDTLS_CHECK_RETURN.
LWIP_FILE_WNO = $(if $(findstring altcp_tls,$@),-Wno-sign-compare -Wno-unused-result)

# Everything built from lwipopts.h follows it and the mbedTLS config.
NET_CONFIG := net/lwipopts.h migrate/mbedtls-config.h

$(BUILD)/lwip/obj/%.o: $(LWIP_SRC)/%.c $(NEWLIB_LIBC) $(NET_CONFIG) mk/net.mk \
		| $(MBEDTLS_DIR)/.unpacked
	@mkdir -p $(@D)
	gcc $(KERNEL_CFLAGS) $(NET_LWIP_CFLAGS) $(LWIP_FILE_WNO) -MMD -MP -c $< -o $@

# lwiperf and altcp_tls_mbedtls with Tern's patches (net/patches/*.patch,
# each saying why), applied to a copy in build/lwip/patched: build/deps
# stays as Debian ships it. The explicit rules win over the pattern rule above.
NET_LWIP_PATCHES := $(sort $(wildcard net/patches/*.patch))
LWIP_PATCHED := $(BUILD)/lwip/patched
LWIP_PATCHED_SRCS := apps/lwiperf/lwiperf.c apps/altcp_tls/altcp_tls_mbedtls.c apps/http/http_client.c
$(LWIP_PATCHED)/.stamp: $(addprefix $(LWIP_SRC)/,$(LWIP_PATCHED_SRCS)) $(NET_LWIP_PATCHES) mk/net.mk
	rm -rf $(LWIP_PATCHED)
	for f in $(LWIP_PATCHED_SRCS); do mkdir -p $(LWIP_PATCHED)/src/$$(dirname $$f) && \
		cp $(LWIP_SRC)/$$f $(LWIP_PATCHED)/src/$$f || exit 1; done
	for p in $(NET_LWIP_PATCHES); do patch -s -d $(LWIP_PATCHED) -p1 -i $(CURDIR)/$$p < /dev/null || exit 1; done
	@touch $@
# The objects' dependency files name the patched sources, which the stamp
# rule deletes and makes again (a new patch, an edited one): say where they
# come from, or make stops with "No rule to make target".
$(LWIP_PATCHED)/src/%.c: | $(LWIP_PATCHED)/.stamp
	@test -f $@

$(BUILD)/lwip/obj/apps/lwiperf/lwiperf.o $(BUILD)/lwip/obj/apps/altcp_tls/altcp_tls_mbedtls.o \
		$(BUILD)/lwip/obj/apps/http/http_client.o: \
		$(BUILD)/lwip/obj/%.o: $(LWIP_PATCHED)/.stamp $(NEWLIB_LIBC) $(NET_CONFIG) mk/net.mk
	@mkdir -p $(@D)
	gcc $(KERNEL_CFLAGS) $(NET_LWIP_CFLAGS) $(LWIP_FILE_WNO) -I$(LWIP_SRC)/$(dir $*) -MMD -MP \
		-c $(LWIP_PATCHED)/src/$*.c -o $@

$(BUILD)/lwip/liblwip.a: $(LWIP_KOBJS)
	@rm -f $@
	ar rcs $@ $^

# Tern's net/ code in the kernel: every net/*.c (host-only code lives in tests/).
NET_KERNEL_SRCS := $(wildcard net/*.c)
NET_KERNEL_OBJS := $(call kobj,$(NET_KERNEL_SRCS))
$(NET_KERNEL_OBJS): private KERNEL_CFLAGS += $(NET_LWIP_CFLAGS)
$(NET_KERNEL_OBJS): $(NET_CONFIG) | $(LWIP_DIR)/.unpacked
KERNEL_EXTRA_OBJS += $(NET_KERNEL_OBJS)
# The image registry fetches over net/http_fetch.c and hashes with mbedTLS.
$(call kobj,kernel/image_store.c): private KERNEL_CFLAGS += $(NET_LWIP_CFLAGS)
$(call kobj,kernel/image_store.c): $(NET_CONFIG) | $(LWIP_DIR)/.unpacked $(MBEDTLS_DIR)/.unpacked
# A migration's cost lines read the NIC's transmit time from net/net.h.
$(call kobj,kernel/migrate_cost.c): private KERNEL_CFLAGS += $(NET_LWIP_CFLAGS)
$(call kobj,kernel/migrate_cost.c): $(NET_CONFIG) | $(LWIP_DIR)/.unpacked
KERNEL_LIBS += $(BUILD)/lwip/liblwip.a

# --- lwIP's unit tests on the host ------------------------------------------
# Tern's options plus the few the suites require (tests/unit/net/lwip/
# lwipopts.h says why for each); upstream's test sys_arch.c supplies the fake
# clock (lwip_sys_now). LWIP_DEBUG as in upstream's test build, so LWIP_ERROR
# paths print. The sockets, mDNS and MQTT suites are replaced by empty ones
# (tests/unit/net/lwip/nosys_suites.c; net/README.md says why).
# The suites are copied to build/lwip-unit/suites and patched there
# (tests/unit/net/lwip/patches/*.patch, each saying why); build/deps stays
# as Debian ships it.
LWIP_TEST := $(BUILD)/lwip-unit/suites
LWIP_TEST_PATCHES := $(sort $(wildcard tests/unit/net/lwip/patches/*.patch))
LWIP_UNIT_INC := -Itests/unit/net/lwip -I$(LWIP_TEST) $(NET_LWIP_INC)
LWIP_UNIT_CFLAGS := $(HOST_CFLAGS) $(LWIP_UNIT_INC) -DLWIP_DEBUG
LWIP_UNIT_LIBS := -lcheck_pic -pthread -lrt -lm -lsubunit
LWIP_UNIT_TESTS := lwip_unittests.c arch/sys_arch.c core/test_def.c core/test_mem.c \
	core/test_netif.c core/test_pbuf.c core/test_timers.c dhcp/test_dhcp.c \
	etharp/test_etharp.c ip4/test_ip4.c ip6/test_ip6.c tcp/tcp_helper.c tcp/test_tcp_oos.c \
	tcp/test_tcp.c udp/test_udp.c
LWIP_UNIT_OBJS := $(patsubst %.c,$(BUILD)/lwip-unit/src/%.o,$(LWIP_HOST_SRCS)) \
	$(patsubst %.c,$(BUILD)/lwip-unit/test/%.o,$(LWIP_UNIT_TESTS)) \
	$(patsubst %.c,$(BUILD)/lwip-unit/tern/%.o,net/lwip_port.c net/inet_sum.c net/lwip_heap.c \
		net/buddy.c tests/unit/log_stub.c \
		$(wildcard tests/unit/net/lwip/*.c))

$(BUILD)/lwip-unit/src/%.o: $(LWIP_SRC)/%.c mk/net.mk
	@mkdir -p $(@D)
	gcc $(LWIP_UNIT_CFLAGS) -MMD -MP -c $< -o $@

$(LWIP_TEST)/.patched: $(LWIP_DIR)/.unpacked $(LWIP_TEST_PATCHES) mk/net.mk
	rm -rf $(LWIP_TEST) && mkdir -p $(BUILD)/lwip-unit && cp -r $(LWIP_DIR)/test/unit $(LWIP_TEST)
	for p in $(LWIP_TEST_PATCHES); do patch -s -d $(LWIP_TEST) -p1 -i $(CURDIR)/$$p < /dev/null || exit 1; done
	@touch $@

$(LWIP_TEST)/%.c: $(LWIP_TEST)/.patched
	@test -f $@
# Sources made by the two `test -f` rules are not intermediate: never delete them.
.SECONDARY: $(addprefix $(LWIP_SRC)/,$(LWIP_KSRCS)) $(addprefix $(LWIP_TEST)/,$(LWIP_UNIT_TESTS))

$(BUILD)/lwip-unit/test/%.o: $(LWIP_TEST)/%.c mk/net.mk
	@mkdir -p $(@D)
	gcc $(LWIP_UNIT_CFLAGS) $(LWIP_TEST_WNO) -MMD -MP -c $< -o $@

$(BUILD)/lwip-unit/tern/%.o: %.c mk/net.mk | $(LWIP_TEST)/.patched
	@mkdir -p $(@D)
	gcc $(LWIP_UNIT_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lwip-unit/lwip_unittests: $(LWIP_UNIT_OBJS)
	gcc $(HOST_CFLAGS) -o $@ $^ $(LWIP_UNIT_LIBS)

# The suites write lwip_unittests.xml into the working directory: run them
# from build/lwip-unit so the tree stays clean.
$(BUILD)/lwip-unit/run: $(BUILD)/lwip-unit/lwip_unittests mk/net.mk
	@printf '#!/bin/sh\ncd "$$(dirname "$$0")" && exec ./lwip_unittests "$$@"\n' > $@
	@chmod +x $@
UNIT_TESTS += $(BUILD)/lwip-unit/run

# --- Tern's own net/ tests (cmocka) -----------------------------------------
NET_UNIT_TESTS := $(patsubst tests/unit/net/%.c,$(BUILD)/unit/net/%,$(wildcard tests/unit/net/test_*.c))

$(BUILD)/unit/net/test_%: tests/unit/net/test_%.c net/%.c net/%.h net/ether.h tests/unit/net/frames.h \
		tests/unit/log_stub.c \
		mk/net.mk
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -o $@ $(filter %.c,$^) $(HOST_LDLIBS)
UNIT_TESTS += $(NET_UNIT_TESTS)
# Tests whose code uses more of net/ than its own file.
$(BUILD)/unit/net/test_netcfg: net/addr.c net/addr.h
$(BUILD)/unit/net/test_http_parse: net/addr.c net/addr.h

# net/ code that drives lwIP is tested against lwIP built for the host with
# Tern's own options, untouched (unlike the lwIP suites above).
NET_HOST_LWIP_OBJS := $(patsubst %.c,$(BUILD)/unit/net/lwip/%.o,$(filter-out apps/altcp_tls/%,$(LWIP_HOST_SRCS)))
$(BUILD)/unit/net/lwip/%.o: $(LWIP_SRC)/%.c mk/net.mk
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) $(NET_LWIP_INC) -MMD -MP -c $< -o $@

# The port: what every program with lwIP in it links.
NET_HOST_PORT := net/lwip_port.c net/lwip_sys.c net/inet_sum.c net/lwip_heap.c net/buddy.c \
	tests/unit/net/lwip/host_port.c tests/unit/log_stub.c

$(BUILD)/unit/net/test_host_netif: tests/unit/net/test_host_netif.c net/host_netif.c net/vswitch.c \
		net/announce.c $(NET_HOST_PORT) tests/unit/net/frames.h $(NET_HOST_LWIP_OBJS) mk/net.mk \
		| $(LWIP_DIR)/.unpacked
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) $(NET_LWIP_INC) -o $@ $(filter %.c %.o,$^) $(HOST_LDLIBS)

# lwIP's heap as lwIP reaches it: mem_malloc() and mem_free() of lwIP's
# mem.c with Tern's options, over net/buddy.c.
$(BUILD)/unit/net/test_lwip_heap: tests/unit/net/test_lwip_heap.c net/lwip_heap.h net/buddy.h \
		$(NET_HOST_PORT) $(NET_HOST_LWIP_OBJS) mk/net.mk | $(LWIP_DIR)/.unpacked
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) $(NET_LWIP_INC) -o $@ $(filter %.c %.o,$^) $(HOST_LDLIBS)

# net/inet_sum.c replaces lwIP's lwip_standard_chksum, which Tern's options
# therefore leave out of lwIP: its test builds lwIP's inet_chksum.c once
# more, with tests/unit/net/chksum_ref/lwipopts.h (Tern's options without
# the replacement), for the reference to compare with.
NET_CHKSUM_REF := $(BUILD)/unit/net/chksum_ref/inet_chksum.o
$(NET_CHKSUM_REF): $(LWIP_SRC)/core/inet_chksum.c tests/unit/net/chksum_ref/lwipopts.h \
		$(NET_CONFIG) mk/net.mk
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) -Itests/unit/net/chksum_ref $(NET_LWIP_INC) -MMD -MP -c $< -o $@

$(BUILD)/unit/net/test_inet_sum: tests/unit/net/test_inet_sum.c net/inet_sum.c net/inet_sum.h \
		$(NET_CHKSUM_REF) net/lwip_port.c tests/unit/log_stub.c mk/net.mk
	@mkdir -p $(@D)
	gcc $(HOST_CFLAGS) $(NET_LWIP_INC) -o $@ $(filter %.c %.o,$^) $(HOST_LDLIBS)

-include $(shell find $(BUILD)/lwip $(BUILD)/lwip-unit $(BUILD)/unit/net -name '*.d' 2>/dev/null)
