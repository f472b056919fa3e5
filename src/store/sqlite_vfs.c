/* sqlite_vfs.c: a thin SQLite VFS over the default one that writes a
 * commit's WAL frames with one system call instead of two per page.
 *
 * SQLite appends each frame to the WAL as two writes, its 24-byte header and
 * then the page (wal.c: walWriteOneFrame), so a group commit touching 28 pages
 * costs 56 pwrite calls on the writer thread. Here the writes of that exact
 * shape (a frame header, then the page right after it) are collected in a
 * buffer, which goes to the file in one write when the frame whose header
 * marks the end of a commit (its "database size after commit" field is not
 * zero) is complete. Anything else flushes the buffer first and passes
 * through: any other write (the WAL header, a page rewritten in place), a
 * read, sync, size, truncate, file control or close (a WAL is never locked). SQLite publishes a
 * commit's frames to other connections (the wal-index header) only after
 * writing its commit frame, so no connection can look for a frame that is
 * still in the buffer, and a crash can lose only frames of a commit that had
 * not completed, which recovery ignores anyway. Other files pass straight
 * through. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_vfs.h"

enum { WAL_FRAME_HDR = 24, VF_CAP = 512 * 1024 };

struct vf {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, right after this struct */
	bool wal;
	/* WAL files: frames not yet written, from file offset off */
	unsigned char *buf;
	size_t len;
	sqlite3_int64 off;
	bool page_next; /* the last write was a frame header: its page comes next */
	bool commit;	/* ... and that frame ends a commit */
};

static sqlite3_vfs vf_vfs;
static sqlite3_vfs *vf_orig;

/* The unix VFS writes at most 128 KiB - 1 bytes per call (its seekAndWrite
 * masks the length with 0x1ffff and reports SQLITE_FULL when that leaves
 * nothing), so a longer buffer goes out in pieces of that size. */
enum { VF_CHUNK = 0x1ffff };

static int vf_flush(struct vf *f)
{
	f->page_next = false;
	int rc = SQLITE_OK;
	for (size_t done = 0; done < f->len && rc == SQLITE_OK;) {
		size_t n = f->len - done < VF_CHUNK ? f->len - done : VF_CHUNK;
		rc = f->real->pMethods->xWrite(f->real, f->buf + done, (int)n, f->off + (sqlite3_int64)done);
		done += n;
	}
	f->len = 0;
	return rc;
}

static int vf_close(sqlite3_file *file)
{
	struct vf *f = (struct vf *)file;
	int rc = vf_flush(f);
	int rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int vf_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
	struct vf *f = (struct vf *)file;
	int rc = vf_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

static bool vf_append(struct vf *f, const void *data, int amt, sqlite3_int64 off)
{
	if (f->len && off != f->off + (sqlite3_int64)f->len)
		return false;
	if (f->len + (size_t)amt > VF_CAP)
		return false;
	if (!f->len)
		f->off = off;
	memcpy(f->buf + f->len, data, (size_t)amt);
	f->len += (size_t)amt;
	return true;
}

static int vf_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	struct vf *f = (struct vf *)file;
	if (f->wal) {
		if (!f->page_next && amt == WAL_FRAME_HDR) {
			/* a frame header: bytes 4..7, big-endian, are the database size
			 * after the commit this frame ends, 0 when it ends none */
			const unsigned char *h = data;
			bool commit = (h[4] | h[5] | h[6] | h[7]) != 0;
			if (!vf_append(f, data, amt, off)) {
				int rc = vf_flush(f);
				if (rc != SQLITE_OK)
					return rc;
				vf_append(f, data, amt, off);
			}
			f->page_next = true;
			f->commit = commit;
			return SQLITE_OK;
		}
		if (f->page_next && amt > WAL_FRAME_HDR && vf_append(f, data, amt, off)) {
			f->page_next = false;
			return f->commit ? vf_flush(f) : SQLITE_OK;
		}
		/* anything else: what is buffered goes first, in order */
		int rc = vf_flush(f);
		if (rc != SQLITE_OK)
			return rc;
	}
	return f->real->pMethods->xWrite(f->real, data, amt, off);
}

static int vf_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct vf *f = (struct vf *)file;
	int rc = vf_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int vf_sync(sqlite3_file *file, int flags)
{
	struct vf *f = (struct vf *)file;
	int rc = vf_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int vf_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct vf *f = (struct vf *)file;
	int rc = vf_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int vf_lock(sqlite3_file *file, int level)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xLock(f->real, level);
}

static int vf_unlock(sqlite3_file *file, int level)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xUnlock(f->real, level);
}

static int vf_reserved(sqlite3_file *file, int *out)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int vf_fcntl(sqlite3_file *file, int op, void *arg)
{
	struct vf *f = (struct vf *)file;
	int rc = vf_flush(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int vf_sector(sqlite3_file *file)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xSectorSize(f->real);
}

static int vf_devchar(sqlite3_file *file)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int vf_shm_map(sqlite3_file *file, int region, int size, int extend, void volatile **out)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

static int vf_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void vf_shm_barrier(sqlite3_file *file)
{
	struct vf *f = (struct vf *)file;
	f->real->pMethods->xShmBarrier(f->real);
}

static int vf_shm_unmap(sqlite3_file *file, int del)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xShmUnmap(f->real, del);
}

static int vf_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int vf_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct vf *f = (struct vf *)file;
	return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods vf_methods = {
    .iVersion = 3,
    .xClose = vf_close,
    .xRead = vf_read,
    .xWrite = vf_write,
    .xTruncate = vf_truncate,
    .xSync = vf_sync,
    .xFileSize = vf_size,
    .xLock = vf_lock,
    .xUnlock = vf_unlock,
    .xCheckReservedLock = vf_reserved,
    .xFileControl = vf_fcntl,
    .xSectorSize = vf_sector,
    .xDeviceCharacteristics = vf_devchar,
    .xShmMap = vf_shm_map,
    .xShmLock = vf_shm_lock,
    .xShmBarrier = vf_shm_barrier,
    .xShmUnmap = vf_shm_unmap,
    .xFetch = vf_fetch,
    .xUnfetch = vf_unfetch,
};

static int vf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	(void)vfs;
	struct vf *f = (struct vf *)file;
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)(f + 1);
	int rc = vf_orig->xOpen(vf_orig, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK)
		return rc; /* base.pMethods stays NULL: SQLite will not call xClose */
	if (f->real->pMethods->iVersion < 3) {
		/* not the unix VFS this was written for: no shim */
		f->real->pMethods->xClose(f->real);
		return SQLITE_CANTOPEN;
	}
	if (flags & SQLITE_OPEN_WAL) {
		f->buf = malloc(VF_CAP);
		if (!f->buf) {
			f->real->pMethods->xClose(f->real);
			return SQLITE_NOMEM;
		}
		f->wal = true;
	}
	f->base.pMethods = &vf_methods;
	return SQLITE_OK;
}

static void vf_init(void)
{
	vf_orig = sqlite3_vfs_find(NULL);
	if (!vf_orig)
		return;
	vf_vfs = *vf_orig; /* the unix VFS's other methods ignore their vfs argument */
	vf_vfs.pNext = NULL;
	vf_vfs.zName = SQ_VFS_NAME;
	vf_vfs.szOsFile = (int)sizeof(struct vf) + vf_orig->szOsFile;
	vf_vfs.xOpen = vf_open;
	if (sqlite3_vfs_register(&vf_vfs, 0) != SQLITE_OK)
		vf_orig = NULL;
}

const char *sq_vfs(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, vf_init);
	return vf_orig ? SQ_VFS_NAME : NULL;
}
