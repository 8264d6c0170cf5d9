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
no_prog_left() { ! bpftool prog show 2>/dev/null | grep -qE 'name (tp_kvm_|tp_sys_e|usdt_mr_|usdt_e1000|calib_up|fentry_kvm|fexit_kvm)'; }
