/* forms.h: the printed slips of the one-stop shop, after the forms of Circular
 * 01/2018/TT-VPCP (mẫu 01 to 05), and the electronic fee receipt, rendered to
 * PDF (report/pdf.h). Each takes a plain struct of strings the caller has
 * already formatted (dates, times, names as they must print): no database,
 * no HTTP. Every form carries the national motto and the agency block at the
 * top, as official papers do (Decree 30/2020).
 *
 * lang: labels are Vietnamese unless lang is "en" (or starts "en-"/"en_"),
 * which prints English labels; the caller's strings print as given.
 *
 * Every render_* function appends the PDF to out and returns 0, or returns
 * ERR_INVALID (a required field missing: each one named with err_field, as
 * "applicant.name" or "docs[2].name"), ERR_UNAVAILABLE (no usable font: the
 * message names the file), ERR_INTERNAL (libhpdf failed); out is then left
 * as it was. Optional fields may be NULL or "" and are then left out.
 * Thread-safe: each call renders its own document. */
#ifndef TINHSO_FORMS_H
#define TINHSO_FORMS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Top of every form: left, the agency block; right, the national motto. */
struct form_head {
	const char *parent_agency; /* governing body, "UBND TỈNH HẢI DƯƠNG"; optional */
	const char *agency;	   /* issuing agency or unit, "SỞ TƯ PHÁP"; required */
	const char *number;	   /* the paper's number, printed "Số: ..."; optional */
	const char *place_date;	   /* "Hải Dương, ngày 14 tháng 3 năm 2025"; optional */
};

struct form_person {
	const char *name;    /* required */
	const char *address; /* optional, like the rest */
	const char *phone;
	const char *email;
};

/* Mẫu 01: Giấy tiếp nhận hồ sơ và hẹn trả kết quả (A5). */
struct form_doc {
	const char *name;   /* "Tờ khai đăng ký khai sinh"; required */
	const char *copies; /* "01 bản chính"; optional */
};
struct form_receipt {
	struct form_head head;
	const char *dossier_code; /* required */
	struct form_person applicant;
	const char *procedure; /* required: what is asked, "Đăng ký khai sinh" */
	const struct form_doc *docs;
	size_t ndocs;
	const char *processing_time; /* "05 ngày làm việc"; optional */
	const char *received_at;     /* required: "08 giờ 30 phút, ngày 14/03/2025" */
	const char *appointment;     /* required: when the result is due */
	const char *return_place;    /* required: where the result is handed over */
	const char *official;	     /* required: the receiving official */
	const char *qr_url;	     /* optional: the signed public lookup URL, as a QR code */
};
int forms_render_receipt(const struct form_receipt *f, const char *lang, struct buf *out, struct err *e);

/* Mẫu 02: Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (A4). */
struct form_supplement_item {
	const char *what; /* required: what to add or correct */
	const char *why;  /* required: the reason */
};
struct form_supplement {
	struct form_head head;
	const char *dossier_code; /* required */
	struct form_person applicant;
	const char *procedure;			  /* required */
	const struct form_supplement_item *items; /* at least one */
	size_t nitems;
	const char *contact;  /* optional: whom to ask, "Bộ phận Một cửa, điện thoại 0220 3852 123" */
	const char *official; /* required: the official who wrote the request */
};
int forms_render_supplement(const struct form_supplement *f, const char *lang, struct buf *out, struct err *e);

/* Mẫu 03: Phiếu từ chối tiếp nhận giải quyết hồ sơ (A4). */
struct form_refusal {
	struct form_head head;
	const char *dossier_code; /* optional: a refused dossier may have none */
	struct form_person applicant;
	const char *procedure; /* required */
	const char *reason;    /* required */
	const char *official;  /* required */
};
int forms_render_refusal(const struct form_refusal *f, const char *lang, struct buf *out, struct err *e);

/* Mẫu 04: Phiếu xin lỗi và hẹn lại ngày trả kết quả (A4). */
struct form_apology {
	struct form_head head;
	const char *dossier_code; /* required */
	struct form_person applicant;
	const char *procedure;	  /* required */
	const char *received_at;  /* optional */
	const char *old_date;	  /* required: the date first promised */
	const char *new_date;	  /* required: the new date */
	const char *reason;	  /* required: why it is late */
	const char *signer_title; /* optional: "GIÁM ĐỐC"; default "THỦ TRƯỞNG CƠ QUAN" */
	const char *signer;	  /* optional: the signatory's name */
};
int forms_render_apology(const struct form_apology *f, const char *lang, struct buf *out, struct err *e);

/* Mẫu 05: Phiếu kiểm soát quá trình giải quyết hồ sơ (A4): one table row per
 * hand-over, with a blank column for the signatures. */
struct form_control_step {
	const char *from;   /* required: who handed over ("Bộ phận Một cửa - Nguyễn Văn A") */
	const char *to;	    /* required: who received */
	const char *time;   /* required: when */
	const char *result; /* optional: "Đúng hạn", "Trước hạn", "Quá hạn", a status */
};
struct form_control {
	struct form_head head;
	const char *dossier_code;	  /* required */
	const char *receipt_number;	  /* optional: number of the mẫu 01 slip it goes with */
	const char *applicant;		  /* optional: applicant's name */
	const char *procedure;		  /* optional */
	const char *handling_agency;	  /* optional */
	const char *cooperating_agencies; /* optional */
	const struct form_control_step *steps;
	size_t nsteps;
};
int forms_render_control(const struct form_control *f, const char *lang, struct buf *out, struct err *e);

/* Biên lai điện tử: receipt of a fee paid for a dossier (A5). */
struct form_fee_receipt {
	struct form_head head;	    /* head.number: the receipt's number */
	const char *symbol;	    /* optional: the receipt series (ký hiệu) */
	const char *payer;	    /* required */
	const char *payer_address;  /* optional */
	const char *dossier_code;   /* required */
	const char *description;    /* required: "Lệ phí đăng ký khai sinh" */
	int64_t amount_vnd;	    /* >= 0; printed "50.000 đồng" and in words */
	const char *method;	    /* optional: "Thanh toán trực tuyến" */
	const char *transaction_id; /* required */
	const char *paid_at;	    /* required */
	const char *collector;	    /* optional: the collecting unit */
	const char *qr_url;	    /* optional: lookup URL, as a QR code */
};
int forms_render_fee_receipt(const struct form_fee_receipt *f, const char *lang, struct buf *out, struct err *e);

/* "1.250.000": dot thousands separators, a leading '-' when negative.
 * out >= 28 bytes is always enough; the text is cut to cap otherwise. */
void forms_format_vnd(int64_t amount, char *out, size_t cap);

/* Appends the amount in Vietnamese words with a capital first letter and
 * "đồng": 1250000 -> "Một triệu hai trăm năm mươi nghìn đồng",
 * 105 -> "Một trăm linh năm đồng", 21 -> "Hai mươi mốt đồng".
 * Negative amounts are written "Âm ...". */
void forms_vnd_words(int64_t amount, struct buf *out);

#endif
