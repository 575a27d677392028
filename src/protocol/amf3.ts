/**
 * The subset of AMF3 that real RTMP clients put behind an AVM+ marker in command and data messages
 * (types 15/17): undefined, null, booleans, integers, doubles, strings, XML, dates, arrays, dynamic and
 * sealed objects, byte arrays. Vectors, dictionaries and externalizable objects are refused with a typed
 * error: no client we know sends them over RTMP, and guessing their layout would mis-decode the rest.
 */
import { AmfEcmaArray, AmfObject, AmfTypedObject, AmfXmlDocument, MAX_AMF_DEPTH, type AmfReader, type AmfValue } from "./amf0.js"
import { AmfDecodeError } from "./errors.js"

interface Traits {
  readonly className: string
  readonly dynamic: boolean
  readonly sealedNames: ReadonlyArray<string>
}

interface Tables {
  readonly strings: Array<string>
  readonly objects: Array<AmfValue>
  readonly traits: Array<Traits>
}

const readU29 = (reader: AmfReader): number => {
  let result = 0
  for (let i = 0; i < 3; i++) {
    const b = reader.u8()
    result = (result << 7) | (b & 0x7f)
    if ((b & 0x80) === 0) return result
  }
  return ((result << 8) | reader.u8()) >>> 0
}

const badReference = (what: string, index: number) =>
  new AmfDecodeError({ reason: "BadReference", message: `AMF3 ${what} reference ${index} points nowhere` })

const readString = (reader: AmfReader, tables: Tables): string => {
  const header = readU29(reader)
  if ((header & 1) === 0) {
    const s = tables.strings[header >> 1]
    if (s === undefined) throw badReference("string", header >> 1)
    return s
  }
  const s = reader.utf8(header >> 1)
  if (s.length > 0) tables.strings.push(s)
  return s
}

const readTraits = (reader: AmfReader, tables: Tables, header: number): Traits => {
  if ((header & 0b10) === 0) {
    const traits = tables.traits[header >> 2]
    if (traits === undefined) throw badReference("traits", header >> 2)
    return traits
  }
  if ((header & 0b100) !== 0) {
    throw new AmfDecodeError({ reason: "Unsupported", message: "AMF3 externalizable objects are not supported" })
  }
  const dynamic = (header & 0b1000) !== 0
  const count = header >> 4
  if (count > reader.remaining) throw new AmfDecodeError({ reason: "Truncated", message: "AMF3 traits truncated" })
  const className = readString(reader, tables)
  const sealedNames: Array<string> = []
  for (let i = 0; i < count; i++) sealedNames.push(readString(reader, tables))
  const traits = { className, dynamic, sealedNames }
  tables.traits.push(traits)
  return traits
}

const readValue = (reader: AmfReader, tables: Tables, depth: number): AmfValue => {
  if (depth > MAX_AMF_DEPTH) {
    throw new AmfDecodeError({ reason: "TooDeep", message: `AMF3 nesting deeper than ${MAX_AMF_DEPTH}` })
  }
  const marker = reader.u8()
  switch (marker) {
    case 0x00:
      return undefined
    case 0x01:
      return null
    case 0x02:
      return false
    case 0x03:
      return true
    case 0x04: {
      const n = readU29(reader)
      return n & 0x10000000 ? n - 0x20000000 : n // 29-bit two's complement
    }
    case 0x05:
      return reader.f64()
    case 0x06:
      return readString(reader, tables)
    case 0x07:
    case 0x0b:
    case 0x08:
    case 0x0c: {
      const header = readU29(reader)
      if ((header & 1) === 0) {
        const ref = tables.objects[header >> 1]
        if (ref === undefined) throw badReference("object", header >> 1)
        return ref
      }
      let value: AmfValue
      if (marker === 0x08) value = new Date(reader.f64())
      else if (marker === 0x0c) value = reader.take(header >> 1)
      else value = new AmfXmlDocument(reader.utf8(header >> 1))
      tables.objects.push(value)
      return value
    }
    case 0x09: {
      const header = readU29(reader)
      if ((header & 1) === 0) {
        const ref = tables.objects[header >> 1]
        if (ref === undefined) throw badReference("array", header >> 1)
        return ref
      }
      const denseCount = header >> 1
      if (denseCount > reader.remaining) throw new AmfDecodeError({ reason: "Truncated", message: "AMF3 array truncated" })
      const associative = new AmfEcmaArray()
      const dense: Array<AmfValue> = []
      const index = tables.objects.length
      tables.objects.push(dense)
      for (let key = readString(reader, tables); key !== ""; key = readString(reader, tables)) {
        associative.properties.set(key, readValue(reader, tables, depth + 1))
      }
      for (let i = 0; i < denseCount; i++) dense.push(readValue(reader, tables, depth + 1))
      if (associative.properties.size === 0) return dense
      dense.forEach((v, i) => associative.properties.set(String(i), v))
      tables.objects[index] = associative
      return associative
    }
    case 0x0a: {
      const header = readU29(reader)
      if ((header & 1) === 0) {
        const ref = tables.objects[header >> 1]
        if (ref === undefined) throw badReference("object", header >> 1)
        return ref
      }
      const traits = readTraits(reader, tables, header)
      const object = traits.className === "" ? new AmfObject() : new AmfTypedObject(traits.className, new Map())
      tables.objects.push(object)
      for (const name of traits.sealedNames) object.properties.set(name, readValue(reader, tables, depth + 1))
      if (traits.dynamic) {
        for (let key = readString(reader, tables); key !== ""; key = readString(reader, tables)) {
          object.properties.set(key, readValue(reader, tables, depth + 1))
        }
      }
      return object
    }
    default:
      throw new AmfDecodeError({
        reason: "Unsupported",
        message: `AMF3 marker 0x${marker.toString(16).padStart(2, "0")} is not supported`
      })
  }
}

/** Decodes one AMF3 value following an AVM+ marker; each switch starts with empty reference tables. */
export const decodeAmf3Value = (reader: AmfReader, depth: number): AmfValue =>
  readValue(reader, { strings: [], objects: [], traits: [] }, depth)
