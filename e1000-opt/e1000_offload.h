/*
 * e1000-opt stage 4: TSO and checksum passthrough to a vnet-header
 * backend, receive checksum offload (RXCSUM).
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_E1000_OFFLOAD_H
#define HW_NET_E1000_OFFLOAD_H

#include "net/net.h"
#include "standard-headers/linux/virtio_net.h"
#include "hw/net/mii.h"
#include "hw/net/e1000_common.h"
#include "hw/net/e1000x_common.h"

typedef struct E1000Offload {
    /* Property x-offload. */
    bool enabled;
    /*
     * The backend takes and gives a virtio_net_hdr before each frame:
     * set at realize, only when enabled and the peer accepted it.
     */
    bool vnet;
} E1000Offload;

#define E1000_OFFLOAD_HDR_LEN ((int)sizeof(struct virtio_net_hdr))

/*
 * With x-offload=on, ask the peer of @nc for a 10-byte vnet header.
 * Backends without one (user, socket, stream, a hub) keep the software
 * path.  With x-offload=off the backend is never touched.
 */
void e1000_offload_realize(E1000Offload *o, NetClientState *nc);

/*
 * At the first data descriptor of a TSO packet: may it be gathered whole
 * and handed to the backend as one GSO packet?  Only the context
 * descriptor is known yet; the headers are checked once gathered.
 */
bool e1000_offload_tso_start(const E1000Offload *o,
                             const e1000x_txd_props *p, uint8_t sum_needed,
                             bool vlan, bool loopback);

/*
 * The gathered TSO packet @buf of @size bytes: check its headers against
 * the context @p, apply what the software path does to the first
 * segment (IPv4 total length and header checksum, IPv6 payload length,
 * the length in the TCP pseudo-header sum) for the whole packet and fill
 * @vh.  False (and @buf untouched) if the backend could not segment it
 * exactly as the software path would: the caller segments it.
 */
bool e1000_offload_prepare_tso(uint8_t *buf, uint32_t size,
                               const e1000x_txd_props *p, uint8_t sum_needed,
                               struct virtio_net_hdr *vh);

/*
 * A plain frame whose TCP/UDP checksum the guest asked for (TXSM): fill
 * @vh with NEEDS_CSUM if the backend computes the same sum the software
 * path would (from TUCSS to the end of the frame, into TUCSO).
 */
bool e1000_offload_prepare_csum(const E1000Offload *o, uint32_t size,
                                const e1000x_txd_props *p, bool loopback,
                                struct virtio_net_hdr *vh);

/* Number of wire frames the backend makes of a GSO packet of @size. */
uint32_t e1000_offload_segments(const struct virtio_net_hdr *vh,
                                uint32_t size);

/*
 * Send one frame: with a vnet backend it always carries a header (@vh,
 * or an empty one); a loopback frame goes to our own receive with an
 * empty header, as the backend's frames do.
 */
void e1000_offload_send(const E1000Offload *o, NetClientState *nc,
                        const uint8_t *buf, int size,
                        const struct virtio_net_hdr *vh, bool loopback);

/*
 * Receive checksum offload per RXCSUM (IPOFL, TUOFL, PCSS): check the
 * IPv4 header and TCP/UDP checksums of the frame of @size bytes in @iov
 * and return the descriptor status bits (IPCS, TCPCS) and errors (IPE,
 * TCPE) to report; *@csum gets the packet checksum from PCSS.  Frames
 * the device does not understand get neither bit: the guest checks them.
 */
void e1000_offload_rx_csum(uint32_t rxcsum, const struct iovec *iov,
                           int iovcnt, size_t size, uint8_t *status,
                           uint8_t *errors, uint16_t *csum);

#endif
