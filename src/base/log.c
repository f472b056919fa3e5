/* log.c: JSON-lines logger; one write(2) per line so lines never interleave. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
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

void log_json_line(const char *json, unsigned len)
{
	struct iovec v[2] = {{(void *)json, len}, {(void *)"\n", 1}}; /* one write: lines never interleave */
	ssize_t r = writev(STDERR_FILENO, v, 2);
	(void)r;
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
