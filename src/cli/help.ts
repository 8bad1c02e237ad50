import type { Command } from "commander";
import { UsageError } from "../errors.js";

/**
 * Examples shown at the end of each verb's --help (commander's addHelpText), keyed by the command's path
 * ("keys status"). test/unit/cli-conventions.test.ts checks that every command's --help shows some.
 */
const EXAMPLES: Record<string, string[]> = {
  "": [
    "linkcrypt validate inventory.yaml",
    "linkcrypt plan inventory.yaml --out plan.json",
    "linkcrypt apply plan.json --inventory inventory.yaml --dry-run",
    "linkcrypt verify inventory.yaml --out verify.json && linkcrypt report inventory.yaml --verify verify.json --format html --out report.html",
    "linkcrypt <command> --help",
  ],
  validate: ["linkcrypt validate examples/two-site-dwdm.yaml", "linkcrypt validate inventory.yaml --json --profiles ./my-profiles"],
  plan: [
    "linkcrypt plan examples/two-site-dwdm.yaml",
    "linkcrypt plan inventory.yaml --facts facts.json --out plan.json",
    "linkcrypt plan inventory.yaml --json | jq '.links[] | {name, method}'",
  ],
  explain: ["linkcrypt explain inventory.yaml dc1-dc2-dwdm-1", "linkcrypt explain inventory.yaml host-a host-b --json"],
  discover: [
    "linkcrypt discover inventory.yaml --out facts.json --secrets secrets.yaml",
    "linkcrypt discover inventory.yaml --known-hosts ./known_hosts --accept-new-host-key --concurrency 4",
    "linkcrypt discover inventory.yaml --limit 'fra1,!fra1-sw2' --json   # site fra1, except one switch",
    "linkcrypt discover inventory.yaml --ssh-config ./ssh_config   # HostName, User, Port, IdentityFile, ProxyJump",
  ],
  apply: [
    "linkcrypt apply plan.json --inventory inventory.yaml --dry-run",
    "linkcrypt apply plan.json --inventory inventory.yaml --state ./state.sqlite --confirm-timeout 300",
    "linkcrypt apply plan.json --inventory inventory.yaml --facts facts.json --no-refresh --json",
    "linkcrypt apply plan.json --inventory inventory.yaml --limit 'ams1-*' --batch 25%",
  ],
  rotate: [
    "linkcrypt rotate link dc1-dc2-dwdm-1 --inventory inventory.yaml --state ./state.sqlite",
    "linkcrypt rotate mesh prod --inventory inventory.yaml --json",
  ],
  keys: ["linkcrypt keys status --inventory inventory.yaml --state ./state.sqlite"],
  "keys status": [
    "linkcrypt keys status --inventory inventory.yaml --state ./state.sqlite",
    "linkcrypt keys status --inventory inventory.yaml --json",
  ],
  verify: [
    "linkcrypt verify inventory.yaml",
    "linkcrypt verify inventory.yaml --out verify.json --secrets secrets.yaml",
    "linkcrypt verify inventory.yaml --limit dc1-dc2-dwdm-1,ams1 --json",
  ],
  report: [
    "linkcrypt report inventory.yaml --verify verify.json",
    "linkcrypt report inventory.yaml --verify verify.json --format html --out report.html",
    "linkcrypt report inventory.yaml --plan plan.json --state ./state.sqlite --json",
  ],
  metrics: [
    "linkcrypt metrics inventory.yaml --verify verify.json > /var/lib/node_exporter/linkcrypt.prom",
    "linkcrypt metrics inventory.yaml --verify verify.json --format graphite --prefix net.linkcrypt",
    "linkcrypt metrics inventory.yaml --json",
  ],
  mesh: [
    "linkcrypt mesh deliver inventory.yaml",
    "linkcrypt mesh verify inventory.yaml --json",
    "linkcrypt mesh down inventory.yaml --hosts host-a,host-b --block",
    "linkcrypt mesh up inventory.yaml",
    "linkcrypt mesh deliver inventory.yaml --limit 'ams1,!ams1-db1'",
  ],
  lab: [
    "sudo linkcrypt lab up examples/mesh-lab.yaml",
    "linkcrypt lab status --name mesh-lab --json",
    "sudo linkcrypt lab down --name mesh-lab",
  ],
  serve: [
    "linkcrypt serve inventory.yaml --listen 127.0.0.1:9469",
    "linkcrypt serve inventory.yaml --state postgres://linkcrypt@db/linkcrypt --interval 120",
  ],
  mtu: [
    "linkcrypt mtu --path-mtu 1500",
    "linkcrypt mtu --path-mtu 9000 --mode tunnel --cipher aes-gcm-256 --nat-t --json",
    "linkcrypt mtu --path-mtu 1522 --macsec sci --inner 1500",
  ],
  schema: ["linkcrypt schema --out inventory.schema.json"],
  completion: [
    "linkcrypt completion bash > /etc/bash_completion.d/linkcrypt",
    "echo 'source <(linkcrypt completion bash)' >> ~/.bashrc",
    'linkcrypt completion zsh > "${fpath[1]}/_linkcrypt"',
  ],
};

const pathOf = (c: Command): string => {
  const names: string[] = [];
  for (let x: Command | null = c; x?.parent; x = x.parent) names.unshift(x.name());
  return names.join(" ");
};

/** Adds an "Examples:" section to the help of the program and of every command under it. */
export function addExamples(program: Command): void {
  const walk = (c: Command) => {
    const list = EXAMPLES[pathOf(c)];
    if (list?.length) c.addHelpText("after", `\nExamples:\n${list.map((e) => `  $ ${e}`).join("\n")}\n`);
    for (const sub of c.commands) walk(sub);
  };
  walk(program);
}

interface Node {
  words: string[];
  options: string[];
  subs: Map<string, Node>;
}

const nodeOf = (c: Command): Node => ({
  words: c.commands.map((s) => s.name()),
  options: [...c.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)), "--help"],
  subs: new Map(c.commands.map((s) => [s.name(), nodeOf(s)])),
});

/** Fixed first-argument words (mesh deliver|verify…, lab up|down|status, rotate link|mesh), from the verbs' docs. */
const ARGUMENT_WORDS: Record<string, string[]> = {
  mesh: ["deliver", "verify", "repair", "status", "down", "up"],
  lab: ["up", "down", "status"],
  rotate: ["link", "mesh"],
  completion: ["bash", "zsh"],
};

/**
 * `linkcrypt completion bash|zsh`: a completion script generated from the command tree, so it never lags behind
 * the verbs and options. It completes verbs, sub-verbs, fixed first arguments and options; files otherwise.
 */
export function completionScript(program: Command, shell: string): string {
  const root = nodeOf(program);
  const cases: string[] = [];
  for (const [name, n] of root.subs) {
    const words = [...n.words, ...(ARGUMENT_WORDS[name] ?? [])].join(" ");
    cases.push(`    ${name}) opts="${n.options.join(" ")}"; words="${words}" ;;`);
    for (const [sub, s] of n.subs) cases.push(`    "${name} ${sub}") opts="${s.options.join(" ")}"; words="" ;;`);
  }
  const table = `  case "$cmd" in
${cases.join("\n")}
    *) opts="${root.options.join(" ")}"; words="${root.words.join(" ")}" ;;
  esac`;
  // Both scripts count the words before the cursor that are not options: none yet, complete a verb; one (the verb),
  // complete its sub-verbs or fixed first arguments; options after "-"; files otherwise.
  if (shell === "bash")
    return `# bash completion for linkcrypt (linkcrypt completion bash)
_linkcrypt() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" n=0 i opts choices
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ "\${COMP_WORDS[i]}" == -* ]] && continue
    n=$((n + 1))
    if ((n == 1)); then cmd="\${COMP_WORDS[i]}"; elif ((n == 2)) && [[ "$cmd" == keys ]]; then cmd="keys \${COMP_WORDS[i]}"; n=1; fi
  done
${table.replace(/words=/g, "choices=")}
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif ((n <= 1)) && [[ -n "$choices" ]]; then
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _linkcrypt linkcrypt
`;
  if (shell === "zsh")
    return `#compdef linkcrypt
# zsh completion for linkcrypt (linkcrypt completion zsh)
_linkcrypt() {
  local cmd="" n=0 i opts choices
  for ((i = 2; i < CURRENT; i++)); do
    [[ "\${words[i]}" == -* ]] && continue
    n=$((n + 1))
    if ((n == 1)); then cmd="\${words[i]}"; elif ((n == 2)) && [[ "$cmd" == keys ]]; then cmd="keys \${words[i]}"; n=1; fi
  done
${table.replace(/words=/g, "choices=")}
  if [[ "\${words[CURRENT]}" == -* ]]; then
    compadd -- \${=opts}
  elif ((n <= 1)) && [[ -n "$choices" ]]; then
    compadd -- \${=choices}
  else
    _files
  fi
}
# loaded from $fpath (the file _linkcrypt) the body runs as the function; sourced, it registers it
if [[ "\${funcstack[1]}" == _linkcrypt ]]; then _linkcrypt "$@"; else compdef _linkcrypt linkcrypt; fi
`;
  throw new UsageError(`completion: the shell must be bash or zsh, got "${shell}"`);
}
