/* ops_api.c: the operations endpoints: /livez, /readyz, /metrics, and the
 * server's public key (so anyone can verify signed receipts and the audit export). */
#include <string.h>

#include "app/api.h"
#include "exchange/exchange.h"

static int h_livez(struct req *r)
{
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "status", "ok");
	jw_obj_end(w);
	return 0;
}

static int h_readyz(struct req *r)
{
	struct app *app = r->app;
	struct err e = {0};
	int rc = store_ping(app->db, &e);
	if (rc < 0) {
		err_set(&r->err, ERR_UNAVAILABLE, "database unreachable: %s", e.msg);
		r->err.retry_after = 5;
		return ERR_UNAVAILABLE;
	}
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "status", "ready");
	jw_kstr(w, "database", store_kind(app->db) == STORE_SQLITE ? "sqlite" : "postgres");
	jw_obj_end(w);
	return 0;
}

static int h_metrics(struct req *r)
{
	struct buf b = BUF_INIT;
	http_metrics_write(req_server(r), &b);
	app_metrics_write(r->app, &b);
	exchange_metrics_write(r->app, &b);
	res_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr, b.len);
	buf_free(&b);
	return 0;
}

static int h_key(struct req *r)
{
	struct app *app = r->app;
	char b64[64];
	keys_public_b64(&app->keys, b64, sizeof b64);
	struct buf hex = BUF_INIT;
	buf_hex(&hex, app->keys.pk, sizeof app->keys.pk);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "algorithm", "Ed25519");
	jw_kstr(w, "key_id", app->keys.key_id);
	jw_kstr(w, "public_key", b64);
	jw_kstr(w, "public_key_hex", hex.ptr);
	jw_obj_end(w);
	buf_free(&hex);
	return 0;
}

const struct route ops_routes[] = {
	{"GET", "/livez", h_livez, ROUTE_NO_LOG},
	{"GET", "/readyz", h_readyz, ROUTE_NO_LOG},
	{"GET", "/metrics", h_metrics, ROUTE_NO_LOG},
	{"GET", "/api/v1/keys/server", h_key, 0},
};
const size_t ops_nroutes = sizeof ops_routes / sizeof ops_routes[0];
