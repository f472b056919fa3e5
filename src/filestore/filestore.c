/* filestore.c: see filestore.h. */
#include "filestore/filestore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "crypto/crypto.h"

int filestore_sniff(const char *path, unsigned *type, const char **content_type, struct err *e)
{
	unsigned char h[8] = {0};
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "cannot read an uploaded file: %s", strerror(errno));
	ssize_t n = read(fd, h, sizeof h);
	close(fd);
	if (n >= 5 && memcmp(h, "%PDF-", 5) == 0) {
		*type = FILE_T_PDF;
		*content_type = "application/pdf";
	} else if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF) {
		*type = FILE_T_JPG;
		*content_type = "image/jpeg";
	} else if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) {
		*type = FILE_T_PNG;
		*content_type = "image/png";
	} else {
		*type = 0;
		*content_type = NULL;
		return err_set(e, ERR_INVALID, "the file is not a PDF, JPEG or PNG document");
	}
	return 0;
}

char *filestore_path(struct app *app, struct arena *a, const char *name)
{
	return arena_printf(a, "%s/files/%s", app->cfg->data, name);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int new_name(struct app *app, struct arena *a, char **name, char **dir, struct err *e)
{
	char tok[48];
	crypto_random_token(18, tok, sizeof tok);
	for (char *p = tok; *p; p++)
		if (*p == '-' || *p == '_')
			*p = 'x';
	char sub[3] = {tok[0], tok[1], 0};
	char *top = arena_printf(a, "%s/files", app->cfg->data);
	*dir = arena_printf(a, "%s/%s", top, sub);
	if ((mkdir(top, 0750) != 0 && errno != EEXIST) || (mkdir(*dir, 0750) != 0 && errno != EEXIST))
		return err_set(e, ERR_UNAVAILABLE, "cannot create the file store under '%s': %s", top, strerror(errno));
	*name = arena_printf(a, "%s/%s.bin", sub, tok);
	return 0;
}

int filestore_put(struct app *app, const char *tmp_path, struct arena *a, char **name, struct err *e)
{
	char *dir;
	int rc = new_name(app, a, name, &dir, e);
	if (rc < 0)
		return rc;
	char *dst = filestore_path(app, a, *name);
	if (rename(tmp_path, dst) != 0)
		return err_set(e, ERR_UNAVAILABLE, "cannot store the file: %s", strerror(errno));
	fsync_dir(dir);
	return 0;
}

int filestore_put_bytes(struct app *app, const void *p, size_t n, struct arena *a, char **name, struct err *e)
{
	char *dir;
	int rc = new_name(app, a, name, &dir, e);
	if (rc < 0)
		return rc;
	char *dst = filestore_path(app, a, *name);
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd < 0)
		return err_set(e, ERR_UNAVAILABLE, "cannot store the file: %s", strerror(errno));
	ssize_t w = write(fd, p, n);
	int ok = w == (ssize_t)n && fsync(fd) == 0;
	close(fd);
	if (!ok) {
		unlink(dst);
		return err_set(e, ERR_UNAVAILABLE, "cannot store the file: %s", strerror(errno));
	}
	fsync_dir(dir);
	return 0;
}

void filestore_remove(struct app *app, const char *name)
{
	struct arena a = ARENA_INIT;
	unlink(filestore_path(app, &a, name));
	arena_free(&a);
}

int filestore_sweep(struct app *app, int (*known)(void *ctx, const char *name), void *ctx, struct err *e)
{
	struct arena a = ARENA_INIT;
	char *top = arena_printf(&a, "%s/files", app->cfg->data);
	DIR *d = opendir(top);
	int removed = 0;
	if (!d) {
		arena_free(&a);
		return 0;
	}
	struct dirent *sub;
	while ((sub = readdir(d))) {
		if (sub->d_name[0] == '.' || strlen(sub->d_name) != 2)
			continue;
		char *subdir = arena_printf(&a, "%s/%s", top, sub->d_name);
		DIR *sd = opendir(subdir);
		if (!sd)
			continue;
		struct dirent *f;
		while ((f = readdir(sd))) {
			if (f->d_name[0] == '.')
				continue;
			char *name = arena_printf(&a, "%s/%s", sub->d_name, f->d_name);
			int k = known(ctx, name);
			if (k < 0) {
				closedir(sd);
				closedir(d);
				arena_free(&a);
				return err_set(e, ERR_UNAVAILABLE, "cannot check stored files");
			}
			if (k == 0) {
				log_warn("removing orphan file %s (no record refers to it)", name);
				unlinkat(dirfd(sd), f->d_name, 0);
				removed++;
			}
		}
		closedir(sd);
	}
	closedir(d);
	arena_free(&a);
	return removed;
}
