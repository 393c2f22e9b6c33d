"""A built-in model's first load: TransformerLens's weight processing, plain against `lean_processing`.

    python benchmarks/first_load.py [--model qwen2.5-coder-0.5b] [--json out.json]

Each way runs in a fresh process of its own (peak RSS is per process) on a scratch copy of the model's
converted cache folder (its files linked, the processed ones left out), and writes the kept
`processed-float32.safetensors` as the first load does. Reports each way's seconds and peak RSS, their
ratio, and whether the two files are byte for byte the same. Needs the converted model in the cache
(any earlier load made it); the GGUF conversion itself is not timed.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys, time
from pathlib import Path
from interp.core.stages import peak_rss_gb
from interp.models import loading, processed
path, lean = Path(sys.argv[1]), sys.argv[2] == "lean"
t = time.perf_counter()
bridge, _ = loading.boot(path, processing=True, lean=lean)
processed.save_weights(bridge, processed.processed_file(path, "float32"))
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_gb": peak_rss_gb()}))
"""


def scratch_copy(source: Path, into: Path) -> Path:
    """`source`'s files linked into `into`, without any processed weights or record."""
    into.mkdir()
    for f in source.iterdir():
        if not f.name.startswith("processed"):
            (into / f.name).symlink_to(f)
    return into


def run(way: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), way], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{way}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from interp.models.builtins import converted_dir

    source = converted_dir(a.model)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {way: scratch_copy(source, Path(tmp) / way) for way in ("plain", "lean")}
        res = {way: run(way, folder) for way, folder in folders.items()}
        same = filecmp.cmp(*(f / "processed-float32.safetensors" for f in folders.values()), shallow=False)
    res |= {
        "model": a.model,
        "peak_ratio": res["lean"]["peak_rss_gb"] / res["plain"]["peak_rss_gb"],
        "files_identical": same,
    }
    for way in ("plain", "lean"):
        print(f"{way}: {res[way]['seconds']:.1f} s, peak RSS {res[way]['peak_rss_gb']:.2f} GB")
    print(f"lean / plain peak: {res['peak_ratio']:.2f}; kept files identical: {same}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
