// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Layer files named by descriptor (ABI v2): look one up, open a private
 * file of it, find its data extents, and the extensible-struct check of
 * the request.
 */
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/fiemap.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/uaccess.h>

#include "batch_syscalls_glue.h"

struct file *bs_fget(int fd)
{
	return fget(fd);
}

struct file *bs_file_reopen(struct file *file, int *error)
{
	/* The caller's descriptor already grants read access to this file;
	 * no permission is checked again (as for /proc/PID/fd reopens by the
	 * owner, but without a path walk). */
	struct file *reopened = dentry_open(&file->f_path, O_RDONLY | O_LARGEFILE, current_cred());

	if (IS_ERR(reopened)) {
		*error = PTR_ERR(reopened);
		return NULL;
	}
	return reopened;
}

int64_t bs_file_seek(struct file *file, int64_t offset, int whence)
{
	return vfs_llseek(file, offset, whence);
}

int bs_file_map_extents(struct file *file, uint64_t from, struct bs_file_extent *out, uint32_t max)
{
	struct inode *inode = file_inode(file);
	struct fiemap_extent_info info = {
		/* Once a walk, at its start: the later calls find nothing dirty. */
		.fi_flags = from == 0 ? FIEMAP_FLAG_SYNC : 0,
		.fi_extents_max = max,
	};
	struct fiemap_extent __user *extents;
	size_t bytes = (size_t)max * sizeof(*extents);
	unsigned long scratch;
	unsigned int i;
	int error;

	if (!inode->i_op->fiemap || !current->mm)
		return -EOPNOTSUPP;
	if (max == 0 || max > 4096)
		return -EINVAL;
	/*
	 * A filesystem's fiemap writes its extents to user memory only
	 * (fiemap_fill_next_extent copies to a __user array), so they pass
	 * through an anonymous mapping of the caller's, unmapped before the
	 * request goes on. What the caller could do to it meanwhile changes
	 * only the pages its own request lays, as a segment list would.
	 */
	scratch = vm_mmap(NULL, 0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(scratch))
		return (int)scratch;
	extents = (struct fiemap_extent __user *)scratch;
	info.fi_extents_start = extents;
	error = inode->i_op->fiemap(inode, &info, from, FIEMAP_MAX_OFFSET);
	for (i = 0; !error && i < info.fi_extents_mapped && i < max; i++) {
		struct fiemap_extent extent;

		if (copy_from_user(&extent, &extents[i], sizeof(extent))) {
			error = -EFAULT;
			break;
		}
		out[i] = (struct bs_file_extent){
			.offset = extent.fe_logical,
			.length = extent.fe_length,
			.unwritten = extent.fe_flags & FIEMAP_EXTENT_UNWRITTEN,
			.last = extent.fe_flags & FIEMAP_EXTENT_LAST,
		};
	}
	vm_munmap(scratch, bytes);
	return error ? error : (int)i;
}

int bs_check_zeroed_user(const void __user *from, size_t size)
{
	return check_zeroed_user(from, size);
}
