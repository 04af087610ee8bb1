/* tls_api.c - the TLS calls Python makes by response or WebSocket handle,
 * and the hook that asks Python about an unknown server name.
 *
 * io_tls.c is an I/O layer and knows no protocol; what a handler asks about
 * its connection's TLS (sc_res_tls_info, sc_ws_tls_info) finds the
 * connection by its handle here and asks the layer stack (sc_io_info), so a
 * memory connection playing TLS for the TestClient (sc_mem_set_tls) answers
 * the same calls.
 */
#include "core.h"
#include "ws_conn.h"

#include <string.h>

static int sc_tls_info_of(sc_conn *c, int key, char *buf, size_t cap)
{
    if (!c)
        return SC_ESTALE;
    if (key < 1 || key > SC_TLS_INFO_MAX)
        return SC_EINVAL;
    ssize_t n = sc_io_info(c, key, buf, cap);
    return n > INT32_MAX ? SC_EINVAL : (int)n;
}

int sc_res_tls_info(sc_loop *loop, sc_handle res, int key, char *buf, size_t cap)
{
    return sc_tls_info_of(sc_res_by_handle(loop, res), key, buf, cap);
}

int sc_ws_tls_info(sc_loop *loop, sc_handle ws, int key, char *buf, size_t cap)
{
    return sc_tls_info_of(sc_ws_conn(loop, ws), key, buf, cap);
}

/* An unknown server name: Python's missing_server_name handler hears it (the
 * name in the event view) during the handshake and may add it. */
static void sc_tls_ask_python(sc_conn *c, const char *name)
{
    sc_loop *loop = c->loop;
    sc_event saved = loop->event;
    loop->event.data = name;
    loop->event.len = strlen(name);
    loop->event.is_end = 1;
    sc_py_tls_server_name(loop->owner);
    loop->event = saved;
}

int sc_tls_watch_server_names(sc_tls *tls, int on)
{
    if (!tls)
        return SC_EINVAL;
    sc_tls_set_ask(tls, on ? sc_tls_ask_python : NULL);
    return SC_OK;
}
