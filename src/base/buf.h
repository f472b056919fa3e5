/* buf.h: an owning, growable, always NUL-terminated byte buffer, and str, a
 * non-owning slice. These replace every unbounded libc string function. */
#ifndef TINHSO_BUF_H
#define TINHSO_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct str {
	const char *ptr;
	size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
struct str str_from(const char *cstr); /* NULL gives the empty slice */
bool str_eq(struct str a, struct str b);
bool str_eq_cstr(struct str a, const char *b);
bool str_starts_with(struct str a, const char *prefix);

struct buf {
	char *ptr; /* NUL-terminated when cap > 0; owned */
	size_t len;
	size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_grow(struct buf *b, size_t extra); /* ensures room for extra bytes + NUL; aborts on OOM */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_put_int(struct buf *b, int64_t v); /* decimal, without printf (hot paths) */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);	/* len = 0, keeps memory */
void buf_free(struct buf *b);	/* releases memory */
const char *buf_cstr(struct buf *b); /* "" for an empty, unallocated buffer */

/* Appends the lowercase hex of n bytes. */
void buf_hex(struct buf *b, const unsigned char *p, size_t n);

/* Bounded copy into a fixed array: always NUL-terminates, returns false if truncated. */
bool str_copy(char *dst, size_t cap, const char *src);

/* True if p[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *p, size_t n);

#endif
