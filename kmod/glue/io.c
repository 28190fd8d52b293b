// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling the overlay's page cache from a layer file: one read through the
 * layer's own read_iter (its page cache and readahead; any filesystem,
 * FUSE included) into the overlay's folios.
 */
#include <linux/bvec.h>
#include <linux/fadvise.h>
#include <linux/fs.h>
#include <linux/pagemap.h>
#include <linux/types.h>
#include <linux/uio.h>

#include "batch_syscalls_glue.h"

/* Folios per read: bounds the bio_vec array on the stack (256 bytes). */
#define BS_FILL_BATCH 16

/*
 * Reads `count` folios, consecutive in the file, from `layer` and ends the
 * read of each: uptodate if the read covered it, or if it reached the
 * layer's end inside it (the rest of the folio is zeroed, as for any file
 * page at EOF). Anything else (an error, a short read before EOF, a folio
 * wholly past EOF) leaves the folio not uptodate. Returns folios filled.
 */
static unsigned int bs_fill_folios(struct folio **folios, unsigned int count,
				   struct file *layer)
{
	struct bio_vec vectors[BS_FILL_BATCH];
	loff_t start = folio_pos(folios[0]), position = start;
	loff_t layer_end = i_size_read(file_inode(layer));
	loff_t read_end;
	struct iov_iter iter;
	size_t total = 0;
	unsigned int i, filled = 0;
	ssize_t result;

	for (i = 0; i < count; i++) {
		bvec_set_folio(&vectors[i], folios[i], folio_size(folios[i]), 0);
		total += folio_size(folios[i]);
	}
	iov_iter_bvec(&iter, ITER_DEST, vectors, count, total);
	result = vfs_iter_read(layer, &iter, &position, 0);
	read_end = start + (result > 0 ? result : 0);

	for (i = 0; i < count; i++) {
		struct folio *folio = folios[i];
		loff_t folio_start = folio_pos(folio);
		loff_t folio_end = folio_start + folio_size(folio);
		bool ok = read_end >= folio_end ||
			  (read_end > folio_start && read_end >= layer_end);

		if (ok && read_end < folio_end)
			folio_zero_segment(folio, read_end - folio_start, folio_size(folio));
		filled += ok;
		if (ok)
			folio_mark_uptodate(folio);
		folio_unlock(folio);
	}
	return filled;
}

uint64_t bs_readahead_fill(struct readahead_control *rac, struct file *layer, uint64_t pages)
{
	struct folio *folios[BS_FILL_BATCH];
	uint64_t filled = 0;

	while (pages) {
		unsigned int count = 0;

		while (count < BS_FILL_BATCH && pages) {
			struct folio *folio = readahead_folio(rac);

			if (!folio)
				break;
			folios[count++] = folio;
			pages -= min_t(uint64_t, pages, folio_nr_pages(folio));
		}
		if (!count)
			break;
		filled += bs_fill_folios(folios, count, layer);
	}
	return filled;
}

void bs_layer_prefetch(struct file *layer, uint64_t first_page, uint64_t pages)
{
	vfs_fadvise(layer, first_page << PAGE_SHIFT, pages << PAGE_SHIFT, POSIX_FADV_WILLNEED);
}

int bs_folio_fill(struct folio *folio, struct file *layer)
{
	return bs_fill_folios(&folio, 1, layer) ? 0 : -EIO;
}
