# shellcheck shell=bash
# shellcheck disable=SC2034  # variables for the scripts that source this file
# VM harness settings, sourced by vm/setup, vm/run, vm/test and vm/demo.
# This is the one place the guest kernels are pinned; every value can be
# overridden from the environment (e.g. GUEST_KERNEL=6.12.x+deb12-cloud-amd64).

# Where things are.
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/.." && pwd)
VM_CACHE=${VM_CACHE:-$VM_DIR/.cache}
VM_OUT=${VM_OUT:-$VM_DIR/out}

# ---- guest kernels ----------------------------------------------------------
# KERNEL picks one (vm/run --kernel NAME, make test KERNEL=NAME). Each sets:
#   GUEST_KERNEL   the kernel's release (uname -r)
#   GUEST_SETUP    what vm/setup does to provide it (a function there)
#   GUEST_ROOT     where its image (boot/) and initramfs modules live
#   GUEST_KDIR     the tree the module is built against (KDIR)
#   GUEST_MODDIR   its modules (virtio_blk for the initramfs); empty when
#                  everything the guest needs is built in
# and may scale the guest's size and timeouts (VM_MEM_MIB, VM_TEST_TIMEOUT,
# ...), add kernel parameters (GUEST_CMDLINE_EXTRA) or pick QEMU's CPU model
# (GUEST_QEMU_CPU, default max).
KERNEL=${KERNEL:-6.12}
GUEST_CMDLINE_EXTRA=${GUEST_CMDLINE_EXTRA:-}
GUEST_QEMU_CPU=${GUEST_QEMU_CPU:-max}
case $KERNEL in
    6.12)
        # Debian 12's 6.12 cloud kernel: image extracted from its package
        # into the cache, headers installed with apt.
        GUEST_KERNEL=${GUEST_KERNEL:-6.12.117+deb12-cloud-amd64}
        GUEST_SETUP=${GUEST_SETUP:-setup_debian_image}
        GUEST_ROOT=${GUEST_ROOT:-$VM_CACHE/kernel-$GUEST_KERNEL}
        GUEST_KDIR=${GUEST_KDIR:-/usr/src/linux-headers-$GUEST_KERNEL}
        GUEST_MODDIR=${GUEST_MODDIR-$GUEST_ROOT/lib/modules/$GUEST_KERNEL}
        ;;
    debug)
        # Debian's linux-source-6.12 built with KASAN, lockdep, kmemleak,
        # DEBUG_VM, DEBUG_LIST, DEBUG_ATOMIC_SLEEP and the hung-task and
        # soft-lockup detectors by vm/debug-kernel/build, once per machine,
        # under /var/cache/batch-syscalls/debug-kernel/<key>/; the module is
        # built against that tree. Its release is the source's version plus
        # config.fragment's LOCALVERSION.
        GUEST_KERNEL=${GUEST_KERNEL:-6.12.117-bsdebug}
        GUEST_SETUP=${GUEST_SETUP:-setup_debug_build}
        GUEST_ROOT=${GUEST_ROOT:-$("$VM_DIR/debug-kernel/build" --print-dir)}
        GUEST_KDIR=${GUEST_KDIR:-$GUEST_ROOT/src}
        GUEST_MODDIR=${GUEST_MODDIR-}
        # 4-level paging. With 5-level paging (QEMU's -cpu max has LA57),
        # KASAN can report a wild-memory-access at boot: identify_cpu()
        # clears boot_cpu_data's capabilities before reading them again, and
        # in that window pgtable_l5_enabled() (X86_FEATURE_LA57 outside the
        # early boot code) says 4-level, so KASAN's addr_has_metadata()
        # places the shadow's start for 4-level paging and a checked access
        # (an atomic, a spinlock in an interrupt) to a 5-level direct-map
        # address (0xff11...) looks wild. A kernel bug, not the module's;
        # no5lvl keeps the kernel out of that window's reach and leaves the
        # CPU model as the stock guest's.
        GUEST_CMDLINE_EXTRA=${GUEST_CMDLINE_EXTRA:-no5lvl}
        # KASAN, lockdep and kmemleak under TCG: more memory (shadow,
        # quarantine, lockdep's tables) and longer timeouts. Measured with
        # the host loaded (load average 6 to 9 on 2 cores): /init at 35 to
        # 42 s, the first 53 scenarios of overlay-tests in 12.5 min, and
        # the 32M-cgroup memory-pressure scenario over 180 s (unscaled).
        VM_MEM_MIB=${VM_MEM_MIB:-2048}
        VM_TIMEOUT_SCALE=${VM_TIMEOUT_SCALE:-4}
        VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-5400}
        VM_BOOT_ALLOWANCE=${VM_BOOT_ALLOWANCE:-120}
        ;;
    *)
        printf 'vm/config.sh: unknown KERNEL=%s (known: 6.12, debug)\n' "$KERNEL" >&2
        return 2 2>/dev/null || exit 2
        ;;
esac
GUEST_VMLINUZ=${GUEST_VMLINUZ:-$GUEST_ROOT/boot/vmlinuz-$GUEST_KERNEL}

# Guest size.
VM_MEM_MIB=${VM_MEM_MIB:-1024}
VM_CPUS=${VM_CPUS:-2}

# Seconds the guest command may run (vm/run --timeout overrides it).
VM_TIMEOUT=${VM_TIMEOUT:-600}
# Multiplies the guest suite's per-test timeouts (a slower kernel sets more).
VM_TIMEOUT_SCALE=${VM_TIMEOUT_SCALE:-1}
# Seconds the guest test suite of vm/test may run. The short stress pass
# takes about 40 s of it on an idle machine, 85 s with the host loaded
# (load average 9 on 2 cores: the suite then took 364 s in all).
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-450}
# Seconds allowed on top of the command's timeout for boot, module load and
# unload, sync and power-off before the host kills QEMU.
VM_BOOT_ALLOWANCE=${VM_BOOT_ALLOWANCE:-60}

# The project's module.
MODULE_KO_NAME=batch-syscalls.ko
MODULE_NAME=batch_syscalls

# Swift toolchain used when `swift` is not on PATH.
SWIFT_BIN_DIR=${SWIFT_BIN_DIR:-/opt/swift/usr/bin}
