/* ws_frame.h - WebSocket frames (RFC 6455 section 5), server side.
 *
 * Internal to the core (not seen by cffi).
 *
 * Reading: sc_ws_parse is an incremental parser for client frames.  Feed it
 * whatever bytes arrived; it keeps up to one partial header (14 bytes) and
 * one partial control frame (125 bytes) of its own and otherwise unmasks
 * payload in place in the caller's buffer, handing it back in pieces
 * (sc_ws_chunk) as soon as bytes arrive.  Input may be split at any byte.
 *
 *     size_t off = 0, used;
 *     sc_ws_chunk c;
 *     for (;;) {
 *         int r = sc_ws_parse(&p, buf + off, len - off, &used, &c);
 *         off += used;
 *         if (r == SC_WS_NEED_MORE) break;       // all of buf consumed
 *         if (r < 0) { close_with(-r); break; }  // -1002, -1007 or -1009
 *         deliver(&c);                           // r == SC_WS_CHUNK
 *     }
 *
 * Data chunks point into buf; control chunks point into the parser and are
 * always whole (FRAME_START | FRAME_END); both stay valid until the next
 * sc_ws_parse call.  A zero-length frame still yields one (empty) chunk.
 *
 * Errors (returned as -(close code); the parser then stays failed):
 *   1002  unmasked frame, RSV2/RSV3, RSV1 without deflate or on a control or
 *         continuation frame, unknown opcode, control frame fragmented or
 *         longer than 125, 64-bit length with the top bit set, continuation
 *         without a message, new data frame inside a fragmented message,
 *         close payload of 1 byte or with an invalid code
 *   1007  close reason not UTF-8; text not UTF-8 when SC_WS_P_UTF8 is on
 *         (uncompressed messages only: compressed text is the caller's to
 *         check after inflating)
 *   1009  a message's payload (sum of its frames) passes max_payload
 * Non-minimal length encodings are accepted.  Control frames may come
 * between the fragments of a message.
 *
 * Writing: sc_ws_write_header renders the header of a server frame (never
 * masked) into a caller buffer of SC_WS_MAX_HEADER bytes.
 */
#ifndef SC_WS_FRAME_H
#define SC_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

enum sc_ws_opcode {
    SC_WS_OP_CONTINUATION = 0,
    SC_WS_OP_TEXT = 1,
    SC_WS_OP_BINARY = 2,
    SC_WS_OP_CLOSE = 8,
    SC_WS_OP_PING = 9,
    SC_WS_OP_PONG = 10
};

enum sc_ws_close_code {
    SC_WS_CLOSE_NORMAL = 1000,
    SC_WS_CLOSE_GOING_AWAY = 1001,
    SC_WS_CLOSE_PROTOCOL = 1002,
    SC_WS_CLOSE_UNSUPPORTED = 1003,
    SC_WS_CLOSE_NO_STATUS = 1005, /* reported for an empty close payload; never sent */
    SC_WS_CLOSE_ABNORMAL = 1006,  /* reported when the connection dropped; never sent */
    SC_WS_CLOSE_INVALID_DATA = 1007,
    SC_WS_CLOSE_POLICY = 1008,
    SC_WS_CLOSE_TOO_BIG = 1009,
    SC_WS_CLOSE_EXTENSION = 1010,
    SC_WS_CLOSE_INTERNAL = 1011
};

/* sc_ws_parse results (errors are -(close code)) */
#define SC_WS_NEED_MORE 0
#define SC_WS_CHUNK 1

/* parser options */
#define SC_WS_P_DEFLATE                                                                            \
    1u                  /* permessage-deflate negotiated: RSV1 allowed on a message's first frame */
#define SC_WS_P_UTF8 2u /* validate uncompressed text messages (fail fast, 1007) */

/* chunk flags */
#define SC_WS_FRAME_START 1u /* first piece of a frame (header just read) */
#define SC_WS_FRAME_END 2u   /* last piece of a frame */
#define SC_WS_FIN 4u         /* the frame has FIN */
#define SC_WS_COMPRESSED 8u  /* the message had RSV1: inflate it */
#define SC_WS_MSG_START 16u  /* data: first piece of a message */
#define SC_WS_MSG_END 32u    /* data: last piece of a message (FIN and FRAME_END) */

typedef struct sc_ws_chunk {
    uint8_t *data; /* unmasked payload piece */
    size_t len;
    uint64_t frame_len;    /* whole payload length of this frame */
    uint64_t offset;       /* where data starts within the frame's payload */
    uint8_t opcode;        /* of the frame, SC_WS_OP_CONTINUATION for continuations */
    uint8_t msg_opcode;    /* data: TEXT or BINARY of the message; control: == opcode */
    uint16_t close_code;   /* close frames: the code, SC_WS_CLOSE_NO_STATUS when empty */
    uint32_t flags;        /* SC_WS_FRAME_START ... */
    const uint8_t *reason; /* close frames: the UTF-8 reason (not NUL-terminated) */
    size_t reason_len;
} sc_ws_chunk;

typedef struct sc_ws_parser {
    uint64_t max_payload;
    uint32_t options;
    /* private */
    int error; /* sticky: 0 or -(close code) */
    uint32_t state;
    uint8_t head[14];
    uint8_t head_len, head_need;
    uint8_t opcode, bits; /* bits: the first header byte */
    uint8_t msg_opcode;   /* 0 when no data message is open */
    uint8_t msg_compressed;
    uint8_t msg_fresh;   /* next data piece starts the message */
    uint8_t frame_fresh; /* next piece starts the frame */
    uint8_t mask[4];
    uint8_t ctrl[125];
    uint64_t frame_len, offset;
    uint64_t msg_len;
    sc_utf8 utf8;
} sc_ws_parser;

void sc_ws_parser_init(sc_ws_parser *p, uint64_t max_payload, uint32_t options);
/* SC_WS_CHUNK, SC_WS_NEED_MORE or -(close code); *consumed is always set. */
int sc_ws_parse(sc_ws_parser *p, uint8_t *buf, size_t len, size_t *consumed, sc_ws_chunk *out);
/* 1 while a fragmented data message is open (waiting for continuations). */
int sc_ws_parser_in_message(const sc_ws_parser *p);

/* XOR data with the 4-byte key, starting at key position offset % 4
 * (masking and unmasking are the same operation). */
void sc_ws_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t offset);

/* ---- close frames --------------------------------------------------------- */

/* 1 when code may appear in a close frame on the wire: 1000-1003,
 * 1007-1014, 3000-4999. */
int sc_ws_close_code_valid(uint32_t code);
/* Parse and validate a close payload.  0 with *code (1005 when empty) and
 * the reason slice, or -1002 / -1007. */
int sc_ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                      size_t *reason_len);
/* Render a close payload into out (125 bytes): nothing for code 0 or 1005,
 * else the code and the reason cut to 123 bytes at a UTF-8 boundary.
 * Returns its length, or -1 for a code that may not be sent. */
int sc_ws_close_payload(uint8_t out[125], uint32_t code, const char *reason, size_t reason_len);

/* ---- writing server frames ------------------------------------------------ */

#define SC_WS_MAX_HEADER 10
/* header flags (the wire bits of the first byte) */
#define SC_WS_W_FIN 0x80u
#define SC_WS_W_RSV1 0x40u

/* Header length for a payload of len bytes: 2, 4 or 10. */
size_t sc_ws_header_size(uint64_t len);
/* Write the header of an unmasked frame; returns its length (2, 4 or 10). */
size_t sc_ws_write_header(uint8_t *out, unsigned opcode, uint64_t len, uint32_t flags);

#endif
