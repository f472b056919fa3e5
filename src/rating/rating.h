/* rating.h: the applicant's satisfaction rating of a dossier's handling
 * (phiếu đánh giá, Circular 01/2018/TT-VPCP Điều 25, on the criteria of
 * Decree 61/2018/NĐ-CP Điều 31): nine criteria scored 0..2 (18 at most) and
 * an overall level (rất hài lòng / hài lòng / không hài lòng), once per
 * dossier, by its applicant, after the result (status 9 or 10).
 *
 * Each rating is attributed to the agency that held the dossier at the result
 * (its current agency) and to the official who issued or returned the result
 * (the actor of the dossier's last issue_result or return_result step; none
 * when the dossier was resolved by a rejection and not yet returned).
 * Summaries aggregate them per agency and per official for officials (their
 * scope), leaders and admins. */
#ifndef TINHSO_RATING_H
#define TINHSO_RATING_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/err.h"
#include "base/json.h"

enum {
	RATING_NCRITERIA = 9,
	RATING_MAX_SCORE = 2,
	RATING_MAX_TOTAL = RATING_NCRITERIA * RATING_MAX_SCORE,
	RATING_COMMENT_MAX = 2000, /* bytes */
	RATING_UNSET = -1,	   /* rating_new.scores: not given */
	RATING_BAD = -2,	   /* rating_new.scores: given, not an integer */
};

struct rating_criterion {
	const char *key; /* API name, e.g. "total_time" */
	const char *vi;	 /* as the circular words it */
	const char *en;
};
/* The nine criteria in the circular's order. */
extern const struct rating_criterion rating_criteria[RATING_NCRITERIA];
/* Index of a criterion key, or -1. */
int rating_criterion_index(const char *key);

enum rating_level { RL_VERY_SATISFIED, RL_SATISFIED, RL_NOT_SATISFIED, RL_COUNT };
const char *rating_level_name(int level); /* "very_satisfied" | "satisfied" | "not_satisfied" */
const char *rating_level_vi(int level);	  /* "Rất hài lòng" | "Hài lòng" | "Không hài lòng" */
const char *rating_level_en(int level);
int rating_level_parse(const char *s); /* the name; -1 when unknown */

struct rating_new {
	int scores[RATING_NCRITERIA]; /* 0..2, or RATING_UNSET / RATING_BAD */
	const char *overall;	      /* a level name */
	const char *comment;	      /* NULL or text (newlines allowed) */
};

/* Adds a field problem to e for each bad part of in ("scores.<key>" for a
 * missing or out-of-range score, "scores" when none is given and e does not
 * name "scores" already, "overall", "comment") and returns err_fields_done(e):
 * the caller may have added its own field problems before. */
int rating_validate(const struct rating_new *in, struct err *e);

struct rating {
	char *dossier_code, *procedure_code, *agency_code, *agency_name;
	int64_t official_user_id; /* 0 when none */
	char *official_name;
	int scores[RATING_NCRITERIA];
	int total;
	int overall; /* enum rating_level */
	char *comment;
	int64_t rated_by, created_at;
};

/* Records the rating of dossier code by c->who. ERR_NOT_FOUND when the caller
 * may not see the dossier (dossier_visible_tx); ERR_FORBIDDEN when the caller
 * sees it but is not its applicant; ERR_INVALID_TRANSITION when the dossier
 * has no result yet (status other than 9 and 10) or is already rated (also
 * under concurrency: exactly one of two rates wins); ERR_INVALID as
 * rating_validate. In one transaction with its audit entry "rating.create"
 * (object "dossier:<code>"). out (strings in c->a) is the rating as stored. */
int rating_create(const struct ctx *c, const char *code, const struct rating_new *in, struct rating *out,
		  struct err *e);

/* The rating of dossier code, for whoever may see the dossier (ERR_NOT_FOUND
 * otherwise, and when it is not rated yet). Strings in c->a. */
int rating_get(const struct ctx *c, const char *code, struct rating *out, struct err *e);

struct rating_agg {
	int64_t count;
	int64_t sums[RATING_NCRITERIA]; /* per criterion */
	int64_t total_sum;		/* of the 0..18 totals */
	int64_t levels[RL_COUNT];	/* how many chose each overall level */
};

struct rating_agency_sum {
	char *code, *name;
	struct rating_agg agg;
};

struct rating_official_sum {
	int64_t user_id;
	char *name, *title, *agency_code;
	struct rating_agg agg;
};

struct rating_filter {
	const char *agency; /* ratings of this agency's subtree; NULL: the caller's agency (admins: all) */
	int64_t from_us;    /* created_at >= from_us; 0 = open */
	int64_t to_us;	    /* created_at <= to_us; 0 = open */
};

struct rating_summary {
	const char *agency; /* the subtree summarised; NULL = all */
	struct rating_agg all;
	struct rating_agency_sum *agencies; /* ordered by agency code */
	int nagencies;
	struct rating_official_sum *officials; /* ordered by user id */
	int nofficials;
};

/* Aggregates ratings per agency (each agency with ratings in the subtree) and
 * per official. Officials and leaders: their own agency's subtree by default,
 * an agency outside their scope is ERR_FORBIDDEN; admins: everything by
 * default; citizens ERR_FORBIDDEN. An unknown agency is ERR_INVALID naming
 * "agency". Arrays and strings in c->a. */
int rating_summary(const struct ctx *c, const struct rating_filter *f, struct rating_summary *out, struct err *e);

/* {"dossier_code", "procedure_code", "agency_code", "agency_name",
 *  "official": {"user_id", "name"} | null, "scores": {key: 0..2},
 *  "total", "max_total", "overall", "overall_vi", "overall_en", "comment",
 *  "created_at"} */
void rating_json(struct jw *w, const struct rating *r);
/* {"criteria": [{"number", "key", "vi", "en", "min", "max"}], "levels": [{"key", "vi", "en"}],
 *  "max_total", "basis"} */
void rating_criteria_json(struct jw *w);
/* {"agency", "from", "to", "max_total", "all": AGG, "agencies": [{"code", "name", AGG...}],
 *  "officials": [{"user_id", "name", "title", "agency_code", AGG...}]}; AGG is
 *  "count", "averages" {key: avg}, "total_average", "levels" {name: n},
 *  "satisfied_share" (very satisfied or satisfied / count, 0..1; null when count is 0) */
void rating_summary_json(struct jw *w, const struct rating_summary *s, int64_t from_us, int64_t to_us);

#endif
