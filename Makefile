# Tern: one entry point. See README.md for `make demo` and `make test`.
#   make            build/tern.efi, build/esp.img (UEFI) and build/tern.iso (Multiboot2)
#   make deps       install missing Debian packages, fetch newlib/lwIP/mbedTLS sources
#   make test       host unit tests, then integration tests in QEMU and Bochs
#   make demo       the end-to-end demonstration
#   make run        one Tern in QEMU (TCG, OVMF, SVM+NPT), console on this terminal
#   make run-bochs  one Tern in Bochs (VMX+EPT), console on this terminal
#   make bench      benchmark table, JSON under build/bench/
#   make fresh-check  make test in a fresh Debian 12 chroot (tools/fresh-check.sh)

BUILD  := build
PYTHON := /usr/bin/python3
export PYTHON

# Host builds (unit tests, fuzzers) of arch-neutral code. Fragments append
# test binaries to UNIT_TESTS; `make unit` runs each one.
HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -I. -DTERN_HOST \
	-fsanitize=address,undefined -fno-omit-frame-pointer
HOST_LDLIBS := -lcmocka
UNIT_TESTS :=
INTEGRATION_DEPS :=

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:

include mk/deps.mk
include mk/kernel.mk
include $(sort $(filter-out mk/deps.mk mk/kernel.mk mk/images.mk,$(wildcard mk/*.mk)))
include mk/images.mk

.PHONY: all test unit integration demo run run-bochs bench fresh-check clean
all: $(KERNEL_IMAGES)

# The build and the unit tests (each one process on one core, the fuzzers
# most of their time) use every core; the integration lanes schedule the
# cores themselves (tests/integration/lanes.py), so they start only after.
# Serially the part before the emulators took 4.5 minutes of the suite.
JOBS ?= $(shell nproc)
test:
	$(MAKE) --no-print-directory -j$(JOBS) deps all $(UNIT_TESTS) $(INTEGRATION_DEPS)
	$(MAKE) --no-print-directory -j$(JOBS) --output-sync=target --keep-going unit
	$(MAKE) --no-print-directory integration

# One target per test: `make test` runs them all, a failure or not
# (--keep-going), each one's output in one piece (--output-sync).
UNIT_RUNS := $(UNIT_TESTS:%=%.run)
unit: $(UNIT_RUNS)
$(UNIT_RUNS): %.run: % deps
	@echo "== $<"; $<
.PHONY: $(UNIT_RUNS)

# Two lanes of one-emulator modules side by side, then the two-host modules
# alone (tests/integration/lanes.py says why).
integration: deps all $(INTEGRATION_DEPS)
	$(PYTHON) tests/integration/lanes.py $(PYTEST_ARGS)

demo: deps all $(INTEGRATION_DEPS)
	$(PYTHON) tools/demo.py

run: deps all
	$(PYTHON) tools/run.py qemu $(RUN_ARGS)

run-bochs: deps all
	$(PYTHON) tools/run.py bochs $(RUN_ARGS)

bench: deps $(BENCH_STAMP) all $(INTEGRATION_DEPS)
	$(PYTHON) tools/bench.py

# No deps: it checks a clean clone of HEAD on a machine that has nothing.
# PYTEST_ARGS narrows the tests run there; FRESH_ARGS adds make arguments.
fresh-check:
	tools/fresh-check.sh $(if $(PYTEST_ARGS),"PYTEST_ARGS=$(PYTEST_ARGS)") $(FRESH_ARGS)

clean:
	rm -rf $(filter-out $(BUILD)/deps,$(wildcard $(BUILD)/*))
