# SPDX-License-Identifier: GPL-2.0
# shadowmm's entry points.
#   make test     install what is missing, build, run every test (the CI's
#                 command): userspace (plain, ASan+UBSan, TSan), checkpatch
#                 and sparse, the module in QEMU on three kernels
#   make bench    the comparison of fault paths and backends (see README)
#   make          the userspace build (core library, harness, tests)
#   make kmod     shadowmm.ko for KDIR (default: the running kernel);
#                 ARCH=ppc64le: for Debian's ppc64el kernel (cross build)
#   make vm-test  the module's selftest and stress in QEMU: Debian's,
#                 debug (lockdep, KASAN) and KCSAN kernels
#   make check    checkpatch --strict and sparse over kmod/
JOBS ?= 2
BUILD ?= build
CMAKE_ARGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all build deps test bench kmod vm-test check clean

all: build

deps:
	@scripts/deps.sh

build:
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

test: deps
	@scripts/test-all.sh

bench: deps build
	@scripts/bench.sh $(BENCH_ARGS)

kmod:
	$(MAKE) -C kmod

check:
	$(MAKE) -C kmod check

# The selftest comes from the userspace build; the module is built by
# vm-test.sh for each kernel it boots (SHADOWMM_VM_KERNELS picks them;
# default debian debug kcsan).  In the guest: the ABI selftest (TAP), then a
# stress of every mode, a stress with mode switches under race injection,
# the model test through the module's ioctls, and the harness's
# module tests (every backend op by ioctl, write() and io_uring, and the
# same workloads leaving the same counters on the module as in-process).
VM_STRESS ?= shadowmm-selftest --require --stress 20 --threads 4 --mode all && \
	shadowmm-selftest --require --stress 10 --threads 4 --mode switch --inject 0x3f && \
	smm-module-model --require --seeds 2 --steps 600 && \
	harness_tests --gtest_filter='*odule*:Submit/*'
VM_TEST_ARGS ?= --selftest $(BUILD)/user/selftest/shadowmm-selftest --selftest-args --require \
	--bin $(BUILD)/user/tests/smm-module-model --bin $(BUILD)/user/harness/harness_tests \
	--bin $(BUILD)/user/harness/shadowmm-bench --stress "$(VM_STRESS)"
vm-test: build
	scripts/vm-test.sh $(VM_TEST_ARGS)

clean:
	rm -rf build build-asan build-tsan
	-$(MAKE) -C kmod clean
