/* dossier_api.c: JSON routes of the one-stop core: submission (JSON or
 * multipart with the files in one atomic request), reading, actions, history,
 * files, the Circular 01/2018 forms as PDFs, and the public lookup. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/api.h"
#include "base/ratelimit.h"
#include "base/text.h"
#include "base/time.h"
#include "dossier/dossier.h"
#include "dossier/dossier_forms.h"

/* The uploads of a multipart request: parts named "doc<N>" are documents of
 * the procedure (N = index), any other file part is a free attachment (-1). */
static int collect_uploads(struct req *r, struct dossier_upload **out, int *n)
{
	int count = 0;
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i].filename)
			count++;
	struct dossier_upload *u = arena_alloc(r->a, sizeof *u * (size_t)(count ? count : 1));
	int k = 0;
	for (int i = 0; i < r->nparts; i++) {
		struct http_part *p = &r->parts[i];
		if (!p->filename)
			continue;
		int idx = -1;
		if (strncmp(p->name, "doc", 3) == 0 && text_digits(p->name + 3, 0) && strlen(p->name + 3) <= 3)
			idx = atoi(p->name + 3);
		if (!text_valid(p->filename, 255)) {
			err_field(&r->err, p->name, "the file name must be 1 to 255 bytes of text");
			continue;
		}
		u[k].doc_index = idx;
		u[k].filename = p->filename;
		u[k].path = p->path;
		u[k].size = p->size;
		u[k].sha256 = p->sha256;
		k++;
	}
	*out = u;
	*n = k;
	return err_fields_done(&r->err);
}

/* After a successful call the files were moved into the store: the request
 * must not delete them. */
static void claim_uploads(struct req *r)
{
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i].filename && r->parts[i].path && access(r->parts[i].path, F_OK) != 0)
			r->parts[i].path = NULL;
}

/* The JSON document of a request: the body, or the "data" part of a form. */
static int request_doc(struct req *r, json_t **doc)
{
	if (!r->form_body)
		return req_json(r, doc);
	const char *data = req_form(r, "data");
	if (!data)
		return err_set(&r->err, ERR_BAD_REQUEST, "a multipart request needs a 'data' part holding the JSON");
	int rc = json_parse(data, strlen(data), &r->json, &r->err);
	*doc = r->json;
	return rc;
}

static int h_submit(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	json_t *doc;
	if (rc < 0 || (rc = request_doc(r, &doc)) < 0)
		return rc;
	struct dossier_new in = {0};
	json_t *applicant = NULL;
	const struct jfield fields[] = {
		{"procedure_code", JF_STR, true, 32, &in.procedure_code, NULL},
		{"agency_code", JF_STR, true, 32, &in.agency_code, NULL},
		{"channel", JF_STR, false, 16, &in.channel, NULL},
		{"form", JF_OBJ, false, 0, &in.form, NULL},
		{"applicant", JF_OBJ, false, 0, &applicant, NULL},
		{"to_agency", JF_STR, false, 32, &in.to_agency, NULL},
	};
	rc = json_decode(doc, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
	if (applicant) {
		const struct jfield af[] = {
			{"name", JF_STR, false, 200, &in.applicant_name, NULL},
			{"id_number", JF_STR, false, 12, &in.applicant_id_number, NULL},
			{"phone", JF_STR, false, 16, &in.applicant_phone, NULL},
			{"email", JF_STR, false, 254, &in.applicant_email, NULL},
			{"address", JF_STR, false, 500, &in.applicant_address, NULL},
		};
		struct err ae = {0};
		if (json_decode(applicant, af, sizeof af / sizeof af[0], r->a, &ae) < 0)
			for (int i = 0; i < ae.nfields; i++)
				err_field(&r->err, arena_printf(r->a, "applicant.%s", ae.fields[i].name), "%s",
					  ae.fields[i].msg);
		rc = err_fields_done(&r->err);
	}
	if (rc < 0)
		return rc;
	in.idempotency_key = req_header(r, "Idempotency-Key");
	if ((rc = collect_uploads(r, &in.uploads, &in.nuploads)) < 0)
		return rc;
	struct dossier d;
	rc = dossier_submit(&c, &in, &d, &r->err);
	if (rc < 0)
		return rc;
	claim_uploads(r);
	res_header(r, "Location", arena_printf(r->a, "/api/v1/dossiers/%s", d.code));
	if (rc == 0)
		res_header(r, "Idempotent-Replayed", "true");
	dossier_json(res_json(r, rc == 1 ? 201 : 200), &d);
	return 0;
}

static int h_get(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct dossier d;
	if ((rc = dossier_get(&c, req_param(r, "code"), &d, &r->err)) < 0)
		return rc;
	dossier_json(res_json(r, 200), &d);
	return 0;
}

static int h_list(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	struct dossier_filter f = {0};
	f.overdue = -1;
	if (rc < 0 || (rc = req_page(r, &f.page, &f.per_page)) < 0)
		return rc;
	const char *v;
	if ((v = req_query(r, "status"))) {
		f.status = dossier_status_parse(v);
		if (f.status < 0)
			err_field(&r->err, "status", "must be a status number 1-10 or its name");
	}
	f.agency = req_query(r, "agency");
	if ((v = req_query(r, "assignee"))) {
		if (strcmp(v, "me") != 0)
			err_field(&r->err, "assignee", "only 'me' is supported");
		f.assignee_me = true;
	}
	if ((v = req_query(r, "overdue"))) {
		if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))
			err_field(&r->err, "overdue", "must be true or false");
		f.overdue = !strcmp(v, "true") || !strcmp(v, "1");
	}
	if ((v = req_query(r, "due_soon")))
		f.due_soon = !strcmp(v, "true") || !strcmp(v, "1");
	if ((v = req_query(r, "mine")))
		f.mine = !strcmp(v, "true") || !strcmp(v, "1");
	f.q = req_query(r, "q");
	if (f.q && !*f.q)
		f.q = NULL;
	f.procedure = req_query(r, "procedure");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	struct dossier *items;
	int n;
	int64_t total;
	if ((rc = dossier_list(&c, &f, &items, &n, &total, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		dossier_json(w, &items[i]);
	res_list_end(r, total, f.page, f.per_page);
	return 0;
}

static int h_action(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	json_t *doc;
	if (rc < 0 || (rc = request_doc(r, &doc)) < 0)
		return rc;
	struct dossier_action act = {0};
	const char *action = NULL, *new_due = NULL;
	int64_t version = 0;
	const struct jfield fields[] = {
		{"action", JF_STR, true, 32, &action, NULL},
		{"note", JF_STR, false, 2000, &act.note, NULL},
		{"reason", JF_STR, false, 2000, &act.reason, NULL},
		{"to_agency", JF_STR, false, 32, &act.to_agency, NULL},
		{"new_due_at", JF_STR, false, 40, &new_due, NULL},
		{"amount", JF_INT, false, 0, &act.amount, NULL},
		{"version", JF_INT, false, 0, &version, NULL},
	};
	rc = json_decode(doc, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
	int a = action ? proc_action_parse(action) : -1;
	if (action && a < 0)
		err_field(&r->err, "action", "'%s' is not an action (receive, refuse, request_supplement, supplement, "
					     "forward, request_payment, approve, reject, issue_result, return_result, "
					     "withdraw, stop, extend)",
			  action);
	if (new_due) {
		int32_t days;
		if (time_parse_rfc3339(new_due, &act.new_due_at)) {
		} else if (date_parse(new_due, &days)) {
			act.new_due_at = ((int64_t)days * 86400 + 17 * 3600 - TIME_OFFSET_S) * 1000000; /* 17:00 local */
		} else {
			err_field(&r->err, "new_due_at", "must be an RFC 3339 time or a date YYYY-MM-DD");
		}
	}
	if (act.amount < 0)
		err_field(&r->err, "amount", "must not be negative");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	act.action = (enum proc_action)a;
	act.expected_version = (int)version;
	if ((rc = collect_uploads(r, &act.uploads, &act.nuploads)) < 0)
		return rc;
	struct dossier d;
	if ((rc = dossier_act(&c, req_param(r, "code"), &act, &d, &r->err)) < 0)
		return rc;
	claim_uploads(r);
	dossier_json(res_json(r, 200), &d);
	return 0;
}

static int h_history(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct dossier_step *steps;
	int n;
	if ((rc = dossier_history(&c, req_param(r, "code"), &steps, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		dossier_step_json(w, &steps[i]);
	res_list_end(r, n, 1, n);
	return 0;
}

static int h_files(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct dossier_file *files;
	int n;
	const char *code = req_param(r, "code");
	if ((rc = dossier_files(&c, code, &files, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		dossier_file_json(w, code, &files[i]);
	res_list_end(r, n, 1, n);
	return 0;
}

/* A file name safe in a header: ASCII letters, digits, '.', '-', '_' only. */
static const char *header_filename(struct req *r, const char *name)
{
	char *s = arena_strdup(r->a, name);
	for (char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '-' || *p == '_'))
			*p = '_';
	return s;
}

static int h_file(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *ids = req_param(r, "id");
	if (!text_digits(ids, 0) || strlen(ids) > 15)
		return err_set(&r->err, ERR_NOT_FOUND, "no such file");
	struct dossier_file f;
	char *path;
	if ((rc = dossier_file_open(&c, req_param(r, "code"), atoll(ids), &f, &path, &r->err)) < 0)
		return rc;
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return err_set(&r->err, ERR_INTERNAL, "stored file %s is missing", f.stored_name);
	}
	res_header(r, "Content-Disposition",
		   arena_printf(r->a, "attachment; filename=\"%s\"", header_filename(r, f.filename)));
	res_file(r, 200, f.content_type, fd, (uint64_t)st.st_size);
	return 0;
}

static int send_pdf(struct req *r, struct buf *pdf, const char *name)
{
	res_header(r, "Content-Disposition", arena_printf(r->a, "inline; filename=\"%s\"", name));
	res_text(r, 200, "application/pdf", pdf->ptr, pdf->len);
	buf_free(pdf);
	return 0;
}

static const char *req_lang(struct req *r)
{
	const char *l = req_query(r, "lang");
	if (!l)
		l = req_cookie(r, "lang");
	return l && strcmp(l, "en") == 0 ? "en" : "vi";
}

static int h_receipt(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct buf pdf = BUF_INIT;
	const char *code = req_param(r, "code");
	if ((rc = dossier_form_pdf(&c, code, "receipt", req_lang(r), &pdf, &r->err)) < 0) {
		buf_free(&pdf);
		return rc;
	}
	return send_pdf(r, &pdf, arena_printf(r->a, "bien-nhan-%s.pdf", header_filename(r, code)));
}

static int h_form(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *form = req_param(r, "form");
	size_t n = strlen(form);
	if (n < 5 || strcmp(form + n - 4, ".pdf") != 0)
		return err_set(&r->err, ERR_NOT_FOUND, "forms are PDF files: /forms/<name>.pdf");
	char *kind = arena_strndup(r->a, form, n - 4);
	struct buf pdf = BUF_INIT;
	const char *code = req_param(r, "code");
	if ((rc = dossier_form_pdf(&c, code, kind, req_lang(r), &pdf, &r->err)) < 0) {
		buf_free(&pdf);
		return rc;
	}
	return send_pdf(r, &pdf, arena_printf(r->a, "%s-%s.pdf", kind, header_filename(r, code)));
}

static int h_lookup(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	int retry = 0;
	if (!ratelimit_hit(c.app->lookup_limit, r->client_ip, time_now_us() / 1000000, &retry)) {
		r->err.retry_after = retry;
		return err_set(&r->err, ERR_RATE_LIMITED, "too many lookups from this address; try again in %d s", retry);
	}
	struct dossier d;
	struct dossier_step *steps;
	int n;
	if ((rc = dossier_lookup(&c, req_query(r, "code"), req_query(r, "id_last4"), &d, &steps, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	dossier_public_json(w, &d, steps, n);
	return 0;
}

static int h_verify(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	struct receipt_sig s;
	if ((rc = receipt_sig_from_query(r, &s)) < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kbool(w, "valid", receipt_sig_verify(c.app, &s));
	jw_kstr(w, "code", s.code);
	jw_ktime(w, "received_at", s.received_at);
	jw_ktime(w, "due_at", s.due_at);
	jw_kstr(w, "key_id", c.app->keys.key_id);
	jw_obj_end(w);
	return 0;
}

const struct route dossier_routes[] = {
	{"POST", "/api/v1/dossiers", h_submit, ROUTE_UPLOAD},
	{"GET", "/api/v1/dossiers", h_list, 0},
	{"GET", "/api/v1/dossiers/{code}", h_get, 0},
	{"POST", "/api/v1/dossiers/{code}/actions", h_action, ROUTE_UPLOAD},
	{"GET", "/api/v1/dossiers/{code}/history", h_history, 0},
	{"GET", "/api/v1/dossiers/{code}/files", h_files, 0},
	{"GET", "/api/v1/dossiers/{code}/files/{id}", h_file, 0},
	{"GET", "/api/v1/dossiers/{code}/receipt.pdf", h_receipt, 0},
	{"GET", "/api/v1/dossiers/{code}/forms/{form}", h_form, 0},
	{"GET", "/api/v1/lookup", h_lookup, 0},
	{"GET", "/api/v1/receipts/verify", h_verify, 0},
};
const size_t dossier_nroutes = sizeof dossier_routes / sizeof dossier_routes[0];
