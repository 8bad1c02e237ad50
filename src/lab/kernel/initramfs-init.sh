#!/bin/busybox sh
# initramfs /init of a kernel-lab VM: load the few modules needed to reach the host root over 9p, stack a RAM
# overlay on it, bind the guest kernel's modules from the lab cache, mount the VM's own share at /lab, switch root.
/bin/busybox --install -s /bin
mount -t proc none /proc
mount -t sysfs none /sys
mount -t devtmpfs none /dev
for k in $(cat /modules.list); do insmod "/mods/$k" 2>/dev/null || echo "klab: insmod $k failed"; done
moddir=
for a in $(cat /proc/cmdline); do
  case "$a" in klab.moddir=*) moddir=${a#klab.moddir=} ;; esac
done
mkdir -p /host /ram /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host || { echo "klab: no host root"; exec sh; }
mount -t tmpfs -o size=128m tmpfs /ram
mkdir -p /ram/upper /ram/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ram/upper,workdir=/ram/work /newroot || { echo "klab: no overlay"; exec sh; }
[ -n "$moddir" ] && mkdir -p /newroot/lib/modules && mount --bind "/host$moddir" /newroot/lib/modules
mount -t tmpfs tmpfs /newroot/run
mount -t tmpfs tmpfs /newroot/tmp
mkdir -p /newroot/lab
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none lab /newroot/lab
# Unmount the initramfs' own pseudo filesystems before mounting the new root's, so the right ones go.
umount /dev
umount /sys
umount /proc
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
exec switch_root /newroot /bin/sh /lab/guest-init.sh
