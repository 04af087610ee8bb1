/* io.h - the I/O layers of a connection: a stack of byte movers.
 *
 * Theory of operation
 * -------------------
 * A connection's bytes pass through a stack of I/O layers (sc_io).  The
 * bottom layer moves bytes to and from the outside world: io_socket.c (a
 * non-blocking socket) or io_memory.c (the in-memory transport that
 * sc_mem_feed / sc_mem_output drive).  Layers pushed above it transform the
 * bytes on their way (TLS: io_tls.c, over either bottom).  The protocol
 * above the stack (HTTP/1.1, WebSocket: c->proto, see core.h) only ever sees
 * plaintext and never knows which layers are below.
 *
 *     protocol (c->proto)      on_data(plaintext) / sc_out_append, try_end...
 *        |  io.c: sc_conn_write_now, sc_conn_on_readable, sc_conn_close
 *     c->io.top ---> [ TLS ]   write: encrypt, push down; read: pull, decrypt
 *                       |lower
 *     c->io.bottom -> [ socket | memory ]
 *
 * Each layer is a struct whose FIRST member is an sc_io (so a layer casts
 * its sc_io * back to its own type) followed by its own state, which no
 * other file touches.  The connection (io.c) holds the top and bottom of
 * the stack and calls only the top; a layer calls only the layer below it,
 * through its `lower` pointer and the sc_io_* helpers below.
 *
 * The operations (every one gets the layer's own sc_io *):
 *
 *   read(io, buf, cap)  Plaintext for the layer above: > 0 bytes stored in
 *                       buf, 0 the peer ended the stream (EOF / close_notify),
 *                       SC_IO_AGAIN nothing now, SC_IO_ERROR fatal.  A layer
 *                       that needs bytes from below reads its lower layer; a
 *                       handshake-like layer (TLS) drives its handshake from
 *                       here and returns SC_IO_AGAIN until application data
 *                       is available.  The memory bottom returns SC_IO_AGAIN
 *                       when nothing was fed (see "memory" below).
 *   write(io, iov, cnt) Bytes from the layer above: returns how many it took
 *                       (0..total, possibly a prefix of the iovecs) or
 *                       SC_IO_ERROR.  What a layer takes is its own business
 *                       from then on: a TLS layer that encrypted a record but
 *                       could not push all of it down keeps the rest in its
 *                       own buffer and reports SC_IO_WANT_WRITE from wants().
 *                       Taking 0 is backpressure: the connection keeps the
 *                       bytes (c->io.out) and waits for writability.
 *   flush(io)           Push the layer's own buffered bytes to the layer
 *                       below: 0 nothing held anymore, 1 bytes still held,
 *                       SC_IO_ERROR fatal.  NULL for layers with no buffer
 *                       (socket, memory).  The connection flushes the stack
 *                       top-down before it writes new bytes and whenever the
 *                       bottom becomes writable.
 *   wants(io)           What the layer waits for beyond the connection's own
 *                       needs: SC_IO_WANT_READ and/or SC_IO_WANT_WRITE (e.g.
 *                       TLS mid-handshake must write even though the protocol
 *                       has nothing to send; or it holds unsent ciphertext).
 *                       NULL = 0.  The connection ORs the wants of the stack
 *                       into what it asks the reactor for (EPOLLIN/EPOLLOUT);
 *                       a layer whose answer changed outside a read or write
 *                       call says so with sc_io_wants_changed(c).
 *                       SC_IO_HAS_DATA: the layer holds plaintext it can
 *                       return without the layer below (TLS decrypted more
 *                       than the last read's cap).  The reactor is level-
 *                       triggered on the descriptor, which may not signal
 *                       again, so the connection reads again at once while
 *                       the top says so (and after the protocol resumes).
 *   close(io)           The server side closes: send what must be sent (TLS
 *                       close_notify, best effort, never blocking) and stop.
 *                       Called top-down, each layer once.  The bottom's close
 *                       returns 1 when the connection may be freed at the end
 *                       of the batch, 0 when the bottom keeps it (memory: its
 *                       client may still read the output; the memory layer
 *                       frees it itself with sc_conn_bury once read/closed).
 *   release(io)         Free everything the layer holds except the sc_io
 *                       struct itself (buffers, SSL objects, descriptors).
 *                       Called once, top-down, when the connection is freed.
 *   tick(io, now)       The loop's timer: a layer's own deadlines (the TLS
 *                       handshake timeout).  NULL for most layers.
 *   info(io, key, ...)  Facts about the connection that only a layer knows
 *                       (TLS version, cipher, ALPN, server name, the peer's
 *                       certificate), asked top-down by sc_io_info (io.c);
 *                       the memory bottom answers with what its client set
 *                       (sc_mem_set_tls), so the TestClient can play TLS.
 *
 * Pushing a layer: allocate the layer's struct (malloc/calloc; the
 * connection free()s it after release), then sc_io_push(c, &layer->io,
 * &ops): it becomes the new top, its `lower` is the old top.  A layer is
 * pushed before the first byte is read (TLS: right after accept, by
 * whoever decided the listener is TLS) - pushing later is the caller's
 * responsibility to do at a byte boundary.  The bottom layer lives in the
 * connection's own allocation (sc_conn_new(loop, &ops, size, fd)), so
 * a plain socket connection costs no extra malloc.  Layers never touch the
 * reactor: the descriptor it watches is c->io.fd (the socket bottom's, -1
 * for memory), registered and re-armed by loop.c only.  A TLS listener
 * would push its layer in sc_listener_accept (listen.c) right after
 * sc_conn_new, before the connection is first read.
 *
 * Reading flows upward: the reactor says the descriptor is readable ->
 * sc_conn_on_readable (io.c) -> top->read -> ... -> bottom->read; the
 * plaintext goes to c->proto->on_data.  Writing flows downward:
 * sc_conn_write_now -> top->write -> ... -> bottom->write.  Memory: bytes
 * fed with sc_mem_feed go straight to the protocol when the memory layer is
 * the top (nothing to transform: no extra copy); with a layer above it they
 * are queued in the memory layer and read through the stack like a socket's.
 */
#ifndef SC_IO_H
#define SC_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct sc_conn sc_conn;
typedef struct sc_io sc_io;

#define SC_IO_AGAIN (-1) /* read: nothing now */
#define SC_IO_ERROR (-2) /* read/write/flush: fatal, the connection closes */

#define SC_IO_WANT_READ 0x1u
#define SC_IO_WANT_WRITE 0x2u
#define SC_IO_HAS_DATA 0x4u /* plaintext ready: read me again now */

typedef struct sc_io_ops {
    const char *name; /* "socket", "memory", "tls": for messages and tests */
    ssize_t (*read)(sc_io *io, char *buf, size_t cap);
    ssize_t (*write)(sc_io *io, const struct iovec *iov, int iovcnt);
    int (*flush)(sc_io *io);      /* may be NULL */
    uint32_t (*wants)(sc_io *io); /* may be NULL */
    int (*close)(sc_io *io);      /* bottom: 1 free at batch end, 0 the layer keeps it */
    void (*release)(sc_io *io);   /* may be NULL */
    /* The loop's timer tick (loop.c, every connection whose stack has layers
     * above the bottom): a layer's own deadlines, e.g. the TLS handshake
     * timeout.  May close the connection.  May be NULL. */
    void (*tick)(sc_io *io, uint64_t now_ms);
    /* What the layer knows about the connection (SC_TLS_INFO_* keys of
     * socketify.h): the value's full length with min(length, cap) bytes copied
     * into buf, 0 known to be absent, -1 not this layer's business (ask the
     * layer below).  May be NULL (= -1). */
    ssize_t (*info)(sc_io *io, int key, char *buf, size_t cap);
} sc_io_ops;

struct sc_io {
    const sc_io_ops *ops;
    sc_io *lower; /* NULL for the bottom layer */
    sc_conn *conn;
};

/* A layer's calls to the layer below it. */
static inline ssize_t sc_io_read(sc_io *io, char *buf, size_t cap)
{
    return io->ops->read(io, buf, cap);
}

static inline ssize_t sc_io_write(sc_io *io, const struct iovec *iov, int iovcnt)
{
    return io->ops->write(io, iov, iovcnt);
}

/* io.c */
void sc_io_push(sc_conn *c, sc_io *layer, const sc_io_ops *ops); /* new top */
void sc_io_wants_changed(sc_conn *c);                            /* re-ask the reactor for events */
void sc_conn_bury(sc_conn *c);                                   /* free at the end of the batch */
/* Ask the stack top-down (io->ops->info): length >= 0 as info() says, 0 when no layer knows. */
ssize_t sc_io_info(sc_conn *c, int key, char *buf, size_t cap);
void sc_io_tick(sc_conn *c, uint64_t now_ms); /* the tick of every layer above the bottom */

/* io_socket.c / io_memory.c: the two bottoms */
extern const sc_io_ops sc_io_socket_ops;
extern const sc_io_ops sc_io_memory_ops;

/* io_tls.c: push a TLS server layer on a new connection (before its first
 * read); the listener's TLS setup is `tls` (struct sc_tls, socketify.h).
 * Returns 0, or -1 when out of memory (the connection is then closed by the
 * caller). */
struct sc_tls;
int sc_io_tls_push(sc_conn *c, struct sc_tls *tls);
void sc_tls_ref(struct sc_tls *tls);
uint32_t sc_tls_handshake_timeout(struct sc_tls *tls); /* ms, 0 = none */
/* Called during a handshake for a server name the SNI table lacks; it may add it. */
typedef void (*sc_tls_ask_fn)(sc_conn *c, const char *name);
void sc_tls_set_ask(struct sc_tls *tls, sc_tls_ask_fn ask);

#endif
