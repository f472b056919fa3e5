/* async.c: asynchronous document exchange between agencies (liên thông văn
 * bản): a subsystem posts a document for another; the platform stores it and
 * delivers it, by push to the receiver's endpoint or by the receiver pulling
 * its inbox, until the receiver acknowledges it.
 *
 * Guarantees:
 *   - nothing acknowledged to the sender is lost: the message is committed
 *     before the 202;
 *   - a sender's retry (same X-Road-Message-Ref) never makes a second message;
 *   - per (sender, receiver) pair, messages carry seq 1, 2, 3... and message
 *     n+1 is not pushed before n is acknowledged (only the oldest queued
 *     message of a pair is eligible for delivery);
 *   - delivery is at least once with a stable id: after a crash or a lost
 *     answer the same message (same id and seq) comes again, and the receiver
 *     drops what it already has, so it sees each message exactly once.
 * Delivery workers claim a pair's head message (claimed_until, claimed_by)
 * for longer than a push can take, so several workers and nodes can run; a
 * claim that lapses mid-delivery only causes a repeat of the same message.
 * At start a node gives up the claims of dead processes of its own host. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/api.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "exchange/exchange_internal.h"
#include "identity/identity.h"

enum { BACKOFF_CAP_S = 300, PULL_RECHECK_S = 30, IDLE_MS = 1000, BATCH = 16, REF_MAX = 100,
       INBOX_BYTES = 32 << 20 };

#define US INT64_C(1000000)

/* ---- base64 (standard, padded) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(struct buf *out, const unsigned char *p, size_t n)
{
	buf_grow(out, (n + 2) / 3 * 4);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
		char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
			     i + 2 < n ? b64[v & 63] : '='};
		buf_append(out, q, 4);
	}
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static bool b64_decode(struct buf *out, const char *s, size_t n)
{
	if (n % 4)
		return false;
	buf_grow(out, n / 4 * 3);
	for (size_t i = 0; i < n; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = s[i + 2] == '=' ? 0 : b64_val(s[i + 2]), d = s[i + 3] == '=' ? 0 : b64_val(s[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0)
			return false;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		char q[3] = {(char)(v >> 16), (char)(v >> 8 & 255), (char)(v & 255)};
		buf_append(out, q, s[i + 2] == '=' ? 1 : s[i + 3] == '=' ? 2 : 3);
	}
	return true;
}

/* ---- state ---- */

struct async_state {
	struct app *app;
	char node[300]; /* "host/pid": who holds a claim */
	pthread_t *th;
	int n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool kick;
	atomic_uint_fast64_t pushed, failed;
};

/* ---- sending ---- */

struct send_ctx {
	struct arena *a;
	const char *sender, *receiver, *ref, *type, *content_type, *digest;
	const char *body64;
	int64_t size;
	/* out */
	char id[33];
	int64_t seq, created_at;
	const char *status;
	bool duplicate;
};

static int find_by_ref(struct store_tx *tx, struct send_ctx *s, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT id, seq, created_at, status, receiver, body_digest FROM exchange_messages "
			     "WHERE sender = $1 AND ref = $2",
			     ARGS(SA_TEXT(s->sender), SA_TEXT(s->ref)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		str_copy(s->id, sizeof s->id, store_text(q, 0));
		s->seq = store_int(q, 1);
		s->created_at = store_int(q, 2);
		s->status = store_dup(q, 3, s->a);
		if (strcmp(store_text(q, 4), s->receiver) != 0 || strcmp(store_text(q, 5), s->digest) != 0)
			rc = -100; /* same ref, different message */
		s->duplicate = true;
	}
	store_done(q);
	if (rc == -100)
		return err_set(e, ERR_CONFLICT,
			       "X-Road-Message-Ref '%s' was already used for another message (receiver or document differ)",
			       s->ref);
	return rc;
}

static int send_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct send_ctx *s = arg;
	s->duplicate = false;
	int rc = find_by_ref(tx, s, e);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	int64_t seq = 0;
	rc = store_get_int(tx,
			   "INSERT INTO exchange_pairs (sender, receiver, last_seq) VALUES ($1, $2, 1) "
			   "ON CONFLICT (sender, receiver) DO UPDATE SET last_seq = exchange_pairs.last_seq + 1 "
			   "RETURNING last_seq",
			   ARGS(SA_TEXT(s->sender), SA_TEXT(s->receiver)), &seq, e);
	if (rc < 0)
		return rc;
	xlog_new_id(s->id);
	s->created_at = time_now_us();
	rc = store_exec(tx,
			"INSERT INTO exchange_messages (id, sender, receiver, seq, ref, type, content_type, body, "
			"body_digest, size, status, attempts, next_at, claimed_until, created_at) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 0, $11, 0, $11) "
			"ON CONFLICT (sender, ref) DO NOTHING",
			ARGS(SA_TEXT(s->id), SA_TEXT(s->sender), SA_TEXT(s->receiver), SA_INT(seq), SA_TEXT(s->ref),
			     SA_TEXT(s->type), SA_TEXT(s->content_type), SA_TEXT(s->body64), SA_TEXT(s->digest),
			     SA_INT(s->size), SA_INT(s->created_at)),
			e);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* a concurrent send with the same ref won: give the number back, answer with its message */
		rc = store_exec(tx, "UPDATE exchange_pairs SET last_seq = last_seq - 1 WHERE sender = $1 AND receiver = $2",
				ARGS(SA_TEXT(s->sender), SA_TEXT(s->receiver)), e);
		if (rc < 0)
			return rc;
		rc = find_by_ref(tx, s, e);
		return rc < 0 ? rc : 0;
	}
	s->seq = seq;
	s->status = "queued";
	return 0;
}

static void auth_refuse(struct req *r, const struct xauth *au, const struct err *e)
{
	log_warn("exchange: asynchronous %s %s refused (%s): %s", r->method, r->path, au->code, e->msg);
	xerror_respond(r, au->status, au->code, e->msg, NULL);
}

int async_h_send(struct req *r)
{
	struct app *app = r->app;
	struct xauth au;
	struct err e = {0};
	if (xauth_request(r, app, &au, &e) < 0) {
		auth_refuse(r, &au, &e);
		return 0;
	}
	r->actor = arena_printf(r->a, "exchange:%s", au.client);
	struct send_ctx s;
	memset(&s, 0, sizeof s);
	s.a = r->a;
	s.sender = au.client;
	s.receiver = req_header(r, "X-Road-To");
	s.ref = req_header(r, "X-Road-Message-Ref");
	s.type = req_header(r, "X-Road-Message-Type");
	s.content_type = req_header(r, "Content-Type");
	char *parts[2];
	if (!s.receiver || !xname_split(s.receiver, 2, r->a, parts)) {
		xerror_respond(r, 400, "exchange.bad_receiver", "X-Road-To must name the receiver: 'member/subsystem'",
			       NULL);
		return 0;
	}
	if (!s.ref || !*s.ref || !text_valid(s.ref, REF_MAX)) {
		xerror_respond(r, 400, "exchange.bad_ref",
			       "X-Road-Message-Ref is required: the sender's key for this message, 1 to 100 bytes", NULL);
		return 0;
	}
	if (s.type && !text_valid(s.type, REF_MAX)) {
		xerror_respond(r, 400, "exchange.bad_type", "X-Road-Message-Type must be at most 100 bytes of text", NULL);
		return 0;
	}
	if (!s.content_type || !text_valid(s.content_type, 200))
		s.content_type = "application/octet-stream";
	struct xreg_client rc_;
	if (xreg_client(app, s.receiver, r->a, &rc_, &e) < 0) {
		xerror_respond(r, 503, "exchange.registry_unavailable", "the registry cannot be read now", NULL);
		return 0;
	}
	if (!rc_.found) {
		xerror_respond(r, 404, "exchange.unknown_receiver",
			       arena_printf(r->a, "no active subsystem '%s' is registered", s.receiver), NULL);
		return 0;
	}
	char digest[65];
	crypto_sha256_hex(r->body.ptr ? r->body.ptr : "", r->body.len, digest);
	s.digest = digest;
	s.size = (int64_t)r->body.len;
	struct buf body64 = BUF_INIT;
	b64_encode(&body64, (const unsigned char *)(r->body.ptr ? r->body.ptr : ""), r->body.len);
	s.body64 = buf_cstr(&body64);
	int rc = store_write(app->db, send_fn, &s, &e);
	buf_free(&body64);
	if (rc < 0) {
		if (rc == ERR_CONFLICT) {
			xerror_respond(r, 409, "exchange.ref_reused", e.msg, NULL);
			return 0;
		}
		r->err = e;
		return rc;
	}
	if (!s.duplicate)
		async_wake(app);
	struct jw *w = res_json(r, s.duplicate ? 200 : 202);
	jw_obj(w);
	jw_kstr(w, "id", s.id);
	jw_kstr(w, "sender", s.sender);
	jw_kstr(w, "receiver", s.receiver);
	jw_kint(w, "seq", s.seq);
	jw_kstr(w, "ref", s.ref);
	jw_kstr(w, "status", s.status);
	jw_kbool(w, "duplicate", s.duplicate);
	jw_ktime(w, "created_at", s.created_at);
	jw_obj_end(w);
	res_header(r, "X-Road-Message-Id", s.id);
	return 0;
}

/* ---- reading messages ---- */

#define MSG_COLS                                                                                                       \
	"id, sender, receiver, seq, ref, type, content_type, size, body_digest, status, attempts, last_error, "       \
	"created_at, delivered_at, delivered_via, next_at"

static void msg_fields(struct jw *w, struct store_q *q)
{
	jw_kstr(w, "id", store_text(q, 0));
	jw_kstr(w, "sender", store_text(q, 1));
	jw_kstr(w, "receiver", store_text(q, 2));
	jw_kint(w, "seq", store_int(q, 3));
	jw_kstr(w, "ref", store_text(q, 4));
	jw_kstr(w, "type", store_isnull(q, 5) ? NULL : store_text(q, 5));
	jw_kstr(w, "content_type", store_text(q, 6));
	jw_kint(w, "size", store_int(q, 7));
	jw_kstr(w, "body_digest", store_text(q, 8));
	jw_kstr(w, "status", store_text(q, 9));
	jw_kint(w, "attempts", store_int(q, 10));
	jw_kstr(w, "last_error", store_isnull(q, 11) ? NULL : store_text(q, 11));
	jw_ktime(w, "created_at", store_int(q, 12));
	jw_ktime(w, "delivered_at", store_isnull(q, 13) ? 0 : store_int(q, 13));
	jw_kstr(w, "delivered_via", store_isnull(q, 14) ? NULL : store_text(q, 14));
	if (strcmp(store_text(q, 9), "queued") == 0)
		jw_ktime(w, "next_attempt_at", store_int(q, 15));
}

static void msg_json(struct jw *w, struct store_q *q)
{
	jw_obj(w);
	msg_fields(w, q);
	jw_obj_end(w);
}

struct read_ctx {
	struct req *r;
	const char *client, *id;
	const char *status, *sender, *receiver;
	int64_t limit, offset;
	bool found;
};

static int status_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct read_ctx *x = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT " MSG_COLS " FROM exchange_messages WHERE id = $1 AND (sender = $2 OR receiver = $2)",
			     ARGS(SA_TEXT(x->id), SA_TEXT(x->client)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		x->found = true;
		msg_json(res_json(x->r, 200), q);
		rc = 0;
	}
	store_done(q);
	return rc;
}

int async_h_status(struct req *r)
{
	struct xauth au;
	struct err e = {0};
	if (xauth_request(r, r->app, &au, &e) < 0) {
		auth_refuse(r, &au, &e);
		return 0;
	}
	struct read_ctx x = {.r = r, .client = au.client, .id = req_param(r, "id")};
	int rc = store_read(((struct app *)r->app)->db, status_fn, &x, &r->err);
	if (rc < 0)
		return rc;
	if (!x.found)
		xerror_respond(r, 404, "exchange.unknown_message",
			       "no such message among those this subsystem sent or received", NULL);
	return 0;
}

static int inbox_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct read_ctx *x = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT " MSG_COLS ", body FROM exchange_messages WHERE receiver = $1 AND status = 'queued' "
			     "ORDER BY created_at, sender, seq LIMIT $2",
			     ARGS(SA_TEXT(x->client), SA_INT(x->limit)), &q, e);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(x->r, 200);
	int n = 0;
	size_t bytes = 0;
	while ((rc = store_step(q, e)) == 1) {
		size_t bl = (size_t)store_textlen(q, 16);
		if (n && bytes + bl > INBOX_BYTES)
			break; /* the rest next time */
		bytes += bl;
		jw_obj(w);
		msg_fields(w, q);
		jw_key(w, "document_base64");
		jw_strn(w, store_text(q, 16), bl);
		jw_obj_end(w);
		n++;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	res_list_end(x->r, n, 1, (int)x->limit);
	return 0;
}

int async_h_inbox(struct req *r)
{
	struct xauth au;
	struct err e = {0};
	if (xauth_request(r, r->app, &au, &e) < 0) {
		auth_refuse(r, &au, &e);
		return 0;
	}
	int64_t limit = 10;
	int rc = req_query_int(r, "limit", 1, 100, &limit, NULL);
	if (rc < 0)
		return rc;
	struct read_ctx x = {.r = r, .client = au.client, .limit = limit};
	return store_read(((struct app *)r->app)->db, inbox_fn, &x, &r->err);
}

struct ack_ctx {
	const char *id, *client;
	int result; /* 1 acknowledged now, 2 already, 0 not found */
};

static int ack_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct ack_ctx *a = arg;
	int rc = store_exec(tx,
			    "UPDATE exchange_messages SET status = 'delivered', delivered_at = $3, delivered_via = 'pull', "
			    "claimed_until = 0 WHERE id = $1 AND receiver = $2 AND status = 'queued'",
			    ARGS(SA_TEXT(a->id), SA_TEXT(a->client), SA_INT(time_now_us())), e);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		a->result = 1;
		return 0;
	}
	int64_t one;
	rc = store_get_int(tx, "SELECT 1 FROM exchange_messages WHERE id = $1 AND receiver = $2",
			   ARGS(SA_TEXT(a->id), SA_TEXT(a->client)), &one, e);
	if (rc < 0)
		return rc;
	a->result = rc == 1 ? 2 : 0;
	return 0;
}

int async_h_ack(struct req *r)
{
	struct xauth au;
	struct err e = {0};
	if (xauth_request(r, r->app, &au, &e) < 0) {
		auth_refuse(r, &au, &e);
		return 0;
	}
	struct ack_ctx a = {req_param(r, "id"), au.client, 0};
	int rc = store_write(((struct app *)r->app)->db, ack_fn, &a, &r->err);
	if (rc < 0)
		return rc;
	if (!a.result) {
		xerror_respond(r, 404, "exchange.unknown_message", "no such message in this subsystem's inbox", NULL);
		return 0;
	}
	if (a.result == 1)
		async_wake(r->app); /* the pair's next message may go now */
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "id", a.id);
	jw_kstr(w, "status", "delivered");
	jw_kbool(w, "already", a.result == 2);
	jw_obj_end(w);
	return 0;
}

static int admin_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct read_ctx *x = arg;
	int64_t total = 0;
	int rc = store_get_int(tx,
			       "SELECT COUNT(*) FROM exchange_messages WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) "
			       "AND (CAST($2 AS TEXT) IS NULL OR sender = $2) AND (CAST($3 AS TEXT) IS NULL OR receiver = $3)",
			       ARGS(SA_TEXT(x->status), SA_TEXT(x->sender), SA_TEXT(x->receiver)), &total, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT " MSG_COLS " FROM exchange_messages WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) "
			 "AND (CAST($2 AS TEXT) IS NULL OR sender = $2) AND (CAST($3 AS TEXT) IS NULL OR receiver = $3) "
			 "ORDER BY created_at DESC, seq DESC LIMIT $4 OFFSET $5",
			 ARGS(SA_TEXT(x->status), SA_TEXT(x->sender), SA_TEXT(x->receiver), SA_INT(x->limit),
			      SA_INT(x->offset)),
			 &q, e);
	if (rc < 0)
		return rc;
	struct jw *w = res_list_begin(x->r, 200);
	while ((rc = store_step(q, e)) == 1)
		msg_json(w, q);
	store_done(q);
	if (rc < 0)
		return rc;
	res_list_end(x->r, total, (int)(x->offset / x->limit) + 1, (int)x->limit);
	return 0;
}

int async_h_admin_list(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	int page, per_page;
	if (rc < 0 || (rc = req_page(r, &page, &per_page)) < 0)
		return rc;
	if (c.who->role != ROLE_ADMIN)
		return err_set(&r->err, ERR_FORBIDDEN, "only administrators may list exchange messages");
	struct read_ctx x = {.r = r,
			     .status = req_query(r, "status"),
			     .sender = req_query(r, "sender"),
			     .receiver = req_query(r, "receiver"),
			     .limit = per_page,
			     .offset = (int64_t)(page - 1) * per_page};
	return store_read(c.app->db, admin_list_fn, &x, &r->err);
}

/* ---- delivery ---- */

struct claimed {
	char id[33];
	char *sender, *receiver, *ref, *type, *content_type, *digest, *body64;
	int64_t seq;
	int attempts;
};

struct claim_ctx {
	struct arena *a;
	const char *node;
	int64_t now, lease_us;
	struct claimed items[BATCH];
	int n;
};

static int claim_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct claim_ctx *c = arg;
	c->n = 0;
	struct store_q *q;
	char ids[BATCH][33];
	int nid = 0;
	int rc = store_query(tx,
			     "SELECT m.id FROM exchange_messages m WHERE m.status = 'queued' AND m.next_at <= $1 "
			     "AND m.claimed_until < $1 AND m.seq = (SELECT MIN(m2.seq) FROM exchange_messages m2 "
			     "WHERE m2.sender = m.sender AND m2.receiver = m.receiver AND m2.status = 'queued') "
			     "ORDER BY m.next_at LIMIT 16",
			     ARGS(SA_INT(c->now)), &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		str_copy(ids[nid++], sizeof ids[0], store_text(q, 0));
		rc = 0;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	for (int i = 0; i < nid; i++) {
		rc = store_exec(tx,
				"UPDATE exchange_messages SET claimed_until = $2, claimed_by = $4 WHERE id = $1 "
				"AND claimed_until < $3 AND status = 'queued'",
				ARGS(SA_TEXT(ids[i]), SA_INT(c->now + c->lease_us), SA_INT(c->now), SA_TEXT(c->node)), e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue; /* another worker has it */
		rc = store_query(tx,
				 "SELECT id, sender, receiver, seq, ref, type, content_type, body_digest, body, attempts "
				 "FROM exchange_messages WHERE id = $1",
				 ARGS(SA_TEXT(ids[i])), &q, e);
		if (rc == 0 && (rc = store_step(q, e)) == 1) {
			struct claimed *m = &c->items[c->n++];
			str_copy(m->id, sizeof m->id, store_text(q, 0));
			m->sender = store_dup(q, 1, c->a);
			m->receiver = store_dup(q, 2, c->a);
			m->seq = store_int(q, 3);
			m->ref = store_dup(q, 4, c->a);
			m->type = store_dup(q, 5, c->a);
			m->content_type = store_dup(q, 6, c->a);
			m->digest = store_dup(q, 7, c->a);
			m->body64 = store_dup(q, 8, c->a);
			m->attempts = (int)store_int(q, 9);
			rc = 0;
		}
		store_done(q);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct outcome_ctx {
	const char *id;
	int kind; /* 0 delivered, 1 failed, 2 no endpoint */
	int attempts;
	const char *error;
	int64_t now;
};

static int outcome_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct outcome_ctx *o = arg;
	int rc;
	if (o->kind == 0) {
		rc = store_exec(tx,
				"UPDATE exchange_messages SET status = 'delivered', delivered_at = $2, delivered_via = 'push', "
				"attempts = attempts + 1, claimed_until = 0, last_error = NULL WHERE id = $1 AND status = 'queued'",
				ARGS(SA_TEXT(o->id), SA_INT(o->now)), e);
	} else if (o->kind == 1) {
		int64_t delay = 1;
		for (int i = 0; i < o->attempts && delay < BACKOFF_CAP_S; i++)
			delay *= 2;
		if (delay > BACKOFF_CAP_S)
			delay = BACKOFF_CAP_S;
		rc = store_exec(tx,
				"UPDATE exchange_messages SET attempts = attempts + 1, next_at = $2, claimed_until = 0, "
				"last_error = $3 WHERE id = $1 AND status = 'queued'",
				ARGS(SA_TEXT(o->id), SA_INT(o->now + delay * US), SA_TEXT(o->error)), e);
	} else {
		rc = store_exec(tx,
				"UPDATE exchange_messages SET next_at = $2, claimed_until = 0 WHERE id = $1 AND status = 'queued'",
				ARGS(SA_TEXT(o->id), SA_INT(o->now + PULL_RECHECK_S * US)), e);
	}
	return rc < 0 ? rc : 0;
}

static int progress_cb(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct async_state *s = p;
	return __atomic_load_n(&s->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	if (b->len < 300)
		buf_append(b, p, n < 300 - b->len ? n : 300 - b->len);
	return n;
}

/* Pushes one message; 0 when the receiver acknowledged (2xx), else the error in msg. */
static int push(struct async_state *s, CURL *h, const struct claimed *m, const char *endpoint, char *msg, size_t cap)
{
	struct buf body = BUF_INIT, canon = BUF_INIT, sig = BUF_INIT, hb = BUF_INIT, answer = BUF_INIT;
	if (!b64_decode(&body, m->body64, strlen(m->body64))) {
		snprintf(msg, cap, "stored document is not valid base64");
		buf_free(&body);
		return -1;
	}
	int64_t tms = time_now_us() / 1000;
	exchange_canonical_push(&canon, m->id, m->sender, m->receiver, m->seq, m->digest, tms);
	keys_sign_hex(&s->app->keys, canon.ptr, canon.len, &sig);
	struct curl_slist *hl = NULL;
	const char *fmt[][2] = {{"Content-Type", m->content_type},
				{"X-Road-Message-Id", m->id},
				{"X-Road-Sender", m->sender},
				{"X-Road-Receiver", m->receiver},
				{"X-Road-Message-Ref", m->ref},
				{"X-Road-Message-Type", m->type},
				{"X-Road-Signature", sig.ptr},
				{"Expect", ""}};
	for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
		if (!fmt[i][1])
			continue;
		buf_reset(&hb);
		buf_printf(&hb, "%s:%s%s", fmt[i][0], *fmt[i][1] ? " " : "", fmt[i][1]);
		hl = curl_slist_append(hl, hb.ptr);
	}
	buf_reset(&hb);
	buf_printf(&hb, "X-Road-Seq: %lld", (long long)m->seq);
	hl = curl_slist_append(hl, hb.ptr);
	buf_reset(&hb);
	buf_printf(&hb, "X-Road-Time: %lld", (long long)tms);
	hl = curl_slist_append(hl, hb.ptr);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, endpoint);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.ptr ? body.ptr : "");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)s->app->cfg->exchange_connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)s->app->cfg->exchange_timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
	CURLcode cc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hl);
	int rc = 0;
	if (cc != CURLE_OK) {
		snprintf(msg, cap, "push to %s failed: %s", endpoint, curl_easy_strerror(cc));
		rc = -1;
	} else if (code < 200 || code > 299) {
		for (size_t i = 0; i < answer.len; i++)
			if ((unsigned char)answer.ptr[i] < 0x20 || (unsigned char)answer.ptr[i] >= 0x7f)
				answer.ptr[i] = ' ';
		snprintf(msg, cap, "the receiver answered %ld: %s", code, buf_cstr(&answer));
		rc = -1;
	}
	buf_free(&body);
	buf_free(&canon);
	buf_free(&sig);
	buf_free(&hb);
	buf_free(&answer);
	return rc;
}

static void *worker_main(void *arg)
{
	struct async_state *s = arg;
	struct app *app = s->app;
	CURL *h = curl_easy_init();
	if (!h)
		abort();
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		struct arena a = ARENA_INIT;
		struct claim_ctx cc;
		memset(&cc, 0, sizeof cc);
		cc.a = &a;
		cc.node = s->node;
		cc.now = time_now_us();
		/* a claim outlives the longest push, so a live delivery is never doubled by lapse */
		cc.lease_us = (app->cfg->exchange_timeout_ms + app->cfg->exchange_connect_timeout_ms) * 1000 + 5 * US;
		struct err e = {0};
		int rc = store_write(app->db, claim_fn, &cc, &e);
		if (rc < 0)
			log_warn("exchange: cannot claim messages to deliver: %s", e.msg);
		for (int i = 0; rc == 0 && i < cc.n && !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE); i++) {
			struct claimed *m = &cc.items[i];
			struct xreg_client rcv;
			struct outcome_ctx o = {m->id, 2, m->attempts, NULL, 0};
			char msg[400] = "";
			if (xreg_client(app, m->receiver, &a, &rcv, &e) < 0) {
				o.kind = 1;
				o.error = "the registry cannot be read now";
			} else if (!rcv.found) {
				o.kind = 1;
				o.error = "the receiver is not an active subsystem";
			} else if (rcv.endpoint && *rcv.endpoint) {
				o.kind = push(s, h, m, rcv.endpoint, msg, sizeof msg) == 0 ? 0 : 1;
				o.error = msg;
				if (o.kind == 0)
					atomic_fetch_add(&s->pushed, 1);
				else
					atomic_fetch_add(&s->failed, 1);
			}
			if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE) && o.kind == 1)
				break; /* aborted by the stop: the claim lapses, nothing counted */
			o.now = time_now_us();
			struct err e2 = {0};
			if (store_write(app->db, outcome_fn, &o, &e2) < 0)
				log_warn("exchange: cannot record the delivery of %s: %s", m->id, e2.msg);
			else if (o.kind == 1)
				log_info("exchange: delivery of %s (seq %lld, %s -> %s) failed, will retry: %s", m->id,
					 (long long)m->seq, m->sender, m->receiver, o.error);
		}
		int n = cc.n;
		arena_free(&a);
		if (n > 0 && rc == 0)
			continue;
		pthread_mutex_lock(&s->mu);
		if (!s->kick && !s->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t ns = ts.tv_nsec + (int64_t)(rc < 0 ? 5000 : IDLE_MS) * 1000000;
			ts.tv_sec += ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		s->kick = false;
		pthread_mutex_unlock(&s->mu);
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* Claims held by processes of this host that no longer run (a crash, kill -9)
 * would keep their messages back until they lapse: give them up at once.
 * Claims of other hosts (PostgreSQL, several nodes) are left to lapse. */
static int release_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct async_state *s = arg;
	char host[256];
	snprintf(host, sizeof host, "%s", s->node);
	char *slash = strrchr(host, '/');
	if (slash)
		slash[1] = 0;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT DISTINCT claimed_by FROM exchange_messages WHERE status = 'queued' "
			     "AND claimed_until > $1 AND claimed_by IS NOT NULL",
			     ARGS(SA_INT(time_now_us())), &q, e);
	char dead[16][300];
	int n = 0;
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		const char *by = store_text(q, 0);
		rc = 0;
		if (strncmp(by, host, strlen(host)) != 0 || n == 16)
			continue;
		long pid = atol(by + strlen(host));
		if (pid > 0 && (pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)))
			snprintf(dead[n++], sizeof dead[0], "%s", by);
	}
	store_done(q);
	for (int i = 0; rc == 0 && i < n; i++) {
		rc = store_exec(tx,
				"UPDATE exchange_messages SET claimed_until = 0 WHERE claimed_by = $1 AND status = 'queued'",
				ARGS(SA_TEXT(dead[i])), e);
		if (rc > 0)
			log_info("exchange: released %d delivery claims of %s, which is no longer running", rc, dead[i]);
		rc = rc < 0 ? rc : 0;
	}
	return rc;
}

int async_start(struct exchange_state *st, struct err *e)
{
	if (st->async)
		return 0;
	int n = st->app->cfg ? (int)st->app->cfg->exchange_workers : 1;
	struct async_state *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->app = st->app;
	char host[200] = "localhost";
	gethostname(host, sizeof host - 1);
	snprintf(s->node, sizeof s->node, "%s/%ld", host, (long)getpid());
	struct err re = {0};
	if (store_write(s->app->db, release_fn, s, &re) < 0)
		log_warn("exchange: cannot release stale delivery claims: %s", re.msg);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->th = calloc((size_t)(n > 0 ? n : 1), sizeof *s->th);
	if (!s->th)
		abort();
	for (int i = 0; i < n; i++) {
		if (pthread_create(&s->th[i], NULL, worker_main, s) != 0) {
			st->async = s;
			async_stop(st);
			return err_set(e, ERR_INTERNAL, "cannot start the exchange delivery threads");
		}
		s->n++;
	}
	__atomic_store_n(&st->async, s, __ATOMIC_RELEASE);
	return 0;
}

void async_stop(struct exchange_state *st)
{
	struct async_state *s = st->async;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	__atomic_store_n(&s->stop, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->n; i++)
		pthread_join(s->th[i], NULL);
	__atomic_store_n(&st->async, NULL, __ATOMIC_RELEASE);
	free(s->th);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

void async_wake(struct app *app)
{
	struct exchange_state *st = exchange_state(app);
	struct async_state *s = __atomic_load_n(&st->async, __ATOMIC_ACQUIRE);
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->kick = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static int depth_fn(struct store_tx *tx, void *arg, struct err *e)
{
	int rc = store_get_int(tx, "SELECT COUNT(*) FROM exchange_messages WHERE status = 'queued'", NOARGS, arg, e);
	return rc < 0 ? rc : 0;
}

int64_t async_queue_depth(struct app *app)
{
	int64_t n = 0;
	struct err e = {0};
	if (store_read(app->db, depth_fn, &n, &e) < 0)
		return -1;
	return n;
}
