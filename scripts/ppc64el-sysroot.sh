#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The ppc64le guest's files, fetched from Debian's ppc64el archive into
# $SHADOWMM_CACHE/ppc64el/root (a sysroot) without making ppc64el a dpkg
# architecture of the host: apt runs with its own package lists, status file
# and archive cache under $SHADOWMM_CACHE/ppc64el/apt and the host's sources,
# `apt-get download` fetches the .debs, `dpkg -x` unpacks them.  Installing
# the ppc64el headers through multiarch would drag in gcc-12:ppc64el.
#
# What it fetches:
#   the kernel (linux-image-<abi>-powerpc64le: /boot/vmlinux-*, modules) and
#   its headers, at the version of the host's linux-kbuild-6.1, because the
#   host's amd64 kbuild (fixdep, modpost) and linux-headers-<abi>-common
#   build the module: the sysroot's usr/lib/linux-kbuild-6.1 links to the
#   host's;
#   busybox-static, the guest's userland;
#   the -dev packages the userspace programs link statically (GoogleTest,
#   gflags, liburing, libnuma, liburcu), and gflags' shared library, which
#   its CMake package checks for even when the static one is used.
#
# `make deps` (scripts/deps.sh) runs it after the host packages.  Silent
# when the sysroot already holds what the host's kbuild version asks for.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dir=$SMM_CACHE/ppc64el
root=$(smm_ppc64el_root)

# The ABI (6.1.0-57) of the host's common headers and the Debian version
# (6.1.192-3) of its kbuild: the ppc64el kernel must be that very build.
common=$(find /usr/src -maxdepth 1 -name 'linux-headers-*-common' -printf '%f\n' | sort -V | tail -n1)
[[ -n $common ]] || smm_die "no /usr/src/linux-headers-*-common (apt-get install linux-headers-amd64)"
abi=${common#linux-headers-}
abi=${abi%-common}
kbuild_ver=$(dpkg-query -W -f='${Version}' linux-kbuild-6.1 2>/dev/null) ||
	smm_die "linux-kbuild-6.1 is not installed (apt-get install linux-headers-amd64)"
common_ver=$(dpkg-query -W -f='${Version}' "$common" 2>/dev/null || true)
[[ $common_ver == "$kbuild_ver" ]] ||
	smm_die "$common ($common_ver) and linux-kbuild-6.1 ($kbuild_ver) differ (apt-get install linux-headers-amd64)"

pkgs=(
	"linux-image-$abi-powerpc64le=$kbuild_ver"
	"linux-headers-$abi-powerpc64le=$kbuild_ver"
	busybox-static
	libgtest-dev libgmock-dev
	libgflags-dev libgflags2.2
	liburing-dev
	libnuma-dev
	liburcu-dev
)
want=$(printf '%s\n' "${pkgs[@]}")
[[ -f $dir/stamp && $(cat "$dir/stamp") == "$want" && -d $root ]] && exit 0

smm_cache_init
echo "ppc64el-sysroot: fetching ${pkgs[*]}" >&2
mkdir -p "$dir/apt/lists/partial" "$dir/apt/archives/partial" "$dir/debs"
[[ -f $dir/apt/status ]] || : >"$dir/apt/status"
apt_opts=(
	-o APT::Architecture=ppc64el
	-o APT::Architectures::=ppc64el
	-o Dir::State::Lists="$dir/apt/lists"
	-o Dir::State::status="$dir/apt/status"
	-o Dir::Cache="$dir/apt"
	-o Dir::Cache::archives="$dir/apt/archives"
	-o Debug::NoLocking=1
	# The .debs land in debs/, a directory apt's sandbox user may not
	# write: download as the caller, quietly.
	-o APT::Sandbox::User=root
	-q
)
log=$dir/fetch.log
if ! {
	apt-get "${apt_opts[@]}" update &&
		rm -f "$dir"/debs/*.deb &&
		(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}")
} >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	smm_die "apt-get for ppc64el failed (log: $log); a version the archive no longer has? apt-get install linux-headers-amd64 linux-kbuild-6.1 updates the host's"
fi

rm -rf "$root.new"
mkdir -p "$root.new"
for deb in "$dir"/debs/*.deb; do
	dpkg -x "$deb" "$root.new"
done
rm -f "$dir"/debs/*.deb
# The headers' scripts/ and tools/ point at ../../lib/linux-kbuild-6.1:
# the host's, whose programs run here; their Makefile includes the host's
# /usr/src/linux-headers-<abi>-common directly.
ln -sfn /usr/lib/linux-kbuild-6.1 "$root.new/usr/lib/linux-kbuild-6.1"
rm -rf "$root"
mv "$root.new" "$root"
echo "$want" >"$dir/stamp"
echo "ppc64el-sysroot: $root ($(du -sh "$root" | cut -f1))" >&2
