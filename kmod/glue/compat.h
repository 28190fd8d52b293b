/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every difference between the kernel APIs the glue builds against, in one
 * place. Each shim is chosen by a feature test of the kernel's headers
 * (kmod/scripts/kernel-features, run by Kbuild, defines BS_HAVE_*), not by
 * version number, and names the kernel version that changed the API. No
 * policy lives here: on an older kernel a shim does what the newer API
 * does, the same way or a slower way, never a different thing.
 */
#ifndef BS_COMPAT_H
#define BS_COMPAT_H

#ifndef BS_KERNEL_FEATURES
#error "kmod/scripts/kernel-features did not run: see Kbuild"
#endif

#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/magic.h>
#include <linux/string.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/version.h>

/*
 * The shmem folio holding page `index`, read or swapped in, referenced.
 * shmem_read_folio_gfp came after 6.2 (6.1 lacks it); before, the same
 * lookup returns the page, whose folio carries the reference.
 */
static inline struct folio *bs_shmem_read_folio(struct address_space *mapping, pgoff_t index, gfp_t gfp)
{
#ifdef BS_HAVE_SHMEM_READ_FOLIO_GFP
	return shmem_read_folio_gfp(mapping, index, gfp);
#else
	struct page *page = shmem_read_mapping_page_gfp(mapping, index, gfp);

	return IS_ERR(page) ? ERR_CAST(page) : page_folio(page);
#endif
}

/*
 * Copies `length` bytes at `offset` of `folio` to `to`. memcpy_from_folio
 * came after 6.5 (6.1 lacks it); before, the same copy a page at a time
 * (a highmem folio is mapped one page at a time).
 */
static inline void bs_memcpy_from_folio(char *to, struct folio *folio, size_t offset, size_t length)
{
#ifdef BS_HAVE_MEMCPY_FROM_FOLIO
	memcpy_from_folio(to, folio, offset, length);
#else
	while (length) {
		const char *from = kmap_local_folio(folio, offset);
		size_t chunk = min_t(size_t, length, PAGE_SIZE - offset_in_page(offset));

		memcpy(to, from, chunk);
		kunmap_local(from);
		to += chunk;
		offset += chunk;
		length -= chunk;
	}
#endif
}

/* 6.6 made i_ctime private behind inode_get_ctime (Debian's 6.1 has it too). */
static inline struct timespec64 bs_inode_ctime(const struct inode *inode)
{
#ifdef BS_HAVE_INODE_GET_CTIME
	return inode_get_ctime(inode);
#else
	return inode->i_ctime;
#endif
}

/* 6.7 made i_mtime private behind inode_get_mtime. */
static inline struct timespec64 bs_inode_mtime(const struct inode *inode)
{
#ifdef BS_HAVE_INODE_GET_MTIME
	return inode_get_mtime(inode);
#else
	return inode->i_mtime;
#endif
}

/*
 * The address_space_operations entry that removes a poisoned page from the
 * page cache (memory failure): 6.8 replaced error_remove_page by
 * error_remove_folio; the generic helpers do the same truncation.
 */
#ifdef BS_HAVE_ERROR_REMOVE_FOLIO
#define BS_AOPS_ERROR_REMOVE .error_remove_folio = generic_error_remove_folio
#else
#define BS_AOPS_ERROR_REMOVE .error_remove_page = generic_error_remove_page
#endif

/* 6.3 made vm_flags read-only behind vm_flags_set (with the VMA's lock
 * asserted); before, the flags were set directly. Called from ->mmap. */
static inline void bs_vma_flags_set(struct vm_area_struct *vma, unsigned long flags)
{
#ifdef BS_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static inline void bs_vma_flags_clear(struct vm_area_struct *vma, unsigned long flags)
{
#ifdef BS_HAVE_VM_FLAGS_SET
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

/* 6.4 added faults under the VMA's lock alone; before, every fault held the
 * mmap lock, and this flag is never set. */
#ifdef BS_HAVE_FAULT_FLAG_VMA_LOCK
#define BS_FAULT_FLAG_VMA_LOCK FAULT_FLAG_VMA_LOCK
#else
#define BS_FAULT_FLAG_VMA_LOCK 0
#endif

/* Since 6.11 a fault refuses to map a huge folio of the page cache by a PMD
 * in a VMA with VM_NOHUGEPAGE; before, only the VMA's alignment decided. */
#ifdef BS_HAVE_VMA_THP_DISABLED
#define BS_NOHUGEPAGE_REFUSES_PMD_MAPPING 1
#else
#define BS_NOHUGEPAGE_REFUSES_PMD_MAPPING 0
#endif

/*
 * Reads the ractl's next `count` pages into its page cache, no more and with
 * no readahead marker among them (no lookahead), as fadvise(WILLNEED) does.
 * 6.15 made the callers of page_cache_ra_unbounded hold the mapping's
 * invalidate lock, which it took itself before. No declaration changed, so
 * the version decides.
 */
static inline void bs_page_cache_read_exactly(struct readahead_control *ractl, unsigned long count)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
	filemap_invalidate_lock_shared(ractl->mapping);
	page_cache_ra_unbounded(ractl, count, 0);
	filemap_invalidate_unlock_shared(ractl->mapping);
#else
	page_cache_ra_unbounded(ractl, count, 0);
#endif
}

/* 6.3 added FMODE_NOREUSE (POSIX_FADV_NOREUSE); before, the advice changed
 * nothing. */
#ifdef FMODE_NOREUSE
#define BS_FMODE_NOREUSE FMODE_NOREUSE
#else
#define BS_FMODE_NOREUSE 0
#endif

/* One page of `mm` (whose mmap lock the caller holds) by get_user_pages:
 * 6.5 dropped the vmas argument. */
static inline long bs_get_user_page(struct mm_struct *mm, unsigned long address, unsigned int flags,
				    struct page **page)
{
#ifdef BS_HAVE_GUP_REMOTE_VMAS
	return get_user_pages_remote(mm, address, 1, flags, page, NULL, NULL);
#else
	return get_user_pages_remote(mm, address, 1, flags, page, NULL);
#endif
}

/* Faults in `pages` pages of `mm` from `address` for reading, taking no
 * reference (the mmap lock held, never dropped): how many, or an errno. */
static inline long bs_fault_in_pages(struct mm_struct *mm, unsigned long address, unsigned long pages)
{
#ifdef BS_HAVE_GUP_REMOTE_VMAS
	return get_user_pages_remote(mm, address, pages, 0, NULL, NULL, NULL);
#else
	return get_user_pages_remote(mm, address, pages, 0, NULL, NULL);
#endif
}

/* An exact count of an mm counter: 6.2 made them per-CPU, read
 * approximately by get_mm_counter; before, they were exact atomics. */
static inline unsigned long bs_mm_counter(struct mm_struct *mm, int member)
{
#ifdef BS_HAVE_GET_MM_COUNTER_SUM
	return get_mm_counter_sum(mm, member);
#else
	return get_mm_counter(mm, member);
#endif
}

/*
 * The pid a pidfd's file refers to, or NULL if the file is no pidfd
 * (pidfd_pid is not exported). 6.9 made pidfds files of pidfs, the pid in
 * the inode; before, they were anonymous-inode files named "[pidfd]", the
 * pid their private data (only pidfd_open and clone make such files).
 */
static inline struct pid *bs_pidfd_pid(struct file *file)
{
	struct inode *inode = file_inode(file);

#ifdef BS_HAVE_PID_FS
	return inode->i_sb->s_magic == PID_FS_MAGIC ? inode->i_private : NULL;
#else
	if (inode->i_sb->s_magic != ANON_INODE_FS_MAGIC || strcmp(file->f_path.dentry->d_name.name, "[pidfd]"))
		return NULL;
	return file->private_data;
#endif
}

/*
 * A registered shrinker with these callbacks, or NULL. 6.7 replaced
 * register_shrinker (a caller's struct) with shrinker_alloc and
 * shrinker_register; older kernels get the struct allocated here.
 */
static inline struct shrinker *bs_shrinker_create(const char *name,
		unsigned long (*count)(struct shrinker *, struct shrink_control *),
		unsigned long (*scan)(struct shrinker *, struct shrink_control *))
{
#ifdef BS_HAVE_SHRINKER_ALLOC
	struct shrinker *shrinker = shrinker_alloc(0, "%s", name);
#else
	struct shrinker *shrinker = kzalloc(sizeof(*shrinker), GFP_KERNEL);
#endif

	if (!shrinker)
		return NULL;
	shrinker->count_objects = count;
	shrinker->scan_objects = scan;
	shrinker->seeks = DEFAULT_SEEKS;
#ifdef BS_HAVE_SHRINKER_ALLOC
	shrinker_register(shrinker);
#else
	if (register_shrinker(shrinker, "%s", name)) {
		kfree(shrinker);
		return NULL;
	}
#endif
	return shrinker;
}

/* Unregisters it, after any scan still running. */
static inline void bs_shrinker_destroy(struct shrinker *shrinker)
{
#ifdef BS_HAVE_SHRINKER_ALLOC
	shrinker_free(shrinker);
#else
	unregister_shrinker(shrinker);
	kfree(shrinker);
#endif
}

#endif /* BS_COMPAT_H */
