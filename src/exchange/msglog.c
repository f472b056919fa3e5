/* msglog.c: the gateway's message log: a hash chain of signed records, one
 * per exchange (answered or refused), its writer, its verification, the
 * export of a time range that a third party can check with the published key
 * alone, and the personal-data tracker's query.
 *
 * Durability and speed: records are group-committed (leader/follower, see
 * "the writer" below): one transaction and one fsync for every record waiting,
 * on both backends, and an answer never leaves before its record is durable.
 * Record n's hash covers record n-1's hash and all of n's fields
 * (length-prefixed); the last record of each group is signed with the server's
 * Ed25519 key, which covers the chain up to it. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "exchange/exchange_internal.h"
#include "identity/identity.h"

static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* 12 hex digits of unix milliseconds, then 80 random bits: unique, not
 * guessable, and in time order (the log's id index grows at one end). */
void xlog_new_id(char out[33])
{
	unsigned char b[10];
	crypto_random(b, sizeof b);
	static const char hex[] = "0123456789abcdef";
	uint64_t ms = (uint64_t)(time_now_us() / 1000);
	for (int i = 11; i >= 0; i--, ms >>= 4)
		out[i] = hex[ms & 15];
	for (int i = 0; i < 10; i++) {
		out[12 + 2 * i] = hex[b[i] >> 4];
		out[12 + 2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
}

/* ---- the record's hash ---- */

static void put_field(struct buf *b, const char *s)
{
	if (!s) {
		buf_puts(b, "-|");
		return;
	}
	size_t n = strlen(s);
	buf_put_int(b, (int64_t)n);
	buf_putc(b, ':');
	buf_append(b, s, n);
	buf_putc(b, '|');
}

static void rec_hash(const char *prev_hash, int64_t seq, const struct xlog_rec *r, char out[65])
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "tinhso-xlog-v1|%lld|%lld|%d|%lld|", (long long)seq, (long long)r->at, r->status,
		   (long long)r->duration_us);
	const char *fields[] = {prev_hash,	  r->id,	     r->client,		  r->service,
				r->method,	  r->path,	     r->query,		  r->purpose,
				r->subject,	  r->request_time,   r->nonce,		  r->request_digest,
				r->request_signature, r->response_digest, r->response_signature, r->error};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		put_field(&b, fields[i]);
	crypto_sha256_hex(b.ptr, b.len, out);
	buf_free(&b);
}

/* ---- the writer: leader/follower group commit ----
 *
 * A thread with a record queues it; if no commit is running it becomes the
 * leader: it takes every queued record, extends the chain with them in one
 * transaction, and wakes their owners when it is durable. Records queued
 * meanwhile wait for the next leader (the first of them, woken by the one
 * before). No thread of its own, no hand-off when the log is idle; under load
 * one fsync covers the whole group. Only the last record of each group is
 * signed: its signature covers the whole chain up to it, so a change anywhere
 * in the group breaks either a hash or that signature (as X-Road signs a batch
 * of records at once). The chain never ends on an unsigned record. */

struct pend {
	const struct xlog_rec *rec;
	int rc;
	struct err e;
	bool done;
	pthread_cond_t cv;
	struct pend *next;
};

struct msglog_writer {
	pthread_mutex_t mu;
	struct pend *head, *tail;
	bool committing;
	uint64_t commits, records, commit_us;
};

struct batch {
	struct app *app;
	struct pend *list;
};

static int batch_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct batch *b = arg;
	const char *head_sql = store_tx_kind(tx) == STORE_POSTGRES
				       ? "SELECT seq, hash FROM exchange_log_head WHERE id = 1 FOR UPDATE"
				       : "SELECT seq, hash FROM exchange_log_head WHERE id = 1";
	struct store_q *q;
	int rc = store_query(tx, head_sql, NOARGS, &q, e);
	int64_t seq = 0;
	char prev[65] = "";
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1) {
			seq = store_int(q, 0);
			str_copy(prev, sizeof prev, store_text(q, 1));
			rc = 0;
		} else if (rc == 0) {
			rc = err_set(e, ERR_INTERNAL, "the message log's head row is missing");
		}
	}
	store_done(q);
	if (rc < 0)
		return rc;
	struct buf sig = BUF_INIT;
	for (struct pend *p = b->list; p; p = p->next) {
		const struct xlog_rec *r = p->rec;
		char hash[65];
		seq++;
		rec_hash(prev, seq, r, hash);
		bool last = p->next == NULL;
		buf_reset(&sig);
		if (last)
			keys_sign_hex(&b->app->keys, hash, 64, &sig);
		rc = store_exec(
			tx,
			"INSERT INTO exchange_log (seq, id, at, client, service, method, path, query, purpose, subject, "
			"request_time, nonce, request_digest, request_signature, status, response_digest, "
			"response_signature, error, duration_us, prev_hash, hash, key_id, signature) VALUES ($1, $2, $3, "
			"$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
			ARGS(SA_INT(seq), SA_TEXT(r->id), SA_INT(r->at), SA_TEXT(r->client), SA_TEXT(r->service),
			     SA_TEXT(r->method), SA_TEXT(r->path), SA_TEXT(r->query), SA_TEXT(r->purpose),
			     SA_TEXT(r->subject), SA_TEXT(r->request_time), SA_TEXT(r->nonce), SA_TEXT(r->request_digest),
			     SA_TEXT(r->request_signature), SA_INT(r->status), SA_TEXT(r->response_digest),
			     SA_TEXT(r->response_signature), SA_TEXT(r->error), SA_INT(r->duration_us), SA_TEXT(prev),
			     SA_TEXT(hash), SA_TEXT(last ? b->app->keys.key_id : NULL), SA_TEXT(last ? sig.ptr : NULL)),
			e);
		if (rc < 0)
			break;
		str_copy(prev, sizeof prev, hash);
	}
	buf_free(&sig);
	if (rc < 0)
		return rc;
	rc = store_exec(tx, "UPDATE exchange_log_head SET seq = $1, hash = $2 WHERE id = 1",
			ARGS(SA_INT(seq), SA_TEXT(prev)), e);
	return rc < 0 ? rc : 0;
}

static pthread_mutex_t writer_mu = PTHREAD_MUTEX_INITIALIZER;

static struct msglog_writer *writer(struct exchange_state *st)
{
	struct msglog_writer *w = __atomic_load_n(&st->log, __ATOMIC_ACQUIRE);
	if (w)
		return w;
	pthread_mutex_lock(&writer_mu);
	w = st->log;
	if (!w) {
		w = calloc(1, sizeof *w);
		if (!w)
			abort();
		pthread_mutex_init(&w->mu, NULL);
		__atomic_store_n(&st->log, w, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&writer_mu);
	return w;
}

int xlog_start(struct exchange_state *st, struct err *e)
{
	(void)e;
	writer(st);
	return 0;
}

void xlog_stop(struct exchange_state *st)
{
	struct msglog_writer *w = st->log;
	if (!w)
		return;
	/* callers are gone (the HTTP server stopped first): nothing is queued */
	pthread_mutex_lock(&w->mu);
	while (w->committing || w->head) {
		pthread_mutex_unlock(&w->mu);
		usleep(1000);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	__atomic_store_n(&st->log, NULL, __ATOMIC_RELEASE);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

int xlog_append(struct app *app, const struct xlog_rec *rec, struct err *e)
{
	struct msglog_writer *w = writer(exchange_state(app));
	struct pend p;
	memset(&p, 0, sizeof p);
	p.rec = rec;
	pthread_cond_init(&p.cv, NULL);
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = &p;
	else
		w->head = &p;
	w->tail = &p;
	while (!p.done) {
		if (w->committing) {
			pthread_cond_wait(&p.cv, &w->mu);
			continue;
		}
		/* lead: commit everything queued, this record included */
		struct pend *list = w->head;
		w->head = w->tail = NULL;
		w->committing = true;
		pthread_mutex_unlock(&w->mu);
		struct batch b = {app, list};
		struct err be = {0};
		int64_t t0 = time_mono_us();
		int rc = store_write(app->db, batch_fn, &b, &be);
		int64_t took = time_mono_us() - t0;
		pthread_mutex_lock(&w->mu);
		w->commit_us += (uint64_t)took;
		uint64_t n = 0;
		for (struct pend *q = list, *next; q; q = next, n++) {
			next = q->next;
			q->rc = rc;
			if (rc < 0)
				q->e = be;
			q->done = true; /* q may be gone once its owner sees this */
			if (q != &p)
				pthread_cond_signal(&q->cv);
		}
		w->commits++;
		w->records += n;
		w->committing = false;
		if (w->head)
			pthread_cond_signal(&w->head->cv); /* the next group's leader */
	}
	pthread_mutex_unlock(&w->mu);
	pthread_cond_destroy(&p.cv);
	if (p.rc < 0) {
		*e = p.e;
		return p.rc;
	}
	return 0;
}

void xlog_counters(struct app *app, uint64_t *commits, uint64_t *records, uint64_t *commit_us)
{
	struct exchange_state *st = exchange_state(app);
	struct msglog_writer *w = __atomic_load_n(&st->log, __ATOMIC_ACQUIRE);
	*commits = *records = *commit_us = 0;
	if (w) {
		pthread_mutex_lock(&w->mu);
		*commits = w->commits;
		*records = w->records;
		*commit_us = w->commit_us;
		pthread_mutex_unlock(&w->mu);
	}
}

/* ---- reading records back ---- */

#define REC_COLS                                                                                                       \
	"seq, id, at, client, service, method, path, query, purpose, subject, request_time, nonce, request_digest, "   \
	"request_signature, status, response_digest, response_signature, error, duration_us, prev_hash, hash, "      \
	"key_id, signature"

struct row {
	int64_t seq;
	struct xlog_rec r;
	const char *prev_hash, *hash, *key_id, *signature;
};

static const char *col(struct store_q *q, int i, struct arena *a)
{
	return store_dup(q, i, a);
}

static void row_read(struct store_q *q, struct arena *a, struct row *w)
{
	memset(w, 0, sizeof *w);
	w->seq = store_int(q, 0);
	str_copy(w->r.id, sizeof w->r.id, store_text(q, 1));
	w->r.at = store_int(q, 2);
	w->r.client = col(q, 3, a);
	w->r.service = col(q, 4, a);
	w->r.method = col(q, 5, a);
	w->r.path = col(q, 6, a);
	w->r.query = col(q, 7, a);
	w->r.purpose = col(q, 8, a);
	w->r.subject = col(q, 9, a);
	w->r.request_time = col(q, 10, a);
	w->r.nonce = col(q, 11, a);
	str_copy(w->r.request_digest, sizeof w->r.request_digest, store_text(q, 12));
	w->r.request_signature = col(q, 13, a);
	w->r.status = (int)store_int(q, 14);
	str_copy(w->r.response_digest, sizeof w->r.response_digest, store_text(q, 15));
	w->r.response_signature = col(q, 16, a);
	w->r.error = col(q, 17, a);
	w->r.duration_us = store_int(q, 18);
	w->prev_hash = col(q, 19, a);
	w->hash = col(q, 20, a);
	w->key_id = col(q, 21, a);
	w->signature = col(q, 22, a);
}

/* Checks one record against the previous hash; NULL when good, else why. */
static const char *check_row(const struct row *w, const char *prev, int64_t expect_seq, const unsigned char pk[32],
			     const char *key_id)
{
	static __thread char msg[160];
	if (w->seq != expect_seq) {
		snprintf(msg, sizeof msg, "expected record %lld, found %lld: records were removed or reordered",
			 (long long)expect_seq, (long long)w->seq);
		return msg;
	}
	if (strcmp(prev, w->prev_hash) != 0)
		return "prev_hash does not match the previous record: the chain was broken";
	char hash[65];
	rec_hash(prev, w->seq, &w->r, hash);
	if (strcmp(hash, w->hash) != 0)
		return "the record's fields do not match its hash: it was altered";
	if (!w->signature)
		return NULL; /* covered by the next signed record */
	if (key_id && (!w->key_id || strcmp(w->key_id, key_id) != 0))
		return "signed by an unknown key";
	if (!crypto_verify_hex(pk, hash, 64, w->signature))
		return "the signature does not verify with the server's public key: this record or one before it "
		       "since the last signed record was altered";
	return NULL;
}

struct verify_ctx {
	struct app *app;
	struct exchange_log_verify *res;
};

static int verify_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct verify_ctx *v = arg;
	struct exchange_log_verify *res = v->res;
	char prev[65];
	str_copy(prev, sizeof prev, zero_hash);
	int64_t expect = 1, after = 0, unsigned_from = 0;
	int rc = 0;
	for (;;) {
		struct store_q *q;
		rc = store_query(tx, "SELECT " REC_COLS " FROM exchange_log WHERE seq > $1 ORDER BY seq LIMIT 5000",
				 ARGS(SA_INT(after)), &q, e);
		if (rc < 0)
			return rc;
		int got = 0;
		struct arena a = ARENA_INIT;
		while ((rc = store_step(q, e)) == 1) {
			struct row w;
			row_read(q, &a, &w);
			got++;
			after = w.seq;
			res->records++;
			if (res->first_bad)
				continue;
			const char *bad = check_row(&w, prev, expect, v->app->keys.pk, v->app->keys.key_id);
			if (bad) {
				res->first_bad = w.seq < expect ? w.seq : expect;
				str_copy(res->problem, sizeof res->problem, bad);
				continue;
			}
			str_copy(prev, sizeof prev, w.hash);
			if (w.signature)
				unsigned_from = 0;
			else if (!unsigned_from)
				unsigned_from = w.seq;
			expect++;
		}
		store_done(q);
		arena_free(&a);
		if (rc < 0)
			return rc;
		if (got == 0)
			break;
	}
	if (!res->first_bad && unsigned_from) {
		res->first_bad = unsigned_from;
		str_copy(res->problem, sizeof res->problem,
			 "the log ends on records no signature covers: the signed newest record was removed");
	}
	if (!res->first_bad) {
		int64_t head_seq = 0;
		char *head_hash = NULL;
		struct arena a = ARENA_INIT;
		rc = store_get_int(tx, "SELECT seq FROM exchange_log_head WHERE id = 1", NOARGS, &head_seq, e);
		if (rc >= 0)
			rc = store_get_text(tx, "SELECT hash FROM exchange_log_head WHERE id = 1", NOARGS, &a, &head_hash,
					    e);
		if (rc >= 0 && (head_seq != expect - 1 || !head_hash || strcmp(head_hash, prev) != 0)) {
			res->first_bad = expect;
			str_copy(res->problem, sizeof res->problem,
				 "the log ends before the recorded head: the newest records were removed or replaced");
		}
		arena_free(&a);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int exchange_log_verify(struct app *app, struct exchange_log_verify *res, struct err *e)
{
	memset(res, 0, sizeof *res);
	struct verify_ctx v = {app, res};
	int rc = store_read(app->db, verify_fn, &v, e);
	if (rc < 0)
		return rc;
	if (res->first_bad)
		return err_set(e, ERR_CONFLICT, "message log record %lld: %s", (long long)res->first_bad, res->problem);
	return 0;
}

/* ---- export ---- */

static void rec_json(struct jw *w, const struct row *x)
{
	jw_obj(w);
	jw_kint(w, "seq", x->seq);
	jw_kstr(w, "id", x->r.id);
	jw_kint(w, "at", x->r.at);
	jw_kstr(w, "client", x->r.client);
	jw_kstr(w, "service", x->r.service);
	jw_kstr(w, "method", x->r.method);
	jw_kstr(w, "path", x->r.path);
	jw_kstr(w, "query", x->r.query);
	jw_kstr(w, "purpose", x->r.purpose);
	jw_kstr(w, "subject", x->r.subject);
	jw_kstr(w, "request_time", x->r.request_time);
	jw_kstr(w, "nonce", x->r.nonce);
	jw_kstr(w, "request_digest", x->r.request_digest);
	jw_kstr(w, "request_signature", x->r.request_signature);
	jw_kint(w, "status", x->r.status);
	jw_kstr(w, "response_digest", x->r.response_digest);
	jw_kstr(w, "response_signature", x->r.response_signature);
	jw_kstr(w, "error", x->r.error);
	jw_kint(w, "duration_us", x->r.duration_us);
	jw_kstr(w, "prev_hash", x->prev_hash);
	jw_kstr(w, "hash", x->hash);
	jw_kstr(w, "key_id", x->key_id);
	jw_kstr(w, "signature", x->signature);
	jw_obj_end(w);
}

static void trailer_canon(struct buf *b, int64_t from, int64_t to, int64_t first, int64_t last, const char *anchor,
			  const char *last_hash, int64_t n)
{
	buf_printf(b, "tinhso-xlog-export-v1\n%lld\n%lld\n%lld\n%lld\n%s\n%s\n%lld", (long long)from, (long long)to,
		   (long long)first, (long long)last, anchor, last_hash, (long long)n);
}

struct export_ctx {
	struct app *app;
	int64_t from, to;
	FILE *f;
	int64_t n;
};

static int export_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct export_ctx *x = arg;
	int64_t lo = 0, hi = 0;
	int rc = store_get_int(tx,
			       "SELECT COALESCE(MIN(seq), 0) FROM exchange_log WHERE at >= $1 AND at < $2",
			       ARGS(SA_INT(x->from), SA_INT(x->to)), &lo, e);
	if (rc >= 0)
		rc = store_get_int(tx, "SELECT COALESCE(MAX(seq), 0) FROM exchange_log WHERE at >= $1 AND at < $2",
				   ARGS(SA_INT(x->from), SA_INT(x->to)), &hi, e);
	if (rc < 0)
		return rc;
	char anchor[65];
	str_copy(anchor, sizeof anchor, zero_hash);
	char pkhex[65];
	{
		struct buf b = BUF_INIT;
		buf_hex(&b, x->app->keys.pk, 32);
		str_copy(pkhex, sizeof pkhex, b.ptr);
		buf_free(&b);
	}
	struct buf out = BUF_INIT;
	struct jw w;
	char last_hash[65];
	if (lo > 0) {
		char *ph = NULL;
		struct arena a = ARENA_INIT;
		rc = store_get_text(tx, "SELECT prev_hash FROM exchange_log WHERE seq = $1", ARGS(SA_INT(lo)), &a, &ph, e);
		if (rc > 0 && ph)
			str_copy(anchor, sizeof anchor, ph);
		arena_free(&a);
		if (rc < 0)
			return rc;
	}
	str_copy(last_hash, sizeof last_hash, anchor);
	jw_init(&w, &out);
	jw_obj(&w);
	jw_kstr(&w, "type", "tinhso-exchange-log-export");
	jw_kint(&w, "version", 1);
	jw_kstr(&w, "public_key", pkhex);
	jw_kstr(&w, "key_id", x->app->keys.key_id);
	jw_kint(&w, "from", x->from);
	jw_kint(&w, "to", x->to);
	jw_key(&w, "anchor");
	jw_obj(&w);
	jw_kint(&w, "seq", lo > 0 ? lo - 1 : 0);
	jw_kstr(&w, "hash", anchor);
	jw_obj_end(&w);
	jw_obj_end(&w);
	buf_putc(&out, '\n');
	int64_t after = lo > 0 ? lo - 1 : 0;
	x->n = 0;
	while (lo > 0 && after < hi) {
		struct store_q *q;
		rc = store_query(tx,
				 "SELECT " REC_COLS " FROM exchange_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT 5000",
				 ARGS(SA_INT(after), SA_INT(hi)), &q, e);
		if (rc < 0)
			break;
		struct arena a = ARENA_INIT;
		int got = 0;
		while ((rc = store_step(q, e)) == 1) {
			struct row r;
			row_read(q, &a, &r);
			jw_init(&w, &out);
			rec_json(&w, &r);
			buf_putc(&out, '\n');
			after = r.seq;
			str_copy(last_hash, sizeof last_hash, r.hash);
			x->n++;
			got++;
		}
		store_done(q);
		arena_free(&a);
		if (rc < 0)
			break;
		if (out.len > (1u << 20) || !got) {
			if (fwrite(out.ptr, 1, out.len, x->f) != out.len)
				rc = err_set(e, ERR_INTERNAL, "cannot write the export: %s", strerror(errno));
			buf_reset(&out);
		}
		if (!got || rc < 0)
			break;
	}
	if (rc >= 0) {
		struct buf canon = BUF_INIT, sig = BUF_INIT;
		trailer_canon(&canon, x->from, x->to, lo, lo > 0 ? after : 0, anchor, last_hash, x->n);
		keys_sign_hex(&x->app->keys, canon.ptr, canon.len, &sig);
		jw_init(&w, &out);
		jw_obj(&w);
		jw_kstr(&w, "type", "end");
		jw_kint(&w, "records", x->n);
		jw_kint(&w, "first_seq", lo);
		jw_kint(&w, "last_seq", lo > 0 ? after : 0);
		jw_kstr(&w, "last_hash", last_hash);
		jw_kstr(&w, "signature", sig.ptr);
		jw_obj_end(&w);
		buf_putc(&out, '\n');
		buf_free(&canon);
		buf_free(&sig);
		if (fwrite(out.ptr, 1, out.len, x->f) != out.len)
			rc = err_set(e, ERR_INTERNAL, "cannot write the export: %s", strerror(errno));
	}
	buf_free(&out);
	return rc < 0 ? rc : 0;
}

int64_t exchange_log_export(struct app *app, int64_t from_us, int64_t to_us, const char *path, struct err *e)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return err_set(e, ERR_BAD_REQUEST, "cannot create '%s': %s", path, strerror(errno));
	struct export_ctx x = {app, from_us, to_us > 0 ? to_us : INT64_MAX, f, 0};
	int rc = store_read(app->db, export_fn, &x, e);
	if (fflush(f) != 0 && rc >= 0)
		rc = err_set(e, ERR_INTERNAL, "cannot write '%s': %s", path, strerror(errno));
	fclose(f);
	return rc < 0 ? rc : x.n;
}

/* ---- verifying an export with the public key alone ---- */

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t jint(json_t *o, const char *k, bool *ok)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v)) {
		*ok = false;
		return 0;
	}
	return json_integer_value(v);
}

static bool hex_to_pk(const char *hex, unsigned char pk[32])
{
	if (!hex || strlen(hex) != 64)
		return false;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		pk[i] = (unsigned char)v;
	}
	return true;
}

int exchange_log_verify_export(const char *path, const char *public_key_hex, struct exchange_log_verify *res,
			       struct err *e)
{
	memset(res, 0, sizeof *res);
	FILE *f = fopen(path, "r");
	if (!f)
		return err_set(e, ERR_BAD_REQUEST, "cannot open '%s': %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0, lineno = 0;
	unsigned char pk[32];
	char prev[65] = "", anchor[65] = "";
	int64_t expect = 0, from = 0, to = 0, first = 0, last = 0;
	bool header = false, trailer = false;
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (trailer) {
			rc = err_set(e, ERR_INVALID, "line %d: data after the end line", lineno);
			break;
		}
		json_error_t je;
		json_t *o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(o)) {
			json_decref(o);
			rc = err_set(e, ERR_INVALID, "line %d is not a JSON object", lineno);
			break;
		}
		const char *type = jstr(o, "type");
		bool ok = true;
		if (!header) {
			if (!type || strcmp(type, "tinhso-exchange-log-export") != 0) {
				json_decref(o);
				rc = err_set(e, ERR_INVALID, "'%s' is not a tinhso message-log export", path);
				break;
			}
			const char *filekey = jstr(o, "public_key");
			const char *use = public_key_hex ? public_key_hex : filekey;
			if (!hex_to_pk(use, pk)) {
				json_decref(o);
				rc = err_set(e, ERR_INVALID, "the public key must be 64 hex characters");
				break;
			}
			json_t *an = json_object_get(o, "anchor");
			const char *ah = json_is_object(an) ? jstr(an, "hash") : NULL;
			expect = json_is_object(an) ? jint(an, "seq", &ok) + 1 : 0;
			from = jint(o, "from", &ok);
			to = jint(o, "to", &ok);
			if (!ah || strlen(ah) != 64 || !ok) {
				json_decref(o);
				rc = err_set(e, ERR_INVALID, "the export's header has no valid anchor");
				break;
			}
			str_copy(anchor, sizeof anchor, ah);
			str_copy(prev, sizeof prev, ah);
			first = expect;
			header = true;
			json_decref(o);
			continue;
		}
		if (type && strcmp(type, "end") == 0) {
			trailer = true;
			int64_t recs = jint(o, "records", &ok);
			int64_t fs = jint(o, "first_seq", &ok), ls = jint(o, "last_seq", &ok);
			const char *lh = jstr(o, "last_hash"), *sig = jstr(o, "signature");
			if (!res->first_bad) {
				if (!ok || !lh || !sig || recs != res->records || strcmp(lh, prev) != 0 ||
				    (recs && (fs != first || ls != last))) {
					res->first_bad = expect;
					str_copy(res->problem, sizeof res->problem,
						 "the end line does not match the records: records were removed or added");
				} else {
					struct buf canon = BUF_INIT;
					trailer_canon(&canon, from, to, fs, ls, anchor, lh, recs);
					if (!crypto_verify_hex(pk, canon.ptr, canon.len, sig)) {
						res->first_bad = expect;
						str_copy(res->problem, sizeof res->problem,
							 "the end line's signature does not verify: the export was cut or altered");
					}
					buf_free(&canon);
				}
			}
			json_decref(o);
			continue;
		}
		struct row w;
		memset(&w, 0, sizeof w);
		w.seq = jint(o, "seq", &ok);
		str_copy(w.r.id, sizeof w.r.id, jstr(o, "id") ? jstr(o, "id") : "");
		w.r.at = jint(o, "at", &ok);
		w.r.client = jstr(o, "client");
		w.r.service = jstr(o, "service");
		w.r.method = jstr(o, "method");
		w.r.path = jstr(o, "path");
		w.r.query = jstr(o, "query");
		w.r.purpose = jstr(o, "purpose");
		w.r.subject = jstr(o, "subject");
		w.r.request_time = jstr(o, "request_time");
		w.r.nonce = jstr(o, "nonce");
		str_copy(w.r.request_digest, sizeof w.r.request_digest,
			 jstr(o, "request_digest") ? jstr(o, "request_digest") : "");
		w.r.request_signature = jstr(o, "request_signature");
		w.r.status = (int)jint(o, "status", &ok);
		str_copy(w.r.response_digest, sizeof w.r.response_digest,
			 jstr(o, "response_digest") ? jstr(o, "response_digest") : "");
		w.r.response_signature = jstr(o, "response_signature");
		w.r.error = jstr(o, "error");
		w.r.duration_us = jint(o, "duration_us", &ok);
		w.prev_hash = jstr(o, "prev_hash");
		w.hash = jstr(o, "hash");
		w.key_id = jstr(o, "key_id");
		w.signature = jstr(o, "signature");
		res->records++;
		if (!res->first_bad) {
			const char *bad = NULL;
			if (!ok || !w.prev_hash || !w.hash)
				bad = "the record is incomplete";
			else
				bad = check_row(&w, prev, expect, pk, NULL);
			if (bad) {
				res->first_bad = w.seq ? w.seq : expect;
				str_copy(res->problem, sizeof res->problem, bad);
			} else {
				str_copy(prev, sizeof prev, w.hash);
				last = w.seq;
				expect++;
			}
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	if (rc < 0)
		return rc;
	if (!header)
		return err_set(e, ERR_INVALID, "'%s' is empty: not a message-log export", path);
	if (!trailer && !res->first_bad) {
		res->first_bad = expect;
		str_copy(res->problem, sizeof res->problem, "the export has no end line: it was cut short");
	}
	if (res->first_bad)
		return err_set(e, ERR_CONFLICT, "export record %lld: %s", (long long)res->first_bad, res->problem);
	return 0;
}

/* ---- the personal-data tracker ---- */

struct tracker_ctx {
	const struct ctx *c;
	const char *subject;
	int page, per_page;
	struct exchange_access_record *items;
	int n;
	int64_t total;
};

static int tracker_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct tracker_ctx *t = arg;
	struct arena *a = t->c->a;
	int rc = store_get_int(tx, "SELECT COUNT(*) FROM exchange_log WHERE subject = $1 AND error IS NULL",
			       ARGS(SA_TEXT(t->subject)), &t->total, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT id, at, client, service, purpose, status FROM exchange_log "
			 "WHERE subject = $1 AND error IS NULL ORDER BY at DESC, seq DESC LIMIT $2 OFFSET $3",
			 ARGS(SA_TEXT(t->subject), SA_INT(t->per_page), SA_INT((int64_t)(t->page - 1) * t->per_page)),
			 &q, e);
	if (rc < 0)
		return rc;
	t->items = arena_alloc(a, sizeof *t->items * (size_t)t->per_page);
	t->n = 0;
	while ((rc = store_step(q, e)) == 1) {
		struct exchange_access_record *x = &t->items[t->n++];
		x->message_id = store_dup(q, 0, a);
		x->at = store_int(q, 1);
		char *client = store_dup(q, 2, a);
		x->service = store_dup(q, 3, a);
		x->purpose = store_dup(q, 4, a);
		x->status = (int)store_int(q, 5);
		char *slash = strchr(client, '/');
		x->client_member = client;
		x->client_subsystem = slash ? slash + 1 : "";
		if (slash)
			*slash = 0;
	}
	store_done(q);
	if (rc < 0)
		return rc;
	for (int i = 0; i < t->n; i++) {
		struct exchange_access_record *x = &t->items[i];
		char *name = NULL;
		rc = store_get_text(tx, "SELECT name FROM exchange_members WHERE code = $1",
				    ARGS(SA_TEXT(x->client_member)), a, &name, e);
		if (rc < 0)
			return rc;
		x->client_member_name = name;
		char *parts[3];
		if (xname_split(x->service, 3, a, parts)) {
			char *desc = NULL;
			rc = store_get_text(tx,
					    "SELECT description FROM exchange_services WHERE member = $1 AND subsystem = $2 "
					    "AND code = $3",
					    ARGS(SA_TEXT(parts[0]), SA_TEXT(parts[1]), SA_TEXT(parts[2])), a, &desc, e);
			if (rc < 0)
				return rc;
			x->service_description = desc;
		}
	}
	return 0;
}

int exchange_data_access_list(const struct ctx *c, int page, int per_page, struct exchange_access_record **out,
			      int *n, int64_t *total, struct err *e)
{
	*out = NULL;
	*n = 0;
	*total = 0;
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in to see who accessed your data");
	if (c->who->role != ROLE_CITIZEN || !c->who->id_number || !*c->who->id_number)
		return err_set(e, ERR_FORBIDDEN, "only citizens with an identity number have a data-access record");
	struct tracker_ctx t = {c, c->who->id_number, page < 1 ? 1 : page, per_page < 1 ? 50 : per_page, NULL, 0, 0};
	int rc = store_read(c->app->db, tracker_fn, &t, e);
	*out = t.items;
	*n = t.n;
	*total = t.total;
	return rc;
}
