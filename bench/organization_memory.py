"""Peak memory of `scan --format jsonl` across an organization against a one-place scan of the same size of place.

The organization of bench/organization_scan.py (ACCOUNTS x REGIONS account-regions, each the scan benchmark's account
at SECRETS secrets), built in this process on moto and served from it by moto's server; each measured command runs in
a child process of its own (`rotation-doctor` as a person runs it, through AWS_ENDPOINT_URL), so moto's own memory
(every simulated secret) is never counted and each figure is independent of the others. The figure is the child's peak
resident set (`ru_maxrss`), which includes the interpreter and its imports: the first row, `--version`, is that floor.

Rows: one place (`scan`, the caller's account and region: SECRETS secrets), then the whole organization with
`--format jsonl` (each place written and dropped), then with `--format json` (a list: every item kept until the end,
for contrast). The time to the first line shows that jsonl's results come as places finish.

    python bench/organization_memory.py [--accounts 20] [--regions 2] [--secrets 500]
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

CHILD = "--child"  # this script, run as the measured process: the command, then its peak on stderr's last line


def child(argv: list[str]) -> int:
    from rotation_doctor.cli.main import main

    try:
        code = main(argv)
    except SystemExit as exc:  # --version
        code = int(exc.code or 0)
    sys.stdout.flush()
    print(json.dumps({"peak_kib": peak_resident_kib()}), file=sys.stderr)
    return code


def peak_resident_kib() -> int:
    """This process's peak resident set since it was exec'd: VmHWM (Linux). Not `ru_maxrss`, which keeps the peak
    of the process before exec, here the parent's, that holds moto and the whole organization."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: the memory benchmark needs Linux")


def measured(endpoint: str, argv: list[str]) -> tuple[int, int, float | None, float, float]:
    """One command in a fresh process: its exit code, items printed (lines of jsonl, the list's items of json),
    seconds to the first line, seconds, peak MiB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1"
    )
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH")])
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, CHILD, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stderr is not None
    lines, first, text = 0, None, []
    for line in process.stdout:  # read as the child writes
        lines += 1
        if first is None:
            first = time.perf_counter() - started
        if "jsonl" not in argv:
            text.append(line)
    err = process.stderr.read()
    code = process.wait()
    elapsed = time.perf_counter() - started
    peak = json.loads(err.strip().splitlines()[-1])["peak_kib"] / 1024
    items = len(json.loads("".join(text))) if "json" in argv else lines
    return code, items, first, elapsed, peak


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    # Here, not at the top: the measured child imports only the command (_account would also drop its endpoint).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _account import make_clients
    from _output import finish, options, parser, say, table
    from moto.server import ThreadedMotoServer
    from organization_scan import ACCOUNTS, REGIONS, SECRETS, build_organization

    from rotation_doctor.simulated import simulated_aws

    arguments = parser(__doc__)
    arguments.add_argument("--accounts", type=int, default=ACCOUNTS)
    arguments.add_argument("--regions", type=int, default=len(REGIONS), choices=(1, 2))
    arguments.add_argument("--secrets", type=int, default=SECRETS * 10, help="per account-region")
    chosen = options(arguments)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: no line per request
    regions = REGIONS[: chosen.regions]

    clients = make_clients()
    with simulated_aws():
        started = time.perf_counter()
        build_organization(clients, chosen.secrets, accounts=chosen.accounts, regions=regions)
        built = time.perf_counter() - started
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            organization = ["scan", "--accounts", "all", "--regions", ",".join(regions)]
            runs = [
                ("`--version` (the interpreter and its imports)", ["--version"]),
                (f"one place, {chosen.secrets} secrets, jsonl", ["scan", "--format", "jsonl"]),
                (f"{chosen.accounts} x {len(regions)} places, jsonl", [*organization, "--format", "jsonl"]),
                (f"{chosen.accounts} x {len(regions)} places, json", [*organization, "--format", "json"]),
            ]
            rows, peaks, ok = [], [], True
            for name, argv in runs:
                code, items, first, elapsed, peak = measured(endpoint, argv)
                if argv[0] == "scan":  # every secret reported; some are broken from 30 secrets a place up
                    places = 1 if "--accounts" not in argv else chosen.accounts * len(regions)
                    ok &= code in (0, 1) and items == places * chosen.secrets
                peaks.append(peak)
                first_text = f"{first:.1f}" if first is not None and "jsonl" in argv else "-"
                counted = items if argv[0] == "scan" else "-"
                rows.append((name, code, counted, first_text, f"{elapsed:.1f}", f"{peak:.0f}"))
        finally:
            server.stop()
    total = chosen.accounts * len(regions) * chosen.secrets
    say(
        f"{chosen.accounts} accounts x {len(regions)} regions x {chosen.secrets} secrets ({total} secrets), "
        f"built in {built:.0f} s; each command in its own process against moto's server\n"
    )
    table(("command", "exit", "secrets", "first line (s)", "seconds", "peak RSS (MiB)"), rows)
    say()
    say(f"peak across the organization / one place: jsonl {peaks[2] / peaks[1]:.2f}x, json {peaks[3] / peaks[1]:.2f}x")
    finish(ok=ok)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
