/* sqlite.c: the embedded SQLite backend.
 *
 * Reads: every thread gets its own connection (WAL lets readers run beside
 * the writer). Writes: store_write() queues the callback for the single writer
 * thread, which takes every queued callback, runs them in one transaction and
 * commits them together (group commit): one fsync for many writes, which is
 * what lets durable writes scale. A caller inside a fiber (base/fiber.h: the
 * HTTP write handlers) yields its thread meanwhile and is woken once its
 * group is durable.
 *
 * Durability (a write is acknowledged only once it is on disk): the writer
 * connection commits with synchronous=NORMAL, which puts the group's WAL
 * frames in the OS's page cache; the syncer thread then makes them durable
 * with one fdatasync() of the WAL for every group committed meanwhile, and
 * only then are the group's callers answered. The writer runs the next group
 * during that fdatasync instead of waiting for it. Recovery after a crash
 * replays the WAL up to its last complete commit, and the frames are written
 * in commit order, so a durable group's predecessors are durable too; a kill
 * -9 loses nothing the kernel already has. Readers never see a write before it
 * is durable: a read that may have seen a group still being synced waits for
 * that fdatasync before it returns (sq_read). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fiber.h"
#include "base/log.h"
#include "store/sqlite_vfs.h"
#include "store/store_impl.h"

enum { SQ_CACHE = 128, SQ_GROUP_MIN = 16 /* see sq_writer_main */ };

struct sq_conn {
	sqlite3 *db;
	struct {
		const char *key; /* the caller's SQL literal; identity is its address */
		sqlite3_stmt *st;
	} cache[SQ_CACHE];
	int ncache;
	int in_read;	      /* inside a store_read callback (readers) */
	struct sq_conn *next; /* registry of reader connections */
};

struct sq_job {
	store_fn fn;
	void *ctx;
	struct err *e;
	int rc;
	bool done;
	pthread_cond_t cv; /* its own: finishing a batch wakes its callers, not every waiter */
	struct sq_job *next;
	struct fiber *fiber; /* a caller in a fiber yields instead of waiting on cv */
	uint64_t seq;	     /* answered once the group of this number is durable */
};

struct sq_store {
	struct store base;
	char *path;
	struct store_options opt;
	pthread_key_t reader_key;
	pthread_mutex_t readers_mu;
	struct sq_conn *readers;

	struct sq_conn *writer;
	pthread_t writer_thread;
	pthread_mutex_t mu;
	pthread_cond_t work;
	struct sq_job *head, *tail;
	bool busy;  /* the writer connection is in use (by the writer thread or a caller) */
	int queued; /* jobs in the queue */
	bool stopping;

	/* durability (see the top of this file): groups are numbered as they commit */
	int wal_fd;			 /* the WAL file, for fdatasync */
	pthread_t sync_thread;
	pthread_cond_t sync_cv;
	uint64_t seq;			 /* the last group number given (by whoever holds busy) */
	atomic_uint_fast64_t committing; /* the last group whose COMMIT started */
	uint64_t committed;		 /* the last group whose COMMIT returned (under mu) */
	uint64_t syncing;		 /* the last group an fdatasync has started for (under mu) */
	atomic_uint_fast64_t durable;	 /* every group up to this one is on disk */
	struct sq_job *unsynced;	 /* callers waiting for a group to be durable (under mu) */
	bool sync_failed;		 /* an fdatasync failed: writes are refused until restart */
	bool sync_stop;

	/* checkpoints run on their own thread, so no commit waits for one */
	pthread_t ckpt_thread;
	pthread_cond_t ckpt_cv;
	int wal_pages;	 /* frames in the WAL after the last commit (under mu) */
	int ckpt_next;	 /* checkpoint when wal_pages reaches this (under mu) */
	bool ckpt_stop;
};

/* A checkpoint when the WAL holds SQ_CHECKPOINT_PAGES frames (SQLite's own
 * default), then every SQ_CHECKPOINT_STEP frames more while it cannot start
 * again: small steps keep each checkpoint's fsync of the database short, so
 * that the commits' fsyncs queued behind it do not stall. */
enum { SQ_CHECKPOINT_PAGES = 1000, SQ_CHECKPOINT_STEP = 500, SQ_WAL_MAX_PAGES = 262144, SQ_IDLE_MS = 30000 };

struct sq_tx {
	struct store_tx base;
	struct sq_conn *c;
};

struct sq_q {
	struct store_q base;
	sqlite3_stmt *st;
	bool owned; /* not from the cache: finalize on done */
};

static int sq_error(struct store *s, sqlite3 *db, int rc, struct err *e, const char *what)
{
	int prim = rc & 0xff;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	if (prim == SQLITE_CONSTRAINT) {
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return err_set(e, ERR_CONFLICT, "already exists (%s)", msg);
		return err_set(e, ERR_CONFLICT, "constraint failed (%s)", msg);
	}
	atomic_fetch_add(&s->errors, 1);
	log_error("sqlite %s: %s (%d)", what, msg, rc);
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_FULL || prim == SQLITE_IOERR ||
	    prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY || prim == SQLITE_NOTADB || prim == SQLITE_CORRUPT)
		return err_set(e, ERR_UNAVAILABLE, "database unavailable: %s", msg);
	return err_set(e, ERR_INTERNAL, "database error: %s", msg);
}

/* $N -> ?N outside of string literals and quoted identifiers. */
static void sq_rewrite(struct buf *b, const char *sql)
{
	char quote = 0;
	for (const char *p = sql; *p; p++) {
		char c = *p;
		if (quote) {
			if (c == quote)
				quote = 0;
		} else if (c == '\'' || c == '"') {
			quote = c;
		} else if (c == '$' && p[1] >= '0' && p[1] <= '9') {
			c = '?';
		}
		buf_putc(b, c);
	}
}

static int sq_prepare(struct store *s, struct sq_conn *c, const char *sql, sqlite3_stmt **st, bool *owned,
		      struct err *e)
{
	for (int i = 0; i < c->ncache; i++) {
		if (c->cache[i].key == sql) {
			if (!sqlite3_stmt_busy(c->cache[i].st)) {
				*st = c->cache[i].st;
				*owned = false;
				return 0;
			}
			break; /* in use by an outer query: prepare a private one */
		}
	}
	struct buf b = BUF_INIT;
	sq_rewrite(&b, sql);
	int rc = sqlite3_prepare_v3(c->db, b.ptr, (int)b.len, SQLITE_PREPARE_PERSISTENT, st, NULL);
	buf_free(&b);
	if (rc != SQLITE_OK)
		return sq_error(s, c->db, rc, e, "prepare");
	*owned = true;
	bool cached = false;
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].key == sql)
			cached = true;
	if (!cached && c->ncache < SQ_CACHE) {
		c->cache[c->ncache].key = sql;
		c->cache[c->ncache].st = *st;
		c->ncache++;
		*owned = false;
	}
	return 0;
}

static int sq_bind(struct store *s, struct sq_conn *c, sqlite3_stmt *st, const struct store_arg *args, int nargs,
		   struct err *e)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	for (int i = 0; i < nargs; i++) {
		int rc;
		switch (args[i].t) {
		case SA_INT_T: rc = sqlite3_bind_int64(st, i + 1, args[i].i); break;
		case SA_TEXT_T:
			rc = sqlite3_bind_text64(st, i + 1, args[i].s,
						 args[i].len < 0 ? strlen(args[i].s) : (sqlite3_uint64)args[i].len,
						 SQLITE_TRANSIENT, SQLITE_UTF8);
			break;
		default: rc = sqlite3_bind_null(st, i + 1);
		}
		if (rc != SQLITE_OK)
			return sq_error(s, c->db, rc, e, "bind");
	}
	return 0;
}

static struct sq_conn *sq_conn_open(struct sq_store *ss, bool reader, struct err *e)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(ss->path, &db, flags, sq_vfs());
	if (rc != SQLITE_OK) {
		err_set(e, ERR_UNAVAILABLE, "cannot open database '%s': %s", ss->path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, ss->opt.busy_timeout_ms);
	sqlite3_extended_result_codes(db, 1);
	const char *pragmas = reader ? "PRAGMA foreign_keys=ON; PRAGMA query_only=ON; PRAGMA temp_store=MEMORY;"
				     : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
				       "PRAGMA temp_store=MEMORY;";
	char *msg = NULL;
	rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		err_set(e, ERR_UNAVAILABLE, "cannot set up database '%s': %s", ss->path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	struct sq_conn *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->db = db;
	return c;
}

static void sq_conn_close(struct sq_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->ncache; i++)
		sqlite3_finalize(c->cache[i].st);
	sqlite3_close(c->db);
	free(c);
}

/* Runs a parameterless statement (the transaction verbs, on every request)
 * through the connection's statement cache rather than sqlite3_exec's parser. */
static int sq_run(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].key == sql && !sqlite3_stmt_busy(c->cache[i].st)) {
			st = c->cache[i].st;
			break;
		}
	bool owned = false;
	if (!st) {
		int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return rc;
		if (c->ncache < SQ_CACHE) {
			c->cache[c->ncache].key = sql;
			c->cache[c->ncache].st = st;
			c->ncache++;
		} else {
			owned = true;
		}
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else
		rc = sqlite3_extended_errcode(c->db);
	if (owned)
		sqlite3_finalize(st);
	else
		sqlite3_reset(st);
	return rc;
}

/* ---- statements ---- */

static int sq_exec(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct err *e)
{
	struct sq_conn *c = ((struct sq_tx *)tx)->c;
	sqlite3_stmt *st;
	bool owned;
	int rc = sq_prepare(tx->s, c, sql, &st, &owned, e);
	if (rc < 0)
		return rc;
	rc = sq_bind(tx->s, c, st, args, nargs, e);
	if (rc == 0) {
		int r;
		while ((r = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (r != SQLITE_DONE)
			rc = sq_error(tx->s, c->db, sqlite3_extended_errcode(c->db), e, "exec");
		else
			rc = sqlite3_changes(c->db);
	}
	if (owned)
		sqlite3_finalize(st);
	else
		sqlite3_reset(st);
	return rc;
}

static int sq_exec_script(struct store_tx *tx, const char *sql, struct err *e)
{
	struct sq_conn *c = ((struct sq_tx *)tx)->c;
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		err_set(e, ERR_INTERNAL, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return ERR_INTERNAL;
	}
	return 0;
}

static int sq_query(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs,
		    struct store_q **out, struct err *e)
{
	struct sq_conn *c = ((struct sq_tx *)tx)->c;
	sqlite3_stmt *st;
	bool owned;
	int rc = sq_prepare(tx->s, c, sql, &st, &owned, e);
	if (rc < 0)
		return rc;
	rc = sq_bind(tx->s, c, st, args, nargs, e);
	if (rc < 0) {
		if (owned)
			sqlite3_finalize(st);
		return rc;
	}
	struct sq_q *q = calloc(1, sizeof *q);
	if (!q)
		abort();
	q->base.s = tx->s;
	q->st = st;
	q->owned = owned;
	*out = &q->base;
	return 0;
}

static int sq_step(struct store_q *bq, struct err *e)
{
	struct sq_q *q = (struct sq_q *)bq;
	int rc = sqlite3_step(q->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	sqlite3 *db = sqlite3_db_handle(q->st);
	return sq_error(bq->s, db, sqlite3_extended_errcode(db), e, "step");
}

static void sq_done(struct store_q *bq)
{
	struct sq_q *q = (struct sq_q *)bq;
	if (q->owned)
		sqlite3_finalize(q->st);
	else
		sqlite3_reset(q->st);
	free(q);
}

static bool sq_isnull(struct store_q *q, int col)
{
	return sqlite3_column_type(((struct sq_q *)q)->st, col) == SQLITE_NULL;
}
static int64_t sq_int(struct store_q *q, int col) { return sqlite3_column_int64(((struct sq_q *)q)->st, col); }
static const char *sq_text(struct store_q *q, int col)
{
	const unsigned char *t = sqlite3_column_text(((struct sq_q *)q)->st, col);
	return t ? (const char *)t : "";
}
static int sq_textlen(struct store_q *q, int col)
{
	sqlite3_column_text(((struct sq_q *)q)->st, col);
	return sqlite3_column_bytes(((struct sq_q *)q)->st, col);
}

/* ---- durability ---- */

static const char sq_not_durable[] = "database unavailable: the write could not be made durable";
static const char sq_sync_failed[] = "database unavailable: a write could not be made durable (fdatasync "
				     "failed); restart tinhso";

/* Under mu: answers a caller whose wait is over; a fiber is put on *fibers,
 * to be woken once mu is released (its job lives on its stack). */
static void sq_release_locked(struct sq_job *j, struct sq_job **fibers)
{
	if (j->fiber) {
		j->next = *fibers;
		*fibers = j;
	} else {
		j->done = true; /* j may be gone once the lock is released */
		pthread_cond_signal(&j->cv);
	}
}

static void sq_wake(struct sq_job *fibers)
{
	while (fibers) {
		struct sq_job *next = fibers->next;
		fiber_wake(fibers->fiber);
		fibers = next;
	}
}

/* Under mu: the groups up to target are on disk (or, when failed, may not be:
 * their writers get an error). Releases every caller waiting for them. */
static struct sq_job *sq_durable_locked(struct sq_store *ss, uint64_t target, bool failed)
{
	if (failed)
		ss->sync_failed = true;
	if (target > atomic_load(&ss->durable))
		atomic_store(&ss->durable, target);
	uint64_t durable = atomic_load(&ss->durable);
	struct sq_job *fibers = NULL, **pp = &ss->unsynced;
	while (*pp) {
		struct sq_job *j = *pp;
		if (j->seq > durable) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		if (failed && j->fn && j->rc >= 0)
			j->rc = err_set(j->e, ERR_UNAVAILABLE, "%s", sq_not_durable);
		sq_release_locked(j, &fibers);
	}
	return fibers;
}

/* The WAL file, opened on the first sync (a commit has created it; it stays
 * the same file while a connection is open). -1 with errno when it cannot. */
static int sq_wal_fd(struct sq_store *ss)
{
	pthread_mutex_lock(&ss->mu);
	if (ss->wal_fd < 0) {
		struct buf wal = BUF_INIT;
		buf_printf(&wal, "%s-wal", ss->path);
		ss->wal_fd = open(wal.ptr, O_RDWR | O_CLOEXEC);
		buf_free(&wal);
	}
	int fd = ss->wal_fd;
	pthread_mutex_unlock(&ss->mu);
	return fd;
}

/* Makes every group up to target durable: one fdatasync of the WAL, which
 * covers all frames written before it started. Returns -1 when it failed
 * (the store then refuses writes: after a failed fsync the kernel may have
 * dropped the pages, so nothing more is acknowledged until a restart). */
static int sq_sync(struct sq_store *ss, uint64_t target)
{
	int rc = fdatasync(sq_wal_fd(ss));
	int err = errno;
	if (rc != 0)
		log_error("fdatasync of the WAL of %s: %s; writes are refused until tinhso is restarted", ss->path,
			  strerror(err));
	pthread_mutex_lock(&ss->mu);
	struct sq_job *fibers = sq_durable_locked(ss, target, rc != 0);
	pthread_cond_signal(&ss->work);
	pthread_mutex_unlock(&ss->mu);
	sq_wake(fibers);
	return rc;
}

static void *sq_syncer_main(void *arg)
{
	struct sq_store *ss = arg;
	pthread_mutex_lock(&ss->mu);
	for (;;) {
		uint64_t target = ss->committed;
		if (target > atomic_load(&ss->durable)) {
			ss->syncing = target;
			pthread_cond_signal(&ss->work); /* the writer may run the next group meanwhile */
			pthread_mutex_unlock(&ss->mu);
			sq_sync(ss, target);
			pthread_mutex_lock(&ss->mu);
		} else if (ss->sync_stop) {
			break;
		} else {
			pthread_cond_wait(&ss->sync_cv, &ss->mu);
		}
	}
	pthread_mutex_unlock(&ss->mu);
	return NULL;
}

/* Returns once every group whose commit had started is durable: a read that
 * ran until now may have seen it, and must not show what a crash could take
 * back. In a fiber it yields meanwhile. Costs two atomic loads when no group
 * is being synced. */
static void sq_wait_durable(struct sq_store *ss)
{
	uint64_t target = atomic_load(&ss->committing);
	if (atomic_load(&ss->durable) >= target)
		return;
	struct fiber *f = fiber_self();
	if (f && !fiber_pause_begin(f))
		f = NULL;
	struct sq_job w = {.cv = PTHREAD_COND_INITIALIZER, .fiber = f, .seq = target};
	pthread_mutex_lock(&ss->mu);
	if (atomic_load(&ss->durable) >= target) {
		pthread_mutex_unlock(&ss->mu);
		if (f) {
			fiber_wake(f);
			fiber_yield(f);
		}
		return;
	}
	w.next = ss->unsynced;
	ss->unsynced = &w;
	if (f) {
		pthread_mutex_unlock(&ss->mu);
		fiber_yield(f);
		return;
	}
	while (!w.done)
		pthread_cond_wait(&w.cv, &ss->mu);
	pthread_mutex_unlock(&ss->mu);
	pthread_cond_destroy(&w.cv);
}

/* ---- reads ---- */

static void sq_reader_release(void *arg)
{
	/* thread exit: the registry still owns it; store_close frees it */
	(void)arg;
}

static struct sq_conn *sq_reader(struct sq_store *ss, struct err *e)
{
	struct sq_conn *c = pthread_getspecific(ss->reader_key);
	if (c)
		return c;
	c = sq_conn_open(ss, true, e);
	if (!c)
		return NULL;
	pthread_mutex_lock(&ss->readers_mu);
	c->next = ss->readers;
	ss->readers = c;
	pthread_mutex_unlock(&ss->readers_mu);
	pthread_setspecific(ss->reader_key, c);
	return c;
}

static int sq_read(struct store *s, store_fn fn, void *ctx, struct err *e)
{
	struct sq_store *ss = (struct sq_store *)s;
	struct sq_conn *c = sq_reader(ss, e);
	if (!c) {
		atomic_fetch_add(&s->errors, 1);
		return e->code;
	}
	int rc = sq_run(c, "BEGIN");
	if (rc != SQLITE_OK)
		return sq_error(s, c->db, rc, e, "begin read");
	struct sq_tx tx = {{.s = s}, c};
	c->in_read++;
	rc = fn(&tx.base, ctx, e);
	c->in_read--;
	sq_run(c, rc < 0 ? "ROLLBACK" : "COMMIT");
	if (!c->in_read)
		sq_wait_durable(ss);
	return rc;
}

/* ---- writes: the group-committing writer ---- */

/* Runs the jobs in the open transaction. With savepoints a job's failure
 * undoes its own changes only. Returns how many succeeded; SQ_DEAD when SQLite
 * aborted the whole transaction (I/O error, disk full); SQ_RETRY when a job
 * failed without savepoints (the caller rolls back and runs them again). */
enum { SQ_DEAD = -1, SQ_RETRY = -2 };

static int sq_run_jobs(struct sq_conn *c, struct sq_tx *tx, struct sq_job *batch, bool savepoints)
{
	int ok = 0;
	for (struct sq_job *j = batch; j; j = j->next) {
		if (savepoints)
			sq_run(c, "SAVEPOINT job");
		j->rc = j->fn(&tx->base, j->ctx, j->e);
		if (sqlite3_get_autocommit(c->db))
			return SQ_DEAD;
		if (j->rc < 0 && !savepoints)
			return SQ_RETRY;
		if (j->rc < 0)
			sq_run(c, "ROLLBACK TO job");
		else
			ok++;
		if (savepoints)
			sq_run(c, "RELEASE job");
	}
	return ok;
}

/* One transaction for the group. It first runs the jobs without savepoints
 * (each would copy every page it touches): when all succeed, as they nearly
 * always do, that is the cheapest; when one fails, the transaction is rolled
 * back and the group runs again with a savepoint per job, so only the failed
 * job's changes are lost (callbacks may run more than once: see store.h). A
 * group of one needs no second run: its failure is the transaction's.
 * Returns the group's number once it reached COMMIT (its callers are answered
 * when that group is durable), 0 when it did not (they can be answered now). */
static uint64_t sq_batch(struct sq_store *ss, struct sq_job *batch)
{
	struct sq_conn *c = ss->writer;
	struct store *s = &ss->base;
	struct err e0 = {0};
	uint64_t seq = 0;
	int ok = SQ_RETRY;
	for (int pass = 0; ok == SQ_RETRY && pass < 2; pass++) {
		int rc = sq_run(c, "BEGIN IMMEDIATE");
		if (rc != SQLITE_OK) {
			sq_error(s, c->db, rc, &e0, "begin");
			break;
		}
		for (struct sq_job *j = batch; j; j = j->next) {
			j->rc = 0;
			if (pass)
				err_clear(j->e);
		}
		struct sq_tx tx = {{.s = s, .write = true}, c};
		ok = sq_run_jobs(c, &tx, batch, pass == 1);
		if (ok == SQ_RETRY) {
			sq_run(c, "ROLLBACK");
			if (!batch->next)
				return 0; /* a group of one: its error is the answer */
			continue;
		}
		if (ok == SQ_DEAD) {
			err_set(&e0, ERR_UNAVAILABLE, "database unavailable: transaction aborted");
			atomic_fetch_add(&s->errors, 1);
			break;
		}
		if (ok && store_tx_run_hooks(&tx.base, &e0) < 0) {
			/* the group's hook failed (the audit chain could not be signed): none commits */
			sq_run(c, "ROLLBACK");
			break;
		}
		seq = ++ss->seq;
		atomic_store(&ss->committing, seq); /* readers may see it from now on */
		rc = sq_run(c, "COMMIT");
		if (rc == SQLITE_OK) {
			atomic_fetch_add(&s->commits, 1);
			atomic_fetch_add(&s->batched, (uint64_t)ok);
			return seq;
		}
		sq_error(s, c->db, rc, &e0, "commit");
		sq_run(c, "ROLLBACK");
		break;
	}
	/* nothing committed: every job not failed on its own gets the reason */
	for (struct sq_job *j = batch; j; j = j->next)
		if (j->rc >= 0) {
			*j->e = e0;
			j->rc = e0.code;
		}
	return seq;
}

/* The checkpointer's PASSIVE checkpoints never finish while writes keep
 * coming (each copies the frames there were when it began, and more arrive
 * meanwhile), and only a finished one lets the WAL start again from its
 * beginning: under a long burst the WAL would grow by about 50 MiB a second
 * here, until the disk is full. So once it holds wal_max_pages frames (1 GiB),
 * the caller holding the writer connection (between two groups) runs a
 * RESTART checkpoint: it copies the frames the checkpointer has not, syncs the
 * database and waits for the readers to leave the WAL, so that the next commit
 * starts it again. Writes wait meanwhile (50 to 80 ms here), which is why the
 * bound is high: a province's load never reaches it, a bulk import does every
 * 20 s or so. The file itself is emptied once the writes pause (see
 * sq_checkpointer_main). */
static void sq_wal_bound(struct sq_store *ss)
{
	pthread_mutex_lock(&ss->mu);
	bool full = ss->wal_pages >= ss->opt.wal_max_pages;
	pthread_mutex_unlock(&ss->mu);
	if (!full)
		return;
	int rc = sqlite3_wal_checkpoint_v2(ss->writer->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warn("checkpoint (restart): %s", sqlite3_errmsg(ss->writer->db));
	atomic_fetch_add(&ss->base.checkpoints, 1);
	pthread_mutex_lock(&ss->mu);
	ss->wal_pages = 0; /* until the next commit's count */
	pthread_mutex_unlock(&ss->mu);
}

static void *sq_writer_main(void *arg)
{
	struct sq_store *ss = arg;
	pthread_mutex_lock(&ss->mu);
	for (;;) {
		/* one group runs while the previous one is being synced, not more: a
		 * group committed while an fdatasync runs waits for the next one
		 * anyway, and the writes that queue meanwhile make one group, not
		 * several small ones. And while an fdatasync runs, fewer than
		 * SQ_GROUP_MIN queued writes wait for it to end and for the writes
		 * its answers bring: every commit writes its own copies of the pages
		 * each group touches (about 28, 112 KiB here) and costs an fsync, so
		 * a few larger groups cost less CPU than many small ones. */
		while ((!ss->head && !ss->stopping) || ss->busy || ss->committed > ss->syncing ||
		       (ss->committed > atomic_load(&ss->durable) && ss->queued < SQ_GROUP_MIN && !ss->stopping))
			pthread_cond_wait(&ss->work, &ss->mu);
		if (!ss->head)
			break;
		ss->busy = true;
		/* take up to batch_max queued jobs */
		struct sq_job *batch = ss->head, *last = batch;
		int n = 1;
		while (last->next && n < ss->opt.batch_max) {
			last = last->next;
			n++;
		}
		ss->head = last->next;
		ss->queued -= n;
		if (!ss->head)
			ss->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&ss->mu);

		uint64_t seq = sq_batch(ss, batch);
		sq_wal_bound(ss);

		/* the callers wait for the syncer (or are answered now when nothing
		 * was committed); the writer goes on with the next group */
		struct sq_job *fibers = NULL;
		pthread_mutex_lock(&ss->mu);
		ss->busy = false;
		if (seq) {
			ss->committed = seq;
			pthread_cond_signal(&ss->sync_cv);
		}
		for (struct sq_job *j = batch; j;) {
			struct sq_job *next = j->next;
			j->seq = seq;
			if (seq > atomic_load(&ss->durable)) {
				j->next = ss->unsynced;
				ss->unsynced = j;
			} else {
				sq_release_locked(j, &fibers);
			}
			j = next;
		}
		if (fibers) {
			pthread_mutex_unlock(&ss->mu);
			sq_wake(fibers);
			pthread_mutex_lock(&ss->mu);
		}
	}
	pthread_mutex_unlock(&ss->mu);
	return NULL;
}

static int sq_write(struct store *s, store_fn fn, void *ctx, struct err *e)
{
	struct sq_store *ss = (struct sq_store *)s;
	/* in a fiber, yield to its thread while the writer works, unless this
	 * thread's reader is inside a read transaction (another fiber would use it) */
	struct fiber *f = fiber_self();
	if (f) {
		struct sq_conn *rd = pthread_getspecific(ss->reader_key);
		if ((rd && rd->in_read) || !fiber_pause_begin(f))
			f = NULL;
	}
	struct sq_job job = {fn, ctx, e, 0, false, PTHREAD_COND_INITIALIZER, NULL, f, 0};
	pthread_mutex_lock(&ss->mu);
	if (ss->stopping || ss->sync_failed) {
		pthread_mutex_unlock(&ss->mu);
		int rc = err_set(e, ERR_UNAVAILABLE, "%s", ss->stopping ? "database is closing" : sq_sync_failed);
		if (f) {
			fiber_wake(f);
			fiber_yield(f);
		}
		return rc;
	}
	if (!f && !ss->busy && !ss->head) {
		/* the writer is idle: commit on this thread, sparing the two thread
		 * hand-offs (a fiber queues: it must not hold its event thread) */
		ss->busy = true;
		pthread_mutex_unlock(&ss->mu);
		uint64_t seq = sq_batch(ss, &job);
		sq_wal_bound(ss);
		pthread_mutex_lock(&ss->mu);
		ss->busy = false;
		if (seq)
			ss->committed = ss->syncing = seq; /* synced just below */
		pthread_cond_signal(&ss->work); /* jobs queued meanwhile, or a closing writer */
		pthread_mutex_unlock(&ss->mu);
		/* and make it durable here too: one fdatasync, no hand-off */
		if (seq && sq_sync(ss, seq) != 0 && job.rc >= 0)
			job.rc = err_set(e, ERR_UNAVAILABLE, "%s", sq_not_durable);
		return job.rc;
	}
	if (ss->tail)
		ss->tail->next = &job;
	else
		ss->head = &job;
	ss->tail = &job;
	ss->queued++;
	pthread_cond_signal(&ss->work);
	if (f) {
		pthread_mutex_unlock(&ss->mu);
		fiber_yield(f);
		return job.rc;
	}
	while (!job.done)
		pthread_cond_wait(&job.cv, &ss->mu);
	pthread_mutex_unlock(&ss->mu);
	pthread_cond_destroy(&job.cv);
	return job.rc;
}

/* ---- lifecycle ---- */

static int sq_ping(struct store *s, struct err *e)
{
	struct sq_store *ss = (struct sq_store *)s;
	pthread_mutex_lock(&ss->mu);
	bool failed = ss->sync_failed;
	pthread_mutex_unlock(&ss->mu);
	if (failed)
		return err_set(e, ERR_UNAVAILABLE, "%s", sq_sync_failed);
	struct stat st;
	if (stat(ss->path, &st) != 0)
		return err_set(e, ERR_UNAVAILABLE, "database file '%s' is missing", ss->path);
	struct sq_conn *c = sq_reader(ss, e);
	if (!c)
		return e->code;
	int rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_error(s, c->db, rc, e, "ping");
	return 0;
}

static int fsync_path(const char *path, bool dir)
{
	int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int sq_backup(struct store *s, const char *path, struct err *e)
{
	struct sq_store *ss = (struct sq_store *)s;
	struct buf tmp = BUF_INIT;
	buf_printf(&tmp, "%s.tmp-%d", path, (int)getpid());
	unlink(tmp.ptr);
	sqlite3 *src = NULL, *dst = NULL;
	int rc = 0;
	if (sqlite3_open_v2(ss->path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = err_set(e, ERR_UNAVAILABLE, "cannot open database '%s'", ss->path);
		goto out;
	}
	sqlite3_busy_timeout(src, ss->opt.busy_timeout_ms);
	if (sqlite3_open_v2(tmp.ptr, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = err_set(e, ERR_UNAVAILABLE, "cannot create '%s': %s", tmp.ptr, sqlite3_errmsg(dst));
		goto out;
	}
	/* one step over all pages inside one read transaction: a consistent snapshot
	 * even while the server keeps writing */
	sqlite3_backup *bk = sqlite3_backup_init(dst, "main", src, "main");
	if (!bk) {
		rc = err_set(e, ERR_UNAVAILABLE, "backup failed: %s", sqlite3_errmsg(dst));
		goto out;
	}
	int r;
	while ((r = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY || r == SQLITE_LOCKED)
		sqlite3_sleep(50);
	sqlite3_backup_finish(bk);
	/* the copy may hold a group that a server is still syncing: make the WAL
	 * durable first, so that the copy is never ahead of the database */
	int wal = sq_wal_fd(ss); /* -1: no WAL, nothing to sync */
	if (wal >= 0)
		fdatasync(wal);
	if (r != SQLITE_DONE) {
		rc = err_set(e, ERR_UNAVAILABLE, "backup failed: %s", sqlite3_errstr(r));
		goto out;
	}
	/* a self-contained file: no WAL beside it */
	sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	sqlite3_stmt *st = NULL;
	const char *verdict = "";
	if (sqlite3_prepare_v2(dst, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		verdict = (const char *)sqlite3_column_text(st, 0);
	if (strcmp(verdict ? verdict : "", "ok") != 0) {
		rc = err_set(e, ERR_INTERNAL, "integrity_check of the copy failed: %s", verdict ? verdict : "?");
		sqlite3_finalize(st);
		goto out;
	}
	sqlite3_finalize(st);
	sqlite3_close(dst);
	dst = NULL;
	if (fsync_path(tmp.ptr, false) != 0 || rename(tmp.ptr, path) != 0) {
		rc = err_set(e, ERR_UNAVAILABLE, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	{
		struct buf dir = BUF_INIT;
		const char *slash = strrchr(path, '/');
		if (slash)
			buf_append(&dir, path, (size_t)(slash - path + (slash == path)));
		else
			buf_puts(&dir, ".");
		fsync_path(dir.ptr, true);
		buf_free(&dir);
	}
out:
	if (dst)
		sqlite3_close(dst);
	if (src)
		sqlite3_close(src);
	if (rc < 0)
		unlink(tmp.ptr);
	buf_free(&tmp);
	return rc;
}

/* After each commit (writer thread): wake the checkpointer when the WAL is long. */
static int sq_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq_store *ss = arg;
	pthread_mutex_lock(&ss->mu);
	if (pages < ss->wal_pages)
		ss->ckpt_next = SQ_CHECKPOINT_PAGES; /* the WAL started again from its beginning */
	ss->wal_pages = pages;
	if (pages >= ss->ckpt_next)
		pthread_cond_signal(&ss->ckpt_cv);
	pthread_mutex_unlock(&ss->mu);
	return SQLITE_OK;
}

/* PASSIVE checkpoints on a connection of their own: they copy WAL frames into
 * the database without blocking the writer or the readers; the next commit
 * after a complete one starts the WAL from the beginning again. When no frame
 * has been written for wal_idle_ms (30 s), a TRUNCATE checkpoint empties the
 * WAL file, which a burst of writes may have grown to hundreds of MiB. Not
 * sooner: a WAL that starts again from its beginning reuses its blocks,
 * while truncating a large one costs the file system work that slows the next
 * fsyncs (a write p99 of 46 ms in a benchmark round that followed a 1 s idle
 * truncate, against 11 to 14 ms in the others). */
static void *sq_checkpointer_main(void *arg)
{
	struct sq_store *ss = arg;
	struct err e = {0};
	struct sq_conn *c = sq_conn_open(ss, false, &e);
	if (!c) {
		log_error("checkpointer: %s; the WAL will grow until restart", e.msg);
		return NULL;
	}
	int pages_seen = -1;
	pthread_mutex_lock(&ss->mu);
	while (!ss->ckpt_stop) {
		if (ss->wal_pages < ss->ckpt_next) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ss->opt.wal_idle_ms / 1000;
			until.tv_nsec += (long)(ss->opt.wal_idle_ms % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&ss->ckpt_cv, &ss->mu, &until) != ETIMEDOUT)
				continue;
			/* frames, not commits: the LGSP worker's claim commits each
			 * second, writing nothing when there is nothing to send */
			bool idle = ss->wal_pages == pages_seen && ss->wal_pages > 0;
			pages_seen = ss->wal_pages;
			if (!idle)
				continue;
			pthread_mutex_unlock(&ss->mu);
			int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
			atomic_fetch_add(&ss->base.checkpoints, 1);
			pthread_mutex_lock(&ss->mu);
			if (rc == SQLITE_OK) {
				ss->wal_pages = pages_seen = 0;
				ss->ckpt_next = SQ_CHECKPOINT_PAGES;
			}
			continue;
		}
		pthread_mutex_unlock(&ss->mu);
		int log = 0, done = 0;
		int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			log_warn("checkpoint: %s", sqlite3_errmsg(c->db));
		atomic_fetch_add(&ss->base.checkpoints, 1);
		pthread_mutex_lock(&ss->mu);
		/* the next one after SQ_CHECKPOINT_STEP more frames: until the WAL
		 * starts again from its beginning (the hook sees it shrink), a busy
		 * writer keeps it above the threshold, and checkpointing each commit's
		 * few frames would cost two more fsyncs a commit */
		ss->ckpt_next = (log > 0 ? log : ss->wal_pages) + SQ_CHECKPOINT_STEP;
	}
	pthread_mutex_unlock(&ss->mu);
	sq_conn_close(c);
	return NULL;
}

static void sq_close(struct store *s)
{
	struct sq_store *ss = (struct sq_store *)s;
	pthread_mutex_lock(&ss->mu);
	ss->stopping = true;
	ss->ckpt_stop = true;
	pthread_cond_signal(&ss->work);
	pthread_cond_signal(&ss->ckpt_cv);
	pthread_mutex_unlock(&ss->mu);
	pthread_join(ss->writer_thread, NULL);
	pthread_mutex_lock(&ss->mu);
	ss->sync_stop = true; /* after the writer: the syncer makes its last groups durable first */
	pthread_cond_signal(&ss->sync_cv);
	pthread_mutex_unlock(&ss->mu);
	pthread_join(ss->sync_thread, NULL);
	if (ss->wal_fd >= 0)
		close(ss->wal_fd);
	pthread_join(ss->ckpt_thread, NULL);
	/* leave a small database: fold the WAL back in while nobody else writes */
	sqlite3_wal_checkpoint_v2(ss->writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sq_conn_close(ss->writer);
	pthread_mutex_lock(&ss->readers_mu);
	for (struct sq_conn *c = ss->readers; c;) {
		struct sq_conn *next = c->next;
		sq_conn_close(c);
		c = next;
	}
	ss->readers = NULL;
	pthread_mutex_unlock(&ss->readers_mu);
	pthread_key_delete(ss->reader_key);
	pthread_mutex_destroy(&ss->mu);
	pthread_mutex_destroy(&ss->readers_mu);
	pthread_cond_destroy(&ss->work);
	pthread_cond_destroy(&ss->ckpt_cv);
	pthread_cond_destroy(&ss->sync_cv);
	free(ss->path);
	free(ss);
}

static const struct store_ops sq_ops = {
	.close = sq_close,
	.read = sq_read,
	.write = sq_write,
	.exec = sq_exec,
	.exec_script = sq_exec_script,
	.query = sq_query,
	.step = sq_step,
	.done = sq_done,
	.isnull = sq_isnull,
	.get_int = sq_int,
	.text = sq_text,
	.textlen = sq_textlen,
	.ping = sq_ping,
	.backup = sq_backup,
};

int store_sqlite_open(struct store **out, const char *path, const struct store_options *opt, struct err *e)
{
	if (sqlite3_threadsafe() == 0)
		return err_set(e, ERR_CONFIG, "the SQLite library was built without thread support");
	struct sq_store *ss = calloc(1, sizeof *ss);
	if (!ss)
		abort();
	ss->base.ops = &sq_ops;
	ss->base.kind = STORE_SQLITE;
	ss->path = strdup(path);
	if (!ss->path)
		abort();
	ss->opt = *opt;
	if (ss->opt.batch_max < 1)
		ss->opt.batch_max = 1;
	if (ss->opt.wal_max_pages < 1)
		ss->opt.wal_max_pages = SQ_WAL_MAX_PAGES;
	if (ss->opt.wal_idle_ms < 1)
		ss->opt.wal_idle_ms = SQ_IDLE_MS;
	pthread_mutex_init(&ss->mu, NULL);
	pthread_mutex_init(&ss->readers_mu, NULL);
	pthread_cond_init(&ss->work, NULL);
	pthread_key_create(&ss->reader_key, sq_reader_release);
	ss->writer = sq_conn_open(ss, false, e);
	if (!ss->writer) {
		pthread_key_delete(ss->reader_key);
		free(ss->path);
		free(ss);
		return e->code;
	}
	ss->wal_fd = -1;
	pthread_cond_init(&ss->sync_cv, NULL);
	pthread_cond_init(&ss->ckpt_cv, NULL);
	ss->ckpt_next = SQ_CHECKPOINT_PAGES;
	sqlite3_exec(ss->writer->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL); /* the checkpointer's */
	sqlite3_wal_hook(ss->writer->db, sq_wal_hook, ss);
	if (pthread_create(&ss->writer_thread, NULL, sq_writer_main, ss) != 0 ||
	    pthread_create(&ss->sync_thread, NULL, sq_syncer_main, ss) != 0 ||
	    pthread_create(&ss->ckpt_thread, NULL, sq_checkpointer_main, ss) != 0)
		abort();
	*out = &ss->base;
	return 0;
}

const char *store_versions(void)
{
	static char v[64];
	snprintf(v, sizeof v, "SQLite %s", sqlite3_libversion());
	return v;
}
