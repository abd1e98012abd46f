#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Instructions per ebizzy 0.3 record and per faulted page, for each fault
# path of the core in-process, counted by callgrind.  Instruction counts do
# not depend on what else the machine is doing, so single-thread overheads
# of the modes can be compared without the noise of timed runs.
#
# Each figure is a difference of runs of shadowmm-bench with --iterations N
# and 2N, one worker, counting only inside the workload's Run()
# (--toggle-collect): start-up, setup and teardown cancel out, and the RCU
# worker's frees, on another thread, are not counted.  The worker's own
# allocations still depend on when the RCU thread returned memory to the
# allocator, which is timing: identical ebizzy runs differ by up to 2% in
# total and single differences by 5%.  So each count is the median of
# --runs runs (most runs agree to the instruction), and the table gives the
# spread of the runs at 2N.
#   ebizzy  -mTRp, ebizzy 0.3's random numbers: instructions per record
#   pft     touch then MADV_DONTNEED of 64 pages: per page (one fault and
#           its share of the zap)
#
# usage: icount.sh [--bin PATH] [--iterations N] [--runs R] [--json FILE]
# Prints a markdown table; --json also writes the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/user/harness/shadowmm-bench
n=10000
runs=5
json=
while (($#)); do
	case $1 in
	--bin) bin=$2; shift ;;
	--iterations) n=$2; shift ;;
	--runs) runs=$2; shift ;;
	--json) json=$2; shift ;;
	-h | --help) sed -n '3,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "icount: unknown flag '$1' (--help lists them)" >&2; exit 2 ;;
	esac
	shift
done
[[ -x $bin ]] || { echo "icount: $bin missing: run make first" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "icount: valgrind missing (apt-get install valgrind)" >&2; exit 1; }
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "icount: --iterations must be a positive count" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "icount: --runs must be a positive count" >&2; exit 2; }

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

# Median and spread (max/min - 1, in %) of --runs runs of collected(),
# into the globals med and spread (a failed run exits the script).
median_of_runs() {
	local i v vals=()
	for ((i = 0; i < runs; i++)); do
		v=$(collected "$@") || exit 1
		vals+=("$v")
	done
	read -r med spread < <(printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 }
		END { printf "%d %.2f\n", v[int((NR + 1) / 2)], (v[NR] / v[1] - 1) * 100 }')
}

pft_pages=64
declare -A per_record per_page spread_record spread_page
med=0
spread=0
for mode in classic spf vmalock mmseq; do
	median_of_runs "$mode" "$n" --workload=ebizzy --ebizzy=-mTRp --ebizzy_rng=0.3
	a=$med
	median_of_runs "$mode" $((2 * n)) --workload=ebizzy --ebizzy=-mTRp --ebizzy_rng=0.3
	per_record[$mode]=$(((med - a) / n))
	spread_record[$mode]=$spread
	m=$((n / 10))
	median_of_runs "$mode" "$m" --workload=pft --pft_size=$((pft_pages * 4096))
	a=$med
	median_of_runs "$mode" $((2 * m)) --workload=pft --pft_size=$((pft_pages * 4096))
	per_page[$mode]=$(((med - a) / (m * pft_pages)))
	spread_page[$mode]=$spread
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo "Instructions (callgrind, in-process core, 1 worker; $(uname -m), $(uname -r));" \
	"medians of $runs runs, spread = max/min - 1 of the runs"
echo
echo "| mode | per ebizzy 0.3 -mTRp record | vs classic | spread | per pft page | vs classic | spread |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for mode in classic spf vmalock mmseq; do
	echo "| $mode | ${per_record[$mode]} | $(ratio "${per_record[$mode]}" "${per_record[classic]}") |" \
		"${spread_record[$mode]}% | ${per_page[$mode]} |" \
		"$(ratio "${per_page[$mode]}" "${per_page[classic]}") | ${spread_page[$mode]}% |"
done
if [[ -n $json ]]; then
	{
		echo "{\"iterations\": $n, \"runs\": $runs, \"pft_pages\": $pft_pages, \"modes\": {"
		sep=
		for mode in classic spf vmalock mmseq; do
			printf '%s"%s": {"ebizzy_record": %s, "ebizzy_spread_pct": %s, "pft_page": %s, "pft_spread_pct": %s}' \
				"$sep" "$mode" "${per_record[$mode]}" "${spread_record[$mode]}" \
				"${per_page[$mode]}" "${spread_page[$mode]}"
			sep=", "
		done
		echo "}}"
	} >"$json"
fi
