/*
 * CRC-16-CCITT ("CCITT-FALSE"): polynomial 0x1021, initial value 0xFFFF,
 * no reflection of input or output, no final XOR. The check value of the
 * ASCII string "123456789" is 0x29B1.
 */
#ifndef UTVM_RPC_CRC16_H
#define UTVM_RPC_CRC16_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UTVM_CRC16_INIT ((uint16_t)0xFFFFu)

/* Feed one byte into a running CRC; returns the new CRC. */
uint16_t utvm_crc16_update(uint16_t crc, uint8_t byte);

/* Feed len bytes into a running CRC (start from UTVM_CRC16_INIT). */
uint16_t utvm_crc16_update_buf(uint16_t crc, const uint8_t *data, size_t len);

/* The CRC of one buffer: utvm_crc16_update_buf(UTVM_CRC16_INIT, data, len). */
uint16_t utvm_crc16(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* UTVM_RPC_CRC16_H */
