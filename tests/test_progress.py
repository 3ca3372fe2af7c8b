from __future__ import annotations

from conductor.progress import labelled, silent, within
from tests.conftest import Heard


def test_a_part_reports_as_its_share_of_the_whole() -> None:
    heard = Heard()
    second = within(heard, "all", 1, 4)  # the second of four parts
    second("anything", 0, 10)
    second("anything", 5, 10)
    second("anything", 10, 10)
    assert heard.reports == {"all": [(1.0, 4), (1.5, 4), (2.0, 4)]}
    within(heard, "empty", 3, 4)("x", 0, 0)  # a part with nothing to do is done
    assert heard.reports["empty"] == [(4.0, 4)]


def test_labelled_tasks_keep_their_counts() -> None:
    heard = Heard()
    labelled(heard, "kjv")("model", 3, 7)
    assert heard.reports == {"kjv: model": [(3, 7)]}
    silent("model", 1, 2)  # says nothing, takes anything
