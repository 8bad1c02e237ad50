/**
 * One error hierarchy for the whole tool. Every error carries a stable string `code` that scripts and the CLI's
 * single catch can map to exit codes, plus optional `device`/`driver` context. Library errors are wrapped at the
 * boundary where they occur and kept as the native `cause`.
 */
export interface LinkcryptErrorOptions {
  device?: string;
  driver?: string;
  operation?: string;
  cause?: unknown;
}

export class LinkcryptError extends Error {
  readonly code: string;
  readonly device: string | undefined;
  readonly driver: string | undefined;
  readonly operation: string | undefined;

  constructor(code: string, message: string, opts: LinkcryptErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.device = opts.device;
    this.driver = opts.driver;
    this.operation = opts.operation;
  }
}

/** Bad user input: a file that can't be read or parsed, or an inventory that fails validation. */
export class InputError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_INPUT", message, opts);
  }
}

/** Bad command-line usage: unknown option, missing argument, value out of range. */
export class UsageError extends LinkcryptError {
  constructor(message: string) {
    super("E_USAGE", message);
  }
}

/** Could not reach the device: refused, unreachable, DNS, or the connection dropped. */
export class ConnectError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_CONNECT", message, opts);
  }
}

/** The device refused our credentials. */
export class AuthError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_AUTH", message, opts);
  }
}

/** An operation did not finish in time. */
export class TimeoutError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_TIMEOUT", message, opts);
  }
}

/** The SSH host key is unknown or differs from the pinned one. */
export class HostKeyError extends LinkcryptError {
  readonly fingerprint: string;
  readonly expected: string | undefined;
  constructor(
    code: "E_HOSTKEY_UNKNOWN" | "E_HOSTKEY_MISMATCH",
    message: string,
    fingerprint: string,
    expected: string | undefined,
    opts: LinkcryptErrorOptions = {},
  ) {
    super(code, message, opts);
    this.fingerprint = fingerprint;
    this.expected = expected;
  }
}

/** The peer broke the protocol: bad framing, an oversized message, a reply to a request we did not send. */
export class ProtocolError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_PROTOCOL", message, opts);
  }
}

/** A remote command ran and failed (non-zero exit); 127 means the command does not exist there. */
export class CommandError extends LinkcryptError {
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(message: string, exitCode: number | null, stderr: string, opts: LinkcryptErrorOptions = {}) {
    super(exitCode === 127 ? "E_COMMAND_NOT_FOUND" : "E_COMMAND", message, opts);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** The device answered with an error: NETCONF rpc-error, SNMP error-status. */
export class DeviceError extends LinkcryptError {
  /** NETCONF error-tag or SNMP error-status name (noAccess, wrongValue, notWritable, ...). */
  readonly tag: string;
  /** NETCONF error-path or the SNMP OID. */
  readonly errorPath: string | undefined;
  constructor(tag: string, message: string, errorPath: string | undefined, opts: LinkcryptErrorOptions = {}) {
    super(`E_DEVICE_${tag.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}`, message, opts);
    this.tag = tag;
    this.errorPath = errorPath;
  }
}

/** A driver was asked for something its capabilities say it cannot do. */
export class UnsupportedError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_UNSUPPORTED", message, opts);
  }
}

/** A commit was rejected, or a confirmed commit could not be confirmed. */
export class CommitError extends LinkcryptError {
  constructor(message: string, opts: LinkcryptErrorOptions = {}) {
    super("E_COMMIT", message, opts);
  }
}
