/* web_draft.c: the application drafts (see web_draft.h). The rows are written
 * in short write transactions; the files are moved outside them. */
#include "web/web_draft.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "store/store.h"

bool draft_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 20 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

char *draft_dir(struct app *app, const char *id, struct arena *a)
{
	return arena_printf(a, "%s/drafts/%s", app->cfg->data, id);
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *de; (de = readdir(d));)
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

struct create_ctx {
	const struct ctx *c;
	const char *id, *procedure_code;
	char **old_ids;
	int nold;
};

static int create_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct create_ctx *k = arg;
	int64_t now = time_now_us();
	int64_t uid = k->c->who->user_id;
	/* the oldest beyond the limit go */
	struct store_q *q;
	k->nold = 0;
	int rc = store_query(tx, "SELECT id FROM web_drafts WHERE user_id = $1 ORDER BY updated_at DESC, id LIMIT 100 OFFSET $2",
			     ARGS(SA_INT(uid), SA_INT(WEB_DRAFT_MAX_PER_USER - 1)), &q, e);
	if (rc == 0) {
		k->old_ids = arena_alloc(k->c->a, sizeof *k->old_ids * 100);
		while ((rc = store_step(q, e)) == 1 && k->nold < 100)
			k->old_ids[k->nold++] = store_dup(q, 0, k->c->a);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	for (int i = 0; i < k->nold; i++)
		if ((rc = store_exec(tx, "DELETE FROM web_drafts WHERE id = $1", ARGS(SA_TEXT(k->old_ids[i])), e)) < 0)
			return rc;
	rc = store_exec(tx,
			"INSERT INTO web_drafts (id, user_id, procedure_code, agency_code, answers, files, created_at, "
			"updated_at) VALUES ($1, $2, $3, NULL, '{}', '[]', $4, $4)",
			ARGS(SA_TEXT(k->id), SA_INT(uid), SA_TEXT(k->procedure_code), SA_INT(now)), e);
	return rc < 0 ? rc : 0;
}

int draft_create(const struct ctx *c, const char *procedure_code, char **id, struct err *e)
{
	if (!c->who || c->who->role != ROLE_CITIZEN)
		return err_set(e, ERR_FORBIDDEN, "only citizens apply online");
	char tok[48];
	crypto_random_token(24, tok, sizeof tok);
	struct create_ctx k = {c, tok, procedure_code, NULL, 0};
	int rc = store_write(c->app->db, create_fn, &k, e);
	if (rc < 0)
		return rc;
	for (int i = 0; i < k.nold; i++)
		if (draft_id_valid(k.old_ids[i]))
			remove_dir(draft_dir(c->app, k.old_ids[i], c->a));
	*id = arena_strdup(c->a, tok);
	return 0;
}

struct get_ctx {
	const struct ctx *c;
	const char *id;
	struct web_draft *out;
	char *answers, *files;
};

static int get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *k = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT id, user_id, procedure_code, agency_code, answers, files, created_at, updated_at "
			     "FROM web_drafts WHERE id = $1 AND user_id = $2",
			     ARGS(SA_TEXT(k->id), SA_INT(k->c->who->user_id)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		struct arena *a = k->c->a;
		k->out->id = store_dup(q, 0, a);
		k->out->user_id = store_int(q, 1);
		k->out->procedure_code = store_dup(q, 2, a);
		k->out->agency_code = store_dup(q, 3, a);
		k->answers = store_dup(q, 4, a);
		k->files = store_dup(q, 5, a);
		k->out->created_at = store_int(q, 6);
		k->out->updated_at = store_int(q, 7);
	}
	store_done(q);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "draft not found");
	return rc < 0 ? rc : 0;
}

int draft_get(const struct ctx *c, const char *id, struct web_draft *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!c->who || !draft_id_valid(id))
		return err_set(e, ERR_NOT_FOUND, "draft not found");
	struct get_ctx k = {c, id, out, NULL, NULL};
	int rc = store_read(c->app->db, get_fn, &k, e);
	if (rc < 0)
		return rc;
	out->answers = json_loads(k.answers ? k.answers : "{}", 0, NULL);
	out->files = json_loads(k.files ? k.files : "[]", 0, NULL);
	if (!json_is_object(out->answers)) {
		json_decref(out->answers);
		out->answers = json_object();
	}
	if (!json_is_array(out->files)) {
		json_decref(out->files);
		out->files = json_array();
	}
	return 0;
}

void draft_release(struct web_draft *d)
{
	if (d->answers)
		json_decref(d->answers);
	if (d->files)
		json_decref(d->files);
	d->answers = d->files = NULL;
}

struct save_ctx {
	const struct ctx *c;
	const struct web_draft *d;
	const char *answers, *files;
};

static int save_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct save_ctx *k = arg;
	int rc = store_exec(tx,
			    "UPDATE web_drafts SET agency_code = $3, answers = $4, files = $5, updated_at = $6 "
			    "WHERE id = $1 AND user_id = $2",
			    ARGS(SA_TEXT(k->d->id), SA_INT(k->c->who->user_id), SA_TEXT(k->d->agency_code),
				 SA_TEXT(k->answers), SA_TEXT(k->files), SA_INT(time_now_us())),
			    e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "draft not found");
	return rc < 0 ? rc : 0;
}

int draft_save(const struct ctx *c, const struct web_draft *d, struct err *e)
{
	char *answers = json_dumps(d->answers, JSON_COMPACT);
	char *files = json_dumps(d->files, JSON_COMPACT);
	struct save_ctx k = {c, d, answers ? answers : "{}", files ? files : "[]"};
	int rc = store_write(c->app->db, save_fn, &k, e);
	free(answers);
	free(files);
	return rc;
}

struct del_ctx {
	const struct ctx *c;
	const char *id;
};

static int del_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct del_ctx *k = arg;
	int rc = store_exec(tx, "DELETE FROM web_drafts WHERE id = $1 AND user_id = $2",
			    ARGS(SA_TEXT(k->id), SA_INT(k->c->who->user_id)), e);
	return rc < 0 ? rc : 0;
}

int draft_delete(const struct ctx *c, const struct web_draft *d, struct err *e)
{
	struct del_ctx k = {c, d->id};
	int rc = store_write(c->app->db, del_fn, &k, e);
	if (rc < 0)
		return rc;
	remove_dir(draft_dir(c->app, d->id, c->a));
	return 0;
}

struct list_ctx {
	const struct ctx *c;
	json_t *out;
};

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *k = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT w.id, w.procedure_code, p.name, p.name_en, w.updated_at FROM web_drafts w "
			     "LEFT JOIN procedures p ON p.code = w.procedure_code WHERE w.user_id = $1 "
			     "ORDER BY w.updated_at DESC LIMIT 50",
			     ARGS(SA_INT(k->c->who->user_id)), &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(store_text(q, 0)));
		json_object_set_new(o, "procedure_code", json_string(store_text(q, 1)));
		json_object_set_new(o, "procedure_name", json_string(store_text(q, 2)));
		json_object_set_new(o, "procedure_name_en", json_string(store_text(q, 3)));
		json_object_set_new(o, "updated_at", json_integer(store_int(q, 4)));
		json_array_append_new(k->out, o);
		rc = 0;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int draft_list(const struct ctx *c, json_t **out, struct err *e)
{
	struct list_ctx k = {c, json_array()};
	int rc = store_read(c->app->db, list_fn, &k, e);
	if (rc < 0) {
		json_decref(k.out);
		return rc;
	}
	*out = k.out;
	return 0;
}

struct sweep_ctx {
	struct arena *a;
	int64_t before;
	char **ids;
	int n;
};

static int sweep_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sweep_ctx *k = arg;
	struct store_q *q;
	k->n = 0;
	int rc = store_query(tx, "SELECT id FROM web_drafts WHERE updated_at < $1 LIMIT 1000", ARGS(SA_INT(k->before)),
			     &q, e);
	if (rc == 0) {
		k->ids = arena_alloc(k->a, sizeof *k->ids * 1000);
		while ((rc = store_step(q, e)) == 1 && k->n < 1000)
			k->ids[k->n++] = store_dup(q, 0, k->a);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	rc = store_exec(tx, "DELETE FROM web_drafts WHERE updated_at < $1", ARGS(SA_INT(k->before)), e);
	return rc < 0 ? rc : 0;
}

struct exists_ctx {
	const char *id;
	int64_t n;
};

static int exists_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct exists_ctx *x = arg;
	int rc = store_get_int(tx, "SELECT count(*) FROM web_drafts WHERE id = $1", ARGS(SA_TEXT(x->id)), &x->n, e);
	return rc < 0 ? rc : 0;
}

int draft_sweep(struct app *app, struct err *e)
{
	struct arena a = ARENA_INIT;
	struct sweep_ctx k = {&a, time_now_us() - (int64_t)WEB_DRAFT_TTL_DAYS * 86400 * 1000000, NULL, 0};
	int rc = store_write(app->db, sweep_fn, &k, e);
	if (rc >= 0) {
		for (int i = 0; i < k.n; i++)
			if (draft_id_valid(k.ids[i]))
				remove_dir(draft_dir(app, k.ids[i], &a));
		rc = k.n;
	}
	/* directories whose row is gone (a crash between the two, or an old sweep) */
	char *root = arena_printf(&a, "%s/drafts", app->cfg->data);
	DIR *d = opendir(root);
	if (d) {
		int64_t cutoff = (time_now_us() / 1000000) - 86400;
		for (struct dirent *de; (de = readdir(d));) {
			if (!draft_id_valid(de->d_name))
				continue;
			struct stat st;
			char *path = arena_printf(&a, "%s/%s", root, de->d_name);
			if (stat(path, &st) != 0 || st.st_mtime >= cutoff)
				continue;
			struct exists_ctx x = {de->d_name, 0};
			struct err xe = {0};
			if (store_read(app->db, exists_fn, &x, &xe) == 0 && x.n == 0)
				remove_dir(path);
		}
		closedir(d);
	}
	arena_free(&a);
	return rc;
}
