// SPDX-License-Identifier: GPL-2.0-or-later
/* The calling process's mappings: look one up, map a file over one. */
#include <linux/err.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/types.h>

#include "batch_syscalls_glue.h"

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

	if (vma->vm_flags & VM_READ)
		flags |= BS_VMA_READ;
	if (vma->vm_flags & VM_WRITE)
		flags |= BS_VMA_WRITE;
	if (vma->vm_flags & VM_EXEC)
		flags |= BS_VMA_EXEC;
	if (vma->vm_flags & VM_MAYSHARE)
		flags |= BS_VMA_MAYSHARE;
	if (vma->vm_flags & VM_LOCKED)
		flags |= BS_VMA_LOCKED;
	if (vma->vm_flags & VM_NORESERVE)
		flags |= BS_VMA_NORESERVE;
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
