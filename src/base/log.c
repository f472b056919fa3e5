/* log.c: JSON-lines logger. Every write to standard error is whole lines
 * under one lock, so lines never interleave; access lines are batched. */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/time.h"

int log_level = LOG_INFO;
static _Thread_local char log_rid[40];

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_OFF; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_set_request_id(const char *rid)
{
	str_copy(log_rid, sizeof log_rid, rid ? rid : "");
}

/* When the log is a regular file, its pages are pushed to the disk every
 * LOG_FLUSH_AFTER bytes (sync_file_range: started, not waited for), as
 * PostgreSQL's *_flush_after settings do. Left to the kernel, a busy server's
 * access log piles up hundreds of MiB of dirty pages that are written back in
 * one burst 30 s later, and every database fsync queued behind that burst
 * stalls for hundreds of milliseconds. */
enum { LOG_FLUSH_AFTER = 256 * 1024 };
static atomic_int log_is_file = -1; /* -1: not looked at yet */
static atomic_uint_fast64_t log_unflushed;

static void log_flush_maybe(size_t n)
{
	int is_file = atomic_load(&log_is_file);
	if (is_file < 0) {
		struct stat st;
		is_file = fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode);
		atomic_store(&log_is_file, is_file);
	}
	if (!is_file)
		return;
	uint64_t before = atomic_fetch_add(&log_unflushed, n);
	if (before < LOG_FLUSH_AFTER && before + n >= LOG_FLUSH_AFTER) {
		atomic_store(&log_unflushed, 0);
		sync_file_range(STDERR_FILENO, 0, 0, SYNC_FILE_RANGE_WRITE);
	}
}

/* Writes whole lines to standard error. The lock keeps concurrent writers'
 * lines apart on pipes and sockets too (journald), where a long write may be
 * cut short and finished by a second one. */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void out_write(struct iovec *v, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++)
		total += v[i].iov_len;
	pthread_mutex_lock(&out_mu);
	while (n > 0) {
		ssize_t r = writev(STDERR_FILENO, v, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* nowhere to log to: the lines are dropped */
		size_t left = (size_t)r;
		while (n > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	pthread_mutex_unlock(&out_mu);
	log_flush_maybe(total);
}

/* Access lines are written in batches: each thread collects its lines and
 * writes them with one call when LOG_BATCH bytes are waiting, before the
 * thread logs any other line (so its lines stay in order), at the latest
 * LOG_BATCH_MS after the first one (the flusher thread) and at log_flush().
 * One system call for dozens of requests instead of one each; a kill -9 may
 * lose the last LOG_BATCH_MS of access lines (never an audit entry: those are
 * in the database). */
enum { LOG_BATCH = 16 * 1024, LOG_BATCH_MS = 200 };

struct log_batch {
	pthread_mutex_t mu; /* its thread and the flusher */
	size_t len;
	struct log_batch *next;
	char buf[LOG_BATCH];
};

static pthread_mutex_t batches_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_batch *batches;
static pthread_key_t batch_key;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;
static _Thread_local struct log_batch *my_batch;

static void batch_write_locked(struct log_batch *b)
{
	if (!b->len)
		return;
	struct iovec v = {b->buf, b->len};
	out_write(&v, 1);
	b->len = 0;
}

void log_flush(void)
{
	pthread_mutex_lock(&batches_mu);
	for (struct log_batch *b = batches; b; b = b->next) {
		pthread_mutex_lock(&b->mu);
		batch_write_locked(b);
		pthread_mutex_unlock(&b->mu);
	}
	pthread_mutex_unlock(&batches_mu);
}

static void *flusher_main(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(LOG_BATCH_MS * 1000);
		log_flush();
	}
	return NULL;
}

/* thread exit: its lines are written and its batch freed */
static void batch_release(void *arg)
{
	struct log_batch *b = arg;
	pthread_mutex_lock(&batches_mu);
	for (struct log_batch **pp = &batches; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	pthread_mutex_unlock(&batches_mu);
	pthread_mutex_lock(&b->mu);
	batch_write_locked(b);
	pthread_mutex_unlock(&b->mu);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static void batch_init(void)
{
	pthread_key_create(&batch_key, batch_release);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, flusher_main, NULL) != 0)
		abort();
	pthread_attr_destroy(&at);
}

static struct log_batch *batch_mine(void)
{
	if (my_batch)
		return my_batch;
	pthread_once(&batch_once, batch_init);
	struct log_batch *b = malloc(sizeof *b);
	if (!b)
		abort();
	pthread_mutex_init(&b->mu, NULL);
	b->len = 0;
	pthread_mutex_lock(&batches_mu);
	b->next = batches;
	batches = b;
	pthread_mutex_unlock(&batches_mu);
	pthread_setspecific(batch_key, b);
	return my_batch = b;
}

void log_access_line(const char *json, unsigned len)
{
	struct log_batch *b = batch_mine();
	pthread_mutex_lock(&b->mu);
	if (b->len + len + 1 > sizeof b->buf)
		batch_write_locked(b);
	if (len + 1 > sizeof b->buf) {
		pthread_mutex_unlock(&b->mu);
		log_json_line(json, len);
		return;
	}
	memcpy(b->buf + b->len, json, len);
	b->buf[b->len + len] = '\n';
	b->len += len + 1;
	pthread_mutex_unlock(&b->mu);
}

void log_json_line(const char *json, unsigned len)
{
	if (my_batch) { /* this thread's access lines first: its lines stay in order */
		pthread_mutex_lock(&my_batch->mu);
		batch_write_locked(my_batch);
		pthread_mutex_unlock(&my_batch->mu);
	}
	struct iovec v[2] = {{(void *)json, len}, {(void *)"\n", 1}};
	out_write(v, 2);
}

void log_write(int level, const char *file, int line, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_ktime(&w, "ts", time_now_us());
	jw_kstr(&w, "level", level_names[level < 0 || level > LOG_OFF ? LOG_ERROR : level]);
	if (log_rid[0])
		jw_kstr(&w, "request_id", log_rid);
	/* the message may hold bytes from outside; keep the line valid JSON */
	jw_key(&w, "msg");
	if (utf8_valid(msg, strlen(msg)))
		jw_str(&w, msg);
	else
		jw_str(&w, "(message with invalid UTF-8 omitted)");
	const char *base = strrchr(file, '/');
	jw_key(&w, "src");
	{
		char src[128];
		snprintf(src, sizeof src, "%s:%d", base ? base + 1 : file, line);
		jw_str(&w, src);
	}
	jw_obj_end(&w);
	log_json_line(b.ptr, (unsigned)b.len);
	buf_free(&b);
}
