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
