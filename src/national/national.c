/* national.c: the adapters to the national systems (see national.h): where
 * each lives, one HTTP call over libcurl with timeouts and a size bound, and
 * the lookups that turn the systems' JSON into structs. */
#include "national/national.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "exchange/exchange.h"
#include "identity/identity.h"

static const char *const names[NATIONAL_COUNT] = {"population", "business", "land", "insurance", "judicial", "dvcqg"};

static const char *const titles[NATIONAL_COUNT] = {
	"Cơ sở dữ liệu quốc gia về dân cư",
	"Hệ thống thông tin quốc gia về đăng ký doanh nghiệp",
	"Cơ sở dữ liệu quốc gia về đất đai",
	"Cơ sở dữ liệu quốc gia về bảo hiểm",
	"Cơ sở dữ liệu lý lịch tư pháp",
	"Cổng Dịch vụ công quốc gia",
};

const struct national_service national_services[NATIONAL_COUNT] = {
	{"BCA", "Bộ Công an", "CSDLQGDC", "Cơ sở dữ liệu quốc gia về dân cư", "population",
	 "Tra cứu thông tin công dân theo số định danh cá nhân (GET citizens/{so_dinh_danh})", "GET", true},
	{"BKHDT", "Bộ Kế hoạch và Đầu tư", "DKKD", "Hệ thống thông tin quốc gia về đăng ký doanh nghiệp", "business",
	 "Tra cứu thông tin doanh nghiệp theo mã số thuế (GET enterprises/{ma_so_thue})", "GET", false},
	{"BTNMT", "Bộ Tài nguyên và Môi trường", "CSDLDD", "Cơ sở dữ liệu quốc gia về đất đai", "land",
	 "Tra cứu thửa đất theo xã, tờ bản đồ, số thửa (GET parcels/{xa}/{to}/{thua})", "GET", true},
	{"BHXHVN", "Bảo hiểm xã hội Việt Nam", "CSDLBH", "Cơ sở dữ liệu quốc gia về bảo hiểm", "insurance",
	 "Tra cứu sổ bảo hiểm xã hội, thẻ bảo hiểm y tế (GET books/{ma_so_bhxh hoặc so_dinh_danh})", "GET", true},
	{"BTP", "Bộ Tư pháp", "LLTP", "Cơ sở dữ liệu lý lịch tư pháp", "judicial",
	 "Tra cứu tình trạng án tích (GET records/{so_dinh_danh})", "GET", true},
	{"VPCP", "Văn phòng Chính phủ", "DVCQG", "Cổng Dịch vụ công quốc gia", "dossier-sync",
	 "Đồng bộ hồ sơ và tiến độ xử lý (POST api/dongbo: DongBoHoSoMC, CapNhatTienDoHoSoMC)", "POST", true},
};

const char *national_system_name(enum national_system s)
{
	return (unsigned)s < NATIONAL_COUNT ? names[s] : "unknown";
}

const char *national_system_title(enum national_system s)
{
	return (unsigned)s < NATIONAL_COUNT ? titles[s] : "?";
}

int national_system_parse(const char *name)
{
	for (int i = 0; name && i < NATIONAL_COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static const char *setting(const struct config *cfg, enum national_system s)
{
	switch (s) {
	case NATIONAL_POPULATION: return cfg->population_url;
	case NATIONAL_BUSINESS: return cfg->business_url;
	case NATIONAL_LAND: return cfg->land_url;
	case NATIONAL_INSURANCE: return cfg->insurance_url;
	case NATIONAL_JUDICIAL: return cfg->judicial_url;
	case NATIONAL_DVCQG: return cfg->dvcqg_url;
	default: return NULL;
	}
}

static const char *setting_name(enum national_system s)
{
	static const char *const n[NATIONAL_COUNT] = {"population_url", "business_url", "land_url",
						      "insurance_url",	"judicial_url", "dvcqg_url"};
	return (unsigned)s < NATIONAL_COUNT ? n[s] : "?";
}

/* s without its trailing '/'s, in a */
static char *trim_slash(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		n--;
	return arena_strndup(a, s, n);
}

char *national_base(const struct config *cfg, enum national_system s, struct arena *a)
{
	if ((unsigned)s >= NATIONAL_COUNT)
		return NULL;
	const char *own = setting(cfg, s);
	if (own && own[0])
		return trim_slash(a, own);
	if (cfg->sim_url && cfg->sim_url[0])
		return arena_printf(a, "%s/%s", trim_slash(a, cfg->sim_url), names[s]);
	return NULL;
}

/* ---- one HTTP call ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
	struct buf b;
	bool over;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (s->b.len + n > NATIONAL_MAX_RESPONSE) {
		s->over = true;
		return 0;
	}
	buf_append(&s->b, p, n);
	return n;
}

static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const int *cancel = arg;
	return cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static int call_direct(const struct ctx *c, enum national_system s, const char *base,
		       const struct national_request *rq, struct national_response *out, struct err *e)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return err_set(e, ERR_INTERNAL, "libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
	if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
		return err_set(e, ERR_UNAVAILABLE, "%s: '%s' is not an http(s) URL", setting_name(s), base);
	const struct config *cfg = c->app->cfg;
	long timeout = (long)cfg->national_timeout_ms;
	long connect = timeout < 3000 ? timeout : 3000;
	char *url = arena_printf(c->a, "%s/%s", base, rq->path ? rq->path : "");
	CURL *h = curl_easy_init();
	if (!h)
		return err_set(e, ERR_INTERNAL, "libcurl: cannot make a handle");
	struct sink sk = {BUF_INIT, false};
	struct curl_slist *hs = NULL;
	hs = curl_slist_append(hs, "Accept: application/json");
	hs = curl_slist_append(hs, "Expect:");
	bool post = rq->method && strcmp(rq->method, "GET") != 0;
	if (post) {
		hs = curl_slist_append(hs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(rq->body ? rq->body_len : 0));
	}
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sk);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "tinhso/" TINHSO_VERSION);
	if (rq->cancel) {
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)rq->cancel);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
	int64_t t0 = time_mono_us();
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	out->duration_us = time_mono_us() - t0;
	int rc = 0;
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		rc = err_set(e, ERR_INTERNAL, "the call to the %s was cancelled", titles[s]);
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		rc = err_set(e, ERR_GATEWAY_TIMEOUT, "the %s (%s) did not answer within %ld ms", names[s], titles[s],
			     timeout);
	else if (cc == CURLE_WRITE_ERROR && sk.over)
		rc = err_set(e, ERR_BAD_GATEWAY, "the %s (%s) answered more than %d bytes", names[s], titles[s],
			     NATIONAL_MAX_RESPONSE);
	else if (cc != CURLE_OK)
		rc = err_set(e, ERR_BAD_GATEWAY, "cannot reach the %s (%s) at %s: %s", names[s], titles[s], base,
			     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else {
		out->status = (int)status;
		out->body = arena_strndup(c->a, buf_cstr(&sk.b), sk.b.len);
		out->body_len = sk.b.len;
	}
	buf_free(&sk.b);
	return rc;
}

/* Through the LGSP: the same request as an in-process exchange_call, so the
 * message log (and, with a subject, the personal-data tracker) records it. */
static int call_gateway(const struct ctx *c, enum national_system s, const struct national_request *rq,
			struct national_response *out, struct err *e)
{
	const struct national_service *sv = &national_services[s];
	struct exchange_call call = {
		.client = c->app->cfg->national_client,
		.service = arena_printf(c->a, "%s/%s/%s", sv->member, sv->subsystem, sv->service),
		.method = rq->method ? rq->method : "GET",
		.path = rq->path,
		.body = rq->body,
		.body_len = rq->body ? rq->body_len : 0,
		.purpose = rq->purpose,
		.subject = rq->subject,
	};
	struct exchange_result res;
	struct err ge = {0};
	int rc = exchange_call(c, &call, &res, &ge);
	out->duration_us = res.duration_us;
	if (res.message_id[0])
		out->message_id = arena_strdup(c->a, res.message_id);
	if (rc == 0) {
		out->status = res.status;
		out->body = res.body ? res.body : arena_strdup(c->a, "");
		out->body_len = res.body_len;
		return 0;
	}
	/* the backend's own trouble keeps its code; the platform's refusals are a bad gateway for us */
	int code = rc == ERR_GATEWAY_TIMEOUT || rc == ERR_UNAVAILABLE ? rc : ERR_BAD_GATEWAY;
	return err_set(e, code, "the %s (%s) through the LGSP as %s: %s%s%s", names[s], titles[s], call.client,
		       res.error_code[0] ? res.error_code : "", res.error_code[0] ? ": " : "", ge.msg);
}

int national_call(const struct ctx *c, enum national_system s, const struct national_request *rq,
		  struct national_response *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if ((unsigned)s >= NATIONAL_COUNT)
		return err_set(e, ERR_INTERNAL, "unknown national system %d", (int)s);
	char *base = national_base(c->app->cfg, s, c->a);
	if (!base)
		return err_set(e, ERR_UNAVAILABLE, "the %s (%s) is not configured: set %s (or sim_url for tinhso-sim)",
			       names[s], titles[s], setting_name(s));
	int rc = strcmp(c->app->cfg->national_via, "gateway") == 0 ? call_gateway(c, s, rq, out, e)
								    : call_direct(c, s, base, rq, out, e);
	if (rc < 0)
		log_warn("national: %s %s/%s failed: %s", rq->method ? rq->method : "GET", names[s],
			 rq->path ? rq->path : "", e->msg);
	else
		log_debug("national: %s %s/%s: HTTP %d in %lld us", rq->method ? rq->method : "GET", names[s],
			  rq->path ? rq->path : "", out->status, (long long)out->duration_us);
	return rc;
}

/* ---- lookups ---- */

/* Removes control characters from a peer's text before it goes into a message. */
static char *excerpt(struct arena *a, const char *s, size_t max)
{
	char *x = arena_strndup(a, s ? s : "", s ? (strlen(s) < max ? strlen(s) : max) : 0);
	for (char *p = x; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return x;
}

/* The system's error message when it answered in tinhso's error shape. */
static const char *peer_message(struct arena *a, const char *body)
{
	json_t *j = json_loads(body ? body : "", 0, NULL);
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	if (!m)
		m = json_string_value(json_object_get(j, "message"));
	char *out = excerpt(a, m ? m : body, 200);
	json_decref(j);
	return out;
}

/* GET path on system s; on 200 parses the answer into *out (the caller
 * json_decref()s it). what says what was looked up, for the 404 message. */
static int get_json(const struct ctx *c, enum national_system s, const char *path, const char *purpose,
		    const char *subject, const char *what, json_t **out, char **raw, char **message_id, struct err *e)
{
	*out = NULL;
	struct national_request rq = {.method = "GET", .path = path, .purpose = purpose, .subject = subject};
	struct national_response res;
	int rc = national_call(c, s, &rq, &res, e);
	if (rc < 0)
		return rc;
	*message_id = res.message_id;
	if (res.status == 404)
		return err_set(e, ERR_NOT_FOUND, "the %s has no %s", titles[s], what);
	if (res.status < 200 || res.status > 299)
		return err_set(e, ERR_BAD_GATEWAY, "the %s (%s) answered HTTP %d: %s", names[s], titles[s], res.status,
			       peer_message(c->a, res.body));
	struct err pe = {0};
	json_t *j = NULL;
	if (json_parse(res.body, res.body_len, &j, &pe) < 0 || !json_is_object(j)) {
		json_decref(j);
		return err_set(e, ERR_BAD_GATEWAY, "the %s (%s) answered something that is not a JSON object", names[s],
			       titles[s]);
	}
	*out = j;
	*raw = res.body;
	return 0;
}

static char *jstr(struct arena *a, json_t *o, const char *key)
{
	return arena_strdup(a, json_string_value(json_object_get(o, key)));
}

static void address_read(struct arena *a, json_t *o, struct national_address *out)
{
	out->detail = jstr(a, o, "detail");
	out->commune_code = jstr(a, o, "commune_code");
	out->commune = jstr(a, o, "commune");
	out->district = jstr(a, o, "district");
	out->province = jstr(a, o, "province");
	out->full = jstr(a, o, "full");
}

int national_citizen_by_id(const struct ctx *c, const char *id_number, const char *purpose,
			   struct national_citizen *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!id_number || !identity_cccd_valid(id_number)) {
		err_field(e, "id_number", "must be a 12-digit personal identity number (CCCD)");
		return err_fields_done(e);
	}
	json_t *j;
	char *raw = NULL;
	int rc = get_json(c, NATIONAL_POPULATION, arena_printf(c->a, "citizens/%s", id_number), purpose, id_number,
			  arena_printf(c->a, "citizen with identity number %s", id_number), &j, &raw, &out->message_id, e);
	if (rc < 0)
		return rc;
	struct arena *a = c->a;
	out->id_number = jstr(a, j, "id_number");
	out->full_name = jstr(a, j, "full_name");
	out->birth_date = jstr(a, j, "birth_date");
	out->gender = jstr(a, j, "gender");
	out->ethnicity = jstr(a, j, "ethnicity");
	out->religion = jstr(a, j, "religion");
	out->nationality = jstr(a, j, "nationality");
	out->hometown = jstr(a, j, "hometown");
	out->father_name = jstr(a, j, "father_name");
	out->mother_name = jstr(a, j, "mother_name");
	out->spouse_name = jstr(a, j, "spouse_name");
	out->marital_status = jstr(a, j, "marital_status");
	address_read(a, json_object_get(j, "permanent_address"), &out->permanent);
	address_read(a, json_object_get(j, "current_address"), &out->current);
	out->json = raw;
	bool ok = out->id_number && strcmp(out->id_number, id_number) == 0 && out->full_name &&
		  text_valid(out->full_name, 200);
	json_decref(j);
	if (!ok)
		return err_set(e, ERR_BAD_GATEWAY,
			       "the population database answered a record without the identity number %s or a name",
			       id_number);
	return 0;
}

bool national_tax_code_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 10)
		return text_digits(s, 10);
	if (n == 14 && s[10] == '-') {
		for (int i = 0; i < 14; i++)
			if (i != 10 && (s[i] < '0' || s[i] > '9'))
				return false;
		return true;
	}
	return false;
}

int national_enterprise_by_tax_code(const struct ctx *c, const char *tax_code, const char *purpose,
				    struct national_enterprise *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!national_tax_code_valid(tax_code)) {
		err_field(e, "tax_code", "must be a 10-digit tax code, or 10 digits '-' 3 digits for a branch");
		return err_fields_done(e);
	}
	json_t *j;
	char *raw = NULL;
	int rc = get_json(c, NATIONAL_BUSINESS, arena_printf(c->a, "enterprises/%s", tax_code), purpose, NULL,
			  arena_printf(c->a, "enterprise with tax code %s", tax_code), &j, &raw, &out->message_id, e);
	if (rc < 0)
		return rc;
	struct arena *a = c->a;
	out->tax_code = jstr(a, j, "tax_code");
	out->name = jstr(a, j, "name");
	out->type = jstr(a, j, "type");
	out->status = jstr(a, j, "status");
	out->registered_on = jstr(a, j, "registered_on");
	json_t *rep = json_object_get(j, "legal_representative");
	out->representative = jstr(a, rep, "full_name");
	out->representative_id = jstr(a, rep, "id_number");
	address_read(a, json_object_get(j, "head_office"), &out->head_office);
	out->json = raw;
	bool ok = out->tax_code && strcmp(out->tax_code, tax_code) == 0 && out->name;
	json_decref(j);
	if (!ok)
		return err_set(e, ERR_BAD_GATEWAY, "the business registry answered a record without the tax code %s",
			       tax_code);
	return 0;
}

static bool agency_code_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 5 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '.'))
			return false;
	return true;
}

int national_land_parcel(const struct ctx *c, const char *commune, int sheet, int parcel, const char *purpose,
			 struct national_record *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!agency_code_ok(commune))
		err_field(e, "commune", "must be the commune's agency code, e.g. 000.08.31.H23");
	if (sheet < 1 || sheet > 999)
		err_field(e, "sheet", "must be a map sheet number from 1 to 999");
	if (parcel < 1 || parcel > 99999)
		err_field(e, "parcel", "must be a parcel number from 1 to 99999");
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	json_t *j;
	out->key = arena_printf(c->a, "%s/%d/%d", commune, sheet, parcel);
	rc = get_json(c, NATIONAL_LAND, arena_printf(c->a, "parcels/%s", out->key), purpose, NULL,
		      arena_printf(c->a, "parcel %d on map sheet %d of commune %s", parcel, sheet, commune), &j,
		      &out->json, &out->message_id, e);
	if (rc < 0)
		return rc;
	struct buf holders = BUF_INIT;
	json_t *hs = json_object_get(j, "holders");
	for (size_t i = 0; i < json_array_size(hs); i++) {
		const char *n = json_string_value(json_object_get(json_array_get(hs, i), "full_name"));
		if (n)
			buf_printf(&holders, "%s%s", holders.len ? ", " : "", n);
	}
	json_t *area = json_object_get(j, "area_m2");
	out->summary = arena_printf(c->a, "Thửa đất số %d, tờ bản đồ số %d: %.1f m²; người sử dụng: %s", parcel, sheet,
				    json_is_number(area) ? json_number_value(area) : 0.0, buf_cstr(&holders));
	buf_free(&holders);
	json_decref(j);
	return 0;
}

int national_insurance(const struct ctx *c, const char *number, const char *purpose, struct national_record *out,
		       struct err *e)
{
	memset(out, 0, sizeof *out);
	bool by_id = number && identity_cccd_valid(number);
	if (!by_id && !text_digits(number ? number : "", 10)) {
		err_field(e, "number", "must be a 10-digit social insurance number or a 12-digit identity number");
		return err_fields_done(e);
	}
	json_t *j;
	out->key = arena_strdup(c->a, number);
	int rc = get_json(c, NATIONAL_INSURANCE, arena_printf(c->a, "books/%s", number), purpose, by_id ? number : NULL,
			  arena_printf(c->a, "social insurance book for %s", number), &j, &out->json, &out->message_id, e);
	if (rc < 0)
		return rc;
	const char *book = json_string_value(json_object_get(j, "number"));
	const char *status = json_string_value(json_object_get(j, "status"));
	const char *name = json_string_value(json_object_get(j, "full_name"));
	out->summary = arena_printf(c->a, "Sổ BHXH %s (%s): %s", book ? book : "?", name ? name : "?",
				    status ? status : "?");
	json_decref(j);
	return 0;
}

int national_judicial(const struct ctx *c, const char *id_number, const char *purpose, struct national_record *out,
		      struct err *e)
{
	memset(out, 0, sizeof *out);
	if (!id_number || !identity_cccd_valid(id_number)) {
		err_field(e, "id_number", "must be a 12-digit personal identity number (CCCD)");
		return err_fields_done(e);
	}
	json_t *j;
	out->key = arena_strdup(c->a, id_number);
	int rc = get_json(c, NATIONAL_JUDICIAL, arena_printf(c->a, "records/%s", id_number), purpose, id_number,
			  arena_printf(c->a, "citizen with identity number %s", id_number), &j, &out->json,
			  &out->message_id, e);
	if (rc < 0)
		return rc;
	const char *status = json_string_value(json_object_get(j, "status_vi"));
	const char *name = json_string_value(json_object_get(j, "full_name"));
	out->summary = arena_printf(c->a, "Lý lịch tư pháp của %s (%s): %s", name ? name : "?", id_number,
				    status ? status : "?");
	json_decref(j);
	return 0;
}

/* ---- registration on the LGSP ---- */

/* 1 when created, 0 when it was there (left as the administrators keep it). */
static int created(int rc, struct err *e)
{
	if (rc == ERR_CONFLICT) {
		err_clear(e);
		return 0;
	}
	return rc < 0 ? rc : 1;
}

int national_register(struct app *app, struct err *e)
{
	struct arena a = ARENA_INIT;
	struct ctx c = {.app = app, .a = &a, .who = &principal_cli, .actor = "system:national"};
	char pk[65];
	for (int i = 0; i < 32; i++)
		snprintf(pk + 2 * i, 3, "%02x", app->keys.pk[i]);
	int made = 0, rc = 0;
	/* the client: the province's one-stop system, as configured */
	const char *client = app->cfg->national_client;
	const char *slash = client ? strchr(client, '/') : NULL;
	if (!slash || slash == client || !slash[1] || strchr(slash + 1, '/')) {
		arena_free(&a);
		return err_set(e, ERR_CONFIG, "national_client: '%s' is not member/subsystem", client ? client : "");
	}
	bool any = false;
	for (int s = 0; s < NATIONAL_COUNT; s++)
		any = any || national_base(app->cfg, (enum national_system)s, &a) != NULL;
	if (!any) {
		arena_free(&a);
		return 0; /* nothing to reach: nothing to register */
	}
	char *member = arena_strndup(&a, client, (size_t)(slash - client));
	struct exchange_member_in mi = {.code = member, .name = member};
	struct exchange_subsystem_in si = {.member = member, .code = slash + 1,
					   .name = "Hệ thống thông tin giải quyết thủ tục hành chính (tinhso)",
					   .public_key = pk};
	if ((rc = created(exchange_member_put(&c, &mi, true, NULL, e), e)) < 0)
		goto out;
	made += rc;
	if ((rc = created(exchange_subsystem_put(&c, &si, true, NULL, e), e)) < 0)
		goto out;
	made += rc;
	for (int s = 0; s < NATIONAL_COUNT; s++) {
		const struct national_service *sv = &national_services[s];
		char *base = national_base(app->cfg, (enum national_system)s, &a);
		if (!base)
			continue; /* nowhere to forward to: registered once it is configured */
		struct exchange_member_in m = {.code = sv->member, .name = sv->member_name};
		/* the platform keeps the key of the systems it fronts until they register their own */
		struct exchange_subsystem_in ss = {.member = sv->member, .code = sv->subsystem,
						   .name = sv->subsystem_name, .public_key = pk};
		struct exchange_service_in v = {.member = sv->member, .subsystem = sv->subsystem, .code = sv->service,
						.description = sv->description, .backend_url = base, .methods = sv->methods,
						.personal_data = sv->personal_data,
						.timeout_ms = (int)app->cfg->national_timeout_ms};
		if ((rc = created(exchange_member_put(&c, &m, true, NULL, e), e)) < 0)
			goto out;
		made += rc;
		if ((rc = created(exchange_subsystem_put(&c, &ss, true, NULL, e), e)) < 0)
			goto out;
		made += rc;
		if ((rc = created(exchange_service_put(&c, &v, true, NULL, e), e)) < 0)
			goto out;
		made += rc;
		char *svc = arena_printf(&a, "%s/%s/%s", sv->member, sv->subsystem, sv->service);
		if ((rc = exchange_access_put(&c, svc, client, e)) < 0)
			goto out;
	}
	rc = made;
out:
	arena_free(&a);
	return rc;
}
