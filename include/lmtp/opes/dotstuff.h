/*
 * dotstuff.h - the DATA transparency layer of SMTP/LMTP (RFC 5321 4.5.2).
 *
 * The decoder turns the bytes after DATA into message content: it removes
 * the stuffed dot, ends only on CRLF "." CRLF (never on LF "." LF or any other
 * mix: SMTP smuggling), and notes bare CR, bare LF and NUL, which it can also
 * normalise to CRLF. The encoder does the reverse for the downstream.
 */
#ifndef OPES_DOTSTUFF_H
#define OPES_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>

#define DOTSTUFF_BARE_CR 0x1
#define DOTSTUFF_BARE_LF 0x2
#define DOTSTUFF_NUL 0x4

struct dotstuff_decoder {
    int state;
    bool normalize; /* bare CR or LF become CRLF */
    unsigned flags; /* DOTSTUFF_* seen so far */
};

void dotstuff_decoder_init(struct dotstuff_decoder *d, bool normalize);

/*
 * dotstuff_decode - decode in[0..len) into out, which must hold 2 * len + 4 bytes.
 * Returns the number of input bytes consumed: all of them, or up to and
 * including the terminating CRLF.CRLF, in which case *done is set (the rest of
 * the input belongs to the next command).
 */
size_t dotstuff_decode(struct dotstuff_decoder *d, const char *in, size_t len, char *out,
                       size_t *outlen, bool *done);

struct dotstuff_encoder {
    bool bol;
    char last;
};

void dotstuff_encoder_init(struct dotstuff_encoder *e);
/* dotstuff_encode - stuff in[0..len) into out (2 * len bytes); returns out length. */
size_t dotstuff_encode(struct dotstuff_encoder *e, const char *in, size_t len, char *out);
/* dotstuff_encode_end - the final [CRLF] "." CRLF into out (6 bytes); returns length. */
size_t dotstuff_encode_end(struct dotstuff_encoder *e, char *out);

#endif
