/* buf.c: growable buffers, slices and UTF-8 validation. */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct str str_from(const char *cstr)
{
	return (struct str){cstr ? cstr : "", cstr ? strlen(cstr) : 0};
}

bool str_eq(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool str_eq_cstr(struct str a, const char *b)
{
	return str_eq(a, str_from(b));
}

bool str_starts_with(struct str a, const char *prefix)
{
	size_t n = strlen(prefix);
	return a.len >= n && memcmp(a.ptr, prefix, n) == 0;
}

void buf_grow(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256; /* a log line or a small JSON answer: one allocation */
	while (cap < b->len + extra + 1) {
		if (cap > ((size_t)-1) / 2)
			abort();
		cap *= 2;
	}
	char *p = realloc(b->ptr, cap);
	if (!p)
		abort();
	b->ptr = p;
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->ptr + b->len, p, n);
	b->len += n;
	b->ptr[b->len] = 0;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_grow(b, 1);
	b->ptr[b->len++] = c;
	b->ptr[b->len] = 0;
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	buf_grow(b, 64);
	int n = vsnprintf(b->ptr + b->len, b->cap - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		abort();
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		n = vsnprintf(b->ptr + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void buf_put_int(struct buf *b, int64_t v)
{
	char t[24], *p = t + sizeof t;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	buf_append(b, p, (size_t)(t + sizeof t - p));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = 0;
}

void buf_free(struct buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

const char *buf_cstr(struct buf *b)
{
	return b->ptr ? b->ptr : "";
}

void buf_hex(struct buf *b, const unsigned char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	buf_grow(b, n * 2);
	for (size_t i = 0; i < n; i++) {
		b->ptr[b->len++] = hx[p[i] >> 4];
		b->ptr[b->len++] = hx[p[i] & 15];
	}
	b->ptr[b->len] = 0;
}

bool str_copy(char *dst, size_t cap, const char *src)
{
	if (cap == 0)
		return false;
	size_t n = strlen(src);
	bool fits = n < cap;
	if (!fits)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
	return fits;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t k;
		unsigned cp;
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
			return false;
		}
		if ((size_t)(end - p) <= k)
			return false;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		p += k + 1;
	}
	return true;
}
