/* sim_dvcqg.c: the simulated National Public Service Portal (Cổng Dịch vụ công
 * quốc gia, DVCQG) of tinhso-sim: its dossier synchronisation API, in its
 * style (services named in the body, Vietnamese field names, dates as
 * yyyyMMddHHmmss in Vietnam's time, "" for no date, answers carrying
 * error_code 0 for success):
 *
 *   POST /dvcqg/api/dongbo {"service": S, "MaDongBo": sync id, "isUpdating": b,
 *        "data": [ ... ]}
 *     S = "DongBoHoSoMC": data holds dossiers {MaHoSo, MaTTHC, TenTTHC,
 *         MaDonVi, TrangThaiHoSo 1..10, NgayNopHoSo, ChuHoSo, NgayTiepNhan?,
 *         NgayHenTra?, NgayTra?, NgayKetThucXuLy?, KenhThucHien? 1..3, ...};
 *         isUpdating false creates (error 3 if the dossier exists), true
 *         updates (error 2 if it does not).
 *     S = "CapNhatTienDoHoSoMC": data holds processing steps {MaHoSo,
 *         NguoiXuLy, ChucDanh?, ThoiDiemXuLy, PhongBanXuLy?, NoiDungXuLy,
 *         TrangThai 1..10, NgayBatDau?, NgayKetThucTheoQuyDinh?} of dossiers
 *         already synchronised (error 2 otherwise).
 *     Idempotent by (service, MaDongBo): a repeat answers 200 error_code 0
 *     with "TrungLap": true and changes nothing; the sim counts every arrival.
 *     200 {"error_code": 0, "message", "MaDongBo", "TrungLap"};
 *     400 {"error_code": 1 (invalid data) | 2 (unknown dossier) | 3 (exists),
 *          "message"}; 503 {"error_code": 503, "message"} from the failure switch.
 *   GET  /dvcqg/hoso/{MaHoSo}     what the portal holds: {"error_code": 0,
 *        "HoSo": the last dossier received, "QuaTrinhXuLy": [steps in order
 *        of arrival], "SoLanCapNhat": dossier versions received}; 404 error_code 2
 *   GET  /dvcqg/dongbo?MaHoSo=&service=  every sync id received, in order of
 *        first arrival: {"items": [{MaDongBo, service, MaHoSo, SoLanNhan,
 *        ThoiDiemNhan}], "total"}
 *   POST /dvcqg/fail {"count": N}  the next N synchronisation calls answer 503
 *
 * State is in memory under one mutex, bounded by DV_MAX_SYNCS sync ids and
 * DV_MAX_DOSSIERS dossiers (beyond them new ones are refused with 503). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/time.h"
#include "http/http.h"
#include "sim/sim.h"

enum {
	DV_MAX_SYNCS = 200000,
	DV_MAX_DOSSIERS = 50000,
	DV_MAX_ITEMS = 50,
	DV_SYNC_ID_MAX = 200,
	DV_TEXT_MAX = 4000,
};

enum dv_error { DV_OK = 0, DV_INVALID = 1, DV_UNKNOWN = 2, DV_EXISTS = 3 };

struct dv_sync {
	char *sync_id, *service, *dossier; /* malloc */
	int64_t first_at;
	int64_t count;
};

struct dv_dossier {
	char *code;	 /* malloc */
	json_t *hoso;	 /* the last version received */
	json_t *steps;	 /* array, in order of arrival */
	int64_t versions;
};

static pthread_mutex_t dv_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dv_sync *dv_syncs;
static size_t dv_nsyncs, dv_capsyncs;
static struct dv_dossier *dv_dossiers;
static size_t dv_ndossiers, dv_capdossiers;
static int64_t dv_fail_next;

static char *dv_strdup(const char *s)
{
	size_t n = strlen(s);
	char *p = malloc(n + 1);
	if (!p)
		abort();
	memcpy(p, s, n + 1);
	return p;
}

/* Under dv_mu. */
static struct dv_sync *dv_sync_find(const char *service, const char *sync_id)
{
	for (size_t i = dv_nsyncs; i-- > 0;)
		if (strcmp(dv_syncs[i].sync_id, sync_id) == 0 && strcmp(dv_syncs[i].service, service) == 0)
			return &dv_syncs[i];
	return NULL;
}

/* Under dv_mu. */
static struct dv_dossier *dv_dossier_find(const char *code)
{
	for (size_t i = dv_ndossiers; i-- > 0;)
		if (strcmp(dv_dossiers[i].code, code) == 0)
			return &dv_dossiers[i];
	return NULL;
}

/* The portal's answers. */
static int dv_answer(struct req *r, int status, int code, const char *message, const char *sync_id, bool duplicate)
{
	struct jw *w = res_json(r, status);
	jw_obj(w);
	jw_kint(w, "error_code", code);
	jw_kstr(w, "message", message);
	if (sync_id) {
		jw_kstr(w, "MaDongBo", sync_id);
		jw_kbool(w, "TrungLap", duplicate);
	}
	jw_obj_end(w);
	return 0;
}

/* yyyyMMddHHmmss, a real calendar time. */
static bool dv_date_valid(const char *s)
{
	if (strlen(s) != 14)
		return false;
	for (int i = 0; i < 14; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	int y = atoi((char[]){s[0], s[1], s[2], s[3], 0});
	int mo = atoi((char[]){s[4], s[5], 0}), d = atoi((char[]){s[6], s[7], 0});
	int h = atoi((char[]){s[8], s[9], 0}), mi = atoi((char[]){s[10], s[11], 0}),
	    se = atoi((char[]){s[12], s[13], 0});
	if (y < 1900 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (d > mdays[mo - 1])
		return false;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return false;
	return true;
}

struct dv_check {
	char msg[300];
	bool bad;
};

static void dv_bad(struct dv_check *k, size_t i, const char *field, const char *what)
{
	if (k->bad)
		return;
	k->bad = true;
	snprintf(k->msg, sizeof k->msg, "Dữ liệu không hợp lệ: data[%zu].%s %s", i, field, what);
}

static bool dv_text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n >= 1 && n <= max && utf8_valid(s, n);
}

static void dv_need_text(struct dv_check *k, json_t *item, size_t i, const char *field, size_t max, bool required)
{
	json_t *v = json_object_get(item, field);
	if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
		if (required)
			dv_bad(k, i, field, "là bắt buộc");
		return;
	}
	if (!json_is_string(v) || !dv_text_ok(json_string_value(v), max))
		dv_bad(k, i, field, "phải là chuỗi ký tự (1 đến giới hạn độ dài)");
}

static void dv_need_date(struct dv_check *k, json_t *item, size_t i, const char *field, bool required)
{
	json_t *v = json_object_get(item, field);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!v || json_is_null(v) || (s && !s[0])) {
		if (required)
			dv_bad(k, i, field, "là bắt buộc (yyyyMMddHHmmss)");
		return;
	}
	if (!s || !dv_date_valid(s))
		dv_bad(k, i, field, "phải là thời điểm dạng yyyyMMddHHmmss");
}

static void dv_need_int(struct dv_check *k, json_t *item, size_t i, const char *field, int lo, int hi, bool required)
{
	json_t *v = json_object_get(item, field);
	if (!v || json_is_null(v)) {
		if (required)
			dv_bad(k, i, field, "là bắt buộc");
		return;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		char what[64];
		snprintf(what, sizeof what, "phải là số nguyên từ %d đến %d", lo, hi);
		dv_bad(k, i, field, what);
	}
}

static void dv_check_dossier(struct dv_check *k, json_t *it, size_t i)
{
	dv_need_text(k, it, i, "MaHoSo", 64, true);
	dv_need_text(k, it, i, "MaTTHC", 32, true);
	dv_need_text(k, it, i, "TenTTHC", 1000, true);
	dv_need_text(k, it, i, "MaDonVi", 32, true);
	dv_need_text(k, it, i, "ChuHoSo", 500, true);
	dv_need_int(k, it, i, "TrangThaiHoSo", 1, 10, true);
	dv_need_int(k, it, i, "KenhThucHien", 1, 3, false);
	dv_need_date(k, it, i, "NgayNopHoSo", true);
	dv_need_date(k, it, i, "NgayTiepNhan", false);
	dv_need_date(k, it, i, "NgayHenTra", false);
	dv_need_date(k, it, i, "NgayTra", false);
	dv_need_date(k, it, i, "NgayKetThucXuLy", false);
}

static void dv_check_step(struct dv_check *k, json_t *it, size_t i)
{
	dv_need_text(k, it, i, "MaHoSo", 64, true);
	dv_need_text(k, it, i, "NguoiXuLy", 500, true);
	dv_need_text(k, it, i, "ChucDanh", 500, false);
	dv_need_text(k, it, i, "PhongBanXuLy", 500, false);
	dv_need_text(k, it, i, "NoiDungXuLy", DV_TEXT_MAX, true);
	dv_need_int(k, it, i, "TrangThai", 1, 10, true);
	dv_need_date(k, it, i, "ThoiDiemXuLy", true);
	dv_need_date(k, it, i, "NgayBatDau", false);
	dv_need_date(k, it, i, "NgayKetThucTheoQuyDinh", false);
}

static void dv_now(char out[16])
{
	int64_t s = time_now_us() / 1000000 + TIME_OFFSET_S;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)(s / 86400), &y, &m, &d);
	int64_t sod = s % 86400;
	snprintf(out, 16, "%04d%02u%02u%02d%02d%02d", y, m, d, (int)(sod / 3600), (int)(sod % 3600 / 60),
		 (int)(sod % 60));
}

static int dv_h_dongbo(struct req *r)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	if (!json_is_object(body))
		return dv_answer(r, 400, DV_INVALID, "Dữ liệu gửi lên phải là một đối tượng JSON", NULL, false);
	const char *service = json_string_value(json_object_get(body, "service"));
	const char *sync_id = json_string_value(json_object_get(body, "MaDongBo"));
	json_t *updating = json_object_get(body, "isUpdating");
	json_t *data = json_object_get(body, "data");
	bool is_dossier = service && strcmp(service, "DongBoHoSoMC") == 0;
	bool is_step = service && strcmp(service, "CapNhatTienDoHoSoMC") == 0;
	if (!is_dossier && !is_step)
		return dv_answer(r, 400, DV_INVALID, "service phải là DongBoHoSoMC hoặc CapNhatTienDoHoSoMC", NULL,
				 false);
	if (!sync_id || !sync_id[0] || strlen(sync_id) > DV_SYNC_ID_MAX || !utf8_valid(sync_id, strlen(sync_id)))
		return dv_answer(r, 400, DV_INVALID, "MaDongBo là bắt buộc (1 đến 200 ký tự)", NULL, false);
	if (updating && !json_is_boolean(updating))
		return dv_answer(r, 400, DV_INVALID, "isUpdating phải là true hoặc false", NULL, false);
	if (!json_is_array(data) || json_array_size(data) < 1 || json_array_size(data) > DV_MAX_ITEMS)
		return dv_answer(r, 400, DV_INVALID, "data phải là danh sách từ 1 đến 50 phần tử", NULL, false);
	struct dv_check k = {"", false};
	for (size_t i = 0; i < json_array_size(data); i++) {
		json_t *it = json_array_get(data, i);
		if (!json_is_object(it)) {
			dv_bad(&k, i, "", "phải là một đối tượng");
			break;
		}
		if (is_dossier)
			dv_check_dossier(&k, it, i);
		else
			dv_check_step(&k, it, i);
	}
	if (k.bad)
		return dv_answer(r, 400, DV_INVALID, k.msg, NULL, false);

	char msg[300];
	int status = 200, code = DV_OK;
	bool duplicate = false;
	pthread_mutex_lock(&dv_mu);
	if (dv_fail_next > 0) {
		dv_fail_next--;
		pthread_mutex_unlock(&dv_mu);
		res_header(r, "Retry-After", "1");
		return dv_answer(r, 503, 503, "Cổng Dịch vụ công quốc gia tạm thời gián đoạn (mô phỏng)", NULL, false);
	}
	struct dv_sync *seen = dv_sync_find(service, sync_id);
	if (seen) {
		seen->count++;
		duplicate = true;
		snprintf(msg, sizeof msg, "Đã nhận MaDongBo %s trước đó, không xử lý lại", sync_id);
		goto done;
	}
	/* everything is checked before anything changes */
	bool want_new = is_dossier && updating && !json_is_true(updating);
	for (size_t i = 0; i < json_array_size(data); i++) {
		const char *ma = json_string_value(json_object_get(json_array_get(data, i), "MaHoSo"));
		struct dv_dossier *d = dv_dossier_find(ma);
		if (want_new && d) {
			status = 400, code = DV_EXISTS;
			snprintf(msg, sizeof msg, "Hồ sơ %s đã tồn tại (isUpdating = false)", ma);
			goto done;
		}
		if (!d && !(is_dossier && !json_is_true(updating))) {
			status = 400, code = DV_UNKNOWN;
			snprintf(msg, sizeof msg, "Hồ sơ %s chưa được đồng bộ lên Cổng Dịch vụ công quốc gia", ma);
			goto done;
		}
		if (!d && dv_ndossiers + i >= DV_MAX_DOSSIERS) {
			status = 503, code = 503;
			snprintf(msg, sizeof msg, "Bộ nhớ mô phỏng đã đầy");
			goto done;
		}
	}
	if (dv_nsyncs >= DV_MAX_SYNCS) {
		status = 503, code = 503;
		snprintf(msg, sizeof msg, "Bộ nhớ mô phỏng đã đầy");
		goto done;
	}
	const char *first = json_string_value(json_object_get(json_array_get(data, 0), "MaHoSo"));
	for (size_t i = 0; i < json_array_size(data); i++) {
		json_t *it = json_array_get(data, i);
		const char *ma = json_string_value(json_object_get(it, "MaHoSo"));
		struct dv_dossier *d = dv_dossier_find(ma);
		if (!d) {
			if (dv_ndossiers == dv_capdossiers) {
				dv_capdossiers = dv_capdossiers ? dv_capdossiers * 2 : 64;
				dv_dossiers = realloc(dv_dossiers, dv_capdossiers * sizeof *dv_dossiers);
				if (!dv_dossiers)
					abort();
			}
			d = &dv_dossiers[dv_ndossiers++];
			d->code = dv_strdup(ma);
			d->hoso = NULL;
			d->steps = json_array();
			d->versions = 0;
		}
		if (is_dossier) {
			json_decref(d->hoso);
			d->hoso = json_deep_copy(it);
			d->versions++;
		} else {
			json_array_append_new(d->steps, json_deep_copy(it));
		}
	}
	if (dv_nsyncs == dv_capsyncs) {
		dv_capsyncs = dv_capsyncs ? dv_capsyncs * 2 : 256;
		dv_syncs = realloc(dv_syncs, dv_capsyncs * sizeof *dv_syncs);
		if (!dv_syncs)
			abort();
	}
	struct dv_sync *s = &dv_syncs[dv_nsyncs++];
	s->sync_id = dv_strdup(sync_id);
	s->service = dv_strdup(service);
	s->dossier = dv_strdup(first);
	s->first_at = time_now_us();
	s->count = 1;
	snprintf(msg, sizeof msg, "Đồng bộ thành công");
done:
	pthread_mutex_unlock(&dv_mu);
	if (code != DV_OK)
		return dv_answer(r, status, code, msg, NULL, false);
	return dv_answer(r, 200, DV_OK, msg, sync_id, duplicate);
}

static int dv_h_hoso(struct req *r)
{
	const char *ma = req_param(r, "ma");
	pthread_mutex_lock(&dv_mu);
	struct dv_dossier *d = dv_dossier_find(ma);
	char *hoso = d && d->hoso ? json_dumps(d->hoso, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char *steps = d ? json_dumps(d->steps, JSON_COMPACT) : NULL;
	int64_t versions = d ? d->versions : 0;
	pthread_mutex_unlock(&dv_mu);
	if (!d) {
		char msg[200];
		snprintf(msg, sizeof msg, "Không tìm thấy hồ sơ %.100s", ma);
		return dv_answer(r, 404, DV_UNKNOWN, msg, NULL, false);
	}
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kint(w, "error_code", DV_OK);
	jw_key(w, "HoSo");
	if (hoso)
		jw_raw(w, hoso, strlen(hoso));
	else
		jw_null(w);
	jw_key(w, "QuaTrinhXuLy");
	jw_raw(w, steps, strlen(steps));
	jw_kint(w, "SoLanCapNhat", versions);
	jw_obj_end(w);
	free(hoso);
	free(steps);
	return 0;
}

static int dv_h_list(struct req *r)
{
	const char *ma = req_query(r, "MaHoSo");
	const char *service = req_query(r, "service");
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_key(w, "items");
	jw_arr(w);
	int64_t total = 0;
	pthread_mutex_lock(&dv_mu);
	for (size_t i = 0; i < dv_nsyncs; i++) {
		const struct dv_sync *s = &dv_syncs[i];
		if ((ma && *ma && strcmp(s->dossier, ma) != 0) || (service && *service && strcmp(s->service, service) != 0))
			continue;
		int64_t sec = s->first_at / 1000000 + TIME_OFFSET_S;
		int y;
		unsigned m, d;
		civil_from_days((int32_t)(sec / 86400), &y, &m, &d);
		char at[32];
		snprintf(at, sizeof at, "%04d%02u%02u%02d%02d%02d", y, m, d, (int)(sec % 86400 / 3600),
			 (int)(sec % 3600 / 60), (int)(sec % 60));
		jw_obj(w);
		jw_kstr(w, "MaDongBo", s->sync_id);
		jw_kstr(w, "service", s->service);
		jw_kstr(w, "MaHoSo", s->dossier);
		jw_kint(w, "SoLanNhan", s->count);
		jw_kstr(w, "ThoiDiemNhan", at);
		jw_obj_end(w);
		total++;
	}
	pthread_mutex_unlock(&dv_mu);
	jw_arr_end(w);
	jw_kint(w, "total", total);
	jw_obj_end(w);
	return 0;
}

static int dv_h_fail(struct req *r)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	int64_t count = 0;
	const struct jfield f[] = {{"count", JF_INT, true, 0, &count, NULL}};
	if ((rc = json_decode(body, f, 1, r->a, &r->err)) < 0)
		return rc;
	if (count < 0 || count > 1000000) {
		err_field(&r->err, "count", "must be 0 to 1000000");
		return err_fields_done(&r->err);
	}
	pthread_mutex_lock(&dv_mu);
	dv_fail_next = count;
	pthread_mutex_unlock(&dv_mu);
	char now[16];
	dv_now(now);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kint(w, "fail_next", count);
	jw_kstr(w, "at", now);
	jw_obj_end(w);
	return 0;
}

const struct route sim_dvcqg_routes[] = {
	{"POST", "/dvcqg/api/dongbo", dv_h_dongbo, 0},
	{"GET", "/dvcqg/hoso/{ma}", dv_h_hoso, 0},
	{"GET", "/dvcqg/dongbo", dv_h_list, 0},
	{"POST", "/dvcqg/fail", dv_h_fail, 0},
};
const size_t sim_dvcqg_nroutes = sizeof sim_dvcqg_routes / sizeof sim_dvcqg_routes[0];
