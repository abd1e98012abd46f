#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a kernel in QEMU with a throw-away busybox initramfs, run one command
# in it, and judge the run: the command's exit status, but only if the kernel
# log is clean.  Any kernel splat (BUG, WARNING, oops, KASAN, KCSAN, lockdep,
# RCU stall, soft lockup, hung task, GPF, stray Call Trace) fails the run,
# because a module that "passes" while lockdep complains is broken.  The one
# exception is a KCSAN data-race report with no frame of a packed module in
# either stack: that is the kernel's own race (a KCSAN kernel reports a few,
# e.g. in x86 APIC calibration at boot), logged and listed but not counted.
#
# KVM is tried first but only briefly: on some hosts a Linux guest hangs under
# it without printing a byte, so if the console stays silent for
# $SHADOWMM_KVM_PROBE_S seconds the guest is killed and rebooted under TCG
# (software emulation, multi-threaded), and the verdict is remembered for a day
# in $SHADOWMM_CACHE/kvm-unusable so later runs go straight to TCG.
# The accelerator used is printed ("accel: ...") because timings under TCG
# are not comparable with real hardware.
#
# A ppc64le kernel (--kernel ppc64le, or any PowerPC vmlinux) boots on QEMU's
# pseries machine under TCG alone, with its own busybox from the sysroot
# (scripts/ppc64el-sysroot.sh) and the hypervisor console hvc0.
#
# Exit status:
#   the command's status   the guest finished and the log is clean
#   2                      usage error
#   3                      --stop-on matched (the guest was stopped)
#   124                    timeout (unless a splat explains it)
#   125                    the guest died without reporting (panic, QEMU error)
#   126                    kernel splat, or a module load/unload stage failed
# The last line on stderr says which, in one line ("qemu-run: PASS ..." or
# "qemu-run: FAIL: <reason>").
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
usage: ${0##*/} --kernel debian|d612|rt612|debug|kcsan|pvl-on|pvl-off|ppc64le|PATH [options] -- COMMAND...

  --kernel K         debian:  the newest /boot/vmlinuz-* with headers
                     d612:    Debian's 6.12 from bookworm-backports that
                              make deps fetched (scripts/k612-sysroot.sh)
                     rt612:   its PREEMPT_RT flavour (ditto)
                     debug:   scripts/debug-kernel.sh (built on first use)
                     kcsan:   scripts/debug-kernel.sh --flavour kcsan (ditto)
                     pvl-on, pvl-off: the per-VMA-lock A/B kernels,
                              scripts/pvl-kernel.sh --pvl on|off (ditto)
                     ppc64le: Debian's ppc64el vmlinux that make deps
                              fetched (pseries machine, TCG only)
                     PATH:    any bzImage, or a PowerPC vmlinux
  --module F.ko      module to pack and insmod before COMMAND (repeatable)
  --bin FILE         program to pack into /usr/local/bin with its libraries
                     (repeatable)
  --file SRC[:DEST]  extra file/directory for the guest (repeatable)
  --env NAME=VALUE   environment for COMMAND (repeatable)
  --modcycle         first load/unload every module twice with smm-modcycle
  --no-load          pack modules but do not insmod them
  --no-unload        do not rmmod the modules after COMMAND
  --timeout S        whole run, boot included (default \$SHADOWMM_TIMEOUT or 600)
                     A guest not at /init after \$SHADOWMM_BOOT_TIMEOUT s
                     (default 300) is booted once more, its console kept.
  --smp N            guest CPUs (default 2)
  --mem M            guest memory in MiB (default 2048)
  --accel A          auto (default), kvm or tcg (\$SHADOWMM_ACCEL)
  --append ARGS      extra kernel command line
  --log FILE         console log (default \$SHADOWMM_CACHE/logs/<kernel>-<time>.log)
  --quiet            do not stream the console; print only the verdict
  --stop-on REGEX    once a kernel line after /init matches REGEX (extended),
                     give the kernel 15 s more to print, then stop the guest:
                     exit 3, "qemu-run: STOPPED: <line>" (a run that expects
                     the kernel to lock up: the splat is the result)

Guest helpers available to COMMAND: smm-modcycle [-n N] [-d DIR] [F.ko],
smm-kinfo (prints which checkers the running kernel has on).
COMMAND runs under busybox sh in /tmp: one argument is shell code, several
are one quoted command line.

environment: SHADOWMM_CACHE, SHADOWMM_ACCEL, SHADOWMM_TIMEOUT, SHADOWMM_BOOT_TIMEOUT,
  SHADOWMM_KVM_PROBE_S (default 8), SHADOWMM_QEMU (default qemu-system-x86_64,
  qemu-system-ppc64 for a ppc64le kernel),
  SHADOWMM_SPLAT_IGNORE (extended regex: kernel lines matching it are not
  splats; for known-benign host noise only).
EOF
}

SMM_DIE_RC=2
kernel=
smp=2
mem=2048
timeout=${SHADOWMM_TIMEOUT:-600}
accel=${SHADOWMM_ACCEL:-auto}
append=
log=
quiet=0
stop_on=
pack_args=()
modnames=()
while (($#)); do
	case $1 in
	--kernel) kernel=$2; shift ;;
	--module)
		pack_args+=("$1" "$2")
		# The name the kernel prints in stack frames: "f+0x1/0x2 [name]".
		m=$(basename "$2"); m=${m%.xz}; m=${m%.zst}; m=${m%.gz}; m=${m%.ko}
		modnames+=("${m//-/_}")
		shift
		;;
	--bin|--file|--env) pack_args+=("$1" "$2"); shift ;;
	--modcycle|--no-load|--no-unload) pack_args+=("$1") ;;
	--timeout) timeout=$2; shift ;;
	--smp) smp=$2; shift ;;
	--mem) mem=$2; shift ;;
	--accel) accel=$2; shift ;;
	--append) append=$2; shift ;;
	--log) log=$2; shift ;;
	--quiet) quiet=1 ;;
	--stop-on) stop_on=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $kernel ]] || { usage >&2; exit 2; }
(($#)) || { smm_log "no command given"; usage >&2; exit 2; }
[[ $accel == @(auto|kvm|tcg) ]] || smm_die "--accel must be auto, kvm or tcg"
SMM_DIE_RC=125

smm_cache_init

# --- kernel ----------------------------------------------------------------------------
case $kernel in
debian)
	kver=$(smm_debian_kver)
	kimg=/boot/vmlinuz-$kver
	label=debian-$kver
	;;
d612|rt612)
	kver=$(smm_k612_kver "$(smm_k612_flavour "$kernel")")
	kimg=$(smm_k612_root)/boot/vmlinuz-$kver
	label=$kernel-$kver
	;;
debug|kcsan)
	eval "$("$SMM_SCRIPTS/debug-kernel.sh" --flavour "$kernel")"
	kimg=$BZIMAGE
	label=$kernel-$KERNELRELEASE
	;;
pvl-on|pvl-off)
	eval "$("$SMM_SCRIPTS/pvl-kernel.sh" --pvl "${kernel#pvl-}")"
	kimg=$BZIMAGE
	label=$KERNELRELEASE
	;;
ppc64le)
	kver=$(smm_ppc64el_kver)
	kimg=$(smm_ppc64el_root)/boot/vmlinux-$kver
	label=ppc64le-$kver
	;;
*)
	kimg=$kernel
	label=$(basename "$kernel")
	;;
esac
[[ -r $kimg ]] || smm_die "cannot read kernel image $kimg"

# --- machine -----------------------------------------------------------------------------
# x86-64: the default PC, serial console.  ppc64le: pseries with the
# Spectre/Meltdown capabilities TCG cannot provide declared broken (or the
# machine refuses to start), VOF instead of SLOF (/init runs about 3 s after
# QEMU starts, some 14 s sooner), the hypervisor console hvc0 (spapr-vty,
# what -serial becomes), a POWER9 CPU with a radix MMU and 64 KiB pages.
# No virtio device is used, so the guest needs none of Debian's virtio
# modules.
if [[ $(file -bL "$kimg") == *PowerPC* ]]; then
	arch=ppc64le
	qemu=${SHADOWMM_QEMU:-qemu-system-ppc64}
	qemu_pkg="qemu-system-ppc"
	# shellcheck disable=SC2054 # the commas belong to -M
	machine=(-M pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off,x-vof=on)
	console=hvc0
	tcg_cpu=()
	smp_topo=$smp
	pack_args+=(--busybox "$(smm_ppc64el_root)/bin/busybox")
	# VOF leaves the NVRAM blank (SLOF would format it), and the kernel
	# says so in words the splat scan looks for.
	benign='WARNING: nvram corruption detected: 0-length partition$'
else
	arch=x86_64
	qemu=${SHADOWMM_QEMU:-qemu-system-x86_64}
	qemu_pkg="qemu-system-x86"
	machine=()
	console=ttyS0,115200
	tcg_cpu=(-cpu max)
	# One socket per CPU: SeaBIOS's MP table lists only the first CPU of
	# each socket, and the debug kernel (no ACPI) finds CPUs through that
	# table alone.
	smp_topo=$smp,sockets=$smp,cores=1,threads=1
	benign=
fi
command -v "$qemu" >/dev/null || smm_die "$qemu not found (apt-get install $qemu_pkg)"

# --- initramfs ---------------------------------------------------------------------------
work=$(mktemp -d "$SMM_CACHE/run.XXXXXX")
qpid=
tpid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ -n $qpid ]]; then kill "$qpid" 2>/dev/null || true; fi
	if [[ -n $tpid ]]; then kill "$tpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$SMM_SCRIPTS/mkinitramfs.sh" -o "$work/initramfs.cpio.gz" "${pack_args[@]}" -- "$@"

if [[ -z $log ]]; then
	mkdir -p "$SMM_CACHE/logs"
	log=$SMM_CACHE/logs/$label-$(date +%Y%m%d-%H%M%S)-$$.log
	# Keep the newest 50 default logs.
	{ ls -1t "$SMM_CACHE"/logs/*.log 2>/dev/null || true; } | tail -n +51 | xargs -r rm -f
fi
mkdir -p "$(dirname "$log")"
: >"$log"

# panic=-1: a panic reboots at once, and -no-reboot turns that into QEMU
# exiting, so a dead guest costs seconds, not the whole timeout.
# printk.time=1: the splat scan below only trusts timestamped kernel lines,
# so a test that prints "WARNING:" itself cannot fail the run.
cmdline="console=$console loglevel=7 printk.time=1 panic=-1 rdinit=/init"
# Under TCG the guest runs 10-50x slower than hardware while its timers follow
# the host clock, so the default 21 s RCU stall and 20 s soft-lockup limits
# fire on code that is merely slow (a long teardown under a spinlock).  Real
# hangs still trip the longer limits.
tcg_cmdline="rcupdate.rcu_cpu_stall_timeout=60 watchdog_thresh=30"

# --- boot --------------------------------------------------------------------------------
kvm_stamp=$SMM_CACHE/kvm-unusable
kvm_id="host=$(uname -r) qemu=$("$qemu" --version | head -n1)"
probe_s=${SHADOWMM_KVM_PROBE_S:-8}

start_qemu() { # ACCEL RAWLOG
	local a
	if [[ $1 == kvm ]]; then
		a=(-accel kvm -cpu host)
		used_cmdline="$cmdline $append"
	else
		# shellcheck disable=SC2054 # the comma belongs to -accel
		a=(-accel tcg,thread=multi "${tcg_cpu[@]}")
		used_cmdline="$cmdline $tcg_cmdline $append"
	fi
	: >"$2"
	"$qemu" -nodefaults -no-user-config -display none -no-reboot -monitor none \
		"${machine[@]}" "${a[@]}" -smp "$smp_topo" -m "$mem" \
		-kernel "$kimg" -initrd "$work/initramfs.cpio.gz" -append "$used_cmdline" \
		-chardev file,id=con,path="$2" -serial chardev:con \
		</dev/null >>"$work/qemu.err" 2>&1 &
	qpid=$!
	qstart=$SECONDS
	qstart_ns=$(date +%s%N)
}

kvm_usable() {
	[[ $arch == x86_64 && -r /dev/kvm && -w /dev/kvm ]] || return 1
	# A recent probe on this host/QEMU found KVM hanging: skip it.
	if [[ -f $kvm_stamp ]] && [[ $(head -n1 "$kvm_stamp") == "$kvm_id" ]] &&
		[[ -n $(find "$kvm_stamp" -mmin -1440) ]]; then
		return 1
	fi
	return 0
}

used=
note=
raw=$work/console.raw
[[ $accel == kvm && $arch != x86_64 ]] && smm_die "no KVM for a $arch guest on this host (--accel tcg)"
if [[ $accel == kvm ]] || { [[ $accel == auto ]] && kvm_usable; }; then
	start_qemu kvm "$raw"
	# Wait for the first console byte: a working KVM guest prints within a
	# second or two; the broken case prints nothing, ever.
	deadline=$((SECONDS + probe_s))
	while ((SECONDS < deadline)) && [[ ! -s $raw ]] && kill -0 "$qpid" 2>/dev/null; do
		sleep 0.1
	done
	if [[ -s $raw ]]; then
		used=kvm
	else
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
		qpid=
		[[ $accel == kvm ]] && smm_die "KVM guest printed nothing in ${probe_s} s (try --accel tcg)"
		printf '%s\n%s\n' "$kvm_id" "KVM guest printed nothing on the console in ${probe_s} s; using TCG. Delete this file to probe again." >"$kvm_stamp"
		note="; KVM printed nothing in ${probe_s} s"
	fi
elif [[ $accel == auto ]]; then
	if [[ $arch != x86_64 ]]; then
		note="; $arch guest on a $(uname -m) host"
	elif [[ -f $kvm_stamp ]]; then
		note="; KVM skipped: it hung in a recent probe ($kvm_stamp)"
	else
		note="; /dev/kvm not usable"
	fi
fi
if [[ -z $used ]]; then
	start_qemu tcg "$raw"
	used=tcg
fi
if [[ $used == kvm ]]; then
	accel_line="accel: kvm (hardware virtualisation)"
else
	accel_line="accel: tcg (software emulation${note})"
fi
smm_log "$accel_line"
smm_log "kernel: $kimg, smp $smp, mem ${mem}M, timeout ${timeout}s, log: $log"
{
	echo "# qemu-run: $accel_line"
	echo "# qemu-run: kernel $kimg cmdline: $used_cmdline"
} >>"$log"

# Stream the console (CRs stripped) into the log and, unless --quiet, stdout.
stream_console() {
	if ((quiet)); then
		tail -s 0.1 -n +1 -f --pid="$qpid" "$raw" | stdbuf -oL tr -d '\r' >>"$log" &
	else
		tail -s 0.1 -n +1 -f --pid="$qpid" "$raw" | stdbuf -oL tr -d '\r' | tee -a "$log" &
	fi
	tpid=$!
}

# Only kernel lines count (they carry a printk timestamp); the timestamp may
# follow user output on the same line when the two interleave.
ts='\[ *[0-9]+\.[0-9]{6}\]'
# "BUG: KCSAN: data-race in ..." is a BUG: line already; KCSAN: is listed so
# that nothing KCSAN prints as a report can slip through.
splat='BUG:|BUG [^ ]+ \(.*\): |WARNING:|Oops|KASAN:|KCSAN:|kernel BUG at|Kernel panic|'
splat+='general protection fault|Call Trace:|UBSAN:|'
splat+='possible circular locking|inconsistent lock state|suspicious RCU usage|'
splat+='lock held when returning|possible recursive locking|bad unlock balance|'
splat+='held lock freed|irq lock inversion|trying to register non-static key|'
splat+='DEBUG_LOCKS_WARN_ON|self-detected stall|detected stalls|RCU stall|'
splat+='soft lockup|hung task|blocked for more than|Bad page|Bad rss-counter|'
splat+='list_add corruption|list_del corruption|ODEBUG:|Slab cache still has objects'
ignore=${SHADOWMM_SPLAT_IGNORE:-}
[[ -n $benign ]] && ignore=${ignore:+$ignore|}$benign

# The first line of stdin that is a kernel splat and not ignored, or nothing.
find_splat() {
	grep -aE "$ts.*($splat)" |
		{ if [[ -n $ignore ]]; then grep -Ev -- "$ignore" || true; else cat; fi } |
		head -n1 || true
}

# A splat line as a verdict quotes it: from its timestamp, 160 characters.
splat_text() { # LINE
	sed -E 's/^.*('"$ts"') */\1 /' <<<"$1" | cut -c1-160
}

# The first splat the kernel printed before /init, KCSAN reports left out
# (the kernel's own: no module is loaded yet), or nothing.
pre_init_splat() {
	tr -d '\r' <"$raw" | sed '/^SHADOWMM-INIT/,$d' |
		awk '/BUG: KCSAN:/ { skip = 1 } !skip { print } skip && /==========/ { skip = 0 }' |
		find_splat
}

# A guest that has not reached /init by the boot limit is stuck in the
# kernel's own boot, and one that splats before /init failed there: the
# module is not loaded yet.  Once, its console is shown and saved, and it
# boots again.  One such hang cost a CI run 900 s on the debug kernel,
# which on this host reaches /init in 13-80 s; under load here the same
# kernel once took an interrupt in the middle of identify_cpu() and KASAN
# reported a wild access in handle_edge_irq() (TCG: the PIT calibration
# had failed), which turned lockdep off for the rest of the run.
boot_limit=${SHADOWMM_BOOT_TIMEOUT:-300}
((boot_limit < timeout)) || boot_limit=$timeout
boots=0
boot_hung=0
while :; do
	boots=$((boots + 1))
	stream_console
	timed_out=0
	boot_hung=0
	bad_boot=
	boot_s=
	deadline=$((qstart + timeout))
	stopped=
	stop_at=
	while kill -0 "$qpid" 2>/dev/null; do
		if [[ -n $stop_on && -n $boot_s && -z $stopped ]]; then
			stopped=$(tr -d '\r' <"$raw" | sed '1,/^SHADOWMM-INIT/d' |
				grep -aE "$ts.*($stop_on)" | head -n1 || true)
			[[ -n $stopped ]] && stop_at=$((SECONDS + 15))
		fi
		if [[ -n $stop_at ]] && ((SECONDS >= stop_at)); then
			kill "$qpid" 2>/dev/null || true
			break
		fi
		if [[ -z $boot_s ]] && grep -q '^SHADOWMM-INIT' "$raw"; then
			boot_s=$(( ($(date +%s%N) - qstart_ns) / 1000000 ))
			bad_boot=$(pre_init_splat)
			if [[ -n $bad_boot ]] && ((boots < 2)); then
				boot_hung=1
				kill "$qpid" 2>/dev/null || true
				break
			fi
		fi
		if [[ -z $boot_s ]] && ((SECONDS >= qstart + boot_limit)); then
			boot_hung=1
			kill "$qpid" 2>/dev/null || true
			break
		fi
		if ((SECONDS >= deadline)); then
			timed_out=1
			kill "$qpid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	((boot_hung)) || break
	wait "$qpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	tpid=
	hung_log=${log%.log}.boot$boots.log
	tr -d '\r' <"$raw" >"$hung_log"
	if [[ -n $bad_boot ]]; then
		why="kernel splat before /init: $(splat_text "$bad_boot")"
		smm_log "boot $boots: $why"
	else
		why="/init not reached in ${boot_limit} s"
		smm_log "boot $boots: $why; the console's last lines:"
		tail -n 15 "$hung_log" | while IFS= read -r l; do smm_log "  | ${l:0:160}"; done
	fi
	echo "# qemu-run: boot $boots: $why (console: $hung_log)" >>"$log"
	((boots < 2)) || break
	smm_log "booting again"
	start_qemu "$used" "$raw"
done
qrc=0
wait "$qpid" || qrc=$?
qpid=
total_ms=$(( ($(date +%s%N) - qstart_ns) / 1000000 ))
wait "$tpid" 2>/dev/null || true
tpid=
# tail polls; make sure the log has everything QEMU wrote.
tr -d '\r' <"$raw" >"$work/console.txt"
{ grep '^# qemu-run:' "$log"; cat "$work/console.txt"; } >"$log.tmp" && mv "$log.tmp" "$log"

fmt_ms() { printf '%d.%01d s' $(($1 / 1000)) $(($1 % 1000 / 100)); }
# Boot time as the guest saw it (kernel start to /init, from /proc/uptime)
# and, when the poll above caught it, as the wall clock saw it (QEMU start to
# /init: adds firmware and kernel decompression).
guest_up=$(grep -a -m1 '^SHADOWMM-INIT' "$work/console.txt" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' || true)
if [[ -n $guest_up ]]; then
	boot_txt="init at ${guest_up} s guest uptime"
	[[ -n $boot_s ]] && boot_txt+=" ($(fmt_ms "$boot_s") after QEMU start)"
else
	boot_txt="init never reached"
fi
smm_log "$used: $boot_txt, QEMU ran $(fmt_ms "$total_ms")"
echo "# qemu-run: $used: $boot_txt, QEMU ran $(fmt_ms "$total_ms")" >>"$log"

# --- verdict -----------------------------------------------------------------------------
# KCSAN reports (from "BUG: KCSAN:" to the closing "=====" line) that name
# no packed module ("f+0x1/0x2 [shadowmm]") in the header or in the stack of
# either access are the kernel's own races: taken out of the scanned text and
# listed instead.  A stack is read only down to an interrupt entry (asm_sysvec_*,
# asm_common_interrupt, asm_exc_*): below it is the code the interrupt happened
# to hit, which took no part in the race.  With no module packed every report
# counts, and so does a report cut short (the guest died in the middle of it).
awk -v mods="${modnames[*]}" -v own="$work/kcsan-own" '
	BEGIN { n = split(mods, m, " ") }
	function names_mod(l,   i) {
		for (i = 1; i <= n; i++) if (index(l, "[" m[i] "]")) return 1
		return 0
	}
	!inrep && /BUG: KCSAN:/ {
		inrep = 1; buf = $0 "\n"; head = $0; cut = 0
		hit = (n == 0) || names_mod($0)
		next
	}
	inrep && /==========/ {
		buf = buf $0 "\n"
		if (hit) printf "%s", buf; else print head >own
		inrep = 0
		next
	}
	inrep {
		buf = buf $0 "\n"
		if ($0 ~ / by (task|interrupt)|race at unknown origin/) cut = 0
		else if ($0 ~ /asm_(sysvec_|common_interrupt|exc_)/) cut = 1
		else if (!cut && names_mod($0)) hit = 1
		next
	}
	{ print }
	END { if (inrep) printf "%s", buf }
' "$work/console.txt" >"$work/console.scan"
if [[ -s $work/kcsan-own ]]; then
	while IFS= read -r l; do
		l=$(sed -E 's/^.*('"$ts"') *//' <<<"$l" | cut -c1-200)
		smm_log "note: KCSAN report in the kernel's own code (no [${modnames[*]}] frame), not counted: $l"
		echo "# qemu-run: KCSAN report in the kernel's own code, not counted: $l" >>"$log"
	done <"$work/kcsan-own"
fi
first_splat=$(find_splat <"$work/console.scan")
exit_line=$(grep -a -o 'SHADOWMM-EXIT=[0-9]*' "$work/console.txt" | tail -n1 || true)
stage_line=$(grep -a -o 'SHADOWMM-STAGE-FAILED=[a-z]*' "$work/console.txt" | head -n1 || true)

verdict() { # RC MESSAGE
	echo "# qemu-run: $2" >>"$log"
	smm_log "$2"
	exit "$1"
}
if [[ -n $stopped ]]; then
	verdict 3 "STOPPED: $(splat_text "$stopped") [log: $log]"
fi
if [[ -n $first_splat ]]; then
	extra=
	((timed_out)) && extra=" (and the run timed out)"
	verdict 126 "FAIL: kernel splat: $(splat_text "$first_splat")$extra [log: $log]"
fi
if ((boot_hung)) && [[ -z $bad_boot ]]; then
	verdict 124 "FAIL: /init not reached in ${boot_limit} s, $boots boots (consoles: ${log%.log}.boot*.log) [log: $log]"
fi
if ((timed_out)); then
	verdict 124 "FAIL: timeout after ${timeout} s$([[ -n $exit_line ]] && echo ", after $exit_line" || echo " (no SHADOWMM-EXIT)") [log: $log]"
fi
if [[ -n $stage_line ]]; then
	verdict 126 "FAIL: guest stage failed: ${stage_line#SHADOWMM-STAGE-FAILED=} [log: $log]"
fi
if [[ -z $exit_line ]]; then
	verdict 125 "FAIL: guest ended without SHADOWMM-EXIT (QEMU status $qrc; $boot_txt)$( [[ -s $work/qemu.err ]] && echo ": $(head -n1 "$work/qemu.err")") [log: $log]"
fi
rc=${exit_line#SHADOWMM-EXIT=}
if ((rc == 0)); then
	verdict 0 "PASS: command exited 0, kernel log clean ($used) [log: $log]"
fi
verdict "$rc" "FAIL: command exited $rc (kernel log clean) [log: $log]"
