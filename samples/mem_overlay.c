// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * mem_overlay: lay segments of an overlay file over a private mapping of a
 * base file with one ioctl on /dev/batch_syscalls (ABI v1, the seed's),
 * read the result, clean up, and see the module refuse bad requests.
 *
 * Written against include/uapi/batch_syscalls.h alone, as a program for
 * the seed module was:
 *
 *	gcc -Wall -Werror -I include/uapi -o mem_overlay samples/mem_overlay.c
 *	sudo ./mem_overlay [DIR]
 *
 * It writes two small files into DIR (default: the working directory),
 * checks every step and prints one line per step; it exits 0 when all
 * went as the ABI says, 1 otherwise, 77 when it cannot run (no module,
 * not root).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <batch_syscalls.h>

#define PAGES 64

static long page_size;
static int failures;

/* Every byte of page `page` of the base file is base_byte(page). */
static unsigned char base_byte(unsigned long page)
{
	return (unsigned char)(0x55 ^ page);
}

static unsigned char overlay_byte(unsigned long page)
{
	return (unsigned char)(0xaa ^ page);
}

static void report(int ok, const char *step)
{
	printf("%s: %s\n", ok ? "ok" : "FAILED", step);
	if (!ok)
		failures++;
}

/* A request that must fail with `expected` and change nothing. */
static void expect_errno(int fd, unsigned long cmd, void *arg, int expected,
			 const char *step)
{
	int ret = ioctl(fd, cmd, arg);

	if (ret == 0 || errno != expected)
		printf("  got %s\n", ret == 0 ? "success" : strerror(errno));
	report(ret == -1 && errno == expected, step);
}

static char *write_file(const char *dir, const char *name,
			unsigned char (*byte)(unsigned long))
{
	static char paths[2][4096];
	static int next;
	char *path = paths[next++ % 2];
	unsigned char *page = malloc(page_size);
	unsigned long p;
	int fd;

	snprintf(path, sizeof(paths[0]), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || !page) {
		perror(path);
		exit(1);
	}
	for (p = 0; p < PAGES; p++) {
		memset(page, byte(p), page_size);
		if (write(fd, page, page_size) != page_size) {
			perror(path);
			exit(1);
		}
	}
	free(page);
	close(fd);
	return path;
}

static unsigned char *map_file(const char *path, int flags)
{
	int fd = open(path, O_RDONLY);
	void *addr;

	if (fd < 0) {
		perror(path);
		exit(1);
	}
	addr = mmap(NULL, PAGES * page_size, PROT_READ | PROT_WRITE, flags, fd, 0);
	close(fd);	/* the mapping holds its own reference */
	if (addr == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return addr;
}

/* Whether every page of `base` shows the overlay in `segs`, else the base. */
static int shows(const unsigned char *base, const struct mem_overlay_segment_req *segs,
		 unsigned int nsegs)
{
	unsigned long p;
	unsigned int s;

	for (p = 0; p < PAGES; p++) {
		unsigned char want = base_byte(p);

		for (s = 0; s < nsegs; s++)
			if (p >= segs[s].start_pgoff && p <= segs[s].end_pgoff)
				want = overlay_byte(p);
		if (base[p * page_size] != want || base[(p + 1) * page_size - 1] != want) {
			printf("  page %lu shows 0x%02x, want 0x%02x\n", p, base[p * page_size], want);
			return 0;
		}
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	struct mem_overlay_segment_req segs[] = { { 0, 0 }, { 4, 6 }, { 20, 21 } };
	struct mem_overlay_segment_req backwards[] = { { 9, 2 } };
	struct mem_overlay_req req = { 0 };
	struct mem_overlay_req again;
	struct mem_overlay_cleanup_req cleanup = { 0 };
	char *base_path, *overlay_path;
	unsigned char *base, *overlay, *anon, *written;
	int fd;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open(BATCH_SYSCALLS_DEVICE_PATH, O_RDWR);
	if (fd < 0) {
		printf("SKIP: cannot open %s: %s\n", BATCH_SYSCALLS_DEVICE_PATH, strerror(errno));
		return 77;
	}
	base_path = write_file(dir, "mem_overlay_base.bin", base_byte);
	overlay_path = write_file(dir, "mem_overlay_overlay.bin", overlay_byte);
	base = map_file(base_path, MAP_PRIVATE);
	overlay = map_file(overlay_path, MAP_PRIVATE);

	/* Create: pages 0, 4-6 and 20-21 of the base mapping show the overlay file. */
	req.base_addr = (unsigned long)base;
	req.overlay_addr = (unsigned long)overlay;
	req.segments = segs;
	req.segments_size = sizeof(segs) / sizeof(segs[0]);
	report(ioctl(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &req) == 0, "create: one request, three segments");

	/* Fault: the first touch of each page reads the right file. */
	report(shows(base, segs, req.segments_size), "fault: each page shows the overlay in a segment, else the base");

	/* The same mapping again, while the first id is registered: EEXIST. */
	again = req;
	memset(again.id, 0, sizeof(again.id));
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, EEXIST, "create again on an overlaid mapping: EEXIST");

	/* Cleanup releases the id; the mapping keeps showing the overlay. */
	memcpy(cleanup.id, req.id, UUID_SIZE);
	report(ioctl(fd, IOCTL_MEM_OVERLAY_CLEANUP_CMD, &cleanup) == 0, "cleanup of the id");
	report(shows(base, segs, req.segments_size), "after cleanup the mapping still shows the overlay");
	expect_errno(fd, IOCTL_MEM_OVERLAY_CLEANUP_CMD, &cleanup, ENOENT, "cleanup of the same id again: ENOENT");

	/* The seed's error cases, each on a fresh, untouched mapping of the base. */
	munmap(base, PAGES * page_size);
	base = map_file(base_path, MAP_PRIVATE);
	req.base_addr = (unsigned long)base;

	anon = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	again = req;
	again.base_addr = (unsigned long)anon;
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, EINVAL, "base in an anonymous mapping: EINVAL");

	again = req;
	again.segments = backwards;
	again.segments_size = 1;
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, EINVAL, "a segment ending before it starts: EINVAL");

	again = req;
	again.segments_size = 0;
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, EINVAL, "no segments: EINVAL");

	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, NULL, EFAULT, "request pointer NULL: EFAULT");

	again = req;
	again.segments = NULL;
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, EFAULT, "segments pointer NULL: EFAULT");

	again = req;
	again.segments = calloc(MEM_OVERLAY_MAX_SEGMENTS + 1, sizeof(*segs));
	again.segments_size = MEM_OVERLAY_MAX_SEGMENTS + 1;
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, E2BIG, "MEM_OVERLAY_MAX_SEGMENTS + 1 segments: E2BIG");
	free(again.segments);

	expect_errno(fd, _IOWR(MAGIC, 3, unsigned long), &req, ENOTTY, "a command the module does not define: ENOTTY");

	/* A private write to the base first: replacing it would lose the write. */
	written = map_file(base_path, MAP_PRIVATE);
	written[3 * page_size] = 1;
	again = req;
	again.base_addr = (unsigned long)written;
	expect_errno(fd, IOCTL_MEM_OVERLAY_REQ_CMD, &again, EBUSY, "base already written privately: EBUSY");
	report(written[3 * page_size] == 1, "the private write is kept");

	/* After all that, the untouched base still shows the base file only. */
	report(shows(base, segs, 0), "the refused requests changed nothing");

	unlink(base_path);
	unlink(overlay_path);
	close(fd);
	printf("%s\n", failures ? "mem_overlay: FAILED" : "mem_overlay: all as the ABI says");
	return failures ? 1 : 0;
}
