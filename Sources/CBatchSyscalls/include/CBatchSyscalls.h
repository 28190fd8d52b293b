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

#endif
