/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ABI header as a Clang module for userspace Swift, plus what Swift
 * cannot import from it by itself: the ioctl numbers (function-like macros)
 * and non-variadic ioctl and pidfd_open (Swift does not call C variadic
 * functions); and the extent map's ioctl (FIEMAP), with which the library
 * finds a layer's data extents as the module does.
 * Nothing else: the bench's and the tests' C shims are their own.
 */
#ifndef CBATCH_SYSCALLS_H
#define CBATCH_SYSCALLS_H

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/fiemap.h>
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
static const unsigned int batch_syscalls_stack_pidfd = MEM_OVERLAY_STACK_PIDFD;
static const unsigned int batch_syscalls_stack_populate = MEM_OVERLAY_STACK_POPULATE;
/* FS_IOC_FIEMAP, spelled out: <linux/fs.h> clashes with Glibc's headers. */
static const unsigned long batch_syscalls_fiemap_cmd = _IOWR('f', 11, struct fiemap);

/* pidfd_open(2) (a system call Swift cannot make: syscall is variadic). */
static inline int batch_syscalls_pidfd_open(pid_t pid)
{
	return (int)syscall(__NR_pidfd_open, pid, 0);
}

/* ioctl(2) with one pointer argument. */
static inline int batch_syscalls_ioctl(int fd, unsigned long request, void *argument)
{
	return ioctl(fd, request, argument);
}

#endif
