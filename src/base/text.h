/* text.h: Vietnamese-aware text helpers shared by search and validation. */
#ifndef TINHSO_TEXT_H
#define TINHSO_TEXT_H

#include <stdbool.h>

#include "base/buf.h"

/* Folds UTF-8 text for accent- and case-insensitive search: Vietnamese
 * letters lose their marks (đ -> d), ASCII is lowercased, runs of spaces become
 * one. Other characters pass through. "Hải Dương" -> "hai duong". */
void text_fold(const char *in, struct buf *out);

/* True when s is non-empty, valid UTF-8, at most max bytes, without control characters. */
bool text_valid(const char *s, size_t max);

/* True when s is all ASCII digits and exactly n long (n = 0: any non-zero length). */
bool text_digits(const char *s, size_t n);

#endif
