/* filestore.h: files that belong to records (dossier documents, results),
 * kept under DATA/files/<2 hex>/<random name>. Names are made by the server,
 * never taken from the client. Uploads arrive as temporary files (streamed and
 * hashed by the HTTP layer) and are moved in before the record that points to
 * them commits; files no record points to (a crash between the two) are swept
 * at start. */
#ifndef TINHSO_FILESTORE_H
#define TINHSO_FILESTORE_H

#include <stdint.h>

#include "app/app.h"

enum { FILE_T_PDF = 1, FILE_T_JPG = 2, FILE_T_PNG = 4 };

/* Identifies a file by its first bytes: sets *type (FILE_T_*) and the MIME
 * type; ERR_INVALID when it is none of PDF, JPEG, PNG. */
int filestore_sniff(const char *path, unsigned *type, const char **content_type, struct err *e);
/* Moves tmp_path into the store (fsyncing the directory); *name is the stored name (in a). */
int filestore_put(struct app *app, const char *tmp_path, struct arena *a, char **name, struct err *e);
/* Stores bytes as a new file (results made by the server, tests). */
int filestore_put_bytes(struct app *app, const void *p, size_t n, struct arena *a, char **name, struct err *e);
void filestore_remove(struct app *app, const char *name);
char *filestore_path(struct app *app, struct arena *a, const char *name);
/* Deletes stored files for which known(name) says 0; returns how many. */
int filestore_sweep(struct app *app, int (*known)(void *ctx, const char *name), void *ctx, struct err *e);

#endif
