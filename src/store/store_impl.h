/* store_impl.h: what a storage backend provides (private to src/store/). Each
 * backend's handle types start with the common header struct, like sqlite3_vfs
 * subclasses, and store.c dispatches through the ops table. */
#ifndef TINHSO_STORE_IMPL_H
#define TINHSO_STORE_IMPL_H

#include <stdatomic.h>

#include "base/buf.h"
#include "store/store.h"

struct store_ops {
	void (*close)(struct store *s);
	int (*read)(struct store *s, store_fn fn, void *ctx, struct err *e);
	int (*write)(struct store *s, store_fn fn, void *ctx, struct err *e);
	int (*exec)(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct err *e);
	/* runs a parameterless script of several statements (migrations) */
	int (*exec_script)(struct store_tx *tx, const char *sql, struct err *e);
	int (*query)(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs,
		     struct store_q **q, struct err *e);
	int (*step)(struct store_q *q, struct err *e);
	void (*done)(struct store_q *q);
	bool (*isnull)(struct store_q *q, int col);
	int64_t (*get_int)(struct store_q *q, int col);
	const char *(*text)(struct store_q *q, int col);
	int (*textlen)(struct store_q *q, int col);
	int (*ping)(struct store *s, struct err *e);
	int (*backup)(struct store *s, const char *path, struct err *e);
};

struct store {
	const struct store_ops *ops;
	enum store_kind kind;
	atomic_uint_fast64_t errors, commits, batched, checkpoints;
};

enum { STORE_MAX_HOOKS = 4 };

struct store_tx {
	struct store *s;
	bool write;
	int nhooks;
	struct {
		store_fn fn;
		void *ctx;
	} hooks[STORE_MAX_HOOKS]; /* store_before_commit() */
};

/* Runs the hooks registered with store_before_commit(), in order; the first
 * error stops them and fails the transaction. */
int store_tx_run_hooks(struct store_tx *tx, struct err *e);

struct store_q {
	struct store *s;
};

int store_sqlite_open(struct store **out, const char *path, const struct store_options *opt, struct err *e);
int store_pg_open(struct store **out, const char *url, const struct store_options *opt, struct err *e);

/* Expands the migration macros ({{id}}, {{seq}}) for a backend into b. */
void store_expand_sql(struct buf *b, const char *sql, enum store_kind kind);

#endif
