"""The allocation of project budgets to cases that maximises priority-weighted covered need, exactly.

Value. A case's need is cut into ``len(segments)`` slices of equal size (to the fen: the first slices take the
remainder). A fen covered in slice k is worth ``weight × segments[k]``. With the default (4, 3, 2, 1) the
first quarter of a need is worth four times its last quarter, so a small budget is spread over more cases
before it finishes any one: priority decides who is helped first, the slices decide how far. Factors must not
increase, so filling a need from its first slice is always as good as any other order.

Network. One node per project and per case, a source and a sink. source → case once per slice (capacity: the
slice, cost −weight × factor), case → project for each eligible pair (capacity: the pair's cap and the need,
cost 0), project → sink (capacity: the budget), and source → sink (cost 0) for budget nobody eligible can use;
the source supplies the whole budget. This is the textbook source → project → case → sink network with every
arc reversed (the same flows, the same optimum), drawn this way round because OR-Tools solves it about 15%
faster. A minimum-cost flow is a maximum-value allocation; OR-Tools' SimpleMinCostFlow (cost scaling,
integer) finds it exactly. Each connected component (projects and cases joined by eligible pairs) is its own
network, so an allocation never depends on cases or projects it shares no pair with; cases and projects
without pairs get nothing. Inputs are put in a canonical order (ids; within a network, cases by weight then
id) before anything is built, so the same input in any order gives the same allocation.

Integer bounds. OR-Tools works in int64 and multiplies every cost by (nodes + 1). Weights are 1..MAX_WEIGHT
and factors 1..MAX_FACTOR, so a fen is worth at most 10^9 and a scaled cost stays below 2^63 for any network
that fits in memory; the objective is at most (largest value per fen) × (total budget), refused above
MAX_OBJECTIVE. Amounts are fen, never floats.

Why a pair got what it got (`Bound`), in this order, each a true statement about the optimum:

- ``need_filled``: the case's whole need is covered.
- ``per_case_cap``: the pair got its cap (the project's per-case cap, or the pair's own cap if lower).
- ``no_budget``: the project has no budget.
- otherwise the pair could take more and the case wants more, so optimality says the project spent its
  whole budget, and every case it funded has a last fen worth at least this case's next fen (else moving a
  fen would raise the value). Let `lowest_funded_value` be the least of those and `case_value` this case's
  next fen's worth:
  - ``budget_exhausted``: equal: the budget is the only limit, other uses are worth exactly as much.
  - ``spread``: lower, but only because this case already got its first slice(s): its next fen is in a
    cheaper slice, while its first slice is worth at least `lowest_funded_value`; the budget was spread.
  - ``higher_priority``: lower even for this case's first slice: the budget went to higher-priority uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

# OR-Tools ships .pyi stubs but no py.typed marker, so mypy treats the module as untyped (everything Any).
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow  # type: ignore[import-untyped]

from matching.allocation import (
    _BUDGET_EXHAUSTED,
    _HIGHER_PRIORITY,
    _NEED_FILLED,
    _NO_BUDGET,
    _PER_CASE_CAP,
    _SPREAD,
    Allocation,
    ArrayAllocation,
    Demand,
    Edge,
    Int64Array,
    ProjectSupply,
    SolverError,
)

DEFAULT_SEGMENTS: tuple[int, ...] = (4, 3, 2, 1)
MAX_WEIGHT = 1_000_000
MAX_FACTOR = 1_000
# A total value below this keeps every sum the solver and this module make inside int64 with room to spare.
MAX_OBJECTIVE = 2**62
# Sums of fen are first estimated in float64; below this the estimate cannot hide an int64 overflow.
_MAX_FEN_SUM = 2**61
NO_PAIR_CAP = -1  # in solve_arrays' edge caps: the project's per-case cap applies


def _integers(name: str, values: ArrayLike) -> Int64Array:
    """A 1-D int64 copy of `values`, refusing floats and booleans (money is whole fen)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, not {array.dtype}")
    if array.dtype.kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} does not fit in int64")
    return array.astype(np.int64)


def _check_segments(segments: Sequence[int]) -> Int64Array:
    if not segments:
        raise ValueError("segments must name at least one slice factor")
    for factor in segments:
        if (
            isinstance(factor, bool)
            or not isinstance(factor, int | np.integer)
            or not 1 <= factor <= MAX_FACTOR
        ):
            raise ValueError(f"slice factors must be whole numbers from 1 to {MAX_FACTOR}, not {factor!r}")
    if any(later > earlier for earlier, later in pairwise(segments)):
        raise ValueError(
            f"slice factors must not increase (a need is filled from its first slice): {segments}"
        )
    return np.asarray(segments, dtype=np.int64)


def _sorted_unique(name: str, ids: Int64Array) -> NDArray[np.intp]:
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    if ordered.size > 1 and bool((ordered[1:] == ordered[:-1]).any()):
        duplicate = int(ordered[1:][ordered[1:] == ordered[:-1]][0])
        raise ValueError(f"{name} {duplicate} is given twice")
    return order


def _positions(name: str, sorted_ids: Int64Array, wanted: Int64Array) -> NDArray[np.intp]:
    """Where each of `wanted` is in `sorted_ids`, refusing ids that are not there."""
    if not sorted_ids.size:
        if wanted.size:
            raise ValueError(f"an edge names {name} {int(wanted[0])}, which was not given")
        return np.zeros(0, dtype=np.intp)
    low, span = int(sorted_ids[0]), int(sorted_ids[-1]) - int(sorted_ids[0]) + 1
    found = np.full(wanted.size, -1, dtype=np.intp)
    inside = (wanted >= low) & (wanted < low + span)
    # Ids from a database are dense: a lookup table beats a binary search per edge by far at a million edges.
    if span <= 4 * sorted_ids.size + 1024:
        table = np.full(span, -1, dtype=np.intp)
        table[sorted_ids - low] = np.arange(sorted_ids.size)
        found[inside] = table[wanted[inside] - low]
    else:
        at = np.searchsorted(sorted_ids, wanted[inside])
        found[inside] = np.where(sorted_ids[np.minimum(at, sorted_ids.size - 1)] == wanted[inside], at, -1)
    if bool((found < 0).any()):
        raise ValueError(f"an edge names {name} {int(wanted[found < 0][0])}, which was not given")
    return found


def _fen_sum(name: str, values: Int64Array) -> int:
    if float(values.sum(dtype=np.float64)) >= _MAX_FEN_SUM:
        raise ValueError(f"the total of {name} is too large to add up exactly in int64")
    return int(values.sum())


def _components(nodes: int, left: NDArray[np.intp], right: NDArray[np.intp]) -> NDArray[np.intp]:
    """The smallest node of each node's connected component (min-label hooking with pointer jumping)."""
    root = np.arange(nodes, dtype=np.intp)
    while left.size:
        a, b = root[left], root[right]
        crossing = a != b
        # An edge inside one component stays inside it; only crossing edges need another look.
        left, right, a, b = left[crossing], right[crossing], a[crossing], b[crossing]
        if not left.size:
            break
        # a and b are roots: hook the larger onto the smallest root it touches, then flatten the trees.
        np.minimum.at(root, np.maximum(a, b), np.minimum(a, b))
        while True:
            grand = root[root]
            if np.array_equal(grand, root):
                break
            root = grand
    return root


def _slice_sizes(need: Int64Array, slices: int) -> Int64Array:
    """Each need cut into `slices` parts to the fen, the first parts taking the remainder (cases × slices)."""
    base, remainder = np.divmod(need, slices)
    return base[:, None] + (np.arange(slices)[None, :] < remainder[:, None])


def _values(
    need: Int64Array, weight: Int64Array, covered: Int64Array, factors: Int64Array
) -> tuple[Int64Array, Int64Array, NDArray[np.intp], Int64Array]:
    """Per case: the worth of what is covered, of its next fen, the slice of that fen, and of its last fen."""
    sizes = _slice_sizes(need, factors.size)
    ends = np.cumsum(sizes, axis=1)
    starts = ends - sizes
    filled = np.clip(covered[:, None] - starts, 0, sizes)
    worth = weight * (filled * factors[None, :]).sum(axis=1)
    last = factors.size - 1
    next_slice = np.minimum((ends <= covered[:, None]).sum(axis=1), last)
    next_value = np.where(covered < need, weight * factors[next_slice], 0)
    last_slice = np.minimum((ends < covered[:, None]).sum(axis=1), last)
    last_value = np.where(covered > 0, weight * factors[last_slice], 0)
    return worth, next_value, next_slice, last_value


@dataclass(frozen=True, slots=True)
class _Instance:
    """The input in canonical order (cases and projects by id, edges by case then project) and checked."""

    case_order: NDArray[np.intp]
    project_order: NDArray[np.intp]
    edge_order: NDArray[np.intp]
    need: Int64Array
    weight: Int64Array
    budget: Int64Array
    edge_case: NDArray[np.intp]  # canonical case position
    edge_project: NDArray[np.intp]  # canonical project position
    pair_cap: Int64Array
    factors: Int64Array


def _canonical(
    case_id: ArrayLike,
    need_fen: ArrayLike,
    weight: ArrayLike,
    project_id: ArrayLike,
    budget_fen: ArrayLike,
    per_case_cap_fen: ArrayLike,
    edge_case_id: ArrayLike,
    edge_project_id: ArrayLike,
    edge_cap_fen: ArrayLike | None,
    segments: Sequence[int],
) -> _Instance:
    factors = _check_segments(segments)
    cases, needs, weights = (
        _integers("case_id", case_id),
        _integers("need_fen", need_fen),
        _integers("weight", weight),
    )
    projects, budgets = _integers("project_id", project_id), _integers("budget_fen", budget_fen)
    caps = _integers("per_case_cap_fen", per_case_cap_fen)
    edge_cases, edge_projects = (
        _integers("edge_case_id", edge_case_id),
        _integers("edge_project_id", edge_project_id),
    )
    edge_caps = (
        np.full(edge_cases.size, NO_PAIR_CAP, dtype=np.int64)
        if edge_cap_fen is None
        else _integers("edge_cap_fen", edge_cap_fen)
    )
    if not cases.size == needs.size == weights.size:
        raise ValueError("case_id, need_fen and weight must have one entry per case")
    if not projects.size == budgets.size == caps.size:
        raise ValueError("project_id, budget_fen and per_case_cap_fen must have one entry per project")
    if not edge_cases.size == edge_projects.size == edge_caps.size:
        raise ValueError("edge_case_id, edge_project_id and edge_cap_fen must have one entry per edge")
    if needs.size and int(needs.min()) < 0:
        raise ValueError("a need cannot be negative")
    if weights.size and not (int(weights.min()) >= 1 and int(weights.max()) <= MAX_WEIGHT):
        raise ValueError(f"weights must be from 1 to {MAX_WEIGHT}")
    if budgets.size and int(budgets.min()) < 0:
        raise ValueError("a budget cannot be negative")
    if caps.size and int(caps.min()) < 0:
        raise ValueError("a per-case cap cannot be negative")
    if edge_caps.size and int(edge_caps.min()) < NO_PAIR_CAP:
        raise ValueError(f"a pair cap cannot be negative (use {NO_PAIR_CAP} or None for the project's cap)")
    _fen_sum("needs", needs)
    total_budget = _fen_sum("budgets", budgets)
    if weights.size and int(weights.max()) * int(factors[0]) * total_budget >= MAX_OBJECTIVE:
        raise ValueError("weights × slice factors × total budget could exceed the int64 range of the solver")

    case_order = _sorted_unique("case", cases)
    project_order = _sorted_unique("project", projects)
    sorted_cases, sorted_projects = cases[case_order], projects[project_order]
    edge_case = _positions("case", sorted_cases, edge_cases)
    edge_project = _positions("project", sorted_projects, edge_projects)
    # Canonical edge order: by case, then project (positions, so the key fits int64 for any id values).
    # Keys of distinct pairs are distinct (repeats are refused below), so any sort gives this one order.
    edge_order = np.argsort(edge_case.astype(np.int64) * max(projects.size, 1) + edge_project)
    edge_case, edge_project = edge_case[edge_order], edge_project[edge_order]
    if edge_case.size > 1:
        same = (edge_case[1:] == edge_case[:-1]) & (edge_project[1:] == edge_project[:-1])
        if bool(same.any()):
            at = int(np.flatnonzero(same)[0])
            pair = (int(sorted_cases[edge_case[at]]), int(sorted_projects[edge_project[at]]))
            raise ValueError(f"the edge (case, project) = {pair} is given twice")
    project_cap = caps[project_order][edge_project]
    given_cap = edge_caps[edge_order]
    # A pair never gets more than its project's per-case cap, whatever its own cap says.
    pair_cap = np.where(given_cap == NO_PAIR_CAP, project_cap, np.minimum(given_cap, project_cap))
    return _Instance(
        case_order=case_order,
        project_order=project_order,
        edge_order=edge_order,
        need=needs[case_order],
        weight=weights[case_order],
        budget=budgets[project_order],
        edge_case=edge_case,
        edge_project=edge_project,
        pair_cap=pair_cap,
        factors=factors,
    )


def _group(
    labels: NDArray[np.intp], count: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Items sorted by label (stable), where each label's run starts, and each item's place within its run."""
    # One component is the common large case; its order is the identity, no sort needed.
    order = np.arange(labels.size) if count == 1 else np.argsort(labels, kind="stable")
    sizes = np.bincount(labels, minlength=count)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    local = np.empty(labels.size, dtype=np.intp)
    local[order] = np.arange(labels.size) - starts[labels[order]]
    return order, starts, local


def _flow(instance: _Instance) -> tuple[Int64Array, int, int]:
    """The optimal amount on every canonical edge, solving each connected component as its own network."""
    need, budget, factors = instance.need, instance.budget, instance.factors
    n_projects, n_cases, n_edges = budget.size, need.size, instance.edge_case.size
    amounts = np.zeros(n_edges, dtype=np.int64)
    if not n_edges:
        return amounts, 0, 0
    # Projects are nodes 0..P-1 and cases P..P+C-1, so a component's root is its smallest project.
    root = _components(n_projects + n_cases, instance.edge_project, n_projects + instance.edge_case)
    touched = np.zeros(n_projects + n_cases, dtype=bool)
    touched[instance.edge_project] = True
    touched[n_projects + instance.edge_case] = True
    roots = np.unique(root[touched])
    component = np.full(n_projects + n_cases, -1, dtype=np.intp)
    component[touched] = np.searchsorted(roots, root[touched])
    count = roots.size

    project_component, case_component = component[:n_projects], component[n_projects:]
    projects = np.flatnonzero(project_component >= 0)
    p_order, p_starts, p_local = _group(project_component[projects], count)
    projects, p_local = projects[p_order], p_local[p_order]
    # Cases are numbered by weight, highest first: OR-Tools' push-relabel then finishes 15-25% sooner at
    # 100,000 cases (benchmarks/matching_solver.py). Still canonical: (weight, id) orders cases the same
    # whatever order they were given in.
    cases = np.flatnonzero(case_component >= 0)
    cases = cases[np.lexsort((cases, -instance.weight[cases], case_component[cases]))]
    c_starts = np.concatenate(([0], np.cumsum(np.bincount(case_component[cases], minlength=count))))
    c_local = np.arange(cases.size) - c_starts[case_component[cases]]
    e_order, e_starts, _ = _group(component[instance.edge_project], count)
    local_of_project = np.zeros(n_projects, dtype=np.intp)
    local_of_project[projects] = p_local
    local_of_case = np.zeros(n_cases, dtype=np.intp)
    local_of_case[cases] = c_local
    project_count = np.diff(p_starts)

    # Node numbers within a component: 0 source, 1 sink, then its projects, then its cases.
    edge_component = component[instance.edge_project[e_order]]
    edge_projects = (2 + local_of_project[instance.edge_project[e_order]]).astype(np.int32)
    edge_cases = (2 + project_count[edge_component] + local_of_case[instance.edge_case[e_order]]).astype(
        np.int32
    )
    edge_caps = np.minimum(instance.pair_cap[e_order], need[instance.edge_case[e_order]])

    sizes = _slice_sizes(need[cases], factors.size)
    case_nodes = 2 + project_count[case_component[cases]] + c_local
    keep = sizes > 0  # an empty slice (need smaller than the slice count) needs no arc
    slice_cases = np.broadcast_to(case_nodes[:, None], sizes.shape)[keep].astype(np.int32)
    slice_caps = sizes[keep]
    slice_costs = -(instance.weight[cases][:, None] * factors[None, :])[keep]
    # Cases are grouped by component, so each component's slice arcs are one run too.
    s_starts = np.concatenate(([0], np.cumsum(keep.sum(axis=1))))[c_starts]

    project_budget = budget[projects]
    project_nodes = (2 + p_local).astype(np.int32)
    total = 0
    for k in range(count):
        p0, p1 = int(p_starts[k]), int(p_starts[k + 1])
        e0, e1 = int(e_starts[k]), int(e_starts[k + 1])
        s0, s1 = int(s_starts[k]), int(s_starts[k + 1])
        supply = int(project_budget[p0:p1].sum())
        if supply == 0 or s0 == s1:
            continue  # nothing to give, or nobody here needs anything
        # Arcs: project → sink (budget), case → project (pair), source → case (slice), source → sink (unspent).
        network = SimpleMinCostFlow()
        network.add_arcs_with_capacity_and_unit_cost(
            np.concatenate((project_nodes[p0:p1], edge_cases[e0:e1], np.zeros(s1 - s0 + 1, np.int32))).astype(
                np.int32
            ),
            np.concatenate(
                (np.ones(p1 - p0, np.int32), edge_projects[e0:e1], slice_cases[s0:s1], [1])
            ).astype(np.int32),
            np.concatenate((project_budget[p0:p1], edge_caps[e0:e1], slice_caps[s0:s1], [supply])),
            np.concatenate((np.zeros(p1 - p0 + e1 - e0, np.int64), slice_costs[s0:s1], [0])),
        )
        network.set_nodes_supplies(np.array([0, 1], np.int32), np.array([supply, -supply], np.int64))
        status = network.solve()
        if status != SimpleMinCostFlow.OPTIMAL:
            raise SolverError(f"the min-cost flow solver returned {status.name}, not OPTIMAL")
        flows = np.asarray(network.flows(np.arange(p1 - p0, p1 - p0 + e1 - e0, dtype=np.int32)), np.int64)
        amounts[e_order[e0:e1]] = flows
        total -= int(network.optimal_cost())
    return amounts, total, count


def _explain(
    instance: _Instance, amounts: Int64Array, optimal: bool
) -> tuple[Int64Array, Int64Array, int, NDArray[np.int8], Int64Array, NDArray[np.intp], Int64Array]:
    """Covered per case, spent per project, the objective, and why each edge got its amount."""
    need, weight, budget = instance.need, instance.weight, instance.budget
    cases, projects = instance.edge_case, instance.edge_project
    covered = np.zeros(need.size, dtype=np.int64)
    np.add.at(covered, cases, amounts)
    spent = np.zeros(budget.size, dtype=np.int64)
    np.add.at(spent, projects, amounts)
    worth, next_value, next_slice, last_value = _values(need, weight, covered, instance.factors)
    funded = amounts > 0
    lowest = np.full(budget.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(lowest, projects[funded], last_value[cases[funded]])
    lowest[lowest == np.iinfo(np.int64).max] = 0

    code = np.full(amounts.size, _BUDGET_EXHAUSTED, dtype=np.int8)
    filled = covered[cases] >= need[cases]
    capped = ~filled & (amounts >= instance.pair_cap)
    no_budget = ~filled & ~capped & (budget[projects] == 0)
    limited = ~filled & ~capped & ~no_budget
    code[filled], code[capped], code[no_budget] = _NEED_FILLED, _PER_CASE_CAP, _NO_BUDGET
    if optimal:
        open_budget = limited & (spent[projects] < budget[projects])
        worth_more = limited & (next_value[cases] > lowest[projects])
        if bool(open_budget.any()) or bool(worth_more.any()):
            raise SolverError(
                "the allocation is not optimal: a fen could still be moved to a case worth more"
            )
        below = limited & (lowest[projects] > next_value[cases])
        first_slice_worth = weight[cases] * instance.factors[0]
        code[below & (first_slice_worth >= lowest[projects])] = _SPREAD
        code[below & (first_slice_worth < lowest[projects])] = _HIGHER_PRIORITY
    return covered, spent, int(worth.sum()), code, next_value, next_slice, lowest


_Item = TypeVar("_Item", bound=np.generic)


def _by_input(order: NDArray[np.intp], values: NDArray[_Item]) -> NDArray[_Item]:
    """Values in canonical order put back in the caller's order (`order` maps canonical to input positions)."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _result(instance: _Instance, amounts: Int64Array, optimal: bool, components: int) -> ArrayAllocation:
    covered, spent, objective, code, next_value, next_slice, lowest = _explain(instance, amounts, optimal)
    edges, cases, projects = instance.edge_order, instance.case_order, instance.project_order
    return ArrayAllocation(
        amount_fen=_by_input(edges, amounts),
        covered_fen=_by_input(cases, covered),
        spent_fen=_by_input(projects, spent),
        objective=objective,
        bound_code=_by_input(edges, code),
        components=components,
        edge_case=_by_input(edges, cases[instance.edge_case]),
        edge_project=_by_input(edges, projects[instance.edge_project]),
        pair_cap_fen=_by_input(edges, instance.pair_cap),
        need_fen=_by_input(cases, instance.need),
        budget_fen=_by_input(projects, instance.budget),
        next_value=_by_input(cases, next_value),
        next_slice=_by_input(cases, next_slice),
        lowest_funded_value=_by_input(projects, lowest),
        slices=int(instance.factors.size),
    )


def solve_arrays(
    case_id: ArrayLike,
    need_fen: ArrayLike,
    weight: ArrayLike,
    project_id: ArrayLike,
    budget_fen: ArrayLike,
    per_case_cap_fen: ArrayLike,
    edge_case_id: ArrayLike,
    edge_project_id: ArrayLike,
    edge_cap_fen: ArrayLike | None = None,
    segments: Sequence[int] = DEFAULT_SEGMENTS,
) -> ArrayAllocation:
    """The optimal allocation, from one array per field (cases, projects, edges): the fast path for large runs.

    `edge_cap_fen` holds each pair's own cap, NO_PAIR_CAP where the project's per-case cap applies (None: all).
    Raises ValueError for input it cannot solve exactly (see the module docstring) and SolverError if
    OR-Tools does not prove an optimum.
    """
    instance = _canonical(
        case_id,
        need_fen,
        weight,
        project_id,
        budget_fen,
        per_case_cap_fen,
        edge_case_id,
        edge_project_id,
        edge_cap_fen,
        segments,
    )
    amounts, solver_objective, components = _flow(instance)
    result = _result(instance, amounts, optimal=True, components=components)
    # The objective is recomputed from the amounts with the exact weights; the solver's own cost must agree.
    if result.objective != solver_objective:
        raise SolverError(
            f"the allocation is worth {result.objective}, but the solver reported {solver_objective}"
        )
    return result


def _columns(
    demands: Sequence[Demand], supplies: Sequence[ProjectSupply], edges: Sequence[Edge]
) -> tuple[list[int], list[int], list[int], list[int], list[int], list[int], list[int], list[int], list[int]]:
    return (
        [d.case_id for d in demands],
        [d.need_fen for d in demands],
        [d.weight for d in demands],
        [s.project_id for s in supplies],
        [s.budget_fen for s in supplies],
        [s.per_case_cap_fen for s in supplies],
        [e.case_id for e in edges],
        [e.project_id for e in edges],
        [NO_PAIR_CAP if e.cap_fen is None else e.cap_fen for e in edges],
    )


def _refuse_negative_pair_caps(edges: Sequence[Edge]) -> None:
    # NO_PAIR_CAP is how the arrays say "none"; an Edge says it with None, so -1 there is a mistake.
    for edge in edges:
        if edge.cap_fen is not None and edge.cap_fen < 0:
            raise ValueError(f"the pair cap of {(edge.case_id, edge.project_id)} cannot be negative")


def solve(
    demands: Sequence[Demand],
    supplies: Sequence[ProjectSupply],
    edges: Sequence[Edge],
    segments: Sequence[int] = DEFAULT_SEGMENTS,
) -> Allocation:
    """The allocation of budgets to cases with the greatest total value (see the module docstring)."""
    _refuse_negative_pair_caps(edges)
    columns = _columns(demands, supplies, edges)
    result = solve_arrays(*columns, segments=segments)
    return result.to_allocation(columns[0], columns[3])
