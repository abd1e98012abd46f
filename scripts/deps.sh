#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages listed in scripts/deps.txt that are missing,
# then fetches the ppc64le guest's sysroot (scripts/ppc64el-sysroot.sh) and
# Debian's 6.12 kernels from bookworm-backports (scripts/k612-sysroot.sh):
# non-interactive, idempotent, and silent (one dpkg-query, two stamps) when
# all is there, so every `make test` can start with it.
set -euo pipefail
list="$(dirname "$0")/deps.txt"
mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
install_missing() {
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "deps: installing ${missing[*]}" >&2
	local sudo='' log
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log=$(mktemp /tmp/shadowmm-deps.XXXXXX)
	export DEBIAN_FRONTEND=noninteractive
	if ! { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends \
		"${missing[@]}"; } >"$log" 2>&1; then
		tail -20 "$log" >&2
		echo "deps: apt-get failed (full log: $log)" >&2
		exit 1
	fi
	echo "deps: done" >&2
}
install_missing
"$(dirname "$0")/ppc64el-sysroot.sh"
exec "$(dirname "$0")/k612-sysroot.sh"
