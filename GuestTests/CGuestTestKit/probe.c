/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fault-tolerant copy of the end-to-end tests, which needs thread-local
 * state and a signal handler; everything else is inline in the header.
 */
#include "CGuestTestKit.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>

static __thread sigjmp_buf probe_jump;
static __thread volatile sig_atomic_t probe_active;

static void probe_handler(int signal_number)
{
	if (probe_active) {
		probe_active = 0;
		siglongjmp(probe_jump, signal_number);
	}
	/* Not during a copy: die of the signal as without a handler. */
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_handler = SIG_DFL;
	sigaction(signal_number, &action, NULL);
	raise(signal_number);
}

int batch_syscalls_probe_install(void)
{
	struct sigaction action;
	memset(&action, 0, sizeof(action));
	action.sa_handler = probe_handler;
	action.sa_flags = SA_NODEFER;
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGBUS, &action, NULL) != 0)
		return -1;
	return sigaction(SIGSEGV, &action, NULL);
}

int batch_syscalls_probe_copy(void *destination, const void *source, size_t length)
{
	int signal_number = sigsetjmp(probe_jump, 1);
	if (signal_number != 0)
		return signal_number;
	probe_active = 1;
	memcpy(destination, source, length);
	probe_active = 0;
	return 0;
}
