#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian's 6.12 kernels (stock and PREEMPT_RT) and what builds a module for
# them, fetched from bookworm-backports into $SHADOWMM_CACHE/k612/root
# without touching the host's apt sources: apt runs with its own sources
# list (that one suite), package lists, status file and archive cache under
# $SHADOWMM_CACHE/k612/apt, `apt-get download` fetches the .debs, `dpkg -x`
# unpacks them.  Nothing is installed on the host.
#
# What it fetches, all of the one ABI the suite's linux-headers-amd64
# points at (e.g. 6.12.95+deb12):
#   linux-image-<abi>-amd64 and -rt-amd64: only their /boot (vmlinuz,
#     config, System.map) is unpacked; the guest loads no module of theirs;
#   linux-headers-<abi>-amd64 and -rt-amd64, with -common and -common-rt;
#   linux-kbuild-<abi>, the host programs (fixdep, modpost) they run.
# The headers' Makefiles include their -common tree by its absolute
# /usr/src path; here that line is pointed at the cache instead.  Their
# vmlinux makes kbuild add BTF to the module with the host's pahole
# (dwarves, scripts/deps.txt), the version the kernel was built with.
#
# `make deps` (scripts/deps.sh) runs it.  Once the cache holds a complete
# set it is silent and asks the network nothing, whatever the archive has
# moved on to; --update fetches the suite's newest ABI and replaces it.
#
# --source fetches linux-source-6.12 instead (for scripts/pvl-kernel.sh;
# not part of make deps): its tarball alone, into
# $SHADOWMM_CACHE/k612/src/, printed as SOURCE=<path>.  The suite keeps only
# its newest linux-source-6.12; once one is here it is reused.
set -euo pipefail
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
	cat <<EOF
usage: ${0##*/} [--update] [--source]

  --update   fetch the newest 6.12 of bookworm-backports even if the cache
             already holds one
  --source   the linux-source-6.12 tarball instead of the kernels; prints
             SOURCE=<path>

environment: SHADOWMM_CACHE, SHADOWMM_DEBIAN_MIRROR (default
  http://deb.debian.org/debian)
EOF
}

update=0
source=0
while (($#)); do
	case $1 in
	--update) update=1 ;;
	--source) source=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

dir=$SMM_CACHE/k612
root=$(smm_k612_root)
# Both kernels and their headers are there (smm_k612_kver dies otherwise),
# and the -common trees the headers include are where they say (a cache
# that was moved is fetched again).
complete() {
	local mk inc
	[[ -s $dir/stamp && -d $root ]] || return 1
	(smm_k612_kver amd64 && smm_k612_kver rt-amd64) >/dev/null 2>&1 || return 1
	for mk in "$root"/usr/src/linux-headers-6.12.*-amd64/Makefile; do
		inc=$(sed -n 's/^include //p' "$mk")
		[[ -f $inc ]] || return 1
	done
}
src_tarball() {
	{ find "$dir/src" -maxdepth 1 -name 'linux-source-6.12*.tar.xz' 2>/dev/null || true; } | sort -V | tail -n1
}
if ((source)); then
	t=$(src_tarball)
	if ((!update)) && [[ -n $t && -f $dir/src/stamp ]]; then
		echo "SOURCE=$t"
		exit 0
	fi
elif ((!update)) && complete; then
	exit 0
fi

smm_cache_init
mirror=${SHADOWMM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -r $keyring ]] || smm_die "no $keyring (apt-get install debian-archive-keyring)"
mkdir -p "$dir/apt/lists/partial" "$dir/apt/archives/partial" "$dir/debs"
[[ -f $dir/apt/status ]] || : >"$dir/apt/status"
echo "deb [signed-by=$keyring] $mirror bookworm-backports main" >"$dir/apt/sources.list"
apt_opts=(
	-o Dir::Etc::sourcelist="$dir/apt/sources.list"
	-o Dir::Etc::sourceparts=/dev/null
	-o Dir::Etc::preferencesparts=/dev/null
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
apt-get "${apt_opts[@]}" update >"$log" 2>&1 || {
	tail -n 20 "$log" >&2
	smm_die "apt-get update of bookworm-backports failed (log: $log)"
}

# The ABI and Debian version from the suite's metapackage:
# "Depends: linux-headers-6.12.95+deb12-amd64 (= 6.12.95-1~bpo12+1)".
dep=$(apt-cache "${apt_opts[@]}" show linux-headers-amd64 2>>"$log" |
	sed -n 's/^Depends: linux-headers-\([^ ]*\)-amd64 (= \([^)]*\)).*/\1 \2/p' | head -n1)
read -r abi ver <<<"$dep"
[[ -n ${abi:-} && -n ${ver:-} ]] ||
	smm_die "bookworm-backports: cannot read linux-headers-amd64's dependency (log: $log)"
[[ $abi == 6.12.* ]] ||
	smm_die "bookworm-backports now has $abi, not 6.12: the k612 kernels need a look"

if ((source)); then
	smm_log "fetching linux-source-6.12=$ver"
	rm -f "$dir"/debs/*.deb
	(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "linux-source-6.12=$ver") >>"$log" 2>&1 || {
		tail -n 20 "$log" >&2
		smm_die "apt-get download linux-source-6.12 failed (log: $log)"
	}
	rm -rf "$dir/src.new"
	mkdir -p "$dir/src.new"
	# The package is the tarball plus Debian's docs: only the tarball.
	dpkg-deb --fsys-tarfile "$dir"/debs/linux-source-6.12_*.deb |
		tar -x -C "$dir/src.new" --wildcards --strip-components=3 './usr/src/linux-source-6.12*.tar.xz'
	rm -f "$dir"/debs/*.deb
	echo "linux-source-6.12=$ver" >"$dir/src.new/stamp"
	rm -rf "$dir/src"
	mv "$dir/src.new" "$dir/src"
	t=$(src_tarball)
	[[ -n $t ]] || smm_die "no linux-source-6.12*.tar.xz in linux-source-6.12=$ver"
	smm_log "$t ($(du -h "$t" | cut -f1))"
	echo "SOURCE=$t"
	exit 0
fi

pkgs=(
	"linux-image-$abi-amd64=$ver"
	"linux-image-$abi-rt-amd64=$ver"
	"linux-headers-$abi-amd64=$ver"
	"linux-headers-$abi-rt-amd64=$ver"
	"linux-headers-$abi-common=$ver"
	"linux-headers-$abi-common-rt=$ver"
	"linux-kbuild-$abi=$ver"
)
want=$(printf '%s\n' "${pkgs[@]}")
if complete && [[ $(cat "$dir/stamp") == "$want" ]]; then
	smm_log "$abi is the newest and already here"
	exit 0
fi

smm_log "fetching ${pkgs[*]}"
rm -f "$dir"/debs/*.deb
(cd "$dir/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}") >>"$log" 2>&1 || {
	tail -n 20 "$log" >&2
	smm_die "apt-get download from bookworm-backports failed (log: $log)"
}

rm -rf "$root.new"
mkdir -p "$root.new"
for deb in "$dir"/debs/*.deb; do
	case ${deb##*/} in
	# 100 MB of modules each, which the guest does not load.
	linux-image-*) dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$root.new" ./boot ;;
	*) dpkg -x "$deb" "$root.new" ;;
	esac
done
rm -f "$dir"/debs/*.deb
for flavour in amd64 rt-amd64; do
	mk=$root.new/usr/src/linux-headers-$abi-$flavour/Makefile
	grep -q '^include /usr/src/linux-headers-' "$mk" ||
		smm_die "$mk no longer includes its -common tree by /usr/src path"
	sed -i "s|^include /usr/src/|include $root/usr/src/|" "$mk"
done
rm -rf "$root"
mv "$root.new" "$root"
echo "$want" >"$dir/stamp"
smm_log "$root: $abi ($(du -sh "$root" | cut -f1))"
