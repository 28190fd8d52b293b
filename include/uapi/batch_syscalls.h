/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * batch-syscalls ABI v1: the single source of truth for the ioctl numbers
 * and structures of /dev/batch_syscalls. The kernel module, the Swift
 * userspace and C programs written for the seed module all include this file.
 */
#ifndef _UAPI_BATCH_SYSCALLS_H
#define _UAPI_BATCH_SYSCALLS_H

#include <linux/ioctl.h>

#define BATCH_SYSCALLS_DEVICE_NAME "batch_syscalls"
#define BATCH_SYSCALLS_DEVICE_PATH "/dev/batch_syscalls"

/* The seed's names, kept so that its C programs build unchanged. */
#define MAGIC 's'
#ifndef UUID_SIZE
#define UUID_SIZE 16
#endif

/*
 * Most segments one create request may carry (E2BIG above it). A segment is
 * 16 bytes, so the largest request copies 16 MiB from userspace.
 */
#define MEM_OVERLAY_MAX_SEGMENTS (1U << 20)

/* An inclusive range of file page offsets served from the overlay file. */
struct mem_overlay_segment_req {
	unsigned long start_pgoff;
	unsigned long end_pgoff;
};

/*
 * Create request. `base_addr` is any address inside a file-backed
 * MAP_PRIVATE mapping (the whole mapping is overlaid); `overlay_addr` is any
 * address inside a mapping of the overlay file. On success `id` holds a
 * random identifier for the cleanup request.
 */
struct mem_overlay_req {
	unsigned char id[UUID_SIZE];
	unsigned long base_addr;
	unsigned long overlay_addr;
	unsigned int segments_size;
	struct mem_overlay_segment_req *segments;
};

/* Cleanup request: releases the id; the mapping keeps its contents. */
struct mem_overlay_cleanup_req {
	unsigned char id[UUID_SIZE];
};

/* The size field encodes a pointer (8 bytes), as the seed's did. */
#define IOCTL_MEM_OVERLAY_REQ_CMD _IOWR(MAGIC, 1, struct mem_overlay_req *)
#define IOCTL_MEM_OVERLAY_CLEANUP_CMD \
	_IOWR(MAGIC, 2, struct mem_overlay_cleanup_req *)

#endif /* _UAPI_BATCH_SYSCALLS_H */
