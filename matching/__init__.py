"""Pure domain: which relief projects a verified case qualifies for, and how project budgets are shared out.

Four steps, each a module over plain dataclasses (no Flask, no SQLAlchemy, no application code):

1. `rules`: a project's eligibility rules as data (diagnosis, age, region, civil-affairs class, income,
   hospital tier), read and validated from JSON-safe dicts, with every problem reported as a code.
2. `eligibility`: a rule applied to a case's profile, one check per condition, each passed or failed with a
   reason code; facts a case cannot show fail.
3. `priority`: one bounded integer weight per case from named parts (class, need against income, urgency,
   waiting), configurable and explained.
   `candidates` narrows the projects worth checking for a case (a national run cannot check every pair).
4. `solver`: the exact allocation of budgets to eligible pairs that maximises priority-weighted covered need
   (OR-Tools min-cost flow), with the reason each pair got what it got; `greedy` is the naive baseline.

Reasons are codes with parameters (money parameters end in ``_fen``) for the web layer to translate; the
English default texts are in PROBLEM_MESSAGES, CHECK_MESSAGES and BOUND_MESSAGES.
"""

from matching.allocation import (
    BOUND_CODES,
    BOUND_MESSAGES,
    Allocation,
    ArrayAllocation,
    Bound,
    Demand,
    Edge,
    ProjectSupply,
    SolverError,
)
from matching.eligibility import CHECK_MESSAGES, CaseProfile, RuleCheck, evaluate, is_eligible
from matching.greedy import greedy, greedy_arrays
from matching.priority import (
    DEFAULT_WEIGHTS,
    Priority,
    PriorityWeights,
    WeightsError,
    priority,
    weights_from_dict,
    weights_to_dict,
)
from matching.rules import (
    ASSISTANCE_CLASSES,
    HOSPITAL_TIERS,
    PROBLEM_MESSAGES,
    Params,
    Problem,
    RuleError,
    Rules,
    rules_from_dict,
    rules_to_dict,
    validate_project_terms,
)
from matching.solver import DEFAULT_SEGMENTS, NO_PAIR_CAP, solve, solve_arrays

__all__ = [
    "ASSISTANCE_CLASSES",
    "BOUND_CODES",
    "BOUND_MESSAGES",
    "CHECK_MESSAGES",
    "DEFAULT_SEGMENTS",
    "DEFAULT_WEIGHTS",
    "HOSPITAL_TIERS",
    "NO_PAIR_CAP",
    "PROBLEM_MESSAGES",
    "Allocation",
    "ArrayAllocation",
    "Bound",
    "CaseProfile",
    "Demand",
    "Edge",
    "Params",
    "Priority",
    "PriorityWeights",
    "Problem",
    "ProjectSupply",
    "RuleCheck",
    "RuleError",
    "Rules",
    "SolverError",
    "WeightsError",
    "evaluate",
    "greedy",
    "greedy_arrays",
    "is_eligible",
    "priority",
    "rules_from_dict",
    "rules_to_dict",
    "solve",
    "solve_arrays",
    "validate_project_terms",
    "weights_from_dict",
    "weights_to_dict",
]
