/* forms.c: layout and labels of the one-stop-shop slips (Circular
 * 01/2018/TT-VPCP, mẫu 01-05) and the fee e-receipt. The labels of each form
 * live in one table per form (plus one for what every form shares), indexed
 * by language, until a message catalogue takes them over. */
#include "report/forms.h"

#include <ctype.h>
#include <stdbool.h>

#include "report/pdf.h"

enum { LANG_VI, LANG_EN, NLANGS };

static int lang_index(const char *lang)
{
	if (lang && (lang[0] == 'e' || lang[0] == 'E') && (lang[1] == 'n' || lang[1] == 'N') &&
	    (lang[2] == 0 || lang[2] == '-' || lang[2] == '_'))
		return LANG_EN;
	return LANG_VI;
}

/* ---- labels ---- */

struct common_labels {
	const char *motto1, *motto2;
	const char *number;
	const char *code;
	const char *address, *phone, *email;
	const char *procedure;
	const char *sign_note;
	const char *sign_seal_note;
};

static const struct common_labels common_labels[NLANGS] = {
    {
	.motto1 = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
	.motto2 = "Độc lập - Tự do - Hạnh phúc",
	.number = "Số: ",
	.code = "Mã hồ sơ: ",
	.address = "Địa chỉ: ",
	.phone = "Số điện thoại: ",
	.email = "Thư điện tử: ",
	.procedure = "Nội dung yêu cầu giải quyết: ",
	.sign_note = "(Ký và ghi rõ họ tên)",
	.sign_seal_note = "(Ký, ghi rõ họ tên và đóng dấu)",
    },
    {
	.motto1 = "SOCIALIST REPUBLIC OF VIETNAM",
	.motto2 = "Independence - Freedom - Happiness",
	.number = "No.: ",
	.code = "Dossier code: ",
	.address = "Address: ",
	.phone = "Phone: ",
	.email = "Email: ",
	.procedure = "Request: ",
	.sign_note = "(Signature and full name)",
	.sign_seal_note = "(Signature, full name and seal)",
    },
};

struct receipt_labels {
	const char *title;
	const char *from;
	const char *docs, *doc_no, *doc_name, *doc_copies;
	const char *processing_time, *received_at, *appointment, *return_place;
	const char *sign_applicant, *sign_official;
	const char *qr_caption;
};

static const struct receipt_labels receipt_labels[NLANGS] = {
    {
	.title = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
	.from = "Tiếp nhận hồ sơ của: ",
	.docs = "Thành phần hồ sơ nộp gồm:",
	.doc_no = "STT",
	.doc_name = "Tên giấy tờ",
	.doc_copies = "Số lượng",
	.processing_time = "Thời gian giải quyết hồ sơ theo quy định: ",
	.received_at = "Thời gian nhận hồ sơ: ",
	.appointment = "Thời gian trả kết quả giải quyết hồ sơ: ",
	.return_place = "Đăng ký nhận kết quả tại: ",
	.sign_applicant = "NGƯỜI NỘP HỒ SƠ",
	.sign_official = "NGƯỜI TIẾP NHẬN HỒ SƠ",
	.qr_caption = "Quét mã QR để tra cứu tình trạng hồ sơ và xác thực giấy tiếp nhận này "
		      "trên Cổng dịch vụ công.",
    },
    {
	.title = "DOSSIER RECEIPT AND APPOINTMENT FOR RESULTS",
	.from = "Received from: ",
	.docs = "Documents submitted:",
	.doc_no = "No.",
	.doc_name = "Document",
	.doc_copies = "Copies",
	.processing_time = "Processing time as regulated: ",
	.received_at = "Received at: ",
	.appointment = "Results due: ",
	.return_place = "Results to be collected at: ",
	.sign_applicant = "APPLICANT",
	.sign_official = "RECEIVING OFFICIAL",
	.qr_caption = "Scan the QR code to track this dossier and verify this receipt on the public "
		      "service portal.",
    },
};

struct supplement_labels {
	const char *title;
	const char *of;
	const char *intro;
	const char *no, *what, *why;
	const char *contact1, *contact2;
	const char *sign;
};

static const struct supplement_labels supplement_labels[NLANGS] = {
    {
	.title = "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
	.of = "Hồ sơ của: ",
	.intro = "Yêu cầu Ông/Bà bổ sung, hoàn thiện hồ sơ gồm những nội dung sau:",
	.no = "STT",
	.what = "Nội dung cần bổ sung, hoàn thiện",
	.why = "Lý do",
	.contact1 = "Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, Ông/Bà liên hệ ",
	.contact2 = " để được hướng dẫn.",
	.sign = "NGƯỜI HƯỚNG DẪN",
    },
    {
	.title = "REQUEST TO COMPLETE THE DOSSIER",
	.of = "Dossier of: ",
	.intro = "Please add or correct the following in your dossier:",
	.no = "No.",
	.what = "To be added or corrected",
	.why = "Reason",
	.contact1 = "Should you have any difficulty completing the dossier, please contact ",
	.contact2 = " for guidance.",
	.sign = "GUIDING OFFICIAL",
    },
};

struct refusal_labels {
	const char *title;
	const char *from;
	const char *intro;
	const char *closing;
	const char *sign;
};

static const struct refusal_labels refusal_labels[NLANGS] = {
    {
	.title = "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
	.from = "Tiếp nhận hồ sơ của: ",
	.intro = "Sau khi xem xét thành phần hồ sơ, đối chiếu với các quy định hiện hành, cơ quan "
		 "tiếp nhận thông báo không tiếp nhận, giải quyết hồ sơ này với lý do cụ thể như sau:",
	.closing = "Xin thông báo để Ông/Bà được biết và thực hiện./.",
	.sign = "NGƯỜI TIẾP NHẬN HỒ SƠ",
    },
    {
	.title = "NOTICE OF REFUSAL TO ACCEPT THE DOSSIER",
	.from = "Dossier submitted by: ",
	.intro = "Having examined the documents submitted against the regulations in force, the "
		 "receiving office cannot accept this dossier for processing, for the following reason:",
	.closing = "We inform you accordingly.",
	.sign = "RECEIVING OFFICIAL",
    },
};

struct apology_labels {
	const char *title;
	const char *to;
	const char *received1, *received2, *received3;
	const char *old_date;
	const char *late;
	const char *reason;
	const char *new_date;
	const char *thanks;
	const char *default_signer_title;
};

static const struct apology_labels apology_labels[NLANGS] = {
    {
	.title = "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
	.to = "Kính gửi: Ông/Bà ",
	.received1 = "Cơ quan chúng tôi đã tiếp nhận hồ sơ của Ông/Bà",
	.received2 = ", mã hồ sơ ",
	.received3 = ", nội dung yêu cầu giải quyết: ",
	.old_date = "Thời gian hẹn trả kết quả giải quyết hồ sơ: ",
	.late = "Tuy nhiên, đến nay cơ quan chúng tôi chưa trả kết quả giải quyết hồ sơ cho Ông/Bà "
		"đúng hạn như đã hẹn.",
	.reason = "Lý do: ",
	.new_date = "Sự chậm trễ này đã gây phiền hà cho Ông/Bà. Cơ quan chúng tôi thành thật xin lỗi "
		    "Ông/Bà và xin hẹn lại thời gian trả kết quả vào: ",
	.thanks = "Mong nhận được sự thông cảm của Ông/Bà. Xin trân trọng cảm ơn./.",
	.default_signer_title = "THỦ TRƯỞNG CƠ QUAN",
    },
    {
	.title = "APOLOGY AND NEW DATE FOR RESULTS",
	.to = "To: ",
	.received1 = "We received your dossier",
	.received2 = ", dossier code ",
	.received3 = ", request: ",
	.old_date = "Results were due: ",
	.late = "We regret that we have not returned the results of your dossier on the date promised.",
	.reason = "Reason: ",
	.new_date = "We sincerely apologise for the inconvenience this delay has caused you. The results "
		    "will be returned on: ",
	.thanks = "Thank you for your understanding.",
	.default_signer_title = "HEAD OF AGENCY",
    },
};

struct control_labels {
	const char *title;
	const char *with_receipt1, *with_receipt2;
	const char *applicant, *handling, *cooperating;
	const char *no, *from, *to, *time, *result, *signature;
};

static const struct control_labels control_labels[NLANGS] = {
    {
	.title = "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
	.with_receipt1 = "(Kèm theo Giấy tiếp nhận hồ sơ và hẹn trả kết quả số: ",
	.with_receipt2 = ")",
	.applicant = "Người nộp hồ sơ: ",
	.handling = "Cơ quan (bộ phận) giải quyết hồ sơ: ",
	.cooperating = "Cơ quan phối hợp giải quyết hồ sơ: ",
	.no = "STT",
	.from = "Bên giao",
	.to = "Bên nhận",
	.time = "Thời gian giao, nhận hồ sơ",
	.result = "Kết quả giải quyết (trước hạn/ đúng hạn/ quá hạn)",
	.signature = "Ký nhận",
    },
    {
	.title = "DOSSIER PROCESSING CONTROL SLIP",
	.with_receipt1 = "(Attached to dossier receipt no. ",
	.with_receipt2 = ")",
	.applicant = "Applicant: ",
	.handling = "Handling agency (unit): ",
	.cooperating = "Cooperating agencies: ",
	.no = "No.",
	.from = "Handed over by",
	.to = "Received by",
	.time = "Time of hand-over",
	.result = "Result (early/ on time/ late)",
	.signature = "Signature",
    },
};

struct fee_labels {
	const char *title, *subtitle;
	const char *symbol;
	const char *payer, *description, *amount, *currency, *words1, *words2;
	const char *method, *transaction, *paid_at, *collector;
	const char *qr_caption;
};

static const struct fee_labels fee_labels[NLANGS] = {
    {
	.title = "BIÊN LAI THU PHÍ, LỆ PHÍ",
	.subtitle = "(Biên lai điện tử)",
	.symbol = "Ký hiệu: ",
	.payer = "Họ tên người nộp: ",
	.description = "Nội dung thu: ",
	.amount = "Số tiền: ",
	.currency = " đồng",
	.words1 = "(Viết bằng chữ: ",
	.words2 = ")",
	.method = "Hình thức thanh toán: ",
	.transaction = "Mã giao dịch: ",
	.paid_at = "Thời gian thanh toán: ",
	.collector = "Đơn vị thu: ",
	.qr_caption = "Quét mã QR để tra cứu và xác thực biên lai này.",
    },
    {
	.title = "RECEIPT OF FEES AND CHARGES",
	.subtitle = "(Electronic receipt)",
	.symbol = "Series: ",
	.payer = "Paid by: ",
	.description = "Description: ",
	.amount = "Amount: ",
	.currency = " VND",
	.words1 = NULL, /* amounts in words are written in Vietnamese only */
	.words2 = NULL,
	.method = "Payment method: ",
	.transaction = "Transaction ID: ",
	.paid_at = "Paid at: ",
	.collector = "Collected by: ",
	.qr_caption = "Scan the QR code to look up and verify this receipt.",
    },
};

/* ---- look: sizes per paper (Decree 30/2020 sizes on A4, scaled for A5) ---- */

struct look {
	enum pdf_paper paper;
	double head; /* agency block and motto */
	double body;
	double small; /* notes, captions, table text */
	double title;
	double sign_gap; /* room for a handwritten signature */
	double qr;	 /* side of the QR code with its quiet zone */
	double leading;
};

static const struct look look_a4 = {PDF_A4, 12.5, 13, 11, 14, 60, PDF_MM(30), 1.3};
static const struct look look_a5 = {PDF_A5, 9.5, 10, 8.5, 11.5, 36, PDF_MM(26), 1.25};

/* ---- validation ---- */

static bool blank(const char *s)
{
	return !s || !*s;
}

static void need(struct err *e, int *bad, const char *field, const char *v)
{
	if (blank(v)) {
		err_field(e, field, "required");
		(*bad)++;
	}
}

static int invalid(struct err *e)
{
	err_fields_done(e);
	return ERR_INVALID;
}

/* ---- building blocks ---- */

static int form_open(struct pdf **p, const struct look *k, const char *title, struct err *e)
{
	struct pdf_opts o = {.paper = k->paper, .title = title};
	int rc = pdf_open(p, &o, e);
	if (rc)
		return rc;
	pdf_font(*p, PDF_REGULAR, k->body);
	pdf_leading(*p, k->leading);
	return 0;
}

static int form_close(struct pdf *p, struct buf *out, struct err *e)
{
	int rc = pdf_finish(p, out, e);
	pdf_free(p);
	return rc;
}

/* Agency block (left) and national motto (right), then "Số:" and the place
 * and date on the line below, as at the top of every administrative paper. */
static void draw_head(struct pdf *p, const struct look *k, const struct form_head *h, const struct common_labels *L)
{
	double x, w;
	pdf_content_box(p, &x, NULL, &w, NULL);
	double gut = 5, lw = w * 0.4 - gut, rw = w * 0.6 - gut, rx = x + w * 0.4 + gut, top = pdf_y(p);

	pdf_column(p, x, lw);
	if (!blank(h->parent_agency)) {
		pdf_font(p, PDF_REGULAR, k->head);
		pdf_text_fit(p, PDF_CENTER, k->head * 0.8, h->parent_agency);
	}
	pdf_font(p, PDF_BOLD, k->head);
	pdf_text_fit(p, PDF_CENTER, k->head * 0.85, h->agency);
	pdf_skip(p, 2);
	pdf_rule(p, PDF_CENTER, lw / 3, 0.6);
	double left_end = pdf_y(p);

	pdf_column(p, rx, rw);
	pdf_set_y(p, top);
	pdf_font(p, PDF_BOLD, k->head);
	pdf_text_fit(p, PDF_CENTER, k->head * 0.7, L->motto1);
	double msize = k->head + 0.5;
	double mw = pdf_text_width(p, PDF_BOLD, msize, L->motto2);
	if (mw > rw) {
		msize *= rw / mw;
		mw = rw;
	}
	pdf_font(p, PDF_BOLD, msize);
	pdf_text(p, PDF_CENTER, L->motto2);
	pdf_skip(p, 1);
	pdf_rule(p, PDF_CENTER, mw, 0.6);
	double right_end = pdf_y(p);

	double y = (left_end > right_end ? left_end : right_end) + k->body * 0.5;
	pdf_set_y(p, y);
	if (!blank(h->number)) {
		pdf_column(p, x, lw);
		pdf_font(p, PDF_REGULAR, k->head);
		struct pdf_run r[] = {{PDF_REGULAR, L->number}, {PDF_REGULAR, h->number}};
		pdf_para(p, PDF_CENTER, 0, r, 2);
		left_end = pdf_y(p);
	} else {
		left_end = y;
	}
	if (!blank(h->place_date)) {
		pdf_column(p, rx, rw);
		pdf_set_y(p, y);
		pdf_font(p, PDF_ITALIC, k->head);
		pdf_text(p, PDF_CENTER, h->place_date);
		right_end = pdf_y(p);
	} else {
		right_end = y;
	}
	pdf_column(p, 0, 0);
	pdf_set_y(p, (left_end > right_end ? left_end : right_end) + k->body);
}

static void draw_title(struct pdf *p, const struct look *k, const char *title)
{
	pdf_font(p, PDF_BOLD, k->title);
	pdf_text(p, PDF_CENTER, title);
	pdf_font(p, PDF_REGULAR, k->body);
}

/* "Label: value" as one paragraph; nothing when the value is blank. */
static void field(struct pdf *p, const char *label, const char *value, enum pdf_style vs)
{
	if (blank(value))
		return;
	struct pdf_run r[] = {{PDF_REGULAR, label}, {vs, value}};
	pdf_para(p, PDF_LEFT, 0, r, 2);
}

static void person(struct pdf *p, const struct common_labels *L, const char *name_label, const struct form_person *who)
{
	field(p, name_label, who->name, PDF_BOLD);
	field(p, L->address, who->address, PDF_REGULAR);
	field(p, L->phone, who->phone, PDF_REGULAR);
	field(p, L->email, who->email, PDF_REGULAR);
}

/* One signature block: title, note, room to sign, name; in column [x, x+w). */
static double sign_block(struct pdf *p, const struct look *k, double x, double w, double top, const char *title,
			 const char *note, const char *name)
{
	pdf_column(p, x, w);
	pdf_set_y(p, top);
	pdf_font(p, PDF_BOLD, k->body);
	pdf_text(p, PDF_CENTER, title);
	pdf_font(p, PDF_ITALIC, k->small);
	pdf_text(p, PDF_CENTER, note);
	pdf_skip(p, k->sign_gap);
	if (!blank(name)) {
		pdf_font(p, PDF_BOLD, k->body);
		pdf_text(p, PDF_CENTER, name);
	}
	return pdf_y(p);
}

/* Signature row: an optional block on the left half, one on the right half. */
static void signatures(struct pdf *p, const struct look *k, const char *ltitle, const char *lnote, const char *lname,
		       const char *rtitle, const char *rnote, const char *rname)
{
	double x, w;
	pdf_content_box(p, &x, NULL, &w, NULL);
	pdf_skip(p, k->body * 0.6);
	pdf_need(p, k->body * 2 * 1.3 + k->small * 1.3 + k->sign_gap + k->body * 1.3);
	double top = pdf_y(p), lend = top, rend;
	if (ltitle)
		lend = sign_block(p, k, x, w / 2, top, ltitle, lnote, lname);
	rend = sign_block(p, k, x + w / 2, w / 2, top, rtitle, rnote, rname);
	pdf_column(p, 0, 0);
	pdf_font(p, PDF_REGULAR, k->body);
	pdf_set_y(p, lend > rend ? lend : rend);
}

/* The QR code at the left margin with its caption (and the URL itself, for
 * whoever cannot scan) beside it. */
static void qr_block(struct pdf *p, const struct look *k, const char *url, const char *caption)
{
	if (blank(url))
		return;
	double x, w;
	pdf_content_box(p, &x, NULL, &w, NULL);
	pdf_skip(p, k->body * 0.5);
	pdf_need(p, k->qr);
	double top = pdf_y(p);
	pdf_qr(p, x, top, k->qr, url);
	double m = k->qr / 33; /* about one module: aligns the caption with the symbol */
	pdf_column(p, x + k->qr + 4, w - k->qr - 4);
	pdf_set_y(p, top + 3 * m);
	pdf_font(p, PDF_ITALIC, k->small);
	pdf_text(p, PDF_LEFT, caption);
	pdf_skip(p, 2);
	pdf_font(p, PDF_REGULAR, k->small * 0.85);
	pdf_text(p, PDF_LEFT, url);
	double end = pdf_y(p);
	pdf_column(p, 0, 0);
	pdf_font(p, PDF_REGULAR, k->body);
	pdf_set_y(p, end > top + k->qr ? end : top + k->qr);
}

/* "1. ", "2. "... for the numbered lines of a form. */
static const char *num(char *b, size_t cap, int *n, const char *label)
{
	snprintf(b, cap, "%d. %s", ++*n, label);
	return b;
}

/* ---- mẫu 01 ---- */

int forms_render_receipt(const struct form_receipt *f, const char *lang, struct buf *out, struct err *e)
{
	int bad = 0;
	char name[64];
	need(e, &bad, "head.agency", f->head.agency);
	need(e, &bad, "dossier_code", f->dossier_code);
	need(e, &bad, "applicant.name", f->applicant.name);
	need(e, &bad, "procedure", f->procedure);
	for (size_t i = 0; i < f->ndocs; i++) {
		snprintf(name, sizeof name, "docs[%zu].name", i);
		need(e, &bad, name, f->docs[i].name);
	}
	need(e, &bad, "received_at", f->received_at);
	need(e, &bad, "appointment", f->appointment);
	need(e, &bad, "return_place", f->return_place);
	need(e, &bad, "official", f->official);
	if (bad)
		return invalid(e);

	int li = lang_index(lang);
	const struct common_labels *C = &common_labels[li];
	const struct receipt_labels *L = &receipt_labels[li];
	const struct look *k = &look_a5;
	struct pdf *p;
	int rc = form_open(&p, k, L->title, e);
	if (rc)
		return rc;

	draw_head(p, k, &f->head, C);
	draw_title(p, k, L->title);
	struct pdf_run code[] = {{PDF_REGULAR, C->code}, {PDF_BOLD, f->dossier_code}};
	pdf_para(p, PDF_CENTER, 0, code, 2);
	pdf_skip(p, k->body * 0.6);

	person(p, C, L->from, &f->applicant);
	field(p, C->procedure, f->procedure, PDF_BOLD);

	int n = 0;
	char lb[160];
	if (f->ndocs) {
		pdf_text(p, PDF_LEFT, num(lb, sizeof lb, &n, L->docs));
		pdf_skip(p, 2);
		struct pdf_col cols[] = {
		    {L->doc_no, 0.9, PDF_CENTER}, {L->doc_name, 6, PDF_LEFT}, {L->doc_copies, 2.6, PDF_LEFT}};
		const char **cells = calloc(f->ndocs * 3, sizeof *cells);
		char(*nums)[24] = calloc(f->ndocs, sizeof *nums);
		if (!cells || !nums)
			abort();
		for (size_t i = 0; i < f->ndocs; i++) {
			snprintf(nums[i], sizeof nums[i], "%zu", i + 1);
			cells[i * 3] = nums[i];
			cells[i * 3 + 1] = f->docs[i].name;
			cells[i * 3 + 2] = f->docs[i].copies;
		}
		pdf_font(p, PDF_REGULAR, k->small);
		pdf_table(p, cols, 3, cells, f->ndocs);
		pdf_font(p, PDF_REGULAR, k->body);
		pdf_skip(p, 3);
		free(cells);
		free(nums);
	}
	if (!blank(f->processing_time)) {
		num(lb, sizeof lb, &n, L->processing_time);
		field(p, lb, f->processing_time, PDF_REGULAR);
	}
	field(p, num(lb, sizeof lb, &n, L->received_at), f->received_at, PDF_REGULAR);
	field(p, num(lb, sizeof lb, &n, L->appointment), f->appointment, PDF_BOLD);
	field(p, num(lb, sizeof lb, &n, L->return_place), f->return_place, PDF_REGULAR);

	signatures(p, k, L->sign_applicant, C->sign_note, f->applicant.name, L->sign_official, C->sign_note,
		   f->official);
	qr_block(p, k, f->qr_url, L->qr_caption);
	return form_close(p, out, e);
}

/* ---- mẫu 02 ---- */

int forms_render_supplement(const struct form_supplement *f, const char *lang, struct buf *out, struct err *e)
{
	int bad = 0;
	char name[64];
	need(e, &bad, "head.agency", f->head.agency);
	need(e, &bad, "dossier_code", f->dossier_code);
	need(e, &bad, "applicant.name", f->applicant.name);
	need(e, &bad, "procedure", f->procedure);
	if (f->nitems == 0) {
		err_field(e, "items", "at least one item is required");
		bad++;
	}
	for (size_t i = 0; i < f->nitems; i++) {
		snprintf(name, sizeof name, "items[%zu].what", i);
		need(e, &bad, name, f->items[i].what);
		snprintf(name, sizeof name, "items[%zu].why", i);
		need(e, &bad, name, f->items[i].why);
	}
	need(e, &bad, "official", f->official);
	if (bad)
		return invalid(e);

	int li = lang_index(lang);
	const struct common_labels *C = &common_labels[li];
	const struct supplement_labels *L = &supplement_labels[li];
	const struct look *k = &look_a4;
	struct pdf *p;
	int rc = form_open(&p, k, L->title, e);
	if (rc)
		return rc;

	draw_head(p, k, &f->head, C);
	draw_title(p, k, L->title);
	struct pdf_run code[] = {{PDF_REGULAR, C->code}, {PDF_BOLD, f->dossier_code}};
	pdf_para(p, PDF_CENTER, 0, code, 2);
	pdf_skip(p, k->body * 0.8);

	person(p, C, L->of, &f->applicant);
	field(p, C->procedure, f->procedure, PDF_BOLD);
	pdf_skip(p, 3);
	pdf_text(p, PDF_JUSTIFY, L->intro);
	pdf_skip(p, 3);

	struct pdf_col cols[] = {{L->no, 0.8, PDF_CENTER}, {L->what, 5, PDF_LEFT}, {L->why, 5, PDF_LEFT}};
	const char **cells = calloc(f->nitems * 3, sizeof *cells);
	char(*nums)[24] = calloc(f->nitems, sizeof *nums);
	if (!cells || !nums)
		abort();
	for (size_t i = 0; i < f->nitems; i++) {
		snprintf(nums[i], sizeof nums[i], "%zu", i + 1);
		cells[i * 3] = nums[i];
		cells[i * 3 + 1] = f->items[i].what;
		cells[i * 3 + 2] = f->items[i].why;
	}
	pdf_font(p, PDF_REGULAR, k->body - 1);
	pdf_table(p, cols, 3, cells, f->nitems);
	pdf_font(p, PDF_REGULAR, k->body);
	free(cells);
	free(nums);
	pdf_skip(p, k->body * 0.6);

	if (!blank(f->contact)) {
		struct pdf_run r[] = {{PDF_REGULAR, L->contact1}, {PDF_BOLD, f->contact}, {PDF_REGULAR, L->contact2}};
		pdf_para(p, PDF_JUSTIFY, 0, r, 3);
	}
	signatures(p, k, NULL, NULL, NULL, L->sign, C->sign_note, f->official);
	return form_close(p, out, e);
}

/* ---- mẫu 03 ---- */

int forms_render_refusal(const struct form_refusal *f, const char *lang, struct buf *out, struct err *e)
{
	int bad = 0;
	need(e, &bad, "head.agency", f->head.agency);
	need(e, &bad, "applicant.name", f->applicant.name);
	need(e, &bad, "procedure", f->procedure);
	need(e, &bad, "reason", f->reason);
	need(e, &bad, "official", f->official);
	if (bad)
		return invalid(e);

	int li = lang_index(lang);
	const struct common_labels *C = &common_labels[li];
	const struct refusal_labels *L = &refusal_labels[li];
	const struct look *k = &look_a4;
	struct pdf *p;
	int rc = form_open(&p, k, L->title, e);
	if (rc)
		return rc;

	draw_head(p, k, &f->head, C);
	draw_title(p, k, L->title);
	if (!blank(f->dossier_code)) {
		struct pdf_run code[] = {{PDF_REGULAR, C->code}, {PDF_BOLD, f->dossier_code}};
		pdf_para(p, PDF_CENTER, 0, code, 2);
	}
	pdf_skip(p, k->body * 0.8);

	person(p, C, L->from, &f->applicant);
	field(p, C->procedure, f->procedure, PDF_BOLD);
	pdf_skip(p, 3);
	pdf_text(p, PDF_JUSTIFY, L->intro);
	pdf_skip(p, 2);
	pdf_font(p, PDF_BOLD, k->body);
	pdf_text(p, PDF_JUSTIFY, f->reason);
	pdf_font(p, PDF_REGULAR, k->body);
	pdf_skip(p, 3);
	pdf_text(p, PDF_JUSTIFY, L->closing);

	signatures(p, k, NULL, NULL, NULL, L->sign, C->sign_note, f->official);
	return form_close(p, out, e);
}

/* ---- mẫu 04 ---- */

int forms_render_apology(const struct form_apology *f, const char *lang, struct buf *out, struct err *e)
{
	int bad = 0;
	need(e, &bad, "head.agency", f->head.agency);
	need(e, &bad, "dossier_code", f->dossier_code);
	need(e, &bad, "applicant.name", f->applicant.name);
	need(e, &bad, "procedure", f->procedure);
	need(e, &bad, "old_date", f->old_date);
	need(e, &bad, "new_date", f->new_date);
	need(e, &bad, "reason", f->reason);
	if (bad)
		return invalid(e);

	int li = lang_index(lang);
	const struct common_labels *C = &common_labels[li];
	const struct apology_labels *L = &apology_labels[li];
	const struct look *k = &look_a4;
	struct pdf *p;
	int rc = form_open(&p, k, L->title, e);
	if (rc)
		return rc;

	draw_head(p, k, &f->head, C);
	draw_title(p, k, L->title);
	pdf_skip(p, k->body * 0.8);

	struct pdf_run to[] = {{PDF_REGULAR, L->to}, {PDF_BOLD, f->applicant.name}};
	pdf_para(p, PDF_CENTER, 0, to, 2);
	pdf_skip(p, k->body * 0.5);
	field(p, C->address, f->applicant.address, PDF_REGULAR);
	field(p, C->phone, f->applicant.phone, PDF_REGULAR);
	field(p, C->email, f->applicant.email, PDF_REGULAR);
	pdf_skip(p, 3);

	struct buf when = BUF_INIT;
	if (!blank(f->received_at)) {
		buf_putc(&when, ' ');
		buf_puts(&when, f->received_at);
	}
	struct pdf_run recv[] = {{PDF_REGULAR, L->received1}, {PDF_REGULAR, buf_cstr(&when)},
				 {PDF_REGULAR, L->received2}, {PDF_BOLD, f->dossier_code},
				 {PDF_REGULAR, L->received3}, {PDF_BOLD, f->procedure},
				 {PDF_REGULAR, "."}};
	pdf_para(p, PDF_JUSTIFY, 0, recv, sizeof recv / sizeof recv[0]);
	buf_free(&when);
	field(p, L->old_date, f->old_date, PDF_REGULAR);
	pdf_skip(p, 4);
	pdf_text(p, PDF_JUSTIFY, L->late);
	struct pdf_run why[] = {{PDF_REGULAR, L->reason}, {PDF_REGULAR, f->reason}};
	pdf_para(p, PDF_JUSTIFY, 0, why, 2);
	pdf_skip(p, 4);
	struct pdf_run nd[] = {{PDF_REGULAR, L->new_date}, {PDF_BOLD, f->new_date}, {PDF_REGULAR, "."}};
	pdf_para(p, PDF_JUSTIFY, 0, nd, 3);
	pdf_skip(p, 4);
	pdf_text(p, PDF_JUSTIFY, L->thanks);

	signatures(p, k, NULL, NULL, NULL, blank(f->signer_title) ? L->default_signer_title : f->signer_title,
		   C->sign_seal_note, f->signer);
	return form_close(p, out, e);
}

/* ---- mẫu 05 ---- */

int forms_render_control(const struct form_control *f, const char *lang, struct buf *out, struct err *e)
{
	int bad = 0;
	char name[64];
	need(e, &bad, "head.agency", f->head.agency);
	need(e, &bad, "dossier_code", f->dossier_code);
	for (size_t i = 0; i < f->nsteps; i++) {
		snprintf(name, sizeof name, "steps[%zu].from", i);
		need(e, &bad, name, f->steps[i].from);
		snprintf(name, sizeof name, "steps[%zu].to", i);
		need(e, &bad, name, f->steps[i].to);
		snprintf(name, sizeof name, "steps[%zu].time", i);
		need(e, &bad, name, f->steps[i].time);
	}
	if (bad)
		return invalid(e);

	int li = lang_index(lang);
	const struct common_labels *C = &common_labels[li];
	const struct control_labels *L = &control_labels[li];
	const struct look *k = &look_a4;
	struct pdf *p;
	int rc = form_open(&p, k, L->title, e);
	if (rc)
		return rc;

	draw_head(p, k, &f->head, C);
	draw_title(p, k, L->title);
	struct pdf_run code[] = {{PDF_REGULAR, C->code}, {PDF_BOLD, f->dossier_code}};
	pdf_para(p, PDF_CENTER, 0, code, 2);
	if (!blank(f->receipt_number)) {
		pdf_font(p, PDF_ITALIC, k->small);
		struct pdf_run r[] = {
		    {PDF_ITALIC, L->with_receipt1}, {PDF_ITALIC, f->receipt_number}, {PDF_ITALIC, L->with_receipt2}};
		pdf_para(p, PDF_CENTER, 0, r, 3);
		pdf_font(p, PDF_REGULAR, k->body);
	}
	pdf_skip(p, k->body * 0.8);

	field(p, L->applicant, f->applicant, PDF_BOLD);
	field(p, C->procedure, f->procedure, PDF_BOLD);
	field(p, L->handling, f->handling_agency, PDF_REGULAR);
	field(p, L->cooperating, f->cooperating_agencies, PDF_REGULAR);
	pdf_skip(p, k->body * 0.6);

	struct pdf_col cols[] = {{L->no, 1, PDF_CENTER},   {L->from, 3.2, PDF_LEFT},   {L->to, 3.2, PDF_LEFT},
				 {L->time, 2.6, PDF_LEFT}, {L->result, 2.4, PDF_LEFT}, {L->signature, 1.8, PDF_LEFT}};
	enum { NC = sizeof cols / sizeof cols[0] };
	const char **cells = calloc(f->nsteps * NC + 1, sizeof *cells);
	char(*nums)[24] = calloc(f->nsteps + 1, sizeof *nums);
	if (!cells || !nums)
		abort();
	for (size_t i = 0; i < f->nsteps; i++) {
		snprintf(nums[i], sizeof nums[i], "%zu", i + 1);
		const char **row = cells + i * NC;
		row[0] = nums[i];
		row[1] = f->steps[i].from;
		row[2] = f->steps[i].to;
		row[3] = f->steps[i].time;
		row[4] = f->steps[i].result;
		row[5] = "\n\n"; /* blank, tall enough to sign in */
	}
	pdf_font(p, PDF_REGULAR, k->small);
	pdf_table(p, cols, NC, cells, f->nsteps);
	pdf_font(p, PDF_REGULAR, k->body);
	free(cells);
	free(nums);
	return form_close(p, out, e);
}

/* ---- biên lai điện tử ---- */

void forms_format_vnd(int64_t amount, char *out, size_t cap)
{
	char digits[24], t[32];
	uint64_t v = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
	int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
	size_t j = 0;
	if (amount < 0)
		t[j++] = '-';
	for (int i = 0; i < nd; i++) {
		if (i && (nd - i) % 3 == 0)
			t[j++] = '.';
		t[j++] = digits[i];
	}
	t[j] = 0;
	if (cap)
		str_copy(out, cap, t);
}

static const char *const digit_words[] = {"không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"};

static void word(struct buf *b, const char *w)
{
	if (b->len && b->ptr[b->len - 1] != ' ')
		buf_putc(b, ' ');
	buf_puts(b, w);
}

/* 0 < n < 1000; full reads a zero hundreds digit ("không trăm"), as every
 * group after the first must be. */
static void words3(struct buf *b, unsigned n, bool full)
{
	unsigned h = n / 100, t = n / 10 % 10, u = n % 10;
	if (h || full) {
		word(b, digit_words[h]);
		word(b, "trăm");
	}
	if (t == 0 && u && (h || full))
		word(b, "linh");
	else if (t == 1)
		word(b, "mười");
	else if (t >= 2) {
		word(b, digit_words[t]);
		word(b, "mươi");
	}
	if (u == 1 && t >= 2)
		word(b, "mốt");
	else if (u == 5 && t >= 1)
		word(b, "lăm");
	else if (u)
		word(b, digit_words[u]);
}

static void words(struct buf *b, uint64_t n, bool full)
{
	if (n >= 1000000000u) {
		words(b, n / 1000000000u, full);
		word(b, "tỷ");
		n %= 1000000000u;
		full = true;
	}
	unsigned m = (unsigned)(n / 1000000), k = (unsigned)(n / 1000 % 1000), u = (unsigned)(n % 1000);
	if (m) {
		words3(b, m, full);
		word(b, "triệu");
		full = true;
	}
	if (k) {
		words3(b, k, full);
		word(b, "nghìn");
		full = true;
	}
	if (u)
		words3(b, u, full);
}

void forms_vnd_words(int64_t amount, struct buf *out)
{
	struct buf b = BUF_INIT;
	uint64_t v = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
	if (amount < 0)
		buf_puts(&b, "âm");
	if (v == 0)
		word(&b, "không");
	else
		words(&b, v, false);
	word(&b, "đồng");
	/* capitalise the first letter: "âm" starts with the 2-byte "â" (C3 A2 -> C3 82) */
	if ((unsigned char)b.ptr[0] < 0x80)
		b.ptr[0] = (char)toupper((unsigned char)b.ptr[0]);
	else if ((unsigned char)b.ptr[0] == 0xC3 && (unsigned char)b.ptr[1] == 0xA2)
		b.ptr[1] = (char)0x82;
	buf_append(out, b.ptr, b.len);
	buf_free(&b);
}

int forms_render_fee_receipt(const struct form_fee_receipt *f, const char *lang, struct buf *out, struct err *e)
{
	int bad = 0;
	need(e, &bad, "head.agency", f->head.agency);
	need(e, &bad, "payer", f->payer);
	need(e, &bad, "dossier_code", f->dossier_code);
	need(e, &bad, "description", f->description);
	need(e, &bad, "transaction_id", f->transaction_id);
	need(e, &bad, "paid_at", f->paid_at);
	if (f->amount_vnd < 0) {
		err_field(e, "amount_vnd", "must not be negative");
		bad++;
	}
	if (bad)
		return invalid(e);

	int li = lang_index(lang);
	const struct common_labels *C = &common_labels[li];
	const struct fee_labels *L = &fee_labels[li];
	const struct look *k = &look_a5;
	struct pdf *p;
	int rc = form_open(&p, k, L->title, e);
	if (rc)
		return rc;

	draw_head(p, k, &f->head, C);
	draw_title(p, k, L->title);
	pdf_font(p, PDF_ITALIC, k->small);
	pdf_text(p, PDF_CENTER, L->subtitle);
	if (!blank(f->symbol)) {
		pdf_font(p, PDF_REGULAR, k->small);
		struct pdf_run r[] = {{PDF_REGULAR, L->symbol}, {PDF_BOLD, f->symbol}};
		pdf_para(p, PDF_CENTER, 0, r, 2);
	}
	pdf_font(p, PDF_REGULAR, k->body);
	pdf_skip(p, k->body * 0.8);

	field(p, L->payer, f->payer, PDF_BOLD);
	field(p, C->address, f->payer_address, PDF_REGULAR);
	field(p, C->code, f->dossier_code, PDF_BOLD);
	field(p, L->description, f->description, PDF_REGULAR);
	char amount[40], digits[32];
	forms_format_vnd(f->amount_vnd, digits, sizeof digits);
	snprintf(amount, sizeof amount, "%s%s", digits, L->currency);
	field(p, L->amount, amount, PDF_BOLD);
	if (L->words1) {
		struct buf w = BUF_INIT;
		forms_vnd_words(f->amount_vnd, &w);
		pdf_font(p, PDF_ITALIC, k->body);
		struct pdf_run r[] = {{PDF_ITALIC, L->words1}, {PDF_ITALIC, buf_cstr(&w)}, {PDF_ITALIC, L->words2}};
		pdf_para(p, PDF_LEFT, 0, r, 3);
		pdf_font(p, PDF_REGULAR, k->body);
		buf_free(&w);
	}
	field(p, L->method, f->method, PDF_REGULAR);
	field(p, L->transaction, f->transaction_id, PDF_REGULAR);
	field(p, L->paid_at, f->paid_at, PDF_REGULAR);
	field(p, L->collector, f->collector, PDF_REGULAR);
	qr_block(p, k, f->qr_url, L->qr_caption);
	return form_close(p, out, e);
}
