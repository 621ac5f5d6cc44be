"""The result keeper's memory ceiling (docs/results.md): one result file copied from a simulated upstream into
the results bucket, as the keep worker does it (services/results/keeping.copy_file: providers/download.py's
streamed GET into store/result_objects.py's multipart upload), for a 5, 20 and 50 MB file.

The upstream (the Suno simulator) and S3 (moto's server) run in their own processes, so this process holds
only what the copy holds. The same for a result only the channel may read (docs/results.md): a Veo video
downloaded through the adapter (`VeoProvider.open_result`: the key to the channel's origin, then the
redirect to the simulator's storage origin without it), 20 and 50 MB.

Rows: the peak of Python allocations during each copy (tracemalloc) and the
growth of the process's peak RSS; streamed means the 50 MB copy peaks about where the 20 MB one does
(about one 8 MiB multipart part plus botocore's buffers), not at 50 MB. Counts, not timings.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
SIZES_MB = (5, 20, 50)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)  # a benchmark's setup, not Lambda code
    raise RuntimeError(f"{url} did not answer")


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rows() -> list[dict[str, Any]]:
    moto_port, sim_port, veo_port, storage_port = _free_port(), _free_port(), _free_port(), _free_port()
    veo_config = json.dumps({"result_bytes": 1024, "storage_port": storage_port, "step_seconds": [0.0, 0.0]})
    procs = [_spawn(["-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)]),
             _spawn(["-m", "infra.simulators.suno", "--port", str(sim_port)]),
             _spawn(["-m", "infra.local.simproc", "--simulator", "infra.simulators.lro_video:VeoSimulator",
                     "--config-class", "infra.simulators.lro_video:VideoSimConfig", "--config", veo_config,
                     "--port", str(veo_port)])]
    saved = dict(os.environ)
    try:
        _wait(f"http://127.0.0.1:{moto_port}/moto-api/", procs[0])
        _wait(f"http://127.0.0.1:{sim_port}/health", procs[1])
        _wait(f"http://127.0.0.1:{veo_port}/health", procs[2])
        allowed = ",".join(f"127.0.0.1:{port}" for port in (sim_port, veo_port, storage_port))
        os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "bench",
                           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                           "RESULTS_BUCKET": "bench-results", "PRIVATE_HOST_ALLOWLIST": allowed})
        os.environ.pop("AWS_SESSION_TOKEN", None)
        return _measure(f"http://127.0.0.1:{sim_port}") + _measure_keyed(f"http://127.0.0.1:{veo_port}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _configure(sim_url: str, size: int) -> None:
    req = urllib.request.Request(f"{sim_url}/sim/config", data=json.dumps({"file_bytes": size}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()


def _measure(sim_url: str) -> list[dict[str, Any]]:
    from taskcenter.services.results import keeping
    from taskcenter.store import result_objects

    result_objects.s3_client().create_bucket(Bucket="bench-results")
    _configure(sim_url, 1024)
    keeping.copy_file(f"{sim_url}/files/warmup-0.mp3", "bench/warmup")  # imports, clients, pools
    out: list[dict[str, Any]] = []
    peaks: dict[int, float] = {}
    for size_mb in SIZES_MB:
        _configure(sim_url, size_mb * MB)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        stored = keeping.copy_file(f"{sim_url}/files/bench{size_mb}-0.mp3", f"bench/{size_mb}")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before  # KiB on Linux
        assert stored["size"] == size_mb * MB
        peaks[size_mb] = peak / MB
        out.append({"metric": f"copy of a {size_mb} MB result: peak Python allocations", "value": f"{peak / MB:.1f}",
                    "unit": "MB", "note": "tracemalloc, the keep worker's copy_file"})
        out.append({"metric": f"copy of a {size_mb} MB result: peak RSS growth", "value": f"{rss_growth / 1024:.1f}",
                    "unit": "MB", "note": "ru_maxrss after - before (0: under an earlier peak)"})
    out.append({"metric": "memory ceiling of the 50 MB copy / the 20 MB copy", "value": f"{peaks[50] / peaks[20]:.2f}",
                "unit": "x", "target": "about 1 (streamed)",
                "note": "multipart parts of 8 MiB, one at a time (store/result_objects.py)"})
    return out


def _veo(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "x-goog-api-key": "sim-secret"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        return dict(json.loads(reply.read()))


def _measure_keyed(veo_url: str) -> list[dict[str, Any]]:
    from taskcenter.providers.base import ChannelInfo
    from taskcenter.providers.veo import VeoProvider
    from taskcenter.services.results import keeping

    opener = VeoProvider(ChannelInfo(id=1, type="gemini", base_url=veo_url, secret="sim-secret")).open_result
    name = _veo(veo_url, "/v1beta/models/veo-3.0-generate-001:predictLongRunning",
                {"instances": [{"prompt": "bench"}]})["name"]
    url = f"{veo_url}/v1beta/files/{name.rsplit('/', 1)[1]}:download?alt=media"
    keeping.copy_file(url, "bench/keyed-warmup", opener=opener)
    out: list[dict[str, Any]] = []
    peaks: dict[int, float] = {}
    for size_mb in (20, 50):
        _veo(veo_url, "/sim/config", {"result_bytes": size_mb * MB})
        tracemalloc.start()
        stored = keeping.copy_file(url, f"bench/keyed-{size_mb}", opener=opener)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert stored["size"] == size_mb * MB
        peaks[size_mb] = peak / MB
        out.append({"metric": f"keyed copy (Veo: the key to its origin, redirected) of {size_mb} MB: peak Python "
                              "allocations", "value": f"{peak / MB:.1f}", "unit": "MB",
                    "note": "tracemalloc, copy_file through VeoProvider.open_result"})
    out.append({"metric": "memory ceiling of the 50 MB keyed copy / the 20 MB one",
                "value": f"{peaks[50] / peaks[20]:.2f}", "unit": "x", "target": "about 1 (streamed)", "note": ""})
    return out
