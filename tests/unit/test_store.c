/* test_store.c: the store interface (store.h), the same cases on each backend:
 * SQLite on a temporary file always, PostgreSQL when TINHSO_TEST_PG_URL is set
 * (e.g. TINHSO_TEST_PG_URL=$(scripts/pg-cluster start /tmp/pgt)); without it the
 * PostgreSQL group is reported as skipped. Each PostgreSQL test starts from an
 * empty schema public (DROP SCHEMA public CASCADE), so the tests can be re-run
 * against the same database: point it at a throwaway database only. A few cases are PostgreSQL-only (reconnect after
 * the server killed the connections, deadlock retry, pool exhaustion,
 * statement timeout). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/embed.h"
#include "base/log.h"
#include "store/store.h"
#include "support/testapp.h"

struct fx {
	enum store_kind kind;
	bool skip;
	struct store *s;
	char dir[64];
	char url[1024];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct store_options default_opt = {.pool_size = 8, .busy_timeout_ms = 5000, .batch_max = 256};

static void fx_open(struct fx *f, const struct store_options *opt)
{
	struct err e = {0};
	int rc = store_open(&f->s, f->url, opt ? opt : &default_opt, &e);
	if (rc != 0)
		fail_msg("store_open(%s): %d %s", f->kind == STORE_SQLITE ? "sqlite" : "postgres", rc, e.msg);
	assert_int_equal(store_kind(f->s), f->kind);
}

static void fx_reopen(struct fx *f, const struct store_options *opt)
{
	store_close(f->s);
	f->s = NULL;
	fx_open(f, opt);
}

static int setup_sqlite(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->kind = STORE_SQLITE;
	snprintf(f->dir, sizeof f->dir, "/tmp/tinhso-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->url, sizeof f->url, "sqlite:%s/t.db", f->dir);
	fx_open(f, NULL);
	*state = f;
	return 0;
}

static int setup_pg(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->kind = STORE_POSTGRES;
	*state = f;
	if (!testapp_pg_url()) {
		f->skip = true; /* the test body calls skip(): cmocka reports a skip only from there */
		return 0;
	}
	snprintf(f->url, sizeof f->url, "%s", testapp_pg_url());
	testapp_pg_reset();
	fx_open(f, NULL);
	return 0;
}

static bool sync_release(void);

static int teardown(void **state)
{
	struct fx *f = *state;
	if (sync_release())
		usleep(300 * 1000); /* a failed durability test: let its held threads finish first */
	store_close(f->s);
	if (f->kind == STORE_SQLITE) {
		static const char *const names[] = {"t.db",    "t.db-wal",    "t.db-shm",
						    "copy.db", "copy.db-wal", "copy.db-shm"};
		char p[128];
		for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
			snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
			unlink(p);
		}
		rmdir(f->dir);
	}
	free(f);
	return 0;
}

static struct fx *fx(void **state)
{
	struct fx *f = *state;
	if (f->skip) {
		print_message("TINHSO_TEST_PG_URL is not set: PostgreSQL test skipped\n");
		skip();
	}
	return f;
}

/* ---- helpers: one statement in its own transaction ---- */

struct one {
	const char *sql;
	const struct store_arg *args;
	int nargs;
	int n;
	int64_t v;
};

static int cb_exec(struct store_tx *tx, void *arg, struct err *e)
{
	struct one *o = arg;
	o->n = store_exec(tx, o->sql, o->args, o->nargs, e);
	return o->n < 0 ? o->n : 0;
}

static int cb_get_int(struct store_tx *tx, void *arg, struct err *e)
{
	struct one *o = arg;
	o->n = store_get_int(tx, o->sql, o->args, o->nargs, &o->v, e);
	return o->n < 0 ? o->n : 0;
}

/* store_exec in store_write: the rows changed, or the error */
static int write1(struct store *s, const char *sql, const struct store_arg *args, int nargs, struct err *e)
{
	struct one o = {sql, args, nargs, 0, 0};
	int rc = store_write(s, cb_exec, &o, e);
	return rc < 0 ? rc : o.n;
}

static void must_write(struct store *s, const char *sql, const struct store_arg *args, int nargs)
{
	struct err e = {0};
	int rc = write1(s, sql, args, nargs, &e);
	if (rc < 0)
		fail_msg("%s: %d %s", sql, rc, e.msg);
}

static int64_t read_int(struct store *s, const char *sql, const struct store_arg *args, int nargs)
{
	struct err e = {0};
	struct one o = {sql, args, nargs, 0, -12345};
	int rc = store_read(s, cb_get_int, &o, &e);
	if (rc < 0)
		fail_msg("%s: %d %s", sql, rc, e.msg);
	assert_int_equal(o.n, 1);
	return o.v;
}

static void make_kv(struct store *s)
{
	must_write(s, "CREATE TABLE kv (k TEXT PRIMARY KEY, i BIGINT, t TEXT)", NOARGS);
}

static int64_t count_kv(struct store *s)
{
	return read_int(s, "SELECT count(*) FROM kv", NOARGS);
}

/* ---- cases on both backends ---- */

static void test_migrate(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	int nfiles = 0;
	for (const struct embedded_file *m = embedded_migrations; m->name; m++)
		nfiles++;
	assert_true(nfiles >= 1);
	int rc = store_migrate(f->s, &e);
	if (rc < 0)
		fail_msg("migrate: %s", e.msg);
	assert_int_equal(rc, nfiles);
	assert_int_equal(store_migrate(f->s, &e), 0);
	/* and from a fresh handle too */
	fx_reopen(f, NULL);
	assert_int_equal(store_migrate(f->s, &e), 0);
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM schema_migrations", NOARGS), nfiles);
	assert_int_equal(read_int(f->s, "SELECT seq FROM audit_head WHERE id = 1", NOARGS), 0);
	/* {{id}} became an auto-increment key on this backend */
	must_write(f->s,
		   "INSERT INTO users (username, role, full_name, password_hash, password_changed_at, created_at, "
		   "updated_at) VALUES ($1, 'admin', $2, 'x', 0, 0, 0)",
		   ARGS(SA_TEXT("admin"), SA_TEXT("Quản trị")));
	must_write(f->s,
		   "INSERT INTO users (username, role, full_name, password_hash, password_changed_at, created_at, "
		   "updated_at) VALUES ($1, 'admin', $2, 'x', 0, 0, 0)",
		   ARGS(SA_TEXT("admin2"), SA_TEXT("Quản trị 2")));
	assert_int_equal(read_int(f->s, "SELECT id FROM users WHERE username = $1", ARGS(SA_TEXT("admin2"))), 2);
}

struct types_ctx {
	int failures;
	char msg[512];
};

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			snprintf(c->msg, sizeof c->msg, "line %d: %s", __LINE__, #cond);                               \
			c->failures++;                                                                                 \
			return 0;                                                                                      \
		}                                                                                                      \
	} while (0)

static const char *const HD = "Hải Dương";

static int cb_check_types(struct store_tx *tx, void *arg, struct err *e)
{
	struct types_ctx *c = arg;
	struct store_q *q;
	int rc = store_query(tx, "SELECT k, i, t FROM kv ORDER BY k", NOARGS, &q, e);
	CHECK(rc == 0);
	/* a */
	CHECK(store_step(q, e) == 1);
	CHECK(strcmp(store_text(q, 0), "a") == 0);
	CHECK(store_int(q, 1) == 42);
	CHECK(!store_isnull(q, 1));
	CHECK(strcmp(store_text(q, 2), HD) == 0);
	CHECK(store_textlen(q, 2) == (int)strlen(HD));
	struct arena a = ARENA_INIT;
	char *dup = store_dup(q, 2, &a);
	CHECK(dup && strcmp(dup, HD) == 0);
	/* b: NULLs */
	CHECK(store_step(q, e) == 1);
	CHECK(strcmp(store_text(q, 0), "b") == 0);
	CHECK(store_isnull(q, 1) && store_isnull(q, 2));
	CHECK(store_int(q, 1) == 0);
	CHECK(store_text(q, 2) != NULL && store_text(q, 2)[0] == 0);
	CHECK(store_textlen(q, 2) == 0);
	CHECK(store_dup(q, 2, &a) == NULL);
	/* c: large negative, SA_TEXTN */
	CHECK(store_step(q, e) == 1);
	CHECK(store_int(q, 1) == -9007199254740993LL);
	CHECK(strcmp(store_text(q, 2), "xyz") == 0);
	/* d: INT64_MAX, empty string is not NULL */
	CHECK(store_step(q, e) == 1);
	CHECK(store_int(q, 1) == INT64_MAX);
	CHECK(!store_isnull(q, 2));
	CHECK(store_textlen(q, 2) == 0);
	CHECK(store_step(q, e) == 0);
	store_done(q);
	arena_free(&a);

	int64_t v = 0;
	CHECK(store_get_int(tx, "SELECT i FROM kv WHERE t = $1", ARGS(SA_TEXT(HD)), &v, e) == 1 && v == 42);
	/* a text parameter with an explicit length, not NUL-terminated */
	CHECK(store_get_int(tx, "SELECT i FROM kv WHERE k = $1", ARGS(SA_TEXTN("aXXX", 1)), &v, e) == 1 && v == 42);
	/* the portable optional filter: CAST($1 AS TEXT) IS NULL (a bare $1 IS NULL has no type on PostgreSQL) */
	static const char opt_filter[] = "SELECT count(*) FROM kv WHERE (CAST($1 AS TEXT) IS NULL OR k = $1)";
	CHECK(store_get_int(tx, opt_filter, ARGS(SA_NULL), &v, e) == 1 && v == 4);
	CHECK(store_get_int(tx, opt_filter, ARGS(SA_TEXT("a")), &v, e) == 1 && v == 1);
	/* an int parameter against a BIGINT column and in arithmetic */
	CHECK(store_get_int(tx, "SELECT i + $1 FROM kv WHERE k = 'a'", ARGS(SA_INT(8)), &v, e) == 1 && v == 50);
	/* booleans read as 0/1 on both */
	CHECK(store_get_int(tx, "SELECT count(*) > 0 FROM kv", NOARGS, &v, e) == 1 && v == 1);
	CHECK(store_get_int(tx, "SELECT count(*) > 100 FROM kv", NOARGS, &v, e) == 1 && v == 0);
	char *s = NULL;
	CHECK(store_get_text(tx, "SELECT t FROM kv WHERE k = $1", ARGS(SA_TEXT("a")), &a, &s, e) == 1);
	CHECK(s && strcmp(s, HD) == 0);
	arena_free(&a);
	return 0;
}

static void test_types(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	const char *ins = "INSERT INTO kv (k, i, t) VALUES ($1, $2, $3)";
	assert_int_equal(write1(f->s, ins, ARGS(SA_TEXT("a"), SA_INT(41), SA_TEXT(HD)), &e), 1);
	assert_int_equal(write1(f->s, ins, ARGS(SA_TEXT("b"), SA_NULL, SA_TEXT(NULL)), &e), 1);
	assert_int_equal(write1(f->s, ins, ARGS(SA_TEXT("c"), SA_INT(-9007199254740992LL), SA_TEXTN("xyzzy", 3)), &e),
			 1);
	assert_int_equal(write1(f->s, ins, ARGS(SA_TEXT("d"), SA_INT(INT64_MAX), SA_TEXT("")), &e), 1);
	/* rows changed */
	assert_int_equal(write1(f->s, "UPDATE kv SET i = i + 1 WHERE k = 'a' OR k = 'c'", NOARGS, &e), 2);
	assert_int_equal(write1(f->s, "UPDATE kv SET i = i - 2 WHERE k = 'c'", NOARGS, &e), 1);
	assert_int_equal(write1(f->s, "UPDATE kv SET i = 0 WHERE k = 'zzz'", NOARGS, &e), 0);
	/* a SELECT through exec is allowed */
	assert_true(write1(f->s, "SELECT k FROM kv", NOARGS, &e) >= 0);

	struct types_ctx c = {0};
	assert_int_equal(store_read(f->s, cb_check_types, &c, &e), 0);
	if (c.failures)
		fail_msg("%s (%s)", c.msg, e.msg);

	/* a broken statement is an internal error, counted */
	struct store_stats before, after;
	store_stats_get(f->s, &before);
	int rc = write1(f->s, "SELEC nonsense", NOARGS, &e);
	assert_int_equal(rc, ERR_INTERNAL);
	store_stats_get(f->s, &after);
	assert_int_equal(after.errors, before.errors + 1);
	/* so is a parameter too many; the store carries on */
	rc = write1(f->s, "UPDATE kv SET i = $1 WHERE k = 'zzz'", ARGS(SA_INT(1), SA_INT(2)), &e);
	assert_int_equal(rc, ERR_INTERNAL);
	assert_int_equal(count_kv(f->s), 4);
}

/* ---- a cached SELECT * survives a schema change ---- */

static const char *const SQL_STAR = "SELECT * FROM kv ORDER BY k";

static int cb_star(struct store_tx *tx, void *arg, struct err *e)
{
	char *out = arg;
	struct store_q *q;
	int rc = store_query(tx, SQL_STAR, NOARGS, &q, e);
	if (rc < 0)
		return rc;
	if ((rc = store_step(q, e)) == 1)
		snprintf(out, 64, "%s|%s|%s", store_text(q, 0), store_text(q, 2), store_text(q, 3));
	store_done(q);
	return rc < 0 ? rc : 0;
}

static void test_schema_change(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	/* one connection: the second SELECT * runs where the first was prepared */
	struct store_options opt = {.pool_size = 1, .busy_timeout_ms = 5000, .batch_max = 16};
	fx_reopen(f, &opt);
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ('a', 1, 'one')", NOARGS);
	char out[64] = "";
	assert_int_equal(store_read(f->s, cb_star, out, &e), 0);
	assert_string_equal(out, "a|one|");
	must_write(f->s, "ALTER TABLE kv ADD COLUMN extra TEXT DEFAULT 'new'", NOARGS);
	int rc = store_read(f->s, cb_star, out, &e);
	if (rc != 0)
		fail_msg("SELECT * after ALTER TABLE: %d %s", rc, e.msg);
	assert_string_equal(out, "a|one|new");
}

static void test_conflict(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	const char *ins = "INSERT INTO kv (k, i) VALUES ($1, $2)";
	assert_int_equal(write1(f->s, ins, ARGS(SA_TEXT("secret-42"), SA_INT(1)), &e), 1);
	struct store_stats before, after;
	store_stats_get(f->s, &before);
	int rc = write1(f->s, ins, ARGS(SA_TEXT("secret-42"), SA_INT(2)), &e);
	assert_int_equal(rc, ERR_CONFLICT);
	assert_int_equal(e.code, ERR_CONFLICT);
	assert_true(strncmp(e.msg, "already exists", 14) == 0);
	/* both backends name the table and column the SQLite way */
	assert_non_null(strstr(e.msg, "kv.k"));
	/* the value is not in the message (it may be a secret) */
	assert_null(strstr(e.msg, "secret-42"));
	if (getenv("TINHSO_TEST_VERBOSE"))
		print_message("conflict message: %s\n", e.msg);
	store_stats_get(f->s, &after);
	assert_int_equal(after.errors, before.errors); /* a conflict is not a database failure */
	assert_int_equal(read_int(f->s, "SELECT i FROM kv WHERE k = 'secret-42'", NOARGS), 1);
	/* other constraints: NOT NULL is a conflict too */
	must_write(f->s, "CREATE TABLE nn (a TEXT NOT NULL)", NOARGS);
	assert_int_equal(write1(f->s, "INSERT INTO nn (a) VALUES ($1)", ARGS(SA_NULL), &e), ERR_CONFLICT);
}

/* ---- a failing write callback rolls back only its own changes ---- */

struct rb {
	struct store *s;
	int thread;
	int n;
	int bad_rc; /* writes whose result was not the expected one */
};

struct rb_job {
	int key;
	bool fail;
};

static int cb_rb(struct store_tx *tx, void *arg, struct err *e)
{
	struct rb_job *j = arg;
	char k[32];
	snprintf(k, sizeof k, "%s-%d", j->fail ? "bad" : "good", j->key);
	int rc =
	    store_exec(tx, "INSERT INTO kv (k, i) VALUES ($1, $2)", ARGS(SA_TEXTN(k, strlen(k)), SA_INT(j->key)), e);
	if (rc < 0)
		return rc;
	rc = store_exec(tx, "UPDATE kv SET i = i + 1 WHERE k = 'counter'", NOARGS, e);
	if (rc < 0)
		return rc;
	if (j->fail)
		return err_set(e, ERR_INVALID, "job %d refuses", j->key);
	return 0;
}

static void *rb_thread(void *arg)
{
	struct rb *r = arg;
	for (int i = 0; i < r->n; i++) {
		struct rb_job j = {r->thread * 1000 + i, i % 2 == 1};
		struct err e = {0};
		int rc = store_write(r->s, cb_rb, &j, &e);
		if (j.fail ? rc != ERR_INVALID || e.code != ERR_INVALID || !strstr(e.msg, "refuses") : rc != 0)
			r->bad_rc++;
	}
	return NULL;
}

static void test_rollback_own(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i) VALUES ('counter', 0)", NOARGS);
	/* one at a time */
	struct rb_job good = {1, false}, bad = {2, true};
	assert_int_equal(store_write(f->s, cb_rb, &good, &e), 0);
	assert_int_equal(store_write(f->s, cb_rb, &bad, &e), ERR_INVALID);
	assert_int_equal(count_kv(f->s), 2);
	assert_int_equal(read_int(f->s, "SELECT i FROM kv WHERE k = 'counter'", NOARGS), 1);
	/* concurrently: on SQLite the good and bad ones share group commits */
	enum { T = 4, N = 60 };
	pthread_t th[T];
	struct rb r[T];
	for (int t = 0; t < T; t++) {
		r[t] = (struct rb){f->s, t + 1, N, 0};
		assert_int_equal(pthread_create(&th[t], NULL, rb_thread, &r[t]), 0);
	}
	for (int t = 0; t < T; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(r[t].bad_rc, 0);
	}
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM kv WHERE k LIKE 'bad-%'", NOARGS), 0);
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM kv WHERE k LIKE 'good-%'", NOARGS), 1 + T * N / 2);
	assert_int_equal(read_int(f->s, "SELECT i FROM kv WHERE k = 'counter'", NOARGS), 1 + T * N / 2);
}

/* ---- 8 threads x 200 concurrent writes ---- */

enum { CW_THREADS = 8, CW_PER = 200 };

struct cw {
	struct store *s;
	int t;
	int failed;
	char msg[sizeof(((struct err *)0)->msg)];
};

struct cw_job {
	int t, i;
};

static int cb_cw(struct store_tx *tx, void *arg, struct err *e)
{
	struct cw_job *j = arg;
	int rc = store_exec(tx, "INSERT INTO w (t, i, note) VALUES ($1, $2, $3)",
			    ARGS(SA_INT(j->t), SA_INT(j->i), SA_TEXT(HD)), e);
	return rc < 0 ? rc : 0;
}

static void *cw_thread(void *arg)
{
	struct cw *c = arg;
	for (int i = 0; i < CW_PER; i++) {
		struct cw_job j = {c->t, i};
		struct err e = {0};
		if (store_write(c->s, cb_cw, &j, &e) != 0) {
			c->failed++;
			snprintf(c->msg, sizeof c->msg, "%s", e.msg);
		}
	}
	return NULL;
}

static void test_concurrent_writes(void **state)
{
	struct fx *f = fx(state);
	must_write(f->s, "CREATE TABLE w (t BIGINT NOT NULL, i BIGINT NOT NULL, note TEXT, PRIMARY KEY (t, i))",
		   NOARGS);
	struct store_stats before, after;
	store_stats_get(f->s, &before);
	pthread_t th[CW_THREADS];
	struct cw c[CW_THREADS];
	double t0 = now_s();
	for (int t = 0; t < CW_THREADS; t++) {
		c[t] = (struct cw){.s = f->s, .t = t};
		assert_int_equal(pthread_create(&th[t], NULL, cw_thread, &c[t]), 0);
	}
	for (int t = 0; t < CW_THREADS; t++)
		pthread_join(th[t], NULL);
	double dt = now_s() - t0;
	for (int t = 0; t < CW_THREADS; t++)
		if (c[t].failed)
			fail_msg("thread %d: %d writes failed: %s", t, c[t].failed, c[t].msg);
	store_stats_get(f->s, &after);
	const int total = CW_THREADS * CW_PER;
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM w", NOARGS), total);
	assert_int_equal(read_int(f->s, "SELECT count(DISTINCT t * 1000 + i) FROM w", NOARGS), total);
	uint64_t commits = after.commits - before.commits, batched = after.batched - before.batched;
	print_message(
	    "%s: %d durable writes from %d threads in %.3f s = %.0f writes/s; %llu commits (mean group %.1f)\n",
	    f->kind == STORE_SQLITE ? "sqlite" : "postgres", total, CW_THREADS, dt, total / dt,
	    (unsigned long long)commits, commits ? (double)batched / (double)commits : 0.0);
	assert_int_equal(batched, total);
	if (f->kind == STORE_SQLITE)
		assert_true(commits < (uint64_t)total); /* group commit happened */
	else
		assert_int_equal(commits, total);
}

/* ---- optional conditions: "[[ ... ]]" kept only when their parameters are given ---- */

static int cb_opt_fill(struct store_tx *tx, void *arg, struct err *e)
{
	(void)arg;
	static const char *const rows[][2] = {{"a1", "x"}, {"a2", "x"}, {"b1", "y"}, {"b2", "y"}, {"b3", "z"}};
	for (int i = 0; i < 5; i++) {
		int rc = store_exec(tx, "INSERT INTO kv (k, i, t) VALUES ($1, $2, $3)",
				    ARGS(SA_TEXT(rows[i][0]), SA_INT(i + 1), SA_TEXT(rows[i][1])), e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const char *const OPT_COUNT = "SELECT count(*) FROM kv WHERE i >= $3 [[AND t = $1]] [[AND k = $2]]";
static const char *const OPT_SUM =
    "SELECT coalesce(sum(i), 0) FROM kv WHERE 1 = 1 [[AND t = $1]] [[AND i <= $2 AND i >= $3]] AND i < $4";

static int64_t opt_count(struct store *s, const char *t, const char *k, int64_t min)
{
	return read_int(s, OPT_COUNT, ARGS(SA_TEXT(t), SA_TEXT(k), SA_INT(min)));
}

static void test_optional_conditions(void **state)
{
	struct fx *f = fx(state);
	make_kv(f->s);
	struct err e = {0};
	assert_int_equal(store_write(f->s, cb_opt_fill, NULL, &e), 0);
	assert_int_equal(opt_count(f->s, NULL, NULL, 0), 5);	 /* both left out */
	assert_int_equal(opt_count(f->s, "y", NULL, 0), 2);	 /* $1 kept, $2 dropped */
	assert_int_equal(opt_count(f->s, NULL, "b3", 0), 1);	 /* $2 kept and renumbered */
	assert_int_equal(opt_count(f->s, "y", "b3", 0), 0);	 /* both */
	assert_int_equal(opt_count(f->s, "y", NULL, 4), 1);	 /* the plain condition still applies */
	assert_int_equal(opt_count(f->s, NULL, NULL, 0), 5); /* the same variant again, from the cache */
	/* a clause with two parameters is kept only when both are given */
	assert_int_equal(read_int(f->s, OPT_SUM, ARGS(SA_TEXT("x"), SA_INT(2), SA_INT(2), SA_INT(99))), 2);
	assert_int_equal(read_int(f->s, OPT_SUM, ARGS(SA_TEXT("x"), SA_NULL, SA_INT(2), SA_INT(99))), 3);
	assert_int_equal(read_int(f->s, OPT_SUM, ARGS(SA_NULL, SA_NULL, SA_NULL, SA_INT(5))), 1 + 2 + 3 + 4);
	/* store_exec too */
	assert_int_equal(write1(f->s, "UPDATE kv SET i = i + 10 WHERE i > 0 [[AND t = $1]]", ARGS(SA_TEXT("z")), &e), 1);
	assert_int_equal(write1(f->s, "UPDATE kv SET i = i + 10 WHERE i > 0 [[AND t = $1]]", ARGS(SA_NULL), &e), 5);
	assert_int_equal(read_int(f->s, "SELECT sum(i) FROM kv", NOARGS), 15 + 60);
}

/* ---- SQLite checkpoints: in steps, not one per commit ---- */

static void test_checkpoint_steps(void **state)
{
	struct fx *f = fx(state);
	make_kv(f->s);
	struct store_stats before, after;
	store_stats_get(f->s, &before);
	/* 3000 commits of one row each: at least one WAL frame each */
	for (int i = 0; i < 3000; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ($1, $2, 'x')", ARGS(SA_TEXT(k), SA_INT(i)));
	}
	usleep(200 * 1000); /* the checkpointer runs on its own thread */
	store_stats_get(f->s, &after);
	uint64_t n = after.checkpoints - before.checkpoints;
	print_message("sqlite: 3000 commits, %llu checkpoints\n", (unsigned long long)n);
	/* a checkpoint at 1000 frames, then every 500 more while the WAL cannot
	 * start again; checkpointing after every commit once past 1000 frames
	 * (the bug) made hundreds */
	assert_true(n >= 1);
	assert_true(n <= 20);
	assert_int_equal(count_kv(f->s), 3000);
}

/* ---- SQLite durability: nothing answered or shown before its fdatasync ---- */

/* test_store links the store statically and libsqlite3 calls fdatasync through
 * its PLT, so this definition replaces libc's for both. While sync_hold is set
 * every call waits, so the test can look at the store between a commit and
 * the fsync that makes it durable. */
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sync_cv = PTHREAD_COND_INITIALIZER;
static bool sync_hold;
static int sync_waiting;
static bool sync_fail; /* fail every call with EIO */

int fdatasync(int fd)
{
	pthread_mutex_lock(&sync_mu);
	sync_waiting++;
	pthread_cond_broadcast(&sync_cv);
	while (sync_hold)
		pthread_cond_wait(&sync_cv, &sync_mu);
	sync_waiting--;
	bool fail = sync_fail;
	pthread_mutex_unlock(&sync_mu);
	if (fail) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

static void sync_set_hold(bool hold)
{
	pthread_mutex_lock(&sync_mu);
	sync_hold = hold;
	pthread_cond_broadcast(&sync_cv);
	pthread_mutex_unlock(&sync_mu);
}

/* Ends a hold left by a failed test; true when there was one. */
static bool sync_release(void)
{
	pthread_mutex_lock(&sync_mu);
	bool held = sync_hold;
	sync_hold = false;
	pthread_cond_broadcast(&sync_cv);
	pthread_mutex_unlock(&sync_mu);
	return held;
}

/* Waits (up to 10 s) until n fdatasync calls are held. */
static void sync_wait_held(int n)
{
	pthread_mutex_lock(&sync_mu);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (sync_waiting < n)
		if (pthread_cond_timedwait(&sync_cv, &sync_mu, &until) != 0)
			break;
	int got = sync_waiting;
	pthread_mutex_unlock(&sync_mu);
	if (got < n)
		fail_msg("%d fdatasync calls held, expected %d", got, n);
}

struct dw {
	struct store *s;
	const char *key;
	int sleep_ms; /* inside the callback: keeps the writer busy */
	int rc;
	int64_t seen; /* readers: rows with that key */
	atomic_bool done;
};

static int cb_dw(struct store_tx *tx, void *arg, struct err *e)
{
	struct dw *d = arg;
	if (d->sleep_ms)
		usleep((useconds_t)d->sleep_ms * 1000);
	int rc = store_exec(tx, "INSERT INTO kv (k, i, t) VALUES ($1, 1, 'x')", ARGS(SA_TEXT(d->key)), e);
	return rc < 0 ? rc : 0;
}

static void *dw_write(void *arg)
{
	struct dw *d = arg;
	struct err e = {0};
	d->rc = store_write(d->s, cb_dw, d, &e);
	atomic_store(&d->done, true);
	return NULL;
}

static void *dw_read(void *arg)
{
	struct dw *d = arg;
	struct err e = {0};
	struct one o = {"SELECT count(*) FROM kv WHERE k = $1", ARGS(SA_TEXT(d->key)), 0, -1};
	d->rc = store_read(d->s, cb_get_int, &o, &e);
	d->seen = o.v;
	atomic_store(&d->done, true);
	return NULL;
}

/* static, not on the test's stack: when an assertion fails, the threads still
 * held in fdatasync outlive the test (teardown releases them) */
enum { DW_QUEUED = 16 };
static struct dw dw_w, dw_r, dw_a, dw_r2, dw_q[DW_QUEUED];
static char dw_qkey[DW_QUEUED][8];

static void test_durable_before_seen(void **state)
{
	struct fx *f = fx(state);
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ('k0', 0, 'x')", NOARGS); /* the WAL exists */

	/* 1. a write committed on its caller's thread (the writer was idle) */
	sync_set_hold(true);
	dw_w = (struct dw){f->s, "k1", 0, -1, -1, false};
	dw_r = (struct dw){f->s, "k1", 0, -1, -1, false};
	pthread_t tw, tr;
	assert_int_equal(pthread_create(&tw, NULL, dw_write, &dw_w), 0);
	sync_wait_held(1); /* committed: its fdatasync has begun */
	assert_int_equal(pthread_create(&tr, NULL, dw_read, &dw_r), 0);
	usleep(150 * 1000);
	/* neither the writer is answered nor can a reader show the row before
	 * the fsync returns (with synchronous=FULL the row was not even visible
	 * yet; without the read gate the reader returned it at once) */
	assert_false(atomic_load(&dw_w.done));
	assert_false(atomic_load(&dw_r.done));
	sync_set_hold(false);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	assert_int_equal(dw_w.rc, 0);
	assert_int_equal(dw_r.rc, 0);
	assert_int_equal(dw_r.seen, 1);

	/* 2. writes queued behind a busy writer: a group of them committed by the
	 * writer thread while the first write's fsync is held (enough of them
	 * queue not to wait for it: SQ_GROUP_MIN), made durable by the syncer */
	sync_set_hold(true);
	dw_a = (struct dw){f->s, "k2", 200, -1, -1, false};
	dw_r2 = (struct dw){f->s, "q15", 0, -1, -1, false};
	pthread_t ta, tq[DW_QUEUED], tr2;
	assert_int_equal(pthread_create(&ta, NULL, dw_write, &dw_a), 0);
	usleep(50 * 1000); /* it holds the writer in its callback */
	for (int i = 0; i < DW_QUEUED; i++) {
		snprintf(dw_qkey[i], sizeof dw_qkey[i], "q%d", i);
		dw_q[i] = (struct dw){f->s, dw_qkey[i], 0, -1, -1, false};
		assert_int_equal(pthread_create(&tq[i], NULL, dw_write, &dw_q[i]), 0);
	}
	sync_wait_held(2); /* its own fdatasync, then the syncer's for the queued */
	assert_int_equal(pthread_create(&tr2, NULL, dw_read, &dw_r2), 0);
	usleep(150 * 1000);
	assert_false(atomic_load(&dw_a.done));
	for (int i = 0; i < DW_QUEUED; i++)
		assert_false(atomic_load(&dw_q[i].done));
	assert_false(atomic_load(&dw_r2.done));
	sync_set_hold(false);
	pthread_join(ta, NULL);
	for (int i = 0; i < DW_QUEUED; i++)
		pthread_join(tq[i], NULL);
	pthread_join(tr2, NULL);
	assert_int_equal(dw_a.rc, 0);
	for (int i = 0; i < DW_QUEUED; i++)
		assert_int_equal(dw_q[i].rc, 0);
	assert_int_equal(dw_r2.seen, 1);
	assert_int_equal(count_kv(f->s), 3 + DW_QUEUED);
}

/* A failed fdatasync: the kernel may have dropped the pages, so the writer
 * waiting for it gets 503, and the store refuses writes and fails its ping
 * (so /readyz) until it is opened again. */
static void test_sync_failure(void **state)
{
	struct fx *f = fx(state);
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ('k0', 0, 'x')", NOARGS);
	struct err e = {0};
	pthread_mutex_lock(&sync_mu);
	sync_fail = true;
	pthread_mutex_unlock(&sync_mu);
	int rc = write1(f->s, "INSERT INTO kv (k, i, t) VALUES ('k1', 1, 'x')", NOARGS, &e);
	pthread_mutex_lock(&sync_mu);
	sync_fail = false;
	pthread_mutex_unlock(&sync_mu);
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "durable"));
	err_clear(&e);
	rc = write1(f->s, "INSERT INTO kv (k, i, t) VALUES ('k2', 2, 'x')", NOARGS, &e);
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "restart"));
	err_clear(&e);
	assert_int_equal(store_ping(f->s, &e), ERR_UNAVAILABLE);
	/* opened again (a restart): what SQLite has is there, writes work */
	fx_reopen(f, NULL);
	assert_int_equal(store_ping(f->s, &e), 0);
	must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ('k3', 3, 'x')", NOARGS);
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM kv WHERE k IN ('k0', 'k3')", NOARGS), 2);
}

/* ---- SQLite WAL frames: one write per commit, and recoverable ---- */

/* pwrite calls of SQLite's unix VFS, counted through its system call table */
static sqlite3_syscall_ptr real_pwrite64;
static atomic_int pwrites;

static ssize_t count_pwrite64(int fd, const void *b, size_t n, off_t off)
{
	atomic_fetch_add(&pwrites, 1);
	return ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite64)(fd, b, n, off);
}

/* n rows of keys b<from>.., each with a text of size bytes (1200 by default) */
struct bulk {
	int from, n, size;
};

static int cb_bulk(struct store_tx *tx, void *arg, struct err *e)
{
	struct bulk *b = arg;
	char big[4096];
	size_t size = b->size > 0 && b->size < (int)sizeof big ? (size_t)b->size : 1200;
	memset(big, 'x', size - 1);
	big[size - 1] = 0;
	for (int i = b->from; i < b->from + b->n; i++) {
		char k[16];
		snprintf(k, sizeof k, "b%05d", i);
		int rc = store_exec(tx, "INSERT INTO kv (k, i, t) VALUES ($1, $2, $3)",
				    ARGS(SA_TEXT(k), SA_INT(i), SA_TEXT(big)), e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void test_wal_one_write_per_commit(void **state)
{
	struct fx *f = fx(state);
	make_kv(f->s);
	struct err e = {0};
	struct bulk b = {0, 10, 0};
	assert_int_equal(store_write(f->s, cb_bulk, &b, &e), 0); /* the WAL and its header exist */

	sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
	assert_non_null(unix_vfs);
	real_pwrite64 = unix_vfs->xGetSystemCall(unix_vfs, "pwrite64");
	assert_non_null(real_pwrite64);
	atomic_store(&pwrites, 0);
	assert_int_equal(unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", (sqlite3_syscall_ptr)count_pwrite64),
			 SQLITE_OK);
	/* 60 rows of 1.2 KB: about 25 pages, 50 frame writes as SQLite issues them;
	 * then 20 single-row commits */
	b = (struct bulk){10, 60, 0};
	int rc = store_write(f->s, cb_bulk, &b, &e);
	int bulk_writes = atomic_exchange(&pwrites, 0);
	for (int i = 0; i < 20 && rc == 0; i++) {
		b = (struct bulk){100 + i, 1, 0};
		rc = store_write(f->s, cb_bulk, &b, &e);
	}
	int small_writes = atomic_load(&pwrites);
	unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", real_pwrite64);
	assert_int_equal(rc, 0);
	print_message("sqlite: a 60-row commit took %d pwrite calls, 20 one-row commits %d\n", bulk_writes,
		      small_writes);
	/* the frames of a commit under 128 KiB go out in one call */
	assert_int_equal(bulk_writes, 1);
	assert_int_equal(small_writes, 20);

	/* a crash now: the files as they are, without a checkpoint or close, open
	 * with every committed row (recovery replays the WAL written that way) */
	char src[128], dst[128];
	static const char *const ext[] = {"", "-wal"};
	for (int i = 0; i < 2; i++) {
		snprintf(src, sizeof src, "%s/t.db%s", f->dir, ext[i]);
		snprintf(dst, sizeof dst, "%s/copy.db%s", f->dir, ext[i]);
		FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
		assert_non_null(in);
		assert_non_null(out);
		char chunk[65536];
		size_t n;
		while ((n = fread(chunk, 1, sizeof chunk, in)) > 0)
			assert_int_equal(fwrite(chunk, 1, n, out), n);
		fclose(in);
		fclose(out);
	}
	char url[160];
	snprintf(url, sizeof url, "sqlite:%s/copy.db", f->dir);
	struct store *copy;
	assert_int_equal(store_open(&copy, url, &default_opt, &e), 0);
	assert_int_equal(count_kv(copy), 90);
	assert_int_equal(read_int(copy, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'",
				  NOARGS),
			 1);
	store_close(copy);
}

/* ---- SQLite WAL size: bounded under a burst, emptied when writes pause ---- */

enum { WB_THREADS = 8, WB_PER = 300, WB_MAX_PAGES = 1500 };

struct wb {
	struct store *s;
	int t, failed;
};

static void *wb_thread(void *arg)
{
	struct wb *w = arg;
	for (int i = 0; i < WB_PER; i++) {
		struct bulk b = {w->t * WB_PER + i, 1, 3000};
		struct err e = {0};
		if (store_write(w->s, cb_bulk, &b, &e) != 0)
			w->failed++;
	}
	return NULL;
}

static int64_t wal_size(struct fx *f)
{
	char p[128];
	snprintf(p, sizeof p, "%s/t.db-wal", f->dir);
	struct stat st;
	return stat(p, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void test_wal_bounded(void **state)
{
	struct fx *f = fx(state);
	struct store_options opt = default_opt;
	opt.wal_max_pages = WB_MAX_PAGES;
	opt.wal_idle_ms = 300;
	fx_reopen(f, &opt);
	make_kv(f->s);
	pthread_t th[WB_THREADS];
	struct wb w[WB_THREADS];
	for (int t = 0; t < WB_THREADS; t++) {
		w[t] = (struct wb){f->s, t, 0};
		assert_int_equal(pthread_create(&th[t], NULL, wb_thread, &w[t]), 0);
	}
	for (int t = 0; t < WB_THREADS; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(w[t].failed, 0);
	}
	/* 2400 rows of 3 KB: about 10 MiB of frames; the WAL stays near its bound
	 * (one group of frames more at most) */
	int64_t size = wal_size(f);
	print_message("sqlite: WAL after 2400 writes of 3 KB: %lld bytes (bound %d frames)\n", (long long)size,
		      WB_MAX_PAGES);
	assert_true(size > 0);
	assert_true(size < (int64_t)(WB_MAX_PAGES + 600) * 4120);
	assert_int_equal(count_kv(f->s), WB_THREADS * WB_PER);
	/* writes have paused: the file is emptied (within a few seconds) */
	for (int i = 0; i < 100 && wal_size(f) != 0; i++)
		usleep(100 * 1000);
	assert_int_equal(wal_size(f), 0);
	must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ('after', 0, 'x')", NOARGS);
	assert_int_equal(count_kv(f->s), WB_THREADS * WB_PER + 1);
}

/* ---- commit hooks: once per transaction, after every callback ---- */

static int hook_count(struct store_tx *tx, void *arg, struct err *e)
{
	(void)arg;
	int rc = store_exec(tx, "UPDATE hk SET runs = runs + 1, rows_seen = (SELECT count(*) FROM w)", NOARGS, e);
	return rc < 0 ? rc : 0;
}

static int hook_fail(struct store_tx *tx, void *arg, struct err *e)
{
	(void)tx;
	(void)arg;
	return err_set(e, ERR_UNAVAILABLE, "hook refused");
}

struct hk_job {
	int t, i;
	store_fn hook;
};

static int cb_hk(struct store_tx *tx, void *arg, struct err *e)
{
	struct hk_job *j = arg;
	int rc = store_exec(tx, "INSERT INTO w (t, i, note) VALUES ($1, $2, 'hook')", ARGS(SA_INT(j->t), SA_INT(j->i)),
			    e);
	/* asked twice: registered once */
	if (rc >= 0)
		rc = store_before_commit(tx, j->hook, NULL, e);
	if (rc >= 0)
		rc = store_before_commit(tx, j->hook, NULL, e);
	return rc < 0 ? rc : 0;
}

static int cb_hk_answer(struct store_tx *tx, void *arg, struct err *e)
{
	int rc = cb_hk(tx, arg, e);
	return rc < 0 ? rc : 7;
}

static void *hk_thread(void *arg)
{
	struct cw *c = arg;
	for (int i = 0; i < CW_PER; i++) {
		struct hk_job j = {c->t, i, hook_count};
		struct err e = {0};
		if (store_write(c->s, cb_hk, &j, &e) != 0) {
			c->failed++;
			snprintf(c->msg, sizeof c->msg, "%s", e.msg);
		}
	}
	return NULL;
}

static int cb_hook_in_read(struct store_tx *tx, void *arg, struct err *e)
{
	(void)arg;
	return store_before_commit(tx, hook_count, NULL, e);
}

static void test_commit_hooks(void **state)
{
	struct fx *f = fx(state);
	must_write(f->s, "CREATE TABLE w (t BIGINT NOT NULL, i BIGINT NOT NULL, note TEXT, PRIMARY KEY (t, i))",
		   NOARGS);
	must_write(f->s, "CREATE TABLE hk (runs BIGINT NOT NULL, rows_seen BIGINT NOT NULL)", NOARGS);
	must_write(f->s, "INSERT INTO hk VALUES (0, 0)", NOARGS);
	struct store_stats before, after;
	store_stats_get(f->s, &before);
	pthread_t th[CW_THREADS];
	struct cw c[CW_THREADS];
	for (int t = 0; t < CW_THREADS; t++) {
		c[t] = (struct cw){.s = f->s, .t = t};
		assert_int_equal(pthread_create(&th[t], NULL, hk_thread, &c[t]), 0);
	}
	for (int t = 0; t < CW_THREADS; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < CW_THREADS; t++)
		if (c[t].failed)
			fail_msg("thread %d: %d writes failed: %s", t, c[t].failed, c[t].msg);
	store_stats_get(f->s, &after);
	const int total = CW_THREADS * CW_PER;
	int64_t commits = (int64_t)(after.commits - before.commits);
	/* one run per commit, each after every callback of its group */
	assert_int_equal(read_int(f->s, "SELECT runs FROM hk", NOARGS), commits);
	assert_int_equal(read_int(f->s, "SELECT rows_seen FROM hk", NOARGS), total);
	if (f->kind == STORE_SQLITE)
		assert_true(commits < total);
	else
		assert_int_equal(commits, total);

	/* a failing hook fails its transaction: the row is not there */
	struct hk_job bad = {99, 1, hook_fail};
	struct err e = {0};
	assert_int_equal(store_write(f->s, cb_hk, &bad, &e), ERR_UNAVAILABLE);
	assert_string_equal(e.msg, "hook refused");
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM w WHERE t = 99", NOARGS), 0);
	/* the callback's own answer (> 0) comes back through the hooks */
	struct hk_job pos = {98, 1, hook_count};
	err_clear(&e);
	assert_int_equal(store_write(f->s, cb_hk_answer, &pos, &e), 7);
	/* no hooks in a read transaction */
	err_clear(&e);
	assert_int_equal(store_read(f->s, cb_hook_in_read, NULL, &e), ERR_INTERNAL);
}

/* ---- nested iteration with the same SQL text ---- */

static const char *const SQL_LIST = "SELECT k, i FROM kv ORDER BY k";

struct nest {
	int outer, inner;
	char seen[16];
};

static int cb_nested(struct store_tx *tx, void *arg, struct err *e)
{
	struct nest *n = arg;
	struct store_q *q;
	int rc = store_query(tx, SQL_LIST, NOARGS, &q, e);
	if (rc < 0)
		return rc;
	while ((rc = store_step(q, e)) == 1) {
		n->seen[n->outer++] = store_text(q, 0)[0];
		struct store_q *q2;
		int rc2 = store_query(tx, SQL_LIST, NOARGS, &q2, e);
		if (rc2 < 0) {
			store_done(q);
			return rc2;
		}
		while ((rc2 = store_step(q2, e)) == 1)
			n->inner++;
		store_done(q2);
		if (rc2 < 0) {
			rc = rc2;
			break;
		}
		/* the outer row is still readable after the inner query ran */
		if (store_int(q, 1) != (store_text(q, 0)[0] - 'a' + 1) * 10) {
			rc = err_set(e, ERR_INTERNAL, "outer row clobbered");
			break;
		}
	}
	store_done(q);
	return rc;
}

static void test_nested_query(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i) VALUES ('a', 10), ('b', 20), ('c', 30)", NOARGS);
	/* twice: the second run finds the statement cached */
	for (int round = 0; round < 2; round++) {
		struct nest n = {0};
		int rc = store_read(f->s, cb_nested, &n, &e);
		if (rc < 0)
			fail_msg("nested: %s", e.msg);
		assert_int_equal(n.outer, 3);
		assert_int_equal(n.inner, 9);
		assert_string_equal(n.seen, "abc");
	}
}

/* ---- one-row helpers on no rows ---- */

static int cb_empty(struct store_tx *tx, void *arg, struct err *e)
{
	int *fails = arg;
	struct arena a = ARENA_INIT;
	int64_t v = 77;
	char *s = (char *)"untouched";
	if (store_get_int(tx, "SELECT i FROM kv WHERE k = $1", ARGS(SA_TEXT("none")), &v, e) != 0 || v != 77)
		(*fails)++;
	if (store_get_text(tx, "SELECT t FROM kv WHERE k = $1", ARGS(SA_TEXT("none")), &a, &s, e) != 0 ||
	    strcmp(s, "untouched") != 0)
		(*fails)++;
	/* a row whose value is NULL: found, and reads NULL / 0 */
	if (store_get_text(tx, "SELECT t FROM kv WHERE k = $1", ARGS(SA_TEXT("n")), &a, &s, e) != 1 || s != NULL)
		(*fails)++;
	if (store_get_int(tx, "SELECT i FROM kv WHERE k = $1", ARGS(SA_TEXT("n")), &v, e) != 1 || v != 0)
		(*fails)++;
	/* an aggregate always has a row */
	if (store_get_int(tx, "SELECT count(*) FROM kv WHERE k = $1", ARGS(SA_TEXT("none")), &v, e) != 1 || v != 0)
		(*fails)++;
	arena_free(&a);
	return 0;
}

static void test_get_empty(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ('n', NULL, NULL)", NOARGS);
	int fails = 0;
	assert_int_equal(store_read(f->s, cb_empty, &fails, &e), 0);
	assert_int_equal(fails, 0);
}

/* ---- backup ---- */

static void test_backup(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	for (int i = 0; i < 50; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%02d", i);
		must_write(f->s, "INSERT INTO kv (k, i, t) VALUES ($1, $2, $3)",
			   ARGS(SA_TEXTN(k, strlen(k)), SA_INT(i), SA_TEXT(HD)));
	}
	char path[128];
	snprintf(path, sizeof path, "%s/copy.db", f->kind == STORE_SQLITE ? f->dir : "/tmp");
	int rc = store_backup(f->s, path, &e);
	if (f->kind == STORE_POSTGRES) {
		assert_int_equal(rc, ERR_UNAVAILABLE);
		assert_non_null(strstr(e.msg, "pg_dump"));
		return;
	}
	if (rc != 0)
		fail_msg("backup: %s", e.msg);
	/* the copy opens and holds the rows */
	char url[160];
	snprintf(url, sizeof url, "sqlite:%s", path);
	struct store *copy;
	assert_int_equal(store_open(&copy, url, &default_opt, &e), 0);
	assert_int_equal(count_kv(copy), 50);
	assert_int_equal(read_int(copy, "SELECT sum(i) FROM kv WHERE t = $1", ARGS(SA_TEXT(HD))), 49 * 50 / 2);
	store_close(copy);
	/* a self-contained file: the copy was not left in WAL mode */
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", path);
	assert_int_not_equal(access(wal, F_OK), 0);
}

/* ---- a callback that carries on after a failed statement ---- */

static int cb_swallow(struct store_tx *tx, void *arg, struct err *e)
{
	(void)arg;
	int rc = store_exec(tx, "INSERT INTO kv (k, i) VALUES ('x', 1)", NOARGS, e);
	if (rc < 0)
		return rc;
	rc = store_exec(tx, "INSERT INTO kv (k, i) VALUES ('dup', 1)", NOARGS, e); /* conflicts: ignored */
	(void)rc;
	rc = store_exec(tx, "INSERT INTO kv (k, i) VALUES ('y', 1)", NOARGS, e);
	return rc < 0 ? rc : 0;
}

static void test_swallowed_error(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i) VALUES ('dup', 0)", NOARGS);
	int rc = store_write(f->s, cb_swallow, NULL, &e);
	if (f->kind == STORE_SQLITE) {
		/* SQLite: a failed statement leaves the transaction usable */
		assert_int_equal(rc, 0);
		assert_int_equal(count_kv(f->s), 3);
	} else {
		/* PostgreSQL aborts the transaction at the first error: the write
		 * fails as a whole with that error, never a silent partial commit */
		assert_int_equal(rc, ERR_CONFLICT);
		assert_non_null(strstr(e.msg, "already exists"));
		assert_int_equal(count_kv(f->s), 1);
	}
}

/* ---- reads are read-only and see one snapshot ---- */

struct snap {
	struct store *s;
	int64_t first, second;
	int write_rc;
};

static int cb_snapshot(struct store_tx *tx, void *arg, struct err *e)
{
	struct snap *sn = arg;
	if (store_get_int(tx, "SELECT count(*) FROM kv", NOARGS, &sn->first, e) < 0)
		return e->code;
	struct err e2 = {0};
	sn->write_rc = write1(sn->s, "INSERT INTO kv (k, i) VALUES ('late', 1)", NOARGS, &e2);
	if (store_get_int(tx, "SELECT count(*) FROM kv", NOARGS, &sn->second, e) < 0)
		return e->code;
	return 0;
}

static void test_read_tx(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i) VALUES ('a', 1)", NOARGS);
	struct snap sn = {f->s, 0, 0, 0};
	assert_int_equal(store_read(f->s, cb_snapshot, &sn, &e), 0);
	assert_int_equal(sn.write_rc, 1);
	assert_int_equal(sn.first, 1);
	assert_int_equal(sn.second, 1); /* the write committed meanwhile is not in this snapshot */
	assert_int_equal(count_kv(f->s), 2);
	/* writing inside store_read fails and changes nothing */
	struct one o = {"INSERT INTO kv (k, i) VALUES ('ro', 1)", NULL, 0, 0, 0};
	assert_true(store_read(f->s, cb_exec, &o, &e) < 0);
	assert_int_equal(count_kv(f->s), 2);
	assert_int_equal(store_ping(f->s, &e), 0);
}

/* ---- open errors (no server needed) ---- */

static void test_open_errors(void **state)
{
	(void)state;
	struct err e = {0};
	struct store *s = (struct store *)&e; /* must be reset to NULL */
	assert_int_equal(store_open(&s, "mysql://x", &default_opt, &e), ERR_CONFIG);
	assert_null(s);
	assert_int_equal(store_open(&s, "postgres://[::1/x", &default_opt, &e), ERR_CONFIG);
	assert_null(s);
	/* nothing listens on port 1 */
	int rc = store_open(&s, "postgres://postgres:secretpw@127.0.0.1:1/x", &default_opt, &e);
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_null(s);
	assert_null(strstr(e.msg, "secretpw"));
}

/* ---- PostgreSQL only ---- */

static int pg_terminate_tinhso(void)
{
	PGconn *c = PQconnectdb(testapp_pg_url());
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("admin connection: %s", PQerrorMessage(c));
	PGresult *r = PQexec(c, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
				"WHERE application_name = 'tinhso' AND pid <> pg_backend_pid()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("terminate: %s", PQresultErrorMessage(r));
	int n = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	/* wait until they are gone: pg_terminate_backend only signals */
	for (int i = 0; i < 100; i++) {
		r = PQexec(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tinhso' "
			      "AND pid <> pg_backend_pid()");
		int left = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (left == 0)
			break;
		usleep(10000);
	}
	PQfinish(c);
	return n;
}

static void *cw_burst(void *arg)
{
	struct cw *c = arg;
	for (int i = 0; i < 20; i++) {
		struct cw_job j = {c->t, i};
		struct err e = {0};
		if (store_write(c->s, cb_cw, &j, &e) != 0)
			c->failed++;
	}
	return NULL;
}

static int cb_killed_midway(struct store_tx *tx, void *arg, struct err *e)
{
	(void)arg;
	int rc = store_exec(tx, "INSERT INTO kv (k, i) VALUES ('mid1', 1)", NOARGS, e);
	if (rc < 0)
		return rc;
	pg_terminate_tinhso();
	rc = store_exec(tx, "INSERT INTO kv (k, i) VALUES ('mid2', 1)", NOARGS, e);
	return rc < 0 ? rc : 0;
}

static void test_pg_reconnect(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	make_kv(f->s);
	must_write(f->s, "CREATE TABLE w (t BIGINT NOT NULL, i BIGINT NOT NULL, note TEXT, PRIMARY KEY (t, i))",
		   NOARGS);
	/* open several pooled connections */
	pthread_t th[4];
	struct cw c[4];
	for (int t = 0; t < 4; t++) {
		c[t] = (struct cw){.s = f->s, .t = t};
		pthread_create(&th[t], NULL, cw_burst, &c[t]);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		assert_int_equal(c[t].failed, 0);
	}
	for (int round = 0; round < 3; round++) {
		int killed = pg_terminate_tinhso();
		assert_true(killed >= 1);
		/* every pooled connection is dead: each next use must still succeed */
		for (int i = 0; i < 10; i++) {
			char k[32];
			snprintf(k, sizeof k, "r%d-%d", round, i);
			int rc = write1(f->s, "INSERT INTO kv (k, i) VALUES ($1, $2)",
					ARGS(SA_TEXTN(k, strlen(k)), SA_INT(i)), &e);
			if (rc != 1)
				fail_msg("write after terminate (round %d, %d): %d %s", round, i, rc, e.msg);
		}
		pg_terminate_tinhso();
		assert_int_equal(count_kv(f->s), 10 * (round + 1));
		pg_terminate_tinhso();
		assert_int_equal(store_ping(f->s, &e), 0);
	}
	/* killed inside a transaction: that write fails as unavailable, leaves no
	 * trace, and the next one works */
	int rc = store_write(f->s, cb_killed_midway, NULL, &e);
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_int_equal(read_int(f->s, "SELECT count(*) FROM kv WHERE k LIKE 'mid%'", NOARGS), 0);
	must_write(f->s, "INSERT INTO kv (k, i) VALUES ('after', 1)", NOARGS);
	assert_int_equal(count_kv(f->s), 31);
}

struct dl {
	struct store *s;
	pthread_barrier_t *bar;
	const char *first, *second;
	int runs;
	int rc;
	char msg[sizeof(((struct err *)0)->msg)];
};

static int cb_deadlock(struct store_tx *tx, void *arg, struct err *e)
{
	struct dl *d = arg;
	d->runs++;
	int rc = store_exec(tx, "UPDATE kv SET i = i + 1 WHERE k = $1", ARGS(SA_TEXT(d->first)), e);
	if (rc < 0)
		return rc;
	if (d->runs == 1)
		pthread_barrier_wait(d->bar); /* both hold their first row: now cross */
	rc = store_exec(tx, "UPDATE kv SET i = i + 1 WHERE k = $1", ARGS(SA_TEXT(d->second)), e);
	return rc < 0 ? rc : 0;
}

static void *dl_thread(void *arg)
{
	struct dl *d = arg;
	struct err e = {0};
	d->rc = store_write(d->s, cb_deadlock, d, &e);
	snprintf(d->msg, sizeof d->msg, "%s", e.msg);
	return NULL;
}

static void test_pg_deadlock_retry(void **state)
{
	struct fx *f = fx(state);
	make_kv(f->s);
	must_write(f->s, "INSERT INTO kv (k, i) VALUES ('p', 0), ('q', 0)", NOARGS);
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, 2);
	struct dl a = {f->s, &bar, "p", "q", 0, 0, ""}, b = {f->s, &bar, "q", "p", 0, 0, ""};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, dl_thread, &a);
	pthread_create(&tb, NULL, dl_thread, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&bar);
	if (a.rc != 0 || b.rc != 0)
		fail_msg("deadlock not retried: %d '%s' / %d '%s'", a.rc, a.msg, b.rc, b.msg);
	assert_true(a.runs + b.runs >= 3); /* one of them was the deadlock victim and ran again */
	assert_int_equal(read_int(f->s, "SELECT sum(i) FROM kv", NOARGS), 4);
}

struct hold {
	struct store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool holding, release;
};

static int cb_hold(struct store_tx *tx, void *arg, struct err *e)
{
	(void)tx;
	(void)e;
	struct hold *h = arg;
	pthread_mutex_lock(&h->mu);
	h->holding = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	return 0;
}

static void *hold_thread(void *arg)
{
	struct hold *h = arg;
	struct err e = {0};
	store_read(h->s, cb_hold, h, &e);
	return NULL;
}

static void test_pg_pool_busy(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	struct store_options opt = {.pool_size = 1, .busy_timeout_ms = 300, .batch_max = 1};
	fx_reopen(f, &opt);
	make_kv(f->s);
	struct hold h = {.s = f->s};
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	pthread_t th;
	pthread_create(&th, NULL, hold_thread, &h);
	pthread_mutex_lock(&h.mu);
	while (!h.holding)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);

	double t0 = now_s();
	int rc = write1(f->s, "INSERT INTO kv (k, i) VALUES ('z', 1)", NOARGS, &e);
	double waited = now_s() - t0;
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "busy"));
	assert_true(waited >= 0.25 && waited < 3.0);
	/* readiness is still answered, on a connection of its own */
	assert_int_equal(store_ping(f->s, &e), 0);

	pthread_mutex_lock(&h.mu);
	h.release = true;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(th, NULL);
	assert_int_equal(write1(f->s, "INSERT INTO kv (k, i) VALUES ('z', 1)", NOARGS, &e), 1);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
}

static void test_pg_statement_timeout(void **state)
{
	struct fx *f = fx(state);
	struct err e = {0};
	struct store_options opt = {.pool_size = 2, .busy_timeout_ms = 200, .batch_max = 1};
	fx_reopen(f, &opt);
	struct one o = {"SELECT pg_sleep(2)", NULL, 0, 0, 0};
	double t0 = now_s();
	int rc = store_read(f->s, cb_exec, &o, &e);
	assert_int_equal(rc, ERR_UNAVAILABLE);
	assert_true(now_s() - t0 < 1.5);
	/* the connection is fine afterwards */
	assert_int_equal(read_int(f->s, "SELECT 41 + $1", ARGS(SA_INT(1))), 42);
	assert_int_equal(store_ping(f->s, &e), 0);
}

#define BOTH(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	if (!getenv("TINHSO_TEST_VERBOSE"))
		log_level = LOG_OFF; /* the error paths log on purpose */
	const struct CMUnitTest common[] = {
	    cmocka_unit_test(test_open_errors),
	};
	const struct CMUnitTest sqlite[] = {
	    BOTH(test_migrate, setup_sqlite),		BOTH(test_types, setup_sqlite),
	    BOTH(test_conflict, setup_sqlite),		BOTH(test_rollback_own, setup_sqlite),
	    BOTH(test_concurrent_writes, setup_sqlite), BOTH(test_nested_query, setup_sqlite),
	    BOTH(test_get_empty, setup_sqlite),		BOTH(test_backup, setup_sqlite),
	    BOTH(test_swallowed_error, setup_sqlite),	BOTH(test_read_tx, setup_sqlite),
	    BOTH(test_schema_change, setup_sqlite),	BOTH(test_commit_hooks, setup_sqlite),
	    BOTH(test_optional_conditions, setup_sqlite),
	    BOTH(test_checkpoint_steps, setup_sqlite),	BOTH(test_durable_before_seen, setup_sqlite),
	    BOTH(test_sync_failure, setup_sqlite),	BOTH(test_wal_one_write_per_commit, setup_sqlite),
	    BOTH(test_wal_bounded, setup_sqlite),
	};
	const struct CMUnitTest pg[] = {
	    BOTH(test_migrate, setup_pg),
	    BOTH(test_types, setup_pg),
	    BOTH(test_conflict, setup_pg),
	    BOTH(test_rollback_own, setup_pg),
	    BOTH(test_concurrent_writes, setup_pg),
	    BOTH(test_nested_query, setup_pg),
	    BOTH(test_get_empty, setup_pg),
	    BOTH(test_backup, setup_pg),
	    BOTH(test_swallowed_error, setup_pg),
	    BOTH(test_read_tx, setup_pg),
	    BOTH(test_schema_change, setup_pg),
	    BOTH(test_commit_hooks, setup_pg),
	    BOTH(test_optional_conditions, setup_pg),
	    BOTH(test_pg_reconnect, setup_pg),
	    BOTH(test_pg_deadlock_retry, setup_pg),
	    BOTH(test_pg_pool_busy, setup_pg),
	    BOTH(test_pg_statement_timeout, setup_pg),
	};
	int failed = cmocka_run_group_tests_name("store_open", common, NULL, NULL);
	failed += cmocka_run_group_tests_name("store_sqlite", sqlite, NULL, NULL);
	failed += cmocka_run_group_tests_name("store_postgres", pg, NULL, NULL);
	return failed ? 1 : 0;
}
