/* notify.c: dossier events become outbox rows. Each event is rendered from
 * the Vietnamese or English templates (web/i18n/{vi,en}/notify.json, read once
 * per web directory, with built-in copies below so that a missing or broken
 * catalog never stops a notification) and queued as one row per recipient and
 * channel, in the caller's write transaction, with a dedupe key that makes a
 * repeated event (a retried callback) queue nothing new. Delivery is
 * notify_worker.c's. */
#include "notify/notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"

enum { LANG_VI, LANG_EN, LANG_COUNT };
enum { F_SMS, F_SUBJECT, F_BODY, F_COUNT };

/* An SMS longer than this (in characters) is cut with an ellipsis: the long
 * text goes by e-mail and to the file sink. */
enum { SMS_MAX_CHARS = 320 };

static const char *const event_names[NE_COUNT] = {
	[NE_SUBMITTED] = "submitted",
	[NE_RECEIVED] = "received",
	[NE_REFUSED] = "refused",
	[NE_SUPPLEMENT_REQUESTED] = "supplement_requested",
	[NE_PAYMENT_REQUESTED] = "payment_requested",
	[NE_PAYMENT_RECEIVED] = "payment_received",
	[NE_EXTENDED] = "extended",
	[NE_RESOLVED] = "resolved",
	[NE_RESULT_READY] = "result_ready",
	[NE_RETURNED] = "returned",
	[NE_STOPPED] = "stopped",
	[NE_DUE_SOON] = "due_soon",
	[NE_OVERDUE] = "overdue",
};

static const char *const lang_names[LANG_COUNT] = {"vi", "en"};
static const char *const field_names[F_COUNT] = {"sms", "subject", "body"};

const char *notify_event_name(enum notify_event ev)
{
	return (unsigned)ev < NE_COUNT ? event_names[ev] : "unknown";
}

static bool official_event(enum notify_event ev)
{
	return ev == NE_DUE_SOON || ev == NE_OVERDUE;
}

/* ---- templates ---- */

struct tmpl {
	const char *sms, *subject, *body;
};

/* The built-in copies of web/i18n/{vi,en}/notify.json (keep them equal: a
 * unit test compares them). Placeholders: {code} {procedure} {agency}
 * {applicant} {due} {amount} {note}; a [[ ]] section is left out when a
 * placeholder inside it is empty. */
static const struct tmpl builtin[LANG_COUNT][NE_COUNT] = {
	[LANG_VI] = {
		[NE_SUBMITTED] = {"Hồ sơ {code} ({procedure}) đã được gửi đến {agency}, đang chờ tiếp nhận.",
			"Đã gửi hồ sơ {code}",
			"Kính gửi Ông/Bà {applicant},\n\nHồ sơ {code} ({procedure}) đã được gửi trực tuyến đến {agency} và đang chờ cán bộ kiểm tra, tiếp nhận. Ông/Bà sẽ nhận được thông báo khi hồ sơ được tiếp nhận.\n\nTrân trọng,\n{agency}"},
		[NE_RECEIVED] = {"Hồ sơ {code} ({procedure}) đã được tiếp nhận tại {agency}.[[ Hẹn trả kết quả: {due}.]]",
			"Hồ sơ {code} đã được tiếp nhận",
			"Kính gửi Ông/Bà {applicant},\n\nHồ sơ {code} ({procedure}) đã được tiếp nhận tại {agency}.[[\nThời gian hẹn trả kết quả: {due}.]]\n\nÔng/Bà có thể tra cứu tình trạng hồ sơ theo mã hồ sơ trên Cổng dịch vụ công của tỉnh.\n\nTrân trọng,\n{agency}"},
		[NE_REFUSED] = {"Hồ sơ {code} ({procedure}) không được tiếp nhận tại {agency}.[[ Lý do: {note}]]",
			"Hồ sơ {code} không được tiếp nhận",
			"Kính gửi Ông/Bà {applicant},\n\n{agency} không tiếp nhận hồ sơ {code} ({procedure}).[[\nLý do: {note}]]\n\nTrân trọng,\n{agency}"},
		[NE_SUPPLEMENT_REQUESTED] = {"Hồ sơ {code} ({procedure}) cần bổ sung, hoàn thiện theo yêu cầu của {agency}.[[ Nội dung: {note}]]",
			"Yêu cầu bổ sung, hoàn thiện hồ sơ {code}",
			"Kính gửi Ông/Bà {applicant},\n\n{agency} đề nghị Ông/Bà bổ sung, hoàn thiện hồ sơ {code} ({procedure}).[[\nNội dung cần bổ sung: {note}]]\n\nThời hạn giải quyết hồ sơ tạm dừng cho đến khi Ông/Bà bổ sung đầy đủ.\n\nTrân trọng,\n{agency}"},
		[NE_PAYMENT_REQUESTED] = {"Hồ sơ {code}: đề nghị Ông/Bà nộp phí, lệ phí[[ {amount}]] để {agency} tiếp tục giải quyết.",
			"Đề nghị thực hiện nghĩa vụ tài chính cho hồ sơ {code}",
			"Kính gửi Ông/Bà {applicant},\n\nĐể tiếp tục giải quyết hồ sơ {code} ({procedure}), đề nghị Ông/Bà thực hiện nghĩa vụ tài chính[[: {amount}]].[[\nNội dung: {note}]]\n\nÔng/Bà có thể thanh toán trực tuyến trên Cổng dịch vụ công hoặc nộp trực tiếp tại {agency}.\n\nTrân trọng,\n{agency}"},
		[NE_PAYMENT_RECEIVED] = {"Đã nhận thanh toán[[ {amount}]] cho hồ sơ {code}.[[ Số biên lai: {note}.]]",
			"Xác nhận thanh toán cho hồ sơ {code}",
			"Kính gửi Ông/Bà {applicant},\n\n{agency} đã nhận khoản thanh toán[[ {amount}]] cho hồ sơ {code} ({procedure}).[[\nSố biên lai điện tử: {note}]]\n\nTrân trọng,\n{agency}"},
		[NE_EXTENDED] = {"Hồ sơ {code} chưa giải quyết xong đúng hẹn. {agency} xin lỗi Ông/Bà[[ và hẹn trả kết quả vào {due}]].",
			"Thư xin lỗi và hẹn lại ngày trả kết quả hồ sơ {code}",
			"Kính gửi Ông/Bà {applicant},\n\n{agency} chân thành xin lỗi Ông/Bà vì hồ sơ {code} ({procedure}) chưa được giải quyết đúng thời hạn đã hẹn.[[\nLý do: {note}]][[\nThời gian hẹn trả kết quả mới: {due}.]]\n\nRất mong Ông/Bà thông cảm.\n\nTrân trọng,\n{agency}"},
		[NE_RESOLVED] = {"Hồ sơ {code} ({procedure}) đã được {agency} giải quyết xong.[[ {note}]]",
			"Hồ sơ {code} đã được giải quyết",
			"Kính gửi Ông/Bà {applicant},\n\nHồ sơ {code} ({procedure}) đã được {agency} giải quyết xong.[[\n{note}]]\n\nÔng/Bà sẽ nhận được thông báo khi kết quả sẵn sàng để nhận.\n\nTrân trọng,\n{agency}"},
		[NE_RESULT_READY] = {"Hồ sơ {code} đã có kết quả. Mời Ông/Bà nhận tại {agency} hoặc tải về trên Cổng dịch vụ công.",
			"Hồ sơ {code} đã có kết quả",
			"Kính gửi Ông/Bà {applicant},\n\nKết quả giải quyết hồ sơ {code} ({procedure}) đã sẵn sàng. Mời Ông/Bà nhận kết quả tại {agency} hoặc tải về trên Cổng dịch vụ công của tỉnh.[[\n{note}]]\n\nTrân trọng,\n{agency}"},
		[NE_RETURNED] = {"Hồ sơ {code} ({procedure}) đã được trả kết quả. Cảm ơn Ông/Bà đã sử dụng dịch vụ công.",
			"Đã trả kết quả hồ sơ {code}",
			"Kính gửi Ông/Bà {applicant},\n\nKết quả hồ sơ {code} ({procedure}) đã được trả cho Ông/Bà. Mời Ông/Bà đánh giá mức độ hài lòng về việc giải quyết thủ tục hành chính trên Cổng dịch vụ công.\n\nTrân trọng,\n{agency}"},
		[NE_STOPPED] = {"Hồ sơ {code} ({procedure}) đã dừng xử lý.[[ Lý do: {note}]]",
			"Hồ sơ {code} đã dừng xử lý",
			"Kính gửi Ông/Bà {applicant},\n\n{agency} đã dừng xử lý hồ sơ {code} ({procedure}).[[\nLý do: {note}]]\n\nTrân trọng,\n{agency}"},
		[NE_DUE_SOON] = {"Hồ sơ {code} ({procedure}) sắp đến hạn trả kết quả: {due}.",
			"Sắp đến hạn: hồ sơ {code}",
			"Hồ sơ {code} ({procedure}) của {applicant} đang được xử lý tại {agency} sẽ đến hạn trả kết quả vào {due}.\n\nĐề nghị khẩn trương giải quyết để bảo đảm đúng hạn."},
		[NE_OVERDUE] = {"Hồ sơ {code} ({procedure}) đã quá hạn trả kết quả (hạn: {due}).",
			"Quá hạn: hồ sơ {code}",
			"Hồ sơ {code} ({procedure}) của {applicant} đang được xử lý tại {agency} đã quá hạn trả kết quả (hạn: {due}).\n\nĐề nghị khẩn trương giải quyết; nếu cần gia hạn, thực hiện thư xin lỗi và hẹn lại ngày trả kết quả theo quy định."},
	},
	[LANG_EN] = {
		[NE_SUBMITTED] = {"Dossier {code} ({procedure}) has been sent to {agency} and is awaiting reception.",
			"Dossier {code} submitted",
			"Dear {applicant},\n\nYour dossier {code} ({procedure}) has been submitted online to {agency} and is waiting for an official to check and receive it. You will be notified when it is received.\n\nYours faithfully,\n{agency}"},
		[NE_RECEIVED] = {"Dossier {code} ({procedure}) was received at {agency}.[[ Result due: {due}.]]",
			"Dossier {code} received",
			"Dear {applicant},\n\nYour dossier {code} ({procedure}) was received at {agency}.[[\nThe result is due on {due}.]]\n\nYou can follow its status with the dossier code on the provincial public service portal.\n\nYours faithfully,\n{agency}"},
		[NE_REFUSED] = {"Dossier {code} ({procedure}) was not accepted by {agency}.[[ Reason: {note}]]",
			"Dossier {code} not accepted",
			"Dear {applicant},\n\n{agency} did not accept dossier {code} ({procedure}).[[\nReason: {note}]]\n\nYours faithfully,\n{agency}"},
		[NE_SUPPLEMENT_REQUESTED] = {"Dossier {code} ({procedure}) needs to be completed as requested by {agency}.[[ Details: {note}]]",
			"Please complete dossier {code}",
			"Dear {applicant},\n\n{agency} asks you to complete dossier {code} ({procedure}).[[\nWhat to add: {note}]]\n\nThe processing time is paused until the dossier is complete.\n\nYours faithfully,\n{agency}"},
		[NE_PAYMENT_REQUESTED] = {"Dossier {code}: please pay the fees[[ of {amount}]] so that {agency} can continue processing it.",
			"Payment requested for dossier {code}",
			"Dear {applicant},\n\nTo continue processing dossier {code} ({procedure}), please pay the fees and charges[[ of {amount}]].[[\nDetails: {note}]]\n\nYou can pay online on the public service portal or in person at {agency}.\n\nYours faithfully,\n{agency}"},
		[NE_PAYMENT_RECEIVED] = {"Payment[[ of {amount}]] received for dossier {code}.[[ Receipt number: {note}.]]",
			"Payment received for dossier {code}",
			"Dear {applicant},\n\n{agency} has received your payment[[ of {amount}]] for dossier {code} ({procedure}).[[\nE-receipt number: {note}]]\n\nYours faithfully,\n{agency}"},
		[NE_EXTENDED] = {"Dossier {code} could not be completed on time. {agency} apologises[[; the new date is {due}]].",
			"Apology and new date for dossier {code}",
			"Dear {applicant},\n\n{agency} sincerely apologises that dossier {code} ({procedure}) could not be completed by the promised date.[[\nReason: {note}]][[\nThe result is now due on {due}.]]\n\nThank you for your understanding.\n\nYours faithfully,\n{agency}"},
		[NE_RESOLVED] = {"Dossier {code} ({procedure}) has been decided by {agency}.[[ {note}]]",
			"Dossier {code} decided",
			"Dear {applicant},\n\nDossier {code} ({procedure}) has been decided by {agency}.[[\n{note}]]\n\nYou will be notified when the result is ready to collect.\n\nYours faithfully,\n{agency}"},
		[NE_RESULT_READY] = {"The result of dossier {code} is ready. Collect it at {agency} or download it from the public service portal.",
			"Result of dossier {code} ready",
			"Dear {applicant},\n\nThe result of dossier {code} ({procedure}) is ready. Please collect it at {agency} or download it from the provincial public service portal.[[\n{note}]]\n\nYours faithfully,\n{agency}"},
		[NE_RETURNED] = {"The result of dossier {code} ({procedure}) has been handed over. Thank you for using our public services.",
			"Result of dossier {code} handed over",
			"Dear {applicant},\n\nThe result of dossier {code} ({procedure}) has been handed over to you. Please rate how satisfied you are with the service on the public service portal.\n\nYours faithfully,\n{agency}"},
		[NE_STOPPED] = {"Processing of dossier {code} ({procedure}) has stopped.[[ Reason: {note}]]",
			"Processing of dossier {code} stopped",
			"Dear {applicant},\n\n{agency} has stopped processing dossier {code} ({procedure}).[[\nReason: {note}]]\n\nYours faithfully,\n{agency}"},
		[NE_DUE_SOON] = {"Dossier {code} ({procedure}) is due soon: {due}.",
			"Due soon: dossier {code}",
			"Dossier {code} ({procedure}) of {applicant}, being processed at {agency}, is due on {due}.\n\nPlease complete it on time."},
		[NE_OVERDUE] = {"Dossier {code} ({procedure}) is overdue (due {due}).",
			"Overdue: dossier {code}",
			"Dossier {code} ({procedure}) of {applicant}, being processed at {agency}, is overdue (due {due}).\n\nPlease complete it without delay; if more time is needed, send the applicant an apology with a new date as the rules require."},
	},
};

static const char *tmpl_builtin(int lang, int ev, int field)
{
	const struct tmpl *t = &builtin[lang][ev];
	return field == F_SMS ? t->sms : field == F_SUBJECT ? t->subject : t->body;
}

/* Templates read from one web directory; strings NULL where the catalog has
 * none (the built-in copy is used). Sets are never freed: there is one per
 * web directory a process uses, normally one. */
struct tmpl_set {
	char *web_dir;
	char *s[LANG_COUNT][NE_COUNT][F_COUNT];
	struct tmpl_set *next;
};

static pthread_mutex_t tmpl_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tmpl_set *tmpl_sets;

static char *xstrdup(const char *s)
{
	size_t n = strlen(s);
	char *p = malloc(n + 1);
	if (!p)
		abort();
	memcpy(p, s, n + 1);
	return p;
}

static int event_by_name(const char *name)
{
	for (int i = 0; i < NE_COUNT; i++)
		if (strcmp(event_names[i], name) == 0)
			return i;
	return -1;
}

static void tmpl_load_lang(struct tmpl_set *ts, int lang)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/i18n/%s/notify.json", ts->web_dir, lang_names[lang]);
	FILE *f = fopen(path, "rb");
	if (!f) {
		log_info("notify: no template catalog '%s' (%s): using the built-in templates", path, strerror(errno));
		return;
	}
	struct buf b = BUF_INIT;
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (1u << 20))
		buf_append(&b, chunk, n);
	fclose(f);
	json_t *doc = NULL;
	struct err e = {0};
	if (b.len > (1u << 20) || json_parse(b.ptr ? b.ptr : "", b.len, &doc, &e) < 0 || !json_is_object(doc)) {
		log_warn("notify: template catalog '%s' unusable (%s): using the built-in templates", path,
			 e.msg[0] ? e.msg : "not a JSON object of at most 1 MiB");
		json_decref(doc);
		buf_free(&b);
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v)
	{
		if (key[0] == '_')
			continue;
		int ev = event_by_name(key);
		if (ev < 0 || !json_is_object(v)) {
			log_warn("notify: %s: '%s' is not an event with templates; ignored", path, key);
			continue;
		}
		for (int fi = 0; fi < F_COUNT; fi++) {
			json_t *s = json_object_get(v, field_names[fi]);
			if (!s)
				continue;
			if (!json_is_string(s) || json_string_length(s) == 0 ||
			    strlen(json_string_value(s)) != json_string_length(s)) {
				log_warn("notify: %s: %s.%s must be a non-empty string; the built-in one is used", path,
					 key, field_names[fi]);
				continue;
			}
			ts->s[lang][ev][fi] = xstrdup(json_string_value(s));
		}
	}
	json_decref(doc);
	buf_free(&b);
}

static const struct tmpl_set *tmpl_get(const char *web_dir)
{
	if (!web_dir)
		web_dir = "";
	pthread_mutex_lock(&tmpl_mu);
	struct tmpl_set *ts;
	for (ts = tmpl_sets; ts; ts = ts->next)
		if (strcmp(ts->web_dir, web_dir) == 0)
			break;
	if (!ts) {
		ts = calloc(1, sizeof *ts);
		if (!ts)
			abort();
		ts->web_dir = xstrdup(web_dir);
		for (int l = 0; l < LANG_COUNT; l++)
			tmpl_load_lang(ts, l);
		ts->next = tmpl_sets;
		tmpl_sets = ts;
	}
	pthread_mutex_unlock(&tmpl_mu);
	return ts;
}

static const char *tmpl_text(const struct tmpl_set *ts, int lang, int ev, int field)
{
	const char *s = ts->s[lang][ev][field];
	return s ? s : tmpl_builtin(lang, ev, field);
}

/* ---- rendering ---- */

enum { V_CODE, V_PROCEDURE, V_AGENCY, V_APPLICANT, V_DUE, V_AMOUNT, V_NOTE, V_COUNT };
static const char *const value_names[V_COUNT] = {"code", "procedure", "agency", "applicant", "due", "amount", "note"};

/* Appends [p, end) with its placeholders replaced; *empty set when one of
 * them had no value. Unknown {words} stay as they are. */
static void render_span(struct buf *out, const char *p, const char *end, const char *const *vals, bool *empty)
{
	while (p < end) {
		if (*p == '{') {
			const char *close = memchr(p, '}', (size_t)(end - p));
			if (close) {
				size_t n = (size_t)(close - p - 1);
				int vi;
				for (vi = 0; vi < V_COUNT; vi++)
					if (strlen(value_names[vi]) == n && memcmp(p + 1, value_names[vi], n) == 0)
						break;
				if (vi < V_COUNT) {
					const char *v = vals[vi];
					if (!v || !*v)
						*empty = true;
					else
						buf_puts(out, v);
					p = close + 1;
					continue;
				}
			}
		}
		buf_putc(out, *p++);
	}
}

static void render(struct buf *out, const char *t, const char *const *vals)
{
	const char *p = t, *end = t + strlen(t);
	while (p < end) {
		const char *open = strstr(p, "[[");
		const char *close = open ? strstr(open + 2, "]]") : NULL;
		if (!open || !close) {
			bool ignored = false;
			render_span(out, p, end, vals, &ignored);
			return;
		}
		bool ignored = false, empty = false;
		render_span(out, p, open, vals, &ignored);
		struct buf sect = BUF_INIT;
		render_span(&sect, open + 2, close, vals, &empty);
		if (!empty)
			buf_append(out, sect.ptr ? sect.ptr : "", sect.len);
		buf_free(&sect);
		p = close + 2;
	}
}

/* Control characters (a newline in an applicant's note) become spaces in
 * one-line texts: SMS and the subject, which becomes a mail header. */
static void one_line(struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->ptr[i] < 0x20 || b->ptr[i] == 0x7f)
			b->ptr[i] = ' ';
}

/* Cuts b to at most max characters (UTF-8), ending with an ellipsis when cut. */
static void cut_chars(struct buf *b, size_t max)
{
	size_t chars = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (((unsigned char)b->ptr[i] & 0xc0) == 0x80)
			continue;
		if (chars == max - 1) {
			/* room for the ellipsis only if more than one character follows */
			size_t rest = 0;
			for (size_t j = i; j < b->len; j++)
				if (((unsigned char)b->ptr[j] & 0xc0) != 0x80)
					rest++;
			if (rest > 1) {
				b->len = i;
				b->ptr[i] = 0;
				buf_puts(b, "…");
			}
			return;
		}
		chars++;
	}
}

static int64_t floordiv64(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* dd/mm/yyyy HH:MM in Vietnam time. */
static void fmt_due(int64_t unix_us, char *out, size_t cap)
{
	int64_t s = floordiv64(unix_us, 1000000) + TIME_OFFSET_S;
	int64_t days = floordiv64(s, 86400), sod = s - days * 86400;
	int y;
	unsigned m, d;
	civil_from_days((int32_t)days, &y, &m, &d);
	snprintf(out, cap, "%02u/%02u/%04d %02d:%02d", d, m, y, (int)(sod / 3600), (int)(sod % 3600 / 60));
}

/* "1.250.000 đồng" (vi) or "1,250,000 VND" (en). */
static void fmt_amount(int64_t v, int lang, char *out, size_t cap)
{
	char digits[24];
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
	char tmp[48];
	size_t k = 0, n = strlen(digits);
	if (v < 0)
		tmp[k++] = '-';
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			tmp[k++] = lang == LANG_EN ? ',' : '.';
		tmp[k++] = digits[i];
	}
	tmp[k] = 0;
	snprintf(out, cap, "%s %s", tmp, lang == LANG_EN ? "VND" : "đồng");
}

/* ---- queueing ---- */

/* An address we are willing to hand to SMTP: ASCII, one @, nothing that
 * could end the envelope command or a header. */
static bool email_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 3 || n > 254)
		return false;
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || strchr("<>()[]\\,;:\"", ch))
			return false;
	}
	return true;
}

/* The URL SMS go to: sms_url, else the simulator's, else none (""). */
static void sms_url(const struct config *cfg, char *out, size_t cap)
{
	if (cfg->sms_url && cfg->sms_url[0]) {
		snprintf(out, cap, "%s", cfg->sms_url);
	} else if (cfg->sim_url && cfg->sim_url[0]) {
		size_t n = strlen(cfg->sim_url);
		while (n > 0 && cfg->sim_url[n - 1] == '/')
			n--;
		snprintf(out, cap, "%.*s/sms/send", (int)n, cfg->sim_url);
	} else {
		out[0] = 0;
	}
}

struct recipient {
	const char *key;  /* "applicant", "user:<id>", "agency:<code>" */
	const char *name;
	const char *email; /* may be NULL */
	const char *phone; /* may be NULL */
};

struct rendered {
	const char *event, *event_id, *dossier, *lang;
	const char *sms, *subject, *body;
	int64_t now;
};

static int queue_row(struct store_tx *tx, const struct rendered *m, const struct recipient *r, const char *channel,
		     const char *to, struct err *e)
{
	struct buf dedupe = BUF_INIT, payload = BUF_INIT;
	buf_printf(&dedupe, "%s:%s", m->event_id, channel);
	if (strcmp(r->key, "applicant") != 0)
		buf_printf(&dedupe, ":%s", r->key);
	struct jw w;
	jw_init(&w, &payload);
	jw_obj(&w);
	jw_kstr(&w, "event", m->event);
	jw_kstr(&w, "event_id", m->event_id);
	jw_kstr(&w, "channel", channel);
	jw_kstr(&w, "recipient", r->key);
	jw_kstr(&w, "to", to);
	bool sms = strcmp(channel, "sms") == 0;
	if (!sms)
		jw_kstr(&w, "subject", m->subject);
	jw_kstr(&w, "text", sms ? m->sms : m->body);
	jw_kstr(&w, "dossier", m->dossier);
	jw_kstr(&w, "lang", m->lang);
	jw_obj_end(&w);
	int rc = store_exec(tx,
			    "INSERT INTO outbox (kind, channel, dedupe, payload, attempts, next_at, claimed_until, "
			    "created_at) VALUES ('notify', $1, $2, $3, 0, $4, 0, $4) ON CONFLICT (dedupe) DO NOTHING",
			    ARGS(SA_TEXT(channel), SA_TEXTN(dedupe.ptr, dedupe.len), SA_TEXTN(payload.ptr, payload.len),
				 SA_INT(m->now)),
			    e);
	buf_free(&dedupe);
	buf_free(&payload);
	return rc < 0 ? rc : 0;
}

static int queue_recipient(struct store_tx *tx, const struct config *cfg, const struct rendered *m,
			   const struct recipient *r, struct err *e)
{
	int rc;
	if (r->email && email_ok(r->email) && cfg->smtp_url && cfg->smtp_url[0])
		if ((rc = queue_row(tx, m, r, "email", r->email, e)) < 0)
			return rc;
	char url[1024];
	sms_url(cfg, url, sizeof url);
	if (r->phone && r->phone[0] && url[0])
		if ((rc = queue_row(tx, m, r, "sms", r->phone, e)) < 0)
			return rc;
	if (cfg->notify_file && cfg->notify_file[0])
		if ((rc = queue_row(tx, m, r, "file", r->name ? r->name : "", e)) < 0)
			return rc;
	return 0;
}

struct official {
	int64_t id;
	char *name, *email, *phone, *key;
};

int notify_dossier_event(struct store_tx *tx, const struct ctx *c, enum notify_event ev,
			 const struct notify_dossier *d, struct err *e)
{
	if ((unsigned)ev >= NE_COUNT)
		return err_set(e, ERR_INTERNAL, "notify: unknown event %d", (int)ev);
	if (!d || !d->code || !d->code[0])
		return err_set(e, ERR_INTERNAL, "notify: the event has no dossier code");
	const struct config *cfg = c->app->cfg;
	int lang = d->lang && strcmp(d->lang, "en") == 0 ? LANG_EN : LANG_VI;
	const struct tmpl_set *ts = tmpl_get(cfg->web_dir);

	char due[32] = "", amount[48] = "";
	if (d->due_at)
		fmt_due(d->due_at, due, sizeof due);
	if (d->amount)
		fmt_amount(d->amount, lang, amount, sizeof amount);
	const char *vals[V_COUNT] = {
		[V_CODE] = d->code,
		[V_PROCEDURE] = d->procedure_name,
		[V_AGENCY] = d->agency_name && d->agency_name[0] ? d->agency_name : d->agency_code,
		[V_APPLICANT] = d->applicant_name,
		[V_DUE] = due,
		[V_AMOUNT] = amount,
		[V_NOTE] = d->note,
	};
	struct buf sms = BUF_INIT, subject = BUF_INIT, body = BUF_INIT, event_id = BUF_INIT;
	render(&sms, tmpl_text(ts, lang, ev, F_SMS), vals);
	one_line(&sms);
	cut_chars(&sms, SMS_MAX_CHARS);
	render(&subject, tmpl_text(ts, lang, ev, F_SUBJECT), vals);
	one_line(&subject);
	render(&body, tmpl_text(ts, lang, ev, F_BODY), vals);
	buf_printf(&event_id, "%s:%s:%lld", d->code, event_names[ev], (long long)d->step_id);
	struct rendered m = {
		.event = event_names[ev],
		.event_id = buf_cstr(&event_id),
		.dossier = d->code,
		.lang = lang_names[lang],
		.sms = buf_cstr(&sms),
		.subject = buf_cstr(&subject),
		.body = buf_cstr(&body),
		.now = time_now_us(),
	};

	int rc = 0;
	if (!official_event(ev)) {
		struct recipient r = {"applicant", d->applicant_name, d->email, d->phone};
		rc = queue_recipient(tx, cfg, &m, &r, e);
	} else {
		/* the active officials and leaders of the agency concerned */
		struct arena a = ARENA_INIT;
		struct official *list = NULL;
		size_t n = 0, cap = 0;
		struct store_q *q;
		rc = store_query(tx,
				 "SELECT id, full_name, email, phone FROM users WHERE agency_code = $1 AND role IN "
				 "('official', 'leader') AND disabled = 0 ORDER BY id",
				 ARGS(SA_TEXT(d->agency_code)), &q, e);
		if (rc >= 0) {
			while ((rc = store_step(q, e)) == 1) {
				list = arena_grow(&a, list, n, &cap, sizeof *list);
				struct official *o = &list[n++];
				o->id = store_int(q, 0);
				o->name = store_dup(q, 1, &a);
				o->email = store_dup(q, 2, &a);
				o->phone = store_dup(q, 3, &a);
				o->key = arena_printf(&a, "user:%lld", (long long)o->id);
			}
			store_done(q);
		}
		for (size_t i = 0; rc >= 0 && i < n; i++) {
			struct recipient r = {list[i].key, list[i].name, list[i].email, list[i].phone};
			rc = queue_recipient(tx, cfg, &m, &r, e);
		}
		if (rc >= 0 && n == 0 && cfg->notify_file && cfg->notify_file[0]) {
			/* nobody to tell: the file sink still records the event for the agency */
			char *key = arena_printf(&a, "agency:%s", d->agency_code ? d->agency_code : "");
			struct recipient r = {key, vals[V_AGENCY], NULL, NULL};
			rc = queue_row(tx, &m, &r, "file", r.name ? r.name : "", e);
		}
		arena_free(&a);
	}
	buf_free(&sms);
	buf_free(&subject);
	buf_free(&body);
	buf_free(&event_id);
	return rc < 0 ? rc : 0;
}
