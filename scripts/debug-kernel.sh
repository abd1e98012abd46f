#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, once, one of shadowmm's checking kernels from Debian's
# linux-source-6.1 and print where it is.  Two flavours:
#   debug  lockdep, PROVE_RCU, KASAN, DEBUG_VM, DEBUG_ATOMIC_SLEEP
#          (`make tinyconfig` + scripts/debug-kernel.config)
#   kcsan  KCSAN in strict mode with weak-memory (barrier) modelling, no KASAN
#          (KCSAN excludes it), no lockdep (the same + scripts/kcsan-kernel.config)
#
# Each is built out of tree (O=) into $SHADOWMM_CACHE/<flavour>-kernel/<key>/,
# where <key> hashes the config fragments, the source tarball, the compiler
# and this recipe: editing a fragment rebuilds, anything else reuses.  The
# build directory is a complete kbuild output tree (Module.symvers, scripts/,
# generated headers), so it doubles as KDIR for `make -C $KDIR M=...` module
# builds (which then get the kernel's instrumentation, KCSAN's included).
#
# Output on stdout, one KEY=VALUE per line (progress goes to stderr):
#   BZIMAGE=<path to arch/x86/boot/bzImage>
#   KDIR=<build tree for external modules>
#   KERNELRELEASE=<uname -r of that kernel>
# so callers can `eval "$(scripts/debug-kernel.sh)"`.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
usage: ${0##*/} [--flavour debug|kcsan] [--force] [--jobs N]

  --flavour F  debug (default) or kcsan
  --force    rebuild even if a build for this configuration exists
  --jobs N   make -j N (default \$SHADOWMM_JOBS or 2)

environment:
  SHADOWMM_CACHE          cache directory (default <repo>/.cache)
  SHADOWMM_LINUX_TARBALL  kernel source tarball
                          (default: newest /usr/src/linux-source-*.tar.xz)
  SHADOWMM_LINUX_SRC      an already extracted, clean source tree to build
                          from instead of extracting the tarball (read only)
EOF
}

# Bump when the build recipe below changes in a way the key cannot see.
RECIPE_REV=1

flavour=debug
force=0
while (($#)); do
	case $1 in
	--flavour) flavour=$2; shift ;;
	--force) force=1 ;;
	--jobs) SMM_JOBS=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

# Fragments in merge order: later ones override earlier ones.
case $flavour in
debug) frags=("$SMM_SCRIPTS/debug-kernel.config") ;;
kcsan) frags=("$SMM_SCRIPTS/debug-kernel.config" "$SMM_SCRIPTS/kcsan-kernel.config") ;;
*) usage >&2; exit 2 ;;
esac
SMM_PROG="${0##*/} ($flavour)"
smm_cache_init

# --- where the source comes from ----------------------------------------------
if [[ -n ${SHADOWMM_LINUX_SRC:-} ]]; then
	src=$(cd "$SHADOWMM_LINUX_SRC" && pwd)
	[[ -f $src/Makefile && -d $src/kernel ]] || smm_die "SHADOWMM_LINUX_SRC=$src is not a kernel tree"
	src_id="dir:$src:$(sed -n '1,5p' "$src/Makefile" | tr '\n' ' ')"
else
	tarball=${SHADOWMM_LINUX_TARBALL:-$(printf '%s\n' /usr/src/linux-source-*.tar.xz | sort -V | tail -n1)}
	[[ -n $tarball && -f $tarball ]] || smm_die "no kernel source tarball (apt-get install linux-source-6.1)"
	# Size + mtime identify a Debian upload well enough and cost no hashing
	# of 140 MB.
	src_id="tar:$(basename "$tarball"):$(stat -c '%s:%Y' "$tarball")"
	src=$SMM_CACHE/src/$(basename "$tarball" .tar.xz)-$(stat -c '%s' "$tarball")
fi

# The debug flavour hashes exactly what it always did, so existing debug
# builds stay valid.
key=$( {
	echo "rev $RECIPE_REV"
	echo "$src_id"
	gcc -dumpfullversion 2>/dev/null || gcc --version | head -n1
	[[ $flavour == debug ]] || echo "flavour $flavour"
	cat "${frags[@]}"
} | sha256sum | cut -c1-16)
out=$SMM_CACHE/$flavour-kernel/$key

print_result() {
	echo "BZIMAGE=$out/arch/x86/boot/bzImage"
	echo "KDIR=$out"
	echo "KERNELRELEASE=$(cat "$out/include/config/kernel.release")"
}

if ((!force)) && [[ -f $out/.smm-built ]]; then
	print_result
	exit 0
fi

# Two concurrent `make vm-test`s must not build into the same tree.  The
# debug flavour keeps the lock file it always had, which also guards the
# extraction below (shared by both flavours; see extract_lock).
exec 9>"$SMM_CACHE/$flavour-kernel.lock"
if ! flock -n 9; then
	smm_log "another $flavour kernel build is running; waiting for it"
	flock 9
fi
if ((!force)) && [[ -f $out/.smm-built ]]; then
	print_result
	exit 0
fi

start=$SECONDS

# --- extract (once per tarball) ------------------------------------------------
# Both flavours share the extracted tree: extract under the debug flavour's
# lock (which a debug build holds for its whole run; a kcsan build takes it
# only here, and only when the tree is not there yet).
if [[ -z ${SHADOWMM_LINUX_SRC:-} && ! -f $src/.smm-extracted && $flavour != debug ]]; then
	exec 8>"$SMM_CACHE/debug-kernel.lock"
	if ! flock -n 8; then
		smm_log "waiting for a debug kernel build to release the source tree"
		flock 8
	fi
fi
if [[ -z ${SHADOWMM_LINUX_SRC:-} && ! -f $src/.smm-extracted ]]; then
	smm_log "extracting $tarball into $src (once; about a minute)"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xJf "$tarball" -C "$src.tmp"
	# Debian's tarball holds a single linux-source-6.1/ directory.
	top=$(find "$src.tmp" -mindepth 1 -maxdepth 1 -type d)
	[[ $(wc -l <<<"$top") -eq 1 && -f $top/Makefile ]] || smm_die "unexpected layout in $tarball"
	mv "$top" "$src"
	rmdir "$src.tmp"
	touch "$src/.smm-extracted"
fi
exec 8>&-

# --- configure -------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
log=$out/build.log
case $flavour in
debug) eta="~4 min on 2 cores" ;;
kcsan) eta="~3 min on 2 idle cores" ;;
esac
smm_log "building $flavour kernel $key with -j$SMM_JOBS (log: $log; $eta)"

run_logged() {
	if ! "$@" >>"$log" 2>&1; then
		smm_log "failed: $*"
		tail -n 30 "$log" >&2
		exit 1
	fi
}

mk() { run_logged make -C "$src" O="$out" "$@"; }

mk tinyconfig
run_logged "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}"
mk olddefconfig

# Every option the fragments ask for must have survived olddefconfig: an
# unmet dependency silently drops it, and a "debug" kernel without KASAN (or
# a "kcsan" kernel without KCSAN_WEAK_MEMORY) would pass every test it was
# meant to fail.  Where fragments disagree the last one wins, as in
# merge_config.sh.
declare -A want=()
order=()
for f in "${frags[@]}"; do
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) opt=${line%%=*} ;;
		"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *} ;;
		*) continue ;;
		esac
		[[ -n ${want[$opt]+set} ]] || order+=("$opt")
		want[$opt]=$line
	done <"$f"
done
missing=()
for opt in "${order[@]}"; do
	line=${want[$opt]}
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" "$out/.config" || missing+=("$line")
		;;
	*)
		grep -q "^$opt=" "$out/.config" && missing+=("$line")
		;;
	esac
done
if ((${#missing[@]})); then
	smm_die "options in ${frags[*]##*/} not in the final .config: ${missing[*]}"
fi

# --- build ---------------------------------------------------------------------------
# `all` = vmlinux + bzImage + modules: the Module.symvers and scripts that
# external module builds need come with it (a superset of modules_prepare).
mk -j"$SMM_JOBS" all
[[ -f $out/arch/x86/boot/bzImage && -f $out/Module.symvers ]] || smm_die "build finished without bzImage/Module.symvers"
touch "$out/.smm-built"
smm_log "built in $((SECONDS - start)) s"

# Keep one build per flavour: each is several hundred MB.
for d in "$SMM_CACHE/$flavour-kernel"/*/; do
	d=${d%/}
	[[ $d == "$out" ]] || rm -rf "$d"
done

print_result
