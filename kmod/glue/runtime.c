// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runtime services for the Swift code: memory, user copies, the calling
 * process, the registry lock and logging. Also the three functions the
 * Embedded Swift runtime needs from its host (posix_memalign, free) and the
 * function a Swift trap calls.
 */
#include <linux/bug.h>
#include <linux/log2.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/printk.h>
#include <linux/random.h>
#include <linux/ratelimit.h>
#include <linux/rcupdate.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/types.h>
#include <linux/uaccess.h>

#include "batch_syscalls_glue.h"

/* Allocation is never allowed where it could sleep illegally. */
static bool bs_may_not_sleep(void)
{
	return in_atomic() || irqs_disabled() || rcu_preempt_depth();
}

void *bs_kvzalloc(size_t size, bool account)
{
	WARN_ONCE(bs_may_not_sleep(), "batch_syscalls: allocation in atomic context");
	return kvzalloc(size, account ? GFP_KERNEL_ACCOUNT : GFP_KERNEL);
}

void bs_kvfree(void *pointer)
{
	kvfree(pointer);
}

/*
 * For the Embedded Swift runtime (swift_slowAlloc). kmalloc aligns a
 * power-of-two size naturally, so round up to one at least `alignment`.
 */
int posix_memalign(void **result, size_t alignment, size_t size);
int posix_memalign(void **result, size_t alignment, size_t size)
{
	size_t rounded = size < alignment ? alignment : size;

	WARN_ONCE(bs_may_not_sleep(), "batch_syscalls: Swift allocation in atomic context");
	rounded = roundup_pow_of_two(rounded ? rounded : 1);
	*result = kmalloc(rounded, GFP_KERNEL);
	return *result ? 0 : -ENOMEM;
}

void free(void *pointer);
void free(void *pointer)
{
	kfree(pointer);
}

/* Called instead of ud2 on a Swift trap (-trap-function): names the caller. */
void bs_swift_trap(void);
void bs_swift_trap(void)
{
	pr_emerg("batch_syscalls: Swift runtime trap in %ps\n", __builtin_return_address(0));
	BUG();
}

int bs_copy_from_user(void *destination, const void __user *source, size_t size)
{
	return copy_from_user(destination, source, size) ? -EFAULT : 0;
}

int bs_copy_to_user(void __user *destination, const void *source, size_t size)
{
	return copy_to_user(destination, source, size) ? -EFAULT : 0;
}

void bs_random_bytes(void *buffer, size_t size)
{
	get_random_bytes(buffer, size);
}

uint64_t bs_current_process_id(void)
{
	return task_tgid_nr(current);
}

uint64_t bs_current_process_start_time(void)
{
	return current->group_leader->start_time;
}

static DEFINE_MUTEX(bs_registry_mutex);

void bs_registry_lock(void)
{
	mutex_lock(&bs_registry_mutex);
}

void bs_registry_unlock(void)
{
	mutex_unlock(&bs_registry_mutex);
}

/* One rate limit a level, so a flood of debug lines cannot hide errors. */
static DEFINE_RATELIMIT_STATE(bs_error_ratelimit, 5 * HZ, 20);
static DEFINE_RATELIMIT_STATE(bs_info_ratelimit, 5 * HZ, 20);
static DEFINE_RATELIMIT_STATE(bs_debug_ratelimit, 5 * HZ, 100);

static bool bs_log_allowed(int level)
{
	if (level > BS_LOG_LEVEL)
		return false;
	switch (level) {
	case BS_LOG_ERROR:
		return __ratelimit(&bs_error_ratelimit);
	case BS_LOG_INFO:
		return __ratelimit(&bs_info_ratelimit);
	default:
		return __ratelimit(&bs_debug_ratelimit);
	}
}

static const char *bs_log_prefix(int level)
{
	switch (level) {
	case BS_LOG_ERROR:
		return KERN_ERR "batch_syscalls: ";
	case BS_LOG_INFO:
		return KERN_INFO "batch_syscalls: ";
	case BS_LOG_DEBUG:
		return KERN_DEBUG "batch_syscalls: debug: ";
	default:
		return KERN_DEBUG "batch_syscalls: trace: ";
	}
}

void bs_log(int level, const char *message, size_t length)
{
	if (bs_log_allowed(level))
		printk("%s%.*s\n", bs_log_prefix(level), (int)length, message);
}

void bs_log_value(int level, const char *message, size_t length, int64_t value)
{
	if (bs_log_allowed(level))
		printk("%s%.*s %lld\n", bs_log_prefix(level), (int)length, message, value);
}
