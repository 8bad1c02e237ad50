import { describe, expect, it } from "vitest";
import { redactUrl } from "../../src/state/postgres.js";

describe("state: PostgreSQL URLs in messages", () => {
  it("masks the password of a URL WHATWG parses", () => {
    expect(redactUrl("postgres://lc:s3cret@db.example:5432/linkcrypt")).toBe("postgres://lc:****@db.example:5432/linkcrypt");
    expect(redactUrl("postgres://lc@db.example/linkcrypt")).toBe("postgres://lc@db.example/linkcrypt");
  });
  it("shows a libpq socket URL as given (it names where the state is), the password still masked", () => {
    expect(redactUrl("postgres://lc@/postgres?host=%2Frun%2Fpg")).toBe("postgres://lc@/postgres?host=%2Frun%2Fpg");
    const masked = redactUrl("postgres://lc:s3cret@/postgres?host=%2Frun%2Fpg");
    expect(masked).toBe("postgres://lc:****@/postgres?host=%2Frun%2Fpg");
    expect(masked).not.toContain("s3cret");
  });
});
