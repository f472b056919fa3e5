/* log.c: JSON-lines logger; one write(2) per line so lines never interleave. */
#include "base/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
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

void log_json_line(const char *json, unsigned len)
{
	struct iovec v[2] = {{(void *)json, len}, {(void *)"\n", 1}}; /* one write: lines never interleave */
	ssize_t r = writev(STDERR_FILENO, v, 2);
	if (r > 0)
		log_flush_maybe((size_t)r);
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
