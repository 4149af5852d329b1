/*
 * lmtp_parse.h - socket-free parsing for both LMTP sides.
 *
 * Command lines (verb and arguments), MAIL/RCPT paths and their ESMTP
 * parameters, xtext (RFC 3461 4), and multi-line replies. Every function works
 * on bytes already read; unit tests and fuzz targets call them directly.
 */
#ifndef OPES_LMTP_PARSE_H
#define OPES_LMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define LMTP_ADDR_MAX 256 /* RFC 5321 4.5.3.1.3: path, with brackets */
#define LMTP_PARAMS_MAX 16
#define LMTP_PARAM_LEN_MAX 1024 /* octets of one "NAME=value" parameter, by default */
#define LMTP_REPLY_TEXT_MAX 1024
#define LMTP_REPLY_LINES_MAX 64

/*
 * What one command may hold, handed to every parser call that needs it (as
 * Dovecot's struct smtp_command_limits). NULL means lmtp_parse_limits_default.
 * Nothing longer is cut to fit: it is refused with LMTP_PARSE_TOO_LONG.
 */
struct lmtp_parse_limits {
    size_t max_command_line; /* octets of a command line, CRLF included */
    size_t max_param_len;    /* octets of one "NAME=value" parameter */
    size_t max_params;       /* parameters on one command, at most LMTP_PARAMS_MAX */
};

/* 4096-octet lines, LMTP_PARAM_LEN_MAX, LMTP_PARAMS_MAX */
extern const struct lmtp_parse_limits lmtp_parse_limits_default;

#define LMTP_PARSE_TOO_LONG                                                                        \
    (-2) /* over a limit: 500 5.5.2 for a line, 501 5.5.4 for a parameter                          \
          */

/*
 * lmtp_parse_command - split "VERB args" in place. *verb_r is upper-cased;
 * *args_r points after the blanks following the verb ("" when none).
 * Returns 0, LMTP_PARSE_TOO_LONG when len (without CRLF) is over the line
 * limit, or -1 when the line holds no verb or contains NUL or a control
 * character other than tab.
 */
int lmtp_parse_command(char *line, size_t len, const struct lmtp_parse_limits *limits,
                       char **verb_r, char **args_r);

/*
 * lmtp_parse_path - parse "<keyword><path> [params]" where keyword is
 * "FROM:" or "TO:" (case-insensitive, blanks after the colon allowed).
 * The address without brackets and source route is copied to addr
 * (size >= LMTP_ADDR_MAX + 1). "<>" is accepted only when allow_null.
 * *params_r points at the parameter text. Returns 0, or -1 with *error_r,
 * or LMTP_PARSE_BAD_UTF8 (with *error_r) when utf8 allows non-ASCII and the
 * address is not well-formed UTF-8 (553 5.6.7, RFC 6531).
 */
#define LMTP_PARSE_BAD_UTF8 (-3)
int lmtp_parse_path(const char *args, const char *keyword, bool allow_null, bool utf8, char *addr,
                    const char **params_r, const char **error_r);

struct lmtp_param {
    char *name;  /* upper-cased */
    char *value; /* NULL when the parameter has no "=value" */
};

/*
 * lmtp_parse_params - split "A=1 B C=3" in place into out, which has room
 * for limits->max_params. Returns the count, LMTP_PARSE_TOO_LONG when a
 * parameter is longer than limits->max_param_len, or -1 (bad syntax,
 * duplicate name or more than max_params).
 */
int lmtp_parse_params(char *s, struct lmtp_param *out, const struct lmtp_parse_limits *limits);

/* lmtp_xtext_decode - RFC 3461 xtext into out (NUL-terminated); length or -1. */
int lmtp_xtext_decode(const char *in, char *out, size_t outsize);
/* lmtp_xtext_encode - the inverse; length or -1 when out is too small. */
int lmtp_xtext_encode(const char *in, char *out, size_t outsize);

/*
 * lmtp_parse_orcpt - the value of ORCPT=addr-type;xtext (RFC 3461 4.2) into
 * out as "addr-type;address" with the address decoded. The address type is
 * an atom (letters, digits, '-'), the decoded address printable US-ASCII;
 * the value is at most LMTP_ORCPT_MAX octets. Returns 0 or -1 (501 5.5.4).
 */
#define LMTP_ORCPT_MAX 500
int lmtp_parse_orcpt(const char *value, char *out, size_t outsize);

struct lmtp_reply {
    int code;                       /* 200..599 */
    char enh[16];                   /* "2.1.5", or "" when the server sent none */
    char text[LMTP_REPLY_TEXT_MAX]; /* lines after code and enhanced code, '\n'-joined */
    int lines;
};

struct lmtp_reply_parser {
    struct lmtp_reply reply;
};

void lmtp_reply_parser_init(struct lmtp_reply_parser *p);
/*
 * lmtp_reply_parse_line - feed one reply line without its CRLF.
 * Returns 1 when the reply is complete (p->reply is valid), 0 when more lines
 * follow, -1 when the line is not "ddd[ -]text" or breaks the multi-line rules.
 */
int lmtp_reply_parse_line(struct lmtp_reply_parser *p, const char *line, size_t len);

/* lmtp_enh_valid - "c.sss.ddd" with class matching the reply code's first digit. */
bool lmtp_enh_valid(const char *enh, int code);

#endif
