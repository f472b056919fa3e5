/* pg.c: the PostgreSQL backend (libpq), for several `tinhso serve` nodes
 * sharing one database.
 *
 * Connections: a pool of opt->pool_size connections, opened lazily; a caller
 * waits for a free one up to a bound (busy_timeout_ms, or 30 s when 0), then
 * gets ERR_UNAVAILABLE "database busy". Each connection is set to
 * client_encoding UTF8, TimeZone UTC, statement_timeout busy_timeout_ms,
 * application_name tinhso (unless the URL names another) and connect_timeout 3
 * (unless the URL sets one).
 *
 * Transactions: store_read() is BEGIN ISOLATION LEVEL REPEATABLE READ READ
 * ONLY (one snapshot for the whole callback); store_write() is READ COMMITTED,
 * committed before it returns (synchronous_commit as the server says; the
 * server groups concurrent commits into one WAL flush itself). A serialization
 * failure or deadlock (40001, 40P01) re-runs the callback, a few times; so
 * does a cached statement whose plan went stale (0A000 "cached plan must not
 * change result type" after another node's migration). Callbacks must
 * therefore be safe to run twice (store.h already asks them to be free of
 * outside effects).
 *
 * Reconnect: a connection found broken is reset (PQreset) before reuse. After
 * a server restart every idle pooled connection is dead without knowing it; a
 * connection error at BEGIN, before the callback ran, is therefore retried once
 * on the same connection freshly reset, so the first request after a restart
 * succeeds.
 *
 * Differences from SQLite that callers must know:
 *   - a failed statement aborts the whole PostgreSQL transaction: the callback
 *     cannot catch ERR_CONFLICT and carry on (use INSERT ... ON CONFLICT).
 *     Later statements in the same callback fail with the first error, and a
 *     callback that returns success anyway gets that first error from
 *     store_write(): never a silent partial commit.
 *   - parameters are sent as text with no declared type and the server infers
 *     each type from the SQL: a parameter whose type nothing determines (e.g.
 *     `$1 IS NULL` alone) fails with 42P18; write CAST($1 AS TEXT) IS NULL.
 *   - a boolean expression reads back as 't'/'f' text; store_int maps them to 1/0.
 *
 * Statements are prepared once per connection (PQprepare) and cached by the
 * address of the caller's SQL text, checked against a copy of the text, so a
 * reused buffer holding other SQL is never confused with the cached one. */
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/log.h"
#include "store/store_impl.h"

enum {
	PG_CACHE = 128,	 /* prepared statements per connection */
	PG_ATTEMPTS = 5, /* runs of a callback hit by serialization failures / deadlocks */
	PG_MAX_POOL = 1024,
	PG_PING_WAIT_MS = 250,
};

struct pg_stmt {
	const char *key; /* the caller's SQL pointer */
	char *sql;	 /* copy of the text: the key alone could be a reused buffer */
	char name[16];
};

struct pg_conn {
	PGconn *conn;
	struct pg_stmt cache[PG_CACHE];
	int ncache;
	unsigned next_name;
	bool fresh;	      /* connected or reset since it was last handed out */
	bool broken;	      /* saw a connection error: reset before reuse */
	struct pg_conn *next; /* idle list */
};

struct pg_store {
	struct store base;
	char *url;
	struct store_options opt;
	int wait_ms;
	char setup_sql[128];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pg_conn **all; /* pool_size slots, NULL until opened */
	struct pg_conn *idle;
	int nopen; /* opened or being opened */
	bool closing;
};

struct pg_tx {
	struct store_tx base;
	struct pg_conn *c;
	int failed;	/* code of the first failed statement: PostgreSQL aborted the transaction */
	bool conn_lost; /* the connection broke inside the transaction */
	bool retryable; /* the first failure was 40001 / 40P01 */
	char state[6];	/* its SQLSTATE */
	char msg[sizeof(((struct err *)0)->msg)];
};

struct pg_q {
	struct store_q base;
	PGresult *res;
	int row, nrows;
};

/* ---- errors ---- */

/* One line, at most cap-1 bytes, from a libpq message. With redact, the text
 * between double quotes becomes "...": data-exception messages quote the
 * offending value, which may be a parameter and so a secret. */
static void pg_clean(char *dst, size_t cap, const char *src, bool redact)
{
	size_t n = 0;
	bool inq = false;
	if (!src)
		src = "";
	for (const char *p = src; *p && n + 4 < cap; p++) {
		char ch = *p;
		if (ch == '\n' || ch == '\t' || ch == '\r')
			ch = ' ';
		if (redact && ch == '"') {
			if (!inq) {
				memcpy(dst + n, "\"...", 4);
				n += 4;
			} else {
				dst[n++] = '"';
			}
			inq = !inq;
			continue;
		}
		if (inq)
			continue;
		if (ch == ' ' && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = ch;
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = 0;
}

/* SQLSTATEs of a lost connection. 08P01 (protocol violation) is also what a
 * wrong parameter count gives, on a connection that is fine. */
static bool pg_state_conn(const char *st)
{
	return st && ((strncmp(st, "08", 2) == 0 && strcmp(st, "08P01") != 0) || strcmp(st, "57P01") == 0 ||
		      strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0);
}

static bool pg_state_retry(const char *st)
{
	return st && (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0);
}

/* "UNIQUE constraint failed: users.username" as SQLite says it, built from the
 * table name and the column list of the DETAIL ("Key (username)=(...) ..."),
 * never its values; empty when the server did not say. */
static void pg_unique_like_sqlite(const PGresult *r, char *out, size_t cap)
{
	out[0] = 0;
	const char *table = PQresultErrorField(r, PG_DIAG_TABLE_NAME);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	if (!table || !detail || strncmp(detail, "Key (", 5) != 0)
		return;
	const char *cols = detail + 5, *end = strstr(cols, ")=(");
	if (!end)
		return;
	struct buf b = BUF_INIT;
	buf_printf(&b, "UNIQUE constraint failed: ");
	/* "a, b" -> "t.a, t.b" */
	const char *p = cols;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		buf_printf(&b, "%s%s.%.*s", p == cols ? "" : ", ", table, (int)(stop - p), p);
		p = comma ? comma + 1 : end;
		while (p < end && *p == ' ')
			p++;
	}
	pg_clean(out, cap, b.ptr, false);
	buf_free(&b);
}

static void pg_sql_head(char *dst, size_t cap, const char *sql)
{
	char tmp[96];
	pg_clean(tmp, sizeof tmp, sql, false);
	snprintf(dst, cap, "%s%s", tmp, sql && strlen(sql) >= sizeof tmp - 4 ? "..." : "");
}

/* Maps a failed result (r may be NULL: a client-side failure) to an error code,
 * counts and logs what is not a constraint conflict. state gets the SQLSTATE
 * ("" when none). retry: the caller will run the transaction again, so this is
 * no failure yet. */
static int pg_error(struct store *s, PGconn *conn, const PGresult *r, const char *what, const char *sql, char state[6],
		    bool retry, struct err *e)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	bool lost = PQstatus(conn) == CONNECTION_BAD || pg_state_conn(st);
	str_copy(state, 6, st ? st : (lost ? "08006" : ""));
	char msg[300];
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	pg_clean(msg, sizeof msg, primary ? primary : PQerrorMessage(conn), st && strncmp(st, "22", 2) == 0);
	if (!msg[0])
		str_copy(msg, sizeof msg, "unknown error");

	if (!lost && st && strncmp(st, "23", 2) == 0) {
		if (strcmp(st, "23505") == 0) {
			char like[200];
			pg_unique_like_sqlite(r, like, sizeof like);
			if (like[0])
				return err_set(e, ERR_CONFLICT, "already exists (%s; %s)", like, msg);
			return err_set(e, ERR_CONFLICT, "already exists (%s)", msg);
		}
		return err_set(e, ERR_CONFLICT, "constraint failed (%s)", msg);
	}
	char head[128];
	pg_sql_head(head, sizeof head, sql);
	if (!lost && (retry || pg_state_retry(st))) {
		/* retried by the caller: counted only if it gives up */
		log_warn("postgres %s: %s [%s] (will retry) in: %s", what, msg, state, head);
		return err_set(e, ERR_UNAVAILABLE, "database busy: %s", msg);
	}
	atomic_fetch_add(&s->errors, 1);
	log_error("postgres %s: %s [%s] in: %s", what, msg, state[0] ? state : "-", head);
	if (lost) {
		if (e)
			e->retry_after = 1;
		return err_set(e, ERR_UNAVAILABLE, "database unavailable: %s", msg);
	}
	/* out of resources, statement timeout, lock timeout: temporary */
	if (st && (strncmp(st, "53", 2) == 0 || strcmp(st, "57014") == 0 || strcmp(st, "55P03") == 0)) {
		if (e)
			e->retry_after = 1;
		return err_set(e, ERR_UNAVAILABLE, "database unavailable: %s", msg);
	}
	return err_set(e, ERR_INTERNAL, "database error: %s", msg);
}

/* Records the first failure of a transaction: PostgreSQL has aborted it. */
static int pg_tx_fail(struct pg_tx *tx, const PGresult *r, const char *what, const char *sql, bool replan,
		      struct err *e)
{
	char state[6];
	int rc = pg_error(tx->base.s, tx->c->conn, r, what, sql, state, replan, e);
	if (!tx->failed) {
		tx->failed = rc;
		str_copy(tx->state, sizeof tx->state, state);
		str_copy(tx->msg, sizeof tx->msg, e ? e->msg : "");
		tx->retryable = (replan || pg_state_retry(state)) && PQstatus(tx->c->conn) == CONNECTION_OK;
	}
	if (PQstatus(tx->c->conn) != CONNECTION_OK || pg_state_conn(state)) {
		tx->conn_lost = true;
		tx->c->broken = true;
	}
	return rc;
}

/* ---- connections ---- */

static void pg_notice(void *arg, const char *message)
{
	(void)arg;
	char msg[300];
	pg_clean(msg, sizeof msg, message, false);
	/* NOTICEs ("relation already exists, skipping") are noise; WARNINGs are not */
	if (strncmp(msg, "WARNING", 7) == 0)
		log_warn("postgres: %s", msg);
	else
		log_debug("postgres: %s", msg);
}

static PGconn *pg_connect(struct pg_store *ps)
{
	/* entries before dbname are defaults the URL may override; after it, fixed */
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding", NULL};
	const char *vals[] = {"3", "tinhso", ps->url, "UTF8", NULL};
	return PQconnectdbParams(keys, vals, 1);
}

static int pg_setup(struct pg_store *ps, struct pg_conn *c, struct err *e)
{
	if (PQstatus(c->conn) != CONNECTION_OK) {
		char msg[300];
		pg_clean(msg, sizeof msg, PQerrorMessage(c->conn), false);
		atomic_fetch_add(&ps->base.errors, 1);
		log_error("postgres connect: %s", msg);
		if (e)
			e->retry_after = 1;
		return err_set(e, ERR_UNAVAILABLE, "cannot connect to PostgreSQL: %s", msg);
	}
	PQsetNoticeProcessor(c->conn, pg_notice, NULL);
	PGresult *r = PQexec(c->conn, ps->setup_sql);
	int rc = 0;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char state[6];
		rc = pg_error(&ps->base, c->conn, r, "connection setup", ps->setup_sql, state, false, e);
	}
	PQclear(r);
	c->fresh = true;
	c->broken = false;
	return rc;
}

static void pg_cache_clear(struct pg_conn *c)
{
	for (int i = 0; i < c->ncache; i++)
		free(c->cache[i].sql);
	c->ncache = 0;
}

static int pg_reset(struct pg_store *ps, struct pg_conn *c, struct err *e)
{
	pg_cache_clear(c); /* the server forgot the prepared statements */
	PQreset(c->conn);
	return pg_setup(ps, c, e);
}

static void pg_release(struct pg_store *ps, struct pg_conn *c)
{
	if (!c->broken && PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
		/* never hand out a connection inside a transaction */
		PGresult *r = PQexec(c->conn, "ROLLBACK");
		if (PQresultStatus(r) != PGRES_COMMAND_OK || PQtransactionStatus(c->conn) != PQTRANS_IDLE)
			c->broken = true;
		PQclear(r);
	}
	c->fresh = false;
	pthread_mutex_lock(&ps->mu);
	c->next = ps->idle;
	ps->idle = c;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
}

/* A connection for the caller alone: an idle one, a new one while the pool
 * has room, or the first returned within wait_ms. *busy tells a timeout. */
static struct pg_conn *pg_acquire(struct pg_store *ps, int wait_ms, bool *busy, struct err *e)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (busy)
		*busy = false;
	struct pg_conn *c = NULL;
	bool create = false;
	pthread_mutex_lock(&ps->mu);
	for (;;) {
		if (ps->closing) {
			pthread_mutex_unlock(&ps->mu);
			err_set(e, ERR_UNAVAILABLE, "database is closing");
			return NULL;
		}
		if (ps->idle) {
			c = ps->idle;
			ps->idle = c->next;
			c->next = NULL;
			break;
		}
		if (ps->nopen < ps->opt.pool_size) {
			ps->nopen++;
			create = true;
			break;
		}
		if (pthread_cond_timedwait(&ps->cv, &ps->mu, &deadline) == ETIMEDOUT && !ps->idle &&
		    ps->nopen >= ps->opt.pool_size) {
			pthread_mutex_unlock(&ps->mu);
			if (busy)
				*busy = true;
			if (e)
				e->retry_after = 1;
			err_set(e, ERR_UNAVAILABLE, "database busy (all %d connections in use for %d ms)",
				ps->opt.pool_size, wait_ms);
			return NULL;
		}
	}
	pthread_mutex_unlock(&ps->mu);

	if (create) {
		c = calloc(1, sizeof *c);
		if (!c)
			abort();
		c->conn = pg_connect(ps);
		if (!c->conn)
			abort(); /* libpq could not allocate */
		if (pg_setup(ps, c, e) < 0) {
			PQfinish(c->conn);
			free(c);
			pthread_mutex_lock(&ps->mu);
			ps->nopen--;
			pthread_cond_signal(&ps->cv);
			pthread_mutex_unlock(&ps->mu);
			return NULL;
		}
		pthread_mutex_lock(&ps->mu);
		for (int i = 0; i < ps->opt.pool_size; i++)
			if (!ps->all[i]) {
				ps->all[i] = c;
				break;
			}
		pthread_mutex_unlock(&ps->mu);
		return c;
	}
	if (c->broken || PQstatus(c->conn) != CONNECTION_OK) {
		if (pg_reset(ps, c, e) < 0) {
			c->broken = true;
			pg_release(ps, c);
			return NULL;
		}
	}
	return c;
}

/* Runs a parameterless command outside the callback (BEGIN, SELECT 1). When
 * the connection turns out dead and had been idle in the pool, resets it and
 * runs the command once more: the first use after a server restart works. */
static int pg_command(struct pg_store *ps, struct pg_conn *c, const char *sql, struct err *e)
{
	for (int attempt = 0;; attempt++) {
		PGresult *r = PQexec(c->conn, sql);
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			PQclear(r);
			return 0;
		}
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		bool lost = PQstatus(c->conn) != CONNECTION_OK || pg_state_conn(state);
		if (lost && attempt == 0 && !c->fresh) {
			PQclear(r);
			log_warn("postgres connection lost (server restarted?): reconnecting");
			if (pg_reset(ps, c, e) < 0) {
				c->broken = true;
				return e ? e->code : ERR_UNAVAILABLE;
			}
			continue;
		}
		char state6[6];
		int rc = pg_error(&ps->base, c->conn, r, "command", sql, state6, false, e);
		if (lost)
			c->broken = true;
		PQclear(r);
		return rc;
	}
}

/* ---- statements ---- */

struct pg_params {
	const char **v;
	const char *small[16];
	struct buf b;
};

static int pg_params_build(struct pg_params *p, const struct store_arg *args, int nargs, struct err *e)
{
	p->v = nargs <= 16 ? p->small : malloc(sizeof(char *) * (size_t)nargs);
	if (!p->v)
		abort();
	p->b = (struct buf)BUF_INIT;
	size_t offs_small[16], *offs = nargs <= 16 ? offs_small : malloc(sizeof(size_t) * (size_t)nargs);
	if (!offs)
		abort();
	int rc = 0;
	for (int i = 0; i < nargs; i++) {
		offs[i] = SIZE_MAX;
		p->v[i] = NULL;
		switch (args[i].t) {
		case SA_INT_T:
			offs[i] = p->b.len;
			buf_printf(&p->b, "%lld", (long long)args[i].i);
			buf_putc(&p->b, 0);
			break;
		case SA_TEXT_T:
			if (args[i].len < 0) {
				p->v[i] = args[i].s; /* already NUL-terminated */
			} else {
				/* text parameters travel NUL-terminated: a NUL inside would cut it short */
				if (memchr(args[i].s, 0, (size_t)args[i].len)) {
					rc = err_set(e, ERR_BAD_REQUEST, "parameter $%d: text contains a NUL byte",
						     i + 1);
					goto out;
				}
				offs[i] = p->b.len;
				buf_append(&p->b, args[i].s, (size_t)args[i].len);
				buf_putc(&p->b, 0);
			}
			break;
		default:
			break;
		}
	}
	for (int i = 0; i < nargs; i++)
		if (offs[i] != SIZE_MAX)
			p->v[i] = p->b.ptr + offs[i];
out:
	if (offs != offs_small)
		free(offs);
	return rc;
}

static void pg_params_free(struct pg_params *p)
{
	if (p->v != p->small)
		free(p->v);
	buf_free(&p->b);
}

/* The cached prepared statement for sql, preparing it on first use; NULL with
 * *rc == 0 when it cannot be cached (run unnamed), NULL with *rc < 0 on error. */
static struct pg_stmt *pg_prepared(struct pg_tx *tx, const char *sql, bool *just_prepared, int *rc, struct err *e)
{
	struct pg_conn *c = tx->c;
	*rc = 0;
	*just_prepared = false;
	for (int i = 0; i < c->ncache; i++)
		if (c->cache[i].key == sql)
			return strcmp(c->cache[i].sql, sql) == 0 ? &c->cache[i] : NULL;
	if (c->ncache >= PG_CACHE)
		return NULL;
	struct pg_stmt *st = &c->cache[c->ncache];
	snprintf(st->name, sizeof st->name, "ts%u", c->next_name++);
	PGresult *r = PQprepare(c->conn, st->name, sql, 0, NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		*rc = pg_tx_fail(tx, r, "prepare", sql, false, e);
		PQclear(r);
		return NULL;
	}
	PQclear(r);
	st->key = sql;
	st->sql = strdup(sql);
	if (!st->sql)
		abort();
	c->ncache++;
	*just_prepared = true;
	return st;
}

static void pg_cache_drop(struct pg_conn *c, struct pg_stmt *st)
{
	/* the server-side statement stays until the connection resets: harmless */
	free(st->sql);
	*st = c->cache[--c->ncache];
}

/* Runs one statement in tx; the result (tuples or command) or NULL with *rc < 0. */
static PGresult *pg_execute(struct pg_tx *tx, const char *sql, const struct store_arg *args, int nargs, int *rc,
			    struct err *e)
{
	if (tx->failed) {
		*rc = err_set(e, tx->failed, "transaction aborted by an earlier error: %s", tx->msg);
		return NULL;
	}
	struct pg_params p;
	*rc = pg_params_build(&p, args, nargs, e);
	if (*rc < 0) {
		pg_params_free(&p);
		return NULL;
	}
	bool just_prepared;
	struct pg_stmt *st = pg_prepared(tx, sql, &just_prepared, rc, e);
	PGresult *r = NULL;
	if (*rc == 0) {
		PGconn *conn = tx->c->conn;
		r = st ? PQexecPrepared(conn, st->name, nargs, p.v, NULL, NULL, 0)
		       : PQexecParams(conn, sql, nargs, NULL, p.v, NULL, NULL, 0);
		ExecStatusType status = PQresultStatus(r);
		if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
			const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			/* "cached plan must not change result type" (another node's
			 * migration altered a table under a SELECT *), or the statement
			 * vanished: forget it and run the transaction again, which
			 * prepares it anew */
			bool replan = st && !just_prepared && state &&
				      (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0);
			if (replan)
				pg_cache_drop(tx->c, st);
			*rc = pg_tx_fail(tx, r, "exec", sql, replan, e);
			PQclear(r);
			r = NULL;
		}
	}
	pg_params_free(&p);
	return r;
}

static int pg_exec(struct store_tx *btx, const char *sql, const struct store_arg *args, int nargs, struct err *e)
{
	int rc;
	PGresult *r = pg_execute((struct pg_tx *)btx, sql, args, nargs, &rc, e);
	if (!r)
		return rc;
	/* rows changed; a SELECT run for its effect changed none */
	const char *n = PQcmdTuples(r);
	long long v = strncmp(PQcmdStatus(r), "SELECT", 6) == 0 ? 0 : strtoll(n, NULL, 10);
	PQclear(r);
	return v > INT_MAX ? INT_MAX : (int)v;
}

static int pg_exec_script(struct store_tx *btx, const char *sql, struct err *e)
{
	struct pg_tx *tx = (struct pg_tx *)btx;
	struct pg_store *ps = (struct pg_store *)btx->s;
	if (tx->failed)
		return err_set(e, tx->failed, "transaction aborted by an earlier error: %s", tx->msg);
	struct buf b = BUF_INIT;
	/* scripts are migrations: a long ALTER must not be cut at the request timeout */
	if (ps->opt.busy_timeout_ms > 0)
		buf_puts(&b, "SET LOCAL statement_timeout = 0;\n");
	buf_puts(&b, sql);
	PGresult *r = PQexec(tx->c->conn, b.ptr);
	buf_free(&b);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
		rc = pg_tx_fail(tx, r, "script", sql, false, e);
	PQclear(r);
	return rc;
}

static int pg_query(struct store_tx *btx, const char *sql, const struct store_arg *args, int nargs,
		    struct store_q **out, struct err *e)
{
	int rc;
	PGresult *r = pg_execute((struct pg_tx *)btx, sql, args, nargs, &rc, e);
	if (!r)
		return rc;
	struct pg_q *q = calloc(1, sizeof *q);
	if (!q)
		abort();
	q->base.s = btx->s;
	q->res = r;
	q->row = -1;
	q->nrows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
	*out = &q->base;
	return 0;
}

static int pg_step(struct store_q *bq, struct err *e)
{
	(void)e;
	struct pg_q *q = (struct pg_q *)bq;
	if (q->row < q->nrows)
		q->row++;
	return q->row < q->nrows ? 1 : 0;
}

static void pg_done(struct store_q *bq)
{
	struct pg_q *q = (struct pg_q *)bq;
	PQclear(q->res);
	free(q);
}

static bool pg_isnull(struct store_q *bq, int col)
{
	struct pg_q *q = (struct pg_q *)bq;
	if (q->row < 0 || q->row >= q->nrows || col < 0 || col >= PQnfields(q->res))
		return true;
	return PQgetisnull(q->res, q->row, col) != 0;
}

static const char *pg_text(struct store_q *bq, int col)
{
	struct pg_q *q = (struct pg_q *)bq;
	if (pg_isnull(bq, col))
		return "";
	const char *v = PQgetvalue(q->res, q->row, col);
	return v ? v : "";
}

static int pg_textlen(struct store_q *bq, int col)
{
	struct pg_q *q = (struct pg_q *)bq;
	if (pg_isnull(bq, col))
		return 0;
	return PQgetlength(q->res, q->row, col);
}

static int64_t pg_int(struct store_q *bq, int col)
{
	if (pg_isnull(bq, col))
		return 0;
	const char *v = pg_text(bq, col);
	if (v[0] && !v[1] && (v[0] == 't' || v[0] == 'f'))
		return v[0] == 't'; /* boolean expressions */
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E') {
		/* numeric / double: truncate like sqlite3_column_int64 */
		double d = strtod(v, NULL);
		if (d != d)
			return 0;
		if (d >= 9.2233720368547758e18)
			return INT64_MAX;
		if (d <= -9.2233720368547758e18)
			return INT64_MIN;
		return (int64_t)d;
	}
	return n;
}

/* ---- transactions ---- */

static void pg_backoff(int attempt)
{
	static _Thread_local unsigned seed;
	if (!seed)
		seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
	long ms = 1 + rand_r(&seed) % (5 * attempt);
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

static int pg_txn(struct store *s, bool write, store_fn fn, void *ctx, struct err *e)
{
	struct pg_store *ps = (struct pg_store *)s;
	const char *begin =
	    write ? "BEGIN ISOLATION LEVEL READ COMMITTED" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
	for (int attempt = 1;; attempt++) {
		struct pg_conn *c = pg_acquire(ps, ps->wait_ms, NULL, e);
		if (!c)
			return e ? e->code : ERR_UNAVAILABLE;
		int rc = pg_command(ps, c, begin, e);
		if (rc < 0) {
			pg_release(ps, c);
			return rc;
		}
		struct pg_tx tx = {.base = {.s = s, .write = write}, .c = c};
		rc = fn(&tx.base, ctx, e);
		if (rc >= 0 && !tx.failed) {
			int hrc = store_tx_run_hooks(&tx.base, e); /* keeps fn's positive answer */
			if (hrc < 0)
				rc = hrc;
		}
		if (rc >= 0 && tx.failed) {
			log_warn(
			    "postgres: a callback carried on after a failed statement; the transaction is rolled back");
			rc = err_set(e, tx.failed, "transaction aborted by an earlier error: %s", tx.msg);
		}
		if (rc < 0) {
			if (!tx.conn_lost && PQstatus(c->conn) == CONNECTION_OK) {
				PGresult *r = PQexec(c->conn, "ROLLBACK");
				if (PQresultStatus(r) != PGRES_COMMAND_OK)
					c->broken = true;
				PQclear(r);
			}
			pg_release(ps, c);
			/* whatever the callback made of it, a deadlock or serialization
			 * failure aborted this run: run it again */
			if (tx.retryable) {
				if (attempt < PG_ATTEMPTS) {
					if (e)
						err_clear(e);
					pg_backoff(attempt);
					continue;
				}
				atomic_fetch_add(&s->errors, 1);
				log_error("postgres: gave up after %d attempts [%s]: %s", attempt, tx.state, tx.msg);
				if (e)
					e->retry_after = 1;
				return err_set(e, ERR_UNAVAILABLE, "database busy: %s (gave up after %d attempts)",
					       tx.msg, attempt);
			}
			return rc;
		}
		if (!write) {
			/* the reads are done and valid whatever COMMIT says */
			PGresult *r = PQexec(c->conn, "COMMIT");
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				c->broken = PQstatus(c->conn) != CONNECTION_OK;
			PQclear(r);
			pg_release(ps, c);
			return rc;
		}
		PGresult *r = PQexec(c->conn, "COMMIT");
		int crc = 0;
		char state[6] = "";
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			crc = pg_error(s, c->conn, r, "commit", "COMMIT", state, false, e);
			if (PQstatus(c->conn) != CONNECTION_OK || pg_state_conn(state)) {
				c->broken = true;
				crc = err_set(
				    e, ERR_UNAVAILABLE,
				    "database connection lost during COMMIT: the write may or may not be saved");
			}
		} else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) {
			/* the server rolled back (the callback hid a failure we did not see) */
			atomic_fetch_add(&s->errors, 1);
			log_error("postgres: COMMIT answered %s", PQcmdStatus(r));
			crc = err_set(e, ERR_INTERNAL, "database error: transaction was rolled back");
		}
		PQclear(r);
		pg_release(ps, c);
		if (crc == 0) {
			atomic_fetch_add(&s->commits, 1);
			atomic_fetch_add(&s->batched, 1);
			return rc;
		}
		if (pg_state_retry(state) && attempt < PG_ATTEMPTS) {
			if (e)
				err_clear(e);
			pg_backoff(attempt);
			continue;
		}
		if (pg_state_retry(state))
			atomic_fetch_add(&s->errors, 1);
		return crc;
	}
}

static int pg_read(struct store *s, store_fn fn, void *ctx, struct err *e)
{
	return pg_txn(s, false, fn, ctx, e);
}
static int pg_write(struct store *s, store_fn fn, void *ctx, struct err *e)
{
	return pg_txn(s, true, fn, ctx, e);
}

/* ---- lifecycle ---- */

static int pg_ping(struct store *s, struct err *e)
{
	struct pg_store *ps = (struct pg_store *)s;
	bool busy;
	int wait = ps->wait_ms < PG_PING_WAIT_MS ? ps->wait_ms : PG_PING_WAIT_MS;
	int rc;
	struct pg_conn *c = pg_acquire(ps, wait, &busy, e);
	if (c) {
		rc = pg_command(ps, c, "SELECT 1", e);
		pg_release(ps, c);
	} else if (!busy) {
		rc = ERR_UNAVAILABLE;
	} else {
		/* every pooled connection is busy: ask on a connection of our own */
		struct pg_conn one = {0};
		one.conn = pg_connect(ps);
		if (!one.conn)
			abort();
		rc = pg_setup(ps, &one, e);
		if (rc == 0)
			rc = pg_command(ps, &one, "SELECT 1", e);
		PQfinish(one.conn);
	}
	if (rc < 0) {
		if (e)
			e->code = ERR_UNAVAILABLE;
		return ERR_UNAVAILABLE;
	}
	return 0;
}

static int pg_backup(struct store *s, const char *path, struct err *e)
{
	(void)s;
	(void)path;
	return err_set(e, ERR_UNAVAILABLE, "use pg_dump -Fc for PostgreSQL backups (see docs/operations.md)");
}

static void pg_free(struct pg_store *ps)
{
	for (int i = 0; i < ps->opt.pool_size; i++) {
		struct pg_conn *c = ps->all[i];
		if (!c)
			continue;
		pg_cache_clear(c);
		PQfinish(c->conn);
		free(c);
	}
	free(ps->all);
	pthread_mutex_destroy(&ps->mu);
	pthread_cond_destroy(&ps->cv);
	free(ps->url);
	free(ps);
}

static void pg_close(struct store *s)
{
	struct pg_store *ps = (struct pg_store *)s;
	pthread_mutex_lock(&ps->mu);
	ps->closing = true;
	pthread_cond_broadcast(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
	/* every connection is idle: the caller closes the store after its last use */
	pg_free(ps);
}

static const struct store_ops pg_ops = {
    .close = pg_close,
    .read = pg_read,
    .write = pg_write,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .query = pg_query,
    .step = pg_step,
    .done = pg_done,
    .isnull = pg_isnull,
    .get_int = pg_int,
    .text = pg_text,
    .textlen = pg_textlen,
    .ping = pg_ping,
    .backup = pg_backup,
};

int store_pg_open(struct store **out, const char *url, const struct store_options *opt, struct err *e)
{
	if (!PQisthreadsafe())
		return err_set(e, ERR_CONFIG, "the libpq library was built without thread support");
	char *perr = NULL;
	PQconninfoOption *parsed = PQconninfoParse(url, &perr);
	if (!parsed) {
		char msg[300];
		pg_clean(msg, sizeof msg, perr ? perr : "out of memory", false);
		PQfreemem(perr);
		return err_set(e, ERR_CONFIG, "db: bad PostgreSQL URL: %s", msg);
	}
	PQconninfoFree(parsed);

	struct pg_store *ps = calloc(1, sizeof *ps);
	if (!ps)
		abort();
	ps->base.ops = &pg_ops;
	ps->base.kind = STORE_POSTGRES;
	ps->url = strdup(url);
	if (!ps->url)
		abort();
	ps->opt = *opt;
	if (ps->opt.pool_size < 1)
		ps->opt.pool_size = 1;
	if (ps->opt.pool_size > PG_MAX_POOL)
		ps->opt.pool_size = PG_MAX_POOL;
	if (ps->opt.busy_timeout_ms < 0)
		ps->opt.busy_timeout_ms = 0;
	ps->wait_ms = ps->opt.busy_timeout_ms > 0 ? ps->opt.busy_timeout_ms : 30000;
	snprintf(ps->setup_sql, sizeof ps->setup_sql, "SET statement_timeout = %d; SET TimeZone = 'UTC'",
		 ps->opt.busy_timeout_ms);
	ps->all = calloc((size_t)ps->opt.pool_size, sizeof *ps->all);
	if (!ps->all)
		abort();
	pthread_mutex_init(&ps->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ps->cv, &ca);
	pthread_condattr_destroy(&ca);

	/* one connection now: an unreachable database is an error at startup */
	struct pg_conn *c = pg_acquire(ps, ps->wait_ms, NULL, e);
	if (!c) {
		int rc = e ? e->code : ERR_UNAVAILABLE;
		pg_free(ps);
		return rc;
	}
	pg_release(ps, c);
	*out = &ps->base;
	return 0;
}
