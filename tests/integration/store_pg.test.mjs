// corrald on the PostgreSQL store (a private server from Debian's postgresql, tests/integration/
// pg.mjs): the store key and --store flag, the data living in the database rather than the state
// directory, hosts sharing one database (hosts table, heartbeat, the host of each board), 503
// store_unavailable while the server is down and recovery without a restart of corrald, and a
// server restarted mid-run losing no job and running none twice.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { api, eventsSince, startCorrald, startVboard, waitFor, waitJob } from "./lib.mjs";
import { startPostgres } from "./pg.mjs";

const MP = "mp";

describe("corrald on PostgreSQL", () => {
  let pg, vb;
  before(async () => {
    pg = startPostgres();
    vb = await startVboard("micropython");
  });
  after(async () => {
    await vb?.stop();
    await pg?.stop();
  });

  const board = () => ["--port", `${MP}=${vb.endpoint},family=micropython`];
  const online = (d) => waitFor(async () => (await api(d.url, "GET", `/api/v1/boards/${MP}`)).body.state === "online",
    15000, "board online");
  // waitJob, except that a 503 while the server restarts is "not yet", never an answer.
  const waitRecorded = (d, id) => waitFor(async () => {
    const r = await api(d.url, "GET", `/api/v1/jobs/${id}`);
    return r.status === 200 && !["queued", "running"].includes(r.body.state) && r.body;
  }, 60000, `job ${id} recorded as finished`);
  const post = (d, script, extra = {}) => api(d.url, "POST", `/api/v1/boards/${MP}/jobs`, { kind: "run", script, ...extra });

  test("the schema is migrated into the database: schema_version holds steps 1 to the latest", async () => {
    const url = pg.createDb("migrate");
    const d = await startCorrald({ args: ["--store", url] });
    try {
      const health = (await api(d.url, "GET", "/api/v1/health")).body;
      const steps = pg.psql("migrate", "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version").trim();
      assert.equal(steps, Array.from({ length: health.schema_version }, (_, i) => i + 1).join(","));
      assert.ok(health.schema_version >= 5, JSON.stringify(health));
    } finally {
      await d.stop();
    }
  });

  test("inventory and jobs live in the database: a corrald with another, empty state dir sees them", async () => {
    const url = pg.createDb("persist");
    const d1 = await startCorrald({ args: ["--store", url, ...board()] });
    let job;
    try {
      await online(d1);
      const r = await post(d1, "print('kept', 6 * 7)\n");
      assert.equal(r.status, 202, JSON.stringify(r.body));
      job = await waitJob(d1.url, r.body.id);
      assert.equal(job.state, "succeeded", JSON.stringify(job.error));
      assert.equal((await api(d1.url, "PATCH", `/api/v1/boards/${MP}`, { labels: ["pg", "wifi"] })).status, 200);
    } finally {
      await d1.stop();
    }
    const d2 = await startCorrald({ args: ["--store", url] }); // no --port: the board row is the database's
    try {
      const b = (await api(d2.url, "GET", `/api/v1/boards/${MP}`)).body;
      assert.deepEqual(b.labels, ["pg", "wifi"]);
      const again = (await api(d2.url, "GET", `/api/v1/jobs/${job.id}`)).body;
      assert.equal(again.state, "succeeded");
      assert.equal(again.result.stdout, "kept 42\r\n");
      assert.deepEqual(again.log, job.log);
    } finally {
      await d2.stop();
    }
  });

  test("the store key in corrald.conf selects PostgreSQL; a reload that changes it keeps the running store and says it needs a restart", async () => {
    const url = pg.createDb("conf");
    const dir = mkdtempSync(path.join(tmpdir(), "corral-conf-"));
    const conf = path.join(dir, "corrald.conf");
    writeFileSync(conf, `store = ${url}\n`);
    const d = await startCorrald({ args: ["--config", conf, ...board()] });
    try {
      await online(d);
      assert.equal(pg.psql("conf", "SELECT id FROM boards").trim(), MP);
      writeFileSync(conf, "store = sqlite\n");
      d.proc.kill("SIGHUP");
      await waitFor(() => /reload: store changed in the file; that takes a restart/.test(d.stderr()), 10000, "reload warning");
      // Still on PostgreSQL: what is written now lands in the database.
      const r = await api(d.url, "PATCH", `/api/v1/boards/${MP}`, { labels: ["reloaded"] });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(pg.psql("conf", `SELECT labels FROM boards WHERE id = '${MP}'`).trim(), '["reloaded"]');
    } finally {
      await d.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a store URL that is not postgresql:// is refused at start, naming the key", async () => {
    await assert.rejects(startCorrald({ args: ["--store", "mysql://localhost/corral"] }),
      /'store' must be sqlite or a postgresql:\/\/\.\.\. URL/);
  });

  test("an unreachable server at start: corrald does not start and says why", async () => {
    const gone = path.join(tmpdir(), "corral-no-such-pg-dir");
    await assert.rejects(startCorrald({ args: ["--store", `postgresql:///x?host=${encodeURIComponent(gone)}&user=corral`] }),
      /cannot open the store: cannot connect to PostgreSQL/);
  });

  test("a database of another application is refused untouched", async () => {
    const url = pg.createDb("foreign");
    pg.psql("foreign", "CREATE TABLE recipes (name TEXT)");
    await assert.rejects(startCorrald({ args: ["--store", url] }), /belongs to another application; refusing to touch it/);
    assert.equal(pg.psql("foreign", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim(), "1");
  });

  test("server down: the API answers 503 store_unavailable, the local console keeps working, and all works again once it is back, without a corrald restart", async () => {
    const url = pg.createDb("down");
    const d = await startCorrald({ args: ["--store", url, ...board()] });
    try {
      await online(d);
      pg.stopServer();
      try {
        // the board's console needs no store: open it, take the write lock, run a line
        const ws = new WebSocket(`${d.url.replace(/^http/, "ws")}/ws/v1/boards/${MP}/console?name=down`);
        let out = "";
        const msgs = [];
        ws.on("message", (data, bin) => { if (bin) out += data.toString("latin1"); else msgs.push(JSON.parse(data.toString())); });
        await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
        try {
          ws.send(JSON.stringify({ type: "take" }));
          await waitFor(() => msgs.find((m) => m.type === "lock" && m.writer === true), 15000, "the write lock with the store down");
          const at = out.length;
          ws.send(Buffer.from("print(6*7)\r"));
          await waitFor(() => /\r\n42\r\n/.test(out.slice(at)), 15000, "42 from the board with the store down");
        } finally {
          ws.close();
        }
        for (const [method, p, body] of [["GET", "/api/v1/jobs"], ["GET", "/api/v1/boards"],
          ["POST", `/api/v1/boards/${MP}/jobs`, { kind: "run", script: "print(1)\n" }], ["GET", "/api/v1/jobs/1"]]) {
          const r = await api(d.url, method, p, body);
          assert.equal(r.status, 503, `${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
          assert.equal(r.body.error.code, "store_unavailable");
        }
      } finally {
        pg.start();
      }
      await waitFor(async () => (await api(d.url, "GET", "/api/v1/jobs")).status === 200, 15000, "the store back");
      const r = await post(d, "print('after')\n");
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.equal((await waitJob(d.url, r.body.id)).result.stdout, "after\r\n");
    } finally {
      await d.stop();
    }
  });

  test("two corralds on one database register as two hosts; every board row names its host; the heartbeat restores a lost host row", async () => {
    const url = pg.createDb("hosts");
    const dir = mkdtempSync(path.join(tmpdir(), "corral-hosts-"));
    const hosts = [];
    try {
      for (const name of ["rack-a", "rack-b"]) {
        const conf = path.join(dir, `${name}.conf`);
        writeFileSync(conf, `store = ${url}\nhost_name = ${name}\nadvertise_url = http://${name}.example:7070/\n`);
        hosts.push(await startCorrald({ args: ["--config", conf, "--port", `${name}-b1=socket://127.0.0.1:1`] }));
      }
      const [a, b] = hosts;
      const list = (await api(a.url, "GET", "/api/v1/hosts")).body.hosts;
      assert.deepEqual(list.map((h) => [h.name, h.api_url, h.alive]),
        [["rack-a", "http://rack-a.example:7070/", true], ["rack-b", "http://rack-b.example:7070/", true]]);
      for (const h of list) assert.equal(h.version, (await api(a.url, "GET", "/api/v1/health")).body.version);
      const boards = Object.fromEntries((await api(b.url, "GET", "/api/v1/boards")).body.boards.map((x) => [x.id, x.host]));
      assert.equal(boards["rack-a-b1"], "rack-a");
      assert.equal(boards["rack-b-b1"], "rack-b");

      pg.psql("hosts", "DELETE FROM hosts WHERE name = 'rack-b'");
      assert.deepEqual((await api(a.url, "GET", "/api/v1/hosts")).body.hosts.map((h) => h.name), ["rack-a"]);
      await waitFor(async () => (await api(a.url, "GET", "/api/v1/hosts")).body.hosts.some((h) => h.name === "rack-b"),
        25000, "rack-b's heartbeat to write its row again");
      await waitFor(() => /host rack-b registered in the store/.test(b.stderr()), 5000, "the log line");
    } finally {
      for (const h of hosts) await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a host starting on a shared database leaves the other host's running job alone, and interrupts only its own", async () => {
    const url = pg.createDb("sweep");
    const dir = mkdtempSync(path.join(tmpdir(), "corral-sweep-"));
    const conf = (name) => {
      const f = path.join(dir, `${name}.conf`);
      writeFileSync(f, `store = ${url}\nhost_name = ${name}\n`);
      return f;
    };
    let a, b, killedState;
    try {
      a = await startCorrald({ args: ["--config", conf("rack-a"), ...board()] });
      await online(a);
      const long = await post(a, "import time\ntime.sleep(3)\nprint('done')\n");
      await waitFor(async () => (await api(a.url, "GET", `/api/v1/jobs/${long.body.id}`)).body.state === "running", 15000, "running");
      b = await startCorrald({ args: ["--config", conf("rack-b")] });
      assert.equal((await api(b.url, "GET", `/api/v1/jobs/${long.body.id}`)).body.state, "running");
      const j = await waitJob(a.url, long.body.id);
      assert.equal(j.state, "succeeded", JSON.stringify(j.error));
      assert.equal(j.result.stdout, "done\r\n");

      // rack-a dies with a job running; started again, it marks that job interrupted
      const again = await post(a, "import time\ntime.sleep(30)\n");
      await waitFor(async () => (await api(a.url, "GET", `/api/v1/jobs/${again.body.id}`)).body.state === "running", 15000, "running");
      await a.stop("SIGKILL");
      a = await startCorrald({ args: ["--config", conf("rack-a"), ...board()], stateDir: a.stateDir });
      killedState = a.stateDir;
      const k = (await api(b.url, "GET", `/api/v1/jobs/${again.body.id}`)).body;
      assert.equal(k.state, "interrupted");
      assert.equal(k.error.message, "corrald stopped while this job was running");
    } finally {
      await a?.stop();
      await b?.stop();
      rmSync(dir, { recursive: true, force: true });
      if (killedState) rmSync(killedState, { recursive: true, force: true });
    }
  });

  test("server restarted mid-run: every queued and running job runs exactly once and is recorded", async () => {
    const url = pg.createDb("restart");
    const d = await startCorrald({ args: ["--store", url, ...board()] });
    try {
      await online(d);
      const reset = await post(d, "import os\ntry:\n os.remove('runs.txt')\nexcept OSError:\n pass\n");
      assert.equal((await waitJob(d.url, reset.body.id)).state, "succeeded");
      const since = (await eventsSince(d.url, 0)).at(-1)?.seq ?? 0;
      const N = 6;
      const ids = [];
      for (let i = 0; i < N; i++) {
        const r = await post(d, `import time\nf = open('runs.txt', 'a')\nf.write('${i},')\nf.close()\ntime.sleep(0.4)\nprint('job ${i}')\n`);
        assert.equal(r.status, 202, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
      // "running" is a moment: polling GET /jobs/{id} for it missed it under load (job 0 ran its
      // 0.4 s while the other five were posted, and every poll said "succeeded"). The event
      // history keeps it, and says which jobs had ended when the server went away.
      const states = async () => (await eventsSince(d.url, since)).filter((e) => e.type === "job.state" && ids.includes(e.data.job));
      await waitFor(async () => (await states()).some((e) => e.data.job === ids[0] && e.data.state === "running"), 15000,
        "first job running (its job.state event)");
      const ended = (await states()).filter((e) => !["queued", "running"].includes(e.data.state)).map((e) => e.data.job);
      assert.ok(!ended.includes(ids[N - 1]), `jobs still running or queued when the server restarts (ended: ${ended})`);
      pg.restart(); // every connection is cut while jobs run and wait
      const done = [];
      for (const id of ids) done.push(await waitRecorded(d, id));
      done.forEach((j, i) => {
        assert.equal(j.state, "succeeded", `job ${j.id}: ${JSON.stringify(j.error)}`);
        assert.equal(j.result.stdout, `job ${i}\r\n`);
      });
      const count = await post(d, "print(open('runs.txt').read())\n");
      assert.equal((await waitJob(d.url, count.body.id)).result.stdout,
        Array.from({ length: N }, (_, i) => `${i},`).join("") + "\r\n", "each job ran once, in order");
      const listed = (await api(d.url, "GET", "/api/v1/jobs?limit=100")).body.jobs.map((j) => j.id).sort((a, b) => a - b);
      assert.deepEqual(listed, [reset.body.id, ...ids, count.body.id]);
    } finally {
      await d.stop();
    }
  });
});
