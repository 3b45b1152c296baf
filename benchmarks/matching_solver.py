"""Benchmark: the matching solver alone, on N cases × M projects, against greedy and against HiGHS.

    .venv/bin/python benchmarks/matching_solver.py [--cases 100000] [--projects 1000] [--seed 1]
                                                   [--repeat 3] [--skip-highs]

Makes a seeded random instance (`make_instance`): needs of 10,000–300,000 yuan (log-uniform: small needs are
commoner), priority weights from `matching.priority` on random case profiles, 5–15 eligible projects per case
drawn uniformly (about 10 on average, so one connected component: the hardest shape), per-case caps of
20,000–100,000 yuan, one pair in twenty with a lower pair cap (money already committed to it), and budgets
that together cover 30–50% of the total need. Then (`measure`):

- the OR-Tools solve through `matching.solver.solve_arrays` (best and median of --repeat runs, each from the
  arrays to the explained result);
- the greedy baseline (`greedy_arrays`): its time and its objective as a share of the optimum;
- scipy's HiGHS on the same problem written as an LP (x per pair, y per need slice): its time and objective,
  which must equal the solver's exactly once rounded (the LP of this network has integral optima), and the
  solver's speed-up over it (aim: 7× or more; the solve itself aims at 3 s or less for 100,000 × 1,000);
- peak memory: the process's peak RSS after the solves (OR-Tools' C++ memory included) and after HiGHS.

It prints a Markdown table and writes nothing. `benchmarks/matching.py` (end to end with PostgreSQL) imports
`make_instance` and `measure` from here (run from benchmarks/, as the other scripts are).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from matching.allocation import ArrayAllocation  # noqa: E402
from matching.eligibility import CaseProfile  # noqa: E402  (benchmarks/ is not a package)
from matching.greedy import greedy_arrays  # noqa: E402
from matching.priority import priority  # noqa: E402
from matching.rules import ASSISTANCE_CLASSES  # noqa: E402
from matching.solver import DEFAULT_SEGMENTS, NO_PAIR_CAP, solve_arrays  # noqa: E402

YUAN = 100
TODAY = date(2026, 6, 1)
AIM_SECONDS = 3.0
AIM_SPEEDUP = 7.0


@dataclass(frozen=True, slots=True, eq=False)
class Instance:
    """A matching problem as `solve_arrays` takes it: one array per field, ids dense from 1 like a database's."""

    case_id: NDArray[np.int64]
    need_fen: NDArray[np.int64]
    weight: NDArray[np.int64]
    project_id: NDArray[np.int64]
    budget_fen: NDArray[np.int64]
    per_case_cap_fen: NDArray[np.int64]
    edge_case_id: NDArray[np.int64]
    edge_project_id: NDArray[np.int64]
    edge_cap_fen: NDArray[np.int64]  # NO_PAIR_CAP: the project's cap

    def solve(self) -> ArrayAllocation:
        """`solve_arrays` on this instance."""
        return solve_arrays(*self.arrays())

    def greedy(self) -> ArrayAllocation:
        """`greedy_arrays` on this instance."""
        return greedy_arrays(*self.arrays())


def _weights(rng: np.random.Generator, cases: int, need: NDArray[np.int64]) -> NDArray[np.int64]:
    """Priority totals of random but plausible case profiles, through the real priority function."""
    classes = [*ASSISTANCE_CLASSES, None]
    # Most households have no civil-affairs class; among those that do, 低保 is the commonest.
    class_index = rng.choice(len(classes), size=cases, p=[0.04, 0.12, 0.03, 0.06, 0.05, 0.05, 0.65])
    income = rng.integers(3_000 * YUAN, 60_000 * YUAN, cases)
    disclosed = rng.random(cases) < 0.8
    treatment_in = rng.integers(-60, 180, cases)
    dated = rng.random(cases) < 0.9
    waited = rng.integers(0, 365, cases)
    weights = np.empty(cases, dtype=np.int64)
    for index in range(cases):
        profile = CaseProfile(
            case_id=index + 1,
            need_fen=int(need[index]),
            icd10=None,
            disease_category=None,
            age=None,
            region_code=None,
            assistance_class=classes[class_index[index]],
            income_per_capita_fen=int(income[index]) if disclosed[index] else None,
            hospital_tier=None,
            treatment_date=TODAY + timedelta(days=int(treatment_in[index])) if dated[index] else None,
            waiting_since=TODAY - timedelta(days=int(waited[index])),
        )
        weights[index] = priority(profile, TODAY).total
    return weights


def make_instance(cases: int = 100_000, projects: int = 1_000, seed: int = 1) -> Instance:
    """A seeded random instance of `cases` × `projects` with about 10 eligible projects per case."""
    rng = np.random.default_rng(seed)
    need = np.exp(rng.uniform(np.log(10_000 * YUAN), np.log(300_000 * YUAN), cases)).astype(np.int64)
    weight = _weights(rng, cases, need)

    per_case = rng.integers(5, 16, cases)  # 5..15, 10 on average
    drawn = rng.integers(0, projects, (cases, 15))
    case_of = np.broadcast_to(np.arange(cases)[:, None], drawn.shape)
    wanted = np.arange(15)[None, :] < per_case[:, None]
    keys = np.unique(
        case_of[wanted].astype(np.int64) * projects + drawn[wanted]
    )  # a repeated draw counts once
    edge_case, edge_project = keys // projects, keys % projects
    order = rng.permutation(keys.size)  # not in id order: the solver must not rely on it
    edge_case, edge_project = edge_case[order], edge_project[order]

    cap = rng.integers(20_000, 100_001, projects).astype(np.int64) * YUAN
    share = rng.lognormal(0.0, 0.6, projects)
    total = float(need.sum()) * rng.uniform(0.3, 0.5)
    # Whole yuan, and never below the project's own per-case cap (validate_project_terms refuses that).
    budget = np.maximum((share / share.sum() * total / YUAN).astype(np.int64) * YUAN, cap)
    edge_cap = np.full(keys.size, NO_PAIR_CAP, dtype=np.int64)
    committed = rng.random(keys.size) < 0.05
    edge_cap[committed] = (cap[edge_project[committed]] * rng.uniform(0.1, 0.9, int(committed.sum()))).astype(
        np.int64
    )
    return Instance(
        case_id=np.arange(1, cases + 1, dtype=np.int64),
        need_fen=need,
        weight=weight,
        project_id=np.arange(1, projects + 1, dtype=np.int64),
        budget_fen=budget,
        per_case_cap_fen=cap,
        edge_case_id=edge_case + 1,
        edge_project_id=edge_project + 1,
        edge_cap_fen=edge_cap,
    )


def highs_optimum(instance: Instance, segments: tuple[int, ...] = DEFAULT_SEGMENTS) -> tuple[float, float]:
    """The LP optimum by scipy's HiGHS and its seconds: x per pair, y per need slice (floats, comparison only).

    maximise Σ weight × factor_k × y_ck  subject to  Σ_c x_pc ≤ budget_p,  Σ_k y_ck = Σ_p x_pc,
    0 ≤ x_pc ≤ min(pair cap, need_c),  0 ≤ y_ck ≤ slice_ck.
    """
    import scipy.sparse as sparse
    from scipy.optimize import linprog

    started = time.perf_counter()
    cases, projects = instance.case_id.size, instance.project_id.size
    # Rows by position: any ids will do, not only make_instance's dense ones.
    case_at = np.searchsorted(np.sort(instance.case_id), instance.edge_case_id)
    case_rank = np.argsort(np.argsort(instance.case_id))  # row of each case, in sorted-id order
    project_at = np.searchsorted(np.sort(instance.project_id), instance.edge_project_id)
    project_rank = np.argsort(np.argsort(instance.project_id))
    need = np.empty_like(instance.need_fen)
    need[case_rank] = instance.need_fen
    weight = np.empty_like(instance.weight)
    weight[case_rank] = instance.weight
    per_case_cap = np.empty_like(instance.per_case_cap_fen)
    per_case_cap[project_rank] = instance.per_case_cap_fen
    budget = np.empty_like(instance.budget_fen)
    budget[project_rank] = instance.budget_fen
    edges, slices = case_at.size, len(segments)
    factors = np.asarray(segments, dtype=np.int64)
    base, remainder = np.divmod(need, slices)
    slice_size = base[:, None] + (np.arange(slices)[None, :] < remainder[:, None])
    pair_cap = per_case_cap[project_at]
    own = instance.edge_cap_fen != NO_PAIR_CAP
    pair_cap = np.where(own, np.minimum(instance.edge_cap_fen, pair_cap), pair_cap)
    upper = np.concatenate((np.minimum(pair_cap, need[case_at]), slice_size.ravel()))
    variables = edges + cases * slices
    cost = np.concatenate((np.zeros(edges), -(weight[:, None] * factors[None, :]).ravel().astype(float)))
    budget_rows = sparse.csr_matrix(
        (np.ones(edges), (project_at, np.arange(edges))), shape=(projects, variables)
    )
    rows = np.concatenate((case_at, np.repeat(np.arange(cases), slices)))
    columns = np.arange(variables)
    signs = np.concatenate((-np.ones(edges), np.ones(cases * slices)))
    balance_rows = sparse.csr_matrix((signs, (rows, columns)), shape=(cases, variables))
    result = linprog(
        cost,
        A_ub=budget_rows,
        b_ub=budget.astype(float),
        A_eq=balance_rows,
        b_eq=np.zeros(cases),
        bounds=np.column_stack((np.zeros(variables), upper.astype(float))),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"HiGHS did not solve the LP: {result.message}")
    return -float(result.fun), time.perf_counter() - started


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(instance: Instance, *, skip_highs: bool = False, repeat: int = 3) -> dict[str, Any]:
    """Time the solver (best and median of `repeat`), greedy and HiGHS on one instance; see the docstring."""
    seconds: list[float] = []
    result: ArrayAllocation | None = None
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        result = instance.solve()
        seconds.append(time.perf_counter() - started)
    assert result is not None
    rss_after_solve = peak_rss_mib()
    started = time.perf_counter()
    baseline = instance.greedy()
    greedy_seconds = time.perf_counter() - started
    budget = int(instance.budget_fen.sum())
    need = int(instance.need_fen.sum())
    row: dict[str, Any] = {
        "cases": int(instance.case_id.size),
        "projects": int(instance.project_id.size),
        "edges": int(instance.edge_case_id.size),
        "components": result.components,
        "budget_share_of_need": budget / need,
        "solve_seconds_best": min(seconds),
        "solve_seconds_median": statistics.median(seconds),
        "objective": result.objective,
        "spent_share_of_budget": int(result.spent_fen.sum()) / budget,
        "cases_funded": int((result.covered_fen > 0).sum()),
        "greedy_seconds": greedy_seconds,
        "greedy_objective": baseline.objective,
        "greedy_ratio": baseline.objective / result.objective if result.objective else 1.0,
        "greedy_cases_funded": int((baseline.covered_fen > 0).sum()),
        "peak_rss_mib_after_solve": rss_after_solve,
    }
    if not skip_highs:
        highs_objective, highs_seconds = highs_optimum(instance)
        row |= {
            "highs_seconds": highs_seconds,
            "highs_objective": highs_objective,
            # Exact: the LP optimum of this network is integral, so HiGHS' float rounds to the solver's int.
            "solver_equals_lp": round(highs_objective) == result.objective,
            "lp_relative_gap": abs(highs_objective - result.objective) / max(abs(highs_objective), 1.0),
            "speedup_vs_highs": highs_seconds / min(seconds),
            "peak_rss_mib_after_highs": peak_rss_mib(),
        }
    return row


def markdown(row: dict[str, Any]) -> str:
    """The measurements as a two-column Markdown table."""
    shown = {
        "instance": f"{row['cases']:,} cases × {row['projects']:,} projects, {row['edges']:,} eligible pairs",
        "connected components": f"{row['components']:,}",
        "total budget / total need": f"{row['budget_share_of_need']:.1%}",
        "OR-Tools solve (solve_arrays), best / median": (
            f"{row['solve_seconds_best']:.2f} s / {row['solve_seconds_median']:.2f} s"
            f" (aim at 100,000 × 1,000: ≤ {AIM_SECONDS:.0f} s)"
        ),
        "objective (exact integer)": f"{row['objective']:,}",
        "budget spent": f"{row['spent_share_of_budget']:.2%}",
        "cases funded: solver / greedy": f"{row['cases_funded']:,} / {row['greedy_cases_funded']:,}",
        "greedy time": f"{row['greedy_seconds']:.2f} s",
        "greedy objective / optimum": f"{row['greedy_ratio']:.4f}",
        "peak RSS after solves": f"{row['peak_rss_mib_after_solve']:,.0f} MiB",
    }
    if "highs_seconds" in row:
        shown |= {
            "HiGHS LP time": f"{row['highs_seconds']:.1f} s",
            "HiGHS LP objective": f"{row['highs_objective']:,.1f}",
            "solver objective / LP objective": (
                "1 (exact after rounding)"
                if row["solver_equals_lp"]
                else f"MISMATCH ({row['lp_relative_gap']:.2e})"
            ),
            "speed-up vs HiGHS": f"{row['speedup_vs_highs']:.0f}× (aim ≥ {AIM_SPEEDUP:.0f}×)",
            "peak RSS after HiGHS": f"{row['peak_rss_mib_after_highs']:,.0f} MiB",
        }
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in shown.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="solver runs; best and median are shown")
    parser.add_argument("--skip-highs", action="store_true", help="do not solve the LP with scipy's HiGHS")
    args = parser.parse_args()
    started = time.perf_counter()
    instance = make_instance(args.cases, args.projects, args.seed)
    print(f"instance made in {time.perf_counter() - started:.1f} s", flush=True)
    row = measure(instance, skip_highs=args.skip_highs, repeat=args.repeat)
    print(f"\n{platform.machine()}, Python {platform.python_version()}, seed {args.seed}\n")
    print(markdown(row))
    return 0 if row.get("solver_equals_lp", True) else 1


if __name__ == "__main__":
    sys.exit(main())
