/*
 * lmtp_server.h - the LMTP session that faces the MTA (RFC 2033).
 *
 * One call runs one connection to its end: greeting, a command table with
 * per-state checks, PIPELINING, the DATA phase into a spool, delivery through
 * deliver.h, and exactly one reply per accepted recipient after the dot.
 */
#ifndef OPES_LMTP_SERVER_H
#define OPES_LMTP_SERVER_H

struct opes_config;
struct deliver;
struct svc_set;

/* What a session needs, shared and reference counted so that a reload can swap it. */
struct lmtp_env {
    struct opes_config *cfg;
    struct deliver *deliver;
    struct svc_set *services;
    int refs;
};

/* lmtp_env_new - takes over the caller's reference to cfg; NULL with *error_r. */
struct lmtp_env *lmtp_env_new(struct opes_config *cfg, const char **error_r);
struct lmtp_env *lmtp_env_ref(struct lmtp_env *env);
void lmtp_env_unref(struct lmtp_env **envp);

/*
 * lmtp_server_session - serve the connection fd (closed on return). When
 * stop_fd becomes readable the session ends at the next command boundary
 * with 421; a DATA phase and its delivery in progress are finished first.
 */
void lmtp_server_session(struct lmtp_env *env, int fd, int stop_fd);

#endif
