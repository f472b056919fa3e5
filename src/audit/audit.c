/* audit.c: the hash-chained, signed audit trail. */
#include "audit/audit.h"

#include <string.h>

#include "base/buf.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "identity/identity.h"

/* The bytes an entry's hash covers: each field length-prefixed, so no choice
 * of field contents can make two different entries hash alike. */
static void audit_hash(const char *prev_hash, int64_t seq, int64_t at, const char *actor, const char *action,
		       const char *object, const char *digest, char out[65])
{
	struct buf b = BUF_INIT;
	const char *fields[] = {prev_hash, actor, action, object, digest};
	buf_puts(&b, "tinhso-audit-v1|");
	buf_put_int(&b, seq);
	buf_putc(&b, '|');
	buf_put_int(&b, at);
	buf_putc(&b, '|');
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		size_t n = strlen(fields[i]);
		buf_put_int(&b, (int64_t)n);
		buf_putc(&b, ':');
		buf_append(&b, fields[i], n);
		buf_putc(&b, '|');
	}
	crypto_sha256_hex(b.ptr, b.len, out);
	buf_free(&b);
}

/* Once per committed transaction (on SQLite once per group of writes
 * committed together): signs the newest entry of the chain and records it as
 * the head. Its signature covers every unsigned entry before it through the
 * hashes, as the LGSP message log and X-Road sign a batch of records at once;
 * so the chain never ends on an unsigned entry, and one Ed25519 signature and
 * one head update serve the whole group. */
static int newest_entry(struct store_tx *tx, int64_t *seq, char hash[65], struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", NOARGS, &q, e);
	*seq = 0;
	str_copy(hash, 65, "0000000000000000000000000000000000000000000000000000000000000000");
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		*seq = store_int(q, 0);
		str_copy(hash, 65, store_text(q, 1));
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

static int sign_head(struct store_tx *tx, void *arg, struct err *e)
{
	const struct keys *k = arg;
	int64_t seq;
	char hash[65];
	int rc = newest_entry(tx, &seq, hash, e);
	if (rc < 0)
		return rc;
	if (seq == 0)
		return 0; /* the group's entries were all rolled back, and the chain is empty */
	struct buf sig = BUF_INIT;
	keys_sign_hex(k, hash, 64, &sig);
	rc = store_exec(tx, "UPDATE audit_log SET signature = $1, key_id = $2 WHERE seq = $3 AND signature IS NULL",
			ARGS(SA_TEXT(sig.ptr), SA_TEXT(k->key_id), SA_INT(seq)), e);
	buf_free(&sig);
	if (rc >= 0)
		rc = store_exec(tx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
				ARGS(SA_INT(seq), SA_TEXT(hash)), e);
	return rc < 0 ? rc : 0;
}

int audit_append(struct store_tx *tx, const struct ctx *c, const char *action, const char *object,
		 const char *change_json, struct err *e)
{
	int rc;
	/* on PostgreSQL the head row's lock orders concurrent appends; SQLite has
	 * one writer */
	if (store_tx_kind(tx) == STORE_POSTGRES &&
	    (rc = store_exec(tx, "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", NOARGS, e)) < 0)
		return rc;
	/* the newest entry, which may be one of this transaction's (the head row
	 * moves once per commit, in sign_head) */
	int64_t seq;
	char prev[65];
	if ((rc = newest_entry(tx, &seq, prev, e)) < 0)
		return rc;
	seq++;
	int64_t at = time_now_us();
	const char *actor = c && c->actor ? c->actor : "system";
	if (!change_json)
		change_json = "{}";
	char digest[65], hash[65];
	crypto_sha256_hex(change_json, strlen(change_json), digest);
	audit_hash(prev, seq, at, actor, action, object, digest, hash);
	/* signed by sign_head() when the transaction commits, unless a later entry
	 * of the same commit is signed instead */
	rc = store_exec(tx,
			"INSERT INTO audit_log (seq, at, actor, action, object, change_digest, change, request_id, "
			"prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			ARGS(SA_INT(seq), SA_INT(at), SA_TEXT(actor), SA_TEXT(action), SA_TEXT(object), SA_TEXT(digest),
			     SA_TEXT(change_json), SA_TEXT(c ? c->request_id : NULL), SA_TEXT(prev), SA_TEXT(hash)),
			e);
	if (rc < 0)
		return rc;
	return store_before_commit(tx, sign_head, (void *)&c->app->keys, e);
}

struct verify_ctx {
	struct app *app;
	struct audit_verify_result *res;
};

static int bad(struct audit_verify_result *res, int64_t seq, const char *what)
{
	if (!res->first_bad) {
		res->first_bad = seq;
		str_copy(res->problem, sizeof res->problem, what);
	}
	return 0;
}

static int verify_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct verify_ctx *v = arg;
	struct audit_verify_result *res = v->res;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT seq, at, actor, action, object, change_digest, change, prev_hash, hash, key_id, "
			     "signature FROM audit_log ORDER BY seq",
			     NOARGS, &q, e);
	if (rc < 0)
		return rc;
	char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
	int64_t expect = 1, unsigned_from = 0;
	while ((rc = store_step(q, e)) == 1) {
		int64_t seq = store_int(q, 0);
		res->entries++;
		if (res->first_bad)
			continue;
		char digest[65], hash[65], msg[200];
		if (seq != expect) {
			snprintf(msg, sizeof msg, "expected entry %lld, found %lld: entries were removed or reordered",
				 (long long)expect, (long long)seq);
			bad(res, expect, msg);
			continue;
		}
		const char *change = store_text(q, 6);
		crypto_sha256_hex(change, (size_t)store_textlen(q, 6), digest);
		if (strcmp(digest, store_text(q, 5)) != 0) {
			bad(res, seq, "the change document does not match its digest: it was altered");
			continue;
		}
		if (strcmp(prev, store_text(q, 7)) != 0) {
			bad(res, seq, "prev_hash does not match the previous entry: the chain was broken");
			continue;
		}
		audit_hash(prev, seq, store_int(q, 1), store_text(q, 2), store_text(q, 3), store_text(q, 4), digest,
			   hash);
		if (strcmp(hash, store_text(q, 8)) != 0) {
			bad(res, seq, "the entry's fields do not match its hash: it was altered");
			continue;
		}
		const char *sig = store_text(q, 10); /* NULL reads "" */
		if (!*sig) {
			if (!unsigned_from)
				unsigned_from = seq; /* covered by the next signed entry */
		} else if (strcmp(store_text(q, 9), v->app->keys.key_id) != 0) {
			bad(res, seq, "signed by an unknown key");
			continue;
		} else if (!crypto_verify_hex(v->app->keys.pk, hash, 64, sig)) {
			bad(res, seq,
			    "the signature does not verify with the server's public key: this entry or an unsigned one "
			    "before it was altered");
			continue;
		} else {
			unsigned_from = 0;
		}
		str_copy(prev, sizeof prev, hash);
		expect++;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	if (!res->first_bad && unsigned_from)
		bad(res, unsigned_from, "the chain ends on entries no signature covers: the signed newest entry was removed");
	if (!res->first_bad) {
		int64_t head_seq = 0;
		char *head_hash = NULL;
		struct arena a = ARENA_INIT;
		rc = store_get_int(tx, "SELECT seq FROM audit_head WHERE id = 1", NOARGS, &head_seq, e);
		if (rc >= 0)
			rc = store_get_text(tx, "SELECT hash FROM audit_head WHERE id = 1", NOARGS, &a, &head_hash, e);
		if (rc >= 0 && (head_seq != expect - 1 || !head_hash || strcmp(head_hash, prev) != 0))
			bad(res, expect,
			    "the chain ends before the recorded head: the newest entries were removed or replaced");
		arena_free(&a);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int audit_verify(struct app *app, struct audit_verify_result *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	struct verify_ctx v = {app, res};
	int rc = store_read(app->db, verify_fn, &v, e);
	if (rc < 0)
		return rc;
	if (res->first_bad)
		return err_set(e, ERR_CONFLICT, "audit entry %lld: %s", (long long)res->first_bad, res->problem);
	return 0;
}

struct list_ctx {
	const struct ctx *c;
	const struct audit_filter *f;
	struct audit_entry *items;
	int n;
	int64_t total;
};

/* The filters are optional conditions (store.h), so that the planner sees
 * only those given and can use the indexes; a "($1 IS NULL OR actor = $1)"
 * clause hides them from SQLite's, and open time bounds made it sort the whole
 * log by seq. Of actor, object and action the most selective one given
 * (object, then actor, then action) is the one left indexable: the others are
 * compared as "col || '' = $n", which no index serves on either database, as
 * SQLite has no statistics to tell that an action matches far more entries
 * than an object. $1 from, $2 to, $3 actor, $4 object, $5 action. */
#define AUDIT_TIME " [[AND at >= $1]] [[AND at <= $2]]"
#define AUDIT_WHERE_OBJECT " WHERE object = $4" AUDIT_TIME " [[AND actor || '' = $3]] [[AND action || '' = $5]]"
#define AUDIT_WHERE_ACTOR " WHERE actor = $3" AUDIT_TIME " [[AND action || '' = $5]]"
#define AUDIT_WHERE_ACTION " WHERE action = $5" AUDIT_TIME
#define AUDIT_WHERE_NONE " WHERE 1 = 1" AUDIT_TIME
#define AUDIT_COLS "seq, at, actor, action, object, change, request_id, hash, prev_hash, signature, key_id"
static const char *const audit_count[] = {
    "SELECT count(*) FROM audit_log" AUDIT_WHERE_OBJECT, "SELECT count(*) FROM audit_log" AUDIT_WHERE_ACTOR,
    "SELECT count(*) FROM audit_log" AUDIT_WHERE_ACTION, "SELECT count(*) FROM audit_log" AUDIT_WHERE_NONE};
static const char *const audit_page[] = {
    "SELECT " AUDIT_COLS " FROM audit_log" AUDIT_WHERE_OBJECT " ORDER BY seq DESC LIMIT $6 OFFSET $7",
    "SELECT " AUDIT_COLS " FROM audit_log" AUDIT_WHERE_ACTOR " ORDER BY seq DESC LIMIT $6 OFFSET $7",
    "SELECT " AUDIT_COLS " FROM audit_log" AUDIT_WHERE_ACTION " ORDER BY seq DESC LIMIT $6 OFFSET $7",
    "SELECT " AUDIT_COLS " FROM audit_log" AUDIT_WHERE_NONE " ORDER BY seq DESC LIMIT $6 OFFSET $7"};

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	const struct audit_filter *f = l->f;
	int v = f->object ? 0 : f->actor ? 1 : f->action ? 2 : 3;
	struct store_arg args[] = {f->from_us ? SA_INT(f->from_us) : SA_NULL,
				   f->to_us ? SA_INT(f->to_us) : SA_NULL,
				   SA_TEXT(f->actor),
				   SA_TEXT(f->object),
				   SA_TEXT(f->action),
				   SA_INT(f->per_page),
				   SA_INT((int64_t)(f->page - 1) * f->per_page)};
	int rc = store_get_int(tx, audit_count[v], args, 5, &l->total, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	rc = store_query(tx, audit_page[v], args, 7, &q, e);
	if (rc < 0)
		return rc;
	l->items = arena_alloc(l->c->a, sizeof *l->items * (size_t)f->per_page);
	struct arena *a = l->c->a;
	while ((rc = store_step(q, e)) == 1 && l->n < f->per_page) {
		struct audit_entry *it = &l->items[l->n++];
		it->seq = store_int(q, 0);
		it->at = store_int(q, 1);
		it->actor = store_dup(q, 2, a);
		it->action = store_dup(q, 3, a);
		it->object = store_dup(q, 4, a);
		it->change = store_dup(q, 5, a);
		it->request_id = store_dup(q, 6, a);
		it->hash = store_dup(q, 7, a);
		it->prev_hash = store_dup(q, 8, a);
		it->signature = store_dup(q, 9, a);
		it->key_id = store_dup(q, 10, a);
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int audit_list(const struct ctx *c, const struct audit_filter *f, struct audit_entry **out, int *n, int64_t *total,
	       struct err *e)
{
	if (!c->who || c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may read the audit trail");
	struct list_ctx l = {c, f, NULL, 0, 0};
	int rc = store_read(c->app->db, list_fn, &l, e);
	if (rc < 0)
		return rc;
	*out = l.items;
	*n = l.n;
	*total = l.total;
	return 0;
}
