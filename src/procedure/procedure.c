/* procedure.c: the catalogue of administrative procedures: the rules of a
 * procedure document (procedure_parse, naming every bad field by path), its
 * storage as one canonical JSON document plus the searched columns, search
 * and lists, admin create/replace, import/export and the demo catalogue. */
#include "procedure/procedure.h"

#include <stdarg.h>
#include <string.h>

#include "agency/agency.h"
#include "audit/audit.h"
#include "base/embed.h"
#include "base/log.h"
#include "base/text.h"
#include "base/time.h"

enum {
	MAX_TEXT = 1000,      /* names, labels */
	MAX_LONG_TEXT = 4000, /* legal basis, notes */
	MAX_IMPORT = 10000,   /* procedures in one import */
};
#define MAX_AMOUNT 1000000000000LL /* 10^12 VND */

static const char *const action_names[PA_COUNT] = {
    "receive", "refuse",       "request_supplement", "supplement", "forward", "request_payment", "approve",
    "reject",  "issue_result", "return_result",	     "withdraw",   "stop",    "extend",
};
static const char *const online_names[] = {"full", "partial", "none"};
static const char *const field_type_names[] = {"text",	   "number", "date",	"select", "cccd",
					       "tax_code", "phone",  "address", "email"};
static const char *const doc_type_names[] = {"pdf", "jpg", "png"};
static const unsigned doc_type_bits[] = {PROC_T_PDF, PROC_T_JPG, PROC_T_PNG};
static const char *const ecopy_sources[] = {"population", "business", "land", "judicial", "insurance"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *proc_action_name(enum proc_action a)
{
	return (unsigned)a < PA_COUNT ? action_names[a] : "unknown";
}

int proc_action_parse(const char *s)
{
	for (int i = 0; s && i < PA_COUNT; i++)
		if (strcmp(action_names[i], s) == 0)
			return i;
	return -1;
}

const char *proc_online_name(enum proc_online o)
{
	return (unsigned)o < NELEM(online_names) ? online_names[o] : "unknown";
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static bool code_valid(const char *s)
{
	if (strlen(s) != 8 || s[1] != '.')
		return false;
	for (int i = 0; i < 8; i++)
		if (i != 1 && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

/* lowercase letter, then lowercase letters, digits and underscores */
static bool snake_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

int64_t procedure_fee_total(const struct procedure *p)
{
	int64_t t = 0;
	for (int i = 0; i < p->nfees; i++)
		t += p->fees[i].amount;
	return t;
}

/* ---- the document rules ---- */

/* One validation pass. app NULL: a stored document, already checked when it
 * was written (its levels are not compared with the configuration). */
struct pv {
	const struct app *app;
	struct arena *a;
	struct err *e;
	const char *prefix; /* "" or "[3]." in an import */
	int nbad;
};

static void bad(struct pv *v, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void bad(struct pv *v, const char *path, const char *fmt, ...)
{
	char full[64], msg[160];
	if (*path)
		snprintf(full, sizeof full, "%s%s", v->prefix, path);
	else if (*v->prefix) /* the element itself: "[3]" */
		snprintf(full, sizeof full, "%.*s", (int)strlen(v->prefix) - 1, v->prefix);
	else
		snprintf(full, sizeof full, "body");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	err_field(v->e, full, "%s", msg);
	v->nbad++;
}

static const char *join(char out[64], const char *base, const char *key)
{
	snprintf(out, 64, "%s%s%s", base, *base ? "." : "", key);
	return out;
}

static const char *at(char out[64], const char *base, size_t i)
{
	snprintf(out, 64, "%s[%zu]", base, i);
	return out;
}

/* The member key of obj; NULL (after naming it when required) if absent or null. */
static json_t *member(struct pv *v, json_t *obj, const char *base, const char *key, bool required, char path[64])
{
	join(path, base, key);
	json_t *j = json_object_get(obj, key);
	if (j && json_is_null(j))
		j = NULL;
	if (!j && required)
		bad(v, path, "is required");
	return j;
}

static char *text_of(struct pv *v, json_t *j, const char *path, size_t max)
{
	if (!json_is_string(j)) {
		bad(v, path, "must be a string");
		return NULL;
	}
	const char *s = json_string_value(j);
	if (!text_valid(s, max)) {
		bad(v, path, "must be 1 to %zu bytes of text without control characters", max);
		return NULL;
	}
	return arena_strndup(v->a, s, json_string_length(j));
}

/* An optional text may be empty (""); a required one may not. */
static char *get_text(struct pv *v, json_t *obj, const char *base, const char *key, bool required, size_t max)
{
	char path[64];
	json_t *j = member(v, obj, base, key, required, path);
	if (j && !required && json_is_string(j) && json_string_length(j) == 0)
		return arena_strdup(v->a, "");
	return j ? text_of(v, j, path, max) : NULL;
}

/* Returns true when a valid value was stored in *out. */
static bool get_bool(struct pv *v, json_t *obj, const char *base, const char *key, bool required, bool *out)
{
	char path[64];
	json_t *j = member(v, obj, base, key, required, path);
	if (!j)
		return false;
	if (!json_is_boolean(j)) {
		bad(v, path, "must be true or false");
		return false;
	}
	*out = json_is_true(j);
	return true;
}

static bool get_int(struct pv *v, json_t *obj, const char *base, const char *key, int64_t min, int64_t max,
		    int64_t *out)
{
	char path[64];
	json_t *j = member(v, obj, base, key, true, path);
	if (!j)
		return false;
	if (!json_is_integer(j) || json_integer_value(j) < min || json_integer_value(j) > max) {
		bad(v, path, "must be an integer from %lld to %lld", (long long)min, (long long)max);
		return false;
	}
	*out = json_integer_value(j);
	return true;
}

static json_t *get_array(struct pv *v, json_t *obj, const char *base, const char *key, bool required, size_t min,
			 size_t max)
{
	char path[64];
	json_t *j = member(v, obj, base, key, required, path);
	if (!j)
		return NULL;
	if (!json_is_array(j)) {
		bad(v, path, "must be an array");
		return NULL;
	}
	size_t n = json_array_size(j);
	if (n < min || n > max) {
		if (min == max)
			bad(v, path, "must have %zu items", min);
		else
			bad(v, path, "must have %zu to %zu items", min, max);
		return NULL;
	}
	return j;
}

/* An object whose keys are all in keys (NULL-terminated). */
static bool check_object(struct pv *v, json_t *j, const char *path, const char *const *keys)
{
	if (!json_is_object(j)) {
		bad(v, path, "must be an object");
		return false;
	}
	const char *k;
	json_t *val;
	json_object_foreach(j, k, val)
	{
		const char *const *p = keys;
		while (*p && strcmp(*p, k) != 0)
			p++;
		if (!*p) {
			char kp[64];
			bad(v, join(kp, path, k), "unknown field");
		}
	}
	return true;
}

static bool has_level(const struct procedure *p, const char *level)
{
	for (int i = 0; i < p->nlevels; i++)
		if (strcmp(p->levels[i], level) == 0)
			return true;
	return false;
}

static char *levels_list(struct arena *a, char *const *levels, int n)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", levels[i]);
	char *s = arena_strdup(a, buf_cstr(&b));
	buf_free(&b);
	return s;
}

static void parse_levels(struct pv *v, json_t *doc, struct procedure *p)
{
	json_t *lv = get_array(v, doc, "", "levels", true, 1, APP_MAX_LEVELS);
	if (!lv)
		return;
	size_t n = json_array_size(lv);
	char **out = arena_alloc(v->a, sizeof *out * n);
	int bad_before = v->nbad;
	for (size_t i = 0; i < n; i++) {
		char path[64];
		at(path, "levels", i);
		json_t *j = json_array_get(lv, i);
		if (!json_is_string(j)) {
			bad(v, path, "must be a string");
			continue;
		}
		const char *s = json_string_value(j);
		if (v->app && !app_level_valid(v->app, s, NULL)) {
			char *cfg[APP_MAX_LEVELS];
			for (int k = 0; k < v->app->nlevels; k++)
				cfg[k] = (char *)v->app->levels[k];
			bad(v, path, "must be one of the configured levels: %s",
			    levels_list(v->a, cfg, v->app->nlevels));
			continue;
		}
		out[i] = arena_strdup(v->a, s);
		for (size_t k = 0; k < i; k++)
			if (out[k] && strcmp(out[k], s) == 0) {
				bad(v, path, "repeats levels[%zu]", k);
				break;
			}
	}
	if (v->nbad == bad_before) { /* only a good list is used to check the rest */
		p->levels = out;
		p->nlevels = (int)n;
	}
}

static void parse_handled_by(struct pv *v, json_t *doc, struct procedure *p, const char **dept)
{
	p->handled_by = get_text(v, doc, "", "handled_by", true, 64);
	const char *h = p->handled_by;
	if (!h)
		return;
	size_t n = strlen(h);
	if (strncmp(h, "department:", 11) == 0) {
		if (agency_code_valid(h + 11))
			*dept = h + 11;
		else
			bad(v, "handled_by", "must name the department by its agency code: department:000.00.04.H23");
	} else if (n > 5 && strcmp(h + n - 5, "_ubnd") == 0) {
		char *level = arena_strndup(v->a, h, n - 5);
		if (p->nlevels && !has_level(p, level))
			bad(v, "handled_by", "'%s' needs the level '%s' among the procedure's levels", h, level);
	} else {
		bad(v, "handled_by",
		    "must be <level>_ubnd (commune_ubnd, district_ubnd, province_ubnd) or department:<agency code>");
	}
}

static const char *const fee_keys[] = {"name", "amount", "note", NULL};

static void parse_fees(struct pv *v, json_t *doc, struct procedure *p)
{
	json_t *arr = get_array(v, doc, "", "fees", true, 0, 50);
	if (!arr)
		return;
	size_t n = json_array_size(arr);
	p->fees = arena_alloc(v->a, sizeof *p->fees * (n ? n : 1));
	p->nfees = (int)n;
	for (size_t i = 0; i < n; i++) {
		char base[64];
		at(base, "fees", i);
		json_t *o = json_array_get(arr, i);
		struct proc_fee *f = &p->fees[i];
		if (!check_object(v, o, base, fee_keys))
			continue;
		f->name = get_text(v, o, base, "name", true, MAX_TEXT);
		get_int(v, o, base, "amount", 0, MAX_AMOUNT, &f->amount);
		f->note = get_text(v, o, base, "note", false, MAX_TEXT);
		if (i == 0 || f->amount < p->fee_min)
			p->fee_min = f->amount;
		if (f->amount > p->fee_max)
			p->fee_max = f->amount;
	}
}

static const char *const document_keys[] = {"name",  "name_en", "required",	"copies",
					    "types", "max_mb",	"ecopy_source", NULL};

static void parse_documents(struct pv *v, json_t *doc, struct procedure *p)
{
	json_t *arr = get_array(v, doc, "", "documents", true, 0, 100);
	if (!arr)
		return;
	size_t n = json_array_size(arr);
	p->documents = arena_alloc(v->a, sizeof *p->documents * (n ? n : 1));
	p->ndocuments = (int)n;
	for (size_t i = 0; i < n; i++) {
		char base[64], path[64];
		at(base, "documents", i);
		json_t *o = json_array_get(arr, i);
		struct proc_document *d = &p->documents[i];
		if (!check_object(v, o, base, document_keys))
			continue;
		d->name = get_text(v, o, base, "name", true, MAX_TEXT);
		d->name_en = get_text(v, o, base, "name_en", false, MAX_TEXT);
		get_bool(v, o, base, "required", true, &d->required);
		int64_t x = 0;
		if (get_int(v, o, base, "copies", 1, 100, &x))
			d->copies = (int)x;
		if (get_int(v, o, base, "max_mb", 1, 100, &x))
			d->max_mb = (int)x;
		json_t *types = get_array(v, o, base, "types", true, 1, NELEM(doc_type_names));
		for (size_t k = 0; types && k < json_array_size(types); k++) {
			char tb[64];
			join(tb, base, "types");
			at(path, tb, k);
			json_t *t = json_array_get(types, k);
			int ti = json_is_string(t)
				     ? name_index(doc_type_names, NELEM(doc_type_names), json_string_value(t))
				     : -1;
			if (ti < 0)
				bad(v, path, "must be pdf, jpg or png");
			else if (d->types & doc_type_bits[ti])
				bad(v, path, "repeats %s", doc_type_names[ti]);
			else
				d->types |= doc_type_bits[ti];
		}
		json_t *src = member(v, o, base, "ecopy_source", false, path);
		if (src) {
			if (!json_is_string(src) ||
			    name_index(ecopy_sources, NELEM(ecopy_sources), json_string_value(src)) < 0)
				bad(v, path, "must be null or one of population, business, land, judicial, insurance");
			else
				d->ecopy_source = arena_strdup(v->a, json_string_value(src));
		}
	}
}

static const char *const form_field_keys[] = {"name", "label", "label_en", "type", "required", "options", NULL};

static void parse_form_fields(struct pv *v, json_t *doc, struct procedure *p)
{
	json_t *arr = get_array(v, doc, "", "form_fields", true, 0, 200);
	if (!arr)
		return;
	size_t n = json_array_size(arr);
	p->fields = arena_alloc(v->a, sizeof *p->fields * (n ? n : 1));
	p->nfields = (int)n;
	for (size_t i = 0; i < n; i++) {
		char base[64], path[64];
		at(base, "form_fields", i);
		json_t *o = json_array_get(arr, i);
		struct proc_field *f = &p->fields[i];
		if (!check_object(v, o, base, form_field_keys))
			continue;
		f->name = get_text(v, o, base, "name", true, 64);
		if (f->name && !snake_valid(f->name, 64)) {
			bad(v, join(path, base, "name"), "must be snake_case: a lowercase letter, then a-z, 0-9 or _");
			f->name = NULL;
		}
		for (size_t k = 0; f->name && k < i; k++)
			if (p->fields[k].name && strcmp(p->fields[k].name, f->name) == 0) {
				bad(v, join(path, base, "name"), "repeats form_fields[%zu].name", k);
				break;
			}
		f->label = get_text(v, o, base, "label", true, MAX_TEXT);
		f->label_en = get_text(v, o, base, "label_en", false, MAX_TEXT);
		get_bool(v, o, base, "required", true, &f->required);
		int type = -1;
		json_t *t = member(v, o, base, "type", true, path);
		if (t) {
			type = json_is_string(t)
				   ? name_index(field_type_names, NELEM(field_type_names), json_string_value(t))
				   : -1;
			if (type < 0)
				bad(v, path,
				    "must be one of text, number, date, select, cccd, tax_code, phone, address, email");
			else
				f->type = (enum proc_field_type)type;
		}
		if (type == PF_SELECT) {
			json_t *opts = get_array(v, o, base, "options", true, 1, 200);
			size_t no = opts ? json_array_size(opts) : 0;
			f->options = arena_alloc(v->a, sizeof *f->options * (no ? no : 1));
			for (size_t k = 0; k < no; k++) {
				char ob[64];
				join(ob, base, "options");
				at(path, ob, k);
				char *s = text_of(v, json_array_get(opts, k), path, MAX_TEXT);
				for (size_t m = 0; s && m < k; m++)
					if (f->options[m] && strcmp(f->options[m], s) == 0) {
						bad(v, path, "repeats options[%zu]", m);
						break;
					}
				f->options[k] = s;
			}
			f->noptions = (int)no;
		} else if (member(v, o, base, "options", false, path) && type >= 0) {
			bad(v, path, "only select fields have options");
		}
	}
}

static const char *const result_keys[] = {"name", "name_en", NULL};

static void parse_results(struct pv *v, json_t *doc, struct procedure *p)
{
	json_t *arr = get_array(v, doc, "", "results", true, 1, 50);
	if (!arr)
		return;
	size_t n = json_array_size(arr);
	p->results = arena_alloc(v->a, sizeof *p->results * n);
	p->nresults = (int)n;
	for (size_t i = 0; i < n; i++) {
		char base[64];
		at(base, "results", i);
		json_t *o = json_array_get(arr, i);
		if (!check_object(v, o, base, result_keys))
			continue;
		p->results[i].name = get_text(v, o, base, "name", true, MAX_TEXT);
		p->results[i].name_en = get_text(v, o, base, "name_en", false, MAX_TEXT);
	}
}

static const char *const step_keys[] = {"step", "name", "name_en", "role", "level", "share", "actions", NULL};

static void parse_workflow(struct pv *v, json_t *doc, struct procedure *p)
{
	json_t *arr = get_array(v, doc, "", "workflow", true, 2, 20);
	if (!arr)
		return;
	size_t n = json_array_size(arr);
	p->steps = arena_alloc(v->a, sizeof *p->steps * n);
	p->nsteps = (int)n;
	int bad_before = v->nbad;
	bool shares_ok = true;
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		char base[64], path[64];
		at(base, "workflow", i);
		json_t *o = json_array_get(arr, i);
		struct proc_step *s = &p->steps[i];
		if (!check_object(v, o, base, step_keys)) {
			shares_ok = false;
			continue;
		}
		s->step = get_text(v, o, base, "step", true, 32);
		if (s->step && !snake_valid(s->step, 32))
			bad(v, join(path, base, "step"), "must be snake_case, like receive, process, approve, return");
		s->name = get_text(v, o, base, "name", true, MAX_TEXT);
		s->name_en = get_text(v, o, base, "name_en", false, MAX_TEXT);
		json_t *r = member(v, o, base, "role", true, path);
		if (r) {
			enum role role;
			if (!json_is_string(r) || role_parse(json_string_value(r), &role) < 0 ||
			    (role != ROLE_OFFICIAL && role != ROLE_LEADER))
				bad(v, path, "must be official or leader");
			else
				s->role = role;
		}
		s->level = get_text(v, o, base, "level", true, 32);
		if (s->level && p->nlevels && !has_level(p, s->level))
			bad(v, join(path, base, "level"), "must be one of the procedure's levels: %s",
			    levels_list(v->a, p->levels, p->nlevels));
		int64_t share = 0;
		if (get_int(v, o, base, "share", 1, 100, &share)) {
			s->share = (int)share;
			sum += s->share;
		} else {
			shares_ok = false;
		}
		json_t *acts = get_array(v, o, base, "actions", true, 1, PA_COUNT);
		for (size_t k = 0; acts && k < json_array_size(acts); k++) {
			char ab[64];
			join(ab, base, "actions");
			at(path, ab, k);
			json_t *a = json_array_get(acts, k);
			int ai = json_is_string(a) ? proc_action_parse(json_string_value(a)) : -1;
			if (ai < 0)
				bad(v, path,
				    "is not an action (receive, refuse, request_supplement, forward, approve, ...)");
			else if (s->actions & (1u << ai))
				bad(v, path, "repeats %s", action_names[ai]);
			else
				s->actions |= 1u << ai;
		}
	}
	if (shares_ok && sum != 100)
		bad(v, "workflow", "the steps' shares sum to %d; they must sum to 100", sum);
	if (v->nbad != bad_before)
		return;
	/* the dossier lifecycle needs a way in, a decision and a way out */
	if (!(p->steps[0].actions & (1u << PA_RECEIVE)))
		bad(v, "workflow[0].actions", "the first step must allow receive");
	char path[64];
	snprintf(path, sizeof path, "workflow[%zu].actions", n - 1);
	if (!(p->steps[n - 1].actions & (1u << PA_RETURN_RESULT)))
		bad(v, path, "the last step must allow return_result");
	unsigned all = 0;
	for (size_t i = 0; i < n; i++)
		all |= p->steps[i].actions;
	if (!(all & (1u << PA_APPROVE)))
		bad(v, "workflow", "no step allows approve");
}

static const char *const top_keys[] = {"code",		 "name",       "name_en",
				       "field",		 "field_en",   "levels",
				       "handled_by",	 "online",     "processing_days",
				       "fees",		 "documents",  "form_fields",
				       "results",	 "workflow",   "legal_basis",
				       "code_is_sample", "note",       "note_en",
				       "created_at",	 "updated_at", NULL};

/* Checks every rule that needs no database; *dept is the handled_by
 * department's code, to be checked against the agencies by the caller. */
static void parse_doc(struct pv *v, json_t *doc, struct procedure *p, const char **dept)
{
	memset(p, 0, sizeof *p);
	*dept = NULL;
	if (!check_object(v, doc, "", top_keys))
		return;
	p->code = get_text(v, doc, "", "code", true, 64);
	if (p->code && !code_valid(p->code)) {
		bad(v, "code", "must be a national procedure code: a digit, a dot and six digits (1.001193)");
		p->code = NULL;
	}
	p->name = get_text(v, doc, "", "name", true, MAX_TEXT);
	p->name_en = get_text(v, doc, "", "name_en", false, MAX_TEXT);
	p->field = get_text(v, doc, "", "field", true, 200);
	p->field_en = get_text(v, doc, "", "field_en", false, 200);
	parse_levels(v, doc, p);
	parse_handled_by(v, doc, p, dept);
	char path[64];
	json_t *o = member(v, doc, "", "online", true, path);
	if (o) {
		int oi = json_is_string(o) ? name_index(online_names, NELEM(online_names), json_string_value(o)) : -1;
		if (oi < 0)
			bad(v, path, "must be full, partial or none");
		else
			p->online = (enum proc_online)oi;
	}
	int64_t days = 0;
	if (get_int(v, doc, "", "processing_days", 1, 365, &days))
		p->processing_days = (int)days;
	parse_fees(v, doc, p);
	parse_documents(v, doc, p);
	parse_form_fields(v, doc, p);
	parse_results(v, doc, p);
	parse_workflow(v, doc, p);
	p->legal_basis = get_text(v, doc, "", "legal_basis", true, MAX_LONG_TEXT);
	get_bool(v, doc, "", "code_is_sample", false, &p->code_is_sample);
	p->note = get_text(v, doc, "", "note", false, MAX_LONG_TEXT);
	p->note_en = get_text(v, doc, "", "note_en", false, MAX_LONG_TEXT);
	p->active = true;
}

/* The stored form: compact, keys sorted, without the read-only timestamps. */
static char *canonical(json_t *doc, struct arena *a)
{
	json_t *c = json_copy(doc);
	if (!c)
		abort();
	json_object_del(c, "created_at");
	json_object_del(c, "updated_at");
	char *s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(c);
	if (!s)
		abort();
	char *r = arena_strdup(a, s);
	free(s);
	return r;
}

/* The handled_by department must be an agency at one of the procedure's levels. */
static int check_dept_tx(struct store_tx *tx, struct pv *v, const struct procedure *p, const char *dept, struct err *e)
{
	if (!dept)
		return 0;
	char *level = NULL;
	int rc = store_get_text(tx, "SELECT level FROM agencies WHERE code = $1", ARGS(SA_TEXT(dept)), v->a, &level, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		bad(v, "handled_by", "no agency has the code '%s'", dept);
	else if (p->nlevels && !has_level(p, level))
		bad(v, "handled_by", "the agency '%s' is at the level '%s', which is not among the procedure's levels",
		    dept, level);
	return 0;
}

struct dept_read {
	struct pv *v;
	const struct procedure *p;
	const char *dept;
};

static int dept_read_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct dept_read *d = arg;
	return check_dept_tx(tx, d->v, d->p, d->dept, e);
}

int procedure_parse(const struct ctx *c, json_t *doc, struct procedure *p, struct err *e)
{
	struct pv v = {c->app, c->a, e, "", 0};
	const char *dept;
	parse_doc(&v, doc, p, &dept);
	if (dept) {
		struct dept_read d = {&v, p, dept};
		int rc = store_read(c->app->db, dept_read_fn, &d, e);
		if (rc < 0)
			return rc;
	}
	if (v.nbad)
		return err_fields_done(e);
	p->doc = canonical(doc, c->a);
	return 0;
}

/* A stored document: parsed without the configuration checks. */
static int parse_stored(struct arena *a, const char *code, const char *text, struct procedure *p, struct err *e)
{
	json_t *doc;
	struct err sub;
	err_clear(&sub);
	if (json_parse(text, strlen(text), &doc, &sub) < 0)
		return err_set(e, ERR_INTERNAL, "stored procedure %s: %s", code, sub.msg);
	struct pv v = {NULL, a, &sub, "", 0};
	const char *dept;
	parse_doc(&v, doc, p, &dept);
	json_decref(doc);
	if (v.nbad)
		return err_set(e, ERR_INTERNAL, "stored procedure %s: %s: %s", code, sub.fields[0].name,
			       sub.fields[0].msg);
	p->doc = arena_strdup(a, text);
	return 0;
}

/* ---- storage ---- */

static int require_admin(const struct ctx *c, struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in as an administrator");
	if (c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may change the procedure catalogue");
	return 0;
}

int procedure_get_tx(struct store_tx *tx, struct arena *a, const char *code, struct procedure *out, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT doc, active, created_at, updated_at FROM procedures WHERE code = $1",
			     ARGS(SA_TEXT(code)), &q, e);
	char *doc = NULL;
	bool active = false;
	int64_t created = 0, updated = 0;
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		doc = store_dup(q, 0, a);
		active = store_int(q, 1) != 0;
		created = store_int(q, 2);
		updated = store_int(q, 3);
	}
	store_done(q);
	if (rc <= 0)
		return rc;
	int prc = parse_stored(a, code, doc, out, e);
	if (prc < 0)
		return prc;
	out->active = active;
	out->created_at = created;
	out->updated_at = updated;
	return 1;
}

struct get_ctx {
	const struct ctx *c;
	const char *code;
	struct procedure *out;
};

static int get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_ctx *g = arg;
	int rc = procedure_get_tx(tx, g->c->a, g->code, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "procedure '%s' not found", g->code);
	return rc < 0 ? rc : 0;
}

int procedure_get(const struct ctx *c, const char *code, struct procedure *out, struct err *e)
{
	if (!code || !code_valid(code))
		return err_set(e, ERR_NOT_FOUND, "procedure '%s' not found", code ? code : "");
	struct get_ctx g = {c, code, out};
	return store_read(c->app->db, get_fn, &g, e);
}

/* The searched columns of a parsed procedure, in the order of the INSERT and
 * UPDATE below; strings into a. */
enum { ROW_NARGS = 15 };

static void row_args(struct arena *a, const struct procedure *p, int64_t now, struct store_arg *args)
{
	struct buf fold = BUF_INIT, lv = BUF_INIT;
	text_fold(p->name, &fold);
	if (p->name_en) {
		buf_puts(&fold, " / ");
		text_fold(p->name_en, &fold);
	}
	buf_putc(&lv, ',');
	for (int i = 0; i < p->nlevels; i++)
		buf_printf(&lv, "%s,", p->levels[i]);
	args[0] = SA_TEXT(p->code);
	args[1] = SA_TEXT(p->name);
	args[2] = SA_TEXT(p->name_en);
	args[3] = SA_TEXT(arena_strdup(a, buf_cstr(&fold)));
	args[4] = SA_TEXT(p->field);
	args[5] = SA_TEXT(p->field_en);
	args[6] = SA_TEXT(arena_strdup(a, buf_cstr(&lv)));
	args[7] = SA_TEXT(p->handled_by);
	args[8] = SA_TEXT(proc_online_name(p->online));
	args[9] = SA_INT(p->processing_days);
	args[10] = SA_TEXT(p->doc);
	args[11] = SA_INT(now);
	args[12] = SA_INT(p->fee_min);
	args[13] = SA_INT(p->fee_max);
	args[14] = SA_BOOL(p->code_is_sample);
	buf_free(&fold);
	buf_free(&lv);
}

static const char insert_sql[] =
    "INSERT INTO procedures (code, name, name_en, name_fold, field, field_en, levels, handled_by, online, "
    "processing_days, doc, active, created_at, updated_at, fee_min, fee_max, sample) VALUES ($1, $2, $3, $4, $5, "
    "$6, $7, $8, $9, $10, $11, 1, $12, $12, $13, $14, $15) ON CONFLICT (code) DO NOTHING";
static const char update_sql[] =
    "UPDATE procedures SET name = $2, name_en = $3, name_fold = $4, field = $5, field_en = $6, levels = $7, "
    "handled_by = $8, online = $9, processing_days = $10, doc = $11, active = 1, updated_at = $12, fee_min = $13, "
    "fee_max = $14, sample = $15 WHERE code = $1";

static int insert_tx(struct store_tx *tx, struct arena *a, struct procedure *p, int64_t now, struct err *e)
{
	struct store_arg args[ROW_NARGS];
	row_args(a, p, now, args);
	int rc = store_exec(tx, insert_sql, args, ROW_NARGS, e);
	if (rc == 0)
		return err_set(e, ERR_CONFLICT, "a procedure with the code '%s' already exists", p->code);
	if (rc < 0)
		return rc;
	p->created_at = p->updated_at = now;
	p->active = true;
	return 0;
}

static int update_tx(struct store_tx *tx, struct arena *a, struct procedure *p, int64_t created, int64_t now,
		     struct err *e)
{
	struct store_arg args[ROW_NARGS];
	row_args(a, p, now, args);
	int rc = store_exec(tx, update_sql, args, ROW_NARGS, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "procedure '%s' not found", p->code);
	p->created_at = created;
	p->updated_at = now;
	p->active = true;
	return 0;
}

/* The stored document and creation time of code: 1 found, 0 not. */
static int old_tx(struct store_tx *tx, struct arena *a, const char *code, char **doc, int64_t *created, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, "SELECT doc, created_at FROM procedures WHERE code = $1", ARGS(SA_TEXT(code)), &q, e);
	if (rc == 0 && (rc = store_step(q, e)) == 1) {
		*doc = store_dup(q, 0, a);
		*created = store_int(q, 1);
	}
	store_done(q);
	return rc;
}

static char *before_after(struct arena *a, const char *before, const char *after)
{
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_key(&w, "before");
	if (before)
		jw_raw(&w, before, strlen(before));
	else
		jw_null(&w);
	jw_key(&w, "after");
	jw_raw(&w, after, strlen(after));
	jw_obj_end(&w);
	char *s = arena_strdup(a, buf_cstr(&b));
	buf_free(&b);
	return s;
}

struct write_ctx {
	const struct ctx *c;
	struct procedure *p;
	const char *dept;
};

static int create_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct write_ctx *w = arg;
	struct pv v = {w->c->app, w->c->a, e, "", 0};
	int rc = check_dept_tx(tx, &v, w->p, w->dept, e);
	if (rc < 0)
		return rc;
	if (v.nbad)
		return err_fields_done(e);
	if ((rc = insert_tx(tx, w->c->a, w->p, time_now_us(), e)) < 0)
		return rc;
	return audit_append(tx, w->c, "procedure.create", arena_printf(w->c->a, "procedure:%s", w->p->code), w->p->doc,
			    e);
}

static int update_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct write_ctx *w = arg;
	char *old = NULL;
	int64_t created = 0;
	int rc = old_tx(tx, w->c->a, w->p->code, &old, &created, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "procedure '%s' not found", w->p->code);
	struct pv v = {w->c->app, w->c->a, e, "", 0};
	if ((rc = check_dept_tx(tx, &v, w->p, w->dept, e)) < 0)
		return rc;
	if (v.nbad)
		return err_fields_done(e);
	if ((rc = update_tx(tx, w->c->a, w->p, created, time_now_us(), e)) < 0)
		return rc;
	return audit_append(tx, w->c, "procedure.update", arena_printf(w->c->a, "procedure:%s", w->p->code),
			    before_after(w->c->a, old, w->p->doc), e);
}

/* Validation without the database part (done in the write transaction). */
static int parse_for_write(const struct ctx *c, json_t *doc, struct procedure *p, const char **dept, struct err *e)
{
	struct pv v = {c->app, c->a, e, "", 0};
	parse_doc(&v, doc, p, dept);
	if (v.nbad)
		return err_fields_done(e);
	p->doc = canonical(doc, c->a);
	return 0;
}

int procedure_create(const struct ctx *c, json_t *doc, struct procedure *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	struct write_ctx w = {c, out, NULL};
	if ((rc = parse_for_write(c, doc, out, &w.dept, e)) < 0)
		return rc;
	return store_write(c->app->db, create_fn, &w, e);
}

int procedure_update(const struct ctx *c, const char *code, json_t *doc, struct procedure *out, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	if (!code || !code_valid(code))
		return err_set(e, ERR_NOT_FOUND, "procedure '%s' not found", code ? code : "");
	json_t *d = json_is_object(doc) ? json_copy(doc) : json_incref(doc);
	if (json_is_object(d)) {
		json_t *jc = json_object_get(d, "code");
		if (!jc || json_is_null(jc))
			json_object_set_new(d, "code", json_string(code));
		else if (!json_is_string(jc) || strcmp(json_string_value(jc), code) != 0)
			err_field(e, "code", "must be '%s' (a procedure's code cannot change)", code);
	}
	struct write_ctx w = {c, out, NULL};
	int bad_code = e->nfields;
	rc = parse_for_write(c, d, out, &w.dept, e);
	json_decref(d);
	if (rc == 0 && bad_code)
		rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	return store_write(c->app->db, update_fn, &w, e);
}

/* ---- import and export ---- */

struct import_ctx {
	const struct ctx *c;
	struct procedure *ps;
	const char **depts;
	int n;
	int created, replaced;
};

static int import_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct import_ctx *m = arg;
	struct arena *a = m->c->a;
	m->created = m->replaced = 0; /* the callback may run again */
	int nbad = 0;
	for (int i = 0; i < m->n; i++) {
		struct pv v = {m->c->app, a, e, arena_printf(a, "[%d].", i), 0};
		int rc = check_dept_tx(tx, &v, &m->ps[i], m->depts[i], e);
		if (rc < 0)
			return rc;
		nbad += v.nbad;
	}
	if (nbad)
		return err_fields_done(e);
	int64_t now = time_now_us();
	for (int i = 0; i < m->n; i++) {
		struct procedure *p = &m->ps[i];
		char *old = NULL;
		int64_t created = 0;
		int rc = old_tx(tx, a, p->code, &old, &created, e);
		if (rc < 0)
			return rc;
		if (rc == 1 && strcmp(old, p->doc) == 0) {
			p->created_at = created;
			continue;
		}
		rc = rc == 1 ? update_tx(tx, a, p, created, now, e) : insert_tx(tx, a, p, now, e);
		if (rc == ERR_CONFLICT)
			return err_set(e, ERR_CONFLICT, "procedure %s was created meanwhile; import again", p->code);
		if (rc < 0)
			return rc;
		if (old)
			m->replaced++;
		else
			m->created++;
		rc = audit_append(tx, m->c, "procedure.import", arena_printf(a, "procedure:%s", p->code),
				  before_after(a, old, p->doc), e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int procedure_import(const struct ctx *c, json_t *list, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	if (!json_is_array(list)) {
		err_field(e, "procedures", "must be a JSON array of procedure documents");
		return err_fields_done(e);
	}
	size_t n = json_array_size(list);
	if (n > MAX_IMPORT)
		return err_set(e, ERR_TOO_LARGE, "at most %d procedures can be imported at once", MAX_IMPORT);
	struct import_ctx m = {c,
			       arena_alloc(c->a, sizeof *m.ps * (n ? n : 1)),
			       arena_alloc(c->a, sizeof *m.depts * (n ? n : 1)),
			       (int)n,
			       0,
			       0};
	int nbad = 0;
	for (size_t i = 0; i < n; i++) {
		struct pv v = {c->app, c->a, e, arena_printf(c->a, "[%zu].", i), 0};
		parse_doc(&v, json_array_get(list, i), &m.ps[i], &m.depts[i]);
		for (size_t k = 0; m.ps[i].code && k < i; k++)
			if (m.ps[k].code && strcmp(m.ps[k].code, m.ps[i].code) == 0) {
				bad(&v, "code", "repeats the code of [%zu]", k);
				break;
			}
		nbad += v.nbad;
		if (!v.nbad)
			m.ps[i].doc = canonical(json_array_get(list, i), c->a);
	}
	if (nbad)
		return err_fields_done(e);
	if (n == 0)
		return 0;
	rc = store_write(c->app->db, import_fn, &m, e);
	return rc < 0 ? rc : (int)n;
}

struct export_ctx {
	json_t *all;
};

static int export_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct export_ctx *x = arg;
	json_array_clear(x->all); /* a read callback may run again too */
	struct store_q *q;
	int rc = store_query(tx, "SELECT code, doc FROM procedures WHERE active = 1 ORDER BY code", NOARGS, &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1) {
		json_t *doc;
		struct err sub;
		err_clear(&sub);
		if (json_parse(store_text(q, 1), (size_t)store_textlen(q, 1), &doc, &sub) < 0) {
			rc = err_set(e, ERR_INTERNAL, "stored procedure %s: %s", store_text(q, 0), sub.msg);
			break;
		}
		json_array_append_new(x->all, doc);
		rc = 0;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int procedure_export(const struct ctx *c, struct buf *out, struct err *e)
{
	struct export_ctx x = {json_array()};
	int rc = store_read(c->app->db, export_fn, &x, e);
	if (rc == 0) {
		/* indented for the people who edit the catalogue; import canonicalises it again */
		char *s = json_dumps(x.all, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (!s)
			abort();
		buf_puts(out, s);
		buf_putc(out, '\n');
		free(s);
	}
	json_decref(x.all);
	return rc;
}

/* ---- lists ---- */

#define LIST_COLS                                                                                                      \
	"code, name, name_en, field, field_en, levels, handled_by, online, processing_days, active, created_at, "      \
	"updated_at, fee_min, fee_max, sample"

static void split_levels(struct arena *a, const char *col, struct procedure *p)
{
	int n = 0;
	for (const char *s = col; *s; s++)
		n += *s == ',';
	p->levels = arena_alloc(a, sizeof *p->levels * (size_t)(n ? n : 1));
	p->nlevels = 0;
	const char *s = col;
	while (*s) {
		if (*s == ',') {
			s++;
			continue;
		}
		const char *end = strchr(s, ',');
		if (!end)
			end = s + strlen(s);
		p->levels[p->nlevels++] = arena_strndup(a, s, (size_t)(end - s));
		s = end;
	}
}

static void list_read(struct store_q *q, struct arena *a, struct procedure *p)
{
	memset(p, 0, sizeof *p);
	p->code = store_dup(q, 0, a);
	p->name = store_dup(q, 1, a);
	p->name_en = store_dup(q, 2, a);
	p->field = store_dup(q, 3, a);
	p->field_en = store_dup(q, 4, a);
	split_levels(a, store_text(q, 5), p);
	p->handled_by = store_dup(q, 6, a);
	int oi = name_index(online_names, NELEM(online_names), store_text(q, 7));
	p->online = oi < 0 ? PROC_ONLINE_NONE : (enum proc_online)oi;
	p->processing_days = (int)store_int(q, 8);
	p->active = store_int(q, 9) != 0;
	p->created_at = store_int(q, 10);
	p->updated_at = store_int(q, 11);
	p->fee_min = store_int(q, 12);
	p->fee_max = store_int(q, 13);
	p->code_is_sample = store_int(q, 14) != 0;
}

enum { Q_WORDS = 6 };

/* q: every word must appear in the folded names (the last slot takes the
 * remaining words as a phrase), or q is the start of the code. */
#define LIST_WHERE                                                                                                     \
	" WHERE active = 1 AND (CAST($1 AS TEXT) IS NULL OR field = $1 OR field_en = $1)"                              \
	" AND (CAST($2 AS TEXT) IS NULL OR levels LIKE $2) AND (CAST($3 AS TEXT) IS NULL OR online = $3)"              \
	" AND (((CAST($4 AS TEXT) IS NULL OR name_fold LIKE $4) AND (CAST($5 AS TEXT) IS NULL OR name_fold LIKE $5)"   \
	" AND (CAST($6 AS TEXT) IS NULL OR name_fold LIKE $6) AND (CAST($7 AS TEXT) IS NULL OR name_fold LIKE $7)"     \
	" AND (CAST($8 AS TEXT) IS NULL OR name_fold LIKE $8) AND (CAST($9 AS TEXT) IS NULL OR name_fold LIKE $9))"    \
	" OR (CAST($10 AS TEXT) IS NOT NULL AND code LIKE $10))"

struct list_ctx {
	const struct ctx *c;
	const struct procedure_filter *f;
	struct store_arg args[12];
	struct procedure *items;
	int n;
	int64_t total;
};

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_ctx *l = arg;
	l->n = 0;
	int rc = store_get_int(tx, "SELECT count(*) FROM procedures" LIST_WHERE, l->args, 10, &l->total, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	rc = store_query(tx, "SELECT " LIST_COLS " FROM procedures" LIST_WHERE " ORDER BY code LIMIT $11 OFFSET $12",
			 l->args, 12, &q, e);
	if (rc == 0) {
		l->items = arena_alloc(l->c->a, sizeof *l->items * (size_t)l->f->per_page);
		while ((rc = store_step(q, e)) == 1 && l->n < l->f->per_page)
			list_read(q, l->c->a, &l->items[l->n++]);
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

/* Drops LIKE's wildcards and PostgreSQL's escape character from typed text. */
static void like_literal(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != '%' && s[i] != '_' && s[i] != '\\')
			buf_putc(b, s[i]);
}

static int check_level_online(const struct ctx *c, const char *level, const char *online, struct err *e)
{
	if (level && !app_level_valid(c->app, level, NULL))
		err_field(e, "level", "must be one of the configured levels");
	if (online && name_index(online_names, NELEM(online_names), online) < 0)
		err_field(e, "online", "must be full, partial or none");
	return err_fields_done(e);
}

int procedure_list(const struct ctx *c, const struct procedure_filter *f, struct procedure **out, int *n,
		   int64_t *total, struct err *e)
{
	*out = NULL;
	*n = 0;
	*total = 0;
	const char *level = f->level && *f->level ? f->level : NULL;
	const char *online = f->online && *f->online ? f->online : NULL;
	int rc = check_level_online(c, level, online, e);
	if (rc < 0)
		return rc;
	struct list_ctx l = {.c = c, .f = f};
	for (int i = 0; i < 12; i++)
		l.args[i] = SA_NULL;
	if (f->field && *f->field)
		l.args[0] = SA_TEXT(f->field);
	if (level)
		l.args[1] = SA_TEXT(arena_printf(c->a, "%%,%s,%%", level));
	if (online)
		l.args[2] = SA_TEXT(online);
	if (f->q && *f->q) {
		struct buf fold = BUF_INIT;
		text_fold(f->q, &fold);
		const char *s = buf_cstr(&fold);
		int k = 0;
		while (*s && k < Q_WORDS) {
			while (*s == ' ')
				s++;
			if (!*s)
				break;
			const char *end = k == Q_WORDS - 1 ? s + strlen(s) : strchr(s, ' ');
			if (!end)
				end = s + strlen(s);
			struct buf w = BUF_INIT;
			buf_putc(&w, '%');
			like_literal(&w, s, (size_t)(end - s));
			buf_putc(&w, '%');
			if (w.len > 2)
				l.args[3 + k++] = SA_TEXT(arena_strdup(c->a, w.ptr));
			buf_free(&w);
			s = end;
		}
		struct buf cp = BUF_INIT;
		like_literal(&cp, f->q, strlen(f->q));
		if (cp.len) {
			buf_putc(&cp, '%');
			l.args[9] = SA_TEXT(arena_strdup(c->a, cp.ptr));
		}
		buf_free(&cp);
		buf_free(&fold);
		if (k == 0 && l.args[9].t == SA_NULL_T)
			return 0; /* nothing searchable was typed (only wildcards): nothing matches */
	}
	int page = f->page > 0 ? f->page : 1;
	int per_page = f->per_page > 0 ? f->per_page : 50;
	struct procedure_filter ff = *f;
	ff.page = page;
	ff.per_page = per_page;
	l.f = &ff;
	l.args[10] = SA_INT(per_page);
	l.args[11] = SA_INT((int64_t)(page - 1) * per_page);
	rc = store_read(c->app->db, list_fn, &l, e);
	if (rc < 0)
		return rc;
	*out = l.items;
	*n = l.n;
	*total = l.total;
	return 0;
}

struct fields_ctx {
	const struct ctx *c;
	const char *level_like;
	struct procedure_field_count *items;
	int n;
};

static int fields_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct fields_ctx *x = arg;
	x->n = 0;
	int64_t count = 0;
	int rc = store_get_int(tx, "SELECT count(DISTINCT field) FROM procedures WHERE active = 1", NOARGS, &count, e);
	if (rc < 0)
		return rc;
	x->items = arena_alloc(x->c->a, sizeof *x->items * (size_t)(count ? count : 1));
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT field, MAX(field_en), count(*) FROM procedures WHERE active = 1 AND "
			 "(CAST($1 AS TEXT) IS NULL OR levels LIKE $1) GROUP BY field",
			 ARGS(SA_TEXT(x->level_like)), &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1 && x->n < count) {
		struct procedure_field_count *f = &x->items[x->n++];
		f->field = store_dup(q, 0, x->c->a);
		f->field_en = store_dup(q, 1, x->c->a);
		f->count = store_int(q, 2);
		rc = 0;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

struct fold_key {
	char *key;
	struct procedure_field_count item;
};

static int cmp_fold_key(const void *a, const void *b)
{
	const struct fold_key *x = a, *y = b;
	int d = strcmp(x->key, y->key);
	return d ? d : strcmp(x->item.field, y->item.field);
}

int procedure_fields(const struct ctx *c, const char *level, struct procedure_field_count **out, int *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	if (level && !*level)
		level = NULL;
	int rc = check_level_online(c, level, NULL, e);
	if (rc < 0)
		return rc;
	struct fields_ctx x = {c, level ? arena_printf(c->a, "%%,%s,%%", level) : NULL, NULL, 0};
	if ((rc = store_read(c->app->db, fields_fn, &x, e)) < 0)
		return rc;
	/* the same order on both backends, whatever their collation: by the folded name */
	struct fold_key *keys = arena_alloc(c->a, sizeof *keys * (size_t)(x.n ? x.n : 1));
	for (int i = 0; i < x.n; i++) {
		struct buf f = BUF_INIT;
		text_fold(x.items[i].field, &f);
		keys[i].key = arena_strdup(c->a, buf_cstr(&f));
		keys[i].item = x.items[i];
		buf_free(&f);
	}
	qsort(keys, (size_t)x.n, sizeof *keys, cmp_fold_key);
	for (int i = 0; i < x.n; i++)
		x.items[i] = keys[i].item;
	*out = x.items;
	*n = x.n;
	return 0;
}

/* ---- the demo catalogue ---- */

/* The 2025 two-level model: what districts did moves to the communes. */
static void remap_district(json_t *doc)
{
	json_t *levels = json_object_get(doc, "levels");
	json_t *nl = json_array();
	size_t i;
	json_t *it;
	bool commune = false;
	json_array_foreach(levels, i, it)
	{
		const char *s = json_string_value(it);
		if (!s)
			continue;
		if (strcmp(s, "district") == 0 || strcmp(s, "commune") == 0) {
			if (!commune)
				json_array_append_new(nl, json_string("commune"));
			commune = true;
		} else {
			json_array_append(nl, it);
		}
	}
	json_object_set_new(doc, "levels", nl);
	const char *h = json_string_value(json_object_get(doc, "handled_by"));
	if (h && strcmp(h, "district_ubnd") == 0)
		json_object_set_new(doc, "handled_by", json_string("commune_ubnd"));
	json_array_foreach(json_object_get(doc, "workflow"), i, it)
	{
		const char *l = json_string_value(json_object_get(it, "level"));
		if (l && strcmp(l, "district") == 0)
			json_object_set_new(it, "level", json_string("commune"));
	}
}

struct demo_ctx {
	const struct ctx *c;
	struct procedure *ps;
	const char **depts;
	int n;
	int added;
};

static int demo_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct demo_ctx *d = arg;
	struct arena *a = d->c->a;
	d->added = 0;
	struct buf codes = BUF_INIT;
	struct jw w;
	jw_init(&w, &codes);
	jw_obj(&w);
	jw_key(&w, "added");
	jw_arr(&w);
	int rc = 0;
	int64_t now = time_now_us();
	for (int i = 0; i < d->n && rc >= 0; i++) {
		struct procedure *p = &d->ps[i];
		struct err sub;
		err_clear(&sub);
		struct pv v = {d->c->app, a, &sub, "", 0};
		if ((rc = check_dept_tx(tx, &v, p, d->depts[i], e)) < 0)
			break;
		if (v.nbad) {
			log_warn("demo procedure %s skipped: %s: %s", p->code, sub.fields[0].name, sub.fields[0].msg);
			continue;
		}
		struct store_arg args[ROW_NARGS];
		row_args(a, p, now, args);
		rc = store_exec(tx, insert_sql, args, ROW_NARGS, e);
		if (rc == 1) {
			jw_str(&w, p->code);
			d->added++;
		}
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	if (rc >= 0 && d->added)
		rc = audit_append(tx, d->c, "procedure.demo_load", "procedure:*", codes.ptr, e);
	buf_free(&codes);
	return rc < 0 ? rc : 0;
}

int procedure_load_demo(const struct ctx *c, struct err *e)
{
	int rc = require_admin(c, e);
	if (rc < 0)
		return rc;
	const struct embedded_file *f = embed_find(embedded_demo, "procedures.json");
	if (!f)
		return err_set(e, ERR_INTERNAL, "demo data procedures.json is not built in");
	json_t *list;
	if ((rc = json_parse(f->data, f->len, &list, e)) < 0)
		return rc;
	if (!json_is_array(list)) {
		json_decref(list);
		return err_set(e, ERR_INTERNAL, "demo data procedures.json is not an array");
	}
	bool remap = !app_level_valid(c->app, "district", NULL) && app_level_valid(c->app, "commune", NULL);
	size_t n = json_array_size(list);
	struct demo_ctx d = {c, arena_alloc(c->a, sizeof *d.ps * (n ? n : 1)),
			     arena_alloc(c->a, sizeof *d.depts * (n ? n : 1)), 0, 0};
	for (size_t i = 0; i < n; i++) {
		json_t *doc = json_deep_copy(json_array_get(list, i));
		if (remap)
			remap_district(doc);
		struct err sub;
		err_clear(&sub);
		struct pv v = {c->app, c->a, &sub, "", 0};
		struct procedure *p = &d.ps[d.n];
		parse_doc(&v, doc, p, &d.depts[d.n]);
		if (v.nbad) {
			log_warn("demo procedure #%zu skipped in this configuration: %s: %s", i, sub.fields[0].name,
				 sub.fields[0].msg);
		} else {
			p->doc = canonical(doc, c->a);
			d.n++;
		}
		json_decref(doc);
	}
	json_decref(list);
	rc = store_write(c->app->db, demo_fn, &d, e);
	return rc < 0 ? rc : d.added;
}

/* ---- JSON ---- */

void procedure_json(struct jw *w, const struct procedure *p)
{
	if (!p->doc) {
		procedure_summary_json(w, p);
		return;
	}
	/* the stored document is a canonical object: put the timestamps in front of its members */
	jw_obj(w);
	jw_ktime(w, "created_at", p->created_at);
	jw_ktime(w, "updated_at", p->updated_at);
	size_t n = strlen(p->doc);
	if (n > 2) {
		buf_putc(w->b, ',');
		buf_append(w->b, p->doc + 1, n - 2);
	}
	jw_obj_end(w);
}

void procedure_summary_json(struct jw *w, const struct procedure *p)
{
	jw_obj(w);
	jw_kstr(w, "code", p->code);
	jw_kstr(w, "name", p->name);
	jw_kstr(w, "name_en", p->name_en);
	jw_kstr(w, "field", p->field);
	jw_kstr(w, "field_en", p->field_en);
	jw_key(w, "levels");
	jw_arr(w);
	for (int i = 0; i < p->nlevels; i++)
		jw_str(w, p->levels[i]);
	jw_arr_end(w);
	jw_kstr(w, "handled_by", p->handled_by);
	jw_kstr(w, "online", proc_online_name(p->online));
	jw_kint(w, "processing_days", p->processing_days);
	jw_kint(w, "fee_min", p->fee_min);
	jw_kint(w, "fee_max", p->fee_max);
	jw_kbool(w, "code_is_sample", p->code_is_sample);
	jw_ktime(w, "updated_at", p->updated_at);
	jw_obj_end(w);
}
