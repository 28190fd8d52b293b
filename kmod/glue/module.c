// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * batch-syscalls: lays segments of an overlay file over a base file
 * mapping with one ioctl. Module entry and exit and the misc device; the
 * ioctls are handled in Swift.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/types.h>

#include "batch_syscalls_glue.h"

static long bs_device_ioctl(struct file *file, unsigned int command, unsigned long argument)
{
	return bs_swift_ioctl(command, argument);
}

static const struct file_operations bs_device_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = bs_device_ioctl,
};

static struct miscdevice bs_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = BATCH_SYSCALLS_DEVICE_NAME,
	.fops = &bs_device_fops,
	.mode = 0600,
};

/* /sys/kernel/debug/batch_syscalls/overlays: the live overlays, as Swift renders them. */
static int bs_overlays_show(struct seq_file *file, void *unused)
{
	char *buffer;
	size_t size = seq_get_buf(file, &buffer);

	seq_commit(file, size ? bs_swift_render_overlays(buffer, size) : -1);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bs_overlays);

/* /sys/kernel/debug/batch_syscalls/stats: counts of the module's live objects. */
static int bs_stats_show(struct seq_file *file, void *unused)
{
	char *buffer;
	size_t size = seq_get_buf(file, &buffer);

	seq_commit(file, size ? bs_swift_render_stats(buffer, size) : -1);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(bs_stats);

static struct dentry *bs_debugfs;

/* The module's state exists before anything can reach it, and after. */
static int __init bs_module_init(void)
{
	int error = bs_swift_init();

	if (error)
		return error;
	error = bs_fill_workers_start();
	if (error)
		goto exit_swift;
	error = bs_overlay_fs_mount();
	if (error)
		goto stop_workers;
	error = bs_unused_lowers_start();
	if (error)
		goto unmount;
	error = misc_register(&bs_device);
	if (error)
		goto stop_keeping;
	bs_debugfs = debugfs_create_dir(BATCH_SYSCALLS_DEVICE_NAME, NULL);
	debugfs_create_file("overlays", 0400, bs_debugfs, NULL, &bs_overlays_fops);
	debugfs_create_file("stats", 0400, bs_debugfs, NULL, &bs_stats_fops);
	return 0;

stop_keeping:
	bs_unused_lowers_stop();
unmount:
	bs_overlay_fs_unmount();
stop_workers:
	bs_fill_workers_stop();
exit_swift:
	bs_swift_exit();
	return error;
}

static void __exit bs_module_exit(void)
{
	debugfs_remove(bs_debugfs);
	misc_deregister(&bs_device);
	bs_unused_lowers_stop();
	/* Fills hold their lower stack's inode: done before the unmount, which evicts the unused ones. */
	bs_fill_workers_flush();
	bs_overlay_fs_unmount();
	/* After the last inode: a fill's worker may be returning from its iput. */
	bs_fill_workers_stop();
	bs_swift_exit();
}

module_init(bs_module_init);
module_exit(bs_module_exit);

MODULE_DESCRIPTION("Lays segments of overlay files over a file mapping with one ioctl");
MODULE_AUTHOR("batch-syscalls developers");
MODULE_LICENSE("GPL");

/* The ids are written back at the start of the requests. */
static_assert(offsetof(struct mem_overlay_req, id) == 0);
static_assert(offsetof(struct mem_overlay_cleanup_req, id) == 0);
static_assert(offsetof(struct mem_overlay_stack_req, id) == 32);
static_assert(offsetof(struct mem_overlay_stack_req, pidfd) == MEM_OVERLAY_STACK_REQ_SIZE_VER0);
static_assert(offsetof(struct mem_overlay_stack_req, loading_set_size) == MEM_OVERLAY_STACK_REQ_SIZE_VER1);
static_assert(sizeof(struct mem_overlay_stack_req) == MEM_OVERLAY_STACK_REQ_SIZE_VER2);
static_assert(IOCTL_MEM_OVERLAY_STACK_CMD ==
	      _IOC(_IOC_READ | _IOC_WRITE, MAGIC, 3, MEM_OVERLAY_STACK_REQ_SIZE_VER0));
static_assert(sizeof(struct mem_overlay_layer) == 24);
/* Swift's pageShift (Logic/DataExtents.swift). */
static_assert(PAGE_SHIFT == 12);
