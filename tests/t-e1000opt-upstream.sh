#!/usr/bin/env bash
# e1000-opt: an unchanged command line behaves like upstream e1000.
# "Upstream" is checked two ways: against a QEMU 10.0.2 built from the same
# tarball with none of our device patches (build/bin/qemu-system-x86_64-stock,
# `make qemu-stock`: only the build fix 0001), and against our binary with
# every stage explicitly off.
#  1. The bare-metal guest (scripts/run-baremetal: an exact, known number of
#     STATUS/ICR reads and TDT/IMS/IMC/RDT writes) gives identical
#     per-register counts on the stock QEMU, on ours with "-device e1000" and
#     on ours with x-coalesce=off,x-shadow-regs=off,x-sidecore=off, and all
#     equal the requested numbers: under TCG counted as dispatches into QEMU
#     (USDT memory_region_ops_read/write per address), under KVM (ACCELS=kvm,
#     t-e1000opt-upstream-kvm.sh) as VM exits (kvm:kvm_mmio per
#     guest-physical address and type), where a RAM page laid over the BAR by
#     mistake would remove exits.
#  2. QEMU's memory tree ("info mtree", "info mtree -f") is identical for the
#     stock device, our default device and our all-off device; with all
#     stages on the (disabled) shadow pages show up in the tree, so the
#     comparison can see them, but the flat view is still unchanged before
#     any ring is enabled.
# What it does not prove: that the device's behaviour (frames, interrupts,
# register values) equals upstream's; the qtest suite
# (t-qtest-e1000.sh) compares that register by register, and
# t-e1000opt-matrix.sh the MMIO counts of a Linux guest's workload.
source "$(dirname "$0")/lib.sh"
source "$TOP/tests/e1000opt-lib.sh"

RUN=$TOP/scripts/run-baremetal
check "qemu built" test -x "$QEMU"
make -s -C "$TOP" baremetal >/dev/null
"$QEMU" -device e1000,help 2>/dev/null | grep -q 'x-sidecore=' || die "$QEMU has no e1000-opt properties"
QSTOCK=$BUILD/bin/qemu-system-x86_64-stock
[ -x "$QSTOCK" ] || die "no stock QEMU at $QSTOCK (make qemu-stock)"
QSTOCK_REAL=$(readlink -f "$QSTOCK")
[ "$QSTOCK_REAL" != "$QREAL" ] || die "the stock QEMU is our binary"
"$QSTOCK" -device e1000,help 2>/dev/null | grep -q 'x-coalesce=' && die "$QSTOCK has e1000-opt properties: not a stock build"
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true

STATUS=300 ICR=500 TDT=1000 IMS=40 IMC=30 RDT=20
PARAMS="status=$STATUS icr=$ICR tdt=$TDT ims=$IMS imc=$IMC rdt=$RDT"
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# counts FILE MAP BAR: "key count" lines of @MAP[a, b] entries whose second
# key is an address inside BAR0 (128 KiB), sorted.
counts() {
	awk -v m="@$2[" -v lo="$3" -v hi="$(($3 + 0x20000))" 'index($0, m) == 1 {
		k = substr($0, length(m) + 1); sub(/\]:.*/, "", k)
		n = split(k, a, /, */); addr = a[n] + 0
		if (addr >= lo && addr < hi) print k, $NF }' "$1" | sort
}
# expect_count FILE MAP KEY WANT DESC
expect_count() {
	local got
	got=$(awk -v k="$3" '$0 ~ "^" k " [0-9]+$" { print $NF }' "$1")
	expect_eq "$5" "${got:-0}" "$4"
}

# ------------------------------------------------------------------ KVM
write_attach kvm 'tracepoint:kvm:kvm_mmio /pid == QEMU_PID/ { @mmio[args->type, args->gpa] = count(); }'
write_attach tcg "usdt:$QREAL:qemu:memory_region_ops_read /pid == QEMU_PID/ { @r[0, arg2] = count(); }
usdt:$QREAL:qemu:memory_region_ops_write /pid == QEMU_PID/ { @w[0, arg2] = count(); }"
write_attach tcg-stock "usdt:$QSTOCK_REAL:qemu:memory_region_ops_read /pid == QEMU_PID/ { @r[0, arg2] = count(); }
usdt:$QSTOCK_REAL:qemu:memory_region_ops_write /pid == QEMU_PID/ { @w[0, arg2] = count(); }"
write_attach kvm-stock 'tracepoint:kvm:kvm_mmio /pid == QEMU_PID/ { @mmio[args->type, args->gpa] = count(); }'

for accel in ${ACCELS:-tcg}; do
	for v in default off stock; do
		dev="e1000,romfile="
		[ $v = off ] && dev+=",$ALL_OFF"
		att=$accel
		qbin=$QEMU
		[ $v = stock ] && att=$accel-stock qbin=$QSTOCK
		rm -f "$T_TMP/$att.bt"
		out=$("$RUN" --accel $accel --qemu "$qbin" --device "$dev" --attach-grace 90 --attach "bash $T_TMP/$att.sh" $PARAMS) ||
			die "$accel/$v: run-baremetal failed: $out"
		r=$(grep '^VEXIT-RESULT' <<<"$out")
		echo "  $accel/$v: $r"
		[[ "$r" == "VEXIT-RESULT ok "* ]] || die "$accel/$v: guest did not report ok: $r"
		bar=$(($(field "$r" bar0)))
		bt=$T_TMP/$att.bt
		if [ $v = stock ]; then
			expect_eq "$accel/stock: the traced QEMU is the stock build" "$(cat "$T_TMP/$att.exe")" "$QSTOCK_REAL"
		fi
		if [ $accel = kvm ]; then
			grep -q '^@mmio\[' "$bt" || die "kvm/$v: no kvm_mmio counts: $(cat "$bt" "$T_TMP/kvm.err")"
			counts "$bt" mmio $bar >"$T_TMP/$accel-$v.counts"
		else
			grep -q '^@[rw]\[' "$bt" || die "tcg/$v: no USDT counts: $(cat "$bt" "$T_TMP/tcg.err")"
			{ counts "$bt" r $bar | sed 's/^/r /'; counts "$bt" w $bar | sed 's/^/w /'; } >"$T_TMP/$accel-$v.counts"
		fi
		sed "s/^/    $accel\/$v: /" "$T_TMP/$accel-$v.counts"
	done
	# The counts are the guest's numbers (so they measure something) ...
	c=$T_TMP/$accel-default.counts
	for spec in STATUS:0x08:r ICR:0xC0:r TDT:0x3818:w IMS:0xD0:w IMC:0xD8:w RDT:0x2818:w; do
		IFS=: read -r k off dir <<<"$spec"
		a=$((bar + off))
		if [ $accel = kvm ]; then
			# kvm_mmio type 0 (read unsatisfied) and 1 (read) per read, 2 per write.
			if [ $dir = r ]; then
				expect_count "$c" mmio "0, $a" "${!k}" "kvm/default: $k read exits"
			else
				expect_count "$c" mmio "2, $a" "${!k}" "kvm/default: $k write exits"
			fi
		else
			expect_count "$c" "" "$dir 0, $a" "${!k}" "tcg/default: $k $dir dispatches"
		fi
	done
	# ... and identical, register by register, with every stage off and on
	# the stock QEMU.
	for v in off stock; do
		if diff "$T_TMP/$accel-default.counts" "$T_TMP/$accel-$v.counts" >"$T_TMP/$accel.diff"; then
			ok "$accel: per-register MMIO counts identical, default vs $v ($(wc -l <"$c") registers)"
		else
			die "$accel: per-register MMIO counts differ, default vs $v: $(cat "$T_TMP/$accel.diff")"
		fi
	done
done
# ACCELS=kvm (t-e1000opt-upstream-kvm.sh) compares the exits only.
[ -n "${UPSTREAM_COUNTS_ONLY:-}" ] && exit 0

# ------------------------------------------------------------------ mtree
# mtree SPEC: the e1000 lines of "info mtree -D" (every region, disabled ones
# marked) and of "info mtree -f" (what is mapped), once the firmware has
# mapped the BARs, and the device's type; -device SPEC, no guest to boot.
mtree() {
	local sock=$T_TMP/mt.sock i
	"${MTREE_QEMU:-$QEMU}" -L /usr/share/qemu -L /usr/share/seabios -L /usr/lib/ipxe/qemu \
		-nodefaults -no-user-config -display none -machine pc -accel tcg \
		-netdev user,id=n0 -device "$1,id=nic0,netdev=n0,romfile=" \
		-qmp "unix:$sock,server=on,wait=off" 2>"$T_TMP/mt.err" &
	local p=$!
	for ((i = 0; i < 100; i++)); do
		qmp "$sock" 'human-monitor-command {"command-line":"info mtree -f"}' |
			grep -q 'e1000-mmio' && break
		sleep 0.1
	done
	qmp "$sock" stop 'human-monitor-command {"command-line":"info mtree -D"}' \
		>"$T_TMP/mt.tree" || die "QMP on $1 failed: $(cat "$T_TMP/mt.err")"
	qmp "$sock" 'human-monitor-command {"command-line":"info mtree -f"}' \
		>"$T_TMP/mt.flat" || die "QMP on $1 failed: $(cat "$T_TMP/mt.err")"
	qmp "$sock" 'qom-get {"path":"/machine/peripheral/nic0","property":"type"}' quit |
		jq -r . | head -n 1
	jq -r . "$T_TMP/mt.tree" | grep e1000 | sort
	echo FLAT
	# The flat views of every address space; the same region may appear
	# in several of them, in an order that is not fixed.
	jq -r . "$T_TMP/mt.flat" | grep e1000 | sort
	wait $p || die "QEMU with $1 exited with status $?: $(cat "$T_TMP/mt.err")"
}
flat() { sed -n '/^FLAT$/,$p' "$1"; }
mtree e1000 >"$T_TMP/mt-default"
MTREE_QEMU=$QSTOCK mtree e1000 >"$T_TMP/mt-stock"
mtree "e1000,$ALL_OFF" >"$T_TMP/mt-off"
mtree "e1000,$ALL_ON" >"$T_TMP/mt-on"
check "mtree: e1000-mmio present" grep -q 'e1000-mmio' "$T_TMP/mt-default"
check "mtree: device type e1000" grep -qx '"\?e1000"\?' "$T_TMP/mt-default"
if diff "$T_TMP/mt-default" "$T_TMP/mt-off" >"$T_TMP/mt.diff"; then
	ok "memory tree and flat view identical, default vs all stages off"
else
	die "memory tree differs, default vs all stages off: $(cat "$T_TMP/mt.diff")"
fi
if diff "$T_TMP/mt-stock" "$T_TMP/mt-default" >"$T_TMP/mt.diff"; then
	ok "memory tree and flat view identical, stock QEMU vs ours by default"
else
	die "memory tree differs, stock QEMU vs ours by default: $(cat "$T_TMP/mt.diff")"
fi
check "memory tree: no shadow page by default" bash -c "! grep -q 'e1000-shadow' '$T_TMP/mt-default'"
# The comparison sees the stages: with them on, the (disabled) shadow pages
# are in the tree ...
check "memory tree with stages on: shadow pages present" grep -q 'e1000-shadow-tx' "$T_TMP/mt-on"
# ... but nothing is mapped over the BAR before a ring is enabled.
if diff <(flat "$T_TMP/mt-default") <(flat "$T_TMP/mt-on") >"$T_TMP/flat.diff"; then
	ok "flat view with all stages on, before any ring is enabled: unchanged"
else
	die "stages on map something before any ring is enabled: $(head -20 "$T_TMP/flat.diff")"
fi
