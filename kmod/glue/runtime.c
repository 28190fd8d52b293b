// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Runtime services for the Swift code: memory, user copies, the calling
 * process, sleeping locks and logging, and the function a Swift trap
 * calls. The Embedded Swift runtime's allocator is not provided: the
 * module's Swift does not use it (see kmod/scripts/swift-ir-fixup.awk).
 */
#include <linux/bug.h>
#include <linux/gfp.h>
#include <linux/math.h>
#include <linux/mm.h>
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
#include <linux/vmalloc.h>

#include "batch_syscalls_glue.h"

/*
 * Memory for the Swift code. Small sizes come from kmalloc. Larger ones (a
 * segment table reaches 16 MB) are single pages mapped together with vmap,
 * not kvmalloc's vmalloc fallback, so that a failure gives all it took back
 * before the request returns ENOMEM. Since the vmalloc change "defer freeing
 * partly initialized vm_struct" (2025; in 7.3, not in 6.12 or 6.1) a vmalloc
 * that fails part way frees its pages from a work item: they stay charged
 * to the caller's memory cgroup after the ioctl returned, and the caller's
 * next allocation met a full cgroup and its OOM killer (7.3: 1 run in 15 of
 * the ENOMEM scenario). A header in front of the mapped memory remembers its
 * pages for bs_kvfree.
 */
struct bs_paged_memory {
	struct page **pages;
	unsigned int page_count;
};

/* Keeps the memory after the header aligned as kmalloc's would be. */
#define BS_PAGED_HEADER_SIZE 64
/* Up to here (order 3, the largest the page allocator calls cheap) kmalloc. */
#define BS_KMALLOC_LIMIT (PAGE_SIZE << PAGE_ALLOC_COSTLY_ORDER)

static void bs_free_page_array(struct page **pages, unsigned int count)
{
	while (count)
		__free_page(pages[--count]);
	kvfree(pages);
}

static void *bs_paged_zalloc(size_t size, gfp_t gfp)
{
	struct bs_paged_memory *header;
	struct page **pages;
	unsigned int count, filled;

	if (size > (size_t)INT_MAX * PAGE_SIZE - BS_PAGED_HEADER_SIZE)
		return NULL;
	count = DIV_ROUND_UP(size + BS_PAGED_HEADER_SIZE, PAGE_SIZE);
	pages = kvmalloc_array(count, sizeof(*pages), gfp);
	if (!pages)
		return NULL;
	for (filled = 0; filled < count; filled++) {
		pages[filled] = alloc_page(gfp | __GFP_ZERO);
		if (!pages[filled]) {
			bs_free_page_array(pages, filled);
			return NULL;
		}
	}
	header = vmap(pages, count, VM_MAP, PAGE_KERNEL);
	if (!header) {
		bs_free_page_array(pages, count);
		return NULL;
	}
	header->pages = pages;
	header->page_count = count;
	return (char *)header + BS_PAGED_HEADER_SIZE;
}

void *bs_kvzalloc(size_t size, bool account)
{
	/*
	 * Sizes userspace chooses are charged to its memory cgroup, and fail
	 * with ENOMEM rather than warn or invoke the OOM killer.
	 */
	gfp_t gfp = account ? GFP_KERNEL_ACCOUNT | __GFP_NOWARN | __GFP_RETRY_MAYFAIL : GFP_KERNEL;

	/* Allocation is never allowed where it could sleep illegally. */
	WARN_ONCE(in_atomic() || irqs_disabled() || rcu_preempt_depth(),
		  "batch_syscalls: allocation in atomic context");
	if (size <= BS_KMALLOC_LIMIT)
		return kzalloc(size, gfp);
	return bs_paged_zalloc(size, gfp);
}

void bs_kvfree(void *pointer)
{
	struct bs_paged_memory *header;
	struct page **pages;
	unsigned int count;

	if (!is_vmalloc_addr(pointer)) {
		kfree(pointer);
		return;
	}
	/* vunmap sleeps: the module frees only where it may allocate. */
	might_sleep();
	header = (void *)((char *)pointer - BS_PAGED_HEADER_SIZE);
	pages = header->pages;
	count = header->page_count;
	vunmap(header);
	bs_free_page_array(pages, count);
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

struct bs_mutex {
	struct mutex mutex;
};

/* One lockdep class per lock role (enum bs_lock_class). */
static struct lock_class_key bs_lock_keys[BS_LOCK_CLASSES];
static const char *const bs_lock_names[BS_LOCK_CLASSES] = {
	[BS_LOCK_CREATE_REQUESTS] = "batch_syscalls_create_requests",
	[BS_LOCK_CREATE_LOCK_LIST] = "batch_syscalls_create_lock_list",
	[BS_LOCK_REGISTRY] = "batch_syscalls_registry",
	[BS_LOCK_SHARING] = "batch_syscalls_sharing",
	[BS_LOCK_OWN_READ_AHEAD] = "batch_syscalls_own_read_ahead",
};

struct bs_mutex *bs_mutex_create(enum bs_lock_class lock_class)
{
	struct bs_mutex *lock = kmalloc(sizeof(*lock), GFP_KERNEL);

	if (lock)
		__mutex_init(&lock->mutex, bs_lock_names[lock_class], &bs_lock_keys[lock_class]);
	return lock;
}

void bs_mutex_destroy(struct bs_mutex *lock)
{
	mutex_destroy(&lock->mutex);
	kfree(lock);
}

void bs_mutex_lock(struct bs_mutex *lock)
{
	mutex_lock(&lock->mutex);
}

int bs_mutex_lock_killable(struct bs_mutex *lock)
{
	return mutex_lock_killable(&lock->mutex);
}

bool bs_mutex_trylock(struct bs_mutex *lock)
{
	return mutex_trylock(&lock->mutex);
}

void bs_mutex_unlock(struct bs_mutex *lock)
{
	mutex_unlock(&lock->mutex);
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
