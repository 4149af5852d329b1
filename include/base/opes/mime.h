/*
 * mime.h - the streaming MIME structure parser, header decoding, and the
 * transfer decoders that the adaptation services share.
 *
 * The message is parsed once, in one pass, as it is spooled: push the content
 * (CRLF lines as received after DATA, dot-stuffing already removed) in pieces
 * of any size with mime_parser_feed(), then mime_parser_finish() returns the
 * structure. Bodies are never stored, only their offsets in the message, so
 * memory is bounded by struct mime_limits and not by the message size:
 * at most max_parts parts, max_header_total bytes of stored header text, and
 * per part a few strings (type, encoding, disposition, file name) of at most
 * max_header_line bytes each, plus about (max_depth + 6) * max_header_line of
 * work buffers while parsing.
 *
 * Malformed input never makes the parser fail: what it had to guess or skip is
 * recorded as MIME_F_* flags, on the part concerned and on the message. Lines
 * may end in CRLF or in a bare LF (a bare CR is an ordinary byte).
 *
 * Parts form a flat array in document order. parts[0] is the message itself;
 * every other part names its parent. A multipart's children are its body
 * parts (the preamble and epilogue are skipped); a message/rfc822 part has
 * one child: the root of the enclosed message, whose header fields are
 * recorded on that child (is_message is set on it).
 *
 * Allocation failure aborts the program, as everywhere in opesd.
 */
#ifndef OPES_MIME_H
#define OPES_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * What the parser met (struct mime_part.flags, and their union in struct
 * mime_message.flags):
 *   TRUNCATED          a multipart ended without its close delimiter
 *   LIMIT              a depth, part, field or header-total limit was hit: not
 *                      descended into, or not stored
 *   BAD_BOUNDARY       a multipart without a boundary (kept whole), or one
 *                      with the boundary of an enclosing multipart
 *   DUP_BOUNDARY       a Content-Type with two boundary parameters (the first
 *                      is used; readers disagree, which hides parts)
 *   HEADER_TOO_LONG    a field over max_header_line (cut), or a header block
 *                      over max_header_block (the rest not stored)
 *   BAD_HEADER         a header line that is not a field (skipped), or a
 *                      Content-Type without type/subtype
 *   DUP_PARAM          a parameter given twice (the first is used)
 *   DUP_FIELD          Content-Type, -Disposition or -Transfer-Encoding twice
 *                      in one header (the first is used)
 *   ENCODED_CONTAINER  a base64 or quoted-printable message/rfc822, whose
 *                      inside is not parsed (mime_part_body() and mime_parse()
 *                      read it)
 *   BARE_LF            a line ended in LF without CR
 *   AFTER_CLOSE        a delimiter line of a multipart after its close
 *                      delimiter: lenient readers see more parts there
 *   PREFIX_BOUNDARY    a multipart whose boundary is a prefix of an enclosing
 *                      one's, or the other way round: readers split it
 *                      differently
 *   BAD_CTE            an unknown Content-Transfer-Encoding that some readers
 *                      may still decode ("quoted printable", "x-uuencode"),
 *                      or an encoded multipart: readers decode it
 *                      differently or not at all
 *   BAD_BASE64         a base64 body that decoders read differently: a
 *                      character outside the alphabet (or white space inside
 *                      a line), padding in the middle of a quantum, data after
 *                      the padding, a last quantum cut short, a line whose
 *                      length is not a multiple of 4 (a decoder that decodes
 *                      line by line shifts the rest), or a line over 998
 *                      octets (mail systems cut such lines at different places)
 *   BAD_QP             a quoted-printable body with an "=" that is neither a
 *                      soft line break nor followed by two hex digits, which
 *                      decoders keep, drop or decode differently
 *
 * MIME_F_AMBIGUOUS gathers the flags of a structure that readers may split
 * differently (mime_ambiguity_text() names them); a parameter given twice is
 * not among them, as every reading of it is kept (struct mime_part.params).
 */
#define MIME_F_TRUNCATED 0x0001
#define MIME_F_LIMIT 0x0002
#define MIME_F_BAD_BOUNDARY 0x0004
#define MIME_F_DUP_BOUNDARY 0x0008
#define MIME_F_HEADER_TOO_LONG 0x0010
#define MIME_F_BAD_HEADER 0x0020
#define MIME_F_DUP_PARAM 0x0040
#define MIME_F_DUP_FIELD 0x0080
#define MIME_F_ENCODED_CONTAINER 0x0100
#define MIME_F_BARE_LF 0x0200
#define MIME_F_AFTER_CLOSE 0x0400
#define MIME_F_PREFIX_BOUNDARY 0x0800
#define MIME_F_BAD_CTE 0x1000
#define MIME_F_BAD_BASE64 0x2000
#define MIME_F_BAD_QP 0x4000
#define MIME_F_AMBIGUOUS                                                                           \
    (MIME_F_BAD_BOUNDARY | MIME_F_DUP_BOUNDARY | MIME_F_DUP_FIELD | MIME_F_AFTER_CLOSE |           \
     MIME_F_PREFIX_BOUNDARY | MIME_F_BAD_CTE | MIME_F_BAD_BASE64 | MIME_F_BAD_QP)

/*
 * Which limit of struct mime_limits stopped the parser from reading all of a
 * message (struct mime_message.limits); mime_limit_text() names them:
 *   DEPTH         a multipart or message/rfc822 below max_depth (not descended into)
 *   PARTS         a part past max_parts (not recorded)
 *   FIELDS        a field past max_fields of its header (not stored)
 *   FIELD_LEN     a field longer than max_header_line (cut)
 *   HEADER_BLOCK  a header block longer than max_header_block (the rest not stored)
 *   HEADER_TOTAL  stored header text over max_header_total (not stored)
 *   PARAMS        more parameters in one field than the parser keeps
 */
#define MIME_MAX_PARAMS 64 /* parameters kept per Content-Type or -Disposition field */

#define MIME_L_DEPTH 0x01
#define MIME_L_PARTS 0x02
#define MIME_L_FIELDS 0x04
#define MIME_L_FIELD_LEN 0x08
#define MIME_L_HEADER_BLOCK 0x10
#define MIME_L_HEADER_TOTAL 0x20
#define MIME_L_PARAMS 0x40

/*
 * Protected content (PROTOCOL.md 27), found at any depth; such bodies must
 * stay byte-identical:
 *   SIGNED          multipart/signed
 *   ENCRYPTED       multipart/encrypted
 *   PKCS7           application/pkcs7-mime or application/x-pkcs7-mime, or a
 *                   file name ending in .p7m
 *   PGP_ENCRYPTED   application/pgp-encrypted
 *   PGP_INLINE      a line of a text/plain body (after transfer decoding) that
 *                   starts "-----BEGIN PGP SIGNED MESSAGE-----" or
 *                   "-----BEGIN PGP MESSAGE-----"
 */
#define MIME_P_SIGNED 0x01
#define MIME_P_ENCRYPTED 0x02
#define MIME_P_PKCS7 0x04
#define MIME_P_PGP_ENCRYPTED 0x08
#define MIME_P_PGP_INLINE 0x10

struct mime_limits {
    unsigned max_depth;      /* nesting below the message itself (its depth is 0) */
    size_t max_parts;        /* parts in all, the message itself included */
    size_t max_header_block; /* bytes of one part's header block whose fields are stored */
    size_t max_header_line;  /* bytes of one unfolded field (longer ones are cut) */
    size_t max_fields;       /* fields stored per part */
    size_t max_header_total; /* bytes of fields and parameters stored for the whole message */
};

#define MIME_LIMITS_DEFAULT                                                                        \
    {                                                                                              \
        .max_depth = 20, .max_parts = 1000, .max_header_block = 256 * 1024,                        \
        .max_header_line = 64 * 1024, .max_fields = 1000, .max_header_total = 4 * 1024 * 1024      \
    }

/* mime_limits_default - fill lim with MIME_LIMITS_DEFAULT. */
void mime_limits_default(struct mime_limits *lim);

struct mime_field {
    char *name;       /* as written, without the white space before the colon */
    char *value;      /* unfolded (line ends removed), outer white space removed, NUL -> ' ' */
    uint64_t offset;  /* of the field's first byte in the message */
    uint64_t raw_len; /* of the field as written, all its lines, without the final line end */
    bool trace;       /* Received, Return-Path, Resent-*, OPES-System, OPES-Via */
    bool truncated;   /* value cut at max_header_line */
};

struct mime_param {
    char *name;  /* lower-cased, without RFC 2231 section or '*' */
    char *value; /* UTF-8: RFC 2231 sections joined and decoded; name/filename also RFC 2047 */
};

enum mime_kind {
    MIME_KIND_LEAF,      /* the body is content */
    MIME_KIND_MULTIPART, /* the body was split at its boundary into the children */
    MIME_KIND_MESSAGE    /* message/rfc822: the body is the one child, a nested message */
};

struct mime_part {
    int parent;     /* index of the enclosing part; -1 for parts[0] */
    unsigned depth; /* 0 for parts[0] */
    enum mime_kind kind;
    bool is_message;   /* root of a message: parts[0], or the child of a message/rfc822 */
    bool attachment;   /* Content-Disposition: attachment, or a leaf with a file name */
    char *type;        /* lower-cased; default text, or message inside multipart/digest */
    char *subtype;     /* lower-cased; default plain (rfc822 inside multipart/digest) */
    char *cte;         /* Content-Transfer-Encoding, lower-cased first word; "7bit" if absent */
    char *disposition; /* lower-cased, NULL when absent */
    char *filename;    /* UTF-8: disposition filename, else the type's name; NULL if none */
    /*
     * Content-Type parameters, in order. A parameter defined more than once
     * (twice plain, twice as name*, or name* besides a different plain one)
     * is listed once per distinct reading, the one used first, so that a
     * check can look at every value some reader may take.
     */
    struct mime_param *params;
    size_t nparams;
    struct mime_param *disp_params; /* Content-Disposition parameters */
    size_t ndisp_params;
    struct mime_field *fields; /* header fields, in order */
    size_t nfields;
    uint64_t header_start;   /* first byte of the header block */
    uint64_t body_start;     /* first byte after the blank line ending the header */
    uint64_t body_end;       /* end of the body: the line end before a delimiter is not in it */
    uint64_t preamble_end;   /* MIME_KIND_MULTIPART: end of the preamble (body_end if no parts) */
    uint64_t epilogue_start; /* MIME_KIND_MULTIPART: after the close delimiter line (or body_end) */
    unsigned flags;          /* MIME_F_* met in this part's header or body */
    unsigned protected;      /* MIME_P_* found on this part */
};

struct mime_message {
    struct mime_part *parts; /* document order; parts[0] is the message */
    size_t nparts;
    const struct mime_field *fields; /* the top-level header: parts[0].fields */
    size_t nfields;
    unsigned flags;           /* union of every part's MIME_F_* */
    unsigned limits;          /* MIME_L_*: the limits that stopped the parser */
    struct mime_limits lim;   /* the limits it was parsed with */
    unsigned protected;       /* union of every part's MIME_P_* */
    uint64_t size;            /* bytes parsed */
    unsigned dkim_signatures; /* top-level DKIM-Signature fields */
    char **dkim_signed;       /* their h= names, lower-cased, in order, duplicates kept */
    size_t ndkim_signed;
};

struct mime_parser;

/* mime_parser_new - a parser with these limits (copied), or the defaults when lim is NULL. */
struct mime_parser *mime_parser_new(const struct mime_limits *lim);
/* mime_parser_feed - the next len bytes of the message; pieces may be cut anywhere. */
void mime_parser_feed(struct mime_parser *p, const char *data, size_t len);
/*
 * mime_parser_finish - end of the message: frees the parser, sets *pp to NULL
 * and returns the structure, which the caller frees with mime_message_free().
 */
struct mime_message *mime_parser_finish(struct mime_parser **pp);
/* mime_parser_free - abandon a parse; sets *pp to NULL. */
void mime_parser_free(struct mime_parser **pp);
/* mime_parse - the whole message at once (new, feed, finish). */
struct mime_message *mime_parse(const char *data, size_t len, const struct mime_limits *lim);
void mime_message_free(struct mime_message **mp);

/*
 * mime_header_get - the value of the first field called name (any case) of
 * part index, or of the top-level header when index is -1; NULL if none. The
 * string belongs to m.
 */
const char *mime_header_get(const struct mime_message *m, int index, const char *name);
/*
 * mime_limit_text - "header fields (max 1000), field length (max 65536)"
 * for the limits m reached (m->limits), into out (at most size - 1 bytes and
 * a NUL); returns out.
 */
char *mime_limit_text(const struct mime_message *m, char *out, size_t size);
/* mime_ambiguity_text - the same for the MIME_F_AMBIGUOUS flags in flags. */
char *mime_ambiguity_text(unsigned flags, char *out, size_t size);
/*
 * mime_part_names - every file name some reader may give part p: each
 * reading of the Content-Disposition filename and of the Content-Type name
 * (see params). Stores up to max pointers (owned by p) and returns how many
 * it stored.
 */
size_t mime_part_names(const struct mime_part *p, const char **names, size_t max);

/* mime_part_param - a Content-Type parameter of the part (name in lower case), or NULL. */
const char *mime_part_param(const struct mime_part *p, const char *name);

/*
 * mime_dkim_signed_headers - the names listed in h= of every top-level
 * DKIM-Signature, lower-cased, in order, a name as often as it is listed
 * (oversigning). Stores up to max pointers (owned by m) in names and returns
 * the total count, which may be larger than max.
 */
size_t mime_dkim_signed_headers(const struct mime_message *m, const char **names, size_t max);
/* mime_dkim_signs - whether a top-level DKIM-Signature lists this field name (any case). */
bool mime_dkim_signs(const struct mime_message *m, const char *name);

/*
 * mime_decode_2047 - a header value for display: RFC 2047 encoded words (B
 * and Q; utf-8, us-ascii, iso-8859-1/latin1 and windows-1252) become UTF-8,
 * white space between adjacent encoded words goes, an encoded word in an
 * unknown charset stays as written, and raw 8-bit text is kept when it is
 * UTF-8 and read as windows-1252 otherwise. Writes at most size - 1 bytes
 * plus a NUL (never a partial character) and returns the length written.
 */
size_t mime_decode_2047(const char *in, char *out, size_t size);

/*
 * mime_field_text - a stored field value (struct mime_field.value) for
 * display: RFC 2047 decoded as mime_decode_2047() does when decode is set,
 * each control character (tab included) a space, outer spaces removed. Writes
 * at most size - 1 bytes plus a NUL (never a partial character) and returns
 * the length written.
 */
size_t mime_field_text(const char *value, bool decode, char *out, size_t size);

/*
 * mime_display_name - the display name of a From (or To) field value for
 * people: the phrase before "<addr>" with its quotes and quoting backslashes
 * removed, or the comment of "addr (Name)", RFC 2047 decoded and cleaned as
 * mime_field_text() does; "" when the field names no one. Same bounds and
 * return as mime_field_text().
 */
size_t mime_display_name(const char *from, char *out, size_t size);

/*
 * mime_header_find - the one reader of a field in a header block that is not
 * parsed otherwise (a header kept apart from its message, a message in
 * memory): the first field called name (any case) in the header of
 * hdr[0..len), read up to its blank line as the parser reads it (unfolded),
 * into out as mime_field_text() writes it. Returns false (out untouched) when
 * there is no such field.
 */
bool mime_header_find(const char *hdr, size_t len, const char *name, bool decode, char *out,
                      size_t size);

/*
 * mime_text_utf8 - s[0..n), text in charset (a part's charset parameter; NULL
 * or one without a converter: UTF-8 where valid, windows-1252 otherwise, as
 * undeclared header text is read), as a new UTF-8 string of at most max bytes
 * that never ends in a partial character; *len_r is its length and *cut says
 * whether text was left out. NUL becomes U+FFFD. The caller frees the result.
 */
char *mime_text_utf8(const char *charset, const char *s, size_t n, size_t max, size_t *len_r,
                     bool *cut);

/* Transfer decoding for the scanners. */
enum mime_encoding { MIME_ENC_IDENTITY, MIME_ENC_BASE64, MIME_ENC_QP };

/* mime_encoding_of - base64 and quoted-printable by name (any case); IDENTITY otherwise. */
enum mime_encoding mime_encoding_of(const char *cte);

#define MIME_QP_WS_MAX 80
/* MIME_DECODER_OUT - room the output of one mime_decoder_feed() of len bytes needs. */
#define MIME_DECODER_OUT(len) (2 * (len) + MIME_QP_WS_MAX + 4)

/*
 * A push decoder. Base64 skips bytes outside its alphabet and goes on after
 * padding; quoted-printable removes soft line breaks and trailing white space,
 * makes every hard line break CRLF (RFC 2045 6.7: the canonical form), and
 * keeps a malformed '=' as it is.
 */
struct mime_decoder {
    enum mime_encoding enc;
    int state;
    uint32_t acc;
    unsigned nacc;
    char hex;
    size_t nws;
    char ws[MIME_QP_WS_MAX];
};

void mime_decoder_init(struct mime_decoder *d, enum mime_encoding enc);
/* mime_decoder_feed - decode in[0..len) into out (MIME_DECODER_OUT(len) bytes); returns length. */
size_t mime_decoder_feed(struct mime_decoder *d, const char *in, size_t len, char *out);
/* mime_decoder_finish - what is still pending at the end, into out (MIME_DECODER_OUT(0) bytes). */
size_t mime_decoder_finish(struct mime_decoder *d, char *out);

/* mime_read_fn - up to len bytes of the message from offset into buf; 0 at the end, -1 on error. */
typedef ssize_t (*mime_read_fn)(void *ctx, uint64_t offset, void *buf, size_t len);
/* mime_write_fn - take decoded bytes; 0, or -1 to stop. */
typedef int (*mime_write_fn)(void *ctx, const void *data, size_t len);

/*
 * mime_part_decode - read the body of part index (not a multipart) through
 * reader, undo its transfer encoding and hand the result to writer. Returns 0,
 * or -1 with *error_r set (bad index, a multipart, read error or short
 * message, or writer returned -1).
 */
int mime_part_decode(const struct mime_message *m, size_t index, mime_read_fn reader,
                     void *read_ctx, mime_write_fn writer, void *write_ctx, const char **error_r);

/* A mime_read_fn over a message held in memory: ctx is a struct mime_buffer. */
struct mime_buffer {
    const char *data;
    size_t len;
};
ssize_t mime_buffer_read(void *ctx, uint64_t offset, void *buf, size_t len);

/*
 * mime_part_body - the body of part index (not a multipart) of the message
 * held in data[0..len), transfer-decoded, as a new NUL-terminated string the
 * caller frees: at most max bytes (*len_r), decoding stops there and *cut is
 * set when there was more. NULL for a multipart or an index out of range.
 */
char *mime_part_body(const struct mime_message *m, size_t index, const char *data, size_t len,
                     size_t max, size_t *len_r, bool *cut);

#endif
