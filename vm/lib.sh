# shellcheck shell=bash
# shellcheck disable=SC2034  # variables for the scripts that source this file
# Helpers shared by the vm/ scripts. Sourced after vm/config.sh.

vm_prog=${vm_prog:-vm/$(basename "$0")}

vm_note() { printf '%s: %s\n' "$vm_prog" "$*" >&2; }
vm_die() { printf '%s: error: %s\n' "$vm_prog" "$*" >&2; exit "${VM_EXIT_HARNESS:-125}"; }

# Exit statuses of vm/run other than the command's own.
VM_EXIT_CONSOLE=120   # the kernel console shows BUG/WARNING/Oops/...
VM_EXIT_INSMOD=121    # the module did not load; the command did not run
VM_EXIT_RMMOD=122     # the module did not unload after the command
VM_EXIT_TIMEOUT=124   # the command or the guest exceeded its timeout
VM_EXIT_HARNESS=125   # setup, build, QEMU or guest init failed

# The static busybox put in the initramfs: Debian's busybox-static when
# installed, else the copy vm/setup extracted into the cache.
vm_busybox() {
    local cached=$VM_CACHE/busybox-static/bin/busybox
    if [[ -x $cached ]]; then
        printf '%s\n' "$cached"
    else
        printf '%s\n' /bin/busybox
    fi
}

# Puts the Swift toolchain on PATH when `swift` is not found.
vm_swift_path() {
    if ! command -v swift >/dev/null 2>&1 && [[ -x $SWIFT_BIN_DIR/swift ]]; then
        PATH=$SWIFT_BIN_DIR:$PATH
        export PATH
    fi
}

# Debian's QEMU for the guest (the unmodified client of a restore by pidfd:
# UnmodifiedClientScenarios, `overlay-tests demo`): prints the binary and a
# directory DIR/qemu-files holding what it reads at start that is not next
# to it in the guest (SeaBIOS, the vapic option ROM, its TCG accelerator,
# a loadable module in Debian's build), one a line, for --file; the guest
# side points -L and QEMU_MODULE_DIR at /mnt/work/qemu-files. Fails when
# QEMU or one of those is missing.
vm_guest_qemu() {
    local dir=$1/qemu-files qemu
    qemu=$(command -v qemu-system-x86_64) || return 1
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    cp /usr/share/seabios/bios-256k.bin /usr/share/qemu/kvmvapic.bin \
        /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so "$dir/" || return 1
    printf '%s\n' "$qemu" "$dir"
}
