#!/usr/bin/env python3
"""Soak test of a running `dsla serve`: a mixed load for a fixed time, checked and measured.

Workers loop over a mix of requests: streamed and non-streamed completions, chat (when the model has a chat
template), streams abandoned after two chunks, non-streamed requests abandoned after half a second, and bad
requests from the fault list (each must get its 4xx). A monitor samples /health (status and latency) and the
server's RSS every 2 s. Writes OUT/soak.jsonl (every request and sample), OUT/summary.json and OUT/soak.png.
Exit status 1 when the server died, /health failed, or a request got an outcome other than the expected one.

Usage: soak.py --port P --pid PID --seconds S --out DIR [--workers 8] [--max-tokens 48]
"""
import argparse
import http.client
import json
import random
import socket
import threading
import time
from pathlib import Path

BAD = [  # (body, expected status): the fault list's request cases
    ({"prompt": "a", "max_tokens": 2**63 - 1}, 400),
    ({"prompt": "a", "max_tokens": 1.5}, 400),
    ({"prompt": "a", "temperature": 3}, 400),
    ({"prompt": "a", "model": "no-such-model"}, 404),
    ({"prompt": [1, 10**9]}, 400),
    ({"prompt": "a", "logprobs": 21}, 400),
    ({"prompt": "a", "presence_penalty": 0.5}, 400),
    (None, 400),  # malformed JSON
]
PROMPTS = ["Once upon a time", "The little dog", "Lily wanted to", "Question: What is the capital of France?\nAnswer:",
           "Write a short story about a robot who learns to paint. " * 8]


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Soak:
    def __init__(self, a):
        self.a, self.lock, self.records, self.stop = a, threading.Lock(), [], time.time() + a.seconds
        self.chat = True

    def log(self, rec):
        with self.lock:
            self.records.append(rec)

    def request(self, path, body, timeout=120, read_chunks=None):
        c = http.client.HTTPConnection("127.0.0.1", self.a.port, timeout=timeout)
        data = b"{oops" if body is None else json.dumps(body).encode()
        c.request("POST", path, data, {"Content-Type": "application/json"})
        r = c.getresponse()
        if read_chunks is not None:  # read a little of the stream, then leave
            for _ in range(read_chunks):
                r.readline()
            c.sock.shutdown(socket.SHUT_RDWR)
            c.close()
            return r.status, b""
        payload = r.read()
        c.close()
        return r.status, payload

    def one(self, rng):
        kind = rng.choices(["stream", "plain", "chat", "abandon_stream", "abandon_plain", "bad"],
                           [35, 25, 15, 5, 5, 15])[0]
        if kind == "chat" and not self.chat:
            kind = "plain"
        body = {"prompt": rng.choice(PROMPTS), "max_tokens": rng.randint(4, self.a.max_tokens),
                "temperature": rng.choice([0.0, 0.7, 1.0]), "seed": rng.randint(0, 1000)}
        want, path, chunks = 200, "/v1/completions", None
        if kind == "stream":
            body["stream"] = True
        elif kind == "chat":
            path = "/v1/chat/completions"
            body = {"messages": [{"role": "user", "content": body.pop("prompt")}], **body}
        elif kind == "abandon_stream":
            body["stream"], chunks = True, 2
        elif kind == "abandon_plain":
            body["max_tokens"] = self.a.max_tokens
        elif kind == "bad":
            body, want = rng.choice(BAD)
        t0 = time.time()
        try:
            if kind == "abandon_plain":
                s = socket.create_connection(("127.0.0.1", self.a.port))
                data = json.dumps(body).encode()
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
                time.sleep(0.5)
                s.close()
                status = 200
            else:
                status, payload = self.request(path, body, read_chunks=chunks)
                if kind == "chat" and status == 400 and b"/v1/completions" in payload:
                    self.chat, want = False, 400  # no usable chat template: stop sending chat
                if status == 200 and kind in ("stream",) and b"[DONE]" not in payload:
                    status = -2  # a stream that did not end properly
            error = ""
        except Exception as e:  # a transport failure is an unexpected outcome
            status, error = -1, repr(e)
        self.log({"t": t0 - self.start, "kind": kind, "status": status, "want": want,
                  "latency_s": time.time() - t0, "ok": status == want, "error": error})

    def worker(self, seed):
        rng = random.Random(seed)
        while time.time() < self.stop:
            self.one(rng)

    def monitor(self):
        while time.time() < self.stop + 1:
            t0 = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.a.port, timeout=10)
                c.request("GET", "/health")
                status = c.getresponse().status
                c.close()
            except Exception:
                status = -1
            self.log({"t": t0 - self.start, "kind": "sample", "health": status,
                      "health_ms": 1000 * (time.time() - t0), "rss_kb": rss_kb(self.a.pid)})
            time.sleep(2)

    def run(self):
        self.start = time.time()
        threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(self.a.workers)]
        threads.append(threading.Thread(target=self.monitor))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.records


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def summarise(records, pid, out):
    reqs = [r for r in records if r["kind"] != "sample"]
    samples = [r for r in records if r["kind"] == "sample"]
    rss = [s["rss_kb"] for s in samples if s["rss_kb"]]
    by_kind = {}
    for r in reqs:
        k = by_kind.setdefault(r["kind"], {"requests": 0, "unexpected": 0, "latencies": []})
        k["requests"] += 1
        k["unexpected"] += 0 if r["ok"] else 1
        k["latencies"].append(r["latency_s"])
    for k in by_kind.values():
        lat = k.pop("latencies")
        k["p50_s"], k["p99_s"] = pct(lat, 0.5), pct(lat, 0.99)
    summary = {
        "requests": len(reqs), "unexpected": sum(0 if r["ok"] else 1 for r in reqs),
        "unexpected_examples": [r for r in reqs if not r["ok"]][:10], "by_kind": by_kind,
        "health_failures": sum(1 for s in samples if s["health"] != 200),
        "health_ms_max": max((s["health_ms"] for s in samples), default=None),
        "rss_mb_first": rss[0] / 1024 if rss else None, "rss_mb_max": max(rss) / 1024 if rss else None,
        "rss_mb_last": rss[-1] / 1024 if rss else None, "server_alive": rss_kb(pid) is not None}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    with open(out / "soak.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    try:
        plot(reqs, samples, out / "soak.png")
    except ImportError:
        print("[soak] matplotlib not available: no plot")
    return summary


def plot(reqs, samples, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(16, 4))
    ax[0].plot([s["t"] for s in samples], [(s["rss_kb"] or 0) / 1024 for s in samples])
    ax[0].set(title="server RSS", xlabel="s", ylabel="MB")
    ax[1].plot([s["t"] for s in samples], [s["health_ms"] for s in samples])
    ax[1].set(title="/health latency", xlabel="s", ylabel="ms")
    ok = [r for r in reqs if r["kind"] in ("stream", "plain", "chat")]
    windows = {}
    for r in ok:
        windows.setdefault(int(r["t"] // 30), []).append(r["latency_s"])
    ks = sorted(windows)
    ax[2].plot([30 * k for k in ks], [pct(windows[k], 0.99) for k in ks], marker="o", label="p99")
    ax[2].plot([30 * k for k in ks], [pct(windows[k], 0.5) for k in ks], marker="o", label="p50")
    ax[2].set(title="request latency per 30 s", xlabel="s", ylabel="s")
    ax[2].legend()
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    summary = summarise(Soak(a).run(), a.pid, a.out)
    print(json.dumps({k: v for k, v in summary.items() if k != "unexpected_examples"}, indent=1))
    bad = summary["unexpected"] or summary["health_failures"] or not summary["server_alive"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
