/* calendar.c: working days, office hours, holidays and deadline arithmetic in
 * Vietnam time (+07:00, no daylight saving), without the C library's time
 * zone state and without allocation. */
#include "calendar/calendar.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/time.h"

#define US_PER_S INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_S)
#define OFFSET_US ((int64_t)TIME_OFFSET_S * US_PER_S)

/* ---- dates and instants ---- */

static int64_t floordiv64(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* The range of date_parse: beyond it RFC 3339 output would not be 4-digit years. */
static int32_t day_min(void) { return days_from_civil(1900, 1, 1); }
static int32_t day_max(void) { return days_from_civil(9999, 12, 31); }
static int64_t us_min(void) { return (int64_t)day_min() * US_PER_DAY - OFFSET_US; }
static int64_t us_max(void) { return ((int64_t)day_max() + 1) * US_PER_DAY - OFFSET_US - 1; }

/* Local (+07:00) date and microseconds since local midnight of an instant. */
static void split(int64_t unix_us, int32_t *day, int64_t *sod_us)
{
	int64_t local = unix_us + OFFSET_US;
	int64_t d = floordiv64(local, US_PER_DAY);
	*day = (int32_t)d;
	*sod_us = local - d * US_PER_DAY;
}

static int64_t join(int32_t day, int64_t sod_us) { return (int64_t)day * US_PER_DAY + sod_us - OFFSET_US; }

/* 0 = Monday ... 6 = Sunday; 1970-01-01 was a Thursday. */
static int weekday(int32_t day)
{
	int w = (int)(((int64_t)day + 3) % 7);
	return w < 0 ? w + 7 : w;
}

static int popcount7(unsigned m)
{
	int n = 0;
	for (int i = 0; i < 7; i++)
		n += (m >> i) & 1;
	return n;
}

/* ---- marks ---- */

/* Index of the first mark with days >= day (nmarks if none). */
static int lower_bound(const struct calendar *cal, int32_t day)
{
	int lo = 0, hi = cal->nmarks;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (cal->marks[mid].days < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct calendar_entry *find_mark(const struct calendar *cal, int32_t day)
{
	int i = lower_bound(cal, day);
	return i < cal->nmarks && cal->marks[i].days == day ? &cal->marks[i] : NULL;
}

static const char *kind_name(unsigned kind) { return kind == CALENDAR_WORKDAY ? "workday" : "holiday"; }

static bool name_ok(const char *s, size_t *len)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 0 || n > CALENDAR_MAX_NAME || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	*len = n;
	return true;
}

static int add_mark(struct calendar *cal, int32_t day, enum calendar_kind kind, const char *name_vi,
		    const char *name_en, struct err *e)
{
	size_t nvi, nen;
	char date[16];
	if (day < day_min() || day > day_max())
		return err_set(e, ERR_INVALID, "date %ld is outside 1900-01-01..9999-12-31 (days since 1970-01-01)",
			       (long)day);
	date_fmt(day, date, sizeof date);
	if (!name_ok(name_vi, &nvi))
		return err_set(e, ERR_INVALID, "%s: the Vietnamese name must be 1..%d bytes of UTF-8 text", date,
			       CALENDAR_MAX_NAME);
	if (!name_ok(name_en, &nen))
		return err_set(e, ERR_INVALID, "%s: the English name must be 1..%d bytes of UTF-8 text", date,
			       CALENDAR_MAX_NAME);
	const struct calendar_entry *old = find_mark(cal, day);
	if (old)
		return err_set(e, ERR_CONFLICT, "%s is already marked as a %s (%s)", date, kind_name(old->kind),
			       cal->pool + old->name_vi);
	if (cal->nmarks >= CALENDAR_MAX_MARKS)
		return err_set(e, ERR_TOO_LARGE, "the calendar holds at most %d holidays and working days",
			       CALENDAR_MAX_MARKS);
	if (nvi + nen + 2 > sizeof cal->pool - cal->pool_len)
		return err_set(e, ERR_TOO_LARGE, "the calendar's names exceed %d bytes", CALENDAR_NAME_POOL);

	int i = lower_bound(cal, day);
	memmove(&cal->marks[i + 1], &cal->marks[i], (size_t)(cal->nmarks - i) * sizeof cal->marks[0]);
	struct calendar_entry *m = &cal->marks[i];
	m->days = day;
	m->kind = (uint16_t)kind;
	m->name_vi = (uint16_t)cal->pool_len;
	memcpy(cal->pool + cal->pool_len, name_vi, nvi + 1);
	cal->pool_len += nvi + 1;
	m->name_en = (uint16_t)cal->pool_len;
	memcpy(cal->pool + cal->pool_len, name_en, nen + 1);
	cal->pool_len += nen + 1;
	cal->nmarks++;
	return 0;
}

/* ---- building ---- */

void calendar_init_default(struct calendar *cal)
{
	memset(cal, 0, sizeof *cal);
	cal->weekdays = CALENDAR_MON_FRI;
	cal->nhours = 2;
	cal->hours[0] = (struct calendar_interval){7 * 3600 + 30 * 60, 11 * 3600 + 30 * 60};
	cal->hours[1] = (struct calendar_interval){13 * 3600, 17 * 3600};
	cal->day_us = 8 * 3600 * US_PER_S;
}

int calendar_set_weekdays(struct calendar *cal, unsigned mask, struct err *e)
{
	if (mask & ~(unsigned)CALENDAR_ALL_DAYS)
		return err_set(e, ERR_INVALID, "working weekdays: mask 0x%x has bits beyond Sunday (0x7f)", mask);
	cal->weekdays = mask;
	return 0;
}

int calendar_set_hours(struct calendar *cal, const struct calendar_interval *hours, int n, struct err *e)
{
	if (!hours || n < 1 || n > CALENDAR_MAX_INTERVALS)
		return err_set(e, ERR_INVALID, "office hours: between 1 and %d intervals are needed, not %d",
			       CALENDAR_MAX_INTERVALS, n);
	int64_t total = 0;
	for (int i = 0; i < n; i++) {
		const struct calendar_interval *h = &hours[i];
		if (h->open_s < 0 || h->close_s > 86400 || h->open_s >= h->close_s)
			return err_set(e, ERR_INVALID,
				       "office hours: interval %d must open before it closes, within 00:00-24:00", i + 1);
		if (i > 0 && h->open_s < hours[i - 1].close_s)
			return err_set(e, ERR_INVALID,
				       "office hours: interval %d must start after interval %d ends", i + 1, i);
		total += (int64_t)(h->close_s - h->open_s) * US_PER_S;
	}
	memcpy(cal->hours, hours, (size_t)n * sizeof hours[0]);
	cal->nhours = n;
	cal->day_us = total;
	return 0;
}

int calendar_add_holiday(struct calendar *cal, int32_t days, const char *name_vi, const char *name_en,
			 struct err *e)
{
	return add_mark(cal, days, CALENDAR_HOLIDAY, name_vi, name_en, e);
}

int calendar_add_workday(struct calendar *cal, int32_t days, const char *name_vi, const char *name_en,
			 struct err *e)
{
	return add_mark(cal, days, CALENDAR_WORKDAY, name_vi, name_en, e);
}

/* ---- JSON ---- */

struct loader {
	struct calendar *cal;
	struct err *e;
	struct arena a;
	int nbad;	/* field problems found (e may be NULL) */
	bool full;	/* the calendar ran out of room */
	char full_msg[256];
};

__attribute__((format(printf, 3, 4))) static void bad(struct loader *l, const char *path, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_field(l->e, path, "%s", msg);
	l->nbad++;
}

/* json_decode with its field names prefixed by where the object sits. */
static int decode_at(struct loader *l, json_t *obj, const char *path, const struct jfield *f, size_t nf)
{
	if (!json_is_object(obj)) {
		bad(l, path, "must be an object");
		return -1;
	}
	struct err sub;
	err_clear(&sub);
	if (json_decode(obj, f, nf, &l->a, &sub) == 0)
		return 0;
	for (int i = 0; i < sub.nfields; i++) {
		char p[160]; /* err_field keeps the first 63 bytes */
		snprintf(p, sizeof p, "%s.%s", path, sub.fields[i].name);
		bad(l, p, "%s", sub.fields[i].msg);
	}
	return -1;
}

static void load_date(struct loader *l, json_t *obj, const char *path, int year)
{
	const char *date = NULL, *name_vi = NULL, *name_en = NULL, *kind = NULL, *note = NULL;
	const struct jfield f[] = {
		{"date", JF_STR, true, 10, &date, NULL},
		{"name_vi", JF_STR, true, CALENDAR_MAX_NAME, &name_vi, NULL},
		{"name_en", JF_STR, true, CALENDAR_MAX_NAME, &name_en, NULL},
		{"kind", JF_STR, true, 16, &kind, NULL},
		{"note", JF_STR, false, 2000, &note, NULL},
	};
	if (decode_at(l, obj, path, f, sizeof f / sizeof f[0]) != 0)
		return;
	char p[64];
	int32_t day;
	int y;
	unsigned m, d;
	enum calendar_kind k;
	if (strcmp(kind, "holiday") == 0) {
		k = CALENDAR_HOLIDAY;
	} else if (strcmp(kind, "workday") == 0) {
		k = CALENDAR_WORKDAY;
	} else {
		snprintf(p, sizeof p, "%s.kind", path);
		bad(l, p, "must be \"holiday\" or \"workday\"");
		return;
	}
	snprintf(p, sizeof p, "%s.date", path);
	if (!date_parse(date, &day)) {
		bad(l, p, "must be a date YYYY-MM-DD");
		return;
	}
	civil_from_days(day, &y, &m, &d);
	if (y != year) {
		bad(l, p, "%s is not in the year %d of its group", date, year);
		return;
	}
	size_t n;
	const char *names[2] = {name_vi, name_en}, *keys[2] = {"name_vi", "name_en"};
	for (int i = 0; i < 2; i++)
		if (!name_ok(names[i], &n)) {
			snprintf(p, sizeof p, "%s.%s", path, keys[i]);
			bad(l, p, "must be 1..%d bytes of text without control characters", CALENDAR_MAX_NAME);
			return;
		}
	struct err sub;
	err_clear(&sub);
	int rc = add_mark(l->cal, day, k, name_vi, name_en, &sub);
	if (rc == ERR_TOO_LARGE) {
		l->full = true;
		str_copy(l->full_msg, sizeof l->full_msg, sub.msg);
	} else if (rc != 0) {
		bad(l, p, "%s", sub.msg); /* ERR_CONFLICT: the date is listed twice */
	}
}

static void load_year(struct loader *l, json_t *obj, const char *path)
{
	int64_t year = 0;
	bool announced = false;
	const char *note = NULL;
	json_t *dates = NULL;
	const struct jfield f[] = {
		{"year", JF_INT, true, 0, &year, NULL},
		{"announced", JF_BOOL, true, 0, &announced, NULL},
		{"note", JF_STR, false, 4000, &note, NULL},
		{"dates", JF_ARR, true, CALENDAR_MAX_MARKS, &dates, NULL},
	};
	if (decode_at(l, obj, path, f, sizeof f / sizeof f[0]) != 0)
		return;
	char p[64];
	snprintf(p, sizeof p, "%s.year", path);
	if (year < 1900 || year > 9999) {
		bad(l, p, "must be between 1900 and 9999");
		return;
	}
	struct calendar *cal = l->cal;
	for (int i = 0; i < cal->nyears; i++)
		if (cal->years[i].year == year) {
			bad(l, p, "%d is described twice", (int)year);
			return;
		}
	if (cal->nyears >= CALENDAR_MAX_YEARS) {
		l->full = true;
		snprintf(l->full_msg, sizeof l->full_msg, "the calendar describes at most %d years",
			 CALENDAR_MAX_YEARS);
		return;
	}
	cal->years[cal->nyears++] = (struct calendar_year){(int16_t)year, announced};
	for (size_t j = 0; j < json_array_size(dates) && !l->full; j++) {
		snprintf(p, sizeof p, "%s.dates[%zu]", path, j);
		load_date(l, json_array_get(dates, j), p, (int)year);
	}
}

int calendar_load_json(struct calendar *cal, const char *json, size_t len, struct err *e)
{
	json_t *root;
	int rc = json_parse(json, len, &root, e);
	if (rc != 0) {
		char msg[sizeof e->msg];
		str_copy(msg, sizeof msg, e ? e->msg : "");
		return err_set(e, rc, "holiday calendar: %s", msg);
	}
	struct loader l = {.cal = cal, .e = e, .a = ARENA_INIT};
	const size_t saved_pool = cal->pool_len;
	const int saved_years = cal->nyears;

	const char *description = NULL;
	json_t *years = NULL;
	const struct jfield f[] = {
		{"description", JF_STR, false, 4000, &description, NULL},
		{"years", JF_ARR, true, CALENDAR_MAX_YEARS, &years, NULL},
	};
	struct err sub;
	err_clear(&sub);
	if (!json_is_object(root)) {
		bad(&l, "(document)", "must be an object with \"years\"");
	} else if (json_decode(root, f, sizeof f / sizeof f[0], &l.a, &sub) != 0) {
		for (int i = 0; i < sub.nfields; i++)
			bad(&l, sub.fields[i].name, "%s", sub.fields[i].msg);
	} else {
		for (size_t i = 0; i < json_array_size(years) && !l.full; i++) {
			char p[64];
			snprintf(p, sizeof p, "years[%zu]", i);
			load_year(&l, json_array_get(years, i), p);
		}
	}
	arena_free(&l.a);
	json_decref(root);
	if (l.nbad == 0 && !l.full)
		return 0;

	/* All or nothing: drop what this document added. Marks added now are
	 * exactly those whose names lie past the saved end of the pool. */
	int n = 0;
	for (int i = 0; i < cal->nmarks; i++)
		if (cal->marks[i].name_vi < saved_pool)
			cal->marks[n++] = cal->marks[i];
	memset(&cal->marks[n], 0, (size_t)(cal->nmarks - n) * sizeof cal->marks[0]);
	cal->nmarks = n;
	memset(cal->pool + saved_pool, 0, cal->pool_len - saved_pool);
	cal->pool_len = saved_pool;
	memset(&cal->years[saved_years], 0, (size_t)(cal->nyears - saved_years) * sizeof cal->years[0]);
	cal->nyears = saved_years;
	if (l.full)
		return err_set(e, ERR_TOO_LARGE, "holiday calendar: %s", l.full_msg);
	rc = err_fields_done(e);
	return rc ? rc : ERR_INVALID;
}

/* ---- questions ---- */

static bool weekday_works(const struct calendar *cal, int32_t day) { return cal->weekdays >> weekday(day) & 1; }

bool calendar_is_working_day(const struct calendar *cal, int32_t days)
{
	const struct calendar_entry *m = find_mark(cal, days);
	if (m)
		return m->kind == CALENDAR_WORKDAY;
	return weekday_works(cal, days);
}

/* Office time of a working day before the local time of day sod_us. */
static int64_t office_before(const struct calendar *cal, int64_t sod_us)
{
	int64_t t = 0;
	for (int i = 0; i < cal->nhours; i++) {
		int64_t open = cal->hours[i].open_s * US_PER_S, close = cal->hours[i].close_s * US_PER_S;
		if (sod_us <= open)
			break;
		t += (sod_us < close ? sod_us : close) - open;
	}
	return t;
}

bool calendar_is_office_time(const struct calendar *cal, int64_t unix_us)
{
	int32_t day;
	int64_t sod;
	if (unix_us < us_min() || unix_us > us_max())
		return false;
	split(unix_us, &day, &sod);
	if (!calendar_is_working_day(cal, day))
		return false;
	for (int i = 0; i < cal->nhours; i++)
		if (sod >= cal->hours[i].open_s * US_PER_S && sod < cal->hours[i].close_s * US_PER_S)
			return true;
	return false;
}

bool calendar_lookup(const struct calendar *cal, int32_t days, struct calendar_mark *out)
{
	const struct calendar_entry *m = find_mark(cal, days);
	if (!m)
		return false;
	out->days = m->days;
	out->kind = (enum calendar_kind)m->kind;
	out->name_vi = cal->pool + m->name_vi;
	out->name_en = cal->pool + m->name_en;
	return true;
}

bool calendar_knows_year(const struct calendar *cal, int year, bool *announced)
{
	for (int i = 0; i < cal->nyears; i++)
		if (cal->years[i].year == year) {
			if (announced)
				*announced = cal->years[i].announced;
			return true;
		}
	return false;
}

int64_t calendar_day_us(const struct calendar *cal) { return cal->day_us; }

/* ---- deadlines ---- */

int64_t calendar_count_working_days(const struct calendar *cal, int32_t from_days, int32_t to_days)
{
	if (to_days <= from_days)
		return 0;
	/* Whole weeks by arithmetic, the remainder by weekday, then the marks in
	 * range correct the count (at most one mark per date, so no double count). */
	int64_t n = (int64_t)to_days - from_days;
	int64_t count = n / 7 * popcount7(cal->weekdays);
	for (int32_t d = (int32_t)(from_days + n / 7 * 7); d < to_days; d++)
		count += weekday_works(cal, d);
	for (int i = lower_bound(cal, from_days); i < cal->nmarks && cal->marks[i].days < to_days; i++) {
		bool normally = weekday_works(cal, cal->marks[i].days);
		if (cal->marks[i].kind == CALENDAR_HOLIDAY && normally)
			count--;
		else if (cal->marks[i].kind == CALENDAR_WORKDAY && !normally)
			count++;
	}
	return count;
}

int64_t calendar_working_us_between(const struct calendar *cal, int64_t a_us, int64_t b_us)
{
	const int64_t lo = us_min(), hi = us_max();
	a_us = a_us < lo ? lo : a_us > hi ? hi : a_us;
	b_us = b_us < lo ? lo : b_us > hi ? hi : b_us;
	if (b_us <= a_us)
		return 0;
	int32_t da, db;
	int64_t ta, tb;
	split(a_us, &da, &ta);
	split(b_us, &db, &tb);
	if (da == db)
		return calendar_is_working_day(cal, da) ? office_before(cal, tb) - office_before(cal, ta) : 0;
	int64_t t = calendar_count_working_days(cal, da + 1, db) * cal->day_us;
	if (calendar_is_working_day(cal, da))
		t += cal->day_us - office_before(cal, ta);
	if (calendar_is_working_day(cal, db))
		t += office_before(cal, tb);
	return t;
}

int calendar_add_working_us(const struct calendar *cal, int64_t start_us, int64_t office_us, int64_t *out_us,
			    struct err *e)
{
	if (office_us < 0)
		return err_set(e, ERR_INVALID, "office time to add must not be negative (%lld us)",
			       (long long)office_us);
	if (start_us < us_min() || start_us > us_max())
		return err_set(e, ERR_INVALID, "start instant %lld us is outside the years 1900..9999",
			       (long long)start_us);
	if (office_us == 0) {
		*out_us = start_us;
		return 0;
	}
	int32_t day;
	int64_t t, left = office_us;
	split(start_us, &day, &t);
	const int32_t first = day, last = day_max();
	for (int i = 0; i <= CALENDAR_MAX_DAYS_AHEAD && day <= last; i++, day++, t = 0) {
		if (!calendar_is_working_day(cal, day))
			continue;
		for (int k = 0; k < cal->nhours; k++) {
			int64_t open = cal->hours[k].open_s * US_PER_S, close = cal->hours[k].close_s * US_PER_S;
			if (t >= close)
				continue;
			int64_t from = t > open ? t : open;
			/* <=: a deadline reached exactly at closing stays at closing */
			if (left <= close - from) {
				*out_us = join(day, from + left);
				return 0;
			}
			left -= close - from;
		}
	}
	char date[16];
	date_fmt(first, date, sizeof date);
	return err_set(e, ERR_INVALID,
		       "the deadline falls more than %d days after %s (%lld h of office time to count)",
		       CALENDAR_MAX_DAYS_AHEAD, date, (long long)(office_us / (3600 * US_PER_S)));
}

int calendar_due(const struct calendar *cal, int64_t received_us, int working_days, int64_t *due_us,
		 struct err *e)
{
	if (working_days < 0 || working_days > CALENDAR_MAX_DAYS_AHEAD)
		return err_set(e, ERR_INVALID, "processing time must be 0..%d working days, not %d",
			       CALENDAR_MAX_DAYS_AHEAD, working_days);
	return calendar_add_working_us(cal, received_us, (int64_t)working_days * cal->day_us, due_us, e);
}

enum calendar_status calendar_status(const struct calendar *cal, int64_t now_us, int64_t due_us, int64_t soon_us)
{
	if (now_us > due_us)
		return CALENDAR_OVERDUE;
	if (soon_us < 0)
		soon_us = 0;
	return calendar_working_us_between(cal, now_us, due_us) <= soon_us ? CALENDAR_DUE_SOON : CALENDAR_ON_TIME;
}

const char *calendar_status_name(enum calendar_status s)
{
	switch (s) {
	case CALENDAR_ON_TIME: return "on_time";
	case CALENDAR_DUE_SOON: return "due_soon";
	case CALENDAR_OVERDUE: return "overdue";
	}
	return "unknown";
}
