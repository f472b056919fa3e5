/* agency.c: the agency tree: rules, queries and the demo province loader. */
#include "agency/agency.h"

#include <string.h>

#include "audit/audit.h"
#include "base/embed.h"
#include "base/text.h"
#include "base/time.h"
#include "identity/identity.h"

static const char *const kinds[] = {"people_committee", "department", "service_center", "office", "unit"};

bool agency_code_valid(const char *s)
{
	/* DDD.DD.DD.LDD: Decision 20/2020/QĐ-TTg agency code */
	static const char shape[] = "999.99.99.A99";
	if (strlen(s) != sizeof shape - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		char c = s[i];
		if ((shape[i] == '9' && (c < '0' || c > '9')) || (shape[i] == 'A' && (c < 'A' || c > 'Z')) ||
		    (shape[i] == '.' && c != '.'))
			return false;
	}
	return true;
}

bool agency_kind_valid(const char *kind)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kinds[i], kind) == 0)
			return true;
	return false;
}

#define AGENCY_COLS "code, name, name_en, level, kind, parent, path, sample, created_at, updated_at"

static void agency_read(struct store_q *q, struct arena *a, struct agency *g)
{
	g->code = store_dup(q, 0, a);
	g->name = store_dup(q, 1, a);
	g->name_en = store_dup(q, 2, a);
	g->level = store_dup(q, 3, a);
	g->kind = store_dup(q, 4, a);
	g->parent = store_dup(q, 5, a);
	g->path = store_dup(q, 6, a);
	g->sample = store_int(q, 7) != 0;
	g->created_at = store_int(q, 8);
	g->updated_at = store_int(q, 9);
}

static int agency_get_tx(struct store_tx *tx, const char *code, struct arena *a, struct agency *g, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT " AGENCY_COLS " FROM agencies WHERE code = $1", ARGS(SA_TEXT(code)), &q, e);
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1)
			agency_read(q, a, g);
	}
	store_done(q);
	return rc;
}

int agency_path_tx(struct store_tx *tx, const char *code, struct arena *a, char **path, struct err *e)
{
	return store_get_text(tx, "SELECT path FROM agencies WHERE code = $1", ARGS(SA_TEXT(code)), a, path, e);
}

void agency_json(struct jw *w, const struct agency *g)
{
	jw_obj(w);
	jw_kstr(w, "code", g->code);
	jw_kstr(w, "name", g->name);
	jw_kstr(w, "name_en", g->name_en);
	jw_kstr(w, "level", g->level);
	jw_kstr(w, "kind", g->kind);
	jw_kstr(w, "parent", g->parent);
	jw_kbool(w, "sample", g->sample);
	jw_ktime(w, "created_at", g->created_at);
	jw_ktime(w, "updated_at", g->updated_at);
	jw_obj_end(w);
}

struct get_ctx {
	const struct ctx *c;
	const char *code;
	struct agency *out;
};

static int get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = agency_get_tx(tx, g->code, g->c->a, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "agency '%s' not found", g->code);
	return rc < 0 ? rc : 0;
}

int agency_get(const struct ctx *c, const char *code, struct agency *out, struct err *e)
{
	struct get_ctx g = {c, code, out};
	return store_read(c->app->db, get_fn, &g, e);
}

struct list_ctx {
	const struct ctx *c;
	const char *level, *parent, *q;
	int page, per_page;
	struct agency *items;
	int n;
	int64_t total;
};

#define LIST_WHERE                                                                                                     \
	" WHERE (CAST($1 AS TEXT) IS NULL OR level = $1) AND (CAST($2 AS TEXT) IS NULL OR parent = $2) AND "          \
	"(CAST($3 AS TEXT) IS NULL OR name_fold LIKE $3 OR code = $4)"

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	struct buf like = BUF_INIT;
	const char *pattern = NULL;
	if (l->q) {
		buf_putc(&like, '%');
		struct buf f = BUF_INIT;
		text_fold(l->q, &f);
		/* LIKE wildcards typed by the user are taken literally by dropping them */
		for (size_t i = 0; i < f.len; i++)
			if (f.ptr[i] != '%' && f.ptr[i] != '_')
				buf_putc(&like, f.ptr[i]);
		buf_free(&f);
		buf_putc(&like, '%');
		pattern = like.ptr;
	}
	int rc = store_get_int(tx, "SELECT count(*) FROM agencies" LIST_WHERE,
			       ARGS(SA_TEXT(l->level), SA_TEXT(l->parent), SA_TEXT(pattern), SA_TEXT(l->q)), &l->total, e);
	if (rc >= 0) {
		struct store_q *q;
		rc = store_query(tx, "SELECT " AGENCY_COLS " FROM agencies" LIST_WHERE " ORDER BY path LIMIT $5 OFFSET $6",
				 ARGS(SA_TEXT(l->level), SA_TEXT(l->parent), SA_TEXT(pattern), SA_TEXT(l->q),
				      SA_INT(l->per_page), SA_INT((int64_t)(l->page - 1) * l->per_page)),
				 &q, e);
		if (rc == 0) {
			l->items = arena_alloc(l->c->a, sizeof *l->items * (size_t)l->per_page);
			while ((rc = store_step(q, e)) == 1 && l->n < l->per_page)
				agency_read(q, l->c->a, &l->items[l->n++]);
		}
		store_done(q);
	}
	buf_free(&like);
	return rc < 0 ? rc : 0;
}

int agency_list(const struct ctx *c, const char *level, const char *parent, const char *q, int page, int per_page,
		struct agency **out, int *n, int64_t *total, struct err *e)
{
	if (level && !app_level_valid(c->app, level, NULL)) {
		err_field(e, "level", "must be one of the configured levels");
		return err_fields_done(e);
	}
	struct list_ctx l = {c, level, parent, q && *q ? q : NULL, page, per_page, NULL, 0, 0};
	int rc = store_read(c->app->db, list_fn, &l, e);
	*out = l.items;
	*n = l.n;
	*total = l.total;
	return rc;
}

static int require_admin(const struct ctx *c, struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in as an administrator");
	if (c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may change agencies");
	return 0;
}

void agency_validate(const struct ctx *c, const struct agency_in *in, bool create, struct err *e)
{
	if (create && (!in->code || !agency_code_valid(in->code)))
		err_field(e, "code", "must be a national agency code like 000.00.00.H23");
	if ((create || in->name) && (!in->name || !text_valid(in->name, 300)))
		err_field(e, "name", "is required: 1 to 300 bytes of text");
	if (in->name_en && in->name_en[0] && !text_valid(in->name_en, 300))
		err_field(e, "name_en", "must be at most 300 bytes of text");
	if ((create || in->level) && (!in->level || !app_level_valid(c->app, in->level, NULL))) {
		struct buf lv = BUF_INIT;
		for (int i = 0; i < c->app->nlevels; i++)
			buf_printf(&lv, "%s%s", i ? ", " : "", c->app->levels[i]);
		err_field(e, "level", "must be one of: %s", lv.ptr);
		buf_free(&lv);
	}
	if ((create || in->kind) && (!in->kind || !agency_kind_valid(in->kind)))
		err_field(e, "kind", "must be one of people_committee, department, service_center, office, unit");
	if (in->parent && !agency_code_valid(in->parent))
		err_field(e, "parent", "must be a national agency code like 000.00.00.H23");
}

struct write_ctx {
	const struct ctx *c;
	const char *code;
	const struct agency_in *in;
	struct agency *out;
	const char *name_fold; /* create: folded before, not in the writer */
};

/* The parent must exist and sit at the same or a higher level than the child;
 * fills pg's level and path (all a child needs of it). */
static int check_parent(struct store_tx *tx, const struct ctx *c, const char *parent, const char *level,
			struct agency *pg, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT level, path FROM agencies WHERE code = $1", ARGS(SA_TEXT(parent)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		pg->level = store_dup(q, 0, c->a);
		pg->path = store_dup(q, 1, c->a);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		err_field(e, "parent", "no agency has the code '%s'", parent);
		return err_fields_done(e);
	}
	int pi = 0, ci = 0;
	app_level_valid(c->app, pg->level, &pi);
	app_level_valid(c->app, level, &ci);
	if (ci < pi) {
		err_field(e, "level", "'%s' is above its parent's level '%s'", level, pg->level);
		return err_fields_done(e);
	}
	return 0;
}

static void change_doc(struct buf *b, const struct agency *g)
{
	struct jw w;
	jw_init(&w, b);
	agency_json(&w, g);
}

static int create_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct write_ctx *w = arg;
	const struct agency_in *in = w->in;
	struct agency pg;
	const char *path;
	if (in->parent) {
		int rc = check_parent(tx, w->c, in->parent, in->level, &pg, e);
		if (rc < 0)
			return rc;
		path = arena_printf(w->c->a, "%s%s/", pg.path, in->code);
	} else {
		path = arena_printf(w->c->a, "/%s/", in->code);
	}
	int64_t now = time_now_us();
	int rc = store_exec(tx,
			    "INSERT INTO agencies (code, name, name_en, name_fold, level, kind, parent, path, sample, "
			    "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
			    ARGS(SA_TEXT(in->code), SA_TEXT(in->name), SA_TEXT(in->name_en), SA_TEXT(w->name_fold),
				 SA_TEXT(in->level), SA_TEXT(in->kind), SA_TEXT(in->parent), SA_TEXT(path),
				 SA_BOOL(in->sample), SA_INT(now)),
			    e);
	if (rc == ERR_CONFLICT)
		return err_set(e, ERR_CONFLICT, "an agency with the code '%s' already exists", in->code);
	if (rc < 0)
		return rc;
	struct arena *a = w->c->a;
	*w->out = (struct agency){arena_strdup(a, in->code), arena_strdup(a, in->name), arena_strdup(a, in->name_en),
				  arena_strdup(a, in->level), arena_strdup(a, in->kind), arena_strdup(a, in->parent),
				  (char *)path, in->sample, now, now};
	struct buf doc = BUF_INIT;
	change_doc(&doc, w->out);
	rc = audit_append(tx, w->c, "agency.create", arena_printf(w->c->a, "agency:%s", in->code), doc.ptr, e);
	buf_free(&doc);
	return rc;
}

int agency_create(const struct ctx *c, const struct agency_in *in, struct agency *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	agency_validate(c, in, true, e);
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	struct buf fold = BUF_INIT;
	text_fold(in->name, &fold);
	struct write_ctx w = {c, in->code, in, out, arena_strdup(c->a, fold.ptr)};
	buf_free(&fold);
	return store_write(c->app->db, create_fn, &w, e);
}

static int update_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct write_ctx *w = arg;
	const struct agency_in *in = w->in;
	struct agency old;
	int rc = agency_get_tx(tx, w->code, w->c->a, &old, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "agency '%s' not found", w->code);
	const char *level = in->level ? in->level : old.level;
	const char *parent = in->parent_given ? in->parent : old.parent;
	const char *path = old.path;
	if (parent) {
		struct agency pg;
		char *ppath = NULL;
		rc = agency_path_tx(tx, parent, w->c->a, &ppath, e);
		if (rc < 0)
			return rc;
		if (rc == 1 && strncmp(ppath, old.path, strlen(old.path)) == 0) {
			err_field(e, "parent", "'%s' is '%s' itself or one of its sub-units", parent, w->code);
			return err_fields_done(e);
		}
		rc = check_parent(tx, w->c, parent, level, &pg, e);
		if (rc < 0)
			return rc;
		path = arena_printf(w->c->a, "%s%s/", pg.path, w->code);
	} else {
		path = arena_printf(w->c->a, "/%s/", w->code);
	}
	const char *name = in->name ? in->name : old.name;
	struct buf fold = BUF_INIT;
	text_fold(name, &fold);
	rc = store_exec(tx,
			"UPDATE agencies SET name = $2, name_en = $3, name_fold = $4, level = $5, kind = $6, parent = $7, "
			"updated_at = $8 WHERE code = $1",
			ARGS(SA_TEXT(w->code), SA_TEXT(name), SA_TEXT(in->name_en ? in->name_en : old.name_en),
			     SA_TEXT(fold.ptr), SA_TEXT(level), SA_TEXT(in->kind ? in->kind : old.kind), SA_TEXT(parent),
			     SA_INT(time_now_us())),
			e);
	buf_free(&fold);
	if (rc >= 0 && strcmp(path, old.path) != 0) {
		/* move the subtree: every path that starts with the old one */
		rc = store_exec(tx,
				"UPDATE agencies SET path = $1 || substr(path, $3) WHERE substr(path, 1, $2) = $4",
				ARGS(SA_TEXT(path), SA_INT((int64_t)strlen(old.path)),
				     SA_INT((int64_t)strlen(old.path) + 1), SA_TEXT(old.path)),
				e);
	}
	if (rc < 0)
		return rc;
	rc = agency_get_tx(tx, w->code, w->c->a, w->out, e);
	if (rc < 0)
		return rc;
	struct buf doc = BUF_INIT;
	struct jw j;
	jw_init(&j, &doc);
	jw_obj(&j);
	jw_key(&j, "before");
	agency_json(&j, &old);
	jw_key(&j, "after");
	agency_json(&j, w->out);
	jw_obj_end(&j);
	rc = audit_append(tx, w->c, "agency.update", arena_printf(w->c->a, "agency:%s", w->code), doc.ptr, e);
	buf_free(&doc);
	return rc;
}

int agency_update(const struct ctx *c, const char *code, const struct agency_in *in, struct agency *out,
		  struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	agency_validate(c, in, false, e);
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	struct write_ctx w = {c, code, in, out, NULL};
	return store_write(c->app->db, update_fn, &w, e);
}

/* ---- demo province ---- */

struct demo_ctx {
	const struct ctx *c;
	json_t *list;
	int added;
};

static int demo_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct demo_ctx *d = arg;
	size_t i;
	json_t *it;
	struct buf codes = BUF_INIT;
	struct jw w;
	jw_init(&w, &codes);
	jw_obj(&w);
	jw_key(&w, "added");
	jw_arr(&w);
	int rc = 0;
	json_array_foreach(d->list, i, it)
	{
		struct agency_in in = {0};
		in.code = json_string_value(json_object_get(it, "code"));
		in.name = json_string_value(json_object_get(it, "name"));
		in.name_en = json_string_value(json_object_get(it, "name_en"));
		in.level = json_string_value(json_object_get(it, "level"));
		in.kind = json_string_value(json_object_get(it, "kind"));
		in.parent = json_string_value(json_object_get(it, "parent"));
		in.sample = json_is_true(json_object_get(it, "sample"));
		agency_validate(d->c, &in, true, e);
		if ((rc = err_fields_done(e)) < 0) {
			err_set(e, ERR_INTERNAL, "demo agency #%zu (%s): %s", i, in.code ? in.code : "?", e->msg);
			break;
		}
		int64_t exists = 0;
		rc = store_get_int(tx, "SELECT count(*) FROM agencies WHERE code = $1", ARGS(SA_TEXT(in.code)), &exists,
				   e);
		if (rc < 0)
			break;
		if (exists)
			continue;
		char *ppath = NULL;
		if (in.parent) {
			rc = agency_path_tx(tx, in.parent, d->c->a, &ppath, e);
			if (rc < 0)
				break;
			if (rc == 0) {
				rc = err_set(e, ERR_INTERNAL, "demo agency %s: parent %s missing", in.code, in.parent);
				break;
			}
		}
		const char *path = ppath ? arena_printf(d->c->a, "%s%s/", ppath, in.code)
					 : arena_printf(d->c->a, "/%s/", in.code);
		struct buf fold = BUF_INIT;
		text_fold(in.name, &fold);
		int64_t now = time_now_us();
		rc = store_exec(tx,
				"INSERT INTO agencies (code, name, name_en, name_fold, level, kind, parent, path, sample, "
				"created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
				ARGS(SA_TEXT(in.code), SA_TEXT(in.name), SA_TEXT(in.name_en), SA_TEXT(fold.ptr),
				     SA_TEXT(in.level), SA_TEXT(in.kind), SA_TEXT(in.parent), SA_TEXT(path),
				     SA_BOOL(in.sample), SA_INT(now)),
				e);
		buf_free(&fold);
		if (rc < 0)
			break;
		jw_str(&w, in.code);
		d->added++;
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (rc >= 0 && d->added)
		rc = audit_append(tx, d->c, "agency.demo_load", "agency:*", codes.ptr, e);
	buf_free(&codes);
	return rc < 0 ? rc : 0;
}

int agency_load_demo(const struct ctx *c, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	const char *file = app_level_valid(c->app, "district", NULL) ? "agencies.json" : "agencies-2level.json";
	const struct embedded_file *f = embed_find(embedded_demo, file);
	if (!f)
		return err_set(e, ERR_INTERNAL, "demo data %s is not built in", file);
	json_t *list;
	rc = json_parse(f->data, f->len, &list, e);
	if (rc < 0)
		return rc;
	if (!json_is_array(list)) {
		json_decref(list);
		return err_set(e, ERR_INTERNAL, "demo data %s is not an array", file);
	}
	struct demo_ctx d = {c, list, 0};
	rc = store_write(c->app->db, demo_fn, &d, e);
	json_decref(list);
	return rc < 0 ? rc : d.added;
}
