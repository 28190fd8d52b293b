# SPDX-License-Identifier: GPL-2.0-or-later
#
# batch-syscalls: build, load and test the kernel module; build and run the
# Swift userspace. `make test` runs everything in a QEMU guest.

KDIR ?= /lib/modules/$(shell uname -r)/build
LOG_LEVEL ?= 1
SWIFT_TOOLCHAIN ?= /opt/swift/usr/bin
SWIFT ?= $(SWIFT_TOOLCHAIN)/swift
MODULE := batch-syscalls.ko
MODULE_NAME := batch_syscalls
TEST_DATA ?= test-data

.PHONY: all module load unload tests test-generate test test-kernels test-stress test-debug test-packages deb demo bench bench-host clean

all: module

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) LOG_LEVEL=$(LOG_LEVEL) modules

load:
	insmod $(MODULE)

# The VFS drops a released overlay's module reference after an RCU grace
# period: retry for a moment before giving up.
unload:
	for try in 1 2 3 4 5 6 7 8 9 10; do rmmod $(MODULE_NAME) 2>/dev/null && exit 0; sleep 0.2; done; \
	rmmod $(MODULE_NAME)

# The seed's test programs: one directory each (the one list; Package.swift
# and vm/test read the same directory).
SEED_PROGRAMS := $(notdir $(patsubst %/,%,$(wildcard GuestTests/SeedPrograms/*/)))
XL_PAGES ?= 1048576
RELEASE := $(CURDIR)/.build/release

# Host flow of the seed: the test programs, run from the data directory
# against the loaded module (sudo make load), each printing TAP. A program
# that cannot run (no device, not root) says SKIP and exits 77: counted as
# skipped.
tests: test-generate
	$(SWIFT) build -c release
	@cd $(TEST_DATA) && passed=0 failed=0 skipped=0; \
	for program in $(SEED_PROGRAMS); do \
		echo "== $$program"; $(RELEASE)/$$program; status=$$?; \
		case $$status in 0) passed=$$((passed + 1));; 77) skipped=$$((skipped + 1));; \
		*) failed=$$((failed + 1)); echo "$$program failed (status $$status)";; esac; \
	done; \
	echo "seed programs: $$passed passed, $$failed failed, $$skipped skipped"; [ $$failed -eq 0 ]

# The seed's data files (XL files of XL_PAGES pages: 4 GiB each by default;
# make test-generate XL_PAGES=16384 for small ones).
test-generate:
	$(SWIFT) build -c release --product batch-syscalls
	$(RELEASE)/batch-syscalls sample-files --dir $(TEST_DATA) --pages 1024 --xl-pages $(XL_PAGES)

# Everything, in a QEMU guest running the default kernel (6.12), or
# KERNEL=6.1|6.12|7.3 (vm/config.sh).
test:
	vm/test $(if $(KERNEL),--kernel $(KERNEL))

# The module build, its checks, DKMS and the whole guest suite on every
# guest kernel of vm/config.sh (6.1, 6.12, 7.3), one after another;
# SKIP_KERNELS names kernels that already passed `make test` in this run.
test-kernels:
	vm/test-kernels

# The long stress pass in the guest (overlay-tests stress: 100,000 fuzzed
# requests, 1,000 soak rounds; STRESS_SEED=S repeats a run's choices).
test-stress:
	vm/stress

# The guest suite, a stress pass and kmemleak scans on the debug guest kernel
# (KASAN, lockdep, kmemleak, DEBUG_VM; built once per machine by
# vm/debug-kernel/build: 10 to 65 minutes on 2 cores, depending on load).
test-debug:
	vm/test --debug

# The Debian packages in dist/: batch-syscalls-dkms (the module's source
# and its Swift part prebuilt per codegen profile of DEB_KERNELS) and
# batch-syscalls (the tool, Swift runtime linked in). See deb/build.
deb:
	deb/build

# The packages installed with apt in Debian roots without Swift (bookworm:
# 6.1 and 6.12, trixie: 7.3), DKMS's modules through the guest suite,
# then removed without a trace. See deb/test.
test-packages: deb
	deb/test

demo:
	vm/demo

# Benchmarks in the QEMU guest: prints the tables, writes docs/benchmarks/;
# on the default guest kernel (6.12), or KERNEL=6.1|6.12|7.3 (vm/config.sh
# reads it from the environment, where make puts command-line variables).
bench:
	vm/bench

# Micro-benchmarks of the module's Swift logic on the host (package-benchmark).
bench-host:
	cd Benchmarks && $(SWIFT) package benchmark

# Works without kernel headers too: Kbuild's own clean when KDIR exists,
# then every output by name (Kbuild's, the Swift object's, SwiftPM's, the
# harness's).
clean:
	if [ -d $(KDIR) ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	find . -path ./.git -prune -o -path ./vm/.cache -prune -o -path ./kmod/prebuilt -prune -o \( -name '*.o' -o -name '*.ko' \
		-o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.su' \
		-o -name 'batch_syscalls_swift*.ll' -o -name Module.symvers -o -name modules.order \) \
		-type f -print0 | xargs -0 rm -f
	rm -rf kmod/.build-swift .build .build-kmod .build-deb dist Benchmarks/.build $(TEST_DATA) vm/out
