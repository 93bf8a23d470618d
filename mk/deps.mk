# Dependencies: Debian binary packages, and Debian *source* packages of
# newlib, lwIP and mbedTLS unpacked under build/deps (never committed).
# Every build target depends on $(DEPS_STAMP), so a fresh Debian 12 machine
# (as root) needs nothing installed by hand.

DEPS_DIR    := $(BUILD)/deps
DEPS_STAMP  := $(DEPS_DIR)/.packages
APT_PACKAGES := gcc make binutils git gnu-efi ovmf qemu-system-x86 qemu-utils \
	bochs bochsbios vgabios grub-pc-bin grub-common xorriso nasm mtools dpkg-dev \
	python3 python3-pytest python3-pexpect libcmocka-dev libmbedtls-dev check \
	clang libclang-rt-14-dev \
	iproute2 iputils-ping iperf tcpdump procps socat ansible-core

APT_UPDATED := $(DEPS_DIR)/.apt-updated
# apt-get update at most once per build tree. A shell command group (no `@`,
# no tab), so it is correct anywhere in a recipe line: `$(apt_update_once);`,
# `... && $(apt_update_once) && ...`, or at the start of a line.
apt_update_once = { [ -f $(APT_UPDATED) ] || { mkdir -p $(DEPS_DIR) && apt-get update -q && touch $(APT_UPDATED); }; }

# The makefiles read compiler paths while make parses them ($(shell gcc
# ...) in mk/kernel.mk and others); on a fresh machine gcc is not there yet,
# so those would be empty. Including the stamp makes GNU make install the
# packages first and then read every makefile again ("How Makefiles Are
# Remade" in its manual). Not for goals that need no packages.
ifneq ($(filter-out clean fresh-check,$(or $(MAKECMDGOALS),all)),)
include $(DEPS_STAMP)
endif

# Installs those of the packages $(1) that are not installed yet.
apt_install_missing = missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing:" $$missing; \
		[ "$$(id -u)" = 0 ] || { echo "error: deps: missing packages ($$missing) and not root"; exit 1; }; \
		$(apt_update_once); \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(DEPS_STAMP): mk/deps.mk
	@mkdir -p $(DEPS_DIR)
	@$(call apt_install_missing,$(APT_PACKAGES))
	@touch $@

# Only `make bench` draws charts (tools/bench_charts.py): `make test` does
# without matplotlib and its dependencies.
BENCH_PACKAGES := python3-matplotlib
BENCH_STAMP := $(DEPS_DIR)/.bench-packages
$(BENCH_STAMP): mk/deps.mk | $(DEPS_STAMP)
	@$(call apt_install_missing,$(BENCH_PACKAGES))
	@touch $@

# deb-src entries are needed for `apt-get source`; add them once if absent,
# from the machine's own deb entries (same mirrors, suites, components and
# keys: tools/deb-src.py), so a machine with its own mirror keeps using it.
DEB_SRC_LIST := /etc/apt/sources.list.d/tern-deb-src.sources
# Order-only on the stamp (here and below): sources need the packages
# installed, but a change to the package list must not fetch and rebuild them.
$(DEPS_DIR)/.deb-src: tools/deb-src.py | $(DEPS_STAMP)
	@if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then \
		echo "deps: adding deb-src entries for apt-get source (from the deb entries)"; \
		$(PYTHON) tools/deb-src.py > $(DEB_SRC_LIST).tmp || { rm -f $(DEB_SRC_LIST).tmp; exit 1; }; \
		mv $(DEB_SRC_LIST).tmp $(DEB_SRC_LIST) && apt-get update -q && touch $(APT_UPDATED); \
	fi
	@touch $@

# --- lwIP 2.1.3 and mbedTLS 2.28 from Debian source packages -----------------
LWIP_DIR    := $(DEPS_DIR)/lwip
MBEDTLS_DIR := $(DEPS_DIR)/mbedtls

# apt-get source unpacks into <name>-<version>/; rename to a fixed path.
define fetch_source
	@rm -rf $(DEPS_DIR)/src-$(1) && mkdir -p $(DEPS_DIR)/src-$(1)
	cd $(DEPS_DIR)/src-$(1) && apt-get source -q --download-only $(1) >/dev/null && \
		dpkg-source --no-check -x $$(ls *.dsc | head -1) unpacked >/dev/null
	@rm -rf $(2) && mv $(DEPS_DIR)/src-$(1)/unpacked $(2) && rm -rf $(DEPS_DIR)/src-$(1)
	@touch $(2)/.unpacked
endef

$(LWIP_DIR)/.unpacked: | $(DEPS_DIR)/.deb-src
	$(call fetch_source,lwip,$(LWIP_DIR))

$(MBEDTLS_DIR)/.unpacked: | $(DEPS_DIR)/.deb-src
	$(call fetch_source,mbedtls,$(MBEDTLS_DIR))

# --- newlib, Tern's libc -----------------------------------------------------
# Built for the freestanding kernel: no red zone (interrupts and VM exits
# land on the same stack), PIC because the UEFI image is a relocatable
# shared object, frame pointers kept for backtraces.
NEWLIB_SRC   := $(DEPS_DIR)/newlib-salsa
NEWLIB_BUILD := $(DEPS_DIR)/newlib-build
NEWLIB_DIR   := $(DEPS_DIR)/newlib
NEWLIB_LIBC  := $(NEWLIB_DIR)/lib/libc.a
NEWLIB_CFLAGS := -ffreestanding -mno-red-zone -fpic -fno-stack-protector \
	-fno-omit-frame-pointer -O2 -g -nostdinc -isystem $(shell gcc -print-file-name=include 2>/dev/null)

$(NEWLIB_SRC)/.unpacked: | $(DEPS_STAMP)
	@dpkg-query -W newlib-source >/dev/null 2>&1 || { $(apt_update_once); apt-get install -y -q newlib-source; }
	rm -rf $(NEWLIB_SRC) && mkdir -p $(DEPS_DIR)
	tar -C $(DEPS_DIR) -xf $$(ls /usr/src/newlib/newlib-*.tar.* | head -1)
	@touch $@

$(NEWLIB_LIBC): $(NEWLIB_SRC)/.unpacked
	rm -rf $(NEWLIB_BUILD) && mkdir -p $(NEWLIB_BUILD)
	cd $(NEWLIB_BUILD) && $(abspath $(NEWLIB_SRC))/configure --target=x86_64-elf \
		--prefix=$(abspath $(NEWLIB_DIR)) --disable-multilib \
		--disable-newlib-supplied-syscalls --disable-newlib-fvwrite-in-streamio \
		--enable-newlib-nano-malloc --disable-newlib-multithread \
		CC_FOR_TARGET=gcc AR_FOR_TARGET=ar RANLIB_FOR_TARGET=ranlib \
		CFLAGS_FOR_TARGET="$(NEWLIB_CFLAGS)" > configure.log 2>&1
	$(MAKE) -C $(NEWLIB_BUILD) -j$$(nproc) all-target-newlib > $(NEWLIB_BUILD)/build.log 2>&1 || \
		{ tail -30 $(NEWLIB_BUILD)/build.log; exit 1; }
	$(MAKE) -C $(NEWLIB_BUILD) install-target-newlib > $(NEWLIB_BUILD)/install.log 2>&1
	rm -rf $(NEWLIB_DIR)/lib $(NEWLIB_DIR)/include
	mv $(NEWLIB_DIR)/x86_64-elf/lib $(NEWLIB_DIR)/x86_64-elf/include $(NEWLIB_DIR)/
	@touch $@

.PHONY: deps
deps: $(DEPS_STAMP) $(NEWLIB_LIBC) $(LWIP_DIR)/.unpacked $(MBEDTLS_DIR)/.unpacked
