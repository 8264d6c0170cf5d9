"""Intel 8254x (QEMU "e1000", 82540EM) definitions and bring-up over qtest.

Register offsets and bits follow the Intel PCI/PCI-X Family of Gigabit
Ethernet Controllers Software Developer's Manual (8254x SDM) and QEMU's
hw/net/e1000_regs.h / e1000x_regs.h.  Everything here goes through the same
paths a guest uses: port I/O 0xCF8/0xCFC for PCI configuration, memory
reads/writes to BAR0 for registers, guest RAM for descriptors and buffers.
"""

import struct

# PCI ---------------------------------------------------------------------
VENDOR_INTEL = 0x8086
DEV_82540EM = 0x100E
PCI_COMMAND = 0x04
PCI_COMMAND_IO, PCI_COMMAND_MEMORY, PCI_COMMAND_MASTER = 0x1, 0x2, 0x4
PCI_BAR0 = 0x10
PCI_INTERRUPT_LINE, PCI_INTERRUPT_PIN = 0x3C, 0x3D
PIIX_PIRQCA = 0x60          # PIIX3 (00:01.0) PIRQ[A-D] route registers

BAR0 = 0xFEBC0000           # 128 KiB register window, where SeaBIOS puts it
BAR0_SIZE = 0x20000
IRQ = 11                    # ISA IRQ / IOAPIC input we route the NIC's INTx to

# Registers (byte offsets in BAR0) -----------------------------------------
CTRL, STATUS, EECD, EERD = 0x0000, 0x0008, 0x0010, 0x0014
ICR, ITR, ICS, IMS, IMC = 0x00C0, 0x00C4, 0x00C8, 0x00D0, 0x00D8
RCTL, TCTL, TIPG = 0x0100, 0x0400, 0x0410
RDBAL, RDBAH, RDLEN, RDH, RDT = 0x2800, 0x2804, 0x2808, 0x2810, 0x2818
RDTR, RADV = 0x2820, 0x282C
TDBAL, TDBAH, TDLEN, TDH, TDT = 0x3800, 0x3804, 0x3808, 0x3810, 0x3818
TIDV, TADV = 0x3820, 0x382C
MPC, PRC64, GPRC, BPRC, MPRC, GPTC = 0x4010, 0x405C, 0x4074, 0x4078, 0x407C, 0x4080
GORCL, GORCH, GOTCL, GOTCH = 0x4088, 0x408C, 0x4090, 0x4094
RNBC, ROC, TORL, TORH, TOTL, TOTH = 0x40A0, 0x40AC, 0x40C0, 0x40C4, 0x40C8, 0x40CC
TPR, TPT = 0x40D0, 0x40D4
PTC64, PTC127, PTC255, PTC511, PTC1023, PTC1522 = (0x40D8, 0x40DC, 0x40E0,
                                                  0x40E4, 0x40E8, 0x40EC)
MPTC, BPTC = 0x40F0, 0x40F4
MTA, RA = 0x5200, 0x5400

# Bits ----------------------------------------------------------------------
STATUS_FD, STATUS_LU = 0x1, 0x2
EERD_START, EERD_DONE = 0x1, 0x10

ICR_TXDW, ICR_TXQE, ICR_LSC, ICR_RXSEQ = 0x01, 0x02, 0x04, 0x08
ICR_RXDMT0, ICR_RXO, ICR_RXT0 = 0x10, 0x40, 0x80
ICR_MDAC, ICR_TXD_LOW, ICR_SRPD = 0x200, 0x8000, 0x10000

RCTL_EN, RCTL_SBP, RCTL_UPE, RCTL_MPE = 1 << 1, 1 << 2, 1 << 3, 1 << 4
RCTL_LPE, RCTL_BAM, RCTL_SECRC = 1 << 5, 1 << 15, 1 << 26
RCTL_RDMTS_HALF = 0 << 8
RCTL_BSIZE_2048 = 0 << 16
RCTL_BSIZE_1024 = 1 << 16
RCTL_BSEX = 1 << 25

TCTL_EN, TCTL_PSP = 1 << 1, 1 << 3
TCTL_CT = 0x0F << 4
TCTL_COLD = 0x40 << 12
TCTL_DEFAULT = TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD   # as Linux e1000

# Legacy TX descriptor: CMD and STA bits
TXD_EOP, TXD_IFCS, TXD_IC, TXD_RS = 0x01, 0x02, 0x04, 0x08
TXD_RPS, TXD_DEXT, TXD_VLE, TXD_IDE = 0x10, 0x20, 0x40, 0x80
TXD_STA_DD, TXD_STA_EC, TXD_STA_LC, TXD_STA_TU = 0x1, 0x2, 0x4, 0x8
TXD_CMD_STD = TXD_EOP | TXD_IFCS | TXD_RS

# RX descriptor status bits
RXD_DD, RXD_EOP, RXD_IXSM, RXD_VP = 0x01, 0x02, 0x04, 0x08
RXD_TCPCS, RXD_IPCS, RXD_PIF = 0x20, 0x40, 0x80

DESC_SIZE = 16
DEV_MAC = bytes.fromhex("525400123456")
PEER_MAC = bytes.fromhex("525400abcdef")
ETHERTYPE_TEST = 0x88B5     # IEEE 802 local experimental ethertype


def tx_desc(addr, length, cmd=TXD_CMD_STD, sta=0, cso=0, css=0, special=0):
    """Legacy transmit descriptor (8254x SDM 3.3.3, table 3-8)."""
    return struct.pack("<QHBBBBH", addr, length, cso, cmd, sta, css, special)


def parse_tx_desc(raw):
    addr, length, cso, cmd, sta, css, special = struct.unpack("<QHBBBBH", raw)
    return dict(addr=addr, length=length, cso=cso, cmd=cmd, sta=sta, css=css,
                special=special)


def rx_desc(addr, length=0, csum=0, status=0, errors=0, special=0):
    """Receive descriptor (8254x SDM 3.2.3, table 3-1)."""
    return struct.pack("<QHHBBH", addr, length, csum, status, errors, special)


def parse_rx_desc(raw):
    addr, length, csum, status, errors, special = struct.unpack("<QHHBBH", raw)
    return dict(addr=addr, length=length, csum=csum, status=status,
                errors=errors, special=special)


def make_frame(seq, length, dst=PEER_MAC, src=DEV_MAC, ethertype=ETHERTYPE_TEST):
    """A deterministic Ethernet frame (no FCS) of exactly `length` bytes,
    whose payload starts with a 32-bit sequence number."""
    hdr = dst + src + struct.pack(">H", ethertype)
    body = struct.pack(">I", seq & 0xFFFFFFFF)
    n = max(0, length - len(hdr) - len(body))
    body += bytes((seq * 31 + i * 7 + (i >> 8)) & 0xFF for i in range(n))
    return (hdr + body)[:length]


def pattern(seed, length):
    """Non-frame filler bytes, e.g. for buffers the device should not touch."""
    return bytes((seed * 13 + i * 5 + (i >> 8) * 3) & 0xFF for i in range(length))


def mta_hash_mo0(dst):
    """Multicast table index for RCTL.MO=00: address bits [47:36]."""
    return (((dst[5] << 8) | dst[4]) >> 4) & 0xFFF


class E1000:
    """One e1000 on bus 0, with BAR0 mapped and INTx routed to IRQ."""

    def __init__(self, vm, bar=BAR0, irq=IRQ):
        self.vm, self.bar, self.irq = vm, bar, irq
        self.slot = None
        for slot in range(32):
            ids = self.cfg_readl(slot, 0)
            if ids == (DEV_82540EM << 16) | VENDOR_INTEL:
                self.slot = slot
                break
        if self.slot is None:
            raise RuntimeError("no 8086:100e on PCI bus 0")

    # PCI configuration mechanism #1
    def _cfg_addr(self, slot, reg, fn=0, bus=0):
        return 0x80000000 | (bus << 16) | (slot << 11) | (fn << 8) | (reg & 0xFC)

    def cfg_readl(self, slot, reg):
        self.vm.outl(0xCF8, self._cfg_addr(slot, reg))
        return self.vm.inl(0xCFC)

    def cfg_writel(self, slot, reg, val):
        self.vm.outl(0xCF8, self._cfg_addr(slot, reg))
        self.vm.outl(0xCFC, val)

    def cfg_readb(self, slot, reg):
        self.vm.outl(0xCF8, self._cfg_addr(slot, reg))
        return self.vm.inb(0xCFC + (reg & 3))

    def cfg_writeb(self, slot, reg, val):
        self.vm.outl(0xCF8, self._cfg_addr(slot, reg))
        self.vm.outb(0xCFC + (reg & 3), val)

    def bar_size(self):
        old = self.cfg_readl(self.slot, PCI_BAR0)
        self.cfg_writel(self.slot, PCI_BAR0, 0xFFFFFFFF)
        mask = self.cfg_readl(self.slot, PCI_BAR0)
        self.cfg_writel(self.slot, PCI_BAR0, old)
        return (~(mask & ~0xF) + 1) & 0xFFFFFFFF, mask & 0xF

    def enable(self):
        """Map BAR0, enable memory decoding and bus mastering, route INTx
        through the PIIX3 PIRQ registers (as a BIOS would) and intercept the
        IOAPIC inputs, so "IRQ raise/lower <irq>" reports the NIC's line."""
        vm = self.vm
        self.cfg_writel(self.slot, PCI_BAR0, self.bar)
        cmd = self.cfg_readl(self.slot, PCI_COMMAND) & 0xFFFF
        self.cfg_writel(self.slot, PCI_COMMAND,
                        cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)
        pin = self.cfg_readb(self.slot, PCI_INTERRUPT_PIN)   # 1 = INTA#
        # hw/i386/pc_piix.c pc_pci_slot_get_pirq: (intx + slot - 1) & 3
        pirq = ((pin - 1) + self.slot - 1) & 3
        for p in range(4):
            self.cfg_writeb(1, PIIX_PIRQCA + p, self.irq if p == pirq else 0x80)
        self.cfg_writeb(self.slot, PCI_INTERRUPT_LINE, self.irq)
        vm.irq_intercept_in("ioapic")
        return self

    # registers
    def r(self, reg):
        return self.vm.readl(self.bar + reg)

    def w(self, reg, val):
        self.vm.writel(self.bar + reg, val)

    def eeprom_word(self, addr):
        self.w(EERD, EERD_START | (addr << 8))
        v = self.r(EERD)
        if not v & EERD_DONE:
            raise RuntimeError("EERD not done: %#x" % v)
        return v >> 16
