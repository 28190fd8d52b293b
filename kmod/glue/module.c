// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * batch-syscalls: lays segments of an overlay file over a base file
 * mapping with one ioctl. Module entry and exit and the misc device; the
 * ioctls are handled in Swift.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
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

static int __init bs_module_init(void)
{
	int error = bs_swift_init();

	if (error)
		return error;
	error = misc_register(&bs_device);
	if (error)
		bs_swift_exit();
	return error;
}

static void __exit bs_module_exit(void)
{
	misc_deregister(&bs_device);
	bs_swift_exit();
}

module_init(bs_module_init);
module_exit(bs_module_exit);

MODULE_DESCRIPTION("Lays segments of overlay files over a file mapping with one ioctl");
MODULE_AUTHOR("batch-syscalls developers");
MODULE_LICENSE("GPL");
