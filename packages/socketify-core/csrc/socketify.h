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
 * Errors are negative return codes from enum sc_error; listen calls return
 * -errno on failure.
 */
#ifndef SOCKETIFY_H
#define SOCKETIFY_H

#include <stddef.h>
#include <stdint.h>

typedef struct sc_loop sc_loop;
typedef uint64_t sc_handle;

enum sc_error {
    SC_OK = 0,
    SC_ESTALE = -1,  /* handle names a closed connection or a finished response */
    SC_EINVAL = -2,  /* bad argument */
    SC_ENOMEM = -3,  /* allocation failed */
    SC_ESTATE = -4,  /* not allowed now (header after body started, ...) */
    SC_EAGAIN = -5,  /* past max_backpressure: the data is buffered, on_writable will fire */
    SC_EIO = -6      /* socket error; the connection is closed */
};

/* Limits and timeouts; sc_settings_default fills the safe defaults. */
typedef struct sc_settings {
    uint32_t max_header_size;   /* request line + headers, bytes (default 16384) -> 431 */
    uint32_t max_headers;       /* header fields (default 100) -> 431 */
    uint32_t max_url_size;      /* request target, bytes (default 8192) -> 414 */
    uint64_t max_body_size;     /* request body, bytes (default 16 MiB; 0 = no body allowed) -> 413 */
    uint32_t idle_timeout_ms;   /* no byte read or written on a connection (default 10000) */
    uint32_t header_timeout_ms; /* a request head must be complete within (default 10000) */
    uint32_t max_backpressure;  /* bytes buffered per connection before SC_EAGAIN (default 16 MiB) */
    uint32_t proxy_protocol;    /* 1: accept a PROXY v1/v2 header first on every connection */
} sc_settings;

void sc_settings_default(sc_settings *s);

/* ---- loop ---------------------------------------------------------------- */

/* owner_id is passed back to every sc_py_* callback so Python finds its App. */
sc_loop *sc_loop_new(const sc_settings *settings, uint32_t owner_id);
void sc_loop_free(sc_loop *loop); /* closes everything, no callbacks */
int sc_loop_fd(sc_loop *loop);    /* the epoll fd to watch for readability */
/* Handle ready events (timeout_ms 0: do not wait) and flush output.
 * Returns the number of events handled, or a negative sc_error. */
int sc_loop_poll(sc_loop *loop, int timeout_ms);
uint32_t sc_loop_num_connections(sc_loop *loop);
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
int sc_listen_unix(sc_loop *loop, const char *path, int flags); /* id >= 0 or -errno */
/* Adopt an already-bound listening fd (workers share a socket). */
int sc_listen_fd(sc_loop *loop, int fd);

/* ---- the request view ----------------------------------------------------- */

typedef struct sc_header {
    const char *name; /* lower-cased */
    uint32_t name_len;
    const char *value; /* surrounding whitespace trimmed */
    uint32_t value_len;
} sc_header;

#define SC_REQ_KEEP_ALIVE 1u  /* the connection stays open after this response */
#define SC_REQ_HAS_BODY 2u    /* Content-Length > 0 or chunked: on_data will follow */
#define SC_REQ_CHUNKED 4u     /* Transfer-Encoding: chunked */
#define SC_REQ_EXPECT_100 8u  /* Expect: 100-continue */
#define SC_REQ_HEAD 16u       /* method is HEAD: the body is not sent */
#define SC_REQ_UPGRADE 32u    /* Connection: upgrade with an Upgrade header */

typedef struct sc_request {
    sc_handle res;           /* the response handle for this request */
    const char *method;      /* as sent */
    uint32_t method_len;
    const char *target;      /* origin-form target: path + "?" + query */
    uint32_t target_len;
    uint32_t path_len;       /* bytes of target before '?' (== target_len without query) */
    uint32_t http_minor;     /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    uint32_t flags;          /* SC_REQ_* */
    uint64_t content_length; /* 0 when absent or chunked */
    uint32_t num_headers;
    sc_header *headers;
} sc_request;

/* The loop's one request view; valid during sc_py_on_request only. */
sc_request *sc_loop_request_view(sc_loop *loop);

/* Body chunks and other event payloads are passed through this struct, again
 * valid only during the callback that announces them. */
typedef struct sc_event {
    const char *data;
    size_t len;
    uint32_t is_end; /* last body chunk */
} sc_event;
sc_event *sc_loop_event_view(sc_loop *loop);

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
#define SC_W_END 1u            /* end the response */
#define SC_W_CLOSE 2u          /* close the connection after this response */
#define SC_W_HAS_LENGTH 4u     /* the head has its own Content-Length: no chunking */
#define SC_W_NO_BODY 8u        /* end without a body (Content-Length: 0 unless the head has one) */

/* Write a chunk (and end it with SC_W_END).  Returns SC_OK (all sent or
 * buffered), SC_EAGAIN when the buffer passes max_backpressure (the data is
 * still buffered; on_writable will fire), or an sc_error. */
int sc_res_write(sc_loop *loop, sc_handle res, const char *head, size_t head_len,
                 const char *body, size_t body_len, uint32_t flags);

/* try_end: send part of a body of total_size bytes (Content-Length:
 * total_size).  Writes what the transport takes now and buffers nothing past
 * that.  Returns a bitmask: 1 = all of body accepted (ok), 2 = response done;
 * or a negative sc_error. */
int sc_res_try_end(sc_loop *loop, sc_handle res, const char *head, size_t head_len,
                   const char *body, size_t body_len, uint64_t total_size, uint32_t flags);
uint64_t sc_res_write_offset(sc_loop *loop, sc_handle res); /* body bytes accepted so far */
int sc_res_override_write_offset(sc_loop *loop, sc_handle res, uint64_t offset);
int sc_res_write_continue(sc_loop *loop, sc_handle res); /* HTTP/1.1 100 Continue */
/* Ask for sc_py_on_writable when the buffer drains (0 = stop asking). */
int sc_res_want_writable(sc_loop *loop, sc_handle res, int on);
/* Cork: output of all calls until uncork leaves in one write.  Inside
 * sc_loop_poll everything is corked already. */
int sc_res_cork(sc_loop *loop, sc_handle res, int on);
int sc_res_pause(sc_loop *loop, sc_handle res);  /* stop reading the socket */
int sc_res_resume(sc_loop *loop, sc_handle res);
int sc_res_close(sc_loop *loop, sc_handle res);  /* close the connection now */
/* Status of a handle: 1 open, 0 stale (finished or closed). */
int sc_res_alive(sc_loop *loop, sc_handle res);
/* Remote address: text ("127.0.0.1", "::1", "" for Unix sockets) into buf,
 * returns its length; raw 4 or 16 bytes with sc_res_remote_bytes.  The
 * proxied variants read the PROXY header (empty when none). */
int sc_res_remote_address(sc_loop *loop, sc_handle res, char *buf, size_t cap);
int sc_res_remote_bytes(sc_loop *loop, sc_handle res, char *buf, size_t cap);
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
/* The client goes away (EOF): aborts a response in flight, frees the slot
 * once the output has been consumed or immediately when discard is 1. */
int sc_mem_close(sc_loop *loop, sc_handle conn, int discard);

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

#endif
