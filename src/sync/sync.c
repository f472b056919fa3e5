/* sync.c: queueing dossiers and their steps for the National Public Service
 * Portal in the portal's own fields, and each dossier's sync state (see
 * sync.h). The pushing is sync_worker.c's. */
#include "sync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/time.h"
#include "dossier/dossier.h"
#include "identity/identity.h"
#include "national/national.h"

void sync_time(int64_t unix_us, char *out, unsigned cap)
{
	if (!unix_us) {
		if (cap)
			out[0] = 0;
		return;
	}
	/* floor division: times before 1970 are not expected, but must not misprint */
	int64_t s = unix_us / 1000000 - (unix_us % 1000000 < 0) + TIME_OFFSET_S;
	int64_t days = s / 86400 - (s % 86400 < 0);
	int64_t sod = s - days * 86400;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)days, &y, &m, &d);
	snprintf(out, cap, "%04d%02u%02u%02d%02d%02d", y, m, d, (int)(sod / 3600), (int)(sod % 3600 / 60),
		 (int)(sod % 60));
}

static void kdate(struct jw *w, const char *k, int64_t us)
{
	char t[24];
	sync_time(us, t, sizeof t);
	jw_kstr(w, k, t);
}

static void kstr0(struct jw *w, const char *k, const char *v)
{
	jw_kstr(w, k, v ? v : "");
}

static int channel_code(const char *ch)
{
	if (ch && strcmp(ch, "online") == 0)
		return 2;
	if (ch && strcmp(ch, "postal") == 0)
		return 3;
	return 1;
}

struct row_dossier {
	char *code, *proc, *proc_name, *field, *agency, *agency_name, *current, *current_name, *channel, *outcome;
	char *name, *idn, *phone, *email, *address;
	int status;
	int64_t submitted, received, due, resolved, returned;
};

struct row_step {
	char *action, *title, *actor, *actor_title, *agency_name, *note;
	int status_to;
	int64_t at, started, due;
};

static int read_dossier(struct store_tx *tx, struct arena *a, const char *code, struct row_dossier *d, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT d.code, d.procedure_code, p.name, p.field, d.agency_code, a.name, d.current_agency, "
			     "ca.name, d.channel, d.status, d.outcome, d.applicant_name, d.applicant_id_number, "
			     "d.applicant_phone, d.applicant_email, d.applicant_address, d.submitted_at, d.received_at, "
			     "d.due_at, d.resolved_at, d.returned_at FROM dossiers d "
			     "LEFT JOIN procedures p ON p.code = d.procedure_code "
			     "LEFT JOIN agencies a ON a.code = d.agency_code "
			     "LEFT JOIN agencies ca ON ca.code = d.current_agency WHERE d.code = $1",
			     ARGS(SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		int i = 0;
		d->code = store_dup(q, i++, a);
		d->proc = store_dup(q, i++, a);
		d->proc_name = store_dup(q, i++, a);
		d->field = store_dup(q, i++, a);
		d->agency = store_dup(q, i++, a);
		d->agency_name = store_dup(q, i++, a);
		d->current = store_dup(q, i++, a);
		d->current_name = store_dup(q, i++, a);
		d->channel = store_dup(q, i++, a);
		d->status = (int)store_int(q, i++);
		d->outcome = store_dup(q, i++, a);
		d->name = store_dup(q, i++, a);
		d->idn = store_dup(q, i++, a);
		d->phone = store_dup(q, i++, a);
		d->email = store_dup(q, i++, a);
		d->address = store_dup(q, i++, a);
		d->submitted = store_int(q, i++);
		d->received = store_int(q, i++);
		d->due = store_int(q, i++);
		d->resolved = store_int(q, i++);
		d->returned = store_int(q, i++);
	}
	store_done(q);
	return rc;
}

static int read_step(struct store_tx *tx, struct arena *a, const char *code, int64_t id, struct row_step *s,
		     struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT s.action, s.title, s.actor_name, s.actor_title, g.name, s.note, s.status_to, s.at, "
			     "s.step_started_at, s.step_due_at FROM dossier_steps s "
			     "LEFT JOIN agencies g ON g.code = s.agency_code WHERE s.id = $1 AND s.dossier_code = $2",
			     ARGS(SA_INT(id), SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		int i = 0;
		s->action = store_dup(q, i++, a);
		s->title = store_dup(q, i++, a);
		s->actor = store_dup(q, i++, a);
		s->actor_title = store_dup(q, i++, a);
		s->agency_name = store_dup(q, i++, a);
		s->note = store_dup(q, i++, a);
		s->status_to = (int)store_int(q, i++);
		s->at = store_int(q, i++);
		s->started = store_int(q, i++);
		s->due = store_int(q, i++);
	}
	store_done(q);
	return rc;
}

/* The dossier in DongBoHoSoMC's fields. */
static void hoso_json(struct jw *w, const struct row_dossier *d)
{
	jw_obj(w);
	jw_kstr(w, "MaHoSo", d->code);
	jw_kstr(w, "SoBienNhan", d->code);
	jw_kstr(w, "MaTTHC", d->proc);
	kstr0(w, "TenTTHC", d->proc_name ? d->proc_name : d->proc);
	kstr0(w, "TenLinhVuc", d->field);
	jw_kstr(w, "MaDonVi", d->agency);
	kstr0(w, "TenDonVi", d->agency_name);
	kstr0(w, "MaDonViXuLy", d->current);
	kstr0(w, "DonViXuLy", d->current_name);
	jw_kint(w, "KenhThucHien", channel_code(d->channel));
	jw_kstr(w, "ChuHoSo", d->name);
	jw_kint(w, "LoaiDoiTuong", 1);
	kstr0(w, "MaDoiTuong", d->idn);
	kstr0(w, "SoDienThoai", d->phone);
	kstr0(w, "Email", d->email);
	kstr0(w, "DiaChi", d->address);
	struct buf t = BUF_INIT;
	buf_printf(&t, "%s - %s", d->proc_name ? d->proc_name : d->proc, d->name);
	jw_kstr(w, "TrichYeuHoSo", buf_cstr(&t));
	buf_free(&t);
	jw_kint(w, "TrangThaiHoSo", d->status);
	jw_kstr(w, "KetQuaXuLy", !d->outcome ? "" : strcmp(d->outcome, "approved") == 0 ? "1" : "0");
	kdate(w, "NgayNopHoSo", d->submitted);
	kdate(w, "NgayTiepNhan", d->received);
	kdate(w, "NgayHenTra", d->due);
	kdate(w, "NgayKetThucXuLy", d->resolved);
	kdate(w, "NgayTra", d->returned);
	jw_obj_end(w);
}

/* The step in CapNhatTienDoHoSoMC's fields. */
static void tiendo_json(struct jw *w, const char *code, const struct row_step *s)
{
	jw_obj(w);
	jw_kstr(w, "MaHoSo", code);
	jw_kstr(w, "NguoiXuLy", s->actor && s->actor[0] ? s->actor : "Hệ thống");
	kstr0(w, "ChucDanh", s->actor_title);
	kdate(w, "ThoiDiemXuLy", s->at);
	kstr0(w, "PhongBanXuLy", s->agency_name);
	struct buf t = BUF_INIT;
	buf_puts(&t, s->title ? s->title : s->action);
	if (s->note && s->note[0])
		buf_printf(&t, ": %s", s->note);
	jw_kstr(w, "NoiDungXuLy", buf_cstr(&t));
	buf_free(&t);
	jw_kint(w, "TrangThai", s->status_to);
	kdate(w, "NgayBatDau", s->started);
	kdate(w, "NgayKetThucTheoQuyDinh", s->due);
	jw_obj_end(w);
}

int sync_dossier_tx(struct store_tx *tx, const struct ctx *c, const char *dossier_code, int64_t step_id,
		    struct err *e)
{
	struct row_dossier d = {0};
	struct row_step s = {0};
	int rc = read_dossier(tx, c->a, dossier_code, &d, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "sync: dossier '%s' not found", dossier_code);
	if ((rc = read_step(tx, c->a, dossier_code, step_id, &s, e)) < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "sync: step %lld of dossier '%s' not found", (long long)step_id,
			       dossier_code);
	int64_t queued = 0;
	if ((rc = store_get_int(tx, "SELECT queued FROM dossier_sync WHERE dossier_code = $1",
				ARGS(SA_TEXT(dossier_code)), &queued, e)) < 0)
		return rc;
	char *sync_id = arena_printf(c->a, "%s:%lld", dossier_code, (long long)step_id);
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kstr(&w, "sync_id", sync_id);
	jw_kstr(&w, "dossier", dossier_code);
	jw_kint(&w, "step_id", step_id);
	jw_kbool(&w, "updating", queued > 0);
	jw_key(&w, "hoso");
	hoso_json(&w, &d);
	jw_key(&w, "tiendo");
	tiendo_json(&w, dossier_code, &s);
	jw_obj_end(&w);
	int64_t now = time_now_us();
	rc = store_exec(tx,
			"INSERT INTO outbox (kind, channel, dedupe, payload, next_at, created_at) "
			"VALUES ('sync', 'dvcqg', $1, $2, $3, $3) ON CONFLICT (dedupe) DO NOTHING",
			ARGS(SA_TEXT(sync_id), SA_TEXTN(b.ptr, b.len), SA_INT(now)), e);
	buf_free(&b);
	if (rc <= 0)
		return rc; /* 0: this step was queued before */
	rc = store_exec(tx,
			"INSERT INTO dossier_sync (dossier_code, queued, queued_step_id, status, updated_at) "
			"VALUES ($1, 1, $2, 'pending', $3) ON CONFLICT (dossier_code) DO UPDATE SET "
			"queued = dossier_sync.queued + 1, queued_step_id = $2, "
			"status = CASE WHEN dossier_sync.failed > 0 THEN 'failed' ELSE 'pending' END, updated_at = $3",
			ARGS(SA_TEXT(dossier_code), SA_INT(step_id), SA_INT(now)), e);
	return rc < 0 ? rc : 0;
}

/* ---- the state, for officials ---- */

struct state_ctx {
	const struct ctx *c;
	const char *code;
	struct sync_state *out;
	bool found;
};

static int state_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct state_ctx *k = arg;
	struct sync_state *o = k->out;
	struct arena *a = k->c->a;
	int rc = dossier_visible_tx(tx, k->c, k->code, e);
	if (rc <= 0) {
		k->found = false;
		return rc;
	}
	k->found = true;
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT queued, pushed, failed, queued_step_id, pushed_step_id, status, attempts, last_error, "
			 "last_attempt_at, synced_at, updated_at FROM dossier_sync WHERE dossier_code = $1",
			 ARGS(SA_TEXT(k->code)), &q, e);
	o->status = "none";
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		o->queued = (int)store_int(q, 0);
		o->pushed = (int)store_int(q, 1);
		o->failed = (int)store_int(q, 2);
		o->queued_step_id = store_int(q, 3);
		o->pushed_step_id = store_int(q, 4);
		o->status = store_dup(q, 5, a);
		o->attempts = (int)store_int(q, 6);
		o->last_error = store_dup(q, 7, a);
		o->last_attempt_at = store_int(q, 8);
		o->synced_at = store_int(q, 9);
		o->updated_at = store_int(q, 10);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	/* the rows, through the steps (indexed by dossier) and the dedupe key (unique) */
	rc = store_query(tx,
			 "SELECT s.id, s.action, s.title, s.at, o.dedupe, o.attempts, o.next_at, o.done_at, o.last_error "
			 "FROM dossier_steps s JOIN outbox o ON o.dedupe = s.dossier_code || ':' || CAST(s.id AS TEXT) "
			 "WHERE s.dossier_code = $1 AND o.kind = 'sync' ORDER BY o.id",
			 ARGS(SA_TEXT(k->code)), &q, e);
	int cap = 16;
	o->items = arena_alloc(a, sizeof *o->items * (size_t)cap);
	o->nitems = 0;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		if (o->nitems == cap) {
			struct sync_item *bigger = arena_alloc(a, sizeof *bigger * (size_t)cap * 2);
			memcpy(bigger, o->items, sizeof *bigger * (size_t)cap);
			o->items = bigger;
			cap *= 2;
		}
		struct sync_item *it = &o->items[o->nitems++];
		it->step_id = store_int(q, 0);
		it->action = store_dup(q, 1, a);
		it->title = store_dup(q, 2, a);
		it->step_at = store_int(q, 3);
		it->sync_id = store_dup(q, 4, a);
		it->attempts = (int)store_int(q, 5);
		bool done = !store_isnull(q, 7);
		it->last_error = store_dup(q, 8, a);
		it->state = !done ? "pending" : it->last_error ? "failed" : "pushed";
		it->next_attempt_at = done ? 0 : store_int(q, 6);
		it->pushed_at = done && !it->last_error ? store_int(q, 7) : 0;
		rc = 0;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int sync_state_get(const struct ctx *c, const char *dossier_code, struct sync_state *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in first");
	if (c->who->role == ROLE_CITIZEN)
		return err_set(e, ERR_FORBIDDEN, "the national-portal synchronisation is shown to officials");
	struct state_ctx k = {c, dossier_code, out, false};
	int rc = store_read(c->app->db, state_fn, &k, e);
	if (rc < 0)
		return rc;
	if (!k.found)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", dossier_code);
	out->dossier_code = arena_strdup(c->a, dossier_code);
	out->portal_configured = national_base(c->app->cfg, NATIONAL_DVCQG, c->a) != NULL;
	return 0;
}

void sync_state_json(struct jw *w, const struct sync_state *s)
{
	jw_obj(w);
	jw_kstr(w, "dossier_code", s->dossier_code);
	jw_kstr(w, "portal", "DVCQG");
	jw_kbool(w, "portal_configured", s->portal_configured);
	jw_kstr(w, "status", s->status);
	jw_kint(w, "queued", s->queued);
	jw_kint(w, "pushed", s->pushed);
	jw_kint(w, "failed", s->failed);
	jw_kint(w, "pending", s->queued - s->pushed - s->failed);
	jw_kint(w, "attempts", s->attempts);
	jw_kint(w, "queued_step_id", s->queued_step_id);
	jw_kint(w, "pushed_step_id", s->pushed_step_id);
	jw_kstr(w, "last_error", s->last_error);
	jw_ktime(w, "last_attempt_at", s->last_attempt_at);
	jw_ktime(w, "synced_at", s->synced_at);
	jw_key(w, "items");
	jw_arr(w);
	for (int i = 0; i < s->nitems; i++) {
		const struct sync_item *it = &s->items[i];
		jw_obj(w);
		jw_kint(w, "step_id", it->step_id);
		jw_kstr(w, "sync_id", it->sync_id);
		jw_kstr(w, "action", it->action);
		jw_kstr(w, "title", it->title);
		jw_ktime(w, "step_at", it->step_at);
		jw_kstr(w, "state", it->state);
		jw_kint(w, "attempts", it->attempts);
		jw_kstr(w, "last_error", it->last_error);
		jw_ktime(w, "next_attempt_at", it->next_attempt_at);
		jw_ktime(w, "pushed_at", it->pushed_at);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

/* ---- requeueing what was given up ---- */

struct retry_ctx {
	const struct ctx *c;
	const char *code;
	int n;
	bool found;
};

static int retry_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct retry_ctx *k = arg;
	k->n = 0;
	int rc = dossier_visible_tx(tx, k->c, k->code, e);
	if (rc <= 0) {
		k->found = false;
		return rc;
	}
	k->found = true;
	int64_t now = time_now_us();
	rc = store_exec(tx,
			"UPDATE outbox SET done_at = NULL, attempts = 0, next_at = $2, claimed_until = 0 "
			"WHERE kind = 'sync' AND done_at IS NOT NULL AND last_error IS NOT NULL AND dedupe IN "
			"(SELECT s.dossier_code || ':' || CAST(s.id AS TEXT) FROM dossier_steps s WHERE s.dossier_code = $1)",
			ARGS(SA_TEXT(k->code), SA_INT(now)), e);
	if (rc <= 0)
		return rc;
	k->n = rc;
	rc = store_exec(tx,
			"UPDATE dossier_sync SET failed = CASE WHEN failed > $2 THEN failed - $2 ELSE 0 END, "
			"status = CASE WHEN failed > $2 THEN 'failed' ELSE 'pending' END, updated_at = $3 "
			"WHERE dossier_code = $1",
			ARGS(SA_TEXT(k->code), SA_INT(k->n), SA_INT(now)), e);
	if (rc < 0)
		return rc;
	char doc[64];
	snprintf(doc, sizeof doc, "{\"requeued\":%d}", k->n);
	return audit_append(tx, k->c, "sync.retry", arena_printf(k->c->a, "dossier:%s", k->code), doc, e);
}

int sync_retry(const struct ctx *c, const char *dossier_code, struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in first");
	if (c->who->role == ROLE_CITIZEN)
		return err_set(e, ERR_FORBIDDEN, "only officials may requeue the national-portal synchronisation");
	struct retry_ctx k = {c, dossier_code, 0, false};
	int rc = store_write(c->app->db, retry_fn, &k, e);
	if (rc < 0)
		return rc;
	if (!k.found)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", dossier_code);
	return k.n;
}
