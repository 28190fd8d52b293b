/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vmm_standin: a stand-in for a VMM's file memory backend (Firecracker's
 * File backend maps the snapshot MAP_PRIVATE | MAP_NORESERVE), that knows
 * nothing of the module. The guest suite's scenario attaches a snapshot
 * chain over its mapping by pidfd, as an orchestrator would.
 *
 *	vmm_standin SNAPSHOT FLAT DISCARD_FIRST DISCARD_PAGES
 *
 * SNAPSHOT is the base file; FLAT holds what the chain shows (the
 * flattened chain), of the same size. The program maps SNAPSHOT, reads
 * every page once (they are mapped clean when the attach comes), prints
 * "pid=PID address=0xADDR pages=N" and starts reader threads over guest
 * memory; the orchestrator attaches and writes a line on stdin. Then:
 *  - each reader saw, in every page it read, the base or the chain (told
 *    by the page's first eight bytes: a page is replaced whole), and once
 *    a page showed the chain no page showed the base after it;
 *  - every page equals FLAT;
 *  - a balloon discard (mmap MAP_FIXED | MAP_ANONYMOUS over DISCARD_PAGES
 *    pages from DISCARD_FIRST) reads zero there, the rest still FLAT.
 * It prints a line per check; exit status 0 when all held, 1 otherwise,
 * 2 on bad usage or a failed system call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define READERS 4

static unsigned char *guest;
static unsigned char *base_copy;
static unsigned char *flat_copy;
static size_t pages;
static atomic_int stop_readers;

struct reader {
	pthread_t thread;
	unsigned int seed;
	unsigned long reads;
	unsigned long torn;	/* pages of neither view */
	unsigned long back;	/* the base read after the chain was seen */
	int saw_base, saw_chain;
};

static uint64_t first_word(const unsigned char *page)
{
	uint64_t word;

	memcpy(&word, page, sizeof(word));
	return word;
}

static void *read_pages(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load_explicit(&stop_readers, memory_order_relaxed)) {
		size_t page = rand_r(&r->seed) % pages;
		uint64_t seen = *(volatile uint64_t *)(guest + page * PAGE);
		uint64_t before = first_word(base_copy + page * PAGE);
		uint64_t after = first_word(flat_copy + page * PAGE);

		r->reads++;
		if (before == after)
			continue;
		if (seen == after) {
			r->saw_chain = 1;
		} else if (seen == before) {
			r->saw_base = 1;
			if (r->saw_chain && r->back++ < 4)
				printf("FAIL: page %zu shows the base after the chain was seen\n", page);
		} else if (r->torn++ < 4) {
			printf("FAIL: page %zu shows neither the base nor the chain\n", page);
		}
	}
	return NULL;
}

static int load(const char *path, size_t size, unsigned char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t done = 0;

	*out = malloc(size);
	if (fd < 0 || !*out) {
		perror(path);
		return -1;
	}
	while (done < size) {
		ssize_t n = pread(fd, *out + done, size - done, (off_t)done);

		if (n <= 0) {
			perror(path);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	return 0;
}

/* Pages of [first, last) that differ from what they should show (FLAT, or
 * zero), the first few printed. */
static unsigned long check(size_t first, size_t last, const unsigned char *want, const char *what)
{
	static const unsigned char zero[PAGE];
	unsigned long bad = 0;

	for (size_t page = first; page < last; page++) {
		const unsigned char *expected = want ? want + page * PAGE : zero;

		if (memcmp(guest + page * PAGE, expected, PAGE) == 0)
			continue;
		if (bad++ < 8)
			printf("FAIL: page %zu is not %s\n", page, what);
	}
	return bad;
}

int main(int argc, char **argv)
{
	struct reader readers[READERS];
	unsigned long discard_first, discard_pages, bad, reads = 0, torn = 0, back = 0;
	int fd, failed = 0, raced = 0;
	struct stat st;
	char line[64];

	if (argc != 5) {
		fprintf(stderr, "usage: %s SNAPSHOT FLAT DISCARD_FIRST DISCARD_PAGES\n", argv[0]);
		return 2;
	}
	discard_first = strtoul(argv[3], NULL, 0);
	discard_pages = strtoul(argv[4], NULL, 0);
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < PAGE) {
		perror(argv[1]);
		return 2;
	}
	pages = (size_t)st.st_size / PAGE;
	if (discard_first + discard_pages > pages) {
		fprintf(stderr, "the discarded range is past the snapshot's %zu pages\n", pages);
		return 2;
	}
	/* The File backend's mapping: private, no reservation, read-write. */
	guest = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	close(fd);
	if (guest == MAP_FAILED) {
		perror("mmap the snapshot");
		return 2;
	}
	if (load(argv[1], pages * PAGE, &base_copy) || load(argv[2], pages * PAGE, &flat_copy))
		return 2;
	bad = check(0, pages, base_copy, "the base before the attach");
	printf("before the attach: %s (%zu pages read)\n", bad ? "FAIL" : "every page shows the base", pages);
	failed |= bad != 0;

	for (int i = 0; i < READERS; i++) {
		readers[i] = (struct reader){ .seed = 77u + (unsigned int)i };
		if (pthread_create(&readers[i].thread, NULL, read_pages, &readers[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 2;
		}
	}
	printf("pid=%d address=%p pages=%zu\n", getpid(), (void *)guest, pages);
	fflush(stdout);
	/* The orchestrator attaches, then says so (or closes stdin). */
	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 * 1000 }, NULL);
	atomic_store(&stop_readers, 1);
	for (int i = 0; i < READERS; i++) {
		pthread_join(readers[i].thread, NULL);
		reads += readers[i].reads;
		torn += readers[i].torn;
		back += readers[i].back;
		raced += readers[i].saw_base && readers[i].saw_chain;
	}
	printf("readers: %lu reads, %lu of neither view, %lu of the base after the chain; %d of %d saw both views\n",
	       reads, torn, back, raced, READERS);
	failed |= torn != 0 || back != 0;

	bad = check(0, pages, flat_copy, "the chain after the attach");
	printf("after the attach: %s\n", bad ? "FAIL" : "every page shows the chain");
	failed |= bad != 0;

	/* A balloon takes pages back: anonymous memory over them. */
	if (discard_pages) {
		void *hole = mmap(guest + discard_first * PAGE, discard_pages * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		if (hole == MAP_FAILED) {
			perror("mmap MAP_FIXED | MAP_ANONYMOUS");
			return 2;
		}
		bad = check(discard_first, discard_first + discard_pages, NULL, "zero after the discard");
		bad += check(0, discard_first, flat_copy, "the chain beside the discard");
		bad += check(discard_first + discard_pages, pages, flat_copy, "the chain beside the discard");
		printf("after discarding pages %lu-%lu: %s\n", discard_first, discard_first + discard_pages - 1,
		       bad ? "FAIL" : "they read zero, the rest the chain");
		failed |= bad != 0;
	}
	printf("%s\n", failed ? "FAIL" : "PASS");
	return failed;
}
