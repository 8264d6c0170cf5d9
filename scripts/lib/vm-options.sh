# shellcheck shell=bash
# vm-options.sh: scripts/vm's command line -- defaults, parsing, checks, the
# NIC's -device string and the accelerator.  Sourced by scripts/vm (which
# holds the usage text in its header); sets the option variables below.

# Defaults.  Set when sourced, before scripts/vm's EXIT trap: even a usage
# error prints the JSON line, which reports them.
nic=e1000
accel=auto
workload=idle
count=
size=
secs=
qmp=
pidfile=
attach=
timeout=
watchdog=
allow_reboot=0
mem=512
smp=1
verbose=0
debug=0
extra=()
device=
incoming=
keep_netns=0
netns_given=
# The steps' names of --workload, each with a space on both sides.
steps=
GUEST_MAC=52:54:00:77:00:02

# help_text: the usage text, from the header of scripts/vm ($0).
help_text() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0" | sed '/^set -euo/,$d'; }

# usage MSG: a usage error (exit 2).
usage() {
	help_text >&2
	fatal 2 "$1"
}

need_arg() { [ $# -ge 2 ] || usage "option $1 needs an argument"; }

# vm_parse_options ARGS...: set the option variables from the command line.
vm_parse_options() {
	local v
	while [ $# -gt 0 ]; do
		case "$1" in
		--nic | --accel | --workload | --count | --size | --secs | --qmp | --pidfile | --attach | --timeout | --watchdog | --mem | --smp | --incoming | --netns)
			need_arg "$@"
			v=$2
			case "$1" in
			--nic) nic=$v ;;
			--accel) accel=$v ;;
			--workload) workload=$v ;;
			--count) count=$v ;;
			--size) size=$v ;;
			--secs) secs=$v ;;
			--qmp) qmp=$v ;;
			--pidfile) pidfile=$v ;;
			--attach) attach=$v ;;
			--timeout) timeout=$v ;;
			--watchdog) watchdog=$v ;;
			--mem) mem=$v ;;
			--smp) smp=$v ;;
			--incoming) incoming=$v ;;
			--netns) netns_given=$v ;;
			esac
			shift 2
			;;
		--verbose) verbose=1 && shift ;;
		--allow-reboot) allow_reboot=1 && shift ;;
		--keep-netns) keep_netns=1 && shift ;;
		--debug) verbose=1 && debug=1 && shift ;;
		-h | --help)
			help_text
			final_printed=1 # asking for help is not a run
			exit 0
			;;
		--)
			shift
			extra=("$@")
			break
			;;
		*) usage "unknown option '$1'" ;;
		esac
	done
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# vm_check_options: numbers, the workload's name, --incoming, and the NIC's
# -device string (in $device).
vm_check_options() {
	local o v model props
	for o in count size secs watchdog; do
		v=${!o}
		[ -z "$v" ] || is_uint "$v" || fatal 2 "--$o must be a number, not '$v'"
		# Decimal even with leading zeros ("08" is an error in $((...))).
		[ -z "$v" ] || printf -v "$o" '%d' "$((10#$v))"
	done
	[ -n "$timeout" ] || timeout=$((120 + ${secs:-0}))
	for o in timeout mem smp; do
		v=${!o}
		is_uint "$v" && [ "$((10#$v))" -gt 0 ] || fatal 2 "--$o must be a positive number, not '$v'"
		printf -v "$o" '%d' "$((10#$v))"
	done
	# The name goes onto the kernel command line: keep it one harmless word.
	# (Or steps joined by "+", each with an optional ":ARG".)
	[[ $workload =~ ^[a-z0-9_:+-]+$ ]] || fatal 2 "bad workload name '$workload'"
	steps=" $(tr '+' '\n' <<<"$workload" | sed 's/:.*//' | tr '\n' ' ')"
	if [ -n "$incoming" ]; then
		[ -r "$incoming" ] || fatal 2 "--incoming: cannot read '$incoming'"
		incoming=$(readlink -f "$incoming")
	fi
	# a kept namespace's name (netns_create), nothing else
	[ -z "$netns_given" ] || [[ $netns_given =~ ^vexit-keep-[0-9]+$ ]] ||
		fatal 2 "--netns: '$netns_given' is not a namespace kept by --keep-netns (vexit-keep-PID)"

	case "$nic" in
	virtio) device="virtio-net-pci" ;;
	virtio,*) device="virtio-net-pci,${nic#virtio,}" ;;
	[a-z]*) device=$nic ;;
	*) fatal 2 "bad --nic '$nic'" ;;
	esac
	model=${device%%,*}
	props=${device#"$model"}
	device="$model,netdev=net0${props}"
	[[ ,$props, == *,mac=* ]] || device+=",mac=$GUEST_MAC"
}

# vm_choose_accel: resolve --accel auto.  KVM only when it can boot a Linux
# guest: /dev/kvm alone is not enough (a PVM host has /dev/kvm but no
# vmx/svm, and a Linux guest hangs there).
vm_choose_accel() {
	local why
	case "$accel" in
	auto)
		if [ ! -c /dev/kvm ]; then
			accel=tcg
			why="no /dev/kvm"
		elif ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
			accel=tcg
			why="kvm cannot boot Linux here: no vmx/svm"
		else
			accel=kvm
			why="/dev/kvm with vmx/svm"
		fi
		msg "accel=$accel ($why)"
		;;
	kvm)
		grep -qwE 'vmx|svm' /proc/cpuinfo ||
			msg "warning: accel=kvm without vmx/svm: a Linux guest will likely hang until --timeout"
		msg "accel=kvm (forced)"
		;;
	tcg) msg "accel=tcg (forced)" ;;
	*) fatal 2 "bad --accel '$accel' (auto, kvm or tcg)" ;;
	esac
}
