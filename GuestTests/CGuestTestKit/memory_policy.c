/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a VMM does to guest memory besides faulting it in, as system calls
 * Swift cannot make itself (syscall() is variadic; glibc declares
 * process_vm_readv only with _GNU_SOURCE and has no wrappers for the NUMA
 * calls without libnuma, which the guest lacks).
 */
#define _GNU_SOURCE
#include "CGuestTestKit.h"

#include <sched.h>

#include <sys/syscall.h>
#include <unistd.h>

long guest_move_pages(pid_t pid, unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
	return syscall(SYS_move_pages, pid, count, pages, nodes, status, flags);
}

long guest_mbind(void *address, unsigned long length, int mode, const unsigned long *nodemask,
		 unsigned long maxnode, unsigned int flags)
{
	return syscall(SYS_mbind, address, length, mode, nodemask, maxnode, flags);
}

long guest_migrate_pages(pid_t pid, unsigned long maxnode, const unsigned long *old_nodes,
			 const unsigned long *new_nodes)
{
	return syscall(SYS_migrate_pages, pid, maxnode, old_nodes, new_nodes);
}

ssize_t guest_process_vm_read(pid_t pid, void *destination, const void *address, size_t length)
{
	struct iovec local = { .iov_base = destination, .iov_len = length };
	struct iovec remote = { .iov_base = (void *)address, .iov_len = length };

	return syscall(SYS_process_vm_readv, pid, &local, 1UL, &remote, 1UL, 0UL);
}

int guest_pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}
