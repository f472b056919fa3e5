/* procedure.h: the catalogue of administrative procedures (thủ tục hành
 * chính): national code, name, field, the levels and agencies that handle it,
 * online level, processing time in working days, fees, required documents,
 * typed form fields, result documents and the workflow of steps. Reading is
 * public; admins create and update (audited); JSON import and export. The
 * whole procedure is kept as one JSON document (procedures.doc) plus the
 * columns that are searched; procedure_parse turns the document into the
 * struct the dossier module works with. */
#ifndef TINHSO_PROCEDURE_H
#define TINHSO_PROCEDURE_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/json.h"
#include "identity/identity.h"

/* Every dossier action of DESIGN.md §4; workflow steps list those allowed there. */
enum proc_action {
	PA_RECEIVE,
	PA_REFUSE,
	PA_REQUEST_SUPPLEMENT,
	PA_SUPPLEMENT,
	PA_FORWARD,
	PA_REQUEST_PAYMENT,
	PA_APPROVE,
	PA_REJECT,
	PA_ISSUE_RESULT,
	PA_RETURN_RESULT,
	PA_WITHDRAW,
	PA_STOP,
	PA_EXTEND,
	PA_COUNT
};
const char *proc_action_name(enum proc_action a); /* "receive", ... */
int proc_action_parse(const char *s);		   /* -1 when unknown */

enum proc_online { PROC_ONLINE_FULL, PROC_ONLINE_PARTIAL, PROC_ONLINE_NONE };
const char *proc_online_name(enum proc_online o);

enum proc_field_type { PF_TEXT, PF_NUMBER, PF_DATE, PF_SELECT, PF_CCCD, PF_TAX_CODE, PF_PHONE, PF_ADDRESS, PF_EMAIL };

/* File types a document accepts (bitmask), checked against the content. */
enum { PROC_T_PDF = 1, PROC_T_JPG = 2, PROC_T_PNG = 4 };

struct proc_document {
	char *name, *name_en;
	bool required;
	int copies;
	unsigned types;	    /* PROC_T_* */
	int max_mb;
	char *ecopy_source; /* national database that can replace it (population, business, land ...), or NULL */
};

struct proc_field {
	char *name, *label, *label_en;
	enum proc_field_type type;
	bool required;
	char **options; /* PF_SELECT */
	int noptions;
};

struct proc_fee {
	char *name;
	int64_t amount; /* VND */
	char *note;
};

struct proc_result {
	char *name, *name_en;
};

struct proc_step {
	char *step; /* receive | process | approve | return | ... */
	char *name, *name_en;
	enum role role;	 /* official or leader */
	char *level;	 /* administrative level that performs it */
	int share;	 /* percent of the deadline; the steps sum to 100 */
	unsigned actions; /* bitmask of 1u << enum proc_action */
};

struct procedure {
	char *code, *name, *name_en, *field, *field_en;
	char **levels;
	int nlevels;
	char *handled_by; /* commune_ubnd | district_ubnd | province_ubnd | department:<agency code> */
	enum proc_online online;
	int processing_days;
	struct proc_fee *fees;
	int nfees;
	struct proc_document *documents;
	int ndocuments;
	struct proc_field *fields;
	int nfields;
	struct proc_result *results;
	int nresults;
	struct proc_step *steps;
	int nsteps;
	char *legal_basis;
	bool active;
	int64_t created_at, updated_at;
	char *doc; /* the JSON document as stored (NULL in procedure_list items) */
	/* added for the catalogue's lists (kept after the fields above): */
	bool code_is_sample;	 /* the code is illustrative, not the national one */
	char *note, *note_en;	 /* NULL when absent */
	int64_t fee_min, fee_max; /* smallest and largest fee case (0 when none) */
};

/* Validates a procedure document (every rule: code format, levels configured,
 * shares summing to 100, known actions and roles, field types, select options,
 * handled_by agency existing when given ...) and parses it into p (strings in
 * a). ERR_INVALID naming each bad field by path ("workflow[2].share"). */
int procedure_parse(const struct ctx *c, json_t *doc, struct procedure *p, struct err *e);

int procedure_get(const struct ctx *c, const char *code, struct procedure *out, struct err *e);
/* Inside a transaction (for the dossier module). Returns 1 found, 0 not, < 0 error. */
int procedure_get_tx(struct store_tx *tx, struct arena *a, const char *code, struct procedure *out, struct err *e);

/* The document rules (procedure_parse checks them all, naming each bad field by path):
 *   code ^[0-9]\.[0-9]{6}$; name, field, legal_basis: text (name_en, field_en, note,
 *   note_en optional); levels: 1.. distinct configured levels; handled_by:
 *   <level>_ubnd with <level> among the levels, or department:<existing agency
 *   code>; online full|partial|none; processing_days 1..365; fees [{name,
 *   amount 0..10^12 VND integer, note?}]; documents [{name, name_en?, required,
 *   copies 1..100, types ⊆ {pdf,jpg,png} non-empty, max_mb 1..100, ecopy_source?
 *   null|population|business|land|judicial|insurance}]; form_fields [{name
 *   snake_case unique, label, label_en?, type, required, options (select only,
 *   non-empty, unique)}]; results 1.. [{name, name_en?}]; workflow 2..20 steps
 *   [{step (snake_case), name, name_en?, role official|leader, level (one of the
 *   procedure's levels), share 1..100 (all summing to 100), actions (known,
 *   unique, non-empty)}], the first step allowing receive, some step approve,
 *   the last step return_result; code_is_sample optional boolean. Unknown keys
 *   are refused, except created_at and updated_at (what GET answers), which
 *   are dropped. The stored document is canonical: compact, keys sorted.
 * procedure_list items carry only the searched columns (code, names, field,
 * levels, handled_by, online, processing_days, fee_min/max, code_is_sample,
 * timestamps): doc, fees, documents, fields, results and steps are empty. */

struct procedure_filter {
	const char *q;	    /* accent-insensitive, in name or code */
	const char *field;
	const char *level;
	const char *online; /* full | partial | none */
	int page, per_page;
};
int procedure_list(const struct ctx *c, const struct procedure_filter *f, struct procedure **out, int *n,
		   int64_t *total, struct err *e);

/* The distinct fields of the active procedures (optionally of one level) with
 * how many procedures each has, sorted by the folded Vietnamese name. */
struct procedure_field_count {
	char *field, *field_en;
	int64_t count;
};
int procedure_fields(const struct ctx *c, const char *level, struct procedure_field_count **out, int *n,
		     struct err *e);

/* Admins: create (ERR_CONFLICT when the code exists) or replace. Audited. */
int procedure_create(const struct ctx *c, json_t *doc, struct procedure *out, struct err *e);
int procedure_update(const struct ctx *c, const char *code, json_t *doc, struct procedure *out, struct err *e);
/* Imports a JSON array of procedures (create or replace each), all or nothing;
 * returns the count. Errors name fields by "[index].path". Each created or
 * changed procedure gets one procedure.import audit entry (identical ones are
 * left alone). */
int procedure_import(const struct ctx *c, json_t *list, struct err *e);
/* Writes every active procedure as a JSON array (the import format). */
int procedure_export(const struct ctx *c, struct buf *out, struct err *e);
/* Loads the demo catalogue (data/demo/procedures.json) when absent; returns
 * the number added. Admins only; one procedure.demo_load audit entry. Without
 * a "district" level (the 2025 two-level model), the district part of a demo
 * procedure moves to the commune (as the 2025 reform did); a procedure whose
 * levels are still not configured is skipped. Load the demo agencies first. */
int procedure_load_demo(const struct ctx *c, struct err *e);

/* Sum of the fee amounts. */
int64_t procedure_fee_total(const struct procedure *p);
/* The full JSON of a procedure for the API (the document plus code and timestamps). */
void procedure_json(struct jw *w, const struct procedure *p);
/* A short JSON summary for lists. */
void procedure_summary_json(struct jw *w, const struct procedure *p);

#endif
