// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling the overlay's page cache from a layer file.
 *
 * A layer is read the way a fault on the layer's own mapping reads it:
 * readahead into its page cache, then each page copied from there, under
 * the layer's invalidate_lock. No filesystem read lock (i_rwsem, XFS's
 * iolock) is taken, so a process may write to a layer from the overlaid
 * mapping, as it may from a mapping of the layer itself.
 */
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/types.h>

#include "batch_syscalls_glue.h"

/* The layer's folio that holds page `index`, uptodate and referenced. */
static struct folio *bs_layer_folio(struct file *layer, pgoff_t index)
{
	struct address_space *mapping = layer->f_mapping;

	if (shmem_mapping(mapping)) /* shmem reads (or swaps in) without a read_folio */
		return shmem_read_folio_gfp(mapping, index, mapping_gfp_mask(mapping));
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
		memcpy_from_folio(destination, source, offset_in_folio(source, position), bytes);
		memset(destination + bytes, 0, size - bytes);
		kunmap_local(destination);
		folio_put(source);
		folio_mark_uptodate(folio);
	}
	folio_unlock(folio);
	return !IS_ERR_OR_NULL(source);
}

void bs_layer_prefetch(struct file *layer, uint64_t first_page, uint64_t pages)
{
	struct address_space *mapping = layer->f_mapping;
	uint64_t end = DIV_ROUND_UP(i_size_read(mapping->host), PAGE_SIZE);
	DEFINE_READAHEAD(ractl, layer, &layer->f_ra, mapping, first_page);

	if (mapping->a_ops->read_folio && first_page < end)
		page_cache_ra_unbounded(&ractl, min(pages, end - first_page), 0);
}

uint64_t bs_readahead_fill(struct readahead_control *rac, struct file *layer, uint64_t pages)
{
	struct address_space *mapping = layer->f_mapping;
	loff_t layer_end = i_size_read(mapping->host);
	struct folio *folio;
	uint64_t filled = 0;

	filemap_invalidate_lock_shared(mapping);
	while (pages && (folio = readahead_folio(rac))) {
		pages -= min_t(uint64_t, pages, folio_nr_pages(folio));
		filled += bs_fill_from_layer(folio, layer, layer_end);
	}
	filemap_invalidate_unlock_shared(mapping);
	return filled;
}

int bs_folio_fill(struct folio *folio, struct file *layer)
{
	struct address_space *mapping = layer->f_mapping;
	bool filled;

	filemap_invalidate_lock_shared(mapping);
	filled = bs_fill_from_layer(folio, layer, i_size_read(mapping->host));
	filemap_invalidate_unlock_shared(mapping);
	return filled ? 0 : -EIO;
}
