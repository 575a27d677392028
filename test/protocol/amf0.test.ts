import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  AmfEcmaArray,
  AmfObject,
  AmfTypedObject,
  type AmfValue,
  AmfXmlDocument,
  amfObject,
  decodeAll,
  encodeAll
} from "../../src/protocol/amf0.js"
import { AmfDecodeError } from "../../src/protocol/errors.js"
import { hex } from "../support/hex.js"

describe("AMF0 byte-exact vectors", () => {
  const vectors: ReadonlyArray<readonly [string, AmfValue, string]> = [
    ["number 332", 332, "00 40 74 c0 00 00 00 00 00"],
    ["number 1", 1, "00 3f f0 00 00 00 00 00 00"],
    ["number 8192", 8192, "00 40 c0 00 00 00 00 00 00"],
    ["true", true, "01 01"],
    ["false", false, "01 00"],
    ["string", "test", "02 00 04 74 65 73 74"],
    ["null", null, "05"],
    ["undefined", undefined, "06"],
    ["object", amfObject({ test: 332 }), "03 00 04 74 65 73 74 00 40 74 c0 00 00 00 00 00 00 00 09"],
    ["strict array", [332], "0a 00 00 00 01 00 40 74 c0 00 00 00 00 00"],
    ["date", new Date(0), "0b 00 00 00 00 00 00 00 00 00 00"],
    ["xml", new AmfXmlDocument("<a/>"), "0f 00 00 00 04 3c 61 2f 3e"],
    ["typed object", new AmfTypedObject("T", [["x", 1]]), "10 00 01 54 00 01 78 00 3f f0 00 00 00 00 00 00 00 00 09"],
    ["ecma array", new AmfEcmaArray([["a", true]]), "08 00 00 00 01 00 01 61 01 01 00 00 09"]
  ]
  for (const [name, value, bytes] of vectors) {
    it(`encodes ${name}`, () => expect(encodeAll([value]).toString("hex")).toBe(hex(bytes).toString("hex")))
    it(`decodes ${name}`, () => expect(decodeAll(hex(bytes))).toEqual([value]))
  }

  it("decodes an ECMA array from the seed's vector, keeping key order", () => {
    const [value] = decodeAll(
      hex("08 00 00 00 02 00 05 74 65 73 74 31 00 3f f0 00 00 00 00 00 00 00 05 74 65 73 74 32 02 00 06 73 65 63 6f 6e 64 00 00 09")
    )
    expect(value).toBeInstanceOf(AmfEcmaArray)
    expect([...(value as AmfEcmaArray).properties.entries()]).toEqual([["test1", 1], ["test2", "second"]])
  })

  it("decodes a strict array [1, 2]", () => {
    expect(decodeAll(hex("0a 00 00 00 02 00 3f f0 00 00 00 00 00 00 00 40 00 00 00 00 00 00 00"))).toEqual([[1, 2]])
  })

  it("keeps integer-like keys in wire order", () => {
    const object = new AmfObject([["b", 1], ["2", 2], ["a", 3], ["1", 4]])
    const [decoded] = decodeAll(encodeAll([object]))
    expect([...(decoded as AmfObject).properties.keys()]).toEqual(["b", "2", "a", "1"])
  })

  it("resolves references (0x07) to the earlier complex value", () => {
    const bytes = hex("03 00 01 61 05 00 00 09 07 00 00")
    const [first, second] = decodeAll(bytes)
    expect(second).toBe(first)
  })

  it("encodes strings over 65535 bytes as long strings", () => {
    const long = "x".repeat(70_000)
    const bytes = encodeAll([long])
    expect(bytes[0]).toBe(0x0c)
    expect(decodeAll(bytes)).toEqual([long])
  })

  it("decodes AMF3 values behind the AVM+ marker", () => {
    // 0x11 then AMF3: integer 5, string "hi", a dynamic anonymous object {k: true}, a byte array
    const values = decodeAll(hex("11 04 05 11 06 05 68 69 11 0a 0b 01 03 6b 03 01 11 0c 05 aa bb"))
    expect(values[0]).toBe(5)
    expect(values[1]).toBe("hi")
    expect([...(values[2] as AmfObject).properties.entries()]).toEqual([["k", true]])
    expect(Buffer.from(values[3] as Uint8Array)).toEqual(Buffer.from([0xaa, 0xbb]))
  })
})

describe("AMF0 malformed input", () => {
  const bad: ReadonlyArray<readonly [string, string]> = [
    ["truncated number", "00 40 74"],
    ["truncated string", "02 00 10 61"],
    ["unterminated object", "03 00 01 61 00 40"],
    ["unknown marker", "20"],
    ["movie clip", "04"],
    ["dangling reference", "07 00 05"],
    ["lying strict array count", "0a ff ff ff ff 05"],
    ["bad utf-8", "02 00 02 c3 28"]
  ]
  for (const [name, bytes] of bad) {
    it(`throws a typed error for ${name}`, () => expect(() => decodeAll(hex(bytes))).toThrow(AmfDecodeError))
  }

  it("refuses nesting deeper than the limit instead of overflowing the stack", () => {
    const nested = Buffer.alloc(5 * 10_000)
    for (let i = 0; i < 10_000; i++) nested.set([0x0a, 0, 0, 0, 1], i * 5)
    expect(() => decodeAll(nested)).toThrow(AmfDecodeError)
  })

  it("never throws anything but a typed error on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeAll(bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(AmfDecodeError)
        }
      }),
      { numRuns: 2000 }
    )
  })
})

const amfValue: fc.Arbitrary<AmfValue> = fc.letrec<{ value: AmfValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.string(),
    fc.constant(null),
    fc.constant(undefined),
    fc.date({ noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.array(fc.tuple(fc.string({ minLength: 1 }), tie("value")), { maxLength: 4 }).map(
      (entries) => new AmfObject(new Map(entries))
    ),
    fc.array(fc.tuple(fc.string({ minLength: 1 }), tie("value")), { maxLength: 4 }).map(
      (entries) => new AmfEcmaArray(new Map(entries))
    )
  )
})).value

describe("AMF0 round trips", () => {
  it("decode(encode(values)) = values", () => {
    fc.assert(
      fc.property(fc.array(amfValue, { maxLength: 5 }), (values) => {
        expect(decodeAll(encodeAll(values))).toEqual(values)
      }),
      { numRuns: 500 }
    )
  })
})
