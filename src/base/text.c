/* text.c: diacritic folding for Vietnamese search, simple validators. */
#include "base/text.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Every accented Vietnamese letter, grouped by the ASCII letter it folds to. */
static const struct {
	char base;
	const char *variants;
} fold_groups[] = {
	{'a', "àáảãạăằắẳẵặâầấẩẫậÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ"},
	{'e', "èéẻẽẹêềếểễệÈÉẺẼẸÊỀẾỂỄỆ"},
	{'i', "ìíỉĩịÌÍỈĨỊ"},
	{'o', "òóỏõọôồốổỗộơờớởỡợÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ"},
	{'u', "ùúủũụưừứửữựÙÚỦŨỤƯỪỨỬỮỰ"},
	{'y', "ỳýỷỹỵỲÝỶỸỴ"},
	{'d', "đĐ"},
};

static uint32_t utf8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t c = *p;
	int n = 0;
	if (c < 0x80)
		n = 0;
	else if ((c & 0xE0) == 0xC0) {
		c &= 0x1F;
		n = 1;
	} else if ((c & 0xF0) == 0xE0) {
		c &= 0x0F;
		n = 2;
	} else if ((c & 0xF8) == 0xF0) {
		c &= 0x07;
		n = 3;
	}
	p++;
	for (int i = 0; i < n && (*p & 0xC0) == 0x80; i++, p++)
		c = (c << 6) | (*p & 0x3F);
	*pp = p;
	return c;
}

/* The groups as a table by code point: every variant lies below U+1F00. */
enum { FOLD_MAX = 0x1F00 };
static char fold_table[FOLD_MAX];
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

static void fold_build(void)
{
	for (size_t g = 0; g < sizeof fold_groups / sizeof fold_groups[0]; g++) {
		const unsigned char *v = (const unsigned char *)fold_groups[g].variants;
		while (*v) {
			uint32_t cp = utf8_next(&v);
			if (cp < FOLD_MAX)
				fold_table[cp] = fold_groups[g].base;
		}
	}
}

static char fold_cp(uint32_t cp)
{
	pthread_once(&fold_once, fold_build);
	return cp < FOLD_MAX ? fold_table[cp] : 0;
}

void text_fold(const char *in, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	bool space = false;
	while (*p) {
		const unsigned char *start = p;
		uint32_t cp = utf8_next(&p);
		if (cp < 0x80) {
			if (isspace((int)cp)) {
				space = true;
				continue;
			}
			if (space && out->len)
				buf_putc(out, ' ');
			space = false;
			buf_putc(out, (char)tolower((int)cp));
			continue;
		}
		if (space && out->len)
			buf_putc(out, ' ');
		space = false;
		char f = fold_cp(cp);
		if (f)
			buf_putc(out, f);
		else
			buf_append(out, start, (size_t)(p - start));
	}
}

bool text_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || !utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

bool text_digits(const char *s, size_t n)
{
	size_t len = strlen(s);
	if (len == 0 || (n && len != n))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}
