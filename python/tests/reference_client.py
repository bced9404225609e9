"""Drives the reference package's own managed Client (deeplake 4.7.4, in
its own virtualenv) against a server: argv = api_url, token, token without
OrgID. Prints one JSON line of what it saw; test_reference_client.py checks it."""

import json
import sys

from deeplake.managed import Client, TableError

url, token, no_org = sys.argv[1:4]
out = {}
c = Client(token=token, workspace_id="refws", api_url=url)
out["org"] = c.org_id
out["created"] = c.create_table("docs", {"title": "TEXT", "emb": "EMBEDDING(3)", "n": "INT64"})
out["again"] = c.create_table("docs", {"title": "TEXT"})
try:
    c.create_table("docs", {"title": "TEXT"}, if_not_exists=False)
except TableError as e:
    out["conflict"] = str(e)
c.query("INSERT INTO docs (title, emb, n) VALUES ('a', '{1,0,0}'::float4[], 1), ('b', '{0,1,0}'::float4[], 2)")
out["rows"] = c.query(
    "SELECT title, n, emb <#> $1::float4[] AS score FROM docs ORDER BY score DESC", ("{1,0,0}",)
)
out["builder"] = c.table("docs").select("title").where("n = $1", 2)()
out["tables"] = c.list_tables()
try:
    c.query("SELEC nonsense")
except TableError as e:
    out["bad_sql"] = str(e)
out["fallback_org"] = Client(token=no_org, workspace_id="refws", api_url=url).org_id
c.drop_table("docs")
c.drop_table("docs")  # if_exists=True: the 404 is "not found"
out["after_drop"] = c.list_tables()
print(json.dumps(out))
