/* A minimal blocking client of dqlite's wire protocol, version 1.
 *
 * The protocol: the client first sends its version as a little-endian uint64; then each
 * message is an 8-byte header (uint32 body length in 8-byte words, uint8 type, uint8 flags,
 * uint16 extra) followed by the body. Integers are little-endian, text is NUL-terminated and
 * padded with zeros to a multiple of 8 bytes. */
#define _GNU_SOURCE
#include "wire.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PROTOCOL_VERSION 1

#define REQUEST_LEADER 0
#define REQUEST_ADD 12
#define REQUEST_ASSIGN 13

#define RESPONSE_FAILURE 0
#define RESPONSE_SERVER 1
#define RESPONSE_EMPTY 8

/* Bodies we send or accept are small: a text address or an error message. */
#define MAX_BODY 65536

static void seterr(struct wire_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

static int split_address(const char *address, char *host, size_t host_size, char *port,
			 size_t port_size)
{
	const char *colon;
	const char *h = address;
	size_t hlen;
	if (address[0] == '[') {
		const char *close = strchr(address, ']');
		if (close == NULL || close[1] != ':') {
			return -1;
		}
		h = address + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(address, ':');
		if (colon == NULL) {
			return -1;
		}
		hlen = (size_t)(colon - address);
	}
	if (hlen == 0 || hlen >= host_size || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= port_size) {
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int send_all(struct wire_conn *c, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			seterr(c, "send: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int recv_all(struct wire_conn *c, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = recv(c->fd, p, n, 0);
		if (r < 0) {
			if (errno == EINTR) {
				continue;
			}
			seterr(c, "receive: %s",
			       errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
			return -1;
		}
		if (r == 0) {
			seterr(c, "receive: connection closed by the server");
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (unsigned char)(v >> (8 * i));
	}
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) {
		v = (v << 8) | p[i];
	}
	return v;
}

static size_t pad8(size_t n)
{
	return (n + 7) / 8 * 8;
}

int wire_connect(struct wire_conn *c, const char *address, int timeout_ms)
{
	char host[256];
	char port[32];
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	struct timeval tv;
	unsigned char hello[8];
	int rv;

	c->fd = -1;
	c->err[0] = '\0';
	if (split_address(address, host, sizeof host, port, sizeof port) != 0) {
		seterr(c, "bad address '%s' (expected HOST:PORT)", address);
		return -1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rv = getaddrinfo(host, port, &hints, &res);
	if (rv != 0) {
		seterr(c, "resolve %s: %s", address, gai_strerror(rv));
		return -1;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		int one = 1;
		if (fd < 0) {
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			c->fd = fd;
			break;
		}
		seterr(c, "connect to %s: %s", address, strerror(errno));
		close(fd);
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		if (c->err[0] == '\0') {
			seterr(c, "connect to %s: no usable address", address);
		}
		return -1;
	}
	put_u64(hello, PROTOCOL_VERSION);
	if (send_all(c, hello, sizeof hello) != 0) {
		wire_close(c);
		return -1;
	}
	return 0;
}

void wire_close(struct wire_conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

/* Sends one request and reads its response into `body` (at most MAX_BODY bytes). */
static int roundtrip(struct wire_conn *c, uint8_t type, const unsigned char *req, size_t req_len,
		     uint8_t *resp_type, unsigned char *body, size_t *body_len)
{
	unsigned char header[8];
	uint32_t words;

	memset(header, 0, sizeof header);
	words = (uint32_t)(req_len / 8);
	header[0] = (unsigned char)words;
	header[1] = (unsigned char)(words >> 8);
	header[2] = (unsigned char)(words >> 16);
	header[3] = (unsigned char)(words >> 24);
	header[4] = type;
	if (send_all(c, header, sizeof header) != 0 || send_all(c, req, req_len) != 0) {
		return -1;
	}
	if (recv_all(c, header, sizeof header) != 0) {
		return -1;
	}
	words = (uint32_t)header[0] | (uint32_t)header[1] << 8 | (uint32_t)header[2] << 16 |
		(uint32_t)header[3] << 24;
	if ((size_t)words * 8 > MAX_BODY) {
		seterr(c, "response of %u words is larger than expected", words);
		return -1;
	}
	*resp_type = header[4];
	*body_len = (size_t)words * 8;
	return recv_all(c, body, *body_len);
}

/* Reads a padded text at body[*off]; fails if it is not NUL-terminated inside the body. */
static const char *get_text(const unsigned char *body, size_t len, size_t *off)
{
	const char *s = (const char *)body + *off;
	size_t n;
	if (*off >= len) {
		return NULL;
	}
	n = strnlen(s, len - *off);
	if (n == len - *off) {
		return NULL;
	}
	*off += pad8(n + 1);
	return s;
}

/* Interprets an EMPTY (success, 0) or FAILURE (1, message in c->err) response. */
static int empty_or_failure(struct wire_conn *c, uint8_t type, const unsigned char *body,
			    size_t len)
{
	if (type == RESPONSE_EMPTY) {
		return 0;
	}
	if (type == RESPONSE_FAILURE && len >= 8) {
		size_t off = 8;
		const char *msg = get_text(body, len, &off);
		seterr(c, "%s (code %llu)", msg != NULL ? msg : "?",
		       (unsigned long long)get_u64(body));
		return 1;
	}
	seterr(c, "unexpected response type %u", type);
	return -1;
}

int wire_leader(struct wire_conn *c, uint64_t *id, char *address, size_t address_size)
{
	unsigned char req[8] = {0};
	unsigned char body[MAX_BODY];
	size_t len;
	size_t off = 8;
	uint8_t type;
	const char *addr;

	if (roundtrip(c, REQUEST_LEADER, req, sizeof req, &type, body, &len) != 0) {
		return -1;
	}
	if (type != RESPONSE_SERVER || len < 16) {
		if (empty_or_failure(c, type, body, len) == 0) {
			seterr(c, "unexpected empty response to LEADER");
		}
		return -1;
	}
	*id = get_u64(body);
	addr = get_text(body, len, &off);
	if (addr == NULL || strlen(addr) >= address_size) {
		seterr(c, "malformed LEADER response");
		return -1;
	}
	strcpy(address, addr);
	return 0;
}

int wire_add(struct wire_conn *c, uint64_t id, const char *address)
{
	unsigned char req[8 + 512];
	unsigned char body[MAX_BODY];
	size_t alen = strlen(address);
	size_t len;
	uint8_t type;

	if (alen + 1 > 512) {
		seterr(c, "address too long");
		return -1;
	}
	memset(req, 0, sizeof req);
	put_u64(req, id);
	memcpy(req + 8, address, alen);
	if (roundtrip(c, REQUEST_ADD, req, 8 + pad8(alen + 1), &type, body, &len) != 0) {
		return -1;
	}
	return empty_or_failure(c, type, body, len);
}

int wire_assign(struct wire_conn *c, uint64_t id, uint64_t role)
{
	unsigned char req[16];
	unsigned char body[MAX_BODY];
	size_t len;
	uint8_t type;

	put_u64(req, id);
	put_u64(req + 8, role);
	if (roundtrip(c, REQUEST_ASSIGN, req, sizeof req, &type, body, &len) != 0) {
		return -1;
	}
	return empty_or_failure(c, type, body, len);
}
