#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: ebizzy -mTRp on every backend and fault path, side by side,
# with and without the shadow TLB, mapbench, and the swap, cow, fork and
# uffd workloads per fault path and policy.
#
#   native  stock (this machine's own fault path) and inproc (the core
#           linked in) for every mode; module for every mode if shadowmm.ko
#           is loaded here (<debugfs>/shadowmm/ctl exists)
#   tlb     the shadow backends' ebizzy once more per TLB policy other than
#           the default (rcu): none (no TLB model, the access walks under
#           the PTE lock) and ipi (tables freed after an IPI round), in the
#           same repetition loop, so the model's cost is one ratio; and
#           mapbench (local, pipeline, global; $cpus and 2 x $cpus threads)
#           on every backend, with shootdowns per unmap.  Natively and in
#           the Debian guest
#   vm      the module for every mode, plus the guest kernel's own stock
#           path as its baseline, inside QEMU on Debian's kernel (TCG where
#           KVM does not work: those numbers are labelled TCG), and one-page
#           faults submitted by ioctl, write() batches and io_uring batches
#   ppc64le the same ebizzy comparison (1, 2 and 4 threads) in QEMU on
#           Debian's ppc64el kernel (64 KiB pages, the spaces in the host's
#           geometry), under TCG, from the ppc64le cross build
#   swap    the swap workload (4 threads, a working set twice the resident
#           budget of $swap_pages pages, uniform, 100 us per swapped page):
#           inproc in every mode, vmalock
#           with each swap policy, and stock under a memory cgroup with zram
#           swap (skipped where the machine does not allow it); in the
#           Debian guest the same on the module
#   fork    the cow and fork workloads natively, 4 threads: stock (real
#           fork()) and inproc in every mode; and the fork workload once
#           more in every mode with the fork_no_vma_lock knob on, the 6.4
#           bug, interleaved with the fixed runs so that the fix's cost is
#           one ratio (the only runs of the bench with a bug on; the report
#           keeps them out of every other table)
#   uffd    the uffd workload natively, 4 faulting threads, 2 resolvers and
#           a mapper: stock (real userfaultfd(2), where the kernel allows
#           it) and inproc in every mode, vmalock with each swap policy
#   pvl     the ground truth for per-VMA locks: Debian's 6.12 built twice
#           by scripts/pvl-kernel.sh, per-VMA locks on and off, one config
#           otherwise (cached; about 10 minutes of two idle CPUs the first
#           time).  Each repetition boots each kernel once, alternating, and
#           runs ebizzy -mTRp and pagefault at 1, 2 and 4 threads on the
#           kernel's own fault path (stock); on the kernel without per-VMA
#           locks also on the module, classic and vmalock, as Linux
#           (--model=none) and with each modelling choice put back
#           (unmap_write, tlb_waiters_stay, both: the model before).  The
#           report sets the real gain (stock, on / off) beside the model's
#           prediction (module vmalock / classic on the off kernel) and
#           their ratio, the model error, with intervals, for each choice;
#           and module classic against the real mmap_lock path.  Then
#           mapbench (local, pipeline, global; $cpus and 2 x $cpus
#           threads) on stock and on the module as Linux
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
#   --layout L        where the shadow backends' ebizzy records land: shared
#                     (the default: placed by the space, merging with their
#                     neighbours, as Linux places them) or per-thread
#   --no-vm           skip the QEMU parts   --no-ppc64le  skip the ppc64le guest
#   --no-micro        skip Google Benchmark, callgrind
#   --no-swap         skip the swap workload
#   --no-fork         skip the cow and fork workloads
#   --only-fork       only the cow and fork workloads (native)
#   --only-swap       only the swap workload (native, and the Debian guest
#                     unless --no-vm)
#   --no-uffd         skip the uffd workload
#   --only-uffd       only the uffd workload (native)
#   --no-tlb          skip the TLB-policy comparison and mapbench
#   --no-pvl          skip the per-VMA-lock ground truth (two kernel boots
#                     per repetition)
#   --only-pvl        only it
#   --only-tlb        only ebizzy (every backend and TLB policy) and mapbench,
#                     natively and in the Debian guest unless --no-vm
set -euo pipefail
cd "$(dirname "$0")/.."
duration=1.5
warmup=0.5
reps=5
cpus=$(nproc)
threads=""
for ((t = 1; t <= 4 * cpus; t *= 2)); do threads+="${threads:+,}$t"; done
vm=1
ppc64le=1
micro=1
swap=1
fork=1
uffd=1
tlb=1
pvl=1
ebizzy=1
layout=shared
# The swap workload: its own shorter runs, so its part stays near 2 min.
# No warm-up run: filling the working set before the clock already leaves
# half of it swapped out, the state the run measures.
swap_pages=2048
# Stock's budget is a memory cgroup that the whole process lives in; below
# about 64 MiB its OOM killer took most 4-thread runs here (swap free: the
# kernel's reclaim did not keep up), at 64 MiB none.
stock_swap_pages=16384
swap_duration=1
# The shadow swap store's latency per page (in-process the default is none).
swap_latency=100
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$2; shift 2 ;;
	--repetitions) reps=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--layout) layout=$2; shift 2 ;;
	--no-vm) vm=0; shift ;;
	--no-ppc64le) ppc64le=0; shift ;;
	--no-micro) micro=0; shift ;;
	--no-swap) swap=0; shift ;;
	--no-fork) fork=0; shift ;;
	--no-uffd) uffd=0; shift ;;
	--no-tlb) tlb=0; shift ;;
	--no-pvl) pvl=0; shift ;;
	--only-pvl) ebizzy=0; ppc64le=0; micro=0; swap=0; fork=0; uffd=0; tlb=0; shift ;;
	--only-fork) ebizzy=0; ppc64le=0; micro=0; swap=0; vm=0; uffd=0; tlb=0; pvl=0; shift ;;
	--only-swap) ebizzy=0; ppc64le=0; micro=0; fork=0; uffd=0; tlb=0; pvl=0; shift ;;
	--only-uffd) ebizzy=0; ppc64le=0; micro=0; swap=0; vm=0; fork=0; tlb=0; pvl=0; shift ;;
	--only-tlb) ppc64le=0; micro=0; swap=0; fork=0; uffd=0; pvl=0; shift ;;
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
case $layout in shared | per-thread) ;; *) echo "bench: --layout must be shared or per-thread" >&2; exit 2 ;; esac
common=(--workload=ebizzy --ebizzy=-mTRp --duration="$duration" --warmup="$warmup")
# The layout is a shadow backend's flag; stock lays out as its kernel does.
shadow_common=(--layout="$layout")
# mapbench at one and two threads per CPU: pipeline's 2-thread point is the
# one whose shootdowns per unmap the TLB model must get right (exactly 1).
mapbench_threads="$cpus,$((2 * cpus))"
mapbench_common=(--workload=mapbench --duration="$duration" --warmup="$warmup"
	--threads="$mapbench_threads")

{
	echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cpus CPUs"
	echo "host kernel: $(uname -r)"
	echo "ebizzy layout on the shadow backends: $layout"
	echo "date: $stamp"
} >"$out/machine.txt"

swap_common=(--workload=swap --threads=4 --resident_pages=$swap_pages --swap_ratio=2
	--duration="$swap_duration")

shadow_backends=inproc
[ -e /sys/kernel/debug/shadowmm/ctl ] && shadow_backends+=" module"
[ "$ebizzy" = 1 ] && echo "== bench: native stock, ${shadow_backends// / and } (all modes$(
	[ "$tlb" = 1 ] && echo '; TLB policies rcu, none, ipi')), threads $threads, ${duration}s each," \
	"$reps repetitions" >&2
for ((r = 1; r <= reps && ebizzy; r++)); do
	"$bin" --backend=stock "${common[@]}" --threads="$threads" --json="$out/native-stock.r$r.json" \
		>"$out/native-stock.r$r.txt"
	for b in $shadow_backends; do
		"$bin" --backend="$b" --mode=all "${common[@]}" "${shadow_common[@]}" --threads="$threads" \
			--json="$out/native-$b.r$r.json" >"$out/native-$b.r$r.txt"
		[ "$tlb" = 1 ] || continue
		for policy in none ipi; do
			"$bin" --backend="$b" --mode=all --tlb_policy=$policy "${common[@]}" "${shadow_common[@]}" \
				--threads="$threads" \
				--json="$out/native-$b-tlb-$policy.r$r.json" >"$out/native-$b-tlb-$policy.r$r.txt"
		done
	done
done

# mapbench natively: repetition r of every variant, backend and mode
# before r + 1.  Stock counts the machine's TLB shootdown interrupts.
if [ "$tlb" = 1 ]; then
	echo "== bench: mapbench (local, pipeline, global), native stock and ${shadow_backends// / and }" \
		"(all modes), threads $mapbench_threads, ${duration}s each, $reps repetitions" >&2
	for ((r = 1; r <= reps; r++)); do
		for v in local pipeline global; do
			"$bin" --backend=stock "${mapbench_common[@]}" --mapbench=$v \
				--json="$out/native-mapbench-$v-stock.r$r.json" >"$out/native-mapbench-$v-stock.r$r.txt"
			for b in $shadow_backends; do
				"$bin" --backend="$b" --mode=all "${mapbench_common[@]}" --mapbench=$v \
					--json="$out/native-mapbench-$v-$b.r$r.json" \
					>"$out/native-mapbench-$v-$b.r$r.txt"
			done
		done
	done
fi

# The swap workload natively: inproc in every mode (vmalock with each swap
# policy), and stock where this machine lets the run make a memory cgroup
# and a swap device (exit status 77 and one line saying why otherwise).
if [ "$swap" = 1 ]; then
	echo "== bench: swap, native inproc (all modes, vmalock x 3 swap policies) and stock," \
		"4 threads, working set 2 x $swap_pages pages, ${swap_duration}s each, $reps repetitions" >&2
	stock_skip="" oom_killed=0
	for ((r = 1; r <= reps; r++)); do
		# A failed run (an error in the core) is reported in the summary
		# and costs its repetition, not the rest of the bench.
		"$bin" --backend=inproc --mode=all --swap_policy=all "${swap_common[@]}" \
			--swap_latency_us=$swap_latency --json="$out/native-swap-inproc.r$r.json" \
			>"$out/native-swap-inproc.r$r.txt" 2>"$out/native-swap-inproc.err" || {
			echo "native inproc swap, repetition $r failed: $(tail -1 "$out/native-swap-inproc.err")" \
				>>"$out/machine.txt"
			rm -f "$out/native-swap-inproc.r$r.json"
		}
		[ -n "$stock_skip" ] && continue
		rc=0
		"$bin" --backend=stock "${swap_common[@]}" --resident_pages=$stock_swap_pages \
			--json="$out/native-swap-stock.r$r.json" \
			>"$out/native-swap-stock.r$r.txt" 2>"$out/native-swap-stock.err" || rc=$?
		if [ "$rc" = 77 ]; then
			stock_skip=$(cat "$out/native-swap-stock.err")
		elif [ "$rc" = 137 ]; then
			# The memory cgroup's OOM killer: under a small limit the
			# kernel's reclaim sometimes cannot keep up with four
			# threads thrashing, swap free or not.  Counted, not fatal;
			# the next run removes what the killed one left.
			oom_killed=$((oom_killed + 1))
		elif [ "$rc" != 0 ]; then
			cat "$out/native-swap-stock.err" >&2
			exit 1
		fi
		[ "$rc" = 0 ] || rm -f "$out/native-swap-stock.r$r.json"
	done
	"$bin" --stock_sweep 2>>"$out/native-swap-stock.err"
	[ -n "$stock_skip" ] && echo "native stock swap: $stock_skip" >>"$out/machine.txt"
	ok=0
	for f in "$out"/native-swap-stock.r*.json; do [ -e "$f" ] && ok=$((ok + 1)); done
	if [ "$ok" -gt 0 ]; then
		echo "native stock swap: $(grep -m1 -o '(memcg.*)' "$out/native-swap-stock.r1.txt");" \
			"$ok of $reps runs finished, $oom_killed OOM-killed by the memory cgroup" \
			>>"$out/machine.txt"
	fi
fi

# cow and fork natively (in the guest they would measure TCG's fork, not
# the fault path): repetition r of every backend, mode and knob setting
# before r + 1.  4 threads on this machine's CPUs, as the issue's target
# (spf and vmalock 1.5x classic on cow) is stated.
if [ "$fork" = 1 ]; then
	fork_common=(--threads=4 --duration="$duration" --warmup=1)
	echo "== bench: cow and fork, native stock and inproc (all modes; fork also with" \
		"the fork_no_vma_lock knob), 4 threads, ${duration}s each, $reps repetitions" >&2
	for ((r = 1; r <= reps; r++)); do
		for w in cow fork; do
			"$bin" --backend=stock --workload=$w "${fork_common[@]}" \
				--json="$out/native-$w-stock.r$r.json" >"$out/native-$w-stock.r$r.txt"
			"$bin" --backend=inproc --mode=all --workload=$w "${fork_common[@]}" \
				--json="$out/native-$w-inproc.r$r.json" >"$out/native-$w-inproc.r$r.txt"
		done
		"$bin" --backend=inproc --mode=all --workload=fork --bugs=fork_no_vma_lock \
			"${fork_common[@]}" --json="$out/native-fork-inproc-bug.r$r.json" \
			>"$out/native-fork-inproc-bug.r$r.txt"
	done
fi

# uffd natively: repetition r of stock and of every mode and policy before
# r + 1.  7 threads: 4 fault, 2 resolve, 1 maps and unmaps elsewhere (the
# issue's shape); stock skips with one line where userfaultfd is refused.
if [ "$uffd" = 1 ]; then
	uffd_common=(--workload=uffd --threads=7 --duration="$duration" --warmup="$warmup")
	echo "== bench: uffd, native stock and inproc (all modes, vmalock x 3 swap policies)," \
		"4 faulting + 2 resolving threads + a mapper, ${duration}s each, $reps repetitions" >&2
	uffd_skip=""
	for ((r = 1; r <= reps; r++)); do
		"$bin" --backend=inproc --mode=all --swap_policy=all "${uffd_common[@]}" \
			--json="$out/native-uffd-inproc.r$r.json" >"$out/native-uffd-inproc.r$r.txt"
		[ -n "$uffd_skip" ] && continue
		rc=0
		"$bin" --backend=stock "${uffd_common[@]}" --json="$out/native-uffd-stock.r$r.json" \
			>"$out/native-uffd-stock.r$r.txt" 2>"$out/native-uffd-stock.err" || rc=$?
		if [ "$rc" = 77 ]; then
			uffd_skip=$(cat "$out/native-uffd-stock.err")
			echo "native stock uffd: $uffd_skip" >>"$out/machine.txt"
		elif [ "$rc" != 0 ]; then
			cat "$out/native-uffd-stock.err" >&2
			exit 1
		fi
	done
fi

# The module's comparison in a guest: $1 qemu-run kernel, $2 name prefix of
# the JSON files, $3 the shadowmm-bench the guest runs, $4 its thread
# counts, $5 1 to add the submission-path runs, $6 1 to run the ebizzy
# comparison, $7 1 to add the swap workload on the module, $8 1 to add the
# TLB policies none and ipi to the ebizzy comparison and run mapbench.  The
# guest prints each JSON between markers; the console log brings it back.
vm_bench() {
	local kernel=$1 prefix=$2 guest_bin=$3 guest_threads=$4 submit=$5 with_ebizzy=$6
	local with_swap=$7 with_tlb=$8 guest
	guest="set -e; for r in $(seq -s ' ' 1 "$reps"); do"
	if [ "$with_ebizzy" = 1 ]; then
		local policies="rcu"
		[ "$with_tlb" = 1 ] && policies+=" none ipi"
		guest+=" for b in stock $policies; do m=all; p=\$b; be=module; n=module-tlb-\$b;"
		guest+=" l=${shadow_common[*]};"
		guest+=" [ \$b = stock ] && { m=stock; p=; be=stock; n=stock; l=; };"
		guest+=" [ \$b = rcu ] && n=module;"
		guest+=" shadowmm-bench --backend=\$be --mode=\$m \${p:+--tlb_policy=\$p} \$l ${common[*]}"
		guest+=" --threads=$guest_threads --json=/tmp/r.json >/dev/null;"
		guest+=" echo SHADOWMM-JSON-BEGIN $prefix-\$n.r\$r; cat /tmp/r.json; echo SHADOWMM-JSON-END;"
		guest+=" done;"
	fi
	if [ "$with_tlb" = 1 ]; then
		guest+=" for v in local pipeline global; do for b in stock module; do m=all;"
		guest+=" [ \$b = stock ] && m=stock;"
		guest+=" shadowmm-bench --backend=\$b --mode=\$m ${mapbench_common[*]} --mapbench=\$v"
		guest+=" --json=/tmp/r.json >/dev/null;"
		guest+=" echo SHADOWMM-JSON-BEGIN $prefix-mapbench-\$v-\$b.r\$r; cat /tmp/r.json;"
		guest+=" echo SHADOWMM-JSON-END; done; done;"
	fi
	if [ "$with_swap" = 1 ]; then
		guest+=" if shadowmm-bench --backend=module --mode=all --swap_policy=all ${swap_common[*]}"
		guest+=" --swap_latency_us=$swap_latency --json=/tmp/r.json >/dev/null 2>/tmp/e; then"
		guest+=" echo SHADOWMM-JSON-BEGIN $prefix-swap-module.r\$r; cat /tmp/r.json;"
		guest+=" echo SHADOWMM-JSON-END; else echo SHADOWMM-SWAP-FAILED r\$r: \$(cat /tmp/e); fi;"
	fi
	guest+=" done;"
	if [ "$submit" = 1 ]; then
		guest+=" for s in ioctl write uring; do shadowmm-bench --backend=module --workload=pft"
		guest+=" --threads=1 --duration=$duration --repetitions=$reps --touch_chunk_pages=1"
		guest+=" --batch=64 --submit=\$s"
		guest+=" --json=/tmp/r.json >/dev/null; echo SHADOWMM-JSON-BEGIN $prefix-submit-\$s;"
		guest+=" cat /tmp/r.json; echo SHADOWMM-JSON-END; done;"
	fi
	guest+=" echo SHADOWMM-GUEST-KERNEL \$(uname -r) \$(uname -m)"
	scripts/qemu-run.sh --kernel "$kernel" --module kmod/shadowmm.ko --bin "$guest_bin" \
		--smp "$cpus" --timeout 3600 --log "$out/$prefix-console.log" --quiet -- "$guest" \
		>"$out/$prefix.txt" 2>&1 || { tail -20 "$out/$prefix.txt" >&2; exit 1; }
	/usr/bin/python3 scripts/bench-extract.py "$out/$prefix-console.log" "$out"
	grep -m1 -o 'accel: .*' "$out/$prefix.txt" | sed "s/^/$prefix /" >>"$out/machine.txt" || true
	grep -o 'SHADOWMM-SWAP-FAILED .*' "$out/$prefix-console.log" |
		sed "s/SHADOWMM-SWAP-FAILED/$prefix module swap, repetition/; s/\r//" >>"$out/machine.txt" || true
	grep -m1 -o 'SHADOWMM-GUEST-KERNEL .*' "$out/$prefix-console.log" |
		sed "s/SHADOWMM-GUEST-KERNEL/$prefix guest kernel:/" >>"$out/machine.txt" || true
}

# (Only when the Debian guest has something to run: --only-pvl leaves it none.)
if [ "$vm" = 1 ] && { [ "$ebizzy" = 1 ] || [ "$swap" = 1 ]; }; then
	kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1)
	echo "== bench: module in QEMU (Debian kernel, headers $kdir)" >&2
	make -s -C kmod KDIR="$kdir" >"$out/kmod-build.log" 2>&1 ||
		{ tail -20 "$out/kmod-build.log" >&2; exit 1; }
	vm_bench debian vm "$bin" "$threads" "$ebizzy" "$ebizzy" "$swap" "$tlb"
fi

# The per-VMA-lock A/B: one boot per kernel and repetition, alternating,
# so drift on the host hits both kernels alike.  The module is built for
# each kernel's tree (the trees are the KDIRs).  pagefault maps 16 MiB per
# thread (will-it-scale's 128 MiB takes minutes a round under TCG).
pvl_guest_threads=1,2,4
# The module as Linux (none), each modelling choice put back alone, and
# both: the model as it was before this A/B (SET_MODEL).
pvl_models="none unmap_write tlb_waiters_stay unmap_write,tlb_waiters_stay"
pvl_common=(--duration="$duration" --warmup="$warmup" --threads="$pvl_guest_threads")
if [ "$vm" = 1 ] && [ "$pvl" = 1 ]; then
	echo "== bench: per-VMA locks, real (6.12 built with and without them) against the model," \
		"ebizzy -mTRp and pagefault, threads $pvl_guest_threads, $reps repetitions" >&2
	for k in off on; do
		log=$out/pvl-$k-kernel.log
		vars=$(scripts/pvl-kernel.sh --pvl $k --kmod "$out/shadowmm-pvl-$k.ko" 2>"$log") ||
			{ tail -20 "$log" >&2; exit 1; }
		eval "$vars"
		echo "pvl-$k kernel: $KERNELRELEASE (PER_VMA_LOCK=$PER_VMA_LOCK)" >>"$out/machine.txt"
	done
	for ((r = 1; r <= reps; r++)); do
		for k in off on; do
			prefix=vm_pvl_$k
			guest="set -e; zcat /proc/config.gz | grep -q '^CONFIG_PER_VMA_LOCK=y' &&"
			guest+=" echo SHADOWMM-PVL on || echo SHADOWMM-PVL off;"
			# The module only where the prediction is made (the kernel
			# without per-VMA locks), for each of $pvl_models.
			runs="stock:--backend=stock:--mode=stock"
			[ $k = off ] && for model in $pvl_models; do
				runs+=" module-$model:--backend=module:--mode=classic,vmalock:--model=$model"
			done
			guest+=" for w in ebizzy pagefault; do for run in $runs; do"
			guest+=" name=\${run%%:*}; args=\$(echo \${run#*:} | tr : ' ');"
			guest+=" [ \$name = stock ] || args=\"\$args ${shadow_common[*]}\";"
			guest+=" shadowmm-bench \$args --workload=\$w --ebizzy=-mTRp"
			guest+=" --pagefault_size=$((16 << 20)) ${pvl_common[*]} --json=/tmp/r.json >/dev/null;"
			guest+=" echo SHADOWMM-JSON-BEGIN $prefix-\$w-\$name.r$r; cat /tmp/r.json; echo SHADOWMM-JSON-END;"
			guest+=" done; done;"
			# mapbench, the TLB issue's workload, which the real kernel
			# runs too: every variant at 1 and 2 threads per CPU, the
			# module as Linux only.
			runs="stock:--backend=stock:--mode=stock"
			[ $k = off ] && runs+=" module-none:--backend=module:--mode=classic,vmalock:--model=none"
			guest+=" for v in local pipeline global; do for run in $runs; do"
			guest+=" name=\${run%%:*}; args=\$(echo \${run#*:} | tr : ' ');"
			guest+=" shadowmm-bench \$args --workload=mapbench --mapbench=\$v --duration=$duration"
			guest+=" --warmup=$warmup --threads=$mapbench_threads --json=/tmp/r.json >/dev/null;"
			guest+=" echo SHADOWMM-JSON-BEGIN $prefix-mapbench-\$v-\$name.r$r; cat /tmp/r.json; echo SHADOWMM-JSON-END;"
			guest+=" done; done"
			scripts/qemu-run.sh --kernel pvl-$k --module "$out/shadowmm-pvl-$k.ko" --bin "$bin" \
				--smp "$cpus" --timeout 1500 --log "$out/$prefix.r$r-console.log" --quiet -- "$guest" \
				>"$out/$prefix.r$r.txt" 2>&1 || { tail -20 "$out/$prefix.r$r.txt" >&2; exit 1; }
			grep -q "SHADOWMM-PVL $k" "$out/$prefix.r$r-console.log" ||
				{ echo "bench: the pvl-$k guest's config says otherwise" >&2; exit 1; }
			/usr/bin/python3 scripts/bench-extract.py "$out/$prefix.r$r-console.log" "$out"
			[ "$r" = 1 ] && { grep -m1 -o 'accel: .*' "$out/$prefix.r$r.txt" |
				sed "s/^/$prefix /" >>"$out/machine.txt" || true; }
		done
	done
fi

if [ "$vm" = 1 ] && [ "$ppc64le" = 1 ]; then
	# ebizzy -mTRp at 1, 2 and 4 threads: what the SPF series measured on
	# POWER, within the time TCG allows.
	echo "== bench: module in QEMU, ppc64le (Debian's ppc64el kernel, TCG)" >&2
	ppc_build=${PPC64LE_BUILD:-build-ppc64le}
	{ make -s ppc64le PPC64LE_BUILD="$ppc_build" && make -s -C kmod clean &&
		make -s -C kmod ARCH=ppc64le; } >"$out/ppc64le-build.log" 2>&1 ||
		{ tail -20 "$out/ppc64le-build.log" >&2; exit 1; }
	vm_bench ppc64le vm_ppc64le "$ppc_build/user/harness/shadowmm-bench" 1,2,4 0 1 0 0
	# The x86-64 module is what later steps (and a loaded module) expect.
	make -s -C kmod clean >/dev/null 2>&1 || true
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
