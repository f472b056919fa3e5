/* portal_pages.c: the citizens' portal: home and search, the catalogue of
 * procedures, a procedure's page, registering, logging in and out, the public
 * lookup (also opened from the receipt's QR code), "my dossiers", a dossier's
 * page with what the applicant can do there (supplement, withdraw, pay, rate)
 * and the downloads (receipt, forms, files, e-receipts) shared with the back
 * office. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agency/agency.h"
#include "base/ratelimit.h"
#include "base/text.h"
#include "base/time.h"
#include "dossier/dossier_forms.h"
#include "payment/payment.h"
#include "rating/rating.h"
#include "web/web_draft.h"
#include "web/web_view.h"

/* ---- shared bits ---- */

static const char *online_key(enum proc_online o)
{
	return o == PROC_ONLINE_FULL ? "full" : o == PROC_ONLINE_PARTIAL ? "partial" : "none";
}

static json_t *online_tag(struct web_page *p, enum proc_online o)
{
	json_t *t = json_object();
	const char *k = online_key(o);
	jset_s(t, "label", web_t(p, arena_printf(p->r->a, "online.%s", k)));
	jset_s(t, "cls", arena_printf(p->r->a, "tag tag--online-%s", k));
	return t;
}

static const char *levels_text(struct web_page *p, char **levels, int n)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < n; i++) {
		if (i)
			buf_puts(&b, ", ");
		buf_puts(&b, web_t(p, arena_printf(p->r->a, "levels.%s", levels[i])));
	}
	const char *s = arena_strdup(p->r->a, buf_cstr(&b));
	buf_free(&b);
	return s;
}

static const char *handled_by_text(struct web_page *p, const char *handled_by)
{
	if (!handled_by)
		return "";
	if (strncmp(handled_by, "department:", 11) == 0)
		return view_agency_name(p, handled_by + 11);
	const char *u = strstr(handled_by, "_ubnd");
	if (u)
		return web_t(p, arena_printf(p->r->a, "handled_by.%.*s", (int)(u - handled_by), handled_by));
	return handled_by;
}

static const char *fee_text(struct web_page *p, int64_t min, int64_t max)
{
	if (max <= 0)
		return web_t(p, "procedure.no_fee");
	if (min == max)
		return web_money(p, max);
	return arena_printf(p->r->a, "%s – %s", web_money(p, min), web_money(p, max));
}

static json_t *proc_item(struct web_page *p, const struct procedure *x)
{
	json_t *o = json_object();
	jset_s(o, "code", x->code);
	jset_s(o, "href", arena_printf(p->r->a, "/thu-tuc/%s", x->code));
	jset_s(o, "name", web_pick(p, x->name, x->name_en));
	jset_s(o, "field", web_pick(p, x->field, x->field_en));
	jset_s(o, "levels", levels_text(p, x->levels, x->nlevels));
	jset(o, "online", online_tag(p, x->online));
	jset_s(o, "days", web_tf(p, x->processing_days == 1 ? "procedure.days_one" : "procedure.days", "n", arena_printf(p->r->a, "%d", x->processing_days), NULL));
	jset_s(o, "fee", fee_text(p, x->fee_min, x->fee_max));
	jset_s(o, "agency", handled_by_text(p, x->handled_by));
	return o;
}

/* ---- home ---- */

static int h_home(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	struct procedure_field_count *fields;
	int n = 0;
	struct err e = {0};
	json_t *fl = json_array();
	if (procedure_fields(&p.c, NULL, &fields, &n, &e) == 0)
		for (int i = 0; i < n; i++) {
			json_t *o = json_object();
			jset_s(o, "name", web_pick(&p, fields[i].field, fields[i].field_en));
			jset_i(o, "count", fields[i].count);
			jset_s(o, "href", arena_printf(r->a, "/thu-tuc?field=%s", web_urlenc(r->a, fields[i].field)));
			json_array_append_new(fl, o);
		}
	jset(p.d, "fields", fl);
	json_t *lv = json_array();
	for (int i = 0; i < p.c.app->nlevels; i++) {
		const char *l = p.c.app->levels[i];
		json_t *o = json_object();
		jset_s(o, "label", web_t(&p, arena_printf(r->a, "levels_long.%s", l)));
		jset_s(o, "href", arena_printf(r->a, "/thu-tuc?level=%s", l));
		json_array_append_new(lv, o);
	}
	jset(p.d, "levels", lv);
	/* a few procedures that can be done entirely online */
	struct procedure_filter f = {.online = "full", .page = 1, .per_page = 6};
	struct procedure *items;
	int64_t total = 0;
	json_t *pop = json_array();
	if (procedure_list(&p.c, &f, &items, &n, &total, &e) == 0)
		for (int i = 0; i < n; i++)
			json_array_append_new(pop, proc_item(&p, &items[i]));
	jset_b(p.d, "has_popular", json_array_size(pop) > 0);
	jset(p.d, "popular", pop);
	jset_i(p.d, "online_total", total);
	struct procedure_filter all = {.page = 1, .per_page = 1};
	int64_t count = 0;
	if (procedure_list(&p.c, &all, &items, &n, &count, &e) == 0)
		jset_i(p.d, "procedure_total", count);
	jset_s(p.d, "hero_title", web_tf(&p, "home.hero_title", "province", web_province(&p), NULL));
	return web_render(&p, 200, "home", "home.title");
}

/* ---- the catalogue ---- */

static int h_procedures(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	struct procedure_filter f = {0};
	f.q = req_query(r, "q");
	f.field = req_query(r, "field");
	f.level = req_query(r, "level");
	f.online = req_query(r, "online");
	const char *agency = req_query(r, "agency");
	if (f.q && !*f.q)
		f.q = NULL;
	if (f.field && !*f.field)
		f.field = NULL;
	if (f.level && !*f.level)
		f.level = NULL;
	if (f.online && !*f.online)
		f.online = NULL;
	if (agency && !*agency)
		agency = NULL;
	if (f.q && strlen(f.q) > 200)
		f.q = arena_strndup(r->a, f.q, 200);
	int64_t page = 1;
	bool present;
	if (req_query_int(r, "page", 1, 100000, &page, &present) < 0) {
		err_clear(&r->err);
		page = 1;
	}
	const int per_page = 20;
	/* the agency filter is applied here: the catalogue filters by field, level and online level */
	f.page = agency ? 1 : (int)page;
	f.per_page = agency ? 5000 : per_page;
	struct procedure *items = NULL;
	int n = 0;
	int64_t total = 0;
	int rc = procedure_list(&p.c, &f, &items, &n, &total, &r->err);
	if (rc == ERR_INVALID) {
		for (int i = 0; i < r->err.nfields; i++)
			web_err(&p, r->err.fields[i].name, web_t(&p, arena_printf(r->a, "procedures.bad_%s", r->err.fields[i].name)));
		err_clear(&r->err);
		n = 0;
		total = 0;
	} else if (rc < 0) {
		return web_fail(&p, rc);
	}
	json_t *list = json_array();
	if (agency) {
		int kept = 0, shown = 0;
		for (int i = 0; i < n; i++) {
			const char *hb = items[i].handled_by ? items[i].handled_by : "";
			bool match = strcmp(hb, agency) == 0 ||
				     (strncmp(hb, "department:", 11) == 0 && strcmp(hb + 11, agency) == 0);
			if (!match)
				continue;
			kept++;
			if (kept > (page - 1) * per_page && shown < per_page) {
				json_array_append_new(list, proc_item(&p, &items[i]));
				shown++;
			}
		}
		total = kept;
	} else {
		for (int i = 0; i < n; i++)
			json_array_append_new(list, proc_item(&p, &items[i]));
	}
	jset(p.d, "items", list);
	jset_i(p.d, "total", total);
	jset_s(p.d, "count_text", web_tf(&p, "procedures.count", "n", arena_printf(r->a, "%lld", (long long)total), NULL));
	jset_b(p.d, "empty", total == 0);
	jset_s(p.d, "q", f.q ? f.q : "");
	/* filter choices */
	struct procedure_field_count *fields;
	int nf = 0;
	struct err e = {0};
	json_t *fo = json_array();
	if (procedure_fields(&p.c, NULL, &fields, &nf, &e) == 0)
		for (int i = 0; i < nf; i++) {
			json_t *o = json_object();
			jset_s(o, "value", fields[i].field);
			jset_s(o, "label", arena_printf(r->a, "%s (%lld)", web_pick(&p, fields[i].field, fields[i].field_en),
							(long long)fields[i].count));
			jset_b(o, "selected", f.field && strcmp(f.field, fields[i].field) == 0);
			json_array_append_new(fo, o);
		}
	jset(p.d, "field_options", fo);
	json_t *lo = json_array();
	for (int i = 0; i < p.c.app->nlevels; i++) {
		json_t *o = json_object();
		jset_s(o, "value", p.c.app->levels[i]);
		jset_s(o, "label", web_t(&p, arena_printf(r->a, "levels_long.%s", p.c.app->levels[i])));
		jset_b(o, "selected", f.level && strcmp(f.level, p.c.app->levels[i]) == 0);
		json_array_append_new(lo, o);
	}
	jset(p.d, "level_options", lo);
	json_t *oo = json_array();
	static const char *const onl[] = {"full", "partial", "none"};
	for (int i = 0; i < 3; i++) {
		json_t *o = json_object();
		jset_s(o, "value", onl[i]);
		jset_s(o, "label", web_t(&p, arena_printf(r->a, "online.%s", onl[i])));
		jset_b(o, "selected", f.online && strcmp(f.online, onl[i]) == 0);
		json_array_append_new(oo, o);
	}
	jset(p.d, "online_options", oo);
	/* agencies: the committees of each level, and the departments that handle procedures */
	json_t *ao = json_array();
	for (int i = 0; i < p.c.app->nlevels; i++) {
		json_t *o = json_object();
		const char *v = arena_printf(r->a, "%s_ubnd", p.c.app->levels[i]);
		jset_s(o, "value", v);
		jset_s(o, "label", web_t(&p, arena_printf(r->a, "handled_by.%s", p.c.app->levels[i])));
		jset_b(o, "selected", agency && strcmp(agency, v) == 0);
		json_array_append_new(ao, o);
	}
	{
		struct procedure_filter af = {.page = 1, .per_page = 5000};
		struct procedure *all;
		int na = 0;
		int64_t t;
		if (procedure_list(&p.c, &af, &all, &na, &t, &e) == 0) {
			const char *seen[256];
			int ns = 0;
			for (int i = 0; i < na; i++) {
				const char *hb = all[i].handled_by;
				if (!hb || strncmp(hb, "department:", 11) != 0)
					continue;
				bool dup = false;
				for (int k = 0; k < ns; k++)
					dup = dup || strcmp(seen[k], hb + 11) == 0;
				if (dup || ns >= 256)
					continue;
				seen[ns++] = hb + 11;
				json_t *o = json_object();
				jset_s(o, "value", hb + 11);
				jset_s(o, "label", view_agency_name(&p, hb + 11));
				jset_b(o, "selected", agency && strcmp(agency, hb + 11) == 0);
				json_array_append_new(ao, o);
			}
		}
	}
	jset(p.d, "agency_options", ao);
	/* the query of the other filters, for the pages */
	struct buf q = BUF_INIT;
	const char *keys[] = {"q", "field", "level", "online", "agency"};
	const char *vals[] = {f.q, f.field, f.level, f.online, agency};
	bool filtered = false;
	for (int i = 0; i < 5; i++)
		if (vals[i]) {
			buf_printf(&q, "%s=%s&", keys[i], web_urlenc(r->a, vals[i]));
			filtered = true;
		}
	jset_b(p.d, "filtered", filtered);
	jset(p.d, "pager", web_pager(&p, "/thu-tuc", arena_strdup(r->a, buf_cstr(&q)), (int)page, per_page, total));
	buf_free(&q);
	return web_render(&p, 200, "procedures", "procedures.title");
}

static int load_procedure(struct web_page *p, const char *code, struct procedure *out)
{
	if (!code || !text_valid(code, 32))
		return err_set(&p->r->err, ERR_NOT_FOUND, "no such procedure");
	int rc = procedure_get(&p->c, code, out, &p->r->err);
	if (rc == 0 && !out->active)
		return err_set(&p->r->err, ERR_NOT_FOUND, "procedure withdrawn");
	return rc;
}

/* The procedure's facts shown on its page and on the start page of an application. */
static void procedure_data(struct web_page *p, const struct procedure *x, json_t *o)
{
	struct arena *a = p->r->a;
	jset_s(o, "code", x->code);
	jset_b(o, "code_is_sample", x->code_is_sample);
	jset_s(o, "name", view_proc_name(p, x));
	jset_s(o, "field", web_pick(p, x->field, x->field_en));
	jset_s(o, "levels", levels_text(p, x->levels, x->nlevels));
	jset_s(o, "agency", handled_by_text(p, x->handled_by));
	jset(o, "online", online_tag(p, x->online));
	jset_s(o, "online_text", web_t(p, arena_printf(a, "online_long.%s", online_key(x->online))));
	jset_b(o, "can_apply_online", x->online != PROC_ONLINE_NONE);
	jset_s(o, "days", web_tf(p, x->processing_days == 1 ? "procedure.days_one" : "procedure.days", "n", arena_printf(a, "%d", x->processing_days), NULL));
	jset_s(o, "apply_href", arena_printf(a, "/thu-tuc/%s/nop", x->code));
	if (x->note || x->note_en)
		jset_s(o, "note", web_pick(p, x->note, x->note_en));
	jset_s(o, "legal_basis", x->legal_basis);
	json_t *fees = json_array();
	for (int i = 0; i < x->nfees; i++) {
		json_t *f = json_object();
		jset_s(f, "name", x->fees[i].name);
		jset_s(f, "amount", x->fees[i].amount ? web_money(p, x->fees[i].amount) : web_t(p, "procedure.free"));
		if (x->fees[i].note)
			jset_s(f, "note", x->fees[i].note);
		json_array_append_new(fees, f);
	}
	jset(o, "fees", fees);
	jset_b(o, "has_fees", x->nfees > 0);
	json_t *docs = json_array();
	for (int i = 0; i < x->ndocuments; i++) {
		const struct proc_document *d = &x->documents[i];
		json_t *f = json_object();
		jset_s(f, "name", web_pick(p, d->name, d->name_en));
		jset_b(f, "required", d->required);
		jset_i(f, "copies", d->copies);
		struct buf t = BUF_INIT;
		if (d->types & PROC_T_PDF)
			buf_puts(&t, "PDF");
		if (d->types & PROC_T_JPG)
			buf_puts(&t, t.len ? ", JPG" : "JPG");
		if (d->types & PROC_T_PNG)
			buf_puts(&t, t.len ? ", PNG" : "PNG");
		jset_s(f, "types", web_tf(p, "procedure.file_types", "types", buf_cstr(&t), "mb",
					  arena_printf(a, "%d", d->max_mb), NULL));
		buf_free(&t);
		jset_so(f, "ecopy", d->ecopy_source ? web_t(p, arena_printf(a, "ecopy.%s", d->ecopy_source)) : NULL);
		json_array_append_new(docs, f);
	}
	jset(o, "documents", docs);
	json_t *res = json_array();
	for (int i = 0; i < x->nresults; i++) {
		json_t *f = json_object();
		jset_s(f, "name", web_pick(p, x->results[i].name, x->results[i].name_en));
		json_array_append_new(res, f);
	}
	jset(o, "results", res);
	json_t *steps = json_array();
	for (int i = 0; i < x->nsteps; i++) {
		json_t *f = json_object();
		jset_i(f, "n", i + 1);
		jset_s(f, "name", web_pick(p, x->steps[i].name, x->steps[i].name_en));
		jset_s(f, "level", web_t(p, arena_printf(a, "levels.%s", x->steps[i].level)));
		json_array_append_new(steps, f);
	}
	jset(o, "steps", steps);
}

static int h_procedure(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	struct procedure x;
	int rc = load_procedure(&p, req_param(r, "code"), &x);
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *o = json_object();
	procedure_data(&p, &x, o);
	jset(p.d, "proc", o);
	jset_s(p.d, "title", view_proc_name(&p, &x));
	return web_render(&p, 200, "procedure", NULL);
}

/* ---- log in, log out, register ---- */

static void session_cookie(struct req *r, const char *token, int64_t max_age)
{
	res_header(r, "Set-Cookie",
		   arena_printf(r->a, "%s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%lld%s", API_SESSION_COOKIE, token,
				(long long)max_age, r->tls ? "; Secure" : ""));
}

static bool local_next(const char *s)
{
	return s && s[0] == '/' && s[1] != '/' && s[1] != '\\' && strlen(s) < 1000 && !strchr(s, '\r') &&
	       !strchr(s, '\n');
}

static const char *home_of(const struct user *u)
{
	switch (u->role) {
	case ROLE_CITIZEN: return "/ho-so-cua-toi";
	case ROLE_OFFICIAL:
	case ROLE_LEADER: return "/can-bo";
	case ROLE_ADMIN: return "/quan-tri";
	}
	return "/";
}

static int login_form(struct web_page *p, int status, const char *username, const char *next, bool totp)
{
	jset(p->d, "username", web_field(p, "username", "username", web_t(p, "login.username"), username));
	jset(p->d, "password", web_field(p, "password", "password", web_t(p, "login.password"), ""));
	jset(p->d, "totp", web_field(p, "totp", "totp", web_t(p, "login.totp"), ""));
	jset_b(p->d, "show_totp", totp);
	jset_s(p->d, "next", local_next(next) ? next : "");
	jset_s(p->d, "register_href",
	       local_next(next) ? arena_printf(p->r->a, "/dang-ky?next=%s", web_urlenc(p->r->a, next)) : "/dang-ky");
	jset_s(p->d, "totp_href",
	       arena_printf(p->r->a, "/dang-nhap?totp=1%s%s", local_next(next) ? "&next=" : "",
			    local_next(next) ? web_urlenc(p->r->a, next) : ""));
	return web_render(p, status, "login", "login.title");
}

static int h_login(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	const char *next = req_query(r, "next");
	const char *t = req_query(r, "totp");
	bool totp = (t && strcmp(t, "1") == 0) || (next && strncmp(next, "/quan-tri", 9) == 0);
	if (p.c.who && local_next(next))
		return web_redirect(&p, next);
	if (p.c.who) {
		/* already signed in: where this person works */
		struct user u = {.role = p.c.who->role};
		return web_redirect(&p, home_of(&u));
	}
	return login_form(&p, 200, "", next, totp);
}

static int h_login_post(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	const char *username = web_in(&p, "username");
	const char *password = p.r->form_body ? req_form(r, "password") : NULL;
	const char *totp = web_in(&p, "totp");
	const char *next = web_in(&p, "next");
	bool show_totp = *totp || strcmp(web_in(&p, "show_totp"), "1") == 0;
	if (web_check_input(&p))
		return login_form(&p, 400, username, next, show_totp);
	if (!*username)
		web_err(&p, "username", web_t(&p, "login.err_username"));
	if (!password || !*password)
		web_err(&p, "password", web_t(&p, "login.err_password"));
	if (json_array_size(p.errors))
		return login_form(&p, 422, username, next, show_totp);
	struct login_result lr;
	int rc = identity_login(&p.c, username, password, *totp ? totp : NULL, &lr, &r->err);
	if (rc < 0) {
		bool totp_problem = false;
		for (int i = 0; i < r->err.nfields; i++)
			if (strcmp(r->err.fields[i].name, "totp") == 0)
				totp_problem = true;
		if (rc == ERR_RATE_LIMITED) {
			char s[16];
			snprintf(s, sizeof s, "%d", r->err.retry_after > 0 ? r->err.retry_after : 60);
			res_header(r, "Retry-After", s);
			web_err(&p, "username", web_tf(&p, "login.err_throttled", "seconds", s, NULL));
			err_clear(&r->err);
			return login_form(&p, 429, username, next, show_totp);
		}
		if (rc != ERR_UNAUTHENTICATED && rc != ERR_INVALID && rc != ERR_BAD_REQUEST)
			return web_fail(&p, rc);
		if (totp_problem)
			web_err(&p, "totp", web_t(&p, *totp ? "login.err_totp_wrong" : "login.err_totp_needed"));
		else if (strstr(r->err.msg, "disabled"))
			web_err(&p, "username", web_t(&p, "login.err_disabled"));
		else if (strstr(r->err.msg, "TOTP enrolment"))
			web_err(&p, "username", web_t(&p, "login.err_totp_enrol"));
		else
			web_err(&p, "username", web_t(&p, "login.err_wrong"));
		err_clear(&r->err);
		return login_form(&p, 401, username, next, show_totp || totp_problem);
	}
	session_cookie(r, lr.token, p.c.app->cfg->session_absolute);
	memset(lr.token, 0, sizeof lr.token);
	r->actor = arena_printf(r->a, "user:%lld:%s", (long long)lr.user.id, lr.user.username);
	return web_redirect(&p, local_next(next) ? next : home_of(&lr.user));
}

static int h_logout(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_SIGNED_IN))
		return 0;
	int rc = identity_logout(&p.c, &r->err);
	if (rc < 0 && rc != ERR_UNAUTHENTICATED)
		return web_fail(&p, rc);
	err_clear(&r->err);
	session_cookie(r, "", 0);
	return web_redirect(&p, "/?ok=logged_out");
}

static const char *const reg_fields[] = {"id_number", "full_name", "phone", "email", "password"};

static int register_form(struct web_page *p, int status, const char *next)
{
	for (size_t i = 0; i < sizeof reg_fields / sizeof reg_fields[0]; i++) {
		const char *v = strcmp(reg_fields[i], "password") == 0 ? "" : web_in(p, reg_fields[i]);
		jset(p->d, reg_fields[i],
		     web_field(p, reg_fields[i], reg_fields[i], web_t(p, arena_printf(p->r->a, "register.%s", reg_fields[i])), v));
	}
	jset(p->d, "password_confirm",
	     web_field(p, "password_confirm", "password_confirm", web_t(p, "register.password_confirm"), ""));
	jset_s(p->d, "next", local_next(next) ? next : "");
	return web_render(p, status, "register", "register.title");
}

static int h_register(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	return register_form(&p, 200, req_query(r, "next"));
}

static int h_register_post(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	const char *next = web_in(&p, "next");
	struct user_new u = {0};
	u.id_number = web_in(&p, "id_number");
	u.full_name = web_in(&p, "full_name");
	u.phone = web_in(&p, "phone");
	u.email = web_in(&p, "email");
	u.password = p.r->form_body ? req_form(r, "password") : NULL;
	const char *confirm = p.r->form_body ? req_form(r, "password_confirm") : NULL;
	if (web_check_input(&p))
		return register_form(&p, 400, next);
	/* numbers typed with spaces or dots are still the same numbers */
	u.id_number = web_compact(&p, u.id_number, false);
	u.phone = web_compact(&p, u.phone, true);
	if (!*u.email)
		u.email = NULL;
	if (!*u.phone)
		u.phone = NULL;
	if (!u.password || !*u.password)
		u.password = NULL;
	/* the confirmation is the page's own question: the account is not made until both match */
	if (u.password && (!confirm || strcmp(confirm, u.password) != 0)) {
		web_err(&p, "password_confirm", web_t(&p, "register.err_confirm"));
		return register_form(&p, 422, next);
	}
	struct user out;
	int rc = identity_citizen_register_read(&p.c, &u, &out, &r->err);
	if (rc == ERR_INVALID || rc == ERR_CONFLICT) {
		/* the domain's problems, each beside its field, in the form's order */
		for (size_t i = 0; i < sizeof reg_fields / sizeof reg_fields[0]; i++) {
			const char *f = reg_fields[i];
			for (int j = 0; j < r->err.nfields; j++)
				if (strcmp(r->err.fields[j].name, f) == 0) {
					const char *v = strcmp(f, "password") == 0 ? (u.password ? "x" : "") : web_in(&p, f);
					const char *key = arena_printf(r->a, "register.err_%s%s", f, *v ? "" : "_missing");
					web_err(&p, f, web_t(&p, key));
					break;
				}
		}
		if (rc == ERR_CONFLICT)
			web_err(&p, "id_number", web_t(&p, "register.err_exists"));
		if (!json_array_size(p.errors))
			web_err(&p, "id_number", web_t(&p, "register.err_generic"));
		err_clear(&r->err);
		return register_form(&p, 422, next);
	}
	if (rc < 0)
		return web_fail(&p, rc);
	/* signed in straight away */
	struct login_result lr;
	if (identity_login(&p.c, out.username, u.password, NULL, &lr, &r->err) == 0) {
		session_cookie(r, lr.token, p.c.app->cfg->session_absolute);
		memset(lr.token, 0, sizeof lr.token);
		return web_redirect(&p, local_next(next) ? next : "/ho-so-cua-toi?ok=registered");
	}
	err_clear(&r->err);
	return web_redirect(&p, "/dang-nhap?ok=registered");
}

/* ---- public lookup ---- */

static int h_lookup(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	const char *code = req_query(r, "code");
	const char *last4 = req_query(r, "id_last4");
	const char *sig = req_query(r, "sig");
	if (code && strlen(code) > 64)
		code = arena_strndup(r->a, code, 64);
	int status = 200;
	/* opened from a receipt's QR code: say whether its signature holds */
	if (sig) {
		struct receipt_sig s;
		json_t *v = json_object();
		if (receipt_sig_from_query(r, &s) == 0 && receipt_sig_verify(p.c.app, &s)) {
			jset_b(v, "valid", true);
			jset_s(v, "code", s.code);
			jset_s(v, "received_at", web_time(&p, s.received_at));
			jset_s(v, "due_at", web_time(&p, s.due_at));
		} else {
			jset_b(v, "valid", false);
		}
		err_clear(&r->err);
		jset(p.d, "receipt", v);
	}
	jset(p.d, "code", web_field(&p, "code", "code", web_t(&p, "lookup.code"), code ? code : ""));
	bool asked = code && last4 && !sig;
	if (asked || (code && last4 && *last4)) {
		const char *c4 = last4;
		if (!*code)
			web_err(&p, "code", web_t(&p, "lookup.err_code"));
		if (!text_digits(c4, 4))
			web_err(&p, "id_last4", web_t(&p, *c4 ? "lookup.err_last4" : "lookup.err_last4_missing"));
		if (!json_array_size(p.errors)) {
			int retry = 0;
			if (!ratelimit_hit(p.c.app->lookup_limit, r->client_ip, time_now_us() / 1000000, &retry)) {
				char s[16];
				snprintf(s, sizeof s, "%d", retry);
				res_header(r, "Retry-After", s);
				web_err(&p, "code", web_tf(&p, "lookup.err_rate", "seconds", s, NULL));
				status = 429;
			} else {
				struct dossier d;
				struct dossier_step *steps;
				int n;
				int rc = dossier_lookup(&p.c, code, c4, &d, &steps, &n, &r->err);
				if (rc == 0) {
					/* the public view: the masked name the API gives, nothing personal */
					struct buf b = BUF_INIT;
					struct jw w;
					jw_init(&w, &b);
					dossier_public_json(&w, &d, steps, n);
					json_t *pub = json_loads(b.ptr, 0, NULL);
					buf_free(&b);
					json_t *res = view_dossier(&p, &d, NULL);
					jset_s(res, "applicant_name", json_is_string(json_object_get(pub, "applicant"))
									   ? json_string_value(json_object_get(pub, "applicant"))
									   : "");
					json_decref(pub);
					/* the timeline without who did it */
					json_t *tl = view_timeline(&p, steps, n);
					size_t i;
					json_t *it;
					json_array_foreach(tl, i, it)
					{
						json_object_del(it, "actor");
						json_object_del(it, "note");
					}
					jset(res, "timeline", tl);
					jset(p.d, "result", res);
				} else if (rc == ERR_NOT_FOUND || rc == ERR_INVALID) {
					web_err(&p, "code", web_t(&p, "lookup.err_not_found"));
					status = 404;
				} else {
					return web_fail(&p, rc);
				}
				err_clear(&r->err);
			}
		} else {
			status = 422;
		}
	}
	jset(p.d, "id_last4", web_field(&p, "id_last4", "id_last4", web_t(&p, "lookup.last4"), last4 ? last4 : ""));
	return web_render(&p, status, "lookup", "lookup.title");
}

/* ---- my dossiers ---- */

static int h_mine(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	int64_t page = 1;
	if (req_query_int(r, "page", 1, 100000, &page, NULL) < 0) {
		err_clear(&r->err);
		page = 1;
	}
	struct dossier_filter f = {.overdue = -1, .mine = true, .page = (int)page, .per_page = 20};
	struct dossier *items;
	int n;
	int64_t total;
	int rc = dossier_list(&p.c, &f, &items, &n, &total, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *list = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(list, view_dossier(&p, &items[i], arena_printf(r->a, "/ho-so/%s", items[i].code)));
	jset(p.d, "items", list);
	jset_b(p.d, "empty", n == 0);
	jset_i(p.d, "total", total);
	jset(p.d, "pager", web_pager(&p, "/ho-so-cua-toi", "", (int)page, 20, total));
	json_t *drafts = NULL;
	struct err e = {0};
	if (draft_list(&p.c, &drafts, &e) == 0) {
		size_t i;
		json_t *it;
		json_array_foreach(drafts, i, it)
		{
			const char *id = json_string_value(json_object_get(it, "id"));
			jset_s(it, "href", arena_printf(r->a, "/ho-so-nhap/%s", id));
			jset_s(it, "delete_href", arena_printf(r->a, "/ho-so-nhap/%s/xoa", id));
			jset_s(it, "name", web_pick(&p, json_string_value(json_object_get(it, "procedure_name")),
						   json_string_value(json_object_get(it, "procedure_name_en"))));
			jset_s(it, "updated", web_time(&p, json_integer_value(json_object_get(it, "updated_at"))));
		}
		jset_b(p.d, "has_drafts", json_array_size(drafts) > 0);
		jset(p.d, "drafts", drafts);
	}
	return web_render(&p, 200, "my_dossiers", "mine.title");
}

/* ---- a dossier's page (applicant) ---- */

static const char *last_note(const struct dossier_step *steps, int n, const char *action)
{
	for (int i = n - 1; i >= 0; i--)
		if (strcmp(steps[i].action, action) == 0)
			return steps[i].note;
	return NULL;
}

/* The page of dossier code for its applicant; errors and what was typed stay in p. */
static int dossier_page(struct web_page *p, const char *code, int status)
{
	struct req *r = p->r;
	struct dossier d;
	int rc = dossier_get(&p->c, code, &d, &r->err);
	if (rc < 0)
		return web_fail(p, rc);
	struct procedure x;
	struct err e = {0};
	bool have_proc = procedure_get(&p->c, d.procedure_code, &x, &e) == 0;
	const char *base = arena_printf(r->a, "/ho-so/%s", d.code);
	json_t *o = view_dossier(p, &d, base);
	if (have_proc)
		jset_s(o, "procedure_name", view_proc_name(p, &x));
	struct dossier_step *steps = NULL;
	int n = 0;
	if ((rc = dossier_history(&p->c, d.code, &steps, &n, &r->err)) < 0)
		return web_fail(p, rc);
	jset(o, "timeline", view_timeline(p, steps, n));
	struct dossier_file *files;
	int nf = 0;
	if ((rc = dossier_files(&p->c, d.code, &files, &nf, &r->err)) < 0)
		return web_fail(p, rc);
	jset(o, "files", view_files(p, base, files, nf));
	if (d.received_at)
		jset_s(o, "receipt_href", arena_printf(r->a, "%s/bien-nhan.pdf", base));
	/* the answers given */
	json_t *answers = json_array();
	json_t *form = d.form ? json_loads(d.form, 0, NULL) : NULL;
	if (have_proc && form)
		for (int i = 0; i < x.nfields; i++) {
			const char *v = form_display_value(p, &x.fields[i], json_object_get(form, x.fields[i].name));
			if (!*v)
				continue;
			json_t *a = json_object();
			jset_s(a, "label", web_pick(p, x.fields[i].label, x.fields[i].label_en));
			jset_s(a, "value", v);
			json_array_append_new(answers, a);
		}
	if (form)
		json_decref(form);
	jset(o, "answers", answers);
	/* what the applicant may do now */
	unsigned allowed = 0;
	dossier_actions_allowed(&p->c, &d, &allowed, &e);
	if (allowed & (1u << PA_SUPPLEMENT)) {
		json_t *s = json_object();
		const char *why = last_note(steps, n, "request_supplement");
		jset_s(s, "reason", why ? why : "");
		jset_s(s, "action", arena_printf(r->a, "%s/bo-sung", base));
		json_t *docs = json_array();
		if (have_proc)
			for (int i = 0; i < x.ndocuments; i++) {
				json_t *f = json_object();
				jset_s(f, "id", arena_printf(r->a, "doc%d", i));
				jset_s(f, "name", arena_printf(r->a, "doc%d", i));
				jset_s(f, "label", web_pick(p, x.documents[i].name, x.documents[i].name_en));
				const char *err = web_field_err(p, arena_printf(r->a, "doc%d", i));
				if (err)
					jset_s(f, "error", err);
				json_array_append_new(docs, f);
			}
		jset(s, "documents", docs);
		jset(s, "other", web_field(p, "other", "other", web_t(p, "dossier.supplement_other"), ""));
		jset(s, "note", web_field(p, "note", "note", web_t(p, "dossier.supplement_note"), web_in(p, "note")));
		jset(o, "supplement", s);
	}
	if (allowed & (1u << PA_WITHDRAW)) {
		json_t *w = json_object();
		jset_s(w, "action", arena_printf(r->a, "%s/rut", base));
		jset(w, "reason", web_field(p, "reason", "reason", web_t(p, "dossier.withdraw_reason"), web_in(p, "reason")));
		jset_b(w, "open", web_field_err(p, "reason") != NULL);
		jset(o, "withdraw", w);
	}
	/* payments */
	struct payment *pays;
	int np = 0;
	json_t *pl = json_array();
	if (payment_list(&p->c, d.code, &pays, &np, &e) == 0) {
		for (int i = 0; i < np; i++) {
			json_t *it = json_object();
			jset_s(it, "description", pays[i].description);
			jset_s(it, "amount", web_money(p, pays[i].amount));
			jset_s(it, "status", web_t(p, arena_printf(r->a, "payment_status.%s", pays[i].status)));
			jset_s(it, "status_cls", arena_printf(r->a, "tag tag--pay-%s", pays[i].status));
			jset_s(it, "requested_at", web_time(p, pays[i].requested_at));
			jset(it, "receipt_href", json_null());
			jset(it, "receipt_no", json_null());
			jset(it, "pay_action", json_null());
			if (strcmp(pays[i].status, "paid") == 0) {
				jset_s(it, "paid_at", web_time(p, pays[i].paid_at));
				jset_s(it, "receipt_no", pays[i].receipt_no);
				jset_s(it, "receipt_href",
				       arena_printf(r->a, "%s/thanh-toan/%lld/bien-lai.pdf", base, (long long)pays[i].id));
			}
			bool open = strcmp(pays[i].status, "requested") == 0 || strcmp(pays[i].status, "failed") == 0 ||
				    strcmp(pays[i].status, "pending") == 0;
			if (open && d.status == DS_PAYMENT_REQUESTED && d.applicant_user_id == p->c.who->user_id) {
				jset_s(it, "pay_action", arena_printf(r->a, "%s/thanh-toan", base));
				jset_b(o, "must_pay", true);
				jset_s(o, "pay_amount", web_money(p, pays[i].amount));
			}
			json_array_append_new(pl, it);
		}
	}
	jset_b(o, "has_payments", json_array_size(pl) > 0);
	jset(o, "payments", pl);
	/* rating: after the result */
	if (d.status == DS_RESOLVED || d.status == DS_RETURNED) {
		struct rating rt;
		if (rating_get(&p->c, d.code, &rt, &e) == 0) {
			json_t *rv = json_object();
			jset_s(rv, "overall", p->en ? rating_level_en(rt.overall) : rating_level_vi(rt.overall));
			jset_s(rv, "total", arena_printf(r->a, "%d/%d", rt.total, RATING_MAX_TOTAL));
			jset_so(rv, "comment", rt.comment);
			jset(o, "rating", rv);
		} else if (d.applicant_user_id == p->c.who->user_id) {
			jset_s(o, "rate_href", arena_printf(r->a, "%s/danh-gia", base));
		}
	}
	jset_b(o, "is_refused", d.status == DS_REFUSED);
	if (d.status == DS_REFUSED) {
		const char *why = last_note(steps, n, "refuse");
		jset_s(o, "refuse_reason", why ? why : "");
	}
	jset_b(o, "is_done", d.status == DS_RETURNED || d.status == DS_RESOLVED);
	jset(p->d, "dossier", o);
	jset_s(p->d, "title", web_tf(p, "dossier.title", "code", d.code, NULL));
	return web_render(p, status, "dossier", NULL);
}

static bool code_ok(const char *code)
{
	return code && text_valid(code, 40);
}

static int h_dossier(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_SIGNED_IN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	if (p.c.who->role != ROLE_CITIZEN)
		return web_redirect(&p, arena_printf(r->a, "/can-bo/ho-so/%s", code));
	return dossier_page(&p, code, 200);
}

/* The payment gateway sends the payer back to <portal>/dossiers/<code>. */
static int h_dossier_return(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	return web_redirect(&p, arena_printf(r->a, "/ho-so/%s?ok=payment_returned", web_urlenc(r->a, code)));
}

/* Files of a form with a name "doc<N>" (a document of the procedure) or any other name (-1). */
static int uploads_of(struct web_page *p, struct dossier_upload **out, int *n)
{
	struct req *r = p->r;
	struct dossier_upload *u = arena_alloc(r->a, sizeof *u * (size_t)(r->nparts ? r->nparts : 1));
	int k = 0;
	for (int i = 0; i < r->nparts; i++) {
		struct http_part *pt = &r->parts[i];
		if (!pt->filename || !*pt->filename || !pt->path)
			continue; /* an empty file input */
		if (pt->size == 0) {
			web_err(p, pt->name, web_tf(p, "files.err_empty", "file", pt->filename, NULL));
			continue;
		}
		int idx = -1;
		if (strncmp(pt->name, "doc", 3) == 0 && text_digits(pt->name + 3, 0) && strlen(pt->name + 3) <= 3)
			idx = atoi(pt->name + 3);
		u[k].doc_index = idx;
		u[k].filename = text_valid(pt->filename, 255) ? pt->filename : "tep-dinh-kem";
		u[k].path = pt->path;
		u[k].size = pt->size;
		u[k].sha256 = pt->sha256;
		k++;
	}
	*out = u;
	*n = k;
	return 0;
}

static void claim_uploads(struct req *r)
{
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i].filename && r->parts[i].path && access(r->parts[i].path, F_OK) != 0)
			r->parts[i].path = NULL;
}

/* The domain's complaints about files ("files[i]") beside the inputs they came from. */
static void upload_errors(struct web_page *p, const struct dossier_upload *u, int n, const struct err *e)
{
	struct req *r = p->r;
	for (int j = 0; j < e->nfields; j++) {
		int i;
		if (sscanf(e->fields[j].name, "files[%d]", &i) != 1 || i < 0 || i >= n)
			continue;
		const char *id = u[i].doc_index >= 0 ? arena_printf(r->a, "doc%d", u[i].doc_index) : "other";
		const char *msg = e->fields[j].msg;
		const char *key = strstr(msg, "larger than") ? "files.err_large"
				  : strstr(msg, "must be")   ? "files.err_type"
				  : strstr(msg, "empty")     ? "files.err_empty"
							     : "files.err_type";
		web_err(p, id, web_tf(p, key, "file", u[i].filename, NULL));
	}
}

static int act_and_return(struct web_page *p, const char *code, struct dossier_action *act, const char *ok)
{
	struct req *r = p->r;
	struct dossier d;
	int rc = dossier_act(&p->c, code, act, &d, &r->err);
	if (rc == 0) {
		claim_uploads(r);
		return web_redirect(p, arena_printf(r->a, "/ho-so/%s?ok=%s", web_urlenc(r->a, code), ok));
	}
	if (rc == ERR_INVALID) {
		upload_errors(p, act->uploads, act->nuploads, &r->err);
		for (int j = 0; j < r->err.nfields; j++) {
			const char *f = r->err.fields[j].name;
			if (strcmp(f, "note") == 0 || strcmp(f, "reason") == 0)
				web_err(p, f, web_t(p, arena_printf(r->a, "dossier.err_%s", f)));
		}
		if (!json_array_size(p->errors))
			web_err(p, "main", r->err.msg);
		err_clear(&r->err);
		return dossier_page(p, code, 422);
	}
	if (rc == ERR_INVALID_TRANSITION) {
		err_clear(&r->err);
		web_err(p, "main", web_t(p, "dossier.err_changed"));
		return dossier_page(p, code, 409);
	}
	return web_fail(p, rc);
}

static int h_supplement(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	struct dossier_action act = {.action = PA_SUPPLEMENT};
	const char *note = web_in(&p, "note");
	act.note = *note ? note : NULL;
	uploads_of(&p, &act.uploads, &act.nuploads);
	if (web_check_input(&p) || json_array_size(p.errors))
		return dossier_page(&p, code, 422);
	return act_and_return(&p, code, &act, "supplemented");
}

static int h_withdraw(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	struct dossier_action act = {.action = PA_WITHDRAW};
	const char *reason = web_in(&p, "reason");
	act.note = *reason ? reason : NULL;
	if (web_check_input(&p))
		return dossier_page(&p, code, 422);
	return act_and_return(&p, code, &act, "withdrawn");
}

static int h_pay(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	char *portal = payment_portal_url(p.c.app->cfg, req_header(r, "Host"), r->a);
	struct payment pay;
	char *pay_url = NULL;
	int rc = payment_start(&p.c, code, portal, &pay, &pay_url, &r->err);
	if (rc == ERR_INVALID_TRANSITION || rc == ERR_CONFLICT) {
		err_clear(&r->err);
		web_err(&p, "main", web_t(&p, "dossier.err_pay_state"));
		return dossier_page(&p, code, 409);
	}
	if (rc == ERR_UNAVAILABLE || rc == ERR_BAD_GATEWAY || rc == ERR_GATEWAY_TIMEOUT) {
		err_clear(&r->err);
		web_err(&p, "main", web_t(&p, "dossier.err_gateway"));
		return dossier_page(&p, code, 503);
	}
	if (rc < 0)
		return web_fail(&p, rc);
	if (!pay_url || (strncmp(pay_url, "http://", 7) != 0 && strncmp(pay_url, "https://", 8) != 0))
		return web_fail(&p, ERR_BAD_GATEWAY);
	/* a page, not a redirect: the form-action policy keeps form posts on this
	 * site, so the gateway is reached by a link (and an immediate refresh) */
	jset_s(p.d, "pay_url", pay_url);
	jset_s(p.d, "refresh_url", pay_url);
	jset_s(p.d, "amount", web_money(&p, pay.amount));
	jset_s(p.d, "code", code);
	jset_s(p.d, "back", arena_printf(r->a, "/ho-so/%s", code));
	return web_render(&p, 200, "pay_redirect", "pay.title");
}

/* ---- rating ---- */

static int rating_form(struct web_page *p, const char *code, int status)
{
	struct req *r = p->r;
	struct dossier d;
	int rc = dossier_get(&p->c, code, &d, &r->err);
	if (rc < 0)
		return web_fail(p, rc);
	json_t *crit = json_array();
	for (int i = 0; i < RATING_NCRITERIA; i++) {
		const char *key = rating_criteria[i].key;
		const char *name = arena_printf(r->a, "score_%s", key);
		const char *val = web_in(p, name);
		json_t *c = json_object();
		jset_i(c, "n", i + 1);
		jset_s(c, "label", p->en ? rating_criteria[i].en : rating_criteria[i].vi);
		jset_s(c, "name", name);
		json_t *opts = json_array();
		for (int s = RATING_MAX_SCORE; s >= 0; s--) {
			json_t *o = json_object();
			jset_s(o, "id", arena_printf(r->a, "score-%s-%d", key, RATING_MAX_SCORE - s));
			jset_s(o, "value", arena_printf(r->a, "%d", s));
			jset_s(o, "label", web_t(p, arena_printf(r->a, "rate.score_%d", s)));
			jset_b(o, "checked", *val && atoi(val) == s && text_digits(val, 1));
			json_array_append_new(opts, o);
		}
		jset(c, "options", opts);
		const char *err = web_field_err(p, arena_printf(r->a, "score-%s-0", key));
		if (err)
			jset_s(c, "error", err);
		json_array_append_new(crit, c);
	}
	jset(p->d, "criteria", crit);
	json_t *lv = json_array();
	const char *overall = web_in(p, "overall");
	for (int i = 0; i < RL_COUNT; i++) {
		json_t *o = json_object();
		jset_s(o, "id", arena_printf(r->a, "overall-%d", i));
		jset_s(o, "value", rating_level_name(i));
		jset_s(o, "label", p->en ? rating_level_en(i) : rating_level_vi(i));
		jset_b(o, "checked", strcmp(overall, rating_level_name(i)) == 0);
		json_array_append_new(lv, o);
	}
	jset(p->d, "levels", lv);
	const char *oe = web_field_err(p, "overall-0");
	if (oe)
		jset_s(p->d, "overall_error", oe);
	jset(p->d, "comment", web_field(p, "comment", "comment", web_t(p, "rate.comment"), web_in_text(p, "comment", true)));
	jset_s(p->d, "code", d.code);
	jset_s(p->d, "action", arena_printf(r->a, "/ho-so/%s/danh-gia", d.code));
	jset_s(p->d, "back", arena_printf(r->a, "/ho-so/%s", d.code));
	jset_s(p->d, "procedure_name", d.procedure_name);
	return web_render(p, status, "rate", "rate.title");
}

static int h_rate(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	return rating_form(&p, code, 200);
}

static int h_rate_post(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	struct rating_new in;
	for (int i = 0; i < RATING_NCRITERIA; i++) {
		const char *v = web_in(&p, arena_printf(r->a, "score_%s", rating_criteria[i].key));
		in.scores[i] = !*v ? RATING_UNSET : text_digits(v, 1) ? atoi(v) : RATING_BAD;
	}
	const char *overall = web_in(&p, "overall");
	in.overall = *overall ? overall : NULL;
	const char *comment = web_in_text(&p, "comment", true);
	in.comment = *comment ? comment : NULL;
	if (web_check_input(&p))
		return rating_form(&p, code, 422);
	struct rating out;
	int rc = rating_create(&p.c, code, &in, &out, &r->err);
	if (rc == 0)
		return web_redirect(&p, arena_printf(r->a, "/ho-so/%s?ok=rated", web_urlenc(r->a, code)));
	if (rc == ERR_INVALID) {
		for (int i = 0; i < RATING_NCRITERIA; i++) {
			const char *f = arena_printf(r->a, "scores.%s", rating_criteria[i].key);
			for (int j = 0; j < r->err.nfields; j++)
				if (strcmp(r->err.fields[j].name, f) == 0 || (strcmp(r->err.fields[j].name, "scores") == 0 &&
									      in.scores[i] == RATING_UNSET)) {
					web_err(&p, arena_printf(r->a, "score-%s-0", rating_criteria[i].key),
						web_tf(&p, "rate.err_score", "n", arena_printf(r->a, "%d", i + 1), NULL));
					break;
				}
		}
		for (int j = 0; j < r->err.nfields; j++) {
			if (strcmp(r->err.fields[j].name, "overall") == 0)
				web_err(&p, "overall-0", web_t(&p, "rate.err_overall"));
			if (strcmp(r->err.fields[j].name, "comment") == 0)
				web_err(&p, "comment", web_t(&p, "rate.err_comment"));
		}
		err_clear(&r->err);
		return rating_form(&p, code, 422);
	}
	if (rc == ERR_INVALID_TRANSITION) {
		err_clear(&r->err);
		return web_redirect(&p, arena_printf(r->a, "/ho-so/%s?ok=already_rated", web_urlenc(r->a, code)));
	}
	return web_fail(&p, rc);
}

/* ---- downloads (applicants and officials) ---- */

static const char *ascii_name(struct arena *a, const char *name)
{
	char *s = arena_strdup(a, name ? name : "file");
	for (char *q = s; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '.' ||
		      *q == '-' || *q == '_'))
			*q = '_';
	return s;
}

static int h_file(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_SIGNED_IN))
		return 0;
	const char *code = req_param(r, "code"), *ids = req_param(r, "id");
	if (!code_ok(code) || !ids || !text_digits(ids, 0) || strlen(ids) > 15)
		return web_fail(&p, ERR_NOT_FOUND);
	struct dossier_file f;
	char *path;
	int rc = dossier_file_open(&p.c, code, atoll(ids), &f, &path, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		err_set(&r->err, ERR_INTERNAL, "stored file %s is missing", f.stored_name);
		return web_fail(&p, ERR_INTERNAL);
	}
	res_header(r, "Content-Disposition",
		   arena_printf(r->a, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii_name(r->a, f.filename),
				web_urlenc(r->a, f.filename)));
	res_file(r, 200, f.content_type, fd, (uint64_t)st.st_size);
	web_page_free(&p);
	return 0;
}

static int h_receipt(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_SIGNED_IN))
		return 0;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	struct buf pdf = BUF_INIT;
	int rc = dossier_form_pdf(&p.c, code, "receipt", p.lang, &pdf, &r->err);
	if (rc < 0) {
		buf_free(&pdf);
		return web_fail(&p, rc);
	}
	return web_send_pdf(&p, &pdf, arena_printf(r->a, "bien-nhan-%s.pdf", ascii_name(r->a, code)), true);
}

static int h_form_pdf(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_SIGNED_IN))
		return 0;
	const char *code = req_param(r, "code"), *kind = req_param(r, "kind");
	static const char *const kinds[] = {"receipt", "supplement", "refusal", "apology", "control"};
	bool known = false;
	for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
		if (strcmp(kind, arena_printf(r->a, "%s.pdf", kinds[i])) == 0) {
			kind = kinds[i];
			known = true;
		}
	if (!code_ok(code) || !known)
		return web_fail(&p, ERR_NOT_FOUND);
	struct buf pdf = BUF_INIT;
	int rc = dossier_form_pdf(&p.c, code, kind, p.lang, &pdf, &r->err);
	if (rc < 0) {
		buf_free(&pdf);
		return web_fail(&p, rc);
	}
	return web_send_pdf(&p, &pdf, arena_printf(r->a, "%s-%s.pdf", kind, ascii_name(r->a, code)), true);
}

static int h_pay_receipt(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_SIGNED_IN))
		return 0;
	const char *code = req_param(r, "code"), *ids = req_param(r, "id");
	if (!code_ok(code) || !ids || !text_digits(ids, 0) || strlen(ids) > 15)
		return web_fail(&p, ERR_NOT_FOUND);
	struct buf pdf = BUF_INIT;
	int rc = payment_receipt_pdf(&p.c, code, atoll(ids), p.lang, &pdf, &r->err);
	if (rc < 0) {
		buf_free(&pdf);
		return web_fail(&p, rc == ERR_CONFLICT ? ERR_NOT_FOUND : rc);
	}
	return web_send_pdf(&p, &pdf, arena_printf(r->a, "bien-lai-%s-%s.pdf", ascii_name(r->a, code), ids), true);
}

/* ---- pages of information ---- */

static int h_help(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	return web_render(&p, 200, "help", "help.title");
}

const struct route portal_routes[] = {
	{"GET", "/", h_home, 0},
	{"GET", "/thu-tuc", h_procedures, 0},
	{"GET", "/thu-tuc/{code}", h_procedure, 0},
	{"GET", "/dang-nhap", h_login, 0},
	{"POST", "/dang-nhap", h_login_post, ROUTE_UPLOAD | ROUTE_BLOCKING},
	{"POST", "/dang-xuat", h_logout, ROUTE_UPLOAD},
	{"GET", "/dang-ky", h_register, 0},
	{"POST", "/dang-ky", h_register_post, ROUTE_UPLOAD | ROUTE_BLOCKING},
	{"GET", "/tra-cuu", h_lookup, 0},
	{"GET", "/ho-so-cua-toi", h_mine, 0},
	{"GET", "/ho-so/{code}", h_dossier, 0},
	{"GET", "/dossiers/{code}", h_dossier_return, 0},
	{"POST", "/ho-so/{code}/bo-sung", h_supplement, ROUTE_UPLOAD},
	{"POST", "/ho-so/{code}/rut", h_withdraw, ROUTE_UPLOAD},
	{"POST", "/ho-so/{code}/thanh-toan", h_pay, ROUTE_UPLOAD | ROUTE_BLOCKING},
	{"GET", "/ho-so/{code}/danh-gia", h_rate, 0},
	{"POST", "/ho-so/{code}/danh-gia", h_rate_post, ROUTE_UPLOAD},
	{"GET", "/ho-so/{code}/tep/{id}", h_file, 0},
	{"GET", "/ho-so/{code}/bien-nhan.pdf", h_receipt, 0},
	{"GET", "/ho-so/{code}/mau/{kind}", h_form_pdf, 0},
	{"GET", "/ho-so/{code}/thanh-toan/{id}/bien-lai.pdf", h_pay_receipt, 0},
	{"GET", "/huong-dan", h_help, 0},
};
const size_t portal_nroutes = sizeof portal_routes / sizeof portal_routes[0];
