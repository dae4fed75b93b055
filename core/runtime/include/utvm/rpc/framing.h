/*
 * utvm RPC framing: how one message (a "payload") travels over a byte stream
 * such as a UART, a pipe or a TCP socket.
 *
 * Frame on the wire
 * -----------------
 *
 *   +------+-----------------------------------------------------------+
 *   | 0x7E | escaped( LEN_LO LEN_HI  PAYLOAD[LEN]  CRC_LO CRC_HI )     |
 *   +------+-----------------------------------------------------------+
 *
 *   START   0x7E, sent raw. It never appears anywhere else in a frame.
 *   LEN     uint16, little-endian: the number of payload bytes (0..65535;
 *           a receiver refuses more than its own maximum, see below).
 *   PAYLOAD LEN bytes.
 *   CRC     uint16, little-endian: CRC-16-CCITT-FALSE (poly 0x1021, init
 *           0xFFFF, no reflection, no final XOR; see crc16.h) over the
 *           2 LEN bytes followed by the LEN payload bytes, all unescaped.
 *
 *   Escaping applies to every byte after START (LEN, PAYLOAD and CRC): a byte
 *   equal to 0x7E or 0x7D is sent as the two bytes 0x7D, (byte XOR 0x20),
 *   that is 0x7E -> 7D 5E and 0x7D -> 7D 5D. Any other byte after a 0x7D is
 *   a "bad escape". There is no end byte: the end is known from LEN. The
 *   encoded size is at most 1 + 2 * (LEN + 4) bytes.
 *
 *   Example: the 3-byte payload 01 7E 02 is sent as
 *     7E 03 00 01 7D 5E 02 FA C3   (CRC over 03 00 01 7E 02 = 0xC3FA).
 *
 * Receiving
 * ---------
 *
 *   The decoder is fed one byte at a time. Bytes before a START are ignored
 *   (counted as junk). A START seen in the middle of a frame abandons that
 *   frame (counted as truncated) and begins a new one, so a receiver
 *   resynchronizes on the next frame after any loss. A frame whose LEN is
 *   above the decoder's capacity (overlong), that holds a bad escape, or whose
 *   CRC does not match is discarded and counted; the decoder then waits for
 *   the next START. Only complete frames with a matching CRC are reported.
 *
 *   All sizes here are uint16_t and all counters uint32_t, so the code is
 *   the same where int has 16 bits.
 */
#ifndef UTVM_RPC_FRAMING_H
#define UTVM_RPC_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UTVM_FRAME_START ((uint8_t)0x7Eu)
#define UTVM_FRAME_ESCAPE ((uint8_t)0x7Du)
#define UTVM_FRAME_ESCAPE_XOR ((uint8_t)0x20u)

/* The largest payload the RPC server accepts and sends. A project may set it
   (for example -DUTVM_RPC_MAX_PAYLOAD=128 on a small AVR); the server needs
   about twice this in RAM (one receive and one response buffer). It must be
   at least 64 so that model info and every request header fit. */
#ifndef UTVM_RPC_MAX_PAYLOAD
#define UTVM_RPC_MAX_PAYLOAD 512
#endif

/* Bytes a payload of len bytes takes on the wire, at most. */
#define UTVM_FRAME_ENCODED_MAX(len) (1u + 2u * ((uint32_t)(len) + 4u))

/* What utvm_frame_decoder_feed() reports for one byte. */
#define UTVM_FRAME_NONE ((int8_t)0)         /* nothing complete yet */
#define UTVM_FRAME_READY ((int8_t)1)        /* a valid frame: see decoder.payload/.length */
#define UTVM_FRAME_BAD_CRC ((int8_t)-1)     /* a frame was dropped: CRC mismatch */
#define UTVM_FRAME_OVERLONG ((int8_t)-2)    /* dropped: LEN above capacity */
#define UTVM_FRAME_BAD_ESCAPE ((int8_t)-3)  /* dropped: 0x7D followed by a byte other than 5E/5D */
#define UTVM_FRAME_TRUNCATED ((int8_t)-4)   /* dropped: a START arrived before its end */

typedef struct {
  uint32_t frames_ok;  /* complete frames with a matching CRC */
  uint32_t bad_crc;
  uint32_t overlong;
  uint32_t bad_escape;
  uint32_t truncated;
  uint32_t junk_bytes; /* bytes outside any frame */
} utvm_frame_stats;

typedef struct {
  uint8_t *payload;    /* the caller's buffer; holds a READY frame's payload */
  uint16_t capacity;   /* its size: the largest LEN accepted */
  uint16_t length;     /* LEN of the current (or READY) frame */
  uint16_t received;   /* payload bytes received so far */
  uint16_t crc;        /* running CRC; after READY, the frame's CRC */
  uint16_t crc_rx;     /* the CRC as received */
  uint8_t state;
  uint8_t escaped;     /* the previous byte was an escape */
  utvm_frame_stats stats;
} utvm_frame_decoder;

/* Prepare a decoder that stores payloads of up to capacity bytes in buffer. */
void utvm_frame_decoder_init(utvm_frame_decoder *dec, uint8_t *buffer, uint16_t capacity);

/* Forget any partial frame (the counters are kept). */
void utvm_frame_decoder_reset(utvm_frame_decoder *dec);

/* Feed one received byte; returns one of the UTVM_FRAME_* codes above. After
   UTVM_FRAME_READY, dec->payload[0 .. dec->length) is the payload, valid until
   the next call. */
int8_t utvm_frame_decoder_feed(utvm_frame_decoder *dec, uint8_t byte);

/* Encode one frame into out (capacity out_cap). Returns the number of bytes
   written, or -1 if out is too small (UTVM_FRAME_ENCODED_MAX(len) always fits). */
int32_t utvm_frame_encode(const uint8_t *payload, uint16_t len, uint8_t *out, uint32_t out_cap);

/* Where utvm_frame_write() sends encoded bytes: returns len, or < 0 on error. */
typedef int32_t (*utvm_frame_sink)(void *context, const uint8_t *data, uint16_t len);

/* Encode one frame and pass it to sink in chunks of at most 64 bytes, so no
   buffer of the encoded size is needed. Returns 0, or the sink's error. */
int32_t utvm_frame_write(const uint8_t *payload, uint16_t len, utvm_frame_sink sink, void *context);

#ifdef __cplusplus
}
#endif

#endif /* UTVM_RPC_FRAMING_H */
