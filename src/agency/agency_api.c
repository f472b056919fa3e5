/* agency_api.c: JSON routes for agencies. */
#include <string.h>

#include "agency/agency.h"
#include "app/api.h"

static int h_list(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	int page, per_page;
	if (rc < 0 || (rc = req_page(r, &page, &per_page)) < 0)
		return rc;
	struct agency *items;
	int n;
	int64_t total;
	rc = agency_list(&c, req_query(r, "level"), req_query(r, "parent"), req_query(r, "q"), page, per_page, &items,
			 &n, &total, &r->err);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		agency_json(w, &items[i]);
	res_list_end(r, total, page, per_page);
	return 0;
}

static int h_get(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	struct agency g;
	rc = agency_get(&c, req_param(r, "code"), &g, &r->err);
	if (rc < 0)
		return rc;
	agency_json(res_json(r, 200), &g);
	return 0;
}

static int decode(struct req *r, const struct ctx *c, struct agency_in *in, bool create)
{
	json_t *body, *parent = NULL;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	bool parent_present = false;
	const struct jfield fields[] = {
		{"code", JF_STR, create, 13, &in->code, NULL},
		{"name", JF_STR, create, 300, &in->name, NULL},
		{"name_en", JF_STR, false, 300, &in->name_en, NULL},
		{"level", JF_STR, create, 32, &in->level, NULL},
		{"kind", JF_STR, create, 32, &in->kind, NULL},
		{"parent", JF_ANY, false, 0, &parent, NULL},
		{"sample", JF_BOOL, false, 0, &in->sample, NULL},
	};
	rc = json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
	if (rc < 0 && rc != ERR_INVALID)
		return rc;
	if (!create && in->code) {
		err_field(&r->err, "code", "cannot be changed; create a new agency instead");
		return err_fields_done(&r->err);
	}
	parent_present = json_object_get(body, "parent") != NULL;
	if (parent && !json_is_string(parent)) {
		err_field(&r->err, "parent", "must be an agency code or null");
		return err_fields_done(&r->err);
	}
	if (parent) {
		if (json_string_length(parent) > 13) {
			err_field(&r->err, "parent", "must be a national agency code like 000.00.00.H23");
			return err_fields_done(&r->err);
		}
		in->parent = arena_strdup(r->a, json_string_value(parent));
	}
	in->parent_given = parent_present;
	if (r->err.nfields) {
		/* name every problem at once: the decoder's and the rules' */
		agency_validate(c, in, create, &r->err);
		return err_fields_done(&r->err);
	}
	return 0;
}

static int h_create(struct req *r)
{
	struct ctx c;
	struct agency_in in = {0};
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = decode(r, &c, &in, true)) < 0)
		return rc;
	struct agency g;
	rc = agency_create(&c, &in, &g, &r->err);
	if (rc < 0)
		return rc;
	res_header(r, "Location", arena_printf(r->a, "/api/v1/agencies/%s", g.code));
	agency_json(res_json(r, 201), &g);
	return 0;
}

static int h_update(struct req *r)
{
	struct ctx c;
	struct agency_in in = {0};
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = decode(r, &c, &in, false)) < 0)
		return rc;
	struct agency g;
	rc = agency_update(&c, req_param(r, "code"), &in, &g, &r->err);
	if (rc < 0)
		return rc;
	agency_json(res_json(r, 200), &g);
	return 0;
}

const struct route agency_routes[] = {
	{"GET", "/api/v1/agencies", h_list, 0},
	{"POST", "/api/v1/agencies", h_create, 0},
	{"GET", "/api/v1/agencies/{code}", h_get, 0},
	{"PUT", "/api/v1/agencies/{code}", h_update, 0},
};
const size_t agency_nroutes = sizeof agency_routes / sizeof agency_routes[0];
