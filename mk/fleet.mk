# Fleet tooling for the tests: Debian's Prometheus server, fetched as a
# .deb and unpacked under build/ by tools/prometheus-fetch.sh (once), which
# test_metrics.py runs in the lab to scrape Tern's /metrics.

PROMETHEUS_DIR := $(BUILD)/prometheus
PROMETHEUS := $(PROMETHEUS_DIR)/root/usr/bin/prometheus

# Order-only on the package stamp: a change to the package list must not
# fetch it again.
$(PROMETHEUS): tools/prometheus-fetch.sh | $(DEPS_STAMP)
	@echo "  FETCH   $(PROMETHEUS_DIR)"
	$(Q)tools/prometheus-fetch.sh $(PROMETHEUS_DIR)

INTEGRATION_DEPS += $(PROMETHEUS)

# The management API's protocol reads the host's address from lwIP and
# computes its proofs with mbedTLS.
$(call kobj,kernel/mgmt_api.c kernel/mgmt_api_cmds.c): private KERNEL_CFLAGS += $(NET_LWIP_CFLAGS)
$(call kobj,kernel/mgmt_api.c kernel/mgmt_api_cmds.c): | $(LWIP_DIR)/.unpacked $(MBEDTLS_DIR)/.unpacked
