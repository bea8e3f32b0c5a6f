"""Creates the benchmark's plans and 10,000 keys through Turnout's admin API
and writes the same keys as nginx and HAProxy maps, so every gateway looks
up the same 10,000 keys."""
import http.client, json, sys

out, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
port = int(sys.argv[4]) if len(sys.argv) > 4 else 8080
conn = http.client.HTTPConnection("127.0.0.1", port)

def post(path, body):
    conn.request("POST", path, json.dumps(body), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    if resp.status != 201:
        sys.exit(f"{path}: {resp.status} {data}")
    return data

post("/admin/v1/plans", {"name": "bulk", "rate_per_second": 1000000, "burst": 1000000, "scopes": ["bench"]})
post("/admin/v1/plans", {"name": "flood", "rate_per_second": 100, "burst": 100, "scopes": ["bench"]})
keys = [post("/admin/v1/keys", {"name": f"k{i}", "plan": "bulk"})["key"] for i in range(count)]
flood = post("/admin/v1/keys", {"name": "flood", "plan": "flood"})["key"]

with open(f"{out}/keys.txt", "w") as f:
    f.write("\n".join(keys) + "\n")
with open(f"{out}/flood.txt", "w") as f:
    f.write(flood + "\n")
with open(f"{out}/nginx-keys.map", "w") as f:
    f.writelines(f"{k} bulk;\n" for k in keys)
    f.write(f"{flood} flood;\n")
with open(f"{out}/haproxy-keys.map", "w") as f:
    f.writelines(f"{k} 1000000\n" for k in keys)
    f.write(f"{flood} 100\n")
print(f"created {len(keys)} keys and one flood key")
