#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Where the time goes, in the per-VMA-lock A/B guests: one boot of each
# kernel of scripts/pvl-kernel.sh (6.12 with and without per-VMA locks),
# ebizzy -mTRp sampled by perf (the host's perf, packed with its libraries;
# cpu-clock at --freq Hz on every CPU, since TCG has no PMU) on the
# kernel's own fault path (stock) and, on the kernel without per-VMA
# locks, on the module: classic and vmalock, each as Linux (--model=none)
# and as the model was before the A/B (every choice put back).  Each run also counts the guest's TLB-shootdown interrupts
# (/proc/interrupts).
# scripts/pvl-profile-report.py turns the console logs into profile.md:
# per run, the share of CPU time in each kind of work (trap entry and exit,
# page zeroing, allocation, TLB flushes and IPIs, the mmap lock, RCU, the
# module's core...) and the top symbols.
#
# Not part of make test or make bench: a diagnosis, about 6 minutes under
# TCG with both kernels cached.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=common.sh source-path=SCRIPTDIR
. scripts/common.sh

usage() {
	cat <<EOF
usage: ${0##*/} [--threads N] [--seconds S] [--freq HZ] [--out DIR]

  --threads N   ebizzy threads (default 2: the guest's CPUs)
  --seconds S   seconds per profiled run (default 4, after 0.5 s warm-up)
  --freq HZ     perf's sampling frequency (default 1000)
  --out DIR     results (default bench/results/<UTC stamp>-profile)
EOF
}

threads=2
seconds=4
freq=1000
out=
while (($#)); do
	case $1 in
	--threads) threads=$2; shift ;;
	--seconds) seconds=$2; shift ;;
	--freq) freq=$2; shift ;;
	--out) out=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[[ $threads =~ ^[1-9][0-9]*$ && $freq =~ ^[1-9][0-9]*$ && $seconds =~ ^[0-9.]+$ ]] ||
	{ usage >&2; exit 2; }
SMM_PROG=${0##*/}
perf=$(command -v perf) || smm_die "no perf on this machine (Debian: linux-perf)"
build=${BUILD:-build}
bin=$build/user/harness/shadowmm-bench
[[ -x $bin ]] || smm_die "$bin missing: make build first"
out=${out:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)-profile}
mkdir -p "$out"
cpus=2

echo "host: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
	>"$out/machine.txt"
echo "perf: $("$perf" --version)" >>"$out/machine.txt"
for k in off on; do
	vars=$(scripts/pvl-kernel.sh --pvl $k --kmod "$out/shadowmm-pvl-$k.ko" \
		2>"$out/pvl-$k-kernel.log") || { tail -20 "$out/pvl-$k-kernel.log" >&2; exit 1; }
	eval "$vars"
	echo "pvl-$k kernel: $KERNELRELEASE" >>"$out/machine.txt"
done

common="--workload=ebizzy --ebizzy=-mTRp --threads=$threads --duration=$seconds --warmup=0.5"
# Sums the TLB line of /proc/interrupts (one column per CPU).
tlb_sum="awk '/TLB:/ {s = 0; for (i = 2; i <= NF; i++) if (\$i ~ /^[0-9]+\$/) s += \$i; print s}' /proc/interrupts"
for k in off on; do
	runs="stock:--backend=stock:--mode=stock"
	if [[ $k == off ]]; then
		for m in classic vmalock; do
			runs+=" $m:--backend=module:--mode=$m:--layout=shared:--model=none"
			runs+=" $m-before:--backend=module:--mode=$m:--layout=shared:--model=unmap_write,tlb_waiters_stay"
		done
	fi
	# The guest's shell is busybox ash.
	guest="set -e; for run in $runs; do name=\${run%%:*}; args=\$(echo \${run#*:} | tr : ' ');"
	guest+=" tlb0=\$($tlb_sum);"
	guest+=" perf record -q -N -a -F $freq -e cpu-clock -o /tmp/p.data --"
	guest+=" shadowmm-bench \$args $common --json=/tmp/r.json >/dev/null 2>/tmp/perf.err ||"
	guest+=" { cat /tmp/perf.err; exit 1; };"
	guest+=" tlb1=\$($tlb_sum);"
	guest+=" echo SHADOWMM-PROFILE-BEGIN pvl-$k-\$name tlb_irqs=\$((tlb1 - tlb0));"
	# No pager: busybox's less would wait for a key after one screen.
	guest+=" perf --no-pager report -i /tmp/p.data --stdio --no-children --sort sym -q --percent-limit 0.05 2>/dev/null;"
	guest+=" echo SHADOWMM-PROFILE-END;"
	guest+=" echo SHADOWMM-JSON-BEGIN pvl-$k-\$name; cat /tmp/r.json; echo SHADOWMM-JSON-END; done"
	echo "== pvl-profile: pvl-$k" >&2
	scripts/qemu-run.sh --kernel pvl-$k --module "$out/shadowmm-pvl-$k.ko" --bin "$bin" \
		--bin "$perf" --smp $cpus --timeout 1500 --log "$out/pvl-$k-console.log" --quiet -- \
		"$guest" >"$out/pvl-$k.txt" 2>&1 || { tail -20 "$out/pvl-$k.txt" >&2; exit 1; }
	grep -m1 -o 'accel: .*' "$out/pvl-$k.txt" | sed "s/^/pvl-$k /" >>"$out/machine.txt" || true
	/usr/bin/python3 scripts/bench-extract.py "$out/pvl-$k-console.log" "$out"
done
/usr/bin/python3 scripts/pvl-profile-report.py "$out" >"$out/profile.md"
cat "$out/profile.md"
echo "pvl-profile: results in $out" >&2
