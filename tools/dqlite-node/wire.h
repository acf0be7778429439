/* A minimal client of dqlite's wire protocol (version 1): just what a node needs to join a
 * cluster (LEADER, ADD, ASSIGN). Everything is blocking, with a deadline. */
#ifndef VINDEX_DQLITE_WIRE_H
#define VINDEX_DQLITE_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Roles as the client protocol numbers them (dqlite's protocol.h). */
#define WIRE_VOTER 0
#define WIRE_STANDBY 1
#define WIRE_SPARE 2

struct wire_conn {
	int fd;
	char err[512]; /* the last error, for the caller's message */
};

/* Connects to "host:port" (or "[v6]:port") and sends the protocol handshake. 0 on success;
 * otherwise -1 with c->err set. `timeout_ms` bounds every later send and receive too. */
int wire_connect(struct wire_conn *c, const char *address, int timeout_ms);
void wire_close(struct wire_conn *c);

/* The leader as this server knows it: *id = 0 and address "" when it knows none (a node that
 * is not a voter never knows). */
int wire_leader(struct wire_conn *c, uint64_t *id, char *address, size_t address_size);

/* ADD a server as a spare, then ASSIGN it a role; both go to the leader. On a FAILURE response
 * they return 1 with c->err holding the server's message (e.g. "server ID already in use"). */
int wire_add(struct wire_conn *c, uint64_t id, const char *address);
int wire_assign(struct wire_conn *c, uint64_t id, uint64_t role);

#endif
