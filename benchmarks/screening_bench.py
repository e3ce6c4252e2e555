"""Detection engine figures: latency per short text on one thread, batched throughput on all cores,
peak RSS, cold start. Each phase runs in a fresh process so thread settings and warm caches do not leak.

    python benchmarks/screening_bench.py [--dataset data/corpus/test.jsonl] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def short_texts(dataset: str, max_tokens: int = 200) -> list[str]:
    """The dataset's texts of at most `max_tokens` tokens, counted by the encoder's tokenizer (what the
    encoder's cost grows with; a word count let in Russian or Arabic texts of 300 tokens and more)."""
    from redline.evaluation.corpus import item_text, read_jsonl
    from redline.screening.encoder import load_tokenizer
    from redline.screening.normalize import normalize

    tokenizer = load_tokenizer()
    tokenizer.no_truncation()
    texts = [item_text(i) for i in read_jsonl(Path(dataset))]
    return [t for t in texts if len(tokenizer.encode(normalize(t)).ids) <= max_tokens]


def phase_latency(dataset: str, repeat: int) -> dict[str, object]:
    from redline.screening.screener import default_screener

    screener = default_screener()
    texts = short_texts(dataset)
    screener.encoder.encode(["warm up"])
    timings, stages = [], []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            verdict = screener.screen(text)
            timings.append((time.perf_counter() - start) * 1000)
            stages.append(verdict.stage)
    timings.sort()
    return {
        "texts": len(texts),
        "p50_ms": round(statistics.median(timings), 3),
        "p90_ms": round(timings[int(0.90 * (len(timings) - 1))], 3),
        "p99_ms": round(timings[int(0.99 * (len(timings) - 1))], 3),
        "stage2_share": round(stages.count("stage2") / len(stages), 4),
    }


def phase_throughput(dataset: str, repeat: int) -> dict[str, object]:
    import resource

    from redline.screening.screener import default_screener

    screener = default_screener()
    texts = short_texts(dataset)
    screener.encoder.encode(["warm up"])
    start = time.perf_counter()
    n = 0
    for _ in range(repeat):
        for i in range(0, len(texts), 64):
            screener.screen_many([(t, None) for t in texts[i : i + 64]])
            n += len(texts[i : i + 64])
    seconds = time.perf_counter() - start
    return {
        "texts_per_s": round(n / seconds, 1),
        "cores": os.cpu_count(),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def cold_start(stage2: bool) -> float:
    """Seconds from interpreter start to the first verdict (with `stage2`, the encoder is loaded as well)."""
    code = "import redline; redline.screen('Plan the delivery routes for tomorrow.')"
    if stage2:
        code += "; from redline.screening.screener import default_screener; default_screener().encoder.encode(['x'])"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return round(time.perf_counter() - start, 2)


def run_phase(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--dataset", args.dataset, "--repeat", str(args.repeat)],
        check=True, capture_output=True, text=True, env={**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="data/corpus/test.jsonl")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--phase", choices=["latency", "throughput"])
    args = parser.parse_args()
    if args.phase == "latency":
        print(json.dumps(phase_latency(args.dataset, args.repeat)))
        return
    if args.phase == "throughput":
        print(json.dumps(phase_throughput(args.dataset, args.repeat)))
        return
    latency = run_phase("latency", args, SINGLE_THREAD)
    throughput = run_phase("throughput", args, {})
    cold = [cold_start(False) for _ in range(3)]
    cold2 = [cold_start(True) for _ in range(3)]
    print(f"dataset: {args.dataset}, short texts (<= 200 encoder tokens): {latency['texts']}")
    print(f"latency, one thread:  p50 {latency['p50_ms']} ms  p90 {latency['p90_ms']} ms  p99 {latency['p99_ms']} ms"
          f"  (stage 2 reached by {latency['stage2_share']:.1%} of texts)")
    print(f"batched throughput:   {throughput['texts_per_s']} texts/s on {throughput['cores']} cores (batches of 64)")
    print(f"peak RSS:             {throughput['peak_rss_mib']} MiB")
    print(f"cold start to first verdict: stage 1 median {statistics.median(cold)} s, "
          f"with encoder load median {statistics.median(cold2)} s")


if __name__ == "__main__":
    main()
