/*
 * e1000-opt stage 4: TSO and checksum passthrough to a vnet-header
 * backend, receive checksum offload (RXCSUM).
 *
 * Upstream e1000 cuts every TSO packet (up to 64 KiB) into MSS-sized
 * frames, checksums each one with a byte loop and writes each to the
 * backend: ~45 writes and two passes over the data per packet.  A tap
 * backend can take the packet whole with a virtio_net_hdr and let the
 * host kernel segment it (or not at all, for local delivery) as it does
 * for virtio-net and e1000e.  The device still fixes up the headers the
 * way the software path fixes up its first segment, so that the
 * backend's segments are the software path's frames.  Packets the
 * backend could not segment the same way stay on the software path.
 *
 * On receive, upstream always reports "ignore checksum" (IXSM), so the
 * guest checksums every byte itself.  With RXCSUM enabled by the guest
 * the device checks the IPv4 header and TCP/UDP checksums and reports
 * good ones as good and bad ones as errors, as the 8254x does.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/iov.h"
#include "net/checksum.h"
#include "net/eth.h"
#include "e1000_offload.h"

#define IP4_MIN_HLEN    20
#define IP6_HLEN        40
#define TCP_MIN_HLEN    20
#define TCP_CSUM_OFF    16
#define TCP_FLAGS_OFF   13
#define TCP_FLAG_CWR    0x80
#define UDP_HLEN        8
#define UDP_CSUM_OFF    6

/* Largest whole TSO packet: what the 16-bit tx.size can count. */
#define TSO_MAX         0xffff

void e1000_offload_realize(E1000Offload *o, NetClientState *nc)
{
    NetClientState *peer = nc->peer;

    o->vnet = false;
    if (!o->enabled) {
        return;
    }
    if (peer && qemu_has_vnet_hdr(peer) &&
        qemu_has_vnet_hdr_len(peer, E1000_OFFLOAD_HDR_LEN)) {
        qemu_set_vnet_hdr_len(peer, E1000_OFFLOAD_HDR_LEN);
        o->vnet = true;
    }
}

bool e1000_offload_tso_start(const E1000Offload *o,
                             const e1000x_txd_props *p, uint8_t sum_needed,
                             bool vlan, bool loopback)
{
    /*
     * The backend checksums and segments TCP only, and needs both sums
     * the software path would insert; an inserted VLAN tag would move
     * every offset.  UDP "TSO" and anything odd stay in software.
     */
    return o->vnet && !vlan && !loopback && p->tcp && p->mss &&
           p->hdr_len && p->paylen &&
           (sum_needed & E1000_TXD_POPTS_TXSM) &&
           (!p->ip || (sum_needed & E1000_TXD_POPTS_IXSM)) &&
           p->hdr_len + p->paylen <= TSO_MAX;
}

static void add_len_to_pseudo_sum(uint8_t *sp, uint32_t len)
{
    /* As xmit_seg() does for each segment, with the end-around carry. */
    uint32_t phsum = lduw_be_p(sp) + len;

    phsum = (phsum >> 16) + (phsum & 0xffff);
    stw_be_p(sp, phsum);
}

bool e1000_offload_prepare_tso(uint8_t *buf, uint32_t size,
                               const e1000x_txd_props *p, uint8_t sum_needed,
                               struct virtio_net_hdr *vh)
{
    uint32_t ipcss = p->ipcss, tucss = p->tucss, hl = p->hdr_len;
    uint8_t *ip = buf + ipcss, *th = buf + tucss;
    uint16_t ethertype;
    uint8_t gso;

    /*
     * Only what a Linux host segments into the software path's frames:
     * Ethernet + IPv4 (options allowed) or IPv6 without extension
     * headers + TCP, the context's offsets matching the headers, the
     * header length ending at the TCP payload.
     */
    if (size <= hl || ipcss != ETH_HLEN || hl < tucss + TCP_MIN_HLEN ||
        p->tucso != tucss + TCP_CSUM_OFF || p->tucse || p->mss == 0) {
        return false;
    }
    ethertype = lduw_be_p(buf + 12);
    if (p->ip) {
        uint32_t ihl = (ip[0] & 0xf) * 4;

        if (ethertype != ETH_P_IP || (ip[0] >> 4) != 4 ||
            ihl < IP4_MIN_HLEN || tucss != ipcss + ihl ||
            ip[9] != IP_PROTO_TCP || (lduw_be_p(ip + 6) & 0x3fff) ||
            p->ipcso != ipcss + 10 || p->ipcse != tucss - 1) {
            return false;
        }
        gso = VIRTIO_NET_HDR_GSO_TCPV4;
    } else {
        if (ethertype != ETH_P_IPV6 || (ip[0] >> 4) != 6 ||
            tucss != ipcss + IP6_HLEN || ip[6] != IP_PROTO_TCP) {
            return false;
        }
        gso = VIRTIO_NET_HDR_GSO_TCPV6;
    }
    if (hl != tucss + (th[12] >> 4) * 4) {
        return false;
    }

    /* The software path's first segment, stretched to the whole packet. */
    if (p->ip) {
        stw_be_p(ip + 2, size - ipcss);
        if (sum_needed & E1000_TXD_POPTS_IXSM) {
            stw_be_p(ip + 10, 0);
            stw_be_p(ip + 10, net_checksum_finish_nozero(
                         net_checksum_add(tucss - ipcss, ip)));
        }
    } else {
        /* The IPv6 payload length; the software path writes size - ipcss. */
        stw_be_p(ip + 4, size - ipcss - IP6_HLEN);
    }
    add_len_to_pseudo_sum(th + TCP_CSUM_OFF, size - tucss);

    memset(vh, 0, sizeof(*vh));
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->csum_start = tucss;
    vh->csum_offset = TCP_CSUM_OFF;
    if (size - hl > p->mss) {
        vh->gso_type = gso;
        if (th[TCP_FLAGS_OFF] & TCP_FLAG_CWR) {
            vh->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
        }
        vh->hdr_len = hl;
        vh->gso_size = p->mss;
    }
    return true;
}

bool e1000_offload_prepare_csum(const E1000Offload *o, uint32_t size,
                                const e1000x_txd_props *p, bool loopback,
                                struct virtio_net_hdr *vh)
{
    /*
     * putsum() sums from TUCSS to TUCSE (or the end) into TUCSO; the
     * backend sums from csum_start to the end into csum_start +
     * csum_offset.  Same only when TUCSE reaches the end of the frame.
     */
    if (!o->vnet || loopback || p->tucso < p->tucss ||
        p->tucso + 2 > size || (p->tucse && p->tucse + 1 < size)) {
        return false;
    }
    memset(vh, 0, sizeof(*vh));
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->csum_start = p->tucss;
    vh->csum_offset = p->tucso - p->tucss;
    return true;
}

uint32_t e1000_offload_segments(const struct virtio_net_hdr *vh,
                                uint32_t size)
{
    if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        return 1;
    }
    return DIV_ROUND_UP(size - vh->hdr_len, vh->gso_size);
}

void e1000_offload_send(const E1000Offload *o, NetClientState *nc,
                        const uint8_t *buf, int size,
                        const struct virtio_net_hdr *vh, bool loopback)
{
    static const struct virtio_net_hdr none;
    struct iovec iov[2] = {
        { .iov_base = (void *)(vh ? vh : &none),
          .iov_len = E1000_OFFLOAD_HDR_LEN },
        { .iov_base = (void *)buf, .iov_len = size },
    };

    if (!o->vnet) {
        if (loopback) {
            qemu_receive_packet(nc, buf, size);
        } else {
            qemu_send_packet(nc, buf, size);
        }
        return;
    }
    if (loopback) {
        g_autofree uint8_t *copy = g_malloc(E1000_OFFLOAD_HDR_LEN + size);

        iov_to_buf(iov, 2, 0, copy, E1000_OFFLOAD_HDR_LEN + size);
        qemu_receive_packet(nc, copy, E1000_OFFLOAD_HDR_LEN + size);
        return;
    }
    qemu_sendv_packet(nc, iov, 2);
}

/* The 16-bit sum of @len bytes at @buf as if it started at offset @seq. */
static uint32_t sum_at(const uint8_t *buf, size_t len, size_t seq)
{
    return net_checksum_add_cont(len, (uint8_t *)buf, seq);
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

static void rx_csum(uint32_t rxcsum, const uint8_t *buf, size_t size,
                    uint8_t *status, uint8_t *errors, uint16_t *csum)
{
    size_t pcss = rxcsum & 0xff, l3 = ETH_HLEN, ihl, tot, l4 = 0, l4len = 0;
    const uint8_t *ip;
    uint32_t l4sum = 0, pkt = 0;
    uint16_t ethertype;
    uint8_t proto;
    bool l4_done = false;

    *status = 0;
    *errors = 0;
    if (size < ETH_HLEN) {
        goto packet_sum;
    }
    ethertype = lduw_be_p(buf + 12);
    if (ethertype == ETH_P_VLAN && size >= ETH_HLEN + 4) {
        ethertype = lduw_be_p(buf + 16);
        l3 += 4;
    }
    ip = buf + l3;
    /* Only IPv4 is checked, as on the 8254x: IPv6 is left to the guest. */
    if (ethertype != ETH_P_IP || size < l3 + IP4_MIN_HLEN ||
        (ip[0] >> 4) != 4) {
        goto packet_sum;
    }
    ihl = (ip[0] & 0xf) * 4;
    tot = lduw_be_p(ip + 2);
    if (ihl < IP4_MIN_HLEN || tot < ihl || l3 + tot > size) {
        goto packet_sum;
    }
    if (rxcsum & E1000_RXCSUM_IPOFLD) {
        *status |= E1000_RXD_STAT_IPCS;
        if (net_raw_checksum((uint8_t *)ip, ihl)) {
            *errors |= E1000_RXD_ERR_IPE;
            goto packet_sum;
        }
    }
    proto = ip[9];
    l4len = tot - ihl;
    if (!(rxcsum & E1000_RXCSUM_TUOFLD) || (lduw_be_p(ip + 6) & 0x3fff) ||
        !((proto == IP_PROTO_TCP && l4len >= TCP_MIN_HLEN) ||
          (proto == IP_PROTO_UDP && l4len >= UDP_HLEN &&
           lduw_be_p(ip + ihl + UDP_CSUM_OFF)))) {
        goto packet_sum;
    }
    l4 = l3 + ihl;
    l4sum = sum_at(buf + l4, l4len, 0);
    l4_done = true;
    *status |= E1000_RXD_STAT_TCPCS;
    if (net_checksum_finish(l4sum + sum_at(ip + 12, 8, 0) + proto + l4len)) {
        *errors |= E1000_RXD_ERR_TCPE;
    }

packet_sum:
    /*
     * The packet checksum from PCSS to the end of the frame, reusing the
     * TCP/UDP sum when it lies inside that range (one pass over the
     * payload instead of two).
     */
    if (pcss < size) {
        if (l4_done && pcss <= l4) {
            size_t end = l4 + l4len;
            uint16_t part = fold(l4sum);

            pkt = sum_at(buf + pcss, l4 - pcss, 0);
            pkt += ((l4 - pcss) & 1) ? bswap16(part) : part;
            pkt += sum_at(buf + end, size - end, end - pcss);
        } else {
            pkt = sum_at(buf + pcss, size - pcss, 0);
        }
    }
    *csum = fold(pkt);
}

void e1000_offload_rx_csum(uint32_t rxcsum, const struct iovec *iov,
                           int iovcnt, size_t size, uint8_t *status,
                           uint8_t *errors, uint16_t *csum)
{
    g_autofree uint8_t *flat = NULL;

    if (iov->iov_len >= size) {
        rx_csum(rxcsum, iov->iov_base, size, status, errors, csum);
        return;
    }
    /* Frames from a tap come in one piece; others are rare. */
    flat = g_malloc(size);
    iov_to_buf(iov, iovcnt, 0, flat, size);
    rx_csum(rxcsum, flat, size, status, errors, csum);
}
