/* dossier_forms.h: a dossier's papers (Circular 01/2018/TT-VPCP forms as PDF),
 * the signed receipt link printed as a QR code, and the public lookup view. */
#ifndef TINHSO_DOSSIER_FORMS_H
#define TINHSO_DOSSIER_FORMS_H

#include "dossier/dossier.h"
#include "http/http.h"

/* Renders form kind (receipt | supplement | refusal | apology | control) of a
 * dossier the caller may see. ERR_INVALID_TRANSITION when the dossier has not
 * reached the point where that paper exists (no receipt before reception ...). */
int dossier_form_pdf(const struct ctx *c, const char *code, const char *kind, const char *lang, struct buf *out,
		     struct err *e);

/* What the receipt's QR code carries, signed with the server key:
 * "tinhso-receipt-v1|<code>|<received unix s>|<due unix s>". */
struct receipt_sig {
	const char *code;
	int64_t received_at, due_at; /* microseconds (whole seconds) */
	const char *sig;	     /* hex Ed25519 */
};
/* The public lookup URL with the signature: <public_url>/tra-cuu?code=..&r=..&d=..&sig=.. */
char *receipt_sig_url(struct app *app, const struct dossier *d, struct arena *a);
int receipt_sig_from_query(struct req *r, struct receipt_sig *s);
bool receipt_sig_verify(struct app *app, const struct receipt_sig *s);

/* The lookup answer: no personal data beyond a masked name. */
void dossier_public_json(struct jw *w, const struct dossier *d, const struct dossier_step *steps, int n);

#endif
