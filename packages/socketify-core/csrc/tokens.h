/* tokens.h - RFC 9110 token characters (tchar, section 5.6.2), shared by the
 * HTTP/1.1 parser (header names, methods, list elements) and the WebSocket
 * handshake (Upgrade, subprotocols, extension parameters).
 */
#ifndef SC_TOKENS_H
#define SC_TOKENS_H

/* tchar -> its lower-case form; 0 for every other byte. */
extern const unsigned char sc_tchar_lower[256];

static inline int sc_is_tchar(unsigned char ch)
{
    return sc_tchar_lower[ch] != 0;
}

#endif
