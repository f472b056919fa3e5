/* calendar_api.c: JSON routes of the working-day calendar: the public year
 * view (holidays, compensatory working days, office hours), the public
 * due-date helper, and the admins' changes to marked days. */
#include <string.h>

#include "app/api.h"
#include "base/time.h"
#include "calendar/calendar_store.h"

static const char *const weekday_names[] = {"monday", "tuesday",  "wednesday", "thursday",
					    "friday", "saturday", "sunday"};

static int weekday_of(int32_t day) /* Monday 0 .. Sunday 6; 1970-01-01 was a Thursday */
{
	return (int)(((int64_t)day % 7 + 7 + 3) % 7);
}

static void hhmm(char out[8], int32_t s)
{
	snprintf(out, 8, "%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60));
}

static int this_year(void)
{
	int64_t local_s = time_now_us() / 1000000 + TIME_OFFSET_S;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)(local_s / 86400), &y, &m, &d);
	return y;
}

/* The office week and hours (read from the calendar's public layout: calendar.h has no getters for them). */
static void office_json(struct jw *w, const struct calendar *cal)
{
	jw_kstr(w, "timezone", "Asia/Ho_Chi_Minh");
	jw_kstr(w, "utc_offset", "+07:00");
	jw_key(w, "working_weekdays");
	jw_arr(w);
	for (int i = 0; i < 7; i++)
		if (cal->weekdays >> i & 1)
			jw_str(w, weekday_names[i]);
	jw_arr_end(w);
	jw_key(w, "office_hours");
	jw_arr(w);
	for (int i = 0; i < cal->nhours; i++) {
		char open[8], close[8];
		hhmm(open, cal->hours[i].open_s);
		hhmm(close, cal->hours[i].close_s);
		jw_obj(w);
		jw_kstr(w, "open", open);
		jw_kstr(w, "close", close);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kint(w, "office_minutes_per_day", calendar_day_us(cal) / 60000000);
}

static int h_year(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	int64_t year = this_year();
	if (rc < 0 || (rc = req_query_int(r, "year", 1900, 9999, &year, NULL)) < 0)
		return rc;
	struct calendar *cal = malloc(sizeof *cal);
	if (!cal)
		abort();
	calendar_current(c.app, cal);
	bool announced = false;
	bool known = calendar_knows_year(cal, (int)year, &announced);
	int32_t first = days_from_civil((int)year, 1, 1), end = days_from_civil((int)year + 1, 1, 1);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kint(w, "year", year);
	jw_kbool(w, "known", known);
	jw_kbool(w, "announced", known && announced);
	office_json(w, cal);
	jw_kint(w, "working_days", calendar_count_working_days(cal, first, end));
	jw_key(w, "days");
	jw_arr(w);
	for (int32_t d = first; d < end; d++) {
		struct calendar_mark m;
		if (!calendar_lookup(cal, d, &m))
			continue;
		char date[16];
		date_fmt(d, date, sizeof date);
		jw_obj(w);
		jw_kstr(w, "date", date);
		jw_kstr(w, "weekday", weekday_names[weekday_of(d)]);
		jw_kstr(w, "kind", calendar_kind_name(m.kind));
		jw_kstr(w, "name_vi", m.name_vi);
		jw_kstr(w, "name_en", m.name_en);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
	free(cal);
	return 0;
}

static int h_due(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_ANON);
	if (rc < 0)
		return rc;
	const char *from_s = req_query(r, "from");
	int64_t from = time_now_us(), days = 0;
	bool have_days = false;
	if (from_s && !time_parse_rfc3339(from_s, &from))
		err_field(&r->err, "from", "must be an RFC 3339 time, like 2026-02-13T09:00:00+07:00");
	if (req_query_int(r, "days", 0, 1000, &days, &have_days) < 0)
		return ERR_INVALID;
	if (!have_days)
		err_field(&r->err, "days", "is required: the number of working days, 0 to 1000");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	struct calendar *cal = malloc(sizeof *cal);
	if (!cal)
		abort();
	calendar_current(c.app, cal);
	int64_t due = 0;
	struct err sub;
	err_clear(&sub);
	rc = calendar_due(cal, from, (int)days, &due, &sub);
	free(cal);
	if (rc < 0) {
		err_field(&r->err, "from", "%s", sub.msg);
		return err_fields_done(&r->err);
	}
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_ktime(w, "from", from);
	jw_kint(w, "days", days);
	jw_ktime(w, "due", due);
	jw_obj_end(w);
	return 0;
}

static int h_add(struct req *r)
{
	struct ctx c;
	json_t *body;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0 || (rc = req_json(r, &body)) < 0)
		return rc;
	const char *date = NULL, *kind = NULL, *name_vi = NULL, *name_en = NULL;
	bool announced = true;
	const struct jfield fields[] = {
	    {"date", JF_STR, true, 10, &date, NULL},
	    {"kind", JF_STR, true, 16, &kind, NULL},
	    {"name_vi", JF_STR, true, CALENDAR_MAX_NAME, &name_vi, NULL},
	    {"name_en", JF_STR, true, CALENDAR_MAX_NAME, &name_en, NULL},
	    {"announced", JF_BOOL, false, 0, &announced, NULL},
	};
	if ((rc = json_decode(body, fields, sizeof fields / sizeof fields[0], r->a, &r->err)) < 0)
		return rc;
	struct calendar_day d;
	if ((rc = calendar_day_add(&c, date, kind, name_vi, name_en, announced, &d, &r->err)) < 0)
		return rc;
	res_header(r, "Location", arena_printf(r->a, "/api/v1/calendar/days/%s", date));
	calendar_day_json(res_json(r, 201), &d);
	return 0;
}

static int h_delete(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	if ((rc = calendar_day_delete(&c, req_param(r, "date"), &r->err)) < 0)
		return rc;
	res_text(r, 204, NULL, "", 0);
	return 0;
}

const struct route calendar_routes[] = {
    {"GET", "/api/v1/calendar", h_year, 0},
    {"GET", "/api/v1/calendar/due", h_due, 0},
    {"POST", "/api/v1/calendar/days", h_add, 0},
    {"DELETE", "/api/v1/calendar/days/{date}", h_delete, 0},
};
const size_t calendar_nroutes = sizeof calendar_routes / sizeof calendar_routes[0];
