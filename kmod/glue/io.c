// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reading a layer file, two ways (fill.c fills a lower inode's page cache
 * with them; overlay.c reads an own layer's page for a fault's copy).
 *
 * Direct: pages of a layer on a block device that are not in its page
 * cache are read with one direct I/O straight into the memory that needs
 * them. No copy, and no second cached copy of the page in the layer. The
 * I/O is IOCB_NOWAIT: where it would wait for a filesystem lock it fails,
 * and the copy below takes over.
 *
 * Copy: the way a fault on the layer's own mapping reads it: readahead
 * into its page cache, then each page copied from there, under the layer's
 * invalidate_lock. No filesystem read lock (i_rwsem, XFS's iolock) is
 * taken, so a process may write to a layer from the overlaid mapping, as
 * it may from a mapping of the layer itself.
 */
#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/types.h>

#include "batch_syscalls_glue.h"
#include "compat.h"
#include "overlay_fs.h"

/*
 * Reads `pages` pages of `layer` from `first_page` on with one direct I/O
 * into `iter`; whether it read them all. Refused (false, nothing read)
 * where direct I/O does not apply: no block device or no direct I/O, a
 * range reaching past the layer's end (the read comes up short), a range
 * any page of which is in the layer's page cache (it may be newer than the
 * disk, and a copy is cheaper), or an I/O that would wait for a lock.
 */
bool bs_read_direct_iter(struct file *layer, uint64_t first_page, uint64_t pages, struct iov_iter *iter)
{
	struct address_space *mapping = layer->f_mapping;
	struct inode *inode = mapping->host;
	loff_t position = (loff_t)first_page << PAGE_SHIFT;
	size_t bytes = (size_t)pages << PAGE_SHIFT;
	struct kiocb kiocb;
	ssize_t read;

	if (!pages || !inode->i_sb->s_bdev ||
	    !(layer->f_mode & FMODE_CAN_ODIRECT) || !(layer->f_mode & FMODE_NOWAIT) ||
	    filemap_range_has_page(mapping, position, position + bytes - 1))
		return false;
	init_sync_kiocb(&kiocb, layer);
	kiocb.ki_pos = position;
	kiocb.ki_flags |= IOCB_DIRECT | IOCB_NOWAIT;

	filemap_invalidate_lock_shared(mapping);
	read = vfs_iocb_iter_read(layer, &kiocb, iter);
	filemap_invalidate_unlock_shared(mapping);
	return read == (ssize_t)bytes;
}

bool bs_layer_pages_direct(struct file *layer, uint64_t first, uint32_t count, struct page **pages)
{
	struct bio_vec vectors[BS_OWN_RUN_PAGES];
	struct iov_iter iter;
	uint32_t allocated;

	if (count == 0 || count > BS_OWN_RUN_PAGES)
		return false;
	for (allocated = 0; allocated < count; allocated++) {
		struct folio *folio = folio_alloc(GFP_HIGHUSER, 0);

		if (!folio)
			goto release;
		pages[allocated] = folio_page(folio, 0);
		bvec_set_page(&vectors[allocated], pages[allocated], PAGE_SIZE, 0);
	}
	iov_iter_bvec(&iter, ITER_DEST, vectors, count, (size_t)count << PAGE_SHIFT);
	if (bs_read_direct_iter(layer, first, count, &iter))
		return true;
release:
	while (allocated > 0)
		put_page(pages[--allocated]);
	return false;
}

struct page *bs_layer_page_direct(struct file *layer, pgoff_t index)
{
	struct page *page;

	if (!bs_layer_pages_direct(layer, index, 1, &page))
		return NULL;
	/* Nobody else sees it yet: the lock is taken at once. */
	lock_page(page);
	return page;
}

bool bs_file_caches_page(struct file *file, uint64_t index)
{
	loff_t position = (loff_t)index << PAGE_SHIFT;

	return filemap_range_has_page(file->f_mapping, position, position + PAGE_SIZE - 1);
}

/* The layer's folio that holds page `index`, uptodate and referenced. */
struct folio *bs_layer_folio(struct file *layer, pgoff_t index)
{
	struct address_space *mapping = layer->f_mapping;

	if (shmem_mapping(mapping)) /* shmem reads (or swaps in) without a read_folio */
		return bs_shmem_read_folio(mapping, index, mapping_gfp_mask(mapping));
	return read_cache_folio(mapping, index, NULL, layer);
}

/*
 * Starts reading pages `first_page ..< first_page + pages` of `file`'s page
 * cache without waiting for the reads, up to the file's end, in reads of
 * one chunk each. Exactly those pages and no readahead marker among them,
 * as fadvise(WILLNEED) reads: a marker would make the fault that reaches it
 * start reading the pages after the range, and on 6.1 retry (counted as a
 * major fault). Folios of the mapping's smallest order, as there. Pages
 * already cached are skipped. The file goes with the
 * request: some filesystems' readahead needs it (FUSE's).
 */
void bs_file_prefetch(struct file *file, uint64_t first_page, uint64_t pages)
{
	const unsigned long chunk = BS_PREFETCH_CHUNK_PAGES;
	struct address_space *mapping = file->f_mapping;
	uint64_t end = DIV_ROUND_UP(i_size_read(mapping->host), PAGE_SIZE);
	/* Not the file's: a prefetch must not move its readers' window. */
	struct file_ra_state ra = { 0 };
	uint64_t index;

	if (!mapping->a_ops->read_folio && !mapping->a_ops->readahead)
		return;
	if (first_page >= end)
		return;
	end = min(end, first_page + pages);
	for (index = first_page; index < end; index += chunk) {
		DEFINE_READAHEAD(ractl, file, &ra, mapping, index);

		bs_page_cache_read_exactly(&ractl, min_t(uint64_t, chunk, end - index));
		if (fatal_signal_pending(current))
			return;
	}
}
