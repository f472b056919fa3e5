/* store.c: backend selection, dispatch, the one-row helpers and migrations. */
#include "store/store.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/embed.h"
#include "base/log.h"
#include "base/time.h"
#include "store/store_impl.h"

int store_open(struct store **out, const char *url, const struct store_options *opt, struct err *e)
{
	struct store_options defaults = {.pool_size = 8, .busy_timeout_ms = 5000, .batch_max = 256};
	if (!opt)
		opt = &defaults;
	*out = NULL;
	if (strncmp(url, "sqlite:", 7) == 0) {
		if (!url[7])
			return err_set(e, ERR_CONFIG, "db: 'sqlite:' needs a file path, e.g. sqlite:var/tinhso.db");
		return store_sqlite_open(out, url + 7, opt, e);
	}
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		return store_pg_open(out, url, opt, e);
	return err_set(e, ERR_CONFIG, "db: unknown database URL scheme (want sqlite:PATH or postgres://...)");
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

enum store_kind store_kind(const struct store *s) { return s->kind; }
enum store_kind store_tx_kind(struct store_tx *tx) { return tx->s->kind; }

int store_before_commit(struct store_tx *tx, store_fn fn, void *ctx, struct err *e)
{
	if (!tx->write)
		return err_set(e, ERR_INTERNAL, "a commit hook in a read transaction");
	for (int i = 0; i < tx->nhooks; i++)
		if (tx->hooks[i].fn == fn && tx->hooks[i].ctx == ctx)
			return 0;
	if (tx->nhooks == STORE_MAX_HOOKS)
		return err_set(e, ERR_INTERNAL, "more than %d commit hooks in one transaction", STORE_MAX_HOOKS);
	tx->hooks[tx->nhooks].fn = fn;
	tx->hooks[tx->nhooks].ctx = ctx;
	tx->nhooks++;
	return 0;
}

int store_tx_run_hooks(struct store_tx *tx, struct err *e)
{
	for (int i = 0; i < tx->nhooks; i++) {
		int rc = tx->hooks[i].fn(tx, tx->hooks[i].ctx, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int store_read(struct store *s, store_fn fn, void *ctx, struct err *e) { return s->ops->read(s, fn, ctx, e); }
int store_write(struct store *s, store_fn fn, void *ctx, struct err *e) { return s->ops->write(s, fn, ctx, e); }

/* ---- optional conditions: "[[ ... ]]" (store.h) ---- */

enum { OPT_MAX_ARGS = 64, OPT_BUCKETS = 256 };

struct opt_variant {
	const char *tmpl; /* the caller's text: its address is the key */
	uint64_t nulls;	  /* bit n-1: $n bound to NULL */
	char *sql;	  /* kept for the process's life: the statement caches key on its address */
	int nkeep;
	unsigned char keep[OPT_MAX_ARGS]; /* the new $k+1 is the caller's $keep[k]+1 */
	struct opt_variant *next;
};

static pthread_mutex_t opt_mu = PTHREAD_MUTEX_INITIALIZER;
static struct opt_variant *opt_table[OPT_BUCKETS];

/* The parameter number at p ("$12" gives 12), 0 when p is no parameter; *end after it. */
static int opt_param(const char *p, const char **end)
{
	int n = 0;
	const char *q = p + 1;
	if (*p != '$' || !isdigit((unsigned char)*q))
		return 0;
	while (isdigit((unsigned char)*q) && n < 1000)
		n = n * 10 + (*q++ - '0');
	*end = q;
	return n;
}

static struct opt_variant *opt_build(const char *tmpl, uint64_t nulls)
{
	struct buf kept = BUF_INIT;
	for (const char *p = tmpl; *p;) {
		const char *open = strstr(p, "[["), *close = open ? strstr(open + 2, "]]") : NULL;
		if (!close) {
			buf_puts(&kept, p);
			break;
		}
		buf_append(&kept, p, (size_t)(open - p));
		bool keep = true;
		for (const char *q = open + 2, *end; q < close; q++) {
			int n = opt_param(q, &end);
			if (n >= 1 && n <= OPT_MAX_ARGS && (nulls >> (n - 1) & 1))
				keep = false;
		}
		if (keep)
			buf_append(&kept, open + 2, (size_t)(close - open - 2));
		p = close + 2;
	}
	/* the parameters still named keep their order, numbered from 1 again */
	uint64_t used = 0;
	for (const char *q = kept.ptr, *end; *q; q++) {
		int n = opt_param(q, &end);
		if (n >= 1 && n <= OPT_MAX_ARGS)
			used |= 1ull << (n - 1);
	}
	struct opt_variant *v = calloc(1, sizeof *v);
	if (!v)
		abort();
	int renum[OPT_MAX_ARGS + 1] = {0};
	for (int n = 1; n <= OPT_MAX_ARGS; n++)
		if (used >> (n - 1) & 1) {
			v->keep[v->nkeep++] = (unsigned char)(n - 1);
			renum[n] = v->nkeep;
		}
	struct buf out = BUF_INIT;
	for (const char *q = kept.ptr, *end; *q;) {
		int n = opt_param(q, &end);
		if (n >= 1 && n <= OPT_MAX_ARGS) {
			buf_printf(&out, "$%d", renum[n]);
			q = end;
		} else {
			buf_putc(&out, *q++);
		}
	}
	buf_free(&kept);
	v->tmpl = tmpl;
	v->nulls = nulls;
	v->sql = out.ptr; /* owned by the variant from now on */
	return v;
}

/* The statement to run for sql with these arguments: sql itself, or its
 * variant without the optional conditions whose parameters are NULL, with
 * the arguments it still names in moved. */
static const char *opt_expand(const char *sql, const struct store_arg **args, int *nargs,
			      struct store_arg moved[OPT_MAX_ARGS])
{
	if (!strstr(sql, "[["))
		return sql;
	uint64_t nulls = 0;
	for (int i = 0; i < *nargs && i < OPT_MAX_ARGS; i++)
		if ((*args)[i].t == SA_NULL_T)
			nulls |= 1ull << i;
	size_t h = (((uintptr_t)sql >> 4) ^ (size_t)(nulls * 0x9E3779B97F4A7C15ull)) % OPT_BUCKETS;
	pthread_mutex_lock(&opt_mu);
	struct opt_variant *v = opt_table[h];
	while (v && (v->tmpl != sql || v->nulls != nulls))
		v = v->next;
	if (!v) {
		v = opt_build(sql, nulls);
		v->next = opt_table[h];
		opt_table[h] = v;
	}
	pthread_mutex_unlock(&opt_mu);
	int n = 0;
	for (int k = 0; k < v->nkeep; k++)
		if (v->keep[k] < *nargs)
			moved[n++] = (*args)[v->keep[k]];
	*args = moved;
	*nargs = n;
	return v->sql;
}

int store_exec(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct err *e)
{
	struct store_arg moved[OPT_MAX_ARGS];
	sql = opt_expand(sql, &args, &nargs, moved);
	return tx->s->ops->exec(tx, sql, args, nargs, e);
}

int store_query(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct store_q **q,
		struct err *e)
{
	*q = NULL;
	struct store_arg moved[OPT_MAX_ARGS];
	sql = opt_expand(sql, &args, &nargs, moved);
	return tx->s->ops->query(tx, sql, args, nargs, q, e);
}

int store_step(struct store_q *q, struct err *e) { return q->s->ops->step(q, e); }
void store_done(struct store_q *q)
{
	if (q)
		q->s->ops->done(q);
}
bool store_isnull(struct store_q *q, int col) { return q->s->ops->isnull(q, col); }
int64_t store_int(struct store_q *q, int col) { return q->s->ops->get_int(q, col); }
const char *store_text(struct store_q *q, int col) { return q->s->ops->text(q, col); }
int store_textlen(struct store_q *q, int col) { return q->s->ops->textlen(q, col); }

char *store_dup(struct store_q *q, int col, struct arena *a)
{
	if (store_isnull(q, col))
		return NULL;
	return arena_strndup(a, store_text(q, col), (size_t)store_textlen(q, col));
}

int store_get_int(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, int64_t *out,
		  struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, sql, args, nargs, &q, e);
	if (rc >= 0) {
		rc = store_step(q, e);
		if (rc == 1)
			*out = store_int(q, 0);
	}
	store_done(q);
	return rc;
}

int store_get_text(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct arena *a,
		   char **out, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, sql, args, nargs, &q, e);
	if (rc >= 0) {
		rc = store_step(q, e);
		if (rc == 1)
			*out = store_dup(q, 0, a);
	}
	store_done(q);
	return rc;
}

int store_ping(struct store *s, struct err *e) { return s->ops->ping(s, e); }
int store_backup(struct store *s, const char *path, struct err *e) { return s->ops->backup(s, path, e); }

void store_stats_get(struct store *s, struct store_stats *out)
{
	out->errors = atomic_load(&s->errors);
	out->commits = atomic_load(&s->commits);
	out->batched = atomic_load(&s->batched);
	out->checkpoints = atomic_load(&s->checkpoints);
}

void store_expand_sql(struct buf *b, const char *sql, enum store_kind kind)
{
	static const struct {
		const char *name, *sqlite, *pg;
	} macros[] = {
		{"{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
		/* a 64-bit key the caller chooses; on SQLite the rowid itself */
		{"{{seq}}", "INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY"},
	};
	const char *p = sql;
	for (;;) {
		const char *at = strstr(p, "{{");
		size_t i = 0, n = sizeof macros / sizeof macros[0];
		while (at && i < n && strncmp(at, macros[i].name, strlen(macros[i].name)) != 0)
			i++;
		if (!at) {
			buf_puts(b, p);
			return;
		}
		if (i == n) { /* not a macro: copied as it is */
			buf_append(b, p, (size_t)(at + 2 - p));
			p = at + 2;
			continue;
		}
		buf_append(b, p, (size_t)(at - p));
		buf_puts(b, kind == STORE_SQLITE ? macros[i].sqlite : macros[i].pg);
		p = at + strlen(macros[i].name);
	}
}

/* ---- migrations ---- */

struct migrate_ctx {
	const struct embedded_file *f;
	int applied;
};

static int migrate_one(struct store_tx *tx, void *arg, struct err *e)
{
	struct migrate_ctx *m = arg;
	int rc;
	if (tx->s->kind == STORE_POSTGRES) {
		/* several nodes may start at once: one migrates, the others wait and then see it done */
		/* a long migration on another node must not time this one out */
		rc = store_exec(tx, "SET LOCAL statement_timeout = 0", NOARGS, e);
		if (rc >= 0)
			rc = store_exec(tx, "SELECT pg_advisory_xact_lock(74110001)", NOARGS, e);
		if (rc < 0)
			return rc;
	}
	rc = tx->s->ops->exec_script(tx,
				     "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, "
				     "applied_at BIGINT NOT NULL)",
				     e);
	if (rc < 0)
		return rc;
	int64_t n = 0;
	rc = store_get_int(tx, "SELECT count(*) FROM schema_migrations WHERE name = $1", ARGS(SA_TEXT(m->f->name)),
			   &n, e);
	if (rc < 0)
		return rc;
	if (n > 0)
		return 0;
	struct buf sql = BUF_INIT;
	store_expand_sql(&sql, m->f->data, tx->s->kind);
	rc = tx->s->ops->exec_script(tx, sql.ptr, e);
	buf_free(&sql);
	if (rc < 0)
		return err_set(e, rc, "migration %s: %s", m->f->name, e->msg);
	rc = store_exec(tx, "INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)",
			ARGS(SA_TEXT(m->f->name), SA_INT(time_now_us())), e);
	if (rc < 0)
		return rc;
	m->applied = 1;
	return 0;
}

int store_migrate(struct store *s, struct err *e)
{
	int total = 0;
	for (const struct embedded_file *f = embedded_migrations; f->name; f++) {
		struct migrate_ctx m = {f, 0};
		int rc = store_write(s, migrate_one, &m, e);
		if (rc < 0)
			return rc;
		if (m.applied)
			log_info("applied migration %s", f->name);
		total += m.applied;
	}
	return total;
}
