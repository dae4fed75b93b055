/*
 * Frame encoder and incremental decoder; the format is described in
 * utvm/rpc/framing.h.
 */
#include "utvm/rpc/framing.h"

#include "utvm/rpc/crc16.h"

/* Decoder states: where the next unescaped byte goes. */
#define ST_HUNT 0u    /* outside a frame: waiting for START */
#define ST_LEN_LO 1u
#define ST_LEN_HI 2u
#define ST_PAYLOAD 3u
#define ST_CRC_LO 4u
#define ST_CRC_HI 5u

void utvm_frame_decoder_init(utvm_frame_decoder *dec, uint8_t *buffer, uint16_t capacity) {
  dec->payload = buffer;
  dec->capacity = capacity;
  dec->stats.frames_ok = 0;
  dec->stats.bad_crc = 0;
  dec->stats.overlong = 0;
  dec->stats.bad_escape = 0;
  dec->stats.truncated = 0;
  dec->stats.junk_bytes = 0;
  utvm_frame_decoder_reset(dec);
}

void utvm_frame_decoder_reset(utvm_frame_decoder *dec) {
  dec->state = ST_HUNT;
  dec->escaped = 0;
  dec->length = 0;
  dec->received = 0;
  dec->crc = UTVM_CRC16_INIT;
  dec->crc_rx = 0;
}

static void begin_frame(utvm_frame_decoder *dec) {
  utvm_frame_decoder_reset(dec);
  dec->state = ST_LEN_LO;
}

int8_t utvm_frame_decoder_feed(utvm_frame_decoder *dec, uint8_t byte) {
  if (byte == UTVM_FRAME_START) {
    /* A START always begins a frame, even in the middle of another one. */
    int8_t result = UTVM_FRAME_NONE;
    if (dec->state != ST_HUNT) {
      dec->stats.truncated++;
      result = UTVM_FRAME_TRUNCATED;
    }
    begin_frame(dec);
    return result;
  }
  if (dec->state == ST_HUNT) {
    dec->stats.junk_bytes++;
    return UTVM_FRAME_NONE;
  }
  if (dec->escaped) {
    dec->escaped = 0;
    byte = (uint8_t)(byte ^ UTVM_FRAME_ESCAPE_XOR);
    if (byte != UTVM_FRAME_START && byte != UTVM_FRAME_ESCAPE) {
      dec->stats.bad_escape++;
      utvm_frame_decoder_reset(dec);
      return UTVM_FRAME_BAD_ESCAPE;
    }
  } else if (byte == UTVM_FRAME_ESCAPE) {
    dec->escaped = 1;
    return UTVM_FRAME_NONE;
  }

  switch (dec->state) {
    case ST_LEN_LO:
      dec->crc = utvm_crc16_update(dec->crc, byte);
      dec->length = byte;
      dec->state = ST_LEN_HI;
      break;
    case ST_LEN_HI:
      dec->crc = utvm_crc16_update(dec->crc, byte);
      dec->length = (uint16_t)(dec->length | (uint16_t)((uint16_t)byte << 8));
      if (dec->length > dec->capacity) {
        dec->stats.overlong++;
        utvm_frame_decoder_reset(dec);
        return UTVM_FRAME_OVERLONG;
      }
      dec->received = 0;
      dec->state = (dec->length == 0u) ? ST_CRC_LO : ST_PAYLOAD;
      break;
    case ST_PAYLOAD:
      dec->crc = utvm_crc16_update(dec->crc, byte);
      dec->payload[dec->received] = byte;
      dec->received++;
      if (dec->received == dec->length) {
        dec->state = ST_CRC_LO;
      }
      break;
    case ST_CRC_LO:
      dec->crc_rx = byte;
      dec->state = ST_CRC_HI;
      break;
    case ST_CRC_HI:
      dec->crc_rx = (uint16_t)(dec->crc_rx | (uint16_t)((uint16_t)byte << 8));
      dec->state = ST_HUNT;
      if (dec->crc_rx != dec->crc) {
        dec->stats.bad_crc++;
        return UTVM_FRAME_BAD_CRC;
      }
      dec->stats.frames_ok++;
      return UTVM_FRAME_READY;
    default:
      utvm_frame_decoder_reset(dec);
      break;
  }
  return UTVM_FRAME_NONE;
}

/* Append one body byte, escaped, to out; returns the new position or -1. */
static int32_t put_escaped(uint8_t *out, uint32_t pos, uint32_t cap, uint8_t byte) {
  if (byte == UTVM_FRAME_START || byte == UTVM_FRAME_ESCAPE) {
    if (pos + 2u > cap) {
      return -1;
    }
    out[pos] = UTVM_FRAME_ESCAPE;
    out[pos + 1u] = (uint8_t)(byte ^ UTVM_FRAME_ESCAPE_XOR);
    return (int32_t)(pos + 2u);
  }
  if (pos + 1u > cap) {
    return -1;
  }
  out[pos] = byte;
  return (int32_t)(pos + 1u);
}

int32_t utvm_frame_encode(const uint8_t *payload, uint16_t len, uint8_t *out, uint32_t out_cap) {
  uint8_t head[2];
  uint16_t crc;
  uint16_t i;
  int32_t pos;
  head[0] = (uint8_t)(len & 0xFFu);
  head[1] = (uint8_t)(len >> 8);
  crc = utvm_crc16_update_buf(UTVM_CRC16_INIT, head, 2u);
  crc = utvm_crc16_update_buf(crc, payload, len);
  if (out_cap < 1u) {
    return -1;
  }
  out[0] = UTVM_FRAME_START;
  pos = 1;
  pos = put_escaped(out, (uint32_t)pos, out_cap, head[0]);
  if (pos >= 0) pos = put_escaped(out, (uint32_t)pos, out_cap, head[1]);
  for (i = 0; i < len && pos >= 0; i++) {
    pos = put_escaped(out, (uint32_t)pos, out_cap, payload[i]);
  }
  if (pos >= 0) pos = put_escaped(out, (uint32_t)pos, out_cap, (uint8_t)(crc & 0xFFu));
  if (pos >= 0) pos = put_escaped(out, (uint32_t)pos, out_cap, (uint8_t)(crc >> 8));
  return pos;
}

#define WRITE_CHUNK 64u

typedef struct {
  uint8_t buf[WRITE_CHUNK];
  uint16_t used;
  utvm_frame_sink sink;
  void *context;
  int32_t error;
} frame_writer;

static void writer_flush(frame_writer *w) {
  if (w->used > 0u && w->error >= 0) {
    int32_t rc = w->sink(w->context, w->buf, w->used);
    if (rc < 0) {
      w->error = rc;
    }
  }
  w->used = 0;
}

static void writer_put(frame_writer *w, uint8_t byte) {
  if (w->used + 2u > WRITE_CHUNK) {
    writer_flush(w);
  }
  if (byte == UTVM_FRAME_START || byte == UTVM_FRAME_ESCAPE) {
    w->buf[w->used++] = UTVM_FRAME_ESCAPE;
    w->buf[w->used++] = (uint8_t)(byte ^ UTVM_FRAME_ESCAPE_XOR);
  } else {
    w->buf[w->used++] = byte;
  }
}

int32_t utvm_frame_write(const uint8_t *payload, uint16_t len, utvm_frame_sink sink, void *context) {
  frame_writer w;
  uint8_t head[2];
  uint16_t crc;
  uint16_t i;
  head[0] = (uint8_t)(len & 0xFFu);
  head[1] = (uint8_t)(len >> 8);
  crc = utvm_crc16_update_buf(UTVM_CRC16_INIT, head, 2u);
  crc = utvm_crc16_update_buf(crc, payload, len);
  w.used = 0;
  w.sink = sink;
  w.context = context;
  w.error = 0;
  w.buf[w.used++] = UTVM_FRAME_START;
  writer_put(&w, head[0]);
  writer_put(&w, head[1]);
  for (i = 0; i < len; i++) {
    writer_put(&w, payload[i]);
  }
  writer_put(&w, (uint8_t)(crc & 0xFFu));
  writer_put(&w, (uint8_t)(crc >> 8));
  writer_flush(&w);
  return w.error < 0 ? w.error : 0;
}
