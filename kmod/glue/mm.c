// SPDX-License-Identifier: GPL-2.0-or-later
/* The calling process's mappings: look one up, map a file over one. */
#include <linux/err.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/types.h>

#include "batch_syscalls_glue.h"
#include "compat.h"
#include "overlay_fs.h"

void bs_mmap_read_lock(void)
{
	mmap_read_lock(current->mm);
}

void bs_mmap_read_unlock(void)
{
	mmap_read_unlock(current->mm);
}

bool bs_vma_describe(uint64_t address, struct bs_vma_info *info)
{
	struct vm_area_struct *vma;
	uint32_t flags = 0;

	mmap_assert_locked(current->mm);
	vma = vma_lookup(current->mm, address);
	if (!vma)
		return false;

	static_assert(BS_VMA_READ == VM_READ && BS_VMA_WRITE == VM_WRITE && BS_VMA_EXEC == VM_EXEC &&
		      BS_VMA_MAYSHARE == VM_MAYSHARE && BS_VMA_LOCKED == VM_LOCKED && BS_VMA_NORESERVE == VM_NORESERVE);
	flags = vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC | VM_MAYSHARE | VM_LOCKED | VM_NORESERVE);
	if (vma->anon_vma)
		flags |= BS_VMA_PRIVATE_PAGES;
	if ((vma->vm_flags & (VM_PFNMAP | VM_IO | VM_MIXEDMAP)) ||
	    is_vm_hugetlb_page(vma) || vma_is_dax(vma))
		flags |= BS_VMA_SPECIAL;

	info->start = vma->vm_start;
	info->end = vma->vm_end;
	info->pgoff = vma->vm_pgoff;
	info->flags = flags;
	info->file = vma->vm_file;
	return true;
}

long bs_vm_mmap_private_fixed(struct file *file, uint64_t start, uint64_t length,
			      uint64_t prot, uint64_t flags, uint64_t pgoff)
{
	unsigned long result = vm_mmap(file, start, length, prot,
				       MAP_PRIVATE | MAP_FIXED | flags, pgoff << PAGE_SHIFT);
	if (IS_ERR_VALUE(result))
		return (long)result;
	return result == start ? 0 : -EINVAL;
}

struct page *bs_user_page_present(uint64_t address)
{
	struct page *page;

	mmap_assert_locked(current->mm);
	/* FOLL_NOFAULT: a page that is not mapped now stays so. */
	if (bs_get_user_page(current->mm, address, FOLL_NOFAULT, &page) != 1)
		return NULL;
	return page;
}

void bs_page_put(struct page *page)
{
	put_page(page);
}

bool bs_page_anonymous(struct page *page)
{
	return PageAnon(page);
}

/* Whether `page` holds the bytes of `folio`'s page `index`; drops the folio. */
static bool bs_page_same_as_folio(struct page *page, struct folio *folio, pgoff_t index)
{
	const char *mine, *theirs;
	bool same;

	if (IS_ERR(folio))
		return false;
	mine = kmap_local_page(page);
	theirs = kmap_local_folio(folio, offset_in_folio(folio, (loff_t)index << PAGE_SHIFT));
	same = !memcmp(mine, theirs, PAGE_SIZE);
	kunmap_local(theirs);
	kunmap_local(mine);
	folio_put(folio);
	return same;
}

bool bs_page_same_as_file_page(struct page *page, struct file *layer, uint64_t index)
{
	if ((loff_t)index >= DIV_ROUND_UP(i_size_read(file_inode(layer)), PAGE_SIZE))
		return false;
	return bs_page_same_as_folio(page, bs_layer_folio(layer, index), index);
}

bool bs_page_same_as_cache_page(struct page *page, struct address_space *mapping, uint64_t index)
{
	if ((loff_t)index >= DIV_ROUND_UP(i_size_read(mapping->host), PAGE_SIZE))
		return false;
	return bs_page_same_as_folio(page, read_mapping_folio(mapping, index, NULL), index);
}

bool bs_address_space_has_swapped_pages(void)
{
	return bs_mm_counter(current->mm, MM_SWAPENTS) > 0;
}

/*
 * Faults in the pages [start, end) of the calling process for reading, as
 * MADV_POPULATE_READ does: a private file mapping's pages are mapped
 * read-only, page cache pages as they are (no copy: a later write still
 * copies the page). A page that cannot be mapped (past its file's end) is
 * skipped. Stops early at a fatal signal.
 */
void bs_populate_read(uint64_t start, uint64_t end)
{
	struct mm_struct *mm = current->mm;

	while (start < end) {
		unsigned long pages = min_t(uint64_t, (end - start) >> PAGE_SHIFT, BS_POPULATE_CHUNK_PAGES);
		long done;

		if (mmap_read_lock_killable(mm))
			return;
		done = bs_fault_in_pages(mm, start, pages);
		mmap_read_unlock(mm);
		/* Nothing mapped at `start` (a SIGBUS page, say): past it. */
		start += (done > 0 ? done : 1) << PAGE_SHIFT;
		if (fatal_signal_pending(current))
			return;
		cond_resched();
	}
}

