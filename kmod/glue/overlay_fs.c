// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The module's pseudo filesystem: one inode per overlay, whose page cache
 * the Swift code fills from the layer files. A mapping of such a file is
 * an ordinary file mapping, so the kernel's own fault path, fault-around,
 * copy-on-write, reverse map, reclaim, migration, fork and munmap apply.
 *
 * Lifetime: the filesystem is mounted for as long as the module is loaded.
 * Each overlay inode holds a reference on the module from its creation to
 * its free_inode, the last call the VFS makes for an inode (from an RCU
 * callback, after eviction and destroy_inode): so the module cannot go
 * while the VFS may still call it or read its operation tables for any
 * overlay, and the module's exit waits for those callbacks (rcu_barrier).
 *
 * A lower stack's inode holds no module reference: only overlays (which
 * hold the module), requests (in the device's ioctl) and fill jobs (which
 * the exit flushes first) reference it. So a lower stack that nothing uses
 * any more may stay, unused, for the next restore of its chain (see
 * bs_overlay_drop_inode) without keeping the module loaded: the unmount at
 * the module's exit evicts it.
 */
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/iversion.h>
#include <linux/migrate.h>
#include <linux/moduleparam.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/rcupdate.h>
#include <linux/shmem_fs.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "batch_syscalls_glue.h"
#include "compat.h"
#include "overlay_fs.h"

#define BS_OVERLAYFS_MAGIC 0x62737973 /* "bsys" */

static struct vfsmount *bs_mount;

/* An inode's last reference is gone: it releases what it owns (an overlay, or an overlay). */
static void bs_overlay_evict_inode(struct inode *inode)
{
	void *object = inode->i_private;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (object) {
		inode->i_private = NULL;
		if (inode->i_fop == &bs_overlay_fops)
			bs_swift_overlay_release(object);
		else
			bs_swift_lower_release(object);
	}
}

static const struct address_space_operations bs_lower_aops;

static void bs_overlay_free_inode(struct inode *inode)
{
	/*
	 * An overlay's inode holds the module; a lower stack's does not (nor
	 * the root). By its page cache's operations: i_fop shares a union with
	 * free_inode, which destroy_inode has set by now.
	 */
	bool holds_module = S_ISREG(inode->i_mode) && inode->i_data.a_ops != &bs_lower_aops;

	free_inode_nonrcu(inode);
	if (holds_module)
		module_put(THIS_MODULE);
}

static const struct file_operations bs_lower_fops;

/*
 * Unused lower stacks kept for the next restore of their chain. A restore
 * that ends takes its lower stack's page cache with it unless something
 * keeps the inode: then the next restore of the same chain (a VM restored
 * again from its template) reads every layer from the disk again. So the
 * last reference of a lower stack that requests may share leaves its inode
 * alive, unused (i_count 0; alloc_anon_inode's I_DIRTY keeps it off the
 * inode LRU, so only this sweep, the shrinker below and the unmount evict
 * it), and a sweep
 * every bs_lower_keep_seconds evicts those it found unused the time before
 * (bs_swift_lower_sweep). Its page cache is reclaimable as any file's.
 * bs_sweep_lock orders arming the sweep against the module's exit.
 */
static unsigned int bs_lower_keep_seconds = 30;
static bool bs_sweep_enabled;
static DEFINE_SPINLOCK(bs_sweep_lock);
static void bs_lower_sweep(struct work_struct *work);
static DECLARE_DELAYED_WORK(bs_sweep_work, bs_lower_sweep);

/* Arms the sweep `delay` jiffies from now, unless it is armed (`rearm`: even then). */
static void bs_lower_sweep_arm(unsigned long delay, bool rearm)
{
	spin_lock(&bs_sweep_lock);
	if (bs_sweep_enabled) {
		if (rearm)
			mod_delayed_work(system_unbound_wq, &bs_sweep_work, delay);
		else
			queue_delayed_work(system_unbound_wq, &bs_sweep_work, delay);
	}
	spin_unlock(&bs_sweep_lock);
}

static void bs_lower_sweep(struct work_struct *work)
{
	unsigned int seconds = READ_ONCE(bs_lower_keep_seconds);

	if (bs_swift_lower_sweep(seconds == 0))
		bs_lower_sweep_arm(seconds * HZ, false);
}

/* Writing the parameter moves the next sweep one new period away; 0 sweeps at once, evicting every unused one. */
static int bs_lower_keep_seconds_set(const char *value, const struct kernel_param *param)
{
	int error = param_set_uint_minmax(value, param, 0, 24 * 60 * 60);

	if (!error)
		bs_lower_sweep_arm(READ_ONCE(bs_lower_keep_seconds) * HZ, true);
	return error;
}

static const struct kernel_param_ops bs_lower_keep_seconds_ops = {
	.set = bs_lower_keep_seconds_set,
	.get = param_get_uint,
};
module_param_cb(lower_keep_seconds, &bs_lower_keep_seconds_ops, &bs_lower_keep_seconds, 0644);
MODULE_PARM_DESC(lower_keep_seconds,
		 "Seconds an unused lower stack stays, with its page cache, for the next restore of its chain "
		 "(evicted after one to two such periods; 0: not kept)");

/*
 * The inode's last reference is gone (under its i_lock): an overlay's goes
 * at once; a lower stack's stays if it may serve the next restore.
 */
static int bs_overlay_drop_inode(struct inode *inode)
{
	unsigned int seconds = READ_ONCE(bs_lower_keep_seconds);
	bool keep = false;

	if (inode->i_fop == &bs_lower_fops && inode->i_private && seconds) {
		spin_lock(&bs_sweep_lock);
		keep = bs_sweep_enabled && bs_swift_lower_keeps_unused(inode->i_private);
		if (keep)
			queue_delayed_work(system_unbound_wq, &bs_sweep_work, seconds * HZ);
		spin_unlock(&bs_sweep_lock);
	}
	return !keep;
}

/*
 * Memory pressure evicts unused lower stacks too, as it does unused inodes
 * (and drop_caches' slab shrink with them): their segment tables are not
 * reclaimable otherwise. Eviction truncates a page cache and releases
 * files: only where reclaim may enter filesystems.
 */
static struct shrinker *bs_lower_shrinker;

static unsigned long bs_lower_shrink_count(struct shrinker *shrinker, struct shrink_control *control)
{
	unsigned long unused = bs_swift_lower_unused_count();

	return unused ? unused : SHRINK_EMPTY;
}

static unsigned long bs_lower_shrink_scan(struct shrinker *shrinker, struct shrink_control *control)
{
	int64_t evicted;

	if (!(control->gfp_mask & __GFP_FS))
		return SHRINK_STOP;
	evicted = bs_swift_lower_shrink(control->nr_to_scan);
	return evicted < 0 ? SHRINK_STOP : evicted;
}

int bs_unused_lowers_start(void)
{
	bs_lower_shrinker = bs_shrinker_create("batch_syscalls-lowers", bs_lower_shrink_count, bs_lower_shrink_scan);
	if (!bs_lower_shrinker)
		return -ENOMEM;
	spin_lock(&bs_sweep_lock);
	bs_sweep_enabled = true;
	spin_unlock(&bs_sweep_lock);
	return 0;
}

void bs_unused_lowers_stop(void)
{
	spin_lock(&bs_sweep_lock);
	bs_sweep_enabled = false;
	spin_unlock(&bs_sweep_lock);
	/* The sweep and the shrinker run module code; from here nothing arms the sweep. */
	cancel_delayed_work_sync(&bs_sweep_work);
	bs_shrinker_destroy(bs_lower_shrinker);
}

static const struct super_operations bs_overlay_super_ops = {
	.statfs = simple_statfs,
	.drop_inode = bs_overlay_drop_inode,
	.evict_inode = bs_overlay_evict_inode,
	.free_inode = bs_overlay_free_inode,
};

static int bs_overlay_init_fs_context(struct fs_context *fc)
{
	struct pseudo_fs_context *ctx = init_pseudo(fc, BS_OVERLAYFS_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->ops = &bs_overlay_super_ops;
	return 0;
}

/* No owner: the mount lasts as long as the module; inodes hold the module. */
static struct file_system_type bs_overlay_fs_type = {
	.name = "batch_syscalls",
	.init_fs_context = bs_overlay_init_fs_context,
	.kill_sb = kill_anon_super,
};

static int bs_lower_read_folio(struct file *file, struct folio *folio)
{
	void *overlay = folio->mapping->host->i_private;

	if (!overlay) {
		folio_unlock(folio);
		return -EIO;
	}
	return bs_swift_lower_read_folio(overlay, folio, folio->index);
}

/* Folios left in the request (no overlay) are unlocked by the caller. */
static void bs_lower_readahead(struct readahead_control *rac)
{
	void *overlay = rac->mapping->host->i_private;

	if (overlay)
		bs_swift_lower_readahead(overlay, rac);
}

static const struct address_space_operations bs_lower_aops = {
	.read_folio = bs_lower_read_folio,
	.readahead = bs_lower_readahead,
	/* The page cache is never written: private writes copy the page. */
	.dirty_folio = noop_dirty_folio,
	/* Clean, movable pages: compaction may move them. */
	.migrate_folio = filemap_migrate_folio,
	/* Memory failure on an overlay page: drop it from the page cache. */
	BS_AOPS_ERROR_REMOVE,
};

/* A lower stack's inode is never opened: overlays map its page cache (overlay.c). */
static const struct file_operations bs_lower_fops = {
	.owner = THIS_MODULE,
};

int bs_overlay_fs_mount(void)
{
	bs_mount = kern_mount(&bs_overlay_fs_type);
	if (IS_ERR(bs_mount))
		return PTR_ERR(bs_mount);
	/*
	 * 7.x marks every pseudo filesystem noexec (init_pseudo), so an
	 * overlay over an executable mapping could not be mapped at all.
	 * Whether an overlay may be executed is its layers' to say instead:
	 * bs_overlay_mmap refuses PROT_EXEC where a layer's mount forbids it.
	 */
	bs_mount->mnt_sb->s_iflags &= ~SB_I_NOEXEC;
	return 0;
}

void bs_overlay_fs_unmount(void)
{
	kern_unmount(bs_mount);
	/* The last free_inode callbacks run module code: wait for them. */
	rcu_barrier();
}

struct inode *bs_module_inode_create(void *object, int64_t size, const struct file_operations *fops)
{
	struct inode *inode = alloc_anon_inode(bs_mount->mnt_sb);

	if (IS_ERR(inode))
		return inode;
	/* An overlay's: dropped by bs_overlay_free_inode, whatever happens from here. */
	if (fops == &bs_overlay_fops)
		__module_get(THIS_MODULE);
	inode->i_mode = S_IFREG | 0400;
	/* Listed on the superblock (new_inode does this, alloc_anon_inode not), so
	 * that drop_caches drops an overlay's clean, unmapped pages like any file's. */
	inode_sb_list_add(inode);
	inode->i_size = size;
	inode->i_fop = fops;
	/* From here the inode owns the object: eviction releases it. */
	inode->i_private = object;
	return inode;
}

struct inode *bs_lower_inode_create(void *overlay, int64_t size, bool large_folios, int *error)
{
	struct inode *inode = bs_module_inode_create(overlay, size, &bs_lower_fops);

	if (IS_ERR(inode)) {
		*error = PTR_ERR(inode);
		return NULL;
	}
	inode->i_mapping->a_ops = &bs_lower_aops;
	/* Readahead then makes folios up to the PMD size, as for ext4 (fill.c fills them). */
	if (large_folios)
		mapping_set_large_folios(inode->i_mapping);
	return inode;
}

struct file *bs_module_file_open(struct inode *inode, const char *name, const struct file_operations *fops)
{
	struct file *file;

	/* The file's dentry takes this reference; alloc_file_pseudo does not
	 * take the module reference that __fput drops. */
	ihold(inode);
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(inode, bs_mount, name, O_RDONLY | O_LARGEFILE, fops);
	if (IS_ERR(file)) {
		module_put(THIS_MODULE);
		iput(inode);
	}
	return file;
}

void bs_inode_put(struct inode *inode)
{
	iput(inode);
}

struct file *bs_file_get(struct file *file)
{
	return get_file(file);
}

void bs_file_put(struct file *file)
{
	fput(file);
}

void bs_file_describe(struct file *file, struct bs_file_info *info)
{
	struct inode *inode = file_inode(file);

	info->size = i_size_read(inode);
	info->readahead_pages = file->f_ra.ra_pages;
	info->regular = S_ISREG(inode->i_mode);
	info->open_for_reading = file->f_mode & FMODE_READ;
	info->page_cache = file->f_mapping->a_ops->read_folio || shmem_mapping(file->f_mapping);
	info->readable_regular = info->regular && info->open_for_reading && info->page_cache;
	info->overlay = file->f_op == &bs_overlay_fops ? inode->i_private : NULL;
	info->attachment = file->f_op == &bs_overlay_fops ? file->private_data : NULL;
	info->block_filesystem_magic = inode->i_sb->s_bdev ? inode->i_sb->s_magic : 0;
	info->large_folios = mapping_large_folio_support(file->f_mapping);
	/* path_noexec's test; it is not exported. */
	info->no_exec = (file->f_path.mnt->mnt_flags & MNT_NOEXEC) ||
			(file->f_path.mnt->mnt_sb->s_iflags & SB_I_NOEXEC);
}

void bs_file_stamp(struct file *file, struct bs_layer_stamp *stamp)
{
	struct inode *inode = file_inode(file);
	struct timespec64 ctime, mtime;

	ctime = bs_inode_ctime(inode);
	mtime = bs_inode_mtime(inode);
	stamp->size = i_size_read(inode);
	stamp->ctime_sec = ctime.tv_sec;
	stamp->ctime_nsec = ctime.tv_nsec;
	stamp->mtime_sec = mtime.tv_sec;
	stamp->mtime_nsec = mtime.tv_nsec;
	stamp->version = IS_I_VERSION(inode) ? inode_query_iversion(inode) : 0;
}

bool bs_file_has_writers(struct file *file)
{
	return atomic_read(&file_inode(file)->i_writecount) > 0;
}

bool bs_inode_grab(struct inode *inode)
{
	return igrab(inode) != NULL;
}

bool bs_inode_unused(struct inode *inode)
{
	return atomic_read(&inode->i_count) == 0;
}

struct inode *bs_file_inode(struct file *file)
{
	return file_inode(file);
}

uint64_t bs_inode_cached_pages(struct inode *inode)
{
	return inode->i_mapping->nrpages;
}
