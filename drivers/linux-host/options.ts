import { z } from "zod";

/**
 * The driver's own profile options (`options:` in a device profile), checked by `validate`. It has none yet: what it
 * reads from a profile sits in the profile's shared blocks, which src/model/profile-schema.ts checks.
 */
export const optionsSchema = z.strictObject({});
