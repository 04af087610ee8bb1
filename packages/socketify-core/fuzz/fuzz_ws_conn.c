/* fuzz_ws_conn.c - libFuzzer target for a whole WebSocket connection.
 *
 * The loop, the memory transport, the HTTP layer and the WebSocket layers together,
 * as fuzz_http_conn.c does for HTTP: a client connection is upgraded (with or
 * without permessage-deflate, small or large limits, chosen by the first byte) and
 * the rest of the input arrives as frames, in pieces whose sizes come from the
 * second byte.  The C stubs of the Python callbacks echo messages, subscribe to and
 * publish on a topic, and end the connection on a given message.  Without
 * libFuzzer, -DSC_FUZZ_STANDALONE adds a main() that replays files (fuzz_replay.h).
 *
 * Properties: the upgrade is answered 101; sc_py_ws_close is called at most once and
 * only for the upgraded handle, after which every call on it is refused as stale;
 * message callbacks carry a TEXT or BINARY opcode; nothing leaks when the loop is
 * freed with the connection in any state (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketify.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define FZ_OWNER 91u

static struct {
    sc_loop *loop;
    int behavior;
    sc_handle ws;
    int closes;
    int messages;
    uint32_t flags;
} fz;

static const char fz_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

void sc_py_on_request(uint32_t owner, sc_handle res)
{
    FZ_CHECK(owner == FZ_OWNER);
    if (sc_ws_check_request(fz.loop) != 0 || fz.ws)
        return; /* not an upgrade (the fuzz bytes after it are frames, not requests) */
    sc_handle ws = 0;
    const char *ext = (fz.flags & 1) ? "permessage-deflate" : "";
    int rc = sc_ws_upgrade(fz.loop, res, fz_key, sizeof fz_key - 1, "", 0, ext, strlen(ext), "", 0,
                           fz.behavior, &ws);
    FZ_CHECK(rc == SC_OK && ws != 0);
    fz.ws = ws;
}

void sc_py_on_data(uint32_t owner, sc_handle res)
{
    (void)owner;
    (void)res;
}

void sc_py_on_aborted(uint32_t owner, sc_handle res)
{
    (void)owner;
    (void)res;
}

int sc_py_on_writable(uint32_t owner, sc_handle res, uint64_t offset)
{
    (void)owner;
    (void)res;
    (void)offset;
    return 1;
}

void sc_py_ws_message(uint32_t owner, sc_handle ws, uint32_t opcode)
{
    FZ_CHECK(owner == FZ_OWNER && ws == fz.ws && fz.closes == 0);
    FZ_CHECK(opcode == 1 || opcode == 2);
    sc_event *ev = sc_loop_event_view(fz.loop);
    fz.messages++;
    size_t len = ev->len;
    if (len && ev->data[0] == 'q') {
        sc_ws_end(fz.loop, ws, 4000, "bye", 3);
        return;
    }
    if (len && ev->data[0] == 's') {
        sc_ws_subscribe(fz.loop, ws, "t", 1);
        sc_loop_publish(fz.loop, 0, "t", 1, ev->data, len, opcode, fz.flags & 1);
        return;
    }
    if (len && ev->data[0] == 'u') {
        sc_ws_unsubscribe(fz.loop, ws, "t", 1);
        return;
    }
    int rc = sc_ws_send(fz.loop, ws, opcode, ev->data, len, fz.flags & 1);
    FZ_CHECK(rc >= 0 && rc <= SC_WS_STATUS_DROPPED);
}

void sc_py_ws_close(uint32_t owner, sc_handle ws, uint32_t code)
{
    FZ_CHECK(owner == FZ_OWNER && ws == fz.ws);
    FZ_CHECK(code >= 1000 && code < 5000);
    fz.closes++;
    FZ_CHECK(fz.closes == 1);
}

void sc_py_ws_drain(uint32_t owner, sc_handle ws)
{
    FZ_CHECK(owner == FZ_OWNER && ws == fz.ws);
}

void sc_py_ws_ping(uint32_t owner, sc_handle ws)
{
    FZ_CHECK(owner == FZ_OWNER && ws == fz.ws);
}

void sc_py_ws_pong(uint32_t owner, sc_handle ws)
{
    FZ_CHECK(owner == FZ_OWNER && ws == fz.ws);
}

void sc_py_ws_subscription(uint32_t owner, sc_handle ws, uint32_t new_count, uint32_t old_count)
{
    (void)owner;
    (void)ws;
    (void)new_count;
    (void)old_count;
}

void sc_py_topic_interest(uint32_t owner, uint32_t active)
{
    (void)owner;
    (void)active;
}

static void fz_drain_output(sc_handle conn)
{
    const char *out = NULL;
    size_t n = sc_mem_output(fz.loop, conn, &out);
    if (n)
        sc_mem_consume(fz.loop, conn, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    memset(&fz, 0, sizeof fz);
    fz.flags = data[0];
    size_t piece = 1u + data[1];
    data += 2;
    size -= 2;

    sc_settings s;
    sc_settings_default(&s);
    fz.loop = sc_loop_new(&s, FZ_OWNER);
    FZ_CHECK(fz.loop != NULL);
    sc_ws_settings ws;
    sc_ws_settings_default(&ws);
    ws.max_payload_length = (fz.flags & 2) ? 64 : 65536;
    ws.max_backpressure = (fz.flags & 4) ? 256 : 0;
    ws.compression = (fz.flags & 1) ? 0x0101u : 0; /* shared compressor and decompressor */
    ws.flags |= SC_WSS_ON_DRAIN | SC_WSS_ON_PING | SC_WSS_ON_PONG;
    if (fz.flags & 8)
        ws.flags |= SC_WSS_CLOSE_ON_BACKPRESSURE;
    fz.behavior = sc_ws_behavior_new(fz.loop, &ws);
    FZ_CHECK(fz.behavior >= 0);

    sc_handle conn = sc_mem_open(fz.loop, "127.0.0.1", 40000);
    FZ_CHECK(conn != 0);
    if (fz.flags & 16)
        FZ_CHECK(sc_mem_set_capacity(fz.loop, conn, 512) == SC_OK);
    static const char upgrade[] =
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    FZ_CHECK(sc_mem_feed(fz.loop, conn, upgrade, sizeof upgrade - 1) == SC_OK);
    const char *out = NULL;
    size_t n = sc_mem_output(fz.loop, conn, &out);
    FZ_CHECK(fz.ws != 0 && n >= 12 && memcmp(out, "HTTP/1.1 101", 12) == 0);
    sc_mem_consume(fz.loop, conn, n);

    size_t at = 0;
    while (at < size && sc_mem_is_open(fz.loop, conn)) {
        size_t k = size - at < piece ? size - at : piece;
        if (sc_mem_feed(fz.loop, conn, (const char *)data + at, k) != SC_OK)
            break;
        at += k;
        fz_drain_output(conn);
    }
    if (fz.closes) /* a closed WebSocket's handle is stale for every call */
        FZ_CHECK(sc_ws_send(fz.loop, fz.ws, 2, "x", 1, 0) == SC_WS_STATUS_DROPPED);
    sc_mem_close(fz.loop, conn, 1);
    sc_loop_free(fz.loop);
    return 0;
}

#include "fuzz_replay.h"
