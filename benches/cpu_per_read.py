"""Gateway CPU per synced read once every first pass is over, for comparing builds or allocators.

`python3 benches/cpu_per_read.py <nexus binary> [library to preload into the gateway]`: starts
`nexus sandbox` (its CRM limits off) and `nexus demo` on it (SQLite, the gateway's CRM limiting
off), waits until the gateway has used under 50 ms of CPU in 5 s, then posts
`contacts(first: 100)` (every record SYNCED) from 16 keep-alive connections for 20 s and prints the
requests, the gateway's user + system CPU per request and its peak RSS (VmHWM). The standard
library only: no load tool needs installing. `cargo bench --bench reads` gives the rates.
"""
import http.client, json, os, subprocess, sys, tempfile, threading, time, urllib.request

binary, preload = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
SECONDS, THREADS = 20, 16
QUERY = json.dumps({"query": "{ contacts(first: 100) { nodes { id name email source } } }"}).encode()

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0

def hwm(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmHWM:"):
            return int(l.split()[1]) / 1024

env = dict(os.environ, RUST_LOG="warn")
env.pop("DATABASE_URL", None)
sandbox = subprocess.Popen([binary, "sandbox", "--port", "0"], stdout=subprocess.PIPE, env=env)
origin = sandbox.stdout.readline().decode().strip().rsplit(" ", 1)[-1]
for p in ["hubspot", "salesforce"]:
    urllib.request.urlopen(urllib.request.Request(origin + "/_sandbox/limits", json.dumps({"provider": p, "enforce": False}).encode(), {"content-type": "application/json"}))
d = tempfile.mkdtemp()
genv = dict(env, NEXUS_PROVIDERS__HUBSPOT__RATE_LIMITS="false", NEXUS_PROVIDERS__SALESFORCE__RATE_LIMITS="false")
if preload:
    genv["LD_PRELOAD"] = preload
gw = subprocess.Popen([binary, "demo", "--port", "0", "--sandbox-url", origin, "--data-dir", d], env=genv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while not (os.path.exists(d + "/gateway-url") and open(d + "/gateway-url").read().strip()):
        time.sleep(0.2)
    url = open(d + "/gateway-url").read().strip()
    key = open(d + "/demo-api-key").read().strip()
    host = url.split("//")[1]
    # Until the gateway is idle: every first pass over.
    while True:
        c = cpu(gw.pid); time.sleep(5)
        if cpu(gw.pid) - c < 0.05:
            break
    def one(conn):
        conn.request("POST", "/graphql", QUERY, {"authorization": "Bearer " + key, "content-type": "application/json"})
        r = conn.getresponse(); body = r.read()
        assert r.status == 200 and b'"SYNCED"' in body and b'"errors"' not in body, body[:300]
    warm = http.client.HTTPConnection(host); one(warm)
    count = [0]; lock = threading.Lock(); deadline = time.time() + SECONDS
    def worker():
        conn = http.client.HTTPConnection(host); n = 0
        while time.time() < deadline:
            one(conn); n += 1
        with lock: count[0] += n
    c0 = cpu(gw.pid); t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(THREADS)]
    [t.start() for t in ts]; [t.join() for t in ts]
    used = cpu(gw.pid) - c0; el = time.time() - t0
    print(f"{preload or 'system'}: {count[0]} requests in {el:.1f} s, gateway CPU {used*1000/count[0]:.3f} ms a request, peak RSS {hwm(gw.pid):.1f} MiB")
finally:
    gw.kill(); sandbox.kill()
