/* web.c: the machinery every page shares (see web.h): loading templates,
 * catalogs and static files, the language of a request, the layout, form
 * input and errors, answers (pages, redirects, error pages, files), static
 * files with ETags, and the small formats pages use. */
#include "web/web.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agency/agency.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "web/mustache.h"

#define FORM_COOKIE "tinhso_form"
#define LANG_COOKIE "lang"

enum { STATIC_MAX = 64, STATIC_MAX_SIZE = 2 * 1024 * 1024, REDISPLAY_MAX = 64 * 1024 };

struct static_file {
	char *name, *data, *type;
	size_t len;
	char etag[24]; /* "\"<16 hex>\"" */
};

static struct {
	bool ready;
	struct arena arena;
	struct mustache_set *tpl;
	json_t *cat[2]; /* vi, en (English over Vietnamese) */
	struct static_file files[STATIC_MAX];
	int nfiles;
	const char *css_href, *js_href, *icon_href;
	/* the province's name, from the root agency, refreshed now and then */
	pthread_mutex_t site_mu;
	int64_t site_at;
	char agency_vi[256], agency_en[256], province_vi[256], province_en[256];
} W = {.site_mu = PTHREAD_MUTEX_INITIALIZER};

/* ---- loading ---- */

static int read_all(const char *path, size_t max, char **out, size_t *len, struct err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(e, ERR_CONFIG, "web: cannot read '%s': %s", path, strerror(errno));
	struct buf b = BUF_INIT;
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		buf_append(&b, chunk, n);
		if (b.len > max) {
			fclose(f);
			buf_free(&b);
			return err_set(e, ERR_CONFIG, "web: '%s' is larger than %zu bytes", path, max);
		}
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		buf_free(&b);
		return err_set(e, ERR_CONFIG, "web: error reading '%s'", path);
	}
	*out = arena_strndup(&W.arena, b.ptr ? b.ptr : "", b.len);
	*len = b.len;
	buf_free(&b);
	return 0;
}

/* Deep merge: keys of over replace those of base (objects merge recursively). */
static void merge(json_t *base, json_t *over)
{
	const char *k;
	json_t *v;
	json_object_foreach(over, k, v)
	{
		json_t *b = json_object_get(base, k);
		if (json_is_object(b) && json_is_object(v))
			merge(b, v);
		else
			json_object_set(base, k, v);
	}
}

/* Keys present in a but not in b, logged (catalog parity). */
static int missing_keys(json_t *a, json_t *b, const char *prefix, const char *lang)
{
	int n = 0;
	const char *k;
	json_t *v;
	json_object_foreach(a, k, v)
	{
		json_t *w = json_object_get(b, k);
		if (json_is_object(v)) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s%s.", prefix, k);
			n += missing_keys(v, json_is_object(w) ? w : NULL, sub, lang);
		} else if (!w) {
			log_warn("web: catalog %s lacks %s%s", lang, prefix, k);
			n++;
		}
	}
	return n;
}

static int load_catalog(const char *dir, const char *lang, json_t **out, struct err *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/i18n/%s/web.json", dir, lang);
	char *text;
	size_t len;
	int rc = read_all(path, 4 << 20, &text, &len, e);
	if (rc < 0)
		return rc;
	struct err pe = {0};
	if (json_parse(text, len, out, &pe) < 0)
		return err_set(e, ERR_CONFIG, "web: %s: %s", path, pe.msg);
	if (!json_is_object(*out)) {
		json_decref(*out);
		return err_set(e, ERR_CONFIG, "web: %s must hold a JSON object", path);
	}
	return 0;
}

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot)
		return "application/octet-stream";
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".css", "text/css; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".woff2", "font/woff2"},
		{".txt", "text/plain; charset=utf-8"},
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static int load_static(const char *dir, struct err *e)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/static", dir);
	DIR *d = opendir(path);
	if (!d)
		return err_set(e, ERR_CONFIG, "web: cannot open '%s': %s", path, strerror(errno));
	int rc = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.')
			continue;
		char fp[PATH_MAX];
		snprintf(fp, sizeof fp, "%s/%s", path, de->d_name);
		struct stat st;
		if (stat(fp, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (W.nfiles >= STATIC_MAX) {
			rc = err_set(e, ERR_CONFIG, "web: more than %d static files", STATIC_MAX);
			break;
		}
		struct static_file *f = &W.files[W.nfiles];
		if ((rc = read_all(fp, STATIC_MAX_SIZE, &f->data, &f->len, e)) < 0)
			break;
		f->name = arena_strdup(&W.arena, de->d_name);
		f->type = (char *)type_of(f->name);
		char hex[65];
		crypto_sha256_hex(f->data, f->len, hex);
		snprintf(f->etag, sizeof f->etag, "\"%.16s\"", hex);
		W.nfiles++;
	}
	closedir(d);
	return rc;
}

static const struct static_file *static_find(const char *name)
{
	for (int i = 0; i < W.nfiles; i++)
		if (strcmp(W.files[i].name, name) == 0)
			return &W.files[i];
	return NULL;
}

/* "/static/app.css?v=<etag digits>": a changed file gets a new URL. */
static const char *static_href(const char *name)
{
	const struct static_file *f = static_find(name);
	if (!f)
		return arena_printf(&W.arena, "/static/%s", name);
	return arena_printf(&W.arena, "/static/%s?v=%.10s", name, f->etag + 1);
}

static bool has_templates(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/templates/layout.mustache", dir);
	return access(path, R_OK) == 0;
}

const char *web_dir_resolve(const char *dir, struct arena *a)
{
	if (!dir || !*dir)
		dir = "web";
	if (has_templates(dir) || dir[0] == '/')
		return arena_strdup(a, dir);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return arena_strdup(a, dir);
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return arena_strdup(a, dir);
	*slash = 0; /* the binary's directory: build/ */
	char *p = arena_printf(a, "%s/../%s", exe, dir);
	if (has_templates(p))
		return p;
	p = arena_printf(a, "%s/../share/tinhso/%s", exe, dir);
	if (has_templates(p))
		return p;
	return arena_strdup(a, dir);
}

int web_init(struct app *app, const char *dir, struct err *e)
{
	(void)app;
	if (W.ready)
		return 0;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/templates", dir);
	W.tpl = mustache_set_new(&W.arena);
	int rc = mustache_set_load_dir(W.tpl, path, e);
	if (rc < 0)
		return rc;
	if (!mustache_set_find(W.tpl, "layout", 6))
		return err_set(e, ERR_CONFIG, "web: %s/layout.mustache is missing", path);
	json_t *vi, *en;
	if ((rc = load_catalog(dir, "vi", &vi, e)) < 0)
		return rc;
	if ((rc = load_catalog(dir, "en", &en, e)) < 0) {
		json_decref(vi);
		return rc;
	}
	missing_keys(vi, en, "", "en");
	missing_keys(en, vi, "", "vi");
	json_t *merged = json_deep_copy(vi);
	merge(merged, en);
	json_decref(en);
	W.cat[0] = vi;
	W.cat[1] = merged;
	if ((rc = load_static(dir, e)) < 0)
		return rc;
	W.css_href = static_href("app.css");
	W.js_href = static_href("app.js");
	W.icon_href = static_href("favicon.svg");
	W.ready = true;
	log_info("web: %zu templates, %d static files from %s", mustache_set_count(W.tpl), W.nfiles, dir);
	return 0;
}

bool web_ready(void) { return W.ready; }

/* ---- catalogs ---- */

static json_t *cat_lookup(json_t *cat, const char *key)
{
	json_t *v = cat;
	const char *p = key;
	while (v && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		char part[96];
		if (n >= sizeof part)
			return NULL;
		memcpy(part, p, n);
		part[n] = 0;
		v = json_object_get(v, part);
		p = dot ? dot + 1 : p + n;
	}
	return v;
}

const char *web_t(const struct web_page *p, const char *key)
{
	if (!W.ready)
		return key;
	json_t *v = cat_lookup(W.cat[p && p->en ? 1 : 0], key);
	if (json_is_string(v))
		return json_string_value(v);
	log_warn("web: no catalog text for '%s'", key);
	return key;
}

char *web_tf(const struct web_page *p, const char *key, ...)
{
	const char *t = web_t(p, key);
	struct buf b = BUF_INIT;
	const char *names[16], *values[16];
	int n = 0;
	va_list ap;
	va_start(ap, key);
	for (const char *name; n < 16 && (name = va_arg(ap, const char *));) {
		names[n] = name;
		values[n] = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	for (const char *s = t; *s;) {
		if (*s == '{') {
			const char *close = strchr(s, '}');
			int k = -1;
			if (close)
				for (int i = 0; i < n; i++)
					if (strlen(names[i]) == (size_t)(close - s - 1) &&
					    memcmp(names[i], s + 1, (size_t)(close - s - 1)) == 0)
						k = i;
			if (k >= 0) {
				buf_puts(&b, values[k] ? values[k] : "");
				s = close + 1;
				continue;
			}
		}
		buf_putc(&b, *s++);
	}
	char *out = arena_strndup(p->r->a, b.ptr ? b.ptr : "", b.len);
	buf_free(&b);
	return out;
}

const char *web_pick(const struct web_page *p, const char *vi, const char *en)
{
	if (p->en && en && *en)
		return en;
	return vi ? vi : "";
}

/* ---- language ---- */

static const char *accept_language(const char *h)
{
	/* the first of vi / en with the highest q; anything else is ignored */
	double best_q = -1;
	const char *best = NULL;
	while (h && *h) {
		while (*h == ' ' || *h == ',')
			h++;
		const char *tag = h;
		while (*h && *h != ',' && *h != ';')
			h++;
		size_t tn = (size_t)(h - tag);
		double q = 1.0;
		if (*h == ';') {
			const char *qs = strstr(h, "q=");
			const char *comma = strchr(h, ',');
			if (qs && (!comma || qs < comma))
				q = strtod(qs + 2, NULL);
			while (*h && *h != ',')
				h++;
		}
		const char *lang = NULL;
		if (tn >= 2 && strncasecmp(tag, "vi", 2) == 0 && (tn == 2 || tag[2] == '-'))
			lang = "vi";
		else if (tn >= 2 && strncasecmp(tag, "en", 2) == 0 && (tn == 2 || tag[2] == '-'))
			lang = "en";
		if (lang && q > best_q) {
			best_q = q;
			best = lang;
		}
	}
	return best ? best : "vi";
}

static const char *request_lang(struct req *r)
{
	const char *c = req_cookie(r, LANG_COOKIE);
	if (c && strcmp(c, "en") == 0)
		return "en";
	if (c && strcmp(c, "vi") == 0)
		return "vi";
	return accept_language(req_header(r, "Accept-Language"));
}

/* ---- JSON helpers ---- */

/* s with invalid UTF-8 sequences replaced by U+FFFD (into a). */
static char *utf8_fix(struct arena *a, const char *s, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i = 0;
	while (i < n) {
		size_t len = 1;
		unsigned char c = (unsigned char)s[i];
		if (c >= 0xC0 && c < 0xE0)
			len = 2;
		else if (c >= 0xE0 && c < 0xF0)
			len = 3;
		else if (c >= 0xF0 && c < 0xF5)
			len = 4;
		if (i + len <= n && utf8_valid(s + i, len) && (c < 0x80 || c >= 0xC0)) {
			buf_append(&b, s + i, len);
			i += len;
		} else {
			buf_puts(&b, "\xEF\xBF\xBD");
			i++;
		}
	}
	char *out = arena_strndup(a, b.ptr ? b.ptr : "", b.len);
	buf_free(&b);
	return out;
}

json_t *web_jstr(const char *s)
{
	if (!s)
		return json_null();
	size_t n = strlen(s);
	if (utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	struct arena a = ARENA_INIT;
	json_t *v = json_string(utf8_fix(&a, s, n));
	arena_free(&a);
	return v ? v : json_string("");
}

void jset(json_t *o, const char *k, json_t *v) { json_object_set_new(o, k, v ? v : json_null()); }
void jset_s(json_t *o, const char *k, const char *s) { jset(o, k, web_jstr(s)); }
void jset_so(json_t *o, const char *k, const char *s) { jset(o, k, s && *s ? web_jstr(s) : json_null()); }
void jset_b(json_t *o, const char *k, bool v) { jset(o, k, json_boolean(v)); }
void jset_i(json_t *o, const char *k, int64_t v) { jset(o, k, json_integer(v)); }

/* ---- forms ---- */

static void form_token(struct web_page *p, char out[64])
{
	const char *c = req_cookie(p->r, FORM_COOKIE);
	if (c && strlen(c) >= 20 && strlen(c) < 64 && text_valid(c, 63)) {
		str_copy(out, 64, c);
		return;
	}
	crypto_random_token(24, out, 64);
	res_header(p->r, "Set-Cookie",
		   arena_printf(p->r->a, FORM_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax%s", out,
				p->r->tls ? "; Secure" : ""));
}

static bool form_token_ok(struct web_page *p)
{
	const char *c = req_cookie(p->r, FORM_COOKIE);
	const char *f = p->r->form_body ? req_form(p->r, "form_token") : NULL;
	size_t n = c ? strlen(c) : 0;
	return n >= 20 && f && strlen(f) == n && crypto_ct_equal(c, f, n);
}

const char *web_in_text(struct web_page *p, const char *name, bool multiline)
{
	const char *v = p->r->form_body ? req_form(p->r, name) : NULL;
	if (!v)
		return "";
	size_t n = strlen(v);
	char *s;
	if (!utf8_valid(v, n)) {
		p->bad_input = true;
		s = utf8_fix(p->r->a, v, n);
	} else {
		s = arena_strndup(p->r->a, v, n);
	}
	/* line breaks: \r\n and \r become \n, or spaces; other control characters go */
	char *w = s;
	for (char *q = s; *q; q++) {
		unsigned char c = (unsigned char)*q;
		if (c == '\r') {
			if (q[1] == '\n')
				continue;
			c = '\n';
		}
		if (c == '\n' && !multiline)
			c = ' ';
		if (c == '\t')
			c = ' ';
		if (c < 0x20 && c != '\n')
			continue;
		*w++ = (char)c;
	}
	*w = 0;
	/* trim */
	char *start = s;
	while (*start == ' ' || *start == '\n')
		start++;
	size_t len = strlen(start);
	while (len && (start[len - 1] == ' ' || start[len - 1] == '\n'))
		start[--len] = 0;
	return start;
}

const char *web_in(struct web_page *p, const char *name) { return web_in_text(p, name, false); }

const char *web_compact(struct web_page *p, const char *s, bool dashes)
{
	char *out = arena_strdup(p->r->a, s ? s : "");
	size_t k = 0;
	for (size_t i = 0; out[i]; i++)
		if (out[i] != ' ' && out[i] != '.' && !(dashes && out[i] == '-'))
			out[k++] = out[i];
	out[k] = 0;
	return out;
}

void web_err(struct web_page *p, const char *id, const char *text)
{
	if (json_object_get(p->field_errors, id))
		return; /* one message per field: the first */
	json_t *it = json_object();
	jset_s(it, "href", arena_printf(p->r->a, "#%s", id));
	jset_s(it, "text", text);
	json_array_append_new(p->errors, it);
	jset_s(p->field_errors, id, text);
}

const char *web_field_err(const struct web_page *p, const char *id)
{
	json_t *v = json_object_get(p->field_errors, id);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

bool web_check_input(struct web_page *p)
{
	if (!p->bad_input)
		return false;
	json_t *it = json_object();
	jset_s(it, "href", "#main");
	jset_s(it, "text", web_t(p, "errors.bad_utf8"));
	json_array_append_new(p->errors, it);
	return true;
}

json_t *web_field(struct web_page *p, const char *id, const char *name, const char *label, const char *value)
{
	json_t *f = json_object();
	/* every key the field partials test is present, so that a missing one is
	 * never looked up in the page around the field */
	static const char *const keys[] = {"error", "hint", "type", "width", "autocomplete", "inputmode", "options", "groups"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		jset(f, keys[i], json_null());
	jset_b(f, "optional", false);
	jset_s(f, "id", id);
	jset_s(f, "name", name);
	jset_s(f, "label", label);
	if (value && strlen(value) > REDISPLAY_MAX)
		value = arena_strndup(p->r->a, value, REDISPLAY_MAX);
	jset_s(f, "value", value ? value : "");
	const char *err = web_field_err(p, id);
	if (err)
		jset_s(f, "error", err);
	return f;
}

/* ---- formats ---- */

static void local_parts(int64_t us, int *y, unsigned *m, unsigned *d, int *hh, int *mm)
{
	int64_t s = us / 1000000 + TIME_OFFSET_S;
	int64_t day = s >= 0 ? s / 86400 : (s - 86399) / 86400;
	int64_t sec = s - day * 86400;
	civil_from_days((int32_t)day, y, m, d);
	*hh = (int)(sec / 3600);
	*mm = (int)(sec / 60 % 60);
}

const char *web_time(const struct web_page *p, int64_t us)
{
	if (!us)
		return "";
	int y, hh, mm;
	unsigned m, d;
	local_parts(us, &y, &m, &d, &hh, &mm);
	return arena_printf(p->r->a, "%02u/%02u/%04d %02d:%02d", d, m, y, hh, mm);
}

const char *web_date(const struct web_page *p, int64_t us)
{
	if (!us)
		return "";
	int y, hh, mm;
	unsigned m, d;
	local_parts(us, &y, &m, &d, &hh, &mm);
	return arena_printf(p->r->a, "%02u/%02u/%04d", d, m, y);
}

const char *web_money(const struct web_page *p, int64_t vnd)
{
	char digits[32], out[48];
	snprintf(digits, sizeof digits, "%lld", (long long)(vnd < 0 ? -vnd : vnd));
	size_t n = strlen(digits), k = 0;
	if (vnd < 0)
		out[k++] = '-';
	for (size_t i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			out[k++] = p->en ? ',' : '.';
		out[k++] = digits[i];
	}
	out[k] = 0;
	return arena_printf(p->r->a, "%s %s", out, p->en ? "VND" : "đồng");
}

const char *web_size(const struct web_page *p, int64_t bytes)
{
	char sep = p->en ? '.' : ',';
	if (bytes < 1024)
		return arena_printf(p->r->a, "%lld B", (long long)bytes);
	if (bytes < 1024 * 1024)
		return arena_printf(p->r->a, "%lld KB", (long long)((bytes + 512) / 1024));
	int64_t tenths = (bytes * 10 + 512 * 1024) / (1024 * 1024);
	return arena_printf(p->r->a, "%lld%c%lld MB", (long long)(tenths / 10), sep, (long long)(tenths % 10));
}

const char *web_urlenc(struct arena *a, const char *s)
{
	struct buf b = BUF_INIT;
	for (const unsigned char *q = (const unsigned char *)(s ? s : ""); *q; q++) {
		if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
		    *q == '_' || *q == '.' || *q == '~')
			buf_putc(&b, (char)*q);
		else
			buf_printf(&b, "%%%02X", *q);
	}
	char *out = arena_strndup(a, b.ptr ? b.ptr : "", b.len);
	buf_free(&b);
	return out;
}

json_t *web_pager(struct web_page *p, const char *path, const char *base_query, int page, int per_page, int64_t total)
{
	json_t *o = json_object();
	int64_t pages = total > 0 ? (total + per_page - 1) / per_page : 1;
	if (pages <= 1) {
		jset_b(o, "show", false);
		return o;
	}
	jset_b(o, "show", true);
	json_t *list = json_array();
	for (int64_t n = 1; n <= pages; n++) {
		/* first, last, and two around the current page */
		if (n != 1 && n != pages && (n < page - 2 || n > page + 2)) {
			if (n == page - 3 || n == page + 3) {
				json_t *gap = json_object();
				jset_b(gap, "gap", true);
				json_array_append_new(list, gap);
			}
			continue;
		}
		json_t *it = json_object();
		jset_i(it, "n", n);
		jset_s(it, "href", arena_printf(p->r->a, "%s?%spage=%lld", path, base_query, (long long)n));
		jset_b(it, "current", n == page);
		json_array_append_new(list, it);
	}
	jset(o, "pages", list);
	if (page > 1)
		jset_s(o, "prev", arena_printf(p->r->a, "%s?%spage=%d", path, base_query, page - 1));
	if (page < pages)
		jset_s(o, "next", arena_printf(p->r->a, "%s?%spage=%d", path, base_query, page + 1));
	return o;
}

/* ---- the province ---- */

static void site_refresh(struct web_page *p)
{
	int64_t now = time_now_us();
	pthread_mutex_lock(&W.site_mu);
	bool fresh = W.site_at && now - W.site_at < 60 * 1000000LL;
	pthread_mutex_unlock(&W.site_mu);
	if (fresh)
		return;
	struct agency *items;
	int n;
	int64_t total;
	struct err e = {0};
	const char *top = p->c.app->nlevels ? p->c.app->levels[0] : "province";
	char avi[256] = "", aen[256] = "", pvi[256] = "", pen[256] = "";
	if (agency_list(&p->c, top, NULL, NULL, 1, 50, &items, &n, &total, &e) == 0) {
		for (int i = 0; i < n; i++) {
			if (items[i].parent || strcmp(items[i].kind, "people_committee") != 0)
				continue;
			str_copy(avi, sizeof avi, items[i].name);
			str_copy(aen, sizeof aen, items[i].name_en ? items[i].name_en : items[i].name);
			break;
		}
	}
	/* "Ủy ban nhân dân tỉnh Hải Dương" -> "tỉnh Hải Dương" */
	static const char vi_prefix[] = "Ủy ban nhân dân ", en_prefix[] = "People's Committee of ";
	if (strncmp(avi, vi_prefix, sizeof vi_prefix - 1) == 0)
		str_copy(pvi, sizeof pvi, avi + sizeof vi_prefix - 1);
	else
		str_copy(pvi, sizeof pvi, avi);
	if (strncmp(aen, en_prefix, sizeof en_prefix - 1) == 0)
		str_copy(pen, sizeof pen, aen + sizeof en_prefix - 1);
	else
		str_copy(pen, sizeof pen, aen);
	pthread_mutex_lock(&W.site_mu);
	memcpy(W.agency_vi, avi, sizeof avi);
	memcpy(W.agency_en, aen, sizeof aen);
	memcpy(W.province_vi, pvi, sizeof pvi);
	memcpy(W.province_en, pen, sizeof pen);
	W.site_at = now;
	pthread_mutex_unlock(&W.site_mu);
}

const char *web_province(struct web_page *p)
{
	site_refresh(p);
	pthread_mutex_lock(&W.site_mu);
	const char *s = arena_strdup(p->r->a, p->en ? W.province_en : W.province_vi);
	pthread_mutex_unlock(&W.site_mu);
	return s;
}

static const char *site_agency(struct web_page *p)
{
	site_refresh(p);
	pthread_mutex_lock(&W.site_mu);
	const char *s = arena_strdup(p->r->a, p->en ? W.agency_en : W.agency_vi);
	pthread_mutex_unlock(&W.site_mu);
	return s;
}

/* ---- a page's life ---- */

struct query_acc {
	struct arena *a;
	struct buf *b;
	const char *skip; /* a parameter left out */
};

static void query_add(void *cls, const char *k, const char *v)
{
	struct query_acc *q = cls;
	if (q->skip && strcmp(k, q->skip) == 0)
		return;
	buf_putc(q->b, q->b->len ? '&' : '?');
	buf_puts(q->b, web_urlenc(q->a, k));
	if (v) {
		buf_putc(q->b, '=');
		buf_puts(q->b, web_urlenc(q->a, v));
	}
}

/* The request's path and query as sent (for "come back here" links); skip drops one parameter. */
static const char *here(struct req *r, const char *skip)
{
	struct buf q = BUF_INIT;
	struct query_acc acc = {r->a, &q, skip};
	req_query_each(r, query_add, &acc);
	const char *s = arena_printf(r->a, "%s%s", utf8_valid(r->path, strlen(r->path)) ? r->path : "/",
				     q.ptr ? q.ptr : "");
	buf_free(&q);
	return s;
}

/* A local path safe to redirect to: starts with one '/', no backslash or control characters. */
static bool local_path(const char *s)
{
	if (!s || s[0] != '/' || s[1] == '/' || s[1] == '\\' || strlen(s) > 2000)
		return false;
	for (const unsigned char *q = (const unsigned char *)s; *q; q++)
		if (*q < 0x20 || *q == '\\' || *q == 0x7f)
			return false;
	return true;
}

static unsigned role_bit(enum role r)
{
	switch (r) {
	case ROLE_CITIZEN: return WEB_CITIZEN;
	case ROLE_OFFICIAL: return WEB_OFFICIAL;
	case ROLE_LEADER: return WEB_LEADER;
	case ROLE_ADMIN: return WEB_ADMIN;
	}
	return 0;
}

static void page_init(struct req *r, struct web_page *p)
{
	memset(p, 0, sizeof *p);
	p->r = r;
	p->lang = request_lang(r);
	p->en = strcmp(p->lang, "en") == 0;
	p->d = json_object();
	p->errors = json_array();
	p->field_errors = json_object();
	p->section = "portal";
}

void web_page_free(struct web_page *p)
{
	if (p->d)
		json_decref(p->d);
	if (p->errors)
		json_decref(p->errors);
	if (p->field_errors)
		json_decref(p->field_errors);
	p->d = p->errors = p->field_errors = NULL;
}

bool web_begin(struct req *r, struct web_page *p, unsigned need)
{
	page_init(r, p);
	bool unsafe = !req_is_safe_method(r);
	if (!W.ready) {
		web_error_page(p, 503, "errors.unavailable_heading", "web templates are not loaded");
		return false;
	}
	if (need == WEB_ANYONE) {
		int rc = api_ctx(r, &p->c, API_ANON);
		if (rc < 0) {
			/* a bad Authorization header: the page is public, treat the visitor as anonymous */
			err_clear(&r->err);
			p->c.who = NULL;
		}
		if (unsafe && !p->c.who && !form_token_ok(p)) {
			web_error_page(p, 403, "errors.form_expired_heading", web_t(p, "errors.form_expired"));
			return false;
		}
		return true;
	}
	int rc = api_ctx(r, &p->c, API_REQUIRED);
	if (rc == ERR_FORBIDDEN) {
		err_clear(&r->err);
		web_error_page(p, 403, "errors.form_expired_heading", web_t(p, "errors.form_expired"));
		return false;
	}
	if (rc < 0) {
		err_clear(&r->err);
		memset(&p->c, 0, sizeof p->c);
		p->c.app = r->app;
		p->c.a = r->a;
		p->c.actor = "anonymous";
		if (!unsafe) {
			web_redirect(p, arena_printf(r->a, "/dang-nhap?next=%s", web_urlenc(r->a, here(r, NULL))));
			return false;
		}
		web_error_page(p, 401, "errors.session_heading", web_t(p, "errors.session"));
		return false;
	}
	if (!(need & role_bit(p->c.who->role))) {
		web_error_page(p, 403, "errors.forbidden_heading", web_t(p, "errors.forbidden"));
		return false;
	}
	return true;
}

static json_t *nav_item(struct web_page *p, const char *href, const char *key, bool current)
{
	json_t *it = json_object();
	jset_s(it, "href", href);
	jset_s(it, "label", web_t(p, key));
	jset_b(it, "current", current);
	return it;
}

static bool path_is(struct req *r, const char *prefix, bool exact)
{
	size_t n = strlen(prefix);
	if (exact)
		return strcmp(r->path, prefix) == 0;
	return strncmp(r->path, prefix, n) == 0 && (r->path[n] == 0 || r->path[n] == '/');
}

static void layout_data(struct web_page *p, json_t *d)
{
	struct req *r = p->r;
	const struct principal *who = p->c.who;
	jset_s(d, "lang", p->lang);
	jset_b(d, "is_en", p->en);
	json_object_set(d, "t", W.cat[p->en ? 1 : 0]);
	json_t *site = json_object();
	const char *province = web_province(p);
	jset_s(site, "province", province);
	jset_s(site, "agency", site_agency(p));
	jset_s(site, "name", web_tf(p, "layout.portal_name", "province", province, NULL));
	jset(d, "site", site);
	char tok[64];
	form_token(p, tok);
	jset_s(d, "form_token", tok);
	if (who) {
		json_t *u = json_object();
		jset_s(u, "name", who->full_name ? who->full_name : who->username);
		jset_s(u, "role", web_t(p, arena_printf(r->a, "roles.%s", role_name(who->role))));
		jset_b(u, "is_citizen", who->role == ROLE_CITIZEN);
		jset_b(u, "is_staff", who->role == ROLE_OFFICIAL || who->role == ROLE_LEADER);
		jset_b(u, "is_admin", who->role == ROLE_ADMIN);
		jset(d, "user", u);
		jset_s(d, "csrf_token", who->csrf ? who->csrf : "");
	}
	const char *next = here(r, "ok");
	jset_s(d, "here", next);
	json_t *sw = json_object();
	jset_s(sw, "href", arena_printf(r->a, "/ngon-ngu?lang=%s&next=%s", p->en ? "vi" : "en", web_urlenc(r->a, next)));
	jset_s(sw, "label", p->en ? "Tiếng Việt" : "English");
	jset_s(sw, "lang", p->en ? "vi" : "en");
	jset(d, "lang_switch", sw);
	jset_s(d, "login_href", arena_printf(r->a, "/dang-nhap?next=%s", web_urlenc(r->a, next)));
	json_t *nav = json_array();
	bool staff = who && (who->role == ROLE_OFFICIAL || who->role == ROLE_LEADER);
	bool admin = who && who->role == ROLE_ADMIN;
	if (staff) {
		json_array_append_new(nav, nav_item(p, "/can-bo", "nav.worklist",
						    path_is(r, "/can-bo", true) || path_is(r, "/can-bo/ho-so", false)));
		json_array_append_new(nav, nav_item(p, "/can-bo/tiep-nhan", "nav.intake", path_is(r, "/can-bo/tiep-nhan", false)));
		json_array_append_new(nav, nav_item(p, "/can-bo/thong-ke", "nav.stats", path_is(r, "/can-bo/thong-ke", false)));
		json_array_append_new(nav, nav_item(p, "/thu-tuc", "nav.procedures", path_is(r, "/thu-tuc", false)));
		json_array_append_new(nav, nav_item(p, "/tra-cuu", "nav.lookup", path_is(r, "/tra-cuu", false)));
	} else if (admin) {
		json_array_append_new(nav, nav_item(p, "/quan-tri", "nav.admin", path_is(r, "/quan-tri", true)));
		json_array_append_new(nav, nav_item(p, "/quan-tri/co-quan", "nav.agencies", path_is(r, "/quan-tri/co-quan", false)));
		json_array_append_new(nav, nav_item(p, "/quan-tri/nguoi-dung", "nav.users", path_is(r, "/quan-tri/nguoi-dung", false)));
		json_array_append_new(nav, nav_item(p, "/quan-tri/thu-tuc", "nav.admin_procedures", path_is(r, "/quan-tri/thu-tuc", false)));
		json_array_append_new(nav, nav_item(p, "/quan-tri/ngay-nghi", "nav.holidays", path_is(r, "/quan-tri/ngay-nghi", false)));
	} else {
		json_array_append_new(nav, nav_item(p, "/", "nav.home", path_is(r, "/", true)));
		json_array_append_new(nav, nav_item(p, "/thu-tuc", "nav.procedures", path_is(r, "/thu-tuc", false)));
		json_array_append_new(nav, nav_item(p, "/tra-cuu", "nav.lookup", path_is(r, "/tra-cuu", false)));
		if (who && who->role == ROLE_CITIZEN)
			json_array_append_new(nav, nav_item(p, "/ho-so-cua-toi", "nav.mine",
							    path_is(r, "/ho-so-cua-toi", false) || path_is(r, "/ho-so", false)));
	}
	jset(d, "nav", nav);
	jset_s(d, "css_href", W.css_href);
	jset_s(d, "js_href", W.js_href);
	jset_s(d, "icon_href", W.icon_href);
	size_t nerr = json_array_size(p->errors);
	jset_b(d, "has_errors", nerr > 0);
	json_object_set(d, "errors", p->errors);
	/* a message after a completed action: ?ok=<key of flash.*> */
	const char *ok = req_query(r, "ok");
	if (ok && text_valid(ok, 40)) {
		json_t *v = cat_lookup(W.cat[p->en ? 1 : 0], arena_printf(r->a, "flash.%s", ok));
		if (json_is_string(v))
			jset(d, "flash", json_incref(v));
	}
	int y, hh, mm;
	unsigned mo, dd;
	local_parts(time_now_us(), &y, &mo, &dd, &hh, &mm);
	jset_i(d, "year", y);
}

int web_render(struct web_page *p, int status, const char *tpl, const char *title)
{
	struct req *r = p->r;
	if (p->answered)
		return 0;
	layout_data(p, p->d);
	if (title)
		jset_s(p->d, "title", web_t(p, title));
	json_t *tv = json_object_get(p->d, "title");
	const char *title_s = json_is_string(tv) ? json_string_value(tv) : "";
	json_t *site = json_object_get(p->d, "site");
	const char *site_name = json_string_value(json_object_get(site, "name"));
	jset_s(p->d, "head_title",
	       arena_printf(r->a, "%s%s%s – %s", json_array_size(p->errors) ? web_t(p, "errors.title_prefix") : "",
			    json_array_size(p->errors) ? " " : "", title_s, site_name ? site_name : ""));
	jset_b(p->d, arena_printf(r->a, "section_%s", p->section), true);
	struct buf content = BUF_INIT;
	struct err e = {0};
	int rc = mustache_set_render(W.tpl, tpl, p->d, &content, &e);
	if (rc == 0) {
		/* a page's back link (its first line when it has one) goes above the
		 * error summary, where the layout puts it: first in the focus order */
		const char *c = content.ptr ? content.ptr : "";
		size_t skip = strspn(c, " \t\r\n");
		const char *eol = strchr(c + skip, '\n');
		size_t n = eol ? (size_t)(eol - (c + skip)) : strlen(c + skip);
		if (strncmp(c + skip, "<a ", 3) == 0 && memmem(c + skip, n, "class=\"back-link\"", 17)) {
			jset(p->d, "back_html", json_stringn_nocheck(c + skip, n));
			skip += n;
		} else {
			skip = 0;
		}
		jset(p->d, "content", json_stringn_nocheck(c + skip, content.len - skip));
		buf_reset(&content);
		rc = mustache_set_render(W.tpl, "layout", p->d, &content, &e);
	}
	if (rc < 0) {
		log_error("web: rendering %s: %s", tpl, e.msg);
		buf_free(&content);
		const char *msg = "<!doctype html><title>Error</title><p>Internal error / Lỗi hệ thống</p>";
		res_text(r, 500, "text/html; charset=utf-8", msg, strlen(msg));
		web_page_free(p);
		p->answered = true;
		return 0;
	}
	res_text(r, status, "text/html; charset=utf-8", content.ptr, content.len);
	buf_free(&content);
	if (strcmp(p->lang, "vi") == 0 || strcmp(p->lang, "en") == 0)
		res_header(r, "Content-Language", p->lang);
	res_header(r, "Vary", "Cookie, Accept-Language");
	web_page_free(p);
	p->answered = true;
	return 0;
}

int web_redirect(struct web_page *p, const char *location)
{
	struct req *r = p->r;
	if (!local_path(location))
		location = "/";
	res_header(r, "Location", location);
	res_text(r, 303, "text/plain; charset=utf-8", "", 0);
	web_page_free(p);
	p->answered = true;
	return 0;
}

int web_error_page(struct web_page *p, int status, const char *heading_key, const char *text)
{
	if (p->answered)
		return 0;
	if (!W.ready) {
		const char *msg = "<!doctype html><title>Unavailable</title><p>The portal's templates are not loaded.</p>";
		res_text(p->r, status, "text/html; charset=utf-8", msg, strlen(msg));
		web_page_free(p);
		p->answered = true;
		return 0;
	}
	if (!p->d)
		page_init(p->r, p);
	jset_s(p->d, "heading", web_t(p, heading_key));
	jset_s(p->d, "text", text);
	jset_i(p->d, "status", status);
	jset_b(p->d, "show_login", status == 401);
	jset_s(p->d, "request_id", p->r->rid);
	return web_render(p, status, "error", heading_key);
}

int web_fail(struct web_page *p, int rc)
{
	struct req *r = p->r;
	const char *msg = r->err.msg[0] ? r->err.msg : err_name(rc);
	switch (rc) {
	case ERR_NOT_FOUND: return web_error_page(p, 404, "errors.not_found_heading", web_t(p, "errors.not_found"));
	case ERR_FORBIDDEN: return web_error_page(p, 403, "errors.forbidden_heading", web_t(p, "errors.forbidden"));
	case ERR_UNAUTHENTICATED:
		if (req_is_safe_method(r))
			return web_redirect(p, arena_printf(r->a, "/dang-nhap?next=%s", web_urlenc(r->a, here(r, NULL))));
		return web_error_page(p, 401, "errors.session_heading", web_t(p, "errors.session"));
	case ERR_RATE_LIMITED: {
		char ra[16];
		snprintf(ra, sizeof ra, "%d", r->err.retry_after > 0 ? r->err.retry_after : 60);
		res_header(r, "Retry-After", ra);
		return web_error_page(p, 429, "errors.rate_limited_heading",
				      web_tf(p, "errors.rate_limited", "seconds", ra, NULL));
	}
	case ERR_INVALID_TRANSITION:
	case ERR_CONFLICT:
		return web_error_page(p, 409, "errors.conflict_heading",
				      arena_printf(r->a, "%s (%s)", web_t(p, "errors.conflict"), msg));
	case ERR_TOO_LARGE: return web_error_page(p, 413, "errors.too_large_heading", web_t(p, "errors.too_large"));
	case ERR_UNAVAILABLE:
	case ERR_BAD_GATEWAY:
	case ERR_GATEWAY_TIMEOUT:
		return web_error_page(p, 503, "errors.unavailable_heading", web_t(p, "errors.unavailable"));
	case ERR_INVALID:
	case ERR_BAD_REQUEST:
	case ERR_UNSUPPORTED_MEDIA:
	case ERR_METHOD:
		return web_error_page(p, rc == ERR_METHOD ? 405 : 400, "errors.bad_request_heading",
				      web_t(p, "errors.bad_request"));
	default:
		log_error("web: %s %s: %s (%s:%d)", r->method, r->path, msg, r->err.file ? r->err.file : "?", r->err.line);
		return web_error_page(p, 500, "errors.internal_heading", web_t(p, "errors.internal"));
	}
}

int web_send_pdf(struct web_page *p, struct buf *pdf, const char *filename, bool inline_view)
{
	res_header(p->r, "Content-Disposition",
		   arena_printf(p->r->a, "%s; filename=\"%s\"", inline_view ? "inline" : "attachment", filename));
	res_text(p->r, 200, "application/pdf", pdf->ptr, pdf->len);
	buf_free(pdf);
	web_page_free(p);
	p->answered = true;
	return 0;
}

/* ---- routes of this file: static files, language, fallback ---- */

static int h_static(struct req *r)
{
	const char *name = req_param(r, "file");
	const struct static_file *f = name ? static_find(name) : NULL;
	if (!f) {
		struct web_page p;
		page_init(r, &p);
		p.c.app = r->app;
		p.c.a = r->a;
		return web_error_page(&p, 404, "errors.not_found_heading", web_t(&p, "errors.not_found"));
	}
	res_header(r, "ETag", f->etag);
	const char *v = req_query(r, "v");
	if (v && strlen(v) == 10 && strncmp(v, f->etag + 1, 10) == 0)
		res_header(r, "Cache-Control", "public, max-age=31536000, immutable");
	else
		res_header(r, "Cache-Control", "public, max-age=300");
	const char *inm = req_header(r, "If-None-Match");
	if (inm && strstr(inm, f->etag)) {
		res_text(r, 304, NULL, "", 0);
		return 0;
	}
	res_text(r, 200, f->type, f->data, f->len);
	return 0;
}

static int h_lang(struct req *r)
{
	struct web_page p;
	page_init(r, &p);
	const char *l = req_query(r, "lang");
	const char *lang = l && strcmp(l, "en") == 0 ? "en" : "vi";
	res_header(r, "Set-Cookie",
		   arena_printf(r->a, LANG_COOKIE "=%s; Path=/; Max-Age=31536000; SameSite=Lax%s", lang,
				r->tls ? "; Secure" : ""));
	const char *next = req_query(r, "next");
	return web_redirect(&p, local_path(next) ? next : "/");
}

/* Paths for people: not the JSON API, not the exchange gateway (/x/), not the operations endpoints. */
static bool page_path(const char *path)
{
	return strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0 && strncmp(path, "/x/", 3) != 0 &&
	       strcmp(path, "/x") != 0 && strcmp(path, "/livez") != 0 && strcmp(path, "/readyz") != 0 &&
	       strcmp(path, "/metrics") != 0;
}

int web_fallback(struct req *r)
{
	if (!W.ready || !page_path(r->path))
		return ERR_NOT_FOUND;
	struct web_page p;
	if (!web_begin(r, &p, WEB_ANYONE))
		return 0;
	return web_error_page(&p, 404, "errors.not_found_heading", web_t(&p, "errors.not_found"));
}

bool web_error_hook(struct req *r)
{
	if (!W.ready || !page_path(r->path))
		return false;
	struct web_page p;
	page_init(r, &p);
	if (api_ctx(r, &p.c, API_ANON) < 0) {
		memset(&p.c, 0, sizeof p.c);
		p.c.app = r->app;
		p.c.a = r->a;
	}
	int code = r->err.code ? r->err.code : ERR_INTERNAL;
	char msg[sizeof r->err.msg];
	memcpy(msg, r->err.msg, sizeof msg);
	err_clear(&r->err);
	int status = err_http_status(code);
	if (code == ERR_INTERNAL)
		log_error("web: internal error on %s %s: %s", r->method, r->path, msg);
	switch (code) {
	case ERR_TOO_LARGE: web_error_page(&p, status, "errors.too_large_heading", web_t(&p, "errors.too_large")); break;
	case ERR_METHOD: web_error_page(&p, status, "errors.method_heading", web_t(&p, "errors.method")); break;
	case ERR_NOT_FOUND: web_error_page(&p, status, "errors.not_found_heading", web_t(&p, "errors.not_found")); break;
	case ERR_INTERNAL:
	case ERR_CONFIG: web_error_page(&p, 500, "errors.internal_heading", web_t(&p, "errors.internal")); break;
	default:
		if (status >= 500)
			web_error_page(&p, status, "errors.unavailable_heading", web_t(&p, "errors.unavailable"));
		else
			web_error_page(&p, status, "errors.bad_request_heading", web_t(&p, "errors.bad_request"));
	}
	return true;
}

const struct route web_routes[] = {
	{"GET", "/static/{file}", h_static, ROUTE_PUBLIC_CACHE | ROUTE_NO_LOG},
	{"GET", "/ngon-ngu", h_lang, 0},
};
const size_t web_nroutes = sizeof web_routes / sizeof web_routes[0];
