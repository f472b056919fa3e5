/* office_pages.c: the back office for officials and leaders: the worklist by
 * status and workflow step with due-soon and overdue marks and counts, a
 * dossier's page with its documents, history and exactly the actions the
 * person may take now (dossier_actions_allowed; dossier_act decides), desk
 * intake for an applicant with the receipt to print, and statistics per
 * agency. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agency/agency.h"
#include "base/text.h"
#include "base/time.h"
#include "payment/payment.h"
#include "rating/rating.h"
#include "web/web_view.h"

/* ---- procedures of the dossiers on a page (cached per request) ---- */

struct proc_cache {
	struct web_page *p;
	struct procedure items[32];
	bool ok[32];
	int n;
};

static const struct procedure *proc_of(struct proc_cache *pc, const char *code)
{
	for (int i = 0; i < pc->n; i++)
		if (strcmp(pc->items[i].code ? pc->items[i].code : "", code) == 0)
			return pc->ok[i] ? &pc->items[i] : NULL;
	if (pc->n >= 32)
		return NULL;
	struct err e = {0};
	int i = pc->n++;
	pc->ok[i] = procedure_get(&pc->p->c, code, &pc->items[i], &e) == 0;
	if (!pc->ok[i])
		pc->items[i].code = arena_strdup(pc->p->r->a, code);
	return pc->ok[i] ? &pc->items[i] : NULL;
}

static const char *step_name(struct web_page *p, const struct procedure *x, int step)
{
	if (!x || step < 0 || step >= x->nsteps)
		return "";
	return web_pick(p, x->steps[step].name, x->steps[step].name_en);
}

/* ---- worklist ---- */

struct tab {
	const char *key;
	int status;  /* 0 = any */
	int overdue; /* -1 any, 1 overdue */
	bool due_soon;
	bool leader_step; /* processing, at a leader's step */
};

static const struct tab tabs[] = {
	{"new", 1, -1, false, false},	      {"received", 2, -1, false, false},
	{"processing", 4, -1, false, false},  {"approve", 4, -1, false, true},
	{"supplement", 5, -1, false, false},  {"payment", 6, -1, false, false},
	{"withdrawal", 7, -1, false, false},  {"to_return", 9, -1, false, false},
	{"due_soon", 0, -1, true, false},     {"overdue", 0, 1, false, false},
	{"returned", 10, -1, false, false},   {"all", 0, -1, false, false},
};
enum { NTABS = sizeof tabs / sizeof tabs[0] };

static void filter_of(const struct tab *t, const char *agency, const char *q, struct dossier_filter *f)
{
	memset(f, 0, sizeof *f);
	f->status = t->status;
	f->overdue = t->overdue;
	f->due_soon = t->due_soon;
	f->agency = agency;
	f->q = q;
}

/* The processing dossiers at a leader's step (the list has no filter by step). */
static int leader_items(struct web_page *p, struct proc_cache *pc, const char *agency, const char *q,
			struct dossier **out, int *n)
{
	struct dossier_filter f;
	filter_of(&tabs[3], agency, q, &f);
	f.page = 1;
	f.per_page = 200;
	struct dossier *items;
	int64_t total;
	int k = 0;
	int rc = dossier_list(&p->c, &f, &items, n, &total, &p->r->err);
	if (rc < 0)
		return rc;
	for (int i = 0; i < *n; i++) {
		const struct procedure *x = proc_of(pc, items[i].procedure_code);
		if (x && items[i].step >= 0 && items[i].step < x->nsteps && x->steps[items[i].step].role == ROLE_LEADER)
			items[k++] = items[i];
	}
	*out = items;
	*n = k;
	return 0;
}

static int h_worklist(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF))
		return 0;
	p.section = "office";
	const struct principal *who = p.c.who;
	struct proc_cache pc = {.p = &p};
	const char *tabkey = req_query(r, "tab");
	const char *q = req_query(r, "q");
	if (q && (!*q || !text_valid(q, 200)))
		q = NULL;
	int ti = -1;
	for (int i = 0; tabkey && i < NTABS; i++)
		if (strcmp(tabs[i].key, tabkey) == 0)
			ti = i;
	if (ti < 0)
		ti = who->role == ROLE_LEADER ? 3 : 0;
	if (tabs[ti].leader_step && who->role != ROLE_LEADER)
		ti = 0;
	int64_t page = 1;
	if (req_query_int(r, "page", 1, 100000, &page, NULL) < 0) {
		err_clear(&r->err);
		page = 1;
	}
	const char *agency = who->agency_code;
	/* the counts of every tab */
	json_t *tl = json_array();
	for (int i = 0; i < NTABS; i++) {
		if (tabs[i].leader_step && who->role != ROLE_LEADER)
			continue;
		int64_t count = 0;
		if (tabs[i].leader_step) {
			struct dossier *items;
			int n = 0;
			if (leader_items(&p, &pc, agency, q, &items, &n) == 0)
				count = n;
			err_clear(&r->err);
		} else {
			struct dossier_filter f;
			filter_of(&tabs[i], agency, q, &f);
			f.page = 1;
			f.per_page = 1;
			struct dossier *items;
			int n;
			if (dossier_list(&p.c, &f, &items, &n, &count, &r->err) < 0) {
				err_clear(&r->err);
				count = 0;
			}
		}
		json_t *o = json_object();
		jset_s(o, "key", tabs[i].key);
		jset_s(o, "label", web_t(&p, arena_printf(r->a, "worklist.tabs.%s", tabs[i].key)));
		jset_i(o, "count", count);
		jset_b(o, "current", i == ti);
		jset_b(o, "alert", (strcmp(tabs[i].key, "overdue") == 0 || strcmp(tabs[i].key, "due_soon") == 0) && count > 0);
		jset_s(o, "href", arena_printf(r->a, "/can-bo?tab=%s%s%s", tabs[i].key, q ? "&q=" : "",
					       q ? web_urlenc(r->a, q) : ""));
		json_array_append_new(tl, o);
	}
	jset(p.d, "tabs", tl);
	/* the current tab's dossiers */
	struct dossier *items = NULL;
	int n = 0;
	int64_t total = 0;
	const int per_page = 25;
	if (tabs[ti].leader_step) {
		int all = 0;
		if (leader_items(&p, &pc, agency, q, &items, &all) < 0)
			return web_fail(&p, r->err.code);
		total = all;
		int from = (int)(page - 1) * per_page;
		items += from < all ? from : all;
		n = all - from;
		if (n > per_page)
			n = per_page;
		if (n < 0)
			n = 0;
	} else {
		struct dossier_filter f;
		filter_of(&tabs[ti], agency, q, &f);
		f.page = (int)page;
		f.per_page = per_page;
		int rc = dossier_list(&p.c, &f, &items, &n, &total, &r->err);
		if (rc < 0)
			return web_fail(&p, rc);
	}
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		json_t *o = view_dossier(&p, &items[i], arena_printf(r->a, "/can-bo/ho-so/%s", items[i].code));
		const struct procedure *x = proc_of(&pc, items[i].procedure_code);
		if (x)
			jset_s(o, "procedure_name", view_proc_name(&p, x));
		jset_s(o, "step", items[i].status == DS_SUBMITTED ? web_t(&p, "worklist.step_intake")
								   : step_name(&p, x, items[i].step));
		if (items[i].current_agency && strcmp(items[i].current_agency, who->agency_code ? who->agency_code : "") != 0)
			jset_s(o, "elsewhere", view_agency_name(&p, items[i].current_agency));
		json_array_append_new(list, o);
	}
	jset(p.d, "items", list);
	jset_b(p.d, "empty", n == 0);
	jset_i(p.d, "total", total);
	jset_s(p.d, "tab", tabs[ti].key);
	jset_s(p.d, "tab_label", web_t(&p, arena_printf(r->a, "worklist.tabs.%s", tabs[ti].key)));
	jset_s(p.d, "q", q ? q : "");
	jset_s(p.d, "agency_name", view_agency_name(&p, agency));
	jset(p.d, "pager",
	     web_pager(&p, "/can-bo",
		       arena_printf(r->a, "tab=%s&%s%s", tabs[ti].key, q ? "q=" : "", q ? arena_printf(r->a, "%s&", web_urlenc(r->a, q)) : ""),
		       (int)page, per_page, total));
	return web_render(&p, 200, "office_worklist", "worklist.title");
}

/* ---- a dossier (back office) ---- */

static const char *const secondary[] = {"request_payment", "extend", "stop", "request_supplement"};

static bool is_secondary(const char *a, unsigned allowed_in_step)
{
	for (size_t i = 0; i < sizeof secondary / sizeof secondary[0]; i++)
		if (strcmp(a, secondary[i]) == 0)
			return !(allowed_in_step & (1u << proc_action_parse(a)));
	return false;
}

/* The agencies at the level of the next step, when it is done at another level. */
static json_t *to_agency_options(struct web_page *p, const struct procedure *x, const struct dossier *d, const char *sel)
{
	if (!x || d->step + 1 >= x->nsteps)
		return NULL;
	const char *next_level = x->steps[d->step + 1].level;
	const char *cur_level = x->steps[d->step].level;
	if (strcmp(next_level, cur_level) == 0)
		return NULL;
	struct agency *items;
	int n;
	int64_t total;
	struct err e = {0};
	if (agency_list(&p->c, next_level, NULL, NULL, 1, 5000, &items, &n, &total, &e) < 0)
		return NULL;
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		if (strcmp(items[i].kind, "people_committee") != 0 && strcmp(items[i].kind, "department") != 0)
			continue;
		json_t *o = json_object();
		jset_s(o, "value", items[i].code);
		jset_s(o, "label", web_pick(p, items[i].name, items[i].name_en));
		jset_b(o, "selected", sel && strcmp(sel, items[i].code) == 0);
		json_array_append_new(a, o);
	}
	return a;
}

static int office_dossier(struct web_page *p, const char *code, int status, const char *failed_action)
{
	struct req *r = p->r;
	struct arena *a = r->a;
	struct dossier d;
	int rc = dossier_get(&p->c, code, &d, &r->err);
	if (rc < 0)
		return web_fail(p, rc);
	struct procedure x;
	struct err e = {0};
	bool have = procedure_get(&p->c, d.procedure_code, &x, &e) == 0;
	const char *base = arena_printf(a, "/ho-so/%s", d.code);
	json_t *o = view_dossier(p, &d, arena_printf(a, "/can-bo/ho-so/%s", d.code));
	if (have)
		jset_s(o, "procedure_name", view_proc_name(p, &x));
	jset_s(o, "applicant_id", d.applicant_id_number);
	jset_s(o, "applicant_phone", d.applicant_phone);
	jset_s(o, "applicant_email", d.applicant_email);
	jset_s(o, "applicant_address", d.applicant_address);
	jset_s(o, "current_agency", view_agency_name(p, d.current_agency));
	jset_s(o, "step", d.status == DS_SUBMITTED ? web_t(p, "worklist.step_intake") : have ? step_name(p, &x, d.step) : "");
	struct dossier_step *steps;
	int n = 0;
	if ((rc = dossier_history(&p->c, d.code, &steps, &n, &r->err)) < 0)
		return web_fail(p, rc);
	jset(o, "timeline", view_timeline(p, steps, n));
	struct dossier_file *files;
	int nf = 0;
	if ((rc = dossier_files(&p->c, d.code, &files, &nf, &r->err)) < 0)
		return web_fail(p, rc);
	jset(o, "files", view_files(p, base, files, nf));
	/* the answers */
	json_t *answers = json_array();
	json_t *form = d.form ? json_loads(d.form, 0, NULL) : NULL;
	if (have && form)
		for (int i = 0; i < x.nfields; i++) {
			json_t *av = json_object();
			jset_s(av, "label", web_pick(p, x.fields[i].label, x.fields[i].label_en));
			const char *v = form_display_value(p, &x.fields[i], json_object_get(form, x.fields[i].name));
			jset_s(av, "value", *v ? v : "—");
			json_array_append_new(answers, av);
		}
	if (form)
		json_decref(form);
	jset(o, "answers", answers);
	/* papers to print */
	json_t *papers = json_array();
	struct {
		const char *kind;
		bool when;
	} kinds[] = {
		{"receipt", d.received_at != 0},
		{"control", d.received_at != 0},
		{"supplement", d.status == DS_SUPPLEMENT_REQUESTED},
		{"refusal", d.status == DS_REFUSED},
		{"apology", d.due_at && d.deadline_state && strcmp(d.deadline_state, "overdue") == 0},
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (!kinds[i].when)
			continue;
		json_t *pp = json_object();
		jset_s(pp, "label", web_t(p, arena_printf(a, "papers.%s", kinds[i].kind)));
		jset_s(pp, "href", i == 0 ? arena_printf(a, "%s/bien-nhan.pdf", base) : arena_printf(a, "%s/mau/%s.pdf", base, kinds[i].kind));
		jset_s(pp, "id", arena_printf(a, "paper-%s", kinds[i].kind));
		json_array_append_new(papers, pp);
	}
	jset_b(o, "has_papers", json_array_size(papers) > 0);
	jset(o, "papers", papers);
	/* payments */
	struct payment *pays;
	int np = 0;
	json_t *pl = json_array();
	if (payment_list(&p->c, d.code, &pays, &np, &e) == 0)
		for (int i = 0; i < np; i++) {
			json_t *it = json_object();
			jset_s(it, "description", pays[i].description);
			jset_s(it, "amount", web_money(p, pays[i].amount));
			jset_s(it, "status", web_t(p, arena_printf(a, "payment_status.%s", pays[i].status)));
			jset_s(it, "status_cls", arena_printf(a, "tag tag--pay-%s", pays[i].status));
			jset_so(it, "receipt_no", pays[i].receipt_no);
			jset(it, "pay_action", json_null());
			jset_so(it, "receipt_href", strcmp(pays[i].status, "paid") == 0
							  ? arena_printf(a, "%s/thanh-toan/%lld/bien-lai.pdf", base, (long long)pays[i].id)
							  : NULL);
			json_array_append_new(pl, it);
		}
	jset_b(o, "has_payments", json_array_size(pl) > 0);
	jset(o, "payments", pl);
	struct rating rt;
	if ((d.status == DS_RESOLVED || d.status == DS_RETURNED) && rating_get(&p->c, d.code, &rt, &e) == 0) {
		json_t *rv = json_object();
		jset_s(rv, "overall", p->en ? rating_level_en(rt.overall) : rating_level_vi(rt.overall));
		jset_s(rv, "total", arena_printf(a, "%d/%d", rt.total, RATING_MAX_TOTAL));
		jset_so(rv, "comment", rt.comment);
		jset(o, "rating", rv);
	}
	/* exactly the actions this person may take now */
	unsigned allowed = 0;
	dossier_actions_allowed(&p->c, &d, &allowed, &e);
	unsigned in_step = have && d.step >= 0 && d.step < x.nsteps ? x.steps[d.step].actions : 0;
	json_t *primary = json_array(), *other = json_array();
	for (int i = 0; i < PA_COUNT; i++) {
		if (!(allowed & (1u << i)) || i == PA_SUPPLEMENT || i == PA_WITHDRAW)
			continue;
		const char *an = proc_action_name((enum proc_action)i);
		bool failed = failed_action && strcmp(failed_action, an) == 0;
		json_t *f = json_object();
		/* the keys the action partial tests, present so that none is found around it */
		static const char *const keys[] = {"to_agency", "amount", "date", "files", "multipart"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			jset(f, keys[k], json_null());
		jset_s(f, "action", an);
		jset_s(f, "label", web_t(p, arena_printf(a, "actions.%s", an)));
		jset_s(f, "help", web_t(p, arena_printf(a, "actions_help.%s", an)));
		jset_s(f, "form_action", arena_printf(a, "/can-bo/ho-so/%s/xu-ly", d.code));
		jset_b(f, "open", failed);
		jset_b(f, "danger", i == PA_REFUSE || i == PA_REJECT || i == PA_STOP);
		bool needs_reason = i == PA_REFUSE || i == PA_REJECT || i == PA_REQUEST_SUPPLEMENT || i == PA_EXTEND ||
				    (i == PA_STOP && d.status != DS_WITHDRAWAL_REQUESTED);
		const char *fid = arena_printf(a, "%s-%s", an, needs_reason ? "reason" : "note");
		json_t *txt = web_field(p, fid, needs_reason ? "reason" : "note",
					web_t(p, arena_printf(a, "actions_field.%s", needs_reason ? an : "note")),
					failed ? web_in(p, needs_reason ? "reason" : "note") : "");
		jset_b(txt, "optional", !needs_reason);
		jset(f, "text", txt);
		if (i == PA_FORWARD || i == PA_APPROVE || i == PA_RECEIVE) {
			json_t *opts = have ? to_agency_options(p, &x, &d, failed ? web_in(p, "to_agency") : NULL) : NULL;
			if (opts) {
				json_t *ta = web_field(p, arena_printf(a, "%s-to_agency", an), "to_agency",
						       web_t(p, "actions_field.to_agency"), "");
				jset(ta, "options", opts);
				jset(f, "to_agency", ta);
			}
		}
		if (i == PA_REQUEST_PAYMENT) {
			json_t *am = web_field(p, "request_payment-amount", "amount", web_t(p, "actions_field.amount"),
					       failed ? web_in(p, "amount") : "");
			int64_t left = procedure_fee_total(&x) - d.fee_paid;
			jset_s(am, "hint", web_tf(p, "actions_field.amount_hint", "amount", web_money(p, left > 0 ? left : 0), NULL));
			jset(f, "amount", am);
		}
		if (i == PA_EXTEND) {
			json_t *dt = web_field(p, "extend-date-day", "new_due", web_t(p, "actions_field.new_due"), "");
			jset_s(dt, "day", failed ? web_in(p, "new_due.day") : "");
			jset_s(dt, "month", failed ? web_in(p, "new_due.month") : "");
			jset_s(dt, "year", failed ? web_in(p, "new_due.year") : "");
			jset_s(dt, "hint", web_tf(p, "actions_field.new_due_hint", "date", web_date(p, d.due_at), NULL));
			jset(f, "date", dt);
		}
		if (i == PA_ISSUE_RESULT) {
			json_t *fl = web_field(p, "issue_result-files", "result", web_t(p, "actions_field.result_files"), "");
			jset_b(fl, "optional", true);
			jset(f, "files", fl);
			jset_b(f, "multipart", true);
		}
		json_array_append_new(is_secondary(an, in_step) ? other : primary, f);
	}
	jset(o, "primary", primary);
	jset(o, "other", other);
	jset_b(o, "has_actions", json_array_size(primary) + json_array_size(other) > 0);
	jset_b(o, "has_other", json_array_size(other) > 0);
	jset(p->d, "dossier", o);
	jset_s(p->d, "title", web_tf(p, "dossier.title", "code", d.code, NULL));
	return web_render(p, status, "office_dossier", NULL);
}

static bool code_ok(const char *code) { return code && text_valid(code, 40); }

static int h_dossier(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF | WEB_ADMIN))
		return 0;
	p.section = "office";
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	return office_dossier(&p, code, 200, NULL);
}

static void claim_uploads(struct req *r)
{
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i].filename && r->parts[i].path && access(r->parts[i].path, F_OK) != 0)
			r->parts[i].path = NULL;
}

static int h_action(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF))
		return 0;
	p.section = "office";
	struct arena *a = r->a;
	const char *code = req_param(r, "code");
	if (!code_ok(code))
		return web_fail(&p, ERR_NOT_FOUND);
	const char *an = web_in(&p, "action");
	int ai = proc_action_parse(an);
	if (ai < 0 || ai == PA_SUPPLEMENT || ai == PA_WITHDRAW)
		return web_error_page(&p, 400, "errors.bad_request_heading", web_t(&p, "errors.bad_request"));
	struct dossier_action act = {.action = (enum proc_action)ai};
	const char *note = web_in(&p, "note"), *reason = web_in(&p, "reason"), *to = web_in(&p, "to_agency");
	act.note = *note ? note : NULL;
	act.reason = *reason ? reason : NULL;
	act.to_agency = *to ? to : NULL;
	if (web_check_input(&p))
		return office_dossier(&p, code, 400, an);
	if (ai == PA_REQUEST_PAYMENT) {
		const char *am = web_in(&p, "amount");
		if (*am) {
			char digits[32];
			size_t k = 0;
			for (const char *s = am; *s && k < sizeof digits - 1; s++)
				if (*s != '.' && *s != ',' && *s != ' ')
					digits[k++] = *s;
			digits[k] = 0;
			if (!text_digits(digits, 0) || k > 13)
				web_err(&p, "request_payment-amount", web_t(&p, "actions_field.err_amount"));
			else
				act.amount = strtoll(digits, NULL, 10);
		}
	}
	if (ai == PA_EXTEND) {
		const char *dd = web_in(&p, "new_due.day"), *mm = web_in(&p, "new_due.month"), *yy = web_in(&p, "new_due.year");
		int32_t days;
		char iso[32];
		snprintf(iso, sizeof iso, "%.4s-%02d-%02d", yy, atoi(mm), atoi(dd));
		if (!text_digits(dd, 0) || !text_digits(mm, 0) || !text_digits(yy, 4) || strlen(dd) > 2 || strlen(mm) > 2 ||
		    !date_parse(iso, &days))
			web_err(&p, "extend-date-day", web_t(&p, "actions_field.err_date"));
		else
			act.new_due_at = ((int64_t)days * 86400 + 17 * 3600 - TIME_OFFSET_S) * 1000000; /* 17:00 local */
	}
	/* result files */
	struct dossier_upload *u = arena_alloc(a, sizeof *u * (size_t)(r->nparts ? r->nparts : 1));
	int nu = 0;
	for (int i = 0; i < r->nparts; i++) {
		struct http_part *pt = &r->parts[i];
		if (!pt->filename || !*pt->filename || !pt->path)
			continue;
		if (pt->size == 0) {
			web_err(&p, "issue_result-files", web_tf(&p, "files.err_empty", "file", pt->filename, NULL));
			continue;
		}
		u[nu].doc_index = -1;
		u[nu].filename = text_valid(pt->filename, 255) ? pt->filename : "ket-qua";
		u[nu].path = pt->path;
		u[nu].size = pt->size;
		u[nu].sha256 = pt->sha256;
		nu++;
	}
	if (ai == PA_ISSUE_RESULT) {
		act.uploads = u;
		act.nuploads = nu;
	}
	if (json_array_size(p.errors))
		return office_dossier(&p, code, 422, an);
	struct dossier d;
	int rc = dossier_act(&p.c, code, &act, &d, &r->err);
	if (rc == 0) {
		claim_uploads(r);
		return web_redirect(&p, arena_printf(a, "/can-bo/ho-so/%s?ok=%s", web_urlenc(a, code), an));
	}
	if (rc == ERR_INVALID) {
		for (int j = 0; j < r->err.nfields; j++) {
			const char *f = r->err.fields[j].name;
			if (strcmp(f, "reason") == 0)
				web_err(&p, arena_printf(a, "%s-reason", an), web_t(&p, "actions_field.err_reason"));
			else if (strcmp(f, "note") == 0)
				web_err(&p, arena_printf(a, "%s-note", an), web_t(&p, "actions_field.err_note"));
			else if (strcmp(f, "to_agency") == 0)
				web_err(&p, arena_printf(a, "%s-to_agency", an), web_t(&p, "actions_field.err_to_agency"));
			else if (strcmp(f, "amount") == 0)
				web_err(&p, "request_payment-amount", web_t(&p, "actions_field.err_amount"));
			else if (strcmp(f, "new_due_at") == 0)
				web_err(&p, "extend-date-day", web_t(&p, "actions_field.err_date_later"));
			else if (strncmp(f, "files", 5) == 0)
				web_err(&p, "issue_result-files", web_t(&p, "files.err_type_generic"));
		}
		if (!json_array_size(p.errors))
			web_err(&p, "main", r->err.msg);
		err_clear(&r->err);
		return office_dossier(&p, code, 422, an);
	}
	if (rc == ERR_INVALID_TRANSITION) {
		err_clear(&r->err);
		web_err(&p, "main", web_t(&p, "dossier.err_changed"));
		return office_dossier(&p, code, 409, NULL);
	}
	return web_fail(&p, rc);
}

/* ---- desk intake ---- */

static int h_intake_list(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF))
		return 0;
	p.section = "office";
	struct agency g;
	struct err e = {0};
	const char *level = NULL;
	if (p.c.who->agency_code && agency_get(&p.c, p.c.who->agency_code, &g, &e) == 0)
		level = g.level;
	const char *q = req_query(r, "q");
	if (q && (!*q || !text_valid(q, 200)))
		q = NULL;
	struct procedure_filter f = {.q = q, .level = level, .page = 1, .per_page = 500};
	struct procedure *items;
	int n = 0;
	int64_t total;
	int rc = procedure_list(&p.c, &f, &items, &n, &total, &r->err);
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *list = json_array();
	for (int i = 0; i < n; i++) {
		/* received at this level: the first step's level */
		json_t *o = json_object();
		jset_s(o, "code", items[i].code);
		jset_s(o, "name", web_pick(&p, items[i].name, items[i].name_en));
		jset_s(o, "field", web_pick(&p, items[i].field, items[i].field_en));
		jset_s(o, "href", arena_printf(r->a, "/can-bo/tiep-nhan/%s", items[i].code));
		json_array_append_new(list, o);
	}
	jset(p.d, "items", list);
	jset_b(p.d, "empty", n == 0);
	jset_s(p.d, "q", q ? q : "");
	jset_s(p.d, "agency_name", view_agency_name(&p, p.c.who->agency_code));
	return web_render(&p, 200, "office_intake_list", "intake.title");
}

static const char *const applicant_fields[] = {"name", "id_number", "phone", "email", "address"};

static int intake_form(struct web_page *p, const struct procedure *x, json_t *answers, int status)
{
	struct arena *a = p->r->a;
	json_t *app = json_array();
	for (size_t i = 0; i < sizeof applicant_fields / sizeof applicant_fields[0]; i++) {
		const char *id = arena_printf(a, "applicant-%s", applicant_fields[i]);
		json_t *f = web_field(p, id, arena_printf(a, "applicant.%s", applicant_fields[i]),
				      web_t(p, arena_printf(a, "intake.applicant_%s", applicant_fields[i])),
				      web_in(p, arena_printf(a, "applicant.%s", applicant_fields[i])));
		jset_b(f, "optional", i >= 2);
		jset_b(f, arena_printf(a, "is_%s", applicant_fields[i]), true);
		const char *hint = web_t(p, arena_printf(a, "intake.applicant_%s_hint", applicant_fields[i]));
		if (strncmp(hint, "intake.", 7) != 0)
			jset_s(f, "hint", hint);
		json_array_append_new(app, f);
	}
	jset(p->d, "applicant", app);
	jset(p->d, "fields", form_views(p, x, 0, x->nfields, answers));
	json_t *docs = json_array();
	for (int i = 0; i < x->ndocuments; i++) {
		json_t *o = json_object();
		jset_s(o, "id", arena_printf(a, "doc%d", i));
		jset_s(o, "name", arena_printf(a, "doc%d", i));
		jset_s(o, "label", web_pick(p, x->documents[i].name, x->documents[i].name_en));
		const char *err = web_field_err(p, arena_printf(a, "doc%d", i));
		if (err)
			jset_s(o, "error", err);
		json_array_append_new(docs, o);
	}
	jset(p->d, "documents", docs);
	const char *channel = web_in(p, "channel");
	jset_b(p->d, "postal", strcmp(channel, "postal") == 0);
	jset_s(p->d, "procedure_name", view_proc_name(p, x));
	jset_s(p->d, "action", arena_printf(a, "/can-bo/tiep-nhan/%s", x->code));
	jset_s(p->d, "agency_name", view_agency_name(p, p->c.who->agency_code));
	jset_s(p->d, "title", web_tf(p, "intake.form_title", "name", view_proc_name(p, x), NULL));
	return web_render(p, status, "office_intake", NULL);
}

static int h_intake(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF))
		return 0;
	p.section = "office";
	const char *code = req_param(r, "code");
	struct procedure x;
	int rc = code && text_valid(code, 32) ? procedure_get(&p.c, code, &x, &r->err) : ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *answers = json_object();
	rc = intake_form(&p, &x, answers, 200);
	json_decref(answers);
	return rc;
}

static int h_intake_post(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF))
		return 0;
	p.section = "office";
	struct arena *a = r->a;
	const char *code = req_param(r, "code");
	struct procedure x;
	int rc = code && text_valid(code, 32) ? procedure_get(&p.c, code, &x, &r->err) : ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	json_t *answers = json_object();
	form_read(&p, &x, 0, x.nfields, answers);
	if (web_check_input(&p)) {
		rc = intake_form(&p, &x, answers, 400);
		json_decref(answers);
		return rc;
	}
	struct dossier_new in = {0};
	in.procedure_code = x.code;
	in.agency_code = p.c.who->agency_code;
	in.channel = strcmp(web_in(&p, "channel"), "postal") == 0 ? "postal" : "direct";
	json_t *form = form_build(&x, answers);
	in.form = form;
	const char *vals[5];
	for (int i = 0; i < 5; i++) {
		vals[i] = web_in(&p, arena_printf(a, "applicant.%s", applicant_fields[i]));
		if (i == 1 || i == 2)
			vals[i] = web_compact(&p, vals[i], i == 2); /* identity number, phone */
		if (!*vals[i])
			vals[i] = NULL;
	}
	in.applicant_name = vals[0];
	in.applicant_id_number = vals[1];
	in.applicant_phone = vals[2];
	in.applicant_email = vals[3];
	in.applicant_address = vals[4];
	struct dossier_upload *u = arena_alloc(a, sizeof *u * (size_t)(r->nparts ? r->nparts : 1));
	int nu = 0;
	for (int i = 0; i < r->nparts; i++) {
		struct http_part *pt = &r->parts[i];
		if (!pt->filename || !*pt->filename || !pt->path || strncmp(pt->name, "doc", 3) != 0 ||
		    !text_digits(pt->name + 3, 0) || strlen(pt->name + 3) > 3)
			continue;
		if (pt->size == 0) {
			web_err(&p, pt->name, web_tf(&p, "files.err_empty", "file", pt->filename, NULL));
			continue;
		}
		u[nu].doc_index = atoi(pt->name + 3);
		u[nu].filename = text_valid(pt->filename, 255) ? pt->filename : "tep";
		u[nu].path = pt->path;
		u[nu].size = pt->size;
		u[nu].sha256 = pt->sha256;
		nu++;
	}
	in.uploads = u;
	in.nuploads = nu;
	struct dossier d;
	rc = json_array_size(p.errors) ? ERR_INVALID : dossier_submit(&p.c, &in, &d, &r->err);
	json_decref(form);
	if (rc >= 0) {
		claim_uploads(r);
		json_decref(answers);
		return web_redirect(&p, arena_printf(a, "/can-bo/ho-so/%s?ok=intake", web_urlenc(a, d.code)));
	}
	if (rc == ERR_INVALID || rc == ERR_FORBIDDEN) {
		for (int i = 0; i < 5; i++) {
			const char *f = arena_printf(a, "applicant.%s", applicant_fields[i]);
			for (int j = 0; j < r->err.nfields; j++)
				if (strcmp(r->err.fields[j].name, f) == 0)
					web_err(&p, arena_printf(a, "applicant-%s", applicant_fields[i]),
						web_t(&p, arena_printf(a, "intake.err_%s", applicant_fields[i])));
		}
		form_errors(&p, &x, 0, x.nfields, answers, &r->err);
		for (int j = 0; j < r->err.nfields; j++) {
			const char *f = r->err.fields[j].name;
			int di;
			if (strcmp(f, "agency_code") == 0)
				web_err(&p, "main", web_t(&p, "intake.err_agency"));
			else if (sscanf(f, "files[%d]", &di) == 1 && di >= 0 && di < nu)
				web_err(&p, arena_printf(a, "doc%d", u[di].doc_index), web_tf(&p, "files.err_type", "file", u[di].filename, NULL));
		}
		if (rc == ERR_FORBIDDEN)
			web_err(&p, "main", web_t(&p, "intake.err_agency"));
		if (!json_array_size(p.errors))
			web_err(&p, "main", r->err.msg);
		err_clear(&r->err);
		rc = intake_form(&p, &x, answers, 422);
		json_decref(answers);
		return rc;
	}
	json_decref(answers);
	return web_fail(&p, rc);
}

/* ---- statistics ---- */

static int h_stats(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_STAFF | WEB_ADMIN))
		return 0;
	p.section = p.c.who->role == ROLE_ADMIN ? "admin" : "office";
	struct arena *a = r->a;
	struct err e = {0};
	/* the agency summarised: the caller's, or one below it (?agency=) */
	const char *root = p.c.who->agency_code;
	const char *asked = req_query(r, "agency");
	if (!root) {
		struct agency *tops;
		int nt = 0;
		int64_t t;
		if (agency_list(&p.c, p.c.app->nlevels ? p.c.app->levels[0] : "province", NULL, NULL, 1, 50, &tops, &nt, &t, &e) == 0)
			for (int i = 0; i < nt && !root; i++)
				if (!tops[i].parent)
					root = tops[i].code;
	}
	const char *focus = root;
	if (asked && text_valid(asked, 32)) {
		struct agency g;
		if (agency_get(&p.c, asked, &g, &e) == 0 && identity_in_scope(p.c.who, g.path))
			focus = g.code;
		err_clear(&e);
	}
	if (!focus)
		return web_error_page(&p, 404, "errors.not_found_heading", web_t(&p, "errors.not_found"));
	struct agency *kids = NULL;
	int nk = 0;
	int64_t total;
	agency_list(&p.c, NULL, focus, NULL, 1, 500, &kids, &nk, &total, &e);
	err_clear(&e);
	/* one row per agency: the focus itself (its whole subtree) then each unit below */
	int nrows = 1 + nk;
	json_t *rows = json_array();
	static const int statuses[] = {1, 2, 4, 5, 6, 9, 10, 3, 8};
	enum { NS = sizeof statuses / sizeof statuses[0] };
	json_t *heads = json_array();
	for (int s = 0; s < NS; s++) {
		json_t *h = json_object();
		jset_s(h, "label", web_t(&p, arena_printf(a, "statuses.%s", dossier_status_name(statuses[s]))));
		json_array_append_new(heads, h);
	}
	jset(p.d, "status_heads", heads);
	for (int i = 0; i < nrows; i++) {
		const char *code = i == 0 ? focus : kids[i - 1].code;
		json_t *row = json_object();
		jset_s(row, "name", i == 0 ? view_agency_name(&p, code) : web_pick(&p, kids[i - 1].name, kids[i - 1].name_en));
		jset_b(row, "total_row", i == 0);
		jset_so(row, "href", i > 0 ? arena_printf(a, "/can-bo/thong-ke?agency=%s", code) : NULL);
		json_t *cells = json_array();
		int64_t all = 0;
		for (int s = 0; s < NS; s++) {
			struct dossier_filter f = {.status = statuses[s], .overdue = -1, .agency = code, .page = 1, .per_page = 1};
			struct dossier *items;
			int n;
			int64_t count = 0;
			if (dossier_list(&p.c, &f, &items, &n, &count, &e) < 0)
				err_clear(&e);
			all += count;
			json_t *c = json_object();
			jset_i(c, "n", count);
			json_array_append_new(cells, c);
		}
		jset(row, "cells", cells);
		jset_i(row, "all", all);
		struct dossier_filter of = {.overdue = 1, .agency = code, .page = 1, .per_page = 1};
		struct dossier *items;
		int n;
		int64_t overdue = 0;
		if (dossier_list(&p.c, &of, &items, &n, &overdue, &e) < 0)
			err_clear(&e);
		jset_i(row, "overdue", overdue);
		jset_b(row, "overdue_alert", overdue > 0);
		/* finished on time or late: the deadline state of each resolved or returned dossier */
		int64_t on_time = 0, late = 0;
		for (int st = 9; st <= 10; st++)
			for (int pg = 1; pg <= 25; pg++) {
				struct dossier_filter ff = {.status = st, .overdue = -1, .agency = code, .page = pg, .per_page = 200};
				int64_t t;
				if (dossier_list(&p.c, &ff, &items, &n, &t, &e) < 0) {
					err_clear(&e);
					break;
				}
				for (int k = 0; k < n; k++) {
					if (!items[k].deadline_state)
						continue;
					if (strcmp(items[k].deadline_state, "on_time") == 0)
						on_time++;
					else if (strcmp(items[k].deadline_state, "late") == 0)
						late++;
				}
				if (n < 200)
					break;
			}
		jset_i(row, "on_time", on_time);
		jset_i(row, "late", late);
		jset_s(row, "on_time_share",
		       on_time + late ? arena_printf(a, "%lld%%", (long long)(on_time * 100 / (on_time + late))) : "–");
		/* a unit with nothing at all is left out, to keep the table readable */
		if (i > 0 && all == 0) {
			json_decref(row);
			continue;
		}
		json_array_append_new(rows, row);
	}
	jset(p.d, "rows", rows);
	jset_s(p.d, "agency_name", view_agency_name(&p, focus));
	if (focus != root)
		jset_s(p.d, "up_href", "/can-bo/thong-ke");
	/* satisfaction (ratings of Circular 01/2018) */
	struct rating_filter rf = {.agency = focus};
	struct rating_summary rs;
	if (rating_summary(&p.c, &rf, &rs, &e) == 0) {
		json_t *sv = json_object();
		jset_i(sv, "count", rs.all.count);
		jset(sv, "share", json_null());
		jset(sv, "average", json_null());
		if (rs.all.count) {
			int64_t sat = rs.all.levels[RL_VERY_SATISFIED] + rs.all.levels[RL_SATISFIED];
			jset_s(sv, "share", arena_printf(a, "%lld%%", (long long)(sat * 100 / rs.all.count)));
			jset_s(sv, "average", arena_printf(a, "%.1f/%d", (double)rs.all.total_sum / (double)rs.all.count,
							    RATING_MAX_TOTAL));
		}
		jset(p.d, "ratings", sv);
	}
	err_clear(&e);
	return web_render(&p, 200, "office_stats", "stats.title");
}

const struct route office_routes[] = {
	{"GET", "/can-bo", h_worklist, 0},
	{"GET", "/can-bo/ho-so/{code}", h_dossier, 0},
	{"POST", "/can-bo/ho-so/{code}/xu-ly", h_action, ROUTE_UPLOAD},
	{"GET", "/can-bo/tiep-nhan", h_intake_list, 0},
	{"GET", "/can-bo/tiep-nhan/{code}", h_intake, 0},
	{"POST", "/can-bo/tiep-nhan/{code}", h_intake_post, ROUTE_UPLOAD},
	{"GET", "/can-bo/thong-ke", h_stats, 0},
};
const size_t office_nroutes = sizeof office_routes / sizeof office_routes[0];
