/* time.h: wall-clock microseconds and the RFC 3339 / date formats of the API.
 * Vietnam has one offset (+07:00) and no daylight saving, so local times are
 * computed arithmetically, independent of the process's TZ. */
#ifndef TINHSO_TIME_H
#define TINHSO_TIME_H

#include <stdbool.h>
#include <stdint.h>

enum { TIME_OFFSET_S = 7 * 3600 };

int64_t time_now_us(void);	 /* CLOCK_REALTIME */
int64_t time_mono_us(void);	 /* CLOCK_MONOTONIC */
/* "2025-03-14T09:30:00+07:00" (with ".123456" when us is not a whole second). out >= 40 bytes. */
void time_fmt_rfc3339(int64_t unix_us, char *out, unsigned cap);
/* Parses RFC 3339 with Z or an offset, fraction optional. Returns false on bad input. */
bool time_parse_rfc3339(const char *s, int64_t *unix_us);
/* "YYYY-MM-DD" <-> days since 1970-01-01 */
bool date_parse(const char *s, int32_t *days);
void date_fmt(int32_t days, char *out, unsigned cap);
/* Civil date conversions (proleptic Gregorian). */
int32_t days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d);

#endif
