/* national_api.c: JSON routes that read the national databases for the
 * one-stop core, so that applicants are not asked again for what the state
 * already knows:
 *
 *   GET  /api/v1/prefill/citizen[?id_number=&purpose=]  the population record:
 *        a citizen gets their own (from their account's CCCD); officials and
 *        leaders name the person at the desk (id_number required), and each
 *        such lookup is audited as a personal-data access ("national.lookup",
 *        object "citizen:<CCCD>", with the purpose). The answer carries the
 *        record and "prefill": the applicant block and the usual form fields.
 *   GET  /api/v1/prefill/enterprise?tax_code=           the business registry
 *   GET  /api/v1/national/land-parcels?commune=&sheet=&parcel=&purpose=
 *   GET  /api/v1/national/insurance?number=&purpose=
 *   GET  /api/v1/national/judicial?id_number=&purpose=
 *        officials (audited as above); a citizen may read their own insurance
 *        and judicial records
 *   POST /api/v1/dossiers/{code}/ecopies  an official who may see the dossier
 *        fetches, for each document of its procedure that a national database
 *        can replace (ecopy_source), the record from that database (the key
 *        from the dossier: the applicant's CCCD, the form's tax code, or its
 *        address commune, map sheet and parcel number); each fetch is recorded
 *        in the dossier (table dossier_ecopies) and audited
 *   GET  /api/v1/dossiers/{code}/ecopies  what was fetched for the dossier
 * National systems that fail answer 502 bad_gateway / 504 gateway_timeout /
 * 503 unavailable (not configured) with a message naming the system. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/api.h"
#include "audit/audit.h"
#include "base/text.h"
#include "base/time.h"
#include "dossier/dossier.h"
#include "identity/identity.h"
#include "national/national.h"
#include "procedure/procedure.h"

#define DESK_PURPOSE "Tiếp nhận, giải quyết hồ sơ thủ tục hành chính"

static bool is_official(const struct ctx *c)
{
	return c->who && (c->who->role == ROLE_OFFICIAL || c->who->role == ROLE_LEADER);
}

static int purpose_param(struct req *r, const char **out)
{
	const char *p = req_query(r, "purpose");
	if (p && *p && !text_valid(p, 500)) {
		err_field(&r->err, "purpose", "must be 1 to 500 bytes of text");
		return err_fields_done(&r->err);
	}
	*out = p && *p ? p : DESK_PURPOSE;
	return 0;
}

/* ---- the audit of personal-data lookups ---- */

struct lookup_audit {
	const struct ctx *c;
	const char *object, *system, *key, *purpose, *outcome, *message_id;
};

static int lookup_audit_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct lookup_audit *l = arg;
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kstr(&w, "system", l->system);
	jw_kstr(&w, "key", l->key);
	jw_kstr(&w, "purpose", l->purpose);
	jw_kstr(&w, "outcome", l->outcome);
	if (l->message_id)
		jw_kstr(&w, "message_id", l->message_id);
	jw_obj_end(&w);
	int rc = audit_append(tx, l->c, "national.lookup", l->object, doc.ptr, e);
	buf_free(&doc);
	return rc;
}

/* Records the lookup whose result was rc (found, not found; transport
 * failures released nothing and are not recorded). A failed audit withholds
 * the answer. */
static int audit_lookup(struct req *r, const struct ctx *c, int rc, const char *object, enum national_system s,
			const char *key, const char *purpose, const char *message_id)
{
	if (rc < 0 && rc != ERR_NOT_FOUND)
		return rc;
	struct lookup_audit l = {c, object, national_system_name(s), key, purpose, rc == 0 ? "found" : "not_found",
				 message_id};
	struct err ae = {0};
	int arc = store_write(c->app->db, lookup_audit_fn, &l, &ae);
	if (arc < 0) {
		r->err = ae;
		return arc;
	}
	return rc;
}

static void raw_or_null(struct jw *w, const char *key, const char *json)
{
	jw_key(w, key);
	if (json && json[0])
		jw_raw(w, json, strlen(json));
	else
		jw_null(w);
}

/* ---- prefill: the population database ---- */

static int h_prefill_citizen(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *id = req_query(r, "id_number");
	const char *purpose;
	if ((rc = purpose_param(r, &purpose)) < 0)
		return rc;
	bool desk = is_official(&c);
	if (c.who->role == ROLE_CITIZEN) {
		if (!c.who->id_number || !c.who->id_number[0])
			return err_set(&r->err, ERR_NOT_FOUND, "your account has no identity number to look up");
		if (id && *id && strcmp(id, c.who->id_number) != 0)
			return err_set(&r->err, ERR_FORBIDDEN, "a citizen may read only their own population record");
		id = c.who->id_number;
		purpose = "Công dân tự tra cứu để điền tờ khai";
	} else if (!desk) {
		return err_set(&r->err, ERR_FORBIDDEN, "prefill is for citizens and one-stop officials");
	} else if (!id || !*id) {
		err_field(&r->err, "id_number", "is required: the identity number (CCCD) of the person at the desk");
		return err_fields_done(&r->err);
	}
	struct national_citizen p;
	rc = national_citizen_by_id(&c, id, purpose, &p, &r->err);
	if (desk)
		rc = audit_lookup(r, &c, rc, arena_printf(r->a, "citizen:%s", id), NATIONAL_POPULATION, id, purpose,
				  p.message_id);
	if (rc < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "source", national_system_name(NATIONAL_POPULATION));
	jw_kstr(w, "source_name", national_system_title(NATIONAL_POPULATION));
	jw_ktime(w, "fetched_at", time_now_us());
	if (p.message_id)
		jw_kstr(w, "message_id", p.message_id);
	raw_or_null(w, "record", p.json);
	jw_key(w, "prefill");
	jw_obj(w);
	jw_key(w, "applicant");
	jw_obj(w);
	jw_kstr(w, "name", p.full_name);
	jw_kstr(w, "id_number", p.id_number);
	jw_kstr(w, "address", p.current.full ? p.current.full : p.permanent.full);
	jw_obj_end(w);
	jw_key(w, "form");
	jw_obj(w);
	jw_kstr(w, "applicant_name", p.full_name);
	jw_kstr(w, "applicant_id_number", p.id_number);
	jw_kstr(w, "birth_date", p.birth_date);
	jw_kstr(w, "gender", p.gender);
	jw_kstr(w, "marital_status", p.marital_status);
	const struct national_address *ad = p.current.commune_code ? &p.current : &p.permanent;
	if (ad->commune_code) {
		jw_key(w, "applicant_address");
		jw_obj(w);
		jw_kstr(w, "commune", ad->commune_code);
		jw_kstr(w, "detail", ad->detail);
		jw_obj_end(w);
	}
	jw_obj_end(w);
	jw_obj_end(w);
	jw_obj_end(w);
	return 0;
}

/* ---- prefill: the business registry (public data) ---- */

static int h_prefill_enterprise(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *tax = req_query(r, "tax_code");
	struct national_enterprise x;
	if ((rc = national_enterprise_by_tax_code(&c, tax, DESK_PURPOSE, &x, &r->err)) < 0)
		return rc;
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "source", national_system_name(NATIONAL_BUSINESS));
	jw_kstr(w, "source_name", national_system_title(NATIONAL_BUSINESS));
	jw_ktime(w, "fetched_at", time_now_us());
	raw_or_null(w, "record", x.json);
	jw_key(w, "prefill");
	jw_obj(w);
	jw_kstr(w, "business_name", x.name);
	jw_kstr(w, "enterprise_name", x.name);
	jw_kstr(w, "registration_number", x.tax_code);
	jw_kstr(w, "legal_representative_name", x.representative);
	jw_kstr(w, "legal_representative_id", x.representative_id);
	if (x.head_office.commune_code) {
		jw_key(w, "head_office_address");
		jw_obj(w);
		jw_kstr(w, "commune", x.head_office.commune_code);
		jw_kstr(w, "detail", x.head_office.detail);
		jw_obj_end(w);
	}
	jw_obj_end(w);
	jw_obj_end(w);
	return 0;
}

/* ---- the other databases ---- */

static void record_json(struct req *r, enum national_system s, const struct national_record *x)
{
	struct jw *w = res_json(r, 200);
	jw_obj(w);
	jw_kstr(w, "source", national_system_name(s));
	jw_kstr(w, "source_name", national_system_title(s));
	jw_kstr(w, "key", x->key);
	jw_kstr(w, "summary", x->summary);
	jw_ktime(w, "fetched_at", time_now_us());
	if (x->message_id)
		jw_kstr(w, "message_id", x->message_id);
	raw_or_null(w, "record", x->json);
	jw_obj_end(w);
}

static int parse_int(const char *s, int *out)
{
	if (!s || !*s || strlen(s) > 6 || !text_digits(s, 0))
		return -1;
	*out = atoi(s);
	return 0;
}

static int h_land(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	if (!is_official(&c))
		return err_set(&r->err, ERR_FORBIDDEN, "land records are read by one-stop officials");
	const char *purpose;
	if ((rc = purpose_param(r, &purpose)) < 0)
		return rc;
	const char *commune = req_query(r, "commune");
	int sheet = 0, parcel = 0;
	if (parse_int(req_query(r, "sheet"), &sheet) < 0)
		err_field(&r->err, "sheet", "must be a map sheet number from 1 to 999");
	if (parse_int(req_query(r, "parcel"), &parcel) < 0)
		err_field(&r->err, "parcel", "must be a parcel number from 1 to 99999");
	if ((rc = err_fields_done(&r->err)) < 0)
		return rc;
	struct national_record x;
	rc = national_land_parcel(&c, commune, sheet, parcel, purpose, &x, &r->err);
	if (rc == ERR_INVALID)
		return rc;
	rc = audit_lookup(r, &c, rc, arena_printf(r->a, "land:%s", x.key), NATIONAL_LAND, x.key, purpose,
			  x.message_id);
	if (rc < 0)
		return rc;
	record_json(r, NATIONAL_LAND, &x);
	return 0;
}

/* insurance and judicial: officials (audited) or the citizen themself */
static int person_record(struct req *r, enum national_system s, const char *param)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *purpose;
	if ((rc = purpose_param(r, &purpose)) < 0)
		return rc;
	const char *key = req_query(r, param);
	bool desk = is_official(&c);
	if (c.who->role == ROLE_CITIZEN) {
		if (!c.who->id_number || !c.who->id_number[0])
			return err_set(&r->err, ERR_NOT_FOUND, "your account has no identity number to look up");
		if (key && *key && strcmp(key, c.who->id_number) != 0)
			return err_set(&r->err, ERR_FORBIDDEN, "a citizen may read only their own records");
		key = c.who->id_number;
		purpose = "Công dân tự tra cứu";
	} else if (!desk) {
		return err_set(&r->err, ERR_FORBIDDEN, "these records are read by one-stop officials");
	}
	struct national_record x;
	rc = s == NATIONAL_INSURANCE ? national_insurance(&c, key, purpose, &x, &r->err)
				     : national_judicial(&c, key, purpose, &x, &r->err);
	if (rc == ERR_INVALID)
		return rc;
	if (desk)
		rc = audit_lookup(r, &c, rc, arena_printf(r->a, "citizen:%s", key), s, key, purpose, x.message_id);
	if (rc < 0)
		return rc;
	record_json(r, s, &x);
	return 0;
}

static int h_insurance(struct req *r)
{
	return person_record(r, NATIONAL_INSURANCE, "number");
}

static int h_judicial(struct req *r)
{
	return person_record(r, NATIONAL_JUDICIAL, "id_number");
}

/* ---- e-copies of a dossier's documents ---- */

struct ecopy {
	int doc_index;
	const char *doc_name, *source, *key, *outcome, *summary, *json, *message_id, *error;
	int64_t fetched_at;
};

/* The value of the first form field of that type, as a string (NULL if none). */
static const char *form_value(const struct procedure *p, json_t *form, enum proc_field_type t, const char *name)
{
	for (int i = 0; i < p->nfields; i++) {
		const struct proc_field *f = &p->fields[i];
		if ((name && strcmp(f->name, name) != 0) || (!name && f->type != t))
			continue;
		json_t *v = json_object_get(form, f->name);
		if (t == PF_ADDRESS)
			v = json_object_get(v, "commune");
		if (json_is_string(v))
			return json_string_value(v);
		if (json_is_integer(v))
			return NULL;
	}
	return NULL;
}

struct ecopy_ctx {
	const struct ctx *c;
	const char *code;
	struct ecopy *items;
	int n;
	bool found;
};

static int ecopy_save_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct ecopy_ctx *k = arg;
	int rc = dossier_visible_tx(tx, k->c, k->code, e);
	if (rc <= 0) {
		k->found = false;
		return rc;
	}
	k->found = true;
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_key(&w, "ecopies");
	jw_arr(&w);
	for (int i = 0; i < k->n; i++) {
		const struct ecopy *x = &k->items[i];
		if (!x->key || strcmp(x->outcome, "missing_key") == 0)
			continue;
		rc = store_exec(tx,
				"INSERT INTO dossier_ecopies (dossier_code, doc_index, doc_name, source, record_key, outcome, "
				"summary, message_id, fetched_by, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
				ARGS(SA_TEXT(k->code), SA_INT(x->doc_index), SA_TEXT(x->doc_name), SA_TEXT(x->source),
				     SA_TEXT(x->key), SA_TEXT(x->outcome), SA_TEXT(x->summary), SA_TEXT(x->message_id),
				     k->c->who->user_id ? SA_INT(k->c->who->user_id) : SA_NULL, SA_INT(x->fetched_at)),
				e);
		if (rc < 0) {
			buf_free(&doc);
			return rc;
		}
		jw_obj(&w);
		jw_kstr(&w, "source", x->source);
		jw_kstr(&w, "key", x->key);
		jw_kstr(&w, "outcome", x->outcome);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	rc = audit_append(tx, k->c, "national.ecopies", arena_printf(k->c->a, "dossier:%s", k->code), doc.ptr, e);
	buf_free(&doc);
	return rc;
}

static void ecopy_json(struct jw *w, const struct ecopy *x)
{
	jw_obj(w);
	jw_kint(w, "doc_index", x->doc_index);
	jw_kstr(w, "doc_name", x->doc_name);
	jw_kstr(w, "source", x->source);
	jw_kstr(w, "source_name", national_system_title(national_system_parse(x->source)));
	jw_kstr(w, "key", x->key);
	jw_kstr(w, "outcome", x->outcome);
	jw_kstr(w, "summary", x->summary);
	if (x->error)
		jw_kstr(w, "error", x->error);
	if (x->message_id)
		jw_kstr(w, "message_id", x->message_id);
	jw_ktime(w, "fetched_at", x->fetched_at);
	if (x->json)
		raw_or_null(w, "record", x->json);
	jw_obj_end(w);
}

static int h_ecopies_fetch(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	if (!is_official(&c) && c.who->role != ROLE_ADMIN)
		return err_set(&r->err, ERR_FORBIDDEN, "e-copies are fetched by the officials handling the dossier");
	const char *code = req_param(r, "code");
	struct dossier d;
	if ((rc = dossier_get(&c, code, &d, &r->err)) < 0)
		return rc;
	struct procedure p;
	if ((rc = procedure_get(&c, d.procedure_code, &p, &r->err)) < 0)
		return rc;
	json_t *form = json_loads(d.form ? d.form : "{}", 0, NULL);
	struct ecopy *items = arena_alloc(r->a, sizeof *items * (size_t)(p.ndocuments ? p.ndocuments : 1));
	int n = 0;
	char *purpose = arena_printf(r->a, "Xác minh thành phần hồ sơ %s thay cho bản sao giấy tờ", code);
	for (int i = 0; i < p.ndocuments; i++) {
		const struct proc_document *doc = &p.documents[i];
		int s = national_system_parse(doc->ecopy_source);
		if (s < 0)
			continue;
		struct ecopy *x = &items[n++];
		x->doc_index = i;
		x->doc_name = doc->name;
		x->source = national_system_name((enum national_system)s);
		x->fetched_at = time_now_us();
		struct err fe = {0};
		int frc = 0;
		if (s == NATIONAL_POPULATION || s == NATIONAL_JUDICIAL || s == NATIONAL_INSURANCE) {
			const char *idn = d.applicant_id_number && d.applicant_id_number[0]
						  ? d.applicant_id_number
						  : form_value(&p, form, PF_CCCD, NULL);
			x->key = idn ? arena_strdup(r->a, idn) : NULL;
			if (x->key && s == NATIONAL_POPULATION) {
				struct national_citizen pc;
				frc = national_citizen_by_id(&c, x->key, purpose, &pc, &fe);
				if (frc == 0) {
					x->summary = arena_printf(r->a, "%s, sinh ngày %s, %s; thường trú: %s", pc.full_name,
								  pc.birth_date ? pc.birth_date : "?", pc.gender ? pc.gender : "?",
								  pc.permanent.full ? pc.permanent.full : "?");
					x->json = pc.json;
					x->message_id = pc.message_id;
				}
			} else if (x->key) {
				struct national_record nr;
				frc = s == NATIONAL_JUDICIAL ? national_judicial(&c, x->key, purpose, &nr, &fe)
							     : national_insurance(&c, x->key, purpose, &nr, &fe);
				if (frc == 0) {
					x->summary = nr.summary;
					x->json = nr.json;
					x->message_id = nr.message_id;
				}
			}
		} else if (s == NATIONAL_BUSINESS) {
			const char *tax = form_value(&p, form, PF_TAX_CODE, NULL);
			x->key = tax ? arena_strdup(r->a, tax) : NULL;
			if (x->key) {
				struct national_enterprise en;
				frc = national_enterprise_by_tax_code(&c, x->key, purpose, &en, &fe);
				if (frc == 0) {
					x->summary = arena_printf(r->a, "%s (mã số thuế %s): %s", en.name, en.tax_code,
								  en.status ? en.status : "?");
					x->json = en.json;
					x->message_id = en.message_id;
				}
			}
		} else if (s == NATIONAL_LAND) {
			const char *commune = form_value(&p, form, PF_ADDRESS, NULL);
			const char *sheet = form_value(&p, form, PF_TEXT, "map_sheet_number");
			const char *parcel = form_value(&p, form, PF_TEXT, "land_parcel_number");
			int sh = 0, pa = 0;
			if (commune && parse_int(sheet, &sh) == 0 && parse_int(parcel, &pa) == 0) {
				struct national_record nr;
				frc = national_land_parcel(&c, commune, sh, pa, purpose, &nr, &fe);
				x->key = nr.key ? nr.key : arena_printf(r->a, "%s/%d/%d", commune, sh, pa);
				if (frc == 0) {
					x->summary = nr.summary;
					x->json = nr.json;
					x->message_id = nr.message_id;
				}
			}
		}
		if (!x->key) {
			x->outcome = "missing_key";
			x->error = "the dossier does not say what to look up in this database";
		} else if (frc == 0) {
			x->outcome = "found";
		} else if (frc == ERR_NOT_FOUND) {
			x->outcome = "not_found";
			x->error = arena_strdup(r->a, fe.msg);
		} else {
			x->outcome = "error";
			x->error = arena_strdup(r->a, fe.msg);
		}
	}
	json_decref(form);
	struct ecopy_ctx k = {&c, code, items, n, false};
	if ((rc = store_write(c.app->db, ecopy_save_fn, &k, &r->err)) < 0)
		return rc;
	if (!k.found)
		return err_set(&r->err, ERR_NOT_FOUND, "dossier '%s' not found", code);
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < n; i++)
		ecopy_json(w, &items[i]);
	res_list_end(r, n, 1, n > 200 ? n : 200);
	return 0;
}

static int ecopy_list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct ecopy_ctx *k = arg;
	int rc = dossier_visible_tx(tx, k->c, k->code, e);
	if (rc <= 0) {
		k->found = false;
		return rc;
	}
	k->found = true;
	int64_t total = 0;
	if ((rc = store_get_int(tx, "SELECT count(*) FROM dossier_ecopies WHERE dossier_code = $1",
				ARGS(SA_TEXT(k->code)), &total, e)) < 0)
		return rc;
	if (total > 1000)
		total = 1000;
	k->items = arena_alloc(k->c->a, sizeof *k->items * (size_t)(total ? total : 1));
	k->n = 0;
	struct store_q *q;
	rc = store_query(tx,
			 "SELECT doc_index, doc_name, source, record_key, outcome, summary, message_id, fetched_at "
			 "FROM dossier_ecopies WHERE dossier_code = $1 ORDER BY id LIMIT 1000",
			 ARGS(SA_TEXT(k->code)), &q, e);
	while (rc == 0 && (rc = store_step(q, e)) == 1 && k->n < total) {
		struct ecopy *x = &k->items[k->n++];
		memset(x, 0, sizeof *x);
		x->doc_index = (int)store_int(q, 0);
		x->doc_name = store_dup(q, 1, k->c->a);
		x->source = store_dup(q, 2, k->c->a);
		x->key = store_dup(q, 3, k->c->a);
		x->outcome = store_dup(q, 4, k->c->a);
		x->summary = store_dup(q, 5, k->c->a);
		x->message_id = store_dup(q, 6, k->c->a);
		x->fetched_at = store_int(q, 7);
		rc = 0;
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

static int h_ecopies_list(struct req *r)
{
	struct ctx c;
	int rc = api_ctx(r, &c, API_REQUIRED);
	if (rc < 0)
		return rc;
	const char *code = req_param(r, "code");
	struct ecopy_ctx k = {&c, code, NULL, 0, false};
	if ((rc = store_read(c.app->db, ecopy_list_fn, &k, &r->err)) < 0)
		return rc;
	if (!k.found)
		return err_set(&r->err, ERR_NOT_FOUND, "dossier '%s' not found", code);
	struct jw *w = res_list_begin(r, 200);
	for (int i = 0; i < k.n; i++)
		ecopy_json(w, &k.items[i]);
	res_list_end(r, k.n, 1, k.n > 200 ? k.n : 200);
	return 0;
}

const struct route national_routes[] = {
	{"GET", "/api/v1/prefill/citizen", h_prefill_citizen, ROUTE_BLOCKING},
	{"GET", "/api/v1/prefill/enterprise", h_prefill_enterprise, ROUTE_BLOCKING},
	{"GET", "/api/v1/national/land-parcels", h_land, ROUTE_BLOCKING},
	{"GET", "/api/v1/national/insurance", h_insurance, ROUTE_BLOCKING},
	{"GET", "/api/v1/national/judicial", h_judicial, ROUTE_BLOCKING},
	{"POST", "/api/v1/dossiers/{code}/ecopies", h_ecopies_fetch, ROUTE_BLOCKING},
	{"GET", "/api/v1/dossiers/{code}/ecopies", h_ecopies_list, 0},
};
const size_t national_nroutes = sizeof national_routes / sizeof national_routes[0];
