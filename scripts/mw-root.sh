#!/usr/bin/env bash
# MediaWiki LTS versions beside the host's own: the host's Debian package gives one version
# (Debian 12: 1.39, Debian 13: 1.43); the other runs from a Debian root made with debootstrap
# (a folder and chroot), which shares the host's network, so its `php -S` serves on 127.0.0.1
# next to the host's redis-server, gateway and Chromium.
#
#   scripts/mw-root.sh host-version      the host's MediaWiki version (1.39 or 1.43)
#   scripts/mw-root.sh needs-root V      exit 0 when version V runs in a root on this host
#   scripts/mw-root.sh ensure V          build the root for V unless it is cached; print its path
#   scripts/mw-root.sh path V            print where the root for V is (or would be) cached
#   scripts/mw-root.sh exec ROOT CMD...  run CMD inside ROOT with /proc mounted
#
# The roots are cached outside the clone, in ${RTN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/realtimenotify}
# (bookworm-root for 1.39, trixie-root for 1.43, about 800 MB each, a few minutes to build), so
# the next run does not rebuild them. A root is built in a temporary folder and renamed into
# place only when complete: an interrupted build leaves no half root (its leftovers are removed
# by the next `ensure`). A recipe change (other packages) rebuilds the root.
# Settings: RTN_MW_CHROOT=1 runs even the host's own version in a root (to test the other
# direction on one machine); RTN_DEBIAN_MIRROR overrides the mirror (default: the one apt uses).
#
# `exec` mounts /proc in a private mount namespace (unshare): the mount exists only for that
# process and its children and disappears with them, however they end (no stale mount, and no
# mount a `rm -rf` of the host's temp folders could cross). Another extension a test needs (e.g.
# Echo, 1.43 only) can be extracted into ROOT/usr/share/mediawiki/extensions/ (found by
# wfLoadExtension, its assets served by the wiki's php -S), keeping the cached root otherwise as
# debootstrap made it.
set -euo pipefail

# Bump when the packages or the setup below change: cached roots are then rebuilt.
RECIPE=1
CACHE=${RTN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/realtimenotify}

die() { echo "mw-root.sh: $*" >&2; exit 1; }
log() { echo "mw-root.sh: $*" >&2; }

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
	exit 2
}

# The Debian release that packages each MediaWiki LTS, and what the wiki needs from it
# (debootstrap resolves plain dependencies only, hence the versioned sqlite package).
suite_of() {
	case $1 in
		1.39) echo bookworm ;;
		1.43) echo trixie ;;
		*) die "unsupported MediaWiki version: $1 (1.39 or 1.43)" ;;
	esac
}

packages_of() {
	local php
	case $1 in
		bookworm) php=8.2 ;;
		trixie) php=8.4 ;;
	esac
	echo "mediawiki,php$php-sqlite3,php-redis,php-cli,php-intl,php-mbstring,php-xml"
}

# "1:1.39.17-1+deb12u2" -> "1.39"
major_minor() { sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/' <<<"$1"; }

host_version() {
	local v
	v=$(dpkg-query -W -f='${Version}' mediawiki 2>/dev/null || true)
	if [[ -n $v ]]; then
		major_minor "$v"
		return
	fi
	# Not installed (yet): what this Debian release would install.
	local id
	id=$(. /etc/os-release && echo "${VERSION_ID:-}")
	case $id in
		12) echo 1.39 ;;
		13) echo 1.43 ;;
		*) die "cannot tell this host's MediaWiki version (no mediawiki package, Debian ${id:-?})" ;;
	esac
}

needs_root() {
	local v=$1
	suite_of "$v" >/dev/null
	[[ ${RTN_MW_CHROOT:-} == 1 ]] && return 0
	[[ $v != "$(host_version)" ]]
}

root_path() { echo "$CACHE/$(suite_of "$1")-root"; }

mirror() {
	if [[ -n ${RTN_DEBIAN_MIRROR:-} ]]; then
		echo "$RTN_DEBIAN_MIRROR"
		return
	fi
	local m=""
	if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
		m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [[ -z $m && -f /etc/apt/sources.list ]]; then
		m=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
			/etc/apt/sources.list)
	fi
	echo "${m:-http://deb.debian.org/debian}"
}

# Mount points at or below $1, deepest first.
mounts_below() {
	local dir
	dir=$(realpath -m "$1")
	awk -v d="$dir" '{ gsub(/\\040/, " ", $2); if ($2 == d || index($2, d "/") == 1) print $2 }' /proc/mounts | sort -r
}

# Removes a folder that a root build or an older root left, after unmounting whatever is still
# mounted in it (debootstrap mounts /proc and /sys while it works); never crosses a mount.
remove_tree() {
	local dir=$1 m
	[[ -e $dir ]] || return 0
	while read -r m; do
		[[ -n $m ]] && { umount "$m" 2>/dev/null || umount -l "$m" || true; }
	done < <(mounts_below "$dir")
	[[ -z $(mounts_below "$dir") ]] || die "still mounted below $dir; not removing it"
	rm -rf --one-file-system -- "$dir"
}

stamp_of() { echo "recipe=$RECIPE suite=$1 packages=$(packages_of "$1")"; }

ensure() {
	local v=$1 suite root stamp
	suite=$(suite_of "$v")
	root=$(root_path "$v")
	stamp=$(stamp_of "$suite")
	if [[ -f $root/.rtn-root && $(<"$root/.rtn-root") == "$stamp" ]]; then
		echo "$root"
		return
	fi
	[[ $(id -u) -eq 0 ]] || die "building the MediaWiki $v root needs root (debootstrap, chroot)"
	command -v debootstrap >/dev/null || die "debootstrap is missing (run scripts/install-deps.sh)"
	mkdir -p "$CACHE"
	# One build at a time (several test runs may start together); the others wait and reuse it.
	exec 9>"$CACHE/.$suite-root.lock"
	flock 9
	if [[ -f $root/.rtn-root && $(<"$root/.rtn-root") == "$stamp" ]]; then
		echo "$root"
		return
	fi
	local old
	for old in "$CACHE/.$suite-root.build."* "$CACHE/.$suite-root.old."*; do
		[[ -e $old ]] || continue
		log "removing the leftover $old"
		remove_tree "$old"
	done

	local tmp mirror_url start=$SECONDS
	tmp=$(mktemp -d "$CACHE/.$suite-root.build.XXXXXX")
	chmod 755 "$tmp" # it becomes the root's /
	mirror_url=$(mirror)
	log "building a Debian $suite root with MediaWiki $v in $root (from $mirror_url; a few minutes, once)"
	if ! debootstrap --variant=minbase --include="$(packages_of "$suite")" \
		"$suite" "$tmp" "$mirror_url" >"$tmp.log" 2>&1; then
		tail -n 30 "$tmp.log" >&2
		remove_tree "$tmp"
		die "debootstrap of $suite failed (log: $tmp.log)"
	fi
	# Leftover mounts of debootstrap, if any; the downloaded packages (not needed any more).
	while read -r m; do [[ -n $m ]] && umount "$m"; done < <(mounts_below "$tmp")
	rm -f "$tmp"/var/cache/apt/archives/*.deb
	[[ -f $tmp/usr/share/mediawiki/maintenance/install.php ]] || die "no MediaWiki in the new $suite root"
	echo "$stamp" >"$tmp/.rtn-root"

	if [[ -e $root ]]; then
		local aside
		aside=$(mktemp -u "$CACHE/.$suite-root.old.XXXXXX")
		mv -T "$root" "$aside"
		remove_tree "$aside"
	fi
	mv -T "$tmp" "$root"
	rm -f "$tmp.log"
	log "MediaWiki $v root ready in $((SECONDS - start)) s: $root"
	echo "$root"
}

# Runs a command inside ROOT, with /proc mounted for it alone.
exec_in() {
	local root=$1
	shift
	[[ $# -gt 0 ]] || usage
	[[ -f $root/.rtn-root ]] || die "$root is not a root made by mw-root.sh ensure"
	# shellcheck disable=SC2016 # expanded by the inner shell
	exec unshare --mount --propagation private -- /bin/sh -c \
		'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$root" "$@"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
	host-version) host_version ;;
	needs-root) [[ $# -eq 1 ]] || usage; needs_root "$1" ;;
	path) [[ $# -eq 1 ]] || usage; root_path "$1" ;;
	ensure) [[ $# -eq 1 ]] || usage; ensure "$1" ;;
	exec) [[ $# -ge 2 ]] || usage; exec_in "$@" ;;
	*) usage ;;
esac
