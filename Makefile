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

.PHONY: all module load unload tests test-generate test demo clean

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

# Host flow of the seed: run the test programs against the loaded module.
tests: test-generate
	$(SWIFT) build -c release --product overlay-tests
	cd $(TEST_DATA) && $(CURDIR)/.build/release/overlay-tests tap

test-generate:
	$(SWIFT) build -c release --product overlay-tests
	mkdir -p $(TEST_DATA)
	.build/release/overlay-tests generate --dir $(TEST_DATA) --pages 1024 --xl-pages 16384

# Everything, in a QEMU guest running the pinned kernel.
test:
	vm/test

demo:
	vm/demo

# Works without kernel headers too: Kbuild's own clean when KDIR exists,
# then every output by name (Kbuild's, the Swift object's, SwiftPM's, the
# harness's).
clean:
	if [ -d $(KDIR) ]; then $(MAKE) -C $(KDIR) M=$(CURDIR) clean; fi
	find . -path ./.git -prune -o -path ./vm/.cache -prune -o \( -name '*.o' -o -name '*.ko' \
		-o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.su' \
		-o -name 'batch_syscalls_swift*.ll' -o -name Module.symvers -o -name modules.order \) \
		-type f -print0 | xargs -0 rm -f
	rm -rf kmod/.build-swift .build $(TEST_DATA) vm/out
