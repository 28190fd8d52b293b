// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling the overlay's page cache from a layer file, two ways.
 *
 * Direct: a span of a layer on a block device whose pages are not in its
 * page cache is read with one direct I/O straight into the overlay's
 * folios (pages of the span that another layer serves land in a scratch
 * page). No copy, and no second cached copy of the page in the layer.
 * The I/O is IOCB_NOWAIT: where it would wait for a filesystem lock it
 * fails, and the copy below takes over.
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
#include <linux/shmem_fs.h>
#include <linux/types.h>

#include "batch_syscalls_glue.h"
#include "compat.h"
#include "overlay_fs.h"

/* Where direct reads put the pages of a span that another layer serves:
 * written concurrently, never read. Module memory is vmalloc'ed. */
static char bs_scratch[PAGE_SIZE] __aligned(PAGE_SIZE);

/*
 * Reads `pages` pages of `layer` from `first_page` on with one direct I/O
 * into `vectors` (one page each); whether it read them all. Refused (false,
 * nothing read) where direct I/O does not apply: see bs_layer_read_direct.
 */
static bool bs_read_direct(struct file *layer, uint64_t first_page, uint32_t pages, struct bio_vec *vectors)
{
	struct address_space *mapping = layer->f_mapping;
	struct inode *inode = mapping->host;
	loff_t position = (loff_t)first_page << PAGE_SHIFT;
	size_t bytes = (size_t)pages << PAGE_SHIFT;
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t read;

	/* Past the layer's end the read comes up short: the copy takes over. */
	if (!pages || !inode->i_sb->s_bdev ||
	    !(layer->f_mode & FMODE_CAN_ODIRECT) || !(layer->f_mode & FMODE_NOWAIT) ||
	    filemap_range_has_page(mapping, position, position + bytes - 1))
		return false;
	iov_iter_bvec(&iter, ITER_DEST, vectors, pages, bytes);
	init_sync_kiocb(&kiocb, layer);
	kiocb.ki_pos = position;
	kiocb.ki_flags |= IOCB_DIRECT | IOCB_NOWAIT;

	filemap_invalidate_lock_shared(mapping);
	read = vfs_iocb_iter_read(layer, &kiocb, &iter);
	filemap_invalidate_unlock_shared(mapping);
	return read == (ssize_t)bytes;
}

bool bs_layer_read_direct(struct file *layer, uint64_t first_page, uint32_t pages,
			  struct folio **folios, uint64_t served)
{
	struct bio_vec vectors[BS_FILL_BATCH_PAGES];
	uint32_t i;

	if (pages > BS_FILL_BATCH_PAGES)
		return false;
	for (i = 0; i < pages; i++)
		bvec_set_page(&vectors[i], served & (1ULL << i) ? folio_page(folios[i], 0) :
			      vmalloc_to_page(bs_scratch), PAGE_SIZE, 0);
	if (!bs_read_direct(layer, first_page, pages, vectors))
		return false;
	for (i = 0; i < pages; i++) {
		if (served & (1ULL << i)) {
			folio_mark_uptodate(folios[i]);
			folio_unlock(folios[i]);
		}
	}
	return true;
}

struct page *bs_layer_page_direct(struct file *layer, pgoff_t index)
{
	struct folio *folio = folio_alloc(GFP_HIGHUSER, 0);
	struct bio_vec vector;

	if (!folio)
		return NULL;
	bvec_set_page(&vector, folio_page(folio, 0), PAGE_SIZE, 0);
	if (!bs_read_direct(layer, index, 1, &vector)) {
		folio_put(folio);
		return NULL;
	}
	/* Nobody else sees it yet: the lock is taken at once. */
	folio_lock(folio);
	return folio_page(folio, 0);
}

uint32_t bs_readahead_take(struct readahead_control *rac, struct folio **folios, uint32_t most,
			   uint64_t *first_page)
{
	uint32_t count = 0;

	while (count < most && (folios[count] = readahead_folio(rac)))
		count++;
	/*
	 * The batch starts at its first folio. readahead_index() is not it
	 * after an earlier batch: it moves past a folio only when the next
	 * one is taken, so it still names the last folio of that batch, and
	 * every batch after the first of a request was filled one page off.
	 * Only requests of more than one batch show it: 7.3 gives virtio-blk
	 * 8 MiB of readahead (6.1 and 6.12: 128 KiB), and the overlay's window
	 * is twice its largest layer's. The folios are locked in the page
	 * cache, so their index is stable.
	 */
	*first_page = count ? folios[0]->index : readahead_index(rac);
	return count;
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
 * Copies page `folio->index` of `layer` into `folio` (the overlay's,
 * locked), ends its read and unlocks it. A page that reaches past the
 * layer's end is zeroed from there on, as any file page at EOF; a page
 * wholly past it is not filled (a fault on it raises SIGBUS).
 */
static bool bs_fill_from_layer(struct folio *folio, struct file *layer, loff_t layer_end)
{
	loff_t position = folio_pos(folio);
	size_t size = folio_size(folio), bytes;
	struct folio *source = NULL;
	char *destination;

	if (position < layer_end)
		source = bs_layer_folio(layer, folio->index);
	if (!IS_ERR_OR_NULL(source)) {
		bytes = min_t(loff_t, size, layer_end - position);
		destination = kmap_local_folio(folio, 0);
		bs_memcpy_from_folio(destination, source, offset_in_folio(source, position), bytes);
		memset(destination + bytes, 0, size - bytes);
		kunmap_local(destination);
		folio_put(source);
		folio_mark_uptodate(folio);
	}
	folio_unlock(folio);
	return !IS_ERR_OR_NULL(source);
}

/*
 * Starts reading pages `first_page ..< first_page + pages` of `mapping`
 * into its page cache without waiting for the reads, as a sequential
 * stream's readahead does (large folios where the mapping allows them),
 * up to the file's end. A readahead state of its own, whose window is one
 * chunk, so that each call reads the chunk asked for: page_cache_sync_ra
 * takes the locks readahead needs on every kernel (6.15 made the callers
 * of page_cache_ra_unbounded hold the invalidate lock themselves).
 */
void bs_mapping_prefetch(struct address_space *mapping, uint64_t first_page, uint64_t pages)
{
	const unsigned long chunk = BS_PREFETCH_CHUNK_PAGES;
	uint64_t end = DIV_ROUND_UP(i_size_read(mapping->host), PAGE_SIZE);
	struct file_ra_state ra = { .ra_pages = chunk };
	uint64_t index;

	if (!mapping->a_ops->read_folio && !mapping->a_ops->readahead)
		return;
	if (first_page >= end)
		return;
	end = min(end, first_page + pages);
	for (index = first_page; index < end; index += chunk) {
		DEFINE_READAHEAD(ractl, NULL, &ra, mapping, index);

		/* A sequential miss: the window starts at `index`. */
		ra.prev_pos = index ? (loff_t)(index - 1) << PAGE_SHIFT : -1;
		page_cache_sync_ra(&ractl, min_t(uint64_t, chunk, end - index));
		if (fatal_signal_pending(current))
			return;
	}
}

void bs_layer_prefetch(struct file *layer, uint64_t first_page, uint64_t pages)
{
	bs_mapping_prefetch(layer->f_mapping, first_page, pages);
}

uint64_t bs_folios_fill(struct file *layer, struct folio **folios, uint64_t count)
{
	struct address_space *mapping = layer->f_mapping;
	loff_t layer_end = i_size_read(mapping->host);
	uint64_t filled = 0, i;

	filemap_invalidate_lock_shared(mapping);
	for (i = 0; i < count; i++)
		filled += bs_fill_from_layer(folios[i], layer, layer_end);
	filemap_invalidate_unlock_shared(mapping);
	return filled;
}
