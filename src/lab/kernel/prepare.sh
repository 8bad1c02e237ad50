#!/usr/bin/env bash
# Prepares what the kernel-datapath lab boots: Debian's bookworm-backports kernel (unpacked into a cache, never
# installed), netdevsim built out of tree for it, and the host packages QEMU needs. Idempotent and cached:
# a warm cache costs one `apt-get update` of a private list (or nothing when offline and cached).
#
#   LINKCRYPT_KLAB_CACHE   cache directory (default /var/cache/linkcrypt-kernel-lab)
#
# Prints one line at the end:  KVER=<version> KROOT=<dir>   (KROOT/boot/vmlinuz-KVER, KROOT/lib/modules/KVER)
# The system's apt sources are not changed: backports is read through a private apt state directory.
set -euo pipefail
cache=${LINKCRYPT_KLAB_CACHE:-/var/cache/linkcrypt-kernel-lab}
fail() { echo "linkcrypt kernel lab: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "preparing the kernel lab needs root (apt, a cache under /var/cache); run: sudo bash $0"

# Host packages: QEMU (TCG), a static busybox for the initramfs, the guest agent, MKA, and the netdevsim build.
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || need+=(busybox-static)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
[ -x /usr/sbin/qemu-ga ] || need+=(qemu-guest-agent)
command -v cpio >/dev/null || need+=(cpio)
command -v wpa_supplicant >/dev/null || need+=(wpasupplicant)
command -v ethtool >/dev/null || need+=(ethtool)
command -v xz >/dev/null || need+=(xz-utils)
command -v depmod >/dev/null || need+=(kmod)
command -v make >/dev/null || need+=(make)
command -v x86_64-linux-gnu-gcc-12 >/dev/null || need+=(gcc-12)
command -v file >/dev/null || need+=(file)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -f /usr/lib/ipsec/plugins/libstrongswan-kernel-netlink.so ] || need+=(libstrongswan)
if [ ${#need[@]} -gt 0 ]; then
  pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
  echo "installing kernel-lab packages: $pkgs" >&2
  apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null \
    || fail "could not install: $pkgs (run: apt-get install -y --no-install-recommends $pkgs)"
fi

mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8

apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
printf 'deb %s bookworm-backports main\n' "$mirror" >"$apt_dir/sources.list"
aptopts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o Dir::Cache::pkgcache=
  -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)

image=
if apt-get -qq "${aptopts[@]}" update 2>/dev/null; then
  image=$(apt-cache "${aptopts[@]}" depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-6/ {print $2; exit}')
fi
if [ -z "$image" ]; then
  newest=$(ls -d "$cache"/kernel-*/.complete 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$newest" ] || fail "bookworm-backports is unreachable and no kernel is cached in $cache"
  newest=${newest%/.complete}
  image=linux-image-${newest##*/kernel-}
  echo "backports unreachable; using the cached $image" >&2
fi
kver=${image#linux-image-}
kroot=$cache/kernel-$kver
if [ ! -f "$kroot/.complete" ]; then
  echo "fetching $image from bookworm-backports" >&2
  (cd "$apt_dir/debs" && apt-get -qq "${aptopts[@]}" download "$image") || fail "apt-get download $image failed"
  rm -rf "$kroot" && mkdir -p "$kroot"
  dpkg-deb -x "$apt_dir/debs/${image}_"*.deb "$kroot"
  rm -f "$apt_dir/debs/${image}_"*.deb
  touch "$kroot/.complete"
fi

nsim=$kroot/lib/modules/$kver/extra/netdevsim.ko
if [ ! -f "$nsim" ]; then
  # Debian does not build netdevsim (CONFIG_NETDEVSIM unset): build it from linux-source against the headers.
  flavourless=${kver%-amd64}
  series=$(echo "$kver" | cut -d. -f1-2)
  echo "building netdevsim for $kver" >&2
  (cd "$apt_dir/debs" && apt-get -qq "${aptopts[@]}" download "linux-headers-$kver" "linux-headers-$flavourless-common" \
    "linux-kbuild-$flavourless" "linux-source-$series") || fail "downloading headers/source for netdevsim failed"
  build=$cache/build-$kver
  rm -rf "$build" && mkdir -p "$build/tree"
  for p in "linux-headers-$kver" "linux-headers-$flavourless-common" "linux-kbuild-$flavourless"; do
    dpkg-deb -x "$apt_dir/debs/${p}_"*.deb "$build/tree"
  done
  hdr=$build/tree/usr/src/linux-headers-$kver
  # The headers' Makefile includes the common tree by its absolute /usr/src path; point it at our unpacked copy.
  sed -i "s|^include /usr/src/|include $build/tree/usr/src/|" "$hdr/Makefile"
  dpkg-deb --fsys-tarfile "$apt_dir/debs/linux-source-${series}_"*.deb \
    | tar -xO "./usr/src/linux-source-$series.tar.xz" | tar -xJ -C "$build" "linux-source-$series/drivers/net/netdevsim"
  src=$build/linux-source-$series/drivers/net/netdevsim
  nice make -s -C "$hdr" M="$src" CONFIG_NETDEVSIM=m CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$build/make.log" 2>&1 \
    || fail "netdevsim build failed; see $build/make.log"
  mkdir -p "$(dirname "$nsim")"
  strip --strip-debug -o "$nsim" "$src/netdevsim.ko"
  depmod -b "$kroot" "$kver"
  rm -rf "$build" "$apt_dir/debs/"linux-*.deb
fi
echo "KVER=$kver KROOT=$kroot"
