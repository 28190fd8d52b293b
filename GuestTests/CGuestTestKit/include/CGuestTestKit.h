/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the programs run in the guest (the tests, the bench) need from C and
 * Swift cannot express itself, because the C function is variadic (prctl,
 * syscall, ioctl) or needs sigsetjmp/siglongjmp. Nothing here ships: the
 * library and the tool use CBatchSyscalls; the ABI's requests go through
 * MemoryOverlay.
 */
#ifndef CGUEST_TEST_SUPPORT_H
#define CGUEST_TEST_SUPPORT_H

#include <stddef.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>

/* prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented here. */
static inline int batch_syscalls_set_child_subreaper(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0UL, 0UL, 0UL);
}

/* prctl(PR_SET_PDEATHSIG, SIGKILL): killed when the thread that forked it
 * ends (a program a scenario runs does not outlive a crashed scenario). */
static inline int batch_syscalls_kill_with_parent(void)
{
	return prctl(PR_SET_PDEATHSIG, 9UL, 0UL, 0UL, 0UL);
}

/* prctl(PR_SET_DUMPABLE, 1): a process whose ids changed may be traced
 * (and its memory written) by its own user again. */
static inline int batch_syscalls_set_dumpable(void)
{
	return prctl(PR_SET_DUMPABLE, 1UL, 0UL, 0UL, 0UL);
}

/* glibc declares these only with _GNU_SOURCE, which Swift's Glibc module
 * is not built with. glibc's setresuid and setresgid change the ids of
 * every thread (the raw system calls would change only the caller's). */
int setresuid(uid_t ruid, uid_t euid, uid_t suid);
int setresgid(gid_t rgid, gid_t egid, gid_t sgid);
ssize_t process_vm_writev(pid_t pid, const struct iovec *local_iov, unsigned long liovcnt,
			  const struct iovec *remote_iov, unsigned long riovcnt, unsigned long flags);

static inline int batch_syscalls_setresuid(uid_t real, uid_t effective, uid_t saved)
{
	return setresuid(real, effective, saved);
}

static inline int batch_syscalls_setresgid(gid_t real, gid_t effective, gid_t saved)
{
	return setresgid(real, effective, saved);
}

/* Writes `length` bytes from `source` at `address` in process `pid`: the
 * bytes written, or -1 and errno. */
static inline ssize_t batch_syscalls_process_vm_write(pid_t pid, void *address, const void *source, size_t length)
{
	struct iovec local = { .iov_base = (void *)source, .iov_len = length };
	struct iovec remote = { .iov_base = address, .iov_len = length };

	return process_vm_writev(pid, &local, 1, &remote, 1, 0);
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

/* fallocate(2) (glibc declares it only with _GNU_SOURCE): the stress
 * suite punches holes in layer files while they are mapped, scenarios
 * preallocate blocks. Its FALLOC_FL_ flags come from <linux/falloc.h>. */
#include <linux/falloc.h>
static inline int batch_syscalls_fallocate(int fd, int mode, long offset, long length)
{
	return (int)syscall(SYS_fallocate, fd, mode, offset, length);
}

/*
 * Copying from or to memory that may fault (a page past the end of a layer
 * file raises SIGBUS): the fault returns to the copy through siglongjmp
 * instead of killing the test process (probe.c).
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
 * userfaultfd (what a Firecracker-style restore serves faults with): the
 * structs come from <linux/userfaultfd.h>; the system call, the ioctls
 * and the constants (function-like or cast macros) need these wrappers.
 */
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>

static const unsigned long long guest_uffd_api = UFFD_API;
static const unsigned long long guest_uffdio_register_mode_missing = UFFDIO_REGISTER_MODE_MISSING;

/* userfaultfd(flags): a new userfaultfd (glibc has no wrapper for it).
 * UFFD_USER_MODE_ONLY in `flags` lets an unprivileged process handle its
 * own user-mode faults. */
static inline int guest_userfaultfd(int flags)
{
	return (int)syscall(SYS_userfaultfd, flags);
}

static inline int guest_uffdio_api(int fd, struct uffdio_api *api)
{
	return ioctl(fd, UFFDIO_API, api);
}

static inline int guest_uffdio_register(int fd, struct uffdio_register *range)
{
	return ioctl(fd, UFFDIO_REGISTER, range);
}

static inline int guest_uffdio_copy(int fd, struct uffdio_copy *copy)
{
	return ioctl(fd, UFFDIO_COPY, copy);
}

/*
 * Guest memory as a VMM handles it (memory_policy.c): NUMA placement and
 * reads of another process's memory. Each returns what the system call
 * does (-1 and errno on failure).
 */

/* move_pages(2): with `nodes` NULL, `status` receives each page's node (or
 * a negative errno); else each page moves to its node. */
long guest_move_pages(pid_t pid, unsigned long count, void **pages, const int *nodes, int *status, int flags);

/* mbind(2) of [address, address + length). */
long guest_mbind(void *address, unsigned long length, int mode, const unsigned long *nodemask,
		 unsigned long maxnode, unsigned int flags);

/* migrate_pages(2): every page of `pid` on a node of `old_nodes` moves to
 * `new_nodes`; the pages it could not move, or -1. */
long guest_migrate_pages(pid_t pid, unsigned long maxnode, const unsigned long *old_nodes,
			 const unsigned long *new_nodes);

/* sched_setaffinity(2) of the calling thread to CPU `cpu` alone. */
int guest_pin_to_cpu(int cpu);

/* process_vm_readv(2) of one range: the bytes read, or -1 and errno. */
ssize_t guest_process_vm_read(pid_t pid, void *destination, const void *address, size_t length);

#endif
