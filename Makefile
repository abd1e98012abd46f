# SPDX-License-Identifier: GPL-2.0
# shadowmm's entry points.
#   make test     install what is missing, build, run every test (the CI's
#                 command): userspace (plain, ASan+UBSan, TSan), checkpatch
#                 and sparse, the module in QEMU on six kernels
#   make bench    the comparison of fault paths and backends (see README)
#   make          the userspace build (core library, harness, tests)
#   make ppc64le  the programs the ppc64le guest runs, cross-built into
#                 build-ppc64le (cmake/ppc64le-toolchain.cmake)
#   make kmod     shadowmm.ko for KDIR (default: the running kernel);
#                 ARCH=ppc64le: for Debian's ppc64el kernel (cross build)
#   make vm-test  the module's selftest and stress in QEMU: Debian's 6.1,
#                 Debian's 6.12 and 6.12 PREEMPT_RT (bookworm-backports),
#                 debug (lockdep, KASAN) and KCSAN kernels, and Debian's
#                 ppc64el kernel (64 KiB pages, TCG)
#   make check    checkpatch --strict and sparse over kmod/, and the W=1 and
#                 sparse build against the 6.12 headers (stock and RT) too
JOBS ?= 2
BUILD ?= build
PPC64LE_BUILD ?= build-ppc64le
CMAKE_ARGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
# What the ppc64le guest runs (VM_TEST_ARGS).
PPC64LE_TARGETS := shadowmm-selftest smm-module-model harness_tests shadowmm-bench

.PHONY: all build ppc64le deps test bench kmod vm-test check clean

all: build

deps:
	@scripts/deps.sh

build:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

ppc64le:
	cmake -S . -B $(PPC64LE_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/ppc64le-toolchain.cmake \
		$(CMAKE_ARGS) >/dev/null
	cmake --build $(PPC64LE_BUILD) -j$(JOBS) --target $(PPC64LE_TARGETS)

test: deps
	@scripts/test-all.sh

bench: deps build
	@scripts/bench.sh $(BENCH_ARGS)

kmod:
	$(MAKE) -C kmod

# The 6.12 trees make deps fetched (scripts/k612-sysroot.sh): amd64 and
# rt-amd64, not their -common halves.
K612_KDIRS = $(abspath $(wildcard $(or $(SHADOWMM_CACHE),.cache)/k612/root/usr/src/linux-headers-6.12.*-amd64))
check:
	$(MAKE) -C kmod check
	$(foreach k,$(K612_KDIRS),$(MAKE) -C kmod sparse KDIR=$(k) &&) true

# The selftest comes from the userspace build (for ppc64le: the cross
# build); the module is built by vm-test.sh for each kernel it boots
# (SHADOWMM_VM_KERNELS picks them; default below).
# In the guest: the ABI selftest (TAP), then a
# stress of every mode, a stress with mode switches under race injection,
# a stress of every mode with swap (a resident budget below what the
# threads hold, every swap policy in turn), speculative faults with
# interrupts off against zaps that shoot down under the PTE lock
# (tlb_policy ipi; the knob's deadlock itself is a debug-kernel boot of its
# own, see vm-test.sh),
# the model test through the module's ioctls, the harness's
# module tests (every backend op by ioctl, write() and io_uring, and the
# same workloads leaving the same counters on the module as in-process),
# ebizzy with a process and a space per worker (--processes), and ebizzy
# with every thread in one range beside a written page (--layout=shared).
# $(call vm_stress,SECONDS ALL MODES,SECONDS SWITCHING,MODEL STEPS)
vm_stress = shadowmm-selftest --require --stress $(1) --threads 4 --mode all && \
	shadowmm-selftest --require --stress $(2) --threads 4 --mode switch --inject 0x3f && \
	shadowmm-selftest --require --stress $(2) --threads 4 --mode all --swap && \
	shadowmm-selftest --require --deadlock 5 && \
	smm-module-model --require --seeds 2 --steps $(3) && \
	harness_tests --gtest_filter='*odule*:Submit/*' && \
	shadowmm-bench --backend=module --mode=all --processes --threads=2 --iterations=200 >/dev/null && \
	shadowmm-bench --backend=module --mode=all --layout=shared --threads=2 --iterations=200 >/dev/null
VM_STRESS ?= $(call vm_stress,20,10,600)
# The ppc64le guest's (vm-test.sh --stress-for ppc64le).  TCG runs it at
# about 85% of the x86-64 guest's stress rate here, and the stage takes
# about 45 s, so the same durations; lower them here if a host is slower.
VM_STRESS_PPC64LE ?= $(VM_STRESS)
# The debug and KCSAN kernels check every access and lock, which makes them
# several times slower: half the all-modes stress and the model steps
# (same commands, so no coverage is lost).  Not the switching and swap
# stresses: at 5 s the swap stress's classic phase on the debug kernel
# took no swap-in at all, and that test requires one.
VM_STRESS_CHECKING ?= $(call vm_stress,10,10,300)
VM_TEST_ARGS ?= --selftest $(BUILD)/user/selftest/shadowmm-selftest --selftest-args --require \
	--bin $(BUILD)/user/tests/smm-module-model --bin $(BUILD)/user/harness/harness_tests \
	--bin $(BUILD)/user/harness/shadowmm-bench --stress "$(VM_STRESS)" \
	--build $(BUILD) --ppc64le-build $(PPC64LE_BUILD) --stress-for ppc64le "$(VM_STRESS_PPC64LE)" \
	--stress-for debug "$(VM_STRESS_CHECKING)" --stress-for kcsan "$(VM_STRESS_CHECKING)"
# Only the builds the kernels asked for (vm-test.sh has the same default).
# All six run by default: d612 and rt612 (Debian's 6.12 and its PREEMPT_RT
# flavour) took 58 and 65 s here (module build, boot, the same tests as
# debian's 57 s), about two minutes on a stage of ten.
VM_KERNELS = $(or $(SHADOWMM_VM_KERNELS),debian d612 rt612 debug kcsan ppc64le)
vm-test: $(if $(filter-out ppc64le,$(VM_KERNELS)),build) $(if $(filter ppc64le,$(VM_KERNELS)),ppc64le)
	scripts/vm-test.sh $(VM_TEST_ARGS)

clean:
	rm -rf build build-asan build-tsan build-ppc64le
	-$(MAKE) -C kmod clean
