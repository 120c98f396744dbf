// The virtual board's flash filesystem, owned by the main thread: survives interpreter restarts (soft/hard
// reset, Ctrl-C recovery) and, when a state dir is given, vboard restarts (mirrored file by file).
import fs from "node:fs";
import path from "node:path";

/** Normalise a board path: absolute, no "." / ".." / double slashes. Returns null for "/" itself. */
export function normPath(p, cwd = "/") {
  const parts = [];
  for (const seg of (p.startsWith("/") ? p : `${cwd}/${p}`).split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return parts.length ? "/" + parts.join("/") : null;
}

export class FlashStore {
  /** dir: host directory mirroring the board's "/" (created if missing), or null for memory only. */
  constructor(dir = null) {
    this.dir = dir;
    this.entries = new Map(); // "/a/b" -> {dir: true} | {data: Buffer}
    if (dir) {
      fs.mkdirSync(dir, { recursive: true });
      this._load(dir, "");
    }
  }

  _load(hostDir, boardDir) {
    for (const ent of fs.readdirSync(hostDir, { withFileTypes: true })) {
      const bp = `${boardDir}/${ent.name}`;
      const hp = path.join(hostDir, ent.name);
      if (ent.isDirectory()) {
        this.entries.set(bp, { dir: true });
        this._load(hp, bp);
      } else if (ent.isFile()) {
        this.entries.set(bp, { data: fs.readFileSync(hp) });
      }
    }
  }

  _host(p) {
    return path.join(this.dir, ...p.split("/").filter(Boolean));
  }

  /** Files and dirs in creation order (parents first), for restoring into a fresh interpreter. */
  snapshot() {
    return [...this.entries].sort((a, b) => a[0].split("/").length - b[0].split("/").length);
  }

  get count() {
    return [...this.entries.values()].filter((e) => !e.dir).length;
  }

  /** Apply one change reported by the interpreter: {op: "write"|"mkdir"|"unlink"|"rmdir"|"rename", path, to, data}. */
  apply(ch) {
    const p = ch.path;
    if (!p) return;
    switch (ch.op) {
      case "write":
        this.entries.set(p, { data: Buffer.from(ch.data) });
        if (this.dir) {
          fs.mkdirSync(path.dirname(this._host(p)), { recursive: true });
          const tmp = this._host(p) + ".vboard-tmp";
          fs.writeFileSync(tmp, Buffer.from(ch.data));
          fs.renameSync(tmp, this._host(p));
        }
        return;
      case "mkdir":
        this.entries.set(p, { dir: true });
        if (this.dir) fs.mkdirSync(this._host(p), { recursive: true });
        return;
      case "unlink":
      case "rmdir":
        for (const k of [...this.entries.keys()]) if (k === p || k.startsWith(p + "/")) this.entries.delete(k);
        if (this.dir) fs.rmSync(this._host(p), { recursive: true, force: true });
        return;
      case "rename": {
        const to = ch.to;
        if (!to) return;
        for (const [k, v] of [...this.entries]) {
          if (k === p || k.startsWith(p + "/")) {
            this.entries.delete(k);
            this.entries.set(to + k.slice(p.length), v);
          }
        }
        if (this.dir) {
          fs.mkdirSync(path.dirname(this._host(to)), { recursive: true });
          fs.rmSync(this._host(to), { recursive: true, force: true });
          if (fs.existsSync(this._host(p))) fs.renameSync(this._host(p), this._host(to));
        }
        return;
      }
    }
  }
}
