/* fuzz_json.c: libFuzzer target for the JSON edge (src/base/json.h): arbitrary
 * bytes through json_parse (UTF-8, depth, duplicate keys, trailing data), then
 * json_decode against a field table with every field type, required and
 * optional fields, length and item limits, and a nested object decoded with a
 * second table. Checks, besides "no crash, leak or UB":
 *   - json_parse accepts only valid UTF-8 and never returns both an error and a tree;
 *   - every string json_decode hands out is valid UTF-8 without NUL, within its limit,
 *     and survives json_escape -> json_parse unchanged (the writer's escaping is
 *     what makes signed canonical bytes readable again);
 *   - an accepted document written back by jansson parses again (no depth or
 *     duplicate-key disagreement between the pre-check and jansson). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			__builtin_trap();                                                                              \
	} while (0)

static void check_string(const char *s, size_t max)
{
	if (!s)
		return;
	size_t n = strlen(s);
	CHECK(n <= max);
	CHECK(utf8_valid(s, n));
	/* escape and read back */
	struct buf b = BUF_INIT;
	json_escape(&b, s, n);
	json_t *j = NULL;
	struct err e = {0};
	CHECK(json_parse(b.ptr, b.len, &j, &e) == 0);
	CHECK(json_is_string(j));
	CHECK(json_string_length(j) == n && memcmp(json_string_value(j), s, n) == 0);
	json_decref(j);
	buf_free(&b);
}

static void decode_all(json_t *root)
{
	struct arena a = ARENA_INIT;
	struct err e = {0};
	const char *name = NULL, *code = NULL, *longs = NULL;
	int64_t num = 0;
	bool flag = false, name_present = false, num_present = false;
	json_t *obj = NULL, *arr = NULL, *any = NULL;
	const struct jfield fields[] = {
	    {"name", JF_STR, true, 300, &name, &name_present}, {"code", JF_STR, false, 13, &code, NULL},
	    {"text", JF_STR, false, 0, &longs, NULL},	       {"n", JF_INT, false, 0, &num, &num_present},
	    {"flag", JF_BOOL, false, 0, &flag, NULL},	       {"obj", JF_OBJ, false, 0, &obj, NULL},
	    {"items", JF_ARR, false, 3, &arr, NULL},	       {"any", JF_ANY, false, 0, &any, NULL},
	};
	int rc = json_decode(root, fields, sizeof fields / sizeof fields[0], &a, &e);
	CHECK(rc == 0 || rc == ERR_INVALID);
	if (rc < 0) {
		CHECK(e.code == ERR_INVALID && e.nfields > 0 && e.nfields <= ERR_MAX_FIELDS);
		for (int i = 0; i < e.nfields; i++)
			CHECK(memchr(e.fields[i].name, 0, sizeof e.fields[i].name) != NULL);
	} else {
		CHECK(name != NULL && name_present);
		check_string(name, 300);
		check_string(code, 13);
		check_string(longs, 1024);
		if (arr)
			CHECK(json_is_array(arr) && json_array_size(arr) <= 3);
		if (obj) {
			CHECK(json_is_object(obj));
			const char *inner = NULL;
			int64_t depth = 0;
			struct err e2 = {0};
			const struct jfield sub[] = {
			    {"inner", JF_STR, false, 64, &inner, NULL},
			    {"depth", JF_INT, true, 0, &depth, NULL},
			};
			int rc2 = json_decode(obj, sub, 2, &a, &e2);
			CHECK(rc2 == 0 || rc2 == ERR_INVALID);
			if (rc2 == 0)
				check_string(inner, 64);
		}
	}
	/* decoding something that is not an object names "body" */
	struct err e3 = {0};
	if (!json_is_object(root)) {
		CHECK(json_decode(root, fields, 1, &a, &e3) == ERR_INVALID);
		CHECK(e3.nfields == 1 && strcmp(e3.fields[0].name, "body") == 0);
	}
	arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	json_t *root = (json_t *)1;
	struct err e = {0};
	int rc = json_parse(p, size, &root, &e);
	if (rc < 0) {
		CHECK(root == NULL);
		CHECK(rc == ERR_BAD_REQUEST && e.code == ERR_BAD_REQUEST && e.msg[0]);
		return 0;
	}
	CHECK(rc == 0 && root != NULL);
	CHECK(utf8_valid(p, size));

	/* jansson's own rendering of what we accepted must be accepted again */
	char *dump = json_dumps(root, JSON_ENCODE_ANY | JSON_COMPACT);
	if (dump) {
		json_t *again = NULL;
		struct err e2 = {0};
		CHECK(json_parse(dump, strlen(dump), &again, &e2) == 0);
		CHECK(json_equal(root, again));
		json_decref(again);
		free(dump);
	}
	decode_all(root);
	json_decref(root);
	return 0;
}
