/**
 * Tokenizer throughput benchmark: our GPT-2 byte-level BPE against the peers installed as
 * devDependencies (`tiktoken` WASM, `js-tiktoken`, `gpt-tokenizer`), all on the same
 * deterministic mixed corpus in the same process.
 *
 *   node dist/lib/bench/tokenizer.js [corpusMB] [repeats]
 *
 * The corpus is generated from a seed (no downloads): English prose with a long tail of
 * made-up words, code, pretty-printed JSON, non-Latin scripts and emoji (ZWJ sequences,
 * skin tones, flags), mixed in blocks.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Tokenizer } from '../tokenizer/tokenizer.js';

/** GPT-2 files of the shared fixtures, seen from dist/lib/bench. */
const DEFAULT_TOKENIZER_DIR = fileURLToPath(new URL('../../../../shared/fixtures/tokenizer', import.meta.url));

/** One row of the benchmark: single-thread encode throughput over the corpus. */
export interface TokenizerBenchRow {
  name: string;
  /** Median throughput in MB/s (10^6 UTF-8 bytes of input per second). */
  mbPerSec: number;
  /** (max - min) / median of the throughput over the repeats. */
  spread: number;
  /** Tokens this encoder produced for the whole corpus. */
  tokens: number;
  /** Median throughput by this process's CPU time (steadier than wall time on a busy machine). */
  cpuMbPerSec: number;
  /** Token-count difference from ours (their count - ours); 0 when they agree. */
  tokenDiff?: number;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same corpus on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('the of and to a in is it you that he was for on are with as his they be at one have this from or had by '
  + 'not word but what some we can out other were all there when up use your how said an each she which do their time '
  + 'if will way about many then them write would like so these her long make thing see him two has look more day could '
  + 'go come did number sound no most people my over know water than call first who may down side been now find any new '
  + 'work part take get place made live where after back little only round man year came show every good me give our '
  + 'under name very through just form sentence great think say help low line differ turn cause much mean before move '
  + 'right boy old too same tell does set three want air well also play small end put home read hand port large spell '
  + 'add even land here must big high such follow act why ask men change went light kind off need house picture try us '
  + 'again animal point mother world near build self earth father head stand own page should country found answer school '
  + 'grow study still learn plant cover food sun four between state keep eye never last let thought city tree cross farm '
  + 'hard start might story saw far sea draw left late run while press close night real life few north open seem together '
  + 'next white children begin got walk example ease paper group always music those both mark often letter until mile river '
  + 'car feet care second book carry took science eat room friend began idea fish mountain stop once base hear horse cut '
  + 'sure watch color face wood main enough plain girl usual young ready above ever red list though feel talk bird soon '
  + 'body dog family direct pose leave song measure door product black short numeral class wind question happen complete '
  + 'ship area half rock order fire south problem piece told knew pass since top whole king space heard best hour better '
  + 'transformer attention embedding gradient tokenizer inference throughput latency benchmark parameter').split(' ');
const SYLLABLES = ['ka', 'lo', 'mi', 'ther', 'ion', 'str', 'ex', 'pre', 'con', 'ble', 'ous', 'ing', 'qu', 'zy', 'vor',
  'tra', 'pl', 'ight', 'ae', 'ph', 'sch', 'wr', 'nd', 'ck', 'ee', 'oo', 'x', 'j', 'ly', 'ment'];
const CONTRACTIONS = ["don't", "it's", "we'll", "they're", "I've", "she'd", "I'm", "can't", "won't", "you're"];
const PUNCT = ['.', '.', '.', ',', ',', ';', ':', '!', '?', ' -', '...'];
const CJK = '的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴';
const KANA = 'あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン';
const SCRIPT_WORDS = ['Привет', 'мир', 'как', 'дела', 'работа', 'язык', 'модель', 'Γειά', 'σου', 'κόσμε', 'λόγος',
  'مرحبا', 'بالعالم', 'كتاب', 'שלום', 'עולם', 'नमस्ते', 'दुनिया', 'भाषा', '안녕하세요', '세계', '한국어', 'สวัสดี',
  'ชาวโลก', 'Tiếng', 'Việt', 'có', 'dấu', 'Zoë', 'Björk', 'naïve', 'café', 'résumé', 'Straße', 'İstanbul', 'ğüşöç'];
const EMOJI = ['😀', '😂', '🥲', '👍', '👍🏻', '👍🏿', '❤️', '🔥', '🍕', '🚀', '🎉', '👨‍👩‍👧‍👦', '👩‍💻', '🏳️‍🌈',
  '🇯🇵', '🇫🇷', '✨', '🤖', '🧠', '☕', '✅', '⚠️', '👋🏽'];
const IDENTS = ['value', 'index', 'result', 'buffer', 'config', 'tokens', 'model', 'weights', 'count', 'offset', 'node',
  'items', 'cache', 'logits', 'hidden', 'layer', 'state', 'error', 'options', 'callback'];

function pick<T>(rand: () => number, items: readonly T[] | string): T {
  return items[Math.floor(rand() * items.length)] as T;
}

function madeUpWord(rand: () => number): string {
  let w = '';
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) w += pick<string>(rand, SYLLABLES);
  return w;
}

function proseParagraph(rand: () => number): string {
  const sentences: string[] = [];
  const count = 2 + Math.floor(rand() * 5);
  for (let s = 0; s < count; s++) {
    const words: string[] = [];
    const n = 5 + Math.floor(rand() * 18);
    for (let i = 0; i < n; i++) {
      const r = rand();
      let w = r < 0.78 ? pick<string>(rand, WORDS) : r < 0.9 ? madeUpWord(rand) : r < 0.95
        ? pick<string>(rand, CONTRACTIONS) : String(Math.floor(rand() * (r < 0.975 ? 100 : 1e6)));
      if (i === 0 || rand() < 0.05) w = w[0]!.toUpperCase() + w.slice(1);
      if (i > 0 && i < n - 1 && rand() < 0.08) w += ',';
      words.push(w);
    }
    sentences.push(words.join(' ') + pick<string>(rand, PUNCT));
  }
  return sentences.join(rand() < 0.9 ? ' ' : '  ') + '\n\n';
}

function codeBlock(rand: () => number): string {
  const lines: string[] = [];
  const fn = pick<string>(rand, IDENTS) + madeUpWord(rand).replace(/^./, (c) => c.toUpperCase());
  if (rand() < 0.5) {
    lines.push(`export function ${fn}(${pick<string>(rand, IDENTS)}, ${pick<string>(rand, IDENTS)}) {`);
    const n = 2 + Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) {
      const a = pick<string>(rand, IDENTS), b = pick<string>(rand, IDENTS);
      const indent = '  '.repeat(1 + Math.floor(rand() * 3));
      lines.push(rand() < 0.5 ? `${indent}const ${a}${i} = ${b}.map((x) => x * ${Math.floor(rand() * 100)});`
        : `${indent}if (${a} >= ${b}.length && !${a}) { return ${b}[${i}] ?? null; } // ${pick<string>(rand, WORDS)}`);
    }
    lines.push('}');
  } else {
    lines.push(`def ${fn.toLowerCase()}(self, ${pick<string>(rand, IDENTS)}=None):`);
    lines.push(`    """${pick<string>(rand, WORDS)} ${pick<string>(rand, WORDS)} ${madeUpWord(rand)}."""`);
    const n = 2 + Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) {
      const a = pick<string>(rand, IDENTS);
      lines.push(rand() < 0.5 ? `    for ${a} in range(${Math.floor(rand() * 64)}):\n        self.${a} += ${a} ** 2`
        : `    ${a}_${i} = {"${pick<string>(rand, IDENTS)}": ${rand().toFixed(4)}, 'k': [${i}, ${i + 1}]}\t# ${madeUpWord(rand)}`);
    }
    lines.push(`    return ${pick<string>(rand, IDENTS)}`);
  }
  return lines.join(rand() < 0.8 ? '\n' : '\r\n') + '\n\n';
}

function jsonValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 2 || r < 0.3) return Math.floor(rand() * 100000) / (rand() < 0.5 ? 1 : 100);
  if (r < 0.55) return rand() < 0.7 ? `${pick<string>(rand, WORDS)} ${madeUpWord(rand)}` : pick<string>(rand, SCRIPT_WORDS);
  if (r < 0.62) return rand() < 0.5 ? null : rand() < 0.5;
  if (r < 0.8) return Array.from({ length: 1 + Math.floor(rand() * 4) }, () => jsonValue(rand, depth + 1));
  const obj: Record<string, unknown> = {};
  const n = 1 + Math.floor(rand() * 5);
  for (let i = 0; i < n; i++) obj[pick<string>(rand, IDENTS) + (rand() < 0.3 ? `_${i}` : '')] = jsonValue(rand, depth + 1);
  return obj;
}

function nonLatinBlock(rand: () => number): string {
  const parts: string[] = [];
  const n = 8 + Math.floor(rand() * 20);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.35) {
      let s = '';
      const len = 2 + Math.floor(rand() * 12);
      for (let k = 0; k < len; k++) s += pick<string>(rand, CJK);
      parts.push(s + (rand() < 0.5 ? '，' : '。'));
    } else if (r < 0.5) {
      let s = '';
      const len = 2 + Math.floor(rand() * 10);
      for (let k = 0; k < len; k++) s += pick<string>(rand, KANA);
      parts.push(s + '、');
    } else if (r < 0.85) {
      parts.push(' ' + pick<string>(rand, SCRIPT_WORDS));
    } else {
      parts.push(' ' + pick<string>(rand, EMOJI) + (rand() < 0.5 ? pick<string>(rand, EMOJI) : ''));
    }
  }
  return parts.join('') + '\n';
}

/**
 * A deterministic mixed corpus of at least `targetBytes` UTF-8 bytes: prose (~50%), code,
 * JSON, non-Latin scripts and emoji, in blocks chosen by the seeded PRNG.
 */
export function generateMixedCorpus(targetBytes: number, seed = 20240601): string {
  const rand = seededRandom(seed);
  const blocks: string[] = [];
  let bytes = 0;
  while (bytes < targetBytes) {
    const r = rand();
    const block = r < 0.5 ? proseParagraph(rand) : r < 0.68 ? codeBlock(rand)
      : r < 0.82 ? JSON.stringify(jsonValue(rand, 0), null, rand() < 0.5 ? 2 : 4) + '\n'
      : nonLatinBlock(rand);
    blocks.push(block);
    bytes += Buffer.byteLength(block, 'utf8');
  }
  return blocks.join('');
}

interface Encoder {
  name: string;
  encode: (text: string) => ArrayLike<number>;
  dispose?: () => void;
}

async function peerEncoders(): Promise<Encoder[]> {
  const peers: Encoder[] = [];
  try {
    const tiktoken = await import('tiktoken');
    const enc = tiktoken.get_encoding('gpt2');
    peers.push({ name: 'tiktoken (WASM)', encode: (t) => enc.encode(t), dispose: () => enc.free() });
  } catch (e) {
    process.emitWarning(`tiktoken unavailable: ${(e as Error).message}`);
  }
  try {
    const { Tiktoken } = await import('js-tiktoken/lite');
    const ranks = (await import('js-tiktoken/ranks/r50k_base')).default;
    const enc = new Tiktoken(ranks);
    peers.push({ name: 'js-tiktoken', encode: (t) => enc.encode(t) });
  } catch (e) {
    process.emitWarning(`js-tiktoken unavailable: ${(e as Error).message}`);
  }
  try {
    const gpt = await import('gpt-tokenizer/encoding/r50k_base');
    peers.push({ name: 'gpt-tokenizer', encode: (t) => gpt.encode(t) });
  } catch (e) {
    process.emitWarning(`gpt-tokenizer unavailable: ${(e as Error).message}`);
  }
  return peers;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Seconds of wall time and of this process's CPU time one call takes. */
function timeOnce(fn: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

/**
 * Encodes one generated corpus with our tokenizer and each installed peer and checks each
 * peer's token count against ours. Every encoder gets a warm-up pass; then the timed passes go
 * round-robin (ours, peer 1, peer 2, …, ours, …) so that a busy machine slows all of them alike.
 * Reported: the median over `repeats` passes and the spread (max - min) / median.
 */
export async function runTokenizerBench(opts: { corpusBytes?: number; repeats?: number; tokenizerDir?: string } = {})
  : Promise<TokenizerBenchRow[]> {
  const corpusBytes = opts.corpusBytes ?? 10 * 1024 * 1024;
  const repeats = opts.repeats ?? 5;
  const dir = opts.tokenizerDir ?? DEFAULT_TOKENIZER_DIR;
  const corpus = generateMixedCorpus(corpusBytes);
  const megabytes = Buffer.byteLength(corpus, 'utf8') / 1e6;
  const ours = Tokenizer.fromDirSync(dir);
  const encoders: Encoder[] = [{ name: 'gpt-neo-node', encode: (t) => ours.encode(t) }, ...await peerEncoders()];
  const tokens = encoders.map((enc) => enc.encode(corpus).length); // warm-up (JIT, caches)
  const wall: number[][] = encoders.map(() => []);
  const cpu: number[][] = encoders.map(() => []);
  for (let r = 0; r < repeats; r++) {
    encoders.forEach((enc, i) => {
      const t = timeOnce(() => enc.encode(corpus));
      wall[i]!.push(megabytes / t.wall);
      cpu[i]!.push(megabytes / t.cpu);
    });
  }
  for (const enc of encoders) enc.dispose?.();
  return encoders.map((enc, i) => {
    const mid = median(wall[i]!);
    const row: TokenizerBenchRow = {
      name: enc.name, mbPerSec: mid, spread: (Math.max(...wall[i]!) - Math.min(...wall[i]!)) / mid,
      cpuMbPerSec: median(cpu[i]!), tokens: tokens[i]!,
    };
    if (i > 0) row.tokenDiff = tokens[i]! - tokens[0]!;
    return row;
  });
}

/**
 * Milliseconds `Tokenizer.fromDirSync(dir)` takes: `cold` in a fresh Node process (nothing
 * compiled yet, files in the page cache), `warm` when repeated in this process. Medians of `runs`.
 */
export function measureLoadMs(dir: string, runs = 5): { cold: number; warm: number } {
  const moduleUrl = new URL('../tokenizer/index.js', import.meta.url).href;
  const script = `const { Tokenizer } = await import(${JSON.stringify(moduleUrl)});
const t0 = process.hrtime.bigint(); Tokenizer.fromDirSync(${JSON.stringify(dir)});
process.stdout.write(String(Number(process.hrtime.bigint() - t0) / 1e6));`;
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    cold.push(Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })));
    const t0 = process.hrtime.bigint();
    Tokenizer.fromDirSync(dir);
    warm.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { cold: median(cold), warm: median(warm) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const mb = Number(process.argv[2] ?? 10);
  const repeats = Number(process.argv[3] ?? 5);
  const dir = DEFAULT_TOKENIZER_DIR;
  const rows = await runTokenizerBench({ corpusBytes: Math.round(mb * 1024 * 1024), repeats });
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}, ${new Date().toISOString()}`);
  console.log(`corpus: ${mb} MiB generated (seed 20240601), a warm-up then ${repeats} round-robin passes per encoder, single thread`);
  const load = measureLoadMs(dir);
  console.log(`load (fromDirSync, vocab.json + merges.txt): ${load.cold.toFixed(1)} ms in a fresh process, ${load.warm.toFixed(1)} ms repeated (medians of 5)`);
  console.log('| encoder | MB/s (median, wall) | spread | MB/s (median, CPU time) | tokens | ours is faster by |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const base = rows[0]!.mbPerSec;
  for (const r of rows) {
    const diff = r.tokenDiff === undefined ? '' : r.tokenDiff === 0 ? ' (same)' : ` (${r.tokenDiff > 0 ? '+' : ''}${r.tokenDiff})`;
    console.log(`| ${r.name} | ${r.mbPerSec.toFixed(2)} | ${(r.spread * 100).toFixed(1)}% | ${r.cpuMbPerSec.toFixed(2)} | ${r.tokens}${diff} | ${(base / r.mbPerSec).toFixed(2)}x |`);
  }
}
