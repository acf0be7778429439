/* vindex-dqlite-preload.so: gives an existing dqlite host (dqlite-demo, a go-dqlite
 * application, any program linking the system libsqlite3) vindex on every connection,
 * without changing the program:
 *
 *   LD_PRELOAD=/path/to/vindex-dqlite-preload.so dqlite-demo -d 127.0.0.1:9001 -D /data/1 ...
 *
 * It wraps sqlite3_open, sqlite3_open_v2 and sqlite3_open16: at the first call, it loads the
 * extension (VINDEX_EXTENSION, default: vindex.so beside this file) and registers its entry
 * point with sqlite3_auto_extension, then opens as asked. The first open is the right moment:
 * hosts call sqlite3_config() (go-dqlite does, at start-up) before any connection, and
 * sqlite3_config() fails once SQLite is initialised, which sqlite3_auto_extension() does. If the
 * extension cannot be loaded, every open fails with SQLITE_ERROR and a message on stderr, so a
 * node never runs without it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define SHIM "vindex-dqlite-preload"

typedef int (*open_v2_fn)(const char *, sqlite3 **, int, const char *);
typedef int (*open_fn)(const char *, sqlite3 **);
typedef int (*open16_fn)(const void *, sqlite3 **);
typedef int (*auto_ext_fn)(void (*)(void));

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered_rc = SQLITE_ERROR;

static void extension_path(char *out, size_t size)
{
	const char *env = getenv("VINDEX_EXTENSION");
	Dl_info info;
	if (env != NULL && env[0] != '\0') {
		snprintf(out, size, "%s", env);
		return;
	}
	if (dladdr((void *)extension_path, &info) != 0 && info.dli_fname != NULL) {
		const char *slash = strrchr(info.dli_fname, '/');
		if (slash != NULL) {
			snprintf(out, size, "%.*s/vindex.so", (int)(slash - info.dli_fname),
				 info.dli_fname);
			return;
		}
	}
	snprintf(out, size, "vindex.so");
}

static void register_once(void)
{
	char path[PATH_MAX];
	void *handle;
	void *init;
	auto_ext_fn auto_ext;

	extension_path(path, sizeof path);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		fprintf(stderr, SHIM ": cannot load %s: %s (set VINDEX_EXTENSION)\n", path, dlerror());
		return;
	}
	init = dlsym(handle, "sqlite3_vindex_init");
	auto_ext = (auto_ext_fn)dlsym(RTLD_DEFAULT, "sqlite3_auto_extension");
	if (init == NULL || auto_ext == NULL) {
		fprintf(stderr, SHIM ": %s\n",
			init == NULL ? "no sqlite3_vindex_init in the extension"
				     : "the program does not use the shared libsqlite3");
		return;
	}
	registered_rc = auto_ext((void (*)(void))init);
	if (registered_rc != SQLITE_OK) {
		fprintf(stderr, SHIM ": sqlite3_auto_extension failed (%d)\n", registered_rc);
	}
}

static int ready(void *real, sqlite3 **db)
{
	pthread_once(&once, register_once);
	if (real == NULL || registered_rc != SQLITE_OK) {
		*db = NULL;
		return SQLITE_ERROR;
	}
	return SQLITE_OK;
}

int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs)
{
	open_v2_fn real = (open_v2_fn)dlsym(RTLD_NEXT, "sqlite3_open_v2");
	if (ready((void *)real, db) != SQLITE_OK) {
		return SQLITE_ERROR;
	}
	return real(filename, db, flags, vfs);
}

int sqlite3_open(const char *filename, sqlite3 **db)
{
	open_fn real = (open_fn)dlsym(RTLD_NEXT, "sqlite3_open");
	if (ready((void *)real, db) != SQLITE_OK) {
		return SQLITE_ERROR;
	}
	return real(filename, db);
}

int sqlite3_open16(const void *filename, sqlite3 **db)
{
	open16_fn real = (open16_fn)dlsym(RTLD_NEXT, "sqlite3_open16");
	if (ready((void *)real, db) != SQLITE_OK) {
		return SQLITE_ERROR;
	}
	return real(filename, db);
}
