// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runtime services for the Swift code: memory, user copies, the calling
 * process, the registry lock and logging, and the function a Swift trap
 * calls. The Embedded Swift runtime's allocator is not provided: the
 * module's Swift does not use it (see kmod/scripts/swift-ir-fixup.awk).
 */
#include <linux/bug.h>
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
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uaccess.h>

#include "batch_syscalls_glue.h"

void *bs_kvzalloc(size_t size, bool account)
{
	/* Allocation is never allowed where it could sleep illegally. */
	WARN_ONCE(in_atomic() || irqs_disabled() || rcu_preempt_depth(),
		  "batch_syscalls: allocation in atomic context");
	/*
	 * Sizes userspace chooses are charged to its memory cgroup, and fail
	 * with ENOMEM rather than warn or invoke the OOM killer.
	 */
	return kvzalloc(size, account ? GFP_KERNEL_ACCOUNT | __GFP_NOWARN | __GFP_RETRY_MAYFAIL
				      : GFP_KERNEL);
}

void bs_kvfree(void *pointer)
{
	kvfree(pointer);
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

void bs_current_process(uint64_t *process_id, uint64_t *start_time)
{
	*process_id = task_tgid_nr(current);
	*start_time = current->group_leader->start_time;
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

static DEFINE_MUTEX(bs_sharing_mutex);

void bs_sharing_lock(void)
{
	mutex_lock(&bs_sharing_mutex);
}

void bs_sharing_unlock(void)
{
	mutex_unlock(&bs_sharing_mutex);
}

struct bs_mutex {
	struct mutex mutex;
};

struct bs_mutex *bs_mutex_create(void)
{
	struct bs_mutex *lock = kmalloc(sizeof(*lock), GFP_KERNEL);

	if (lock)
		mutex_init(&lock->mutex);
	return lock;
}

void bs_mutex_destroy(struct bs_mutex *lock)
{
	mutex_destroy(&lock->mutex);
	kfree(lock);
}

int bs_mutex_lock_killable(struct bs_mutex *lock)
{
	return mutex_lock_killable(&lock->mutex);
}

void bs_mutex_unlock(struct bs_mutex *lock)
{
	mutex_unlock(&lock->mutex);
}

static DEFINE_SPINLOCK(bs_address_space_list);

void bs_address_space_list_lock(void)
{
	spin_lock(&bs_address_space_list);
}

void bs_address_space_list_unlock(void)
{
	spin_unlock(&bs_address_space_list);
}

uint64_t bs_current_address_space(void)
{
	return (uintptr_t)current->mm;
}

void bs_log(int level, const char *message, size_t length)
{
	static DEFINE_RATELIMIT_STATE(ratelimit, 5 * HZ, 50);
	static const char *const prefix[] = {
		KERN_ERR "batch_syscalls: ", KERN_INFO "batch_syscalls: ",
		KERN_DEBUG "batch_syscalls: debug: ", KERN_DEBUG "batch_syscalls: trace: ",
	};

	if (level < 0 || level > BS_LOG_LEVEL || !__ratelimit(&ratelimit))
		return;
	printk("%s%.*s\n", prefix[level], (int)length, message);
}
