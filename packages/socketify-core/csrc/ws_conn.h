/* ws_conn.h - the WebSocket part of a connection (c->ws) and of the loop
 * (loop->wsl), shared by ws_conn.c (the protocol) and ws_api.c (Python's
 * calls); no other file touches them.
 *
 * Internal to the core (not seen by cffi).  A connection becomes a WebSocket
 * when sc_ws_upgrade attaches an sc_ws to it and queues the 101:
 * sc_http_upgraded then makes the WebSocket protocol its c->proto, and its
 * input goes to sc_ws_feed.  Its handle is the connection handle.
 *
 * Life of an sc_ws, in two bits:
 *   told        Python got sc_py_ws_close: the handle is stale for every call
 *   sent_close  our close frame is queued: no more data frames go out, and
 *               the connection closes when the client's close frame arrives
 *               or the grace period (SC_WS_CLOSE_GRACE_MS) ends
 * Subscriptions end just before Python is told.
 */
#ifndef SC_WEBSOCKET_H
#define SC_WEBSOCKET_H

#include "core.h"
#include "topics.h"
#include "ws_deflate.h"
#include "ws_frame.h"
#include "ws_handshake.h"

#define SC_WS_CLOSE_GRACE_MS 2000u   /* wait this long for the client's close frame */
#define SC_WS_MSG_KEEP (64u * 1024u) /* a message buffer larger than this is freed */

enum { SC_WZ_NONE = 0, SC_WZ_SHARED = 1, SC_WZ_DEDICATED = 2 };

typedef struct sc_ws_behavior {
    sc_ws_settings s;
    sc_ws_deflate_config zcfg;
    uint8_t compressor;   /* SC_WZ_*: how we compress what we send */
    uint8_t decompressor; /* SC_WZ_*: how we inflate what we receive */
    uint8_t zwindow;      /* dedicated compressor: window bits */
    uint8_t zmem;         /* dedicated compressor: zlib memLevel */
} sc_ws_behavior;

typedef struct sc_ws {
    sc_ws_parser parser;
    uint32_t behavior;
    uint8_t told;
    uint8_t sent_close;
    uint8_t compress;  /* SC_WZ_* for sending on this connection (negotiated) */
    uint8_t frag_out;  /* we are sending a fragmented message */
    uint8_t ping_sent; /* automatic ping out, no input since */
    uint8_t pong_due;  /* a pong waits for the output to drain (pong holds its payload) */
    uint8_t pong_len;
    uint8_t pong[125]; /* the latest ping's payload: RFC 6455 5.5.3 lets us answer only it */
    uint64_t last_active_ms;
    uint64_t opened_ms;
    uint64_t close_deadline_ms;
    sc_ws_buf msg;      /* fragments of a message, or its inflated bytes */
    sc_ws_deflater *zd; /* dedicated compressor */
    sc_ws_inflater *zi; /* dedicated decompressor; NULL: the loop's shared one */
} sc_ws;

struct sc_ws_loop {
    sc_ws_behavior *behaviors;
    uint32_t num_behaviors;
    sc_pubsub *ps;           /* created with the first subscription */
    sc_ws_deflater *zshared; /* the shared compressor (15-bit window, no context) */
    sc_ws_inflater *ishared; /* the shared decompressor (whole messages) */
    sc_ws_buf zbuf;          /* compressed output of one message */
    sc_ws_buf ibuf;          /* inflated output of the shared decompressor */
    sc_ws_buf frame;         /* a published frame */
    uint64_t *ids;           /* subscribers collected by a publish */
    uint32_t ids_cap;
};

static inline sc_handle sc_ws_handle(const sc_conn *c)
{
    return sc_make_handle(c->conn_gen, c->slot);
}

static inline const sc_ws_behavior *sc_ws_behavior_of(const sc_conn *c)
{
    return &c->loop->wsl->behaviors[c->ws->behavior];
}

/* ws_conn.c */
void sc_ws_tell_closed(sc_conn *c, uint32_t code, const char *reason, size_t reason_len);

/* ws_api.c */
sc_conn *sc_ws_conn(sc_loop *loop, sc_handle ws); /* open for Python, else NULL */
int sc_ws_put_frame(sc_conn *c, unsigned opcode, uint32_t wire_flags, const void *data, size_t len);
void sc_ws_send_close(sc_conn *c, uint32_t code, const char *reason, size_t reason_len);
sc_pubsub *sc_ws_pubsub(sc_loop *loop); /* NULL when out of memory */

#endif
