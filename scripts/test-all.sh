#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Everything `make test` runs, in stages, each summarised on one line and
# all of them totalled on the last line as "N passed, N failed":
#   unit   the userspace build (core, harness, selftest) under ctest
#   asan   the same tests built with ASan+UBSan
#   tsan   the same tests built with TSan
#   bugs   every known-bug knob switched on must make its detector report
#          (ctest label "bugs" in the ASan and TSan builds); a knob whose
#          bug goes unnoticed, or that no build tests, is a failure
#   check  checkpatch --strict and sparse over kmod/, W=1 and sparse also
#          against the 6.12 headers (make check)
#   vm     the module on Debian's 6.1, 6.12 and 6.12 PREEMPT_RT kernels, the
#          debug and the KCSAN kernel and Debian's ppc64el kernel in QEMU
#          (make vm-test; SHADOWMM_VM_KERNELS picks a subset)
# SHADOWMM_STAGES picks a subset, e.g. SHADOWMM_STAGES="unit asan".
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
stages=${SHADOWMM_STAGES:-unit asan tsan bugs check vm}
total_pass=0
total_fail=0
logdir=.cache/logs
mkdir -p "$logdir"

# Every stage's line and every failure's name again at the end: a CI
# report that keeps only the tail of the output still says what failed.
summary=""
failures=""
record() {	# stage passed failed seconds
	local line
	line=$(printf 'stage %-6s %4d passed, %d failed (%ds)' "$1" "$2" "$3" "$4")
	echo "$line"
	summary+="$line"$'\n'
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
}

# Configures and builds dir $2 with cmake args $3, logging to $1.
build_dir() {
	local log=$1 dir=$2 args=$3
	# shellcheck disable=SC2086
	{ cmake -S . -B "$dir" $args && cmake --build "$dir" -j"$jobs"; } >>"$log" 2>&1
}

ASAN_ARGS="-DSMM_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug"
TSAN_ARGS="-DSMM_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo"

# Configures, builds and runs ctest in build dir $2 with cmake args $3;
# $4 selects tests (default: all but the bugs stage's), $5 is how many run
# at once (default $jobs).  The knobs' tests run one at a time: a bug that
# needs two threads to meet must not share the CPUs with another test.
ctest_stage() {
	local name=$1 dir=$2 args=$3 select=${4:--LE bugs} parallel=${5:-$jobs}
	local log="$logdir/test-$1.log" start=$SECONDS
	: >"$log"
	echo "== $name: building $dir" >&2
	if ! build_dir "$log" "$dir" "$args"; then
		tail -30 "$log" >&2
		echo "== $name: build failed (log: $log)" >&2
		record "$name" 0 1 $((SECONDS - start))
		return
	fi
	echo "== $name: ctest $select" >&2
	# shellcheck disable=SC2086
	(cd "$dir" && ctest --output-on-failure -j"$parallel" --timeout 900 $select) >>"$log" 2>&1
	local line
	line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
	if [ -z "$line" ]; then
		tail -30 "$log" >&2
		record "$name" 0 1 $((SECONDS - start))
		return
	fi
	local failed all
	failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
	all=$(sed -E 's/.* tests failed out of ([0-9]+).*/\1/' <<<"$line")
	if [ "$failed" -ne 0 ]; then
		grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)' "$log" >&2
		failures+=$(grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)' "$log" |
			sed "s/^\s*/$name: /")$'\n'
	fi
	record "$name" $((all - failed)) "$failed" $((SECONDS - start))
}

for stage in $stages; do
	case $stage in
	unit) ctest_stage unit build "-DCMAKE_BUILD_TYPE=RelWithDebInfo" ;;
	asan) ctest_stage asan build-asan "$ASAN_ARGS" ;;
	tsan) ctest_stage tsan build-tsan "$TSAN_ARGS" ;;
	bugs)
		ctest_stage bugs-asan build-asan "$ASAN_ARGS" "-L bugs" 1
		ctest_stage bugs-tsan build-tsan "$TSAN_ARGS" "-L bugs" 1
		# Every knob the core has must be tested in one of the two.
		start=$SECONDS
		missing=0
		knobs=$(build-asan/user/tests/smm-bug --list 2>/dev/null) || knobs=
		[ -n "$knobs" ] || missing=1
		# Listed first, grepped after: grep -q closing a pipe early would
		# SIGPIPE ctest, and pipefail would read that as "not tested".
		tested=$( (cd build-asan && ctest -N -L bugs); (cd build-tsan && ctest -N -L bugs)) ||
			tested=
		for k in $knobs; do
			if ! grep -q "bugs\.$k\$" <<<"$tested"; then
				echo "== bugs: knob $k is tested by no build" >&2
				missing=$((missing + 1))
			fi
		done
		record bugs-all $((missing == 0 ? 1 : 0)) $((missing)) $((SECONDS - start))
		;;
	check)
		start=$SECONDS
		echo "== check: checkpatch --strict, sparse" >&2
		if make -s check >"$logdir/test-check.log" 2>&1; then
			record check 1 0 $((SECONDS - start))
		else
			tail -30 "$logdir/test-check.log" >&2
			record check 0 1 $((SECONDS - start))
		fi
		;;
	vm)
		start=$SECONDS
		echo "== vm: module on the kernels of make vm-test (TCG): ${SHADOWMM_VM_KERNELS:-debian d612 rt612 debug kcsan ppc64le}" >&2
		make -s vm-test 2>&1 | tee "$logdir/test-vm.log" >&2
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logdir/test-vm.log" | tail -1)
		if [ -n "$line" ]; then
			p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
			f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
			# A runner that died after its count still fails the stage.
			[ "${PIPESTATUS[0]}" -eq 0 ] || [ "$f" -gt 0 ] || f=1
			failures+=$(grep -a '^not ok' "$logdir/test-vm.log" | sed 's/^/vm: /')$'\n'
			record vm "$p" "$f" $((SECONDS - start))
		else
			record vm 0 1 $((SECONDS - start))
		fi
		;;
	*) echo "test-all: unknown stage '$stage'" >&2; exit 2 ;;
	esac
done
echo "== summary"
printf '%s' "$summary"
if [ "$total_fail" -ne 0 ]; then
	echo "== failed"
	grep -v '^$' <<<"$failures" || echo "(see the stages' output above)"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
