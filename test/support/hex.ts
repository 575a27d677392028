/** `hex("02 00 04")` → bytes; spaces are ignored so vectors can be copied from specs. */
export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex")
export const repeat = (byte: number, n: number): Buffer => Buffer.alloc(n, byte)
