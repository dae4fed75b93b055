/*
 * CRC-16-CCITT (poly 0x1021, init 0xFFFF, MSB first), four bits at a time
 * with a 16-entry table: 32 bytes of constants, two lookups per byte. All
 * arithmetic stays in uint16_t values whose shifts cannot overflow an int of
 * 16 or 32 bits.
 */
#include "utvm/rpc/crc16.h"

/* crc16_nibble[n] = the CRC register after shifting the 4-bit value n out of
   its top nibble: n * x^12 mod the polynomial, computed for poly 0x1021. */
static const uint16_t crc16_nibble[16] = {
    0x0000u, 0x1021u, 0x2042u, 0x3063u, 0x4084u, 0x50A5u, 0x60C6u, 0x70E7u,
    0x8108u, 0x9129u, 0xA14Au, 0xB16Bu, 0xC18Cu, 0xD1ADu, 0xE1CEu, 0xF1EFu,
};

uint16_t utvm_crc16_update(uint16_t crc, uint8_t byte) {
  uint8_t top;
  top = (uint8_t)((uint8_t)(crc >> 12) ^ (uint8_t)(byte >> 4));
  crc = (uint16_t)((uint16_t)(crc << 4) ^ crc16_nibble[top & 0x0Fu]);
  top = (uint8_t)((uint8_t)(crc >> 12) ^ (uint8_t)(byte & 0x0Fu));
  crc = (uint16_t)((uint16_t)(crc << 4) ^ crc16_nibble[top & 0x0Fu]);
  return crc;
}

uint16_t utvm_crc16_update_buf(uint16_t crc, const uint8_t *data, size_t len) {
  size_t i;
  for (i = 0; i < len; i++) {
    crc = utvm_crc16_update(crc, data[i]);
  }
  return crc;
}

uint16_t utvm_crc16(const uint8_t *data, size_t len) {
  return utvm_crc16_update_buf(UTVM_CRC16_INIT, data, len);
}
