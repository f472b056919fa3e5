/* exchange_api.c: the LGSP routes: the gateway (/x/...), the asynchronous
 * endpoints for subsystems (/x-async/...), the admin JSON API of the registry
 * and the log, statistics, connectivity, the server key, and the citizen's
 * personal-data tracker. */
#include <string.h>

#include "app/api.h"
#include "base/time.h"
#include "exchange/exchange_internal.h"
#include "identity/identity.h"

/* ---- JSON out ---- */

static void member_json(struct jw *w, const struct exchange_member *m)
{
	jw_obj(w);
	jw_kstr(w, "code", m->code);
	jw_kstr(w, "name", m->name);
	jw_kstr(w, "agency", m->agency);
	jw_kbool(w, "disabled", m->disabled);
	jw_ktime(w, "created_at", m->created_at);
	jw_ktime(w, "updated_at", m->updated_at);
	jw_obj_end(w);
}

static void subsystem_json(struct jw *w, const struct exchange_subsystem *s)
{
	jw_obj(w);
	jw_kstr(w, "member", s->member);
	jw_kstr(w, "code", s->code);
	jw_kstr(w, "name", s->name);
	jw_kstr(w, "public_key", s->public_key);
	jw_kstr(w, "endpoint", s->endpoint);
	jw_kbool(w, "disabled", s->disabled);
	jw_ktime(w, "created_at", s->created_at);
	jw_ktime(w, "updated_at", s->updated_at);
	jw_obj_end(w);
}

static void service_json(struct jw *w, const struct exchange_service *s, bool with_openapi)
{
	jw_obj(w);
	jw_kstr(w, "member", s->member);
	jw_kstr(w, "subsystem", s->subsystem);
	jw_kstr(w, "code", s->code);
	jw_key(w, "gateway_path");
	struct buf p = BUF_INIT;
	buf_printf(&p, "/x/%s/%s/%s", s->member, s->subsystem, s->code);
	jw_str(w, p.ptr);
	buf_free(&p);
	jw_kstr(w, "description", s->description);
	jw_kstr(w, "backend_url", s->backend_url);
	jw_key(w, "methods");
	jw_arr(w);
	for (const char *m = s->methods; m && *m;) {
		const char *c = strchr(m, ',');
		size_t n = c ? (size_t)(c - m) : strlen(m);
		jw_strn(w, m, n);
		m = c ? c + 1 : NULL;
	}
	jw_arr_end(w);
	jw_kbool(w, "personal_data", s->personal_data);
	jw_kint(w, "timeout_ms", s->timeout_ms);
	jw_kbool(w, "has_openapi", s->openapi != NULL);
	if (with_openapi)
		jw_kstr(w, "openapi", s->openapi);
	jw_kbool(w, "disabled", s->disabled);
	jw_ktime(w, "created_at", s->created_at);
	jw_ktime(w, "updated_at", s->updated_at);
	jw_obj_end(w);
}

static int admin_ctx(struct req *r, struct ctx *c)
{
	return api_ctx(r, c, API_REQUIRED);
}

/* ---- members ---- */

static int h_members(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0)
		return rc;
	struct exchange_member *items;
	int n;
	if ((rc = exchange_member_list(&c, &items, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		member_json(w, &items[i]);
	res_list_end(r, n, 1, n);
	return 0;
}

static int member_in(struct req *r, struct exchange_member_in *in, bool with_code)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	const struct jfield fields[] = {
		{"code", JF_STR, with_code, 64, &in->code, NULL},
		{"name", JF_STR, true, 300, &in->name, NULL},
		{"agency", JF_STR, false, 64, &in->agency, NULL},
		{"disabled", JF_BOOL, false, 0, &in->disabled, NULL},
	};
	return json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
}

static int h_member_create(struct req *r)
{
	struct ctx c;
	struct exchange_member_in in = {0};
	struct exchange_member m;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = member_in(r, &in, true)) < 0 ||
	    (rc = exchange_member_put(&c, &in, true, &m, &r->err)) < 0)
		return rc;
	member_json(res_json(r, 201), &m);
	return 0;
}

static int h_member_put(struct req *r)
{
	struct ctx c;
	struct exchange_member_in in = {0};
	struct exchange_member m;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = member_in(r, &in, false)) < 0)
		return rc;
	if (in.code && strcmp(in.code, req_param(r, "code")) != 0) {
		err_field(&r->err, "code", "differs from the code in the path");
		return err_fields_done(&r->err);
	}
	in.code = req_param(r, "code");
	if ((rc = exchange_member_put(&c, &in, false, &m, &r->err)) < 0)
		return rc;
	member_json(res_json(r, 200), &m);
	return 0;
}

static int h_member_get(struct req *r)
{
	struct ctx c;
	struct exchange_member m;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = exchange_member_get(&c, req_param(r, "code"), &m, &r->err)) < 0)
		return rc;
	member_json(res_json(r, 200), &m);
	return 0;
}

static void res_deleted(struct req *r)
{
	res_text(r, 204, NULL, "", 0);
}

static int h_member_delete(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = exchange_member_delete(&c, req_param(r, "code"), &r->err)) < 0)
		return rc;
	res_deleted(r);
	return 0;
}

/* ---- subsystems ---- */

static int h_subsystems(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0)
		return rc;
	struct exchange_subsystem *items;
	int n;
	if ((rc = exchange_subsystem_list(&c, req_query(r, "member"), &items, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		subsystem_json(w, &items[i]);
	res_list_end(r, n, 1, n);
	return 0;
}

static int subsystem_in(struct req *r, struct exchange_subsystem_in *in, bool with_keys)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	const struct jfield fields[] = {
		{"member", JF_STR, with_keys, 64, &in->member, NULL},
		{"code", JF_STR, with_keys, 64, &in->code, NULL},
		{"name", JF_STR, true, 300, &in->name, NULL},
		{"public_key", JF_STR, true, 64, &in->public_key, NULL},
		{"endpoint", JF_STR, false, 2000, &in->endpoint, NULL},
		{"disabled", JF_BOOL, false, 0, &in->disabled, NULL},
	};
	return json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
}

static int h_subsystem_create(struct req *r)
{
	struct ctx c;
	struct exchange_subsystem_in in = {0};
	struct exchange_subsystem s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = subsystem_in(r, &in, true)) < 0 ||
	    (rc = exchange_subsystem_put(&c, &in, true, &s, &r->err)) < 0)
		return rc;
	subsystem_json(res_json(r, 201), &s);
	return 0;
}

static int h_subsystem_put(struct req *r)
{
	struct ctx c;
	struct exchange_subsystem_in in = {0};
	struct exchange_subsystem s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = subsystem_in(r, &in, false)) < 0)
		return rc;
	in.member = req_param(r, "member");
	in.code = req_param(r, "code");
	if ((rc = exchange_subsystem_put(&c, &in, false, &s, &r->err)) < 0)
		return rc;
	subsystem_json(res_json(r, 200), &s);
	return 0;
}

static int h_subsystem_get(struct req *r)
{
	struct ctx c;
	struct exchange_subsystem s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 ||
	    (rc = exchange_subsystem_get(&c, req_param(r, "member"), req_param(r, "code"), &s, &r->err)) < 0)
		return rc;
	subsystem_json(res_json(r, 200), &s);
	return 0;
}

static int h_subsystem_delete(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0 ||
	    (rc = exchange_subsystem_delete(&c, req_param(r, "member"), req_param(r, "code"), &r->err)) < 0)
		return rc;
	res_deleted(r);
	return 0;
}

/* ---- services ---- */

static int h_services(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0)
		return rc;
	struct exchange_service *items;
	int n;
	if ((rc = exchange_service_list(&c, req_query(r, "member"), &items, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		service_json(w, &items[i], false);
	res_list_end(r, n, 1, n);
	return 0;
}

static int service_in(struct req *r, struct exchange_service_in *in, bool with_keys)
{
	json_t *body, *methods = NULL, *openapi = NULL;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	int64_t timeout = 0;
	const struct jfield fields[] = {
		{"member", JF_STR, with_keys, 64, &in->member, NULL},
		{"subsystem", JF_STR, with_keys, 64, &in->subsystem, NULL},
		{"code", JF_STR, with_keys, 64, &in->code, NULL},
		{"description", JF_STR, true, 2000, &in->description, NULL},
		{"backend_url", JF_STR, true, 2000, &in->backend_url, NULL},
		{"methods", JF_ANY, false, 0, &methods, NULL},
		{"openapi", JF_ANY, false, 0, &openapi, NULL},
		{"personal_data", JF_BOOL, false, 0, &in->personal_data, NULL},
		{"timeout_ms", JF_INT, false, 0, &timeout, NULL},
		{"disabled", JF_BOOL, false, 0, &in->disabled, NULL},
	};
	rc = json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
	if (rc < 0)
		return rc;
	in->timeout_ms = timeout < 0 || timeout > 600000 ? -1 : (int)timeout;
	if (json_is_string(methods)) {
		in->methods = arena_strdup(r->a, json_string_value(methods));
	} else if (json_is_array(methods)) {
		struct buf b = BUF_INIT;
		size_t i;
		json_t *m;
		json_array_foreach(methods, i, m)
		{
			if (!json_is_string(m) || json_string_length(m) > 10) {
				buf_free(&b);
				err_field(&r->err, "methods", "must be a list of HTTP methods");
				return err_fields_done(&r->err);
			}
			buf_printf(&b, "%s%s", i ? "," : "", json_string_value(m));
		}
		in->methods = arena_strdup(r->a, buf_cstr(&b));
		buf_free(&b);
	} else if (methods && !json_is_null(methods)) {
		err_field(&r->err, "methods", "must be a list of HTTP methods or a comma-separated string");
		return err_fields_done(&r->err);
	}
	if (json_is_string(openapi)) {
		in->openapi = arena_strdup(r->a, json_string_value(openapi));
	} else if (json_is_object(openapi)) {
		char *s = json_dumps(openapi, JSON_COMPACT | JSON_PRESERVE_ORDER);
		in->openapi = arena_strdup(r->a, s);
		free(s);
	} else if (openapi && !json_is_null(openapi)) {
		err_field(&r->err, "openapi", "must be the OpenAPI document (an object, or JSON/YAML text)");
		return err_fields_done(&r->err);
	}
	return 0;
}

static int h_service_create(struct req *r)
{
	struct ctx c;
	struct exchange_service_in in = {0};
	struct exchange_service s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = service_in(r, &in, true)) < 0 ||
	    (rc = exchange_service_put(&c, &in, true, &s, &r->err)) < 0)
		return rc;
	service_json(res_json(r, 201), &s, false);
	return 0;
}

static int h_service_put(struct req *r)
{
	struct ctx c;
	struct exchange_service_in in = {0};
	struct exchange_service s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = service_in(r, &in, false)) < 0)
		return rc;
	in.member = req_param(r, "member");
	in.subsystem = req_param(r, "subsystem");
	in.code = req_param(r, "code");
	if ((rc = exchange_service_put(&c, &in, false, &s, &r->err)) < 0)
		return rc;
	service_json(res_json(r, 200), &s, false);
	return 0;
}

static int h_service_get(struct req *r)
{
	struct ctx c;
	struct exchange_service s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = exchange_service_get(&c, req_param(r, "member"), req_param(r, "subsystem"),
						 req_param(r, "code"), &s, &r->err)) < 0)
		return rc;
	service_json(res_json(r, 200), &s, false);
	return 0;
}

static int h_service_openapi(struct req *r)
{
	struct ctx c;
	struct exchange_service s;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = exchange_service_get(&c, req_param(r, "member"), req_param(r, "subsystem"),
						 req_param(r, "code"), &s, &r->err)) < 0)
		return rc;
	if (!s.openapi)
		return err_set(&r->err, ERR_NOT_FOUND, "service '%s/%s/%s' has no OpenAPI document", s.member,
			       s.subsystem, s.code);
	bool json = s.openapi[0] == '{';
	res_text(r, 200, json ? "application/json; charset=utf-8" : "application/yaml; charset=utf-8", s.openapi,
		 strlen(s.openapi));
	return 0;
}

static int h_service_delete(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = exchange_service_delete(&c, req_param(r, "member"), req_param(r, "subsystem"),
						    req_param(r, "code"), &r->err)) < 0)
		return rc;
	res_deleted(r);
	return 0;
}

/* ---- access rights ---- */

static int h_access(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0)
		return rc;
	struct exchange_access *items;
	int n;
	if ((rc = exchange_access_list(&c, req_query(r, "service"), req_query(r, "client"), &items, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++) {
		jw_obj(w);
		jw_kstr(w, "service", items[i].service);
		jw_kstr(w, "client", items[i].client);
		jw_kstr(w, "granted_by", items[i].granted_by);
		jw_ktime(w, "granted_at", items[i].granted_at);
		jw_obj_end(w);
	}
	res_list_end(r, n, 1, n);
	return 0;
}

static int h_access_create(struct req *r)
{
	struct ctx c;
	json_t *body;
	const char *service = NULL, *client = NULL;
	int rc = admin_ctx(r, &c);
	if (rc < 0 || (rc = req_json(r, &body)) < 0)
		return rc;
	const struct jfield fields[] = {
		{"service", JF_STR, true, 200, &service, NULL},
		{"client", JF_STR, true, 200, &client, NULL},
	};
	if ((rc = json_decode(body, fields, 2, r->a, &r->err)) < 0 ||
	    (rc = exchange_access_put(&c, service, client, &r->err)) < 0)
		return rc;
	struct jw *w = res_json(r, 201);
	jw_obj(w);
	jw_kstr(w, "service", service);
	jw_kstr(w, "client", client);
	jw_obj_end(w);
	return 0;
}

static int h_access_delete(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0)
		return rc;
	const char *service = req_query(r, "service"), *client = req_query(r, "client");
	if (!service)
		err_field(&r->err, "service", "is required");
	if (!client)
		err_field(&r->err, "client", "is required");
	if ((rc = err_fields_done(&r->err)) < 0 || (rc = exchange_access_delete(&c, service, client, &r->err)) < 0)
		return rc;
	res_deleted(r);
	return 0;
}

/* ---- the message log (admins) ---- */

struct log_list {
	struct req *r;
	const char *client, *service, *subject;
	int64_t from, to;
	int page, per_page;
};

#define LOG_WHERE                                                                                                      \
	" WHERE 1 = 1 [[AND client = $1]] [[AND service = $2]] [[AND subject = $3]] [[AND at >= $4]] [[AND at < $5]]"

static int log_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct log_list *l = arg;
	int64_t total = 0;
	/* optional conditions (store.h): the planner sees only the filters given,
	 * and the subject's index serves a citizen's "who read my data" */
	struct store_arg args[] = {SA_TEXT(l->client),
				   SA_TEXT(l->service),
				   SA_TEXT(l->subject),
				   l->from ? SA_INT(l->from) : SA_NULL,
				   l->to != INT64_MAX ? SA_INT(l->to) : SA_NULL,
				   SA_INT(l->per_page),
				   SA_INT((int64_t)(l->page - 1) * l->per_page)};
	int rc = store_get_int(tx, "SELECT COUNT(*) FROM exchange_log" LOG_WHERE, args, 5, &total, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT seq, id, at, client, service, method, path, query, purpose, subject, status, error, "
			 "duration_us, request_digest, response_digest, hash FROM exchange_log" LOG_WHERE
			 " ORDER BY seq DESC LIMIT $6 OFFSET $7",
			 args, 7, &q, e);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(l->r, 200);
	while ((rc = store_step(q, e)) == 1) {
		jw_obj(w);
		jw_kint(w, "seq", store_int(q, 0));
		jw_kstr(w, "message_id", store_text(q, 1));
		jw_ktime(w, "at", store_int(q, 2));
		jw_kstr(w, "client", store_text(q, 3));
		jw_kstr(w, "service", store_text(q, 4));
		jw_kstr(w, "method", store_text(q, 5));
		jw_kstr(w, "path", store_text(q, 6));
		jw_kstr(w, "query", store_text(q, 7));
		jw_kstr(w, "purpose", store_isnull(q, 8) ? NULL : store_text(q, 8));
		jw_kstr(w, "subject", store_isnull(q, 9) ? NULL : store_text(q, 9));
		jw_kint(w, "status", store_int(q, 10));
		jw_kstr(w, "error", store_isnull(q, 11) ? NULL : store_text(q, 11));
		jw_key(w, "duration_ms");
		jw_double(w, (double)store_int(q, 12) / 1000.0);
		jw_kstr(w, "request_digest", store_text(q, 13));
		jw_kstr(w, "response_digest", store_text(q, 14));
		jw_kstr(w, "hash", store_text(q, 15));
		jw_obj_end(w);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	res_list_end(l->r, total, l->page, l->per_page);
	return 0;
}

static int h_log(struct req *r)
{
	struct ctx c;
	int rc = admin_ctx(r, &c);
	if (rc < 0)
		return rc;
	if (c.who->role != ROLE_ADMIN)
		return err_set(&r->err, ERR_FORBIDDEN, "only administrators may read the message log");
	struct log_list l = {r, req_query(r, "client"), req_query(r, "service"), req_query(r, "subject"), 0, INT64_MAX,
			     1, 50};
	if ((rc = req_page(r, &l.page, &l.per_page)) < 0)
		return rc;
	const char *from = req_query(r, "from"), *to = req_query(r, "to");
	if (from && !time_parse_rfc3339(from, &l.from))
		err_field(&r->err, "from", "must be an RFC 3339 time");
	if (to && !time_parse_rfc3339(to, &l.to))
		err_field(&r->err, "to", "must be an RFC 3339 time");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	return store_read(c.app->db, log_list_fn, &l, &r->err);
}

/* ---- public ---- */

static int h_key(struct req *r)
{
	struct app *app = r->app;
	struct buf hex = BUF_INIT;
	buf_hex(&hex, app->keys.pk, 32);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "algorithm", "Ed25519");
	jw_kstr(w, "key_id", app->keys.key_id);
	jw_kstr(w, "public_key", hex.ptr);
	jw_obj_end(w);
	buf_free(&hex);
	return 0;
}

static int h_data_access(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	int page, per_page;
	if (rc < 0 || (rc = req_page(r, &page, &per_page)) < 0)
		return rc;
	struct exchange_access_record *items;
	int n;
	int64_t total;
	if ((rc = exchange_data_access_list(&c, page, per_page, &items, &n, &total, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++) {
		struct exchange_access_record *x = &items[i];
		jw_obj(w);
		jw_kstr(w, "message_id", x->message_id);
		jw_ktime(w, "at", x->at);
		jw_key(w, "agency");
		jw_obj(w);
		jw_kstr(w, "member", x->client_member);
		jw_kstr(w, "name", x->client_member_name);
		jw_kstr(w, "subsystem", x->client_subsystem);
		jw_obj_end(w);
		jw_kstr(w, "service", x->service);
		jw_kstr(w, "service_description", x->service_description);
		jw_kstr(w, "purpose", x->purpose);
		jw_kint(w, "status", x->status);
		jw_obj_end(w);
	}
	res_list_end(r, total, page, per_page);
	return 0;
}

#define GW_FLAGS (ROUTE_BLOCKING | ROUTE_RAW_LARGE)

const struct route exchange_routes[] = {
	/* the gateway */
	{"GET", "/x/{member}/{subsystem}/{service}/{rest*}", gateway_handle, GW_FLAGS},
	{"POST", "/x/{member}/{subsystem}/{service}/{rest*}", gateway_handle, GW_FLAGS},
	{"PUT", "/x/{member}/{subsystem}/{service}/{rest*}", gateway_handle, GW_FLAGS},
	{"PATCH", "/x/{member}/{subsystem}/{service}/{rest*}", gateway_handle, GW_FLAGS},
	{"DELETE", "/x/{member}/{subsystem}/{service}/{rest*}", gateway_handle, GW_FLAGS},
	{"GET", "/x/{member}/{subsystem}/{service}", gateway_handle, GW_FLAGS},
	{"POST", "/x/{member}/{subsystem}/{service}", gateway_handle, GW_FLAGS},
	{"PUT", "/x/{member}/{subsystem}/{service}", gateway_handle, GW_FLAGS},
	{"PATCH", "/x/{member}/{subsystem}/{service}", gateway_handle, GW_FLAGS},
	{"DELETE", "/x/{member}/{subsystem}/{service}", gateway_handle, GW_FLAGS},
	/* asynchronous exchange, for subsystems (signed) */
	{"POST", "/x-async/messages", async_h_send, ROUTE_RAW_LARGE},
	{"GET", "/x-async/messages/{id}", async_h_status, 0},
	{"GET", "/x-async/inbox", async_h_inbox, 0},
	{"POST", "/x-async/inbox/{id}/ack", async_h_ack, 0},
	/* admin API */
	{"GET", "/api/v1/exchange/members", h_members, 0},
	{"POST", "/api/v1/exchange/members", h_member_create, 0},
	{"GET", "/api/v1/exchange/members/{code}", h_member_get, 0},
	{"PUT", "/api/v1/exchange/members/{code}", h_member_put, 0},
	{"DELETE", "/api/v1/exchange/members/{code}", h_member_delete, 0},
	{"GET", "/api/v1/exchange/subsystems", h_subsystems, 0},
	{"POST", "/api/v1/exchange/subsystems", h_subsystem_create, 0},
	{"GET", "/api/v1/exchange/subsystems/{member}/{code}", h_subsystem_get, 0},
	{"PUT", "/api/v1/exchange/subsystems/{member}/{code}", h_subsystem_put, 0},
	{"DELETE", "/api/v1/exchange/subsystems/{member}/{code}", h_subsystem_delete, 0},
	{"GET", "/api/v1/exchange/services", h_services, 0},
	{"POST", "/api/v1/exchange/services", h_service_create, 0},
	{"GET", "/api/v1/exchange/services/{member}/{subsystem}/{code}", h_service_get, 0},
	{"PUT", "/api/v1/exchange/services/{member}/{subsystem}/{code}", h_service_put, 0},
	{"DELETE", "/api/v1/exchange/services/{member}/{subsystem}/{code}", h_service_delete, 0},
	{"GET", "/api/v1/exchange/services/{member}/{subsystem}/{code}/openapi", h_service_openapi, 0},
	{"GET", "/api/v1/exchange/access", h_access, 0},
	{"POST", "/api/v1/exchange/access", h_access_create, 0},
	{"DELETE", "/api/v1/exchange/access", h_access_delete, 0},
	{"GET", "/api/v1/exchange/log", h_log, 0},
	{"GET", "/api/v1/exchange/messages", async_h_admin_list, 0},
	{"GET", "/api/v1/exchange/stats", monitor_h_stats, 0},
	{"GET", "/api/v1/exchange/connectivity", monitor_h_connectivity, 0},
	{"GET", "/api/v1/exchange/key", h_key, 0},
	/* the citizen's personal-data tracker */
	{"GET", "/api/v1/me/data-access", h_data_access, 0},
};
const size_t exchange_nroutes = sizeof exchange_routes / sizeof exchange_routes[0];
