/*
 * e1000-opt: the narrow interface between QEMU's e1000 model and the
 * optimisation stages (interrupt coalescing, register shadowing, sidecore).
 *
 * The stages never see E1000State.  They get the register file, the BAR
 * they may overlay, and a table of callbacks into e1000.c, so each stage
 * can be read, tested and switched off on its own.
 *
 * Copyright (c) 2026 vexit authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NET_E1000_OPT_H
#define HW_NET_E1000_OPT_H

/* Byte offsets of the ring registers the stages care about (82540EM). */
#define E1000_OPT_RX_PAGE   0x2000
#define E1000_OPT_TX_PAGE   0x3000
#define E1000_OPT_PAGE_SIZE 0x1000
#define E1000_OPT_RDLEN     0x2808
#define E1000_OPT_RDH       0x2810
#define E1000_OPT_RDT       0x2818
#define E1000_OPT_TDLEN     0x3808
#define E1000_OPT_TDH       0x3810
#define E1000_OPT_TDT       0x3818

/* Index into mac_reg[] of a register at byte offset @off. */
#define E1000_OPT_IDX(off)  ((off) >> 2)

typedef struct E1000OptOps {
    /* Run TX descriptor processing (start_xmit); called with the BQL. */
    void (*kick_tx)(void *dev);
    /* The guest posted RX buffers: flush packets queued in the backend. */
    void (*flush_rx)(void *dev);
    /*
     * Apply a guest write of @val to mac_reg[@index] with the register's
     * write semantics (masks, side effects), as a trapped write would.
     */
    void (*write_reg)(void *dev, int index, uint32_t val);
} E1000OptOps;

#endif
