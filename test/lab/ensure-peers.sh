#!/usr/bin/env bash
# Makes sure the real test peers are installed: OpenSSH server, netconfd (yuma123), yanglint (validates MACsec payloads against the vendored models), net-snmp's snmpd and
# tools, strongSwan (charon with kernel-libipsec), iproute2, tcpdump and ping for the mesh lab, and Chromium
# (headless) to check the HTML report. As root it installs what is missing with apt; otherwise it fails and names the command to run.
set -euo pipefail
# The kernel-datapath lab (test/kernel): QEMU, Debian's backports kernel and netdevsim, prepared and cached by its own
# script, which installs what it needs as root or fails naming the command.
kernel_lab() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "the kernel-lab tests need root: run  sudo bash src/lab/kernel/prepare.sh  (or npm test as root)" >&2
    exit 1
  fi
  bash "$(dirname "$0")/../../src/lab/kernel/prepare.sh" >/dev/null
}
need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v /usr/sbin/netconfd >/dev/null 2>&1 || need+=(netconfd)
[ -x /usr/sbin/netconf-subsystem ] || need+=(netconfd)
command -v yanglint >/dev/null 2>&1 || need+=(libyang-tools)
command -v /usr/sbin/snmpd >/dev/null 2>&1 || need+=(snmpd)
command -v snmpget >/dev/null 2>&1 || need+=(snmp)
command -v useradd >/dev/null 2>&1 || need+=(passwd)
[ -x /usr/lib/ipsec/charon ] || need+=(strongswan-charon)
command -v swanctl >/dev/null 2>&1 || need+=(strongswan-swanctl)
[ -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] || need+=(libcharon-extra-plugins)
[ -f /usr/lib/ipsec/plugins/libstrongswan-gcm.so ] || need+=(libstrongswan-standard-plugins)
[ -f /usr/lib/ipsec/plugins/libstrongswan-curve25519.so ] || need+=(libstrongswan-extra-plugins)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)
command -v pki >/dev/null 2>&1 || need+=(strongswan-pki)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)   # the PDF report test renders pages (pdftoppm) and reads text (pdftotext)
# the state store tests run a throwaway PostgreSQL cluster (initdb, pg_ctl), as nobody through runuser
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
# the serve tests check /metrics with promtool (Debian's prometheus package)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then kernel_lab; exit 0; fi
pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs"
if [ "$(id -u)" -ne 0 ]; then
  echo "linkcrypt tests need real peers that are not installed: $pkgs" >&2
  echo "install them as root with:  $cmd" >&2
  exit 1
fi
echo "installing test peers: $pkgs" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
kernel_lab
