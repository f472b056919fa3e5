/* sim_national.c: the simulated national databases of tinhso-sim, with sample
 * records of Hải Dương province (fictional people and firms; real communes):
 *
 *   GET /population/citizens/{id_number}     the population database (CSDLQG về
 *        dân cư): a citizen by the 12-digit personal identity number (CCCD)
 *   GET /business/enterprises/{tax_code}     the business registry: an enterprise
 *        by tax code (10 digits, or 10 digits "-" 3 digits for a branch)
 *   GET /land/parcels/{commune}/{sheet}/{parcel}  the land database: a parcel by
 *        the commune's agency code, map sheet number and parcel number
 *   GET /insurance/books/{number}            social insurance: a book by its
 *        10-digit social insurance number, or by the holder's 12-digit CCCD
 *   GET /judicial/records/{id_number}        judicial records: whether the
 *        citizen has a criminal record (every citizen of the population
 *        database has an answer; most have none)
 *   POST /national/fail {"system": "population"|"business"|"land"|"insurance"|
 *        "judicial"|"all", "count": N}      the next N queries of that system
 *        answer 503 (tests of error handling)
 *   GET /national/stats                      queries answered per system
 *
 * Answers are JSON objects with English keys and Vietnamese values; dates are
 * YYYY-MM-DD, addresses objects {detail, commune_code, commune, district,
 * province, full}. A malformed key is 422 naming the parameter, an unknown one
 * 404, both in tinhso's error shape. The records are constant; the failure
 * switch and the counters are under one mutex. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "http/http.h"
#include "sim/sim.h"

enum nat_system { NAT_POPULATION, NAT_BUSINESS, NAT_LAND, NAT_INSURANCE, NAT_JUDICIAL, NAT_NSYSTEMS };

static const char *const nat_system_names[NAT_NSYSTEMS] = {"population", "business", "land", "insurance", "judicial"};

static pthread_mutex_t nat_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t nat_fail[NAT_NSYSTEMS];
static int64_t nat_served[NAT_NSYSTEMS];

/* ---- places ---- */

struct nat_commune {
	const char *code, *name, *district;
};

static const struct nat_commune nat_communes[] = {
	{"000.01.31.H23", "phường Cẩm Thượng", "thành phố Hải Dương"},
	{"000.02.31.H23", "phường Bình Hàn", "thành phố Hải Dương"},
	{"000.03.31.H23", "phường Ngọc Châu", "thành phố Hải Dương"},
	{"000.04.31.H23", "phường Nhị Châu", "thành phố Hải Dương"},
	{"000.05.31.H23", "phường Quang Trung", "thành phố Hải Dương"},
	{"000.06.31.H23", "phường Nguyễn Trãi", "thành phố Hải Dương"},
	{"000.07.31.H23", "phường Phạm Ngũ Lão", "thành phố Hải Dương"},
	{"000.08.31.H23", "phường Trần Hưng Đạo", "thành phố Hải Dương"},
	{"000.09.31.H23", "phường Trần Phú", "thành phố Hải Dương"},
	{"000.10.31.H23", "phường Thanh Bình", "thành phố Hải Dương"},
	{"000.11.31.H23", "phường Tân Bình", "thành phố Hải Dương"},
	{"000.12.31.H23", "phường Lê Thanh Nghị", "thành phố Hải Dương"},
	{"000.13.31.H23", "phường Hải Tân", "thành phố Hải Dương"},
	{"000.14.31.H23", "phường Tứ Minh", "thành phố Hải Dương"},
	{"000.15.31.H23", "phường Việt Hòa", "thành phố Hải Dương"},
	{"000.16.31.H23", "phường Ái Quốc", "thành phố Hải Dương"},
	{"000.17.31.H23", "xã An Thượng", "thành phố Hải Dương"},
	{"000.18.31.H23", "phường Nam Đồng", "thành phố Hải Dương"},
	{"000.19.31.H23", "xã Quyết Thắng", "thành phố Hải Dương"},
	{"000.20.31.H23", "xã Tiền Tiến", "thành phố Hải Dương"},
	{"000.21.31.H23", "phường Thạch Khôi", "thành phố Hải Dương"},
	{"000.22.31.H23", "xã Liên Hồng", "thành phố Hải Dương"},
	{"000.23.31.H23", "phường Tân Hưng", "thành phố Hải Dương"},
	{"000.24.31.H23", "xã Gia Xuyên", "thành phố Hải Dương"},
	{"000.25.31.H23", "xã Ngọc Sơn", "thành phố Hải Dương"},
	{"000.01.32.H23", "phường Phả Lại", "thành phố Chí Linh"},
	{"000.02.32.H23", "phường Sao Đỏ", "thành phố Chí Linh"},
	{"000.01.33.H23", "phường An Lưu", "thị xã Kinh Môn"},
	{"000.03.33.H23", "phường Thất Hùng", "thị xã Kinh Môn"},
	{"000.01.34.H23", "thị trấn Kẻ Sặt", "huyện Bình Giang"},
	{"000.02.34.H23", "xã Vĩnh Hưng", "huyện Bình Giang"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct nat_commune *nat_commune(const char *code)
{
	for (size_t i = 0; i < NELEM(nat_communes); i++)
		if (strcmp(nat_communes[i].code, code) == 0)
			return &nat_communes[i];
	return NULL;
}

static void nat_address(struct jw *w, const char *key, const char *commune_code, const char *detail)
{
	const struct nat_commune *c = nat_commune(commune_code);
	jw_key(w, key);
	jw_obj(w);
	jw_kstr(w, "detail", detail);
	jw_kstr(w, "commune_code", commune_code);
	jw_kstr(w, "commune", c ? c->name : NULL);
	jw_kstr(w, "district", c ? c->district : NULL);
	jw_kstr(w, "province", "tỉnh Hải Dương");
	char full[512];
	snprintf(full, sizeof full, "%s, %s, %s, tỉnh Hải Dương", detail, c ? c->name : "?", c ? c->district : "?");
	jw_kstr(w, "full", full);
	jw_obj_end(w);
}

/* ---- the population database ----
 * CCCD: 3 digits of the province of birth registration (030 Hải Dương), one
 * for sex and century (0 man / 1 woman born 1900-1999, 2 / 3 born 2000-2099),
 * two for the year of birth, six in sequence. */

struct nat_citizen {
	const char *id, *name, *birth, *gender, *commune, *detail, *hometown, *father, *mother, *spouse, *marital,
		*issued;
};

static const struct nat_citizen nat_citizens[] = {
	{"030095001234", "Nguyễn Văn An", "1995-03-12", "Nam", "000.08.31.H23", "Số 5 phố Trần Hưng Đạo",
	 "xã Cẩm Văn, huyện Cẩm Giàng, tỉnh Hải Dương", "Nguyễn Văn Bình", "Phạm Thị Cúc", NULL, "Chưa kết hôn",
	 "2021-04-15"},
	{"030090009999", "Trần Văn Bảo", "1990-07-21", "Nam", "000.05.31.H23", "Số 2 phố Quang Trung",
	 "phường Quang Trung, thành phố Hải Dương, tỉnh Hải Dương", "Trần Văn Lộc", "Đỗ Thị Mến", "Lê Thị Thu",
	 "Đã kết hôn", "2021-03-02"},
	{"030190004321", "Lê Thị Thu", "1990-11-02", "Nữ", "000.05.31.H23", "Số 2 phố Quang Trung",
	 "xã Thanh Hải, huyện Thanh Hà, tỉnh Hải Dương", "Lê Văn Tám", "Nguyễn Thị Nụ", "Trần Văn Bảo", "Đã kết hôn",
	 "2021-03-02"},
	{"030185002468", "Phạm Thị Hoa", "1985-02-14", "Nữ", "000.01.31.H23", "Số 18 đường Bạch Đằng",
	 "phường Cẩm Thượng, thành phố Hải Dương, tỉnh Hải Dương", "Phạm Văn Hòa", "Vũ Thị Sen", NULL, "Đã ly hôn",
	 "2021-05-20"},
	{"030078003579", "Vũ Đức Minh", "1978-09-30", "Nam", "000.02.31.H23", "Số 45 phố Chi Lăng",
	 "xã Gia Xuyên, thành phố Hải Dương, tỉnh Hải Dương", "Vũ Đức Thuận", "Ngô Thị Hảo", "Đinh Thị Hạnh",
	 "Đã kết hôn", "2021-06-11"},
	{"030201005555", "Đỗ Minh Khang", "2001-05-05", "Nam", "000.09.31.H23", "Số 9 phố Tuy An",
	 "phường Trần Phú, thành phố Hải Dương, tỉnh Hải Dương", "Đỗ Văn Cường", "Nguyễn Thị Lụa", NULL,
	 "Chưa kết hôn", "2021-07-01"},
	{"030302006789", "Nguyễn Ngọc Anh", "2002-12-20", "Nữ", "000.06.31.H23", "Số 27 phố Nguyễn Trãi",
	 "phường Nguyễn Trãi, thành phố Hải Dương, tỉnh Hải Dương", "Nguyễn Quang Vinh", "Trần Thị Ngọc", NULL,
	 "Chưa kết hôn", "2021-08-19"},
	{"030165007890", "Hoàng Thị Lan", "1965-04-18", "Nữ", "000.07.31.H23", "Số 3 ngõ 12 phố Phạm Ngũ Lão",
	 "xã Tân Trường, huyện Cẩm Giàng, tỉnh Hải Dương", "Hoàng Văn Kha", "Bùi Thị Tươi", NULL, "Góa",
	 "2021-04-28"},
	{"030052008123", "Bùi Văn Thịnh", "1952-01-08", "Nam", "000.17.31.H23", "Thôn Đông",
	 "xã An Thượng, thành phố Hải Dương, tỉnh Hải Dương", "Bùi Văn Thiện", "Phạm Thị Dần", "Nguyễn Thị Gái",
	 "Đã kết hôn", "2021-02-09"},
	{"030188009012", "Ngô Thị Mai Phương", "1988-08-08", "Nữ", "000.12.31.H23", "Số 112 đường Lê Thanh Nghị",
	 "xã Hồng Phong, huyện Ninh Giang, tỉnh Hải Dương", "Ngô Văn Lực", "Trần Thị Mai", "Đặng Quốc Huy",
	 "Đã kết hôn", "2021-09-14"},
	{"030083010203", "Đặng Quốc Huy", "1983-06-15", "Nam", "000.10.31.H23", "Số 66 đường Thanh Niên",
	 "phường Thanh Bình, thành phố Hải Dương, tỉnh Hải Dương", "Đặng Văn Quế", "Lê Thị Hồng", "Ngô Thị Mai Phương",
	 "Đã kết hôn", "2021-09-14"},
	{"030192011304", "Mạc Thị Ngọc", "1992-10-10", "Nữ", "000.01.32.H23", "Khu dân cư Phao Sơn",
	 "phường Phả Lại, thành phố Chí Linh, tỉnh Hải Dương", "Mạc Văn Toàn", "Nguyễn Thị Vân", NULL, "Chưa kết hôn",
	 "2021-10-05"},
	{"030087012405", "Lương Văn Tuấn", "1987-03-03", "Nam", "000.02.32.H23", "Số 15 đường Nguyễn Trãi 2",
	 "phường Sao Đỏ, thành phố Chí Linh, tỉnh Hải Dương", "Lương Văn Khánh", "Phạm Thị Thơm", "Mạc Thị Hiền",
	 "Đã kết hôn", "2021-11-22"},
	{"030070013506", "Phạm Văn Đức", "1970-12-25", "Nam", "000.01.33.H23", "Khu dân cư Tống Xá",
	 "phường An Lưu, thị xã Kinh Môn, tỉnh Hải Dương", "Phạm Văn Đạt", "Vũ Thị Đào", "Trịnh Thị Hường",
	 "Đã kết hôn", "2021-01-18"},
	{"030175014607", "Trịnh Thị Hường", "1975-05-19", "Nữ", "000.03.33.H23", "Khu dân cư Kim Bảng",
	 "phường Thất Hùng, thị xã Kinh Môn, tỉnh Hải Dương", "Trịnh Văn Khoa", "Đỗ Thị Hiên", "Phạm Văn Đức",
	 "Đã kết hôn", "2021-01-18"},
	{"030098015708", "Cao Minh Quân", "1998-01-30", "Nam", "000.01.34.H23", "Phố Kẻ Sặt",
	 "thị trấn Kẻ Sặt, huyện Bình Giang, tỉnh Hải Dương", "Cao Minh Tiến", "Lưu Thị Bích", NULL, "Chưa kết hôn",
	 "2021-12-03"},
	{"030199016809", "Tạ Thị Yến", "1999-09-09", "Nữ", "000.02.34.H23", "Thôn Ngọc Cục",
	 "xã Vĩnh Hưng, huyện Bình Giang, tỉnh Hải Dương", "Tạ Văn Hùng", "Hoàng Thị Nhàn", NULL, "Chưa kết hôn",
	 "2022-01-10"},
	{"030061017900", "Nguyễn Văn Hải", "1961-02-02", "Nam", "000.14.31.H23", "Khu 3",
	 "phường Tứ Minh, thành phố Hải Dương, tỉnh Hải Dương", "Nguyễn Văn Mão", "Lê Thị Tý", "Đinh Thị Thanh Tâm",
	 "Đã kết hôn", "2021-03-25"},
	{"030168018011", "Đinh Thị Thanh Tâm", "1968-07-07", "Nữ", "000.13.31.H23", "Số 21 phố Lương Thế Vinh",
	 "xã Nam Hưng, huyện Nam Sách, tỉnh Hải Dương", "Đinh Văn Sáu", "Vũ Thị Bảy", "Nguyễn Văn Hải", "Đã kết hôn",
	 "2021-03-25"},
	{"030094019122", "Lê Hoàng Nam", "1994-04-04", "Nam", "000.11.31.H23", "Số 8 phố Ngô Quyền",
	 "phường Tân Bình, thành phố Hải Dương, tỉnh Hải Dương", "Lê Hoàng Long", "Phan Thị Hà", NULL, "Chưa kết hôn",
	 "2021-06-30"},
	{"030197020233", "Vương Thị Thảo", "1997-11-11", "Nữ", "000.15.31.H23", "Khu 5",
	 "phường Việt Hòa, thành phố Hải Dương, tỉnh Hải Dương", "Vương Văn Thắm", "Nguyễn Thị Sáng", NULL,
	 "Chưa kết hôn", "2021-07-16"},
	{"030205021344", "Phùng Gia Bảo", "2005-06-01", "Nam", "000.08.31.H23", "Số 14 phố Trần Hưng Đạo",
	 "phường Trần Hưng Đạo, thành phố Hải Dương, tỉnh Hải Dương", "Phùng Văn Dũng", "Lê Thị Hạnh", NULL,
	 "Chưa kết hôn", "2021-08-02"},
	{"030306022455", "Nguyễn Thị Hà My", "2006-08-15", "Nữ", "000.08.31.H23", "Số 5 phố Trần Hưng Đạo",
	 "xã Cẩm Văn, huyện Cẩm Giàng, tỉnh Hải Dương", "Nguyễn Văn Bình", "Phạm Thị Cúc", NULL, "Chưa kết hôn",
	 "2022-09-01"},
	{"030080023566", "Đoàn Văn Khải", "1980-10-20", "Nam", "000.16.31.H23", "Khu dân cư Quán Lào",
	 "phường Ái Quốc, thành phố Hải Dương, tỉnh Hải Dương", "Đoàn Văn Hợi", "Trần Thị Mận", "Chu Thị Huyền",
	 "Đã kết hôn", "2021-02-26"},
	{"030182024677", "Chu Thị Huyền", "1982-12-12", "Nữ", "000.18.31.H23", "Thôn Lộ Cương",
	 "phường Nam Đồng, thành phố Hải Dương, tỉnh Hải Dương", "Chu Văn Thìn", "Phạm Thị Tuất", "Đoàn Văn Khải",
	 "Đã kết hôn", "2021-02-26"},
	{"030074025788", "Hà Văn Sơn", "1974-03-27", "Nam", "000.19.31.H23", "Thôn Văn Xá",
	 "xã Quyết Thắng, thành phố Hải Dương, tỉnh Hải Dương", "Hà Văn Núi", "Đặng Thị Rừng", NULL, "Đã ly hôn",
	 "2021-05-07"},
	{"030159026899", "Trần Thị Nhung", "1959-05-05", "Nữ", "000.03.31.H23", "Số 40 phố Nguyễn Thị Duệ",
	 "phường Ngọc Châu, thành phố Hải Dương, tỉnh Hải Dương", "Trần Văn Thọ", "Lê Thị Xuân", NULL, "Góa",
	 "2021-04-09"},
	{"030091027900", "Khúc Văn Thắng", "1991-09-02", "Nam", "000.04.31.H23", "Số 7 đường Nguyễn Lương Bằng",
	 "xã Cẩm Phúc, huyện Cẩm Giàng, tỉnh Hải Dương", "Khúc Văn Thừa", "Ngô Thị Luyến", NULL, "Chưa kết hôn",
	 "2021-10-27"},
	{"030196028011", "Lưu Thị Kim Oanh", "1996-02-29", "Nữ", "000.21.31.H23", "Khu dân cư Thạch Lặc",
	 "phường Thạch Khôi, thành phố Hải Dương, tỉnh Hải Dương", "Lưu Văn Kiên", "Đào Thị Nhạn", NULL, "Chưa kết hôn",
	 "2021-12-20"},
	{"030066029122", "Vũ Văn Lực", "1966-08-19", "Nam", "000.22.31.H23", "Thôn Thanh Xá",
	 "xã Liên Hồng, thành phố Hải Dương, tỉnh Hải Dương", "Vũ Văn Cận", "Nguyễn Thị Gấm", "Dương Thị Nga",
	 "Đã kết hôn", "2021-03-12"},
	{"030189030233", "Nguyễn Thùy Linh", "1989-01-16", "Nữ", "000.23.31.H23", "Khu dân cư Tiền Trung",
	 "phường Tân Hưng, thành phố Hải Dương, tỉnh Hải Dương", "Nguyễn Văn Khiêm", "Bùi Thị Thoa", NULL, "Đã ly hôn",
	 "2021-06-04"},
	{"030085031344", "Phan Văn Tùng", "1985-11-23", "Nam", "000.20.31.H23", "Thôn Đồng Ngọ",
	 "xã Tiền Tiến, thành phố Hải Dương, tỉnh Hải Dương", "Phan Văn Bách", "Cao Thị Lý", NULL, "Chưa kết hôn",
	 "2021-09-29"},
	{"030177032455", "Dương Thị Nga", "1977-04-30", "Nữ", "000.24.31.H23", "Thôn Lai Cầu",
	 "xã Gia Xuyên, thành phố Hải Dương, tỉnh Hải Dương", "Dương Văn Chiến", "Hà Thị Thắng", "Vũ Văn Lực",
	 "Đã kết hôn", "2021-03-12"},
	{"030093033566", "Tô Văn Hiếu", "1993-12-01", "Nam", "000.25.31.H23", "Thôn Phúc Cống",
	 "xã Ngọc Sơn, thành phố Hải Dương, tỉnh Hải Dương", "Tô Văn Trung", "Nguyễn Thị Hiếu", NULL, "Chưa kết hôn",
	 "2022-02-14"},
};

static const struct nat_citizen *nat_citizen_find(const char *id)
{
	for (size_t i = 0; i < NELEM(nat_citizens); i++)
		if (strcmp(nat_citizens[i].id, id) == 0)
			return &nat_citizens[i];
	return NULL;
}

static bool nat_digits(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* 12 digits with a province code 001..096 (as tinhso's own check). */
static bool nat_cccd_valid(const char *s)
{
	if (!nat_digits(s, 12))
		return false;
	int prov = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return prov >= 1 && prov <= 96;
}

/* Counts the query, or answers 503 when the failure switch is on for it. */
static int nat_enter(struct req *r, enum nat_system s)
{
	pthread_mutex_lock(&nat_mu);
	bool fail = nat_fail[s] > 0;
	if (fail)
		nat_fail[s]--;
	else
		nat_served[s]++;
	pthread_mutex_unlock(&nat_mu);
	if (fail) {
		r->err.retry_after = 1;
		return err_set(&r->err, ERR_UNAVAILABLE, "the %s database is unavailable (simulated failure)",
			       nat_system_names[s]);
	}
	return 0;
}

static int nat_h_citizen(struct req *r)
{
	int rc = nat_enter(r, NAT_POPULATION);
	if (rc < 0)
		return rc;
	const char *id = req_param(r, "id");
	if (!nat_cccd_valid(id)) {
		err_field(&r->err, "id_number", "must be a 12-digit personal identity number (CCCD)");
		return err_fields_done(&r->err);
	}
	const struct nat_citizen *p = nat_citizen_find(id);
	if (!p)
		return err_set(&r->err, ERR_NOT_FOUND, "no citizen with identity number %s in the population database", id);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "id_number", p->id);
	jw_kstr(w, "full_name", p->name);
	jw_kstr(w, "birth_date", p->birth);
	jw_kstr(w, "gender", p->gender);
	jw_kstr(w, "ethnicity", "Kinh");
	jw_kstr(w, "religion", "Không");
	jw_kstr(w, "nationality", "Việt Nam");
	jw_kstr(w, "hometown", p->hometown);
	nat_address(w, "permanent_address", p->commune, p->detail);
	nat_address(w, "current_address", p->commune, p->detail);
	jw_kstr(w, "father_name", p->father);
	jw_kstr(w, "mother_name", p->mother);
	jw_kstr(w, "spouse_name", p->spouse);
	jw_kstr(w, "marital_status", p->marital);
	jw_key(w, "id_card");
	jw_obj(w);
	jw_kstr(w, "number", p->id);
	jw_kstr(w, "issued_on", p->issued);
	jw_kstr(w, "issued_by", "Cục Cảnh sát quản lý hành chính về trật tự xã hội");
	jw_obj_end(w);
	jw_kstr(w, "source", "Cơ sở dữ liệu quốc gia về dân cư");
	jw_obj_end(w);
	return 0;
}

/* ---- the business registry ---- */

struct nat_enterprise {
	const char *tax, *name, *name_en, *type, *status, *registered, *commune, *detail, *rep, *rep_id, *rep_title;
	int64_t capital;
	const char *vsic, *vsic_name, *phone, *dissolved;
};

static const struct nat_enterprise nat_enterprises[] = {
	{"0801234567", "Công ty TNHH Thương mại và Dịch vụ Hoàng Long", "Hoang Long Trading and Services Co., Ltd",
	 "Công ty trách nhiệm hữu hạn một thành viên", "Đang hoạt động", "2012-05-14", "000.04.31.H23",
	 "Số 86 đường Nguyễn Lương Bằng", "Trần Văn Bảo", "030090009999", "Giám đốc", 5000000000, "4669",
	 "Bán buôn chuyên doanh khác chưa được phân vào đâu", "02203851234", NULL},
	{"0801234567-001", "Chi nhánh Công ty TNHH Thương mại và Dịch vụ Hoàng Long tại Chí Linh", NULL,
	 "Chi nhánh", "Đang hoạt động", "2016-09-01", "000.02.32.H23", "Số 20 đường Nguyễn Trãi 2", "Lương Văn Tuấn",
	 "030087012405", "Giám đốc chi nhánh", 0, "4669", "Bán buôn chuyên doanh khác chưa được phân vào đâu",
	 "02203588123", NULL},
	{"0800012345", "Công ty Cổ phần Bánh đậu xanh Rồng Vàng Thành Đông", "Thanh Dong Golden Dragon Mung Bean Cake JSC",
	 "Công ty cổ phần", "Đang hoạt động", "2004-02-20", "000.06.31.H23", "Số 192 phố Nguyễn Trãi",
	 "Nguyễn Văn Hải", "030061017900", "Chủ tịch Hội đồng quản trị", 12000000000, "1079",
	 "Sản xuất thực phẩm khác chưa được phân vào đâu", "02203852468", NULL},
	{"0800456789", "Doanh nghiệp tư nhân Vận tải Minh Quân", NULL, "Doanh nghiệp tư nhân", "Đang hoạt động",
	 "2019-11-05", "000.01.34.H23", "Phố Kẻ Sặt", "Cao Minh Quân", "030098015708", "Chủ doanh nghiệp", 1500000000,
	 "4933", "Vận tải hàng hóa bằng đường bộ", "0968123456", NULL},
	{"0801357913", "Công ty TNHH Gốm sứ Cậy Bình Giang", "Cay Binh Giang Ceramics Co., Ltd",
	 "Công ty trách nhiệm hữu hạn hai thành viên trở lên", "Đang hoạt động", "2015-03-18", "000.02.34.H23",
	 "Thôn Ngọc Cục", "Tạ Thị Yến", "030199016809", "Giám đốc", 3000000000, "2393",
	 "Sản xuất sản phẩm gốm sứ khác", "0977345678", NULL},
	{"0802468024", "Công ty Cổ phần Nông sản Thanh Hà", "Thanh Ha Agricultural Products JSC", "Công ty cổ phần",
	 "Tạm ngừng kinh doanh", "2010-06-30", "000.17.31.H23", "Thôn Đông", "Bùi Văn Thịnh", "030052008123",
	 "Tổng giám đốc", 8000000000, "4620", "Bán buôn nông, lâm sản nguyên liệu (trừ gỗ, tre, nứa) và động vật sống",
	 "02203712345", NULL},
	{"0800999888", "Công ty TNHH Xây dựng Phúc Thịnh", NULL, "Công ty trách nhiệm hữu hạn một thành viên",
	 "Đã giải thể", "2008-08-08", "000.19.31.H23", "Thôn Văn Xá", "Hà Văn Sơn", "030074025788", "Giám đốc",
	 2000000000, "4100", "Xây dựng nhà các loại", NULL, "2021-12-31"},
	{"0801212121", "Công ty TNHH Phần mềm Sao Đỏ", "Sao Do Software Co., Ltd",
	 "Công ty trách nhiệm hữu hạn một thành viên", "Đang hoạt động", "2018-04-02", "000.11.31.H23",
	 "Tầng 5, số 2 phố Ngô Quyền", "Lê Hoàng Nam", "030094019122", "Giám đốc", 1000000000, "6201",
	 "Lập trình máy vi tính", "0904567890", NULL},
	{"0800777666", "Công ty Cổ phần Dược phẩm Hải Dương Xanh", "Hai Duong Green Pharmaceutical JSC",
	 "Công ty cổ phần", "Đang hoạt động", "2011-10-10", "000.12.31.H23", "Số 150 đường Lê Thanh Nghị",
	 "Ngô Thị Mai Phương", "030188009012", "Tổng giám đốc", 20000000000, "2100",
	 "Sản xuất thuốc, hoá dược và dược liệu", "02203898989", NULL},
	{"0801888999", "Công ty TNHH Cơ khí chính xác Nam Sách", "Nam Sach Precision Engineering Co., Ltd",
	 "Công ty trách nhiệm hữu hạn hai thành viên trở lên", "Đang hoạt động", "2017-07-07", "000.16.31.H23",
	 "Khu dân cư Quán Lào", "Đoàn Văn Khải", "030080023566", "Giám đốc", 6500000000, "2592",
	 "Gia công cơ khí; xử lý và tráng phủ kim loại", "0912888999", NULL},
	{"0801456123", "Công ty TNHH Du lịch Côn Sơn - Kiếp Bạc", "Con Son - Kiep Bac Tourism Co., Ltd",
	 "Công ty trách nhiệm hữu hạn một thành viên", "Đang hoạt động", "2020-01-15", "000.01.32.H23",
	 "Khu dân cư Phao Sơn", "Mạc Thị Ngọc", "030192011304", "Giám đốc", 800000000, "7912",
	 "Điều hành tua du lịch", "0936111222", NULL},
	{"0801654321", "Hợp tác xã Dịch vụ nông nghiệp Ngọc Sơn", NULL, "Hợp tác xã", "Đang hoạt động", "2016-05-25",
	 "000.25.31.H23", "Thôn Phúc Cống", "Tô Văn Hiếu", "030093033566", "Giám đốc hợp tác xã", 500000000, "0161",
	 "Hoạt động dịch vụ trồng trọt", "0983654321", NULL},
};

static bool nat_tax_code_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 10)
		return nat_digits(s, 10);
	if (n == 14 && s[10] == '-') {
		char head[11];
		memcpy(head, s, 10);
		head[10] = 0;
		return nat_digits(head, 10) && nat_digits(s + 11, 3);
	}
	return false;
}

static int nat_h_enterprise(struct req *r)
{
	int rc = nat_enter(r, NAT_BUSINESS);
	if (rc < 0)
		return rc;
	const char *tax = req_param(r, "tax_code");
	if (!nat_tax_code_valid(tax)) {
		err_field(&r->err, "tax_code", "must be a 10-digit tax code, or 10 digits '-' 3 digits for a branch");
		return err_fields_done(&r->err);
	}
	const struct nat_enterprise *p = NULL;
	for (size_t i = 0; i < NELEM(nat_enterprises) && !p; i++)
		if (strcmp(nat_enterprises[i].tax, tax) == 0)
			p = &nat_enterprises[i];
	if (!p)
		return err_set(&r->err, ERR_NOT_FOUND, "no enterprise with tax code %s in the business registry", tax);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "tax_code", p->tax);
	jw_kstr(w, "name", p->name);
	jw_kstr(w, "name_en", p->name_en);
	jw_kstr(w, "type", p->type);
	jw_kstr(w, "status", p->status);
	jw_kstr(w, "registered_on", p->registered);
	jw_kstr(w, "dissolved_on", p->dissolved);
	nat_address(w, "head_office", p->commune, p->detail);
	jw_kstr(w, "phone", p->phone);
	jw_key(w, "legal_representative");
	jw_obj(w);
	jw_kstr(w, "full_name", p->rep);
	jw_kstr(w, "id_number", p->rep_id);
	jw_kstr(w, "title", p->rep_title);
	jw_obj_end(w);
	if (p->capital)
		jw_kint(w, "charter_capital", p->capital);
	jw_key(w, "main_business");
	jw_obj(w);
	jw_kstr(w, "code", p->vsic);
	jw_kstr(w, "name", p->vsic_name);
	jw_obj_end(w);
	if (strchr(p->tax, '-')) {
		char parent[11];
		memcpy(parent, p->tax, 10);
		parent[10] = 0;
		jw_kstr(w, "parent_tax_code", parent);
	}
	jw_kstr(w, "source", "Hệ thống thông tin quốc gia về đăng ký doanh nghiệp");
	jw_obj_end(w);
	return 0;
}

/* ---- the land database ---- */

struct nat_land_use {
	const char *code, *name;
	double area;
	const char *term;
};

struct nat_parcel {
	const char *commune;
	int sheet, parcel;
	double area;
	const char *detail;
	struct nat_land_use uses[2];
	const char *origin;
	const char *owner1, *owner1_id, *owner2, *owner2_id;
	const char *cert_serial, *cert_entry, *cert_date, *encumbrance;
};

static const struct nat_parcel nat_parcels[] = {
	{"000.08.31.H23", 12, 345, 85.5, "Số 5 phố Trần Hưng Đạo", {{"ODT", "Đất ở tại đô thị", 85.5, "Lâu dài"}},
	 "Nhà nước giao đất có thu tiền sử dụng đất", "Nguyễn Văn An", "030095001234", NULL, NULL, "CS 01234",
	 "CS01234", "2018-06-20", NULL},
	{"000.05.31.H23", 8, 112, 72.0, "Số 2 phố Quang Trung", {{"ODT", "Đất ở tại đô thị", 72.0, "Lâu dài"}},
	 "Nhận chuyển nhượng đất được công nhận quyền sử dụng như giao đất có thu tiền sử dụng đất", "Trần Văn Bảo",
	 "030090009999", "Lê Thị Thu", "030190004321", "DĐ 456789", "CS05678", "2019-09-12",
	 "Đang thế chấp tại Ngân hàng TMCP Công thương Việt Nam - Chi nhánh Hải Dương"},
	{"000.17.31.H23", 5, 1021, 360.0, "Thôn Đông",
	 {{"ONT", "Đất ở tại nông thôn", 200.0, "Lâu dài"}, {"CLN", "Đất trồng cây lâu năm", 160.0, "Đến ngày 15/10/2043"}},
	 "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất", "Bùi Văn Thịnh", "030052008123",
	 "Nguyễn Thị Gái", NULL, "BX 112233", "CH00871", "2015-03-30", NULL},
	{"000.01.31.H23", 3, 87, 64.2, "Số 18 đường Bạch Đằng", {{"ODT", "Đất ở tại đô thị", 64.2, "Lâu dài"}},
	 "Nhận tặng cho đất được công nhận quyền sử dụng như giao đất có thu tiền sử dụng đất", "Phạm Thị Hoa",
	 "030185002468", NULL, NULL, "CĐ 998877", "CS11223", "2020-11-05", NULL},
	{"000.02.31.H23", 15, 230, 96.0, "Số 45 phố Chi Lăng", {{"ODT", "Đất ở tại đô thị", 96.0, "Lâu dài"}},
	 "Nhà nước giao đất có thu tiền sử dụng đất", "Vũ Đức Minh", "030078003579", "Đinh Thị Hạnh", NULL, "CS 22345",
	 "CS02234", "2017-04-17", NULL},
	{"000.22.31.H23", 9, 1544, 1080.0, "Cánh đồng Thanh Xá",
	 {{"LUC", "Đất chuyên trồng lúa nước", 1080.0, "Đến ngày 15/10/2043"}},
	 "Nhà nước giao đất không thu tiền sử dụng đất", "Vũ Văn Lực", "030066029122", "Dương Thị Nga", "030177032455",
	 "BĐ 334455", "H01544", "2014-12-01", NULL},
	{"000.01.32.H23", 21, 402, 150.0, "Khu dân cư Phao Sơn", {{"ODT", "Đất ở tại đô thị", 150.0, "Lâu dài"}},
	 "Nhà nước giao đất có thu tiền sử dụng đất", "Mạc Thị Ngọc", "030192011304", NULL, NULL, "CU 556677",
	 "CS07789", "2022-05-23", NULL},
	{"000.01.34.H23", 7, 58, 120.0, "Phố Kẻ Sặt",
	 {{"ODT", "Đất ở tại đô thị", 100.0, "Lâu dài"}, {"CLN", "Đất trồng cây lâu năm", 20.0, "Lâu dài"}},
	 "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất", "Cao Minh Tiến", NULL, NULL, NULL,
	 "BK 778899", "CH00458", "2012-08-14", NULL},
	{"000.19.31.H23", 4, 675, 250.0, "Thôn Văn Xá", {{"ONT", "Đất ở tại nông thôn", 250.0, "Lâu dài"}},
	 "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất", "Hà Văn Sơn", "030074025788", NULL, NULL,
	 "CN 101112", "CH01675", "2016-02-19", "Đang có tranh chấp, Tòa án nhân dân thành phố Hải Dương đang thụ lý"},
	{"000.16.31.H23", 11, 309, 2400.0, "Khu dân cư Quán Lào",
	 {{"SKC", "Đất cơ sở sản xuất phi nông nghiệp", 2400.0, "Đến ngày 30/06/2067"}},
	 "Nhà nước cho thuê đất trả tiền thuê đất hằng năm", "Công ty TNHH Cơ khí chính xác Nam Sách", NULL, NULL, NULL,
	 "CT 131415", "CT00309", "2018-01-09", NULL},
	{"000.12.31.H23", 6, 198, 110.0, "Số 112 đường Lê Thanh Nghị", {{"ODT", "Đất ở tại đô thị", 110.0, "Lâu dài"}},
	 "Nhận chuyển nhượng đất được công nhận quyền sử dụng như giao đất có thu tiền sử dụng đất",
	 "Ngô Thị Mai Phương", "030188009012", "Đặng Quốc Huy", "030083010203", "DE 161718", "CS09198", "2023-07-04",
	 NULL},
	{"000.25.31.H23", 2, 1210, 540.0, "Thôn Phúc Cống",
	 {{"ONT", "Đất ở tại nông thôn", 300.0, "Lâu dài"}, {"CLN", "Đất trồng cây lâu năm", 240.0, "Đến ngày 15/10/2043"}},
	 "Thừa kế quyền sử dụng đất", "Tô Văn Hiếu", "030093033566", NULL, NULL, "DG 192021", "CH02210", "2024-03-11",
	 NULL},
};

static bool nat_agency_code_valid(const char *s)
{
	/* 000.00.00.H23: digits, dots, a letter and digits; bounded */
	size_t n = s ? strlen(s) : 0;
	if (n < 5 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '.'))
			return false;
	return true;
}

static bool nat_small_int(const char *s, int max, int *out)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 5)
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > max)
		return false;
	*out = v;
	return true;
}

/* Areas with one decimal, as the land records write them (not %.17g noise). */
static void nat_area(struct jw *w, const char *key, double v)
{
	char num[32];
	int n = snprintf(num, sizeof num, "%.1f", v);
	jw_key(w, key);
	jw_raw(w, num, (size_t)n);
}

static void nat_owner(struct jw *w, const char *name, const char *id)
{
	jw_obj(w);
	jw_kstr(w, "full_name", name);
	jw_kstr(w, "id_number", id);
	jw_obj_end(w);
}

static int nat_h_parcel(struct req *r)
{
	int rc = nat_enter(r, NAT_LAND);
	if (rc < 0)
		return rc;
	const char *commune = req_param(r, "commune");
	int sheet = 0, number = 0;
	if (!nat_agency_code_valid(commune))
		err_field(&r->err, "commune", "must be the commune's agency code, e.g. 000.08.31.H23");
	if (!nat_small_int(req_param(r, "sheet"), 999, &sheet))
		err_field(&r->err, "sheet", "must be a map sheet number from 1 to 999");
	if (!nat_small_int(req_param(r, "parcel"), 99999, &number))
		err_field(&r->err, "parcel", "must be a parcel number from 1 to 99999");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	const struct nat_parcel *p = NULL;
	for (size_t i = 0; i < NELEM(nat_parcels) && !p; i++)
		if (strcmp(nat_parcels[i].commune, commune) == 0 && nat_parcels[i].sheet == sheet &&
		    nat_parcels[i].parcel == number)
			p = &nat_parcels[i];
	if (!p)
		return err_set(&r->err, ERR_NOT_FOUND, "no parcel %d on map sheet %d of commune %s in the land database",
			       number, sheet, commune);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "commune_code", p->commune);
	jw_kint(w, "sheet", p->sheet);
	jw_kint(w, "parcel", p->parcel);
	nat_area(w, "area_m2", p->area);
	nat_address(w, "address", p->commune, p->detail);
	jw_key(w, "land_use");
	jw_arr(w);
	for (int i = 0; i < 2 && p->uses[i].code; i++) {
		jw_obj(w);
		jw_kstr(w, "code", p->uses[i].code);
		jw_kstr(w, "name", p->uses[i].name);
		nat_area(w, "area_m2", p->uses[i].area);
		jw_kstr(w, "term", p->uses[i].term);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kstr(w, "origin", p->origin);
	jw_key(w, "holders");
	jw_arr(w);
	nat_owner(w, p->owner1, p->owner1_id);
	if (p->owner2)
		nat_owner(w, p->owner2, p->owner2_id);
	jw_arr_end(w);
	jw_key(w, "certificate");
	jw_obj(w);
	jw_kstr(w, "serial", p->cert_serial);
	jw_kstr(w, "entry_no", p->cert_entry);
	jw_kstr(w, "issued_on", p->cert_date);
	jw_kstr(w, "issued_by", "Sở Tài nguyên và Môi trường tỉnh Hải Dương");
	jw_obj_end(w);
	jw_kstr(w, "encumbrance", p->encumbrance ? p->encumbrance : "Không");
	jw_kstr(w, "source", "Cơ sở dữ liệu quốc gia về đất đai");
	jw_obj_end(w);
	return 0;
}

/* ---- social insurance ----
 * A social insurance number has 10 digits, the first two the province's
 * social insurance code (30 Hải Dương); a health insurance card number is two
 * letters of the beneficiary group, one digit of the benefit level, the
 * province code and the 10-digit insurance number. */

struct nat_book {
	const char *number, *id, *status, *employer, *employer_tax, *since;
	int months;
	const char *card_prefix, *hospital, *card_from, *card_to;
};

static const struct nat_book nat_books[] = {
	{"3012345678", "030095001234", "Đang tham gia", "Công ty TNHH Phần mềm Sao Đỏ", "0801212121", "2019-07", 66,
	 "DN4", "Bệnh viện Đa khoa tỉnh Hải Dương", "2025-01-01", "2025-12-31"},
	{"3009123456", "030090009999", "Đang tham gia", "Công ty TNHH Thương mại và Dịch vụ Hoàng Long", "0801234567",
	 "2012-06", 150, "DN4", "Bệnh viện Đa khoa thành phố Hải Dương", "2025-01-01", "2025-12-31"},
	{"3005208123", "030052008123", "Đang hưởng lương hưu", NULL, NULL, "1974-03", 420, "HT3",
	 "Bệnh viện Đa khoa tỉnh Hải Dương", "2025-01-01", "2025-12-31"},
	{"3018800901", "030188009012", "Đang tham gia", "Công ty Cổ phần Dược phẩm Hải Dương Xanh", "0800777666",
	 "2011-11", 163, "DN4", "Bệnh viện Y học cổ truyền tỉnh Hải Dương", "2025-01-01", "2025-12-31"},
	{"3019401912", "030094019122", "Đang tham gia", "Công ty TNHH Phần mềm Sao Đỏ", "0801212121", "2018-04", 81,
	 "DN4", "Bệnh viện Đa khoa thành phố Hải Dương", "2025-01-01", "2025-12-31"},
	{"3017401425", "030074025788", "Dừng đóng", "Công ty TNHH Xây dựng Phúc Thịnh", "0800999888", "2008-09", 159,
	 "GD4", "Trạm y tế xã Quyết Thắng", "2025-01-01", "2025-12-31"},
	{"3016501789", "030165007890", "Đang hưởng lương hưu", NULL, NULL, "1985-09", 360, "HT3",
	 "Bệnh viện Đa khoa tỉnh Hải Dương", "2025-01-01", "2025-12-31"},
	{"3009802570", "030098015708", "Đang tham gia", "Doanh nghiệp tư nhân Vận tải Minh Quân", "0800456789",
	 "2019-12", 60, "DN4", "Trung tâm Y tế huyện Bình Giang", "2025-01-01", "2025-12-31"},
	{"3019201130", "030192011304", "Đang tham gia", "Công ty TNHH Du lịch Côn Sơn - Kiếp Bạc", "0801456123",
	 "2020-02", 58, "DN4", "Trung tâm Y tế thành phố Chí Linh", "2025-01-01", "2025-12-31"},
	{"3030600224", "030306022455", "Tham gia bảo hiểm y tế học sinh", NULL, NULL, "2021-09", 0, "HS4",
	 "Bệnh viện Đa khoa thành phố Hải Dương", "2024-10-01", "2025-09-30"},
};

static int nat_h_insurance(struct req *r)
{
	int rc = nat_enter(r, NAT_INSURANCE);
	if (rc < 0)
		return rc;
	const char *key = req_param(r, "number");
	bool by_book = nat_digits(key, 10), by_id = nat_cccd_valid(key);
	if (!by_book && !by_id) {
		err_field(&r->err, "number",
			  "must be a 10-digit social insurance number or the holder's 12-digit identity number");
		return err_fields_done(&r->err);
	}
	const struct nat_book *b = NULL;
	for (size_t i = 0; i < NELEM(nat_books) && !b; i++)
		if (strcmp(by_book ? nat_books[i].number : nat_books[i].id, key) == 0)
			b = &nat_books[i];
	if (!b)
		return err_set(&r->err, ERR_NOT_FOUND, "no social insurance book for %s", key);
	const struct nat_citizen *p = nat_citizen_find(b->id);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "number", b->number);
	jw_kstr(w, "id_number", b->id);
	jw_kstr(w, "full_name", p ? p->name : NULL);
	jw_kstr(w, "birth_date", p ? p->birth : NULL);
	jw_kstr(w, "status", b->status);
	jw_kstr(w, "participating_since", b->since);
	jw_kint(w, "contribution_months", b->months);
	if (b->employer) {
		jw_key(w, "employer");
		jw_obj(w);
		jw_kstr(w, "name", b->employer);
		jw_kstr(w, "tax_code", b->employer_tax);
		jw_obj_end(w);
	}
	char card[32];
	snprintf(card, sizeof card, "%s30%s", b->card_prefix, b->number);
	jw_key(w, "health_card");
	jw_obj(w);
	jw_kstr(w, "number", card);
	jw_kstr(w, "valid_from", b->card_from);
	jw_kstr(w, "valid_to", b->card_to);
	jw_kstr(w, "registered_facility", b->hospital);
	jw_obj_end(w);
	jw_kstr(w, "source", "Cơ sở dữ liệu quốc gia về bảo hiểm");
	jw_obj_end(w);
	return 0;
}

/* ---- judicial records ---- */

struct nat_conviction {
	const char *id, *court, *judgment, *date, *offence, *sentence;
	bool expunged;
};

static const struct nat_conviction nat_convictions[] = {
	{"030091027900", "Tòa án nhân dân thành phố Hải Dương", "45/2015/HS-ST", "2015-08-20",
	 "Trộm cắp tài sản (Điều 138 Bộ luật Hình sự năm 1999)", "12 tháng tù cho hưởng án treo", true},
	{"030074025788", "Tòa án nhân dân thành phố Hải Dương", "112/2022/HS-ST", "2022-10-14",
	 "Vi phạm quy định về tham gia giao thông đường bộ (Điều 260 Bộ luật Hình sự năm 2015)",
	 "18 tháng cải tạo không giam giữ", false},
};

static int nat_h_judicial(struct req *r)
{
	int rc = nat_enter(r, NAT_JUDICIAL);
	if (rc < 0)
		return rc;
	const char *id = req_param(r, "id");
	if (!nat_cccd_valid(id)) {
		err_field(&r->err, "id_number", "must be a 12-digit personal identity number (CCCD)");
		return err_fields_done(&r->err);
	}
	const struct nat_citizen *p = nat_citizen_find(id);
	if (!p)
		return err_set(&r->err, ERR_NOT_FOUND, "no citizen with identity number %s is known to the judicial records",
			       id);
	bool open = false;
	for (size_t i = 0; i < NELEM(nat_convictions); i++)
		if (strcmp(nat_convictions[i].id, id) == 0 && !nat_convictions[i].expunged)
			open = true;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "id_number", p->id);
	jw_kstr(w, "full_name", p->name);
	jw_kstr(w, "birth_date", p->birth);
	jw_kstr(w, "status", open ? "has_record" : "no_record");
	jw_kstr(w, "status_vi", open ? "Có án tích" : "Không có án tích");
	jw_key(w, "convictions");
	jw_arr(w);
	for (size_t i = 0; i < NELEM(nat_convictions); i++) {
		const struct nat_conviction *k = &nat_convictions[i];
		if (strcmp(k->id, id) != 0)
			continue;
		jw_obj(w);
		jw_kstr(w, "court", k->court);
		jw_kstr(w, "judgment_no", k->judgment);
		jw_kstr(w, "judgment_date", k->date);
		jw_kstr(w, "offence", k->offence);
		jw_kstr(w, "sentence", k->sentence);
		jw_kbool(w, "expunged", k->expunged);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_kstr(w, "management_ban", "Không bị cấm đảm nhiệm chức vụ, thành lập, quản lý doanh nghiệp, hợp tác xã");
	jw_kstr(w, "source", "Cơ sở dữ liệu lý lịch tư pháp");
	jw_obj_end(w);
	return 0;
}

/* ---- test switches ---- */

static int nat_h_fail(struct req *r)
{
	json_t *body;
	int rc = req_json(r, &body);
	if (rc < 0)
		return rc;
	const char *system = NULL;
	int64_t count = 0;
	const struct jfield f[] = {
		{"system", JF_STR, true, 16, &system, NULL},
		{"count", JF_INT, true, 0, &count, NULL},
	};
	if ((rc = json_decode(body, f, NELEM(f), r->a, &r->err)) < 0)
		return rc;
	int which = -1;
	for (int i = 0; i < NAT_NSYSTEMS; i++)
		if (strcmp(system, nat_system_names[i]) == 0)
			which = i;
	if (which < 0 && strcmp(system, "all") != 0)
		err_field(&r->err, "system", "must be population, business, land, insurance, judicial or all");
	if (count < 0 || count > 1000000)
		err_field(&r->err, "count", "must be 0 to 1000000");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	pthread_mutex_lock(&nat_mu);
	for (int i = 0; i < NAT_NSYSTEMS; i++)
		if (which < 0 || i == which)
			nat_fail[i] = count;
	pthread_mutex_unlock(&nat_mu);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "system", system);
	jw_kint(w, "fail_next", count);
	jw_obj_end(w);
	return 0;
}

static int nat_h_stats(struct req *r)
{
	int64_t served[NAT_NSYSTEMS];
	pthread_mutex_lock(&nat_mu);
	memcpy(served, nat_served, sizeof served);
	pthread_mutex_unlock(&nat_mu);
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	for (int i = 0; i < NAT_NSYSTEMS; i++)
		jw_kint(w, nat_system_names[i], served[i]);
	jw_obj_end(w);
	return 0;
}

const struct route sim_national_routes[] = {
	{"GET", "/population/citizens/{id}", nat_h_citizen, 0},
	{"GET", "/business/enterprises/{tax_code}", nat_h_enterprise, 0},
	{"GET", "/land/parcels/{commune}/{sheet}/{parcel}", nat_h_parcel, 0},
	{"GET", "/insurance/books/{number}", nat_h_insurance, 0},
	{"GET", "/judicial/records/{id}", nat_h_judicial, 0},
	{"POST", "/national/fail", nat_h_fail, 0},
	{"GET", "/national/stats", nat_h_stats, 0},
};
const size_t sim_national_nroutes = NELEM(sim_national_routes);
