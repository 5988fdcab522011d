#!/usr/bin/env python3
"""Stub dine nodes for bench/health: one process listening on N loopback
ports, each answering /healthz, /readyz and a realistic /metrics (tens of KB:
many routes, histograms, pools, workers) as a dine node would. Counters grow
between scrapes so the probes compute rates. Stops after --seconds."""
import argparse, asyncio, random, time

def metrics_body(tick):
    lines = []
    routes = [f"/v1/route{i}/{{id}}" for i in range(24)]
    bounds = ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    for w in range(2):
        lines.append(f'dine_event_loop_lag_seconds{{worker="{w}"}} {random.random() / 1000:.6f}')
        for p in ("pg-order-0", "pg-order-1", "pg-order-2", "pg-order-3"):
            lines.append(f'dine_pg_pool_connections{{pool="{p}",worker="{w}"}} 4')
            lines.append(f'dine_pg_pool_idle{{pool="{p}",worker="{w}"}} 3')
            lines.append(f'dine_pg_pool_waiting{{pool="{p}",worker="{w}"}} 0')
    for r in routes:
        n = 1000 + tick * 7
        for status in ("200", "201", "404", "503"):
            lines.append(f'dine_http_requests_total{{route="{r}",method="POST",status="{status}"}} {n if status < "4" else 3}')
        acc = 0
        for b in bounds:
            acc = min(n, acc + n // len(bounds) + 1)
            lines.append(f'dine_http_request_duration_seconds_bucket{{route="{r}",method="POST",le="{b}"}} {n if b == "+Inf" else acc}')
        lines.append(f'dine_http_request_duration_seconds_sum{{route="{r}",method="POST"}} {n * 0.004:.3f}')
        lines.append(f'dine_http_request_duration_seconds_count{{route="{r}",method="POST"}} {n}')
    return ("\n".join(lines) + "\n").encode()

async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--first-port", type=int, required=True)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    start = time.time()
    bodies = {}

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                tick = int(time.time() - start)
                if path == b"/metrics":
                    body = bodies.get(tick)
                    if body is None:
                        body = bodies[tick] = metrics_body(tick)
                    ctype = b"text/plain; version=0.0.4"
                elif path == b"/readyz":
                    body, ctype = b'{"status":"ready"}', b"application/json"
                else:
                    body, ctype = b'{"status":"ok","workers":2}', b"application/json"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: " +
                             str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", a.first_port + i) for i in range(a.count)]
    print(f"stub: {a.count} nodes on 127.0.0.1:{a.first_port}..{a.first_port + a.count - 1}, "
          f"/metrics {len(metrics_body(0))} bytes", flush=True)
    await asyncio.sleep(a.seconds)
    for s in servers:
        s.close()

asyncio.run(main())
