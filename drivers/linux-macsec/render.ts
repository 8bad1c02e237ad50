import type { MacsecChange } from "../contract.js";
import type { LinuxMacsecOptions } from "./options.js";

/**
 * Pure renderers of the `linux-macsec` driver: wpa_supplicant configuration (one file per CA, i.e. per CAK) and the
 * device-side agent (POSIX sh) that stages, switches, verifies and restores.
 *
 * Why one wpa_supplicant per CA: wpa_supplicant 2.10 runs one MKA participant per process (the network block's
 * mka_ckn/mka_cak). Make-before-break with two CAKs is therefore two processes on the same port, each with its own
 * SCI port number (`macsec_port`) and so its own SecY (macsecN). Both SecYs are slaves of one active-backup bond
 * (`lcs-<port>`, all_slaves_active 1): the bond is what the switch forwards into; its active slave is the primary
 * CA's SecY; frames received on the other SecY are still delivered. Switching CAK is switching the active slave once
 * the new CA is secured, then stopping the old process at confirm, so no frame depends on a key one end lacks.
 */
export interface CaFile {
  /** SCI port number, 1..65534: also the file name (ca-<port>.conf) and the control directory (p<port>). */
  port: number;
  ckn: string;
  text: string;
}

export interface PortCandidate {
  port: string;
  /** The CA new frames use (its SCI port number). */
  primary: number;
  cas: CaFile[];
}

/** One CA's wpa_supplicant configuration (holds the CAK: it goes to the device only, into a 0600 file). */
export function renderWpaConf(
  c: MacsecChange,
  iface: { name: string; replayWindow: number },
  ca: { port: number; ckn: string; cak: string },
  o: LinuxMacsecOptions,
): string {
  return [
    `# linkcrypt linux-macsec: policy ${c.policy.name}, suite ${c.policy.suite}, port ${iface.name}, SCI port ${ca.port}`,
    `ctrl_interface=${o.runDir}/${iface.name}/p${ca.port}`,
    "eapol_version=3",
    "ap_scan=0",
    "network={",
    "\tkey_mgmt=NONE",
    "\teapol_flags=0",
    // 1 = should secure with encryption (not integrity only); the controlled port stays closed until MKA secures it
    "\tmacsec_policy=1",
    "\tmacsec_integ_only=0",
    `\tmacsec_replay_protect=${iface.replayWindow > 0 ? 1 : 0}`,
    `\tmacsec_replay_window=${iface.replayWindow}`,
    `\tmacsec_port=${ca.port}`,
    `\tmka_priority=${c.policy.keyServerPriority}`,
    `\tmka_ckn=${ca.ckn}`,
    `\tmka_cak=${ca.cak}`,
    "}",
    "",
  ].join("\n");
}

/** Mask CAKs in rendered or dumped configuration text. */
export function maskCak(text: string): string {
  return text.replace(/(mka_cak=)\S+/g, "$1<secret>");
}

/**
 * The candidate of each port: which CAs (by CKN) run, on which SCI port number. A CKN that already runs keeps its
 * number (so its process is not restarted); a new one takes the lowest free number.
 */
export function planPorts(c: MacsecChange, running: Map<string, { port: number; ckn: string }[]>, o: LinuxMacsecOptions): PortCandidate[] {
  const k = c.keychain;
  const retire = new Set(k.retireCkns ?? []);
  const keys = [{ ckn: k.ckn, cak: k.cak }, ...(k.nextKey ? [k.nextKey] : [])].filter((x) => !retire.has(x.ckn));
  return c.interfaces.map((iface) => {
    const have = running.get(iface.name) ?? [];
    const used = new Set<number>();
    const cas = keys.map((key) => {
      const p = have.find((h) => h.ckn === key.ckn)?.port;
      if (p !== undefined) used.add(p);
      return { key, port: p };
    });
    const assigned = cas.map(({ key, port }) => {
      let n = port;
      if (n === undefined) {
        n = 1;
        while (used.has(n)) n++;
        used.add(n);
      }
      return { port: n, ckn: key.ckn, text: renderWpaConf(c, iface, { port: n, ckn: key.ckn, cak: key.cak }, o) };
    });
    // Installing the next key keeps sending on the current one (the other end may not run the new CA yet); the
    // retiring step names the new key as the keychain's key, and its commit moves the bond to it once it is secured.
    return { port: iface.name, primary: assigned[0]!.port, cas: assigned };
  });
}

/**
 * The device-side agent: `sh agent.sh <op> <port> [args]`. Ops:
 *   stage          candidate/ was written by the caller; checks it (nothing live changes)
 *   dump <dir>     the files of running|candidate, CAKs masked
 *   commit <token> <timeoutS> <waitS>   previous := running; running := candidate; reconcile the daemons (old CAs
 *                  stay up); make-before-break wait; verify every CA's daemon answers; arm the confirm timer.
 *                  Any failure restores previous and exits non-zero.
 *   confirm        disarm the timer, stop CAs no longer configured, drop previous
 *   rollback       restore previous if a commit is pending; drop the candidate
 *   timer <token> <s>   (internal) restore unless confirmed within s seconds
 *   status         wpa_cli status of each CA, then `ip -s macsec show` of each SecY
 *   cancel <token> restore if the pending commit has this token
 */
export function agentScript(o: LinuxMacsecOptions): string {
  return `#!/bin/sh
# linkcrypt linux-macsec agent (generated; rewritten on every operation)
set -u
OP=$1; I=$2; shift 2
S=${o.stateDir}; D=$S/$I; R=${o.runDir}/$I
B=$(printf 'lcs-%s' "$I" | cut -c1-15)
OFFLOAD=${o.macsecOffload}
umask 077
mkdir -p "$D" "$R"
log() { echo "$(date +%T) $*" >> "$D/agent.log"; }
fail() { echo "linux-macsec: $I: $*" >&2; log "FAIL $*"; exit 2; }
ports_of() { local f; for f in "$1"/ca-*.conf; do [ -f "$f" ] || continue; f=\${f##*/ca-}; echo "\${f%.conf}"; done; }
pid_of() { local q; q=$(cat "$R/p$1.pid" 2>/dev/null) && kill -0 "$q" 2>/dev/null && echo "$q"; }
secy_of() {
  local hex d
  hex=$(printf '%04x' "$1")
  for d in $(ip -o link show type macsec 2>/dev/null | sed -n "s/^[0-9]*: \\([^@:]*\\)@$I:.*/\\1/p"); do
    ip -d link show dev "$d" | grep -q "sci [0-9a-f]*$hex " && { echo "$d"; return 0; }
  done
  return 1
}
secured() { wpa_cli -p "$R/p$1" -i "$I" status 2>/dev/null | grep -q '^Secured=Yes'; }
ensure_bond() {
  [ -d "/sys/class/net/$B" ] && return 0
  modprobe bonding 2>/dev/null
  mtu=$(( $(cat "/sys/class/net/$I/mtu") - 32 ))
  ip link add "$B" mtu "$mtu" type bond mode active-backup all_slaves_active 1 || fail "cannot create bond $B"
  ip link set "$I" up; ip link set "$B" up
}
stop_ca() {
  local q n d
  q=$(pid_of "$1") && { kill "$q"; n=0; while kill -0 "$q" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done; kill -9 "$q" 2>/dev/null; }
  d=$(secy_of "$1") && ip link del "$d" 2>/dev/null
  rm -rf "$R/p$1" "$R/p$1.pid" "$R/p$1.conf"
  log "stopped CA on SCI port $1"
}
start_ca() {
  local n d
  cp "$D/running/ca-$1.conf" "$R/p$1.conf"
  rm -rf "$R/p$1"
  # 9>&-: the daemon must not inherit the port's lock
  wpa_supplicant -B -i "$I" -D macsec_linux -c "$R/p$1.conf" -P "$R/p$1.pid" -f "$R/p$1.log" </dev/null >/dev/null 2>&1 9>&- || { log "wpa_supplicant for SCI port $1 did not start"; return 1; }
  n=0; until d=$(secy_of "$1"); do n=$((n+1)); [ $n -gt 100 ] && { log "no SecY for SCI port $1"; return 1; }; sleep 0.1; done
  if [ "$OFFLOAD" != off ]; then ip link set "$d" down; ip macsec offload "$d" "$OFFLOAD" || { log "offload $OFFLOAD refused on $d"; return 1; }; fi
  ip link set "$d" down; ip link set "$d" master "$B" || { log "cannot enslave $d to $B"; return 1; }
  ip link set "$d" up
  log "started CA on SCI port $1 ($d)"
}
# Make the daemons match running/. final=1 also stops CAs that running/ no longer has (confirm, restore).
reconcile() {
  local final p f new nd cur n
  final=$1; ensure_bond
  for p in $(ports_of "$D/running"); do
    if pid_of "$p" >/dev/null && cmp -s "$D/running/ca-$p.conf" "$R/p$p.conf"; then continue; fi
    stop_ca "$p"; start_ca "$p" || return 1
  done
  if [ "$final" = 1 ]; then
    for f in "$R"/p*.pid; do [ -f "$f" ] || continue; p=\${f##*/p}; p=\${p%.pid}; [ -f "$D/running/ca-$p.conf" ] || stop_ca "$p"; done
  fi
  [ -f "$D/running/primary" ] || return 0
  new=$(cat "$D/running/primary"); nd=$(secy_of "$new") || return 1
  cur=$(cat "/sys/class/net/$B/bonding/active_slave" 2>/dev/null)
  if [ -n "$cur" ] && [ "$cur" != "$nd" ] && [ "\${WAIT:-0}" -gt 0 ]; then
    for f in "$R"/p*.pid; do p=\${f##*/p}; p=\${p%.pid}
      if [ "$(secy_of "$p")" = "$cur" ] && secured "$p"; then
        # make before break: the port is secured on the old CA; switch only once the new one is secured too
        n=0; until secured "$new"; do n=$((n+1)); [ $n -gt $((WAIT*5)) ] && { log "CA on SCI port $new not secured within $WAIT s"; return 3; }; sleep 0.2; done
      fi
    done
  fi
  echo "$nd" > "/sys/class/net/$B/bonding/active_slave" 2>/dev/null || ip link set "$B" type bond active_slave "$nd" || return 1
}
verify() {
  local p
  for p in $(ports_of "$D/running"); do
    pid_of "$p" >/dev/null || { echo "wpa_supplicant for SCI port $p is not running"; return 1; }
    wpa_cli -p "$R/p$p" -i "$I" ping 2>/dev/null | grep -q PONG || { echo "wpa_supplicant for SCI port $p does not answer on its control interface"; return 1; }
    grep -q "^[[:space:]]*mka_ckn=$(sed -n 's/^[[:space:]]*mka_ckn=//p' "$D/running/ca-$p.conf")$" "$R/p$p.conf" || { echo "SCI port $p runs another CKN"; return 1; }
  done
}
disarm() {
  t=$(cat "$D/timer.pid" 2>/dev/null) && kill -TERM -- "-$t" 2>/dev/null
  rm -f "$D/timer.pid"
}
restore() {
  [ -d "$D/previous" ] || return 0
  rm -rf "$D/running"; mv "$D/previous" "$D/running"; rm -f "$D/pending"
  WAIT=0 reconcile 1; log "restored the previous configuration"
}
# One operation at a time per port (the confirm timer too): a timer that fires while a commit is still switching
# waits for it, then restores.
case "$OP" in commit|confirm|rollback|cancel|timer) exec 9>"$D/.lock"; [ "$OP" = timer ] || flock 9 ;; esac
case "$OP" in
  stage)
    for p in $(ports_of "$D/candidate"); do grep -q '^[[:space:]]*mka_cak=[0-9a-f]*$' "$D/candidate/ca-$p.conf" || fail "candidate CA $p has no CAK"; done
    command -v wpa_supplicant >/dev/null || fail "wpa_supplicant is not installed"
    [ -d "/sys/class/net/$I" ] || fail "no interface $I"
    [ -f "$D/candidate/primary" ] || fail "the candidate names no primary CA" ;;
  dump)
    for f in "$D/$1"/*; do [ -f "$f" ] || continue; sed "s|^|\${f##*/}: |; s/\\(mka_cak=\\).*/\\1<secret>/" "$f"; done ;;
  cas)
    for p in $(ports_of "$D/running"); do echo "$p $(sed -n 's/^[[:space:]]*mka_ckn=//p' "$D/running/ca-$p.conf")"; done ;;
  commit)
    TOKEN=$1; T=$2; WAIT=$3
    [ -d "$D/candidate" ] || fail "nothing staged"
    [ -f "$D/pending" ] && fail "a commit ($(cat "$D/pending")) is still waiting for confirmation"
    rm -rf "$D/previous"; if [ -d "$D/running" ]; then cp -a "$D/running" "$D/previous"; else mkdir "$D/previous"; fi
    rm -rf "$D/running.new"; cp -a "$D/candidate" "$D/running.new"; rm -rf "$D/running"; mv "$D/running.new" "$D/running"
    echo "$TOKEN" > "$D/pending"
    log "commit $TOKEN (confirm within $T s)"
    WAIT=$WAIT reconcile 0; rc=$?
    why=; [ $rc = 3 ] && why="the new CA was not secured within $WAIT s while the old one was (make-before-break)"
    [ $rc = 0 ] || why=\${why:-"the daemons could not be switched to the new configuration (see $D/agent.log)"}
    [ -z "$why" ] && why=$(verify)
    if [ -n "$why" ]; then restore; rm -rf "$D/candidate"; fail "commit refused, previous configuration restored: $why"; fi
    # the confirm deadline runs from the completed commit (the new configuration is live and verified)
    disarm
    setsid sh "$S/agent.sh" timer "$I" "$TOKEN" "$T" </dev/null >/dev/null 2>&1 9>&- &
    echo $! > "$D/timer.pid" ;;
  timer)
    sleep "$2"
    flock 9
    [ "$(cat "$D/pending" 2>/dev/null)" = "$1" ] || exit 0
    log "confirm timeout for $1"; rm -f "$D/timer.pid"; restore ;;
  confirm)
    [ -f "$D/pending" ] || fail "no commit is waiting for confirmation (the confirm timeout may have restored the previous configuration)"
    disarm; rm -f "$D/pending"; rm -rf "$D/previous" "$D/candidate"
    WAIT=0 reconcile 1 || fail "confirmed, but the retired CAs could not be stopped"
    log "confirmed" ;;
  rollback)
    if [ -f "$D/pending" ]; then disarm; restore; fi
    rm -rf "$D/candidate" ;;
  cancel)
    [ "$(cat "$D/pending" 2>/dev/null)" = "$1" ] || { echo none; exit 0; }
    disarm; restore; rm -rf "$D/candidate"; echo cancelled ;;
  status)
    for p in $(ports_of "$D/running"); do
      echo "### ca $p $(cat "$D/running/primary" 2>/dev/null) $(sed -n 's/^[[:space:]]*mka_ckn=//p' "$D/running/ca-$p.conf")"
      if pid_of "$p" >/dev/null; then wpa_cli -p "$R/p$p" -i "$I" status 2>&1; else echo "DAEMON=stopped"; fi
      d=$(secy_of "$p") && { echo "### secy $p $d"; ip -s macsec show "$d"; }
    done
    echo "### bond $(cat "/sys/class/net/$B/bonding/active_slave" 2>/dev/null)" ;;
  *) fail "unknown op $OP" ;;
esac
`;
}
