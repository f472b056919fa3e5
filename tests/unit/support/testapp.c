/* testapp.c: the unit tests' temporary app (see testapp.h). */
#include "testapp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/text.h"
#include "base/time.h"
#include "crypto/crypto.h"

const char *testapp_pg_url(void)
{
	const char *u = getenv("TINHSO_TEST_PG_URL");
	return u && *u ? u : NULL;
}

void testapp_pg_reset(void)
{
	PGconn *c = PQconnectdb(testapp_pg_url());
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to TINHSO_TEST_PG_URL: %s", PQerrorMessage(c));
	PGresult *r =
		PQexec(c, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("resetting the schema: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

const char *testapp_source_dir(void)
{
	static char dir[1024];
	const char *src = getenv("TINHSO_SOURCE_DIR");
	if (src && *src)
		return src;
	/* this file is SRC/tests/unit/support/testapp.c */
	snprintf(dir, sizeof dir, "%s", __FILE__);
	char *cut = strstr(dir, "/tests/unit/");
	if (!cut)
		fail_msg("set TINHSO_SOURCE_DIR to the source tree");
	*cut = 0;
	return dir;
}

void testapp_set(struct testapp *t, const char *name, const char *value)
{
	struct err e = {0};
	if (config_set(&t->cfg, name, value, &e) != 0)
		fail_msg("config_set %s: %s", name, e.msg);
}

void testapp_init(struct testapp *t, const char *name, bool pg)
{
	memset(t, 0, sizeof *t);
	t->pg = pg;
	snprintf(t->dir, sizeof t->dir, "/tmp/tinhso-test-%s-XXXXXX", name);
	if (!mkdtemp(t->dir))
		fail_msg("mkdtemp %s failed", t->dir);
	char url[1024];
	if (pg) {
		if (!testapp_pg_url())
			fail_msg("TINHSO_TEST_PG_URL is not set");
		testapp_pg_reset();
		snprintf(url, sizeof url, "%s", testapp_pg_url());
	} else {
		snprintf(url, sizeof url, "sqlite:%s/t.db", t->dir);
	}
	config_defaults(&t->cfg);
	testapp_set(t, "db", url);
	testapp_set(t, "data", t->dir);
	testapp_set(t, "log_level", "off");
}

void testapp_open(struct testapp *t)
{
	struct err e = {0};
	if (crypto_init(&e) != 0)
		fail_msg("crypto_init: %s", e.msg);
	if (keys_create(t->dir, &e) != 1)
		fail_msg("keys_create: %s", e.msg);
	if (app_open(&t->app, &t->cfg, true, &e) != 0)
		fail_msg("app_open: %s", e.msg);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

void testapp_close(struct testapp *t)
{
	app_close(&t->app);
	config_free(&t->cfg);
	arena_free(&t->a);
	if (nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", t->dir);
}

int testapp_teardown(void **state)
{
	testapp_close(*state);
	free(*state);
	return 0;
}

/* ---- one statement ---- */

struct sql_run {
	const char *sql;
	const struct store_arg *args;
	int nargs;
	struct arena *a;
	int64_t value;
	char *text;
};

static int exec_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sql_run *s = arg;
	int rc = store_exec(tx, s->sql, s->args, s->nargs, e);
	s->value = rc;
	return rc < 0 ? rc : 0;
}

static int int_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sql_run *s = arg;
	s->value = -1;
	int rc = store_get_int(tx, s->sql, s->args, s->nargs, &s->value, e);
	return rc < 0 ? rc : 0;
}

static int text_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sql_run *s = arg;
	s->text = NULL;
	int rc = store_get_text(tx, s->sql, s->args, s->nargs, s->a, &s->text, e);
	return rc < 0 ? rc : 0;
}

static struct sql_run sql_run(struct testapp *t, bool write, store_fn fn, const char *sql,
			      const struct store_arg *args, int nargs)
{
	struct sql_run s = {sql, args, nargs, &t->a, 0, NULL};
	struct err e = {0};
	if ((write ? store_write : store_read)(t->app.db, fn, &s, &e) < 0)
		fail_msg("%s: %s", sql, e.msg);
	return s;
}

int64_t testapp_exec(struct testapp *t, const char *sql, const struct store_arg *args, int nargs)
{
	return sql_run(t, true, exec_fn, sql, args, nargs).value;
}

int64_t testapp_int(struct testapp *t, const char *sql, const struct store_arg *args, int nargs)
{
	return sql_run(t, false, int_fn, sql, args, nargs).value;
}

char *testapp_text(struct testapp *t, const char *sql, const struct store_arg *args, int nargs)
{
	return sql_run(t, false, text_fn, sql, args, nargs).text;
}

/* ---- rows ---- */

static char *fold(struct testapp *t, const char *s)
{
	struct buf b = BUF_INIT;
	text_fold(s, &b);
	char *out = arena_strndup(&t->a, b.ptr ? b.ptr : "", b.len);
	buf_free(&b);
	return out;
}

void testapp_add_agency(struct testapp *t, const char *code, const char *name, const char *parent, const char *level,
			const char *kind)
{
	testapp_exec(t,
		     "INSERT INTO agencies (code, name, name_fold, level, kind, parent, path, created_at, updated_at) "
		     "VALUES ($1, $2, $3, $4, $5, $6, COALESCE((SELECT path FROM agencies WHERE code = CAST($6 AS TEXT)), "
		     "'/') || CAST($1 AS TEXT) || '/', $7, $7)",
		     ARGS(SA_TEXT(code), SA_TEXT(name), SA_TEXT(fold(t, name)), SA_TEXT(level), SA_TEXT(kind),
			  SA_TEXT(parent), SA_INT(time_now_us())));
}

void testapp_add_procedure(struct testapp *t, const char *code, const char *name, const char *levels,
			   const char *handled_by, int processing_days)
{
	testapp_exec(t,
		     "INSERT INTO procedures (code, name, name_fold, field, levels, handled_by, online, processing_days, "
		     "doc, created_at, updated_at) VALUES ($1, $2, $3, 'Hộ tịch', $4, $5, 'full', $6, '{}', $7, $7)",
		     ARGS(SA_TEXT(code), SA_TEXT(name), SA_TEXT(fold(t, name)), SA_TEXT(levels), SA_TEXT(handled_by),
			  SA_INT(processing_days), SA_INT(time_now_us())));
}

int64_t testapp_add_user(struct testapp *t, const struct testapp_user *u)
{
	testapp_exec(t,
		     "INSERT INTO users (username, role, agency_code, full_name, title, id_number, email, phone, "
		     "password_hash, disabled, password_changed_at, created_at, updated_at) "
		     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'x', $9, $10, $10, $10)",
		     ARGS(SA_TEXT(u->username), SA_TEXT(u->role), SA_TEXT(u->agency),
			  SA_TEXT(u->full_name ? u->full_name : u->username), SA_TEXT(u->title), SA_TEXT(u->id_number),
			  SA_TEXT(u->email), SA_TEXT(u->phone), SA_BOOL(u->disabled), SA_INT(time_now_us())));
	return testapp_int(t, "SELECT id FROM users WHERE username = $1", ARGS(SA_TEXT(u->username)));
}
