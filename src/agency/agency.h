/* agency.h: administrative units and agencies as data: code (national agency
 * code, Decision 20/2020 format "000.00.00.H23"), name, level (one of the
 * configured levels), kind, parent. Each row keeps its path from the root
 * ('/root/child/.../code/') so that "this agency and its sub-units" — an
 * official's scope — is a prefix test. Reading is public; changes are for
 * admins and audited. */
#ifndef TINHSO_AGENCY_H
#define TINHSO_AGENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/json.h"

struct agency {
	char *code, *name, *name_en, *level, *kind, *parent, *path;
	bool sample;
	int64_t created_at, updated_at;
};

/* Input of create/update; NULL fields are left unchanged on update. */
struct agency_in {
	const char *code, *name, *name_en, *level, *kind, *parent;
	bool parent_given; /* update: parent set (possibly to null: a new root) */
	bool sample;
};

bool agency_code_valid(const char *code);
bool agency_kind_valid(const char *kind);

/* Records every invalid field of in (create: all required) with err_field; returns nothing:
 * call err_fields_done(e) after. The create/update functions run it themselves. */
void agency_validate(const struct ctx *c, const struct agency_in *in, bool create, struct err *e);

int agency_get(const struct ctx *c, const char *code, struct agency *out, struct err *e);
/* Lists by level and/or parent (NULL = any), and q (matches code or name, accents ignored). */
int agency_list(const struct ctx *c, const char *level, const char *parent, const char *q, int page, int per_page,
		struct agency **out, int *n, int64_t *total, struct err *e);
/* Admins only; validates every field (ERR_INVALID naming them); ERR_CONFLICT when the code exists. */
int agency_create(const struct ctx *c, const struct agency_in *in, struct agency *out, struct err *e);
/* Admins only; moving under a new parent moves the whole subtree (never under itself). */
int agency_update(const struct ctx *c, const char *code, const struct agency_in *in, struct agency *out,
		  struct err *e);
/* Inside a transaction: the path of an agency (into a), 0 when absent. */
int agency_path_tx(struct store_tx *tx, const char *code, struct arena *a, char **path, struct err *e);

/* Loads the demo province (the 2021 three levels, or the 2025 two levels when
 * "district" is not configured). Idempotent: existing codes are kept.
 * Returns the number of agencies added. Audited as one entry. */
int agency_load_demo(const struct ctx *c, struct err *e);

void agency_json(struct jw *w, const struct agency *a);


#endif
