/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ABI header as a Clang module for userspace Swift, plus what Swift
 * cannot import from it by itself: the ioctl numbers (function-like macros)
 * and a non-variadic ioctl (Swift does not call C variadic functions).
 */
#ifndef CBATCH_SYSCALLS_H
#define CBATCH_SYSCALLS_H

#include <sys/ioctl.h>
#include "../../../include/uapi/batch_syscalls.h"

enum {
	BATCH_SYSCALLS_MAX_SEGMENTS = MEM_OVERLAY_MAX_SEGMENTS,
	BATCH_SYSCALLS_MAX_LAYERS = MEM_OVERLAY_MAX_LAYERS,
	BATCH_SYSCALLS_STACK_REQ_SIZE_VER0 = MEM_OVERLAY_STACK_REQ_SIZE_VER0,
};

static const unsigned long batch_syscalls_create_cmd = IOCTL_MEM_OVERLAY_REQ_CMD;
static const unsigned long batch_syscalls_cleanup_cmd = IOCTL_MEM_OVERLAY_CLEANUP_CMD;
static const unsigned long batch_syscalls_stack_cmd = IOCTL_MEM_OVERLAY_STACK_CMD;
static const unsigned int batch_syscalls_layer_data_extents = MEM_OVERLAY_LAYER_DATA_EXTENTS;
static const unsigned int batch_syscalls_layer_own = MEM_OVERLAY_LAYER_OWN;
static const unsigned int batch_syscalls_layer_shared = MEM_OVERLAY_LAYER_SHARED;

/* ioctl(2) with one pointer argument. */
static inline int batch_syscalls_ioctl(int fd, unsigned long request, void *argument)
{
	return ioctl(fd, request, argument);
}

#include <stddef.h>
#include <unistd.h>
#include <sys/syscall.h>

/*
 * userfaultfd for `batch-syscalls bench` (the method a Firecracker-style
 * restore uses): the structs come from <linux/userfaultfd.h>; the system
 * call and the ioctl numbers (function-like macros) need these wrappers.
 */
#include <linux/userfaultfd.h>

static const unsigned long batch_syscalls_uffdio_api_cmd = UFFDIO_API;
static const unsigned long batch_syscalls_uffdio_register_cmd = UFFDIO_REGISTER;
static const unsigned long batch_syscalls_uffdio_copy_cmd = UFFDIO_COPY;
static const unsigned long long batch_syscalls_uffd_api = UFFD_API;
static const unsigned long long batch_syscalls_uffdio_register_mode_missing = UFFDIO_REGISTER_MODE_MISSING;

/* userfaultfd(flags): a new userfaultfd (glibc has no wrapper for it).
 * UFFD_USER_MODE_ONLY in `flags` lets an unprivileged process handle its
 * own user-mode faults. */
static inline int batch_syscalls_userfaultfd(int flags)
{
	return (int)syscall(SYS_userfaultfd, flags);
}

/* sched_setaffinity(0, ...) to the one CPU `cpu` (glibc declares it only
 * with _GNU_SOURCE): `batch-syscalls bench --cpu` runs every measurement on
 * one CPU. */
static inline int batch_syscalls_pin_to_cpu(unsigned int cpu)
{
	unsigned long mask[16] = { 0 };
	if (cpu >= 8 * sizeof(mask))
		return -1;
	mask[cpu / (8 * sizeof(mask[0]))] = 1UL << (cpu % (8 * sizeof(mask[0])));
	return (int)syscall(SYS_sched_setaffinity, 0, sizeof(mask), mask);
}

/* malloc_trim(0) (<malloc.h>, which Swift's Glibc module leaves out): the
 * bench returns freed heap memory before it reads a process's Rss. */
#include <malloc.h>

static inline int batch_syscalls_malloc_trim(void)
{
	return malloc_trim(0);
}

#endif
