/* core.h - the loop, the connection and the protocol ops, shared by the
 * core's .c files.
 *
 * Not seen by cffi.  Layers, bottom up: the reactor (loop.c, listen.c), a
 * connection's I/O layers (io.h: io.c drives io_socket.c / io_memory.c and
 * any layer pushed above them), then its protocol (c->proto: HTTP/1.1 in
 * http_*.c, WebSocket in ws_*.c).  The lower layers never name the upper
 * ones; tests/c/test_layers.c links them with a stub protocol to prove it.
 *
 * Ownership in one paragraph: the loop owns a slot table of connections; a
 * slot holds one sc_conn until it is freed, and a handle (generation << 24 |
 * slot) names it only while the generation stored in the conn matches.  A
 * connection carries two generations: conn_gen (the connection itself, used
 * by the sc_mem_* and sc_ws_* calls) and c->http.res.gen (the response in
 * flight, used by the sc_res_* calls).  Closing a connection makes every
 * handle Python holds stale at once (SC_CF_CLOSED; the protocol's on_closed
 * clears the response); the memory is freed at the end of the current batch
 * (a poll or a mem feed), never while a caller up the stack may still hold
 * the pointer.
 *
 * A "batch" is one sc_loop_poll or one sc_mem_feed: output written during it
 * is corked, and connections with output are flushed once when it ends.
 */
#ifndef SC_CORE_H
#define SC_CORE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "http_parser.h"
#include "io.h"
#include "shared.h"
#include "socketify.h"

#define SC_SLOT_BITS 24
#define SC_SLOT_MASK ((1u << SC_SLOT_BITS) - 1u)
#define SC_MAX_SLOTS SC_SLOT_MASK /* slot SC_SLOT_MASK is never handed out */
#define SC_SCRATCH_SIZE (64u * 1024u)
#define SC_MAX_EVENTS 256

/* epoll data tags below 1 << 24 (a connection's handle is always above). */
#define SC_TAG_TIMER 1u
#define SC_TAG_WAKE 2u
#define SC_TAG_LISTENER 16u /* + listener index */

/* PERF: for a helper of the hot path that gcc -O2 would keep out of line
 * (it does so for a static inline function with more than one caller). */
#define SC_ALWAYS_INLINE inline __attribute__((always_inline))

static inline sc_handle sc_make_handle(uint64_t gen, uint32_t slot)
{
    return (gen << SC_SLOT_BITS) | slot;
}

/* ---- byte buffer (buf.c): live bytes are data[off .. len) ----------------- */

typedef struct sc_buf {
    char *data;
    size_t off;
    size_t len;
    size_t cap;
} sc_buf;
#define SC_BUF_KEEP (64u * 1024u)    /* an emptied buffer larger than this is freed (buf.c) */
#define SC_BODY_POOL 8u              /* body buffers a loop keeps for reuse ... */
#define SC_BODY_KEEP (1024u * 1024u) /* ... each at most this large (1 MiB) */

int sc_buf_reserve(sc_buf *b, size_t extra); /* room for extra bytes after len */
int sc_buf_append(sc_buf *b, const void *p, size_t n);
void sc_buf_consume(sc_buf *b, size_t n);
void sc_buf_free(sc_buf *b);
static inline size_t sc_buf_size(const sc_buf *b)
{
    return b->len - b->off;
}

/* ---- addresses (addr.c) -------------------------------------------------- */

typedef struct sc_addr {
    uint8_t family; /* 0 none, 4, 6, or 1 for a Unix socket */
    uint8_t bytes[16];
    uint16_t port;
    char text[46]; /* INET6_ADDRSTRLEN */
} sc_addr;

void sc_addr_from_sockaddr(sc_addr *a, const void *sa, socklen_t len);
/* family 4 or 6, ip its 4 or 16 bytes in network order (any alignment), port in
 * host order; an IPv4-mapped IPv6 address is kept as IPv4. */
void sc_addr_from_ip(sc_addr *a, int family, const void *ip, uint16_t port);
void sc_addr_from_text(sc_addr *a, const char *ip, uint16_t port);
int sc_addr_text(const sc_addr *a, char *buf, size_t cap);  /* length, or SC_EINVAL */
int sc_addr_bytes(const sc_addr *a, char *buf, size_t cap); /* 0, 4 or 16, or SC_EINVAL */

/* ---- protocol ops ----------------------------------------------------------
 *
 * What runs above a connection's I/O layers.  loop.c, listen.c and io*.c
 * reach the protocol only through c->proto; HTTP/1.1 (sc_http_proto,
 * http_conn.c) is every connection's first protocol, and an upgrade swaps
 * in the WebSocket protocol (ws_conn.c, installed in loop->ws_proto by
 * sc_ws_behavior_new, so the HTTP core links and runs without it). */
typedef struct sc_proto_ops {
    const char *name;
    void (*on_open)(sc_conn *c); /* a new connection: set up this protocol's part */
    /* Plaintext from the I/O layers: returns the bytes consumed; the rest is
     * kept in c->io.in and offered again.  *len may shrink (chunked bodies are
     * decoded in place).  When the protocol swapped c->proto, io.c offers the
     * rest to the new one. */
    size_t (*on_data)(sc_conn *c, char *buf, size_t *len);
    void (*on_tick)(sc_conn *c, uint64_t now); /* timeouts, automatic pings */
    void (*on_writable)(sc_conn *c);           /* the output drained after blocking */
    void (*on_closed)(sc_conn *c);             /* server side just closed (not yet buried) */
    void (*on_going_away)(sc_conn *c);         /* sc_loop_drain */
    void (*release)(sc_conn *c);               /* the connection is freed */
} sc_proto_ops;

extern const sc_proto_ops sc_http_proto; /* http_conn.c */

/* ---- connections -----------------------------------------------------------
 *
 * An sc_conn is split by layer; each part has one owning file, which is the
 * only one that writes it (others read, or call the owner's functions):
 *   the core part (the fields directly in sc_conn)   loop.c + io.c
 *   c->io    the I/O layer stack and its buffers     io.c (io_socket.c and
 *            io_memory.c are the layers below it; they keep their own state)
 *   c->http  the HTTP/1.1 exchange in progress       http_conn.c (request side;
 *            it starts each response) and http_response.c (c->http.res after)
 *   c->ws    the WebSocket once upgraded             ws_conn.c, ws_api.c
 */

/* c->flags: the core's connection state (loop.c and io.c write it; the
 * protocol files use the io.c calls named here). */
#define SC_CF_DIRTY 0x1u          /* on the loop's dirty list (flush at batch end) */
#define SC_CF_PENDING 0x2u        /* on the pending list (process buffered input) */
#define SC_CF_CLOSING 0x4u        /* close once the output is flushed: sc_conn_close_after_flush */
#define SC_CF_CLOSED 0x8u         /* server side closed; handles are stale */
#define SC_CF_PAUSED 0x10u        /* sc_conn_pause: do not read or parse */
#define SC_CF_PROCESSING 0x20u    /* the protocol's on_data is on the stack */
#define SC_CF_USER_CORK 0x40u     /* sc_conn_cork(1) outside a batch */
#define SC_CF_WANT_WRITABLE 0x80u /* the protocol wants on_writable: sc_conn_want_writable */
#define SC_CF_FREED_LIST 0x100u   /* on the graveyard list */
#define SC_CF_BLOCKED 0x200u      /* the I/O layers refused bytes: wait for writable */
#define SC_CF_BACKLOG 0x400u      /* input waits until the output drains: sc_conn_backlog */
#define SC_CF_HAS_FD 0x800u       /* the bottom layer holds a descriptor (accept accounting) */
#define SC_CF_DRAIN_DUE 0x1000u   /* output wanted (WANT_WRITABLE) drained: on_writable next */
#define SC_CF_LINGER 0x2000u /* close after flush with a lingering close: sc_conn_close_lingering */
#define SC_CF_LINGERING 0x4000u /* sending side shut down: input is read and dropped, then closed */
#define SC_CF_FILE 0x8000u      /* a file segment is queued (c->io.file): sc_conn_queue_file */

/* The I/O part (io.c). */
typedef struct sc_conn_io {
    sc_io *top;       /* where writes go in and reads come out */
    sc_io *bottom;    /* socket or memory, in the connection's own allocation */
    int fd;           /* the descriptor loop.c watches, -1 for none */
    uint32_t ep_mask; /* events registered with epoll (loop.c) */
    uint64_t last_active_ms;
    sc_buf in;  /* plaintext not yet consumed by the protocol */
    sc_buf out; /* corked or unsent bytes (backpressure) */
    /* A frame shared with other connections (a publish), sent BEFORE out: it is
     * only queued when out is empty, and what comes later goes to out. */
    sc_shared_msg *shared;
    size_t shared_off; /* bytes of it already sent */
    /* A file segment (SC_CF_FILE), sent AFTER the shared frame and the first
     * `before` bytes of out: bytes appended to out once it is queued wait for
     * it.  The descriptor is the connection's: closed when the segment is out,
     * or when the connection closes (sc_conn_queue_file, io.c). */
    struct {
        int fd;
        uint64_t off;  /* next byte of the file to send */
        uint64_t left; /* bytes of the file still to send */
        size_t before; /* bytes at the head of out that precede the file */
    } file;
    size_t backlog_below;     /* SC_CF_BACKLOG: input resumes once out is at most this */
    uint64_t linger_until_ms; /* SC_CF_LINGERING: closed at this time ... */
    uint64_t linger_left;     /* ... or once this many more bytes arrived, or at EOF */
    sc_addr remote;
} sc_conn_io;

enum sc_phase {
    SC_PH_PROXY = 0, /* waiting for a PROXY header */
    SC_PH_HEAD,      /* waiting for a request head */
    SC_PH_BODY,      /* reading (or discarding) the current request's body */
    SC_PH_WAIT,      /* request read; waiting for its response to end */
    SC_PH_UPGRADED   /* the 101 ended: c->proto is the WebSocket's now */
};

/* c->http.res.flags: the response in flight */
#define SC_RF_HEAD_SENT 0x1u /* status line and headers are out */
#define SC_RF_CHUNKED 0x2u   /* body framed with chunked encoding */
#define SC_RF_NO_BODY 0x4u   /* 1xx/204/304 or SC_W_NO_BODY */
#define SC_RF_HEAD_REQ 0x8u  /* HEAD request: body bytes are counted, not sent */
#define SC_RF_CLOSE 0x10u    /* close the connection after this response */
#define SC_RF_KEEP_ALIVE 0x20u
#define SC_RF_HTTP10 0x40u
#define SC_RF_UNTIL_CLOSE 0x80u /* HTTP/1.0 stream without length: ends by closing */
#define SC_RF_LENGTH 0x100u     /* a Content-Length was sent (by us or in the head) */
#define SC_RF_UPGRADE 0x200u    /* the request asked for an upgrade */
#define SC_RF_DECLARED 0x400u   /* the head carries its own Content-Length (total_size) */

/* The HTTP part (http_conn.c; res by http_response.c). */
typedef struct sc_conn_http {
    uint8_t phase;   /* enum sc_phase */
    uint8_t discard; /* the response ended: drop the rest of the body */
    int body_chunked;
    uint64_t body_remaining;
    uint8_t collect; /* sc_res_collect_body: the rest of the body arrives as one chunk */
    sc_buf body;     /* ... gathered here when it spans reads (from the loop's pool) */
    sc_chunked chunk;
    uint64_t head_start_ms; /* 0 unless a partial head is buffered */
    uint64_t started_us;    /* the request in flight was dispatched (latency), 0: none */
    sc_addr proxied;        /* from a PROXY header (http_proxy.c) */
    struct {
        uint64_t gen; /* 0 when no response is in flight */
        uint32_t flags;
        uint64_t write_offset; /* body bytes accepted for the response in flight */
        uint64_t total_size;   /* Content-Length promised by try_end or the head, else 0 */
    } res;
} sc_conn_http;

struct sc_conn {
    sc_loop *loop;
    const sc_proto_ops *proto;
    uint32_t slot;
    uint32_t flags;
    uint64_t conn_gen;
    sc_conn *next_dirty;
    sc_conn *next_pending;
    sc_conn *next_dead;
    sc_conn_io io;
    sc_conn_http http;
    struct sc_ws *ws; /* ws_conn.c's state once upgraded (or being upgraded), else NULL */
};

/* ---- listeners ------------------------------------------------------------ */

typedef struct sc_listener {
    int fd; /* -1 once closed */
    int is_unix;
    int shared;      /* adopted by sc_listen_fd: other processes accept on it too */
    int watched;     /* registered with the loop's epoll */
    char *unix_path; /* unlinked on close when it is still ours */
    dev_t dev;
    ino_t ino;
    struct sc_tls *tls; /* sc_listen_set_tls: its connections get a TLS layer (a reference) */
} sc_listener;

/* Microseconds on the monotonic clock (request latency). */
static inline uint64_t sc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the loop ------------------------------------------------------------- */

/* The core has no lock: every call that changes a connection must come from
 * the thread driving the loop (sc_loop_poll / the memory transport's calls
 * set it).  Entry points that mutate return SC_ETHREAD from any other thread,
 * and Python says to use loop.call_soon_threadsafe. */
#define SC_ON_LOOP_THREAD(loop)                                                                    \
    do {                                                                                           \
        if (__builtin_expect((loop) && !pthread_equal((loop)->thread, pthread_self()), 0))         \
            return SC_ETHREAD;                                                                     \
    } while (0)

struct sc_loop {
    sc_settings settings;
    pthread_t thread;       /* the thread driving the loop: creator, then whoever polls or feeds */
    uint64_t budget_closed; /* connections closed by max_buffered_bytes */
    sc_stats stats;         /* sc_loop_stats: counters the protocols and io.c keep */
    uint32_t owner;
    int epfd;
    int timerfd;
    int wakefd;
    int timer_armed;
    int woken;
    uint32_t tick_ms;
    size_t max_held_input; /* unconsumed input per connection before reading stops */
    sc_conn **slots;
    uint32_t num_slots; /* slots used so far (high-water mark) */
    uint32_t cap_slots;
    uint32_t *free_slots;
    uint32_t num_free;
    uint32_t num_conns;
    uint64_t next_gen;
    sc_listener *listeners;
    uint32_t num_listeners;
    int batch;         /* depth of batches (poll, mem feed) */
    int in_poll;       /* sc_loop_poll is on the stack */
    int in_feed;       /* sc_mem_feed is on the stack */
    int draining;      /* sc_loop_drain was called */
    int accept_paused; /* out of descriptors: listeners off until a tick or a close */
    uint64_t now_ms;
    sc_conn *dirty;
    sc_conn *pending;
    sc_conn *dead;
    const sc_proto_ops *proto; /* every new connection's protocol (sc_loop_create) */
    int always_tick;           /* a protocol has its own timeouts (WebSocket) */
    char *scratch;             /* where reads land when a connection holds no input */
    size_t scratch_size;       /* SC_SCRATCH_SIZE, or what sc_loop_set_read_buffer gave */
    int scratch_lent;          /* sc_loop_set_read_buffer's: the caller frees it */
    char *file_buf; /* pieces of files read for a layer that is not a plain socket (io.c) */
    sc_event event; /* what a body chunk or WebSocket callback announces */
    /* The HTTP part: set up by sc_loop_new (http_conn.c), the Date cache kept
     * by http_response.c; a loop made by sc_loop_create alone leaves it empty. */
    struct {
        sc_http_limits limits;
        sc_request req;     /* the view Python reads during on_request */
        sc_header *headers; /* max_headers + 1 entries (freed with the loop) */
        /* emptied body buffers (sc_res_collect_body) kept for the next
         * requests, each at most SC_BODY_KEEP bytes (http_conn.c) */
        sc_buf body_pool[SC_BODY_POOL];
        uint32_t body_pool_len;
        time_t date_sec;
        char date[48]; /* "Date: ...\r\n" */
        size_t date_len;
    } http;
    int py_batches;                  /* batches Python opened with sc_loop_batch */
    int watch_topics;                /* sc_loop_watch_topics: call sc_py_topic_interest */
    struct sc_ws_loop *wsl;          /* ws_conn.c's per-loop state, NULL until a behavior */
    void (*wsl_free)(sc_loop *loop); /* ws_conn.c: frees wsl with the loop */
};

/* The connection in the slot that h names (or NULL), with h's generation in *gen for
 * the caller to check against what h stands for: the connection or its response.
 * Generation 0 is never handed out.  PERF: inlined into both checks, one per call. */
static SC_ALWAYS_INLINE sc_conn *sc_handle_slot(sc_loop *loop, sc_handle h, uint64_t *gen)
{
    uint32_t slot = (uint32_t)(h & SC_SLOT_MASK);
    *gen = h >> SC_SLOT_BITS;
    if (!loop || *gen == 0 || slot >= loop->num_slots)
        return NULL;
    return loop->slots[slot];
}

/* loop.c: the slot table, batches, timers */
sc_loop *sc_loop_create(const sc_settings *settings, uint32_t owner_id,
                        const sc_proto_ops *proto); /* every new connection's protocol */
uint64_t sc_now_ms(void);
sc_conn *sc_conn_new(sc_loop *loop, const sc_io_ops *bottom, size_t bottom_size, int fd);
sc_conn *sc_conn_by_handle(sc_loop *loop, sc_handle h); /* connection handle */
uint64_t sc_next_gen(sc_loop *loop);
void sc_batch_begin(sc_loop *loop);
void sc_batch_end(sc_loop *loop);
void sc_mark_dirty(sc_conn *c);
void sc_mark_pending(sc_conn *c);
void sc_conn_update_events(sc_conn *c);
int sc_conn_watch(sc_conn *c);    /* register c->io.fd with epoll (EPOLLIN) */
void sc_conn_abandon(sc_conn *c); /* free a connection nobody has seen yet */
void sc_conn_free(sc_conn *c);
void sc_timer_update(sc_loop *loop);
void sc_timer_tick_at_most(sc_loop *loop, uint32_t ms); /* a shorter tick for a new timeout */

/* listen.c */
void sc_listener_accept(sc_loop *loop, uint32_t index);
void sc_listeners_arm(sc_loop *loop, int on);

/* io.c: the connection's I/O engine (every path through c->io.top) */
void sc_conn_close(sc_conn *c);             /* now; the protocol hears on_closed */
void sc_conn_close_after_flush(sc_conn *c); /* once the output is out */
void sc_conn_flush(sc_conn *c);             /* write out what is buffered */
ssize_t sc_conn_write_now(sc_conn *c, const char *p, size_t n, int buffer_rest);
int sc_out_append(sc_conn *c, const void *p, size_t n); /* corked until the batch ends */
/* Queue m by reference when nothing waits (else copy it into out). */
int sc_out_append_shared(sc_conn *c, sc_shared_msg *m);
/* Queue the file segment fd[off .. off+count) after what is queued now; the
 * connection owns fd from here on, whatever the result (closed once sent, on
 * close, or here on error).  SC_OK, or SC_ESTATE when a file is queued
 * already.  The protocol hears on_writable when everything queued up to and
 * including the file has left and it asked (sc_conn_want_writable). */
int sc_conn_queue_file(sc_conn *c, int fd, uint64_t off, uint64_t count);
/* Bytes of the queued shared frame not written yet. */
static inline size_t sc_conn_shared_left(const sc_conn *c)
{
    return c->io.shared ? c->io.shared->len - c->io.shared_off : 0;
}
/* Bytes queued on the connection and not written yet: out, a shared frame and
 * the rest of a file segment. */
static inline size_t sc_conn_pending(const sc_conn *c)
{
    size_t n = sc_buf_size(&c->io.out) + sc_conn_shared_left(c);
    if (__builtin_expect((c->flags & SC_CF_FILE) != 0, 0))
        n += c->io.file.left > SIZE_MAX - n ? SIZE_MAX - n : (size_t)c->io.file.left;
    return n;
}
int sc_conn_cork(sc_conn *c, int on);
void sc_conn_touch(sc_conn *c);         /* restart the idle clock */
void sc_conn_pause(sc_conn *c, int on); /* stop / restart reading and parsing */
/* Input waits until the output has drained to resume_below bytes (a client
 * that sends but does not read answers: HTTP pipelining, WebSocket pings). */
void sc_conn_backlog(sc_conn *c, size_t resume_below);
/* Close after the output is flushed, lingering: the sending side is shut
 * down and input is read and dropped (bounded by lingering_timeout_ms and
 * max_lingering_bytes) so the client reads the answer instead of a reset
 * when it was still sending (an early 413, a handler's end_connection). */
void sc_conn_close_lingering(sc_conn *c);
void sc_conn_linger_tick(sc_conn *c, uint64_t now); /* loop.c: the time bound */
void sc_conn_on_readable(sc_conn *c);               /* the reactor: descriptor readable */
void sc_conn_on_writable_ev(sc_conn *c);            /* the reactor (or memory client): writable */
void sc_conn_process(sc_conn *c);                   /* offer buffered input to the protocol */
void sc_conn_resume_input(sc_conn *c); /* the pending list: buffered, then held input */
void sc_conn_feed(sc_conn *c, char *buf, size_t len); /* offer buf, keep what is left */
uint32_t sc_io_stack_wants(sc_conn *c);               /* SC_IO_WANT_* of the layers */
void sc_io_release(sc_conn *c);                       /* the connection is being freed */

/* io_socket.c: a connection over an accepted descriptor */
sc_conn *sc_io_socket_open(sc_loop *loop, int fd, const sc_addr *remote);

/* PERF: the two flag changes of every response, inline.  The protocol wants
 * on_writable once the output drains (the reactor watches for it only while
 * this is set), or no longer. */
static inline void sc_conn_want_writable(sc_conn *c, int on)
{
    if (on)
        c->flags |= SC_CF_WANT_WRITABLE;
    else
        c->flags &= ~SC_CF_WANT_WRITABLE;
}

/* A response or message ended: the cork set for it is released (inside the
 * batch that ends it, so what it wrote leaves when the batch does). */
static inline void sc_conn_end_cork(sc_conn *c)
{
    c->flags &= ~SC_CF_USER_CORK;
}

/* Room for n bytes at the end of c->io.out, written in place and then
 * committed (n or fewer); NULL when out of memory.  PERF: inline, the
 * response head and WebSocket frames are rendered straight into the buffer. */
static inline char *sc_out_reserve(sc_conn *c, size_t n)
{
    if (sc_buf_reserve(&c->io.out, n) < 0)
        return NULL;
    return c->io.out.data + c->io.out.len;
}

static inline void sc_out_commit(sc_conn *c, size_t n)
{
    c->io.out.len += n;
    sc_mark_dirty(c);
}

/* http_conn.c */
void sc_http_send_error(sc_conn *c, int status);             /* pre-rendered; closes */
void sc_http_response_ended(sc_conn *c);                     /* called by http_response.c */
void sc_http_upgraded(sc_conn *c, const sc_proto_ops *next); /* the 101 is queued */

/* http_response.c */
void sc_date_refresh(sc_loop *loop);
sc_conn *sc_res_by_handle(sc_loop *loop, sc_handle h); /* live response handle */

/* http_proxy.c: > 0 consumed, SC_HTTP_INCOMPLETE, or -400 */
long sc_proxy_parse(sc_conn *c, const char *buf, size_t len);

#endif
