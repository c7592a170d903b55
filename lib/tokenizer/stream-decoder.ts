/**
 * Incremental detokenizer for generated tokens. `push(id)` returns only text whose UTF-8 is
 * complete, holding back the bytes of a character split across tokens; `flush()` returns what
 * is left (U+FFFD for bytes that never completed). Concatenating every push and the flush
 * gives exactly decode(allIds), because WHATWG streaming UTF-8 decoding is defined to equal
 * one-shot decoding.
 */
import { checkTokenId, utf8Decoder } from './decode.js';
import type { Vocabulary } from './vocabulary.js';

export class StreamDecoder {
  private decoder = utf8Decoder();

  constructor(private readonly vocab: Vocabulary) {}

  /** Adds one token; returns the newly completed text (possibly ''). */
  push(id: number): string {
    checkTokenId(this.vocab, id, 'id');
    const { byteStart, tokenBytes } = this.vocab;
    return this.decoder.decode(tokenBytes.subarray(byteStart[id]!, byteStart[id + 1]!), { stream: true });
  }

  /** Ends the stream: returns held-back bytes as text (U+FFFD when incomplete) and resets. */
  flush(): string {
    const rest = this.decoder.decode();
    this.decoder = utf8Decoder();
    return rest;
  }
}
