/* procedure_api.c: JSON routes of the procedure catalogue: public search,
 * browse by field and full documents; admin create and replace. */
#include <string.h>

#include "app/api.h"
#include "procedure/procedure.h"

static int h_list(struct req *r)
{
	struct ctx c;
	struct procedure_filter f = {0};
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0 || (rc = req_page(r, &f.page, &f.per_page)) < 0)
		return rc;
	f.q = req_query(r, "q");
	f.field = req_query(r, "field");
	f.level = req_query(r, "level");
	f.online = req_query(r, "online");
	struct procedure *items;
	int n;
	int64_t total;
	if ((rc = procedure_list(&c, &f, &items, &n, &total, &r->err)) < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		procedure_summary_json(w, &items[i]);
	res_list_end(r, total, f.page, f.per_page);
	return 0;
}

static int h_fields(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	struct procedure_field_count *items;
	int n;
	if ((rc = procedure_fields(&c, req_query(r, "level"), &items, &n, &r->err)) < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_key(w, "items");
	jw_arr(w);
	for (int i = 0; i < n; i++) {
		jw_obj(w);
		jw_kstr(w, "field", items[i].field);
		jw_kstr(w, "field_en", items[i].field_en);
		jw_kint(w, "count", items[i].count);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kint(w, "total", n);
	jw_obj_end(w);
	return 0;
}

static int h_get(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	struct procedure p;
	if ((rc = procedure_get(&c, req_param(r, "code"), &p, &r->err)) < 0)
		return rc;
	procedure_json(res_json(r, 200), &p);
	return 0;
}

static int h_create(struct req *r)
{
	struct ctx c;
	json_t *body;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = req_json(r, &body)) < 0)
		return rc;
	struct procedure p;
	if ((rc = procedure_create(&c, body, &p, &r->err)) < 0)
		return rc;
	res_header(r, "Location", arena_printf(r->a, "/api/v1/procedures/%s", p.code));
	procedure_json(res_json(r, 201), &p);
	return 0;
}

static int h_update(struct req *r)
{
	struct ctx c;
	json_t *body;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = req_json(r, &body)) < 0)
		return rc;
	struct procedure p;
	if ((rc = procedure_update(&c, req_param(r, "code"), body, &p, &r->err)) < 0)
		return rc;
	procedure_json(res_json(r, 200), &p);
	return 0;
}

/* /fields before /{code}: the router takes the first match */
const struct route procedure_routes[] = {
    {"GET", "/api/v1/procedures", h_list, 0},	       {"POST", "/api/v1/procedures", h_create, 0},
    {"GET", "/api/v1/procedures/fields", h_fields, 0}, {"GET", "/api/v1/procedures/{code}", h_get, 0},
    {"PUT", "/api/v1/procedures/{code}", h_update, 0},
};
const size_t procedure_nroutes = sizeof procedure_routes / sizeof procedure_routes[0];
