#!/usr/bin/env bash
# A device with a large RAM-like window must not cost another device its
# counts.  The bare-metal guest, on a machine with QEMU's standard VGA, first
# writes VGA distinct bytes of the legacy VGA window ("vga-lowmem": more
# distinct offsets than vexitprof's per-offset map had entries before its
# detail was capped), then makes a known number of e1000 register accesses.
# vexitprof, attached before the guest's accesses, must count every e1000
# access exactly, give vga-lowmem the right total (its rows plus its +other
# row), and say in JSON, table and folded stacks that vga-lowmem lost detail.
# An independent bpftrace count of QEMU's memory_region_ops_write by region
# name, in the same run, checks the VGA total.  Under TCG (this test's
# subject is vexitprof's aggregation, not KVM).
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/vexitprof-lib.sh"
. "$TOP/tests/baremetal-lib.sh"

VGA=12000 TDT=1000 ICR=500 STATUS=200
GUEST="vga=$VGA tdt=$TDT icr=$ICR status=$STATUS"
# QEMU's default display device; run-baremetal passes -nodefaults otherwise
VGA_ARGS=(--qemu-arg -vga --qemu-arg std)
E='.device == "e1000-mmio"'
V='.device == "vga-lowmem" and .dir == "write"'

# run_vp NAME VEXITPROF-OPTIONS...: the guest with vexitprof (output in
# NAME.out) and a bpftrace count of memory_region_ops by region name (NAME.bt),
# both attached while the guest holds; prints the guest's result line.
run_vp() {
	local name=$1
	shift
	write_attach "$name-bt" "
usdt:$QREAL:qemu:memory_region_ops_write /pid == QEMU_PID/ { @w[str(arg5)] = count(); }
usdt:$QREAL:qemu:memory_region_ops_read /pid == QEMU_PID/ { @r[str(arg5)] = count(); }"
	cat >"$T_TMP/$name.sh" <<EOF
VEXIT_READY_FILE=$T_TMP/$name.btready bash $T_TMP/$name-bt.sh &
bt=\$!
"$VEXITPROF" -p \$QEMU_PID $* --ready-file $T_TMP/$name.vpready >$T_TMP/$name.out 2>$T_TMP/$name.err &
vp=\$!
until [ -e $T_TMP/$name.btready ] && [ -e $T_TMP/$name.vpready ]; do
	kill -0 \$bt 2>/dev/null && kill -0 \$vp 2>/dev/null || exit 1
	sleep 0.1
done
touch "\$VEXIT_READY_FILE"
trap 'kill -INT \$bt \$vp 2>/dev/null' INT
while kill -0 \$bt 2>/dev/null || kill -0 \$vp 2>/dev/null; do wait; done
EOF
	"$RUN" --accel tcg "${VGA_ARGS[@]}" --attach "bash $T_TMP/$name.sh" -- $GUEST |
		grep '^VEXIT-RESULT' || die "$name: guest failed: $(cat "$T_TMP/$name.err")"
}

# check_bt NAME RESULT: the guest did what it says, by bpftrace's count
check_bt() {
	local bt=$T_TMP/$1-bt.bt
	check_result "$1" "$2"
	expect_eq "$1: guest wrote vga=$VGA" "$(field "$2" vga)" "$VGA"
	grep -q '^@w\[' "$bt" || die "$1: bpftrace printed no counts: $(cat "$bt" "$T_TMP/$1-bt.err")"
	expect_eq "$1: bpftrace vga-lowmem writes" "$(bt_count "$bt" w vga-lowmem)" "$VGA"
	expect_eq "$1: bpftrace e1000-mmio accesses" \
		"$(($(bt_count "$bt" w e1000-mmio) + $(bt_count "$bt" r e1000-mmio)))" \
		$((TDT + ICR + STATUS))
}

# ------------------------------------------------------------------ JSON
r=$(run_vp json --json)
echo "  json: $r"
check_bt json "$r"
j=$T_TMP/json.out
cat "$T_TMP/json.err"
/usr/bin/python3 -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])),
                    cls=jsonschema.Draft202012Validator)' "$TOP/profiler/json-schema.json" "$j" ||
	die "JSON does not match profiler/json-schema.json"
ok "JSON matches the schema"
expect_eq "source is USDT" "$(jq -r .source "$j")" usdt
expect_eq "e1000 TDT writes" "$(vp_sum "$j" "$E and .offset == 14360 and .dir == \"write\"")" "$TDT"
expect_eq "e1000 ICR reads" "$(vp_sum "$j" "$E and .offset == 192 and .dir == \"read\"")" "$ICR"
expect_eq "e1000 STATUS reads" "$(vp_sum "$j" "$E and .offset == 8 and .dir == \"read\"")" "$STATUS"
expect_eq "e1000 accesses in all" "$(vp_sum "$j" "$E")" $((TDT + ICR + STATUS))
expect_eq "vga-lowmem writes in all (= guest = bpftrace)" "$(vp_sum "$j" "$V")" "$VGA"
expect_eq "nothing dropped" "$(jq .lost.dropped "$j")" 0
# the cap must have acted, or this run tests nothing
kept=$(jq "[.accesses[] | select($V and (.folded | not))] | length" "$j")
other=$(vp_sum "$j" "$V and .folded and .register == \"+other\"")
expect_ge "vga-lowmem: some offsets kept" "$kept" 1
expect_ge "vga-lowmem: the rest folded into +other" "$other" 1
expect_eq "vga-lowmem: kept rows + +other = total" \
	"$(($(vp_sum "$j" "$V and (.folded | not)") + other))" "$VGA"
d='.lost.detail[] | select(.device == "vga-lowmem" and .dir == "write")'
expect_eq "lost.detail names vga-lowmem with its +other count" "$(jq "$d | .folded" "$j")" "$other"
expect_eq "lost.detail: vga-lowmem total" "$(jq "$d | .total" "$j")" "$VGA"
expect_eq "lost.detail: rows kept" "$(jq "$d | .rows_kept" "$j")" "$kept"
cap=$(jq "$d | .cap" "$j")
expect_eq "lost.detail: by the cap, not a full map" "$(jq "$d | .map_full" "$j")" false
expect_le "vga-lowmem: rows kept <= cap" "$kept" "$cap"
expect_eq "lost.folded = the +other rows" "$(jq .lost.folded "$j")" \
	"$(vp_sum "$j" '.folded')"
expect_eq "e1000 lost no detail" \
	"$(jq '[.lost.detail[] | select(.device == "e1000-mmio")] | length' "$j")" 0
expect_eq "e1000 has no +other row" "$(jq "[.accesses[] | select($E and .folded)] | length" "$j")" 0
check "no BPF program left attached" no_prog_left

# ------------------------------------------------------------------ table
mark_progs
r=$(run_vp table --all)
check_bt table "$r"
t=$T_TMP/table.out
line=$(grep -E '^  vga-lowmem write: [0-9]+ of [0-9]+ accesses in \+other' "$t") ||
	die "table: no 'Detail folded' line for vga-lowmem: $(cat "$t")"
echo "  table: $line"
expect_eq "table: vga-lowmem total in its folded line" "$(awk '{ print $5 }' <<<"$line")" "$VGA"
row_count() { # DEVICE REGISTER DIR: COUNT column of that row of the table
	awk -v d="$1" -v g="$2" -v w="$3" '$1 == d && $2 == g && $3 == w { print $4 }' "$t"
}
expect_eq "table: +other row = the folded line" "$(row_count vga-lowmem +other write)" \
	"$(awk '{ print $3 }' <<<"$line")"
expect_eq "table: vga-lowmem rows add up" \
	"$(awk '$1 == "vga-lowmem" && $3 == "write" { s += $4 } END { print s }' "$t")" "$VGA"
expect_eq "table: TDT writes" "$(row_count e1000-mmio TDT write)" "$TDT"
expect_eq "table: ICR reads" "$(row_count e1000-mmio ICR read)" "$ICR"
expect_eq "table: STATUS reads" "$(row_count e1000-mmio STATUS read)" "$STATUS"
check "table: Lost line counts the folded accesses" \
	grep -qE "^Lost: 0 .*folded into \+other rows $(awk '{ print $3 }' <<<"$line") " "$t"
check "no BPF program left attached" no_prog_left

# ------------------------------------------------------------------ folded stacks
mark_progs
r=$(run_vp folded --folded)
check_bt folded "$r"
f=$T_TMP/folded.out
# "vcpuN;dispatch;DEVICE;REGISTER DIR;qemu WEIGHT" (--folded is per vCPU)
fsum() { # DEVICE REGISTER-DIR-REGEX: sum of the weights of matching stacks
	awk -F';' -v d="$1" -v g="$2" '$2 == "dispatch" && $3 == d && $4 ~ g {
		n = split($5, a, " "); s += a[n] } END { print s + 0 }' "$f"
}
expect_ge "folded: vga-lowmem +other stack" "$(fsum vga-lowmem '^[+]other write$')" 1
expect_eq "folded: vga-lowmem weights add up" "$(fsum vga-lowmem ' write$')" "$VGA"
expect_eq "folded: TDT write stacks" "$(fsum e1000-mmio '^TDT write$')" "$TDT"
expect_eq "folded: e1000 has no +other stack" "$(fsum e1000-mmio '^[+]other ')" 0
check "no BPF program left attached" no_prog_left
