/* web_view.h: pieces of pages that several pages show: a dossier's status
 * and deadline marks, its timeline and files, the choice of agencies
 * (communes grouped by district), and the procedure's form fields: reading
 * what was typed, turning it into the form the domain checks, showing each
 * field by its type with its message, and showing the answers to check. */
#ifndef TINHSO_WEB_VIEW_H
#define TINHSO_WEB_VIEW_H

#include "dossier/dossier.h"
#include "procedure/procedure.h"
#include "web/web.h"

/* {label, cls} for a status number. */
json_t *view_status(struct web_page *p, int status);
/* {label, cls} for a deadline state (due_soon, overdue, paused, on_time, late), or NULL for none. */
json_t *view_deadline(struct web_page *p, const char *state);
/* A dossier's summary for lists and pages (code, names, status, dates, marks, links). */
json_t *view_dossier(struct web_page *p, const struct dossier *d, const char *href);
/* The history as a timeline: [{title, actor, department, at, note, status}]. */
json_t *view_timeline(struct web_page *p, const struct dossier_step *steps, int n);
/* The files by kind: {documents: [...], supplements: [...], results: [...]} with download links under base. */
json_t *view_files(struct web_page *p, const char *base, const struct dossier_file *files, int n);
/* A procedure's name in the page's language. */
const char *view_proc_name(struct web_page *p, const struct procedure *proc);
/* An agency's name in the page's language, by code (the code itself when unknown). */
const char *view_agency_name(struct web_page *p, const char *code);

/* Communes grouped by their district: [{label, options: [{value, label, selected}]}]. */
json_t *view_commune_groups(struct web_page *p, const char *selected);
/* The agencies that receive a procedure (its first workflow step's level and
 * kind): [{value, label, selected, group}] and, for communes, grouped.
 * Returns {grouped: bool, groups: [...], options: [...], count}. */
json_t *view_receiving_agencies(struct web_page *p, const struct procedure *proc, const char *selected);

/* ---- the procedure's form fields ----
 * Inputs are named "f.<field>" ("f.<field>.day|month|year" for dates,
 * "f.<field>.commune|detail" for addresses); what was typed is kept in a JSON
 * object of those names and strings ("answers"). */

/* Copies the inputs of fields[from..to) from the request into answers. */
void form_read(struct web_page *p, const struct procedure *proc, int from, int to, json_t *answers);
/* The form object the domain checks (fields with nothing typed left out). New reference. */
json_t *form_build(const struct procedure *proc, json_t *answers);
/* Turns the domain's field errors ("form.<field>") for fields[from..to) into
 * page errors (summary + beside the field), in the field order; required
 * errors of fields outside the range are ignored. Returns how many. */
int form_errors(struct web_page *p, const struct procedure *proc, int from, int to, json_t *answers,
		const struct err *e);
/* Field views for fields[from..to) for the field partial. */
json_t *form_views(struct web_page *p, const struct procedure *proc, int from, int to, json_t *answers);
/* The answer as the person will read it (check your answers, dossier pages). */
const char *form_display(struct web_page *p, const struct proc_field *f, json_t *answers);
/* The same for a submitted dossier's stored form value. */
const char *form_display_value(struct web_page *p, const struct proc_field *f, json_t *value);
/* The id of the input an error about field i links to. */
const char *form_anchor(struct web_page *p, const struct proc_field *f);

/* Pages of questions: fields grouped by their name's first word, at most a few per page.
 * Fills starts[0..n] (starts[n] = nfields); returns n (at least 1 when there are fields). */
int form_pages(const struct procedure *proc, int *starts, int max);

#endif
