/* calendar.h: the working-day calendar that dossier deadlines are counted on
 * (DESIGN.md §4): working weekdays, office hours, public holidays (Tết moves
 * every year, so holidays are data) and compensatory working days (a Saturday
 * worked to make up for a bridge day off).
 *
 * Pure computation: no database, no clock, no allocation (except inside
 * calendar_load_json, which frees what it uses before returning). All local
 * times are Vietnam time, +07:00 with no daylight saving (TIME_OFFSET_S of
 * base/time.h); the C library's time zone is never consulted. Instants are
 * microseconds since the Unix epoch; dates are days since 1970-01-01 (the
 * numbers of date_parse / days_from_civil).
 *
 * Deadlines are counted in office time: one working day is the total length
 * of the office-hour intervals (8 hours by default), so a dossier received at
 * 15:00 on a Monday with a 1-working-day deadline is due at 15:00 on Tuesday.
 * Searches are bounded: a result more than CALENDAR_MAX_DAYS_AHEAD days after
 * the start is refused as an error.
 *
 * A struct calendar is about 20 KiB and owns no pointers: it may be copied,
 * kept in static storage, and shared read-only between threads. Functions
 * that take a const calendar never modify it. */
#ifndef TINHSO_CALENDAR_H
#define TINHSO_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum {
	CALENDAR_MAX_INTERVALS = 4,	      /* office-hour intervals per working day */
	CALENDAR_MAX_MARKS = 256,	      /* holidays + compensatory working days */
	CALENDAR_MAX_NAME = 255,	      /* bytes of one holiday name (UTF-8) */
	CALENDAR_NAME_POOL = 16384,	      /* bytes for all names together */
	CALENDAR_MAX_YEARS = 64,	      /* years described by loaded JSON */
	CALENDAR_MAX_DAYS_AHEAD = 10 * 366, /* bound of every forward search */
};

/* Working weekdays as a bit mask, Monday = bit 0 ... Sunday = bit 6. */
enum {
	CALENDAR_MON = 1u << 0,
	CALENDAR_TUE = 1u << 1,
	CALENDAR_WED = 1u << 2,
	CALENDAR_THU = 1u << 3,
	CALENDAR_FRI = 1u << 4,
	CALENDAR_SAT = 1u << 5,
	CALENDAR_SUN = 1u << 6,
	CALENDAR_MON_FRI = 0x1f,
	CALENDAR_ALL_DAYS = 0x7f,
};

/* What a marked date is. */
enum calendar_kind {
	CALENDAR_HOLIDAY = 1, /* offices closed, whatever the weekday */
	CALENDAR_WORKDAY = 2, /* a working day, whatever the weekday (compensatory working day) */
};

/* One office-hour interval, [open_s, close_s) in seconds after local midnight. */
struct calendar_interval {
	int32_t open_s;
	int32_t close_s;
};

/* A marked date as calendar_lookup reports it. The names point into cal:
 * adding marks never moves them; they live until cal is reset by
 * calendar_init_default or goes away. */
struct calendar_mark {
	int32_t days;
	enum calendar_kind kind;
	const char *name_vi;
	const char *name_en;
};

/* Private: the layout is public only so that a calendar can live on the stack
 * or in static storage without allocation. Use the functions below. */
struct calendar_entry {
	int32_t days;
	uint16_t kind;
	uint16_t name_vi; /* offsets into pool */
	uint16_t name_en;
};

struct calendar_year {
	int16_t year;
	bool announced;
};

struct calendar {
	unsigned weekdays;
	int nhours;
	struct calendar_interval hours[CALENDAR_MAX_INTERVALS];
	int64_t day_us; /* office time in one working day */
	int nmarks;	/* entries sorted by days, at most one per date */
	struct calendar_entry marks[CALENDAR_MAX_MARKS];
	int nyears;
	struct calendar_year years[CALENDAR_MAX_YEARS];
	size_t pool_len;
	char pool[CALENDAR_NAME_POOL];
};

/* Deadline status of an open dossier. */
enum calendar_status {
	CALENDAR_ON_TIME = 0,
	CALENDAR_DUE_SOON = 1,
	CALENDAR_OVERDUE = 2,
};

/* ---- building a calendar ---- */

/* Resets cal to the default Vietnamese civil-service calendar: Monday to
 * Friday, 07:30-11:30 and 13:00-17:00, no holidays or compensatory days (load
 * them with calendar_load_json or add them). Cannot fail. */
void calendar_init_default(struct calendar *cal);

/* Sets the working weekdays (a CALENDAR_MON.. mask; 0 is allowed, leaving only
 * compensatory working days). ERR_INVALID for bits outside CALENDAR_ALL_DAYS;
 * cal is unchanged on error. */
int calendar_set_weekdays(struct calendar *cal, unsigned mask, struct err *e);

/* Sets the office hours of every working day: n (1..CALENDAR_MAX_INTERVALS)
 * intervals, each 0 <= open_s < close_s <= 86400, in increasing order and not
 * overlapping (one may start where the previous ends). ERR_INVALID otherwise;
 * cal is unchanged on error. */
int calendar_set_hours(struct calendar *cal, const struct calendar_interval *hours, int n, struct err *e);

/* Marks the date `days` as a public holiday (offices closed) or, for
 * calendar_add_workday, as a compensatory working day (open although its
 * weekday is not a working weekday). Names are UTF-8, 1..CALENDAR_MAX_NAME
 * bytes, copied into cal. Errors: ERR_INVALID for a bad name or a date outside
 * 1900-01-01..9999-12-31; ERR_CONFLICT if the date is already marked (either
 * kind); ERR_TOO_LARGE when CALENDAR_MAX_MARKS or CALENDAR_NAME_POOL is full.
 * cal is unchanged on error. */
int calendar_add_holiday(struct calendar *cal, int32_t days, const char *name_vi, const char *name_en,
			 struct err *e);
int calendar_add_workday(struct calendar *cal, int32_t days, const char *name_vi, const char *name_en,
			 struct err *e);

/* Adds the holidays and compensatory working days of a JSON document in the
 * format of data/demo/holidays.json:
 *   {"description": "..."?,
 *    "years": [{"year": 2025, "announced": true, "note": "..."?,
 *               "dates": [{"date": "YYYY-MM-DD", "name_vi": "...", "name_en": "...",
 *                          "kind": "holiday" | "workday", "note": "..."?}, ...]}, ...]}
 * Every date must lie in its group's year; a year may appear once (also across
 * several loads). Marks already in cal are kept; a date marked twice is an
 * error. Errors: ERR_BAD_REQUEST for text that is not JSON (the message gives
 * line and column); ERR_INVALID for a document of the wrong shape, with every
 * problem named by path in e->fields (e.g. "years[1].dates[3].date");
 * ERR_TOO_LARGE when the calendar is full. All or nothing: on error cal is
 * unchanged. */
int calendar_load_json(struct calendar *cal, const char *json, size_t len, struct err *e);

/* ---- questions ---- */

/* True if offices work on that date: a compensatory working day, or a working
 * weekday that is not a holiday. */
bool calendar_is_working_day(const struct calendar *cal, int32_t days);

/* True if the instant falls inside office hours of a working day. */
bool calendar_is_office_time(const struct calendar *cal, int64_t unix_us);

/* Finds the mark of a date: true and *out filled if the date is a holiday or
 * a compensatory working day, false otherwise. */
bool calendar_lookup(const struct calendar *cal, int32_t days, struct calendar_mark *out);

/* True if a loaded JSON document described `year`; *announced (may be NULL)
 * tells whether its schedule was officially announced or derived. A deadline
 * in a year the calendar does not know counts no holidays there. */
bool calendar_knows_year(const struct calendar *cal, int year, bool *announced);

/* Office time in one working day (8 h = 28 800 000 000 us by default). */
int64_t calendar_day_us(const struct calendar *cal);

/* ---- deadlines ---- */

/* Number of working days in the dates [from_days, to_days); 0 when
 * to_days <= from_days. Computed without iterating day by day. */
int64_t calendar_count_working_days(const struct calendar *cal, int32_t from_days, int32_t to_days);

/* Office time between two instants: the length of [a_us, b_us) that lies
 * inside office hours of working days. 0 when b_us <= a_us. Instants outside
 * 1900..9999 are clamped to that range. */
int64_t calendar_working_us_between(const struct calendar *cal, int64_t a_us, int64_t b_us);

/* The instant reached after office_us of office time counted from start_us.
 * Counting starts at start_us if it is office time, otherwise at the next
 * office opening (after hours, at lunch, on a weekend or holiday). A result
 * that falls exactly at the end of an interval stays there (a deadline may be
 * 17:00 or 11:30, never "13:00 the next session"). office_us == 0 gives
 * start_us itself. This is how a paused clock resumes: add the office time
 * that remained at the pause (calendar_working_us_between(pause, due)) to the
 * resume instant. Errors: ERR_INVALID for office_us < 0, a start outside
 * 1900..9999, or a result more than CALENDAR_MAX_DAYS_AHEAD days after start
 * (also when the calendar has no working day at all); *out_us is untouched on
 * error. */
int calendar_add_working_us(const struct calendar *cal, int64_t start_us, int64_t office_us, int64_t *out_us,
			    struct err *e);

/* The due instant of a dossier received at received_us with a processing
 * time of working_days working days: calendar_add_working_us of
 * working_days * calendar_day_us(cal). Received at 15:00 on a Monday with
 * 1 day: 15:00 on Tuesday; received at 18:00 on Monday or on a Sunday:
 * 17:00 on the next working day. working_days == 0 gives received_us.
 * Errors as calendar_add_working_us (working_days < 0 is ERR_INVALID). */
int calendar_due(const struct calendar *cal, int64_t received_us, int working_days, int64_t *due_us,
		 struct err *e);

/* Status at now_us of a running clock due at due_us: CALENDAR_OVERDUE once
 * now_us > due_us; CALENDAR_DUE_SOON when at most soon_us of office time
 * remains (calendar_working_us_between(now_us, due_us) <= soon_us; a negative
 * soon_us counts as 0); CALENDAR_ON_TIME otherwise. Do not ask while the clock
 * is paused: a paused dossier has no due instant until it resumes. */
enum calendar_status calendar_status(const struct calendar *cal, int64_t now_us, int64_t due_us, int64_t soon_us);

/* "on_time", "due_soon", "overdue" (the API's names); "unknown" otherwise. */
const char *calendar_status_name(enum calendar_status s);

#endif
