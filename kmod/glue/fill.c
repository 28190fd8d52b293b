// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling a lower inode's page cache (the composed lower layers of
 * overlays), a batch of locked folios at a time, as FillPlan in Swift
 * decides: each run of pages one layer serves is read with one direct I/O
 * straight into the folios (an iterator over the page cache's own xarray,
 * so a run may span any number of folios, large or small), or, where
 * direct I/O does not apply, copied from the layer's page cache.
 *
 * Readahead hands its batches to the module's fill workers and returns, so
 * the reads of the next batches overlap the touching of this one, as a
 * plain file's asynchronous readahead does; a fault waits for its own
 * folio only. A queued batch holds the inode and its folios. The workers
 * run module code, so the module's exit destroys their workqueue (which
 * waits for every one of them to return) before the module can go.
 */
#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "batch_syscalls_glue.h"
#include "compat.h"
#include "overlay_fs.h"

static struct workqueue_struct *bs_fill_workqueue;

int bs_fill_workers_start(void)
{
	/* Reclaim may wait on a folio a fill has locked: a rescuer keeps them going. */
	bs_fill_workqueue = alloc_workqueue("batch_syscalls_fill", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	return bs_fill_workqueue ? 0 : -ENOMEM;
}

void bs_fill_workers_flush(void)
{
	flush_workqueue(bs_fill_workqueue);
}

void bs_fill_workers_stop(void)
{
	/* Waits for every queued and running fill: they run module code. */
	destroy_workqueue(bs_fill_workqueue);
}

uint32_t bs_fill_batch_take(struct readahead_control *rac, struct bs_fill_batch *batch)
{
	struct folio *folio;

	batch->count = 0;
	batch->pages = 0;
	batch->failed = 0;
	while (batch->count < BS_FILL_BATCH_FOLIOS && batch->pages < BS_FILL_BATCH_PAGES &&
	       (folio = readahead_folio(rac))) {
		/*
		 * The batch starts at its first folio: readahead_index() names
		 * the last folio taken until the next one is, so it is not the
		 * start of a later batch. Locked folios keep their index.
		 */
		if (!batch->count)
			batch->first_page = folio->index;
		batch->folios[batch->count++] = folio;
		batch->pages += folio_nr_pages(folio);
	}
	return batch->count;
}

void bs_fill_batch_of_folio(struct folio *folio, struct bs_fill_batch *batch)
{
	batch->first_page = folio->index;
	batch->pages = folio_nr_pages(folio);
	batch->count = 1;
	batch->failed = 0;
	batch->folios[0] = folio;
}

/* The folio of `batch` that holds page `page`, and its index in the batch. */
static struct folio *bs_batch_folio(struct bs_fill_batch *batch, uint64_t page, uint32_t *index)
{
	uint32_t i;

	for (i = 0; i < batch->count; i++) {
		struct folio *folio = batch->folios[i];

		if (page >= folio->index && page < folio->index + folio_nr_pages(folio)) {
			*index = i;
			return folio;
		}
	}
	return NULL;
}

/* Where direct reads put the pages of a piece that another layer serves:
 * written concurrently, never read. Module memory is vmalloc'ed. */
static char bs_scratch[PAGE_SIZE] __aligned(PAGE_SIZE);

bool bs_fill_read_direct(struct file *layer, struct bs_fill_batch *batch, uint64_t first_page, uint64_t pages,
			 const uint64_t *served)
{
	struct address_space *mapping = batch->folios[0]->mapping;
	size_t bytes = (size_t)pages << PAGE_SHIFT;
	struct bio_vec *vectors;
	struct iov_iter iter;
	uint64_t i;
	bool read;

	if (!served) {
		/* Every page the layer's: the batch's own folios in that page cache. */
		iov_iter_xarray(&iter, ITER_DEST, &mapping->i_pages, (loff_t)first_page << PAGE_SHIFT, bytes);
		return bs_read_direct_iter(layer, first_page, pages, &iter);
	}
	vectors = kmalloc_array(pages, sizeof(*vectors), GFP_NOFS | __GFP_NOWARN);
	if (!vectors)
		return false;
	for (i = 0; i < pages; i++) {
		uint64_t page = first_page + i;
		uint32_t index;
		struct folio *folio = served[i / 64] & (1ULL << (i % 64)) ? bs_batch_folio(batch, page, &index) : NULL;

		bvec_set_page(&vectors[i], folio ? folio_page(folio, page - folio->index) : vmalloc_to_page(bs_scratch),
			      PAGE_SIZE, 0);
	}
	iov_iter_bvec(&iter, ITER_DEST, vectors, pages, bytes);
	read = bs_read_direct_iter(layer, first_page, pages, &iter);
	kfree(vectors);
	return read;
}

/*
 * Copies page `page` of `layer` into its place in `folio` (locked), the way
 * a fault on the layer's own mapping reads it. A page reaching past the
 * layer's end is zeroed from there, as any file's last page; a page wholly
 * past it is zeroed in a large folio (whose other pages another layer, or
 * the same one before its end, serves) and left unfilled in a single-page
 * folio (a fault on it then raises SIGBUS, as past any file's end).
 */
static bool bs_fill_copy_page(struct file *layer, loff_t layer_end, struct folio *folio, uint64_t page)
{
	loff_t position = (loff_t)page << PAGE_SHIFT;
	size_t offset = (size_t)(page - folio->index) << PAGE_SHIFT;
	struct folio *source = NULL;
	size_t bytes = 0;
	char *destination;

	if (position < layer_end) {
		source = bs_layer_folio(layer, page);
		if (IS_ERR(source))
			return false;
		bytes = min_t(loff_t, PAGE_SIZE, layer_end - position);
	} else if (folio_nr_pages(folio) == 1) {
		return false;
	}
	destination = kmap_local_folio(folio, offset);
	if (source)
		bs_memcpy_from_folio(destination, source, offset_in_folio(source, position), bytes);
	memset(destination + bytes, 0, PAGE_SIZE - bytes);
	kunmap_local(destination);
	if (source)
		folio_put(source);
	return true;
}

uint64_t bs_fill_copy(struct file *layer, struct bs_fill_batch *batch, uint64_t first_page, uint64_t pages)
{
	struct address_space *mapping = layer->f_mapping;
	loff_t layer_end = i_size_read(mapping->host);
	uint64_t page, filled = 0;

	filemap_invalidate_lock_shared(mapping);
	for (page = first_page; page < first_page + pages; page++) {
		uint32_t index;
		struct folio *folio = bs_batch_folio(batch, page, &index);

		if (!folio)
			continue;
		if (bs_fill_copy_page(layer, layer_end, folio, page))
			filled++;
		else
			batch->failed |= 1ULL << index;
	}
	filemap_invalidate_unlock_shared(mapping);
	return filled;
}

void bs_fill_finish(struct bs_fill_batch *batch)
{
	uint32_t i;

	for (i = 0; i < batch->count; i++) {
		struct folio *folio = batch->folios[i];

		/* Not uptodate: a fault on it calls read_folio, which reports the error. */
		if (!(batch->failed & (1ULL << i)))
			folio_mark_uptodate(folio);
		folio_unlock(folio);
	}
	batch->count = 0;
}

struct bs_fill_work {
	struct work_struct work;
	struct inode *inode;
	void *lower;
	struct bs_fill_batch batch;
};

static void bs_fill_work_run(struct work_struct *work)
{
	struct bs_fill_work *fill = container_of(work, struct bs_fill_work, work);
	struct folio *folios[BS_FILL_BATCH_FOLIOS];
	uint32_t count = fill->batch.count, i;

	memcpy(folios, fill->batch.folios, count * sizeof(folios[0]));
	bs_swift_lower_fill(fill->lower, &fill->batch);
	for (i = 0; i < count; i++)
		folio_put(folios[i]);
	iput(fill->inode);
	kfree(fill);
}

bool bs_fill_queue(void *lower, struct bs_fill_batch *batch)
{
	struct inode *inode = batch->folios[0]->mapping->host;
	struct bs_fill_work *fill;
	uint32_t i;

	fill = kmalloc(sizeof(*fill), GFP_NOFS | __GFP_NOWARN);
	if (!fill)
		return false;
	/* Readahead runs with the inode referenced: it stays alive. */
	ihold(inode);
	fill->inode = inode;
	fill->lower = lower;
	fill->batch = *batch;
	for (i = 0; i < batch->count; i++)
		folio_get(batch->folios[i]);
	INIT_WORK(&fill->work, bs_fill_work_run);
	queue_work(bs_fill_workqueue, &fill->work);
	batch->count = 0;
	return true;
}
