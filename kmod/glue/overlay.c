// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Overlays: what a request maps over the base mapping.
 *
 * An overlay is an inode of the module's filesystem whose files map another
 * file's page cache: the lower stack's (the base file's own, or a shared
 * overlay inode's), so every restore with the same layers beneath shares
 * those pages, and a plain mapping of the base file shares them too. Its
 * files' f_mapping is that page cache (as a block device file's is its
 * bdev inode's), so a mapping of an overlay is in the lower page cache's
 * reverse map like any mapping of the lower file, and the kernel's fault,
 * fault-around, reclaim, migration and truncation paths find it.
 *
 * The pages of the restore's own layers are not in any shared page cache:
 * the overlay's vm_operations send a fault on one to the kernel's own
 * copy-on-write path, with the own layer's page as the source, so it
 * becomes a private anonymous page of the mapping (anon rmap, LRU,
 * migration, KSM, swap all as for any private copy). Swift decides, page by
 * page, which; the functions here are the kernel calls.
 */
#include <linux/bvec.h>
#include <linux/err.h>
#include <linux/fadvise.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/shmem_fs.h>
#include <linux/uio.h>

#include "batch_syscalls_glue.h"
#include "compat.h"
#include "overlay_fs.h"

static_assert((int)BS_VM_FAULT_SIGBUS == (int)VM_FAULT_SIGBUS && (int)BS_VM_FAULT_NOPAGE == (int)VM_FAULT_NOPAGE &&
	      (int)BS_VM_FAULT_RETRY == (int)VM_FAULT_RETRY && (int)BS_VM_FAULT_ERROR == (int)VM_FAULT_ERROR);

/* The VMA's file is an overlay file: a request's (its attachment in
 * private_data, which counts the copies) or one reopened (none). */
static vm_fault_t bs_overlay_fault(struct vm_fault *vmf)
{
	struct file *file = vmf->vma->vm_file;

	return bs_swift_overlay_fault(file_inode(file)->i_private, file->private_data, vmf, vmf->pgoff,
				      vmf->flags & FAULT_FLAG_WRITE);
}

/* Called under rcu_read_lock (do_fault_around): Swift neither sleeps nor allocates. */
static vm_fault_t bs_overlay_map_pages(struct vm_fault *vmf, pgoff_t start, pgoff_t end)
{
	struct file *file = vmf->vma->vm_file;

	return bs_swift_overlay_map_pages(file_inode(file)->i_private, vmf, start, end);
}

static const struct vm_operations_struct bs_overlay_vm_ops = {
	.fault = bs_overlay_fault,
	.map_pages = bs_overlay_map_pages,
};

/*
 * The page cache is never written: a mapping that is shared and may become
 * writable is refused (root can reopen an overlay for writing through
 * /proc/PID/map_files). Swift says whether a shared mapping can show the
 * overlay at all (not where own layers serve pages) and whether to keep huge
 * pages out.
 */
static int bs_overlay_mmap(struct file *file, struct vm_area_struct *vma)
{
	bool shared = vma->vm_flags & VM_SHARED, no_huge_pages = false, no_exec = false;
	int error;

	if (shared && (vma->vm_flags & VM_MAYWRITE))
		return -EACCES;
	error = bs_swift_overlay_mmap(file_inode(file)->i_private, shared, &no_huge_pages, &no_exec);
	if (error)
		return error;
	/*
	 * A layer on a noexec mount: the overlay may not be executed either,
	 * as mmap does for such a file itself (EPERM for PROT_EXEC, and no
	 * mprotect to it later).
	 */
	if (no_exec) {
		if (vma->vm_flags & VM_EXEC)
			return -EPERM;
		bs_vma_flags_clear(vma, VM_MAYEXEC);
	}
	file_accessed(file);
	vma->vm_ops = &bs_overlay_vm_ops;
	if (no_huge_pages)
		bs_vma_flags_set(vma, VM_NOHUGEPAGE);
	return 0;
}

/* An overlay reopened through /proc/PID/map_files maps the same page cache. */
static int bs_overlay_open(struct inode *inode, struct file *file)
{
	file->f_mapping = bs_swift_overlay_mapping(inode->i_private);
	return 0;
}

/* The last reference to a request's overlay file is gone: its mappings and descriptors. */
static int bs_overlay_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		bs_swift_attachment_release(file->private_data);
	return 0;
}

/* Sets `set` and clears `clear` in the file's mode, under its lock (as
 * generic_fadvise changes it). */
static void bs_file_mode_change(struct file *file, fmode_t set, fmode_t clear)
{
	spin_lock(&file->f_lock);
	file->f_mode = (file->f_mode & ~clear) | set;
	spin_unlock(&file->f_lock);
}

/*
 * fadvise(2) on an overlay file, and madvise(MADV_WILLNEED) on its mappings
 * (which the kernel turns into fadvise of the mapped file).
 *
 * WILLNEED: Swift starts reading each page from the page cache that serves
 * it (the lower stack's or an own layer's), as a loading set does, so a
 * page an own layer serves is not read from the base as well.
 *
 * The rest: where the overlay maps the base file's own page cache, the
 * kernel's generic_fadvise applies as to the base file itself. A lower
 * inode of the module's filesystem has no backing device, so
 * generic_fadvise would ignore the advice; it is applied here the same
 * way, with the overlay's own window as the device's: NORMAL restores it,
 * SEQUENTIAL doubles it, RANDOM marks the file, DONTNEED drops the clean,
 * unmapped pages of the range (a lower inode's pages are never dirty).
 */
static int bs_overlay_fadvise(struct file *file, loff_t offset, loff_t len, int advice)
{
	struct address_space *mapping = file->f_mapping;
	bool lower_inode = mapping->host->i_sb == file_inode(file)->i_sb;
	void *overlay = file_inode(file)->i_private;
	/* The last byte, inclusive (len 0: to the end), as generic_fadvise counts. */
	u64 last_byte = (u64)offset + (u64)len - 1;

	if (len < 0 || offset < 0)
		return -EINVAL;
	if (!len || (u64)offset + (u64)len < (u64)len)
		last_byte = LLONG_MAX;
	if (advice == POSIX_FADV_WILLNEED) {
		bs_swift_overlay_willneed(overlay, file, (u64)offset >> PAGE_SHIFT, last_byte >> PAGE_SHIFT);
		return 0;
	}
	if (!lower_inode)
		return generic_fadvise(file, offset, len, advice);
	switch (advice) {
	case POSIX_FADV_NORMAL:
		file->f_ra.ra_pages = bs_swift_overlay_readahead_pages(overlay);
		bs_file_mode_change(file, 0, FMODE_RANDOM | BS_FMODE_NOREUSE);
		return 0;
	case POSIX_FADV_RANDOM:
		bs_file_mode_change(file, FMODE_RANDOM, 0);
		return 0;
	case POSIX_FADV_SEQUENTIAL:
		file->f_ra.ra_pages = 2 * bs_swift_overlay_readahead_pages(overlay);
		bs_file_mode_change(file, 0, FMODE_RANDOM);
		return 0;
	case POSIX_FADV_NOREUSE:
		bs_file_mode_change(file, BS_FMODE_NOREUSE, 0);
		return 0;
	case POSIX_FADV_DONTNEED: {
		/* Whole pages only: a partial page at either end stays. */
		pgoff_t first = DIV_ROUND_UP((u64)offset, PAGE_SIZE);
		pgoff_t end = last_byte == LLONG_MAX ? ULONG_MAX : (pgoff_t)((last_byte + 1) >> PAGE_SHIFT);

		if (end > first)
			invalidate_mapping_pages(mapping, first, end == ULONG_MAX ? ULONG_MAX : end - 1);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

const struct file_operations bs_overlay_fops = {
	.owner = THIS_MODULE,
	.open = bs_overlay_open,
	.mmap = bs_overlay_mmap,
	.release = bs_overlay_release,
	.llseek = generic_file_llseek,
	.fadvise = bs_overlay_fadvise,
};

struct inode *bs_overlay_inode_create(void *overlay, int64_t size, int *error)
{
	struct inode *inode = bs_module_inode_create(overlay, size, &bs_overlay_fops);

	if (IS_ERR(inode)) {
		*error = PTR_ERR(inode);
		return NULL;
	}
	/*
	 * Never collapsed into huge pages: khugepaged and MADV_COLLAPSE take a
	 * file mapping only when its file (this inode) is not open for writing
	 * (6.1 to 6.18; later kernels never take anonymous inodes), and a
	 * huge mapping of the lower page cache would hide the own layers'
	 * pages in it. Nothing ever writes this inode.
	 */
	atomic_inc(&inode->i_writecount);
	return inode;
}

struct file *bs_overlay_file_open(struct inode *inode, void *attachment, struct address_space *mapping,
			       uint32_t readahead_pages, int *error)
{
	struct file *file = bs_module_file_open(inode, "batch_syscalls_view", &bs_overlay_fops);

	if (IS_ERR(file)) {
		*error = PTR_ERR(file);
		return NULL;
	}
	file->f_mapping = mapping;
	file->f_ra.ra_pages = readahead_pages;
	file->f_ra.prev_pos = -1;
	/* From here the file owns the attachment: its release frees it. */
	file->private_data = attachment;
	return file;
}

struct address_space *bs_file_mapping(struct file *file)
{
	return file->f_mapping;
}

struct address_space *bs_inode_mapping(struct inode *inode)
{
	return inode->i_mapping;
}

/* ---- The fault path ----------------------------------------------------- */

uint32_t bs_fault_lower(struct vm_fault *vmf)
{
	return filemap_fault(vmf);
}

uint32_t bs_fault_map_lower(struct vm_fault *vmf, uint64_t first, uint64_t last)
{
	return filemap_map_pages(vmf, first, last);
}

/*
 * A private copy of the page at `address` through the kernel's own
 * copy-on-write path: a write fault there (FAULT_FLAG_REMOTE: no protection
 * key applies), whose ->fault gives the source page (bs_fault_source_page),
 * with the locks the faulting caller holds. On VM_FAULT_RETRY the lock was
 * dropped (a per-VMA-lock fault that needs the mmap lock for the anon_vma):
 * the caller returns it as it is. Otherwise the page is mapped:
 * VM_FAULT_NOPAGE for the caller's fault (VM_FAULT_MAJOR when it read).
 */
uint32_t bs_fault_copy_at(struct vm_fault *vmf, uint64_t address)
{
	unsigned int flags = (vmf->flags & (BS_FAULT_FLAG_VMA_LOCK | FAULT_FLAG_ALLOW_RETRY |
					    FAULT_FLAG_KILLABLE | FAULT_FLAG_TRIED)) |
			     FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE;
	vm_fault_t result = handle_mm_fault(vmf->vma, address, flags, NULL);

	if (result & (VM_FAULT_RETRY | VM_FAULT_ERROR))
		return result;
	return VM_FAULT_NOPAGE | (result & VM_FAULT_MAJOR);
}

uint64_t bs_fault_address(struct vm_fault *vmf)
{
	return vmf->real_address;
}

void bs_fault_vma_span(struct vm_fault *vmf, uint64_t *start, uint64_t *end, uint64_t *pgoff)
{
	*start = vmf->vma->vm_start;
	*end = vmf->vma->vm_end;
	*pgoff = vmf->vma->vm_pgoff;
}

uint32_t bs_fault_state(struct vm_fault *vmf)
{
	uint32_t state = 0;

	if (pmd_none(*vmf->pmd))
		state |= BS_FAULT_PMD_NONE;
	if (vmf->vma->vm_flags & VM_NOHUGEPAGE)
		state |= BS_FAULT_NO_HUGE_PAGES;
	if (BS_NOHUGEPAGE_REFUSES_PMD_MAPPING)
		state |= BS_FAULT_NO_HUGE_PAGES_HONOURED;
	if (vmf->vma->vm_flags & VM_RAND_READ)
		state |= BS_FAULT_RANDOM_READ;
	return state;
}

/*
 * The page a copy-on-write fault copies for page `index` of an own layer,
 * locked and referenced (the fault path unlocks and drops it after the
 * copy): read straight from the disk into a page of its own where the
 * layer allows that and its page cache does not hold the page (so the copy
 * is the only one left in memory), else the layer's page-cache page. Past
 * the layer's end, or on a read error, SIGBUS, as a mapping of the layer
 * itself would give.
 */
uint32_t bs_fault_source_page(struct vm_fault *vmf, struct file *layer, uint64_t index)
{
	struct address_space *mapping = layer->f_mapping;
	struct folio *folio;
	struct page *page;

	if ((loff_t)index >= DIV_ROUND_UP(i_size_read(mapping->host), PAGE_SIZE))
		return VM_FAULT_SIGBUS;
	page = bs_layer_page_direct(layer, index);
	if (page) {
		vmf->page = page;
		return VM_FAULT_LOCKED | VM_FAULT_MAJOR;
	}
	folio = bs_layer_folio(layer, index);
	if (IS_ERR(folio))
		return PTR_ERR(folio) == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	folio_lock(folio);
	vmf->page = folio_file_page(folio, index);
	return VM_FAULT_LOCKED;
}

uint32_t bs_fault_give_page(struct vm_fault *vmf, struct page *page, bool read)
{
	/* Only the overlay held it: the lock is free. */
	lock_page(page);
	vmf->page = page;
	return VM_FAULT_LOCKED | (read ? VM_FAULT_MAJOR : 0);
}

/* Pages of `mapping`'s page cache at indexes first..last. */
uint64_t bs_mapping_cached_pages(struct address_space *mapping, uint64_t first, uint64_t last)
{
	XA_STATE(xas, &mapping->i_pages, first);
	struct folio *folio;
	uint64_t pages = 0;

	rcu_read_lock();
	xas_for_each(&xas, folio, last) {
		if (xas_retry(&xas, folio) || xa_is_value(folio))
			continue;
		/* The part of the folio inside first..last. */
		pages += min_t(uint64_t, last, folio->index + folio_nr_pages(folio) - 1) -
			 max_t(uint64_t, first, folio->index) + 1;
	}
	rcu_read_unlock();
	return pages;
}
