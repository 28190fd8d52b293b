// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Another process, named by a pidfd (ABI v2's MEM_OVERLAY_STACK_PIDFD):
 * find it, check that the caller may write its memory, and run a request
 * in its address space (a kernel worker that adopts its mm), writing back
 * to the caller's memory from there.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/completion.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "batch_syscalls_glue.h"
#include "compat.h"

struct task_struct *bs_pidfd_task(int pidfd, int *error)
{
	struct file *file = fget(pidfd);
	struct task_struct *task = NULL;
	struct pid *pid;

	*error = -EBADF;
	if (!file)
		return NULL;
	pid = bs_pidfd_pid(file);
	if (pid) {
		task = get_pid_task(pid, PIDTYPE_PID);
		*error = task ? 0 : -ESRCH;
	}
	fput(file);
	return task;
}

void bs_task_put(struct task_struct *task)
{
	put_task_struct(task);
}

struct task_struct *bs_current_task(void)
{
	return get_task_struct(current);
}

struct mm_struct *bs_task_mm(struct task_struct *task)
{
	return get_task_mm(task);
}

void bs_mm_put(struct mm_struct *mm)
{
	mmput(mm);
}

uint64_t bs_task_pid(struct task_struct *task)
{
	return task_tgid_vnr(task);
}

bool bs_caller_may_ptrace(void)
{
	return capable(CAP_SYS_PTRACE);
}

bool bs_caller_file_ids_are_real(void)
{
	return uid_eq(current_uid(), current_fsuid()) && gid_eq(current_gid(), current_fsgid());
}

/*
 * ptrace_may_access is not exported: opening /proc/PID/mem for writing
 * runs the kernel's ptrace-attach check of the caller against the task
 * (credentials, dumpable, and the LSMs: Yama's ptrace_scope among them).
 * 0, -ESRCH when the task has no address space (exited, or a kernel
 * thread) or was reaped, -EPERM when the check refuses.
 */
int bs_task_memory_access(struct task_struct *task)
{
	char path[32];
	pid_t pid = task_tgid_vnr(task);
	struct file *file;

	if (!pid)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	file = filp_open(path, O_RDWR, 0);
	if (IS_ERR(file))
		return PTR_ERR(file) == -ESRCH || PTR_ERR(file) == -ENOENT ? -ESRCH : -EPERM;
	filp_close(file, NULL);
	/*
	 * The number named this task while the file was opened only if it
	 * still does now: a pid, once released, never comes back to its task.
	 */
	return task_tgid_vnr(task) == pid ? 0 : -ESRCH;
}

int bs_task_write_memory(struct task_struct *task, uint64_t address, const void *source, size_t size)
{
	int written = access_process_vm(task, address, (void *)source, size, FOLL_WRITE);

	return written == (int)size ? 0 : -EFAULT;
}

struct bs_remote_call {
	struct work_struct work;
	struct mm_struct *mm;
	void *context;
	struct completion done;
};

static void bs_remote_call_work(struct work_struct *work)
{
	struct bs_remote_call *call = container_of(work, struct bs_remote_call, work);

	kthread_use_mm(call->mm);
	bs_swift_remote_call(call->context);
	kthread_unuse_mm(call->mm);
	complete(&call->done);
}

void bs_run_in_address_space(struct mm_struct *mm, void *context)
{
	struct bs_remote_call call = { .mm = mm, .context = context };

	INIT_WORK_ONSTACK(&call.work, bs_remote_call_work);
	init_completion(&call.done);
	queue_work(system_unbound_wq, &call.work);
	/* Not killable: the worker uses this stack frame until it is done. */
	wait_for_completion(&call.done);
	destroy_work_on_stack(&call.work);
}
