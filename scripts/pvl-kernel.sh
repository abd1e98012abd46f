#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, once, one of the two kernels of the per-VMA-lock A/B and print
# where it is: Debian's linux-source-6.12 (k612-sysroot.sh --source fetches
# it from bookworm-backports), `make tinyconfig` + scripts/pvl-kernel.config,
# the same for both:
#   --pvl on   the source as it is: CONFIG_PER_VMA_LOCK=y
#   --pvl off  a scratch copy of the source (hard links) whose
#              arch/x86/Kconfig no longer has `select
#              ARCH_SUPPORTS_PER_VMA_LOCK`: on x86-64 PER_VMA_LOCK cannot be
#              switched off in a .config, only by taking away the
#              architecture's support, so this kernel's faults all take the
#              mmap_lock, as 6.1's do
# Once both are configured their .configs are compared: any difference but
# ARCH_SUPPORTS_PER_VMA_LOCK and PER_VMA_LOCK fails, so `stock` on the two
# measures per-VMA locks and nothing else.  The kernel releases differ by
# their LOCALVERSION (-pvl-on, -pvl-off), given to make, not in the .config.
#
# Not part of make test.  Each is built out of tree into
# $SHADOWMM_CACHE/pvl-kernel/<on|off>-<key>/, <key> hashing the fragment,
# the source tarball, the compiler and this recipe; the tree doubles as KDIR
# for the module; --kmod FILE also builds shadowmm.ko against it into FILE
# (kmod/ left clean).  Output on stdout, one KEY=VALUE per line (progress
# and the module's build go to stderr), so callers can
# `eval "$(scripts/pvl-kernel.sh --pvl off)"`:
#   BZIMAGE=<path>  KDIR=<build tree>  KERNELRELEASE=<uname -r>
#   PER_VMA_LOCK=on|off
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
usage: ${0##*/} --pvl on|off [--kmod FILE] [--force] [--jobs N]

  --pvl on|off  per-VMA locks on (the source as it is) or off (the scratch
                copy without ARCH_SUPPORTS_PER_VMA_LOCK)
  --kmod FILE   then build shadowmm.ko against this kernel into FILE
  --force       rebuild even if a build for this configuration exists
  --jobs N      make -j N (default \$SHADOWMM_JOBS or 2)

environment: SHADOWMM_CACHE, SHADOWMM_JOBS
EOF
}

# Bump when the build recipe below changes in a way the key cannot see.
RECIPE_REV=1

pvl=
kmod_out=
force=0
while (($#)); do
	case $1 in
	--pvl) pvl=$2; shift ;;
	--kmod) kmod_out=$2; shift ;;
	--force) force=1 ;;
	--jobs) SMM_JOBS=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[[ $pvl == @(on|off) ]] || { usage >&2; exit 2; }
SMM_PROG="${0##*/} ($pvl)"
smm_cache_init
frag=$SMM_SCRIPTS/pvl-kernel.config
base=$SMM_CACHE/pvl-kernel
mkdir -p "$base"

src_line=$("$SMM_SCRIPTS/k612-sysroot.sh" --source)
tarball=${src_line#SOURCE=}
[[ -f $tarball ]] || smm_die "no linux-source-6.12 tarball ($src_line)"
src_id="tar:$(basename "$tarball"):$(stat -c '%s:%Y' "$tarball")"
key=$( {
	echo "rev $RECIPE_REV"
	echo "$src_id"
	gcc -dumpfullversion 2>/dev/null || gcc --version | head -n1
	cat "$frag"
} | sha256sum | cut -c1-16)
out=$base/$pvl-$key
other=$base/$([[ $pvl == on ]] && echo off || echo on)-$key

# shadowmm.ko against the kernel's tree (--kmod), then the KEY=VALUE lines.
finish() {
	if [[ -n $kmod_out ]]; then
		local mk=(make -s -C "$SMM_REPO/kmod")
		smm_log "building shadowmm.ko against $out into $kmod_out"
		{ "${mk[@]}" clean && "${mk[@]}" KDIR="$out" &&
			cp "$SMM_REPO/kmod/shadowmm.ko" "$kmod_out"; } >&2 ||
			smm_die "shadowmm.ko against $out into $kmod_out failed"
		"${mk[@]}" clean >/dev/null 2>&1 || true
	fi
	print_result
}

print_result() {
	echo "BZIMAGE=$out/arch/x86/boot/bzImage"
	echo "KDIR=$out"
	echo "KERNELRELEASE=$(cat "$out/include/config/kernel.release")"
	echo "PER_VMA_LOCK=$pvl"
}

if ((!force)) && [[ -f $out/.smm-built ]]; then
	finish
	exit 0
fi

# One build at a time: both kernels share the extracted tree.
exec 9>"$base.lock"
if ! flock -n 9; then
	smm_log "another pvl kernel build is running; waiting for it"
	flock 9
fi
if ((!force)) && [[ -f $out/.smm-built ]]; then
	finish
	exit 0
fi
start=$SECONDS

# --- the source trees ----------------------------------------------------------------
src=$SMM_CACHE/src/$(basename "$tarball" .tar.xz)-$(stat -c '%s' "$tarball")
if [[ ! -f $src/.smm-extracted ]]; then
	smm_log "extracting $tarball into $src (once; about a minute)"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xJf "$tarball" -C "$src.tmp"
	top=$(find "$src.tmp" -mindepth 1 -maxdepth 1 -type d)
	[[ $(wc -l <<<"$top") -eq 1 && -f $top/Makefile ]] || smm_die "unexpected layout in $tarball"
	mv "$top" "$src"
	rmdir "$src.tmp"
	touch "$src/.smm-extracted"
fi

# The scratch copy: hard links, so it costs no data, and its one edited
# file is a new inode, so the shared tree stays pristine.
kconfig=arch/x86/Kconfig
select_line=$'\tselect ARCH_SUPPORTS_PER_VMA_LOCK'
if [[ $pvl == off ]]; then
	tree=$base/src-off-$(basename "$src")
	if [[ ! -f $tree/.smm-scratch ]]; then
		smm_log "scratch copy $tree without '${select_line#$'\t'}' in $kconfig"
		rm -rf "$tree" "$tree.tmp"
		cp -al "$src" "$tree.tmp"
		grep -vxF -- "$select_line" "$src/$kconfig" >"$tree.tmp/$kconfig.new"
		(($(wc -l <"$src/$kconfig") - $(wc -l <"$tree.tmp/$kconfig.new") == 1)) ||
			smm_die "$kconfig does not have exactly one '${select_line#$'\t'}' line"
		mv "$tree.tmp/$kconfig.new" "$tree.tmp/$kconfig"
		touch "$tree.tmp/.smm-scratch"
		mv "$tree.tmp" "$tree"
	fi
	grep -qxF -- "$select_line" "$tree/$kconfig" && smm_die "$tree/$kconfig still selects it"
else
	tree=$src
	grep -qxF -- "$select_line" "$tree/$kconfig" ||
		smm_die "$kconfig no longer has '${select_line#$'\t'}': the A/B needs a new recipe"
fi

# --- configure -------------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
log=$out/build.log
smm_log "building the per-VMA-lock $pvl kernel $key with -j$SMM_JOBS (log: $log)"
run_logged() {
	if ! "$@" >>"$log" 2>&1; then
		smm_log "failed: $*"
		tail -n 30 "$log" >&2
		exit 1
	fi
}
mk() { run_logged make -C "$tree" O="$out" LOCALVERSION="-pvl-$pvl" "$@"; }

mk tinyconfig
run_logged "$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$frag"
mk olddefconfig

# Every line of the fragment must have survived olddefconfig (an unmet
# dependency drops an option silently).
missing=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) grep -qxF -- "$line" "$out/.config" || missing+=("$line") ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		! grep -q "^$opt=" "$out/.config" || missing+=("$line")
		;;
	esac
done <"$frag"
((${#missing[@]} == 0)) || smm_die "options in ${frag##*/} not in the final .config: ${missing[*]}"
if [[ $pvl == on ]]; then
	grep -qx 'CONFIG_PER_VMA_LOCK=y' "$out/.config" || smm_die "CONFIG_PER_VMA_LOCK is not y"
else
	! grep -q '^CONFIG_PER_VMA_LOCK=' "$out/.config" || smm_die "CONFIG_PER_VMA_LOCK is still set"
fi
# The A/B is clean only if nothing else differs.
if [[ -f $other/.config ]]; then
	d=$(diff <(grep -v 'PER_VMA_LOCK' "$other/.config") <(grep -v 'PER_VMA_LOCK' "$out/.config") || true)
	[[ -z $d ]] || smm_die "the on and off .configs differ in more than PER_VMA_LOCK: $d"
	smm_log "the on and off .configs differ only in PER_VMA_LOCK: $(diff "$base/on-$key/.config" "$base/off-$key/.config" | grep -c '^[<>]') line(s)"
fi

# --- build -----------------------------------------------------------------------------
mk -j"$SMM_JOBS" all
[[ -f $out/arch/x86/boot/bzImage && -f $out/Module.symvers ]] || smm_die "build finished without bzImage/Module.symvers"
touch "$out/.smm-built"
smm_log "built in $((SECONDS - start)) s"

# Keep one build per flavour.
for d in "$base/$pvl"-*/; do
	d=${d%/}
	[[ $d == "$out" ]] || rm -rf "$d"
done
finish
