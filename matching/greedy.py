"""The naive allocation the solver is measured against: cases by weight, each taking all it can."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from matching.allocation import Allocation, ArrayAllocation, Demand, Edge, ProjectSupply
from matching.solver import DEFAULT_SEGMENTS, _canonical, _columns, _refuse_negative_pair_caps, _result


def greedy_arrays(
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
    """The naive baseline, for comparison: cases by weight (highest first, then by id), each taking all it
    can from its projects in id order. Its bounds only say which limit stopped a pair: need_filled,
    per_case_cap, no_budget or budget_exhausted (greedy makes no claim that the budget went to better uses)."""
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
    left = instance.budget.tolist()
    need = instance.need.tolist()
    projects = instance.edge_project.tolist()
    caps = instance.pair_cap.tolist()
    amounts = [0] * len(projects)
    # Canonical edges run by case, so each case's edges are one run, already in project-id order.
    starts = np.searchsorted(instance.edge_case, np.arange(instance.need.size + 1)).tolist()
    by_weight = np.lexsort((np.arange(instance.need.size), -instance.weight)).tolist()
    for case in by_weight:
        wanted = need[case]
        for edge in range(starts[case], starts[case + 1]):
            if wanted == 0:
                break
            project = projects[edge]
            take = min(wanted, caps[edge], left[project])
            amounts[edge] = take
            left[project] -= take
            wanted -= take
    return _result(instance, np.asarray(amounts, dtype=np.int64), optimal=False, components=0)


def greedy(
    demands: Sequence[Demand],
    supplies: Sequence[ProjectSupply],
    edges: Sequence[Edge],
    segments: Sequence[int] = DEFAULT_SEGMENTS,
) -> Allocation:
    """The naive baseline `greedy_arrays` computes, keyed by ids like `solve`."""
    _refuse_negative_pair_caps(edges)
    columns = _columns(demands, supplies, edges)
    result = greedy_arrays(*columns, segments=segments)
    return result.to_allocation(columns[0], columns[3])
