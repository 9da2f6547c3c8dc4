"""qxframe's benchmarks: `make bench` (``python -m bench``) runs them and writes BENCHMARKS.md.

Every figure is a ratio against a baseline measured in the same run, on the same machine,
against the same sandbox, because the machines this runs on are shared and noisy. One
module per figure, each with a ``run(sizes) -> Figure`` function:

- :mod:`bench.sandbox_alone` — what the sandbox serves to a bare httpx client (so it is
  known not to be the bottleneck of a–c);
- :mod:`bench.latency` — a. latency-bound contact pushes against the ideal and a loop;
- :mod:`bench.rate` — b. rate-bound pushes against a sandbox that answers 429;
- :mod:`bench.transactions` — c. HTTP calls and wall time for 10,000 transactions;
- :mod:`bench.cpu` — d. µs per row of a dry run against a per-row Python loop;
- :mod:`bench.memory` — e. peak RSS of dry runs streaming 1M- and 4M-row CSV files.

:mod:`bench._common` holds the sizes, the result types, the machine description and the
data generators; :mod:`bench.report` renders BENCHMARKS.md. Generated inputs go to a
temporary directory and are removed; raw results go to ``bench/out/`` (git-ignored).
"""
