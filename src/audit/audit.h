/* audit.h: the audit trail, a hash chain of signed entries in the database.
 * Every state change of tinhso appends exactly one entry in the same
 * transaction as the change (so there is never a change without its entry,
 * nor an entry without its change). Entry n's hash covers entry n-1's hash,
 * its sequence number, time, actor, action, object and the SHA-256 of the
 * change document. The newest entry of every committed transaction (on SQLite
 * of every group of writes committed together) is signed with the server's
 * Ed25519 key: that signature covers, through the hashes, the unsigned entries
 * before it, and the chain never ends on an unsigned entry. */
#ifndef TINHSO_AUDIT_H
#define TINHSO_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/err.h"
#include "store/store.h"

/* Appends an entry inside the caller's write transaction. action is
 * "module.verb" (e.g. "agency.create"), object "kind:id", change a JSON
 * document (may be "{}"; must not hold secrets such as password hashes). */
int audit_append(struct store_tx *tx, const struct ctx *c, const char *action, const char *object,
		 const char *change_json, struct err *e);

struct audit_verify_result {
	int64_t entries;     /* entries checked */
	int64_t first_bad;   /* seq of the first bad entry, 0 when all good */
	char problem[256];   /* what was wrong with it */
};

/* Re-checks the whole chain: sequence without gaps, each prev_hash, each hash
 * recomputed, each signature against the public key, the newest entry
 * signed, and the head row.
 * Returns 0 when intact, ERR_CONFLICT when something was altered, removed or
 * reordered (details in *res), other errors when it could not check. */
int audit_verify(struct app *app, struct audit_verify_result *res, struct err *e);

struct audit_filter {
	const char *actor, *object, *action; /* exact matches; NULL = any */
	int64_t from_us, to_us;		     /* 0 = open */
	int page, per_page;
};

struct audit_entry {
	int64_t seq, at;
	char *actor, *action, *object, *change, *request_id, *hash, *prev_hash, *signature, *key_id;
};

/* Lists entries newest first; admins only (ERR_FORBIDDEN otherwise). Strings in c->a. */
int audit_list(const struct ctx *c, const struct audit_filter *f, struct audit_entry **out, int *n, int64_t *total,
	       struct err *e);

#endif
