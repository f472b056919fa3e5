/* audit_api.c: GET /api/v1/audit for administrators. */
#include <string.h>

#include "app/api.h"
#include "audit/audit.h"

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
	if ((rc = req_page(r, &f.page, &f.per_page)) < 0 ||
	    (rc = req_query_time(r, "from", false, &f.from_us, NULL)) < 0 ||
	    (rc = req_query_time(r, "to", true, &f.to_us, NULL)) < 0)
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
		/* both null on an entry a later entry's signature covers */
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
