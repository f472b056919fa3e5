/* testapp.h: the unit tests' temporary app, opened the way the server opens
 * it (app_open: store, migrations, keys) on a fresh database: SQLite in a
 * temporary directory, or the PostgreSQL database TINHSO_TEST_PG_URL names,
 * its schema public emptied first (DROP SCHEMA public CASCADE: point it at a
 * throwaway database only). Helpers run one statement in a transaction of its
 * own and insert the agency, procedure and user rows tests start from. Every
 * function here fails the running cmocka test on error.
 *
 *   testapp_init(&f->t, "notify", use_pg);   temporary directory, settings
 *   testapp_set(&f->t, "web_dir", ...);      more settings, before or after opening
 *   testapp_open(&f->t);                     keys, app_open
 *   ...
 *   testapp_close(&f->t);                    app_close, everything removed */
#ifndef TINHSO_TESTAPP_H
#define TINHSO_TESTAPP_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/arena.h"
#include "base/config.h"
#include "store/store.h"

struct testapp {
	char dir[64]; /* /tmp/tinhso-test-<name>-XXXXXX: data, keys and the SQLite file */
	struct config cfg;
	struct app app;
	struct arena a; /* for the tests' allocations; freed by testapp_close */
	bool pg;	/* on TINHSO_TEST_PG_URL */
};

/* TINHSO_TEST_PG_URL, or NULL when it is unset or empty. */
const char *testapp_pg_url(void);
/* Empties the schema public of the database TINHSO_TEST_PG_URL names. */
void testapp_pg_reset(void);
/* The source tree: TINHSO_SOURCE_DIR (ctest sets it), else found from this file's path. */
const char *testapp_source_dir(void);

/* Creates the directory and the settings: the defaults, then db (sqlite:DIR/t.db,
 * or TINHSO_TEST_PG_URL with an emptied schema when pg), data = DIR, log_level = off. */
void testapp_init(struct testapp *t, const char *name, bool pg);
void testapp_set(struct testapp *t, const char *name, const char *value);
/* Creates the server keys in DIR and opens the app. */
void testapp_open(struct testapp *t);
/* Closes the app (stop its workers first), frees the settings and t->a, removes DIR. */
void testapp_close(struct testapp *t);
/* A cmocka teardown for a calloc'd fixture whose first member is its struct
 * testapp: testapp_close, then free. */
int testapp_teardown(void **state);

/* One statement in a write transaction: the number of rows it changed. */
int64_t testapp_exec(struct testapp *t, const char *sql, const struct store_arg *args, int nargs);
/* The integer in the first column of the one row, -1 when there is none. */
int64_t testapp_int(struct testapp *t, const char *sql, const struct store_arg *args, int nargs);
/* The text in the first column of the one row (in t->a), NULL when there is none. */
char *testapp_text(struct testapp *t, const char *sql, const struct store_arg *args, int nargs);

/* An agency under parent (NULL: at the top; its path follows the parent's). */
void testapp_add_agency(struct testapp *t, const char *code, const char *name, const char *parent, const char *level,
			const char *kind);
/* A procedure in the field 'Hộ tịch', fully online, with an empty document. */
void testapp_add_procedure(struct testapp *t, const char *code, const char *name, const char *levels,
			   const char *handled_by, int processing_days);
/* A user with the password hash 'x' (no one can log in as them); returns the id. */
struct testapp_user {
	const char *username, *role, *agency; /* role: citizen | official | leader | admin */
	const char *full_name;		      /* NULL: the username */
	const char *title, *id_number, *email, *phone;
	bool disabled;
};
int64_t testapp_add_user(struct testapp *t, const struct testapp_user *u);

#endif
