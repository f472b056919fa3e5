/* dossier.h: dossiers (hồ sơ) and their lifecycle, from submission to the
 * returned result, on the procedure's workflow and the province's calendar.
 *
 * Who may see a dossier: its applicant; admins; officials and leaders whose
 * scope contains an agency the dossier passed through (receiving agency,
 * every agency it was forwarded to). Anyone else gets ERR_NOT_FOUND, exactly
 * as for a code that does not exist.
 *
 * Every change is one domain function: it checks the caller's authority, the
 * current status and the workflow step, then in one write transaction updates
 * the dossier (optimistic version check: of two officials acting at once one
 * wins, the other gets ERR_INVALID_TRANSITION), records the step (actor, title,
 * department, time, note, status, step start and deadline), appends the audit
 * entry and queues the notifications. */
#ifndef TINHSO_DOSSIER_H
#define TINHSO_DOSSIER_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/json.h"
#include "http/http.h"
#include "procedure/procedure.h"

enum dossier_status {
	DS_SUBMITTED = 1,
	DS_RECEIVED = 2,
	DS_REFUSED = 3,
	DS_PROCESSING = 4,
	DS_SUPPLEMENT_REQUESTED = 5,
	DS_PAYMENT_REQUESTED = 6,
	DS_WITHDRAWAL_REQUESTED = 7,
	DS_STOPPED = 8,
	DS_RESOLVED = 9,
	DS_RETURNED = 10,
};
const char *dossier_status_name(int status);	/* "submitted", ... */
const char *dossier_status_vi(int status);	/* "Mới đăng ký", ... */
int dossier_status_parse(const char *s);	/* name or number; -1 when unknown */

struct dossier {
	char *code, *procedure_code, *procedure_name, *agency_code, *agency_name, *current_agency, *channel;
	int status;
	char *outcome; /* approved | rejected | NULL */
	int step;
	int64_t applicant_user_id;
	char *applicant_name, *applicant_id_number, *applicant_phone, *applicant_email, *applicant_address;
	char *form; /* JSON */
	int64_t assignee_user_id;
	int64_t submitted_at, received_at, due_at, step_started_at, step_due_at, paused_at, paused_remaining_us;
	int resume_status;
	int64_t resolved_at, returned_at, fee_total, fee_paid;
	int version;
	int64_t created_at, updated_at;
	char *deadline_state; /* on_time | due_soon | overdue | paused | none */
	char *receipt_url;    /* dossier_get: the signed public link printed on the receipt (once received) */
};

struct dossier_file {
	int64_t id;
	char *kind, *doc_name, *filename, *content_type, *sha256, *stored_name;
	int64_t size, created_at;
};

struct dossier_step {
	int64_t id;
	char *action, *title, *title_en, *actor_name, *actor_title, *agency_code, *agency_name, *note, *detail;
	int64_t actor_user_id, at, step_started_at, step_due_at;
	int status_from, status_to;
};

/* A file received with a request (already on disk, hashed). */
struct dossier_upload {
	int doc_index;	   /* index into the procedure's documents; -1 for result/supplement files */
	const char *filename;
	const char *path;  /* temporary file; taken over (renamed) on success */
	int64_t size;
	const char *sha256;
};

struct dossier_new {
	const char *procedure_code;
	const char *agency_code; /* receiving agency */
	const char *channel;	 /* online (citizens) | direct | postal (officials' intake) */
	json_t *form;		 /* object of the procedure's form fields */
	/* applicant: taken from the citizen's account online; given by the official at the desk */
	const char *applicant_name, *applicant_id_number, *applicant_phone, *applicant_email, *applicant_address;
	const char *idempotency_key; /* NULL or the Idempotency-Key header */
	const char *to_agency;	     /* intake: the agency of the first processing step, when not implied */
	struct dossier_upload *uploads;
	int nuploads;
};

/* Submits (citizen, online) or records an intake (official, direct/postal:
 * received at once). Returns 1 when created, 0 when the idempotency key
 * matched an earlier submission (out is that dossier), < 0 on error. */
int dossier_submit(const struct ctx *c, const struct dossier_new *in, struct dossier *out, struct err *e);

int dossier_get(const struct ctx *c, const char *code, struct dossier *out, struct err *e);

struct dossier_filter {
	int status;	       /* 0 = any */
	const char *agency;    /* in this agency's subtree */
	bool assignee_me;
	int overdue;	       /* -1 any, 1 overdue only, 0 not overdue */
	bool due_soon;
	const char *q;	       /* code or applicant name (accents ignored) */
	const char *procedure;
	bool mine;	       /* citizens: their own (always on for citizens) */
	int page, per_page;
};
int dossier_list(const struct ctx *c, const struct dossier_filter *f, struct dossier **out, int *n, int64_t *total,
		 struct err *e);

struct dossier_action {
	enum proc_action action;
	const char *note;
	const char *reason;	  /* refuse, reject, stop, extend, request_supplement (what to add) */
	const char *to_agency;	  /* forward: the agency to send to (when the next step is elsewhere) */
	int64_t new_due_at;	  /* extend */
	int64_t amount;		  /* request_payment (0 = the procedure's fees) */
	struct dossier_upload *uploads; /* supplement (applicant) or issue_result (result documents) */
	int nuploads;
	int expected_version;	  /* 0 = current */
};
/* Applies one action. ERR_INVALID_TRANSITION (and no change) when the action
 * is not allowed from the status, for the caller's role, at the caller's
 * agency, or on the current workflow step. */
int dossier_act(const struct ctx *c, const char *code, const struct dossier_action *act, struct dossier *out,
		struct err *e);

/* For pages. Checks a form against the procedure's fields exactly as
 * dossier_submit does (ERR_INVALID naming "form.<field>" for each problem,
 * required ones included; ERR_NOT_FOUND for an unknown procedure) and changes
 * nothing: a step-by-step form checks each page's answers with it. */
int dossier_form_check(const struct ctx *c, const char *procedure_code, json_t *form, struct err *e);
/* The actions c->who may take on d (as dossier_get returned it) right now, as
 * a bitmask of 1u << enum proc_action, by the tests dossier_act applies (role,
 * scope of the current agency, workflow step, status): what a page offers.
 * dossier_act still decides. */
int dossier_actions_allowed(const struct ctx *c, const struct dossier *d, unsigned *mask, struct err *e);

int dossier_history(const struct ctx *c, const char *code, struct dossier_step **out, int *n, struct err *e);
int dossier_files(const struct ctx *c, const char *code, struct dossier_file **out, int *n, struct err *e);
/* Checks access and returns the file's row and its path on disk (in c->a). */
int dossier_file_open(const struct ctx *c, const char *code, int64_t id, struct dossier_file *out, char **path,
		      struct err *e);

/* Public lookup with a second factor: the last 4 digits of the applicant's
 * identity number or phone. "No such code" and "wrong digits" answer alike
 * (ERR_NOT_FOUND). Rate limiting is the caller's (per client address). */
int dossier_lookup(const struct ctx *c, const char *code, const char *last4, struct dossier *out,
		   struct dossier_step **steps, int *nsteps, struct err *e);

/* Called by the payment module inside its write transaction when the gateway
 * confirmed a payment: adds to fee_paid and, when the dossier waits on
 * payment and is paid in full, resumes it (status and clock). */
int dossier_payment_received_tx(struct store_tx *tx, const struct ctx *c, const char *code, int64_t amount,
				struct err *e);
/* For other modules' authorization: 1 when the caller may see the dossier, 0 when not (treat as not found). */
int dossier_visible_tx(struct store_tx *tx, const struct ctx *c, const char *code, struct err *e);

void dossier_json(struct jw *w, const struct dossier *d);
void dossier_step_json(struct jw *w, const struct dossier_step *s);
void dossier_file_json(struct jw *w, const char *dossier_code, const struct dossier_file *f);

/* Removes files under DATA/files that no dossier references (left by a crash
 * between storing a file and committing its dossier). Run at start. */
int dossier_sweep_orphans(struct app *app, struct err *e);

#endif
