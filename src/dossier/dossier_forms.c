/* dossier_forms.c: the papers of a dossier as PDFs, the signed receipt link
 * and the public lookup view. */
#include "dossier/dossier_forms.h"

#include <stdlib.h>
#include <string.h>

#include "agency/agency.h"
#include "base/text.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "report/forms.h"

/* "08 giờ 30 phút, ngày 14/03/2025" / "08:30, 14/03/2025" */
static char *when_text(struct arena *a, int64_t us, const char *lang)
{
	if (!us)
		return "";
	int64_t local = us / 1000000 + TIME_OFFSET_S;
	int32_t days = (int32_t)(local / 86400);
	int sod = (int)(local % 86400);
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (strcmp(lang, "en") == 0)
		return arena_printf(a, "%02d:%02d, %02u/%02u/%04d", sod / 3600, sod / 60 % 60, d, m, y);
	return arena_printf(a, "%02d giờ %02d phút, ngày %02u/%02u/%04d", sod / 3600, sod / 60 % 60, d, m, y);
}

static char *place_date(struct arena *a, int64_t us, const char *lang)
{
	int64_t local = us / 1000000 + TIME_OFFSET_S;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)(local / 86400), &y, &m, &d);
	if (strcmp(lang, "en") == 0)
		return arena_printf(a, "Hai Duong, %02u/%02u/%04d", d, m, y);
	return arena_printf(a, "Hải Dương, ngày %02u tháng %02u năm %04d", d, m, y);
}

/* "ỦY BAN NHÂN DÂN PHƯỜNG ..." would need Unicode upper-casing; the forms take the names as they are. */
struct paper {
	struct dossier d;
	struct procedure p;
	struct dossier_step *steps;
	int nsteps;
	struct dossier_file *files;
	int nfiles;
	struct agency agency, parent;
	bool has_parent;
};

static int load(const struct ctx *c, const char *code, struct paper *x, struct err *e)
{
	int rc;
	if ((rc = dossier_get(c, code, &x->d, e)) < 0 || (rc = procedure_get(c, x->d.procedure_code, &x->p, e)) < 0 ||
	    (rc = dossier_history(c, code, &x->steps, &x->nsteps, e)) < 0 ||
	    (rc = dossier_files(c, code, &x->files, &x->nfiles, e)) < 0 ||
	    (rc = agency_get(c, x->d.agency_code, &x->agency, e)) < 0)
		return rc;
	struct err ignore = {0};
	x->has_parent = x->agency.parent && agency_get(c, x->agency.parent, &x->parent, &ignore) == 0;
	return 0;
}

static const struct dossier_step *last_step(const struct paper *x, const char *action)
{
	for (int i = x->nsteps - 1; i >= 0; i--)
		if (strcmp(x->steps[i].action, action) == 0)
			return &x->steps[i];
	return NULL;
}

static void head(const struct ctx *c, const struct paper *x, struct form_head *h, const char *lang, int64_t at)
{
	h->parent_agency = x->has_parent ? x->parent.name : NULL;
	h->agency = x->agency.name;
	h->place_date = place_date(c->a, at ? at : time_now_us(), lang);
}

static void person(const struct paper *x, struct form_person *p)
{
	p->name = x->d.applicant_name;
	p->address = x->d.applicant_address;
	p->phone = x->d.applicant_phone;
	p->email = x->d.applicant_email;
}

int dossier_form_pdf(const struct ctx *c, const char *code, const char *kind, const char *lang, struct buf *out,
		     struct err *e)
{
	struct paper *x = arena_alloc(c->a, sizeof *x);
	int rc = load(c, code, x, e);
	if (rc < 0)
		return rc;
	const struct dossier *d = &x->d;
	bool en = strcmp(lang, "en") == 0;
	if (strcmp(kind, "receipt") == 0) {
		if (!d->received_at)
			return err_set(e, ERR_INVALID_TRANSITION, "dossier %s has not been received yet: no receipt", code);
		struct form_receipt f = {0};
		head(c, x, &f.head, lang, d->received_at);
		f.dossier_code = d->code;
		person(x, &f.applicant);
		f.procedure = en && x->p.name_en ? x->p.name_en : x->p.name;
		struct form_doc *docs = arena_alloc(c->a, sizeof *docs * (size_t)(x->p.ndocuments + 1));
		size_t nd = 0;
		for (int i = 0; i < x->p.ndocuments; i++) {
			int have = 0;
			for (int k = 0; k < x->nfiles; k++)
				if (strcmp(x->files[k].kind, "document") == 0 &&
				    strcmp(x->files[k].doc_name, x->p.documents[i].name) == 0)
					have++;
			if (!have && !x->p.documents[i].required)
				continue;
			docs[nd].name = en && x->p.documents[i].name_en ? x->p.documents[i].name_en : x->p.documents[i].name;
			docs[nd].copies = have ? arena_printf(c->a, en ? "%d electronic copy" : "%02d bản điện tử", have)
					       : (en ? "original shown / paper" : "bản giấy");
			nd++;
		}
		f.docs = docs;
		f.ndocs = nd;
		f.processing_time = arena_printf(c->a, en ? "%d working days" : "%02d ngày làm việc", x->p.processing_days);
		f.received_at = when_text(c->a, d->received_at, lang);
		f.appointment = when_text(c->a, d->due_at, lang);
		f.return_place = arena_printf(c->a, en ? "One-stop desk, %s" : "Bộ phận Một cửa, %s", x->agency.name);
		const struct dossier_step *rs = last_step(x, "receive");
		f.official = rs ? rs->actor_name : (en ? "One-stop desk" : "Bộ phận Một cửa");
		f.qr_url = receipt_sig_url(c->app, d, c->a);
		return forms_render_receipt(&f, lang, out, e);
	}
	if (strcmp(kind, "supplement") == 0) {
		const struct dossier_step *s = last_step(x, "request_supplement");
		if (!s)
			return err_set(e, ERR_INVALID_TRANSITION, "no supplement was asked for dossier %s", code);
		struct form_supplement f = {0};
		head(c, x, &f.head, lang, s->at);
		f.dossier_code = d->code;
		person(x, &f.applicant);
		f.procedure = en && x->p.name_en ? x->p.name_en : x->p.name;
		struct form_supplement_item item = {s->note ? s->note : "", en ? "The dossier is incomplete" : "Hồ sơ chưa đầy đủ, hợp lệ"};
		f.items = &item;
		f.nitems = 1;
		f.contact = arena_printf(c->a, en ? "One-stop desk, %s" : "Bộ phận Một cửa, %s", x->agency.name);
		f.official = s->actor_name;
		return forms_render_supplement(&f, lang, out, e);
	}
	if (strcmp(kind, "refusal") == 0) {
		const struct dossier_step *s = last_step(x, "refuse");
		if (!s)
			s = last_step(x, "reject");
		if (!s)
			return err_set(e, ERR_INVALID_TRANSITION, "dossier %s was neither refused nor rejected", code);
		struct form_refusal f = {0};
		head(c, x, &f.head, lang, s->at);
		f.dossier_code = d->code;
		person(x, &f.applicant);
		f.procedure = en && x->p.name_en ? x->p.name_en : x->p.name;
		f.reason = s->note ? s->note : "";
		f.official = s->actor_name;
		return forms_render_refusal(&f, lang, out, e);
	}
	if (strcmp(kind, "apology") == 0) {
		const struct dossier_step *s = last_step(x, "extend");
		if (!s)
			return err_set(e, ERR_INVALID_TRANSITION, "the deadline of dossier %s was never extended", code);
		json_t *det = s->detail ? json_loads(s->detail, 0, NULL) : NULL;
		int64_t old_due = 0, new_due = 0;
		if (det) {
			time_parse_rfc3339(json_string_value(json_object_get(det, "old_due_at")) ?: "", &old_due);
			time_parse_rfc3339(json_string_value(json_object_get(det, "new_due_at")) ?: "", &new_due);
			json_decref(det);
		}
		struct form_apology f = {0};
		head(c, x, &f.head, lang, s->at);
		f.dossier_code = d->code;
		person(x, &f.applicant);
		f.procedure = en && x->p.name_en ? x->p.name_en : x->p.name;
		f.received_at = when_text(c->a, d->received_at, lang);
		f.old_date = when_text(c->a, old_due, lang);
		f.new_date = when_text(c->a, new_due, lang);
		f.reason = s->note ? s->note : "";
		f.signer = s->actor_name;
		return forms_render_apology(&f, lang, out, e);
	}
	if (strcmp(kind, "control") == 0) {
		struct form_control f = {0};
		head(c, x, &f.head, lang, d->received_at ? d->received_at : d->submitted_at);
		f.dossier_code = d->code;
		f.applicant = d->applicant_name;
		f.procedure = en && x->p.name_en ? x->p.name_en : x->p.name;
		f.handling_agency = x->agency.name;
		struct form_control_step *rows = arena_alloc(c->a, sizeof *rows * (size_t)(x->nsteps + 1));
		size_t nr = 0;
		for (int i = 0; i < x->nsteps; i++) {
			const struct dossier_step *s = &x->steps[i];
			const char *from = arena_printf(c->a, "%s%s%s", s->actor_name, s->agency_name ? " - " : "",
							s->agency_name ? s->agency_name : "");
			const char *to = i + 1 < x->nsteps ? x->steps[i + 1].actor_name
							   : (en ? dossier_status_name(s->status_to)
								 : dossier_status_vi(s->status_to));
			const char *result = en ? s->title_en : s->title;
			if (s->step_due_at)
				result = arena_printf(c->a, "%s (%s %s)", result, en ? "step due" : "hạn bước",
						      when_text(c->a, s->step_due_at, lang));
			rows[nr++] = (struct form_control_step){from, to, when_text(c->a, s->at, lang), result};
		}
		f.steps = rows;
		f.nsteps = nr;
		return forms_render_control(&f, lang, out, e);
	}
	return err_set(e, ERR_NOT_FOUND, "no form '%s': receipt, supplement, refusal, apology or control", kind);
}

/* ---- the signed receipt link ---- */

static char *receipt_msg(struct arena *a, const char *code, int64_t r, int64_t d)
{
	return arena_printf(a, "tinhso-receipt-v1|%s|%lld|%lld", code, (long long)(r / 1000000), (long long)(d / 1000000));
}

char *receipt_sig_url(struct app *app, const struct dossier *d, struct arena *a)
{
	char *msg = receipt_msg(a, d->code, d->received_at, d->due_at);
	struct buf sig = BUF_INIT;
	keys_sign_hex(&app->keys, msg, strlen(msg), &sig);
	char *url = arena_printf(a, "%s/tra-cuu?code=%s&r=%lld&d=%lld&sig=%s", app_public_url(app, a), d->code,
				 (long long)(d->received_at / 1000000), (long long)(d->due_at / 1000000), sig.ptr);
	buf_free(&sig);
	return url;
}

int receipt_sig_from_query(struct req *r, struct receipt_sig *s)
{
	memset(s, 0, sizeof *s);
	s->code = req_query(r, "code");
	const char *rv = req_query(r, "r"), *dv = req_query(r, "d");
	s->sig = req_query(r, "sig");
	if (!s->code || !text_valid(s->code, 40))
		err_field(&r->err, "code", "is required");
	if (!rv || !text_digits(rv, 0) || strlen(rv) > 12)
		err_field(&r->err, "r", "must be the receipt's received time in seconds");
	if (!dv || !text_digits(dv, 0) || strlen(dv) > 12)
		err_field(&r->err, "d", "must be the receipt's due time in seconds");
	if (!s->sig || strlen(s->sig) != 128)
		err_field(&r->err, "sig", "must be the 128-hex-digit signature");
	int rc = err_fields_done(&r->err);
	if (rc < 0)
		return rc;
	s->received_at = atoll(rv) * 1000000;
	s->due_at = atoll(dv) * 1000000;
	return 0;
}

bool receipt_sig_verify(struct app *app, const struct receipt_sig *s)
{
	struct arena a = ARENA_INIT;
	char *msg = receipt_msg(&a, s->code, s->received_at, s->due_at);
	bool ok = crypto_verify_hex(app->keys.pk, msg, strlen(msg), s->sig);
	arena_free(&a);
	return ok;
}

/* ---- public lookup ---- */

/* "Nguyễn Văn An" -> "Nguyễn V. A." : enough to recognise, not to identify. */
static void masked_name(struct buf *b, const char *name)
{
	const char *p = name;
	bool first = true;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, ' ');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (b->len)
			buf_putc(b, ' ');
		if (first) {
			buf_append(b, p, n);
			first = false;
		} else {
			/* the first letter (one UTF-8 sequence) and a dot */
			size_t k = 1;
			while (k < n && ((unsigned char)p[k] & 0xC0) == 0x80)
				k++;
			buf_append(b, p, k);
			buf_putc(b, '.');
		}
		p += n;
	}
}

void dossier_public_json(struct jw *w, const struct dossier *d, const struct dossier_step *steps, int n)
{
	struct buf name = BUF_INIT;
	masked_name(&name, d->applicant_name ? d->applicant_name : "");
	jw_obj(w);
	jw_kstr(w, "code", d->code);
	jw_kstr(w, "procedure_name", d->procedure_name);
	jw_kstr(w, "agency_name", d->agency_name);
	jw_kstr(w, "applicant", name.ptr);
	jw_kint(w, "status", d->status);
	jw_kstr(w, "status_name", dossier_status_name(d->status));
	jw_kstr(w, "status_vi", dossier_status_vi(d->status));
	jw_kstr(w, "outcome", d->outcome);
	jw_ktime(w, "submitted_at", d->submitted_at);
	jw_ktime(w, "received_at", d->received_at);
	jw_ktime(w, "due_at", d->due_at);
	jw_ktime(w, "resolved_at", d->resolved_at);
	jw_ktime(w, "returned_at", d->returned_at);
	jw_kstr(w, "deadline_state", d->deadline_state);
	jw_key(w, "steps");
	jw_arr(w);
	for (int i = 0; i < n; i++) {
		jw_obj(w);
		jw_kstr(w, "title", steps[i].title);
		jw_kstr(w, "title_en", steps[i].title_en);
		jw_kstr(w, "department_name", steps[i].agency_name);
		jw_ktime(w, "at", steps[i].at);
		jw_kint(w, "status", steps[i].status_to);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	buf_free(&name);
}
