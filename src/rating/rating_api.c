/* rating_api.c: JSON routes of satisfaction ratings: an applicant rates a
 * dossier after its result, anyone who sees the dossier reads the rating, the
 * public reads the criteria, officials, leaders and admins read summaries. */
#include <string.h>

#include "app/api.h"
#include "rating/rating.h"

static int h_create(struct req *r)
{
	struct ctx c;
	json_t *body;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = req_json(r, &body)) < 0)
		return rc;
	struct rating_new in;
	for (int i = 0; i < RATING_NCRITERIA; i++)
		in.scores[i] = RATING_UNSET;
	in.overall = in.comment = NULL;
	json_t *scores = NULL;
	const struct jfield fields[] = {
		{"scores", JF_OBJ, false, 0, &scores, NULL},
		{"overall", JF_STR, false, 32, &in.overall, NULL},
		{"comment", JF_STR, false, RATING_COMMENT_MAX, &in.comment, NULL},
	};
	/* every problem is collected (rating_validate adds its own) into one 422 */
	json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err);
	if (scores) {
		const char *key;
		json_t *v;
		json_object_foreach(scores, key, v)
		{
			int i = rating_criterion_index(key);
			const char *name = arena_printf(r->a, "scores.%.48s", key);
			if (i < 0)
				err_field(&r->err, name, "is not a criterion (GET /api/v1/ratings/criteria lists them)");
			else if (json_is_null(v))
				in.scores[i] = RATING_UNSET;
			else if (!json_is_integer(v))
				in.scores[i] = RATING_BAD;
			else {
				json_int_t n = json_integer_value(v);
				in.scores[i] = n >= 0 && n <= RATING_MAX_SCORE ? (int)n : RATING_BAD;
			}
		}
	}
	if ((rc = rating_validate(&in, &r->err)) < 0)
		return rc;
	struct rating out;
	const char *code = req_param(r, "code");
	if ((rc = rating_create(&c, code, &in, &out, &r->err)) < 0)
		return rc;
	res_header(r, "Location", arena_printf(r->a, "/api/v1/dossiers/%s/rating", out.dossier_code));
	rating_json(res_json(r, 201), &out);
	return 0;
}

static int h_get(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct rating out;
	if ((rc = rating_get(&c, req_param(r, "code"), &out, &r->err)) < 0)
		return rc;
	rating_json(res_json(r, 200), &out);
	return 0;
}

static int h_criteria(struct req *r)
{
	rating_criteria_json(res_json(r, 200));
	return 0;
}

static int h_summary(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	struct rating_filter f = {0};
	f.agency = req_query(r, "agency");
	if (f.agency && strlen(f.agency) > 32)
		err_field(&r->err, "agency", "must be an agency code");
	req_query_time(r, "from", false, &f.from_us, NULL); /* the bad ones are named together below */
	req_query_time(r, "to", true, &f.to_us, NULL);
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	struct rating_summary s;
	if ((rc = rating_summary(&c, &f, &s, &r->err)) < 0)
		return rc;
	rating_summary_json(res_json(r, 200), &s, f.from_us, f.to_us);
	return 0;
}

const struct route rating_routes[] = {
	{"POST", "/api/v1/dossiers/{code}/rating", h_create, 0},
	{"GET", "/api/v1/dossiers/{code}/rating", h_get, 0},
	{"GET", "/api/v1/ratings/criteria", h_criteria, 0},
	{"GET", "/api/v1/ratings/summary", h_summary, 0},
};
const size_t rating_nroutes = sizeof rating_routes / sizeof rating_routes[0];
