/* sim_payment.c: the simulated payment gateway of tinhso-sim, shaped like the
 * national payment platform / VNPay, simplified:
 *
 *   POST /gateway/orders {order_id, amount, description, notify_url,
 *        return_url, expire_at?}          -> 201 {gateway_ref, pay_url}
 *   GET  /gateway/pay/{ref}                a page with the amount and two
 *                                          buttons (pay / fail), no JavaScript
 *   POST /gateway/pay/{ref} outcome=success|failed (form or JSON): records the
 *        outcome, POSTs the signed callback to notify_url (synchronously) and
 *        answers JSON {outcome, callback_status, callback_body, return_url},
 *        or for the form a page with a link back to return_url
 *   GET  /gateway/orders/{ref}             the order's state (tests)
 *   POST /gateway/replay/{ref}             re-sends the last callback (tests)
 *   POST /gateway/forge/{ref} {mode?, amount?}  sends a bad callback (tests):
 *        mode bad_signature (default) | no_signature | wrong_amount (a
 *        correctly signed callback with another amount) | tampered_amount
 *        (the signature of the true amount, another amount sent)
 *
 * Callbacks carry {gateway_ref, order_id, amount, status, paid_at, signature}
 * with the signature of payment_sign_hex (HMAC-SHA512 with the shared
 * secret). State is in memory, bounded (the oldest orders are forgotten),
 * under one mutex that is never held across network calls. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "payment/gateway.h"
#include "payment/payment.h"
#include "report/forms.h"
#include "sim/sim.h"

enum { SIM_MAX_ORDERS = 1024, SIM_URL_MAX = 1024, SIM_DESC_MAX = 500 };

enum order_state { OS_OPEN, OS_SUCCESS, OS_FAILED };

struct sim_order {
	bool used;
	uint64_t seq;
	char ref[40];
	char order_id[PAYMENT_REF_MAX + 1];
	int64_t amount, created_at, expire_at, paid_at;
	char description[SIM_DESC_MAX + 1];
	char notify_url[SIM_URL_MAX + 1], return_url[SIM_URL_MAX + 1];
	enum order_state state;
	char *last_cb; /* JSON of the last callback sent (malloc), NULL before the first */
	int last_status;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sim_order orders[SIM_MAX_ORDERS];
static uint64_t next_seq = 1;
static char sim_secret[256] = PAYMENT_SIM_DEFAULT_SECRET;

void sim_payment_setup(const struct sim_options *o)
{
	if (o && o->payment_secret && o->payment_secret[0])
		str_copy(sim_secret, sizeof sim_secret, o->payment_secret);
}

static const char *state_name(enum order_state s)
{
	return s == OS_SUCCESS ? "success" : s == OS_FAILED ? "failed" : "open";
}

/* Under mu. */
static struct sim_order *find(const char *ref)
{
	if (!ref)
		return NULL;
	for (int i = 0; i < SIM_MAX_ORDERS; i++)
		if (orders[i].used && strcmp(orders[i].ref, ref) == 0)
			return &orders[i];
	return NULL;
}

/* Under mu: a free slot, or the oldest one. */
static struct sim_order *slot(void)
{
	struct sim_order *oldest = &orders[0];
	for (int i = 0; i < SIM_MAX_ORDERS; i++) {
		if (!orders[i].used)
			return &orders[i];
		if (orders[i].seq < oldest->seq)
			oldest = &orders[i];
	}
	free(oldest->last_cb);
	memset(oldest, 0, sizeof *oldest);
	return oldest;
}

static bool url_ok(const char *s)
{
	return s && strlen(s) <= SIM_URL_MAX && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0);
}

static const char *self_base(struct req *r)
{
	const char *h = req_header(r, "Host");
	bool ok = h && *h && strlen(h) < 200;
	for (const char *p = h; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		     *p == '-' || *p == ':' || *p == '[' || *p == ']';
	return arena_printf(r->a, "http://%s", ok ? h : "127.0.0.1");
}

static void html_escape(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			buf_puts(b, "&amp;");
			break;
		case '<':
			buf_puts(b, "&lt;");
			break;
		case '>':
			buf_puts(b, "&gt;");
			break;
		case '"':
			buf_puts(b, "&quot;");
			break;
		case '\'':
			buf_puts(b, "&#39;");
			break;
		default:
			buf_putc(b, *s);
		}
	}
}

static void html_begin(struct buf *b, const char *title)
{
	buf_puts(b, "<!doctype html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
	html_escape(b, title);
	buf_puts(b,
		 "</title><style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}"
		 ".amount{font-size:1.6em;font-weight:bold}button{font-size:1.1em;padding:.5em 1.2em;margin:.3em}"
		 "table td{padding:.2em .8em .2em 0}</style></head><body>\n"
		 "<p><strong>Cổng thanh toán mô phỏng</strong> (tinhso-sim) &middot; simulated payment gateway</p>\n");
}

static int html_page(struct req *r, int status, struct buf *b)
{
	buf_puts(b, "</body></html>\n");
	res_text(r, status, "text/html; charset=utf-8", b->ptr, b->len);
	buf_free(b);
	return 0;
}

/* ---- creating orders ---- */

static int h_create(struct req *r)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	const char *order_id = NULL, *description = NULL, *notify_url = NULL, *return_url = NULL, *expire = NULL;
	int64_t amount = 0;
	const struct jfield fields[] = {
	    {"order_id", JF_STR, true, PAYMENT_REF_MAX, &order_id, NULL},
	    {"amount", JF_INT, true, 0, &amount, NULL},
	    {"description", JF_STR, true, SIM_DESC_MAX, &description, NULL},
	    {"notify_url", JF_STR, true, SIM_URL_MAX, &notify_url, NULL},
	    {"return_url", JF_STR, false, SIM_URL_MAX, &return_url, NULL},
	    {"expire_at", JF_STR, false, 64, &expire, NULL},
	};
	rc = json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
	if (order_id && !payment_ref_valid(order_id))
		err_field(&r->err, "order_id", "must be 1 to %d characters of A-Z a-z 0-9 . _ -", PAYMENT_REF_MAX);
	if (rc == 0 && (amount <= 0 || amount > PAYMENT_MAX_AMOUNT))
		err_field(&r->err, "amount", "must be from 1 to %lld VND", (long long)PAYMENT_MAX_AMOUNT);
	if (notify_url && !url_ok(notify_url))
		err_field(&r->err, "notify_url", "must be an http(s) URL");
	if (return_url && !url_ok(return_url))
		err_field(&r->err, "return_url", "must be an http(s) URL");
	int64_t expire_at = 0;
	if (expire && !time_parse_rfc3339(expire, &expire_at))
		err_field(&r->err, "expire_at", "must be an RFC 3339 time");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	unsigned char rnd[10];
	crypto_random(rnd, sizeof rnd);
	struct buf ref = BUF_INIT;
	buf_puts(&ref, "SIM");
	buf_hex(&ref, rnd, sizeof rnd);
	pthread_mutex_lock(&mu);
	for (int i = 0; i < SIM_MAX_ORDERS; i++)
		if (orders[i].used && strcmp(orders[i].order_id, order_id) == 0) {
			pthread_mutex_unlock(&mu);
			buf_free(&ref);
			return err_set(&r->err, ERR_CONFLICT, "order_id '%s' was already used", order_id);
		}
	struct sim_order *o = slot();
	o->used = true;
	o->seq = next_seq++;
	str_copy(o->ref, sizeof o->ref, ref.ptr);
	str_copy(o->order_id, sizeof o->order_id, order_id);
	o->amount = amount;
	o->created_at = time_now_us();
	o->expire_at = expire_at;
	str_copy(o->description, sizeof o->description, description);
	str_copy(o->notify_url, sizeof o->notify_url, notify_url);
	str_copy(o->return_url, sizeof o->return_url, return_url ? return_url : "");
	o->state = OS_OPEN;
	pthread_mutex_unlock(&mu);
	log_info("sim gateway: order %s (%s) of %lld VND", ref.ptr, order_id, (long long)amount);
	struct jw *w = res_json(r, 201);
	jw_obj(w);
	jw_kstr(w, "gateway_ref", ref.ptr);
	jw_kstr(w, "pay_url", arena_printf(r->a, "%s/gateway/pay/%s", self_base(r), ref.ptr));
	jw_obj_end(w);
	buf_free(&ref);
	return 0;
}

static int h_order(struct req *r)
{
	pthread_mutex_lock(&mu);
	struct sim_order *o = find(req_param(r, "ref"));
	if (!o) {
		pthread_mutex_unlock(&mu);
		return err_set(&r->err, ERR_NOT_FOUND, "no order '%s'", req_param(r, "ref"));
	}
	struct sim_order copy = *o;
	copy.last_cb = NULL;
	int last_status = o->last_status;
	bool sent = o->last_cb != NULL;
	pthread_mutex_unlock(&mu);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "gateway_ref", copy.ref);
	jw_kstr(w, "order_id", copy.order_id);
	jw_kint(w, "amount", copy.amount);
	jw_kstr(w, "description", copy.description);
	jw_kstr(w, "state", state_name(copy.state));
	jw_kstr(w, "notify_url", copy.notify_url);
	jw_kstr(w, "return_url", copy.return_url);
	jw_ktime(w, "expire_at", copy.expire_at);
	jw_kbool(w, "callback_sent", sent);
	jw_kint(w, "callback_status", last_status);
	jw_obj_end(w);
	return 0;
}

/* ---- paying ---- */

static int h_pay_page(struct req *r)
{
	const char *ref = req_param(r, "ref");
	pthread_mutex_lock(&mu);
	struct sim_order *o = find(ref);
	struct sim_order copy = {0};
	if (o) {
		copy = *o;
		copy.last_cb = NULL;
	}
	pthread_mutex_unlock(&mu);
	struct buf b = BUF_INIT;
	html_begin(&b, "Thanh toán trực tuyến");
	if (!o) {
		buf_puts(&b, "<h1>Không tìm thấy giao dịch</h1><p>No such order.</p>\n");
		return html_page(r, 404, &b);
	}
	char vnd[32];
	forms_format_vnd(copy.amount, vnd, sizeof vnd);
	buf_puts(&b, "<h1>Thanh toán phí, lệ phí</h1>\n<table>\n<tr><td>Nội dung</td><td id=\"description\">");
	html_escape(&b, copy.description);
	buf_puts(&b, "</td></tr>\n<tr><td>Mã đơn hàng</td><td id=\"order-id\">");
	html_escape(&b, copy.order_id);
	buf_puts(&b, "</td></tr>\n<tr><td>Mã giao dịch</td><td id=\"gateway-ref\">");
	html_escape(&b, copy.ref);
	buf_printf(&b,
		   "</td></tr>\n<tr><td>Số tiền</td><td class=\"amount\" id=\"amount\">%s đồng</td></tr>\n</table>\n",
		   vnd);
	bool expired = copy.expire_at && time_now_us() > copy.expire_at;
	if (copy.state != OS_OPEN) {
		buf_printf(&b, "<p id=\"state\">Giao dịch đã %s.</p>\n",
			   copy.state == OS_SUCCESS ? "thanh toán thành công (paid)" : "thất bại (failed)");
	} else if (expired) {
		buf_puts(&b, "<p id=\"state\">Giao dịch đã hết hạn (expired).</p>\n");
	} else {
		const char *outs[2][2] = {{"success", "Thanh toán (Pay)"}, {"failed", "Hủy / thất bại (Fail)"}};
		for (int i = 0; i < 2; i++) {
			buf_puts(&b, "<form method=\"post\" action=\"/gateway/pay/");
			html_escape(&b, copy.ref);
			buf_printf(
			    &b,
			    "\" style=\"display:inline\"><input type=\"hidden\" name=\"outcome\" value=\"%s\">"
			    "<button type=\"submit\" id=\"pay-%s\" name=\"submit\" value=\"%s\">%s</button></form>\n",
			    outs[i][0], outs[i][0], outs[i][0], outs[i][1]);
		}
	}
	if (copy.return_url[0]) {
		buf_puts(&b, "<p><a id=\"return\" href=\"");
		html_escape(&b, copy.return_url);
		buf_puts(&b, "\">Quay lại cổng dịch vụ công (back to the portal)</a></p>\n");
	}
	return html_page(r, 200, &b);
}

/* Builds the callback of an order (copied out of the table). */
static char *callback_json(const struct sim_order *o, const char *status, int64_t amount_sent, int64_t amount_signed,
			   const char *secret, bool with_signature, struct arena *a)
{
	char paid_at[40];
	time_fmt_rfc3339(o->paid_at / 1000000 * 1000000, paid_at, sizeof paid_at);
	struct payment_cb cb = {.gateway_ref = o->ref,
				.order_id = o->order_id,
				.status = status,
				.paid_at = paid_at,
				.amount = amount_signed,
				.has_amount = true};
	char sig[129];
	payment_sign_hex(secret, &cb, sig);
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kstr(&w, "gateway_ref", o->ref);
	jw_kstr(&w, "order_id", o->order_id);
	jw_kint(&w, "amount", amount_sent);
	jw_kstr(&w, "status", status);
	jw_kstr(&w, "paid_at", paid_at);
	if (with_signature)
		jw_kstr(&w, "signature", sig);
	jw_obj_end(&w);
	char *out = arena_strdup(a, buf_cstr(&b));
	buf_free(&b);
	return out;
}

struct sent {
	int status; /* HTTP status, 0 when the portal could not be reached */
	char *body;
	char *error;
};

static struct sent send_callback(struct req *r, const char *url, const char *json)
{
	struct sent s = {0, NULL, NULL};
	struct err e = {0};
	int rc = gateway_post_json(url, json, strlen(json), r->a, &s.body, &e);
	if (rc < 0) {
		s.error = arena_strdup(r->a, e.msg);
		log_warn("sim gateway: callback to %s failed: %s", url, e.msg);
	} else {
		s.status = rc;
		log_info("sim gateway: callback to %s answered %d", url, rc);
	}
	return s;
}

static void sent_json(struct jw *w, const struct sent *s)
{
	jw_kint(w, "callback_status", s->status);
	if (s->body) {
		json_t *j = NULL;
		struct err pe = {0};
		/* the portal's answer as JSON when it is JSON, else as a string */
		if (json_parse(s->body, strlen(s->body), &j, &pe) == 0) {
			jw_key(w, "callback_body");
			jw_raw(w, s->body, strlen(s->body));
		} else {
			jw_kstr(w, "callback_body", s->body);
		}
		json_decref(j);
	}
	if (s->error)
		jw_kstr(w, "callback_error", s->error);
}

/* "outcome" of an urlencoded body (values are plain words: no decoding needed). */
static const char *form_value(struct req *r, const char *key)
{
	const char *p = r->body.ptr ? r->body.ptr : "";
	size_t kl = strlen(key);
	while (*p) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
			return arena_strndup(r->a, p + kl + 1, n - kl - 1);
		p += n;
		if (*p == '&')
			p++;
	}
	return NULL;
}

static bool is_json(struct req *r)
{
	const char *ct = req_header(r, "Content-Type");
	return ct && strncasecmp(ct, "application/json", 16) == 0;
}

static int pay_error(struct req *r, bool form, int code, const char *msg)
{
	if (!form)
		return err_set(&r->err, code, "%s", msg);
	struct buf b = BUF_INIT;
	html_begin(&b, "Lỗi thanh toán");
	buf_puts(&b, "<h1>Không thực hiện được</h1><p id=\"error\">");
	html_escape(&b, msg);
	buf_puts(&b, "</p>\n");
	return html_page(r, err_http_status(code), &b);
}

static int h_pay(struct req *r)
{
	const char *ref = req_param(r, "ref");
	bool form = !is_json(r);
	const char *outcome = NULL;
	if (form) {
		outcome = form_value(r, "outcome");
	} else {
		json_t *body;
		int rc = req_json(r, &body);
		if (rc < 0)
			return rc;
		json_t *v = json_is_object(body) ? json_object_get(body, "outcome") : NULL;
		outcome = json_is_string(v) ? json_string_value(v) : NULL;
	}
	if (!outcome || (strcmp(outcome, "success") != 0 && strcmp(outcome, "failed") != 0)) {
		if (!form) {
			err_field(&r->err, "outcome", "must be success or failed");
			return err_fields_done(&r->err);
		}
		return pay_error(r, form, ERR_INVALID, "outcome must be success or failed");
	}
	pthread_mutex_lock(&mu);
	struct sim_order *o = find(ref);
	if (!o) {
		pthread_mutex_unlock(&mu);
		return pay_error(r, form, ERR_NOT_FOUND, "no such order");
	}
	if (o->state != OS_OPEN) {
		const char *st = state_name(o->state);
		pthread_mutex_unlock(&mu);
		return pay_error(r, form, ERR_CONFLICT, arena_printf(r->a, "the order is already %s", st));
	}
	int64_t now = time_now_us();
	if (o->expire_at && now > o->expire_at) {
		pthread_mutex_unlock(&mu);
		return pay_error(r, form, ERR_CONFLICT, "the order has expired");
	}
	bool ok = strcmp(outcome, "success") == 0;
	o->state = ok ? OS_SUCCESS : OS_FAILED;
	o->paid_at = now;
	struct sim_order copy = *o;
	char *json = callback_json(&copy, outcome, copy.amount, copy.amount, sim_secret, true, r->a);
	free(o->last_cb);
	o->last_cb = strdup(json);
	if (!o->last_cb)
		abort();
	pthread_mutex_unlock(&mu);
	log_info("sim gateway: order %s %s", copy.ref, outcome);
	struct sent s = send_callback(r, copy.notify_url, json);
	pthread_mutex_lock(&mu);
	if ((o = find(ref)) != NULL)
		o->last_status = s.status;
	pthread_mutex_unlock(&mu);
	if (!form) {
		struct jw *w = res_json(r, 200);
		jw_obj(w);
		jw_kstr(w, "gateway_ref", copy.ref);
		jw_kstr(w, "outcome", outcome);
		sent_json(w, &s);
		jw_kstr(w, "return_url", copy.return_url[0] ? copy.return_url : NULL);
		jw_obj_end(w);
		return 0;
	}
	char vnd[32];
	forms_format_vnd(copy.amount, vnd, sizeof vnd);
	struct buf b = BUF_INIT;
	html_begin(&b, ok ? "Thanh toán thành công" : "Thanh toán thất bại");
	if (ok)
		buf_printf(&b,
			   "<h1 id=\"result\" data-outcome=\"success\">Thanh toán thành công</h1>\n"
			   "<p>Đã thanh toán %s đồng (paid).</p>\n",
			   vnd);
	else
		buf_puts(&b, "<h1 id=\"result\" data-outcome=\"failed\">Thanh toán thất bại</h1>\n"
			     "<p>Giao dịch không thành công (failed). Bạn có thể thử lại từ cổng dịch vụ công.</p>\n");
	buf_printf(&b, "<p class=\"note\">Cổng dịch vụ công đã nhận thông báo: HTTP %d</p>\n", s.status);
	if (copy.return_url[0]) {
		buf_puts(&b, "<p><a id=\"return\" href=\"");
		html_escape(&b, copy.return_url);
		buf_puts(&b, "\">Quay lại cổng dịch vụ công (back to the portal)</a></p>\n");
	}
	return html_page(r, 200, &b);
}

/* ---- test helpers ---- */

static int h_replay(struct req *r)
{
	const char *ref = req_param(r, "ref");
	pthread_mutex_lock(&mu);
	struct sim_order *o = find(ref);
	if (!o) {
		pthread_mutex_unlock(&mu);
		return err_set(&r->err, ERR_NOT_FOUND, "no order '%s'", ref);
	}
	if (!o->last_cb) {
		pthread_mutex_unlock(&mu);
		return err_set(&r->err, ERR_CONFLICT, "order '%s' has sent no callback yet", ref);
	}
	char *json = arena_strdup(r->a, o->last_cb);
	char *url = arena_strdup(r->a, o->notify_url);
	pthread_mutex_unlock(&mu);
	struct sent s = send_callback(r, url, json);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "gateway_ref", ref);
	sent_json(w, &s);
	jw_obj_end(w);
	return 0;
}

static int h_forge(struct req *r)
{
	const char *ref = req_param(r, "ref");
	const char *mode = "bad_signature";
	int64_t amount = 0;
	bool amount_given = false;
	if (r->body.len) {
		json_t *body;
		int rc = req_json(r, &body);
		if (rc < 0)
			return rc;
		const struct jfield fields[] = {
		    {"mode", JF_STR, false, 32, &mode, NULL},
		    {"amount", JF_INT, false, 0, &amount, &amount_given},
		};
		if ((rc = json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err)) < 0)
			return rc;
	}
	bool bad_sig = strcmp(mode, "bad_signature") == 0, no_sig = strcmp(mode, "no_signature") == 0,
	     wrong = strcmp(mode, "wrong_amount") == 0, tampered = strcmp(mode, "tampered_amount") == 0;
	if (!bad_sig && !no_sig && !wrong && !tampered) {
		err_field(&r->err, "mode", "must be bad_signature, no_signature, wrong_amount or tampered_amount");
		return err_fields_done(&r->err);
	}
	pthread_mutex_lock(&mu);
	struct sim_order *o = find(ref);
	if (!o) {
		pthread_mutex_unlock(&mu);
		return err_set(&r->err, ERR_NOT_FOUND, "no order '%s'", ref);
	}
	struct sim_order copy = *o;
	pthread_mutex_unlock(&mu);
	copy.last_cb = NULL;
	if (!copy.paid_at)
		copy.paid_at = time_now_us();
	int64_t other = amount_given ? amount : copy.amount + 1000;
	char *json;
	if (bad_sig)
		json = callback_json(&copy, "success", copy.amount, copy.amount, "forged-secret", true, r->a);
	else if (no_sig)
		json = callback_json(&copy, "success", copy.amount, copy.amount, sim_secret, false, r->a);
	else if (wrong)
		json = callback_json(&copy, "success", other, other, sim_secret, true, r->a);
	else
		json = callback_json(&copy, "success", other, copy.amount, sim_secret, true, r->a);
	struct sent s = send_callback(r, copy.notify_url, json);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "gateway_ref", ref);
	jw_kstr(w, "mode", mode);
	sent_json(w, &s);
	jw_obj_end(w);
	return 0;
}

const struct route sim_payment_routes[] = {
    {"POST", "/gateway/orders", h_create, 0},	    {"GET", "/gateway/orders/{ref}", h_order, 0},
    {"GET", "/gateway/pay/{ref}", h_pay_page, 0},   {"POST", "/gateway/pay/{ref}", h_pay, 0},
    {"POST", "/gateway/replay/{ref}", h_replay, 0}, {"POST", "/gateway/forge/{ref}", h_forge, 0},
};
const size_t sim_payment_nroutes = sizeof sim_payment_routes / sizeof sim_payment_routes[0];
