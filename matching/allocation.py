"""What the solver returns: its inputs and results as dataclasses, and why each pair got what it got.

`Bound` codes (see matching/solver.py for when each holds) are codes with parameters for the web layer to
translate; BOUND_MESSAGES are the English defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matching.rules import Params

Int64Array = NDArray[np.int64]

BOUND_CODES: tuple[str, ...] = (
    "need_filled",
    "per_case_cap",
    "no_budget",
    "budget_exhausted",
    "spread",
    "higher_priority",
)
_NEED_FILLED, _PER_CASE_CAP, _NO_BUDGET, _BUDGET_EXHAUSTED, _SPREAD, _HIGHER_PRIORITY = range(6)

# English defaults, keyed by bound code. Values are per fen (weight × slice factor), not money.
BOUND_MESSAGES: Mapping[str, str] = {
    "need_filled": "The case's need of {need_fen} fen is fully covered.",
    "per_case_cap": "The pair got its cap of {cap_fen} fen.",
    "no_budget": "The project has no budget left.",
    "budget_exhausted": (
        "The project's budget of {budget_fen} fen is all spent, on uses worth {lowest_funded_value} per fen or"
        " more; this case's next fen is worth {case_value}."
    ),
    "spread": (
        "The project's budget of {budget_fen} fen is all spent, on uses worth {lowest_funded_value} per fen or"
        " more; this case already has part of its need covered, and its slice {slice} of {slices} is worth"
        " {case_value} per fen."
    ),
    "higher_priority": (
        "The project's budget of {budget_fen} fen is all spent, on uses worth {lowest_funded_value} per fen or"
        " more, above the {case_value} this case's need is worth."
    ),
}


class SolverError(RuntimeError):
    """The flow solver did not return a proven optimum (an OR-Tools status other than OPTIMAL)."""


@dataclass(frozen=True, slots=True)
class ProjectSupply:
    """A project's money available to this run."""

    project_id: int
    budget_fen: int
    per_case_cap_fen: int


@dataclass(frozen=True, slots=True)
class Demand:
    """A case's remaining need and its priority weight (`Priority.total`)."""

    case_id: int
    need_fen: int
    weight: int


@dataclass(frozen=True, slots=True)
class Edge:
    """A case eligible for a project; `cap_fen` limits this pair further (None: the project's per-case cap)."""

    case_id: int
    project_id: int
    cap_fen: int | None = None


@dataclass(frozen=True, slots=True)
class Bound:
    """Why a pair got the amount it got: a code of BOUND_CODES and its parameters."""

    code: str
    params: Params

    @property
    def message(self) -> str:
        """The English default text of the reason."""
        return BOUND_MESSAGES[self.code].format_map(self.params)


@dataclass(frozen=True, slots=True)
class Allocation:
    """An allocation: amounts per (case_id, project_id) (only those > 0) and why every given pair got its amount."""

    amounts: dict[tuple[int, int], int]
    objective: int
    covered_fen: dict[int, int]  # every case given
    spent_fen: dict[int, int]  # every project given
    bound: dict[tuple[int, int], Bound]  # every edge given


@dataclass(frozen=True, slots=True, eq=False)
class ArrayAllocation:
    """`solve_arrays`' result, every array in the order of its input (edges, cases or projects)."""

    amount_fen: Int64Array  # per edge
    covered_fen: Int64Array  # per case
    spent_fen: Int64Array  # per project
    objective: int
    bound_code: NDArray[np.int8]  # per edge, an index into BOUND_CODES
    components: int  # networks solved
    # What `bound` needs to state its parameters.
    edge_case: NDArray[np.intp]  # per edge, the position of its case among the cases
    edge_project: NDArray[np.intp]  # per edge, the position of its project among the projects
    pair_cap_fen: Int64Array  # per edge, the cap in force
    need_fen: Int64Array  # per case
    budget_fen: Int64Array  # per project
    next_value: Int64Array  # per case, the worth of its next fen (0 when its need is covered)
    next_slice: NDArray[np.intp]  # per case, the slice its next fen is in (0-based)
    lowest_funded_value: Int64Array  # per project, the least worth of the last fen of a case it funded
    slices: int

    def bound(self, edge: int) -> Bound:
        """The reason for edge number `edge` (its position in the input)."""
        code = int(self.bound_code[edge])
        case, project = int(self.edge_case[edge]), int(self.edge_project[edge])
        params: Params
        if code == _NEED_FILLED:
            params = {"need_fen": int(self.need_fen[case]), "covered_fen": int(self.covered_fen[case])}
        elif code == _PER_CASE_CAP:
            params = {"cap_fen": int(self.pair_cap_fen[edge]), "amount_fen": int(self.amount_fen[edge])}
        elif code == _NO_BUDGET:
            params = {"budget_fen": int(self.budget_fen[project])}
        else:
            params = {
                "budget_fen": int(self.budget_fen[project]),
                "lowest_funded_value": int(self.lowest_funded_value[project]),
                "case_value": int(self.next_value[case]),
            }
            if code == _SPREAD:
                params |= {"slice": int(self.next_slice[case]) + 1, "slices": self.slices}
        return Bound(BOUND_CODES[code], params)

    def bounds(self) -> list[Bound]:
        """The reason for every edge, in input order (`bound` for all, without per-edge array lookups)."""
        codes = self.bound_code.tolist()
        cases, projects = self.edge_case.tolist(), self.edge_project.tolist()
        amounts, caps = self.amount_fen.tolist(), self.pair_cap_fen.tolist()
        need, covered = self.need_fen.tolist(), self.covered_fen.tolist()
        budget, lowest = self.budget_fen.tolist(), self.lowest_funded_value.tolist()
        next_value, next_slice = self.next_value.tolist(), self.next_slice.tolist()
        found: list[Bound] = []
        for code, case, project, amount, cap in zip(codes, cases, projects, amounts, caps, strict=True):
            params: Params
            if code == _NEED_FILLED:
                params = {"need_fen": need[case], "covered_fen": covered[case]}
            elif code == _PER_CASE_CAP:
                params = {"cap_fen": cap, "amount_fen": amount}
            elif code == _NO_BUDGET:
                params = {"budget_fen": budget[project]}
            else:
                params = {
                    "budget_fen": budget[project],
                    "lowest_funded_value": lowest[project],
                    "case_value": next_value[case],
                }
                if code == _SPREAD:
                    params |= {"slice": next_slice[case] + 1, "slices": self.slices}
            found.append(Bound(BOUND_CODES[code], params))
        return found

    def to_allocation(self, case_id: ArrayLike, project_id: ArrayLike) -> Allocation:
        """The same result keyed by ids (the ids passed to `solve_arrays`, in the same order)."""
        cases = np.asarray(case_id, dtype=np.int64).tolist()
        projects = np.asarray(project_id, dtype=np.int64).tolist()
        pairs = [
            (cases[c], projects[p])
            for c, p in zip(self.edge_case.tolist(), self.edge_project.tolist(), strict=True)
        ]
        amounts = self.amount_fen.tolist()
        return Allocation(
            amounts={pair: amount for pair, amount in zip(pairs, amounts, strict=True) if amount > 0},
            objective=self.objective,
            covered_fen=dict(zip(cases, self.covered_fen.tolist(), strict=True)),
            spent_fen=dict(zip(projects, self.spent_fen.tolist(), strict=True)),
            bound=dict(zip(pairs, self.bounds(), strict=True)),
        )
