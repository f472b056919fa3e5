/* test_forms.c: the PDF layout layer (report/pdf.h) and the one-stop-shop
 * forms (report/forms.h). Each form is rendered with Vietnamese data; when
 * poppler's pdftotext is installed the text is extracted again and the
 * Vietnamese strings must come back exactly (every mark in place), and when
 * pdftoppm is installed a rendered QR code is compared module by module with
 * libqrencode's matrix. PDFs go to a temporary directory, never the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <qrencode.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "report/forms.h"
#include "report/pdf.h"

static char tmpdir[256];
static bool have_pdftotext, have_pdftoppm;
static int file_seq;

static int setup_all(void **state)
{
	(void)state;
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/test_forms.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	have_pdftotext = system("command -v pdftotext >/dev/null 2>&1") == 0;
	have_pdftoppm = system("command -v pdftoppm >/dev/null 2>&1") == 0;
	return 0;
}

static int teardown_all(void **state)
{
	(void)state;
	if (getenv("TINHSO_KEEP_PDF")) {
		fprintf(stderr, "PDFs kept in %s\n", tmpdir);
		return 0;
	}
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static void assert_pdf(const struct buf *b)
{
	assert_true(b->len > 1000);
	assert_memory_equal(b->ptr, "%PDF-", 5);
	size_t n = b->len;
	while (n && (b->ptr[n - 1] == '\n' || b->ptr[n - 1] == '\r'))
		n--;
	assert_true(n >= 5);
	assert_memory_equal(b->ptr + n - 5, "%%EOF", 5);
}

static void write_file(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b->ptr, 1, b->len, f), b->len);
	assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(out, chunk, n);
	fclose(f);
}

/* Writes the PDF to the temp dir and returns its path (static storage). */
static const char *save_pdf(const char *name, const struct buf *pdf)
{
	static char path[400];
	snprintf(path, sizeof path, "%s/%02d-%s.pdf", tmpdir, ++file_seq, name);
	write_file(path, pdf);
	return path;
}

/* Text of the PDF by pdftotext, every run of white space made one space (so
 * that a phrase wrapped over two lines still matches). false without poppler. */
static bool pdf_text_of(const char *name, const struct buf *pdf, struct buf *text)
{
	const char *path = save_pdf(name, pdf);
	if (!have_pdftotext)
		return false;
	char txt[420], cmd[1000];
	snprintf(txt, sizeof txt, "%s.txt", path);
	/* stderr: poppler warns about libhpdf's ToUnicode CMap syntax, harmlessly */
	snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 '%s' '%s' 2>/dev/null", path, txt);
	assert_int_equal(system(cmd), 0);
	struct buf raw = BUF_INIT;
	read_file(txt, &raw);
	bool space = true;
	for (size_t i = 0; i < raw.len; i++) {
		char c = raw.ptr[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f') {
			if (!space)
				buf_putc(text, ' ');
			space = true;
		} else {
			buf_putc(text, c);
			space = false;
		}
	}
	buf_free(&raw);
	return true;
}

static void assert_has(const struct buf *text, const char *want)
{
	if (!strstr(text->ptr ? text->ptr : "", want))
		fail_msg("PDF text lacks \"%s\"; it was:\n%s", want, text->ptr ? text->ptr : "");
}

static void assert_lacks(const struct buf *text, const char *bad)
{
	if (strstr(text->ptr ? text->ptr : "", bad))
		fail_msg("PDF text has \"%s\"; it was:\n%s", bad, text->ptr);
}

static size_t count_of(const struct buf *text, const char *s)
{
	size_t n = 0, k = strlen(s);
	for (const char *p = text->ptr; p && (p = strstr(p, s)) != NULL; p += k)
		n++;
	return n;
}

static size_t page_count(const struct buf *pdf)
{
	/* libhpdf writes page dictionaries uncompressed: "/Type /Page" then a
	 * delimiter, where "/Type /Pages" continues with 's' */
	size_t n = 0;
	const char *key = "/Type /Page";
	size_t k = strlen(key);
	for (size_t i = 0; i + k < pdf->len; i++)
		if (memcmp(pdf->ptr + i, key, k) == 0 && pdf->ptr[i + k] != 's')
			n++;
	return n;
}

/* ---- sample data ---- */

static const struct form_head sample_head = {
    .parent_agency = "UBND THÀNH PHỐ HẢI DƯƠNG",
    .agency = "UBND PHƯỜNG TRẦN HƯNG ĐẠO",
    .number = "125/GTN",
    .place_date = "Hải Dương, ngày 14 tháng 3 năm 2025",
};

static const struct form_person sample_person = {
    .name = "Nguyễn Thị Hương",
    .address = "Số 18 phố Quang Trung, Phường Trần Hưng Đạo, thành phố Hải Dương",
    .phone = "0912 345 678",
    .email = "huong.nt@example.vn",
};

static const struct form_doc sample_docs[] = {
    {"Tờ khai đăng ký khai sinh", "01 bản chính"},
    {"Giấy chứng sinh", "01 bản chính"},
    {"Giấy chứng nhận kết hôn của cha, mẹ", "01 bản sao chứng thực"},
};

#define SAMPLE_URL "https://dichvucong.haiduong.gov.vn/tra-cuu?ma=000.00.30.H23-250314-0007&sig=0123456789abcdef"

static struct form_receipt sample_receipt(void)
{
	struct form_receipt r = {
	    .head = sample_head,
	    .dossier_code = "000.00.30.H23-250314-0007",
	    .applicant = sample_person,
	    .procedure = "Đăng ký khai sinh",
	    .docs = sample_docs,
	    .ndocs = 3,
	    .processing_time = "01 ngày làm việc",
	    .received_at = "08 giờ 30 phút, ngày 14/03/2025",
	    .appointment = "14 giờ 00 phút, ngày 17/03/2025",
	    .return_place = "Bộ phận Một cửa UBND phường Trần Hưng Đạo",
	    .official = "Phạm Văn Đức",
	    .qr_url = SAMPLE_URL,
	};
	return r;
}

/* ---- forms ---- */

static void test_receipt_vi(void **state)
{
	(void)state;
	struct form_receipt r = sample_receipt();
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_receipt(&r, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	assert_int_equal(page_count(&pdf), 1); /* the A5 slip stays on one sheet */
	if (pdf_text_of("receipt-vi", &pdf, &text)) {
		assert_has(&text, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM");
		assert_has(&text, "Độc lập - Tự do - Hạnh phúc");
		assert_has(&text, "UBND PHƯỜNG TRẦN HƯNG ĐẠO");
		assert_has(&text, "Hải Dương, ngày 14 tháng 3 năm 2025");
		assert_has(&text, "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ");
		assert_has(&text, "Mã hồ sơ: 000.00.30.H23-250314-0007");
		assert_has(&text, "Tiếp nhận hồ sơ của: Nguyễn Thị Hương");
		assert_has(&text, "Phường Trần Hưng Đạo, thành phố Hải Dương");
		assert_has(&text, "Nội dung yêu cầu giải quyết: Đăng ký khai sinh");
		assert_has(&text, "Giấy chứng nhận kết hôn của cha, mẹ");
		assert_has(&text, "01 bản sao chứng thực");
		assert_has(&text, "Thời gian trả kết quả giải quyết hồ sơ: 14 giờ 00 phút, ngày 17/03/2025");
		assert_has(&text, "Đăng ký nhận kết quả tại: Bộ phận Một cửa UBND phường Trần Hưng Đạo");
		assert_has(&text, "NGƯỜI TIẾP NHẬN HỒ SƠ");
		assert_has(&text, "Phạm Văn Đức");
		assert_has(&text, "Quét mã QR");
		assert_lacks(&text, "Dossier code");
	}
	buf_free(&pdf);
	buf_free(&text);
}

static void test_receipt_en(void **state)
{
	(void)state;
	struct form_receipt r = sample_receipt();
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_receipt(&r, "en-GB", &pdf, &e), 0);
	assert_pdf(&pdf);
	if (pdf_text_of("receipt-en", &pdf, &text)) {
		assert_has(&text, "SOCIALIST REPUBLIC OF VIETNAM");
		assert_has(&text, "Independence - Freedom - Happiness");
		assert_has(&text, "Dossier code: 000.00.30.H23-250314-0007");
		assert_has(&text, "Received from: Nguyễn Thị Hương");
		assert_has(&text, "RECEIVING OFFICIAL");
		assert_lacks(&text, "Mã hồ sơ");
		assert_lacks(&text, "CỘNG HÒA");
	}
	buf_free(&pdf);
	buf_free(&text);
}

static void test_receipt_optional_fields_left_out(void **state)
{
	(void)state;
	struct form_receipt r = sample_receipt();
	r.head.parent_agency = NULL;
	r.head.number = "";
	r.applicant.email = NULL;
	r.processing_time = NULL;
	r.docs = NULL;
	r.ndocs = 0;
	r.qr_url = NULL;
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_receipt(&r, NULL, &pdf, &e), 0);
	assert_pdf(&pdf);
	if (pdf_text_of("receipt-minimal", &pdf, &text)) {
		assert_has(&text, "Nguyễn Thị Hương");
		assert_lacks(&text, "Thư điện tử");
		assert_lacks(&text, "Số: ");
		assert_lacks(&text, "Quét mã QR");
		assert_lacks(&text, "Thành phần hồ sơ");
		/* numbering restarts at 1 when lines are left out */
		assert_has(&text, "1. Thời gian nhận hồ sơ");
	}
	buf_free(&pdf);
	buf_free(&text);
}

static void test_receipt_missing_fields(void **state)
{
	(void)state;
	struct form_receipt r = sample_receipt();
	struct form_doc docs[] = {{"Tờ khai", "01"}, {"", "01"}};
	r.applicant.name = NULL;
	r.docs = docs;
	r.ndocs = 2;
	r.official = "";
	struct buf pdf = BUF_INIT;
	buf_puts(&pdf, "keep");
	struct err e = {0};
	assert_int_equal(forms_render_receipt(&r, "vi", &pdf, &e), ERR_INVALID);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(e.nfields, 3);
	assert_string_equal(e.fields[0].name, "applicant.name");
	assert_string_equal(e.fields[1].name, "docs[1].name");
	assert_string_equal(e.fields[2].name, "official");
	assert_string_equal(buf_cstr(&pdf), "keep");
	/* without a struct err the answer is the same */
	assert_int_equal(forms_render_receipt(&r, "vi", &pdf, NULL), ERR_INVALID);
	buf_free(&pdf);
}

static void test_supplement(void **state)
{
	(void)state;
	struct form_supplement_item items[] = {
	    {"Bản sao Giấy chứng nhận kết hôn có chứng thực", "Bản đã nộp không có chứng thực"},
	    {"Ghi đủ quê quán của người mẹ trong tờ khai", "Mục quê quán để trống"},
	};
	struct form_supplement s = {
	    .head = sample_head,
	    .dossier_code = "000.00.30.H23-250314-0007",
	    .applicant = sample_person,
	    .procedure = "Đăng ký khai sinh",
	    .items = items,
	    .nitems = 2,
	    .contact = "Bộ phận Một cửa, điện thoại 0220 3852 123",
	    .official = "Phạm Văn Đức",
	};
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_supplement(&s, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	if (pdf_text_of("supplement-vi", &pdf, &text)) {
		assert_has(&text, "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ");
		assert_has(&text, "Hồ sơ của: Nguyễn Thị Hương");
		assert_has(&text, "Nội dung cần bổ sung, hoàn thiện");
		assert_has(&text, "Lý do");
		assert_has(&text, "Ghi đủ quê quán của người mẹ trong tờ khai");
		assert_has(&text, "Mục quê quán để trống");
		assert_has(&text, "Bộ phận Một cửa, điện thoại 0220 3852 123");
		assert_has(&text, "NGƯỜI HƯỚNG DẪN");
	}
	buf_free(&text);

	/* no item is an error, not an empty table */
	s.nitems = 0;
	buf_reset(&pdf);
	memset(&e, 0, sizeof e);
	assert_int_equal(forms_render_supplement(&s, "vi", &pdf, &e), ERR_INVALID);
	assert_string_equal(e.fields[0].name, "items");
	assert_int_equal(pdf.len, 0);
	buf_free(&pdf);
}

static void test_refusal(void **state)
{
	(void)state;
	struct form_refusal f = {
	    .head = sample_head,
	    .applicant = sample_person,
	    .procedure = "Đăng ký khai sinh",
	    .reason = "Việc khai sinh đã được đăng ký tại Ủy ban nhân dân xã Thượng Đạt ngày 02/3/2025.",
	    .official = "Phạm Văn Đức",
	};
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_refusal(&f, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	if (pdf_text_of("refusal-vi", &pdf, &text)) {
		assert_has(&text, "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ");
		assert_has(&text, "Tiếp nhận hồ sơ của: Nguyễn Thị Hương");
		assert_has(&text, "Ủy ban nhân dân xã Thượng Đạt ngày 02/3/2025");
		assert_has(&text, "được biết và thực hiện");
		assert_lacks(&text, "Mã hồ sơ"); /* no code given */
	}
	buf_free(&pdf);
	buf_free(&text);
}

static void test_apology(void **state)
{
	(void)state;
	struct form_apology a = {
	    .head = sample_head,
	    .dossier_code = "000.00.30.H23-250314-0007",
	    .applicant = sample_person,
	    .procedure = "Đăng ký khai sinh",
	    .received_at = "ngày 14/03/2025",
	    .old_date = "ngày 17/03/2025",
	    .new_date = "ngày 19/03/2025",
	    .reason = "Cần xác minh nơi cư trú của người mẹ với xã Thượng Đạt.",
	    .signer_title = "CHỦ TỊCH",
	    .signer = "Trần Quốc Vượng",
	};
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_apology(&a, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	if (pdf_text_of("apology-vi", &pdf, &text)) {
		assert_has(&text, "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ");
		assert_has(&text, "Kính gửi: Ông/Bà Nguyễn Thị Hương");
		assert_has(&text, "ngày 17/03/2025");
		assert_has(&text, "ngày 19/03/2025");
		assert_has(&text, "Lý do: Cần xác minh nơi cư trú của người mẹ với xã Thượng Đạt.");
		assert_has(&text, "CHỦ TỊCH");
		assert_has(&text, "Trần Quốc Vượng");
	}
	buf_free(&text);

	/* without a signer title the default one prints */
	a.signer_title = NULL;
	buf_reset(&pdf);
	assert_int_equal(forms_render_apology(&a, "vi", &pdf, &e), 0);
	if (pdf_text_of("apology-default-signer", &pdf, &text))
		assert_has(&text, "THỦ TRƯỞNG CƠ QUAN");
	buf_free(&pdf);
	buf_free(&text);
}

static void test_control(void **state)
{
	(void)state;
	struct form_control_step steps[] = {
	    {"Bộ phận Một cửa - Phạm Văn Đức", "Công chức Tư pháp - Hộ tịch - Lê Thị Ánh",
	     "09 giờ 10 phút, ngày 14/03/2025", "Trước hạn"},
	    {"Công chức Tư pháp - Hộ tịch - Lê Thị Ánh", "Chủ tịch UBND phường - Trần Quốc Vượng",
	     "15 giờ 45 phút, ngày 14/03/2025", "Đúng hạn"},
	    {"Chủ tịch UBND phường - Trần Quốc Vượng", "Bộ phận Một cửa - Phạm Văn Đức",
	     "08 giờ 05 phút, ngày 17/03/2025", NULL},
	};
	struct form_control c = {
	    .head = sample_head,
	    .dossier_code = "000.00.30.H23-250314-0007",
	    .receipt_number = "125/GTN",
	    .applicant = "Nguyễn Thị Hương",
	    .procedure = "Đăng ký khai sinh",
	    .handling_agency = "UBND phường Trần Hưng Đạo",
	    .steps = steps,
	    .nsteps = 3,
	};
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_control(&c, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	assert_int_equal(page_count(&pdf), 1);
	if (pdf_text_of("control-vi", &pdf, &text)) {
		assert_has(&text, "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ");
		assert_has(&text, "Kèm theo Giấy tiếp nhận hồ sơ và hẹn trả kết quả số: 125/GTN");
		assert_has(&text, "Bên giao");
		assert_has(&text, "Ký nhận");
		/* pdftotext reads a table row across its cells: only phrases
		 * that stay on one line of a cell are compared */
		assert_has(&text, "Trước hạn");
		assert_has(&text, "Đúng hạn");
		assert_has(&text, "Phạm Văn Đức");
		assert_has(&text, "15 giờ 45 phút,");
		assert_lacks(&text, "Cơ quan phối hợp"); /* not given */
	}
	buf_free(&text);

	/* many steps: the table runs over pages and repeats its header */
	enum { N = 45 };
	struct form_control_step many[N];
	for (int i = 0; i < N; i++)
		many[i] = steps[i % 3];
	c.steps = many;
	c.nsteps = N;
	buf_reset(&pdf);
	assert_int_equal(forms_render_control(&c, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	size_t pages = page_count(&pdf);
	assert_true(pages >= 3);
	if (pdf_text_of("control-long", &pdf, &text)) {
		assert_int_equal(count_of(&text, "Bên nhận"), pages);
		assert_has(&text, "45");
	}
	buf_free(&pdf);
	buf_free(&text);
}

static void test_fee_receipt(void **state)
{
	(void)state;
	struct form_fee_receipt f = {
	    .head = {.parent_agency = "UBND TỈNH HẢI DƯƠNG", .agency = "SỞ TƯ PHÁP", .number = "0000123"},
	    .symbol = "BLĐT-25E",
	    .payer = "Nguyễn Thị Hương",
	    .payer_address = "Phường Trần Hưng Đạo, thành phố Hải Dương",
	    .dossier_code = "000.00.30.H23-250314-0007",
	    .description = "Lệ phí cấp bản sao trích lục hộ tịch",
	    .amount_vnd = 1250000,
	    .method = "Thanh toán trực tuyến",
	    .transaction_id = "PAYGOV-20250314-889123",
	    .paid_at = "09 giờ 12 phút, ngày 14/03/2025",
	    .collector = "Sở Tư pháp tỉnh Hải Dương",
	    .qr_url = SAMPLE_URL,
	};
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	struct err e = {0};
	assert_int_equal(forms_render_fee_receipt(&f, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	if (pdf_text_of("fee-vi", &pdf, &text)) {
		assert_has(&text, "BIÊN LAI THU PHÍ, LỆ PHÍ");
		assert_has(&text, "Biên lai điện tử");
		assert_has(&text, "Ký hiệu: BLĐT-25E");
		assert_has(&text, "Họ tên người nộp: Nguyễn Thị Hương");
		assert_has(&text, "Số tiền: 1.250.000 đồng");
		assert_has(&text, "Một triệu hai trăm năm mươi nghìn đồng");
		assert_has(&text, "Mã giao dịch: PAYGOV-20250314-889123");
	}
	buf_free(&text);

	buf_reset(&pdf);
	assert_int_equal(forms_render_fee_receipt(&f, "en", &pdf, &e), 0);
	if (pdf_text_of("fee-en", &pdf, &text)) {
		assert_has(&text, "Amount: 1.250.000 VND");
		assert_has(&text, "Transaction ID: PAYGOV-20250314-889123");
		assert_lacks(&text, "Một triệu");
	}
	buf_free(&text);

	f.amount_vnd = -1;
	f.transaction_id = NULL;
	buf_reset(&pdf);
	memset(&e, 0, sizeof e);
	assert_int_equal(forms_render_fee_receipt(&f, "vi", &pdf, &e), ERR_INVALID);
	assert_int_equal(e.nfields, 2);
	assert_string_equal(e.fields[0].name, "transaction_id");
	assert_string_equal(e.fields[1].name, "amount_vnd");
	buf_free(&pdf);
}

/* ---- amounts ---- */

static void test_format_vnd(void **state)
{
	(void)state;
	char b[32];
	static const struct {
		int64_t v;
		const char *want;
	} cases[] = {
	    {0, "0"},
	    {7, "7"},
	    {999, "999"},
	    {1000, "1.000"},
	    {50000, "50.000"},
	    {1250000, "1.250.000"},
	    {-5000, "-5.000"},
	    {INT64_MAX, "9.223.372.036.854.775.807"},
	    {INT64_MIN, "-9.223.372.036.854.775.808"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		forms_format_vnd(cases[i].v, b, sizeof b);
		assert_string_equal(b, cases[i].want);
	}
	forms_format_vnd(1250000, b, 4); /* cut, still terminated */
	assert_string_equal(b, "1.2");
}

static void test_vnd_words(void **state)
{
	(void)state;
	static const struct {
		int64_t v;
		const char *want;
	} cases[] = {
	    {0, "Không đồng"},
	    {5, "Năm đồng"},
	    {10, "Mười đồng"},
	    {11, "Mười một đồng"},
	    {15, "Mười lăm đồng"},
	    {21, "Hai mươi mốt đồng"},
	    {24, "Hai mươi bốn đồng"},
	    {25, "Hai mươi lăm đồng"},
	    {105, "Một trăm linh năm đồng"},
	    {110, "Một trăm mười đồng"},
	    {1000, "Một nghìn đồng"},
	    {50000, "Năm mươi nghìn đồng"},
	    {1250000, "Một triệu hai trăm năm mươi nghìn đồng"},
	    {2005000, "Hai triệu không trăm linh năm nghìn đồng"},
	    {1000005, "Một triệu không trăm linh năm đồng"},
	    {1000000000, "Một tỷ đồng"},
	    {3000000021, "Ba tỷ không trăm hai mươi mốt đồng"},
	    {-15000, "Âm mười lăm nghìn đồng"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		forms_vnd_words(cases[i].v, &b);
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_free(&b);
	}
}

/* ---- the layout layer ---- */

static void test_text_is_cleaned(void **state)
{
	(void)state;
	struct pdf *p;
	struct err e = {0};
	assert_int_equal(pdf_open(&p, NULL, &e), 0);
	/* decomposed marks (ê + tilde, o + dot below + horn in the wrong order,
	 * a + breve + acute) print as the precomposed letters */
	pdf_text(p, PDF_LEFT,
		 "NFD: Nguye\xcc\x82\xcc\x83"
		 "n Ho\xcc\xa3\xcc\x9b"
		 "i ta\xcc\x86\xcc\x81"
		 "c.");
	/* an invalid byte, an emoji and a control character do not break anything */
	pdf_text(p, PDF_LEFT, "Bad: x\xff y \xf0\x9f\x98\x80 z\x01w.");
	/* one very long word wraps inside itself */
	struct buf longw = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_puts(&longw, "ĐƯỜNG");
	pdf_text(p, PDF_JUSTIFY, buf_cstr(&longw));
	/* nothing, and empty things, are fine */
	pdf_text(p, PDF_CENTER, NULL);
	pdf_text(p, PDF_CENTER, "");
	pdf_table(p, NULL, 0, NULL, 0);
	assert_int_equal(pdf_status(p), 0);
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	assert_int_equal(pdf_finish(p, &pdf, &e), 0);
	pdf_free(p);
	assert_pdf(&pdf);
	if (pdf_text_of("cleaned", &pdf, &text)) {
		assert_has(&text, "NFD: Nguyễn Hợi tắc.");
		assert_has(&text, "Bad: x? y ? zw.");
		/* the word was cut at line ends: count it with the breaks removed */
		struct buf joined = BUF_INIT;
		for (const char *c = text.ptr; *c; c++)
			if (*c != ' ')
				buf_putc(&joined, *c);
		assert_int_equal(count_of(&joined, "ĐƯỜNG"), 300);
		buf_free(&joined);
	}
	buf_free(&longw);
	buf_free(&pdf);
	buf_free(&text);
}

static void test_every_vietnamese_letter(void **state)
{
	(void)state;
	static const char *letters[] = {
	    "ắ ằ ẳ ẵ ặ ấ ầ ẩ ẫ ậ ế ề ể ễ ệ ố ồ ổ ỗ ộ ớ ờ ở ỡ ợ ứ ừ ử ữ ự ỳ ý ỷ ỹ ỵ Đ đ",
	    "Ắ Ằ Ẳ Ẵ Ặ Ấ Ầ Ẩ Ẫ Ậ Ế Ề Ể Ễ Ệ Ố Ồ Ổ Ỗ Ộ Ớ Ờ Ở Ỡ Ợ Ứ Ừ Ử Ữ Ự Ỳ Ý Ỷ Ỹ Ỵ",
	};
	struct pdf *p;
	struct err e = {0};
	assert_int_equal(pdf_open(&p, NULL, &e), 0);
	for (int s = 0; s < PDF_NSTYLES; s++) {
		pdf_font(p, (enum pdf_style)s, 12);
		for (size_t i = 0; i < 2; i++)
			pdf_text(p, PDF_LEFT, letters[i]);
	}
	struct buf pdf = BUF_INIT, text = BUF_INIT;
	assert_int_equal(pdf_finish(p, &pdf, &e), 0);
	pdf_free(p);
	if (pdf_text_of("letters", &pdf, &text)) {
		/* pdftotext drops the spaces between single letters: compare letters */
		for (size_t i = 0; i < 2; i++) {
			struct buf want = BUF_INIT;
			for (const char *c = letters[i]; *c; c++)
				if (*c != ' ')
					buf_putc(&want, *c);
			struct buf got = BUF_INIT;
			for (const char *c = text.ptr; *c; c++)
				if (*c != ' ')
					buf_putc(&got, *c);
			assert_int_equal(count_of(&got, buf_cstr(&want)), PDF_NSTYLES);
			buf_free(&want);
			buf_free(&got);
		}
	}
	buf_free(&pdf);
	buf_free(&text);
}

static void test_missing_font(void **state)
{
	(void)state;
	struct pdf_fonts none = {"/nonexistent/tinhso/Missing-Regular.ttf", "/nonexistent/tinhso/Missing-Bold.ttf",
				 "/nonexistent/tinhso/Missing-Italic.ttf"};
	struct pdf_opts o = {.paper = PDF_A4, .fonts = &none};
	static char sentinel;
	struct pdf *p = (struct pdf *)(void *)&sentinel; /* pdf_open must clear it */
	struct err e = {0};
	assert_int_equal(pdf_open(&p, &o, &e), ERR_UNAVAILABLE);
	assert_null(p);
	assert_non_null(strstr(e.msg, "/nonexistent/tinhso/Missing-Regular.ttf"));

	/* the process-wide setting reaches the forms */
	pdf_set_fonts(&none);
	struct form_receipt r = sample_receipt();
	struct buf pdf = BUF_INIT;
	memset(&e, 0, sizeof e);
	assert_int_equal(forms_render_receipt(&r, "vi", &pdf, &e), ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "Missing-Regular.ttf"));
	assert_int_equal(pdf.len, 0);
	pdf_set_fonts(NULL);
	assert_int_equal(forms_render_receipt(&r, "vi", &pdf, &e), 0);
	assert_pdf(&pdf);
	buf_free(&pdf);
}

static void test_font_without_vietnamese(void **state)
{
	(void)state;
	const char *thai = "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf";
	if (access(thai, R_OK) != 0)
		skip();
	struct pdf_fonts f = {thai, thai, thai};
	struct pdf_opts o = {.paper = PDF_A5, .fonts = &f};
	struct pdf *p;
	struct err e = {0};
	assert_int_equal(pdf_open(&p, &o, &e), 0);
	pdf_text(p, PDF_LEFT, "Nguyễn Thị Hương");
	assert_int_equal(pdf_status(p), ERR_UNAVAILABLE);
	struct buf pdf = BUF_INIT;
	assert_int_equal(pdf_finish(p, &pdf, &e), ERR_UNAVAILABLE);
	pdf_free(p);
	assert_non_null(strstr(e.msg, "NotoSansThai-Regular.ttf"));
	assert_non_null(strstr(e.msg, "Vietnamese"));
	assert_int_equal(pdf.len, 0);
}

/* Reads a binary PGM (P5, maxval 255) as written by pdftoppm -gray. */
static unsigned char *read_pgm(const char *path, int *w, int *h)
{
	struct buf b = BUF_INIT;
	read_file(path, &b);
	int maxval = 0, off = 0;
	if (sscanf(b.ptr, "P5 %d %d %d%n", w, h, &maxval, &off) != 3 || maxval != 255)
		fail_msg("bad PGM %s", path);
	off++; /* the single white space after maxval */
	assert_true((size_t)off + (size_t)*w * (size_t)*h <= b.len);
	unsigned char *px = malloc((size_t)*w * (size_t)*h);
	assert_non_null(px);
	memcpy(px, b.ptr + off, (size_t)*w * (size_t)*h);
	buf_free(&b);
	return px;
}

static void test_qr_matches_encoder(void **state)
{
	(void)state;
	const char *data = SAMPLE_URL;
	QRcode *q = QRcode_encodeString(data, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	assert_non_null(q);
	int n = q->width;
	/* 6 points per module at 72 dpi is 6 pixels: centres are unambiguous */
	double module = 6, size = module * (n + 8), x0 = 60, y0 = 90;
	struct pdf *p;
	struct err e = {0};
	assert_int_equal(pdf_open(&p, NULL, &e), 0);
	pdf_qr(p, x0, y0, size, data);
	struct buf pdf = BUF_INIT;
	assert_int_equal(pdf_finish(p, &pdf, &e), 0);
	pdf_free(p);
	const char *path = save_pdf("qr", &pdf);
	if (have_pdftoppm) {
		char cmd[1000], pgm[420];
		snprintf(pgm, sizeof pgm, "%s-qr", path);
		snprintf(cmd, sizeof cmd, "pdftoppm -r 72 -gray -singlefile '%s' '%s' 2>/dev/null", path, pgm);
		assert_int_equal(system(cmd), 0);
		size_t l = strlen(pgm);
		snprintf(pgm + l, sizeof pgm - l, ".pgm");
		int w, h;
		unsigned char *px = read_pgm(pgm, &w, &h);
		int bad = 0;
		/* quiet zone and modules: the module centres, all of them */
		for (int r = -4; r < n + 4; r++)
			for (int c = -4; c < n + 4; c++) {
				int cx = (int)(x0 + (c + 4.5) * module), cy = (int)(y0 + (r + 4.5) * module);
				assert_true(cx < w && cy < h);
				bool dark = px[cy * w + cx] < 128;
				bool want = r >= 0 && r < n && c >= 0 && c < n && (q->data[r * n + c] & 1);
				bad += dark != want;
			}
		free(px);
		assert_int_equal(bad, 0);
	}
	QRcode_free(q);
	buf_free(&pdf);
}

static void test_qr_too_long(void **state)
{
	(void)state;
	struct buf big = BUF_INIT;
	for (int i = 0; i < 4000; i++)
		buf_putc(&big, (char)('a' + i % 26));
	struct pdf *p;
	struct err e = {0};
	assert_int_equal(pdf_open(&p, NULL, &e), 0);
	pdf_qr(p, 50, 50, 100, buf_cstr(&big));
	assert_int_equal(pdf_status(p), ERR_INVALID);
	pdf_text(p, PDF_LEFT, "after the failure nothing is drawn");
	struct buf pdf = BUF_INIT;
	assert_int_equal(pdf_finish(p, &pdf, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "4000 bytes"));
	assert_int_equal(pdf.len, 0);
	pdf_free(p);
	buf_free(&big);
}

static void test_layout_geometry(void **state)
{
	(void)state;
	struct pdf *p;
	struct err e = {0};
	struct pdf_opts o = {.paper = PDF_A5};
	assert_int_equal(pdf_open(&p, &o, &e), 0);
	assert_true(pdf_page_width(p) > 419 && pdf_page_width(p) < 420);   /* 148 mm */
	assert_true(pdf_page_height(p) > 595 && pdf_page_height(p) < 596); /* 210 mm */
	double x, y, w, h;
	pdf_content_box(p, &x, &y, &w, &h);
	assert_true(x > 50 && x < 52); /* 18 mm */
	assert_true(pdf_y(p) == y);
	/* a paragraph moves the cursor by whole lines */
	pdf_font(p, PDF_REGULAR, 10);
	double lh = pdf_line_height(p), y0 = pdf_y(p);
	pdf_text(p, PDF_LEFT, "một dòng");
	assert_true(pdf_y(p) - y0 > lh - 0.01 && pdf_y(p) - y0 < lh + 0.01);
	y0 = pdf_y(p);
	pdf_text(p, PDF_LEFT, "hai\ndòng");
	assert_true(pdf_y(p) - y0 > 2 * lh - 0.01 && pdf_y(p) - y0 < 2 * lh + 0.01);
	/* a wide text wraps in a narrow column */
	assert_true(pdf_text_width(p, PDF_BOLD, 10, "Nguyễn Thị Hương") > pdf_text_width(p, PDF_BOLD, 10, "Nguyễn"));
	pdf_column(p, x, 60);
	y0 = pdf_y(p);
	pdf_text(p, PDF_LEFT, "Nguyễn Thị Hương Phường Trần Hưng Đạo");
	assert_true(pdf_y(p) - y0 > 2.5 * lh);
	pdf_column(p, 0, 0);
	double cx, cw;
	pdf_get_column(p, &cx, &cw);
	assert_true(cx == x && cw == w);
	/* running off the page starts a new one */
	assert_false(pdf_need(p, 10));
	pdf_set_y(p, y + h - 5);
	assert_true(pdf_need(p, 10));
	assert_true(pdf_y(p) == y);
	struct buf pdf = BUF_INIT;
	assert_int_equal(pdf_finish(p, &pdf, &e), 0);
	pdf_free(p);
	assert_int_equal(page_count(&pdf), 2);
	buf_free(&pdf);
}

/* ---- threads ---- */

static void *render_many(void *arg)
{
	int *ok = arg;
	for (int i = 0; i < 3; i++) {
		struct form_receipt r = sample_receipt();
		struct buf pdf = BUF_INIT;
		struct err e = {0};
		if (forms_render_receipt(&r, i % 2 ? "en" : "vi", &pdf, &e) == 0 && pdf.len > 1000 &&
		    memcmp(pdf.ptr, "%PDF-", 5) == 0)
			(*ok)++;
		buf_free(&pdf);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	enum { T = 4 };
	pthread_t th[T];
	int ok[T] = {0};
	for (int i = 0; i < T; i++)
		assert_int_equal(pthread_create(&th[i], NULL, render_many, &ok[i]), 0);
	for (int i = 0; i < T; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(ok[i], 3);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_receipt_vi),
	    cmocka_unit_test(test_receipt_en),
	    cmocka_unit_test(test_receipt_optional_fields_left_out),
	    cmocka_unit_test(test_receipt_missing_fields),
	    cmocka_unit_test(test_supplement),
	    cmocka_unit_test(test_refusal),
	    cmocka_unit_test(test_apology),
	    cmocka_unit_test(test_control),
	    cmocka_unit_test(test_fee_receipt),
	    cmocka_unit_test(test_format_vnd),
	    cmocka_unit_test(test_vnd_words),
	    cmocka_unit_test(test_text_is_cleaned),
	    cmocka_unit_test(test_every_vietnamese_letter),
	    cmocka_unit_test(test_missing_font),
	    cmocka_unit_test(test_font_without_vietnamese),
	    cmocka_unit_test(test_qr_matches_encoder),
	    cmocka_unit_test(test_qr_too_long),
	    cmocka_unit_test(test_layout_geometry),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
