/* pdf.h: a small layout layer over libhpdf for the printed forms (one-stop-shop
 * slips, receipts, reports): A4/A5 pages, embedded serif TrueType fonts used
 * through libhpdf's UTF-8 encoder (so Vietnamese prints with all its stacked
 * marks), wrapped / centred / right-aligned / justified text with mixed bold and
 * italic runs, rules, simple bordered tables and QR codes drawn as filled
 * squares. The finished document is appended to a struct buf.
 *
 * Layout model: a cursor y runs down the page (points, measured from the top
 * edge; every coordinate in this header is in points, x from the left edge and
 * y from the TOP edge). Text flows in the current column [x, x + w), which is
 * the content box (page less margins) unless pdf_column narrows it. Paragraphs
 * and tables start a new page by themselves when they reach the bottom margin.
 *
 * Text: any UTF-8 is accepted and never crashes the renderer. It is put into
 * NFC for Vietnamese (a base letter followed by combining tone marks, as some
 * keyboards type it, becomes the precomposed letter), invalid bytes, characters
 * outside the BMP and characters the font has no glyph for print as '?',
 * control characters are dropped, '\n' breaks the line, and U+00A0 is a space
 * that never breaks.
 *
 * Errors are sticky, like a FILE's error flag: after the first failure (font
 * missing, libhpdf error, QR content too long) every later drawing call does
 * nothing, and pdf_finish reports that first failure. So form code draws
 * without checking each call. libhpdf errors are caught by a handler that only
 * records them; nothing longjmps or aborts (except out of memory, which aborts
 * as everywhere in tinhso).
 *
 * Threads: a struct pdf (and its HPDF_Doc) belongs to one thread; any number of
 * documents may be rendered concurrently. */
#ifndef TINHSO_PDF_H
#define TINHSO_PDF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

#define PDF_MM(mm) ((mm)*72.0 / 25.4)

enum pdf_paper { PDF_A4, PDF_A5 }; /* portrait */
enum pdf_style { PDF_REGULAR, PDF_BOLD, PDF_ITALIC, PDF_NSTYLES };
enum pdf_align { PDF_LEFT, PDF_CENTER, PDF_RIGHT, PDF_JUSTIFY };

/* One serif family: paths of three TrueType files. */
struct pdf_fonts {
	const char *regular;
	const char *bold;
	const char *italic;
};

/* Where the fonts come from when pdf_opts.fonts is NULL. Without a call (or
 * after pdf_set_fonts(NULL)), the first of these Debian families whose three
 * files exist and that covers Vietnamese is used (found once per process):
 *   /usr/share/fonts/truetype/liberation/LiberationSerif-*.ttf  (Liberation >= 2)
 *   /usr/share/fonts/truetype/liberation2/LiberationSerif-*.ttf (fonts-liberation2)
 *   /usr/share/fonts/truetype/noto/NotoSerif-*.ttf              (fonts-noto-core)
 * Liberation Serif has Times New Roman's metrics (Decree 30/2020), but the
 * Liberation 1.07 of Debian 12's fonts-liberation has no Vietnamese letters
 * (no ơ, ư, ạ, ễ...), so there it is skipped. The paths are copied. Safe to call
 * from any thread; renders already open keep the fonts they started with. */
void pdf_set_fonts(const struct pdf_fonts *f);

struct pdf_opts {
	enum pdf_paper paper;
	/* Margins in points; 0 takes the paper's default (A4: Decree 30/2020,
	 * top 20 mm, bottom 20 mm, left 30 mm, right 15 mm; A5: 12/12/18/12 mm). */
	double margin_top, margin_bottom, margin_left, margin_right;
	const char *title;	       /* document information Title, optional */
	const struct pdf_fonts *fonts; /* NULL: pdf_set_fonts / built-in search */
};

struct pdf;

/* Starts a document with one empty page. o may be NULL (A4, defaults).
 * Fails with ERR_UNAVAILABLE, naming the file, when a font file is missing or
 * has no Vietnamese glyphs, and with ERR_INTERNAL when libhpdf fails. On
 * success *out is the caller's, to pdf_free. */
int pdf_open(struct pdf **out, const struct pdf_opts *o, struct err *e);

/* Appends the finished PDF (starting "%PDF-", ending "%%EOF\n") to out, or
 * returns the first failure recorded since pdf_open and appends nothing.
 * Call once; only pdf_free may follow. */
int pdf_finish(struct pdf *p, struct buf *out, struct err *e);

/* Releases the document. NULL is allowed. */
void pdf_free(struct pdf *p);

/* 0 while nothing has failed, else the (sticky) error code. */
int pdf_status(const struct pdf *p);

/* ---- geometry ---- */

double pdf_page_width(const struct pdf *p);
double pdf_page_height(const struct pdf *p);
/* The content box: page less margins. Any out-parameter may be NULL. */
void pdf_content_box(const struct pdf *p, double *x, double *y, double *w, double *h);
/* Sets the column text flows in; w <= 0 restores the content box. */
void pdf_column(struct pdf *p, double x, double w);
void pdf_get_column(const struct pdf *p, double *x, double *w);
double pdf_y(const struct pdf *p);
void pdf_set_y(struct pdf *p, double y);
void pdf_skip(struct pdf *p, double dy);
/* Starts a new page when less than h points remain above the bottom margin
 * (to keep a signature block or a QR code in one piece). Returns true if it did. */
bool pdf_need(struct pdf *p, double h);
void pdf_new_page(struct pdf *p); /* cursor to the top margin */

/* ---- text ---- */

/* Current style and size (points) for pdf_text and table bodies; default
 * regular 12. Line height is size * leading (default 1.3). */
void pdf_font(struct pdf *p, enum pdf_style s, double size);
void pdf_leading(struct pdf *p, double factor);
double pdf_line_height(const struct pdf *p);

/* Width in points of utf8 on one line in style s at size. */
double pdf_text_width(struct pdf *p, enum pdf_style s, double size, const char *utf8);

/* A paragraph in the current style: wrapped in the column at the cursor; the
 * cursor moves below it. NULL prints nothing and moves nothing. */
void pdf_text(struct pdf *p, enum pdf_align a, const char *utf8);

/* One line of text in the current style, whose size shrinks (down to min_size)
 * until it fits the column; text that would not fit even at min_size keeps
 * the current size and wraps into lines of balanced length (for headings: no
 * lone word on a last line). */
void pdf_text_fit(struct pdf *p, enum pdf_align a, double min_size, const char *utf8);

/* A paragraph of runs that change style inside it (a label in regular, a value
 * in bold...), at the current size. Breaks only at ASCII spaces (and inside a
 * word longer than the line). Lines after the first are indented by hang
 * points (a hanging indent for "1. ..." lists). Runs with a NULL text are
 * skipped. */
struct pdf_run {
	enum pdf_style style;
	const char *text;
};
void pdf_para(struct pdf *p, enum pdf_align a, double hang, const struct pdf_run *runs, size_t n);

/* ---- lines, tables, QR ---- */

/* A line from (x1, y1) to (x2, y2), width lw points. */
void pdf_line(struct pdf *p, double x1, double y1, double x2, double y2, double lw);
/* A rectangle outline, top-left corner (x, y). */
void pdf_rect(struct pdf *p, double x, double y, double w, double h, double lw);
/* A horizontal rule len points long, placed in the column by a (PDF_JUSTIFY
 * counts as centred), at the cursor; the cursor does not move. */
void pdf_rule(struct pdf *p, enum pdf_align a, double len, double lw);

/* A bordered table across the column at the cursor, in the current size:
 * a bold centred header row, then nrows rows of cells (row-major,
 * cells[r * ncols + c]; NULL is an empty cell), each wrapped in its column.
 * Column widths are in proportion to weight. A row that does not fit goes to a
 * new page, under a repeated header; a row taller than a whole page is not
 * split and runs over the bottom margin. The cursor moves below the table. */
struct pdf_col {
	const char *title;
	double weight;
	enum pdf_align align;
};
void pdf_table(struct pdf *p, const struct pdf_col *cols, size_t ncols, const char *const *cells, size_t nrows);

/* A QR code (error correction M, 8-bit) of data, black squares on the page
 * background, as a size x size square with top-left corner (x, y); size
 * includes the 4-module quiet zone, left blank. Data that does not fit a QR
 * code (about 2300 bytes) fails with ERR_INVALID. The cursor does not move. */
void pdf_qr(struct pdf *p, double x, double y, double size, const char *data);

#endif
