/* sqlite_vfs.h: the SQLite VFS of the embedded backend (sqlite_vfs.c): the
 * default one, except that a commit's WAL frames are written with one system
 * call. Internal to src/store/. */
#ifndef TINHSO_STORE_SQLITE_VFS_H
#define TINHSO_STORE_SQLITE_VFS_H

#define SQ_VFS_NAME "tinhso"

/* The VFS name to give sqlite3_open_v2, registered on the first call; NULL
 * (SQLite's default VFS) when it could not be registered. */
const char *sq_vfs(void);

#endif
