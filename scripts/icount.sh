#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Instructions per ebizzy 0.3 record and per faulted page, for each fault
# path of the core in-process, counted by callgrind.  Instruction counts do
# not depend on what else the machine is doing, so single-thread overheads
# of the modes can be compared without the noise of timed runs.
#
# Each figure is a difference of two runs of shadowmm-bench with
# --iterations N and 2N, one worker, counting only inside the workload's
# Run() (--toggle-collect): start-up, setup and teardown cancel out, and the
# RCU worker's frees, on another thread, are not counted.
#   ebizzy  -mTRp, ebizzy 0.3's random numbers: instructions per record
#   pft     touch then MADV_DONTNEED of 64 pages: per page (one fault and
#           its share of the zap)
#
# usage: icount.sh [--bin PATH] [--iterations N] [--json FILE]
# Prints a markdown table; --json also writes the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/user/harness/shadowmm-bench
n=2000
json=
while (($#)); do
	case $1 in
	--bin) bin=$2; shift ;;
	--iterations) n=$2; shift ;;
	--json) json=$2; shift ;;
	-h | --help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "icount: unknown flag '$1' (--help lists them)" >&2; exit 2 ;;
	esac
	shift
done
[[ -x $bin ]] || { echo "icount: $bin missing: run make first" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "icount: valgrind missing (apt-get install valgrind)" >&2; exit 1; }
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "icount: --iterations must be a positive count" >&2; exit 2; }

# Instructions collected inside Run() for one run: $1 mode, $2 iterations,
# then workload flags.
collected() {
	local mode=$1 iters=$2 out
	shift 2
	out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		'--toggle-collect=*::Run(shadowmm::Backend&, shadowmm::WorkerContext&)' \
		"$bin" --backend=inproc --mode="$mode" --threads=1 \
		--iterations="$iters" "$@" 2>&1 >/dev/null) || {
		echo "icount: $bin failed under callgrind:" >&2
		tail -5 <<<"$out" >&2
		exit 1
	}
	sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<<"$out" | tail -1
}

pft_pages=64
declare -A per_record per_page
for mode in classic spf vmalock mmseq; do
	a=$(collected "$mode" "$n" --workload=ebizzy --ebizzy=-mTRp --ebizzy_rng=0.3)
	b=$(collected "$mode" $((2 * n)) --workload=ebizzy --ebizzy=-mTRp --ebizzy_rng=0.3)
	per_record[$mode]=$(((b - a) / n))
	m=$((n / 10))
	a=$(collected "$mode" "$m" --workload=pft --pft_size=$((pft_pages * 4096)))
	b=$(collected "$mode" $((2 * m)) --workload=pft --pft_size=$((pft_pages * 4096)))
	per_page[$mode]=$(((b - a) / (m * pft_pages)))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "Instructions (callgrind, in-process core, 1 worker; $(uname -m), $(uname -r))"
echo
echo "| mode | per ebizzy 0.3 -mTRp record | vs classic | per pft page | vs classic |"
echo "|---|---:|---:|---:|---:|"
for mode in classic spf vmalock mmseq; do
	echo "| $mode | ${per_record[$mode]} | $(ratio "${per_record[$mode]}" "${per_record[classic]}") |" \
		"${per_page[$mode]} | $(ratio "${per_page[$mode]}" "${per_page[classic]}") |"
done
if [[ -n $json ]]; then
	{
		echo "{\"iterations\": $n, \"pft_pages\": $pft_pages, \"modes\": {"
		sep=
		for mode in classic spf vmalock mmseq; do
			printf '%s"%s": {"ebizzy_record": %s, "pft_page": %s}' "$sep" "$mode" \
				"${per_record[$mode]}" "${per_page[$mode]}"
			sep=", "
		done
		echo "}}"
	} >"$json"
fi
