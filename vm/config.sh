# shellcheck shell=bash
# shellcheck disable=SC2034  # variables for the scripts that source this file
# VM harness settings, sourced by vm/setup, vm/run, vm/test and vm/demo.
# This is the one place the guest kernel is pinned; every value can be
# overridden from the environment (e.g. GUEST_KERNEL=6.12.x+deb12-cloud-amd64).

# Debian kernel ABI name: the guest boots linux-image-$GUEST_KERNEL and the
# module is built against linux-headers-$GUEST_KERNEL.
GUEST_KERNEL=${GUEST_KERNEL:-6.12.117+deb12-cloud-amd64}

# Guest size.
VM_MEM_MIB=${VM_MEM_MIB:-1024}
VM_CPUS=${VM_CPUS:-2}

# Seconds the guest command may run (vm/run --timeout overrides it).
VM_TIMEOUT=${VM_TIMEOUT:-600}
# Seconds the guest test suite of vm/test may run. The short stress pass
# takes about 40 s of it on an idle machine, 85 s with the host loaded
# (load average 9 on 2 cores: the suite then took 364 s in all). The v2
# chain scenarios, library tests and tool checks add about 60 s idle; with
# three guests on the machine the whole suite passed 450 s.
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-540}
# Seconds allowed on top of the command's timeout for boot, module load and
# unload, sync and power-off before the host kills QEMU.
VM_BOOT_ALLOWANCE=${VM_BOOT_ALLOWANCE:-60}

# Where things are.
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/.." && pwd)
VM_CACHE=${VM_CACHE:-$VM_DIR/.cache}
VM_OUT=${VM_OUT:-$VM_DIR/out}

# Headers the module is built against (KDIR), installed by vm/setup with apt.
GUEST_KDIR=${GUEST_KDIR:-/usr/src/linux-headers-$GUEST_KERNEL}
# The guest kernel image package, extracted (not installed) by vm/setup.
GUEST_ROOT=$VM_CACHE/kernel-$GUEST_KERNEL
GUEST_VMLINUZ=$GUEST_ROOT/boot/vmlinuz-$GUEST_KERNEL
GUEST_MODDIR=$GUEST_ROOT/lib/modules/$GUEST_KERNEL

# The project's module.
MODULE_KO_NAME=batch-syscalls.ko
MODULE_NAME=batch_syscalls

# Swift toolchain used when `swift` is not on PATH.
SWIFT_BIN_DIR=${SWIFT_BIN_DIR:-/opt/swift/usr/bin}
