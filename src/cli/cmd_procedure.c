/* cmd_procedure.c: `tinhso procedure import FILE` (a JSON array of procedure
 * documents, all or nothing, in one transaction) and `tinhso procedure
 * export` (every active procedure to standard output, in the import format). */
#include <errno.h>
#include <string.h>

#include "cli/cli.h"
#include "procedure/procedure.h"

enum { IMPORT_MAX_BYTES = 64 << 20 };

static int read_all(struct cli *cl, const char *path, struct buf *out)
{
	bool is_stdin = strcmp(path, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(path, "rb");
	if (!f)
		return err_set(&cl->e, ERR_BAD_REQUEST, "cannot read '%s': %s", path, strerror(errno));
	char chunk[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (out->len + n > IMPORT_MAX_BYTES) {
			rc = err_set(&cl->e, ERR_TOO_LARGE, "'%s' is larger than %d MiB", path, IMPORT_MAX_BYTES >> 20);
			break;
		}
		buf_append(out, chunk, n);
	}
	if (rc == 0 && ferror(f))
		rc = err_set(&cl->e, ERR_BAD_REQUEST, "cannot read '%s': %s", path, strerror(errno));
	if (!is_stdin)
		fclose(f);
	return rc;
}

int cmd_procedure_import(struct cli *cl)
{
	const char *path = cl->pos[0];
	struct buf text = BUF_INIT;
	int rc = read_all(cl, path, &text);
	json_t *list = NULL;
	if (rc == 0) {
		rc = json_parse(text.ptr ? text.ptr : "", text.len, &list, &cl->e);
		if (rc < 0) {
			char msg[sizeof cl->e.msg];
			str_copy(msg, sizeof msg, cl->e.msg);
			err_set(&cl->e, rc, "%s: %s", path, msg);
		}
	}
	buf_free(&text);
	if (rc == 0 && (rc = cli_open_app(cl, true)) == 0) {
		struct ctx c;
		cli_ctx(cl, &c);
		rc = procedure_import(&c, list, &cl->e);
		if (rc >= 0) {
			printf("imported %d procedure%s from %s\n", rc, rc == 1 ? "" : "s", path);
			rc = 0;
		}
	}
	json_decref(list);
	return rc;
}

int cmd_procedure_export(struct cli *cl)
{
	int rc = cli_open_app(cl, false);
	if (rc < 0)
		return rc;
	struct ctx c;
	cli_ctx(cl, &c);
	struct buf out = BUF_INIT;
	rc = procedure_export(&c, &out, &cl->e);
	if (rc == 0 && (fwrite(out.ptr, 1, out.len, stdout) != out.len || fflush(stdout) != 0))
		rc = err_set(&cl->e, ERR_INTERNAL, "cannot write the export: %s", strerror(errno));
	buf_free(&out);
	return rc;
}
