/* socketify.h - the whole C surface that cffi sees.
 *
 * Theory of operation
 * -------------------
 * One sc_loop owns an epoll fd, its listening sockets, its connections and a
 * timerfd.  Python watches sc_loop_fd() with asyncio's add_reader and calls
 * sc_loop_poll(loop, 0) when it is readable; poll handles every ready event,
 * calls back into Python (the sc_py_* functions, `extern "Python"` in cffi)
 * and flushes corked output (one write per connection per poll) before it
 * returns.  Nothing here blocks.
 *
 * Python never holds a pointer that the core may free.  Connections and
 * responses are named by sc_handle = (generation << 24) | slot.  Every call
 * that takes a handle checks the generation and returns SC_ESTALE for a
 * closed connection or a finished response.  The generation counter is per
 * loop and grows by one for every new connection and every new request, so a
 * handle is never reused.  0 is never a valid handle.
 *
 * One request at a time per connection: the core parses the next pipelined
 * request only after the current response has ended (its body fully read or
 * discarded), so responses go out in order.  Within one poll, several
 * pipelined requests are answered into the same cork buffer: one write.
 *
 * The request view (sc_request, from sc_loop_request_view) points into the
 * connection's read buffer and is valid only during sc_py_on_request.  Header
 * names are lower-cased in place by the parser.
 *
 * Return codes, one scheme for every call of this header: >= 0 is success (a
 * count, an id or SC_OK); -1 .. -99 are the core's own errors (enum sc_error);
 * SC_EOS(errno) = -1000 - errno is an operating-system error (the listen
 * calls), so the two ranges never collide.  The parser's internal statuses
 * (http_parser.h: SC_HTTP_INCOMPLETE, -400 .. -599) never cross this header.
 * Python maps each code to one exception class (socketify.errors.core_error).
 */
#ifndef SOCKETIFY_H
#define SOCKETIFY_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_loop sc_loop;
typedef uint64_t sc_handle;

enum sc_error {
    SC_OK = 0,
    SC_ESTALE = -1, /* handle names a closed connection or a finished response */
    SC_EINVAL = -2, /* bad argument */
    SC_ENOMEM = -3, /* allocation failed */
    SC_ESTATE = -4, /* not allowed now (header after body started, ...) */
    SC_EAGAIN = -5, /* past max_backpressure: the data is buffered, on_writable will fire */
    SC_EIO = -6,    /* socket error; the connection is closed */
    SC_ETHREAD = -7 /* called from a thread that is not the loop's (the one polling it) */
};
#define SC_EOS_BASE (-1000)
#define SC_EOS(e) (SC_EOS_BASE - (e)) /* an errno, out of the range of enum sc_error */

/* Limits and timeouts; sc_settings_default fills the safe defaults. */
typedef struct sc_settings {
    uint32_t max_header_size; /* request line + headers, bytes (default 16384) -> 431 */
    uint32_t max_headers;     /* header fields (default 100) -> 431 */
    uint32_t max_url_size;    /* request target, bytes (default 8192) -> 414 */
    uint64_t max_body_size;   /* request body, bytes (default 16 MiB; 0 = no body allowed) -> 413 */
    uint32_t idle_timeout_ms; /* no byte read or written on a connection (default 10000) */
    uint32_t header_timeout_ms; /* a request head must be complete within (default 10000) */
    uint32_t max_backpressure; /* bytes buffered per connection before SC_EAGAIN (default 16 MiB) */
    uint32_t proxy_protocol;   /* 1: accept a PROXY v1/v2 header first on every connection */
    /* answered bytes waiting unread past which pipelined requests wait (default 64 KiB) */
    uint32_t max_pipelined_output;
    /* after an error answer or a close the server asked for, input is read and dropped
     * this long (default 5000; 0 = close at once) or until this many bytes (64 MiB) */
    uint32_t lingering_timeout_ms;
    uint32_t max_lingering_bytes;
    /* bytes all connections may buffer together (0 = no cap): past it, at the next tick,
     * the connections holding the most are closed first (sc_loop_budget_closed counts) */
    uint64_t max_buffered_bytes;
} sc_settings;

void sc_settings_default(sc_settings *s);

/* glibc: freed memory at the top of the heap goes back to the system only past this
 * many bytes (mallopt M_TRIM_THRESHOLD), so a body allocated and freed per request does
 * not grow and shrink the heap, with page faults, every time.  Process-wide.  Returns
 * SC_OK, or SC_EINVAL for 0, more than INT_MAX, or a C library without the knob. */
int sc_malloc_trim_threshold(uint64_t bytes);

/* ---- loop ---------------------------------------------------------------- */

/* owner_id is passed back to every sc_py_* callback so Python finds its App. */
sc_loop *sc_loop_new(const sc_settings *settings, uint32_t owner_id);
void sc_loop_free(sc_loop *loop); /* closes everything, no callbacks */
int sc_loop_fd(sc_loop *loop);    /* the epoll fd to watch for readability */
/* Handle ready events (timeout_ms 0: do not wait) and flush output.
 * Returns the number of events handled, or a negative sc_error. */
int sc_loop_poll(sc_loop *loop, int timeout_ms);
uint32_t sc_loop_num_connections(sc_loop *loop);

/* Counters of a loop since it was created, kept by the core (a few increments per request).
 * Latency: from a request's head being parsed to its response ending, in microseconds;
 * bucket i counts latencies <= SC_LATENCY_BOUNDS_US[i] (not cumulative), the last bucket
 * the rest. */
#define SC_LATENCY_BUCKETS 12
typedef struct sc_stats {
    uint64_t connections_total;     /* accepted (or opened in memory) */
    uint64_t requests;              /* responses that sent a status line */
    uint64_t responses_by_class[6]; /* [1] 1xx .. [5] 5xx, the core's own errors included */
    uint64_t bytes_in;              /* read from the connection (plaintext under TLS) */
    uint64_t bytes_out;             /* written to it */
    uint64_t websockets_total;      /* upgrades */
    uint64_t websockets_open;       /* open now */
    uint64_t backpressure_drops;    /* WebSocket messages dropped past max_backpressure */
    uint64_t pubsub_deliveries;     /* messages queued to subscribers by publish */
    uint64_t latency_count;         /* requests timed */
    uint64_t latency_us_sum;
    uint64_t latency_buckets[12]; /* SC_LATENCY_BUCKETS (cffi needs the number) */
    /* Bytes of files (sc_res_sendfile) sent with sendfile(2) straight from the
     * page cache (a plain socket), and read with pread and written through the
     * I/O layers (TLS, the memory transport). */
    uint64_t file_bytes_sendfile;
    uint64_t file_bytes_copied;
} sc_stats;
const sc_stats *sc_loop_stats(sc_loop *loop);
/* Connections closed so far because max_buffered_bytes was exceeded. */
uint64_t sc_loop_budget_closed(sc_loop *loop);
/* Graceful stop, step 1: close all listening sockets. */
void sc_loop_close_listeners(sc_loop *loop);
/* Graceful stop, step 2: idle keep-alive connections are closed now; busy ones
 * get Connection: close on their current response and close after it. */
void sc_loop_drain(sc_loop *loop);

/* ---- listening ------------------------------------------------------------ */

#define SC_LISTEN_EXCLUSIVE_PORT 1 /* no SO_REUSEPORT */

/* host NULL or "" = all interfaces (IPv6 dual-stack when available, else
 * 0.0.0.0).  port 0 picks one.  Returns a listener id >= 0 and stores the
 * bound port in *out_port, or -errno. */
int sc_listen_tcp(sc_loop *loop, const char *host, uint16_t port, int flags, uint16_t *out_port);
int sc_listen_unix(sc_loop *loop, const char *path, int flags); /* id >= 0 or SC_EOS(errno) */
/* Adopt an already-bound listening fd (workers share a socket). */
int sc_listen_fd(sc_loop *loop, int fd);

/* ---- TLS (io_tls.c, OpenSSL) ----------------------------------------------- *
 *
 * An sc_tls is a server's TLS setup: a default certificate (and everything
 * else of sc_tls_config) plus SNI names, each with its own configuration.
 * sc_listen_set_tls makes a listener's connections speak TLS: a TLS layer is
 * pushed on each right after accept and the protocols above see plaintext.
 * An sc_tls is reference counted: the caller's reference (sc_tls_new), one
 * per listener and one per connection, so sc_tls_free may be called while
 * listeners or connections still use it.  Configuration errors come back as
 * NULL / a negative code with a message in err (the file and the reason).
 *
 * TLS 1.2 and 1.3 only; session tickets on; ALPN selects "http/1.1" (a client
 * that offers ALPN without it is refused with no_application_protocol); client
 * renegotiation refused.  A client name unknown to the SNI table calls
 * sc_py_tls_server_name (when sc_tls_watch_server_names is on; the name is in
 * sc_loop_event_view), which may add it; else the default certificate
 * answers.  Names may start with "*." (one label, as in certificates). */
typedef struct sc_tls sc_tls;

#define SC_TLS_VERIFY_NONE 0     /* no client certificate asked for */
#define SC_TLS_VERIFY_OPTIONAL 1 /* asked for; verified when presented */
#define SC_TLS_VERIFY_REQUIRED 2 /* the handshake fails without a valid one */

typedef struct sc_tls_config {
    const char *key_file;          /* PEM private key (NULL or "" with cert_file: both needed) */
    const char *cert_file;         /* PEM certificate chain, leaf first */
    const char *passphrase;        /* for an encrypted key, or NULL */
    const char *dh_params_file;    /* PEM DH parameters, or NULL (built-in groups) */
    const char *ca_file;           /* PEM CAs for client certificates, or NULL */
    const char *ciphers;           /* TLS 1.2 cipher list (OpenSSL syntax), or NULL: safe default */
    uint32_t verify;               /* SC_TLS_VERIFY_*; OPTIONAL/REQUIRED need ca_file */
    uint32_t low_memory;           /* 1: release idle connections' buffers */
    uint32_t handshake_timeout_ms; /* accept to finished handshake (default 10000; 0 = off) */
    /* Session ticket keys (SC_TLS_TICKET_KEYS_LEN bytes: name, HMAC and AES keys), or
     * NULL/0 for keys of this context's own.  Processes given the same keys resume each
     * other's sessions: the supervisor makes them once for all its workers. */
    const char *ticket_keys;
    uint32_t ticket_keys_len;
} sc_tls_config;

#define SC_TLS_TICKET_KEYS_LEN 80

sc_tls *sc_tls_new(const sc_tls_config *config, char *err, size_t err_cap);
void sc_tls_free(sc_tls *tls); /* drops the caller's reference */
/* SNI: SC_OK, or an sc_error with a message in err; remove: 1 removed, 0 unknown. */
int sc_tls_add_server_name(sc_tls *tls, const char *name, const sc_tls_config *config, char *err,
                           size_t err_cap);
int sc_tls_remove_server_name(sc_tls *tls, const char *name);
uint32_t sc_tls_num_server_names(sc_tls *tls);
int sc_tls_watch_server_names(sc_tls *tls, int on); /* call sc_py_tls_server_name */
/* The listener's connections speak TLS (listener: an id from sc_listen_*). */
int sc_listen_set_tls(sc_loop *loop, int listener, sc_tls *tls);

/* What a connection's TLS gave it, by response or WebSocket handle: the
 * value's length (0: none, e.g. plaintext or no client certificate), with
 * min(length, cap) bytes copied to buf; SC_ESTALE for a stale handle. */
#define SC_TLS_INFO_VERSION 1     /* "TLSv1.3"; empty on a plaintext connection */
#define SC_TLS_INFO_CIPHER 2      /* OpenSSL's name of the cipher suite */
#define SC_TLS_INFO_ALPN 3        /* "http/1.1" or nothing */
#define SC_TLS_INFO_SERVER_NAME 4 /* the SNI name the client sent */
#define SC_TLS_INFO_PEER_CERT 5   /* the verified client certificate, DER */
#define SC_TLS_INFO_CIPHER_BITS 6 /* secret bits of the cipher, decimal text */
#define SC_TLS_INFO_VERSION_ID 7  /* the protocol version's number, decimal (772 = TLS 1.3) */
#define SC_TLS_INFO_CIPHER_ID 8   /* the cipher suite's IANA number, decimal */
#define SC_TLS_INFO_SERVER_CERT 9 /* the certificate this server presented, DER */
#define SC_TLS_INFO_MAX 9
int sc_res_tls_info(sc_loop *loop, sc_handle res, int key, char *buf, size_t cap);
int sc_ws_tls_info(sc_loop *loop, sc_handle ws, int key, char *buf, size_t cap);
/* A certificate (DER) described for Python: records of [kind u8][len u32 LE][bytes],
 * see io_tls.c sc_x509_describe; returns the length needed (copies what fits) or
 * SC_EINVAL for bytes that are not a certificate. */
int sc_tls_describe_cert(const char *der, size_t len, char *buf, size_t cap);
/* A self-signed certificate (fresh EC P-256 key) for an identity, DER into buf (the length
 * needed is returned; copied when it fits), or SC_EINVAL with what was wrong unsaid:
 * subject is "name=value" lines ("commonName=alice\norganizationName=acme"), sans the
 * OpenSSL subjectAltName syntax ("DNS:a.test,email:a@b.test,URI:spiffe://x") or "".
 * The TestClient plays a client certificate with it (no handshake in memory). */
int sc_tls_identity_cert(const char *subject, const char *sans, uint32_t days, char *buf,
                         size_t cap);

/* ---- the request view ----------------------------------------------------- */

typedef struct sc_header {
    const char *name; /* lower-cased */
    uint32_t name_len;
    const char *value; /* surrounding whitespace trimmed */
    uint32_t value_len;
} sc_header;

#define SC_REQ_KEEP_ALIVE 1u /* the connection stays open after this response */
#define SC_REQ_HAS_BODY 2u   /* Content-Length > 0 or chunked: on_data will follow */
#define SC_REQ_CHUNKED 4u    /* Transfer-Encoding: chunked */
#define SC_REQ_EXPECT_100 8u /* Expect: 100-continue */
#define SC_REQ_HEAD 16u      /* method is HEAD: the body is not sent */
#define SC_REQ_UPGRADE 32u   /* Connection: upgrade with an Upgrade header */

typedef struct sc_request {
    sc_handle res;      /* the response handle for this request */
    const char *method; /* as sent */
    uint32_t method_len;
    const char *target; /* origin-form target: path + "?" + query */
    uint32_t target_len;
    uint32_t path_len;       /* bytes of target before '?' (== target_len without query) */
    uint32_t http_minor;     /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    uint32_t flags;          /* SC_REQ_* */
    uint64_t content_length; /* 0 when absent or chunked */
    uint32_t num_headers;
    sc_header *headers;
    uint32_t method_id; /* SC_METHOD_*: the standard methods as a number, else 0 */
} sc_request;

/* method_id values: Python maps them to method names without reading the bytes. */
#define SC_METHOD_OTHER 0
#define SC_METHOD_GET 1
#define SC_METHOD_POST 2
#define SC_METHOD_PUT 3
#define SC_METHOD_DELETE 4
#define SC_METHOD_PATCH 5
#define SC_METHOD_HEAD 6
#define SC_METHOD_OPTIONS 7
#define SC_METHOD_CONNECT 8
#define SC_METHOD_TRACE 9

/* The loop's one request view; valid during sc_py_on_request only. */
sc_request *sc_loop_request_view(sc_loop *loop);

/* The view's header fields packed as "name\0value\0name\0value\0..." (names
 * lower-cased, values without surrounding OWS; the parser refuses NUL in both),
 * so Python splits them with one bytes.split instead of two unpacks a field.
 * Returns the bytes the packing needs; when that is more than cap nothing is
 * written (call again with a buffer that large).  PERF: the ASGI scope and
 * the WSGI environ. */
size_t sc_request_pack_headers(const sc_request *req, char *buf, size_t cap);

/* Everything the ASGI scope reads from the loop's request view, in one buffer:
 * a head of SC_REQUEST_PACK_HEAD bytes (little-endian: the connection as
 * sc_res_conn_id gives it for the view's response (u64), flags (u32),
 * method_id (u8), http_minor (u8), two zero bytes, path_len (u32) and
 * target_len (u32)), then the target, a NUL, and the header fields as
 * sc_request_pack_headers packs them.  Valid during sc_py_on_request only, as
 * the view is.  Returns the bytes needed; more than cap: nothing written.
 * PERF: one crossing instead of a read per view field and three calls. */
#define SC_REQUEST_PACK_HEAD 24
size_t sc_loop_pack_request(sc_loop *loop, char *buf, size_t cap);

/* What a CGI/WSGI environ takes from the view, packed the same way:
 * "target\0HTTP/1.x\0KEY\0value\0KEY\0value\0..." with each header name as
 * its CGI key (CONTENT_TYPE, CONTENT_LENGTH, else HTTP_ + the name upper-cased
 * with '-' as '_'), in the order sent, duplicates kept; a name holding '_' is
 * left out (its key would pass for the dashed name's).  Returns the bytes
 * needed; more than cap: nothing written.  PERF: the WSGI environ in one
 * crossing. */
size_t sc_request_pack_cgi(const sc_request *req, char *buf, size_t cap);

/* Body chunks and other event payloads are passed through this struct, again
 * valid only during the callback that announces them. */
typedef struct sc_event {
    const char *data;
    size_t len;
    uint32_t is_end; /* last body chunk */
    /* body chunks: data's offset in the buffer given to sc_loop_set_read_buffer
     * when the bytes lie there (Python then hands out a view of its own
     * memory, no copy), else -1 */
    int64_t read_off;
} sc_event;
sc_event *sc_loop_event_view(sc_loop *loop);

/* Lend the loop the buffer its reads land in (size at least 16 KiB; call it
 * before the loop has connections).  The caller keeps it alive as long as the
 * loop, and longer if it hands out views of body chunks (sc_event.read_off):
 * the loop never frees it.  Returns SC_OK or SC_EINVAL. */
int sc_loop_set_read_buffer(sc_loop *loop, char *buf, size_t size);

/* ---- responses ------------------------------------------------------------ */

/* head: what follows "HTTP/1.1 " up to the blank line, as Python rendered it:
 * "200 OK\r\nName: value\r\n...".  An empty head means "200 OK\r\n" with no
 * headers.  The head is taken from the first write/end of a response only;
 * later calls pass an empty head.  The core adds Date, then Content-Length
 * (end, try_end) or Transfer-Encoding: chunked (write without a known
 * length), then Connection: close when closing, then the blank line.
 * No body and no Content-Length for 1xx/204/304; no body for HEAD.  With
 * SC_W_HAS_LENGTH the head's own Content-Length rules: body bytes past it are
 * dropped and a body short of it closes the connection after the response.
 * Output of a corked response leaves when it ends (the cork is released). */
#define SC_W_END 1u        /* end the response */
#define SC_W_CLOSE 2u      /* close the connection after this response */
#define SC_W_HAS_LENGTH 4u /* the head has its own Content-Length: no chunking */
#define SC_W_NO_BODY 8u    /* end without a body (Content-Length: 0 unless the head has one) */

/* Write a chunk (and end it with SC_W_END).  Returns SC_OK (all sent or
 * buffered), SC_EAGAIN when the buffer passes max_backpressure (the data is
 * still buffered; on_writable will fire), or an sc_error. */
int sc_res_write(sc_loop *loop, sc_handle res, const char *head, size_t head_len, const char *body,
                 size_t body_len, uint32_t flags);

/* sc_res_write(loop, res, NULL, 0, body, body_len, SC_W_END): the common "200 OK with
 * this body" in one crossing of four arguments instead of seven. */
int sc_res_end(sc_loop *loop, sc_handle res, const char *body, size_t body_len);

/* End a streamed response with a trailer section (RFC 9112 7.1.2): fields are
 * rendered lines "Name: value\r\n..." written after the last chunk.  Only a
 * chunked response can carry them: for one framed by Content-Length, by the
 * close (HTTP/1.0) or without a body (HEAD, 204, 304) the fields are dropped
 * and the response just ends (a recipient may discard trailers anyway).
 * Returns as sc_res_write with SC_W_END; SC_ESTATE before the head was sent,
 * SC_EINVAL for fields that are not whole lines or contain an empty line. */
int sc_res_end_trailers(sc_loop *loop, sc_handle res, const char *fields, size_t fields_len);

/* try_end: send part of a body of total_size bytes (Content-Length:
 * total_size).  Writes what the transport takes now and buffers nothing past
 * that.  With SC_W_HAS_LENGTH the head's own Content-Length is the total and
 * total_size is not used (nor on the calls after the head was sent).
 * Returns a bitmask: 1 = all of body accepted (ok), 2 = response done; or a
 * negative sc_error (SC_EINVAL for a body past the total). */
int sc_res_try_end(sc_loop *loop, sc_handle res, const char *head, size_t head_len,
                   const char *body, size_t body_len, uint64_t total_size, uint32_t flags);
/* Send count bytes of the file fd from offset as (part of) the body, from the
 * core: sendfile(2) on a plain socket, pread and the I/O layers' write in
 * 64 KiB pieces otherwise (TLS, the memory transport), with backpressure and
 * nothing of the file held in memory.  The core owns fd from the call on,
 * whatever it returns: it is closed once the file is out, when the connection
 * closes, or at once on an error.  The head is as for sc_res_write; with
 * SC_W_END the file is the rest of the body (Content-Length: count unless
 * SC_W_HAS_LENGTH), without it the response streams (chunked) and the file is
 * one chunk.  The response does not end: once the file has left (and what was
 * queued before it) sc_py_on_writable fires; then end it (sc_res_write with
 * SC_W_END) or write more.  Returns SC_OK (queued: wait for on_writable), 1
 * (nothing to send: HEAD, 204/304, count 0), or an sc_error: SC_ESTATE when a
 * file of this response is still queued.  A file shorter than promised closes
 * the connection (the length cannot be kept). */
int sc_res_sendfile(sc_loop *loop, sc_handle res, const char *head, size_t head_len, int fd,
                    uint64_t offset, uint64_t count, uint32_t flags);
uint64_t sc_res_write_offset(sc_loop *loop, sc_handle res); /* body bytes accepted so far */
int sc_res_override_write_offset(sc_loop *loop, sc_handle res, uint64_t offset);
int sc_res_write_continue(sc_loop *loop, sc_handle res); /* HTTP/1.1 100 Continue */
/* Ask for sc_py_on_writable when the buffer drains (0 = stop asking). */
int sc_res_want_writable(sc_loop *loop, sc_handle res, int on);
/* Cork: output of all calls until uncork leaves in one write.  Inside
 * sc_loop_poll everything is corked already. */
int sc_res_cork(sc_loop *loop, sc_handle res, int on);
/* The rest of the request body arrives as one on_data chunk (is_end set)
 * instead of one per read: gathered in one buffer the loop reuses (reserved
 * once when Content-Length is known), or passed straight from the read
 * buffer when it all came in one read.
 * Returns SC_OK (also when the body is already complete), or an sc_error. */
int sc_res_collect_body(sc_loop *loop, sc_handle res);
int sc_res_pause(sc_loop *loop, sc_handle res); /* stop reading the socket */
int sc_res_resume(sc_loop *loop, sc_handle res);
int sc_res_close(sc_loop *loop, sc_handle res); /* close the connection now */
/* Status of a handle: 1 open, 0 stale (finished or closed). */
int sc_res_alive(sc_loop *loop, sc_handle res);
/* Remote address: text ("127.0.0.1", "::1", "" for Unix sockets) into buf,
 * returns its length; raw 4 or 16 bytes with sc_res_remote_bytes.  The
 * proxied variants read the PROXY header (empty when none). */
int sc_res_remote_address(sc_loop *loop, sc_handle res, char *buf, size_t cap);
int sc_res_remote_bytes(sc_loop *loop, sc_handle res, char *buf, size_t cap);
/* The peer's port (0 for a Unix socket), or SC_ESTALE. */
int sc_res_remote_port(sc_loop *loop, sc_handle res);
/* The connection of a response as a number no other connection of this loop
 * ever has, bit 0 set while it speaks TLS (sc_res_tls_info(SC_TLS_INFO_VERSION)
 * > 0); 0 for a stale handle.  PERF: one call tells the ASGI adapter the scheme
 * and whether the peer it read for this connection's last request still holds. */
uint64_t sc_res_conn_id(sc_loop *loop, sc_handle res);
int sc_res_proxied_address(sc_loop *loop, sc_handle res, char *buf, size_t cap);
int sc_res_proxied_bytes(sc_loop *loop, sc_handle res, char *buf, size_t cap);

/* ---- in-memory transport (the TestClient and the core's own tests) -------- */

/* A connection with no socket: bytes fed in go through the same parser,
 * callbacks and writer; what the core writes collects in an output buffer.
 * remote_ip is the text address reported by sc_res_remote_address. */
sc_handle sc_mem_open(sc_loop *loop, const char *remote_ip, uint16_t remote_port);
/* Feed bytes as if read from the socket; callbacks run before this returns.
 * Returns SC_OK or SC_ESTALE when the server already closed it. */
int sc_mem_feed(sc_loop *loop, sc_handle conn, const char *data, size_t len);
/* Output written so far: pointer and length; consume n bytes after copying. */
size_t sc_mem_output(sc_loop *loop, sc_handle conn, const char **data);
int sc_mem_consume(sc_loop *loop, sc_handle conn, size_t n);
/* How many bytes the fake socket takes per write (0 = unlimited); lets tests
 * make backpressure. sc_mem_consume makes it writable again. */
int sc_mem_set_capacity(sc_loop *loop, sc_handle conn, size_t cap);
/* 1 while open, 0 after the server closed it (output may remain to read). */
int sc_mem_is_open(sc_loop *loop, sc_handle conn);
/* How many writes the fake socket took so far (what a socket would see as send calls). */
uint64_t sc_mem_writes(sc_loop *loop, sc_handle conn);
/* Play TLS on a memory connection (the TestClient's https): the value
 * sc_res_tls_info(key) reports; setting SC_TLS_INFO_VERSION makes it "secure". */
int sc_mem_set_tls(sc_loop *loop, sc_handle conn, int key, const char *value, size_t len);
/* The client goes away (EOF): aborts a response in flight, frees the slot
 * once the output has been consumed or immediately when discard is 1. */
int sc_mem_close(sc_loop *loop, sc_handle conn, int discard);

/* ---- WebSockets and pub/sub ---------------------------------------------- *
 *
 * A route's WebSocket settings are registered once (sc_ws_behavior_new) and
 * named by the id it returns.  During sc_py_on_request for a WebSocket route,
 * sc_ws_check_request says whether the request is a valid RFC 6455 upgrade.
 * sc_ws_upgrade (then, or later from a task while the response is alive)
 * writes the 101 and switches the connection to WebSocket mode; the handle it
 * stores in *out_ws names the WebSocket until it closes (the same
 * (generation, slot) scheme: every sc_ws_* call on a closed one is a no-op
 * that returns SC_WS_STATUS_DROPPED, SC_ESTALE or 0).  Python runs its open
 * handler itself right after sc_ws_upgrade returns.
 *
 * sc_py_ws_close is called exactly once per WebSocket: when a close frame
 * arrives (the core answers it), when the core fails the connection (1002,
 * 1007, 1009, 1011: a close frame with that code is sent first), when
 * sc_ws_end starts the closing handshake (with its code), or with 1006 when
 * the connection is gone (sc_ws_close, idle timeout, socket error).  From
 * then on the handle is stale.  Subscriptions end just before it. */

/* sc_ws_settings.compression: CompressOptions of the Python API.  Low byte:
 * 0 none, 1 shared compressor, 2..9 dedicated 3KB..256KB; second byte: 0 none
 * (shared when a compressor is set), 1 shared decompressor, 2..8 dedicated
 * 512B..32KB windows. */
#define SC_WSS_CLOSE_ON_BACKPRESSURE 1u /* close instead of dropping past max_backpressure */
#define SC_WSS_RESET_IDLE_ON_SEND 2u    /* sending counts as activity for the idle timeout */
#define SC_WSS_AUTO_PING 4u             /* ping after half the idle timeout without input */
#define SC_WSS_ON_DRAIN 8u              /* call sc_py_ws_drain */
#define SC_WSS_ON_PING 16u              /* call sc_py_ws_ping (the pong is sent anyway) */
#define SC_WSS_ON_PONG 32u              /* call sc_py_ws_pong */
#define SC_WSS_ON_SUBSCRIPTION 64u      /* call sc_py_ws_subscription */

typedef struct sc_ws_settings {
    uint64_t max_payload_length; /* bytes of one message, after inflating (default 16 MiB) */
    uint64_t max_backpressure;   /* buffered bytes past which sends are dropped (0 = no limit) */
    uint32_t idle_timeout_ms;    /* no frame received for this long closes (default 120 s; 0 off) */
    uint32_t max_lifetime_ms;    /* close with 1001 after this long (0 = off) */
    uint32_t compression;        /* see above (default 0: permessage-deflate declined) */
    uint32_t flags;              /* SC_WSS_* (default SC_WSS_AUTO_PING) */
} sc_ws_settings;

void sc_ws_settings_default(sc_ws_settings *s);
/* Register settings for WebSocket routes; returns an id >= 0 or an sc_error. */
int sc_ws_behavior_new(sc_loop *loop, const sc_ws_settings *s);

/* The request in sc_py_on_request: 0 when it is a valid upgrade (GET,
 * HTTP/1.1, Upgrade/Connection, version 13, a good key, no body); 1 when it
 * asks for no WebSocket at all; else the status to refuse it with (400, or
 * 426 meaning "answer with Sec-WebSocket-Version: 13"). */
int sc_ws_check_request(sc_loop *loop);

/* Answer 101 on response res: key is the client's Sec-WebSocket-Key,
 * protocol the subprotocol to accept (the first token of a list is taken;
 * empty: none), extensions the client's Sec-WebSocket-Extensions (negotiated
 * against the behavior's compression), headers extra lines rendered by
 * Python ("Name: value\r\n...").  SC_OK and *out_ws, SC_ESTALE (the response
 * is gone), SC_ESTATE (its head was sent), SC_EINVAL (bad key or behavior). */
int sc_ws_upgrade(sc_loop *loop, sc_handle res, const char *key, size_t key_len,
                  const char *protocol, size_t protocol_len, const char *extensions,
                  size_t extensions_len, const char *headers, size_t headers_len, int behavior,
                  sc_handle *out_ws);

enum sc_ws_send_status {
    SC_WS_STATUS_BACKPRESSURE = 0, /* sent into the buffer; the socket did not take it all */
    SC_WS_STATUS_SUCCESS = 1,
    SC_WS_STATUS_DROPPED = 2 /* closed WebSocket, or past max_backpressure */
};

#define SC_WS_SEND_COMPRESS 1u /* permessage-deflate when negotiated (whole messages only) */
#define SC_WS_SEND_MORE 2u     /* not the last fragment: no FIN */

/* One frame: opcode 1/2 (a message or its first fragment), 0 (a further
 * fragment), 9/10 (ping/pong, at most 125 bytes).  Returns a
 * sc_ws_send_status, or SC_EINVAL (bad opcode or size) / SC_ESTATE
 * (continuation without a fragmented message, or a new message inside one). */
int sc_ws_send(sc_loop *loop, sc_handle ws, uint32_t opcode, const char *data, size_t len,
               uint32_t flags);
/* Closing handshake: send a close frame (code 0 or 1005: no payload), call
 * sc_py_ws_close(code); the connection closes when the client answers (or
 * after a short grace period).  SC_EINVAL for a code that may not be sent. */
int sc_ws_end(sc_loop *loop, sc_handle ws, uint32_t code, const char *reason, size_t reason_len);
/* Close the connection now (sc_py_ws_close gets 1006). */
int sc_ws_close(sc_loop *loop, sc_handle ws);
int sc_ws_cork(sc_loop *loop, sc_handle ws, int on);
size_t sc_ws_buffered(sc_loop *loop, sc_handle ws); /* bytes not yet written; 0 when stale */
int sc_ws_alive(sc_loop *loop, sc_handle ws);       /* 1 open, 0 stale */
int sc_ws_remote_address(sc_loop *loop, sc_handle ws, char *buf, size_t cap);
int sc_ws_remote_bytes(sc_loop *loop, sc_handle ws, char *buf, size_t cap);

/* Topics are any bytes.  1 changed, 0 no change, or an sc_error. */
int sc_ws_subscribe(sc_loop *loop, sc_handle ws, const char *topic, size_t len);
int sc_ws_unsubscribe(sc_loop *loop, sc_handle ws, const char *topic, size_t len);
int sc_ws_is_subscribed(sc_loop *loop, sc_handle ws, const char *topic, size_t len);
uint32_t sc_ws_topic_count(sc_loop *loop, sc_handle ws);
int sc_ws_topic_at(sc_loop *loop, sc_handle ws, uint32_t index, const char **name, size_t *len);
/* Send to every subscriber of topic but `sender` (0: everyone).  The frame is
 * built once (and compressed once with SC_WS_SEND_COMPRESS for subscribers
 * with the shared compressor); subscribers past max_backpressure miss it.
 * Returns how many got it, or an sc_error (SC_ESTALE: sender closed). */
int sc_loop_publish(sc_loop *loop, sc_handle sender, const char *topic, size_t topic_len,
                    const char *data, size_t len, uint32_t opcode, uint32_t flags);
uint32_t sc_loop_num_subscribers(sc_loop *loop, const char *topic, size_t len);
/* on = 1: call sc_py_topic_interest when a topic gains its first subscriber
 * or loses its last one (a pub/sub backend follows local interest); 0: stop. */
int sc_loop_watch_topics(sc_loop *loop, int on);
/* Group calls made outside sc_loop_poll (the messages a pub/sub backend delivers
 * from one read): on = 1 opens a batch, on = 0 closes it, and what the calls
 * wrote leaves then, one write per connection.  Nests; SC_ESTATE when closing
 * a batch that sc_loop_batch did not open. */
int sc_loop_batch(sc_loop *loop, int on);

/* ---- callbacks into Python (extern "Python" in the cffi build) ------------ */

/* A request head is complete: sc_loop_request_view() holds it. */
void sc_py_on_request(uint32_t owner, sc_handle res);
/* A body chunk (sc_loop_event_view: data, len, is_end). */
void sc_py_on_data(uint32_t owner, sc_handle res);
/* The connection closed before the response ended. */
void sc_py_on_aborted(uint32_t owner, sc_handle res);
/* The write buffer drained; offset = sc_res_write_offset.  Return 1 when
 * done writing (stop asking), 0 to keep being called. */
int sc_py_on_writable(uint32_t owner, sc_handle res, uint64_t offset);

/* WebSocket events; payloads (message, close reason, ping/pong data, topic)
 * are in sc_loop_event_view, valid during the callback. */
void sc_py_ws_message(uint32_t owner, sc_handle ws, uint32_t opcode);
void sc_py_ws_close(uint32_t owner, sc_handle ws, uint32_t code);
void sc_py_ws_drain(uint32_t owner, sc_handle ws);
void sc_py_ws_ping(uint32_t owner, sc_handle ws);
void sc_py_ws_pong(uint32_t owner, sc_handle ws);
void sc_py_ws_subscription(uint32_t owner, sc_handle ws, uint32_t new_count, uint32_t old_count);
/* With sc_loop_watch_topics: a topic (in sc_loop_event_view) gained its first
 * local subscriber (active = 1) or lost its last one (active = 0). */
void sc_py_topic_interest(uint32_t owner, uint32_t active);
/* TLS: a client asked for a server name (in sc_loop_event_view) that the SNI
 * table does not have; Python may add it now (sc_tls_add_server_name). */
void sc_py_tls_server_name(uint32_t owner);

#endif
