"""The fetch floor: GET and decode every task page, nothing else (requests + the client's
JSON decoder).

`python -m bench.fetch '{"api_url": ..., "token": ..., "org": ..., "handles": [...],
"page_size": N}'` prints one JSON line: {"seconds", "pages", "tasks", "bytes"}. Same
paging as the client (page 1, 2, ... until a short page), one keep-alive session.
"""

from __future__ import annotations

import json
import sys
import time

import requests

from unpod_etl.source.rawjson import decode_json_object


def fetch_all(api_url: str, token: str, org: str, handles: list[str], page_size: int) -> dict:
    session = requests.Session()
    headers = {"Authorization": f"Token {token}", "Org-Handle": org, "Accept": "application/json"}
    pages = tasks = size = 0
    start = time.perf_counter()
    for handle in handles:
        url = f"{api_url}/api/v2/platform/agents/{handle}/tasks/"
        number, seen = 1, 0
        while True:
            resp = session.get(
                url, params={"page": number, "page_size": page_size}, headers=headers, timeout=60
            )
            resp.raise_for_status()
            raw = resp.content
            body = decode_json_object(raw)  # the client's own decoder: same cost per page
            assert body is not None
            data = body["data"]
            pages, tasks, size = pages + 1, tasks + len(data), size + len(raw)
            seen += len(data)
            if len(data) < page_size or seen >= body["count"]:  # the client's stop rules
                break
            number += 1
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pages": pages, "tasks": tasks, "bytes": size}


def main() -> None:
    spec = json.loads(sys.argv[1])
    print(json.dumps(fetch_all(**spec)))


if __name__ == "__main__":
    main()
