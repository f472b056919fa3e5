/* web_draft.h: server-side drafts of online applications (table web_drafts,
 * files under DATA/drafts/<id>/), so that the step-by-step form needs no
 * JavaScript and loses nothing between pages or after a failed submit. A
 * draft belongs to the citizen who started it: anyone else is told it does
 * not exist. Drafts untouched for WEB_DRAFT_TTL_DAYS are swept. */
#ifndef TINHSO_WEB_DRAFT_H
#define TINHSO_WEB_DRAFT_H

#include <jansson.h>
#include <stdint.h>

#include "app/app.h"

enum { WEB_DRAFT_TTL_DAYS = 30, WEB_DRAFT_MAX_PER_USER = 20, WEB_DRAFT_MAX_FILES = 40 };

struct web_draft {
	char *id;
	int64_t user_id;
	char *procedure_code, *agency_code; /* agency_code NULL until chosen */
	json_t *answers; /* owned: {input name: text as typed} */
	json_t *files;	 /* owned: [{doc, filename, stored, size, sha256}] */
	int64_t created_at, updated_at;
};

/* Starts a draft of procedure_code for c->who (a citizen); keeps at most
 * WEB_DRAFT_MAX_PER_USER per user (the oldest go). *id in c->a. */
int draft_create(const struct ctx *c, const char *procedure_code, char **id, struct err *e);
/* Reads the caller's draft; ERR_NOT_FOUND when it is not theirs or gone. */
int draft_get(const struct ctx *c, const char *id, struct web_draft *out, struct err *e);
/* Writes agency_code, answers and files back. */
int draft_save(const struct ctx *c, const struct web_draft *d, struct err *e);
/* Deletes the draft and its files. */
int draft_delete(const struct ctx *c, const struct web_draft *d, struct err *e);
void draft_release(struct web_draft *d);
/* The directory of a draft's files (in a). */
char *draft_dir(struct app *app, const char *id, struct arena *a);
/* The caller's drafts, newest first: [{id, procedure_code, procedure_name, updated_at (us)}]. New reference. */
int draft_list(const struct ctx *c, json_t **out, struct err *e);
/* Removes drafts older than the TTL, rows and files. Returns how many. */
int draft_sweep(struct app *app, struct err *e);
/* True when s looks like a draft id. */
bool draft_id_valid(const char *s);

#endif
