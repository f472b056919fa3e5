/* payment_api.c: JSON routes for payments: starting one, listing a dossier's,
 * the e-receipt PDF, and the payment gateway's signed callback. */
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "payment/payment.h"

static int id_param(struct req *r, int64_t *id)
{
	const char *s = req_param(r, "id");
	char *end;
	long long v = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || v <= 0)
		return err_set(&r->err, ERR_NOT_FOUND, "payment '%s' not found", s ? s : "");
	*id = v;
	return 0;
}

static int h_start(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *code = req_param(r, "code");
	struct app *app = r->app;
	char *portal = payment_portal_url(app->cfg, req_header(r, "Host"), r->a);
	struct payment p;
	char *pay_url;
	rc = payment_start(&c, code, portal, &p, &pay_url, &r->err);
	if (rc < 0)
		return rc;
	res_header(r, "Location",
		   arena_printf(r->a, "/api/v1/dossiers/%s/payments/%lld", p.dossier_code, (long long)p.id));
	struct jw *w = res_json(r, 201);
	jw_obj(w);
	jw_key(w, "payment");
	payment_json(w, &p);
	jw_kstr(w, "pay_url", pay_url);
	jw_obj_end(w);
	return 0;
}

static int h_list(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct payment *items;
	int n;
	rc = payment_list(&c, req_param(r, "code"), &items, &n, &r->err);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		payment_json(w, &items[i]);
	res_list_end(r, n, 1, n > 200 ? n : 200);
	return 0;
}

static int h_get(struct req *r)
{
	struct ctx c;
	int64_t id;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = id_param(r, &id)) < 0)
		return rc;
	struct payment p;
	rc = payment_get(&c, req_param(r, "code"), id, &p, &r->err);
	if (rc < 0)
		return rc;
	payment_json(res_json(r, 200), &p);
	return 0;
}

static int h_receipt(struct req *r)
{
	struct ctx c;
	int64_t id;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = id_param(r, &id)) < 0)
		return rc;
	const char *lang = req_query(r, "lang");
	struct buf pdf = BUF_INIT;
	rc = payment_receipt_pdf(&c, req_param(r, "code"), id, lang, &pdf, &r->err);
	if (rc < 0) {
		buf_free(&pdf);
		return rc;
	}
	res_header(
	    r, "Content-Disposition",
	    arena_printf(r->a, "inline; filename=\"bien-lai-%s-%lld.pdf\"", req_param(r, "code"), (long long)id));
	res_text(r, 200, "application/pdf", pdf.ptr, pdf.len);
	buf_free(&pdf);
	return 0;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The gateway authenticates by its signature, not by a session: no api_ctx. */
static int h_callback(struct req *r)
{
	struct ctx c = {0};
	c.app = r->app;
	c.a = r->a;
	c.request_id = r->rid;
	c.client_ip = r->client_ip;
	c.actor = PAYMENT_ACTOR;
	r->actor = PAYMENT_ACTOR;
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	if (!json_is_object(body))
		return err_set(&r->err, ERR_BAD_REQUEST, "the callback must be a JSON object");
	/* unknown keys are allowed (gateways add fields); only the signed ones count */
	struct payment_cb cb = {0};
	cb.gateway_ref = jstr(body, "gateway_ref");
	cb.order_id = jstr(body, "order_id");
	cb.status = jstr(body, "status");
	cb.paid_at = jstr(body, "paid_at");
	cb.signature = jstr(body, "signature");
	json_t *amount = json_object_get(body, "amount");
	if (json_is_integer(amount)) {
		cb.amount = json_integer_value(amount);
		cb.has_amount = true;
	} else if (amount && !json_is_null(amount)) {
		err_field(&r->err, "amount", "must be an integer number of đồng");
		return err_fields_done(&r->err);
	}
	struct payment p;
	rc = payment_callback(&c, &cb, &p, &r->err);
	if (rc < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "status", rc == 1 ? "already_processed" : "processed");
	jw_kint(w, "payment_id", p.id);
	jw_kstr(w, "payment_status", p.status);
	jw_obj_end(w);
	return 0;
}

const struct route payment_routes[] = {
    {"POST", "/api/v1/payments/callback", h_callback, 0},
    {"POST", "/api/v1/dossiers/{code}/payments", h_start, ROUTE_BLOCKING},
    {"GET", "/api/v1/dossiers/{code}/payments", h_list, 0},
    {"GET", "/api/v1/dossiers/{code}/payments/{id}", h_get, 0},
    {"GET", "/api/v1/dossiers/{code}/payments/{id}/receipt.pdf", h_receipt, 0},
};
const size_t payment_nroutes = sizeof payment_routes / sizeof payment_routes[0];
