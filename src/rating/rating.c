/* rating.c: satisfaction ratings of dossiers (Circular 01/2018/TT-VPCP):
 * the nine criteria, recording a rating, reading it, and the summaries per
 * agency and per official. */
#include "rating/rating.h"

#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "base/buf.h"
#include "base/time.h"
#include "dossier/dossier.h"
#include "identity/identity.h"
#include "store/store.h"

/* The criteria of Decree 61/2018/NĐ-CP Điều 31 khoản 1, scored on the
 * phiếu đánh giá of Circular 01/2018/TT-VPCP, in their order. */
const struct rating_criterion rating_criteria[RATING_NCRITERIA] = {
	{"total_time", "Tổng thời gian giải quyết thủ tục hành chính so với quy định của pháp luật",
	 "Total time taken to resolve the procedure compared with the time limit set by law"},
	{"agency_time", "Thời gian thực hiện của từng cơ quan, đơn vị tham gia giải quyết (kể cả đơn vị phối hợp)",
	 "Time taken by each agency and unit involved in resolving it (coordinating units included)"},
	{"contact_count",
	 "Số lần phải liên hệ với nơi tiếp nhận hồ sơ để hoàn thiện hồ sơ thủ tục hành chính (kể cả liên hệ theo "
	 "hình thức trực tuyến)",
	 "Number of times the applicant had to contact the receiving office to complete the dossier (online "
	 "contacts included)"},
	{"agency_count",
	 "Số lượng cơ quan, đơn vị, tổ chức phải liên hệ để hoàn thiện hồ sơ thủ tục hành chính (kể cả liên hệ theo "
	 "hình thức trực tuyến)",
	 "Number of agencies, units and organisations the applicant had to contact to complete the dossier (online "
	 "contacts included)"},
	{"one_stop", "Thực hiện tổ chức tiếp nhận hồ sơ, giải quyết, trả kết quả tại Bộ phận Một cửa",
	 "Receiving the dossier, resolving it and returning the result through the one-stop desk"},
	{"publicity", "Công khai các thủ tục hành chính", "Publication of the administrative procedures"},
	{"staff_attitude",
	 "Thái độ của cán bộ, công chức, viên chức khi hướng dẫn lập hồ sơ, tiếp nhận hồ sơ và giải quyết thủ tục "
	 "hành chính",
	 "Attitude of the officials when guiding the applicant, receiving the dossier and resolving the procedure"},
	{"feedback_handling", "Tiếp thu, giải trình đối với các ý kiến phản ánh, kiến nghị của tổ chức, cá nhân",
	 "Taking in and answering the feedback and petitions of organisations and individuals"},
	{"online_service", "Tiến độ và chất lượng cung cấp dịch vụ công trực tuyến của cơ quan có thẩm quyền",
	 "Progress and quality of the competent authority's online public services"},
};

static const struct {
	const char *name, *vi, *en;
} levels[RL_COUNT] = {
	[RL_VERY_SATISFIED] = {"very_satisfied", "Rất hài lòng", "Very satisfied"},
	[RL_SATISFIED] = {"satisfied", "Hài lòng", "Satisfied"},
	[RL_NOT_SATISFIED] = {"not_satisfied", "Không hài lòng", "Not satisfied"},
};

int rating_criterion_index(const char *key)
{
	for (int i = 0; key && i < RATING_NCRITERIA; i++)
		if (strcmp(rating_criteria[i].key, key) == 0)
			return i;
	return -1;
}

const char *rating_level_name(int l) { return l >= 0 && l < RL_COUNT ? levels[l].name : "unknown"; }
const char *rating_level_vi(int l) { return l >= 0 && l < RL_COUNT ? levels[l].vi : "?"; }
const char *rating_level_en(int l) { return l >= 0 && l < RL_COUNT ? levels[l].en : "?"; }

int rating_level_parse(const char *s)
{
	for (int i = 0; s && i < RL_COUNT; i++)
		if (strcmp(levels[i].name, s) == 0)
			return i;
	return -1;
}

static bool has_field(const struct err *e, const char *name)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0)
			return true;
	return false;
}

/* Free text a person wrote: valid UTF-8, no control characters but line breaks and tabs. */
static bool comment_valid(const char *s)
{
	size_t n = strlen(s);
	if (n > RATING_COMMENT_MAX || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\r' && ch != '\t') || ch == 0x7f)
			return false;
	}
	return true;
}

int rating_validate(const struct rating_new *in, struct err *e)
{
	int unset = 0;
	for (int i = 0; i < RATING_NCRITERIA; i++)
		unset += in->scores[i] == RATING_UNSET;
	if (unset == RATING_NCRITERIA) {
		if (!has_field(e, "scores"))
			err_field(e, "scores", "is required: an object scoring each of the nine criteria 0, 1 or 2");
	} else {
		for (int i = 0; i < RATING_NCRITERIA; i++) {
			int s = in->scores[i];
			char name[64];
			snprintf(name, sizeof name, "scores.%s", rating_criteria[i].key);
			if (s == RATING_UNSET)
				err_field(e, name, "is required (every criterion is scored)");
			else if (s < 0 || s > RATING_MAX_SCORE)
				err_field(e, name, "must be the integer 0, 1 or 2");
		}
	}
	if (!in->overall) {
		if (!has_field(e, "overall"))
			err_field(e, "overall", "is required: very_satisfied, satisfied or not_satisfied");
	} else if (rating_level_parse(in->overall) < 0) {
		err_field(e, "overall", "must be very_satisfied, satisfied or not_satisfied");
	}
	if (in->comment && !comment_valid(in->comment))
		err_field(e, "comment", "must be at most %d bytes of text", RATING_COMMENT_MAX);
	return err_fields_done(e);
}

/* ---- reading ---- */

static int get_tx(struct store_tx *tx, struct arena *a, const char *code, struct rating *r, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT r.dossier_code, d.procedure_code, r.agency_code, a.name, r.official_user_id, "
			     "u.full_name, r.c1, r.c2, r.c3, r.c4, r.c5, r.c6, r.c7, r.c8, r.c9, r.total, r.overall, "
			     "r.comment, r.rated_by, r.created_at FROM ratings r JOIN dossiers d ON d.code = r.dossier_code "
			     "LEFT JOIN agencies a ON a.code = r.agency_code LEFT JOIN users u ON u.id = r.official_user_id "
			     "WHERE r.dossier_code = $1",
			     ARGS(SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		int k = 0;
		memset(r, 0, sizeof *r);
		r->dossier_code = store_dup(q, k++, a);
		r->procedure_code = store_dup(q, k++, a);
		r->agency_code = store_dup(q, k++, a);
		r->agency_name = store_dup(q, k++, a);
		r->official_user_id = store_int(q, k++);
		r->official_name = store_dup(q, k++, a);
		for (int i = 0; i < RATING_NCRITERIA; i++)
			r->scores[i] = (int)store_int(q, k++);
		r->total = (int)store_int(q, k++);
		r->overall = rating_level_parse(store_text(q, k++));
		r->comment = store_dup(q, k++, a);
		r->rated_by = store_int(q, k++);
		r->created_at = store_int(q, k++);
	}
	store_done(q);
	return rc;
}

struct get_ctx {
	const struct ctx *c;
	const char *code;
	struct rating *out;
};

static int get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = dossier_visible_tx(tx, g->c, g->code, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", g->code);
	rc = get_tx(tx, g->c->a, g->code, g->out, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' has not been rated", g->code);
	return 0;
}

int rating_get(const struct ctx *c, const char *code, struct rating *out, struct err *e)
{
	if (!code || !*code)
		return err_set(e, ERR_NOT_FOUND, "dossier '' not found");
	struct get_ctx g = {c, code, out};
	return store_read(c->app->db, get_fn, &g, e);
}

/* ---- recording ---- */

struct create_ctx {
	const struct ctx *c;
	const char *code;
	const struct rating_new *in;
	int overall;
	struct rating *out;
};

static int create_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct create_ctx *x = arg;
	const struct ctx *c = x->c;
	const struct principal *who = c->who;
	int rc = dossier_visible_tx(tx, c, x->code, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", x->code);
	struct store_q *q;
	int status = 0;
	int64_t applicant = 0;
	char *agency = NULL;
	rc = store_query(tx, "SELECT status, applicant_user_id, current_agency FROM dossiers WHERE code = $1",
			 ARGS(SA_TEXT(x->code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		status = (int)store_int(q, 0);
		applicant = store_int(q, 1);
		agency = store_dup(q, 2, c->a);
	}
	store_done(q);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "dossier '%s' not found", x->code);
	if (who->role != ROLE_CITIZEN || !applicant || applicant != who->user_id)
		return err_set(e, ERR_FORBIDDEN, "only the applicant of dossier %s may rate it", x->code);
	if (status != DS_RESOLVED && status != DS_RETURNED)
		return err_set(e, ERR_INVALID_TRANSITION,
			       "dossier %s cannot be rated before its result (status %d %s; rating needs 9 resolved or "
			       "10 returned)",
			       x->code, status, dossier_status_name(status));

	/* the official who issued or returned the result: the last such step's actor */
	int64_t official = 0;
	rc = store_get_int(tx,
			   "SELECT COALESCE(actor_user_id, 0) FROM dossier_steps WHERE dossier_code = $1 AND action IN "
			   "('issue_result', 'return_result') ORDER BY id DESC LIMIT 1",
			   ARGS(SA_TEXT(x->code)), &official, e);
	if (rc < 0)
		return rc;

	const struct rating_new *in = x->in;
	int total = 0;
	struct buf scores = BUF_INIT;
	struct jw w;
	jw_init(&w, &scores);
	jw_obj(&w);
	for (int i = 0; i < RATING_NCRITERIA; i++) {
		total += in->scores[i];
		jw_kint(&w, rating_criteria[i].key, in->scores[i]);
	}
	jw_obj_end(&w);
	const char *scores_json = arena_strndup(c->a, scores.ptr, scores.len);
	buf_free(&scores);
	const char *comment = in->comment && *in->comment ? in->comment : NULL;
	int64_t now = time_now_us();
	const int *s = in->scores;
	rc = store_exec(tx,
			"INSERT INTO ratings (dossier_code, agency_code, official_user_id, scores, total, overall, comment, "
			"created_at, c1, c2, c3, c4, c5, c6, c7, c8, c9, rated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
			"$9, $10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (dossier_code) DO NOTHING",
			ARGS(SA_TEXT(x->code), SA_TEXT(agency), official ? SA_INT(official) : SA_NULL, SA_TEXT(scores_json),
			     SA_INT(total), SA_TEXT(rating_level_name(x->overall)), SA_TEXT(comment), SA_INT(now),
			     SA_INT(s[0]), SA_INT(s[1]), SA_INT(s[2]), SA_INT(s[3]), SA_INT(s[4]), SA_INT(s[5]),
			     SA_INT(s[6]), SA_INT(s[7]), SA_INT(s[8]), SA_INT(who->user_id)),
			e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_INVALID_TRANSITION, "dossier %s has already been rated", x->code);

	struct buf doc = BUF_INIT;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_key(&w, "scores");
	jw_raw(&w, scores_json, strlen(scores_json));
	jw_kint(&w, "total", total);
	jw_kstr(&w, "overall", rating_level_name(x->overall));
	if (comment)
		jw_kstr(&w, "comment", comment);
	jw_kstr(&w, "agency_code", agency);
	if (official)
		jw_kint(&w, "official_user_id", official);
	jw_obj_end(&w);
	rc = audit_append(tx, c, "rating.create", arena_printf(c->a, "dossier:%s", x->code), doc.ptr, e);
	buf_free(&doc);
	if (rc < 0)
		return rc;
	rc = get_tx(tx, c->a, x->code, x->out, e);
	if (rc == 0)
		return err_set(e, ERR_INTERNAL, "rating of %s vanished", x->code);
	return rc < 0 ? rc : 0;
}

int rating_create(const struct ctx *c, const char *code, const struct rating_new *in, struct rating *out,
		  struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in first");
	if (!code || !*code)
		return err_set(e, ERR_NOT_FOUND, "dossier '' not found");
	int rc = rating_validate(in, e);
	if (rc < 0)
		return rc;
	struct create_ctx x = {c, code, in, rating_level_parse(in->overall), out};
	return store_write(c->app->db, create_fn, &x, e);
}

/* ---- summaries ---- */

struct sum_ctx {
	const struct ctx *c;
	const char *path; /* subtree prefix */
	int64_t from, to;
	struct rating_summary *out;
};

/* Reads count, c1..c9 sums, total sum and the three level counts from column k on. */
static void agg_read(struct store_q *q, int k, struct rating_agg *g)
{
	g->count = store_int(q, k++);
	for (int i = 0; i < RATING_NCRITERIA; i++)
		g->sums[i] = store_int(q, k++);
	g->total_sum = store_int(q, k++);
	for (int i = 0; i < RL_COUNT; i++)
		g->levels[i] = store_int(q, k++);
}

#define AGG_COLS                                                                                                   \
	"count(*), CAST(sum(r.c1) AS BIGINT), CAST(sum(r.c2) AS BIGINT), CAST(sum(r.c3) AS BIGINT), "                \
	"CAST(sum(r.c4) AS BIGINT), CAST(sum(r.c5) AS BIGINT), CAST(sum(r.c6) AS BIGINT), CAST(sum(r.c7) AS BIGINT), " \
	"CAST(sum(r.c8) AS BIGINT), CAST(sum(r.c9) AS BIGINT), CAST(sum(r.total) AS BIGINT), "                       \
	"CAST(sum(CASE WHEN r.overall = 'very_satisfied' THEN 1 ELSE 0 END) AS BIGINT), "                            \
	"CAST(sum(CASE WHEN r.overall = 'satisfied' THEN 1 ELSE 0 END) AS BIGINT), "                                 \
	"CAST(sum(CASE WHEN r.overall = 'not_satisfied' THEN 1 ELSE 0 END) AS BIGINT)"
#define AGG_WHERE "substr(a.path, 1, $1) = $2 AND r.created_at >= $3 AND r.created_at <= $4"

static int sum_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct sum_ctx *x = arg;
	struct arena *a = x->c->a;
	struct rating_summary *s = x->out;
	const struct store_arg args[] = {SA_INT((int64_t)strlen(x->path)), SA_TEXT(x->path), SA_INT(x->from),
					 SA_INT(x->to)};
	/* the statements run twice: once to count, once to read (arrays in the arena) */
	int64_t na = 0, no = 0;
	int rc = store_get_int(tx,
			       "SELECT count(DISTINCT r.agency_code) FROM ratings r JOIN agencies a ON a.code = "
			       "r.agency_code WHERE " AGG_WHERE,
			       args, 4, &na, e);
	if (rc >= 0)
		rc = store_get_int(tx,
				   "SELECT count(DISTINCT r.official_user_id) FROM ratings r JOIN agencies a ON a.code = "
				   "r.agency_code WHERE r.official_user_id IS NOT NULL AND " AGG_WHERE,
				   args, 4, &no, e);
	if (rc < 0)
		return rc;
	s->agencies = arena_alloc(a, sizeof *s->agencies * (size_t)(na ? na : 1));
	s->officials = arena_alloc(a, sizeof *s->officials * (size_t)(no ? no : 1));
	s->nagencies = s->nofficials = 0;
	memset(&s->all, 0, sizeof s->all);

	struct store_q *q;
	rc = store_query(tx,
			 "SELECT r.agency_code, a.name, " AGG_COLS " FROM ratings r JOIN agencies a ON a.code = "
			 "r.agency_code WHERE " AGG_WHERE " GROUP BY r.agency_code, a.name ORDER BY r.agency_code",
			 args, 4, &q, e);
	while (rc >= 0 && (rc = store_step(q, e)) == 1 && s->nagencies < na) {
		struct rating_agency_sum *g = &s->agencies[s->nagencies++];
		g->code = store_dup(q, 0, a);
		g->name = store_dup(q, 1, a);
		agg_read(q, 2, &g->agg);
		s->all.count += g->agg.count;
		for (int i = 0; i < RATING_NCRITERIA; i++)
			s->all.sums[i] += g->agg.sums[i];
		s->all.total_sum += g->agg.total_sum;
		for (int i = 0; i < RL_COUNT; i++)
			s->all.levels[i] += g->agg.levels[i];
	}
	store_done(q);
	if (rc < 0)
		return rc;
	rc = store_query(tx,
			 "SELECT r.official_user_id, u.full_name, u.title, u.agency_code, " AGG_COLS
			 " FROM ratings r JOIN agencies a ON a.code = r.agency_code LEFT JOIN users u ON u.id = "
			 "r.official_user_id WHERE r.official_user_id IS NOT NULL AND " AGG_WHERE
			 " GROUP BY r.official_user_id, u.full_name, u.title, u.agency_code ORDER BY r.official_user_id",
			 args, 4, &q, e);
	while (rc >= 0 && (rc = store_step(q, e)) == 1 && s->nofficials < no) {
		struct rating_official_sum *o = &s->officials[s->nofficials++];
		o->user_id = store_int(q, 0);
		o->name = store_dup(q, 1, a);
		o->title = store_dup(q, 2, a);
		o->agency_code = store_dup(q, 3, a);
		agg_read(q, 4, &o->agg);
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

struct scope_ctx {
	const char *code;
	struct arena *a;
	char *path;
};

static int scope_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct scope_ctx *s = arg;
	int rc = store_get_text(tx, "SELECT path FROM agencies WHERE code = $1", ARGS(SA_TEXT(s->code)), s->a, &s->path,
				e);
	return rc < 0 ? rc : 0;
}

int rating_summary(const struct ctx *c, const struct rating_filter *f, struct rating_summary *out, struct err *e)
{
	const struct principal *who = c->who;
	memset(out, 0, sizeof *out);
	if (!who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in first");
	if (who->role == ROLE_CITIZEN)
		return err_set(e, ERR_FORBIDDEN, "rating summaries are for officials, leaders and administrators");
	if (f->from_us && f->to_us && f->from_us > f->to_us) {
		err_field(e, "to", "must not be before from");
		return err_fields_done(e);
	}
	const char *path = "/";
	if (f->agency && *f->agency) {
		struct scope_ctx s = {f->agency, c->a, NULL};
		int rc = store_read(c->app->db, scope_fn, &s, e);
		if (rc < 0)
			return rc;
		if (!s.path) {
			err_field(e, "agency", "no agency has the code '%s'", f->agency);
			return err_fields_done(e);
		}
		if (!identity_in_scope(who, s.path))
			return err_set(e, ERR_FORBIDDEN, "agency %s is outside your scope", f->agency);
		path = s.path;
		out->agency = arena_strdup(c->a, f->agency);
	} else if (who->role != ROLE_ADMIN) {
		if (!who->agency_path || !who->agency_code)
			return err_set(e, ERR_FORBIDDEN, "your account is not attached to an agency");
		path = who->agency_path;
		out->agency = arena_strdup(c->a, who->agency_code);
	}
	struct sum_ctx x = {c, path, f->from_us ? f->from_us : INT64_MIN, f->to_us ? f->to_us : INT64_MAX, out};
	return store_read(c->app->db, sum_fn, &x, e);
}

/* ---- JSON ---- */

void rating_json(struct jw *w, const struct rating *r)
{
	jw_obj(w);
	jw_kstr(w, "dossier_code", r->dossier_code);
	jw_kstr(w, "procedure_code", r->procedure_code);
	jw_kstr(w, "agency_code", r->agency_code);
	jw_kstr(w, "agency_name", r->agency_name);
	jw_key(w, "official");
	if (r->official_user_id) {
		jw_obj(w);
		jw_kint(w, "user_id", r->official_user_id);
		jw_kstr(w, "name", r->official_name);
		jw_obj_end(w);
	} else {
		jw_null(w);
	}
	jw_key(w, "scores");
	jw_obj(w);
	for (int i = 0; i < RATING_NCRITERIA; i++)
		jw_kint(w, rating_criteria[i].key, r->scores[i]);
	jw_obj_end(w);
	jw_kint(w, "total", r->total);
	jw_kint(w, "max_total", RATING_MAX_TOTAL);
	jw_kstr(w, "overall", rating_level_name(r->overall));
	jw_kstr(w, "overall_vi", rating_level_vi(r->overall));
	jw_kstr(w, "overall_en", rating_level_en(r->overall));
	jw_kstr(w, "comment", r->comment);
	jw_ktime(w, "created_at", r->created_at);
	jw_obj_end(w);
}

void rating_criteria_json(struct jw *w)
{
	jw_obj(w);
	jw_key(w, "criteria");
	jw_arr(w);
	for (int i = 0; i < RATING_NCRITERIA; i++) {
		jw_obj(w);
		jw_kint(w, "number", i + 1);
		jw_kstr(w, "key", rating_criteria[i].key);
		jw_kstr(w, "vi", rating_criteria[i].vi);
		jw_kstr(w, "en", rating_criteria[i].en);
		jw_kint(w, "min", 0);
		jw_kint(w, "max", RATING_MAX_SCORE);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "levels");
	jw_arr(w);
	for (int i = 0; i < RL_COUNT; i++) {
		jw_obj(w);
		jw_kstr(w, "key", levels[i].name);
		jw_kstr(w, "vi", levels[i].vi);
		jw_kstr(w, "en", levels[i].en);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kint(w, "max_total", RATING_MAX_TOTAL);
	jw_kstr(w, "basis", "Thông tư 01/2018/TT-VPCP, Điều 25; Nghị định 61/2018/NĐ-CP, Điều 31");
	jw_obj_end(w);
}

/* A ratio as a JSON number with a fixed number of decimals (null when den is 0). */
static void jw_ratio(struct jw *w, const char *key, int64_t num, int64_t den, int decimals)
{
	jw_key(w, key);
	if (den <= 0) {
		jw_null(w);
		return;
	}
	char s[48];
	int n = snprintf(s, sizeof s, "%.*f", decimals, (double)num / (double)den);
	jw_raw(w, s, (size_t)n);
}

static void agg_json(struct jw *w, const struct rating_agg *g)
{
	jw_kint(w, "count", g->count);
	jw_key(w, "averages");
	jw_obj(w);
	for (int i = 0; i < RATING_NCRITERIA; i++)
		jw_ratio(w, rating_criteria[i].key, g->sums[i], g->count, 2);
	jw_obj_end(w);
	jw_ratio(w, "total_average", g->total_sum, g->count, 2);
	jw_key(w, "levels");
	jw_obj(w);
	for (int i = 0; i < RL_COUNT; i++)
		jw_kint(w, levels[i].name, g->levels[i]);
	jw_obj_end(w);
	jw_ratio(w, "satisfied_share", g->levels[RL_VERY_SATISFIED] + g->levels[RL_SATISFIED], g->count, 4);
}

void rating_summary_json(struct jw *w, const struct rating_summary *s, int64_t from_us, int64_t to_us)
{
	jw_obj(w);
	jw_kstr(w, "agency", s->agency);
	jw_ktime(w, "from", from_us);
	jw_ktime(w, "to", to_us);
	jw_kint(w, "max_total", RATING_MAX_TOTAL);
	jw_key(w, "all");
	jw_obj(w);
	agg_json(w, &s->all);
	jw_obj_end(w);
	jw_key(w, "agencies");
	jw_arr(w);
	for (int i = 0; i < s->nagencies; i++) {
		jw_obj(w);
		jw_kstr(w, "code", s->agencies[i].code);
		jw_kstr(w, "name", s->agencies[i].name);
		agg_json(w, &s->agencies[i].agg);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_key(w, "officials");
	jw_arr(w);
	for (int i = 0; i < s->nofficials; i++) {
		const struct rating_official_sum *o = &s->officials[i];
		jw_obj(w);
		jw_kint(w, "user_id", o->user_id);
		jw_kstr(w, "name", o->name);
		jw_kstr(w, "title", o->title);
		jw_kstr(w, "agency_code", o->agency_code);
		agg_json(w, &o->agg);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}
