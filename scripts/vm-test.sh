#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make vm-test`: the module's tests in QEMU, on every kernel we support.
#
# For each kernel (Debian's 6.1; Debian's 6.12, d612, and its PREEMPT_RT
# flavour, rt612, both from bookworm-backports, fetched by k612-sysroot.sh;
# the lockdep/KASAN debug kernel and the KCSAN kernel, both built by
# debug-kernel.sh; and Debian's ppc64el 6.1 with 64 KiB pages, fetched by
# ppc64el-sysroot.sh and emulated by TCG):
#   1. build kmod/ against that kernel (make -C kmod KDIR=...; for ppc64le
#      with ARCH=powerpc CROSS_COMPILE=powerpc64le-linux-gnu-),
#   2. boot it with qemu-run.sh --modcycle: insmod/rmmod twice, checking the
#      debugfs directory, then load the module for good,
#   3. run the selftest (TAP) and the stress command (guest/smm-vm-test),
#   4. unload, and require a clean kernel log (qemu-run.sh's splat scan; on
#      the KCSAN kernel a "BUG: KCSAN:" data-race report with a frame of the
#      module in either stack is such a splat; reports entirely inside the
#      kernel are its own races, listed but not counted).
# On the debug kernel the guest must prove that lockdep and KASAN are really
# on, and that lockdep is still on (debug_locks=1) after the workload; a
# second boot there puts the spf_irqoff_spin_ptl bug back and requires the
# kernel's lockup detectors to report the deadlock (deadlock_run).  On the
# KCSAN kernel: the module must carry KCSAN's instrumentation, the guest must
# prove KCSAN on (enabled in debugfs, strict mode and weak-memory modelling
# configured, its boot selftest passed) and KCSAN must have set up
# watchpoints during the workload.  The ppc64le guest runs the programs of
# the ppc64le cross build (--ppc64le-build), and its own stress command
# where one is given (--stress-for ppc64le).  On rt612 the guest must show
# that it is PREEMPT_RT (spinlock_t sleeps, RCU readers can be preempted):
# Debian's RT kernel has no DEBUG_ATOMIC_SLEEP, so what catches the module
# sleeping where it must not is the scheduler's own "scheduling while
# atomic" and the splat scan.
#
# Every step is a check; TAP results of the selftest are checks too.  The last
# line is "N passed, N failed"; the exit status is 0 only if N failed is 0.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
usage: ${0##*/} [options]

  --kernels 'K...'     kernels to test: debian, d612, rt612, debug, kcsan,
                       ppc64le, or bzImage paths (default
                       '\$SHADOWMM_VM_KERNELS' or '$default_kernels'; a
                       bzImage path needs --kdir)
  --kdir DIR           module build tree for bzImage-path kernels
  --kmod DIR           module source dir with a Makefile taking KDIR=
                       (default \$SHADOWMM_KMOD or <repo>/kmod)
  --module-name NAME   module to load, NAME.ko (default shadowmm)
  --selftest BIN       selftest program printing TAP; packed into the guest
                       (default \$SHADOWMM_SELFTEST; none: step skipped)
  --selftest-args 'A'  its arguments (default \$SHADOWMM_SELFTEST_ARGS)
  --stress 'CMD'       guest shell command for the stress run
                       (default \$SHADOWMM_STRESS; none: step skipped); it
                       runs with SMM_KERNEL=<kernel name> in its environment
  --stress-for K 'CMD' the stress command on kernel K instead (repeatable)
  --bin FILE           more programs for the guest, e.g. the harness used by
                       --stress (repeatable; also \$SHADOWMM_VM_BINS, space
                       separated)
  --build DIR          the userspace build the programs come from (default
                       \$SHADOWMM_BUILD or build)
  --ppc64le-build DIR  its ppc64le cross build (default
                       \$SHADOWMM_PPC64LE_BUILD or build-ppc64le): the ppc64le
                       guest gets the program at the same path under it
  --timeout S          per kernel, boot included (default 900)
  --smp N, --mem M     guest CPUs and MiB (default 2, 2048)

Logs: \$SHADOWMM_CACHE/vm-test/<kernel>/{build,console}.log
EOF
}

default_kernels="debian d612 rt612 debug kcsan ppc64le"
kernels=${SHADOWMM_VM_KERNELS:-$default_kernels}
kdir_opt=
kmod=${SHADOWMM_KMOD:-$SMM_REPO/kmod}
modname=shadowmm
selftest=${SHADOWMM_SELFTEST:-}
selftest_args=${SHADOWMM_SELFTEST_ARGS:-}
stress=${SHADOWMM_STRESS:-}
declare -A stress_for=()
host_build=${SHADOWMM_BUILD:-build}
ppc64le_build=${SHADOWMM_PPC64LE_BUILD:-build-ppc64le}
read -r -a bins <<<"${SHADOWMM_VM_BINS:-}"
timeout=900
smp=2
mem=2048
while (($#)); do
	case $1 in
	--kernels) kernels=$2; shift ;;
	--kdir) kdir_opt=$2; shift ;;
	--kmod) kmod=$2; shift ;;
	--module-name) modname=$2; shift ;;
	--selftest) selftest=$2; shift ;;
	--selftest-args) selftest_args=$2; shift ;;
	--stress) stress=$2; shift ;;
	--stress-for) stress_for[$2]=$3; shift 2 ;;
	--bin) bins+=("$2"); shift ;;
	--build) host_build=$2; shift ;;
	--ppc64le-build) ppc64le_build=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--smp) smp=$2; shift ;;
	--mem) mem=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[[ -f $kmod/Makefile ]] || smm_die "no Makefile in $kmod (--kmod DIR)"
kmod=$(cd "$kmod" && pwd)
[[ -z $selftest || -f $selftest ]] || smm_die "no such selftest program: $selftest"
host_build=$(realpath -m "$host_build")
ppc64le_build=$(realpath -m "$ppc64le_build")
smm_cache_init

# PROGRAM as kernel K's guest runs it: a ppc64le guest runs the same path
# under the ppc64le build; a program from outside the build (a script) is
# packed as it is.
guest_prog() { # KERNEL PROGRAM
	local p
	p=$(realpath -m "$2")
	if [[ $1 == ppc64le && $p == "$host_build"/* ]]; then
		echo "$ppc64le_build/${p#"$host_build"/}"
	else
		echo "$2"
	fi
}

# The spf_irqoff_spin_ptl knob, on the debug kernel, in a boot of its own:
# its command locks two CPUs up on purpose (a speculative fault spinning
# on a PTE lock with interrupts off, the lock's holder waiting for that
# CPU to take its shootdown IPI).  The kernel's soft-lockup or RCU-stall
# detector must report it, with the module's fault or shootdown in the
# report; the limits are lowered at run time, after boot, so nothing else
# trips them, and qemu-run stops the guest once the report is out.
deadlock_run() { # KERNEL OUTDIR KO SELFTEST
	local k=$1 out=$2 ko=$3 st=$4 rc=0 verdict cmd
	cmd="echo 4 >/proc/sys/kernel/watchdog_thresh"
	cmd+="; echo 8 >/sys/module/rcupdate/parameters/rcu_cpu_stall_timeout"
	cmd+="; $(basename "$st") --require --deadlock 120 --knob"
	# nohz=off: CPU 0 keeps the tick duty (and jiffies, the TCG guest's
	# clocksource) for good; the scenario never spins there.
	"$SMM_SCRIPTS/qemu-run.sh" --kernel "$k" --module "$ko" --timeout 420 --append nohz=off \
		--smp "$smp" --mem "$mem" --quiet --log "$out/deadlock.log" --bin "$st" \
		--stop-on 'soft lockup|rcu: INFO|detected stall' -- "$cmd" \
		2>"$out/deadlock-run.log" || rc=$?
	verdict=$(grep 'qemu-run.sh: ' "$out/deadlock-run.log" | tail -n1 || true)
	if ((rc == 3)) && grep -aqE 'smm_fault_spf|smm_host_shootdown' "$out/deadlock.log"; then
		check ok "$k: spf_irqoff_spin_ptl: deadlock reproduced, the kernel reported it" \
			"${verdict#*STOPPED: }"
		{ grep -aE 'deadlock: [0-9]+ operations' "$out/deadlock.log" || echo 'deadlock: locked up within its first second'; } |
			tail -n1 | sed "s/^/# $k: /"
	else
		check fail "$k: spf_irqoff_spin_ptl: deadlock reproduced, the kernel reported it" \
			"qemu-run exited $rc: ${verdict#*qemu-run.sh: } (console: $out/deadlock.log)"
	fi
}

passed=0
failed=0
skipped=0
check() { # ok|fail|skip NAME [DETAIL]
	case $1 in
	ok) passed=$((passed + 1)); echo "ok - $2${3:+ ($3)}" ;;
	skip) skipped=$((skipped + 1)); echo "ok - $2 # SKIP ${3:-}" ;;
	*) failed=$((failed + 1)); echo "not ok - $2${3:+ ($3)}" ;;
	esac
}

# Count a TAP stream (the selftest's stdout inside the console log, between
# smm-vm-test's markers, so the stress output cannot add results).  Only
# top-level results: indented lines are subtests already summarised by their
# parent.  A "1..N" plan with fewer results counts the missing ones as
# failures, so a selftest that crashes half-way cannot look green.
count_tap() { # LOG KERNEL
	local log=$1 k=$2 line plan=0 seen=0 desc
	while IFS= read -r line; do
		case $line in
		"1.."*) plan=${line#1..}; plan=${plan%%[!0-9]*}; plan=${plan:-0} ;;
		"not ok"*"# TODO"*|"not ok"*"# todo"*)
			seen=$((seen + 1)); skipped=$((skipped + 1)) ;;
		"ok"*"# SKIP"*|"ok"*"# skip"*)
			seen=$((seen + 1)); skipped=$((skipped + 1)) ;;
		"not ok"*)
			seen=$((seen + 1)); failed=$((failed + 1))
			desc=${line#not ok}
			echo "not ok - $k: selftest:${desc}" ;;
		"ok"*)
			seen=$((seen + 1)); passed=$((passed + 1)) ;;
		"Bail out!"*)
			failed=$((failed + 1))
			echo "not ok - $k: selftest: $line" ;;
		esac
	done < <(sed -n '/^SMM-VM-TEST selftest: /,/^SMM-VM-TEST selftest-rc=/p' "$log" |
		grep -aE '^(1\.\.[0-9]+|(not )?ok\b|Bail out!)' || true)
	if ((plan > seen)); then
		failed=$((failed + plan - seen))
		echo "not ok - $k: selftest: planned $plan tests, saw $seen"
	fi
	echo "# $k: selftest TAP: $seen result(s)$( ((plan)) && echo ", plan $plan")"
}

# Value of FIELD=... in an SMM-KINFO line ("" if absent).
kinfo_field() { # LINE FIELD
	local w
	for w in $1; do
		[[ $w == "$2="* ]] && { echo "${w#*=}"; return; }
	done
	echo ""
}

# The KCSAN kernel's proofs: on from boot in strict mode with weak-memory
# modelling and a passed boot selftest; still enabled after the workload,
# having set up watchpoints during it (so the run was really watched).  The
# reports themselves are qemu-run.sh's splat scan.  KCSAN's data_races
# counter is only shown: it also counts hits that end in no report
# (watchpoint-encoding false positives, rate-limited repeats).
check_kcsan() { # LOG KERNEL KINFO_FIRST KINFO_LAST
	local log=$1 k=$2 first=$3 last=$4 st wp0 wp1 races l
	st=$(grep -aoE 'kcsan: selftest: [0-9]+/[0-9]+ tests passed' "$log" | head -n1 || true)
	if [[ $(kinfo_field "$first" kcsan) == on &&
		$(kinfo_field "$first" kcsan_strict) == y &&
		$(kinfo_field "$first" kcsan_weak_memory) == y ]] &&
		grep -aq 'kcsan: strict mode configured' "$log" &&
		[[ $st =~ selftest:\ ([0-9]+)/([0-9]+) && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]]; then
		echo "kcsan kernel: KCSAN on, strict, weak-memory modelling; boot ${st#kcsan: }"
		check ok "$k: KCSAN active (strict, weak memory, boot selftest)"
	else
		check fail "$k: KCSAN active (strict, weak memory, boot selftest)" \
			"kinfo: ${first:-none}; boot selftest: ${st:-not seen}"
	fi
	wp0=$(kinfo_field "$first" kcsan_watchpoints)
	wp1=$(kinfo_field "$last" kcsan_watchpoints)
	races=$(kinfo_field "$last" kcsan_races)
	if (($(grep -c '^SMM-KINFO' "$log") < 2)); then
		check fail "$k: KCSAN watched the workload" "no final SMM-KINFO line"
	elif [[ $(kinfo_field "$last" kcsan) != on ]]; then
		check fail "$k: KCSAN watched the workload" "KCSAN no longer enabled"
	elif [[ ! $wp0 =~ ^[0-9]+$ || ! $wp1 =~ ^[0-9]+$ ]] || ((wp1 <= wp0)); then
		check fail "$k: KCSAN watched the workload" "watchpoints set up: ${wp0:-?} before, ${wp1:-?} after"
	else
		check ok "$k: KCSAN watched the workload" "$((wp1 - wp0)) watchpoints set up"
	fi
	echo "# $k: KCSAN data_races counter at the end: ${races:-?}"
	while IFS= read -r l; do
		echo "# $k: ${l#\# qemu-run: }"
	done < <(grep -a "^# qemu-run: KCSAN report in the kernel's own code" "$log" || true)
}


# What failed in a stress (the commands run one after another until one
# fails): its failure lines from the console, so that a report that shows
# only the tail of this script's output still says which command and why.
stress_failures() {
	local log=$1 k=$2
	sed -n '/^SMM-VM-TEST stress:/,$p' "$log" |
		grep -aE '^not ok|^#   [A-Za-z0-9_]+\.cc:[0-9]+:|FAIL|[Ff]ailure|[Ee]rror|Expected|Which is' |
		grep -av '^ok ' | head -n 20 | sed "s/^/# $k: stress: /"
}
for k in $kernels; do
	kstart=$SECONDS
	if [[ $k == ppc64le ]]; then
		echo "# ===== kernel: $k (ppc64le, TCG)"
	else
		echo "# ===== kernel: $k"
	fi
	out=$SMM_CACHE/vm-test/$(basename "$k")
	rm -rf "$out"
	mkdir -p "$out"

	# --- which build tree ---
	kmake=()
	case $k in
	debian) kdir=$(smm_debian_kdir "$(smm_debian_kver)") ;;
	d612|rt612)
		if ! kver=$(smm_k612_kver "$(smm_k612_flavour "$k")" 2>"$out/build.log"); then
			check fail "$k: 6.12 kernel" "$(tail -n1 "$out/build.log")"
			continue
		fi
		kdir=$(smm_k612_root)/usr/src/linux-headers-$kver
		;;
	ppc64le)
		if ! kver=$(smm_ppc64el_kver 2>"$out/build.log"); then
			check fail "$k: ppc64el kernel" "$(tail -n1 "$out/build.log")"
			continue
		fi
		kdir=$(smm_ppc64el_root)/usr/src/linux-headers-$kver
		kmake=(ARCH=powerpc CROSS_COMPILE=powerpc64le-linux-gnu-)
		;;
	debug|kcsan)
		if ! dk=$("$SMM_SCRIPTS/debug-kernel.sh" --flavour "$k" 2>"$out/$k-kernel.log"); then
			check fail "$k: $k kernel build" "see $out/$k-kernel.log"
			continue
		fi
		eval "$dk"  # sets BZIMAGE, KDIR, KERNELRELEASE
		# shellcheck disable=SC2153
		kdir=$KDIR
		;;
	*)
		[[ -n $kdir_opt ]] || smm_die "kernel $k: give its build tree with --kdir"
		kdir=$kdir_opt
		;;
	esac

	# --- module build ---
	# Objects of the previous kernel's build would be linked into this one:
	# clean first.  The .ko is copied out so both kernels' modules survive.
	make -C "$kmod" KDIR="$kdir" "${kmake[@]}" clean >"$out/build.log" 2>&1 || true
	touch "$out/build.stamp"
	ko=
	if make -C "$kmod" KDIR="$kdir" "${kmake[@]}" >>"$out/build.log" 2>&1; then
		ko=$(find "$kmod" -name "$modname.ko" -newer "$out/build.stamp" -print -quit)
	fi
	if [[ -z $ko ]]; then
		check fail "$k: build $modname.ko" "see $out/build.log"
		tail -n 5 "$out/build.log" | sed 's/^/#   /'
		continue
	fi
	cp "$ko" "$out/$modname.ko"
	check ok "$k: build $modname.ko" "KDIR=$kdir${kmake[*]:+ ${kmake[*]}}"
	if [[ $k == kcsan ]]; then
		# kbuild adds -fsanitize=thread for a CONFIG_KCSAN tree; without it
		# KCSAN would watch the kernel but not a single access of ours.
		ntsan=$(nm -u "$out/$modname.ko" | grep -c ' __tsan_' || true)
		if ((ntsan > 0)); then
			check ok "$k: $modname.ko instrumented for KCSAN" "$ntsan __tsan_* symbols"
		else
			check fail "$k: $modname.ko instrumented for KCSAN" "no __tsan_* calls in the module"
		fi
	fi

	# --- boot, test ---
	run_args=(--kernel "$k" --module "$out/$modname.ko" --modcycle
		--timeout "$timeout" --smp "$smp" --mem "$mem" --quiet
		--log "$out/console.log")
	st_cmd=
	missing=
	for b in ${selftest:+"$selftest"} "${bins[@]}"; do
		b=$(guest_prog "$k" "$b")
		[[ -f $b ]] || missing+=" $b"
		run_args+=(--bin "$b")
	done
	if [[ -n $missing ]]; then
		check fail "$k: programs for the guest" "missing:$missing"
		continue
	fi
	[[ -n $selftest ]] && st_cmd="$(basename "$selftest")${selftest_args:+ $selftest_args}"
	k_stress=${stress_for[$k]:-$stress}
	run_args+=(--env "SMM_SELFTEST=$st_cmd" --env "SMM_STRESS=$k_stress" --env "SMM_KERNEL=$(basename "$k")")

	rc=0
	"$SMM_SCRIPTS/qemu-run.sh" "${run_args[@]}" -- smm-vm-test 2>"$out/qemu-run.log" || rc=$?
	verdict=$(grep 'qemu-run.sh: \(PASS\|FAIL\)' "$out/qemu-run.log" | tail -n1 || true)
	grep -E 'accel:|QEMU ran' "$out/qemu-run.log" | sed 's/^qemu-run.sh: /# /'
	log=$out/console.log
	[[ -f $log ]] || { check fail "$k: boot" "no console log; $(tail -n1 "$out/qemu-run.log")"; continue; }

	if grep -q "smm-modcycle: $modname: round 2/2 ok" "$log" && grep -q "smm-init: loaded $modname" "$log"; then
		check ok "$k: insmod/rmmod x2 with debugfs dir, then load"
	else
		check fail "$k: insmod/rmmod x2 with debugfs dir, then load" \
			"$(grep -m1 -E 'smm-modcycle: .*FAIL|SHADOWMM-STAGE-FAILED' "$log" || echo 'boot did not get that far')"
	fi

	kinfo_first=$(grep -m1 '^SMM-KINFO' "$log" || true)
	kinfo_last=$(grep '^SMM-KINFO' "$log" | tail -n1 || true)
	[[ -n $kinfo_first ]] && echo "# $k: ${kinfo_first#SMM-KINFO }"
	[[ -n $kinfo_first ]] &&
		echo "# $k: guest $(kinfo_field "$kinfo_first" arch), PAGE_SIZE $(kinfo_field "$kinfo_first" page_size)"
	if [[ $k == debug ]]; then
		lockdep=off kasan=off
		[[ $kinfo_first == *" lockdep=on "* ]] && lockdep=on
		[[ $kinfo_first == *" kasan=on "* ]] && kasan=on
		echo "debug kernel: lockdep $lockdep, KASAN $kasan"
		if [[ $lockdep == on && $kasan == on ]]; then
			check ok "$k: lockdep and KASAN active"
		else
			check fail "$k: lockdep and KASAN active" "lockdep $lockdep, KASAN $kasan"
		fi
		if [[ -z $kinfo_last ]]; then
			check fail "$k: lockdep still on after the workload" "no final SMM-KINFO line"
		elif [[ $kinfo_last == *" debug_locks=1 "* ]]; then
			check ok "$k: lockdep still on after the workload" "debug_locks=1"
		else
			check fail "$k: lockdep still on after the workload" "debug_locks is not 1: lockdep reported and switched itself off"
		fi
	fi
	if [[ $k == kcsan ]]; then
		check_kcsan "$log" "$k" "$kinfo_first" "$kinfo_last"
	fi
	if [[ $k == rt612 ]]; then
		preempt=$(kinfo_field "$kinfo_first" preempt)
		if [[ $preempt == rt ]]; then
			check ok "$k: PREEMPT_RT kernel"
		else
			check fail "$k: PREEMPT_RT kernel" "guest preempt=${preempt:-?}"
		fi
	fi

	if [[ -n $selftest ]]; then
		count_tap "$log" "$k"
		st=$(grep -ao 'SMM-VM-TEST selftest-rc=[0-9]*' "$log" | tail -n1 || true)
		if [[ $st == *=0 ]]; then
			check ok "$k: selftest exit status"
		else
			check fail "$k: selftest exit status" "${st:-selftest did not finish}"
		fi
	else
		check skip "$k: selftest" "no --selftest given"
	fi
	if [[ -n $k_stress ]]; then
		st=$(grep -ao 'SMM-VM-TEST stress-rc=[0-9]*' "$log" | tail -n1 || true)
		if [[ $st == *=0 ]]; then
			check ok "$k: stress" "$k_stress"
		else
			check fail "$k: stress" "${st:-stress did not finish}"
			stress_failures "$log" "$k"
		fi
	else
		check skip "$k: stress" "no --stress given"
	fi

	# qemu-run's verdict covers the kernel log (any splat), the timeout and
	# the final rmmod; the command's own failures were counted above.
	case $verdict in
	*"PASS:"*|*"FAIL: command exited"*)
		check ok "$k: clean kernel log, module unloaded" ;;
	*)
		[[ -n $verdict ]] || verdict="qemu-run.sh exited $rc: $(tail -n1 "$out/qemu-run.log")"
		check fail "$k: clean kernel log, module unloaded" "${verdict#qemu-run.sh: }" ;;
	esac
	echo "# $k: console log: $log"
	if [[ $k == debug && -n $selftest ]]; then
		deadlock_run "$k" "$out" "$out/$modname.ko" "$selftest"
	fi
	echo "# $k: stage took $((SECONDS - kstart)) s (module build, boot, tests)"
done

((skipped)) && echo "# $skipped skipped"
echo "$passed passed, $failed failed"
((failed == 0))
