/*
 * lmtp_local.h - opesd's side of an LMTP session: the callbacks that give
 * the protocol library (lmtp_server.h) its meaning.
 *
 * The environment a session runs in (configuration, services, delivery
 * target) is shared and reference counted so that a reload can swap it;
 * each session holds its own store connection, opened when first needed.
 */
#ifndef OPES_LMTP_LOCAL_H
#define OPES_LMTP_LOCAL_H

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
 * lmtp_local_session - serve the connection fd (closed on return) with the
 * settings of env's configuration. When stop_fd becomes readable the session
 * ends at the next command boundary; a message in progress is finished first.
 */
void lmtp_local_session(struct lmtp_env *env, int fd, int stop_fd);

#endif
