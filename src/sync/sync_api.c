/* sync_api.c: JSON routes of the national-portal synchronisation:
 *
 *   GET  /api/v1/dossiers/{code}/sync        the dossier's sync state and each
 *        step's push (officials, leaders and admins who may see the dossier)
 *   POST /api/v1/dossiers/{code}/sync/retry  requeue what was given up
 *        {requeued: N} (the same people; audited) */
#include "app/api.h"
#include "sync/sync.h"

static int h_state(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct sync_state s;
	if ((rc = sync_state_get(&c, req_param(r, "code"), &s, &r->err)) < 0)
		return rc;
	sync_state_json(res_json(r, 200), &s);
	return 0;
}

static int h_retry(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	int n = sync_retry(&c, req_param(r, "code"), &r->err);
	if (n < 0)
		return n;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kint(w, "requeued", n);
	jw_obj_end(w);
	return 0;
}

const struct route sync_routes[] = {
	{"GET", "/api/v1/dossiers/{code}/sync", h_state, 0},
	{"POST", "/api/v1/dossiers/{code}/sync/retry", h_retry, 0},
};
const size_t sync_nroutes = sizeof sync_routes / sizeof sync_routes[0];
