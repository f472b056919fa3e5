/* time.c: clocks and RFC 3339 formatting without the C library's time zone state. */
#include "base/time.h"

#include "base/buf.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Howard Hinnant's algorithms. */
int32_t days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

void civil_from_days(int32_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const int yy = (int)yoe + era * 400;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The n low decimal digits of v, zero-padded. */
static void put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
}

void time_fmt_rfc3339(int64_t unix_us, char *out, unsigned cap)
{
	/* years 0001..9999 only: beyond them the arithmetic below would overflow */
	const int64_t lo = -62135596800LL * 1000000, hi = (253402300799LL - TIME_OFFSET_S) * 1000000;
	if (unix_us < lo)
		unix_us = lo;
	if (unix_us > hi)
		unix_us = hi;
	int64_t local_s = floordiv(unix_us, 1000000) + TIME_OFFSET_S;
	int64_t frac = unix_us - floordiv(unix_us, 1000000) * 1000000;
	int32_t days = (int32_t)floordiv(local_s, 86400);
	int64_t sod = local_s - (int64_t)days * 86400;
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	/* by hand: this runs several times per request (access log, JSON times) */
	char t[40];
	put_digits(t, (unsigned)y, 4);
	t[4] = '-';
	put_digits(t + 5, m, 2);
	t[7] = '-';
	put_digits(t + 8, d, 2);
	t[10] = 'T';
	put_digits(t + 11, (unsigned)(sod / 3600), 2);
	t[13] = ':';
	put_digits(t + 14, (unsigned)(sod / 60 % 60), 2);
	t[16] = ':';
	put_digits(t + 17, (unsigned)(sod % 60), 2);
	size_t n = 19;
	if (frac) {
		t[n++] = '.';
		put_digits(t + n, (unsigned)frac, 6);
		n += 6;
	}
	memcpy(t + n, "+07:00", 7);
	str_copy(out, cap, t);
}

static bool digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

static bool date_valid(int y, int m, int d)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

bool date_parse(const char *s, int32_t *days)
{
	int y, m, d;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &m) ||
	    !digits(s + 8, 2, &d) || !date_valid(y, m, d))
		return false;
	*days = days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

void date_fmt(int32_t days, char *out, unsigned cap)
{
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	snprintf(out, cap, "%04d-%02u-%02u", y, m, d);
}

bool time_parse_rfc3339(const char *s, int64_t *unix_us)
{
	int32_t days;
	int hh, mi, ss;
	char date[11];
	if (strlen(s) < 20)
		return false;
	memcpy(date, s, 10);
	date[10] = 0;
	if (!date_parse(date, &days) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &hh) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &ss) || hh > 23 ||
	    mi > 59 || ss > 60)
		return false;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int n = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 6) {
				frac = frac * 10 + (*p - '0');
				n++;
			}
			p++;
		}
		if (n == 0)
			return false;
		while (n++ < 6)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	if (ss == 60)
		ss = 59;
	*unix_us = ((int64_t)days * 86400 + hh * 3600 + mi * 60 + ss - off) * 1000000 + frac;
	return true;
}
