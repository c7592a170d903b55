/**
 * The UTF-16 code units of a string as a Uint16Array, copied natively (Buffer's utf16le
 * encoder) rather than by a charCodeAt loop, which matters while code still runs unoptimised,
 * as it does during a tokenizer load in a fresh process.
 */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function utf16Units(text: string): Uint16Array {
  if (LITTLE_ENDIAN) {
    const bytes = Buffer.from(text, 'utf16le');
    // Buffers of Node's shared pool start at multiples of 8, so the view is aligned; copy if not.
    if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  }
  const units = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  return units;
}
