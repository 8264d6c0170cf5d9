/* SPDX-License-Identifier: GPL-2.0 */
/* log2 helpers for in-kernel histograms (same approach as libbpf-tools' bits.bpf.h). */
#ifndef VP_BITS_BPF_H
#define VP_BITS_BPF_H

static __always_inline __u64 vp_log2(__u32 v)
{
	__u32 shift, r;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u64 vp_log2l(__u64 v)
{
	__u32 hi = v >> 32;

	if (hi)
		return vp_log2(hi) + 32;
	return vp_log2(v);
}

/* Slot for a duration; the last slot takes everything above. */
static __always_inline __u32 vp_hist_slot(__u64 v)
{
	__u64 s = vp_log2l(v);

	if (s >= VP_HIST_SLOTS)
		s = VP_HIST_SLOTS - 1;
	return s;
}

#endif
