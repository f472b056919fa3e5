/* sim_sms.c: the simulated SMS gateway of tinhso-sim (a brandname SMS
 * provider's HTTP API, simplified):
 *
 *   POST /sms/send {to, text, id?}  -> 202 {"message_id", "to", "status": "accepted"}
 *        to: a Vietnamese mobile number (0xxxxxxxxx, 84xxxxxxxxx or
 *        +84xxxxxxxxx; prefixes 3, 5, 7, 8, 9); text: 1..1000 characters of
 *        UTF-8; id: the sender's idempotency key (1..200 bytes). A second
 *        send with an id already seen answers 200 with the first message_id
 *        and stores nothing.
 *   GET  /sms/messages?to=          -> {"items": [{message_id, id, to, text, at}], "total": N}
 *        oldest first; to (any of the forms above) filters by number
 *   POST /sms/fail {"count": N}     -> the next N sends answer 503 (tests of retries)
 *
 * Messages are kept in memory, at most SMS_MAX (the oldest are forgotten),
 * under one mutex. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/time.h"
#include "http/http.h"
#include "sim/sim.h"

enum { SMS_MAX = 10000, SMS_TEXT_MAX_CHARS = 1000, SMS_ID_MAX = 200 };

struct sms {
	uint64_t seq;
	char message_id[32];
	char to[16];	/* normalised: 0xxxxxxxxx */
	char *id;	/* malloc, NULL when the sender gave none */
	char *text;	/* malloc */
	int64_t at;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sms ring[SMS_MAX];
static size_t ring_start, ring_len;
static uint64_t next_seq = 1;
static int64_t fail_next;

/* Vietnamese mobile numbers to the national form 0xxxxxxxxx; false if not one. */
static bool phone_normalise(const char *in, char out[16])
{
	const char *p = in;
	if (p[0] == '+' && p[1] == '8' && p[2] == '4')
		p += 3;
	else if (p[0] == '8' && p[1] == '4' && strlen(p) == 11)
		p += 2;
	else if (p[0] == '0')
		p += 1;
	else
		return false;
	if (strlen(p) != 9 || !strchr("35789", p[0]))
		return false;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	snprintf(out, 16, "0%s", p);
	return true;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static char *dup_or_die(const char *s)
{
	size_t n = strlen(s);
	char *p = malloc(n + 1);
	if (!p)
		abort();
	memcpy(p, s, n + 1);
	return p;
}

static void sms_json(struct jw *w, const struct sms *m)
{
	jw_obj(w);
	jw_kstr(w, "message_id", m->message_id);
	jw_kstr(w, "id", m->id);
	jw_kstr(w, "to", m->to);
	jw_kstr(w, "text", m->text);
	jw_ktime(w, "at", m->at);
	jw_obj_end(w);
}

static int h_send(struct req *r)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	const char *to = NULL, *text = NULL, *id = NULL;
	const struct jfield f[] = {
		{"to", JF_STR, true, 32, &to, NULL},
		{"text", JF_STR, true, SMS_TEXT_MAX_CHARS * 4, &text, NULL},
		{"id", JF_STR, false, SMS_ID_MAX, &id, NULL},
	};
	if ((rc = json_decode(body, f, sizeof f / sizeof f[0], r->a, &r->err)) < 0)
		return rc;
	char phone[16];
	if (!phone_normalise(to, phone))
		err_field(&r->err, "to", "must be a Vietnamese mobile number (0xxxxxxxxx or +84xxxxxxxxx)");
	size_t chars = utf8_chars(text);
	if (chars < 1 || chars > SMS_TEXT_MAX_CHARS)
		err_field(&r->err, "text", "must be 1 to %d characters", SMS_TEXT_MAX_CHARS);
	if (id && !id[0])
		err_field(&r->err, "id", "must not be empty");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;

	char message_id[32];
	int status = 202;
	pthread_mutex_lock(&mu);
	if (fail_next > 0) {
		fail_next--;
		pthread_mutex_unlock(&mu);
		r->err.retry_after = 1;
		return err_set(&r->err, ERR_UNAVAILABLE, "the SMS gateway is unavailable (simulated failure)");
	}
	const struct sms *seen = NULL;
	for (size_t i = 0; id && i < ring_len && !seen; i++) {
		const struct sms *m = &ring[(ring_start + i) % SMS_MAX];
		if (m->id && strcmp(m->id, id) == 0)
			seen = m;
	}
	if (seen) {
		str_copy(message_id, sizeof message_id, seen->message_id);
		status = 200;
	} else {
		struct sms *m;
		if (ring_len == SMS_MAX) {
			m = &ring[ring_start];
			free(m->id);
			free(m->text);
			ring_start = (ring_start + 1) % SMS_MAX;
			ring_len--;
		}
		m = &ring[(ring_start + ring_len) % SMS_MAX];
		ring_len++;
		m->seq = next_seq++;
		snprintf(m->message_id, sizeof m->message_id, "SIMSMS-%08llu", (unsigned long long)m->seq);
		str_copy(m->to, sizeof m->to, phone);
		m->id = id ? dup_or_die(id) : NULL;
		m->text = dup_or_die(text);
		m->at = time_now_us();
		str_copy(message_id, sizeof message_id, m->message_id);
	}
	pthread_mutex_unlock(&mu);
	struct jw *w = res_json(r, status);
	jw_obj(w);
	jw_kstr(w, "message_id", message_id);
	jw_kstr(w, "to", phone);
	jw_kstr(w, "status", status == 202 ? "accepted" : "duplicate");
	jw_obj_end(w);
	return 0;
}

static int h_messages(struct req *r)
{
	const char *to = req_query(r, "to");
	char phone[16] = "";
	if (to && *to && !phone_normalise(to, phone)) {
		err_field(&r->err, "to", "must be a Vietnamese mobile number");
		return err_fields_done(&r->err);
	}
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_key(w, "items");
	jw_arr(w);
	int64_t total = 0;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < ring_len; i++) {
		const struct sms *m = &ring[(ring_start + i) % SMS_MAX];
		if (phone[0] && strcmp(m->to, phone) != 0)
			continue;
		sms_json(w, m);
		total++;
	}
	pthread_mutex_unlock(&mu);
	jw_arr_end(w);
	jw_kint(w, "total", total);
	jw_obj_end(w);
	return 0;
}

static int h_fail(struct req *r)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	int64_t count = 0;
	const struct jfield f[] = {{"count", JF_INT, true, 0, &count, NULL}};
	if ((rc = json_decode(body, f, 1, r->a, &r->err)) < 0)
		return rc;
	if (count < 0 || count > 1000000) {
		err_field(&r->err, "count", "must be 0 to 1000000");
		return err_fields_done(&r->err);
	}
	pthread_mutex_lock(&mu);
	fail_next = count;
	pthread_mutex_unlock(&mu);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kint(w, "fail_next", count);
	jw_obj_end(w);
	return 0;
}

const struct route sim_sms_routes[] = {
	{"POST", "/sms/send", h_send, 0},
	{"GET", "/sms/messages", h_messages, 0},
	{"POST", "/sms/fail", h_fail, 0},
};
const size_t sim_sms_nroutes = sizeof sim_sms_routes / sizeof sim_sms_routes[0];
