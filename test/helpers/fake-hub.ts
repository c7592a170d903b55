/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 (node:http, ephemeral port) for the Hub client tests.
 *
 * Routes, as the real Hub serves them:
 *   GET  /api/models/{owner}/{name}/revision/{rev}   → { id, sha, siblings: [{ rfilename }] }
 *   HEAD|GET /{owner}/{name}/resolve/{rev}/{file}    → regular file: 200, ETag "<git sha1>", X-Repo-Commit
 *                                                      LFS file: 302 to /cdn-lfs/<sha256> (absolute URL) with
 *                                                      X-Linked-Etag "<sha256>", X-Linked-Size, X-Repo-Commit
 *   HEAD|GET /cdn-lfs/{sha256}                        → the LFS content (Range supported)
 * Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound) like the Hub's.
 * Faults can be armed per file: drop the connection mid-body, send corrupt bytes, ignore Range, stall.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  content: Buffer;
  /** Served like a Git LFS file (redirect to the CDN route, sha256 etag). */
  lfs?: boolean;
}

export interface FakeRepo {
  /** Commit sha that 'main' points to. */
  commit: string;
  files: Record<string, FakeFile>;
  /** Requires `Authorization: Bearer <hub token>`; otherwise 401. */
  private?: boolean;
  /** Listing is public, files need the token: otherwise 403 with X-Error-Code GatedRepo. */
  gated?: boolean;
}

export interface FakeHubOptions {
  repos: Record<string, FakeRepo>;
  /** The one token the hub accepts for private repos. */
  token?: string;
  /** Answer 404 (without X-Error-Code) on the API route, like a mirror that only serves files. */
  noApi?: boolean;
  /** Old repo id → new repo id; resolve requests get a relative 307 redirect, as for a renamed repo. */
  renamed?: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** The git blob id of a content: sha1("blob <size>\0" + content). */
export const gitBlobSha1 = (b: Buffer): string =>
  createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const randomCommit = (): string => randomBytes(20).toString('hex');

const DROP_DELAY_MS = 50;

interface Located { repoId: string; repo: FakeRepo; file: string; content: Buffer }

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** File name → [bytes to send before closing the connection, remaining times]. */
  readonly dropAfter = new Map<string, { bytes: number; times: number }>();
  /** File name → [bytes to send before going silent (connection left open), remaining times]. */
  readonly stallAfter = new Map<string, { bytes: number; times: number }>();
  /** File names served with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Serve 200 with the whole file even when a Range is asked. */
  ignoreRange = false;
  /** Accept requests and never answer. */
  stall = false;

  private constructor(private readonly server: http.Server, readonly url: string, private readonly opts: FakeHubOptions) {}

  static async start(opts: FakeHubOptions): Promise<FakeHub> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hub = new FakeHub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, opts);
    server.on('request', (req, res) => hub.handle(req, res));
    return hub;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests whose path starts with `prefix`. */
  requestsTo(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    this.requests.push({ method: req.method ?? '', path, headers: req.headers });
    if (this.stall) return;
    const parts = path.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] === 'api' && parts[1] === 'models' && parts[4] === 'revision' && req.method === 'GET') {
      return this.api(req, res, `${parts[2]}/${parts[3]}`, parts.slice(5).join('/'));
    }
    if (parts[0] === 'cdn-lfs' && parts.length === 2) {
      const found = this.findLfs(parts[1]);
      if (!found) return this.fail(res, 404, 'EntryNotFound');
      return this.send(req, res, found, { etag: `"${parts[1]}"` });
    }
    if (parts[2] === 'resolve' && parts.length >= 5) {
      return this.resolve(req, res, `${parts[0]}/${parts[1]}`, parts[3], parts.slice(4).join('/'));
    }
    this.fail(res, 404, null);
  }

  private fail(res: http.ServerResponse, status: number, errorCode: string | null): void {
    res.writeHead(status, errorCode ? { 'x-error-code': errorCode } : {});
    res.end(`error ${status}`);
  }

  /** The repo, or undefined after answering the error (404 unknown, 401 private without the token). */
  private authorizedRepo(req: http.IncomingMessage, res: http.ServerResponse, repoId: string): FakeRepo | undefined {
    const repo = this.opts.repos[repoId];
    if (!repo) {
      this.fail(res, 404, 'RepoNotFound');
      return undefined;
    }
    if (repo.private && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      this.fail(res, 401, null);
      return undefined;
    }
    return repo;
  }

  private api(req: http.IncomingMessage, res: http.ServerResponse, repoId: string, revision: string): void {
    if (this.opts.noApi) return this.fail(res, 404, null);
    const repo = this.authorizedRepo(req, res, repoId);
    if (!repo) return;
    if (revision !== 'main' && revision !== repo.commit) return this.fail(res, 404, 'RevisionNotFound');
    const body = JSON.stringify({ id: repoId, sha: repo.commit, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  }

  private resolve(req: http.IncomingMessage, res: http.ServerResponse, repoId: string, revision: string, file: string): void {
    const newId = this.opts.renamed?.[repoId];
    if (newId) {
      res.writeHead(307, { location: `/${newId}/resolve/${encodeURIComponent(revision)}/${file}` });
      return void res.end();
    }
    const repo = this.authorizedRepo(req, res, repoId);
    if (!repo) return;
    if (repo.gated && req.headers.authorization !== `Bearer ${this.opts.token}`) return this.fail(res, 403, 'GatedRepo');
    if (revision !== 'main' && revision !== repo.commit) return this.fail(res, 404, 'RevisionNotFound');
    const entry = repo.files[file];
    if (!entry) return this.fail(res, 404, 'EntryNotFound');
    if (entry.lfs) {
      const sha = sha256Hex(entry.content);
      res.writeHead(302, {
        location: `${this.url}/cdn-lfs/${sha}`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(entry.content.length),
        'x-repo-commit': repo.commit,
        etag: `W/"${gitBlobSha1(Buffer.from('pointer'))}"`,
      });
      return void res.end();
    }
    this.send(req, res, { repoId, repo, file, content: entry.content },
      { etag: `"${gitBlobSha1(entry.content)}"`, 'x-repo-commit': repo.commit });
  }

  private findLfs(sha: string): Located | undefined {
    for (const [repoId, repo] of Object.entries(this.opts.repos)) {
      for (const [file, entry] of Object.entries(repo.files)) {
        if (entry.lfs && sha256Hex(entry.content) === sha) return { repoId, repo, file, content: entry.content };
      }
    }
    return undefined;
  }

  /** Sends a file body with Range support and the armed faults. */
  private send(req: http.IncomingMessage, res: http.ServerResponse, at: Located, headers: Record<string, string>): void {
    let content = at.content;
    if (this.corrupt.has(at.file)) {
      content = Buffer.from(content);
      content[content.length >> 1] ^= 0xff;
    }
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range && !this.ignoreRange) {
      const start = Number(range[1]);
      if (start >= content.length) {
        res.writeHead(416, { 'content-range': `bytes */${content.length}` });
        return void res.end();
      }
      headers['content-range'] = `bytes ${start}-${content.length - 1}/${content.length}`;
      content = content.subarray(start);
      status = 206;
    }
    res.writeHead(status, { ...headers, 'content-length': String(content.length), 'accept-ranges': 'bytes' });
    if (req.method === 'HEAD') return void res.end();
    const drop = this.dropAfter.get(at.file);
    if (drop && drop.times > 0) {
      drop.times--;
      // Close a little after the bytes left: a fetch body that errors drops the chunks it has queued but not
      // yet handed out, so closing at once could make the client see fewer bytes (or none) than were sent.
      res.write(content.subarray(0, drop.bytes), () => setTimeout(() => res.socket?.destroy(), DROP_DELAY_MS));
      return;
    }
    const stall = this.stallAfter.get(at.file);
    if (stall && stall.times > 0) {
      stall.times--;
      res.write(content.subarray(0, stall.bytes));
      return;
    }
    res.end(content);
  }
}

/** Size of the fake weights file: large enough to be cut mid-body, small enough to stay fast. */
export const FAKE_WEIGHTS_SIZE = 300_000;

/**
 * A repo shaped like a GPT-Neo checkpoint: config.json and tokenizer files as regular git files,
 * model.safetensors (random bytes) as an LFS file. `files` adds, replaces, or (with null) removes files.
 */
export function tinyModelRepo(files: Record<string, FakeFile | null> = {}, extra: Partial<FakeRepo> = {}): FakeRepo {
  const text = (s: string): FakeFile => ({ content: Buffer.from(s) });
  const all: Record<string, FakeFile | null> = {
    'config.json': text(JSON.stringify({ model_type: 'gpt_neo', hidden_size: 8, num_layers: 2 })),
    'vocab.json': text(JSON.stringify({ a: 0, b: 1, ab: 2 })),
    'merges.txt': text('#version: 0.2\na b\n'),
    'tokenizer.json': text(JSON.stringify({ version: '1.0', model: { type: 'BPE' } })),
    'model.safetensors': { content: randomBytes(FAKE_WEIGHTS_SIZE), lfs: true },
    'README.md': text('# tiny\n'),
    ...files,
  };
  const kept = Object.fromEntries(Object.entries(all).filter((e): e is [string, FakeFile] => e[1] !== null));
  return { commit: randomCommit(), files: kept, ...extra };
}
