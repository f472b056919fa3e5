/* payment.c: payment requests, starting a payment at the gateway, the
 * gateway's signed callback applied exactly once, and the e-receipt. */
#include "payment/payment.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "dossier/dossier.h"
#include "identity/identity.h"
#include "notify/notify.h"
#include "payment/gateway.h"
#include "report/forms.h"

#define PAY_COLS                                                                                                       \
	"id, dossier_code, amount, description, status, gateway_ref, receipt_no, requested_at, paid_at, updated_at"

/* The receipt counter lives in dossier_seq under a key no agency code can take
 * (agency codes are digits and dots): one row per year, bumped under the
 * row's lock, so numbers are unique and gap-free on both backends. */
#define RECEIPT_SEQ_KEY "#receipt:BL"

/* ---- small helpers ---- */

bool payment_ref_valid(const char *s)
{
	if (!s || !*s)
		return false;
	size_t n = 0;
	for (const char *p = s; *p; p++, n++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '.' || ch == '_' || ch == '-';
		if (!ok || n >= PAYMENT_REF_MAX)
			return false;
	}
	return true;
}

static void read_row(struct store_q *q, struct arena *a, struct payment *p)
{
	p->id = store_int(q, 0);
	p->dossier_code = store_dup(q, 1, a);
	p->amount = store_int(q, 2);
	p->description = store_dup(q, 3, a);
	p->status = store_dup(q, 4, a);
	p->gateway_ref = store_dup(q, 5, a);
	p->receipt_no = store_dup(q, 6, a);
	p->requested_at = store_int(q, 7);
	p->paid_at = store_int(q, 8);
	p->updated_at = store_int(q, 9);
}

/* The statement cache of the store is keyed by the SQL text's address: SQL
 * must be string literals, never built in a buffer. */
#define PAY_BY_ID  "SELECT " PAY_COLS " FROM payments WHERE id = $1"
#define PAY_BY_REF "SELECT " PAY_COLS " FROM payments WHERE gateway_ref = $1"

/* One row of a query on payments; 1 found, 0 none, < 0 error. */
static int get_row(struct store_tx *tx, const char *sql, const struct store_arg *args, int nargs, struct arena *a,
		   struct payment *out, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, sql, args, nargs, &q, e);
	if (rc < 0)
		return rc;
	rc = store_step(q, e);
	if (rc == 1)
		read_row(q, a, out);
	store_done(q);
	return rc;
}

static void fmt_vnd(int64_t amount, char out[32])
{
	forms_format_vnd(amount, out, 32);
}

void payment_json(struct jw *w, const struct payment *p)
{
	char vnd[32];
	fmt_vnd(p->amount, vnd);
	jw_obj(w);
	jw_kint(w, "id", p->id);
	jw_kstr(w, "dossier_code", p->dossier_code);
	jw_kint(w, "amount", p->amount);
	jw_kstr(w, "amount_text", vnd);
	jw_kstr(w, "currency", "VND");
	jw_kstr(w, "description", p->description);
	jw_kstr(w, "status", p->status);
	jw_kstr(w, "gateway_ref", p->gateway_ref);
	jw_kstr(w, "receipt_no", p->receipt_no);
	jw_ktime(w, "requested_at", p->requested_at);
	jw_ktime(w, "paid_at", p->paid_at);
	jw_ktime(w, "updated_at", p->updated_at);
	if (p->status && strcmp(p->status, "paid") == 0) {
		char url[256];
		snprintf(url, sizeof url, "/api/v1/dossiers/%s/payments/%lld/receipt.pdf", p->dossier_code,
			 (long long)p->id);
		jw_kstr(w, "receipt_url", url);
	}
	jw_obj_end(w);
}

/* ---- signatures ---- */

static const char *nz(const char *s)
{
	return s ? s : "";
}

void payment_canonical(const struct payment_cb *cb, struct buf *out)
{
	buf_puts(out, "amount=");
	if (cb->has_amount)
		buf_printf(out, "%lld", (long long)cb->amount);
	buf_printf(out, "&gateway_ref=%s&order_id=%s&paid_at=%s&status=%s", nz(cb->gateway_ref), nz(cb->order_id),
		   nz(cb->paid_at), nz(cb->status));
}

void payment_sign_hex(const char *secret, const struct payment_cb *cb, char out[129])
{
	struct buf b = BUF_INIT;
	payment_canonical(cb, &b);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	const char *key = nz(secret);
	HMAC(EVP_sha512(), key, (int)strlen(key), (const unsigned char *)buf_cstr(&b), b.len, mac, &n);
	buf_free(&b);
	static const char hex[] = "0123456789abcdef";
	for (unsigned i = 0; i < n && i < 64; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[128] = '\0';
}

bool payment_signature_ok(const char *secret, const struct payment_cb *cb)
{
	if (!secret || !*secret || !cb->signature || strlen(cb->signature) != 128)
		return false;
	char want[129], got[129];
	payment_sign_hex(secret, cb, want);
	for (int i = 0; i < 128; i++) {
		char ch = cb->signature[i];
		got[i] = (ch >= 'A' && ch <= 'F') ? (char)(ch - 'A' + 'a') : ch;
	}
	got[128] = '\0';
	return crypto_ct_equal(want, got, 128);
}

const char *payment_secret(const struct config *cfg)
{
	if (cfg->payment_secret && cfg->payment_secret[0])
		return cfg->payment_secret;
	if ((!cfg->payment_url || !cfg->payment_url[0]) && cfg->sim_url && cfg->sim_url[0])
		return PAYMENT_SIM_DEFAULT_SECRET;
	return NULL;
}

static bool host_valid(const char *h)
{
	if (!h || !*h || strlen(h) > 255)
		return false;
	for (const char *p = h; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '-' || ch == ':' || ch == '[' || ch == ']'))
			return false;
	}
	return true;
}

char *payment_portal_url(const struct config *cfg, const char *host, struct arena *a)
{
	if (cfg->public_url && cfg->public_url[0]) {
		size_t n = strlen(cfg->public_url);
		while (n > 0 && cfg->public_url[n - 1] == '/')
			n--;
		return arena_strndup(a, cfg->public_url, n);
	}
	const char *scheme = cfg->tls_cert && cfg->tls_cert[0] ? "https" : "http";
	char h[64];
	int port = 0;
	const char *listen = cfg->listen ? cfg->listen : "127.0.0.1:8080";
	if (config_parse_listen(listen, h, &port) && port != 0) {
		const char *hh = h;
		if (strcmp(h, "0.0.0.0") == 0)
			hh = "127.0.0.1";
		else if (strcmp(h, "::") == 0)
			hh = "::1";
		if (strchr(hh, ':'))
			return arena_printf(a, "%s://[%s]:%d", scheme, hh, port);
		return arena_printf(a, "%s://%s:%d", scheme, hh, port);
	}
	if (host_valid(host))
		return arena_printf(a, "%s://%s", scheme, host);
	return arena_printf(a, "%s://%s", scheme, listen);
}

/* ---- payment requests ---- */

int payment_request_tx(struct store_tx *tx, const struct ctx *c, const char *dossier_code, int64_t amount,
		       const char *description, int64_t *id, struct err *e)
{
	if (amount <= 0 || amount > PAYMENT_MAX_AMOUNT) {
		err_field(e, "amount", "must be a whole number of đồng from 1 to %lld", (long long)PAYMENT_MAX_AMOUNT);
		return err_fields_done(e);
	}
	if (description && strlen(description) > 500) {
		err_field(e, "description", "must be at most 500 bytes");
		return err_fields_done(e);
	}
	const char *desc =
	    description && *description ? description : arena_printf(c->a, "Phí, lệ phí hồ sơ %s", dossier_code);
	int64_t now = time_now_us();
	int64_t newid = 0;
	int rc =
	    store_get_int(tx,
			  "INSERT INTO payments (dossier_code, amount, description, status, requested_at, updated_at) "
			  "VALUES ($1, $2, $3, 'requested', $4, $4) RETURNING id",
			  ARGS(SA_TEXT(dossier_code), SA_INT(amount), SA_TEXT(desc), SA_INT(now)), &newid, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_INTERNAL, "payment request for '%s' was not recorded", dossier_code);
	if (id)
		*id = newid;
	return 0;
}

/* ---- reading ---- */

struct list_ctx {
	const struct ctx *c;
	const char *code;
	int64_t id; /* 0: all */
	struct payment *items;
	int n;
};

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	l->n = 0;
	int64_t total = 0;
	int rc = store_get_int(tx, "SELECT count(*) FROM payments WHERE dossier_code = $1", ARGS(SA_TEXT(l->code)),
			       &total, e);
	if (rc < 0)
		return rc;
	l->items = arena_alloc(l->c->a, sizeof *l->items * (size_t)(total > 0 ? total : 1));
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT " PAY_COLS " FROM payments WHERE dossier_code = $1 "
			 "AND (CAST($2 AS BIGINT) = 0 OR id = $2) ORDER BY id",
			 ARGS(SA_TEXT(l->code), SA_INT(l->id)), &q, e);
	if (rc < 0)
		return rc;
	while (l->n < total && (rc = store_step(q, e)) == 1)
		read_row(q, l->c->a, &l->items[l->n++]);
	store_done(q);
	return rc < 0 ? rc : 0;
}

int payment_list(const struct ctx *c, const char *dossier_code, struct payment **out, int *n, struct err *e)
{
	struct dossier d;
	int rc = dossier_get(c, dossier_code, &d, e); /* who may see it: ERR_NOT_FOUND otherwise */
	if (rc < 0)
		return rc;
	struct list_ctx l = {c, dossier_code, 0, NULL, 0};
	rc = store_read(c->app->db, list_fn, &l, e);
	if (rc < 0)
		return rc;
	*out = l.items;
	*n = l.n;
	return 0;
}

static int get_one(const struct ctx *c, const char *dossier_code, int64_t id, struct dossier *d, struct payment *out,
		   struct err *e)
{
	int rc = dossier_get(c, dossier_code, d, e);
	if (rc < 0)
		return rc;
	if (id <= 0)
		return err_set(e, ERR_NOT_FOUND, "payment %lld of dossier '%s' not found", (long long)id, dossier_code);
	struct list_ctx l = {c, dossier_code, id, NULL, 0};
	rc = store_read(c->app->db, list_fn, &l, e);
	if (rc < 0)
		return rc;
	if (l.n == 0)
		return err_set(e, ERR_NOT_FOUND, "payment %lld of dossier '%s' not found", (long long)id, dossier_code);
	*out = l.items[0];
	return 0;
}

int payment_get(const struct ctx *c, const char *dossier_code, int64_t id, struct payment *out, struct err *e)
{
	struct dossier d;
	return get_one(c, dossier_code, id, &d, out, e);
}

/* ---- starting a payment ---- */

struct open_ctx {
	const struct ctx *c;
	const char *code;
	int64_t now;
	struct payment p;
	bool found;
	bool in_progress; /* a pending order not yet expired */
	int64_t pending_until;
};

static int open_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct open_ctx *o = arg;
	o->found = o->in_progress = false;
	/* the oldest request still to pay: requests are paid in the order they were made */
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT " PAY_COLS " FROM payments WHERE dossier_code = $1 "
			     "AND status IN ('requested', 'failed', 'pending') ORDER BY id",
			     ARGS(SA_TEXT(o->code)), &q, e);
	if (rc < 0)
		return rc;
	struct payment p;
	while ((rc = store_step(q, e)) == 1) {
		read_row(q, o->c->a, &p);
		if (strcmp(p.status, "pending") == 0 &&
		    p.updated_at + (int64_t)PAYMENT_ORDER_TTL_S * 1000000 > o->now) {
			o->in_progress = true;
			o->pending_until = p.updated_at + (int64_t)PAYMENT_ORDER_TTL_S * 1000000;
			continue;
		}
		o->p = p;
		o->found = true;
		break;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

struct start_ctx {
	const struct ctx *c;
	const char *code;
	const struct payment *old;
	const char *order_id, *gateway_ref;
	struct payment *out;
};

static int start_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct start_ctx *s = arg;
	int64_t status = 0;
	int rc = store_get_int(tx, "SELECT status FROM dossiers WHERE code = $1", ARGS(SA_TEXT(s->code)), &status, e);
	if (rc < 0)
		return rc;
	if (rc == 0 || status != DS_PAYMENT_REQUESTED)
		return err_set(e, ERR_INVALID_TRANSITION, "dossier '%s' no longer waits on a payment", s->code);
	int64_t now = time_now_us();
	if (now <= s->old->updated_at)
		now = s->old->updated_at + 1;
	rc = store_exec(tx,
			"UPDATE payments SET status = 'pending', gateway_ref = $1, updated_at = $2 "
			"WHERE id = $3 AND status = $4 AND updated_at = $5 AND COALESCE(gateway_ref, '') = $6",
			ARGS(SA_TEXT(s->gateway_ref), SA_INT(now), SA_INT(s->old->id), SA_TEXT(s->old->status),
			     SA_INT(s->old->updated_at), SA_TEXT(nz(s->old->gateway_ref))),
			e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_CONFLICT, "payment %lld of dossier '%s' changed meanwhile; try again",
			       (long long)s->old->id, s->code);
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kstr(&w, "dossier", s->code);
	jw_kint(&w, "amount", s->old->amount);
	jw_kstr(&w, "from", s->old->status);
	jw_kstr(&w, "to", "pending");
	jw_kstr(&w, "order_id", s->order_id);
	jw_kstr(&w, "gateway_ref", s->gateway_ref);
	jw_obj_end(&w);
	rc = audit_append(tx, s->c, "payment.start", arena_printf(s->c->a, "payment:%lld", (long long)s->old->id),
			  doc.ptr, e);
	buf_free(&doc);
	if (rc < 0)
		return rc;
	rc = get_row(tx, PAY_BY_ID, ARGS(SA_INT(s->old->id)), s->c->a, s->out, e);
	return rc < 0 ? rc : 0;
}

int payment_start(const struct ctx *c, const char *dossier_code, const char *portal_url, struct payment *out,
		  char **pay_url, struct err *e)
{
	*pay_url = NULL;
	struct dossier d;
	int rc = dossier_get(c, dossier_code, &d, e);
	if (rc < 0)
		return rc;
	if (!c->who || c->who->user_id == 0 || d.applicant_user_id != c->who->user_id)
		return err_set(e, ERR_FORBIDDEN, "only the applicant of dossier '%s' pays it online", dossier_code);
	if (d.status != DS_PAYMENT_REQUESTED)
		return err_set(e, ERR_INVALID_TRANSITION, "dossier '%s' is %s: it does not wait on a payment",
			       dossier_code, dossier_status_name(d.status));
	struct open_ctx o = {.c = c, .code = d.code, .now = time_now_us()};
	rc = store_read(c->app->db, open_fn, &o, e);
	if (rc < 0)
		return rc;
	if (!o.found) {
		if (o.in_progress) {
			char until[40];
			time_fmt_rfc3339(o.pending_until, until, sizeof until);
			return err_set(e, ERR_INVALID_TRANSITION,
				       "a payment of dossier '%s' is in progress at the gateway: finish it there, or "
				       "start again after %s when its order expires",
				       dossier_code, until);
		}
		return err_set(e, ERR_INVALID_TRANSITION, "dossier '%s' has nothing to pay", dossier_code);
	}
	unsigned char nonce[6];
	crypto_random(nonce, sizeof nonce);
	struct buf oid = BUF_INIT;
	buf_printf(&oid, "%lld-", (long long)o.p.id);
	buf_hex(&oid, nonce, sizeof nonce);
	char *order_id = arena_strdup(c->a, buf_cstr(&oid));
	buf_free(&oid);
	const char *portal = portal_url ? portal_url : payment_portal_url(c->app->cfg, NULL, c->a);
	struct gateway_order go = {
	    .order_id = order_id,
	    .amount = o.p.amount,
	    .description = o.p.description,
	    .return_url = arena_printf(c->a, "%s/dossiers/%s", portal, d.code),
	    .notify_url = arena_printf(c->a, "%s/api/v1/payments/callback", portal),
	    .expire_at = o.now + (int64_t)PAYMENT_ORDER_TTL_S * 1000000,
	};
	if (!payment_secret(c->app->cfg))
		return err_set(e, ERR_UNAVAILABLE,
			       "payment_secret is not configured: the gateway's callbacks could not be verified");
	struct gateway_order_result gr;
	rc =
	    gateway_create_order(c->app->cfg, &go, c->a, &gr, e); /* outside any transaction: it waits on the network */
	if (rc < 0)
		return rc;
	struct start_ctx s = {c, d.code, &o.p, order_id, gr.gateway_ref, out};
	rc = store_write(c->app->db, start_fn, &s, e);
	if (rc < 0)
		return rc;
	*pay_url = gr.pay_url;
	return 0;
}

/* ---- the gateway's callback ---- */

static const char *object_of(const struct payment_cb *cb, struct arena *a)
{
	return arena_printf(a, "payment_ref:%s", payment_ref_valid(cb->gateway_ref) ? cb->gateway_ref : "invalid");
}

struct reject_ctx {
	const struct ctx *c;
	const struct payment_cb *cb;
	const char *reason;
};

static int reject_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct reject_ctx *r = arg;
	const struct payment_cb *cb = r->cb;
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kstr(&w, "reason", r->reason);
	/* what was claimed, when well-formed; never the signature */
	jw_kstr(&w, "gateway_ref", payment_ref_valid(cb->gateway_ref) ? cb->gateway_ref : NULL);
	jw_kstr(&w, "order_id", payment_ref_valid(cb->order_id) ? cb->order_id : NULL);
	if (cb->has_amount)
		jw_kint(&w, "amount", cb->amount);
	jw_kstr(&w, "status",
		cb->status && (strcmp(cb->status, "success") == 0 || strcmp(cb->status, "failed") == 0) ? cb->status
													: NULL);
	jw_kstr(&w, "client_ip", r->c->client_ip);
	jw_obj_end(&w);
	int rc = audit_append(tx, r->c, "payment.callback_rejected", object_of(cb, r->c->a), doc.ptr, e);
	buf_free(&doc);
	return rc;
}

/* Records a rejected callback in its own transaction; returns code. */
static int reject(const struct ctx *c, const struct payment_cb *cb, int code, const char *reason, struct err *e)
{
	struct reject_ctx r = {c, cb, reason};
	struct err e2 = {0};
	if (store_write(c->app->db, reject_fn, &r, &e2) < 0)
		log_error("payment: cannot audit a rejected callback (%s): %s", reason, e2.msg);
	log_warn("payment: callback rejected from %s: %s", c->client_ip ? c->client_ip : "-", reason);
	if (code == ERR_UNAUTHENTICATED)
		return err_set(e, code, "payment callback refused: %s", reason);
	return code;
}

struct cb_ctx {
	const struct ctx *c;
	const struct payment_cb *cb;
	int64_t paid_at;
	struct payment *out;
	bool already;
	const char *reject_reason; /* a mismatch worth auditing */
};

static int notify_paid(struct store_tx *tx, const struct ctx *c, const struct payment *p, struct err *e)
{
	struct store_q *q;
	int rc =
	    store_query(tx,
			"SELECT d.applicant_name, d.applicant_email, d.applicant_phone, d.agency_code, a.name, p.name "
			"FROM dossiers d JOIN agencies a ON a.code = d.agency_code "
			"JOIN procedures p ON p.code = d.procedure_code WHERE d.code = $1",
			ARGS(SA_TEXT(p->dossier_code)), &q, e);
	if (rc < 0)
		return rc;
	struct notify_dossier nd = {0};
	rc = store_step(q, e);
	if (rc == 1) {
		nd.code = p->dossier_code;
		nd.applicant_name = store_dup(q, 0, c->a);
		nd.email = store_dup(q, 1, c->a);
		nd.phone = store_dup(q, 2, c->a);
		nd.agency_code = store_dup(q, 3, c->a);
		nd.agency_name = store_dup(q, 4, c->a);
		nd.procedure_name = store_dup(q, 5, c->a);
		nd.lang = "vi";
		nd.amount = p->amount;
		nd.note = p->receipt_no;
		nd.step_id = p->id; /* one payment, one event: (code, payment_received, payment id) */
	}
	store_done(q);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_INTERNAL, "dossier '%s' of payment %lld is gone", p->dossier_code,
			       (long long)p->id);
	return notify_dossier_event(tx, c, NE_PAYMENT_RECEIVED, &nd, e);
}

static int audit_outcome(struct store_tx *tx, const struct ctx *c, const char *action, const struct payment *p,
			 const char *from, const struct payment_cb *cb, struct err *e)
{
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kstr(&w, "dossier", p->dossier_code);
	jw_kint(&w, "amount", p->amount);
	jw_kstr(&w, "from", from);
	jw_kstr(&w, "to", p->status);
	jw_kstr(&w, "gateway_ref", p->gateway_ref);
	jw_kstr(&w, "order_id", cb->order_id);
	jw_kstr(&w, "gateway_time", cb->paid_at);
	if (p->receipt_no)
		jw_kstr(&w, "receipt_no", p->receipt_no);
	jw_obj_end(&w);
	int rc = audit_append(tx, c, action, arena_printf(c->a, "payment:%lld", (long long)p->id), doc.ptr, e);
	buf_free(&doc);
	return rc;
}

static int apply_success(struct store_tx *tx, struct cb_ctx *w, const struct payment *p, struct err *e)
{
	const struct ctx *c = w->c;
	int64_t now = time_now_us();
	int rc = store_exec(tx,
			    "UPDATE payments SET status = 'paid', paid_at = $1, updated_at = $2 "
			    "WHERE id = $3 AND gateway_ref = $4 AND status IN ('pending', 'failed')",
			    ARGS(SA_INT(w->paid_at), SA_INT(now), SA_INT(p->id), SA_TEXT(p->gateway_ref)), e);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* another callback got there first (PostgreSQL, read committed): look again */
		struct payment again;
		rc = get_row(tx, PAY_BY_ID, ARGS(SA_INT(p->id)), c->a, &again, e);
		if (rc < 0)
			return rc;
		if (rc == 1 && strcmp(again.status, "paid") == 0) {
			*w->out = again;
			w->already = true;
			return 0;
		}
		return err_set(e, ERR_CONFLICT, "payment %lld is %s: it cannot be marked paid", (long long)p->id,
			       rc == 1 ? again.status : "gone");
	}
	int y;
	unsigned mo, da;
	civil_from_days((int32_t)((w->paid_at / 1000000 + TIME_OFFSET_S) / 86400), &y, &mo, &da);
	char year[8];
	snprintf(year, sizeof year, "%04d", y);
	int64_t seq = 0;
	rc = store_get_int(tx,
			   "INSERT INTO dossier_seq (agency_code, day, last) VALUES ($1, $2, 1) "
			   "ON CONFLICT (agency_code, day) DO UPDATE SET last = dossier_seq.last + 1 RETURNING last",
			   ARGS(SA_TEXT(RECEIPT_SEQ_KEY), SA_TEXT(year)), &seq, e);
	if (rc < 0)
		return rc;
	if (rc == 0 || seq <= 0 || seq > 999999)
		return err_set(e, ERR_INTERNAL, "receipt numbers of %s are exhausted", year);
	char *receipt = arena_printf(c->a, "BL-%s-%06lld", year, (long long)seq);
	rc = store_exec(tx, "UPDATE payments SET receipt_no = $1 WHERE id = $2", ARGS(SA_TEXT(receipt), SA_INT(p->id)),
			e);
	if (rc < 0)
		return rc;
	rc = dossier_payment_received_tx(tx, c, p->dossier_code, p->amount, e);
	if (rc < 0)
		return rc;
	rc = get_row(tx, PAY_BY_ID, ARGS(SA_INT(p->id)), c->a, w->out, e);
	if (rc < 0)
		return rc;
	if ((rc = notify_paid(tx, c, w->out, e)) < 0)
		return rc;
	return audit_outcome(tx, c, "payment.paid", w->out, p->status, w->cb, e);
}

static int apply_failure(struct store_tx *tx, struct cb_ctx *w, const struct payment *p, struct err *e)
{
	const struct ctx *c = w->c;
	int rc = store_exec(tx,
			    "UPDATE payments SET status = 'failed', updated_at = $1 "
			    "WHERE id = $2 AND gateway_ref = $3 AND status = 'pending'",
			    ARGS(SA_INT(time_now_us()), SA_INT(p->id), SA_TEXT(p->gateway_ref)), e);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		struct payment again;
		rc = get_row(tx, PAY_BY_ID, ARGS(SA_INT(p->id)), c->a, &again, e);
		if (rc < 0)
			return rc;
		if (rc == 1 && strcmp(again.status, "failed") == 0 && again.gateway_ref &&
		    strcmp(again.gateway_ref, p->gateway_ref) == 0) {
			*w->out = again;
			w->already = true;
			return 0;
		}
		return err_set(e, ERR_CONFLICT, "payment %lld is %s: a failure cannot be recorded", (long long)p->id,
			       rc == 1 ? again.status : "gone");
	}
	rc = get_row(tx, PAY_BY_ID, ARGS(SA_INT(p->id)), c->a, w->out, e);
	if (rc < 0)
		return rc;
	return audit_outcome(tx, c, "payment.failed", w->out, p->status, w->cb, e);
}

static int cb_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct cb_ctx *w = arg;
	const struct payment_cb *cb = w->cb;
	w->already = false;
	w->reject_reason = NULL;
	struct payment p;
	int rc = get_row(tx, PAY_BY_REF, ARGS(SA_TEXT(cb->gateway_ref)), w->c->a, &p, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "no payment has gateway_ref '%s'", cb->gateway_ref);
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%lld-", (long long)p.id);
	if (strncmp(cb->order_id, prefix, strlen(prefix)) != 0) {
		w->reject_reason = arena_printf(w->c->a, "order_id '%s' is not an order of payment %lld", cb->order_id,
						(long long)p.id);
		err_field(e, "order_id", "is not an order of the payment with this gateway_ref");
	}
	if (cb->amount != p.amount) {
		if (!w->reject_reason)
			w->reject_reason = arena_printf(w->c->a, "amount %lld differs from the payment's %lld",
							(long long)cb->amount, (long long)p.amount);
		err_field(e, "amount", "is %lld but payment %lld is of %lld VND", (long long)cb->amount,
			  (long long)p.id, (long long)p.amount);
	}
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	bool success = strcmp(cb->status, "success") == 0;
	if (success) {
		if (strcmp(p.status, "paid") == 0) {
			*w->out = p;
			w->already = true;
			return 0;
		}
		if (strcmp(p.status, "pending") != 0 && strcmp(p.status, "failed") != 0)
			return err_set(e, ERR_CONFLICT, "payment %lld is %s: it is not waiting on the gateway",
				       (long long)p.id, p.status);
		return apply_success(tx, w, &p, e);
	}
	if (strcmp(p.status, "failed") == 0) {
		*w->out = p;
		w->already = true;
		return 0;
	}
	if (strcmp(p.status, "paid") == 0)
		return err_set(e, ERR_CONFLICT, "payment %lld is already paid: a failure report cannot undo it",
			       (long long)p.id);
	if (strcmp(p.status, "pending") != 0)
		return err_set(e, ERR_CONFLICT, "payment %lld is %s: it is not waiting on the gateway", (long long)p.id,
			       p.status);
	return apply_failure(tx, w, &p, e);
}

int payment_callback(const struct ctx *c, const struct payment_cb *cb, struct payment *out, struct err *e)
{
	if (!cb->signature || !*cb->signature)
		return reject(c, cb, ERR_UNAUTHENTICATED, "missing signature", e);
	if (!payment_ref_valid(cb->gateway_ref))
		err_field(e, "gateway_ref", "must be 1 to %d characters of A-Z a-z 0-9 . _ -", PAYMENT_REF_MAX);
	if (!payment_ref_valid(cb->order_id))
		err_field(e, "order_id", "must be 1 to %d characters of A-Z a-z 0-9 . _ -", PAYMENT_REF_MAX);
	if (!cb->has_amount || cb->amount <= 0 || cb->amount > PAYMENT_MAX_AMOUNT)
		err_field(e, "amount", "must be a whole number of đồng from 1 to %lld", (long long)PAYMENT_MAX_AMOUNT);
	if (!cb->status || (strcmp(cb->status, "success") != 0 && strcmp(cb->status, "failed") != 0))
		err_field(e, "status", "must be success or failed");
	int64_t paid_at = 0;
	if (!cb->paid_at || !time_parse_rfc3339(cb->paid_at, &paid_at) || paid_at <= 0)
		err_field(e, "paid_at", "must be an RFC 3339 time with an offset");
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	const char *secret = payment_secret(c->app->cfg);
	if (!secret)
		return reject(c, cb, ERR_UNAUTHENTICATED, "no payment_secret configured to verify callbacks", e);
	if (!payment_signature_ok(secret, cb))
		return reject(c, cb, ERR_UNAUTHENTICATED, "bad signature", e);
	struct cb_ctx w = {c, cb, paid_at, out, false, NULL};
	rc = store_write(c->app->db, cb_fn, &w, e);
	if (rc < 0) {
		if (rc == ERR_INVALID && w.reject_reason)
			reject(c, cb, rc, w.reject_reason, NULL);
		return rc;
	}
	if (w.already)
		log_info("payment: callback for %s replayed (payment %lld is %s): nothing changed", cb->gateway_ref,
			 (long long)out->id, out->status);
	else
		log_info("payment: payment %lld of %s is %s (%s)", (long long)out->id, out->dossier_code, out->status,
			 cb->gateway_ref);
	return w.already ? 1 : 0;
}

/* ---- e-receipt ---- */

struct names_ctx {
	const struct ctx *c;
	const char *code;
	char *name, *parent_name;
};

static int names_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct names_ctx *n = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT a.name, p.name FROM agencies a LEFT JOIN agencies p ON p.code = a.parent "
			     "WHERE a.code = $1",
			     ARGS(SA_TEXT(n->code)), &q, e);
	if (rc < 0)
		return rc;
	if ((rc = store_step(q, e)) == 1) {
		n->name = store_dup(q, 0, n->c->a);
		n->parent_name = store_dup(q, 1, n->c->a);
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int payment_receipt_pdf(const struct ctx *c, const char *dossier_code, int64_t id, const char *lang, struct buf *out,
			struct err *e)
{
	struct dossier d;
	struct payment p;
	int rc = get_one(c, dossier_code, id, &d, &p, e);
	if (rc < 0)
		return rc;
	if (strcmp(p.status, "paid") != 0)
		return err_set(e, ERR_CONFLICT, "payment %lld is %s: its receipt exists once it is paid", (long long)id,
			       p.status);
	struct names_ctx n = {c, d.agency_code, NULL, NULL};
	if ((rc = store_read(c->app->db, names_fn, &n, e)) < 0)
		return rc;
	bool en = lang && (strcmp(lang, "en") == 0 || strncmp(lang, "en-", 3) == 0 || strncmp(lang, "en_", 3) == 0);
	int64_t local_s = p.paid_at / 1000000 + TIME_OFFSET_S;
	int y;
	unsigned mo, da;
	civil_from_days((int32_t)(local_s / 86400), &y, &mo, &da);
	int hh = (int)(local_s % 86400 / 3600), mm = (int)(local_s % 3600 / 60);
	struct form_fee_receipt f = {0};
	f.head.parent_agency = n.parent_name;
	f.head.agency = n.name ? n.name : (d.agency_name ? d.agency_name : d.agency_code);
	f.head.number = p.receipt_no;
	f.head.place_date = en ? arena_printf(c->a, "%04d-%02u-%02u", y, mo, da)
			       : arena_printf(c->a, "Ngày %02u tháng %02u năm %04d", da, mo, y);
	f.payer = d.applicant_name;
	f.payer_address = d.applicant_address;
	f.dossier_code = d.code;
	f.description = p.description;
	f.amount_vnd = p.amount;
	f.method = en ? "Online, through the payment gateway" : "Thanh toán trực tuyến qua cổng thanh toán";
	f.transaction_id = p.gateway_ref ? p.gateway_ref : "-";
	f.paid_at = en ? arena_printf(c->a, "%02d:%02d, %02u/%02u/%04d", hh, mm, da, mo, y)
		       : arena_printf(c->a, "%02d giờ %02d phút, ngày %02u/%02u/%04d", hh, mm, da, mo, y);
	f.collector = f.head.agency;
	return forms_render_fee_receipt(&f, en ? "en" : "vi", out, e);
}
