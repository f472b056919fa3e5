/* notify_worker.c: delivering the 'notify' rows of the outbox (claimed,
 * retried and given up by outbox.h), and the deadline scanner that queues
 * due-soon and overdue events.
 *
 * A crash between delivery and its record re-delivers the row after its claim
 * expires, so each channel tolerates a repeat: the file sink remembers which
 * event and recipient lines it holds, the SMS gateway dedupes on the id we
 * send (the row's dedupe key), and e-mails carry a Message-ID derived from
 * that key. */
#include "notify/notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "calendar/calendar.h"
#include "calendar/calendar_store.h"
#include "crypto/crypto.h"
#include "outbox/outbox.h"

enum {
	SCAN_EVERY_S = 60,
	IDLE_WAIT_MS = 1000,	/* a worker with nothing to do looks again after this */
	SMS_TIMEOUT_S = 5,
	SMTP_TIMEOUT_S = 20,
	SCAN_CHUNK = 200,
};

#define US_PER_S INT64_C(1000000)

/* ---- the file sink's memory of what it holds ---- */

/* Set of 128-bit digests of "event_id\nrecipient", open addressing; the
 * all-zero key marks an empty slot. */
struct keyset {
	unsigned char (*slot)[16];
	size_t cap, n;
};

static size_t keyset_pos(const unsigned char *k, size_t cap)
{
	uint64_t h;
	memcpy(&h, k, sizeof h);
	return (size_t)(h & (cap - 1));
}

static bool keyset_has(const struct keyset *s, const unsigned char *k)
{
	if (!s->cap)
		return false;
	static const unsigned char zero[16];
	for (size_t i = keyset_pos(k, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (memcmp(s->slot[i], k, 16) == 0)
			return true;
		if (memcmp(s->slot[i], zero, 16) == 0)
			return false;
	}
}

static void keyset_add(struct keyset *s, const unsigned char *k)
{
	if (keyset_has(s, k))
		return;
	if ((s->n + 1) * 2 > s->cap) {
		struct keyset bigger = {NULL, s->cap ? s->cap * 2 : 1024, 0};
		bigger.slot = calloc(bigger.cap, 16);
		if (!bigger.slot)
			abort();
		static const unsigned char zero[16];
		for (size_t i = 0; i < s->cap; i++)
			if (memcmp(s->slot[i], zero, 16) != 0)
				keyset_add(&bigger, s->slot[i]);
		free(s->slot);
		*s = bigger;
	}
	size_t i = keyset_pos(k, s->cap);
	static const unsigned char zero[16];
	while (memcmp(s->slot[i], zero, 16) != 0)
		i = (i + 1) & (s->cap - 1);
	memcpy(s->slot[i], k, 16);
	s->n++;
}

static void keyset_free(struct keyset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}

static void line_key(const char *event_id, const char *recipient, unsigned char out[16])
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s\n%s", event_id, recipient);
	unsigned char h[32];
	crypto_sha256(b.ptr, b.len, h);
	buf_free(&b);
	memcpy(out, h, 16);
	static const unsigned char zero[16];
	if (memcmp(out, zero, 16) == 0)
		out[0] = 1;
}

/* ---- state ---- */

struct notify_state {
	struct app *app;
	struct outbox_workers *workers; /* NULL until notify_start */
	bool scanner_running;
	pthread_t scanner;

	pthread_mutex_t file_mu;
	char *file_path;   /* the sink whose lines keys describes; NULL before the first delivery */
	bool file_partial; /* the file does not end with a newline (a torn write) */
	struct keyset keys;
};

static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static struct notify_state *state_get(struct app *app)
{
	pthread_once(&curl_once, curl_init_once);
	pthread_mutex_lock(&state_mu);
	struct notify_state *st = app->notify;
	if (!st) {
		st = calloc(1, sizeof *st);
		if (!st)
			abort();
		st->app = app;
		pthread_mutex_init(&st->file_mu, NULL);
		app->notify = st;
	}
	pthread_mutex_unlock(&state_mu);
	return st;
}

/* ---- one row ---- */

static int path_of_sink(const struct config *cfg, char *out, size_t cap)
{
	if (!cfg->notify_file || !cfg->notify_file[0])
		return -1;
	if (cfg->notify_file[0] == '/')
		snprintf(out, cap, "%s", cfg->notify_file);
	else
		snprintf(out, cap, "%s/%s", cfg->data, cfg->notify_file);
	return 0;
}

/* Reads the lines already in the sink into st->keys. Lines that are not
 * whole JSON (a torn last line) are not remembered, so their rows go again. */
static void file_load(struct notify_state *st, const char *path)
{
	keyset_free(&st->keys);
	free(st->file_path);
	st->file_path = strdup(path);
	if (!st->file_path)
		abort();
	st->file_partial = false;
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	size_t lines = 0;
	bool last_nl = true;
	while ((n = getline(&line, &cap, f)) > 0) {
		last_nl = line[n - 1] == '\n';
		json_t *j = json_loadb(line, (size_t)n, 0, NULL);
		const char *ev = j ? json_string_value(json_object_get(j, "event_id")) : NULL;
		const char *rcpt = j ? json_string_value(json_object_get(j, "recipient")) : NULL;
		if (ev && rcpt) {
			unsigned char k[16];
			line_key(ev, rcpt, k);
			keyset_add(&st->keys, k);
			lines++;
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
	st->file_partial = !last_nl;
	log_info("notify: file sink '%s' holds %zu notifications", path, lines);
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void fsync_dir_of(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void deliver_file(struct notify_state *st, struct outbox_row *it, json_t *p)
{
	char path[4096];
	if (path_of_sink(st->app->cfg, path, sizeof path) < 0) {
		outbox_error(it, OUTBOX_FAIL, "the file sink is off (notify_file is empty)");
		return;
	}
	const char *ev = json_string_value(json_object_get(p, "event_id"));
	const char *rcpt = json_string_value(json_object_get(p, "recipient"));
	if (!ev || !rcpt) {
		outbox_error(it, OUTBOX_FAIL, "payload without event_id or recipient");
		return;
	}
	unsigned char k[16];
	line_key(ev, rcpt, k);
	pthread_mutex_lock(&st->file_mu);
	if (!st->file_path || strcmp(st->file_path, path) != 0)
		file_load(st, path);
	if (keyset_has(&st->keys, k)) {
		pthread_mutex_unlock(&st->file_mu);
		it->out = OUTBOX_DONE; /* delivered before a crash or a lost record */
		return;
	}
	struct stat sb;
	bool existed = stat(path, &sb) == 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		outbox_error(it, OUTBOX_RETRY, "cannot open '%s': %s", path, strerror(errno));
		pthread_mutex_unlock(&st->file_mu);
		return;
	}
	struct buf line = BUF_INIT;
	if (st->file_partial)
		buf_putc(&line, '\n'); /* end the torn line so that ours stands alone */
	buf_puts(&line, it->payload);
	buf_putc(&line, '\n');
	bool ok = write_all(fd, line.ptr, line.len) && fsync(fd) == 0;
	int saved = errno;
	close(fd);
	buf_free(&line);
	if (!ok) {
		/* what reached the file is unknown: read it again next time */
		free(st->file_path);
		st->file_path = NULL;
		outbox_error(it, OUTBOX_RETRY, "cannot append to '%s': %s", path, strerror(saved));
	} else {
		if (!existed)
			fsync_dir_of(path);
		st->file_partial = false;
		keyset_add(&st->keys, k);
		it->out = OUTBOX_DONE;
	}
	pthread_mutex_unlock(&st->file_mu);
}

/* ---- libcurl ---- */

struct sink {
	struct buf b;
};

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (s->b.len < 2048)
		buf_append(&s->b, p, n < 2048 - s->b.len ? n : 2048 - s->b.len);
	return n;
}

/* arg: the workers' cancel flag, or NULL */
static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const int *cancel = arg;
	return cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static void curl_common(CURL *h, const int *cancel, char *errbuf, long timeout_s)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel);
}

static void sms_url(const struct config *cfg, char *out, size_t cap)
{
	if (cfg->sms_url && cfg->sms_url[0]) {
		snprintf(out, cap, "%s", cfg->sms_url);
	} else if (cfg->sim_url && cfg->sim_url[0]) {
		size_t n = strlen(cfg->sim_url);
		while (n > 0 && cfg->sim_url[n - 1] == '/')
			n--;
		snprintf(out, cap, "%.*s/sms/send", (int)n, cfg->sim_url);
	} else {
		out[0] = 0;
	}
}

static void deliver_sms(struct notify_state *st, struct outbox_row *it, json_t *p, const int *cancel)
{
	char url[1024];
	sms_url(st->app->cfg, url, sizeof url);
	if (!url[0]) {
		outbox_error(it, OUTBOX_FAIL, "no SMS gateway is configured (sms_url, sim_url)");
		return;
	}
	const char *to = json_string_value(json_object_get(p, "to"));
	const char *text = json_string_value(json_object_get(p, "text"));
	if (!to || !text) {
		outbox_error(it, OUTBOX_FAIL, "payload without to or text");
		return;
	}
	struct buf body = BUF_INIT;
	struct jw w;
	jw_init(&w, &body);
	jw_obj(&w);
	jw_kstr(&w, "to", to);
	jw_kstr(&w, "text", text);
	jw_kstr(&w, "id", it->dedupe);
	jw_obj_end(&w);
	CURL *h = curl_easy_init();
	if (!h) {
		buf_free(&body);
		outbox_error(it, OUTBOX_RETRY, "curl_easy_init failed");
		return;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink resp = {BUF_INIT};
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Accept: application/json");
	curl_common(h, cancel, errbuf, SMS_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.ptr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	CURLcode rc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		it->out = OUTBOX_ABORT;
	else if (rc != CURLE_OK)
		outbox_error(it, OUTBOX_RETRY, "SMS gateway: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (status >= 200 && status < 300)
		it->out = OUTBOX_DONE;
	else
		outbox_error(it,
			     status >= 400 && status < 500 && status != 408 && status != 429 ? OUTBOX_FAIL : OUTBOX_RETRY,
			     "SMS gateway answered %ld: %.200s", status, buf_cstr(&resp.b));
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	buf_free(&resp.b);
	buf_free(&body);
}

static void base64(struct buf *out, const unsigned char *p, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		buf_putc(out, tbl[(v >> 18) & 63]);
		buf_putc(out, tbl[(v >> 12) & 63]);
		buf_putc(out, i + 1 < n ? tbl[(v >> 6) & 63] : '=');
		buf_putc(out, i + 2 < n ? tbl[v & 63] : '=');
	}
}

/* Subject header value: as is when it is printable ASCII, else RFC 2047
 * encoded words (B encoding, at most 45 bytes of whole UTF-8 characters each,
 * so every word stays within 75 characters), folded one per line. */
static void header_encode(struct buf *out, const char *s)
{
	size_t n = strlen(s);
	bool plain = n < 900;
	for (size_t i = 0; i < n && plain; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			plain = false;
	if (plain) {
		buf_puts(out, s);
		return;
	}
	size_t i = 0;
	bool first = true;
	while (i < n) {
		size_t end = i + 45 < n ? i + 45 : n;
		while (end < n && end > i && ((unsigned char)s[end] & 0xc0) == 0x80)
			end--;
		if (end == i)
			end = i + 1;
		if (!first)
			buf_puts(out, "\r\n ");
		first = false;
		buf_puts(out, "=?UTF-8?B?");
		base64(out, (const unsigned char *)s + i, end - i);
		buf_puts(out, "?=");
		i = end;
	}
}

static void rfc5322_date(int64_t unix_us, char *out, size_t cap)
{
	static const char *const wd[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t s = unix_us / US_PER_S + TIME_OFFSET_S;
	int64_t days = s / 86400, sod = s % 86400;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)days, &y, &m, &d);
	snprintf(out, cap, "%s, %u %s %04d %02d:%02d:%02d +0700", wd[days % 7], d, mon[(m - 1) % 12], y,
		 (int)(sod / 3600), (int)(sod % 3600 / 60), (int)(sod % 60));
}

/* The whole message, CRLF line ends, body base64 in 76-character lines. */
static void build_mail(struct buf *m, const char *from, const char *to, const char *subject, const char *text,
		       const char *dedupe, const char *event_id)
{
	char date[64];
	rfc5322_date(time_now_us(), date, sizeof date);
	const char *at = strrchr(from, '@');
	const char *domain = at && at[1] ? at + 1 : "tinhso.localhost";
	char digest[65];
	crypto_sha256_hex(dedupe, strlen(dedupe), digest);
	buf_printf(m, "Date: %s\r\n", date);
	buf_printf(m, "From: <%s>\r\n", from);
	buf_printf(m, "To: <%s>\r\n", to);
	buf_puts(m, "Subject: ");
	header_encode(m, subject);
	buf_puts(m, "\r\n");
	buf_printf(m, "Message-ID: <%.40s@%s>\r\n", digest, domain);
	buf_puts(m, "MIME-Version: 1.0\r\n");
	buf_puts(m, "Content-Type: text/plain; charset=UTF-8\r\n");
	buf_puts(m, "Content-Transfer-Encoding: base64\r\n");
	buf_puts(m, "Auto-Submitted: auto-generated\r\n");
	bool printable = event_id[0] && strlen(event_id) < 200;
	for (const char *p = event_id; *p && printable; p++)
		printable = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
	if (printable)
		buf_printf(m, "X-Tinhso-Event: %s\r\n", event_id);
	buf_puts(m, "\r\n");
	struct buf crlf = BUF_INIT, b64 = BUF_INIT;
	for (const char *p = text; *p; p++) {
		if (*p == '\n' && (p == text || p[-1] != '\r'))
			buf_putc(&crlf, '\r');
		buf_putc(&crlf, *p);
	}
	base64(&b64, (const unsigned char *)buf_cstr(&crlf), crlf.len);
	for (size_t i = 0; i < b64.len; i += 76) {
		buf_append(m, b64.ptr + i, b64.len - i < 76 ? b64.len - i : 76);
		buf_puts(m, "\r\n");
	}
	buf_free(&crlf);
	buf_free(&b64);
}

struct reader {
	const char *p;
	size_t len, off;
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct reader *r = arg;
	size_t n = size * nmemb, left = r->len - r->off;
	if (n > left)
		n = left;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return n;
}

static bool addr_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 254 || !strchr(s, '@'))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("<>\\\"", *p))
			return false;
	return true;
}

static void deliver_email(struct notify_state *st, struct outbox_row *it, json_t *p, const int *cancel)
{
	const struct config *cfg = st->app->cfg;
	if (!cfg->smtp_url || !cfg->smtp_url[0]) {
		outbox_error(it, OUTBOX_FAIL, "no SMTP server is configured (smtp_url)");
		return;
	}
	const char *to = json_string_value(json_object_get(p, "to"));
	const char *subject = json_string_value(json_object_get(p, "subject"));
	const char *text = json_string_value(json_object_get(p, "text"));
	const char *ev = json_string_value(json_object_get(p, "event_id"));
	if (!addr_ok(to) || !subject || !text) {
		outbox_error(it, OUTBOX_FAIL, "payload without a usable address, subject or text");
		return;
	}
	if (!addr_ok(cfg->smtp_from)) {
		outbox_error(it, OUTBOX_RETRY, "smtp_from '%s' is not a usable address", cfg->smtp_from);
		return;
	}
	struct buf msg = BUF_INIT;
	build_mail(&msg, cfg->smtp_from, to, subject, text, it->dedupe, ev ? ev : "");
	char from[300], rcpt[300];
	snprintf(from, sizeof from, "<%s>", cfg->smtp_from);
	snprintf(rcpt, sizeof rcpt, "<%s>", to);
	CURL *h = curl_easy_init();
	if (!h) {
		buf_free(&msg);
		outbox_error(it, OUTBOX_RETRY, "curl_easy_init failed");
		return;
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
	struct reader rd = {msg.ptr, msg.len, 0};
	curl_common(h, cancel, errbuf, SMTP_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &rd);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)msg.len);
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		it->out = OUTBOX_ABORT;
	else if (rc == CURLE_OK)
		it->out = OUTBOX_DONE;
	else
		outbox_error(it, code >= 500 && code < 600 ? OUTBOX_FAIL : OUTBOX_RETRY, "SMTP: %s (reply %ld)",
			     errbuf[0] ? errbuf : curl_easy_strerror(rc), code);
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(h);
	buf_free(&msg);
}

static void deliver(void *arg, struct outbox_row *it, const int *cancel)
{
	struct notify_state *st = arg;
	json_t *p = json_loads(it->payload, 0, NULL);
	if (!json_is_object(p))
		outbox_error(it, OUTBOX_FAIL, "payload is not a JSON object");
	else if (strcmp(it->channel, "file") == 0)
		deliver_file(st, it, p);
	else if (strcmp(it->channel, "sms") == 0)
		deliver_sms(st, it, p, cancel);
	else if (strcmp(it->channel, "email") == 0)
		deliver_email(st, it, p, cancel);
	else
		outbox_error(it, OUTBOX_FAIL, "unknown channel '%s'", it->channel);
	json_decref(p);
}

static const struct outbox_kind notify_outbox = {
	.kind = "notify",
	.run_us = (SMTP_TIMEOUT_S + 10) * US_PER_S,
	.deliver = deliver,
};

static int deliver_batch(void *arg, int64_t now_us, const int *cancel, struct err *e)
{
	struct notify_state *st = arg;
	return outbox_pass(st->app, &notify_outbox, st, now_us, cancel, e);
}

int notify_deliver_batch(struct app *app, int64_t now_us, struct err *e)
{
	return deliver_batch(state_get(app), now_us, NULL, e);
}

/* ---- deadlines ---- */

struct cand {
	char *code, *agency, *procedure, *agency_name, *applicant;
	int64_t due_at;
	bool due_soon_notified;
};

struct scan {
	struct arena a;
	int64_t now, horizon;
	struct cand c[SCAN_CHUNK];
	int n;
};

static int scan_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct scan *s = arg;
	s->n = 0;
	struct store_q *q;
	int rc = store_query(
		tx,
		"SELECT d.code, d.current_agency, p.name, a.name, d.applicant_name, d.due_at, d.due_soon_notified "
		"FROM dossiers d LEFT JOIN procedures p ON p.code = d.procedure_code "
		"LEFT JOIN agencies a ON a.code = d.current_agency "
		"WHERE d.status IN (2, 4) AND d.paused_at IS NULL AND d.due_at IS NOT NULL AND d.overdue_notified = 0 "
		"AND (d.due_at < $1 OR d.due_soon_notified = 0) AND d.due_at <= $2 ORDER BY d.due_at, d.code LIMIT 200",
		ARGS(SA_INT(s->now), SA_INT(s->horizon)), &q, e);
	if (rc < 0)
		return rc;
	while ((rc = store_step(q, e)) == 1 && s->n < SCAN_CHUNK) {
		struct cand *c = &s->c[s->n++];
		c->code = store_dup(q, 0, &s->a);
		c->agency = store_dup(q, 1, &s->a);
		c->procedure = store_dup(q, 2, &s->a);
		c->agency_name = store_dup(q, 3, &s->a);
		c->applicant = store_dup(q, 4, &s->a);
		c->due_at = store_int(q, 5);
		c->due_soon_notified = store_int(q, 6) != 0;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

struct flag_job {
	struct app *app;
	const struct cand *c;
	enum notify_event ev;
	bool queued;
};

static int flag_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct flag_job *j = arg;
	j->queued = false;
	/* the conditions again: the dossier may have moved on since the scan */
	const char *sql = j->ev == NE_OVERDUE
				  ? "UPDATE dossiers SET overdue_notified = 1 WHERE code = $1 AND overdue_notified = 0 "
				    "AND due_at = $2 AND status IN (2, 4) AND paused_at IS NULL"
				  : "UPDATE dossiers SET due_soon_notified = 1 WHERE code = $1 AND due_soon_notified = 0 "
				    "AND overdue_notified = 0 AND due_at = $2 AND status IN (2, 4) AND paused_at IS NULL";
	int rc = store_exec(tx, sql, ARGS(SA_TEXT(j->c->code), SA_INT(j->c->due_at)), e);
	if (rc <= 0)
		return rc;
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = j->app, .a = &a, .actor = "system"};
	struct notify_dossier d = {
		.code = j->c->code,
		.procedure_name = j->c->procedure,
		.agency_code = j->c->agency,
		.agency_name = j->c->agency_name,
		.applicant_name = j->c->applicant,
		.lang = "vi",
		.due_at = j->c->due_at,
		.step_id = j->c->due_at,
	};
	rc = notify_dossier_event(tx, &c, j->ev, &d, e);
	arena_free(&a);
	if (rc < 0)
		return rc;
	j->queued = true;
	return 0;
}

int notify_scan_deadlines(struct app *app, const struct calendar *cal, int64_t now_us, struct err *e)
{
	int64_t soon_us = app->cfg->due_soon_minutes * 60 * US_PER_S;
	int64_t day_us = calendar_day_us(cal);
	if (day_us <= 0)
		day_us = 8 * 3600 * US_PER_S;
	/* Office time never runs faster than wall time, and a stretch of n working
	 * days fits in 2n + 31 calendar days even across Tết: no dossier due
	 * later can be due soon, which keeps the scan to an index range. */
	int64_t days = soon_us / day_us + 1;
	struct scan *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->now = now_us;
	s->horizon = now_us + (2 * days + 31) * 86400 * US_PER_S;
	int queued = 0, rc = 0;
	for (int round = 0; round < 1000; round++) {
		arena_free(&s->a);
		if ((rc = store_read(app->db, scan_fn, s, e)) < 0)
			break;
		bool more = s->n == SCAN_CHUNK, progressed = false;
		for (int i = 0; i < s->n; i++) {
			const struct cand *c = &s->c[i];
			struct flag_job j = {app, c, NE_OVERDUE, false};
			if (now_us > c->due_at)
				j.ev = NE_OVERDUE;
			else if (!c->due_soon_notified && calendar_working_us_between(cal, now_us, c->due_at) <= soon_us)
				j.ev = NE_DUE_SOON;
			else {
				/* office time left only grows with due_at: the rest are not due soon either */
				more = false;
				break;
			}
			if ((rc = store_write(app->db, flag_fn, &j, e)) < 0)
				break;
			progressed = true;
			queued += j.queued;
		}
		if (rc < 0 || !more || !progressed)
			break;
	}
	arena_free(&s->a);
	free(s);
	return rc < 0 ? rc : queued;
}

/* ---- threads ---- */

static void *scanner_main(void *arg)
{
	struct notify_state *st = arg;
	struct calendar *cal = malloc(sizeof *cal);
	if (!cal)
		abort();
	while (!outbox_workers_stopping(st->workers)) {
		calendar_current(st->app, cal);
		struct err e = {0};
		int n = notify_scan_deadlines(st->app, cal, time_now_us(), &e);
		if (n < 0)
			log_warn("notify: deadline scan failed: %s", e.msg);
		else if (n > 0)
			log_info("notify: %d due-soon or overdue dossiers notified", n);
		outbox_workers_wait(st->workers, SCAN_EVERY_S * 1000);
	}
	free(cal);
	return NULL;
}

int notify_start(struct app *app, struct err *e)
{
	struct notify_state *st = state_get(app);
	if (st->workers)
		return err_set(e, ERR_INTERNAL, "notify: already started");
	int n = (int)app->cfg->notify_workers;
	int rc = outbox_workers_start(&st->workers, "notify", n, IDLE_WAIT_MS, deliver_batch, st, e);
	if (rc < 0)
		return rc;
	rc = pthread_create(&st->scanner, NULL, scanner_main, st);
	if (rc != 0) {
		notify_stop(app);
		return err_set(e, ERR_INTERNAL, "notify: cannot start the deadline scanner: %s", strerror(rc));
	}
	st->scanner_running = true;
	log_info("notify: %d delivery threads and the deadline scanner started", n);
	return 0;
}

void notify_stop(struct app *app)
{
	pthread_mutex_lock(&state_mu);
	struct notify_state *st = app->notify;
	pthread_mutex_unlock(&state_mu);
	if (!st)
		return;
	outbox_workers_stop(st->workers); /* wakes the scanner too */
	if (st->scanner_running)
		pthread_join(st->scanner, NULL);
	pthread_mutex_lock(&state_mu);
	app->notify = NULL;
	pthread_mutex_unlock(&state_mu);
	outbox_workers_free(st->workers);
	keyset_free(&st->keys);
	free(st->file_path);
	pthread_mutex_destroy(&st->file_mu);
	free(st);
}
