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
 *
 * Exact semantics (tested in tests/c/test_http_parser.c):
 *   - A bare LF is rejected everywhere (-400), also at header line ends.
 *   - Up to SC_HTTP_MAX_EMPTY_LINES CRLFs before the request line are
 *     skipped; they are included in the consumed count, not in the head size.
 *   - -431 as soon as max_header_size bytes of head (from the request line)
 *     are buffered without the final CRLF, or when header line
 *     max_headers + 1 starts.  -414 as soon as the target has
 *     max_url_size + 1 bytes (if that bound is inside max_header_size).
 *     Errors found in the bytes so far are returned before the head is
 *     complete; SC_HTTP_INCOMPLETE means no error in the bytes so far.
 *   - Targets: origin-form, "*" for OPTIONS only, absolute-form
 *     "http[s]://authority[/path][?query]" (scheme case-insensitive).  For
 *     absolute-form, target is "/path?query" (an empty path becomes "/") and
 *     the authority replaces the Host header's value; an HTTP/1.0 request
 *     without Host gets a "host" header appended when a slot is free.  Such
 *     a head is modified in the buffer on success, so never re-parse a head
 *     that parsed successfully.  authority-form (CONNECT) -> -400.
 *   - "HTTP/1.0" and "HTTP/1.1" only; any other "HTTP/d.d", "HTTP/2",
 *     "HTTP/3" -> -505; anything else -> -400.
 *   - Content-Length: 1*DIGIT up to UINT64_MAX; repeated lines and comma
 *     lists are accepted only when every value is the same number.
 *   - Transfer-Encoding (all lines form one list; empty elements skipped):
 *     "chunked" more than once, or present but not last, -> -400; otherwise
 *     any other coding ("gzip", "identity", "chunked;x=1") -> -501.  With
 *     Content-Length, in HTTP/1.0, or with no element -> -400.
 *   - Host values must be RFC 3986 host[:port] bytes (an empty value is ok).
 *   - SC_REQ_EXPECT_100 and SC_REQ_UPGRADE are set for HTTP/1.1 only; other
 *     Expect values are ignored.  "Connection: close" wins over keep-alive.
 *   - On an error return, req may be partly written.
 *
 * Chunked bodies: size at most 16 hex digits; extensions ("BWS ;...") are
 * skipped, at most SC_CHUNK_EXT_MAX bytes per body, no control bytes;
 * trailer lines must be "token: value" without obs-fold, at most
 * SC_CHUNK_TRAILER_MAX bytes including the final CRLF, and are discarded.
 */
#ifndef SC_HTTP_PARSER_H
#define SC_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "socketify.h"

#define SC_HTTP_INCOMPLETE (-100) /* its own value: not an sc_error, not -status */

/* Fixed bounds of the parser (not settings). */
#define SC_HTTP_MAX_EMPTY_LINES 4 /* CRLFs skipped before a request line */
#define SC_CHUNK_EXT_MAX 4096     /* chunk-extension bytes per body, total */
#define SC_CHUNK_TRAILER_MAX 8192 /* trailer section bytes per body */

typedef struct sc_http_limits {
    uint32_t max_header_size; /* whole head including the request line */
    uint32_t max_headers;
    uint32_t max_url_size;
} sc_http_limits;

/* Fills req (method, target, path_len, http_minor, flags, content_length,
 * num_headers, headers) on success.
 * req->headers must point to an array of limits->max_headers entries;
 * req->res is left untouched. */
int sc_http_parse_request(char *buf, size_t len, sc_request *req, const sc_http_limits *limits);

/* Incremental chunked decoder, in place: decodes buf[0..*len) into body
 * bytes moved to the front of buf, sets *len to their count, and returns:
 *   >= 0  the final chunk and trailers are complete: that many bytes of the
 *         input were not part of the body (the next request starts there;
 *         they have been moved to buf + *len)
 *   SC_HTTP_INCOMPLETE  all input used; call again with more
 *   -400  malformed (bad size, overlong size, missing CRLF, bad trailer);
 *         sticky: later calls return -400 too
 * The decoder keeps its state between calls; every byte of the input is
 * consumed on SC_HTTP_INCOMPLETE, so the caller never re-feeds bytes.  After
 * the end, further calls return all their input as left over.  *len is the
 * body bytes produced by this call; d->total counts them over the body (check
 * it against max_body_size); d->remaining is the rest of the current chunk's
 * declared size. */
typedef struct sc_chunked {
    uint64_t remaining; /* bytes left in the current chunk */
    uint64_t total;     /* body bytes so far */
    uint32_t state;
    uint32_t count;     /* digits or trailer bytes seen in the current state */
    uint32_t ext_total; /* chunk-extension bytes seen in this body */
} sc_chunked;

void sc_chunked_init(sc_chunked *d);
long sc_chunked_decode(sc_chunked *d, char *buf, size_t *len);

#endif
