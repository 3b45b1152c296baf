"""The allocation solver: every constraint holds, the objective equals an independent LP optimum (HiGHS),
the result does not depend on input order or on unrelated components, and every bound code is a true reason."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.allocation import BOUND_CODES, BOUND_MESSAGES, Allocation, Demand, Edge, ProjectSupply
from matching.greedy import greedy
from matching.solver import DEFAULT_SEGMENTS, MAX_WEIGHT, NO_PAIR_CAP, solve, solve_arrays


@dataclass(frozen=True)
class Instance:
    demands: list[Demand]
    supplies: list[ProjectSupply]
    edges: list[Edge]
    segments: tuple[int, ...]


def slice_sizes(need: int, slices: int) -> list[int]:
    """Written out again here (not taken from the solver): equal slices, the first ones taking the remainder."""
    return [need // slices + (1 if k < need % slices else 0) for k in range(slices)]


def worth(need: int, weight: int, covered: int, segments: tuple[int, ...]) -> int:
    total, left = 0, covered
    for size, factor in zip(slice_sizes(need, len(segments)), segments, strict=True):
        used = min(left, size)
        total += weight * factor * used
        left -= used
    return total


def lp_optimum(instance: Instance) -> int:
    """The same problem as an LP for scipy's HiGHS, built independently of the solver.

    Variables: x per edge, then y per (case, slice). maximise Σ weight × factor × y subject to
    Σ_{edges of p} x ≤ budget_p, Σ_k y_ck − Σ_{edges of c} x = 0, 0 ≤ x ≤ min(pair cap, project cap, need),
    0 ≤ y_ck ≤ slice size. The constraint matrix is a network matrix, so the optimum is integral.
    """
    cases = {d.case_id: i for i, d in enumerate(instance.demands)}
    projects = {s.project_id: i for i, s in enumerate(instance.supplies)}
    slices = len(instance.segments)
    n_x, n_y = len(instance.edges), len(instance.demands) * slices
    if n_x == 0 or n_y == 0:
        return 0
    cost = [0.0] * n_x
    bounds: list[tuple[float, float]] = []
    for edge in instance.edges:
        supply = instance.supplies[projects[edge.project_id]]
        cap = supply.per_case_cap_fen if edge.cap_fen is None else min(edge.cap_fen, supply.per_case_cap_fen)
        bounds.append((0, min(cap, instance.demands[cases[edge.case_id]].need_fen)))
    for demand in instance.demands:
        for size, factor in zip(slice_sizes(demand.need_fen, slices), instance.segments, strict=True):
            cost.append(-float(demand.weight * factor))
            bounds.append((0, size))
    budget_rows = np.zeros((len(instance.supplies), n_x + n_y))
    balance_rows = np.zeros((len(instance.demands), n_x + n_y))
    for j, edge in enumerate(instance.edges):
        budget_rows[projects[edge.project_id], j] = 1
        balance_rows[cases[edge.case_id], j] = -1
    for i in range(len(instance.demands)):
        balance_rows[i, n_x + i * slices : n_x + (i + 1) * slices] = 1
    result = linprog(
        cost,
        A_ub=budget_rows,
        b_ub=[s.budget_fen for s in instance.supplies],
        A_eq=balance_rows,
        b_eq=np.zeros(len(instance.demands)),
        bounds=bounds,
        method="highs",
    )
    assert result.status == 0, result.message
    return round(-result.fun)


@st.composite
def instances(draw: st.DrawFn, *, first_id: int = 1, big_ids: bool = True) -> Instance:
    ids = st.integers(first_id, first_id + (10**12 if big_ids else 50))
    case_ids = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
    project_ids = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    # About one budget, cap or need in seven is zero: the edges of the problem, drawn often.
    fen = st.integers(-60, 400).map(lambda amount: max(amount, 0))
    demands = [Demand(c, draw(fen), draw(st.integers(1, 50))) for c in case_ids]
    supplies = [ProjectSupply(p, draw(fen) * 3 // 2, draw(fen)) for p in project_ids]
    edges = [
        Edge(c, p, draw(st.none() | st.integers(0, 300)))
        for c in case_ids
        for p in project_ids
        if draw(st.integers(0, 3))  # three pairs in four are eligible
    ]
    segments = draw(st.sampled_from([DEFAULT_SEGMENTS, (1,), (3, 3, 1), (5, 2), (7, 5, 4, 2, 1, 1)]))
    return Instance(demands, supplies, edges, segments)


def run(instance: Instance) -> Allocation:
    return solve(instance.demands, instance.supplies, instance.edges, instance.segments)


def check_allocation(instance: Instance, allocation: Allocation) -> None:
    """Every constraint, and every bound code a true statement about the amounts."""
    need = {d.case_id: d.need_fen for d in instance.demands}
    weight = {d.case_id: d.weight for d in instance.demands}
    supply = {s.project_id: s for s in instance.supplies}
    pair_cap = {
        (e.case_id, e.project_id): supply[e.project_id].per_case_cap_fen
        if e.cap_fen is None
        else min(e.cap_fen, supply[e.project_id].per_case_cap_fen)
        for e in instance.edges
    }
    assert set(allocation.amounts) <= set(pair_cap)  # only given pairs
    assert set(allocation.bound) == set(pair_cap)  # a reason for every pair
    for pair, amount in allocation.amounts.items():
        assert type(amount) is int
        assert 0 < amount <= pair_cap[pair]
    covered = {c: sum(a for (case, _), a in allocation.amounts.items() if case == c) for c in need}
    spent = {p: sum(a for (_, project), a in allocation.amounts.items() if project == p) for p in supply}
    assert allocation.covered_fen == covered
    assert allocation.spent_fen == spent
    assert all(covered[c] <= need[c] for c in need)
    assert all(spent[p] <= supply[p].budget_fen for p in supply)
    objective = sum(worth(need[c], weight[c], covered[c], instance.segments) for c in need)
    assert type(allocation.objective) is int
    assert allocation.objective == objective

    def next_value(case: int) -> int:
        left = covered[case]
        for size, factor in zip(
            slice_sizes(need[case], len(instance.segments)), instance.segments, strict=True
        ):
            if left < size:
                return weight[case] * factor
            left -= size
        return 0

    def last_value(case: int) -> int:
        """What fen number covered[case] is worth: what the case would lose with one fen less."""
        left = covered[case]
        for size, factor in zip(
            slice_sizes(need[case], len(instance.segments)), instance.segments, strict=True
        ):
            if left <= size:
                return weight[case] * factor
            left -= size
        raise AssertionError("covered more than the need")

    for (case, project), bound in allocation.bound.items():
        amount = allocation.amounts.get((case, project), 0)
        assert bound.code in BOUND_CODES
        assert bound.message
        assert all(type(value) in (int, str) for value in bound.params.values())
        if bound.code == "need_filled":
            assert covered[case] == need[case]
        elif bound.code == "per_case_cap":
            assert amount == pair_cap[(case, project)] == bound.params["cap_fen"]
        elif bound.code == "no_budget":
            assert supply[project].budget_fen == 0
        else:
            assert amount < pair_cap[(case, project)]
            assert covered[case] < need[case]
            assert spent[project] == supply[project].budget_fen == bound.params["budget_fen"]
            assert bound.params["case_value"] == next_value(case)
            funded = [c for (c, p), a in allocation.amounts.items() if p == project and a > 0]
            assert funded
            lowest = min(last_value(c) for c in funded)
            assert bound.params["lowest_funded_value"] == lowest >= next_value(case)
            if bound.code == "budget_exhausted":
                assert lowest == next_value(case)
            elif bound.code == "spread":
                assert weight[case] * instance.segments[0] >= lowest > next_value(case)
            else:
                assert bound.code == "higher_priority"
                assert weight[case] * instance.segments[0] < lowest


@settings(max_examples=400, derandomize=True, deadline=None)
@given(instances())
def test_the_optimum_keeps_every_constraint_and_equals_the_lp_optimum(instance: Instance) -> None:
    allocation = run(instance)
    check_allocation(instance, allocation)
    assert allocation.objective == lp_optimum(instance)
    assert (
        allocation.objective
        >= greedy(instance.demands, instance.supplies, instance.edges, instance.segments).objective
    )


@settings(max_examples=60, derandomize=True, deadline=None)
@given(instances(), st.randoms(use_true_random=False))
def test_the_same_input_in_any_order_gives_the_same_allocation(
    instance: Instance, shuffler: random.Random
) -> None:
    shuffled = Instance(
        shuffler.sample(instance.demands, len(instance.demands)),
        shuffler.sample(instance.supplies, len(instance.supplies)),
        shuffler.sample(instance.edges, len(instance.edges)),
        instance.segments,
    )
    assert run(shuffled) == run(instance)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(instances(first_id=1, big_ids=False), instances(first_id=1000, big_ids=False))
def test_disjoint_instances_solved_together_equal_each_solved_apart(left: Instance, right: Instance) -> None:
    segments = left.segments
    left = Instance(left.demands, left.supplies, left.edges, segments)
    right = Instance(right.demands, right.supplies, right.edges, segments)
    together = run(
        Instance(
            left.demands + right.demands, left.supplies + right.supplies, left.edges + right.edges, segments
        )
    )
    apart = [run(left), run(right)]
    assert together.objective == apart[0].objective + apart[1].objective
    # Each component is its own network, so the amounts themselves do not change either.
    assert together.amounts == {**apart[0].amounts, **apart[1].amounts}
    assert together.bound == {**apart[0].bound, **apart[1].bound}


def test_many_components_are_each_solved() -> None:
    demands = [Demand(c, 100, 1 + c % 7) for c in range(60)]
    supplies = [ProjectSupply(1000 + c // 3, 150, 80) for c in range(0, 60, 3)]
    edges = [Edge(c, 1000 + c // 3) for c in range(60)]
    result = solve_arrays(
        [d.case_id for d in demands],
        [d.need_fen for d in demands],
        [d.weight for d in demands],
        [s.project_id for s in supplies],
        [s.budget_fen for s in supplies],
        [s.per_case_cap_fen for s in supplies],
        [e.case_id for e in edges],
        [e.project_id for e in edges],
    )
    assert result.components == 20
    assert result.spent_fen.tolist() == [150] * 20
    instance = Instance(demands, supplies, edges, DEFAULT_SEGMENTS)
    assert result.objective == lp_optimum(instance)


def test_greedy_loses_where_a_high_priority_case_takes_the_only_project_another_can_use() -> None:
    # Case 1 (weight 10) can use projects 1 and 2; case 2 (weight 5) only project 1. Greedy serves case 1
    # first from project 1 (lowest id) and leaves case 2 nothing; the optimum sends case 1 to project 2.
    demands = [Demand(1, 100, 10), Demand(2, 100, 5)]
    supplies = [ProjectSupply(1, 100, 100), ProjectSupply(2, 100, 100)]
    edges = [Edge(1, 1), Edge(1, 2), Edge(2, 1)]
    naive = greedy(demands, supplies, edges)
    best = solve(demands, supplies, edges)
    # A full need of 100 is four slices of 25 worth ×4, ×3, ×2, ×1: 250 × weight.
    assert naive.amounts == {(1, 1): 100}
    assert naive.objective == 2_500
    assert best.amounts == {(1, 2): 100, (2, 1): 100}
    assert best.objective == 2_500 + 1_250
    assert naive.bound[(2, 1)].code == "budget_exhausted"
    assert best.bound[(2, 1)].code == "need_filled"
    assert best.bound[(1, 1)].code == "need_filled"


def one_pair(need: int, weight: int, budget: int, cap: int, pair_cap: int | None = None) -> Allocation:
    return solve([Demand(1, need, weight)], [ProjectSupply(9, budget, cap)], [Edge(1, 9, pair_cap)])


def test_bound_need_filled() -> None:
    allocation = one_pair(need=100, weight=3, budget=1_000, cap=1_000)
    assert allocation.amounts == {(1, 9): 100}
    assert allocation.bound[(1, 9)].code == "need_filled"
    assert allocation.bound[(1, 9)].params == {"need_fen": 100, "covered_fen": 100}


def test_bound_per_case_cap_from_the_project_and_from_the_pair() -> None:
    by_project = one_pair(need=100, weight=3, budget=1_000, cap=30)
    assert by_project.amounts == {(1, 9): 30}
    assert (by_project.bound[(1, 9)].code, by_project.bound[(1, 9)].params) == (
        "per_case_cap",
        {"cap_fen": 30, "amount_fen": 30},
    )
    by_pair = one_pair(need=100, weight=3, budget=1_000, cap=30, pair_cap=20)
    assert by_pair.amounts == {(1, 9): 20}
    assert by_pair.bound[(1, 9)].params == {"cap_fen": 20, "amount_fen": 20}
    already_at_cap = one_pair(need=100, weight=3, budget=1_000, cap=30, pair_cap=0)
    assert already_at_cap.amounts == {}
    assert already_at_cap.bound[(1, 9)].code == "per_case_cap"


def test_bound_no_budget() -> None:
    allocation = one_pair(need=100, weight=3, budget=0, cap=30)
    assert allocation.amounts == {}
    assert allocation.objective == 0
    assert (allocation.bound[(1, 9)].code, allocation.bound[(1, 9)].params) == (
        "no_budget",
        {"budget_fen": 0},
    )


def test_bound_budget_exhausted() -> None:
    # 10 fen for a need of 100: the budget runs out inside the first slice, worth 3 × 4 on both sides.
    allocation = one_pair(need=100, weight=3, budget=10, cap=100)
    assert allocation.amounts == {(1, 9): 10}
    bound = allocation.bound[(1, 9)]
    assert bound.code == "budget_exhausted"
    assert bound.params == {"budget_fen": 10, "lowest_funded_value": 12, "case_value": 12}


def test_bound_spread() -> None:
    # Slices of 250: case 1 is worth 40, 30, 20, 10 per fen, case 2 20, 15, 10, 5. 1,200 fen buy case 1's
    # first three slices (750) and case 2's first slice and 200 fen of its second, worth 15: case 1's last
    # slice (10) is worth less, though its first slice (40) is worth more: the budget was spread.
    demands = [Demand(1, 1_000, 10), Demand(2, 1_000, 5)]
    allocation = solve(demands, [ProjectSupply(9, 1_200, 1_000)], [Edge(1, 9), Edge(2, 9)])
    assert allocation.amounts == {(1, 9): 750, (2, 9): 450}
    assert allocation.objective == 250 * (40 + 30 + 20) + 250 * 20 + 200 * 15
    assert allocation.bound[(1, 9)].code == "spread"
    assert allocation.bound[(1, 9)].params == {
        "budget_fen": 1_200,
        "lowest_funded_value": 15,
        "case_value": 10,
        "slice": 4,
        "slices": 4,
    }
    assert allocation.bound[(2, 9)].code == "budget_exhausted"


def test_bound_higher_priority() -> None:
    # Case 1 (weight 10) is worth at least 10 a fen to its last fen; case 2 (weight 1) at most 4.
    demands = [Demand(1, 100, 10), Demand(2, 100, 1)]
    allocation = solve(demands, [ProjectSupply(9, 100, 100)], [Edge(1, 9), Edge(2, 9)])
    assert allocation.amounts == {(1, 9): 100}
    assert allocation.bound[(1, 9)].code == "need_filled"
    bound = allocation.bound[(2, 9)]
    assert bound.code == "higher_priority"
    assert bound.params == {"budget_fen": 100, "lowest_funded_value": 10, "case_value": 4}
    assert bound.message == BOUND_MESSAGES["higher_priority"].format_map(bound.params)


def test_cases_and_projects_without_pairs_get_nothing() -> None:
    allocation = solve(
        [Demand(1, 100, 5), Demand(2, 100, 5)],
        [ProjectSupply(8, 50, 50), ProjectSupply(9, 50, 50)],
        [Edge(1, 8)],
    )
    assert allocation.amounts == {(1, 8): 50}
    assert allocation.covered_fen == {1: 50, 2: 0}
    assert allocation.spent_fen == {8: 50, 9: 0}
    assert solve([], [], []) == Allocation({}, 0, {}, {}, {})


def test_the_array_entry_point_answers_in_input_order() -> None:
    demands = [Demand(5, 300, 2), Demand(3, 200, 9), Demand(4, 100, 4)]
    supplies = [ProjectSupply(20, 250, 120), ProjectSupply(10, 100, 100)]
    edges = [Edge(4, 20), Edge(3, 10), Edge(5, 20, 60), Edge(3, 20), Edge(5, 10)]
    result = solve_arrays(
        np.array([d.case_id for d in demands]),
        np.array([d.need_fen for d in demands]),
        np.array([d.weight for d in demands]),
        np.array([s.project_id for s in supplies]),
        np.array([s.budget_fen for s in supplies]),
        np.array([s.per_case_cap_fen for s in supplies]),
        np.array([e.case_id for e in edges]),
        np.array([e.project_id for e in edges]),
        np.array([NO_PAIR_CAP if e.cap_fen is None else e.cap_fen for e in edges]),
    )
    allocation = solve(demands, supplies, edges)
    assert result.amount_fen.tolist() == [allocation.amounts.get((e.case_id, e.project_id), 0) for e in edges]
    assert result.covered_fen.tolist() == [allocation.covered_fen[d.case_id] for d in demands]
    assert result.spent_fen.tolist() == [allocation.spent_fen[s.project_id] for s in supplies]
    assert [result.bound(i) for i in range(len(edges))] == result.bounds()
    assert result.bounds() == [allocation.bound[(e.case_id, e.project_id)] for e in edges]


@pytest.mark.parametrize(
    ("demands", "supplies", "edges", "segments", "message"),
    [
        ([Demand(1, 10, 1), Demand(1, 5, 1)], [], [], DEFAULT_SEGMENTS, "case 1 is given twice"),
        (
            [],
            [ProjectSupply(2, 1, 1), ProjectSupply(2, 1, 1)],
            [],
            DEFAULT_SEGMENTS,
            "project 2 is given twice",
        ),
        (
            [Demand(1, 10, 1)],
            [ProjectSupply(2, 1, 1)],
            [Edge(1, 2), Edge(1, 2)],
            DEFAULT_SEGMENTS,
            "given twice",
        ),
        ([Demand(1, 10, 1)], [ProjectSupply(2, 1, 1)], [Edge(3, 2)], DEFAULT_SEGMENTS, "case 3"),
        ([Demand(1, 10, 1)], [ProjectSupply(2, 1, 1)], [Edge(1, 4)], DEFAULT_SEGMENTS, "project 4"),
        ([Demand(1, -1, 1)], [], [], DEFAULT_SEGMENTS, "need cannot be negative"),
        ([Demand(1, 10, 0)], [], [], DEFAULT_SEGMENTS, "weights must be"),
        ([Demand(1, 10, MAX_WEIGHT + 1)], [], [], DEFAULT_SEGMENTS, "weights must be"),
        ([], [ProjectSupply(2, -1, 1)], [], DEFAULT_SEGMENTS, "budget cannot be negative"),
        ([], [ProjectSupply(2, 1, -1)], [], DEFAULT_SEGMENTS, "per-case cap cannot be negative"),
        (
            [Demand(1, 10, 1)],
            [ProjectSupply(2, 1, 1)],
            [Edge(1, 2, -1)],
            DEFAULT_SEGMENTS,
            "cannot be negative",
        ),
        ([], [], [], (), "at least one"),
        ([], [], [], (1, 2), "must not increase"),
        ([], [], [], (2, 0), "from 1 to"),
        ([], [], [], (True,), "from 1 to"),
        ([Demand(1, 10, MAX_WEIGHT)], [ProjectSupply(2, 2**50, 1)], [], DEFAULT_SEGMENTS, "int64"),
    ],
)
def test_input_it_cannot_solve_exactly_is_refused(
    demands: list[Demand],
    supplies: list[ProjectSupply],
    edges: list[Edge],
    segments: tuple[int, ...],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        solve(demands, supplies, edges, segments)


def test_money_must_be_integers() -> None:
    with pytest.raises(ValueError, match="integers"):
        solve_arrays([1], [10.5], [1], [2], [5], [5], [1], [2])
    with pytest.raises(ValueError, match="integers"):
        solve_arrays([1], [10], [True], [2], [5], [5], [1], [2])


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 15),
    st.lists(st.tuples(st.integers(0, 39), st.integers(0, 14)), max_size=60),
)
def test_components_are_the_connected_parts_of_the_eligibility_graph(
    cases: int, projects: int, pairs: list[tuple[int, int]]
) -> None:
    pairs = sorted({(c % cases, p % projects) for c, p in pairs})
    result = solve_arrays(
        np.arange(cases),
        np.full(cases, 100),
        np.ones(cases, dtype=np.int64),
        np.arange(projects),
        np.full(projects, 50),
        np.full(projects, 50),
        [c for c, _ in pairs],
        [p for _, p in pairs],
    )
    # scipy's graph search, independent of the solver's own: cases are nodes 0.., projects after them.
    graph = coo_matrix(
        ([1] * len(pairs), ([c for c, _ in pairs], [cases + p for _, p in pairs])),
        shape=(cases + projects, cases + projects),
    )
    _, label = connected_components(graph, directed=False)
    with_pairs = {label[c] for c, _ in pairs}
    assert result.components == len(with_pairs)
