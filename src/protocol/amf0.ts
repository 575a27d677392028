/**
 * AMF0 (Action Message Format 0, Adobe 2007) encoder and decoder: pure, synchronous, over `Uint8Array`.
 * Objects keep their key order (a `Map`), because players and relays care about metadata order and a plain
 * JS object would move integer-like keys to the front. The AVM+ marker switches one value to AMF3
 * (see `amf3.ts`), so command and data messages from Flash-era clients decode too.
 */
import { decodeAmf3Value } from "./amf3.js"
import { AmfDecodeError, EncodeError } from "./errors.js"

export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Uint8Array
  | AmfObject
  | AmfEcmaArray
  | AmfTypedObject
  | AmfXmlDocument
  | ReadonlyArray<AmfValue>

/** An anonymous object (marker 0x03). */
export class AmfObject {
  readonly properties: Map<string, AmfValue>
  constructor(properties: Map<string, AmfValue> | Iterable<readonly [string, AmfValue]> = new Map()) {
    this.properties = properties instanceof Map ? properties : new Map(properties)
  }
  get(key: string): AmfValue {
    return this.properties.get(key)
  }
}

/** An associative array (marker 0x08); decoded and re-encoded as such so relays preserve it. */
export class AmfEcmaArray extends AmfObject {}

/** A typed object (marker 0x10): a class name plus ordered properties. */
export class AmfTypedObject extends AmfObject {
  constructor(readonly className: string, properties: Map<string, AmfValue> | Iterable<readonly [string, AmfValue]>) {
    super(properties)
  }
}

/** An XML document (marker 0x0F); the text is kept as is. */
export class AmfXmlDocument {
  constructor(readonly xml: string) {}
}

/** Builds an ordered object from a plain record (insertion order of the literal). */
export const amfObject = (record: Readonly<Record<string, AmfValue>>): AmfObject => new AmfObject(Object.entries(record))

export const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11
} as const

/** Nesting deeper than this is refused: it protects the stack, and no real client nests this far. */
export const MAX_AMF_DEPTH = 64

const utf8 = new TextDecoder("utf-8", { fatal: true })

const truncated = (what: string) => new AmfDecodeError({ reason: "Truncated", message: `AMF0 value truncated: ${what}` })

/** A cursor over one message payload. Also used by the AMF3 decoder, which shares the buffer. */
export class AmfReader {
  offset: number
  /** Complex values in order of appearance, for AMF0 references (0x07). */
  readonly references: Array<AmfValue> = []
  private readonly view: DataView
  constructor(readonly bytes: Uint8Array, offset = 0) {
    this.offset = offset
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  get remaining(): number {
    return this.bytes.length - this.offset
  }
  need(n: number, what: string): void {
    if (this.remaining < n) throw truncated(what)
  }
  u8(): number {
    this.need(1, "u8")
    return this.bytes[this.offset++] as number
  }
  u16(): number {
    this.need(2, "u16")
    const v = this.view.getUint16(this.offset)
    this.offset += 2
    return v
  }
  u32(): number {
    this.need(4, "u32")
    const v = this.view.getUint32(this.offset)
    this.offset += 4
    return v
  }
  s16(): number {
    this.need(2, "s16")
    const v = this.view.getInt16(this.offset)
    this.offset += 2
    return v
  }
  f64(): number {
    this.need(8, "double")
    const v = this.view.getFloat64(this.offset)
    this.offset += 8
    return v
  }
  utf8(length: number): string {
    this.need(length, "string body")
    const slice = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    try {
      return utf8.decode(slice)
    } catch {
      throw new AmfDecodeError({ reason: "BadUtf8", message: "AMF string is not valid UTF-8" })
    }
  }
  take(length: number): Uint8Array {
    this.need(length, "bytes")
    const slice = this.bytes.slice(this.offset, this.offset + length)
    this.offset += length
    return slice
  }
}

const readProperties = (reader: AmfReader, target: Map<string, AmfValue>, depth: number): void => {
  for (;;) {
    const key = reader.utf8(reader.u16())
    if (key.length === 0) {
      // The spec ends an object with an empty key and 0x09; some encoders end the payload right there.
      if (reader.remaining === 0) return
      const marker = reader.u8()
      if (marker === Marker.ObjectEnd) return
      reader.offset--
    }
    target.set(key, decodeValue(reader, depth + 1))
  }
}

/** Decodes one AMF0 value at the reader's position. Throws `AmfDecodeError` on malformed input. */
export const decodeValue = (reader: AmfReader, depth = 0): AmfValue => {
  if (depth > MAX_AMF_DEPTH) {
    throw new AmfDecodeError({ reason: "TooDeep", message: `AMF0 nesting deeper than ${MAX_AMF_DEPTH}` })
  }
  const marker = reader.u8()
  switch (marker) {
    case Marker.Number:
      return reader.f64()
    case Marker.Boolean:
      return reader.u8() !== 0
    case Marker.String:
      return reader.utf8(reader.u16())
    case Marker.LongString:
      return reader.utf8(reader.u32())
    case Marker.XmlDocument:
      return new AmfXmlDocument(reader.utf8(reader.u32()))
    case Marker.Null:
      return null
    case Marker.Undefined:
    case Marker.Unsupported:
      return undefined
    case Marker.Object: {
      const object = new AmfObject()
      reader.references.push(object)
      readProperties(reader, object.properties, depth)
      return object
    }
    case Marker.EcmaArray: {
      reader.u32() // the count is advisory; the terminator ends the array
      const array = new AmfEcmaArray()
      reader.references.push(array)
      readProperties(reader, array.properties, depth)
      return array
    }
    case Marker.TypedObject: {
      const typed = new AmfTypedObject(reader.utf8(reader.u16()), new Map())
      reader.references.push(typed)
      readProperties(reader, typed.properties, depth)
      return typed
    }
    case Marker.StrictArray: {
      const count = reader.u32()
      // Every element takes at least one byte: a larger count is a lie that would make us allocate.
      if (count > reader.remaining) throw truncated(`strict array of ${count} elements`)
      const items: Array<AmfValue> = []
      reader.references.push(items)
      for (let i = 0; i < count; i++) items.push(decodeValue(reader, depth + 1))
      return items
    }
    case Marker.Date: {
      const millis = reader.f64()
      reader.s16() // time zone: reserved, "should be 0" (AMF0 spec 2.13)
      return new Date(millis)
    }
    case Marker.Reference: {
      const index = reader.u16()
      const target = reader.references[index]
      if (target === undefined) {
        throw new AmfDecodeError({ reason: "BadReference", message: `AMF0 reference ${index} points nowhere` })
      }
      return target
    }
    case Marker.AvmPlus:
      return decodeAmf3Value(reader, depth + 1)
    default:
      throw new AmfDecodeError({
        reason: marker === Marker.MovieClip || marker === Marker.RecordSet ? "Unsupported" : "UnknownMarker",
        message: `AMF0 marker 0x${marker.toString(16).padStart(2, "0")} is not supported`
      })
  }
}

/** Decodes every value in `bytes` (a command or data message body). */
export const decodeAll = (bytes: Uint8Array, offset = 0): Array<AmfValue> => {
  const reader = new AmfReader(bytes, offset)
  const values: Array<AmfValue> = []
  while (reader.remaining > 0) {
    // A lone object-end marker at the top level is padding some encoders emit.
    if (reader.bytes[reader.offset] === Marker.ObjectEnd) {
      reader.offset++
      continue
    }
    values.push(decodeValue(reader))
  }
  return values
}

/** A growable output buffer; encoders write here and `finish` returns an exact-size copy. */
export class ByteWriter {
  private buffer: Buffer
  length = 0
  constructor(initial = 256) {
    this.buffer = Buffer.allocUnsafe(initial)
  }
  private ensure(n: number): void {
    if (this.length + n <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + n) size *= 2
    const next = Buffer.allocUnsafe(size)
    this.buffer.copy(next, 0, 0, this.length)
    this.buffer = next
  }
  u8(v: number): void {
    this.ensure(1)
    this.buffer[this.length++] = v
  }
  u16(v: number): void {
    this.ensure(2)
    this.buffer.writeUInt16BE(v, this.length)
    this.length += 2
  }
  u32(v: number): void {
    this.ensure(4)
    this.buffer.writeUInt32BE(v >>> 0, this.length)
    this.length += 4
  }
  s16(v: number): void {
    this.ensure(2)
    this.buffer.writeInt16BE(v, this.length)
    this.length += 2
  }
  f64(v: number): void {
    this.ensure(8)
    this.buffer.writeDoubleBE(v, this.length)
    this.length += 8
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buffer.set(b, this.length)
    this.length += b.length
  }
  finish(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.length))
  }
}

const writeKey = (out: ByteWriter, key: string): void => {
  const bytes = Buffer.from(key, "utf8")
  if (bytes.length > 0xffff) throw new EncodeError({ message: "AMF0 object key longer than 65535 bytes" })
  out.u16(bytes.length)
  out.bytes(bytes)
}

const writeProperties = (out: ByteWriter, properties: Map<string, AmfValue>, depth: number): void => {
  for (const [key, value] of properties) {
    writeKey(out, key)
    encodeValue(out, value, depth + 1)
  }
  out.u16(0)
  out.u8(Marker.ObjectEnd)
}

/** Encodes one value. Strings over 65535 bytes become long strings; byte arrays go through AMF3. */
export const encodeValue = (out: ByteWriter, value: AmfValue, depth = 0): void => {
  if (depth > MAX_AMF_DEPTH) throw new EncodeError({ message: `AMF0 nesting deeper than ${MAX_AMF_DEPTH}` })
  if (value === null) return out.u8(Marker.Null)
  if (value === undefined) return out.u8(Marker.Undefined)
  switch (typeof value) {
    case "number":
      out.u8(Marker.Number)
      return out.f64(value)
    case "boolean":
      out.u8(Marker.Boolean)
      return out.u8(value ? 1 : 0)
    case "string": {
      const bytes = Buffer.from(value, "utf8")
      if (bytes.length > 0xffff) {
        out.u8(Marker.LongString)
        out.u32(bytes.length)
      } else {
        out.u8(Marker.String)
        out.u16(bytes.length)
      }
      return out.bytes(bytes)
    }
  }
  if (value instanceof Date) {
    out.u8(Marker.Date)
    out.f64(value.getTime())
    return out.s16(0)
  }
  if (value instanceof AmfXmlDocument) {
    const bytes = Buffer.from(value.xml, "utf8")
    out.u8(Marker.XmlDocument)
    out.u32(bytes.length)
    return out.bytes(bytes)
  }
  if (value instanceof Uint8Array) {
    // AMF0 has no byte array; AVM+ switch to an AMF3 ByteArray (marker 0x0C, U29 length with the inline bit).
    out.u8(Marker.AvmPlus)
    out.u8(0x0c)
    writeU29(out, (value.length << 1) | 1)
    return out.bytes(value)
  }
  if (value instanceof AmfTypedObject) {
    out.u8(Marker.TypedObject)
    writeKey(out, value.className)
    return writeProperties(out, value.properties, depth)
  }
  if (value instanceof AmfEcmaArray) {
    out.u8(Marker.EcmaArray)
    out.u32(value.properties.size)
    return writeProperties(out, value.properties, depth)
  }
  if (value instanceof AmfObject) {
    out.u8(Marker.Object)
    return writeProperties(out, value.properties, depth)
  }
  out.u8(Marker.StrictArray)
  out.u32(value.length)
  for (const item of value) encodeValue(out, item, depth + 1)
}

export const writeU29 = (out: ByteWriter, n: number): void => {
  if (n < 0 || n > 0x1fffffff) throw new EncodeError({ message: `U29 out of range: ${n}` })
  if (n < 0x80) out.u8(n)
  else if (n < 0x4000) {
    out.u8(((n >> 7) & 0x7f) | 0x80)
    out.u8(n & 0x7f)
  } else if (n < 0x200000) {
    out.u8(((n >> 14) & 0x7f) | 0x80)
    out.u8(((n >> 7) & 0x7f) | 0x80)
    out.u8(n & 0x7f)
  } else {
    out.u8(((n >> 22) & 0x7f) | 0x80)
    out.u8(((n >> 15) & 0x7f) | 0x80)
    out.u8(((n >> 8) & 0x7f) | 0x80)
    out.u8(n & 0xff)
  }
}

/** Encodes a list of values back to back (a command or data message body). */
export const encodeAll = (values: ReadonlyArray<AmfValue>): Buffer => {
  const out = new ByteWriter()
  for (const value of values) encodeValue(out, value)
  return out.finish()
}

/** Reads a string property, or `undefined` when absent or of another type. */
export const stringProperty = (value: AmfValue, key: string): string | undefined => {
  if (!(value instanceof AmfObject)) return undefined
  const v = value.get(key)
  return typeof v === "string" ? v : undefined
}

export const numberProperty = (value: AmfValue, key: string): number | undefined => {
  if (!(value instanceof AmfObject)) return undefined
  const v = value.get(key)
  return typeof v === "number" ? v : undefined
}
