#!/bin/sh
# PID 1 of a kernel-lab VM (after the initramfs switched into the host root overlay). Reads /lab/guest.env, names
# the NICs by MAC, puts the mesh address on the right port, starts sshd (management NIC only), charon (kernel-netlink,
# restarted when it dies, like systemd's Restart=) and last the guest agent, which tells the host the VM is ready.
. /lab/guest.env
hostname "$NAME"
mount -t debugfs none /sys/kernel/debug 2>/dev/null
ip link set lo up
modprobe -a esp4 esp6 xfrm_user xfrm_algo xfrm4_tunnel authenc gcm ccm chacha20poly1305 seqiv echainiv macsec 2>/dev/null
# The ciphers the kernel would otherwise load (and self-test) on demand once xfrm probes its algorithm list, loaded
# here at boot: a guest that dies under TCG while loading them does so before the lab calls it ready, and the lab
# boots it again (src/lab/kernel/vm-lab.ts), instead of dying in the middle of a test.
for mod in ghash-clmulni-intel twofish serpent blowfish cast5 des3_ede camellia xcbc md4 af_alg algif_skcipher algif_hash; do
  modprobe "$mod" 2>/dev/null
done

byname() { for d in /sys/class/net/*; do [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && basename "$d"; done; }
m=$(byname "$MESH_MAC"); [ -n "$m" ] && ip link set "$m" name mesh0
g=$(byname "$MGMT_MAC"); [ -n "$g" ] && ip link set "$g" name mgmt0
ip link set mesh0 mtu "${MESH_MTU:-1500}" up
ip addr add 10.0.2.15/24 dev mgmt0 && ip link set mgmt0 up

if [ "$NSIM" = 1 ]; then
  # A netdevsim port as the mesh NIC: the mesh address lives on it, so strongSwan finds it as the SA's device and
  # programs ESP offload there; packets to the mesh leave through mesh0, where the kernel encrypts in software.
  modprobe netdevsim
  echo "$NSIM_ID 1" > /sys/bus/netdevsim/new_device
  for i in $(seq 1 50); do
    n=$(ls /sys/bus/netdevsim/devices/netdevsim$NSIM_ID/net/ 2>/dev/null | head -n 1)
    [ -n "$n" ] && break; sleep 0.1
  done
  ip link set "$n" name nsim0 && ip link set nsim0 up
  ip addr add "$MESH_ADDR/32" dev nsim0
  ip route add "$MESH_NET" dev mesh0 src "$MESH_ADDR"
else
  ip addr add "$MESH_ADDR/$MESH_PREFIX" dev mesh0
fi
[ -n "$EXTRA_ADDR" ] && ip addr add "$EXTRA_ADDR" dev mesh0

# swanctl's directory is on the VM's share, so a reboot comes back from the rendered files, as a real host would.
mount --bind /lab/swanctl /etc/swanctl
cp /lab/strongswan.conf /etc/strongswan.conf
mkdir -p /run/sshd /var/run
# The host's /root dotfiles (shell start-up hooks) are not the VM's: an empty home keeps every SSH exec fast.
mount -t tmpfs -o mode=0700 tmpfs /root
/usr/sbin/sshd -f /lab/sshd_config -E /lab/sshd.log
# What systemd's strongswan.service does: start charon, then `swanctl --load-all` from the rendered files, and start
# it again when it dies. /run/linkcrypt-charon-ready marks "loaded", so nobody delivers while load-all could still
# replace what they load.
(
  while :; do
    rm -f /run/linkcrypt-charon-ready /var/run/charon.vici
    /usr/lib/ipsec/charon >/dev/null 2>&1 &
    pid=$!
    for i in $(seq 300); do [ -S /var/run/charon.vici ] && break; sleep 0.1; done
    /usr/sbin/swanctl --load-all --noprompt >/lab/load-all.log 2>&1
    touch /run/linkcrypt-charon-ready
    wait $pid
    echo "$(cut -d' ' -f1 /proc/uptime) charon exited $?" >> /lab/charon-restarts.log
    sleep 1
  done
) >/dev/null 2>&1 &

port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/$(basename "$p")
done
/usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run >/dev/null 2>&1 &
echo "klab: $NAME ready at $(cut -d' ' -f1 /proc/uptime)" > /dev/console
while :; do sleep 3600; done
