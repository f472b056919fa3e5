/* web_view.c: views several pages share (see web_view.h). */
#include "web/web_view.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "agency/agency.h"
#include "base/text.h"
#include "base/time.h"

/* ---- statuses and marks ---- */

json_t *view_status(struct web_page *p, int status)
{
	json_t *o = json_object();
	const char *name = dossier_status_name(status);
	jset_s(o, "label", web_t(p, arena_printf(p->r->a, "statuses.%s", name)));
	jset_s(o, "cls", arena_printf(p->r->a, "tag tag--%s", name));
	return o;
}

json_t *view_deadline(struct web_page *p, const char *state)
{
	if (!state || !*state || strcmp(state, "none") == 0 || strcmp(state, "on_track") == 0)
		return NULL;
	static const char *const known[] = {"due_soon", "overdue", "paused", "on_time", "late"};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(state, known[i]) == 0) {
			json_t *o = json_object();
			jset_s(o, "label", web_t(p, arena_printf(p->r->a, "deadline.%s", state)));
			jset_s(o, "cls", arena_printf(p->r->a, "mark mark--%s", state));
			jset_b(o, "alert", strcmp(state, "overdue") == 0 || strcmp(state, "late") == 0);
			return o;
		}
	return NULL;
}

json_t *view_dossier(struct web_page *p, const struct dossier *d, const char *href)
{
	json_t *o = json_object();
	jset_s(o, "code", d->code);
	jset_s(o, "procedure_code", d->procedure_code);
	jset_s(o, "procedure_name", d->procedure_name);
	jset_s(o, "agency_name", d->agency_name);
	jset_s(o, "agency_code", d->agency_code);
	jset_s(o, "applicant_name", d->applicant_name);
	jset(o, "status", view_status(p, d->status));
	jset_i(o, "status_number", d->status);
	jset(o, "deadline", view_deadline(p, d->deadline_state));
	jset_so(o, "submitted_at", web_time(p, d->submitted_at));
	jset_so(o, "received_at", web_time(p, d->received_at));
	jset_so(o, "due_at", web_time(p, d->due_at));
	jset_so(o, "due_date", web_date(p, d->due_at));
	jset_so(o, "step_due_at", web_time(p, d->step_due_at));
	jset_so(o, "resolved_at", web_time(p, d->resolved_at));
	jset_so(o, "returned_at", web_time(p, d->returned_at));
	jset_s(o, "channel", web_t(p, arena_printf(p->r->a, "channels.%s", d->channel ? d->channel : "online")));
	jset_so(o, "outcome", d->outcome ? web_t(p, arena_printf(p->r->a, "outcomes.%s", d->outcome)) : NULL);
	jset_so(o, "href", href);
	jset_b(o, "has_fee", d->fee_total > 0);
	jset_s(o, "fee_total", web_money(p, d->fee_total));
	jset_s(o, "fee_paid", web_money(p, d->fee_paid));
	return o;
}

json_t *view_timeline(struct web_page *p, const struct dossier_step *steps, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		const struct dossier_step *s = &steps[i];
		json_t *o = json_object();
		jset_s(o, "title", web_pick(p, s->title, s->title_en));
		jset_so(o, "actor", s->actor_name && *s->actor_name
					    ? (s->actor_title && *s->actor_title
						       ? arena_printf(p->r->a, "%s – %s", s->actor_name, s->actor_title)
						       : s->actor_name)
					    : NULL);
		jset_so(o, "department", s->agency_name);
		jset_s(o, "at", web_time(p, s->at));
		jset_so(o, "note", s->note);
		jset_so(o, "step_due", web_time(p, s->step_due_at));
		jset(o, "status", view_status(p, s->status_to));
		jset_b(o, "last", i == n - 1);
		json_array_append_new(a, o);
	}
	return a;
}

json_t *view_files(struct web_page *p, const char *base, const struct dossier_file *files, int n)
{
	json_t *o = json_object(), *docs = json_array(), *sup = json_array(), *res = json_array();
	for (int i = 0; i < n; i++) {
		const struct dossier_file *f = &files[i];
		json_t *it = json_object();
		jset_s(it, "document", f->doc_name);
		jset_s(it, "filename", f->filename);
		jset_s(it, "size", web_size(p, f->size));
		jset_s(it, "at", web_time(p, f->created_at));
		jset_s(it, "href", arena_printf(p->r->a, "%s/tep/%lld", base, (long long)f->id));
		const char *type = f->content_type && strstr(f->content_type, "pdf") ? "PDF"
				   : f->content_type && strstr(f->content_type, "png") ? "PNG"
										       : "JPEG";
		jset_s(it, "type", type);
		json_array_append_new(strcmp(f->kind, "result") == 0	       ? res
				      : strcmp(f->kind, "supplement") == 0 ? sup
									   : docs,
				      it);
	}
	jset_b(o, "has_documents", json_array_size(docs) > 0);
	jset_b(o, "has_supplements", json_array_size(sup) > 0);
	jset_b(o, "has_results", json_array_size(res) > 0);
	jset(o, "documents", docs);
	jset(o, "supplements", sup);
	jset(o, "results", res);
	return o;
}

const char *view_proc_name(struct web_page *p, const struct procedure *proc)
{
	return web_pick(p, proc->name, proc->name_en);
}

const char *view_agency_name(struct web_page *p, const char *code)
{
	if (!code)
		return "";
	struct agency g;
	struct err e = {0};
	if (agency_get(&p->c, code, &g, &e) < 0)
		return code;
	return web_pick(p, g.name, g.name_en);
}

/* ---- agencies ---- */

static int list_level(struct web_page *p, const char *level, struct agency **out, int *n)
{
	int64_t total;
	struct err e = {0};
	if (!app_level_valid(p->c.app, level, NULL)) {
		*n = 0;
		*out = NULL;
		return 0;
	}
	return agency_list(&p->c, level, NULL, NULL, 1, 5000, out, n, &total, &e);
}

/* The level just above "commune" (district in 2021, province since 2025). */
static const char *parent_level(struct web_page *p, const char *level)
{
	int idx;
	if (!app_level_valid(p->c.app, level, &idx) || idx == 0)
		return NULL;
	return p->c.app->levels[idx - 1];
}

/* "Ủy ban nhân dân phường X" -> "phường X": the unit, as an address names it. */
static const char *unit_name(const char *name)
{
	static const char vi[] = "Ủy ban nhân dân ", en[] = "People's Committee of ";
	if (name && strncmp(name, vi, sizeof vi - 1) == 0)
		return name + sizeof vi - 1;
	if (name && strncmp(name, en, sizeof en - 1) == 0)
		return name + sizeof en - 1;
	return name ? name : "";
}

static json_t *option_as(struct web_page *p, const struct agency *g, const char *selected, bool unit)
{
	json_t *o = json_object();
	jset_s(o, "value", g->code);
	const char *name = web_pick(p, g->name, g->name_en);
	jset_s(o, "label", unit ? unit_name(name) : name);
	jset_b(o, "selected", selected && strcmp(selected, g->code) == 0);
	return o;
}

static json_t *option(struct web_page *p, const struct agency *g, const char *selected)
{
	return option_as(p, g, selected, false);
}

/* Groups agencies by parent, in the parent list's order (ordered by path). */
static json_t *grouped(struct web_page *p, struct agency *items, int n, const char *level, const char *selected,
		       bool unit)
{
	json_t *groups = json_array();
	struct agency *parents = NULL;
	int np = 0;
	const char *pl = parent_level(p, level);
	if (pl)
		list_level(p, pl, &parents, &np);
	for (int k = 0; k < np; k++) {
		json_t *opts = json_array();
		for (int i = 0; i < n; i++)
			if (items[i].parent && strcmp(items[i].parent, parents[k].code) == 0)
				json_array_append_new(opts, option_as(p, &items[i], selected, unit));
		if (!json_array_size(opts)) {
			json_decref(opts);
			continue;
		}
		json_t *g = json_object();
		const char *pname = web_pick(p, parents[k].name, parents[k].name_en);
		jset_s(g, "label", unit ? unit_name(pname) : pname);
		jset(g, "options", opts);
		json_array_append_new(groups, g);
	}
	/* anything whose parent is not at the level above */
	json_t *rest = json_array();
	for (int i = 0; i < n; i++) {
		bool placed = false;
		for (int k = 0; k < np && !placed; k++)
			placed = items[i].parent && strcmp(items[i].parent, parents[k].code) == 0;
		if (!placed)
			json_array_append_new(rest, option_as(p, &items[i], selected, unit));
	}
	if (json_array_size(rest)) {
		json_t *g = json_object();
		jset_s(g, "label", web_t(p, "common.other_units"));
		jset(g, "options", rest);
		json_array_append_new(groups, g);
	} else {
		json_decref(rest);
	}
	return groups;
}

json_t *view_commune_groups(struct web_page *p, const char *selected)
{
	struct agency *items = NULL;
	int n = 0;
	list_level(p, "commune", &items, &n);
	return grouped(p, items, n, "commune", selected, true);
}

json_t *view_receiving_agencies(struct web_page *p, const struct procedure *proc, const char *selected)
{
	json_t *o = json_object();
	const char *level = proc->nsteps ? proc->steps[0].level : NULL;
	struct agency *items = NULL;
	int n = 0;
	if (level)
		list_level(p, level, &items, &n);
	bool dept = proc->handled_by && strncmp(proc->handled_by, "department:", 11) == 0;
	/* keep the agencies that receive this procedure: the department (and the
	 * service centre) for a department's procedure, else the people's
	 * committees, service centres and offices of the level */
	struct agency *keep = arena_alloc(p->r->a, sizeof *keep * (size_t)(n ? n : 1));
	int k = 0;
	for (int i = 0; i < n; i++) {
		const char *kind = items[i].kind;
		bool ok = dept ? strcmp(items[i].code, proc->handled_by + 11) == 0 || strcmp(kind, "service_center") == 0
			       : strcmp(kind, "people_committee") == 0 || strcmp(kind, "service_center") == 0 ||
					 strcmp(kind, "office") == 0;
		if (ok)
			keep[k++] = items[i];
	}
	bool group = level && strcmp(level, "commune") == 0 && k > 12;
	jset_b(o, "grouped", group);
	jset_i(o, "count", k);
	if (group) {
		jset(o, "groups", grouped(p, keep, k, level, selected, false));
	} else {
		json_t *opts = json_array();
		for (int i = 0; i < k; i++) {
			json_t *it = option(p, &keep[i], selected ? selected : (k == 1 ? keep[i].code : NULL));
			jset_s(it, "id", i == 0 ? "agency" : arena_printf(p->r->a, "agency-%d", i));
			json_array_append_new(opts, it);
		}
		jset(o, "options", opts);
	}
	return o;
}

/* ---- form fields ---- */

static const char *ans(json_t *answers, const char *key)
{
	json_t *v = json_object_get(answers, key);
	return json_is_string(v) ? json_string_value(v) : "";
}

static const char *key_of(struct arena *a, const struct proc_field *f, const char *part)
{
	return part ? arena_printf(a, "f.%s.%s", f->name, part) : arena_printf(a, "f.%s", f->name);
}

void form_read(struct web_page *p, const struct procedure *proc, int from, int to, json_t *answers)
{
	struct arena *a = p->r->a;
	for (int i = from; i < to && i < proc->nfields; i++) {
		const struct proc_field *f = &proc->fields[i];
		if (f->type == PF_DATE) {
			static const char *const parts[] = {"day", "month", "year"};
			for (int k = 0; k < 3; k++)
				jset_s(answers, key_of(a, f, parts[k]), web_in(p, key_of(a, f, parts[k])));
		} else if (f->type == PF_ADDRESS) {
			jset_s(answers, key_of(a, f, "commune"), web_in(p, key_of(a, f, "commune")));
			jset_s(answers, key_of(a, f, "detail"), web_in(p, key_of(a, f, "detail")));
		} else {
			jset_s(answers, key_of(a, f, NULL), web_in(p, key_of(a, f, NULL)));
		}
	}
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* "1.500.000" / "1500000" / "12,5" / "12.5" -> a number; anything else stays text (the domain refuses it). */
static json_t *number_of(const char *s)
{
	char clean[64];
	size_t k = 0;
	for (const char *q = s; *q && k < sizeof clean - 1; q++)
		if (*q != ' ')
			clean[k++] = *q;
	clean[k] = 0;
	const char *digits = clean[0] == '-' ? clean + 1 : clean;
	if (all_digits(digits) && strlen(digits) <= 15)
		return json_integer(strtoll(clean, NULL, 10));
	/* thousands separated by dots: 1.500.000 */
	bool grouped = strchr(digits, '.') != NULL;
	const char *q = digits;
	size_t first = strcspn(q, ".");
	if (first == 0 || first > 3)
		grouped = false;
	for (q += first; grouped && *q; q += 4)
		if (q[0] != '.' || strspn(q + 1, "0123456789") < 3 || (q[4] && q[4] != '.'))
			grouped = false;
	if (grouped) {
		char out[64];
		size_t m = 0;
		for (const char *c = clean; *c; c++)
			if (*c != '.')
				out[m++] = *c;
		out[m] = 0;
		return json_integer(strtoll(out, NULL, 10));
	}
	/* one decimal separator */
	char dec[64];
	str_copy(dec, sizeof dec, clean);
	char *sep = strpbrk(dec, ".,");
	if (sep && !strpbrk(sep + 1, ".,")) {
		*sep = '.';
		char *end;
		double v = strtod(dec, &end);
		if (!*end && end != dec)
			return json_real(v);
	}
	return json_string(s);
}

json_t *form_build(const struct procedure *proc, json_t *answers)
{
	json_t *form = json_object();
	struct arena a = ARENA_INIT;
	for (int i = 0; i < proc->nfields; i++) {
		const struct proc_field *f = &proc->fields[i];
		if (f->type == PF_DATE) {
			const char *d = ans(answers, key_of(&a, f, "day")), *m = ans(answers, key_of(&a, f, "month")),
				   *y = ans(answers, key_of(&a, f, "year"));
			if (!*d && !*m && !*y)
				continue;
			if (all_digits(d) && all_digits(m) && all_digits(y) && strlen(d) <= 2 && strlen(m) <= 2 &&
			    strlen(y) == 4)
				jset(form, f->name, json_string(arena_printf(&a, "%s-%02d-%02d", y, atoi(m), atoi(d))));
			else
				jset(form, f->name, web_jstr(arena_printf(&a, "%s/%s/%s", d, m, y)));
		} else if (f->type == PF_ADDRESS) {
			const char *c = ans(answers, key_of(&a, f, "commune")), *dt = ans(answers, key_of(&a, f, "detail"));
			if (!*c && !*dt)
				continue;
			json_t *o = json_object();
			jset_s(o, "commune", c);
			if (*dt)
				jset_s(o, "detail", dt);
			jset(form, f->name, o);
		} else {
			const char *v = ans(answers, key_of(&a, f, NULL));
			if (!*v)
				continue;
			if (f->type == PF_PHONE || f->type == PF_CCCD) {
				/* "0912 345 678", "030.095.001.234": the digits are what counts */
				char *c = arena_strdup(&a, v);
				size_t k = 0;
				for (size_t j = 0; c[j]; j++)
					if (c[j] != ' ' && c[j] != '.' && (f->type == PF_CCCD || c[j] != '-'))
						c[k++] = c[j];
				c[k] = 0;
				v = c;
			}
			jset(form, f->name, f->type == PF_NUMBER ? number_of(v) : web_jstr(v));
		}
	}
	arena_free(&a);
	return form;
}

const char *form_anchor(struct web_page *p, const struct proc_field *f)
{
	struct arena *a = p->r->a;
	if (f->type == PF_DATE)
		return arena_printf(a, "f-%s-day", f->name);
	if (f->type == PF_ADDRESS)
		return arena_printf(a, "f-%s-commune", f->name);
	if (f->type == PF_SELECT && f->noptions <= 4)
		return arena_printf(a, "f-%s-0", f->name);
	return arena_printf(a, "f-%s", f->name);
}

/* The label with its first letter in lower case, for "Enter {label}" (ASCII and Đ). */
static const char *label_lc(struct web_page *p, const char *label)
{
	char *s = arena_strdup(p->r->a, label ? label : "");
	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] = (char)tolower((unsigned char)s[0]);
	else if ((unsigned char)s[0] == 0xC4 && (unsigned char)s[1] == 0x90) /* Đ -> đ */
		s[1] = (char)0x91;
	return s;
}

static const char *field_label(struct web_page *p, const struct proc_field *f)
{
	return web_pick(p, f->label, f->label_en);
}

static bool field_empty(struct web_page *p, const struct proc_field *f, json_t *answers)
{
	struct arena *a = p->r->a;
	if (f->type == PF_DATE)
		return !*ans(answers, key_of(a, f, "day")) && !*ans(answers, key_of(a, f, "month")) &&
		       !*ans(answers, key_of(a, f, "year"));
	if (f->type == PF_ADDRESS)
		return !*ans(answers, key_of(a, f, "commune")) && !*ans(answers, key_of(a, f, "detail"));
	return !*ans(answers, key_of(a, f, NULL));
}

static const char *field_message(struct web_page *p, const struct proc_field *f, json_t *answers)
{
	const char *label = field_label(p, f), *lc = label_lc(p, label);
	struct arena *a = p->r->a;
	if (field_empty(p, f, answers)) {
		const char *key = f->type == PF_SELECT	   ? "errors.field.required_choice"
				  : f->type == PF_ADDRESS ? "errors.field.required_address"
				  : f->type == PF_DATE	   ? "errors.field.required_date"
							   : "errors.field.required";
		return web_tf(p, key, "label", lc, "Label", label, NULL);
	}
	const char *key = "errors.field.text";
	switch (f->type) {
	case PF_NUMBER: key = "errors.field.number"; break;
	case PF_DATE: key = "errors.field.date"; break;
	case PF_SELECT: key = "errors.field.choice"; break;
	case PF_CCCD: key = "errors.field.cccd"; break;
	case PF_TAX_CODE: key = "errors.field.tax_code"; break;
	case PF_PHONE: key = "errors.field.phone"; break;
	case PF_EMAIL: key = "errors.field.email"; break;
	case PF_ADDRESS:
		key = !*ans(answers, key_of(a, f, "commune")) ? "errors.field.address_commune"
		      : strlen(ans(answers, key_of(a, f, "detail"))) > 300 ? "errors.field.address_detail"
									   : "errors.field.address_commune";
		break;
	default: break;
	}
	return web_tf(p, key, "label", lc, "Label", label, NULL);
}

int form_errors(struct web_page *p, const struct procedure *proc, int from, int to, json_t *answers,
		const struct err *e)
{
	int count = 0;
	for (int i = from; i < to && i < proc->nfields; i++) {
		const struct proc_field *f = &proc->fields[i];
		char name[80];
		snprintf(name, sizeof name, "form.%s", f->name);
		for (int k = 0; k < e->nfields; k++)
			if (strcmp(e->fields[k].name, name) == 0) {
				web_err(p, form_anchor(p, f), field_message(p, f, answers));
				count++;
				break;
			}
	}
	return count;
}

static json_t *view_options(struct web_page *p, const struct proc_field *f, const char *value)
{
	json_t *a = json_array();
	for (int k = 0; k < f->noptions; k++) {
		json_t *o = json_object();
		jset_s(o, "value", f->options[k]);
		jset_s(o, "label", f->options[k]);
		jset_b(o, "selected", strcmp(value, f->options[k]) == 0 || (f->noptions == 1 && !*value));
		jset_s(o, "id", arena_printf(p->r->a, "f-%s-%d", f->name, k));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *form_views(struct web_page *p, const struct procedure *proc, int from, int to, json_t *answers)
{
	json_t *list = json_array();
	struct arena *a = p->r->a;
	json_t *communes = NULL;
	for (int i = from; i < to && i < proc->nfields; i++) {
		const struct proc_field *f = &proc->fields[i];
		const char *anchor = form_anchor(p, f);
		json_t *v = web_field(p, arena_printf(a, "f-%s", f->name), key_of(a, f, NULL), field_label(p, f),
				      ans(answers, key_of(a, f, NULL)));
		const char *err = web_field_err(p, anchor);
		if (err)
			jset_s(v, "error", err);
		jset_s(v, "error_id", arena_printf(a, "f-%s-error", f->name));
		jset_b(v, "optional", !f->required);
		const char *type = "text";
		switch (f->type) {
		case PF_NUMBER: type = "number"; break;
		case PF_DATE: type = "date"; break;
		case PF_SELECT: type = f->noptions <= 4 ? "radios" : "select"; break;
		case PF_CCCD: type = "cccd"; break;
		case PF_TAX_CODE: type = "tax_code"; break;
		case PF_PHONE: type = "phone"; break;
		case PF_EMAIL: type = "email"; break;
		case PF_ADDRESS: type = "address"; break;
		default: break;
		}
		jset_b(v, arena_printf(a, "is_%s", type), true);
		const char *hint = web_t(p, arena_printf(a, "hints.%s", type));
		if (hint && *hint && strncmp(hint, "hints.", 6) != 0)
			jset_s(v, "hint", hint);
		if (f->type == PF_SELECT)
			jset(v, "options", view_options(p, f, ans(answers, key_of(a, f, NULL))));
		if (f->type == PF_DATE) {
			jset_s(v, "day", ans(answers, key_of(a, f, "day")));
			jset_s(v, "month", ans(answers, key_of(a, f, "month")));
			jset_s(v, "year", ans(answers, key_of(a, f, "year")));
			jset_s(v, "name_day", key_of(a, f, "day"));
			jset_s(v, "name_month", key_of(a, f, "month"));
			jset_s(v, "name_year", key_of(a, f, "year"));
		}
		if (f->type == PF_ADDRESS) {
			const char *c = ans(answers, key_of(a, f, "commune"));
			if (!communes)
				communes = view_commune_groups(p, NULL);
			/* mark the chosen commune in a copy of the shared list */
			json_t *groups = json_deep_copy(communes);
			size_t gi;
			json_t *g;
			json_array_foreach(groups, gi, g)
			{
				size_t oi;
				json_t *o;
				json_array_foreach(json_object_get(g, "options"), oi, o)
				{
					jset_b(o, "selected", strcmp(json_string_value(json_object_get(o, "value")), c) == 0);
				}
			}
			jset(v, "groups", groups);
			jset_s(v, "detail", ans(answers, key_of(a, f, "detail")));
			jset_s(v, "name_commune", key_of(a, f, "commune"));
			jset_s(v, "name_detail", key_of(a, f, "detail"));
		}
		json_array_append_new(list, v);
	}
	if (communes)
		json_decref(communes);
	return list;
}

static const char *commune_text(struct web_page *p, const char *code)
{
	struct agency g;
	struct err e = {0};
	if (!code || !*code || agency_get(&p->c, code, &g, &e) < 0)
		return code ? code : "";
	const char *name = unit_name(web_pick(p, g.name, g.name_en));
	struct agency parent;
	if (g.parent && agency_get(&p->c, g.parent, &parent, &e) == 0)
		return arena_printf(p->r->a, "%s, %s", name, unit_name(web_pick(p, parent.name, parent.name_en)));
	return name;
}

const char *form_display(struct web_page *p, const struct proc_field *f, json_t *answers)
{
	struct arena *a = p->r->a;
	if (f->type == PF_DATE) {
		const char *d = ans(answers, key_of(a, f, "day")), *m = ans(answers, key_of(a, f, "month")),
			   *y = ans(answers, key_of(a, f, "year"));
		if (!*d && !*m && !*y)
			return "";
		if (all_digits(d) && all_digits(m) && all_digits(y))
			return arena_printf(a, "%02d/%02d/%s", atoi(d), atoi(m), y);
		return arena_printf(a, "%s/%s/%s", d, m, y);
	}
	if (f->type == PF_ADDRESS) {
		const char *c = ans(answers, key_of(a, f, "commune")), *dt = ans(answers, key_of(a, f, "detail"));
		if (!*c && !*dt)
			return "";
		const char *ct = commune_text(p, c);
		return *dt ? arena_printf(a, "%s, %s", dt, ct) : ct;
	}
	return ans(answers, key_of(a, f, NULL));
}

const char *form_display_value(struct web_page *p, const struct proc_field *f, json_t *v)
{
	struct arena *a = p->r->a;
	if (!v || json_is_null(v))
		return "";
	if (f->type == PF_DATE && json_is_string(v)) {
		int32_t days;
		if (date_parse(json_string_value(v), &days)) {
			int y;
			unsigned m, d;
			civil_from_days(days, &y, &m, &d);
			return arena_printf(a, "%02u/%02u/%04d", d, m, y);
		}
	}
	if (f->type == PF_ADDRESS && json_is_object(v)) {
		const char *c = json_string_value(json_object_get(v, "commune"));
		const char *dt = json_string_value(json_object_get(v, "detail"));
		const char *ct = commune_text(p, c);
		return dt && *dt ? arena_printf(a, "%s, %s", dt, ct) : ct;
	}
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		return arena_printf(a, "%lld", (long long)json_integer_value(v));
	if (json_is_real(v))
		return arena_printf(a, "%g", json_real_value(v));
	return "";
}

/* ---- pages of questions ---- */

static size_t prefix_len(const char *name)
{
	const char *u = strchr(name, '_');
	return u ? (size_t)(u - name) : strlen(name);
}

static bool same_prefix(const struct proc_field *a, const struct proc_field *b)
{
	size_t n = prefix_len(a->name);
	return n == prefix_len(b->name) && strncmp(a->name, b->name, n) == 0;
}

int form_pages(const struct procedure *proc, int *starts, int max)
{
	enum { CAP = 6 };
	int n = 0, weight = 0;
	bool page_has_group = false;
	int i = 0;
	while (i < proc->nfields) {
		/* a unit: a run of fields sharing their first word, or one field */
		int j = i + 1;
		while (j < proc->nfields && same_prefix(&proc->fields[i], &proc->fields[j]))
			j++;
		int w = 0;
		for (int k = i; k < j; k++)
			w += proc->fields[k].type == PF_ADDRESS ? 2 : 1;
		int size = j - i;
		bool new_page = n == 0 || (weight > 0 && (weight + w > CAP || (size >= 3 && page_has_group)));
		if (new_page && n < max) {
			starts[n++] = i;
			weight = 0;
			page_has_group = false;
		}
		if (w > CAP && size > 1) {
			/* a long run: split it into pages of CAP */
			int k = i, cw = weight;
			while (k < j) {
				int fw = proc->fields[k].type == PF_ADDRESS ? 2 : 1;
				if (cw > 0 && cw + fw > CAP && n < max) {
					starts[n++] = k;
					cw = 0;
				}
				cw += fw;
				k++;
			}
			weight = cw;
			page_has_group = true;
		} else {
			weight += w;
			if (size >= 2)
				page_has_group = true;
		}
		i = j;
	}
	starts[n] = proc->nfields;
	return n;
}
