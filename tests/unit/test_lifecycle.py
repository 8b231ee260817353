import pytest

from core.lifecycle import TRANSITIONS, IllegalTransition, Stage, can_move, check_move

CONTRACT = {
    ("lead", "mql"),
    ("lead", "pql"),
    ("nurture", "mql"),
    ("nurture", "pql"),
    ("mql", "sal"),
    ("pql", "sal"),
    ("mql", "nurture"),
    ("mql", "unqualified"),
    ("pql", "nurture"),
    ("pql", "unqualified"),
    ("sal", "sql"),
    ("sal", "nurture"),
    ("sal", "unqualified"),
    ("sql", "nurture"),
    ("sql", "unqualified"),
    ("sql", "sqo"),
}


@pytest.mark.parametrize("current", list(Stage))
@pytest.mark.parametrize("target", list(Stage))
def test_table_is_exactly_the_contract(current, target):
    assert can_move(current, target) == ((current.value, target.value) in CONTRACT)


def test_table_is_closed_over_stages():
    for current, targets in TRANSITIONS.items():
        assert current in Stage
        assert targets <= set(Stage)
    assert set(TRANSITIONS) == set(Stage)


def test_illegal_move_names_the_current_stage():
    with pytest.raises(IllegalTransition, match="The lead is lead, so it cannot move to sqo"):
        check_move("lead", "sqo")
    with pytest.raises(IllegalTransition, match="unqualified is final"):
        check_move(Stage.UNQUALIFIED, Stage.SAL)
