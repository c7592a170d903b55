/**
 * GPT-2's byte-level alphabet: every byte 0..255 is written as one printable Unicode character
 * in vocab.json / merges.txt (`bytes_to_unicode` in the original encoder). Printable Latin-1
 * bytes map to themselves; the other 68 bytes map to U+0100.. in byte order (space → 'Ġ').
 */

/** BYTE_TO_CHAR[b] is the alphabet character (one UTF-16 unit) standing for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Maps an alphabet character's code (< 0x144) to its byte, or -1 when it is not in the alphabet. */
export const CHAR_CODE_TO_BYTE: Int16Array = buildCharCodeToByte();

function isPrintableLatin1(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

function buildByteToChar(): string[] {
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCharCode(isPrintableLatin1(b) ? b : next++);
  }
  return out;
}

function buildCharCodeToByte(): Int16Array {
  const table = new Int16Array(0x144).fill(-1);
  for (let b = 0; b < 256; b++) table[BYTE_TO_CHAR[b]!.charCodeAt(0)] = b;
  return table;
}
