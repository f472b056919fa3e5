/* fuzz_route.c: libFuzzer target for the small parsers that see path and
 * query parameters, settings and imported data. Routing itself is static in
 * src/http/http.c, so this fuzzes the public pieces a routed value goes
 * through: utf8_valid (every path and query value), agency_code_valid (the
 * {code} of /api/v1/agencies/{code}), date_parse and time_parse_rfc3339
 * (query filters, JSON fields), text_fold (the search key of ?q=),
 * config_parse_listen (--listen), and time_fmt_rfc3339 on any instant.
 * Each result is checked against an independent reference or a round trip:
 *   - utf8_valid agrees with a reference decoder written from RFC 3629 §4;
 *   - agency_code_valid agrees with ^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$;
 *   - a parsed date formats back to the same 10 bytes;
 *   - a parsed time formats (+07:00) and parses back to the same microsecond,
 *     whenever the formatted local year is one date_parse accepts (1900..9999);
 *   - text_fold of valid UTF-8 is valid UTF-8, no longer than its input, has no
 *     ASCII capital, no leading, trailing or doubled space, and is idempotent;
 *   - config_parse_listen gives a host under 64 bytes and a port in 0..65535.
 * time_fmt_rfc3339 is fuzzed on instants within +-2^62 us (+-146,000 years):
 * within 10^6 us of INT64_MIN its fraction arithmetic overflows (signed
 * overflow, UB), a range no stored time can reach (times are time_now_us() or
 * parsed, years 1900..9999). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agency/agency.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/text.h"
#include "base/time.h"

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			__builtin_trap();                                                                              \
	} while (0)

/* RFC 3629 §4 syntax, byte ranges spelled out. */
static bool ref_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		unsigned lo = 0x80, hi = 0xBF;
		size_t k;
		if (c <= 0x7F) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF)
			k = 1;
		else if (c == 0xE0) {
			k = 2;
			lo = 0xA0;
		} else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
			k = 2;
		else if (c == 0xED) {
			k = 2;
			hi = 0x9F;
		} else if (c == 0xF0) {
			k = 3;
			lo = 0x90;
		} else if (c >= 0xF1 && c <= 0xF3)
			k = 3;
		else if (c == 0xF4) {
			k = 3;
			hi = 0x8F;
		} else
			return false;
		if (n - i < k + 1)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (p[i + j] < 0x80 || p[i + j] > 0xBF)
				return false;
		i += k + 1;
	}
	return true;
}

static bool ref_agency_code(const char *s)
{
	if (strlen(s) != 13)
		return false;
	for (int i = 0; i < 13; i++) {
		char c = s[i];
		bool ok = (i == 3 || i == 6 || i == 9) ? c == '.'
			  : i == 10		       ? (c >= 'A' && c <= 'Z')
						       : (c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static void check_fold(const char *s)
{
	size_t n = strlen(s);
	struct buf f = BUF_INIT;
	text_fold(s, &f);
	if (utf8_valid(s, n)) {
		const char *o = buf_cstr(&f);
		CHECK(f.len <= n);
		CHECK(strlen(o) == f.len); /* no NUL produced from valid text */
		CHECK(utf8_valid(o, f.len));
		for (size_t i = 0; i < f.len; i++) {
			CHECK(!(o[i] >= 'A' && o[i] <= 'Z'));
			if (o[i] == ' ')
				CHECK(i > 0 && i + 1 < f.len && o[i + 1] != ' ');
			else
				CHECK(o[i] != '\t' && o[i] != '\n' && o[i] != '\r' && o[i] != '\v' && o[i] != '\f');
		}
		struct buf g = BUF_INIT;
		text_fold(o, &g);
		CHECK(g.len == f.len && memcmp(buf_cstr(&g), o, f.len) == 0);
		buf_free(&g);
	}
	buf_free(&f);
}

static void check_time_roundtrip(int64_t us)
{
	char out[64];
	time_fmt_rfc3339(us, out, sizeof out);
	CHECK(strlen(out) < sizeof out - 1);
	int y = 0;
	/* the local year is what precedes the first '-' after an optional sign */
	y = atoi(out);
	int64_t back = 0;
	bool ok = time_parse_rfc3339(out, &back);
	if (out[0] != '-' && y >= 1900 && y <= 9999) {
		CHECK(ok);
		CHECK(back == us);
	} else {
		CHECK(!ok);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* utf8_valid on the raw bytes (NULs included, as a length-delimited value) */
	CHECK(utf8_valid((const char *)data, size) == ref_utf8(data, size));

	/* the C-string parsers on a NUL-terminated copy */
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;

	CHECK(agency_code_valid(s) == ref_agency_code(s));

	int32_t days = 0;
	if (date_parse(s, &days)) {
		char out[32];
		date_fmt(days, out, sizeof out);
		CHECK(strcmp(out, s) == 0);
	}

	int64_t us = 0;
	if (time_parse_rfc3339(s, &us))
		check_time_roundtrip(us);

	check_fold(s);

	char host[64];
	int port = -1;
	memset(host, 'x', sizeof host);
	if (config_parse_listen(s, host, &port)) {
		CHECK(memchr(host, 0, sizeof host) != NULL);
		CHECK(strlen(host) > 0);
		CHECK(port >= 0 && port <= 65535);
	}

	/* any instant formats without overflow; the first 8 bytes as microseconds */
	if (size >= 8) {
		uint64_t bits;
		memcpy(&bits, data, 8);
		int64_t any = (int64_t)(bits & ((UINT64_C(1) << 63) - 1)) - (INT64_C(1) << 62);
		check_time_roundtrip(any);
	}
	free(s);
	return 0;
}
