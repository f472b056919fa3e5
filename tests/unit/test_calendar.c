/* test_calendar.c: working days, office hours, holidays (Tết 2025 and 2026,
 * year ends, compensatory Saturdays), paused clocks, deadline status, and the
 * demo holiday file data/demo/holidays.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/time.h"
#include "calendar/calendar.h"
#include "support/testapp.h"

#define HOUR_US (INT64_C(3600) * 1000000)
#define MIN_US (INT64_C(60) * 1000000)

/* The default calendar with the demo holidays of 2024-2027 loaded. */
static struct calendar VN;
/* The default calendar without any holiday. */
static struct calendar PLAIN;

static char *read_demo_file(size_t *len)
{
	char path[1100];
	snprintf(path, sizeof path, "%s/data/demo/holidays.json", testapp_source_dir());
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", path);
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *p = malloc(cap);
	size_t r;
	while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			p = realloc(p, cap *= 2);
	}
	fclose(f);
	*len = n;
	return p;
}

static int setup(void **state)
{
	(void)state;
	calendar_init_default(&PLAIN);
	calendar_init_default(&VN);
	size_t len;
	char *json = read_demo_file(&len);
	if (!json)
		return -1;
	struct err e;
	err_clear(&e);
	int rc = calendar_load_json(&VN, json, len, &e);
	free(json);
	if (rc != 0) {
		fprintf(stderr, "holidays.json: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int64_t at(const char *rfc3339)
{
	int64_t us = 0;
	if (!time_parse_rfc3339(rfc3339, &us))
		fail_msg("bad test instant %s", rfc3339);
	return us;
}

static int32_t day(const char *date)
{
	int32_t d = 0;
	if (!date_parse(date, &d))
		fail_msg("bad test date %s", date);
	return d;
}

#define assert_instant(us, want)                                   \
	do {                                                       \
		char got_[48];                                     \
		time_fmt_rfc3339((us), got_, sizeof got_);         \
		assert_string_equal(got_, (want));                 \
	} while (0)

/* Due instant of received + n working days, as RFC 3339 (asserting success). */
#define assert_due(cal, received, n, want)                                         \
	do {                                                                       \
		struct err e_;                                                     \
		int64_t due_ = 0;                                                  \
		err_clear(&e_);                                                    \
		assert_int_equal(calendar_due((cal), at(received), (n), &due_, &e_), 0); \
		assert_instant(due_, (want));                                      \
	} while (0)

/* ---- the default calendar ---- */

static void test_default_calendar(void **state)
{
	(void)state;
	assert_int_equal(calendar_day_us(&PLAIN), 8 * HOUR_US);
	assert_true(calendar_is_working_day(&PLAIN, day("2025-03-10")));  /* Monday */
	assert_true(calendar_is_working_day(&PLAIN, day("2025-03-14")));  /* Friday */
	assert_false(calendar_is_working_day(&PLAIN, day("2025-03-15"))); /* Saturday */
	assert_false(calendar_is_working_day(&PLAIN, day("2025-03-16"))); /* Sunday */
	assert_false(calendar_is_working_day(&PLAIN, day("1970-01-03"))); /* Saturday, day 2 */
	assert_false(calendar_is_working_day(&PLAIN, day("1969-12-28"))); /* Sunday, negative day */

	assert_false(calendar_is_office_time(&PLAIN, at("2025-03-10T07:29:59+07:00")));
	assert_true(calendar_is_office_time(&PLAIN, at("2025-03-10T07:30:00+07:00")));
	assert_true(calendar_is_office_time(&PLAIN, at("2025-03-10T11:29:59+07:00")));
	assert_false(calendar_is_office_time(&PLAIN, at("2025-03-10T11:30:00+07:00")));
	assert_false(calendar_is_office_time(&PLAIN, at("2025-03-10T12:59:59+07:00")));
	assert_true(calendar_is_office_time(&PLAIN, at("2025-03-10T13:00:00+07:00")));
	assert_false(calendar_is_office_time(&PLAIN, at("2025-03-10T17:00:00+07:00")));
	/* 02:00 UTC is 09:00 in Vietnam */
	assert_true(calendar_is_office_time(&PLAIN, at("2025-03-10T02:00:00Z")));
	assert_false(calendar_is_office_time(&PLAIN, at("2025-03-15T09:00:00+07:00")));
	assert_false(calendar_is_office_time(&VN, at("2025-01-29T09:00:00+07:00"))); /* mùng 1 Tết */
}

static void test_monday_afternoon_plus_one_day(void **state)
{
	(void)state;
	assert_due(&PLAIN, "2025-03-10T15:00:00+07:00", 1, "2025-03-11T15:00:00+07:00");
	assert_due(&PLAIN, "2025-03-10T15:00:00+07:00", 2, "2025-03-12T15:00:00+07:00");
	assert_due(&PLAIN, "2025-03-10T09:00:00+07:00", 5, "2025-03-17T09:00:00+07:00");
	/* the same instant given in UTC */
	assert_due(&PLAIN, "2025-03-10T08:00:00Z", 1, "2025-03-11T15:00:00+07:00");
	/* seconds and microseconds are kept */
	assert_due(&PLAIN, "2025-03-10T15:04:05.123456+07:00", 1, "2025-03-11T15:04:05.123456+07:00");
}

static void test_weekends(void **state)
{
	(void)state;
	assert_due(&PLAIN, "2025-03-14T15:00:00+07:00", 1, "2025-03-17T15:00:00+07:00"); /* Fri -> Mon */
	assert_due(&PLAIN, "2025-03-15T10:00:00+07:00", 1, "2025-03-17T17:00:00+07:00"); /* Saturday */
	assert_due(&PLAIN, "2025-03-16T23:59:59+07:00", 1, "2025-03-17T17:00:00+07:00"); /* Sunday */
	assert_due(&PLAIN, "2025-03-14T16:00:00+07:00", 10, "2025-03-28T16:00:00+07:00");
}

static void test_receiving_outside_office_hours(void **state)
{
	(void)state;
	/* before opening: counting starts at 07:30 */
	assert_due(&PLAIN, "2025-03-10T06:00:00+07:00", 1, "2025-03-10T17:00:00+07:00");
	assert_due(&PLAIN, "2025-03-10T07:30:00+07:00", 1, "2025-03-10T17:00:00+07:00");
	/* during lunch: counting starts at 13:00, and lands exactly at 11:30 closing */
	assert_due(&PLAIN, "2025-03-10T12:00:00+07:00", 1, "2025-03-11T11:30:00+07:00");
	assert_due(&PLAIN, "2025-03-10T11:30:00+07:00", 1, "2025-03-11T11:30:00+07:00");
	assert_due(&PLAIN, "2025-03-10T12:00:00+07:00", 2, "2025-03-12T11:30:00+07:00");
	/* after closing: counting starts the next morning, and ends at 17:00 */
	assert_due(&PLAIN, "2025-03-10T17:00:00+07:00", 1, "2025-03-11T17:00:00+07:00");
	assert_due(&PLAIN, "2025-03-10T18:00:00+07:00", 1, "2025-03-11T17:00:00+07:00");
	assert_due(&PLAIN, "2025-03-10T23:59:59.999999+07:00", 1, "2025-03-11T17:00:00+07:00");
	/* on a holiday (National Day 2025, Tuesday): counting starts Wednesday */
	assert_due(&VN, "2025-09-02T09:00:00+07:00", 1, "2025-09-03T17:00:00+07:00");
	/* on Reunification Day 2025: 30/4, 1/5, 2/5 off, then the weekend */
	assert_due(&VN, "2025-04-30T09:00:00+07:00", 1, "2025-05-05T17:00:00+07:00");
	/* on a holiday that a weekend follows (Hùng Kings 2024, Thursday 18/4) */
	assert_due(&VN, "2024-04-18T10:00:00+07:00", 2, "2024-04-22T17:00:00+07:00");
}

static void test_tet_2025(void **state)
{
	(void)state;
	/* received Friday before Tết Ất Tỵ: 25/01-02/02 closed (27-31/01 holidays + weekends) */
	assert_due(&VN, "2025-01-24T10:00:00+07:00", 3, "2025-02-05T10:00:00+07:00");
	assert_due(&PLAIN, "2025-01-24T10:00:00+07:00", 3, "2025-01-29T10:00:00+07:00");
	assert_due(&VN, "2025-01-24T10:00:00+07:00", 1, "2025-02-03T10:00:00+07:00");
	/* received during Tết itself */
	assert_due(&VN, "2025-01-29T08:00:00+07:00", 1, "2025-02-03T17:00:00+07:00");
	assert_false(calendar_is_working_day(&VN, day("2025-01-27")));
	assert_false(calendar_is_working_day(&VN, day("2025-01-29")));
	assert_false(calendar_is_working_day(&VN, day("2025-01-31")));
	assert_true(calendar_is_working_day(&VN, day("2025-02-03")));
	/* the office time across Tết: Friday 24/01 and Monday 03/02 only */
	assert_int_equal(calendar_working_us_between(&VN, at("2025-01-24T00:00:00+07:00"),
						     at("2025-02-04T00:00:00+07:00")),
			 16 * HOUR_US);
}

static void test_tet_2026(void **state)
{
	(void)state;
	/* Tết Bính Ngọ: 16-20/02/2026 holidays, 14-15 and 21-22 weekends */
	assert_due(&VN, "2026-02-12T14:00:00+07:00", 5, "2026-02-26T14:00:00+07:00");
	assert_due(&PLAIN, "2026-02-12T14:00:00+07:00", 5, "2026-02-19T14:00:00+07:00");
	/* received on Friday 13/02 after closing: first working day is Monday 23/02 */
	assert_due(&VN, "2026-02-13T17:30:00+07:00", 1, "2026-02-23T17:00:00+07:00");
	struct calendar_mark m;
	assert_true(calendar_lookup(&VN, day("2026-02-17"), &m));
	assert_int_equal(m.kind, CALENDAR_HOLIDAY);
	assert_string_equal(m.name_vi, "Tết Nguyên Đán");
	assert_string_equal(m.name_en, "Lunar New Year (Tết)");
	assert_int_equal(m.days, day("2026-02-17"));
}

static void test_year_ends(void **state)
{
	(void)state;
	/* 2024 -> 2025: New Year's Day is a Wednesday */
	assert_due(&VN, "2024-12-31T16:00:00+07:00", 1, "2025-01-02T16:00:00+07:00");
	/* 2025 -> 2026: 01/01 holiday, 02/01 swapped off, weekend */
	assert_due(&VN, "2025-12-31T10:00:00+07:00", 1, "2026-01-05T10:00:00+07:00");
	/* ... and Saturday 10/01/2026 is worked in exchange */
	assert_due(&VN, "2025-12-31T10:00:00+07:00", 5, "2026-01-09T10:00:00+07:00");
	assert_due(&VN, "2025-12-31T10:00:00+07:00", 6, "2026-01-10T10:00:00+07:00");
	/* 2026 -> 2027 (a derived year): New Year's Day is a Friday */
	assert_due(&VN, "2026-12-31T10:00:00+07:00", 1, "2027-01-04T10:00:00+07:00");
	/* received on New Year's Eve after closing */
	assert_due(&VN, "2024-12-31T20:00:00+07:00", 1, "2025-01-02T17:00:00+07:00");
	/* 17:00 on 31/12 in Vietnam is still 2024 in UTC: the date is the local one */
	assert_false(calendar_is_working_day(&VN, day("2025-01-01")));
	assert_true(calendar_is_office_time(&VN, at("2025-01-02T00:30:00Z")));
}

static void test_compensatory_saturday(void **state)
{
	(void)state;
	/* 2025: Friday 02/05 swapped for Saturday 26/04 */
	assert_true(calendar_is_working_day(&VN, day("2025-04-26")));
	assert_false(calendar_is_working_day(&VN, day("2025-05-02")));
	assert_true(calendar_is_office_time(&VN, at("2025-04-26T08:00:00+07:00")));
	assert_due(&VN, "2025-04-25T10:00:00+07:00", 1, "2025-04-26T10:00:00+07:00");
	assert_due(&VN, "2025-04-25T10:00:00+07:00", 2, "2025-04-28T10:00:00+07:00");
	assert_due(&VN, "2025-04-29T10:00:00+07:00", 2, "2025-05-06T10:00:00+07:00");
	/* received on the compensatory Saturday itself */
	assert_due(&VN, "2025-04-26T07:00:00+07:00", 1, "2025-04-26T17:00:00+07:00");
	/* 2024: Monday 29/04 swapped for Saturday 04/05 */
	assert_due(&VN, "2024-04-26T15:00:00+07:00", 1, "2024-05-02T15:00:00+07:00");
	assert_due(&VN, "2024-05-03T15:00:00+07:00", 1, "2024-05-04T15:00:00+07:00");
	struct calendar_mark m;
	assert_true(calendar_lookup(&VN, day("2024-05-04"), &m));
	assert_int_equal(m.kind, CALENDAR_WORKDAY);
	assert_false(calendar_lookup(&VN, day("2024-05-05"), &m));
	/* Saturdays stay off without the holiday data */
	assert_false(calendar_is_working_day(&PLAIN, day("2025-04-26")));
}

static void test_pause_across_holiday(void **state)
{
	(void)state;
	struct err e;
	err_clear(&e);
	/* received Monday 25/08/2025 09:00 with 5 working days: 01/09 and 02/09 are National Day */
	int64_t received = at("2025-08-25T09:00:00+07:00"), due;
	assert_int_equal(calendar_due(&VN, received, 5, &due, &e), 0);
	assert_instant(due, "2025-09-03T09:00:00+07:00");

	/* supplement requested Thursday 28/08 14:00; the clock pauses */
	int64_t pause = at("2025-08-28T14:00:00+07:00");
	int64_t used = calendar_working_us_between(&VN, received, pause);
	int64_t left = calendar_working_us_between(&VN, pause, due);
	assert_int_equal(used, 27 * HOUR_US + 30 * MIN_US);
	assert_int_equal(left, 12 * HOUR_US + 30 * MIN_US);
	assert_int_equal(used + left, 5 * calendar_day_us(&VN));

	/* the applicant supplements on Friday 05/09 10:00, after the holidays */
	int64_t resume = at("2025-09-05T10:00:00+07:00"), due2;
	assert_int_equal(calendar_add_working_us(&VN, resume, left, &due2, &e), 0);
	assert_instant(due2, "2025-09-08T16:00:00+07:00");
	assert_int_equal(calendar_working_us_between(&VN, resume, due2), left);

	/* resuming on Friday 29/08 after closing: Monday and Tuesday are holidays */
	assert_int_equal(calendar_add_working_us(&VN, at("2025-08-29T18:00:00+07:00"), left, &due2, &e), 0);
	assert_instant(due2, "2025-09-04T13:30:00+07:00");

	/* a pause and resume within the same lunch break loses nothing */
	assert_int_equal(calendar_add_working_us(&VN, at("2025-08-28T12:15:00+07:00"),
						 calendar_working_us_between(&VN, at("2025-08-28T11:45:00+07:00"), due),
						 &due2, &e),
			 0);
	assert_instant(due2, "2025-09-03T09:00:00+07:00");

	/* nothing left: the clock resumes already due */
	assert_int_equal(calendar_add_working_us(&VN, resume, 0, &due2, &e), 0);
	assert_int_equal(due2, resume);
}

static void test_status(void **state)
{
	(void)state;
	int64_t due = at("2025-03-11T15:00:00+07:00"), soon = 4 * HOUR_US;
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-10T09:00:00+07:00"), due, soon), CALENDAR_ON_TIME);
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-11T09:00:00+07:00"), due, soon), CALENDAR_ON_TIME);
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-11T10:00:00+07:00"), due, soon), CALENDAR_DUE_SOON);
	assert_int_equal(calendar_status(&PLAIN, due, due, soon), CALENDAR_DUE_SOON);
	assert_int_equal(calendar_status(&PLAIN, due + 1, due, soon), CALENDAR_OVERDUE);
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-20T10:00:00+07:00"), due, soon), CALENDAR_OVERDUE);
	/* soon is office time: Friday evening with 1.5 office hours left on Monday is due soon */
	int64_t monday = at("2025-03-17T09:00:00+07:00");
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-14T17:30:00+07:00"), monday, soon), CALENDAR_DUE_SOON);
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-14T13:00:00+07:00"), monday, soon), CALENDAR_ON_TIME);
	/* Tết 2025 holds no office time: due Monday after Tết is due soon on the Friday before */
	int64_t after_tet = at("2025-02-03T11:00:00+07:00");
	assert_int_equal(calendar_status(&VN, at("2025-01-24T17:00:00+07:00"), after_tet, soon), CALENDAR_DUE_SOON);
	assert_int_equal(calendar_status(&PLAIN, at("2025-01-24T17:00:00+07:00"), after_tet, soon),
			 CALENDAR_ON_TIME);
	assert_int_equal(calendar_status(&VN, at("2025-01-31T10:00:00+07:00"), after_tet, soon), CALENDAR_DUE_SOON);
	assert_int_equal(calendar_status(&PLAIN, at("2025-01-31T10:00:00+07:00"), after_tet, soon),
			 CALENDAR_ON_TIME);
	/* a negative window counts as 0 */
	assert_int_equal(calendar_status(&PLAIN, at("2025-03-11T14:00:00+07:00"), due, -1), CALENDAR_ON_TIME);
	assert_string_equal(calendar_status_name(CALENDAR_ON_TIME), "on_time");
	assert_string_equal(calendar_status_name(CALENDAR_DUE_SOON), "due_soon");
	assert_string_equal(calendar_status_name(CALENDAR_OVERDUE), "overdue");
}

static void test_working_us_between(void **state)
{
	(void)state;
	const struct calendar *c = &PLAIN;
	assert_int_equal(calendar_working_us_between(c, at("2025-03-10T08:00:00+07:00"),
						     at("2025-03-10T14:00:00+07:00")),
			 4 * HOUR_US + 30 * MIN_US);
	assert_int_equal(calendar_working_us_between(c, at("2025-03-10T12:00:00+07:00"),
						     at("2025-03-10T12:30:00+07:00")),
			 0);
	assert_int_equal(calendar_working_us_between(c, at("2025-03-10T00:00:00+07:00"),
						     at("2025-03-17T00:00:00+07:00")),
			 40 * HOUR_US);
	assert_int_equal(calendar_working_us_between(c, at("2025-03-14T16:00:00+07:00"),
						     at("2025-03-17T08:00:00+07:00")),
			 90 * MIN_US);
	assert_int_equal(calendar_working_us_between(c, at("2025-03-17T00:00:00+07:00"),
						     at("2025-03-10T00:00:00+07:00")),
			 0);
	/* a whole year: 250 working days in 2025 with the holidays, 261 without */
	assert_int_equal(calendar_working_us_between(&VN, at("2025-01-01T00:00:00+07:00"),
						     at("2026-01-01T00:00:00+07:00")),
			 250 * 8 * HOUR_US);
	assert_int_equal(calendar_working_us_between(c, at("2025-01-01T00:00:00+07:00"),
						     at("2026-01-01T00:00:00+07:00")),
			 261 * 8 * HOUR_US);
}

static void test_count_working_days(void **state)
{
	(void)state;
	assert_int_equal(calendar_count_working_days(&VN, day("2024-01-01"), day("2025-01-01")), 251);
	assert_int_equal(calendar_count_working_days(&VN, day("2025-01-01"), day("2026-01-01")), 250);
	assert_int_equal(calendar_count_working_days(&VN, day("2026-01-01"), day("2027-01-01")), 250);
	assert_int_equal(calendar_count_working_days(&VN, day("2027-01-01"), day("2028-01-01")), 250);
	assert_int_equal(calendar_count_working_days(&VN, day("2025-01-01"), day("2025-01-01")), 0);
	/* the arithmetic agrees with asking day by day, for every range start/end pair sampled */
	int32_t from = day("2023-12-20"), to = day("2028-01-10");
	int64_t running = 0;
	for (int32_t d = from; d < to; d++) {
		assert_int_equal(calendar_count_working_days(&VN, from, d), running);
		running += calendar_is_working_day(&VN, d);
		int32_t d2 = d + (d % 23);
		int64_t n = 0;
		for (int32_t x = d; x < d2; x++)
			n += calendar_is_working_day(&VN, x);
		assert_int_equal(calendar_count_working_days(&VN, d, d2), n);
	}
}

/* add_working_us and working_us_between are inverse, over Tết 2026 and a year end. */
static void test_add_and_between_agree(void **state)
{
	(void)state;
	static const int64_t amounts[] = {1, 1000000, 30 * MIN_US, 4 * HOUR_US, 8 * HOUR_US, 19 * HOUR_US + 1,
					  10 * 8 * HOUR_US, 60 * 8 * HOUR_US};
	struct err e;
	err_clear(&e);
	const char *ranges[][2] = {{"2026-02-10T00:00:00+07:00", "2026-02-25T00:00:00+07:00"},
				   {"2025-12-29T00:00:00+07:00", "2026-01-12T00:00:00+07:00"}};
	for (size_t r = 0; r < 2; r++) {
		for (int64_t s = at(ranges[r][0]); s < at(ranges[r][1]); s += 37 * MIN_US) {
			int64_t prev = s;
			for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
				int64_t out;
				assert_int_equal(calendar_add_working_us(&VN, s, amounts[i], &out, &e), 0);
				assert_int_equal(calendar_working_us_between(&VN, s, out), amounts[i]);
				assert_true(out > prev);
				/* the result is never off-hours except exactly at a closing */
				assert_true(calendar_is_office_time(&VN, out - 1));
				prev = out;
			}
		}
	}
}

/* ---- configuration ---- */

static void test_custom_week_and_hours(void **state)
{
	(void)state;
	struct calendar c;
	struct err e;
	err_clear(&e);
	calendar_init_default(&c);
	/* a desk open Monday to Saturday, 08:00-12:00 only */
	struct calendar_interval mornings[] = {{8 * 3600, 12 * 3600}};
	assert_int_equal(calendar_set_hours(&c, mornings, 1, &e), 0);
	assert_int_equal(calendar_set_weekdays(&c, CALENDAR_MON_FRI | CALENDAR_SAT, &e), 0);
	assert_int_equal(calendar_day_us(&c), 4 * HOUR_US);
	assert_due(&c, "2025-03-14T10:00:00+07:00", 1, "2025-03-15T10:00:00+07:00");
	assert_due(&c, "2025-03-15T13:00:00+07:00", 1, "2025-03-17T12:00:00+07:00");
	/* four intervals, the most allowed, touching each other */
	struct calendar_interval four[] = {{0, 3600}, {3600, 7200}, {10000, 20000}, {80000, 86400}};
	assert_int_equal(calendar_set_hours(&c, four, 4, &e), 0);
	assert_int_equal(calendar_day_us(&c), (7200 + 10000 + 6400) * INT64_C(1000000));
	/* invalid hours are refused and change nothing */
	struct calendar_interval overlap[] = {{8 * 3600, 12 * 3600}, {11 * 3600, 13 * 3600}};
	struct calendar_interval empty[] = {{8 * 3600, 8 * 3600}};
	struct calendar_interval late[] = {{8 * 3600, 86401}};
	assert_int_equal(calendar_set_hours(&c, overlap, 2, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "interval 2"));
	assert_int_equal(calendar_set_hours(&c, empty, 1, &e), ERR_INVALID);
	assert_int_equal(calendar_set_hours(&c, late, 1, &e), ERR_INVALID);
	assert_int_equal(calendar_set_hours(&c, four, 0, &e), ERR_INVALID);
	assert_int_equal(calendar_set_hours(&c, four, 5, &e), ERR_INVALID);
	assert_int_equal(calendar_day_us(&c), (7200 + 10000 + 6400) * INT64_C(1000000));
	assert_int_equal(calendar_set_weekdays(&c, 0x80, &e), ERR_INVALID);
	assert_true(calendar_is_working_day(&c, day("2025-03-15")));
}

static void test_add_marks(void **state)
{
	(void)state;
	struct calendar c;
	struct err e;
	err_clear(&e);
	calendar_init_default(&c);
	assert_int_equal(calendar_add_holiday(&c, day("2025-03-12"), "Ngày nghỉ thử", "Test day off", &e), 0);
	assert_int_equal(calendar_add_workday(&c, day("2025-03-15"), "Làm bù", "Make-up day", &e), 0);
	assert_int_equal(calendar_add_holiday(&c, day("2025-03-03"), "Trước", "Before", &e), 0);
	assert_due(&c, "2025-03-11T10:00:00+07:00", 2, "2025-03-14T10:00:00+07:00");
	assert_due(&c, "2025-03-11T10:00:00+07:00", 3, "2025-03-15T10:00:00+07:00");
	struct calendar_mark m;
	assert_true(calendar_lookup(&c, day("2025-03-03"), &m));
	assert_string_equal(m.name_en, "Before");
	assert_true(calendar_lookup(&c, day("2025-03-12"), &m));
	assert_string_equal(m.name_vi, "Ngày nghỉ thử");

	assert_int_equal(calendar_add_workday(&c, day("2025-03-12"), "x", "x", &e), ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "2025-03-12 is already marked as a holiday"));
	assert_int_equal(calendar_add_holiday(&c, day("2025-03-13"), "", "x", &e), ERR_INVALID);
	assert_int_equal(calendar_add_holiday(&c, day("2025-03-13"), "x", NULL, &e), ERR_INVALID);
	assert_int_equal(calendar_add_holiday(&c, day("2025-03-13"), "\xc3\x28", "x", &e), ERR_INVALID);
	assert_int_equal(calendar_add_holiday(&c, day("2025-03-13"), "a\nb", "x", &e), ERR_INVALID);
	assert_int_equal(calendar_add_holiday(&c, days_from_civil(10000, 1, 1), "x", "x", &e), ERR_INVALID);
	assert_true(calendar_is_working_day(&c, day("2025-03-13")));

	/* full: CALENDAR_MAX_MARKS dates */
	for (int i = 3; i < CALENDAR_MAX_MARKS; i++)
		assert_int_equal(calendar_add_holiday(&c, day("2030-01-01") + i, "Nghỉ", "Off", &e), 0);
	assert_int_equal(calendar_add_holiday(&c, day("2029-01-01"), "Nghỉ", "Off", &e), ERR_TOO_LARGE);
}

static void test_bounds(void **state)
{
	(void)state;
	struct err e;
	int64_t out = 42;
	err_clear(&e);
	int64_t mon = at("2025-03-10T09:00:00+07:00");
	/* zero days: due at once */
	assert_int_equal(calendar_due(&PLAIN, mon, 0, &out, &e), 0);
	assert_int_equal(out, mon);
	/* about nine years is still fine, ten and more are not */
	assert_int_equal(calendar_due(&PLAIN, mon, 9 * 261, &out, &e), 0);
	assert_instant(out, "2034-03-10T09:00:00+07:00");
	out = 42;
	assert_int_equal(calendar_due(&PLAIN, mon, 11 * 261, &out, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "more than 3660 days after 2025-03-10"));
	assert_int_equal(out, 42);
	assert_int_equal(calendar_due(&PLAIN, mon, -1, &out, &e), ERR_INVALID);
	assert_int_equal(calendar_due(&PLAIN, mon, 2000000000, &out, &e), ERR_INVALID);
	assert_int_equal(calendar_add_working_us(&PLAIN, mon, -1, &out, &e), ERR_INVALID);
	assert_int_equal(calendar_add_working_us(&PLAIN, INT64_MAX, 1, &out, &e), ERR_INVALID);
	assert_int_equal(calendar_add_working_us(&PLAIN, INT64_MIN, 1, &out, &e), ERR_INVALID);
	assert_int_equal(out, 42);
	/* a calendar without any working day fails instead of looping */
	struct calendar never;
	calendar_init_default(&never);
	assert_int_equal(calendar_set_weekdays(&never, 0, &e), 0);
	assert_int_equal(calendar_due(&never, mon, 1, &out, &e), ERR_INVALID);
	assert_int_equal(calendar_working_us_between(&never, mon, mon + 1000 * HOUR_US), 0);
	/* ... but a compensatory day alone is enough */
	assert_int_equal(calendar_add_workday(&never, day("2025-03-15"), "Làm bù", "Make-up day", &e), 0);
	assert_int_equal(calendar_due(&never, mon, 1, &out, &e), 0);
	assert_instant(out, "2025-03-15T17:00:00+07:00");
	/* extreme instants are clamped, not overflowed */
	assert_true(calendar_working_us_between(&PLAIN, INT64_MIN, INT64_MAX) > 0);
	assert_int_equal(calendar_working_us_between(&PLAIN, INT64_MAX - 1, INT64_MAX), 0);
	assert_false(calendar_is_office_time(&PLAIN, INT64_MIN));
	/* before 1970 (negative instants): Wednesday 31/12/1969 -> Thursday 01/01/1970 */
	assert_due(&PLAIN, "1969-12-31T16:00:00+07:00", 1, "1970-01-01T16:00:00+07:00");
	assert_due(&PLAIN, "1970-01-01T06:59:59+07:00", 1, "1970-01-01T17:00:00+07:00");
}

/* The process's TZ must not matter. */
static void test_time_zone_independent(void **state)
{
	(void)state;
	const char *old = getenv("TZ");
	char saved[128] = "";
	if (old)
		snprintf(saved, sizeof saved, "%s", old);
	setenv("TZ", "America/New_York", 1);
	tzset();
	assert_due(&VN, "2025-01-24T10:00:00+07:00", 3, "2025-02-05T10:00:00+07:00");
	assert_due(&PLAIN, "2025-03-10T15:00:00+07:00", 1, "2025-03-11T15:00:00+07:00");
	setenv("TZ", "Pacific/Kiritimati", 1);
	tzset();
	assert_due(&VN, "2025-12-31T10:00:00+07:00", 1, "2026-01-05T10:00:00+07:00");
	if (old)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
}

/* ---- the holiday file ---- */

static void test_demo_file(void **state)
{
	(void)state;
	bool announced = false;
	assert_true(calendar_knows_year(&VN, 2024, &announced));
	assert_true(announced);
	assert_true(calendar_knows_year(&VN, 2025, &announced));
	assert_true(announced);
	assert_true(calendar_knows_year(&VN, 2026, &announced));
	assert_true(announced);
	assert_true(calendar_knows_year(&VN, 2027, &announced));
	assert_false(announced);
	assert_false(calendar_knows_year(&VN, 2028, NULL));
	assert_false(calendar_knows_year(&PLAIN, 2025, NULL));

	static const char *closed[] = {"2024-01-01", "2024-02-08", "2024-02-14", "2024-04-18", "2024-04-29",
				       "2024-04-30", "2024-05-01", "2024-09-02", "2024-09-03", "2025-01-01",
				       "2025-01-27", "2025-01-31", "2025-04-07", "2025-04-30", "2025-05-01",
				       "2025-05-02", "2025-09-01", "2025-09-02", "2026-01-01", "2026-01-02",
				       "2026-02-16", "2026-02-20", "2026-04-27", "2026-04-30", "2026-05-01",
				       "2026-08-31", "2026-09-01", "2026-09-02", "2027-01-01", "2027-02-04",
				       "2027-02-10", "2027-04-16", "2027-04-30", "2027-05-03", "2027-09-02",
				       "2027-09-03"};
	for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
		if (calendar_is_working_day(&VN, day(closed[i])))
			fail_msg("%s should be a day off", closed[i]);
	}
	static const char *open[] = {"2024-05-04", "2025-04-26", "2026-01-10", "2026-08-22", "2024-02-15",
				     "2025-02-03", "2026-02-23", "2027-02-11", "2025-09-03", "2026-04-28"};
	for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
		if (!calendar_is_working_day(&VN, day(open[i])))
			fail_msg("%s should be a working day", open[i]);
	}
	struct calendar_mark m;
	assert_true(calendar_lookup(&VN, day("2025-04-07"), &m));
	assert_string_equal(m.name_vi, "Giỗ Tổ Hùng Vương");
	assert_true(calendar_lookup(&VN, day("2026-09-02"), &m));
	assert_string_equal(m.name_vi, "Quốc khánh");
	assert_string_equal(m.name_en, "National Day");
}

static int load(struct calendar *c, const char *json, struct err *e)
{
	err_clear(e);
	return calendar_load_json(c, json, strlen(json), e);
}

static bool has_field(const struct err *e, const char *name, const char *msg_part)
{
	for (int i = 0; i < e->nfields; i++)
		if (strcmp(e->fields[i].name, name) == 0 && strstr(e->fields[i].msg, msg_part))
			return true;
	return false;
}

static void test_malformed_json(void **state)
{
	(void)state;
	static struct calendar c, before;
	struct err e;
	calendar_init_default(&c);
	assert_int_equal(calendar_add_holiday(&c, day("2025-01-01"), "Tết Dương lịch", "New Year's Day", &e), 0);
	before = c;

	/* not JSON at all */
	assert_int_equal(load(&c, "{\"years\": [", &e), ERR_BAD_REQUEST);
	assert_non_null(strstr(e.msg, "holiday calendar: malformed JSON at line 1"));
	assert_int_equal(load(&c, "", &e), ERR_BAD_REQUEST);
	assert_int_equal(load(&c, "{\"years\": []} trailing", &e), ERR_BAD_REQUEST);
	assert_int_equal(load(&c, "{\"years\": [], \"years\": []}", &e), ERR_BAD_REQUEST);
	assert_int_equal(load(&c, "{\"description\": \"\xff\", \"years\": []}", &e), ERR_BAD_REQUEST);
	assert_non_null(strstr(e.msg, "UTF-8"));

	/* JSON of the wrong shape: every problem is named with its path */
	assert_int_equal(load(&c, "[]", &e), ERR_INVALID);
	assert_int_equal(load(&c, "{}", &e), ERR_INVALID);
	assert_true(has_field(&e, "years", "is required"));
	assert_int_equal(load(&c, "{\"years\": [], \"colour\": 1}", &e), ERR_INVALID);
	assert_true(has_field(&e, "colour", "unknown field"));
	assert_int_equal(load(&c, "{\"years\": [3]}", &e), ERR_INVALID);
	assert_true(has_field(&e, "years[0]", "must be an object"));
	assert_int_equal(load(&c, "{\"years\": [{\"year\": \"2025\", \"dates\": []}]}", &e), ERR_INVALID);
	assert_true(has_field(&e, "years[0].year", "must be an integer"));
	assert_true(has_field(&e, "years[0].announced", "is required"));
	assert_int_equal(load(&c,
			      "{\"years\": [{\"year\": 2025, \"announced\": true, \"dates\": ["
			      "{\"date\": \"2025-02-30\", \"name_vi\": \"a\", \"name_en\": \"b\", \"kind\": \"holiday\"},"
			      "{\"date\": \"2026-01-02\", \"name_vi\": \"a\", \"name_en\": \"b\", \"kind\": \"holiday\"},"
			      "{\"date\": \"2025-01-02\", \"name_vi\": \"a\", \"name_en\": \"b\", \"kind\": \"day off\"},"
			      "{\"date\": \"2025-01-03\", \"name_vi\": \"\", \"name_en\": \"b\", \"kind\": \"holiday\"},"
			      "{\"date\": \"2025-01-04\", \"name_vi\": \"a\", \"kind\": \"workday\"},"
			      "{\"date\": \"2025-01-01\", \"name_vi\": \"a\", \"name_en\": \"b\", \"kind\": \"holiday\"},"
			      "{\"date\": \"2025-01-06\", \"name_vi\": \"a\", \"name_en\": \"b\", \"kind\": \"holiday\"},"
			      "{\"date\": \"2025-01-06\", \"name_vi\": \"a\", \"name_en\": \"b\", \"kind\": \"workday\"}"
			      "]}]}",
			      &e),
			 ERR_INVALID);
	assert_true(has_field(&e, "years[0].dates[0].date", "YYYY-MM-DD"));
	assert_true(has_field(&e, "years[0].dates[1].date", "not in the year 2025"));
	assert_true(has_field(&e, "years[0].dates[2].kind", "\"holiday\" or \"workday\""));
	assert_true(has_field(&e, "years[0].dates[3].name_vi", "bytes of text"));
	assert_true(has_field(&e, "years[0].dates[4].name_en", "is required"));
	assert_true(has_field(&e, "years[0].dates[5].date", "already marked"));
	assert_true(has_field(&e, "years[0].dates[7].date", "already marked"));
	assert_int_equal(e.nfields, 7);
	assert_non_null(strstr(e.msg, "field 'years[0].dates[0].date'"));
	/* all or nothing: the valid date 2025-01-06 was not kept */
	assert_memory_equal(&c, &before, sizeof c);
	assert_true(calendar_is_working_day(&c, day("2025-01-06")));

	/* the same year twice */
	assert_int_equal(load(&c,
			      "{\"years\": [{\"year\": 2030, \"announced\": false, \"dates\": []},"
			      "{\"year\": 2030, \"announced\": false, \"dates\": []}]}",
			      &e),
			 ERR_INVALID);
	assert_true(has_field(&e, "years[1].year", "described twice"));
	assert_memory_equal(&c, &before, sizeof c);

	/* a good document is accepted after all the refusals */
	assert_int_equal(load(&c,
			      "{\"years\": [{\"year\": 2030, \"announced\": false, \"note\": \"x\", \"dates\": ["
			      "{\"date\": \"2030-01-01\", \"name_vi\": \"Tết Dương lịch\", \"name_en\": \"New Year's Day\","
			      " \"kind\": \"holiday\", \"note\": \"thứ Ba\"}]}]}",
			      &e),
			 0);
	assert_false(calendar_is_working_day(&c, day("2030-01-01")));
	assert_true(calendar_knows_year(&c, 2030, NULL));
}

static void test_load_twice_and_full(void **state)
{
	(void)state;
	static struct calendar c, before;
	struct err e;
	size_t len;
	char *json = read_demo_file(&len);
	assert_non_null(json);
	calendar_init_default(&c);
	err_clear(&e);
	assert_int_equal(calendar_load_json(&c, json, len, &e), 0);
	before = c;
	/* loading the same years again is refused, and nothing changes */
	err_clear(&e);
	assert_int_equal(calendar_load_json(&c, json, len, &e), ERR_INVALID);
	assert_true(has_field(&e, "years[0].year", "described twice"));
	assert_memory_equal(&c, &before, sizeof c);

	/* a calendar that cannot hold the file refuses it whole */
	calendar_init_default(&c);
	for (int i = 0; i < CALENDAR_MAX_MARKS - 10; i++)
		assert_int_equal(calendar_add_holiday(&c, day("2030-01-01") + i, "Nghỉ", "Off", &e), 0);
	before = c;
	err_clear(&e);
	assert_int_equal(calendar_load_json(&c, json, len, &e), ERR_TOO_LARGE);
	assert_non_null(strstr(e.msg, "at most 256"));
	assert_memory_equal(&c, &before, sizeof c);
	assert_true(calendar_is_working_day(&c, day("2024-01-02")));
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_calendar),
		cmocka_unit_test(test_monday_afternoon_plus_one_day),
		cmocka_unit_test(test_weekends),
		cmocka_unit_test(test_receiving_outside_office_hours),
		cmocka_unit_test(test_tet_2025),
		cmocka_unit_test(test_tet_2026),
		cmocka_unit_test(test_year_ends),
		cmocka_unit_test(test_compensatory_saturday),
		cmocka_unit_test(test_pause_across_holiday),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_working_us_between),
		cmocka_unit_test(test_count_working_days),
		cmocka_unit_test(test_add_and_between_agree),
		cmocka_unit_test(test_custom_week_and_hours),
		cmocka_unit_test(test_add_marks),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_time_zone_independent),
		cmocka_unit_test(test_demo_file),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_load_twice_and_full),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
