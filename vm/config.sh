# shellcheck shell=bash
# shellcheck disable=SC2034  # variables for the scripts that source this file
# VM harness settings, sourced by every vm/ script and scripts/check-*.
# This is the one place the guest kernels are pinned (the table below);
# every value can be overridden from the environment.

# Where things are.
VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/.." && pwd)
VM_CACHE=${VM_CACHE:-$VM_DIR/.cache}
VM_OUT=${VM_OUT:-$VM_DIR/out}
# Downloaded kernels (kernel-<uname -r>/) and build roots (root-<suite>-<key>/),
# outside the checkout so that a later clone and CI reuse them.
BS_CACHE=${BS_CACHE:-/var/cache/batch-syscalls}

# ---- guest kernels -----------------------------------------------------------
# KERNEL names one row of the table; `make test-kernels` runs every name in
# KERNELS. Each row sets:
#   GUEST_KERNEL     the kernel's release (uname -r), Debian's ABI name
#   GUEST_KERNEL_PKG the Debian package version the packages are pinned to
#   GUEST_PACKAGES   the packages GUEST_SETUP downloads and extracts (image,
#                    modules, headers, kbuild; each pinned to GUEST_KERNEL_PKG)
#   GUEST_SUITE      where the packages come from
#   GUEST_COMPILER   the compiler the kernel was built with (for the README)
#   GUEST_SETUP      the function vm/setup calls to install or download the
#                    image and headers (defined in vm/setup)
#   GUEST_VMLINUZ    the kernel image QEMU boots
#   GUEST_MODDIR     its modules (virtio_blk for the initramfs); may be empty
#                    when the image needs no module
#   GUEST_KDIR       the headers the module is built against (KDIR)
#   GUEST_PATH       directories put first on PATH for the module's C build
#                    and DKMS (Kbuild runs the compiler the headers name, e.g.
#                    x86_64-linux-gnu-gcc-14: vm/trixie-bin runs it in the
#                    build root); empty for the machine's own compiler
# To add a kernel: a new case here and, if none fits, a setup function in
# vm/setup (see vm/README.md).
KERNELS=${KERNELS:-"6.1 6.12 7.3"}
KERNEL=${KERNEL:-6.12}

# The build root for kernels that need a newer compiler (vm/build-root).
BUILD_ROOT_SUITE=${BUILD_ROOT_SUITE:-trixie}
BUILD_ROOT_EXTRA_SUITES=${BUILD_ROOT_EXTRA_SUITES:-trixie-backports}
BUILD_ROOT_PACKAGES=${BUILD_ROOT_PACKAGES:-"gcc-14 pahole"}

GUEST_PATH=${GUEST_PATH:-}
case $KERNEL in
    6.1)
        # Debian 12's stock kernel (linux-image-cloud-amd64 in bookworm).
        GUEST_KERNEL=${GUEST_KERNEL:-6.1.0-57-cloud-amd64}
        GUEST_KERNEL_PKG=${GUEST_KERNEL_PKG:-6.1.192-3}
        GUEST_SUITE=${GUEST_SUITE:-bookworm-security}
        GUEST_COMPILER=${GUEST_COMPILER:-gcc-12}
        GUEST_SETUP=${GUEST_SETUP:-setup_host_download}
        # Its guest suite takes about 1.25 times 6.12's (page_fault_benchmark:
        # 67 s against 52 s, back to back on the same loaded machine).
        # With three guests on the machine (load average 5) it passed 560 s
        # after 104 of its tests had passed.
        VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-1120}
        GUEST_PACKAGES=${GUEST_PACKAGES:-"linux-image-$GUEST_KERNEL linux-headers-$GUEST_KERNEL
            linux-headers-${GUEST_KERNEL%-cloud-amd64}-common linux-kbuild-6.1"}
        ;;
    6.12)
        # Debian 12's 6.12 (bookworm-backports, via bookworm-security): the
        # default guest. Its headers are installed with apt.
        GUEST_KERNEL=${GUEST_KERNEL:-6.12.117+deb12-cloud-amd64}
        GUEST_KERNEL_PKG=${GUEST_KERNEL_PKG:-6.12.117-1~deb12u1}
        GUEST_SUITE=${GUEST_SUITE:-bookworm-security}
        GUEST_COMPILER=${GUEST_COMPILER:-gcc-12}
        GUEST_SETUP=${GUEST_SETUP:-setup_host_apt}
        GUEST_PACKAGES=${GUEST_PACKAGES:-"linux-image-$GUEST_KERNEL"}
        GUEST_KDIR=${GUEST_KDIR:-/usr/src/linux-headers-$GUEST_KERNEL}
        ;;
    7.3)
        # The newest Debian kernel (trixie-backports), built by gcc-14: its
        # packages are fetched through the trixie build root, and its C is
        # compiled there.
        GUEST_KERNEL=${GUEST_KERNEL:-7.3.4+deb13-cloud-amd64}
        GUEST_KERNEL_PKG=${GUEST_KERNEL_PKG:-7.3.4-1~bpo13+1}
        GUEST_SUITE=${GUEST_SUITE:-trixie-backports}
        GUEST_COMPILER=${GUEST_COMPILER:-gcc-14}
        GUEST_SETUP=${GUEST_SETUP:-setup_root_download}
        # From 7.x the image package only depends on the kernel (binary),
        # its modules and its base files.
        GUEST_PACKAGES=${GUEST_PACKAGES:-"linux-binary-$GUEST_KERNEL linux-modules-$GUEST_KERNEL
            linux-base-$GUEST_KERNEL linux-headers-$GUEST_KERNEL
            linux-headers-${GUEST_KERNEL%-cloud-amd64}-common linux-kbuild-${GUEST_KERNEL%-cloud-amd64}"}
        GUEST_PATH=${GUEST_PATH:-$VM_DIR/trixie-bin}
        # From 7.x the image is in the modules' directory, under /usr.
        GUEST_ROOT=${GUEST_ROOT:-$BS_CACHE/kernel-$GUEST_KERNEL}
        GUEST_VMLINUZ=${GUEST_VMLINUZ:-$GUEST_ROOT/usr/lib/modules/$GUEST_KERNEL/vmlinuz}
        GUEST_MODDIR=${GUEST_MODDIR-$GUEST_ROOT/usr/lib/modules/$GUEST_KERNEL}
        ;;
    debug)
        # Not in KERNELS: make test-debug runs it. Debian's linux-source-6.12
        # built with KASAN, lockdep, kmemleak, DEBUG_VM, DEBUG_LIST,
        # DEBUG_ATOMIC_SLEEP and the hung-task and soft-lockup detectors by
        # vm/debug-kernel/build, once per machine, under
        # $BS_CACHE/debug-kernel/<key>/; the module is built against that
        # tree. Its release is the source's version plus config.fragment's
        # LOCALVERSION; everything the guest needs is built in.
        GUEST_KERNEL=${GUEST_KERNEL:-6.12.117-bsdebug}
        GUEST_KERNEL_PKG=${GUEST_KERNEL_PKG:-6.12.117-1~deb12u1}
        GUEST_SUITE=${GUEST_SUITE:-bookworm-security}
        GUEST_COMPILER=${GUEST_COMPILER:-gcc-12}
        GUEST_SETUP=${GUEST_SETUP:-setup_debug_build}
        GUEST_ROOT=${GUEST_ROOT:-$("$VM_DIR/debug-kernel/build" --print-dir)}
        GUEST_KDIR=${GUEST_KDIR:-$GUEST_ROOT/src}
        GUEST_MODDIR=${GUEST_MODDIR-}
        # 4-level paging. With 5-level paging (QEMU's -cpu max has LA57),
        # KASAN can report a wild-memory-access at boot: identify_cpu()
        # clears boot_cpu_data's capabilities before reading them again, and
        # in that window pgtable_l5_enabled() says 4-level, so KASAN's
        # addr_has_metadata() places the shadow's start for 4-level paging
        # and a checked access to a 5-level direct-map address (0xff11...)
        # looks wild. A kernel bug, not the module's; no5lvl keeps the
        # kernel out of that window and leaves the CPU model as the stock
        # guest's.
        GUEST_CMDLINE_EXTRA=${GUEST_CMDLINE_EXTRA:-no5lvl}
        # KASAN, lockdep and kmemleak under TCG: more memory (shadow,
        # quarantine, lockdep's tables) and longer timeouts. Measured with
        # the host loaded (load average 5 to 10 on 2 cores): /init at 35 to
        # 43 s, the guest suite in about 27 min.
        VM_MEM_MIB=${VM_MEM_MIB:-2048}
        VM_TIMEOUT_SCALE=${VM_TIMEOUT_SCALE:-4}
        VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-5400}
        VM_BOOT_ALLOWANCE=${VM_BOOT_ALLOWANCE:-120}
        ;;
    *)
        printf 'vm/config.sh: unknown KERNEL=%s (known: %s)\n' "$KERNEL" "$KERNELS" >&2
        return 2 2>/dev/null || exit 2
        ;;
esac
# Downloaded kernels are extracted (never installed) into kernel-<release>/.
GUEST_ROOT=${GUEST_ROOT:-$BS_CACHE/kernel-$GUEST_KERNEL}
GUEST_VMLINUZ=${GUEST_VMLINUZ:-$GUEST_ROOT/boot/vmlinuz-$GUEST_KERNEL}
GUEST_MODDIR=${GUEST_MODDIR-$GUEST_ROOT/lib/modules/$GUEST_KERNEL}
GUEST_KDIR=${GUEST_KDIR:-$GUEST_ROOT/usr/src/linux-headers-$GUEST_KERNEL}
# Per-kernel module build directory (a tree of links to the sources), so
# that kernels can be built and tested one after another from one checkout.
GUEST_BUILD=${GUEST_BUILD:-$REPO_ROOT/.build-kmod/$GUEST_KERNEL}

# QEMU's CPU model (TCG) and extra kernel parameters. A row may set its own.
VM_QEMU_CPU=${VM_QEMU_CPU:-max}
GUEST_CMDLINE_EXTRA=${GUEST_CMDLINE_EXTRA:-}

# Guest size.
VM_MEM_MIB=${VM_MEM_MIB:-1024}
VM_CPUS=${VM_CPUS:-2}
# NUMA nodes the guest's memory is split into (QEMU -numa; CPU i on node i
# while there are CPUs). Two by default: fleet hosts are NUMA, and the
# scenarios move overlay, base and private pages between nodes (move_pages,
# mbind, migrate_pages, NUMA balancing). vm/bench boots one node, so that
# NUMA balancing's hint faults stay out of the fault counts it compares.
VM_NUMA_NODES=${VM_NUMA_NODES:-2}

# Seconds the guest command may run (vm/run --timeout overrides it).
VM_TIMEOUT=${VM_TIMEOUT:-600}
# Multiplies the guest suite's per-test timeouts (a slower kernel sets more).
VM_TIMEOUT_SCALE=${VM_TIMEOUT_SCALE:-1}
# Seconds the guest test suite of vm/test may run. The short stress pass
# takes about 40 s of it on an idle machine, 85 s with the host loaded
# (load average 9 on 2 cores: the suite then took 364 s in all). The v2
# chain scenarios, library tests and tool checks add about 60 s idle; with
# three guests on the machine the whole suite passed 450 s. A limit for a
# hung guest, not a speed target: 900 s leaves room for a loaded host.
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-900}
# Seconds allowed on top of the command's timeout for boot, module load and
# unload, sync and power-off before the host kills QEMU.
VM_BOOT_ALLOWANCE=${VM_BOOT_ALLOWANCE:-60}

# The project's module.
MODULE_KO_NAME=batch-syscalls.ko
MODULE_NAME=batch_syscalls

# Swift toolchain used when `swift` is not on PATH.
SWIFT_BIN_DIR=${SWIFT_BIN_DIR:-/opt/swift/usr/bin}
