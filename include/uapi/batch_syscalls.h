/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * batch-syscalls ABI (v1, the seed's, and v2): the single source of truth
 * for the ioctl numbers and structures of /dev/batch_syscalls. The kernel module, the Swift
 * userspace and C programs written for the seed module all include this file.
 */
#ifndef _UAPI_BATCH_SYSCALLS_H
#define _UAPI_BATCH_SYSCALLS_H

#include <linux/ioctl.h>
#include <linux/types.h>

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

/*
 * ABI v2: a whole snapshot chain in one request.
 *
 * One request lays every layer over the base mapping at once, later layers
 * above earlier ones, all or nothing: the mapping never shows part of the
 * chain. The result is one overlay with one id, cleaned up with
 * IOCTL_MEM_OVERLAY_CLEANUP_CMD; it stacks (after cleanup) and is shared
 * with identical stacks exactly as a v1 overlay is.
 */

/* The layer serves the pages of its file that hold data (by the
 * filesystem's extent map, FIEMAP, after writing back the file's dirty
 * pages, else SEEK_DATA and SEEK_HOLE; a page partly data counts as data, a
 * preallocated extent never written is a hole); `segments` is ignored. A
 * filesystem that cannot report holes gives all of the file. */
#define MEM_OVERLAY_LAYER_DATA_EXTENTS (1U << 0)

/*
 * Which layers are the restore's own. A restore's own layers (by default
 * its top layer: the last of a v2 request, v1's overlay) are copied into
 * the mapping's private memory when a page is first touched; the layers
 * beneath are served from a page cache that every restore with the same
 * layers beneath shares (the base file's own, when the base alone is
 * beneath). So many restores of one base, each with its own diff, hold the
 * base once. A layer above an own layer is own too. An unflagged top layer
 * that serves more than a quarter of the overlay's pages is shared instead
 * (a full image laid as the top layer is not copied into every restore).
 *
 * MEM_OVERLAY_LAYER_OWN: this layer is the restore's own, though not the top
 * (a VM's earlier diffs). MEM_OVERLAY_LAYER_SHARED: this layer is shared by
 * the restores that lay it, even as the top (a template restored many times
 * as it is). Both on one layer is EINVAL.
 */
#define MEM_OVERLAY_LAYER_OWN (1U << 1)
#define MEM_OVERLAY_LAYER_SHARED (1U << 2)

/* Most layers one v2 request may lay (E2BIG above it). */
#define MEM_OVERLAY_MAX_LAYERS 255

struct mem_overlay_layer {
	__s32 fd;            /* the layer file, open for reading */
	__u32 flags;         /* MEM_OVERLAY_LAYER_* */
	__u64 segments_size; /* entries at segments (at most MEM_OVERLAY_MAX_SEGMENTS) */
	__u64 segments;      /* user pointer to struct mem_overlay_segment_req[segments_size] */
};

/*
 * Extensible, as openat2's and clone3's structs are: `size` is
 * sizeof(struct mem_overlay_stack_req) as the caller was built. Smaller
 * than MEM_OVERLAY_STACK_REQ_SIZE_VER0 is EINVAL; larger is accepted when
 * every byte past the fields the module knows is zero, else E2BIG (and
 * above 4096 bytes, E2BIG). Unknown `flags` are EINVAL.
 */
struct mem_overlay_stack_req {
	__u32 size;        /* sizeof(struct mem_overlay_stack_req) as the caller was built */
	__u32 flags;       /* MEM_OVERLAY_STACK_* */
	__u64 base_addr;   /* an address inside the base mapping */
	__u64 layers_size; /* entries at layers, lowest first (1 to MEM_OVERLAY_MAX_LAYERS) */
	__u64 layers;      /* user pointer to struct mem_overlay_layer[layers_size] */
	__u8 id[16];       /* out */
	/* Since MEM_OVERLAY_STACK_REQ_SIZE_VER1: */
	__s32 pidfd;       /* with MEM_OVERLAY_STACK_PIDFD: the process (pidfd_open) whose mapping it is */
	__u32 reserved;    /* must be 0 */
	/* Since MEM_OVERLAY_STACK_REQ_SIZE_VER2: */
	__u64 loading_set_size; /* entries at loading_set (0: none; at most MEM_OVERLAY_MAX_SEGMENTS) */
	__u64 loading_set;      /* user pointer to struct mem_overlay_segment_req[loading_set_size] */
};

#define MEM_OVERLAY_STACK_REQ_SIZE_VER0 48 /* without pidfd and reserved */
#define MEM_OVERLAY_STACK_REQ_SIZE_VER1 56 /* without the loading set */
#define MEM_OVERLAY_STACK_REQ_SIZE_VER2 72

/*
 * A loading set: the pages (file page offsets of the base mapping, in
 * inclusive ranges as segments are, in any order, overlapping allowed) a
 * restore will touch first, as recorded from an earlier run. The module
 * starts reading them, from whichever layer serves each, in large sorted
 * reads, and returns without waiting; a fault on a page still being read
 * waits for that read only. Pages past the mapping's end are ignored. With
 * MEM_OVERLAY_STACK_POPULATE the request also maps them, read-only, before
 * it returns (as MADV_POPULATE_READ does: a later write still copies the
 * page), so touching them takes no fault at all. EINVAL: POPULATE without
 * a loading set, or a range whose end is before its start. E2BIG: more
 * than MEM_OVERLAY_MAX_SEGMENTS ranges. EFAULT: an unreadable loading set.
 */
#define MEM_OVERLAY_STACK_POPULATE (1U << 1)

/*
 * base_addr is an address in the process `pidfd` refers to (a pidfd from
 * pidfd_open), not the caller's: an orchestrator lays a chain over the
 * memory of a VMM that does not know this module (its guest RAM mapped
 * MAP_PRIVATE from the snapshot file). The caller may do it when it may
 * process_vm_writev(2) the target: the kernel's own ptrace-attach check
 * (run as opening /proc/PID/mem for writing runs it: credentials,
 * dumpable, the LSMs, Yama's ptrace_scope among them) must pass, and a
 * caller whose real uid or gid differs from its filesystem one needs
 * CAP_SYS_PTRACE; else EPERM. EBADF: pidfd is not a pidfd. ESRCH: the
 * process has exited, or has no address space. The id is the caller's: it
 * cleans the overlay up; the overlay lives until the target unmaps the
 * range or exits. Without this flag pidfd and reserved must be 0 (EINVAL).
 */
#define MEM_OVERLAY_STACK_PIDFD (1U << 0)

/*
 * The command encodes the first version's size, and keeps it as the struct
 * grows: the struct's own `size` says which version a caller was built
 * with, and the module matches commands exactly, as v1's.
 */
#define IOCTL_MEM_OVERLAY_STACK_CMD \
	_IOC(_IOC_READ | _IOC_WRITE, MAGIC, 3, MEM_OVERLAY_STACK_REQ_SIZE_VER0)

#endif /* _UAPI_BATCH_SYSCALLS_H */
