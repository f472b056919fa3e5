/* pdf.c: the layout layer of pdf.h over libhpdf (TrueType fonts through its
 * UTF-8 encoder, which makes CID fonts with a ToUnicode map, so text can be
 * searched and extracted) and libqrencode. */
#include "report/pdf.h"

#include <errno.h>
#include <hpdf.h>
#include <hpdf_doc.h>	  /* HPDF_GetFontDef: installed, though not in hpdf.h */
#include <hpdf_fontdef.h> /* HPDF_TTFontDef_GetGlyphid, same */
#include <pthread.h>
#include <qrencode.h>
#include <stdint.h>
#include <unistd.h>

enum { PDF_PATH_MAX = 512, PDF_MAX_COLS = 16 };

#define FONT_DIR "/usr/share/fonts/truetype/"
static const struct pdf_fonts builtin_families[] = {
    {FONT_DIR "liberation/LiberationSerif-Regular.ttf", FONT_DIR "liberation/LiberationSerif-Bold.ttf",
     FONT_DIR "liberation/LiberationSerif-Italic.ttf"},
    {FONT_DIR "liberation2/LiberationSerif-Regular.ttf", FONT_DIR "liberation2/LiberationSerif-Bold.ttf",
     FONT_DIR "liberation2/LiberationSerif-Italic.ttf"},
    {FONT_DIR "noto/NotoSerif-Regular.ttf", FONT_DIR "noto/NotoSerif-Bold.ttf", FONT_DIR "noto/NotoSerif-Italic.ttf"},
};
#define NFAMILIES (sizeof builtin_families / sizeof builtin_families[0])

struct font_paths {
	char path[PDF_NSTYLES][PDF_PATH_MAX];
};

/* Process-wide font choice: what pdf_set_fonts configured, else the built-in
 * family found usable (probed once: loading a TrueType file costs a few ms). */
static pthread_mutex_t fonts_mu = PTHREAD_MUTEX_INITIALIZER;
static bool fonts_configured;
static struct font_paths fonts_conf;
static int fonts_found = -1;

/* Every Vietnamese letter that is not plain ASCII: a font must have them all. */
static const char vi_letters[] = "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬĐÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴ"
				 "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ";

/* Canonical compositions (base, combining mark) -> precomposed letter, for the
 * eight marks Vietnamese uses (grave, acute, circumflex, tilde, breve, hook
 * above, horn, dot below), generated from UnicodeData; sorted. */
struct compo {
	uint16_t base, mark, composed;
};
static const struct compo compositions[] = {
    {0x0041, 0x300, 0x00C0}, {0x0041, 0x301, 0x00C1}, {0x0041, 0x302, 0x00C2}, {0x0041, 0x303, 0x00C3},
    {0x0041, 0x306, 0x0102}, {0x0041, 0x309, 0x1EA2}, {0x0041, 0x323, 0x1EA0}, {0x0042, 0x323, 0x1E04},
    {0x0043, 0x301, 0x0106}, {0x0043, 0x302, 0x0108}, {0x0044, 0x323, 0x1E0C}, {0x0045, 0x300, 0x00C8},
    {0x0045, 0x301, 0x00C9}, {0x0045, 0x302, 0x00CA}, {0x0045, 0x303, 0x1EBC}, {0x0045, 0x306, 0x0114},
    {0x0045, 0x309, 0x1EBA}, {0x0045, 0x323, 0x1EB8}, {0x0047, 0x301, 0x01F4}, {0x0047, 0x302, 0x011C},
    {0x0047, 0x306, 0x011E}, {0x0048, 0x302, 0x0124}, {0x0048, 0x323, 0x1E24}, {0x0049, 0x300, 0x00CC},
    {0x0049, 0x301, 0x00CD}, {0x0049, 0x302, 0x00CE}, {0x0049, 0x303, 0x0128}, {0x0049, 0x306, 0x012C},
    {0x0049, 0x309, 0x1EC8}, {0x0049, 0x323, 0x1ECA}, {0x004A, 0x302, 0x0134}, {0x004B, 0x301, 0x1E30},
    {0x004B, 0x323, 0x1E32}, {0x004C, 0x301, 0x0139}, {0x004C, 0x323, 0x1E36}, {0x004D, 0x301, 0x1E3E},
    {0x004D, 0x323, 0x1E42}, {0x004E, 0x300, 0x01F8}, {0x004E, 0x301, 0x0143}, {0x004E, 0x303, 0x00D1},
    {0x004E, 0x323, 0x1E46}, {0x004F, 0x300, 0x00D2}, {0x004F, 0x301, 0x00D3}, {0x004F, 0x302, 0x00D4},
    {0x004F, 0x303, 0x00D5}, {0x004F, 0x306, 0x014E}, {0x004F, 0x309, 0x1ECE}, {0x004F, 0x31B, 0x01A0},
    {0x004F, 0x323, 0x1ECC}, {0x0050, 0x301, 0x1E54}, {0x0052, 0x301, 0x0154}, {0x0052, 0x323, 0x1E5A},
    {0x0053, 0x301, 0x015A}, {0x0053, 0x302, 0x015C}, {0x0053, 0x323, 0x1E62}, {0x0054, 0x323, 0x1E6C},
    {0x0055, 0x300, 0x00D9}, {0x0055, 0x301, 0x00DA}, {0x0055, 0x302, 0x00DB}, {0x0055, 0x303, 0x0168},
    {0x0055, 0x306, 0x016C}, {0x0055, 0x309, 0x1EE6}, {0x0055, 0x31B, 0x01AF}, {0x0055, 0x323, 0x1EE4},
    {0x0056, 0x303, 0x1E7C}, {0x0056, 0x323, 0x1E7E}, {0x0057, 0x300, 0x1E80}, {0x0057, 0x301, 0x1E82},
    {0x0057, 0x302, 0x0174}, {0x0057, 0x323, 0x1E88}, {0x0059, 0x300, 0x1EF2}, {0x0059, 0x301, 0x00DD},
    {0x0059, 0x302, 0x0176}, {0x0059, 0x303, 0x1EF8}, {0x0059, 0x309, 0x1EF6}, {0x0059, 0x323, 0x1EF4},
    {0x005A, 0x301, 0x0179}, {0x005A, 0x302, 0x1E90}, {0x005A, 0x323, 0x1E92}, {0x0061, 0x300, 0x00E0},
    {0x0061, 0x301, 0x00E1}, {0x0061, 0x302, 0x00E2}, {0x0061, 0x303, 0x00E3}, {0x0061, 0x306, 0x0103},
    {0x0061, 0x309, 0x1EA3}, {0x0061, 0x323, 0x1EA1}, {0x0062, 0x323, 0x1E05}, {0x0063, 0x301, 0x0107},
    {0x0063, 0x302, 0x0109}, {0x0064, 0x323, 0x1E0D}, {0x0065, 0x300, 0x00E8}, {0x0065, 0x301, 0x00E9},
    {0x0065, 0x302, 0x00EA}, {0x0065, 0x303, 0x1EBD}, {0x0065, 0x306, 0x0115}, {0x0065, 0x309, 0x1EBB},
    {0x0065, 0x323, 0x1EB9}, {0x0067, 0x301, 0x01F5}, {0x0067, 0x302, 0x011D}, {0x0067, 0x306, 0x011F},
    {0x0068, 0x302, 0x0125}, {0x0068, 0x323, 0x1E25}, {0x0069, 0x300, 0x00EC}, {0x0069, 0x301, 0x00ED},
    {0x0069, 0x302, 0x00EE}, {0x0069, 0x303, 0x0129}, {0x0069, 0x306, 0x012D}, {0x0069, 0x309, 0x1EC9},
    {0x0069, 0x323, 0x1ECB}, {0x006A, 0x302, 0x0135}, {0x006B, 0x301, 0x1E31}, {0x006B, 0x323, 0x1E33},
    {0x006C, 0x301, 0x013A}, {0x006C, 0x323, 0x1E37}, {0x006D, 0x301, 0x1E3F}, {0x006D, 0x323, 0x1E43},
    {0x006E, 0x300, 0x01F9}, {0x006E, 0x301, 0x0144}, {0x006E, 0x303, 0x00F1}, {0x006E, 0x323, 0x1E47},
    {0x006F, 0x300, 0x00F2}, {0x006F, 0x301, 0x00F3}, {0x006F, 0x302, 0x00F4}, {0x006F, 0x303, 0x00F5},
    {0x006F, 0x306, 0x014F}, {0x006F, 0x309, 0x1ECF}, {0x006F, 0x31B, 0x01A1}, {0x006F, 0x323, 0x1ECD},
    {0x0070, 0x301, 0x1E55}, {0x0072, 0x301, 0x0155}, {0x0072, 0x323, 0x1E5B}, {0x0073, 0x301, 0x015B},
    {0x0073, 0x302, 0x015D}, {0x0073, 0x323, 0x1E63}, {0x0074, 0x323, 0x1E6D}, {0x0075, 0x300, 0x00F9},
    {0x0075, 0x301, 0x00FA}, {0x0075, 0x302, 0x00FB}, {0x0075, 0x303, 0x0169}, {0x0075, 0x306, 0x016D},
    {0x0075, 0x309, 0x1EE7}, {0x0075, 0x31B, 0x01B0}, {0x0075, 0x323, 0x1EE5}, {0x0076, 0x303, 0x1E7D},
    {0x0076, 0x323, 0x1E7F}, {0x0077, 0x300, 0x1E81}, {0x0077, 0x301, 0x1E83}, {0x0077, 0x302, 0x0175},
    {0x0077, 0x323, 0x1E89}, {0x0079, 0x300, 0x1EF3}, {0x0079, 0x301, 0x00FD}, {0x0079, 0x302, 0x0177},
    {0x0079, 0x303, 0x1EF9}, {0x0079, 0x309, 0x1EF7}, {0x0079, 0x323, 0x1EF5}, {0x007A, 0x301, 0x017A},
    {0x007A, 0x302, 0x1E91}, {0x007A, 0x323, 0x1E93}, {0x00C2, 0x300, 0x1EA6}, {0x00C2, 0x301, 0x1EA4},
    {0x00C2, 0x303, 0x1EAA}, {0x00C2, 0x309, 0x1EA8}, {0x00C5, 0x301, 0x01FA}, {0x00C6, 0x301, 0x01FC},
    {0x00C7, 0x301, 0x1E08}, {0x00CA, 0x300, 0x1EC0}, {0x00CA, 0x301, 0x1EBE}, {0x00CA, 0x303, 0x1EC4},
    {0x00CA, 0x309, 0x1EC2}, {0x00CF, 0x301, 0x1E2E}, {0x00D4, 0x300, 0x1ED2}, {0x00D4, 0x301, 0x1ED0},
    {0x00D4, 0x303, 0x1ED6}, {0x00D4, 0x309, 0x1ED4}, {0x00D5, 0x301, 0x1E4C}, {0x00D8, 0x301, 0x01FE},
    {0x00DC, 0x300, 0x01DB}, {0x00DC, 0x301, 0x01D7}, {0x00E2, 0x300, 0x1EA7}, {0x00E2, 0x301, 0x1EA5},
    {0x00E2, 0x303, 0x1EAB}, {0x00E2, 0x309, 0x1EA9}, {0x00E5, 0x301, 0x01FB}, {0x00E6, 0x301, 0x01FD},
    {0x00E7, 0x301, 0x1E09}, {0x00EA, 0x300, 0x1EC1}, {0x00EA, 0x301, 0x1EBF}, {0x00EA, 0x303, 0x1EC5},
    {0x00EA, 0x309, 0x1EC3}, {0x00EF, 0x301, 0x1E2F}, {0x00F4, 0x300, 0x1ED3}, {0x00F4, 0x301, 0x1ED1},
    {0x00F4, 0x303, 0x1ED7}, {0x00F4, 0x309, 0x1ED5}, {0x00F5, 0x301, 0x1E4D}, {0x00F8, 0x301, 0x01FF},
    {0x00FC, 0x300, 0x01DC}, {0x00FC, 0x301, 0x01D8}, {0x0102, 0x300, 0x1EB0}, {0x0102, 0x301, 0x1EAE},
    {0x0102, 0x303, 0x1EB4}, {0x0102, 0x309, 0x1EB2}, {0x0103, 0x300, 0x1EB1}, {0x0103, 0x301, 0x1EAF},
    {0x0103, 0x303, 0x1EB5}, {0x0103, 0x309, 0x1EB3}, {0x0112, 0x300, 0x1E14}, {0x0112, 0x301, 0x1E16},
    {0x0113, 0x300, 0x1E15}, {0x0113, 0x301, 0x1E17}, {0x014C, 0x300, 0x1E50}, {0x014C, 0x301, 0x1E52},
    {0x014D, 0x300, 0x1E51}, {0x014D, 0x301, 0x1E53}, {0x0168, 0x301, 0x1E78}, {0x0169, 0x301, 0x1E79},
    {0x01A0, 0x300, 0x1EDC}, {0x01A0, 0x301, 0x1EDA}, {0x01A0, 0x303, 0x1EE0}, {0x01A0, 0x309, 0x1EDE},
    {0x01A0, 0x323, 0x1EE2}, {0x01A1, 0x300, 0x1EDD}, {0x01A1, 0x301, 0x1EDB}, {0x01A1, 0x303, 0x1EE1},
    {0x01A1, 0x309, 0x1EDF}, {0x01A1, 0x323, 0x1EE3}, {0x01AF, 0x300, 0x1EEA}, {0x01AF, 0x301, 0x1EE8},
    {0x01AF, 0x303, 0x1EEE}, {0x01AF, 0x309, 0x1EEC}, {0x01AF, 0x323, 0x1EF0}, {0x01B0, 0x300, 0x1EEB},
    {0x01B0, 0x301, 0x1EE9}, {0x01B0, 0x303, 0x1EEF}, {0x01B0, 0x309, 0x1EED}, {0x01B0, 0x323, 0x1EF1},
    {0x0228, 0x306, 0x1E1C}, {0x0229, 0x306, 0x1E1D}, {0x1EA0, 0x302, 0x1EAC}, {0x1EA0, 0x306, 0x1EB6},
    {0x1EA1, 0x302, 0x1EAD}, {0x1EA1, 0x306, 0x1EB7}, {0x1EB8, 0x302, 0x1EC6}, {0x1EB9, 0x302, 0x1EC7},
    {0x1ECC, 0x302, 0x1ED8}, {0x1ECD, 0x302, 0x1ED9},
};

struct atom {
	size_t off, len; /* bytes in p->text */
	double w;
	unsigned char style;
	unsigned char kind;
};
enum { ATOM_WORD, ATOM_SPACE, ATOM_NL };

struct line {
	size_t a0, a1; /* atoms [a0, a1) */
	double w;
	size_t nspaces;
	bool last; /* last line of the paragraph or ended by '\n': never justified */
};

struct pdf {
	HPDF_Doc doc;
	HPDF_Page page;
	double pw, ph;
	double mt, mb, ml, mr;
	double col_x, col_w;
	double y;
	enum pdf_style style;
	double size, leading;
	struct font_paths fonts;
	HPDF_Font font[PDF_NSTYLES];
	HPDF_FontDef fontdef[PDF_NSTYLES];
	int status;
	char msg[512];
	/* scratch, reused by every call */
	uint32_t *cps;
	size_t ncps, capcps;
	struct buf text;
	struct buf seg;
	struct atom *atoms;
	size_t natoms, capatoms;
	struct line *lines;
	size_t nlines, caplines;
};

static void *xrealloc(void *ptr, size_t n)
{
	void *q = realloc(ptr, n ? n : 1);
	if (!q)
		abort();
	return q;
}

static void *HPDF_STDCALL hpdf_alloc(HPDF_UINT size)
{
	void *q = malloc(size ? size : 1);
	if (!q)
		abort();
	return q;
}

static void HPDF_STDCALL hpdf_dealloc(void *q)
{
	free(q);
}

static void pdf_fail(struct pdf *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pdf_fail(struct pdf *p, int code, const char *fmt, ...)
{
	if (p->status)
		return;
	p->status = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof p->msg, fmt, ap);
	va_end(ap);
}

/* libhpdf calls this on every error and then returns the error code to its
 * caller; recording it (never longjmp) keeps the process alive. */
static void HPDF_STDCALL on_hpdf_error(HPDF_STATUS no, HPDF_STATUS detail, void *ud)
{
	struct pdf *p = ud;
	if (no == HPDF_FAILD_TO_ALLOC_MEM)
		abort();
	pdf_fail(p, ERR_INTERNAL, "libhpdf error 0x%04X (detail %u)", (unsigned)no, (unsigned)detail);
}

/* ---- UTF-8 and Vietnamese NFC ---- */

static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	unsigned c = s[*i];
	if (c < 0x80) {
		(*i)++;
		return c;
	}
	size_t k;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF) {
		k = 1;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 2;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 3;
		cp = c & 0x07;
	} else {
		(*i)++;
		return 0xFFFD;
	}
	if (n - *i <= k) {
		(*i)++;
		return 0xFFFD;
	}
	for (size_t j = 1; j <= k; j++) {
		if ((s[*i + j] & 0xC0) != 0x80) {
			(*i)++;
			return 0xFFFD;
		}
		cp = (cp << 6) | (s[*i + j] & 0x3F);
	}
	if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
		(*i)++;
		return 0xFFFD;
	}
	*i += k + 1;
	return cp;
}

static void utf8_put(struct buf *b, uint32_t cp)
{
	char t[3];
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		t[0] = (char)(0xC0 | (cp >> 6));
		t[1] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, t, 2);
	} else { /* BMP only: everything else became '?' */
		t[0] = (char)(0xE0 | (cp >> 12));
		t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		t[2] = (char)(0x80 | (cp & 0x3F));
		buf_append(b, t, 3);
	}
}

static int mark_class(uint32_t c)
{
	switch (c) {
	case 0x31B:
		return 216;
	case 0x323:
		return 220;
	case 0x300:
	case 0x301:
	case 0x302:
	case 0x303:
	case 0x306:
	case 0x309:
		return 230;
	default:
		return 0;
	}
}

static uint32_t compose(uint32_t base, uint32_t mark)
{
	size_t lo = 0, hi = sizeof compositions / sizeof compositions[0];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct compo *c = &compositions[mid];
		if (c->base < base || (c->base == base && c->mark < mark))
			lo = mid + 1;
		else if (c->base == base && c->mark == mark)
			return c->composed;
		else
			hi = mid;
	}
	return 0;
}

/* Unicode canonical ordering then composition, restricted to the Vietnamese
 * marks (other characters count as starters): "a" U+0323 U+0302 and
 * "a" U+0302 U+0323 both become "ậ". Returns the new length. */
static size_t nfc_vi(uint32_t *c, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && mark_class(c[j]) && mark_class(c[j - 1]) > mark_class(c[j]); j--) {
			uint32_t t = c[j];
			c[j] = c[j - 1];
			c[j - 1] = t;
		}
	size_t out = 0, starter = 0;
	bool have_starter = false;
	int last = 0;
	for (size_t i = 0; i < n; i++) {
		int cc = mark_class(c[i]);
		if (cc && have_starter && (last == 0 || last < cc)) {
			uint32_t k = compose(c[starter], c[i]);
			if (k) {
				c[starter] = k;
				continue;
			}
		}
		if (!cc) {
			starter = out;
			have_starter = true;
			last = 0;
		} else {
			last = cc;
		}
		c[out++] = c[i];
	}
	return out;
}

/* ---- fonts ---- */

static uint32_t font_missing_vi(HPDF_FontDef fd)
{
	const unsigned char *s = (const unsigned char *)vi_letters;
	size_t n = sizeof vi_letters - 1, i = 0;
	while (i < n) {
		uint32_t cp = utf8_next(s, n, &i);
		if (HPDF_TTFontDef_GetGlyphid(fd, (HPDF_UINT16)cp) == 0)
			return cp;
	}
	return 0;
}

static void HPDF_STDCALL probe_error(HPDF_STATUS no, HPDF_STATUS detail, void *ud)
{
	(void)detail;
	if (no == HPDF_FAILD_TO_ALLOC_MEM)
		abort();
	*(HPDF_STATUS *)ud = no;
}

/* Loads path into a scratch document: 0 if it has every Vietnamese letter,
 * the first missing code point otherwise, 1 if libhpdf cannot load it. */
static uint32_t font_probe(const char *path)
{
	HPDF_STATUS st = 0;
	HPDF_Doc d = HPDF_NewEx(probe_error, hpdf_alloc, hpdf_dealloc, 0, &st);
	if (!d)
		return 1;
	uint32_t r = 1;
	const char *name = HPDF_LoadTTFontFromFile(d, path, HPDF_TRUE);
	HPDF_FontDef fd = name && !st ? HPDF_GetFontDef(d, name) : NULL;
	if (fd)
		r = font_missing_vi(fd);
	HPDF_Free(d);
	return r;
}

static void paths_from(struct font_paths *fp, const struct pdf_fonts *f)
{
	const char *reg = f->regular ? f->regular : "";
	str_copy(fp->path[PDF_REGULAR], PDF_PATH_MAX, reg);
	str_copy(fp->path[PDF_BOLD], PDF_PATH_MAX, f->bold ? f->bold : reg);
	str_copy(fp->path[PDF_ITALIC], PDF_PATH_MAX, f->italic ? f->italic : reg);
}

void pdf_set_fonts(const struct pdf_fonts *f)
{
	pthread_mutex_lock(&fonts_mu);
	fonts_configured = f != NULL;
	if (f)
		paths_from(&fonts_conf, f);
	pthread_mutex_unlock(&fonts_mu);
}

static int fonts_resolve(struct font_paths *out, const struct pdf_opts *o, struct err *e)
{
	if (o && o->fonts) {
		paths_from(out, o->fonts);
		return 0;
	}
	pthread_mutex_lock(&fonts_mu);
	if (fonts_configured) {
		*out = fonts_conf;
		pthread_mutex_unlock(&fonts_mu);
		return 0;
	}
	if (fonts_found < 0) {
		struct buf why = BUF_INIT;
		for (size_t i = 0; i < NFAMILIES && fonts_found < 0; i++) {
			const struct pdf_fonts *f = &builtin_families[i];
			const char *files[] = {f->regular, f->bold, f->italic};
			const char *missing = NULL;
			for (size_t k = 0; k < 3 && !missing; k++)
				if (access(files[k], R_OK) != 0)
					missing = files[k];
			uint32_t cp = missing ? 1 : font_probe(f->regular);
			if (cp == 0) {
				fonts_found = (int)i;
				break;
			}
			if (why.len)
				buf_puts(&why, "; ");
			if (missing)
				buf_printf(&why, "font file '%s' not found", missing);
			else if (cp == 1)
				buf_printf(&why, "font file '%s' cannot be loaded", f->regular);
			else
				buf_printf(&why, "font file '%s' has no Vietnamese glyph U+%04X", f->regular,
					   (unsigned)cp);
		}
		if (fonts_found < 0) {
			pthread_mutex_unlock(&fonts_mu);
			err_set(e, ERR_UNAVAILABLE, "no usable font for Vietnamese (install fonts-noto-core): %s",
				buf_cstr(&why));
			buf_free(&why);
			return ERR_UNAVAILABLE;
		}
		buf_free(&why);
	}
	paths_from(out, &builtin_families[fonts_found]);
	pthread_mutex_unlock(&fonts_mu);
	return 0;
}

/* Loads a style on first use, so a form that prints nothing in italic does
 * not pay for (or embed) the italic font. */
static HPDF_Font font_get(struct pdf *p, enum pdf_style s)
{
	if (p->font[s] || p->status)
		return p->font[s];
	const char *path = p->fonts.path[s];
	const char *name = HPDF_LoadTTFontFromFile(p->doc, path, HPDF_TRUE);
	if (!name || p->status) {
		p->status = 0; /* replace libhpdf's bare code with a message naming the file */
		pdf_fail(p, ERR_UNAVAILABLE, "font file '%s' cannot be loaded", path);
		return NULL;
	}
	HPDF_FontDef fd = HPDF_GetFontDef(p->doc, name);
	uint32_t cp = fd ? font_missing_vi(fd) : 1;
	if (cp) {
		pdf_fail(p, ERR_UNAVAILABLE, "font file '%s' has no Vietnamese glyph U+%04X", path, (unsigned)cp);
		return NULL;
	}
	HPDF_Font f = HPDF_GetFont(p->doc, name, "UTF-8");
	if (!f || p->status)
		return NULL;
	p->font[s] = f;
	p->fontdef[s] = fd;
	return f;
}

/* ---- open / finish ---- */

int pdf_open(struct pdf **out, const struct pdf_opts *o, struct err *e)
{
	static const struct pdf_opts defaults = {PDF_A4, 0, 0, 0, 0, NULL, NULL};
	if (!o)
		o = &defaults;
	*out = NULL;
	struct font_paths fp;
	int rc = fonts_resolve(&fp, o, e);
	if (rc)
		return rc;
	for (int s = 0; s < PDF_NSTYLES; s++)
		if (access(fp.path[s], R_OK) != 0)
			return err_set(e, ERR_UNAVAILABLE, "font file '%s' not found: %s", fp.path[s], strerror(errno));

	struct pdf *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	p->fonts = fp;
	p->doc = HPDF_NewEx(on_hpdf_error, hpdf_alloc, hpdf_dealloc, 0, p);
	if (!p->doc) {
		free(p);
		return err_set(e, ERR_INTERNAL, "libhpdf: cannot create a document");
	}
	HPDF_SetCompressionMode(p->doc, HPDF_COMP_ALL);
	HPDF_UseUTFEncodings(p->doc);
	HPDF_SetCurrentEncoder(p->doc, "UTF-8");
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_CREATOR, "tinhso");
	if (o->title)
		HPDF_SetInfoAttr(p->doc, HPDF_INFO_TITLE, o->title);
	bool a5 = o->paper == PDF_A5;
	p->mt = o->margin_top > 0 ? o->margin_top : PDF_MM(a5 ? 12 : 20);
	p->mb = o->margin_bottom > 0 ? o->margin_bottom : PDF_MM(a5 ? 12 : 20);
	p->ml = o->margin_left > 0 ? o->margin_left : PDF_MM(a5 ? 18 : 30);
	p->mr = o->margin_right > 0 ? o->margin_right : PDF_MM(a5 ? 12 : 15);
	p->style = PDF_REGULAR;
	p->size = 12;
	p->leading = 1.3;
	p->page = HPDF_AddPage(p->doc);
	if (p->page)
		HPDF_Page_SetSize(p->page, a5 ? HPDF_PAGE_SIZE_A5 : HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
	if (p->status || !p->page) {
		rc = err_set(e, ERR_INTERNAL, "libhpdf: cannot start the document: %s", p->msg);
		pdf_free(p);
		return rc;
	}
	p->pw = HPDF_Page_GetWidth(p->page);
	p->ph = HPDF_Page_GetHeight(p->page);
	p->col_x = p->ml;
	p->col_w = p->pw - p->ml - p->mr;
	p->y = p->mt;
	*out = p;
	return 0;
}

int pdf_finish(struct pdf *p, struct buf *out, struct err *e)
{
	if (!p->status && HPDF_SaveToStream(p->doc) != HPDF_OK)
		pdf_fail(p, ERR_INTERNAL, "libhpdf: cannot write the document");
	if (p->status)
		return err_set(e, p->status, "%s", p->msg);
	HPDF_UINT32 size = HPDF_GetStreamSize(p->doc);
	buf_grow(out, size);
	HPDF_UINT32 got = size;
	HPDF_STATUS st = HPDF_ReadFromStream(p->doc, (HPDF_BYTE *)out->ptr + out->len, &got);
	if ((st != HPDF_OK && st != HPDF_STREAM_EOF) || got != size) {
		out->ptr[out->len] = 0;
		return err_set(e, ERR_INTERNAL, "libhpdf: cannot read the document back (%u of %u bytes)",
			       (unsigned)got, (unsigned)size);
	}
	out->len += got;
	out->ptr[out->len] = 0;
	return 0;
}

void pdf_free(struct pdf *p)
{
	if (!p)
		return;
	if (p->doc)
		HPDF_Free(p->doc);
	free(p->cps);
	free(p->atoms);
	free(p->lines);
	buf_free(&p->text);
	buf_free(&p->seg);
	free(p);
}

int pdf_status(const struct pdf *p)
{
	return p->status;
}

/* ---- geometry ---- */

double pdf_page_width(const struct pdf *p)
{
	return p->pw;
}

double pdf_page_height(const struct pdf *p)
{
	return p->ph;
}

void pdf_content_box(const struct pdf *p, double *x, double *y, double *w, double *h)
{
	if (x)
		*x = p->ml;
	if (y)
		*y = p->mt;
	if (w)
		*w = p->pw - p->ml - p->mr;
	if (h)
		*h = p->ph - p->mt - p->mb;
}

void pdf_column(struct pdf *p, double x, double w)
{
	if (w <= 0) {
		p->col_x = p->ml;
		p->col_w = p->pw - p->ml - p->mr;
	} else {
		p->col_x = x;
		p->col_w = w;
	}
}

void pdf_get_column(const struct pdf *p, double *x, double *w)
{
	if (x)
		*x = p->col_x;
	if (w)
		*w = p->col_w;
}

double pdf_y(const struct pdf *p)
{
	return p->y;
}

void pdf_set_y(struct pdf *p, double y)
{
	p->y = y;
}

void pdf_skip(struct pdf *p, double dy)
{
	p->y += dy;
}

void pdf_new_page(struct pdf *p)
{
	if (p->status)
		return;
	HPDF_Page pg = HPDF_AddPage(p->doc);
	if (!pg || p->status)
		return;
	HPDF_Page_SetWidth(pg, (HPDF_REAL)p->pw);
	HPDF_Page_SetHeight(pg, (HPDF_REAL)p->ph);
	p->page = pg;
	p->y = p->mt;
}

bool pdf_need(struct pdf *p, double h)
{
	if (p->y + h <= p->ph - p->mb || p->y <= p->mt)
		return false;
	pdf_new_page(p);
	return true;
}

/* ---- text ---- */

void pdf_font(struct pdf *p, enum pdf_style s, double size)
{
	if ((unsigned)s < PDF_NSTYLES)
		p->style = s;
	if (size > 0)
		p->size = size;
}

void pdf_leading(struct pdf *p, double factor)
{
	if (factor > 0)
		p->leading = factor;
}

double pdf_line_height(const struct pdf *p)
{
	return p->size * p->leading;
}

/* Appends utf8, cleaned for printing in style s (see pdf.h), to p->text. */
static void text_clean(struct pdf *p, enum pdf_style s, const char *utf8)
{
	size_t n = strlen(utf8), i = 0;
	if (n + 1 > p->capcps) {
		p->capcps = n + 1;
		p->cps = xrealloc(p->cps, p->capcps * sizeof *p->cps);
	}
	p->ncps = 0;
	while (i < n)
		p->cps[p->ncps++] = utf8_next((const unsigned char *)utf8, n, &i);
	p->ncps = nfc_vi(p->cps, p->ncps);
	HPDF_FontDef fd = p->fontdef[s];
	for (size_t k = 0; k < p->ncps; k++) {
		uint32_t c = p->cps[k];
		if (c == '\t')
			c = ' ';
		if (c == '\n' || (c >= 0x20 && c < 0x7F)) {
			buf_putc(&p->text, (char)c);
			continue;
		}
		if (c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0xFEFF || c == 0x200B)
			continue;
		if (c > 0xFFFF || c == 0xFFFD || !fd || HPDF_TTFontDef_GetGlyphid(fd, (HPDF_UINT16)c) == 0)
			c = '?';
		utf8_put(&p->text, c);
	}
}

static double width_of(struct pdf *p, enum pdf_style s, double size, const char *t, size_t len)
{
	HPDF_Font f = p->font[s];
	if (!f || !len)
		return 0;
	HPDF_TextWidth tw = HPDF_Font_TextWidth(f, (const HPDF_BYTE *)t, (HPDF_UINT)len);
	return tw.width * size / 1000.0;
}

static struct atom *atom_add(struct pdf *p)
{
	if (p->natoms == p->capatoms) {
		p->capatoms = p->capatoms ? p->capatoms * 2 : 64;
		p->atoms = xrealloc(p->atoms, p->capatoms * sizeof *p->atoms);
	}
	struct atom *a = &p->atoms[p->natoms++];
	memset(a, 0, sizeof *a);
	return a;
}

/* Adds the word t[off, off+len) (in p->text), split into pieces no wider
 * than maxw when it is longer than a line. */
static void add_word(struct pdf *p, enum pdf_style s, double size, size_t off, size_t len, double maxw)
{
	const char *t = p->text.ptr;
	double w = width_of(p, s, size, t + off, len);
	while (w > maxw && len > 0) {
		size_t take = 0, i = 0;
		double tw = 0;
		while (i < len) {
			size_t j = i;
			utf8_next((const unsigned char *)t + off, len, &j);
			double nw = width_of(p, s, size, t + off, j);
			if (nw > maxw && take > 0)
				break;
			take = j;
			tw = nw;
			i = j;
		}
		struct atom *a = atom_add(p);
		a->off = off;
		a->len = take;
		a->w = tw;
		a->style = (unsigned char)s;
		a->kind = ATOM_WORD;
		off += take;
		len -= take;
		w = width_of(p, s, size, t + off, len);
	}
	if (len) {
		struct atom *a = atom_add(p);
		a->off = off;
		a->len = len;
		a->w = w;
		a->style = (unsigned char)s;
		a->kind = ATOM_WORD;
	}
}

/* Cleans and splits runs into atoms (words, spaces, newlines). */
static void atomize(struct pdf *p, const struct pdf_run *runs, size_t n, double size, double maxw)
{
	buf_reset(&p->text);
	p->natoms = 0;
	for (size_t r = 0; r < n; r++) {
		enum pdf_style s = (unsigned)runs[r].style < PDF_NSTYLES ? runs[r].style : PDF_REGULAR;
		if (!runs[r].text || !font_get(p, s))
			continue;
		size_t start = p->text.len;
		text_clean(p, s, runs[r].text);
		size_t end = p->text.len, i = start;
		while (i < end) {
			char c = p->text.ptr[i];
			if (c == '\n') {
				struct atom *a = atom_add(p);
				a->off = i++;
				a->kind = ATOM_NL;
				a->style = (unsigned char)s;
			} else if (c == ' ') {
				size_t j = i;
				while (j < end && p->text.ptr[j] == ' ')
					j++;
				struct atom *a = atom_add(p);
				a->off = i;
				a->len = j - i;
				a->w = width_of(p, s, size, " ", 1) * (double)(j - i);
				a->kind = ATOM_SPACE;
				a->style = (unsigned char)s;
				i = j;
			} else {
				size_t j = i;
				while (j < end && p->text.ptr[j] != ' ' && p->text.ptr[j] != '\n')
					j++;
				add_word(p, s, size, i, j - i, maxw);
				i = j;
			}
		}
	}
}

static void line_add(struct pdf *p, size_t a0, size_t a1, bool last)
{
	if (p->nlines == p->caplines) {
		p->caplines = p->caplines ? p->caplines * 2 : 16;
		p->lines = xrealloc(p->lines, p->caplines * sizeof *p->lines);
	}
	struct line *l = &p->lines[p->nlines++];
	l->a0 = a0;
	l->a1 = a1;
	l->last = last;
	l->w = 0;
	l->nspaces = 0;
	for (size_t i = a0; i < a1; i++) {
		l->w += p->atoms[i].w;
		l->nspaces += p->atoms[i].kind == ATOM_SPACE;
	}
}

/* Greedy line breaking of p->atoms: first line w wide, the others w - hang. */
static void break_lines(struct pdf *p, double w, double hang)
{
	p->nlines = 0;
	size_t i = 0, n = p->natoms;
	while (i < n) {
		double avail = p->nlines == 0 ? w : w - hang;
		while (i < n && p->atoms[i].kind == ATOM_SPACE)
			i++;
		if (i >= n)
			break;
		size_t start = i, end = n, next = n, brk = 0, j;
		bool last = true;
		double x = 0;
		for (j = start; j < n; j++) {
			const struct atom *a = &p->atoms[j];
			if (a->kind == ATOM_NL) {
				end = j;
				next = j + 1;
				break;
			}
			if (a->kind == ATOM_SPACE) {
				brk = j;
				x += a->w;
				continue;
			}
			if (x + a->w > avail + 0.01 && j > start) {
				/* break at the last space, or inside a run of
				 * words glued together without one */
				end = brk > start ? brk : j;
				next = end;
				last = false;
				break;
			}
			x += a->w;
		}
		while (end > start && p->atoms[end - 1].kind == ATOM_SPACE)
			end--;
		line_add(p, start, end, last);
		i = next;
	}
}

static void draw_seg(struct pdf *p, enum pdf_style s, double size, double x, double base_y)
{
	if (!p->seg.len || p->status)
		return;
	HPDF_Page_SetFontAndSize(p->page, p->font[s], (HPDF_REAL)size);
	HPDF_Page_TextOut(p->page, (HPDF_REAL)x, (HPDF_REAL)(p->ph - base_y), buf_cstr(&p->seg));
	buf_reset(&p->seg);
}

static void draw_line(struct pdf *p, const struct line *l, enum pdf_align a, double size, double x, double avail,
		      double top)
{
	double lh = size * p->leading;
	double base_y = top + (lh - size) / 2 + size * 0.8;
	double xs = x, extra = 0;
	if (a == PDF_CENTER)
		xs = x + (avail - l->w) / 2;
	else if (a == PDF_RIGHT)
		xs = x + avail - l->w;
	else if (a == PDF_JUSTIFY && !l->last && l->nspaces)
		extra = (avail - l->w) / (double)l->nspaces;
	if (extra > size) /* a few words stretched over the line look worse ragged-right */
		extra = 0;
	if (l->a0 == l->a1 || p->status)
		return;
	HPDF_Page_BeginText(p->page);
	buf_reset(&p->seg);
	int seg_style = -1;
	double seg_x = xs, cx = xs;
	for (size_t i = l->a0; i < l->a1; i++) {
		const struct atom *at = &p->atoms[i];
		/* one string per stretch of a style; words one by one when justified */
		if (at->style != seg_style || (extra > 0 && at->kind == ATOM_SPACE)) {
			draw_seg(p, (enum pdf_style)(seg_style < 0 ? 0 : seg_style), size, seg_x, base_y);
			seg_style = at->style;
			seg_x = cx;
		}
		if (at->kind == ATOM_SPACE && extra > 0) {
			cx += at->w + extra;
			seg_x = cx;
			continue;
		}
		buf_append(&p->seg, p->text.ptr + at->off, at->len);
		cx += at->w;
	}
	draw_seg(p, (enum pdf_style)(seg_style < 0 ? 0 : seg_style), size, seg_x, base_y);
	HPDF_Page_EndText(p->page);
}

/* Lays runs out in [x, x + w) from top; draws them when draw is set; breaks
 * pages when paged is set. Returns the y below the last line. */
static double flow(struct pdf *p, const struct pdf_run *runs, size_t n, double size, enum pdf_align a, double x,
		   double w, double hang, double top, bool draw, bool paged)
{
	if (p->status)
		return top;
	if (hang < 0 || hang > w / 2)
		hang = 0;
	atomize(p, runs, n, size, w - hang);
	break_lines(p, w, hang);
	double lh = size * p->leading, y = top;
	for (size_t i = 0; i < p->nlines && !p->status; i++) {
		if (paged && y + lh > p->ph - p->mb && y > p->mt) {
			pdf_new_page(p);
			y = p->y;
		}
		if (draw)
			draw_line(p, &p->lines[i], a, size, i ? x + hang : x, i ? w - hang : w, y);
		y += lh;
	}
	return y;
}

double pdf_text_width(struct pdf *p, enum pdf_style s, double size, const char *utf8)
{
	if (!utf8 || p->status)
		return 0;
	struct pdf_run r = {s, utf8};
	atomize(p, &r, 1, size, 1e9);
	double w = 0;
	for (size_t i = 0; i < p->natoms; i++)
		w += p->atoms[i].w;
	return w;
}

void pdf_para(struct pdf *p, enum pdf_align a, double hang, const struct pdf_run *runs, size_t n)
{
	p->y = flow(p, runs, n, p->size, a, p->col_x, p->col_w, hang, p->y, true, true);
}

void pdf_text(struct pdf *p, enum pdf_align a, const char *utf8)
{
	if (!utf8)
		return;
	struct pdf_run r = {p->style, utf8};
	pdf_para(p, a, 0, &r, 1);
}

/* Lines flow() would make of r in width w at size (no drawing). */
static size_t count_lines(struct pdf *p, const struct pdf_run *r, double size, double w)
{
	atomize(p, r, 1, size, w);
	break_lines(p, w, 0);
	return p->nlines;
}

void pdf_text_fit(struct pdf *p, enum pdf_align a, double min_size, const char *utf8)
{
	if (!utf8 || p->status)
		return;
	double w = pdf_text_width(p, p->style, p->size, utf8), size = p->size;
	if (w > p->col_w)
		size = size * p->col_w / w * 0.999;
	if (size < min_size) /* it wraps anyway: then at full size */
		size = p->size;
	struct pdf_run r = {p->style, utf8};
	double x = p->col_x, cw = p->col_w;
	size_t n = count_lines(p, &r, size, cw);
	if (n > 1) {
		/* the narrowest width that still takes n lines: lines of even
		 * length, no lone word on the last one */
		double lo = cw / (double)n, hi = cw;
		for (int i = 0; i < 20 && hi - lo > 0.5; i++) {
			double mid = (lo + hi) / 2;
			if (count_lines(p, &r, size, mid) <= n)
				hi = mid;
			else
				lo = mid;
		}
		if (a == PDF_CENTER || a == PDF_JUSTIFY)
			x += (cw - hi) / 2;
		else if (a == PDF_RIGHT)
			x += cw - hi;
		cw = hi;
	}
	p->y = flow(p, &r, 1, size, a, x, cw, 0, p->y, true, true);
}

/* ---- lines, tables, QR ---- */

void pdf_line(struct pdf *p, double x1, double y1, double x2, double y2, double lw)
{
	if (p->status)
		return;
	HPDF_Page_SetLineWidth(p->page, (HPDF_REAL)lw);
	HPDF_Page_MoveTo(p->page, (HPDF_REAL)x1, (HPDF_REAL)(p->ph - y1));
	HPDF_Page_LineTo(p->page, (HPDF_REAL)x2, (HPDF_REAL)(p->ph - y2));
	HPDF_Page_Stroke(p->page);
}

void pdf_rect(struct pdf *p, double x, double y, double w, double h, double lw)
{
	if (p->status)
		return;
	HPDF_Page_SetLineWidth(p->page, (HPDF_REAL)lw);
	HPDF_Page_Rectangle(p->page, (HPDF_REAL)x, (HPDF_REAL)(p->ph - y - h), (HPDF_REAL)w, (HPDF_REAL)h);
	HPDF_Page_Stroke(p->page);
}

void pdf_rule(struct pdf *p, enum pdf_align a, double len, double lw)
{
	if (len > p->col_w)
		len = p->col_w;
	double x = p->col_x;
	if (a == PDF_RIGHT)
		x += p->col_w - len;
	else if (a != PDF_LEFT)
		x += (p->col_w - len) / 2;
	pdf_line(p, x, p->y, x + len, p->y, lw);
}

enum { CELL_PAD_X = 4, CELL_PAD_Y = 2 };

/* Height of one table row, or draws it at y when draw is set. */
static double table_row(struct pdf *p, const struct pdf_col *cols, size_t ncols, const double *xs, const double *ws,
			const char *const *cells, bool header, double y, bool draw)
{
	double h = 0;
	for (size_t c = 0; c < ncols; c++) {
		const char *t = header ? cols[c].title : cells[c];
		struct pdf_run r = {header ? PDF_BOLD : p->style, t ? t : ""};
		enum pdf_align a = header ? PDF_CENTER : cols[c].align;
		double bottom = flow(p, &r, 1, p->size, a, xs[c] + CELL_PAD_X, ws[c] - 2 * CELL_PAD_X, 0,
				     y + CELL_PAD_Y, draw, false);
		if (bottom - y > h)
			h = bottom - y;
	}
	h += CELL_PAD_Y;
	if (h < p->size * p->leading + 2 * CELL_PAD_Y)
		h = p->size * p->leading + 2 * CELL_PAD_Y;
	return h;
}

static void table_borders(struct pdf *p, const double *xs, const double *ws, size_t ncols, double y, double h)
{
	pdf_rect(p, xs[0], y, xs[ncols - 1] + ws[ncols - 1] - xs[0], h, 0.6);
	for (size_t c = 1; c < ncols; c++)
		pdf_line(p, xs[c], y, xs[c], y + h, 0.6);
}

void pdf_table(struct pdf *p, const struct pdf_col *cols, size_t ncols, const char *const *cells, size_t nrows)
{
	if (p->status || ncols == 0)
		return;
	if (ncols > PDF_MAX_COLS) {
		pdf_fail(p, ERR_INTERNAL, "pdf_table: %zu columns, at most %d", ncols, PDF_MAX_COLS);
		return;
	}
	double xs[PDF_MAX_COLS], ws[PDF_MAX_COLS], total = 0;
	for (size_t c = 0; c < ncols; c++)
		total += cols[c].weight > 0 ? cols[c].weight : 1;
	double x = p->col_x;
	for (size_t c = 0; c < ncols; c++) {
		xs[c] = x;
		ws[c] = p->col_w * (cols[c].weight > 0 ? cols[c].weight : 1) / total;
		x += ws[c];
	}
	double bottom = p->ph - p->mb;
	double hh = table_row(p, cols, ncols, xs, ws, NULL, true, p->y, false);
	/* the header never stands alone at the foot of a page */
	double first = nrows ? table_row(p, cols, ncols, xs, ws, cells, false, 0, false) : 0;
	if (p->y + hh + first > bottom && p->y > p->mt)
		pdf_new_page(p);
	table_row(p, cols, ncols, xs, ws, NULL, true, p->y, true);
	table_borders(p, xs, ws, ncols, p->y, hh);
	p->y += hh;
	bool rows_on_page = false;
	for (size_t r = 0; r < nrows && !p->status; r++) {
		const char *const *row = cells + r * ncols;
		double h = table_row(p, cols, ncols, xs, ws, row, false, p->y, false);
		/* a row taller than a whole page is not split: it runs over the
		 * bottom margin rather than leave pages holding only a header */
		if (p->y + h > bottom && rows_on_page) {
			pdf_new_page(p);
			table_row(p, cols, ncols, xs, ws, NULL, true, p->y, true);
			table_borders(p, xs, ws, ncols, p->y, hh);
			p->y += hh;
		}
		table_row(p, cols, ncols, xs, ws, row, false, p->y, true);
		table_borders(p, xs, ws, ncols, p->y, h);
		p->y += h;
		rows_on_page = true;
	}
}

void pdf_qr(struct pdf *p, double x, double y, double size, const char *data)
{
	if (p->status || !data || !*data)
		return;
	QRcode *q = QRcode_encodeString(data, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q) {
		if (errno == ENOMEM)
			abort();
		pdf_fail(p, ERR_INVALID, "QR code: %zu bytes of content do not fit", strlen(data));
		return;
	}
	int n = q->width;
	double m = size / (n + 8);
	HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
	/* one path of horizontal runs, filled once: no seams between modules */
	for (int r = 0; r < n; r++) {
		int c = 0;
		while (c < n) {
			if (!(q->data[r * n + c] & 1)) {
				c++;
				continue;
			}
			int c0 = c;
			while (c < n && (q->data[r * n + c] & 1))
				c++;
			double top = y + (4 + r) * m;
			HPDF_Page_Rectangle(p->page, (HPDF_REAL)(x + (4 + c0) * m), (HPDF_REAL)(p->ph - top - m),
					    (HPDF_REAL)((c - c0) * m), (HPDF_REAL)m);
		}
	}
	HPDF_Page_Fill(p->page);
	QRcode_free(q);
}
