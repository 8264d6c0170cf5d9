# Helpers shared by tests/t-vexitprof-*.sh (source after lib.sh).
# (Not named t-*.sh: tests/run.sh does not run it.)
[ -x "$VEXITPROF" ] || die "build/bin/vexitprof missing (make vexitprof)"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

# vp_sum FILE JQ-FILTER: sum of .count over accesses matching the filter
vp_sum() { jq "[.accesses[] | select($2) | .count] | add // 0" "$1"; }
vp_field() { jq "[.accesses[] | select($2) | .$3] | add // 0" "$1"; }
# guest_val LINE KEY: value of key=value in the guest's VEXIT-RESULT line
guest_val() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# no vexitprof BPF program may stay loaded after a run
# IDs of loaded BPF programs with vexitprof's names.
our_prog_ids() { { bpftool prog show 2>/dev/null | grep -E 'name (tp_kvm_|tp_sys_e|usdt_mr_|usdt_e1000|calib_up|fentry_kvm|fexit_kvm|oncpu_sample)' || true; } | cut -d: -f1 | sort; }
# mark_progs: remember which of them exist now (before starting a vexitprof);
# no_prog_left: none loaded since the last mark is still there.  Programs
# of other vexitprofs running on the host meanwhile do not count.
mark_progs() { our_prog_ids >"$T_TMP/progs.before"; }
# The kernel frees a program some time after its last link and fd close
# (fentry trampolines wait for RCU grace periods), so allow it 10 s.
no_prog_left() {
	local i
	for i in $(seq 100); do
		[ -z "$(comm -13 "$T_TMP/progs.before" <(our_prog_ids))" ] && return 0
		sleep 0.1
	done
	return 1
}
mark_progs
