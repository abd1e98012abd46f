# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared helpers for the VM scripts (debug-kernel.sh, mkinitramfs.sh,
# qemu-run.sh, vm-test.sh).  Sourced, never executed: it only defines
# variables and functions.
#
# Environment understood by every script:
#   SHADOWMM_CACHE   cache directory (default: <repo>/.cache).  Holds the
#                    extracted kernel source, the debug kernel build, run logs.
#                    It is created with a `.gitignore` of `*` so it never shows
#                    up in `git status`, whatever the top-level .gitignore says.
#   SHADOWMM_JOBS    make -j for kernel builds (default 2: the build machines
#                    are small and shared).

SMM_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SMM_REPO=$(cd "$SMM_SCRIPTS/.." && pwd)
SMM_CACHE=${SHADOWMM_CACHE:-$SMM_REPO/.cache}
# shellcheck disable=SC2034 # used by the scripts that source this
SMM_JOBS=${SHADOWMM_JOBS:-2}

# Messages go to stderr so that stdout stays machine-readable
# (debug-kernel.sh prints KEY=VALUE lines there).
smm_log() { printf '%s: %s\n' "${SMM_PROG:-${0##*/}}" "$*" >&2; }
smm_die() { smm_log "error: $*"; exit "${SMM_DIE_RC:-1}"; }

smm_cache_init() {
	mkdir -p "$SMM_CACHE"
	# Self-ignoring cache: works before (and without) a top-level entry.
	[[ -e $SMM_CACHE/.gitignore ]] || printf '*\n' >"$SMM_CACHE/.gitignore"
}

# The Debian kernel release to boot with --kernel debian: the newest
# /boot/vmlinuz-*-amd64 that also has headers, so that a module can be built
# for it.  The host itself may run a different kernel (here: one without module
# support), so `uname -r` is deliberately not used.
smm_debian_kver() {
	local v best
	if [[ -n ${SHADOWMM_DEBIAN_KVER:-} ]]; then
		echo "$SHADOWMM_DEBIAN_KVER"
		return
	fi
	# sort -V: 6.1.0-10 must win over 6.1.0-9.
	best=$(for v in /boot/vmlinuz-*; do
		v=${v#/boot/vmlinuz-}
		if [[ -d /usr/src/linux-headers-$v || -d /lib/modules/$v/build ]]; then
			echo "$v"
		fi
	done | sort -V | tail -n1)
	[[ -n $best ]] || smm_die "no /boot/vmlinuz-* with matching linux-headers (apt-get install linux-image-amd64 linux-headers-amd64)"
	echo "$best"
}

smm_debian_kdir() {
	local kver=$1
	if [[ -d /lib/modules/$kver/build ]]; then
		echo "/lib/modules/$kver/build"
	else
		echo "/usr/src/linux-headers-$kver"
	fi
}

# The ppc64le guest's sysroot: Debian's ppc64el kernel, its headers, busybox
# and the libraries the cross build links (scripts/ppc64el-sysroot.sh).
smm_ppc64el_root() { echo "$SMM_CACHE/ppc64el/root"; }

# Its kernel release, e.g. 6.1.0-57-powerpc64le.
smm_ppc64el_kver() {
	local root v
	root=$(smm_ppc64el_root)
	v=$(find "$root/boot" -maxdepth 1 -name 'vmlinux-*' -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
	[[ -n $v ]] || smm_die "no ppc64el kernel in $root/boot (make deps fetches it)"
	echo "${v#vmlinux-}"
}

# Debian's 6.12 kernels from bookworm-backports, their headers and kbuild
# (scripts/k612-sysroot.sh).
smm_k612_root() { echo "$SMM_CACHE/k612/root"; }

# The kernel names vm-test.sh and qemu-run.sh give them: d612 is the stock
# flavour (amd64), rt612 the PREEMPT_RT one (rt-amd64).
smm_k612_flavour() { # NAME
	case $1 in
	d612) echo amd64 ;;
	rt612) echo rt-amd64 ;;
	*) smm_die "not a 6.12 kernel name: $1 (d612 or rt612)" ;;
	esac
}

# The release of its FLAVOUR (amd64 or rt-amd64) kernel, e.g.
# 6.12.95+deb12-rt-amd64: the one with both a vmlinuz and headers.
smm_k612_kver() { # FLAVOUR
	local root v
	root=$(smm_k612_root)
	v=$(find "$root/boot" -maxdepth 1 -name "vmlinuz-6.12.*-$1" -printf '%f\n' 2>/dev/null |
		sed 's/^vmlinuz-//' | grep -E -- "^6\.12\.[^-]+-$1\$" | sort -V | tail -n1 || true)
	[[ -n $v && -f $root/usr/src/linux-headers-$v/Makefile ]] ||
		smm_die "no 6.12 $1 kernel with headers in $root (make deps fetches them)"
	echo "$v"
}
