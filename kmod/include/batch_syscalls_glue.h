/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The boundary between the C glue and the Swift code of the module.
 *
 * No kernel header is included here: Swift imports this file for a
 * freestanding target. Kernel objects cross the boundary as pointers to
 * incomplete structs (opaque to Swift); values cross as fixed-width
 * integers. Each C function is one kernel call or a few, with no policy;
 * the decisions are Swift's. Functions named bs_swift_* are implemented in
 * Swift (@c @implementation) and called from C.
 */
#ifndef BATCH_SYSCALLS_GLUE_H
#define BATCH_SYSCALLS_GLUE_H

#ifndef __KERNEL__
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#define __user
#endif

#include "batch_syscalls.h" /* the ABI (include/uapi) */

/* Nullability is for Swift's importer; GCC builds the C side. */
#ifdef __clang__
#pragma clang assume_nonnull begin
#else
#define _Nullable
#define _Nonnull
#endif

struct file;
struct folio;
struct readahead_control;

/* Log levels of bs_log (LOG_LEVEL at build time picks the most verbose). */
enum bs_log_level {
	BS_LOG_ERROR = 0,
	BS_LOG_INFO = 1,
	BS_LOG_DEBUG = 2,
	BS_LOG_TRACE = 3,
};

/* The ioctl numbers, as constants Swift can import (_IOWR is a macro). */
static const uint32_t bs_ioctl_create = IOCTL_MEM_OVERLAY_REQ_CMD;
static const uint32_t bs_ioctl_cleanup = IOCTL_MEM_OVERLAY_CLEANUP_CMD;

/* ---- Memory (runtime.c) ------------------------------------------------ */

/* kvzalloc; `account` charges the caller's memory cgroup. NULL on failure. */
void *_Nullable bs_kvzalloc(size_t size, bool account);
void bs_kvfree(void *_Nullable pointer);

/* ---- User memory (runtime.c) ------------------------------------------- */

/* 0, or -EFAULT when any byte could not be copied. */
int bs_copy_from_user(void *destination, const void __user *_Nullable source, size_t size);
int bs_copy_to_user(void __user *_Nullable destination, const void *source, size_t size);

/* ---- The calling process (runtime.c) ----------------------------------- */

void bs_random_bytes(void *buffer, size_t size);
/* Thread-group id and start time (ns since boot) of the calling process. */
uint64_t bs_current_process_id(void);
uint64_t bs_current_process_start_time(void);

/* ---- Locks (runtime.c) ------------------------------------------------- */

/* The mutex that serialises the overlay id registry. */
void bs_registry_lock(void);
void bs_registry_unlock(void);

/* ---- Logging (runtime.c) ----------------------------------------------- */

/*
 * One rate-limited line "batch_syscalls: <message>[ <value>]" at `level`.
 * Messages are static text; values are integers the caller chose to show
 * (counts, errnos, page offsets), never addresses.
 */
void bs_log(int level, const char *message, size_t length);
void bs_log_value(int level, const char *message, size_t length, int64_t value);

/* ---- The calling process's mappings (mm.c) ----------------------------- */

/* What Swift needs to know about a VMA; `file` is valid under the lock. */
enum bs_vma_flag {
	BS_VMA_READ = 1 << 0,
	BS_VMA_WRITE = 1 << 1,
	BS_VMA_EXEC = 1 << 2,
	BS_VMA_MAYSHARE = 1 << 3, /* MAP_SHARED */
	BS_VMA_LOCKED = 1 << 4, /* mlock'ed */
	BS_VMA_NORESERVE = 1 << 5,
	BS_VMA_PRIVATE_PAGES = 1 << 6, /* has an anon_vma: private copies exist */
	BS_VMA_SPECIAL = 1 << 7, /* PFN/IO/mixed/hugetlb/DAX: no page cache */
};

struct bs_vma_info {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff;
	uint32_t flags; /* enum bs_vma_flag */
	struct file *_Nullable file;
};

void bs_mmap_read_lock(void);
void bs_mmap_read_unlock(void);
/* Describes the VMA containing `address`; false when none does. Needs the lock. */
bool bs_vma_describe(uint64_t address, struct bs_vma_info *info);
/*
 * vm_mmap(file, start, length, prot, MAP_PRIVATE | MAP_FIXED | extra, pgoff)
 * in the calling process, with prot and extra flags translated from
 * `flags` (enum bs_vma_flag: READ/WRITE/EXEC, LOCKED, NORESERVE).
 * 0 or a negative errno.
 */
long bs_vm_mmap_fixed_private(struct file *file, uint64_t start, uint64_t length,
			      uint32_t flags, uint64_t pgoff);

/* ---- Files (overlay_fs.c) ---------------------------------------------- */

struct file *bs_file_get(struct file *file);
void bs_file_put(struct file *file);
/* i_size of the file's inode. */
int64_t bs_file_size(struct file *file);
/* A regular file opened for reading with a read_iter: it can be a layer. */
bool bs_file_is_readable_regular(struct file *file);
/* The overlay a file of this module serves (NULL for any other file). */
void *_Nullable bs_file_overlay(struct file *file);
/* Readahead window of a file, in pages. */
uint32_t bs_file_readahead_pages(struct file *file);

/*
 * A new file of the module's pseudo filesystem whose page cache is filled
 * by `overlay` (through bs_swift_* callbacks), with i_size `size` and a
 * readahead window of `readahead_pages`. NULL with *error set on failure.
 * The inode calls bs_swift_overlay_release(overlay) when it is evicted.
 */
struct file *_Nullable bs_overlay_file_create(void *overlay, int64_t size,
					      uint32_t readahead_pages, int *error);

/* ---- Page cache fill (io.c) -------------------------------------------- */

/*
 * Fills the next `pages` pages of the readahead request from `layer`, at
 * their own file offsets, in one read; marks each filled folio uptodate and
 * unlocks it. Folios the read did not reach (an error, or wholly past the
 * layer's end) are unlocked without being uptodate: a fault on them calls
 * read_folio, which reports the error. Returns the pages filled.
 */
uint64_t bs_readahead_fill(struct readahead_control *rac, struct file *layer, uint64_t pages);
/* Fills one locked folio from `layer` and unlocks it; 0 or -EIO. */
int bs_folio_fill(struct folio *folio, struct file *layer);

/* ---- Implemented in Swift, called from C ------------------------------- */

int bs_swift_init(void);
void bs_swift_exit(void);
long bs_swift_ioctl(uint32_t command, uint64_t argument);
/* Whether an mmap of an overlay file is allowed: 0 or a negative errno. */
int bs_swift_overlay_mmap_check(bool shared, bool may_write);
void bs_swift_overlay_readahead(void *overlay, struct readahead_control *rac,
				uint64_t first_page, uint64_t pages);
int bs_swift_overlay_read_folio(void *overlay, struct folio *folio, uint64_t page);
void bs_swift_overlay_release(void *overlay);

#ifdef __clang__
#pragma clang assume_nonnull end
#endif

#endif /* BATCH_SYSCALLS_GLUE_H */
