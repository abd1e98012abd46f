#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Pack a busybox initramfs (cpio newc, gzip) that boots straight into a test:
# busybox and its applet links, scripts/guest/init as /init, the guest helpers
# (scripts/guest/smm-*), the given kernel modules in /modules, the given
# programs in /usr/local/bin together with every shared library they load
# (found with ldd, dynamic loader included), and the command to run.
# qemu-run.sh calls this; it is usable alone to inspect what a guest gets.
#
# The guest needs no disk, no network and no distribution: glibc programs run
# from the libraries copied here, at the same paths as on the build host.  A
# guest of another architecture (ppc64le) gets its own busybox (--busybox)
# and statically linked programs: ldd cannot follow its libraries.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
usage: ${0##*/} -o OUT.cpio.gz [options] -- COMMAND...

  -o FILE            output archive (gzip-compressed cpio newc)
  --module F.ko      kernel module to pack into /modules (repeatable; .ko.xz,
                     .ko.zst and .ko.gz are decompressed first; load order is
                     the order given)
  --bin FILE         program or script to pack into /usr/local/bin, with its
                     shared-library closure (repeatable)
  --file SRC[:DEST]  extra file or directory, at DEST in the guest
                     (default /data/<name>) (repeatable)
  --modcycle         /init runs smm-modcycle (insmod/rmmod twice, checking
                     /sys/kernel/debug/<module>) on every module first
  --no-load          do not insmod the modules before the command
  --no-unload        do not rmmod the modules after the command
  --env NAME=VALUE   export in the guest before the command (repeatable)
  --busybox FILE     the guest's busybox (default: the host's); one of
                     another architecture takes its applet list from the
                     host's, which must be the same Debian version

COMMAND is run by the guest's busybox sh in /tmp.  One argument is taken as
shell code ('selftest && stress -t 5'); several are quoted as one command line.
EOF
}

out=
modules=()
bins=()
files=()
envs=()
busybox=
modcycle=0
load=1
unload=1
while (($#)); do
	case $1 in
	-o) out=$2; shift ;;
	--module) modules+=("$2"); shift ;;
	--bin) bins+=("$2"); shift ;;
	--file) files+=("$2"); shift ;;
	--env) envs+=("$2"); shift ;;
	--busybox) busybox=$2; shift ;;
	--modcycle) modcycle=1 ;;
	--no-load) load=0 ;;
	--no-unload) unload=0 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[[ -n $out ]] || { usage >&2; exit 2; }
(($#)) || smm_die "no command given (use -- COMMAND...)"

# Single-quote a word for sh: the guest shell is busybox ash, which does not
# understand every form bash's printf %q emits.
shquote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/smm-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/shadowmm,modules,proc,sys,dev,tmp,root,data}

# --- shared libraries ----------------------------------------------------------
declare -A libdirs=()
# Copy FILE's shared-library closure (ldd already resolves it transitively)
# into the stage at the host paths.  Symlinks are followed: the guest needs
# the bytes under the name the loader asks for, e.g. /lib64/ld-linux-x86-64.so.2.
copy_libs() {
	local file=$1 line lib
	# Static binaries and scripts: ldd says "not a dynamic executable"
	# (and exits 1); nothing to copy.  So does it for a program of another
	# architecture, whose libraries this cannot find.
	if ! ldd "$file" >/dev/null 2>&1; then
		if LC_ALL=C readelf -l "$file" 2>/dev/null | grep -q 'program interpreter'; then
			smm_die "$file: dynamically linked for another architecture (link it statically)"
		fi
		return 0
	fi
	while IFS= read -r line; do
		case $line in
		*"=> not found"*) smm_die "$file: missing library: ${line%% =>*}" ;;
		*"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
		*/*" ("*) lib=${line%% (*}; lib=${lib#"${lib%%[! $'\t']*}"} ;;
		*) continue ;;  # linux-vdso.so.1 and friends live in the kernel
		esac
		[[ -e $stage$lib ]] && continue
		mkdir -p "$stage$(dirname "$lib")"
		cp -L "$lib" "$stage$lib"
		libdirs[$(dirname "$lib")]=1
	done < <(ldd "$file")
}

# --- busybox -------------------------------------------------------------------------
host_busybox=$(command -v busybox) || smm_die "busybox not found (apt-get install busybox-static)"
busybox=${busybox:-$host_busybox}
[[ -f $busybox ]] || smm_die "no such busybox: $busybox"
cp -L "$busybox" "$stage/bin/busybox"
copy_libs "$busybox"
while IFS= read -r applet; do
	[[ -e $stage/$applet || -L $stage/$applet ]] && continue
	mkdir -p "$stage/$(dirname "$applet")"
	ln -s /bin/busybox "$stage/$applet"
done < <("$host_busybox" --list-full)

# --- init and guest helpers ----------------------------------------------------------
install -m 0755 "$SMM_SCRIPTS/guest/init" "$stage/init"
# smm-modcycle, smm-kinfo, smm-vm-test: see the comment at the top of each.
for h in "$SMM_SCRIPTS"/guest/smm-*; do
	install -m 0755 "$h" "$stage/usr/local/bin/$(basename "$h")"
done

# --- modules -----------------------------------------------------------------------------
guest_modules=()
for m in "${modules[@]}"; do
	[[ -f $m ]] || smm_die "no such module: $m"
	base=$(basename "$m")
	case $base in
	*.ko) cp "$m" "$stage/modules/$base" ;;
	*.ko.xz) base=${base%.xz}; xz -dc "$m" >"$stage/modules/$base" ;;
	*.ko.zst) base=${base%.zst}; zstd -qdc "$m" >"$stage/modules/$base" ;;
	*.ko.gz) base=${base%.gz}; gzip -dc "$m" >"$stage/modules/$base" ;;
	*) smm_die "not a kernel module: $m" ;;
	esac
	guest_modules+=("/modules/$base")
done

# --- programs and files ----------------------------------------------------------------
# Debug info is most of a RelWithDebInfo program (22 of harness_tests' 24 MB)
# and nothing in the guest reads it, while the kernel gunzips every byte
# before /init: on the KCSAN kernel under TCG that took two minutes of boot.
# Symbols stay (--strip-debug).
strip_debug() { # FILE
	local s=strip
	[[ $(file -b "$1") == *PowerPC* ]] && s=powerpc64le-linux-gnu-strip
	if command -v "$s" >/dev/null; then
		"$s" --strip-debug "$1" || smm_die "$s --strip-debug $1 failed"
	fi
}
for b in "${bins[@]}"; do
	[[ -f $b ]] || smm_die "no such program: $b"
	install -m 0755 "$b" "$stage/usr/local/bin/$(basename "$b")"
	strip_debug "$stage/usr/local/bin/$(basename "$b")"
	copy_libs "$b"
done
for f in "${files[@]}"; do
	src=${f%%:*}
	dest=/data/$(basename "$src")
	[[ $f == *:* ]] && dest=${f#*:}
	[[ -e $src ]] || smm_die "no such file: $src"
	mkdir -p "$stage$(dirname "$dest")"
	cp -a -L "$src" "$stage$dest"
done

# --- what /init runs ---------------------------------------------------------------------
{
	echo "# generated by mkinitramfs.sh"
	echo "SMM_MODULES=$(shquote "${guest_modules[*]}")"
	echo "SMM_MODCYCLE=$modcycle"
	echo "SMM_LOAD=$load"
	echo "SMM_UNLOAD=$unload"
	# Without /etc/ld.so.cache the loader only searches its built-in
	# directories; libraries from elsewhere (/usr/local/lib, a build tree)
	# need the path spelled out.
	if ((${#libdirs[@]})); then
		dirs=$(printf '%s:' "${!libdirs[@]}")
		echo "export LD_LIBRARY_PATH=$(shquote "${dirs%:}")"
	fi
	for e in "${envs[@]}"; do
		[[ $e == [A-Za-z_]*=* ]] || smm_die "--env wants NAME=VALUE, got: $e"
		echo "export ${e%%=*}=$(shquote "${e#*=}")"
	done
} >"$stage/etc/shadowmm/env"

{
	echo "# generated by mkinitramfs.sh"
	if (($# == 1)); then
		printf '%s\n' "$1"
	else
		for w in "$@"; do printf '%s ' "$(shquote "$w")"; done
		echo
	fi
} >"$stage/etc/shadowmm/cmd"

# --- archive -------------------------------------------------------------------------------
# newc header for one special file (the initial console must exist before
# /init runs, i.e. before devtmpfs is mounted).  Written by hand so that
# building needs neither root (mknod) nor fakeroot.
newc_entry() { # NAME MODE(octal) RDEVMAJOR RDEVMINOR
	local name=$1 mode=$((8#$2)) maj=$3 min=$4 namesize=$((${#1} + 1)) pad
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
		0 "$mode" 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0
	printf '%s\0' "$name"
	pad=$(((4 - (110 + namesize) % 4) % 4))
	((pad)) && head -c "$pad" /dev/zero
	return 0
}

mkdir -p "$(dirname "$out")"
{
	# Sorted and owned by root: the archive does not depend on who built it.
	(cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner=0:0 --quiet)
	# The kernel unpacks concatenated archives in order.
	newc_entry dev/console 020600 5 1
	newc_entry dev/null 020666 1 3
	newc_entry TRAILER!!! 0 0 0
} | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
smm_log "$out: $(du -k "$out" | cut -f1) KiB, ${#modules[@]} module(s), ${#bins[@]} program(s)"
