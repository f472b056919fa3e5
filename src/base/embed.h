/* embed.h: files compiled into the binary (cmake/embed.cmake): the SQL
 * migrations and the demo data. Each table ends with a {NULL} entry and is
 * sorted by name as the build found them. */
#ifndef TINHSO_EMBED_H
#define TINHSO_EMBED_H

#include <stddef.h>

struct embedded_file {
	const char *name;
	const char *data; /* NUL-terminated */
	size_t len;
};

extern const struct embedded_file embedded_migrations[];
extern const struct embedded_file embedded_demo[];

/* Finds a file by name in a table; NULL when absent. */
const struct embedded_file *embed_find(const struct embedded_file *table, const char *name);

#endif
