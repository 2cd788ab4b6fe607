"""`python -m bench.measure OUT ERR -- CMD...`: run CMD, print {"seconds", "maxrss_kb", "rc"}.

Why a launcher: on Linux a child's ru_maxrss starts from the RSS of the process that spawned it
(the address space it leaves at exec counts), so a child spawned straight from the benchmark
process would report the benchmark's own memory (the fake API's caches). Spawned from this small
process instead, the figure is the command's own, plus at most this launcher's ~10 MB.
Standard library only, and as few imports as possible.
"""

import json
import os
import sys
import time


def main() -> None:
    out, err, sep, *cmd = sys.argv[1:]
    assert sep == "--" and cmd
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        actions = [
            (os.POSIX_SPAWN_DUP2, stdout.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, stderr.fileno(), 2),
        ]
        start = time.perf_counter()
        pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "maxrss_kb": usage.ru_maxrss,
        "rc": os.waitstatus_to_exitcode(status),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
