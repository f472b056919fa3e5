/* store.h: the one storage interface. Two backends implement it: sqlite.c
 * (embedded default: WAL, a read connection per thread, one group-committing
 * writer thread, a syncer thread answering writers once their group is on
 * disk) and pg.c (libpq, a connection pool, reconnect). Nothing outside
 * src/store/ sees sqlite3.h or libpq-fe.h.
 *
 * SQL is written once, in the dialect common to both: parameters are $1..$n
 * (the SQLite backend rewrites them to ?1..?n), times are BIGINT unix
 * microseconds, booleans are INTEGER 0/1, binary data is hex TEXT, text search
 * uses a normalised column computed in C. Migration files may use {{id}} for
 * an auto-increment primary key column type and {{seq}} for a 64-bit primary
 * key the application assigns (the rowid on SQLite).
 *
 * Optional conditions: in SQL given to store_exec or store_query, text
 * between "[[" and "]]" is kept only when every parameter it names is bound to
 * a non-NULL value, and the parameters the statement then no longer names are
 * dropped (the others renumbered). For filters that may be absent:
 *   "SELECT ... FROM users WHERE 1 = 1 [[AND role = $1]] [[AND agency_code = $2]]"
 * gives the planner "role = ?" when a role is given, which an index can serve;
 * "($1 IS NULL OR role = $1)" makes SQLite read the whole table. Each variant
 * is built once and kept for the life of the process.
 *
 * All access happens inside a callback given a struct store_tx:
 *   - store_read() runs it on a read connection in a read transaction
 *     (a consistent snapshot);
 *   - store_write() runs it inside a write transaction. On SQLite the callbacks
 *     of concurrent callers are batched by the writer thread into one
 *     transaction (each in its own savepoint) and committed together: group
 *     commit. A callback that returns an error has its own changes rolled back;
 *     the others still commit. store_write() returns only after the commit is
 *     durable (or failed), so a 2xx sent after it survives kill -9.
 * Callbacks must be free of outside side effects (no files, no network), since
 * a failed commit undoes the database changes only; and they must be short.
 * A write callback may run more than once: PostgreSQL retries it whole after a
 * deadlock or serialization failure. On PostgreSQL a failed statement aborts
 * the transaction, so a callback must not carry on after an error (use
 * INSERT ... ON CONFLICT instead of catching ERR_CONFLICT). Parameters have no
 * declared type: write CAST($1 AS TEXT) IS NULL, not $1 IS NULL.
 * SQL text must be a string literal (or otherwise live and unchanged for the
 * process's life): prepared statements are cached by the address of the text. */
#ifndef TINHSO_STORE_H
#define TINHSO_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

struct store;
struct store_tx;
struct store_q;

enum store_arg_type { SA_NULL_T, SA_INT_T, SA_TEXT_T };

struct store_arg {
	enum store_arg_type t;
	int64_t i;
	const char *s; /* SA_TEXT_T: not necessarily NUL-terminated when len given */
	int64_t len;   /* -1: strlen(s) */
};

#define SA_NULL ((struct store_arg){SA_NULL_T, 0, NULL, 0})
#define SA_INT(v) ((struct store_arg){SA_INT_T, (int64_t)(v), NULL, 0})
/* NULL text binds SQL NULL */
static inline struct store_arg store_arg_text(const char *v)
{
	return (struct store_arg){v ? SA_TEXT_T : SA_NULL_T, 0, v, -1};
}
#define SA_TEXT(v) store_arg_text(v)
#define SA_TEXTN(v, n) ((struct store_arg){SA_TEXT_T, 0, (v), (int64_t)(n)})
#define SA_BOOL(v) SA_INT((v) ? 1 : 0)
/* Builds (array, count) for the calls below: store_exec(tx, sql, ARGS(SA_INT(1), SA_TEXT(s)), e) */
#define ARGS(...) ((const struct store_arg[]){__VA_ARGS__}), (int)(sizeof((const struct store_arg[]){__VA_ARGS__}) / sizeof(struct store_arg))
#define NOARGS NULL, 0

enum store_kind { STORE_SQLITE, STORE_POSTGRES };

struct store_options {
	int pool_size;	     /* postgres connections; sqlite ignores */
	int busy_timeout_ms; /* sqlite busy timeout; pg statement timeout */
	int batch_max;	     /* sqlite group commit: max callbacks per transaction */
	int wal_max_pages;   /* sqlite: WAL frames that make the writer restart it (0: 262144, 1 GiB) */
	int wal_idle_ms;     /* sqlite: no frame written for this long empties the WAL file (0: 30 s) */
};

/* Opens "sqlite:PATH" or "postgres://..." / "postgresql://...". Does not migrate.
 * ERR_CONFIG for a bad URL, ERR_UNAVAILABLE when the database cannot be reached. */
int store_open(struct store **out, const char *url, const struct store_options *opt, struct err *e);
void store_close(struct store *s);
enum store_kind store_kind(const struct store *s);

/* Applies the embedded migrations not yet recorded in schema_migrations, each in
 * its own transaction together with its record. Returns the number applied (>= 0). */
int store_migrate(struct store *s, struct err *e);

typedef int (*store_fn)(struct store_tx *tx, void *ctx, struct err *e);

int store_read(struct store *s, store_fn fn, void *ctx, struct err *e);
int store_write(struct store *s, store_fn fn, void *ctx, struct err *e);

/* Runs one statement; returns the number of rows changed (>= 0) or an error.
 * A unique-constraint violation is ERR_CONFLICT; a lost connection ERR_UNAVAILABLE. */
int store_exec(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct err *e);

/* Runs a query and iterates its rows:
 *   struct store_q *q; int rc = store_query(tx, sql, ARGS(...), &q, e);
 *   while ((rc = store_step(q, e)) == 1) { store_int(q, 0); store_text(q, 1); }
 *   store_done(q);   // always, also after an error
 * store_step returns 1 for a row, 0 at the end, < 0 on error. Column values are
 * valid until the next store_step/store_done; copy them with store_dup. */
int store_query(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct store_q **q,
		struct err *e);
int store_step(struct store_q *q, struct err *e);
void store_done(struct store_q *q);
bool store_isnull(struct store_q *q, int col);
int64_t store_int(struct store_q *q, int col);		/* NULL reads 0 */
const char *store_text(struct store_q *q, int col);	/* NULL reads "" (never NULL) */
int store_textlen(struct store_q *q, int col);
char *store_dup(struct store_q *q, int col, struct arena *a); /* NULL gives NULL */

/* One-row helpers: run a query expected to return at most one row and read
 * column 0. Return 1 when a row was found, 0 when none, < 0 on error. */
int store_get_int(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, int64_t *out,
		  struct err *e);
int store_get_text(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct arena *a,
		   char **out, struct err *e);

/* Registers fn to run once inside the write transaction tx, after every
 * callback of it and just before it commits: on SQLite after the whole group
 * of callbacks committed together. Registering the same fn and ctx again in the
 * same transaction does nothing, so a hook may be asked for by each callback
 * and runs once per commit (the audit chain is signed this way). The hook may
 * also run when the callback that asked for it was rolled back: it must look at
 * the database, not at what its caller meant to do. A failing hook fails the
 * whole transaction. ERR_INTERNAL in a read transaction. */
int store_before_commit(struct store_tx *tx, store_fn fn, void *ctx, struct err *e);

/* The tx's kind, for the rare statement that must differ. */
enum store_kind store_tx_kind(struct store_tx *tx);

/* Liveness of the database, for /readyz: a trivial query on a fresh or pooled connection. */
int store_ping(struct store *s, struct err *e);

/* Consistent online copy of the database to path (SQLite backup API, fsync,
 * integrity_check on the copy). ERR_UNAVAILABLE on PostgreSQL (use pg_dump). */
int store_backup(struct store *s, const char *path, struct err *e);

/* Library versions of the backends, for `tinhso version`. */
const char *store_versions(void);

/* Counters for /metrics. */
struct store_stats {
	uint64_t errors;      /* statements that failed for a database reason (not constraint conflicts) */
	uint64_t commits;     /* write transactions committed */
	uint64_t batched;     /* write callbacks committed (batched / commits = mean group size) */
	uint64_t checkpoints; /* SQLite WAL checkpoints run (0 on PostgreSQL) */
};
void store_stats_get(struct store *s, struct store_stats *out);

#endif
