/*
 * The host-driven RPC server; the protocol is described in utvm/rpc/server.h.
 * State is static: one receive buffer, one response buffer (which doubles as
 * the cache of the last response, answered again to a duplicate request).
 */
#include "utvm/rpc/server.h"

#include <string.h>

#include "utvm/rpc/crc16.h"
#include "utvm/rpc/platform.h"

#if UTVM_RPC_MAX_PAYLOAD < 64 || UTVM_RPC_MAX_PAYLOAD > 65535
#error "UTVM_RPC_MAX_PAYLOAD must be in 64..65535"
#endif

/* Stats indices (STATS command order). */
#define STAT_DUPLICATES 0u
#define STAT_STALE 1u
#define STAT_BAD_SESSION 2u
#define STAT_MALFORMED 3u

typedef struct {
  const utvm_model_descriptor *model;
  utvm_frame_decoder decoder;
  uint16_t tx_len;         /* bytes of the cached response in tx */
  uint8_t have_session;
  uint32_t session_id;
  uint32_t host_nonce;
  uint32_t device_nonce;
  uint32_t entropy;        /* mixed into device nonces */
  uint16_t last_seq;
  uint16_t last_crc;       /* frame CRC of the last executed request */
  uint32_t last_ticks;
  int32_t last_rc;
  uint32_t run_count;
  uint8_t timer_unit;
  uint32_t ticks_per_second;
  uint32_t counters[4];
} server_state;

static server_state srv;
static uint8_t rx_buf[UTVM_RPC_MAX_PAYLOAD];
static uint8_t tx[UTVM_RPC_MAX_PAYLOAD];

/* ---- little-endian helpers ---- */

static uint16_t get_u16(const uint8_t *p) {
  return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)((v >> 8) & 0xFFu);
  p[2] = (uint8_t)((v >> 16) & 0xFFu);
  p[3] = (uint8_t)((v >> 24) & 0xFFu);
}

static uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= (uint32_t)0x7FEB352DUL;
  x ^= x >> 15;
  x *= (uint32_t)0x846CA68BUL;
  x ^= x >> 16;
  return x;
}

/* ---- output ---- */

static int32_t platform_sink(void *context, const uint8_t *data, uint16_t len) {
  (void)context;
  while (len > 0u) {
    int32_t n = utvm_platform_write(data, len);
    if (n <= 0 || n > (int32_t)len) {
      return n < 0 ? n : -1;
    }
    data += n;
    len = (uint16_t)(len - (uint16_t)n);
  }
  return 0;
}

static void send_frame(const uint8_t *payload, uint16_t len) {
  if (utvm_frame_write(payload, len, platform_sink, NULL) < 0) {
    utvm_platform_abort(UTVM_ABORT_WRITE);
  }
}

/* Start a response in tx for request header req; returns the data pointer. */
static uint8_t *begin_response(const uint8_t *req, uint8_t status) {
  tx[0] = (uint8_t)(req[0] | UTVM_RPC_RESPONSE_FLAG);
  tx[1] = status;
  tx[2] = req[2];
  tx[3] = req[3];
  tx[4] = req[4];
  tx[5] = req[5];
  tx[6] = req[6];
  tx[7] = req[7];
  srv.tx_len = UTVM_RPC_HEADER_BYTES;
  return tx + UTVM_RPC_HEADER_BYTES;
}

/* An uncached answer (an error about the frame, not the request's result):
   built in a small buffer so the cached response in tx stays intact. */
static void send_uncached(const uint8_t *req, uint8_t cmd, uint8_t status, uint32_t session, int8_t code,
                          uint8_t with_code) {
  uint8_t msg[UTVM_RPC_HEADER_BYTES + 1u];
  msg[0] = cmd;
  msg[1] = status;
  put_u32(msg + 2, session);
  if (req != NULL) {
    msg[6] = req[6];
    msg[7] = req[7];
  } else {
    msg[6] = 0;
    msg[7] = 0;
  }
  msg[8] = (uint8_t)code;
  send_frame(msg, (uint16_t)(with_code ? UTVM_RPC_HEADER_BYTES + 1u : UTVM_RPC_HEADER_BYTES));
}

/* ---- commands; each fills tx and srv.tx_len ---- */

static void cmd_session_start(const uint8_t *req, uint16_t len, uint16_t frame_crc) {
  uint8_t msg[UTVM_RPC_HEADER_BYTES + 9u];
  uint32_t host_nonce;
  uint32_t device_nonce;
  if (len < UTVM_RPC_HEADER_BYTES + 5u) {
    send_uncached(req, (uint8_t)(req[0] | UTVM_RPC_RESPONSE_FLAG), UTVM_RPC_BAD_REQUEST, 0, 0, 0);
    return;
  }
  host_nonce = get_u32(req + 8);
  memcpy(msg, req, UTVM_RPC_HEADER_BYTES);
  msg[0] = (uint8_t)(req[0] | UTVM_RPC_RESPONSE_FLAG);
  msg[1] = UTVM_RPC_OK;
  put_u16(msg + 6, 0);
  msg[16] = UTVM_RPC_PROTOCOL_VERSION;
  if (req[12] != UTVM_RPC_PROTOCOL_VERSION) {
    msg[1] = UTVM_RPC_BAD_VERSION;
    put_u32(msg + 2, 0);
    put_u32(msg + 8, host_nonce);
    put_u32(msg + 12, 0);
    send_frame(msg, (uint16_t)sizeof msg);
    return;
  }
  if (!(srv.have_session && host_nonce == srv.host_nonce)) {
    /* A new session; the previous one, its sequence numbers and its cached
       response end here. A repeat of the current session's start (same host
       nonce) is a duplicate: it gets the same answer and changes nothing. */
    srv.entropy = mix32(srv.entropy ^ host_nonce ^ (uint32_t)0x9E3779B9UL);
    device_nonce = srv.entropy;
    if (device_nonce == 0u) device_nonce = 1u;
    if ((device_nonce ^ host_nonce) == 0u) device_nonce ^= 2u;
    srv.host_nonce = host_nonce;
    srv.device_nonce = device_nonce;
    srv.session_id = host_nonce ^ device_nonce;
    srv.have_session = 1;
    srv.last_seq = 0;
    srv.last_crc = frame_crc;
    srv.tx_len = 0;
  } else {
    srv.counters[STAT_DUPLICATES]++;
  }
  put_u32(msg + 2, srv.session_id);
  put_u32(msg + 8, srv.host_nonce);
  put_u32(msg + 12, srv.device_nonce);
  send_frame(msg, (uint16_t)sizeof msg);
}

static void cmd_model_info(const uint8_t *req, uint16_t len) {
  const utvm_model_descriptor *m = srv.model;
  uint8_t *out = begin_response(req, UTVM_RPC_OK);
  uint16_t total = (uint16_t)((uint16_t)m->num_inputs + (uint16_t)m->num_outputs);
  uint16_t first = (len > UTVM_RPC_HEADER_BYTES) ? req[UTVM_RPC_HEADER_BYTES] : 0u;
  uint16_t name_len = 0;
  uint16_t pos;
  uint16_t count = 0;
  if (m->name != NULL) {
    while (name_len < UTVM_RPC_NAME_MAX && m->name[name_len] != '\0') name_len++;
  }
  if (first > total) {
    begin_response(req, UTVM_RPC_BAD_INDEX);
    return;
  }
  out[0] = UTVM_RPC_PROTOCOL_VERSION;
  out[1] = UTVM_RUNTIME_VERSION_MAJOR;
  out[2] = UTVM_RUNTIME_VERSION_MINOR;
  out[3] = UTVM_RUNTIME_VERSION_PATCH;
  put_u16(out + 4, (uint16_t)UTVM_RPC_MAX_PAYLOAD);
  out[6] = srv.timer_unit;
  out[7] = 0;
  put_u32(out + 8, srv.ticks_per_second);
  out[12] = m->num_inputs;
  out[13] = m->num_outputs;
  out[14] = (uint8_t)first;
  out[16] = (uint8_t)name_len;
  if (name_len > 0u) memcpy(out + 17, m->name, name_len);
  pos = (uint16_t)(UTVM_RPC_HEADER_BYTES + 17u + name_len);
  while ((uint16_t)(first + count) < total && (uint32_t)pos + 5u <= (uint32_t)UTVM_RPC_MAX_PAYLOAD) {
    uint16_t k = (uint16_t)(first + count);
    const utvm_rpc_tensor *t = (k < m->num_inputs) ? &m->inputs[k] : &m->outputs[k - m->num_inputs];
    put_u32(tx + pos, t->bytes);
    tx[pos + 4u] = t->dtype;
    pos = (uint16_t)(pos + 5u);
    count++;
  }
  out[15] = (uint8_t)count;
  srv.tx_len = pos;
}

/* The tensor named by req[8] among inputs (is_input) or outputs, or NULL. */
static const utvm_rpc_tensor *tensor_arg(const uint8_t *req, uint8_t is_input) {
  const utvm_model_descriptor *m = srv.model;
  uint8_t index = req[UTVM_RPC_HEADER_BYTES];
  if (is_input) {
    return index < m->num_inputs ? &m->inputs[index] : NULL;
  }
  return index < m->num_outputs ? &m->outputs[index] : NULL;
}

static void cmd_set_input(const uint8_t *req, uint16_t len) {
  const utvm_rpc_tensor *t;
  uint32_t offset;
  uint16_t n;
  if (len < UTVM_RPC_HEADER_BYTES + 6u) {
    begin_response(req, UTVM_RPC_BAD_REQUEST);
    return;
  }
  t = tensor_arg(req, 1);
  if (t == NULL) {
    begin_response(req, UTVM_RPC_BAD_INDEX);
    return;
  }
  offset = get_u32(req + UTVM_RPC_HEADER_BYTES + 2u);
  n = (uint16_t)(len - (UTVM_RPC_HEADER_BYTES + 6u));
  if (offset > t->bytes || (uint32_t)n > t->bytes - offset) {
    begin_response(req, UTVM_RPC_BAD_RANGE);
    return;
  }
  if (n > 0u) memcpy((uint8_t *)t->data + offset, req + UTVM_RPC_HEADER_BYTES + 6u, n);
  begin_response(req, UTVM_RPC_OK);
}

static void cmd_get_tensor(const uint8_t *req, uint16_t len, uint8_t is_input) {
  const utvm_rpc_tensor *t;
  uint32_t offset;
  uint16_t n;
  uint8_t *out;
  if (len < UTVM_RPC_HEADER_BYTES + 8u) {
    begin_response(req, UTVM_RPC_BAD_REQUEST);
    return;
  }
  t = tensor_arg(req, is_input);
  if (t == NULL) {
    begin_response(req, UTVM_RPC_BAD_INDEX);
    return;
  }
  offset = get_u32(req + UTVM_RPC_HEADER_BYTES + 2u);
  n = get_u16(req + UTVM_RPC_HEADER_BYTES + 6u);
  if ((uint32_t)n > (uint32_t)UTVM_RPC_MAX_PAYLOAD - UTVM_RPC_HEADER_BYTES) {
    begin_response(req, UTVM_RPC_TOO_LONG);
    return;
  }
  if (offset > t->bytes || (uint32_t)n > t->bytes - offset) {
    begin_response(req, UTVM_RPC_BAD_RANGE);
    return;
  }
  out = begin_response(req, UTVM_RPC_OK);
  if (n > 0u) memcpy(out, (const uint8_t *)t->data + offset, n);
  srv.tx_len = (uint16_t)(UTVM_RPC_HEADER_BYTES + n);
}

static void cmd_run(const uint8_t *req) {
  uint8_t *out;
  int32_t rc;
  uint32_t ticks;
  utvm_platform_timer_start();
  rc = srv.model->run();
  ticks = utvm_platform_timer_stop();
  srv.last_ticks = ticks;
  srv.last_rc = rc;
  srv.run_count++;
  srv.entropy += ticks;
  out = begin_response(req, rc == 0 ? UTVM_RPC_OK : UTVM_RPC_RUN_FAILED);
  put_u32(out, ticks);
  put_u32(out + 4, (uint32_t)rc);
  srv.tx_len = (uint16_t)(UTVM_RPC_HEADER_BYTES + 8u);
}

static void cmd_last_run(const uint8_t *req) {
  uint8_t *out = begin_response(req, UTVM_RPC_OK);
  put_u32(out, srv.last_ticks);
  put_u32(out + 4, (uint32_t)srv.last_rc);
  put_u32(out + 8, srv.run_count);
  srv.tx_len = (uint16_t)(UTVM_RPC_HEADER_BYTES + 12u);
}

static void cmd_ping(const uint8_t *req, uint16_t len) {
  uint8_t *out = begin_response(req, UTVM_RPC_OK);
  uint16_t n = (uint16_t)(len - UTVM_RPC_HEADER_BYTES);
  if (n > 0u) memcpy(out, req + UTVM_RPC_HEADER_BYTES, n);
  srv.tx_len = len;
}

void utvm_rpc_server_stats(uint32_t out[10]) {
  out[0] = srv.decoder.stats.frames_ok;
  out[1] = srv.decoder.stats.bad_crc;
  out[2] = srv.decoder.stats.overlong;
  out[3] = srv.decoder.stats.bad_escape;
  out[4] = srv.decoder.stats.truncated;
  out[5] = srv.decoder.stats.junk_bytes;
  out[6] = srv.counters[STAT_DUPLICATES];
  out[7] = srv.counters[STAT_STALE];
  out[8] = srv.counters[STAT_BAD_SESSION];
  out[9] = srv.counters[STAT_MALFORMED];
}

static void cmd_stats(const uint8_t *req) {
  uint32_t values[10];
  uint8_t *out = begin_response(req, UTVM_RPC_OK);
  uint16_t i;
  utvm_rpc_server_stats(values);
  for (i = 0; i < 10u; i++) {
    put_u32(out + 4u * i, values[i]);
  }
  srv.tx_len = (uint16_t)(UTVM_RPC_HEADER_BYTES + 40u);
}

static void execute(const uint8_t *req, uint16_t len) {
  switch (req[0]) {
    case UTVM_RPC_CMD_MODEL_INFO:
      cmd_model_info(req, len);
      break;
    case UTVM_RPC_CMD_SET_INPUT:
      cmd_set_input(req, len);
      break;
    case UTVM_RPC_CMD_RUN:
      cmd_run(req);
      break;
    case UTVM_RPC_CMD_GET_OUTPUT:
      cmd_get_tensor(req, len, 0);
      break;
    case UTVM_RPC_CMD_GET_INPUT:
      cmd_get_tensor(req, len, 1);
      break;
    case UTVM_RPC_CMD_LAST_RUN:
      cmd_last_run(req);
      break;
    case UTVM_RPC_CMD_PING:
      cmd_ping(req, len);
      break;
    case UTVM_RPC_CMD_STATS:
      cmd_stats(req);
      break;
    default:
      begin_response(req, UTVM_RPC_UNKNOWN_COMMAND);
      break;
  }
}

/* Handle one complete request frame (in the decoder's buffer). */
static void handle_frame(const uint8_t *req, uint16_t len, uint16_t frame_crc) {
  uint16_t seq;
  uint16_t ahead;
  if (len < UTVM_RPC_HEADER_BYTES || (req[0] & UTVM_RPC_RESPONSE_FLAG) != 0u) {
    srv.counters[STAT_MALFORMED]++;
    return;
  }
  if (req[0] == UTVM_RPC_CMD_SESSION_START) {
    cmd_session_start(req, len, frame_crc);
    return;
  }
  if (!srv.have_session || get_u32(req + 2) != srv.session_id) {
    srv.counters[STAT_BAD_SESSION]++;
    send_uncached(req, (uint8_t)(req[0] | UTVM_RPC_RESPONSE_FLAG), UTVM_RPC_NO_SESSION, get_u32(req + 2), 0, 0);
    return;
  }
  seq = get_u16(req + 6);
  ahead = (uint16_t)(seq - srv.last_seq);
  if (ahead == 0u && frame_crc == srv.last_crc && srv.tx_len > 0u) {
    srv.counters[STAT_DUPLICATES]++;
    send_frame(tx, srv.tx_len);
    return;
  }
  if (ahead == 0u || ahead >= 0x8000u) {
    srv.counters[STAT_STALE]++;
    send_uncached(req, (uint8_t)(req[0] | UTVM_RPC_RESPONSE_FLAG), UTVM_RPC_BAD_SEQUENCE, srv.session_id, 0, 0);
    return;
  }
  srv.last_seq = seq;
  srv.last_crc = frame_crc;
  execute(req, len);
  send_frame(tx, srv.tx_len);
}

void utvm_rpc_server_init(const utvm_model_descriptor *model) {
  memset(&srv, 0, sizeof srv);
  if (model == NULL || model->run == NULL) {
    utvm_platform_abort(UTVM_ABORT_BAD_MODEL);
    return;
  }
  srv.model = model;
  srv.timer_unit = (uint8_t)UTVM_TIMER_UNIT;
  srv.ticks_per_second = (uint32_t)UTVM_TIMER_TICKS_PER_SECOND;
  srv.entropy = (uint32_t)0x2545F491UL;
  utvm_frame_decoder_init(&srv.decoder, rx_buf, (uint16_t)UTVM_RPC_MAX_PAYLOAD);
}

void utvm_rpc_server_set_timer(uint8_t unit, uint32_t ticks_per_second) {
  srv.timer_unit = unit;
  srv.ticks_per_second = ticks_per_second;
}

int32_t utvm_rpc_server_poll(void) {
  uint8_t chunk[UTVM_RPC_READ_CHUNK];
  int32_t n;
  int32_t i;
  int32_t handled = 0;
  if (srv.model == NULL) {
    return -1;
  }
  n = utvm_platform_read(chunk, (uint16_t)sizeof chunk);
  if (n < 0) {
    utvm_platform_abort(UTVM_ABORT_READ);
    return n;
  }
  if (n == 0) {
    srv.entropy++; /* idle time makes the next device nonce less predictable */
    return 0;
  }
  if (n > (int32_t)sizeof chunk) n = (int32_t)sizeof chunk;
  for (i = 0; i < n; i++) {
    int8_t r = utvm_frame_decoder_feed(&srv.decoder, chunk[i]);
    if (r == UTVM_FRAME_READY) {
      handle_frame(srv.decoder.payload, srv.decoder.length, srv.decoder.crc);
      handled++;
    } else if (r == UTVM_FRAME_BAD_CRC || r == UTVM_FRAME_BAD_ESCAPE || r == UTVM_FRAME_OVERLONG) {
      send_uncached(NULL, UTVM_RPC_CMD_NAK, UTVM_RPC_FRAME_ERROR, srv.have_session ? srv.session_id : 0u, r, 1);
    }
  }
  return handled;
}

void utvm_rpc_server_run(void) {
  for (;;) {
    (void)utvm_rpc_server_poll();
  }
}
