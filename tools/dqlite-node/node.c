/* vindex-dqlite-node: a dqlite node whose every SQLite connection has vindex.
 *
 * dqlite (Raft over SQLite) replicates the WAL frames of its databases; vindex keeps all of
 * its index state in ordinary pages, so a replicated database carries its vector indexes as
 * long as the extension is present in the node's connections. dqlite's VFS cannot
 * sqlite3_load_extension, so this program registers the extension's entry point with
 * sqlite3_auto_extension: SQLite then initialises it on every connection the node opens.
 *
 * Order matters: sqlite3_config() must come before anything initialises SQLite, and
 * sqlite3_auto_extension() initialises it. So: configure, register, then create the node.
 *
 *   vindex-dqlite-node --db 127.0.0.1:9001 --dir /var/lib/vindex/1             # first node
 *   vindex-dqlite-node --db 127.0.0.1:9002 --dir /var/lib/vindex/2 --join 127.0.0.1:9001
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dqlite.h>
#include <sqlite3.h>

#include "wire.h"

#define PROG "vindex-dqlite-node"
#define MAX_LIST 16
/* The id dqlite bootstraps a cluster with (raft_digest("1", 0)), the one go-dqlite's first
 * node uses too: dqlite_node_start() bootstraps only a node whose id is 1 or this. */
#define BOOTSTRAP_ID 0x2dc171858c3155beULL
#define INFO_FILE "vindex-node.info"

struct options {
	const char *db;
	const char *dir;
	const char *join[MAX_LIST];
	int n_join;
	const char *ext[MAX_LIST];
	int n_ext;
	int role;
	unsigned latency_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned join_timeout_s;
};

struct info {
	unsigned long long id;
	char address[512];
	int joined;
};

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, PROG ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --db HOST:PORT --dir DIR [--join HOST:PORT]... [options]\n"
		"\n"
		"Runs a dqlite node whose every SQLite connection has vindex (or the given\n"
		"extensions) registered. The first node of a cluster starts without --join, once;\n"
		"every other node starts with --join naming one or more existing members. A node\n"
		"restarted on the same --dir keeps its identity and rejoins by itself.\n"
		"\n"
		"  --db HOST:PORT       this node's address: it listens there for clients and for\n"
		"                       the other nodes, and the cluster knows it by it\n"
		"  --dir DIR            data directory: Raft log, snapshots, node identity\n"
		"                       (created if missing)\n"
		"  --join HOST:PORT     an existing member to join through (repeatable, or a\n"
		"                       comma-separated list); ignored once the node is a member\n"
		"  --role ROLE          voter (default), standby or spare: the role asked for\n"
		"  --extension PATH     a SQLite extension to register on every connection\n"
		"                       (repeatable; entry point derived from the file name as\n"
		"                       SQLite's .load does). Default: vindex.so beside this program\n"
		"  --latency-ms N       expected network round trip: heartbeat 1.5*N ms, election\n"
		"                       timeout 15*N ms (dqlite's defaults: 500 ms and 3 s)\n"
		"  --snapshot-threshold N  Raft entries between snapshots (default 1024)\n"
		"  --snapshot-trailing N   entries kept after a snapshot (default 8192, >= threshold)\n"
		"  --join-timeout S     give up joining after S seconds (default 60)\n"
		"  --version, --help\n");
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > UINT_MAX || s[0] == '-') {
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int add_list(const char **list, int *n, char *value, const char *what)
{
	char *save = NULL;
	for (char *tok = strtok_r(value, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (*n >= MAX_LIST) {
			say("too many %s (at most %d)", what, MAX_LIST);
			return -1;
		}
		list[(*n)++] = tok;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof *o);
	o->role = WIRE_VOTER;
	o->join_timeout_s = 60;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--version") == 0) {
			int ver = dqlite_version_number();
			printf(PROG " (libdqlite %d.%d.%d, SQLite %s)\n", ver / 10000, ver / 100 % 100,
			       ver % 100, sqlite3_libversion());
			exit(0);
		}
		if (v == NULL) {
			say("%s needs a value (see --help)", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--db") == 0) {
			o->db = v;
		} else if (strcmp(a, "--dir") == 0) {
			o->dir = v;
		} else if (strcmp(a, "--join") == 0) {
			if (add_list(o->join, &o->n_join, v, "--join addresses") != 0) {
				return -1;
			}
		} else if (strcmp(a, "--extension") == 0) {
			if (o->n_ext >= MAX_LIST) {
				say("too many extensions (at most %d)", MAX_LIST);
				return -1;
			}
			o->ext[o->n_ext++] = v;
		} else if (strcmp(a, "--role") == 0) {
			if (strcmp(v, "voter") == 0) {
				o->role = WIRE_VOTER;
			} else if (strcmp(v, "standby") == 0) {
				o->role = WIRE_STANDBY;
			} else if (strcmp(v, "spare") == 0) {
				o->role = WIRE_SPARE;
			} else {
				say("--role must be voter, standby or spare, not '%s'", v);
				return -1;
			}
		} else if (strcmp(a, "--latency-ms") == 0) {
			if (parse_uint(v, &o->latency_ms) != 0 || o->latency_ms == 0 ||
			    o->latency_ms > 3600000) {
				say("--latency-ms must be 1 to 3600000, not '%s'", v);
				return -1;
			}
		} else if (strcmp(a, "--snapshot-threshold") == 0) {
			if (parse_uint(v, &o->snapshot_threshold) != 0 || o->snapshot_threshold == 0) {
				say("--snapshot-threshold must be a positive integer, not '%s'", v);
				return -1;
			}
		} else if (strcmp(a, "--snapshot-trailing") == 0) {
			if (parse_uint(v, &o->snapshot_trailing) != 0 || o->snapshot_trailing < 4) {
				say("--snapshot-trailing must be an integer >= 4, not '%s'", v);
				return -1;
			}
		} else if (strcmp(a, "--join-timeout") == 0) {
			if (parse_uint(v, &o->join_timeout_s) != 0 || o->join_timeout_s == 0) {
				say("--join-timeout must be a positive number of seconds, not '%s'", v);
				return -1;
			}
		} else {
			say("unknown option '%s' (see --help)", a);
			return -1;
		}
	}
	if (o->db == NULL || o->dir == NULL) {
		say("--db and --dir are required (see --help)");
		return -1;
	}
	if (strchr(o->db, ':') == NULL) {
		say("--db must be HOST:PORT, not '%s'", o->db);
		return -1;
	}
	if ((o->snapshot_threshold != 0) != (o->snapshot_trailing != 0)) {
		say("--snapshot-threshold and --snapshot-trailing go together");
		return -1;
	}
	if (o->snapshot_trailing != 0 && o->snapshot_trailing < o->snapshot_threshold) {
		say("--snapshot-trailing must be at least --snapshot-threshold");
		return -1;
	}
	return 0;
}

/* ---- extensions ------------------------------------------------------------------------- */

/* The entry point SQLite's sqlite3_load_extension() derives from a file name:
 * "sqlite3_" + the letters of the base name (without a "lib" prefix, up to the first dot),
 * lower-cased, + "_init". */
static void derived_entry(const char *path, char *out, size_t size)
{
	const char *base = strrchr(path, '/');
	size_t n;
	base = base != NULL ? base + 1 : path;
	if (strncasecmp(base, "lib", 3) == 0) {
		base += 3;
	}
	n = (size_t)snprintf(out, size, "sqlite3_");
	for (; *base != '\0' && *base != '.' && n + 6 < size; base++) {
		if (isalpha((unsigned char)*base)) {
			out[n++] = (char)tolower((unsigned char)*base);
		}
	}
	snprintf(out + n, size - n, "_init");
}

static int register_extension(const char *path)
{
	char entry[256];
	void *handle;
	void *fn;

	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		say("cannot load extension %s: %s", path, dlerror());
		return -1;
	}
	derived_entry(path, entry, sizeof entry);
	fn = dlsym(handle, entry);
	if (fn == NULL) {
		snprintf(entry, sizeof entry, "sqlite3_extension_init");
		fn = dlsym(handle, entry);
	}
	if (fn == NULL) {
		say("extension %s has no entry point (looked for the name derived from the file "
		    "name, then sqlite3_extension_init)",
		    path);
		return -1;
	}
	/* The handle stays open for the life of the process: every connection calls into it. */
	if (sqlite3_auto_extension((void (*)(void))fn) != SQLITE_OK) {
		say("sqlite3_auto_extension(%s) failed", entry);
		return -1;
	}
	say("registered %s (%s) for every connection", path, entry);
	return 0;
}

/* Opens one connection so that the registered entry points run now, where an error can still
 * stop the program with a clear message, instead of inside the node. */
static int check_extensions(void)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		say("an extension failed to initialise on a test connection: %s",
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "SELECT vec_version()", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW) {
		say("vindex %s on SQLite %s", (const char *)sqlite3_column_text(stmt, 0),
		    sqlite3_libversion());
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return 0;
}

static int default_extension(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash;
	if (n <= 0) {
		return -1;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL) {
		return -1;
	}
	*slash = '\0';
	if ((size_t)snprintf(out, size, "%s/vindex.so", exe) >= size) {
		return -1;
	}
	return access(out, R_OK) == 0 ? 0 : -1;
}

/* ---- node identity ---------------------------------------------------------------------- */

static int read_info(const char *dir, struct info *info)
{
	char path[PATH_MAX];
	char line[600];
	FILE *f;
	int have_id = 0;

	memset(info, 0, sizeof *info);
	snprintf(path, sizeof path, "%s/%s", dir, INFO_FILE);
	f = fopen(path, "r");
	if (f == NULL) {
		return errno == ENOENT ? 0 : -1;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		char value[512];
		if (sscanf(line, "id %llu", &info->id) == 1) {
			have_id = 1;
		} else if (sscanf(line, "address %511s", value) == 1) {
			strcpy(info->address, value);
		} else if (sscanf(line, "joined %511s", value) == 1) {
			info->joined = strcmp(value, "yes") == 0;
		}
	}
	fclose(f);
	if (!have_id || info->id == 0 || info->address[0] == '\0') {
		say("%s is malformed", path);
		return -1;
	}
	return 1;
}

static int write_info(const char *dir, const struct info *info)
{
	char path[PATH_MAX];
	char tmp[PATH_MAX];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", dir, INFO_FILE);
	snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, INFO_FILE);
	f = fopen(tmp, "w");
	if (f == NULL) {
		say("cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f, "# " PROG ": this node's identity in its cluster; do not edit.\n");
	fprintf(f, "id %llu\naddress %s\njoined %s\n", info->id, info->address,
		info->joined ? "yes" : "no");
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		say("cannot write %s: %s", tmp, strerror(errno));
		fclose(f);
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		say("cannot rename %s: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- joining ---------------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits up to `ms` for a termination signal; returns it, or 0 after the wait. */
static int wait_signal(const sigset_t *set, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	int sig = sigtimedwait(set, NULL, &ts);
	return sig > 0 ? sig : 0;
}

/* Raft's messages for a step that already happened (a retry after a lost reply, or a node
 * restarted before it recorded its membership). Not "a configuration change is already in
 * progress": that one means "try again". */
#define ADD_DONE "server ID already in use"
#define ASSIGN_DONE "server is already "

/* One attempt: find the leader through `via`, ADD this node, ASSIGN its role. */
static int join_once(const char *via, const struct info *info, int role, char *err,
		     size_t err_size)
{
	struct wire_conn c;
	uint64_t leader_id = 0;
	char leader[512];
	int rv;

	if (wire_connect(&c, via, 5000) != 0) {
		snprintf(err, err_size, "%s", c.err);
		return -1;
	}
	rv = wire_leader(&c, &leader_id, leader, sizeof leader);
	wire_close(&c);
	if (rv != 0) {
		snprintf(err, err_size, "%s: %s", via, c.err);
		return -1;
	}
	if (leader[0] == '\0') {
		snprintf(err, err_size, "%s knows no leader yet", via);
		return -1;
	}
	/* ASSIGN waits for the new node to catch up with the log: give it time. */
	if (wire_connect(&c, leader, 60000) != 0) {
		snprintf(err, err_size, "leader %s: %s", leader, c.err);
		return -1;
	}
	rv = wire_add(&c, info->id, info->address);
	if (rv != 0 && !(rv == 1 && strstr(c.err, ADD_DONE) != NULL)) {
		snprintf(err, err_size, "ADD at leader %s: %s", leader, c.err);
		wire_close(&c);
		return -1;
	}
	rv = wire_assign(&c, info->id, (uint64_t)role);
	if (rv != 0 && !(rv == 1 && strstr(c.err, ASSIGN_DONE) != NULL)) {
		snprintf(err, err_size, "ASSIGN at leader %s: %s", leader, c.err);
		wire_close(&c);
		return -1;
	}
	wire_close(&c);
	say("joined the cluster through %s (leader %s)", via, leader);
	return 0;
}

/* Returns 0 when joined, a signal number when one arrived, -1 on timeout. */
static int join_cluster(const struct options *o, const struct info *info, const sigset_t *set)
{
	double deadline = now_s() + o->join_timeout_s;
	char err[2048] = "no attempt";
	while (now_s() < deadline) {
		for (int i = 0; i < o->n_join; i++) {
			int sig;
			if (join_once(o->join[i], info, o->role, err, sizeof err) == 0) {
				return 0;
			}
			sig = wait_signal(set, 300);
			if (sig != 0) {
				return sig;
			}
		}
	}
	say("could not join within %u s: %s", o->join_timeout_s, err);
	return -1;
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct options o;
	struct info info;
	char ext_default[PATH_MAX];
	dqlite_node *node = NULL;
	sigset_t set;
	int have_info;
	int rv;
	int sig;

	if (parse_args(argc, argv, &o) != 0) {
		return 2;
	}

	/* 1. Configure SQLite before anything initialises it. dqlite runs every SQLite call of
	 * the node on its own thread, one connection per client; multi-thread mode skips
	 * per-connection mutexes and keeps the global ones. */
	if (sqlite3_config(SQLITE_CONFIG_MULTITHREAD) != SQLITE_OK) {
		say("sqlite3_config(SQLITE_CONFIG_MULTITHREAD) failed: SQLite was initialised "
		    "too early");
		return 1;
	}
	/* 2. Register the extensions: every connection opened from now on initialises them,
	 * including those dqlite opens on its own VFS. */
	if (o.n_ext == 0) {
		if (default_extension(ext_default, sizeof ext_default) != 0) {
			say("vindex.so not found beside this program; pass --extension PATH");
			return 1;
		}
		o.ext[o.n_ext++] = ext_default;
	}
	for (int i = 0; i < o.n_ext; i++) {
		if (register_extension(o.ext[i]) != 0) {
			return 1;
		}
	}
	if (check_extensions() != 0) {
		return 1;
	}

	/* 3. The node's identity: kept in its data directory across restarts. */
	if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
		say("cannot create %s: %s", o.dir, strerror(errno));
		return 1;
	}
	have_info = read_info(o.dir, &info);
	if (have_info < 0) {
		say("cannot read the node identity in %s", o.dir);
		return 1;
	}
	if (have_info) {
		if (strcmp(info.address, o.db) != 0) {
			say("%s belongs to the node at %s; a node keeps its address (start it with "
			    "--db %s)",
			    o.dir, info.address, info.address);
			return 1;
		}
	} else {
		snprintf(info.address, sizeof info.address, "%s", o.db);
		if (o.n_join == 0) {
			info.id = BOOTSTRAP_ID; /* the first node: dqlite bootstraps the cluster */
			info.joined = 1;
		} else {
			info.id = dqlite_generate_node_id(o.db);
			info.joined = 0;
		}
		if (write_info(o.dir, &info) != 0) {
			return 1;
		}
	}
	if (!info.joined && o.n_join == 0) {
		say("this node has not joined a cluster yet: pass --join HOST:PORT");
		return 1;
	}

	/* Termination signals are taken by sigwait below; block them before dqlite starts its
	 * thread so that the thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* 4. Start the node. */
	rv = dqlite_node_create(info.id, info.address, o.dir, &node);
	if (rv != 0) {
		say("dqlite_node_create: %s", node != NULL ? dqlite_node_errmsg(node) : "failed");
		goto fail;
	}
	rv = dqlite_node_set_bind_address(node, info.address);
	if (rv != 0) {
		say("cannot listen on %s: %s", info.address, dqlite_node_errmsg(node));
		goto fail;
	}
	if (o.latency_ms != 0 && dqlite_node_set_network_latency_ms(node, o.latency_ms) != 0) {
		say("dqlite_node_set_network_latency_ms failed");
		goto fail;
	}
	if (o.snapshot_threshold != 0 &&
	    dqlite_node_set_snapshot_params(node, o.snapshot_threshold, o.snapshot_trailing) != 0) {
		say("dqlite_node_set_snapshot_params failed");
		goto fail;
	}
	rv = dqlite_node_start(node);
	if (rv != 0) {
		say("dqlite_node_start: %s", dqlite_node_errmsg(node));
		goto fail;
	}
	say("node %llu serving %s (data in %s)", info.id, info.address, o.dir);

	/* 5. Join, if this node is not a member yet. */
	if (!info.joined) {
		sig = join_cluster(&o, &info, &set);
		if (sig != 0) {
			if (sig < 0) {
				goto stop_fail;
			}
			say("signal %d while joining: stopping", sig);
			goto stop;
		}
		info.joined = 1;
		if (write_info(o.dir, &info) != 0) {
			goto stop_fail;
		}
	}
	printf("ready %llu %s\n", info.id, info.address);
	fflush(stdout);

	do {
		sig = sigwaitinfo(&set, NULL);
	} while (sig < 0 && errno == EINTR);
	say("signal %d: stopping", sig);
stop:
	dqlite_node_stop(node);
	dqlite_node_destroy(node);
	return 0;
stop_fail:
	dqlite_node_stop(node);
fail:
	if (node != NULL) {
		dqlite_node_destroy(node);
	}
	return 1;
}
