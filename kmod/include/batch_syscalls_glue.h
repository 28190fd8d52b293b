/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The boundary between the C glue and the Swift code of the module.
 *
 * No kernel-internal header is included here: Swift imports this file for a
 * freestanding target, with the UAPI headers (the ABI, errno and mmap
 * constants) on its include path. Kernel objects cross the boundary as
 * pointers to incomplete structs (opaque to Swift); values cross as
 * fixed-width integers. Each C function is one kernel call or a few, with
 * no policy; the decisions are Swift's. Functions named bs_swift_* are
 * implemented in Swift (@c @implementation) and called from C.
 */
#ifndef BATCH_SYSCALLS_GLUE_H
#define BATCH_SYSCALLS_GLUE_H

#ifndef __KERNEL__
/* The ABI's fixed-width types (__u32...) without <linux/types.h>: the
 * kernel tree's own copy of that header is not usable outside the kernel
 * build, and these are all the ABI needs of it. */
#define _LINUX_TYPES_H
#define _UAPI_LINUX_TYPES_H
#include <asm-generic/int-ll64.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* errno and mmap numbers; these UAPI headers include nothing kernel-internal. */
#include <asm-generic/errno.h>
#include <asm/mman.h>
#define __user
#endif

#include "batch_syscalls.h" /* the ABI (include/uapi) */

/* Nullability is for Swift's importer; GCC builds the C side. */
#ifdef __clang__
#pragma clang assume_nonnull begin
#else
#define _Nullable
#endif

struct address_space;
struct file;
struct folio;
struct inode;
struct readahead_control;
struct vm_fault;

/* The ioctl numbers, as constants Swift can import (_IOWR is a macro). */
static const uint32_t bs_ioctl_create = IOCTL_MEM_OVERLAY_REQ_CMD;
static const uint32_t bs_ioctl_cleanup = IOCTL_MEM_OVERLAY_CLEANUP_CMD;
static const uint32_t bs_ioctl_stack = IOCTL_MEM_OVERLAY_STACK_CMD;
/* Where a v2 request's id lies (Swift checks its own copy at load). */
static const size_t bs_stack_request_id_offset = offsetof(struct mem_overlay_stack_req, id);

/* ---- Runtime services (runtime.c) -------------------------------------- */

/*
 * Zeroed memory (kmalloc, or pages mapped with vmap when large); `account`
 * charges the caller's memory cgroup. NULL on failure, with nothing left
 * charged.
 */
void *_Nullable bs_kvzalloc(size_t size, bool account);
void bs_kvfree(void *_Nullable pointer);

/* 0, or -EFAULT when any byte could not be copied. */
int bs_copy_from_user(void *destination, const void __user *_Nullable source, size_t size);
int bs_copy_to_user(void __user *_Nullable destination, const void *source, size_t size);

void bs_random_bytes(void *buffer, size_t size);
/* Thread-group id and start time (ns since boot) of the calling process. */
void bs_current_process(uint64_t *process_id, uint64_t *start_time);

/*
 * Sleeping locks (struct mutex) for the Swift KernelMutex, one lockdep class
 * each, outermost first: a lock is only taken while holding locks of the
 * classes above it. NULL when out of memory.
 */
enum bs_lock_class {
	BS_LOCK_CREATE_REQUESTS, /* one address space's create requests */
	BS_LOCK_CREATE_LOCK_LIST, /* the list of those locks */
	BS_LOCK_REGISTRY, /* the overlay registry */
	BS_LOCK_SHARING, /* the index of shareable overlays */
	BS_LOCK_OWN_READ_AHEAD, /* an overlay's own pages read ahead (taken in faults) */
	BS_LOCK_CLASSES
};
struct bs_mutex;
struct bs_mutex *_Nullable bs_mutex_create(enum bs_lock_class lock_class);
void bs_mutex_destroy(struct bs_mutex *mutex);
void bs_mutex_lock(struct bs_mutex *mutex);
/* 0, or -EINTR when a fatal signal arrived while waiting. */
int bs_mutex_lock_killable(struct bs_mutex *mutex);
/* Takes the lock if it is free (reclaim never waits for one): whether it did. */
bool bs_mutex_trylock(struct bs_mutex *mutex);
void bs_mutex_unlock(struct bs_mutex *mutex);
/* The calling process's address space, as a key to compare (never shown). */
uint64_t bs_current_address_space(void);

/*
 * One rate-limited line "batch_syscalls: <message>"; level 0 error, 1
 * info, 2 debug, 3 trace. Swift formats the message from static text and
 * an integer the caller chose to show, never an address.
 */
void bs_log(int level, const char *message, size_t length);

/* ---- The calling process's mappings (mm.c) ----------------------------- */

/* The first six are the kernel's own vm_flags bits (mm.c checks that). */
enum bs_vma_flag {
	BS_VMA_READ = 0x1,
	BS_VMA_WRITE = 0x2,
	BS_VMA_EXEC = 0x4,
	BS_VMA_MAYSHARE = 0x80, /* MAP_SHARED */
	BS_VMA_LOCKED = 0x2000, /* mlock'ed */
	BS_VMA_NORESERVE = 0x200000,
	BS_VMA_PRIVATE_PAGES = 1 << 30, /* has an anon_vma: private copies exist */
	BS_VMA_SPECIAL = 1U << 31, /* PFN/IO/mixed/hugetlb/DAX: no page cache */
};

/* What Swift needs to know about a VMA; `file` is valid under the lock. */
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
 * vm_mmap(file, start, length, prot, MAP_PRIVATE | MAP_FIXED | flags, pgoff)
 * in the calling process: 0 if `file` is now mapped at `start`, or a
 * negative errno.
 */
long bs_vm_mmap_private_fixed(struct file *file, uint64_t start, uint64_t length,
			      uint64_t prot, uint64_t flags, uint64_t pgoff);

/*
 * Maps the pages [start, end) of the calling process for reading, as
 * MADV_POPULATE_READ (page cache pages read-only, no copy), skipping those
 * that cannot be mapped; takes the mmap lock itself.
 */
void bs_populate_read(uint64_t start, uint64_t end);
/* Pages a populate takes per hold of the mmap lock. */
#define BS_POPULATE_CHUNK_PAGES 512

/*
 * The pages a mapping holds (a request checks an overlaid mapping's before
 * it replaces it). Call with the mmap lock held.
 */
struct page;
/* The page mapped at `address` now, referenced; NULL when none is (no fault). */
struct page *_Nullable bs_user_page_present(uint64_t address);
void bs_page_put(struct page *page);
/* Whether it is a private (anonymous) page, not a file's. */
bool bs_page_anonymous(struct page *page);
/* Whether it holds the bytes of page `index` of `layer`, or of `mapping`'s
 * page cache (read if need be); false when that page cannot be read. */
bool bs_page_same_as_file_page(struct page *page, struct file *layer, uint64_t index);
bool bs_page_same_as_cache_page(struct page *page, struct address_space *mapping, uint64_t index);
/* Whether any private page of the calling process is swapped out. */
bool bs_address_space_has_swapped_pages(void);

/* ---- Another process, named by a pidfd (process.c) ---------------------- */

struct task_struct;
struct mm_struct;
/* The process `pidfd` refers to, referenced; NULL with *error -EBADF (not
 * a pidfd) or -ESRCH (it has exited). */
struct task_struct *_Nullable bs_pidfd_task(int pidfd, int *error);
void bs_task_put(struct task_struct *task);
/* The calling task, referenced. */
struct task_struct *bs_current_task(void);
/* Its address space, held; NULL when it has none. */
struct mm_struct *_Nullable bs_task_mm(struct task_struct *task);
void bs_mm_put(struct mm_struct *mm);
/* Its thread-group id as the caller sees it (0: not visible). */
uint64_t bs_task_pid(struct task_struct *task);
/* Whether the caller has CAP_SYS_PTRACE. */
bool bs_caller_may_ptrace(void);
/* Whether the caller's filesystem uid and gid are its real ones. */
bool bs_caller_file_ids_are_real(void);
/* Whether the kernel's ptrace-attach check lets the caller write `task`'s
 * memory (as opening /proc/PID/mem for writing): 0, -ESRCH (no address
 * space, or reaped) or -EPERM. */
int bs_task_memory_access(struct task_struct *task);
/* Writes `size` bytes into `task`'s memory at `address`: 0 or -EFAULT. */
int bs_task_write_memory(struct task_struct *task, uint64_t address, const void *source, size_t size);
/* Runs bs_swift_remote_call(context) in a kernel worker whose address
 * space is `mm`, and returns when it has. */
void bs_run_in_address_space(struct mm_struct *mm, void *context);

/* ---- Files (overlay_fs.c) ---------------------------------------------- */

struct bs_file_info {
	int64_t size; /* i_size */
	uint32_t readahead_pages;
	/* A regular file opened for reading whose pages can be read through its
	 * page cache (a read_folio, or shmem): it can be a layer. */
	bool readable_regular;
	/* What ABI v2 tells apart: a regular file, opened for reading, with
	 * a page cache the module can read (a read_folio, or shmem). */
	bool regular;
	bool open_for_reading;
	bool page_cache;
	/* The overlay a file of this module maps (NULL for any other file). */
	void *_Nullable overlay;
	/* The create request an overlay file was opened for (NULL when reopened). */
	void *_Nullable attachment;
	/* s_magic of the file's filesystem when it has a block device, else 0. */
	uint64_t block_filesystem_magic;
	/* Its page cache may hold large folios (mapping_large_folio_support). */
	bool large_folios;
	/* Its mount or filesystem forbids executing it (path_noexec). */
	bool no_exec;
};

/*
 * What says that a file changed: a create request shares an overlay only
 * while every layer's stamp is what it was when the overlay was made.
 */
struct bs_layer_stamp {
	int64_t size;
	int64_t ctime_sec;
	int64_t mtime_sec;
	uint32_t ctime_nsec;
	uint32_t mtime_nsec;
	uint64_t version; /* i_version where the filesystem keeps it, else 0 */
};

void bs_file_stamp(struct file *file, struct bs_layer_stamp *stamp);
/* Whether the file is open for writing (or mapped shared and writable) anywhere. */
bool bs_file_has_writers(struct file *file);

struct file *bs_file_get(struct file *file);
void bs_file_put(struct file *file);
void bs_file_describe(struct file *file, struct bs_file_info *info);
struct inode *bs_file_inode(struct file *file);
/* Pages of the inode's page cache. */
uint64_t bs_inode_cached_pages(struct inode *inode);
void bs_inode_put(struct inode *inode);
/* A new reference to `inode`, unless it is being evicted (then false). */
bool bs_inode_grab(struct inode *inode);

/* Mounts and unmounts the module's pseudo filesystem (module init and exit). */
int bs_overlay_fs_mount(void);
void bs_overlay_fs_unmount(void);
/*
 * Keeping unused lower stacks for the next restore of their chain: from
 * after the mount (0 or a negative errno), until before it goes (the stop
 * waits for a running sweep or shrink; the unmount then evicts those
 * still kept).
 */
int bs_unused_lowers_start(void);
void bs_unused_lowers_stop(void);
/* Whether nothing references the inode (an unused lower stack's, kept). */
bool bs_inode_unused(struct inode *inode);

/*
 * A new inode of the module's pseudo filesystem whose page cache `overlay`
 * fills (through the bs_swift_overlay_* callbacks), with i_size `size`;
 * the caller holds its one reference. NULL with *error set on failure. On
 * success the inode owns `overlay`: its eviction (its last file gone)
 * calls bs_swift_lower_release(overlay).
 */
struct inode *_Nullable bs_lower_inode_create(void *overlay, int64_t size, bool large_folios, int *error);
/* A file's page cache (f_mapping), and an inode's. */
struct address_space *bs_file_mapping(struct file *file);
struct address_space *bs_inode_mapping(struct inode *inode);
/* Pages of `mapping`'s page cache at indexes first..last. */
uint64_t bs_mapping_cached_pages(struct address_space *mapping, uint64_t first, uint64_t last);

/* ---- Overlays (overlay.c) ------------------------------------------------------ */

/*
 * A new overlay inode of `size` bytes that owns `overlay` (its eviction calls
 * bs_swift_overlay_release(overlay)); the caller holds its one reference. NULL
 * with *error set on failure (then the caller still owns `overlay`).
 */
struct inode *_Nullable bs_overlay_inode_create(void *overlay, int64_t size, int *error);
/*
 * A new open file of an overlay inode for one create request, mapping the page
 * cache `mapping` (the lower stack's), with a readahead window of
 * `readahead_pages`; it takes its own reference on the inode. NULL with
 * *error set on failure. On success the file owns `attachment`: its release
 * (last mapping or descriptor gone) calls bs_swift_attachment_release.
 */
struct file *_Nullable bs_overlay_file_open(struct inode *inode, void *attachment, struct address_space *mapping,
					 uint32_t readahead_pages, int *error);

/*
 * The fault path of an overlay's mapping (called from the bs_swift_overlay_*
 * callbacks with the vm_fault they got). Results are vm_fault_t bits.
 */
enum {
	BS_VM_FAULT_SIGBUS = 0x0002,
	BS_VM_FAULT_NOPAGE = 0x0100,
	BS_VM_FAULT_RETRY = 0x0400,
	BS_VM_FAULT_ERROR = 0x0873, /* VM_FAULT_ERROR: OOM, SIGBUS, SIGSEGV, HWPOISON(_LARGE), FALLBACK */
};
/* filemap_fault: the lower page cache's page at the fault. */
uint32_t bs_fault_lower(struct vm_fault *vmf);
/* filemap_map_pages of the lower page cache's pages first..last (under RCU). */
uint32_t bs_fault_map_lower(struct vm_fault *vmf, uint64_t first, uint64_t last);
/*
 * A private copy of the page at `address` (in the faulting VMA) made by a
 * nested copy-on-write fault whose ->fault gives the source page: RETRY
 * with the caller's lock dropped, an error, or NOPAGE (mapped).
 */
uint32_t bs_fault_copy_at(struct vm_fault *vmf, uint64_t address);
/* The copy-on-write fault's source page: page `index` of `layer`, locked. */
uint32_t bs_fault_source_page(struct vm_fault *vmf, struct file *layer, uint64_t index);
/*
 * The copy-on-write fault's source page: `page` (a page of an own layer
 * read ahead by bs_layer_pages_direct), whose reference the fault takes;
 * `read`: this fault read it from the disk (VM_FAULT_MAJOR).
 */
uint32_t bs_fault_give_page(struct vm_fault *vmf, struct page *page, bool read);
/*
 * Reads pages [first, first + count) of `layer` (count at most
 * BS_OWN_RUN_PAGES) with one direct I/O into new pages of their own, put
 * into `pages`, each referenced (bs_page_put drops it) and unlocked:
 * whether it read them all
 * (nothing is kept when not: see bs_read_direct_iter for when direct I/O
 * does not apply).
 */
bool bs_layer_pages_direct(struct file *layer, uint64_t first, uint32_t count, struct page **pages);
/* A fault on an own page reads at most this many pages of its run at once. */
#define BS_OWN_RUN_PAGES 16
/* Whether `file`'s page cache holds page `index`. */
bool bs_file_caches_page(struct file *file, uint64_t index);
/* The faulting address, and the VMA's span and file page offset. */
uint64_t bs_fault_address(struct vm_fault *vmf);
void bs_fault_vma_span(struct vm_fault *vmf, uint64_t *start, uint64_t *end, uint64_t *pgoff);
enum {
	BS_FAULT_PMD_NONE = 1 << 0, /* no page table below the fault's PMD yet */
	BS_FAULT_NO_HUGE_PAGES = 1 << 1, /* the VMA has VM_NOHUGEPAGE */
	BS_FAULT_NO_HUGE_PAGES_HONOURED = 1 << 2, /* and this kernel's faults honour it */
	BS_FAULT_RANDOM_READ = 1 << 3, /* the VMA has VM_RAND_READ (MADV_RANDOM): no readahead */
};
uint32_t bs_fault_state(struct vm_fault *vmf);

/* ---- Layer files named by descriptor (files.c) -------------------------- */

/* The open file of the caller's descriptor `fd`, referenced; NULL if none. */
struct file *_Nullable bs_fget(int fd);
/* A new open file of the same file, for reading, with its own position. */
struct file *_Nullable bs_file_reopen(struct file *file, int *error);
enum { BS_SEEK_DATA = 3, BS_SEEK_HOLE = 4 };
/* vfs_llseek: the new position, or a negative errno (-ENXIO: none). */
int64_t bs_file_seek(struct file *file, int64_t offset, int whence);
/* One extent of a file's extent map: bytes [offset, offset + length). */
struct bs_file_extent {
	uint64_t offset;
	uint64_t length;
	bool unwritten; /* preallocated, never written: reads as zeros */
	bool last; /* the filesystem's last extent of the file */
};
/*
 * Up to `max` extents of `file` that end after byte `from`, in file order,
 * by its filesystem's extent map (FIEMAP): their count, 0 when none
 * follows, or a negative errno (-EOPNOTSUPP: the filesystem keeps no map).
 * The call from byte 0, which starts a walk, first writes back the file's
 * dirty pages (a preallocated block is marked written only then).
 */
int bs_file_map_extents(struct file *file, uint64_t from, struct bs_file_extent *out, uint32_t max);
/* 1 when `size` user bytes at `from` are all zero, 0 when not, or -EFAULT. */
int bs_check_zeroed_user(const void __user *_Nullable from, size_t size);

/* ---- Page cache fill (io.c) -------------------------------------------- */

/*
 * Starts reading pages [first_page, first_page + pages) of `file`'s page
 * cache without waiting (exactly those pages, no readahead marker, in
 * chunks of BS_PREFETCH_CHUNK_PAGES, each one read), up to its end: a layer's own
 * page cache, or, through an overlay's file, the lower page cache it maps.
 */
void bs_file_prefetch(struct file *file, uint64_t first_page, uint64_t pages);
/* A prefetch's reads: 2 MiB each, as POSIX_FADV_WILLNEED's. */
#define BS_PREFETCH_CHUNK_PAGES 512

/* ---- Lower page cache fill (fill.c) -------------------------------------- */

/* A batch takes folios until it has this many pages (or folios). */
#define BS_FILL_BATCH_PAGES 256
#define BS_FILL_BATCH_FOLIOS 64

/*
 * Locked folios of consecutive pages of a lower inode's page cache, to be
 * filled: folios[0] holds page first_page, and they cover `pages` pages.
 * `failed` has bit i set once folio i cannot be filled whole.
 */
struct bs_fill_batch {
	uint64_t first_page;
	uint64_t pages;
	uint64_t failed;
	uint32_t count;
	struct folio *_Nullable folios[BS_FILL_BATCH_FOLIOS];
};

/* The fill workers (module init and exit; the exit waits for every fill). */
int bs_fill_workers_start(void);
void bs_fill_workers_stop(void);
/* Waits for every fill queued so far (each holds its lower stack's inode). */
void bs_fill_workers_flush(void);
/* Takes the next folios of a readahead request into `batch`: how many (0 at the end). */
uint32_t bs_fill_batch_take(struct readahead_control *rac, struct bs_fill_batch *batch);
/* A batch of the one locked folio read_folio must fill. */
void bs_fill_batch_of_folio(struct folio *folio, struct bs_fill_batch *batch);
/*
 * Reads pages [first_page, first_page + pages) of `layer` with one direct
 * I/O into the batch's folios of the same pages: those whose bit is set in
 * `served` (bit i of word i / 64: page first_page + i; NULL: all of them),
 * the others into a scratch page. Whether it read them all (false, nothing
 * filled, where direct I/O does not apply: see io.c, or memory is short).
 */
bool bs_fill_read_direct(struct file *layer, struct bs_fill_batch *batch, uint64_t first_page, uint64_t pages,
			 const uint64_t *_Nullable served);
/*
 * Copies the batch's pages [first_page, first_page + pages) from the same
 * pages of `layer`'s page cache; a page that cannot be filled (a read
 * error, or wholly past the layer's end in a single-page folio) marks its
 * folio failed. Returns the pages filled.
 */
uint64_t bs_fill_copy(struct file *layer, struct bs_fill_batch *batch, uint64_t first_page, uint64_t pages);
/* Marks each folio of the batch not failed uptodate, and unlocks them all. */
void bs_fill_finish(struct bs_fill_batch *batch);
/*
 * Hands the batch to a fill worker, which fills it (bs_swift_lower_fill)
 * while readahead returns; the batch is then empty. False when memory is
 * short: fill it here.
 */
bool bs_fill_queue(void *lower, struct bs_fill_batch *batch);

/* ---- Implemented in Swift, called from C ------------------------------- */

/* Makes the module's state, before the device exists: 0 or a negative errno. */
int bs_swift_init(void);
void bs_swift_exit(void);
long bs_swift_ioctl(uint32_t command, uint64_t argument);
void bs_swift_lower_readahead(void *overlay, struct readahead_control *rac);
/* Fills a batch of a lower inode's folios (a fill worker's work). */
void bs_swift_lower_fill(void *lower, struct bs_fill_batch *batch);
int bs_swift_lower_read_folio(void *overlay, struct folio *folio, uint64_t page);
void bs_swift_lower_release(void *overlay);
/*
 * Whether a lower stack whose last reference is going stays, unused, for
 * the next restore of its chain (under its inode's i_lock: no sleeping).
 */
bool bs_swift_lower_keeps_unused(void *lower);
/*
 * Evicts the unused lower stacks the last sweep found unused too (`all`:
 * every unused one); whether unused ones remain kept.
 */
bool bs_swift_lower_sweep(bool all);
/* The unused lower stacks kept (the shrinker's count; never waits for a lock). */
uint64_t bs_swift_lower_unused_count(void);
/* Evicts up to `count` unused lower stacks under memory pressure: how many, or -1 if the lock is busy. */
int64_t bs_swift_lower_shrink(uint64_t count);
/* A fault (write: a copy-on-write one) on page `pgoff` of a mapping of an
 * overlay's file, opened for the create request `attachment` (NULL: reopened). */
uint32_t bs_swift_overlay_fault(void *overlay, void *_Nullable attachment, struct vm_fault *vmf, uint64_t pgoff,
				bool write);
/* Fault-around of an overlay's mapping, pages first..last; under RCU. */
uint32_t bs_swift_overlay_map_pages(void *overlay, struct vm_fault *vmf, uint64_t first, uint64_t last);
/* Whether an overlay may be mapped (0 or a negative errno), whether to keep huge pages
 * out, and whether a layer forbids executing it. */
int bs_swift_overlay_mmap(void *overlay, bool shared, bool *no_huge_pages, bool *no_exec);
/* The page cache an overlay's files map. */
struct address_space *bs_swift_overlay_mapping(void *overlay);
/* fadvise(POSIX_FADV_WILLNEED) or madvise(MADV_WILLNEED) of pages first..last
 * (clamped to the overlay) through `file`, an overlay file the caller holds. */
void bs_swift_overlay_willneed(void *overlay, struct file *file, uint64_t first, uint64_t last);
/* The readahead window of the overlay's files as opened, in pages. */
uint32_t bs_swift_overlay_readahead_pages(void *overlay);
void bs_swift_overlay_release(void *overlay);
void bs_swift_attachment_release(void *attachment);
/* A request's work in another process's address space (bs_run_in_address_space). */
void bs_swift_remote_call(void *context);
/* Writes the overlay listing into `buffer`: its length, or -1 if it does not fit. */
long bs_swift_render_overlays(char *buffer, size_t size);
/* Writes the counts of live objects into `buffer`: its length, or -1. */
long bs_swift_render_stats(char *buffer, size_t size);

#ifdef __clang__
#pragma clang assume_nonnull end
#endif

#endif /* BATCH_SYSCALLS_GLUE_H */
