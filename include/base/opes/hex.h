/*
 * hex.h - the value of a hexadecimal digit, for the decoders that meet
 * %XX and =XX escapes (URL forms, quoted-printable, RFC 2231 and 2047).
 */
#ifndef OPES_HEX_H
#define OPES_HEX_H

/* hex_digit - 0..15 for 0-9, a-f and A-F; -1 for any other byte. */
static inline int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
