/* admin_pages.c: administration in the browser: agencies (list, create,
 * edit), users and roles (list, create, disable and enable), procedures and
 * their workflows (list, view, edit as JSON with the domain's validation
 * errors), and the calendar's holidays and compensatory working days. Every
 * change is the domain function the API calls (admins only, audited). */
#include <stdlib.h>
#include <string.h>

#include "agency/agency.h"
#include "base/text.h"
#include "base/time.h"
#include "calendar/calendar_store.h"
#include "web/web_view.h"

static bool admin_begin(struct req *r, struct web_page *p)
{
	if (!web_begin(r, p, WEB_ADMIN))
		return false;
	p->section = "admin";
	return true;
}

static int64_t query_page(struct req *r)
{
	int64_t page = 1;
	if (req_query_int(r, "page", 1, 100000, &page, NULL) < 0) {
		err_clear(&r->err);
		page = 1;
	}
	return page;
}

static const char *opt_q(struct req *r, const char *name)
{
	const char *v = req_query(r, name);
	return v && *v && text_valid(v, 200) ? v : NULL;
}

/* ---- home ---- */

static int h_home(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	struct err e = {0};
	struct agency *ag;
	int n;
	int64_t agencies = 0, users = 0, procedures = 0;
	agency_list(&p.c, NULL, NULL, NULL, 1, 1, &ag, &n, &agencies, &e);
	struct user *us;
	identity_user_list(&p.c, NULL, NULL, 1, 1, &us, &n, &users, &e);
	struct procedure_filter f = {.page = 1, .per_page = 1};
	struct procedure *pr;
	procedure_list(&p.c, &f, &pr, &n, &procedures, &e);
	jset_i(p.d, "agencies", agencies);
	jset_i(p.d, "users", users);
	jset_i(p.d, "procedures", procedures);
	return web_render(&p, 200, "admin_home", "admin.title");
}

/* ---- agencies ---- */

static json_t *level_options(struct web_page *p, const char *sel, bool any)
{
	json_t *a = json_array();
	if (any) {
		json_t *o = json_object();
		jset_s(o, "value", "");
		jset_s(o, "label", web_t(p, "common.any"));
		json_array_append_new(a, o);
	}
	for (int i = 0; i < p->c.app->nlevels; i++) {
		json_t *o = json_object();
		jset_s(o, "value", p->c.app->levels[i]);
		jset_s(o, "label", web_t(p, arena_printf(p->r->a, "levels_long.%s", p->c.app->levels[i])));
		jset_b(o, "selected", sel && strcmp(sel, p->c.app->levels[i]) == 0);
		json_array_append_new(a, o);
	}
	return a;
}

static const char *const kinds[] = {"people_committee", "department", "service_center", "office", "unit"};

static json_t *kind_options(struct web_page *p, const char *sel)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		json_t *o = json_object();
		jset_s(o, "value", kinds[i]);
		jset_s(o, "label", web_t(p, arena_printf(p->r->a, "kinds.%s", kinds[i])));
		jset_b(o, "selected", sel && strcmp(sel, kinds[i]) == 0);
		json_array_append_new(a, o);
	}
	return a;
}

static int h_agencies(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *q = opt_q(r, "q"), *level = opt_q(r, "level");
	if (level && !app_level_valid(p.c.app, level, NULL))
		level = NULL;
	int64_t page = query_page(r);
	struct agency *items;
	int n = 0;
	int64_t total = 0;
	int rc = agency_list(&p.c, level, NULL, q, (int)page, 50, &items, &n, &total, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		jset_s(o, "code", items[i].code);
		jset_s(o, "name", web_pick(&p, items[i].name, items[i].name_en));
		jset_s(o, "level", web_t(&p, arena_printf(r->a, "levels.%s", items[i].level)));
		jset_s(o, "kind", web_t(&p, arena_printf(r->a, "kinds.%s", items[i].kind)));
		jset_s(o, "parent", items[i].parent ? items[i].parent : "");
		jset_s(o, "href", arena_printf(r->a, "/quan-tri/co-quan/%s", items[i].code));
		json_array_append_new(list, o);
	}
	jset(p.d, "items", list);
	jset_i(p.d, "total", total);
	jset_s(p.d, "q", q ? q : "");
	jset(p.d, "level_options", level_options(&p, level, true));
	struct buf bq = BUF_INIT;
	if (q)
		buf_printf(&bq, "q=%s&", web_urlenc(r->a, q));
	if (level)
		buf_printf(&bq, "level=%s&", level);
	jset(p.d, "pager", web_pager(&p, "/quan-tri/co-quan", arena_strdup(r->a, buf_cstr(&bq)), (int)page, 50, total));
	buf_free(&bq);
	return web_render(&p, 200, "admin_agencies", "admin.agencies_title");
}

static const char *const agency_fields[] = {"code", "name", "name_en", "level", "kind", "parent"};

static int agency_form(struct web_page *p, const struct agency *g, bool create, int status)
{
	struct arena *a = p->r->a;
	const char *vals[6];
	bool posted = !req_is_safe_method(p->r);
	const char *cur[6] = {g ? g->code : "", g ? g->name : "", g && g->name_en ? g->name_en : "",
			      g ? g->level : "", g ? g->kind : "", g && g->parent ? g->parent : ""};
	for (int i = 0; i < 6; i++) {
		vals[i] = posted ? web_in(p, agency_fields[i]) : cur[i];
		if (i == 0 && !create)
			vals[i] = cur[0];
		json_t *f = web_field(p, agency_fields[i], agency_fields[i],
				      web_t(p, arena_printf(a, "admin.agency_%s", agency_fields[i])), vals[i]);
		const char *hint = web_t(p, arena_printf(a, "admin.agency_%s_hint", agency_fields[i]));
		if (strncmp(hint, "admin.", 6) != 0)
			jset_s(f, "hint", hint);
		jset_b(f, "optional", i == 2 || i == 5);
		jset(p->d, agency_fields[i], f);
	}
	jset(p->d, "level_options", level_options(p, vals[3], false));
	jset(p->d, "kind_options", kind_options(p, vals[4]));
	jset_b(p->d, "create", create);
	jset_s(p->d, "action", create ? "/quan-tri/co-quan/moi" : arena_printf(a, "/quan-tri/co-quan/%s", g->code));
	jset_s(p->d, "title", create ? web_t(p, "admin.agency_new") : web_tf(p, "admin.agency_edit", "name", g->name, NULL));
	return web_render(p, status, "admin_agency", NULL);
}

static void agency_errors(struct web_page *p, const struct err *e)
{
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < e->nfields; j++)
			if (strcmp(e->fields[j].name, agency_fields[i]) == 0) {
				web_err(p, agency_fields[i],
					web_t(p, arena_printf(p->r->a, "admin.err_agency_%s", agency_fields[i])));
				break;
			}
	if (e->code == ERR_CONFLICT)
		web_err(p, "code", web_t(p, "admin.err_agency_exists"));
	if (!json_array_size(p->errors))
		web_err(p, "code", e->msg);
}

static int h_agency_new(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	return agency_form(&p, NULL, true, 200);
}

static int h_agency_create(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	struct agency_in in = {0};
	in.code = web_in(&p, "code");
	in.name = web_in(&p, "name");
	in.name_en = web_in(&p, "name_en");
	in.level = web_in(&p, "level");
	in.kind = web_in(&p, "kind");
	in.parent = web_in(&p, "parent");
	if (!*in.name_en)
		in.name_en = NULL;
	if (!*in.parent)
		in.parent = NULL;
	in.parent_given = in.parent != NULL;
	if (web_check_input(&p))
		return agency_form(&p, NULL, true, 400);
	struct agency out;
	int rc = agency_create(&p.c, &in, &out, &r->err);
	if (rc == 0)
		return web_redirect(&p, arena_printf(r->a, "/quan-tri/co-quan?q=%s&ok=saved", web_urlenc(r->a, out.code)));
	if (rc == ERR_INVALID || rc == ERR_CONFLICT) {
		agency_errors(&p, &r->err);
		err_clear(&r->err);
		return agency_form(&p, NULL, true, 422);
	}
	return web_fail(&p, rc);
}

static int h_agency(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	struct agency g;
	const char *code = req_param(r, "code");
	int rc = code && text_valid(code, 32) ? agency_get(&p.c, code, &g, &r->err) : ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	return agency_form(&p, &g, false, 200);
}

static int h_agency_update(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	struct agency g;
	const char *code = req_param(r, "code");
	int rc = code && text_valid(code, 32) ? agency_get(&p.c, code, &g, &r->err) : ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	struct agency_in in = {0};
	in.name = web_in(&p, "name");
	in.name_en = web_in(&p, "name_en");
	in.level = web_in(&p, "level");
	in.kind = web_in(&p, "kind");
	const char *parent = web_in(&p, "parent");
	in.parent = *parent ? parent : NULL;
	in.parent_given = true;
	if (web_check_input(&p))
		return agency_form(&p, &g, false, 400);
	struct agency out;
	rc = agency_update(&p.c, code, &in, &out, &r->err);
	if (rc == 0)
		return web_redirect(&p, arena_printf(r->a, "/quan-tri/co-quan/%s?ok=saved", web_urlenc(r->a, code)));
	if (rc == ERR_INVALID || rc == ERR_CONFLICT) {
		agency_errors(&p, &r->err);
		err_clear(&r->err);
		return agency_form(&p, &g, false, 422);
	}
	return web_fail(&p, rc);
}

/* ---- users ---- */

static const char *const roles[] = {"citizen", "official", "leader", "admin"};

static json_t *role_options(struct web_page *p, const char *sel, bool any)
{
	json_t *a = json_array();
	if (any) {
		json_t *o = json_object();
		jset_s(o, "value", "");
		jset_s(o, "label", web_t(p, "common.any"));
		json_array_append_new(a, o);
	}
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		json_t *o = json_object();
		jset_s(o, "value", roles[i]);
		jset_s(o, "label", web_t(p, arena_printf(p->r->a, "roles.%s", roles[i])));
		jset_b(o, "selected", sel && strcmp(sel, roles[i]) == 0);
		json_array_append_new(a, o);
	}
	return a;
}

static int h_users(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *role = opt_q(r, "role"), *agency = opt_q(r, "agency");
	enum role tmp;
	if (role && role_parse(role, &tmp) < 0)
		role = NULL;
	int64_t page = query_page(r);
	struct user *items;
	int n = 0;
	int64_t total = 0;
	int rc = identity_user_list(&p.c, role, agency, (int)page, 50, &items, &n, &total, &r->err);
	if (rc == ERR_INVALID) {
		err_clear(&r->err);
		n = 0;
	} else if (rc < 0) {
		return web_fail(&p, rc);
	}
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		jset_s(o, "username", items[i].username);
		jset_s(o, "full_name", items[i].full_name);
		jset_s(o, "role", web_t(&p, arena_printf(r->a, "roles.%s", role_name(items[i].role))));
		jset_s(o, "agency", items[i].agency_code ? items[i].agency_code : "");
		jset_b(o, "disabled", items[i].disabled);
		jset_b(o, "totp", items[i].totp_enabled);
		jset_b(o, "self", items[i].id == p.c.who->user_id);
		jset_s(o, "toggle_action", arena_printf(r->a, "/quan-tri/nguoi-dung/%s/trang-thai", web_urlenc(r->a, items[i].username)));
		json_array_append_new(list, o);
	}
	jset(p.d, "items", list);
	jset_i(p.d, "total", total);
	jset_s(p.d, "agency", agency ? agency : "");
	jset(p.d, "role_options", role_options(&p, role, true));
	struct buf bq = BUF_INIT;
	if (role)
		buf_printf(&bq, "role=%s&", role);
	if (agency)
		buf_printf(&bq, "agency=%s&", web_urlenc(r->a, agency));
	jset(p.d, "pager", web_pager(&p, "/quan-tri/nguoi-dung", arena_strdup(r->a, buf_cstr(&bq)), (int)page, 50, total));
	buf_free(&bq);
	return web_render(&p, 200, "admin_users", "admin.users_title");
}

static const char *const user_fields[] = {"username", "role",	   "agency_code", "full_name", "title",
					  "id_number", "phone", "email",	 "password"};
enum { NUSER = sizeof user_fields / sizeof user_fields[0] };

static int user_form(struct web_page *p, int status)
{
	struct arena *a = p->r->a;
	for (int i = 0; i < NUSER; i++) {
		const char *v = strcmp(user_fields[i], "password") == 0 ? "" : web_in(p, user_fields[i]);
		json_t *f = web_field(p, user_fields[i], user_fields[i], web_t(p, arena_printf(a, "admin.user_%s", user_fields[i])), v);
		const char *hint = web_t(p, arena_printf(a, "admin.user_%s_hint", user_fields[i]));
		if (strncmp(hint, "admin.", 6) != 0)
			jset_s(f, "hint", hint);
		jset_b(f, "optional", i >= 4 && i <= 7);
		jset(p->d, strcmp(user_fields[i], "title") == 0 ? "title_field" : user_fields[i], f);
	}
	jset(p->d, "role_options", role_options(p, web_in(p, "role"), false));
	return web_render(p, status, "admin_user", "admin.user_new");
}

static int h_user_new(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	return user_form(&p, 200);
}

static int h_user_create(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	struct user_new u = {0};
	const char *v[NUSER];
	for (int i = 0; i < NUSER; i++) {
		v[i] = strcmp(user_fields[i], "password") == 0 ? (r->form_body && req_form(r, "password") ? req_form(r, "password") : "")
							       : web_in(&p, user_fields[i]);
		if (!*v[i])
			v[i] = NULL;
	}
	if (web_check_input(&p))
		return user_form(&p, 400);
	u.username = v[0];
	if (!v[1] || role_parse(v[1], &u.role) < 0)
		u.role = (enum role)(ROLE_ADMIN + 1); /* the domain names the field */
	u.agency_code = v[2];
	u.full_name = v[3];
	u.title = v[4];
	u.id_number = v[5];
	u.phone = v[6];
	u.email = v[7];
	u.password = v[8];
	struct user out;
	int rc = identity_user_create_read(&p.c, &u, &out, &r->err);
	if (rc == 0)
		return web_redirect(&p, "/quan-tri/nguoi-dung?ok=user_created");
	if (rc == ERR_INVALID || rc == ERR_CONFLICT) {
		for (int i = 0; i < NUSER; i++)
			for (int j = 0; j < r->err.nfields; j++)
				if (strcmp(r->err.fields[j].name, user_fields[i]) == 0) {
					web_err(&p, user_fields[i],
						web_tf(&p, "admin.err_user_field", "detail", r->err.fields[j].msg, NULL));
					break;
				}
		if (rc == ERR_CONFLICT)
			web_err(&p, "username", web_t(&p, "admin.err_user_exists"));
		if (!json_array_size(p.errors))
			web_err(&p, "username", r->err.msg);
		err_clear(&r->err);
		return user_form(&p, 422);
	}
	return web_fail(&p, rc);
}

static int h_user_toggle(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *username = req_param(r, "username");
	const char *to = web_in(&p, "to");
	bool disable = strcmp(to, "disable") == 0;
	if (!username || !text_valid(username, 128) || (!disable && strcmp(to, "enable") != 0))
		return web_error_page(&p, 400, "errors.bad_request_heading", web_t(&p, "errors.bad_request"));
	int rc = identity_user_disable(&p.c, username, disable, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	return web_redirect(&p, arena_printf(r->a, "/quan-tri/nguoi-dung?ok=%s", disable ? "user_disabled" : "user_enabled"));
}

/* ---- procedures ---- */

static int h_procedures(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *q = opt_q(r, "q");
	int64_t page = query_page(r);
	struct procedure_filter f = {.q = q, .page = (int)page, .per_page = 50};
	struct procedure *items;
	int n = 0;
	int64_t total = 0;
	int rc = procedure_list(&p.c, &f, &items, &n, &total, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = json_object();
		jset_s(o, "code", items[i].code);
		jset_s(o, "name", web_pick(&p, items[i].name, items[i].name_en));
		jset_s(o, "field", web_pick(&p, items[i].field, items[i].field_en));
		jset_i(o, "days", items[i].processing_days);
		jset_s(o, "online", web_t(&p, arena_printf(r->a, "online.%s",
							   items[i].online == PROC_ONLINE_FULL	   ? "full"
							   : items[i].online == PROC_ONLINE_PARTIAL ? "partial"
												     : "none")));
		jset_s(o, "href", arena_printf(r->a, "/quan-tri/thu-tuc/%s", items[i].code));
		json_array_append_new(list, o);
	}
	jset(p.d, "items", list);
	jset_i(p.d, "total", total);
	jset_s(p.d, "q", q ? q : "");
	jset(p.d, "pager", web_pager(&p, "/quan-tri/thu-tuc", q ? arena_printf(r->a, "q=%s&", web_urlenc(r->a, q)) : "",
				     (int)page, 50, total));
	return web_render(&p, 200, "admin_procedures", "admin.procedures_title");
}

static const char *pretty(struct web_page *p, const char *doc)
{
	json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
	if (!j)
		return doc ? doc : "";
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	const char *out = arena_strdup(p->r->a, s ? s : "");
	free(s);
	return out;
}

static int procedure_form(struct web_page *p, const struct procedure *x, const char *text, int status)
{
	struct arena *a = p->r->a;
	bool create = x == NULL;
	jset(p->d, "doc", web_field(p, "doc", "doc", web_t(p, "admin.procedure_doc"), text));
	jset_b(p->d, "create", create);
	if (x) {
		jset_s(p->d, "code", x->code);
		jset_s(p->d, "name", view_proc_name(p, x));
		jset_s(p->d, "public_href", arena_printf(a, "/thu-tuc/%s", x->code));
		json_t *steps = json_array();
		for (int i = 0; i < x->nsteps; i++) {
			json_t *o = json_object();
			jset_i(o, "n", i + 1);
			jset_s(o, "name", web_pick(p, x->steps[i].name, x->steps[i].name_en));
			jset_s(o, "role", web_t(p, arena_printf(a, "roles.%s", role_name(x->steps[i].role))));
			jset_s(o, "level", web_t(p, arena_printf(a, "levels.%s", x->steps[i].level)));
			jset_i(o, "share", x->steps[i].share);
			struct buf acts = BUF_INIT;
			for (int k = 0; k < PA_COUNT; k++)
				if (x->steps[i].actions & (1u << k)) {
					if (acts.len)
						buf_puts(&acts, ", ");
					buf_puts(&acts, web_t(p, arena_printf(a, "actions.%s", proc_action_name((enum proc_action)k))));
				}
			jset_s(o, "actions", buf_cstr(&acts));
			buf_free(&acts);
			json_array_append_new(steps, o);
		}
		jset(p->d, "steps", steps);
	}
	jset_s(p->d, "action", create ? "/quan-tri/thu-tuc/moi" : arena_printf(a, "/quan-tri/thu-tuc/%s", x->code));
	jset_s(p->d, "title", create ? web_t(p, "admin.procedure_new") : web_tf(p, "admin.procedure_edit", "code", x->code, NULL));
	return web_render(p, status, "admin_procedure", NULL);
}

static int h_procedure(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *code = req_param(r, "code");
	struct procedure x;
	int rc = code && text_valid(code, 32) ? procedure_get(&p.c, code, &x, &r->err) : ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	return procedure_form(&p, &x, pretty(&p, x.doc), 200);
}

static void procedure_errors(struct web_page *p, const struct err *e)
{
	for (int j = 0; j < e->nfields; j++) {
		json_t *it = json_object();
		jset_s(it, "href", "#doc");
		jset_s(it, "text", arena_printf(p->r->a, "%s: %s", e->fields[j].name, e->fields[j].msg));
		json_array_append_new(p->errors, it);
	}
	if (!e->nfields)
		web_err(p, "doc", e->msg);
	else
		jset_s(p->field_errors, "doc", web_t(p, "admin.err_procedure"));
}

static int save_procedure(struct req *r, bool create)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *code = create ? NULL : req_param(r, "code");
	struct procedure x;
	int rc = 0;
	if (!create && (rc = code && text_valid(code, 32) ? procedure_get(&p.c, code, &x, &r->err) : ERR_NOT_FOUND) < 0)
		return web_fail(&p, rc);
	const char *text = web_in_text(&p, "doc", true);
	if (web_check_input(&p))
		return procedure_form(&p, create ? NULL : &x, text, 400);
	json_t *doc = NULL;
	struct err pe = {0};
	if (!*text) {
		web_err(&p, "doc", web_t(&p, "admin.err_procedure_empty"));
		return procedure_form(&p, create ? NULL : &x, text, 422);
	}
	if (json_parse(text, strlen(text), &doc, &pe) < 0) {
		web_err(&p, "doc", web_tf(&p, "admin.err_procedure_json", "detail", pe.msg, NULL));
		return procedure_form(&p, create ? NULL : &x, text, 422);
	}
	struct procedure out;
	rc = create ? procedure_create(&p.c, doc, &out, &r->err) : procedure_update(&p.c, code, doc, &out, &r->err);
	json_decref(doc);
	if (rc == 0)
		return web_redirect(&p, arena_printf(r->a, "/quan-tri/thu-tuc/%s?ok=saved", web_urlenc(r->a, out.code)));
	if (rc == ERR_INVALID || rc == ERR_CONFLICT || rc == ERR_BAD_REQUEST) {
		procedure_errors(&p, &r->err);
		err_clear(&r->err);
		return procedure_form(&p, create ? NULL : &x, text, 422);
	}
	return web_fail(&p, rc);
}

static int h_procedure_update(struct req *r) { return save_procedure(r, false); }
static int h_procedure_create(struct req *r) { return save_procedure(r, true); }

static int h_procedure_new(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	/* a starting point: the smallest document the rules accept */
	static const char skeleton[] =
		"{\n  \"code\": \"\",\n  \"name\": \"\",\n  \"field\": \"\",\n  \"levels\": [\"commune\"],\n"
		"  \"handled_by\": \"commune_ubnd\",\n  \"online\": \"full\",\n  \"processing_days\": 5,\n"
		"  \"legal_basis\": \"\",\n  \"fees\": [],\n  \"documents\": [],\n  \"form_fields\": [],\n"
		"  \"results\": [{\"name\": \"\"}],\n  \"workflow\": [\n"
		"    {\"step\": \"receive\", \"name\": \"Tiếp nhận\", \"role\": \"official\", \"level\": \"commune\", "
		"\"share\": 20, \"actions\": [\"receive\", \"refuse\", \"request_supplement\"]},\n"
		"    {\"step\": \"approve\", \"name\": \"Phê duyệt\", \"role\": \"leader\", \"level\": \"commune\", "
		"\"share\": 60, \"actions\": [\"approve\", \"reject\"]},\n"
		"    {\"step\": \"return\", \"name\": \"Trả kết quả\", \"role\": \"official\", \"level\": \"commune\", "
		"\"share\": 20, \"actions\": [\"issue_result\", \"return_result\"]}\n  ]\n}\n";
	return procedure_form(&p, NULL, skeleton, 200);
}

/* ---- holidays ---- */

static int this_year(void)
{
	int64_t s = time_now_us() / 1000000 + TIME_OFFSET_S;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)(s / 86400), &y, &m, &d);
	return y;
}

static int holidays_page(struct web_page *p, int year, int status)
{
	struct arena *a = p->r->a;
	struct calendar *cal = arena_alloc(a, sizeof *cal);
	calendar_current(p->c.app, cal);
	json_t *days = json_array();
	int32_t first = days_from_civil(year, 1, 1), end = days_from_civil(year + 1, 1, 1);
	static const char *const wd_keys[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	for (int32_t d = first; d < end; d++) {
		struct calendar_mark m;
		if (!calendar_lookup(cal, d, &m))
			continue;
		char iso[16];
		date_fmt(d, iso, sizeof iso);
		int y;
		unsigned mo, dd;
		civil_from_days(d, &y, &mo, &dd);
		json_t *o = json_object();
		jset_s(o, "date", iso);
		jset_s(o, "display", arena_printf(a, "%02u/%02u/%04d", dd, mo, y));
		jset_s(o, "weekday", web_t(p, arena_printf(a, "weekdays.%s", wd_keys[((d % 7) + 7 + 3) % 7])));
		jset_s(o, "kind", web_t(p, arena_printf(a, "calendar_kinds.%s", calendar_kind_name(m.kind))));
		jset_b(o, "holiday", m.kind == CALENDAR_HOLIDAY);
		jset_s(o, "name", web_pick(p, m.name_vi, m.name_en));
		json_array_append_new(days, o);
	}
	jset(p->d, "days", days);
	jset_b(p->d, "empty", json_array_size(days) == 0);
	jset_i(p->d, "year", year);
	jset_s(p->d, "prev", arena_printf(a, "/quan-tri/ngay-nghi?year=%d", year - 1));
	jset_s(p->d, "next", arena_printf(a, "/quan-tri/ngay-nghi?year=%d", year + 1));
	json_t *f = web_field(p, "date-day", "date", web_t(p, "admin.day_date"), "");
	jset_s(f, "day", web_in(p, "date.day"));
	jset_s(f, "month", web_in(p, "date.month"));
	jset_s(f, "year", web_in(p, "date.year"));
	jset(p->d, "date", f);
	jset(p->d, "name_vi", web_field(p, "name_vi", "name_vi", web_t(p, "admin.day_name_vi"), web_in(p, "name_vi")));
	jset(p->d, "name_en", web_field(p, "name_en", "name_en", web_t(p, "admin.day_name_en"), web_in(p, "name_en")));
	const char *kind = web_in(p, "kind");
	jset_b(p->d, "kind_workday", strcmp(kind, "workday") == 0);
	jset_b(p->d, "announced", strcmp(web_in(p, "announced"), "1") == 0 || req_is_safe_method(p->r));
	const char *ke = web_field_err(p, "kind-holiday");
	if (ke)
		jset_s(p->d, "kind_error", ke);
	jset_s(p->d, "heading", web_tf(p, "admin.holidays_heading", "year", arena_printf(a, "%d", year), NULL));
	return web_render(p, status, "admin_holidays", "admin.holidays_title");
}

static int h_holidays(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	int64_t year = this_year();
	if (req_query_int(r, "year", 1900, 9999, &year, NULL) < 0) {
		err_clear(&r->err);
		year = this_year();
	}
	return holidays_page(&p, (int)year, 200);
}

static int h_holiday_add(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *dd = web_in(&p, "date.day"), *mm = web_in(&p, "date.month"), *yy = web_in(&p, "date.year");
	const char *kind = web_in(&p, "kind"), *vi = web_in(&p, "name_vi"), *en = web_in(&p, "name_en");
	bool announced = strcmp(web_in(&p, "announced"), "1") == 0;
	int year = text_digits(yy, 4) ? atoi(yy) : this_year();
	if (web_check_input(&p))
		return holidays_page(&p, year, 400);
	const char *iso = arena_printf(r->a, "%s-%02d-%02d", yy, atoi(mm), atoi(dd));
	if (!text_digits(dd, 0) || !text_digits(mm, 0) || !text_digits(yy, 4) || strlen(dd) > 2 || strlen(mm) > 2)
		iso = arena_printf(r->a, "%s/%s/%s", dd, mm, yy); /* the domain names it */
	int rc = calendar_day_add(&p.c, iso, kind, vi, en, announced, NULL, &r->err);
	if (rc == 0)
		return web_redirect(&p, arena_printf(r->a, "/quan-tri/ngay-nghi?year=%d&ok=day_added", year));
	if (rc == ERR_INVALID || rc == ERR_CONFLICT || rc == ERR_TOO_LARGE) {
		static const struct {
			const char *field, *id;
		} map[] = {{"date", "date-day"}, {"kind", "kind-holiday"}, {"name_vi", "name_vi"}, {"name_en", "name_en"}};
		for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
			for (int j = 0; j < r->err.nfields; j++)
				if (strcmp(r->err.fields[j].name, map[i].field) == 0) {
					web_err(&p, map[i].id, web_t(&p, arena_printf(r->a, "admin.err_day_%s", map[i].field)));
					break;
				}
		if (rc == ERR_CONFLICT)
			web_err(&p, "date-day", web_t(&p, "admin.err_day_exists"));
		if (!json_array_size(p.errors))
			web_err(&p, "date-day", r->err.msg);
		err_clear(&r->err);
		return holidays_page(&p, year, 422);
	}
	return web_fail(&p, rc);
}

static int h_holiday_delete(struct req *r)
{
	struct web_page p;
	if (!admin_begin(r, &p))
		return 0;
	const char *date = web_in(&p, "date");
	int32_t days;
	if (!date_parse(date, &days))
		return web_error_page(&p, 400, "errors.bad_request_heading", web_t(&p, "errors.bad_request"));
	int rc = calendar_day_delete(&p.c, date, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	return web_redirect(&p, arena_printf(r->a, "/quan-tri/ngay-nghi?year=%d&ok=day_deleted", y));
}

const struct route admin_routes[] = {
	{"GET", "/quan-tri", h_home, 0},
	{"GET", "/quan-tri/co-quan", h_agencies, 0},
	{"GET", "/quan-tri/co-quan/moi", h_agency_new, 0},
	{"POST", "/quan-tri/co-quan/moi", h_agency_create, ROUTE_UPLOAD},
	{"GET", "/quan-tri/co-quan/{code}", h_agency, 0},
	{"POST", "/quan-tri/co-quan/{code}", h_agency_update, ROUTE_UPLOAD},
	{"GET", "/quan-tri/nguoi-dung", h_users, 0},
	{"GET", "/quan-tri/nguoi-dung/moi", h_user_new, 0},
	{"POST", "/quan-tri/nguoi-dung/moi", h_user_create, ROUTE_UPLOAD | ROUTE_BLOCKING},
	{"POST", "/quan-tri/nguoi-dung/{username}/trang-thai", h_user_toggle, ROUTE_UPLOAD},
	{"GET", "/quan-tri/thu-tuc", h_procedures, 0},
	{"GET", "/quan-tri/thu-tuc/moi", h_procedure_new, 0},
	{"POST", "/quan-tri/thu-tuc/moi", h_procedure_create, ROUTE_UPLOAD},
	{"GET", "/quan-tri/thu-tuc/{code}", h_procedure, 0},
	{"POST", "/quan-tri/thu-tuc/{code}", h_procedure_update, ROUTE_UPLOAD},
	{"GET", "/quan-tri/ngay-nghi", h_holidays, 0},
	{"POST", "/quan-tri/ngay-nghi", h_holiday_add, ROUTE_UPLOAD},
	{"POST", "/quan-tri/ngay-nghi/xoa", h_holiday_delete, ROUTE_UPLOAD},
};
const size_t admin_nroutes = sizeof admin_routes / sizeof admin_routes[0];
