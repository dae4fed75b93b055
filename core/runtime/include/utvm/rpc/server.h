/*
 * utvm host-driven RPC server: the device side of a session in which the host
 * sets a model's inputs, runs it, and reads its outputs and timing.
 *
 * Messages travel in frames (framing.h). Every message starts with an 8-byte
 * header; multi-byte fields are little-endian:
 *
 *   request   [0] command  [1] flags (0)   [2..5] session id  [6..7] sequence
 *   response  [0] command | 0x80  [1] status  [2..5] session id  [6..7] sequence
 *
 * followed by the command's arguments or results. A response echoes the
 * request's session id and sequence number (SESSION_START answers with the new
 * session id). The device never sends anything but responses and NAKs.
 *
 * Session start: the host sends SESSION_START (session 0, sequence 0) with a
 * random 32-bit host nonce; the device answers with that nonce and its own
 * nonce, and the session id is host_nonce XOR device_nonce (never 0). Any
 * previous session ends. A repeated SESSION_START with the current session's
 * host nonce is a duplicate: it gets the same answer and changes nothing.
 *
 * Sequence numbers: after the handshake the last sequence number is 0; the
 * host numbers its requests 1, 2, 3, ... (mod 65536). For a request of the
 * current session with sequence s, d = (s - last) mod 65536:
 *   d == 0, same frame CRC as the last request: a duplicate (the host retried
 *           because a frame was lost): the cached last response is sent
 *           again and nothing is executed;
 *   d == 0, another CRC, or d >= 0x8000: stale: answered with
 *           UTVM_RPC_BAD_SEQUENCE, not executed, not cached;
 *   1 <= d < 0x8000: a new request: executed, its response cached.
 * A request with another session id is answered with UTVM_RPC_NO_SESSION.
 *
 * A frame that arrives damaged (bad CRC, bad escape, overlong) is answered
 * with a NAK, so the host retries at once instead of waiting for a timeout:
 *   [0] 0xFF  [1] UTVM_RPC_FRAME_ERROR  [2..5] current session id (or 0)
 *   [6..7] 0  [8] the decoder's code (UTVM_FRAME_BAD_CRC, ... as int8)
 *
 * Commands (arguments -> results):
 *   0x01 SESSION_START  u32 host_nonce, u8 protocol
 *                       -> u32 host_nonce, u32 device_nonce, u8 protocol
 *   0x02 MODEL_INFO     [u8 first]: tensor entries start at index first
 *                       (inputs, then outputs)
 *                       -> u8 protocol, u8 runtime major, minor, patch,
 *                          u16 max_payload, u8 timer_unit, u8 0,
 *                          u32 ticks_per_second (0: unknown),
 *                          u8 num_inputs, u8 num_outputs, u8 first, u8 count,
 *                          u8 name_len, name[name_len] (at most 32 bytes),
 *                          count x { u32 bytes, u8 dtype }
 *   0x03 SET_INPUT      u8 index, u8 0, u32 offset, data[...] -> (nothing)
 *   0x04 RUN            -> u32 ticks, i32 return code (status RUN_FAILED if != 0)
 *   0x05 GET_OUTPUT     u8 index, u8 0, u32 offset, u16 length -> data[length]
 *   0x06 LAST_RUN       -> u32 ticks, i32 return code, u32 number of runs
 *   0x07 PING           data[...] -> the same data
 *   0x08 STATS          -> u32 x 10: frames ok, bad CRC, overlong, bad escape,
 *                          truncated, junk bytes, duplicates answered from the
 *                          cache, stale requests, wrong session, malformed
 *   0x09 GET_INPUT      as GET_OUTPUT, for an input
 */
#ifndef UTVM_RPC_SERVER_H
#define UTVM_RPC_SERVER_H

#include <stdint.h>

#include "utvm/rpc/framing.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UTVM_RPC_PROTOCOL_VERSION 1u
#define UTVM_RUNTIME_VERSION_MAJOR 0u
#define UTVM_RUNTIME_VERSION_MINOR 1u
#define UTVM_RUNTIME_VERSION_PATCH 0u

#define UTVM_RPC_HEADER_BYTES 8u
#define UTVM_RPC_RESPONSE_FLAG 0x80u
#define UTVM_RPC_NAME_MAX 32u

/* Commands. */
#define UTVM_RPC_CMD_SESSION_START 0x01u
#define UTVM_RPC_CMD_MODEL_INFO 0x02u
#define UTVM_RPC_CMD_SET_INPUT 0x03u
#define UTVM_RPC_CMD_RUN 0x04u
#define UTVM_RPC_CMD_GET_OUTPUT 0x05u
#define UTVM_RPC_CMD_LAST_RUN 0x06u
#define UTVM_RPC_CMD_PING 0x07u
#define UTVM_RPC_CMD_STATS 0x08u
#define UTVM_RPC_CMD_GET_INPUT 0x09u
#define UTVM_RPC_CMD_NAK 0xFFu /* device -> host only */

/* Response status codes. */
#define UTVM_RPC_OK 0u
#define UTVM_RPC_UNKNOWN_COMMAND 1u
#define UTVM_RPC_BAD_REQUEST 2u   /* arguments too short or malformed */
#define UTVM_RPC_NO_SESSION 3u    /* no session, or not the current one */
#define UTVM_RPC_BAD_SEQUENCE 4u  /* a stale or reused sequence number */
#define UTVM_RPC_BAD_INDEX 5u     /* no input/output with that index */
#define UTVM_RPC_BAD_RANGE 6u     /* offset + length beyond the tensor */
#define UTVM_RPC_TOO_LONG 7u      /* the answer would not fit in one frame */
#define UTVM_RPC_RUN_FAILED 8u    /* the model's run returned non-zero */
#define UTVM_RPC_BAD_VERSION 9u   /* the host speaks another protocol version */
#define UTVM_RPC_FRAME_ERROR 10u  /* in a NAK: a damaged frame was dropped */

/* Data type codes (the TFLite TensorType numbers). */
#define UTVM_DTYPE_FLOAT32 0u
#define UTVM_DTYPE_INT32 2u
#define UTVM_DTYPE_UINT8 3u
#define UTVM_DTYPE_INT64 4u
#define UTVM_DTYPE_BOOL 6u
#define UTVM_DTYPE_INT16 7u
#define UTVM_DTYPE_INT8 9u

/* Units of the inference timer (utvm_platform_timer_stop). */
#define UTVM_TIMER_UNIT_UNKNOWN 0u
#define UTVM_TIMER_UNIT_NANOSECONDS 1u
#define UTVM_TIMER_UNIT_MICROSECONDS 2u
#define UTVM_TIMER_UNIT_MILLISECONDS 3u
#define UTVM_TIMER_UNIT_CYCLES 4u        /* CPU clock cycles */
#define UTVM_TIMER_UNIT_INSTRUCTIONS 5u  /* e.g. QEMU -icount SysTick */
#define UTVM_TIMER_UNIT_TICKS 6u         /* a timer of ticks_per_second */

/* Defaults for the timer description, if main() does not call
   utvm_rpc_server_set_timer(). */
#ifndef UTVM_TIMER_UNIT
#define UTVM_TIMER_UNIT UTVM_TIMER_UNIT_UNKNOWN
#endif
#ifndef UTVM_TIMER_TICKS_PER_SECOND
#define UTVM_TIMER_TICKS_PER_SECOND 0u
#endif

/* Bytes read from the platform per utvm_platform_read call (on the stack). */
#ifndef UTVM_RPC_READ_CHUNK
#define UTVM_RPC_READ_CHUNK 64u
#endif

/* Codes passed to utvm_platform_abort. */
#define UTVM_ABORT_READ 1
#define UTVM_ABORT_WRITE 2
#define UTVM_ABORT_BAD_MODEL 3

/* One model input or output: a buffer the server reads and writes byte-wise. */
typedef struct {
  void *data;
  uint32_t bytes;
  uint8_t dtype; /* UTVM_DTYPE_* */
} utvm_rpc_tensor;

/* What the server needs to know about the model it serves. */
typedef struct {
  const char *name;               /* the model's C name */
  uint8_t num_inputs;
  uint8_t num_outputs;
  const utvm_rpc_tensor *inputs;  /* num_inputs entries */
  const utvm_rpc_tensor *outputs; /* num_outputs entries */
  int32_t (*run)(void);           /* one inference on those buffers; 0 = success */
} utvm_model_descriptor;

/* The descriptor the generated glue defines (rpc_glue.py). */
extern const utvm_model_descriptor utvm_model;

/* Prepare the server for model (NULL, or a descriptor without a run function,
   aborts with UTVM_ABORT_BAD_MODEL). No session is open afterwards. */
void utvm_rpc_server_init(const utvm_model_descriptor *model);

/* Declare the unit of utvm_platform_timer_stop() and its rate (0: unknown). */
void utvm_rpc_server_set_timer(uint8_t unit, uint32_t ticks_per_second);

/* Read what the platform has (one utvm_platform_read call), handle every
   complete frame and send the responses. Returns the number of requests
   handled (0 if none), or < 0 after a read error (the platform's abort has
   been called, and returned). */
int32_t utvm_rpc_server_poll(void);

/* Poll for ever. */
void utvm_rpc_server_run(void);

/* The server's counters (the STATS command). */
void utvm_rpc_server_stats(uint32_t out[10]);

#ifdef __cplusplus
}
#endif

#endif /* UTVM_RPC_SERVER_H */
