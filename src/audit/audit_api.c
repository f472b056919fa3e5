/* audit_api.c: GET /api/v1/audit for administrators. */
#include <string.h>

#include "app/api.h"
#include "audit/audit.h"
#include "base/time.h"

static int parse_time_param(struct req *r, const char *name, int64_t *out)
{
	const char *v = req_query(r, name);
	if (!v)
		return 0;
	int32_t days;
	if (time_parse_rfc3339(v, out))
		return 0;
	if (date_parse(v, &days)) {
		*out = ((int64_t)days * 86400 - 7 * 3600) * 1000000; /* local midnight */
		if (strcmp(name, "to") == 0)
			*out += 86400LL * 1000000 - 1;
		return 0;
	}
	err_field(&r->err, name, "must be an RFC 3339 time or a date YYYY-MM-DD");
	return err_fields_done(&r->err);
}

static int h_audit_list(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct audit_filter f = {0};
	f.actor = req_query(r, "actor");
	f.object = req_query(r, "object");
	f.action = req_query(r, "action");
	if ((rc = req_page(r, &f.page, &f.per_page)) < 0 || (rc = parse_time_param(r, "from", &f.from_us)) < 0 ||
	    (rc = parse_time_param(r, "to", &f.to_us)) < 0)
		return rc;
	struct audit_entry *items;
	int n;
	int64_t total;
	rc = audit_list(&c, &f, &items, &n, &total, &r->err);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++) {
		jw_obj(w);
		jw_kint(w, "seq", items[i].seq);
		jw_ktime(w, "at", items[i].at);
		jw_kstr(w, "actor", items[i].actor);
		jw_kstr(w, "action", items[i].action);
		jw_kstr(w, "object", items[i].object);
		jw_key(w, "change");
		jw_raw(w, items[i].change, strlen(items[i].change));
		jw_kstr(w, "request_id", items[i].request_id);
		jw_kstr(w, "prev_hash", items[i].prev_hash);
		jw_kstr(w, "hash", items[i].hash);
		jw_kstr(w, "key_id", items[i].key_id);
		jw_kstr(w, "signature", items[i].signature);
		jw_obj_end(w);
	}
	res_list_end(r, total, f.page, f.per_page);
	return 0;
}

const struct route audit_routes[] = {
	{"GET", "/api/v1/audit", h_audit_list, 0},
};
const size_t audit_nroutes = sizeof audit_routes / sizeof audit_routes[0];
