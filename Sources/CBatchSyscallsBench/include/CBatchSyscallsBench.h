/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What batch-syscalls-bench needs from C that Swift cannot call by itself:
 * functions glibc declares only with _GNU_SOURCE or in headers Swift's
 * Glibc module leaves out. (Its userfaultfd calls are the guest test kit's,
 * CGuestTestKit: a scenario needs them too.)
 */
#ifndef CBATCH_SYSCALLS_BENCH_H
#define CBATCH_SYSCALLS_BENCH_H

#include <malloc.h>
#include <unistd.h>
#include <sys/syscall.h>

/* sched_setaffinity(0, ...) to the one CPU `cpu`: `--cpu` runs every
 * measurement on one CPU. */
static inline int bench_pin_to_cpu(unsigned int cpu)
{
	unsigned long mask[16] = { 0 };
	if (cpu >= 8 * sizeof(mask))
		return -1;
	mask[cpu / (8 * sizeof(mask[0]))] = 1UL << (cpu % (8 * sizeof(mask[0])));
	return (int)syscall(SYS_sched_setaffinity, 0, sizeof(mask), mask);
}

/* malloc_trim(0): the bench returns freed heap memory before it reads a
 * process's Rss. */
static inline int bench_malloc_trim(void)
{
	return malloc_trim(0);
}

/* memfd_create(name, MFD_CLOEXEC) by its system call number (glibc declares
 * it only with _GNU_SOURCE): the merged copies of the restores' sparse
 * case are files in memory, one per restore. */
static inline int bench_memfd_create(const char *name)
{
	return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */);
}

#endif
