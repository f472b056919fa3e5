/* log.h: levelled logging as JSON lines on stderr. The macros skip the
 * formatting entirely below the current level. Each line carries the request
 * id of the calling thread when there is one. Never log secrets: passwords,
 * tokens, TOTP codes and keys do not go into log arguments. */
#ifndef TINHSO_LOG_H
#define TINHSO_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

extern int log_level;

/* "debug" | "info" | "warn" | "error" | "off"; returns -1 when unknown. */
int log_level_parse(const char *s);
void log_set_request_id(const char *rid); /* thread-local; NULL clears */
void log_write(int level, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Writes one raw, already-JSON line now. */
void log_json_line(const char *json, unsigned len);
/* The same for an access line, written with others of this thread in one
 * call, at most 200 ms later (log.c). */
void log_access_line(const char *json, unsigned len);
/* Writes every thread's waiting access lines (at shutdown). */
void log_flush(void);

#define LOG_AT(lvl, ...)                                                                                               \
	do {                                                                                                           \
		if ((lvl) >= log_level)                                                                                \
			log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);                                             \
	} while (0)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
