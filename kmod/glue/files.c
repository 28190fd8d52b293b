// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Layer files named by descriptor (ABI v2): look one up, open a private
 * file of it, find its data extents, and the extensible-struct check of
 * the request.
 */
#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
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

int bs_check_zeroed_user(const void __user *from, size_t size)
{
	return check_zeroed_user(from, size);
}
