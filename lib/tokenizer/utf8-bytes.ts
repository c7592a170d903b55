/**
 * UTF-8 encoding of a slice of a JS string straight into token ids (the id of each byte), the
 * first step of byte-level BPE. A lone surrogate, which has no UTF-8 form, is written as the
 * bytes of U+FFFD (EF BF BD), the same as TextEncoder and Buffer.from(text) do.
 */

/** Largest number of bytes text[start, end) can need: 3 per UTF-16 unit. */
export function maxUtf8Length(start: number, end: number): number {
  return 3 * (end - start);
}

/** Writes byteIds[b] for each UTF-8 byte b of text[start, end) into out; returns the count. */
export function writeUtf8ByteIds(text: string, start: number, end: number, byteIds: Int32Array, out: Int32Array): number {
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = byteIds[c]!;
    } else if (c < 0x800) {
      out[n++] = byteIds[0xc0 | (c >> 6)]!;
      out[n++] = byteIds[0x80 | (c & 0x3f)]!;
    } else if (c < 0xd800 || c > 0xdfff) {
      out[n++] = byteIds[0xe0 | (c >> 12)]!;
      out[n++] = byteIds[0x80 | ((c >> 6) & 0x3f)]!;
      out[n++] = byteIds[0x80 | (c & 0x3f)]!;
    } else {
      const d = i + 1 < end ? text.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        out[n++] = byteIds[0xf0 | (cp >> 18)]!;
        out[n++] = byteIds[0x80 | ((cp >> 12) & 0x3f)]!;
        out[n++] = byteIds[0x80 | ((cp >> 6) & 0x3f)]!;
        out[n++] = byteIds[0x80 | (cp & 0x3f)]!;
        i++;
      } else { // lone surrogate → U+FFFD
        out[n++] = byteIds[0xef]!;
        out[n++] = byteIds[0xbf]!;
        out[n++] = byteIds[0xbd]!;
      }
    }
  }
  return n;
}

/** UTF-8 length of the code point starting at text[i] (a lone surrogate counts 3, as U+FFFD). */
export function utf8LengthAt(text: string, i: number, end: number): { bytes: number; units: number } {
  const c = text.charCodeAt(i);
  if (c < 0x80) return { bytes: 1, units: 1 };
  if (c < 0x800) return { bytes: 2, units: 1 };
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return { bytes: 4, units: 2 };
  }
  return { bytes: 3, units: 1 };
}
