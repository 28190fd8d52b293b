/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the glue's files share among themselves (not Swift's: see
 * kmod/include/batch_syscalls_glue.h for the boundary).
 */
#ifndef BS_OVERLAY_FS_H
#define BS_OVERLAY_FS_H

#include <linux/fs.h>
#include <linux/pagemap.h>

/* The file operations of overlay inodes (overlay.c). */
extern const struct file_operations bs_overlay_fops;

/*
 * A new inode of the module's filesystem with `fops`, i_private `object`
 * (released with the inode: see bs_overlay_evict_inode) and i_size `size`,
 * holding the module until the VFS frees it; or an ERR_PTR.
 */
struct inode *bs_module_inode_create(void *object, int64_t size, const struct file_operations *fops);
/* A new open file of such an inode, read-only, holding the module and the inode; or an ERR_PTR. */
struct file *bs_module_file_open(struct inode *inode, const char *name, const struct file_operations *fops);

struct iov_iter;
/*
 * Reads `pages` pages of `layer` from `first_page` on with one direct I/O
 * into `iter`: whether it read them all (io.c; see there when it refuses).
 */
bool bs_read_direct_iter(struct file *layer, uint64_t first_page, uint64_t pages, struct iov_iter *iter);

/* The layer's folio that holds page `index`, uptodate and referenced (io.c). */
struct folio *bs_layer_folio(struct file *layer, pgoff_t index);
/*
 * Page `index` of `layer` read with a direct I/O into a page of its own,
 * locked and referenced, in no page cache; NULL where direct I/O does not
 * apply (see bs_layer_read_direct) or memory is short (io.c).
 */
struct page *bs_layer_page_direct(struct file *layer, pgoff_t index);

#endif /* BS_OVERLAY_FS_H */
