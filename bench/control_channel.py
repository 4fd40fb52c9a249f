"""Benchmark: what the signed control channel costs.

    .venv/bin/python bench/control_channel.py [--seconds 60]

Starts `orrery control-plane` (HTTPS, sealed keys) and one TLS `orrery cell`
polling it every second (the tenancy e2e stack; target/debug/orrery unless
ORRERY_BIN says otherwise), provisions one account with a namespace, an API
key and a generated CA, then measures over `--seconds` the CPU both
processes spend while nothing changes (each poll: TLS, the credential
lookup, one signed "unchanged" answer, its verification), and the sizes of
a whole signed snapshot and of an "unchanged" answer. Prints JSON.
"""

import argparse
import base64
import json
import os
import ssl
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from tenancy_stack import DOMAIN, Stack  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    with Stack().running() as stack:
        stack.start_control_plane()
        account = stack.signup("bench")
        stack.start_cell([f"*.{account.account['slug']}.{DOMAIN}", "localhost"])
        stack.provision(account)
        time.sleep(3)
        control_plane, cell = stack.procs[0].pid, stack.procs[1].pid
        before = (cpu_seconds(control_plane), cpu_seconds(cell), time.monotonic())
        time.sleep(args.seconds)
        elapsed = time.monotonic() - before[2]
        context = ssl.create_default_context(cadata=stack.server_ca.cert_pem.decode())

        def snapshot(query: str) -> bytes:
            request = urllib.request.Request(stack.api + "/internal/v1/auth-snapshot" + query)
            request.add_header("authorization", f"Bearer {stack.cell_credential}")
            with urllib.request.urlopen(request, context=context) as response:
                return response.read()

        whole = snapshot("")
        version = json.loads(base64.urlsafe_b64decode(whole.split(b".")[1] + b"==="))["version"]
        print(json.dumps({
            "seconds": round(elapsed, 1),
            "control_plane_cpu_ms_per_s": round(1000 * (cpu_seconds(control_plane) - before[0]) / elapsed, 2),
            "cell_cpu_ms_per_s": round(1000 * (cpu_seconds(cell) - before[1]) / elapsed, 2),
            "whole_snapshot_bytes": len(whole),
            "unchanged_answer_bytes": len(snapshot(f"?since={version}")),
        }, indent=2))


if __name__ == "__main__":
    main()
