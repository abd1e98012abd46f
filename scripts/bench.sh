#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: ebizzy -mTRp on every backend and fault path, side by side.
#
#   native  stock (this machine's own fault path) and inproc (the core
#           linked in) for every mode; module for every mode if shadowmm.ko
#           is loaded here (<debugfs>/shadowmm/ctl exists)
#   vm      the module for every mode, plus the guest kernel's own stock
#           path as its baseline, inside QEMU on Debian's kernel (TCG where
#           KVM does not work: those numbers are labelled TCG), and one-page
#           faults submitted by ioctl, write() batches and io_uring batches
#   micro   Google Benchmark: lookup, fault cost per mode, submission cost;
#           callgrind instruction counts per ebizzy 0.3 record and per
#           fault, each mode (scripts/icount.sh)
#
# Every point runs --repetitions times, interleaved: repetition r of stock
# and of every mode before repetition r + 1, so drift hits them all alike.
# Writes bench/results/<stamp>/ (per-run JSON, results.json with every sample,
# summary.md with medians, 95% intervals and significance marks, PNG plots
# with error bars) and updates bench/results/latest.  Flags (or BENCH_ARGS=...):
#   --duration S      seconds per run (default 1.5, after 0.5 s of warm-up)
#   --repetitions N   runs per point (default 5)
#   --threads LIST    thread counts (default 1..4x CPUs: 1,2,4,...)
#   --no-vm           skip the QEMU part    --no-micro  skip Google Benchmark, callgrind
set -euo pipefail
cd "$(dirname "$0")/.."
duration=1.5
warmup=0.5
reps=5
cpus=$(nproc)
threads=""
for ((t = 1; t <= 4 * cpus; t *= 2)); do threads+="${threads:+,}$t"; done
vm=1
micro=1
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--repetitions) reps=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--no-vm) vm=0; shift ;;
	--no-micro) micro=0; shift ;;
	-h | --help) sed -n '3,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown flag '$1' (--help lists them)" >&2; exit 2 ;;
	esac
done
build=${BUILD:-build}
bin=$build/user/harness/shadowmm-bench
[ -x "$bin" ] || { echo "bench: $bin missing: run make first" >&2; exit 1; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/$stamp
mkdir -p "$out"
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --repetitions must be a positive count" >&2; exit 2; }
common=(--workload=ebizzy --ebizzy=-mTRp --threads="$threads" --duration="$duration"
	--warmup="$warmup")

{
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cpus CPUs"
	echo "host kernel: $(uname -r)"
	echo "date: $stamp"
} >"$out/machine.txt"

echo "== bench: native stock, inproc (all modes)$([ -e /sys/kernel/debug/shadowmm/ctl ] &&
	echo ', module (all modes)'), threads $threads, ${duration}s each, $reps repetitions" >&2
for ((r = 1; r <= reps; r++)); do
	"$bin" --backend=stock "${common[@]}" --json="$out/native-stock.r$r.json" \
		>"$out/native-stock.r$r.txt"
	"$bin" --backend=inproc --mode=all "${common[@]}" --json="$out/native-inproc.r$r.json" \
		>"$out/native-inproc.r$r.txt"
	if [ -e /sys/kernel/debug/shadowmm/ctl ]; then
		"$bin" --backend=module --mode=all "${common[@]}" --json="$out/native-module.r$r.json" \
			>"$out/native-module.r$r.txt"
	fi
done

if [ "$vm" = 1 ]; then
	kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)
	echo "== bench: module in QEMU (Debian kernel, headers $kdir)" >&2
	make -s -C kmod KDIR="$kdir" >"$out/kmod-build.log" 2>&1 ||
		{ tail -20 "$out/kmod-build.log" >&2; exit 1; }
	# The guest prints each JSON between markers; the console log brings it back.
	guest="set -e; for r in $(seq -s ' ' 1 "$reps"); do for b in stock module; do m=all;"
	guest+=" [ \$b = stock ] && m=stock;"
	guest+=" shadowmm-bench --backend=\$b --mode=\$m ${common[*]} --json=/tmp/r.json >/dev/null;"
	guest+=" echo SHADOWMM-JSON-BEGIN vm-\$b.r\$r; cat /tmp/r.json; echo SHADOWMM-JSON-END;"
	guest+=" done; done;"
	guest+=" for s in ioctl write uring; do shadowmm-bench --backend=module --workload=pft"
	guest+=" --threads=1 --duration=$duration --repetitions=$reps --touch_chunk_pages=1"
	guest+=" --batch=64 --submit=\$s"
	guest+=" --json=/tmp/r.json >/dev/null; echo SHADOWMM-JSON-BEGIN vm-submit-\$s;"
	guest+=" cat /tmp/r.json; echo SHADOWMM-JSON-END; done; uname -r > /tmp/k;"
	guest+=" echo SHADOWMM-GUEST-KERNEL \$(cat /tmp/k)"
	scripts/qemu-run.sh --kernel debian --module kmod/shadowmm.ko --bin "$bin" \
		--smp "$cpus" --timeout 1500 --log "$out/vm-console.log" --quiet -- "$guest" \
		>"$out/vm.txt" 2>&1 || { tail -20 "$out/vm.txt" >&2; exit 1; }
	/usr/bin/python3 scripts/bench-extract.py "$out/vm-console.log" "$out"
	grep -m1 -o 'accel: .*' "$out/vm.txt" | sed 's/^/vm /' >>"$out/machine.txt" || true
	grep -m1 -o 'SHADOWMM-GUEST-KERNEL .*' "$out/vm-console.log" |
		sed 's/SHADOWMM-GUEST-KERNEL/vm guest kernel:/' >>"$out/machine.txt" || true
fi

if [ "$micro" = 1 ]; then
	echo "== bench: microbenchmarks" >&2
	for b in bench_core bench_submit; do
		[ -x "$build/bench/$b" ] || continue
		"$build/bench/$b" --benchmark_min_time=0.2 --benchmark_out="$out/micro-$b.json" \
			--benchmark_out_format=json >"$out/micro-$b.txt" 2>&1
	done
fi

if [ "$micro" = 1 ]; then
	# Instructions per record and per fault, mode by mode: deterministic,
	# so single-thread overheads are compared without timing noise.
	echo "== bench: instruction counts (callgrind)" >&2
	scripts/icount.sh --bin "$bin" --json "$out/icount.json" >"$out/icount.md"
fi

/usr/bin/python3 scripts/bench-report.py "$out"
[ -s "$out/icount.md" ] && { echo; cat "$out/icount.md"; } >>"$out/summary.md"
ln -sfn "$stamp" bench/results/latest
cat "$out/summary.md"
echo "bench: results in $out (JSON, summary.md, PNG plots)" >&2
