"""Sweeps without processes: parameter expressions, samplers and early-termination policies."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
import re
import statistics
import sys

import pytest

from runner.core.errors import UsageError
from runner.sweep.policy import (
    BanditPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    TruncationSelectionPolicy,
    policy_from_dict,
)
from runner.sweep.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    RandomParameterSampling,
    Trial,
    check_sampling_policy,
    sampling_from_dict,
)
from runner.sweep.space import (
    choice,
    expression_from_dict,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    space_from_dict,
    space_to_dict,
    uniform,
)

MAX, MIN = PrimaryMetricGoal.MAXIMIZE, PrimaryMetricGoal.MINIMIZE

EVERY_KIND = {
    "--c": choice(16, 32, 64),
    "--r": randint(5),
    "--u": uniform(-1, 1),
    "--qu": quniform(0, 10, 2),
    "--lu": loguniform(-3, 0),
    "--qlu": qloguniform(0, 3, 1),
    "--n": normal(10, 2),
    "--qn": qnormal(10, 2, 0.5),
    "--ln": lognormal(0, 0.5),
    "--qln": qlognormal(1, 0.5, 1),
}


def draws(expr, n=2000, seed=7):
    """``n`` values of ``expr`` from a fixed seed."""
    rng = random.Random(seed)
    return [expr.sample(rng) for _ in range(n)]


def json_trip(data):
    """``data`` after a trip through JSON text, as a run record stores it."""
    return json.loads(json.dumps(data))


# --- parameter expressions -------------------------------------------------------------


def test_choice_takes_options_as_arguments_a_list_or_a_range():
    """choice(1, 2, 3), choice([1, 2, 3]) and choice(range(1, 4)) are the same expression."""
    assert choice(1, 2, 3) == choice([1, 2, 3]) == choice(range(1, 4))
    assert (1, 2, 3) == choice(range(1, 4)).grid_values()


def test_choice_keeps_a_single_string_as_one_option():
    """choice("adam") offers the one option "adam", not its letters."""
    assert ("adam",) == choice("adam").grid_values()
    assert {"adam"} == set(draws(choice("adam"), 20))


def test_choice_draws_every_option():
    """A choice draws only its options, and each of them over many draws."""
    assert {"a", None, 2.5, True} == set(draws(choice("a", None, 2.5, True)))


def test_randint_draws_integers_from_zero_to_upper_minus_one():
    """randint(5) draws the integers 0..4 and nothing else."""
    values = draws(randint(5))
    assert {0, 1, 2, 3, 4} == set(values)
    assert all(type(v) is int for v in values)


def test_uniform_draws_within_its_bounds_across_the_range():
    """uniform(-1, 1) draws reals in [-1, 1] that reach near both ends."""
    values = draws(uniform(-1, 1))
    assert all(-1 <= v <= 1 for v in values)
    assert min(values) < -0.95 and max(values) > 0.95


def test_quniform_rounds_to_multiples_of_q():
    """quniform with an int q gives ints on the q grid; with a float q, clean multiples."""
    ints = draws(quniform(0, 10, 2))
    assert {0, 2, 4, 6, 8, 10} == set(ints)
    assert all(type(v) is int for v in ints)
    tenths = set(draws(quniform(0, 1, 0.1)))
    assert {round(k / 10, 1) for k in range(11)} == tenths


def test_loguniform_bounds_are_exponents():
    """loguniform(a, b) draws in [exp(a), exp(b)] with a uniform logarithm, as in v1."""
    low, high = math.log(1e-4), math.log(1e-1)
    values = draws(loguniform(low, high))
    assert all(1e-4 <= v <= 1e-1 for v in values)
    assert (low + high) / 2 == pytest.approx(statistics.fmean(map(math.log, values)), abs=0.2)
    assert all(1 <= v <= math.e for v in draws(loguniform(0, 1), 200))


def test_qloguniform_rounds_exponentiated_values_to_q():
    """qloguniform(0, 3, 1) draws the integers round(exp(u)) for u in [0, 3]."""
    values = draws(qloguniform(0, 3, 1))
    assert set(values) <= set(range(1, 21))
    assert 1 in values and 20 in values


def test_normal_draws_with_its_mean_and_deviation():
    """normal(10, 2) draws with mean about 10 and deviation about 2."""
    values = draws(normal(10, 2), 4000)
    assert 10 == pytest.approx(statistics.fmean(values), abs=0.15)
    assert 2 == pytest.approx(statistics.stdev(values), abs=0.15)


def test_qnormal_rounds_to_multiples_of_q():
    """qnormal(10, 2, 0.5) draws multiples of 0.5 around 10."""
    values = draws(qnormal(10, 2, 0.5))
    assert all((v * 2).is_integer() for v in values)
    assert 10 == pytest.approx(statistics.fmean(values), abs=0.2)


def test_lognormal_draws_positive_values_with_a_normal_logarithm():
    """lognormal(0, 0.5) draws positives whose logarithm has mean about 0."""
    values = draws(lognormal(0, 0.5), 4000)
    assert all(v > 0 for v in values)
    assert 0 == pytest.approx(statistics.fmean(map(math.log, values)), abs=0.05)


def test_qlognormal_rounds_exponentiated_normals_to_q():
    """qlognormal(1, 0.5, 1) draws non-negative integers."""
    values = draws(qlognormal(1, 0.5, 1))
    assert all(type(v) is int and v >= 0 for v in values)


def test_discrete_kinds_are_choice_randint_and_the_q_kinds():
    """choice, randint and q* are discrete; the continuous kinds are not."""
    discrete = {name for name, expr in EVERY_KIND.items() if expr.discrete}
    assert {"--c", "--r", "--qu", "--qlu", "--qn", "--qln"} == discrete


@pytest.mark.parametrize("name", [n for n in EVERY_KIND if n != "--c"])
def test_only_choice_can_be_enumerated(name):
    """Every kind but choice refuses grid_values(), naming choice() as the fix."""
    with pytest.raises(UsageError, match=r"supports only choice\(\)"):
        EVERY_KIND[name].grid_values()


@pytest.mark.parametrize("name", list(EVERY_KIND))
def test_an_expression_survives_a_json_round_trip(name):
    """expression -> dict -> JSON -> expression gives an equal expression."""
    expr = EVERY_KIND[name]
    again = expression_from_dict(json_trip(expr.to_dict()))
    assert expr == again
    assert repr(expr) == repr(again)
    assert hash(expr) == hash(again)


def test_an_expression_is_immutable():
    """Assigning to an expression's fields fails."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        uniform(0, 1).args = (0, 2)  # type: ignore[misc]


def test_a_space_round_trip_keeps_names_exactly_and_in_order():
    """A space's names ("--alpha", "alpha") and order survive a JSON round trip."""
    space = {"--alpha": uniform(0, 1), "alpha": choice("x", "y"), "b": randint(3)}
    again = space_from_dict(json_trip(space_to_dict(space)))
    assert list(space) == list(again)
    assert space == again
    assert {"kind": "uniform", "min_value": 0, "max_value": 1} == space_to_dict(space)["--alpha"]


# --- samplers ----------------------------------------------------------------------------


def test_grid_enumerates_every_combination_in_product_order():
    """Grid gives every combination once, the last parameter varying fastest."""
    grid = GridParameterSampling({"--lr": choice(0.1, 0.01), "--batch": choice(16, 32, 64)})
    expected = [
        {"--lr": lr, "--batch": b} for lr, b in itertools.product((0.1, 0.01), (16, 32, 64))
    ]
    assert 6 == grid.total
    assert expected == list(grid)
    assert expected == grid.suggest(100)


def test_grid_continues_after_the_history_and_runs_out():
    """Grid picks up after the trials already issued and returns fewer when exhausted."""
    grid = GridParameterSampling({"a": choice(1, 2, 3), "b": choice("x", "y")})
    first = grid.suggest(4)
    rest = grid.suggest(4, [Trial(p) for p in first])
    assert list(grid) == first + rest
    assert 2 == len(rest)
    assert [] == grid.suggest(4, [Trial(p) for p in first + rest])


def test_grid_can_be_capped_by_the_caller():
    """A caller capping at max_total_runs asks for no more than what is left of the cap."""
    grid = GridParameterSampling({"a": choice(*range(10)), "b": choice(*range(10))})
    max_total_runs = 7
    assert [{"a": 0, "b": b} for b in range(7)] == grid.suggest(max_total_runs)


def test_grid_refuses_a_continuous_expression():
    """Grid over uniform fails, naming the parameter and the fixes."""
    with pytest.raises(UsageError) as err:
        GridParameterSampling({"--batch": choice(16), "--lr": uniform(0, 1)})
    assert "'--lr' is uniform(0, 1)" in str(err.value)
    assert "choice(...)" in str(err.value) and "RandomParameterSampling" in str(err.value)


def test_random_with_a_seed_repeats_its_trials_however_they_are_batched():
    """The same seed gives the same trials, in one call or several, via seed= or rngSeed."""
    one = RandomParameterSampling(EVERY_KIND, properties={"rngSeed": 42})
    other = RandomParameterSampling(EVERY_KIND, seed=42)
    all_five = one.suggest(5)
    assert all_five == other.suggest(5)
    assert all_five == one.suggest(2) + one.suggest(3, [Trial(p) for p in all_five[:2]])
    assert list(EVERY_KIND) == list(all_five[0])


def test_random_with_another_seed_gives_other_trials():
    """A different seed gives a different sequence."""
    space = {"--lr": uniform(0, 1)}
    assert RandomParameterSampling(space, seed=1).suggest(5) != RandomParameterSampling(
        space, seed=2
    ).suggest(5)


def test_random_without_a_seed_keeps_the_one_it_picked_for_resuming():
    """An unseeded random sampler stores its chosen seed, so a resumed one continues alike."""
    sampler = RandomParameterSampling({"--lr": uniform(0, 1)})
    resumed = sampling_from_dict(json_trip(sampler.to_dict()))
    assert isinstance(sampler.seed, int)
    assert sampler.suggest(3) == resumed.suggest(3)


def test_random_keeps_unknown_v1_properties():
    """Properties other than rngSeed are accepted and stored as given."""
    sampler = RandomParameterSampling({"a": choice(1)}, properties={"rngSeed": 1, "x": "y"})
    assert {"rngSeed": 1, "x": "y"} == sampler.to_dict()["properties"]


@pytest.mark.parametrize(
    "sampler",
    [
        GridParameterSampling({"--a": choice(1, 2), "b": choice("x")}),
        RandomParameterSampling(EVERY_KIND, seed=3),
        BayesianParameterSampling({"x": uniform(0, 1), "q": quniform(0, 9, 3)}, seed=4),
    ],
    ids=["grid", "random", "bayesian"],
)
def test_a_sampler_survives_a_json_round_trip(sampler):
    """sampler -> dict -> JSON -> sampler gives an equal sampler."""
    again = sampling_from_dict(json_trip(sampler.to_dict()))
    assert sampler == again
    assert sampler.to_dict() == again.to_dict()


@pytest.mark.parametrize("name", ["--r", "--lu", "--qlu", "--n", "--qn", "--ln", "--qln"])
def test_bayesian_refuses_kinds_other_than_choice_uniform_quniform(name):
    """Bayesian accepts only choice, uniform and quniform, naming the parameter."""
    with pytest.raises(UsageError) as err:
        BayesianParameterSampling({"ok": uniform(0, 1), name: EVERY_KIND[name]})
    message = str(err.value)
    assert f"parameter {name!r}" in message
    assert "supports only choice, uniform, quniform" in message


def test_bayesian_allows_no_early_termination_policy():
    """Bayesian with a real policy is refused; with None or NoTerminationPolicy it is fine."""
    bayes = BayesianParameterSampling({"x": uniform(0, 1)})
    check_sampling_policy(bayes, None)
    check_sampling_policy(bayes, NoTerminationPolicy())
    check_sampling_policy(RandomParameterSampling({"x": uniform(0, 1)}), BanditPolicy(0.1))
    with pytest.raises(UsageError, match="does not support early termination"):
        check_sampling_policy(bayes, MedianStoppingPolicy())


def test_bayesian_without_optuna_names_the_install_command(monkeypatch):
    """Without Optuna, Bayesian suggest fails with the pip command to fix it."""
    monkeypatch.setitem(sys.modules, "optuna", None)
    sampler = BayesianParameterSampling({"x": uniform(0, 1)})
    with pytest.raises(UsageError, match=r'pip install "runner\[sweep\]"'):
        sampler.suggest(1, goal=MAX)


def test_bayesian_needs_the_goal():
    """Bayesian suggest without goal= fails, naming PrimaryMetricGoal."""
    with pytest.raises(UsageError, match="PrimaryMetricGoal"):
        BayesianParameterSampling({"x": uniform(0, 1)}).suggest(1)


def test_bayesian_suggests_values_within_the_space():
    """Bayesian values lie in bounds, quniform ones on the q grid, choices among options."""
    pytest.importorskip("optuna")
    space = {"--x": uniform(-2, 2), "--q": quniform(0, 10, 2), "--c": choice("a", "b")}
    sampler = BayesianParameterSampling(space, seed=0)
    history = [
        Trial({"--x": 0.5, "--q": 4, "--c": "a"}, 1.0),
        Trial({"--x": 1.5, "--q": 10, "--c": "b"}, None, finished=False),  # running
        Trial({"--x": -1.0, "--q": 0, "--c": "b"}, None),  # failed, no metric
    ]
    out = sampler.suggest(4, history, goal="maximize")
    assert 4 == len(out)
    for params in out:
        assert list(space) == list(params)
        assert -2 <= params["--x"] <= 2
        assert params["--q"] in {0, 2, 4, 6, 8, 10}
        assert params["--c"] in {"a", "b"}
    assert out == sampler.suggest(4, history, goal="maximize")


def test_bayesian_moves_toward_the_optimum_of_a_toy_function():
    """On -(x - 0.7)^2, TPE's later suggestions sit closer to 0.7 than its random start."""
    pytest.importorskip("optuna")
    sampler = BayesianParameterSampling({"x": uniform(0, 1), "c": choice("bad", "good")}, seed=1)
    history: list[Trial] = []
    for _ in range(30):
        params = sampler.suggest(1, history, goal=MAX)[0]
        score = -((params["x"] - 0.7) ** 2) - (0.0 if params["c"] == "good" else 0.3)
        history.append(Trial(params, score))
    distance = [abs(t.parameters["x"] - 0.7) for t in history]
    assert statistics.fmean(distance[-10:]) < statistics.fmean(distance[:10])
    best = max(history, key=lambda t: t.value)
    assert "good" == best.parameters["c"]
    assert 0.7 == pytest.approx(best.parameters["x"], abs=0.05)


# --- early-termination policies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "delay", "points"),
    [(1, 0, [1, 2, 3, 4, 5, 6]), (1, 5, [5, 6, 7, 8]), (2, 5, [6, 8]), (3, 0, [3, 6])],
)
def test_evaluation_points_are_multiples_of_the_interval_from_the_delay_on(interval, delay, points):
    """A report r is judged when r % evaluation_interval == 0 and r >= delay_evaluation (v1)."""
    policy = MedianStoppingPolicy(evaluation_interval=interval, delay_evaluation=delay)
    assert points == [r for r in range(1, max(points) + 1) if policy.is_evaluation_point(r)]


def test_bandit_slack_factor_for_maximize_stops_below_best_over_one_plus_slack():
    """MAXIMIZE: a best below best/(1+s) is stopped; one just within is kept."""
    policy = BanditPolicy(slack_factor=0.25)
    reports = {"lead": [0.4, 0.8], "within": [0.5, 0.65], "out": [0.3, 0.63]}
    assert {"out"} == set(policy.decide(reports, MAX))  # limit 0.8 / 1.25 = 0.64


def test_bandit_slack_factor_for_minimize_stops_above_best_times_one_plus_slack():
    """MINIMIZE: a best above best*(1+s) is stopped, with a reason naming both values."""
    policy = BanditPolicy(slack_factor=0.1)
    reports = {
        "a": [3900.0, 3700.0, 3600.0, 3500.1],
        "b": [3400.0, 3100.0, 3050.0, 3012.0],
        "c": [3500.0, 3300.0, 3290.0, 3300.0],
    }
    assert {
        "a": "BanditPolicy: best mse 3500.1 at report 4 is outside slack_factor 0.1 of the "
        "best 3012.0 (trial 'b'); limit 3313.2"
    } == policy.decide(reports, MIN, metric_name="mse")


@pytest.mark.parametrize(
    ("goal", "reports", "stopped"),
    [
        (MAX, {"lead": [10.0], "near": [8.0], "far": [7.9]}, {"far"}),
        (MIN, {"lead": [10.0], "near": [12.0], "far": [12.1]}, {"far"}),
    ],
)
def test_bandit_slack_amount_is_an_absolute_distance(goal, reports, stopped):
    """slack_amount 2 keeps trials within 2 of the best and stops the rest."""
    decided = BanditPolicy(slack_amount=2).decide(reports, goal)
    assert stopped == set(decided)
    assert "outside slack_amount 2.0 of the best 10.0 (trial 'lead')" in decided["far"]


def test_bandit_compares_a_young_trial_with_the_others_at_the_same_report():
    """A trial at report 1 is judged against the others' first values, not their later best."""
    reports = {"old": [1.0, 5.0, 9.0], "young": [0.95]}
    assert {} == BanditPolicy(slack_factor=0.1).decide(reports, MAX)


def test_bandit_uses_the_best_so_far_not_the_last_value():
    """A trial whose last value dipped is kept if its best so far is within slack."""
    reports = {"lead": [1.0, 1.0], "dipped": [0.95, 0.1]}
    assert {} == BanditPolicy(slack_factor=0.1).decide(reports, MAX)


def test_a_policy_waits_for_delay_evaluation():
    """Nothing is stopped before report delay_evaluation; at that report it is."""
    policy = BanditPolicy(slack_factor=0.1, delay_evaluation=3)
    early = {"lead": [1.0, 1.0], "bad": [0.1, 0.1]}
    assert {} == policy.decide(early, MAX)
    late = {"lead": [1.0, 1.0, 1.0], "bad": [0.1, 0.1, 0.1]}
    assert ["bad"] == list(policy.decide(late, MAX))


def test_a_policy_judges_at_the_latest_evaluation_interval():
    """With evaluation_interval 2, a trial with 3 reports is judged at report 2."""
    policy = BanditPolicy(slack_factor=0.1, evaluation_interval=2)
    assert {} == policy.decide({"lead": [1.0], "bad": [0.1]}, MAX)
    decided = policy.decide({"lead": [1.0, 1.0, 1.0], "bad": [0.1, 0.1, 0.1]}, MAX)
    assert "at report 2 " in decided["bad"]


def test_decide_is_idempotent_and_skips_finished_and_stopped_trials():
    """The same data gives the same answer; finished and stopped trials are never returned."""
    policy = BanditPolicy(slack_factor=0.1)
    reports = {"lead": [1.0], "bad": [0.1], "done": [0.2]}
    first = policy.decide(reports, MAX, finished={"done"})
    assert first == policy.decide(reports, MAX, finished={"done"})
    assert ["bad"] == list(first)
    assert {} == policy.decide(reports, MAX, finished={"done"}, stopped={"bad"})


def test_finished_trials_set_the_bar_but_are_never_stopped():
    """A finished trial's best counts as the best to beat."""
    decided = BanditPolicy(slack_factor=0.1).decide({"done": [1.0], "run": [0.5]}, MAX, {"done"})
    assert ["run"] == list(decided)


def test_a_non_finite_value_counts_as_the_worst():
    """A trial reporting NaN is outside any slack of a finite best."""
    decided = BanditPolicy(slack_factor=0.5).decide({"ok": [1.0], "nan": [math.nan]}, MIN)
    assert ["nan"] == list(decided)


@pytest.mark.parametrize(
    ("goal", "reports", "reason"),
    [
        (
            MAX,
            {"a": [0.5, 0.6], "b": [0.6, 0.7], "c": [0.2, 0.3]},
            "MedianStoppingPolicy: best acc 0.3 at report 2 is worse than the median 0.55 "
            "of the running averages of 3 trials",
        ),
        (
            MIN,
            {"a": [0.5, 0.4], "b": [0.4, 0.3], "c": [0.8, 0.7]},
            "MedianStoppingPolicy: best acc 0.7 at report 2 is worse than the median 0.45 "
            "of the running averages of 3 trials",
        ),
    ],
)
def test_median_stops_a_best_worse_than_the_median_running_average(goal, reports, reason):
    """A trial is stopped when its best is worse than the median of the running averages."""
    assert {"c": reason} == MedianStoppingPolicy().decide(reports, goal, metric_name="acc")


def test_median_keeps_a_trial_whose_best_beats_the_median_of_averages():
    """A trial with a poor average but a good best so far is kept."""
    reports = {"a": [0.5, 0.5], "b": [0.5, 0.5], "spiky": [0.0, 0.9]}
    assert {} == MedianStoppingPolicy().decide(reports, MAX)


@pytest.mark.parametrize(("goal", "order"), [(MAX, [1, 2, 3, 4, 5]), (MIN, [5, 4, 3, 2, 1])])
def test_truncation_cuts_the_lowest_percentage(goal, order):
    """With 40% of 5 trials, the two worst for the goal are stopped."""
    reports = {f"t{v}": [float(v)] for v in order}
    decided = TruncationSelectionPolicy(40).decide(reports, goal)
    worst = {"t1", "t2"} if goal is MAX else {"t4", "t5"}
    assert worst == set(decided)
    assert any("ranks 5 of 5 trials, in the lowest 40% (2 trials)" in r for r in decided.values())


def test_truncation_cuts_nobody_when_the_share_rounds_to_zero():
    """20% of 4 trials is less than one trial, so none is stopped."""
    reports = {f"t{v}": [float(v)] for v in range(4)}
    assert {} == TruncationSelectionPolicy(20).decide(reports, MAX)


def test_truncation_can_leave_finished_trials_out_of_the_ranking():
    """exclude_finished_jobs ranks only unfinished trials, changing who is lowest."""
    reports = {"done1": [0.1], "done2": [0.2], "a": [0.5], "b": [0.6]}
    finished = {"done1", "done2"}
    assert {} == TruncationSelectionPolicy(50).decide(reports, MAX, finished)
    excluded = TruncationSelectionPolicy(50, exclude_finished_jobs=True)
    assert ["a"] == list(excluded.decide(reports, MAX, finished))


def test_no_termination_never_stops():
    """NoTerminationPolicy returns nothing, whatever the values."""
    assert {} == NoTerminationPolicy().decide({"a": [1.0], "b": [-1e9]}, MAX)


@pytest.mark.parametrize(
    "policy",
    [
        NoTerminationPolicy(),
        BanditPolicy(slack_factor=0.2, evaluation_interval=2, delay_evaluation=4),
        BanditPolicy(slack_amount=0.5),
        MedianStoppingPolicy(evaluation_interval=3, delay_evaluation=1),
        TruncationSelectionPolicy(30, 2, 1, exclude_finished_jobs=True),
    ],
    ids=repr,
)
def test_a_policy_survives_a_json_round_trip(policy):
    """policy -> dict -> JSON -> policy gives an equal policy."""
    assert policy == policy_from_dict(json_trip(policy.to_dict()))


def test_a_missing_policy_is_no_termination():
    """A stored None policy, like v1's policy=None, is NoTerminationPolicy."""
    assert NoTerminationPolicy() == policy_from_dict(None)


def test_the_goal_accepts_v1_names_in_any_case():
    """"maximize", "MINIMIZE" and the members themselves are goals."""
    assert MAX == PrimaryMetricGoal.parse("maximize")
    assert MIN == PrimaryMetricGoal.parse("MINIMIZE")
    assert "MAXIMIZE" == MAX.value


# --- bad arguments ----------------------------------------------------------------------

SPACE = {"a": uniform(0, 1)}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: uniform(5, 1), "min_value must be less than max_value"),
        (lambda: uniform(0, math.inf), "must be finite"),
        (lambda: uniform("0", 1), "min_value must be a number"),
        (lambda: choice(), "at least one option"),
        (lambda: choice([]), "at least one option"),
        (lambda: choice({1, 2}), "not a set"),
        (lambda: choice([1, [2, 3]]), "of type list is not allowed"),
        (lambda: randint(0), "at least 1"),
        (lambda: randint(2.5), "must be an integer"),
        (lambda: quniform(0, 1, 0), "q must be greater than 0"),
        (lambda: normal(0, 0), "sigma must be greater than 0"),
        (lambda: qlognormal(0, 1, -1), "q must be greater than 0"),
        (lambda: loguniform(0, 1000), "bounds are exponents"),
        (lambda: expression_from_dict({"kind": "beta"}), "unknown parameter expression"),
        (lambda: expression_from_dict({"kind": "uniform", "min_value": 0}), "exactly the keys"),
        (lambda: GridParameterSampling({}), "non-empty dict"),
        (lambda: RandomParameterSampling({"a": 0.5}), "wrap it in an expression"),
        (lambda: RandomParameterSampling({"": uniform(0, 1)}), "non-empty string"),
        (lambda: RandomParameterSampling(SPACE, seed="1"), "seed must be an integer"),
        (lambda: RandomParameterSampling(SPACE, {"rngSeed": 1}, seed=2), "differ"),
        (lambda: RandomParameterSampling(SPACE).suggest(-1), "count must be an integer >= 0"),
        (lambda: sampling_from_dict({"kind": "sobol"}), "unknown parameter sampling"),
        (lambda: BanditPolicy(), "exactly one of slack_factor"),
        (lambda: BanditPolicy(slack_factor=0.1, slack_amount=1), "exactly one of slack_factor"),
        (lambda: BanditPolicy(slack_factor=-0.1), "slack_factor must be a finite number >= 0"),
        (lambda: BanditPolicy(0.1, evaluation_interval=0), "evaluation_interval must be"),
        (lambda: MedianStoppingPolicy(delay_evaluation=-1), "delay_evaluation must be"),
        (lambda: TruncationSelectionPolicy(0), "from 1 to 99"),
        (lambda: TruncationSelectionPolicy(100), "from 1 to 99"),
        (lambda: TruncationSelectionPolicy(12.5), "from 1 to 99"),
        (lambda: TruncationSelectionPolicy(10, exclude_finished_jobs="no"), "True or False"),
        (lambda: policy_from_dict({"kind": "median", "x": 1}), "bad arguments"),
        (lambda: policy_from_dict({"kind": "asha"}), "unknown early-termination policy"),
        (lambda: MedianStoppingPolicy().decide({"a": ["0.5"]}, MAX), "not a number"),
        (lambda: MedianStoppingPolicy().decide({"a": [0.5]}, "up"), "PrimaryMetricGoal"),
    ],
)
def test_a_bad_argument_is_refused_saying_what_is_wrong(make, message):
    """Each bad argument raises UsageError whose message names the problem."""
    with pytest.raises(UsageError, match=re.escape(message)):
        make()


def test_a_trials_values_come_from_its_property_else_from_its_arguments():
    """trial_parameters reads the hyperparameters JSON, and without it the arguments that
    follow the sweep's own, as numbers where they are numbers."""
    from runner.sweep.owner import trial_arguments, trial_parameters

    assert ["--x", "0.5", "--name", "a"] == trial_arguments({"--x": 0.5, "name": "a"})
    assert {"--x": 0.5} == trial_parameters({"hyperparameters": '{"--x": 0.5}'}, [], [])
    assert {"--x": 3, "--lr": 0.1, "--opt": "adam"} == trial_parameters(
        {}, ["--steps", "2", "--x", "3", "--lr", "0.1", "--opt", "adam"], ["--steps", "2"])
