/* dossier.c: the dossier lifecycle: submission and intake, the actions of the
 * workflow, deadlines on the calendar, history, visibility, lookup. */
#include "dossier/dossier.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agency/agency.h"
#include "audit/audit.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "calendar/calendar_store.h"
#include "crypto/crypto.h"
#include "dossier/dossier_forms.h"
#include "filestore/filestore.h"
#include "notify/notify.h"
#include "payment/payment.h"
#include "sync/sync.h"

static const struct {
	const char *name, *vi;
} statuses[] = {
	{"", ""},
	{"submitted", "Mới đăng ký"},
	{"received", "Được tiếp nhận"},
	{"refused", "Không được tiếp nhận"},
	{"processing", "Đang xử lý"},
	{"supplement_requested", "Yêu cầu bổ sung giấy tờ"},
	{"payment_requested", "Yêu cầu thực hiện nghĩa vụ tài chính"},
	{"withdrawal_requested", "Công dân yêu cầu rút hồ sơ"},
	{"stopped", "Dừng xử lý"},
	{"resolved", "Đã xử lý xong"},
	{"returned", "Đã trả kết quả"},
};

const char *dossier_status_name(int s) { return s >= 1 && s <= 10 ? statuses[s].name : "unknown"; }
const char *dossier_status_vi(int s) { return s >= 1 && s <= 10 ? statuses[s].vi : "?"; }

int dossier_status_parse(const char *s)
{
	if (text_digits(s, 0) && strlen(s) <= 2) {
		int n = atoi(s);
		return n >= 1 && n <= 10 ? n : -1;
	}
	for (int i = 1; i <= 10; i++)
		if (strcmp(statuses[i].name, s) == 0)
			return i;
	return -1;
}

/* What each action is called in the history, in both languages. */
static const struct {
	const char *vi, *en;
} action_titles[PA_COUNT] = {
	[PA_RECEIVE] = {"Tiếp nhận hồ sơ", "Dossier received"},
	[PA_REFUSE] = {"Từ chối tiếp nhận hồ sơ", "Dossier refused"},
	[PA_REQUEST_SUPPLEMENT] = {"Yêu cầu bổ sung, hoàn thiện hồ sơ", "Supplement requested"},
	[PA_SUPPLEMENT] = {"Công dân bổ sung hồ sơ", "Applicant supplemented the dossier"},
	[PA_FORWARD] = {"Chuyển xử lý", "Forwarded for processing"},
	[PA_REQUEST_PAYMENT] = {"Yêu cầu thực hiện nghĩa vụ tài chính", "Payment requested"},
	[PA_APPROVE] = {"Lãnh đạo phê duyệt", "Approved by the leader"},
	[PA_REJECT] = {"Lãnh đạo từ chối giải quyết", "Rejected by the leader"},
	[PA_ISSUE_RESULT] = {"Ban hành kết quả", "Result issued"},
	[PA_RETURN_RESULT] = {"Trả kết quả", "Result returned"},
	[PA_WITHDRAW] = {"Công dân yêu cầu rút hồ sơ", "Applicant asked to withdraw"},
	[PA_STOP] = {"Dừng xử lý hồ sơ", "Processing stopped"},
	[PA_EXTEND] = {"Gia hạn, xin lỗi và hẹn lại ngày trả kết quả", "Deadline extended with an apology"},
};

/* ---- reading ---- */

#define DOSSIER_COLS                                                                                                   \
	"d.code, d.procedure_code, p.name, d.agency_code, a.name, d.current_agency, d.channel, d.status, d.outcome, "   \
	"d.step, d.applicant_user_id, d.applicant_name, d.applicant_id_number, d.applicant_phone, d.applicant_email, " \
	"d.applicant_address, d.form, d.assignee_user_id, d.submitted_at, d.received_at, d.due_at, "                   \
	"d.step_started_at, d.step_due_at, d.paused_at, d.paused_remaining_us, d.resume_status, d.resolved_at, "      \
	"d.returned_at, d.fee_total, d.fee_paid, d.version, d.created_at, d.updated_at"
#define DOSSIER_FROM " FROM dossiers d JOIN procedures p ON p.code = d.procedure_code JOIN agencies a ON a.code = d.agency_code"

static void dossier_read(struct store_q *q, struct arena *a, struct dossier *d)
{
	int i = 0;
	memset(d, 0, sizeof *d);
	d->code = store_dup(q, i++, a);
	d->procedure_code = store_dup(q, i++, a);
	d->procedure_name = store_dup(q, i++, a);
	d->agency_code = store_dup(q, i++, a);
	d->agency_name = store_dup(q, i++, a);
	d->current_agency = store_dup(q, i++, a);
	d->channel = store_dup(q, i++, a);
	d->status = (int)store_int(q, i++);
	d->outcome = store_dup(q, i++, a);
	d->step = (int)store_int(q, i++);
	d->applicant_user_id = store_int(q, i++);
	d->applicant_name = store_dup(q, i++, a);
	d->applicant_id_number = store_dup(q, i++, a);
	d->applicant_phone = store_dup(q, i++, a);
	d->applicant_email = store_dup(q, i++, a);
	d->applicant_address = store_dup(q, i++, a);
	d->form = store_dup(q, i++, a);
	d->assignee_user_id = store_int(q, i++);
	d->submitted_at = store_int(q, i++);
	d->received_at = store_int(q, i++);
	d->due_at = store_int(q, i++);
	d->step_started_at = store_int(q, i++);
	d->step_due_at = store_int(q, i++);
	d->paused_at = store_int(q, i++);
	d->paused_remaining_us = store_int(q, i++);
	d->resume_status = (int)store_int(q, i++);
	d->resolved_at = store_int(q, i++);
	d->returned_at = store_int(q, i++);
	d->fee_total = store_int(q, i++);
	d->fee_paid = store_int(q, i++);
	d->version = (int)store_int(q, i++);
	d->created_at = store_int(q, i++);
	d->updated_at = store_int(q, i++);
}

static int dossier_get_tx(struct store_tx *tx, struct arena *a, const char *code, struct dossier *d, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT " DOSSIER_COLS DOSSIER_FROM " WHERE d.code = $1", ARGS(SA_TEXT(code)), &q, e);
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1)
			dossier_read(q, a, d);
	}
	store_done(q);
	return rc;
}

/* In a write: takes the dossier's row lock first on PostgreSQL, so that of two
 * transactions acting on one dossier the second waits and then sees the first's
 * result (SQLite's single writer serialises them already). */
static int dossier_lock_tx(struct store_tx *tx, const char *code, struct err *e)
{
	if (store_tx_kind(tx) != STORE_POSTGRES)
		return 0;
	int rc = store_exec(tx, "SELECT code FROM dossiers WHERE code = $1 FOR UPDATE", ARGS(SA_TEXT(code)), e);
	return rc < 0 ? rc : 0;
}

/* 1 when who may see the dossier: the applicant, admins, and officials whose
 * scope holds an agency the dossier went through. */
static int visible_row(struct store_tx *tx, const struct ctx *c, const struct dossier *d, struct err *e)
{
	const struct principal *p = c->who;
	if (!p)
		return 0;
	if (p->role == ROLE_ADMIN)
		return 1;
	if (p->role == ROLE_CITIZEN)
		return d->applicant_user_id && d->applicant_user_id == p->user_id;
	if (!p->agency_path)
		return 0;
	int64_t n = 0;
	int rc = store_get_int(tx,
			       "SELECT count(*) FROM dossier_agencies da JOIN agencies a ON a.code = da.agency_code "
			       "WHERE da.dossier_code = $1 AND substr(a.path, 1, $2) = $3",
			       ARGS(SA_TEXT(d->code), SA_INT((int64_t)strlen(p->agency_path)), SA_TEXT(p->agency_path)), &n,
			       e);
	return rc < 0 ? rc : n > 0;
}

int dossier_visible_tx(struct store_tx *tx, const struct ctx *c, const char *code, struct err *e)
{
	struct dossier d;
	int rc = dossier_get_tx(tx, c->a, code, &d, e);
	if (rc <= 0)
		return rc;
	return visible_row(tx, c, &d, e);
}

static void deadline_state(struct app *app, struct dossier *d, const struct calendar *cal)
{
	if (!d->due_at || d->status == DS_REFUSED || d->status == DS_STOPPED || d->status >= DS_RESOLVED) {
		d->deadline_state = d->due_at && d->resolved_at && d->resolved_at > d->due_at ? "late" : "none";
		if (d->due_at && d->resolved_at && d->resolved_at <= d->due_at)
			d->deadline_state = "on_time";
		return;
	}
	if (d->paused_at) {
		d->deadline_state = "paused";
		return;
	}
	enum calendar_status s =
		calendar_status(cal, time_now_us(), d->due_at, app->cfg->due_soon_minutes * 60 * 1000000);
	d->deadline_state = (char *)calendar_status_name(s);
}

struct get_ctx {
	const struct ctx *c;
	const char *code;
	struct dossier *out;
};

static int get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = dossier_get_tx(tx, g->c->a, g->code, g->out, e);
	if (rc == 1)
		rc = visible_row(tx, g->c, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", g->code);
	return rc < 0 ? rc : 0;
}

static struct calendar *calendar_of(const struct ctx *c)
{
	struct calendar *cal = arena_alloc(c->a, sizeof *cal);
	calendar_current(c->app, cal);
	return cal;
}

int dossier_get(const struct ctx *c, const char *code, struct dossier *out, struct err *e)
{
	struct get_ctx g = {c, code, out};
	int rc = store_read(c->app->db, get_fn, &g, e);
	if (rc == 0) {
		deadline_state(c->app, out, calendar_of(c));
		if (out->received_at && out->due_at)
			out->receipt_url = receipt_sig_url(c->app, out, c->a);
	}
	return rc;
}

/* ---- JSON ---- */

void dossier_json(struct jw *w, const struct dossier *d)
{
	jw_obj(w);
	jw_kstr(w, "code", d->code);
	jw_kstr(w, "procedure_code", d->procedure_code);
	jw_kstr(w, "procedure_name", d->procedure_name);
	jw_kstr(w, "agency_code", d->agency_code);
	jw_kstr(w, "agency_name", d->agency_name);
	jw_kstr(w, "current_agency", d->current_agency);
	jw_kstr(w, "channel", d->channel);
	jw_kint(w, "status", d->status);
	jw_kstr(w, "status_name", dossier_status_name(d->status));
	jw_kstr(w, "status_vi", dossier_status_vi(d->status));
	jw_kstr(w, "outcome", d->outcome);
	jw_kint(w, "step", d->step);
	jw_key(w, "applicant");
	jw_obj(w);
	jw_kstr(w, "name", d->applicant_name);
	jw_kstr(w, "id_number", d->applicant_id_number);
	jw_kstr(w, "phone", d->applicant_phone);
	jw_kstr(w, "email", d->applicant_email);
	jw_kstr(w, "address", d->applicant_address);
	jw_obj_end(w);
	jw_key(w, "form");
	if (d->form && d->form[0])
		jw_raw(w, d->form, strlen(d->form));
	else
		jw_null(w);
	jw_ktime(w, "submitted_at", d->submitted_at);
	jw_ktime(w, "received_at", d->received_at);
	jw_ktime(w, "due_at", d->due_at);
	jw_ktime(w, "step_started_at", d->step_started_at);
	jw_ktime(w, "step_due_at", d->step_due_at);
	jw_ktime(w, "paused_at", d->paused_at);
	jw_ktime(w, "resolved_at", d->resolved_at);
	jw_ktime(w, "returned_at", d->returned_at);
	jw_kstr(w, "deadline_state", d->deadline_state);
	if (d->receipt_url)
		jw_kstr(w, "receipt_url", d->receipt_url);
	jw_kint(w, "fee_total", d->fee_total);
	jw_kint(w, "fee_paid", d->fee_paid);
	jw_kint(w, "version", d->version);
	jw_ktime(w, "created_at", d->created_at);
	jw_ktime(w, "updated_at", d->updated_at);
	jw_obj_end(w);
}

void dossier_step_json(struct jw *w, const struct dossier_step *s)
{
	jw_obj(w);
	jw_kint(w, "id", s->id);
	jw_kstr(w, "action", s->action);
	jw_kstr(w, "title", s->title);
	jw_kstr(w, "title_en", s->title_en);
	jw_key(w, "actor");
	jw_obj(w);
	if (s->actor_user_id)
		jw_kint(w, "user_id", s->actor_user_id);
	jw_kstr(w, "name", s->actor_name);
	jw_kstr(w, "title", s->actor_title);
	jw_obj_end(w);
	jw_kstr(w, "department", s->agency_code);
	jw_kstr(w, "department_name", s->agency_name);
	jw_ktime(w, "at", s->at);
	jw_kstr(w, "note", s->note);
	if (s->status_from)
		jw_kint(w, "status_from", s->status_from);
	else {
		jw_key(w, "status_from");
		jw_null(w);
	}
	jw_kint(w, "status", s->status_to);
	jw_kstr(w, "status_name", dossier_status_name(s->status_to));
	jw_ktime(w, "step_start", s->step_started_at);
	jw_ktime(w, "step_deadline", s->step_due_at);
	jw_key(w, "detail");
	if (s->detail && s->detail[0])
		jw_raw(w, s->detail, strlen(s->detail));
	else
		jw_null(w);
	jw_obj_end(w);
}

void dossier_file_json(struct jw *w, const char *code, const struct dossier_file *f)
{
	jw_obj(w);
	jw_kint(w, "id", f->id);
	jw_kstr(w, "kind", f->kind);
	jw_kstr(w, "document", f->doc_name);
	jw_kstr(w, "filename", f->filename);
	jw_kstr(w, "content_type", f->content_type);
	jw_kint(w, "size", f->size);
	jw_kstr(w, "sha256", f->sha256);
	jw_ktime(w, "created_at", f->created_at);
	char url[160];
	snprintf(url, sizeof url, "/api/v1/dossiers/%s/files/%lld", code, (long long)f->id);
	jw_kstr(w, "url", url);
	jw_obj_end(w);
}

/* ---- agencies along the workflow ---- */

struct agency_row {
	char *code, *name, *level, *kind, *path;
};

static int agency_row_tx(struct store_tx *tx, struct arena *a, const char *code, struct agency_row *g, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT code, name, level, kind, path FROM agencies WHERE code = $1", ARGS(SA_TEXT(code)),
			     &q, e);
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1) {
			g->code = store_dup(q, 0, a);
			g->name = store_dup(q, 1, a);
			g->level = store_dup(q, 2, a);
			g->kind = store_dup(q, 3, a);
			g->path = store_dup(q, 4, a);
		}
	}
	store_done(q);
	return rc;
}

/* The agency that performs workflow step k: the one given (checked), else the
 * current agency when it is at the step's level, else the receiving agency,
 * else the procedure's department, else the current agency's ancestor at that
 * level. ERR_INVALID naming to_agency when none fits. */
static int agency_for_step(struct store_tx *tx, const struct ctx *c, const struct procedure *p, int k,
			   const char *current, const char *receiving, const char *to_agency, char **out, struct err *e)
{
	const char *lvl = p->steps[k].level;
	struct agency_row g;
	int rc;
	if (to_agency) {
		rc = agency_row_tx(tx, c->a, to_agency, &g, e);
		if (rc < 0)
			return rc;
		if (rc == 0 || strcmp(g.level, lvl) != 0) {
			err_field(e, "to_agency", "must be an agency at the '%s' level, where the next step is done", lvl);
			return err_fields_done(e);
		}
		*out = g.code;
		return 0;
	}
	const char *candidates[2] = {current, receiving};
	for (int i = 0; i < 2; i++) {
		if (!candidates[i])
			continue;
		rc = agency_row_tx(tx, c->a, candidates[i], &g, e);
		if (rc < 0)
			return rc;
		if (rc == 1 && strcmp(g.level, lvl) == 0) {
			*out = g.code;
			return 0;
		}
	}
	if (strncmp(p->handled_by, "department:", 11) == 0) {
		rc = agency_row_tx(tx, c->a, p->handled_by + 11, &g, e);
		if (rc < 0)
			return rc;
		if (rc == 1 && strcmp(g.level, lvl) == 0) {
			*out = g.code;
			return 0;
		}
	}
	struct agency_row cur;
	rc = agency_row_tx(tx, c->a, current ? current : receiving, &cur, e);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		char *code = NULL;
		rc = store_get_text(tx,
				    "SELECT code FROM agencies WHERE level = $1 AND kind = 'people_committee' AND "
				    "substr($2, 1, length(path)) = path ORDER BY length(path) DESC LIMIT 1",
				    ARGS(SA_TEXT(lvl), SA_TEXT(cur.path)), c->a, &code, e);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			*out = code;
			return 0;
		}
	}
	err_field(e, "to_agency", "is required: the next step is done at the '%s' level", lvl);
	return err_fields_done(e);
}

static int add_dossier_agency(struct store_tx *tx, const char *code, const char *agency, struct err *e)
{
	int rc = store_exec(tx,
			    "INSERT INTO dossier_agencies (dossier_code, agency_code) VALUES ($1, $2) "
			    "ON CONFLICT (dossier_code, agency_code) DO NOTHING",
			    ARGS(SA_TEXT(code), SA_TEXT(agency)), e);
	return rc < 0 ? rc : 0;
}

/* The office time of the whole procedure and of one step. */
static int64_t proc_office_us(const struct calendar *cal, const struct procedure *p)
{
	return (int64_t)p->processing_days * calendar_day_us(cal);
}

static int step_timing(const struct calendar *cal, const struct procedure *p, int k, int64_t start, int64_t *due,
		       struct err *e)
{
	if (k < 0 || k >= p->nsteps) {
		*due = 0;
		return 0;
	}
	int64_t office = proc_office_us(cal, p) * p->steps[k].share / 100;
	return calendar_add_working_us(cal, start, office, due, e);
}

/* ---- the history ---- */

struct step_rec {
	const char *action, *title, *title_en;
	int from, to;
	const char *note;
	const char *detail; /* JSON or NULL */
	int64_t step_start, step_due;
};

static int record_step(struct store_tx *tx, const struct ctx *c, const char *code, const struct step_rec *s, int64_t at,
		       int64_t *step_id, struct err *e)
{
	const struct principal *p = c->who;
	const char *name = p ? (p->full_name ? p->full_name : p->username) : "Hệ thống";
	int rc = store_exec(tx,
			    "INSERT INTO dossier_steps (dossier_code, action, title, title_en, actor_user_id, actor_name, "
			    "actor_title, agency_code, at, note, status_from, status_to, step_started_at, step_due_at, "
			    "detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
			    ARGS(SA_TEXT(code), SA_TEXT(s->action), SA_TEXT(s->title), SA_TEXT(s->title_en),
				 p && p->user_id ? SA_INT(p->user_id) : SA_NULL, SA_TEXT(name),
				 SA_TEXT(p ? p->title : NULL), SA_TEXT(p ? p->agency_code : NULL), SA_INT(at),
				 SA_TEXT(s->note), s->from ? SA_INT(s->from) : SA_NULL, SA_INT(s->to),
				 s->step_start ? SA_INT(s->step_start) : SA_NULL, s->step_due ? SA_INT(s->step_due) : SA_NULL,
				 SA_TEXT(s->detail)),
			    e);
	if (rc < 0)
		return rc;
	rc = store_get_int(tx, "SELECT max(id) FROM dossier_steps WHERE dossier_code = $1", ARGS(SA_TEXT(code)), step_id,
			   e);
	if (rc < 0)
		return rc;
	/* every step goes to the National Public Service Portal, queued with it */
	return sync_dossier_tx(tx, c, code, *step_id, e);
}

static int audit_step(struct store_tx *tx, const struct ctx *c, const char *code, const char *action, int from, int to,
		      const char *note, const char *detail, struct err *e)
{
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	if (from)
		jw_kint(&w, "status_from", from);
	jw_kint(&w, "status_to", to);
	if (note)
		jw_kstr(&w, "note", note);
	if (detail) {
		jw_key(&w, "detail");
		jw_raw(&w, detail, strlen(detail));
	}
	jw_obj_end(&w);
	int rc = audit_append(tx, c, arena_printf(c->a, "dossier.%s", action), arena_printf(c->a, "dossier:%s", code),
			      doc.ptr, e);
	buf_free(&doc);
	return rc;
}

static int notify(struct store_tx *tx, const struct ctx *c, enum notify_event ev, const struct dossier *d,
		  const char *agency_name, int64_t amount, const char *note, int64_t step_id, struct err *e)
{
	struct notify_dossier n = {0};
	n.code = d->code;
	n.procedure_name = d->procedure_name;
	n.agency_code = d->current_agency;
	n.agency_name = agency_name ? agency_name : d->agency_name;
	n.applicant_name = d->applicant_name;
	n.email = d->applicant_email;
	n.phone = d->applicant_phone;
	n.lang = "vi";
	n.due_at = d->due_at;
	n.amount = amount;
	n.note = note;
	n.step_id = step_id;
	return notify_dossier_event(tx, c, ev, &n, e);
}

/* ---- submission ---- */

static bool tax_code_valid(const char *s)
{
	/* 10 digits, or 10 digits '-' 3 digits (branches) */
	size_t n = strlen(s);
	if (n == 10)
		return text_digits(s, 10);
	if (n == 14 && s[10] == '-') {
		char head[11], tail[4];
		memcpy(head, s, 10);
		head[10] = 0;
		memcpy(tail, s + 11, 3);
		tail[3] = 0;
		return text_digits(head, 10) && text_digits(tail, 3);
	}
	return false;
}

/* Checks the form against the procedure's fields; every problem is named
 * "form.<field>". Address fields are {"commune": agency code, "detail": text}. */
static void validate_form(struct store_tx *tx, const struct ctx *c, const struct procedure *p, json_t *form,
			  struct err *e)
{
	if (form && !json_is_object(form)) {
		err_field(e, "form", "must be an object of the procedure's fields");
		return;
	}
	const char *key;
	json_t *v;
	if (form)
		json_object_foreach(form, key, v)
		{
			int i;
			for (i = 0; i < p->nfields; i++)
				if (strcmp(p->fields[i].name, key) == 0)
					break;
			if (i == p->nfields)
				err_field(e, arena_printf(c->a, "form.%s", key), "is not a field of this procedure");
		}
	for (int i = 0; i < p->nfields; i++) {
		const struct proc_field *f = &p->fields[i];
		const char *path = arena_printf(c->a, "form.%s", f->name);
		v = form ? json_object_get(form, f->name) : NULL;
		if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
			if (f->required)
				err_field(e, path, "is required (%s)", f->label);
			continue;
		}
		if (f->type == PF_ADDRESS) {
			json_t *commune = json_object_get(v, "commune"), *detail = json_object_get(v, "detail");
			if (!json_is_object(v) || !json_is_string(commune) || (detail && !json_is_string(detail)) ||
			    json_object_size(v) > 2 || (json_object_size(v) == 2 && !detail)) {
				err_field(e, path, "must be {\"commune\": agency code, \"detail\": street and house number}");
				continue;
			}
			struct agency_row g;
			int rc = agency_row_tx(tx, c->a, json_string_value(commune), &g, e);
			if (rc == 0 || (rc == 1 && strcmp(g.level, "commune") != 0))
				err_field(e, path, "commune '%s' is not a commune-level unit", json_string_value(commune));
			if (detail && !text_valid(json_string_value(detail), 300))
				err_field(e, path, "detail must be 1 to 300 bytes of text");
			continue;
		}
		if (f->type == PF_NUMBER) {
			if (!json_is_number(v))
				err_field(e, path, "must be a number");
			continue;
		}
		if (!json_is_string(v)) {
			err_field(e, path, "must be a string");
			continue;
		}
		const char *s = json_string_value(v);
		int32_t days;
		switch (f->type) {
		case PF_TEXT:
			if (!text_valid(s, 2000))
				err_field(e, path, "must be 1 to 2000 bytes of text without control characters");
			break;
		case PF_DATE:
			if (!date_parse(s, &days))
				err_field(e, path, "must be a date YYYY-MM-DD");
			break;
		case PF_SELECT: {
			bool ok = false;
			for (int k = 0; k < f->noptions; k++)
				if (strcmp(f->options[k], s) == 0)
					ok = true;
			if (!ok)
				err_field(e, path, "must be one of the listed options");
			break;
		}
		case PF_CCCD:
			if (!identity_cccd_valid(s))
				err_field(e, path, "must be a 12-digit citizen identity number");
			break;
		case PF_TAX_CODE:
			if (!tax_code_valid(s))
				err_field(e, path, "must be a tax code of 10 digits (or 10-3 for a branch)");
			break;
		case PF_PHONE:
			if (!identity_phone_valid(s))
				err_field(e, path, "must be a Vietnamese phone number");
			break;
		case PF_EMAIL:
			if (!identity_email_valid(s))
				err_field(e, path, "must be an e-mail address");
			break;
		default: break;
		}
	}
}

struct stored {
	int doc_index;
	char *doc_name, *filename, *name, *content_type, *sha256;
	int64_t size;
};

/* Checks uploads against the procedure's documents (index, type by content,
 * size) and moves them into the file store. On error nothing stays stored. */
static int store_uploads(const struct ctx *c, const struct procedure *p, const struct dossier_upload *up, int n,
			 const char *kind, struct stored **out, struct err *e)
{
	struct stored *s = arena_alloc(c->a, sizeof *s * (size_t)(n ? n : 1));
	for (int i = 0; i < n; i++) {
		const char *field = arena_printf(c->a, "files[%d]", i);
		unsigned type;
		const char *ct;
		struct err se = {0};
		if (up[i].doc_index >= p->ndocuments || (up[i].doc_index < 0 && strcmp(kind, "document") == 0)) {
			err_field(e, field, "names document %d, but the procedure has %d", up[i].doc_index, p->ndocuments);
			continue;
		}
		if (filestore_sniff(up[i].path, &type, &ct, &se) < 0) {
			err_field(e, field, "'%s': %s", up[i].filename, se.msg);
			continue;
		}
		if (up[i].size <= 0) {
			err_field(e, field, "'%s' is empty", up[i].filename);
			continue;
		}
		if (up[i].doc_index >= 0) {
			const struct proc_document *d = &p->documents[up[i].doc_index];
			if (d->types && !(d->types & type)) {
				err_field(e, field, "'%s': this document must be %s%s%s", up[i].filename,
					  d->types & FILE_T_PDF ? "PDF " : "", d->types & FILE_T_JPG ? "JPEG " : "",
					  d->types & FILE_T_PNG ? "PNG" : "");
				continue;
			}
			if (d->max_mb > 0 && up[i].size > (int64_t)d->max_mb * 1024 * 1024) {
				err_field(e, field, "'%s' is larger than %d MB", up[i].filename, d->max_mb);
				continue;
			}
			s[i].doc_name = d->name;
		} else {
			s[i].doc_name = strcmp(kind, "result") == 0 ? (p->nresults ? p->results[0].name : "Kết quả")
								     : "Tài liệu bổ sung";
		}
		s[i].doc_index = up[i].doc_index;
		s[i].filename = arena_strdup(c->a, up[i].filename ? up[i].filename : "file");
		s[i].content_type = (char *)ct;
		s[i].sha256 = arena_strdup(c->a, up[i].sha256);
		s[i].size = up[i].size;
	}
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	for (int i = 0; i < n; i++) {
		rc = filestore_put(c->app, up[i].path, c->a, &s[i].name, e);
		if (rc < 0) {
			for (int k = 0; k < i; k++)
				filestore_remove(c->app, s[k].name);
			return rc;
		}
	}
	*out = s;
	return 0;
}

static void unstore(const struct ctx *c, struct stored *s, int n)
{
	for (int i = 0; s && i < n; i++)
		if (s[i].name)
			filestore_remove(c->app, s[i].name);
}

static int insert_files(struct store_tx *tx, const struct ctx *c, const char *code, const char *kind,
			const struct stored *s, int n, int64_t now, struct err *e)
{
	for (int i = 0; i < n; i++) {
		int rc = store_exec(tx,
				    "INSERT INTO dossier_files (dossier_code, kind, doc_name, filename, stored_name, "
				    "content_type, size, sha256, uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, "
				    "$7, $8, $9, $10)",
				    ARGS(SA_TEXT(code), SA_TEXT(kind), SA_TEXT(s[i].doc_name), SA_TEXT(s[i].filename),
					 SA_TEXT(s[i].name), SA_TEXT(s[i].content_type), SA_INT(s[i].size),
					 SA_TEXT(s[i].sha256), c->who && c->who->user_id ? SA_INT(c->who->user_id) : SA_NULL,
					 SA_INT(now)),
				    e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct submit_ctx {
	const struct ctx *c;
	const struct dossier_new *in;
	const struct procedure *p;
	const struct calendar *cal;
	struct stored *files;
	int nfiles;
	bool intake;
	const char *to_agency;
	struct dossier *out;
	bool replay;
};

static int submit_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct submit_ctx *s = arg;
	const struct ctx *c = s->c;
	const struct dossier_new *in = s->in;
	const struct procedure *p = s->p;
	int rc;
	s->replay = false;
	if (in->idempotency_key) {
		char *prior = NULL;
		rc = store_get_text(tx, "SELECT dossier_code FROM idempotency WHERE user_id = $1 AND key = $2",
				    ARGS(SA_INT(c->who->user_id), SA_TEXT(in->idempotency_key)), c->a, &prior, e);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			s->replay = true;
			return dossier_get_tx(tx, c->a, prior, s->out, e) < 0 ? e->code : 0;
		}
	}
	int64_t now = time_now_us();
	/* <agency>-<yyMMdd>-<NNNN>: the day in +07:00, the sequence gap-free per agency and day */
	char day[16];
	{
		int y;
		unsigned m, d;
		civil_from_days((int32_t)((now / 1000000 + TIME_OFFSET_S) / 86400), &y, &m, &d);
		snprintf(day, sizeof day, "%02d%02u%02u", y % 100, m, d);
	}
	rc = store_exec(tx,
			"INSERT INTO dossier_seq (agency_code, day, last) VALUES ($1, $2, 1) ON CONFLICT (agency_code, "
			"day) DO UPDATE SET last = dossier_seq.last + 1",
			ARGS(SA_TEXT(in->agency_code), SA_TEXT(day)), e);
	int64_t seq = 0;
	if (rc >= 0)
		rc = store_get_int(tx, "SELECT last FROM dossier_seq WHERE agency_code = $1 AND day = $2",
				   ARGS(SA_TEXT(in->agency_code), SA_TEXT(day)), &seq, e);
	if (rc < 0)
		return rc;
	if (seq > 9999)
		return err_set(e, ERR_UNAVAILABLE, "agency %s has received 9999 dossiers today, the most a code can number",
			       in->agency_code);
	char *code = arena_printf(c->a, "%s-%s-%04lld", in->agency_code, day, (long long)seq);

	/* applicant: the citizen's own account online; as given at the desk */
	const char *name = in->applicant_name, *idn = in->applicant_id_number, *phone = in->applicant_phone,
		   *email = in->applicant_email;
	int64_t applicant_id = 0;
	if (c->who->role == ROLE_CITIZEN) {
		struct store_q *q;
		rc = store_query(tx, "SELECT full_name, id_number, phone, email FROM users WHERE id = $1",
				 ARGS(SA_INT(c->who->user_id)), &q, e);
		if (rc == 0 && (rc = store_step(q, e)) == 1) {
			name = store_dup(q, 0, c->a);
			idn = store_dup(q, 1, c->a);
			phone = phone ? phone : store_dup(q, 2, c->a);
			email = email ? email : store_dup(q, 3, c->a);
		}
		store_done(q);
		if (rc < 0)
			return rc;
		applicant_id = c->who->user_id;
	} else if (idn) {
		/* a desk intake for someone with an account: link it so they see it online */
		int64_t uid = 0;
		rc = store_get_int(tx, "SELECT id FROM users WHERE id_number = $1 AND role = 'citizen'", ARGS(SA_TEXT(idn)),
				   &uid, e);
		if (rc < 0)
			return rc;
		applicant_id = uid;
	}
	struct buf fold = BUF_INIT;
	text_fold(name, &fold);
	char *form = in->form ? json_dumps(in->form, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int status = s->intake ? DS_RECEIVED : DS_SUBMITTED;
	int step = 0;
	int64_t due = 0, step_start = 0, step_due = 0;
	const char *current = in->agency_code;
	if (s->intake) {
		/* received at the desk: the clock starts now and the dossier moves to the first processing step */
		char *next;
		rc = calendar_due(s->cal, now, p->processing_days, &due, e);
		if (rc >= 0 && p->nsteps > 1)
			rc = agency_for_step(tx, c, p, 1, in->agency_code, in->agency_code, s->to_agency, &next, e);
		if (rc < 0) {
			buf_free(&fold);
			free(form);
			return rc;
		}
		if (p->nsteps > 1) {
			step = 1;
			current = next;
		}
		step_start = now;
		rc = step_timing(s->cal, p, step, now, &step_due, e);
		if (rc < 0) {
			buf_free(&fold);
			free(form);
			return rc;
		}
	}
	rc = store_exec(
		tx,
		"INSERT INTO dossiers (code, procedure_code, agency_code, current_agency, channel, status, step, "
		"applicant_user_id, applicant_name, applicant_name_fold, applicant_id_number, applicant_phone, "
		"applicant_email, applicant_address, form, submitted_at, received_at, due_at, step_started_at, step_due_at, "
		"fee_total, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
		"$13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $16, $16)",
		ARGS(SA_TEXT(code), SA_TEXT(p->code), SA_TEXT(in->agency_code), SA_TEXT(current), SA_TEXT(in->channel),
		     SA_INT(status), SA_INT(step), applicant_id ? SA_INT(applicant_id) : SA_NULL, SA_TEXT(name),
		     SA_TEXT(fold.ptr), SA_TEXT(idn), SA_TEXT(phone), SA_TEXT(email), SA_TEXT(in->applicant_address),
		     SA_TEXT(form ? form : "{}"), SA_INT(now), s->intake ? SA_INT(now) : SA_NULL,
		     due ? SA_INT(due) : SA_NULL, step_start ? SA_INT(step_start) : SA_NULL,
		     step_due ? SA_INT(step_due) : SA_NULL, SA_INT(p->nfees == 1 ? p->fees[0].amount : 0),
		     SA_INT(c->who->user_id)),
		e);
	buf_free(&fold);
	free(form);
	if (rc < 0)
		return rc;
	if ((rc = add_dossier_agency(tx, code, in->agency_code, e)) < 0 ||
	    (strcmp(current, in->agency_code) != 0 && (rc = add_dossier_agency(tx, code, current, e)) < 0))
		return rc;
	if ((rc = insert_files(tx, c, code, "document", s->files, s->nfiles, now, e)) < 0)
		return rc;
	if (in->idempotency_key &&
	    (rc = store_exec(tx, "INSERT INTO idempotency (user_id, key, dossier_code, created_at) VALUES ($1, $2, $3, $4)",
			     ARGS(SA_INT(c->who->user_id), SA_TEXT(in->idempotency_key), SA_TEXT(code), SA_INT(now)),
			     e)) < 0)
		return rc;
	/* the first history line says how the dossier came in */
	struct step_rec sr = {"submit", "Nộp hồ sơ trực tuyến", "Submitted online", 0, status, NULL, NULL, step_start,
			      step_due};
	if (s->intake) {
		bool post = strcmp(in->channel, "postal") == 0;
		sr.action = "receive";
		sr.title = post ? "Tiếp nhận hồ sơ qua dịch vụ bưu chính" : "Tiếp nhận hồ sơ trực tiếp tại Bộ phận Một cửa";
		sr.title_en = post ? "Received by post" : "Received at the one-stop desk";
	}
	int64_t step_id = 0;
	if ((rc = record_step(tx, c, code, &sr, now, &step_id, e)) < 0)
		return rc;
	rc = dossier_get_tx(tx, c->a, code, s->out, e);
	if (rc < 0)
		return rc;
	char detail[256];
	snprintf(detail, sizeof detail, "{\"procedure\":\"%s\",\"channel\":\"%s\",\"files\":%d}", p->code, in->channel,
		 s->nfiles);
	if ((rc = audit_step(tx, c, code, s->intake ? "intake" : "submit", 0, status, NULL, detail, e)) < 0)
		return rc;
	return notify(tx, c, s->intake ? NE_RECEIVED : NE_SUBMITTED, s->out, NULL, 0, NULL, step_id, e);
}

static bool handled_here(const struct procedure *p, const struct agency_row *g)
{
	if (strcmp(g->level, p->steps[0].level) != 0)
		return false;
	if (strncmp(p->handled_by, "department:", 11) == 0)
		return strcmp(g->code, p->handled_by + 11) == 0 || strcmp(g->kind, "service_center") == 0;
	return strcmp(g->kind, "people_committee") == 0 || strcmp(g->kind, "service_center") == 0 ||
	       strcmp(g->kind, "office") == 0;
}

struct check_ctx {
	const struct ctx *c;
	const struct dossier_new *in;
	struct procedure *p;
	bool intake;
};

/* Everything about a submission that needs the database but changes nothing. */
static int check_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct check_ctx *k = arg;
	const struct ctx *c = k->c;
	const struct dossier_new *in = k->in;
	int rc = procedure_get_tx(tx, c->a, in->procedure_code, k->p, e);
	if (rc < 0)
		return rc;
	if (rc == 0 || !k->p->active) {
		err_field(e, "procedure_code", "no procedure has the code '%s'", in->procedure_code);
		return err_fields_done(e);
	}
	struct procedure *p = k->p;
	if (!k->intake && p->online == PROC_ONLINE_NONE)
		err_field(e, "procedure_code", "this procedure cannot be submitted online; apply at the one-stop desk");
	struct agency_row g;
	rc = agency_row_tx(tx, c->a, in->agency_code, &g, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		err_field(e, "agency_code", "no agency has the code '%s'", in->agency_code);
	else if (!handled_here(p, &g))
		err_field(e, "agency_code", "'%s' does not receive this procedure (it is received at the '%s' level)",
			  g.name, p->steps[0].level);
	else if (k->intake && !identity_in_scope(c->who, g.path))
		return err_set(e, ERR_FORBIDDEN, "you may record intakes only for your own agency and its units");
	validate_form(tx, c, p, in->form, e);
	if (k->intake) {
		if (!in->applicant_name || !text_valid(in->applicant_name, 200))
			err_field(e, "applicant.name", "is required: the applicant's full name");
		if (in->applicant_id_number && !identity_cccd_valid(in->applicant_id_number))
			err_field(e, "applicant.id_number", "must be a 12-digit citizen identity number");
		if (!in->applicant_id_number && !in->applicant_phone)
			err_field(e, "applicant.id_number", "an identity number or a phone number is required");
	}
	if (in->applicant_phone && !identity_phone_valid(in->applicant_phone))
		err_field(e, "applicant.phone", "must be a Vietnamese phone number");
	if (in->applicant_email && !identity_email_valid(in->applicant_email))
		err_field(e, "applicant.email", "must be an e-mail address");
	if (in->applicant_address && !text_valid(in->applicant_address, 500))
		err_field(e, "applicant.address", "must be 1 to 500 bytes of text");
	if (!k->intake) {
		/* online: every required document comes as a file, unless a national database supplies it */
		for (int d = 0; d < p->ndocuments; d++) {
			if (!p->documents[d].required || p->documents[d].ecopy_source)
				continue;
			bool have = false;
			for (int u = 0; u < in->nuploads; u++)
				if (in->uploads[u].doc_index == d)
					have = true;
			if (!have)
				err_field(e, arena_printf(c->a, "documents[%d]", d), "is required: %s",
					  p->documents[d].name);
		}
	}
	return err_fields_done(e);
}

int dossier_submit(const struct ctx *c, const struct dossier_new *in, struct dossier *out, struct err *e)
{
	const struct principal *who = c->who;
	if (!who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in to submit a dossier");
	bool intake = who->role == ROLE_OFFICIAL || who->role == ROLE_LEADER;
	if (who->role == ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "administrators do not submit dossiers");
	struct dossier_new n = *in;
	if (!n.channel)
		n.channel = intake ? "direct" : "online";
	if (intake && strcmp(n.channel, "direct") != 0 && strcmp(n.channel, "postal") != 0)
		err_field(e, "channel", "an official records 'direct' or 'postal' intakes");
	if (!intake && strcmp(n.channel, "online") != 0)
		err_field(e, "channel", "citizens submit 'online'");
	if (!n.procedure_code)
		err_field(e, "procedure_code", "is required");
	if (!n.agency_code)
		err_field(e, "agency_code", "is required: the agency that receives the dossier");
	if (n.idempotency_key && (!text_valid(n.idempotency_key, 128)))
		err_field(e, "Idempotency-Key", "must be 1 to 128 printable characters");
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	struct procedure *p = arena_alloc(c->a, sizeof *p);
	struct check_ctx k = {c, &n, p, intake};
	if ((rc = store_read(c->app->db, check_fn, &k, e)) < 0)
		return rc;
	struct stored *files = NULL;
	if ((rc = store_uploads(c, p, n.uploads, n.nuploads, "document", &files, e)) < 0)
		return rc;
	struct submit_ctx s = {c, &n, p, calendar_of(c), files, n.nuploads, intake, n.to_agency, out, false};
	rc = store_write(c->app->db, submit_fn, &s, e);
	if (rc == ERR_CONFLICT && n.idempotency_key) {
		/* the same key raced in on another connection: answer with that dossier */
		err_clear(e);
		s.replay = false;
		rc = store_write(c->app->db, submit_fn, &s, e);
	}
	if (rc < 0 || s.replay)
		unstore(c, files, n.nuploads);
	if (rc < 0)
		return rc;
	deadline_state(c->app, out, s.cal);
	return s.replay ? 0 : 1;
}

/* ---- actions ---- */

/* The one rule of who may do what when: NULL when c->who may take action a on
 * d now, else why not. act_fn enforces it; dossier_actions_allowed shows it. */
static const char *action_refusal(const struct ctx *c, const struct dossier *d, const struct procedure *p, bool staff,
				  enum proc_action a)
{
	const struct principal *who = c->who;
	const struct proc_step *st = d->step >= 0 && d->step < p->nsteps ? &p->steps[d->step] : NULL;
	const int from = d->status;
	const bool working = from == DS_RECEIVED || from == DS_PROCESSING;
	const bool waiting = from == DS_SUPPLEMENT_REQUESTED || from == DS_PAYMENT_REQUESTED;
	bool in_step = st && (st->actions & (1u << a));
	bool applicant = who->role == ROLE_CITIZEN && d->applicant_user_id == who->user_id;
	bool applicant_action = a == PA_SUPPLEMENT || a == PA_WITHDRAW;
	if (applicant_action && !applicant)
		return "only the applicant may do this";
	if (!applicant_action && !staff)
		return who->role == ROLE_CITIZEN || who->role == ROLE_ADMIN
			       ? "only officials of the agency processing it may do this"
			       : "the dossier is being processed by another agency";
	bool step_gated = a == PA_RECEIVE || a == PA_REFUSE || a == PA_FORWARD || a == PA_APPROVE || a == PA_REJECT ||
			  a == PA_ISSUE_RESULT || a == PA_RETURN_RESULT ||
			  (a == PA_REQUEST_SUPPLEMENT && from == DS_SUBMITTED);
	if (step_gated && !in_step)
		return arena_printf(c->a, "the current step '%s' does not allow it", st ? st->name : "(none)");
	if ((a == PA_APPROVE || a == PA_REJECT) && who->role != ROLE_LEADER)
		return "only a leader may approve or reject";
	if (st && st->role == ROLE_LEADER && step_gated && who->role != ROLE_LEADER)
		return "this step is a leader's";
	switch (a) {
	case PA_RECEIVE: return from == DS_SUBMITTED ? NULL : "only a newly submitted dossier can be received";
	case PA_REFUSE: return from == DS_SUBMITTED ? NULL : "only a dossier not yet received can be refused";
	case PA_REQUEST_SUPPLEMENT:
		return from == DS_SUBMITTED || working ? NULL : "a supplement is asked while receiving or processing";
	case PA_SUPPLEMENT: return from == DS_SUPPLEMENT_REQUESTED ? NULL : "no supplement was asked for";
	case PA_FORWARD:
		if (!working)
			return "only a dossier being processed can be forwarded";
		return d->step + 1 < p->nsteps ? NULL : "this is the last step of the workflow";
	case PA_REQUEST_PAYMENT:
		if (!working)
			return "payment is asked while processing";
		return in_step || p->nfees > 0 ? NULL : "this procedure has no fees and the step does not ask for payment";
	case PA_APPROVE: return working ? NULL : "only a dossier being processed can be approved";
	case PA_REJECT: return working ? NULL : "only a dossier being processed can be rejected";
	case PA_ISSUE_RESULT: {
		if (!working)
			return "a result is issued while processing";
		bool has_approve = false;
		for (int k = 0; k < p->nsteps; k++)
			if (p->steps[k].actions & (1u << PA_APPROVE))
				has_approve = true;
		if (has_approve && (!d->outcome || strcmp(d->outcome, "approved") != 0))
			return "a leader must approve before the result is issued";
		return NULL;
	}
	case PA_RETURN_RESULT:
		return from == DS_RESOLVED ? NULL : "the result must be issued (or the rejection decided) first";
	case PA_WITHDRAW:
		return from == DS_SUBMITTED || working || waiting ? NULL : "a finished dossier cannot be withdrawn";
	case PA_STOP:
		return from == DS_WITHDRAWAL_REQUESTED || working || waiting ? NULL
									       : "only a dossier in progress can be stopped";
	case PA_EXTEND: return working ? NULL : "only a dossier being processed can be extended";
	default: return "unknown action";
	}
}

struct act_ctx {
	const struct ctx *c;
	const char *code;
	const struct dossier_action *act;
	const struct calendar *cal;
	struct stored *files;
	int nfiles;
	struct dossier *out;
	struct procedure *p;
};

static int invalid(struct err *e, enum proc_action a, const struct dossier *d, const char *why)
{
	return err_set(e, ERR_INVALID_TRANSITION, "action '%s' is not allowed on dossier %s (status %d '%s'): %s",
		       proc_action_name(a), d->code, d->status, dossier_status_name(d->status), why);
}

/* Pauses the clock: the dossier waits on the applicant. */
static int pause_clock(const struct calendar *cal, struct dossier *d, int64_t now, struct err *e)
{
	(void)e;
	if (!d->due_at || d->paused_at)
		return 0;
	d->paused_at = now;
	d->paused_remaining_us = calendar_working_us_between(cal, now, d->due_at);
	if (d->due_at < now)
		d->paused_remaining_us = 0; /* already late: it stays late */
	return 0;
}

/* Resumes the clock with the office time that was left when it paused. */
static int resume_clock(const struct calendar *cal, struct dossier *d, int64_t now, struct err *e)
{
	if (!d->paused_at)
		return 0;
	int64_t step_left = d->step_due_at ? calendar_working_us_between(cal, d->paused_at, d->step_due_at) : 0;
	int rc = 0;
	if (d->due_at && d->paused_remaining_us > 0)
		rc = calendar_add_working_us(cal, now, d->paused_remaining_us, &d->due_at, e);
	if (rc >= 0 && d->step_due_at && step_left > 0)
		rc = calendar_add_working_us(cal, now, step_left, &d->step_due_at, e);
	d->paused_at = 0;
	d->paused_remaining_us = 0;
	return rc;
}

static int save(struct store_tx *tx, const struct dossier *d, int old_version, bool reset_notified, int64_t now,
		struct err *e)
{
	int rc = store_exec(
		tx,
		"UPDATE dossiers SET current_agency = $2, status = $3, outcome = $4, step = $5, received_at = $6, "
		"due_at = $7, step_started_at = $8, step_due_at = $9, paused_at = $10, paused_remaining_us = $11, "
		"resume_status = $12, resolved_at = $13, returned_at = $14, fee_paid = $15, fee_total = $19, "
		"version = version + 1, "
		"updated_at = $16, due_soon_notified = CASE WHEN $17 = 1 THEN 0 ELSE due_soon_notified END, "
		"overdue_notified = CASE WHEN $17 = 1 THEN 0 ELSE overdue_notified END WHERE code = $1 AND version = $18",
		ARGS(SA_TEXT(d->code), SA_TEXT(d->current_agency), SA_INT(d->status), SA_TEXT(d->outcome), SA_INT(d->step),
		     d->received_at ? SA_INT(d->received_at) : SA_NULL, d->due_at ? SA_INT(d->due_at) : SA_NULL,
		     d->step_started_at ? SA_INT(d->step_started_at) : SA_NULL,
		     d->step_due_at ? SA_INT(d->step_due_at) : SA_NULL, d->paused_at ? SA_INT(d->paused_at) : SA_NULL,
		     d->paused_at ? SA_INT(d->paused_remaining_us) : SA_NULL,
		     d->resume_status ? SA_INT(d->resume_status) : SA_NULL,
		     d->resolved_at ? SA_INT(d->resolved_at) : SA_NULL, d->returned_at ? SA_INT(d->returned_at) : SA_NULL,
		     SA_INT(d->fee_paid), SA_INT(now), SA_INT(reset_notified ? 1 : 0), SA_INT(old_version),
		     SA_INT(d->fee_total)),
		e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_INVALID_TRANSITION, "dossier %s was changed by someone else meanwhile; reload it",
			       d->code);
	return 0;
}

/* Moves to workflow step k, at the agency that performs it. */
static int enter_step(struct store_tx *tx, const struct ctx *c, const struct procedure *p, const struct calendar *cal,
		      struct dossier *d, int k, const char *to_agency, int64_t now, struct err *e)
{
	char *agency = d->current_agency;
	int rc = agency_for_step(tx, c, p, k, d->current_agency, d->agency_code, to_agency, &agency, e);
	if (rc < 0)
		return rc;
	d->step = k;
	d->current_agency = agency;
	d->step_started_at = now;
	rc = step_timing(cal, p, k, now, &d->step_due_at, e);
	if (rc < 0)
		return rc;
	return add_dossier_agency(tx, d->code, agency, e);
}

static int act_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct act_ctx *x = arg;
	const struct ctx *c = x->c;
	const struct dossier_action *act = x->act;
	const struct principal *who = c->who;
	enum proc_action a = act->action;
	struct dossier *d = x->out;
	int rc = dossier_lock_tx(tx, x->code, e);
	if (rc == 0)
		rc = dossier_get_tx(tx, c->a, x->code, d, e);
	if (rc == 1)
		rc = visible_row(tx, c, d, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", x->code);
	struct procedure *p = x->p;
	rc = procedure_get_tx(tx, c->a, d->procedure_code, p, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, ERR_INTERNAL, "procedure %s of dossier %s is missing", d->procedure_code,
					     d->code);
	if (act->expected_version && act->expected_version != d->version)
		return err_set(e, ERR_INVALID_TRANSITION,
			       "dossier %s was changed by someone else (version %d, you had %d); reload it", d->code,
			       d->version, act->expected_version);

	bool staff = false;
	if (who->role == ROLE_OFFICIAL || who->role == ROLE_LEADER) {
		struct agency_row cur;
		rc = agency_row_tx(tx, c->a, d->current_agency, &cur, e);
		if (rc < 0)
			return rc;
		staff = rc == 1 && identity_in_scope(who, cur.path);
	}
	const int from = d->status;
	const int old_version = d->version;
	const int64_t now = time_now_us();
	const int64_t old_due = d->due_at;
	bool reset_notified = false;
	enum notify_event ev = NE_COUNT;
	int64_t amount = 0;
	const char *why = act->reason ? act->reason : act->note;
	const char *refusal = action_refusal(c, d, p, staff, a);
	if (refusal)
		return invalid(e, a, d, refusal);
	bool needs_reason = a == PA_REFUSE || a == PA_REJECT || a == PA_REQUEST_SUPPLEMENT || a == PA_EXTEND ||
			    (a == PA_STOP && from != DS_WITHDRAWAL_REQUESTED);
	if (needs_reason && (!why || !*why)) {
		err_field(e, "reason", "is required for '%s'", proc_action_name(a));
		return err_fields_done(e);
	}

	switch (a) {
	case PA_RECEIVE:
		d->status = DS_RECEIVED;
		d->received_at = now;
		if ((rc = calendar_due(x->cal, now, p->processing_days, &d->due_at, e)) < 0 ||
		    (rc = enter_step(tx, c, p, x->cal, d, p->nsteps > 1 ? 1 : 0, act->to_agency, now, e)) < 0)
			return rc;
		reset_notified = true;
		ev = NE_RECEIVED;
		break;
	case PA_REFUSE:
		d->status = DS_REFUSED;
		ev = NE_REFUSED;
		break;
	case PA_REQUEST_SUPPLEMENT:
		d->resume_status = from;
		d->status = DS_SUPPLEMENT_REQUESTED;
		pause_clock(x->cal, d, now, e);
		ev = NE_SUPPLEMENT_REQUESTED;
		break;
	case PA_SUPPLEMENT:
		d->status = d->resume_status ? d->resume_status : DS_PROCESSING;
		d->resume_status = 0;
		if ((rc = resume_clock(x->cal, d, now, e)) < 0)
			return rc;
		reset_notified = true;
		break;
	case PA_FORWARD:
		d->status = DS_PROCESSING;
		if ((rc = enter_step(tx, c, p, x->cal, d, d->step + 1, act->to_agency, now, e)) < 0)
			return rc;
		break;
	case PA_REQUEST_PAYMENT:
		/* the fee lines of a procedure are often alternative cases: only a single line is a default */
		amount = act->amount;
		if (!amount && p->nfees == 1)
			amount = p->fees[0].amount - d->fee_paid;
		if (!act->amount && p->nfees > 1) {
			err_field(e, "amount", "is required: this procedure has %d fee cases; give the amount of this case",
				  p->nfees);
			return err_fields_done(e);
		}
		if (amount <= 0 || amount > 100000000000LL) {
			err_field(e, "amount", "must be a positive amount in VND");
			return err_fields_done(e);
		}
		d->resume_status = from;
		d->status = DS_PAYMENT_REQUESTED;
		if (d->fee_total < d->fee_paid + amount)
			d->fee_total = d->fee_paid + amount;
		pause_clock(x->cal, d, now, e);
		{
			int64_t pid;
			if ((rc = payment_request_tx(tx, c, d->code, amount,
						     arena_printf(c->a, "Phí, lệ phí hồ sơ %s", d->code), &pid, e)) < 0)
				return rc;
		}
		ev = NE_PAYMENT_REQUESTED;
		break;
	case PA_APPROVE:
		d->outcome = "approved";
		d->status = DS_PROCESSING;
		if (d->step + 1 < p->nsteps && (rc = enter_step(tx, c, p, x->cal, d, d->step + 1, act->to_agency, now, e)) < 0)
			return rc;
		break;
	case PA_REJECT:
		d->outcome = "rejected";
		d->status = DS_RESOLVED;
		d->resolved_at = now;
		if ((rc = enter_step(tx, c, p, x->cal, d, p->nsteps - 1, NULL, now, e)) < 0)
			return rc;
		ev = NE_RESOLVED;
		break;
	case PA_ISSUE_RESULT:
		if (!d->outcome)
			d->outcome = "approved";
		d->status = DS_RESOLVED;
		d->resolved_at = now;
		ev = NE_RESULT_READY;
		break;
	case PA_RETURN_RESULT:
		d->status = DS_RETURNED;
		d->returned_at = now;
		ev = NE_RETURNED;
		break;
	case PA_WITHDRAW:
		d->resume_status = from;
		d->status = DS_WITHDRAWAL_REQUESTED;
		pause_clock(x->cal, d, now, e);
		break;
	case PA_STOP:
		d->status = DS_STOPPED;
		d->paused_at = 0;
		ev = NE_STOPPED;
		break;
	case PA_EXTEND:
		if (act->new_due_at <= d->due_at || act->new_due_at <= now) {
			err_field(e, "new_due_at", "must be later than the current appointment and than now");
			return err_fields_done(e);
		}
		if (act->new_due_at - now > 366LL * 86400 * 1000000) {
			err_field(e, "new_due_at", "must be within a year");
			return err_fields_done(e);
		}
		d->due_at = act->new_due_at;
		if (d->step_due_at && d->step_due_at < d->due_at)
			d->step_due_at = d->due_at;
		reset_notified = true;
		ev = NE_EXTENDED;
		break;
	default: return invalid(e, a, d, "unknown action");
	}
	if ((rc = save(tx, d, old_version, reset_notified, now, e)) < 0)
		return rc;
	const char *kind = a == PA_ISSUE_RESULT ? "result" : "supplement";
	if (x->nfiles && (rc = insert_files(tx, c, d->code, kind, x->files, x->nfiles, now, e)) < 0)
		return rc;

	/* the history line and the audit entry carry the same detail */
	struct buf det = BUF_INIT;
	struct jw w;
	jw_init(&w, &det);
	jw_obj(&w);
	if (act->reason)
		jw_kstr(&w, "reason", act->reason);
	if (a == PA_FORWARD || a == PA_RECEIVE || a == PA_APPROVE || a == PA_REJECT)
		jw_kstr(&w, "to_agency", d->current_agency);
	if (a == PA_EXTEND) {
		jw_ktime(&w, "old_due_at", old_due);
		jw_ktime(&w, "new_due_at", d->due_at);
	}
	if (a == PA_RECEIVE)
		jw_ktime(&w, "due_at", d->due_at);
	if (amount)
		jw_kint(&w, "amount", amount);
	if (x->nfiles)
		jw_kint(&w, "files", x->nfiles);
	jw_obj_end(&w);
	struct step_rec sr = {proc_action_name(a), action_titles[a].vi, action_titles[a].en, from, d->status,
			      act->note ? act->note : act->reason, det.len > 2 ? det.ptr : NULL, d->step_started_at,
			      d->step_due_at};
	int64_t step_id = 0;
	rc = record_step(tx, c, d->code, &sr, now, &step_id, e);
	if (rc >= 0)
		rc = audit_step(tx, c, d->code, proc_action_name(a), from, d->status, act->note, det.len > 2 ? det.ptr : NULL,
				e);
	buf_free(&det);
	if (rc < 0)
		return rc;
	if (ev != NE_COUNT && (rc = notify(tx, c, ev, d, NULL, amount, why, step_id, e)) < 0)
		return rc;
	/* give the caller the dossier as it is now */
	rc = dossier_get_tx(tx, c->a, d->code, d, e);
	return rc < 0 ? rc : 0;
}

int dossier_act(const struct ctx *c, const char *code, const struct dossier_action *act, struct dossier *out,
		struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in first");
	if (act->action >= PA_COUNT)
		return err_set(e, ERR_INVALID, "unknown action");
	if (act->note && !text_valid(act->note, 2000))
		err_field(e, "note", "must be 1 to 2000 bytes of text");
	if (act->reason && !text_valid(act->reason, 2000))
		err_field(e, "reason", "must be 1 to 2000 bytes of text");
	if (act->nuploads && act->action != PA_SUPPLEMENT && act->action != PA_ISSUE_RESULT)
		err_field(e, "files", "only a supplement or an issued result carries files");
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	struct procedure *p = arena_alloc(c->a, sizeof *p);
	struct stored *files = NULL;
	if (act->nuploads) {
		/* the procedure's documents tell which files a supplement may carry; check visibility first */
		struct dossier pre;
		if ((rc = dossier_get(c, code, &pre, e)) < 0)
			return rc;
		struct procedure pp;
		if ((rc = procedure_get(c, pre.procedure_code, &pp, e)) < 0)
			return rc;
		if ((rc = store_uploads(c, &pp, act->uploads, act->nuploads,
					act->action == PA_ISSUE_RESULT ? "result" : "supplement", &files, e)) < 0)
			return rc;
	}
	struct act_ctx x = {c, code, act, calendar_of(c), files, act->nuploads, out, p};
	rc = store_write(c->app->db, act_fn, &x, e);
	if (rc < 0) {
		unstore(c, files, act->nuploads);
		return rc;
	}
	deadline_state(c->app, out, x.cal);
	return 0;
}

/* ---- for pages: what a form or a person may do, without changing anything ---- */

struct form_check_ctx {
	const struct ctx *c;
	const char *procedure_code;
	json_t *form;
};

static int form_check_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct form_check_ctx *k = arg;
	struct procedure p;
	int rc = procedure_get_tx(tx, k->c->a, k->procedure_code, &p, e);
	if (rc < 0)
		return rc;
	if (rc == 0 || !p.active)
		return err_set(e, ERR_NOT_FOUND, "no procedure has the code '%s'", k->procedure_code);
	validate_form(tx, k->c, &p, k->form, e);
	return err_fields_done(e);
}

int dossier_form_check(const struct ctx *c, const char *procedure_code, json_t *form, struct err *e)
{
	if (!procedure_code)
		return err_set(e, ERR_NOT_FOUND, "no procedure given");
	struct form_check_ctx k = {c, procedure_code, form};
	return store_read(c->app->db, form_check_fn, &k, e);
}

struct allowed_ctx {
	const struct ctx *c;
	const struct dossier *d;
	struct procedure p;
	char *cur_path;
};

static int allowed_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct allowed_ctx *k = arg;
	int rc = procedure_get_tx(tx, k->c->a, k->d->procedure_code, &k->p, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, ERR_NOT_FOUND, "procedure %s is missing", k->d->procedure_code);
	struct agency_row cur;
	rc = agency_row_tx(tx, k->c->a, k->d->current_agency, &cur, e);
	if (rc < 0)
		return rc;
	k->cur_path = rc == 1 ? cur.path : NULL;
	return 0;
}

/* The same tests as act_fn, in the same order: keep the two in step. */
int dossier_actions_allowed(const struct ctx *c, const struct dossier *d, unsigned *mask, struct err *e)
{
	*mask = 0;
	const struct principal *who = c->who;
	if (!who)
		return 0;
	struct allowed_ctx k = {c, d, {0}, NULL};
	int rc = store_read(c->app->db, allowed_fn, &k, e);
	if (rc < 0)
		return rc;
	bool staff = (who->role == ROLE_OFFICIAL || who->role == ROLE_LEADER) && k.cur_path &&
		     identity_in_scope(who, k.cur_path);
	for (int i = 0; i < PA_COUNT; i++)
		if (!action_refusal(c, d, &k.p, staff, (enum proc_action)i))
			*mask |= 1u << i;
	return 0;
}

int dossier_payment_received_tx(struct store_tx *tx, const struct ctx *c, const char *code, int64_t amount,
				struct err *e)
{
	struct dossier d;
	int rc = dossier_lock_tx(tx, code, e);
	if (rc == 0)
		rc = dossier_get_tx(tx, c->a, code, &d, e);
	if (rc <= 0)
		return rc < 0 ? rc : err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", code);
	int from = d.status, old_version = d.version;
	int64_t now = time_now_us();
	d.fee_paid += amount;
	/* the wait ends when no requested payment is left open */
	int64_t open = 0;
	rc = store_get_int(tx,
			   "SELECT count(*) FROM payments WHERE dossier_code = $1 AND status IN ('requested', "
			   "'pending', 'failed')",
			   ARGS(SA_TEXT(code)), &open, e);
	if (rc < 0)
		return rc;
	bool resume = from == DS_PAYMENT_REQUESTED && open == 0;
	if (resume) {
		struct calendar *cal = calendar_of(c);
		d.status = d.resume_status ? d.resume_status : DS_PROCESSING;
		d.resume_status = 0;
		if ((rc = resume_clock(cal, &d, now, e)) < 0)
			return rc;
	}
	if ((rc = save(tx, &d, old_version, resume, now, e)) < 0)
		return rc;
	char det[64];
	snprintf(det, sizeof det, "{\"amount\":%lld}", (long long)amount);
	struct step_rec sr = {"payment_received", "Đã thực hiện nghĩa vụ tài chính", "Payment received", from, d.status,
			      NULL, det, d.step_started_at, d.step_due_at};
	int64_t step_id;
	if ((rc = record_step(tx, c, code, &sr, now, &step_id, e)) < 0)
		return rc;
	return audit_step(tx, c, code, "payment_received", from, d.status, NULL, det, e);
}

/* ---- history, files ---- */

struct hist_ctx {
	const struct ctx *c;
	const char *code;
	bool check;
	struct dossier_step *steps;
	int n;
	struct dossier_file *files;
	int nfiles;
	bool want_files;
};

static int hist_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct hist_ctx *h = arg;
	struct arena *a = h->c->a;
	if (h->check) {
		struct dossier d;
		int rc = dossier_get_tx(tx, a, h->code, &d, e);
		if (rc == 1)
			rc = visible_row(tx, h->c, &d, e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", h->code);
	}
	int64_t count = 0;
	const char *count_sql = h->want_files ? "SELECT count(*) FROM dossier_files WHERE dossier_code = $1"
					      : "SELECT count(*) FROM dossier_steps WHERE dossier_code = $1";
	int rc = store_get_int(tx, count_sql, ARGS(SA_TEXT(h->code)), &count, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	if (h->want_files) {
		h->files = arena_alloc(a, sizeof *h->files * (size_t)(count + 1));
		rc = store_query(tx,
				 "SELECT id, kind, doc_name, filename, content_type, sha256, stored_name, size, created_at "
				 "FROM dossier_files WHERE dossier_code = $1 ORDER BY id",
				 ARGS(SA_TEXT(h->code)), &q, e);
		while (rc == 0 && (rc = store_step(q, e)) == 1 && h->nfiles < count) {
			struct dossier_file *f = &h->files[h->nfiles++];
			f->id = store_int(q, 0);
			f->kind = store_dup(q, 1, a);
			f->doc_name = store_dup(q, 2, a);
			f->filename = store_dup(q, 3, a);
			f->content_type = store_dup(q, 4, a);
			f->sha256 = store_dup(q, 5, a);
			f->stored_name = store_dup(q, 6, a);
			f->size = store_int(q, 7);
			f->created_at = store_int(q, 8);
			rc = 0;
		}
	} else {
		h->steps = arena_alloc(a, sizeof *h->steps * (size_t)(count + 1));
		rc = store_query(tx,
				 "SELECT s.id, s.action, s.title, s.title_en, s.actor_user_id, s.actor_name, s.actor_title, "
				 "s.agency_code, g.name, s.at, s.note, s.status_from, s.status_to, s.step_started_at, "
				 "s.step_due_at, s.detail FROM dossier_steps s LEFT JOIN agencies g ON g.code = s.agency_code "
				 "WHERE s.dossier_code = $1 ORDER BY s.id",
				 ARGS(SA_TEXT(h->code)), &q, e);
		while (rc == 0 && (rc = store_step(q, e)) == 1 && h->n < count) {
			struct dossier_step *s = &h->steps[h->n++];
			s->id = store_int(q, 0);
			s->action = store_dup(q, 1, a);
			s->title = store_dup(q, 2, a);
			s->title_en = store_dup(q, 3, a);
			s->actor_user_id = store_int(q, 4);
			s->actor_name = store_dup(q, 5, a);
			s->actor_title = store_dup(q, 6, a);
			s->agency_code = store_dup(q, 7, a);
			s->agency_name = store_dup(q, 8, a);
			s->at = store_int(q, 9);
			s->note = store_dup(q, 10, a);
			s->status_from = (int)store_int(q, 11);
			s->status_to = (int)store_int(q, 12);
			s->step_started_at = store_int(q, 13);
			s->step_due_at = store_int(q, 14);
			s->detail = store_dup(q, 15, a);
			rc = 0;
		}
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int dossier_history(const struct ctx *c, const char *code, struct dossier_step **out, int *n, struct err *e)
{
	struct hist_ctx h = {c, code, true, NULL, 0, NULL, 0, false};
	int rc = store_read(c->app->db, hist_fn, &h, e);
	*out = h.steps;
	*n = h.n;
	return rc;
}

int dossier_files(const struct ctx *c, const char *code, struct dossier_file **out, int *n, struct err *e)
{
	struct hist_ctx h = {c, code, true, NULL, 0, NULL, 0, true};
	int rc = store_read(c->app->db, hist_fn, &h, e);
	*out = h.files;
	*n = h.nfiles;
	return rc;
}

int dossier_file_open(const struct ctx *c, const char *code, int64_t id, struct dossier_file *out, char **path,
		      struct err *e)
{
	struct dossier_file *files;
	int n;
	int rc = dossier_files(c, code, &files, &n, e);
	if (rc < 0)
		return rc;
	for (int i = 0; i < n; i++)
		if (files[i].id == id) {
			*out = files[i];
			*path = filestore_path(c->app, c->a, files[i].stored_name);
			return 0;
		}
	return err_set(e, ERR_NOT_FOUND, "dossier %s has no file %lld", code, (long long)id);
}

/* ---- lists ---- */

struct list_ctx {
	const struct ctx *c;
	const struct dossier_filter *f;
	struct dossier *items;
	int n;
	int64_t total;
};

/* One query serves every caller: the visibility rule is part of the WHERE,
 * chosen by parameters (a citizen's id, an official's agency path, or all).
 * Each filter is an optional condition (store.h: kept only when its
 * parameters are given), so that the planner sees only the filters in use and
 * can serve them from the indexes: an agency's subtree as the codes of its
 * agencies (a few hundred), then its dossiers through dossier_agencies or
 * dossiers_current, rather than a test of every dossier. */
#define LIST_WHERE                                                                                                     \
	" WHERE 1 = 1 [[AND d.applicant_user_id = $1]]"                                                                \
	" [[AND d.code IN (SELECT da.dossier_code FROM dossier_agencies da WHERE da.agency_code IN "                   \
	"(SELECT g.code FROM agencies g WHERE substr(g.path, 1, length($2)) = $2))]]"                                  \
	" [[AND d.status = $3]]"                                                                                       \
	" [[AND d.current_agency IN (SELECT g2.code FROM agencies g2 WHERE substr(g2.path, 1, length($4)) = $4)]]"     \
	" [[AND d.assignee_user_id = $5]]"                                                                             \
	" [[AND d.status IN (2, 4) AND d.paused_at IS NULL AND d.due_at < $6]]"                                        \
	" [[AND d.status IN (2, 4) AND d.paused_at IS NULL AND d.due_at >= $7 AND d.due_at <= $8]]"                    \
	" [[AND (d.code = $10 OR d.applicant_name_fold LIKE $9)]]"                                                     \
	" [[AND d.procedure_code = $11]]"                                                                              \
	" [[AND NOT (d.status IN (2, 4) AND d.paused_at IS NULL AND d.due_at < $12)]]"

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	const struct ctx *c = l->c;
	const struct dossier_filter *f = l->f;
	const struct principal *who = c->who;
	int64_t now = time_now_us();
	const char *agency_path = NULL, *filter_path = NULL;
	bool mine = who->role == ROLE_CITIZEN || f->mine;
	if (!mine && who->role != ROLE_ADMIN)
		agency_path = who->agency_path ? who->agency_path : "/-none-/";
	if (f->agency) {
		char *path = NULL;
		int rc = agency_path_tx(tx, f->agency, c->a, &path, e);
		if (rc < 0)
			return rc;
		filter_path = rc == 1 ? path : "/-none-/";
	}
	struct buf like = BUF_INIT;
	if (f->q) {
		buf_putc(&like, '%');
		struct buf fold = BUF_INIT;
		text_fold(f->q, &fold);
		for (size_t i = 0; i < fold.len; i++)
			if (fold.ptr[i] != '%' && fold.ptr[i] != '_')
				buf_putc(&like, fold.ptr[i]);
		buf_free(&fold);
		buf_putc(&like, '%');
	}
	/* "due soon" by the wall clock first (a superset); the office-time test is applied per row */
	int64_t soon_to = now + (c->app->cfg->due_soon_minutes * 60 + 3 * 86400) * 1000000;
	struct store_arg args[] = {
		mine ? SA_INT(who->user_id) : SA_NULL,
		SA_TEXT(agency_path),
		f->status ? SA_INT(f->status) : SA_NULL,
		SA_TEXT(filter_path),
		f->assignee_me ? SA_INT(who->user_id) : SA_NULL,
		f->overdue == 1 ? SA_INT(now) : SA_NULL,
		f->due_soon ? SA_INT(now) : SA_NULL,
		SA_INT(soon_to),
		SA_TEXT(f->q ? like.ptr : NULL),
		SA_TEXT(f->q),
		SA_TEXT(f->procedure),
		f->overdue == 0 ? SA_INT(now) : SA_NULL,
	};
	int nargs = (int)(sizeof args / sizeof args[0]);
	int rc = 0;
	struct calendar *cal = calendar_of(c);
	int64_t soon_us = c->app->cfg->due_soon_minutes * 60 * 1000000;
	if (!f->due_soon) {
		rc = store_get_int(tx, "SELECT count(*) FROM dossiers d" LIST_WHERE, args, nargs, &l->total, e);
	}
	struct store_q *q = NULL;
	if (rc >= 0) {
		struct store_arg all[16];
		memcpy(all, args, sizeof args);
		all[nargs] = SA_INT(f->due_soon ? 1000 : f->per_page);
		all[nargs + 1] = SA_INT(f->due_soon ? 0 : (int64_t)(f->page - 1) * f->per_page);
		rc = store_query(tx,
				 "SELECT " DOSSIER_COLS DOSSIER_FROM LIST_WHERE
				 " ORDER BY CASE WHEN d.due_at IS NULL THEN 1 ELSE 0 END, d.due_at, d.code DESC LIMIT $13 "
				 "OFFSET $14",
				 all, nargs + 2, &q, e);
	}
	int cap = f->due_soon ? 1000 : f->per_page;
	l->items = arena_alloc(c->a, sizeof *l->items * (size_t)cap);
	int skip = f->due_soon ? (f->page - 1) * f->per_page : 0;
	while (rc >= 0 && (rc = store_step(q, e)) == 1) {
		struct dossier d;
		dossier_read(q, c->a, &d);
		deadline_state(c->app, &d, cal);
		if (f->due_soon) {
			if (strcmp(d.deadline_state, "due_soon") != 0)
				continue;
			l->total++;
			if (skip-- > 0 || l->n >= f->per_page)
				continue;
		}
		if (l->n < cap)
			l->items[l->n++] = d;
		rc = 0;
	}
	(void)soon_us;
	store_done(q);
	buf_free(&like);
	return rc < 0 ? rc : 0;
}

int dossier_list(const struct ctx *c, const struct dossier_filter *f, struct dossier **out, int *n, int64_t *total,
		 struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in to list dossiers");
	if (f->q && !text_valid(f->q, 200)) {
		err_field(e, "q", "must be 1 to 200 bytes of text");
		return err_fields_done(e);
	}
	struct list_ctx l = {c, f, NULL, 0, 0};
	int rc = store_read(c->app->db, list_fn, &l, e);
	*out = l.items;
	*n = l.n;
	*total = l.total;
	return rc;
}

/* ---- public lookup ---- */

static bool last4_matches(const char *value, const char *last4)
{
	size_t n = value ? strlen(value) : 0;
	return n >= 4 && crypto_ct_equal(value + n - 4, last4, 4);
}

struct lookup_ctx {
	const struct ctx *c;
	const char *code, *last4;
	struct dossier *out;
	struct hist_ctx h;
};

static int lookup_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct lookup_ctx *l = arg;
	int rc = dossier_get_tx(tx, l->c->a, l->code, l->out, e);
	if (rc < 0)
		return rc;
	bool ok = rc == 1 && (last4_matches(l->out->applicant_id_number, l->last4) ||
			      last4_matches(l->out->applicant_phone, l->last4));
	if (!ok)
		return err_set(e, ERR_NOT_FOUND, "no dossier matches this code and these digits");
	return hist_fn(tx, &l->h, e);
}

int dossier_lookup(const struct ctx *c, const char *code, const char *last4, struct dossier *out,
		   struct dossier_step **steps, int *nsteps, struct err *e)
{
	if (!code || !text_valid(code, 40))
		err_field(e, "code", "is required: the dossier code on the receipt");
	if (!last4 || !text_digits(last4, 4))
		err_field(e, "id_last4", "is required: the last 4 digits of the applicant's identity number or phone");
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	struct lookup_ctx l = {c, code, last4, out, {c, code, false, NULL, 0, NULL, 0, false}};
	rc = store_read(c->app->db, lookup_fn, &l, e);
	if (rc < 0)
		return rc;
	*steps = l.h.steps;
	*nsteps = l.h.n;
	deadline_state(c->app, out, calendar_of(c));
	return 0;
}

/* ---- orphan files ---- */

struct sweep_ctx {
	struct app *app;
};

static int known_fn(struct store_tx *tx, void *arg, struct err *e)
{
	int64_t *n = ((int64_t **)arg)[0];
	const char *name = ((const char **)arg)[1];
	return store_get_int(tx, "SELECT count(*) FROM dossier_files WHERE stored_name = $1", ARGS(SA_TEXT(name)), n, e);
}

static int known(void *ctx, const char *name)
{
	struct app *app = ctx;
	int64_t n = 0;
	void *args[2] = {&n, (void *)name};
	struct err e = {0};
	if (store_read(app->db, known_fn, args, &e) < 0)
		return -1;
	return n > 0;
}

int dossier_sweep_orphans(struct app *app, struct err *e)
{
	return filestore_sweep(app, known, app, e);
}
