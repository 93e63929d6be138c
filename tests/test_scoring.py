"""Scoring rules (pure): totals, percent of scale, and answers that do not fit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.instruments.catalog import SAC8
from service.instruments.scoring import AnswerErrors, Item, pct_of, score

SAC8_ITEMS = [Item.from_dict(item) for item in SAC8["items"]]


@st.composite
def instruments_and_answers(draw):
    count = draw(st.integers(1, 12))
    items = []
    for index in range(count):
        low = draw(st.integers(-5, 5))
        step = draw(st.integers(1, 3))
        steps = draw(st.integers(1, 10))
        items.append(Item(f"q{index}", low, low + step * steps, step))
    answers = {
        item.key: item.min
        + item.step * draw(st.integers(0, int((item.max - item.min) / item.step)))
        for item in items
    }
    return items, answers


@given(instruments_and_answers())
def test_total_is_the_sum_and_pct_stays_within_0_and_100(case):
    items, answers = case
    result = score(items, answers)
    assert result.total == sum(answers.values())
    assert 0 <= result.pct <= 100
    assert result.min_total == sum(i.min for i in items) and result.max_total == sum(
        i.max for i in items
    )


@given(instruments_and_answers())
def test_all_lowest_is_0_and_all_highest_is_100(case):
    items, _ = case
    assert score(items, {i.key: i.min for i in items}).pct == 0
    assert score(items, {i.key: i.max for i in items}).pct == 100


@given(instruments_and_answers(), st.data())
def test_raising_one_answer_never_lowers_the_score(case, data):
    items, answers = case
    item = data.draw(st.sampled_from(items))
    if answers[item.key] + item.step > item.max:
        return
    higher = {**answers, item.key: answers[item.key] + item.step}
    assert score(items, higher).pct > score(items, answers).pct


def test_sac8_percent_of_scale():
    answers = {item.key: 9 for item in SAC8_ITEMS}
    answers["balance"] = 0
    result = score(SAC8_ITEMS, answers)
    assert result.total == 63 and result.pct == pct_of(63, 0, 80) == 78.75


@pytest.mark.parametrize(
    ("change", "item", "message"),
    [
        ({"heard": 11}, "heard", "between"),
        ({"heard": -1}, "heard", "between"),
        ({"heard": 7.5}, "heard", "steps"),
        ({"heard": "7"}, "heard", "number"),
        ({"heard": True}, "heard", "number"),
        ({"heard": None}, "heard", "number"),
        ({"bonus": 3}, "bonus", "Not an item"),
    ],
)
def test_answers_that_do_not_fit_name_the_item(change, item, message):
    answers = {i.key: 5 for i in SAC8_ITEMS} | change
    with pytest.raises(AnswerErrors) as failure:
        score(SAC8_ITEMS, answers)
    assert list(failure.value.errors) == [item]
    assert message in failure.value.errors[item][0]


def test_every_missing_answer_is_named():
    with pytest.raises(AnswerErrors) as failure:
        score(SAC8_ITEMS, {"heard": 5})
    assert set(failure.value.errors) == {i.key for i in SAC8_ITEMS} - {"heard"}
