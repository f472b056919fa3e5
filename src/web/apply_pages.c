/* apply_pages.c: applying online, one step per page, with plain HTML forms:
 * a start page, the receiving agency, the procedure's questions a group per
 * page, the files of each document, "check your answers" with change links,
 * and the confirmation with the dossier code and what happens next. What was
 * typed is kept in a server-side draft (web_draft.h) after every page, so a
 * failed page or submission loses nothing; each page's answers are checked
 * with the domain's own form check (dossier_form_check), and the submission
 * is the same dossier_submit the API calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "filestore/filestore.h"
#include "web/web_draft.h"
#include "web/web_view.h"

enum { MAX_PAGES = 32 };

struct flow {
	struct web_page *p;
	struct web_draft dr;
	struct procedure proc;
	int starts[MAX_PAGES + 1];
	int npages;
	const char *base; /* /ho-so-nhap/<id> */
};

/* Loads the caller's draft and its procedure; on failure the answer is made. */
static bool flow_load(struct web_page *p, struct flow *f)
{
	struct req *r = p->r;
	memset(f, 0, sizeof *f);
	f->p = p;
	const char *id = req_param(r, "id");
	int rc = draft_get(&p->c, id, &f->dr, &r->err);
	if (rc == 0)
		rc = procedure_get(&p->c, f->dr.procedure_code, &f->proc, &r->err);
	if (rc < 0) {
		draft_release(&f->dr);
		web_fail(p, rc);
		return false;
	}
	f->npages = form_pages(&f->proc, f->starts, MAX_PAGES);
	f->base = arena_printf(r->a, "/ho-so-nhap/%s", f->dr.id);
	return true;
}

static void flow_release(struct flow *f) { draft_release(&f->dr); }

/* Steps: agency, the question pages, documents, check. */
static int step_count(const struct flow *f) { return f->npages + 3; }

static void flow_data(struct flow *f, int step, const char *back)
{
	struct web_page *p = f->p;
	struct arena *a = p->r->a;
	jset_s(p->d, "procedure_name", view_proc_name(p, &f->proc));
	jset_s(p->d, "procedure_href", arena_printf(a, "/thu-tuc/%s", f->proc.code));
	jset_s(p->d, "progress", web_tf(p, "apply.progress", "n", arena_printf(a, "%d", step), "total",
					arena_printf(a, "%d", step_count(f)), NULL));
	jset_s(p->d, "back", back);
	jset_s(p->d, "base", f->base);
	jset_s(p->d, "delete_action", arena_printf(a, "%s/xoa", f->base));
}

/* ---- start ---- */

static int h_start(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	const char *code = req_param(r, "code");
	struct procedure x;
	int rc = code && text_valid(code, 32) ? procedure_get(&p.c, code, &x, &r->err) : ERR_NOT_FOUND;
	if (rc == 0 && !x.active)
		rc = ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	jset_s(p.d, "procedure_name", view_proc_name(&p, &x));
	jset_s(p.d, "procedure_href", arena_printf(r->a, "/thu-tuc/%s", x.code));
	jset_s(p.d, "action", arena_printf(r->a, "/thu-tuc/%s/nop", x.code));
	jset_b(p.d, "online", x.online != PROC_ONLINE_NONE);
	jset_s(p.d, "days", web_tf(&p, x.processing_days == 1 ? "procedure.days_one" : "procedure.days", "n", arena_printf(r->a, "%d", x.processing_days), NULL));
	int64_t fees = procedure_fee_total(&x);
	jset_s(p.d, "fee", fees > 0 ? web_money(&p, fees) : web_t(&p, "procedure.no_fee"));
	json_t *docs = json_array();
	for (int i = 0; i < x.ndocuments; i++) {
		if (!x.documents[i].required)
			continue;
		json_t *o = json_object();
		jset_s(o, "name", web_pick(&p, x.documents[i].name, x.documents[i].name_en));
		if (x.documents[i].ecopy_source)
			jset_s(o, "ecopy", web_t(&p, arena_printf(r->a, "ecopy.%s", x.documents[i].ecopy_source)));
		json_array_append_new(docs, o);
	}
	jset(p.d, "documents", docs);
	const struct principal *who = p.c.who;
	jset_b(p.d, "citizen", who && who->role == ROLE_CITIZEN);
	jset_b(p.d, "staff", who && (who->role == ROLE_OFFICIAL || who->role == ROLE_LEADER));
	jset_b(p.d, "anonymous", !who);
	jset_s(p.d, "login_next", arena_printf(r->a, "/dang-nhap?next=%s",
					       web_urlenc(r->a, arena_printf(r->a, "/thu-tuc/%s/nop", x.code))));
	jset_s(p.d, "register_next", arena_printf(r->a, "/dang-ky?next=%s",
						  web_urlenc(r->a, arena_printf(r->a, "/thu-tuc/%s/nop", x.code))));
	jset_s(p.d, "intake_href", arena_printf(r->a, "/can-bo/tiep-nhan/%s", x.code));
	jset_s(p.d, "title", web_tf(&p, "apply.start_title", "name", view_proc_name(&p, &x), NULL));
	return web_render(&p, 200, "apply_start", NULL);
}

static int h_start_post(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	struct procedure x;
	int rc = code && text_valid(code, 32) ? procedure_get(&p.c, code, &x, &r->err) : ERR_NOT_FOUND;
	if (rc == 0 && !x.active)
		rc = ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	if (x.online == PROC_ONLINE_NONE)
		return web_redirect(&p, arena_printf(r->a, "/thu-tuc/%s/nop", x.code));
	char *id;
	if ((rc = draft_create(&p.c, x.code, &id, &r->err)) < 0)
		return web_fail(&p, rc);
	return web_redirect(&p, arena_printf(r->a, "/ho-so-nhap/%s/co-quan", id));
}

/* Where to go on: the page after, or back to "check your answers" after a change. */
static const char *next_of(struct web_page *p, struct flow *f, const char *natural)
{
	if (strcmp(web_in(p, "then"), "check") == 0)
		return arena_printf(p->r->a, "%s/kiem-tra", f->base);
	return natural;
}

static const char *then_query(struct web_page *p)
{
	const char *t = req_query(p->r, "then");
	return t && strcmp(t, "check") == 0 ? "check" : "";
}

/* ---- receiving agency ---- */

static int agency_page(struct web_page *p, struct flow *f, int status, const char *selected)
{
	json_t *ag = view_receiving_agencies(p, &f->proc, selected);
	int64_t count = json_integer_value(json_object_get(ag, "count"));
	jset_b(ag, "radios", !json_is_true(json_object_get(ag, "grouped")) && count <= 6);
	jset_b(ag, "select", json_is_true(json_object_get(ag, "grouped")) || count > 6);
	jset(p->d, "agencies", ag);
	const char *err = web_field_err(p, "agency");
	if (err)
		jset_s(p->d, "agency_error", err);
	jset_s(p->d, "then", then_query(p)[0] ? then_query(p) : web_in(p, "then"));
	flow_data(f, 1, arena_printf(p->r->a, "/thu-tuc/%s/nop", f->proc.code));
	jset_s(p->d, "action", arena_printf(p->r->a, "%s/co-quan", f->base));
	const char *level = f->proc.nsteps ? f->proc.steps[0].level : "commune";
	jset_s(p->d, "hint", web_t(p, arena_printf(p->r->a, "apply.agency_hint_%s", level)));
	int rc = web_render(p, status, "apply_agency", "apply.agency_title");
	flow_release(f);
	return rc;
}

static int h_agency(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	return agency_page(&p, &f, 200, f.dr.agency_code);
}

static int h_agency_post(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	const char *agency = web_in(&p, "agency");
	if (web_check_input(&p))
		return agency_page(&p, &f, 400, NULL);
	/* the choice must be one of those offered (the domain checks again at submission) */
	json_t *ag = view_receiving_agencies(&p, &f.proc, NULL);
	bool found = false;
	json_t *lists[2] = {json_object_get(ag, "options"), NULL};
	size_t gi;
	json_t *g;
	json_array_foreach(json_object_get(ag, "groups"), gi, g)
	{
		size_t oi;
		json_t *o;
		json_array_foreach(json_object_get(g, "options"), oi, o) if (strcmp(json_string_value(json_object_get(o, "value")), agency) == 0) found = true;
	}
	size_t oi;
	json_t *o;
	json_array_foreach(lists[0], oi, o) if (strcmp(json_string_value(json_object_get(o, "value")), agency) == 0) found = true;
	json_decref(ag);
	if (!found) {
		web_err(&p, "agency", web_t(&p, *agency ? "apply.err_agency_bad" : "apply.err_agency"));
		return agency_page(&p, &f, 422, NULL);
	}
	f.dr.agency_code = (char *)agency;
	int rc = draft_save(&p.c, &f.dr, &r->err);
	if (rc < 0) {
		flow_release(&f);
		return web_fail(&p, rc);
	}
	const char *next = next_of(&p, &f,
				   f.npages ? arena_printf(r->a, "%s/cau-hoi/1", f.base) : arena_printf(r->a, "%s/giay-to", f.base));
	flow_release(&f);
	return web_redirect(&p, next);
}

/* ---- questions ---- */

static const char *page_heading(struct web_page *p, struct flow *f, int n)
{
	int from = f->starts[n - 1], to = f->starts[n];
	/* a page of one group ("child_...", "mother_...") is named after it when the catalog knows the group */
	const char *first = f->proc.fields[from].name;
	size_t plen = strcspn(first, "_");
	bool same = true;
	for (int i = from + 1; i < to; i++)
		if (strncmp(f->proc.fields[i].name, first, plen) != 0 || f->proc.fields[i].name[plen] != '_')
			same = false;
	if (same && to - from >= 2) {
		const char *key = arena_printf(p->r->a, "apply.groups.%.*s", (int)plen, first);
		const char *t = web_t(p, key);
		if (strcmp(t, key) != 0)
			return t;
	}
	if (f->npages == 1)
		return web_t(p, "apply.questions_title");
	return web_tf(p, "apply.questions_part", "n", arena_printf(p->r->a, "%d", n), "total",
		      arena_printf(p->r->a, "%d", f->npages), NULL);
}

static int questions_page(struct web_page *p, struct flow *f, int n, int status)
{
	struct arena *a = p->r->a;
	int from = f->starts[n - 1], to = f->starts[n];
	jset(p->d, "fields", form_views(p, &f->proc, from, to, f->dr.answers));
	const char *back = n == 1 ? arena_printf(a, "%s/co-quan", f->base) : arena_printf(a, "%s/cau-hoi/%d", f->base, n - 1);
	flow_data(f, n + 1, back);
	jset_s(p->d, "action", arena_printf(a, "%s/cau-hoi/%d", f->base, n));
	jset_s(p->d, "then", then_query(p)[0] ? then_query(p) : web_in(p, "then"));
	jset_s(p->d, "title", page_heading(p, f, n));
	int rc = web_render(p, status, "apply_questions", NULL);
	flow_release(f);
	return rc;
}

static int page_number(struct web_page *p, struct flow *f)
{
	const char *s = req_param(p->r, "n");
	if (!s || !text_digits(s, 0) || strlen(s) > 3)
		return 0;
	int n = atoi(s);
	return n >= 1 && n <= f->npages ? n : 0;
}

static int h_questions(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	int n = page_number(&p, &f);
	if (!n) {
		flow_release(&f);
		return web_fail(&p, ERR_NOT_FOUND);
	}
	return questions_page(&p, &f, n, 200);
}

static int h_questions_post(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	int n = page_number(&p, &f);
	if (!n) {
		flow_release(&f);
		return web_fail(&p, ERR_NOT_FOUND);
	}
	int from = f.starts[n - 1], to = f.starts[n];
	form_read(&p, &f.proc, from, to, f.dr.answers);
	/* what was typed is kept whatever happens next */
	int rc = draft_save(&p.c, &f.dr, &r->err);
	if (rc < 0) {
		flow_release(&f);
		return web_fail(&p, rc);
	}
	if (web_check_input(&p))
		return questions_page(&p, &f, n, 400);
	json_t *form = form_build(&f.proc, f.dr.answers);
	struct err e = {0};
	rc = dossier_form_check(&p.c, f.proc.code, form, &e);
	json_decref(form);
	if (rc == ERR_INVALID && form_errors(&p, &f.proc, from, to, f.dr.answers, &e) > 0)
		return questions_page(&p, &f, n, 422);
	if (rc < 0 && rc != ERR_INVALID) {
		flow_release(&f);
		r->err = e;
		return web_fail(&p, rc);
	}
	const char *next = next_of(&p, &f,
				   n < f.npages ? arena_printf(r->a, "%s/cau-hoi/%d", f.base, n + 1)
						: arena_printf(r->a, "%s/giay-to", f.base));
	flow_release(&f);
	return web_redirect(&p, next);
}

/* ---- documents ---- */

static json_t *file_of(struct flow *f, int doc)
{
	size_t i;
	json_t *it;
	json_array_foreach(f->dr.files, i, it) if (json_integer_value(json_object_get(it, "doc")) == doc) return it;
	return NULL;
}

static void remove_file(struct web_page *p, struct flow *f, int doc)
{
	size_t i;
	json_t *it;
	json_array_foreach(f->dr.files, i, it)
	{
		if (json_integer_value(json_object_get(it, "doc")) != doc)
			continue;
		const char *stored = json_string_value(json_object_get(it, "stored"));
		if (stored && !strchr(stored, '/'))
			unlink(arena_printf(p->r->a, "%s/%s", draft_dir(p->c.app, f->dr.id, p->r->a), stored));
		json_array_remove(f->dr.files, i);
		return;
	}
}

static int documents_page(struct web_page *p, struct flow *f, int status)
{
	struct arena *a = p->r->a;
	json_t *docs = json_array();
	for (int i = 0; i < f->proc.ndocuments; i++) {
		const struct proc_document *d = &f->proc.documents[i];
		json_t *o = json_object();
		const char *id = arena_printf(a, "doc%d", i);
		jset_s(o, "id", id);
		jset_s(o, "name", id);
		jset_i(o, "index", i);
		jset_s(o, "label", web_pick(p, d->name, d->name_en));
		jset_b(o, "required", d->required && !d->ecopy_source);
		jset_b(o, "optional", !d->required);
		if (d->ecopy_source)
			jset_s(o, "ecopy", web_t(p, arena_printf(a, "ecopy.%s", d->ecopy_source)));
		struct buf t = BUF_INIT, acc = BUF_INIT;
		if (d->types & PROC_T_PDF) {
			buf_puts(&t, "PDF");
			buf_puts(&acc, ".pdf,application/pdf");
		}
		if (d->types & PROC_T_JPG) {
			buf_puts(&t, t.len ? ", JPG" : "JPG");
			buf_puts(&acc, acc.len ? ",.jpg,.jpeg,image/jpeg" : ".jpg,.jpeg,image/jpeg");
		}
		if (d->types & PROC_T_PNG) {
			buf_puts(&t, t.len ? ", PNG" : "PNG");
			buf_puts(&acc, acc.len ? ",.png,image/png" : ".png,image/png");
		}
		jset_s(o, "hint", web_tf(p, "procedure.file_types", "types", buf_cstr(&t), "mb", arena_printf(a, "%d", d->max_mb), NULL));
		jset_s(o, "accept", buf_cstr(&acc));
		buf_free(&t);
		buf_free(&acc);
		json_t *have = file_of(f, i);
		if (have) {
			json_t *h = json_object();
			jset_s(h, "filename", json_string_value(json_object_get(have, "filename")));
			jset_s(h, "size", web_size(p, json_integer_value(json_object_get(have, "size"))));
			jset(o, "file", h);
		}
		const char *err = web_field_err(p, id);
		if (err)
			jset_s(o, "error", err);
		json_array_append_new(docs, o);
	}
	jset(p->d, "documents", docs);
	flow_data(f, f->npages + 2,
		  f->npages ? arena_printf(a, "%s/cau-hoi/%d", f->base, f->npages) : arena_printf(a, "%s/co-quan", f->base));
	jset_s(p->d, "action", arena_printf(a, "%s/giay-to", f->base));
	jset_s(p->d, "then", then_query(p)[0] ? then_query(p) : web_in(p, "then"));
	int rc = web_render(p, status, "apply_documents", "apply.documents_title");
	flow_release(f);
	return rc;
}

static int h_documents(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	return documents_page(&p, &f, 200);
}

/* Takes the files sent with the form into the draft, each checked against its document. */
static void take_files(struct web_page *p, struct flow *f)
{
	struct req *r = p->r;
	const char *dir = draft_dir(p->c.app, f->dr.id, r->a);
	char *drafts = arena_printf(r->a, "%s/drafts", p->c.app->cfg->data);
	mkdir(drafts, 0700);
	mkdir(dir, 0700);
	for (int i = 0; i < r->nparts; i++) {
		struct http_part *pt = &r->parts[i];
		if (!pt->filename || !*pt->filename || !pt->path)
			continue;
		if (strncmp(pt->name, "doc", 3) != 0 || !text_digits(pt->name + 3, 0) || strlen(pt->name + 3) > 3)
			continue;
		int doc = atoi(pt->name + 3);
		if (doc >= f->proc.ndocuments)
			continue;
		const struct proc_document *d = &f->proc.documents[doc];
		const char *fname = text_valid(pt->filename, 255) ? pt->filename : "tep-dinh-kem";
		if (pt->size == 0) {
			web_err(p, pt->name, web_tf(p, "files.err_empty", "file", fname, NULL));
			continue;
		}
		unsigned type = 0;
		const char *ct = NULL;
		struct err se = {0};
		if (filestore_sniff(pt->path, &type, &ct, &se) < 0 || (d->types && !(d->types & type))) {
			web_err(p, pt->name, web_tf(p, "files.err_type", "file", fname, NULL));
			continue;
		}
		if (d->max_mb > 0 && pt->size > (int64_t)d->max_mb * 1024 * 1024) {
			web_err(p, pt->name, web_tf(p, "files.err_large", "file", fname, "mb",
						     arena_printf(r->a, "%d", d->max_mb), NULL));
			continue;
		}
		if (json_array_size(f->dr.files) >= WEB_DRAFT_MAX_FILES)
			continue;
		char rnd[32];
		crypto_random_token(12, rnd, sizeof rnd);
		const char *stored = arena_printf(r->a, "%d-%s", doc, rnd);
		const char *dest = arena_printf(r->a, "%s/%s", dir, stored);
		if (rename(pt->path, dest) != 0) {
			log_error("web: cannot move an upload into %s: %s", dest, strerror(errno));
			web_err(p, pt->name, web_tf(p, "files.err_store", "file", fname, NULL));
			continue;
		}
		pt->path = NULL; /* ours now */
		remove_file(p, f, doc);
		json_t *o = json_object();
		jset_i(o, "doc", doc);
		jset_s(o, "filename", fname);
		jset_s(o, "stored", stored);
		jset_i(o, "size", pt->size);
		jset_s(o, "sha256", pt->sha256);
		json_array_append_new(f->dr.files, o);
	}
}

static int h_documents_post(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	take_files(&p, &f);
	const char *remove = web_in(&p, "remove");
	if (*remove && text_digits(remove, 0) && strlen(remove) <= 3)
		remove_file(&p, &f, atoi(remove));
	int rc = draft_save(&p.c, &f.dr, &r->err);
	if (rc < 0) {
		flow_release(&f);
		return web_fail(&p, rc);
	}
	if (json_array_size(p.errors))
		return documents_page(&p, &f, 422);
	if (*remove || strcmp(web_in(&p, "upload"), "1") == 0) {
		const char *then = strcmp(web_in(&p, "then"), "check") == 0 ? "?then=check" : "";
		const char *to = arena_printf(r->a, "%s/giay-to%s", f.base, then);
		flow_release(&f);
		return web_redirect(&p, to);
	}
	/* every required document that no national database supplies needs its file */
	for (int i = 0; i < f.proc.ndocuments; i++) {
		const struct proc_document *d = &f.proc.documents[i];
		if (d->required && !d->ecopy_source && !file_of(&f, i))
			web_err(&p, arena_printf(r->a, "doc%d", i),
				web_tf(&p, "apply.err_document", "name", web_pick(&p, d->name, d->name_en), NULL));
	}
	if (json_array_size(p.errors))
		return documents_page(&p, &f, 422);
	const char *next = arena_printf(r->a, "%s/kiem-tra", f.base);
	flow_release(&f);
	return web_redirect(&p, next);
}

/* ---- check your answers, and submit ---- */

static int check_page(struct web_page *p, struct flow *f, int status)
{
	struct arena *a = p->r->a;
	json_t *sections = json_array();
	/* the agency */
	{
		json_t *s = json_object(), *rows = json_array(), *row = json_object();
		jset_s(s, "heading", web_t(p, "apply.check_agency"));
		jset_s(row, "label", web_t(p, "apply.agency_label"));
		jset_s(row, "value", f->dr.agency_code ? view_agency_name(p, f->dr.agency_code) : "");
		jset_b(row, "missing", !f->dr.agency_code);
		jset_s(row, "href", arena_printf(a, "%s/co-quan?then=check", f->base));
		jset_s(row, "change_label", web_t(p, "apply.agency_label"));
		json_array_append_new(rows, row);
		jset(s, "rows", rows);
		json_array_append_new(sections, s);
	}
	/* the questions, by page */
	for (int n = 1; n <= f->npages; n++) {
		json_t *s = json_object(), *rows = json_array();
		jset_s(s, "heading", page_heading(p, f, n));
		for (int i = f->starts[n - 1]; i < f->starts[n]; i++) {
			const struct proc_field *fl = &f->proc.fields[i];
			json_t *row = json_object();
			const char *label = web_pick(p, fl->label, fl->label_en);
			jset_s(row, "label", label);
			const char *v = form_display(p, fl, f->dr.answers);
			jset_s(row, "value", v);
			jset_b(row, "missing", !*v);
			jset_b(row, "optional", !fl->required);
			jset_s(row, "href", arena_printf(a, "%s/cau-hoi/%d?then=check#%s", f->base, n, form_anchor(p, fl)));
			jset_s(row, "change_label", label);
			json_array_append_new(rows, row);
		}
		jset(s, "rows", rows);
		json_array_append_new(sections, s);
	}
	/* the documents */
	{
		json_t *s = json_object(), *rows = json_array();
		jset_s(s, "heading", web_t(p, "apply.documents_title"));
		for (int i = 0; i < f->proc.ndocuments; i++) {
			const struct proc_document *d = &f->proc.documents[i];
			json_t *row = json_object();
			const char *label = web_pick(p, d->name, d->name_en);
			jset_s(row, "label", label);
			json_t *have = file_of(f, i);
			if (have)
				jset_s(row, "value", arena_printf(a, "%s (%s)", json_string_value(json_object_get(have, "filename")),
								  web_size(p, json_integer_value(json_object_get(have, "size")))));
			else if (d->ecopy_source)
				jset_s(row, "value", web_t(p, arena_printf(a, "ecopy.%s", d->ecopy_source)));
			else
				jset_s(row, "value", "");
			jset_b(row, "missing", !have && !d->ecopy_source);
			jset_b(row, "optional", !d->required);
			jset_b(row, "document", true);
			jset_so(row, "href", have || !d->ecopy_source ? arena_printf(a, "%s/giay-to?then=check#doc%d", f->base, i) : NULL);
			jset_s(row, "change_label", label);
			json_array_append_new(rows, row);
		}
		jset(s, "rows", rows);
		json_array_append_new(sections, s);
	}
	jset(p->d, "sections", sections);
	/* the applicant: from the account */
	const struct principal *who = p->c.who;
	jset_s(p->d, "applicant_name", who->full_name);
	jset_s(p->d, "applicant_id", who->id_number ? who->id_number : who->username);
	flow_data(f, f->npages + 3, arena_printf(a, "%s/giay-to", f->base));
	jset_s(p->d, "action", arena_printf(a, "%s/kiem-tra", f->base));
	int rc = web_render(p, status, "apply_check", "apply.check_title");
	flow_release(f);
	return rc;
}

static int h_check(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	return check_page(&p, &f, 200);
}

/* Links the draft's files into the upload directory (the draft keeps its own
 * until the dossier exists): dossier_submit moves the links into the store. */
static int link_uploads(struct web_page *p, struct flow *f, struct dossier_upload **out, int *n)
{
	struct req *r = p->r;
	size_t count = json_array_size(f->dr.files);
	struct dossier_upload *u = arena_alloc(r->a, sizeof *u * (count ? count : 1));
	const char *dir = draft_dir(p->c.app, f->dr.id, r->a);
	int k = 0;
	size_t i;
	json_t *it;
	json_array_foreach(f->dr.files, i, it)
	{
		const char *stored = json_string_value(json_object_get(it, "stored"));
		if (!stored || strchr(stored, '/'))
			continue;
		char rnd[32];
		crypto_random_token(16, rnd, sizeof rnd);
		char *tmp = arena_printf(r->a, "%s/tmp/up-%s", p->c.app->cfg->data, rnd);
		if (link(arena_printf(r->a, "%s/%s", dir, stored), tmp) != 0) {
			log_error("web: cannot link a draft file: %s", strerror(errno));
			continue;
		}
		u[k].doc_index = (int)json_integer_value(json_object_get(it, "doc"));
		u[k].filename = json_string_value(json_object_get(it, "filename"));
		u[k].path = tmp;
		u[k].size = json_integer_value(json_object_get(it, "size"));
		u[k].sha256 = json_string_value(json_object_get(it, "sha256"));
		k++;
	}
	*out = u;
	*n = k;
	return 0;
}

static void unlink_uploads(struct dossier_upload *u, int n)
{
	for (int i = 0; i < n; i++)
		unlink(u[i].path); /* gone already when the store took it */
}

static int h_submit(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	struct arena *a = r->a;
	if (!f.dr.agency_code)
		web_err(&p, "agency", web_t(&p, "apply.err_agency"));
	json_t *form = form_build(&f.proc, f.dr.answers);
	struct dossier_new in = {0};
	in.procedure_code = f.proc.code;
	in.agency_code = f.dr.agency_code;
	in.channel = "online";
	in.form = form;
	in.idempotency_key = arena_printf(a, "web-draft-%s", f.dr.id);
	struct dossier d;
	int rc = 0;
	if (!json_array_size(p.errors)) {
		link_uploads(&p, &f, &in.uploads, &in.nuploads);
		rc = dossier_submit(&p.c, &in, &d, &r->err);
		unlink_uploads(in.uploads, in.nuploads);
	}
	json_decref(form);
	if (rc >= 0 && !json_array_size(p.errors)) {
		struct err e = {0};
		if (draft_delete(&p.c, &f.dr, &e) < 0)
			log_warn("web: draft %s not deleted: %s", f.dr.id, e.msg);
		flow_release(&f);
		return web_redirect(&p, arena_printf(a, "/ho-so/%s/da-nop", web_urlenc(a, d.code)));
	}
	if (rc == ERR_INVALID) {
		/* each problem links to the page where it is put right */
		for (int j = 0; j < r->err.nfields; j++) {
			const char *name = r->err.fields[j].name;
			if (strcmp(name, "agency_code") == 0) {
				web_err(&p, "agency", web_t(&p, "apply.err_agency_bad"));
				continue;
			}
			int di;
			if (sscanf(name, "documents[%d]", &di) == 1 && di >= 0 && di < f.proc.ndocuments) {
				const struct proc_document *doc = &f.proc.documents[di];
				web_err(&p, arena_printf(a, "doc%d", di),
					web_tf(&p, "apply.err_document", "name", web_pick(&p, doc->name, doc->name_en), NULL));
				continue;
			}
			if (strncmp(name, "files[", 6) == 0) {
				web_err(&p, "documents", web_t(&p, "files.err_type_generic"));
				continue;
			}
			if (strcmp(name, "procedure_code") == 0)
				web_err(&p, "main", web_t(&p, "apply.err_not_online"));
		}
		/* form fields: with the page's own messages */
		struct err fe = r->err;
		for (int n = 1; n <= f.npages; n++)
			form_errors(&p, &f.proc, f.starts[n - 1], f.starts[n], f.dr.answers, &fe);
		if (!json_array_size(p.errors))
			web_err(&p, "main", r->err.msg);
		err_clear(&r->err);
	} else if (rc < 0) {
		flow_release(&f);
		return web_fail(&p, rc);
	}
	/* the summary links go to the page of each problem */
	size_t i;
	json_t *it;
	json_array_foreach(p.errors, i, it)
	{
		const char *href = json_string_value(json_object_get(it, "href"));
		const char *id = href + 1;
		const char *to = NULL;
		if (strcmp(id, "agency") == 0)
			to = arena_printf(a, "%s/co-quan?then=check#agency", f.base);
		else if (strncmp(id, "doc", 3) == 0 || strcmp(id, "documents") == 0)
			to = arena_printf(a, "%s/giay-to?then=check#%s", f.base, id);
		else if (strncmp(id, "f-", 2) == 0)
			for (int n = 1; n <= f.npages && !to; n++)
				for (int k = f.starts[n - 1]; k < f.starts[n]; k++)
					if (strcmp(form_anchor(&p, &f.proc.fields[k]), id) == 0)
						to = arena_printf(a, "%s/cau-hoi/%d?then=check#%s", f.base, n, id);
		if (to)
			jset_s(it, "href", to);
	}
	return check_page(&p, &f, 422);
}

static int h_resume(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	const char *to = f.dr.agency_code ? arena_printf(r->a, "%s/kiem-tra", f.base) : arena_printf(r->a, "%s/co-quan", f.base);
	flow_release(&f);
	return web_redirect(&p, to);
}

static int h_delete(struct req *r)
{
	struct web_page p;
	struct flow f;
	if (!web_begin(r, &p, WEB_CITIZEN) || !flow_load(&p, &f))
		return 0;
	int rc = draft_delete(&p.c, &f.dr, &r->err);
	flow_release(&f);
	if (rc < 0)
		return web_fail(&p, rc);
	return web_redirect(&p, "/ho-so-cua-toi?ok=draft_deleted");
}

/* ---- confirmation ---- */

static int h_done(struct req *r)
{
	struct web_page p;
	if (!web_begin(r, &p, WEB_CITIZEN))
		return 0;
	const char *code = req_param(r, "code");
	struct dossier d;
	int rc = code && text_valid(code, 40) ? dossier_get(&p.c, code, &d, &r->err) : ERR_NOT_FOUND;
	if (rc < 0)
		return web_fail(&p, rc);
	jset(p.d, "dossier", view_dossier(&p, &d, arena_printf(r->a, "/ho-so/%s", d.code)));
	jset_s(p.d, "next_text", web_tf(&p, "apply.done_next", "agency", d.agency_name, NULL));
	jset_b(p.d, "has_email", d.applicant_email && *d.applicant_email);
	jset_b(p.d, "has_phone", d.applicant_phone && *d.applicant_phone);
	return web_render(&p, 200, "apply_done", "apply.done_title");
}

const struct route apply_routes[] = {
	{"GET", "/thu-tuc/{code}/nop", h_start, 0},
	{"POST", "/thu-tuc/{code}/nop", h_start_post, ROUTE_UPLOAD},
	{"GET", "/ho-so-nhap/{id}", h_resume, 0},
	{"GET", "/ho-so-nhap/{id}/co-quan", h_agency, 0},
	{"POST", "/ho-so-nhap/{id}/co-quan", h_agency_post, ROUTE_UPLOAD},
	{"GET", "/ho-so-nhap/{id}/cau-hoi/{n}", h_questions, 0},
	{"POST", "/ho-so-nhap/{id}/cau-hoi/{n}", h_questions_post, ROUTE_UPLOAD},
	{"GET", "/ho-so-nhap/{id}/giay-to", h_documents, 0},
	{"POST", "/ho-so-nhap/{id}/giay-to", h_documents_post, ROUTE_UPLOAD},
	{"GET", "/ho-so-nhap/{id}/kiem-tra", h_check, 0},
	{"POST", "/ho-so-nhap/{id}/kiem-tra", h_submit, ROUTE_UPLOAD},
	{"POST", "/ho-so-nhap/{id}/xoa", h_delete, ROUTE_UPLOAD},
	{"GET", "/ho-so/{code}/da-nop", h_done, 0},
};
const size_t apply_nroutes = sizeof apply_routes / sizeof apply_routes[0];
