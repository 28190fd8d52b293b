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
};

static const unsigned long batch_syscalls_create_cmd = IOCTL_MEM_OVERLAY_REQ_CMD;
static const unsigned long batch_syscalls_cleanup_cmd = IOCTL_MEM_OVERLAY_CLEANUP_CMD;

/* ioctl(2) with one pointer argument. */
static inline int batch_syscalls_ioctl(int fd, unsigned long request, void *argument)
{
	return ioctl(fd, request, argument);
}

/*
 * Helpers for the end-to-end tests (overlay-tests): what Swift cannot
 * express itself, because the C function is variadic (prctl, syscall) or
 * needs sigsetjmp/siglongjmp.
 */
#include <stddef.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented here. */
static inline int batch_syscalls_set_child_subreaper(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}

/* mremap(2) with the optional new address always passed (the system call:
 * glibc declares mremap only with _GNU_SOURCE). MAP_FAILED on error. */
static inline void *batch_syscalls_mremap(void *old_address, size_t old_size,
					  size_t new_size, int flags, void *new_address)
{
	return (void *)syscall(SYS_mremap, old_address, old_size, new_size, flags, new_address);
}

static inline int batch_syscalls_delete_module(const char *name, unsigned int flags)
{
	return (int)syscall(SYS_delete_module, name, flags);
}

static inline int batch_syscalls_finit_module(int fd, const char *params, int flags)
{
	return (int)syscall(SYS_finit_module, fd, params, flags);
}

/* memfd_create(name, MFD_CLOEXEC): a shmem file (glibc declares it only
 * with _GNU_SOURCE). */
static inline int batch_syscalls_memfd_create(const char *name)
{
	return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */);
}

/*
 * Copying from or to memory that may fault (a page past the end of a layer
 * file raises SIGBUS): the fault returns to the copy through siglongjmp
 * instead of killing the test process (shim.c).
 */

/* Installs the handler for SIGBUS and SIGSEGV; a fault outside a copy still
 * gets the default action. Once per process (fork inherits it). */
int batch_syscalls_probe_install(void);

/* Copies `length` bytes; returns 0, or the signal (SIGBUS, SIGSEGV) raised
 * by reading `source` or writing `destination`. */
int batch_syscalls_probe_copy(void *destination, const void *source, size_t length);

/*
 * The FUSE protocol (<linux/fuse.h>: message structs, opcodes, flags) for
 * the tests' own FUSE server: the guest has no libfuse.
 */
#include <linux/fuse.h>

/* mlock2(address, length, MLOCK_ONFAULT): pages are locked in memory as
 * they are faulted in (glibc declares mlock2 only with _GNU_SOURCE). */
static inline int batch_syscalls_mlock_on_fault(const void *address, size_t length)
{
	return (int)syscall(SYS_mlock2, address, length, 1U /* MLOCK_ONFAULT */);
}

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
