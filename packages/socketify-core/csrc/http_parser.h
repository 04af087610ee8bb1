/* http_parser.h - HTTP/1.1 request head parser and chunked body decoder.
 *
 * Internal to the core (not seen by cffi).  The caller owns every buffer:
 * the parser returns slices into the bytes it was given and allocates
 * nothing.  Header names are lower-cased in place, which is why the buffer is
 * not const.
 *
 * Return codes of sc_http_parse_request:
 *   > 0                 the head is complete; that many bytes were consumed
 *   SC_HTTP_INCOMPLETE  need more bytes (and none of the limits is passed yet)
 *   < 0 otherwise       -(HTTP status) to answer before closing: -400, -414,
 *                       -431, -501, -505
 * Ambiguous framing is rejected, never guessed (RFC 9112 section 6.3):
 * Content-Length together with Transfer-Encoding, differing duplicate
 * Content-Length, Transfer-Encoding other than a final "chunked" (-501 for an
 * unknown coding, -400 when chunked is not last), bare CR, bare LF inside the
 * request line, obs-fold, whitespace before the colon, control bytes in a
 * value, a method or header name that is not a token, an HTTP/1.1 request
 * without exactly one Host.
 */
#ifndef SC_HTTP_PARSER_H
#define SC_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "socketify.h"

#define SC_HTTP_INCOMPLETE (-2)

typedef struct sc_http_limits {
    uint32_t max_header_size; /* whole head including the request line */
    uint32_t max_headers;
    uint32_t max_url_size;
} sc_http_limits;

/* Fills req (method, target, path_len, http_minor, flags except
 * SC_REQ_HEAD-derived ones are set too, content_length, headers).
 * req->headers must point to an array of limits->max_headers entries;
 * req->res is left untouched. */
int sc_http_parse_request(char *buf, size_t len, sc_request *req, const sc_http_limits *limits);

/* Incremental chunked decoder, in place: decodes buf[0..*len) into body
 * bytes moved to the front of buf, sets *len to their count, and returns:
 *   >= 0  the final chunk and trailers are complete: that many bytes of the
 *         input were not part of the body (the next request starts there;
 *         they have been moved to buf + *len)
 *   SC_HTTP_INCOMPLETE  all input used; call again with more
 *   -400  malformed (bad size, overlong size, missing CRLF, bad trailer)
 * The decoder keeps its state between calls. */
typedef struct sc_chunked {
    uint64_t remaining; /* bytes left in the current chunk */
    uint64_t total;     /* body bytes so far */
    uint32_t state;
    uint32_t count;     /* digits or trailer bytes seen in the current state */
} sc_chunked;

void sc_chunked_init(sc_chunked *d);
long sc_chunked_decode(sc_chunked *d, char *buf, size_t *len);

#endif
