/* internal.h - the loop and connection structs shared by the core's .c files.
 *
 * Not seen by cffi.  Ownership in one paragraph: the loop owns a slot table of
 * connections; a slot holds one sc_conn until it is freed, and a handle
 * (generation << 24 | slot) names it only while the generation stored in the
 * conn matches.  A connection carries two generations: conn_gen (the
 * connection itself, used by the sc_mem_* calls) and res_gen (the response in
 * flight, used by the sc_res_* calls).  Closing a connection clears both, so
 * every handle Python still holds turns stale at once; the memory is freed at
 * the end of the current batch (a poll or a mem feed), never while a caller
 * up the stack may still hold the pointer.
 *
 * A "batch" is one sc_loop_poll or one sc_mem_feed: output written during it
 * is corked, and connections with output are flushed once when it ends.
 */
#ifndef SC_INTERNAL_H
#define SC_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "http_parser.h"
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

static inline sc_handle sc_make_handle(uint64_t gen, uint32_t slot)
{
    return (gen << SC_SLOT_BITS) | slot;
}

/* ---- byte buffer: live bytes are data[off .. len) ------------------------- */

typedef struct sc_buf {
    char *data;
    size_t off;
    size_t len;
    size_t cap;
} sc_buf;

int sc_buf_reserve(sc_buf *b, size_t extra); /* room for extra bytes after len */
int sc_buf_append(sc_buf *b, const void *p, size_t n);
void sc_buf_consume(sc_buf *b, size_t n);
void sc_buf_free(sc_buf *b);
static inline size_t sc_buf_size(const sc_buf *b)
{
    return b->len - b->off;
}

/* ---- transport ------------------------------------------------------------ */

typedef struct sc_conn sc_conn;

enum sc_transport_kind { SC_T_SOCKET = 0, SC_T_MEMORY = 1 };

/* write: bytes taken (>= 0), SC_EAGAIN-like 0 when none fit, or -1 on a fatal
 * error.  read (sockets only): bytes, 0 on EOF, -1 would block, -2 error. */
typedef struct sc_transport_ops {
    ssize_t (*write)(sc_conn *c, const struct iovec *iov, int iovcnt);
    ssize_t (*read)(sc_conn *c, char *buf, size_t cap);
    void (*close)(sc_conn *c);
} sc_transport_ops;

extern const sc_transport_ops sc_transport_table[2];

/* ---- addresses ------------------------------------------------------------ */

typedef struct sc_addr {
    uint8_t family; /* 0 none, 4, 6, or 1 for a Unix socket */
    uint8_t bytes[16];
    uint16_t port;
    char text[46]; /* INET6_ADDRSTRLEN */
} sc_addr;

void sc_addr_from_sockaddr(sc_addr *a, const void *sa, socklen_t len);
void sc_addr_from_text(sc_addr *a, const char *ip, uint16_t port);

/* ---- connections ---------------------------------------------------------- */

enum sc_phase {
    SC_PH_PROXY = 0, /* waiting for a PROXY header */
    SC_PH_HEAD,      /* waiting for a request head */
    SC_PH_BODY,      /* reading (or discarding) the current request's body */
    SC_PH_WAIT,      /* request read; waiting for its response to end */
    SC_PH_WS         /* upgraded: input goes to websocket.c (loop->ws_hooks) */
};

/* conn->flags */
#define SC_CF_DIRTY 0x1u          /* on the loop's dirty list (flush at batch end) */
#define SC_CF_PENDING 0x2u        /* on the pending list (process buffered input) */
#define SC_CF_CLOSING 0x4u        /* close once the output is flushed */
#define SC_CF_CLOSED 0x8u         /* server side closed; handles are stale */
#define SC_CF_PAUSED 0x10u        /* sc_res_pause: do not read or parse */
#define SC_CF_PROCESSING 0x20u    /* sc_conn_process is on the stack */
#define SC_CF_USER_CORK 0x40u     /* sc_res_cork(1) outside a batch */
#define SC_CF_WANT_WRITABLE 0x80u /* call sc_py_on_writable on drain */
#define SC_CF_EP_IN 0x100u        /* EPOLLIN registered */
#define SC_CF_EP_OUT 0x200u       /* EPOLLOUT registered */
#define SC_CF_MEM_GONE 0x400u     /* memory client called sc_mem_close */
#define SC_CF_DISCARD 0x800u      /* the response ended: drop the rest of the body */
#define SC_CF_FREED_LIST 0x1000u  /* on the graveyard list */
#define SC_CF_UNIX 0x2000u        /* accepted on a Unix socket */
#define SC_CF_BLOCKED 0x4000u     /* the transport refused bytes: wait for writable */
#define SC_CF_BACKLOG 0x8000u     /* next request waits until the output drains */

/* conn->rflags: the response in flight */
#define SC_RF_HEAD_SENT 0x1u  /* status line and headers are out */
#define SC_RF_CHUNKED 0x2u    /* body framed with chunked encoding */
#define SC_RF_NO_BODY 0x4u    /* 1xx/204/304 or SC_W_NO_BODY */
#define SC_RF_HEAD_REQ 0x8u   /* HEAD request: body bytes are counted, not sent */
#define SC_RF_CLOSE 0x10u     /* close the connection after this response */
#define SC_RF_KEEP_ALIVE 0x20u
#define SC_RF_HTTP10 0x40u
#define SC_RF_UNTIL_CLOSE 0x80u /* HTTP/1.0 stream without length: ends by closing */
#define SC_RF_LENGTH 0x100u     /* a Content-Length was sent (by us or in the head) */
#define SC_RF_UPGRADE 0x200u    /* the request asked for an upgrade */
#define SC_RF_DECLARED 0x400u   /* the head carries its own Content-Length (total_size) */

struct sc_conn {
    sc_loop *loop;
    uint32_t slot;
    uint32_t flags;
    uint8_t kind;  /* enum sc_transport_kind */
    uint8_t phase; /* enum sc_phase */
    int fd;
    uint32_t ep_mask; /* events registered with epoll */
    uint64_t conn_gen;
    uint64_t res_gen; /* 0 when no response is in flight */
    uint32_t rflags;
    uint64_t write_offset; /* body bytes accepted for the response in flight */
    uint64_t total_size;   /* Content-Length promised by try_end or the head, else 0 */
    uint64_t body_remaining;
    int body_chunked;
    sc_chunked chunk;
    uint64_t last_active_ms;
    uint64_t head_start_ms; /* 0 unless a partial head is buffered */
    sc_buf in;
    sc_buf out;        /* corked or unsent bytes (backpressure) */
    sc_buf mem_out;    /* memory transport: what the fake socket "sent" */
    size_t mem_cap;    /* memory transport: bytes the fake socket holds (0 = no limit) */
    sc_addr remote;
    sc_addr proxied;
    sc_conn *next_dirty;
    sc_conn *next_pending;
    sc_conn *next_dead;
    struct sc_ws *ws; /* websocket.c's state once upgraded (or being upgraded), else NULL */
};

/* ---- WebSocket hooks ------------------------------------------------------
 *
 * The HTTP core reaches websocket.c only through this table, which
 * sc_ws_behavior_new installs in the loop: so the core links and runs without
 * it (the C unit programs and fuzz targets), and every call site is one test
 * of c->ws, which is NULL until an upgrade. */
typedef struct sc_ws_hooks {
    size_t (*feed)(sc_conn *c, char *buf, size_t len); /* bytes consumed */
    void (*closed)(sc_conn *c);                /* the connection closed (before burial) */
    void (*drained)(sc_conn *c);               /* the output buffer emptied after blocking */
    void (*tick)(sc_conn *c, uint64_t now);    /* timeouts and automatic pings */
    void (*going_away)(sc_conn *c);            /* sc_loop_drain: close with 1001 */
    void (*free_conn)(sc_conn *c);             /* free c->ws */
    void (*free_loop)(sc_loop *loop);          /* free loop->wsl */
} sc_ws_hooks;

/* ---- listeners ------------------------------------------------------------ */

typedef struct sc_listener {
    int fd; /* -1 once closed */
    int is_unix;
    int shared;      /* adopted by sc_listen_fd: other processes accept on it too */
    char *unix_path; /* unlinked on close when it is still ours */
    dev_t dev;
    ino_t ino;
} sc_listener;

/* ---- the loop ------------------------------------------------------------- */

struct sc_loop {
    sc_settings settings;
    sc_http_limits limits;
    uint32_t owner;
    int epfd;
    int timerfd;
    int wakefd;
    int timer_armed;
    int woken;
    uint32_t tick_ms;
    sc_conn **slots;
    uint32_t num_slots; /* slots used so far (high-water mark) */
    uint32_t cap_slots;
    uint32_t *free_slots;
    uint32_t num_free;
    uint32_t num_conns;
    uint64_t next_gen;
    sc_listener *listeners;
    uint32_t num_listeners;
    int batch;    /* depth of batches (poll, mem feed) */
    int in_poll;  /* sc_loop_poll is on the stack */
    int in_feed;  /* sc_mem_feed is on the stack */
    int draining; /* sc_loop_drain was called */
    int accept_paused; /* out of descriptors: listeners off until a tick or a close */
    uint64_t now_ms;
    sc_conn *dirty;
    sc_conn *pending;
    sc_conn *dead;
    char *scratch;
    sc_request req;
    sc_header *headers;
    sc_event event;
    time_t date_sec;
    char date[48]; /* "Date: ...\r\n" */
    size_t date_len;
    const sc_ws_hooks *ws_hooks; /* NULL until a WebSocket behavior is registered */
    struct sc_ws_loop *wsl;      /* websocket.c's per-loop state */
};

/* loop.c */
uint64_t sc_now_ms(void);
sc_conn *sc_conn_new(sc_loop *loop, int kind, int fd);
sc_conn *sc_conn_by_handle(sc_loop *loop, sc_handle h);    /* connection handle */
sc_conn *sc_res_by_handle(sc_loop *loop, sc_handle h);     /* live response handle */
uint64_t sc_next_gen(sc_loop *loop);
void sc_batch_begin(sc_loop *loop);
void sc_batch_end(sc_loop *loop);
void sc_mark_dirty(sc_conn *c);
void sc_mark_pending(sc_conn *c);
int sc_conn_cork(sc_conn *c, int on);
void sc_conn_update_events(sc_conn *c);
void sc_conn_free(sc_conn *c);
void sc_timer_update(sc_loop *loop);
void sc_timer_tick_at_most(sc_loop *loop, uint32_t ms); /* a shorter tick for a new timeout */

/* listen.c */
void sc_listener_accept(sc_loop *loop, uint32_t index);
void sc_listeners_arm(sc_loop *loop, int on);

/* transport.c */
void sc_conn_close(sc_conn *c);         /* now; aborts a response in flight */
void sc_conn_flush(sc_conn *c);         /* write out what is buffered */
ssize_t sc_conn_write_now(sc_conn *c, const char *p, size_t n, int buffer_rest);
void sc_conn_on_drained(sc_conn *c);    /* output buffer became empty */
void sc_conn_on_readable(sc_conn *c);   /* socket readable */
void sc_conn_on_writable_ev(sc_conn *c); /* socket writable */

/* http_conn.c */
void sc_conn_process(sc_conn *c);        /* parse buffered input as far as allowed */
void sc_conn_feed(sc_conn *c, char *buf, size_t len); /* from the scratch buffer */
void sc_conn_send_error(sc_conn *c, int status); /* pre-rendered; closes */
void sc_conn_check_timeouts(sc_conn *c, uint64_t now);
void sc_conn_response_ended(sc_conn *c); /* called by http_response.c */

/* http_response.c */
void sc_date_refresh(sc_loop *loop);
int sc_out_append(sc_conn *c, const void *p, size_t n);

/* proxy.c: > 0 consumed, SC_HTTP_INCOMPLETE, or -400 */
long sc_proxy_parse(sc_conn *c, const char *buf, size_t len);

#endif
